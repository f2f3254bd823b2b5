"""Benchmarks (``make bench``): wall time and peak memory of the national jobs on the demo
registry, each command in a cold process. Prints a table and checks the targets (a missed
target is reported, never a test failure)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COUVERTURE = str(BIN / "couverture")
REGISTRY = ROOT / "data" / "raw" / "registre_demo.csv"


def run(args: list[str], *, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command in a cold process; return (wall seconds, peak RSS MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or os.environ.copy()
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"échec de {' '.join(args)} :\n{err}")
    return wall, usage.ru_maxrss / 1024


def report(rows: list[tuple[str, float, float, str]]) -> None:
    print(f"{'mesure':58} {'temps (s)':>10} {'mémoire max (Mio)':>18}  objectif")
    for name, wall, mem, target in rows:
        print(f"{name:58} {wall:10.2f} {mem:18.0f}  {target}")


def bench_analysis(store_copy: Path) -> list[tuple[str, float, float, str]]:
    env = os.environ.copy()
    env["COUVERTURE_DATA"] = str(store_copy)
    rows = []
    commands = [
        ["taux", "--niveau", "departement"],
        ["zones-blanches"],
        ["chevauchements"],
    ]
    for label in ("sans cache", "avec cache"):
        total = 0.0
        peak = 0.0
        for cmd in commands:
            wall, mem = run(
                [
                    COUVERTURE,
                    "-q",
                    cmd[0],
                    "--registre",
                    str(REGISTRY),
                    *cmd[1:],
                    "--format",
                    "csv",
                ],
                env=env,
            )
            rows.append((f"  {cmd[0]} national ({label})", wall, mem, ""))
            total += wall
            peak = max(peak, mem)
        target = "≤ 3 s au total" if label == "avec cache" else ""
        verdict = "" if not target else (" ✔" if total <= 3 else " ✘ DÉPASSÉ")
        rows.append(
            (f"taux + zones-blanches + chevauchements ({label})", total, peak, target + verdict)
        )
    return rows


EXTRA_BENCHMARKS: list = []  # later stages (suggestions, cartes) append (name, function) here


def bench_suggestions(store_copy: Path) -> list[tuple[str, float, float, str]]:
    """National ``couverture suggestions --format csv`` in a cold process: ≤ 30 s, ≤ 1 Gio."""
    env = os.environ.copy()
    env["COUVERTURE_DATA"] = str(store_copy)
    rows = []
    for label in ("sans cache", "avec cache"):
        wall, mem = run(
            [COUVERTURE, "-q", "suggestions", "--registre", str(REGISTRY), "--format", "csv"],
            env=env,
        )
        target = "≤ 30 s, ≤ 1024 Mio"
        verdict = " ✔" if wall <= 30 and mem <= 1024 else " ✘ DÉPASSÉ"
        rows.append((f"suggestions national ({label})", wall, mem, target + verdict))
    return rows


EXTRA_BENCHMARKS.append(("suggestions", bench_suggestions))


def bench_maps(store_copy: Path) -> list[tuple[str, float, float, str]]:
    """``couverture cartes`` for all of France (101 département maps + index.html) in a cold
    process: ≤ 30 s; sizes: département median ≤ 1 Mo, largest ≤ 3 Mo, national ≤ 5 Mo."""
    import statistics

    env = os.environ.copy()
    env["COUVERTURE_DATA"] = str(store_copy)
    out = store_copy / "maps"
    wall, mem = run(
        [COUVERTURE, "-q", "cartes", "--registre", str(REGISTRY), "--sortie", str(out)], env=env
    )
    rows = [
        (
            "cartes : 101 départements + nationale",
            wall,
            mem,
            "≤ 30 s" + (" ✔" if wall <= 30 else " ✘ DÉPASSÉ"),
        )
    ]
    sizes = {p.name: p.stat().st_size / 1e6 for p in out.glob("departement-*.html")}
    national = (out / "index.html").stat().st_size / 1e6
    median = statistics.median(sizes.values())
    largest = max(sizes, key=sizes.__getitem__)
    for name, value, limit in [
        (f"  taille médiane d'une carte ({len(sizes)} départements, Mo)", median, 1),
        (f"  taille max ({largest}, Mo)", sizes[largest], 3),
        ("  taille carte nationale (Mo)", national, 5),
    ]:
        verdict = " ✔" if value <= limit else " ✘ DÉPASSÉ"
        rows.append((name, value, 0.0, f"≤ {limit} Mo{verdict}"))
    return rows


EXTRA_BENCHMARKS.append(("cartes", bench_maps))


def bench_demo(store_copy: Path) -> list[tuple[str, float, float, str]]:
    """``couverture demo`` (the national registre fictif) in a cold process: ≤ 15 s."""
    env = os.environ.copy()
    env["COUVERTURE_DATA"] = str(store_copy)
    out = store_copy / "registre_demo_bench.csv"
    wall, mem = run([COUVERTURE, "-q", "demo", "--sortie", str(out)], env=env)
    verdict = " ✔" if wall <= 15 else " ✘ DÉPASSÉ"
    return [("registre fictif national (couverture demo)", wall, mem, "≤ 15 s" + verdict)]


EXTRA_BENCHMARKS.append(("demo", bench_demo))


def _drop_cache(store: Path) -> None:
    """Empty the per-registry cache of the copied store: "sans cache" must mean it."""
    import duckdb

    con = duckdb.connect(str(store))
    try:
        con.execute("DROP TABLE IF EXISTS result_cache")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def main() -> None:
    if not REGISTRY.exists():
        raise SystemExit(f"{REGISTRY} absent : lancer `make data`")
    print(f"registre : {REGISTRY} (registre fictif) · {os.cpu_count()} cœurs")
    with tempfile.TemporaryDirectory() as tmp:
        # a private copy of the store, so that the measure starts with an empty cache
        data = Path(tmp) / "data"
        shutil.copytree(ROOT / "data" / "raw", data / "raw")
        (data / "processed").mkdir()
        for name in ("couverture.duckdb", "units.parquet", "adjacency.parquet"):
            shutil.copy2(ROOT / "data" / "processed" / name, data / "processed" / name)
        _drop_cache(data / "processed" / "couverture.duckdb")
        ext = ROOT / "data" / "processed" / "duckdb_extensions"
        if ext.exists():
            shutil.copytree(ext, data / "processed" / "duckdb_extensions")
        rows = bench_analysis(data)
        for _name, func in EXTRA_BENCHMARKS:
            rows.extend(func(data))
    report(rows)


if __name__ == "__main__":
    main()
