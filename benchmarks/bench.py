"""Benchmarks (``make bench``): couverture side by side with the hand-written GeoPandas + Folium
script of ``benchmarks/baseline_geopandas.py``, then the national jobs' own targets.

Every measured run is a fresh process on a registry never seen before: the demo registry is
copied under a new name with one CPTS renamed (a changed byte, a new digest), and couverture
reads a fresh copy of the store whose result cache is emptied. couverture and the script
alternate, three runs each; the table gives the median wall time and the median peak memory.
Peak memory is that of the whole process tree (the sum of the proportional set sizes of a
command and its worker processes, sampled every 100 ms, and never less than the largest
``ru_maxrss`` the kernel reports), so that spreading work over processes cannot hide memory.

A missed goal is reported (✘), never a failure: timings depend on the machine's load.

Usage: ``python benchmarks/bench.py [--travaux cartes,analyse,propres] [--runs 3]``
(``--travaux encodage``: only the Windows-1252 names-only registry beside the same in UTF-8).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COUVERTURE = str(BIN / "couverture")
BASELINE = str(ROOT / "benchmarks" / "baseline_geopandas.py")
REGISTRY = ROOT / "data" / "raw" / "registre_demo.csv"
ANALYSIS_COMMANDS = [["taux", "--niveau", "departement"], ["zones-blanches"], ["chevauchements"]]

Row = tuple[str, float, float, str]


# ------------------------------------------------------------------------------------------------
# measuring one process tree
# ------------------------------------------------------------------------------------------------
def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from ``/proc/*/task/*/children``)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(args: list[str], *, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command in a fresh process; return (wall seconds, peak memory MiB of its tree)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or os.environ.copy()
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(_pss_kib(p) for p in _tree(proc.pid)))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = proc.stderr.read().decode() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"échec de {' '.join(args)} :\n{err}")
    return wall, max(peak[0], usage.ru_maxrss) / 1024


# ------------------------------------------------------------------------------------------------
# fresh inputs: a registry never seen before, a store with an empty cache
# ------------------------------------------------------------------------------------------------
def fresh_registry(folder: Path, n: int) -> Path:
    """The demo registry under a new name, its first CPTS renamed (a new digest)."""
    text = REGISTRY.read_text(encoding="utf-8")
    _header, first, _ = text.split("\n", 2)
    name = first.split(",")[1]
    path = folder / f"registre_banc_{n}.csv"
    path.write_text(text.replace(f",{name},", f",{name} (banc {n}),"), encoding="utf-8")
    return path


def _drop_cache(store: Path) -> None:
    """Empty the per-registry cache of the copied store: "first sight" must mean it."""
    import duckdb

    con = duckdb.connect(str(store))
    try:
        con.execute("DROP TABLE IF EXISTS result_cache")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def fresh_data(folder: Path) -> dict[str, str]:
    """A private copy of the data folder (store with an empty cache); the environment using it."""
    data = folder / "data"
    (data / "processed").mkdir(parents=True)
    shutil.copytree(ROOT / "data" / "raw", data / "raw")
    for name in ("couverture.duckdb", "units.parquet", "adjacency.parquet"):
        shutil.copy2(ROOT / "data" / "processed" / name, data / "processed" / name)
    ext = ROOT / "data" / "processed" / "duckdb_extensions"
    if ext.exists():
        shutil.copytree(ext, data / "processed" / "duckdb_extensions")
    _drop_cache(data / "processed" / "couverture.duckdb")
    env = os.environ.copy()
    env["COUVERTURE_DATA"] = str(data)
    return env


# ------------------------------------------------------------------------------------------------
# the side-by-side table of issue 12
# ------------------------------------------------------------------------------------------------
def _ours_maps(folder: Path, n: int) -> tuple[float, float]:
    env = fresh_data(folder)
    reg = fresh_registry(folder, n)
    return run(
        [COUVERTURE, "-q", "cartes", "--registre", str(reg), "--sortie", str(folder / "m")], env=env
    )


def _theirs_maps(folder: Path, n: int) -> tuple[float, float]:
    reg = fresh_registry(folder, n)
    return run([sys.executable, BASELINE, str(reg), "--cartes", str(folder / "m")])


def _ours_analysis(folder: Path, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """The three commands at first sight, then again (second sight, from the cache)."""
    env = fresh_data(folder)
    reg = fresh_registry(folder, n)
    out = []
    for _sight in range(2):
        total, peak = 0.0, 0.0
        for cmd in ANALYSIS_COMMANDS:
            args = [COUVERTURE, "-q", cmd[0], "--registre", str(reg), *cmd[1:], "--format", "csv"]
            wall, mem = run(args, env=env)
            total, peak = total + wall, max(peak, mem)
        out.append((total, peak))
    return out[0], out[1]


def _theirs_analysis(folder: Path, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """The script has no cache: the second sight is another full run."""
    reg = fresh_registry(folder, n)
    first = run([sys.executable, BASELINE, str(reg), "--analyse"])
    second = run([sys.executable, BASELINE, str(reg), "--analyse"])
    return first, second


def _alternate(
    ours: Callable[[Path, int], object], theirs: Callable[[Path, int], object], runs: int
) -> tuple[list, list]:
    """Run both ``runs`` times, alternating (and alternating which one starts)."""
    a, b = [], []
    for i in range(runs):
        pair = [(ours, a), (theirs, b)] if i % 2 == 0 else [(theirs, b), (ours, a)]
        for func, sink in pair:
            with tempfile.TemporaryDirectory(prefix="couverture-banc-") as tmp:
                sink.append(func(Path(tmp), i))
    return a, b


def _median(values: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)


def _fr(x: float, decimals: int = 1) -> str:
    return f"{x:.{decimals}f}".replace(".", ",")


def _cell(wall: float, mem: float) -> str:
    return f"{_fr(wall)} s, {mem:.0f} Mio"


def comparison(jobs: set[str], runs: int) -> list[list[str]]:
    """The rows of the side-by-side table (median of ``runs`` alternate runs)."""
    table = []
    if "cartes" in jobs:
        ours, theirs = _alternate(_ours_maps, _theirs_maps, runs)
        (ow, om), (tw, tm) = _median(ours), _median(theirs)
        ok = ow / tw <= 0.5 and om <= 500
        table.append(
            [
                "`cartes` (101 départements + nationale) / analyse + 101 cartes Folium",
                _cell(ow, om),
                _cell(tw, tm),
                _fr(ow / tw, 2),
                "≤ 0,5, ≤ 500 Mio " + ("✔" if ok else "✘"),
                " / ".join(_fr(w) for w, _ in ours)
                + " s · "
                + " / ".join(_fr(w) for w, _ in theirs)
                + " s",
            ]
        )
    if "analyse" in jobs:
        ours, theirs = _alternate(_ours_analysis, _theirs_analysis, runs)
        for k, label, goal, limit in [
            (0, "`taux` + `zones-blanches` + `chevauchements`, première vue", "≤ 0,25", 0.25),
            (1, "les mêmes, seconde vue (cache)", "garder ≤ 0,1", 0.1),
        ]:
            (ow, om), (tw, tm) = _median([o[k] for o in ours]), _median([t[k] for t in theirs])
            table.append(
                [
                    label,
                    _cell(ow, om),
                    _cell(tw, tm),
                    _fr(ow / tw, 2),
                    goal + (" ✔" if ow / tw <= limit else " ✘"),
                    " / ".join(_fr(o[k][0]) for o in ours)
                    + " s · "
                    + " / ".join(_fr(t[k][0]) for t in theirs)
                    + " s",
                ]
            )
    return table


def print_comparison(table: list[list[str]], runs: int) -> None:
    head = ["travail", "couverture", "script GeoPandas + Folium", "rapport", "objectif", "essais"]
    print(
        f"\nmédiane de {runs} essais alternés, chacun un processus neuf sur un registre jamais vu"
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in table:
        print("| " + " | ".join(row) + " |")


# ------------------------------------------------------------------------------------------------
# couverture's own targets (a private store copy, emptied cache first)
# ------------------------------------------------------------------------------------------------
def report(rows: list[Row]) -> None:
    print(f"\n{'mesure':58} {'temps (s)':>10} {'mémoire max (Mio)':>18}  objectif")
    for name, wall, mem, target in rows:
        print(f"{name:58} {wall:10.2f} {mem:18.0f}  {target}")


def bench_analysis(env: dict[str, str]) -> list[Row]:
    rows = []
    for label in ("sans cache", "avec cache"):
        total = 0.0
        peak = 0.0
        for cmd in ANALYSIS_COMMANDS:
            args = [COUVERTURE, "-q", cmd[0], "--registre", str(REGISTRY), *cmd[1:]]
            wall, mem = run([*args, "--format", "csv"], env=env)
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


def bench_suggestions(env: dict[str, str]) -> list[Row]:
    """National ``couverture suggestions --format csv`` in a fresh process: ≤ 30 s, ≤ 1 Gio."""
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


def bench_maps(env: dict[str, str]) -> list[Row]:
    """``couverture cartes`` for all of France (101 département maps + index.html): ≤ 30 s;
    sizes: département median ≤ 1 Mo, largest ≤ 3 Mo, national ≤ 5 Mo."""
    out = Path(env["COUVERTURE_DATA"]) / "maps"
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


def bench_demo(env: dict[str, str]) -> list[Row]:
    """``couverture demo`` (the national registre fictif) in a fresh process: ≤ 15 s."""
    out = Path(env["COUVERTURE_DATA"]) / "registre_demo_bench.csv"
    wall, mem = run([COUVERTURE, "-q", "demo", "--sortie", str(out)], env=env)
    verdict = " ✔" if wall <= 15 else " ✘ DÉPASSÉ"
    return [("registre fictif national (couverture demo)", wall, mem, "≤ 15 s" + verdict)]


EXTRA_BENCHMARKS.append(("demo", bench_demo))


def names_only_registry(folder: Path, n: int, encoding: str) -> Path:
    """The demo registry as many ARS hold it: no id nor code column, the CPTS and commune
    names and the département only, ``;``-separated, saved in ``encoding`` (Excel on an ARS
    desktop writes Windows-1252); its first CPTS renamed (a registry never seen before)."""
    import csv
    import io

    with REGISTRY.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = rows[0]["nom_cpts"]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Nom de la CPTS", "Stade", "Commune", "Département"])
    for row in rows:
        name = row["nom_cpts"] + (f" (banc {n})" if row["nom_cpts"] == first else "")
        writer.writerow([name, row["stade"], row["nom_commune"], row["departement"]])
    path = folder / f"registre_noms_{encoding}_{n}.csv"
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def _first_sight(env: dict[str, str], registry: Path) -> tuple[float, float]:
    return run(
        [
            COUVERTURE,
            "-q",
            "taux",
            "--registre",
            str(registry),
            "--niveau",
            "departement",
            "--format",
            "csv",
        ],
        env=env,
    )


def bench_encodings(env: dict[str, str], runs: int = 3) -> list[Row]:
    """First sight (``taux``, a registry never seen) of a names-only national registry in
    Windows-1252 beside the same registry in UTF-8: within 10 %."""
    folder = Path(env["COUVERTURE_DATA"])
    times: dict[str, list[tuple[float, float]]] = {"utf-8": [], "cp1252": []}
    for i in range(runs):
        order = ["utf-8", "cp1252"] if i % 2 == 0 else ["cp1252", "utf-8"]
        for encoding in order:
            registry = names_only_registry(folder, 100 + i, encoding)
            times[encoding].append(_first_sight(env, registry))
    (uw, um), (cw, cm) = _median(times["utf-8"]), _median(times["cp1252"])
    ratio = cw / uw
    verdict = " ✔" if ratio <= 1.10 else " ✘ DÉPASSÉ"
    tries = " / ".join(f"{w:.2f}" for w, _ in times["cp1252"])
    return [
        ("registre noms seuls national, UTF-8 : taux, première vue", uw, um, ""),
        (
            "le même en Windows-1252 : taux, première vue",
            cw,
            cm,
            f"rapport {ratio:.2f} ≤ 1,10{verdict} (essais {tries} s)",
        ),
    ]


EXTRA_BENCHMARKS.append(("encodage", bench_encodings))


def bench_annuaire(env: dict[str, str]) -> list[Row]:
    """``couverture professionnels`` on a 2-million-line RPPS extract (benchmarks/annuaire.py)."""
    from annuaire import bench_annuaire as bench

    return bench(env)


EXTRA_BENCHMARKS.append(("annuaire", bench_annuaire))


def main() -> None:
    parser = argparse.ArgumentParser(description="couverture face au script GeoPandas + Folium")
    parser.add_argument(
        "--travaux",
        default="cartes,analyse,propres",
        help="cartes, analyse (tableau comparé) et/ou propres (objectifs de couverture seule, "
        "dont encodage : registre Windows-1252 face au même en UTF-8, seul si demandé seul)",
    )
    parser.add_argument("--runs", type=int, default=3, help="essais alternés (médiane)")
    args = parser.parse_args()
    jobs = set(args.travaux.split(","))
    if not REGISTRY.exists():
        raise SystemExit(f"{REGISTRY} absent : lancer `make data`")
    # the package's bytecode as an install leaves it (pip compiles what it installs; the
    # editable source tree is compiled here, so that no run pays for compiling it — the
    # baseline script, run as __main__, is compiled on every run in any case)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
    print(f"registre : {REGISTRY} (registre fictif) · {os.cpu_count()} cœurs")
    table = comparison(jobs, args.runs)
    if table:
        print_comparison(table, args.runs)
    if "encodage" in jobs and "propres" not in jobs:  # this measure alone
        with tempfile.TemporaryDirectory(prefix="couverture-banc-") as tmp:
            report(bench_encodings(fresh_data(Path(tmp)), args.runs))
    if "propres" in jobs:
        with tempfile.TemporaryDirectory(prefix="couverture-banc-") as tmp:
            env = fresh_data(Path(tmp))
            rows = bench_analysis(env)
            for _name, func in EXTRA_BENCHMARKS:
                rows.extend(func(env))
        report(rows)


if __name__ == "__main__":
    main()
