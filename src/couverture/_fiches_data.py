"""What a fiche shows: the zone, its communes, neighbouring CPTS, proposals and porteurs.

Private part of :mod:`couverture.fiches` (gathering the data of the fiches and the French rows
the HTML page and the PDF both show); the public names are re-exported there.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from couverture import _format
from couverture._config import STAGES, metric_crs, pre_stage, stage
from couverture._geometry import union_units
from couverture._suggest_texts import rank_texts
from couverture.porteurs import config as porteurs_config
from couverture.porteurs import porteurs_near
from couverture.suggest import COLUMNS as PROPOSAL_COLUMNS
from couverture.zones import members as row_members

if TYPE_CHECKING:
    from couverture.analysis import Analysis

#: A4 portrait, inches.
A4 = (8.27, 11.69)
#: Lines cut beyond these counts on the one-page fiche (the workbook has everything).
MAX_OPTIONS = 7
MAX_CPTS = 7
MAX_PORTEURS = 7
#: Colours of the zone blanche and of the proposal outline (not stage colours).
ZONE_EDGE = "#b00020"
#: One colour and hatch per part of the recommended proposal, numbered 1, 2… on the map, in
#: its legend and in the table (colours apart from the stages' yellow, teal and purple).
PROPOSAL_STYLES = (
    ("#e66101", "///"),
    ("#d01c8b", "\\\\\\"),
    ("#1a9641", "xxx"),
    ("#0571b0", "..."),
    ("#a6611a", "---"),
    ("#b2182b", "|||"),
    ("#4d4d4d", "+++"),
)
_OPTION_WORDS = {
    "extension": "Extension",
    "creation": "Création",
    "rattachement_temporaire": "Rattachement temporaire",
}
DECISION_LINES = (
    "Option retenue",
    "Porteur pressenti",
    "Prochaine étape et échéance",
    "Participants",
)


@dataclass
class Fiche:
    """What one fiche shows (tables with machine column names, geometries in metres)."""

    zone: pd.Series
    dep_name: str
    communes: pd.DataFrame  # code, nom, population
    neighbours: pd.DataFrame  # cpts_id, nom, stade, taille, population
    options: pd.DataFrame  # rows of suggest() for the zone
    porteurs: pd.DataFrame | None  # porteurs_near() rows, or None without a porteurs file
    crs: str
    zone_units: gpd.GeoSeries
    cpts_shapes: gpd.GeoSeries  # indexed by cpts_id
    proposal_shapes: list[tuple[Any, str, int]]  # (geometry, label, key) of recommended parts
    context: gpd.GeoSeries  # units around, for orientation
    names: dict[str, str]  # names of the units and communes (porteurs outside the zone)
    title: str = ""  # the zone's place name (« Zone blanche de Fougères et environs »)


# ------------------------------------------------------------------------------------------
# data of the fiches
# ------------------------------------------------------------------------------------------


def date_text(meta: dict[str, Any]) -> str:
    """Return the registry's date and its source (« registre du 30 novembre 2026 (…) »)."""
    return str(
        meta.get("date_registre_texte") or f"registre du {_format.date(meta['date_registre'])}"
    )


