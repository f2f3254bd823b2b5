"""Checks at the boundary: each stage validates its inputs once, here; inner code trusts them.

Every check raises a :class:`couverture._errors.CouvertureError` subclass with a French
message naming the value at fault.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from couverture._errors import ArgumentError, DataSourceError, RegistryError
from couverture._input import InputError, check_file, input_files

if TYPE_CHECKING:
    import pandas as pd

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")  # ASCII digits only (not "2026-１１")


def check_month(month: str) -> str:
    """Return ``month`` if it is a ``YYYY-MM`` month, else raise :class:`ArgumentError`.

    Examples
    --------
    >>> check_month("2026-11")
    '2026-11'
    """
    m = _MONTH.fullmatch(str(month).strip())
    if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 2000:
        raise ArgumentError(f"mois invalide : « {month} » (attendu AAAA-MM, par exemple 2026-11)")
    return m.group(0)


def check_registry_file(path: Path) -> None:
    """Raise :class:`RegistryError` unless ``path`` is a regular file (or a link to one).

    A FIFO, a pipe on standard input, a device (``/dev/zero``) or a directory would hang or
    mislead the reading: they are refused before anything is read (see
    :func:`couverture._input.check_file`).
    """
    try:
        check_file(path, what="registre")
    except InputError as exc:
        raise RegistryError(path, [(None, "", _registry_reason(exc.reason))]) from exc


def _registry_reason(reason: str) -> str:
    """Return the input door's reason, worded for a registry (CSV, XLSX or polygon layer)."""
    return reason.replace(
        "un fichier ordinaire est attendu", "un fichier ordinaire CSV ou XLSX est attendu"
    )


def registry_files(path: Path) -> list[Path]:
    """Return the files a registry is made of (see :func:`couverture._input.input_files`)."""
    return input_files(path)


def check_departements(departements: Collection[str] | None, known: Collection[str]) -> None:
    """Raise :class:`ArgumentError` naming the départements that are not in ``known``."""
    if departements is None:
        return
    unknown = [d for d in departements if d not in known]
    if unknown:
        hint = " (la Corse est 2A ou 2B)" if "20" in unknown else ""
        raise ArgumentError(f"--departement : département inconnu « {', '.join(unknown)} »{hint}")


def check_bounds(floor: int, ceiling: int) -> None:
    """Raise :class:`ArgumentError` unless ``0 < floor < ceiling`` (new-CPTS population)."""
    if floor <= 0 or ceiling <= 0:
        raise ArgumentError(
            f"--plancher et --plafond doivent être positifs (reçu {floor} et {ceiling})"
        )
    if floor >= ceiling:
        raise ArgumentError(f"--plancher ({floor}) doit être inférieur à --plafond ({ceiling})")


def check_units(units: pd.DataFrame) -> None:
    """Check the assembled units.

    Unique 5-character codes, a département, a population ≥ 0, valid geometries where present
    (CRS set).
    """
    problems = []
    dup = units["code"][units["code"].duplicated()]
    if len(dup):
        problems.append(f"codes en double : {', '.join(dup.head(10))}")
    bad = units["code"][units["code"].str.len() != 5]
    if len(bad):
        problems.append(f"codes de longueur ≠ 5 : {', '.join(bad.head(10))}")
    if units["departement"].isna().any():
        codes = units.loc[units["departement"].isna(), "code"].head(10)
        problems.append(f"unités sans département : {', '.join(codes)}")
    if (units["population"] < 0).any():
        problems.append("populations négatives")
    if "geometry" in units and hasattr(units, "crs"):
        if units.crs is None:
            problems.append("système de coordonnées absent")
        present = units.geometry.notna()
        invalid = units.loc[present & ~units.geometry.is_valid, "code"]
        if len(invalid):
            problems.append(f"géométries invalides : {', '.join(invalid.head(10))}")
    if problems:
        raise DataSourceError("unités d'analyse incohérentes : " + " ; ".join(problems))
