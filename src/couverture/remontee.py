"""Remontée to DGOS and CNAM.

One row per département — zones blanches, coverage by stage, strategies retained, coordinators
funded, actions and calendar, zones without decision, late actions, projection of full coverage
— and the "Plan d'action" section of the monthly report.

The coverage figures are those of :meth:`~couverture.analysis.Analysis.rates` and
:meth:`~couverture.analysis.Analysis.zones` for the same registry (``couverture taux`` and
``couverture zones-blanches``); the plan's figures come from :func:`couverture.plan.reconcile`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import html
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from couverture import plan as plan_mod
from couverture._config import STAGES, column_titles
from couverture._format import date as french_date
from couverture._format import integer, number, percent
from couverture._output import titled, worded
from couverture._validate import check_month
from couverture._workbook import Page, Table, write_xlsx
from couverture.alerts import cpts_alerts, history_series, project, reference_date
from couverture.professionnels import DEPARTEMENT_TITLES

if TYPE_CHECKING:
    from couverture.analysis import Analysis

log = logging.getLogger(__name__)

COLUMNS = [
    "departement",
    "nom",
    "mois",
    "date_reference",
    "population",
    *(f"pop_{s}" for s in STAGES),
    *(f"taux_{s}" for s in STAGES),
    "n_zones_blanches",
    "population_zones_blanches",
    "population_non_attribuee",
    "n_projets",
    *(f"n_{s}" for s in ("creation", "extension", "rattachement_temporaire", "autre")),
    "n_projets_proposes",
    "n_projets_abandonnes",
    "n_projets_couverts",
    "population_projets",
    "n_zones_sans_projet",
    "population_sans_projet",
    "n_coordonnateurs",
    "fir_montant_annuel",
    "fir_etp",
    "n_reunions_tenues",
    "n_jalons_realises_mois",
    "n_jalons_trois_mois",
    "n_jalons_en_retard",
    "n_projets_en_retard",
    "prochaine_echeance",
    "modalites_suivi",
    "acteurs",
    "projection_lettre_intention",
    "projection_aci",
]
TITLES = {
    "departement": "Département",
    "nom": "Nom",
    "mois": "Mois",
    "date_reference": "Date de référence",
    "population": "Population",
    "pop_lettre_intention": "Population ≥ lettre d'intention",
    "pop_projet_sante": "Population ≥ projet de santé",
    "pop_aci": "Population ACI",
    "taux_lettre_intention": "% ≥ lettre d'intention",
    "taux_projet_sante": "% ≥ projet de santé",
    "taux_aci": "% ACI",
    "n_zones_blanches": "Zones blanches",
    "population_zones_blanches": "Population des zones blanches",
    "population_non_attribuee": "Population non attribuée (parts de communes partagées)",
    "n_projets": "Projets",
    "n_creation": "Projets : création",
    "n_extension": "Projets : extension",
    "n_rattachement_temporaire": "Projets : rattachement temporaire",
    "n_autre": "Projets : autre",
    "n_projets_proposes": "Projets encore à décider (proposés)",
    "n_projets_abandonnes": "Projets abandonnés",
    "n_projets_couverts": "Projets couverts par la CPTS désignée",
    "population_projets": "Population des projets",
    "n_zones_sans_projet": "Zones (ou restes) sans projet",
    "population_sans_projet": "Population sans projet",
    "n_coordonnateurs": "Coordonnateurs financés (FIR)",
    "fir_montant_annuel": "FIR coordonnateurs : montant annuel (€)",
    "fir_etp": "FIR coordonnateurs : ETP",
    "n_reunions_tenues": "Réunions opérationnelles tenues",
    "n_jalons_realises_mois": "Jalons réalisés ce mois",
    "n_jalons_trois_mois": "Jalons prévus dans les 3 mois",
    "n_jalons_en_retard": "Jalons en retard",
    "n_projets_en_retard": "Projets en retard",
    "prochaine_echeance": "Prochaine échéance",
    "modalites_suivi": "Modalités de suivi envisagées",
    "acteurs": "Acteurs impliqués",
    "projection_lettre_intention": "100 % ≥ lettre d'intention (projection)",
    "projection_aci": "100 % ACI (projection)",
}
#: The projects sheet of the remontée (the follow-up, in words).
ACTION_COLUMNS = plan_mod.FOLLOW_UP_COLUMNS


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else ""


def _add_months(day: dt.date, n: int) -> dt.date:
    month = day.month - 1 + n
    year = day.year + month // 12
    month = month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _actors(values: list[str]) -> str:
    """Distinct actors typed (« URPS, élus »), in the order of ``config/plan.toml``."""
    known = {plan_mod.key(a): a for a in plan_mod.vocabulary().get("acteurs", [])}
    found: dict[str, str] = {}
    for text in values:
        for part in re.split(r"[,;/]+", text):
            part = part.strip()
            if part:
                found.setdefault(plan_mod.key(part), known.get(plan_mod.key(part), part))
    order = list(known)
    return ", ".join(
        v
        for _, v in sorted(
            found.items(),
            key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[1]),
        )
    )


def remontee(
    analysis: Analysis,
    previous: plan_mod.PlanFile,
    *,
    month: str,
    on: str | dt.date | None = None,
    history_path: Path | str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the remontée table (one row per département, :data:`COLUMNS`) and the projects.

    The projects are the follow-up of the plan (:func:`couverture.plan.follow_up`, in words).

    Parameters
    ----------
    analysis
        The month's analysis.
    previous
        The plan d'action filled by the task force (:func:`couverture.plan.read_plan`).
    month
        The month reported, ``AAAA-MM`` (milestones done this month, due in the next three).
    on
        Date of the delays (default: the registry's date).
    history_path
        History store for the projection (default ``data/historique.duckdb``).

    Notes
    -----
    Everything counts projects (one row of sheet ``projets`` each) or zones, never rows:
    a zone with several projects counts once among the zones; coordinators are the projects
    with a FIR amount or ETP typed, their amounts and ETP summed; meetings held are the
    réunion opérationnelle milestones done.
    """
    month = check_month(month)
    date = reference_date(analysis, on)
    rec = plan_mod.reconcile(analysis, previous, on=date, history_path=history_path)
    follow = plan_mod.follow_up(analysis, previous, on=date, reconciled=rec)
    projects = rec.projects
    milestones = rec.milestones
    rates = analysis.rates(niveau="departement").set_index("code")
    zones = analysis.zones()
    first = dt.date.fromisoformat(month + "-01")
    month_end = _add_months(first, 1)
    horizon = _add_months(date, 3)
    meeting = plan_mod.vocabulary()["jalons"][0]
    inactive = {plan_mod.key(s) for s in plan_mod.vocabulary().get("statuts_inactifs", [])}
    records = []
    for dep, rate in rates.iterrows():
        z = zones[zones["departement"] == dep]
        rows = projects[projects["departement"] == dep]
        mine = rows[rows["projet_id"] != ""]
        active = mine[~mine["statut"].isin(inactive)]
        undecided = rows[rows["projet_id"] == ""]
        decided = active[active["statut"] != plan_mod.PROPOSED]  # proposals plan nothing yet
        ms = milestones[milestones["projet_id"].isin(set(decided["projet_id"]))]
        done = [d for d in ms["realisee"] if isinstance(d, dt.date)]
        funded = active[(active["fir_montant"].fillna(0) > 0) | (active["fir_etp"].fillna(0) > 0)]
        late = [
            1 for _, m in ms.iterrows() if plan_mod.late(m, date)
            and bool(active.loc[active["projet_id"] == m["projet_id"], "en_retard"].any())
        ]  # fmt: skip
        due = [
            d
            for d, r in zip(ms["prevue"], ms["realisee"], strict=True)
            if isinstance(d, dt.date) and not isinstance(r, dt.date) and date <= d <= horizon
        ]
        series = history_series(analysis, departement=str(dep), history_path=history_path)
        projection = project(series)
        record: dict[str, Any] = {
            "departement": dep,
            "nom": rate["nom"],
            "mois": month,
            "date_reference": date.isoformat(),
            "population": int(rate["population"]),
            **{f"pop_{s}": int(rate[f"pop_{s}"]) for s in STAGES},
            **{f"taux_{s}": float(rate[f"taux_{s}"]) for s in STAGES},
            "n_zones_blanches": len(z),
            "population_zones_blanches": int(z["population"].sum()),
            "population_non_attribuee": int(rate["population_non_attribuee"]),
            "n_projets": len(active),
            **{
                f"n_{kind}": int((active["type"] == kind).sum())
                for kind in ("creation", "extension", "rattachement_temporaire", "autre")
            },
            "n_projets_proposes": int((active["statut"] == plan_mod.PROPOSED).sum()),
            "n_projets_abandonnes": len(mine) - len(active),
            "n_projets_couverts": int((active["situation"] == plan_mod.COVERED).sum()),
            "population_projets": int(active["population"].sum()),
            "n_zones_sans_projet": int(undecided["zone_id"].nunique()),
            "population_sans_projet": int(undecided["population"].sum()),
            "n_coordonnateurs": len(funded),
            "fir_montant_annuel": float(funded["fir_montant"].fillna(0).sum()),
            "fir_etp": float(funded["fir_etp"].fillna(0).sum()),
            "n_reunions_tenues": int(
                sum(
                    1
                    for j, r in zip(ms["jalon"], ms["realisee"], strict=True)
                    if j == meeting and isinstance(r, dt.date)
                )
            ),
            "n_jalons_realises_mois": sum(1 for d in done if first <= d < month_end),
            "n_jalons_trois_mois": len(due),
            "n_jalons_en_retard": len(late),
            "n_projets_en_retard": int(active["en_retard"].sum()),
            "prochaine_echeance": _iso(min(due)) if due else "",
            "modalites_suivi": " ; ".join(
                dict.fromkeys(str(v) for v in active["modalites_suivi"] if str(v or ""))
            ),
            "acteurs": _actors([str(v) for v in active["acteurs"] if str(v or "")]),
            "projection_lettre_intention": projection["lettre_intention"]["texte"],
            "projection_aci": projection["aci"]["texte"],
        }
        records.append(record)
    table = pd.DataFrame.from_records(records, columns=COLUMNS)
    return table, plan_mod.follow_up_in_words(follow)


