"""Writing tables: CSV on stdout, pretty tables, files written atomically (temp file + rename).

The pretty tables use the short column titles of ``config/titres_colonnes.csv`` and the French
formats of :mod:`couverture._format`; they fit the terminal (120 columns when not a terminal).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from couverture import _format
from couverture._errors import ArgumentError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

TABLE_FORMATS = ("tableau", "csv", "xlsx")
GEO_FORMATS = ("geojson", "gpkg")
FILE_ONLY = ("xlsx", "gpkg")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success only.

    The temporary name keeps the real extension (GDAL and openpyxl choose formats by it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=f"-{path.name}")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_csv(frame: pd.DataFrame, stream: IO[str]) -> None:
    """Machine CSV: ``,`` separator, ``.`` decimals, UTF-8 without BOM, ``\\n`` line ends."""
    frame.to_csv(stream, index=False, lineterminator="\n")


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


def fit_widths(natural: list[int], cut: list[bool], available: int) -> list[int]:
    """Column widths summing to at most ``available``: the ``cut`` columns (text) share what
    the others leave, the widest first (the widths of the others are kept whole).

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
    """Short French titles, the cell texts of each column (first ``limit`` rows) and whether
    each column holds figures (numbers, identifiers, or texts of figures such as
    ``0 → 287 000``), which are never cut."""
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
    """Print a readable table on stdout, as wide as the terminal (:func:`terminal_width`), or
    whole into ``stream`` (a ``.txt`` file: nothing is cut).

    Figures are in French format and never cut; when the table is too wide, the longest text
    cells are cut with « … » (the CSV and XLSX outputs keep the full text).
    """
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table

    headers, columns, figures = pretty_columns(frame, limit=None if stream else MAX_PRETTY_ROWS)
    width = terminal_width() if stream is None else _UNLIMITED
    # a column costs its content, one cell of padding each side and one border
    available = width - 3 * len(headers) - 1
    cells_width = [max([1, *map(cell_len, cells)]) for cells in columns]
    widths = [max(w, cell_len(h)) for w, h in zip(cells_width, headers, strict=True)]
    if sum(widths) > available:
        # too wide: the headers of figures wrap between words, long texts are cut
        widths = [
            max(w, *map(cell_len, h.split())) if f else full
            for w, h, f, full in zip(cells_width, headers, figures, widths, strict=True)
        ]
        widths = fit_widths(widths, [not f for f in figures], available)
    table = Table(title=title, caption=caption, show_lines=False)
    for col, header, w in zip(frame.columns, headers, widths, strict=True):
        right = frame[col].dtype.kind in "iuf" or col in RIGHT_ALIGNED
        table.add_column(header, justify="right" if right else "left", width=w)
    for row in zip(*columns, strict=True):
        table.add_row(*(shorten(cell, w) for cell, w in zip(row, widths, strict=True)))
    if stream is None and len(frame) > MAX_PRETTY_ROWS:
        hidden = _format.plural(
            len(frame) - MAX_PRETTY_ROWS,
            "ligne de plus non affichée",
            "lignes de plus non affichées",
        )
        table.caption = (
            f"{caption}\n… {hidden} : --format csv ou --sortie FICHIER pour le tableau complet"
        )
    Console(width=width, file=stream).print(table)


def emit_table(
    frame: pd.DataFrame,
    *,
    fmt: str,
    output: Path | None,
    title: str,
    caption: str,
    sheet: str = "donnees",
) -> None:
    """Write a table in ``fmt`` to ``output`` (atomically) or to stdout."""
    if fmt in FILE_ONLY and output is None:
        raise ArgumentError(
            f"le format {fmt} ne peut pas aller sur la sortie standard : --sortie FICHIER"
        )
    if fmt == "csv":
        if output is None:
            write_csv(frame, sys.stdout)
        else:
            with atomic_path(output) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
                write_csv(frame, fh)
    elif fmt == "xlsx":
        assert output is not None
        with atomic_path(output) as tmp:
            frame.to_excel(tmp, index=False, sheet_name=sheet[:31], engine="openpyxl")
    elif fmt == "tableau":
        if output is None:
            write_pretty(frame, title=title, caption=caption)
        else:
            with atomic_path(output) as tmp, tmp.open("w", encoding="utf-8") as fh:
                write_pretty(frame, title=title, caption=caption, stream=fh)
    else:
        raise ArgumentError(f"format « {fmt} » non disponible pour cette commande")


def emit_geo(frame: gpd.GeoDataFrame, *, fmt: str, output: Path | None, layer: str) -> None:
    """Write a GeoDataFrame as GeoJSON (stdout allowed) or GeoPackage (file only)."""
    if fmt == "gpkg":
        if output is None:
            raise ArgumentError(
                "le format gpkg ne peut pas aller sur la sortie standard : --sortie FICHIER"
            )
        with atomic_path(output) as tmp:
            tmp.unlink()
            frame.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
    elif fmt == "geojson":
        text = frame.to_json(drop_id=True, ensure_ascii=False)
        if output is None:
            sys.stdout.write(text + "\n")
        else:
            atomic_write_text(output, text + "\n")
    else:
        raise ArgumentError(f"format « {fmt} » non disponible pour cette commande")
