"""Maps (``couverture.maps``) on the demo registry in Ille-et-Vilaine, and in headless Chromium
with no network."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

import couverture
from couverture import maps, settings
from couverture._errors import ArgumentError
from couverture.cli import main

DEP = "35"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def analysis(demo_registry: Path):
    a = couverture.analyse(demo_registry, departements=DEP)
    yield a
    a.close()


@pytest.fixture(scope="module")
def suggestions(analysis) -> pd.DataFrame | None:
    try:
        from couverture.suggest import suggest
    except ImportError:
        return None
    return suggest(analysis)


@pytest.fixture(scope="module")
def layers(analysis, suggestions) -> maps.MapLayers:
    return maps.prepare_layers(analysis, suggestions=suggestions)


@pytest.fixture(scope="module")
def expected(analysis, suggestions) -> dict[str, int]:
    """What the département map must draw, computed from the analysis API alone."""
    units = analysis.units()
    ids = {i for s in units.loc[units["stade"].notna(), "cpts_ids"] for i in s.split("|") if i}
    stages = analysis.registry.cpts["stade"]
    n_cpts = sum(1 for i in ids if stages.get(i) in settings.STAGES)
    n_props = 0
    if suggestions is not None:
        rec = suggestions[
            (suggestions["recommandee"] == "oui") & (suggestions["departement"] == DEP)
        ]
        n_props = len(rec)
    return {
        "nCommunes": len(units),
        "nCpts": n_cpts,
        "nZones": len(analysis.zones()),
        "nChevauchements": len(analysis.overlaps()),
        "nPropositions": n_props,
    }


@pytest.fixture(scope="module")
def built(analysis, suggestions, tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("maps")
    return maps.build_maps(analysis, out, suggestions=suggestions)


# ------------------------------------------------------------------------------------------------
# geometry
# ------------------------------------------------------------------------------------------------
def test_simplified_coverage_keeps_shared_borders(layers: maps.MapLayers) -> None:
    units = layers.units[layers.units["departement"] == DEP].to_crs("EPSG:2154")
    geoms = units.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    # simplified together: no gap or overlap appears between neighbours (areas add up)
    total = shapely.area(geoms).sum()
    union = shapely.union_all(geoms).area
    assert abs(total - union) / union < 1e-3
    # rounded to 5 decimals in WGS84
    xy = shapely.get_coordinates(layers.units.geometry.to_numpy())
    assert np.allclose(xy, np.round(xy, maps.DECIMALS), atol=1e-9)


def test_cpts_perimeter_is_the_union_of_its_units(layers: maps.MapLayers) -> None:
    members = layers.membership
    metric = layers.units.geometry.to_crs("EPSG:2154")
    cpts = layers.cpts[layers.cpts["departement"] == DEP]
    assert len(cpts) > 0
    perimeters = cpts.geometry.to_crs("EPSG:2154")
    for cpts_id, perimeter in perimeters.items():
        codes = members.loc[members["cpts_id"] == cpts_id, "code"]
        parts = metric.reindex(codes).dropna().to_numpy()
        assert perimeter.area == pytest.approx(shapely.area(parts).sum(), rel=1e-3)
        # one piece per contiguous group, no inner seams between communes
        assert shapely.get_num_geometries(perimeter) <= shapely.get_num_geometries(parts).sum()


def test_pinholes_are_dropped_but_enclaves_kept() -> None:
    outer = shapely.box(0, 0, 1, 1)
    pin = shapely.box(0.1, 0.1, 0.1001, 0.1001)
    enclave = shapely.box(0.5, 0.5, 0.7, 0.7)
    holed = shapely.Polygon(outer.exterior, [pin.exterior, enclave.exterior])
    kept = maps.drop_pinholes(holed)
    assert len(kept.interiors) == 1
    assert kept.area == pytest.approx(1 - 0.04)


# ------------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------------
def test_build_maps_writes_self_contained_files(built: list[Path], analysis) -> None:
    assert [p.name for p in built] == [f"departement-{DEP}.html", "index.html"]
    for path in built:
        text = path.read_text(encoding="utf-8")
        # every script and stylesheet is inline: nothing to fetch
        assert not re.search(r"<script[^>]*\ssrc=", text)
        assert not re.search(r"<link[^>]*\shref=", text)
        assert "L.version" in text or "Leaflet 1.9" in text
        assert "REGISTRE FICTIF" in text
        assert analysis.meta["population_millesime"] in text
        assert "registre_demo.csv" in text
    dep_text = built[0].read_text(encoding="utf-8")
    assert "Ille-et-Vilaine" in dep_text
    assert "departement-35.html" in built[1].read_text(encoding="utf-8")


def test_rerun_replaces_maps_atomically(
    analysis, suggestions, built: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = built[0].parent
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert b"Propositions recommand" in before[f"departement-{DEP}.html"]

    def killed(*args: object, **kwargs: object) -> None:
        # the département maps of the new run (without proposals) are written by now
        assert list(folder.parent.glob(f".{folder.name}.couverture-neuf-*/departement-*.html"))
        raise KeyboardInterrupt

    monkeypatch.setattr(maps, "national_map", killed)
    with pytest.raises(KeyboardInterrupt):
        maps.build_maps(analysis, folder, suggestions=None)
    # the previous maps are whole: no new département map next to an old index
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not list(folder.parent.glob(f".{folder.name}.*"))  # nothing left aside
    monkeypatch.undo()
    again = maps.build_maps(analysis, folder, suggestions=suggestions)
    assert again == built
    assert sorted(p.name for p in folder.iterdir()) == [f"departement-{DEP}.html", "index.html"]


def test_maps_render_without_suggestions(analysis, tmp_path: Path) -> None:
    paths = maps.build_maps(analysis, tmp_path, suggestions=None)
    assert "Propositions recommandées (" not in paths[0].read_text(encoding="utf-8")


def test_zones_without_geometry_still_render(demo_registry: Path, tmp_path: Path) -> None:
    """Cantal: four communes have no geometry in the sources; their zones have no area."""
    with couverture.analyse(demo_registry, departements="15") as a:
        assert a.zones()["superficie_km2"].isna().any()
        paths = maps.build_maps(a, tmp_path)
    text = (tmp_path / "departement-15.html").read_text(encoding="utf-8")
    assert len(paths) == 2 and '"superficie_km2":null' in text


def test_unknown_departement_is_refused(analysis) -> None:
    with pytest.raises(ArgumentError, match="99"):
        maps.prepare_layers(analysis, departements=["99"])


def test_cli_cartes(demo_registry: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cartes"
    code = main(
        ["cartes", "--registre", str(demo_registry), "--departement", "2A", "--sortie", str(out)]
    )
    assert code == 0
    assert (out / "departement-2A.html").exists() and (out / "index.html").exists()
    err = capsys.readouterr().err
    assert "index.html" in err and "navigateur" in err
    assert main(["cartes", "--registre", str(tmp_path / "absent.csv"), "--sortie", str(out)]) == 2


# ------------------------------------------------------------------------------------------------
# in a browser, without network
# ------------------------------------------------------------------------------------------------
def _chromium(url: str, tmp: Path, *, screenshot: Path | None = None) -> tuple[str, str]:
    """Run headless Chromium on ``url`` with the network unreachable; return (DOM, log)."""
    isolate: list[str] = []
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0:
        isolate = ["unshare", "-n"]  # a network namespace with nothing in it
    args = [
        *isolate,
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--proxy-server=127.0.0.1:9",  # unreachable, in case the namespace is not available
        "--proxy-bypass-list=<-loopback>",
        f"--user-data-dir={tmp / 'profil'}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1400,950",
        "--virtual-time-budget=5000",
    ]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    proc = subprocess.run([*args, url], capture_output=True, text=True, timeout=120)
    return proc.stdout, proc.stderr


def _console(log: str) -> list[str]:
    """Console messages of the page itself (Chromium's own pages log too)."""
    return [line for line in log.splitlines() if "CONSOLE" in line and "file://" in line]


def _state(dom: str) -> dict:
    match = re.search(r'data-couverture="([^"]*)"', dom)
    assert match, "le runtime de la carte ne s'est pas exécuté"
    return json.loads(match.group(1).replace("&quot;", '"'))


@pytest.mark.browser
@pytest.mark.slow
def test_maps_work_offline_in_chromium(
    built: list[Path], expected: dict[str, int], layers, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):  # .ci/run installs it: a missing browser is a failure there
            pytest.fail("/usr/bin/chromium absent en CI")
        pytest.skip("/usr/bin/chromium absent")
    dep_map, national = built
    dom, log = _chromium(dep_map.as_uri() + "#recherche=rennes", tmp_path)
    assert _console(log) == []
    state = _state(dom)
    for key, value in expected.items():
        assert state[key] == value, key
    assert state["nVoisines"] > 0
    assert state["recherche"] == "Rennes"
    assert re.search(r'class="cv-popup"><h3>Rennes <small>35238', dom)
    assert dom.count('class="cv-zone') >= expected["nZones"] > 0

    dom, log = _chromium(national.as_uri(), tmp_path)
    assert _console(log) == []
    state = _state(dom)
    assert state["nDepartements"] == layers.units["departement"].nunique()

    # screenshots for people (maps/*.png is git-ignored)
    settings.MAPS_DIR.mkdir(exist_ok=True)
    for path, name in [(dep_map, f"test-departement-{DEP}.png"), (national, "test-index.png")]:
        shot = settings.MAPS_DIR / name
        _chromium(path.as_uri(), tmp_path, screenshot=shot)
        assert shot.exists() and shot.stat().st_size > 20_000
