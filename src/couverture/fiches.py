"""Fiches for a task force's meeting: one A4 page per zone blanche, as HTML and as a PDF.

:func:`build_fiches` writes, for each département, ``<sortie>/departement-<code>/``:

``index.html``
    the list of the département's zones blanches, linking each fiche and the booklet;
``<zone_id>.html``
    one self-contained page per zone (map inlined), laid out for A4 printing;
``fiches-<code>.pdf``
    the booklet: the same fiches, one A4 page each (matplotlib's PDF backend, no browser).

Each fiche has a static map of the zone (its communes, the neighbouring CPTS coloured by stage
with their names, the recommended proposal outlined, the potential porteurs), the communes
(name, population), the neighbouring CPTS (stage, taille, population), the recommended option
and the alternatives (taille and maximum ACI funding before → after), the potential porteurs in
the zone and within 10 km, and blank lines for the decision taken in the meeting.

A département's folder is written next to its target under a temporary name and then renamed:
an interrupted run leaves the previous fiches as they were.

Examples
--------
>>> import couverture
>>> from couverture.fiches import build_fiches
>>> with couverture.analyse("data/raw/registre_demo.csv", departements="35") as a:
...     written = build_fiches(a, "fiches")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture import _format
from couverture._config import STAGES, metric_crs, pre_stage, stage
from couverture._errors import ArgumentError
from couverture._output import new_folder, recover_folders, staged_folder
from couverture._suggest_texts import rank_texts
from couverture.zones import members as row_members

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from couverture.analysis import Analysis
    from couverture.professionnels import Annuaire

log = logging.getLogger(__name__)

#: A4 portrait, inches.
A4 = (8.27, 11.69)
#: Lines cut beyond these counts on the one-page fiche (the workbook has everything).
MAX_OPTIONS = 7
MAX_CPTS = 7
MAX_PORTEURS = 7
#: Colours of the zone blanche and of the proposal outline (not stage colours).
ZONE_EDGE = "#b00020"
#: One colour and hatch per part of the recommended proposal, numbered 1, 2… on the map, in
#: its legend and in the table (colours apart from the stages' yellow, teal and purple).
PROPOSAL_STYLES = (
    ("#e66101", "///"),
    ("#d01c8b", "\\\\\\"),
    ("#1a9641", "xxx"),
    ("#0571b0", "..."),
    ("#a6611a", "---"),
    ("#b2182b", "|||"),
    ("#4d4d4d", "+++"),
)
_OPTION_WORDS = {
    "extension": "Extension",
    "creation": "Création",
    "rattachement_temporaire": "Rattachement temporaire",
}
_DECISION_LINES = (
    "Option retenue",
    "Porteur pressenti",
    "Prochaine étape et échéance",
    "Participants",
)


@dataclass(frozen=True)
class FicheSet:
    """The fiches written for one département.

    Attributes
    ----------
    departement
        COG code.
    index
        ``index.html`` listing the fiches.
    pdf
        The booklet (one page per zone blanche), ``None`` without any zone blanche.
    pages
        ``{zone_id: page}``, in order of priority (population).
    """

    departement: str
    index: Path
    pdf: Path | None
    pages: dict[str, Path] = field(default_factory=dict)


@dataclass
class _Fiche:
    """What one fiche shows (tables with machine column names, geometries in metres)."""

    zone: pd.Series
    dep_name: str
    communes: pd.DataFrame  # code, nom, population
    neighbours: pd.DataFrame  # cpts_id, nom, stade, taille, population
    options: pd.DataFrame  # rows of suggest() for the zone
    porteurs: pd.DataFrame | None  # porteurs_near() rows, or None without a porteurs file
    crs: str
    zone_units: gpd.GeoSeries
    cpts_shapes: gpd.GeoSeries  # indexed by cpts_id
    proposal_shapes: list[tuple[Any, str, int]]  # (geometry, label, key) of recommended parts
    context: gpd.GeoSeries  # units around, for orientation
    names: dict[str, str]  # names of the units and communes (porteurs outside the zone)
    title: str = ""  # the zone's place name (« Zone blanche de Fougères et environs »)


# ------------------------------------------------------------------------------------------
# data of the fiches
# ------------------------------------------------------------------------------------------


def _date_text(meta: dict[str, Any]) -> str:
    """Return the registry's date and its source (« registre du 30 novembre 2026 (…) »)."""
    return str(
        meta.get("date_registre_texte") or f"registre du {_format.date(meta['date_registre'])}"
    )


