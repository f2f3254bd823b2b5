"""Zones blanches (contiguous uncovered units) and overlaps between CPTS.

A zone blanche is a connected set of uncovered units under rook contiguity (a shared stretch
of border; a single point does not connect) within one département. Islands, and units with
no geometry, are zones of their own. A zone is a set of units: a commune with an exclave is
one unit and never makes a second zone. Its id ``ZB-<département>-<smallest unit code>`` is
stable from month to month as long as its smallest unit stays white.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from couverture._format import name_list, short_epci
from couverture._geometry import union_units
from couverture._graph import UnitGraph
from couverture.store import query, register

# GeoPandas is imported by group_geometries only: `taux` and `zones-blanches` compute without it.

if TYPE_CHECKING:
    import duckdb
    import geopandas as gpd
    import pandas as pd

ZONE_COLUMNS = [
    "zone_id",
    "departement",
    "n_communes",
    "population",
    "superficie_km2",
    "cpts_voisines",
    "cpts_voisines_ids",
    "communes",
]


def white_zones(
    con: duckdb.DuckDBPyConnection, units: pd.DataFrame, graph: UnitGraph
) -> pd.DataFrame:
    """Return the zones blanches of the units of :func:`couverture.coverage.unit_coverage`.

    Parameters
    ----------
    con
        An open store (adjacency and areas).
    units
        Unit coverage rows (all of France, or some départements).
    graph
        The units' rook adjacency (white units form a zone when adjacent within one
        département).

    Returns
    -------
    pandas.DataFrame
        One row per zone, columns :data:`ZONE_COLUMNS`, ordered by decreasing population (the
        instruction's priority); ``communes`` joins unit codes by a space, ``cpts_voisines``
        the names of the covering CPTS adjacent to the zone (across the département border
        too) by ``|``.
    """
    white = units.loc[units["stade"].isna(), ["code", "departement", "population"]]
    if white.empty:
        return pd.DataFrame(columns=ZONE_COLUMNS)
    register(con, _white=white, _cov=units[["code", "stade", "cpts", "cpts_ids"]])
    codes = white["code"].to_numpy()
    labels = graph.components(codes, within_departement=True)
    lab = pd.DataFrame({"code": codes, "composante": labels})
    register(con, _labels=lab)
    zones = query(
        con,
        """
        WITH z AS (
            SELECT l.composante, w.code, w.departement, w.population, u.superficie_km2
            FROM _labels l JOIN _white w USING (code) JOIN units u USING (code)
        ), ids AS (
            SELECT composante, 'ZB-' || any_value(departement) || '-' || min(code) AS zone_id,
                   any_value(departement) AS departement, count(*)::INTEGER AS n_communes,
                   sum(population)::BIGINT AS population,
                   -- summed exactly (DECIMAL): a parallel float sum depends on the order
                   round(sum(superficie_km2::DECIMAL(38, 10)), 2)::DOUBLE AS superficie_km2,
                   array_to_string(list_sort(list(code)), ' ') AS communes
            FROM z GROUP BY composante
        ), voisins AS (
            SELECT DISTINCT z.composante, unnest(string_split(c.cpts_ids, '|')) AS cpts_id,
                   unnest(string_split(c.cpts, '|')) AS nom
            FROM z JOIN adjacency a ON a.code_a = z.code
            JOIN _cov c ON c.code = a.code_b
            WHERE c.stade IS NOT NULL
        ), v AS (
            -- sorted lists, not ordered string_agg: a third of the time
            SELECT composante, list_sort(list({'nom': nom, 'id': cpts_id})) AS cpts
            FROM (SELECT DISTINCT composante, cpts_id, nom FROM voisins) GROUP BY composante
        )
        SELECT ids.zone_id, ids.departement, ids.n_communes, ids.population,
               ids.superficie_km2,
               coalesce(array_to_string(list_transform(v.cpts, c -> c.nom), '|'), '')
                   AS cpts_voisines,
               coalesce(array_to_string(list_transform(v.cpts, c -> c.id), '|'), '')
                   AS cpts_voisines_ids,
               ids.communes
        FROM ids LEFT JOIN v USING (composante)
        ORDER BY ids.population DESC, ids.zone_id
        """,
    )
    for name in ("_white", "_cov", "_labels"):
        con.unregister(name)
    return zones


def overlaps(units: pd.DataFrame, *, shared_threshold: int) -> pd.DataFrame:
    """Return units claimed by two or more CPTS, typed ``chevauchement`` or ``partage``.

    A unit is a commune partagée (``partage``) when shares were declared for it (or it was
    given by IRIS) or when its population is at least ``shared_threshold``; otherwise the
    claims are a chevauchement to arbitrate.

    Returns
    -------
    pandas.DataFrame
        Columns ``code, nom, departement, population, type, cpts`` (names joined by ``|``,
        pre-LI projects included), ordered by type then code.
    """
    claimed = units[units["n_revendications"] >= 2].copy()
    names = claimed["cpts"].where(
        claimed["projets"] == "", claimed["cpts"] + "|" + claimed["projets"]
    )
    names = names.str.strip("|").str.split("|").map(lambda xs: "|".join(sorted(xs)))
    shared = claimed["partage_declare"] | (claimed["population"] >= shared_threshold)
    out = claimed.assign(
        type=np.where(shared, "partage", "chevauchement"),
        cpts=names,
    )[["code", "nom", "departement", "population", "type", "cpts"]]
    return out.sort_values(["type", "code"]).reset_index(drop=True)


def members(frame: pd.DataFrame, *, key: str | None = None) -> pd.DataFrame:
    """Return the units of each row of a zones or proposals frame as a long table.

    The one place where a ``communes`` column (unit codes joined by a space, as the CSV
    outputs show them) is read back into codes (:func:`unit_codes` row by row).

    Parameters
    ----------
    frame
        Rows with a ``communes`` column.
    key
        Column naming each row (``zone_id``); ``None`` names rows by position (``ligne``),
        as proposals have no single id.

    Returns
    -------
    pandas.DataFrame
        Columns ``key`` (or ``ligne``) and ``code``, one row per unit, in the frame's order.

    Examples
    --------
    >>> import pandas as pd
    >>> members(pd.DataFrame({"zone_id": ["Z1", "Z2"], "communes": ["35001 35002", "29001"]}),
    ...         key="zone_id").values.tolist()
    [['Z1', '35001'], ['Z1', '35002'], ['Z2', '29001']]
    """
    split = unit_codes(frame["communes"]).tolist()
    sizes = [len(row) for row in split]
    names = frame[key].to_numpy(dtype=object) if key is not None else np.arange(len(frame))
    return pd.DataFrame(
        {key or "ligne": np.repeat(names, sizes), "code": [c for row in split for c in row]}
    )


def unit_codes(communes: pd.Series) -> pd.Series:
    """Return the unit codes of each ``communes`` field of a column, as lists on its index.

    The reading behind :func:`members`, for a caller that walks the rows (a missing field has
    no unit).

    Examples
    --------
    >>> import pandas as pd
    >>> unit_codes(pd.Series(["35001 35002", None], index=["Z1", "Z2"])).to_dict()
    {'Z1': ['35001', '35002'], 'Z2': []}
    """
    # split in Python: pandas' string methods build Arrow lists, several times the memory
    split = [c.split() if isinstance(c, str) else [] for c in communes.tolist()]
    return pd.Series(split, index=communes.index, dtype=object)


def group_geometries(
    members: pd.DataFrame, unit_geoms: gpd.GeoDataFrame, *, key: str
) -> gpd.GeoSeries:
    """Return the union of the unit geometries of each group of a long table.

    Parameters
    ----------
    members
        Columns ``key`` and ``code`` (one row per unit of a group).
    unit_geoms
        Unit geometries indexed by code.
    key
        The group column (``zone_id``, ``proposition_id``…).
    """
    import geopandas as gpd

    geometry = unit_geoms.geometry
    groups = dict.fromkeys(members[key])
    parts: dict[Any, list[Any]] = {g: [] for g in groups}
    for group, code in zip(members[key], members["code"], strict=True):
        g = geometry.get(code)
        if g is not None:
            parts[group].append(g)
    values = [union_units(p) if p else None for p in parts.values()]
    return gpd.GeoSeries(values, index=list(parts), crs=unit_geoms.crs, name="geometry")


#: A zone is named after its EPCI rather than its main commune when the zone lies in one EPCI,
#: holds all of it, and its main commune holds less than this share of the zone's people.
EPCI_NAME_BELOW = 0.25


def zone_names(
    zone_units: pd.DataFrame,
    units: pd.DataFrame,
    *,
    epci_names: dict[str, str] | None = None,
    max_names: int = 12,
) -> pd.DataFrame:
    """Name each zone blanche by place, as people name it.

    « Zone blanche de Fougères » for a one-commune zone, « Zone blanche de Fougères et
    environs » around its most populated commune, or the EPCI's short name (« Zone blanche de
    la CC du Pays de Redon ») when the zone is a whole EPCI whose main commune is small beside
    it (:data:`EPCI_NAME_BELOW`). The ``zone_id`` stays the stable reference.

    Parameters
    ----------
    zone_units
        Columns ``zone_id`` and ``code`` (:func:`members`).
    units
        Units with ``code``, ``nom``, ``population`` and ``epci`` (all units of the zones'
        départements: an EPCI is whole when all its units are in the zone).
    epci_names
        EPCI code → name (long or short); without it, zones are named by communes only.
    max_names
        Communes named in ``resume_communes`` before « et N autres communes (… hab.) ».

    Returns
    -------
    pandas.DataFrame
        Indexed by ``zone_id`` in the order of ``zone_units``: ``nom_zone`` (« Zone blanche de
        … »), ``lieu`` (the place alone), ``commune_principale``, ``noms_communes`` (all,
        most populated first) and ``resume_communes`` (the first ``max_names``, the rest
        counted with their inhabitants).
    """
    units = units.drop_duplicates("code")
    codes_all = units["code"].tolist()
    name_of = dict(zip(codes_all, units["nom"].astype(str).tolist(), strict=True))
    pop_of = dict(zip(codes_all, units["population"].fillna(0).astype(float), strict=True))
    has_epci = "epci" in units.columns and epci_names is not None
    epci_of = dict(zip(codes_all, units["epci"].tolist(), strict=True)) if has_epci else {}
    epci_size = units["epci"].value_counts().to_dict() if has_epci else {}
    grouped: dict[Any, list[str]] = {}
    for zone_id, code in zip(zone_units["zone_id"], zone_units["code"], strict=True):
        grouped.setdefault(zone_id, []).append(code)
    rows = []
    for zone_id, members_ in grouped.items():
        codes = [c for c in members_ if c in name_of]
        names = [name_of[c] for c in codes] or [str(zone_id)]
        pops = [pop_of[c] for c in codes] or [0.0]
        order = sorted(range(len(names)), key=lambda i: (-pops[i], names[i]))
        main = names[order[0]]
        place = main if len(names) == 1 else f"{main} et environs"
        if has_epci and len(codes) > 2:
            epcis = {epci_of[c] for c in codes}
            epci = next(iter(epcis)) if len(epcis) == 1 else None
            whole = epci is not None and epci_size.get(epci) == len(codes)
            total = sum(pops) or 1.0
            if whole and pops[order[0]] / total < EPCI_NAME_BELOW and epci in (epci_names or {}):
                place = short_epci(str((epci_names or {})[epci]))
        rows.append(
            {
                "zone_id": zone_id,
                "nom_zone": "Zone blanche " + _of(place),
                "lieu": place,
                "commune_principale": main,
                "noms_communes": ", ".join(names[i] for i in order),
                "resume_communes": name_list(names, pops, max_names=max_names),
            }
        )
    cols = ["zone_id", "nom_zone", "lieu", "commune_principale", "noms_communes"]
    cols.append("resume_communes")
    return pd.DataFrame(rows, columns=cols).set_index("zone_id")


def _of(place: str) -> str:
    """« de » before a place, contracted and elided as French does.

    Examples
    --------
    >>> _of("Fougères"), _of("Le Mans et environs"), _of("Les Andelys"), _of("Auray")
    ('de Fougères', 'du Mans et environs', 'des Andelys', "d'Auray")
    >>> _of("CC du Pays de Redon")
    'de la CC du Pays de Redon'
    """
    first = place.split(" ")[0]
    if first in ("CC", "CA", "CU"):
        return f"de la {place}"
    if first == "Le":
        return "du " + place[3:]
    if first == "Les":
        return "des " + place[4:]
    if place[:1].lower() in "aeiouyâéèêîôûœ":
        return f"d'{place}"
    return f"de {place}"


def main_towns(units: pd.DataFrame, *, limit: int = 12) -> pd.DataFrame:
    """Return the towns a map of these units names, from the units' own data (offline).

    The pôles of the bassins de vie (a commune named as its bassin: the préfecture and the
    sous-préfectures are among them), most populated first, then the most populated other
    communes, ``limit`` in all.

    Parameters
    ----------
    units
        Rows of the store's units (``code``, ``nom``, ``population``, ``nom_bassin_vie``).

    Returns
    -------
    pandas.DataFrame
        The chosen rows, most populated first, with a boolean column ``pole``.
    """
    pole = units["nom"].astype(str).str.casefold() == units["nom_bassin_vie"].astype(
        str
    ).str.casefold().str.replace(r"\s*\(.*\)$", "", regex=True)
    ranked = units.assign(pole=pole).sort_values(
        ["pole", "population", "nom"], ascending=[False, False, True]
    )
    return ranked.head(limit).sort_values("population", ascending=False)
