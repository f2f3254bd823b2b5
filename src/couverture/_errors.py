"""Exception hierarchy: every error a user can cause derives from :class:`CouvertureError`.

Messages are in French and name the file, line and value at fault; the CLI prints them on one
line (or one line per offending row) and exits with code 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class CouvertureError(Exception):
    """Base class of every error caused by the user's inputs or environment."""


class DataSourceError(CouvertureError):
    """A reference source (communes, population, codes, bassins de vie) is missing or malformed."""


class StoreError(CouvertureError):
    """The DuckDB store is missing, locked or not built yet."""


class RegistryError(CouvertureError):
    """A CPTS registry file cannot be used; ``problems`` lists every offending line.

    Parameters
    ----------
    path
        The registry file.
    problems
        ``(line, value, message)`` triples; ``line`` is the 1-based line number in the file
        (the header is line 1), a place already worded (``"feuille « 29 », ligne 2"``), or
        ``None`` for a problem with the whole file.
    """

    def __init__(
        self, path: Path | str, problems: Iterable[tuple[int | str | None, str, str]]
    ) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        super().__init__(_listing("registre", self.path, _placed(self.problems)))


class ScenarioError(CouvertureError):
    """A scenario file (projects, one row per commune) cannot be used; names every line.

    ``problems`` are ``(line, value, message)`` as for :class:`RegistryError`.
    """

    def __init__(
        self, path: Path | str, problems: Iterable[tuple[int | str | None, str, str]]
    ) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        super().__init__(_listing("scénario", self.path, _placed(self.problems)))


class ArgumentError(CouvertureError):
    """An option given on the command line or to a library function is invalid."""


class HistoryError(CouvertureError):
    """The monthly history store does not hold what was asked for."""


class ConfigError(CouvertureError):
    """A configuration table of the package (``config/``) is malformed."""


class PlanError(CouvertureError):
    """A plan d'action workbook cannot be used; ``problems`` lists every offending cell.

    Parameters
    ----------
    path
        The workbook.
    problems
        ``(sheet, row, value, message)``; ``row`` is the 1-based row of the sheet (the header
        is row 1), or ``None`` for a problem with the whole sheet or file.
    """

    def __init__(
        self, path: Path | str, problems: Iterable[tuple[str | None, int | None, str, str]]
    ) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        located = [
            (row, f"feuille « {sheet} »" if sheet else "", value, message)
            for sheet, row, value, message in self.problems
        ]
        super().__init__(_listing("plan d'action", self.path, located))


def _placed(
    problems: list[tuple[int | str | None, str, str]],
) -> list[tuple[int | None, str, str, str]]:
    """``(line, value, message)`` with a line number or a place in words → :func:`_listing`'s."""
    return [
        (None, line, value, message) if isinstance(line, str) else (line, "", value, message)
        for line, value, message in problems
    ]


def _listing(what: str, path: Path, problems: list[tuple[int | None, str, str, str]]) -> str:
    """Return « what path : n erreurs » then one line per problem (file, place, line, value).

    ``problems`` are ``(line, place, value, message)``: ``place`` a sheet or another location
    in words (empty when none), ``line`` the 1-based line (``None`` for the whole file).
    """
    lines = []
    for line, place, value, message in problems:
        where = path.name + (f", {place}" if place else "")
        if line is not None:
            where += f", ligne {line}"
        shown = f" « {value} »" if value else ""
        lines.append(f"{where}{shown} : {message}")
    n = len(problems)
    head = f"{what} {path} : {n} erreur{'s' if n > 1 else ''}"
    return head + "\n  " + "\n  ".join(lines)
