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

The rows then go through the commune-list reader, so a layer gives the same
:class:`~couverture.registry.Registry` as the equivalent commune list. Line numbers are the
feature's rank + 1 (its line in the attribute table exported as CSV, header = line 1).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from couverture import _format
from couverture._config import metric_crs, sources, stage_rank
from couverture._registry_common import _compact, log, printable, registry_error
from couverture._registry_cpts import _stage_of
from couverture._registry_read import Note, Table, _cell_text, _layout_problems, _match_columns

if TYPE_CHECKING:
    import geopandas as gpd

POLYGON_SUFFIXES = frozenset({".geojson", ".json", ".gpkg", ".shp"})
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


def is_polygon_layer(path: Path | str) -> bool:
    """Whether ``path`` names a polygon layer (by its extension) rather than a commune list."""
    return Path(path).suffix.lower() in POLYGON_SUFFIXES


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
    names = [str(c) for c in layer.columns if c != layer.geometry.name]
    columns = {r: p for r, p in _match_columns(names).items() if r in _ATTRIBUTE_ROLES}
    header = [names[p[0]] for p in columns.values()]
    header += [_CODE_COLUMN, _SHARE_COLUMN]
    columns = _match_columns(header)
    problems = _layout_problems(names, columns, True, stage_required=stage_required)
    if problems:
        raise registry_error(path, problems)
    features = _features(path, layer, header[:-2])
    coverage = _coverage(features, _unit_geometries(unit_geometries, units))
    rows, lines, notes = _assign(features, coverage, units, limits or thresholds())
    return Table(header, 1, columns, rows, lines, [], notes, [])


def _read_layer(path: Path) -> gpd.GeoDataFrame:
    import geopandas as gpd
    import pyogrio

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
    return layer


def _layer_name(path: Path) -> str | None:
    """Return the layer holding the perimeters.

    The only one, or the only polygon layer with a CPTS id or name column (a GeoPackage may hold
    several layers).
    """
    import pyogrio

    layers = [(str(name), str(kind)) for name, kind in pyogrio.list_layers(path)]
    if len(layers) <= 1:
        return None
    found = []
    for name, kind in layers:
        fields = [str(f) for f in pyogrio.read_info(path, layer=name)["fields"]]
        if "polygon" in kind.lower() and {"cpts_id", "cpts_nom"} & set(_match_columns(fields)):
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
    import shapely

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
    import shapely

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
    import geopandas as gpd
    import shapely

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


def _assign(
    features: _Features, coverage: pd.DataFrame, units: pd.DataFrame, limits: Thresholds
) -> tuple[list[list[str]], list[int], list[Note]]:
    """Rows (attributes, code, part) of the memberships, their lines and the anomalies."""
    name = dict(zip(units["code"].astype(str), units["nom"].astype(str), strict=True))
    rows: list[tuple[int, str, list[str]]] = []
    notes: list[Note] = []
    for code, group in coverage.groupby("code", sort=True):
        shares = dict(zip(group["key"], group["share"], strict=True))
        whole = [k for k, s in shares.items() if s >= limits.majority]
        strong = [k for k, s in shares.items() if s >= limits.shared]
        shared = not whole and len(strong) > 1
        shared = shared and sum(shares[k] for k in strong) >= limits.majority
        members = whole or (strong if shared else [])
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
    return [r[2] for r in rows], [r[0] for r in rows], notes


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
