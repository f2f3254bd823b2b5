"""Proposals to cover every zone blanche: extension, creation or rattachement temporaire.

For each zone blanche (see :mod:`couverture.zones`), in order of priority (population):

* **création** when the zone holds at least the calibrated floor: the zone is partitioned the
  way task forces draw CPTS, from the blocks they use: whole EPCIs where they fit the band
  (up to ``tolerance_epci`` times its upper bound, within the ceiling), an EPCI too big split
  along its bassins de vie, a part still too big split by communes (balanced region growing
  from populous, spread-out seeds, each perimeter filling its seed's bassin de vie first);
  blocks under the floor are then agglomerated with an adjacent block (same département
  first, then same bassin de vie, smallest union within the upper bound: a
  contiguity-constrained agglomerative regionalisation). Perimeters are named after their
  most populous commune; a unit above the upper bound is a perimeter of its own; a remnant
  too small for a CPTS goes to neighbouring CPTS of the same territory with room, else joins
  an adjacent perimeter (the ``motif`` says why a bound is not met);
* **extension** of the neighbouring CPTS otherwise: the zone is split among them by
  competitive region growing from the units bordering each CPTS (a mature CPTS starts ahead
  of a young one; a step costs more out of the CPTS's bassins de vie, in an EPCI the CPTS
  holds little of, and across a département or région boundary, which is then flagged in
  ``hors_territoire``), so that every part is contiguous with the CPTS that takes it; a CPTS
  stops taking units before it would pass the ceiling, and a CPTS at lettre d'intention
  stage before it grows by more than half;
* **rattachement temporaire** (with mentorat) to the nearest CPTS at ACI stage that stays
  within the ceiling (else the nearest), by distance between unit centroids in the same
  territory (mainland, Corsica, each DROM), when no neighbouring CPTS can take the zone
  (islands, or every neighbour would pass the ceiling). Where the territory has no ACI CPTS
  at all, a CPTS is proposed for creation whatever its size, and the motif says why.

**Calibration.** The band of a new CPTS (floor, aim, upper bound) is read at run time from the
registry itself: the quartiles of the populations of the existing CPTS of the same
département and density class (inhabitants per km², classes of ``[calibration]`` in
``propositions.toml``), else of the région and density class, else of the département, else
of the région; outliers are left out first (Tukey's fences on the logarithm of the
populations: a CPTS listed with its seat commune only calibrates nothing). The
``floor``/``ceiling`` options are the fallback when fewer than ``min_cpts`` CPTS are found,
and always bound the band: ``floor <= low < high <= ceiling`` whatever the registry. Nothing
is set for a département or a région: another registry gets the same treatment. ``make
bench-propositions`` measures the result against the real PACA CPTS, one département left
out at a time.

The recommended scenario of a zone has ``rang`` 1 and ``recommandee = "oui"``; ranked
alternatives (whole zone to one neighbour, split among neighbours, next nearest mature CPTS)
follow with ``rang`` 2, 3… Each row states the taille and maximum ACI funding of the CPTS
before and after; zones are processed nationally by decreasing population, so that a CPTS
extended for a more populous zone counts its new population when a later zone is considered
(the ``avant`` columns then include the extensions already proposed, and the funding deltas of
the recommended rows add up).

Examples
--------
>>> import couverture
>>> from couverture.suggest import suggest
>>> with couverture.analyse("data/raw/registre_demo.csv", departements="35") as a:
...     proposals = suggest(a)  # doctest: +SKIP
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from couverture._config import funding_table, size_class, sources, stage, toml
from couverture._format import integer
from couverture._validate import check_bounds
from couverture.settings import CRS_WEB

if TYPE_CHECKING:
    import geopandas as gpd

    from couverture.analysis import Analysis

log = logging.getLogger(__name__)


OPTIONS = ("extension", "creation", "rattachement_temporaire")

COLUMNS = [
    "zone_id",
    "departement",
    "option",
    "recommandee",
    "cpts_cible",
    "communes",
    "population_ajoutee",
    "population_resultante",
    "taille_avant",
    "taille_apres",
    "financement_max_avant",
    "financement_max_apres",
    "priorite",
    "motif",
    "cpts_cible_id",
    "nom_propose",
    "n_communes",
    "rang",
    "population_zone",
    "proposition_id",
    "hors_territoire",
    "details",
]


def _params() -> dict[str, Any]:
    return toml("propositions.toml")


def _communes(n: int) -> str:
    return f"{n} commune" + ("s" if n > 1 else "")


def _km(metres: float) -> str:
    return f"{metres / 1000:.1f}".replace(".", ",") + " km"


def _territory(departement: str) -> str:
    """Where a rattachement may look for a mature CPTS: one DROM, Corsica, or the mainland."""
    if departement in ("2A", "2B"):
        return "corse"
    if len(departement) == 3:
        return departement
    return "metropole"


# ------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------
def _store_tables(analysis: Analysis) -> tuple[pd.DataFrame, dict[str, str]]:
    """Return the units (with EPCI, bassin de vie, area) and the EPCI names.

    From the analysis (the one door to the store).
    """
    columns = ["code", "nom", "departement", "region", "population", "bassin_vie"]
    units = analysis.unit_table()[[*columns, "nom_bassin_vie", "epci", "superficie_km2", "x", "y"]]
    units = units.fillna({"bassin_vie": "", "nom_bassin_vie": "", "epci": ""})
    names = analysis.territories("epci")
    return units, {str(c): str(n) for c, n in zip(names["code"], names["nom"], strict=True)}


def unit_blocks(analysis: Analysis) -> pd.DataFrame:
    """Return the blocks proposals are built from, per unit.

    ``code``, ``departement``, ``region``, ``population``, ``epci``, ``bassin_vie`` and
    ``superficie_km2`` (all of France).
    """
    units, _ = _store_tables(analysis)
    cols = ["code", "departement", "region", "population", "epci", "bassin_vie", "superficie_km2"]
    return units[cols].reset_index(drop=True)


@dataclass
class _Graph:
    """Units and rook adjacency as integer arrays (position = row of ``codes``)."""

    codes: np.ndarray
    nom: np.ndarray
    dep: np.ndarray
    pop: np.ndarray
    bassin: np.ndarray
    nom_bassin: dict[str, str]
    epci: np.ndarray
    nom_epci: dict[str, str]
    region: np.ndarray
    area: np.ndarray
    xy: np.ndarray
    placed: np.ndarray
    adj: list[list[tuple[int, float]]]
    index: dict[str, int]

    @classmethod
    def load(cls, analysis: Analysis) -> _Graph:
        units, epci_names = _store_tables(analysis)
        codes = units["code"].to_numpy(dtype=object)
        # the analysis's rook graph: same units, in the same (code) order
        graph = analysis.graph()
        assert list(graph.codes) == list(codes)
        b_list, border_list = graph.indices.tolist(), graph.border.tolist()
        adj = [
            list(zip(b_list[s:e], border_list[s:e], strict=True))
            for s, e in itertools.pairwise(graph.indptr.tolist())
        ]
        names = units.drop_duplicates("bassin_vie").set_index("bassin_vie")["nom_bassin_vie"]
        # a unit without geometry (a commune re-created after a merger) is placed at the centre
        # of its EPCI, else of its département, to find the nearest mature CPTS
        xy = units[["x", "y"]].copy()
        located = xy.notna().all(axis=1)
        placed = located.to_numpy().copy()
        for key in ("epci", "departement"):
            by_key = xy[located].groupby(units.loc[located, key]).mean()
            missing = ~located & units[key].isin(by_key.index)
            xy.loc[missing] = by_key.loc[units.loc[missing, key]].to_numpy()
            located = xy.notna().all(axis=1)
        return cls(
            codes=codes,
            nom=units["nom"].to_numpy(dtype=object),
            dep=units["departement"].to_numpy(dtype=object),
            pop=units["population"].to_numpy(dtype=float),
            bassin=units["bassin_vie"].to_numpy(dtype=object),
            nom_bassin={str(k): str(v) for k, v in names.items()},
            epci=units["epci"].to_numpy(dtype=object),
            nom_epci=epci_names,
            region=units["region"].fillna("").to_numpy(dtype=object),
            area=units["superficie_km2"].fillna(0.0).to_numpy(dtype=float),
            xy=xy.to_numpy(dtype=float),
            placed=placed,
            adj=adj,
            index={c: i for i, c in enumerate(codes)},
        )

    def population(self, units: Iterable[int]) -> float:
        return float(sum(self.pop[u] for u in units))

    def main(self, key: np.ndarray, units: Iterable[int]) -> str:
        """Return the value of ``key`` holding most of the units' population.

        ``key`` is a unit attribute: département, EPCI, bassin de vie…
        """
        pops: dict[str, float] = defaultdict(float)
        for v in units:
            pops[str(key[v])] += self.pop[v] + 1e-6
        return min(pops, key=lambda k: (-pops[k], k))

    def density(self, units: Iterable[int]) -> float:
        """Inhabitants per km² of a set of units (0 without area)."""
        vs = list(units)
        area = float(sum(self.area[v] for v in vs))
        return self.population(vs) / area if area > 0 else 0.0


@dataclass
class _Cpts:
    """The CPTS with a stage, their members and the population they reach as proposals go."""

    nom: dict[str, str]
    stade: dict[str, str]
    pop0: dict[str, float]
    pop: dict[str, float]
    bassins: dict[str, set[str]]
    of_unit: list[list[str]]
    members: dict[str, list[int]]
    deps: dict[str, set[str]]
    regions: dict[str, set[str]]
    epci_share: dict[str, dict[str, float]]
    bassin_share: dict[str, dict[str, float]]

    @classmethod
    def load(cls, table: pd.DataFrame, membership: pd.DataFrame, graph: _Graph) -> _Cpts:
        staged = table[table["stade"].notna()]
        ids = set(staged.index.astype(str))
        m = membership[membership["cpts_id"].astype(str).isin(ids)]
        pos = pd.Index(graph.codes).get_indexer(m["code"].astype(str))
        of_unit: list[list[str]] = [[] for _ in range(len(graph.codes))]
        members: dict[str, list[int]] = defaultdict(list)
        for cid, p in zip(m["cpts_id"].astype(str), pos.tolist(), strict=True):
            if p >= 0:
                of_unit[p].append(cid)
                members[cid].append(p)
        bassins = {cid: {str(graph.bassin[p]) for p in ps} for cid, ps in members.items()}
        pop0 = {str(k): float(v) for k, v in staged["population"].items()}
        epci_pop: dict[str, float] = defaultdict(float)
        bassin_pop: dict[str, float] = defaultdict(float)
        for v in range(len(graph.codes)):
            epci_pop[str(graph.epci[v])] += graph.pop[v]
            bassin_pop[str(graph.bassin[v])] += graph.pop[v]

        def shares(key: np.ndarray, totals: dict[str, float]) -> dict[str, dict[str, float]]:
            out: dict[str, dict[str, float]] = {}
            for cid, ps in members.items():
                held: dict[str, float] = defaultdict(float)
                for p in set(ps):
                    held[str(key[p])] += graph.pop[p]
                out[cid] = {k: h / totals[k] for k, h in held.items() if totals[k] > 0}
            return out

        return cls(
            nom={str(k): str(v) for k, v in staged["nom"].items()},
            stade={str(k): str(v) for k, v in staged["stade"].items()},
            pop0=pop0,
            pop=dict(pop0),
            bassins=bassins,
            of_unit=of_unit,
            members=dict(members),
            deps={cid: {str(graph.dep[p]) for p in ps} for cid, ps in members.items()},
            regions={cid: {str(graph.region[p]) for p in ps} for cid, ps in members.items()},
            epci_share=shares(graph.epci, epci_pop),
            bassin_share=shares(graph.bassin, bassin_pop),
        )


@dataclass(frozen=True)
class _Band:
    """Population aimed at for a new CPTS.

    ``low`` to ``high`` around ``target``, calibrated on the existing CPTS described by
    ``source`` (``""`` for the default bounds).
    """

    low: float
    target: float
    high: float
    source: str = ""

    def text(self) -> str:
        return f"{integer(self.low)} à {integer(self.high)} hab."


def _quantile(values: list[float], q: float, *, weighted: bool) -> float:
    """Quantile of CPTS populations.

    ``weighted``: each CPTS weighs its population (the size of the CPTS an inhabitant belongs
    to, so that a CPTS cut by a boundary weighs little).
    """
    v = np.sort(np.array(values, dtype=float))
    if not weighted:
        return float(np.quantile(v, q))
    cum = np.cumsum(v) - v / 2
    return float(np.interp(q * v.sum(), cum, v))


def _inliers(values: Iterable[float]) -> list[float]:
    """Return the reference populations without outliers.

    Positive populations within Tukey's fences on their logarithm (1.5 interquartile range
    beyond the quartiles): a CPTS listed with its seat commune only, or a federation of a
    whole département, says nothing of the size of a new CPTS.
    """
    v = np.array([x for x in values if np.isfinite(x) and x > 0], dtype=float)
    if len(v) < 4:
        return [float(x) for x in v]
    logs = np.log(v)
    q1, q3 = np.quantile(logs, [0.25, 0.75])
    spread = 1.5 * (q3 - q1)
    return [float(x) for x, lg in zip(v, logs, strict=True) if q1 - spread <= lg <= q3 + spread]


@dataclass
class _Context:
    graph: _Graph
    cpts: _Cpts
    floor: int
    ceiling: int
    funding: dict[int, int]
    params: dict[str, Any]
    _trees: dict[str, Any] = field(default_factory=dict)
    _bands: dict[tuple[str, str, int], _Band] = field(default_factory=dict)
    _refs: list[tuple[float, str, str, int]] | None = None

    # ----------------------------------------------------------------- calibration
    def density_class(self, units: Iterable[int]) -> int:
        """0 (least dense) … n: class of the units' density among ``seuils_densite``."""
        limits = self.params["calibration"]["seuils_densite"]
        return int(np.searchsorted(np.array(limits, dtype=float), self.graph.density(units)))

    def references(self) -> list[tuple[float, str, str, int]]:
        """Return what new CPTS are calibrated on, for each CPTS with a stage.

        Tuples (population, main département, main région, density class).
        """
        if self._refs is None:
            g = self.graph
            self._refs = [
                (
                    self.cpts.pop0[cid],
                    g.main(g.dep, ps),
                    g.main(g.region, ps),
                    self.density_class(set(ps)),
                )
                for cid, ps in sorted(self.cpts.members.items())
                if cid in self.cpts.pop0
            ]
        return self._refs

    def band(self, units: Iterable[int]) -> _Band:
        """Calibrated band for a new CPTS on these units.

        The existing CPTS of the same département and density class, else of the région and
        density class, else of the département, else of the région; the default floor and
        ceiling when too few.
        """
        g, p = self.graph, self.params["calibration"]
        vs = list(units)
        dep, region, cls = g.main(g.dep, vs), g.main(g.region, vs), self.density_class(vs)
        key = (dep, region, cls)
        if key in self._bands:
            return self._bands[key]
        names = p["noms_densite"]
        refs = self.references()
        band = None
        for label, keep in (
            (f"CPTS {names[cls]} du département", lambda r: r[1] == dep and r[3] == cls),
            (f"CPTS {names[cls]} de la région", lambda r: r[2] == region and r[3] == cls),
            ("CPTS du département", lambda r: r[1] == dep),
            ("CPTS de la région", lambda r: r[2] == region),
        ):
            pops = _inliers([r[0] for r in refs if keep(r)])
            if len(pops) >= int(p["min_cpts"]):
                band = self._calibrated(pops, f"{label} ({len(pops)})")
                break
        if band is None:
            band = self._calibrated([], "")
        self._bands[key] = band
        return band

    def _calibrated(self, pops: list[float], source: str) -> _Band:
        """Band from reference populations (the default bounds without any).

        The plancher and the plafond always hold: ``floor <= low < high <= ceiling``, and
        ``low <= target <= high``, whatever the references (none, one, all alike, zero).
        """
        floor, ceiling = float(self.floor), float(self.ceiling)
        if not pops:
            target = floor + float(self.params["creation"]["cible"]) * (ceiling - floor)
            return _Band(floor, target, ceiling)
        p = self.params["calibration"]
        q_low, q_high = p["quantiles"]
        w = bool(p["ponderation_population"])
        low = max(_quantile(pops, q_low, weighted=w), floor)
        high = min(max(_quantile(pops, q_high, weighted=w), 2 * low), ceiling)
        low = max(min(low, high / 2), floor)  # the upper bound is twice the lower one
        # bounds said in hundreds of inhabitants, never across the plancher or the plafond
        low = max(math.floor(low / 100) * 100.0, floor)
        high = min(math.ceil(high / 100) * 100.0, ceiling)
        if high <= low:  # a plancher near the plafond: the band is what is left between them
            low, high = floor, ceiling
        target = min(max(_quantile(pops, 0.5, weighted=w), low), high)
        return _Band(low, target, high, source)

    # ----------------------------------------------------------------- helpers
    def size(self, population: float) -> int:
        return size_class(population)

    def bassin_penalty(self, unit: int, cid: str) -> float:
        if self.graph.bassin[unit] in self.cpts.bassins.get(cid, ()):
            return 0.0
        return float(self.params["extension"]["penalite_bassin"])

    def outside(self, units: Iterable[int], cid: str) -> str:
        """``"région"`` or ``"département"`` when units lie outside the territories of the CPTS.

        (its régions, its départements), else ``""``.
        """
        g = self.graph
        vs = list(units)
        if any(str(g.region[v]) not in self.cpts.regions.get(cid, ()) for v in vs):
            return "région"
        if any(str(g.dep[v]) not in self.cpts.deps.get(cid, ()) for v in vs):
            return "département"
        return ""

    def step_penalty(self, unit: int, cid: str) -> float:
        """Extra cost for ``cid`` to take ``unit``.

        Out of its bassins de vie, in an EPCI it holds little of, across a département or région
        boundary.
        """
        p = self.params["extension"]
        g = self.graph
        held = self.cpts.epci_share.get(cid, {}).get(str(g.epci[unit]), 0.0)
        cost = self.bassin_penalty(unit, cid) + float(p["penalite_epci"]) * (1.0 - held)
        where = self.outside([unit], cid)
        if where:
            cost += float(p["penalite_hors_territoire"][where])
        return cost

    def can_take(self, cid: str, base: float, added: float) -> bool:
        if base + added > self.ceiling:
            return False
        if self.cpts.stade[cid] == "lettre_intention":
            growth = float(self.params["extension"]["croissance_max_lettre_intention"])
            return added <= growth * self.cpts.pop0[cid]
        return True

    def neighbours(self, units: Iterable[int]) -> dict[str, float]:
        """Shared border (m) of the units with each neighbouring CPTS."""
        out: dict[str, float] = defaultdict(float)
        for v in units:
            for u, b in self.graph.adj[v]:
                for cid in self.cpts.of_unit[u]:
                    out[cid] += b
        return dict(out)

    def components(self, units: Iterable[int]) -> list[list[int]]:
        """Return the connected parts (rook) of units, each sorted, most populated first."""
        remaining = set(units)
        comps = []
        for start in sorted(remaining):
            if start not in remaining:
                continue
            remaining.discard(start)
            comp, stack = [start], [start]
            while stack:
                v = stack.pop()
                for u, _ in self.graph.adj[v]:
                    if u in remaining:
                        remaining.discard(u)
                        comp.append(u)
                        stack.append(u)
            comps.append(sorted(comp))
        return sorted(comps, key=lambda c: (-self.graph.population(c), c[0]))

    def nearest_mature(self, units: list[int]) -> list[tuple[str, float]]:
        """ACI CPTS of the units' territory by increasing distance (m) between centroids."""
        from scipy.spatial import cKDTree

        g = self.graph
        territory = _territory(str(g.dep[units[0]]))
        if territory not in self._trees:
            points, labels = [], []
            for cid, ps in self.cpts.members.items():
                if self.cpts.stade[cid] != "aci":
                    continue
                for p in ps:
                    if _territory(str(g.dep[p])) == territory and np.isfinite(g.xy[p]).all():
                        points.append(g.xy[p])
                        labels.append(cid)
            tree = cKDTree(np.array(points)) if points else None
            self._trees[territory] = (tree, np.array(labels, dtype=object))
        tree, labels = self._trees[territory]
        xy = g.xy[units]
        xy = xy[np.isfinite(xy).all(axis=1)]
        if tree is None or not len(xy):
            return []
        k = min(len(labels), 512)
        dist, idx = tree.query(xy, k=k)
        dist, idx = np.atleast_2d(dist), np.atleast_2d(idx)
        best: dict[str, float] = {}
        for d, i in zip(dist.ravel().tolist(), idx.ravel().tolist(), strict=True):
            cid = labels[i]
            if d < best.get(cid, math.inf):
                best[cid] = d
        return sorted(best.items(), key=lambda kv: (kv[1], kv[0]))


