"""Proposals against the real CPTS (``make bench-propositions``): leave one département out.

For each département of the real PACA registry (``../shared/data/cpts_reels``, January 2026),
every line of that département is removed from the registry, the proposals are computed
(``--stade-par-defaut aci``) and the partition of the département's units by recommended
proposal is compared with their partition by real CPTS (units claimed by exactly one real
CPTS), as are two plain baselines: the partition by EPCI and by bassin de vie.

Two measures, both 1 for identical partitions:

* ARI, the adjusted Rand index (Hubert & Arabie 1985) from the contingency table;
* population-weighted best-match Jaccard: each real CPTS is matched with the proposal whose
  population overlap ``pop(A ∩ B) / pop(A ∪ B)`` is largest, and these scores are averaged
  weighted by the population of the real CPTS.

A proposal label is its ``proposition_id`` for a creation and the CPTS extended for an
extension or a rattachement (two zones given to the same CPTS make one perimeter). Prints a
table and the means; says so and exits 0 when the real registry is absent. Another copy of the
registry can be given as first argument (``make bench-propositions REGISTRE_REEL=…``).
"""

from __future__ import annotations

import csv
import logging
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from couverture.settings import PROJECT_ROOT

REGISTRY = PROJECT_ROOT.parent / "shared" / "data" / "cpts_reels" / "cpts_paca_2026-01.csv"
DEPARTEMENTS = ("04", "05", "06", "13", "83", "84")


def _pairs(n: float) -> float:
    return n * (n - 1) / 2


def adjusted_rand_index(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Adjusted Rand index of two labellings of the same items (1 = same partition, about 0
    for independent ones)."""
    if len(a) != len(b):
        raise ValueError("labellings of different lengths")
    n = len(a)
    cells: dict[tuple[Hashable, Hashable], int] = defaultdict(int)
    rows: dict[Hashable, int] = defaultdict(int)
    cols: dict[Hashable, int] = defaultdict(int)
    for x, y in zip(a, b, strict=True):
        cells[(x, y)] += 1
        rows[x] += 1
        cols[y] += 1
    index = sum(_pairs(v) for v in cells.values())
    sum_rows = sum(_pairs(v) for v in rows.values())
    sum_cols = sum(_pairs(v) for v in cols.values())
    total = _pairs(n)
    expected = sum_rows * sum_cols / total if total else 0.0
    maximum = (sum_rows + sum_cols) / 2
    if maximum == expected:  # both partitions trivial (all singletons or one block)
        return 1.0
    return (index - expected) / (maximum - expected)


def weighted_jaccard(
    truth: Sequence[Hashable], found: Sequence[Hashable], weights: Sequence[float]
) -> float:
    """Best-match Jaccard of each ``truth`` group among the ``found`` groups (overlaps weighted
    by ``weights``), averaged weighted by the groups' weights."""
    cells: dict[tuple[Hashable, Hashable], float] = defaultdict(float)
    wt: dict[Hashable, float] = defaultdict(float)
    wf: dict[Hashable, float] = defaultdict(float)
    for t, f, w in zip(truth, found, weights, strict=True):
        cells[(t, f)] += w
        wt[t] += w
        wf[f] += w
    best: dict[Hashable, float] = defaultdict(float)
    for (t, f), inter in cells.items():
        union = wt[t] + wf[f] - inter
        if union > 0:
            best[t] = max(best[t], inter / union)
    total = sum(wt.values())
    return sum(wt[t] * best[t] for t in wt) / total if total else 1.0


def _without(registry: Path, departement: str, folder: Path) -> Path:
    """The real registry without the lines of ``departement``."""
    out = folder / f"cpts_sans_{departement}.csv"
    with registry.open(encoding="utf-8", newline="") as src, out.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        assert reader.fieldnames is not None
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
        writer.writeheader()
        writer.writerows(row for row in reader if row["dep"].strip().zfill(2) != departement)
    return out


def evaluate(registry: Path, departement: str, folder: Path) -> dict[str, float]:
    """Figures of one département (leave-one-out)."""
    import couverture
    from couverture.suggest import suggest, unit_blocks

    with couverture.analyse(registry, default_stage="aci", departements=departement) as a:
        real = a.units()
        blocks = unit_blocks(a).set_index("code")
    real = real[real["n_cpts"] == 1]
    truth = dict(zip(real["code"], real["cpts_ids"], strict=True))
    with couverture.analyse(
        _without(registry, departement, folder), default_stage="aci", departements=departement
    ) as a:
        props = suggest(a)
    label: dict[str, str] = {}
    rec = props[props["recommandee"] == "oui"]
    for option, cid, pid, communes in zip(
        rec["option"], rec["cpts_cible_id"], rec["proposition_id"], rec["communes"], strict=True
    ):
        key = pid if option == "creation" else f"cpts:{cid}"
        for code in communes.split():
            label[code] = key
    codes = sorted(c for c in truth if c in label)
    t = [truth[c] for c in codes]
    pop = [float(blocks.at[c, "population"]) for c in codes]
    row: dict[str, float] = {
        "reelles": len(set(t)),
        "propositions": len({label[c] for c in codes}),
        "unites": len(codes),
    }
    row.update(partition_scores(t, [label[c] for c in codes], codes, blocks, pop))
    return row


def partition_scores(
    truth: list, ours: list, codes: list[str], blocks: pd.DataFrame, pop: list
) -> dict[str, float]:
    """ARI and population-weighted Jaccard of our partition and of the EPCI and bassin-de-vie
    partitions of the same units, against the real CPTS (``truth``)."""
    out = {}
    for name, found in (
        ("nous", ours),
        ("epci", [blocks.at[c, "epci"] for c in codes]),
        ("bassin", [blocks.at[c, "bassin_vie"] for c in codes]),
    ):
        out[f"ari_{name}"] = adjusted_rand_index(truth, found)
        out[f"jac_{name}"] = weighted_jaccard(truth, found, pop)
    return out


def main(argv: list[str]) -> int:
    registry = Path(argv[0]) if argv else REGISTRY
    if not registry.exists():
        print(f"registre réel absent ({registry}) : banc des propositions non lancé")
        return 0
    logging.disable(logging.WARNING)
    start = time.perf_counter()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="couverture-bench-") as tmp:
        for dep in DEPARTEMENTS:
            rows[dep] = evaluate(registry, dep, Path(tmp))
    metrics = [f"{m}_{w}" for m in ("ari", "jac") for w in ("nous", "epci", "bassin")]
    head = f"{'dép.':5} {'réelles':>7} {'propos.':>7} " + " ".join(f"{m:>11}" for m in metrics)
    print(head)
    for dep, r in rows.items():
        values = " ".join(f"{r[m]:11.2f}" for m in metrics)
        print(f"{dep:5} {r['reelles']:7.0f} {r['propositions']:7.0f} {values}")
    means = {m: sum(r[m] for r in rows.values()) / len(rows) for m in metrics}
    print(f"{'moy.':5} {'':7} {'':7} " + " ".join(f"{means[m]:11.2f}" for m in metrics))
    worst = min(r["ari_nous"] - r["ari_epci"] for r in rows.values())

    def met(ok: bool) -> str:
        return "atteint" if ok else "non atteint"

    print(
        f"\nobjectifs : ARI moyen ≥ 0,64 : {met(means['ari_nous'] >= 0.64)} ; "
        f"Jaccard pondéré moyen ≥ 0,67 : {met(means['jac_nous'] >= 0.67)} ; "
        f"pire écart d'ARI à l'EPCI {worst:+.2f} (≥ −0,05 : {met(worst >= -0.05)})"
    )
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