def _fiches_of(
    a: Analysis,
    dep: str,
    *,
    proposals: pd.DataFrame | None,
    porteurs: pd.DataFrame | None,
) -> list[_Fiche]:
    """Gather the data of the fiches of one département, zones in order of priority."""
    import pandas as pd

    from couverture.porteurs import porteurs_near

    zones = a.zones()
    zones = zones[zones["departement"] == dep].reset_index(drop=True)
    if zones.empty:
        return []
    units = a.unit_table().set_index("code")
    cpts = a.national().cpts()  # neighbours may lie across the border
    membership = a.registry.membership
    crs = metric_crs(dep)
    ids = sorted({i for s in zones["cpts_voisines_ids"] for i in str(s).split("|") if i})
    members = membership[membership["cpts_id"].isin(ids)][["cpts_id", "code"]]
    cpts_shapes = (
        a.member_geometries(members, key="cpts_id").dropna().to_crs(crs)
        if len(members)
        else _empty(crs)
    )
    deps = {dep} | {_dep_of(c) for c in members["code"]}
    unit_geoms = a.geometries(departements=tuple(sorted(deps))).to_crs(crs).geometry
    zone_units = a.zone_units()
    zone_geoms = a.member_geometries(
        zone_units[zone_units["zone_id"].isin(zones["zone_id"])], key="zone_id"
    )
    dep_name = _departement_name(a, dep)
    titles = a.zone_names()["nom_zone"].to_dict()
    names = units["nom"].to_dict()
    out = []
    zone_codes = zone_units.groupby("zone_id", sort=False)["code"].agg(list)
    for zone in zones.itertuples(index=False):
        row = pd.Series(zone._asdict())
        codes = zone_codes.get(zone.zone_id, [])
        communes = (
            units.loc[codes, ["nom", "population"]]
            .reset_index()
            .sort_values(["population", "nom"], ascending=[False, True])
        )
        neighbour_ids = [i for i in str(zone.cpts_voisines_ids).split("|") if i]
        neighbours = (
            cpts.reindex(neighbour_ids)[["nom", "stade", "taille", "population"]]
            .reset_index()
            .rename(columns={"index": "cpts_id"})
        )
        options = (
            proposals[proposals["zone_id"] == zone.zone_id]
            if proposals is not None
            else proposals_empty()
        )
        zone_geom = zone_geoms.get(zone.zone_id)
        near = (
            porteurs_near(
                porteurs,
                zone_geom,
                communes={units["commune"].get(c, c) for c in codes} | set(codes),
                departement=dep,
            )
            if porteurs is not None
            else None
        )
        out.append(
            _Fiche(
                zone=row,
                dep_name=dep_name,
                communes=communes,
                neighbours=neighbours,
                options=options,
                porteurs=near,
                crs=crs,
                zone_units=unit_geoms.reindex(codes).dropna(),
                cpts_shapes=cpts_shapes.reindex(
                    [i for i in neighbour_ids if i in cpts_shapes.index]
                ),
                proposal_shapes=_proposal_shapes(options, unit_geoms),
                context=unit_geoms,
                names=names,
                title=str(titles.get(zone.zone_id, f"Zone blanche {zone.zone_id}")),
            )
        )
    return out


def proposals_empty() -> pd.DataFrame:
    """Return an empty table of proposals (the columns of :func:`couverture.suggest.suggest`)."""
    import pandas as pd

    from couverture.suggest import COLUMNS

    return pd.DataFrame(columns=COLUMNS)


def _empty(crs: str) -> gpd.GeoSeries:
    import geopandas as gpd

    return gpd.GeoSeries([], crs=crs)


