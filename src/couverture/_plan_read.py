"""Reading back a plan d'action a task force filled (:func:`read_plan`).

The workbook as a person left it: headers found wherever the first rows name three known
columns, closed values typed in any case or accent, dates and numbers in French forms, columns
and sheets added kept, a plan written before projects (sheet ``zones``, one row per zone) read
into projects. Every problem names the sheet, the cell and the value (:class:`PlanError`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from couverture._errors import PlanError
from couverture._format import is_missing
from couverture._plan_book import Sheet, column_letter, load
from couverture._plan_vocab import (
    CPTS_TITLES,
    DATE_COLUMNS,
    DECISION_COLUMNS,
    DEPARTEMENTS_LABEL,
    MILESTONE_DATES,
    MILESTONE_TITLES,
    NUMBER_COLUMNS,
    OWN_SHEETS,
    PROJECT_TITLES,
    PROPOSED,
    REGISTRY_CPTS_LABEL,
    SHEET_CPTS,
    SHEET_LISTS,
    SHEET_MILESTONES,
    SHEET_PROJECTS,
    SHEET_README,
    SHEET_ZONES,
    Problem,
    cpts_key,
    departement_of,
    key,
    vocabulary,
)
from couverture.alerts import CPTS_COLUMNS

log = logging.getLogger("couverture.plan")  # the plan's one logger, whichever part speaks

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


def parse_cell_date(value: object) -> dt.date | None:
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
            return parse_cell_date(value)
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
        text = departement_of(code) if code else ""
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
    # the id ties the milestones to their project: renumbered, they could change projects
    if _missing_typed(sheet, cols, PROJECT_TITLES, [*DECISION_COLUMNS, "projet_id"], problems):
        return
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


def _missing_typed(
    sheet: Sheet,
    cols: _Columns,
    titles: dict[str, str],
    required: list[str],
    problems: list[Problem],
) -> bool:
    """Name each column a person types that was deleted by hand; whether any was.

    Read without it, its values (statuses, dates done…) would become empty in the next plan
    without a word.
    """
    missing = [c for c in required if c not in cols.position]
    for column in missing:
        problems.append(
            (
                sheet.title,
                cols.header_row,
                titles[column],
                "colonne absente : ses saisies seraient perdues (la remettre, par exemple "
                "copiée d'un plan précédent ou d'un plan neuf de plan-action)",
            )
        )
    return bool(missing)


def _read_milestones(
    plan: PlanFile, sheet: Sheet, problems: list[Problem], notes: list[str]
) -> None:
    cols, found_notes = _columns(sheet, MILESTONE_TITLES, {}, problems)
    notes += [f"feuille « {sheet.title} » : {n}" for n in found_notes]
    pos = cols.position
    typed_columns = [c for c in MILESTONE_TITLES if c != "constat"]  # constat: from the registry
    if _missing_typed(sheet, cols, MILESTONE_TITLES, typed_columns, problems) or problems:
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
            milestone(ref, "réunion opérationnelle", realisee=dates["date_reunion"])
        )
    if row["actions"] or dates["echeance"]:
        done = row["statut"] == key("réalisé")
        plan.milestones.append(
            milestone(
                ref,
                row["actions"][:80] or "échéance",
                prevue=dates["echeance"],
                realisee=dates["echeance"] if done else None,
            )
        )


def milestone(
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


def typed_milestone(m: dict[str, Any]) -> bool:
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
    return rows + sum(1 for m in found.milestones if typed_milestone(m))


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
