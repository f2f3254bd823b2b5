"""Writing tables and folders safely: CSV on stdout, pretty tables, files written atomically.

Files are written to a temp file then renamed, folders built aside and swapped in, text
cleaned for terminals and spreadsheets. The pretty tables use the short column titles of
``config/titres_colonnes.csv`` and the French formats of :mod:`couverture._format`; they fit
the terminal (120 columns when not a terminal).
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import logging
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from couverture import _format
from couverture._errors import ArgumentError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

TABLE_FORMATS = ("tableau", "csv", "xlsx")
GEO_FORMATS = ("geojson", "gpkg")
FILE_ONLY = ("xlsx", "gpkg")


# ------------------------------------------------------------------------------------------------
# text shown in a terminal or a spreadsheet
# ------------------------------------------------------------------------------------------------
# ANSI escape sequences (CSI ``ESC [ … letter`` and OSC ``ESC ] … BEL|ESC \``, e.g. a title
# change or a hyperlink), then every other C0/C1 control character and the bidirectional
# overrides that reorder what is displayed
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x9b[0-?]*[ -/]*[@-~]"
)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_NEWLINE = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def printable(text: object, *, newlines: bool = False) -> str:
    """Return ``text`` without terminal escape sequences nor control characters.

    Everything the CLI prints that may come from a user's file (table cells, error and warning
    messages) goes through here: a registry name cannot move the cursor, retitle the window,
    hide text or reorder it. Tabs become spaces; line breaks are kept only when ``newlines``
    (multi-line error messages).

    Examples
    --------
    >>> printable("CPTS \\x1b[31mRouge\\x1b[0m\\tNord")
    'CPTS Rouge Nord'
    """
    out = _ESCAPES.sub("", str(text)).replace("\t", " ")
    return (_CONTROLS_BUT_NEWLINE if newlines else _CONTROLS).sub("", out)


# a cell starting with one of these is a formula for Excel or LibreOffice (OWASP CSV injection)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Return a text ``value`` that a spreadsheet would run as a formula prefixed with ``'``.

    Only strings change: numbers (negative ones too) stay numbers.

    Examples
    --------
    >>> neutralise("=2+3"), neutralise(-3), neutralise("CPTS Nord")
    ("'=2+3", -3, 'CPTS Nord')
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with its text cells neutralised (:func:`neutralise`).

    For a CSV file meant for a spreadsheet.
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype.kind in "OSU" or str(out[col].dtype) in ("string", "str"):
            out[col] = out[col].map(neutralise)
    return out


def protect_sheet(ws: Any) -> None:
    """Make every text cell of an openpyxl sheet that looks like a formula plain text.

    openpyxl stores a string starting with ``=`` as a formula; the cell is written back as
    text, with Excel's « quote prefix » so that editing it does not turn it into a formula
    either (strings starting with ``+``, ``-``, ``@``, tab or CR get the prefix too). The value
    itself stays exact.
    """
    for row in ws.iter_rows():
        for cell in row:
            protect_cell(cell)


def protect_cell(cell: Any) -> None:
    """Make an openpyxl cell whose text looks like a formula plain text (:func:`protect_sheet`)."""
    if isinstance(cell.value, str) and cell.value.startswith(FORMULA_PREFIXES):
        cell.data_type = "s"
        cell.quotePrefix = True


# ------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------
def _special(path: Path) -> bool:
    """Tell whether ``path`` (followed through symlinks) is a terminal, device or pipe."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def output_target(path: Path) -> Path:
    """Return the file that writing to ``path`` must replace.

    A symlink is followed (its target is replaced, never the link itself); anything but a
    regular file, a terminal, a device or a pipe is refused.
    """
    path = Path(path)
    if _special(path):
        return path
    real = Path(os.path.realpath(path)) if path.is_symlink() else path
    if real.exists() and not real.is_file():
        raise ArgumentError(f"--sortie {path} : ce n'est pas un fichier ordinaire")
    return real


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path for ``path``'s content; put it in place on success only.

    A regular file is replaced atomically (temporary file next to it, then rename; a symlink's
    target is replaced, the link stays). A terminal, device or pipe (``/dev/stdout``, a FIFO)
    is written through once the content is complete. The temporary name keeps the real
    extension (GDAL and openpyxl choose formats by it).
    """
    path = Path(path)
    if _special(path):
        fd, tmp = tempfile.mkstemp(prefix="couverture-", suffix=f"-{path.name}")
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            with tmp_path.open("rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
        finally:
            tmp_path.unlink(missing_ok=True)
        return
    path = output_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".tmp-{os.getpid()}-", suffix=f"-{path.name}"
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except OSError as exc:
        # a full disk while writing: name the file asked for, not the temporary one
        if exc.errno is not None and exc.filename in (None, str(tmp_path), tmp_path):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


_TEMPORARY = re.compile(r"^\.tmp-(?P<pid>\d+)-[A-Za-z0-9_]+-(?P<name>.+)$")
# before the process id was in the name: mkstemp's 8 characters only; removed once old
_OLD_TEMPORARY = re.compile(r"^\.tmp-[A-Za-z0-9_]{8}-(?P<name>.+)$")
_OLD_TEMPORARY_AGE_S = 24 * 3600


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files of :func:`atomic_path` for ``path`` left by a dead process.

    A process killed while writing (``kill -9``, a power cut) leaves ``.tmp-<pid>-…-<name>``
    beside ``path``; the next write of ``path`` removes those whose process is gone (never a
    running writer's), and those named the older way (``.tmp-XXXXXXXX-<name>``, no process
    id) once a day old. Returns the files removed.
    """
    removed: list[Path] = []
    try:
        candidates = list(Path(path).parent.glob(f".tmp-*-{glob.escape(Path(path).name)}"))
    except OSError:
        return removed
    for candidate in candidates:
        if not _stale(candidate, Path(path).name):
            continue
        try:
            candidate.unlink()
        except OSError:
            continue
        removed.append(candidate)
        _log.info("fichier temporaire d'une écriture interrompue supprimé : %s", candidate)
    return removed


