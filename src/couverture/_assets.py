"""JavaScript and CSS inlined into the HTML maps, so that they work with no network.

Leaflet comes from the installed ``XStatic-Leaflet`` package (its CSS images become data URIs);
the project's own small runtime (search box, full-screen button, popups) lives in
``couverture/assets/``. Nothing is fetched: only the background tiles need a network.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from importlib import resources
from pathlib import Path

from couverture._errors import CouvertureError


class AssetError(CouvertureError):
    """A JavaScript/CSS asset the maps inline is missing from the installation."""


def _leaflet_dir() -> Path:
    try:
        import xstatic.pkg.leaflet as leaflet
    except ImportError as exc:
        raise AssetError(
            "le paquet XStatic-Leaflet n'est pas installé (make install) : cartes impossibles"
        ) from exc
    return Path(leaflet.BASE_DIR)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise AssetError(f"fichier de ressource introuvable : {path}") from exc


@cache
def leaflet_js() -> str:
    """Return Leaflet's minified JavaScript, without its source-map comment."""
    text = _read(_leaflet_dir() / "leaflet.js")
    return re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", text)


@cache
def leaflet_css() -> str:
    """Return Leaflet's CSS with its images (layer icon, marker) inlined as data URIs."""
    base = _leaflet_dir()
    text = _read(base / "leaflet.css")

    def inline(match: re.Match[str]) -> str:
        image = base / match.group(1)
        try:
            data = base64.b64encode(image.read_bytes()).decode("ascii")
        except FileNotFoundError as exc:
            raise AssetError(f"image de Leaflet introuvable : {image}") from exc
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\((images/[\w.-]+\.png)\)", inline, text)


@cache
def own_asset(name: str) -> str:
    """Return one of the project's own assets (``couverture.js``, ``couverture.css``)."""
    try:
        return resources.files("couverture").joinpath("assets", name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise AssetError(f"ressource du paquet introuvable : assets/{name}") from exc


def script_tag(code: str) -> str:
    """Return an inline ``<script>`` holding ``code`` (``</script>`` inside is neutralised)."""
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


def style_tag(css: str) -> str:
    """Return an inline ``<style>`` holding ``css``."""
    return "<style>" + css.replace("</style", "<\\/style") + "</style>"


def head_html() -> str:
    """Return everything a map needs in its ``<head>``: Leaflet and the project's runtime."""
    return "\n".join(
        [
            style_tag(leaflet_css()),
            style_tag(own_asset("couverture.css")),
            script_tag(leaflet_js()),
            script_tag(own_asset("couverture.js")),
        ]
    )