# ------------------------------------------------------------------------------------------------
# algorithms
# ------------------------------------------------------------------------------------------------
def _split_among(
    ctx: _Context, units: list[int], *, base: dict[str, float], capacity: bool
) -> tuple[dict[str, list[int]], list[int]]:
    """Split units among the neighbouring CPTS by competitive region growing.

    Each unit goes to the CPTS that reaches it at the lowest cost (steps from the CPTS's
    border, plus the stage and bassin penalties), growing only from units it already took:
    every part is therefore contiguous with its CPTS. Returns the parts and the units no CPTS
    could take within its capacity.
    """
    g, p = ctx.graph, ctx.params["extension"]
    inside = set(units)
    heap: list[tuple[float, float, int, str]] = []
    for v in units:
        borders: dict[str, float] = defaultdict(float)
        for u, b in g.adj[v]:
            for cid in ctx.cpts.of_unit[u]:
                borders[cid] += b
        for cid, b in borders.items():
            start = float(p["penalite_stade"][ctx.cpts.stade[cid]]) + ctx.step_penalty(v, cid)
            heap.append((start, -b, v, cid))
    heapq.heapify(heap)
    owner: dict[int, str] = {}
    taken: dict[str, float] = defaultdict(float)
    while heap:
        cost, _, v, cid = heapq.heappop(heap)
        if v in owner:
            continue
        if capacity and not ctx.can_take(cid, base[cid], taken[cid] + g.pop[v]):
            continue
        owner[v] = cid
        taken[cid] += g.pop[v]
        for u, b in g.adj[v]:
            if u in inside and u not in owner:
                heapq.heappush(heap, (cost + 1 + ctx.step_penalty(u, cid), -b, u, cid))
    parts: dict[str, list[int]] = defaultdict(list)
    for v, cid in owner.items():
        parts[cid].append(v)
    return {c: sorted(vs) for c, vs in parts.items()}, [v for v in units if v not in owner]


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
    heap = [(pop[i], i) for i in parts if pop[i] < band[i].low]
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
            over = union > max(band[i].high, band[j].high)
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
        if pop[j] < band[j].low:
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
        if g.population(piece) <= max(fits, band.high) or len(piece) == 1:
            out.append(piece)
            continue
        for sub in _merge_blocks(ctx, _groups(ctx, piece, g.bassin)):
            sub_band = ctx.band(sub)
            if g.population(sub) > sub_band.high and len(sub) > 1:
                out.extend(_partition(ctx, sub, sub_band))
            else:
                out.append(sub)
    return _merge_blocks(ctx, out)


