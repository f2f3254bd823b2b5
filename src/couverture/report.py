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
import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from couverture import _format, _output, _workbook, history
from couverture._folders import FolderSwap, new_folder, recover_folders, staged_folder
from couverture._output import worded
from couverture._report_charts import (
    MAP_TOWNS,
    MAP_ZONES,
    chart_departement_map,
    chart_departements,
    chart_months,
)
from couverture._report_html import (
    MAX_NAMES,
    MAX_ZONES_PER_DEPARTEMENT,
    fmt_number,
    html_table,
    render_html,
)
from couverture._report_tables import (
    COLUMN_TITLES,
    column_titles,
    french_titles,
    history_columns,
    month_label,
    months_at_stage,
    past_months,
    perimeter_trend,
    projected_full_coverage,
    rate_columns,
    recommended_options,
    report_tables,
    summary_sheet,
)
from couverture.analysis import analyse
from couverture.fiches import build_fiches
from couverture.maps import build_maps
from couverture.porteurs import proposals_of, read_porteurs
from couverture.professionnels import by_cpts, read_annuaire
from couverture.remontee import report_section
from couverture.settings import CRS_WEB
from couverture.zones import members

if TYPE_CHECKING:
    from couverture.analysis import Analysis
    from couverture.professionnels import Annuaire


def __getattr__(name: str) -> list[str]:
    # the report's columns follow the stage vocabulary when read, never frozen at import
    if name == "RATE_COLUMNS":
        return rate_columns()
    if name == "HISTORY_COLUMNS":
        return history_columns()
    raise AttributeError(name)


__all__ = [  # (and RATE_COLUMNS, HISTORY_COLUMNS: see __getattr__)
    "COLUMN_TITLES",
    "MAP_TOWNS",
    "MAP_ZONES",
    "MAX_NAMES",
    "MAX_ZONES_PER_DEPARTEMENT",
    "build_report",
    "chart_departement_map",
    "chart_departements",
    "chart_months",
    "column_titles",
    "fmt_number",
    "french_titles",
    "html_table",
    "month_label",
    "months_at_stage",
    "projected_full_coverage",
    "render_html",
    "write_csv",
    "write_xlsx",
]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------
# human tables: the one CSV and spreadsheet writers of couverture._output, with their options
# ------------------------------------------------------------------------------------------
def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a human CSV: ``;`` separator, decimal comma, UTF-8 with BOM, French titles.

    The file is meant for a spreadsheet: values in words, and a text cell that it would run as
    a formula (``=``, ``+``, ``-``, ``@``…) is prefixed with ``'`` — the options of the one CSV
    writer, :func:`couverture._output.write_csv`.
    """
    _output.write_csv(
        frame,
        path,
        sep=";",
        decimal=",",
        bom=True,
        line_end="\r\n",
        titles=True,
        words=True,
        neutralised=True,
    )


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    """Write one sheet per table: French titles, values in words, frozen header, readable widths.

    The options of the one spreadsheet writer, :func:`couverture._workbook.write_xlsx`.
    """
    _workbook.write_xlsx(
        sheets, path, freeze_header=True, readable_widths=True, float_format="0.00", words=True
    )


# ------------------------------------------------------------------------------------------
# the later stages the report includes (proposals, maps, fiches), each can be left out
# ------------------------------------------------------------------------------------------
def _suggestions(a: Analysis, porteurs: pd.DataFrame | None) -> pd.DataFrame:
    log.info("propositions pour les zones blanches…")
    return proposals_of(a, porteurs)


def _maps(
    a: Analysis, out_dir: Path, proposals: pd.DataFrame | None, **annuaire: Any
) -> dict[str, str]:
    """Build the maps into the report directory; return {département: relative link}.

    ``annuaire``: ``annuaire`` and ``adhesions`` of :func:`couverture.maps.build_maps`.
    """
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
    return read_porteurs(path)


def _fiches(
    a: Analysis,
    out_dir: Path,
    proposals: pd.DataFrame,
    porteurs: pd.DataFrame | None,
    annuaire: Annuaire | None = None,
    *,
    target: Path,
) -> dict[str, str]:
    """Write the fiches of the report's départements into ``fiches/``.

    ``out_dir`` is the report's staged folder, ``target`` the folder it becomes (the one the
    messages name). Return relative links ``{département: booklet index, zone_id: fiche page}``.
    """
    written = build_fiches(
        a,
        out_dir / "fiches",
        proposals=proposals,
        porteurs=porteurs,
        annuaire=annuaire,
        shown=target / "fiches",
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
    file the run wrote (:func:`couverture._folders.recover_folders`): any other folder, such as
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
            tables = report_tables(a, snap)
            read = None
            if annuaire is not None:  # the instruction's second indicator (issue 23)
                read = read_annuaire(annuaire, a)
                pros = by_cpts(a, read, adhesions=adhesions).reset_index()
                tables["professionnels"] = worded(pros, cpts=True)  # stage in words
            previous = history.previous_month(month, path=history_path, fictif=snap.info["fictif"])
            evolution = (
                history.changes(history.load_snapshot(previous, path=history_path), snap)
                if previous
                else history.changes(snap, snap).iloc[0:0]
            )
            past = past_months(month, snap, history_path)
            trend = (
                perimeter_trend(
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
                _fiches(a, tmp, proposals, found, read, target=target)
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
                report_section(a, plan, month=month, out_dir=tmp, history_path=history_path)
        # the store is closed (and its cache saved) before the report is swapped in, so that
        # index.html is newer than everything make compares it with
        log.info("rapport %s : mise en place et enregistrement dans l'historique…", month)
        _swap(stage, snap, month=month, path=history_path, replace_scope=replace_scope)
    log.info("rapport écrit : %s", target / "index.html")
    return target


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
    recommended = recommended_options(proposals)
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
    sheets = {"Synthèse": summary_sheet(a, month, previous)}
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


def _write_gpkg(
    a: Analysis,
    zones: pd.DataFrame,
    proposals: pd.DataFrame | None,
    path: Path,
) -> None:
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
