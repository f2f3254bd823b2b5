"""Remontée to DGOS and CNAM.

One row per département — zones blanches, coverage by stage, strategies retained, coordinators
funded, actions and calendar, zones without decision, late actions, projection of full coverage
— and the "Plan d'action" section of the monthly report.

The coverage figures are those of :meth:`~couverture.analysis.Analysis.rates` and
:meth:`~couverture.analysis.Analysis.zones` for the same registry (``couverture taux`` and
``couverture zones-blanches``); the plan's figures come from :func:`couverture.plan.reconcile`.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture import plan as plan_mod
from couverture._format import date as french_date
from couverture._format import integer, percent
from couverture._output import atomic_path
from couverture._validate import check_month
from couverture.settings import STAGES

if TYPE_CHECKING:
    import pandas as pd

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
    *(f"n_{s}" for s in ("extension", "creation", "rattachement_temporaire", "autre")),
    "n_zones_sans_decision",
    "n_coordonnateurs_finances",
    "n_actions",
    "n_actions_realisees",
    "n_actions_en_retard",
    "prochaine_echeance",
    "derniere_echeance",
    "n_zones_couvertes_depuis_plan",
    "projection_lettre_intention",
    "projection_aci",
]
ACTION_COLUMNS = [
    "departement",
    "zone_id",
    "population",
    "situation",
    *plan_mod.DECISION_COLUMNS,
    "en_retard",
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
    "n_extension": "Stratégie : extension",
    "n_creation": "Stratégie : création",
    "n_rattachement_temporaire": "Stratégie : rattachement temporaire",
    "n_autre": "Stratégie : autre",
    "n_zones_sans_decision": "Zones sans décision",
    "n_coordonnateurs_finances": "Coordonnateurs financés",
    "n_actions": "Actions",
    "n_actions_realisees": "Actions réalisées",
    "n_actions_en_retard": "Actions en retard",
    "prochaine_echeance": "Prochaine échéance",
    "derniere_echeance": "Dernière échéance",
    "n_zones_couvertes_depuis_plan": "Zones du plan désormais couvertes",
    "projection_lettre_intention": "100 % ≥ lettre d'intention (projection)",
    "projection_aci": "100 % ACI (projection)",
}


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else ""


def remontee(
    analysis: Analysis,
    previous: plan_mod.PlanFile,
    *,
    month: str,
    on: str | dt.date | None = None,
    history_path: Path | str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the remontée table (one row per département, :data:`COLUMNS`) and the actions.

    (one row per typed row of the plan, :data:`ACTION_COLUMNS`).

    Parameters
    ----------
    analysis
        The month's analysis.
    previous
        The plan d'action filled by the task force (:func:`couverture.plan.read_plan`).
    month
        The month reported, ``AAAA-MM`` (a label: figures are those of the registry).
    on
        Date of the delays (default: the registry's date).
    history_path
        History store for the projection (default ``data/historique.duckdb``).

    Notes
    -----
    Strategies and zones without decision count the zones blanches of the registry (a zone
    counts once per strategy retained on one of its rows); coordinators funded count the zones
    of the plan (covered since or not); actions count every row of the plan with an action or
    an échéance, covered zones included.
    """
    import pandas as pd

    from couverture.alerts import history_series, project, reference_date

    month = check_month(month)
    date = reference_date(analysis, on)
    rows = plan_mod.reconcile(analysis, previous)
    rows["en_retard"] = ["oui" if plan_mod.late(r, date) else "non" for _, r in rows.iterrows()]
    rates = analysis.rates(niveau="departement").set_index("code")
    zones = analysis.zones()
    white = set(zones["zone_id"])
    done = {plan_mod._key(s) for s in plan_mod.vocabulary()["statuts_clos"]}
    records = []
    for dep, rate in rates.iterrows():
        z = zones[zones["departement"] == dep]
        r = rows[rows["departement"] == dep]
        current = r[r["zone_id"].isin(white)]
        decided = current[current["strategie_retenue"] != ""]
        actions = r[(r["actions"] != "") | r["echeance"].notna()]
        open_dues = [
            d
            for d, s in zip(actions["echeance"], actions["statut"], strict=True)
            if isinstance(d, dt.date) and plan_mod._key(str(s)) not in done
        ]
        dues = [d for d in actions["echeance"] if isinstance(d, dt.date)]
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
        }
        for kind in ("extension", "creation", "rattachement_temporaire", "autre"):
            record[f"n_{kind}"] = int(
                decided.loc[decided["strategie_retenue"] == kind, "zone_id"].nunique()
            )
        record["n_zones_sans_decision"] = len(set(z["zone_id"]) - set(decided["zone_id"]))
        record["n_coordonnateurs_finances"] = int(
            r.loc[r["coordonnateur_finance"] == "oui", "zone_id"].nunique()
        )
        record["n_actions"] = len(actions)
        record["n_actions_realisees"] = int(
            (actions["statut"].map(lambda s: plan_mod._key(str(s))) == "realise").sum()
        )
        record["n_actions_en_retard"] = int((actions["en_retard"] == "oui").sum())
        record["prochaine_echeance"] = _iso(min(open_dues)) if open_dues else ""
        record["derniere_echeance"] = _iso(max(dues)) if dues else ""
        record["n_zones_couvertes_depuis_plan"] = int(
            (r.loc[~r["zone_id"].isin(white), "situation"] == plan_mod.COVERED).sum()
        )
        record["projection_lettre_intention"] = projection["lettre_intention"]["texte"]
        record["projection_aci"] = projection["aci"]["texte"]
        records.append(record)
    table = pd.DataFrame.from_records(records, columns=COLUMNS)
    detail = rows[rows.apply(plan_mod.typed, axis=1)] if len(rows) else rows
    detail = detail[ACTION_COLUMNS].copy()
    for c in plan_mod.DATE_COLUMNS:
        detail[c] = detail[c].map(_iso)
    return table, detail.reset_index(drop=True)


