"""Alerts and pace.

CPTS stuck at a stage, neighbours that could share a coordinator, and the month at which the
whole population would be covered at the recent pace.

Everything is computed from data already read (the registry's stage dates, the store's
adjacency, the history store) against an explicit reference date, never "today": the CLI
passes ``--date`` or the registry's date (:attr:`couverture.analysis.Analysis.meta`
``["date_registre"]``). Thresholds are data: ``config/alertes.toml``.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from couverture import _config, _format, history
from couverture._config import sources, toml
from couverture._errors import ArgumentError
from couverture._format import integer, plural
from couverture._format import month as french_month

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis

#: Stages whose 100 % month is projected.
PROJECTED_STAGES = ("lettre_intention", "aci")
NO_PROGRESS = "pas de progression"
REACHED = "atteint"
TOO_SHORT = "historique insuffisant"

CPTS_COLUMNS = [
    "cpts_id",
    "nom",
    "departement",
    "stade",
    "date_lettre_intention",
    "date_projet_sante",
    "date_aci",
    "date_stade",
    "mois_au_stade",
    "population",
    "taille",
    "alerte",
]
PAIR_COLUMNS = [
    "departement",
    "cpts_id_a",
    "nom_a",
    "taille_a",
    "cpts_id_b",
    "nom_b",
    "taille_b",
]


def _stage_word(code: object) -> str:
    """Return the short label of a stage code, rank 0's for a project before it."""
    if isinstance(code, str) and code in _config.stage_codes():
        return _config.stage(code).short
    return _config.pre_stage().short


def thresholds() -> dict[str, Any]:
    """Return ``config/alertes.toml``."""
    return toml("alertes.toml")


def reference_date(analysis: Analysis, explicit: str | dt.date | None = None) -> dt.date:
    """Return the date delays and months at a stage are measured at.

    ``explicit`` (``--date``) when given, else the registry's date (its latest stage date, else
    a date in its file name, else its modification date; see
    :func:`couverture.analysis.registry_date`).
    """
    if explicit is not None:
        return parse_date(explicit, option="--date")
    text = str(analysis.meta["date_registre"])
    if len(text) == 7:  # a month in the file name: its first day
        text += "-01"
    return parse_date(text, option="date du registre")


def parse_date(value: str | dt.date, *, option: str) -> dt.date:
    """Parse an ISO (``2026-11-30``) or French (``30/11/2026``) date; ArgumentError else."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text[:10], fmt).date()
        except ValueError:
            continue
    raise ArgumentError(f"{option} : date attendue (AAAA-MM-JJ ou JJ/MM/AAAA), reçu « {text} »")


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from ``start`` to ``end`` (negative when ``end`` is earlier).

    Examples
    --------
    >>> months_between(dt.date(2025, 1, 15), dt.date(2026, 1, 14))
    11
    >>> months_between(dt.date(2025, 1, 15), dt.date(2026, 1, 15))
    12
    """
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day:
        months -= 1
    return months


def _iso(value: object) -> dt.date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    if text in ("", "<NA>", "nan", "NaT"):
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def coordinator_pairs(analysis: Analysis) -> pd.DataFrame:
    """Pairs of neighbouring CPTS of small taille that could share a coordinator.

    Two CPTS are neighbours when one of their units borders (rook adjacency) or is a unit of
    the other. Both must be of a taille listed in ``[mutualisation] tailles`` (1 by default),
    at lettre d'intention or projet de santé (projects before it have no coordinator, an ACI
    funds its own: ``stades_exclus``).
    Pairs crossing a département border are kept when one CPTS is in the analysis's scope.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PAIR_COLUMNS`, one row per pair (``a`` before ``b`` by id),
        ``departement`` being that of ``a``.
    """
    settings = thresholds()["mutualisation"]
    sizes = set(int(t) for t in settings["tailles"])
    excluded = set(settings.get("stades_exclus", []))
    table = analysis.national().cpts()
    small = table[
        table["taille"].isin(sizes) & table["stade"].notna() & ~table["stade"].isin(excluded)
    ]
    if small.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    members = analysis.registry.membership[["cpts_id", "code"]]
    members = members[members["cpts_id"].isin(small.index)].drop_duplicates()
    adjacency = analysis.adjacency()[["code_a", "code_b"]]
    touching = members.merge(adjacency, left_on="code", right_on="code_a")[["cpts_id", "code_b"]]
    touching = touching.merge(
        members.rename(columns={"cpts_id": "cpts_id_b", "code": "code_b"}), on="code_b"
    )[["cpts_id", "cpts_id_b"]]
    sharing = members.merge(members.rename(columns={"cpts_id": "cpts_id_b"}), on="code")[
        ["cpts_id", "cpts_id_b"]
    ]
    pairs = pd.concat([touching, sharing], ignore_index=True)
    pairs = pairs[pairs["cpts_id"] < pairs["cpts_id_b"]].drop_duplicates()
    pairs = pairs.rename(columns={"cpts_id": "cpts_id_a"})
    if analysis.departements is not None:
        scope = set(analysis.cpts().index)
        pairs = pairs[pairs["cpts_id_a"].isin(scope) | pairs["cpts_id_b"].isin(scope)]
    out = pd.DataFrame(
        {
            "departement": pairs["cpts_id_a"].map(small["departement"]),
            "cpts_id_a": pairs["cpts_id_a"],
            "nom_a": pairs["cpts_id_a"].map(small["nom"]),
            "taille_a": pairs["cpts_id_a"].map(small["taille"]).astype("int64"),
            "cpts_id_b": pairs["cpts_id_b"],
            "nom_b": pairs["cpts_id_b"].map(small["nom"]),
            "taille_b": pairs["cpts_id_b"].map(small["taille"]).astype("int64"),
        }
    )
    return out.sort_values(["departement", "cpts_id_a", "cpts_id_b"]).reset_index(drop=True)


