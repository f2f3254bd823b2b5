"""The annuaire of the professionals: the input door, the RPPS extract, the simple CSV.

Private to :mod:`couverture.professionnels` (which re-exports :func:`read_annuaire`,
:class:`Annuaire` and the column lists). The published extract ``PS_LibreAcces_Personne_activite``
is streamed by DuckDB, reading only the columns of ``config/professionnels.toml``; each line's
place (commune code, postal code of a city of arrondissements, country) is resolved once per
distinct place, old codes replaced by the current ones as in the registry.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from couverture._config import toml
from couverture._errors import DataSourceError
from couverture._format import integer, plural
from couverture._input import InputError, check_file

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from couverture.analysis import Analysis

log = logging.getLogger("couverture.professionnels")

_MAX_PROBLEMS = 10
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_LOST_ZERO = re.compile(r"\d{4}")
# arrondissements of the cities given by their postal code (75015 → 75115, 69003 → 69383)
_POSTAL_ARRONDISSEMENT = {
    "75056": ("75", 20, "751{:02d}"),
    "69123": ("69", 9, "6938{:d}"),
    "13055": ("13", 16, "132{:02d}"),
}

#: Header of ``PS_LibreAcces_Personne_activite`` as published (52 named columns, then an empty
#: one: every line ends with ``|``). Later extracts add columns at the end; only the columns of
#: ``config/professionnels.toml`` are read, by name.
RPPS_COLUMNS: tuple[str, ...] = tuple(
    [
        "Type d'identifiant PP",
        "Identifiant PP",
        "Identification nationale PP",
        "Code civilité d'exercice",
        "Libellé civilité d'exercice",
        "Code civilité",
        "Libellé civilité",
        "Nom d'exercice",
        "Prénom d'exercice",
        "Code profession",
        "Libellé profession",
        "Code catégorie professionnelle",
        "Libellé catégorie professionnelle",
        "Code type savoir-faire",
        "Libellé type savoir-faire",
        "Code savoir-faire",
        "Libellé savoir-faire",
        "Code mode exercice",
        "Libellé mode exercice",
        "Numéro SIRET site",
        "Numéro SIREN site",
        "Numéro FINESS site",
        "Numéro FINESS établissement juridique",
        "Identifiant technique de la structure",
        "Raison sociale site",
        "Enseigne commerciale site",
        "Complément destinataire (coord. structure)",
        "Complément point géographique (coord. structure)",
        "Numéro Voie (coord. structure)",
        "Indice répétition voie (coord. structure)",
        "Code type de voie (coord. structure)",
        "Libellé type de voie (coord. structure)",
        "Libellé Voie (coord. structure)",
        "Mention distribution (coord. structure)",
        "Bureau cedex (coord. structure)",
        "Code postal (coord. structure)",
        "Code commune (coord. structure)",
        "Libellé commune (coord. structure)",
        "Code pays (coord. structure)",
        "Libellé pays (coord. structure)",
        "Téléphone (coord. structure)",
        "Téléphone 2 (coord. structure)",
        "Télécopie (coord. structure)",
        "Adresse e-mail (coord. structure)",
        "Code Département (structure)",
        "Libellé Département (structure)",
        "Ancien identifiant de la structure",
        "Autorité d'enregistrement",
        "Code secteur d'activité",
        "Libellé secteur d'activité",
        "Code section tableau pharmaciens",
        "Libellé section tableau pharmaciens",
        "",
    ]
)

#: Reasons a site is left out, as worded in the warning.
EXCLUSIONS = {
    "sans_commune": "sans code commune",
    "etranger": "à l'étranger",
    "inconnue": "dans une commune inconnue de la base (collectivité d'outre-mer, code erroné)",
    "arrondissement": "à Paris, Lyon ou Marseille sans arrondissement (ni code postal qui le dise)",
    "sans_identifiant": "sans identifiant de la personne",
}


def config() -> dict[str, Any]:
    """Return ``config/professionnels.toml`` (columns read, categories, limits)."""
    return toml("professionnels.toml")


def _categories() -> list[dict[str, Any]]:
    return list(config()["categories"])


#: Count columns, in order: ``professionnels``, ``liberaux``, then one per category.
CATEGORY_COLUMNS: list[str] = [c["colonne"] for c in toml("professionnels.toml")["categories"]]
CATEGORY_COLUMNS.append(toml("professionnels.toml")["autres"]["colonne"])
COUNT_COLUMNS: list[str] = ["professionnels", "liberaux", *CATEGORY_COLUMNS]
ADHESION_COLUMNS = ["adherents", "actifs", "part_adherents", "part_actifs"]


def category_titles() -> dict[str, str]:
    """French title of each count column (``medecins_generalistes`` → Médecins généralistes)."""
    titles = {"professionnels": "Professionnels", "liberaux": "dont libéraux"}
    titles.update({c["colonne"]: c["titre"] for c in _categories()})
    titles[config()["autres"]["colonne"]] = config()["autres"]["titre"]
    return titles


def _key(text: str) -> str:
    """Loose key of a word: lower case, accents and punctuation as ``_``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_ALNUM.sub("_", ascii_text.lower()).strip("_")


