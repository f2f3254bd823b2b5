"""Folium maps for the task forces: one self-contained HTML map per département and a national
overview (``maps/index.html``) linking to them.

Each département map shows the CPTS perimeters coloured by stage, the zones blanches (red
hatching), chevauchements and communes partagées, recommended proposals (dashed outlines),
neighbouring CPTS across the border (faded) and every commune with a tooltip; a click on a
commune opens the cards of its CPTS and of its zone blanche. The national map colours the
départements by the share of their population covered, at the stage chosen in the layer
control.

Geometry is prepared once for every map (:func:`prepare_layers`): the units' polygons are
simplified together as a coverage (``shapely.coverage_simplify`` in a metric CRS, so that
neighbouring communes keep a common border), rounded to 5 decimals (about 1 m), and each CPTS
or zone is the coverage union of its units. The HTML inlines Leaflet (from XStatic-Leaflet)
and the project's small runtime: nothing but the background tiles needs the network.

Examples
--------
>>> import couverture
>>> from couverture.maps import build_maps
>>> with couverture.analyse("data/raw/registre_demo.csv") as a:  # doctest: +SKIP
...     build_maps(a, "maps", departements=["35"])
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from couverture._errors import ArgumentError
from couverture.settings import CRS_WEB, STAGE_LABELS, STAGES

if TYPE_CHECKING:
    import folium
    import geopandas as gpd
    import pandas as pd

    from couverture.analysis import Analysis

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------------
# presentation constants (colour-blind safe: blues for stages, red for zones blanches)
# ------------------------------------------------------------------------------------------------
STAGE_COLOURS = {"lettre_intention": "#9ecae1", "projet_sante": "#4292c6", "aci": "#08519c"}
STAGE_OUTLINES = {"lettre_intention": "#4a87b0", "projet_sante": "#1f5f95", "aci": "#03254d"}
STAGE_SHORT = {
    "lettre_intention": "lettre d'intention",
    "projet_sante": "projet de santé",
    "aci": "ACI",
}
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
# national choropleth: lower bound of each class (% of the population covered) and its colour
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
        Units (index ``code``) with their coverage, ``zone_id``, ``chevauchement`` (``""``,
        ``chevauchement`` or ``partage``) and simplified WGS84 geometry.
    cpts
        CPTS (index ``cpts_id``) with ``nom, stade, n_communes, population, taille,
        financement_max, departement`` and the coverage union of their units; pre-LI
        projects have ``stade`` ``None``.
    membership
        ``cpts_id, code`` pairs of the registry.
    zones
        Zones blanches (index ``zone_id``) with their geometry.
    proposals
        Recommended proposals with their geometry (empty when none were given).
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

    from couverture._config import metric_crs

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
    """Explode a ``communes`` column (codes joined by a space) into (key, code) arrays."""
    exploded = frame[[key, "communes"]].assign(code=frame["communes"].str.split()).explode("code")
    exploded = exploded.dropna(subset=["code"])
    return exploded[key].astype(str).to_numpy(), exploded["code"].astype(str).to_numpy()


def prepare_layers(
    analysis: Analysis,
    *,
    suggestions: pd.DataFrame | None = None,
    departements: Sequence[str] | None = None,
    tolerance: float = SIMPLIFY_TOLERANCE_M,
) -> MapLayers:
    """Compute, once, the geometry and attributes every map of ``departements`` needs.

    Parameters
    ----------
    analysis
        An open analysis.
    suggestions
        Output of ``couverture.suggest.suggest`` (only ``recommandee == "oui"`` rows are drawn).
    departements
        The départements to map (default: those of the analysis, else all of France).
    tolerance
        Coverage simplification tolerance in metres.
    """
    full = analysis.national()
    units = full.units()
    deps, national = _departements_to_map(analysis, units, departements)

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

    geoms = full.geometries(departements=load_deps, national=load_deps is None).geometry
    simple = simplify_coverage(geoms, unit_dep, tolerance=tolerance)

    zones = full.zones()
    overlaps = full.overlaps().set_index("code")["type"]
    unit_layer = _unit_layer(units, zones, overlaps, simple)
    cpts_layer = _cpts_layer(cpts, membership, simple)
    if not national:
        zones = zones[zones["departement"].isin(deps)]
    zone_layer = _zone_layer(zones, simple)

    proposal_layer = _proposal_layer(suggestions, simple)
    rates = full.rates(niveau="departement").set_index("code")
    return MapLayers(
        meta=dict(analysis.meta),
        units=unit_layer,
        cpts=cpts_layer,
        membership=membership.reset_index(drop=True),
        zones=zone_layer,
        proposals=proposal_layer,
        rates=rates,
        neighbours=neighbours,
        departements=deps,
    )


def _departements_to_map(
    analysis: Analysis, units: pd.DataFrame, departements: Sequence[str] | None
) -> tuple[tuple[str, ...], bool]:
    """The sorted départements to map, and whether they are the whole of France.

    Raises
    ------
    ArgumentError
        If a requested département has no unit.
    """
    known = sorted(units["departement"].dropna().unique())
    wanted = tuple(departements) if departements else analysis.departements
    deps = tuple(sorted(wanted)) if wanted else tuple(known)
    unknown = [d for d in deps if d not in known]
    if unknown:
        raise ArgumentError(f"--departement : département inconnu « {', '.join(unknown)} »")
    return deps, set(deps) == set(known)


def _units_to_load(
    units: pd.DataFrame,
    unit_dep: pd.Series,
    membership: pd.DataFrame,
    neighbours: dict[str, set[str]],
    deps: Sequence[str],
) -> tuple[tuple[str, ...], set[str]]:
    """The départements whose unit geometries a partial run must load, and the CPTS it shows.

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
    units: pd.DataFrame, zones: pd.DataFrame, overlaps: pd.Series, simple: gpd.GeoSeries
) -> gpd.GeoDataFrame:
    """Units with a simplified geometry, their ``zone_id`` and ``chevauchement`` type.

    ``zones`` must be every zone blanche, not only those of the mapped départements: a
    neighbouring unit shown on a map keeps the zone it belongs to.
    """
    import geopandas as gpd
    import pandas as pd

    zone_keys, zone_codes = _split_codes(zones, "zone_id")
    zone_of = pd.Series(zone_keys, index=zone_codes)
    table = units.set_index("code")
    table = table[table.index.isin(simple.index)]
    table["zone_id"] = zone_of.reindex(table.index).fillna("").to_numpy()
    table["chevauchement"] = overlaps.reindex(table.index).fillna("").to_numpy()
    layer = gpd.GeoDataFrame(table, geometry=simple.reindex(table.index), crs=CRS_WEB)
    layer["geojson"] = geojson_geometries(layer.geometry)
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
    cpts["stade"] = cpts["stade"].where(cpts["stade"].isin(STAGES), None)
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
    rec = suggestions[suggestions["recommandee"].astype(str).str.lower() == "oui"]
    extra = ["cpts_cible_id"] if "cpts_cible_id" in rec.columns else []
    rec = rec[PROPOSAL_COLUMNS + extra].reset_index(drop=True)
    rec.insert(0, "proposition", [f"P{i}" for i in range(len(rec))])
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


