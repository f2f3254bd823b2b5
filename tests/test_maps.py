"""Maps (``couverture.maps``) on the demo registry in Ille-et-Vilaine, and in headless Chromium
with no network."""

from __future__ import annotations

import html
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from _helpers import chromium as _chromium
from _helpers import require_chromium

import couverture
from couverture import _config, _format, _geometry, maps
from couverture._errors import ArgumentError
from couverture.cli import main

DEP = "35"
# a small list in the layout of couverture.porteurs.read_porteurs (real FINESS-like rows)
PORTEURS = pd.DataFrame(
    {
        "finess": ["350000001", "350000002", "290000003", "350000004"],
        "nom": ["MSP du Blosne", "Centre de santé Bréquigny", "MSP Brest Centre", "MSP sans lieu"],
        "categorie": ["603", "124", "603", "603"],
        "libelle_categorie": [
            "Maison de santé (L.6223-3)",
            "Centre de santé",
            "Maison de santé (L.6223-3)",
            "Maison de santé (L.6223-3)",
        ],
        "code_commune": ["35238", "35238", "29019", "35047"],
        "lon": [-1.6590, -1.6960, -4.4860, np.nan],
        "lat": [48.0850, 48.0930, 48.3900, np.nan],
    }
)


def _layer_names(text: str) -> dict[str, int]:
    """The overlays of the page's layer control: name → number of features."""
    match = re.search(r"L\.control\.layers\((\{.*?\}), (\{.*?\}), \{position", text)
    assert match, "pas de contrôle des calques"
    return {name: int(n) for name, n in re.findall(r'"([^"]+) \((\d+)\)": cv_l\d+', match.group(2))}


def _init_payload(text: str) -> dict:
    start = text.index("couverture.init(") + len("couverture.init(")
    payload, _ = json.JSONDecoder().raw_decode(text, start)
    return payload


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
    n_cpts = sum(1 for i in ids if stages.get(i) in _config.STAGES)
    n_props = n_alt = 0
    if suggestions is not None:
        mine = suggestions[suggestions["departement"] == DEP]
        n_props = int((mine["recommandee"] == "oui").sum())
        n_alt = int((mine["recommandee"] != "oui").sum())
    return {
        "nCommunes": len(units),
        "nCpts": n_cpts,
        "nZones": len(analysis.zones()),
        "nChevauchements": len(analysis.overlaps()),
        "nPropositions": n_props,
        "nAlternatives": n_alt,
        "nPorteurs": 2,  # the two Rennes rows with coordinates
    }


