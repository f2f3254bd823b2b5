"""Proposals to cover every zone blanche: extension, creation or rattachement temporaire.

For each zone blanche (see :mod:`couverture.zones`), in order of priority (population):

* **création** when the zone holds at least the calibrated floor: the zone is partitioned the
  way task forces draw CPTS, from the blocks they use: whole EPCIs where they fit the band
  (up to ``tolerance_epci`` times its upper bound, within the ceiling; the white part of an
  EPCI up to the top of the plafond's taille class, kept alone from the plancher up and
  taking at most one small neighbour within its taille class), an EPCI too big split
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
  holds little of, across a département or région boundary, which is then flagged in
  ``hors_territoire``, and with the inhabitants it adds beyond the plafond), so that every
  part is contiguous with the CPTS that takes it; an intact EPCI without CPTS within the
  plafond is taken whole or not at all. The plafond is a cost, not a wall: a CPTS stops
  before it would change ACI taille class past the plafond (so that an enclave goes to the
  CPTS around it), and a CPTS at lettre d'intention stage before it grows by more than half;
* **rattachement temporaire** (extension temporaire with mentorat) of a CPTS bordering the
  units that no neighbour can take within those limits, the mentor (the CPTS itself at ACI
  stage, else the nearest CPTS at ACI stage) in ``cpts_mentor``; units no CPTS borders
  (islands) go to the nearest CPTS at ACI stage, by distance between unit centroids in the
  same territory (mainland, Corsica, each DROM). Where the territory has no ACI CPTS at all,
  a CPTS is proposed for creation whatever its size, and the motif says why.

No creation is recommended under the plancher, unless a zone itself is smaller and no CPTS
can take it; a zone over the plancher is a creation rather than an extension from across a
border. The plancher is the ``floor`` option when given (it then holds as given); by default
it is ``plancher_creation`` of ``sources.toml`` (20,000, a typical CPTS covering 20,000 to
100,000 people), lowered zone by zone where the registry's own reference CPTS (those the band
is calibrated on, below) are smaller: to their lower quartile, never below ``plancher_minimum``
of ``[calibration]`` (the ``details`` of a creation say « plancher abaissé à … : CPTS peu
denses du département »). Every rule that uses the plancher (the band, an EPCI kept whole,
the creation preferred to an extension across a border, the remnants agglomerated) uses the
zone's effective one.

**Calibration.** The band of a new CPTS (floor, aim, upper bound) is read at run time from the
registry itself: the quartiles of the populations of the existing CPTS of the same
département and density class (inhabitants per km², classes of ``[calibration]`` in
``propositions.toml``), else of the région and density class, else of the département, else
of the région; outliers are left out first (Tukey's fences on the logarithm of the
populations: a CPTS listed with its seat commune only calibrates nothing). The plancher and
``ceiling`` are the fallback when fewer than ``min_cpts`` CPTS are found, and always bound
the band: ``plancher <= low < high <= ceiling`` whatever the registry. Nothing
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

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from couverture._config import funding_table, sources, toml
from couverture._format import integer
from couverture._suggest_context import _Context, _Cpts, _Graph
from couverture._suggest_context import unit_blocks as unit_blocks
from couverture._suggest_partition import _block_partition, _merge_blocks, _split_among
from couverture._suggest_texts import _brief, _cpts_row, _creation_row, _km, _the_cpts
from couverture._validate import check_bounds
from couverture.settings import CRS_WEB
from couverture.zones import members, unit_codes

# GeoPandas is imported by proposal_geometries only: `suggestions` computes without it.

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
    "cpts_mentor",
    "cpts_mentor_id",
]


def _params() -> dict[str, Any]:
    return toml("propositions.toml")


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


def _mentor(ctx: _Context, cid: str, units: list[int]) -> tuple[str, float]:
    """Return the mature CPTS mentoring a temporary extension of ``cid`` and its distance (m).

    ``cid`` itself at ACI stage, else the nearest CPTS at ACI stage (``""`` when the territory
    has none).
    """
    if ctx.cpts.stade[cid] == "aci":
        return cid, 0.0
    ranked = ctx.nearest_mature(units)
    return ranked[0] if ranked else ("", math.inf)


def _temporary_rows(
    ctx: _Context,
    units: list[int],
    ledger: _Ledger,
    reason: str,
    *,
    parts: dict[str, list[int]] | None = None,
) -> list[dict[str, Any]] | None:
    """Extension temporaire (with mentorat) of a CPTS bordering ``units``.

    The CPTS touching the units (or the ``parts`` just given to a CPTS in the same scenario)
    inside their territory first, then at ACI stage, then the smallest population after,
    then the longest shared border; the mentor is that CPTS at ACI stage, else the nearest
    one at ACI stage. ``None`` when no CPTS borders the units (islands: see
    :func:`_attach_rows`).
    """
    g = ctx.graph
    added = g.population(units)
    border: dict[str, float] = defaultdict(float)
    owned = {v: c for c, vs in (parts or {}).items() for v in vs}
    inside = set(units)
    for v in units:
        for u, b in g.adj[v]:
            if u in inside:
                continue
            for cid in {*ctx.cpts.of_unit[u], *([owned[u]] if u in owned else [])}:
                border[cid] += b
    if not border:
        return None
    rank = {"aci": 0, "projet_sante": 1, "lettre_intention": 2}

    def key(cid: str) -> tuple[bool, int, bool, float, float, str]:
        after = ledger.base(cid) + added
        return (
            bool(ctx.outside(units, cid)),
            rank.get(ctx.cpts.stade[cid], 3),
            after > ctx.ceiling and ctx.size(after) != ctx.size(ledger.base(cid)),
            after,
            -border[cid],
            cid,
        )

    cid = min(border, key=key)
    mentor, dist = _mentor(ctx, cid, units)
    notes = [reason, f"extension temporaire de la CPTS voisine ({_km(border[cid])} de frontière)"]
    if mentor and mentor != cid:
        notes.append(f"mentorat par la CPTS au stade ACI la plus proche ({_km(dist)})")
        if dist > 1000 * float(ctx.params["rattachement"]["distance_signalee_km"]):
            notes.append(
                "CPTS mentor éloignée : à revoir dès qu'une CPTS mature plus proche existera"
            )
    elif not mentor:
        notes.append("aucune CPTS au stade ACI dans le territoire pour le mentorat")
    lead = f"extension temporaire de {_the_cpts(ctx.cpts.nom[cid])} (voisine) ; {reason}"
    row = _cpts_row(ctx, "rattachement_temporaire", cid, units, ledger.base(cid), notes, lead=lead)
    row["cpts_mentor_id"] = mentor
    row["cpts_mentor"] = ctx.cpts.nom.get(mentor, "")
    ledger.add(cid, added)
    return [row]


def _attach_rows(
    ctx: _Context, units: list[int], ledger: _Ledger, reason: str, *, choice: int = 0
) -> list[dict[str, Any]] | None:
    """Rattachement temporaire of ``units`` to the ``choice``-th nearest ACI CPTS.

    For units no CPTS borders (islands) and the ranked alternatives: (those that stay within
    the ceiling first); ``None`` when the territory has no ACI CPTS.
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
    # « temporaire » is in the option beside it: the room goes to the CPTS's name and the reason
    lead = f"rattachement à {_the_cpts(ctx.cpts.nom[cid])} (ACI, {_km(dist)}) ; {reason}"
    row = _cpts_row(ctx, "rattachement_temporaire", cid, units, ledger.base(cid), notes, lead=lead)
    row["cpts_mentor_id"], row["cpts_mentor"] = cid, ctx.cpts.nom[cid]
    ledger.add(cid, added)
    return [row]


