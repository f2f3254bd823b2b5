"""The DuckDB store: reference tables, spatial extension loaded offline, per-registry cache.

``build_store`` loads ``units.parquet`` and ``adjacency.parquet`` into
``data/processed/couverture.duckdb`` (written to a temporary file, then renamed).
``connect`` opens it; ``load_spatial`` installs the spatial extension from the file shipped
by the PyPI package ``duckdb-extension-spatial`` into the project's own extension directory
(never ``~/.duckdb``) and loads it, with no network.

Every command opens the store read-only (several processes read it at once); only
``build_store`` writes, to a temporary file renamed at the end. Results computed for a registry
are cached outside the store, by :mod:`couverture._cache`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from couverture import _cache, settings
from couverture._config import sources
from couverture._errors import StoreError
from couverture._folders import BUILD_MARKER
from couverture._geometry import departement_outlines, geojson_geometries, simplify_coverage
from couverture.settings import CRS_WEB

# GeoPandas and Shapely are imported by the map-geometry functions only: every computed
# command opens the store (see couverture._cli_commands).

if TYPE_CHECKING:
    import duckdb
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)

SPATIAL_VERSION = "v1.5.5"
# how long a command waits for another process holding the store's write lock
LOCK_WAIT_SECONDS = 30.0


def _duckdb_config() -> dict[str, str | bool | int | float | list[str]]:
    return {
        "extension_directory": str(settings.EXTENSION_DIR),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }


def spatial_extension_file() -> Path:
    """Return the spatial extension binary shipped by ``duckdb-extension-spatial``."""
    try:
        base = resources.files("duckdb_extension_spatial")
    except ModuleNotFoundError as exc:
        raise StoreError(
            "le paquet duckdb-extension-spatial==1.5.5 n'est pas installé (make install)"
        ) from exc
    path = Path(str(base)) / "extensions" / SPATIAL_VERSION / "spatial.duckdb_extension"
    if not path.exists():
        raise StoreError(f"extension spatiale introuvable : {path}")
    return path


def load_spatial(con: duckdb.DuckDBPyConnection) -> None:
    """Install (once, from the local file) and load DuckDB's spatial extension."""
    installed = con.execute(
        "SELECT installed, loaded FROM duckdb_extensions() WHERE extension_name = 'spatial'"
    ).fetchone()
    if installed is None or not installed[0]:
        settings.EXTENSION_DIR.mkdir(parents=True, exist_ok=True)
        con.execute(f"INSTALL '{spatial_extension_file()}'")
    if installed is None or not installed[1]:
        con.execute("LOAD spatial")


