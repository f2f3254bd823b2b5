"""The one spreadsheet writer of the package: tables and pages, titled, checked, atomic.

A command's table, the plan d'action, the suivi, the remontée and the report's workbook are all
written by :func:`write_xlsx`: plain frames with their French titles
(:func:`couverture._output.titled`), or :class:`Table` (widths, header colours, drop-downs and
date checks over rows left for a person to fill) and :class:`Page` (free rows, hidden sheets).
Text that looks like a formula stays text.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture import _format
from couverture._output import atomic_write_bytes, protect_cell, protect_sheet, titled, worded

if TYPE_CHECKING:
    import pandas as pd


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
