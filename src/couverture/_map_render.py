"""Rendering one département map from plain data: the work of the maps' worker processes.

:class:`DepartementData` is what one map draws, as plain Python built by
:func:`couverture.maps.departement_data`; :func:`render_departement` turns it into the page.
This module imports no data library (no pandas, GeoPandas or NumPy): each worker process of
``cartes`` imports it alone, and stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from couverture import _format
from couverture._assets import own_asset, script_tag, style_tag
from couverture._map_page import (
    LABEL_MIN_ZOOM,
    NEIGHBOUR_FILL,
    NEIGHBOUR_OUTLINE,
    OVERLAP_COLOURS,
    PORTEUR_COLOUR,
    PROJECT_COLOUR,
    PROPOSAL_COLOURS,
    ZONE_COLOUR,
    _collection,
    _feature,
    _js_json,
    _Page,
    _ready,
    _stage_styles,
)
from couverture._map_texts import (
    _stage_label,
)
from couverture._output import atomic_write_text


def decision_assets() -> list[str]:
    """Return the decision mode's stylesheet and runtime, as tags for a map's ``<head>``."""
    return [style_tag(own_asset("decision.css")), script_tag(own_asset("decision.js"))]


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
    towns: list[list[Any]] = field(default_factory=list)  # [nom, lat, lon, population]
    # the decision mode's data as JSON text (couverture.decision.payload), None without it
    decision: str | None = None
    # the neighbouring départements a regional registry does not cover (« 56, 29 hors registre »)
    neighbours_note: str = ""


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
        ("cv-villes", 455, False),
    ]:
        page.pane(name, z, interactive=interactive)
    payload = {
        "kind": "departement",
        "cpts": data.cards,
        "zones": data.zone_cards,
        "propositions": data.proposal_info,
        "villes": data.towns,
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
    # the data fitted beside the panels, labels kept apart, the print layout (runtime)
    _ready(page, data.title, data.legend, labelMinZoom=LABEL_MIN_ZOOM, bounds=data.bounds)
    if data.decision is not None:
        # its assets in the head, its data in a call run once the map is ready
        page.head += decision_assets()
        page.script("couverture.decision.init(map, " + data.decision + ");")
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


def _write_departement(data: DepartementData, path: Path) -> Path:
    """Render and write one département map (run in a worker process)."""
    atomic_write_text(path, render_departement(data))
    return path
