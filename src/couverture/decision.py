"""The « décision » mode of the département maps: the data it embeds, the scenario it exports.

The page lets a task force draw a scenario commune by commune.

In a meeting, the people around the table start from the recommended proposals (or from
nothing), click white communes to give them to a neighbouring CPTS (extension, or rattachement
temporaire with a mentor), to a new CPTS, or back to « sans décision », and read live totals
for every project: population, ACI taille and maximum funding before and after, warnings (not
contiguous, above the plafond, across a département or région border, a creation under the
plancher). The page then exports the scenario as the CSV that ``plan-action --scenario``
reads (:data:`SCENARIO_COLUMNS`, UTF-8 with BOM, ``;`` separated).

This module prepares, once per run, the plain data the page embeds (:func:`prepare`), slices it
per département (:func:`payload`): the units of the département and those across its border,
their rook adjacency in compressed form (CSR offsets and neighbour positions), the CPTS that
can take communes, the recommended proposals as lists of unit positions, the size classes,
the funding barème and the bounds of ``sources.toml``. The page's runtime is
``assets/decision.js`` (and ``decision.css``); the totals it shows are recomputed here in
Python by :func:`project_totals` (the browser test compares the two).

Examples
--------
>>> sorted(SCENARIO_TYPES)
['creation', 'extension', 'rattachement_temporaire']
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from couverture._config import funding_table, size_class, size_classes, sources
from couverture._config import stages as _stages
from couverture._errors import ArgumentError, CouvertureError
from couverture._output import atomic_path
from couverture.zones import members

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from couverture._graph import UnitGraph

log = logging.getLogger(__name__)

# the scenario file: one row per commune (see the plan d'action's scenario reader)
SCENARIO_COLUMNS = ("projet", "type", "cpts", "code_commune", "cpts_mentor")
# machine key → the word written in the file (accents and case are ignored when read)
SCENARIO_TYPES = {
    "creation": "création",
    "extension": "extension",
    "rattachement_temporaire": "rattachement temporaire",
}
# a unit's representative point: 4 decimals (about 10 m) are plenty to lasso it
POINT_DECIMALS = 4


@dataclass
class DecisionLayers:
    """What every département's decision mode needs, computed once per run.

    Plain Python lists aligned with the graph's unit positions, so that slicing them for each
    of the 101 maps costs no pandas call.

    Attributes
    ----------
    graph
        The rook adjacency of the units (positions ``0..n-1`` in its ``codes`` order).
    codes, nom, population, region
        Code, name, population and région of each unit.
    blanche
        Whether each unit is in a zone blanche.
    cpts_of
        The CPTS ids holding each unit (projects before their lettre d'intention included).
    lon, lat
        A point inside each unit (for the lasso and labels; ``None`` without geometry).
    by_departement
        The positions of each département's units, ascending (so in code order).
    cpts
        By CPTS id: ``id, nom, stade`` (``""`` before the LI), ``pop``, ``deps`` and ``regs``
        (sorted territories of its units), ``lon``, ``lat`` (a point of its perimeter), and
        ``homonyme: 1`` when another CPTS of the registry bears its name (the exported
        scenario then names it by its id).
    proposals
        Recommended proposals: ``id``, ``departement``, ``option``, ``cpts_cible_id``,
        ``nom_propose``, ``codes`` (list of unit codes).
    rates
        By département: ``nom``, ``population``, ``pop_li`` (covered at the first stage) and
        ``pop_na`` (the share of shared communes no CPTS claims: neither covered nor white).
    """

    graph: UnitGraph
    codes: list[str]
    nom: list[str]
    population: list[int]
    region: list[str]
    blanche: list[bool]
    cpts_of: list[list[str]]
    lon: list[float | None]
    lat: list[float | None]
    by_departement: dict[str, np.ndarray]
    cpts: dict[str, dict[str, Any]]
    proposals: list[dict[str, Any]]
    rates: dict[str, dict[str, Any]]


def settings() -> dict[str, Any]:
    """Return the bounds, size classes and funding barème the page computes with.

    Examples
    --------
    >>> s = settings()
    >>> s["bareme"]["1"], s["tailles"][0]
    (220000, [1, 0, 40000])
    """
    analyse = sources()["analyse"]
    funding = funding_table(str(analyse["bareme_financement"]))
    return {
        "plancher": int(analyse["plancher_creation"]),
        "plafond": int(analyse["plafond_taille_coherente"]),
        "tailles": [[t, lo, hi] for t, lo, hi in size_classes()],
        "bareme": {str(t): int(v) for t, v in sorted(funding.items())},
    }


def _points(geoms: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Return the longitude and latitude of a point inside each geometry (NaN when missing)."""
    values = np.asarray(geoms.to_numpy(), dtype=object)
    out = np.full((len(values), 2), np.nan)
    keep = ~(shapely.is_missing(values) | shapely.is_empty(values))
    if keep.any():
        out[keep] = shapely.get_coordinates(shapely.point_on_surface(values[keep]))
    out = np.round(out, POINT_DECIMALS)
    return out[:, 0], out[:, 1]


def prepare(
    *,
    units: pd.DataFrame,
    unit_layer: gpd.GeoDataFrame,
    cpts: pd.DataFrame,
    cpts_layer: gpd.GeoDataFrame,
    membership: pd.DataFrame,
    graph: UnitGraph,
    proposals: pd.DataFrame,
    rates: pd.DataFrame,
) -> DecisionLayers:
    """Gather, once per run, what the decision mode of every département map embeds.

    Parameters
    ----------
    units
        Units of all of France (``Analysis.units``: ``code, nom, departement, region,
        population``).
    unit_layer
        The maps' unit layer (index ``code``, ``zone_id``, simplified geometry).
    cpts
        Every CPTS (``Analysis.cpts`` of the national analysis).
    cpts_layer
        The maps' CPTS layer (their perimeters; a CPTS missing from it has no point).
    membership
        ``cpts_id, code`` pairs of the whole registry.
    graph
        The rook adjacency of the units.
    proposals
        The maps' proposal layer (``proposition``, ``recommandee``, ``communes``…).
    rates
        Coverage rates by département (index ``code``).
    """
    codes = [str(c) for c in graph.codes.tolist()]
    table = units.set_index("code")[["nom", "population", "region"]].reindex(codes)
    zone_of = unit_layer["zone_id"].reindex(codes)
    lon, lat = _points(unit_layer.geometry.reindex(codes))
    at = {code: i for i, code in enumerate(codes)}
    deps = graph.departement.astype(str)
    order = np.argsort(deps, kind="stable")
    cuts = np.flatnonzero(deps[order][1:] != deps[order][:-1]) + 1
    by_dep = {str(deps[g[0]]): g for g in np.split(order, cuts) if len(g)}

    # every CPTS of the registry: a project before its lettre d'intention may take communes too
    stage_codes = {s.code for s in _stages()}
    cpts_of: list[list[str]] = [[] for _ in codes]
    territories: dict[str, tuple[set[str], set[str]]] = {}
    region = [r if isinstance(r, str) else "" for r in table["region"].tolist()]
    pairs = membership[["cpts_id", "code"]].drop_duplicates()
    for cid, code in zip(pairs["cpts_id"].tolist(), pairs["code"].tolist(), strict=True):
        i = at.get(str(code))
        if i is None:
            continue
        cpts_of[i].append(str(cid))
        d, r = territories.setdefault(str(cid), (set(), set()))
        d.add(str(deps[i]))
        r.add(region[i])
    twins = _homonyms(cpts)
    c_lon, c_lat = _points(cpts_layer.geometry)
    points = dict(zip(cpts_layer.index.astype(str), zip(c_lon, c_lat, strict=True), strict=True))
    info: dict[str, dict[str, Any]] = {}
    for cid, nom, stade, pop in zip(
        cpts.index.astype(str), cpts["nom"], cpts["stade"], cpts["population"], strict=True
    ):
        d, r = territories.get(cid, (set(), set()))
        x, y = points.get(cid, (None, None))
        info[cid] = {
            "id": cid,
            "nom": str(nom),
            "stade": stade if stade in stage_codes else "",
            "pop": int(pop),
            "deps": sorted(d),
            "regs": sorted(r - {""}),
            "lon": _num(x),
            "lat": _num(y),
        }
        if cid in twins:  # its name is another CPTS's too: files name it by its id
            info[cid]["homonyme"] = 1

    first = _stages()[0].code
    return DecisionLayers(
        graph=graph,
        codes=codes,
        nom=[n if isinstance(n, str) else "" for n in table["nom"].tolist()],
        population=[int(p) for p in table["population"].fillna(0).tolist()],
        region=region,
        blanche=[isinstance(z, str) and z != "" for z in zone_of.tolist()],
        cpts_of=[sorted(c) if len(c) > 1 else c for c in cpts_of],
        lon=[_num(v) for v in lon.tolist()],
        lat=[_num(v) for v in lat.tolist()],
        by_departement=by_dep,
        cpts=info,
        proposals=_recommended(proposals, pd),
        rates={
            str(dep): {
                "nom": str(nom),
                "population": int(pop),
                "pop_li": int(li),
                "pop_na": int(na),
            }
            for dep, nom, pop, li, na in zip(
                rates.index,
                rates["nom"],
                rates["population"],
                rates[f"pop_{first}"],
                rates["population_non_attribuee"],
                strict=True,
            )
        },
    )


def cpts_name_key(name: str) -> str:
    """Compare CPTS names as the scenario reader does: no accents, case, punctuation, « CPTS ».

    Examples
    --------
    >>> cpts_name_key("CPTS  du Pays de Vitré"), cpts_name_key("cpts-du-pays-de-vitre")
    ('du_pays_de_vitre', 'du_pays_de_vitre')
    """
    import re
    import unicodedata

    folded = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    key = re.sub(r"[^a-z0-9]+", "_", folded).strip("_")
    return re.sub(r"(^|_)cpts(_|$)", r"\1", key).strip("_")


def _homonyms(cpts: pd.DataFrame) -> set[str]:
    """Return the ids of the CPTS whose name another CPTS of the registry bears too."""
    by_key: dict[str, list[str]] = {}
    for cid, nom in zip(cpts.index.astype(str), cpts["nom"].astype(str), strict=True):
        by_key.setdefault(cpts_name_key(nom), []).append(cid)
    return {cid for ids in by_key.values() if len(ids) > 1 for cid in ids}


def _recommended(proposals: pd.DataFrame, pd: Any) -> list[dict[str, Any]]:
    """Return the recommended proposals with the list of their unit codes."""
    if not len(proposals):
        return []
    rec = proposals[proposals["recommandee"].astype(str).str.lower() == "oui"]
    long = members(rec, key="proposition")
    by_id: dict[str, list[str]] = {}
    for key, code in zip(long["proposition"].tolist(), long["code"].tolist(), strict=True):
        by_id.setdefault(str(key), []).append(str(code))
    target = rec["cpts_cible_id"] if "cpts_cible_id" in rec else pd.Series(None, rec.index)
    return [
        {
            "id": str(r["proposition"]),
            "departement": str(r["departement"]),
            "option": str(r["option"]),
            "cpts_cible_id": cid if isinstance(cid, str) and cid else None,
            "nom_propose": r["nom_propose"] if isinstance(r["nom_propose"], str) else None,
            "codes": by_id.get(str(r["proposition"]), []),
        }
        for r, cid in zip(rec.to_dict("records"), target.tolist(), strict=True)
    ]


def _num(value: Any) -> int | float | None:
    """Return a JSON number (integer when whole), ``None`` for NaN."""
    if value is None or value != value:
        return None
    f = float(value)
    return int(f) if f.is_integer() else f


def storage_key(meta: dict[str, Any], departement: str) -> str:
    """Return the key of a map's work in progress in the browser's storage.

    One per registry (its label and date) and département: a scenario drawn on this month's
    map is not offered on next month's, whose white communes differ.

    Examples
    --------
    >>> storage_key({"registre": "registre_demo.csv", "date_registre": "2026-11-30"}, "35")
    'couverture-decision|registre_demo.csv|2026-11-30|35'
    """
    registry, date = str(meta.get("registre", "")), str(meta.get("date_registre", ""))
    return "|".join(["couverture-decision", registry, date, departement])


def payload(
    layers: DecisionLayers, departement: str, *, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the data embedded in one département's map for its decision mode.

    Units are positions: the département's own first (``nIn`` of them, in code order), then
    the units of other départements that border them. The adjacency is in CSR form over those
    positions (``adj0``: offsets, ``adj``: neighbour positions), restricted to edges with one
    end in the département. CPTS are those holding one of these units (projects before their
    lettre d'intention included, with an empty ``stade``) or targeted by a proposal of the
    département.
    """
    g = layers.graph
    own = layers.by_departement.get(departement, np.zeros(0, dtype=np.int64)).astype(np.int64)
    inside = np.zeros(len(g.codes), dtype=bool)
    inside[own] = True
    # the département's edges, read from its rows of the CSR arrays (no pass over all France)
    counts = g.indptr[own + 1] - g.indptr[own]
    first = np.repeat(g.indptr[own] - (np.cumsum(counts) - counts), counts)
    src = np.repeat(own, counts)
    dst = g.indices[first + np.arange(int(counts.sum()))]
    out = ~inside[dst]
    # neighbours across the border: the other ends of the département's edges
    across = np.unique(dst[out])
    nodes = np.concatenate([own, across]).astype(np.int64)
    local = np.full(len(g.codes), -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    # every edge with one end in the département, in both directions
    la = np.concatenate([local[src], local[dst[out]]])
    lb = np.concatenate([local[dst], local[src[out]]])
    order = np.lexsort((lb, la))
    la, lb = la[order], lb[order]
    offsets = np.zeros(len(nodes) + 1, dtype=np.int64)
    np.cumsum(np.bincount(la, minlength=len(nodes)), out=offsets[1:])

    pos = nodes.tolist()
    n_in = len(own)
    mine = pos[:n_in]
    props = [p for p in layers.proposals if p["departement"] == departement]
    wanted = {c for i in pos for c in layers.cpts_of[i]}
    wanted |= {p["cpts_cible_id"] for p in props if p["cpts_cible_id"] in layers.cpts}
    ids = sorted(c for c in wanted if c in layers.cpts)
    cpts_pos = {cid: k for k, cid in enumerate(ids)}
    codes = [layers.codes[i] for i in pos]
    position = {code: k for k, code in enumerate(codes)}
    proposals = []
    for p in props:
        units = [position[c] for c in p["codes"] if position.get(c, n_in) < n_in]
        if units:
            target = cpts_pos.get(p["cpts_cible_id"]) if p["cpts_cible_id"] else None
            proposals.append(
                {"id": p["id"], "option": p["option"], "cpts": target, "nom": p["nom_propose"]}
                | {"u": units}
            )
    rate = layers.rates.get(departement)
    deps = g.departement
    return {
        "departement": departement,
        "nomDepartement": rate["nom"] if rate else departement,
        "nIn": n_in,
        "code": codes,
        "nom": [layers.nom[i] for i in mine],
        "pop": [layers.population[i] for i in mine],
        "blanche": [1 if layers.blanche[i] else 0 for i in mine],
        "lon": [layers.lon[i] for i in mine],
        "lat": [layers.lat[i] for i in mine],
        "dep": [str(deps[i]) for i in pos],
        "reg": [layers.region[i] for i in pos],
        "cu": [[cpts_pos[c] for c in layers.cpts_of[i] if c in cpts_pos] for i in pos],
        "adj0": offsets.tolist(),
        "adj": lb.tolist(),
        "cpts": [layers.cpts[c] for c in ids],
        "propositions": proposals,
        "population": rate["population"] if rate else sum(layers.population[i] for i in mine),
        "popLi": rate["pop_li"] if rate else 0,
        "popNonAttribuee": rate["pop_na"] if rate else 0,
        "stades": {s.code: s.label for s in _stages()},
        "cle": storage_key(meta or {}, departement),
        "aci": _stages()[-1].code,
        # the scenario file the page exports: its header and the words of its types
        "entete": list(SCENARIO_COLUMNS),
        "types": dict(SCENARIO_TYPES),
        **settings(),
    }


# ------------------------------------------------------------------------------------------------
# the same figures in Python (the browser test compares them with the page's)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProjectTotals:
    """The figures the page shows for one project of a scenario."""

    communes: int
    population_ajoutee: int
    population_avant: int
    population_apres: int
    taille_avant: int | None
    taille_apres: int
    financement_avant: int | None
    financement_apres: int


def project_totals(
    populations: Iterable[float], *, cpts_population: float | None = None
) -> ProjectTotals:
    """Return the totals of a project: its communes' population added to a CPTS, or a creation.

    ``populations`` are those of the communes the CPTS does not hold yet (a project before its
    lettre d'intention already counts its own white communes).

    Examples
    --------
    >>> t = project_totals([30_000, 15_000])
    >>> t.population_apres, t.taille_apres, t.financement_apres
    (45000, 2, 287000)
    >>> project_totals([1_000], cpts_population=39_500).taille_avant
    1
    """
    pops = [int(p) for p in populations]
    before = int(cpts_population) if cpts_population is not None else 0
    after = before + sum(pops)
    barème = funding_table(str(sources()["analyse"]["bareme_financement"]))
    t_before = size_class(before) if cpts_population is not None else None
    t_after = size_class(after)
    return ProjectTotals(
        communes=len(pops),
        population_ajoutee=sum(pops),
        population_avant=before,
        population_apres=after,
        taille_avant=t_before,
        taille_apres=t_after,
        financement_avant=barème[t_before] if t_before is not None else None,
        financement_apres=barème[t_after],
    )


def covered_share(pop_covered: float, pop_added: float, population: float) -> float:
    """Share (%) of a population covered at lettre d'intention once every project reached it.

    Examples
    --------
    >>> covered_share(600, 150, 1000)
    75.0
    """
    return 100.0 * (pop_covered + pop_added) / population if population else 0.0


# ------------------------------------------------------------------------------------------------
# a picture of the mode in use (make demo; the README shows it)
# ------------------------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
INIT_CALL = "couverture.decision.init(map, "


def embedded_payload(html_text: str, *, source: str = "carte") -> dict[str, Any]:
    """Return the decision data embedded in a département map's HTML.

    Raises
    ------
    ArgumentError
        When the page has no decision mode (a national map, or one written by an older version).
    """
    start = html_text.find(INIT_CALL)
    if start < 0:
        raise ArgumentError(
            f"{source} : carte sans mode décision (carte nationale, ou d'une version antérieure)"
        )
    data, _ = json.JSONDecoder().raw_decode(html_text, start + len(INIT_CALL))
    return dict(data)


def demo_selection(data: dict[str, Any]) -> list[str]:
    """Return the white communes a demonstration selects: one of a proposal that borders a CPTS.

    The most populous such commune of the first proposal that has one (the panel then offers
    extensions of its neighbouring CPTS next to the proposal's own project); else the most
    populous white commune.
    """
    n_in, adj0, adj, cu = data["nIn"], data["adj0"], data["adj"], data["cu"]
    for p in data["propositions"]:
        touching = [u for u in p["u"] if any(cu[v] for v in adj[adj0[u] : adj0[u + 1]])]
        if touching:
            return [data["code"][max(touching, key=lambda u: (data["pop"][u], -u))]]
    white = [u for u in range(n_in) if data["blanche"][u]]
    return [data["code"][max(white, key=lambda u: data["pop"][u])]] if white else []


def capture(
    map_path: Path | str,
    png: Path | str,
    *,
    chromium: str = CHROMIUM,
    size: tuple[int, int] = (1500, 950),
) -> Path | None:
    """Take a screenshot of a département map in decision mode, started from the proposals.

    One commune is selected (:func:`demo_selection`), so that the panel shows the choices a
    click opens. Headless Chromium runs with no network; the picture is written aside then
    moved into place. Returns ``None`` (and logs why) when Chromium is not installed.
    """
    map_path, png = Path(map_path), Path(png)
    if not Path(chromium).exists():
        log.warning("chromium absent (%s) : capture du mode décision non produite", chromium)
        return None

    try:
        text = map_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArgumentError(f"{map_path} : carte illisible ({exc.__class__.__name__})") from exc
    data = embedded_payload(text, source=str(map_path))
    url = map_path.resolve().as_uri() + "#decision=propositions"
    selection = demo_selection(data)
    if selection:
        url += "&selection=" + ",".join(selection)
    png.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="couverture-capture-") as profile,
            atomic_path(png) as tmp,
        ):
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    "--proxy-server=127.0.0.1:9",  # offline: no background tiles
                    "--disable-background-networking",
                    f"--user-data-dir={profile}",
                    f"--window-size={size[0]},{size[1]}",
                    "--virtual-time-budget=5000",
                    f"--screenshot={tmp}",
                    url,
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        # the picture is an illustration: make demo goes on without it
        log.warning("chromium a échoué (%s) : capture du mode décision non produite", exc)
        return None
    return png


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m couverture.decision capture MAP PNG``: the picture of ``make demo``."""
    parser = argparse.ArgumentParser(
        prog="python -m couverture.decision",
        description="capture d'écran du mode décision d'une carte de département",
    )
    parser.add_argument("action", choices=["capture"])
    parser.add_argument("carte", type=Path, help="carte de département (departement-XX.html)")
    parser.add_argument("png", type=Path, help="image à écrire")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        written = capture(args.carte, args.png)
    except CouvertureError as exc:
        print(f"erreur : {exc}", file=sys.stderr)
        return 2
    if written is not None:
        print(f"capture du mode décision : {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
