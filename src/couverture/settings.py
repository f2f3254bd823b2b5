"""Paths and constants of the project (no I/O at import), resolved when used.

The data directory can be moved with the ``COUVERTURE_DATA`` environment variable (tests and
notebooks point it at a temporary copy), the configuration tables with ``COUVERTURE_CONFIG``;
both are read again at every use, so that changing them within one process (a notebook) takes
effect at once — call :func:`couverture.clear_caches` after moving the configuration, which is
read once. The data directory defaults to ``./data`` of the project checkout, or of the current
directory when the package is installed elsewhere. The names of the reference files of
``data/raw`` are in ``config/sources.toml`` (:func:`couverture._config.source_path`), the
vocabularies (stages, sizes, funding, column titles) in ``config/`` (:mod:`couverture._config`).

Examples
--------
>>> import os
>>> from couverture import settings
>>> before = os.environ.get("COUVERTURE_DATA")
>>> os.environ["COUVERTURE_DATA"] = "/tmp/ailleurs"
>>> settings.STORE_PATH.as_posix()
'/tmp/ailleurs/processed/couverture.duckdb'
>>> if before is None:
...     del os.environ["COUVERTURE_DATA"]
... else:
...     os.environ["COUVERTURE_DATA"] = before
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _project_root() -> Path:
    # src/couverture/settings.py -> project root when run from a checkout (editable install)
    candidate = PACKAGE_DIR.parent.parent
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


PROJECT_ROOT = _project_root()
MAPS_DIR = PROJECT_ROOT / "maps"

# Projected CRS for every measure (Lambert-93); WGS84 only for web maps.
CRS_METRIC = "EPSG:2154"
CRS_WEB = "EPSG:4326"

# Paris, Lyon, Marseille: handled as their arrondissements municipaux.
PLM_CITIES = ("75056", "69123", "13055")


def data_dir() -> Path:
    """Return the data directory: ``$COUVERTURE_DATA``, else ``data/`` of the project."""
    return Path(os.environ.get("COUVERTURE_DATA") or PROJECT_ROOT / "data")


def config_dir() -> Path:
    """Return the configuration directory: ``$COUVERTURE_CONFIG``, else the package's own."""
    return Path(os.environ.get("COUVERTURE_CONFIG") or PACKAGE_DIR / "config")


#: the paths that follow the environment, each computed at every use
_RESOLVED: dict[str, Callable[[], Path]] = {
    "DATA_DIR": data_dir,
    "CONFIG_DIR": config_dir,
    "RAW_DIR": lambda: data_dir() / "raw",
    "PROCESSED_DIR": lambda: data_dir() / "processed",
    "STORE_PATH": lambda: data_dir() / "processed" / "couverture.duckdb",
    "HISTORY_PATH": lambda: data_dir() / "historique.duckdb",
    "UNITS_PATH": lambda: data_dir() / "processed" / "units.parquet",
    "ADJACENCY_PATH": lambda: data_dir() / "processed" / "adjacency.parquet",
    # DuckDB extensions are installed here, never in ~/.duckdb
    "EXTENSION_DIR": lambda: data_dir() / "processed" / "duckdb_extensions",
    "DEMO_REGISTRY_PATH": lambda: data_dir() / "raw" / "registre_demo.csv",
}


def __getattr__(name: str) -> Path:
    """``DATA_DIR``, ``CONFIG_DIR``, ``STORE_PATH``… resolved from the environment when used.

    A test may still set one of them (``monkeypatch.setattr``): the module attribute then
    shadows this function until it is deleted.
    """
    try:
        return _RESOLVED[name]()
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
