"""A regional registry read without --departement (issue 17 item 4).

Its extent (the départements its CPTS claim a commune in) is a fact of every output: figures,
colour scales and headlines are those of the extent; the rest of France is « hors registre »,
never uncovered. Real communes of Côtes-d'Armor (22) and Ille-et-Vilaine (35).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from _helpers import run_cli

from couverture import _format

DEPS = ("22", "35")


@pytest.fixture(scope="module")
def regional(tmp_path_factory: pytest.TempPathFactory, units: pd.DataFrame) -> Path:
    """Two thirds of the communes of 22 and 35 in four CPTS."""
    rows = []
    for dep in DEPS:
        codes = units.loc[units["departement"] == dep, "code"].tolist()
        kept = codes[: 2 * len(codes) // 3]
        for i, code in enumerate(kept):
            cpts = f"{dep}-{i * 2 // len(kept)}"
            rows.append({"cpts_id": cpts, "nom_cpts": f"CPTS {cpts}", "stade": "ACI signé",
                         "code_insee": code})  # fmt: skip
    path = tmp_path_factory.mktemp("regional") / "registre-bretagne.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _csv(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[pd.DataFrame, str]:
    assert run_cli([*args, "--format", "csv"]) == 0
    captured = capsys.readouterr()
    frame = pd.read_csv(io.StringIO(captured.out), dtype={"code": str, "departement": str})
    return frame, captured.err


def test_figures_are_those_of_the_extent(
    regional: Path, units: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    population = int(units.loc[units["departement"].isin(DEPS), "population"].sum())
    france, err = _csv(["taux", "--registre", str(regional), "--niveau", "france"], capsys)
    assert int(france["population"].sum()) == population  # not 68 million
    assert "hors registre" in err and "22, 35" in err
    deps, _ = _csv(["taux", "--registre", str(regional)], capsys)
    assert sorted(deps["code"]) == list(DEPS)
    regions, _ = _csv(["taux", "--registre", str(regional), "--niveau", "region"], capsys)
    assert int(regions["population"].sum()) == population
    zones, _ = _csv(["zones-blanches", "--registre", str(regional)], capsys)
    assert set(zones["departement"]) <= set(DEPS)
    communes, _ = _csv(["communes", "--registre", str(regional)], capsys)
    assert set(communes["departement"]) == set(DEPS)


def test_national_map_headline_and_colours_use_the_extent(
    regional: Path, units: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "cartes"
    assert run_cli(["cartes", "--registre", str(regional), "--sortie", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.glob("*.html")) == [
        "departement-22.html",
        "departement-35.html",
        "index.html",
    ]
    page = (out / "index.html").read_text(encoding="utf-8")
    population = int(units.loc[units["departement"].isin(DEPS), "population"].sum())
    assert _format.integer(population) + " hab." in page
    assert _format.integer(int(units["population"].sum())) not in page
    # every département drawn; those outside the registry « hors registre », off the scale
    features = {
        f["properties"]["code"]: f["properties"]
        for f in _features(page)
        if "taux_aci" in f.get("properties", {})
    }
    assert len(features) == units["departement"].nunique()
    assert features["29"]["hors"] == "hors registre"
    assert features["29"]["taux_aci"] is None
    assert "hors" not in features["35"] and features["35"]["taux_aci"] > 0
    assert "hors registre" in page  # the legend
    dep = (out / "departement-35.html").read_text(encoding="utf-8")
    # Ille-et-Vilaine borders 44, 49, 50, 53 and 56, none of them in the registry
    match = re.search(r"CPTS voisines \(hors département ; ([^)]*) hors registre\)", dep)
    assert match is not None
    assert {"44", "50", "53", "56"} <= set(match.group(1).split(", "))


def _features(page: str) -> list[dict]:
    """The GeoJSON features written in a map page."""
    out = []
    for m in re.finditer(r'\{"type":"FeatureCollection","features":\[', page):
        decoder = json.JSONDecoder()
        collection, _ = decoder.raw_decode(page[m.start() :])
        out += collection["features"]
    return out


def test_given_departements_are_kept(
    regional: Path, units: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    france, err = _csv(
        ["taux", "--registre", str(regional), "--niveau", "france", "--departement", "35"], capsys
    )
    population = int(units.loc[units["departement"] == "35", "population"].sum())
    assert int(france["population"].sum()) == population
    assert "hors registre" not in err


def test_report_of_a_regional_registry_is_that_of_its_departements(
    regional: Path, units: pd.DataFrame, tmp_path: Path
) -> None:
    from couverture import history

    args = ["rapport", "--mois", "2026-11", "--registre", str(regional), "--sortie"]
    args += [str(tmp_path / "reports"), "--historique", str(tmp_path / "h.duckdb")]
    assert run_cli([*args, "--sans-cartes", "--sans-propositions", "-q"]) == 0
    months = history.months(path=tmp_path / "h.duckdb")
    assert months["perimetre"].tolist() == [",".join(DEPS)]
    population = int(units.loc[units["departement"].isin(DEPS), "population"].sum())
    assert int(months["population"].iloc[0]) == population
