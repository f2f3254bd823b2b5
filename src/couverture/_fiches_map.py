"""The map of a fiche (matplotlib, shared by the HTML page and the PDF booklet).

Private part of :mod:`couverture.fiches`: the zone, the neighbouring CPTS by stage with their
names, the recommended proposal hatched and numbered, the porteurs, names placed without
overlap (adjustText).
"""

from __future__ import annotations

import io
from typing import Any

import geopandas as gpd
import shapely
from adjustText import adjust_text
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from shapely.geometry import box as shapely_box

from couverture import _figure as plt
from couverture._config import STAGES, pre_stage, stage
from couverture._fiches_data import (
    MAX_PORTEURS,
    ZONE_EDGE,
    Fiche,
    proposal_style,
    wrap_cell,
)


# ------------------------------------------------------------------------------------------
# the map (matplotlib, shared by the HTML page and the PDF)
# ------------------------------------------------------------------------------------------
def _no_redraw(*args: Any, **kwargs: Any) -> None:
    """Stand in for ``canvas.draw_idle`` while a map is drawn (see :func:`draw_map`)."""


def draw_map(ax: Any, fiche: Fiche, *, legend_outside: bool = True) -> None:
    """Draw the zone, the neighbouring CPTS by stage with names.

    Each part of the recommended proposal hatched in its own colour and numbered as in the
    table, the porteurs (numbered as in their table), and the names placed without overlap
    (adjustText moves them apart). The legend shows exactly what is drawn, beside the map
    (``legend_outside``) so that it covers nothing.
    """
    # GeoPandas asks the canvas for a redraw after every layer, which a non-interactive canvas
    # does at once: the whole figure rendered again per layer (two thirds of a fiche's time).
    # The figure is rendered once, when saved.
    ax.figure.canvas.draw_idle = _no_redraw
    zone = gpd.GeoSeries(list(fiche.zone_units), crs=fiche.crs)
    if zone.empty:
        ax.text(0.5, 0.5, "zone sans géométrie", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    x0, y0, x1, y1 = zone.total_bounds
    pad = max(x1 - x0, y1 - y0) * 0.15 + 6_000
    box = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    # names are placed well inside the frame, so that they are not cut at its edge
    margin = 0.12 * (box[2] - box[0])
    inner = (box[0] + margin, box[1] + margin, box[2] - margin, box[3] - margin)
    context = fiche.context[fiche.context.intersects(_box(box))]
    gpd.GeoSeries(context, crs=fiche.crs).plot(
        ax=ax, facecolor="#f7f7f7", edgecolor="#c8c8c8", linewidth=0.3
    )
    ax.set_xlim(box[0], box[2])
    ax.set_ylim(box[1], box[3])
    ax.set_aspect("equal")
    drawn = _draw_cpts(ax, fiche)
    _draw_zone(ax, fiche, zone)
    keys = _draw_proposals(ax, fiche)
    names = _cpts_names(ax, fiche, inner, zone.union_all())
    texts = _draw_commune_names(ax, fiche)
    _draw_porteurs(ax, fiche)
    ax.set_xlim(box[0], box[2])
    ax.set_ylim(box[1], box[3])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    _scale_bar(ax, box)
    _place_labels(ax, texts, fixed=[*keys, *names])
    _draw_legend(ax, fiche, drawn, outside=legend_outside)


def _place_labels(ax: Any, texts: list[Any], *, fixed: list[Any]) -> None:
    """Move the names apart so that no two overlap (adjustText), drop those left overlapping.

    ``fixed`` (the proposals' numbered discs, the CPTS names on their own territory) stay where
    they are and are avoided (a fixed one overlapping an earlier is hidden); a commune's name
    moved away from its place is tied to it by a thin line.
    """
    if not texts and not fixed:
        return
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer=renderer)
    to_data = ax.transData.inverted()
    for t in fixed:  # a name near the frame's edge slides in, whole
        bb = t.get_window_extent(renderer=renderer)
        dx = max(0.0, frame.x0 + 2 - bb.x0) - max(0.0, bb.x1 - frame.x1 + 2)
        if dx:
            x, y = ax.transData.transform(t.get_position())
            t.set_position(to_data.transform((x + dx, y)))
    if texts:
        adjust_text(
            texts,
            ax=ax,
            objects=[t.get_window_extent(renderer=renderer) for t in fixed] or None,
            expand=(1.08, 1.25),
            ensure_inside_axes=True,
            arrowprops={"arrowstyle": "-", "color": "#777777", "lw": 0.4},
            min_arrow_len=12,
        )
    # what adjustText could not separate is hidden, the more important name kept (CPTS first)
    kept: list[Any] = []
    for t in [*fixed, *texts]:
        bb = t.get_window_extent(renderer=renderer)
        if any(bb.overlaps(k) for k in kept):
            t.set_visible(False)
        else:
            kept.append(bb)


