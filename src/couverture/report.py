"""Monthly report: HTML page, XLSX workbook, CSV files, GeoPackage, charts and history.

:func:`build_report` writes ``<sortie>/<YYYY-MM>/`` (``./reports/YYYY-MM`` by default):

``index.html``
    French, readable offline and printable (inline CSS, charts as relative PNG files): rates
    by stage for France, régions and départements, zones blanches per département with the
    recommended option, chevauchements to arbitrate, changes since the previous month stored,
    charts, links to the maps.
``couverture-YYYY-MM.xlsx``
    one sheet per table, frozen header row, French column titles.
``*-YYYY-MM.csv``
    the same tables for people: ``;`` separator, decimal comma, UTF-8 with BOM (Excel).
``zones-YYYY-MM.gpkg``
    layers ``zones_blanches`` and, when proposals are available, ``propositions`` (WGS84).

The whole directory is built next to the target under a temporary name and swapped in, then
the month's snapshot is stored in the history (one transaction). A failed commit puts the
previous directory back at once; a run killed between the swap and the commit is undone by the
next run (the history is checked for the snapshot the new directory names), so that the
report and the history never disagree.

Examples
--------
>>> from couverture.report import build_report
>>> build_report("data/raw/registre_demo.csv", month="2026-11")  # doctest: +SKIP
PosixPath('reports/2026-11')
"""

from __future__ import annotations

import contextlib
import functools
import html
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture import _format, _output, history
from couverture._cache import code_version
from couverture._config import STAGES, ColumnTitles, pre_stage, stage
from couverture._output import (
    IDENTIFIERS,
    FolderSwap,
    neutralise_frame,
    new_folder,
    recover_folders,
    staged_folder,
    worded,
)
from couverture.alerts import linear_projection
from couverture.coverage import UNIT_OUTPUT_COLUMNS
from couverture.settings import CRS_WEB
from couverture.zones import main_towns, members

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis
    from couverture.professionnels import Annuaire

log = logging.getLogger(__name__)


#: French titles of the columns of the human tables (XLSX sheets, CSV files, HTML).
COLUMN_TITLES = ColumnTitles("titre")  # config/titres_colonnes.csv, read on first use


def column_titles() -> Mapping[str, str]:
    """French titles of the columns of the human tables (see :data:`COLUMN_TITLES`)."""
    return COLUMN_TITLES


def _stage_labels() -> dict[str, str]:
    return {s: stage(s).label for s in STAGES}


RATE_COLUMNS = [
    "code",
    "nom",
    "n_communes",
    "population",
    *(f"pop_{s}" for s in STAGES),
    *(f"taux_{s}" for s in STAGES),
]
HISTORY_COLUMNS = [
    "mois",
    "libelle_registre",
    "perimetre",
    "n_cpts",
    "population",
    *(f"pop_{s}" for s in STAGES),
    *(f"taux_{s}" for s in STAGES),
    "n_zones",
    "population_zones",
    "n_chevauchements",
]
# HTML lists are cut here (the workbook has everything)
MAX_ZONES_PER_DEPARTEMENT = 15
MAX_NAMES = 12


def month_label(month: str) -> str:
    """Return ``novembre 2026`` for ``2026-11`` (the month is checked first)."""
    return _format.month(history.check_month(month))


