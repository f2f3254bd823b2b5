"""Plan d'action.

The workbook a task force fills for each zone blanche, carried over month after month, and its
follow-up (suivi).

The workbook (:func:`write_plan`) has a sheet ``zones`` (one row per zone blanche: the zone,
the proposals of :mod:`couverture.suggest`, then the decision columns the task force types,
with drop-down lists for the closed values of ``config/plan.toml``), a sheet ``cpts`` (stage,
stage dates, months at the stage, alerts of :mod:`couverture.alerts`) and a sheet
``lisez-moi``.

What a task force typed is never lost (:func:`reconcile`): a row of the previous plan follows
its zone by id, else by shared communes when the zone shrank, split or merged (``origine``
says which old zone it came from); a zone now covered stays listed with
``situation = couverte``. Several typed rows may end on one zone (zones merged): each is kept.

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
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture._config import toml
from couverture._errors import PlanError
from couverture._format import is_missing
from couverture._output import atomic_path, protect_cell

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis

SHEET_ZONES = "zones"
SHEET_CPTS = "cpts"
SHEET_README = "lisez-moi"
SHEET_LISTS = "listes"

#: Columns computed from the registry (rewritten at each generation).
ZONE_COLUMNS = [
    "zone_id",
    "departement",
    "communes",
    "noms",
    "population",
    "situation",
    "cpts_couvrantes",
    "origine",
    "option_recommandee",
    "cpts_cible",
    "alternatives",
]
#: Columns the task force types (carried over from one plan to the next).
DECISION_COLUMNS = [
    "strategie_retenue",
    "cpts_ou_porteur",
    "cpts_mentor",
    "coordonnateur_finance",
    "date_reunion",
    "actions",
    "echeance",
    "statut",
    "commentaire",
]
DATE_COLUMNS = ("date_reunion", "echeance")
REQUIRED_COLUMNS = ["zone_id", "departement", "communes", *DECISION_COLUMNS]

WHITE = "blanche"
PARTLY = "partiellement couverte"
COVERED = "couverte"
NO_DECISION = "sans décision"
#: Label of the reference date in sheet lisez-moi.
REFERENCE_DATE_LABEL = "Date de référence (retards, mois au stade)"

FOLLOW_UP_COLUMNS = [
    "zone_id",
    "departement",
    "population",
    "strategie_retenue",
    "statut",
    "echeance",
    "en_retard",
    "situation",
    "cpts_couvrantes",
    "origine",
]

_ZONE_ID = re.compile(r"ZB-(?:\d\d|2A|2B|97\d)-((?:\d\d|2A|2B)\d{3})", re.IGNORECASE)
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")


def vocabulary() -> dict[str, list[str]]:
    """Return the closed lists of ``config/plan.toml`` (``strategies``, ``statuts``…)."""
    return {k: list(v) for k, v in toml("plan.toml").items()}


def _key(text: str) -> str:
    """Compare closed values without accents, case or punctuation."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^0-9a-z]+", "_", ascii_text.lower()).strip("_")


_CLOSED = {
    "strategie_retenue": "strategies",
    "statut": "statuts",
    "coordonnateur_finance": "coordonnateur",
}


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
        One row per non-empty row of sheet ``zones``: ``ligne`` (row in the sheet),
        ``zone_id``, ``departement``, ``communes`` (list of codes), the decision columns
        (closed values in the words of ``config/plan.toml``, dates as
        :class:`datetime.date` or ``None``, other text as typed) and any column the task force
        added (``extra``: header → value).
    """

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def departements(self) -> tuple[str, ...]:
        """Départements of the plan's rows."""
        return tuple(sorted({r["departement"] for r in self.rows if r["departement"]}))


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


def _departement(value: object) -> str:
    text = _text(value).upper()
    return "0" + text if text.isdigit() and len(text) == 1 else text


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


