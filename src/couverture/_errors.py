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
        lines = []
        for line, value, message in self.problems:
            where = f"{self.path.name}"
            if isinstance(line, str):
                where = f"{self.path.name}, {line}"
            elif line is not None:
                where = f"{self.path.name}, ligne {line}"
            shown = f" « {value} »" if value else ""
            lines.append(f"{where}{shown} : {message}")
        n = len(self.problems)
        head = f"registre {self.path} : {n} erreur{'s' if n > 1 else ''}"
        super().__init__(head + "\n  " + "\n  ".join(lines))


class ScenarioError(CouvertureError):
    """A scenario file (projects, one row per commune) cannot be used; names every line.

    ``problems`` are ``(line, value, message)`` as for :class:`RegistryError`.
    """

    def __init__(
        self, path: Path | str, problems: Iterable[tuple[int | str | None, str, str]]
    ) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        lines = []
        for line, value, message in self.problems:
            where = self.path.name
            if isinstance(line, str):
                where += f", {line}"
            elif line is not None:
                where += f", ligne {line}"
            shown = f" « {value} »" if value else ""
            lines.append(f"{where}{shown} : {message}")
        n = len(self.problems)
        head = f"scénario {self.path} : {n} erreur{'s' if n > 1 else ''}"
        super().__init__(head + "\n  " + "\n  ".join(lines))


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
        lines = []
        for sheet, row, value, message in self.problems:
            where = self.path.name
            if sheet:
                where += f", feuille « {sheet} »"
            if row is not None:
                where += f", ligne {row}"
            shown = f" « {value} »" if value else ""
            lines.append(f"{where}{shown} : {message}")
        n = len(self.problems)
        head = f"plan d'action {self.path} : {n} erreur{'s' if n > 1 else ''}"
        super().__init__(head + "\n  " + "\n  ".join(lines))