def _temporary_or_attach(
    ctx: _Context,
    units: list[int],
    ledger: _Ledger,
    reason: str,
    *,
    parts: dict[str, list[int]] | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Return the rows and headline for units the neighbours cannot take.

    A temporary extension of a bordering CPTS, else a rattachement to the nearest mature one,
    else a creation.
    """
    rows = _temporary_rows(ctx, units, ledger, reason, parts=parts)
    if rows:
        return rows, "extension temporaire avec mentorat"
    rows = _attach_rows(ctx, units, ledger, reason)
    if rows:
        return rows, "rattachement temporaire"
    return [_fallback_creation(ctx, units, reason)], (
        "création d'une CPTS faute de CPTS mature dans le territoire"
    )


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
    g = ctx.graph
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
        reason = (
            "partie que les CPTS voisines ne peuvent prendre sans changer de taille "
            "au-delà du plafond"
        )
        if g.population(piece) >= ctx.band(piece).plancher and all(
            str(g.epci[v]) in ctx.intact_epcis() for v in piece
        ):
            note = "intercommunalité sans CPTS que les CPTS voisines ne peuvent prendre entière"
            rows.append(_creation_row(ctx, piece, [note], why=note))
            continue
        rows.extend(_temporary_or_attach(ctx, piece, ledger, reason, parts=parts)[0])
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
        if not ctx.small(r, g.population(r), ctx.band(r)) or len(regions) == 1:
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
        elif population < band.low and population >= band.plancher and ctx.whole_epci(r):
            extra.append("intercommunalité sans CPTS gardée entière (au-dessus du plancher)")
            why = "sous la taille visée pour garder l'EPCI entier"
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


def _inside_first(ctx: _Context, units: list[int], split: _Scenario) -> list[_Scenario]:
    """Return the split scenario, after a creation when the split crosses a border.

    Crossing a border is never preferred to an equivalent inside: a zone over the plancher
    becomes a CPTS of its own territory rather than an extension from outside it.
    """
    if ctx.graph.population(units) < ctx.band(units).plancher or not any(
        r["hors_territoire"] for r in split.rows if r["option"] != "creation"
    ):
        return [split]
    note = "plutôt qu'une extension de CPTS hors du département ou de la région"
    created = _creation_scenario(ctx, units)
    for row in created.rows:
        row["details"] += f" ; {note}"
    return [created, split]


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
        reason = (
            "toutes les CPTS voisines changeraient de taille au-delà du plafond de taille cohérente"
        )
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
            scenarios.extend(_inside_first(ctx, units, split))
        else:
            rows, headline = _temporary_or_attach(ctx, units, _Ledger(ctx), reason)
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
def _compute(
    analysis: Analysis, floor: int, ceiling: int, funding_scale: str, *, explicit: bool
) -> pd.DataFrame:
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
        explicit=explicit,
    )
    records = []
    for zone_id, departement, zone_pop, communes in zip(
        zones["zone_id"].astype(str),
        zones["departement"].astype(str),
        zones["population"].astype("int64").tolist(),
        unit_codes(zones["communes"]),
        strict=True,
    ):
        units = sorted(graph.index[c] for c in communes)
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
        The plancher: minimum population of a new CPTS, no recommended creation under it
        unless its zone is smaller and no CPTS can take it; also the lower bound of the band
        where the registry has too few CPTS to calibrate it on. Given, it holds as given.
        Without it, the default (``plancher_creation`` of ``sources.toml``, 20,000) is
        lowered zone by zone where the registry's reference CPTS are smaller, to their lower
        quartile, never below ``plancher_minimum`` of ``[calibration]`` in
        ``propositions.toml`` (5,000); the ``details`` say so.
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
        proposal crosses that boundary), ``details`` (the full explanation) and, for a
        ``rattachement_temporaire``, the mentor at ACI stage (``cpts_mentor``,
        ``cpts_mentor_id``; empty otherwise). Ordered by priority, rank and part.

    Raises
    ------
    ArgumentError
        When the bounds are not positive or ``floor >= ceiling``, or the scale is unknown.
    """
    settings = sources()["analyse"]
    explicit = floor is not None
    floor = int(settings["plancher_creation"]) if floor is None else floor
    ceiling = int(settings["plafond_taille_coherente"]) if ceiling is None else ceiling
    funding_scale = funding_scale or str(settings["bareme_financement"])
    check_bounds(floor, ceiling)
    funding_table(funding_scale)
    analysis.check_departements()
    # the cache key already follows the code and config/propositions.toml (_cache.code_version)
    name = f"suggestions_{floor if explicit else 'auto'}_{ceiling}_{funding_scale}"
    frame = analysis.cached(
        name, lambda: _compute(analysis, floor, ceiling, funding_scale, explicit=explicit)
    )
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

    geoms = analysis.member_geometries(members(proposals), key="ligne")
    geoms = geoms.reindex(range(len(proposals)))
    return gpd.GeoDataFrame(geometry=geoms.to_list(), index=proposals.index, crs=CRS_WEB)