def read_plan(path: Path | str) -> PlanFile:
    """Read and check a plan d'action workbook.

    Raises
    ------
    PlanError
        When the file is not a workbook, sheet ``zones`` or a required column is missing, a
        closed value is unknown or a date is not a date; every problem names the sheet, row
        and value.
    """
    import io
    import zipfile

    import openpyxl

    from couverture._input import InputError, read_input, sheet_values

    path = Path(path)
    try:  # the one checked door: a regular file, bounded (no FIFO, no /dev/zero)
        data = read_input(path, what="plan d'action")
    except InputError as exc:
        raise PlanError(path, [(None, None, "", exc.reason)]) from exc
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise PlanError(
            path, [(None, None, "", f"classeur XLSX illisible ({type(exc).__name__})")]
        ) from exc
    try:
        if SHEET_ZONES not in book.sheetnames:
            raise PlanError(
                path,
                [
                    (
                        SHEET_ZONES,
                        None,
                        "",
                        "feuille absente (feuilles du classeur : "
                        + ", ".join(book.sheetnames)
                        + ")",
                    )
                ],
            )
        cells = [list(r) for r in sheet_values(book[SHEET_ZONES])]
    finally:
        book.close()
    return _parse_rows(path, cells)


def _parse_rows(path: Path, cells: list[list[Any]]) -> PlanFile:
    vocab = vocabulary()
    header = [_text(h) for h in (cells[0] if cells else [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise PlanError(
            path,
            [(SHEET_ZONES, 1, c, "colonne absente de la ligne d'en-tête") for c in missing],
        )
    position = {h: i for i, h in reversed(list(enumerate(header))) if h}
    extras = [h for h in position if h not in ZONE_COLUMNS and h not in DECISION_COLUMNS]
    problems: list[tuple[str | None, int | None, str, str]] = []
    plan = PlanFile(path)
    for number, raw in enumerate(cells[1:], start=2):

        def get(column: str, raw: list[Any] = raw) -> Any:
            i = position[column]
            return raw[i] if i < len(raw) else None

        if all(v is None or _text(v) == "" for v in raw):
            continue
        row: dict[str, Any] = {
            "ligne": number,
            "zone_id": _text(get("zone_id")),
            "departement": _departement(get("departement")),
            "communes": re.split(r"[\s,;]+", _text(get("communes"))),
        }
        row["communes"] = [c.upper() for c in row["communes"] if c]
        if not row["departement"]:  # a row added by hand: the zone's or first commune's
            match = _ZONE_ID.fullmatch(row["zone_id"])
            code = match.group(1) if match else (row["communes"] or [""])[0]
            row["departement"] = code[:3] if code.startswith("97") else code[:2]
        for column in DECISION_COLUMNS:
            value = get(column)
            if column in DATE_COLUMNS:
                try:
                    row[column] = _parse_cell_date(value)
                except ValueError:
                    problems.append(
                        (
                            SHEET_ZONES,
                            number,
                            _text(value),
                            f"colonne {column} : date attendue (JJ/MM/AAAA)",
                        )
                    )
                    row[column] = None
            elif column in _CLOSED:
                text = _text(value)
                allowed = vocab[_CLOSED[column]]
                known = {_key(v): v for v in allowed}
                if text and _key(text) not in known:
                    problems.append(
                        (
                            SHEET_ZONES,
                            number,
                            text,
                            f"colonne {column} : valeur inconnue (valeurs possibles : "
                            + ", ".join(allowed)
                            + ")",
                        )
                    )
                row[column] = known.get(_key(text), text) if text else ""
            else:
                row[column] = _text(value)
        row["extra"] = {h: _text(get(h)) for h in extras if _text(get(h))}
        if not row["zone_id"] and not row["communes"]:
            problems.append(
                (SHEET_ZONES, number, "", "ligne sans zone_id ni communes : zone introuvable")
            )
        plan.rows.append(row)
    if problems:
        raise PlanError(path, problems)
    return plan


def typed(row: Any) -> bool:
    """Whether the task force typed anything in a row (decision or added column) of a plan read.

    (:class:`PlanFile` rows) or reconciled (:func:`reconcile` rows).
    """
    if any(row.get(c) not in (None, "") for c in DECISION_COLUMNS):
        return True
    if "extra" in row:
        return bool(row["extra"])
    computed = {*ZONE_COLUMNS, "ligne", "en_retard"}
    return any(v not in (None, "") for k, v in row.items() if k not in computed)


def plan_departements(
    previous: PlanFile | None, requested: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    """Départements to analyse: ``requested`` (``--departement``), else those of the plan.

    Raises
    ------
    PlanError
        When the plan holds zones of a département not requested.
    """
    if previous is None:
        return requested
    if requested is None:
        return previous.departements or None
    outside = [r for r in previous.rows if r["departement"] not in requested]
    if outside:
        deps = sorted({r["departement"] for r in outside})
        first = outside[0]
        raise PlanError(
            previous.path,
            [
                (
                    SHEET_ZONES,
                    first["ligne"],
                    first["departement"],
                    f"le plan concerne le département {', '.join(deps)}, pas --departement "
                    + ",".join(requested)
                    + f" ({len(outside)} ligne{'s' if len(outside) > 1 else ''})",
                )
            ],
        )
    return requested


# ------------------------------------------------------------------------------------------
# carrying decisions over
# ------------------------------------------------------------------------------------------
def _proposal_texts(proposals: pd.DataFrame | None) -> dict[str, tuple[str, str, str]]:
    """``zone_id`` → (option recommandée, CPTS cible(s), alternatives), in words."""
    if proposals is None or proposals.empty:
        return {}
    out: dict[str, tuple[str, str, str]] = {}
    for zone_id, group in proposals.groupby("zone_id", sort=False):
        best = group[group["rang"] == 1]
        options = " + ".join(dict.fromkeys(best["option"].astype(str)))

        def targets(rows: pd.DataFrame) -> str:
            names = [
                str(r.cpts_cible) if str(r.cpts_cible or "") else f"{r.nom_propose} (à créer)"
                for r in rows.itertuples(index=False)
            ]
            return ", ".join(dict.fromkeys(names))

        others = [
            f"{' + '.join(dict.fromkeys(rows['option'].astype(str)))} : {targets(rows)}"
            for _, rows in group[group["rang"] > 1].groupby("rang", sort=True)
        ]
        out[str(zone_id)] = (options, targets(best), " ; ".join(others))
    return out


def _situation(codes: list[str], stage: dict[str, Any]) -> str:
    covered = sum(1 for c in codes if stage.get(c) is not None)
    if covered == 0:
        return WHITE
    return COVERED if covered == len(codes) else PARTLY


def _covering(codes: list[str], names: dict[str, str]) -> str:
    found = {n for c in codes for n in names.get(c, "").split("|") if n}
    return ", ".join(sorted(found))


def _origin(
    old: dict[str, Any], zone_id: str, zone_codes: set[str], n_targets: int, merged: list[str]
) -> str:
    old_codes = set(old["communes"])
    if old["zone_id"] == zone_id and old_codes == zone_codes and not merged:
        return "même zone"
    if n_targets > 1:
        kind = "scindée"
    elif merged:
        kind = "fusionnée"
    elif zone_codes < old_codes:
        kind = "réduite"
    elif zone_codes > old_codes:
        kind = "agrandie"
    else:
        kind = "modifiée"
    text = f"{kind} : issue de {old['zone_id'] or 'la ligne ' + str(old['ligne'])}"
    if merged:
        text += " (avec " + ", ".join(merged) + ")"
    return text


@dataclass(frozen=True)
class _Communes:
    """What the registry says of each commune, by code (stage, CPTS, population, name)."""

    stage: dict[str, Any]
    cpts: dict[str, str]
    population: dict[str, Any]
    names: dict[str, str]

    @classmethod
    def of(cls, analysis: Analysis) -> _Communes:
        """Read the communes of the analysis's national view."""
        units = analysis.national().units()
        stades = units["stade"].astype(object).where(units["stade"].notna(), None)
        return cls(
            stage=dict(zip(units["code"], stades, strict=True)),
            cpts=dict(zip(units["code"], units["cpts"], strict=True)),
            population=dict(zip(units["code"], units["population"], strict=True)),
            names=dict(zip(units["code"], units["nom"], strict=True)),
        )

    def names_of(self, codes: list[str]) -> str:
        """Return the names of ``codes``, comma-separated (a code for an unknown commune)."""
        return ", ".join(self.names.get(c, c) for c in codes)


@dataclass(frozen=True)
class _Previous:
    """The previous plan's rows and, for each, the current zones it falls on."""

    rows: list[dict[str, Any]]
    targets: list[list[str]]
    extra_columns: list[str]
    first: bool  # no previous plan: a zone is not "nouvelle"

    def sources(self) -> dict[str, list[int]]:
        """Return, for each current zone, the indices of the previous rows falling on it."""
        sources: dict[str, list[int]] = {}
        for i, found in enumerate(self.targets):
            for z in found:
                sources.setdefault(z, []).append(i)
        return sources

    def decisions(self, row: dict[str, Any] | None) -> dict[str, Any]:
        """Return the decision and added columns of ``row`` (empty ones for a new row)."""
        out: dict[str, Any] = {c: (row or {}).get(c) or None for c in DECISION_COLUMNS}
        for c in DECISION_COLUMNS:
            if c not in DATE_COLUMNS and out[c] is None:
                out[c] = ""
        out.update({h: (row or {}).get("extra", {}).get(h, "") for h in self.extra_columns})
        return out


def _match_previous(
    previous: PlanFile | None, zone_codes: dict[str, list[str]], stage: dict[str, Any]
) -> _Previous:
    """Find the current zones each row of ``previous`` falls on: by id, else by communes.

    A row without communes gets the commune its zone id names. The rows of ``previous`` are
    updated in place.

    Raises
    ------
    PlanError
        When a row's zone never existed and none of its communes is known.
    """
    old_rows = previous.rows if previous is not None else []
    zone_of = {c: z for z, codes in zone_codes.items() for c in codes}
    problems = []
    targets: list[list[str]] = []
    for row in old_rows:
        if not row["communes"]:
            match = _ZONE_ID.fullmatch(row["zone_id"])
            row["communes"] = [match.group(1).upper()] if match else []
        known = [c for c in row["communes"] if c in stage]
        if row["zone_id"] not in zone_codes and not known:
            problems.append(
                (
                    SHEET_ZONES,
                    row["ligne"],
                    row["zone_id"],
                    "zone inconnue : ni son identifiant ni ses communes ("
                    + (" ".join(row["communes"][:5]) or "aucune")
                    + ") ne correspondent à une zone ou une commune",
                )
            )
        found = [row["zone_id"]] if row["zone_id"] in zone_codes else []
        found += [zone_of[c] for c in known if c in zone_of]
        targets.append(list(dict.fromkeys(found)))
    if problems:
        assert previous is not None
        raise PlanError(previous.path, problems)
    return _Previous(
        rows=old_rows,
        targets=targets,
        extra_columns=list(dict.fromkeys(h for r in old_rows for h in r["extra"])),
        first=previous is None,
    )


def _zone_records(
    base: dict[str, Any],
    codes: list[str],
    found: list[int],
    *,
    previous: _Previous,
    communes: _Communes,
) -> list[dict[str, Any]]:
    """Return the rows of one current zone: one per typed previous row on it, else one."""
    zid = base["zone_id"]
    old_rows = previous.rows
    old_ids = list(dict.fromkeys(old_rows[i]["zone_id"] for i in found))
    carried = [i for i in found if typed(old_rows[i])]
    if not carried:
        origin = "" if previous.first else "nouvelle zone"
        if len(old_ids) > 1:
            origin = "fusionnée : issue de " + ", ".join(old_ids)
        elif found:
            i = found[0]
            origin = _origin(old_rows[i], zid, set(codes), len(previous.targets[i]), [])
        situation, covering = WHITE, ""
        if found:
            decided = old_rows[found[0]]["communes"]
            situation = _situation(decided, communes.stage)
            covering = _covering(decided, communes.cpts)
        return [
            {
                **base,
                "situation": situation,
                "cpts_couvrantes": covering,
                "origine": origin,
                **previous.decisions(None),
            }
        ]
    records = []
    for i in carried:
        old = old_rows[i]
        merged = [z for z in old_ids if z != old["zone_id"]]
        records.append(
            {
                **base,
                "situation": _situation(old["communes"], communes.stage),
                "cpts_couvrantes": _covering(old["communes"], communes.cpts),
                "origine": _origin(old, zid, set(codes), len(previous.targets[i]), merged),
                **previous.decisions(old),
            }
        )
    return records


def _covered_record(
    row: dict[str, Any], *, previous: _Previous, communes: _Communes
) -> dict[str, Any]:
    """Return the row of a previous plan's zone that is no longer a zone (now covered)."""
    codes = row["communes"]
    return {
        "zone_id": row["zone_id"],
        "departement": row["departement"],
        "communes": " ".join(codes),
        "noms": communes.names_of(codes),
        "population": int(sum(communes.population.get(c, 0) for c in codes)),
        "situation": _situation(codes, communes.stage),
        "cpts_couvrantes": _covering(codes, communes.cpts),
        "origine": "zone du plan précédent, désormais couverte",
        "option_recommandee": "",
        "cpts_cible": "",
        "alternatives": "",
        **previous.decisions(row),
    }


def reconcile(
    analysis: Analysis,
    previous: PlanFile | None = None,
    *,
    proposals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the rows of the plan for an analysis, carrying over a previous plan.

    Parameters
    ----------
    analysis
        The month's analysis (its ``departements`` are the plan's).
    previous
        The plan read from last month (:func:`read_plan`), or ``None`` for a first plan.
    proposals
        Rows of :func:`couverture.suggest.suggest` (proposal columns left empty without).

    Returns
    -------
    pandas.DataFrame
        :data:`ZONE_COLUMNS`, :data:`DECISION_COLUMNS` and the columns the task force added.
        Current zones first (by decreasing population), each with one row, or one row per
        typed row of the previous plan that falls on it; then the previous plan's zones now
        covered. ``situation`` compares the communes a row was decided for (the old zone's
        for a carried row) with the registry.

    Raises
    ------
    PlanError
        When a previous row's zone never existed and none of its communes is known.
    """
    import pandas as pd

    zones = analysis.zones()
    communes = _Communes.of(analysis)
    texts = _proposal_texts(proposals)
    zone_codes = {
        str(z): c.split() for z, c in zip(zones["zone_id"], zones["communes"], strict=True)
    }
    matched = _match_previous(previous, zone_codes, communes.stage)
    sources = matched.sources()

    records = []
    for zone in zones.itertuples(index=False):
        zid = str(zone.zone_id)
        codes = zone_codes[zid]
        option, target, alternatives = texts.get(zid, ("", "", ""))
        base = {
            "zone_id": zid,
            "departement": str(zone.departement),
            "communes": " ".join(codes),
            "noms": communes.names_of(codes),
            "population": int(zone.population),
            "option_recommandee": option,
            "cpts_cible": target,
            "alternatives": alternatives,
        }
        records += _zone_records(
            base, codes, sources.get(zid, []), previous=matched, communes=communes
        )
    records += [
        _covered_record(row, previous=matched, communes=communes)
        for row, found in zip(matched.rows, matched.targets, strict=True)
        if not found
    ]
    columns = [*ZONE_COLUMNS, *DECISION_COLUMNS, *matched.extra_columns]
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame["population"] = frame["population"].astype("int64")
    return frame


# ------------------------------------------------------------------------------------------
# the plan
# ------------------------------------------------------------------------------------------
@dataclass
class Plan:
    """A plan d'action ready to write (:func:`build_plan`)."""

    zones: pd.DataFrame
    cpts: pd.DataFrame
    cpts_names: list[str]
    info: dict[str, str]


def build_plan(
    analysis: Analysis,
    *,
    previous: PlanFile | None = None,
    on: str | dt.date | None = None,
    proposals: bool = True,
) -> Plan:
    """Build the plan d'action of an analysis, carrying over ``previous``.

    Parameters
    ----------
    analysis
        The month's analysis (restricted to the plan's départements).
    previous
        Last month's plan (:func:`read_plan`), or ``None``.
    on
        Date the months at a stage are measured at (default: the registry's date).
    proposals
        Fill the proposal columns from :func:`couverture.suggest.suggest`.
    """
    from couverture.alerts import cpts_alerts, reference_date

    analysis.check_departements()
    date = reference_date(analysis, on)
    suggestions = None
    if proposals:
        from couverture.suggest import suggest

        suggestions = suggest(analysis)
    zones = reconcile(analysis, previous, proposals=suggestions)
    cpts = cpts_alerts(analysis, on=date)
    names = sorted(set(analysis.national().cpts()["nom"].astype(str)))
    meta = analysis.meta
    info = {
        "Registre": str(meta["libelle_registre"]),
        "Date du registre": str(meta["date_registre"]),
        REFERENCE_DATE_LABEL: date.isoformat(),
        "Périmètre": "France entière"
        if analysis.departements is None
        else "départements " + ", ".join(analysis.departements),
        "Population (millésime)": str(meta["population_millesime"]),
        "Code officiel géographique": str(meta["cog"]),
        "Plan précédent repris": str(previous.path.name) if previous is not None else "aucun",
    }
    if meta["fictif"]:
        info["Attention"] = "REGISTRE FICTIF : données de démonstration"
    return Plan(zones=zones, cpts=cpts, cpts_names=names, info=info)


README_LINES = [
    "Plan d'action des zones blanches — mode d'emploi",
    "",
    "Ce classeur suit l'instruction DGOS/R5/CNAM/2023/156 : pour chaque zone blanche, une "
    "stratégie, le financement d'un coordonnateur, des actions avec un calendrier, puis un suivi.",
    "",
    "Feuille « zones » : une ligne par zone blanche (communes contiguës qu'aucune CPTS ne couvre).",
    "  • Colonnes grises (zone_id à alternatives) : calculées depuis le registre, réécrites "
    "chaque mois. Ne pas les modifier.",
    "  • Colonnes jaunes (strategie_retenue à commentaire) : à remplir par la task force.",
    "    – strategie_retenue : extension, creation, rattachement_temporaire ou autre (liste).",
    "    – cpts_ou_porteur : CPTS qui s'étend ou porteur du projet de création (liste ou texte).",
    "    – cpts_mentor : CPTS mature qui accompagne (rattachement temporaire, tutorat).",
    "    – coordonnateur_finance : oui, non ou à étudier (liste).",
    "    – date_reunion et echeance : des dates (JJ/MM/AAAA).",
    "    – actions : les actions décidées ; statut : à lancer, en cours, réalisé ou abandonné.",
    "  • Plusieurs lignes pour une même zone sont possibles (zones fusionnées, actions "
    "distinctes) : recopier zone_id et communes sur la nouvelle ligne.",
    "  • Des colonnes ajoutées à droite sont conservées d'un mois sur l'autre.",
    "",
    "Le mois suivant : couverture plan-action --registre NOUVEAU --plan CE_FICHIER.xlsx "
    "--sortie NOUVEAU_PLAN.xlsx reprend tout ce qui a été saisi :",
    "  • une zone garde ses décisions même si son identifiant change (zone réduite, scindée ou "
    "fusionnée) : la colonne « origine » indique la zone du plan précédent ;",
    "  • une zone désormais couverte reste dans la liste avec situation = couverte ;",
    "  • « situation » compare au registre les communes pour lesquelles la décision a été prise "
    "(blanche, partiellement couverte, couverte).",
    "",
    "couverture suivi --registre R --plan CE_FICHIER.xlsx : une ligne par zone, avec les "
    "actions en retard (échéance dépassée à la date de référence, statut ni réalisé ni "
    "abandonné). La date de référence est celle du registre (sa date de stade la plus récente, "
    "sinon la date de son nom de fichier), ou --date AAAA-MM-JJ.",
    "couverture remontee --mois AAAA-MM … : le tableau à retourner à la DGOS et à la CNAM.",
    "",
    "Feuille « cpts » : chaque CPTS avec son stade, les dates de stade du registre, le nombre "
    "de mois au stade actuel, sa population, sa taille et son alerte (lettre d'intention ou "
    "projet de santé depuis plus de 12 mois, coordonnateur à mutualiser avec une voisine).",
    "",
]


def _safe(cell: Any, value: Any) -> None:
    """Write ``value``; text that a spreadsheet would run as a formula stays text."""
    cell.value = value
    protect_cell(cell)


def _write_table(ws: Any, frame: pd.DataFrame, *, widths: dict[str, int]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws.append(list(frame.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r, row in enumerate(frame.itertuples(index=False), start=2):
        for c, value in enumerate(row, start=1):
            v: Any = None if not isinstance(value, str) and is_missing(value) else value
            if hasattr(v, "item"):
                v = v.item()  # numpy scalar
            _safe(ws.cell(row=r, column=c), v)
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
    "zone_id": 16,
    "communes": 30,
    "noms": 40,
    "cpts_couvrantes": 24,
    "origine": 26,
    "option_recommandee": 18,
    "cpts_cible": 30,
    "alternatives": 40,
    "strategie_retenue": 20,
    "cpts_ou_porteur": 28,
    "cpts_mentor": 24,
    "actions": 40,
    "commentaire": 30,
    "nom": 32,
    "alerte": 50,
}


def _list_formula(values: list[str]) -> str:
    return '"' + ",".join(values) + '"'


def write_plan(plan: Plan, path: Path | str) -> Path:
    """Write the plan d'action workbook atomically (temporary file, then rename).

    Closed columns get a drop-down list (data validation), ``date_reunion`` and ``echeance``
    a date format and a date check; text starting like a formula is written as text.
    """
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    path = Path(path)
    vocab = vocabulary()
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = SHEET_ZONES
    zones = plan.zones
    _write_table(ws, zones, widths=_WIDTHS)
    grey = PatternFill("solid", fgColor="E7E6E6")
    yellow = PatternFill("solid", fgColor="FFF2CC")
    for c, name in enumerate(zones.columns, start=1):
        ws.cell(row=1, column=c).fill = grey if name in ZONE_COLUMNS else yellow
    column = {name: get_column_letter(i) for i, name in enumerate(zones.columns, start=1)}
    last = max(len(zones) + 1, 2) + 200  # room for rows the task force adds

    lists = book.create_sheet(SHEET_LISTS)
    for c, (title, values) in enumerate(
        (
            ("strategie_retenue", vocab["strategies"]),
            ("statut", vocab["statuts"]),
            ("coordonnateur_finance", vocab["coordonnateur"]),
            ("cpts", plan.cpts_names),
        ),
        start=1,
    ):
        _safe(lists.cell(row=1, column=c), title)
        for r, value in enumerate(values, start=2):
            _safe(lists.cell(row=r, column=c), value)
    lists.sheet_state = "hidden"

    for name, key in _CLOSED.items():
        dv = DataValidation(
            type="list",
            formula1=_list_formula(vocab[key]),
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="Valeur non prévue",
            error="Choisir une valeur de la liste : " + ", ".join(vocab[key]),
        )
        dv.add(f"{column[name]}2:{column[name]}{last}")
        ws.add_data_validation(dv)
    n_names = max(len(plan.cpts_names), 1)
    for name in ("cpts_ou_porteur", "cpts_mentor"):
        # a suggestion list: a new porteur may be typed freely
        dv = DataValidation(
            type="list",
            formula1=f"{SHEET_LISTS}!$D$2:$D${n_names + 1}",
            allow_blank=True,
            showErrorMessage=False,
        )
        dv.add(f"{column[name]}2:{column[name]}{last}")
        ws.add_data_validation(dv)
    for name in DATE_COLUMNS:
        dv = DataValidation(
            type="date",
            operator="greaterThan",
            formula1="36526",  # 1 January 2000
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="Date attendue",
            error="Saisir une date (JJ/MM/AAAA)",
        )
        dv.add(f"{column[name]}2:{column[name]}{last}")
        ws.add_data_validation(dv)
        for r in range(2, last + 1):
            ws[f"{column[name]}{r}"].number_format = "DD/MM/YYYY"

    sheet = book.create_sheet(SHEET_CPTS)
    _write_table(sheet, plan.cpts, widths=_WIDTHS)

    readme = book.create_sheet(SHEET_README)
    readme.column_dimensions["A"].width = 48
    readme.column_dimensions["B"].width = 60
    for line in README_LINES:
        readme.append([line])
    readme["A1"].font = Font(bold=True, size=14)
    for key, value in plan.info.items():
        r = readme.max_row + 1
        _safe(readme.cell(row=r, column=1), key)
        _safe(readme.cell(row=r, column=2), value)
    for row in readme.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=False)
    book.move_sheet(SHEET_LISTS, offset=book.sheetnames.index(SHEET_README) - 1)
    with atomic_path(path) as tmp:
        book.save(tmp)
    return path


# ------------------------------------------------------------------------------------------
# suivi
# ------------------------------------------------------------------------------------------
def late(row: pd.Series | dict[str, Any], on: dt.date) -> bool:
    """Whether a row's ``echeance`` is past at date ``on`` and its statut is not closed."""
    due = row["echeance"]
    if due is None or (isinstance(due, float) and due != due):
        return False
    if isinstance(due, dt.datetime):
        due = due.date()
    closed = {_key(s) for s in vocabulary()["statuts_clos"]}
    return bool(due < on and _key(str(row["statut"] or "")) not in closed)


def follow_up(
    analysis: Analysis, previous: PlanFile, *, on: str | dt.date | None = None
) -> pd.DataFrame:
    """One line per zone of the plan (per typed row when merged zones carry several).

    :data:`FOLLOW_UP_COLUMNS`.

    ``strategie_retenue`` is « sans décision » when none was typed; ``en_retard`` (oui | non)
    compares ``echeance`` with ``on`` (default: the registry's date); ``situation`` and
    ``cpts_couvrantes`` say whether the communes the decision was taken for are now covered.
    Zones of the registry absent from the plan are listed with ``origine = nouvelle zone``.
    """
    from couverture.alerts import reference_date

    date = reference_date(analysis, on)
    rows = reconcile(analysis, previous)
    out = rows[[c for c in FOLLOW_UP_COLUMNS if c != "en_retard"]].copy()
    out["strategie_retenue"] = out["strategie_retenue"].where(
        out["strategie_retenue"] != "", NO_DECISION
    )
    out["en_retard"] = ["oui" if late(r, date) else "non" for _, r in rows.iterrows()]
    out["echeance"] = [d.isoformat() if isinstance(d, dt.date) else "" for d in rows["echeance"]]
    return out[FOLLOW_UP_COLUMNS].reset_index(drop=True)