def _dep_of(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def _departement_name(a: Analysis, dep: str) -> str:
    names = a.territories("departement").set_index("code")["nom"]
    return str(names.get(dep, dep))


def _target(row: Any) -> str:
    """Who would take a proposal: the CPTS, or « nouvelle CPTS <name> »."""
    if row["option"] == "creation":
        return f"nouvelle {row['nom_propose'] or 'CPTS'}".replace("nouvelle CPTS CPTS", "CPTS")
    return str(row["cpts_cible"])


def _proposal_shapes(
    options: pd.DataFrame, unit_geoms: gpd.GeoSeries
) -> list[tuple[Any, str, int]]:
    """Shapes of the recommended parts, each with its label and key (1, 2… as in the table)."""
    from couverture._geometry import union_units

    shapes = []
    best = options[options["recommandee"].astype(str) == "oui"]
    best_codes = row_members(best).groupby("ligne")["code"].agg(list)
    for i, (_, row) in enumerate(best.iterrows()):
        parts = [unit_geoms.get(c) for c in best_codes.get(i, [])]
        parts = [g for g in parts if g is not None]
        if parts:
            shapes.append((union_units(parts), _target(row), i + 1))
    return shapes


def proposal_style(key: int) -> tuple[str, str]:
    """Colour and hatch of the recommended part numbered ``key`` (1, 2…)."""
    return PROPOSAL_STYLES[(key - 1) % len(PROPOSAL_STYLES)]


# ------------------------------------------------------------------------------------------
# the map (matplotlib, shared by the HTML page and the PDF)
# ------------------------------------------------------------------------------------------
def _plt() -> Any:
    from couverture import _figure

    return _figure


def _no_redraw(*args: Any, **kwargs: Any) -> None:
    """Stand in for ``canvas.draw_idle`` while a map is drawn (see :func:`draw_map`)."""


def draw_map(ax: Any, fiche: _Fiche, *, legend_outside: bool = True) -> None:
    """Draw the zone, the neighbouring CPTS by stage with names.

    Each part of the recommended proposal hatched in its own colour and numbered as in the
    table, the porteurs (numbered as in their table), and the names placed without overlap
    (adjustText moves them apart). The legend shows exactly what is drawn, beside the map
    (``legend_outside``) so that it covers nothing.
    """
    import geopandas as gpd

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
    from adjustText import adjust_text

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


def _halo() -> list[Any]:
    """Return the white outline that keeps a label readable over the map."""
    import matplotlib.patheffects as pe

    return [pe.withStroke(linewidth=2.2, foreground="white")]


def _stage_style(code: object) -> tuple[str, str, str]:
    """Fill, outline and legend label of a CPTS drawn at stage ``code``.

    A CPTS before its lettre d'intention (no code, unknown code) takes rank 0 of the stage
    vocabulary (``config/vocabulaire_stades.csv``), like the map and the report.
    """
    s = stage(code) if isinstance(code, str) and code in STAGES else pre_stage()
    return s.colour, s.outline, s.label


def _draw_cpts(ax: Any, fiche: _Fiche) -> list[str]:
    """Draw the neighbouring CPTS filled by stage; return the stages drawn (legend)."""
    import geopandas as gpd

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
    ax: Any, fiche: _Fiche, inner: tuple[float, float, float, float], zone: Any
) -> list[Any]:
    """Name the neighbouring CPTS where they show inside ``inner``, on their own territory.

    (Outside the zone blanche, where the proposals' keys and the communes' names are.)
    """
    import shapely

    halo = _halo()
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


def _draw_zone(ax: Any, fiche: _Fiche, zone: gpd.GeoSeries) -> None:
    """Draw the communes of the zone blanche and its outline."""
    import geopandas as gpd

    zone.plot(ax=ax, facecolor="white", edgecolor="#9a9a9a", linewidth=0.4)
    gpd.GeoSeries([zone.union_all()], crs=fiche.crs).boundary.plot(
        ax=ax, color=ZONE_EDGE, linewidth=1.6
    )


def _draw_proposals(ax: Any, fiche: _Fiche) -> list[Any]:
    """Hatch each part of the recommended proposal in its colour, its key in a disc.

    Returns the discs (names are placed around them).
    """
    import geopandas as gpd

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


def _draw_commune_names(ax: Any, fiche: _Fiche) -> list[Any]:
    """Name the zone's first communes (12 of a large zone, up to 15 of a small one)."""
    halo = _halo()
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


def _draw_porteurs(ax: Any, fiche: _Fiche) -> None:
    """Mark the located porteurs, numbered as in the fiche's table."""
    import geopandas as gpd

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


def _draw_legend(ax: Any, fiche: _Fiche, stages_drawn: list[str], *, outside: bool) -> None:
    """Add the legend of what is drawn: stages present, zone blanche, each proposal part."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

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
    from shapely.geometry import box

    return box(*bounds)


def _scale_bar(ax: Any, box: tuple[float, float, float, float]) -> None:
    width = box[2] - box[0]
    km = 1 if width < 8_000 else 2 if width < 25_000 else 5 if width < 60_000 else 10
    x = box[2] - width * 0.05 - km * 1000
    y = box[1] + (box[3] - box[1]) * 0.04
    ax.plot([x, x + km * 1000], [y, y], color="black", linewidth=2.5)
    ax.text(x + km * 500, y + (box[3] - box[1]) * 0.015, f"{km} km", ha="center", fontsize=6)


def map_png(fiche: _Fiche, *, dpi: int = 130) -> bytes:
    """Return the fiche's map as a PNG (for the HTML page)."""
    plt = _plt()
    fig = plt.figure(figsize=(7.2, 4.6))
    # the map on the left, its legend in the right column: the legend covers nothing
    ax = fig.add_axes((0.005, 0.01, 0.70, 0.98))
    draw_map(ax, fiche)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------
