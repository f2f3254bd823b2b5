"""Session fixtures: real units and adjacency built by ``make data`` (no network)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from couverture import settings

SHARED_DATA = settings.PROJECT_ROOT.parent / "shared" / "data"
PACA_REGISTRY = SHARED_DATA / "cpts_reels" / "cpts_paca_2026-01.csv"


@pytest.fixture(scope="session")
def units() -> pd.DataFrame:
    """All analysis units of France (no geometry), as built by ``make data``."""
    if not settings.UNITS_PATH.exists():
        pytest.fail(f"{settings.UNITS_PATH} absent : lancer `make data` avant les tests")
    return pd.read_parquet(settings.UNITS_PATH).drop(columns="geometry")


@pytest.fixture(scope="session")
def old_codes() -> pd.DataFrame:
    from couverture.sources import load_old_codes

    return load_old_codes()


@pytest.fixture(scope="session")
def paca_registry() -> Path:
    """The real PACA registry (unknown licence): tests using it skip when ../shared is absent."""
    if not PACA_REGISTRY.exists():
        pytest.skip("../shared/data absent : registre réel PACA indisponible")
    return PACA_REGISTRY
