"""CPTS perimeters as polygons → the rows of a commune-list registry.

Private to :mod:`couverture.registry`. A layer (GeoJSON, GeoPackage, shapefile; any CRS) has one
feature per CPTS (or several, dissolved by id or name) with a name or id column and, optionally,
a stage column, recognised with the aliases of ``config/colonnes.csv``. Each unit's area covered
by each CPTS decides its membership (thresholds in ``config/sources.toml`` ``[perimetres]``):

- a CPTS covering at least ``part_majoritaire`` of the unit's area takes it whole;
- otherwise, two CPTS or more each covering at least ``part_partagee`` and together at least
  ``part_majoritaire`` share it: one membership each, ``part`` = the share of area covered;
- any other covered share from ``part_negligeable`` up (a sliver of a neighbour's perimeter, a
  gap in one's own) is an anomaly naming the unit, the CPTS and the share; below it, the edge
  noise of digitising and simplification is ignored.

A layer may also name its CPTS ``nom``, ``libelle``, ``name``… (``config/colonnes_perimetres.csv``:
each feature is a CPTS) or with a shapefile's names cut to 10 characters (``libelle_cp``); the
columns used are logged. A feature that takes no unit is named with the reason (at sea or off
any territory, too small or off its place); a feature or a whole layer with longitude and
latitude swapped is put right, and Lambert 93 metres in a layer declared in degrees (a GeoJSON
without a CRS) are read as such — each said in a warning.

The rows then go through the commune-list reader, so a layer gives the same
:class:`~couverture.registry.Registry` as the equivalent commune list. Line numbers are the
feature's rank + 1 (its line in the attribute table exported as CSV, header = line 1).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from couverture import _format
from couverture._config import column_aliases, metric_crs, sources, stage_rank
from couverture._registry_common import _compact, log, printable, registry_error
from couverture._registry_cpts import _stage_of
from couverture._registry_read import (
    Note,
    Table,
    _cell_text,
    _column_aliases,
    _layout_problems,
    _match_columns,
)

_ATTRIBUTE_ROLES = (
    "cpts_id",
    "cpts_nom",
    "stade",
    "date_lettre_intention",
    "date_projet_sante",
    "date_aci",
    "fictif",
)
_CODE_COLUMN, _SHARE_COLUMN = "code_insee", "part"
_WHERE = "périmètre"  # the anomalies' column: the polygon, not a cell


@dataclass(frozen=True)
class Thresholds:
    """Shares of a unit's area deciding its membership (see the module docstring)."""

    majority: float
    shared: float
    negligible: float


def thresholds() -> Thresholds:
    """Return the thresholds of ``config/sources.toml`` ``[perimetres]``."""
    conf = sources()["perimetres"]
    return Thresholds(
        float(conf["part_majoritaire"]),
        float(conf["part_partagee"]),
        float(conf["part_negligeable"]),
    )


def polygon_table(
    path: Path,
    *,
    units: pd.DataFrame,
    unit_geometries: gpd.GeoDataFrame,
    stage_required: bool,
    limits: Thresholds | None = None,
) -> Table:
    """Return the registry rows (one per CPTS × unit) of a polygon layer, with its anomalies."""
    layer = _read_layer(path)
    layer = _layer_columns(path, layer)
    names = [str(c) for c in layer.columns if c != layer.geometry.name]
    columns = {r: p for r, p in _match_columns(names).items() if r in _ATTRIBUTE_ROLES}
    header = [names[p[0]] for p in columns.values()]
    header += [_CODE_COLUMN, _SHARE_COLUMN]
    columns = _match_columns(header)
    problems = _layout_problems(names, columns, True, stage_required=stage_required)
    if problems:
        raise registry_error(path, problems)
    features = _features(path, layer, header[:-2])
    located = _unit_geometries(unit_geometries, units)
    limits = limits or thresholds()
    coverage = _coverage(features, located)
    coverage, notes = _swapped_axes(path, features, coverage, located, limits)
    rows, lines, kept, assigned = _assign(features, coverage, units, limits)
    notes += assigned
    dropped = _dropped(features, coverage, kept, units, limits)
    if not rows:  # not "abandoned or dissolved": say why each feature gives no CPTS
        raise registry_error(
            path,
            [(None, "", "aucune entité ne rattache de commune")]
            + [(line, "", action) for line, _, _, action, _ in dropped],
        )
    for line, _, _, action, _ in dropped:
        log.warning("%s, ligne %d : %s", path.name, line, printable(action))
    return Table(header, 1, columns, rows, lines, [], notes + dropped, [])