def fiches_of(
    a: Analysis,
    dep: str,
    *,
    proposals: pd.DataFrame | None,
    porteurs: pd.DataFrame | None,
) -> list[Fiche]:
    """Gather the data of the fiches of one département, zones in order of priority."""
    zones = a.zones()
    zones = zones[zones["departement"] == dep].reset_index(drop=True)
    if zones.empty:
        return []
    units = a.unit_table().set_index("code")
    cpts = a.national().cpts()  # neighbours may lie across the border
    membership = a.registry.membership
    crs = metric_crs(dep)
    ids = sorted({i for s in zones["cpts_voisines_ids"] for i in str(s).split("|") if i})
    members = membership[membership["cpts_id"].isin(ids)][["cpts_id", "code"]]
    cpts_shapes = (
        a.member_geometries(members, key="cpts_id").dropna().to_crs(crs)
        if len(members)
        else _empty(crs)
    )
    deps = {dep} | {_dep_of(c) for c in members["code"]}
    unit_geoms = a.geometries(departements=tuple(sorted(deps))).to_crs(crs).geometry
    zone_units = a.zone_units()
    zone_geoms = a.member_geometries(
        zone_units[zone_units["zone_id"].isin(zones["zone_id"])], key="zone_id"
    )
    dep_name = _departement_name(a, dep)
    titles = a.zone_names()["nom_zone"].to_dict()
    names = units["nom"].to_dict()
    out = []
    zone_codes = zone_units.groupby("zone_id", sort=False)["code"].agg(list)
    for zone in zones.itertuples(index=False):
        row = pd.Series(zone._asdict())
        codes = zone_codes.get(zone.zone_id, [])
        communes = (
            units.loc[codes, ["nom", "population"]]
            .reset_index()
            .sort_values(["population", "nom"], ascending=[False, True])
        )
        neighbour_ids = [i for i in str(zone.cpts_voisines_ids).split("|") if i]
        neighbours = (
            cpts.reindex(neighbour_ids)[["nom", "stade", "taille", "population"]]
            .reset_index()
            .rename(columns={"index": "cpts_id"})
        )
        options = (
            proposals[proposals["zone_id"] == zone.zone_id]
            if proposals is not None
            else proposals_empty()
        )
        zone_geom = zone_geoms.get(zone.zone_id)
        near = (
            porteurs_near(
                porteurs,
                zone_geom,
                communes={units["commune"].get(c, c) for c in codes} | set(codes),
                departement=dep,
            )
            if porteurs is not None
            else None
        )
        out.append(
            Fiche(
                zone=row,
                dep_name=dep_name,
                communes=communes,
                neighbours=neighbours,
                options=options,
                porteurs=near,
                crs=crs,
                zone_units=unit_geoms.reindex(codes).dropna(),
                cpts_shapes=cpts_shapes.reindex(
                    [i for i in neighbour_ids if i in cpts_shapes.index]
                ),
                proposal_shapes=_proposal_shapes(options, unit_geoms),
                context=unit_geoms,
                names=names,
                title=str(titles.get(zone.zone_id, f"Zone blanche {zone.zone_id}")),
            )
        )
    return out


def proposals_empty() -> pd.DataFrame:
    """Return an empty table of proposals (the columns of :func:`couverture.suggest.suggest`)."""
    return pd.DataFrame(columns=PROPOSAL_COLUMNS)


def _empty(crs: str) -> gpd.GeoSeries:
    return gpd.GeoSeries([], crs=crs)


