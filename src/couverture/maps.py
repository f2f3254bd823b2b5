"""Folium maps for the task forces.

One self-contained HTML map per département and a national overview (``maps/index.html``)
linking to them.

Each département map shows the CPTS perimeters coloured by stage, the zones blanches (red
hatching), chevauchements and communes partagées, recommended proposals (dashed outlines),
neighbouring CPTS across the border (faded) and every commune with a tooltip; a click on a
commune opens the cards of its CPTS and of its zone blanche. The national map colours the
départements by the share of their population covered, at the stage chosen in the layer
control.

Geometry is simplified once per store, not per run (``couverture.store.store_map_geometries``,
called when the store is built; a store without it has the table computed for each run): the units'
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

import logging
import multiprocessing
import os
import re
import shutil
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from couverture import _format, decision
from couverture._config import stages as _stages
from couverture._errors import ArgumentError
from couverture._folders import MANIFEST_NAME, STAMP_NAME, recover_folders, staged_folder
from couverture._geometry import DECIMALS as DECIMALS  # the coordinates the maps write
from couverture._map_layers import UNIT_FIELDS, _release_memory
from couverture._map_layers import MapLayers as MapLayers
from couverture._map_layers import prepare_layers as prepare_layers
from couverture._map_page import INDEX_NAME as INDEX_NAME
from couverture._map_page import (
    NEIGHBOUR_FILL as NEIGHBOUR_FILL,
)  # (the tests read the palette here)
from couverture._map_page import (
    OUTSIDE_FILL,
    RATE_CLASSES,
    _codes,
    _collection,
    _esc,
    _feature,
    _js_json,
    _Page,
    _point,
    _ready,
)
from couverture._map_page import STAGE_OPACITY as STAGE_OPACITY
from couverture._map_render import DepartementData as DepartementData
from couverture._map_render import _write_departement
from couverture._map_render import render_departement as render_departement
from couverture._map_texts import (
    _cpts_card,
    _departement_title_and_legend,
    _int,
    _national_legend,
    _proposal_info,
    _text,
    _title_html,
    _unclaimed_row,
    _zone_card,
)
from couverture._output import atomic_write_text

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from couverture.analysis import Analysis
    from couverture.professionnels import Annuaire

log = logging.getLogger(__name__)


def departement_filename(departement: str) -> str:
    """Return the file name of a département map, e.g. ``departement-35.html``."""
    return f"departement-{departement}.html"


# ------------------------------------------------------------------------------------------------
# département map
# ------------------------------------------------------------------------------------------------


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
    deps = list(layers.departements if departements is None else departements)
    units = layers.units
    unit_deps = units["departement"].to_numpy(dtype=object)
    codes = units.index.to_numpy(dtype=object)
    rows = list(zip(codes, *(_shared(units[c].tolist(), c) for c in UNIT_FIELDS), strict=True))
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
        _feature({k: i[k] for k in ("id", "option", "etiquette", "rang")}, g)
        for i, g in zip(prop_info, props["geojson"].tolist(), strict=True)
    ]
    porteur_by = _porteur_features(layers.porteurs)
    town_by = _towns_by_departement(layers.towns)
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
                towns=town_by.get(dep, []),
                decision=_decision_payload(layers, dep),
                neighbours_note=_neighbours_note(layers, dep, dep_of) if regional else "",
            )
        )
    return out


def _shared(values: list[Any], column: str) -> list[Any]:
    """Return ``values`` with one object per distinct text (a stage, a CPTS name, a zone id).

    The 35,000 units of France repeat a few thousand texts: held once, the maps' data of every
    département is about 10 MiB smaller while it is built beside the layers. The GeoJSON texts
    are all different: left as they are.
    """
    if column == "geojson":
        return values
    seen: dict[Any, Any] = {}
    return [seen.setdefault(v, v) if isinstance(v, str) else v for v in values]


def _towns_by_departement(towns: pd.DataFrame | None) -> dict[str, list[list[Any]]]:
    """Return the main towns of each département map: ``[nom, lat, lon, population]``."""
    if towns is None:
        return {}
    return _group(
        [
            [str(n), float(la), float(lo), int(p)]
            for n, la, lo, p in zip(
                towns["nom"], towns["lat"], towns["lon"], towns["population"], strict=True
            )
        ],
        towns["departement"].tolist(),
    )


def _neighbours_note(layers: MapLayers, dep: str, dep_of: dict[str, str]) -> str:
    """« ; 56, 29 hors registre »: the bordering départements a regional registry leaves out."""
    around = {dep_of.get(c) for c in layers.neighbours.get(dep, ())} - {None, dep}
    outside = sorted(str(d) for d in around if d not in layers.departements)
    return f" ; {', '.join(outside)} hors registre" if outside else ""


def _decision_payload(layers: MapLayers, departement: str) -> str | None:
    """Return the decision mode's data of a map, as JSON text (held for 101 maps at once)."""
    if layers.decision is None:
        return None
    return _js_json(decision.payload(layers.decision, departement, meta=layers.meta))


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


