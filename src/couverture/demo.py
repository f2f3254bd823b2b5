"""Deterministic demo registry: fictitious CPTS drawn on the real geography of France.

The demo registry lets anyone run the whole pipeline (and its tests, maps and report) without a
real ARS/CPAM file, whose licence is often unclear. It looks like a national registry:

* each CPTS is a contiguous group (rook contiguity inside its département) of 20,000 to 100,000
  inhabitants, grown from a populous commune towards the units of the same EPCI and bassin de vie;
* big units (50,000 inhabitants or more: Nice, Toulouse, Paris 15e…) are *communes partagées*
  claimed by two or three CPTS, with ``part`` shares or without;
* a handful of small units are claimed by two CPTS without shares (*chevauchements* to arbitrate);
* every département leaves *zones blanches*, mostly rural, some départements almost fully covered
  and some with large white areas; a few projects are listed before their lettre d'intention;
* nationally about 58 % of the population is covered at ACI stage and 76 % at least at
  lettre d'intention stage (each unit counted once, at its most advanced CPTS).

Every row says ``fictif=oui``. The same seed always gives a byte-identical CSV.

Example
-------
>>> from couverture.demo import write_demo_registry
>>> path = write_demo_registry()  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import heapq
import html
import logging
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
from scipy.special import expit

import couverture
from couverture import _config, plan, settings
from couverture._annuaire_demo import DEMO_DEPARTEMENTS, write_demo_files
from couverture._config import sources, stages
from couverture._errors import ArgumentError, DataSourceError
from couverture._format import percent, plural
from couverture._graph import UnitGraph
from couverture._output import atomic_path, write_csv
from couverture.registry import normalise_stage
from couverture.zones import members

log = logging.getLogger(__name__)

REGISTRY_COLUMNS = [
    "cpts_id",
    "nom_cpts",
    "stade",
    "code_commune",
    "nom_commune",
    "departement",
    "part",
    "fictif",
]
UNIT_COLUMNS = [
    "code",
    "nom",
    "type",
    "departement",
    "region",
    "epci",
    "population",
    "bassin_vie",
    "nom_bassin_vie",
    "superficie_km2",
    "x",
    "y",
]
ADJACENCY_COLUMNS = ["code_a", "code_b"]

# National targets of the demo, share of the population (each unit counted once).
TARGET_ACI = 0.58
TARGET_LETTRE_INTENTION = 0.76

# Real-world wordings of each stage besides its label (all understood by
# ``config/stades.csv``), and of a project before its lettre d'intention.
_OTHER_WORDINGS: dict[str, tuple[str, ...]] = {
    "aci": ("En fonctionnement", "Contrat signé", "Contrat ACI signé"),
    "projet_sante": ("Prochainement en fonctionnement",),
    "lettre_intention": ("En création",),
}
_PRE_LI_WORDINGS = ("En émergence",)

# Stage levels used internally: white (not in the registry), pre-LI, then the stages by rank
# (lettre d'intention, projet de santé, ACI).
_WHITE, _PRE_LI, _LI, _PS, _ACI = -1, 0, 1, 2, 3


def stage_wordings() -> dict[str, tuple[str, ...]]:
    """Wordings of each stage code in the demo registry, its label first; ``""`` is pre-LI.

    Examples
    --------
    >>> stage_wordings()["projet_sante"]
    ('Projet de santé validé', 'Prochainement en fonctionnement')
    """
    # most advanced first: the generator draws its random styles in this order
    wordings = {s.code: (s.label, *_OTHER_WORDINGS[s.code]) for s in reversed(stages())}
    return {**wordings, "": _PRE_LI_WORDINGS}


def _level_stage() -> dict[int, str]:
    return {_PRE_LI: "", **{s.rank: s.code for s in stages()}}


# Growth preference: a candidate's distance to the seed is multiplied by this factor when it
# shares both EPCI and bassin de vie with the seed, one of them, or none.
_TIER_FACTOR = (1.0, 1.7, 3.0)
# Share of the 50k–100k units that are communes partagées (units of 100k or more always are).
_SHARED_PROBABILITY = 0.35
# Share of the communes partagées whose claimants give a ``part``.
_PARTS_PROBABILITY = 0.5
# Share of the uncovered perimeters listed as pre-LI projects ("En émergence").
_PRE_LI_PROBABILITY = 0.12
# Small rural areas left out of every perimeter: about one per this many units of a
# département, each grown from a unit of fewer inhabitants than the second constant.
_LEFT_OUT_UNITS = 120
_LEFT_OUT_SEED_MAX = 3_000
# Number of chevauchements (small units claimed by two CPTS without shares).
_OVERLAPS = (12, 25)

_COMPASS = ("Est", "Nord-Est", "Nord", "Nord-Ouest", "Ouest", "Sud-Ouest", "Sud", "Sud-Est")


@dataclass
class _Geography:
    """Arrays describing the units, indexed by unit position (sorted by code)."""

    code: np.ndarray
    nom: np.ndarray
    type: np.ndarray
    dep: np.ndarray
    region: np.ndarray
    epci: np.ndarray  # integer id, -1 when unknown
    bassin: np.ndarray  # integer id, -1 when unknown
    nom_bassin: np.ndarray
    pop: np.ndarray
    area: np.ndarray
    x: np.ndarray
    y: np.ndarray
    indptr: np.ndarray  # CSR rook contiguity restricted to the département
    indices: np.ndarray

    @property
    def size(self) -> int:
        return len(self.code)

    def neighbours(self, unit: int) -> np.ndarray:
        return self.indices[self.indptr[unit] : self.indptr[unit + 1]]


@dataclass
class _Perimeter:
    """One fictitious CPTS: its units, the shares it declares, and how it was seeded."""

    dep: str
    seed: int
    units: list[int]
    pop: float  # population counted for the CPTS (shares of a commune partagée included)
    city: int = -1  # the commune partagée it claims, -1 if none
    rank: int = 0  # rank among the claimants of ``city``
    parts: dict[int, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def _check_columns(frame: pd.DataFrame, required: list[str], what: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataSourceError(f"{what} : colonnes manquantes {', '.join(missing)}")


def _geography(units: pd.DataFrame, adjacency: pd.DataFrame) -> _Geography:
    _check_columns(units, UNIT_COLUMNS, "unités")
    _check_columns(adjacency, ADJACENCY_COLUMNS, "contiguïté")
    u = units[UNIT_COLUMNS].copy()
    u["code"] = u["code"].astype(str).str.zfill(5)
    if u["code"].duplicated().any():
        dup = u.loc[u["code"].duplicated(), "code"].iloc[0]
        raise DataSourceError(f"unités : code en double « {dup} »")
    u = u.sort_values("code", kind="stable").reset_index(drop=True)
    dep = u["departement"].astype(str).to_numpy()
    graph = UnitGraph.from_edges(
        u["code"].to_numpy(),
        adjacency["code_a"].astype(str).str.zfill(5).to_numpy(),
        adjacency["code_b"].astype(str).str.zfill(5).to_numpy(),
        departement=dep,
    ).within_departement()
    return _Geography(
        code=u["code"].to_numpy(dtype=object),
        nom=u["nom"].astype(str).to_numpy(dtype=object),
        type=u["type"].astype(str).to_numpy(dtype=object),
        dep=dep,
        region=u["region"].astype(str).to_numpy(),
        epci=pd.factorize(u["epci"], sort=True)[0],
        bassin=pd.factorize(u["bassin_vie"], sort=True)[0],
        nom_bassin=u["nom_bassin_vie"].fillna("").astype(str).to_numpy(dtype=object),
        pop=u["population"].fillna(0).to_numpy(dtype=np.float64),
        area=u["superficie_km2"].fillna(0).to_numpy(dtype=np.float64),
        x=u["x"].to_numpy(dtype=np.float64),
        y=u["y"].to_numpy(dtype=np.float64),
        indptr=graph.indptr.astype(np.int64),
        indices=graph.indices.astype(np.int64),
    )


# --------------------------------------------------------------------------------------------
# perimeters
# --------------------------------------------------------------------------------------------
def _grow(
    geo: _Geography,
    owner: np.ndarray,
    big: np.ndarray,
    pid: int,
    members: list[int],
    current: float,
    target: float,
    cap: float,
    ref: int,
) -> float:
    """Add free neighbouring units to ``members`` (in place) until ``target`` is reached.

    Candidates are taken by distance to the reference unit, shortened for units of the same
    EPCI and bassin de vie, so that perimeters follow intercommunal lines; a candidate that
    would push the population above ``cap`` is skipped. Returns the new population.
    """
    rx, ry, repci, rbassin = geo.x[ref], geo.y[ref], geo.epci[ref], geo.bassin[ref]
    heap: list[tuple[float, int]] = []

    def push(unit: int) -> None:
        for v in geo.neighbours(unit):
            if owner[v] != -1 or big[v]:
                continue
            tier = 2 - int(repci >= 0 and geo.epci[v] == repci)
            tier -= int(rbassin >= 0 and geo.bassin[v] == rbassin)
            dist = math.hypot(geo.x[v] - rx, geo.y[v] - ry)
            heapq.heappush(heap, (dist * _TIER_FACTOR[tier], int(v)))

    for m in members:
        push(m)
    while heap and current < target:
        _, v = heapq.heappop(heap)
        if owner[v] != -1 or current + geo.pop[v] > cap:
            continue
        owner[v] = pid
        members.append(v)
        current += geo.pop[v]
        push(v)
    return current


def _spread_starts(
    geo: _Geography, city: int, free: np.ndarray, k: int, rng: np.random.Generator
) -> list[int]:
    """Pick ``k`` free neighbours of ``city`` in directions as different as possible."""
    angles = np.arctan2(geo.y[free] - geo.y[city], geo.x[free] - geo.x[city])
    chosen = [int(rng.integers(len(free)))]
    while len(chosen) < min(k, len(free)):
        gap = np.full(len(free), np.inf)
        for c in chosen:
            d = np.abs(angles - angles[c])
            gap = np.minimum(gap, np.minimum(d, 2 * np.pi - d))
        gap[chosen] = -1.0
        chosen.append(int(np.argmax(gap)))
    return [int(free[c]) for c in chosen]


def _shares(k: int, rng: np.random.Generator) -> list[float]:
    """Draw ``k`` shares rounded down to the hundredth, each ≥ 0.1, summing to at most 1."""
    total = 1.0 if rng.random() < 0.6 else rng.uniform(0.75, 0.95)
    raw = rng.dirichlet(np.full(k, 4.0)) * (total - 0.1 * k) + 0.1
    return [math.floor(s * 100) / 100 for s in raw]


def _perimeters(geo: _Geography, rng: np.random.Generator) -> list[_Perimeter]:
    """Partition each département into CPTS-sized contiguous perimeters.

    Units left in pockets too small to make a CPTS and too big to join a neighbour stay out
    of every perimeter: they are zones blanches whatever the stages drawn later.
    """
    analysis = sources()["analyse"]
    shared_min = float(analysis["seuil_commune_partagee"])
    floor = float(analysis["plancher_creation"])
    cap = float(analysis["plafond_taille_coherente"])
    big = geo.pop >= shared_min
    owner = np.full(geo.size, -1, dtype=np.int64)  # perimeter id, -1 free, -2 left out
    perims: list[_Perimeter] = []

    noise = rng.normal(0.0, 0.35, geo.size)
    seed_key = -np.log(np.maximum(geo.pop, 1.0)) + noise
    for dep in sorted(set(geo.dep.tolist())):
        in_dep = np.flatnonzero(geo.dep == dep)
        first = len(perims)
        _leave_out(geo, owner, big, in_dep, rng)
        pockets: list[list[int]] = []
        for u in in_dep[np.lexsort((in_dep, seed_key[in_dep]))]:
            u = int(u)
            if owner[u] != -1:
                continue
            pop_u = geo.pop[u]
            shared = big[u] and (pop_u >= 2 * shared_min or rng.random() < _SHARED_PROBABILITY)
            if shared:
                _share_city(geo, owner, big, perims, u, rng)
                continue
            pid = len(perims)
            owner[u] = pid
            members = [u]
            target = rng.triangular(floor + 2_000, 45_000, cap - 5_000)
            total = _grow(geo, owner, big, pid, members, pop_u, target, cap, u)
            if total < floor:
                owner[members] = -2
                pockets.append(members)
            else:
                perims.append(_Perimeter(dep, u, members, total))
        _absorb_pockets(geo, owner, perims, first, pockets, cap)
    return perims


def _leave_out(
    geo: _Geography,
    owner: np.ndarray,
    big: np.ndarray,
    in_dep: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Leave a few small rural areas of a département out of every perimeter.

    Real zones blanches are not only whole territories without a CPTS: many are a few villages
    between two CPTS, a valley or a canton that joined none.
    """
    rural = in_dep[geo.pop[in_dep] < _LEFT_OUT_SEED_MAX]
    count = min(len(rural), int(rng.poisson(len(in_dep) / _LEFT_OUT_UNITS + 0.5)))
    for seed in rng.choice(rural, size=count, replace=False) if count else []:
        seed = int(seed)
        if owner[seed] != -1:
            continue
        owner[seed] = -2
        target = rng.triangular(1_000, 4_000, 25_000)
        _grow(geo, owner, big, -2, [seed], geo.pop[seed], target, target + 2_000, seed)


