"""The one checked door of every input file a person gives.

Registry, plan, scenario, porteurs, annuaire, adhésions: every reader takes its bytes here.

Public API
----------
:func:`read_input` ``(path, *, what, max_bytes=None) -> bytes``
    The file's bytes, or :class:`InputError`. Only a regular file (or a link to one) is read:
    a FIFO, a socket, a device (``/dev/zero``), a directory or standard input is refused
    before anything is read, and the file is opened without blocking (a FIFO swapped in
    between the check and the opening cannot hang the reading). At most ``max_bytes`` are
    read (default: ``taille_max_mo`` of ``config/entrees.toml``); a bigger file is refused.
    An XLSX workbook (``PK`` header or ``.xlsx``/``.xlsm``) is also checked by
    :func:`check_workbook`. A shapefile (``.shp``) is read with its ``.shx``, ``.dbf``,
    ``.prj`` and ``.cpg`` parts, one after the other.
:func:`check_workbook` ``(path, data, *, what) -> None``
    Refuses a workbook whose parts would decompress beyond ``classeur_decompresse_max_mo``
    (a zip bomb, or a used range of millions of filled cells): the cells a reader will go
    through are bounded before it starts. A claimed used range (``A1:XFD1048576``) is no
    problem in itself: readers read the cells the sheets hold.
:func:`sheet_values` ``(sheet) -> rows of values``
    The rows of an openpyxl sheet over the cells it holds, whatever used range it claims
    (``A1:XFD1048576`` would make a read-only sheet pad every row to 16,384 cells).
:func:`decode_text` ``(path, data, *, what) -> (text, notes)``
    The text of a CSV or text file: UTF-8 (with or without BOM), UTF-16 with BOM, or
    Windows-1252, decided **line by line**: a UTF-8 file holding a few Windows-1252 lines
    (pasted from another file) has those lines decoded on their own, each one reported as a
    :data:`Note`. Linear in the file's size, as fast for Windows-1252 as for UTF-8.
:class:`InputError`
    A :class:`~couverture._errors.CouvertureError`: ``path``, ``what`` (the French name of
    the input: « registre », « porteurs », « plan d'action »…) and ``reason`` (French);
    its message is ``"<what> <path> : <reason>"``. Readers with their own error class
    (:class:`~couverture._errors.RegistryError`, :class:`~couverture._errors.PlanError`)
    re-raise ``reason`` in it.

Examples
--------
>>> from couverture._input import decode_text
>>> decode_text("x.csv", "nom;code\\nCPTS Armor;22001\\n".encode("cp1252"))[0].split("\\n")[1]
'CPTS Armor;22001'
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from couverture._config import toml
from couverture._errors import CouvertureError

#: An anomaly of reading: (line, column, value, action, kind) — as the registry notes them.
Note = tuple[int, str, str, str, str]

_STDIN = frozenset({"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_MIB = 1 << 20


class InputError(CouvertureError):
    """An input file cannot be read; ``reason`` says why (French)."""

    def __init__(self, path: Path | str, what: str, reason: str) -> None:
        self.path = Path(path)
        self.what = what
        self.reason = reason
        super().__init__(f"{what} {path} : {reason}")


def limits() -> dict[str, int]:
    """Return the bounds of ``config/entrees.toml`` in bytes (``taille``, ``classeur``)."""
    conf = toml("entrees.toml")
    return {
        "taille": int(float(conf["taille_max_mo"]) * _MIB),
        "classeur": int(float(conf["classeur_decompresse_max_mo"]) * _MIB),
    }


def input_files(path: Path | str) -> list[Path]:
    """Return the files an input is made of.

    Itself, or a shapefile's ``.shp``, ``.shx``, ``.dbf``, ``.prj`` and ``.cpg`` (those present;
    attributes and CRS live beside the ``.shp``).
    """
    path = Path(path)
    if path.suffix.lower() != ".shp":
        return [path]
    parts = [path.with_suffix(s) for s in _SHAPEFILE_PARTS[1:]]
    parts += [path.with_suffix(s.upper()) for s in _SHAPEFILE_PARTS[1:]]
    return [path, *dict.fromkeys(p for p in parts if p.is_file())]


def _kind(mode: int) -> str | None:
    """French words for what a non-regular file is; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "c'est un dossier"
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "tube ou socket (données en flux)"
    return "fichier spécial (périphérique)"


def check_file(path: Path | str, *, what: str) -> None:
    """Raise :class:`InputError` unless ``path`` is a regular file (or a link to one).

    Nothing is opened: a FIFO, a device or a directory is refused by its kind.
    """
    if str(path) in _STDIN:
        try:
            if stat.S_ISREG(Path(path).stat().st_mode):  # "< registre.csv": a real file
                return
        except OSError:
            pass
        raise InputError(path, what, "entrée standard non acceptée : donner le chemin d'un fichier")
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError as exc:
        raise InputError(path, what, "fichier introuvable") from exc
    except OSError as exc:
        raise InputError(path, what, f"fichier illisible ({exc.strerror})") from exc
    kind = _kind(mode)
    if kind is not None:
        raise InputError(path, what, f"{kind} : un fichier ordinaire est attendu")


