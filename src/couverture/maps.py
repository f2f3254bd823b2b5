"""Folium maps for the task forces.

One self-contained HTML map per département and a national overview (``maps/index.html``)
linking to them.

Each département map shows the CPTS perimeters coloured by stage, the zones blanches (red
hatching), chevauchements and communes partagées, recommended proposals (dashed outlines),
neighbouring CPTS across the border (faded) and every commune with a tooltip; a click on a
commune opens the cards of its CPTS and of its zone blanche. The national map colours the
départements by the share of their population covered, at the stage chosen in the layer
control.

Geometry is simplified once per store, not per run (:func:`store_map_geometries`, called when
the store is built; a store without it has the table computed for each run): the units'
polygons are simplified together as a coverage (``shapely.coverage_simplify`` in a metric
CRS, so that neighbouring communes keep a common border), rounded to 5 decimals (about 1 m)
and kept with their GeoJSON text in the store table ``carte_geometries_v1``, with the
départements' outlines of the national map. Per registry (:func:`prepare_layers`), each CPTS,
zone or proposal is the coverage union of its units and every feature's GeoJSON text is built
once; each map is then a page template filled with the layers' JSON (no object-per-element
HTML builder), the département maps written by two worker processes. The HTML inlines Leaflet
(from XStatic-Leaflet) and the project's small runtime: nothing but the background tiles
needs the network.

Examples
--------
>>> import couverture
>>> from couverture.maps import build_maps
>>> with couverture.analyse("data/raw/registre_demo.csv") as a:  # doctest: +SKIP
...     build_maps(a, "maps", departements=["35"])
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from couverture import _format
from couverture._config import metric_crs
from couverture._config import stage as _stage
from couverture._config import stages as _stages
from couverture._errors import ArgumentError
from couverture._output import STAMP_NAME, atomic_write_text, recover_folders, staged_folder
from couverture._validate import check_departements
from couverture.settings import CRS_WEB

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from couverture.analysis import Analysis

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------------
# presentation constants: the stages' colours come from config/vocabulaire_stades.csv (a
# viridis-like ramp, distinct in greyscale and for colour-blind readers); red for zones blanches
# ------------------------------------------------------------------------------------------------
# fill opacity of the département's CPTS, by stage rank: grows with the stage
STAGE_OPACITY = (0.45, 0.45, 0.65)
# CPTS across the border: neutral grey, whatever their stage (never mistaken for a stage)
NEIGHBOUR_FILL = "#969696"
NEIGHBOUR_OUTLINE = "#525252"
# CPTS names are permanent labels from this zoom level on (a département fits in 8 to 9)
LABEL_MIN_ZOOM = 8
PORTEUR_COLOUR = "#e7298a"
PROJECT_COLOUR = "#555555"
ZONE_COLOUR = "#d7191c"
OVERLAP_COLOURS = {"chevauchement": "#ff7f00", "partage": "#6a3d9a"}
OVERLAP_LABELS = {"chevauchement": "Chevauchement à arbitrer", "partage": "Commune partagée"}
PROPOSAL_COLOURS = {
    "extension": "#1b9e77",
    "creation": "#111111",
    "rattachement_temporaire": "#a6761d",
}
PROPOSAL_LABELS = {
    "extension": "Extension d'une CPTS",
    "creation": "Création d'une CPTS",
    "rattachement_temporaire": "Rattachement temporaire",
}
NEW_CPTS_LABEL = "nouvelle CPTS"
# national choropleth: lower bound of each class (% of the population covered) and its colour
#: fill of the départements outside a regional registry (« hors registre »), off the scale
OUTSIDE_FILL = "#d9d9d9"
RATE_CLASSES = [
    (0, "#f7fbff"),
    (20, "#c6dbef"),
    (40, "#6baed6"),
    (60, "#2171b5"),
    (80, "#08306b"),
]

# geometry: tolerance of the coverage simplification (metres, metric CRS) and decimals kept
SIMPLIFY_TOLERANCE_M = 60.0
NATIONAL_TOLERANCE_M = 1500.0
DECIMALS = 5
# holes smaller than this (square degrees, about 900 m² in France) are source gaps, not enclaves
PINHOLE_AREA = 1e-7
ENCLAVE_AREA = 2e-3

TILES = "OpenStreetMap"
# a failed tile (offline) shows this transparent pixel instead of a broken image
BLANK_TILE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

INDEX_NAME = "index.html"

HATCH_SVG = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
    '<pattern id="cv-hachures" patternUnits="userSpaceOnUse" width="9" height="9" '
    'patternTransform="rotate(45)"><rect width="9" height="9" fill="#d7191c" '
    'fill-opacity="0.12"/><rect width="3.5" height="9" fill="#d7191c" fill-opacity="0.75"/>'
    "</pattern></defs></svg>"
)


def departement_filename(departement: str) -> str:
    """Return the file name of a département map, e.g. ``departement-35.html``."""
    return f"departement-{departement}.html"


# ------------------------------------------------------------------------------------------------
# layers computed once for every map
# ------------------------------------------------------------------------------------------------
@dataclass
class MapLayers:
    """Everything the maps draw, computed once and sliced per département.

    Attributes
    ----------
    meta
        The analysis' vintages and registry label (``Analysis.meta``).
    units
        Units (index ``code``) with ``departement``, ``nom``, ``population``, ``stade``,
        ``cpts``, ``cpts_ids``, ``projets``, ``zone_id``, ``chevauchement`` (``""``,
        ``chevauchement`` or ``partage``), ``geojson`` and simplified WGS84 geometry.
    cpts
        CPTS (index ``cpts_id``) with ``nom, stade, n_communes, population, taille,
        financement_max, departement`` and the coverage union of their units; pre-LI
        projects have ``stade`` ``None``.
    membership
        ``cpts_id, code`` pairs of the registry.
    zones
        Zones blanches (index ``zone_id``) with their geometry.
    proposals
        Every proposal with its geometry (empty when none were given): recommended ones
        (``proposition`` ``P0``, ``P1``…) then the alternatives (``A0``…).
    porteurs
        Potential porteurs with coordinates and their ``departement`` (may be empty).
    rates
        Coverage rates by département (index ``code``).
    neighbours
        For each département, the codes of the units outside it that border it.
    departements
        The départements to map.
    """

    meta: dict[str, Any]
    units: gpd.GeoDataFrame
    cpts: gpd.GeoDataFrame
    membership: pd.DataFrame
    zones: gpd.GeoDataFrame
    proposals: gpd.GeoDataFrame
    porteurs: pd.DataFrame
    rates: pd.DataFrame
    neighbours: dict[str, set[str]]
    departements: tuple[str, ...]


def simplify_coverage(
    geoms: gpd.GeoSeries,
    departement: pd.Series,
    *,
    tolerance: float = SIMPLIFY_TOLERANCE_M,
    decimals: int = DECIMALS,
) -> gpd.GeoSeries:
    """Simplify unit polygons together, as a coverage, and round their coordinates.

    Each territory is simplified in its own metric CRS (Lambert-93, local UTM for the DROM)
    with ``shapely.coverage_simplify``: a border shared by two units is simplified once, so
    that neighbours still meet without gaps or overlaps. Coordinates are then rounded in
    WGS84, which keeps shared vertices shared.

    Parameters
    ----------
    geoms
        Unit geometries (WGS84) indexed by code.
    departement
        The département of each unit (same index).
    tolerance
        Simplification tolerance in metres.
    decimals
        Decimals kept in WGS84 (5 ≈ 1 m).
    """
    import geopandas as gpd
    import shapely

    crs = departement.reindex(geoms.index).map(metric_crs).fillna("EPSG:2154")
    out = np.empty(len(geoms), dtype=object)
    for name, positions in crs.groupby(crs.to_numpy()).indices.items():
        part = geoms.iloc[positions].to_crs(name)
        simple = shapely.coverage_simplify(part.to_numpy(), tolerance)
        back = gpd.GeoSeries(simple, crs=name).to_crs(CRS_WEB).to_numpy()
        out[positions] = back
    rounded = shapely.transform(out, lambda xy: np.round(xy, decimals))
    rounded = shapely.remove_repeated_points(rounded)
    # rounding can fold a spike onto itself: repair the few such polygons, keeping areas only
    bad = ~shapely.is_valid(rounded)
    if bad.any():
        rounded[bad] = shapely.make_valid(rounded[bad], method="structure", keep_collapsed=False)
    return gpd.GeoSeries(rounded, index=geoms.index, crs=CRS_WEB)


def _group_unions(keys: np.ndarray, codes: np.ndarray, geoms: gpd.GeoSeries) -> dict[str, Any]:
    """Coverage union of the unit geometries of each key (units without geometry skipped)."""
    position = geoms.index.get_indexer(codes)
    have = position >= 0
    keys, position = keys[have], position[have]
    order = np.argsort(keys, kind="stable")
    keys, position = keys[order], position[order]
    parts = geoms.to_numpy()[position]
    out: dict[str, Any] = {}
    if len(keys) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    for s, e in zip(starts, ends, strict=True):
        out[str(keys[s])] = _union(parts[s:e])
    return out


def _union(parts: np.ndarray) -> Any:
    """Coverage union of unit polygons, without the pinholes left by gaps in the sources."""
    from couverture._geometry import union_units

    return drop_pinholes(union_units(parts))


def drop_pinholes(geom: Any, *, min_area: float = PINHOLE_AREA) -> Any:
    """Remove the holes smaller than ``min_area`` (square degrees) from a polygonal geometry.

    Gaps of a few metres between source polygons survive a union as tiny holes; they are
    invisible but weigh in the file and make a later coverage simplification fail.
    """
    import shapely

    if geom is None or geom.is_empty:
        return geom
    polygons = []
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon":
            continue
        holes = [r for r in poly.interiors if shapely.Polygon(r).area >= min_area]
        polygons.append(shapely.Polygon(poly.exterior, holes))
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def _split_codes(frame: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``(key, code)`` arrays of a ``communes`` column (:func:`zones.members`)."""
    from couverture.zones import members

    long = members(frame, key=key)
    return long[key].astype(str).to_numpy(dtype=object), long["code"].to_numpy(dtype=object)


