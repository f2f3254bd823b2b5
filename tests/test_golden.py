"""Golden test: every machine CSV of the CLI, on the demo and the real PACA registry, equals the
committed digest (``tests/golden/expected.json``).

Each case runs in a fresh process against a private copy of the store without cached results,
so the figures are computed, not replayed. After an intended change of output, regenerate with
``.venv/bin/python tests/golden/regenerate.py`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "raw" / "registre_demo.csv"
PACA = ROOT.parent / "shared" / "data" / "cpts_reels" / "cpts_paca_2026-01.csv"
PACA_DEPS = ["--departement", "04,05,06,13,83,84", "--stade-par-defaut", "aci"]

CASES: list[tuple[str, Path, list[str]]] = []
for _label, _registry, _extra in (("demo", DEMO, []), ("paca", PACA, PACA_DEPS)):
    CASES += [
        (f"{_label}-communes", _registry, ["communes", *_extra]),
        *[
            (f"{_label}-taux-{niveau}", _registry, ["taux", "--niveau", niveau, *_extra])
            for niveau in ("france", "region", "departement", "epci")
        ],
        (f"{_label}-zones-blanches", _registry, ["zones-blanches", *_extra]),
        (f"{_label}-chevauchements", _registry, ["chevauchements", *_extra]),
        (f"{_label}-suggestions", _registry, ["suggestions", *_extra]),
        (f"{_label}-verifier", _registry, ["verifier", *_extra]),
    ]
# the maps of the real registry (its file name dates it: nothing depends on the clock)
MAP_CASES: list[tuple[str, Path, list[str]]] = [
    ("paca-cartes-04", PACA, ["cartes", "--departement", "04", "--stade-par-defaut", "aci"]),
    ("paca-cartes-13-83", PACA, ["cartes", "--departement", "13,83", "--stade-par-defaut", "aci"]),
]
EXPECTED = ROOT / "tests" / "golden" / "expected.json"

_STORE_COPY: dict[str, Path] = {}


def _data_copy() -> Path:
    """A private data directory: processed files copied without the results cache."""
    if "dir" not in _STORE_COPY:
        src = ROOT / "data"
        tmp = Path(tempfile.mkdtemp(prefix="couverture-golden-"))
        (tmp / "processed").mkdir()
        shutil.copytree(src / "raw", tmp / "raw")
        for name in ("units.parquet", "adjacency.parquet"):
            shutil.copy2(src / "processed" / name, tmp / "processed" / name)
        (tmp / "processed" / "duckdb_extensions").symlink_to(
            src / "processed" / "duckdb_extensions"
        )
        env = {**os.environ, "COUVERTURE_DATA": str(tmp)}
        subprocess.run(
            [sys.executable, "-c", "from couverture import store; store.build_store()"],
            check=True,
            env=env,
        )
        _STORE_COPY["dir"] = tmp
    return _STORE_COPY["dir"]


def _fresh_store() -> dict[str, str]:
    """The environment of a case: a fresh store file, so that nothing computed by an earlier
    case can be replayed."""
    data = _data_copy()
    store = data / "processed" / "couverture.duckdb"
    pristine = data / "processed" / "pristine.duckdb"
    if not pristine.exists():
        shutil.copy2(store, pristine)
    shutil.copy2(pristine, store)
    return {**os.environ, "COUVERTURE_DATA": str(data)}


def run_maps(registry: Path, args: list[str]) -> dict[str, str] | None:
    """Run ``couverture cartes …`` in a fresh process, uncached; sha256 of each file written."""
    if not registry.exists():
        return None
    env = _fresh_store()
    with tempfile.TemporaryDirectory(prefix="couverture-golden-cartes-") as tmp:
        out = Path(tmp) / "cartes"
        cmd = [sys.executable, "-m", "couverture.cli", args[0], "--registre", str(registry)]
        cmd += [*args[1:], "--sortie", str(out), "-q"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def run_case(registry: Path, args: list[str]) -> str | None:
    """Run ``couverture ARGS --registre REGISTRY --format csv`` in a fresh process, uncached."""
    if not registry.exists():
        return None
    env = _fresh_store()
    cmd = [
        sys.executable,
        "-m",
        "couverture.cli",
        *args[:1],
        "--registre",
        str(registry),
        *args[1:],
        "--format",
        "csv",
        "-q",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name,registry,args", CASES, ids=[c[0] for c in CASES])
def test_cli_output_unchanged(name: str, registry: Path, args: list[str]) -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    if name.startswith("paca") and not PACA.exists():
        pytest.skip("../shared/data absent : registre réel PACA indisponible")
    text = run_case(registry, args)
    assert text is not None
    got = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "lignes": text.count("\n")}
    assert got == expected[name], f"{name} : sortie CSV modifiée"


@pytest.mark.slow
@pytest.mark.parametrize("name,registry,args", MAP_CASES, ids=[c[0] for c in MAP_CASES])
def test_maps_unchanged(name: str, registry: Path, args: list[str]) -> None:
    """The HTML maps, byte for byte (they hold no generated id, date or path of the run)."""
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    if not PACA.exists():
        pytest.skip("../shared/data absent : registre réel PACA indisponible")
    got = run_maps(registry, args)
    assert got == expected[name]["fichiers"], f"{name} : cartes modifiées"
