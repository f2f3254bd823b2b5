"""couverture: population coverage by CPTS, zones blanches, proposals, maps and reports.

The public API re-exported here is what notebooks use; each stage lives in its own module
(``sources``, ``registry``, ``store``, ``coverage``, ``zones``, ``suggest``, ``maps``,
``report``, ``cli``).
"""

from typing import TYPE_CHECKING, Any

from couverture._config import clear_caches
from couverture._errors import (
    ArgumentError,
    CouvertureError,
    DataSourceError,
    HistoryError,
    RegistryError,
    StoreError,
)

if TYPE_CHECKING:
    from couverture.analysis import Analysis, analyse


def __getattr__(name: str) -> Any:
    """``Analysis`` and ``analyse``, imported on first use.

    A cached CLI answer is replayed without loading the analysis machinery.
    """
    if name in ("Analysis", "analyse"):
        from couverture import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Analysis",
    "ArgumentError",
    "CouvertureError",
    "DataSourceError",
    "HistoryError",
    "RegistryError",
    "StoreError",
    "analyse",
    "clear_caches",
]
__version__ = "0.1.0"
