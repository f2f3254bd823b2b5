"""Potential porteurs of a CPTS: maisons de santé and centres de santé from FINESS.

:func:`read_porteurs` reads either

* the national FINESS extract of the établissements **exactly as published** (a ``;`` file
  whose first line is ``finess;etalab;<n>;<date>``, then ``structureet;`` records of 32 fields
  and ``geolocalisation;`` records giving each établissement's coordinates in Lambert 93, or in
  the local UTM projection in the DROM), keeping the categories of ``config/porteurs.toml``
  (maisons de santé pluriprofessionnelles, catégorie 603, and centres de santé, 124); or
* a simple CSV (``,`` or ``;``) with columns ``nom``, ``categorie``, ``code_commune`` and
  optionally ``finess``, ``libelle_categorie``, ``x``/``y`` (Lambert 93) or ``lat``/``lon``
  (WGS84); every row is kept unless categories are asked for.

The result is one row per porteur: ``finess``, ``nom``, ``categorie`` (code string),
``libelle_categorie``, ``code_commune``, ``lon``, ``lat`` (WGS84, NaN when unknown).
:func:`porteurs_near` lists the porteurs in or near a zone; :func:`name_porteurs` names the
largest nearby one in each creation proposal (``porteur_potentiel``); :func:`proposals_of`, the
documents' one door to the proposals, computes them and names their porteurs.

Examples
--------
>>> from couverture.porteurs import read_porteurs
>>> porteurs = read_porteurs("etalab-cs1100507-stock-20261101-0342.csv")  # doctest: +SKIP
>>> porteurs.columns.tolist()  # doctest: +SKIP
['finess', 'nom', 'categorie', 'libelle_categorie', 'code_commune', 'lon', 'lat']
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from couverture import _format, settings
from couverture._annuaire import _MAX_PROBLEMS, _Problems
from couverture._config import metric_crs, toml
from couverture._errors import DataSourceError
from couverture._input import InputError, decode_text, read_input
from couverture.suggest import proposal_geometries, suggest
from couverture.zones import unit_codes

# GeoPandas, Shapely and pyproj are imported where porteurs are placed: `suggestions` reads its
# proposals through this module without them (see couverture._cli_commands).

if TYPE_CHECKING:
    import pandas as pd
    from shapely.geometry.base import BaseGeometry

    from couverture.analysis import Analysis

log = logging.getLogger(__name__)

#: Columns of :func:`read_porteurs` (the contract the maps and fiches code against).
COLUMNS = ["finess", "nom", "categorie", "libelle_categorie", "code_commune", "lon", "lat"]

#: Fields of a ``structureet;`` record of the published extract, in order.
STRUCTURE_FIELDS = (
    "section",
    "nofinesset",
    "nofinessej",
    "rs",
    "rslongue",
    "complrs",
    "compldistrib",
    "numvoie",
    "typvoie",
    "voie",
    "compvoie",
    "lieuditbp",
    "commune",
    "departement",
    "libdepartement",
    "ligneacheminement",
    "telephone",
    "telecopie",
    "categetab",
    "libcategetab",
    "categagretab",
    "libcategagretab",
    "siret",
    "codeape",
    "codemft",
    "libmft",
    "codesph",
    "libsph",
    "dateouv",
    "dateautor",
    "datemaj",
    "numuai",
)
_FIELD = {name: i for i, name in enumerate(STRUCTURE_FIELDS)}
_LINE, _RAW = "_ligne", "_brut"  # private columns: the position's line, its raw x/y


def config() -> dict[str, Any]:
    """Return ``config/porteurs.toml`` (categories, projections, DROM codes, radius)."""
    return toml("porteurs.toml")


def default_categories() -> tuple[str, ...]:
    """FINESS categories kept by default (``603`` MSP, ``124`` centres de santé)."""
    return tuple(config()["categories"])


def radius_m() -> float:
    """Distance (metres) within which a porteur is listed as near a zone."""
    return float(config()["proximite"]["rayon_m"])


def _text(path: Path) -> str:
    """Return the file's text through the input door: a regular file, bounded, decoded line by line.

    Windows-1252 lines in a UTF-8 file are decoded on their own, and named in a warning.
    """
    try:
        data = read_input(path, what="porteurs")
        text, notes = decode_text(path, data, what="porteurs")
    except InputError as exc:
        raise DataSourceError(str(exc)) from exc
    if notes:
        lines = ", ".join(str(n[0]) for n in notes[:5]) + (" …" if len(notes) > 5 else "")
        log.warning(
            "porteurs %s : %d ligne(s) en Windows-1252 dans un fichier UTF-8, lue(s) en "
            "Windows-1252 (ligne(s) %s)",
            path.name,
            len(notes),
            lines,
        )
    return text


def read_porteurs(
    path: Path | str, *, categories: Iterable[str] | None = None, check_positions: bool = True
) -> pd.DataFrame:
    """Read potential porteurs from a FINESS extract or a simple CSV.

    Parameters
    ----------
    path
        The national FINESS extract of the établissements as published, or a simple CSV
        (see the module docstring).
    categories
        FINESS category codes to keep. Default: those of ``config/porteurs.toml`` for the
        FINESS extract, every row for a simple CSV.
    check_positions
        Check each position against its commune (the units built by ``make data``): one
        more than ``tolerance_m`` outside it is read another plausible way (latitude and
        longitude swapped, decimal commas, x/y in degrees, the DROM's own projection) or
        placed in its commune, with a warning naming the line.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, one row per porteur ordered by ``code_commune`` and ``nom``;
        ``lon``/``lat`` in WGS84, NaN when the file gives no position.

    Raises
    ------
    DataSourceError
        Unreadable file, unknown layout, or malformed lines (file and line numbers named).
    """
    path = Path(path)
    text = _text(path)
    first = text.split("\n", 1)[0].strip().lower()
    if first.startswith("finess;etalab"):
        cats = tuple(categories) if categories is not None else default_categories()
        frame = _read_finess(path, text, set(cats))
    else:
        frame = _read_simple(path, text, set(categories) if categories is not None else None)
    if check_positions:
        _check_positions(path, frame)
    frame = frame.sort_values(["code_commune", "nom"], kind="stable").reset_index(drop=True)
    log.info("porteurs potentiels lus dans %s : %d", path.name, len(frame))
    return frame[COLUMNS].copy()


# ------------------------------------------------------------------------------------------
# the published FINESS extract
# ------------------------------------------------------------------------------------------
def _commune_code(departement: str, commune: str) -> str:
    """INSEE code of a FINESS (département, 3-digit commune) pair.

    ``35`` + ``238`` → ``35238``; in the DROM (``9A``…) ``97`` + the commune (``9D`` + ``411`` →
    ``97411``).
    """
    dep, com = departement.strip().upper(), commune.strip()
    if com.isdigit():
        com = com.zfill(3)
    if dep in config()["departements_drom"]:
        return "97" + com
    if dep.isdigit():
        dep = dep.zfill(2)
    return dep + com


def _read_finess(path: Path, text: str, categories: set[str]) -> pd.DataFrame:
    """Read the établissements of ``categories`` from the published FINESS extract."""
    problems = _Problems(path, "porteurs")
    labels: dict[str, str] = config()["categories"]
    rows: dict[str, dict[str, Any]] = {}
    coords: dict[str, tuple[float, float, str]] = {}
    lines: dict[str, int] = {}  # the geolocalisation record's line (the position's)
    projections: dict[str, str] = config()["projections"]
    reader = csv.reader(io.StringIO(text), delimiter=";")
    for number, fields in enumerate(reader, start=1):
        if number == 1 or not fields or not "".join(fields).strip():
            continue
        kind = fields[0].strip()
        if kind == "structureet":
            row = _structure_row(number, fields, categories, labels=labels, problems=problems)
            if row is not None:
                rows[row["finess"]] = row
        elif kind == "geolocalisation":
            located = _geolocation(number, fields, projections, problems=problems)
            if located is not None:
                finess, position = located
                coords[finess] = position
                lines[finess] = number
    problems.raise_if_any()
    frame = pd.DataFrame(list(rows.values()), columns=COLUMNS[:5])
    ids = frame["finess"].tolist()
    frame["lon"], frame["lat"] = _finess_lonlat(path, ids, coords, projections)
    frame[_LINE] = [lines.get(f, 0) for f in ids]
    frame[_RAW] = [(coords[f][0], coords[f][1]) if f in coords else None for f in ids]
    return frame


def _structure_row(
    number: int,
    fields: list[str],
    categories: set[str],
    *,
    labels: dict[str, str],
    problems: _Problems,
) -> dict[str, Any] | None:
    """Return the porteur of a ``structureet;`` record (None: other category or problem).

    A malformed record is added to ``problems``.
    """
    if len(fields) < len(STRUCTURE_FIELDS) - 1:
        problems.add(
            number,
            ";".join(fields[:3]),
            f"enregistrement structureet de {len(fields)} champs "
            f"({len(STRUCTURE_FIELDS)} attendus)",
        )
        return None
    finess = fields[_FIELD["nofinesset"]].strip()
    category = fields[_FIELD["categetab"]].strip()
    if not finess.isalnum() or len(finess) != 9:
        problems.add(number, finess, "numéro FINESS d'établissement invalide")
        return None
    if category not in categories:
        return None
    commune = fields[_FIELD["commune"]]
    departement = fields[_FIELD["departement"]]
    if not commune.strip() or not departement.strip():
        problems.add(number, finess, "commune ou département absent")
        return None
    name = fields[_FIELD["rslongue"]].strip() or fields[_FIELD["rs"]].strip()
    return {
        "finess": finess,
        "nom": name,
        "categorie": category,
        "libelle_categorie": fields[_FIELD["libcategetab"]].strip() or labels.get(category, ""),
        "code_commune": _commune_code(departement, commune),
    }


def _geolocation(
    number: int, fields: list[str], projections: dict[str, str], *, problems: _Problems
) -> tuple[str, tuple[float, float, str]] | None:
    """Return the FINESS number and (x, y, system) of a ``geolocalisation;`` record.

    ``system`` is ``""`` when the record names none of ``projections``. Returns None for a
    record without coordinates, or a malformed one (then added to ``problems``).
    """
    if len(fields) < 4:
        problems.add(number, ";".join(fields), "enregistrement geolocalisation incomplet")
        return None
    finess, x_text, y_text = (f.strip() for f in fields[1:4])
    if not x_text and not y_text:
        return None
    try:
        x, y = float(x_text.replace(",", ".")), float(y_text.replace(",", "."))
    except ValueError:
        problems.add(number, f"{x_text};{y_text}", "coordonnées illisibles")
        return None
    # the source of the coordinates ends with the name of their system, written in
    # one field (comma-separated) or spread over several, depending on the vintage
    words = {w.strip().upper() for f in fields[4:] for w in f.split(",")}
    system = next((p for p in projections if p in words), "")
    return finess, (x, y, system)


def _finess_lonlat(
    path: Path,
    finess: list[str],
    coords: dict[str, tuple[float, float, str]],
    projections: dict[str, str],
) -> tuple[list[float], list[float]]:
    """Return the WGS84 lon/lat of the établissements ``finess`` (NaN when not located).

    A position in a system none of ``projections`` names is ignored, with a warning.
    """
    xs = [coords.get(f, (math.nan, math.nan, ""))[0] for f in finess]
    ys = [coords.get(f, (math.nan, math.nan, ""))[1] for f in finess]
    systems = [coords.get(f, (0, 0, ""))[2] for f in finess]
    unknown = [f for f, s in zip(finess, systems, strict=True) if f in coords and not s]
    if unknown:
        log.warning(
            "porteurs %s : %d position(s) dans un système de coordonnées inconnu, ignorée(s) "
            "(FINESS %s)",
            path.name,
            len(unknown),
            ", ".join(unknown[:5]),
        )
    return _to_wgs84(xs, ys, [projections.get(s, "") for s in systems])


def _to_wgs84(xs: list[float], ys: list[float], crs: list[str]) -> tuple[list[float], list[float]]:
    """Project coordinates given in various systems (``""``: unknown → NaN) to lon/lat."""
    from pyproj import Transformer

    lon = [math.nan] * len(xs)
    lat = [math.nan] * len(xs)
    for system in sorted({c for c in crs if c}):
        idx = [i for i, c in enumerate(crs) if c == system and not math.isnan(xs[i])]
        if not idx:
            continue
        transformer = Transformer.from_crs(system, "EPSG:4326", always_xy=True)
        out_x, out_y = transformer.transform([xs[i] for i in idx], [ys[i] for i in idx])
        for i, a, b in zip(idx, out_x, out_y, strict=True):
            lon[i], lat[i] = float(a), float(b)
    return lon, lat


# ------------------------------------------------------------------------------------------
# the simple CSV
# ------------------------------------------------------------------------------------------
_SIMPLE_ALIASES = {
    "nom": ("nom", "raison_sociale", "rs", "name"),
    "categorie": ("categorie", "categetab", "code_categorie"),
    "code_commune": ("code_commune", "code_insee", "codgeo", "commune"),
    "finess": ("finess", "nofinesset", "numero_finess"),
    "libelle_categorie": ("libelle_categorie", "libcategetab"),
    "x": ("x", "coordxet"),
    "y": ("y", "coordyet"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "longitude"),
}


def _number(text: str) -> float:
    text = text.strip().replace("\u202f", "").replace(" ", "").replace(",", ".")
    return float(text) if text else math.nan


def _read_simple(path: Path, text: str, categories: set[str] | None) -> pd.DataFrame:
    """Read the porteurs of a simple CSV (every row, or those of ``categories``)."""
    head = text.split("\n", 1)[0]
    delimiter = ";" if head.count(";") > head.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    roles = _simple_roles(path, header)
    problems = _Problems(path, "porteurs")
    labels: dict[str, str] = config()["categories"]
    rows: list[dict[str, Any]] = []
    positions: list[tuple[float, float, str]] = []
    numbers: list[int] = []
    width = len(header)
    for number, fields in enumerate(reader, start=2):
        if not "".join(fields).strip():
            continue
        if delimiter == "," and len(fields) > width:
            fields = _decimal_commas(path, number, fields, width, roles)
        name, category, code = (
            _cell(fields, roles["nom"]),
            _cell(fields, roles["categorie"]),
            _cell(fields, roles["code_commune"]),
        )
        if not name:
            problems.add(number, "", "nom absent")
            continue
        code = code.upper()
        if code.isdigit() and len(code) == 4:
            code = "0" + code  # leading zero lost by a spreadsheet
        if len(code) != 5 or not (code.isdigit() or code[:2] in ("2A", "2B")):
            problems.add(number, code, "code commune INSEE invalide (5 caractères attendus)")
            continue
        if categories is not None and category not in categories:
            continue
        position = _simple_position(number, fields, roles, problems=problems)
        if position is None:
            continue
        positions.append(position)
        numbers.append(number)
        rows.append(
            {
                "finess": _cell(fields, roles["finess"]),
                "nom": name,
                "categorie": category,
                "libelle_categorie": _cell(fields, roles["libelle_categorie"])
                or labels.get(category, ""),
                "code_commune": code,
            }
        )
    problems.raise_if_any()
    frame = pd.DataFrame(rows, columns=COLUMNS[:5])
    frame["lon"], frame["lat"] = _simple_lonlat(positions)
    frame[_LINE] = numbers
    frame[_RAW] = [(p[0], p[1]) if p[2] else None for p in positions]
    return frame


def _decimal_commas(
    path: Path, number: int, fields: list[str], width: int, roles: dict[str, int | None]
) -> list[str]:
    """Rejoin a comma-separated row whose coordinates were written with decimal commas.

    ``48,05,-1,14`` under ``lat,lon`` is split into four fields: when the coordinate columns
    end the header and the extra fields are one per coordinate, each pair is joined again
    (``48.05``, ``-1.14``). Any other extra fields are left for the other checks.
    """
    coords = sorted(p for r in ("lat", "lon", "x", "y") if (p := roles[r]) is not None)
    extra = len(fields) - width
    if not coords or coords != list(range(width - len(coords), width)) or extra != len(coords):
        return fields
    tail = fields[coords[0] :]
    pairs = [tail[i].strip() + "." + tail[i + 1].strip() for i in range(0, len(tail), 2)]
    try:
        [float(p) for p in pairs]
    except ValueError:
        return fields
    log.warning(
        "porteurs %s, ligne %d : virgules décimales dans un fichier séparé par des virgules "
        "(« %s ») : coordonnées lues %s",
        path.name,
        number,
        ",".join(tail),
        " et ".join(pairs),
    )
    return fields[: coords[0]] + pairs


def _simple_roles(path: Path, header: list[str]) -> dict[str, int | None]:
    """Return the column index of each role of :data:`_SIMPLE_ALIASES` (None: absent).

    Raises
    ------
    DataSourceError
        When ``nom``, ``categorie`` or ``code_commune`` has no column.
    """
    roles = {
        role: next((header.index(a) for a in aliases if a in header), None)
        for role, aliases in _SIMPLE_ALIASES.items()
    }
    missing = [r for r in ("nom", "categorie", "code_commune") if roles[r] is None]
    if missing:
        raise DataSourceError(
            f"porteurs {path} : format non reconnu : ni extraction FINESS (première ligne "
            "« finess;etalab;… »), ni CSV avec les colonnes nom, categorie, code_commune "
            f"(colonnes manquantes : {', '.join(missing)})"
        )
    return roles


def _cell(fields: list[str], index: int | None) -> str:
    """Return the stripped field at ``index`` (``""`` when the row or the header has none)."""
    return fields[index].strip() if index is not None and index < len(fields) else ""


def _simple_position(
    number: int, fields: list[str], roles: dict[str, int | None], *, problems: _Problems
) -> tuple[float, float, str] | None:
    """Return the position of a simple CSV row as (x, y, system).

    Latitude/longitude win over Lambert 93 x/y; (NaN, NaN, ``""``) when the row has neither.
    Returns None for unreadable or out-of-bounds coordinates (then added to ``problems``).
    """
    try:
        x, y = _number(_cell(fields, roles["x"])), _number(_cell(fields, roles["y"]))
        lat, lon = _number(_cell(fields, roles["lat"])), _number(_cell(fields, roles["lon"]))
    except ValueError:
        problems.add(number, ";".join(fields), "coordonnées illisibles")
        return None
    if not math.isnan(lat) and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        problems.add(number, f"{lat} {lon}", "latitude/longitude hors limites")
        return None
    if not math.isnan(lat) and not math.isnan(lon):
        return lon, lat, "EPSG:4326"
    if not math.isnan(x) and not math.isnan(y):
        if abs(x) <= 180 and abs(y) <= 180:  # no Lambert 93 metres: degrees
            log.warning(
                "porteurs %s, ligne %d : x/y en degrés (%s ; %s), lus comme longitude/latitude",
                problems.path.name,
                number,
                _cell(fields, roles["x"]),
                _cell(fields, roles["y"]),
            )
            return x, y, "EPSG:4326"
        return x, y, "EPSG:2154"
    return math.nan, math.nan, ""


def _simple_lonlat(
    positions: list[tuple[float, float, str]],
) -> tuple[list[float], list[float]]:
    """Return the WGS84 lon/lat of ``positions`` (NaN where the system is ``""``)."""
    xs = [p[0] for p in positions]
    ys = [p[1] for p in positions]
    crs = [p[2] for p in positions]
    lon_out = [xs[i] if c == "EPSG:4326" else math.nan for i, c in enumerate(crs)]
    lat_out = [ys[i] if c == "EPSG:4326" else math.nan for i, c in enumerate(crs)]
    projected = [c if c not in ("EPSG:4326",) else "" for c in crs]
    plon, plat = _to_wgs84(xs, ys, projected)
    lon = [a if not math.isnan(a) else b for a, b in zip(lon_out, plon, strict=True)]
    lat = [a if not math.isnan(a) else b for a, b in zip(lat_out, plat, strict=True)]
    return lon, lat


# ------------------------------------------------------------------------------------------
# positions checked against their commune
# ------------------------------------------------------------------------------------------
def tolerance_m() -> float:
    """Distance (metres) a position may lie outside its commune (``[positions]``)."""
    return float(config()["positions"]["tolerance_m"])


def _commune_units(codes: set[str]) -> pd.DataFrame:
    """Return the units of the communes ``codes`` (a split commune: its arrondissements).

    Columns ``code``, ``commune`` (the code asked), ``departement``, ``x``, ``y`` (a point on
    the unit in its territory's metric CRS), ``rayon`` (radius of a disc of its area, metres).
    """
    wanted = sorted(codes)
    table = pq.read_table(
        settings.UNITS_PATH,
        columns=["code", "commune", "departement", "x", "y", "superficie_km2"],
        filters=[("code", "in", wanted)] if len(wanted) < 2000 else None,
    ).to_pandas()
    if len(wanted) < 2000:  # arrondissements of the communes asked by their own code
        split = pq.read_table(
            settings.UNITS_PATH,
            columns=["code", "commune", "departement", "x", "y", "superficie_km2"],
            filters=[("commune", "in", wanted), ("type", "=", "ARM")],
        ).to_pandas()
        table = pd.concat([table, split], ignore_index=True)
    table = table.dropna(subset=["x", "y"])
    own = table[table["code"].isin(codes)].assign(commune=lambda t: t["code"])
    arms = table[~table["code"].isin(codes) & table["commune"].isin(codes)]
    out = pd.concat([own, arms], ignore_index=True).drop_duplicates(["code", "commune"])
    out["rayon"] = (out["superficie_km2"].fillna(0) * 1e6 / math.pi) ** 0.5
    return out


def _exact_outlines(codes: set[str]) -> dict[str, Any]:
    """Outline (WGS84 geometry) of each commune of ``codes`` (arrondissements joined)."""
    import shapely

    wanted = sorted(codes)
    parts: dict[str, list[Any]] = {}
    for column in ("code", "commune"):
        table = pq.read_table(
            settings.UNITS_PATH,
            columns=["code", "commune", "geometry"],
            filters=[(column, "in", wanted)],
        ).to_pandas()
        for code, commune, blob in table.itertuples(index=False, name=None):
            if blob is None:
                continue
            key = code if code in codes else commune
            parts.setdefault(key, []).append(shapely.from_wkb(bytes(blob)))
    return {k: shapely.union_all(list(dict.fromkeys(v))) for k, v in parts.items()}


def _distance_outside(lon: float, lat: float, outline: Any, crs: str) -> float:
    """Metres from (lon, lat) to ``outline`` (0 inside), measured in ``crs``."""
    import shapely

    if not (math.isfinite(lon) and math.isfinite(lat)):
        return math.inf
    to_metric = _transformer("EPSG:4326", crs)
    x, y = to_metric.transform(lon, lat)
    if not (math.isfinite(x) and math.isfinite(y)):
        return math.inf
    shape = shapely.transform(outline, lambda xy: _project(to_metric, xy))
    return float(shape.distance(shapely.Point(x, y)))


def _project(transformer: Any, xy: Any) -> Any:
    out_x, out_y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([out_x, out_y])


def _to_lonlat(x: float, y: float, crs: str) -> tuple[float, float]:
    lon, lat = _transformer(crs, "EPSG:4326").transform(x, y)
    return float(lon), float(lat)


@functools.lru_cache(maxsize=64)
def _transformer(source: str, target: str) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def _readings(lon: float, lat: float, raw: tuple[float, float] | None, crs: str) -> list:
    """Other plausible readings of a position: (lon, lat, what was wrong)."""
    out = [(lat, lon, "latitude et longitude inversées")]
    if raw is not None:
        x, y = raw
        for a, b, what in ((x, y, ""), (y, x, "x et y inversés, ")):
            if abs(a) > 180 or abs(b) > 180:  # metres: the territory's own projection
                try:
                    out.append((*_to_lonlat(a, b, crs), f"{what}coordonnées en {crs}"))
                except Exception:
                    continue
            else:
                out.append((a, b, f"{what}x/y lus comme longitude/latitude"))
    return out


def _check_positions(path: Path, frame: pd.DataFrame) -> None:
    """Check each position against its commune; correct or re-place the wrong ones (warned).

    See :func:`read_porteurs` (``check_positions``). ``frame`` is changed in place.
    """
    located = frame.index[frame["lon"].notna() & frame["lat"].notna()]
    if not len(located) or not settings.UNITS_PATH.exists():
        return
    units = _commune_units(set(frame.loc[located, "code_commune"]))
    tolerance = tolerance_m()
    # a first sieve: distance to a point of each unit of the commune, less its radius
    pairs = (
        frame.loc[located, ["code_commune", "lon", "lat"]]
        .rename_axis("row")
        .reset_index()
        .merge(units, left_on="code_commune", right_on="commune")
    )
    pairs["crs"] = pairs["departement"].astype(str).map(metric_crs)
    pairs["gap"] = np.inf
    for crs, group in pairs.groupby("crs"):
        to_metric = _transformer("EPSG:4326", crs)
        x, y = to_metric.transform(group["lon"].to_numpy(), group["lat"].to_numpy())
        gap = np.hypot(np.asarray(x) - group["x"], np.asarray(y) - group["y"]) - group["rayon"]
        pairs.loc[group.index, "gap"] = np.where(np.isfinite(gap), gap, np.inf)
    nearest = pairs.groupby("row")["gap"].min()
    suspicious = []
    for i in nearest.index[nearest > tolerance]:
        code = str(frame.at[i, "code_commune"])
        refs = units[units["commune"] == code]
        suspicious.append((i, code, metric_crs(str(refs["departement"].iloc[0])), refs))
    if not suspicious:
        return
    outlines = _exact_outlines({code for _, code, _, _ in suspicious})
    said = 0
    for i, code, crs, refs in suspicious:
        outline = outlines.get(code)
        if outline is None:
            continue
        lon, lat = float(frame.at[i, "lon"]), float(frame.at[i, "lat"])
        outside = _distance_outside(lon, lat, outline, crs)
        if outside <= tolerance:
            continue
        fixed = None
        for other_lon, other_lat, what in _readings(lon, lat, frame.at[i, _RAW], crs):
            if _distance_outside(other_lon, other_lat, outline, crs) <= tolerance:
                fixed = (other_lon, other_lat, what)
                break
        if fixed is None:
            point = refs.iloc[0]
            new_lon, new_lat = _to_lonlat(float(point["x"]), float(point["y"]), crs)
            action = "placé dans sa commune"
            fixed = (new_lon, new_lat, "")
        else:
            action = f"position corrigée ({fixed[2]})"
        frame.at[i, "lon"], frame.at[i, "lat"] = fixed[0], fixed[1]
        said += 1
        if said <= _MAX_PROBLEMS:
            distance = (
                _format.kilometres(outside) if math.isfinite(outside) else "une distance absurde"
            )
            log.warning(
                "porteurs %s, ligne %s « %s » : position à %s de sa commune %s : %s",
                path.name,
                frame.at[i, _LINE] or "?",
                str(frame.at[i, "nom"])[:60],
                distance,
                code,
                action,
            )
    if said > _MAX_PROBLEMS:
        log.warning(
            "porteurs %s : %d positions loin de leur commune en tout (les %d premières citées)",
            path.name,
            said,
            _MAX_PROBLEMS,
        )


# ------------------------------------------------------------------------------------------
# porteurs near a zone or a proposal
# ------------------------------------------------------------------------------------------
def porteurs_near(
    porteurs: pd.DataFrame,
    geometry: BaseGeometry | None,
    *,
    communes: Iterable[str],
    departement: str,
    radius: float | None = None,
) -> pd.DataFrame:
    """Porteurs inside an area or within ``radius`` metres of it.

    Parameters
    ----------
    porteurs
        Output of :func:`read_porteurs`.
    geometry
        The area (WGS84), or ``None`` when unknown (then only ``communes`` count).
    communes
        INSEE codes of the communes of the area (a porteur without position is in the area
        when its commune is).
    departement
        Département of the area (chooses the metric projection for distances).
    radius
        Metres (default ``rayon_m`` of ``config/porteurs.toml``).

    Returns
    -------
    pandas.DataFrame
        The porteurs kept with ``dans_zone`` (bool) and ``distance_m`` (0 inside), ordered
        inside first, then by distance and name.
    """
    import geopandas as gpd

    radius = radius_m() if radius is None else radius
    codes = set(communes)
    out = porteurs.copy()
    inside_commune = out["code_commune"].isin(codes).to_numpy()
    distance = np.full(len(out), np.inf)
    located = out["lon"].notna().to_numpy() & out["lat"].notna().to_numpy()
    if geometry is not None and located.any():
        crs = metric_crs(departement)
        area = gpd.GeoSeries([geometry], crs="EPSG:4326").to_crs(crs).iloc[0]
        points = gpd.GeoSeries(
            gpd.points_from_xy(out.loc[located, "lon"], out.loc[located, "lat"]),
            crs="EPSG:4326",
        ).to_crs(crs)
        distance[located] = points.distance(area).to_numpy()
    distance[inside_commune & ~np.isfinite(distance)] = 0.0
    out["dans_zone"] = inside_commune | (distance == 0)
    out["distance_m"] = np.where(out["dans_zone"], 0.0, distance)
    near = out[out["dans_zone"] | (out["distance_m"] <= radius)]
    return near.sort_values(["dans_zone", "distance_m", "nom"], ascending=[False, True, True])


def proposals_of(
    analysis: Analysis,
    porteurs: pd.DataFrame | None = None,
    *,
    floor: int | None = None,
    ceiling: int | None = None,
    funding_scale: str | None = None,
) -> pd.DataFrame:
    """Return the proposals of an analysis, with their porteur column when porteurs are given.

    The one door of the documents (the ``suggestions`` command, the report, the fiches, the plan
    d'action, the maps) to the proposals: :func:`couverture.suggest.suggest` with its options,
    then :func:`name_porteurs` (``porteur_potentiel``) when ``porteurs`` is given. It lives here,
    in the features layer, because naming porteurs is a feature: :mod:`couverture.analysis`,
    below the features, may not import it.

    Parameters
    ----------
    analysis
        An open :class:`~couverture.analysis.Analysis`.
    porteurs
        Output of :func:`read_porteurs`; ``None``: no ``porteur_potentiel`` column.
    floor, ceiling, funding_scale
        The options of :func:`couverture.suggest.suggest`.
    """
    frame = suggest(analysis, floor=floor, ceiling=ceiling, funding_scale=funding_scale)
    return frame if porteurs is None else name_porteurs(analysis, frame, porteurs)


def name_porteurs(
    analysis: Analysis, proposals: pd.DataFrame, porteurs: pd.DataFrame
) -> pd.DataFrame:
    """Add ``porteur_potentiel`` to the proposals.

    For each creation, the porteur inside its communes in the most populous commune (the
    largest), else the nearest within the radius (French text: name, commune, distance); empty
    for the other options. A porteur is named for one project only: the recommended creations
    are served in priority order, a later one gets the next porteur or none.

    Parameters
    ----------
    analysis
        The analysis the proposals come from (communes, geometries).
    proposals
        Rows of :func:`couverture.suggest.suggest`.
    porteurs
        Output of :func:`read_porteurs`.
    """
    out = proposals.copy()
    out["porteur_potentiel"] = ""
    creations = out[out["option"] == "creation"]
    if creations.empty or porteurs.empty:
        return out
    table = analysis.unit_table().set_index("code")
    names = table["nom"].to_dict()
    population = table["population"].to_dict()
    commune_of = table["commune"].to_dict()
    geoms = proposal_geometries(analysis, creations)
    # one porteur per project: recommended creations first (in priority order), each taking the
    # best porteur not named for another zone's project; an alternative may name its zone's own
    taken: dict[object, str] = {}
    recommended = creations["recommandee"].eq("oui")
    order = [*creations.index[recommended], *creations.index[~recommended]]
    units_of = unit_codes(creations["communes"])
    for idx in order:
        row = creations.loc[idx]
        units = units_of[idx]
        codes = {commune_of.get(c, c) for c in units} | set(units)
        near = porteurs_near(
            porteurs, geoms.geometry.loc[idx], communes=codes, departement=str(row["departement"])
        )
        zone = str(row.get("zone_id", idx))
        near = near[[taken.get(i, zone) == zone for i in near.index]]
        if near.empty:
            continue
        inside = near[near["dans_zone"]]
        if not inside.empty:
            best = (
                inside.assign(_pop=inside["code_commune"].map(lambda c: population.get(c, 0)))
                .sort_values(["_pop", "nom"], ascending=[False, True])
                .iloc[0]
            )
            where = names.get(best["code_commune"], best["code_commune"])
            out.loc[idx, "porteur_potentiel"] = f"{best['nom']} ({where})"
            taken.setdefault(best.name, zone)
        else:
            best = near.iloc[0]
            taken.setdefault(best.name, zone)
            where = names.get(best["code_commune"], best["code_commune"])
            out.loc[idx, "porteur_potentiel"] = (
                f"{best['nom']} ({where}, à {_format.kilometres(best['distance_m'])})"
            )
    return out
