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

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from couverture._config import funding_table, size_class, size_classes, sources
from couverture._config import stages as _stages

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

    Attributes
    ----------
    units
        Every unit (index ``code``) with ``nom``, ``population``, ``departement``, ``region``,
        ``blanche`` (in a zone blanche), ``cpts_ids`` (its CPTS, ``|``-joined),
        ``lon``, ``lat`` (a point inside the unit, for the lasso; NaN without geometry).
    graph
        The rook adjacency of the units.
    cpts
        CPTS (index ``cpts_id``) with ``nom``, ``stade`` (empty before the LI), ``population``,
        ``departements`` and ``regions`` (sorted tuples of their units' territories), ``lon``,
        ``lat`` (a point of their perimeter).
    proposals
        Recommended proposals: ``id``, ``departement``, ``option``, ``cpts_cible_id``,
        ``nom_propose``, ``codes`` (list of unit codes).
    rates
        Population and population covered at the first stage, by département.
    """

    units: pd.DataFrame
    graph: UnitGraph
    cpts: pd.DataFrame
    proposals: list[dict[str, Any]]
    rates: pd.DataFrame


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
    import shapely

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
        population, stade``).
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
    import pandas as pd

    from couverture.zones import members

    stage_codes = [s.code for s in _stages()]
    table = units.set_index("code")[["nom", "population", "departement", "region", "stade"]]
    table = table.copy()
    zone_of = unit_layer["zone_id"].reindex(table.index).fillna("")
    table["blanche"] = (zone_of != "").to_numpy()
    lon, lat = _points(unit_layer.geometry)
    table["lon"] = pd.Series(lon, index=unit_layer.index).reindex(table.index).to_numpy()
    table["lat"] = pd.Series(lat, index=unit_layer.index).reindex(table.index).to_numpy()

    # every CPTS of the registry: a project before its lettre d'intention may take communes too
    # (its stage is then empty)
    staged = cpts.assign(stade=cpts["stade"].where(cpts["stade"].isin(stage_codes), ""))
    m = membership[membership["cpts_id"].isin(staged.index)][["cpts_id", "code"]]
    m = m.drop_duplicates()
    ids_of = m.groupby("code")["cpts_id"].agg(lambda s: "|".join(sorted(s)))
    table["cpts_ids"] = ids_of.reindex(table.index).fillna("").to_numpy()
    terr = m.join(table[["departement", "region"]], on="code")
    deps = terr.groupby("cpts_id")["departement"].agg(lambda s: tuple(sorted(set(s.dropna()))))
    regs = terr.groupby("cpts_id")["region"].agg(lambda s: tuple(sorted(set(s.dropna()))))
    frame = staged[["nom", "stade", "population"]].copy()
    frame["departements"] = deps.reindex(frame.index)
    frame["regions"] = regs.reindex(frame.index)
    c_lon, c_lat = _points(cpts_layer.geometry)
    frame["lon"] = pd.Series(c_lon, index=cpts_layer.index).reindex(frame.index).to_numpy()
    frame["lat"] = pd.Series(c_lat, index=cpts_layer.index).reindex(frame.index).to_numpy()

    chosen: list[dict[str, Any]] = []
    if len(proposals):
        rec = proposals[proposals["recommandee"].astype(str).str.lower() == "oui"]
        long = members(rec, key="proposition")
        by_id: dict[str, list[str]] = {}
        for key, code in zip(long["proposition"].tolist(), long["code"].tolist(), strict=True):
            by_id.setdefault(str(key), []).append(str(code))
        target = rec["cpts_cible_id"] if "cpts_cible_id" in rec else pd.Series(None, rec.index)
        for r, cid in zip(rec.to_dict("records"), target.tolist(), strict=True):
            chosen.append(
                {
                    "id": str(r["proposition"]),
                    "departement": str(r["departement"]),
                    "option": str(r["option"]),
                    "cpts_cible_id": cid if isinstance(cid, str) and cid else None,
                    "nom_propose": r["nom_propose"] if isinstance(r["nom_propose"], str) else None,
                    "codes": by_id.get(str(r["proposition"]), []),
                }
            )
    first = stage_codes[0]
    return DecisionLayers(
        units=table,
        graph=graph,
        cpts=frame,
        proposals=chosen,
        rates=rates[["nom", "population", f"pop_{first}"]].rename(
            columns={f"pop_{first}": "pop_li"}
        ),
    )


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

    Units are positions: the département's own first (``nIn`` of them), then the units of
    other départements that border them. The adjacency is in CSR form over those positions
    (``adj0``: offsets, ``adj``: neighbour positions), restricted to edges with one end in
    the département. CPTS are those holding one of these units (projects before their lettre
    d'intention included, with an empty ``stade``) or targeted by a
    proposal of the département.
    """
    g = layers.graph
    table = layers.units
    own = np.flatnonzero(g.departement == departement)
    own = own[np.argsort(g.codes[own], kind="stable")]
    inside = np.zeros(len(g.codes), dtype=bool)
    inside[own] = True
    a, b, _ = g.edges()
    # neighbours across the border: the other ends of the département's edges
    across = np.unique(b[inside[a] & ~inside[b]])
    nodes = np.concatenate([own, across])
    local = np.full(len(g.codes), -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    keep = inside[a] | inside[b]
    la, lb = local[a[keep]], local[b[keep]]
    keep2 = (la >= 0) & (lb >= 0)
    la, lb = la[keep2], lb[keep2]
    order = np.lexsort((lb, la))
    la, lb = la[order], lb[order]
    offsets = np.zeros(len(nodes) + 1, dtype=np.int64)
    np.cumsum(np.bincount(la, minlength=len(nodes)), out=offsets[1:])

    codes = [str(c) for c in g.codes[nodes]]
    rows = table.reindex(codes)
    n_in = len(own)
    cpts_ids = [str(s) if isinstance(s, str) else "" for s in rows["cpts_ids"].tolist()]
    wanted = {c for s in cpts_ids for c in s.split("|") if c}
    props = [p for p in layers.proposals if p["departement"] == departement]
    wanted |= {p["cpts_cible_id"] for p in props if p["cpts_cible_id"] in layers.cpts.index}
    cpts = layers.cpts.loc[sorted(wanted)]
    cpts_pos = {cid: i for i, cid in enumerate(cpts.index)}
    position = {code: i for i, code in enumerate(codes)}

    proposals = []
    for p in props:
        members = [position[c] for c in p["codes"] if c in position and position[c] < n_in]
        if not members:
            continue
        target = cpts_pos.get(p["cpts_cible_id"]) if p["cpts_cible_id"] else None
        proposals.append(
            {
                "id": p["id"],
                "option": p["option"],
                "cpts": target,
                "nom": p["nom_propose"],
                "u": members,
            }
        )
    rate = layers.rates.loc[departement] if departement in layers.rates.index else None
    own_rows = rows.iloc[:n_in]
    return {
        "departement": departement,
        "nomDepartement": str(rate["nom"]) if rate is not None else departement,
        "nIn": n_in,
        "code": codes,
        "nom": [str(n) for n in own_rows["nom"].tolist()],
        "pop": [int(p) for p in own_rows["population"].fillna(0).tolist()],
        "blanche": [1 if w else 0 for w in own_rows["blanche"].fillna(False).tolist()],
        "lon": [_num(v) for v in own_rows["lon"].tolist()],
        "lat": [_num(v) for v in own_rows["lat"].tolist()],
        "dep": [str(d) if isinstance(d, str) else "" for d in rows["departement"].tolist()],
        "reg": [str(r) if isinstance(r, str) else "" for r in rows["region"].tolist()],
        "cu": [[cpts_pos[c] for c in s.split("|") if c in cpts_pos] if s else [] for s in cpts_ids],
        "adj0": offsets.tolist(),
        "adj": lb.tolist(),
        "cpts": [
            {
                "id": str(cid),
                "nom": str(r["nom"]),
                "stade": str(r["stade"]),
                "pop": int(r["population"]),
                "deps": list(r["departements"]) if isinstance(r["departements"], tuple) else [],
                "regs": list(r["regions"]) if isinstance(r["regions"], tuple) else [],
                "lon": _num(r["lon"]),
                "lat": _num(r["lat"]),
            }
            for cid, r in cpts.iterrows()
        ],
        "propositions": proposals,
        "population": int(rate["population"])
        if rate is not None
        else sum(int(p) for p in own_rows["population"].fillna(0)),
        "popLi": int(rate["pop_li"]) if rate is not None else 0,
        "stades": {s.code: s.label for s in _stages()},
        "cle": storage_key(meta or {}, departement),
        "aci": _stages()[-1].code,
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


def scenario_rows(
    projects: Sequence[tuple[str, str, str, Sequence[str], str]],
) -> list[tuple[str, str, str, str, str]]:
    """Return the rows of a scenario file: one per commune, in the file's column order.

    ``projects`` are ``(projet, type key, cpts, codes, cpts_mentor)``.

    Examples
    --------
    >>> rows = scenario_rows([("Ext. A", "extension", "CPTS A", ["35002", "35001"], "")])
    >>> rows[0], len(rows)
    (('Ext. A', 'extension', 'CPTS A', '35001', ''), 2)
    """
    return [
        (name, SCENARIO_TYPES[kind], cpts, code, mentor)
        for name, kind, cpts, codes, mentor in projects
        for code in sorted(codes)
    ]


def assets() -> list[str]:
    """Return the decision mode's stylesheet and runtime, as tags for a map's ``<head>``."""
    from couverture._assets import own_asset, script_tag, style_tag

    return [style_tag(own_asset("decision.css")), script_tag(own_asset("decision.js"))]


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
    import json

    from couverture._errors import ArgumentError

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
    import subprocess
    import tempfile

    from couverture._output import atomic_path

    map_path, png = Path(map_path), Path(png)
    if not Path(chromium).exists():
        log.warning("chromium absent (%s) : capture du mode décision non produite", chromium)
        return None
    data = embedded_payload(map_path.read_text(encoding="utf-8"), source=str(map_path))
    url = map_path.resolve().as_uri() + "#decision=propositions"
    selection = demo_selection(data)
    if selection:
        url += "&selection=" + ",".join(selection)
    png.parent.mkdir(parents=True, exist_ok=True)
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
    return png


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m couverture.decision capture MAP PNG``: the picture of ``make demo``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m couverture.decision",
        description="capture d'écran du mode décision d'une carte de département",
    )
    parser.add_argument("action", choices=["capture"])
    parser.add_argument("carte", type=Path, help="carte de département (departement-XX.html)")
    parser.add_argument("png", type=Path, help="image à écrire")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = capture(args.carte, args.png)
    if written is not None:
        print(f"capture du mode décision : {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