def _dep_of(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def _departement_name(a: Analysis, dep: str) -> str:
    names = a.territories("departement").set_index("code")["nom"]
    return str(names.get(dep, dep))


def _target(row: Any) -> str:
    """Who would take a proposal: the CPTS, or « nouvelle CPTS <name> »."""
    if row["option"] == "creation":
        return f"nouvelle {row['nom_propose'] or 'CPTS'}".replace("nouvelle CPTS CPTS", "CPTS")
    return str(row["cpts_cible"])


def _proposal_shapes(
    options: pd.DataFrame, unit_geoms: gpd.GeoSeries
) -> list[tuple[Any, str, int]]:
    """Shapes of the recommended parts, each with its label and key (1, 2… as in the table)."""
    shapes = []
    best = options[options["recommandee"].astype(str) == "oui"]
    best_codes = row_members(best).groupby("ligne")["code"].agg(list)
    for i, (_, row) in enumerate(best.iterrows()):
        parts = [unit_geoms.get(c) for c in best_codes.get(i, [])]
        parts = [g for g in parts if g is not None]
        if parts:
            shapes.append((union_units(parts), _target(row), i + 1))
    return shapes


def proposal_style(key: int) -> tuple[str, str]:
    """Colour and hatch of the recommended part numbered ``key`` (1, 2…)."""
    return PROPOSAL_STYLES[(key - 1) % len(PROPOSAL_STYLES)]


# ------------------------------------------------------------------------------------------
# rows shown in both formats (French text)
# ------------------------------------------------------------------------------------------
def _stage_text(code: object) -> str:
    return stage(code).label if isinstance(code, str) and code in STAGES else pre_stage().label


def option_rows(options: pd.DataFrame) -> list[list[str]]:
    """Rows of the options table; the first cell is the key of a recommended part (1, 2…)."""
    rows = []
    key = 0
    best_of = (options["recommandee"].astype(str) == "oui").tolist()
    # the parts of one scenario told apart (« alt. 2, partie 1/3 »), counted on all rows
    ranks = rank_texts(options["zone_id"], options["rang"], best_of, short=True)
    for (_, row), best, rank in zip(
        options.head(MAX_OPTIONS).iterrows(), best_of, ranks, strict=False
    ):
        key += best
        rows.append(
            [
                str(key) if best else "",
                rank,
                _OPTION_WORDS.get(str(row["option"]), str(row["option"])),
                _target(row),
                f"{_format.integer(row['n_communes'])} · "
                f"{_format.integer(row['population_ajoutee'])}",
                f"{_size(row['taille_avant'])} → {_size(row['taille_apres'])}",
                f"{_format.euros(row['financement_max_avant'])} → "
                f"{_format.euros(row['financement_max_apres'])}",
            ]
        )
    return rows


def _size(value: object) -> str:
    return "aucune" if str(value) in ("0", "") else str(value)


def cpts_rows(neighbours: pd.DataFrame) -> list[list[str]]:
    return [
        [
            str(r["nom"]) if isinstance(r["nom"], str) else str(r["cpts_id"]),
            _stage_text(r["stade"]),
            _format.integer(r["taille"]),
            _format.integer(r["population"]),
        ]
        for _, r in neighbours.head(MAX_CPTS).iterrows()
    ]


def porteur_rows(porteurs: pd.DataFrame, names: dict[str, str]) -> list[list[str]]:
    short: dict[str, str] = porteurs_config().get("libelles_courts", {})
    return [
        [
            chr(ord("A") + n),
            str(r["nom"]),
            short.get(str(r["categorie"])) or str(r["libelle_categorie"] or r["categorie"]),
            names.get(r["code_commune"], r["code_commune"]),
            "dans la zone" if r["dans_zone"] else _format.kilometres(r["distance_m"]),
        ]
        for n, (_, r) in enumerate(porteurs.head(MAX_PORTEURS).iterrows())
    ]


def communes_text(communes: pd.DataFrame) -> str:
    return ", ".join(
        f"{n} ({_format.integer(p)})"
        for n, p in zip(communes["nom"], communes["population"], strict=True)
    )


def communes_summary(communes: pd.DataFrame) -> str:
    """Name the first communes, most populated first, the rest counted with their people."""
    return _format.name_list(
        [str(n) for n in communes["nom"]], [float(p) for p in communes["population"]]
    )


def subtitle(fiche: Fiche) -> str:
    z = fiche.zone
    return (
        f"{_format.plural(int(z['n_communes']), 'commune')} · "
        f"{_format.plural(int(z['population']), 'habitant')} · "
        f"{_format.number(z['superficie_km2'], decimals=1)} km²"
    )


def wrap_cell(text: str, chars: int) -> list[str]:
    """Wrap a cell's text on whole words (and after hyphens), never cutting a word.

    Examples
    --------
    >>> wrap_cell("Projet de santé validé", 12)
    ['Projet de', 'santé validé']
    >>> wrap_cell("Saint-Germain-en-Coglès", 10)
    ['Saint-', 'Germain-', 'en-Coglès']
    """
    return textwrap.wrap(text, chars, break_long_words=False, break_on_hyphens=True) or [""]
