"""Shared pieces of the registry reader: name keys, roles, the anomaly collector, the body.

Private to :mod:`couverture.registry` (split by concern: ``_registry_read`` bytes → rows,
``_registry_units`` rows → units, ``_registry_cpts`` rows → CPTS). Every message goes to the
``couverture.registry`` logger, which :class:`couverture.analysis.Analysis` records and replays.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator, Sequence
from itertools import zip_longest
from pathlib import Path
from typing import Any

import pandas as pd

from couverture._errors import RegistryError

log = logging.getLogger("couverture.registry")

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_WORD = re.compile(r"[^\W_]+")
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})
_ARTICLES = frozenset({"le", "la", "les", "l"})
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
_ARRONDISSEMENT_WORDS = frozenset({"arrondissement", "arrondissements", "arrondt", "arr", "ardt"})
_ORDINAL = re.compile(r"0*(\d+)(?:er|re|e|eme|ieme|nd|nde)?")
_CODE_ROLES = ("code_arm", "code", "code_ancien")
_DATE_ROLES = ("date_lettre_intention", "date_projet_sante", "date_aci")
# what a terminal would obey in a name: ANSI/OSC escape sequences, C0 and C1 controls (tab and
# newline kept), bidirectional overrides
_TERMINAL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)
_SHEET_STRIDE = 10_000_000  # line of row r of the k-th sheet read: k * stride + r (> 2**20 rows)
_DEFAULT_STAGE_HINT = (
    "préciser un stade par défaut avec l'option --stade-par-defaut (ou default_stage=… dans l'API)"
)


# --------------------------------------------------------------------------------------------
# text normalisation
# --------------------------------------------------------------------------------------------
def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return decomposed.encode("ascii", "ignore").decode("ascii").lower()


@functools.lru_cache(maxsize=65_536)
def _compact(text: str) -> str:
    return _NON_ALNUM.sub("", _ascii(text))


@functools.lru_cache(maxsize=262_144)
def _name_key(text: str) -> str:
    """Loose key of a place name: case, accents, punctuation, articles, St/Ste, ordinals."""
    tokens = [t for t in _NON_ALNUM.split(_ascii(text)) if t]
    if len(tokens) > 1 and tokens[0] in _ARTICLES:
        tokens = tokens[1:]
    elif len(tokens) > 1 and tokens[-1] in _ARTICLES and "(" in text:  # "Tholonet (Le)"
        tokens = tokens[:-1]
    out = []
    for token in tokens:
        if token in _ARRONDISSEMENT_WORDS:
            continue
        ordinal = _ORDINAL.fullmatch(token)
        out.append(str(int(ordinal.group(1))) if ordinal else _ABBREVIATIONS.get(token, token))
    return "".join(out)


@functools.lru_cache(maxsize=65_536)
def _accented_key(text: str) -> str:
    """Like :func:`_name_key` but accents matter (to part homonyms such as Vergné, Vergne)."""
    tokens = _WORD.findall(text.translate(_LIGATURES).lower())
    if len(tokens) > 1 and tokens[0] in _ARTICLES:
        tokens = tokens[1:]
    return "".join(_ABBREVIATIONS.get(t, t) for t in tokens if t not in _ARRONDISSEMENT_WORDS)


def printable(text: str) -> str:
    """``text`` without terminal control characters and escape sequences.

    Examples
    --------
    >>> printable("\x1b[31mCPTS\x07 A\x9b")
    'CPTS A'
    """
    return _TERMINAL.sub("", text)


def registry_error(
    path: Path,
    problems: Sequence[tuple[int | str | None, str, str]],
) -> RegistryError:
    """:class:`RegistryError` whose values and messages (names from the file) are printable."""
    return RegistryError(path, [(line, printable(v), printable(m)) for line, v, m in problems])


def place(line: int, sheets: list[str]) -> str:
    """How a message names a line: "ligne 5", or "feuille « 29 », ligne 5" (several sheets).

    Examples
    --------
    >>> place(5, []), place(2 * _SHEET_STRIDE + 5, ["A", "B", "29"])
    ('ligne 5', 'feuille « 29 », ligne 5')
    """
    if not sheets:
        return f"ligne {line}"
    return f"feuille « {sheets[line // _SHEET_STRIDE]} », ligne {line % _SHEET_STRIDE}"


def with_sheets(frame: pd.DataFrame, sheets: list[str]) -> pd.DataFrame:
    """``ligne`` as each sheet's row number and a ``feuille`` column.

    When several sheets were read; ``frame`` unchanged otherwise.
    """
    if not sheets:
        return frame
    out = frame.copy()
    lines = out["ligne"].to_numpy()
    out.insert(0, "feuille", [sheets[k] for k in lines // _SHEET_STRIDE])
    out["ligne"] = lines % _SHEET_STRIDE
    return out


class _Collector:
    """Anomalies (ligne, colonne, valeur, action) and a kind to summarise them in the log."""

    def __init__(self, sheets: list[str]) -> None:
        self.rows: list[tuple[int, str, str, str]] = []
        self.kinds: list[str] = []
        self.sheets = sheets

    def place(self, line: int) -> str:
        """How messages name a line (with its sheet when several were read)."""
        return place(line, self.sheets)

    def add(self, line: int, column: str, value: str, action: str, kind: str) -> None:
        self.rows.append((line, printable(column), printable(value), printable(action)))
        self.kinds.append(kind)

    def frame(self) -> pd.DataFrame:
        """Return the anomalies sorted by line (file order)."""
        rows = sorted(self.rows, key=lambda r: r[0])
        frame = pd.DataFrame(rows, columns=["ligne", "colonne", "valeur", "action"])
        frame = frame.astype({"ligne": "int64", "colonne": str, "valeur": str, "action": str})
        return with_sheets(frame, self.sheets)

    def log(self, path: Path) -> None:
        by_kind: dict[str, list[int]] = defaultdict(list)
        for kind, (line, *_) in zip(self.kinds, self.rows, strict=True):
            by_kind[kind].append(line)
        if self.rows:
            log.warning(
                "%s : %s",
                path.name,
                _plural(len(self.rows), "anomalie corrigée", "anomalies corrigées"),
            )
        for kind, lines in by_kind.items():
            distinct = sorted(set(lines))
            more = "…" if len(distinct) > 10 else ""
            if self.sheets:
                shown = ", ".join(map(self.place, distinct[:10]))
                where = ""
            else:
                shown = ", ".join(map(str, distinct[:10]))
                where = "ligne " if len(distinct) == 1 else "lignes "
            log.warning("%s : %s (%d ; %s%s%s)", path.name, kind, len(lines), where, shown, more)


def _plural(n: int, one: str, many: str) -> str:
    """``1 anomalie``, ``2 anomalies``."""
    return f"{n} {one if n == 1 else many}"


class _Body:
    """Column-wise view of the registry body (header excluded) and what parsing finds in it.

    ``problems`` are the offending lines (they make :class:`RegistryError`), ``notes`` the
    corrections applied, ``cpts`` the CPTS seen (``nom``, ``stages``, dates).
    """

    def __init__(
        self,
        header: list[str],
        columns: dict[str, list[int]],
        rows: list[list[str]],
        lines: list[int],
        default: str | None,
        default_wording: str | None,
        sheets: list[str],
    ) -> None:
        self.header = header
        self.first = {role: positions[0] for role, positions in columns.items()}
        self.code_positions = [p for role in _CODE_ROLES for p in columns.get(role, [])]
        self.default = default
        self.default_wording = default_wording or ""
        self.problems: list[tuple[int | None, str, str]] = []
        self.sheets = sheets
        self.notes = _Collector(sheets)
        self.cpts: dict[str, dict[str, Any]] = {}
        # only the recognised columns are read (a header may run to column XFD)
        n_cols = max((p for positions in columns.values() for p in positions), default=-1) + 1
        self.cols = list(zip_longest(*rows, fillvalue=""))[:n_cols]
        self.cols += [("",) * len(rows)] * (n_cols - len(self.cols) + 1)  # absent roles read -1
        self.lines = lines

    def label(self, cpts_id: str) -> str:
        """How messages name a CPTS: "CPTS Rennes (C1)" once its name is read, else "CPTS C1".

        When ids are names (no id column), the name alone ("CPTS A").
        """
        if "cpts_id" not in self.first and _compact(cpts_id).startswith("cpts"):
            return cpts_id
        name = str(self.cpts.get(cpts_id, {}).get("nom") or "")
        if name and name != cpts_id:  # a person reads the name; the id tells homonyms apart
            named = name if _compact(name).startswith("cpts") else f"CPTS {name}"
            return f"{named} ({cpts_id})"
        return f"CPTS {cpts_id}"

    def place(self, line: int) -> str:
        """How messages name a line (with its sheet when several were read)."""
        return place(line, self.sheets)

    def header_of(self, role: str) -> str:
        return self.header[self.first[role]] if role in self.first else ""

    def col(self, role: str) -> tuple[str, ...]:
        # the last column is the padding: all "" (read for absent roles)
        return self.cols[self.first.get(role, -1)]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (restored as it was after).

    Parsing a registry allocates a million small objects (rows, cells, keys), none in a cycle:
    each few hundred allocations would otherwise start a collection that scans the whole heap,
    pandas' and NumPy's modules included — a tenth of a first-sight answer.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