def _fr_int(value: Any) -> str:
    n = _int(value)
    return "—" if n is None else f"{n:,}".replace(",", "\u202f")


def _fr_pct(value: Any) -> str:
    try:
        return f"{float(value):.1f}".replace(".", ",") + "\u00a0%"
    except (TypeError, ValueError):
        return "—"


def _esc(value: Any) -> str:
    return html.escape("" if value is None or value != value else str(value))


def _js_json(data: Any) -> str:
    """JSON safe to embed in a ``<script>`` (no ``</script>``, no HTML comment)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _stage_label(stage: Any) -> str:
    return STAGE_LABELS.get(stage, "Non couverte") if isinstance(stage, str) else "Non couverte"


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


def _features(frame: pd.DataFrame, properties: Sequence[dict[str, Any]]) -> tuple[str, int]:
    """A GeoJSON FeatureCollection (text) from a frame's ``geojson`` column and properties;
    returns the text and the number of features."""
    parts = [
        '{"type":"Feature","properties":' + _js_json(p) + ',"geometry":' + g + "}"
        for p, g in zip(properties, frame["geojson"], strict=True)
        if isinstance(g, str)
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}", len(parts)


# ------------------------------------------------------------------------------------------------
# folium building blocks
# ------------------------------------------------------------------------------------------------
# branca's MacroElement re-compiles the output of every element as a Jinja template, which is
# slow for hundreds of kilobytes of GeoJSON and unsafe for names read from a registry: the
# elements below put their text in the page as data, untouched.
@cache
def _element_classes() -> tuple[type, type, type]:
    import folium
    from branca.element import Element, MacroElement
    from jinja2 import Template

    class Raw(Element):
        _template = Template("{{ this.text }}")

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Script(MacroElement):
        def __init__(self, code: str) -> None:
            super().__init__()
            self.code = code

        def render(self, **kwargs: Any) -> str:
            assert self._parent is not None
            code = self.code.replace("{map}", self._parent.get_name())
            _root(self).script.add_child(Raw(code), name=self.get_name())
            return ""

    class GeoLayer(folium.map.Layer):
        """A Leaflet GeoJSON layer styled and hooked by the runtime (``couverture.js``)."""

        def __init__(self, data: str, *, name: str, options: str, show: bool, overlay: bool):
            super().__init__(name=name, overlay=overlay, control=True, show=show)
            self._name = "GeoLayer"
            self.data = data
            self.js_options = options

        def render(self, **kwargs: Any) -> str:
            assert self._parent is not None
            me, parent = self.get_name(), self._parent.get_name()
            code = f"var {me} = L.geoJson({self.data}, {self.js_options});"
            if self.show:
                code += f"\n{me}.addTo({parent});"
            _root(self).script.add_child(Raw(code), name=me)
            return ""

    return Raw, Script, GeoLayer


def _root(element: Any) -> Any:
    """The branca Figure holding ``element`` (its header, html and script sections)."""
    from branca.element import Figure

    root = element.get_root()
    assert isinstance(root, Figure)
    return root


def _Raw(text: str) -> Any:
    return _element_classes()[0](text)


def _base_map(bounds: Sequence[Sequence[float]]) -> folium.Map:
    """A folium map that inlines Leaflet and the runtime instead of loading CDN files."""
    import folium

    from couverture._assets import head_html

    m = folium.Map(
        location=None,
        tiles=None,
        zoom_control=False,
        control_scale=True,
        prefer_canvas=False,
        zoom_snap=0.25,
    )
    # folium's defaults come from CDNs (Leaflet, jQuery, Bootstrap, Font Awesome…): the maps
    # use only Leaflet, inlined from XStatic-Leaflet, and the project's own runtime.
    m.default_js = []
    m.default_css = []
    root = _root(m)
    root.header.add_child(_Raw(head_html()), name="couverture_assets")
    root.html.add_child(_Raw(HATCH_SVG), name="couverture_hatch")
    m.fit_bounds(bounds)
    return m


def _tiles(m: folium.Map, *, overlay: bool) -> None:
    import folium

    folium.TileLayer(
        TILES,
        name="Fond de carte (en ligne)",
        overlay=overlay,
        control=True,
        errorTileUrl=BLANK_TILE,
    ).add_to(m)


def _pane(m: folium.Map, name: str, z_index: int, *, interactive: bool) -> None:
    import folium

    folium.map.CustomPane(name, z_index=z_index, pointer_events=interactive).add_to(m)


def _geojson(
    m: folium.Map,
    data: tuple[str, int],
    *,
    name: str,
    pane: str,
    style: dict[str, Any],
    hook: str,
    class_name: str,
    interactive: bool = False,
    show: bool = True,
    overlay: bool = True,
) -> Any:
    """Add a GeoJSON layer; ``style`` is ``{"by": property, "styles": {value: style},
    "default": style}`` (see ``couverture.styler`` in the runtime)."""
    text, count = data
    options = (
        "{"
        f"pane: {_js_json(pane)}, interactive: {_js_json(interactive)}, "
        f"className: {_js_json(class_name)}, smoothFactor: 0.5, "
        f"style: couverture.styler({_js_json(style)}), onEachFeature: couverture.{hook}"
        "}"
    )
    layer = _element_classes()[2](
        text, name=f"{name} ({count})", options=options, show=show, overlay=overlay
    )
    layer.add_to(m)
    return layer


def _script(m: folium.Map, code: str) -> None:
    """Add raw JavaScript, run after the layers added before it (``{map}`` is the map)."""
    _element_classes()[1](code).add_to(m)


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
        f"registre {_esc(meta.get('registre'))} du {_esc(meta.get('date_registre'))}"
        f" · population {_esc(meta.get('population_millesime'))}"
        f" · COG {_esc(meta.get('cog'))}"
    )
    table = "".join(f"<tr><th>{_esc(k)}</th><td class='n'>{v}</td></tr>" for k, v in rows)
    return (
        f"{banner}<h1>{_esc(heading)}</h1><p class='cv-sub'>{sub}</p><table>{table}</table>{extra}"
    )


# ------------------------------------------------------------------------------------------------
# département map
# ------------------------------------------------------------------------------------------------
def _cpts_info(cpts: pd.DataFrame, *, neighbours: Collection[str]) -> dict[str, Any]:
    info = {}
    for cid, r in cpts.iterrows():
        stage = r["stade"] if isinstance(r["stade"], str) else None
        info[str(cid)] = {
            "nom": r["nom"],
            "stade": STAGE_LABELS.get(stage, "Projet avant lettre d'intention")
            if stage
            else "Projet avant lettre d'intention",
            "stade_code": stage or "projet",
            "population": _int(r["population"]),
            "taille": _int(r["taille"]),
            "financement": _int(r["financement_max"]) if stage else None,
            "n_communes": _int(r["n_communes"]),
            "departement": None if r["departement"] != r["departement"] else r["departement"],
            "voisine": cid in neighbours,
        }
    return info


def _text(value: Any) -> str | None:
    """A non-empty string, or ``None`` for a missing or empty value."""
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
                "population_ajoutee": _int(r["population_ajoutee"]),
                "population_resultante": _int(r["population_resultante"]),
                "taille_avant": _int(r["taille_avant"]) or None,
                "taille_apres": _int(r["taille_apres"]),
                "financement_avant": _int(r["financement_max_avant"]),
                "financement_apres": _int(r["financement_max_apres"]),
                "priorite": _text(r["priorite"]),
                "motif": _text(r["motif"]),
            }
        )
    return out


@dataclass
class _DepartementSlice:
    """What one département map draws, sliced from the :class:`MapLayers`.

    Attributes
    ----------
    units
        The département's units.
    covering
        Its CPTS at a stage (lettre d'intention or later).
    projects
        Its CPTS projects before the lettre d'intention.
    voisines
        CPTS at a stage across the border, touching none of its units.
    near
        Identifiers of the CPTS across the border (``voisines`` and projects alike).
    zones
        Its zones blanches.
    overlap_units
        Its units in a chevauchement or shared between CPTS.
    proposals
        Its recommended proposals.
    """

    units: gpd.GeoDataFrame
    covering: gpd.GeoDataFrame
    projects: gpd.GeoDataFrame
    voisines: gpd.GeoDataFrame
    near: set[str]
    zones: gpd.GeoDataFrame
    overlap_units: gpd.GeoDataFrame
    proposals: gpd.GeoDataFrame


def _slice_departement(layers: MapLayers, departement: str) -> _DepartementSlice:
    """Select the units, CPTS, zones and proposals of one département's map."""
    units = layers.units[layers.units["departement"] == departement]
    membership = layers.membership
    in_dep = set(membership.loc[membership["code"].isin(units.index), "cpts_id"])
    around = layers.neighbours.get(departement, set())
    near = set(membership.loc[membership["code"].isin(around), "cpts_id"]) - in_dep
    cpts = layers.cpts[layers.cpts.index.isin(in_dep)]
    return _DepartementSlice(
        units=units,
        covering=cpts[cpts["stade"].notna()],
        projects=cpts[cpts["stade"].isna()],
        voisines=layers.cpts[layers.cpts.index.isin(near) & layers.cpts["stade"].notna()],
        near=near,
        zones=layers.zones[layers.zones["departement"] == departement],
        overlap_units=units[units["chevauchement"] != ""],
        proposals=layers.proposals[layers.proposals["departement"] == departement],
    )


def departement_map(
    analysis: Analysis,
    departement: str,
    *,
    suggestions: pd.DataFrame | None = None,
    layers: MapLayers | None = None,
    national_link: bool = True,
) -> folium.Map:
    """Return the map of one département.

    Parameters
    ----------
    analysis
        An open analysis.
    departement
        COG code of the département (``"35"``, ``"2A"``, ``"974"``).
    suggestions
        Proposals (``couverture.suggest.suggest``); recommended ones are drawn.
    layers
        Layers prepared by :func:`prepare_layers` (computed for this département otherwise).
    national_link
        Link the title to the national map (``index.html`` in the same folder).
    """
    import folium

    if layers is None:
        layers = prepare_layers(analysis, suggestions=suggestions, departements=[departement])
    if departement not in layers.departements:
        raise ArgumentError(f"--departement : département « {departement} » non préparé")

    view = _slice_departement(layers, departement)
    m = _departement_base_map(view.units)
    _script(m, "couverture.init(" + _js_json(_departement_payload(view)) + ");")
    _add_neighbour_cpts(m, view.voisines)
    _add_cpts_perimeters(m, view.covering)
    _add_projects(m, view.projects)
    _add_zones(m, view.zones)
    _add_overlaps(m, view.overlap_units)
    _add_proposals(m, view.proposals)
    _add_communes(m, view.units)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    _ready(m, *_departement_title_and_legend(layers, departement, view, national_link))
    return m


def _departement_base_map(units: gpd.GeoDataFrame) -> folium.Map:
    """The map framed on ``units``, with its background choices and one pane per layer."""
    import folium

    b = units.total_bounds
    m = _base_map([[b[1], b[0]], [b[3], b[2]]])
    _tiles(m, overlay=False)
    folium.FeatureGroup(name="Sans fond de carte", overlay=False, show=False).add_to(m)
    # one pane per layer keeps the stacking order fixed when layers are toggled on and off
    for name, z, interactive in [
        ("cv-voisines", 405, True),
        ("cv-cpts", 410, False),
        ("cv-projets", 415, False),
        ("cv-zones", 420, False),
        ("cv-chevauchements", 430, False),
        ("cv-propositions", 440, False),
        ("cv-communes", 450, True),
    ]:
        _pane(m, name, z, interactive=interactive)
    return m


def _departement_payload(view: _DepartementSlice) -> dict[str, Any]:
    """The data the runtime shows on a click: CPTS, zone and proposal cards, by id."""
    cards = _cpts_info(_concat(view.covering, view.projects, view.voisines), neighbours=view.near)
    props = _proposal_info(view.proposals)
    return {
        "kind": "departement",
        "cpts": cards,
        "zones": _zone_info(view.zones),
        "propositions": props,
    }


def _zone_info(zones: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The card of each zone blanche, by ``zone_id``."""
    import pandas as pd

    return {
        str(zid): {
            "population": _int(r["population"]),
            "n_communes": _int(r["n_communes"]),
            # None for a zone of units without geometry (four Cantal communes)
            "superficie_km2": None if pd.isna(r["superficie_km2"]) else r["superficie_km2"],
            "cpts_voisines": str(r["cpts_voisines"]).replace("|", ", "),
        }
        for zid, r in zones.iterrows()
    }


def _add_neighbour_cpts(m: folium.Map, voisines: pd.DataFrame) -> None:
    """CPTS across the border, faded and dashed: context, not the département's own."""
    style = {
        "by": "stade",
        "styles": {s: {"fillColor": STAGE_COLOURS[s], "color": STAGE_OUTLINES[s]} for s in STAGES},
        "default": {"fillOpacity": 0.18, "opacity": 0.45, "weight": 1.2, "dashArray": "3 3"},
    }
    _geojson(
        m,
        _features(voisines, [{"id": str(i), "stade": s} for i, s in voisines["stade"].items()]),
        name="CPTS voisines (hors département)",
        pane="cv-voisines",
        style=style,
        hook="onNeighbour",
        class_name="cv-voisine",
        interactive=True,
    )


def _add_cpts_perimeters(m: folium.Map, covering: pd.DataFrame) -> None:
    """The département's CPTS, coloured by stage."""
    # fill opacity grows with the stage, so that ACI stands out from projet de santé
    style = {
        "by": "stade",
        "styles": {
            s: {"fillColor": STAGE_COLOURS[s], "color": STAGE_OUTLINES[s], "fillOpacity": o}
            for s, o in zip(STAGES, (0.4, 0.5, 0.62), strict=True)
        },
        "default": {"weight": 2},
    }
    _geojson(
        m,
        _features(covering, [{"id": str(i), "stade": s} for i, s in covering["stade"].items()]),
        name="Périmètres des CPTS",
        pane="cv-cpts",
        style=style,
        hook="onCpts",
        class_name="cv-cpts",
    )


def _add_projects(m: folium.Map, projects: pd.DataFrame) -> None:
    """Projects before the lettre d'intention, as dotted outlines (no layer when none)."""
    if not len(projects):
        return
    _geojson(
        m,
        _features(projects, [{"id": str(i)} for i in projects.index]),
        name="Projets avant lettre d'intention",
        pane="cv-projets",
        style={
            "default": {"fill": False, "color": PROJECT_COLOUR, "weight": 2, "dashArray": "2 4"}
        },
        hook="onProject",
        class_name="cv-projet",
    )


def _add_zones(m: folium.Map, zones: pd.DataFrame) -> None:
    """Zones blanches (class ``cv-zone``: the stylesheet fills them with ``HATCH_SVG``)."""
    _geojson(
        m,
        _features(zones, [{"id": str(z)} for z in zones.index]),
        name="Zones blanches",
        pane="cv-zones",
        style={"default": {"color": ZONE_COLOUR, "weight": 2.5, "fillColor": ZONE_COLOUR}},
        hook="onZone",
        class_name="cv-zone",
    )


def _add_overlaps(m: folium.Map, overlap_units: pd.DataFrame) -> None:
    """Units in a chevauchement or shared, by type (no layer when none)."""
    if not len(overlap_units):
        return
    _geojson(
        m,
        _features(
            overlap_units,
            [{"id": str(c), "type": t} for c, t in overlap_units["chevauchement"].items()],
        ),
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


def _add_proposals(m: folium.Map, proposals: pd.DataFrame) -> None:
    """Recommended proposals, as dashed outlines coloured by option (no layer when none)."""
    if not len(proposals):
        return
    _geojson(
        m,
        _features(
            proposals,
            [
                {"id": p, "option": o}
                for p, o in zip(proposals["proposition"], proposals["option"], strict=True)
            ],
        ),
        name="Propositions recommandées",
        pane="cv-propositions",
        style={
            "by": "option",
            "styles": {k: {"color": c} for k, c in PROPOSAL_COLOURS.items()},
            "default": {"color": "#333333", "weight": 3.5, "fill": False, "dashArray": "10 6"},
        },
        hook="onProposal",
        class_name="cv-proposition",
    )


def _add_communes(m: folium.Map, units: pd.DataFrame) -> None:
    """Every commune, transparent but clickable, with its tooltip data."""
    props = [
        {
            "id": str(code),
            "code": str(code),
            "nom": r.nom,
            "population": _fr_int(r.population),
            "stade": _stage_label(r.stade),
            "cpts": r.cpts.replace("|", ", "),
            "ids": r.cpts_ids,
            "zone": r.zone_id,
            "chevauchement": r.chevauchement,
            "projets": r.projets.replace("|", ", "),
        }
        for code, r in zip(units.index, units.itertuples(index=False), strict=True)
    ]
    _geojson(
        m,
        _features(units, props),
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


def _departement_title_and_legend(
    layers: MapLayers, departement: str, view: _DepartementSlice, national_link: bool
) -> tuple[str, str]:
    """The HTML of the title box (key figures of the département) and of the legend."""
    rate = layers.rates.loc[departement]
    heading = f"Couverture CPTS — {rate['nom']} ({departement})"
    chevauchement = view.units["chevauchement"]
    n_chev = int((chevauchement == "chevauchement").sum())
    n_part = int((chevauchement == "partage").sum())
    zones, proposals = view.zones, view.proposals
    rows = [
        ("Population", _fr_int(rate["population"]) + " hab."),
        *[(f"Couverte ≥ {STAGE_SHORT[s]}", _fr_pct(rate[f"taux_{s}"])) for s in STAGES],
        (
            "Zones blanches",
            f"{len(zones)} ({_fr_int(zones['population'].sum())} hab.)",
        ),
        ("CPTS (hors projets)", _fr_int(len(view.covering))),
        ("Chevauchements / partagées", f"{n_chev} / {n_part}"),
        ("Propositions recommandées", _fr_int(len(proposals))),
    ]
    link = (
        f"<p class='cv-sub'><a href='{INDEX_NAME}'>← carte nationale</a></p>"
        if national_link
        else ""
    )
    legend = _departement_legend(
        has_projects=len(view.projects) > 0, options=sorted(set(proposals["option"]))
    )
    return _title_html(layers.meta, heading, rows, link), legend


def _concat(*frames: pd.DataFrame) -> pd.DataFrame:
    """Concatenate frames that may be empty (without pandas' empty-frame warning)."""
    import pandas as pd

    kept = [f for f in frames if len(f)]
    if not kept:
        return frames[0].iloc[0:0]
    return pd.concat(kept)


def _ready(m: folium.Map, title: str, legend: str, **extra: Any) -> None:
    opts = {"title": title, "legend": legend, **extra}
    _script(m, "couverture.ready({map}, " + _js_json(opts) + ");")


def _departement_legend(*, has_projects: bool, options: Sequence[str]) -> str:
    rows = ["<h4>Périmètres des CPTS</h4>"]
    rows += [
        f"<div>{_swatch(STAGE_COLOURS[s], STAGE_OUTLINES[s], opacity=0.5)}"
        f"{_esc(STAGE_LABELS[s])}</div>"
        for s in STAGES
    ]
    rows.append(
        f"<div>{_swatch(STAGE_COLOURS['aci'], STAGE_OUTLINES['aci'], opacity=0.18, dash='3 3')}"
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
    rows.append("<p class='cv-sub'>Cliquer une commune : fiches CPTS et zone blanche.</p>")
    return "".join(rows)


# ------------------------------------------------------------------------------------------------
# national map
# ------------------------------------------------------------------------------------------------
def departement_geometries(
    layers: MapLayers, *, tolerance: float = NATIONAL_TOLERANCE_M
) -> gpd.GeoSeries:
    """Return one polygon per département (coverage union of its units, simplified again)."""
    import geopandas as gpd

    units = layers.units
    unions = _group_unions(
        units["departement"].to_numpy(dtype=str), units.index.to_numpy(dtype=str), units.geometry
    )
    # at this scale, holes under ~15 km² are gaps between source polygons, not enclaves (the
    # Enclave des papes, 300 km², stays)
    unions = {d: drop_pinholes(g, min_area=ENCLAVE_AREA) for d, g in unions.items()}
    geoms = gpd.GeoSeries(unions, crs=CRS_WEB)
    deps = geoms.index.to_series()
    return simplify_coverage(geoms, deps, tolerance=tolerance)


def national_map(
    analysis: Analysis,
    *,
    layers: MapLayers | None = None,
    linked: Collection[str] | None = None,
) -> folium.Map:
    """Return the national overview: départements coloured by population covered.

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
    import folium

    if layers is None:
        layers = prepare_layers(analysis)
    deps_geom = departement_geometries(layers)
    rates = layers.rates.reindex(deps_geom.index)
    linked = set(layers.departements if linked is None else linked)
    props = _departement_properties(rates, layers.zones, linked)
    m = _national_base_map(deps_geom)
    stage_layers = _add_stage_layers(m)
    _tiles(m, overlay=True)
    stages = [[st, STAGE_SHORT[st]] for st in STAGES]
    _script(m, "couverture.init(" + _js_json({"kind": "national", "stages": stages}) + ");")
    _add_departements(m, deps_geom, props)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    _ready(
        m,
        _title_html(
            layers.meta,
            "Couverture de la population par les CPTS",
            _national_rows(layers),
            _departement_chooser(rates, linked),
        ),
        _national_legend(),
        stage="lettre_intention",
        stageLayers=stage_layers,
        searchPlaceholder="Rechercher un département…",
    )
    return m


def _departement_properties(
    rates: pd.DataFrame, zones: pd.DataFrame, linked: Collection[str]
) -> list[dict[str, Any]]:
    """The tooltip and choropleth data of each département of ``rates``, in its order."""
    by_dep = zones.groupby("departement").agg(n=("population", "size"), pop=("population", "sum"))
    props = []
    for dep, r in rates.iterrows():
        n_zones, pop_zones = by_dep.loc[dep] if dep in by_dep.index else (0, 0)
        p: dict[str, Any] = {
            "id": dep,
            "code": dep,
            "nom": f"{r['nom']} ({dep})",
            "population": _fr_int(r["population"]),
            "zones": f"{int(n_zones)} ({_fr_int(pop_zones)} hab.)",
            "lien": departement_filename(dep) if dep in linked else "",
        }
        for s in STAGES:
            p[f"taux_{s}"] = float(r[f"taux_{s}"])
            p[f"txt_{s}"] = _fr_pct(r[f"taux_{s}"])
        props.append(p)
    return props


def _national_base_map(deps_geom: gpd.GeoSeries) -> folium.Map:
    """The base map framed on metropolitan France."""
    # metropolitan France first: DROM are reached through the list in the title box
    metro = deps_geom[[len(d) == 2 for d in deps_geom.index]]
    b = (metro if len(metro) else deps_geom).total_bounds
    return _base_map([[b[1], b[0]], [b[3], b[2]]])


def _add_stage_layers(m: folium.Map) -> dict[str, str]:
    """One empty base layer per stage, so that the layer control picks the stage mapped.

    Returns the stage of each layer name, for the runtime to recolour the départements.
    """
    import folium

    stage_layers = {}
    for s in STAGES:
        name = f"Taux de couverture : {STAGE_SHORT[s]}" + (" ou plus" if s != "aci" else "")
        stage_layers[name] = s
        folium.FeatureGroup(name=name, overlay=False, show=s == "lettre_intention").add_to(m)
    return stage_layers


def _add_departements(
    m: folium.Map, deps_geom: gpd.GeoSeries, props: Sequence[dict[str, Any]]
) -> None:
    """The clickable départements, coloured by the runtime from ``RATE_CLASSES``."""
    import pandas as pd

    frame = pd.DataFrame({"geojson": geojson_geometries(deps_geom.to_numpy())})
    layer = _geojson(
        m,
        _features(frame, props),
        name="Départements",
        pane="overlayPane",
        style={"default": {"fillColor": RATE_CLASSES[0][1], "color": "#444444", "weight": 0.8}},
        hook="onDepartement",
        class_name="cv-departement",
        interactive=True,
    )
    _script(
        m,
        f"couverture.choropleth({layer.get_name()}, " + _js_json(RATE_CLASSES) + ");",
    )


def _national_rows(layers: MapLayers) -> list[tuple[str, str]]:
    """Key figures of France for the title box (population, shares covered, zones)."""
    france = layers.rates[["population", *[f"pop_{s}" for s in STAGES]]].sum()
    rows = [("Population", _fr_int(france["population"]) + " hab.")]
    for s in STAGES:
        share = 100 * france[f"pop_{s}"] / france["population"] if france["population"] else 0
        rows.append((f"Couverte ≥ {STAGE_SHORT[s]}", _fr_pct(share)))
    rows.append(
        (
            "Zones blanches",
            f"{len(layers.zones)} ({_fr_int(layers.zones['population'].sum())} hab.)",
        )
    )
    return rows


def _departement_chooser(rates: pd.DataFrame, linked: Collection[str]) -> str:
    """A drop-down list opening the map of a linked département (DROM included, off view)."""
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


def _national_legend() -> str:
    """The legend of the choropleth classes."""
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
    return legend + "<p class='cv-sub'>Cliquer un département pour ouvrir sa carte.</p>"


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------
def _write(m: folium.Map, path: Path) -> Path:
    from couverture._output import atomic_write_text

    atomic_write_text(path, m.get_root().render())
    return path


def build_maps(
    analysis: Analysis,
    output_dir: Path | str,
    *,
    suggestions: pd.DataFrame | None = None,
    departements: Sequence[str] | None = None,
) -> list[Path]:
    """Write ``departement-<code>.html`` for each département and ``index.html``.

    Geometry is prepared once (:func:`prepare_layers`) then sliced per département. The maps
    are written into a fresh folder next to ``output_dir`` and swapped in whole: a re-run
    replaces every map at once, and an interrupted one leaves the previous maps as they were.
    ``output_dir`` may hold maps and hidden files only (:class:`ArgumentError` otherwise).

    Parameters
    ----------
    analysis
        An open analysis.
    output_dir
        Folder of the maps (created if needed).
    suggestions
        Proposals from ``couverture.suggest.suggest`` (recommended ones are drawn).
    departements
        Départements to map (default: those of the analysis, else all of France).

    Returns
    -------
    list of Path
        The département maps, then the national map.
    """
    from couverture._output import recover_folders, staged_folder

    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ArgumentError(f"--sortie : {output_dir} existe et n'est pas un dossier")
    recover_folders(output_dir.resolve().parent)
    kept = _check_maps_folder(output_dir)
    layers = prepare_layers(analysis, suggestions=suggestions, departements=departements)
    # the maps are written into a fresh folder swapped in whole: a run killed midway leaves
    # the previous maps as they were, never a mix of old and new
    names = []
    with staged_folder(output_dir) as stage:
        for dep in layers.departements:
            names.append(departement_filename(dep))
            _write(departement_map(analysis, dep, layers=layers), stage.new / names[-1])
            log.debug("carte écrite : %s", names[-1])
        names.append(INDEX_NAME)
        _write(national_map(analysis, layers=layers), stage.new / INDEX_NAME)
        for path in kept:  # .gitkeep and the like: linked, not copied
            try:
                os.link(path, stage.new / path.name)
            except OSError:
                shutil.copy2(path, stage.new / path.name)
        stage.swap_in()
    return [output_dir / name for name in names]


def _check_maps_folder(folder: Path) -> list[Path]:
    """Refuse a folder holding anything but maps (it is replaced whole); return the hidden
    files to keep in it (``.gitkeep``…)."""
    from couverture._output import STAMP_NAME

    if not folder.is_dir():
        return []
    others, kept = [], []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if entry.is_file() and (name == INDEX_NAME or re.fullmatch(r"departement-.+\.html", name)):
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