def _share_city(
    geo: _Geography,
    owner: np.ndarray,
    big: np.ndarray,
    perims: list[_Perimeter],
    city: int,
    rng: np.random.Generator,
) -> None:
    """Split a big unit between two or three CPTS, each reaching out in its own direction.

    Each claimant starts from a different free neighbour of the city (as far apart in angle as
    possible) and grows outwards; when the city has fewer free neighbours, fewer claimants
    (at least two) reach out and the others cover a part of the city only.
    """
    shared_min = float(sources()["analyse"]["seuil_commune_partagee"])
    pop_city = geo.pop[city]
    if pop_city >= 4 * shared_min:
        k = 3
    elif pop_city >= 2 * shared_min:
        k = 2 + int(rng.random() < 0.4)
    else:
        k = 2
    nbrs = geo.neighbours(city)
    free = nbrs[(owner[nbrs] == -1) & ~big[nbrs]]
    k = max(2, min(k, len(free)))
    parts = _shares(k, rng) if rng.random() < _PARTS_PROBABILITY else None
    starts = _spread_starts(geo, city, free, k, rng) if len(free) else []
    owner[city] = len(perims)
    owner[starts] = len(perims)
    for j in range(k):
        pid = len(perims)
        members = [city]
        current = pop_city * (parts[j] if parts else 1.0 / k)
        ref = city
        if j < len(starts):
            members.append(starts[j])
            owner[starts[j]] = pid
            current += geo.pop[starts[j]]
            ref = starts[j]
        extra = rng.triangular(10_000, 25_000, 70_000)
        total = _grow(
            geo, owner, big, pid, members, current, current + extra, current + 80_000, ref
        )
        part = {city: parts[j]} if parts else {}
        perims.append(_Perimeter(geo.dep[city], city, members, total, city, j, part))


