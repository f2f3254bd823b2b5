"""Session fixtures: real units and adjacency built by ``make data`` (no network)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
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


@pytest.fixture(scope="session")
def demo_registry() -> Path:
    """The national demo registry (registre fictif) built by ``make data``."""
    if not settings.DEMO_REGISTRY_PATH.exists():
        pytest.fail(f"{settings.DEMO_REGISTRY_PATH} absent : lancer `make data`")
    return settings.DEMO_REGISTRY_PATH


def _write_registry(path: Path, rows: list[dict[str, object]]) -> Path:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def write_registry():
    """Factory: write registry rows (dicts) to a CSV file and return its path."""
    return _write_registry


@pytest.fixture(scope="session")
def dep_rows(units: pd.DataFrame):
    """Factory: registry rows giving every unit of a département (but ``skip``) to one CPTS."""

    def rows(dep: str, cpts: str, stade: str, *, skip: Iterable[str] = ()) -> list[dict]:
        skipped = set(skip)
        codes = units.loc[units["departement"] == dep, "code"]
        return [
            {"cpts_id": cpts, "nom_cpts": f"CPTS {cpts}", "stade": stade, "code_insee": c}
            for c in codes
            if c not in skipped
        ]

    return rows