# ------------------------------------------------------------------------------------------------
# simplified geometry, computed once per store
# ------------------------------------------------------------------------------------------------
MAP_GEOMETRY_TABLE = "carte_geometries_v1"


def map_geometry_table(con: Any) -> pd.DataFrame:
    """Compute the simplified geometry of every unit and of every département's outline.

    Registry-independent, so computed once per store (:func:`store_map_geometries`): units
    simplified together as a coverage (:data:`SIMPLIFY_TOLERANCE_M`), départements as the
    union of their simplified units simplified again (:data:`NATIONAL_TOLERANCE_M`).

    Returns
    -------
    pandas.DataFrame
        ``niveau`` (``unite`` or ``departement``), ``code``, ``departement``, ``wkb``
        (WGS84, 5 decimals) and ``geojson`` (the compact GeoJSON text the maps paste).
    """
    import pandas as pd
    import shapely

    from couverture.store import query, unit_geometries

    unit_dep = query(con, "SELECT code, departement FROM units")
    unit_dep = unit_dep.set_index("code")["departement"]
    geoms = unit_geometries(con).geometry
    simple = simplify_coverage(geoms, unit_dep)
    deps = _departement_outlines(simple, unit_dep.reindex(simple.index))
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
    """Write :func:`map_geometry_table` into the store.

    (``make data`` calls it through ``store.build_store``; without it, :func:`map_geometries`
    computes the table for the run and stores it when the store is writable).
    """
    _write_map_geometries(con, map_geometry_table(con))


