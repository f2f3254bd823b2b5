"""The layers of the maps, computed once per registry for every map (geometry prep).

Each CPTS, zone blanche or proposal is the coverage union of its units, with its GeoJSON text
built once (:func:`prepare_layers`); :mod:`couverture.maps` then cuts them by département.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from couverture import decision
from couverture._errors import ArgumentError
from couverture._geometry import (
    DECIMALS,
    SIMPLIFY_TOLERANCE_M,
    geojson_geometries,
    simplify_coverage,
)
from couverture._geometry import group_unions as _group_unions
from couverture._map_page import _codes
from couverture._validate import check_departements
from couverture.porteurs import COLUMNS as PORTEUR_COLUMNS
from couverture.professionnels import with_texts
from couverture.settings import CRS_WEB
from couverture.suggest import COLUMNS as PROPOSAL_COLUMNS
from couverture.zones import main_towns, members

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from couverture.analysis import Analysis
    from couverture.decision import DecisionLayers
    from couverture.professionnels import Annuaire

log = logging.getLogger(__name__)


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
    #: main towns named on the maps (``code, nom, departement, population, lat, lon``), from
    #: the units' own data: no basemap needed (:func:`couverture.zones.main_towns`)
    towns: pd.DataFrame | None = None
    # the decision mode's data (couverture.decision), None to draw maps without it
    decision: DecisionLayers | None = None


def _split_codes(frame: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``(key, code)`` arrays of a ``communes`` column (:func:`zones.members`)."""
    long = members(frame, key=key)
    return long[key].astype(str).to_numpy(dtype=object), long["code"].to_numpy(dtype=object)