def cpts_alerts(
    analysis: Analysis, *, on: dt.date, history_path: Path | str | None = None
) -> pd.DataFrame:
    """One row per CPTS of the scope.

    Stage, stage dates, months at the current stage at date ``on``, population, taille and its
    alerts (empty when none), each meaning something a task force acts on:

    - « à risque d'essoufflement » : at lettre d'intention, or at projet de santé without ACI,
      for ``lettre_intention_mois_max`` / ``projet_sante_sans_aci_mois_max`` months or more
      (from the registry's stage dates), or a perimeter smaller than in the latest month of the
      history store (``history_path``, default ``data/historique.duckdb``) before ``on``;
    - « périmètre anormal » : ``communes_min`` commune(s) only, a population under the creation
      floor (``plancher_creation`` of ``sources.toml``), or communes in several pieces that do
      not touch;
    - a neighbouring taille-1 CPTS not yet at ACI to share a coordinator with
      (:func:`coordinator_pairs`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CPTS_COLUMNS` (dates ISO or empty, ``stade`` in French), ordered by
        département and name.
    """
    limits = thresholds()["stades"]
    table = analysis.cpts().reset_index()
    dates = analysis.registry.cpts
    out = pd.DataFrame({"cpts_id": table["cpts_id"], "nom": table["nom"]})
    out["departement"] = table["departement"]
    stage_codes = table["stade"].astype(object).where(table["stade"].notna(), None)
    out["stade"] = stage_codes.map(_stage_word)
    for stage in ("lettre_intention", "projet_sante", "aci"):
        column = f"date_{stage}"
        values = table["cpts_id"].map(dates[column]) if column in dates else None
        out[column] = (
            [d.isoformat() if (d := _iso(v)) else "" for v in values] if values is not None else ""
        )
    since = [
        _iso(row[f"date_{s}"]) if isinstance(s, str) else None
        for s, (_, row) in zip(stage_codes, out.iterrows(), strict=True)
    ]
    out["date_stade"] = [d.isoformat() if d else "" for d in since]
    months = [months_between(d, on) if d else None for d in since]
    out["mois_au_stade"] = pd.array(months, dtype="Int64")
    out["population"] = table["population"].astype("int64")
    out["taille"] = table["taille"].astype("int64")
    alerts: list[list[str]] = [[] for _ in range(len(out))]
    li_max = int(limits["lettre_intention_mois_max"])
    ps_max = int(limits["projet_sante_sans_aci_mois_max"])
    risk = "à risque d'essoufflement : "
    for i, (stage, n) in enumerate(zip(stage_codes, months, strict=True)):
        if n is None:
            continue
        if stage == "lettre_intention" and n >= li_max:
            alerts[i].append(f"{risk}lettre d'intention depuis {n} mois ({li_max} ou plus)")
        elif stage == "projet_sante" and n >= ps_max:
            alerts[i].append(f"{risk}projet de santé depuis {n} mois sans ACI ({ps_max} ou plus)")
    shrunk = _shrinking(analysis, table, on=on, history_path=history_path)
    abnormal = _abnormal_perimeters(analysis, table)
    for i, cpts_id in enumerate(out["cpts_id"]):
        if cpts_id in shrunk:
            alerts[i].append(risk + shrunk[cpts_id])
        alerts[i] += [f"périmètre anormal : {text}" for text in abnormal.get(cpts_id, [])]
    partners: dict[str, list[str]] = {}
    for p in coordinator_pairs(analysis).itertuples(index=False):
        partners.setdefault(str(p.cpts_id_a), []).append(f"{p.nom_b} (taille {p.taille_b})")
        partners.setdefault(str(p.cpts_id_b), []).append(f"{p.nom_a} (taille {p.taille_a})")
    for i, cpts_id in enumerate(out["cpts_id"]):
        if cpts_id in partners:
            alerts[i].append(
                "coordonnateur à mutualiser possible avec " + ", ".join(sorted(partners[cpts_id]))
            )
    out["alerte"] = [" ; ".join(a) for a in alerts]
    out = out.sort_values(["departement", "nom", "cpts_id"], na_position="last")
    return out[CPTS_COLUMNS].reset_index(drop=True)


