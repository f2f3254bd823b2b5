"""The charts of the monthly report: months, départements, the map of a département.

Private part of :mod:`couverture.report`; matplotlib figures drawn without pyplot (no backend
switched, :mod:`couverture._figure`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
from adjustText import adjust_text
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from couverture import _figure as plt
from couverture._config import STAGES, metric_crs, stage
from couverture._report_tables import month_label
from couverture.zones import main_towns, members

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis


def chart_months(months: pd.DataFrame, path: Path) -> None:
    """Line chart of the coverage rate by stage over the months (table ``mois`` rows)."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = list(range(len(months)))
    for s in STAGES:
        ax.plot(x, months[f"taux_{s}"], marker="o", color=stage(s).colour, label=stage(s).label)
    ax.set_xticks(x, [month_label(m) for m in months["mois"]], rotation=30, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("population couverte (%)")
    ax.set_title("Couverture par stade, mois par mois (stade atteint ou dépassé)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chart_departements(rates: pd.DataFrame, path: Path) -> None:
    """Stacked horizontal bars: share of each département's population by best stage."""
    rates = rates.sort_values("code", ascending=False)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.2 * len(rates)))
    labels = [f"{c} {n}" for c, n in zip(rates["code"], rates["nom"], strict=True)]
    aci = rates["taux_aci"].to_numpy()
    ps = rates["taux_projet_sante"].to_numpy() - aci
    li = rates["taux_lettre_intention"].to_numpy() - rates["taux_projet_sante"].to_numpy()
    left = np.zeros(len(rates))
    for values, s in ((aci, "aci"), (ps, "projet_sante"), (li, "lettre_intention")):
        ax.barh(labels, values, left=left, color=stage(s).colour, label=stage(s).label)
        left = left + values
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.7, len(rates) - 0.3)
    ax.set_xlabel("population (%)")
    ax.set_title("Population couverte par département, selon le stade le plus avancé", pad=22)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: Towns named on the report's map of a département (:func:`couverture.zones.main_towns`).
MAP_TOWNS = 10
#: Zones blanches named on the report's map (the most populated; the table lists them all).
MAP_ZONES = 10


def chart_departement_map(
    a: Analysis, dep: str, path: Path, *, zone_names: pd.DataFrame, title: str
) -> None:
    """Draw a département for the page: units by stage, zones blanches, main towns.

    The figure a printed report carries (the interactive maps need a screen). Zones blanches
    are outlined in red and the largest named by place; the most populated towns are named
    from the units' own data (no basemap, no network); names are moved apart (adjustText).
    """
    geoms = a.map_geometries(niveau="unite", departements=[dep])
    units = a.units().set_index("code")
    crs = metric_crs(dep)
    frame = gpd.GeoDataFrame(
        {"stade": units["stade"].reindex(geoms.index)}, geometry=geoms.geometry, crs="EPSG:4326"
    ).to_crs(crs)
    fig, ax = plt.subplots(figsize=(7.6, 6.4))
    white = frame[frame["stade"].isna()]
    if len(white):
        white.plot(ax=ax, facecolor="white", edgecolor="#bbbbbb", lw=0.2)
    for s in STAGES:
        part = frame[frame["stade"] == s]
        if len(part):
            part.plot(ax=ax, facecolor=stage(s).colour, edgecolor="#ffffff", lw=0.15, alpha=0.8)
    zones = a.zones()
    zones = zones[zones["departement"] == dep].head(MAP_ZONES)
    zone_geoms = (
        a.member_geometries(members(zones, key="zone_id"), key="zone_id").dropna().to_crs(crs)
    )
    if len(zone_geoms):
        zone_geoms.boundary.plot(ax=ax, color="#b00020", linewidth=1.1)
    texts = []
    halo = plt.halo()
    for zone_id, geom in zone_geoms.items():
        p = geom.representative_point()
        place = str(zone_names["lieu"].get(zone_id, zone_id))
        texts.append(
            ax.text(p.x, p.y, place, fontsize=6.5, color="#7a0016", ha="center",
                    va="center", path_effects=halo, style="italic", zorder=6)
        )  # fmt: skip
    table = a.unit_table()
    towns = main_towns(table[table["departement"] == dep], limit=MAP_TOWNS).set_index("code")
    for code in towns.index:
        if code in frame.index:
            p = frame.geometry[code].representative_point()
            ax.plot(p.x, p.y, "o", color="black", markersize=2.5, zorder=7)
            texts.append(
                ax.text(p.x, p.y, str(towns.at[code, "nom"]), fontsize=7.5, weight="bold",
                        ha="center", va="center", path_effects=halo, zorder=8)
            )  # fmt: skip
    ax.set_axis_off()
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    fig.canvas.draw()
    if texts:
        adjust_text(texts, ax=ax, expand=(1.1, 1.3), ensure_inside_axes=True)
    handles: list[Any] = [
        Patch(
            facecolor=stage(s).colour, alpha=0.8, label=f"{stage(s).label} (stade le plus avancé)"
        )
        for s in STAGES
    ]
    handles += [
        Patch(facecolor="white", edgecolor="#bbbbbb", label="Commune non couverte"),
        Line2D([], [], color="#b00020", lw=1.2, label="Zone blanche (nommée : les plus peuplées)"),
        Line2D([], [], marker="o", color="black", lw=0, markersize=3, label="Ville principale"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)