# ------------------------------------------------------------------------------------------
# the input door, at the path level
# ------------------------------------------------------------------------------------------
def checked_path(path: Path | str, *, what: str, max_mb: float) -> Path:
    """Return ``path`` if it is a readable regular file of at most ``max_mb`` megabytes.

    The checked input door for files too large to be read into memory at once (the national
    RPPS extract): nothing is read here. A FIFO, a device or a directory would hang or mislead
    the reader and is refused, like a missing, empty or oversized file.

    Raises
    ------
    DataSourceError
        In French, naming ``what`` (« annuaire », « adhésions ») and the file.
    """
    path = Path(path)
    try:  # the project's one door for the kind of file (no FIFO, device, directory, stdin)
        check_file(path, what=what)
        mode = path.stat()
    except InputError as exc:
        raise DataSourceError(f"{what} {path} : {exc.reason}") from exc
    except OSError as exc:
        raise DataSourceError(f"{what} {path} : fichier illisible ({exc.strerror})") from exc
    if mode.st_size == 0:
        raise DataSourceError(f"{what} {path} : fichier vide")
    if mode.st_size > max_mb * 1e6:
        raise DataSourceError(
            f"{what} {path} : fichier de {integer(mode.st_size / 1e6)} Mo, au-delà de la "
            f"limite de {integer(max_mb)} Mo (config/professionnels.toml)"
        )
    if not os.access(path, os.R_OK):
        raise DataSourceError(f"{what} {path} : fichier illisible (permission refusée)")
    return path