# ------------------------------------------------------------------------------------------------
# national map
# ------------------------------------------------------------------------------------------------
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
        bounds=[[b[1], b[0]], [b[3], b[2]]],  # fitted beside the panels
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
    rows += _unclaimed_row(rates[["population_non_attribuee"]].sum())
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


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------
def _with_unit_boxes(layers: MapLayers) -> MapLayers:
    """Return ``layers`` whose units are drawn by their bounding boxes (their GeoJSON kept).

    What :func:`departement_data` reads of the units' geometry is their bounds, which the boxes
    have exactly: the polygons (about 40 MiB for France) are freed before the maps' data is
    built beside the layers.
    """
    import dataclasses

    import shapely

    units = layers.units
    boxes = shapely.envelope(np.asarray(units.geometry.to_numpy(), dtype=object))
    return dataclasses.replace(layers, units=units.set_geometry(boxes, crs=units.crs))


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
    annuaire: Annuaire | None = None,
    adhesions: Path | str | None = None,
) -> list[Path]:
    """Write ``departement-<code>.html`` for each département and ``index.html``.

    Geometry is prepared once (:func:`prepare_layers`) then sliced per département; the
    national map is written, the layers freed, then the département maps are rendered by
    ``workers`` processes (each one map at a time, so memory stays bounded). The maps are
    written into a fresh folder next to ``output_dir`` and swapped in whole: a re-run replaces
    every map at once, and an interrupted one leaves the previous maps as they were. Only
    what cartes wrote is replaced: a file a person saved in the folder (an annotated copy of a
    map, ``scenario-35.csv``) is kept, and a map saved over since it was written refuses the
    run (:class:`ArgumentError`, nothing replaced). A folder that holds no map but other files
    is refused (:func:`_check_maps_folder`).
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
        analysis,
        suggestions=suggestions,
        departements=departements,
        porteurs=porteurs,
        annuaire=annuaire,
        adhesions=adhesions,
    )
    # the national map reads the départements' outlines from the store: drawn first, so that
    # the store is not reopened once the départements' data is built beside the layers
    national = national_map(analysis, layers=layers)
    # everything is read: what DuckDB holds for the queries run goes back to the system before
    # the maps are drawn (about 12 MiB less at the peak); the analysis reopens it if used again
    analysis.close()
    # the département maps need only the units' bounding boxes: their polygons go first
    layers = _with_unit_boxes(layers)
    _release_memory()
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
        else:
            # the layers are freed before the workers start: the memory of the whole run
            # peaks once, not with the workers on top
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


# the names cartes writes: index.html and departement-<code>.html, a code of the COG (a map
# saved beside them as « departement-35-annotee.html » is a person's file, never ours)
_MAP_NAME = re.compile(r"departement-(?:\d{2}|2[AB]|97\d)\.html")


def _is_map_name(name: str) -> bool:
    return name == INDEX_NAME or _MAP_NAME.fullmatch(name) is not None


def _check_maps_folder(folder: Path) -> list[Path]:
    """Refuse a folder that is not a maps folder but holds files; return the hidden ones to keep.

    A maps folder (one where cartes listed what it wrote, :data:`MANIFEST_NAME`, or holding a
    map) keeps the user's files beside the maps: an annotated copy of a map, the scenario
    exported by the decision mode, a PDF of the printed map (see
    :meth:`couverture._folders.FolderSwap.swap_in`). Any other folder holding files (a
    ``--sortie`` mistyped as the home folder) is refused rather than filled with maps.
    """
    if not folder.is_dir():
        return []
    others, kept, maps = [], [], False
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name == MANIFEST_NAME or (entry.is_file() and _is_map_name(name)):
            maps = True
            continue
        if name.startswith(".") and entry.is_file() and not entry.is_symlink():
            if name != STAMP_NAME and not name.startswith(".tmp-"):
                kept.append(entry)
            continue
        others.append(name)
    if others and not maps:
        shown = ", ".join(others[:5]) + ("…" if len(others) > 5 else "")
        raise ArgumentError(
            f"--sortie {folder} : ce dossier n'est pas un dossier de cartes et contient "
            f"d'autres fichiers ({shown}) : choisir un dossier vide ou réservé aux cartes"
        )
    return kept
