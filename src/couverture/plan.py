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
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture._config import toml
from couverture._errors import PlanError
from couverture._format import is_missing
from couverture._output import atomic_path, protect_cell
from couverture._plan_book import Sheet, column_letter, load

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis

log = logging.getLogger(__name__)

SHEET_PROJECTS = "projets"
SHEET_MILESTONES = "jalons"
SHEET_CPTS = "cpts"
SHEET_README = "lisez-moi"
SHEET_LISTS = "listes"
#: The one sheet of plans written before projects (read, never written).
SHEET_ZONES = "zones"
OWN_SHEETS = (SHEET_PROJECTS, SHEET_MILESTONES, SHEET_CPTS, SHEET_README, SHEET_LISTS)

#: Columns of sheet ``projets``: machine key → header (meeting language).
PROJECT_TITLES = {
    "projet_id": "Projet",
    "departement": "Département",
    "type": "Stratégie retenue",
    "cpts": "CPTS à étendre ou à créer",
    "cpts_mentor": "CPTS mentor",
    "porteur": "Porteur",
    "communes": "Communes (codes INSEE)",
    "noms": "Noms des communes",
    "population": "Population",
    "zones": "Zones blanches servies",
    "situation": "Situation",
    "cpts_couvrantes": "CPTS présentes",
    "proposition": "Proposition de l'outil",
    "statut": "Statut",
    "fir_montant": "Coordonnateur FIR : montant annuel (€)",
    "fir_etp": "Coordonnateur FIR : ETP",
    "fir_debut": "Coordonnateur FIR : début",
    "fir_duree": "Coordonnateur FIR : durée (mois)",
    "fir_mutualise": "Coordonnateur mutualisé avec",
    "modalites_suivi": "Modalités de suivi",
    "acteurs": "Acteurs associés",
    "actions": "Actions",
    "commentaire": "Commentaire",
    "origine": "Origine",
}
#: Columns computed from the registry (rewritten at each generation, grey).
COMPUTED = ("noms", "population", "zones", "situation", "cpts_couvrantes", "proposition", "origine")
#: Columns a task force types (carried over), apart from the perimeter.
DECISION_COLUMNS = [
    k for k in PROJECT_TITLES if k not in COMPUTED and k not in ("projet_id", "departement")
]
NUMBER_COLUMNS = ("fir_montant", "fir_etp", "fir_duree")
DATE_COLUMNS = ("fir_debut",)
#: Columns of sheet ``jalons``.
MILESTONE_TITLES = {
    "projet_id": "Projet",
    "jalon": "Jalon",
    "prevue": "Date prévue",
    "realisee": "Date réalisée",
    "responsable": "Responsable",
    "commentaire": "Commentaire",
    "constat": "Constaté au registre",
}
MILESTONE_DATES = ("prevue", "realisee")

#: Situations of a perimeter (machine key → words).
SITUATIONS = {
    "blanche": "blanche",
    "en_partie_couverte": "en partie couverte",
    "couverte_cpts_designee": "couverte par la CPTS désignée",
    "couverte_autre_cpts": "couverte par une autre CPTS",
}
WHITE, PARTLY, COVERED, COVERED_OTHER = SITUATIONS
NO_DECISION = "sans_decision"
PROPOSED = "propose"
#: Label of the reference date in sheet lisez-moi.
REFERENCE_DATE_LABEL = "Date de référence (retards, mois au stade)"
DEPARTEMENTS_LABEL = "Départements du plan"
#: Hidden list of the CPTS the registry held when the plan was written (a new one is born since).
REGISTRY_CPTS_LABEL = "CPTS du registre"

FOLLOW_UP_COLUMNS = [
    "projet_id",
    "zone_id",
    "departement",
    "type",
    "cpts",
    "communes",
    "population",
    "situation",
    "prochain_jalon",
    "echeance",
    "en_retard",
    "statut",
    "cpts_couvrantes",
    "jalons_realises",
    "jalons_en_retard",
    "origine",
]

#: Headers of the follow-up in a workbook or a page (meeting language).
FOLLOW_UP_TITLES = {
    "projet_id": "Projet",
    "zone_id": "Zone blanche",
    "departement": "Département",
    "type": "Stratégie retenue",
    "cpts": "CPTS",
    "communes": "Communes (codes INSEE)",
    "population": "Population",
    "situation": "Situation",
    "prochain_jalon": "Prochain jalon",
    "echeance": "Échéance",
    "en_retard": "En retard",
    "statut": "Statut",
    "cpts_couvrantes": "CPTS présentes",
    "jalons_realises": "Jalons réalisés",
    "jalons_en_retard": "Jalons en retard",
    "origine": "Origine",
}

# the columns of plans written before projects (one row per zone), read into projects
_LEGACY = {
    "strategie_retenue": "type",
    "cpts_ou_porteur": "cpts",
    "cpts_mentor": "cpts_mentor",
    "statut": "statut",
    "actions": "actions",
    "commentaire": "commentaire",
}
_ZONE_ID = re.compile(r"ZB-(?:\d\d|2A|2B|97\d)-((?:\d\d|2A|2B)\d{3})", re.IGNORECASE)
_DEPARTEMENT = re.compile(r"\d\d|2A|2B|97[1-8]")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")

Problem = tuple[str | None, int | None, str, str]


def vocabulary() -> dict[str, list[str]]:
    """Return the closed lists of ``config/plan.toml`` (``strategies``, ``statuts``…)."""
    return {k: list(v) for k, v in toml("plan.toml").items() if isinstance(v, list)}


def _settings() -> dict[str, Any]:
    return toml("plan.toml")


def key(text: str) -> str:
    """Machine key of a word: no accents, lower case, ``_`` for spaces (« Création » → creation)."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^0-9a-z]+", "_", ascii_text.lower()).strip("_")


_key = key  # the name other modules used


def words(kind: str) -> dict[str, str]:
    """Machine key → words of a closed list of ``config/plan.toml`` (``strategies``…)."""
    return {key(w): w for w in vocabulary().get(kind, [])}


def in_words(value: str, kind: str) -> str:
    """Return the words of a machine key (« rattachement_temporaire » → in words)."""
    if kind == "situations":
        return SITUATIONS.get(value, value)
    return words(kind).get(value, value)


# ------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------
@dataclass
class PlanFile:
    """A plan d'action read and checked (:func:`read_plan`).

    Attributes
    ----------
    path
        The workbook.
    rows
        One dict per non-empty row of sheet ``projets`` (or of sheet ``zones`` of a plan
        written before projects, each decided zone becoming one project): ``ligne``, the keys of
        :data:`PROJECT_TITLES` (closed values as machine keys, ``communes`` a list of codes,
        dates as :class:`datetime.date`, numbers as float) and ``extra`` (header → value of the
        columns the task force added).
    milestones
        One dict per row of sheet ``jalons`` (keys of :data:`MILESTONE_TITLES`, ``ligne``,
        ``extra``).
    declared
        Départements written in sheet lisez-moi (a plan without a row still has its scope).
    known_cpts
        Keys of the CPTS names of sheet ``cpts`` (the registry when the plan was written).
    cpts_extra
        Columns added to sheet ``cpts``: CPTS name → header → value.
    extra_sheets
        Sheets the task force added, kept as they are.
    legacy
        Whether the plan was written before projects (sheet ``zones``).
    """

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    declared: tuple[str, ...] = ()
    known_cpts: set[str] = field(default_factory=set)
    cpts_extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra_sheets: list[Sheet] = field(default_factory=list)
    legacy: bool = False

    @property
    def departements(self) -> tuple[str, ...]:
        """Départements of the plan's rows, else those declared in sheet lisez-moi."""
        found = {r["departement"] for r in self.rows if r["departement"]}
        return tuple(sorted(found)) or self.declared


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _parse_cell_date(value: object) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        for fmt in _DATE_FORMATS:
            try:
                return dt.datetime.strptime(value.strip(), fmt).date()
            except ValueError:
                continue
    raise ValueError(value)