def _stage_style(code: object) -> tuple[str, str, str]:
    """Fill, outline and legend label of a CPTS drawn at stage ``code``.

    A CPTS before its lettre d'intention (no code, unknown code) takes rank 0 of the stage
    vocabulary (``config/vocabulaire_stades.csv``), like the map and the report.
    """
    s = stage(code) if isinstance(code, str) and code in STAGES else pre_stage()
    return s.colour, s.outline, s.label


def _draw_cpts(ax: Any, fiche: Fiche) -> list[str]:
    """Draw the neighbouring CPTS filled by stage; return the stages drawn (legend)."""
    stages = fiche.neighbours.set_index("cpts_id")["stade"].to_dict()
    drawn = []
    for cid, geom in fiche.cpts_shapes.items():
        code = stages.get(cid)
        fill, edge, label = _stage_style(code)
        gpd.GeoSeries([geom], crs=fiche.crs).plot(
            ax=ax, facecolor=fill, edgecolor=edge, linewidth=0.8, alpha=0.85
        )
        if label not in drawn:
            drawn.append(label)
    return drawn


def _cpts_names(
    ax: Any, fiche: Fiche, inner: tuple[float, float, float, float], zone: Any
) -> list[Any]:
    """Name the neighbouring CPTS where they show inside ``inner``, on their own territory.

    (Outside the zone blanche, where the proposals' keys and the communes' names are.)
    """
    halo = plt.halo()
    names = fiche.neighbours.set_index("cpts_id")["nom"].to_dict()
    texts = []
    for cid, shape in fiche.cpts_shapes.items():
        # a union of generalised communes may touch itself (GEOS then refuses to cut it)
        geom = shape if shape.is_valid else shapely.make_valid(shape)
        visible = geom.intersection(_box(inner))
        outside = visible.difference(zone.buffer(1_500))
        visible = outside if not outside.is_empty else visible
        if not visible.is_empty:
            p = visible.representative_point()
            texts.append(
                ax.text(
                    p.x, p.y, str(names.get(cid, cid)), fontsize=6.5, ha="center",
                    va="center", path_effects=halo, weight="bold", zorder=7,
                )
            )  # fmt: skip
    return texts


def _draw_zone(ax: Any, fiche: Fiche, zone: gpd.GeoSeries) -> None:
    """Draw the communes of the zone blanche and its outline."""
    zone.plot(ax=ax, facecolor="white", edgecolor="#9a9a9a", linewidth=0.4)
    gpd.GeoSeries([zone.union_all()], crs=fiche.crs).boundary.plot(
        ax=ax, color=ZONE_EDGE, linewidth=1.6
    )


def _draw_proposals(ax: Any, fiche: Fiche) -> list[Any]:
    """Hatch each part of the recommended proposal in its colour, its key in a disc.

    Returns the discs (names are placed around them).
    """
    discs = []
    for geom, _label, key in fiche.proposal_shapes:
        colour, hatch = proposal_style(key)
        gpd.GeoSeries([geom], crs=fiche.crs).plot(
            ax=ax, facecolor="none", edgecolor=colour, hatch=hatch, linewidth=1.8, zorder=4
        )
        p = geom.representative_point()
        discs.append(
            ax.text(
                p.x, p.y, str(key), fontsize=7, ha="center", va="center", color="white",
                weight="bold", zorder=8,
                bbox={"boxstyle": "circle,pad=0.25", "facecolor": colour, "edgecolor": "white"},
            )
        )  # fmt: skip
    return discs


