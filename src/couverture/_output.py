"""Writing tables: CSV on stdout, pretty tables, files written atomically (temp file + rename)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

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


# short French headers for the human-readable tables (CSV keeps the machine names)
PRETTY_HEADERS = {
    "nom": "Nom",
    "departement": "Dép.",
    "population": "Population",
    "n_communes": "Communes",
    "pop_lettre_intention": "Pop. ≥ LI",
    "pop_projet_sante": "Pop. ≥ projet",
    "pop_aci": "Pop. ACI",
    "taux_lettre_intention": "% ≥ LI",
    "taux_projet_sante": "% ≥ projet",
    "taux_aci": "% ACI",
    "superficie_km2": "km²",
    "cpts_voisines": "CPTS voisines",
    "code": "Code",
    "stade": "Stade",
    "cpts": "CPTS",
    "projets": "Projets (avant LI)",
    "n_cpts": "Nb CPTS",
    "type": "Type",
    "communes": "Communes",
    "zone_id": "Zone",
    "ligne": "Ligne",
    "colonne": "Colonne",
    "valeur": "Valeur",
    "action": "Correction",
    "mois": "Mois",
    "libelle_registre": "Registre",
    "fictif": "Fictif",
    "perimetre": "Périmètre",
    "empreinte": "Empreinte",
    "ecrit_le": "Écrit le",
    "n_zones": "Zones blanches",
    "population_zones": "Pop. zones blanches",
    "region": "Région",
    "epci": "EPCI",
    "population_millesime": "Millésime",
}
# readable values for the human tables (CSV keeps the codes)
PRETTY_VALUES = {
    "stade": {
        "lettre_intention": "lettre d'intention",
        "projet_sante": "projet de santé",
        "aci": "ACI signé",
    },
    "type": {"partage": "commune partagée", "chevauchement": "chevauchement"},
}
# beyond this, a table is for a file, not a terminal
MAX_PRETTY_ROWS = 200


def write_pretty(frame: pd.DataFrame, *, title: str, caption: str) -> None:
    """Print a readable table on stdout (rich when available)."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is optional
        print(title)
        print(frame.to_string(index=False))
        print(caption)
        return
    import shutil

    table = Table(title=title, caption=caption, show_lines=False)
    for col in frame.columns:
        numeric = frame[col].dtype.kind in "iuf"
        header = PRETTY_HEADERS.get(str(col), str(col))
        table.add_column(header, justify="right" if numeric else "left", overflow="fold")
    shown = frame.head(MAX_PRETTY_ROWS).copy()
    for col, labels in PRETTY_VALUES.items():
        if col in shown:
            shown[col] = shown[col].map(lambda v, labels=labels: labels.get(v, v))
    for row in shown.itertuples(index=False):
        table.add_row(*("" if _isna(v) else _fmt(v) for v in row))
    if len(frame) > MAX_PRETTY_ROWS:
        table.caption = (
            f"{caption}\n… {len(frame) - MAX_PRETTY_ROWS} lignes de plus non affichées : "
            "--format csv ou --sortie FICHIER pour le tableau complet"
        )
    # a pipe or CI log is not 80 columns wide: keep rows on one line where possible
    width = shutil.get_terminal_size((160, 24)).columns if sys.stdout.isatty() else 160
    Console(width=width).print(table)


def _isna(v: object) -> bool:
    try:
        return bool(v != v) or v is None  # NaN or None
    except (TypeError, ValueError):
        return False


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}".replace(",", "\u202f").replace(".", ",")
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}".replace(",", "\u202f")
    return str(v)


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
            atomic_write_text(output, frame.to_string(index=False) + "\n")
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
