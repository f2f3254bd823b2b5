"""Reading a plan d'action workbook as a person left it.

The cells of each sheet, bounded by the cells that hold a value (a cell formatted at
XFD1048576 costs nothing), merged ranges read as the value of every cell they cover, formulas
read as the value the spreadsheet cached. Formats that are not XLSX are refused in French,
naming the format. The bytes come through the registry's checked door (regular file, bounded
size).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from couverture._errors import CouvertureError, PlanError

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


def _format_of(path: Path, data: bytes) -> str | None:
    """Return the name of a format that is not XLSX, or ``None`` for a ZIP that may be XLSX."""
    if data.startswith(b"PK"):
        if b"application/vnd.oasis.opendocument" in data[:200]:
            return "classeur OpenDocument (.ods, LibreOffice)"
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
    from couverture._registry_read import read_bytes

    try:
        return read_bytes(path)
    except CouvertureError as exc:
        reason = str(exc).split(":")[-1].strip() or "fichier illisible"
        raise PlanError(path, [(None, None, "", reason)]) from exc


def load(path: Path | str) -> list[Sheet]:
    """Return the sheets of a plan workbook (values only, bounded, merged ranges spread).

    Raises
    ------
    PlanError
        Missing or special file, a format that is not XLSX (named), a damaged workbook, a
        formula whose value was never computed.
    """
    import openpyxl

    from couverture._registry_read import _damaged_book_errors

    path = Path(path)
    data = _read_bytes(path)
    other = _format_of(path, data)
    if other is not None:
        raise PlanError(
            path,
            [
                (
                    None,
                    None,
                    "",
                    f"{other} : un classeur Excel .xlsx est attendu (l'enregistrer au "
                    "format « Classeur Excel (.xlsx) » depuis le tableur)",
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
