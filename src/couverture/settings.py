"""Paths and constants of the project (no I/O at import).

Every path is a :class:`pathlib.Path` constant. The data directory can be moved with the
``COUVERTURE_DATA`` environment variable (tests and notebooks point it at a temporary copy);
it defaults to ``./data`` of the project checkout, or of the current directory when the package
is installed elsewhere. The names of the reference files of ``data/raw`` are in
``config/sources.toml`` (:func:`couverture._config.source_path`), the vocabularies (stages,
sizes, funding, column titles) in ``config/`` (:mod:`couverture._config`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PACKAGE_DIR / "config"


def _project_root() -> Path:
    # src/couverture/settings.py -> project root when run from a checkout (editable install)
    candidate = PACKAGE_DIR.parent.parent
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


PROJECT_ROOT = _project_root()
DATA_DIR = Path(os.environ.get("COUVERTURE_DATA", PROJECT_ROOT / "data"))
RAW_DIR = DATA_DIR / "raw"
PROCESSED_DIR = DATA_DIR / "processed"
STORE_PATH = PROCESSED_DIR / "couverture.duckdb"
HISTORY_PATH = DATA_DIR / "historique.duckdb"
UNITS_PATH = PROCESSED_DIR / "units.parquet"
ADJACENCY_PATH = PROCESSED_DIR / "adjacency.parquet"
# DuckDB extensions are installed here, never in ~/.duckdb
EXTENSION_DIR = PROCESSED_DIR / "duckdb_extensions"
DEMO_REGISTRY_PATH = RAW_DIR / "registre_demo.csv"
MAPS_DIR = PROJECT_ROOT / "maps"

# Projected CRS for every measure (Lambert-93); WGS84 only for web maps.
CRS_METRIC = "EPSG:2154"
CRS_WEB = "EPSG:4326"

# Paris, Lyon, Marseille: handled as their arrondissements municipaux.
PLM_CITIES = ("75056", "69123", "13055")


def __getattr__(name: str) -> Any:
    """``STAGES`` and ``STAGE_LABELS``, derived on first use from ``config/`` (kept for the
    modules not yet reading :func:`couverture._config.stages` themselves)."""
    if name in ("STAGES", "STAGE_LABELS"):
        from couverture import _config

        if name == "STAGES":
            return _config.stage_codes()
        return {s.code: s.label for s in _config.stages()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
