"""The cache door: one digest recipe, files written aside, eviction, invalidation, no lock."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import couverture
from couverture import _cache, settings

COMMAND = [sys.executable, "-m", "couverture.cli"]


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setattr(_cache, "cache_dir", lambda: folder)
    return folder


def test_frames_round_trip_exactly(private_cache: Path) -> None:
    frame = pd.DataFrame({"code": ["01001", "2A004"], "x": [1.5, None], "n": [1, 2]})
    _cache.put_frame("essai", "k" * 64, frame)
    pd.testing.assert_frame_equal(_cache.get_frame("essai", "k" * 64), frame)
    assert _cache.get_frame("essai", "j" * 64) is None
    assert _cache.get_frame("autre", "k" * 64) is None
    assert not list(private_cache.rglob(".tmp-*")), "no temporary file left"


def test_only_recent_registries_are_kept(private_cache: Path) -> None:
    for k in range(_cache.KEEP + 3):
        _cache.put_bytes("essai", f"{k:064d}", b"x")
        time.sleep(0.01)  # distinct modification times
    assert len(list(private_cache.iterdir())) == _cache.KEEP
    assert _cache.get_bytes("essai", f"{0:064d}") is None
    assert _cache.get_bytes("essai", f"{_cache.KEEP + 2:064d}") == b"x"


def test_unwritable_cache_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "fichier"
    blocker.write_text("pas un dossier")
    monkeypatch.setattr(_cache, "cache_dir", lambda: blocker / "cache")
    _cache.put_bytes("essai", "k" * 64, b"x")  # silently not cached
    assert _cache.get_bytes("essai", "k" * 64) is None


def test_one_digest_recipe(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"cpts_id;code_insee\nA;35238\n")
    assert _cache.digest(path) == _cache.digest_bytes(path.read_bytes())
    assert _cache.digest(path, "aci") != _cache.digest(path)
    with couverture.analyse(path) as a:
        assert a.registry_digest == _cache.digest(path)
        assert a.digest == _cache.registry_key(a.registry_digest, name="r.csv")


def test_key_changes_with_code_config_and_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fingerprint = "f" * 64

    def key(**kwargs: object) -> str:
        return _cache.registry_key(fingerprint, name="r.csv", **kwargs)  # type: ignore[arg-type]

    before = key()
    assert _cache.registry_key(fingerprint, name="autre.csv") != before
    # another configuration table (a new barème) → another key
    config = tmp_path / "pkg"
    shutil.copytree(settings.PACKAGE_DIR, config)
    funding = config / "config" / "financement.csv"
    funding.write_text(funding.read_text().replace("220000", "230000"))
    monkeypatch.setattr(settings, "PACKAGE_DIR", config)
    _cache.code_version.cache_clear()
    try:
        assert key() != before
    finally:
        monkeypatch.undo()
        _cache.code_version.cache_clear()
    assert key() == before
    # a rebuilt store (another file at the same place) → another key
    other = tmp_path / "store.duckdb"
    other.write_bytes(b"")
    assert key(store_path=other) != before


def test_an_open_analysis_never_blocks_a_command(demo_registry: Path, tmp_path: Path) -> None:
    """A notebook holding an analysis open: a CLI command beside it answers at once."""
    registry = tmp_path / "registre.csv"
    registry.write_bytes(demo_registry.read_bytes() + b"\n")  # never seen: computed, cached
    with couverture.analyse(registry, departements="35") as a:
        a.units()
        done = subprocess.run(
            [
                *COMMAND,
                "taux",
                "--registre",
                str(registry),
                "--departement",
                "35",
                "-q",
                "--format",
                "csv",
            ],
            capture_output=True,
            text=True,
            env={**os.environ},
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("code,nom,")
    assert "verrouillée" not in done.stderr  # no wait for the notebook's analysis


def test_first_sight_answers_the_other_commands_ahead(paca_registry: Path, tmp_path: Path) -> None:
    """`taux` on a new registry caches `zones-blanches` and `chevauchements` answers, which
    replay the same CSV and the same warnings as a computation would."""
    options = ["--stade-par-defaut", "aci", "--departement", "04,05", "--format", "csv"]
    first = tmp_path / "a" / "registre.csv"
    fresh = tmp_path / "b" / "registre.csv"
    for path in (first, fresh):
        path.parent.mkdir()
        path.write_bytes(paca_registry.read_bytes() + (b"\n" if path is first else b"\n\n"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*COMMAND, *args, *options], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done

    run("taux", "--registre", str(first))
    for command in ("zones-blanches", "chevauchements"):
        ahead = run(command, "--registre", str(first))
        computed = run(command, "--registre", str(fresh))
        assert ahead.stdout == computed.stdout
        assert ahead.stderr == computed.stderr
        assert "doublons ignorés" in ahead.stderr  # the registry's warnings, replayed


def test_same_bytes_under_another_name_is_not_served_the_first_name(
    demo_registry: Path, tmp_path: Path
) -> None:
    """Issue 13 case 2: results cached for `registre_demo_x.csv` are not served for `ars.csv`."""
    rows = demo_registry.read_text(encoding="utf-8").splitlines()
    kept = [rows[0], *[r for r in rows[1:] if r.split(",")[5] == "35"]]
    # without the `fictif` column, as in the issue: only the file name says "demo"
    text = "\n".join(",".join(r.split(",")[:7]) for r in kept) + "\n"
    demo_named = tmp_path / "registre_demo_x.csv"
    real_named = tmp_path / "ars.csv"
    demo_named.write_text(text, encoding="utf-8")
    real_named.write_text(text, encoding="utf-8")
    args = ["taux", "--departement", "35", "--format", "csv", "-q"]
    first = subprocess.run([*COMMAND, *args, "--registre", str(demo_named)], capture_output=True)
    second = subprocess.run([*COMMAND, *args, "--registre", str(real_named)], capture_output=True)
    assert first.returncode == second.returncode == 0
    assert b"registre fictif" in first.stdout  # named like the demo
    assert b"ars.csv" in second.stdout and b"fictif" not in second.stdout


def test_shared_analyses_read_the_registry_once_and_tell_its_warnings_to_each(
    paca_registry: Path, tmp_path: Path
) -> None:
    """`Analysis.shared()` copies reuse one parsed registry; each tells its warnings once."""
    from couverture.analysis import recording_log

    registry = tmp_path / "registre.csv"
    registry.write_bytes(paca_registry.read_bytes() + b"\n\n\n")  # never seen
    logger = logging.getLogger("couverture.registry")
    with couverture.analyse(registry, default_stage="aci", departements="04") as origin:
        first = origin.shared()
        with recording_log(logger) as told_first:
            first.units()  # the origin reads the registry on the copy's behalf…
            assert first.meta["registre"] == "registre.csv"  # …as the CLI's captions do
        second = origin.shared()
        with recording_log(logger) as told_second:
            second.zones()
            assert second.meta["registre"] == "registre.csv"
        assert "doublons ignorés" in " ".join(m for _, m in told_first)
        assert told_second == told_first  # replayed, in the same words, once
        assert second.registry is first.registry is origin.registry
        assert second.units().equals(origin.units())
        first.close()  # a copy leaves the shared connection open
        assert len(second.overlaps()) == len(origin.overlaps())


def test_copies_made_before_the_read_and_views_of_national_each_tell_the_warnings(
    paca_registry: Path, tmp_path: Path
) -> None:
    """Two copies made before the registry is read, and a copy of a national view, each get
    the warnings once (the first by the read it causes, the others replayed)."""
    from couverture.analysis import recording_log

    registry = tmp_path / "registre.csv"
    registry.write_bytes(paca_registry.read_bytes() + b"\n" * 4)
    logger = logging.getLogger("couverture.registry")
    with couverture.analyse(registry, default_stage="aci", departements="04") as origin:
        a, b = origin.shared(), origin.shared()
        told = []
        for copy in (a, b, origin.national().shared()):
            with recording_log(logger) as messages:
                copy.units()
                copy.units()  # told once, not at each use
            told.append(messages)
        assert told[0] and told[0] == told[1] == told[2]
        assert "doublons ignorés" in " ".join(m for _, m in told[0])


def test_closing_the_origin_leaves_its_copies_usable(paca_registry: Path) -> None:
    """`build_maps` closes the analysis it was given; copies reopen through their origin."""
    with couverture.analyse(paca_registry, default_stage="aci", departements="04") as a:
        full, copy = a.national(), a.shared()
        a.units()
        a.close()
        assert len(full.geometries(departements=("04",))) == 198
        assert copy.rates().loc[0, "code"] == "04"
        assert len(a.zones()) == len(copy.zones())


def test_a_registry_saved_again_during_first_sight_gets_no_answer_from_its_old_bytes(
    paca_registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answers computed ahead are keyed by the bytes actually read, not the file now."""
    from couverture import cli

    registry = tmp_path / "registre.csv"
    original = paca_registry.read_bytes() + b"\n" * 5
    lines = original.splitlines(keepends=True)
    edited = b"".join(lines[: len(lines) // 2])  # half the CPTS rows: other zones blanches
    registry.write_bytes(original)
    ahead = cli._answer_ahead

    def save_meanwhile(*args: object) -> None:
        registry.write_bytes(edited)  # the user saves the registry while taux runs
        ahead(*args)

    monkeypatch.setattr(cli, "_answer_ahead", save_meanwhile)
    options = ["--registre", str(registry), "--stade-par-defaut", "aci", "--format", "csv", "-q"]
    assert cli.main(["taux", *options]) == 0
    monkeypatch.setattr(cli, "_answer_ahead", ahead)
    # the file now holds the edited bytes: its answer is computed from them, not replayed
    # from the answers computed ahead from the original bytes
    replayed = subprocess.run(
        [*COMMAND, "zones-blanches", *options], capture_output=True, text=True, check=True
    )
    fresh = tmp_path / "frais.csv"
    fresh.write_bytes(edited + b"\n")
    options[1] = str(fresh)
    truth = subprocess.run(
        [*COMMAND, "zones-blanches", *options], capture_output=True, text=True, check=True
    )
    assert replayed.stdout.replace("registre.csv", "frais.csv") == truth.stdout


def test_a_cached_answer_starts_without_the_data_libraries(
    demo_registry: Path, tmp_path: Path
) -> None:
    """The second `taux … --format csv` replays its answer without importing pandas, NumPy,
    DuckDB, GeoPandas… nor the store (lazy imports live in the CLI's commands only); the first
    one, when computed (a registry never seen), does without GeoPandas, Shapely, SciPy and
    openpyxl."""
    registry = tmp_path / "registre.csv"
    registry.write_bytes(demo_registry.read_bytes() + b"\n" * 5)
    args = ["taux", "--registre", str(registry), "--departement", "35", "--format", "csv", "-q"]
    heavy = {"pandas", "numpy", "pyarrow", "duckdb", "geopandas", "shapely", "scipy", "openpyxl"}
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "couverture.cli", *args],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        imported = {
            line.rsplit("|", 1)[-1].strip()
            for line in done.stderr.splitlines()
            if line.startswith("import time:")
        }
        runs.append((done.stdout, imported))
    (computed, first), (replayed, second) = runs
    assert replayed == computed and computed.startswith("code,nom,")
    assert not first & {"geopandas", "shapely", "scipy", "openpyxl"}
    assert not second & heavy
    assert not second & {"couverture.store", "couverture.analysis", "couverture._geometry"}