def connect(
    path: Path | None = None, *, read_only: bool = True, spatial: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open the store.

    Parameters
    ----------
    path
        The database file (default ``data/processed/couverture.duckdb``).
    read_only
        Open without write access (the default: several processes may read the store at
        once; only :func:`build_store` writes, to a file of its own).
    spatial
        Load the spatial extension (only the commands that need geometry SQL ask for it).

    Raises
    ------
    StoreError
        The store is missing, not a DuckDB file, unreadable, or held for writing by another
        process for longer than :data:`LOCK_WAIT_SECONDS`.
    """
    path = path or settings.STORE_PATH
    if not path.exists():
        raise StoreError(f"base {path} absente : lancer `make data` (ou `couverture donnees`)")
    _cache.check_complete(path)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    waiting = False
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=_duckdb_config())
            break
        except duckdb.IOException as exc:
            text = str(exc).lower()
            # "Conflicting lock is held…": a word match, not "block" in a corruption message
            if not re.search(r"\block\b", text):
                raise StoreError(_open_failure(path, exc)) from exc
            if time.monotonic() > deadline:
                raise StoreError(
                    f"base {path} verrouillée en écriture par un autre processus depuis plus de "
                    f"{LOCK_WAIT_SECONDS:.0f} s (une commande `couverture donnees` en cours ?) : "
                    "réessayer quand elle sera terminée"
                ) from exc
            if not waiting:
                # say at once what we wait for, instead of 30 s of silence
                log.warning(
                    "base %s verrouillée par un autre processus (%s) : attente jusqu'à %.0f s…",
                    path,
                    _lock_holder(str(exc)),
                    LOCK_WAIT_SECONDS,
                )
                waiting = True
            time.sleep(0.2)
        except duckdb.Error as exc:
            raise StoreError(_open_failure(path, exc)) from exc
    if spatial:
        load_spatial(con)
    return con


def _lock_holder(message: str) -> str:
    """Return the process named by DuckDB's lock message (``PID 1234``), else a generic phrase."""
    found = re.search(r"PID (\d+)", message)
    return f"processus {found.group(1)}" if found else "écriture en cours"


def _open_failure(path: Path, exc: Exception) -> str:
    """Return a French reason for a store that cannot be opened, other than a held lock."""
    text = str(exc).lower()
    if "permission" in text or "read-only file system" in text:
        return f"base {path} illisible : permission refusée ou système de fichiers en lecture seule"
    if "not a valid duckdb" in text or "corrupt" in text or "invalid" in text:
        return (
            f"base {path} endommagée ou n'est pas une base DuckDB : la reconstruire avec "
            "`make data` (ou `couverture donnees`)"
        )
    return f"base {path} inaccessible : {exc}"


@contextlib.contextmanager
def opened(
    path: Path | None = None, *, read_only: bool = True, spatial: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Context manager around :func:`connect` that always closes the connection."""
    con = connect(path, read_only=read_only, spatial=spatial)
    try:
        yield con
    finally:
        con.close()


def build_store(
    *,
    units_path: Path | None = None,
    adjacency_path: Path | None = None,
    path: Path | None = None,
) -> Path:
    """Create the store from the processed parquet files (atomically: temp file, rename).

    Tables: ``units`` (with a GEOMETRY column in WGS84), ``adjacency``, ``territories``,
    ``old_codes`` and ``meta`` (vintages). Any previous cache is dropped with the old file.
    """
    from couverture.sources import load_old_codes, load_territories

    units_path = units_path or settings.UNITS_PATH
    adjacency_path = adjacency_path or settings.ADJACENCY_PATH
    path = path or settings.STORE_PATH
    for p in (units_path, adjacency_path):
        if not p.exists():
            raise StoreError(f"{p} absent : lancer `make data`")
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    territories = load_territories()
    old_codes = load_old_codes()
    con = duckdb.connect(str(tmp), config=_duckdb_config())
    try:
        load_spatial(con)
        con.execute(
            "CREATE TABLE units AS SELECT * EXCLUDE (geometry), "
            "ST_GeomFromWKB(geometry) AS geometry FROM read_parquet(?) ORDER BY code",
            [str(units_path)],
        )
        con.execute(
            "CREATE TABLE adjacency AS SELECT * FROM read_parquet(?) ORDER BY code_a, code_b",
            [str(adjacency_path)],
        )
        con.execute(f"CREATE TABLE {GRAPH_TABLE} AS {_GRAPH_SQL}")
        con.register("territories_df", territories)
        con.execute("CREATE TABLE territories AS SELECT * FROM territories_df")
        con.register("old_codes_df", old_codes)
        con.execute("CREATE TABLE old_codes AS SELECT * FROM old_codes_df")
        cog = con.execute("SELECT any_value(cog) FROM units").fetchone()
        vintages = con.execute(
            "SELECT string_agg(DISTINCT population_source, '+' ORDER BY population_source) "
            "FROM units"
        ).fetchone()
        con.execute(
            "CREATE TABLE meta AS SELECT ? AS cog, ? AS population_millesime, ? AS bassins_vie",
            [
                cog[0] if cog else "",
                vintages[0] if vintages else "",
                sources()["bassins_vie"]["vintage"],
            ],
        )
        # the maps' simplified geometry depends on the units only: computed once, here
        store_map_geometries(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, path)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    _cache.clear()
    (path.parent / BUILD_MARKER).unlink(missing_ok=True)  # the store matches the files again
    return path


def query(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None
) -> pd.DataFrame:
    """Run ``sql`` and return its rows as a pandas frame, through Arrow.

    DuckDB's own ``fetchdf`` converts strings value by value; going through an Arrow table is
    several times faster on the store's 35,000 units. For the types the store and the history
    hold, the columns are typed as ``fetchdf`` types them: an integer or boolean column with
    missing values becomes nullable (``Int64``, ``boolean``), a decimal or HUGEINT a float, a
    date a ``datetime64``. Text is pandas' string type, missing values ``NaN`` (``fetchdf``
    gives ``object`` and ``None`` for a text column without any value); intervals, UUIDs,
    blobs and maps are left as Arrow converts them.

    Examples
    --------
    >>> import duckdb
    >>> frame = query(duckdb.connect(), "SELECT 1 AS a, NULL::INTEGER AS b, DATE '2026-11-01' AS d")
    >>> [str(t) for t in frame.dtypes]
    ['int32', 'Int32', 'datetime64[us]']
    """
    table = con.execute(sql, params or []).to_arrow_table()
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_decimal(kind) or (pa.types.is_integer(kind) and kind.bit_width > 64):
            field = field.with_type(pa.float64())
        elif pa.types.is_date(kind):
            field = field.with_type(pa.timestamp("us"))
        fields.append(field)
    table = table.cast(pa.schema(fields))
    frame = table.to_pandas()
    nullable = _nullable_types()
    for field, column in zip(table.schema, table.columns, strict=True):
        if column.null_count and field.type in nullable:
            frame[field.name] = column.to_pandas(types_mapper=nullable.get)
    return frame


@functools.cache
def _nullable_types() -> dict[pa.DataType, Any]:
    """Arrow integer and boolean types → the pandas nullable dtype ``fetchdf`` gives them."""
    return {
        **{getattr(pa, f"int{b}")(): getattr(pd, f"Int{b}Dtype")() for b in (8, 16, 32, 64)},
        **{getattr(pa, f"uint{b}")(): getattr(pd, f"UInt{b}Dtype")() for b in (8, 16, 32, 64)},
        pa.bool_(): pd.BooleanDtype(),
    }


#: The adjacency as positions in the units sorted by code, stored at ``make data`` (the graph
#: of every analysis is read from it as three arrays, no join).
GRAPH_TABLE = "graphe_v1"
_GRAPH_SQL = """
    WITH p AS (SELECT code, (row_number() OVER (ORDER BY code) - 1)::BIGINT AS i FROM units)
    SELECT pa.i AS a, pb.i AS b, coalesce(e.frontiere_m, 1.0)::DOUBLE AS m
    FROM adjacency e JOIN p pa ON pa.code = e.code_a JOIN p pb ON pb.code = e.code_b
    ORDER BY a, b
"""


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Tell whether the database of ``con`` has a table ``name``.

    A store built before the table was added lacks it; a history without any month has none.
    Probed by reading no row of it: the first query of ``duckdb_tables()`` or
    ``information_schema`` on a connection costs a third of a second on the store. Outside a
    transaction (a failed probe would abort it).
    """
    try:
        con.execute(f'SELECT * FROM "{name}" LIMIT 0')
    except duckdb.CatalogException:
        return False
    return True


def graph_arrays(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    """Return the unit graph as arrays: ``code``, ``departement``, ``a``, ``b``, ``m``.

    Units sorted by code; the edges ``a → b`` are positions in ``code``, sorted, once per
    direction; ``m`` is the shared border in metres (1.0 when unknown). Read from
    :data:`GRAPH_TABLE`, or joined here for a store built before it.
    """
    units = con.execute("SELECT code, departement FROM units ORDER BY code").fetchnumpy()
    sql = f"SELECT a, b, m FROM {GRAPH_TABLE}" if has_table(con, GRAPH_TABLE) else _GRAPH_SQL
    edges = con.execute(sql).fetchnumpy()
    return {
        "code": np.asarray(units["code"]).astype(str),
        "departement": np.asarray(units["departement"]).astype(str),
        **{k: np.asarray(edges[k]) for k in ("a", "b", "m")},
    }


@contextlib.contextmanager
def apart(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the store of ``con`` in a DuckDB instance of its own, for one large read.

    DuckDB keeps the blocks it read in memory for the life of the instance (about 40 MiB after
    the national map geometry); read through this connection, they go with it when the block
    ends, and ``con``'s instance (its settings, its other connections) is left as it was. A
    store in memory (no file) is read through ``con`` itself.
    """
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if not row or not row[0]:
        yield con
        return
    side = duckdb.connect(config=_duckdb_config())
    try:
        quoted = str(row[0]).replace("'", "''")
        side.execute(f"ATTACH '{quoted}' AS magasin (READ_ONLY)")
        side.execute("USE magasin")
        yield side
    finally:
        side.close()


def register(con: duckdb.DuckDBPyConnection, **frames: pd.DataFrame) -> None:
    """Make pandas ``frames`` readable by SQL on ``con`` under their keyword names.

    Handed over as Arrow tables: DuckDB scans pandas' Arrow-backed strings one value at a time,
    an Arrow table at once (a tenth of the time for the 35,000 units). A column Arrow cannot
    type (mixed Python objects) is left to DuckDB's own pandas scan.
    """
    for name, frame in frames.items():
        try:
            con.register(name, pa.Table.from_pandas(frame, preserve_index=False))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            con.register(name, frame)


def meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Return the vintages recorded in the store (``cog``, ``population_millesime``…)."""
    row = query(con, "SELECT * FROM meta")
    return {k: str(v) for k, v in row.iloc[0].items()}


def unit_geometries(
    con: duckdb.DuckDBPyConnection, *, departements: tuple[str, ...] | None = None
) -> gpd.GeoDataFrame:
    """Return the units' geometry (WGS84) indexed by unit code, units without one excluded."""
    import geopandas as gpd
    import shapely

    load_spatial(con)
    where = "WHERE geometry IS NOT NULL"
    params: list[object] = []
    if departements:
        where += " AND list_contains(?, departement)"
        params.append(list(departements))
    df = query(
        con, f"SELECT code, ST_AsWKB(geometry) AS wkb FROM units {where} ORDER BY code", params
    )
    geoms = shapely.from_wkb(df["wkb"].map(bytes).to_numpy())
    return gpd.GeoDataFrame({"code": df["code"]}, geometry=geoms, crs=CRS_WEB).set_index("code")


# ------------------------------------------------------------------------------------------------
# simplified geometry, computed once per store
# ------------------------------------------------------------------------------------------------
MAP_GEOMETRY_TABLE = "carte_geometries_v1"


def map_geometry_table(con: Any) -> pd.DataFrame:
    """Compute the simplified geometry of every unit and of every département's outline.

    Registry-independent, so computed once per store (:func:`store_map_geometries`): units
    simplified together as a coverage (:data:`couverture._geometry.SIMPLIFY_TOLERANCE_M`),
    départements as the union of their simplified units simplified again
    (:data:`couverture._geometry.NATIONAL_TOLERANCE_M`).

    Returns
    -------
    pandas.DataFrame
        ``niveau`` (``unite`` or ``departement``), ``code``, ``departement``, ``wkb``
        (WGS84, 5 decimals) and ``geojson`` (the compact GeoJSON text the maps paste).
    """
    import shapely

    unit_dep = query(con, "SELECT code, departement FROM units")
    unit_dep = unit_dep.set_index("code")["departement"]
    geoms = unit_geometries(con).geometry
    simple = simplify_coverage(geoms, unit_dep)
    deps = departement_outlines(simple, unit_dep.reindex(simple.index))
    frames = []
    for niveau, series, dep in [
        ("unite", simple, unit_dep.reindex(simple.index).to_numpy()),
        ("departement", deps, deps.index.to_numpy()),
    ]:
        values = series.to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "niveau": niveau,
                    "code": series.index.astype(str),
                    "departement": dep,
                    "wkb": shapely.to_wkb(values),
                    "geojson": geojson_geometries(values),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def store_map_geometries(con: Any) -> None:
    """Write :func:`map_geometry_table` into the store being built.

    (``make data`` calls it through :func:`build_store`, the only writer of the store; a store
    built before this table has it computed for each run by :func:`map_geometries`).
    """
    frame = map_geometry_table(con)
    con.register("carte_geometries_df", frame)
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {MAP_GEOMETRY_TABLE} AS "
            "SELECT * FROM carte_geometries_df ORDER BY niveau DESC, code"
        )
    finally:
        con.unregister("carte_geometries_df")


def map_geometries(
    con: Any, *, niveau: str = "unite", departements: Sequence[str] | None = None
) -> pd.DataFrame:
    """Return the stored simplified geometry (index ``code``.

    ``departement``, ``geometry``, ``geojson``), computed for this run when the store lacks it
    (a store built before the table: the store is read-only, ``make data`` stores it).
    """
    import shapely

    if not has_table(con, MAP_GEOMETRY_TABLE):
        log.info("géométrie simplifiée absente de la base : calculée pour cette exécution")
        frame = map_geometry_table(con)
        frame = frame[frame["niveau"] == niveau]
        if departements is not None:
            frame = frame[frame["departement"].isin(list(departements))]
        return _geometry_frame(
            frame["code"].tolist(),
            frame["departement"].tolist(),
            shapely.from_wkb(frame["wkb"].to_numpy()),
            frame["geojson"].tolist(),
        )
    deps = None if departements is None else list(departements)
    codes: list[str] = []
    deps_of: list[str] = []
    geojson: list[str] = []
    parts = []
    # streamed in batches (no ORDER BY: the table is stored in code order), so that the store
    # never holds the whole result besides the Python objects built from it; read apart, so
    # that DuckDB's copy of the blocks goes once they are Python objects
    with apart(con) as side:
        reader = side.execute(
            f"SELECT code, departement, wkb, geojson FROM {MAP_GEOMETRY_TABLE} WHERE niveau = ? "
            "AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], departement))",
            [niveau, deps, deps],
        ).to_arrow_reader(4096)
        for batch in reader:
            codes.extend(batch.column("code").to_pylist())
            deps_of.extend(batch.column("departement").to_pylist())
            geojson.extend(batch.column("geojson").to_pylist())
            parts.append(shapely.from_wkb(batch.column("wkb").to_numpy(zero_copy_only=False)))
        del reader
    geoms = np.concatenate(parts) if parts else np.empty(0, dtype=object)
    return _geometry_frame(codes, deps_of, geoms, geojson)


def _geometry_frame(
    codes: Sequence[str], departements: Sequence[str], geoms: Any, geojson: Sequence[str]
) -> gpd.GeoDataFrame:
    """Return a frame indexed by code, in code order.

    ``departement``, ``geojson``, ``geometry``.
    """
    import geopandas as gpd

    index = pd.Index(np.asarray(codes, dtype=object))
    out = gpd.GeoDataFrame(
        {
            "departement": np.asarray(departements, dtype=object),
            # the pasted text stays the Python strings read from the store (object dtype):
            # a string column would copy the 21 MiB of national GeoJSON into Arrow, and every
            # map's rows would copy it back out
            "geojson": pd.Series(geojson, index=index, dtype=object),
        },
        geometry=geoms,
        index=index,
        crs=CRS_WEB,
    )
    out.index.name = "code"
    return out if out.index.is_monotonic_increasing else out.sort_index()