def _stale(candidate: Path, name: str) -> bool:
    """Whether ``candidate`` is a temporary file of ``name`` whose writer is gone.

    Its process is dead; or, named the older way (no process id), it is a day old.
    """
    import time

    match = _TEMPORARY.match(candidate.name)
    if match is not None and match.group("name") == name:
        return not process_alive(int(match.group("pid"))) and candidate.is_file()
    old = _OLD_TEMPORARY.match(candidate.name)
    if old is None or old.group("name") != name:
        return False
    try:
        age = time.time() - candidate.stat().st_mtime
    except OSError:
        return False
    return age > _OLD_TEMPORARY_AGE_S and candidate.is_file()


def atomic_write_text(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_csv(
    frame: pd.DataFrame,
    target: IO[str] | Path,
    *,
    sep: str = ",",
    decimal: str = ".",
    bom: bool = False,
    line_end: str = "\n",
    titles: bool = False,
    words: bool = False,
    neutralised: bool = False,
) -> None:
    """Write ``frame`` as CSV to a stream, or to a file atomically: the one CSV writer.

    The defaults are the machine CSV (``--format csv``): ``,`` separator, ``.`` decimals,
    UTF-8 without BOM, ``\\n`` line ends, machine column names and values.

    Parameters
    ----------
    frame
        The table (its index is not written).
    target
        An open text stream (stdout) or the path of the file to write (:func:`atomic_path`).
    sep, decimal
        Field separator and decimal mark (``;`` and ``,`` for a French spreadsheet).
    bom
        Start with a UTF-8 byte order mark (Excel then reads the accents right).
    line_end
        ``\\r\\n`` for a file opened on Windows.
    titles
        French column titles (:func:`titled`).
    words
        Values in words: stages, options, kinds of overlap (:func:`worded`).
    neutralised
        Text a spreadsheet would run as a formula is prefixed with ``'`` (:func:`neutralise`).

    Examples
    --------
    >>> import pandas as pd
    >>> buffer = io.StringIO()
    >>> frame = pd.DataFrame({"stade": ["aci"], "taux_aci": [12.5], "nom": ["=1+1"]})
    >>> write_csv(frame, buffer, sep=";", decimal=",", titles=True, words=True, neutralised=True)
    >>> print(buffer.getvalue())
    Stade;Taux de couverture (ACI, %);Nom
    ACI signé;12,5;'=1+1
    <BLANKLINE>
    """
    if words:
        frame = worded(frame)
    if titles:
        frame = titled(frame)
    if neutralised:
        frame = neutralise_frame(frame)
    options: dict[str, Any] = {"sep": sep, "decimal": decimal, "lineterminator": line_end}
    if not isinstance(target, Path):
        if bom:
            target.write("\ufeff")
        frame.to_csv(target, index=False, **options)
        return
    encoding = "utf-8-sig" if bom else "utf-8"
    with atomic_path(target) as tmp, tmp.open("w", encoding=encoding, newline="") as fh:
        frame.to_csv(fh, index=False, **options)


# readable values for the human tables (CSV keeps the codes); stages: their short label
PRETTY_VALUES = {
    "type": {"partage": "commune partagée", "chevauchement": "chevauchement"},
    "option": {"creation": "création", "rattachement_temporaire": "rattachement temporaire"},
}
# text columns of figures, aligned as numbers
RIGHT_ALIGNED = frozenset({"taille", "financement_max"})
# identifiers are never cut either
IDENTIFIERS = frozenset({"code", "zone_id", "cpts_id", "departement", "region", "epci", "mois"})
# beyond this, a table is for a file, not a terminal
MAX_PRETTY_ROWS = 200
# width of a table that does not go to a terminal (pipe, file, CI log)
DEFAULT_WIDTH = 120
# text columns are never cut narrower than this (numbers are never cut)
MIN_TEXT_WIDTH = 8
ELLIPSIS = "…"
# width of a table written to a file: as wide as it needs
_UNLIMITED = 100_000


def terminal_width() -> int:
    """Columns of the terminal on stdout, :data:`DEFAULT_WIDTH` when stdout is not one."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return DEFAULT_WIDTH


def cell_text(value: object) -> str:
    """Text of one cell of a human table: French numbers, nothing for a missing value.

    Examples
    --------
    >>> cell_text(67145), cell_text(98.5), cell_text(None), cell_text("ZB-35")
    ('67\u202f145', '98,50', '', 'ZB-35')
    """
    if isinstance(value, str):
        return value
    if _format.is_missing(value):
        return ""
    if isinstance(value, bool) or getattr(value, "dtype", None) == "bool":
        return "oui" if value else "non"
    if isinstance(value, float):
        return _format.number(value, decimals=2)
    if isinstance(value, int) or hasattr(value, "__index__"):
        return _format.integer(value)
    return str(value)


def shorten(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` terminal cells, ending with « … » when cut.

    Examples
    --------
    >>> shorten("recommandée : création", 12)
    'recommandée…'
    """
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    return set_cell_size(text, width - 1) + ELLIPSIS


def _columns_that_fit(
    headers: list[str], cells_width: list[int], figures: list[bool], width: int
) -> int:
    """How many columns, from the left, fit in ``width`` at their narrowest.

    A figure keeps its whole width (and its header's longest word), a text can shrink to
    :data:`MIN_TEXT_WIDTH`; each column costs three more cells (padding and border). At least
    two columns are kept.

    Examples
    --------
    >>> _columns_that_fit(["Code", "Nom", "Population"], [2, 30, 9], [False, False, True], 80)
    3
    >>> _columns_that_fit(["Code", "Nom", "Population"], [2, 30, 9], [False, False, True], 25)
    2
    """
    from rich.cells import cell_len

    used, shown = 1, 0
    for header, cells, figure in zip(headers, cells_width, figures, strict=True):
        words = max(map(cell_len, header.split()), default=1)
        narrowest = max(cells, words) if figure else min(max(cells, 1), MIN_TEXT_WIDTH)
        used += narrowest + 3
        if used > width and shown >= 2:
            break
        shown += 1
    return shown


def fit_widths(natural: list[int], cut: list[bool], available: int) -> list[int]:
    """Column widths summing to at most ``available``.

    The ``cut`` columns (text) share what the others leave, the widest first (the widths of the
    others are kept whole).

    Examples
    --------
    >>> fit_widths([5, 40, 10, 80], [False, True, False, True], 60)
    [5, 23, 10, 22]
    """
    fixed = sum(w for w, c in zip(natural, cut, strict=True) if not c)
    flexible = sorted(w for w, c in zip(natural, cut, strict=True) if c)
    budget = available - fixed
    if not flexible or sum(flexible) <= budget:
        return list(natural)
    # largest cap such that the cut columns fit: columns narrower than the cap keep their width
    cap, left = MIN_TEXT_WIDTH, budget
    for i, w in enumerate(flexible):
        share = left // (len(flexible) - i)
        if w > share:
            cap = max(share, MIN_TEXT_WIDTH)
            break
        left -= w
    widths = [min(w, cap) if c else w for w, c in zip(natural, cut, strict=True)]
    # hand out the cells lost to rounding, leftmost cut column first
    spare = available - sum(widths)
    for i, (w, c) in enumerate(zip(natural, cut, strict=True)):
        if c and spare > 0 and widths[i] < w:
            extra = min(spare, w - widths[i])
            widths[i] += extra
            spare -= extra
    return widths


def pretty_columns(
    frame: pd.DataFrame, *, limit: int | None = MAX_PRETTY_ROWS
) -> tuple[list[str], list[list[str]], list[bool]]:
    """Short French titles, the cell texts of each column.

    (first ``limit`` rows) and whether each column holds figures (numbers, identifiers, or texts
    of figures such as ``0 → 287 000``), which are never cut.
    """
    from couverture._config import column_titles, stages

    values = {**PRETTY_VALUES, "stade": {s.code: s.short for s in stages()}}
    titles = column_titles("court")
    headers, columns, figures = [], [], []
    for col in frame.columns:
        labels = values.get(str(col), {})
        cells = [
            cell_text(labels.get(v, v) if labels else v)
            for v in (frame[col] if limit is None else frame[col].head(limit))
        ]
        headers.append(titles.get(str(col), str(col)))
        columns.append(cells)
        figures.append(frame[col].dtype.kind in "iuf" or col in IDENTIFIERS or col in RIGHT_ALIGNED)
    return headers, columns, figures


def write_pretty(
    frame: pd.DataFrame, *, title: str, caption: str, stream: IO[str] | None = None
) -> None:
    """Print a readable table on stdout, as wide as the terminal (:func:`terminal_width`).

    Or whole into ``stream`` (a ``.txt`` file: nothing is cut).

    Figures are in French format and never cut; when the table is too wide, the longest text
    cells are cut with « … » (the CSV and XLSX outputs keep the full text).
    """
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    headers, columns, figures = pretty_columns(
        clean_frame(frame), limit=None if stream else MAX_PRETTY_ROWS
    )
    headers = [printable(h) for h in headers]
    width = terminal_width() if stream is None else _UNLIMITED
    cells_width = [max([1, *map(cell_len, cells)]) for cells in columns]
    # a narrow terminal: the last columns are left out rather than figures cut or folded
    shown = _columns_that_fit(headers, cells_width, figures, width)
    omitted = headers[shown:]
    headers, columns, figures = headers[:shown], columns[:shown], figures[:shown]
    cells_width, names = cells_width[:shown], list(frame.columns)[:shown]
    # a column costs its content, one cell of padding each side and one border
    available = width - 3 * len(headers) - 1
    widths = [max(w, cell_len(h)) for w, h in zip(cells_width, headers, strict=True)]
    if sum(widths) > available:
        # too wide: the headers of figures wrap between words, long texts are cut
        widths = [
            max(w, *map(cell_len, h.split())) if f else full
            for w, h, f, full in zip(cells_width, headers, figures, widths, strict=True)
        ]
        widths = fit_widths(widths, [not f for f in figures], available)
    table = Table(title=Text(printable(title)), show_lines=False)
    for col, header, w in zip(names, headers, widths, strict=True):
        right = frame[col].dtype.kind in "iuf" or col in RIGHT_ALIGNED
        table.add_column(header, justify="right" if right else "left", width=w)
    for row in zip(*columns, strict=True):
        table.add_row(*(Text(shorten(cell, w)) for cell, w in zip(row, widths, strict=True)))
    if stream is None and len(frame) > MAX_PRETTY_ROWS:
        hidden = _format.plural(
            len(frame) - MAX_PRETTY_ROWS,
            "ligne de plus non affichée",
            "lignes de plus non affichées",
        )
        caption = (
            f"{caption}\n… {hidden} : --format csv ou --sortie FICHIER pour le tableau complet"
        )
    if omitted:
        caption = (
            f"{caption}\n… colonnes non affichées sur {width} caractères : "
            f"{', '.join(omitted)} (terminal plus large, --format csv ou --sortie FICHIER)"
        )
    table.caption = Text(printable(caption, newlines=True))
    Console(width=width, file=stream).print(table)


def clean_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with its text cells passed through :func:`printable`."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype.kind == "O" or str(out[col].dtype) in ("string", "str"):
            out[col] = out[col].map(lambda v: printable(v) if isinstance(v, str) else v)
    return out


def titled(frame: pd.DataFrame, *, kind: str = "titre") -> pd.DataFrame:
    """Return ``frame`` with its columns renamed to their French titles.

    The one titles table of every document a person reads (``config/titres_colonnes.csv``,
    :func:`couverture._config.column_titles`): ``titre`` for workbooks and files, ``court``
    for terminal tables, ``page`` for HTML. Machine keys stay only in ``--format csv`` and
    ``geojson``. A column without a title keeps its name.

    Examples
    --------
    >>> import pandas as pd
    >>> list(titled(pd.DataFrame(columns=["zone_id", "population", "x"])).columns)
    ['Zone blanche (référence)', 'Population', 'x']
    """
    from couverture._config import column_titles

    titles = column_titles(kind)
    return frame.rename(columns=lambda c: titles.get(str(c), c))


def worded(frame: pd.DataFrame, *, short: bool = False, cpts: bool = False) -> pd.DataFrame:
    """Return ``frame`` with its machine values in words: stages, options, kinds of overlap.

    ``stade`` codes become their label (``short``: the short one, :func:`couverture._config.stage`),
    ``option`` and ``type`` keys their words (:data:`PRETTY_VALUES`). For every document a
    person reads; machine keys stay only in ``--format csv`` and ``geojson``. ``cpts``: one
    row per CPTS, a missing stage is a project before its lettre d'intention.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"stade": ["aci", "projet_sante"], "option": ["creation", "x"]})
    >>> worded(frame).to_dict("list")
    {'stade': ['ACI signé', 'Projet de santé validé'], 'option': ['création', 'x']}
    """
    from couverture._config import pre_stage, stages

    stage_words = {s.code: s.short if short else s.label for s in (pre_stage(), *stages())}
    values = {**PRETTY_VALUES, "stade": stage_words}
    out = frame.copy()
    if cpts and "stade" in out.columns:
        out["stade"] = out["stade"].astype(object).where(out["stade"].notna(), pre_stage().code)
    for col, words in values.items():
        if col in out.columns and out[col].dtype.kind not in "iufb":
            out[col] = out[col].map(lambda v, w=words: w.get(v, v) if isinstance(v, str) else v)
    return out


@dataclass(frozen=True)
class Check:
    """What a person may type in a column of a :class:`Table` (a spreadsheet data validation).

    Attributes
    ----------
    column
        The column's name in the table's frame.
    kind
        ``list`` (a drop-down), ``date`` or ``decimal``.
    formula
        The list (``"a,b,c"``, see :meth:`choices`, or a range such as
        ``listes!$D$2:$D$9``) or the bound of a date or a number.
    operator
        How a date or a number compares with ``formula`` (``greaterThan``…).
    error_title, error
        The message of a refused value; without ``error`` any value is accepted (a list then
        only suggests).
    """

    column: str
    kind: str
    formula: str
    operator: str | None = None
    error_title: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        """Refuse a kind a spreadsheet would not know (a bug: the workbook would be damaged)."""
        if self.kind not in ("list", "date", "decimal"):
            raise ValueError(f"unknown kind of check: {self.kind!r}")

    @classmethod
    def choices(cls, column: str, values: Sequence[str], *, error_title: str) -> Check:
        """Return a closed list written in the rule; another value is refused, the list named."""
        return cls(
            column,
            "list",
            '"' + ",".join(values) + '"',
            error_title=error_title,
            error="Choisir une valeur de la liste : " + ", ".join(values),
        )


@dataclass(frozen=True)
class Table:
    """A sheet written cell by cell: a header row, then one row per record of ``frame``.

    For the workbooks a person fills in and sends back (plan d'action, remontée); a plain
    frame given to :func:`write_xlsx` is written by pandas instead.

    Attributes
    ----------
    frame
        The table; missing values are empty cells, text that looks like a formula stays text.
    titles
        Header of each column (by name; a column without one shows its name).
    widths
        Width of each column (by name), else ``default_width``.
    freeze
        The first cell that scrolls (``B2``: the header row and the first column stay in view).
    fills
        Colour (``RRGGBB``) of the header cell of each column named.
    checks
        Data validations (:class:`Check`), in order.
    formats
        Number format (``DD/MM/YYYY``…) of the cells of each column named.
    room
        Empty rows below the table that the checks and formats cover too (rows a person adds).
    hidden
        Whether the sheet is hidden.
    """

    frame: pd.DataFrame
    titles: Mapping[str, str] = field(default_factory=dict)
    widths: Mapping[str, float] = field(default_factory=dict)
    default_width: float = 14
    freeze: str | None = "B2"
    fills: Mapping[str, str] = field(default_factory=dict)
    checks: Sequence[Check] = ()
    formats: Mapping[str, str] = field(default_factory=dict)
    room: int = 0
    hidden: bool = False


@dataclass(frozen=True)
class Page:
    """A sheet of free rows written as they are (a « lisez-moi », lists, a sheet copied back).

    Attributes
    ----------
    rows
        ``rows[i][j]`` is the cell of row ``i + 1``, column ``j + 1`` (``None``: left empty).
    widths
        Width of the columns named by letter (``A``…).
    title_size
        Font size of cell ``A1`` written in bold (``None``: as the other cells).
    hidden
        Whether the sheet is hidden.
    """

    rows: Sequence[Sequence[Any]]
    widths: Mapping[str, float] = field(default_factory=dict)
    title_size: float | None = None
    hidden: bool = False


def write_xlsx(
    sheets: Mapping[str, pd.DataFrame | Table | Page],
    path: Path | str,
    *,
    freeze_header: bool = False,
    readable_widths: bool = False,
    float_format: str | None = None,
    words: bool = False,
) -> Path:
    """Write one sheet per table (atomically): the one spreadsheet writer of the package.

    Text that looks like a formula stays text (:func:`protect_sheet`), in every sheet.

    Parameters
    ----------
    sheets
        Sheets by name (cut to Excel's 31 characters), in order. A frame is written by pandas
        with French column titles (:func:`titled`) and the options below; a :class:`Table`
        (titles, widths, header colours, drop-downs, date and number checks) or a
        :class:`Page` (free rows) cell by cell with its own options.
    path
        The workbook to write.
    freeze_header
        Keep the title row of the frames in view when scrolling.
    readable_widths
        Size each column of the frames to its longest text (title included), between 8 and 60
        characters.
    float_format
        Excel number format of the frames' columns of floats (e.g. ``0.00``); ``None``: Excel's
        own.
    words
        Values in words in the frames: stages, options, kinds of overlap (:func:`worded`).
    """
    # pandas and openpyxl are imported here, not at the top: this module is on the path of a
    # cached CLI answer, which must start without them
    import pandas as pd
    from openpyxl.utils import get_column_letter

    # built in memory, then written: a full disk fails the one write (a workbook saved
    # straight to disk leaves a half-closed archive that complains again at exit)
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, sheet in sheets.items():
            if isinstance(sheet, Table | Page):
                ws = writer.book.create_sheet(name[:31])
                if isinstance(sheet, Table):
                    _write_table(ws, sheet)
                else:
                    _write_page(ws, sheet)
                if sheet.hidden:
                    ws.sheet_state = "hidden"
                continue
            frame = worded(sheet) if words else sheet
            out = titled(frame)
            freeze = (1, 0) if freeze_header else None
            out.to_excel(writer, sheet_name=name[:31], index=False, freeze_panes=freeze)
            ws = writer.sheets[name[:31]]
            protect_sheet(ws)  # a CPTS named « =… » stays text, never a formula
            for i, col in enumerate(out.columns, start=1):
                if readable_widths:
                    # (a text column of missing values only has no length: NA, not 0)
                    values = out[col].astype(str).str.len().fillna(0)
                    width = max(len(str(col)), int(values.max()) if len(values) else 0)
                    ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
                if float_format and frame[frame.columns[i - 1]].dtype.kind == "f":
                    for cell in ws.iter_cols(min_col=i, max_col=i, min_row=2):
                        for c in cell:
                            c.number_format = float_format
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def _cell_value(value: Any) -> Any:
    """Return a frame's value as a cell takes it: ``None`` if missing, numpy scalars unwrapped."""
    v: Any = None if not isinstance(value, str) and _format.is_missing(value) else value
    if hasattr(v, "item"):
        v = v.item()  # numpy scalar
    return v


def _write_table(ws: Any, table: Table) -> None:
    """Write a :class:`Table` into an empty openpyxl sheet."""
    # (lazy: see write_xlsx)
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    columns = [str(c) for c in table.frame.columns]
    letter = {name: get_column_letter(i) for i, name in enumerate(columns, start=1)}
    for c, name in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=c, value=table.titles.get(name, name))
        protect_cell(cell)
        cell.font = Font(bold=True)
        if name in table.fills:
            cell.fill = PatternFill("solid", fgColor=table.fills[name])
    for r, row in enumerate(table.frame.itertuples(index=False), start=2):
        for c, value in enumerate(row, start=1):
            protect_cell(ws.cell(row=r, column=c, value=_cell_value(value)))
    for name in columns:
        ws.column_dimensions[letter[name]].width = table.widths.get(name, table.default_width)
    if table.freeze is not None:
        ws.freeze_panes = table.freeze
    last = max(len(table.frame) + 1, 2) + table.room
    for check in table.checks:
        rule = DataValidation(
            type=check.kind,
            formula1=check.formula,
            operator=check.operator,
            allow_blank=True,
            showErrorMessage=check.error is not None,
            errorTitle=check.error_title,
            error=check.error,
        )
        rule.add(f"{letter[check.column]}2:{letter[check.column]}{last}")
        ws.add_data_validation(rule)
    for name, number_format in table.formats.items():
        for r in range(2, last + 1):
            ws[f"{letter[name]}{r}"].number_format = number_format


