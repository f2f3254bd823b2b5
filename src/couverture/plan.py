"""Plan d'action, at the grain of projects.

A **project** is a creation, an extension, a rattachement temporaire (with its mentor) or
another action, with a **perimeter** (its communes), a stable ``projet_id`` and the zones
blanches it serves. The workbook a task force fills (:func:`write_plan`) has a sheet
``projets`` (one row per project, then one undecided row per zone blanche, or part of a zone,
that no project covers), a sheet ``jalons`` (the rétro-planning of each project: réunion
opérationnelle, lettre d'intention, coordinateur recruté, projet de santé, ACI signé and free
milestones), a sheet ``cpts`` (stages, dates, alerts), ``lisez-moi`` and hidden drop-down lists.
Headers and drop-down values are in plain French; the machine keys appear only in CSV outputs.

Month after month (:func:`reconcile`), each project keeps its perimeter whatever the registry
does to the zones, and its ``situation`` compares the registry with that perimeter:
« blanche », « en partie couverte », « couverte par la CPTS désignée », « couverte par une autre
CPTS ». What is left of a zone outside every project becomes a new undecided row, never a moved
decision. The lettre d'intention, projet de santé and ACI milestones are marked done when the
registry shows the project's CPTS at that stage on its perimeter.

A first plan proposes one project per recommended proposal of :mod:`couverture.suggest`, or
takes the projects of a scenario file (:mod:`couverture.scenario`). A plan written before
projects existed (sheet ``zones``, one row per zone) is read too: each zone decision becomes one
project.

Delays are measured at an explicit date, never "today": ``--date`` or the registry's date
(:func:`couverture.alerts.reference_date`).

This module is the public door; its parts are private modules: the words (sheets, columns,
closed lists, ``_plan_vocab``), reading a filled workbook back (``_plan_read``), building the
rows and the rétro-planning (``_plan_rows``) and writing the workbook (``_plan_write``).

Examples
--------
>>> import couverture
>>> from couverture import plan
>>> with couverture.analyse("registre.csv", departements="35") as a:  # doctest: +SKIP
...     p = plan.build_plan(a, previous=plan.read_plan("plan-octobre.xlsx"))
...     plan.write_plan(p, "plan-novembre.xlsx")
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture._format import is_missing
from couverture._plan_read import (
    PlanFile,
    decisions_in,
    plan_departements,
    read_plan,
    typed,
)
from couverture._plan_rows import Plan, Reconciled, reconcile
from couverture._plan_vocab import (
    COMPUTED,
    COVERED,
    COVERED_OTHER,
    CPTS_TITLES,
    DATE_COLUMNS,
    DECISION_COLUMNS,
    DEPARTEMENTS_LABEL,
    FOLLOW_UP_COLUMNS,
    FOLLOW_UP_TITLES,
    MILESTONE_DATES,
    MILESTONE_TITLES,
    NO_DECISION,
    NUMBER_COLUMNS,
    OWN_SHEETS,
    PARTLY,
    PROJECT_TITLES,
    PROPOSED,
    REFERENCE_DATE_LABEL,
    REGISTRY_CPTS_LABEL,
    SHEET_CPTS,
    SHEET_LISTS,
    SHEET_MILESTONES,
    SHEET_PROJECTS,
    SHEET_README,
    SHEET_ZONES,
    SITUATIONS,
    WHITE,
    cpts_key,
    frame_in_words,
    in_words,
    key,
    same_cpts,
    vocabulary,
    words,
)
from couverture._plan_vocab import departement_of as _departement_of
from couverture._plan_write import README_LINES, write_plan
from couverture._plan_write import write_xlsx_tables as write_xlsx
from couverture.alerts import cpts_alerts, reference_date
from couverture.porteurs import proposals_of

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis

__all__ = [
    "COMPUTED",
    "COVERED",
    "COVERED_OTHER",
    "CPTS_TITLES",
    "DATE_COLUMNS",
    "DECISION_COLUMNS",
    "DEPARTEMENTS_LABEL",
    "FOLLOW_UP_COLUMNS",
    "FOLLOW_UP_TITLES",
    "MILESTONE_DATES",
    "MILESTONE_TITLES",
    "NO_DECISION",
    "NUMBER_COLUMNS",
    "OWN_SHEETS",
    "PARTLY",
    "PROJECT_TITLES",
    "PROPOSED",
    "README_LINES",
    "REFERENCE_DATE_LABEL",
    "REGISTRY_CPTS_LABEL",
    "SHEET_CPTS",
    "SHEET_LISTS",
    "SHEET_MILESTONES",
    "SHEET_PROJECTS",
    "SHEET_README",
    "SHEET_ZONES",
    "SITUATIONS",
    "WHITE",
    "Plan",
    "PlanFile",
    "Reconciled",
    "_departement_of",
    "build_plan",
    "cpts_key",
    "decisions_in",
    "follow_up",
    "follow_up_in_words",
    "in_words",
    "key",
    "late",
    "plan_departements",
    "read_plan",
    "reconcile",
    "same_cpts",
    "typed",
    "vocabulary",
    "words",
    "write_plan",
    "write_xlsx",
]


def build_plan(
    analysis: Analysis,
    *,
    previous: PlanFile | None = None,
    on: str | dt.date | None = None,
    proposals: bool = True,
    scenario: list[dict[str, Any]] | None = None,
    history_path: Path | str | None = None,
    porteurs: pd.DataFrame | None = None,
) -> Plan:
    """Build the plan d'action of an analysis, carrying over ``previous``.

    Parameters
    ----------
    analysis
        The month's analysis (restricted to the plan's départements).
    previous
        Last month's plan (:func:`read_plan`), or ``None``.
    on
        Date the delays and months at a stage are measured at (default: the registry's date).
    proposals
        Compute the proposals of :func:`couverture.suggest.suggest` (a first plan's projects,
        the undecided rows' recommendation).
    scenario
        Projects of a scenario file (:func:`couverture.scenario.read_scenario`).
    history_path
        History store (default ``data/historique.duckdb``, see :func:`reconcile`).
    porteurs
        Potential porteurs (:func:`couverture.porteurs.read_porteurs`, a FINESS extract): those
        of the plan's départements (MSP, centres de santé…) join the drop-down of porteurs.
    """
    analysis.check_departements()
    date = reference_date(analysis, on)
    suggestions = None
    if proposals:
        suggestions = proposals_of(analysis)
    rec = reconcile(
        analysis,
        previous,
        proposals=suggestions,
        scenario=scenario,
        on=date,
        history_path=history_path,
    )
    cpts = cpts_alerts(analysis, on=date, history_path=history_path)
    if previous is not None and previous.cpts_extra:
        for header in dict.fromkeys(h for v in previous.cpts_extra.values() for h in v):
            cpts[header] = [previous.cpts_extra.get(n, {}).get(header, "") for n in cpts["nom"]]
    names = _drop_down_names(analysis, rec.projects, suggestions, porteurs)
    meta = analysis.meta
    deps = analysis.departements or tuple(sorted(set(rec.projects["departement"])))
    info = {
        "Registre": str(meta["libelle_registre"]),
        "Date du registre": str(meta["date_registre"]),
        REFERENCE_DATE_LABEL: date.isoformat(),
        DEPARTEMENTS_LABEL: ", ".join(deps),
        "Population (millésime)": str(meta["population_millesime"]),
        "Code officiel géographique": str(meta["cog"]),
        "Plan précédent repris": str(previous.path.name) if previous is not None else "aucun",
    }
    if meta["fictif"]:
        info["Attention"] = "REGISTRE FICTIF : données de démonstration"
    return Plan(
        projects=rec.projects,
        milestones=rec.milestones,
        cpts=cpts,
        cpts_names=names,
        info=info,
        extra_columns=rec.extra_columns,
        extra_sheets=previous.extra_sheets if previous is not None else [],
        registry_cpts=sorted(set(analysis.national().cpts()["nom"].astype(str))),
    )


def _drop_down_names(
    analysis: Analysis,
    projects: pd.DataFrame,
    proposals: pd.DataFrame | None,
    finess: pd.DataFrame | None = None,
) -> list[str]:
    """Return the CPTS drop-down: the département's CPTS, the proposed new CPTS, the porteurs.

    The porteurs: those the projects name, then the potential porteurs of ``finess``
    (:func:`couverture.porteurs.read_porteurs`) in the plan's départements.
    """
    table = analysis.cpts()
    deps = set(analysis.departements or [])
    own = table[table["departement"].isin(deps)] if deps else table
    names = sorted(set(own["nom"].astype(str)))
    proposed: list[str] = []
    if proposals is not None and not proposals.empty:
        proposed = [str(n) for n in proposals["nom_propose"] if str(n or "")]
    proposed += [
        str(c)
        for c, t in zip(projects["cpts"], projects["type"], strict=True)
        if t == "creation" and c
    ]
    porteurs = sorted({str(p) for p in projects["porteur"] if p})
    if finess is not None and len(finess):
        units = analysis.units()
        codes = set(units["code"].astype(str))
        if "commune" in units:
            codes |= set(units["commune"].dropna().astype(str))
        here = finess[finess["code_commune"].astype(str).isin(codes)]
        porteurs += sorted(set(here["nom"].astype(str)) - set(porteurs) - {""})
    rest = sorted(set(table["nom"].astype(str)) - set(names))  # neighbours across a border
    return list(dict.fromkeys([*names, *sorted(set(proposed)), *porteurs, *rest]))


# ------------------------------------------------------------------------------------------
# suivi
# ------------------------------------------------------------------------------------------
def late(milestone: pd.Series | dict[str, Any], on: dt.date) -> bool:
    """Whether a milestone is late at date ``on``: its date prévue passed, not done."""
    due = milestone["prevue"]
    if due is None or is_missing(due):
        return False
    if isinstance(due, dt.datetime):
        due = due.date()
    done = milestone["realisee"]
    return bool(due < on and (done is None or is_missing(done)))


def follow_up(
    analysis: Analysis,
    previous: PlanFile,
    *,
    on: str | dt.date | None = None,
    reconciled: Reconciled | None = None,
    history_path: Path | str | None = None,
) -> pd.DataFrame:
    """One line per project of the plan, then one per zone blanche (or part) without project.

    :data:`FOLLOW_UP_COLUMNS`, machine keys (``type``: ``creation``…, ``situation``:
    ``blanche``, ``en_partie_couverte``, ``couverte_cpts_designee``, ``couverte_autre_cpts``;
    ``statut``: ``propose``, ``a_lancer``…, ``sans_decision`` for an undecided row; see
    :func:`in_words`). ``en_retard`` (oui | non): a milestone of a decided project whose date
    prévue passed at ``on`` (default: the registry's date) without being done; a project
    covered by its designated CPTS is never late.
    """
    date = reference_date(analysis, on)
    rec = reconciled
    if rec is None:
        rec = reconcile(analysis, previous, on=date, history_path=history_path)
    out = rec.projects.copy()
    out["statut"] = [
        s if s else (NO_DECISION if not pid else "")
        for s, pid in zip(out["statut"], out["projet_id"], strict=True)
    ]
    out["en_retard"] = out["en_retard"].map({True: "oui", False: "non"})
    out["echeance"] = [d.isoformat() if isinstance(d, dt.date) else "" for d in out["echeance"]]
    return out[FOLLOW_UP_COLUMNS].reset_index(drop=True)


def follow_up_in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the follow-up with its closed values in words (terminal, XLSX)."""
    out = frame_in_words(frame)
    out["statut"] = out["statut"].replace({NO_DECISION: "sans décision"})
    return out
