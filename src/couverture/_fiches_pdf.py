"""The PDF booklet of the fiches: one A4 page per zone blanche (matplotlib, no browser).

Private part of :mod:`couverture.fiches`: tables drawn cell by cell, wrapped on words, so that
nothing is cut on paper.
"""

from __future__ import annotations

import textwrap
from typing import Any

from matplotlib.patches import Rectangle

from couverture import _figure as plt
from couverture._fiches_data import (
    A4,
    DECISION_LINES,
    Fiche,
    communes_summary,
    communes_text,
    cpts_rows,
    date_text,
    option_rows,
    porteur_rows,
    proposal_style,
    subtitle,
    wrap_cell,
)
from couverture._fiches_map import draw_map

# ------------------------------------------------------------------------------------------
# PDF (one A4 page per fiche)
# ------------------------------------------------------------------------------------------
_LINE = 0.0106  # line height in a table cell (6.3 pt type), figure fraction
_PAD = 0.0042  # padding above and below a cell's lines
_CHAR_PT = 3.25  # mean width of a character at 6.3 pt (Helvetica-like DejaVu Sans)


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


def fiche_figure(fiche: Fiche, *, meta: dict[str, Any]) -> Any:
    """Return the A4 matplotlib figure of one fiche (a page of the booklet)."""
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
    fig.text(0.04, top - 0.024, f"réf. {z['zone_id']} · {subtitle(fiche)} · {date_text(meta)}"
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
        rows=option_rows(fiche.options),
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
        rows=cpts_rows(fiche.neighbours),
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
            rows=porteur_rows(fiche.porteurs, names),
            widths=[0.07, 0.43, 0.17, 0.19, 0.14],
            empty="Aucun dans la zone ni à moins de 10 km.",
        )
    else:
        fig.text(0.43, right_top, "Fichier des porteurs non fourni (option --porteurs).",
                 fontsize=6.5, va="top")  # fmt: skip
        right_top -= 0.015
    top = min(left_top, right_top)
    top = _pdf_title(fig, f"Communes ({len(fiche.communes)})", left=0.04, top=top - 0.004)
    lines = textwrap.wrap(communes_text(fiche.communes), 165)
    if len(lines) > 5:
        lines = textwrap.wrap(communes_summary(fiche.communes), 165)
    fig.text(0.04, top, "\n".join(lines), fontsize=6.3, va="top", linespacing=1.35)
    top -= 0.0115 * len(lines) + 0.006
    top = _pdf_title(fig, "Décision de la réunion", left=0.04, top=top)
    step = min(0.026, max(top - 0.03, 0.04) / len(DECISION_LINES))
    for label in DECISION_LINES:
        top -= step
        fig.text(0.04, top + 0.004, f"{label} :", fontsize=7, color="#555555")
        fig.add_artist(
            plt.Line2D([0.04, 0.96], [top, top], transform=fig.transFigure, lw=0.5, color="#555")
        )
    return fig