@functools.cache
def _layer_aliases() -> dict[str, str]:
    """Names a CPTS column has in a layer of perimeters only (``nom``, ``libelle``, ``name``…).

    In a layer each feature *is* a CPTS: its plain name column names the CPTS
    (``config/colonnes_perimetres.csv``, loose key → role).
    """
    return {_compact(alias): role for role, alias in column_aliases("colonnes_perimetres.csv")}


_CANONICAL = {"cpts_id": "cpts_id", "cpts_nom": "nom_cpts", "stade": "stade"}
_DBF_WIDTH = 10  # a shapefile's attribute names are cut to 10 characters


def _truncated_role(name: str) -> str | None:
    """Return the role of a column name cut by the shapefile format (``libelle_cp``), else None.

    A 10-character name that starts exactly one role's aliases (roles of the layer's
    attributes only).
    """
    if len(name) != _DBF_WIDTH:
        return None
    key = _compact(name)
    if not key:
        return None
    roles = {role for alias, (role, _) in _column_aliases().items() if alias.startswith(key)}
    roles |= {role for alias, role in _layer_aliases().items() if alias.startswith(key)}
    roles &= set(_ATTRIBUTE_ROLES)
    return roles.pop() if len(roles) == 1 else None


def _layer_columns(path: Path, layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rename the layer's CPTS and stage columns that only a layer uses (or cut) to their role.

    ``nom``, ``NOM``, ``libelle``, ``name`` name the CPTS; a shapefile's ``libelle_cp`` or
    ``stade_d_av`` are recognised by the start of an alias. Says which columns are used.
    """
    names = [str(c) for c in layer.columns if c != layer.geometry.name]
    found = {r: names[p[0]] for r, p in _match_columns(names).items() if r in _ATTRIBUTE_ROLES}
    rename: dict[str, str] = {}
    for name in names:
        if name in found.values():
            continue
        role = _layer_aliases().get(_compact(name)) or _truncated_role(name)
        if role is None or role in found or role not in _CANONICAL:
            continue
        if _CANONICAL[role] in names:
            continue
        found[role] = name
        rename[name] = _CANONICAL[role]
    used = [
        f"{label} : colonne « {printable(found[role])} »"
        for role, label in (
            ("cpts_id", "identifiant"),
            ("cpts_nom", "nom de CPTS"),
            ("stade", "stade"),
        )
        if role in found
    ]
    if used:
        log.info("%s : %s", path.name, " ; ".join(used))
    return layer.rename(columns=rename) if rename else layer


def _read_layer(path: Path) -> gpd.GeoDataFrame:
    errors = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError)
    try:
        layer = gpd.read_file(path, engine="pyogrio", layer=_layer_name(path))
    except errors as exc:
        message = f"couche illisible ({printable(str(exc))})"
        raise registry_error(path, [(None, "", message)]) from exc
    if layer.crs is None:
        raise registry_error(
            path, [(None, "", "système de coordonnées absent (fichier .prj ou CRS de la couche)")]
        )
    if layer.empty:
        raise registry_error(path, [(None, "", "couche vide : aucune entité")])
    return _degrees_checked(path, layer)


# Lambert 93's extent (metropolitan France and its sea), EPSG:2154 metres
_LAMBERT93 = (-400_000.0, 6_000_000.0, 1_400_000.0, 7_200_000.0)


def _degrees_checked(path: Path, layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Check a layer said in degrees whose coordinates cannot be degrees.

    A GeoJSON without a CRS is read as longitude/latitude: Lambert 93 metres in it are read in
    Lambert 93, with a warning; any other out-of-range coordinates are refused.
    """
    if not layer.crs.is_geographic:
        return layer
    xmin, ymin, xmax, ymax = (float(v) for v in layer.total_bounds)
    if xmin >= -180 and xmax <= 180 and ymin >= -90 and ymax <= 90:
        return layer
    lx0, ly0, lx1, ly1 = _LAMBERT93
    if lx0 <= xmin and xmax <= lx1 and ly0 <= ymin and ymax <= ly1:
        log.warning(
            "%s : coordonnées en mètres (Lambert 93, EPSG:2154) dans une couche déclarée en "
            "longitude/latitude (GeoJSON sans système de coordonnées) : lues en Lambert 93 ; "
            "déclarer le CRS du fichier ou l'exporter en WGS84",
            path.name,
        )
        return layer.set_crs("EPSG:2154", allow_override=True)
    x0, x1, y0, y1 = (_format.integer(v) for v in (xmin, xmax, ymin, ymax))
    bounds = f"x de {x0} à {x1}, y de {y0} à {y1}"
    raise registry_error(
        path,
        [
            (
                None,
                "",
                f"coordonnées hors des longitudes et latitudes possibles ({bounds}) dans une "
                "couche déclarée en degrés : système de coordonnées du fichier à déclarer "
                "(GeoJSON en WGS84, ou fichier .prj)",
            )
        ],
    )


def _layer_name(path: Path) -> str | None:
    """Return the layer holding the perimeters.

    The only one, or the only polygon layer with a CPTS id or name column (a GeoPackage may hold
    several layers).
    """
    layers = [(str(name), str(kind)) for name, kind in pyogrio.list_layers(path)]
    if len(layers) <= 1:
        return None
    found = []
    for name, kind in layers:
        fields = [str(f) for f in pyogrio.read_info(path, layer=name)["fields"]]
        named = {"cpts_id", "cpts_nom"} & set(_match_columns(fields))
        named |= {
            r for f in fields if (r := _layer_aliases().get(_compact(f)) or _truncated_role(f))
        }
        if "polygon" in kind.lower() and {"cpts_id", "cpts_nom"} & named:
            found.append(name)
    listed = printable(", ".join(f"« {name} »" for name, _ in layers))
    if len(found) != 1:
        message = (
            f"{'aucune' if not found else 'plusieurs'} couche(s) de polygones avec une colonne "
            f"de nom ou d'identifiant de CPTS parmi les couches {listed} ; garder une seule "
            "couche de périmètres"
        )
        raise registry_error(path, [(None, "", message)])
    log.info("%s : couche « %s » lue (couches : %s)", path.name, printable(found[0]), listed)
    return found[0]


@dataclass
class _Features:
    """The layer's CPTS.

    One dissolved geometry (WGS84) per key, and the attributes and line of the feature that
    speaks for it (the most advanced stage, else the first).
    """

    keys: list[str]
    geometry: Any  # numpy array of shapely geometries, WGS84, one per key
    attributes: dict[str, list[str]]
    line: dict[str, int]
    label: dict[str, str]


def _features(path: Path, layer: gpd.GeoDataFrame, attribute_columns: list[str]) -> _Features:
    geoms = layer.geometry.to_crs("EPSG:4326").to_numpy()
    table = layer[attribute_columns].astype(object).where(layer[attribute_columns].notna(), None)
    values = [[_cell_text(v) for v in row] for row in table.to_numpy()]  # null → ""
    roles = _match_columns(attribute_columns)
    key_at = roles["cpts_id"][0] if "cpts_id" in roles else roles["cpts_nom"][0]
    stage_at = roles["stade"][0] if "stade" in roles else None
    problems: list[tuple[int | None, str, str]] = []
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (row, geom) in enumerate(zip(values, geoms, strict=True)):
        key = _compact(row[key_at]) if "cpts_id" not in roles else row[key_at].strip()
        polygonal = _polygonal(geom)
        if not row[key_at]:
            problems.append((i + 2, "", "entité sans identifiant ni nom de CPTS"))
        elif polygonal is None:
            problems.append((i + 2, row[key_at], "entité sans géométrie surfacique (polygone)"))
        else:
            geoms[i] = polygonal
            groups[key].append(i)
    if problems:
        raise registry_error(path, problems)

    def rank(i: int) -> tuple[int, int]:
        stage = _stage_of(values[i][stage_at]) if stage_at is not None else None
        return (stage_rank(stage), -i)

    keys = list(groups)
    speaker = {k: max(groups[k], key=rank) for k in keys}
    merged = [
        geoms[groups[k][0]] if len(groups[k]) == 1 else shapely.union_all(geoms[groups[k]])
        for k in keys
    ]
    attributes = {k: values[speaker[k]] for k in keys}
    return _Features(
        keys=keys,
        geometry=np.array(merged, dtype=object),
        attributes=attributes,
        line={k: speaker[k] + 2 for k in keys},
        label={k: _label(values[speaker[k]], roles) for k in keys},
    )


def _label(row: list[str], roles: dict[str, list[int]]) -> str:
    """How anomalies name a CPTS: its name, and its id when there is one."""
    name = row[roles["cpts_nom"][0]] if "cpts_nom" in roles else ""
    ident = row[roles["cpts_id"][0]] if "cpts_id" in roles else ""
    return f"{name} ({ident})" if name and ident else name or ident


def _polygonal(geom: Any) -> Any:
    """Return the polygonal part of a geometry, made valid.

    ``None`` when there is none.
    """
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _unit_geometries(geometries: gpd.GeoDataFrame, units: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return the unit geometries (``code`` index) with their département.

    Units without one left out.
    """
    frame = geometries.reset_index() if "code" not in geometries.columns else geometries
    frame = frame[["code", frame.geometry.name]]
    if frame.geometry.name != "geometry":
        frame = frame.rename_geometry("geometry")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    dep = dict(zip(units["code"].astype(str), units["departement"].astype(str), strict=True))
    frame = frame[frame["code"].astype(str).isin(dep)].copy()
    frame["departement"] = frame["code"].astype(str).map(dep)
    return frame.set_index("code")


def _coverage(features: _Features, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Share of each unit's area covered by each CPTS (``key``, ``code``, ``share`` > 0).

    Measured in each territory's metric CRS.
    """
    polygons = gpd.GeoSeries(features.geometry, crs="EPSG:4326")
    keys = np.array(features.keys, dtype=object)
    out = []
    for crs, index in units.groupby(units["departement"].map(metric_crs)).groups.items():
        local = units.loc[index]
        near = polygons.intersects(shapely.box(*local.to_crs("EPSG:4326").total_bounds))
        if not near.any():
            continue
        poly = polygons[near].to_crs(crs).to_numpy()
        unit = local.geometry.to_crs(crs).to_numpy()
        ui, pi = gpd.GeoSeries(poly).sindex.query(unit, predicate="intersects")
        shapely.prepare(poly)
        inside = shapely.contains_properly(poly[pi], unit[ui])
        area = shapely.area(unit[ui])
        cut = ~inside
        covered = area.copy()
        covered[cut] = shapely.area(shapely.intersection(unit[ui][cut], poly[pi][cut]))
        share = np.minimum(covered / np.where(area > 0, area, 1.0), 1.0)
        frame = pd.DataFrame(
            {"key": keys[near.to_numpy()][pi], "code": local.index[ui], "share": share}
        )
        out.append(frame[frame["share"] > 0])
    if not out:
        return pd.DataFrame({"key": [], "code": [], "share": []})
    return pd.concat(out, ignore_index=True)


def _swapped_axes(
    path: Path,
    features: _Features,
    coverage: pd.DataFrame,
    units: gpd.GeoDataFrame,
    limits: Thresholds,
) -> tuple[pd.DataFrame, list[Note]]:
    """Correct the features that cover no unit but would with longitude and latitude swapped.

    Each one corrected is noted; the features' geometries and the coverage are updated.
    """
    covered = set(coverage["key"])
    lost = [i for i, k in enumerate(features.keys) if k not in covered]
    if not lost:
        return coverage, []
    swapped = shapely.transform(features.geometry[lost], lambda xy: xy[:, ::-1])
    trial = _Features(
        keys=[features.keys[i] for i in lost],
        geometry=swapped,
        attributes={},
        line={},
        label={},
    )
    found = _coverage(trial, units)
    found = found[found["share"] >= limits.negligible]
    fixed = set(found["key"])
    if not fixed:
        return coverage, []
    notes: list[Note] = []
    for j, i in enumerate(lost):
        key = features.keys[i]
        if key in fixed:
            features.geometry[i] = swapped[j]
            notes.append(
                (
                    features.line[key],
                    _WHERE,
                    features.label[key],
                    f"{features.label[key]} : longitude et latitude inversées dans la géométrie "
                    "(entité hors de tout territoire) : axes remis dans l'ordre",
                    "entités aux longitude et latitude inversées (corrigées)",
                )
            )
    whole = len(fixed) == len(features.keys)
    log.warning(
        "%s : %s : longitude et latitude inversées, corrigées (%s)",
        path.name,
        "toute la couche" if whole else _count(len(fixed), "entité"),
        printable(", ".join(features.label[k] for k in list(fixed)[:10])),
    )
    return pd.concat([coverage, found[found["key"].isin(fixed)]], ignore_index=True), notes


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n > 1 else ''}"


def _dropped(
    features: _Features,
    coverage: pd.DataFrame,
    kept: set[str],
    units: pd.DataFrame,
    limits: Thresholds,
) -> list[Note]:
    """Name each feature that gives no CPTS (no unit taken) and why (one note each)."""
    name = dict(zip(units["code"].astype(str), units["nom"].astype(str), strict=True))
    lost = [i for i, k in enumerate(features.keys) if k not in kept]
    if not lost:
        return []
    metric = gpd.GeoSeries(features.geometry[lost], crs="EPSG:4326").to_crs(
        "EPSG:6933"
    )  # equal-area
    areas = metric.area.to_numpy()
    centroids = gpd.GeoSeries(features.geometry[lost], crs="EPSG:4326").representative_point()
    notes: list[Note] = []
    for j, i in enumerate(lost):
        key = features.keys[i]
        shares = coverage[coverage["key"] == key]
        where = _position(centroids.iloc[j].x, centroids.iloc[j].y)
        if shares.empty:
            why = (
                f"ne recouvre aucune commune (en mer ou hors du territoire, vers {where}) : "
                "entité ignorée"
            )
        else:
            best = shares.loc[shares["share"].idxmax()]
            unit = f"{name.get(str(best['code']), best['code'])} ({best['code']})"
            hectares = _format_hectares(areas[j])
            why = (
                f"trop petite ou décalée ({hectares}) : couvre au plus {_percent(best['share'])} "
                f"de {unit}, sous le seuil de {_percent(limits.majority)} : aucune commune "
                "rattachée, entité ignorée"
            )
        label = features.label[key]
        notes.append(
            (features.line[key], _WHERE, label, f"{label} {why}", "entités sans commune (ignorées)")
        )
    return notes


def _position(lon: float, lat: float) -> str:
    """``49,225 N, 2,850 O``: a position as a French reader writes it."""
    ns = f"{_format.number(abs(lat), decimals=3)} {'N' if lat >= 0 else 'S'}"
    eo = f"{_format.number(abs(lon), decimals=3)} {'E' if lon >= 0 else 'O'}"
    return f"{ns}, {eo}"


def _format_hectares(square_metres: float) -> str:
    hectares = square_metres / 10_000
    return f"{_format.number(hectares, decimals=1 if hectares < 100 else 0)} ha"


def _assign(
    features: _Features, coverage: pd.DataFrame, units: pd.DataFrame, limits: Thresholds
) -> tuple[list[list[str]], list[int], set[str], list[Note]]:
    """Return the memberships' rows (attributes, code, part), lines, CPTS kept and anomalies.

    A CPTS is kept when it is given at least one unit.
    """
    name = dict(zip(units["code"].astype(str), units["nom"].astype(str), strict=True))
    rows: list[tuple[int, str, list[str]]] = []
    notes: list[Note] = []
    kept: set[str] = set()
    for code, group in coverage.groupby("code", sort=True):
        shares = dict(zip(group["key"], group["share"], strict=True))
        whole = [k for k, s in shares.items() if s >= limits.majority]
        strong = [k for k, s in shares.items() if s >= limits.shared]
        shared = not whole and len(strong) > 1
        shared = shared and sum(shares[k] for k in strong) >= limits.majority
        members = whole or (strong if shared else [])
        kept.update(members)
        for key in members:
            part = f"{shares[key]:.4f}" if shared else ""
            rows.append((features.line[key], str(code), [*features.attributes[key], code, part]))
        unit = f"{name.get(str(code), code)} ({code})"
        if shared:
            listed = ", ".join(f"{features.label[k]} {_percent(shares[k])}" for k in strong)
            notes.append(
                (
                    features.line[strong[0]],
                    _WHERE,
                    str(code),
                    f"{unit} partagée entre périmètres : {listed}",
                    "communes partagées entre périmètres",
                )
            )
        for key, share in shares.items():
            if key not in members and limits.negligible <= share < limits.majority:
                notes.append(_partial(features, key, unit, str(code), share, limits))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows], [r[0] for r in rows], kept, notes


def _partial(
    features: _Features, key: str, unit: str, code: str, share: float, limits: Thresholds
) -> Note:
    return (
        features.line[key],
        _WHERE,
        code,
        f"{unit} couverte à {_percent(share)} par {features.label[key]} : sous le seuil de "
        f"{_percent(limits.majority)}, non rattachée",
        "communes couvertes en partie (sous le seuil), non rattachées",
    )


def _percent(share: float) -> str:
    return _format.percent(share * 100, decimals=0)