def prepare_layers(
    analysis: Analysis,
    *,
    suggestions: pd.DataFrame | Callable[[], pd.DataFrame | None] | None = None,
    departements: Sequence[str] | None = None,
    tolerance: float = SIMPLIFY_TOLERANCE_M,
    porteurs: pd.DataFrame | None = None,
    annuaire: Annuaire | None = None,
    adhesions: Path | str | None = None,
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
    annuaire, adhesions
        The professionals of each CPTS and zone blanche, in their cards
        (:func:`couverture.professionnels.with_texts`).
    """
    full = analysis.national()
    units = full.units()
    deps, national = _departements_to_map(analysis, units, departements)
    if callable(suggestions):
        # computed before the geometry is loaded, their working memory handed back first:
        # the two together were the peak of a national run
        suggestions = suggestions()
        _release_memory()

    cpts = all_cpts = full.cpts()
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

    zones = full.zones()
    if annuaire is not None:  # issue 23: a line on the professionals in the cards
        cpts, zones = with_texts(full, annuaire, cpts=cpts, zones=zones, adhesions=adhesions)
    named = full.zone_names()["nom_zone"]  # zones named by place on their cards
    overlaps = full.overlaps().set_index("code")["type"]
    rates, unit_table = _last_reads(analysis, full)
    simple.index.get_indexer(simple.index[:1])  # build the index's lookup before threads share it
    # GEOS releases the GIL: the unions of the CPTS and zones run on a second core while this
    # thread builds the unit layer (the proposals, computed first, no longer overlap them:
    # computing them beside the geometry was the memory peak of a national run)
    with ThreadPoolExecutor(2) as pool:
        cpts_future = pool.submit(_cpts_layer, cpts, membership, simple)
        map_zones = zones if national else zones[zones["departement"].isin(deps)]
        map_zones = map_zones.assign(nom_zone=map_zones["zone_id"].map(named))
        zone_future = pool.submit(_zone_layer, map_zones, simple)
        unit_layer = _unit_layer(units, zones, overlaps, simple, geojson)
        proposal_future = pool.submit(_proposal_layer, suggestions, simple)
        porteur_layer = _porteur_layer(porteurs, units)
        towns = _town_layer(unit_table, unit_layer, deps)
        del unit_table
        cpts_layer, zone_layer = cpts_future.result(), zone_future.result()
        proposal_layer = proposal_future.result()
    # the unions' working memory (GEOS, in the threads' own heaps) goes back to the system
    # before the decision data and the maps' slices are built on top of the layers
    _release_memory()

    decision_layers = decision.prepare(
        units=units,
        unit_layer=unit_layer,
        cpts=all_cpts,
        cpts_layer=cpts_layer,
        membership=full.registry.membership,
        graph=full.graph(),
        proposals=proposal_layer,
        rates=rates,
    )
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
        towns=towns,
        decision=decision_layers,
    )


def _last_reads(analysis: Analysis, full: Analysis) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the rates by département and the unit table, the layers' last reads from the store.

    The store is then closed (the analysis reopens it when next asked for something): what
    DuckDB holds goes back to the system before the geometry work, the peak of a national run.
    """
    rates = full.rates(niveau="departement").set_index("code")
    table = full.unit_table()
    analysis.close()
    _release_memory()
    return rates, table


#: Towns named on a département map (préfecture, sous-préfectures, pôles by population).
MAP_TOWNS = 12


def _town_layer(
    table: pd.DataFrame, unit_layer: gpd.GeoDataFrame, deps: Sequence[str]
) -> pd.DataFrame:
    """Return the main towns of each mapped département, with the point where names go."""
    table = table[table["departement"].isin(list(deps)) & table["code"].isin(unit_layer.index)]
    parts = [main_towns(g, limit=MAP_TOWNS) for _, g in table.groupby("departement", sort=True)]
    if not parts:
        return pd.DataFrame(columns=["code", "nom", "departement", "population", "lat", "lon"])
    towns = pd.concat(parts)[["code", "nom", "departement", "population"]]
    points = unit_layer.geometry.reindex(towns["code"]).representative_point()
    return towns.assign(
        lat=np.round(points.y.to_numpy(), DECIMALS), lon=np.round(points.x.to_numpy(), DECIMALS)
    ).reset_index(drop=True)


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
    unions = _group_unions(*_split_codes(zones, "zone_id"), simple)
    layer = gpd.GeoDataFrame(
        zones.set_index("zone_id"),
        geometry=[unions.get(z) for z in zones["zone_id"]],
        crs=CRS_WEB,
    )
    layer["geojson"] = geojson_geometries(layer.geometry)
    return layer


def _porteur_layer(porteurs: pd.DataFrame | None, units: pd.DataFrame) -> pd.DataFrame:
    """Porteurs with coordinates, with the département of their commune.

    Raises
    ------
    ArgumentError
        When a column of :data:`PORTEUR_COLUMNS` is missing.
    """
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


def _proposal_layer(suggestions: pd.DataFrame | None, simple: gpd.GeoSeries) -> gpd.GeoDataFrame:
    if suggestions is None or suggestions.empty:
        return gpd.GeoDataFrame(
            columns=["proposition", *PROPOSAL_COLUMNS, "geojson", "geometry"], crs=CRS_WEB
        )
    missing = [c for c in PROPOSAL_COLUMNS if c not in suggestions.columns]
    if missing:
        raise ArgumentError(f"propositions : colonnes absentes « {', '.join(missing)} »")
    recommended = suggestions["recommandee"].astype(str).str.lower() == "oui"
    parts = []
    for prefix, rows in (("P", suggestions[recommended]), ("A", suggestions[~recommended])):
        rows = rows[PROPOSAL_COLUMNS].reset_index(drop=True)
        rows.insert(0, "proposition", [f"{prefix}{i}" for i in range(len(rows))])
        parts.append(rows)
    rec = pd.concat(parts, ignore_index=True)
    unions = _group_unions(*_split_codes(rec, "proposition"), simple)
    geometry = [unions.get(p) for p in rec["proposition"]]
    layer = gpd.GeoDataFrame(pd.DataFrame(rec), geometry=geometry, crs=CRS_WEB)
    layer["geojson"] = geojson_geometries(layer.geometry)
    return layer


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


def _release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc only.

    Elsewhere the collection alone).
    """
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)