def _absorb_pockets(
    geo: _Geography,
    owner: np.ndarray,
    perims: list[_Perimeter],
    first: int,
    pockets: list[list[int]],
    cap: float,
) -> None:
    """Join each small pocket to its smallest neighbouring perimeter that stays under ``cap``."""
    for pocket in pockets:
        pocket_pop = float(geo.pop[pocket].sum())
        around = np.unique(owner[np.concatenate([geo.neighbours(v) for v in pocket])])
        fits = [
            int(p)
            for p in around
            if p >= first and perims[p].city < 0 and perims[p].pop + pocket_pop <= cap
        ]
        if not fits:
            continue
        best = min(fits, key=lambda p: (perims[p].pop, p))
        owner[pocket] = best
        perims[best].units.extend(pocket)
        perims[best].pop += pocket_pop


# --------------------------------------------------------------------------------------------
# stages
# --------------------------------------------------------------------------------------------
def _membership(perims: list[_Perimeter]) -> tuple[np.ndarray, np.ndarray]:
    sizes = [len(p.units) for p in perims]
    units = np.fromiter((u for p in perims for u in p.units), dtype=np.int64, count=sum(sizes))
    return units, np.repeat(np.arange(len(perims)), sizes)


def _coverage(
    geo: _Geography, mem_unit: np.ndarray, mem_perim: np.ndarray, level: np.ndarray
) -> tuple[float, float]:
    """Return the shares of the population covered at ACI and at least at LI stage."""
    best = np.full(geo.size, _WHITE)
    np.maximum.at(best, mem_unit, level[mem_perim])
    total = geo.pop.sum()
    return geo.pop[best >= _ACI].sum() / total, geo.pop[best >= _LI].sum() / total