def _draw_commune_names(ax: Any, fiche: Fiche) -> list[Any]:
    """Name the zone's first communes (12 of a large zone, up to 15 of a small one)."""
    halo = plt.halo()
    labelled = fiche.communes.head(12 if len(fiche.communes) > 15 else 15)
    texts = []
    for code, name in zip(labelled["code"], labelled["nom"], strict=True):
        geom = fiche.context.get(code)
        if geom is not None:
            p = geom.representative_point()
            texts.append(
                ax.text(
                    p.x, p.y, name, fontsize=5, ha="center", va="center", color="#444444",
                    path_effects=halo, zorder=6,
                )
            )  # fmt: skip
    return texts


def _draw_porteurs(ax: Any, fiche: Fiche) -> None:
    """Mark the located porteurs, numbered as in the fiche's table."""
    if fiche.porteurs is None or not len(fiche.porteurs):
        return
    located = fiche.porteurs.head(MAX_PORTEURS).reset_index(drop=True)
    located = located[located["lon"].notna()]
    if len(located):
        pts = gpd.GeoSeries(
            gpd.points_from_xy(located["lon"], located["lat"]), crs="EPSG:4326"
        ).to_crs(fiche.crs)
        ax.scatter(pts.x, pts.y, marker="s", s=42, color="black", zorder=5)
        for n, p in zip(located.index, pts, strict=True):
            ax.text(p.x, p.y, chr(ord("A") + int(n)), fontsize=5.5, color="white", ha="center",
                    va="center", zorder=6, weight="bold")  # fmt: skip


def _draw_legend(ax: Any, fiche: Fiche, stages_drawn: list[str], *, outside: bool) -> None:
    """Add the legend of what is drawn: stages present, zone blanche, each proposal part."""
    styles = {}
    for code in (*STAGES, None):
        fill, edge, label = _stage_style(code)
        styles[label] = (fill, edge)
    handles: list[Any] = [
        Patch(facecolor=styles[label][0], edgecolor=styles[label][1], label=label)
        for label in styles
        if label in stages_drawn
    ]
    handles.append(
        Patch(facecolor="white", edgecolor=ZONE_EDGE, linewidth=1.6, label="Zone blanche")
    )
    for _geom, label, key in fiche.proposal_shapes:
        colour, hatch = proposal_style(key)
        handles.append(
            Patch(
                facecolor="white", edgecolor=colour, hatch=hatch, linewidth=1.4,
                label="\n".join(wrap_cell(f"{key}. {label}", 30)),
            )
        )  # fmt: skip
    if fiche.porteurs is not None and len(fiche.porteurs):
        handles.append(
            Line2D([], [], marker="s", color="black", linestyle="", label="Porteur (A, B… : table)")
        )
    if outside:
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6,
            frameon=False, title="Légende", title_fontsize=7, alignment="left",
        )  # fmt: skip
    else:
        ax.legend(handles=handles, loc="lower left", fontsize=5.5, framealpha=0.9)


def _box(bounds: tuple[float, float, float, float]) -> Any:
    return shapely_box(*bounds)


def _scale_bar(ax: Any, box: tuple[float, float, float, float]) -> None:
    width = box[2] - box[0]
    km = 1 if width < 8_000 else 2 if width < 25_000 else 5 if width < 60_000 else 10
    x = box[2] - width * 0.05 - km * 1000
    y = box[1] + (box[3] - box[1]) * 0.04
    ax.plot([x, x + km * 1000], [y, y], color="black", linewidth=2.5)
    ax.text(x + km * 500, y + (box[3] - box[1]) * 0.015, f"{km} km", ha="center", fontsize=6)


def map_png(fiche: Fiche, *, dpi: int = 130) -> bytes:
    """Return the fiche's map as a PNG (for the HTML page)."""
    fig = plt.figure(figsize=(7.2, 4.6))
    # the map on the left, its legend in the right column: the legend covers nothing
    ax = fig.add_axes((0.005, 0.01, 0.70, 0.98))
    draw_map(ax, fiche)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()