def _abnormal_perimeters(analysis: Analysis, table: pd.DataFrame) -> dict[str, list[str]]:
    """Return, by CPTS id, what is abnormal in its perimeter (one commune, floor, pieces)."""
    floor = int(sources()["analyse"]["plancher_creation"])
    few = int(thresholds().get("perimetre", {}).get("communes_min", 1))
    out: dict[str, list[str]] = {}
    ids = set(table["cpts_id"])
    members = analysis.registry.membership[["cpts_id", "code"]].drop_duplicates()
    members = members[members["cpts_id"].isin(ids)]
    codes_of = members.groupby("cpts_id")["code"].agg(list).to_dict()
    adjacency = analysis.adjacency()
    linked = set(adjacency["code_a"])  # units with at least one neighbour (islands have none)
    neighbours: dict[str, set[str]] = {}
    inside = adjacency[adjacency["code_a"].isin(set(members["code"]))]
    for a, b in zip(inside["code_a"], inside["code_b"], strict=True):
        neighbours.setdefault(a, set()).add(b)
    for row in table.itertuples(index=False):
        cid = str(row.cpts_id)
        found = []
        codes = codes_of.get(cid, [])
        small = int(row.population) < floor  # a city may be a CPTS on its own
        if 0 < len(codes) <= few and small:
            found.append(
                f"{plural(len(codes), 'commune')} seulement, "
                f"{integer(int(row.population))} hab. (périmètre non arrêté ?)"
            )
        elif small:
            found.append(
                f"{integer(int(row.population))} hab., sous le plancher de {integer(floor)}"
            )
        pieces = _pieces([c for c in codes if c in linked], neighbours)
        if pieces > 1:
            found.append(f"communes en {pieces} morceaux qui ne se touchent pas")
        if found:
            out[cid] = found
    return out


def _pieces(codes: list[str], neighbours: dict[str, set[str]]) -> int:
    """Return the number of connected pieces of ``codes`` (rook adjacency)."""
    todo = set(codes)
    pieces = 0
    while todo:
        pieces += 1
        stack = [todo.pop()]
        while stack:
            for nxt in neighbours.get(stack.pop(), set()) & todo:
                todo.discard(nxt)
                stack.append(nxt)
    return pieces


def _shrinking(
    analysis: Analysis, table: pd.DataFrame, *, on: dt.date, history_path: Path | str | None
) -> dict[str, str]:
    """Return, by CPTS id, how its perimeter shrank since the history's month before ``on``."""
    if not thresholds().get("perimetre", {}).get("signaler_reduction", True):
        return {}
    fictif = bool(analysis.meta["fictif"])
    month = history.previous_month(on.isoformat()[:7], path=history_path, fictif=fictif)
    if month is None:
        return {}
    before = history.load_snapshot(month, path=history_path).cpts
    previous = dict(zip(before["cpts_id"].astype(str), before["n_communes"], strict=True))
    out = {}
    for cid, n in zip(table["cpts_id"].astype(str), table["n_communes"], strict=True):
        old = previous.get(cid)
        if old is not None and int(n) < int(old):
            out[cid] = f"périmètre réduit de {int(old)} à {int(n)} communes depuis {month}"
    return out