def _bisect(func: Callable[[float], float], target: float) -> float:
    """Return the shift whose (non-decreasing) ``func`` value is closest to ``target``."""
    lo, hi = -10.0, 10.0
    for _ in range(45):
        mid = (lo + hi) / 2
        if func(mid) < target:
            lo = mid
        else:
            hi = mid
    return lo if abs(func(lo) - target) <= abs(func(hi) - target) else hi


def _select(order: np.ndarray, own: np.ndarray, budget: float) -> np.ndarray:
    """Return the prefix of ``order`` whose population midpoints fit in ``budget``.

    The first perimeter is always kept: every département has at least one covered CPTS, and
    at least one at ACI stage.
    """
    pops = own[order]
    keep = np.cumsum(pops) - pops / 2 < budget
    keep[:1] = True
    return order[keep]


def _levels(geo: _Geography, perims: list[_Perimeter], rng: np.random.Generator) -> np.ndarray:
    """Draw a stage level for each perimeter, calibrated on the national targets.

    Each département draws its own coverage rate and ACI ratio (on the logit scale); one
    national shift of each is then found by bisection so that the national shares, counting
    each unit once at its best stage, hit the targets. Dense perimeters are covered first
    (with noise), so that zones blanches are mostly rural.
    """
    n = len(perims)
    mem_unit, mem_perim = _membership(perims)
    own = np.array([p.pop for p in perims])
    area = np.array([geo.area[p.units].sum() for p in perims])
    density = np.log(np.maximum(own, 1.0) / np.maximum(area, 0.01))
    cover_key = density + rng.normal(0.0, 1.0, n)
    # the claimants of a commune partagée are listed (or left out) together
    city = np.array([p.city for p in perims])
    cities = city >= 0
    if cities.any():
        best_key = pd.Series(cover_key[cities]).groupby(city[cities]).transform("max")
        cover_key[cities] = best_key.to_numpy()
    aci_key = 0.5 * density + rng.normal(0.0, 1.0, n)
    perim_dep = np.array([p.dep for p in perims])
    deps = sorted(set(perim_dep.tolist()))
    dep_pop = {d: geo.pop[geo.dep == d].sum() for d in deps}
    cover_logit = rng.normal(1.3, 1.1, len(deps))
    aci_logit = rng.normal(1.3, 0.9, len(deps))
    cover_order, aci_order = [], []
    for d in deps:
        idx = np.flatnonzero(perim_dep == d)
        cover_order.append(idx[np.lexsort((idx, -cover_key[idx]))])
        aci_order.append(idx[np.lexsort((idx, -aci_key[idx]))])

    def covered(shift: float) -> np.ndarray:
        level = np.full(n, _WHITE)
        for i, d in enumerate(deps):
            level[_select(cover_order[i], own, expit(cover_logit[i] + shift) * dep_pop[d])] = _LI
        return level

    def with_aci(base: np.ndarray, shift: float) -> np.ndarray:
        level = base.copy()
        for i in range(len(deps)):
            order = aci_order[i][base[aci_order[i]] >= _LI]
            budget = expit(aci_logit[i] + shift) * own[order].sum()
            level[_select(order, own, budget)] = _ACI
        return level

    shift = _bisect(
        lambda s: _coverage(geo, mem_unit, mem_perim, covered(s))[1], TARGET_LETTRE_INTENTION
    )
    base = covered(shift)
    shift = _bisect(lambda s: _coverage(geo, mem_unit, mem_perim, with_aci(base, s))[0], TARGET_ACI)
    level = with_aci(base, shift)
    draw = rng.random(n)
    level[(level == _LI) & (draw < 0.5)] = _PS
    level[(level == _WHITE) & (draw < _PRE_LI_PROBABILITY)] = _PRE_LI
    # a claimant left out while its partners are listed is a pre-LI project of the same city
    listed_cities = np.unique(city[(level != _WHITE) & cities])
    level[(level == _WHITE) & np.isin(city, listed_cities)] = _PRE_LI
    return level


