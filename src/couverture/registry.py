"""Read a CPTS registry file (CSV or XLSX) and normalise it into CPTS and membership tables.

A registry has one row per CPTS × commune (or arrondissement municipal). Columns are
recognised by their usual names (``config/colonnes.csv``), stage wordings through
``config/stades.csv``. Messy but unambiguous inputs are accepted, logged and recorded in
:attr:`Registry.anomalies` (lost leading zeros, old codes, whole Paris/Lyon/Marseille codes,
duplicate rows, IRIS codes…); anything else raises :class:`~couverture._errors.RegistryError`
listing every offending line.

Examples
--------
>>> normalise_stage("  Lettre d’Intention VALIDÉE ")
'lettre_intention'
>>> normalise_stage("en émergence"), normalise_stage("bientôt")
('', None)
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import functools
import hashlib
import io
import logging
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress, zip_longest
from pathlib import Path
from typing import Any

import pandas as pd

from couverture import settings
from couverture._config import stage_wordings
from couverture._errors import ArgumentError, RegistryError

log = logging.getLogger(__name__)

STAGE_ORDER: dict[str, int] = {"lettre_intention": 1, "projet_sante": 2, "aci": 3}

_TRUTHY = frozenset({"oui", "o", "1", "true", "vrai", "yes", "x"})
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_WORD = re.compile(r"[^\W_]+")
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})
_ARTICLES = frozenset({"le", "la", "les", "l"})
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
_ARRONDISSEMENT_WORDS = frozenset({"arrondissement", "arrondissements", "arrondt", "arr", "ardt"})
_ORDINAL = re.compile(r"0*(\d+)(?:er|re|e|eme|ieme|nd|nde)?")
_YEAR_SUFFIX = re.compile(r"(?:19|20)\d\d$")
_COMMUNE_CODE = re.compile(r"(?:\d\d|2A|2B)\d{3}")
_IRIS_CODE = re.compile(r"(?:\d\d|2A|2B)\d{7}")
_FLOAT_INTEGER = re.compile(r"\d+\.0+")
_LOST_ZERO = re.compile(r"\d{4}")  # an 8-digit number is no IRIS code (garbage)
_CODE_LIKE = re.compile(r"\d{4,5}(?:\.0+)?|\d{8,9}|2[AB]\d{3}|2[AB]\d{7}", re.IGNORECASE)
_EXCEL_SEP = re.compile(r"\A[ \t]*sep=([^\r\n])[ \t]*\r?\n", re.IGNORECASE)
_HEADER_SCAN = 10  # title rows above the header: the header is among the first rows
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")
_CITY_OF_ARM = re.compile(r"\s+\d+\s*(?:er|re|e|eme)?\s+arrondissement$", re.IGNORECASE)
# Saint-Rambert-l'Île-Barbe merged into Lyon in 1963 and is now Lyon's 9th arrondissement: its
# old code must not claim the whole city.
_OLD_CODE_ARRONDISSEMENT = {"69232": "69389"}
_CODE_ROLES = ("code_arm", "code", "code_ancien")
_DEFAULT_STAGE_HINT = (
    "préciser un stade par défaut avec l'option --stade-par-defaut (ou default_stage=… dans l'API)"
)
EXCLUDED = "exclu"  # stage of the wordings meaning "CPTS abandoned or dissolved: ignore it"
_DATE_ROLES = ("date_lettre_intention", "date_projet_sante", "date_aci")
_ALL_ROLES = (
    "cpts_id",
    "cpts_nom",
    "stade",
    *_CODE_ROLES,
    "nom_commune",
    "departement",
    "part",
    *_DATE_ROLES,
    "fictif",
)


@dataclass(frozen=True)
class Registry:
    """A CPTS registry read and normalised.

    Attributes
    ----------
    path
        The registry file.
    digest
        sha256 of the file bytes and of the default stage (the cache key of its results).
    cpts
        One row per CPTS, index ``cpts_id``: ``nom``, ``stade`` (``lettre_intention``,
        ``projet_sante``, ``aci`` or ``<NA>`` before a validated lettre d'intention),
        ``stade_libelle`` (the wording in the file, or the default stage given) and the
        optional ``date_*`` columns found in the file (ISO dates or ``<NA>``).
    membership
        One row per (``cpts_id``, ``code``) after de-duplication: ``part`` (share of the
        unit's population, 0–1, ``NaN`` when not given), ``ligne`` (file line, header = 1) and
        ``iris`` (the unit was given by IRIS codes: a commune partagée).
    anomalies
        Every normalisation applied: ``ligne``, ``colonne``, ``valeur``, ``action`` (French).
    fictif
        ``True`` for a demonstration registry (``fictif`` column or ``registre_demo*`` file).
    """

    path: Path
    digest: str
    cpts: pd.DataFrame
    membership: pd.DataFrame
    anomalies: pd.DataFrame
    fictif: bool


# --------------------------------------------------------------------------------------------
# text normalisation
# --------------------------------------------------------------------------------------------
def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return decomposed.encode("ascii", "ignore").decode("ascii").lower()


@functools.lru_cache(maxsize=65_536)
def _compact(text: str) -> str:
    return _NON_ALNUM.sub("", _ascii(text))


@functools.lru_cache(maxsize=262_144)
def _name_key(text: str) -> str:
    """Loose key of a place name: case, accents, punctuation, articles, St/Ste, ordinals."""
    tokens = [t for t in _NON_ALNUM.split(_ascii(text)) if t]
    if len(tokens) > 1 and tokens[0] in _ARTICLES:
        tokens = tokens[1:]
    elif len(tokens) > 1 and tokens[-1] in _ARTICLES and "(" in text:  # "Tholonet (Le)"
        tokens = tokens[:-1]
    out = []
    for token in tokens:
        if token in _ARRONDISSEMENT_WORDS:
            continue
        ordinal = _ORDINAL.fullmatch(token)
        out.append(str(int(ordinal.group(1))) if ordinal else _ABBREVIATIONS.get(token, token))
    return "".join(out)


@functools.lru_cache(maxsize=65_536)
def _accented_key(text: str) -> str:
    """Like :func:`_name_key` but accents matter (to part homonyms such as Vergné, Vergne)."""
    tokens = _WORD.findall(text.translate(_LIGATURES).lower())
    if len(tokens) > 1 and tokens[0] in _ARTICLES:
        tokens = tokens[1:]
    return "".join(_ABBREVIATIONS.get(t, t) for t in tokens if t not in _ARRONDISSEMENT_WORDS)


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
    groups: dict[str, dict[str, str]] = {
        label: {} for label in ("lettre_intention", "projet_sante", "aci", "", EXCLUDED)
    }
    for wording, stage in stage_wordings().items():
        if wording != stage:  # the stage codes themselves head their group
            groups.setdefault(stage, {}).setdefault(_compact(wording), wording)
    names = {"": "avant lettre d'intention", EXCLUDED: "CPTS ignorée"}
    return " ; ".join(
        f"{names.get(stage, stage)} : {', '.join(wordings.values())}"
        for stage, wordings in groups.items()
        if wordings
    )


def _default_stage(default_stage: str | None) -> str | None:
    if default_stage is None:
        return None
    stage = normalise_stage(default_stage)
    if stage not in STAGE_ORDER:
        raise ArgumentError(
            f"stade par défaut inconnu : « {default_stage} » (attendu : lettre_intention, "
            "projet_sante ou aci, ou un libellé comme « ACI signé »)"
        )
    return stage


# --------------------------------------------------------------------------------------------
# reading the file
# --------------------------------------------------------------------------------------------
def _decode(path: Path, data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise RegistryError(path, [(None, "", "fichier UTF-16 illisible")]) from exc
    if b"\0" in data:
        raise RegistryError(path, [(None, "", "fichier binaire : ni CSV ni XLSX")])
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegistryError(
        path, [(None, "", "encodage non reconnu (attendu : UTF-8 ou Windows-1252)")]
    )


def _csv_rows(path: Path, data: bytes) -> tuple[list[list[str]], list[int]]:
    text = _decode(path, data)
    start = 1
    excel_sep = _EXCEL_SEP.match(text)
    if excel_sep:  # Excel's "sep=;" first line: honour it, keep real line numbers
        sep = excel_sep.group(1)
        text = text[excel_sep.end() :]
        start = 2
    else:
        # title rows may precede the header: the separator is the one most used on a line
        firsts = [line for line in text.splitlines()[:_HEADER_SCAN] if line.strip()]
        sep = max(
            (",", ";", "\t", "|"), key=lambda s: max((line.count(s) for line in firsts), default=0)
        )
    offset = start - 1
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for record in reader:
            cells = [c.strip() for c in record]
            if any(cells):
                rows.append(cells)
                lines.append(start)
            start = reader.line_num + 1 + offset
    except csv.Error as exc:
        raise RegistryError(path, [(start, "", f"CSV illisible ({exc})")]) from exc
    return rows, lines


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "vrai" if value else "faux"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))  # Excel stores codes as numbers: 1001.0 -> "1001"
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _xlsx_rows(path: Path, data: bytes) -> tuple[list[list[str]], list[int], int]:
    """Rows of the first sheet whose header is recognised (see :func:`_read_rows`)."""
    import openpyxl

    names: list[str] = []
    first: tuple[list[list[str]], list[int]] | None = None
    # openpyxl raises many exception types on a damaged workbook (BadZipFile, KeyError,
    # InvalidFileException, XML errors…): all of them mean "unreadable file" here.
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in book.worksheets:
                names.append(sheet.title)
                rows: list[list[str]] = []
                lines: list[int] = []
                for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), 1):
                    cells = [_cell_text(v) for v in values]
                    if any(cells):
                        rows.append(cells)
                        lines.append(number)
                if first is None:
                    first = rows, lines
                header = _find_header(rows)
                if header is not None:
                    if len(book.worksheets) > 1:
                        log.info("%s : feuille « %s » lue", path.name, sheet.title)
                    return rows, lines, header
        finally:
            book.close()
    except Exception as exc:
        raise RegistryError(
            path, [(None, "", f"classeur Excel illisible ({type(exc).__name__}: {exc})")]
        ) from exc
    if len(names) > 1:
        listed = ", ".join(f"« {n} »" for n in names)
        raise RegistryError(
            path,
            [
                (
                    None,
                    "",
                    f"aucune feuille n'a d'en-tête reconnu (feuilles : {listed}) ; "
                    f"colonnes attendues : {_expected_columns()}",
                )
            ],
        )
    rows, lines = first or ([], [])
    return rows, lines, 0


def _read_rows(path: Path, data: bytes) -> tuple[list[list[str]], list[int], int]:
    """Return the non-empty rows of the file, their line numbers and the header's index.

    The header is the first of the first rows naming a CPTS column and a commune column
    (title rows may precede it); the first row when there is none (errors then tell why).
    """
    if not data.strip():
        raise RegistryError(path, [(None, "", "fichier vide")])
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise RegistryError(
            path, [(None, "", "format Excel 97 (.xls) non pris en charge : enregistrer en .xlsx")]
        )
    if data.startswith(b"PK\x03\x04") or path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _xlsx_rows(path, data)
    rows, lines = _csv_rows(path, data)
    return rows, lines, _find_header(rows) or 0


def _has_key_columns(columns: dict[str, list[int]]) -> bool:
    has_cpts = "cpts_id" in columns or "cpts_nom" in columns
    return has_cpts and ("nom_commune" in columns or any(r in columns for r in _CODE_ROLES))


def _find_header(rows: list[list[str]]) -> int | None:
    """Index of the header among the first rows: CPTS and commune columns recognised."""
    for index, row in enumerate(rows[:_HEADER_SCAN]):
        if _has_key_columns(_match_columns(row)):
            return index
    return None


@functools.cache
def _expected_columns() -> str:
    """Usual names of the main columns, for error messages."""
    by_role: dict[str, list[str]] = defaultdict(list)
    with (settings.CONFIG_DIR / "colonnes.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_role[row["role"]].append(row["alias"])
    shown = [
        ("identifiant de CPTS", "cpts_id"),
        ("nom de CPTS", "cpts_nom"),
        ("code commune", "code"),
        ("nom de commune", "nom_commune"),
        ("stade", "stade"),
    ]
    return " ; ".join(f"{label} : {', '.join(by_role[role][:3])}" for label, role in shown)


@functools.cache
def _column_aliases() -> dict[str, tuple[str, int]]:
    with (settings.CONFIG_DIR / "colonnes.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {_compact(r["alias"]): (r["role"], rank) for rank, r in enumerate(rows)}


def _match_columns(header: list[str]) -> dict[str, list[int]]:
    """Map each role to the header positions that hold it, best first."""
    aliases = _column_aliases()
    found: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for position, name in enumerate(header):
        key = _compact(name)
        year = 0
        hit = aliases.get(key)
        if hit is None and (suffix := _YEAR_SUFFIX.search(key)):  # code_insee_cog2025
            year = int(suffix.group())
            hit = aliases.get(key[: suffix.start()])
        if hit is not None:
            found[hit[0]].append((hit[1], -year, position))
    return {role: [p for *_, p in sorted(hits)] for role, hits in found.items()}


# --------------------------------------------------------------------------------------------
# units lookup
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
    """Same département; Corsica's former "20" covers 2A and 2B."""
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
                old_codes["code_ancien"].astype(str),
                old_codes["code_actuel"].astype(str),
                strict=True,
            )
        )
        self.plain = frozenset(codes)  # real units (not whole PLM cities)
        self._keys: dict[str, list[str]] | None = None
        self._by_dep: dict[str, dict[str, list[str]]] | None = None

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
        notes: list[tuple[str, str, str, str]] = []
        if not raw and _CODE_LIKE.fullmatch(name):  # a code in the commune-name column
            raw, column, name = name, name_column, ""
        if not raw:
            return self._resolve_name(name, name_column, dep)
        code = raw.upper().replace(" ", "").replace("\xa0", "")
        if _FLOAT_INTEGER.fullmatch(code):
            code = code.split(".")[0]
        if _LOST_ZERO.fullmatch(code):
            code = "0" + code
            notes.append(
                (column, raw, f"zéro initial restauré : {raw} → {code}", "zéros initiaux restaurés")
            )
        iris = bool(_IRIS_CODE.fullmatch(code))
        if iris:
            notes.append(
                (
                    column,
                    raw,
                    f"code IRIS {code} → commune {code[:5]} (commune partagée ; sans colonne "
                    "part, la commune entière est comptée couverte)",
                    "codes IRIS",
                )
            )
            code = code[:5]
        elif not _COMMUNE_CODE.fullmatch(code):
            return _Resolved(
                error=(
                    raw,
                    "code inconnu : ni code commune (5 caractères) ni code IRIS "
                    "(9 caractères : code commune et 4 chiffres)",
                )
            )
        given = code  # the code as written (leading zero restored, IRIS cut)
        old = given not in self.nom and given in self.old
        if old:
            code = _OLD_CODE_ARRONDISSEMENT.get(given, self.old[given])
            if code in self.nom and not self._old_code_plausible(given, code, name, dep):
                return _Resolved(error=(raw, self._foreign_old_code(given, code)))
            notes.append(
                (
                    column,
                    raw,
                    f"ancien code {given} remplacé par {self.label(code)}",
                    "anciens codes",
                )
            )
        if code not in self.nom:
            others = self.find(name, _dep_of(given)) if name else []
            hint = self._designates(name, given, others)
            return _Resolved(error=(raw, f"code commune inconnu{hint}"))
        if dep and not _same_dep(dep, self.dep[code]):
            if dep in self.deps:
                return _Resolved(
                    error=(
                        raw,
                        f"le code {given} désigne {self.label(code)}, dans le département "
                        f"{self.dep[code]}, mais le département indiqué est {dep}",
                    )
                )
            notes.append(
                (
                    column,
                    raw,
                    f"département « {dep} » ignoré (illisible) : {code} est dans le "
                    f"{self.dep[code]}",
                    "départements illisibles ignorés",
                )
            )
        codes = (code,)
        if name and not self.same_place(name, code):
            arms = self.arrondissements.get(code, ())
            by_name = [a for a in self.find(name, self.dep[code]) if a in arms]
            if by_name:  # whole-city code, arrondissement named: the name is more precise
                notes.append(
                    (
                        column,
                        raw,
                        f"code de la ville entière, arrondissement "
                        f"{self.label(by_name[0])} retenu d'après le nom « {name} »",
                        "arrondissements lus dans le nom",
                    )
                )
                codes = (by_name[0],)
            elif others := [
                c
                for d in dict.fromkeys((self.dep[code], _dep_of(given)))
                for c in self.find(name, d)
            ]:
                return _Resolved(
                    error=(
                        raw,
                        f"le code INSEE {given} désigne {self.label(code)}"
                        + self._designates(name, given, others),
                    )
                )
            elif old or self.close_to(name, code):
                why = "ancien nom de la commune" if old else "correspondance approximative"
                notes.append(
                    (
                        name_column,
                        name,
                        f"nom « {name} » accepté pour {self.label(code)} ({why})",
                        "noms approximatifs acceptés",
                    )
                )
            else:
                elsewhere = self.find(name, None)
                hint = (
                    f" (« {name} » désigne {self.label(elsewhere[0])})"
                    if len(elsewhere) == 1
                    else ""
                )
                return _Resolved(
                    error=(
                        raw,
                        f"le nom « {name} » ne correspond pas au code {self.label(code)}{hint}",
                    )
                )
        return self._finish(codes, iris, notes, column, raw)

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
# cell parsers
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def _normalise_dep(raw: str) -> str:
    dep = raw.strip().upper()
    if _FLOAT_INTEGER.fullmatch(dep):
        dep = dep.split(".")[0]
    return "0" + dep if len(dep) == 1 and dep.isdigit() else dep


