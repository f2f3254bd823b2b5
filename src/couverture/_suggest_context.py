"""The inputs of the proposals: the unit graph, the CPTS, the calibrated band and their context.

:mod:`couverture.suggest` reads them once per analysis (:func:`unit_blocks`, ``_Graph``,
``_Cpts``) and keeps them in a ``_Context`` while it draws perimeters; the band of a new CPTS
is calibrated here from the registry's own CPTS (``_Band``, ``_quantile``, ``_inliers``).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from couverture._config import size_class
from couverture._format import integer

if TYPE_CHECKING:
    from couverture.analysis import Analysis


def _territory(departement: str) -> str:
    """Where a rattachement may look for a mature CPTS: one DROM, Corsica, or the mainland."""
    if departement in ("2A", "2B"):
        return "corse"
    if len(departement) == 3:
        return departement
    return "metropole"


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
    ``source`` (``""`` for the default bounds). ``plancher`` is the effective plancher of the
    zone (no recommended creation under it, an EPCI without CPTS kept whole from it up):
    the default one, lowered to ``low`` where the reference CPTS (``lowered``) are smaller.
    """

    low: float
    target: float
    high: float
    source: str = ""
    plancher: float = 0.0
    lowered: str = ""

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


def _inliers(values: Iterable[float], fence: float = 3.0, smallest: float = 0.0) -> list[float]:
    """Return the reference populations without outliers.

    Populations of at least ``smallest`` (``plancher_minimum``: a CPTS of fewer inhabitants
    is a lettre d'intention listed with its seat commune, not a perimeter), within Tukey's outer
    fences on their logarithm (``barriere_tukey`` interquartile ranges beyond the quartiles, 3
    by default: "far out" values only): a federation of a whole département says nothing of
    the size of a new CPTS either.

    Examples
    --------
    >>> _inliers([120.0, 900.0, 9_000.0, 41_000.0], smallest=5_000.0)
    [9000.0, 41000.0]
    """
    v = np.array([x for x in values if np.isfinite(x) and x > 0 and x >= smallest], dtype=float)
    if len(v) < 4:
        return [float(x) for x in v]
    logs = np.log(v)
    q1, q3 = np.quantile(logs, [0.25, 0.75])
    spread = fence * (q3 - q1)
    return [float(x) for x, lg in zip(v, logs, strict=True) if q1 - spread <= lg <= q3 + spread]