# ------------------------------------------------------------------------------------------
# human tables
# ------------------------------------------------------------------------------------------
def french_titles(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename the columns of a table to their French titles (:data:`COLUMN_TITLES`).

    Its values too are put in words: stages, options (:func:`couverture._output.worded`).
    """
    return worded(frame).rename(columns=lambda c: column_titles().get(c, c))


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a human CSV: ``;`` separator, decimal comma, UTF-8 with BOM, French titles.

    The file is meant for a spreadsheet: a text cell that it would run as a formula (``=``,
    ``+``, ``-``, ``@``…) is prefixed with ``'`` (:func:`couverture._output.neutralise`).
    """
    neutralise_frame(french_titles(frame)).to_csv(
        path, sep=";", decimal=",", index=False, encoding="utf-8-sig", lineterminator="\r\n"
    )


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    """Write one sheet per table: French titles, frozen header row, readable widths.

    The one spreadsheet writer (:func:`couverture._output.write_xlsx`), with the report's options.
    """
    worded_sheets = {name: worded(frame) for name, frame in sheets.items()}  # values in words
    _output.write_xlsx(
        worded_sheets, path, freeze_header=True, readable_widths=True, float_format="0.00"
    )


# ------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------
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
    import pandas as pd

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


# ------------------------------------------------------------------------------------------
# charts (matplotlib figures without pyplot: no backend switched, couverture._figure)
# ------------------------------------------------------------------------------------------
def _plt() -> Any:
    from couverture import _figure

    return _figure


def chart_months(months: pd.DataFrame, path: Path) -> None:
    """Line chart of the coverage rate by stage over the months (table ``mois`` rows)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = list(range(len(months)))
    for s in STAGES:
        ax.plot(x, months[f"taux_{s}"], marker="o", color=stage(s).colour, label=stage(s).label)
    ax.set_xticks(x, [month_label(m) for m in months["mois"]], rotation=30, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("population couverte (%)")
    ax.set_title("Couverture par stade, mois par mois (stade atteint ou dépassé)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chart_departements(rates: pd.DataFrame, path: Path) -> None:
    """Stacked horizontal bars: share of each département's population by best stage."""
    import numpy as np

    plt = _plt()
    rates = rates.sort_values("code", ascending=False)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.2 * len(rates)))
    labels = [f"{c} {n}" for c, n in zip(rates["code"], rates["nom"], strict=True)]
    aci = rates["taux_aci"].to_numpy()
    ps = rates["taux_projet_sante"].to_numpy() - aci
    li = rates["taux_lettre_intention"].to_numpy() - rates["taux_projet_sante"].to_numpy()
    left = np.zeros(len(rates))
    for values, s in ((aci, "aci"), (ps, "projet_sante"), (li, "lettre_intention")):
        ax.barh(labels, values, left=left, color=stage(s).colour, label=stage(s).label)
        left = left + values
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.7, len(rates) - 0.3)
    ax.set_xlabel("population (%)")
    ax.set_title("Population couverte par département, selon le stade le plus avancé", pad=22)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: Towns named on the report's map of a département (:func:`couverture.zones.main_towns`).
MAP_TOWNS = 10
#: Zones blanches named on the report's map (the most populated; the table lists them all).
MAP_ZONES = 10


