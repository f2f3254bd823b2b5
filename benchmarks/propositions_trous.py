"""Proposals against the real CPTS where white zones really are: holes cut between CPTS.

Real zones blanches are mostly holes left between existing CPTS, where extensions of the
surrounding CPTS compete with creations. From the real PACA registry
(``../shared/data/cpts_reels``, January 2026), holes are cut by a rule, not by hand:

* seeds: in each département, its CPTS (by main département) ranked by decreasing population,
  every other one (ranks 1, 3, 5…), at most ``MAX_SEEDS`` per département;
* a hole: the seed and the ``NEIGHBOURS`` CPTS sharing the longest border with it (rook
  contiguity of their communes), removed from the registry; every other CPTS is kept.

The proposals (``--stade-par-defaut aci``) on the units the hole leaves white (those the removed
CPTS alone covered, among the units claimed by exactly one real CPTS) are compared with the
removed CPTS, as are the EPCI and bassin-de-vie partitions of the same units, by the ARI and the
population-weighted best-match Jaccard of :mod:`propositions_reelles`. A proposal label is its
``proposition_id`` for a creation and the CPTS extended for an extension (each surrounding CPTS
that takes part of the hole is one label). Prints one row per hole, the mean and the worst.
"""

from __future__ import annotations

import csv
import logging
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from propositions_reelles import DEPARTEMENTS, REGISTRY, partition_scores

MAX_SEEDS = 5
NEIGHBOURS = 2


def _holes(registry: Path) -> tuple[list[tuple[str, list[str]]], dict[str, str]]:
    """Return the holes (département of the seed, CPTS removed) and the CPTS names."""
    import couverture

    with couverture.analyse(registry, default_stage="aci") as a:
        cpts = a.cpts()
        members = a.registry.membership[["cpts_id", "code"]].astype(str)
        units = a.unit_table().set_index("code")
        adjacency = a.adjacency()
    of_unit: dict[str, set[str]] = defaultdict(set)
    for cid, code in zip(members["cpts_id"], members["code"], strict=True):
        of_unit[code].add(cid)
    border: dict[tuple[str, str], float] = defaultdict(float)
    for x, y, b in zip(
        adjacency["code_a"], adjacency["code_b"], adjacency["frontiere_m"], strict=True
    ):
        for cx in of_unit.get(x, ()):
            for cy in of_unit.get(y, ()):
                if cx != cy:
                    border[(cx, cy)] += b
    main_dep: dict[str, str] = {}
    for cid, group in members.groupby("cpts_id"):
        pops = units.loc[group["code"], ["departement", "population"]]
        main_dep[str(cid)] = str(pops.groupby("departement")["population"].sum().idxmax())
    holes = []
    for dep in DEPARTEMENTS:
        ranked = sorted(
            (c for c in cpts.index.astype(str) if main_dep.get(c) == dep),
            key=lambda c: (-float(cpts.at[c, "population"]), c),
        )
        for seed in ranked[1::2][:MAX_SEEDS]:
            near = sorted(
                ((b, c) for (s, c), b in border.items() if s == seed),
                key=lambda bc: (-bc[0], bc[1]),
            )
            holes.append((dep, [seed, *(c for _, c in near[:NEIGHBOURS])]))
    names = {str(k): str(v) for k, v in cpts["nom"].items()}
    return holes, names


def _without(registry: Path, removed: set[str], out: Path) -> Path:
    with registry.open(encoding="utf-8", newline="") as src, out.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        assert reader.fieldnames is not None
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
        writer.writeheader()
        writer.writerows(row for row in reader if row["cpts_id"].strip() not in removed)
    return out