def _parse_number(value: object) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return float(value)
    text = re.sub(r"[\s\u202f\u00a0€]|eur(os?)?", "", str(value).lower()).replace(",", ".")
    if text.endswith("%"):
        return float(text[:-1]) / 100
    return float(text)


def _departement_of(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


@dataclass
class _Columns:
    """Where each known column of a sheet is, and the columns added by the task force."""

    header_row: int
    position: dict[str, int]
    extra: dict[str, int]


def _columns(
    sheet: Sheet, titles: dict[str, str], legacy: dict[str, str], problems: list[Problem]
) -> tuple[_Columns, list[str]]:
    """Find the header (first of the first rows naming three known columns) and its columns."""
    known = {key(t): k for k, t in titles.items()} | {key(k): k for k in titles}
    known |= {key(k): k for k in legacy}
    header_row = 0
    for i, row in enumerate(sheet.rows[:10]):
        if sum(1 for v in row if key(_text(v)) in known) >= 3:
            header_row = i
            break
    header = sheet.rows[header_row] if sheet.rows else []
    position: dict[str, int] = {}
    extra: dict[str, int] = {}
    notes: list[str] = []
    for j, value in enumerate(header):
        text = _text(value)
        name = known.get(key(text)) if text else None
        if name is not None and name not in position:
            position[name] = j
            continue
        body = [r[j] for r in sheet.rows[header_row + 1 :] if j < len(r)]
        if not text and all(_text(v) == "" for v in body):
            continue
        label = text or f"colonne {column_letter(j + 1)}"
        while label in extra:
            label += " (bis)"
        extra[label] = j
        if name is not None:
            notes.append(f"« {text} » en double (colonne {column_letter(j + 1)}) gardée à part")
        elif not text:
            notes.append(f"valeurs sans en-tête en colonne {column_letter(j + 1)} conservées")
    if extra:
        added = [n for n in extra if not any(n in note for note in notes)]
        if added:
            notes.append("colonnes ajoutées conservées : " + ", ".join(added))
    return _Columns(header_row + 1, position, extra), notes


def read_plan(path: Path | str) -> PlanFile:
    """Read and check a plan d'action workbook (hand edits included).

    Merged cells give their value to every cell they cover, formulas their cached value;
    columns and sheets the task force added are kept (and named in a warning).

    Raises
    ------
    PlanError
        When the file is not an XLSX workbook (the format is named), sheet ``projets`` (or
        ``zones``) is missing, a closed value, a date, a number or a département is wrong, or a
        project has no commune; every problem names the sheet, the cell and the value.
    """
    path = Path(path)
    sheets = {s.title: s for s in load(path)}
    plan = PlanFile(path)
    problems: list[Problem] = []
    notes: list[str] = []
    if SHEET_PROJECTS in sheets:
        _read_projects(plan, sheets[SHEET_PROJECTS], problems, notes)
        if SHEET_MILESTONES in sheets:
            _read_milestones(plan, sheets[SHEET_MILESTONES], problems, notes)
    elif SHEET_ZONES in sheets:
        plan.legacy = True
        _read_legacy(plan, sheets[SHEET_ZONES], problems, notes)
    else:
        raise PlanError(
            path,
            [
                (
                    SHEET_PROJECTS,
                    None,
                    "",
                    "feuille absente (feuilles du classeur : " + ", ".join(sheets) + ")",
                )
            ],
        )
    if SHEET_README in sheets:
        plan.declared = _declared(sheets[SHEET_README])
    if SHEET_CPTS in sheets:
        _read_cpts(plan, sheets[SHEET_CPTS], notes)
    if SHEET_LISTS in sheets:
        _read_lists(plan, sheets[SHEET_LISTS])
    own = (*OWN_SHEETS, SHEET_ZONES)
    plan.extra_sheets = [s for t, s in sheets.items() if t not in own]
    if plan.extra_sheets:
        notes.append(
            "feuilles ajoutées conservées : " + ", ".join(s.title for s in plan.extra_sheets)
        )
    if problems:
        raise PlanError(path, problems)
    for note in notes:
        log.warning("%s : %s", path.name, note)
    return plan


def _get(raw: list[Any], j: int | None) -> Any:
    return raw[j] if j is not None and j < len(raw) else None


def _closed(
    value: object, kind: str, where: tuple[str, int, int], title: str, problems: list[Problem]
) -> str:
    text = _text(value)
    if not text:
        return ""
    allowed = vocabulary()[kind]
    found = key(text)
    if found in {key(v) for v in allowed}:
        return found
    sheet, row, j = where
    problems.append(
        (
            sheet,
            row,
            text,
            f"cellule {column_letter(j + 1)}{row} ({title}) : valeur inconnue (valeurs "
            "possibles : " + ", ".join(allowed) + ")",
        )
    )
    return ""


def _typed_value(
    column: str,
    value: object,
    where: tuple[str, int, int],
    title: str,
    problems: list[Problem],
) -> Any:
    sheet, row, j = where
    if column in DATE_COLUMNS or column in MILESTONE_DATES:
        try:
            return _parse_cell_date(value)
        except ValueError:
            problems.append(
                (
                    sheet,
                    row,
                    _text(value),
                    f"cellule {column_letter(j + 1)}{row} ({title}) : date attendue (JJ/MM/AAAA)",
                )
            )
            return None
    if column in NUMBER_COLUMNS:
        try:
            return _parse_number(value)
        except ValueError:
            problems.append(
                (
                    sheet,
                    row,
                    _text(value),
                    f"cellule {column_letter(j + 1)}{row} ({title}) : nombre attendu",
                )
            )
            return None
    return _text(value)


def _codes(value: object) -> list[str]:
    return [c.upper() for c in re.split(r"[\s,;]+", _text(value)) if c]


def _check_departement(
    row: dict[str, Any], value: object, where: tuple[str, int, int], problems: list[Problem]
) -> None:
    sheet, number, j = where
    text = _text(value).upper()
    if text.isdigit() and len(text) == 1:
        text = "0" + text
    if text and not _DEPARTEMENT.fullmatch(text):
        problems.append(
            (
                sheet,
                number,
                _text(value),
                f"cellule {column_letter(j + 1)}{number} (Département) : code de département "
                "attendu (35, 2A, 974…)",
            )
        )
        text = ""
    if not text:
        match = _ZONE_ID.search(" ".join(row.get("zones_lues", [])))
        code = match.group(1) if match else (row["communes"] or [""])[0]
        text = _departement_of(code) if code else ""
    row["departement"] = text


def _read_projects(plan: PlanFile, sheet: Sheet, problems: list[Problem], notes: list[str]) -> None:
    cols, found_notes = _columns(sheet, PROJECT_TITLES, {}, problems)
    notes += [f"feuille « {sheet.title} » : {n}" for n in found_notes]
    if "communes" not in cols.position:
        problems.append(
            (sheet.title, cols.header_row, PROJECT_TITLES["communes"], "colonne absente")
        )
        return
    pos = cols.position
    for number, raw in enumerate(sheet.rows[cols.header_row :], start=cols.header_row + 1):
        if all(_text(v) == "" for v in raw):
            continue
        row: dict[str, Any] = {"ligne": number, "communes": _codes(_get(raw, pos["communes"]))}
        row["zones_lues"] = _codes(_get(raw, pos.get("zones")))
        for column in [*DECISION_COLUMNS, "projet_id"]:
            j = pos.get(column)
            value = _get(raw, j)
            where = (sheet.title, number, j if j is not None else 0)
            title = PROJECT_TITLES[column]
            if column == "type":
                row[column] = _closed(value, "strategies", where, title, problems)
            elif column == "statut":
                row[column] = _closed(value, "statuts", where, title, problems)
            elif column == "communes":
                continue
            else:
                row[column] = _typed_value(column, value, where, title, problems)
        dep_j = pos.get("departement")
        _check_departement(row, _get(raw, dep_j), (sheet.title, number, dep_j or 0), problems)
        row["extra"] = {h: _get(raw, j) for h, j in cols.extra.items() if _text(_get(raw, j))}
        if not row["communes"] and (row["projet_id"] or typed(row)):
            j = pos["communes"]
            problems.append(
                (
                    sheet.title,
                    number,
                    row["projet_id"],
                    f"cellule {column_letter(j + 1)}{number} : communes du projet effacées, "
                    "son périmètre est perdu (remettre les codes INSEE de ses communes)",
                )
            )
        plan.rows.append(row)


def _read_milestones(
    plan: PlanFile, sheet: Sheet, problems: list[Problem], notes: list[str]
) -> None:
    cols, found_notes = _columns(sheet, MILESTONE_TITLES, {}, problems)
    notes += [f"feuille « {sheet.title} » : {n}" for n in found_notes]
    pos = cols.position
    for column in ("projet_id", "jalon"):
        if column not in pos:
            problems.append(
                (sheet.title, cols.header_row, MILESTONE_TITLES[column], "colonne absente")
            )
    if problems:
        return
    for number, raw in enumerate(sheet.rows[cols.header_row :], start=cols.header_row + 1):
        if all(_text(v) == "" for v in raw):
            continue
        row: dict[str, Any] = {"ligne": number}
        for column, title in MILESTONE_TITLES.items():
            j = pos.get(column)
            row[column] = _typed_value(
                column, _get(raw, j), (sheet.title, number, j or 0), title, problems
            )
        row["extra"] = {h: _get(raw, j) for h, j in cols.extra.items() if _text(_get(raw, j))}
        plan.milestones.append(row)


def _read_legacy(plan: PlanFile, sheet: Sheet, problems: list[Problem], notes: list[str]) -> None:
    """Read a plan of one row per zone: each typed row becomes one project with its milestones."""
    titles = {"zone_id": "zone_id", "departement": "departement", "communes": "communes"}
    titles |= {k: k for k in (*_LEGACY, "coordonnateur_finance", "date_reunion", "echeance")}
    cols, found_notes = _columns(sheet, titles, {}, problems)
    notes += [f"feuille « {sheet.title} » : {n}" for n in found_notes if "ajoutées" not in n]
    pos = cols.position
    for column in ("zone_id", "communes"):
        if column not in pos:
            problems.append((sheet.title, cols.header_row, column, "colonne absente"))
    if problems:
        return
    computed = {
        "noms", "population", "situation", "cpts_couvrantes", "origine",
        "option_recommandee", "cpts_cible", "alternatives",
    }  # fmt: skip
    extra = {h: j for h, j in cols.extra.items() if h not in computed}
    for number, raw in enumerate(sheet.rows[cols.header_row :], start=cols.header_row + 1):
        if all(_text(v) == "" for v in raw):
            continue
        zone_id = _text(_get(raw, pos["zone_id"]))
        codes = _legacy_codes(zone_id, _codes(_get(raw, pos["communes"])), number, notes)
        row: dict[str, Any] = {"ligne": number, "communes": codes, "zones_lues": [zone_id]}
        for old, new in _LEGACY.items():
            j = pos.get(old)
            where = (sheet.title, number, j or 0)
            if new == "type":
                row[new] = _closed(_get(raw, j), "strategies", where, old, problems)
            elif new == "statut":
                row[new] = _closed(_get(raw, j), "statuts", where, old, problems)
            else:
                row[new] = _text(_get(raw, j))
        dates = {}
        for old in ("date_reunion", "echeance"):
            j = pos.get(old)
            dates[old] = _typed_value(
                "prevue", _get(raw, j), (sheet.title, number, j or 0), old, problems
            )
        coordinator = _text(_get(raw, pos.get("coordonnateur_finance")))
        dep_j = pos.get("departement")
        _check_departement(row, _get(raw, dep_j), (sheet.title, number, dep_j or 0), problems)
        row["extra"] = {h: _get(raw, j) for h, j in extra.items() if _text(_get(raw, j))}
        decided = any(row[c] for c in ("type", "cpts", "cpts_mentor", "statut", "actions"))
        if not (
            decided or coordinator or row["commentaire"] or any(dates.values()) or row["extra"]
        ):
            continue  # an undecided zone: recomputed from the registry
        for column in DECISION_COLUMNS:
            row.setdefault(column, None if column in (*NUMBER_COLUMNS, *DATE_COLUMNS) else "")
        if not row["type"]:
            row["type"] = "autre"
        if coordinator:
            row["commentaire"] = "; ".join(
                t for t in (row["commentaire"], f"coordonnateur financé : {coordinator}") if t
            )
        row["projet_id"] = ""
        row["origine_lue"] = f"plan par zone, ligne {number} ({zone_id})"
        plan.rows.append(row)
        _legacy_milestones(plan, row, dates)


def _legacy_codes(zone_id: str, codes: list[str], number: int, notes: list[str]) -> list[str]:
    """Return a legacy row's communes; a disagreement with its zone_id is told, not hidden."""
    match = _ZONE_ID.fullmatch(zone_id)
    if match and codes and match.group(1).upper() not in codes:
        notes.append(
            f"ligne {number} : zone_id {zone_id} et communes ne concordent pas ; "
            "les communes font foi"
        )
    if not codes and match:
        notes.append(
            f"ligne {number} : communes effacées ; la zone {zone_id} est réduite à la "
            f"commune {match.group(1)} de son identifiant"
        )
        codes = [match.group(1).upper()]
    return codes


def _legacy_milestones(
    plan: PlanFile, row: dict[str, Any], dates: dict[str, dt.date | None]
) -> None:
    """Turn a legacy row's meeting date and échéance into milestones of its project."""
    ref = f"#{len(plan.rows)}"  # the project's id is given in reconcile
    row["_ref"] = ref
    if dates["date_reunion"]:
        plan.milestones.append(
            _milestone(ref, "réunion opérationnelle", realisee=dates["date_reunion"])
        )
    if row["actions"] or dates["echeance"]:
        done = row["statut"] == key("réalisé")
        plan.milestones.append(
            _milestone(
                ref,
                row["actions"][:80] or "échéance",
                prevue=dates["echeance"],
                realisee=dates["echeance"] if done else None,
            )
        )


def _milestone(
    projet_id: str,
    jalon: str,
    *,
    prevue: dt.date | None = None,
    realisee: dt.date | None = None,
    responsable: str = "",
    commentaire: str = "",
    constat: str = "",
) -> dict[str, Any]:
    return {
        "ligne": None,
        "projet_id": projet_id,
        "jalon": jalon,
        "prevue": prevue,
        "realisee": realisee,
        "responsable": responsable,
        "commentaire": commentaire,
        "constat": constat,
        "extra": {},
    }


def _declared(sheet: Sheet) -> tuple[str, ...]:
    for raw in sheet.rows:
        if raw and _text(raw[0]) == DEPARTEMENTS_LABEL and len(raw) > 1:
            return tuple(d for d in re.split(r"[\s,;]+", _text(raw[1]).upper()) if d)
    return ()


def _read_cpts(plan: PlanFile, sheet: Sheet, notes: list[str]) -> None:
    from couverture.alerts import CPTS_COLUMNS

    if not sheet.rows:
        return
    header = [_text(h) for h in sheet.rows[0]]
    known = {key(t) for t in (*CPTS_COLUMNS, *CPTS_TITLES.values())}
    try:
        name_at = next(j for j, h in enumerate(header) if key(h) in ("nom", "cpts"))
    except StopIteration:
        return
    added = {h: j for j, h in enumerate(header) if h and key(h) not in known}
    for raw in sheet.rows[1:]:
        name = _text(_get(raw, name_at))
        if not name:
            continue
        plan.known_cpts.add(cpts_key(name))
        values = {h: _get(raw, j) for h, j in added.items() if _text(_get(raw, j))}
        if values:
            plan.cpts_extra[name] = values
    if added:
        notes.append(
            f"feuille « {sheet.title} » : colonnes ajoutées conservées : " + ", ".join(added)
        )


def _read_lists(plan: PlanFile, sheet: Sheet) -> None:
    if not sheet.rows:
        return
    for j, title in enumerate(sheet.rows[0]):
        if _text(title) == REGISTRY_CPTS_LABEL:
            plan.known_cpts = {
                cpts_key(_text(r[j])) for r in sheet.rows[1:] if j < len(r) and _text(r[j])
            }


def typed(row: Any) -> bool:
    """Whether a task force typed a decision in a row of a plan (read or reconciled).

    The tool's proposal (statut « proposé », strategy, CPTS and perimeter as proposed) is no
    decision; any other decision column, a statut other than « proposé » or an added column is.
    """
    statut = str(row.get("statut") or "")
    if statut and statut != PROPOSED:
        return True
    proposed = ("type", "cpts", "cpts_mentor", "statut", "communes")
    free = [c for c in DECISION_COLUMNS if c not in proposed]
    if any(not is_missing(row.get(c)) and row.get(c) not in ("", None) for c in free):
        return True
    if not statut and row.get("type"):
        return True  # a strategy typed on an undecided row
    return bool(row.get("extra"))


def decisions_in(path: Path | str) -> int | None:
    """Count what a task force typed in an existing plan: rows and milestones (``None``: no plan).

    Used before a plan is written over an existing file: what a task force typed must never be
    replaced by a blank plan.
    """
    try:
        found = read_plan(path)
    except PlanError:
        return None
    rows = sum(1 for r in found.rows if typed(r))
    return rows + sum(1 for m in found.milestones if _typed_milestone(m))


def plan_departements(
    previous: PlanFile | None, requested: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    """Départements to analyse: ``requested`` (``--departement``), else those of the plan.

    Raises
    ------
    PlanError
        When the plan holds projects of a département not requested, or says nothing of its
        départements (no row, nothing in sheet lisez-moi) and none is requested.
    """
    if previous is None:
        return requested
    if requested is None:
        if not previous.departements:
            raise PlanError(
                previous.path,
                [
                    (
                        SHEET_PROJECTS,
                        None,
                        "",
                        "plan sans projet ni département déclaré : préciser --departement",
                    )
                ],
            )
        return previous.departements
    outside = [r for r in previous.rows if r["departement"] not in requested]
    if outside:
        deps = sorted({r["departement"] for r in outside})
        first = outside[0]
        sheet = SHEET_ZONES if previous.legacy else SHEET_PROJECTS
        raise PlanError(
            previous.path,
            [
                (
                    sheet,
                    first["ligne"],
                    first["departement"],
                    f"le plan concerne {'les départements' if len(deps) > 1 else 'le département'}"
                    f" {', '.join(deps)}, pas --departement "
                    + ",".join(requested)
                    + f" ({len(outside)} ligne{'s' if len(outside) > 1 else ''})",
                )
            ],
        )
    return requested


# ------------------------------------------------------------------------------------------
# what the registry says of the communes
# ------------------------------------------------------------------------------------------
def cpts_key(name: str) -> str:
    """Compare CPTS names without accents, case, punctuation nor the word « CPTS »."""
    return re.sub(r"(^|_)cpts(_|$)", r"\1", key(name)).strip("_")


def same_cpts(a: str, b: str) -> bool:
    """Whether two CPTS names designate the same CPTS (one name contains the other)."""
    ka, kb = cpts_key(a), cpts_key(b)
    if not ka or not kb:
        return False
    return ka == kb or (min(len(ka), len(kb)) >= 6 and (ka in kb or kb in ka))


@dataclass(frozen=True)
class _Communes:
    """What the registry says of each commune, by code."""

    stage: dict[str, Any]
    population: dict[str, int]
    names: dict[str, str]
    departement: dict[str, str]
    members: dict[str, list[tuple[str, str, Any]]]  # code → (cpts_id, nom, stade)
    cpts_dates: dict[str, dict[str, Any]]  # cpts_id → date_<stade>

    @classmethod
    def of(cls, analysis: Analysis) -> _Communes:
        """Read the communes of the analysis's national view."""
        national = analysis.national()
        units = national.units()
        stades = units["stade"].astype(object).where(units["stade"].notna(), None)
        registry = national.registry
        table = registry.cpts
        stage_of = table["stade"].astype(object).where(table["stade"].notna(), None).to_dict()
        name_of = table["nom"].astype(str).to_dict()
        members: dict[str, list[tuple[str, str, Any]]] = {}
        for cid, code in zip(
            registry.membership["cpts_id"], registry.membership["code"], strict=True
        ):
            members.setdefault(str(code), []).append((str(cid), name_of[cid], stage_of[cid]))
        dates = {
            str(cid): {c: row[c] for c in table.columns if str(c).startswith("date_")}
            for cid, row in table.iterrows()
        }
        return cls(
            stage=dict(zip(units["code"], stades, strict=True)),
            population=dict(zip(units["code"], units["population"].astype(int), strict=True)),
            names=dict(zip(units["code"], units["nom"], strict=True)),
            departement=dict(zip(units["code"], units["departement"], strict=True)),
            members=members,
            cpts_dates=dates,
        )

    def names_of(self, codes: list[str]) -> str:
        """Return the names of ``codes``, comma-separated (a code for an unknown commune)."""
        return ", ".join(self.names.get(c, c) for c in codes)

    def covering(self, codes: list[str]) -> str:
        """Names of the CPTS present on ``codes``."""
        return ", ".join(sorted({n for c in codes for _, n, _ in self.members.get(c, [])}))


_STAGE_RANK = {"lettre_intention": 1, "projet_sante": 2, "aci": 3}


def _designated_ids(project: dict[str, Any], communes: _Communes, known: set[str]) -> set[str]:
    """Return the CPTS on the perimeter that are the one the project designates.

    Its name matches the project's CPTS (or its id does); for a creation, a CPTS the registry
    did not hold when the plan was written (born since) covering at least half of the
    perimeter's population is the one created, whatever its final name.
    """
    population: dict[str, int] = {}
    names: dict[str, str] = {}
    for code in project["communes"]:
        for cid, name, stade in communes.members.get(code, []):
            if stade is not None:
                population[cid] = population.get(cid, 0) + communes.population.get(code, 0)
                names[cid] = name
    total = sum(communes.population.get(c, 0) for c in project["communes"]) or 1
    target = str(project.get("cpts") or "")
    found = {cid for cid, name in names.items() if same_cpts(name, target) or cid == target}
    if project.get("type") == "creation" and known:
        found |= {
            cid
            for cid, name in names.items()
            if cpts_key(name) not in known and population[cid] * 2 >= total
        }
    return found


def _situation(project: dict[str, Any], communes: _Communes, known: set[str]) -> tuple[str, str]:
    """Situation of a perimeter and the best stage reached there by the designated CPTS."""
    codes = project["communes"]
    designated = _designated_ids(project, communes, known)
    covered = [c for c in codes if communes.stage.get(c) is not None]
    best = ""
    mine_codes: list[str] = []
    for c in covered:
        mine = [
            stade
            for cid, _, stade in communes.members.get(c, [])
            if stade is not None and cid in designated
        ]
        if mine:
            mine_codes.append(c)
            for stade in mine:
                if _STAGE_RANK.get(stade, 0) > _STAGE_RANK.get(best, 0):
                    best = stade
    if not covered:
        return WHITE, best
    if len(covered) < len(codes):
        return PARTLY, best
    # covered all over: by the designated CPTS when it holds the share a claim needs
    share = float(_settings().get("part_revendiquee", 1.0))
    total = sum(communes.population.get(c, 0) for c in codes)
    held = sum(communes.population.get(c, 0) for c in mine_codes)
    return (COVERED if held >= share * total and mine_codes else COVERED_OTHER), best


# ------------------------------------------------------------------------------------------
# carrying projects over
# ------------------------------------------------------------------------------------------
def _proposal_projects(proposals: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One project per recommended proposal (statut « proposé »)."""
    if proposals is None or proposals.empty:
        return []
    out = []
    best = proposals[proposals["recommandee"].astype(str) == "oui"]
    mentor = "cpts_mentor" in proposals.columns
    for r in best.itertuples(index=False):
        target = str(r.cpts_cible or "") or str(r.nom_propose or "")
        option = str(r.option)
        text = f"{in_words(option, 'strategies')} : {target}"
        if str(r.motif or ""):
            text += f" ({r.motif})"
        out.append(
            {
                "type": option,
                "cpts": target,
                "cpts_mentor": str(getattr(r, "cpts_mentor", "") or "") if mentor else "",
                "communes": str(r.communes).split(),
                "statut": PROPOSED,
                "proposition": text,
                "origine_lue": "proposition de l'outil",
                "zones_lues": [str(r.zone_id)],
            }
        )
    return out


def _zone_proposals(proposals: pd.DataFrame | None) -> dict[str, str]:
    """``zone_id`` → the recommended proposal, in words (for undecided rows)."""
    if proposals is None or proposals.empty:
        return {}
    out: dict[str, list[str]] = {}
    best = proposals[proposals["recommandee"].astype(str) == "oui"]
    for r in best.itertuples(index=False):
        target = str(r.cpts_cible or "") or f"{r.nom_propose} (à créer)"
        out.setdefault(str(r.zone_id), []).append(
            f"{in_words(str(r.option), 'strategies')} : {target}"
        )
    return {z: " ; ".join(v) for z, v in out.items()}


def _new_id(departement: str, taken: set[str]) -> str:
    n = 1
    while f"P-{departement}-{n:03d}" in taken:
        n += 1
    found = f"P-{departement}-{n:03d}"
    taken.add(found)
    return found


@dataclass
class Reconciled:
    """The plan's rows (projects then undecided rows) and milestones, as frames."""

    projects: pd.DataFrame
    milestones: pd.DataFrame
    extra_columns: list[str]


def _blank(project: dict[str, Any]) -> dict[str, Any]:
    for column in DECISION_COLUMNS:
        project.setdefault(column, None if column in (*NUMBER_COLUMNS, *DATE_COLUMNS) else "")
    project.setdefault("projet_id", "")
    project.setdefault("extra", {})
    return project


def _assign_ids(projects: list[dict[str, Any]], milestones: list[dict[str, Any]]) -> None:
    taken = {p["projet_id"] for p in projects if p["projet_id"]}
    seen: dict[str, int] = {}
    for p in projects:
        pid = p["projet_id"]
        if pid and pid in seen:  # a row copied by hand (a project split): a new project
            new = _new_id(p["departement"], taken)
            log.warning(
                "projet %s en double (lignes %s et %s) : la ligne %s devient le projet %s",
                pid,
                seen[pid],
                p.get("ligne"),
                p.get("ligne"),
                new,
            )
            p["projet_id"] = new
        elif not pid:
            p["projet_id"] = _new_id(p["departement"], taken)
            for m in milestones:
                if p.get("_ref") and m["projet_id"] == p["_ref"]:
                    m["projet_id"] = p["projet_id"]
        seen.setdefault(p["projet_id"], p.get("ligne") or 0)


def _standard_milestones(project: dict[str, Any], on: dt.date) -> list[dict[str, Any]]:
    names = vocabulary()["jalons"]
    out = []
    for name in names:
        prevue = None
        if name == names[0] and _settings().get("reunion_avant_fin_annee", False):
            prevue = dt.date(on.year, 12, 31)
        out.append(_milestone(project["projet_id"], name, prevue=prevue))
    return out


def _month_end(month: str) -> dt.date:
    import calendar

    year, mm = int(month[:4]), int(month[5:7])
    return dt.date(year, mm, calendar.monthrange(year, mm)[1])


def _mark_done(
    milestones: list[dict[str, Any]],
    project: dict[str, Any],
    best: str,
    communes: _Communes,
    on: dt.date,
    designated: set[str],
    seen: dict[tuple[str, str], str] | None = None,
) -> None:
    """Mark the stage milestones the designated CPTS reached on the perimeter.

    Done on the registry's stage date when it has one, else at the end of the first month the
    history recorded the CPTS at that stage or beyond (``seen``), else at ``on``.
    """
    from couverture._format import month as french_month

    stages = _settings().get("jalons_stades", {})
    dates: list[Any] = []
    for code in project["communes"]:
        for cid, _name, _stade in communes.members.get(code, []):
            if cid in designated:
                dates.append(communes.cpts_dates.get(cid, {}))
    for m in milestones:
        if m["projet_id"] != project["projet_id"] or m["realisee"]:
            continue
        stage = stages.get(m["jalon"])
        if stage is None or _STAGE_RANK.get(stage, 0) > _STAGE_RANK.get(best, 0):
            continue
        found = [d.get(f"date_{stage}") for d in dates]
        known = sorted(x for v in found if not is_missing(v) and (x := _as_date(v)) and x <= on)
        months = sorted(
            month
            for (cid, st), month in (seen or {}).items()
            if cid in designated and _STAGE_RANK.get(st, 0) >= _STAGE_RANK[stage]
        )
        first = min(_month_end(months[0]), on) if months else on
        m["realisee"] = known[0] if known else first
        m["constat"] = f"registre de {french_month(first.isoformat()[:7])}"


def _adopt_name(project: dict[str, Any], designated: set[str], communes: _Communes) -> None:
    """Give a creation the name its CPTS registered under (the planned name kept in a note)."""
    names = {n for c in project["communes"] for cid, n, _ in communes.members.get(c, [])
             if cid in designated}  # fmt: skip
    planned = str(project.get("cpts") or "")
    if project.get("type") != "creation" or len(names) != 1 or planned in names:
        return
    (name,) = names
    if same_cpts(name, planned):
        return
    note = f"nom prévu : {planned}" if planned else ""
    project["cpts"] = name
    project["commentaire"] = "; ".join(t for t in (project.get("commentaire"), note) if t)


def _claim(project: dict[str, Any], communes: _Communes, designated: set[str]) -> bool:
    """Let the designated CPTS claim a perimeter it nearly covers; release the white rest.

    ``config/plan.toml`` ``part_revendiquee``: the share of the project's population the
    designated CPTS must cover. The communes no CPTS covers leave the project (they become an
    undecided row of their zone); the project's ``origine`` says which.
    """
    share = float(_settings().get("part_revendiquee", 1.0))
    codes = project["communes"]
    mine = {
        c
        for c in codes
        if any(cid in designated for cid, _, s in communes.members.get(c, []) if s is not None)
    }
    total = sum(communes.population.get(c, 0) for c in codes) or 1
    if sum(communes.population.get(c, 0) for c in mine) < share * total:
        return False
    white = [c for c in codes if communes.stage.get(c) is None]
    if not white or len(white) == len(codes):
        return False
    project["communes"] = [c for c in codes if c not in set(white)]
    released = f"périmètre revendiqué par la CPTS ; rendues sans projet : {' '.join(white)}"
    project["origine_lue"] = "; ".join(t for t in (project.get("origine_lue"), released) if t)
    return True


def _as_date(value: object) -> dt.date | None:
    try:
        return _parse_cell_date(value if not isinstance(value, str) else value[:10])
    except ValueError:
        return None


def reconcile(
    analysis: Analysis,
    previous: PlanFile | None = None,
    *,
    proposals: pd.DataFrame | None = None,
    scenario: list[dict[str, Any]] | None = None,
    on: dt.date | None = None,
    history_path: Path | str | None = None,
) -> Reconciled:
    """Return the projects of the plan and its milestones for an analysis.

    Parameters
    ----------
    analysis
        The month's analysis (its ``departements`` are the plan's).
    previous
        The plan read from last month (:func:`read_plan`), or ``None`` for a first plan.
    proposals
        Rows of :func:`couverture.suggest.suggest`: a first plan proposes one project per
        recommended proposal (without ``previous`` and ``scenario``); undecided rows say
        what the tool recommends for their zone.
    scenario
        Projects of a scenario file (:func:`couverture.scenario.read_scenario`): added to the
        plan, or replacing the perimeter, strategy and CPTS of the project of the same id.
    on
        Date of the delays and of the milestones the registry marks done (default: the
        registry's date).
    history_path
        History store (default ``data/historique.duckdb``): a stage milestone is done in the
        first month it recorded the project's CPTS at that stage.

    Returns
    -------
    Reconciled
        ``projects``: one row per project (its perimeter as decided, whatever the zones became)
        then one undecided row per zone blanche, or part of one, outside every active project;
        columns of :data:`PROJECT_TITLES` (machine keys), ``zone_id`` (the current zones the row
        falls on), ``en_retard``, ``prochain_jalon``, ``echeance``. ``milestones``: the
        rétro-planning, those reached in the registry marked done.

    Raises
    ------
    PlanError
        When a project holds a commune the registry's units do not know, or a milestone names
        an unknown project.
    """
    from couverture import history
    from couverture.alerts import reference_date

    date = reference_date(analysis, on)
    communes = _Communes.of(analysis)
    zones = analysis.zones()
    zone_codes = {
        str(z): c.split() for z, c in zip(zones["zone_id"], zones["communes"], strict=True)
    }
    known = previous.known_cpts if previous is not None else set()
    seen = history.stage_months(fictif=bool(analysis.meta["fictif"]), path=history_path)
    projects, milestones = _gather(previous, scenario, proposals)
    _check(projects, milestones, communes, previous)
    has_milestones = {m["projet_id"] for m in milestones}
    for p in projects:
        if p["projet_id"] not in has_milestones:
            milestones += _standard_milestones(p, date)
    zone_of = {c: z for z, codes in zone_codes.items() for c in codes}
    inactive = {key(s) for s in vocabulary().get("statuts_inactifs", [])}
    records = []
    in_projects: set[str] = set()
    for p in projects:
        records.append(_project_record(p, milestones, communes, known, zone_of, date, seen))
        if p["statut"] not in inactive:
            in_projects.update(p["communes"])
    texts = _zone_proposals(proposals)
    for zone in zones.itertuples(index=False):
        zid = str(zone.zone_id)
        rest = [c for c in zone_codes[zid] if c not in in_projects]
        if rest:
            whole = len(rest) == len(zone_codes[zid])
            records.append(
                _undecided(zid, str(zone.departement), rest, communes, texts.get(zid, ""), whole)
            )
    return _frames(records, milestones, projects)


def _gather(
    previous: PlanFile | None,
    scenario: list[dict[str, Any]] | None,
    proposals: pd.DataFrame | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the projects (previous, scenario's, or proposed) and milestones, ids given."""
    projects = [_blank(dict(r)) for r in previous.rows] if previous is not None else []
    milestones = [dict(m) for m in previous.milestones] if previous is not None else []
    projects = [p for p in projects if p["projet_id"] or typed(p)]  # undecided: recomputed
    if scenario:
        _check_scenario_overlap(projects, scenario)
        by_id = {p["projet_id"]: p for p in projects if p["projet_id"]}
        for s in scenario:
            target = by_id.get(s["projet_id"])
            if target is not None:
                target.update({k: s[k] for k in ("type", "cpts", "cpts_mentor", "communes")})
            else:
                projects.append(_blank(dict(s)))
    elif previous is None:
        projects = [_blank(p) for p in _proposal_projects(proposals)]
    for p in projects:
        if not p.get("departement"):
            p["departement"] = _departement_of(p["communes"][0]) if p["communes"] else ""
    _assign_ids(projects, milestones)
    return projects, milestones


def _check_scenario_overlap(projects: list[dict[str, Any]], scenario: list[dict[str, Any]]) -> None:
    """Refuse a scenario commune already in another active project of the plan (named)."""
    from couverture._errors import ScenarioError

    inactive = {key(s) for s in vocabulary().get("statuts_inactifs", [])}
    owner = {
        c: p["projet_id"] or f"ligne {p.get('ligne')}"
        for p in projects
        if p["statut"] not in inactive
        for c in p["communes"]
    }
    problems: list[tuple[int | str | None, str, str]] = []
    for s in scenario:
        for code, line in zip(s["communes"], s.get("lignes", []), strict=False):
            other = owner.get(code)
            if other is not None and other != s["projet_id"]:
                problems.append(
                    (line, code, f"commune déjà dans le projet {other} du plan repris (--plan)")
                )
    if problems:
        raise ScenarioError(scenario[0].get("fichier", "scénario"), problems)


def _check(
    projects: list[dict[str, Any]],
    milestones: list[dict[str, Any]],
    communes: _Communes,
    previous: PlanFile | None,
) -> None:
    """Refuse unknown communes and milestones of unknown projects, naming their rows."""
    sheet = SHEET_ZONES if previous is not None and previous.legacy else SHEET_PROJECTS
    problems: list[Problem] = []
    for p in projects:
        unknown = [c for c in p["communes"] if c not in communes.stage]
        if unknown:
            problems.append(
                (
                    sheet,
                    p.get("ligne"),
                    " ".join(unknown[:5]),
                    f"projet {p['projet_id']} : commune inconnue (code INSEE ?)",
                )
            )
    ids = {p["projet_id"] for p in projects}
    # a project row deleted: its milestones go with it, unless something was typed in them
    milestones[:] = [m for m in milestones if m["projet_id"] in ids or _typed_milestone(m)]
    for m in milestones:
        if m["projet_id"] not in ids:
            problems.append(
                (
                    SHEET_MILESTONES,
                    m["ligne"],
                    m["projet_id"],
                    "jalon saisi d'un projet absent de la feuille « projets » (projet "
                    "supprimé ou fusionné ?) : rattacher le jalon à un projet ou l'effacer",
                )
            )
    if problems:
        raise PlanError(previous.path if previous is not None else Path("plan"), problems)


def _typed_milestone(m: dict[str, Any]) -> bool:
    """Whether a person typed something in a milestone (not only the tool's defaults)."""
    if (m["realisee"] and not m["constat"]) or m["responsable"] or m["commentaire"] or m["extra"]:
        return True
    first = vocabulary()["jalons"][0]
    default = (
        m["jalon"] == first
        and m["prevue"] is not None
        and (m["prevue"].month, m["prevue"].day) == (12, 31)
    )
    return bool(m["prevue"]) and not default


def _project_record(
    p: dict[str, Any],
    milestones: list[dict[str, Any]],
    communes: _Communes,
    known: set[str],
    zone_of: dict[str, str],
    date: dt.date,
    seen: dict[tuple[str, str], str],
) -> dict[str, Any]:
    """One project's row: its perimeter against the registry, its milestones at ``date``."""
    closed = {key(s) for s in vocabulary()["statuts_clos"]}
    situation, best = _situation(p, communes, known)
    if best:
        designated = _designated_ids(p, communes, known)
        _adopt_name(p, designated, communes)
        _mark_done(milestones, p, best, communes, date, designated, seen)
        if situation == PARTLY and _claim(p, communes, designated):
            situation, best = _situation(p, communes, known)
    mine = [m for m in milestones if m["projet_id"] == p["projet_id"]]
    late_ones = [m for m in mine if m["prevue"] and m["prevue"] < date and not m["realisee"]]
    decided = p["statut"] not in (PROPOSED, *closed) and situation != COVERED
    pending = sorted(
        (m for m in mine if not m["realisee"]),
        key=lambda m: (m["prevue"] is None, m["prevue"] or dt.date.max),
    )
    zone_ids = " ".join(dict.fromkeys(zone_of[c] for c in p["communes"] if c in zone_of))
    return {
        **p,
        "communes": " ".join(p["communes"]),
        "noms": communes.names_of(p["communes"]),
        "population": sum(communes.population.get(c, 0) for c in p["communes"]),
        "zones": zone_ids,
        "zone_id": zone_ids,
        "situation": situation,
        "cpts_couvrantes": communes.covering(p["communes"]),
        "proposition": p.get("proposition") or "",
        "origine": p.get("origine_lue") or "plan précédent",
        "prochain_jalon": pending[0]["jalon"] if pending else "",
        "echeance": pending[0]["prevue"] if pending else None,
        "en_retard": bool(decided and late_ones),
        "jalons_realises": sum(1 for m in mine if m["realisee"]),
        "jalons_en_retard": len(late_ones) if decided else 0,
    }


def _undecided(
    zid: str, departement: str, rest: list[str], communes: _Communes, text: str, whole: bool
) -> dict[str, Any]:
    """Return the row of a zone blanche, or of what is left of it, outside every project."""
    return _blank(
        {
            "projet_id": "",
            "departement": departement,
            "type": "",
            "statut": "",
            "communes": " ".join(rest),
            "noms": communes.names_of(rest),
            "population": sum(communes.population.get(c, 0) for c in rest),
            "zones": zid,
            "zone_id": zid,
            "situation": WHITE,
            "cpts_couvrantes": "",
            "proposition": text,
            "origine": "zone blanche sans projet" if whole else "reste de la zone hors des projets",
            "prochain_jalon": "",
            "echeance": None,
            "en_retard": False,
            "jalons_realises": 0,
            "jalons_en_retard": 0,
        }
    )


def _frames(
    records: list[dict[str, Any]],
    milestones: list[dict[str, Any]],
    projects: list[dict[str, Any]],
) -> Reconciled:
    import pandas as pd

    extra_columns = list(dict.fromkeys(h for r in records for h in r.get("extra", {})))
    for r in records:
        for h in extra_columns:
            r[h] = r.get("extra", {}).get(h, "")
    columns = [
        *PROJECT_TITLES,
        "zone_id",
        "prochain_jalon",
        "echeance",
        "en_retard",
        "jalons_realises",
        "jalons_en_retard",
        *extra_columns,
    ]
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame["population"] = frame["population"].astype("int64")
    m_columns = [*MILESTONE_TITLES, *dict.fromkeys(h for m in milestones for h in m["extra"])]
    for m in milestones:
        m.update(m["extra"])
    order = {p["projet_id"]: i for i, p in enumerate(projects)}
    milestones.sort(key=lambda m: order.get(m["projet_id"], len(order)))
    mframe = pd.DataFrame.from_records(milestones, columns=m_columns)
    return Reconciled(frame, mframe, extra_columns)


# ------------------------------------------------------------------------------------------
# the plan
# ------------------------------------------------------------------------------------------
CPTS_TITLES = {
    "cpts_id": "Identifiant",
    "nom": "CPTS",
    "departement": "Département",
    "stade": "Stade",
    "date_lettre_intention": "Date de la lettre d'intention",
    "date_projet_sante": "Date du projet de santé",
    "date_aci": "Date de l'ACI",
    "date_stade": "Au stade depuis",
    "mois_au_stade": "Mois au stade",
    "population": "Population",
    "taille": "Taille ACI",
    "alerte": "Alerte",
    "professionnels": "Professionnels de santé",
}


@dataclass
class Plan:
    """A plan d'action ready to write (:func:`build_plan`)."""

    projects: pd.DataFrame
    milestones: pd.DataFrame
    cpts: pd.DataFrame
    cpts_names: list[str]
    info: dict[str, str]
    extra_columns: list[str] = field(default_factory=list)
    extra_sheets: list[Sheet] = field(default_factory=list)
    registry_cpts: list[str] = field(default_factory=list)

    @property
    def zones(self) -> pd.DataFrame:
        """The rows of sheet ``projets`` (the name of plans before projects)."""
        return self.projects


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
    from couverture.alerts import cpts_alerts, reference_date

    analysis.check_departements()
    date = reference_date(analysis, on)
    suggestions = None
    if proposals:
        from couverture.porteurs import proposals_of

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


def _safe(cell: Any, value: Any) -> None:
    """Write ``value``; text that a spreadsheet would run as a formula stays text."""
    cell.value = value
    protect_cell(cell)


def _cell_value(value: Any) -> Any:
    v: Any = None if not isinstance(value, str) and is_missing(value) else value
    if hasattr(v, "item"):
        v = v.item()  # numpy scalar
    return v


def _write_table(
    ws: Any, frame: pd.DataFrame, *, widths: dict[str, int], titles: dict[str, str] | None = None
) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    titles = titles or {}
    ws.append([titles.get(str(c), str(c)) for c in frame.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r, row in enumerate(frame.itertuples(index=False), start=2):
        for c, value in enumerate(row, start=1):
            _safe(ws.cell(row=r, column=c), _cell_value(value))
    for c, name in enumerate(frame.columns, start=1):
        ws.column_dimensions[get_column_letter(c)].width = widths.get(str(name), 14)
    ws.freeze_panes = "B2"


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path | str) -> Path:
    """Write tables as sheets of a workbook, atomically.

    Text starting like a formula is written as text (the plain :func:`pandas.DataFrame.to_excel`
    would make it a formula).
    """
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, frame in sheets.items():
        _write_table(book.create_sheet(name[:31]), frame, widths=_WIDTHS)
    with atomic_path(Path(path)) as tmp:
        book.save(tmp)
    return Path(path)


_WIDTHS = {
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


def _in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """Return closed values in the meeting's words (the workbook), machine keys elsewhere."""
    out = frame.copy()
    for column, kind in (("type", "strategies"), ("statut", "statuts")):
        if column in out:
            out[column] = out[column].map(lambda v, k=kind: in_words(str(v or ""), k))
    if "situation" in out:
        out["situation"] = out["situation"].map(lambda v: SITUATIONS.get(str(v), str(v)))
    return out


def _list_formula(values: list[str]) -> str:
    return '"' + ",".join(values) + '"'


def _validate(ws: Any, column: str, last: int, **kwargs: Any) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    dv = DataValidation(allow_blank=True, **kwargs)
    dv.add(f"{column}2:{column}{last}")
    ws.add_data_validation(dv)


def write_plan(plan: Plan, path: Path | str) -> Path:
    """Write the plan d'action workbook atomically (temporary file, then rename).

    Headers and closed values in plain French; drop-down lists for the strategy, the statut,
    the CPTS (the département's, the proposed new ones, the porteurs first); date and number
    checks; text starting like a formula is written as text.
    """
    import openpyxl
    from openpyxl.styles import Alignment, Font

    path = Path(path)
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = SHEET_PROJECTS
    projects = _in_words(plan.projects[[*PROJECT_TITLES, *plan.extra_columns]])
    _write_table(ws, projects, widths=_WIDTHS, titles=PROJECT_TITLES)
    _colour(ws, list(projects.columns), set(COMPUTED))
    _write_lists(book, plan)
    _project_checks(ws, list(projects.columns), len(projects), plan)
    _write_milestones(book, plan)
    _write_table(book.create_sheet(SHEET_CPTS), plan.cpts, widths=_WIDTHS, titles=CPTS_TITLES)
    for extra in plan.extra_sheets:
        copy = book.create_sheet(extra.title)
        for r, raw in enumerate(extra.rows, start=1):
            for c, value in enumerate(raw, start=1):
                if value is not None:
                    _safe(copy.cell(row=r, column=c), value)
    readme = book.create_sheet(SHEET_README)
    readme.column_dimensions["A"].width = 48
    readme.column_dimensions["B"].width = 60
    for line in README_LINES:
        readme.append([line])
    readme["A1"].font = Font(bold=True, size=14)
    for k, value in plan.info.items():
        r = readme.max_row + 1
        _safe(readme.cell(row=r, column=1), k)
        _safe(readme.cell(row=r, column=2), value)
    for row in readme.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=False)
    book.move_sheet(SHEET_LISTS, offset=book.sheetnames.index(SHEET_README) - 1)
    with atomic_path(path) as tmp:
        book.save(tmp)
    return path


def _colour(ws: Any, columns: list[str], computed: set[str]) -> None:
    """Colour headers: grey for what the registry gives, yellow for what is typed."""
    from openpyxl.styles import PatternFill

    grey = PatternFill("solid", fgColor="E7E6E6")
    yellow = PatternFill("solid", fgColor="FFF2CC")
    for c, name in enumerate(columns, start=1):
        ws.cell(row=1, column=c).fill = grey if name in computed else yellow


def _write_lists(book: Any, plan: Plan) -> None:
    """Write the hidden sheet of drop-down values (and of the CPTS the registry held)."""
    vocab = vocabulary()
    lists = book.create_sheet(SHEET_LISTS)
    for c, (title, values) in enumerate(
        (
            ("Stratégie retenue", vocab["strategies"]),
            ("Statut", vocab["statuts"]),
            ("Jalon", vocab["jalons"]),
            ("CPTS", plan.cpts_names),
            (REGISTRY_CPTS_LABEL, plan.registry_cpts),
        ),
        start=1,
    ):
        _safe(lists.cell(row=1, column=c), title)
        for r, value in enumerate(values, start=2):
            _safe(lists.cell(row=r, column=c), value)
    lists.sheet_state = "hidden"


def _date_check(ws: Any, letter: str, last: int) -> None:
    _validate(
        ws,
        letter,
        last,
        type="date",
        operator="greaterThan",
        formula1="36526",  # 1 January 2000
        showErrorMessage=True,
        errorTitle="Date attendue",
        error="Saisir une date (JJ/MM/AAAA)",
    )
    for r in range(2, last + 1):
        ws[f"{letter}{r}"].number_format = "DD/MM/YYYY"


def _project_checks(ws: Any, columns: list[str], n_rows: int, plan: Plan) -> None:
    """Add the drop-down lists, date and number checks of sheet ``projets``."""
    from openpyxl.utils import get_column_letter

    vocab = vocabulary()
    column = {name: get_column_letter(i) for i, name in enumerate(columns, start=1)}
    last = max(n_rows + 1, 2) + 200  # room for rows the task force adds
    for name, kind in (("type", "strategies"), ("statut", "statuts")):
        _validate(
            ws,
            column[name],
            last,
            type="list",
            formula1=_list_formula(vocab[kind]),
            showErrorMessage=True,
            errorTitle="Valeur non prévue",
            error="Choisir une valeur de la liste : " + ", ".join(vocab[kind]),
        )
    n_names = max(len(plan.cpts_names), 1)
    for name in ("cpts", "cpts_mentor", "porteur", "fir_mutualise"):
        # a suggestion list: a new CPTS or porteur may be typed freely
        _validate(
            ws,
            column[name],
            last,
            type="list",
            formula1=f"{SHEET_LISTS}!$D$2:$D${n_names + 1}",
            showErrorMessage=False,
        )
    for name in DATE_COLUMNS:
        _date_check(ws, column[name], last)
    for name in NUMBER_COLUMNS:
        _validate(
            ws,
            column[name],
            last,
            type="decimal",
            operator="greaterThanOrEqual",
            formula1="0",
            showErrorMessage=True,
            errorTitle="Nombre attendu",
            error="Saisir un nombre",
        )


def _write_milestones(book: Any, plan: Plan) -> None:
    """Write sheet ``jalons``: the rétro-planning, with its drop-down and date checks."""
    from openpyxl.utils import get_column_letter

    jalons = book.create_sheet(SHEET_MILESTONES)
    _write_table(jalons, plan.milestones, widths=_WIDTHS, titles=MILESTONE_TITLES)
    columns = list(plan.milestones.columns)
    _colour(jalons, columns, {"constat"})
    mcol = {n: get_column_letter(i) for i, n in enumerate(columns, start=1)}
    last = len(plan.milestones) + 1 + 200
    _validate(
        jalons,
        mcol["jalon"],
        last,
        type="list",
        formula1=f"{SHEET_LISTS}!$C$2:$C${len(vocabulary()['jalons']) + 1}",
        showErrorMessage=False,
    )
    for name in MILESTONE_DATES:
        _date_check(jalons, mcol[name], last)


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
    from couverture.alerts import reference_date

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
    out = _in_words(frame)
    out["statut"] = out["statut"].replace({NO_DECISION: "sans décision"})
    return out
