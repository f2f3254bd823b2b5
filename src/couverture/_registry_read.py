"""Registry bytes → rows: encodings, separators, Excel workbooks, the header and its columns.

Private to :mod:`couverture.registry`.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import math
import re
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from couverture._config import column_aliases
from couverture._input import InputError, Note, decode_text, read_input, shorten
from couverture._registry_common import (
    _CODE_ROLES,
    _DEFAULT_STAGE_HINT,
    _SHEET_STRIDE,
    _compact,
    log,
    printable,
    registry_error,
)
from couverture._validate import _registry_reason

# openpyxl is imported for a workbook registry only (see couverture._cli_commands).

_YEAR_SUFFIX = re.compile(r"(?:19|20)\d\d$")
_EXCEL_SEP = re.compile(r"\A[ \t]*sep=([^\r\n])[ \t]*\r?\n", re.IGNORECASE)
_HEADER_SCAN = 10  # title rows above the header: the header is among the first rows


def _decode(path: Path, data: bytes) -> tuple[str, list[Note]]:
    """Return the file's text (see :func:`couverture._input.decode_text`).

    Lines of another encoding than the rest are decoded on their own. Kept for the readers
    that call it; raises :class:`RegistryError`.
    """
    try:
        return decode_text(path, data, what="registre")
    except InputError as exc:
        raise registry_error(path, [(None, "", exc.reason)]) from exc


_shorten = shorten


def _csv_rows(path: Path, data: bytes) -> tuple[list[list[str]], list[int], list[Note]]:
    text, notes = _decode(path, data)
    start = 1
    excel_sep = _EXCEL_SEP.match(text)
    if excel_sep:  # Excel's "sep=;" first line: honour it, keep real line numbers
        sep = excel_sep.group(1)
        text = text[excel_sep.end() :]
        start = 2
    else:
        # title rows may precede the header: the separator is the one most used on a line
        head = text[: 1 << 16].splitlines()[:_HEADER_SCAN]  # not the whole file
        firsts = [line for line in head if line.strip()]
        sep = max(
            (",", ";", "\t", "|"), key=lambda s: max((line.count(s) for line in firsts), default=0)
        )
    offset = start - 1
    plain = _plain_rows(text, sep, offset)
    if plain is not None:
        return plain[0], plain[1], notes
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    rows: list[list[str]] = []
    lines: list[int] = []
    problems: list[tuple[int | None, str, str]] = []
    try:
        for record in reader:
            cells = list(map(str.strip, record))
            end = reader.line_num + offset
            if end > start and any("\n" in c or "\r" in c for c in cells):
                cells = _spanning(cells, sep, (start, end), problems, notes)
            if any(cells):
                rows.append(cells)
                lines.append(start)
            start = end + 1
    except csv.Error as exc:
        raise registry_error(path, [(start, "", f"CSV illisible ({exc})")]) from exc
    if problems:
        raise registry_error(path, problems)
    return rows, lines, notes


def _plain_rows(text: str, sep: str, offset: int) -> tuple[list[list[str]], list[int]] | None:
    """Rows and line numbers of a CSV without quotes, carriage returns or NUL bytes, else None.

    Such a file is split on its line breaks and separators exactly as :mod:`csv` reads it, a
    third faster; anything else (quoted cells, cells over several lines, Windows line breaks,
    a cell beyond the csv module's size limit) goes through :mod:`csv`.
    """
    if '"' in text or "\r" in text or "\0" in text:
        return None
    raw = text.split("\n")
    if max(map(len, raw), default=0) >= csv.field_size_limit():
        return None
    rows: list[list[str]] = []
    lines: list[int] = []
    for number, line in enumerate(raw, start=1 + offset):
        cells = list(map(str.strip, line.split(sep)))
        if any(cells):
            rows.append(cells)
            lines.append(number)
    return rows, lines


def _spanning(
    cells: list[str],
    sep: str,
    span: tuple[int, int],
    problems: list[tuple[int | None, str, str]],
    notes: list[Note],
) -> list[str]:
    """Return a record over several lines.

    A stray quote swallowing lines is an error (a field holding the separator or a quote); a
    cell written over two lines is joined.
    """
    start, end = span
    out = []
    for cell in cells:
        if "\n" not in cell and "\r" not in cell:
            out.append(cell)
            continue
        shown = " ".join(cell.split())
        if sep in cell or '"' in cell:
            problems.append(
                (
                    start,
                    _shorten(shown),
                    f"guillemet non fermé : les lignes {start} à {end} ont été lues comme une "
                    "seule ligne ; fermer, doubler ou retirer le guillemet",
                )
            )
        else:
            notes.append(
                (
                    start,
                    "",
                    shown,
                    "cellule écrite sur plusieurs lignes : lignes jointes",
                    "cellules sur plusieurs lignes",
                )
            )
        out.append(shown)
    return out


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "vrai" if value else "faux"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))  # Excel stores codes as numbers: 1001.0 -> "1001"
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _damaged_book_errors() -> tuple[type[Exception], ...]:
    """Return what openpyxl raises on a damaged workbook.

    All of it means "unreadable file" here.
    """
    from openpyxl.utils.exceptions import InvalidFileException

    # SyntaxError covers the XML parse errors; zlib.error a corrupt compressed member
    return (
        zipfile.BadZipFile,
        zlib.error,
        InvalidFileException,
        KeyError,
        ValueError,
        TypeError,
        IndexError,
        EOFError,
        OSError,
        SyntaxError,
    )


Layout = tuple[str, int, dict[str, list[int]]]  # a sheet read: title, header row, columns


@dataclass
class _Raw:
    """What reading the bytes gives.

    Rows and lines, the header's index among them, the sheets read when several (their lines:
    see :func:`place`), the anomalies of reading and the layout of each XLSX sheet read (to
    explain its empty cells).
    """

    rows: list[list[str]]
    lines: list[int]
    start: int = 0
    sheets: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    layouts: list[Layout] = field(default_factory=list)


@dataclass(frozen=True)
class _Sheet:
    title: str
    rows: list[list[str]]
    lines: list[int]
    header: int | None  # index of the recognised header among rows


def _sheet_rows(sheet: Any) -> tuple[list[list[str]], list[int]]:
    """Non-empty rows of a sheet (trailing empty cells cut) and their row numbers."""
    # the used range a file claims may be absurd (A1:XFD1048576): read the cells it has
    sheet.reset_dimensions()
    rows: list[list[str]] = []
    lines: list[int] = []
    for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), 1):
        if not values:
            continue
        cells = [_cell_text(v) for v in values]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            rows.append(cells)
            lines.append(number)
    return rows, lines


def _read_sheets(path: Path, data: bytes) -> list[_Sheet]:
    import openpyxl

    sheets: list[_Sheet] = []
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in book.worksheets:
                rows, lines = _sheet_rows(sheet)
                sheets.append(_Sheet(sheet.title, rows, lines, _find_header(rows)))
        finally:
            book.close()
    except _damaged_book_errors() as exc:
        if not data.startswith(b"PK"):  # an .xlsx is a ZIP archive: a CSV or text renamed
            why = (
                "ce n'est pas un classeur Excel .xlsx (son contenu n'est pas une archive de "
                "classeur : un CSV renommé en .xlsx ?) ; l'enregistrer en .csv, ou en classeur "
                "Excel depuis le tableur"
            )
        else:
            why = f"classeur Excel illisible, archive endommagée ou incomplète ({exc})"
        raise registry_error(path, [(None, "", why)]) from exc
    return sheets


def _xlsx_rows(path: Path, data: bytes) -> _Raw:
    """Rows of every sheet whose header is recognised (see :func:`_read_rows`).

    Several such sheets (one per département, say) must have the same recognised columns:
    they are read one after the other, and their lines named by sheet.
    """
    sheets = _read_sheets(path, data)
    found = [s for s in sheets if s.header is not None]
    if not found and len(sheets) > 1:
        listed = ", ".join(f"« {s.title} »" for s in sheets)
        message = (
            f"aucune feuille n'a d'en-tête reconnu (feuilles : {listed}) ; "
            f"colonnes attendues : {_expected_columns()}"
        )
        raise registry_error(path, [(None, "", message)])
    if not found:
        return _Raw(sheets[0].rows, sheets[0].lines)
    if len(sheets) > 1:
        read = ", ".join(f"« {s.title} »" for s in found)
        skipped = [f"« {s.title} »" for s in sheets if s.header is None and s.rows]
        also = f" ; sans en-tête de registre, ignorée(s) : {', '.join(skipped)}" if skipped else ""
        shown = printable(f"{read}{also}")
        log.info("%s : %s : %s", path.name, _sheet_word(len(found)), shown)
    layouts = [_layout(s) for s in found]
    if len(found) == 1:
        return _Raw(found[0].rows, found[0].lines, found[0].header or 0, layouts=layouts)
    rows, lines = _concatenate(path, found)
    return _Raw(rows, lines, 0, [s.title for s in found], layouts=layouts)


def _layout(sheet: _Sheet) -> Layout:
    start = sheet.header or 0
    return sheet.title, sheet.lines[start], _match_columns(sheet.rows[start])


def _sheet_word(n: int) -> str:
    return "feuille lue" if n == 1 else f"{n} feuilles lues"


def _recognised(header: list[str]) -> dict[str, int]:
    """Recognised column names of a header (loose key → position, first one kept)."""
    out: dict[str, int] = {}
    for positions in _match_columns(header).values():
        for p in positions:
            out.setdefault(_compact(header[p]), p)
    return out


def _concatenate(path: Path, sheets: list[_Sheet]) -> tuple[list[list[str]], list[int]]:
    """Header of the first sheet, then the body rows of every sheet in its column order."""
    first = sheets[0]
    header = first.rows[first.header or 0]
    wanted = _recognised(header)
    problems: list[tuple[int | None, str, str]] = []
    for sheet in sheets[1:]:
        got = _recognised(sheet.rows[sheet.header or 0])
        if set(got) != set(wanted):
            names = ", ".join(first.rows[first.header or 0][p] for p in wanted.values())
            other = ", ".join(sheet.rows[sheet.header or 0][p] for p in got.values())
            problems.append(
                (
                    None,
                    "",
                    f"feuille « {sheet.title} » : colonnes différentes de la feuille "
                    f"« {first.title} » ({other} au lieu de {names}) ; donner les mêmes "
                    "colonnes à chaque feuille du registre, ou retirer la feuille",
                )
            )
    if problems:
        raise registry_error(path, problems)
    rows = [header]
    lines = [first.lines[first.header or 0]]
    for k, sheet in enumerate(sheets):
        start = sheet.header or 0
        position = _recognised(sheet.rows[start])
        source: list[int | None] = list(range(len(header)))
        if k:  # recognised columns by name, the others left empty
            source = [position.get(_compact(n)) if _compact(n) in wanted else None for n in header]
        for row, line in zip(sheet.rows[start + 1 :], sheet.lines[start + 1 :], strict=True):
            rows.append([row[p] if p is not None and p < len(row) else "" for p in source])
            lines.append(k * _SHEET_STRIDE + line)
    return rows, lines


def _read_rows(path: Path, data: bytes) -> _Raw:
    """Return the non-empty rows of the file, their line numbers and the header's index.

    The header is the first of the first rows naming a CPTS column and a commune column
    (title rows may precede it); the first row when there is none (errors then tell why).
    """
    if not data.strip():
        raise registry_error(path, [(None, "", "fichier vide")])
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise registry_error(
            path, [(None, "", "format Excel 97 (.xls) non pris en charge : enregistrer en .xlsx")]
        )
    if data.startswith(b"PK\x03\x04") or path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _xlsx_rows(path, data)
    rows, lines, notes = _csv_rows(path, data)
    return _Raw(rows, lines, _find_header(rows) or 0, notes=notes)


def _has_key_columns(columns: dict[str, list[int]]) -> bool:
    has_cpts = "cpts_id" in columns or "cpts_nom" in columns
    return has_cpts and ("nom_commune" in columns or any(r in columns for r in _CODE_ROLES))


def _find_header(rows: list[list[str]]) -> int | None:
    """Index of the header among the first rows: CPTS and commune columns recognised."""
    for index, row in enumerate(rows[:_HEADER_SCAN]):
        if _has_key_columns(_match_columns(row)):
            return index
    return None


@functools.cache
def _expected_columns() -> str:
    """Usual names of the main columns, for error messages."""
    by_role: dict[str, list[str]] = defaultdict(list)
    for role, alias in column_aliases():
        by_role[role].append(alias)
    shown = [
        ("identifiant de CPTS", "cpts_id"),
        ("nom de CPTS", "cpts_nom"),
        ("code commune", "code"),
        ("nom de commune", "nom_commune"),
        ("stade", "stade"),
    ]
    return " ; ".join(f"{label} : {', '.join(by_role[role][:3])}" for label, role in shown)


@functools.cache
def _column_aliases() -> dict[str, tuple[str, int]]:
    return {_compact(alias): (role, rank) for rank, (role, alias) in enumerate(column_aliases())}


def _match_columns(header: list[str]) -> dict[str, list[int]]:
    """Map each role to the header positions that hold it, best first."""
    aliases = _column_aliases()
    found: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for position, name in enumerate(header):
        key = _compact(name)
        year = 0
        hit = aliases.get(key)
        if hit is None and (suffix := _YEAR_SUFFIX.search(key)):  # code_insee_cog2025
            year = int(suffix.group())
            hit = aliases.get(key[: suffix.start()])
        if hit is not None:
            found[hit[0]].append((hit[1], -year, position))
    return {role: [p for *_, p in sorted(hits)] for role, hits in found.items()}


def read_bytes(path: Path) -> bytes:
    """Return the file's bytes, through the input door (:func:`couverture._input.read_input`).

    For a shapefile, its parts one after the other, as :func:`couverture._cache.digest` reads
    them. A missing or unreadable file, no regular file (a FIFO, a device, a directory), or
    a file beyond the bounds of ``config/entrees.toml`` is a :class:`RegistryError`.
    """
    try:
        return read_input(path, what="registre")
    except InputError as exc:
        raise registry_error(path, [(None, "", _registry_reason(exc.reason))]) from exc


@dataclass(frozen=True)
class Table:
    """The registry's header, its recognised columns and the non-empty body rows."""

    header: list[str]
    header_line: int
    columns: dict[str, list[int]]
    rows: list[list[str]]
    lines: list[int]
    sheets: list[str]  # the sheets read, when several (lines then name them: see place)
    notes: list[Note]  # anomalies of reading (encodings, cells over several lines)
    layouts: list[Layout]  # each XLSX sheet read: title, header row, columns
    titles: list[list[str]] = field(default_factory=list)  # rows above the header (a date…)


