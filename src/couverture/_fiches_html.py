"""The HTML pages of the fiches: one A4 page per zone blanche and the département's index.

Private part of :mod:`couverture.fiches` (French, self-contained: the map is inlined).
"""

from __future__ import annotations

import base64
import html
from typing import Any

from couverture import _format
from couverture._fiches_data import (
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


def render_fiche_html(fiche: Fiche, *, meta: dict[str, Any], png: bytes) -> str:
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
        f'<p class="meta">{_e(subtitle(fiche))} · {_e(date_text(meta))}'
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
            option_rows(fiche.options),
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
        cpts_rows(fiche.neighbours),
        numeric={2, 3},
        empty="Aucune CPTS voisine.",
    )
    parts.append(f'<div class="cols"><div><h2>CPTS voisines</h2>{cpts}</div>')
    if fiche.porteurs is not None:
        porteurs = _html_rows(
            ["Repère", "Porteur potentiel", "Catégorie", "Commune", "Distance"],
            porteur_rows(fiche.porteurs, names),
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
        f'<p class="communes">{_e(communes_text(fiche.communes))}</p>',
        '<h2>Décision de la réunion</h2><div class="decision">',
        *(f"<p>{_e(label)} :</p>" for label in DECISION_LINES),
        "</div></body></html>",
    ]
    return "\n".join(parts) + "\n"


def index_html(
    dep: str, dep_name: str, fiches: list[Fiche], pdf: str | None, meta: dict[str, Any]
) -> str:
    rows = "".join(
        f'<tr><td><a href="{_e(f.zone["zone_id"])}.html">{_e(f.title)}</a><br>'
        f'<span class="ref">{_e(f.zone["zone_id"])}</span></td>'
        f"<td>{_e(communes_summary(f.communes))}</td>"
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
        f'<p class="meta">{_e(date_text(meta).capitalize())} · '
        f"{_e(_format.plural(len(fiches), 'zone blanche', 'zones blanches'))} · "
        + (f'<a href="{_e(pdf)}">livret PDF à imprimer</a>' if pdf else "aucune fiche")
        + "</p>"
        "<table><thead><tr><th>Zone</th><th>Communes (les plus peuplées d'abord)</th>"
        "<th>Population</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></body></html>\n"
    )
