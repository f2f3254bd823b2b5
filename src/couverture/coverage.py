"""Coverage: best stage per unit, population covered by stage, rates by territory, CPTS sizes.

All joins and aggregates are SQL run by DuckDB on the store's ``units`` table and the
registry's frames (registered as views for the duration of a query).

A unit's stage is the most advanced stage of the CPTS that claim it. The population covered
at stage X is ``population × min(1, Σ shares of the CPTS at stage ≥ X)``, a CPTS without a
share counting for the whole unit; a unit is therefore never counted twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from couverture._config import (
    funding_table,
    size_class,
    sources,
    stage_code_sql,
    stage_codes,
    stage_rank_sql,
    stages,
)
from couverture._errors import ArgumentError
from couverture.store import query, register

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

LEVELS = ("france", "region", "departement", "epci")


def unit_output_columns() -> list[str]:
    """Return what a user reads of unit coverage (CLI ``communes``, report sheet "Communes").

    Examples
    --------
    >>> unit_output_columns()[-3:]
    ['pop_lettre_intention', 'pop_projet_sante', 'pop_aci']
    """
    return [
        "code",
        "nom",
        "departement",
        "region",
        "epci",
        "population",
        "stade",
        "cpts",
        "projets",
        "n_cpts",
        *(f"pop_{s}" for s in stage_codes()),
    ]


def __getattr__(name: str) -> Any:
    """``UNIT_OUTPUT_COLUMNS``: :func:`unit_output_columns`, read from ``config/`` on first use."""
    if name == "UNIT_OUTPUT_COLUMNS":
        return unit_output_columns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def unit_coverage(
    con: duckdb.DuckDBPyConnection, *, cpts: pd.DataFrame, membership: pd.DataFrame
) -> pd.DataFrame:
    """Return one row per unit with its best stage and population covered by stage.

    Parameters
    ----------
    con
        An open store.
    cpts
        Registry CPTS table (index ``cpts_id``; columns ``nom``, ``stade``).
    membership
        Registry membership (``cpts_id``, ``code``, ``part``, ``iris``).

    Returns
    -------
    pandas.DataFrame
        Columns ``code, nom, type, commune, departement, region, epci, population,
        population_source, stade, cpts, cpts_ids, projets, n_cpts, partage_declare,
        pop_lettre_intention, pop_projet_sante, pop_aci`` ordered by ``code``; ``stade`` is
        ``None`` for an uncovered unit, ``cpts`` the names of its CPTS joined by ``|``.
    """
    cpts_df = cpts.reset_index()[["cpts_id", "nom", "stade"]]
    members = membership[["cpts_id", "code", "part"]].copy()
    members["iris"] = membership.get("iris", False)
    register(con, _cpts=cpts_df, _members=members)
    fractions = ",\n".join(
        # shares summed exactly (DECIMAL): a parallel float sum depends on the order
        f"least(1, coalesce(sum(coalesce(part, 1)::DECIMAL(38, 12)) FILTER (WHERE rang >= "
        f"{s.rank}), 0))::DOUBLE "
        f"AS f{s.rank}"
        for s in stages()
    )
    pops = ",\n".join(
        f"round(u.population * coalesce(a.f{s.rank}, 0))::BIGINT AS pop_{s.code}" for s in stages()
    )
    sql = f"""
    WITH m AS (
        SELECT m.code, m.cpts_id, c.nom, m.part, m.iris, {stage_rank_sql("c.stade")} AS rang
        FROM _members m JOIN _cpts c USING (cpts_id)
    ), agg AS (
        -- names sorted as lists: DuckDB's ordered string_agg costs three times as much
        SELECT code,
               max(rang) AS rang,
               list_sort(list({{'nom': nom, 'id': cpts_id}}) FILTER (WHERE rang IS NOT NULL))
                   AS claims,
               list_sort(list(nom) FILTER (WHERE rang IS NULL)) AS projets,
               count(*) FILTER (WHERE rang IS NOT NULL) AS n_cpts,
               count(*) AS n_revendications,
               bool_or(part IS NOT NULL OR coalesce(iris, false)) AS partage_declare,
               {fractions}
        FROM m GROUP BY code
    )
    SELECT u.code, u.nom, u.type, u.commune, u.departement, u.region, u.epci,
           u.population, u.population_source,
           {stage_code_sql("a.rang")} AS stade,
           coalesce(array_to_string(list_transform(a.claims, c -> c.nom), '|'), '') AS cpts,
           coalesce(array_to_string(list_transform(a.claims, c -> c.id), '|'), '') AS cpts_ids,
           coalesce(array_to_string(a.projets, '|'), '') AS projets,
           coalesce(a.n_cpts, 0)::INTEGER AS n_cpts,
           coalesce(a.n_revendications, 0)::INTEGER AS n_revendications,
           coalesce(a.partage_declare, false) AS partage_declare,
           {pops}
    FROM units u LEFT JOIN agg a USING (code)
    ORDER BY u.code
    """
    return query(con, sql)


def coverage_rates(
    con: duckdb.DuckDBPyConnection, units: pd.DataFrame, *, niveau: str
) -> pd.DataFrame:
    """Aggregate :func:`unit_coverage` rows by territory.

    Parameters
    ----------
    con
        An open store (for territory names).
    units
        Output of :func:`unit_coverage` (possibly filtered to some départements).
    niveau
        ``france``, ``region``, ``departement`` or ``epci``.

    Returns
    -------
    pandas.DataFrame
        Columns ``code, nom, n_communes, population, pop_lettre_intention, pop_projet_sante,
        pop_aci, population_zones_blanches, population_non_attribuee, taux_lettre_intention,
        taux_projet_sante, taux_aci`` (cumulative: "at this stage or beyond"; taux in % with 2
        decimals). The population is accounted for whole: ``population = pop_lettre_intention
        + population_zones_blanches + population_non_attribuee``, the last being the share of
        claimed units that no CPTS claims (shares adding up to less than 1: counted uncovered,
        yet in no zone blanche, which holds whole units). Units outside any EPCI
        (single-commune islands) are grouped under code ``""`` at the ``epci`` level.
    """
    if niveau not in LEVELS:
        raise ArgumentError(f"niveau inconnu : « {niveau} » (attendu : {', '.join(LEVELS)})")
    key = {
        "france": "'FR'",
        "region": "u.region",
        "departement": "u.departement",
        "epci": "coalesce(u.epci, '')",
    }[niveau]
    name = {
        "france": "'France'",
        "region": "any_value(t.nom)",
        "departement": "any_value(t.nom)",
        "epci": "coalesce(any_value(t.nom), 'Communes hors EPCI')",
    }[niveau]
    join = (
        ""
        if niveau == "france"
        else f"LEFT JOIN territories t ON t.niveau = '{niveau}' AND t.code = {key}"
    )
    pops = ", ".join(f"sum(u.pop_{s})::BIGINT AS pop_{s}" for s in stage_codes())
    # the rest of the population at the first stage: whole white units, and the share of the
    # claimed units that no CPTS claims (a shared commune whose shares add up to less than 1)
    first = stage_codes()[0]
    pops += (
        ", coalesce(sum(u.population) FILTER (WHERE u.stade IS NULL), 0)::BIGINT"
        " AS population_zones_blanches"
        f", coalesce(sum(u.population - u.pop_{first}) FILTER (WHERE u.stade IS NOT NULL), 0)"
        "::BIGINT AS population_non_attribuee"
    )
    rates = ", ".join(
        f"CASE WHEN population > 0 THEN round(100.0 * pop_{s} / population, 2) "
        f"ELSE 0 END AS taux_{s}"
        for s in stage_codes()
    )
    register(con, _units=units)
    sql = f"""
    WITH g AS (
        SELECT {key} AS code, {name} AS nom, count(*)::INTEGER AS n_communes,
               sum(u.population)::BIGINT AS population, {pops}
        FROM _units u {join}
        GROUP BY 1
    )
    SELECT *, {rates} FROM g ORDER BY code
    """
    return query(con, sql)


def cpts_table(
    units: pd.DataFrame, *, cpts: pd.DataFrame, membership: pd.DataFrame
) -> pd.DataFrame:
    """Return one row per CPTS with its own population, taille and maximum ACI funding.

    A unit claimed by several CPTS counts for each with its declared share, or split equally
    among its claimants when no share is given.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``cpts_id``: ``nom, stade, departement`` (where most of its population
        lives), ``n_communes, population, taille, financement_max``.
    """
    pop = units.set_index("code")["population"]
    dep = units.set_index("code")["departement"]
    m = membership[["cpts_id", "code", "part"]].copy()
    claims = m.groupby("code")["cpts_id"].transform("size")
    share = m["part"].fillna(1.0 / claims)
    m["population"] = m["code"].map(pop) * share
    m["departement"] = m["code"].map(dep)
    by_cpts = m.groupby("cpts_id").agg(
        n_communes=("code", "size"), population=("population", "sum")
    )
    main_dep = (
        m.groupby(["cpts_id", "departement"])["population"]
        .sum()
        .reset_index()
        .sort_values(["cpts_id", "population", "departement"], ascending=[True, False, True])
        .drop_duplicates("cpts_id")
        .set_index("cpts_id")["departement"]
    )
    out = cpts[["nom", "stade"]].join(by_cpts, how="left")
    out["departement"] = main_dep.reindex(out.index)
    out["n_communes"] = out["n_communes"].fillna(0).astype("int64")
    out["population"] = out["population"].fillna(0).round().astype("int64")
    funding = funding_table(sources()["analyse"]["bareme_financement"])
    out["taille"] = out["population"].map(size_class).astype("int64")
    out["financement_max"] = out["taille"].map(funding).astype("int64")
    out.index.name = "cpts_id"
    return pd.DataFrame(out)
