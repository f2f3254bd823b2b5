"""Registry rows → units: commune codes, IRIS codes, old codes, names and départements.

Private to :mod:`couverture.registry`.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections import defaultdict
from dataclasses import dataclass
from itertools import compress
from typing import Any

import pandas as pd

from couverture._registry_common import _accented_key, _Body, _name_key

_COMMUNE_CODE = re.compile(r"(?:\d\d|2A|2B)\d{3}")
_IRIS_CODE = re.compile(r"(?:\d\d|2A|2B)\d{7}")
_FLOAT_INTEGER = re.compile(r"\d+\.0+")
_LOST_ZERO = re.compile(r"\d{4}")  # an 8-digit number is no IRIS code (garbage)
_CODE_LIKE = re.compile(r"\d{4,5}(?:\.0+)?|\d{8,9}|2[AB]\d{3}|2[AB]\d{7}", re.IGNORECASE)
_CITY_OF_ARM = re.compile(r"\s+\d+\s*(?:er|re|e|eme)?\s+arrondissement$", re.IGNORECASE)
# Saint-Rambert-l'Île-Barbe merged into Lyon in 1963 and is now Lyon's 9th arrondissement: its
# old code must not claim the whole city.
_OLD_CODE_ARRONDISSEMENT = {"69232": "69389"}


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Resolved:
    codes: tuple[str, ...] = ()
    iris: bool = False
    expanded: bool = False
    notes: tuple[tuple[str, str, str, str], ...] = ()  # (colonne, valeur, action, kind)
    error: tuple[str, str] | None = None  # (valeur, message)
    column: str = ""  # the column the commune was read from


def _dep_of(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def _same_dep(a: str, b: str) -> bool:
    """Tell whether two département codes are the same département.

    Corsica's former "20" covers 2A and 2B.
    """
    return a == b or {a, b} in ({"20", "2A"}, {"20", "2B"})


def _postal_arrondissement(code: str) -> str | None:
    """INSEE code of the Paris/Lyon/Marseille arrondissement of a postal code (75001 → 75101)."""
    number = int(code[2:]) if code[2:].isdigit() and code[2] == "0" else 0
    limits = {"75": 20, "69": 9, "13": 16}
    if not 1 <= number <= limits.get(code[:2], 0):
        return None
    return {"75": f"751{number:02d}", "69": f"6938{number}", "13": f"132{number:02d}"}[code[:2]]


def _postal_like(code: str, index: int | None) -> bool:
    # postal codes of PLM arrondissements are DD0NN (13001 = Marseille 1er); elsewhere they
    # usually end in 0 (04000 Digne-les-Bains, 13100 Aix-en-Provence)
    if index is not None and code[2:].isdigit():
        return int(code[2:]) == index
    return code.endswith("0")


@dataclass(frozen=True)
class _Row:
    """One row's commune as written: code (and its column), name (and its column), département."""

    raw: str
    column: str
    name: str
    name_column: str
    dep: str


class _Reject(Exception):  # an internal signal: never leaves this module
    """A row's commune cannot be resolved: ``value`` at fault and the French ``message``."""

    def __init__(self, value: str, message: str) -> None:
        super().__init__(message)
        self.value = value
        self.message = message


def _written_code(row: _Row, notes: list[tuple[str, str, str, str]]) -> tuple[str, bool]:
    """Return the commune code as written.

    (spaces and ``.0`` removed, leading zero restored, IRIS code cut to its commune) and whether
    it was an IRIS code.
    """
    raw, column = row.raw, row.column
    code = raw.upper().replace(" ", "").replace("\xa0", "")
    if _FLOAT_INTEGER.fullmatch(code):
        code = code.split(".")[0]
    if _LOST_ZERO.fullmatch(code):
        code = "0" + code
        notes.append(
            (column, raw, f"zéro initial restauré : {raw} → {code}", "zéros initiaux restaurés")
        )
    if _IRIS_CODE.fullmatch(code):
        notes.append(
            (
                column,
                raw,
                f"code IRIS {code} → commune {code[:5]} (commune partagée ; sans colonne "
                "part, la commune entière est comptée couverte)",
                "codes IRIS",
            )
        )
        return code[:5], True
    if not _COMMUNE_CODE.fullmatch(code):
        raise _Reject(
            raw,
            "code inconnu : ni code commune (5 caractères) ni code IRIS "
            "(9 caractères : code commune et 4 chiffres)",
        )
    return code, False