def write_remontee(
    table: pd.DataFrame,
    actions: pd.DataFrame,
    path: Path | str,
    *,
    info: dict[str, str],
    extra: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Write the remontée workbook atomically.

    Sheets ``remontee`` (French titles), ``projets``, the ``extra`` sheets (the professionals
    of each CPTS: :func:`couverture.professionnels.remontee_tables`) and ``informations``;
    text starting like a formula is written as text.
    """
    titles = dict(column_titles("titre"))  # headers and values in words (issue 21)
    sheets: dict[str, pd.DataFrame | Table | Page] = {
        "remontee": Table(table, titles={**TITLES, **DEPARTEMENT_TITLES}),
        "projets": Table(
            actions, titles=plan_mod.FOLLOW_UP_TITLES, widths={"communes": 30, "cpts": 30}
        ),
    }
    for name, frame in (extra or {}).items():
        sheets[name] = Table(worded(frame, cpts=True), titles=titles, widths={"nom": 40})
    meta = pd.DataFrame({"rubrique": list(info), "valeur": list(info.values())})
    sheets["informations"] = Table(meta, titles=titles, widths={"valeur": 50})
    return write_xlsx(sheets, path)


def remontee_info(analysis: Analysis, previous: plan_mod.PlanFile, *, month: str) -> dict[str, str]:
    """Return what the remontée was computed from (registry, plan, vintages)."""
    meta = analysis.meta
    out = {
        "Mois": month,
        "Registre": str(meta["libelle_registre"]),
        "Date du registre": str(meta["date_registre"]),
        "Source de la date du registre": str(meta.get("date_registre_texte", "")),
        "Plan d'action": previous.path.name,
        "Périmètre": "France entière"
        if analysis.departements is None
        else "départements " + ", ".join(analysis.departements),
        "Population (millésime)": str(meta["population_millesime"]),
        "Code officiel géographique": str(meta["cog"]),
    }
    if meta["fictif"]:
        out["Attention"] = "REGISTRE FICTIF : données de démonstration"
    return out


# ------------------------------------------------------------------------------------------
# the report's section
# ------------------------------------------------------------------------------------------
def _e(value: object) -> str:
    return html.escape(str(value))


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_section(
    analysis: Analysis,
    plan_path: Path | str,
    *,
    month: str,
    out_dir: Path,
    history_path: Path | str | None = None,
) -> None:
    """Add the "Plan d'action" section to the report written in ``out_dir``.

    The remontée (``remontee-AAAA-MM.xlsx``), its HTML section in ``index.html`` with the alerts
    of the CPTS and the projection of full coverage.

    Raises
    ------
    PlanError
        When the plan cannot be read or does not match the registry (nothing is added).
    """
    previous = plan_mod.read_plan(plan_path)
    plan_mod.plan_departements(previous, analysis.departements)
    table, actions = remontee(analysis, previous, month=month, history_path=history_path)
    if analysis.departements is None:  # a national report: the plan's départements only
        table = table[table["departement"].isin(previous.departements)]
    date = reference_date(analysis)
    alerts = cpts_alerts(analysis, on=date, history_path=history_path)
    alerts = alerts[alerts["alerte"] != ""][["departement", "nom", "stade", "alerte"]]
    name = f"remontee-{month}.xlsx"
    about = remontee_info(analysis, previous, month=month)
    write_remontee(table, actions, out_dir / name, info=about)
    shown = table.copy()
    for s in STAGES:
        shown[f"taux_{s}"] = shown[f"taux_{s}"].map(percent)
    people = ("population", "population_zones_blanches", "population_non_attribuee")
    for c in (*people, "population_projets", "population_sans_projet", "fir_montant_annuel"):
        shown[c] = shown[c].map(integer)
    shown["fir_etp"] = shown["fir_etp"].map(lambda x: number(x, decimals=1))
    shown = shown.drop(columns=["mois", "date_reference", *(f"pop_{s}" for s in STAGES)])
    late = actions[actions["en_retard"] == "oui"]
    late = late[["projet_id", "departement", "type", "cpts", "prochain_jalon", "echeance"]]
    late = late.assign(echeance=late["echeance"].map(_french_day))
    late = late.rename(columns=plan_mod.FOLLOW_UP_TITLES)
    shown["prochaine_echeance"] = shown["prochaine_echeance"].map(_french_day)
    parts = [
        '<h2 id="plan">Plan d\'action</h2>',
        f'<p class="note">Plan {_e(previous.path.name)} ; retards à la date du registre '
        f"({_e(french_date(date))}). Remontée DGOS/CNAM : "
        f'<a href="{_e(name)}">{_e(name)}</a>.</p>',
        _table(shown.rename(columns=TITLES)),
        "<h3>Projets en retard</h3>",
        _table(late) if len(late) else "<p>Aucun projet en retard.</p>",
        "<h3>Alertes sur les CPTS</h3>",
        _table(titled(alerts, kind="page")) if len(alerts) else "<p>Aucune alerte.</p>",
    ]
    page = out_dir / "index.html"
    text = page.read_text(encoding="utf-8")
    section = "\n".join(parts) + "\n"
    anchor = '<h2 id="fichiers">'
    text = (
        text.replace(anchor, section + anchor, 1)
        if anchor in text
        else text.replace("</body>", section + "</body>", 1)
    )
    text = text.replace("</ol></nav>", '<li><a href="#plan">Plan d\'action</a></li></ol></nav>', 1)
    page.write_text(text, encoding="utf-8")


def _french_day(value: object) -> str:
    """Return a date in French (« 21 décembre 2026 »), nothing when there is none."""
    if isinstance(value, (str, dt.date)) and value:
        return french_date(value)
    return ""
