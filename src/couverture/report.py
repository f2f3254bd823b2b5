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
import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture import history
from couverture._config import ColumnTitles
from couverture.coverage import UNIT_OUTPUT_COLUMNS
from couverture.settings import STAGE_LABELS, STAGES

if TYPE_CHECKING:
    import pandas as pd

    from couverture._output import FolderSwap
    from couverture.analysis import Analysis

log = logging.getLogger(__name__)

MONTH_NAMES = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
STAGE_SHORT = {"lettre_intention": "lettre d'intention", "projet_sante": "projet de santé"}
STAGE_SHORT["aci"] = "ACI"

#: French titles of the columns of the human tables (XLSX sheets, CSV files, HTML).
COLUMN_TITLES = ColumnTitles("titre")  # config/titres_colonnes.csv, read on first use
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
    """Return ``novembre 2026`` for ``2026-11``."""
    year, mm = history.check_month(month).split("-")
    return f"{MONTH_NAMES[int(mm) - 1]} {year}"


# ------------------------------------------------------------------------------------------
# human tables
# ------------------------------------------------------------------------------------------
def french_titles(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename the columns of a table to their French titles (:data:`COLUMN_TITLES`)."""
    return frame.rename(columns=lambda c: COLUMN_TITLES.get(c, c))


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a human CSV: ``;`` separator, decimal comma, UTF-8 with BOM, French titles.

    The file is meant for a spreadsheet: a text cell that it would run as a formula (``=``,
    ``+``, ``-``, ``@``…) is prefixed with ``'`` (:func:`couverture._output.neutralise`).
    """
    from couverture._output import neutralise_frame

    neutralise_frame(french_titles(frame)).to_csv(
        path, sep=";", decimal=",", index=False, encoding="utf-8-sig", lineterminator="\r\n"
    )


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    """Write one sheet per table: French titles, frozen header row, readable widths."""
    import pandas as pd
    from openpyxl.utils import get_column_letter

    from couverture._output import protect_sheet

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            out = french_titles(frame)
            out.to_excel(writer, sheet_name=name[:31], index=False, freeze_panes=(1, 0))
            ws = writer.sheets[name[:31]]
            protect_sheet(ws)  # a CPTS named « =… » stays text, never a formula
            for i, col in enumerate(out.columns, start=1):
                values = out[col].astype(str).str.len()
                width = max(len(str(col)), int(values.max()) if len(values) else 0)
                ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
                if frame[frame.columns[i - 1]].dtype.kind == "f":
                    for cell in ws.iter_cols(min_col=i, max_col=i, min_row=2):
                        for c in cell:
                            c.number_format = "0.00"


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
@media print{body{max-width:none;padding:0;font-size:10pt}h2{break-before:page}
h2:first-of-type{break-before:auto}table,img{break-inside:avoid-page}nav{display:none}
a{color:inherit;text-decoration:none}}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def fmt_number(value: Any, *, decimals: int | None = None) -> str:
    """French number: narrow no-break space between thousands, decimal comma.

    Examples
    --------
    >>> fmt_number(1234567), fmt_number(98.5, decimals=2)
    ('1\u202f234\u202f567', '98,50')
    """
    import pandas as pd

    if value is None or isinstance(value, (bool, str)):
        return "" if value is None else str(value)
    if pd.isna(value):
        return ""
    if decimals is None:
        decimals = 2 if isinstance(value, float) and not float(value).is_integer() else 0
    text = f"{float(value):,.{decimals}f}" if decimals else f"{round(float(value)):,}"
    return text.replace(",", "\u202f").replace(".", ",")


# shorter titles for the page (the files keep the full ones)
HTML_TITLES = {
    **{f"pop_{s}": f"Pop. {STAGE_SHORT[s]} ou +" for s in STAGES},
    **{f"taux_{s}": f"% {STAGE_SHORT[s]} ou +" for s in STAGES},
    "pop_aci": "Pop. ACI",
    "taux_aci": "% ACI",
    "n_communes": "Communes",
    "noms_communes": "Communes",
}


def html_table(frame: pd.DataFrame, *, links: dict[str, dict[str, str]] | None = None) -> str:
    """Render a table with French titles; ``links[col][value]`` makes a cell a link."""
    if frame.empty:
        return '<p class="note">Aucune ligne.</p>'
    links = links or {}
    head = "".join(
        f"<th>{_e(HTML_TITLES.get(c, COLUMN_TITLES.get(c, c)))}</th>" for c in frame.columns
    )
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for col, value in zip(frame.columns, row, strict=True):
            kind = frame[col].dtype.kind
            numeric = kind in "iuf"
            text = fmt_number(value, decimals=2 if kind == "f" else 0) if numeric else _e(value)
            href = links.get(col, {}).get(str(value))
            if href:
                text = f'<a href="{_e(href)}">{text}</a>'
            cells.append(f'<td class="n">{text}</td>' if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _short_list(names: str, sep: str = ", ") -> str:
    items = [n for n in names.split(sep) if n]
    if len(items) <= MAX_NAMES:
        return sep.join(items)
    return sep.join(items[:MAX_NAMES]) + f"… (+{len(items) - MAX_NAMES})"


# ------------------------------------------------------------------------------------------
# charts (matplotlib, Agg backend: no display needed)
# ------------------------------------------------------------------------------------------
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_COLOURS = {"lettre_intention": "#9ecae1", "projet_sante": "#4292c6", "aci": "#08519c"}


def chart_months(months: pd.DataFrame, path: Path) -> None:
    """Line chart of the coverage rate by stage over the months (table ``mois`` rows)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = list(range(len(months)))
    for s in STAGES:
        ax.plot(x, months[f"taux_{s}"], marker="o", color=_COLOURS[s], label=STAGE_LABELS[s])
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
        ax.barh(labels, values, left=left, color=_COLOURS[s], label=STAGE_LABELS[s])
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


# ------------------------------------------------------------------------------------------
# optional stages (suggestions, maps): the report works without them
# ------------------------------------------------------------------------------------------
def _suggestions(a: Analysis) -> pd.DataFrame | None:
    try:
        from couverture.suggest import suggest
    except ImportError:
        log.info("module suggest absent : rapport sans propositions")
        return None
    log.info("propositions pour les zones blanches…")
    return suggest(a)


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
        out.setdefault(str(row.zone_id), []).append(text)
    return {zone: " ; ".join(parts) for zone, parts in out.items()}


def _maps(a: Analysis, out_dir: Path, proposals: pd.DataFrame | None) -> dict[str, str]:
    """Build the maps into the report directory; return {département: relative link}."""
    try:
        from couverture.maps import build_maps
    except ImportError:
        log.info("module maps absent : rapport sans cartes")
        return {}
    build_maps(a, out_dir / "cartes", suggestions=proposals)
    links = {}
    for page in sorted(out_dir.rglob("*.html")):
        rel = page.relative_to(out_dir).as_posix()
        if page.stem.startswith("departement-"):
            links[page.stem.removeprefix("departement-")] = rel
        elif page.name == "index.html" and page.parent != out_dir:
            links["index"] = rel
    return links


# ------------------------------------------------------------------------------------------
# atomic directory swap, in step with the history
# ------------------------------------------------------------------------------------------
def _committed(stamp: dict[str, Any]) -> bool:
    """Did the run that left ``stamp`` commit its month to the history? (see :func:`_recover`)"""
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
    from couverture._output import recover_folders

    recover_folders(target.parent, committed=_committed)


def _staging(target: Path) -> contextlib.AbstractContextManager[FolderSwap]:
    """Recover from a killed run, then return the staged folder of ``target``'s new report."""
    from couverture._output import staged_folder

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
    """The report's tables, machine column names (see :data:`COLUMN_TITLES`)."""
    rates = {n: a.rates(niveau=n)[RATE_COLUMNS] for n in history.RATE_LEVELS}
    if a.departements is not None:
        rates["france"]["nom"] = "Périmètre du rapport (" + ", ".join(a.departements) + ")"
    units = a.units()
    names = units.set_index("code")["nom"]
    zones = a.zones().drop(columns="cpts_voisines_ids").copy()
    zones.insert(
        4,
        "noms_communes",
        zones["communes"].map(lambda s: ", ".join(names.get(c, c) for c in s.split())),
    )
    cpts = a.cpts().reset_index()
    cpts["stade"] = (
        cpts["stade"].astype(object).map(STAGE_LABELS).fillna("Projet (avant lettre d'intention)")
    )
    cpts = cpts.merge(snap.cpts[["cpts_id", "communes"]], on="cpts_id", how="left")
    communes = units[[c for c in UNIT_OUTPUT_COLUMNS if c != "n_cpts"]].copy()
    communes["stade"] = communes["stade"].map(STAGE_LABELS).fillna("Non couverte")
    return {
        "france": rates["france"],
        "regions": rates["region"],
        "departements": rates["departement"],
        "zones-blanches": zones,
        "chevauchements": a.overlaps(),
        "cpts": cpts,
        "communes": communes,
    }


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

    Returns
    -------
    pathlib.Path
        The report directory.
    """
    from couverture.analysis import analyse

    month = history.check_month(month)
    target = Path(output_dir if output_dir is not None else Path.cwd() / "reports") / month
    # one order for every run: the report is written aside, swapped in, then the month is
    # committed to the history; a failure or a kill at any step leaves both as they were
    with _staging(target) as stage:
        tmp = stage.new
        with analyse(
            registry,
            default_stage=default_stage,
            departements=departements,
            shared_threshold=shared_threshold,
        ) as a:
            a.check_departements()
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
            previous = history.previous_month(month, path=history_path, fictif=snap.info["fictif"])
            evolution = (
                history.changes(history.load_snapshot(previous, path=history_path), snap)
                if previous
                else history.changes(snap, snap).iloc[0:0]
            )
            past = _past_months(month, snap, history_path)
            proposals = _suggestions(a) if suggestions else None
            links = _maps(a, tmp, proposals) if maps else {}
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
) -> None:
    recommended = _recommended(proposals)
    zones = tables["zones-blanches"]
    if recommended:
        zones.insert(6, "option_recommandee", zones["zone_id"].map(recommended).fillna(""))
    human: dict[str, pd.DataFrame] = {**tables, "evolution": evolution, "historique": past}
    if proposals is not None:
        human["propositions"] = proposals

    log.info("rapport %s : écriture des graphiques…", month)
    chart_months(past, out / "graphique-evolution.png")
    chart_departements(tables["departements"], out / "graphique-departements.png")

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
    )
    (out / "index.html").write_text(page, encoding="utf-8")


def _summary(a: Analysis, month: str, previous: str | None) -> pd.DataFrame:
    import pandas as pd

    rows = [
        ("Mois du rapport", month),
        ("Registre", a.meta["registre"]),
        ("Date du registre", a.meta["date_registre"]),
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

    from couverture.settings import CRS_WEB

    # pyogrio logs every layer written at INFO: not news for the user
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    layers = {"zones_blanches": zones}
    if proposals is not None and not proposals.empty:
        layers["propositions"] = proposals
    for name, frame in layers.items():
        members = _members(frame)
        geoms = a.member_geometries(members, key="_ligne").reindex(range(len(frame)))
        layer = gpd.GeoDataFrame(
            french_titles(frame).assign(Registre=a.meta["libelle_registre"]),
            geometry=geoms.to_list(),
            crs=CRS_WEB,
        )
        layer.to_file(path, layer=name, driver="GPKG", engine="pyogrio")


def _members(frame: pd.DataFrame) -> pd.DataFrame:
    """Long table (``_ligne``, ``code``) of the units of each row of a zones or proposals
    frame (row position, as proposals have no single id)."""
    import pandas as pd

    codes = frame["communes"].astype(str).str.split()
    return pd.DataFrame(
        {
            "_ligne": [i for i, row in enumerate(codes) for _ in row],
            "code": [c for row in codes for c in row],
        }
    )


#: Sections of the report page: anchor and title, in page order (the table of contents).
_HTML_SECTIONS = (
    ("synthese", "Synthèse"),
    ("evolution", "Évolution depuis le mois précédent"),
    ("regions", "Taux par région"),
    ("departements", "Taux par département"),
    ("zones", "Zones blanches par département"),
    ("chevauchements", "Chevauchements à arbitrer"),
    ("fichiers", "Fichiers et cartes"),
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
) -> str:
    """Return the report page (French, inline CSS, relative links only).

    Parameters
    ----------
    a
        The open analysis of the month (registry metadata and scope).
    month
        ``YYYY-MM``.
    tables
        The month's tables (``france``, ``regions``, ``departements``, ``zones-blanches``,
        ``chevauchements``…).
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
    """
    dep_links = {d: href for d, href in links.items() if d != "index"}
    parts = [
        *_html_head(a, month),
        *_html_synthesis(tables),
        *_html_evolution(month, evolution=evolution, previous=previous, past=past),
        *_html_regions(a, tables["regions"]),
        *_html_departements(tables["departements"], dep_links),
        *_html_zones(tables, recommended=recommended, dep_links=dep_links, files=files),
        *_html_overlaps(tables["chevauchements"]),
        *_html_files(links, files),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _html_head(a: Analysis, month: str) -> list[str]:
    """Document head, title, registry warning and metadata, and the table of contents."""
    label = month_label(month)
    meta = a.meta
    scope = (
        "France entière" if a.departements is None else "départements " + ", ".join(a.departements)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="fr"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Couverture CPTS — {_e(label)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Couverture de la population par les CPTS — {_e(label)}</h1>",
    ]
    if meta["fictif"]:
        parts.append(
            '<div class="fictif">REGISTRE FICTIF — données de démonstration : ce rapport ne '
            "décrit pas la situation réelle des CPTS.</div>"
        )
    parts.append(
        f'<p class="meta">Registre : {_e(meta["libelle_registre"])} · périmètre : {_e(scope)} · '
        f"population {_e(meta['population_millesime'])} (INSEE) · COG {_e(meta['cog'])} · "
        f"empreinte du registre {_e(a.registry_digest[:12])}</p>"
    )
    parts.append(
        "<nav><ol>"
        + "".join(f'<li><a href="#{k}">{_e(t)}</a></li>' for k, t in _HTML_SECTIONS)
        + "</ol></nav>"
    )
    return parts


def _html_synthesis(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Section « Synthèse »: national rate cards, zones blanches, France table, chart."""
    france = tables["france"].iloc[0]
    cards = "".join(
        f'<div class="chiffre"><b>{fmt_number(france[f"taux_{s}"], decimals=1)} %</b>'
        f"{_e(STAGE_LABELS[s])} ou plus<br>{fmt_number(france[f'pop_{s}'])} habitants</div>"
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


def _html_evolution(
    month: str, *, evolution: pd.DataFrame, previous: str | None, past: pd.DataFrame
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
        shown["noms_communes"] = shown["noms_communes"].map(_short_list)
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
) -> list[str]:
    """Section « Zones blanches par département »: one sub-section per département."""
    zones = tables["zones-blanches"]
    parts = ['<h2 id="zones">Zones blanches par département</h2>']
    if zones.empty:
        parts.append('<p class="note">Aucune zone blanche.</p>')
    dep_names = tables["departements"].set_index("code")["nom"].to_dict()
    for dep_key, group in zones.groupby("departement", sort=True):
        dep = str(dep_key)
        parts += _html_zones_departement(
            dep,
            group,
            dep_name=dep_names.get(dep, ""),
            dep_link=dep_links.get(dep),
            recommended=bool(recommended),
            xlsx=files["xlsx"],
        )
    return parts


def _html_zones_departement(
    dep: str,
    group: pd.DataFrame,
    *,
    dep_name: str,
    dep_link: str | None,
    recommended: bool,
    xlsx: str,
) -> list[str]:
    """The zones blanches of one département, cut at :data:`MAX_ZONES_PER_DEPARTEMENT`."""
    title = _e(
        f"{dep} — {dep_name} : {len(group)} zone(s), "
        f"{fmt_number(int(group['population'].sum()))} habitants"
    )
    if dep_link is not None:
        title += f' · <a href="{_e(dep_link)}">carte</a>'
    cols = ["zone_id", "noms_communes", "n_communes", "population", "superficie_km2"]
    cols += ["cpts_voisines"] + (["option_recommandee"] if recommended else [])
    shown = group[cols].head(MAX_ZONES_PER_DEPARTEMENT).copy()
    shown["noms_communes"] = shown["noms_communes"].map(_short_list)
    shown["cpts_voisines"] = shown["cpts_voisines"].str.replace("|", ", ")
    parts = [f"<h3>{title}</h3>", html_table(shown)]
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


def _html_files(links: dict[str, str], files: dict[str, str]) -> list[str]:
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
    return [
        '<h2 id="fichiers">Fichiers et cartes</h2>',
        "<ul>" + "".join(items) + "</ul>",
        '<p class="note">Fichiers CSV : séparateur « ; », virgule décimale, UTF-8 avec BOM.</p>',
    ]
