"""CPTS perimeters as polygons (issue 13): dissolved from real communes, any CRS, giving the same
registry as the commune list; shared units, slivers and gaps."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from couverture import settings
from couverture._errors import ArgumentError, RegistryError
from couverture._registry_polygons import thresholds
from couverture.registry import read_registry

BIN = Path(sys.executable).parent / "couverture"
PACA_DEPS = ["04", "05", "06", "13", "83", "84"]


@pytest.fixture(scope="session")
def unit_geometries() -> gpd.GeoDataFrame:
    """Unit geometries (WGS84) indexed by code, as ``Analysis.geometries`` gives them."""
    raw = pd.read_parquet(settings.UNITS_PATH, columns=["code", "geometry"]).dropna()
    geoms = shapely.from_wkb(raw["geometry"].map(bytes).to_numpy())
    return gpd.GeoDataFrame({"code": raw["code"]}, geometry=geoms, crs="EPSG:4326").set_index(
        "code"
    )


@pytest.fixture(scope="session")
def read(units, old_codes, unit_geometries):
    def _read(path, **options):
        options.setdefault("unit_geometries", unit_geometries)
        return read_registry(path, units=units, old_codes=old_codes, **options)

    return _read


def dissolve(
    geoms: gpd.GeoDataFrame, groups: dict[str, list[str]], simplify_m: float = 200
) -> gpd.GeoSeries:
    """One Lambert-93 polygon per group of communes, simplified by ``simplify_m`` metres."""
    local = geoms.to_crs(settings.CRS_METRIC)
    return gpd.GeoSeries(
        [local.loc[codes].union_all().simplify(simplify_m) for codes in groups.values()],
        crs=settings.CRS_METRIC,
    )


def assignment(registry, codes) -> dict[str, frozenset[str]]:
    by_code = registry.membership.groupby("code")["cpts_id"].agg(frozenset)
    return {c: by_code.get(c, frozenset()) for c in codes}


# ------------------------------------------------------------------ a few communes of 35
RENNES_WEST = ["35238", "35240", "35281", "35353"]  # Rennes, Le Rheu, Saint-Gilles, Vezin
CESSON_EAST = ["35051", "35055", "35327"]  # Cesson-Sévigné, Chantepie, Thorigné-Fouillard


def test_small_layer_any_crs_same_registry_as_commune_list(read, unit_geometries, tmp_path):
    groups = {"C1": RENNES_WEST, "C2": CESSON_EAST}
    polygons = dissolve(unit_geometries, groups)
    layer = gpd.GeoDataFrame(
        {
            "id_cpts": list(groups),
            "Nom de la CPTS": ["CPTS Rennes Ouest", "CPTS Est Rennais"],
            "Statut": ["ACI signé", "Projet de santé validé"],
        },
        geometry=polygons,
    )
    layer.to_crs("EPSG:4326").to_file(tmp_path / "p.geojson", driver="GeoJSON")
    layer.to_file(tmp_path / "p.gpkg", driver="GPKG")  # Lambert-93
    rows = [
        {"cpts_id": k, "nom_cpts": n, "stade": s, "code_insee": c}
        for k, n, s in layer[["id_cpts", "Nom de la CPTS", "Statut"]].to_numpy()
        for c in groups[k]
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "list.csv", index=False)
    expected = read(tmp_path / "list.csv")
    for name in ("p.geojson", "p.gpkg"):
        got = read(tmp_path / name)
        codes = [c for g in groups.values() for c in g]
        assert assignment(got, codes) == assignment(expected, codes)
        assert got.membership["code"].isin(codes).all()  # neighbours' slivers not taken
        assert got.cpts[["nom", "stade"]].equals(expected.cpts[["nom", "stade"]])
        assert got.membership["part"].isna().all()
    assert gpd.read_file(tmp_path / "p.gpkg").crs.to_epsg() == 2154


def test_shared_unit_slivers_and_gaps(read, unit_geometries, tmp_path):
    limits = thresholds()
    local = unit_geometries.to_crs(settings.CRS_METRIC)
    rennes = local.loc["35238"].geometry
    xmin, ymin, xmax, ymax = rennes.bounds
    lo, hi = xmin, xmax  # the meridian halving Rennes
    for _ in range(40):
        cut = (lo + hi) / 2
        half = shapely.box(xmin - 1, ymin - 1, cut, ymax + 1).intersection(rennes).area
        lo, hi = (cut, hi) if half < rennes.area / 2 else (lo, cut)
    west = shapely.box(xmin - 1, ymin - 1, cut - 300, ymax + 1).intersection(rennes)
    east = shapely.box(cut + 300, ymin - 1, xmax + 1, ymax + 1).intersection(rennes)
    le_rheu = local.loc["35240"].geometry
    cesson = local.loc["35051"].geometry
    # C1: Le Rheu and the west of Rennes; C2: Cesson and the east of Rennes, plus a third of
    # Chantepie (a gap in its own perimeter, not enough to take it)
    chantepie = local.loc["35055"].geometry
    cx0, cy0, cx1, cy1 = chantepie.bounds
    third = shapely.box(cx0 - 1, cy0 - 1, cx0 + (cx1 - cx0) / 3, cy1 + 1).intersection(chantepie)
    layer = gpd.GeoDataFrame(
        {"cpts_id": ["C1", "C2"], "nom_cpts": ["CPTS A", "CPTS B"], "stade": ["aci", "aci"]},
        geometry=[le_rheu.union(west), cesson.union(east).union(third)],
        crs=settings.CRS_METRIC,
    )
    layer.to_file(tmp_path / "p.gpkg", driver="GPKG")
    reg = read(tmp_path / "p.gpkg")
    m = reg.membership.set_index(["cpts_id", "code"])["part"]
    assert set(m.index) == {("C1", "35240"), ("C1", "35238"), ("C2", "35051"), ("C2", "35238")}
    west_share = west.area / rennes.area
    assert m[("C1", "35238")] == pytest.approx(west_share, abs=1e-3)
    assert limits.shared <= west_share < limits.majority
    assert pd.isna(m[("C1", "35240")])
    notes = reg.anomalies.set_index("valeur")["action"]
    assert "partagée entre périmètres" in notes["35238"]
    share = third.area / chantepie.area
    assert limits.negligible <= share < limits.majority
    assert f"couverte à {share * 100:.0f}\u00a0% par CPTS B (C2)" in notes["35055"]
    assert "non rattachée" in notes["35055"]


def test_null_stage_is_an_empty_stage(read, unit_geometries, tmp_path):
    groups = {"C1": RENNES_WEST, "C2": CESSON_EAST}
    layer = gpd.GeoDataFrame(
        {"cpts_id": list(groups), "nom_cpts": ["CPTS A", "CPTS B"], "stade": ["ACI", None]},
        geometry=dissolve(unit_geometries, groups),
    )
    layer.to_file(tmp_path / "p.gpkg", driver="GPKG")  # a null attribute: NaN once read
    with pytest.raises(RegistryError) as excinfo:
        read(tmp_path / "p.gpkg")
    [(line, value, message)] = excinfo.value.problems  # one problem for the polygon
    assert (line, value) == (3, "") and message.startswith("stade vide")
    reg = read(tmp_path / "p.gpkg", default_stage="projet_sante")
    assert reg.cpts["stade"].to_dict() == {"C1": "aci", "C2": "projet_sante"}


def test_geopackage_with_several_layers(read, unit_geometries, tmp_path, caplog):
    polygons = dissolve(unit_geometries, {"C1": RENNES_WEST})
    points = gpd.GeoDataFrame({"nom": ["siège"]}, geometry=polygons.centroid)
    points.to_file(tmp_path / "p.gpkg", layer="sieges", driver="GPKG")
    layer = gpd.GeoDataFrame({"nom_cpts": ["CPTS A"], "stade": ["aci"]}, geometry=polygons)
    layer.to_file(tmp_path / "p.gpkg", layer="perimetres", driver="GPKG")
    with caplog.at_level(logging.INFO, logger="couverture.registry"):
        reg = read(tmp_path / "p.gpkg")
    assert set(reg.membership["code"]) == set(RENNES_WEST)
    assert "couche « perimetres » lue" in caplog.text
    layer.to_file(tmp_path / "p.gpkg", layer="perimetres_2025", driver="GPKG")
    with pytest.raises(RegistryError, match="plusieurs couche"):
        read(tmp_path / "p.gpkg")


def test_shapefile_fingerprint_covers_its_attributes(read, unit_geometries, tmp_path):
    from couverture import _cache

    polygons = dissolve(unit_geometries, {"C1": RENNES_WEST})
    layer = gpd.GeoDataFrame({"nom_cpts": ["CPTS A"], "stade": ["aci"]}, geometry=polygons)
    layer.to_file(tmp_path / "p.shp")
    reg = read(tmp_path / "p.shp")
    assert reg.digest == _cache.digest(tmp_path / "p.shp")
    shp = (tmp_path / "p.shp").read_bytes()
    layer.assign(stade=["projet_sante"]).to_file(tmp_path / "p.shp")  # same polygons
    assert (tmp_path / "p.shp").read_bytes() == shp
    again = read(tmp_path / "p.shp")
    assert again.cpts.loc["CPTS A", "stade"] == "projet_sante"
    assert _cache.digest(tmp_path / "p.shp") == again.digest != reg.digest


def test_layer_errors_are_french(read, unit_geometries, tmp_path):
    layer = gpd.GeoDataFrame(
        {"surface": ["x"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326"
    )  # (a plain "libelle" names the CPTS of a layer: issue 17)
    layer.to_file(tmp_path / "nocol.geojson", driver="GeoJSON")
    with pytest.raises(RegistryError, match="colonne d'identifiant ou de nom de CPTS"):
        read(tmp_path / "nocol.geojson")
    points = gpd.GeoDataFrame(
        {"nom_cpts": ["CPTS A"], "stade": ["aci"]}, geometry=[shapely.Point(0, 0)], crs=4326
    )
    points.to_file(tmp_path / "pts.geojson", driver="GeoJSON")
    with pytest.raises(RegistryError, match="sans géométrie surfacique"):
        read(tmp_path / "pts.geojson")
    with pytest.raises(ArgumentError, match="géométries des communes"):
        read(tmp_path / "pts.geojson", unit_geometries=None)
    (tmp_path / "bad.geojson").write_text("{pas du json", encoding="utf-8")
    with pytest.raises(RegistryError, match="couche illisible"):
        read(tmp_path / "bad.geojson")


def test_cli_reads_a_polygon_layer(unit_geometries, tmp_path):
    polygons = dissolve(unit_geometries, {"C1": RENNES_WEST})
    layer = gpd.GeoDataFrame({"nom_cpts": ["CPTS Rennes Ouest"]}, geometry=polygons)
    layer.to_file(tmp_path / "p.gpkg", driver="GPKG")
    done = subprocess.run(
        [
            *(str(BIN), "communes", "--registre", str(tmp_path / "p.gpkg")),
            *("--departement", "35", "--stade-par-defaut", "aci", "--format", "csv", "-q"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    communes = pd.read_csv(pd.io.common.StringIO(done.stdout), dtype={"code": str})
    covered = set(communes.loc[communes["stade"] == "aci", "code"])
    assert covered == set(RENNES_WEST)


# ------------------------------------------------------------------ the real PACA perimeters
def test_paca_perimeters_agree_with_the_commune_list(
    read, paca_registry, unit_geometries, units, tmp_path, caplog
):
    reference = read(paca_registry, default_stage="aci")
    m = reference.membership.merge(reference.cpts[["nom"]], left_on="cpts_id", right_index=True)
    groups = {(k, n): list(g["code"]) for (k, n), g in m.groupby(["cpts_id", "nom"], sort=False)}
    layer = gpd.GeoDataFrame(
        {"cpts_id": [k for k, _ in groups], "nom_cpts": [n for _, n in groups]},
        geometry=dissolve(unit_geometries, {k: v for (k, _), v in groups.items()}),
    )
    layer.to_crs("EPSG:4326").to_file(tmp_path / "paca.geojson", driver="GeoJSON")
    layer.to_file(tmp_path / "paca.gpkg", driver="GPKG")
    codes = list(units.loc[units["departement"].isin(PACA_DEPS), "code"])
    expected = assignment(reference, codes)
    for name in ("paca.geojson", "paca.gpkg"):
        with caplog.at_level(logging.WARNING, logger="couverture.registry"):
            got = assignment(read(tmp_path / name, default_stage="aci"), codes)
        same = sum(got[c] == expected[c] for c in codes)
        assert same / len(codes) >= 0.99, f"{name} : {same}/{len(codes)}"


def test_areas_and_positions_of_the_layer_messages_are_french_numbers() -> None:
    """The hectares and positions the layer's notes quote go through couverture._format."""
    from couverture._registry_polygons import _format_hectares, _position

    assert _format_hectares(10_000) == "1,0 ha"
    assert _format_hectares(25_000_000) == "2\u202f500 ha"  # thousands apart, as in French
    assert _position(-2.85, 49.2254) == "49,225 N, 2,850 O"