def _first_line(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.readline(200_000)
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return head.decode(encoding).rstrip("\r\n")
        except UnicodeDecodeError:
            continue
    return head.decode("latin-1").rstrip("\r\n")


# ------------------------------------------------------------------------------------------
# the annuaire
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Annuaire:
    """An annuaire read and placed in the units of the store.

    Attributes
    ----------
    path
        The file read.
    kind
        ``"rpps"`` (the published extract: distinct persons are counted) or ``"csv"`` (a
        simple CSV of counts: the ``effectif`` are added up).
    sites
        One row per person and unit where they work (``"rpps"``), or per unit, category and
        mode (``"csv"``): ``personne`` (64-bit hash of the « Identification nationale PP »:
        persons are told apart, not named; ``-1`` in a simple CSV), ``unite`` (position in
        ``codes``), ``categorie`` (position in :data:`CATEGORY_COLUMNS`), ``liberal`` (bool),
        ``effectif`` (int).
    codes
        Unit codes, indexed by ``sites["unite"]``.
    lignes
        Lines read (header excluded).
    exclus
        Lines left out, by reason (keys of :data:`EXCLUSIONS`).
    fictif
        A demonstration annuaire (file named ``annuaire_demo*``).
    departements
        Départements with at least one site: elsewhere the annuaire says nothing (an extract
        of a region), and the tables leave the counts empty rather than show zeros.
    """

    path: Path
    kind: str
    sites: pd.DataFrame
    codes: np.ndarray
    lignes: int
    exclus: dict[str, int] = field(default_factory=dict)
    fictif: bool = False
    departements: frozenset[str] = frozenset()

    @property
    def personnes(self) -> int:
        """Persons (or the effectif of a simple CSV) with at least one site kept."""
        if self.kind == "csv":
            return int(self.sites["effectif"].sum())
        return int(self.sites["personne"].nunique())


def read_annuaire(path: Path | str, a: Analysis) -> Annuaire:
    """Read an annuaire and place each activity site in a unit of the store.

    Parameters
    ----------
    path
        The RPPS extract ``PS_LibreAcces_Personne_activite`` as published, or a simple CSV
        ``code_commune;profession;effectif[;mode]`` (``,`` also accepted).
    a
        The analysis whose store gives the units and the old commune codes.

    Returns
    -------
    Annuaire

    Raises
    ------
    DataSourceError
        Missing, oversized or unreadable file; a layout that is neither (the missing columns
        named); malformed lines of a simple CSV (line and value named).
    """
    limits = config()["annuaire"]
    path = checked_path(path, what="annuaire", max_mb=float(limits["taille_max_mo"]))
    header = _first_line(path)
    rpps = config()["colonnes_rpps"]
    if "|" in header:
        names = [c.strip() for c in header.split("|")]
        missing = [c for c in rpps.values() if c not in names]
        if missing:
            raise DataSourceError(
                f"annuaire {path} : colonnes manquantes : "
                + ", ".join(f"« {c} »" for c in missing)
                + " (attendu : l'extraction RPPS PS_LibreAcces_Personne_activite telle que "
                "publiée, séparée par des |)"
            )
        units, old = _unit_lookup(a)
        annuaire = _read_rpps(path, units, old)
    else:
        csv_max = float(limits["taille_max_mo_csv"])
        checked_path(path, what="annuaire", max_mb=csv_max)
        units, old = _unit_lookup(a)
        annuaire = _read_simple(path, units, old)
    _tell(annuaire)
    return annuaire


def _tell(annuaire: Annuaire) -> None:
    what = "personnes placées" if annuaire.kind == "rpps" else "professionnels (effectif) placés"
    log.info(
        "annuaire %s : %s lues, %s %s dans une commune",
        annuaire.path.name,
        plural(annuaire.lignes, "ligne"),
        integer(annuaire.personnes),
        what,
    )
    if annuaire.fictif:
        log.warning("annuaire fictif : professionnels de démonstration, pas de situation réelle")
    left = {k: n for k, n in annuaire.exclus.items() if n}
    if left:
        parts = [f"{integer(n)} {EXCLUSIONS[k]}" for k, n in left.items()]
        log.warning(
            "annuaire %s : %s laissées de côté (%s)",
            annuaire.path.name,
            plural(sum(left.values()), "ligne"),
            " ; ".join(parts),
        )


@dataclass(frozen=True)
class _Units:
    """Unit codes of the store and how a written commune code reaches one."""

    codes: np.ndarray
    position: dict[str, int]
    departements: np.ndarray
    cities: frozenset[str]  # cities handled as arrondissements (75056, 69123, 13055)


def _unit_lookup(a: Analysis) -> tuple[_Units, dict[str, str]]:
    table = a.unit_table()
    codes = table["code"].astype(str).to_numpy()
    arm = table.loc[table["type"].astype(str) == "ARM", "commune"].astype(str)
    deps = table["departement"].astype(str).to_numpy()
    units = _Units(codes, {c: i for i, c in enumerate(codes.tolist())}, deps, frozenset(arm))
    old = a.old_codes()
    mapping = dict(zip(old["code_ancien"].astype(str), old["code_actuel"].astype(str), strict=True))
    return units, mapping


def _normal_code(raw: str) -> str:
    code = raw.strip().upper().replace(" ", "")
    if _LOST_ZERO.fullmatch(code):
        code = "0" + code
    return code


def _place(
    commune: str, postal: str, foreign: bool, units: _Units, old: dict[str, str]
) -> int | str:
    """Position of the unit of a site, or the reason it is left out (key of EXCLUSIONS)."""
    code = _normal_code(commune)
    if not code:
        return "etranger" if foreign else "sans_commune"
    if code.startswith("99"):
        return "etranger"
    if code not in units.position and code not in units.cities:
        code = old.get(code, code)
        # Saint-Rambert-l'Île-Barbe (1963) is Lyon's 9th arrondissement, not the whole city
        code = "69389" if commune.strip() == "69232" else code
    if code in units.cities:
        prefix, last, pattern = _POSTAL_ARRONDISSEMENT.get(code, ("", 0, ""))
        digits = postal.strip()
        if prefix and len(digits) == 5 and digits.startswith(prefix) and digits.isdigit():
            number = 16 if digits == "75116" else int(digits[2:])
            if 1 <= number <= last:
                code = pattern.format(number)
        if code in units.cities:
            return "arrondissement"
    if code in units.position:
        return units.position[code]
    return "etranger" if foreign else "inconnue"


def _rank_sql(profession: str, savoir_faire: str) -> str:
    """Return the SQL CASE giving the category position of a line (the last one: autres)."""

    def quoted(values: list[str]) -> str:
        return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)

    cases = []
    for i, cat in enumerate(_categories()):
        cond = f"{profession} IN ({quoted(cat['profession'])})"
        if cat.get("savoir_faire"):
            cond += f" AND {savoir_faire} IN ({quoted(cat['savoir_faire'])})"
        cases.append(f"WHEN {cond} THEN {i}")
    return f"CASE {' '.join(cases)} ELSE {len(cases)} END"