def _write_page(ws: Any, page: Page) -> None:
    """Write a :class:`Page` into an empty openpyxl sheet."""
    from openpyxl.styles import Font  # (lazy: see write_xlsx)

    for r, row in enumerate(page.rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                protect_cell(ws.cell(row=r, column=c, value=value))
    for column, width in page.widths.items():
        ws.column_dimensions[column].width = width
    if page.title_size is not None:
        ws["A1"].font = Font(bold=True, size=page.title_size)


def save_workbook(book: Any, path: Path) -> None:
    """Save an openpyxl workbook at ``path`` atomically, built in memory first.

    A full disk or a quota then fails one plain write (an :class:`OSError` the CLI words in
    French), and no half-written archive is left to complain when the process exits.
    """
    buffer = io.BytesIO()
    book.save(buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def emit_table(
    frame: pd.DataFrame,
    *,
    fmt: str,
    output: Path | None,
    title: str,
    caption: str,
    sheet: str = "Données",
) -> None:
    """Write a table in ``fmt`` to ``output`` (atomically) or to stdout."""
    if fmt in FILE_ONLY and output is None:
        raise ArgumentError(
            f"le format {fmt} ne peut pas aller sur la sortie standard : --sortie FICHIER"
        )
    if fmt == "csv":
        write_csv(frame, sys.stdout if output is None else output)
    elif fmt == "xlsx":
        assert output is not None
        write_xlsx({sheet: frame}, output)
    elif fmt == "tableau":
        if output is None:
            write_pretty(frame, title=title, caption=caption)
        else:
            with atomic_path(output) as tmp, tmp.open("w", encoding="utf-8") as fh:
                write_pretty(frame, title=title, caption=caption, stream=fh)
    else:
        raise ArgumentError(f"format « {fmt} » non disponible pour cette commande")
    _written(output, len(frame))


def _written(output: Path | None, rows: int) -> None:
    """Say where a file went (the terminal shows nothing else of it)."""
    if output is not None:
        _log.info("fichier écrit : %s (%s)", output, _format.plural(rows, "ligne"))


def emit_geo(frame: gpd.GeoDataFrame, *, fmt: str, output: Path | None, layer: str) -> None:
    """Write a GeoDataFrame as GeoJSON (stdout allowed) or GeoPackage (file only)."""
    if fmt == "gpkg":
        if output is None:
            raise ArgumentError(
                "le format gpkg ne peut pas aller sur la sortie standard : --sortie FICHIER"
            )
        with atomic_path(output) as tmp:
            tmp.unlink()
            _write_gpkg(frame, tmp, layer=layer, shown=output)
    elif fmt == "geojson":
        text = frame.to_json(drop_id=True, ensure_ascii=False)
        if output is None:
            sys.stdout.write(text + "\n")
        else:
            atomic_write_text(output, text + "\n")
    else:
        raise ArgumentError(f"format « {fmt} » non disponible pour cette commande")
    _written(output, len(frame))


def _write_gpkg(frame: gpd.GeoDataFrame, tmp: Path, *, layer: str, shown: Path) -> None:
    """Write a GeoPackage; GDAL's failures (a full disk…) become an :class:`OSError` on ``shown``.

    pyogrio raises its own errors, not :class:`OSError`: the CLI would print a traceback.
    """
    import errno

    import pyogrio

    try:
        frame.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
    except RuntimeError as exc:  # pyogrio's errors are RuntimeErrors
        text = str(exc)
        full = any(w in text.lower() for w in ("no space", "disk", "too large", "quota"))
        ours = isinstance(exc, (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError))
        if not (ours or full or "i/o" in text.lower()):
            raise
        code = errno.ENOSPC if full else errno.EIO
        reason = (
            "disque plein ou quota atteint"
            if full
            else (
                "écriture du GeoPackage interrompue (disque plein, quota ou taille de fichier "
                f"limitée ?) ; GDAL : {printable(text)[:160]}"
            )
        )
        raise OSError(code, reason, str(shown)) from exc


# ------------------------------------------------------------------------------------------------
# folders built aside, then swapped in
# ------------------------------------------------------------------------------------------------
#: File inside a folder being built (and, until its run finishes, inside the folder swapped in)
#: naming the run: process id, random token and the caller's notes (JSON).
STAMP_NAME = ".couverture-dossier"
#: File of a folder swapped in listing what the run wrote there (JSON), so that the next run
#: replaces those and keeps the user's own files (see :meth:`FolderSwap.swap_in`).
MANIFEST_NAME = ".couverture-contenu"
_AUX = re.compile(
    r"^\.(?P<name>.+)\.couverture-(?P<role>neuf|ancien|rejete)-(?P<pid>\d+)-(?P<token>[0-9a-f]{12})$"
)


def process_alive(pid: int) -> bool:
    """Tell whether process ``pid`` runs (a pid that cannot exist counts as gone)."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill(pid, 0) would send Ctrl-C there
        import ctypes

        kernel = ctypes.windll.kernel32
        handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        kernel.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < 2**31
    return True


def _read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class FolderSwap:
    """A folder built aside, swapped in whole, the previous one kept aside until the end.

    The new folder is ``.<name>.couverture-neuf-<pid>-<token>`` next to the target and holds a
    stamp (:data:`STAMP_NAME`) naming this run; the previous folder waits as
    ``.<name>.couverture-ancien-<pid>-<token>`` until :meth:`finish`. The random token makes
    these names the run's own: :func:`recover_folders` touches a name only when a folder stamped
    with its token proves that a run of ``couverture`` created it.
    """

    def __init__(self, target: Path, *, ours: Callable[[str], bool] | None = None) -> None:
        self.target = Path(target)
        # the names this program writes there, for a folder written before manifests existed
        self.ours = ours
        self.pid = os.getpid()
        self.token = secrets.token_hex(6)
        self.new = self._aux("neuf")
        self.old = self._aux("ancien")
        self.swapped = False
        self.notes: dict[str, Any] = {}

    def _aux(self, role: str) -> Path:
        return self.target.with_name(
            f".{self.target.name}.couverture-{role}-{self.pid}-{self.token}"
        )

    def note(self, **notes: Any) -> None:
        """Record ``notes`` in the new folder's stamp (read back by a later recovery)."""
        self.notes.update(notes)
        stamp = {"pid": self.pid, "token": self.token, **self.notes}
        atomic_write_text(self.new / STAMP_NAME, json.dumps(stamp, default=str))

    def swap_in(self) -> None:
        """Put the new folder in place: the previous one goes aside, then the new one in.

        Only what this program wrote is replaced: the files of the previous folder it did not
        write (a ``cr.docx`` of the meeting, notes, a map saved under another name) are carried
        into the new one (hard links, else copies) before the swap, and the new folder lists
        what was written with each file's size and SHA-256 (:data:`MANIFEST_NAME`) so that the
        next run knows its own files from the user's — a file of the list saved over since
        (an annotated map, a fiche edited in place) is the user's too. A foreign file with the
        name of a file written now is refused (:class:`ArgumentError`), the previous folder
        left as it was.
        """
        written = sorted(
            p.relative_to(self.new).as_posix()
            for p in self.new.rglob("*")
            if (p.is_file() or p.is_symlink()) and p.name not in (STAMP_NAME, MANIFEST_NAME)
        )
        carried = self._carry_foreign(set(written)) if self.target.is_dir() else []
        # each file with its fingerprint: one a person saved over afterwards is theirs
        listing = {name: _fingerprint(self.new / name) for name in written}
        atomic_write_text(
            self.new / MANIFEST_NAME,
            json.dumps({"fichiers": listing}, ensure_ascii=False),
        )
        if carried:
            shown = ", ".join(carried[:8]) + (" …" if len(carried) > 8 else "")
            _log.info(
                "%s : %s gardé(s), non écrit(s) par couverture : %s",
                self.target,
                _format.plural(len(carried), "fichier"),
                shown,
            )
        if self.target.exists():
            os.rename(self.target, self.old)
        os.rename(self.new, self.target)
        self.swapped = True

    def _carry_foreign(self, written: set[str]) -> list[str]:
        """Link (or copy) into the new folder the files of the target this program did not write.

        Ours are those its manifest lists (a folder written before manifests existed: those
        written again now, and those ``ours`` recognises). Returns the relative paths carried.
        """
        listed = _manifest(self.target)
        carried = []
        for path in sorted(self.target.rglob("*")):
            rel = path.relative_to(self.target).as_posix()
            if path.name in (STAMP_NAME, MANIFEST_NAME) or path.name.startswith(".tmp-"):
                continue
            if path.is_dir() and not path.is_symlink():
                (self.new / rel).mkdir(parents=True, exist_ok=True)  # a folder of the user's
                continue
            changed = False
            if listed is not None and rel in listed:
                recorded = listed[rel]
                changed = recorded is not None and _fingerprint(path, like=recorded) != recorded
                if not changed:
                    continue  # ours: replaced by this run's file, or dropped
            if listed is None and (rel in written or (self.ours is not None and self.ours(rel))):
                continue
            dest = self.new / rel
            if dest.exists() or dest.is_symlink():
                if _same_file(path, dest):
                    continue  # carried by the caller already (the maps' .gitkeep)
                why = (
                    "a été modifié depuis que couverture l'a écrit"
                    if changed
                    else "n'a pas été écrit par couverture"
                )
                raise ArgumentError(
                    f"{self.target} : le fichier {rel} {why} et porte le nom d'un fichier à "
                    "écrire ; le renommer ou le déplacer (rien n'a été remplacé)"
                )
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, dest, follow_symlinks=False)
            except OSError:
                shutil.copy2(path, dest, follow_symlinks=False)
            carried.append(rel)
        return carried

    def finish(self) -> None:
        """Drop the previous folder, then the stamp: the swap is final."""
        shutil.rmtree(self.old, ignore_errors=True)
        (self.target / STAMP_NAME).unlink(missing_ok=True)

    def undo(self) -> None:
        """Put the previous folder back (or none, if there was none) and drop the new one."""
        rejected = self._aux("rejete")
        if self.swapped:
            os.rename(self.target, rejected)
            self.swapped = False
        if self.old.exists() and not self.target.exists():
            os.rename(self.old, self.target)
        shutil.rmtree(rejected, ignore_errors=True)
        shutil.rmtree(self.new, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(
    target: Path, *, ours: Callable[[str], bool] | None = None, **notes: Any
) -> Iterator[FolderSwap]:
    """Yield a :class:`FolderSwap` whose new folder is empty but for its stamp.

    ``ours`` tells the names (relative paths) this program writes in ``target``: used only for
    a folder written before manifests existed, whose stale files would otherwise be kept.

    The caller writes into ``swap.new`` and calls ``swap.swap_in()``, then whatever must
    follow the swap (a history commit). On success the swap is finished (the previous folder
    dropped); on any exception, ``KeyboardInterrupt`` included, the previous folder is put
    back. A symlinked target is followed: the folder it points to is replaced, not the link.
    """
    target = Path(target)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    swap = FolderSwap(target, ours=ours)
    swap.new.mkdir()
    try:
        swap.note(**notes)
        yield swap
    except BaseException:
        swap.undo()
        raise
    if swap.swapped:
        swap.finish()
    else:
        shutil.rmtree(swap.new, ignore_errors=True)


_RESTORED = "interruption précédente : dossier précédent remis en place : %s"
_log = logging.getLogger(__name__)


def _manifest(folder: Path) -> dict[str, list[Any] | None] | None:
    """Return the files a run wrote in ``folder`` and their fingerprints, None without a list.

    The fingerprint is ``[size, sha256]`` (:func:`_fingerprint`); ``None`` for a list written
    before fingerprints were recorded (a plain JSON list of names: those files count as ours).
    """
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, list):
        return {str(n): None for n in data}
    files = data.get("fichiers") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return None
    return {str(n): (f if isinstance(f, list) and len(f) == 2 else None) for n, f in files.items()}


def _fingerprint(path: Path, *, like: list[Any] | None = None) -> list[Any]:
    """Return ``[size, sha256]`` of a file (a symlink: of its link text).

    With ``like`` (a recorded fingerprint) of another size, the size alone answers: the file
    is not hashed.
    """
    import hashlib

    if path.is_symlink():
        data = os.readlink(path).encode("utf-8", "surrogateescape")
        return [len(data), hashlib.sha256(data).hexdigest()]
    size = path.stat().st_size
    if like is not None and like[0] != size:
        return [size, ""]
    with path.open("rb") as fh:
        return [size, hashlib.file_digest(fh, "sha256").hexdigest()]


def _same_file(a: Path, b: Path) -> bool:
    import filecmp

    try:
        return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


@contextlib.contextmanager
def new_folder(folder: Path) -> Iterator[Path]:
    """Create ``folder`` and its missing parents; on failure remove those still empty.

    A refused or failed command leaves no empty folder behind (``fiches/``, ``reports/``).
    """
    folder = Path(folder)
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for path in missing:  # the deepest first
            try:
                path.rmdir()
            except OSError:
                break
        raise


#: A run of :func:`staged_folder`: target name, process id, random token.
_RunKey = tuple[str, int, str]


def recover_folders(
    parent: Path, *, committed: Callable[[dict[str, Any]], bool] | None = None
) -> list[Path]:
    """Clean up what killed runs of :func:`staged_folder` left in ``parent``.

    Only names of the form ``.<name>.couverture-<role>-<pid>-<token>`` whose process is gone
    are looked at, and only when a folder stamped with the same pid and token (the new folder,
    or the target it was swapped into) proves they are this program's. A run killed before
    its swap leaves the previous folder in place; a run killed after it keeps the new folder
    when ``committed(stamp)`` says that what had to follow the swap was done (default: yes),
    else the previous folder is put back.

    Returns
    -------
    list of Path
        The targets whose previous folder was put back.
    """
    parent = Path(parent)
    if not parent.is_dir():
        return []
    restored = []
    for (name, pid, token), parts in sorted(_collect_runs(parent).items()):
        if process_alive(pid):
            continue
        target = _recover_run(parent / name, parts, pid=pid, token=token, committed=committed)
        if target is not None:
            restored.append(target)
    return restored


def _collect_runs(parent: Path) -> dict[_RunKey, dict[str, Path]]:
    """Group the leftovers of runs in ``parent`` by run, each as its folders by role."""
    runs: dict[_RunKey, dict[str, Path]] = {}
    for entry in parent.iterdir():
        m = _AUX.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            key = (m["name"], int(m["pid"]), m["token"])
            runs.setdefault(key, {})[m["role"]] = entry
    # a target swapped in by a killed run may have nothing left aside (first report of a month)
    for entry in parent.iterdir():
        if _AUX.match(entry.name):
            continue  # a new folder is stamped too, but it is not a target
        stamp = _read_stamp(entry) if entry.is_dir() and not entry.is_symlink() else None
        if stamp and isinstance(stamp.get("pid"), int) and isinstance(stamp.get("token"), str):
            runs.setdefault((entry.name, stamp["pid"], stamp["token"]), {})
    return runs


def _run_stamp(folder: Path, *, pid: int, token: str) -> dict[str, Any] | None:
    """Return the stamp of ``folder`` when the run ``pid``/``token`` wrote it, else None."""
    stamp = _read_stamp(folder)
    if stamp and stamp.get("pid") == pid and stamp.get("token") == token:
        return stamp
    return None


def _recover_run(
    target: Path,
    parts: dict[str, Path],
    *,
    pid: int,
    token: str,
    committed: Callable[[dict[str, Any]], bool] | None,
) -> Path | None:
    """Settle what one killed run left around ``target``.

    Returns
    -------
    Path or None
        ``target`` when its previous folder was put back (or the unfinished one removed).
    """
    swapped = None
    if target.is_dir() and not target.is_symlink():
        swapped = _run_stamp(target, pid=pid, token=token)
    stamped = {
        role: p
        for role, p in parts.items()
        if role != "ancien" and _run_stamp(p, pid=pid, token=token)
    }
    if swapped is None and not stamped:
        return None  # nothing proves these names are ours: leave them alone
    for folder in stamped.values():
        shutil.rmtree(folder, ignore_errors=True)
    old = parts.get("ancien")
    if swapped is not None:
        if committed is None or committed(swapped):
            _finish_swapped(target, old)
            return None
        _undo_swapped(target, old, pid=pid, token=token)
        return target
    if old is not None and not target.exists():
        os.rename(old, target)
        _log.warning(_RESTORED, target)
        return target
    return None


def _finish_swapped(target: Path, old: Path | None) -> None:
    """Keep the swapped-in ``target``: drop the previous folder, then the stamp."""
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    (target / STAMP_NAME).unlink(missing_ok=True)


def _undo_swapped(target: Path, old: Path | None, *, pid: int, token: str) -> None:
    """Put the previous folder back in place of the swapped-in ``target`` (or remove it)."""
    rejected = target.with_name(f".{target.name}.couverture-rejete-{pid}-{token}")
    os.rename(target, rejected)
    if old is not None:
        os.rename(old, target)
        _log.warning(_RESTORED, target)
    else:
        _log.warning("interruption précédente : dossier inachevé retiré : %s", target)
    shutil.rmtree(rejected, ignore_errors=True)


#: File left in the processed data folder while ``couverture donnees`` replaces its files; it
#: is removed once the store is rebuilt, so a killed build is never used as if it were whole.
BUILD_MARKER = ".donnees-en-cours"


def mark_building(directory: Path) -> None:
    """Mark the processed data in ``directory`` as being rebuilt (before a first file is replaced).

    :func:`couverture.store.build_store` removes the mark once the store is in place.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / BUILD_MARKER).write_text(f"{os.getpid()}\n", encoding="utf-8")