def read_table(path: Path, data: bytes, *, stage_required: bool) -> Table:
    """Rows of the file under a recognised header; a layout that is no registry raises.

    ``stage_required``: a missing stage column is an error (no default stage given).
    """
    raw = _read_rows(path, data)
    if not raw.rows:
        raise registry_error(path, [(None, "", "fichier vide")])
    rows, lines, start = raw.rows, raw.lines, raw.start
    header = rows[start]
    columns = _match_columns(header)
    table = Table(
        header,
        lines[start],
        columns,
        rows[start + 1 :],
        lines[start + 1 :],
        raw.sheets,
        raw.notes,
        raw.layouts,
        rows[:start],
    )
    problems = _layout_problems(header, columns, bool(table.rows), stage_required=stage_required)
    if problems:
        raise registry_error(path, problems)
    return table


def _layout_problems(
    header: list[str], columns: dict[str, list[int]], has_rows: bool, *, stage_required: bool
) -> list[tuple[int | None, str, str]]:
    """Return what makes a header no registry's (columns missing), or a registry without rows."""
    seen = ", ".join(h for h in header if h) or "aucune"
    expected = f"(colonnes trouvées : {seen}) ; colonnes attendues : {_expected_columns()}"
    no_cpts = "cpts_id" not in columns and "cpts_nom" not in columns
    no_commune = not any(r in columns for r in _CODE_ROLES) and "nom_commune" not in columns
    if no_cpts and no_commune:  # not a registry layout: no stage noise
        return [(None, "", f"colonnes non reconnues {expected}")]
    if no_cpts or no_commune:
        what = "d'identifiant ou de nom de CPTS" if no_cpts else "de code ou de nom de commune"
        return [(None, "", f"colonne {what} introuvable {expected}")]
    if "stade" not in columns and stage_required:
        return [(None, "", f"colonne de stade absente : {_DEFAULT_STAGE_HINT}")]
    if not has_rows:
        return [(None, "", "aucune ligne de données sous l'en-tête")]
    return []