def _read_rpps(path: Path, units: _Units, old: dict[str, str]) -> Annuaire:
    """Stream the published extract through DuckDB, keeping only the columns needed.

    The lines are reduced while streaming to one row per person (a 64-bit hash of the
    national identifier: distinct counts without keeping 2 million strings), written place
    (commune, postal code for a city of arrondissements, country) and category; the few
    thousand distinct places are then placed in units in Python.
    """
    col = config()["colonnes_rpps"]

    def q(name: str) -> str:
        return '"' + col[name].replace('"', '""') + '"'

    liberal = str(config()["mode"]["liberal"]).replace("'", "''")
    cities = ", ".join(f"'{c}'" for c in sorted(units.cities)) or "''"
    rank = _rank_sql(q("profession"), q("savoir_faire"))
    names = [c.strip() for c in _first_line(path).split("|")]
    columns = {n if n else f"colonne_vide_{i}": "VARCHAR" for i, n in enumerate(names)}
    source = (
        "read_csv(?, delim = '|', header = true, quote = '', escape = '', null_padding = true, "
        f"auto_detect = false, columns = {_struct_literal(columns)})"
    )
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        con.execute(f"SET memory_limit = '{config()['annuaire']['memoire_lecteur']}'")
        con.execute("SET preserve_insertion_order = false")
        # one row per line, only the fields needed (the strings of the place are few distinct
        # values: DuckDB stores them as a dictionary)
        con.execute(
            f"""
            CREATE TEMP TABLE lignes AS
            SELECT hash({q("personne")}) AS personne,
                   coalesce({q("personne")}, '') = '' AS sans_id,
                   coalesce({q("commune")}, '') AS commune,
                   CASE WHEN coalesce({q("commune")}, '') IN ({cities}, '')
                        THEN coalesce({q("code_postal")}, '') ELSE '' END AS postal,
                   coalesce({q("pays")}, '') AS pays,
                   ({rank})::TINYINT AS rang,
                   coalesce({q("mode")} = '{liberal}', false) AS liberal
            FROM {source}
            """,
            [str(path)],
        )
        frame = _places(
            con.execute("SELECT DISTINCT commune, postal, pays FROM lignes").fetchall(),
            units,
            old,
        )
        con.register("lieux", frame)
        con.execute(
            """
            CREATE TEMP TABLE places AS
            SELECT l.personne, l.sans_id, p.unite::INTEGER AS unite, p.motif, l.rang, l.liberal
            FROM lignes l JOIN lieux p USING (commune, postal, pays)
            """
        )
        con.execute("DROP TABLE lignes")
        total = int(con.execute("SELECT count(*) FROM places").fetchone()[0])  # type: ignore[index]
        left = dict(
            con.execute(
                """
                SELECT CASE WHEN sans_id THEN 'sans_identifiant' ELSE motif END, count(*)
                FROM places WHERE sans_id OR unite < 0 GROUP BY 1
                """
            ).fetchall()
        )
        # a person's category is decided over all their lines (a GP line makes a GP); a
        # person may appear twice in a unit (two activities there): count() counts them once
        sites = con.execute(
            """
            SELECT p.personne, p.unite, r.rang AS categorie, p.liberal
            FROM places p
            JOIN (SELECT personne, min(rang) AS rang FROM places WHERE NOT sans_id
                  GROUP BY personne) r USING (personne)
            WHERE NOT p.sans_id AND p.unite >= 0
            """
        ).df()
    except duckdb.Error as exc:
        raise DataSourceError(_csv_error(path, str(exc))) from exc
    finally:
        con.close()
    sites["effectif"] = np.ones(len(sites), dtype="int64")
    exclus = {k: int(left.get(k, 0)) for k in EXCLUSIONS}
    covered = _covered(units, sites)
    return Annuaire(path, "rpps", sites, units.codes, total, exclus, _is_demo(path), covered)