def _write_map_geometries(con: Any, frame: pd.DataFrame) -> None:
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

    ``departement``, ``geometry``, ``geojson``), computing and storing it first if the store
    lacks it (a read-only store computes it for this run only).
    """
    import duckdb
    import shapely

    from couverture.store import apart, has_table

    if not has_table(con, MAP_GEOMETRY_TABLE):
        # a store built before this table: computed for this run (``make data`` stores it)
        log.info("géométrie simplifiée absente de la base : calculée pour cette exécution")
        frame = map_geometry_table(con)
        with contextlib.suppress(duckdb.Error):  # a read-only store keeps it for this run
            _write_map_geometries(con, frame)
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
    import pandas as pd

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


def _departement_outlines(simple: gpd.GeoSeries, departement: pd.Series) -> gpd.GeoSeries:
    """One polygon per département: coverage union of its simplified units, simplified again."""
    import geopandas as gpd

    unions = _group_unions(
        departement.to_numpy(dtype=str), simple.index.to_numpy(dtype=str), simple
    )
    # at this scale, holes under ~15 km² are gaps between source polygons, not enclaves (the
    # Enclave des papes, 300 km², stays)
    unions = {d: drop_pinholes(g, min_area=ENCLAVE_AREA) for d, g in unions.items()}
    geoms = gpd.GeoSeries(unions, crs=CRS_WEB)
    return simplify_coverage(geoms, geoms.index.to_series(), tolerance=NATIONAL_TOLERANCE_M)


def prepare_layers(
    analysis: Analysis,
    *,
    suggestions: pd.DataFrame | Callable[[], pd.DataFrame | None] | None = None,
    departements: Sequence[str] | None = None,
    tolerance: float = SIMPLIFY_TOLERANCE_M,
    porteurs: pd.DataFrame | None = None,
) -> MapLayers:
    """Compute, once, the geometry and attributes every map of ``departements`` needs.

    Parameters
    ----------
    analysis
        An open analysis.
    suggestions
        Output of ``couverture.suggest.suggest`` (only ``recommandee == "oui"`` rows are drawn),
        or a function returning it: it is then called first, its working memory handed back
        before the geometry is loaded.
    departements
        The départements to map (default: those of the analysis, else all of France).
    tolerance
        Coverage simplification tolerance in metres.
    porteurs
        Potential porteurs (``couverture.porteurs.read_porteurs``: ``finess``, ``nom``,
        ``categorie``, ``libelle_categorie``, ``code_commune``, ``lon``, ``lat``), drawn as
        circle markers; those without coordinates are left out.
    """
    full = analysis.national()
    units = full.units()
    deps, national = _departements_to_map(analysis, units, departements)
    if callable(suggestions):
        # computed before the geometry is loaded, their working memory handed back first:
        # the two together were the peak of a national run
        suggestions = suggestions()
        _release_memory()

    cpts = full.cpts()
    membership = full.registry.membership[["cpts_id", "code"]].drop_duplicates()
    neighbours = full.graph().across_border(None if national else deps)

    unit_dep = units.set_index("code")["departement"]
    if national:
        load_deps = None
    else:
        load_deps, shown = _units_to_load(units, unit_dep, membership, neighbours, deps)
        membership = membership[membership["cpts_id"].isin(shown)]
        cpts = cpts[cpts.index.isin(shown)]

    if tolerance == SIMPLIFY_TOLERANCE_M:
        stored = full.map_geometries(departements=load_deps)
        simple, geojson = stored.geometry, stored["geojson"]
    else:
        geoms = full.geometries(departements=load_deps, national=load_deps is None).geometry
        simple = simplify_coverage(geoms, unit_dep, tolerance=tolerance)
        geojson = None

    from concurrent.futures import ThreadPoolExecutor

    zones = full.zones()
    overlaps = full.overlaps().set_index("code")["type"]
    simple.index.get_indexer(simple.index[:1])  # build the index's lookup before threads share it
    # GEOS releases the GIL: the unions of the CPTS and zones run on a second core while this
    # thread builds the unit layer (the proposals, computed first, no longer overlap them:
    # computing them beside the geometry was the memory peak of a national run)
    with ThreadPoolExecutor(2) as pool:
        cpts_future = pool.submit(_cpts_layer, cpts, membership, simple)
        map_zones = zones if national else zones[zones["departement"].isin(deps)]
        zone_future = pool.submit(_zone_layer, map_zones, simple)
        unit_layer = _unit_layer(units, zones, overlaps, simple, geojson)
        proposal_future = pool.submit(_proposal_layer, suggestions, simple)
        rates = full.rates(niveau="departement").set_index("code")
        porteur_layer = _porteur_layer(porteurs, units)
        cpts_layer, zone_layer = cpts_future.result(), zone_future.result()
        proposal_layer = proposal_future.result()
    return MapLayers(
        meta=dict(analysis.meta),
        units=unit_layer,
        cpts=cpts_layer,
        membership=membership.reset_index(drop=True),
        zones=zone_layer,
        proposals=proposal_layer,
        porteurs=porteur_layer,
        rates=rates,
        neighbours=neighbours,
        departements=deps,
    )


def _departements_to_map(
    analysis: Analysis, units: pd.DataFrame, departements: Sequence[str] | None
) -> tuple[tuple[str, ...], bool]:
    """Return the sorted départements to map, and whether they are the whole of France.

    Raises
    ------
    ArgumentError
        If a requested département has no unit.
    """
    known = sorted(units["departement"].dropna().unique())
    wanted = tuple(departements) if departements else analysis.departements
    deps = tuple(sorted(wanted)) if wanted else tuple(known)
    check_departements(deps, known)
    return deps, set(deps) == set(known)


def _units_to_load(
    units: pd.DataFrame,
    unit_dep: pd.Series,
    membership: pd.DataFrame,
    neighbours: dict[str, set[str]],
    deps: Sequence[str],
) -> tuple[tuple[str, ...], set[str]]:
    """Return the départements whose unit geometries a partial run must load.

    And the CPTS it shows.

    A map draws more than its own units: the neighbouring units across its border, and the
    whole perimeter of every CPTS touching either, which may reach further départements.
    """
    needed = set(units.loc[units["departement"].isin(deps), "code"])
    for dep in deps:
        needed |= neighbours.get(dep, set())
    shown = set(membership.loc[membership["code"].isin(needed), "cpts_id"])
    needed |= set(membership.loc[membership["cpts_id"].isin(shown), "code"])
    load_deps = tuple(sorted(set(unit_dep.reindex(sorted(needed)).dropna())))
    return load_deps, shown


def _unit_layer(
    units: pd.DataFrame,
    zones: pd.DataFrame,
    overlaps: pd.Series,
    simple: gpd.GeoSeries,
    geojson: pd.Series | None = None,
) -> gpd.GeoDataFrame:
    """Units with a simplified geometry, their ``zone_id`` and ``chevauchement`` type.

    ``zones`` must be every zone blanche, not only those of the mapped départements: a
    neighbouring unit shown on a map keeps the zone it belongs to.
    """
    import geopandas as gpd
    import pandas as pd

    zone_keys, zone_codes = _split_codes(zones, "zone_id")
    zone_of = pd.Series(zone_keys, index=zone_codes)
    # only what the maps draw: a map holds no copy of the other coverage columns
    kept = ["code", "departement", *(c for c in UNIT_FIELDS if c in units.columns)]
    table = units[kept].set_index("code")
    table = table[table.index.isin(simple.index)]
    table["zone_id"] = zone_of.reindex(table.index).fillna("").to_numpy()
    table["chevauchement"] = overlaps.reindex(table.index).fillna("").to_numpy()
    layer = gpd.GeoDataFrame(table, geometry=simple.reindex(table.index), crs=CRS_WEB)
    if geojson is None:
        layer["geojson"] = geojson_geometries(layer.geometry)
    else:
        layer["geojson"] = geojson.reindex(table.index)  # object dtype kept: no copy
    return layer


def _cpts_layer(
    cpts: pd.DataFrame, membership: pd.DataFrame, simple: gpd.GeoSeries
) -> gpd.GeoDataFrame:
    """CPTS with the coverage union of their units; ``stade`` is ``None`` before the LI."""
    import geopandas as gpd

    unions = _group_unions(
        membership["cpts_id"].to_numpy(dtype=str), membership["code"].to_numpy(dtype=str), simple
    )
    cpts = cpts.copy()
    cpts["stade"] = cpts["stade"].where(cpts["stade"].isin(_codes()), None)
    layer = gpd.GeoDataFrame(cpts, geometry=[unions.get(i) for i in cpts.index], crs=CRS_WEB)
    layer["geojson"] = geojson_geometries(layer.geometry)
    return layer


def _zone_layer(zones: pd.DataFrame, simple: gpd.GeoSeries) -> gpd.GeoDataFrame:
    """Zones blanches (index ``zone_id``) with the coverage union of their units."""
    import geopandas as gpd

    unions = _group_unions(*_split_codes(zones, "zone_id"), simple)
    layer = gpd.GeoDataFrame(
        zones.set_index("zone_id"),
        geometry=[unions.get(z) for z in zones["zone_id"]],
        crs=CRS_WEB,
    )
    layer["geojson"] = geojson_geometries(layer.geometry)
    return layer


PORTEUR_COLUMNS = ["finess", "nom", "categorie", "libelle_categorie", "code_commune", "lon", "lat"]


def _porteur_layer(porteurs: pd.DataFrame | None, units: pd.DataFrame) -> pd.DataFrame:
    """Porteurs with coordinates, with the département of their commune.

    Raises
    ------
    ArgumentError
        When a column of :data:`PORTEUR_COLUMNS` is missing.
    """
    import pandas as pd

    if porteurs is None:
        return pd.DataFrame(columns=[*PORTEUR_COLUMNS, "departement"])
    missing = [c for c in PORTEUR_COLUMNS if c not in porteurs.columns]
    if missing:
        raise ArgumentError(f"porteurs : colonnes absentes « {', '.join(missing)} »")
    frame = porteurs[PORTEUR_COLUMNS].copy()
    frame["lon"] = pd.to_numeric(frame["lon"], errors="coerce")
    frame["lat"] = pd.to_numeric(frame["lat"], errors="coerce")
    frame = frame[np.isfinite(frame["lon"]) & np.isfinite(frame["lat"])]
    # a commune code (or an arrondissement's) gives the département; else its prefix
    dep_of = dict(zip(units["code"].astype(str), units["departement"], strict=True))
    if "commune" in units.columns:
        for commune, dep in zip(units["commune"].astype(str), units["departement"], strict=True):
            dep_of.setdefault(commune, dep)
    codes = frame["code_commune"].astype(str).str.strip()
    frame["departement"] = [dep_of.get(c, c[:3] if c.startswith("97") else c[:2]) for c in codes]
    return frame.reset_index(drop=True)


PROPOSAL_COLUMNS = [
    "zone_id",
    "departement",
    "option",
    "recommandee",
    "cpts_cible",
    "nom_propose",
    "communes",
    "population_ajoutee",
    "population_resultante",
    "taille_avant",
    "taille_apres",
    "financement_max_avant",
    "financement_max_apres",
    "priorite",
    "motif",
]


def _proposal_layer(suggestions: pd.DataFrame | None, simple: gpd.GeoSeries) -> gpd.GeoDataFrame:
    import geopandas as gpd
    import pandas as pd

    if suggestions is None or suggestions.empty:
        return gpd.GeoDataFrame(
            columns=["proposition", *PROPOSAL_COLUMNS, "geojson", "geometry"], crs=CRS_WEB
        )
    missing = [c for c in PROPOSAL_COLUMNS if c not in suggestions.columns]
    if missing:
        raise ArgumentError(f"propositions : colonnes absentes « {', '.join(missing)} »")
    recommended = suggestions["recommandee"].astype(str).str.lower() == "oui"
    extra = ["cpts_cible_id"] if "cpts_cible_id" in suggestions.columns else []
    parts = []
    for prefix, rows in (("P", suggestions[recommended]), ("A", suggestions[~recommended])):
        rows = rows[PROPOSAL_COLUMNS + extra].reset_index(drop=True)
        rows.insert(0, "proposition", [f"{prefix}{i}" for i in range(len(rows))])
        parts.append(rows)
    rec = pd.concat(parts, ignore_index=True)
    unions = _group_unions(*_split_codes(rec, "proposition"), simple)
    geometry = [unions.get(p) for p in rec["proposition"]]
    layer = gpd.GeoDataFrame(pd.DataFrame(rec), geometry=geometry, crs=CRS_WEB)
    layer["geojson"] = geojson_geometries(layer.geometry)
    return layer


# ------------------------------------------------------------------------------------------------
# formatting helpers (French)
# ------------------------------------------------------------------------------------------------
def _int(value: Any) -> int | None:
    try:
        if value is None or value != value:  # None or NaN
            return None
        return int(value)
    except (TypeError, ValueError):
        return None


def _codes() -> tuple[str, ...]:
    """Return the stage codes.

    From the least to the most advanced (``config/vocabulaire_stades.csv``).
    """
    return tuple(s.code for s in _stages())


def _positive(value: Any) -> int | None:
    """Return an integer above 0, else ``None`` (a taille or funding of 0 means "none yet")."""
    n = _int(value)
    return n if n else None


def proposal_text(r: dict[str, Any]) -> str:
    """Return the plain-French effect of a proposal, missing values left out.

    Examples
    --------
    >>> proposal_text({"population_ajoutee": 1200, "population_resultante": 41000,
    ...     "taille_avant": 1, "taille_apres": 2, "financement_max_avant": 220000,
    ...     "financement_max_apres": 287000}).replace("\u202f", " ").replace("\xa0", " ")
    '+1 200 hab. → 41 000 hab. ; taille 1 → 2 ; financement maximal 220 000 € → 287 000 € par an'
    >>> proposal_text({"taille_avant": 0, "taille_apres": 2, "financement_max_avant": 0,
    ...     "financement_max_apres": 287000}).replace("\u202f", " ").replace("\xa0", " ")
    'taille 2 ; financement maximal 287 000 € par an'
    """
    parts = []
    added, result = _int(r.get("population_ajoutee")), _int(r.get("population_resultante"))
    if added is not None and result is not None:
        parts.append(f"+{_format.integer(added)} hab. → {_format.integer(result)} hab.")
    before, after = _positive(r.get("taille_avant")), _positive(r.get("taille_apres"))
    if before and after:
        parts.append(f"taille {before} → {after}")
    elif after:
        parts.append(f"taille {after}")
    f_before = _positive(r.get("financement_max_avant"))
    f_after = _positive(r.get("financement_max_apres"))
    if f_before and f_after:
        parts.append(
            f"financement maximal {_format.euros(f_before)} → {_format.euros(f_after)} par an"
        )
    elif f_after:
        parts.append(f"financement maximal {_format.euros(f_after)} par an")
    return " ; ".join(parts)


def proposal_label(option: Any, target: Any) -> str:
    """Return the label drawn on a proposal.

    The CPTS that would take it, or « nouvelle CPTS ».
    """
    name = _text(target)
    if option == "creation" or name is None:
        return NEW_CPTS_LABEL
    return f"{name} (temporaire)" if option == "rattachement_temporaire" else name


def _esc(value: Any) -> str:
    return html.escape("" if value is None or value != value else str(value))


def _js_json(data: Any) -> str:
    """JSON safe to embed in a ``<script>`` (no ``</script>``, no HTML comment)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _stage_label(stage: Any) -> str:
    return _stage(stage).label if stage in _codes() else "Non couverte"