def chart_departement_map(
    a: Analysis, dep: str, path: Path, *, zone_names: pd.DataFrame, title: str
) -> None:
    """Draw a département for the page: units by stage, zones blanches, main towns.

    The figure a printed report carries (the interactive maps need a screen). Zones blanches
    are outlined in red and the largest named by place; the most populated towns are named
    from the units' own data (no basemap, no network); names are moved apart (adjustText).
    """
    import geopandas as gpd
    from adjustText import adjust_text
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from couverture._config import metric_crs

    plt = _plt()
    geoms = a.map_geometries(niveau="unite", departements=[dep])
    units = a.units().set_index("code")
    crs = metric_crs(dep)
    frame = gpd.GeoDataFrame(
        {"stade": units["stade"].reindex(geoms.index)}, geometry=geoms.geometry, crs="EPSG:4326"
    ).to_crs(crs)
    fig, ax = plt.subplots(figsize=(7.6, 6.4))
    white = frame[frame["stade"].isna()]
    if len(white):
        white.plot(ax=ax, facecolor="white", edgecolor="#bbbbbb", lw=0.2)
    for s in STAGES:
        part = frame[frame["stade"] == s]
        if len(part):
            part.plot(ax=ax, facecolor=stage(s).colour, edgecolor="#ffffff", lw=0.15, alpha=0.8)
    zones = a.zones()
    zones = zones[zones["departement"] == dep].head(MAP_ZONES)
    zone_geoms = (
        a.member_geometries(members(zones, key="zone_id"), key="zone_id").dropna().to_crs(crs)
    )
    if len(zone_geoms):
        zone_geoms.boundary.plot(ax=ax, color="#b00020", linewidth=1.1)
    texts = []
    halo = _halo()
    for zone_id, geom in zone_geoms.items():
        p = geom.representative_point()
        place = str(zone_names["lieu"].get(zone_id, zone_id))
        texts.append(
            ax.text(p.x, p.y, place, fontsize=6.5, color="#7a0016", ha="center",
                    va="center", path_effects=halo, style="italic", zorder=6)
        )  # fmt: skip
    table = a.unit_table()
    towns = main_towns(table[table["departement"] == dep], limit=MAP_TOWNS).set_index("code")
    for code in towns.index:
        if code in frame.index:
            p = frame.geometry[code].representative_point()
            ax.plot(p.x, p.y, "o", color="black", markersize=2.5, zorder=7)
            texts.append(
                ax.text(p.x, p.y, str(towns.at[code, "nom"]), fontsize=7.5, weight="bold",
                        ha="center", va="center", path_effects=halo, zorder=8)
            )  # fmt: skip
    ax.set_axis_off()
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    fig.canvas.draw()
    if texts:
        adjust_text(texts, ax=ax, expand=(1.1, 1.3), ensure_inside_axes=True)
    handles: list[Any] = [
        Patch(
            facecolor=stage(s).colour, alpha=0.8, label=f"{stage(s).label} (stade le plus avancé)"
        )
        for s in STAGES
    ]
    handles += [
        Patch(facecolor="white", edgecolor="#bbbbbb", label="Commune non couverte"),
        Line2D([], [], color="#b00020", lw=1.2, label="Zone blanche (nommée : les plus peuplées)"),
        Line2D([], [], marker="o", color="black", lw=0, markersize=3, label="Ville principale"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _halo() -> list[Any]:
    import matplotlib.patheffects as pe

    return [pe.withStroke(linewidth=2.2, foreground="white")]


# ------------------------------------------------------------------------------------------
# the later stages the report includes (proposals, maps, fiches), each can be left out
# ------------------------------------------------------------------------------------------
def _suggestions(a: Analysis, porteurs: pd.DataFrame | None) -> pd.DataFrame:
    from couverture.porteurs import proposals_of

    log.info("propositions pour les zones blanches…")
    return proposals_of(a, porteurs)


_OPTION_WORDS = {
    "extension": "extension de",
    "creation": "création de",
    "rattachement_temporaire": "rattachement temporaire à",
}


def _recommended(proposals: pd.DataFrame | None) -> dict[str, str]:
    """Return the recommended scenario of each zone, in words (its parts joined by « ; »)."""
    if proposals is None or proposals.empty:
        return {}
    best = proposals[proposals["recommandee"].astype(str).str.lower() == "oui"]
    out: dict[str, list[str]] = {}
    for row in best.itertuples(index=False):
        target = str(row.cpts_cible or "") if row.option != "creation" else ""
        target = target or str(getattr(row, "nom_propose", "") or "")
        text = f"{_OPTION_WORDS.get(str(row.option), str(row.option))} {target}".strip()
        text += f" ({fmt_number(row.population_resultante)} hab. après)"
        porteur = str(getattr(row, "porteur_potentiel", "") or "")
        if porteur:
            text += f", porteur potentiel : {porteur}"
        out.setdefault(str(row.zone_id), []).append(text)
    return {zone: " ; ".join(parts) for zone, parts in out.items()}


def _maps(
    a: Analysis, out_dir: Path, proposals: pd.DataFrame | None, **annuaire: Any
) -> dict[str, str]:
    """Build the maps into the report directory; return {département: relative link}.

    ``annuaire``: ``annuaire`` and ``adhesions`` of :func:`couverture.maps.build_maps`.
    """
    from couverture.maps import build_maps

    build_maps(a, out_dir / "cartes", suggestions=proposals, **annuaire)
    links = {}
    for page in sorted(out_dir.rglob("*.html")):
        rel = page.relative_to(out_dir).as_posix()
        if page.stem.startswith("departement-"):
            links[page.stem.removeprefix("departement-")] = rel
        elif page.name == "index.html" and page.parent != out_dir:
            links["index"] = rel
    return links


def _read_porteurs(path: Path | str | None) -> pd.DataFrame | None:
    if path is None:
        return None
    from couverture.porteurs import read_porteurs

    return read_porteurs(path)


def _fiches(
    a: Analysis,
    out_dir: Path,
    proposals: pd.DataFrame,
    porteurs: pd.DataFrame | None,
    annuaire: Annuaire | None = None,
) -> dict[str, str]:
    """Write the fiches of the report's départements into ``fiches/``.

    Return relative links ``{département: booklet index, zone_id: fiche page}``.
    """
    from couverture.fiches import build_fiches

    written = build_fiches(
        a, out_dir / "fiches", proposals=proposals, porteurs=porteurs, annuaire=annuaire
    )
    links: dict[str, str] = {}
    for dep, fiche_set in written.items():
        links[dep] = fiche_set.index.relative_to(out_dir).as_posix()
        if fiche_set.pdf is not None:
            links[f"pdf-{dep}"] = fiche_set.pdf.relative_to(out_dir).as_posix()
        for zone_id, page in fiche_set.pages.items():
            links[zone_id] = page.relative_to(out_dir).as_posix()
    return links


# ------------------------------------------------------------------------------------------
# atomic directory swap, in step with the history
# ------------------------------------------------------------------------------------------
def _committed(stamp: dict[str, Any]) -> bool:
    """Tell whether the run that left ``stamp`` committed its month (see :func:`_recover`)."""
    if not {"mois", "empreinte", "ecrit_le"} <= set(stamp):
        return False
    try:
        return history.holds(
            str(stamp["mois"]),
            empreinte=str(stamp["empreinte"]),
            written_at=str(stamp["ecrit_le"]),
            path=stamp.get("historique"),
        )
    except history.HistoryError:
        return False


def _recover(target: Path) -> None:
    """Clean up after a killed run, touching only the folders a run of ``rapport`` created.

    A report killed before its swap left the previous report in place; one killed between its
    swap and its history commit is taken out again (the previous report put back), so that the
    report folder and the history always show the same month; one killed after the commit is
    kept. Names are recognised by the run's pid and random token, checked against the stamp
    file the run wrote (:func:`couverture._output.recover_folders`): any other folder, such as
    a user's ``.2026-11.sauvegarde``, is left alone.
    """
    recover_folders(target.parent, committed=_committed)


def _staging(target: Path) -> contextlib.AbstractContextManager[FolderSwap]:
    """Recover from a killed run, then return the staged folder of ``target``'s new report."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _recover(target)
    return staged_folder(target)


def _swap(stage: FolderSwap, snap: history.Snapshot, **save: Any) -> None:
    """Swap the new report in, then commit its month to the history.

    The stamp left in the new report names the snapshot (digest, ``ecrit_le``, history file)
    before the swap: if the run dies between the swap and the commit, the next run sees that
    the history does not hold it and puts the previous report back (:func:`_recover`). If the
    commit fails, the previous report is put back at once (by :func:`_staging`'s context).
    """
    import datetime as dt

    written_at = dt.datetime.now().replace(microsecond=0)
    path = save.get("path")
    stage.note(
        mois=save["month"],
        empreinte=snap.info["empreinte"],
        ecrit_le=written_at.isoformat(),
        historique=str(Path(path).resolve()) if path is not None else None,
    )
    stage.swap_in()
    history.save_snapshot(snap, written_at=written_at, **save)


# ------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------
def _tables(a: Analysis, snap: history.Snapshot) -> dict[str, pd.DataFrame]:
    """Return the report's tables, machine column names (see :data:`COLUMN_TITLES`)."""
    rates = {n: a.rates(niveau=n)[RATE_COLUMNS] for n in history.RATE_LEVELS}
    if a.departements is not None:
        rates["france"]["nom"] = "Périmètre du rapport (" + ", ".join(a.departements) + ")"
    units = a.units()
    zones = a.zones().drop(columns="cpts_voisines_ids").copy()
    # named by place, communes most populated first (one function for every document)
    named = a.zone_names()
    zones.insert(1, "nom_zone", zones["zone_id"].map(named["nom_zone"]))
    zones.insert(5, "noms_communes", zones["zone_id"].map(named["noms_communes"]))
    cpts = a.cpts().reset_index()
    at_stage = months_at_stage(a.registry.cpts, cpts, registry_date=a.meta["date_registre"])
    if at_stage is not None:
        cpts.insert(cpts.columns.get_loc("stade") + 1, "mois_au_stade", at_stage)
    cpts["stade"] = cpts["stade"].astype(object).map(_stage_labels()).fillna(pre_stage().label)
    cpts = cpts.merge(snap.cpts[["cpts_id", "communes"]], on="cpts_id", how="left")
    communes = units[[c for c in UNIT_OUTPUT_COLUMNS if c != "n_cpts"]].copy()
    communes["stade"] = communes["stade"].map(_stage_labels()).fillna("Non couverte")
    out = {
        "france": rates["france"],
        "regions": rates["region"],
        "departements": rates["departement"],
        "zones-blanches": zones,
        "chevauchements": a.overlaps(),
        "cpts": cpts,
        "communes": communes,
    }
    if a.departements is not None:
        # the EPCIs of a département report (their communes in the périmètre)
        out["epci"] = a.rates(niveau="epci")[RATE_COLUMNS]
    return out


def months_at_stage(
    registry_cpts: pd.DataFrame, cpts: pd.DataFrame, *, registry_date: str
) -> pd.Series | None:
    """Whole months each CPTS has spent at its current stage.

    From the registry's stage dates (``date_lettre_intention``…) to the registry's date;
    ``None`` when the registry has no stage date at all (``<NA>`` for a CPTS whose current stage
    has no date).

    Parameters
    ----------
    registry_cpts
        :attr:`couverture.registry.Registry.cpts` (index ``cpts_id``, optional ``date_*``).
    cpts
        Rows with ``cpts_id`` and ``stade`` (codes).
    registry_date
        ISO date the registry describes (``Analysis.meta["date_registre"]``).
    """
    import pandas as pd

    dated = [c for c in (f"date_{s}" for s in STAGES) if c in registry_cpts.columns]
    if not dated or registry_cpts[dated].isna().all().all():
        return None
    # a registry dated by its file name may give a month only (``2026-01``)
    text = str(registry_date)
    ref = pd.to_datetime(text + "-01" if len(text) == 7 else text[:10], errors="coerce")
    out = []
    for cid, stade in zip(cpts["cpts_id"], cpts["stade"], strict=True):
        col = f"date_{stade}" if isinstance(stade, str) else None
        value = registry_cpts[col].get(cid) if col in dated else None
        when = pd.to_datetime(value, errors="coerce") if value is not None else pd.NaT
        if pd.isna(when) or pd.isna(ref):
            out.append(pd.NA)
        else:
            months = (ref.year - when.year) * 12 + ref.month - when.month
            out.append(max(months - (ref.day < when.day), 0))
    return pd.Series(out, index=cpts.index, dtype="Int64")


def projected_full_coverage(
    months: list[str], rates: list[float], *, target: float = 100.0
) -> str | None:
    """Return the month (``AAAA-MM``) a coverage rate reaches ``target`` at a linear pace.

    The pace is the one observed between the first and the last month recorded.

    Returns the last month when the target is already reached, ``None`` with fewer than two
    months or without progress. (A deliberately simple projection: the plan module gives a
    richer one.) The pace and month are :func:`couverture.alerts.linear_projection`'s.

    Examples
    --------
    >>> projected_full_coverage(["2026-09", "2026-11"], [80.0, 90.0])
    '2027-01'
    >>> projected_full_coverage(["2026-11"], [90.0]) is None
    True
    """
    if not months:
        return None
    if rates[-1] >= target:
        return months[-1]
    return linear_projection(months, rates, target=target)[1]


def _perimeter_trend(
    month: str,
    *,
    departements: tuple[str, ...],
    fictif: bool,
    current: pd.DataFrame,
    path: Path | str | None,
) -> pd.DataFrame:
    """Rates of the périmètre's départements.

    Month by month (``mois``, ``population``, ``pop_*``, ``taux_*``): every month stored before
    ``month`` (of the same kind of registry, whatever the périmètre of its report) that holds
    all of them, then this one.
    """
    import pandas as pd

    pops = ["population", *(f"pop_{s}" for s in STAGES)]
    try:
        stored = history.series(path=path, niveau="departement")
    except history.HistoryError:
        stored = pd.DataFrame()
    if not stored.empty:
        stored = stored[
            (stored["mois"] < month)
            & (stored["fictif"] == fictif)
            & stored["code"].isin(departements)
        ]
        complete = stored.groupby("mois")["code"].transform("nunique") == len(departements)
        stored = stored[complete].groupby("mois", as_index=False)[pops].sum()
    now = current[current["code"].isin(departements)][pops].sum().to_frame().T
    trend = pd.concat([stored, now.assign(mois=month)], ignore_index=True)[["mois", *pops]]
    for s in STAGES:
        share = 100.0 * trend[f"pop_{s}"].astype(float) / trend["population"].astype(float)
        trend[f"taux_{s}"] = share.where(trend["population"] > 0, 0.0).round(2)
    return trend


def build_report(
    registry: Path | str,
    *,
    month: str,
    output_dir: Path | str | None = None,
    default_stage: str | None = None,
    departements: str | tuple[str, ...] | None = None,
    shared_threshold: int | None = None,
    history_path: Path | str | None = None,
    suggestions: bool = True,
    maps: bool = True,
    replace_scope: bool = False,
    plan: Path | str | None = None,
    fiches: bool = True,
    porteurs: Path | str | None = None,
    annuaire: Path | str | None = None,
    adhesions: Path | str | None = None,
) -> Path:
    """Write the monthly report of a registry and store the month in the history.

    Parameters
    ----------
    registry
        The CPTS registry (CSV or XLSX).
    month
        The report's month, ``YYYY-MM`` (always explicit, never "today").
    output_dir
        Parent directory of the report (default ``./reports``); the report is
        ``output_dir/YYYY-MM``.
    default_stage
        Stage of the CPTS without one.
    departements
        Restrict the report to these départements (``"35"``, ``"2A,2B"``).
    shared_threshold
        Population from which a unit claimed by several CPTS is a commune partagée.
    history_path
        The history store (default :data:`couverture.settings.HISTORY_PATH`).
    suggestions
        Add the proposals of :mod:`couverture.suggest` (when available): recommended option
        per zone blanche, sheet and layer ``propositions``.
    maps
        Build the maps (when :mod:`couverture.maps` is available) into ``cartes/``.
    replace_scope
        Let this report replace a month stored in the history for another périmètre.
    plan
        A plan d'action filled by the task force: adds the section « Plan d'action » and the
        remontée (:func:`couverture.remontee.report_section`).
    fiches
        For a département report with proposals, write the fiches of its zones blanches
        (:mod:`couverture.fiches`) into ``fiches/`` and link them.
    porteurs
        FINESS extract or simple CSV of potential porteurs (:mod:`couverture.porteurs`),
        listed on the fiches and named in the creation proposals.
    annuaire, adhesions
        RPPS extract (or simple CSV) and adhesions CSV (:mod:`couverture.professionnels`):
        the professionals of each CPTS, adherent and active (section « Professionnels »,
        sheet and CSV ``professionnels``).

    Returns
    -------
    pathlib.Path
        The report directory.
    """
    from couverture.analysis import analyse

    month = history.check_month(month)
    target = Path(output_dir if output_dir is not None else Path.cwd() / "reports") / month
    # one order for every run: the report is written aside, swapped in, then the month is
    # committed to the history; a failure or a kill at any step leaves both as they were (and
    # no empty reports/ folder)
    with new_folder(target.parent), _staging(target) as stage:
        tmp = stage.new
        with analyse(
            registry,
            default_stage=default_stage,
            departements=departements,
            shared_threshold=shared_threshold,
        ) as a:
            a.check_departements()
            a.limit_to_registry()  # a regional registry: its départements, the rest hors registre
            if a.extent_source == "registre" and a.departements is not None:
                log.warning(
                    "rapport %s : le registre ne porte que sur %s (%s) : rapport de ce "
                    "périmètre, le reste de la France est hors registre",
                    month,
                    _format.plural(len(a.departements), "département"),
                    ", ".join(a.departements),
                )
            # refuse before computing anything, not after (save_snapshot checks again)
            history.check_scope(
                month,
                perimetre=history.perimeter(a),
                path=history_path,
                replace_scope=replace_scope,
                fictif=bool(a.meta["fictif"]),
            )
            log.info("rapport %s : analyse du registre %s…", month, a.registry_path.name)
            snap = history.snapshot(a)
            tables = _tables(a, snap)
            read = None
            if annuaire is not None:  # the instruction's second indicator (issue 23)
                from couverture.professionnels import by_cpts, read_annuaire

                read = read_annuaire(annuaire, a)
                pros = by_cpts(a, read, adhesions=adhesions).reset_index()
                tables["professionnels"] = worded(pros, cpts=True)  # stage in words
            previous = history.previous_month(month, path=history_path, fictif=snap.info["fictif"])
            evolution = (
                history.changes(history.load_snapshot(previous, path=history_path), snap)
                if previous
                else history.changes(snap, snap).iloc[0:0]
            )
            past = _past_months(month, snap, history_path)
            trend = (
                _perimeter_trend(
                    month,
                    departements=a.departements,
                    fictif=snap.info["fictif"],
                    current=tables["departements"],
                    path=history_path,
                )
                if a.departements is not None
                else None
            )
            found = _read_porteurs(porteurs)
            proposals = _suggestions(a, found) if suggestions else None
            links = _maps(a, tmp, proposals, annuaire=read, adhesions=adhesions) if maps else {}
            fiche_links = (
                _fiches(a, tmp, proposals, found, read)
                if fiches and proposals is not None and a.departements is not None
                else {}
            )
            _write_files(
                a,
                tmp,
                month=month,
                tables=tables,
                evolution=evolution,
                previous=previous,
                past=past,
                proposals=proposals,
                links=links,
                trend=trend,
                fiches=fiche_links,
            )
            if plan is not None:
                from couverture.remontee import report_section

                report_section(a, plan, month=month, out_dir=tmp, history_path=history_path)
        # the store is closed (and its cache saved) before the report is swapped in, so that
        # index.html is newer than everything make compares it with
        log.info("rapport %s : mise en place et enregistrement dans l'historique…", month)
        _swap(stage, snap, month=month, path=history_path, replace_scope=replace_scope)
    log.info("rapport écrit : %s", target / "index.html")
    return target


def _past_months(month: str, snap: history.Snapshot, path: Path | str | None) -> pd.DataFrame:
    """Months stored before ``month`` for the same scope and kind of registry, plus this one."""
    import pandas as pd

    current = pd.DataFrame([{"mois": month, **snap.info}])
    p = Path(path) if path is not None else None
    try:
        stored = history.months(path=p)
    except history.HistoryError:
        return current[HISTORY_COLUMNS]
    same = stored[
        (stored["mois"] < month)
        & (stored["fictif"] == snap.info["fictif"])
        & (stored["perimetre"] == snap.info["perimetre"])
    ]
    return pd.concat([same, current], ignore_index=True)[HISTORY_COLUMNS]


def _write_files(
    a: Analysis,
    out: Path,
    *,
    month: str,
    tables: dict[str, pd.DataFrame],
    evolution: pd.DataFrame,
    previous: str | None,
    past: pd.DataFrame,
    proposals: pd.DataFrame | None,
    links: dict[str, str],
    trend: pd.DataFrame | None = None,
    fiches: dict[str, str] | None = None,
) -> None:
    recommended = _recommended(proposals)
    zones = tables["zones-blanches"]
    if recommended:
        zones.insert(6, "option_recommandee", zones["zone_id"].map(recommended).fillna(""))
    human: dict[str, pd.DataFrame] = {**tables, "evolution": evolution, "historique": past}
    if proposals is not None:
        human["propositions"] = proposals

    log.info("rapport %s : écriture des graphiques…", month)
    chart_months(past if trend is None else trend, out / "graphique-evolution.png")
    chart_departements(tables["departements"], out / "graphique-departements.png")

    figures: dict[str, str] = {}
    if a.departements is not None:
        log.info("rapport %s : carte des départements…", month)
        named = a.zone_names()
        dep_names = tables["departements"].set_index("code")["nom"].to_dict()
        for dep in a.departements:
            figures[dep] = f"carte-{dep}.png"
            chart_departement_map(
                a,
                dep,
                out / figures[dep],
                zone_names=named,
                title=f"{dep_names.get(dep, dep)} ({dep}) : couverture et zones blanches",
            )

    log.info("rapport %s : écriture des fichiers CSV…", month)
    csv_names = {}
    for name, frame in human.items():
        csv_names[name] = f"{name}-{month}.csv"
        write_csv(frame, out / csv_names[name])

    log.info("rapport %s : écriture du classeur…", month)
    sheets = {"Synthèse": _summary(a, month, previous)}
    titles = {
        "france": "France",
        "regions": "Régions",
        "departements": "Départements",
        "zones-blanches": "Zones blanches",
        "propositions": "Propositions",
        "chevauchements": "Chevauchements",
        "cpts": "CPTS",
        "professionnels": "Professionnels",
        "epci": "EPCI",
        "evolution": "Évolution",
        "historique": "Historique",
    }
    sheets.update({title: human[key] for key, title in titles.items() if key in human})
    workbook = f"couverture-{month}.xlsx"
    write_xlsx(sheets, out / workbook)

    log.info("rapport %s : écriture du GeoPackage…", month)
    gpkg = f"zones-{month}.gpkg"
    _write_gpkg(a, zones, proposals, out / gpkg)

    page = render_html(
        a,
        month=month,
        tables=tables,
        evolution=evolution,
        previous=previous,
        past=past,
        recommended=recommended,
        links=links,
        files={"xlsx": workbook, "gpkg": gpkg, **csv_names},
        trend=trend,
        fiches=fiches,
        figures=figures,
    )
    (out / "index.html").write_text(page, encoding="utf-8")


def _summary(a: Analysis, month: str, previous: str | None) -> pd.DataFrame:
    import pandas as pd

    rows = [
        ("Mois du rapport", month),
        ("Registre", a.meta["registre"]),
        ("Date du registre", a.meta["date_registre"]),
        ("Source de la date du registre", a.meta.get("date_registre_texte", "")),
        ("Registre fictif (démonstration)", "oui" if a.meta["fictif"] else "non"),
        ("Empreinte du registre (sha256)", a.registry_digest),
        ("Périmètre", "France entière" if a.departements is None else ", ".join(a.departements)),
        ("Population (millésime)", a.meta["population_millesime"]),
        ("Code officiel géographique", a.meta["cog"]),
        ("Comparé au mois", previous or "aucun (premier mois enregistré)"),
        ("Communes", "fichier communes-" + month + ".csv (une ligne par commune)"),
    ]
    return pd.DataFrame(rows, columns=["Rubrique", "Valeur"])


def _write_gpkg(
    a: Analysis,
    zones: pd.DataFrame,
    proposals: pd.DataFrame | None,
    path: Path,
) -> None:
    import geopandas as gpd

    # (pyogrio logs every layer written at INFO: the CLI's handler shows only our messages)
    layers = {"zones_blanches": zones}
    if proposals is not None and not proposals.empty:
        layers["propositions"] = proposals
    for name, frame in layers.items():
        geoms = a.member_geometries(members(frame), key="ligne").reindex(range(len(frame)))
        layer = gpd.GeoDataFrame(
            french_titles(frame).assign(Registre=a.meta["libelle_registre"]),
            geometry=geoms.to_list(),
            crs=CRS_WEB,
        )
        layer.to_file(path, layer=name, driver="GPKG", engine="pyogrio")


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
        Months stored, this one last (:data:`HISTORY_COLUMNS`).
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
            *_html_synthesis(tables),
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


def _html_synthesis(tables: dict[str, pd.DataFrame]) -> list[str]:
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
) -> list[str]:
    """First screen of a département report.

    Each stage against the 100 % target, the change since the last month recorded, the projected
    month of full coverage, the zones blanches with their recommended option.
    """
    import pandas as pd

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
        table,
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
            f"{len(evolution)} ligne(s).</p>"
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
        f"<p>{len(to_settle)} commune(s) revendiquée(s) par plusieurs CPTS sans partage "
        f"déclaré ; {len(shared)} commune(s) partagée(s) (parts déclarées ou grande ville), "
        "listées dans le classeur.</p>",
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