_DUCKDB_LINE = re.compile(r"Line: (\d+)")
_DUCKDB_ORIGINAL = re.compile(r"Original Line: (.*)")
_DUCKDB_COLUMNS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def _csv_error(path: Path, message: str) -> str:
    """French wording of a DuckDB CSV error: the line, its start and what is wrong."""
    line = _DUCKDB_LINE.search(message)
    if line is None:
        return f"annuaire {path} : lecture impossible ({message.splitlines()[0][:200]})"
    original = _DUCKDB_ORIGINAL.search(message)
    shown = f" « {original.group(1)[:60]}… »" if original else ""
    columns = _DUCKDB_COLUMNS.search(message)
    why = (
        f"{columns.group(2)} champs au lieu des {columns.group(1)} de l'en-tête "
        "(un « | » dans une valeur, ou une ligne coupée)"
        if columns
        else message.splitlines()[0][:200]
    )
    return f"annuaire {path}, ligne {int(line.group(1))}{shown} : {why}"


def _places(places: list[tuple[str, str, str]], units: _Units, old: dict[str, str]) -> pd.DataFrame:
    """Return the unit position (``-1`` and a ``motif`` when left out) of each place."""
    france = {str(c) for c in config()["pays"]["france"]}
    where = [
        _place(c, p, bool(y.strip()) and y.strip() not in france, units, old) for c, p, y in places
    ]
    return pd.DataFrame(
        {
            "commune": [x[0] for x in places],
            "postal": [x[1] for x in places],
            "pays": [x[2] for x in places],
            "unite": [w if isinstance(w, int) else -1 for w in where],
            "motif": [w if isinstance(w, str) else "" for w in where],
        }
    )


def _struct_literal(columns: dict[str, str]) -> str:
    items = ", ".join("'" + k.replace("'", "''") + "': '" + v + "'" for k, v in columns.items())
    return "{" + items + "}"


def _is_demo(path: Path) -> bool:
    return path.name.lower().startswith("annuaire_demo")


def _delimiter(header: str) -> str:
    return ";" if header.count(";") >= header.count(",") else ","


