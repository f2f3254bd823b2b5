"""Professionals of each territory, and the share adherent and active in each CPTS.

The instruction DGOS/R5/CNAM/2023/156 names two follow-up indicators: the population covered
by stage, and « le suivi de la part de professionnels adhérents et actifs au sein de chaque
CPTS ». This module gives the second one.

:func:`read_annuaire` reads either

* the public RPPS extract **as published**, ``PS_LibreAcces_Personne_activite`` (``|``
  separated, UTF-8, one line per activity site of a person, a header of 52 to 56 named
  columns ending with an empty one), streamed by DuckDB's CSV reader, which reads only the
  columns of ``config/professionnels.toml`` (about 2 million lines for France); or
* a simple CSV ``code_commune;profession;effectif[;mode]`` (counts already made, one line per
  commune and profession).

Counting (:func:`count`): a person is counted once in a territory where they have at least
one activity site, whatever the number of sites there, and in each territory where they have
one. Sites without a commune code, abroad, or in a commune the store does not know are left
out and counted in a warning. Old commune codes are replaced by the current ones as in the
registry; a site given by the code of Paris, Lyon or Marseille goes to the arrondissement of
its postal code. Each person falls in one category (:data:`CATEGORY_COLUMNS`, médecins
généralistes first), so that the categories add up to ``professionnels``.

:func:`by_cpts`, :func:`by_zone` and :func:`by_commune` give the tables of
``couverture professionnels --par …``; :func:`adhesions` reads the adherents and active
members of each CPTS from the registry's columns or from an adhesions CSV.

Examples
--------
>>> from couverture.analysis import analyse
>>> from couverture.professionnels import by_cpts, read_annuaire
>>> with analyse("registre.xlsx", departements=("35",)) as a:  # doctest: +SKIP
...     annuaire = read_annuaire("PS_LibreAcces_Personne_activite.txt", a)
...     table = by_cpts(a, annuaire)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from couverture import _format
from couverture._annuaire import (
    _MAX_PROBLEMS,
    ADHESION_COLUMNS,
    CATEGORY_COLUMNS,
    COUNT_COLUMNS,
    EXCLUSIONS,
    RPPS_COLUMNS,
    Annuaire,
    _count_value,
    _csv_rows,
    _key,
    _Problems,
    category_titles,
    checked_path,
    config,
    read_annuaire,
)
from couverture._errors import ArgumentError, DataSourceError, RegistryError
from couverture._format import plural
from couverture.registry import extra_columns

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis

__all__ = [
    "ADHESION_COLUMNS",
    "CATEGORY_COLUMNS",
    "COUNT_COLUMNS",
    "EXCLUSIONS",
    "RPPS_COLUMNS",
    "Annuaire",
    "by_commune",
    "by_cpts",
    "by_departement",
    "by_zone",
    "category_titles",
    "checked_path",
    "config",
    "count",
    "read_adhesions",
    "read_annuaire",
    "registry_adhesions",
]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------
# counting
# ------------------------------------------------------------------------------------------
def count(annuaire: Annuaire, members: pd.DataFrame, *, key: str) -> pd.DataFrame:
    """Count the professionals of each territory.

    Parameters
    ----------
    annuaire
        From :func:`read_annuaire`.
    members
        Long table of the territories: ``key`` and ``code`` (unit), one row per unit of each
        territory (a unit may belong to several territories).
    key
        The territory column (``cpts_id``, ``zone_id``, ``code``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``key`` (every territory of ``members``, in order of first appearance),
        columns :data:`COUNT_COLUMNS` (int64): distinct persons with a site in the territory
        (a simple CSV: the sum of its ``effectif``).
    """
    keys = pd.unique(members[key].to_numpy())
    # territories as integers (their position in keys): no strings in the join
    index = pd.Index(annuaire.codes).get_indexer(members["code"].astype(str).to_numpy())
    position = pd.Index(keys).get_indexer(members[key].to_numpy())
    m = pd.DataFrame({"t": position.astype("int32"), "unite": index.astype("int32")})
    m = m[m["unite"] >= 0].drop_duplicates()
    n_cat = len(CATEGORY_COLUMNS)
    # a person once per territory, whatever their number of sites in it; a simple CSV adds
    # up its effectif (one row per unit, category and mode)
    inner = (
        "SELECT t, categorie, liberal, effectif FROM sites JOIN m USING (unite)"
        if annuaire.kind == "csv"
        else "SELECT t, any_value(categorie) AS categorie, bool_or(liberal) AS liberal, "
        "1 AS effectif FROM sites JOIN m USING (unite) GROUP BY t, personne"
    )
    cats = ", ".join(f"sum(effectif) FILTER (WHERE categorie = {i}) AS c{i}" for i in range(n_cat))
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        con.register("sites", annuaire.sites)
        con.register("m", m)
        got = con.execute(
            f"SELECT t, sum(effectif) FILTER (WHERE liberal) AS liberaux, {cats} "
            f"FROM ({inner}) GROUP BY t"
        ).df()
    finally:
        con.close()
    out = pd.DataFrame(0, index=pd.RangeIndex(len(keys)), columns=COUNT_COLUMNS, dtype="int64")
    rows = got["t"].to_numpy()
    out.loc[rows, "liberaux"] = got["liberaux"].fillna(0).to_numpy(dtype=np.int64)
    for i, col in enumerate(CATEGORY_COLUMNS):
        out.loc[rows, col] = got[f"c{i}"].fillna(0).to_numpy(dtype=np.int64)
    out["professionnels"] = out[CATEGORY_COLUMNS].sum(axis=1)
    out.index = pd.Index(keys, name=key)
    return out


def _blank_uncovered(table: pd.DataFrame, annuaire: Annuaire, columns: list[str]) -> pd.DataFrame:
    """Empty (``<NA>``) ``columns`` of rows in a département the annuaire does not cover.

    An extract of one region says nothing of the others: zeros there would read as deserts.
    """
    outside = ~table["departement"].astype(str).isin(annuaire.departements)
    if not outside.any():
        return table
    out = table.copy()
    for col in columns:
        kind = (
            "Float64" if out[col].dtype.kind == "f" or str(out[col].dtype) == "Float64" else "Int64"
        )
        out[col] = out[col].astype(kind).mask(outside)
    deps = sorted(set(out.loc[outside, "departement"].astype(str)))
    log.info(
        "annuaire %s sans aucun site dans %s : professionnels non renseignés",
        annuaire.path.name,
        plural(len(deps), "département")
        + (f" ({', '.join(deps[:8])}{' …' if len(deps) > 8 else ''})"),
    )
    return out


def by_commune(a: Analysis, annuaire: Annuaire) -> pd.DataFrame:
    """Professionals of each unit of the analysis (``--par commune``).

    Columns ``code``, ``nom``, ``departement``, ``population``, ``stade``, ``cpts``, then
    :data:`COUNT_COLUMNS`.
    """
    units = a.units()
    counts = count(annuaire, units[["code"]].assign(u=units["code"]), key="u")
    cols = [c for c in ("code", "nom", "departement", "population", "stade", "cpts") if c in units]
    out = units[cols].reset_index(drop=True)
    return _blank_uncovered(out.join(counts.reset_index(drop=True)), annuaire, COUNT_COLUMNS)


def by_zone(a: Analysis, annuaire: Annuaire) -> pd.DataFrame:
    """Professionals present in each zone blanche (``--par zone``).

    Columns ``zone_id``, ``departement``, ``population``, ``professionnels``, ``liberaux``,
    ``medecins_generalistes`` and ``generalistes_pour_10000_hab`` (médecins généralistes per
    10,000 inhabitants, ``config/professionnels.toml``), in the order of the zones.
    """
    zones = a.zones()
    counts = count(annuaire, a.zone_units(), key="zone_id")
    out = zones[["zone_id", "departement", "population"]].copy()
    for col in ("professionnels", "liberaux", "medecins_generalistes"):
        out[col] = out["zone_id"].map(counts[col]).fillna(0).astype("int64")
    per = float(config()["densite"]["pour_habitants"])
    pop = out["population"].astype(float)
    density = (out["medecins_generalistes"] * per / pop.where(pop > 0)).round(1)
    out[f"generalistes_pour_{int(per)}_hab"] = density
    out = _blank_uncovered(out, annuaire, [*out.columns[3:]])
    return out.reset_index(drop=True)


def by_cpts(
    a: Analysis, annuaire: Annuaire, *, adhesions: Path | str | None = None
) -> pd.DataFrame:
    """Professionals of each CPTS and the share adherent and active (``--par cpts``).

    Parameters
    ----------
    a
        The analysis (its ``departements`` restrict the CPTS, by main département).
    annuaire
        From :func:`read_annuaire`.
    adhesions
        A CSV ``cpts;adherents;actifs`` (CPTS by id or name); default: the registry's own
        columns (``adherents``, ``nb_adherents``, ``actifs``…) when it has some.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``cpts_id``: ``nom``, ``stade``, ``departement``, ``population``,
        :data:`COUNT_COLUMNS`, then ``adherents``, ``actifs`` (``<NA>`` when unknown),
        ``part_adherents`` and ``part_actifs`` (% of ``professionnels``). More adherents than
        professionals is logged as a warning naming the CPTS (the share then exceeds 100 %).
    """
    table = a.cpts()
    members = a.registry.membership
    members = members.loc[members["cpts_id"].isin(table.index), ["cpts_id", "code"]]
    counts = count(annuaire, members, key="cpts_id")
    out = table[["nom", "stade", "departement", "population"]].join(counts)
    out[COUNT_COLUMNS] = out[COUNT_COLUMNS].fillna(0).astype("int64")
    adh = read_adhesions(adhesions, a) if adhesions is not None else registry_adhesions(a)
    if adh is None:
        log.info(
            "adhérents et actifs non renseignés : ni colonne adherents/actifs dans le "
            "registre, ni fichier --adhesions (CSV cpts;adherents;actifs)"
        )
        adh = pd.DataFrame(
            {"adherents": pd.array([], dtype="Int64"), "actifs": pd.array([], dtype="Int64")},
            index=pd.Index([], name="cpts_id"),
        )
    out["adherents"] = adh["adherents"].reindex(out.index).astype("Int64")
    out["actifs"] = adh["actifs"].reindex(out.index).astype("Int64")
    pros = out["professionnels"].astype("float64").where(out["professionnels"] > 0)
    out["part_adherents"] = (out["adherents"].astype("Float64") * 100 / pros).round(1)
    out["part_actifs"] = (out["actifs"].astype("Float64") * 100 / pros).round(1)
    out = _blank_uncovered(out, annuaire, COUNT_COLUMNS)
    _warn_shares(out)
    return out


def _warn_shares(table: pd.DataFrame) -> None:
    """Say, CPTS by CPTS, each count of adherents or actifs that cannot be a share."""
    for cpts_id, row in table.iterrows():
        name = f"CPTS « {row['nom']} » ({cpts_id})"
        if not _known(row["professionnels"]):
            continue  # no annuaire there
        adherents, actifs, pros = row["adherents"], row["actifs"], int(row["professionnels"])
        if _known(adherents) and int(adherents) > pros:
            log.warning(
                "%s : %s pour %s sur son territoire d'après l'annuaire : part "
                "d'adhérents de plus de 100 %% (adhérents exerçant hors du territoire, "
                "annuaire incomplet ou effectif à vérifier)",
                name,
                plural(int(adherents), "adhérent"),
                plural(pros, "professionnel"),
            )
        if _known(actifs) and _known(adherents) and int(actifs) > int(adherents):
            log.warning(
                "%s : %s pour %s : plus d'actifs que d'adhérents, effectifs à vérifier",
                name,
                plural(int(actifs), "actif"),
                plural(int(adherents), "adhérent"),
            )
        elif _known(actifs) and not _known(adherents) and int(actifs) > pros:
            log.warning(
                "%s : %s pour %s sur son territoire d'après l'annuaire : part d'actifs de plus "
                "de 100 %%",
                name,
                plural(int(actifs), "actif"),
                plural(pros, "professionnel"),
            )


def _known(value: Any) -> bool:
    return value is not None and not pd.isna(value)


# ------------------------------------------------------------------------------------------
# adhesions
# ------------------------------------------------------------------------------------------
def _adhesion_value(text: str) -> int | str | None:
    """Integer, None (empty), or the text itself when it is no count."""
    if not text.strip():
        return None
    value = _count_value(text)
    return text if value is None else value


def _cpts_lookup(a: Analysis) -> tuple[dict[str, str], dict[str, list[str]]]:
    cpts = a.registry.cpts
    by_id = {_key(str(i)): str(i) for i in cpts.index}
    by_name: dict[str, list[str]] = {}
    for cpts_id, name in cpts["nom"].astype(str).items():
        by_name.setdefault(_key(name), []).append(str(cpts_id))
    return by_id, by_name


def read_adhesions(path: Path | str, a: Analysis) -> pd.DataFrame:
    """Read a CSV ``cpts;adherents;actifs`` (``actifs`` optional; ``,`` also accepted).

    ``cpts`` is a CPTS id of the registry or its name (case, accents and punctuation
    ignored).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``cpts_id``: ``adherents``, ``actifs`` (Int64, ``<NA>`` when empty).

    Raises
    ------
    DataSourceError
        Missing columns, an unknown or ambiguous CPTS, a count that is no whole number, a CPTS
        given twice: file, line and value named.
    """
    path = checked_path(
        path, what="adhésions", max_mb=float(config()["annuaire"]["taille_max_mo_csv"])
    )
    header, rows = _csv_rows(path, "adhésions")
    roles = config()["adhesions"]
    at: dict[str, int] = {}
    for role in ("cpts", "adherents", "actifs"):
        found = [i for i, h in enumerate(header) if h in roles[role] or h == role]
        if found:
            at[role] = found[0]
    missing = [r for r in ("cpts", "adherents") if r not in at]
    if missing:
        raise DataSourceError(
            f"adhésions {path} : colonnes manquantes : "
            + ", ".join(f"« {c} »" for c in missing)
            + " (attendu : un CSV cpts;adherents;actifs)"
        )
    by_id, by_name = _cpts_lookup(a)
    problems = _Problems(path, "adhésions")
    values: dict[str, tuple[int | None, int | None]] = {}
    seen: dict[str, int] = {}
    for line, row in rows:
        cells = row + [""] * (len(header) - len(row))
        given = cells[at["cpts"]].strip()
        key = _key(given)
        cpts_id = by_id.get(key)
        if cpts_id is None:
            names = by_name.get(key, [])
            if len(names) > 1:
                problems.add(
                    line,
                    given,
                    f"nom porté par plusieurs CPTS ({', '.join(names)}) : donner l'identifiant",
                )
                continue
            if not names:
                problems.add(line, given, "CPTS inconnue du registre (ni identifiant ni nom)")
                continue
            cpts_id = names[0]
        if cpts_id in seen:
            problems.add(line, given, f"CPTS déjà donnée ligne {seen[cpts_id]}")
            continue
        seen[cpts_id] = line
        counts: list[int | None] = []
        for role in ("adherents", "actifs"):
            value = _adhesion_value(cells[at[role]]) if role in at else None
            if isinstance(value, str):
                problems.add(line, value, f"{role} : nombre entier attendu")
                value = None
            counts.append(value)
        values[cpts_id] = (counts[0], counts[1])
    problems.raise_if_any()
    log.info("adhésions %s : %s", path.name, plural(len(values), "CPTS", "CPTS"))
    return pd.DataFrame(
        {
            "adherents": pd.array([v[0] for v in values.values()], dtype="Int64"),
            "actifs": pd.array([v[1] for v in values.values()], dtype="Int64"),
        },
        index=pd.Index(list(values), name="cpts_id"),
    )


def registry_adhesions(a: Analysis) -> pd.DataFrame | None:
    """Adherents and actifs of each CPTS from the registry's own columns, if it has some.

    The columns of ``config/professionnels.toml`` (``adherents``, ``nb_adherents``,
    ``actifs``…); a CPTS given on several lines must give the same counts on each (or leave
    the others empty).

    Returns
    -------
    pandas.DataFrame or None
        Indexed by ``cpts_id``: ``adherents``, ``actifs`` (Int64); None without such columns.

    Raises
    ------
    RegistryError
        A count that is no whole number, or two different counts for one CPTS (lines named).
    """
    roles = config()["adhesions"]
    extra = extra_columns(
        a.registry_path, {"adherents": roles["adherents"], "actifs": roles["actifs"]}
    )
    if extra is None:
        return None
    keys = [c for c in ("feuille", "ligne") if c in extra.columns]
    members = a.registry.membership[[*keys, "cpts_id"]]
    joined = extra.merge(members, on=keys, how="inner")
    problems: list[tuple[int | str | None, str, str]] = []
    values: dict[str, dict[str, tuple[int, int | str]]] = {}
    for row in joined.itertuples(index=False):
        place = f"feuille « {row.feuille} », ligne {row.ligne}" if "feuille" in keys else None
        where: int | str = place if place is not None else int(row.ligne)
        for role in ("adherents", "actifs"):
            if role not in extra.columns:
                continue
            value = _adhesion_value(str(getattr(row, role)))
            if value is None:
                continue
            if isinstance(value, str):
                problems.append((where, value, f"{role} : nombre entier attendu"))
                continue
            known = values.setdefault(str(row.cpts_id), {})
            if role in known and known[role][0] != value:
                problems.append(
                    (
                        where,
                        str(value),
                        f"{role} de la CPTS {row.cpts_id} : {known[role][0]} à la "
                        f"{_line_word(known[role][1])}, {value} ici (une seule valeur attendue)",
                    )
                )
                continue
            known.setdefault(role, (value, where))
    if problems:
        raise RegistryError(a.registry_path, problems[:_MAX_PROBLEMS])
    log.info(
        "adhésions lues dans le registre (%s) pour %s",
        ", ".join(c for c in ("adherents", "actifs") if c in extra.columns),
        plural(len(values), "CPTS", "CPTS"),
    )
    ids = list(values)
    return pd.DataFrame(
        {
            role: pd.array([values[i].get(role, (None,))[0] for i in ids], dtype="Int64")
            for role in ("adherents", "actifs")
        },
        index=pd.Index(ids, name="cpts_id"),
    )


def _line_word(where: int | str) -> str:
    return f"ligne {where}" if isinstance(where, int) else str(where)


# ------------------------------------------------------------------------------------------
# the second indicator in the documents (report, remontée)
# ------------------------------------------------------------------------------------------
#: Per-département columns of the second indicator (:func:`by_departement`).
DEPARTEMENT_COLUMNS = [
    "n_cpts_adhesions",
    "professionnels_cpts",
    "adherents",
    "actifs",
    "part_adherents",
    "part_actifs",
]
DEPARTEMENT_TITLES = {
    "n_cpts_adhesions": "CPTS ayant déclaré leurs adhérents",
    "professionnels_cpts": "Professionnels de ces CPTS",
    "adherents": "Adhérents",
    "actifs": "Actifs",
    "part_adherents": "% professionnels adhérents",
    "part_actifs": "% professionnels actifs",
}


def by_departement(cpts: pd.DataFrame) -> pd.DataFrame:
    """Add up :func:`by_cpts` by (main) département: the instruction's second indicator.

    Only the CPTS whose adherents (actifs) are known count in the share of adherents (actifs):
    ``part_adherents`` = their adherents over their professionals, in %.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``departement``, columns :data:`DEPARTEMENT_COLUMNS`.
    """
    known = cpts[cpts["professionnels"].notna()]
    rows = {}
    for dep, group in known.groupby("departement", sort=True):
        with_adh = group[group["adherents"].notna()]
        with_act = group[group["actifs"].notna()]
        pros = int(with_adh["professionnels"].sum())
        pros_act = int(with_act["professionnels"].sum())
        adherents = int(with_adh["adherents"].sum()) if len(with_adh) else None
        actifs = int(with_act["actifs"].sum()) if len(with_act) else None
        rows[dep] = {
            "n_cpts_adhesions": len(with_adh),
            "professionnels_cpts": pros if len(with_adh) else None,
            "adherents": adherents,
            "actifs": actifs,
            "part_adherents": round(100 * adherents / pros, 1) if adherents and pros else None,
            "part_actifs": round(100 * actifs / pros_act, 1) if actifs and pros_act else None,
        }
    out = pd.DataFrame.from_dict(rows, orient="index", columns=DEPARTEMENT_COLUMNS)
    out.index.name = "departement"
    for col in DEPARTEMENT_COLUMNS[:4]:
        out[col] = out[col].astype("Int64")
    for col in DEPARTEMENT_COLUMNS[4:]:
        out[col] = out[col].astype("Float64")
    return out


def remontee_tables(
    a: Analysis,
    table: pd.DataFrame,
    *,
    annuaire: Path | str,
    adhesions: Path | str | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Return the remontée with the second indicator beside the first.

    ``table`` (one row per département, ``departement`` column) gets
    :data:`DEPARTEMENT_COLUMNS`; the extra sheet ``professionnels`` lists each CPTS.
    """
    cpts = by_cpts(a, read_annuaire(annuaire, a), adhesions=adhesions)
    per_dep = by_departement(cpts)
    out = table.drop(columns=[c for c in DEPARTEMENT_COLUMNS if c in table.columns])
    out = out.join(per_dep, on="departement")
    sheet = cpts.reset_index()
    sheet = sheet[sheet["departement"].isin(set(table["departement"].astype(str)))]
    return out, {"professionnels": sheet.reset_index(drop=True)}


def cpts_text(row: Any) -> str | None:
    """Return one line about a CPTS's professionals (map card, plan), ``None`` if unknown.

    Examples
    --------
    >>> import pandas as pd
    >>> cpts_text(pd.Series({"professionnels": 425, "medecins_generalistes": 41,
    ...                      "adherents": 100, "part_adherents": 23.5, "actifs": pd.NA,
    ...                      "part_actifs": pd.NA}))
    '425 dont 41 médecins généralistes ; 100 adhérents (23,5\xa0%)'
    """
    if not _known(row.get("professionnels")):
        return None
    gps = plural(int(row["medecins_generalistes"]), "médecin généraliste", "médecins généralistes")
    text = f"{_format.integer(row['professionnels'])} dont {gps}"
    for col, word in (("adherents", "adhérent"), ("actifs", "actif")):
        if _known(row.get(col)):
            share = row.get(f"part_{col}")
            text += f" ; {plural(int(row[col]), word)}"
            text += f" ({_format.percent(share)})" if _known(share) else ""
    return text


def zone_text(row: Any) -> str | None:
    """Return one line about the professionals present in a zone blanche, ``None`` if unknown.

    ``row``: a row of :func:`by_zone`.
    """
    if not _known(row.get("professionnels")):
        return None
    per = int(config()["densite"]["pour_habitants"])
    density = row.get(f"generalistes_pour_{per}_hab")
    gps = int(row["medecins_generalistes"])
    text = (
        f"{plural(int(row['professionnels']), 'professionnel de santé', 'professionnels de santé')}"
        f" dont {plural(gps, 'médecin généraliste', 'médecins généralistes')}"
    )
    if _known(density):
        text += f" ({_format.number(density, decimals=1)} pour {_format.integer(per)} hab.)"
    return text


def zone_texts(a: Analysis, annuaire: Annuaire) -> dict[str, str | None]:
    """Return :func:`zone_text` of each zone blanche of the analysis, by ``zone_id``."""
    suffix = " — annuaire fictif" if annuaire.fictif else ""
    texts = {}
    for zone_id, row in by_zone(a, annuaire).set_index("zone_id").iterrows():
        text = zone_text(row)
        texts[str(zone_id)] = None if text is None else text + suffix
    return texts


def plan_cpts_sheet(
    a: Analysis, sheet: pd.DataFrame, *, annuaire: Annuaire, adhesions: Path | str | None = None
) -> pd.DataFrame:
    """Add a column ``professionnels`` (:func:`cpts_text`) to the plan's CPTS sheet.

    ``sheet`` has a ``cpts_id`` column (:data:`couverture.alerts.CPTS_COLUMNS`).
    """
    pros = by_cpts(a, annuaire, adhesions=adhesions)
    texts = {str(i): cpts_text(r) for i, r in pros.iterrows()}
    return sheet.assign(professionnels=[texts.get(str(i)) or "" for i in sheet["cpts_id"]])


def with_texts(
    a: Analysis,
    annuaire: Annuaire,
    *,
    cpts: pd.DataFrame,
    zones: pd.DataFrame,
    adhesions: Path | str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add a ``professionnels_texte`` column to CPTS (index ``cpts_id``) and zones (``zone_id``).

    For the maps' cards: :func:`cpts_text` and :func:`zone_text` of each row.
    """
    pros = by_cpts(a, annuaire, adhesions=adhesions)
    texts = {i: cpts_text(r) for i, r in pros.iterrows()}
    cpts = cpts.assign(professionnels_texte=[texts.get(i) for i in cpts.index])
    per_zone = by_zone(a, annuaire).set_index("zone_id")
    ztexts = {i: zone_text(r) for i, r in per_zone.iterrows()}
    zones = zones.assign(professionnels_texte=[ztexts.get(z) for z in zones["zone_id"]])
    return cpts, zones


# ------------------------------------------------------------------------------------------
# one call for the command line
# ------------------------------------------------------------------------------------------
#: The tables of ``couverture professionnels --par``.
LEVELS = ("cpts", "zone", "commune")


def professionals(
    a: Analysis, annuaire: Annuaire, *, par: str = "cpts", adhesions: Path | str | None = None
) -> pd.DataFrame:
    """Return the table of ``couverture professionnels --par cpts|zone|commune``.

    ``cpts``: :func:`by_cpts` with ``cpts_id`` as a column; ``zone``: :func:`by_zone`;
    ``commune``: :func:`by_commune`.
    """
    if par == "cpts":
        return by_cpts(a, annuaire, adhesions=adhesions).reset_index()
    if par == "zone":
        return by_zone(a, annuaire)
    if par == "commune":
        return by_commune(a, annuaire)

    raise ArgumentError(f"--par : « {par} » inconnu (attendu : {', '.join(LEVELS)})")