# ------------------------------------------------------------------------------------------
# projection
# ------------------------------------------------------------------------------------------
def _add_months(month: str, n: int) -> str:
    year, mm = int(month[:4]), int(month[5:7])
    total = year * 12 + mm - 1 + n
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def _month_index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def linear_projection(
    months: list[str], rates: list[float], *, target: float = 100.0
) -> tuple[float | None, str | None]:
    """Return the pace of ``rates`` and the month (``AAAA-MM``) it reaches ``target`` at it.

    The one projection to 100 % (the alerts' :func:`project`, the report's
    :func:`couverture.report.projected_full_coverage`): the pace is the linear one between the
    first and the last of ``months`` (percentage points per month; months need not be
    consecutive). Returns ``(None, None)`` with fewer than two months and ``(pace, None)``
    without progress.

    Examples
    --------
    >>> linear_projection(["2026-09", "2026-11"], [80.0, 90.0])
    (5.0, '2027-01')
    >>> linear_projection(["2026-09", "2026-11"], [80.0, 80.0])
    (0.0, None)
    """
    if len(months) < 2:
        return None, None
    span = _month_index(months[-1]) - _month_index(months[0])
    pace = (rates[-1] - rates[0]) / span if span > 0 else 0.0
    if pace <= 1e-9:
        return pace, None
    needed = math.ceil((target - rates[-1]) / pace - 1e-9)
    return pace, _add_months(months[-1], needed)


def project(series: pd.DataFrame, *, window: int | None = None) -> dict[str, dict[str, Any]]:
    """Project the month at which each stage of :data:`PROJECTED_STAGES` reaches 100 %.

    Parameters
    ----------
    series
        One row per recorded month: ``mois`` (``AAAA-MM``), ``population`` and
        ``pop_<stage>`` (any order; months need not be consecutive).
    window
        How many of the last recorded months measure the pace (default
        ``[projection] fenetre_mois``, 6).

    Returns
    -------
    dict
        Per stage: ``taux`` (last, %), ``rythme`` (percentage points per month, ``None``
        with fewer than two months), ``mois`` (``AAAA-MM`` of 100 %, or :data:`REACHED`,
        :data:`NO_PROGRESS`, :data:`TOO_SHORT`) and ``texte`` (French).

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"mois": ["2026-09", "2026-10", "2026-11"],
    ...                   "population": [100] * 3, "pop_lettre_intention": [50, 55, 60],
    ...                   "pop_aci": [40, 40, 40]})
    >>> project(s)["lettre_intention"]["mois"], project(s)["aci"]["mois"]
    ('2027-07', 'pas de progression')
    >>> project(s)["lettre_intention"]["texte"]
    'juillet 2027 (au rythme de 5,00 points par mois)'
    """
    window = int(thresholds()["projection"]["fenetre_mois"]) if window is None else window
    out: dict[str, dict[str, Any]] = {}
    if series.empty:
        return {
            s: {"taux": None, "rythme": None, "mois": TOO_SHORT, "texte": TOO_SHORT}
            for s in PROJECTED_STAGES
        }
    recent = series.sort_values("mois").tail(window)
    for stage in PROJECTED_STAGES:
        rates = [
            100.0 * float(p) / float(pop) if pop else 0.0
            for p, pop in zip(recent[f"pop_{stage}"], recent["population"], strict=True)
        ]
        months = list(recent["mois"].astype(str))
        last = rates[-1]
        if last >= 100.0 - 1e-9:
            out[stage] = {"taux": last, "rythme": None, "mois": REACHED, "texte": "100 % atteint"}
            continue
        if len(rates) < 2:
            out[stage] = {"taux": last, "rythme": None, "mois": TOO_SHORT, "texte": TOO_SHORT}
            continue
        pace, target = linear_projection(months, rates)
        if pace is None or target is None:
            out[stage] = {"taux": last, "rythme": pace, "mois": NO_PROGRESS, "texte": NO_PROGRESS}
            continue
        rhythm = _format.number(pace, decimals=2)
        # French plural from 2 on: « 0,85 point », « 20,43 points »
        points = "points" if pace >= 2 else "point"
        text = f"{french_month(target)} (au rythme de {rhythm} {points} par mois)"
        out[stage] = {"taux": last, "rythme": pace, "mois": target, "texte": text}
    return out


def history_series(
    analysis: Analysis, *, departement: str | None = None, history_path: Path | str | None = None
) -> pd.DataFrame:
    """Return recorded months of one département.

    (or of France when ``None``) from the history store, for the same kind of registry (demo or
    real) as ``analysis``: ``mois, population, pop_<stage>…``. Empty when the store does not
    exist.
    """
    niveau = "france" if departement is None else "departement"
    frame = history.series(path=history_path, niveau=niveau)
    if frame.empty:
        return frame
    if departement is not None:
        frame = frame[frame["code"] == departement]
    if "fictif" in frame:
        frame = frame[frame["fictif"] == bool(analysis.meta["fictif"])]
    return frame.drop_duplicates("mois", keep="last").reset_index(drop=True)
