"""Readers of the package's configuration tables (``config/``), cached after the first call."""

from __future__ import annotations

import csv
import tomllib
from functools import cache
from typing import Any

from couverture.settings import CONFIG_DIR


@cache
def sources() -> dict[str, Any]:
    """Return ``config/sources.toml`` (vintages and analysis parameters)."""
    with (CONFIG_DIR / "sources.toml").open("rb") as fh:
        return tomllib.load(fh)


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