def geojson_geometries(geoms: Any) -> list[str | None]:
    """Compact GeoJSON text of each geometry (``None`` for a missing or empty one).

    Computed once per geometry in :func:`prepare_layers`, then pasted into every map that
    draws it (no per-map serialisation).
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out: list[str | None] = [None] * len(geoms)
    for i, text in zip(np.flatnonzero(keep), shapely.to_geojson(geoms[keep]), strict=True):
        out[i] = str(text)
    return out


# ------------------------------------------------------------------------------------------------
# page template: Leaflet calls written from the layers' JSON
# ------------------------------------------------------------------------------------------------
TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
TILE_OPTIONS = {
    "minZoom": 0,
    "maxZoom": 19,
    "maxNativeZoom": 19,
    "attribution": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'
    " contributors",
    "errorTileUrl": BLANK_TILE,
}
PAGE_STYLE = (
    "html,body{width:100%;height:100%;margin:0;padding:0}"
    "#cv-map{position:absolute;top:0;bottom:0;right:0;left:0}"
)


def _stage_css() -> str:
    """Return the stage colours of the cards' headings (from the vocabulary, not the stylesheet)."""
    return "".join(f".cv-card h4.cv-stade-{s.code}{{border-color:{s.outline}}}" for s in _stages())


class _Page:
    """One map page.

    The Leaflet calls are appended in drawing order, then :meth:`html` fills the template
    (assets inlined once per process, data pasted as JSON text).
    """

    def __init__(self, bounds: Sequence[Sequence[float]], *, title: str) -> None:
        self.title = title
        self.js: list[str] = [
            'var map = L.map("cv-map", {center: [0, 0], zoom: 1, zoomControl: false, '
            "preferCanvas: false, zoomSnap: 0.25});",
            "L.control.scale({imperial: false}).addTo(map);",
            f"map.fitBounds({_js_json(bounds)});",
        ]
        self.base: list[tuple[str, str]] = []
        self.overlays: list[tuple[str, str]] = []
        self.n = 0

    def _var(self) -> str:
        self.n += 1
        return f"cv_l{self.n}"

    def tiles(self, *, overlay: bool) -> None:
        var = self._var()
        self.js.append(f"var {var} = L.tileLayer({_js_json(TILE_URL)}, {_js_json(TILE_OPTIONS)});")
        self.js.append(f"{var}.addTo(map);")
        (self.overlays if overlay else self.base).append(("Fond de carte (en ligne)", var))

    def empty_layer(self, name: str, *, show: bool) -> None:
        """Return an empty base layer (``Sans fond de carte``, the national map's stage choice)."""
        var = self._var()
        self.js.append(f"var {var} = L.featureGroup();")
        if show:
            self.js.append(f"{var}.addTo(map);")
        self.base.append((name, var))

    def pane(self, name: str, z_index: int, *, interactive: bool) -> None:
        code = f"map.createPane({_js_json(name)}).style.zIndex = {z_index};"
        if not interactive:
            code += f' map.getPane({_js_json(name)}).style.pointerEvents = "none";'
        self.js.append(code)

    def script(self, code: str) -> None:
        self.js.append(code)

    def geojson(
        self,
        data: tuple[str, int],
        *,
        name: str,
        pane: str,
        style: dict[str, Any],
        hook: str,
        class_name: str,
        interactive: bool = False,
        show: bool = True,
        points: bool = False,
    ) -> str:
        """Add a GeoJSON layer.

        ``style`` is ``{"by": property, "styles": {value: style}, "default": style}`` (see
        ``couverture.styler`` in the runtime); ``points`` draws point features as circle
        markers. Returns its variable.
        """
        text, count = data
        var = self._var()
        self.js.append(
            f"var {var} = L.geoJson({text}, {{pane: {_js_json(pane)}, "
            f"interactive: {_js_json(interactive)}, className: {_js_json(class_name)}, "
            f"smoothFactor: 0.5, style: couverture.styler({_js_json(style)}), "
            f"onEachFeature: couverture.{hook}"
            + (", pointToLayer: couverture.circle" if points else "")
            + "});"
        )
        if show:
            self.js.append(f"{var}.addTo(map);")
        self.overlays.append((f"{name} ({count})", var))
        return var

    def control(self) -> None:
        def obj(pairs: list[tuple[str, str]]) -> str:
            return "{" + ", ".join(f"{_js_json(k)}: {v}" for k, v in pairs) + "}"

        self.js.append(
            f"L.control.layers({obj(self.base)}, {obj(self.overlays)}, "
            '{position: "topright", collapsed: false, autoZIndex: true}).addTo(map);'
        )

    def html(self) -> str:
        from couverture._assets import head_html, script_tag, style_tag

        return "".join(
            [
                '<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n',
                '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n',
                f"<title>{_esc(self.title)}</title>\n",
                head_html(),
                "\n",
                style_tag(PAGE_STYLE + _stage_css()),
                "\n</head>\n<body>\n",
                HATCH_SVG,
                '\n<div id="cv-map"></div>\n',
                script_tag("\n".join(self.js)),
                "\n</body>\n</html>\n",
            ]
        )


def _swatch(
    fill: str, stroke: str, *, opacity: float = 0.6, dash: str = "", hatch: bool = False
) -> str:
    fill_attr = "url(#cv-hachures)" if hatch else fill
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<svg width="22" height="14"><rect x="1.5" y="1.5" width="19" height="11" '
        f'fill="{fill_attr}" fill-opacity="{1 if hatch else opacity}" stroke="{stroke}" '
        f'stroke-width="2"{dash_attr}/></svg>'
    )


def _title_html(
    meta: dict[str, Any], heading: str, rows: Sequence[tuple[str, str]], extra: str
) -> str:
    banner = (
        '<div class="cv-fictif">REGISTRE FICTIF — données de démonstration</div>'
        if meta.get("fictif")
        else ""
    )
    sub = (
        f"registre {_esc(meta.get('registre'))} · {_esc(_registry_date_text(meta))}"
        f" · population {_esc(meta.get('population_millesime'))}"
        f" · COG {_esc(meta.get('cog'))}"
    )
    table = "".join(f"<tr><th>{_esc(k)}</th><td class='n'>{v}</td></tr>" for k, v in rows)
    return (
        f"{banner}<h1>{_esc(heading)}</h1><p class='cv-sub'>{sub}</p><table>{table}</table>{extra}"
    )


def _registry_date_text(meta: dict[str, Any]) -> str:
    """« registre du 30 novembre 2026 », « fichier modifié le … »: the date and its source."""
    return str(meta.get("date_registre_texte") or f"du {_registry_date(meta)}")


def _registry_date(meta: dict[str, Any]) -> str:
    """Return the registry's date in French (« 29 novembre 2026 »), as given when not a date."""
    value = meta.get("date_registre")
    if not value:
        return ""
    try:
        return _format.date(str(value))
    except (ValueError, IndexError):
        return str(value)


def _ready(page: _Page, title: str, legend: str, **extra: Any) -> None:
    opts = {"title": title, "legend": legend, **extra}
    page.script("couverture.ready(map, " + _js_json(opts) + ");")


# ------------------------------------------------------------------------------------------------
# département map
# ------------------------------------------------------------------------------------------------
def _cpts_card(r: Any, stage: str | None) -> dict[str, Any]:
    """Return the card of a CPTS, as the texts the popup shows (``None``.

    Row left out); ``voisine`` is added per map.
    """
    taille = _positive(r["taille"])
    funding = _positive(r["financement_max"]) if stage else None
    return {
        "nom": r["nom"],
        "stade": _stage(stage).label if stage else "Projet avant lettre d'intention",
        "stade_code": stage or "projet",
        "population": f"{_format.integer(r['population'])} hab.",
        "taille": None if taille is None else str(taille),
        "financement": None if funding is None else f"{_format.euros(funding)} par an",
        "n_communes": _format.integer(r["n_communes"]),
        "departement": None if r["departement"] != r["departement"] else r["departement"],
    }


