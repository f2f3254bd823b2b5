"""Writing the plan d'action workbook a task force fills (:func:`write_plan`).

Sheets ``projets`` (grey headers: computed from the registry; yellow: typed by the task
force), ``jalons`` (the rétro-planning), ``cpts``, the sheets the task force added, ``lisez-moi``
and the hidden ``listes`` of the drop-downs. Headers and closed values in plain French;
drop-down lists for the strategy, the statut, the CPTS (the département's, the proposed new
ones, the porteurs first); date and number checks. Everything goes through the one
spreadsheet writer, :func:`couverture._workbook.write_xlsx`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture._plan_vocab import (
    COMPUTED,
    CPTS_TITLES,
    DATE_COLUMNS,
    MILESTONE_DATES,
    MILESTONE_TITLES,
    NUMBER_COLUMNS,
    PROJECT_TITLES,
    REGISTRY_CPTS_LABEL,
    SHEET_CPTS,
    SHEET_LISTS,
    SHEET_MILESTONES,
    SHEET_PROJECTS,
    SHEET_README,
    frame_in_words,
    vocabulary,
)
from couverture._workbook import Check, Page, Table, write_xlsx

if TYPE_CHECKING:
    import pandas as pd

    from couverture._plan_rows import Plan

#: Header colours of sheets ``projets`` and ``jalons``: computed (grey), typed (yellow).
GREY, YELLOW = "E7E6E6", "FFF2CC"
#: Empty rows below a table that keep its drop-downs and checks (rows the task force adds).
ROOM = 200
#: Date format of the date columns (the checks accept any date after 1 January 2000).
DATE_FORMAT = "DD/MM/YYYY"
_SINCE_2000 = "36526"  # 1 January 2000, as a spreadsheet counts days

README_LINES = [
    "Plan d'action des zones blanches — mode d'emploi",
    "",
    "Ce classeur suit l'instruction DGOS/R5/CNAM/2023/156 : pour chaque zone blanche, un ou "
    "plusieurs projets (création, extension, rattachement temporaire), un rétro-planning, le "
    "financement d'un coordonnateur (FIR), puis un suivi mensuel.",
    "",
    "Feuille « projets » : une ligne par projet, puis une ligne « sans décision » par zone blanche "
    "(ou reste de zone) qu'aucun projet ne couvre.",
    "  • Colonnes grises : calculées depuis le registre, réécrites chaque mois.",
    "  • Colonnes jaunes : à remplir par la task force. Le premier plan propose un projet par "
    "proposition recommandée (statut « proposé ») : le modifier, le scinder (copier la ligne, "
    "effacer son numéro de projet, répartir les communes), le fusionner ou l'abandonner.",
    "  • « Communes (codes INSEE) » est le périmètre du projet : la décision le suit, quels que "
    "soient les changements des zones du registre.",
    "  • Une ligne « sans décision » devient un projet dès qu'une stratégie y est choisie.",
    "  • Acteurs associés : URPS, FCPTS, fédération des MSP, élus, CLS, CPAM, ARS (séparés "
    "par des virgules).",
    "  • Des colonnes ou des feuilles ajoutées sont conservées d'un mois sur l'autre.",
    "",
    "Feuille « jalons » : le rétro-planning de chaque projet (réunion opérationnelle, lettre "
    "d'intention, coordinateur recruté, projet de santé, ACI signé) ; ajouter des lignes pour "
    "d'autres jalons. Un jalon est en retard quand sa date prévue est passée sans date "
    "réalisée. Lettre d'intention, projet de santé et ACI sont marqués réalisés d'eux-mêmes "
    "quand le registre montre la CPTS du projet à ce stade sur son périmètre.",
    "",
    "Situation d'un projet : « blanche », « en partie couverte », « couverte par la CPTS "
    "désignée » (c'est réussi : plus de retard), « couverte par une autre CPTS ».",
    "",
    "Le mois suivant : couverture plan-action --registre NOUVEAU --plan CE_FICHIER.xlsx "
    "--sortie NOUVEAU_PLAN.xlsx reprend tout ce qui a été saisi.",
    "couverture suivi --registre R --plan CE_FICHIER.xlsx : un point par projet (situation, "
    "prochain jalon, retards) à la date du registre ou à --date AAAA-MM-JJ.",
    "couverture remontee --mois AAAA-MM … : le tableau à retourner à la DGOS et à la CNAM.",
    "",
    "Feuille « cpts » : chaque CPTS avec son stade, les dates de stade du registre, le nombre "
    "de mois au stade actuel, sa population, sa taille et ses alertes.",
    "",
]


#: Column widths of the plan's sheets (others: 14).
WIDTHS = {
    "projet_id": 12,
    "type": 20,
    "cpts": 30,
    "cpts_mentor": 24,
    "porteur": 24,
    "communes": 30,
    "noms": 40,
    "zones": 18,
    "situation": 24,
    "cpts_couvrantes": 24,
    "proposition": 40,
    "modalites_suivi": 30,
    "acteurs": 30,
    "actions": 40,
    "commentaire": 30,
    "origine": 26,
    "jalon": 26,
    "nom": 32,
    "alerte": 50,
}


def write_plan(plan: Plan, path: Path | str) -> Path:
    """Write the plan d'action workbook atomically (temporary file, then rename).

    Headers and closed values in plain French; drop-down lists for the strategy, the statut,
    the CPTS (the département's, the proposed new ones, the porteurs first); date and number
    checks; text starting like a formula is written as text.
    """
    projects = frame_in_words(plan.projects[[*PROJECT_TITLES, *plan.extra_columns]])
    computed = set(COMPUTED)
    sheets: dict[str, pd.DataFrame | Table | Page] = {
        SHEET_PROJECTS: Table(
            projects,
            titles=PROJECT_TITLES,
            widths=WIDTHS,
            fills={c: GREY if c in computed else YELLOW for c in map(str, projects.columns)},
            checks=_project_checks(plan),
            formats=dict.fromkeys(DATE_COLUMNS, DATE_FORMAT),
            room=ROOM,
        ),
        SHEET_MILESTONES: Table(
            plan.milestones,
            titles=MILESTONE_TITLES,
            widths=WIDTHS,
            fills={c: GREY if c == "constat" else YELLOW for c in map(str, plan.milestones)},
            checks=[
                # a suggestion list: other milestones may be typed freely
                Check(
                    "jalon",
                    "list",
                    f"{SHEET_LISTS}!$C$2:$C${len(vocabulary()['jalons']) + 1}",
                ),
                *(_date_check(name) for name in MILESTONE_DATES),
            ],
            formats=dict.fromkeys(MILESTONE_DATES, DATE_FORMAT),
            room=ROOM,
        ),
        SHEET_CPTS: Table(plan.cpts, titles=CPTS_TITLES, widths=WIDTHS),
    }
    for extra in plan.extra_sheets:  # the sheets the task force added, as they were
        sheets[extra.title] = Page(extra.rows)
    sheets[SHEET_README] = Page(
        [*([line] for line in README_LINES), *([k, v] for k, v in plan.info.items())],
        widths={"A": 48, "B": 60},
        title_size=14,
    )
    sheets[SHEET_LISTS] = Page(_lists(plan), hidden=True)
    return write_xlsx(sheets, path)


def write_xlsx_tables(sheets: dict[str, pd.DataFrame], path: Path | str) -> Path:
    """Write tables as sheets of a workbook, atomically, with the plan's column widths.

    Text starting like a formula is written as text (the plain :func:`pandas.DataFrame.to_excel`
    would make it a formula).
    """
    return write_xlsx({name: Table(frame, widths=WIDTHS) for name, frame in sheets.items()}, path)


def _lists(plan: Plan) -> list[list[Any]]:
    """Return the rows of the hidden sheet of drop-down values (and the registry's CPTS)."""
    vocab = vocabulary()
    columns = [
        ("Stratégie retenue", vocab["strategies"]),
        ("Statut", vocab["statuts"]),
        ("Jalon", vocab["jalons"]),
        ("CPTS", plan.cpts_names),
        (REGISTRY_CPTS_LABEL, plan.registry_cpts),
    ]
    depth = max(len(values) for _, values in columns)
    rows: list[list[Any]] = [[title for title, _ in columns]]
    for r in range(depth):
        rows.append([values[r] if r < len(values) else None for _, values in columns])
    return rows


def _date_check(column: str) -> Check:
    return Check(
        column,
        "date",
        _SINCE_2000,
        operator="greaterThan",
        error_title="Date attendue",
        error="Saisir une date (JJ/MM/AAAA)",
    )


def _project_checks(plan: Plan) -> list[Check]:
    """Return the drop-down lists, date and number checks of sheet ``projets``."""
    vocab = vocabulary()
    checks = [
        Check.choices(name, vocab[kind], error_title="Valeur non prévue")
        for name, kind in (("type", "strategies"), ("statut", "statuts"))
    ]
    n_names = max(len(plan.cpts_names), 1)
    # a suggestion list: a new CPTS or porteur may be typed freely
    names = f"{SHEET_LISTS}!$D$2:$D${n_names + 1}"
    checks += [
        Check(name, "list", names) for name in ("cpts", "cpts_mentor", "porteur", "fir_mutualise")
    ]
    checks += [_date_check(name) for name in DATE_COLUMNS]
    checks += [
        Check(
            name,
            "decimal",
            "0",
            operator="greaterThanOrEqual",
            error_title="Nombre attendu",
            error="Saisir un nombre",
        )
        for name in NUMBER_COLUMNS
    ]
    return checks
