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
from dataclasses import dataclass
from pathlib import Path

from couverture import settings
from couverture._errors import RegistryError
from couverture._registry_common import _CODE_ROLES, _DEFAULT_STAGE_HINT, _compact, log

_YEAR_SUFFIX = re.compile(r"(?:19|20)\d\d$")
_EXCEL_SEP = re.compile(r"\A[ \t]*sep=([^\r\n])[ \t]*\r?\n", re.IGNORECASE)
_HEADER_SCAN = 10  # title rows above the header: the header is among the first rows


def _decode(path: Path, data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise RegistryError(path, [(None, "", "fichier UTF-16 illisible")]) from exc
    if b"\0" in data:
        raise RegistryError(path, [(None, "", "fichier binaire : ni CSV ni XLSX")])
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegistryError(
        path, [(None, "", "encodage non reconnu (attendu : UTF-8 ou Windows-1252)")]
    )


def _csv_rows(path: Path, data: bytes) -> tuple[list[list[str]], list[int]]:
    text = _decode(path, data)
    start = 1
    excel_sep = _EXCEL_SEP.match(text)
    if excel_sep:  # Excel's "sep=;" first line: honour it, keep real line numbers
        sep = excel_sep.group(1)
        text = text[excel_sep.end() :]
        start = 2
    else:
        # title rows may precede the header: the separator is the one most used on a line
        firsts = [line for line in text.splitlines()[:_HEADER_SCAN] if line.strip()]
        sep = max(
            (",", ";", "\t", "|"), key=lambda s: max((line.count(s) for line in firsts), default=0)
        )
    offset = start - 1
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for record in reader:
            cells = [c.strip() for c in record]
            if any(cells):
                rows.append(cells)
                lines.append(start)
            start = reader.line_num + 1 + offset
    except csv.Error as exc:
        raise RegistryError(path, [(start, "", f"CSV illisible ({exc})")]) from exc
    return rows, lines


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
    """What openpyxl raises on a damaged workbook: all of it means "unreadable file" here."""
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


def _xlsx_rows(path: Path, data: bytes) -> tuple[list[list[str]], list[int], int]:
    """Rows of the first sheet whose header is recognised (see :func:`_read_rows`)."""
    import openpyxl

    names: list[str] = []
    first: tuple[list[list[str]], list[int]] | None = None
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in book.worksheets:
                names.append(sheet.title)
                rows: list[list[str]] = []
                lines: list[int] = []
                for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), 1):
                    cells = [_cell_text(v) for v in values]
                    if any(cells):
                        rows.append(cells)
                        lines.append(number)
                if first is None:
                    first = rows, lines
                header = _find_header(rows)
                if header is not None:
                    if len(book.worksheets) > 1:
                        log.info("%s : feuille « %s » lue", path.name, sheet.title)
                    return rows, lines, header
        finally:
            book.close()
    except _damaged_book_errors() as exc:
        raise RegistryError(
            path, [(None, "", f"classeur Excel illisible ({type(exc).__name__}: {exc})")]
        ) from exc
    if len(names) > 1:
        listed = ", ".join(f"« {n} »" for n in names)
        raise RegistryError(
            path,
            [
                (
                    None,
                    "",
                    f"aucune feuille n'a d'en-tête reconnu (feuilles : {listed}) ; "
                    f"colonnes attendues : {_expected_columns()}",
                )
            ],
        )
    rows, lines = first or ([], [])
    return rows, lines, 0


def _read_rows(path: Path, data: bytes) -> tuple[list[list[str]], list[int], int]:
    """Return the non-empty rows of the file, their line numbers and the header's index.

    The header is the first of the first rows naming a CPTS column and a commune column
    (title rows may precede it); the first row when there is none (errors then tell why).
    """
    if not data.strip():
        raise RegistryError(path, [(None, "", "fichier vide")])
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise RegistryError(
            path, [(None, "", "format Excel 97 (.xls) non pris en charge : enregistrer en .xlsx")]
        )
    if data.startswith(b"PK\x03\x04") or path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _xlsx_rows(path, data)
    rows, lines = _csv_rows(path, data)
    return rows, lines, _find_header(rows) or 0


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
    with (settings.CONFIG_DIR / "colonnes.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_role[row["role"]].append(row["alias"])
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
    with (settings.CONFIG_DIR / "colonnes.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {_compact(r["alias"]): (r["role"], rank) for rank, r in enumerate(rows)}


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
    """The file's bytes; a missing or unreadable file is a :class:`RegistryError`."""
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise RegistryError(path, [(None, "", "fichier introuvable")]) from exc
    except OSError as exc:
        raise RegistryError(path, [(None, "", f"fichier illisible ({exc.strerror})")]) from exc


@dataclass(frozen=True)
class Table:
    """The registry's header, its recognised columns and the non-empty body rows."""

    header: list[str]
    header_line: int
    columns: dict[str, list[int]]
    rows: list[list[str]]
    lines: list[int]


def read_table(path: Path, data: bytes, *, stage_required: bool) -> Table:
    """Rows of the file under a recognised header; a layout that is no registry raises.

    ``stage_required``: a missing stage column is an error (no default stage given).
    """
    rows, lines, start = _read_rows(path, data)
    if not rows:
        raise RegistryError(path, [(None, "", "fichier vide")])
    header = rows[start]
    table = Table(
        header, lines[start], _match_columns(header), rows[start + 1 :], lines[start + 1 :]
    )
    problems = _layout_problems(table, stage_required=stage_required)
    if problems:
        raise RegistryError(path, problems)
    return table


def _layout_problems(table: Table, *, stage_required: bool) -> list[tuple[int | None, str, str]]:
    columns = table.columns
    seen = ", ".join(h for h in table.header if h) or "aucune"
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
    if not table.rows:
        return [(None, "", "aucune ligne de données sous l'en-tête")]
    return []
