"""couverture: population coverage by CPTS, zones blanches, proposals, maps and reports.

The public API re-exported here is what notebooks use; each stage lives in its own module
(``sources``, ``registry``, ``store``, ``coverage``, ``zones``, ``suggest``, ``maps``,
``report``, ``cli``).
"""

from couverture._errors import (
    ArgumentError,
    CouvertureError,
    DataSourceError,
    HistoryError,
    RegistryError,
    StoreError,
)
from couverture.analysis import Analysis, analyse

__all__ = [
    "Analysis",
    "ArgumentError",
    "CouvertureError",
    "DataSourceError",
    "HistoryError",
    "RegistryError",
    "StoreError",
    "analyse",
]
__version__ = "0.1.0"
