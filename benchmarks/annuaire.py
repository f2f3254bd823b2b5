"""Benchmark (``make bench-annuaire``, also part of ``make bench``): ``couverture professionnels``
on a national-size RPPS extract.

A fictitious extract in the published layout of ``PS_LibreAcces_Personne_activite`` (53 fields
a line, every person « FICTIF ») is generated over all the communes of France with about
2 million lines (the size of the real national file), then the national command
``couverture professionnels --registre <demo> --annuaire <extract> --format csv`` runs in a
fresh process on a private store copy with an empty cache. Goal: ≤ 30 s and ≤ 1 Gio (peak of
the process tree, as in ``bench.py``).

Usage: ``python benchmarks/annuaire.py [--lignes 2000000]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import COUVERTURE, REGISTRY, ROOT, Row, fresh_data, report, run

TARGET_LINES = 2_000_000


def write_extract(path: Path, lines: int) -> tuple[int, float]:
    """Write a fictitious national extract of about ``lines`` lines; return lines and MB."""
    import pandas as pd

    from couverture._annuaire_demo import lines_per_inhabitant, write_annuaire

    units = pd.read_parquet(
        ROOT / "data" / "processed" / "units.parquet",
        columns=["code", "nom", "departement", "population"],
    )
    scale = lines / (lines_per_inhabitant() * float(units["population"].sum()))
    _, written = write_annuaire(path, units, seed=23, scale=scale)
    return written, path.stat().st_size / 1e6


def bench_annuaire(env: dict[str, str], *, lines: int = TARGET_LINES) -> list[Row]:
    """Generate the extract, then time the national ``professionnels`` command."""
    folder = Path(env["COUVERTURE_DATA"])
    extract = folder / "PS_LibreAcces_Personne_activite_fictif.txt"
    start = time.perf_counter()
    written, size = write_extract(extract, lines)
    generated = time.perf_counter() - start
    out = folder / "professionnels.csv"
    args = [COUVERTURE, "-q", "professionnels", "--registre", str(REGISTRY)]
    wall, mem = run([*args, "--annuaire", str(extract), "--sortie", str(out)], env=env)
    verdict = " ✔" if wall <= 30 and mem <= 1024 else " ✘ DÉPASSÉ"
    return [
        (
            f"  extraction fictive : {written:,} lignes, {size:.0f} Mo (génération)",
            generated,
            0.0,
            "",
        ),
        (
            "professionnels national (annuaire RPPS, par CPTS)",
            wall,
            mem,
            "≤ 30 s, ≤ 1024 Mio" + verdict,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="couverture professionnels, annuaire national")
    parser.add_argument("--lignes", type=int, default=TARGET_LINES, help="lignes de l'extraction")
    args = parser.parse_args()
    if not REGISTRY.exists():
        raise SystemExit(f"{REGISTRY} absent : lancer `make data`")
    with tempfile.TemporaryDirectory(prefix="couverture-banc-annuaire-") as tmp:
        env = fresh_data(Path(tmp))
        rows = bench_annuaire(env, lines=args.lignes)
    report(rows)


if __name__ == "__main__":
    main()