# --------------------------------------------------------------------------------------------
# chevauchements
# --------------------------------------------------------------------------------------------
def _add_overlaps(
    geo: _Geography, perims: list[_Perimeter], level: np.ndarray, rng: np.random.Generator
) -> None:
    """Let a few CPTS also claim a small unit of a neighbouring CPTS (without shares)."""
    analysis = sources()["analyse"]
    cap = float(analysis["plafond_taille_coherente"])
    shared_min = float(analysis["seuil_commune_partagee"])
    listed = [i for i in range(len(perims)) if level[i] != _WHITE]
    claims = np.zeros(geo.size, dtype=np.int64)
    single = np.full(geo.size, -1, dtype=np.int64)
    for i in listed:
        claims[perims[i].units] += 1
        single[perims[i].units] = i
    single[claims != 1] = -1
    a = np.repeat(np.arange(geo.size), np.diff(geo.indptr))
    b = geo.indices
    pa, pb = single[a], single[b]
    keep = (pa >= 0) & (pb >= 0) & (pa != pb) & (geo.pop[a] < shared_min)
    candidates = np.flatnonzero(keep)
    fits = [perims[pb[c]].city < 0 and perims[pb[c]].pop + geo.pop[a[c]] <= cap for c in candidates]
    candidates = candidates[np.array(fits, dtype=bool)]
    wanted = int(rng.integers(_OVERLAPS[0], _OVERLAPS[1] + 1))
    used_units: set[int] = set()
    used_perims: set[int] = set()
    for c in rng.permutation(candidates):
        unit, src, dst = int(a[c]), int(pa[c]), int(pb[c])
        if unit in used_units or src in used_perims or dst in used_perims:
            continue
        perims[dst].units.append(unit)
        perims[dst].pop += geo.pop[unit]
        used_units.add(unit)
        used_perims.update((src, dst))
        if len(used_units) == wanted:
            break


# --------------------------------------------------------------------------------------------
# names and rows
# --------------------------------------------------------------------------------------------
def _short(nom: str) -> str:
    return nom.removesuffix(" Arrondissement")


def _pays(nom: str) -> str:
    if nom.startswith("Le "):
        return f"du Pays du {nom[3:]}"
    if nom.startswith("Les "):
        return f"du Pays des {nom[4:]}"
    letter = unicodedata.normalize("NFKD", nom[:1]).encode("ascii", "ignore").decode().upper()
    return f"du Pays d'{nom}" if letter in "AEIOUY" else f"du Pays de {nom}"


def _arrondissements(geo: _Geography, units: list[int]) -> str:
    """Name a group of arrondissements the way Paris, Lyon and Marseille do: "Paris 5e-6e"."""
    ordered = sorted(units, key=geo.code.__getitem__)
    city = _short(geo.nom[ordered[0]]).rsplit(" ", 1)[0]
    return f"{city} {'-'.join(_short(geo.nom[u]).rsplit(' ', 1)[1] for u in ordered)}"


def _candidate_names(geo: _Geography, p: _Perimeter, rng: np.random.Generator) -> list[str]:
    """Return names for a perimeter, preferred first (the caller keeps the first unused)."""
    others = [u for u in p.units if u != p.city]
    by_pop = sorted(others, key=lambda u: (-geo.pop[u], geo.code[u]))
    names = []
    if len(p.units) > 1 and all(geo.type[u] == "ARM" for u in p.units):
        names.append(f"CPTS {_arrondissements(geo, p.units)}")
    if p.city >= 0:
        city = _short(geo.nom[p.city])
        if not others:
            return [*names, *(f"CPTS {city} {side}" for side in ("Nord", "Sud", "Est", "Centre"))]
        angle = math.atan2(
            geo.y[others].mean() - geo.y[p.city], geo.x[others].mean() - geo.x[p.city]
        )
        side = _COMPASS[round(angle / (math.pi / 4)) % 8]
        top = _short(geo.nom[by_pop[0]])
        return [
            *names,
            f"CPTS {city} {side}",
            f"CPTS {city} – {top}",
            f"CPTS {city} {side} – {top}",
        ]
    top = _short(geo.nom[by_pop[0]])
    names += [f"CPTS {top}", f"CPTS {top} et environs"]
    if len(by_pop) > 1:
        names.append(f"CPTS {top} – {_short(geo.nom[by_pop[1]])}")
    weight: dict[str, float] = {}
    for u in p.units:
        if geo.nom_bassin[u]:
            weight[geo.nom_bassin[u]] = weight.get(geo.nom_bassin[u], 0.0) + geo.pop[u]
    if weight:
        bassin = min(weight, key=lambda k: (-weight[k], k))
        rural = len(p.units) >= 5 and geo.pop[by_pop[0]] < 15_000
        # rural CPTS are often named after their pays, urban ones after their main town
        names.insert(0 if rural and rng.random() < 0.6 else 2, f"CPTS {_pays(bassin)}")
    return names


