"""CPTS perimeters as polygons against the commune list (``make bench-perimetres``).

The real PACA registry (``../shared/data/cpts_reels``, January 2026; ``--stade-par-defaut aci``)
and the national demo registry are turned into polygon layers: each CPTS's communes dissolved,
then simplified by 200, 500 and 1,000 m (Lambert-93), written as GeoJSON (WGS84), GeoPackage
(Lambert-93) and shapefile. Each layer is read back as a registry and compared with the commune
list: the share of units whose set of CPTS is the same (the issue's target: ≥ 99 %), the number
of anomalies (partial coverages listed by ``verifier``) and the read time. Says so and skips the
PACA part when the real registry is absent; another copy can be given as first argument.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from couverture import settings
from couverture.registry import Registry, read_registry
from couverture.sources import load_old_codes

REGISTRY = settings.PROJECT_ROOT.parent / "shared" / "data" / "cpts_reels" / "cpts_paca_2026-01.csv"
PACA = ("04", "05", "06", "13", "83", "84")
FORMATS = ((".geojson", "GeoJSON", "EPSG:4326"), (".gpkg", "GPKG", "EPSG:2154"))
SHAPEFILE = (".shp", "ESRI Shapefile", "EPSG:2154")


def unit_geometries() -> gpd.GeoDataFrame:
    raw = pd.read_parquet(settings.UNITS_PATH, columns=["code", "geometry"]).dropna()
    geoms = shapely.from_wkb(raw["geometry"].map(bytes).to_numpy())
    frame = gpd.GeoDataFrame({"code": raw["code"]}, geometry=geoms, crs=settings.CRS_WEB)
    return frame.set_index("code")


def layer_of(registry: Registry, geoms: gpd.GeoDataFrame, tolerance: float) -> gpd.GeoDataFrame:
    """One polygon per CPTS: its communes dissolved, simplified by ``tolerance`` metres."""
    cpts = registry.cpts[["nom", "stade_libelle"]].rename(
        columns={"nom": "nom_cpts", "stade_libelle": "stade"}
    )
    m = registry.membership[["cpts_id", "code"]]
    m = m[m["code"].isin(geoms.index)].merge(cpts, left_on="cpts_id", right_index=True)
    g = gpd.GeoDataFrame(m, geometry=geoms.geometry.reindex(m["code"]).to_numpy(), crs=geoms.crs)
    layer = g.to_crs(settings.CRS_METRIC).dissolve(
        by=["cpts_id", "nom_cpts", "stade"], dropna=False
    )
    layer = layer.reset_index()[["cpts_id", "nom_cpts", "stade", "geometry"]]
    layer["geometry"] = layer.geometry.simplify(tolerance)
    return layer


def agreement(a: Registry, b: Registry, codes: list[str]) -> tuple[int, int]:
    sets_a = a.membership.groupby("code")["cpts_id"].agg(frozenset)
    sets_b = b.membership.groupby("code")["cpts_id"].agg(frozenset)
    empty: frozenset[str] = frozenset()
    same = sum(sets_a.get(c, empty) == sets_b.get(c, empty) for c in codes)
    return same, len(codes)


def compare(label: str, reference: Registry, codes: list[str], tolerances, formats, **opts) -> None:
    geoms, units, old = opts["geoms"], opts["units"], opts["old"]
    with tempfile.TemporaryDirectory() as tmp:
        for tolerance in tolerances:
            layer = layer_of(reference, geoms, tolerance)
            for suffix, driver, crs in formats:
                path = Path(tmp) / f"{label}_{tolerance}{suffix}"
                layer.to_crs(crs).to_file(path, driver=driver)
                start = time.perf_counter()
                got = read_registry(
                    path,
                    units=units,
                    old_codes=old,
                    default_stage=opts.get("default_stage"),
                    unit_geometries=geoms,
                )
                seconds = time.perf_counter() - start
                same, n = agreement(reference, got, codes)
                print(
                    f"{label:<6} {tolerance:>6} m  {suffix:<8} {len(layer):>5} CPTS  "
                    f"{same:>6}/{n:<6} {100 * same / n:7.2f} %  "
                    f"{len(got.anomalies):>5} anomalies  {seconds:5.1f} s",
                    flush=True,
                )


def main() -> None:
    logging.disable(logging.WARNING)
    registry = Path(sys.argv[1]) if len(sys.argv) > 1 else REGISTRY
    raw = pd.read_parquet(settings.UNITS_PATH).drop(columns="geometry")
    opts = {"geoms": unit_geometries(), "units": raw, "old": load_old_codes()}
    print("registre  simpl.  format      CPTS   unités identiques   anomalies  lecture")
    if registry.exists():
        paca = read_registry(registry, units=raw, old_codes=opts["old"], default_stage="aci")
        codes = list(raw.loc[raw["departement"].isin(PACA), "code"])
        compare(
            "PACA",
            paca,
            codes,
            (200, 500, 1000),
            (*FORMATS, SHAPEFILE),
            default_stage="aci",
            **opts,
        )
    else:
        print(f"registre réel absent ({registry}) : comparaison PACA sautée")
    demo = read_registry(settings.DEMO_REGISTRY_PATH, units=raw, old_codes=opts["old"])
    compare("démo", demo, list(raw["code"]), (200,), FORMATS[1:], **opts)


if __name__ == "__main__":
    main()
