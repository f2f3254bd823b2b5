"""A notebook's process: data and configuration directories moved, caches cleared, figures drawn.

Nothing is frozen at import: ``COUVERTURE_DATA`` and ``COUVERTURE_CONFIG`` are read when used,
``couverture.clear_caches()`` forgets every cached reading, and the report's charts leave the
notebook's matplotlib backend as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import couverture
from couverture import _cache, _registry_read, report, settings, store

SAINT_MALO = "35288"


def _saint_malo(registry: Path) -> list[object]:
    with couverture.analyse(registry) as a:
        return a.cpts().loc["A", ["population", "taille", "financement_max"]].tolist()


def _second_data_directory(root: Path, population: int) -> Path:
    """The same reference files, Saint-Malo's population changed in a copy of the store."""
    processed = root / "processed"
    processed.mkdir(parents=True)
    for name in ("units.parquet", "adjacency.parquet", "duckdb_extensions"):
        (processed / name).symlink_to(settings.PROCESSED_DIR / name)
    shutil.copy2(settings.STORE_PATH, processed / "couverture.duckdb")
    con = store.connect(processed / "couverture.duckdb", read_only=False, spatial=True)
    try:
        con.execute("UPDATE units SET population = ? WHERE code = ?", [population, SAINT_MALO])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return root


def test_data_and_config_directories_follow_the_environment_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, units: pd.DataFrame, write_registry
) -> None:
    rows = [{"cpts_id": "A", "nom_cpts": "CPTS A", "stade": "aci", "code_insee": SAINT_MALO}]
    registry = write_registry(tmp_path / "r.csv", rows)
    population = int(units.set_index("code").loc[SAINT_MALO, "population"])
    assert 40_000 <= population < 80_000  # taille 2 by the instruction
    assert _saint_malo(registry) == [population, 2, 287_000]

    data = _second_data_directory(tmp_path / "data", 39_000)
    config = tmp_path / "config"
    shutil.copytree(settings.CONFIG_DIR, config)
    text = (config / "financement.csv").read_text(encoding="utf-8")
    (config / "financement.csv").write_text(
        text.replace("avenant2,1,220000", "avenant2,1,230000"), encoding="utf-8"
    )
    with (config / "vocabulaire_stades.csv").open("a", encoding="utf-8") as fh:
        fh.write("convention,4,Convention signée,convention,#000000,#000000\n")
    assert "taux_convention" not in report.RATE_COLUMNS
    monkeypatch.setenv("COUVERTURE_DATA", str(data))
    monkeypatch.setenv("COUVERTURE_CONFIG", str(config))
    couverture.clear_caches()
    try:
        # the report's columns follow the stage vocabulary of the new config (not frozen)
        assert report.RATE_COLUMNS[-1] == "taux_convention"
        assert "pop_convention" in report.HISTORY_COLUMNS
        assert settings.data_dir() == data
        assert settings.STORE_PATH.parent == data / "processed"
        assert _cache.cache_dir() == data / "processed" / "cache"
        # the new store and the new barème, in the same process
        assert _saint_malo(registry) == [39_000, 1, 230_000]
        assert any((data / "processed" / "cache").iterdir())  # cached beside the new store
    finally:
        monkeypatch.undo()
        couverture.clear_caches()
    assert settings.STORE_PATH == settings.PROJECT_ROOT / "data/processed/couverture.duckdb"
    assert _saint_malo(registry) == [population, 2, 287_000]


def test_a_data_directory_without_store_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_registry: Path
) -> None:
    monkeypatch.setenv("COUVERTURE_DATA", str(tmp_path))
    with (
        pytest.raises(couverture.StoreError, match=str(tmp_path)),
        couverture.analyse(demo_registry) as a,
    ):
        a.rates()


def test_clear_caches_forgets_every_cached_reading() -> None:
    _registry_read._column_aliases()
    _cache.code_version()
    assert _registry_read._column_aliases.cache_info().currsize == 1
    assert _cache.code_version.cache_info().currsize == 1
    couverture.clear_caches()
    assert _registry_read._column_aliases.cache_info().currsize == 0
    assert _cache.code_version.cache_info().currsize == 0


def test_charts_leave_the_notebook_backend_alone(tmp_path: Path) -> None:
    import matplotlib

    from couverture.report import chart_months

    backend = matplotlib.rcParams._get_backend_or_none()  # type: ignore[attr-defined]
    months = pd.DataFrame(
        {
            "mois": ["2026-10", "2026-11"],
            "taux_lettre_intention": [40.0, 45.0],
            "taux_projet_sante": [30.0, 32.0],
            "taux_aci": [20.0, 21.0],
        }
    )
    chart_months(months, tmp_path / "mois.png")
    assert (tmp_path / "mois.png").read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.rcParams._get_backend_or_none() == backend  # type: ignore[attr-defined]