# roles of the cell a problem about an empty value is about (by the start of its message)
_EMPTY_CELL_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stade vide", ("stade",)),
    ("identifiant de CPTS vide", ("cpts_id",)),
    ("nom de CPTS vide", ("cpts_nom",)),
    ("commune absente", (*_CODE_ROLES, "nom_commune")),
)
_EXPLAIN_LIMIT = 50_000_000  # bytes: a full (not read-only) load only for workbooks this small


def explain_empty_cells(
    data: bytes, table: Table, problems: list[tuple[int | None, str, str]]
) -> list[tuple[int | None, str, str]]:
    """Say why XLSX cells reported empty are empty.

    A merged cell (only the first cell of the range holds the value) or a formula whose value
    was never computed.
    """
    import openpyxl

    wanted = [(i, roles) for i, p in enumerate(problems) for roles in _roles_of(p)]
    if not table.layouts or not wanted or len(data) > _EXPLAIN_LIMIT:
        return problems
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), data_only=False)
    except _damaged_book_errors():  # it was read once already: explain nothing then
        return problems
    out = list(problems)
    for i, roles in wanted:
        line, value, message = problems[i]
        title, _, columns = table.layouts[(line or 0) // _SHEET_STRIDE]
        row = (line or 0) % _SHEET_STRIDE
        sheet = book[title]
        for role in roles:
            cause = _empty_cell_cause(sheet, row, columns.get(role, []))
            if cause:
                out[i] = (line, value, f"{message} (feuille « {title} », {cause})")
                break
    book.close()
    return out


def _roles_of(problem: tuple[int | None, str, str]) -> list[tuple[str, ...]]:
    line, value, message = problem
    if line is None or value:
        return []
    return [roles for start, roles in _EMPTY_CELL_ROLES if message.startswith(start)][:1]


def _empty_cell_cause(sheet: Any, row: int, positions: list[int]) -> str:
    from openpyxl.utils import get_column_letter

    for position in positions[:1]:
        cell = sheet.cell(row=row, column=position + 1)
        if cell.data_type == "f":
            return (
                f"cellule {cell.coordinate} : formule sans valeur calculée (ouvrez et "
                "enregistrez le fichier dans Excel ou LibreOffice)"
            )
        for merged in sheet.merged_cells.ranges:
            if cell.coordinate in merged and (row, position + 1) != (
                merged.min_row,
                merged.min_col,
            ):
                first = f"{get_column_letter(merged.min_col)}{merged.min_row}"
                return (
                    f"cellule {cell.coordinate} fusionnée ({merged.coord}) : seule {first} "
                    "porte la valeur ; défusionner et recopier la valeur sur chaque ligne"
                )
    return ""
