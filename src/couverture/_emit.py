"""A command's answer, a table or a layer, on standard output or in a file written atomically.

Machine CSV, a pretty terminal table, a spreadsheet (:mod:`couverture._workbook`), GeoJSON or a
GeoPackage; the file written is said in the log.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from couverture import _format
from couverture._errors import ArgumentError
from couverture._output import (
    FILE_ONLY,
    atomic_path,
    atomic_write_text,
    printable,
    write_csv,
    write_pretty,
)
from couverture._workbook import write_xlsx

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

_log = logging.getLogger(__name__)


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
