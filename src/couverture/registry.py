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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from couverture import _cache
from couverture._errors import ArgumentError
from couverture._registry_common import (
    _Body,
    _compact,
    collector_paused,
    registry_error,
    with_sheets,
)
from couverture._registry_cpts import (
    EXCLUDED,
    _check_share_sums,
    _cpts_ids,
    _cpts_table,
    _dates,
    _deduplicate,
    _default_stage,
    _shares,
    _stages,
    is_fictif,
    normalise_stage,
)
from couverture._registry_date import column_date, title_date
from couverture._registry_read import Table, explain_empty_cells, read_bytes, read_table
from couverture._registry_units import _Units, commune_members, row_departements

if TYPE_CHECKING:
    import geopandas as gpd

#: Extensions of a layer of CPTS perimeters (read by :mod:`couverture._registry_polygons`)
POLYGON_SUFFIXES = frozenset({".geojson", ".json", ".gpkg", ".shp"})

__all__ = [
    "EXCLUDED",
    "Registry",
    "is_polygon_layer",
    "normalise_stage",
    "read_registry",
]


@dataclass(frozen=True)
class Registry:
    """A CPTS registry read and normalised.

    Attributes
    ----------
    path
        The registry file.
    digest
        The fingerprint of the file (``couverture._cache.digest``: sha256 of its bytes).
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
    date
        The date the registry states (ISO), from a date column (``date_extraction``…) or a
        title row above its header; ``None`` when it states none (see
        :func:`couverture._registry_date.resolve`).
    date_detail
        Where ``date`` was read (« colonne date_extraction », « ligne de titre »).
    """

    path: Path
    digest: str
    cpts: pd.DataFrame
    membership: pd.DataFrame
    anomalies: pd.DataFrame
    fictif: bool
    date: str | None = None
    date_detail: str = ""


def is_polygon_layer(path: Path | str) -> bool:
    """Whether ``path`` names a polygon layer (by its extension) rather than a commune list."""
    return Path(path).suffix.lower() in POLYGON_SUFFIXES


def read_registry(
    path: Path | str,
    *,
    units: pd.DataFrame,
    old_codes: pd.DataFrame,
    default_stage: str | None = None,
    unit_geometries: gpd.GeoDataFrame | None = None,
) -> Registry:
    """Read a CPTS registry and normalise it.

    A commune list (CSV or XLSX, one row per CPTS × commune) or a layer of CPTS perimeters
    (polygons).

    Parameters
    ----------
    path
        CSV (``,`` or ``;`` or Excel's ``sep=`` line, UTF-8 with or without BOM, or
        Windows-1252, a few Windows-1252 lines in a UTF-8 file) or XLSX (every sheet whose
        header is recognised, with the same columns). Title rows may precede the header
        (among the first 10 rows); line numbers stay the file's (and name the sheet when
        several are read). A regular file only (no FIFO, device or standard input).
        Or a polygon layer (``.geojson``, ``.json``, ``.gpkg``, ``.shp``; any CRS) with a
        CPTS id or name column: see :mod:`couverture._registry_polygons` for how each unit's
        covered area decides its membership.
    units
        Analysis units (``code``, ``nom``, ``type``, ``commune``, ``departement``).
    old_codes
        ``code_ancien → code_actuel`` (:func:`couverture.sources.load_old_codes`).
    default_stage
        Stage of the CPTS whose stage is missing (no stage column, or blank cells): a stage
        code or wording. Required when some stage is missing.
    unit_geometries
        Unit geometries (``code`` index or column, any CRS): required for a polygon layer,
        unused otherwise.

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
        ``default_stage`` is not a stage; a polygon layer without ``unit_geometries``.
    """
    with collector_paused():
        return _read(Path(path), units, old_codes, default_stage, unit_geometries)