# rows shown in both formats (French text)
# ------------------------------------------------------------------------------------------
def _stage_text(code: object) -> str:
    return stage(code).label if isinstance(code, str) and code in STAGES else pre_stage().label


def _option_rows(options: pd.DataFrame) -> list[list[str]]:
    """Rows of the options table; the first cell is the key of a recommended part (1, 2…)."""
    rows = []
    key = 0
    best_of = (options["recommandee"].astype(str) == "oui").tolist()
    # the parts of one scenario told apart (« alt. 2, partie 1/3 »), counted on all rows
    ranks = rank_texts(options["zone_id"], options["rang"], best_of, short=True)
    for (_, row), best, rank in zip(
        options.head(MAX_OPTIONS).iterrows(), best_of, ranks, strict=False
    ):
        key += best
        rows.append(
            [
                str(key) if best else "",
                rank,
                _OPTION_WORDS.get(str(row["option"]), str(row["option"])),
                _target(row),
                f"{_format.integer(row['n_communes'])} · "
                f"{_format.integer(row['population_ajoutee'])}",
                f"{_size(row['taille_avant'])} → {_size(row['taille_apres'])}",
                f"{_format.euros(row['financement_max_avant'])} → "
                f"{_format.euros(row['financement_max_apres'])}",
            ]
        )
    return rows


def _size(value: object) -> str:
    return "aucune" if str(value) in ("0", "") else str(value)


def _cpts_rows(neighbours: pd.DataFrame) -> list[list[str]]:
    return [
        [
            str(r["nom"]) if isinstance(r["nom"], str) else str(r["cpts_id"]),
            _stage_text(r["stade"]),
            _format.integer(r["taille"]),
            _format.integer(r["population"]),
        ]
        for _, r in neighbours.head(MAX_CPTS).iterrows()
    ]


def _porteur_rows(porteurs: pd.DataFrame, names: dict[str, str]) -> list[list[str]]:
    from couverture.porteurs import config

    short: dict[str, str] = config().get("libelles_courts", {})
    return [
        [
            chr(ord("A") + n),
            str(r["nom"]),
            short.get(str(r["categorie"])) or str(r["libelle_categorie"] or r["categorie"]),
            names.get(r["code_commune"], r["code_commune"]),
            "dans la zone" if r["dans_zone"] else _format.kilometres(r["distance_m"]),
        ]
        for n, (_, r) in enumerate(porteurs.head(MAX_PORTEURS).iterrows())
    ]


def _communes_text(communes: pd.DataFrame) -> str:
    return ", ".join(
        f"{n} ({_format.integer(p)})"
        for n, p in zip(communes["nom"], communes["population"], strict=True)
    )


def _communes_summary(communes: pd.DataFrame) -> str:
    """Name the first communes, most populated first, the rest counted with their people."""
    return _format.name_list(
        [str(n) for n in communes["nom"]], [float(p) for p in communes["population"]]
    )


def _subtitle(fiche: _Fiche) -> str:
    z = fiche.zone
    return (
        f"{_format.plural(int(z['n_communes']), 'commune')} · "
        f"{_format.plural(int(z['population']), 'habitant')} · "
        f"{_format.number(z['superficie_km2'], decimals=1)} km²"
    )


