"""The figures of the monthly report: its tables, months at stage, trend and projection.

Private part of :mod:`couverture.report` (gathering what the page, the workbook and the CSV
files show); the public names are re-exported there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from couverture import _format, history
from couverture._config import STAGES, ColumnTitles, pre_stage, stage
from couverture._output import titled, worded
from couverture.alerts import linear_projection
from couverture.coverage import UNIT_OUTPUT_COLUMNS

if TYPE_CHECKING:
    from couverture.analysis import Analysis

#: French titles of the columns of the human tables (XLSX sheets, CSV files, HTML).
COLUMN_TITLES = ColumnTitles("titre")  # config/titres_colonnes.csv, read on first use


def column_titles() -> Mapping[str, str]:
    """French titles of the columns of the human tables (see :data:`COLUMN_TITLES`)."""
    return COLUMN_TITLES


def _stage_labels() -> dict[str, str]:
    return {s: stage(s).label for s in STAGES}


def rate_columns() -> list[str]:
    """Return the columns of the report's rates, a pair per stage of ``config/`` now."""
    return [
        "code",
        "nom",
        "n_communes",
        "population",
        *(f"pop_{s}" for s in STAGES),
        *(f"taux_{s}" for s in STAGES),
    ]


def history_columns() -> list[str]:
    """Return the columns of the report's history, a pair per stage of ``config/`` now."""
    return [
        "mois",
        "libelle_registre",
        "perimetre",
        "n_cpts",
        "population",
        *(f"pop_{s}" for s in STAGES),
        *(f"taux_{s}" for s in STAGES),
        "n_zones",
        "population_zones",
        "n_chevauchements",
    ]


def __getattr__(name: str) -> list[str]:
    # RATE_COLUMNS and HISTORY_COLUMNS follow the stage vocabulary when read (a notebook that
    # changes config/ gets the new columns), never frozen at import
    if name == "RATE_COLUMNS":
        return rate_columns()
    if name == "HISTORY_COLUMNS":
        return history_columns()
    raise AttributeError(name)


def month_label(month: str) -> str:
    """Return ``novembre 2026`` for ``2026-11`` (the month is checked first)."""
    return _format.month(history.check_month(month))


