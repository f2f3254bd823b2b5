"""Scenario files: projects stated plainly, one row per commune.

A scenario is what the maps' decision mode exports and what a person can type: a CSV
``projet;type;cpts;code_commune`` (and an optional ``cpts_mentor``), UTF-8 with or without BOM
(Excel's « CSV UTF-8 ») or Windows-1252, ``;`` or ``,`` separated. ``type`` is « création »,
« extension » or « rattachement temporaire » (accents, case and ``_`` ignored); ``cpts`` is the
existing CPTS to extend (or the one a rattachement is made to), or the name of the new CPTS.

Every error names the line: unknown commune, commune in two projects, a project whose rows
disagree, an unknown CPTS, a name that designates several CPTS (homonyms: the id is asked for),
an extension of a CPTS that does not border its perimeter, a creation named as an existing CPTS.

Examples
--------
>>> import couverture
>>> from couverture import plan, scenario
>>> with couverture.analyse("registre.csv", departements="35") as a:  # doctest: +SKIP
...     projects = scenario.read_scenario("scenario.csv", a)
...     plan.write_plan(plan.build_plan(a, scenario=projects), "plan.xlsx")
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture._errors import ScenarioError
from couverture._input import InputError, decode_text, read_input
from couverture.decision import SCENARIO_COLUMNS, SCENARIO_TYPES
from couverture.plan import _departement_of, cpts_key, key, same_cpts

if TYPE_CHECKING:
    from couverture.analysis import Analysis

#: The columns of a scenario (``cpts_mentor`` optional).
COLUMNS = SCENARIO_COLUMNS[:4]
OPTIONAL = SCENARIO_COLUMNS[4:]
#: The strategies a scenario may state (machine keys), as the map's decision mode writes them.
TYPES = tuple(SCENARIO_TYPES)
#: How a project's value set on an earlier line is said (« le projet « A » est de type … »).
_SAID = {"type": "est de type", "cpts": "a pour CPTS", "cpts_mentor": "a pour CPTS mentor"}


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and body rows (with their line numbers) of the file, through the checked door."""
    try:  # the one checked door: a regular file, bounded, encoding detected line by line
        data = read_input(path, what="scénario")
        text, _ = decode_text(path, data, what="scénario")
    except InputError as exc:
        raise ScenarioError(path, [(None, "", exc.reason)]) from exc
    if data.startswith(b"PK") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ScenarioError(
            path, [(None, "", "classeur, pas un CSV : l'enregistrer en « CSV UTF-8 (;) »")]
        )
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    sep = max((";", ",", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    out: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    for row in reader:
        number = reader.line_num
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if header is None:
            header = cells
            continue
        out.append((number, cells))
    return header or [], out


def scenario_departements(path: Path | str) -> tuple[str, ...]:
    """Return the départements of a scenario's communes (its scope, before any analysis).

    Raises
    ------
    ScenarioError
        When the file cannot be read or has no ``code_commune`` column.
    """
    path = Path(path)
    header, body = _rows(path)
    names = [key(h) for h in header]
    if "code_commune" not in names:
        raise ScenarioError(path, [(1, ";".join(header)[:80], "colonne code_commune absente")])
    j = names.index("code_commune")
    codes = {_code(cells[j]) for _, cells in body if j < len(cells) and cells[j].strip()}
    return tuple(sorted({_departement_of(c) for c in codes if len(c) == 5}))


def read_scenario(path: Path | str, analysis: Analysis) -> list[dict[str, Any]]:
    """Read and check a scenario file against an analysis's registry and communes.

    Parameters
    ----------
    path
        The scenario CSV.
    analysis
        The analysis the plan is built for (its départements bound the communes).

    Returns
    -------
    list of dict
        One project per value of ``projet``, in the file's order: ``projet_id`` (the value of
        ``projet``), ``type`` (machine key), ``cpts``, ``cpts_mentor``, ``communes`` (codes, in
        the file's order), ``departement``, ``statut`` (« à lancer »'s key), ``lignes`` (the
        line of each commune), ``origine_lue`` and ``fichier``.

    Raises
    ------
    ScenarioError
        Naming every offending line and value.
    """
    path = Path(path)
    header, body = _rows(path)
    names = [key(h) for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ScenarioError(
            path,
            [
                (
                    1,
                    ";".join(header)[:80],
                    "colonnes absentes : "
                    + ", ".join(missing)
                    + " (attendu : projet;type;cpts;code_commune, cpts_mentor facultative)",
                )
            ],
        )
    if not body:
        raise ScenarioError(path, [(None, "", "scénario vide : aucune ligne après l'en-tête")])
    at = {c: names.index(c) for c in (*COLUMNS, *OPTIONAL) if c in names}
    ctx = _Registry(analysis)
    problems: list[tuple[int | str | None, str, str]] = []
    projects = _projects(body, at, ctx, problems)
    for name, project in projects.items():
        problems += _project_problems(name, project, ctx)
    if problems:
        raise ScenarioError(path, sorted(problems, key=lambda p: p[0] or 0))
    out = []
    for project in projects.values():
        first = project["communes"][0]
        out.append(
            {
                **project,
                "departement": _departement_of(first) if first else "",
                "statut": key("à lancer"),
                "origine_lue": f"scénario {path.name}, ligne {project['lignes'][0]}",
                "fichier": str(path),
            }
        )
    return out


class _Registry:
    """What a scenario is checked against: communes, CPTS by name, members, adjacency."""

    def __init__(self, analysis: Analysis) -> None:
        national = analysis.national()
        units = national.units()
        self.departement = dict(zip(units["code"], units["departement"], strict=True))
        self.scope = set(analysis.departements or [])
        table = national.cpts().reset_index()
        self.by_key: dict[str, list[str]] = {}
        self.names: dict[str, str] = {}
        for cid, name in zip(table["cpts_id"].astype(str), table["nom"].astype(str), strict=True):
            self.names[cid] = name
            for k in dict.fromkeys((cpts_key(name), cpts_key(cid))):
                self.by_key.setdefault(k, []).append(cid)
        membership = national.registry.membership
        self.members: dict[str, set[str]] = {}
        for cid, code in zip(membership["cpts_id"], membership["code"], strict=True):
            self.members.setdefault(str(cid), set()).add(str(code))
        self.adjacency = national.adjacency()

    def existing(self, name: str) -> list[str]:
        """Return the ids of the CPTS of the registry ``name`` designates."""
        found = self.by_key.get(cpts_key(name))
        if found:
            return list(dict.fromkeys(found))
        return list(
            dict.fromkeys(c for k, ids in self.by_key.items() if same_cpts(k, name) for c in ids)
        )

    def ambiguous(self, ids: list[str]) -> str:
        """Return the message for a name designating several CPTS, each named with its id."""
        shown = ", ".join(f"{c} « {self.names.get(c, c)} »" for c in ids[:5])
        more = " …" if len(ids) > 5 else ""
        return (
            f"nom ambigu : désigne {len(ids)} CPTS du registre ({shown}{more}) : écrire "
            "l'identifiant de la CPTS voulue"
        )

    def borders(self, ids: list[str], perimeter: set[str]) -> bool:
        """Whether the CPTS ``ids`` hold or touch (rook) a commune of ``perimeter``."""
        area = set().union(*(self.members.get(c, set()) for c in ids))
        if perimeter & area:
            return True
        adj = self.adjacency
        return bool((adj["code_a"].isin(perimeter) & adj["code_b"].isin(area)).any())


def _code(text: str) -> str:
    code = text.strip().upper()
    return "0" + code if code.isdigit() and len(code) == 4 else code  # Excel ate the 0


def _projects(
    body: list[tuple[int, list[str]]],
    at: dict[str, int],
    ctx: _Registry,
    problems: list[tuple[int | str | None, str, str]],
) -> dict[str, dict[str, Any]]:
    """Group the rows into projects, refusing each bad line."""
    projects: dict[str, dict[str, Any]] = {}
    owner: dict[str, tuple[str, int]] = {}
    for number, cells in body:

        def get(column: str, cells: list[str] = cells) -> str:
            j = at.get(column)
            return cells[j] if j is not None and j < len(cells) else ""

        name, kind, code = get("projet"), key(get("type")), _code(get("code_commune"))
        problem = _line_problem(name, kind, code, get("type"), ctx, owner)
        if problem is not None:
            problems.append((number, *problem))
            continue
        owner[code] = (name, number)
        values = {"type": kind, "cpts": get("cpts"), "cpts_mentor": get("cpts_mentor")}
        project = projects.setdefault(
            name, {"projet_id": name, **values, "communes": [], "lignes": []}
        )
        for column, value in values.items():
            if value and project[column] and key(value) != key(project[column]):
                problems.append(
                    (
                        number,
                        value,
                        f"le projet « {name} » {_SAID[column]} "
                        f"« {SCENARIO_TYPES.get(project[column], project[column])} » "
                        f"à la ligne {project['lignes'][0]}",
                    )
                )
            elif value and not project[column]:
                project[column] = value
        project["communes"].append(code)
        project["lignes"].append(number)
    return projects


def _line_problem(
    name: str,
    kind: str,
    code: str,
    typed: str,
    ctx: _Registry,
    owner: dict[str, tuple[str, int]],
) -> tuple[str, str] | None:
    """Return the ``(value, message)`` of a bad line, or ``None``."""
    if not name:
        return "", "colonne projet vide"
    if kind not in TYPES:
        return typed, "type inconnu (attendu : création, extension ou rattachement temporaire)"
    if code not in ctx.departement:
        return code, "commune inconnue (code INSEE attendu)"
    dep = ctx.departement[code]
    if ctx.scope and dep not in ctx.scope:
        scope = ", ".join(sorted(ctx.scope))
        return code, f"commune du département {dep}, hors des départements analysés ({scope})"
    if code in owner:
        other, line = owner[code]
        return code, f"commune déjà dans le projet « {other} », ligne {line}"
    return None


def _project_problems(
    name: str, project: dict[str, Any], ctx: _Registry
) -> list[tuple[int | str | None, str, str]]:
    """Return the problems of a whole project: its CPTS, mentor and neighbourhood."""
    line = project["lignes"][0]
    kind, cpts, mentor = project["type"], project["cpts"], project["cpts_mentor"]
    if not cpts:
        return [(line, name, "colonne cpts vide : CPTS à étendre ou nom de la CPTS à créer")]
    out: list[tuple[int | str | None, str, str]] = []
    found = ctx.existing(cpts)
    if kind == "creation" and found:
        out.append(
            (
                line,
                cpts,
                "une CPTS de ce nom existe déjà au registre : type extension, ou un autre nom",
            )
        )
    if kind != "creation" and not found:
        out.append((line, cpts, "CPTS inconnue du registre"))
    elif kind != "creation" and len(found) > 1:
        out.append((line, cpts, ctx.ambiguous(found)))
    elif kind == "extension" and not ctx.borders(found, set(project["communes"])):
        out.append(
            (
                line,
                cpts,
                "extension d'une CPTS qui ne touche pas le périmètre du projet (aucune commune "
                "voisine) : rattachement temporaire ou création ?",
            )
        )
    mentors = ctx.existing(mentor) if mentor else []
    if mentor and not mentors:
        out.append((line, mentor, "CPTS mentor inconnue du registre"))
    elif len(mentors) > 1:
        out.append((line, mentor, "CPTS mentor : " + ctx.ambiguous(mentors)))
    return out
