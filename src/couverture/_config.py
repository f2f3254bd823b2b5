"""Readers of the package's configuration tables (``config/``), cached after the first call."""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

from couverture.settings import CONFIG_DIR


@cache
def sources() -> dict[str, Any]:
    """Return ``config/sources.toml`` (vintages and analysis parameters)."""
    with (CONFIG_DIR / "sources.toml").open("rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True)
class Stage:
    """One stage of maturity of a CPTS, as ``config/vocabulaire_stades.csv`` defines it.

    Attributes
    ----------
    code
        Identifier used in data (``lettre_intention``, ``projet_sante``, ``aci``).
    rank
        Order of maturity (1 = least advanced).
    label
        Full French label (« ACI signé »).
    short
        Short French label used in titles (« ACI »).
    colour, outline
        Fill and outline colours on maps and charts.
    """

    code: str
    rank: int
    label: str
    short: str
    colour: str
    outline: str


@cache
def stages() -> tuple[Stage, ...]:
    """Return the stages ordered from the least to the most advanced.

    Examples
    --------
    >>> [s.code for s in stages()]
    ['lettre_intention', 'projet_sante', 'aci']
    """
    with (CONFIG_DIR / "vocabulaire_stades.csv").open(encoding="utf-8") as fh:
        rows = [
            Stage(
                code=r["stade"],
                rank=int(r["rang"]),
                label=r["libelle"],
                short=r["court"],
                colour=r["couleur"],
                outline=r["contour"],
            )
            for r in csv.DictReader(fh)
        ]
    return tuple(sorted(rows, key=lambda s: s.rank))


@cache
def stage(code: str) -> Stage:
    """Return the :class:`Stage` of a stage code (``KeyError`` for an unknown code)."""
    for s in stages():
        if s.code == code:
            return s
    raise KeyError(code)


def stage_rank_sql(column: str) -> str:
    """Return a SQL ``CASE`` giving the rank of the stage code held in ``column``.

    Examples
    --------
    >>> stage_rank_sql("c.stade")[:40]
    "CASE c.stade WHEN 'lettre_intention' THE"
    """
    whens = " ".join(f"WHEN '{s.code}' THEN {s.rank}" for s in stages())
    return f"CASE {column} {whens} END"


@cache
def stage_wordings() -> dict[str, str]:
    """Map normalised stage wordings to a stage code (``""`` for pre-LI projects)."""
    with (CONFIG_DIR / "stades.csv").open(encoding="utf-8") as fh:
        return {row["libelle"]: row["stade"] for row in csv.DictReader(fh)}


@cache
def size_classes() -> list[tuple[int, int, int | None]]:
    """Return ``(taille, population_min, population_max)`` rows; max is ``None`` for the last."""
    with (CONFIG_DIR / "tailles.csv").open(encoding="utf-8") as fh:
        return [
            (
                int(r["taille"]),
                int(r["population_min"]),
                int(r["population_max"]) if r["population_max"] else None,
            )
            for r in csv.DictReader(fh)
        ]


@cache
def funding_table(scale: str = "avenant2") -> dict[int, int]:
    """Return the ACI maximum annual envelope (euros) by taille for a funding scale."""
    with (CONFIG_DIR / "financement.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["bareme"] == scale]
    if not rows:
        from couverture._errors import ArgumentError

        raise ArgumentError(f"barème de financement inconnu : « {scale} »")
    return {int(r["taille"]): int(r["montant_max_annuel_eur"]) for r in rows}


def size_class(population: float) -> int:
    """Return the ACI taille (1–4) of a CPTS covering ``population`` inhabitants.

    Examples
    --------
    >>> size_class(39_999), size_class(40_000), size_class(175_000)
    (1, 2, 4)
    """
    for taille, lo, hi in size_classes():
        if population >= lo and (hi is None or population < hi):
            return taille
    raise ValueError(population)


# Metric CRS per territory: Lambert-93 for metropolitan France, local UTM for the DROM
# (Lambert-93 distorts areas and lengths badly that far from its cone).
METRIC_CRS_BY_DEPARTEMENT = {
    "971": "EPSG:5490",
    "972": "EPSG:5490",
    "973": "EPSG:2972",
    "974": "EPSG:2975",
    "976": "EPSG:4471",
}


def metric_crs(departement: str) -> str:
    """Return the projected CRS used to measure areas and lengths in a département."""
    return METRIC_CRS_BY_DEPARTEMENT.get(departement, "EPSG:2154")