def _rows(
    geo: _Geography, perims: list[_Perimeter], level: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    listed = [i for i in range(len(perims)) if level[i] != _WHITE]
    listed.sort(key=lambda i: (perims[i].dep, geo.code[perims[i].seed], perims[i].rank))
    regions = sorted(set(geo.region.tolist()))
    all_wordings = stage_wordings()
    level_stage = _level_stage()
    style = {r: {s: int(rng.integers(len(w))) for s, w in all_wordings.items()} for r in regions}
    used: set[str] = set()
    count: dict[str, int] = {}
    columns: dict[str, list[str]] = {c: [] for c in REGISTRY_COLUMNS}
    for i in listed:
        p = perims[i]
        count[p.dep] = count.get(p.dep, 0) + 1
        cpts_id = f"DEMO-{p.dep}-{count[p.dep]:03d}"
        names = _candidate_names(geo, p, rng)
        name = next((n for n in names if n not in used), None)
        k = 2
        while name is None:
            name = f"{names[0]} {k}" if f"{names[0]} {k}" not in used else None
            k += 1
        used.add(name)
        stage = level_stage[int(level[i])]
        wordings = all_wordings[stage]
        region = geo.region[p.seed]
        pick = style[region][stage] if rng.random() < 0.85 else int(rng.integers(len(wordings)))
        for u in sorted(p.units, key=geo.code.__getitem__):
            columns["cpts_id"].append(cpts_id)
            columns["nom_cpts"].append(name)
            columns["stade"].append(wordings[pick])
            columns["code_commune"].append(geo.code[u])
            columns["nom_commune"].append(geo.nom[u])
            columns["departement"].append(p.dep)
            columns["part"].append(f"{p.parts[u]:.2f}" if u in p.parts else "")
            columns["fictif"].append("oui")
    out = pd.DataFrame(columns, dtype=str)
    return out.sort_values(["cpts_id", "code_commune"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def generate_demo_registry(
    units: pd.DataFrame, adjacency: pd.DataFrame, *, seed: int = 2026
) -> pd.DataFrame:
    """Generate a fictitious national CPTS registry on the real units of France.

    Parameters
    ----------
    units
        Analysis units as in ``units.parquet`` (``code``, ``nom``, ``type``, ``departement``,
        ``region``, ``epci``, ``population``, ``bassin_vie``, ``nom_bassin_vie``,
        ``superficie_km2``, ``x``, ``y``; the geometry is not used).
    adjacency
        Rook contiguity as in ``adjacency.parquet`` (``code_a``, ``code_b``, both directions).
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same registry.

    Returns
    -------
    pandas.DataFrame
        One row per CPTS × unit, all columns strings: ``cpts_id``, ``nom_cpts``, ``stade``,
        ``code_commune`` (5 characters), ``nom_commune``, ``departement``, ``part`` (empty
        unless the CPTS declares its share of a commune partagée) and ``fictif`` (``"oui"``),
        sorted by ``cpts_id`` then ``code_commune``.

    Raises
    ------
    DataSourceError
        If a required column is missing or a unit code is duplicated.
    """
    rng = np.random.default_rng(seed)
    geo = _geography(units, adjacency)
    perims = _perimeters(geo, rng)
    level = _levels(geo, perims, rng)
    _add_overlaps(geo, perims, level, rng)
    registry = _rows(geo, perims, level, rng)
    mem_unit, mem_perim = _membership(perims)
    aci, li = _coverage(geo, mem_unit, mem_perim, level)
    # the generator's own estimate (a shared city counts whole): `couverture taux` gives the
    # share-aware figures
    log.debug(
        "registre de démonstration : %s, %s de la population en ACI, "
        "%s au moins en lettre d'intention",
        plural(registry["cpts_id"].nunique(), "CPTS fictive", "CPTS fictives"),
        percent(100 * aci),
        percent(100 * li),
    )
    return registry


def previous_month(registry: pd.DataFrame, *, seed: int = 2026) -> pd.DataFrame:
    """Return the demo registry as it stood a month earlier (registre fictif).

    A few CPTS were one stage behind (they signed their ACI or had their projet de santé
    validated this month) and a few young ones did not exist yet, so that the demo report
    has an evolution section to show.

    Parameters
    ----------
    registry
        Output of :func:`generate_demo_registry`.
    seed
        Seed; the same registry and seed give the same previous month.
    """
    rng = np.random.default_rng(seed + 1)
    first = registry.drop_duplicates("cpts_id").set_index("cpts_id")["stade"]
    stage = first.map(normalise_stage)
    ids = {s: np.array(sorted(stage.index[stage == s])) for s in ("aci", "projet_sante")}
    ids["lettre_intention"] = np.array(sorted(stage.index[stage == "lettre_intention"]))

    def pick(code: str, share: float) -> set[str]:
        pool = ids[code]
        return (
            set(rng.choice(pool, size=round(share * len(pool)), replace=False))
            if len(pool)
            else set()
        )

    signed = pick("aci", 0.08)
    validated = pick("projet_sante", 0.10)
    created = pick("lettre_intention", 0.08)
    out = registry[~registry["cpts_id"].isin(created)].copy()
    out.loc[out["cpts_id"].isin(signed), "stade"] = _config.stage("projet_sante").label
    out.loc[out["cpts_id"].isin(validated), "stade"] = _config.stage("lettre_intention").label
    return out.reset_index(drop=True)


def write_demo_registry(
    path: Path | None = None, *, seed: int = 2026, previous: bool = False
) -> Path:
    """Generate the demo registry from the processed units and write it as CSV (atomically).

    Parameters
    ----------
    path
        Destination, :data:`couverture.settings.DEMO_REGISTRY_PATH` by default.
    seed
        Seed of the generator; the same seed gives a byte-identical file.
    previous
        Write the registry of the month before (see :func:`previous_month`).

    Returns
    -------
    pathlib.Path
        The file written (UTF-8, ``,`` separator, ``\\n`` line endings).

    Raises
    ------
    DataSourceError
        If ``units.parquet`` or ``adjacency.parquet`` has not been built (``make data``).
    """
    path = Path(path) if path is not None else settings.DEMO_REGISTRY_PATH
    for source in (settings.UNITS_PATH, settings.ADJACENCY_PATH):
        if not source.exists():
            raise DataSourceError(f"fichier introuvable : {source} (lancer `make data`)")
    units = pd.read_parquet(settings.UNITS_PATH, columns=UNIT_COLUMNS)
    adjacency = pd.read_parquet(settings.ADJACENCY_PATH, columns=ADJACENCY_COLUMNS)
    registry = generate_demo_registry(units, adjacency, seed=seed)
    if previous:
        registry = previous_month(registry, seed=seed)
    log.info(
        "registre fictif%s : %s, %s (taux : couverture taux --registre %s)",
        " du mois précédent" if previous else "",
        plural(registry["cpts_id"].nunique(), "CPTS", "CPTS"),
        plural(len(registry), "ligne"),
        path,
    )
    write_csv(registry, path)  # the machine CSV, atomically
    return path


def fill_demo_plan(plan_path: Path | str, output: Path | str, *, n_projects: int = 4) -> Path:
    """Fill a plan d'action as a task force would, for the demonstration.

    The ``n_projects`` most populous projects are decided (statut, porteur, coordinator funded
    by the FIR, follow-up modalities, actors) and get their rétro-planning: the réunion
    opérationnelle held a fortnight before the plan's reference date, the lettre d'intention due
    a fortnight after it (late a month later, unless the registry shows it), the coordinator,
    the projet de santé and the ACI later. One more project is abandoned; the others stay
    proposed.

    Parameters
    ----------
    plan_path
        A workbook written by :func:`couverture.plan.write_plan`.
    output
        The filled workbook (written atomically).
    """
    book = openpyxl.load_workbook(plan_path)
    readme = {r[0].value: r[1].value for r in book[plan.SHEET_README].iter_rows() if len(r) > 1}
    on = dt.date.fromisoformat(str(readme[plan.REFERENCE_DATE_LABEL]))
    ws = book[plan.SHEET_PROJECTS]
    titles = {t: k for k, t in plan.PROJECT_TITLES.items()}
    column = {titles[str(c.value)]: c.column for c in ws[1] if str(c.value) in titles}
    rows = [
        r
        for r in range(2, ws.max_row + 1)
        if ws.cell(row=r, column=column["projet_id"]).value
        and ws.cell(row=r, column=column["type"]).value != "autre"
    ]
    rows.sort(key=lambda r: -int(ws.cell(row=r, column=column["population"]).value or 0))
    days = dt.timedelta
    decided: dict[str, int] = {}
    for k, r in enumerate(rows[: n_projects + 1]):
        pid = str(ws.cell(row=r, column=column["projet_id"]).value)
        if k == n_projects:
            ws.cell(row=r, column=column["statut"]).value = "abandonné"
            ws.cell(
                row=r, column=column["commentaire"]
            ).value = "abandonné : pas de porteur (exemple fictif)"
            continue
        values = {
            "statut": "en cours" if k % 2 == 0 else "à lancer",
            "porteur": ["MSP du territoire", "centre hospitalier", "", "maison de santé"][k % 4],
            "fir_montant": [50000, 30000, 0, 45000][k % 4] or None,
            "fir_etp": [0.5, 0.3, None, 0.5][k % 4],
            "fir_debut": on + days(60) if k % 4 != 2 else None,
            "fir_duree": 36 if k % 4 != 2 else None,
            "modalites_suivi": "comité de pilotage mensuel ARS-CPAM",
            "acteurs": ["URPS, élus, CPAM, ARS", "FCPTS, CLS, ARS", "élus, CPAM", "URPS, ARS"][
                k % 4
            ],
            "actions": "réunion des professionnels de santé ; courrier aux maires",
            "commentaire": "exemple fictif (démonstration)",
        }
        for name, value in values.items():
            ws.cell(row=r, column=column[name]).value = value
        decided[pid] = k
    jalons = book[plan.SHEET_MILESTONES]
    mtitles = {t: k for k, t in plan.MILESTONE_TITLES.items()}
    mcol = {mtitles[str(c.value)]: c.column for c in jalons[1] if str(c.value) in mtitles}
    names = plan.vocabulary()["jalons"]
    plan_dates = {
        names[0]: (on - days(15), on - days(15)),
        names[1]: (on + days(15), None),
        names[2]: (on + days(75), None),
        names[3]: (on + days(200), None),
        names[4]: (on + days(380), None),
    }
    for r in range(2, jalons.max_row + 1):
        pid = str(jalons.cell(row=r, column=mcol["projet_id"]).value or "")
        name = str(jalons.cell(row=r, column=mcol["jalon"]).value or "")
        if pid not in decided or name not in plan_dates:
            continue
        prevue, realisee = plan_dates[name]
        jalons.cell(row=r, column=mcol["prevue"]).value = prevue
        jalons.cell(row=r, column=mcol["realisee"]).value = realisee
        jalons.cell(row=r, column=mcol["responsable"]).value = "délégation départementale ARS"
    output = Path(output)
    with atomic_path(output) as tmp:
        book.save(tmp)
    log.info("plan d'action rempli pour la démonstration : %s", output)
    return output


def next_month_registry(registry: Path | str, plan_path: Path | str, output: Path | str) -> Path:
    """Write next month's demo registry: a new CPTS claims a creation project's perimeter.

    The most populous decided creation project of the plan still white gets a new CPTS at
    lettre d'intention, under a name of its own (« CPTS Cœur de … », not the project's), on
    every commune of its perimeter but the least populous one: what a task force sees when a
    project succeeds (the plan then reads « couverte par la CPTS désignée », the commune left
    out an undecided row, the lettre d'intention milestone done).

    Raises
    ------
    ArgumentError
        When the plan has no decided creation project still white.
    """
    previous = plan.read_plan(plan_path)
    with couverture.analyse(registry, departements=previous.departements or None) as a:
        suivi = plan.follow_up(a, previous)
        units = a.units().set_index("code")
    decided = suivi[
        (suivi["type"] == "creation")
        & suivi["statut"].isin([plan.key("en cours"), plan.key("à lancer")])
        & (suivi["situation"] == plan.WHITE)
    ].sort_values("population", ascending=False)
    if decided.empty:
        raise ArgumentError(
            f"--mois-suivant {plan_path} : aucun projet de création décidé encore blanc"
        )
    project = decided.iloc[0]
    codes = members(decided.iloc[:1])["code"].tolist()
    left = min(codes, key=lambda c: int(units.loc[c, "population"]))
    biggest = max(codes, key=lambda c: int(units.loc[c, "population"]))
    frame = pd.read_csv(registry, dtype=str, keep_default_na=False)
    dep = str(project["departement"])
    new = pd.DataFrame(
        [
            {
                **{c: "" for c in frame.columns},
                "cpts_id": f"DEMO-{dep}-901",
                "nom_cpts": f"CPTS Cœur de {units.loc[biggest, 'nom']}",
                "stade": "Lettre d'intention validée",
                "code_commune": c,
                "nom_commune": str(units.loc[c, "nom"]),
                "departement": dep,
                "fictif": "oui",
            }
            for c in codes
            if c != left
        ]
    )
    output = Path(output)
    write_csv(pd.concat([frame, new]), output)
    log.info(
        "registre fictif du mois suivant écrit : %s (%s prend le projet %s, sauf %s)",
        output,
        new["nom_cpts"].iloc[0],
        project["projet_id"],
        left,
    )
    return output


def write_demo_annuaire(
    path: Path | str, adhesions: Path | str | None = None, *, seed: int = 2026
) -> Path:
    """Write the fictitious annuaire (RPPS layout) of the demo départements, and adhesions.

    Every person is « FICTIF »; see :mod:`couverture._annuaire_demo`. ``adhesions``: also
    write a CSV ``cpts;adherents;actifs`` for the CPTS of the demo registry there.

    Raises
    ------
    DataSourceError
        If ``units.parquet`` or the demo registry has not been built (``make data``).
    """
    for source in (settings.UNITS_PATH, settings.DEMO_REGISTRY_PATH):
        if not source.exists():
            raise DataSourceError(f"fichier introuvable : {source} (lancer `make data`)")
    units = pd.read_parquet(
        settings.UNITS_PATH, columns=["code", "nom", "departement", "population"]
    )
    registry = pd.read_csv(settings.DEMO_REGISTRY_PATH, dtype=str)
    written, lines = write_demo_files(path, adhesions, units=units, registry=registry, seed=seed)
    log.info(
        "annuaire fictif écrit : %s (%s, départements %s)%s",
        written,
        plural(lines, "ligne"),
        ", ".join(DEMO_DEPARTEMENTS),
        f" ; adhésions fictives : {adhesions}" if adhesions is not None else "",
    )
    return written


def sheet_preview(
    workbook: Path | str,
    sheet: str,
    output: Path | str,
    *,
    title: str,
    columns: list[str] | None = None,
    max_rows: int = 8,
) -> Path:
    """Write an HTML page showing a sheet as a spreadsheet shows it (README screenshots).

    The header cells keep their fill (the plan's yellow columns to fill in), long texts wrap;
    ``columns`` picks the columns shown (by header), ``max_rows`` the first rows.
    """
    ws = openpyxl.load_workbook(workbook, read_only=False)[sheet]
    rows = [
        list(r)
        for r in ws.iter_rows(max_row=max_rows + 1)
        if any(c.value not in (None, "") for c in r)
    ]
    header = [str(c.value or "") for c in rows[0]]
    keep = [i for i, h in enumerate(header) if columns is None or h in columns]

    def cell(c: object, tag: str) -> str:
        fill = getattr(getattr(getattr(c, "fill", None), "fgColor", None), "rgb", None)
        style = f' style="background:#{str(fill)[2:]}"' if fill and str(fill) != "00000000" else ""
        value: Any = getattr(c, "value", None)
        text = value.isoformat()[:10] if isinstance(value, dt.date) else value
        return f"<{tag}{style}>{html.escape('' if text is None else str(text))}</{tag}>"

    body = "".join(
        "<tr>" + "".join(cell(r[i], "th" if n == 0 else "td") for i in keep) + "</tr>"
        for n, r in enumerate(rows)
    )
    page = (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><style>'
        "body{font:12px system-ui,Arial,sans-serif;margin:10px}h1{font-size:15px}"
        "table{border-collapse:collapse}th,td{border:1px solid #bbb;padding:3px 5px;"
        "vertical-align:top;max-width:16em}th{background:#eef2f8;text-align:left}"
        f"</style></head><body><h1>{html.escape(title)}</h1><table>{body}</table></body></html>"
    )
    out = Path(output)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
