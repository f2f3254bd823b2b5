"""The DuckDB store: spatial extension loaded offline from the project, tables, cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from couverture import settings, store
from couverture._config import source_path
from couverture._errors import StoreError


def test_spatial_extension_loads_offline_from_project_dir(tmp_path: Path) -> None:
    """A fresh HOME proves nothing is read from or written to ~/.duckdb."""
    code = (
        "from couverture import store\n"
        "with store.opened(spatial=True) as con:\n"
        '    print(con.execute("SELECT ST_Area(ST_GeomFromText('
        "'POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))'))\").fetchone()[0])\n"
        '    print(con.execute("SELECT install_path FROM duckdb_extensions() '
        "WHERE extension_name = 'spatial'\").fetchone()[0])\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "http_proxy": "http://127.0.0.1:9"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert out[0] == "4.0"
    assert Path(out[1]).is_relative_to(settings.EXTENSION_DIR)
    assert not (tmp_path / ".duckdb").exists()


def test_store_tables_and_vintages() -> None:
    with store.opened(read_only=True) as con:
        tables = set(
            con.execute("SELECT table_name FROM information_schema.tables").fetchdf()["table_name"]
        )
        assert {"units", "adjacency", "territories", "old_codes", "meta"} <= tables
        assert store.meta(con)["cog"] == "2025"
        assert store.meta(con)["population_millesime"] == "RP2023"
        n, pop = con.execute("SELECT count(*), sum(population) FROM units").fetchone()
    assert n == 34_917
    rp = pd.read_csv(source_path("population"), dtype={"code": str, "departement": str})
    com = rp["departement"].isin(["975", "977", "978"]) | rp["departement"].str.startswith("98")
    france = ~com & ~rp["code"].isin(settings.PLM_CITIES)
    assert pop == rp.loc[france, "population"].sum()  # arrondissements, not their cities


def test_unit_geometries_are_wgs84_and_complete() -> None:
    with store.opened() as con:
        geoms = store.unit_geometries(con, departements=("2A", "2B"))
    assert geoms.crs.to_epsg() == 4326
    assert len(geoms) == 360
    assert geoms.total_bounds[0] > 8 and geoms.total_bounds[2] < 10  # Corse


def test_store_is_opened_read_only() -> None:
    import duckdb

    with store.opened() as con, pytest.raises(duckdb.InvalidInputException, match="read-only"):
        con.execute("CREATE TABLE essai (a INTEGER)")


def test_missing_store_is_a_french_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="make data"):
        store.connect(tmp_path / "absent.duckdb")


def test_a_read_apart_leaves_no_blocks_nor_settings_behind() -> None:
    con = store.connect()
    try:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()
        held = "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
        sql = (
            "SELECT count(*), max(length(geojson)), max(octet_length(wkb)) FROM carte_geometries_v1"
        )
        with store.apart(con) as side:
            assert side.execute(sql).fetchone()[0] == 35_014  # units and départements
            read = side.execute(held).fetchone()[0]
        assert read > 30 * 2**20  # the geometry table's blocks, in the other instance…
        assert con.execute(held).fetchone()[0] < 5 * 2**20  # …none in the store's own
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() == limit
        with pytest.raises(Exception, match=r"(?i)closed"):
            side.execute("SELECT 1")  # gone with the block
    finally:
        con.close()


def test_has_table_tells_present_and_absent_tables() -> None:
    import duckdb

    con = store.connect()
    try:
        assert store.has_table(con, store.GRAPH_TABLE) and store.has_table(con, "units")
        assert not store.has_table(con, "absente")
        assert con.execute("SELECT count(*) FROM units").fetchone()[0] > 34_000  # still usable
    finally:
        con.close()
    assert not store.has_table(duckdb.connect(), "mois")