# ------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------
_CSS = """
@page{size:A4;margin:9mm}
body{font-family:system-ui,"Segoe UI",Roboto,Arial,sans-serif;color:#1d1d1d;margin:0 auto;
max-width:190mm;padding:6mm;font-size:10pt;line-height:1.3}
h1{font-size:15pt;margin:0 0 .1em}h2{font-size:11pt;margin:.7em 0 .2em;color:#2b5797;
border-bottom:1px solid #2b5797}.meta{color:#555;font-size:8.5pt;margin:0}
.fictif{background:#b00020;color:#fff;padding:.2em .5em;font-weight:bold;font-size:9pt}
table{border-collapse:collapse;width:100%;font-size:8.5pt}th,td{border:1px solid #bbb;
padding:.15em .35em;vertical-align:top}th{background:#eef2f8;text-align:left}
td.n{text-align:right;white-space:nowrap}tr.reco td{font-weight:bold;background:#fff1e0}
td.cle{color:#fff;font-weight:bold;text-align:center}
.ref{color:#666;font-weight:normal;white-space:nowrap;font-size:9pt}
img{width:100%;border:1px solid #ccc;box-sizing:border-box}
.cols{display:flex;gap:4mm}.cols>div{flex:1}
.communes{font-size:8pt}.decision p{border-bottom:1px solid #555;height:1.6em;margin:.2em 0;
font-size:8.5pt;color:#555}.motif{font-size:8pt;color:#333}
nav{font-size:9pt;margin-bottom:4mm}
@media print{nav{display:none}body{padding:0;max-width:none}img{width:auto;max-width:100%;
max-height:78mm;display:block;margin:0 auto}h2{margin-top:.5em}.decision p{height:1.35em}
a{color:inherit;text-decoration:none}*{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _html_rows(
    header: list[str],
    rows: list[list[str]],
    *,
    numeric: set[int],
    empty: str,
    keyed: bool = False,
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cls = ' class="reco"' if len(row) > 1 and row[1] == "recommandée" else ""
        cells = "".join(
            f'<td class="n">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        )
        if keyed and row and row[0]:
            colour, _hatch = proposal_style(int(row[0]))
            swatch = f'<td class="cle" style="background:{colour}">{_e(row[0])}</td>'
            cells = swatch + cells[cells.index("</td>") + 5 :]
        body.append(f"<tr{cls}>{cells}</tr>")
    if not rows:
        return f'<p class="motif">{_e(empty)}</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_fiche_html(fiche: _Fiche, *, meta: dict[str, Any], png: bytes) -> str:
    """Return the A4 page of one fiche (French, self-contained: the map is inlined)."""
    z = fiche.zone
    names = fiche.names
    parts = [
        "<!DOCTYPE html>",
        '<html lang="fr"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(fiche.title)} ({_e(z['zone_id'])})</title><style>{_CSS}</style></head><body>",
        '<nav><a href="index.html">← toutes les fiches du département</a></nav>',
    ]
    if meta.get("fictif"):
        parts.append('<p class="fictif">REGISTRE FICTIF — données de démonstration</p>')
    parts += [
        f"<h1>{_e(fiche.title)} — {_e(fiche.dep_name)} ({_e(z['departement'])}) "
        f'<span class="ref">réf. {_e(z["zone_id"])}</span></h1>',
        f'<p class="meta">{_e(_subtitle(fiche))} · {_e(_date_text(meta))}'
        f" · population {_e(meta['population_millesime'])}"
        "</p>",
        *(
            [f'<p class="meta">Professionnels présents : {_e(z["professionnels_texte"])}</p>']
            if z.get("professionnels_texte")
            else []
        ),
        f'<img alt="Carte : {_e(fiche.title)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}">',
        "<h2>Option recommandée et alternatives</h2>",
        _html_rows(
            [
                "Clé",
                "Rang",
                "Option",
                "Qui la porte",
                "Communes · hab.",
                "Taille",
                "Financement max/an",
            ],
            _option_rows(fiche.options),
            numeric={4},
            empty="Aucune proposition calculée pour cette zone.",
            keyed=True,
        ),
    ]
    best = fiche.options[fiche.options["recommandee"].astype(str) == "oui"]
    if len(best):
        parts.append(f'<p class="motif">Motif : {_e(best.iloc[0]["motif"])}</p>')
    cpts = _html_rows(
        ["CPTS voisine", "Stade", "Taille", "Population"],
        _cpts_rows(fiche.neighbours),
        numeric={2, 3},
        empty="Aucune CPTS voisine.",
    )
    parts.append(f'<div class="cols"><div><h2>CPTS voisines</h2>{cpts}</div>')
    if fiche.porteurs is not None:
        porteurs = _html_rows(
            ["Repère", "Porteur potentiel", "Catégorie", "Commune", "Distance"],
            _porteur_rows(fiche.porteurs, names),
            numeric={4},
            empty="Aucun porteur potentiel dans la zone ni à moins de 10 km.",
        )
        parts.append(
            "<div><h2>Porteurs potentiels (zone et 10 km)</h2>" + porteurs + "</div></div>"
        )
    else:
        parts.append(
            '<div><h2>Porteurs potentiels</h2><p class="motif">Fichier des porteurs non fourni '
            "(option --porteurs : extraction FINESS).</p></div></div>"
        )
    parts += [
        f"<h2>Communes ({len(fiche.communes)})</h2>",
        f'<p class="communes">{_e(_communes_text(fiche.communes))}</p>',
        '<h2>Décision de la réunion</h2><div class="decision">',
        *(f"<p>{_e(label)} :</p>" for label in _DECISION_LINES),
        "</div></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _index_html(
    dep: str, dep_name: str, fiches: list[_Fiche], pdf: str | None, meta: dict[str, Any]
) -> str:
    rows = "".join(
        f'<tr><td><a href="{_e(f.zone["zone_id"])}.html">{_e(f.title)}</a><br>'
        f'<span class="ref">{_e(f.zone["zone_id"])}</span></td>'
        f"<td>{_e(_communes_summary(f.communes))}</td>"
        f'<td class="n">{_e(_format.integer(f.zone["population"]))}</td></tr>'
        for f in fiches
    )
    fictif = (
        '<p class="fictif">REGISTRE FICTIF — données de démonstration</p>'
        if meta.get("fictif")
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
        f"<title>Fiches des zones blanches — {_e(dep_name)}</title><style>{_CSS}</style></head>"
        f"<body>{fictif}<h1>Fiches des zones blanches — {_e(dep_name)} ({_e(dep)})</h1>"
        f'<p class="meta">{_e(_date_text(meta).capitalize())} · '
        f"{_e(_format.plural(len(fiches), 'zone blanche', 'zones blanches'))} · "
        + (f'<a href="{_e(pdf)}">livret PDF à imprimer</a>' if pdf else "aucune fiche")
        + "</p>"
        "<table><thead><tr><th>Zone</th><th>Communes (les plus peuplées d'abord)</th>"
        "<th>Population</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></body></html>\n"
    )


# ------------------------------------------------------------------------------------------
# PDF (one A4 page per fiche)
# ------------------------------------------------------------------------------------------
_LINE = 0.0106  # line height in a table cell (6.3 pt type), figure fraction
_PAD = 0.0042  # padding above and below a cell's lines
_CHAR_PT = 3.25  # mean width of a character at 6.3 pt (Helvetica-like DejaVu Sans)


def wrap_cell(text: str, chars: int) -> list[str]:
    """Wrap a cell's text on whole words (and after hyphens), never cutting a word.

    Examples
    --------
    >>> wrap_cell("Projet de santé validé", 12)
    ['Projet de', 'santé validé']
    >>> wrap_cell("Saint-Germain-en-Coglès", 10)
    ['Saint-', 'Germain-', 'en-Coglès']
    """
    return textwrap.wrap(text, chars, break_long_words=False, break_on_hyphens=True) or [""]


def _pdf_table(
    fig: Any,
    *,
    left: float,
    top: float,
    width: float,
    header: list[str],
    rows: list[list[str]],
    widths: list[float],
    empty: str,
    keyed: bool = False,
) -> float:
    """Draw a table from ``top`` down, its cells wrapped on words; return the new top.

    Each row is as tall as its longest cell: nothing is cut (the booklet is read on paper).
    """
    from matplotlib.patches import Rectangle

    if not rows:
        fig.text(left, top - 0.002, empty, fontsize=6.5, va="top")
        return top - 0.014
    chars = [max(3, int(w * width * A4[0] * 72 / _CHAR_PT) - 1) for w in widths]
    xs = [left]
    for w in widths[:-1]:
        xs.append(xs[-1] + w * width)
    y = top
    for r, row in enumerate([header, *rows]):
        lines = [wrap_cell(str(c), n) for c, n in zip(row, chars, strict=True)]
        height = max(map(len, lines)) * _LINE + 2 * _PAD
        best = r > 0 and len(row) > 1 and row[1] == "recommandée"
        fill = "#eef2f8" if r == 0 else "#fff1e0" if best else "white"
        for i, (x, w, cell) in enumerate(zip(xs, widths, lines, strict=True)):
            colour = fill
            text_colour = "black"
            if keyed and r > 0 and i == 0 and row[0]:
                colour, text_colour = proposal_style(int(row[0]))[0], "white"
            fig.add_artist(
                Rectangle(
                    (x, y - height), w * width, height, transform=fig.transFigure,
                    facecolor=colour, edgecolor="#999999", linewidth=0.3,
                )
            )  # fmt: skip
            fig.text(
                x + 0.004, y - _PAD, "\n".join(cell), fontsize=6.3, va="top", ha="left",
                linespacing=1.3, color=text_colour,
                weight="bold" if r == 0 or best else "normal",
            )  # fmt: skip
        y -= height
    return y


def _pdf_title(fig: Any, text: str, *, left: float, top: float) -> float:
    fig.text(left, top - 0.004, text, fontsize=9, weight="bold", color="#2b5797", va="top")
    return top - 0.021


def fiche_figure(fiche: _Fiche, *, meta: dict[str, Any]) -> Any:
    """Return the A4 matplotlib figure of one fiche (a page of the booklet)."""
    plt = _plt()
    z = fiche.zone
    names = fiche.names
    fig = plt.figure(figsize=A4)
    top = 0.975
    if meta.get("fictif"):
        fig.text(0.04, top, "REGISTRE FICTIF — données de démonstration", fontsize=7.5,
                 color="white", weight="bold", backgroundcolor="#b00020", va="top")  # fmt: skip
        top -= 0.018
    fig.text(0.04, top, f"{fiche.title} — {fiche.dep_name} ({z['departement']})",
             fontsize=13, weight="bold", va="top")  # fmt: skip
    fig.text(0.04, top - 0.024, f"réf. {z['zone_id']} · {_subtitle(fiche)} · {_date_text(meta)}"
             f" · population {meta['population_millesime']}",
             fontsize=7.5, color="#555555", va="top")  # fmt: skip
    map_top = top - 0.04
    if z.get("professionnels_texte"):  # issue 23: the professionals present (--annuaire)
        fig.text(0.04, map_top + 0.002, f"Professionnels présents : {z['professionnels_texte']}",
                 fontsize=7.5, color="#555555", va="top")  # fmt: skip
        map_top -= 0.014
    # the map on the left, its legend in the right column: the legend covers nothing
    ax = fig.add_axes((0.04, map_top - 0.40, 0.66, 0.40))
    draw_map(ax, fiche)
    top = _pdf_title(fig, "Option recommandée et alternatives", left=0.04, top=map_top - 0.41)
    top = _pdf_table(
        fig,
        left=0.04,
        top=top,
        width=0.92,
        header=[
            "Clé",
            "Rang",
            "Option",
            "Qui la porte",
            "Communes · hab.",
            "Taille",
            "Financement/an",
        ],
        rows=_option_rows(fiche.options),
        widths=[0.04, 0.12, 0.13, 0.29, 0.12, 0.09, 0.21],
        empty="Aucune proposition calculée pour cette zone.",
        keyed=True,
    )
    best = fiche.options[fiche.options["recommandee"].astype(str) == "oui"]
    if len(best):
        motif = textwrap.wrap(f"Motif : {best.iloc[0]['motif']}", 150)
        fig.text(0.04, top - 0.004, "\n".join(motif), fontsize=6, color="#333333", va="top")
        top -= 0.006 + 0.010 * len(motif)
    block = top
    left_top = _pdf_title(fig, "CPTS voisines", left=0.04, top=block)
    left_top = _pdf_table(
        fig,
        left=0.04,
        top=left_top,
        width=0.38,
        header=["CPTS voisine", "Stade", "Taille", "Population"],
        rows=_cpts_rows(fiche.neighbours),
        widths=[0.47, 0.29, 0.09, 0.15],
        empty="Aucune CPTS voisine.",
    )
    title = "Porteurs potentiels (zone et 10 km)"
    right_top = _pdf_title(fig, title, left=0.43, top=block)
    if fiche.porteurs is not None:
        right_top = _pdf_table(
            fig,
            left=0.43,
            top=right_top,
            width=0.53,
            header=["Rep.", "Porteur potentiel", "Catégorie", "Commune", "Distance"],
            rows=_porteur_rows(fiche.porteurs, names),
            widths=[0.07, 0.43, 0.17, 0.19, 0.14],
            empty="Aucun dans la zone ni à moins de 10 km.",
        )
    else:
        fig.text(0.43, right_top, "Fichier des porteurs non fourni (option --porteurs).",
                 fontsize=6.5, va="top")  # fmt: skip
        right_top -= 0.015
    top = min(left_top, right_top)
    top = _pdf_title(fig, f"Communes ({len(fiche.communes)})", left=0.04, top=top - 0.004)
    lines = textwrap.wrap(_communes_text(fiche.communes), 165)
    if len(lines) > 5:
        lines = textwrap.wrap(_communes_summary(fiche.communes), 165)
    fig.text(0.04, top, "\n".join(lines), fontsize=6.3, va="top", linespacing=1.35)
    top -= 0.0115 * len(lines) + 0.006
    top = _pdf_title(fig, "Décision de la réunion", left=0.04, top=top)
    step = min(0.026, max(top - 0.03, 0.04) / len(_DECISION_LINES))
    for label in _DECISION_LINES:
        top -= step
        fig.text(0.04, top + 0.004, f"{label} :", fontsize=7, color="#555555")
        fig.add_artist(
            plt.Line2D([0.04, 0.96], [top, top], transform=fig.transFigure, lw=0.5, color="#555")
        )
    return fig


# ------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------
def _write_departement(
    dep: str, fiches: list[_Fiche], target: Path, *, meta: dict[str, Any]
) -> FicheSet:
    from matplotlib.backends.backend_pdf import PdfPages

    plt = _plt()
    # a fresh folder swapped in whole (the one door of couverture._output): a run killed
    # midway leaves the previous fiches as they were
    recover_folders(target.resolve().parent)
    pdf_name = f"fiches-{dep}.pdf"
    dep_name = fiches[0].dep_name if fiches else dep
    pages: dict[str, Path] = {}
    with staged_folder(target, ours=_is_fiche_name) as stage:
        tmp = stage.new
        if fiches:
            with PdfPages(tmp / pdf_name) as pdf:
                info = pdf.infodict()
                info["Title"] = f"Fiches des zones blanches — {dep_name} ({dep})"
                info["Subject"] = "Couverture de la population par les CPTS"
                for n, fiche in enumerate(fiches, start=1):
                    zone_id = str(fiche.zone["zone_id"])
                    log.info("fiches %s : zone %d/%d (%s)…", dep, n, len(fiches), zone_id)
                    page = render_fiche_html(fiche, meta=meta, png=map_png(fiche))
                    (tmp / f"{zone_id}.html").write_text(page, encoding="utf-8")
                    fig = fiche_figure(fiche, meta=meta)
                    pdf.savefig(fig)
                    plt.close(fig)
                    pages[zone_id] = target / f"{zone_id}.html"
        (tmp / "index.html").write_text(
            _index_html(dep, dep_name, fiches, pdf_name if fiches else None, meta),
            encoding="utf-8",
        )
        stage.swap_in()
    return FicheSet(
        departement=dep,
        index=target / "index.html",
        pdf=target / pdf_name if fiches else None,
        pages=pages,
    )


def _is_fiche_name(name: str) -> bool:
    """Whether ``name`` is one fiches write (a folder of fiches written before manifests)."""
    return name == "index.html" or re.fullmatch(r"fiches-.+\.pdf|ZB-.+\.html", name) is not None


def build_fiches(
    analysis: Analysis,
    output_dir: Path | str,
    *,
    proposals: pd.DataFrame | None = None,
    porteurs: pd.DataFrame | None = None,
    annuaire: Annuaire | None = None,
) -> dict[str, FicheSet]:
    """Write the fiches of the zones blanches of the analysis's départements.

    Parameters
    ----------
    analysis
        An open analysis restricted to one or a few départements.
    output_dir
        Folder receiving one ``departement-<code>/`` folder per département.
    proposals
        Rows of :func:`couverture.suggest.suggest` for these départements (computed when
        not given).
    porteurs
        Output of :func:`couverture.porteurs.read_porteurs` (the fiches say when absent).
    annuaire
        :func:`couverture.professionnels.read_annuaire`: the professionals present in each
        zone, under its title.

    Returns
    -------
    dict
        ``{département: FicheSet}``.

    Raises
    ------
    ArgumentError
        When the analysis is not restricted to départements.
    """
    a = analysis
    if a.departements is None:
        raise ArgumentError("fiches : préciser le ou les départements (--departement 35)")
    a.check_departements()
    if proposals is None:
        from couverture.porteurs import proposals_of

        log.info("fiches : propositions pour les zones blanches…")
        proposals = proposals_of(a, porteurs)
    elif porteurs is not None and "porteur_potentiel" not in proposals:
        from couverture.porteurs import name_porteurs

        proposals = name_porteurs(a, proposals, porteurs)
    meta = a.meta
    pros = None
    if annuaire is not None:
        from couverture.professionnels import zone_texts

        pros = zone_texts(a, annuaire)
    written = {}
    # a failed run leaves no empty folder behind (one written before the failure stays)
    with new_folder(Path(output_dir)) as out:
        for dep in a.departements:
            fiches = _fiches_of(a, dep, proposals=proposals, porteurs=porteurs)
            for fiche in fiches:  # issue 23: professionals present in the zone
                if pros is not None:
                    fiche.zone["professionnels_texte"] = pros.get(str(fiche.zone["zone_id"]))
            target = out / f"departement-{dep}"
            written[dep] = _write_departement(dep, fiches, target, meta=meta)
            booklet = written[dep].pdf
            log.info(
                "fiches %s : %s%s",
                dep,
                _format.plural(len(fiches), "fiche"),
                f", livret {booklet}" if booklet is not None else " (aucune zone blanche)",
            )
    return written