@functools.lru_cache(maxsize=4096)
def _parse_share(raw: str) -> float | None:
    text = raw.replace(" ", "").replace("\xa0", "").replace(",", ".")
    percent = text.endswith("%")
    try:
        value = float(text.rstrip("%"))
    except ValueError:
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
# public entry point
# --------------------------------------------------------------------------------------------
class _Collector:
    """Anomalies (ligne, colonne, valeur, action) and a kind to summarise them in the log."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str, str]] = []
        self.kinds: list[str] = []

    def add(self, line: int, column: str, value: str, action: str, kind: str) -> None:
        self.rows.append((line, column, value, action))
        self.kinds.append(kind)

    def frame(self) -> pd.DataFrame:
        """The anomalies sorted by line (file order)."""
        rows = sorted(self.rows, key=lambda r: r[0])
        frame = pd.DataFrame(rows, columns=["ligne", "colonne", "valeur", "action"])
        return frame.astype({"ligne": "int64", "colonne": str, "valeur": str, "action": str})

    def log(self, path: Path) -> None:
        by_kind: dict[str, list[int]] = defaultdict(list)
        for kind, (line, *_) in zip(self.kinds, self.rows, strict=True):
            by_kind[kind].append(line)
        if self.rows:
            log.warning(
                "%s : %s",
                path.name,
                _plural(len(self.rows), "anomalie corrigée", "anomalies corrigées"),
            )
        for kind, lines in by_kind.items():
            distinct = sorted(set(lines))
            shown = ", ".join(map(str, distinct[:10]))
            more = "…" if len(distinct) > 10 else ""
            where = "ligne" if len(distinct) == 1 else "lignes"
            log.warning("%s : %s (%d ; %s %s%s)", path.name, kind, len(lines), where, shown, more)


def _plural(n: int, one: str, many: str) -> str:
    """``1 anomalie``, ``2 anomalies``."""
    return f"{n} {one if n == 1 else many}"


def read_registry(
    path: Path | str,
    *,
    units: pd.DataFrame,
    old_codes: pd.DataFrame,
    default_stage: str | None = None,
) -> Registry:
    """Read a CPTS registry (CSV or XLSX, one row per CPTS × commune) and normalise it.

    Parameters
    ----------
    path
        CSV (``,`` or ``;`` or Excel's ``sep=`` line, UTF-8 with or without BOM, or
        Windows-1252) or XLSX (first sheet whose header is recognised). Title rows may
        precede the header (among the first 10 rows); line numbers stay the file's.
    units
        Analysis units (``code``, ``nom``, ``type``, ``commune``, ``departement``).
    old_codes
        ``code_ancien → code_actuel`` (:func:`couverture.sources.load_old_codes`).
    default_stage
        Stage of the CPTS whose stage is missing (no stage column, or blank cells): a stage
        code or wording. Required when some stage is missing.

    Returns
    -------
    Registry
        The CPTS table, membership and the anomalies corrected on the way.

    Raises
    ------
    RegistryError
        Unreadable file, missing columns, unknown codes, names, stages or shares: every
        offending line is listed.
    ArgumentError
        ``default_stage`` is not a stage.
    """
    path = Path(path)
    default = _default_stage(default_stage)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise RegistryError(path, [(None, "", "fichier introuvable")]) from exc
    except OSError as exc:
        raise RegistryError(path, [(None, "", f"fichier illisible ({exc.strerror})")]) from exc
    # same key as couverture.analysis.file_digest(path, default_stage)
    digest = hashlib.sha256(data + b"\0" + (default or "").encode()).hexdigest()

    rows, lines, start = _read_rows(path, data)
    if not rows:
        raise RegistryError(path, [(None, "", "fichier vide")])
    header, body, body_lines = rows[start], rows[start + 1 :], lines[start + 1 :]
    columns = _match_columns(header)
    problems: list[tuple[int | None, str, str]] = []
    seen = ", ".join(h for h in header if h) or "aucune"
    no_cpts = "cpts_id" not in columns and "cpts_nom" not in columns
    no_commune = not any(r in columns for r in _CODE_ROLES) and "nom_commune" not in columns
    if no_cpts and no_commune:  # not a registry layout: no stage noise
        problems.append(
            (
                None,
                "",
                f"colonnes non reconnues (colonnes trouvées : {seen}) ; "
                f"colonnes attendues : {_expected_columns()}",
            )
        )
    elif no_cpts or no_commune:
        what = "d'identifiant ou de nom de CPTS" if no_cpts else "de code ou de nom de commune"
        problems.append(
            (
                None,
                "",
                f"colonne {what} introuvable (colonnes trouvées : {seen}) ; "
                f"colonnes attendues : {_expected_columns()}",
            )
        )
    elif "stade" not in columns and default is None:
        problems.append((None, "", f"colonne de stade absente : {_DEFAULT_STAGE_HINT}"))
    if not body and not problems:
        problems.append((None, "", "aucune ligne de données sous l'en-tête"))
    if problems:
        raise RegistryError(path, problems)

    parser = _Parser(header, columns, _Units(units, old_codes), default, default_stage)
    members = parser.run(body, body_lines)
    if parser.problems:
        raise RegistryError(path, sorted(parser.problems, key=lambda p: (p[0] or 0, p[1])))

    notes = parser.notes
    if "stade" not in columns:
        notes.add(
            lines[start],
            "stade",
            "",
            f"colonne de stade absente : stade par défaut « {default} » pour toutes les CPTS",
            "stade par défaut appliqué",
        )
    if not parser.cpts:
        raise RegistryError(
            path, [(None, "", "aucune CPTS retenue : toutes sont abandonnées ou dissoutes")]
        )
    membership = _deduplicate(members, notes, parser.label)
    membership = _check_share_sums(
        membership, notes, parser.header_of("part") or "part", parser.label
    )
    fictif = path.name.lower().startswith("registre_demo") or parser.fictif
    cpts = _cpts_table(
        parser.cpts, columns, notes, parser.header_of("stade") or "stade", parser.label
    )
    notes.log(path)
    return Registry(
        path=path,
        digest=digest,
        cpts=cpts,
        membership=membership,
        anomalies=notes.frame(),
        fictif=fictif,
    )


class _Parser:
    """Column-wise reading of the registry body: CPTS, memberships, problems and notes.

    Work is done once per distinct value (stage wordings, shares, dates, départements) and
    rows whose code and name match a unit exactly skip the per-row resolution.
    """

    def __init__(
        self,
        header: list[str],
        columns: dict[str, list[int]],
        units: _Units,
        default: str | None,
        default_wording: str | None,
    ) -> None:
        self.header = header
        self.first = {role: positions[0] for role, positions in columns.items()}
        self.code_positions = [p for role in _CODE_ROLES for p in columns.get(role, [])]
        self.units = units
        self.default = default
        self.default_wording = default_wording or ""
        self.problems: list[tuple[int | None, str, str]] = []
        self.notes = _Collector()
        self.cpts: dict[str, dict[str, Any]] = {}
        self.fictif = False
        self.cols: list[tuple[str, ...]] = []
        self.lines: list[int] = []

    def label(self, cpts_id: str) -> str:
        """How messages name a CPTS: "CPTS C1", or its name when ids are names ("CPTS A")."""
        if "cpts_id" not in self.first and _compact(cpts_id).startswith("cpts"):
            return cpts_id
        return f"CPTS {cpts_id}"

    def header_of(self, role: str) -> str:
        return self.header[self.first[role]] if role in self.first else ""

    def col(self, role: str) -> tuple[str, ...]:
        # the last column is the padding: all "" (read for absent roles)
        return self.cols[self.first.get(role, -1)]

    def run(self, rows: list[list[str]], lines: list[int]) -> dict[str, list[Any]]:
        """Parse the body rows (header excluded); return the membership columns."""
        n_cols = len(self.header)
        self.cols = list(zip_longest(*rows, fillvalue=""))[:n_cols]
        self.cols += [("",) * len(rows)] * (n_cols - len(self.cols) + 1)  # absent roles read -1
        self.lines = lines
        ids = self._cpts_ids()
        skip = self._stages(ids)
        self._dates(ids)
        members = self._communes(ids, self._shares(), skip)
        self.fictif = any(_compact(v) in _TRUTHY for v in set(self.col("fictif")))
        return members

    def _cpts_ids(self) -> list[str | None]:
        clean = {n: " ".join(n.split()) for n in set(self.col("cpts_nom"))}
        names = [clean[n] for n in self.col("cpts_nom")]
        if "cpts_id" in self.first:
            ids: list[str | None] = list(self.col("cpts_id"))
            message = "identifiant de CPTS vide"
        else:
            by_key: dict[str, str] = {}
            for name in dict.fromkeys(names):
                if name:
                    by_key.setdefault(_compact(name), name)
            ids = [by_key[_compact(n)] if n else None for n in names]
            message = "nom de CPTS vide"
        for i, cpts_id in enumerate(ids):
            if not cpts_id:
                ids[i] = None
                self.problems.append((self.lines[i], names[i], message))
        firsts: dict[tuple[str | None, str], int] = {}
        for pair, line in zip(zip(ids, names, strict=True), self.lines, strict=True):
            firsts.setdefault(pair, line)
        for (cpts_id, name), line in firsts.items():
            if cpts_id is None:
                continue
            entry = self.cpts.get(cpts_id)
            if entry is None:
                entry = self.cpts[cpts_id] = {"nom": name or cpts_id, "stages": {}}
                entry.update(dict.fromkeys(_DATE_ROLES))
            elif name and _compact(name) != _compact(entry["nom"]):
                self.notes.add(
                    line,
                    self.header_of("cpts_nom"),
                    name,
                    f"nom différent pour la {self.label(cpts_id)} : « {entry['nom']} » conservé",
                    "noms de CPTS différents",
                )
        return ids

    def _stages(self, ids: list[str | None]) -> list[bool]:
        """Record each CPTS's stages; return the rows of the CPTS to ignore (``exclu``)."""
        wordings = self.col("stade")
        stage_of = {w: _stage_of(w) if w else self.default for w in set(wordings)}
        bad = {w for w, stage in stage_of.items() if stage is None}
        if bad:
            listed_at = None
            for wording, line in zip(wordings, self.lines, strict=True):
                if wording not in bad:
                    continue
                if not wording:
                    message = f"stade vide : {_DEFAULT_STAGE_HINT}"
                elif listed_at is None:
                    listed_at = line
                    message = f"stade inconnu (libellés acceptés — {_accepted_stages()})"
                else:
                    message = f"stade inconnu (libellés acceptés : voir ligne {listed_at})"
                self.problems.append((line, wording, message))
        skip = [False] * len(ids)
        if EXCLUDED in stage_of.values():
            excluded: dict[str, tuple[int, str, int]] = {}
            for cpts_id, wording, line in zip(ids, wordings, self.lines, strict=True):
                if cpts_id is not None and stage_of[wording] == EXCLUDED:
                    first, shown, count = excluded.get(cpts_id, (line, wording, 0))
                    excluded[cpts_id] = (first, shown, count + 1)
            skip = [cpts_id in excluded for cpts_id in ids]
            for cpts_id, (line, wording, _) in excluded.items():
                dropped = sum(1 for i in ids if i == cpts_id)
                self.notes.add(
                    line,
                    self.header_of("stade"),
                    wording,
                    f"{self.label(cpts_id)} ignorée (stade « {wording} ») : "
                    f"{_plural(dropped, 'ligne écartée', 'lignes écartées')}",
                    "CPTS abandonnées ou dissoutes ignorées",
                )
                del self.cpts[cpts_id]
        if "" in stage_of and self.default is not None and "stade" in self.first:
            for wording, line in zip(wordings, self.lines, strict=True):
                if not wording:
                    self.notes.add(
                        line,
                        self.header_of("stade"),
                        "",
                        f"stade vide : stade par défaut « {self.default} »",
                        "stades vides, stade par défaut appliqué",
                    )
        firsts: dict[tuple[str | None, str], int] = {}
        for pair, line in zip(zip(ids, wordings, strict=True), self.lines, strict=True):
            firsts.setdefault(pair, line)
        for (cpts_id, wording), line in firsts.items():
            stage = stage_of[wording]
            if cpts_id in self.cpts and stage is not None:
                shown = wording or self.default_wording
                self.cpts[cpts_id]["stages"].setdefault((stage, shown), line)
        return skip

    def _dates(self, ids: list[str | None]) -> None:
        for role in _DATE_ROLES:
            if role not in self.first:
                continue
            values = self.col(role)
            iso = {v: _parse_date(v) for v in set(values) if v}
            for cpts_id, value, line in zip(ids, values, self.lines, strict=True):
                if not value or cpts_id not in self.cpts:
                    continue
                if iso[value] is None:
                    self.notes.add(
                        line,
                        self.header_of(role),
                        value,
                        "date illisible ignorée",
                        "dates illisibles",
                    )
                elif self.cpts[cpts_id][role] is None:
                    self.cpts[cpts_id][role] = iso[value]

    def _shares(self) -> list[float]:
        values = self.col("part")
        parsed = {v: _parse_share(v) if v else math.nan for v in set(values)}
        bad = {v for v, share in parsed.items() if share is None or share <= 0 or share > 1}
        if bad:
            for value, line in zip(values, self.lines, strict=True):
                if value in bad:
                    self.problems.append(
                        (
                            line,
                            value,
                            "part invalide (attendu : 0 < part ≤ 1, par exemple 0,5 ou 50 %)",
                        )
                    )
        return [math.nan if v in bad else parsed[v] for v in values]  # type: ignore[misc]

    def _communes(
        self, ids: list[str | None], shares: list[float], skip: list[bool]
    ) -> dict[str, list[Any]]:
        n = len(ids)
        codes, code_cols = [""] * n, [""] * n
        for position in reversed(self.code_positions):  # most precise non-empty code wins
            values, name = self.cols[position], self.header[position]
            for i in [i for i, v in enumerate(values) if v]:
                codes[i], code_cols[i] = values[i], name
        names = self.col("nom_commune")
        raws = [c or m for c, m in zip(codes, names, strict=True)]  # as written in the file
        raw_shares = self.col("part")
        dep_of = {d: _normalise_dep(d) for d in set(self.col("departement"))}
        deps = [dep_of[d] for d in self.col("departement")]
        units, nom, dep = self.units, self.units.nom, self.units.dep
        plain = units.plain
        fast = [
            cid is not None and c in plain and (not m or m == nom[c]) and (not d or d == dep[c])
            for cid, c, m, d in zip(ids, codes, names, deps, strict=True)
        ]
        if any(skip):  # rows of an ignored CPTS: neither kept nor checked
            fast = [f and not s for f, s in zip(fast, skip, strict=True)]
        name_only = [
            i for i, c in enumerate(codes) if not c and names[i] and ids[i] and not skip[i]
        ]
        if name_only:  # name-only rows naming one unit: no per-row resolution
            index = units.name_index()
            name_col = self.header_of("nom_commune")
            for i in name_only:
                found = index.get(_name_key(names[i]), [])
                if deps[i]:
                    found = [c for c in found if dep[c] == deps[i]]
                if len(found) == 1 and found[0] in plain:
                    codes[i], code_cols[i], fast[i] = found[0], name_col, True
        members: dict[str, list[Any]] = {
            "cpts_id": list(compress(ids, fast)),
            "code": list(compress(codes, fast)),
            "part": list(compress(shares, fast)),
            "ligne": list(compress(self.lines, fast)),
            "colonne": list(compress(code_cols, fast)),
            "valeur": list(compress(raws, fast)),
            "part_brute": list(compress(raw_shares, fast)),
        }
        members["iris"] = [False] * len(members["code"])
        members["expanded"] = [False] * len(members["code"])
        name_col = self.header_of("nom_commune")
        cache: dict[tuple[str, str, str, str], _Resolved] = {}
        for i in [i for i, ok in enumerate(fast) if not ok and not skip[i]]:
            key = (codes[i], code_cols[i], names[i], deps[i])
            resolved = cache.get(key)
            if resolved is None:
                resolved = cache[key] = units.resolve(*key[:3], name_col, key[3])
            line = self.lines[i]
            if resolved.error is not None:
                self.problems.append((line, *resolved.error))
                continue
            if ids[i] is None:
                continue
            for column, value, action, kind in resolved.notes:
                self.notes.add(line, column, value, action, kind)
            for code in resolved.codes:
                members["cpts_id"].append(ids[i])
                members["code"].append(code)
                members["part"].append(shares[i])
                members["ligne"].append(line)
                members["colonne"].append(resolved.column)
                members["valeur"].append(raws[i])
                members["part_brute"].append(raw_shares[i])
                members["iris"].append(resolved.iris)
                members["expanded"].append(resolved.expanded)
        return members


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