class _Units:
    """Lookup tables over the units (built once per call; name keys built lazily)."""

    def __init__(self, units: pd.DataFrame, old_codes: pd.DataFrame) -> None:
        codes = units["code"].astype(str).tolist()
        self.nom = dict(zip(codes, units["nom"].astype(str).tolist(), strict=True))
        self.dep = dict(zip(codes, units["departement"].astype(str).tolist(), strict=True))
        self.deps = frozenset(self.dep.values())
        is_arm = (units["type"].astype(str) == "ARM").tolist()
        cities = units["commune"].astype(str).tolist()
        self.city = {c: p for c, p, a in zip(codes, cities, is_arm, strict=True) if a}
        arms: dict[str, list[str]] = defaultdict(list)
        for code, city in self.city.items():
            arms[city].append(code)
        self.arrondissements = {city: sorted(a) for city, a in arms.items()}
        for city, a in self.arrondissements.items():
            self.nom[city] = _CITY_OF_ARM.sub("", self.nom[a[0]])
            self.dep[city] = self.dep[a[0]]
        self.old: dict[str, str] = dict(
            zip(
                old_codes["code_ancien"].astype(str).tolist(),  # lists: no Arrow iteration
                old_codes["code_actuel"].astype(str).tolist(),
                strict=True,
            )
        )
        self.plain = frozenset(codes)  # real units (not whole PLM cities)
        self._keys: dict[str, list[str]] | None = None
        self._by_dep: dict[str, dict[str, list[str]]] | None = None

    def departement_of(self, raw: str) -> str | None:
        """Département of a code as written (loosely cleaned, old codes followed), if known."""
        code = raw.upper().replace(" ", "").replace("\xa0", "")
        if _FLOAT_INTEGER.fullmatch(code):
            code = code.split(".")[0]
        if _LOST_ZERO.fullmatch(code):
            code = "0" + code
        if _IRIS_CODE.fullmatch(code):
            code = code[:5]
        if code not in self.dep:
            code = self.old.get(code, code)
        return self.dep.get(code)

    def arm_index(self, code: str) -> int | None:
        city = self.city.get(code)
        return None if city is None else self.arrondissements[city].index(code) + 1

    def label(self, code: str) -> str:
        return f"{self.nom[code]} ({code})"

    def name_index(self) -> dict[str, list[str]]:
        """Loose name key → codes (units and whole PLM cities), built on first use."""
        if self._keys is None:
            self._keys = defaultdict(list)
            for code, key in zip(self.nom, map(_name_key, self.nom.values()), strict=True):
                self._keys[key].append(code)
        return self._keys

    def find(self, name: str, dep: str | None) -> list[str]:
        """Codes (units or whole PLM cities) whose name loosely equals ``name``.

        Spaces, hyphens and apostrophes are equivalent ("Annecy le Vieux", "Annecy-le-Vieux");
        an elided article written without its apostrophe ("LEscale") is tried last.
        """
        index = self.name_index()
        key = _name_key(name)
        candidates = index.get(key, [])
        if not candidates and key[:1] == "l" and len(key) > 3:
            candidates = index.get(key[1:], [])
        if dep is not None:
            candidates = [c for c in candidates if self.dep[c] == dep]
        if len(candidates) > 1:  # "Vergné" vs "La Vergne": accents decide
            accented = _accented_key(name)
            exact = [c for c in candidates if _accented_key(self.nom[c]) == accented]
            if len(exact) == 1:
                return exact
        return candidates

    def suggest(self, name: str, dep: str | None) -> str:
        """Message tail naming the closest units (of ``dep`` when given) to a misspelt name."""
        if self._by_dep is None:
            self._by_dep = defaultdict(dict)
            for key, codes in self.name_index().items():
                for code in codes:
                    self._by_dep[self.dep[code]].setdefault(key, []).append(code)
                    self._by_dep[""].setdefault(key, []).append(code)
        keys = self._by_dep.get(dep or "", {})
        key = _name_key(name)
        close = difflib.get_close_matches(key, keys, n=3, cutoff=0.8)
        if not close and dep:  # a commune déléguée: "Annecy le Vieux" is now in Annecy
            close = sorted((k for k in keys if len(k) >= 4 and key.startswith(k)), key=len)[-1:]
        labels = [self.label(c) for key in close for c in keys[key]][:3]
        return f" (vouliez-vous dire : {' ou '.join(labels)} ?)" if labels else ""

    def same_place(self, name: str, code: str) -> bool:
        if name == self.nom[code]:
            return True
        key = _name_key(name)
        city = self.city.get(code)
        return key == _name_key(self.nom[code]) or (
            city is not None and key == _name_key(self.nom[city])
        )

    def close_to(self, name: str, code: str) -> bool:
        key = _name_key(name)
        for ref in (code, self.city.get(code)):
            other = _name_key(self.nom[ref]) if ref else ""
            if len(key) >= 4 and len(other) >= 4 and (key in other or other in key):
                return True
        return False

    def resolve(self, raw: str, column: str, name: str, name_column: str, dep: str) -> _Resolved:
        """Resolve one row's commune (code and/or name, département) to unit codes."""
        if (
            raw in self.nom
            and raw not in self.arrondissements
            and (not dep or dep == self.dep[raw])
        ) and (not name or name == self.nom[raw]):  # fast path: clean code, exact name
            return _Resolved((raw,), column=column)
        if not raw and _CODE_LIKE.fullmatch(name):  # a code in the commune-name column
            raw, column, name = name, name_column, ""
        if not raw:
            return self._resolve_name(name, name_column, dep)
        row = _Row(raw, column, name, name_column, dep)
        notes: list[tuple[str, str, str, str]] = []
        try:
            given, iris = _written_code(row, notes)
            code, old = self._current_code(row, given, notes)
            self._check_departement(row, given, code, notes)
            codes: tuple[str, ...] = (code,)
            if name and not self.same_place(name, code):
                codes = self._check_name(row, given, code, old, notes)
        except _Reject as reject:
            return _Resolved(error=(reject.value, reject.message))
        return self._finish(codes, iris, notes, column, raw)

    def _current_code(
        self, row: _Row, given: str, notes: list[tuple[str, str, str, str]]
    ) -> tuple[str, bool]:
        """Return the current code of a code as written (old codes replaced).

        Whether it was old.
        """
        old = given not in self.nom and given in self.old
        code = given
        if old:
            code = _OLD_CODE_ARRONDISSEMENT.get(given, self.old[given])
            if code in self.nom and not self._old_code_plausible(given, code, row.name, row.dep):
                raise _Reject(row.raw, self._foreign_old_code(given, code))
            notes.append(
                (
                    row.column,
                    row.raw,
                    f"ancien code {given} remplacé par {self.label(code)}",
                    "anciens codes",
                )
            )
        if code not in self.nom:
            others = self.find(row.name, _dep_of(given)) if row.name else []
            hint = self._designates(row.name, given, others)
            raise _Reject(row.raw, f"code commune inconnu{hint}")
        return code, old

    def _check_departement(
        self, row: _Row, given: str, code: str, notes: list[tuple[str, str, str, str]]
    ) -> None:
        """Check that the row's département is the code's (an unreadable one is ignored)."""
        dep = row.dep
        if not dep or _same_dep(dep, self.dep[code]):
            return
        if dep in self.deps:
            raise _Reject(
                row.raw,
                f"le code {given} désigne {self.label(code)}, dans le département "
                f"{self.dep[code]}, mais le département indiqué est {dep}",
            )
        notes.append(
            (
                row.column,
                row.raw,
                f"département « {dep} » ignoré (illisible) : {code} est dans le {self.dep[code]}",
                "départements illisibles ignorés",
            )
        )

    def _check_name(
        self, row: _Row, given: str, code: str, old: bool, notes: list[tuple[str, str, str, str]]
    ) -> tuple[str, ...]:
        """Codes of a row whose name is not the code's unit.

        An arrondissement named in a whole-city row, an old or approximate name; another unit
        named is an error.
        """
        name = row.name
        arms = self.arrondissements.get(code, ())
        by_name = [a for a in self.find(name, self.dep[code]) if a in arms]
        if by_name:  # whole-city code, arrondissement named: the name is more precise
            notes.append(
                (
                    row.column,
                    row.raw,
                    f"code de la ville entière, arrondissement "
                    f"{self.label(by_name[0])} retenu d'après le nom « {name} »",
                    "arrondissements lus dans le nom",
                )
            )
            return (by_name[0],)
        deps = dict.fromkeys((self.dep[code], _dep_of(given)))
        if others := [c for d in deps for c in self.find(name, d)]:
            raise _Reject(
                row.raw,
                f"le code INSEE {given} désigne {self.label(code)}"
                + self._designates(name, given, others),
            )
        if old or self.close_to(name, code):
            why = "ancien nom de la commune" if old else "correspondance approximative"
            notes.append(
                (
                    row.name_column,
                    name,
                    f"nom « {name} » accepté pour {self.label(code)} ({why})",
                    "noms approximatifs acceptés",
                )
            )
            return (code,)
        elsewhere = self.find(name, None)
        hint = f" (« {name} » désigne {self.label(elsewhere[0])})" if len(elsewhere) == 1 else ""
        raise _Reject(
            row.raw, f"le nom « {name} » ne correspond pas au code {self.label(code)}{hint}"
        )

    def _old_code_plausible(self, given: str, code: str, name: str, dep: str) -> bool:
        """Whether an old code mapping to ``code`` is really one (not a postal code).

        Old codes stay in their département (Corsica's 20xxx went to 2A/2B); the few
        communes that changed département are accepted when the row's département or name
        agrees with the current commune.
        """
        if _same_dep(_dep_of(given), self.dep[code]):
            return True
        return bool(dep and dep == self.dep[code]) or bool(name and self.same_place(name, code))

    def _foreign_old_code(self, given: str, code: str) -> str:
        arm = _postal_arrondissement(given)
        hint = (
            f" ; code INSEE de l'arrondissement : {self.label(arm)}"
            if arm is not None and arm in self.nom
            else " ; préciser le code INSEE actuel"
        )
        return (
            f"code {given} non retenu : ancien code du département {_dep_of(given)}, il "
            f"désignerait {self.label(code)} dans le département {self.dep[code]} ; "
            f"il s'agit probablement d'un code postal{hint}"
        )

    def _designates(self, name: str, code: str, others: list[str]) -> str:
        """Message tail when the row's name designates another unit than its code."""
        if not others:
            return ""
        other = others[0]
        why = (
            "un code postal a probablement été utilisé à la place du code INSEE"
            if _postal_like(code, self.arm_index(other))
            else "vérifier le code ou le nom"
        )
        return f", mais le nom « {name} » désigne {self.label(other)} : {why}"

    def _resolve_name(self, name: str, column: str, dep: str) -> _Resolved:
        if not name:
            return _Resolved(error=("", "commune absente (ni code ni nom)"))
        if dep and dep not in self.deps:
            return _Resolved(error=(dep, "département inconnu"))
        candidates = self.find(name, dep or None)
        if len(candidates) == 1:
            return self._finish((candidates[0],), False, [], column, name)
        where = f" dans le département {dep}" if dep else ""
        if not candidates:
            elsewhere = self.find(name, None) if dep else []
            also = (
                " (existe ailleurs : " + ", ".join(self.label(c) for c in elsewhere[:5]) + ")"
                if elsewhere
                else self.suggest(name, dep or None)
            )
            return _Resolved(error=(name, f"commune inconnue{where}{also}"))
        listed = ", ".join(self.label(c) for c in candidates[:10])
        return _Resolved(
            error=(name, f"nom de commune ambigu{where} : {listed} ; préciser le code INSEE")
        )

    def _finish(
        self,
        codes: tuple[str, ...],
        iris: bool,
        notes: list[tuple[str, str, str, str]],
        column: str,
        value: str,
    ) -> _Resolved:
        code = codes[0]
        if code in self.arrondissements:
            arms = tuple(self.arrondissements[code])
            notes.append(
                (
                    column,
                    value,
                    f"ville entière {self.label(code)} répartie sur ses "
                    f"{len(arms)} arrondissements",
                    "villes entières réparties",
                )
            )
            return _Resolved(arms, iris, True, tuple(notes), column=column)
        return _Resolved(codes, iris, False, tuple(notes), column=column)


# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _normalise_dep(raw: str) -> str:
    dep = raw.strip().upper()
    if _FLOAT_INTEGER.fullmatch(dep):
        dep = dep.split(".")[0]
    return "0" + dep if len(dep) == 1 and dep.isdigit() else dep


def row_departements(body: _Body, units: _Units) -> list[str | None]:
    """Each row's département: its département column, else its code's (``None`` if unknown)."""
    given = {d: _normalise_dep(d) for d in set(body.col("departement"))}
    known = {d: n for d, n in given.items() if n in units.deps}
    columns = [body.cols[p] for p in body.code_positions]
    of_code: dict[str, str | None] = {}
    out: list[str | None] = []
    for i, dep in enumerate(body.col("departement")):
        found = known.get(dep)
        if found is None:
            code = next((c[i] for c in columns if c[i]), "")
            if code not in of_code:
                of_code[code] = units.departement_of(code) if code else None
            found = of_code[code]
        out.append(found)
    return out


def commune_members(
    body: _Body, units: _Units, ids: list[str | None], shares: list[float], skip: list[bool]
) -> dict[str, list[Any]]:
    """Membership columns (``cpts_id``, ``code``, ``part``, ``ligne``…) of the body rows.

    Rows whose code (or name alone) designates one unit exactly are taken column-wise; the
    others are resolved one distinct (code, column, name, département) at a time. Rows of an
    ignored CPTS (``skip``) are neither kept nor checked.
    """
    n = len(ids)
    codes, code_cols = [""] * n, [""] * n
    for position in reversed(body.code_positions):  # most precise non-empty code wins
        values, name = body.cols[position], body.header[position]
        for i in [i for i, v in enumerate(values) if v]:
            codes[i], code_cols[i] = values[i], name
    names = body.col("nom_commune")
    raws = [c or m for c, m in zip(codes, names, strict=True)]  # as written in the file
    dep_of = {d: _normalise_dep(d) for d in set(body.col("departement"))}
    deps = [dep_of[d] for d in body.col("departement")]
    nom, dep = units.nom, units.dep
    fast = [
        cid is not None and c in units.plain and (not m or m == nom[c]) and (not d or d == dep[c])
        for cid, c, m, d in zip(ids, codes, names, deps, strict=True)
    ]
    if any(skip):
        fast = [f and not s for f, s in zip(fast, skip, strict=True)]
    _name_only_rows(body, units, ids, (codes, code_cols, names, deps), fast, skip)
    raw_shares = body.col("part")
    members: dict[str, list[Any]] = {
        "cpts_id": list(compress(ids, fast)),
        "code": list(compress(codes, fast)),
        "part": list(compress(shares, fast)),
        "ligne": list(compress(body.lines, fast)),
        "colonne": list(compress(code_cols, fast)),
        "valeur": list(compress(raws, fast)),
        "part_brute": list(compress(raw_shares, fast)),
    }
    members["iris"] = [False] * len(members["code"])
    members["expanded"] = [False] * len(members["code"])
    name_col = body.header_of("nom_commune")
    cache: dict[tuple[str, str, str, str], _Resolved] = {}
    for i in [i for i, ok in enumerate(fast) if not ok and not skip[i]]:
        key = (codes[i], code_cols[i], names[i], deps[i])
        resolved = cache.get(key)
        if resolved is None:
            resolved = cache[key] = units.resolve(*key[:3], name_col, key[3])
        row = (ids[i], shares[i], body.lines[i], raws[i], raw_shares[i])
        _add_resolved(body, members, resolved, row)
    return members