def french_titles(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename the columns of a table to their French titles (:data:`COLUMN_TITLES`).

    Its values too are put in words: stages, options (:func:`couverture._output.worded`).
    """
    return titled(worded(frame))


_OPTION_WORDS = {
    "extension": "extension de",
    "creation": "création de",
    "rattachement_temporaire": "rattachement temporaire à",
}


def recommended_options(proposals: pd.DataFrame | None) -> dict[str, str]:
    """Return the recommended scenario of each zone, in words (its parts joined by « ; »)."""
    if proposals is None or proposals.empty:
        return {}
    best = proposals[proposals["recommandee"].astype(str).str.lower() == "oui"]
    out: dict[str, list[str]] = {}
    for row in best.itertuples(index=False):
        target = str(row.cpts_cible or "") if row.option != "creation" else ""
        target = target or str(getattr(row, "nom_propose", "") or "")
        text = f"{_OPTION_WORDS.get(str(row.option), str(row.option))} {target}".strip()
        text += f" ({_format.number(row.population_resultante, missing='')} hab. après)"
        porteur = str(getattr(row, "porteur_potentiel", "") or "")
        if porteur:
            text += f", porteur potentiel : {porteur}"
        out.setdefault(str(row.zone_id), []).append(text)
    return {zone: " ; ".join(parts) for zone, parts in out.items()}


def report_tables(a: Analysis, snap: history.Snapshot) -> dict[str, pd.DataFrame]:
    """Return the report's tables, machine column names (see :data:`COLUMN_TITLES`)."""
    rates = {n: a.rates(niveau=n)[rate_columns()] for n in history.RATE_LEVELS}
    if a.departements is not None:
        rates["france"]["nom"] = "Périmètre du rapport (" + ", ".join(a.departements) + ")"
    units = a.units()
    zones = a.zones().drop(columns="cpts_voisines_ids").copy()
    # named by place, communes most populated first (one function for every document)
    named = a.zone_names()
    zones.insert(1, "nom_zone", zones["zone_id"].map(named["nom_zone"]))
    zones.insert(5, "noms_communes", zones["zone_id"].map(named["noms_communes"]))
    cpts = a.cpts().reset_index()
    at_stage = months_at_stage(a.registry.cpts, cpts, registry_date=a.meta["date_registre"])
    if at_stage is not None:
        cpts.insert(cpts.columns.get_loc("stade") + 1, "mois_au_stade", at_stage)
    cpts["stade"] = cpts["stade"].astype(object).map(_stage_labels()).fillna(pre_stage().label)
    cpts = cpts.merge(snap.cpts[["cpts_id", "communes"]], on="cpts_id", how="left")
    communes = units[[c for c in UNIT_OUTPUT_COLUMNS if c != "n_cpts"]].copy()
    communes["stade"] = communes["stade"].map(_stage_labels()).fillna("Non couverte")
    out = {
        "france": rates["france"],
        "regions": rates["region"],
        "departements": rates["departement"],
        "zones-blanches": zones,
        "chevauchements": a.overlaps(),
        "cpts": cpts,
        "communes": communes,
    }
    if a.departements is not None:
        # the EPCIs of a département report (their communes in the périmètre)
        out["epci"] = a.rates(niveau="epci")[rate_columns()]
    return out


def months_at_stage(
    registry_cpts: pd.DataFrame, cpts: pd.DataFrame, *, registry_date: str
) -> pd.Series | None:
    """Whole months each CPTS has spent at its current stage.

    From the registry's stage dates (``date_lettre_intention``…) to the registry's date;
    ``None`` when the registry has no stage date at all (``<NA>`` for a CPTS whose current stage
    has no date).

    Parameters
    ----------
    registry_cpts
        :attr:`couverture.registry.Registry.cpts` (index ``cpts_id``, optional ``date_*``).
    cpts
        Rows with ``cpts_id`` and ``stade`` (codes).
    registry_date
        ISO date the registry describes (``Analysis.meta["date_registre"]``).
    """
    dated = [c for c in (f"date_{s}" for s in STAGES) if c in registry_cpts.columns]
    if not dated or registry_cpts[dated].isna().all().all():
        return None
    # a registry dated by its file name may give a month only (``2026-01``)
    text = str(registry_date)
    ref = pd.to_datetime(text + "-01" if len(text) == 7 else text[:10], errors="coerce")
    out = []
    for cid, stade in zip(cpts["cpts_id"], cpts["stade"], strict=True):
        col = f"date_{stade}" if isinstance(stade, str) else None
        value = registry_cpts[col].get(cid) if col in dated else None
        when = pd.to_datetime(value, errors="coerce") if value is not None else pd.NaT
        if pd.isna(when) or pd.isna(ref):
            out.append(pd.NA)
        else:
            months = (ref.year - when.year) * 12 + ref.month - when.month
            out.append(max(months - (ref.day < when.day), 0))
    return pd.Series(out, index=cpts.index, dtype="Int64")


def projected_full_coverage(
    months: list[str], rates: list[float], *, target: float = 100.0
) -> str | None:
    """Return the month (``AAAA-MM``) a coverage rate reaches ``target`` at a linear pace.

    The pace is the one observed between the first and the last month recorded.

    Returns the last month when the target is already reached, ``None`` with fewer than two
    months or without progress. (A deliberately simple projection: the plan module gives a
    richer one.) The pace and month are :func:`couverture.alerts.linear_projection`'s.

    Examples
    --------
    >>> projected_full_coverage(["2026-09", "2026-11"], [80.0, 90.0])
    '2027-01'
    >>> projected_full_coverage(["2026-11"], [90.0]) is None
    True
    """
    if not months:
        return None
    if rates[-1] >= target:
        return months[-1]
    return linear_projection(months, rates, target=target)[1]


def perimeter_trend(
    month: str,
    *,
    departements: tuple[str, ...],
    fictif: bool,
    current: pd.DataFrame,
    path: Path | str | None,
) -> pd.DataFrame:
    """Rates of the périmètre's départements.

    Month by month (``mois``, ``population``, ``pop_*``, ``taux_*``): every month stored before
    ``month`` (of the same kind of registry, whatever the périmètre of its report) that holds
    all of them, then this one.
    """
    pops = ["population", *(f"pop_{s}" for s in STAGES)]
    try:
        stored = history.series(path=path, niveau="departement")
    except history.HistoryError:
        stored = pd.DataFrame()
    if not stored.empty:
        stored = stored[
            (stored["mois"] < month)
            & (stored["fictif"] == fictif)
            & stored["code"].isin(departements)
        ]
        complete = stored.groupby("mois")["code"].transform("nunique") == len(departements)
        stored = stored[complete].groupby("mois", as_index=False)[pops].sum()
    now = current[current["code"].isin(departements)][pops].sum().to_frame().T
    trend = pd.concat([stored, now.assign(mois=month)], ignore_index=True)[["mois", *pops]]
    for s in STAGES:
        share = 100.0 * trend[f"pop_{s}"].astype(float) / trend["population"].astype(float)
        trend[f"taux_{s}"] = share.where(trend["population"] > 0, 0.0).round(2)
    return trend


def past_months(month: str, snap: history.Snapshot, path: Path | str | None) -> pd.DataFrame:
    """Months stored before ``month`` for the same scope and kind of registry, plus this one."""
    current = pd.DataFrame([{"mois": month, **snap.info}])
    p = Path(path) if path is not None else None
    try:
        stored = history.months(path=p)
    except history.HistoryError:
        return current[history_columns()]
    same = stored[
        (stored["mois"] < month)
        & (stored["fictif"] == snap.info["fictif"])
        & (stored["perimetre"] == snap.info["perimetre"])
    ]
    return pd.concat([same, current], ignore_index=True)[history_columns()]


def summary_sheet(a: Analysis, month: str, previous: str | None) -> pd.DataFrame:
    rows = [
        ("Mois du rapport", month),
        ("Registre", a.meta["registre"]),
        ("Date du registre", a.meta["date_registre"]),
        ("Source de la date du registre", a.meta.get("date_registre_texte", "")),
        ("Registre fictif (démonstration)", "oui" if a.meta["fictif"] else "non"),
        ("Empreinte du registre (sha256)", a.registry_digest),
        ("Périmètre", "France entière" if a.departements is None else ", ".join(a.departements)),
        ("Population (millésime)", a.meta["population_millesime"]),
        ("Code officiel géographique", a.meta["cog"]),
        ("Comparé au mois", previous or "aucun (premier mois enregistré)"),
        ("Communes", "fichier communes-" + month + ".csv (une ligne par commune)"),
    ]
    return pd.DataFrame(rows, columns=["Rubrique", "Valeur"])
