"""Monthly history: one snapshot per month in a DuckDB store, and the changes between months.

The history store (``data/historique.duckdb`` by default, :data:`couverture.settings.
HISTORY_PATH`) is never touched by ``make data`` or ``make clean``. Each monthly report writes
the snapshot of its month in a single transaction (the month's rows are deleted, then the new
ones inserted): re-running a month replaces that month only, and an interrupted run leaves
the store as it was.

Tables (every one keyed by ``mois``, ``YYYY-MM``):

``mois``
    one row per month: registry file, label, digest, scope, vintages, date written and the
    national aggregates (population covered by stage, CPTS, zones blanches).
``communes``
    one row per unit: ``code, nom, departement, population, stade, cpts_ids, cpts``.
``cpts``
    one row per CPTS: ``cpts_id, nom, stade, departement, n_communes, population, taille,
    financement_max, communes`` (unit codes joined by a space).
``taux``
    coverage rates at the ``france``, ``region`` and ``departement`` levels.
``zones``
    zones blanches: ``zone_id, departement, n_communes, population, communes``.

Examples
--------
>>> import couverture
>>> from couverture import history
>>> with couverture.analyse("data/raw/registre_demo.csv") as a:  # doctest: +SKIP
...     history.save_snapshot(history.snapshot(a), month="2026-11")
>>> history.compare("2026-10", "2026-11")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from couverture import settings
from couverture._config import pre_stage, stage_codes, stages
from couverture._errors import HistoryError
from couverture._format import integer
from couverture._validate import check_month
from couverture.store import has_table, query
from couverture.zones import unit_codes

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from couverture.analysis import Analysis

log = logging.getLogger(__name__)

RATE_LEVELS = ("france", "region", "departement")
SCHEMA_VERSION = "1"


def _ddl() -> dict[str, str]:
    """Return the ``CREATE TABLE`` of each table (one population and rate column per stage)."""
    pops = ", ".join(f"pop_{s} BIGINT" for s in stage_codes())
    rates = ", ".join(f"taux_{s} DOUBLE" for s in stage_codes())
    return {
        "mois": f"""CREATE TABLE IF NOT EXISTS mois (
            mois VARCHAR PRIMARY KEY, registre VARCHAR, libelle_registre VARCHAR,
            fictif BOOLEAN, empreinte VARCHAR, perimetre VARCHAR, cog VARCHAR,
            population_millesime VARCHAR, ecrit_le TIMESTAMP, n_cpts INTEGER,
            n_communes INTEGER, population BIGINT, {pops}, {rates}, n_zones INTEGER,
            population_zones BIGINT, n_chevauchements INTEGER)""",
        "communes": """CREATE TABLE IF NOT EXISTS communes (
            mois VARCHAR, code VARCHAR, nom VARCHAR, departement VARCHAR, population BIGINT,
            stade VARCHAR, cpts_ids VARCHAR, cpts VARCHAR)""",
        "cpts": """CREATE TABLE IF NOT EXISTS cpts (
            mois VARCHAR, cpts_id VARCHAR, nom VARCHAR, stade VARCHAR, departement VARCHAR,
            n_communes INTEGER, population BIGINT, taille INTEGER, financement_max BIGINT,
            communes VARCHAR)""",
        "taux": f"""CREATE TABLE IF NOT EXISTS taux (
            mois VARCHAR, niveau VARCHAR, code VARCHAR, nom VARCHAR, n_communes INTEGER,
            population BIGINT, {pops}, {rates})""",
        "zones": """CREATE TABLE IF NOT EXISTS zones (
            mois VARCHAR, zone_id VARCHAR, departement VARCHAR, n_communes INTEGER,
            population BIGINT, communes VARCHAR)""",
    }


_SNAPSHOT_TABLES = ("communes", "cpts", "taux", "zones")

#: Kinds of change, in the order they are listed, with their French label.
CHANGE_TYPES = {
    "cpts_creee": "CPTS créée",
    "cpts_dissoute": "CPTS dissoute",
    "changement_stade": "Changement de stade",
    "perimetre_etendu": "Périmètre étendu",
    "perimetre_reduit": "Périmètre réduit",
    "communes_couvertes": "Communes nouvellement couvertes",
    "communes_decouvertes": "Communes qui ne sont plus couvertes",
    "zone_disparue": "Zone blanche disparue",
    "zone_nouvelle": "Nouvelle zone blanche",
    "zone_modifiee": "Zone blanche modifiée",
}
CHANGE_COLUMNS = [
    "type",
    "libelle",
    "departement",
    "cpts_id",
    "cpts",
    "avant",
    "apres",
    "n_communes",
    "population",
    "communes",
    "noms_communes",
]


@dataclass
class Snapshot:
    """What the history keeps of one month (see the module docstring for the columns)."""

    info: dict[str, Any]
    communes: pd.DataFrame
    cpts: pd.DataFrame
    taux: pd.DataFrame
    zones: pd.DataFrame


def snapshot(analysis: Analysis) -> Snapshot:
    """Return the snapshot of an analysis (not yet stored; see :func:`save_snapshot`).

    Parameters
    ----------
    analysis
        An open :class:`~couverture.analysis.Analysis` (its ``departements`` set the scope).
    """
    a = analysis
    units = a.units()
    communes = units[
        ["code", "nom", "departement", "population", "stade", "cpts_ids", "cpts"]
    ].reset_index(drop=True)
    table = a.cpts().reset_index()
    members = a.registry.membership
    codes = (
        members.sort_values("code")
        .groupby("cpts_id")["code"]
        .agg(" ".join)
        .rename("communes")
        .reset_index()
    )
    cpts = table.merge(codes, on="cpts_id", how="left")
    cpts["communes"] = cpts["communes"].fillna("")
    cpts = cpts[
        [
            "cpts_id",
            "nom",
            "stade",
            "departement",
            "n_communes",
            "population",
            "taille",
            "financement_max",
            "communes",
        ]
    ]
    taux = pd.concat([a.rates(niveau=n).assign(niveau=n) for n in RATE_LEVELS], ignore_index=True)[
        [
            "niveau",
            "code",
            "nom",
            "n_communes",
            "population",
            *(f"pop_{s}" for s in stage_codes()),
            *(f"taux_{s}" for s in stage_codes()),
        ]
    ]
    zones = a.zones()[["zone_id", "departement", "n_communes", "population", "communes"]]
    france = taux[taux["niveau"] == "france"].iloc[0]
    overlaps = a.overlaps()
    info: dict[str, Any] = {
        "registre": str(a.registry_path),
        "libelle_registre": a.meta["libelle_registre"],
        "fictif": bool(a.meta["fictif"]),
        "empreinte": a.registry_digest,
        "perimetre": perimeter(a),
        "cog": str(a.meta["cog"]),
        "population_millesime": str(a.meta["population_millesime"]),
        "n_cpts": len(cpts),
        "n_communes": len(communes),
        "population": int(france["population"]),
        **{f"pop_{s}": int(france[f"pop_{s}"]) for s in stage_codes()},
        **{f"taux_{s}": float(france[f"taux_{s}"]) for s in stage_codes()},
        "n_zones": len(zones),
        "population_zones": int(zones["population"].sum()),
        "n_chevauchements": int((overlaps["type"] == "chevauchement").sum()),
    }
    return Snapshot(
        info=info,
        communes=communes,
        cpts=cpts,
        taux=taux.reset_index(drop=True),
        zones=zones.reset_index(drop=True),
    )


# ------------------------------------------------------------------------------------------
# store
# ------------------------------------------------------------------------------------------
def perimeter(a: Analysis) -> str:
    """Return the périmètre label stored with each month (``France`` or ``13,35``)."""
    return "France" if a.departements is None else ",".join(a.departements)


def _path(path: Path | str | None) -> Path:
    return Path(path) if path is not None else settings.HISTORY_PATH


def _check_file(path: Path) -> None:
    """Refuse a path that exists but cannot be a history store (folder, CSV, empty file…)."""
    if not path.exists():
        return
    if path.is_dir():
        raise HistoryError(f"historique {path} : c'est un dossier, un fichier DuckDB est attendu")
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except PermissionError as exc:
        raise HistoryError(f"historique {path} : lecture interdite ({exc.strerror})") from exc
    if head[8:12] != b"DUCK":
        raise HistoryError(
            f"historique {path} : ce fichier n'est pas une base d'historique (pas une base "
            f"DuckDB{' : fichier vide' if not head else ''}) ; indiquer le fichier de "
            f"l'historique écrit par `couverture rapport` (défaut {settings.HISTORY_PATH})"
        )


def _problem(path: Path, exc: Exception) -> str:
    """French wording of a DuckDB failure on the history store: lock, rights, damage."""
    text = str(exc)
    low = text.lower()
    if any(w in low for w in ("corrupt", "checksum", "not a valid duckdb", "serializ")):
        return (
            f"historique {path} : fichier endommagé ({text}) ; le restaurer depuis une "
            "sauvegarde ou indiquer un autre fichier avec --historique"
        )
    if "could not set lock" in low or "conflicting lock" in low:
        holder = re.search(r"held in (.+?) \(PID (\d+)\)", text)
        who = f" (processus {holder[2]}, {Path(holder[1]).name})" if holder else ""
        return (
            f"historique {path} : ouvert en écriture par un autre processus{who} ; "
            "réessayer quand il aura fini"
        )
    if "read-only file system" in low or "permission denied" in low:
        return (
            f"historique {path} : écriture impossible (droits insuffisants ou système de "
            f"fichiers en lecture seule) : {text}"
        )
    return f"historique {path} inaccessible : {text}"


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    _check_file(path)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise HistoryError(_problem(path, exc)) from exc
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    except duckdb.Error as exc:
        con.close()
        raise HistoryError(_problem(path, exc)) from exc
    if tables and "mois" not in tables:
        con.close()
        raise HistoryError(
            f"historique {path} : cette base DuckDB n'est pas un historique (tables "
            f"{', '.join(sorted(tables)[:5])}{'…' if len(tables) > 5 else ''} ; la base de "
            f"travail data/processed/couverture.duckdb ?) ; indiquer le fichier de l'historique "
            f"(défaut {settings.HISTORY_PATH})"
        )
    return con


@contextlib.contextmanager
def _opened(path: Path, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """Return the history store, open.

    DuckDB failures become :class:`HistoryError` (in French).
    """
    con = _connect(path, read_only=read_only)
    try:
        yield con
    except duckdb.Error as exc:
        raise HistoryError(_problem(path, exc)) from exc
    finally:
        con.close()


def _open_existing(path: Path) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    if not path.exists():
        raise HistoryError(
            f"historique {path} absent : aucun mois enregistré (lancer `couverture rapport`)"
        )
    return _opened(path, read_only=True)


def check_scope(
    month: str,
    *,
    perimetre: str,
    path: Path | str | None = None,
    replace_scope: bool = False,
    fictif: bool | None = None,
) -> None:
    """Raise :class:`HistoryError` when ``month`` cannot take a new snapshot.

    Stored for another périmètre (unless ``replace_scope``), or holding a real registry while
    the new one is fictif (when ``fictif`` is given). Checked before a report is computed and
    written; :func:`save_snapshot` checks again in its transaction.
    """
    path = _path(path)
    if not path.exists():
        return
    with _opened(path, read_only=True) as con:
        stored = (
            con.execute(
                "SELECT fictif, libelle_registre, perimetre FROM mois WHERE mois = ?", [month]
            ).fetchone()
            if _has_months(con)
            else None
        )
    if stored is None:
        return
    if stored[2] != perimetre and not replace_scope:
        raise HistoryError(_scope_message(path, month, stored[2], perimetre))
    if fictif and not stored[0]:
        raise HistoryError(_fictif_message(path, month, stored[1]))


def _has_months(con: duckdb.DuckDBPyConnection) -> bool:
    return has_table(con, "mois")


def _fictif_message(path: Path, month: str, label: str) -> str:
    return (
        f"historique {path} : le mois {month} contient le registre réel « {label} » ;"
        " un registre fictif ne peut pas le remplacer (choisir un autre mois ou un autre "
        "fichier d'historique avec --historique)"
    )


def _scope_message(path: Path, month: str, stored: str, new: str) -> str:
    return (
        f"historique {path} : le mois {month} est enregistré pour le périmètre « {stored} », "
        f"ce rapport porte sur « {new} » ; utiliser un autre fichier d'historique "
        "(--historique) ou --remplacer-perimetre"
    )


def save_snapshot(
    snap: Snapshot,
    *,
    month: str,
    path: Path | str | None = None,
    replace_scope: bool = False,
    written_at: dt.datetime | None = None,
) -> None:
    """Store ``snap`` as month ``month``, replacing that month only, in one transaction.

    Parameters
    ----------
    snap
        The month's snapshot (:func:`snapshot`).
    month
        ``YYYY-MM``.
    path
        The history store (default :data:`couverture.settings.HISTORY_PATH`).
    replace_scope
        Allow a snapshot of another périmètre (e.g. one département) to replace the month
        stored for a different one (e.g. France).
    written_at
        The ``ecrit_le`` recorded (default: now, to the second); a report passes its own, so
        that a later run can tell whether this snapshot was committed (:func:`holds`).

    Raises
    ------
    HistoryError
        When the month holds a real registry's snapshot and ``snap`` comes from a registre
        fictif (demonstration data never overwrite a real month), or when the month was stored
        for another périmètre and ``replace_scope`` is false.
    """
    month = check_month(month)
    path = _path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = (written_at or dt.datetime.now()).replace(microsecond=0)
    with _opened(path, read_only=False) as con:
        for ddl in _ddl().values():
            con.execute(ddl)
        con.execute("CREATE TABLE IF NOT EXISTS schema (version VARCHAR)")
        if not con.execute("SELECT count(*) FROM schema").fetchone()[0]:  # type: ignore[index]
            con.execute("INSERT INTO schema VALUES (?)", [SCHEMA_VERSION])
        stored = con.execute(
            "SELECT fictif, libelle_registre, perimetre FROM mois WHERE mois = ?", [month]
        ).fetchone()
        if stored is not None and stored[2] != snap.info["perimetre"] and not replace_scope:
            raise HistoryError(_scope_message(path, month, stored[2], snap.info["perimetre"]))
        if stored is not None and not stored[0] and snap.info["fictif"]:
            raise HistoryError(_fictif_message(path, month, stored[1]))
        info = pd.DataFrame([{"mois": month, **snap.info, "ecrit_le": stamp}])
        frames = {"mois": info, **{t: getattr(snap, t) for t in _SNAPSHOT_TABLES}}
        con.begin()
        try:
            for table, frame in frames.items():
                con.execute(f"DELETE FROM {table} WHERE mois = ?", [month])
                columns = [
                    r[0]
                    for r in con.execute(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = ? ORDER BY ordinal_position",
                        [table],
                    ).fetchall()
                ]
                data = frame.assign(mois=month)[columns]
                con.register("_snap", data)
                con.execute(f"INSERT INTO {table} SELECT * FROM _snap")
                con.unregister("_snap")
            con.commit()
        except BaseException:
            con.rollback()
            raise
        con.execute("CHECKPOINT")
    log.info("historique : mois %s enregistré dans %s", month, path)


def months(*, path: Path | str | None = None) -> pd.DataFrame:
    """Return the months stored, oldest first (one row per month, table ``mois``).

    Raises
    ------
    HistoryError
        When the history store does not exist yet.
    """
    path = _path(path)
    with _open_existing(path) as con:
        if not _has_months(con):
            raise HistoryError(f"historique {path} : aucun mois enregistré")
        return query(con, "SELECT * FROM mois ORDER BY mois")


def stage_months(*, fictif: bool, path: Path | str | None = None) -> dict[tuple[str, str], str]:
    """Return the first month each CPTS (by id) was recorded at each stage.

    ``(cpts_id, stage code) → "AAAA-MM"``, for months of the same kind of registry (demo or
    real); empty when the history store does not exist or holds no month.
    """
    path = _path(path)
    if not path.exists():
        return {}
    with _open_existing(path) as con:
        if not _has_months(con):
            return {}
        rows = con.execute(
            "SELECT c.cpts_id, c.stade, min(c.mois) FROM cpts c JOIN mois m USING (mois) "
            "WHERE m.fictif = ? AND c.stade IS NOT NULL GROUP BY ALL",
            [fictif],
        ).fetchall()
    return {(str(a), str(b)): str(c) for a, b, c in rows}


def holds(month: str, *, empreinte: str, written_at: str, path: Path | str | None = None) -> bool:
    """Tell whether the history holds ``month`` as written by one particular run.

    (its registry digest and ``ecrit_le``, ISO format): a report killed between its swap and
    this commit is told apart from one killed after.
    """
    path = _path(path)
    if not path.exists():
        return False
    with _opened(path, read_only=True) as con:
        if not _has_months(con):
            return False
        row = con.execute(
            "SELECT empreinte, ecrit_le FROM mois WHERE mois = ?", [check_month(month)]
        ).fetchone()
    if row is None:
        return False
    stored = row[1].isoformat() if hasattr(row[1], "isoformat") else str(row[1])
    return bool(row[0] == empreinte and stored == written_at)


def previous_month(
    month: str, *, path: Path | str | None = None, fictif: bool | None = None
) -> str | None:
    """Return the latest month stored before ``month``.

    (of the same kind of registry when ``fictif`` is given: a demo month is never compared with
    a real one), or ``None``.
    """
    month = check_month(month)
    path = _path(path)
    if not path.exists():
        return None
    stored = months(path=path)
    earlier = stored[stored["mois"] < month]
    if fictif is not None:
        earlier = earlier[earlier["fictif"] == fictif]
    return None if earlier.empty else str(earlier["mois"].iloc[-1])


def load_snapshot(month: str, *, path: Path | str | None = None) -> Snapshot:
    """Return the snapshot stored for ``month`` (:class:`HistoryError` when absent)."""
    month = check_month(month)
    path = _path(path)
    with _open_existing(path) as con:
        info = query(con, "SELECT * FROM mois WHERE mois = ?", [month])
        if info.empty:
            known = [r[0] for r in con.execute("SELECT mois FROM mois ORDER BY mois").fetchall()]
            raise HistoryError(
                f"historique {path} : mois {month} absent (mois enregistrés : "
                f"{', '.join(known) or 'aucun'})"
            )
        tables = {
            t: query(con, f"SELECT * EXCLUDE (mois) FROM {t} WHERE mois = ? ORDER BY ALL", [month])
            for t in _SNAPSHOT_TABLES
        }
    return Snapshot(info={str(k): v for k, v in info.iloc[0].items()}, **tables)


def series(*, path: Path | str | None = None, niveau: str = "france") -> pd.DataFrame:
    """Return the stored rates of every month at a level (``mois, code, nom, taux_*…``)."""
    path = _path(path)
    if not path.exists():
        return pd.DataFrame(columns=["mois", "niveau", "code", "nom"])
    with _open_existing(path) as con:
        return query(
            con,
            "SELECT t.*, m.fictif FROM taux t JOIN mois m USING (mois) "
            "WHERE niveau = ? ORDER BY mois, code",
            [niveau],
        )


# ------------------------------------------------------------------------------------------
# changes
# ------------------------------------------------------------------------------------------
def _stage_word(stage: object) -> str:
    """Return the short French label of a stage code (rank 0's for none)."""
    if not isinstance(stage, str):
        return pre_stage().short
    return next((s.short for s in stages() if s.code == stage), stage)


def _names(codes: list[str], names: dict[str, str]) -> str:
    return ", ".join(names.get(c, c) for c in codes)


@dataclass
class _Scope:
    """The units compared by :func:`changes` and what a change row says about them.

    Attributes
    ----------
    deps
        Départements present in both snapshots.
    units_b, units_a
        Units of ``deps`` before and after, indexed by code.
    names, pop, dep_of
        Name, population and département of every unit of either month (the later month
        wins), so that a unit present in one month only is still described.
    """

    deps: set[str]
    units_b: pd.DataFrame
    units_a: pd.DataFrame
    names: dict[str, str]
    pop: dict[str, int]
    dep_of: dict[str, str]

    @property
    def codes(self) -> set[str]:
        """Codes of the units of either month."""
        return set(self.units_b.index) | set(self.units_a.index)

    def row(self, kind: str, codes: list[str], **extra: Any) -> dict[str, Any]:
        """Return one change row (:data:`CHANGE_COLUMNS`) about the units ``codes``."""
        codes = sorted(codes)
        row = {
            "type": kind,
            "libelle": CHANGE_TYPES[kind],
            "n_communes": len(codes),
            "population": int(sum(self.pop.get(c, 0) for c in codes)),
            "communes": " ".join(codes),
            "noms_communes": _names(codes, self.names),
        }
        row.setdefault("departement", ",".join(sorted({self.dep_of.get(c, "") for c in codes})))
        row.update(extra)
        return row


def _common_scope(before: Snapshot, after: Snapshot) -> _Scope:
    """Return the scope of the comparison: the départements of both snapshots."""
    deps = set(before.communes["departement"]) & set(after.communes["departement"])
    if deps != set(before.communes["departement"]) | set(after.communes["departement"]):
        log.warning(
            "périmètres différents : comparaison limitée %s",
            "au département commun" if len(deps) == 1 else f"aux {len(deps)} départements communs",
        )
    units_b = before.communes[before.communes["departement"].isin(deps)].set_index("code")
    units_a = after.communes[after.communes["departement"].isin(deps)].set_index("code")
    return _Scope(
        deps=deps,
        units_b=units_b,
        units_a=units_a,
        names={str(k): str(v) for k, v in pd.concat([units_b["nom"], units_a["nom"]]).items()},
        pop={**units_b["population"].to_dict(), **units_a["population"].to_dict()},
        dep_of={**units_b["departement"].to_dict(), **units_a["departement"].to_dict()},
    )


def _cpts_in_scope(snap: Snapshot, scope: _Scope) -> pd.DataFrame:
    """Return the CPTS of ``snap`` in the scope, indexed by id, with their ``codes`` (a set)."""
    # a CPTS straddling the scope's border is compared on its units inside the scope
    in_scope = scope.codes
    c = snap.cpts.copy()
    c["codes"] = unit_codes(c["communes"]).map(lambda s: set(s) & in_scope)
    c = c[c["departement"].isin(scope.deps) | c["codes"].map(bool)]
    return c.set_index("cpts_id")


def _cpts_only_in(
    present: pd.DataFrame, absent: pd.DataFrame, scope: _Scope, *, kind: str, side: str
) -> list[dict[str, Any]]:
    """One row per CPTS of ``present`` missing from ``absent`` (by id).

    Created CPTS when ``present`` is the later month (``side="apres"``), dissolved ones the
    other way round.
    """
    rows = []
    for cid in sorted(set(present.index) - set(absent.index)):
        r = present.loc[cid]
        stage = {side: _stage_word(r["stade"])}
        rows.append(scope.row(kind, sorted(r["codes"]), cpts_id=cid, cpts=r["nom"], **stage))
    return rows


def _stage_changes(cb: pd.DataFrame, ca: pd.DataFrame, scope: _Scope) -> list[dict[str, Any]]:
    """One row per CPTS of both months whose stage changed (no stage counts as one)."""
    rows = []
    for cid in sorted(set(cb.index) & set(ca.index)):
        rb, ra = cb.loc[cid], ca.loc[cid]
        sb = rb["stade"] if isinstance(rb["stade"], str) else None
        sa = ra["stade"] if isinstance(ra["stade"], str) else None
        if sb != sa:
            rows.append(
                scope.row(
                    "changement_stade",
                    sorted(ra["codes"]),
                    cpts_id=cid,
                    cpts=ra["nom"],
                    avant=_stage_word(sb),
                    apres=_stage_word(sa),
                )
            )
    return rows


def _perimeter_changes(cb: pd.DataFrame, ca: pd.DataFrame, scope: _Scope) -> list[dict[str, Any]]:
    """Up to two rows per CPTS of both months: the units it gained, the units it lost."""
    rows = []
    for cid in sorted(set(cb.index) & set(ca.index)):
        rb, ra = cb.loc[cid], ca.loc[cid]
        for kind, codes in (
            ("perimetre_etendu", ra["codes"] - rb["codes"]),
            ("perimetre_reduit", rb["codes"] - ra["codes"]),
        ):
            if codes:
                rows.append(
                    scope.row(
                        kind,
                        sorted(codes),
                        cpts_id=cid,
                        cpts=ra["nom"],
                        avant=f"{len(rb['codes'])} communes",
                        apres=f"{len(ra['codes'])} communes",
                    )
                )
    return rows


def _coverage_changes(scope: _Scope) -> list[dict[str, Any]]:
    """Rows for the units newly covered, then uncovered, one per group of CPTS.

    A unit newly covered is grouped by the CPTS covering it now, a unit uncovered by the
    CPTS that covered it before; units of one month only are not counted.
    """
    units_b, units_a = scope.units_b, scope.units_a
    common = units_b.index.intersection(units_a.index)
    was = units_b.loc[common, "stade"].notna()
    now = units_a.loc[common, "stade"].notna()
    rows = []
    for kind, mask, source in (
        ("communes_couvertes", ~was & now, units_a),
        ("communes_decouvertes", was & ~now, units_b),
    ):
        codes = common[mask.to_numpy()]
        if len(codes) == 0:
            continue
        groups = source.loc[codes].reset_index().groupby(["cpts_ids", "cpts"], sort=True)
        for (ids, noms), g in groups:
            rows.append(scope.row(kind, list(g["code"]), cpts_id=ids, cpts=noms))
    return rows


def _zones_in_scope(snap: Snapshot, scope: _Scope) -> pd.DataFrame:
    """Return the zones blanches of ``snap`` in the scope, indexed by id.

    Zone ids are stable while their smallest unit stays white, so zones are matched by id.
    """
    return snap.zones[snap.zones["departement"].isin(scope.deps)].set_index("zone_id")


def _zones_disappeared(zb: pd.DataFrame, za: pd.DataFrame, scope: _Scope) -> list[dict[str, Any]]:
    """One row per zone of ``zb`` absent from ``za``: covered, or merged into another zone."""
    units_a = scope.units_a
    codes_b = unit_codes(zb["communes"])
    rows = []
    for zid in sorted(set(zb.index) - set(za.index)):
        codes = codes_b[zid]
        still = [c for c in codes if c in units_a.index and pd.isna(units_a.loc[c, "stade"])]
        rows.append(
            scope.row(
                "zone_disparue",
                codes,
                cpts=zid,
                avant=f"{len(codes)} communes",
                apres=(
                    "entièrement couverte"
                    if not still
                    else f"{len(codes) - len(still)} communes couvertes, "
                    f"{len(still)} dans une autre zone"
                ),
            )
        )
    return rows


def _zones_new(zb: pd.DataFrame, za: pd.DataFrame, scope: _Scope) -> list[dict[str, Any]]:
    """One row per zone of ``za`` absent from ``zb``."""
    codes_a = unit_codes(za["communes"])
    rows = []
    for zid in sorted(set(za.index) - set(zb.index)):
        codes = codes_a[zid]
        rows.append(scope.row("zone_nouvelle", codes, cpts=zid, apres=f"{len(codes)} communes"))
    return rows


def _zones_modified(zb: pd.DataFrame, za: pd.DataFrame, scope: _Scope) -> list[dict[str, Any]]:
    """One row per zone of both months whose units changed."""
    codes_b, codes_a = unit_codes(zb["communes"]), unit_codes(za["communes"])
    rows = []
    for zid in sorted(set(za.index) & set(zb.index)):
        old, new = set(codes_b[zid]), set(codes_a[zid])
        if old != new:
            rows.append(
                scope.row(
                    "zone_modifiee",
                    sorted(new),
                    cpts=zid,
                    avant=f"{len(old)} communes, {integer(zb.loc[zid, 'population'])} hab.",
                    apres=f"{len(new)} communes, {integer(za.loc[zid, 'population'])} hab.",
                )
            )
    return rows


def _changes_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Return the change rows as a table, in the order of :data:`CHANGE_TYPES`."""
    frame = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    for col in ("departement", "cpts_id", "cpts", "avant", "apres"):
        frame[col] = frame[col].fillna("")
    order = {k: i for i, k in enumerate(CHANGE_TYPES)}
    # sorting on several columns is stable: ties keep the order the rows were found in
    frame = (
        frame.assign(_o=frame["type"].map(order))
        .sort_values(["_o", "departement", "cpts", "communes"])
        .drop(columns="_o")
    )
    frame["n_communes"] = frame["n_communes"].astype("int64")
    frame["population"] = frame["population"].astype("int64")
    return frame.reset_index(drop=True)


def changes(before: Snapshot, after: Snapshot) -> pd.DataFrame:
    """Return the changes from snapshot ``before`` to snapshot ``after``.

    Only the départements present in both snapshots are compared (a national month against
    a one-département month compares that département).

    Parameters
    ----------
    before, after
        The snapshots of the earlier and the later month (:func:`snapshot`,
        :func:`load_snapshot`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CHANGE_COLUMNS`: ``type`` (a key of :data:`CHANGE_TYPES`), ``libelle``
        (French), ``departement``, ``cpts_id`` and ``cpts`` (ids and names joined by ``|``),
        ``avant``/``apres`` (stage or population, in words), ``n_communes``, ``population``,
        ``communes`` (unit codes joined by a space) and ``noms_communes``. One line per CPTS
        created, dissolved, changing stage or perimeter; per group of units newly covered
        or uncovered (grouped by CPTS); per zone blanche gone, new or changed.
    """
    scope = _common_scope(before, after)
    cb, ca = _cpts_in_scope(before, scope), _cpts_in_scope(after, scope)
    zb, za = _zones_in_scope(before, scope), _zones_in_scope(after, scope)
    return _changes_frame(
        [
            *_cpts_only_in(ca, cb, scope, kind="cpts_creee", side="apres"),
            *_cpts_only_in(cb, ca, scope, kind="cpts_dissoute", side="avant"),
            *_stage_changes(cb, ca, scope),
            *_perimeter_changes(cb, ca, scope),
            *_coverage_changes(scope),
            *_zones_disappeared(zb, za, scope),
            *_zones_new(zb, za, scope),
            *_zones_modified(zb, za, scope),
        ]
    )


def compare(month_from: str, month_to: str, *, path: Path | str | None = None) -> pd.DataFrame:
    """Return the changes between two stored months (see :func:`changes`).

    Examples
    --------
    >>> compare("2026-10", "2026-11")  # doctest: +SKIP
    """
    month_from, month_to = check_month(month_from), check_month(month_to)
    return changes(load_snapshot(month_from, path=path), load_snapshot(month_to, path=path))