def _read_one(path: Path, what: str, budget: int) -> bytes:
    """Read a regular file without blocking, at most ``budget`` bytes (more: refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise InputError(path, what, "fichier introuvable") from exc
    except OSError as exc:
        raise InputError(path, what, f"fichier illisible ({exc.strerror})") from exc
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:  # swapped between the check and the opening
            raise InputError(path, what, f"{kind} : un fichier ordinaire est attendu")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(budget + 1)
    except OSError as exc:
        raise InputError(path, what, f"fichier illisible ({exc.strerror})") from exc
    finally:
        os.close(fd)
    if len(data) > budget:
        raise InputError(path, what, _too_big(budget))
    return data


def _too_big(budget: int) -> str:
    return (
        f"fichier trop volumineux (plus de {budget / _MIB:.0f} Mo) : limite "
        "« taille_max_mo » de config/entrees.toml"
    )


def read_input(path: Path | str, *, what: str, max_bytes: int | None = None) -> bytes:
    """Return the bytes of an input file, checked (see the module docstring).

    Parameters
    ----------
    path
        The file (a shapefile's ``.shp``: its parts one after the other).
    what
        The French name of the input, for messages (« registre », « porteurs »…).
    max_bytes
        Largest size accepted; default ``taille_max_mo`` of ``config/entrees.toml``.

    Raises
    ------
    InputError
        Missing, unreadable, not a regular file, too big, or a workbook too big once
        decompressed.
    """
    path = Path(path)
    check_file(path, what=what)
    budget = limits()["taille"] if max_bytes is None else max_bytes
    chunks = []
    for part in input_files(path):
        chunk = _read_one(part, what, budget)
        budget -= len(chunk)
        chunks.append(chunk)
    data = b"".join(chunks)
    if data.startswith(b"PK\x03\x04") or path.suffix.lower() in {".xlsx", ".xlsm"}:
        check_workbook(path, data, what=what)
    return data


def check_workbook(path: Path | str, data: bytes, *, what: str) -> None:
    """Raise :class:`InputError` when a workbook's parts decompress beyond the bound.

    A damaged archive is left to the reader (it words its own message).
    """
    bound = limits()["classeur"]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(max(info.file_size, 0) for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return
    if total > bound:
        raise InputError(
            path,
            what,
            f"classeur trop volumineux une fois décompressé ({total / _MIB:.0f} Mo, limite "
            f"{bound / _MIB:.0f} Mo : « classeur_decompresse_max_mo » de config/entrees.toml)",
        )


def sheet_values(sheet: Any) -> Iterator[tuple[Any, ...]]:
    """Yield the values of each row of an openpyxl sheet, over the cells it really holds.

    The used range a workbook claims (``A1:XFD1048576``) is not trusted: rows are as wide as
    their last cell, and no row is made up below the last one. Rows missing between two
    rows are yielded empty, so that the n-th row yielded is row n of the sheet.
    """
    if hasattr(sheet, "reset_dimensions"):  # a read-only sheet trusts the claimed range
        sheet.reset_dimensions()
    yield from sheet.iter_rows(values_only=True)


def decode_text(path: Path | str, data: bytes, *, what: str = "fichier") -> tuple[str, list[Note]]:
    """Return the text of a file and the lines decoded in Windows-1252 inside a UTF-8 file.

    UTF-8 (BOM or not) and Windows-1252 are decided line by line; UTF-16 needs its BOM.
    A binary file (NUL bytes), undecodable UTF-16, or bytes Windows-1252 does not define
    raise :class:`InputError`.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError as exc:
            raise InputError(path, what, "fichier UTF-16 illisible") from exc
    if b"\0" in data:
        raise InputError(path, what, "fichier binaire : ni CSV ni XLSX")
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InputError(
            path, what, "encodage non reconnu (attendu : UTF-8 ou Windows-1252)"
        ) from exc
    parts = data.split(b"\n")
    # the non-ASCII lines only, each tried once: linear in the file's size
    utf8_lines = 0
    cp1252: list[int] = []
    for n, part in enumerate(parts, 1):
        if part.isascii():
            continue
        try:
            part.decode("utf-8")
        except UnicodeDecodeError:
            cp1252.append(n)
        else:
            utf8_lines += 1
    if not utf8_lines:
        return text, []  # a Windows-1252 file
    # UTF-8 lines and Windows-1252 lines (a file pasted together): each line its own
    wrong = set(cp1252)
    lines = [p.decode("cp1252" if n in wrong else "utf-8") for n, p in enumerate(parts, 1)]
    notes = [
        (
            n,
            "",
            shorten(lines[n - 1]),
            "ligne en Windows-1252 dans un fichier UTF-8 : lue en Windows-1252",
            "encodages mélangés (lignes lues en Windows-1252)",
        )
        for n in cp1252
    ]
    return "\n".join(lines), notes


def shorten(text: str, width: int = 60) -> str:
    """``text`` on one line, cut to ``width`` characters (an ellipsis ends a cut text)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