def _deduplicate(
    members: dict[str, list[Any]], notes: _Collector, label: Callable[[str], str]
) -> pd.DataFrame:
    """One row per (CPTS, unit): explicit rows beat whole-city expansions and IRIS rows."""
    m = pd.DataFrame(members, columns=_MEMBER_COLUMNS).astype(_MEMBER_TYPES)
    m = m.sort_values(["cpts_id", "code", "expanded", "iris", "ligne"], kind="stable")
    dup = m.duplicated(["cpts_id", "code"])
    if dup.any():
        kept = m[~dup].set_index(["cpts_id", "code"])
        dropped = m[dup]
        keys = pd.MultiIndex.from_frame(dropped[["cpts_id", "code"]])
        kept_line = kept["ligne"].reindex(keys).to_numpy()
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
        for row, line_kept, merge in zip(
            dropped.itertuples(index=False), kept_line, merged, strict=True
        ):
            if not merge:
                notes.add(
                    int(row.ligne),
                    str(row.colonne),
                    str(row.valeur),
                    f"doublon ignoré : {row.code} déjà rattachée à la {label(row.cpts_id)} "
                    f"(ligne {line_kept})",
                    "doublons ignorés",
                )
        m = m[~dup]
    m = m.drop(columns=["expanded", "colonne", "valeur"])
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
            total = f"{sums.at[code, 'sum']:.2f}".replace(".", ",")
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
            (stage, wording), _ = max(
                stages.items(), key=lambda s: (STAGE_ORDER.get(s[0][0], 0), -s[1])
            )
            distinct = {st for st, _ in stages}
            if len(distinct) > 1:
                listed = ", ".join(sorted(st or "avant LI" for st in distinct))
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