def _name_only_rows(
    body: _Body,
    units: _Units,
    ids: list[str | None],
    columns: tuple[list[str], list[str], tuple[str, ...], list[str]],
    fast: list[bool],
    skip: list[bool],
) -> None:
    """Name-only rows naming one unit (of their département): code filled in, fast path."""
    codes, code_cols, names, deps = columns
    name_only = [i for i, c in enumerate(codes) if not c and names[i] and ids[i] and not skip[i]]
    if not name_only:
        return
    index = units.name_index()
    name_col = body.header_of("nom_commune")
    for i in name_only:
        found = index.get(_name_key(names[i]), [])
        if deps[i]:
            found = [c for c in found if units.dep[c] == deps[i]]
        if len(found) == 1 and found[0] in units.plain:
            codes[i], code_cols[i], fast[i] = found[0], name_col, True


def _add_resolved(
    body: _Body,
    members: dict[str, list[Any]],
    resolved: _Resolved,
    row: tuple[str | None, float, int, str, str],
) -> None:
    """Record one resolved row: its problem, or its notes and memberships."""
    cpts_id, share, line, raw, raw_share = row
    if resolved.error is not None:
        body.problems.append((line, *resolved.error))
        return
    if cpts_id is None:
        return
    for column, value, action, kind in resolved.notes:
        body.notes.add(line, column, value, action, kind)
    for code in resolved.codes:
        members["cpts_id"].append(cpts_id)
        members["code"].append(code)
        members["part"].append(share)
        members["ligne"].append(line)
        members["colonne"].append(resolved.column)
        members["valeur"].append(raw)
        members["part_brute"].append(raw_share)
        members["iris"].append(resolved.iris)
        members["expanded"].append(resolved.expanded)
