"""Readers of the package's configuration tables (``config/``), cached after the first call.

Every vocabulary a user reads (stages, size classes, funding, column titles) and every source
file name lives in ``config/`` and is read here, never copied in code. The directory is
:data:`couverture.settings.CONFIG_DIR` (``$COUVERTURE_CONFIG`` when set), looked up at each
first read: tests and notebooks point it at a copy and call :func:`clear_caches`.
"""

from __future__ import annotations

import csv
import hashlib
import math
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from couverture import settings
from couverture._errors import ArgumentError, ConfigError


def _path(name: str) -> Path:
    return settings.CONFIG_DIR / name


def _rows(
    name: str, required: Sequence[str] = (), optional: Sequence[str] = ()
) -> list[dict[str, str]]:
    """Return the rows of ``config/<name>``, each of its ``required`` columns filled.

    ``optional`` columns must be in the header but may be left empty.

    Raises
    ------
    ConfigError
        Naming the file (and the line) when it is missing, lacks a ``required`` or ``optional``
        column in its header or leaves a ``required`` one empty in a row.
    """
    path = _path(name)
    try:
        with path.open(encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames or []
    except FileNotFoundError:
        raise ConfigError(f"{path} : fichier de configuration introuvable") from None
    missing = [c for c in (*required, *optional) if c not in header]
    if missing:
        raise ConfigError(
            f"{path}, ligne 1 : {_columns(missing)} {'absentes' if len(missing) > 1 else 'absente'}"
            f" (en-tête : {', '.join(header) or 'vide'})"
        )
    for line, row in enumerate(rows, start=2):
        empty = [c for c in required if not (row.get(c) or "").strip()]
        if empty:
            raise ConfigError(
                f"{path}, ligne {line} : {_columns(empty)} {'vides' if len(empty) > 1 else 'vide'}"
            )
    return rows


def _columns(names: Sequence[str]) -> str:
    """``colonne « a »`` or ``colonnes « a », « b »``."""
    return f"colonne{'s' if len(names) > 1 else ''} {', '.join(f'« {c} »' for c in names)}"


@cache
def toml(name: str) -> dict[str, Any]:
    """Return the TOML table ``config/<name>`` (read once, forgotten by :func:`clear_caches`).

    Examples
    --------
    >>> toml("alertes.toml") is toml("alertes.toml")
    True
    """
    with _path(name).open("rb") as fh:
        return tomllib.load(fh)


def sources() -> dict[str, Any]:
    """Return ``config/sources.toml`` (vintages and analysis parameters)."""
    return toml("sources.toml")


def source_path(name: str) -> Path:
    """Return the path in ``data/raw`` of a reference file named in ``sources.toml``.

    ``name`` is its section: ``population``, ``anciens_codes`` or ``bassins_vie``.

    Examples
    --------
    >>> source_path("population").name
    'populations_communes_rp2023.csv'
    """
    return settings.RAW_DIR / sources()[name]["file"]


class Stage(NamedTuple):
    """One stage of maturity of a CPTS, as ``config/vocabulaire_stades.csv`` defines it.

    Attributes
    ----------
    code
        Identifier used in data (``lettre_intention``, ``projet_sante``, ``aci``).
    rank
        Order of maturity (1 = least advanced).
    label
        Full French label (« ACI signé »).
    short
        Short French label used in titles (« ACI »).
    colour, outline
        Fill and outline colours on maps and charts.
    """

    code: str
    rank: int
    label: str
    short: str
    colour: str
    outline: str


@cache
def _stage_rows() -> tuple[Stage, ...]:
    """Every row of the stage vocabulary, rank 0 (before the lettre d'intention) first."""
    rows = [
        Stage(
            code=r["stade"],
            rank=int(r["rang"]),
            label=r["libelle"],
            short=r["court"],
            colour=r["couleur"],
            outline=r["contour"],
        )
        for r in _rows(
            "vocabulaire_stades.csv", ("rang", "libelle", "court", "couleur", "contour"), ("stade",)
        )
    ]
    ranked = tuple(sorted(rows, key=lambda s: s.rank))
    if [s.rank for s in ranked] != list(range(len(ranked))) or ranked[0].code != "":
        raise ConfigError(
            f"{_path('vocabulaire_stades.csv')} : les rangs des stades doivent être 0 (sans "
            f"code : avant la lettre d'intention), 1, 2, 3… (reçu "
            f"{', '.join(str(s.rank) for s in rows)})"
        )
    return ranked


def stages() -> tuple[Stage, ...]:
    """Return the stages ordered from the least to the most advanced (rank 1, 2, 3…).

    Examples
    --------
    >>> [s.code for s in stages()]
    ['lettre_intention', 'projet_sante', 'aci']
    """
    return _stage_rows()[1:]


def pre_stage() -> Stage:
    """Return rank 0: a CPTS project before its lettre d'intention (code ``""``).

    Examples
    --------
    >>> pre_stage().rank, pre_stage().label
    (0, "Projet avant lettre d'intention")
    """
    return _stage_rows()[0]


@cache
def _ranks() -> dict[str, int]:
    return {s.code: s.rank for s in _stage_rows()}


def stage_rank(code: object) -> int:
    """Return the rank of a stage code: 0 before a lettre d'intention (``""``, ``None``, unknown).

    Examples
    --------
    >>> stage_rank("aci"), stage_rank(""), stage_rank(None)
    (3, 0, 0)
    """
    return _ranks().get(code, 0) if isinstance(code, str) else 0


def stage_codes() -> tuple[str, ...]:
    """Return the stage codes from the least to the most advanced.

    Examples
    --------
    >>> stage_codes()
    ('lettre_intention', 'projet_sante', 'aci')
    """
    return tuple(s.code for s in stages())


class _StageCodes(Sequence[str]):
    """The stage codes of :func:`stage_codes`, read again at every use (never frozen)."""

    def __getitem__(self, index: Any) -> Any:
        return stage_codes()[index]

    def __len__(self) -> int:
        return len(stage_codes())

    def __iter__(self) -> Iterator[str]:
        return iter(stage_codes())

    def __contains__(self, code: object) -> bool:
        return code in stage_codes()

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(stage_codes())


#: The stage codes, least advanced first, as a live view of ``config/``: ``from
#: couverture._config import STAGES`` never freezes the vocabulary of a notebook.
STAGES: Sequence[str] = _StageCodes()


@cache
def stage(code: str) -> Stage:
    """Return the :class:`Stage` of a stage code (``KeyError`` for an unknown code)."""
    for s in stages():
        if s.code == code:
            return s
    raise KeyError(code)


def stage_rank_sql(column: str) -> str:
    """Return a SQL ``CASE`` giving the rank of the stage code held in ``column``.

    With :func:`stage_code_sql`, its inverse, the only SQL spelling of the stages.

    Examples
    --------
    >>> stage_rank_sql("c.stade")[:40]
    "CASE c.stade WHEN 'lettre_intention' THE"
    >>> stage_code_sql("rang")[:35]
    "CASE rang WHEN 1 THEN 'lettre_inten"
    """
    return _case(column, ((f"'{s.code}'", str(s.rank)) for s in stages()))


def stage_code_sql(column: str) -> str:
    """Return a SQL ``CASE`` giving the stage code of the rank held in ``column``."""
    return _case(column, ((str(s.rank), f"'{s.code}'") for s in stages()))


def _case(column: str, pairs: Iterable[tuple[str, str]]) -> str:
    return f"CASE {column} {' '.join(f'WHEN {k} THEN {v}' for k, v in pairs)} END"


@cache
def stage_wordings() -> dict[str, str]:
    """Map normalised stage wordings to a stage code (``""`` for pre-LI projects)."""
    return {row["libelle"]: row["stade"] for row in _rows("stades.csv", ("libelle",), ("stade",))}


@cache
def column_aliases(name: str = "colonnes.csv") -> tuple[tuple[str, str], ...]:
    """Return the ``(role, alias)`` rows of a column-name table, usual names first.

    ``colonnes.csv`` names the registry's columns, ``colonnes_perimetres.csv`` the plain names
    a layer of perimeters gives its CPTS column.

    Examples
    --------
    >>> column_aliases()[0]
    ('cpts_id', 'cpts_id')
    >>> ("cpts_nom", "nom") in column_aliases("colonnes_perimetres.csv")
    True
    """
    return tuple((r["role"], r["alias"]) for r in _rows(name, ("role", "alias")))


@cache
def neighbour_departements() -> dict[str, frozenset[str]]:
    """Return the départements sharing a border with each département.

    ``config/departements_voisins.csv`` (rook contiguity of the COG communes), read both ways;
    overseas départements have none.

    Examples
    --------
    >>> sorted(neighbour_departements()["05"])
    ['04', '26', '38', '73']
    """
    out: dict[str, set[str]] = {}
    for row in _rows("departements_voisins.csv", ("departement", "voisin")):
        out.setdefault(row["departement"], set()).add(row["voisin"])
        out.setdefault(row["voisin"], set()).add(row["departement"])
    return {dep: frozenset(neighbours) for dep, neighbours in out.items()}


@cache
def size_classes() -> list[tuple[int, int, int | None]]:
    """Return ``(taille, population_min, population_max)`` rows; max is ``None`` for the last.

    Raises
    ------
    ConfigError
        Unless the classes start at 0 and follow each other without gap up to an open last one
        (so that :func:`size_class` gives a taille to every population).
    """
    path = _path("tailles.csv")
    rows: list[tuple[int, int, int | None]] = []
    expected_min: int | None = 0
    rows_read = _rows("tailles.csv", ("taille", "population_min"), ("population_max",))
    for line, r in enumerate(rows_read, start=2):
        if expected_min is None:
            raise ConfigError(f"{path}, ligne {line} : taille après la dernière classe ouverte")
        try:
            row = (
                int(r["taille"]),
                int(r["population_min"]),
                int(r["population_max"]) if r["population_max"] else None,
            )
        except (TypeError, ValueError):
            raise ConfigError(f"{path}, ligne {line} : nombre attendu ({r})") from None
        if row[1] != expected_min or (row[2] is not None and row[2] <= row[1]):
            raise ConfigError(
                f"{path}, ligne {line} : la taille {row[0]} doit commencer à {expected_min} "
                "habitants et finir plus haut (classes contiguës depuis 0)"
            )
        rows.append(row)
        expected_min = row[2]
    if not rows or rows[-1][2] is not None:
        raise ConfigError(
            f"{path} : la dernière taille doit être sans maximum (population_max vide)"
        )
    return rows


@cache
def funding_table(scale: str = "avenant2") -> dict[int, int]:
    """Return the ACI maximum annual envelope (euros) by taille for a funding scale.

    Examples
    --------
    >>> funding_table("avenant2")[2]
    287000
    """
    table_rows = _rows("financement.csv", ("bareme", "taille", "montant_max_annuel_eur"))
    rows = [r for r in table_rows if r["bareme"] == scale]
    if not rows:
        raise ArgumentError(f"barème de financement inconnu : « {scale} »")
    table = {int(r["taille"]): int(r["montant_max_annuel_eur"]) for r in rows}
    missing = sorted({t for t, _, _ in size_classes()} - set(table))
    if missing:
        raise ConfigError(
            f"{_path('financement.csv')} : barème « {scale} » sans montant pour la taille "
            f"{', '.join(map(str, missing))}"
        )
    return table


def size_class(population: float) -> int:
    """Return the ACI taille (1–4) of a CPTS covering ``population`` inhabitants.

    Raises
    ------
    ArgumentError
        For a negative or missing population (every other one has a taille).

    Examples
    --------
    >>> size_class(39_999), size_class(40_000), size_class(175_000)
    (1, 2, 4)
    """
    if not population >= 0 or math.isinf(population):  # NaN fails every comparison
        raise ArgumentError(f"population invalide pour une taille ACI : {population}")
    for taille, lo, hi in size_classes():
        if lo <= population and (hi is None or population < hi):
            return taille
    raise AssertionError("unreachable: size_classes() checks that the classes cover [0, ∞)")


@cache
def column_titles(kind: str = "titre") -> dict[str, str]:
    """Return the French title of each output column (``config/titres_colonnes.csv``).

    Parameters
    ----------
    kind
        ``titre`` (files, workbooks), ``court`` (terminal tables) or ``page`` (HTML report;
        the ``titre`` where the page has no shorter one).

    Examples
    --------
    >>> column_titles()["financement_max"], column_titles("court")["taux_aci"]
    ('Financement ACI maximal annuel (€)', '% ACI')
    """
    if kind not in ("titre", "court", "page"):
        raise ArgumentError(f"sorte de titre inconnue : « {kind} » (titre, court ou page)")
    rows = _rows("titres_colonnes.csv", ("colonne",), ("titre", "court", "page"))
    seen: set[str] = set()
    for line, r in enumerate(rows, start=2):
        if r["colonne"] in seen or not r["titre"]:
            raise ConfigError(
                f"{_path('titres_colonnes.csv')}, ligne {line} : colonne « {r['colonne']} » "
                "en double ou sans titre"
            )
        seen.add(r["colonne"])
    fallback = {"titre": "titre", "court": "titre", "page": "titre"}[kind]
    return {r["colonne"]: r[kind] or r[fallback] for r in rows}


class ColumnTitles(Mapping[str, str]):
    """Read-only mapping column → title read on first use (no I/O at import of the users).

    Examples
    --------
    >>> ColumnTitles("page")["taux_lettre_intention"]
    "% lettre d'intention ou +"
    """

    def __init__(self, kind: str = "titre") -> None:
        self.kind = kind

    def __getitem__(self, key: str) -> str:
        return column_titles(self.kind)[key]

    def __iter__(self) -> Iterator[str]:
        return iter(column_titles(self.kind))

    def __len__(self) -> int:
        return len(column_titles(self.kind))


@cache
def digest() -> str:
    """Return a digest of every file of the configuration directory (part of the cache key)."""
    h = hashlib.sha256()
    for path in sorted(settings.CONFIG_DIR.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(settings.CONFIG_DIR).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def clear_caches() -> None:
    """Forget every cached reading of the package: ``couverture.clear_caches()``.

    Every ``functools.cache`` / ``lru_cache`` of every loaded ``couverture`` module — the
    configuration tables, the vocabularies derived from them, the code version of the result
    cache key (an edited module or table is never answered from an older result) — wherever
    they live, so that a cache added in a module is cleared without being listed here. Call it
    after :data:`couverture.settings.CONFIG_DIR` moved or a table changed. Results cached on
    disk are keyed by the code and configuration version, so they are not removed.
    """
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "couverture" or name.startswith("couverture.")):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()


# Metric CRS per territory: Lambert-93 for metropolitan France, local UTM for the DROM
# (Lambert-93 distorts areas and lengths badly that far from its cone).
METRIC_CRS_BY_DEPARTEMENT = {
    "971": "EPSG:5490",
    "972": "EPSG:5490",
    "973": "EPSG:2972",
    "974": "EPSG:2975",
    "976": "EPSG:4471",
}


def metric_crs(departement: str) -> str:
    """Return the projected CRS used to measure areas and lengths in a département."""
    return METRIC_CRS_BY_DEPARTEMENT.get(departement, "EPSG:2154")
