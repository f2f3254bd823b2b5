"""The report page: French HTML, inline CSS, relative links, printable on A4.

Private part of :mod:`couverture.report` (:func:`render_html` and its sections); the public
names are re-exported there.
"""

from __future__ import annotations

import functools
import html
from typing import TYPE_CHECKING, Any

import pandas as pd

from couverture import _format
from couverture._cache import code_version
from couverture._config import STAGES, stage
from couverture._output import IDENTIFIERS
from couverture._report_tables import column_titles, month_label, projected_full_coverage

if TYPE_CHECKING:
    from couverture.analysis import Analysis

# HTML lists are cut here (the workbook has everything)
MAX_ZONES_PER_DEPARTEMENT = 15
MAX_NAMES = 12

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0 auto;
max-width:1100px;padding:1.5em;color:#1d1d1d;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #2b5797;padding-bottom:.2em;
margin-top:2em;color:#2b5797}h3{margin-bottom:.3em}
.meta{color:#555;font-size:.9em}.fictif{background:#b00020;color:#fff;padding:.6em 1em;
font-weight:bold;border-radius:4px;margin:1em 0}
table{border-collapse:collapse;width:100%;margin:.5em 0 1em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .45em;vertical-align:top}
th{background:#eef2f8;text-align:left}td.n{text-align:right;white-space:nowrap}
tr:nth-child(even) td{background:#fafafa}
.chiffres{display:flex;gap:1em;flex-wrap:wrap}.chiffre{border:1px solid #ccd;border-radius:4px;
padding:.5em 1em;min-width:12em}.chiffre b{font-size:1.5em;display:block}
img{max-width:100%}nav ol{columns:2}.note{color:#555;font-size:.85em}
.jauge{height:.7em;background:#e4e4e4;border:1px solid #999;margin:.3em 0}
.jauge span{display:block;height:100%;print-color-adjust:exact;-webkit-print-color-adjust:exact}
td{overflow-wrap:anywhere}th{overflow-wrap:normal;hyphens:auto}
abbr{text-decoration:none}small.ref{color:#666;font-size:.85em}td.zone{min-width:10em}td.id{white-space:nowrap}
figure.carte{margin:1em 0;text-align:center}figure.carte img{max-height:150mm}
@page{size:A4;margin:12mm}@page paysage{size:A4 landscape;margin:12mm}
.paysage,#plan,#plan~*{page:paysage}#plan~table{font-size:.75em}#plan~table th{font-size:.9em;
padding:.2em .25em;overflow-wrap:anywhere}
@media print{body{max-width:none;padding:0;font-size:9.5pt}h2{break-before:page}
h2:first-of-type{break-before:auto}img{break-inside:avoid-page}tr{break-inside:avoid}
thead{display:table-header-group}table{font-size:7.5pt;width:100%;max-width:100%}
nav{display:none}a{color:inherit;text-decoration:none}.chiffres{flex-wrap:nowrap;gap:.5em}
.chiffre{min-width:0;flex:1;padding:.3em .5em;font-size:8pt}.chiffre b{font-size:1.3em}
figure.carte{margin:.3em 0}figure.carte img{max-height:118mm}h1{font-size:1.35em}}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def fmt_number(value: Any, *, decimals: int | None = None) -> str:
    """French number of :mod:`couverture._format`, empty for a missing value (table cells).

    Examples
    --------
    >>> fmt_number(1234567), fmt_number(98.5, decimals=2)
    ('1\u202f234\u202f567', '98,50')
    """
    return _format.number(value, decimals=decimals, missing="")


@functools.cache
def _html_titles() -> dict[str, str]:
    """Shorter titles for the page (the files keep the full ones)."""
    return {
        **{f"pop_{s}": f"Pop. {stage(s).short} ou +" for s in STAGES},
        **{f"taux_{s}": f"% {stage(s).short} ou +" for s in STAGES},
        "pop_aci": "Pop. ACI",
        "taux_aci": "% ACI",
        "n_communes": "Nb communes",
        "noms_communes": "Communes (les plus peuplées d'abord)",
    }


def html_table(
    frame: pd.DataFrame,
    *,
    links: dict[str, dict[str, str]] | None = None,
    hover: dict[str, dict[str, str]] | None = None,
) -> str:
    """Render a table with French titles; ``links[col][value]`` makes a cell a link.

    ``hover[col][value]`` is the full text shown on hover (an EPCI's legal name beside its
    short one). A zone's place name (``nom_zone``) is shown with its ``zone_id`` under it as a
    small reference, in one column (linked as ``zone_id`` is).
    """
    if frame.empty:
        return '<p class="note">Aucune ligne.</p>'
    links = dict(links or {})
    hover = hover or {}
    refs = None
    if {"nom_zone", "zone_id"} <= set(frame.columns):
        refs = frame["zone_id"].astype(str).tolist()
        by_id = links.pop("zone_id", {})
        links["nom_zone"] = {
            str(n): by_id[z] for n, z in zip(frame["nom_zone"], refs, strict=True) if z in by_id
        }
        frame = frame.drop(columns="zone_id")
    head = "".join(
        f"<th>{_e(_html_titles().get(c, column_titles().get(c, c)))}</th>" for c in frame.columns
    )
    body = []
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for col, value in zip(frame.columns, row, strict=True):
            kind = frame[col].dtype.kind
            numeric = kind in "iuf"
            text = fmt_number(value, decimals=2 if kind == "f" else 0) if numeric else _e(value)
            href = links.get(col, {}).get(str(value))
            if href:
                text = f'<a href="{_e(href)}">{text}</a>'
            full = hover.get(col, {}).get(str(value))
            if full and full != str(value):
                text = f'<abbr title="{_e(full)}">{text}</abbr>'
            if col == "nom_zone" and refs is not None:
                text += f'<br><small class="ref">{_e(refs[i])}</small>'
            cls = (
                ' class="n"'
                if numeric
                else ' class="zone"'
                if col == "nom_zone"
                else ' class="id"'
                if col in IDENTIFIERS  # codes and months: never broken across lines
                else ""
            )
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _communes_summary(zones: pd.DataFrame, communes: pd.DataFrame) -> pd.Series:
    """Name the communes of each zone, most populated first, the rest counted with their people.

    « Fougères, Lécousse, … et 35 autres communes (23 114 hab.) » (:func:`_format.name_list`).
    """
    info = communes.drop_duplicates("code").set_index("code")[["nom", "population"]]
    out = []
    fallback = zones.get("noms_communes", None)
    for i, codes in enumerate(zones["communes"]):
        all_codes = str(codes).split() if isinstance(codes, str) else []
        known = [c for c in all_codes if c in info.index]
        if len(known) < len(all_codes) and fallback is not None:  # a code of another month
            out.append(_short_list(str(fallback.iloc[i])))
            continue
        out.append(
            _format.name_list(
                [str(info.at[c, "nom"]) for c in known],
                [float(info.at[c, "population"]) for c in known],
                max_names=MAX_NAMES,
            )
        )
    return pd.Series(out, index=zones.index, dtype=object)


def _short_list(names: str, sep: str = ", ") -> str:
    items = [n for n in names.split(sep) if n]
    if len(items) <= MAX_NAMES:
        return sep.join(items)
    return sep.join(items[:MAX_NAMES]) + f"… (+{len(items) - MAX_NAMES})"


#: Sections of the report page: anchor and title, in page order (the table of contents).
_HTML_SECTIONS = (
    ("synthese", "Synthèse"),
    ("evolution", "Évolution depuis le mois précédent"),
    ("regions", "Taux par région"),
    ("departements", "Taux par département"),
    ("zones", "Zones blanches par département"),
    ("chevauchements", "Chevauchements à arbitrer"),
    ("fichiers", "Fichiers et cartes"),
    ("empreintes", "Empreintes techniques"),
)
#: Sections of a département report (one or a few départements).
_HTML_SECTIONS_DEPARTEMENT = (
    ("synthese", "L'essentiel : objectif 100 %"),
    ("evolution", "Évolution depuis le mois précédent"),
    ("regions", "Taux par région"),
    ("departements", "Taux par département"),
    ("epci", "Par EPCI"),
    ("cpts", "Par CPTS"),
    ("professionnels", "Professionnels et adhésions"),
    ("zones", "Zones blanches"),
    ("chevauchements", "Chevauchements à arbitrer"),
    ("fichiers", "Fichiers, cartes et fiches"),
    ("empreintes", "Empreintes techniques"),
)


def render_html(
    a: Analysis,
    *,
    month: str,
    tables: dict[str, pd.DataFrame],
    evolution: pd.DataFrame,
    previous: str | None,
    past: pd.DataFrame,
    recommended: dict[str, str],
    links: dict[str, str],
    files: dict[str, str],
    trend: pd.DataFrame | None = None,
    fiches: dict[str, str] | None = None,
    figures: dict[str, str] | None = None,
) -> str:
    """Return the report page (French, inline CSS, relative links only).

    A report restricted to départements (``a.departements``) is a département report: its
    first screen is the coverage against the 100 % target with the change since the last
    month and the zones blanches, then sections by EPCI and by CPTS; the national report
    has rates by région and département.

    Parameters
    ----------
    a
        The open analysis of the month (registry metadata and scope).
    month
        ``YYYY-MM``.
    tables
        The month's tables (``france``, ``regions``, ``departements``, ``zones-blanches``,
        ``chevauchements``, ``cpts``, and ``epci`` for a département report).
    evolution
        Changes since ``previous`` (:func:`couverture.history.changes`).
    previous
        The month compared with, or ``None`` for the first month stored.
    past
        Months stored, this one last (:func:`~couverture._report_tables.history_columns`).
    recommended
        Recommended option of each zone blanche, in words (may be empty).
    links
        Relative links to the maps: ``{département: page}`` and ``index``.
    files
        Names of the files written next to the page: ``xlsx``, ``gpkg`` and one per CSV.
    trend
        Rates of the périmètre month by month, this one last (département report).
    fiches
        Relative links to the fiches: ``{département: index}``, ``{"pdf-<dép>": booklet}``
        and ``{zone_id: page}``.
    figures
        Static map of each département of a département report (``{département: PNG}``),
        shown on the first page: a printed report carries its map.
    """
    dep_links = {d: href for d, href in links.items() if d != "index"}
    fiches = fiches or {}
    if a.departements is None:
        body = [
            *_html_head(a, month, sections=_HTML_SECTIONS, title=month_label(month)),
            *_html_synthesis(
                tables,
                unclaimed=int(a.rates(niveau="france")["population_non_attribuee"].iloc[0]),
            ),
            *_html_evolution(
                month,
                evolution=evolution,
                previous=previous,
                past=past,
                communes=tables["communes"],
            ),
            *_html_regions(a, tables["regions"]),
            *_html_departements(tables["departements"], dep_links),
        ]
    else:
        several = len(a.departements) > 1
        multi_region = len(tables["regions"]) > 1
        sections = tuple(
            (k, t)
            for k, t in _HTML_SECTIONS_DEPARTEMENT
            if (k != "departements" or several)
            and (k != "regions" or multi_region)
            and (k != "professionnels" or "professionnels" in tables)
        )
        names = tables["departements"].set_index("code")["nom"].to_dict()
        title = " · ".join(f"{names.get(d, d)} ({d})" for d in a.departements)
        body = [
            *_html_head(a, month, sections=sections, title=f"{title} — {month_label(month)}"),
            *_html_target(
                month,
                trend=trend,
                tables=tables,
                recommended=recommended,
                fiches=fiches,
                figures=figures or {},
                unclaimed=int(a.rates(niveau="france")["population_non_attribuee"].iloc[0]),
            ),
            *_html_evolution(
                month,
                evolution=evolution,
                previous=previous,
                past=past,
                communes=tables["communes"],
            ),
            *(_html_regions(a, tables["regions"]) if multi_region else []),
            *(_html_departements(tables["departements"], dep_links) if several else []),
            *_html_epci(tables["epci"]),
            *_html_cpts(tables["cpts"]),
            *(_html_professionnels(tables["professionnels"]) if "professionnels" in tables else []),
        ]
    parts = [
        *body,
        *_html_zones(
            tables, recommended=recommended, dep_links=dep_links, files=files, fiches=fiches
        ),
        *_html_overlaps(tables["chevauchements"]),
        *_html_files(links, files, fiches),
        *_html_fingerprints(a),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _html_head(
    a: Analysis, month: str, *, sections: tuple[tuple[str, str], ...], title: str
) -> list[str]:
    """Document head, title, registry warning and metadata, and the table of contents."""
    meta = a.meta
    scope = (
        "France entière" if a.departements is None else "départements " + ", ".join(a.departements)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="fr"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Couverture CPTS — {_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Couverture de la population par les CPTS — {_e(title)}</h1>",
    ]
    if meta["fictif"]:
        parts.append(
            '<div class="fictif">REGISTRE FICTIF — données de démonstration : ce rapport ne '
            "décrit pas la situation réelle des CPTS.</div>"
        )
    parts.append(
        f'<p class="meta">Source : {_e(meta["libelle_registre"])} '
        f"({_e(meta.get('date_registre_texte') or meta['date_registre'])}) · "
        f"périmètre : {_e(scope)} · "
        f"population {_e(meta['population_millesime'])} (INSEE) · COG {_e(meta['cog'])}</p>"
    )
    parts.append(
        "<nav><ol>"
        + "".join(f'<li><a href="#{k}">{_e(t)}</a></li>' for k, t in sections)
        + "</ol></nav>"
    )
    return parts


def _html_synthesis(tables: dict[str, pd.DataFrame], *, unclaimed: int = 0) -> list[str]:
    """Section « Synthèse »: national rate cards, zones blanches, France table, chart."""
    france = tables["france"].iloc[0]
    cards = "".join(
        f'<div class="chiffre"><b>{fmt_number(france[f"taux_{s}"], decimals=1)} %</b>'
        f"{_e(stage(s).label)} ou plus<br>{fmt_number(france[f'pop_{s}'])} habitants</div>"
        for s in STAGES
    )
    zones = tables["zones-blanches"]
    return [
        '<h2 id="synthese">Synthèse</h2>',
        f'<div class="chiffres">{cards}<div class="chiffre"><b>{len(zones)}</b>zones blanches'
        f"<br>{fmt_number(int(zones['population'].sum()))} habitants</div></div>",
        '<p class="note">Une commune est couverte à un stade quand une CPTS de ce stade ou '
        "d'un stade plus avancé la revendique ; chaque habitant est compté une fois.</p>",
        *_unclaimed_note(unclaimed),
        html_table(tables["france"]),
        '<img src="graphique-evolution.png" alt="Évolution de la couverture par stade">',
    ]


def _html_target(
    month: str,
    *,
    trend: pd.DataFrame | None,
    tables: dict[str, pd.DataFrame],
    recommended: dict[str, str],
    fiches: dict[str, str],
    figures: dict[str, str] | None = None,
    unclaimed: int = 0,
) -> list[str]:
    """First screen of a département report.

    Each stage against the 100 % target, the change since the last month recorded, the projected
    month of full coverage, the zones blanches with their recommended option.
    """
    if trend is None or trend.empty:
        trend = pd.DataFrame([tables["france"].iloc[0]]).assign(mois=month)
    now = trend.iloc[-1]
    before = trend.iloc[-2] if len(trend) > 1 else None
    cards = []
    for s in STAGES:
        rate = float(now[f"taux_{s}"])
        if before is None:
            change = "pas de mois précédent enregistré"
        else:
            delta = rate - float(before[f"taux_{s}"])
            sign = "+" if delta >= 0 else "−"
            change = (
                f"{sign}{_format.number(abs(delta), decimals=1)} point depuis "
                f"{_format.month(str(before['mois']))}"
            )
        when = projected_full_coverage(
            [str(m) for m in trend["mois"]], [float(r) for r in trend[f"taux_{s}"]]
        )
        if rate >= 100:
            projection = "objectif atteint"
        elif when is None:
            projection = (
                "projection impossible : un seul mois enregistré"
                if len(trend) < 2
                else "pas de progression : pas de date d'arrivée à 100 %"
            )
        else:
            projection = f"100 % prévu en {_format.month(when)} au rythme des mois enregistrés"
        cards.append(
            f'<div class="chiffre"><b>{_e(_format.percent(rate))}</b>'
            f"de la population couverte ({_e(stage(s).short)} ou plus)"
            f'<div class="jauge" title="objectif 100 %"><span style="width:{min(rate, 100):.1f}%;'
            f'background:{stage(s).colour}"></span></div>'
            f"{_e(_format.integer(now[f'pop_{s}']))} / {_e(_format.integer(now['population']))} "
            f"habitants<br>{_e(change)}<br><i>{_e(projection)}</i></div>"
        )
    zones = tables["zones-blanches"]
    shown = zones[["zone_id", "nom_zone", "noms_communes", "population"]].copy()
    shown["noms_communes"] = _communes_summary(zones, tables["communes"])
    if recommended:
        shown["option_recommandee"] = shown["zone_id"].map(recommended).fillna("")
    # each zone links to its fiche
    zone_links = {z: fiches[z] for z in shown["zone_id"] if z in fiches}
    table = html_table(shown, links={"zone_id": zone_links})
    return [
        '<h2 id="synthese">L\'essentiel : objectif 100 % de la population couverte</h2>',
        '<p class="note">Objectif : 100 % de la population couverte par une CPTS. Une commune '
        "est couverte à un stade quand une CPTS de ce stade ou d'un stade plus avancé la "
        "revendique ; chaque habitant est compté une fois.</p>",
        f'<div class="chiffres">{"".join(cards)}</div>',
        *(
            f'<figure class="carte"><img src="{_e(png)}" alt="Carte du département {_e(dep)} : '
            'couverture par stade et zones blanches"></figure>'
            for dep, png in (figures or {}).items()
        ),
        '<img src="graphique-evolution.png" alt="Évolution de la couverture par stade">',
        f"<h3>{_e(_format.plural(len(zones), 'zone blanche', 'zones blanches'))}, "
        f"{_e(_format.plural(int(zones['population'].sum()), 'habitant'))}</h3>",
        *_unclaimed_note(unclaimed),
        table,
    ]


def _unclaimed_note(unclaimed: int) -> list[str]:
    """Say the share of shared communes no CPTS claims: neither covered nor in a zone blanche."""
    if unclaimed <= 0:
        return []
    said = _format.plural(unclaimed, "habitant non attribué", "habitants non attribués")
    return [
        f'<p class="note">Et {_e(said)} : part de communes partagées dont les parts des CPTS '
        "font moins de 1, comptée non couverte mais hors zones blanches (détail : couverture "
        "verifier).</p>"
    ]


def _html_epci(epci: pd.DataFrame) -> list[str]:
    """Section « Par EPCI »: population and the share covered at each stage."""
    shown = epci.drop(columns=[f"pop_{s}" for s in STAGES]).sort_values(
        "population", ascending=False
    )
    full = shown["nom"].astype(str)
    shown = shown.assign(nom=full.map(_format.short_epci))
    return [
        '<h2 id="epci">Par EPCI</h2>',
        '<p class="note">Communes du périmètre seulement (un EPCI à cheval sur deux '
        "départements est compté pour sa partie dans le périmètre). CC : communauté de "
        "communes, CA : communauté d'agglomération, CU : communauté urbaine (nom complet au "
        "survol).</p>",
        html_table(shown, hover={"nom": dict(zip(shown["nom"], full, strict=True))}),
    ]


def _html_cpts(cpts: pd.DataFrame) -> list[str]:
    """Section « Par CPTS »: stage, population, taille, months at the current stage."""
    cols = ["nom", "stade", *(["mois_au_stade"] if "mois_au_stade" in cpts else [])]
    cols += ["n_communes", "population", "taille", "financement_max"]
    shown = cpts.sort_values(["population", "nom"], ascending=[False, True])[cols]
    note = (
        ""
        if "mois_au_stade" in cpts
        else '<p class="note">Le registre ne date pas les stades : durée au stade inconnue.</p>'
    )
    return [
        '<h2 id="cpts">Par CPTS</h2>',
        f"<p>{_e(_format.plural(len(cpts), 'CPTS', 'CPTS'))} dont la population vit "
        "principalement dans le périmètre.</p>",
        html_table(shown),
        note,
    ]


def _html_professionnels(pros: pd.DataFrame) -> list[str]:
    """Section « Professionnels »: each CPTS's professionals, adherent and active (issue 23)."""
    cols = ["nom", "professionnels", "liberaux", "medecins_generalistes", "adherents", "actifs"]
    shown = pros.sort_values(["nom"])[[*cols, "part_adherents", "part_actifs"]].copy()
    unknown = int(shown["adherents"].isna().sum())
    for col in ("adherents", "actifs"):
        shown[col] = shown[col].map(_format.integer)
    for col in ("part_adherents", "part_actifs"):
        shown[col] = shown[col].map(_format.percent)
    return [
        '<h2 id="professionnels">Professionnels et adhésions</h2>',
        "<p>Professionnels de santé exerçant sur le territoire de chaque CPTS (personnes "
        "distinctes de l'annuaire, chacune comptée dans chaque CPTS où elle exerce) ; part "
        "adhérente et active, second indicateur de suivi de l'instruction.</p>",
        html_table(shown),
        f'<p class="note">{_e(_format.plural(unknown, "CPTS", "CPTS"))} sans adhésions '
        "déclarées.</p>"
        if unknown
        else "",
    ]


def _html_fingerprints(a: Analysis) -> list[str]:
    """Section « Empreintes techniques »: what identifies the registry and the code."""
    return [
        '<h2 id="empreintes">Empreintes techniques</h2>',
        f'<p class="note">Fichier {_e(a.meta["registre"])} · empreinte du registre '
        f"{_e(a.registry_digest)} · version du code {_e(code_version())}</p>",
    ]


def _html_evolution(
    month: str,
    *,
    evolution: pd.DataFrame,
    previous: str | None,
    past: pd.DataFrame,
    communes: pd.DataFrame | None = None,
) -> list[str]:
    """Section « Évolution »: changes since the previous month, then the months stored."""
    parts = ['<h2 id="evolution">Évolution depuis le mois précédent</h2>']
    if previous is None:
        parts.append(
            '<p class="note">Premier mois enregistré dans l\'historique pour ce type de '
            "registre : pas de comparaison.</p>"
        )
    else:
        parts.append(
            f"<p>Changements entre {_e(month_label(previous))} et {_e(month_label(month))} : "
            f"{_e(_format.plural(len(evolution), 'ligne'))}.</p>"
        )
        shown = evolution.drop(columns=["type", "communes"]).copy()
        shown["noms_communes"] = (
            _communes_summary(evolution, communes)
            if communes is not None
            else shown["noms_communes"].map(_short_list)
        )
        parts.append(html_table(shown))
    parts += [
        "<h3>Mois enregistrés</h3>",
        html_table(past.drop(columns=[f"pop_{s}" for s in STAGES] + ["libelle_registre"])),
    ]
    return parts


def _html_regions(a: Analysis, regions: pd.DataFrame) -> list[str]:
    """Section « Taux par région »."""
    parts = ['<h2 id="regions">Taux par région</h2>']
    if a.departements is not None:
        parts.append('<p class="note">Départements du périmètre seulement.</p>')
    parts.append(html_table(regions))
    return parts


def _html_departements(departements: pd.DataFrame, dep_links: dict[str, str]) -> list[str]:
    """Section « Taux par département », each code linking to its map when there is one."""
    return [
        '<h2 id="departements">Taux par département</h2>',
        html_table(departements, links={"code": dep_links}),
        '<img src="graphique-departements.png" alt="Couverture par département">',
    ]


def _html_zones(
    tables: dict[str, pd.DataFrame],
    *,
    recommended: dict[str, str],
    dep_links: dict[str, str],
    files: dict[str, str],
    fiches: dict[str, str] | None = None,
) -> list[str]:
    """Section « Zones blanches par département »: one sub-section per département."""
    zones = tables["zones-blanches"]
    # a wide table (communes, neighbours, recommended option): a landscape page in print
    parts = ['<div class="paysage">', '<h2 id="zones">Zones blanches par département</h2>']
    if zones.empty:
        parts.append('<p class="note">Aucune zone blanche.</p>')
    dep_names = tables["departements"].set_index("code")["nom"].to_dict()
    # the communes of the zones shown, summed up once for every département
    shown = zones.groupby("departement", sort=False).head(MAX_ZONES_PER_DEPARTEMENT)
    summaries = _communes_summary(shown, tables["communes"])
    for dep_key, group in zones.groupby("departement", sort=True):
        dep = str(dep_key)
        parts += _html_zones_departement(
            dep,
            group,
            dep_name=dep_names.get(dep, ""),
            dep_link=dep_links.get(dep),
            recommended=bool(recommended),
            xlsx=files["xlsx"],
            fiches=fiches or {},
            summaries=summaries,
        )
    parts.append("</div>")
    return parts


def _html_zones_departement(
    dep: str,
    group: pd.DataFrame,
    *,
    dep_name: str,
    dep_link: str | None,
    recommended: bool,
    xlsx: str,
    fiches: dict[str, str] | None = None,
    summaries: pd.Series,
) -> list[str]:
    """Return the zones blanches of one département, cut at :data:`MAX_ZONES_PER_DEPARTEMENT`."""
    title = _e(
        f"{dep} — {dep_name} : "
        f"{_format.plural(len(group), 'zone blanche', 'zones blanches')}, "
        f"{_format.plural(int(group['population'].sum()), 'habitant')}"
    )
    if dep_link is not None:
        title += f' · <a href="{_e(dep_link)}">carte</a>'
    fiches = fiches or {}
    if dep in fiches:
        title += f' · <a href="{_e(fiches[dep])}">fiches des zones</a>'
    if f"pdf-{dep}" in fiches:
        title += f' · <a href="{_e(fiches[f"pdf-{dep}"])}">livret PDF</a>'
    cols = ["zone_id", "nom_zone", "noms_communes", "n_communes", "population", "superficie_km2"]
    cols += ["cpts_voisines"] + (["option_recommandee"] if recommended else [])
    shown = group[cols].head(MAX_ZONES_PER_DEPARTEMENT).copy()
    shown["noms_communes"] = summaries.reindex(shown.index)
    shown["cpts_voisines"] = shown["cpts_voisines"].str.replace("|", ", ")
    zone_links = {z: fiches[z] for z in shown["zone_id"] if z in fiches}
    parts = [f"<h3>{title}</h3>", html_table(shown, links={"zone_id": zone_links})]
    if len(group) > MAX_ZONES_PER_DEPARTEMENT:
        parts.append(
            f'<p class="note">… et {len(group) - MAX_ZONES_PER_DEPARTEMENT} autres zones '
            f"(classeur {_e(xlsx)}, feuille « Zones blanches »).</p>"
        )
    return parts


def _html_overlaps(overlaps: pd.DataFrame) -> list[str]:
    """Section « Chevauchements à arbitrer »: the units claimed without a declared share."""
    to_settle = overlaps[overlaps["type"] == "chevauchement"].drop(columns="type")
    shared = overlaps[overlaps["type"] == "partage"]
    return [
        '<h2 id="chevauchements">Chevauchements à arbitrer</h2>',
        f"<p>{_e(_format.plural(len(to_settle), 'commune revendiquée', 'communes revendiquées'))}"
        " par plusieurs CPTS sans partage déclaré ; "
        f"{_e(_format.plural(len(shared), 'commune partagée', 'communes partagées'))} (parts "
        "déclarées ou grande ville), listées dans le classeur.</p>",
        html_table(to_settle.assign(cpts=to_settle["cpts"].str.replace("|", ", "))),
    ]


def _html_files(
    links: dict[str, str], files: dict[str, str], fiches: dict[str, str] | None = None
) -> list[str]:
    """Section « Fichiers et cartes »: the workbook, GeoPackage, CSV files and maps."""
    items = [
        f'<li><a href="{_e(files["xlsx"])}">{_e(files["xlsx"])}</a> : toutes les tables '
        "(une feuille par table)</li>",
        f'<li><a href="{_e(files["gpkg"])}">{_e(files["gpkg"])}</a> : zones blanches et '
        "propositions (GeoPackage, WGS84)</li>",
    ]
    items += [
        f'<li><a href="{_e(v)}">{_e(v)}</a></li>' for k, v in files.items() if v.endswith(".csv")
    ]
    if "index" in links:
        items.insert(0, f'<li><a href="{_e(links["index"])}">Cartes interactives</a></li>')
    fiches = fiches or {}
    for dep in sorted(k.removeprefix("pdf-") for k in fiches if k.startswith("pdf-")):
        items.insert(
            0,
            f'<li>Fiches des zones blanches ({_e(dep)}) : <a href="{_e(fiches.get(dep, ""))}">'
            f'pages à imprimer</a> · <a href="{_e(fiches[f"pdf-{dep}"])}">livret PDF</a></li>',
        )
    if not any(k.startswith("pdf-") for k in fiches):
        items.append(
            "<li>Fiches des zones blanches à imprimer pour une réunion : <code>couverture "
            "fiches --registre … --departement XX</code> (ou ce rapport avec "
            "<code>--departement</code>)</li>"
        )
    return [
        '<h2 id="fichiers">Fichiers et cartes</h2>',
        "<ul>" + "".join(items) + "</ul>",
        '<p class="note">Fichiers CSV : séparateur « ; », virgule décimale, UTF-8 avec BOM.</p>',
    ]