def _epci_name(g: _Graph, epci: str) -> str:
    """« communauté de communes du Sisteronais » (lower-case legal form, else « EPCI … »)."""
    label = g.nom_epci.get(epci, "")
    if label.lower().startswith(("communauté", "métropole")):
        return label[0].lower() + label[1:]
    return f"EPCI {label or epci}"


def _follows(ctx: _Context, region: list[int], zone: set[int]) -> str:
    """Return what a new perimeter follows, in a few words (EPCIs, a bassin de vie or communes)."""
    g = ctx.graph
    pops: dict[str, float] = defaultdict(float)
    for v in region:
        pops[str(g.epci[v])] += g.pop[v] + 1e-6
    epcis = sorted(pops, key=lambda e: (-pops[e], e))
    inside = set(region)
    whole = all(str(g.epci[v]) not in pops or v in inside for v in zone)
    names = [_epci_name(g, e) for e in epcis]
    if whole and len(epcis) == 1:
        label = names[0]
        return f"suit la {label}" if not label.startswith("EPCI") else f"suit l'{label}"
    if whole:
        shown = ", ".join(_short(n) for n in names[:2])
        more = len(epcis) - 2
        return f"regroupe {len(epcis)} EPCI entiers ({shown}{' …' if more > 0 else ''})"
    bassins = {str(g.bassin[v]) for v in region}
    where = _short(names[0])
    if len(bassins) == 1:
        bassin = g.nom_bassin.get(next(iter(bassins)), "") or "non renseigné"
        return f"suit le bassin de vie {_of(bassin)} dans la {where}".replace("la EPCI", "l'EPCI")
    if len(epcis) == 1:
        return f"partie de la {where} (découpage par communes)".replace("la EPCI", "l'EPCI")
    return f"surtout la {where}, avec des communes voisines".replace("la EPCI", "l'EPCI")


