"""Registry rows → CPTS: ids and names, stages, dates, shares, duplicates, the CPTS table.

Private to :mod:`couverture.registry`.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from couverture import _format
from couverture._config import (
    neighbour_departements,
    pre_stage,
    stage_codes,
    stage_rank,
    stage_wordings,
)
from couverture._config import (
    stage as stage_entry,
)
from couverture._errors import ArgumentError
from couverture._registry_common import (
    _DATE_ROLES,
    _DEFAULT_STAGE_HINT,
    _SHEET_STRIDE,
    _Body,
    _Collector,
    _compact,
    _plural,
)

EXCLUDED = "exclu"  # stage of the wordings meaning "CPTS abandoned or dissolved: ignore it"
_TRUTHY = frozenset({"oui", "o", "1", "true", "vrai", "yes", "x"})
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")


# --------------------------------------------------------------------------------------------
# stage vocabulary
# --------------------------------------------------------------------------------------------
@functools.cache
def _stage_table() -> dict[str, str]:
    return {_compact(wording): stage for wording, stage in stage_wordings().items()}


def normalise_stage(text: str) -> str | None:
    """Return the stage code of a wording, ``""`` before a lettre d'intention, else ``None``.

    Case, accents, apostrophes, parentheses, spaces and a leading number or "CPTS" do not
    matter. Wordings of an abandoned or dissolved CPTS give ``"exclu"`` (:data:`EXCLUDED`).

    Examples
    --------
    >>> normalise_stage("ACI signé"), normalise_stage("prochainement en fonctionnement")
    ('aci', 'projet_sante')
    >>> normalise_stage("En fonctionnement (ACI)"), normalise_stage("Dissoute")
    ('aci', 'exclu')
    """
    if not isinstance(text, str):
        return None
    key = _compact(text).lstrip("0123456789")
    if not key:
        return None
    table = _stage_table()
    if key in table:
        return table[key]
    for prefix in ("cpts", "stade", "statut"):
        if key.startswith(prefix) and key[len(prefix) :] in table:
            return table[key[len(prefix) :]]
    return None


@functools.lru_cache(maxsize=1024)
def _stage_of(wording: str) -> str | None:
    return normalise_stage(wording)


@functools.cache
def _accepted_stages() -> str:
    """Every accepted wording, grouped by stage (for the unknown-stage message)."""
    groups: dict[str, dict[str, str]] = {label: {} for label in (*stage_codes(), "", EXCLUDED)}
    for wording, stage in stage_wordings().items():
        if wording != stage:  # the stage codes themselves head their group
            groups.setdefault(stage, {}).setdefault(_compact(wording), wording)
    names = {"": pre_stage().short, EXCLUDED: "CPTS ignorée"}
    return " ; ".join(
        f"{names.get(stage, stage)} : {', '.join(wordings.values())}"
        for stage, wordings in groups.items()
        if wordings
    )


def _default_stage(default_stage: str | None) -> str | None:
    if default_stage is None:
        return None
    stage = normalise_stage(default_stage)
    if stage not in stage_codes():
        raise ArgumentError(
            f"stade par défaut inconnu : « {default_stage} » (attendu : lettre_intention, "
            "projet_sante ou aci, ou un libellé comme « ACI signé »)"
        )
    return stage


# --------------------------------------------------------------------------------------------
# cell parsers
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _parse_share(raw: str) -> float | None:
    text = raw.replace(" ", "").replace("\xa0", "").replace(",", ".")
    percent = text.endswith("%")
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        return None
    if not math.isfinite(value):  # "nan", "inf" are no shares
        return None
    return value / 100 if percent else value


@functools.lru_cache(maxsize=4096)
def _parse_date(raw: str) -> str | None:
    text = raw.strip()[:10] if re.match(r"\d{4}-\d\d-\d\dT", raw.strip()) else raw.strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


# --------------------------------------------------------------------------------------------
# rows → CPTS
# --------------------------------------------------------------------------------------------
def is_fictif(body: _Body) -> bool:
    """Whether the ``fictif`` column marks a demonstration registry."""
    return any(_compact(v) in _TRUTHY for v in set(body.col("fictif")))


def _cpts_ids(body: _Body, departements: Callable[[], list[str | None]]) -> list[str | None]:
    """Return the CPTS id of each row (its name when there is no id column), ``None`` when empty.

    Without an id column, one name in départements that do not touch is several CPTS
    (``departements`` gives each row's département, computed only then). A name without a
    letter or a digit (« - », « ? ») is no name. What makes a CPTS hard to designate is noted
    with its line: a CPTS known by its id alone, one name given to several CPTS of a
    département (:func:`_note_homonyms`), a name whose rows come in separate blocks of a
    registry without ids (:func:`_note_blocks`).
    """
    raw = body.col("cpts_nom")
    clean = {n: " ".join(n.split()) for n in set(raw)}
    clean = {n: c if _compact(c) else "" for n, c in clean.items()}
    names = [clean[n] for n in raw]
    if "cpts_id" in body.first:
        ids: list[str | None] = list(body.col("cpts_id"))
        message = "identifiant de CPTS vide"
    else:
        by_key: dict[str, str] = {}
        for name in dict.fromkeys(names):
            if name:
                by_key.setdefault(_compact(name), name)
        ids = [by_key[_compact(n)] if n else None for n in names]
        named = list(ids)
        ids = _split_homonyms(body, ids, departements())
        message = "nom de CPTS vide"
    for i, cpts_id in enumerate(ids):
        if not cpts_id:
            ids[i] = None
            why = (
                message
                if not raw[i].strip() or "cpts_id" in body.first
                else "nom de CPTS sans lettre ni chiffre"
            )
            body.problems.append((body.lines[i], raw[i], why))
    _register(body, ids, names, raw)
    if "cpts_id" in body.first:
        _note_homonyms(body, ids, departements)
    else:
        _note_blocks(body, ids, named)
    return ids


def _register(body: _Body, ids: list[str | None], names: list[str], raw: tuple[str, ...]) -> None:
    """Record each CPTS with its name (first given), noting a CPTS known by its id alone."""
    firsts: dict[tuple[str | None, str], int] = {}
    for pair, line in zip(zip(ids, names, strict=True), body.lines, strict=True):
        firsts.setdefault(pair, line)
    unnamed: dict[str, int] = {}
    for (cpts_id, name), line in firsts.items():
        if cpts_id is None:
            continue
        entry = body.cpts.get(cpts_id)
        if entry is None:
            entry = body.cpts[cpts_id] = {"nom": name or cpts_id, "stages": {}}
            entry.update(dict.fromkeys(_DATE_ROLES))
            if not name:
                unnamed[cpts_id] = line
        elif name and cpts_id in unnamed:
            entry["nom"] = name  # named on a later row
            del unnamed[cpts_id]
        elif name and _compact(name) != _compact(entry["nom"]):
            body.notes.add(
                line,
                body.header_of("cpts_nom"),
                name,
                f"nom différent pour la {body.label(cpts_id)} : « {entry['nom']} » conservé",
                "noms de CPTS différents",
            )
    if "cpts_nom" not in body.first:
        return  # a registry of ids alone: its ids are its names
    value = dict(zip(body.lines, raw, strict=True)) if unnamed else {}
    for cpts_id, line in unnamed.items():
        body.notes.add(
            line,
            body.header_of("cpts_nom"),
            value.get(line, ""),
            f"{body.label(cpts_id)} sans nom : son identifiant « {cpts_id} » lui sert de nom",
            "CPTS sans nom",
        )


def _note_homonyms(
    body: _Body, ids: list[str | None], departements: Callable[[], list[str | None]]
) -> None:
    """Note the names given to several CPTS (distinct ids) in one département.

    A scenario, a plan d'action or a person reading a map names a CPTS by its name: two CPTS
    « CPTS Sud » of the 35 can only be told apart by their ids.
    """
    by_name: dict[str, list[str]] = {}
    for cpts_id, entry in body.cpts.items():
        by_name.setdefault(_compact(entry["nom"]), []).append(cpts_id)
    shared = {cid for group in by_name.values() if len(group) > 1 for cid in group}
    if not shared:
        return
    deps = departements()
    where: dict[tuple[str, str], dict[str, int]] = {}
    for row_id, dep, line in zip(ids, deps, body.lines, strict=True):
        if row_id is not None and row_id in shared and dep is not None:
            key = (_compact(body.cpts[row_id]["nom"]), dep)
            where.setdefault(key, {}).setdefault(row_id, line)
    for (_, dep), found in sorted(where.items(), key=lambda kv: min(kv[1].values())):
        if len(found) < 2:
            continue
        listed = sorted(found, key=lambda c: found[c])
        name = body.cpts[listed[0]]["nom"]
        body.notes.add(
            found[listed[1]],
            body.header_of("cpts_nom") or "nom_cpts",
            name,
            f"nom « {name} » porté par {len(listed)} CPTS du département {dep} "
            f"({', '.join(listed)}) : les désigner par leur identifiant (scénario, plan "
            "d'action)",
            "CPTS homonymes dans un département",
        )


def _note_blocks(body: _Body, ids: list[str | None], named: list[str | None]) -> None:
    """Note a name whose rows come in separate blocks, in a registry otherwise grouped by CPTS.

    Without an id column one name is one CPTS: two CPTS of the same name (« CPTS Sud » twice)
    merge silently. Their rows separated by other CPTS's rows are the trace left of it. A
    registry sorted by commune (most CPTS in several blocks) says nothing of the kind. Only
    rows of another name end a block (``named``: each row's name before homonyms in
    départements that do not touch were told apart, those being noted already).
    """
    blocks: dict[str, list[list[int]]] = {}
    previous: str | None = None
    open_ids: set[str] = set()
    for cpts_id, name, line in zip(ids, named, body.lines, strict=True):
        if cpts_id is None:
            continue
        if name != previous:
            open_ids.clear()
        if cpts_id not in open_ids:
            blocks.setdefault(cpts_id, []).append([line, line])
            open_ids.add(cpts_id)
        blocks[cpts_id][-1][1] = line
        previous = name
    split = {c: b for c, b in blocks.items() if len(b) > 1}
    extra = sum(len(b) for b in blocks.values()) - len(blocks)
    if not split or extra > max(1, len(blocks) // 10):
        return  # not grouped by CPTS (sorted by commune…): blocks say nothing
    for cpts_id, runs in split.items():
        shown = ", ".join(
            body.place(a) + (f"–{b % _SHEET_STRIDE}" if b != a else "") for a, b in runs[:4]
        ) + (" …" if len(runs) > 4 else "")
        body.notes.add(
            runs[1][0],
            body.header_of("cpts_nom") or "nom_cpts",
            cpts_id,
            f"{body.label(cpts_id)} en {len(runs)} blocs de lignes séparés ({shown}) : une "
            "seule CPTS retenue ; si ce sont des CPTS homonymes, les distinguer par une colonne "
            "cpts_id",
            "CPTS en blocs de lignes séparés (homonymes ?)",
        )


def _touching_groups(departements: set[str]) -> list[list[str]]:
    """Return the départements grouped by contiguity (a chain of borders), each group sorted."""
    neighbours = neighbour_departements()
    left, groups = set(departements), []
    while left:
        todo, group = [min(left)], set()
        while todo:
            dep = todo.pop()
            if dep in left:
                left.discard(dep)
                group.add(dep)
                todo.extend(neighbours.get(dep, ()))
        groups.append(sorted(group))
    return sorted(groups)


def _split_homonyms(
    body: _Body, ids: list[str | None], departements: list[str | None]
) -> list[str | None]:
    """Key by name and département the CPTS whose one name covers départements that do not touch.

    (a national registry without ids: "CPTS Saint-Pierre" in 974 and in 972).

    A name over one département, or over départements that touch, stays one CPTS (its
    contradictions are noted later); so does a name with a row of unknown département.
    """
    found: dict[str, set[str | None]] = {}
    first_line: dict[str, int] = {}
    for cpts_id, dep, line in zip(ids, departements, body.lines, strict=True):
        if cpts_id is not None:
            found.setdefault(cpts_id, set()).add(dep)
            first_line.setdefault(cpts_id, line)
    rename: dict[tuple[str, str | None], str] = {}
    for cpts_id, deps in found.items():
        if len(deps) < 2 or None in deps:
            continue
        groups = _touching_groups({d for d in deps if d is not None})
        if len(groups) < 2:
            continue
        new_ids = []
        for group in groups:
            new_ids.append(f"{cpts_id} ({', '.join(group)})")
            rename.update({(cpts_id, d): new_ids[-1] for d in group})
        body.notes.add(
            first_line[cpts_id],
            body.header_of("cpts_nom"),
            cpts_id,
            f"{len(groups)} CPTS homonymes dans des départements non limitrophes, "
            f"distinguées par nom et département : {', '.join(new_ids)}",
            "CPTS homonymes distinguées par département",
        )
    if not rename:
        return ids
    return [
        rename.get((i, d), i) if i is not None else None
        for i, d in zip(ids, departements, strict=True)
    ]


def _stages(body: _Body, ids: list[str | None]) -> list[bool]:
    """Record each CPTS's stages; return the rows of the CPTS to ignore (``exclu``)."""
    wordings = body.col("stade")
    stage_of = {w: _stage_of(w) if w else body.default for w in set(wordings)}
    _unknown_stages(body, wordings, {w for w, stage in stage_of.items() if stage is None})
    skip = [False] * len(ids)
    if EXCLUDED in stage_of.values():
        skip = _excluded(body, ids, wordings, stage_of)
    if "" in stage_of and body.default is not None and "stade" in body.first:
        for wording, line in zip(wordings, body.lines, strict=True):
            if not wording:
                body.notes.add(
                    line,
                    body.header_of("stade"),
                    "",
                    f"stade vide : stade par défaut « {body.default} »",
                    "stades vides, stade par défaut appliqué",
                )
    firsts: dict[tuple[str | None, str], int] = {}
    for pair, line in zip(zip(ids, wordings, strict=True), body.lines, strict=True):
        firsts.setdefault(pair, line)
    for (cpts_id, wording), line in firsts.items():
        stage = stage_of[wording]
        if cpts_id in body.cpts and stage is not None:
            shown = wording or body.default_wording
            body.cpts[cpts_id]["stages"].setdefault((stage, shown), line)
    return skip


def _unknown_stages(body: _Body, wordings: tuple[str, ...], bad: set[str]) -> None:
    """One problem per row whose stage is empty (no default) or unknown."""
    if not bad:
        return
    listed_at = None
    for wording, line in zip(wordings, body.lines, strict=True):
        if wording not in bad:
            continue
        if not wording:
            message = f"stade vide : {_DEFAULT_STAGE_HINT}"
        elif listed_at is None:
            listed_at = line
            message = f"stade inconnu (libellés acceptés — {_accepted_stages()})"
        else:
            message = f"stade inconnu (libellés acceptés : voir {body.place(listed_at)})"
        body.problems.append((line, wording, message))


def _excluded(
    body: _Body, ids: list[str | None], wordings: tuple[str, ...], stage_of: dict[str, str | None]
) -> list[bool]:
    """Drop the abandoned or dissolved CPTS (one note each); return their rows."""
    excluded: dict[str, tuple[int, str]] = {}
    for cpts_id, wording, line in zip(ids, wordings, body.lines, strict=True):
        if cpts_id is not None and stage_of[wording] == EXCLUDED:
            excluded.setdefault(cpts_id, (line, wording))
    for cpts_id, (line, wording) in excluded.items():
        dropped = sum(1 for i in ids if i == cpts_id)
        body.notes.add(
            line,
            body.header_of("stade"),
            wording,
            f"{body.label(cpts_id)} ignorée (stade « {wording} ») : "
            f"{_plural(dropped, 'ligne écartée', 'lignes écartées')}",
            "CPTS abandonnées ou dissoutes ignorées",
        )
        del body.cpts[cpts_id]
    return [cpts_id in excluded for cpts_id in ids]


def _dates(body: _Body, ids: list[str | None]) -> None:
    for role in _DATE_ROLES:
        if role not in body.first:
            continue
        values = body.col(role)
        iso = {v: _parse_date(v) for v in set(values) if v}
        for cpts_id, value, line in zip(ids, values, body.lines, strict=True):
            if not value or cpts_id not in body.cpts:
                continue
            if iso[value] is None:
                body.notes.add(
                    line,
                    body.header_of(role),
                    value,
                    "date illisible ignorée",
                    "dates illisibles",
                )
            elif body.cpts[cpts_id][role] is None:
                body.cpts[cpts_id][role] = iso[value]


def _shares(body: _Body) -> list[float]:
    values = body.col("part")
    parsed = {v: _parse_share(v) if v else math.nan for v in set(values)}
    bad = {v for v, share in parsed.items() if share is None or share <= 0 or share > 1}
    if bad:
        for value, line in zip(values, body.lines, strict=True):
            if value in bad:
                body.problems.append(
                    (
                        line,
                        value,
                        "part invalide (attendu : 0 < part ≤ 1, par exemple 0,5 ou 50 %)",
                    )
                )
    return [math.nan if v in bad else parsed[v] for v in values]  # type: ignore[misc]


_MEMBER_COLUMNS = [
    "cpts_id",
    "code",
    "part",
    "ligne",
    "iris",
    "expanded",
    "colonne",
    "valeur",
    "part_brute",
]
_MEMBER_TYPES = {"cpts_id": str, "code": str, "part": "float64", "ligne": "int64", "iris": bool}


def _share(part: float) -> str:
    """Return a commune's share in French (« 0,3 »), « 1 » for a whole commune (no share)."""
    return "1" if pd.isna(part) else f"{float(part):g}".replace(".", ",")


def _deduplicate(
    members: dict[str, list[Any]], notes: _Collector, label: Callable[[str], str]
) -> pd.DataFrame:
    """One row per (CPTS, unit): explicit rows beat whole-city expansions and IRIS rows."""
    m = pd.DataFrame(members, columns=_MEMBER_COLUMNS).astype(_MEMBER_TYPES)
    # on the parsed lists: iterating the frame's Arrow strings costs ten times as much
    repeated = len(set(zip(members["cpts_id"], members["code"], strict=True))) < len(m)
    if repeated:  # the sorts below cost more than all the rest: only when needed
        m = m.sort_values(["cpts_id", "code", "expanded", "iris", "ligne"], kind="stable")
    dup = m.duplicated(["cpts_id", "code"]) if repeated else pd.Series(False, m.index)
    if dup.any():
        kept = m[~dup].set_index(["cpts_id", "code"])
        dropped = m[dup]
        keys = pd.MultiIndex.from_frame(dropped[["cpts_id", "code"]])
        kept_line = kept["ligne"].reindex(keys).to_numpy()
        kept_share = kept["part"].reindex(keys).to_numpy()
        merged = dropped["iris"].to_numpy() & kept["iris"].reindex(keys).to_numpy()
        if merged.any():  # several IRIS of one commune: one membership, shares added
            total = (
                m[m["iris"]]
                .groupby(["cpts_id", "code"])["part"]
                .agg(lambda s: s.sum(skipna=False))
                .clip(upper=1.0)
            )
            first = ~dup & m["iris"]
            where = pd.MultiIndex.from_frame(m.loc[first, ["cpts_id", "code"]])
            m.loc[first, "part"] = total.reindex(where).to_numpy()
        for row, line_kept, share_kept, merge in zip(
            dropped.itertuples(index=False), kept_line, kept_share, merged, strict=True
        ):
            if not merge:
                shares = ""
                if not (pd.isna(row.part) and pd.isna(share_kept)) and row.part != share_kept:
                    # the reader must see what the coverage lost (a 30 % + 70 % split listed twice)
                    shares = (
                        f", part {_share(share_kept)} gardée ; part {_share(row.part)} de "
                        "cette ligne ignorée"
                    )
                notes.add(
                    int(row.ligne),
                    str(row.colonne),
                    str(row.valeur),
                    f"doublon ignoré : {row.code} déjà rattachée à la {label(row.cpts_id)} "
                    f"({notes.place(line_kept)}{shares})",
                    "doublons ignorés",
                )
        m = m[~dup]
    m = m.drop(columns=["expanded", "colonne", "valeur"])
    lines, codes = m["ligne"].to_numpy(), m["code"].to_numpy(dtype=object)
    in_order = bool(
        ((lines[1:] > lines[:-1]) | ((lines[1:] == lines[:-1]) & (codes[1:] >= codes[:-1]))).all()
    )
    if not in_order:
        m = m.sort_values(["ligne", "code"], kind="stable")
    return m.reset_index(drop=True)


def _check_share_sums(
    membership: pd.DataFrame, notes: _Collector, share_col: str, label: Callable[[str], str]
) -> pd.DataFrame:
    """Note the units whose shares add up to more than 1; return membership without raw shares."""
    shared = membership[membership["part"].notna()]
    if not shared.empty:
        sums = shared.groupby("code")["part"].agg(["sum", "count"])
        for code in sums.index[(sums["sum"] > 1 + 1e-9) & (sums["count"] > 1)]:
            rows = shared[shared["code"] == code]
            listed = ", ".join(map(label, rows["cpts_id"]))
            total = _format.number(sums.at[code, "sum"], decimals=2)
            notes.add(
                int(rows["ligne"].min()),
                share_col,
                " + ".join(rows["part_brute"]),
                f"parts cumulées de {code} = {total} > 1 ({listed}) : la couverture retient 1",
                "parts cumulées supérieures à 1",
            )
    return membership.drop(columns="part_brute")


def _cpts_table(
    cpts: dict[str, dict[str, Any]],
    columns: dict[str, list[int]],
    notes: _Collector,
    stage_col: str,
    label: Callable[[str], str],
) -> pd.DataFrame:
    records = []
    for cpts_id, entry in cpts.items():
        stages: dict[tuple[str, str], int] = entry["stages"]
        if stages:
            # the most advanced stage wins (stale rows lag behind), first line on ties
            (stage, wording), _ = max(stages.items(), key=lambda s: (stage_rank(s[0][0]), -s[1]))
            distinct = {st for st, _ in stages}
            if len(distinct) > 1:
                # in words, most advanced first (never the machine keys)
                listed = ", ".join(
                    stage_entry(st).short if st else pre_stage().short
                    for st in sorted(distinct, key=stage_rank, reverse=True)
                )
                notes.add(
                    min(stages.values()),
                    stage_col,
                    wording,
                    f"stades différents pour la {label(cpts_id)} ({listed}) : le plus "
                    f"avancé « {wording} » retenu",
                    "stades incohérents",
                )
        else:
            stage, wording = "", ""
        record: dict[str, object] = {
            "cpts_id": cpts_id,
            "nom": entry["nom"],
            "stade": stage or pd.NA,
            "stade_libelle": wording,
        }
        for role in _DATE_ROLES:
            if role in columns:
                record[role] = entry[role] if entry[role] is not None else pd.NA
        records.append(record)
    table = pd.DataFrame.from_records(records).set_index("cpts_id")
    table = table.astype({"nom": str, "stade": "string", "stade_libelle": str})
    for role in _DATE_ROLES:
        if role in table:
            table[role] = table[role].astype("string")
    table.index = table.index.astype(str)
    table.index.name = "cpts_id"
    return table