@dataclass
class _Context:
    graph: _Graph
    cpts: _Cpts
    floor: int
    ceiling: int
    funding: dict[int, int]
    params: dict[str, Any]
    explicit: bool = False
    _trees: dict[str, Any] = field(default_factory=dict)
    _bands: dict[tuple[str, str, int], _Band] = field(default_factory=dict)
    _refs: list[tuple[float, str, str, int]] | None = None
    _intact: set[str] | None = None
    _white_pop: dict[str, float] | None = None
    _white_units: dict[str, list[int]] | None = None
    _epci_parts: dict[tuple[str, str], list[frozenset[int]]] = field(default_factory=dict)

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
            pops = _inliers(
                [r[0] for r in refs if keep(r)],
                float(p["barriere_tukey"]),
                float(p["plancher_minimum"]),
            )
            if len(pops) >= int(p["min_cpts"]):
                band = self._calibrated(pops, f"{label} ({len(pops)})", label)
                break
        if band is None:
            band = self._calibrated([], "")
        self._bands[key] = band
        return band

    def plancher(self, pops: list[float]) -> float:
        """Effective plancher of a new CPTS calibrated on ``pops``.

        An explicit plancher (``floor=``, ``--plancher``) holds as given. The default one
        (``plancher_creation`` of ``sources.toml``) is lowered where the reference CPTS are
        smaller, to their lower quantile (``quantiles``), in hundreds, never below
        ``plancher_minimum``.
        """
        floor = float(self.floor)
        if self.explicit or not pops:
            return floor
        p = self.params["calibration"]
        w = bool(p["ponderation_population"])
        lower = math.floor(_quantile(pops, p["quantiles"][0], weighted=w) / 100) * 100.0
        return min(floor, max(float(p["plancher_minimum"]), lower))

    def _calibrated(self, pops: list[float], source: str, label: str = "") -> _Band:
        """Band from reference populations (the default bounds without any).

        The plancher and the plafond always hold: ``plancher <= low < high <= ceiling``, and
        ``low <= target <= high``, whatever the references (none, one, all alike, zero); the
        plancher is :meth:`plancher` (``label`` names the CPTS that lowered it).
        """
        ceiling = float(self.ceiling)
        floor = self.plancher(pops)
        lowered = (label or "CPTS de référence") if floor < self.floor else ""
        if not pops:
            target = floor + float(self.params["creation"]["cible"]) * (ceiling - floor)
            return _Band(floor, target, ceiling, plancher=floor)
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
        return _Band(low, target, high, source, floor, lowered)

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

    def step_penalty(self, unit: int, cid: str, *, territory: bool = True) -> float:
        """Extra cost for ``cid`` to take ``unit``.

        Out of its bassins de vie, in an EPCI it holds little of, across a département or région
        boundary (unless ``territory`` is false: the caller counts it).
        """
        p = self.params["extension"]
        g = self.graph
        held = self.cpts.epci_share.get(cid, {}).get(str(g.epci[unit]), 0.0)
        cost = self.bassin_penalty(unit, cid) + float(p["penalite_epci"]) * (1.0 - held)
        where = self.outside([unit], cid) if territory else ""
        if where:
            cost += float(p["penalite_hors_territoire"][where])
        return cost

    def can_take(self, cid: str, base: float, added: float) -> bool:
        """Whether ``cid``, at ``base`` inhabitants, may take ``added`` more.

        The plafond is a cost (:meth:`ceiling_cost`), not a wall: the real threshold is a
        change of ACI taille class past the plafond. A CPTS at lettre d'intention stage grows
        by at most ``croissance_max_lettre_intention`` of its own population.
        """
        after = base + added
        if after > self.ceiling and self.size(after) != self.size(base):
            return False
        if self.cpts.stade[cid] == "lettre_intention":
            growth = float(self.params["extension"]["croissance_max_lettre_intention"])
            return added <= growth * self.cpts.pop0[cid]
        return True

    def ceiling_cost(self, start: float, before: float, after: float) -> float:
        """Extra cost of a step taking a CPTS from ``before`` to ``after`` inhabitants.

        ``start`` is its population before the zone: what the step adds beyond the plafond
        (or beyond ``start`` for a CPTS already past it), ``penalite_plafond`` per
        ``pas_plafond`` share of the plafond.
        """
        p = self.params["extension"]
        limit = max(start, float(self.ceiling))
        beyond = max(0.0, after - limit) - max(0.0, before - limit)
        return float(p["penalite_plafond"]) * beyond / (float(p["pas_plafond"]) * self.ceiling)

    def atoms(self, units: Iterable[int]) -> list[list[int]]:
        """Units grouped as proposals must keep them: an intact EPCI stays whole.

        Each connected part of an EPCI no CPTS holds any of, within the plafond, is one
        atom; every other unit is its own.
        """
        g = self.graph
        vs = sorted(set(units))
        by_epci: dict[str, list[int]] = defaultdict(list)
        for v in vs:
            by_epci[str(g.epci[v])].append(v)
        out: list[list[int]] = []
        for epci, members in sorted(by_epci.items()):
            if epci and epci in self.intact_epcis():
                for comp in self.components(members):
                    out.append(comp)
            else:
                out.extend([v] for v in members)
        return sorted(out, key=lambda a: a[0])

    def small(self, block: list[int], population: float, band: _Band) -> bool:
        """Whether a block of a new CPTS must be agglomerated.

        Under the calibrated floor, unless it is a whole EPCI no CPTS holds (a CPTS of its own
        from the zone's effective plancher up).
        """
        if population >= band.low:
            return False
        return population < band.plancher or not self.whole_epci(block)

    def whole_epci(self, piece: list[int]) -> bool:
        """Whether ``piece`` is all of an EPCI that no CPTS covers, for one new CPTS.

        Its white units (all of it for an intact EPCI), or, for an EPCI no CPTS holds any of,
        one connected part of it in one département when it crosses a border or is not
        contiguous (a zone and a CPTS are: each part is then kept whole): the plafond is
        a cost, the change of ACI taille class past it the wall, so that they stay one CPTS
        up to the top of the plafond's taille class.
        """
        g = self.graph
        epci = str(g.epci[piece[0]])
        self.intact_epcis()
        assert self._white_pop is not None and self._white_units is not None
        total = self._white_pop.get(epci, math.inf)
        if not epci or self.size(total) > self.size(self.ceiling):
            return False
        if abs(g.population(piece) - total) < 0.5:
            return True
        if epci not in self.intact_epcis():
            return False
        key = (epci, str(g.dep[piece[0]]))
        if key not in self._epci_parts:
            # zones stop at the département border, and so does an EPCI's part
            members = [v for v in self._white_units[epci] if str(g.dep[v]) == key[1]]
            self._epci_parts[key] = [frozenset(c) for c in self.components(members)]
        return frozenset(piece) in self._epci_parts[key]

    def intact_epcis(self) -> set[str]:
        """EPCIs no CPTS holds any unit of, with at most the plafond's population."""
        if self._intact is None:
            g = self.graph
            pops: dict[str, float] = defaultdict(float)
            white: dict[str, float] = defaultdict(float)
            units: dict[str, list[int]] = defaultdict(list)
            held: set[str] = set()
            for v in range(len(g.codes)):
                pops[str(g.epci[v])] += g.pop[v]
                if self.cpts.of_unit[v]:
                    held.add(str(g.epci[v]))
                else:
                    white[str(g.epci[v])] += g.pop[v]
                    units[str(g.epci[v])].append(v)
            self._white_pop, self._white_units = dict(white), dict(units)
            self._intact = {e for e in pops if e and e not in held and pops[e] <= self.ceiling}
        return self._intact

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
