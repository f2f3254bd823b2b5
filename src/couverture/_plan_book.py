"""Reading a plan d'action workbook as a person left it.

The cells of each sheet, bounded by the cells that hold a value (a cell formatted at
XFD1048576 costs nothing), merged ranges read as the value of every cell they cover, formulas
read as the value the spreadsheet cached. An XLSX workbook (Excel) or an OpenDocument one
(.ods, LibreOffice: read with odfpy, the same checks); other formats are refused in French,
naming the format. The bytes come through the registry's checked door (regular file, bounded
size).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

import openpyxl
from odf.namespaces import OFFICENS, TABLENS, TEXTNS
from odf.opendocument import load as load_odf
from odf.table import Table
from odf.teletype import extractText

from couverture._errors import PlanError
from couverture._input import InputError, read_input
from couverture._registry_read import _damaged_book_errors

#: Cells a sheet may hold before the reader refuses it (a plan has a few thousand).
MAX_CELLS = 2_000_000


@dataclass
class Sheet:
    """A sheet's values: ``rows[i][j]`` is the cell of row ``i + 1``, column ``j + 1``."""

    title: str
    rows: list[list[Any]] = field(default_factory=list)


def column_letter(index: int) -> str:
    """Spreadsheet letters of a 1-based column index (1 → A, 28 → AB)."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


ODS = "classeur OpenDocument (.ods, LibreOffice)"
_ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"


def _format_of(path: Path, data: bytes) -> str | None:
    """Return the name of a format that is not XLSX, or ``None`` for a ZIP that may be XLSX.

    :data:`ODS` for an OpenDocument spreadsheet (read by :func:`_load_ods`).
    """
    if data.startswith(b"PK"):
        if _ODS_MIME in data[:200]:
            return ODS
        if b"application/vnd.oasis.opendocument" in data[:200]:
            return "document OpenDocument qui n'est pas un classeur"
        return None
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return "classeur Excel 97-2003 (.xls)"
    if not data:
        return "fichier vide"
    if b"\0" in data[:4096]:
        return "fichier binaire"
    suffix = path.suffix.lower()
    return "fichier texte CSV" if suffix in (".csv", ".txt", "") else f"fichier texte ({suffix})"


def _read_bytes(path: Path) -> bytes:
    try:  # the one checked door: a regular file, bounded (no FIFO, no /dev/zero)
        return read_input(path, what="plan d'action")
    except InputError as exc:
        raise PlanError(path, [(None, None, "", exc.reason)]) from exc


def load(path: Path | str) -> list[Sheet]:
    """Return the sheets of a plan workbook (values only, bounded, merged ranges spread).

    Raises
    ------
    PlanError
        Missing or special file, a format that is neither XLSX nor ODS (named), a damaged
        workbook, a formula whose value was never computed, a sheet too large.
    """
    path = Path(path)
    data = _read_bytes(path)
    other = _format_of(path, data)
    if other == ODS:
        return _load_ods(path, data)
    if other is not None:
        raise PlanError(
            path,
            [
                (
                    None,
                    None,
                    "",
                    f"{other} : un classeur Excel .xlsx (ou LibreOffice .ods) est attendu "
                    "(l'enregistrer au format « Classeur Excel (.xlsx) » depuis le tableur)",
                )
            ],
        )
    try:
        values = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
        formulas = openpyxl.load_workbook(io.BytesIO(data), data_only=False)
    except _damaged_book_errors() as exc:
        raise PlanError(
            path, [(None, None, "", f"classeur XLSX illisible ({type(exc).__name__})")]
        ) from exc
    problems: list[tuple[str | None, int | None, str, str]] = []
    sheets = []
    for ws in values.worksheets:
        sheets.append(_sheet(ws, formulas[ws.title], problems))
    values.close()
    formulas.close()
    if problems:
        raise PlanError(path, problems)
    return sheets


def _sheet(ws: Any, source: Any, problems: list[tuple[str | None, int | None, str, str]]) -> Sheet:
    # the cells the file holds, not the used range it claims (A1:XFD1048576 is 17 G cells)
    cells: dict[tuple[int, int], Any] = {}
    for (r, c), cell in ws._cells.items():
        value = cell.value
        if value is None or (isinstance(value, str) and not value.strip()):
            formula = source._cells.get((r, c))
            text = getattr(formula, "value", None)
            if isinstance(text, str) and text.startswith("="):
                problems.append(
                    (
                        ws.title,
                        r,
                        text[:40],
                        f"cellule {column_letter(c)}{r} : formule sans valeur calculée "
                        "(ouvrir le classeur dans le tableur et l'enregistrer)",
                    )
                )
            continue
        cells[(r, c)] = value
    if not cells:
        return Sheet(ws.title)
    n_rows = max(r for r, _ in cells)
    n_cols = max(c for _, c in cells)
    for merged in ws.merged_cells.ranges:
        top = cells.get((merged.min_row, merged.min_col))
        if top is None:
            continue
        for r in range(merged.min_row, min(merged.max_row, n_rows) + 1):
            for c in range(merged.min_col, min(merged.max_col, n_cols) + 1):
                cells.setdefault((r, c), top)
    if n_rows * n_cols > MAX_CELLS:
        problems.append(
            (ws.title, None, "", f"feuille trop grande ({n_rows} lignes × {n_cols} colonnes)")
        )
        return Sheet(ws.title)
    rows = [[None] * n_cols for _ in range(n_rows)]
    for (r, c), value in cells.items():
        if isinstance(value, dt.datetime) and value.time() == dt.time():
            value = value.date()
        rows[r - 1][c - 1] = value
    return Sheet(ws.title, rows)


# ------------------------------------------------------------------------------------------
# OpenDocument (.ods): odfpy, the same bounds and checks as the XLSX reader
# ------------------------------------------------------------------------------------------
Problems = list[tuple[str | None, int | None, str, str]]


def _load_ods(path: Path, data: bytes) -> list[Sheet]:
    """Return the sheets of an OpenDocument workbook, like :func:`load` for an XLSX one."""
    try:
        document = load_odf(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, ExpatError, OSError) as exc:
        raise PlanError(
            path, [(None, None, "", f"classeur ODS illisible ({type(exc).__name__})")]
        ) from exc
    problems: Problems = []
    sheets = [_ods_sheet(t, problems) for t in document.spreadsheet.getElementsByType(Table)]
    if problems:
        raise PlanError(path, problems)
    return sheets


def _ods_attr(element: Any, name: str) -> str | None:
    value = element.attributes.get((TABLENS, name))
    return str(value) if value is not None else None


def _ods_count(element: Any, name: str) -> int:
    text = _ods_attr(element, name)
    try:
        return max(int(text), 1) if text else 1
    except ValueError:
        return 1


def _ods_sheet(table: Any, problems: Problems) -> Sheet:
    title = _ods_attr(table, "name") or ""
    cells: dict[tuple[int, int], Any] = {}
    spans: list[tuple[int, int, int, int]] = []
    r = 0
    for row in _ods_rows(table):
        repeat = _ods_count(row, "number-rows-repeated")
        if not _ods_row(title, row, (r, repeat), cells, spans, problems):
            return Sheet(title)
        r += repeat
    if not cells:
        return Sheet(title)
    n_rows = max(i for i, _ in cells)
    n_cols = max(j for _, j in cells)
    for top_r, top_c, end_r, end_c in spans:
        top = cells.get((top_r, top_c))
        for i in range(top_r, min(end_r, n_rows) + 1):
            for j in range(top_c, min(end_c, n_cols) + 1):
                cells.setdefault((i, j), top)
    if n_rows * n_cols > MAX_CELLS:
        problems.append(
            (title, None, "", f"feuille trop grande ({n_rows} lignes × {n_cols} colonnes)")
        )
        return Sheet(title)
    rows: list[list[Any]] = [[None] * n_cols for _ in range(n_rows)]
    for (i, j), value in cells.items():
        rows[i - 1][j - 1] = value
    return Sheet(title, rows)


def _ods_row(
    title: str,
    row: Any,
    at: tuple[int, int],
    cells: dict[tuple[int, int], Any],
    spans: list[tuple[int, int, int, int]],
    problems: Problems,
) -> bool:
    """Read one (repeated) row into ``cells``; ``False`` when the sheet is too large."""
    r, repeat = at
    c = 0
    for cell in row.childNodes:
        if cell.qname not in ((TABLENS, "table-cell"), (TABLENS, "covered-table-cell")):
            continue
        across = _ods_count(cell, "number-columns-repeated")
        value = _ods_value(cell)
        formula = _ods_attr(cell, "formula")
        if value is None and formula:
            problems.append(
                (
                    title,
                    r + 1,
                    formula[:40],
                    f"cellule {column_letter(c + 1)}{r + 1} : formule sans valeur calculée "
                    "(ouvrir le classeur dans le tableur et l'enregistrer)",
                )
            )
        elif value is not None:
            # a value repeated over a block: the block is bounded before it is spread
            block = repeat * across
            if (r + repeat) * (c + across) > MAX_CELLS or len(cells) + block > MAX_CELLS:
                problems.append(
                    (title, None, "", f"feuille trop grande ({r + repeat} lignes × "
                     f"{c + across} colonnes)")
                )  # fmt: skip
                return False
            for dr in range(repeat):
                for dc in range(across):
                    cells[(r + dr + 1, c + dc + 1)] = value
            down = _ods_count(cell, "number-rows-spanned")
            wide = _ods_count(cell, "number-columns-spanned")
            if down > 1 or wide > 1:
                spans.append((r + 1, c + 1, r + down, c + wide))
        c += across
    return True


def _ods_rows(table: Any) -> list[Any]:
    """Return the rows of a table in order, those of header and row groups included."""
    rows: list[Any] = []
    for child in table.childNodes:
        if child.qname == (TABLENS, "table-row"):
            rows.append(child)
        elif child.qname in (
            (TABLENS, "table-header-rows"),
            (TABLENS, "table-rows"),
            (TABLENS, "table-row-group"),
        ):
            rows.extend(_ods_rows(child))
    return rows


def _ods_value(cell: Any) -> Any:
    """Return the value a cell shows: number, date, boolean, text (``None``: empty)."""
    kind = cell.attributes.get((OFFICENS, "value-type"))
    if kind in ("float", "percentage", "currency"):
        number = float(str(cell.attributes.get((OFFICENS, "value"))))
        return int(number) if number.is_integer() else number
    if kind == "date":
        text = str(cell.attributes.get((OFFICENS, "date-value")))
        moment = dt.datetime.fromisoformat(text)
        return moment.date() if moment.time() == dt.time() else moment
    if kind == "boolean":
        return str(cell.attributes.get((OFFICENS, "boolean-value"))).lower() == "true"
    lines = [extractText(p) for p in cell.childNodes if p.qname == (TEXTNS, "p")]
    text = "\n".join(lines)
    return text if text.strip() else None
