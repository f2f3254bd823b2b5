"""Writing tables and folders safely: CSV on stdout, pretty tables, files written atomically.

Files are written to a temp file then renamed, folders built aside and swapped in, text
cleaned for terminals and spreadsheets. The pretty tables use the short column titles of
``config/titres_colonnes.csv`` and the French formats of :mod:`couverture._format`; they fit
the terminal (120 columns when not a terminal).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from couverture import _format
from couverture._errors import ArgumentError

if TYPE_CHECKING:
    import pandas as pd

TABLE_FORMATS = ("tableau", "csv", "xlsx")
GEO_FORMATS = ("geojson", "gpkg")
FILE_ONLY = ("xlsx", "gpkg")

_log = logging.getLogger(__name__)


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
    >>> import io
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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