def evaluate(registry: Path, removed: list[str], folder: Path) -> dict[str, float]:
    """Figures of one hole."""
    import couverture
    from couverture.suggest import suggest, unit_blocks

    with couverture.analyse(registry, default_stage="aci") as a:
        real = a.units()
        blocks = unit_blocks(a).set_index("code")
    real = real[real["n_cpts"] == 1]
    gone = set(removed)
    truth = {c: i for c, i in zip(real["code"], real["cpts_ids"], strict=True) if i in gone}
    deps = sorted({str(blocks.at[c, "departement"]) for c in truth})
    path = _without(registry, gone, folder / "trou.csv")
    with couverture.analyse(path, default_stage="aci", departements=",".join(deps)) as a:
        props = suggest(a)
    rec = props[props["recommandee"] == "oui"]
    label: dict[str, str] = {}
    for option, cid, pid, communes in zip(
        rec["option"], rec["cpts_cible_id"], rec["proposition_id"], rec["communes"], strict=True
    ):
        key = pid if option == "creation" else f"cpts:{cid}"
        for code in communes.split():
            label[code] = key
    codes = sorted(c for c in truth if c in label)
    t = [truth[c] for c in codes]
    pop = [float(blocks.at[c, "population"]) for c in codes]
    found = [label[c] for c in codes]
    row: dict[str, float] = {
        "reelles": len(set(t)),
        "propositions": len(set(found)),
        "extensions": len({f for f in found if f.startswith("cpts:")}),
        "population": sum(pop),
    }
    row.update(partition_scores(t, found, codes, blocks, pop))
    return row


def main(argv: list[str]) -> int:
    registry = Path(argv[0]) if argv else REGISTRY
    if not registry.exists():
        print(f"registre réel absent ({registry}) : banc des trous non lancé")
        return 0
    logging.disable(logging.WARNING)
    start = time.perf_counter()
    holes, names = _holes(registry)
    rows: list[tuple[str, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="couverture-trous-") as tmp:
        for dep, removed in holes:
            rows.append((dep, names[removed[0]], evaluate(registry, removed, Path(tmp))))
    metrics = [f"{m}_{w}" for m in ("ari", "jac") for w in ("nous", "epci", "bassin")]
    print(f"Trous entre CPTS : {len(rows)} trous (une CPTS et ses {NEIGHBOURS} voisines retirées)")
    head = f"{'dép.':5} {'trou (CPTS graine)':32} {'réel.':>5} {'prop.':>5} {'ext.':>4} "
    print(head + " ".join(f"{m:>10}" for m in metrics))
    for dep, name, r in rows:
        values = " ".join(f"{r[m]:10.2f}" for m in metrics)
        print(
            f"{dep:5} {name[:32]:32} {r['reelles']:5.0f} {r['propositions']:5.0f} "
            f"{r['extensions']:4.0f} {values}"
        )
    means = {m: sum(r[m] for _, _, r in rows) / len(rows) for m in metrics}
    worst = {m: min(r[m] for _, _, r in rows) for m in metrics}
    for label, figures in (("moyenne", means), ("pire", worst)):
        print(
            f"{label:5} {'':32} {'':5} {'':5} {'':4} "
            + " ".join(f"{figures[m]:10.2f}" for m in metrics)
        )
    by_dep: dict[str, list[dict[str, float]]] = defaultdict(list)
    for dep, _, r in rows:
        by_dep[dep].append(r)
    print("\npar département (moyennes) :")
    for dep, rs in sorted(by_dep.items()):
        values = " ".join(f"{sum(r[m] for r in rs) / len(rs):10.2f}" for m in metrics)
        print(f"{dep:5} {len(rs):3} trous {values}")

    def met(ok: bool) -> str:
        return "atteint" if ok else "non atteint"

    print(
        f"\nobjectifs : ARI moyen ≥ EPCI + 0,05 ({means['ari_epci'] + 0.05:.2f}) : "
        f"{met(means['ari_nous'] >= means['ari_epci'] + 0.05)} ; "
        f"Jaccard pondéré moyen ≥ EPCI ({means['jac_epci']:.2f}) : "
        f"{met(means['jac_nous'] >= means['jac_epci'])}"
    )
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
