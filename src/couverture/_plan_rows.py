"""Building the rows of a plan d'action: projects carried over, rétro-planning, undecided zones.

Month after month (:func:`reconcile`), each project keeps its perimeter whatever the registry
does to the zones, and its ``situation`` compares the registry with that perimeter; what is
left of a zone outside every project becomes a new undecided row. The lettre d'intention,
projet de santé and ACI milestones are marked done when the registry shows the project's CPTS
at that stage on its perimeter (on its stage date, else the first month the history saw it).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from couverture import history
from couverture._errors import PlanError, ScenarioError
from couverture._format import is_missing
from couverture._format import month as french_month
from couverture._plan_read import (
    PlanFile,
    milestone,
    parse_cell_date,
    typed,
    typed_milestone,
)
from couverture._plan_vocab import (
    COVERED,
    COVERED_OTHER,
    DATE_COLUMNS,
    DECISION_COLUMNS,
    MILESTONE_TITLES,
    NUMBER_COLUMNS,
    PARTLY,
    PROJECT_TITLES,
    PROPOSED,
    SHEET_MILESTONES,
    SHEET_PROJECTS,
    SHEET_ZONES,
    WHITE,
    Problem,
    cpts_key,
    departement_of,
    in_words,
    key,
    plan_settings,
    same_cpts,
    vocabulary,
)
from couverture.alerts import reference_date
from couverture.zones import members

if TYPE_CHECKING:
    from couverture._plan_book import Sheet
    from couverture.analysis import Analysis

log = logging.getLogger("couverture.plan")  # the plan's one logger, whichever part speaks


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
    share = float(plan_settings().get("part_revendiquee", 1.0))
    total = sum(communes.population.get(c, 0) for c in codes)
    held = sum(communes.population.get(c, 0) for c in mine_codes)
    return (COVERED if held >= share * total and mine_codes else COVERED_OTHER), best


def _row_codes(frame: pd.DataFrame) -> list[list[str]]:
    """Return the communes of each row of a zones or proposals frame (:func:`zones.members`)."""
    out: list[list[str]] = [[] for _ in range(len(frame))]
    long = members(frame)
    for i, code in zip(long["ligne"], long["code"], strict=True):
        out[i].append(str(code))
    return out


def _proposal_projects(proposals: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One project per recommended proposal (statut « proposé »)."""
    if proposals is None or proposals.empty:
        return []
    out = []
    best = proposals[proposals["recommandee"].astype(str) == "oui"]
    mentor = "cpts_mentor" in proposals.columns
    for r, codes in zip(best.itertuples(index=False), _row_codes(best), strict=True):
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
                "communes": codes,
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
        if name == names[0] and plan_settings().get("reunion_avant_fin_annee", False):
            prevue = dt.date(on.year, 12, 31)
        out.append(milestone(project["projet_id"], name, prevue=prevue))
    return out


def _month_end(month: str) -> dt.date:
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
    stages = plan_settings().get("jalons_stades", {})
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
    share = float(plan_settings().get("part_revendiquee", 1.0))
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
        return parse_cell_date(value if not isinstance(value, str) else value[:10])
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
    date = reference_date(analysis, on)
    communes = _Communes.of(analysis)
    zones = analysis.zones()
    zone_codes = dict(zip(zones["zone_id"].astype(str), _row_codes(zones), strict=True))
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
            p["departement"] = departement_of(p["communes"][0]) if p["communes"] else ""
    _assign_ids(projects, milestones)
    return projects, milestones


def _check_scenario_overlap(projects: list[dict[str, Any]], scenario: list[dict[str, Any]]) -> None:
    """Refuse a scenario commune already in another active project of the plan (named)."""
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
    milestones[:] = [m for m in milestones if m["projet_id"] in ids or typed_milestone(m)]
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
    pending = sorted(  # a closed project (réalisé, abandonné) has nothing next
        (m for m in mine if not m["realisee"] and p["statut"] not in closed),
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