def _of(name: str) -> str:
    """« de Gap », « d'Aix-en-Provence »."""
    return f"d'{name}" if name[:1].lower() in "aeiouyéèêâîôûh" else f"de {name}"


def _brief(parts: list[str], limit: int = 200) -> str:
    """Return the parts joined by « ; » in at most ``limit`` characters.

    The first part (what the perimeter follows) is shortened when needed, the reasons after it
    are kept.
    """
    text = " ; ".join(parts)
    if len(text) <= limit or not parts:
        return text
    room = max(limit - (len(text) - len(parts[0])) - 2, 20)
    head = parts[0][:room].rsplit(" ", 1)[0] + " …"
    text = " ; ".join([head, *parts[1:]])
    return text if len(text) <= limit else text[: limit - 2].rsplit(" ", 1)[0] + " …"


def _short(label: str) -> str:
    """Return an EPCI name without its legal form.

    (« communauté de communes du Sisteronais » → « CC du Sisteronais »).
    """
    for long, short in (
        ("communauté de communes", "CC"),
        ("communauté d'agglomération", "CA"),
        ("communauté urbaine", "CU"),
        ("métropole", "métropole"),
    ):
        if label.lower().startswith(long):
            return short + label[len(long) :]
    return label


# ------------------------------------------------------------------------------------------------
# rows
# ------------------------------------------------------------------------------------------------
def _bassins_text(ctx: _Context, units: list[int]) -> str:
    g = ctx.graph
    pops: dict[str, float] = defaultdict(float)
    for v in units:
        pops[str(g.bassin[v])] += g.pop[v]
    total = sum(pops.values()) or 1.0
    top = sorted(pops.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    named = [(g.nom_bassin.get(b, b) or "non renseigné", share / total) for b, share in top]
    if len(pops) == 1:
        return f"bassin de vie de {named[0][0]}"
    shown = ", ".join(f"{n} ({round(100 * s)} %)" for n, s in named)
    return f"bassins de vie {shown}" + (" …" if len(pops) > 2 else "")


def _funding_text(ctx: _Context, before: int, after: int) -> str:
    fa, fb = ctx.funding.get(before, 0), ctx.funding.get(after, 0)
    if before == after:
        return f"reste en taille {after}"
    return (
        f"passe de la taille {before} à la taille {after} (financement max {fb - fa:+,} €)".replace(
            ",", "\u202f"
        )
    )


def _extension_lead(ctx: _Context, cid: str, units: list[int]) -> str:
    """Why this CPTS takes these units, in a few words.

    The EPCI or bassin de vie it already holds most of, else the shared border.
    """
    g = ctx.graph
    epci = g.main(g.epci, units)
    held = ctx.cpts.epci_share.get(cid, {}).get(epci, 0.0)
    if held >= 0.05:
        return f"la CPTS couvre déjà {round(100 * held)} % de la {_short(_epci_name(g, epci))}"
    bassin = g.main(g.bassin, units)
    held = ctx.cpts.bassin_share.get(cid, {}).get(bassin, 0.0)
    if held >= 0.05:
        name = g.nom_bassin.get(bassin, "") or "non renseigné"
        return f"la CPTS couvre déjà {round(100 * held)} % du bassin de vie {_of(name)}"
    border = sum(b for v in units for u, b in g.adj[v] if cid in ctx.cpts.of_unit[u])
    return f"CPTS voisine ({_km(border)} de frontière commune)"


def _cpts_row(
    ctx: _Context,
    option: str,
    cid: str,
    units: list[int],
    base: float,
    notes: list[str],
    *,
    lead: str = "",
) -> dict[str, Any]:
    g = ctx.graph
    added = g.population(units)
    after = base + added
    t0, t1 = ctx.size(base), ctx.size(after)
    stade = ctx.cpts.stade[cid]
    motif = list(notes)
    short = [lead or _extension_lead(ctx, cid, units)]
    if option == "extension":
        border = sum(b for v in units for u, b in g.adj[v] if cid in ctx.cpts.of_unit[u])
        motif.append(f"frontière commune {_km(border)}")
        in_bassin = sum(g.pop[v] for v in units if g.bassin[v] in ctx.cpts.bassins.get(cid, ()))
        share = round(100 * in_bassin / added) if added else 0
        motif.append(f"{share} % de la population ajoutée dans les bassins de vie de la CPTS")
    if stade == "aci":
        motif.append("CPTS au stade ACI : peut accompagner")
    elif stade == "lettre_intention":
        motif.append("CPTS jeune (lettre d'intention) : à ne pas surcharger")
    else:
        motif.append(f"CPTS au stade {stage(stade).short}")
    motif.append(f"population résultante {integer(after)} : {_funding_text(ctx, t0, t1)}")
    if t1 != t0:
        short.append(f"passe en taille {t1}")
    if after > ctx.ceiling:
        motif.append(f"au-delà du plafond de taille cohérente ({integer(ctx.ceiling)} habitants)")
        short.append("au-delà du plafond")
    if abs(base - ctx.cpts.pop0[cid]) > 0.5:
        motif.append("compte tenu des extensions déjà proposées pour des zones plus peuplées")
    where = ctx.outside(units, cid)
    if where == "région":
        short.append("hors région, faute de CPTS voisine de la région")
    elif where == "département":
        short.append("hors département, faute de CPTS voisine du département")
    return {
        "option": option,
        "cpts_cible": ctx.cpts.nom[cid],
        "cpts_cible_id": cid,
        "nom_propose": "",
        "units": units,
        "population_ajoutee": round(added),
        "population_resultante": round(after),
        "taille_avant": t0,
        "taille_apres": t1,
        "financement_max_avant": ctx.funding[t0],
        "financement_max_apres": ctx.funding[t1],
        "motif": _brief(short),
        "details": " ; ".join(motif),
        "hors_territoire": where,
    }


def _band_text(band: _Band) -> str:
    if band.source:
        return f"taille des {band.source.rsplit(' (', 1)[0]} : {band.text()}"
    return f"bornes par défaut : {band.text()}"


def _creation_row(
    ctx: _Context,
    units: list[int],
    notes: list[str],
    *,
    lead: str = "",
    why: str = "",
    zone: set[int] | None = None,
) -> dict[str, Any]:
    g = ctx.graph
    population = g.population(units)
    main = max(units, key=lambda v: (g.pop[v], -v))
    taille = ctx.size(population)
    band = ctx.band(units)
    motif = [f"nouvelle CPTS de {integer(population)} habitants ({_communes(len(units))})"]
    motif.append(_bassins_text(ctx, units))
    motif.extend(notes)
    short = [lead or _follows(ctx, units, zone if zone is not None else set(units))]
    short.append(_band_text(band))
    if band.source:
        motif.append(f"taille calibrée sur les {band.source} : {band.text()}")
    if population < band.low:
        motif.append(f"sous le plancher de {integer(band.low)} habitants")
        short.append(why or "sous la taille visée")
    if population > band.high:
        if len(units) == 1:
            text = (
                f"{g.nom[main]} compte à elle seule {integer(population)} habitants, au-delà du "
                f"plafond de {integer(band.high)} : périmètre à partager entre plusieurs CPTS"
            )
            motif.append(text)
            short.append(why or f"{g.nom[main]} dépasse à elle seule le plafond")
        else:
            motif.append(f"au-delà du plafond de {integer(band.high)} habitants")
            short.append(why or "au-delà du plafond")
    motif.append(f"financement max {integer(ctx.funding[taille])} € (taille {taille})")
    deps = {str(g.dep[v]) for v in units}
    regions = {str(g.region[v]) for v in units}
    return {
        "option": "creation",
        "cpts_cible": "",
        "cpts_cible_id": "",
        "nom_propose": f"CPTS {g.nom[main]}",
        "units": units,
        "population_ajoutee": round(population),
        "population_resultante": round(population),
        "taille_avant": 0,
        "taille_apres": taille,
        "financement_max_avant": 0,
        "financement_max_apres": ctx.funding[taille],
        "motif": _brief(short),
        "details": " ; ".join(motif),
        "hors_territoire": "région" if len(regions) > 1 else "département" if len(deps) > 1 else "",
    }


# ------------------------------------------------------------------------------------------------
# scenarios
# ------------------------------------------------------------------------------------------------
@dataclass
class _Scenario:
    rows: list[dict[str, Any]]
    headline: str


class _Ledger:
    """CPTS populations while the rows of one scenario are drafted."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self.extra: dict[str, float] = defaultdict(float)

    def base(self, cid: str) -> float:
        return self.ctx.cpts.pop[cid] + self.extra[cid]

    def bases(self) -> dict[str, float]:
        return {cid: self.base(cid) for cid in self.ctx.cpts.pop}

    def add(self, cid: str, population: float) -> None:
        self.extra[cid] += population


def _attach_rows(
    ctx: _Context, units: list[int], ledger: _Ledger, reason: str, *, choice: int = 0
) -> list[dict[str, Any]] | None:
    """Rattachement temporaire of ``units`` to the ``choice``-th nearest ACI CPTS.

    (those that stay within the ceiling first); ``None`` when the territory has no ACI CPTS.
    """
    added = ctx.graph.population(units)
    ranked = ctx.nearest_mature(units)
    ranked.sort(key=lambda cd: (ledger.base(cd[0]) + added > ctx.ceiling, cd[1]))
    if len(ranked) <= choice:
        return None
    cid, dist = ranked[choice]
    nearest = min(d for _, d in ranked)
    if choice > 0:
        which = f"n° {choice + 1} par ordre de préférence"
    elif dist > nearest:
        which = "la plus proche qui reste sous le plafond (les plus proches le dépasseraient)"
    else:
        which = "la plus proche"
    notes = [
        reason,
        f"rattachement temporaire avec mentorat à la CPTS au stade ACI {which} ({_km(dist)})",
    ]
    if dist > 1000 * float(ctx.params["rattachement"]["distance_signalee_km"]):
        notes.append("CPTS éloignée : rattachement à revoir dès qu'une CPTS plus proche existera")
    lead = f"rattachement temporaire à une CPTS ACI à {_km(dist)} ; {reason}"
    row = _cpts_row(ctx, "rattachement_temporaire", cid, units, ledger.base(cid), notes, lead=lead)
    ledger.add(cid, added)
    return [row]


def _fallback_creation(ctx: _Context, units: list[int], reason: str) -> dict[str, Any]:
    return _creation_row(
        ctx,
        units,
        [reason, "aucune CPTS au stade ACI dans le territoire pour un rattachement"],
        lead="création faute de CPTS au stade ACI pour un rattachement",
    )


def _extension_scenario(
    ctx: _Context, units: list[int], *, capacity: bool = True
) -> _Scenario | None:
    """Split among the neighbours; leftovers attached to the nearest mature CPTS."""
    ledger = _Ledger(ctx)
    parts, left = _split_among(ctx, units, base=ledger.bases(), capacity=capacity)
    if not parts:
        return None
    rows = []
    n = len(parts)
    split_note = (
        [f"zone partagée entre {n} CPTS voisines (chaque partie contiguë à sa CPTS)"]
        if n > 1
        else []
    )
    for cid in sorted(parts, key=lambda c: (-ctx.graph.population(parts[c]), c)):
        rows.append(_cpts_row(ctx, "extension", cid, parts[cid], ledger.base(cid), split_note))
        ledger.add(cid, ctx.graph.population(parts[cid]))
    for piece in ctx.components(left):
        reason = "partie que les CPTS voisines ne peuvent prendre sans dépasser leur plafond"
        attached = _attach_rows(ctx, piece, ledger, reason)
        rows.extend(attached or [_fallback_creation(ctx, piece, reason)])
    headline = "extension des CPTS voisines" if n > 1 else "extension de la CPTS voisine"
    return _Scenario(rows, headline)


def _creation_scenario(ctx: _Context, units: list[int]) -> _Scenario:
    """Partition into new CPTS following EPCIs and bassins de vie.

    Remnants too small for a CPTS go to neighbouring CPTS of the same territory with room, else
    are merged.
    """
    g = ctx.graph
    total = g.population(units)
    zone = set(units)
    regions: list[list[int]] = []
    for comp in ctx.components(units):
        regions.extend(_block_partition(ctx, comp))
    ledger = _Ledger(ctx)
    extension_rows: list[dict[str, Any]] = []
    kept = []
    for r in regions:
        if g.population(r) >= ctx.band(r).low or len(regions) == 1:
            kept.append(r)
            continue
        parts, left = _split_among(ctx, r, base=ledger.bases(), capacity=True)
        if parts and not left and not any(ctx.outside(pu, c) for c, pu in parts.items()):
            for cid, part in sorted(parts.items()):
                note = ["reste de zone trop peu peuplé pour une CPTS nouvelle"]
                extension_rows.append(
                    _cpts_row(ctx, "extension", cid, part, ledger.base(cid), note)
                )
                ledger.add(cid, g.population(part))
        else:
            kept.append(r)
    regions = _merge_blocks(ctx, kept, allow_over=True)
    n = len(regions)
    notes = [f"zone de {integer(total)} habitants découpée en {n} CPTS"] if n > 1 else []
    rows = []
    for r in sorted(regions, key=lambda r: (-g.population(r), r[0])):
        extra = list(notes)
        population = g.population(r)
        band = ctx.band(r)
        why = ""
        members, epcis = set(r), {str(g.epci[v]) for v in r}
        if (
            population > band.high
            and len(r) > 1
            and all(str(g.epci[v]) not in epcis or v in members for v in zone)
        ):
            extra.append("au-delà du plafond calibré pour garder l'intercommunalité entière")
            why = "au-delà du plafond pour garder l'EPCI entier"
        elif population > band.high and len(r) > 1:
            if any(g.pop[v] > band.high for v in r):
                extra.append("inclut des communes enclavées contre une commune au-delà du plafond")
                why = "au-delà du plafond : communes enclavées"
            else:
                extra.append(
                    "des communes enclavées ne pouvaient rejoindre que ce périmètre "
                    "(découpage contigu dans les bornes impossible)"
                )
                why = "au-delà du plafond : pas de découpage contigu dans les bornes"
        elif population < band.low:
            why = (
                "sous la taille visée : zone trop peu peuplée"
                if n == 1
                else "sous la taille visée : aucun voisin ne peut la compléter"
            )
        rows.append(_creation_row(ctx, r, extra, why=why, zone=zone))
    return _Scenario(rows + extension_rows, f"création de {n} CPTS" if n > 1 else "création")


def _whole_zone_extensions(
    ctx: _Context, units: list[int], neighbours: dict[str, float]
) -> list[tuple[float, str]]:
    """Score each neighbouring CPTS for taking the whole zone (best first)."""
    p = ctx.params["extension"]
    g = ctx.graph
    total_border = sum(neighbours.values()) or 1.0
    total = g.population(units) or 1.0
    out = []
    for cid, border in neighbours.items():
        in_bassin = sum(g.pop[v] for v in units if g.bassin[v] in ctx.cpts.bassins.get(cid, ()))
        within = ctx.cpts.pop[cid] + total <= ctx.ceiling
        score = (
            p["poids_frontiere"] * border / total_border
            + p["poids_stade"] * p["score_stade"][ctx.cpts.stade[cid]]
            + p["poids_bassin"] * in_bassin / total
            + p["poids_plafond"] * within
        )
        out.append((score, cid))
    return sorted(out, key=lambda sc: (-sc[0], sc[1]))


def _zone_scenarios(ctx: _Context, units: list[int]) -> list[_Scenario]:
    """Recommended scenario first, then the ranked alternatives."""
    g = ctx.graph
    total = g.population(units)
    neighbours = ctx.neighbours(units)
    inside = set(units)
    isolated = all(u in inside for v in units for u, _ in g.adj[v])
    if not all(g.placed[v] for v in units):
        reason = "commune sans géométrie (position approchée par son EPCI) : aucune voisine connue"
    elif not neighbours:
        reason = (
            "île (ou commune sans voisine) : aucune CPTS contiguë"
            if isolated
            else "aucune CPTS voisine (voisines non couvertes)"
        )
    else:
        reason = "toutes les CPTS voisines dépasseraient le plafond de taille cohérente"
    scenarios: list[_Scenario] = []
    floor = ctx.band(units).low
    if total >= floor:
        scenarios.append(_creation_scenario(ctx, units))
        split = _extension_scenario(ctx, units) if neighbours else None
        if split and all(r["option"] == "extension" for r in split.rows):
            scenarios.append(split)
    else:
        split = _extension_scenario(ctx, units) if neighbours else None
        if split:
            scenarios.append(split)
        else:
            attached = _attach_rows(ctx, units, _Ledger(ctx), reason)
            rows = attached or [_fallback_creation(ctx, units, reason)]
            headline = (
                "rattachement temporaire"
                if attached
                else "création d'une CPTS faute de CPTS mature dans le territoire"
            )
            scenarios.append(_Scenario(rows, headline))
    max_alt = int(ctx.params["alternatives"]["max_alternatives"])
    if total < floor:
        ledger = _Ledger(ctx)
        for _, cid in _whole_zone_extensions(ctx, units, neighbours):
            if len(scenarios) > max_alt:
                break
            row = _cpts_row(ctx, "extension", cid, units, ledger.base(cid), ["zone entière"])
            row["motif"] = _brief(["zone entière", row["motif"]])
            if any(_same(s.rows, [row]) for s in scenarios):
                continue
            scenarios.append(_Scenario([row], "extension de la zone entière"))
        for choice in range(0, 3):
            if len(scenarios) > max_alt or not any(
                r["option"] == "rattachement_temporaire" for r in scenarios[0].rows
            ):
                break
            attached = _attach_rows(ctx, units, _Ledger(ctx), reason, choice=choice)
            if attached and not any(_same(s.rows, attached) for s in scenarios):
                scenarios.append(_Scenario(attached, "rattachement temporaire"))
    return scenarios[: max_alt + 1]


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    def key(rows: list[dict[str, Any]]) -> set[tuple[str, str, tuple[int, ...]]]:
        return {(r["option"], r["cpts_cible_id"], tuple(r["units"])) for r in rows}

    return key(a) == key(b)


# ------------------------------------------------------------------------------------------------
# public API
# ------------------------------------------------------------------------------------------------
def _compute(analysis: Analysis, floor: int, ceiling: int, funding_scale: str) -> pd.DataFrame:
    a = analysis.national()
    zones = a.zones()
    table = a.cpts()
    membership = a.registry.membership
    graph = _Graph.load(analysis)
    ctx = _Context(
        graph=graph,
        cpts=_Cpts.load(table, membership, graph),
        floor=floor,
        ceiling=ceiling,
        funding=funding_table(funding_scale),
        params=_params(),
    )
    records = []
    for zone_id, departement, zone_pop, communes in zip(
        zones["zone_id"].astype(str),
        zones["departement"].astype(str),
        zones["population"].astype("int64").tolist(),
        zones["communes"].astype(str),
        strict=True,
    ):
        units = sorted(graph.index[c] for c in communes.split())
        scenarios = _zone_scenarios(ctx, units)
        for rang, scenario in enumerate(scenarios, start=1):
            for part, row in enumerate(scenario.rows, start=1):
                codes = [str(graph.codes[v]) for v in row.pop("units")]
                records.append(
                    {
                        "zone_id": zone_id,
                        "departement": departement,
                        "recommandee": "oui" if rang == 1 else "non",
                        "communes": " ".join(codes),
                        "n_communes": len(codes),
                        "rang": rang,
                        "population_zone": zone_pop,
                        "proposition_id": f"{zone_id}/{rang}.{part}",
                        **row,
                        "motif": row["motif"],
                        "details": (
                            ("recommandée : " if rang == 1 else "alternative : ")
                            + scenario.headline
                            + " ; "
                            + row["details"]
                        ),
                    }
                )
                if rang == 1 and row["cpts_cible_id"]:
                    ctx.cpts.pop[row["cpts_cible_id"]] += row["population_ajoutee"]
    frame = pd.DataFrame.from_records(records, columns=[c for c in COLUMNS if c != "priorite"])
    frame["priorite"] = 0
    return frame[COLUMNS]


def suggest(
    analysis: Analysis,
    *,
    floor: int | None = None,
    ceiling: int | None = None,
    funding_scale: str | None = None,
) -> pd.DataFrame:
    """Propose how to cover every zone blanche of an analysis.

    Parameters
    ----------
    analysis
        An open :class:`~couverture.analysis.Analysis`; its ``departements`` filter applies
        to the result (the proposals themselves are computed for all France once and cached).
    floor
        Minimum population of a new CPTS where the registry has too few CPTS to calibrate
        the band on (``plancher_creation`` of ``sources.toml``, 20,000 by default).
    ceiling
        "Taille cohérente": no extension or new CPTS should go beyond it; also the upper
        bound of the fallback band (``plafond_taille_coherente``, 100,000 by default).
    funding_scale
        ACI funding scale (``avenant2`` or ``aci2019``; default ``bareme_financement``).

    Returns
    -------
    pandas.DataFrame
        One row per (zone, scenario, part), columns :data:`COLUMNS`: ``option``
        (``extension``, ``creation`` or ``rattachement_temporaire``), ``recommandee``
        (``oui`` for the parts of the recommended scenario, rang 1; ``non`` for the ranked
        alternatives, rang 2…), ``cpts_cible`` / ``cpts_cible_id`` (empty for a creation,
        which gets a ``nom_propose``), ``communes`` (unit codes joined by a space), the
        population added and resulting, the taille (``0`` = no CPTS yet) and maximum annual
        ACI funding before and after, ``priorite`` (1 = most populous zone of the selection),
        ``motif`` (French, at most about 200 characters: what the perimeter follows and why
        this size), ``hors_territoire`` (``""``, ``"département"`` or ``"région"`` when the
        proposal crosses that boundary) and ``details`` (the full explanation). Ordered by
        priority, rank and part.

    Raises
    ------
    ArgumentError
        When the bounds are not positive or ``floor >= ceiling``, or the scale is unknown.
    """
    settings = sources()["analyse"]
    floor = int(settings["plancher_creation"]) if floor is None else floor
    ceiling = int(settings["plafond_taille_coherente"]) if ceiling is None else ceiling
    funding_scale = funding_scale or str(settings["bareme_financement"])
    check_bounds(floor, ceiling)
    funding_table(funding_scale)
    analysis.check_departements()
    # the cache key already follows the code and config/propositions.toml (_cache.code_version)
    name = f"suggestions_{floor}_{ceiling}_{funding_scale}"
    frame = analysis.cached(name, lambda: _compute(analysis, floor, ceiling, funding_scale))
    if analysis.departements is not None:
        frame = frame[frame["departement"].isin(analysis.departements)]
    frame = frame.reset_index(drop=True)
    order = frame.drop_duplicates("zone_id")[["zone_id", "population_zone"]]
    order = order.sort_values(["population_zone", "zone_id"], ascending=[False, True])
    rank = dict(zip(order["zone_id"], range(1, len(order) + 1), strict=True))
    frame["priorite"] = frame["zone_id"].map(rank).astype("int64")
    return frame.sort_values(["priorite", "rang"], kind="stable").reset_index(drop=True)


def proposal_geometries(analysis: Analysis, proposals: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return the geometry of each proposal (coverage union of its units), WGS84.

    Parameters
    ----------
    analysis
        The analysis the proposals come from (for the store).
    proposals
        Rows of :func:`suggest` (any subset; a ``communes`` column is enough).

    Returns
    -------
    geopandas.GeoDataFrame
        Same index as ``proposals``, one ``geometry`` column (``None`` when no unit of the
        row has a geometry).
    """
    import geopandas as gpd

    from couverture.zones import members

    geoms = analysis.member_geometries(members(proposals), key="ligne")
    geoms = geoms.reindex(range(len(proposals)))
    return gpd.GeoDataFrame(geometry=geoms.to_list(), index=proposals.index, crs=CRS_WEB)