def write_remontee(
    table: pd.DataFrame, actions: pd.DataFrame, path: Path | str, *, info: dict[str, str]
) -> Path:
    """Write the remontée workbook atomically.

    Sheets ``remontee`` (French titles), ``actions`` and ``informations``; text starting like a
    formula is written as text.
    """
    import openpyxl
    import pandas as pd

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "remontee"
    plan_mod._write_table(ws, table.rename(columns=TITLES), widths={})
    plan_mod._write_table(book.create_sheet("actions"), actions, widths={"actions": 40})
    meta = pd.DataFrame({"rubrique": list(info), "valeur": list(info.values())})
    plan_mod._write_table(book.create_sheet("informations"), meta, widths={"valeur": 50})
    with atomic_path(Path(path)) as tmp:
        book.save(tmp)
    return Path(path)


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
    from couverture.alerts import cpts_alerts, reference_date

    previous = plan_mod.read_plan(plan_path)
    plan_mod.plan_departements(previous, analysis.departements)
    table, actions = remontee(analysis, previous, month=month, history_path=history_path)
    if analysis.departements is None:  # a national report: the plan's départements only
        table = table[table["departement"].isin(previous.departements)]
    date = reference_date(analysis)
    alerts = cpts_alerts(analysis, on=date)
    alerts = alerts[alerts["alerte"] != ""][["departement", "nom", "stade", "alerte"]]
    name = f"remontee-{month}.xlsx"
    about = remontee_info(analysis, previous, month=month)
    write_remontee(table, actions, out_dir / name, info=about)
    shown = table.copy()
    for s in STAGES:
        shown[f"taux_{s}"] = shown[f"taux_{s}"].map(percent)
    for c in ("population", "population_zones_blanches"):
        shown[c] = shown[c].map(integer)
    shown = shown.drop(columns=["mois", "date_reference", *(f"pop_{s}" for s in STAGES)])
    late = actions[actions["en_retard"] == "oui"]
    parts = [
        '<h2 id="plan">Plan d\'action</h2>',
        f'<p class="note">Plan {_e(previous.path.name)} ; retards à la date du registre '
        f"({_e(french_date(date))}). Remontée DGOS/CNAM : "
        f'<a href="{_e(name)}">{_e(name)}</a>.</p>',
        _table(shown.rename(columns=TITLES)),
        "<h3>Actions en retard</h3>",
        _table(late) if len(late) else "<p>Aucune action en retard.</p>",
        "<h3>Alertes sur les CPTS</h3>",
        _table(alerts) if len(alerts) else "<p>Aucune alerte.</p>",
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
