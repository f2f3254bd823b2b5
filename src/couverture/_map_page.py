"""The page of a map: its presentation constants, the Leaflet template and the features' JSON.

The stages' colours come from ``config/vocabulaire_stades.csv``; :mod:`couverture.maps`
fills the template (:class:`_Page`) with the layers of :mod:`couverture._map_layers` and the
French texts of :mod:`couverture._map_texts`.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from couverture._assets import head_html, script_tag, style_tag
from couverture._config import stages as _stages

if TYPE_CHECKING:
    pass

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


PROPOSAL_COLOURS = {
    "extension": "#1b9e77",
    "creation": "#111111",
    "rattachement_temporaire": "#a6761d",
}


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


def _codes() -> tuple[str, ...]:
    """Return the stage codes.

    From the least to the most advanced (``config/vocabulaire_stades.csv``).
    """
    return tuple(s.code for s in _stages())


def _esc(value: Any) -> str:
    return html.escape("" if value is None or value != value else str(value))


def _js_json(data: Any) -> str:
    """JSON safe to embed in a ``<script>`` (no ``</script>``, no HTML comment)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


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
        self.head: list[str] = []  # extra <head> content (the decision mode's assets)
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
        return "".join(
            [
                '<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n',
                '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n',
                f"<title>{_esc(self.title)}</title>\n",
                head_html(),
                "\n",
                *self.head,
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


def _ready(page: _Page, title: str, legend: str, **extra: Any) -> None:
    opts = {"title": title, "legend": legend, **extra}
    page.script("couverture.ready(map, " + _js_json(opts) + ");")


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


def _point(lon: float, lat: float) -> str:
    return '{"type":"Point","coordinates":[' + f"{round(lon, 6)},{round(lat, 6)}" + "]}"


def _stage_styles(opacity: bool) -> dict[str, dict[str, Any]]:
    """Leaflet style of each stage (fill and outline from the vocabulary)."""
    return {
        s.code: {"fillColor": s.colour, "color": s.outline}
        | ({"fillOpacity": STAGE_OPACITY[min(s.rank, len(STAGE_OPACITY)) - 1]} if opacity else {})
        for s in _stages()
    }
