"""How a zone is cut into new CPTS perimeters: blocks (EPCIs, bassins de vie) then communes.

Whole EPCIs where they fit the band, an EPCI too big split along its bassins de vie, a part
still too big split by communes (balanced region growing from spread-out seeds), blocks under
the floor agglomerated with an adjacent one (see :mod:`couverture.suggest`).
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from couverture._suggest_context import _Band, _Context


def _split_among(
    ctx: _Context, units: list[int], *, base: dict[str, float], capacity: bool
) -> tuple[dict[str, list[int]], list[int]]:
    """Split units among the neighbouring CPTS by competitive region growing.

    Each atom (a unit, or an intact EPCI: :meth:`_Context.atoms`) goes to the CPTS that
    reaches it at the lowest cost (steps from the CPTS's border, plus the stage, bassin,
    EPCI, territory and plafond penalties), growing only from atoms it already took: every
    part is therefore contiguous with its CPTS. Returns the parts and the units no CPTS could
    take within its capacity.
    """
    g, p = ctx.graph, ctx.params["extension"]
    atoms = ctx.atoms(units)
    atom_of = {v: i for i, a in enumerate(atoms) for v in a}
    atom_pop = [g.population(a) for a in atoms]

    def step(i: int, cid: str, taken: float) -> float:
        a = atoms[i]
        w = [g.pop[v] + 1e-6 for v in a]
        cost = sum(
            wi * ctx.step_penalty(v, cid, territory=False) for wi, v in zip(w, a, strict=True)
        ) / sum(w)
        where = ctx.outside(a, cid)
        if where:
            cost += float(p["penalite_hors_territoire"][where])
        now = base[cid] + taken
        return cost + ctx.ceiling_cost(base[cid], now, now + atom_pop[i])

    heap = [
        (float(p["penalite_stade"][ctx.cpts.stade[cid]]) + step(i, cid, 0.0), -b, i, cid)
        for i, a in enumerate(atoms)
        for cid, b in ctx.neighbours(a).items()
    ]
    heapq.heapify(heap)
    owner: dict[int, str] = {}
    taken: dict[str, float] = defaultdict(float)
    while heap:
        cost, _, i, cid = heapq.heappop(heap)
        if i in owner:
            continue
        if capacity and not ctx.can_take(cid, base[cid], taken[cid] + atom_pop[i]):
            continue
        owner[i] = cid
        taken[cid] += atom_pop[i]
        border: dict[int, float] = defaultdict(float)
        for v in atoms[i]:
            for u, b in g.adj[v]:
                j = atom_of.get(u)
                if j is not None and j not in owner:
                    border[j] += b
        for j, b in border.items():
            heapq.heappush(heap, (cost + 1 + step(j, cid, taken[cid]), -b, j, cid))
    parts: dict[str, list[int]] = defaultdict(list)
    for i, cid in owner.items():
        parts[cid].extend(atoms[i])
    left = [v for v in units if atom_of[v] not in owner]
    return {c: sorted(vs) for c, vs in parts.items()}, left


def _seeds(ctx: _Context, comp: list[int], k: int) -> list[int]:
    """K populous, spread-out units.

    The most populous first, then the best compromise between population and distance to the
    seeds already chosen.
    """
    g = ctx.graph
    idx = np.array(comp)
    weight = np.sqrt(g.pop[idx] + 1.0)
    xy = np.nan_to_num(g.xy[idx])
    first = int(np.argmax(g.pop[idx]))
    chosen = [first]
    dmin = np.hypot(*(xy - xy[first]).T)
    for _ in range(k - 1):
        score = weight * dmin
        score[chosen] = -1.0
        nxt = int(np.argmax(score))
        chosen.append(nxt)
        dmin = np.minimum(dmin, np.hypot(*(xy - xy[nxt]).T))
    return [int(idx[i]) for i in chosen]


def _grow(
    ctx: _Context, comp: list[int], seeds: list[int], band: _Band, homes: list[str] | None = None
) -> tuple[list[list[int]], list[int]]:
    """Balanced region growing.

    The least populated region takes its best frontier unit (in its home bassin de vie first,
    then fewest steps from the seed, then longest shared border) unless that would pass the
    ceiling. Returns the regions and the units left.
    """
    g = ctx.graph
    inside = set(comp)
    owner = {s: r for r, s in enumerate(seeds)}
    rpop = [float(g.pop[s]) for s in seeds]
    home = homes or [g.bassin[s] for s in seeds]
    frontier: list[list[tuple[int, int, float, int]]] = [[] for _ in seeds]

    def push(r: int, v: int, steps: int) -> None:
        for u, b in g.adj[v]:
            if u in inside and u not in owner:
                heapq.heappush(frontier[r], (int(g.bassin[u] != home[r]), steps + 1, -b, u))

    steps_of = dict.fromkeys(seeds, 0)
    for r, s in enumerate(seeds):
        push(r, s, 0)
    queue = [(rpop[r], r) for r in range(len(seeds))]
    heapq.heapify(queue)
    while queue:
        _, r = heapq.heappop(queue)
        chosen = None
        while frontier[r]:
            _, steps, _, v = heapq.heappop(frontier[r])
            if v in owner or rpop[r] + g.pop[v] > band.high:
                continue
            chosen, steps_of[v] = v, steps
            break
        if chosen is None:
            continue
        owner[chosen] = r
        rpop[r] += g.pop[chosen]
        push(r, chosen, steps_of[chosen])
        heapq.heappush(queue, (rpop[r], r))
    regions: list[list[int]] = [[] for _ in seeds]
    for v, r in owner.items():
        regions[r].append(v)
    return [sorted(r) for r in regions], sorted(v for v in comp if v not in owner)


def _touching(ctx: _Context, region: list[int], regions: list[list[int]]) -> list[int]:
    """Positions in ``regions`` of the regions adjacent to ``region``."""
    where = {v: i for i, r in enumerate(regions) for v in r}
    found = {where[u] for v in region for u, _ in ctx.graph.adj[v] if u in where}
    return sorted(found)


def _merge_small(
    ctx: _Context,
    regions: list[list[int]],
    band: _Band,
    *,
    allow_over: bool,
    keep: set[int] | None = None,
) -> list[list[int]]:
    """Merge each region under the floor into the adjacent region giving the smallest union.

    (within the ceiling unless ``allow_over``); regions in ``keep`` (units above the ceiling)
    only receive units when ``allow_over``.
    """
    g = ctx.graph
    regions = [list(r) for r in regions]
    big = keep or set()
    while True:
        pops = [g.population(r) for r in regions]
        small = sorted(
            (pops[i], i) for i, r in enumerate(regions) if pops[i] < band.low and len(regions) > 1
        )
        merged = False
        for _, i in small:
            options = []
            for j in _touching(
                ctx, regions[i], [r if k != i else [] for k, r in enumerate(regions)]
            ):
                union = pops[i] + pops[j]
                if not allow_over and (union > band.high or regions[j][0] in big):
                    continue
                options.append((union > band.high, union, j))
            if options:
                _, _, j = min(options)
                regions[j] = sorted(regions[j] + regions[i])
                del regions[i]
                merged = True
                break
        if not merged:
            return regions


def _penalty(ctx: _Context, regions: list[list[int]], rest: list[int], band: _Band) -> float:
    """Inhabitants outside the bounds: left over, missing to the floor, beyond the ceiling."""
    g = ctx.graph
    pops = [g.population(r) for r in regions]
    return (
        g.population(rest)
        + sum(max(0.0, band.low - p) for p in pops)
        + sum(max(0.0, p - band.high) for p in pops)
    )


def _recentre(ctx: _Context, regions: list[list[int]]) -> tuple[list[int], list[str]]:
    """Return new seeds (the unit nearest each region's population centre) and home bassins.

    (the region's main bassin de vie) for another round of growth.
    """
    g = ctx.graph
    seeds, homes = [], []
    for r in regions:
        idx = np.array(r)
        w = g.pop[idx] + 1.0
        xy = np.nan_to_num(g.xy[idx])
        centre = (xy * w[:, None]).sum(axis=0) / w.sum()
        seeds.append(int(idx[np.argmin(np.hypot(*(xy - centre).T))]))
        by_bassin: dict[str, float] = defaultdict(float)
        for v in r:
            by_bassin[str(g.bassin[v])] += g.pop[v]
        homes.append(min(by_bassin, key=lambda b: (-by_bassin[b], b)))
    return seeds, homes


def _best_growth(
    ctx: _Context, comp: list[int], ks: list[int], band: _Band
) -> tuple[list[list[int]], list[int]]:
    """Grow k regions from spread-out seeds.

    Re-centre the seeds and grow again a few times (a Lloyd-like refinement), for each k; keep
    the growth with the fewest inhabitants out of bounds.
    """
    rounds = int(ctx.params["creation"]["iterations"])
    best: tuple[float, int, list[list[int]], list[int]] | None = None
    for k in ks:
        seeds, homes = _seeds(ctx, comp, k), None
        for _ in range(rounds):
            regions, rest = _grow(ctx, comp, seeds, band, homes)
            penalty = _penalty(ctx, regions, rest, band)
            if best is None or penalty < best[0]:
                best = (penalty, k, regions, rest)
            if penalty == 0:
                return regions, rest
            seeds, homes = _recentre(ctx, regions)
    assert best is not None
    return best[2], best[3]


def _partition(ctx: _Context, comp: list[int], band: _Band, depth: int = 0) -> list[list[int]]:
    """Split a connected set of units into contiguous regions within ``band``.

    Regions of ``band.low``–``band.high`` inhabitants where possible; regions outside the
    bounds remain when the units do not allow better.
    """
    g = ctx.graph
    total = g.population(comp)
    if total <= band.high or len(comp) == 1:
        return [comp]
    # the band's bounds are positive (_Context._calibrated); the guards keep it so
    k_min = math.ceil(total / max(band.high, 1.0))
    k_max = max(1, math.floor(total / max(band.low, 1.0)))
    k = min(max(round(total / max(band.target, 1.0)), k_min), k_max, len(comp))
    if k <= 1:
        return [comp]
    regions, rest = _best_growth(ctx, comp, sorted({k, min(k + 1, k_max, len(comp))}), band)
    for piece in ctx.components(rest):
        if g.population(piece) >= band.low and depth < 3:
            regions.extend(_partition(ctx, piece, band, depth + 1))
        else:
            regions.append(piece)
    regions = _merge_small(ctx, regions, band, allow_over=False)
    out: list[list[int]] = []
    for r in regions:
        if g.population(r) > band.high and len(r) > 1 and depth < 3:
            out.extend(_partition(ctx, r, band, depth + 1))
        else:
            out.append(r)
    return out


def _groups(ctx: _Context, units: list[int], key: np.ndarray) -> list[list[int]]:
    """Return connected parts of the units sharing each value of ``key`` (EPCI, bassin de vie)."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for v in units:
        by_key[str(key[v])].append(v)
    return [c for _, vs in sorted(by_key.items()) for c in ctx.components(vs)]


def _merge_blocks(
    ctx: _Context, blocks: list[list[int]], *, allow_over: bool = False
) -> list[list[int]]:
    """Agglomerate blocks under their calibrated floor, smallest first.

    Each with the adjacent block that keeps the union within the ceiling, preferring the same
    département, then the same main bassin de vie, then the smallest union (a
    contiguity-constrained agglomerative regionalisation). With ``allow_over``, a block that
    fits nowhere joins its smallest neighbour anyway.
    """
    g = ctx.graph
    parts = {i: list(b) for i, b in enumerate(blocks)}
    owner = {v: i for i, b in parts.items() for v in b}
    pop = {i: g.population(b) for i, b in parts.items()}
    band = {i: ctx.band(b) for i, b in parts.items()}
    dep = {i: g.main(g.dep, b) for i, b in parts.items()}
    bassin = {i: g.main(g.bassin, b) for i, b in parts.items()}
    whole = {i: pop[i] > band[i].high and ctx.whole_epci(b) for i, b in parts.items()}
    heap = [(pop[i], i) for i in parts if ctx.small(parts[i], pop[i], band[i])]
    heapq.heapify(heap)
    while heap and len(parts) > 1:
        p_i, i = heapq.heappop(heap)
        if i not in parts or p_i != pop[i]:
            continue
        border: dict[int, float] = defaultdict(float)
        for v in parts[i]:
            for u, b in g.adj[v]:
                j = owner.get(u)
                if j is not None and j != i:
                    border[j] += b
        options = []
        for j in border:
            union = pop[i] + pop[j]
            # a whole EPCI without CPTS may take a small neighbour within its taille class
            top = ctx.size(pop[j]) == ctx.size(union) and whole[j]
            over = union > max(band[i].high, band[j].high) and not top
            if over and not allow_over:
                continue
            options.append((over, dep[j] != dep[i], bassin[j] != bassin[i], union, j))
        if not options:
            continue
        j = min(options)[-1]
        for v in parts[i]:
            owner[v] = j
        parts[j].extend(parts.pop(i))
        pop[j] += pop.pop(i)
        band[j] = ctx.band(parts[j])
        dep[j], bassin[j] = g.main(g.dep, parts[j]), g.main(g.bassin, parts[j])
        whole[j] = False
        if ctx.small(parts[j], pop[j], band[j]):
            heapq.heappush(heap, (pop[j], j))
    return [sorted(b) for _, b in sorted(parts.items())]


def _block_partition(ctx: _Context, comp: list[int]) -> list[list[int]]:
    """Partition connected white units the way task forces draw CPTS.

    Whole EPCIs where they fit the calibrated band, an EPCI too big split along its bassins de
    vie, then by communes (balanced region growing); blocks too small then joined with their
    neighbours.
    """
    g = ctx.graph
    out: list[list[int]] = []
    tolerance = float(ctx.params["creation"]["tolerance_epci"])
    for piece in _groups(ctx, comp, g.epci):
        band = ctx.band(piece)
        fits = min(tolerance * band.high, float(ctx.ceiling))
        if g.population(piece) <= max(fits, band.high) or len(piece) == 1 or ctx.whole_epci(piece):
            out.append(piece)
            continue
        for sub in _merge_blocks(ctx, _groups(ctx, piece, g.bassin)):
            sub_band = ctx.band(sub)
            if g.population(sub) > sub_band.high and len(sub) > 1:
                out.extend(_partition(ctx, sub, sub_band))
            else:
                out.append(sub)
    return _merge_blocks(ctx, out)
