"""The date a registry describes, and where it comes from (issue 17, items 5 and 8).

A registry says its date in a column (``date_extraction``, ``mise à jour``…, role
``date_registre`` of ``config/colonnes.csv``) or in a title row above its header
(« Registre des CPTS — extraction du 30/11/2026 »). Without one, the date given with
``--date`` stands for it, else a date in the file's name, else the file's modification time —
and every output says which (« fichier modifié le … » is not « registre du … »). A stage date is
never the registry's date: a stage date after it is an anomaly (a typo such as 2042).

Examples
--------
>>> title_date([["Registre des CPTS - extraction du 30/11/2026"]])
'2026-11-30'
>>> title_date([["Liste des CPTS, mise à jour : 1er décembre 2026"]])
'2026-12-01'
>>> title_date([["CPTS de Bretagne"]]) is None
True
>>> RegistryDate("2026-11-30", "registre", "ligne de titre").phrase()
'registre du 30 novembre 2026 (ligne de titre)'
>>> RegistryDate("2026-12-06", "fichier", "").phrase()
'fichier modifié le 6 décembre 2026 (registre sans date)'
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from couverture import _format

#: where a registry's date comes from, in the order they are looked for
SOURCES = ("registre", "option", "nom_fichier", "fichier")

_MONTHS = {m: i for i, m in enumerate(_format.MONTHS, start=1)}
_MONTHS.update({"fevrier": 2, "aout": 8, "decembre": 12})
_NUMERIC = re.compile(r"\b([0-3]?\d)[/.-]([01]?\d)[/.-]((?:19|20)\d\d)\b")
_ISO = re.compile(r"\b((?:19|20)\d\d)-([01]\d)-([0-3]\d)\b")
_WORDS = re.compile(
    r"\b(?:([0-3]?\d)(?:er)?\s+)?(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\s+"
    r"((?:19|20)\d\d)\b",
    re.IGNORECASE,
)
_NAMED = re.compile(r"(20\d{2})[-_]?(0[1-9]|1[0-2])(?:[-_]?([0-3]\d))?")


@dataclass(frozen=True)
class RegistryDate:
    """A registry's date (ISO, or ``AAAA-MM`` from a file name), its source and detail."""

    iso: str
    source: str  # one of SOURCES
    detail: str = ""

    def phrase(self) -> str:
        """Say it in French: « registre du 30 novembre 2026 (colonne date_extraction) »."""
        if self.source == "registre":
            return f"registre {_format.of_date(self.iso)}" + (
                f" ({self.detail})" if self.detail else ""
            )
        if self.source == "option":
            return f"registre daté {_format.of_date(self.iso)} par --date"
        if self.source == "nom_fichier":
            return f"registre {_format.of_date(self.iso)} (d'après le nom du fichier)"
        return f"fichier modifié le {_format.date(self.iso)} (registre sans date)"


def _valid(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def parse_text_date(text: str) -> str | None:
    """Return the first date written in ``text`` (``30/11/2026``, ``30 novembre 2026``…)."""
    folded = _format_fold(text)
    if m := _ISO.search(folded):
        return _valid(int(m[1]), int(m[2]), int(m[3]))
    if m := _NUMERIC.search(folded):
        return _valid(int(m[3]), int(m[2]), int(m[1]))
    if m := _WORDS.search(folded):
        return _valid(int(m[3]), _MONTHS[m[2].lower()], int(m[1] or 1))
    return None


def _format_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def title_date(titles: Sequence[Sequence[str]]) -> str | None:
    """Return the date written in the rows above a registry's header, if any."""
    for row in titles:
        for cell in row:
            if cell and (found := parse_text_date(cell)):
                return found
    return None


def column_date(values: Iterable[str]) -> str | None:
    """Return the latest date of a registry's date column (one per row, or one for all)."""
    dates = {parse_text_date(v) for v in set(values) if v}
    dates.discard(None)
    return max(d for d in dates if d is not None) if dates else None


def resolve(
    path: Path, *, stated: tuple[str, str] | None, given: str | None = None
) -> RegistryDate:
    """Return the registry's date: stated in it, else ``given`` (``--date``), else the file's.

    ``stated`` is ``(iso, detail)`` as read (:attr:`couverture.registry.Registry.date`).
    """
    if stated is not None:
        return RegistryDate(stated[0], "registre", stated[1])
    if given:
        text = str(given).strip()
        return RegistryDate(parse_text_date(text) or text[:10], "option")
    named = _NAMED.search(path.stem)
    if named:
        return RegistryDate("-".join(p for p in named.groups() if p), "nom_fichier")
    mtime = dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
    return RegistryDate(mtime, "fichier")


def month_end(iso: str) -> str:
    """Return the last day a date stands for (``2026-01`` → ``2026-01-31``; a day is itself)."""
    if len(iso) != 7:
        return iso[:10]
    year, month = int(iso[:4]), int(iso[5:7])
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).isoformat()