def _csv_rows(path: Path, what: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header (loose keys) and numbered rows of a small CSV read through the door."""
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes almost anything
        text = data.decode("latin-1")
    lines = text.splitlines()
    if not lines:
        raise DataSourceError(f"{what} {path} : fichier vide")
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(lines[0]))
    rows = [(n, r) for n, r in enumerate(reader, start=1) if any(c.strip() for c in r)]
    if not rows:
        raise DataSourceError(f"{what} {path} : fichier vide")
    header = [_key(c) for c in rows[0][1]]
    return header, rows[1:]


class _Problems:
    """Offending lines of a small file, raised together as one DataSourceError.

    The annuaire, adhésions and porteurs files (``what`` names the kind), at most
    :data:`_MAX_PROBLEMS` lines.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        self.items: list[str] = []

    def add(self, line: int | None, value: str, message: str) -> None:
        """Note a problem of line ``line`` (``None``: of the whole file) about ``value``."""
        where = f"ligne {line}" if line is not None else "fichier"
        shown = f" « {value[:60]} »" if value else ""
        self.items.append(f"{self.path.name}, {where}{shown} : {message}")
        if len(self.items) >= _MAX_PROBLEMS:
            self.raise_if_any()

    def raise_if_any(self) -> None:
        if self.items:
            n = len(self.items)
            head = f"{self.what} {self.path} : {n} erreur{'s' if n > 1 else ''}"
            raise DataSourceError(head + "\n  " + "\n  ".join(self.items))


def _category_words() -> dict[str, int]:
    words: dict[str, int] = {}
    for i, cat in enumerate(_categories()):
        for word in [cat["colonne"], *cat.get("libelles", [])]:
            words[_key(word)] = i
    autres = config()["autres"]["colonne"]
    words[_key(autres)] = len(_categories())
    return words


def _count_value(text: str) -> int | None:
    value = text.strip().replace(" ", "").replace("\xa0", "")
    if value.endswith(".0"):
        value = value[:-2]
    return int(value) if value.isdigit() else None


def _read_simple(path: Path, units: _Units, old: dict[str, str]) -> Annuaire:
    """Read a CSV ``code_commune;profession;effectif[;mode]`` (counts per commune)."""
    header, rows = _csv_rows(path, "annuaire")
    needed = ["code_commune", "profession", "effectif"]
    missing = [c for c in needed if c not in header]
    if missing:
        raise DataSourceError(
            f"annuaire {path} : colonnes manquantes : "
            + ", ".join(f"« {c} »" for c in missing)
            + " (attendu : l'extraction RPPS PS_LibreAcces_Personne_activite telle que publiée, "
            "séparée par des |, ou un CSV code_commune;profession;effectif[;mode])"
        )
    at = {c: header.index(c) for c in [*needed, "mode"] if c in header}
    words = _category_words()
    autres = len(_categories())
    problems = _Problems(path, "annuaire")
    out: dict[tuple[int, int, bool], int] = {}
    exclus = dict.fromkeys(EXCLUSIONS, 0)
    unknown_words: dict[str, int] = {}
    for line, row in rows:
        cells = row + [""] * (len(header) - len(row))
        count = _count_value(cells[at["effectif"]])
        if count is None:
            problems.add(line, cells[at["effectif"]], "effectif : nombre entier attendu")
            continue
        word = _key(cells[at["profession"]])
        if word not in words:
            unknown_words[cells[at["profession"]].strip()] = line
        category = words.get(word, autres)
        mode = cells[at["mode"]].strip().upper() if "mode" in at else ""
        where = _place(cells[at["code_commune"]], "", False, units, old)
        if isinstance(where, str):
            exclus[where] += count
            continue
        liberal = mode.startswith(str(config()["mode"]["liberal"]))
        key = (where, category, liberal)
        out[key] = out.get(key, 0) + count
    problems.raise_if_any()
    if unknown_words:
        shown = ", ".join(f"« {w} » (ligne {n})" for w, n in list(unknown_words.items())[:5])
        log.info("annuaire %s : professions comptées dans « autres » : %s", path.name, shown)
    sites = pd.DataFrame(
        {
            "personne": np.full(len(out), -1, dtype="int64"),
            "unite": np.array([k[0] for k in out], dtype="int32"),
            "categorie": np.array([k[1] for k in out], dtype="int8"),
            "liberal": np.array([k[2] for k in out], dtype=bool),
            "effectif": np.array(list(out.values()), dtype="int64"),
        }
    )
    covered = _covered(units, sites)
    return Annuaire(path, "csv", sites, units.codes, len(rows), exclus, _is_demo(path), covered)


def _covered(units: _Units, sites: pd.DataFrame) -> frozenset[str]:
    return frozenset(units.departements[np.unique(sites["unite"].to_numpy())].tolist())
