"""Potential porteurs: the FINESS extract as published (fixture over real communes of
Ille-et-Vilaine and La Réunion), the simple CSV, porteurs near a zone, and the
``porteur_potentiel`` column of the proposals."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from _helpers import run_cli as _cli

import couverture
from couverture._errors import DataSourceError
from couverture.porteurs import COLUMNS, porteurs_near, read_porteurs

FIXTURE = Path(__file__).parent / "data" / "finess_etablissements_35.csv"


@pytest.fixture(scope="module")
def analysis(demo_registry: Path):
    with couverture.analyse(demo_registry, departements="35") as a:
        yield a


def test_finess_extract_as_published(analysis) -> None:
    porteurs = read_porteurs(FIXTURE)
    assert porteurs.columns.tolist() == COLUMNS
    # the pharmacy (catégorie 620) is left out; MSP (603) and centres de santé (124) kept
    assert sorted(porteurs["finess"]) == [
        "350099991",
        "350099992",
        "350099994",
        "350099995",
        "350099996",
        "970499991",
    ]
    assert set(porteurs["categorie"]) == {"603", "124"}
    by_id = porteurs.set_index("finess")
    assert by_id.loc["970499991", "code_commune"] == "97411"  # 9D + 411: Saint-Denis
    assert by_id.loc["350099992", "code_commune"] == "35006"
    assert by_id.loc["350099994", "nom"] == 'MAISON DE SANTE "LES GENETS"; CHATEAUBOURG'
    # the commune code read from (département, commune) is the town of the postal line
    records = csv.reader(io.StringIO(FIXTURE.read_text(encoding="utf-8")), delimiter=";")
    towns = {r[1]: r[15].split(" ", 1)[1] for r in records if r[0] == "structureet"}
    units = analysis.unit_table().set_index("code")["nom"]
    for finess, code in zip(porteurs["finess"], porteurs["code_commune"], strict=True):
        assert _plain(units[code]) == _plain(towns[finess]), (finess, code)
    # no geolocalisation record: position unknown
    assert math.isnan(by_id.loc["350099996", "lon"]) and math.isnan(by_id.loc["350099996", "lat"])
    # Lambert 93 (both spellings of the source field) and the UTM projection of La Réunion
    # land in the real polygon of their commune
    located = porteurs.dropna(subset=["lon"])
    geoms = analysis.geometries(departements=("35", "974"))
    points = gpd.points_from_xy(located["lon"], located["lat"], crs="EPSG:4326")
    for point, code in zip(points, located["code_commune"], strict=True):
        assert geoms.geometry.loc[code].contains(point), code


def _plain(name: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().upper()
    return text.replace("-", " ").replace("SAINT ", "ST ")


def test_categories_and_encoding(tmp_path: Path) -> None:
    only = read_porteurs(FIXTURE, categories=["620"])
    assert only["nom"].tolist() == ["PHARMACIE DU CHATEAU"]
    latin = tmp_path / "finess_cp1252.csv"
    latin.write_bytes(FIXTURE.read_text(encoding="utf-8").encode("cp1252"))
    pd.testing.assert_frame_equal(read_porteurs(latin), read_porteurs(FIXTURE))


def test_simple_csv(tmp_path: Path, analysis) -> None:
    path = tmp_path / "porteurs.csv"
    path.write_text(
        "nom;categorie;code_commune;x;y;lat;lon\n"
        "MSP de Vitré;603;35360;387930.6;6787052.9;;\n"
        "Centre de santé de Redon;124;35236;;;47,6519;-2,0840\n"
        "MSP de l'Ain;603;1004;;;;\n",
        encoding="utf-8",
    )
    porteurs = read_porteurs(path).set_index("code_commune")
    assert porteurs.index.tolist() == ["01004", "35236", "35360"]  # leading zero restored
    assert porteurs.loc["35360", "libelle_categorie"] == "Maison de santé (L.6223-3)"
    geoms = analysis.geometries(departements=("35",))
    for code in ("35360", "35236"):
        point = gpd.points_from_xy([porteurs.loc[code, "lon"]], [porteurs.loc[code, "lat"]])[0]
        assert geoms.geometry.loc[code].contains(point)
    assert math.isnan(porteurs.loc["01004", "lat"])


def test_malformed_extract_names_the_line(
    tmp_path: Path, demo_registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    lines[2] = ";".join(lines[2].split(";")[:12])  # a structureet record cut short
    lines[9] = "geolocalisation;350099992;abc;6780212.7;LAMBERT_93;2026-09-14"
    bad = tmp_path / "finess_abime.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="ligne 3") as error:
        read_porteurs(bad)
    assert "ligne 10" in str(error.value) and "coordonnées illisibles" in str(error.value)
    args = ["suggestions", "--registre", str(demo_registry), "--departement", "35"]
    assert _cli([*args, "--porteurs", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "finess_abime.csv, ligne 3" in err and "Traceback" not in err
    other = tmp_path / "autre.csv"
    other.write_text("a;b\n1;2\n", encoding="utf-8")
    assert _cli([*args, "--porteurs", str(other)]) == 2
    assert "format non reconnu" in capsys.readouterr().err


def test_porteurs_near_a_zone(analysis) -> None:
    porteurs = read_porteurs(FIXTURE)
    zone = analysis.zones().set_index("zone_id").loc["ZB-35-35006"]
    geometry = analysis.zone_geometries().loc["ZB-35-35006"]
    near = porteurs_near(
        porteurs, geometry, communes=zone["communes"].split(), departement="35"
    ).set_index("finess")
    # Vitré, Argentré-du-Plessis and Bais (no position, by its commune) are in the zone;
    # Châteaubourg, outside, is about 5 km from its border; Rennes (24 km) is not listed
    assert set(near.index[near["dans_zone"]]) == {"350099991", "350099992", "350099996"}
    assert set(near.index[~near["dans_zone"]]) == {"350099994"}
    assert 4_000 < near.loc["350099994", "distance_m"] < 7_000


def test_suggestions_name_a_porteur(
    demo_registry: Path, analysis, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["suggestions", "--registre", str(demo_registry), "--departement", "35"]
    assert _cli([*args, "--porteurs", str(FIXTURE), "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str).fillna("")
    creations = frame[frame["option"] == "creation"]
    assert not creations.empty
    assert (frame.loc[frame["option"] != "creation", "porteur_potentiel"] == "").all()
    row = creations[creations["zone_id"] == "ZB-35-35006"].iloc[0]
    # the porteur in the most populous commune of the proposal: Vitré's MSP
    units = analysis.unit_table().set_index("code")
    inside = [c for c in ("35360", "35006", "35014") if c in row["communes"].split()]
    biggest = max(inside, key=lambda c: units.loc[c, "population"])
    assert biggest == "35360"
    assert row["porteur_potentiel"].startswith("MAISON DE SANTE PLURIPROFESSIONNELLE DU PAYS")
    assert "(Vitré)" in row["porteur_potentiel"]


def test_a_porteur_is_named_for_one_project_only(analysis) -> None:
    from couverture.porteurs import name_porteurs

    # two recommended creations of two zones around Vitré and one porteur near both: the more
    # urgent (first) gets it, the other none; an alternative of the first zone may name it
    porteurs = read_porteurs(FIXTURE)
    porteurs = porteurs[porteurs["finess"] == "350099991"]
    assert len(porteurs) == 1
    proposals = pd.DataFrame(
        {
            "zone_id": ["Z1", "Z2", "Z1"],
            "option": ["creation"] * 3,
            "recommandee": ["oui", "oui", "non"],
            "communes": ["35360", "35360 35006", "35360"],
            "departement": ["35"] * 3,
        }
    )
    named = name_porteurs(analysis, proposals, porteurs)["porteur_potentiel"].tolist()
    assert named[0].startswith("MAISON DE SANTE PLURIPROFESSIONNELLE DU PAYS")
    assert named[1] == ""
    assert named[2] == named[0]