@pytest.fixture(scope="module")
def built(analysis, suggestions, tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("maps")
    return maps.build_maps(analysis, out, suggestions=suggestions)


@pytest.fixture(scope="module")
def shown(analysis, suggestions, tmp_path_factory) -> list[Path]:
    """The maps opened in the browser, with a porteurs layer (no other test rewrites them)."""
    out = tmp_path_factory.mktemp("cartes_porteurs")
    return maps.build_maps(analysis, out, suggestions=suggestions, porteurs=PORTEURS)


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
    assert np.allclose(xy, np.round(xy, _geometry.DECIMALS), atol=1e-9)


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
    kept = _geometry.drop_pinholes(holed)
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

    write = maps.atomic_write_text

    def killed(path: Path, text: str) -> None:
        if path.name != "index.html":
            return write(path, text)
        # the département maps of the new run (without proposals) are written by now
        assert list(folder.parent.glob(f".{folder.name}.couverture-neuf-*/departement-*.html"))
        raise KeyboardInterrupt

    monkeypatch.setattr(maps, "atomic_write_text", killed)
    with pytest.raises(KeyboardInterrupt):
        maps.build_maps(analysis, folder, suggestions=None)
    # the previous maps are whole: no new département map next to an old index
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not list(folder.parent.glob(f".{folder.name}.*"))  # nothing left aside
    monkeypatch.undo()
    again = maps.build_maps(analysis, folder, suggestions=suggestions)
    assert again == built
    shown = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert shown == [f"departement-{DEP}.html", "index.html"]


def test_maps_render_without_suggestions(
    analysis, built: list[Path], expected: dict[str, int], tmp_path: Path
) -> None:
    with_props = _layer_names(built[0].read_text(encoding="utf-8"))
    assert with_props["Propositions recommandées"] == expected["nPropositions"] > 0
    assert with_props["Propositions alternatives"] == expected["nAlternatives"] > 0
    paths = maps.build_maps(analysis, tmp_path, suggestions=None)
    text = paths[0].read_text(encoding="utf-8")
    without = _layer_names(text)
    assert "Propositions recommandées" not in without
    assert "Propositions alternatives" not in without
    assert without["Périmètres des CPTS"] == with_props["Périmètres des CPTS"]
    assert _init_payload(text)["propositions"] == []


def test_proposals_are_labelled_and_read_in_plain_french(
    built: list[Path], suggestions: pd.DataFrame | None
) -> None:
    if suggestions is None:
        pytest.skip("module de propositions absent")
    text = built[0].read_text(encoding="utf-8")
    infos = _init_payload(text)["propositions"]
    mine = suggestions[suggestions["departement"] == DEP]
    assert len(infos) == len(mine) > 0
    assert {i["recommandee"] for i in infos} == {True, False}
    targets = dict(zip(mine["cpts_cible_id"], mine["cpts_cible"], strict=True))
    for info in infos:
        if info["option"] == "creation":  # named: « nouvelle CPTS Vitré »
            assert info["etiquette"] == f"nouvelle {info['nom']}" and info["nom"]
        else:
            assert info["etiquette"].removesuffix(" (temporaire)") == targets[info["cpts_cible"]]
        # missing values are left out, never printed as a dash or as 0 €
        assert "—" not in info["texte"] and " 0\u00a0€" not in info["texte"]
        assert "financement maximal" in info["texte"] and info["texte"].endswith("par an")
    # the parts of one scenario told apart on the cards and labels: « alternative 2, partie
    # 1/3 », not three « alternative » (Vitré's zone: its alternative extends three CPTS)
    alternatives = [i for i in infos if not i["recommandee"]]
    ranks = [(i["zone_id"], i["rang"]) for i in alternatives]
    assert len(set(ranks)) == len(ranks)
    parts = mine.groupby(["zone_id", "rang"]).size()
    for info in alternatives:
        match = re.fullmatch(r"alternative (\d)(?:, partie \d/(\d))?", info["rang"])
        assert match, info["rang"]
        assert int(match[2] or 1) == parts[(info["zone_id"], int(match[1]))], info["rang"]
    assert {i["rang"] for i in infos if i["recommandee"]} == {"recommandée"}
    assert any(re.fullmatch(r"alternative \d, partie \d/\d", i["rang"]) for i in infos)
    # each drawn proposal carries its label and its rank
    features = re.findall(r'"option":"(\w+)","etiquette":"([^"]+)","rang":"([^"]+)"', text)
    assert len(features) == len(infos)
    # no imperial scale, no English "Click"
    assert "L.control.scale({imperial: false})" in text
    assert "Cliquez sur une commune" in text


def test_cards_leave_missing_values_out(layers: maps.MapLayers) -> None:
    (data,) = maps.departement_data(layers, [DEP])
    for card in data.cards.values():
        assert card["population"].endswith(" hab.") and "—" not in card["population"]
        if card["stade_code"] == "projet":
            assert card["financement"] is None
        else:
            assert card["financement"].endswith("\u00a0€ par an")
    assert all(z["superficie_km2"].endswith("km²") for z in data.zone_cards.values())
    # zones named by place on their cards (the id shown beside)
    assert all(z["nom"].startswith("Zone blanche d") for z in data.zone_cards.values())


def test_title_box_says_the_unclaimed_share(layers: maps.MapLayers) -> None:
    """The title box adds up like taux: Rennes' unclaimed share is said beside the zones."""
    (data,) = maps.departement_data(layers, [DEP])
    unclaimed = int(layers.rates.loc[DEP, "population_non_attribuee"])
    assert unclaimed > 0
    assert f"Part non attribuée</th><td class='n'>{_format.integer(unclaimed)} hab." in data.title
    assert ("Part non attribuée", f"{_format.integer(unclaimed)} hab.") in maps._national_rows(
        layers, outside=["01"]
    )


def test_palette_comes_from_the_vocabulary_and_reads_in_grey(built: list[Path]) -> None:
    text = built[0].read_text(encoding="utf-8")
    stages = _config.stages()
    for s in stages:
        assert f'"{s.code}":{{"fillColor":"{s.colour}","color":"{s.outline}"' in text

    def grey(colour: str, opacity: float) -> float:
        """Luminance of a fill composited on white."""
        r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
        y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        return opacity * y + (1 - opacity)

    greys = [grey(s.colour, o) for s, o in zip(stages, maps.STAGE_OPACITY, strict=True)]
    # each stage at least 10 % darker than the one before, once printed in grey
    assert all(b < a - 0.1 for a, b in itertools.pairwise(greys))

    def hue_spread(colour: str) -> int:
        rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        return max(rgb) - min(rgb)

    # the neighbouring CPTS are grey, the lettre d'intention is not
    assert hue_spread(maps.NEIGHBOUR_FILL) == 0
    assert hue_spread(stages[0].colour) > 100


def test_porteurs_layer(shown: list[Path], built: list[Path], analysis) -> None:
    assert "Porteurs potentiels" not in _layer_names(built[0].read_text(encoding="utf-8"))
    text = shown[0].read_text(encoding="utf-8")
    assert _layer_names(text)["Porteurs potentiels (MSP, centres de santé)"] == 2
    assert '"nom":"MSP du Blosne","categorie":"Maison de santé (L.6223-3)"' in text
    assert "MSP Brest Centre" not in text  # Finistère
    assert "MSP sans lieu" not in text  # no coordinates
    with pytest.raises(ArgumentError, match="lat"):
        maps.prepare_layers(analysis, porteurs=PORTEURS.drop(columns="lat"))


def test_worker_processes_write_the_same_maps(analysis, suggestions, tmp_path: Path) -> None:
    deps = ["35", "56"]
    one = maps.build_maps(
        analysis, tmp_path / "un", suggestions=suggestions, departements=deps, workers=1
    )
    two = maps.build_maps(
        analysis, tmp_path / "deux", suggestions=suggestions, departements=deps, workers=2
    )
    assert (
        [p.name for p in one]
        == [p.name for p in two]
        == [
            "departement-35.html",
            "departement-56.html",
            "index.html",
        ]
    )
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes()


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


def test_cartes_rerun_keeps_what_a_person_saved_in_the_maps_folder(
    demo_registry: Path, tmp_path: Path, capsys
) -> None:
    """The decision mode's export (``scenario-2A.csv``) and an annotated copy of a map saved in
    the maps folder survive a re-run, even of a folder without the list of what cartes wrote
    (written by an older version); a map saved over since cartes wrote it refuses the run."""
    out = tmp_path / "cartes"
    args = ["cartes", "--registre", str(demo_registry), "--departement", "2A", "--sortie", str(out)]
    assert main([*args, "-q"]) == 0
    mine = {
        "departement-2A-annotee.html": (out / "departement-2A.html").read_text(encoding="utf-8")
        + "<p>Décision : extension de la CPTS voisine</p>",
        "scenario-2A.csv": "\ufeffprojet;type;cpts;code_commune;cpts_mentor\r\n",
    }
    for name, text in mine.items():
        (out / name).write_bytes(text.encode("utf-8"))
    assert main([*args, "-q"]) == 0
    (out / ".couverture-contenu").unlink()  # a folder written before the list existed
    assert main([*args, "-q"]) == 0
    for name, text in mine.items():
        assert (out / name).read_bytes() == text.encode("utf-8")
    assert (out / "departement-2A.html").exists() and (out / "index.html").exists()
    # the map itself saved over with the meeting's notes: refused, nothing replaced
    typed = (out / "departement-2A.html").read_text(encoding="utf-8") + "<p>notes</p>"
    (out / "departement-2A.html").write_text(typed, encoding="utf-8")
    capsys.readouterr()
    assert main([*args, "-q"]) == 2
    err = capsys.readouterr().err
    assert "departement-2A.html a été modifié depuis que couverture l'a écrit" in err
    assert (out / "departement-2A.html").read_text(encoding="utf-8") == typed
    for name, text in mine.items():
        assert (out / name).read_bytes() == text.encode("utf-8")


def test_cli_cartes_porteurs(demo_registry: Path, tmp_path: Path, capsys) -> None:
    """``--porteurs``: a simple CSV of porteurs becomes a layer (French error, exit 2, while the
    reader module is not installed)."""
    import importlib.util

    csv = tmp_path / "porteurs.csv"
    csv.write_text(
        "nom,categorie,code_commune,lat,lon\nMSP d'Ajaccio,603,2A004,41.9270,8.7370\n",
        encoding="utf-8",
    )
    out = tmp_path / "cartes"
    args = ["cartes", "--registre", str(demo_registry), "--departement", "2A"]
    code = main([*args, "--porteurs", str(csv), "--sortie", str(out)])
    if importlib.util.find_spec("couverture.porteurs") is None:
        assert code == 2
        assert "--porteurs" in capsys.readouterr().err
        assert not out.exists()
        return
    assert code == 0
    text = (out / "departement-2A.html").read_text(encoding="utf-8")
    assert _layer_names(text)["Porteurs potentiels (MSP, centres de santé)"] == 1
    assert "MSP d'Ajaccio" in text


# ------------------------------------------------------------------------------------------------
# in a browser, without network
# ------------------------------------------------------------------------------------------------
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
    shown: list[Path], expected: dict[str, int], layers, units: pd.DataFrame, tmp_path: Path
) -> None:
    require_chromium()
    dep_map, national = shown
    dom, log = _chromium(dep_map.as_uri() + "#recherche=rennes", tmp_path)
    assert _console(log) == []
    state = _state(dom)
    for key, value in expected.items():
        assert state[key] == value, key
    assert state["nVoisines"] > 0
    assert state["recherche"] == "Rennes"
    assert re.search(r'class="cv-popup"><h3>Rennes <small>35238', dom)
    assert dom.count('class="cv-zone') >= expected["nZones"] > 0

    # CPTS names and proposals as permanent labels (the alternatives' layer is off: no label)
    labels = re.findall(r'class="leaflet-tooltip cv-label cv-label-(\w+)[^"]*"[^>]*>([^<]+)<', dom)
    kinds = [k for k, _ in labels]
    assert kinds.count("cpts") == state["nCpts"] > 0
    assert kinds.count("proposition") == state["nPropositions"] > 0
    assert kinds.count("alternative") == 0
    names = set(layers.cpts.loc[layers.cpts["departement"] == DEP, "nom"])
    assert {html.unescape(t) for k, t in labels if k == "cpts"} <= names
    # every proposal named: a creation by its proposed name (« nouvelle CPTS Vitré »)
    proposed = {html.unescape(t) for k, t in labels if k == "proposition"}
    assert any(t.startswith("nouvelle CPTS ") for t in proposed) and "nouvelle CPTS" not in proposed
    assert state["nEtiquettes"] == (
        state["nCpts"] + state["nProjets"] + state["nPropositions"] + state["nAlternatives"]
    )
    # alternatives: a layer in the control, unchecked; recommended proposals checked
    checks = dict(
        (name, "checked" in attrs)
        for attrs, name in re.findall(
            r'<input type="checkbox" class="leaflet-control-layers-selector"([^>]*)><span> '
            r"([^<(]+) \(",
            dom,
        )
    )
    assert checks["Propositions alternatives"] is False
    assert checks["Propositions recommandées"] is True
    # porteurs: circle markers with a tooltip
    assert dom.count('class="cv-porteur leaflet-interactive"') == expected["nPorteurs"]
    # metric scale only, a print button
    assert dom.count('<div class="leaflet-control-scale-line"') == 1
    button = r'class="leaflet-bar cv-control cv-print[^"]*"><a [^>]*aria-label="Imprimer'
    assert re.search(button, dom)

    # printed: one A4 landscape page (the page's print CSS), the title and legend kept
    pdf = tmp_path / "carte.pdf"
    _chromium(dep_map.as_uri(), tmp_path, pdf=pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    boxes = set(re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data))
    assert len(boxes) == 1
    ((w, h),) = boxes
    assert float(w) == pytest.approx(842, abs=2) and float(h) == pytest.approx(595, abs=2)
    assert len(re.findall(rb"/Type /Page[^s]", data)) == 1
    css = dep_map.read_text(encoding="utf-8")
    printed = css[css.index("@media print") :]
    assert re.search(r"\.cv-print, \.cv-search, \.leaflet-control-layers", printed)
    assert ".cv-title, .cv-legend { display: block !important" in printed

    # the card of Vitré's zone tells the three parts of its alternative apart
    dom, log = _chromium(dep_map.as_uri() + "#recherche=vitre", tmp_path)
    card = dom[dom.index('class="cv-popup"><h3>Vitré') :]
    assert [f"(alternative 2, partie {k}/3)" in card for k in (1, 2, 3)] == [True] * 3

    dom, log = _chromium(national.as_uri(), tmp_path)
    assert _console(log) == []
    state = _state(dom)
    # every département of France is drawn (those outside the map's scope « hors périmètre »)
    assert state["nDepartements"] == units["departement"].nunique()

    # screenshots, in the test's own folder: the project's maps/ holds maps only (cartes
    # replaces it whole and refuses other files)
    for path, name in [(dep_map, f"test-departement-{DEP}.png"), (national, "test-index.png")]:
        shot = tmp_path / name
        _chromium(path.as_uri(), tmp_path, screenshot=shot)
        assert shot.exists() and shot.stat().st_size > 20_000