def _text(value: Any) -> str | None:
    """Return a non-empty string, or ``None`` for a missing or empty value."""
    if value is None or value != value or str(value) == "":
        return None
    return str(value)


def _proposal_info(proposals: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in proposals.to_dict("records"):
        out.append(
            {
                "id": r["proposition"],
                "zone_id": r["zone_id"],
                "option": r["option"],
                "libelle": PROPOSAL_LABELS.get(r["option"], str(r["option"])),
                "recommandee": str(r["recommandee"]).lower() == "oui",
                "cpts_cible": _text(r.get("cpts_cible_id")),
                "cible": _text(r["cpts_cible"]),
                "nom": _text(r["nom_propose"]),
                "etiquette": proposal_label(r["option"], r["cpts_cible"]),
                "texte": proposal_text(r),
                "priorite": _text(r["priorite"]),
                "motif": _text(r["motif"]),
            }
        )
    return out


def _zone_card(r: Any) -> dict[str, Any]:
    """Return the card of a zone blanche (texts.

    ``None``: row left out).
    """
    area = r["superficie_km2"]
    return {
        "population": f"{_format.integer(r['population'])} hab.",
        "n_communes": _format.integer(r["n_communes"]),
        # None for a zone of units without geometry (four Cantal communes)
        "superficie_km2": None
        if area is None or area != area
        else f"{_format.number(area, decimals=1)}\u00a0km²",
        "cpts_voisines": str(r["cpts_voisines"]).replace("|", ", "),
    }


def _feature(properties: dict[str, Any], geometry: Any) -> str | None:
    """One GeoJSON Feature (text), or ``None`` without geometry."""
    if not isinstance(geometry, str):
        return None
    return (
        '{"type":"Feature","properties":' + _js_json(properties) + ',"geometry":' + geometry + "}"
    )


def _collection(features: Iterable[str | None]) -> tuple[str, int]:
    """Return a FeatureCollection (text) of the features that have a geometry, and their number."""
    kept = [f for f in features if f is not None]
    return '{"type":"FeatureCollection","features":[' + ",".join(kept) + "]}", len(kept)


@dataclass
class DepartementData:
    """What one département map draws, as plain Python (cheap to send to a worker process).

    Built for every département at once by :func:`departement_data`; rendered by
    :func:`render_departement`.
    """

    departement: str
    bounds: list[list[float]]
    # (code, nom, population, stade, cpts, cpts_ids, zone_id, chevauchement, projets, geojson)
    units: list[tuple[Any, ...]]
    covering: list[str | None]
    projects: list[str | None]
    voisines: list[str | None]
    cards: dict[str, dict[str, Any]]
    zones: list[str | None]
    zone_cards: dict[str, dict[str, Any]]
    proposals: list[str | None]
    alternatives: list[str | None]
    proposal_info: list[dict[str, Any]]
    porteurs: list[str | None]
    title: str
    legend: str
    # the neighbouring départements a regional registry does not cover (« 56, 29 hors registre »)
    neighbours_note: str = ""


UNIT_FIELDS = (
    "nom",
    "population",
    "stade",
    "cpts",
    "cpts_ids",
    "zone_id",
    "chevauchement",
    "projets",
    "geojson",
)


def _point(lon: float, lat: float) -> str:
    return '{"type":"Point","coordinates":[' + f"{round(lon, 6)},{round(lat, 6)}" + "]}"


def _group(keys: list[Any], by: list[Any]) -> dict[Any, list[Any]]:
    """Group ``keys`` by the matching value of ``by`` (a département, a unit…), in order."""
    out: dict[Any, list[Any]] = {}
    for key, value in zip(keys, by, strict=True):
        out.setdefault(value, []).append(key)
    return out


def _porteur_features(porteurs: pd.DataFrame) -> dict[str, list[str | None]]:
    """Return the GeoJSON point feature of each potential porteur, by département."""
    out: dict[str, list[str | None]] = {}
    for r in porteurs.itertuples(index=False):
        out.setdefault(r.departement, []).append(
            _feature(
                {
                    "id": _text(r.finess) or "",
                    "nom": _text(r.nom) or "",
                    "categorie": _text(r.libelle_categorie) or _text(r.categorie) or "",
                    "commune": _text(r.code_commune) or "",
                },
                _point(float(r.lon), float(r.lat)),
            )
        )
    return out


def _cpts_lookups(
    cpts: pd.DataFrame,
) -> tuple[dict[Any, int], dict[Any, str | None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
    """Return, by CPTS id: its rank, stage (``None`` for a project), GeoJSON, name and card."""
    order = {cid: i for i, cid in enumerate(cpts.index)}
    stages = {
        c: s if isinstance(s, str) else None for c, s in zip(cpts.index, cpts["stade"], strict=True)
    }
    geo = dict(zip(cpts.index, cpts["geojson"], strict=True))
    names = dict(zip(cpts.index, cpts["nom"], strict=True))
    cards = {cid: _cpts_card(r, stages[cid]) for cid, r in cpts.iterrows()}
    return order, stages, geo, names, cards


def departement_data(
    layers: MapLayers, departements: Sequence[str] | None = None, *, national_link: bool = True
) -> list[DepartementData]:
    """Slice the layers into the plain data of each département map, in one pass.

    Every feature common to several maps (a CPTS drawn in its départements and across the
    border) is written as GeoJSON text once.
    """
    import shapely

    deps = list(layers.departements if departements is None else departements)
    units = layers.units
    unit_deps = units["departement"].to_numpy(dtype=object)
    codes = units.index.to_numpy(dtype=object)
    rows = list(zip(codes, *(units[c].tolist() for c in UNIT_FIELDS), strict=True))
    positions = _group(list(range(len(unit_deps))), unit_deps.tolist())
    bounds = shapely.bounds(np.asarray(units.geometry.to_numpy(), dtype=object))
    cpts_of = _group(layers.membership["cpts_id"].tolist(), layers.membership["code"].tolist())
    order, stages, geo, names, cards = _cpts_lookups(layers.cpts)

    written: dict[str, str | None] = {}

    def cpts_feature(c: str) -> str | None:
        """Return the GeoJSON feature of a CPTS, one string shared by every map drawing it."""
        if c not in written:
            props = {"id": str(c), "stade": stages[c], "nom": names[c]}
            written[c] = _feature(props if stages[c] else {"id": str(c), "nom": names[c]}, geo[c])
        return written[c]

    zones_by = _group(layers.zones.index.tolist(), layers.zones["departement"].tolist())
    zone_geo = dict(zip(layers.zones.index, layers.zones["geojson"], strict=True))
    zone_cards = {zid: _zone_card(r) for zid, r in layers.zones.iterrows()}
    zone_pop = dict(zip(layers.zones.index, layers.zones["population"], strict=True))

    props = layers.proposals
    prop_by = _group(list(range(len(props))), props["departement"].tolist())
    prop_info = _proposal_info(props)
    prop_features = [
        _feature({"id": i["id"], "option": i["option"], "etiquette": i["etiquette"]}, g)
        for i, g in zip(prop_info, props["geojson"].tolist(), strict=True)
    ]
    porteur_by = _porteur_features(layers.porteurs)
    dep_of = dict(zip(codes.tolist(), unit_deps.tolist(), strict=True))
    regional = layers.meta.get("perimetre_source") == "registre"

    out = []
    for dep in deps:
        pos = positions.get(dep, [])
        own_codes = [codes[i] for i in pos]
        in_dep = {c for code in own_codes for c in cpts_of.get(code, ())}
        near = {c for code in layers.neighbours.get(dep, ()) for c in cpts_of.get(code, ())}
        near -= in_dep
        mine = sorted((c for c in in_dep if c in order), key=order.__getitem__)
        covering = [c for c in mine if stages[c] is not None]
        projects = [c for c in mine if stages[c] is None]
        voisines = sorted(
            (c for c in near if c in order and stages[c] is not None), key=order.__getitem__
        )
        b = bounds[pos] if pos else np.full((1, 4), np.nan)
        box = [float(np.nanmin(b[:, 0])), float(np.nanmin(b[:, 1]))]
        box += [float(np.nanmax(b[:, 2])), float(np.nanmax(b[:, 3]))]
        dep_zones = zones_by.get(dep, [])
        dep_props = prop_by.get(dep, [])
        recommended = [i for i in dep_props if prop_info[i]["recommandee"]]
        alternatives = [i for i in dep_props if not prop_info[i]["recommandee"]]
        unit_rows = [rows[i] for i in pos]
        dep_porteurs = porteur_by.get(dep, [])
        title, legend = _departement_title_and_legend(
            layers,
            dep,
            n_chev=sum(1 for r in unit_rows if r[7] == "chevauchement"),
            n_part=sum(1 for r in unit_rows if r[7] == "partage"),
            n_zones=len(dep_zones),
            zone_population=sum(_int(zone_pop[z]) or 0 for z in dep_zones),
            n_covering=len(covering),
            has_projects=bool(projects),
            options=sorted({prop_info[i]["option"] for i in recommended}),
            n_proposals=len(recommended),
            n_alternatives=len(alternatives),
            n_porteurs=len(dep_porteurs),
            national_link=national_link,
        )
        out.append(
            DepartementData(
                departement=dep,
                bounds=[[box[1], box[0]], [box[3], box[2]]],
                units=unit_rows,
                covering=[cpts_feature(c) for c in covering],
                projects=[cpts_feature(c) for c in projects],
                voisines=[cpts_feature(c) for c in voisines],
                cards={
                    str(c): {**cards[c], "voisine": c in near}
                    for c in [*covering, *projects, *voisines]
                },
                zones=[_feature({"id": str(z)}, zone_geo[z]) for z in dep_zones],
                zone_cards={str(z): zone_cards[z] for z in dep_zones},
                proposals=[prop_features[i] for i in recommended],
                alternatives=[prop_features[i] for i in alternatives],
                proposal_info=[prop_info[i] for i in dep_props],
                porteurs=dep_porteurs,
                title=title,
                legend=legend,
                neighbours_note=_neighbours_note(layers, dep, dep_of) if regional else "",
            )
        )
    return out


def _neighbours_note(layers: MapLayers, dep: str, dep_of: dict[str, str]) -> str:
    """« ; 56, 29 hors registre »: the bordering départements a regional registry leaves out."""
    around = {dep_of.get(c) for c in layers.neighbours.get(dep, ())} - {None, dep}
    outside = sorted(str(d) for d in around if d not in layers.departements)
    return f" ; {', '.join(outside)} hors registre" if outside else ""


def _stage_styles(opacity: bool) -> dict[str, dict[str, Any]]:
    """Leaflet style of each stage (fill and outline from the vocabulary)."""
    return {
        s.code: {"fillColor": s.colour, "color": s.outline}
        | ({"fillOpacity": STAGE_OPACITY[min(s.rank, len(STAGE_OPACITY)) - 1]} if opacity else {})
        for s in _stages()
    }


def render_departement(data: DepartementData) -> str:
    """Return the HTML page of one département map."""
    page = _Page(data.bounds, title=f"Couverture CPTS — département {data.departement}")
    page.tiles(overlay=False)
    page.empty_layer("Sans fond de carte", show=False)
    # one pane per layer keeps the stacking order fixed when layers are toggled on and off
    for name, z, interactive in [
        ("cv-voisines", 405, True),
        ("cv-cpts", 410, False),
        ("cv-projets", 415, False),
        ("cv-zones", 420, False),
        ("cv-chevauchements", 430, False),
        ("cv-propositions", 440, False),
        ("cv-communes", 450, True),
        ("cv-porteurs", 460, True),
    ]:
        page.pane(name, z, interactive=interactive)
    payload = {
        "kind": "departement",
        "cpts": data.cards,
        "zones": data.zone_cards,
        "propositions": data.proposal_info,
    }
    page.script("couverture.init(" + _js_json(payload) + ");")
    page.geojson(
        _collection(data.voisines),
        name=f"CPTS voisines (hors département{data.neighbours_note})",
        pane="cv-voisines",
        style={
            "default": {
                "fillColor": NEIGHBOUR_FILL,
                "color": NEIGHBOUR_OUTLINE,
                "fillOpacity": 0.15,
                "opacity": 0.7,
                "weight": 1.2,
                "dashArray": "3 3",
            },
        },
        hook="onNeighbour",
        class_name="cv-voisine",
        interactive=True,
    )
    page.geojson(
        _collection(data.covering),
        name="Périmètres des CPTS",
        pane="cv-cpts",
        style={"by": "stade", "styles": _stage_styles(True), "default": {"weight": 2}},
        hook="onCpts",
        class_name="cv-cpts",
    )
    if data.projects:
        page.geojson(
            _collection(data.projects),
            name="Projets avant lettre d'intention",
            pane="cv-projets",
            style={
                "default": {
                    "fill": False,
                    "color": PROJECT_COLOUR,
                    "weight": 2,
                    "dashArray": "2 4",
                }
            },
            hook="onProject",
            class_name="cv-projet",
        )
    page.geojson(
        _collection(data.zones),
        name="Zones blanches",
        pane="cv-zones",
        style={"default": {"color": ZONE_COLOUR, "weight": 2.5, "fillColor": ZONE_COLOUR}},
        hook="onZone",
        class_name="cv-zone",
    )
    overlaps = [r for r in data.units if r[7]]
    if overlaps:
        page.geojson(
            _collection(_feature({"id": str(r[0]), "type": r[7]}, r[9]) for r in overlaps),
            name="Chevauchements et communes partagées",
            pane="cv-chevauchements",
            style={
                "by": "type",
                "styles": {k: {"color": c, "fillColor": c} for k, c in OVERLAP_COLOURS.items()}
                | {
                    "partage": {
                        "color": OVERLAP_COLOURS["partage"],
                        "fillColor": OVERLAP_COLOURS["partage"],
                        "dashArray": "6 3",
                    }
                },
                "default": {"weight": 3, "fillOpacity": 0.25},
            },
            hook="onOverlap",
            class_name="cv-chevauchement",
        )
    proposal_default: dict[str, Any] = {
        "color": "#333333",
        "weight": 3.5,
        "fill": False,
        "dashArray": "10 6",
    }
    proposal_style: dict[str, Any] = {
        "by": "option",
        "styles": {k: {"color": c} for k, c in PROPOSAL_COLOURS.items()},
        "default": proposal_default,
    }
    if data.proposals:
        page.geojson(
            _collection(data.proposals),
            name="Propositions recommandées",
            pane="cv-propositions",
            style=proposal_style,
            hook="onProposal",
            class_name="cv-proposition",
        )
    if data.alternatives:
        page.geojson(
            _collection(data.alternatives),
            name="Propositions alternatives",
            pane="cv-propositions",
            style=proposal_style | {"default": proposal_default | {"dashArray": "2 5"}},
            hook="onAlternative",
            class_name="cv-alternative",
            show=False,
        )
    page.geojson(
        _collection(_commune_feature(r) for r in data.units),
        name="Communes",
        pane="cv-communes",
        style={
            "default": {
                "color": "#4d4d4d",
                "weight": 0.6,
                "opacity": 0.8,
                "fillColor": "#ffffff",
                "fillOpacity": 0,
            }
        },
        hook="onCommune",
        class_name="cv-commune",
        interactive=True,
    )
    if data.porteurs:
        page.geojson(
            _collection(data.porteurs),
            name="Porteurs potentiels (MSP, centres de santé)",
            pane="cv-porteurs",
            style={
                "default": {
                    "radius": 5,
                    "color": "#ffffff",
                    "weight": 1.5,
                    "fillColor": PORTEUR_COLOUR,
                    "fillOpacity": 0.95,
                }
            },
            hook="onPorteur",
            class_name="cv-porteur",
            interactive=True,
            points=True,
        )
    page.control()
    _ready(page, data.title, data.legend, labelMinZoom=LABEL_MIN_ZOOM)
    return page.html()


def _commune_feature(r: tuple[Any, ...]) -> str | None:
    code, nom, population, stade, cpts, ids, zone, chevauchement, projets, geometry = r
    return _feature(
        {
            "id": str(code),
            "code": str(code),
            "nom": nom,
            "population": _format.integer(population),
            "stade": _stage_label(stade),
            "cpts": cpts.replace("|", ", "),
            "ids": ids,
            "zone": zone,
            "chevauchement": chevauchement,
            "projets": projets.replace("|", ", "),
        },
        geometry,
    )


def departement_map(
    analysis: Analysis,
    departement: str,
    *,
    suggestions: pd.DataFrame | None = None,
    layers: MapLayers | None = None,
    national_link: bool = True,
    porteurs: pd.DataFrame | None = None,
) -> str:
    """Return the HTML page of one département's map.

    Parameters
    ----------
    analysis
        An open analysis.
    departement
        COG code of the département (``"35"``, ``"2A"``, ``"974"``).
    suggestions
        Proposals (``couverture.suggest.suggest``): recommended ones are drawn, the
        alternatives in a layer off by default.
    layers
        Layers prepared by :func:`prepare_layers` (computed for this département otherwise).
    national_link
        Link the title to the national map (``index.html`` in the same folder).
    porteurs
        Potential porteurs (see :func:`prepare_layers`), when ``layers`` is not given.
    """
    if layers is None:
        layers = prepare_layers(
            analysis, suggestions=suggestions, departements=[departement], porteurs=porteurs
        )
    if departement not in layers.departements:
        raise ArgumentError(f"--departement : département « {departement} » non préparé")
    (data,) = departement_data(layers, [departement], national_link=national_link)
    return render_departement(data)


def _departement_title_and_legend(
    layers: MapLayers,
    departement: str,
    *,
    n_chev: int,
    n_part: int,
    n_zones: int,
    zone_population: int,
    n_covering: int,
    has_projects: bool,
    options: Sequence[str],
    n_proposals: int,
    n_alternatives: int,
    n_porteurs: int,
    national_link: bool,
) -> tuple[str, str]:
    """Return the HTML of the title box (key figures of the département) and of the legend."""
    rate = layers.rates.loc[departement]
    heading = f"Couverture CPTS — {rate['nom']} ({departement})"
    rows = [
        ("Population", _format.integer(rate["population"]) + " hab."),
        *[(f"Couverte ≥ {s.short}", _format.percent(rate[f"taux_{s.code}"])) for s in _stages()],
        ("Zones blanches", f"{n_zones} ({_format.integer(zone_population)} hab.)"),
        ("CPTS (hors projets)", _format.integer(n_covering)),
        ("Chevauchements / partagées", f"{n_chev} / {n_part}"),
        ("Propositions recommandées", _format.integer(n_proposals)),
    ]
    link = (
        f"<p class='cv-sub'><a href='{INDEX_NAME}'>← carte nationale</a></p>"
        if national_link
        else ""
    )
    legend = _departement_legend(
        has_projects=has_projects,
        options=options,
        alternatives=n_alternatives > 0,
        porteurs=n_porteurs > 0,
    )
    return _title_html(layers.meta, heading, rows, link), legend


def _departement_legend(
    *, has_projects: bool, options: Sequence[str], alternatives: bool, porteurs: bool
) -> str:
    rows = ["<h4>Périmètres des CPTS</h4>"]
    rows += [
        f"<div>{_swatch(s.colour, s.outline, opacity=STAGE_OPACITY[min(s.rank, 3) - 1])}"
        f"{_esc(s.label)}</div>"
        for s in _stages()
    ]
    rows.append(
        f"<div>{_swatch(NEIGHBOUR_FILL, NEIGHBOUR_OUTLINE, opacity=0.15, dash='3 3')}"
        "CPTS voisine (hors département)</div>"
    )
    if has_projects:
        rows.append(
            f"<div>{_swatch('none', PROJECT_COLOUR, opacity=0, dash='2 4')}"
            "Projet avant lettre d'intention</div>"
        )
    rows.append(f"<div>{_swatch(ZONE_COLOUR, ZONE_COLOUR, hatch=True)}Zone blanche</div>")
    rows += [
        f"<div>{_swatch(c, c, opacity=0.25, dash='6 3' if k == 'partage' else '')}"
        f"{OVERLAP_LABELS[k]}</div>"
        for k, c in OVERLAP_COLOURS.items()
    ]
    if options:
        rows.append("<h4>Propositions recommandées</h4>")
        rows += [
            f"<div>{_swatch('none', PROPOSAL_COLOURS.get(o, '#333333'), opacity=0, dash='6 3')}"
            f"{_esc(PROPOSAL_LABELS.get(o, o))}</div>"
            for o in options
        ]
        rows.append(
            "<p class='cv-sub'>Étiquette : la CPTS qui prendrait la zone, ou « "
            f"{NEW_CPTS_LABEL} ».</p>"
        )
    if alternatives:
        rows.append(
            f"<div>{_swatch('none', '#333333', opacity=0, dash='2 5')}"
            "Proposition alternative (calque à cocher)</div>"
        )
    if porteurs:
        rows.append(
            f"<div><svg width='22' height='14'><circle cx='11' cy='7' r='5' "
            f"fill='{PORTEUR_COLOUR}' stroke='#ffffff' stroke-width='1.5'/></svg>"
            "Porteur potentiel (MSP, centre de santé)</div>"
        )
    rows.append("<p class='cv-sub'>Cliquez sur une commune : fiches CPTS et zone blanche.</p>")
    return "".join(rows)


# ------------------------------------------------------------------------------------------------
# national map
def departement_geometries(layers: MapLayers, analysis: Analysis) -> gpd.GeoDataFrame:
    """Return the stored outline of each département drawn in ``layers``.

    Index ``code``, columns ``geometry`` and ``geojson`` (see :func:`map_geometry_table`).
    """
    # every département is drawn: those outside the map's départements as « hors registre »
    # (or « hors périmètre »), never as uncovered
    return analysis.map_geometries(niveau="departement")


def national_map(
    analysis: Analysis,
    *,
    layers: MapLayers | None = None,
    linked: Collection[str] | None = None,
) -> str:
    """Return the HTML page of the national overview.

    Départements coloured by population covered.

    Parameters
    ----------
    analysis
        An open analysis.
    layers
        Layers prepared by :func:`prepare_layers` (computed for all of France otherwise).
    linked
        Départements whose map exists next to ``index.html`` (clicking them opens it);
        default: all.
    """
    if layers is None:
        layers = prepare_layers(analysis)
    deps_geom = departement_geometries(layers, analysis)
    rates = layers.rates.reindex(deps_geom.index)
    linked = set(layers.departements if linked is None else linked)
    outside = _outside(layers, deps_geom.index)
    props = _departement_properties(
        rates, layers.zones, linked, outside=outside, label=_outside_label(layers.meta)
    )
    # metropolitan France first: DROM are reached through the list in the title box; a map
    # of a few départements opens on them, the rest of France around them
    shown = deps_geom[~deps_geom.index.isin(outside)] if outside else deps_geom
    metro = shown[[len(d) == 2 for d in shown.index]]
    b = (metro if len(metro) else shown).total_bounds
    page = _Page([[b[1], b[0]], [b[3], b[2]]], title="Couverture de la population par les CPTS")
    stage_layers = {}
    codes = _codes()
    for s in _stages():
        name = f"Taux de couverture : {s.short}" + (" ou plus" if s.code != codes[-1] else "")
        stage_layers[name] = s.code
        page.empty_layer(name, show=s.code == codes[0])
    page.tiles(overlay=True)
    stages = [[s.code, s.short] for s in _stages()]
    page.script("couverture.init(" + _js_json({"kind": "national", "stages": stages}) + ");")
    layer = page.geojson(
        _collection(
            _feature(p, g) for p, g in zip(props, deps_geom["geojson"].tolist(), strict=True)
        ),
        name="Départements",
        pane="overlayPane",
        style={"default": {"fillColor": RATE_CLASSES[0][1], "color": "#444444", "weight": 0.8}},
        hook="onDepartement",
        class_name="cv-departement",
        interactive=True,
    )
    page.script(
        f"couverture.choropleth({layer}, "
        + _js_json(RATE_CLASSES)
        + ("" if not outside else ", " + _js_json(OUTSIDE_FILL))
        + ");"
    )
    page.control()
    _ready(
        page,
        _title_html(
            layers.meta,
            "Couverture de la population par les CPTS",
            _national_rows(layers, outside=outside),
            _departement_chooser(rates, linked),
        ),
        _national_legend(_outside_label(layers.meta) if outside else None),
        stage=codes[0],
        stageLayers=stage_layers,
        searchPlaceholder="Rechercher un département…",
    )
    return page.html()


def _outside(layers: MapLayers, drawn: Collection[str]) -> set[str]:
    """Return the départements drawn outside the maps' extent (the registry's, or --departement)."""
    if layers.meta.get("perimetre") is None:
        return set()
    return set(drawn) - set(layers.departements)


def _outside_label(meta: dict[str, Any]) -> str:
    return "hors registre" if meta.get("perimetre_source") == "registre" else "hors périmètre"


def _departement_properties(
    rates: pd.DataFrame,
    zones: pd.DataFrame,
    linked: Collection[str],
    *,
    outside: Collection[str] = (),
    label: str = "hors registre",
) -> list[dict[str, Any]]:
    """Return the tooltip and choropleth data of each département of ``rates``, in its order.

    A département of ``outside`` has no figures: it is « hors registre » (``hors``), drawn
    apart from the colour scale.
    """
    by_dep = zones.groupby("departement").agg(n=("population", "size"), pop=("population", "sum"))
    props = []
    for dep, r in rates.iterrows():
        if dep in outside:
            props.append(
                {
                    "id": dep,
                    "code": dep,
                    "nom": f"{r['nom']} ({dep})",
                    "population": _format.integer(r["population"]),
                    "zones": label,
                    "lien": "",
                    "hors": label,
                    **{f"taux_{s}": None for s in _codes()},
                    **{f"txt_{s}": label for s in _codes()},
                }
            )
            continue
        n_zones, pop_zones = by_dep.loc[dep] if dep in by_dep.index else (0, 0)
        p: dict[str, Any] = {
            "id": dep,
            "code": dep,
            "nom": f"{r['nom']} ({dep})",
            "population": _format.integer(r["population"]),
            "zones": f"{int(n_zones)} ({_format.integer(pop_zones)} hab.)",
            "lien": departement_filename(dep) if dep in linked else "",
        }
        for s in _codes():
            p[f"taux_{s}"] = float(r[f"taux_{s}"])
            p[f"txt_{s}"] = _format.percent(r[f"taux_{s}"])
        props.append(p)
    return props


def _national_rows(layers: MapLayers, *, outside: Collection[str] = ()) -> list[tuple[str, str]]:
    """Key figures for the title box (population, shares covered, zones).

    Those of France, or of the maps' départements when others are drawn outside them (a
    regional registry): never a national headline for a regional registry.
    """
    rates, zones = layers.rates, layers.zones
    rows = []
    if outside:
        rates = rates[rates.index.isin(layers.departements)]
        zones = zones[zones["departement"].isin(layers.departements)]
        where = "Registre" if layers.meta.get("perimetre_source") == "registre" else "Périmètre"
        deps = list(layers.departements)
        shown = ", ".join(deps[:8]) + (" …" if len(deps) > 8 else "")
        rows.append((where, _format.plural(len(deps), "département") + f" ({shown})"))
    france = rates[["population", *[f"pop_{s}" for s in _codes()]]].sum()
    rows.append(("Population", _format.integer(france["population"]) + " hab."))
    for s in _stages():
        pop = france[f"pop_{s.code}"]
        share = 100 * pop / france["population"] if france["population"] else 0
        rows.append((f"Couverte ≥ {s.short}", _format.percent(share)))
    rows.append(
        ("Zones blanches", f"{len(zones)} ({_format.integer(zones['population'].sum())} hab.)")
    )
    return rows


def _departement_chooser(rates: pd.DataFrame, linked: Collection[str]) -> str:
    """Return a drop-down list opening the map of a linked département (DROM included, off view)."""
    options = "".join(
        f"<option value='{departement_filename(d)}'>{_esc(rates.loc[d, 'nom'])} ({d})</option>"
        for d in sorted(linked)
        if d in rates.index
    )
    return (
        "<p class='cv-sub'><label>Carte d'un département : <select "
        "onchange='if(this.value){window.location.href=this.value}'>"
        f"<option value=''>choisir…</option>{options}</select></label></p>"
    )


def _national_legend(outside: str | None = None) -> str:
    """Return the legend of the choropleth classes (and of the départements ``outside``)."""
    legend = "<h4>Population couverte</h4>" + "".join(
        f"<div>{_swatch(c, '#444444', opacity=0.85)}"
        + (
            f"{lo} à {RATE_CLASSES[i + 1][0]}\u00a0%"
            if i + 1 < len(RATE_CLASSES)
            else f"{lo}\u00a0% et plus"
        )
        + "</div>"
        for i, (lo, c) in enumerate(RATE_CLASSES)
    )
    if outside:
        legend += f"<div>{_swatch(OUTSIDE_FILL, '#888888', opacity=0.6)}{_esc(outside)}</div>"
    return legend + "<p class='cv-sub'>Cliquez sur un département pour ouvrir sa carte.</p>"


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------
def _write_departement(data: DepartementData, path: Path) -> Path:
    """Render and write one département map (run in a worker process)."""
    atomic_write_text(path, render_departement(data))
    return path


def _release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc only.

    Elsewhere the collection alone).
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


def _workers(n_maps: int, workers: int | None) -> int:
    if workers is None:
        # a few maps are faster in-process than the start of worker processes
        workers = 1 if n_maps < 8 else min(2, os.cpu_count() or 1)
    return max(1, min(workers, n_maps))


def build_maps(
    analysis: Analysis,
    output_dir: Path | str,
    *,
    suggestions: pd.DataFrame | Callable[[], pd.DataFrame | None] | None = None,
    departements: Sequence[str] | None = None,
    workers: int | None = None,
    porteurs: pd.DataFrame | None = None,
) -> list[Path]:
    """Write ``departement-<code>.html`` for each département and ``index.html``.

    Geometry is prepared once (:func:`prepare_layers`) then sliced per département; the
    national map is written, the layers freed, then the département maps are rendered by
    ``workers`` processes (each one map at a time, so memory stays bounded). The maps are
    written into a fresh folder next to ``output_dir`` and swapped in whole: a re-run replaces
    every map at once, and an interrupted one leaves the previous maps as they were.
    ``output_dir`` may hold maps and hidden files only (:class:`ArgumentError` otherwise).
    Once the layers are computed, ``analysis`` closes its store connection (it reopens it
    when next asked for something), so that DuckDB's memory is not held while drawing.

    Parameters
    ----------
    analysis
        An open analysis.
    output_dir
        Folder of the maps (created if needed).
    suggestions
        Proposals from ``couverture.suggest.suggest`` (recommended ones are drawn, the
        alternatives in a layer off by default), or a function returning them (see
        :func:`prepare_layers`).
    departements
        Départements to map (default: those of the analysis, else all of France).
    workers
        Worker processes for the département maps (default: 2 on a machine with 2 cores or
        more, none for fewer than 8 maps).
    porteurs
        Potential porteurs (``couverture.porteurs.read_porteurs``), drawn as a layer.

    Returns
    -------
    list of Path
        The département maps (in the order of their codes), then the national map.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ArgumentError(f"--sortie : {output_dir} existe et n'est pas un dossier")
    recover_folders(output_dir.resolve().parent)
    kept = _check_maps_folder(output_dir)
    layers = prepare_layers(
        analysis, suggestions=suggestions, departements=departements, porteurs=porteurs
    )
    # everything is read: what DuckDB holds for the queries run goes back to the system before
    # the maps are drawn (about 12 MiB less at the peak); the analysis reopens it if used again
    analysis.close()
    data = departement_data(layers)
    names = [departement_filename(d.departement) for d in data] + [INDEX_NAME]
    # the maps are written into a fresh folder swapped in whole: a run killed midway leaves
    # the previous maps as they were, never a mix of old and new
    with staged_folder(output_dir, ours=_is_map_name) as stage:
        targets = [stage.new / name for name in names[:-1]]
        n = _workers(len(data), workers)
        if n == 1:
            for d, path in zip(data, targets, strict=True):
                _write_departement(d, path)
            national = national_map(analysis, layers=layers)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # the layers are freed before the workers start: the memory of the whole run
            # peaks once, not with the workers on top
            national = national_map(analysis, layers=layers)
            del layers
            _release_memory()
            # forkserver/spawn workers start clean (no copy of this process's threads or
            # store); each holds one map at a time, results come back in département order
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context(method)) as pool:
                futures = [
                    pool.submit(_write_departement, d, path)
                    for d, path in zip(data, targets, strict=True)
                ]
                del data
                for future in futures:
                    log.debug("carte écrite : %s", future.result().name)
        atomic_write_text(stage.new / INDEX_NAME, national)
        for path in kept:  # .gitkeep and the like: linked, not copied
            try:
                os.link(path, stage.new / path.name)
            except OSError:
                shutil.copy2(path, stage.new / path.name)
        stage.swap_in()
    return [output_dir / name for name in names]


def _is_map_name(name: str) -> bool:
    return name == INDEX_NAME or re.fullmatch(r"departement-.+\.html", name) is not None


def _check_maps_folder(folder: Path) -> list[Path]:
    """Refuse a folder holding anything but maps (it is replaced whole).

    Return the hidden files to keep in it (``.gitkeep``…).
    """
    if not folder.is_dir():
        return []
    others, kept = [], []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if entry.is_file() and _is_map_name(name):
            continue
        if name.startswith(".") and entry.is_file() and not entry.is_symlink():
            if name != STAMP_NAME and not name.startswith(".tmp-"):
                kept.append(entry)
            continue
        others.append(name)
    if others:
        shown = ", ".join(others[:5]) + ("…" if len(others) > 5 else "")
        raise ArgumentError(
            f"--sortie {folder} : ce dossier contient d'autres fichiers que des cartes ({shown}) ; "
            "il est remplacé en entier par les nouvelles cartes : choisir un dossier vide ou "
            "réservé aux cartes"
        )
    return kept