def _read(
    path: Path,
    units: pd.DataFrame,
    old_codes: pd.DataFrame,
    default_stage: str | None,
    unit_geometries: gpd.GeoDataFrame | None,
) -> Registry:
    """Read and normalise a registry (see :func:`read_registry`)."""
    default = _default_stage(default_stage)
    data = read_bytes(path)
    # the registry's fingerprint, by the one recipe (same as Analysis.registry_digest)
    digest = _cache.digest_bytes(data)
    if is_polygon_layer(path):
        # a layer of perimeters: GeoPandas, Shapely and pyogrio are imported for it only
        from couverture._registry_polygons import polygon_table

        if unit_geometries is None:
            raise ArgumentError(
                f"{path.name} : une couche de périmètres se lit avec les géométries des "
                "communes (unit_geometries=…)"
            )
        table = polygon_table(
            path, units=units, unit_geometries=unit_geometries, stage_required=default is None
        )
    else:
        table = read_table(path, data, stage_required=default is None)
    body = _Body(
        table.header, table.columns, table.rows, table.lines, default, default_stage, table.sheets
    )
    for note in table.notes:
        body.notes.add(*note)
    members = _parse(body, _Units(units, old_codes))
    if body.problems:
        # (a polygon's rows share its line: one problem each)
        problems = sorted(dict.fromkeys(body.problems), key=lambda p: (p[0] or 0, p[1]))
        problems = explain_empty_cells(data, table, problems)
        if not table.sheets:
            raise registry_error(path, problems)
        # lines named by sheet: "feuille « 29 », ligne 2"
        raise registry_error(path, [(body.place(n) if n else None, v, m) for n, v, m in problems])
    if not body.cpts:
        raise registry_error(
            path, [(None, "", "aucune CPTS retenue : toutes sont abandonnées ou dissoutes")]
        )
    return _assemble(path, digest, table, body, members)


def _parse(body: _Body, units: _Units) -> dict[str, list[Any]]:
    """Parse the body column-wise: CPTS, stages, dates, shares; return the membership columns."""
    ids = _cpts_ids(body, lambda: row_departements(body, units))
    skip = _stages(body, ids)
    _dates(body, ids)
    return commune_members(body, units, ids, _shares(body), skip)


def _assemble(
    path: Path, digest: str, table: Table, body: _Body, members: dict[str, list[Any]]
) -> Registry:
    """Return the registry tables from a parsed body.

    (duplicates and share sums noted, log written).
    """
    notes = body.notes
    if "stade" not in table.columns:
        notes.add(
            table.header_line,
            "stade",
            "",
            f"colonne de stade absente : stade par défaut « {body.default} » pour toutes les CPTS",
            "stade par défaut appliqué",
        )
    membership = _deduplicate(members, notes, body.label)
    membership = _check_share_sums(membership, notes, body.header_of("part") or "part", body.label)
    fictif = path.name.lower().startswith("registre_demo") or is_fictif(body)
    cpts = _cpts_table(
        body.cpts, table.columns, notes, body.header_of("stade") or "stade", body.label
    )
    notes.log(path)
    stated = _stated_date(table, body)
    return Registry(
        path=path,
        digest=digest,
        cpts=cpts,
        membership=with_sheets(membership, table.sheets),
        anomalies=notes.frame(),
        fictif=fictif,
        date=stated[0] if stated else None,
        date_detail=stated[1] if stated else "",
    )


def extra_columns(path: Path | str, roles: dict[str, list[str]]) -> pd.DataFrame | None:
    """Columns of a registry file beyond the ones the registry reads (adhesions of each CPTS).

    Parameters
    ----------
    path
        The registry (CSV or XLSX; a polygon layer has none: ``None``).
    roles
        Role → usual names of its column (case, accents and punctuation ignored).

    Returns
    -------
    pandas.DataFrame or None
        One row per body line: ``ligne`` (and ``feuille`` when several sheets were read, as in
        :attr:`Registry.membership`) and one column of raw text per role found; ``None`` when
        the file has none of them.
    """
    path = Path(path)
    if is_polygon_layer(path):
        return None
    table = read_table(path, read_bytes(path), stage_required=False)
    keys = [_compact(h) for h in table.header]
    found = {}
    for role, names in roles.items():
        wanted = {_compact(n) for n in names}
        positions = [i for i, k in enumerate(keys) if k in wanted]
        if positions:
            found[role] = positions[0]
    if not found:
        return None
    frame = pd.DataFrame({"ligne": table.lines})
    for role, position in found.items():
        frame[role] = [row[position] if position < len(row) else "" for row in table.rows]
    return with_sheets(frame, table.sheets)


def _stated_date(table: Table, body: _Body) -> tuple[str, str] | None:
    """Return the date the registry states: its date column, else a title row above its header."""
    if "date_registre" in body.first and (found := column_date(body.col("date_registre"))):
        return found, f"colonne {body.header_of('date_registre')}"
    if found := title_date(table.titles):
        return found, "ligne de titre"
    return None
