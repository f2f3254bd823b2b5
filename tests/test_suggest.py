"""Proposals covering the zones blanches, on real geography (demo and real PACA registries)."""

from __future__ import annotations

import io
from collections import defaultdict
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import couverture
from couverture._config import funding_table, size_class
from couverture.cli import main
from couverture.suggest import COLUMNS, proposal_geometries, suggest

FLOOR, CEILING = 20_000, 100_000
CONTRACT = [
    "zone_id",
    "departement",
    "option",
    "recommandee",
    "cpts_cible",
    "communes",
    "population_ajoutee",
    "population_resultante",
    "taille_avant",
    "taille_apres",
    "financement_max_avant",
    "financement_max_apres",
    "priorite",
    "motif",
]


class World:
    """One national analysis: proposals, zones, adjacency, CPTS members, units."""

    def __init__(self, registry: Path, default_stage: str | None = None) -> None:
        with couverture.analyse(registry, default_stage=default_stage) as a:
            self.props = suggest(a)
            self.zones = a.zones()
            self.cpts = a.cpts()
            members = a.registry.membership
            self.units = a.unit_table()[["code", "nom", "departement", "population", "x", "y"]]
            adjacency = a.adjacency()
        self.neighbours: dict[str, set[str]] = defaultdict(set)
        for x, y in zip(adjacency["code_a"], adjacency["code_b"], strict=True):
            self.neighbours[x].add(y)
        self.members = members.groupby("cpts_id")["code"].apply(set).to_dict()
        self.pop = self.units.set_index("code")["population"]

    def connected(self, codes: set[str]) -> bool:
        start = next(iter(codes))
        seen, stack = {start}, [start]
        while stack:
            for u in self.neighbours[stack.pop()]:
                if u in codes and u not in seen:
                    seen.add(u)
                    stack.append(u)
        return seen == codes

    def components(self, codes: set[str]) -> list[set[str]]:
        left, out = set(codes), []
        while left:
            start = left.pop()
            comp, stack = {start}, [start]
            while stack:
                for u in self.neighbours[stack.pop()] & left:
                    left.discard(u)
                    comp.add(u)
                    stack.append(u)
            out.append(comp)
        return out


@pytest.fixture(scope="module")
def demo(demo_registry: Path) -> World:
    return World(demo_registry)


@pytest.fixture(scope="module")
def paca(paca_registry: Path) -> World:
    """The real PACA registry read nationally: every other département is a zone blanche."""
    return World(paca_registry, "aci")


@pytest.fixture(params=["demo", "paca"])
def world(request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue(request.param)


def codes_of(row: object) -> set[str]:
    return set(str(row.communes).split())  # type: ignore[attr-defined]


def test_columns_and_every_white_unit_in_exactly_one_recommended_proposal(world: World) -> None:
    props = world.props
    assert list(props.columns[: len(CONTRACT)]) == CONTRACT
    assert list(props.columns) == COLUMNS
    assert set(props["option"]) <= {"extension", "creation", "rattachement_temporaire"}
    rec = props[props["recommandee"] == "oui"]
    counts = pd.Series([c for cs in rec["communes"] for c in cs.split()]).value_counts()
    white = {c for cs in world.zones["communes"] for c in cs.split()}
    assert set(counts.index) == white
    assert (counts == 1).all()
    # the parts of a recommended scenario add up to the zone's population
    added = rec.groupby("zone_id")["population_ajoutee"].sum()
    zone_pop = world.zones.set_index("zone_id")["population"]
    assert (added - zone_pop.reindex(added.index)).abs().max() <= len(props)
    assert set(rec["rang"]) == {1}
    assert set(props.loc[props["recommandee"] == "non", "rang"]) <= set(range(2, 10))
    assert props["motif"].str.len().min() > 20


def test_perimeters_are_contiguous(world: World) -> None:
    checked = 0
    for row in world.props.itertuples():
        codes = codes_of(row)
        if row.option == "creation":
            assert world.connected(codes), row.proposition_id
        elif row.option == "extension":
            own = world.members[row.cpts_cible_id]
            # every piece of the part touches the CPTS that takes it...
            for piece in world.components(codes):
                assert any(world.neighbours[c] & own for c in piece), row.proposition_id
            # ...so that a contiguous CPTS stays contiguous once extended
            if world.connected(own):
                assert world.connected(own | codes), row.proposition_id
            checked += 1
    assert checked > 0


def test_creations_respect_the_bounds_or_say_why(world: World) -> None:
    created = world.props[world.props["option"] == "creation"]
    assert len(created) > 0
    inside = created["population_ajoutee"].between(FLOOR, CEILING)
    assert inside.mean() > 0.9
    for row in created[~inside].itertuples():
        biggest = world.pop.loc[sorted(codes_of(row))].max()
        if row.population_ajoutee > CEILING:
            # only a single unit above the ceiling can make a perimeter too big
            assert biggest > CEILING - FLOOR, row.proposition_id
            assert "plafond" in row.motif, row.motif
        else:
            # below the floor only when the zone itself (or its remainder) is too small
            assert row.population_zone < 2 * FLOOR or row.recommandee == "non", row
            assert "plancher" in row.motif, row.motif
    # named after their most populous commune
    names = world.units.set_index("code")
    for row in created.head(50).itertuples():
        main_unit = world.pop.loc[sorted(codes_of(row))].idxmax()
        assert row.nom_propose == f"CPTS {names.loc[main_unit, 'nom']}", row.proposition_id
        assert row.cpts_cible == ""


def test_sizes_and_funding(world: World) -> None:
    funding = funding_table("avenant2")
    props = world.props
    assert (props["taille_apres"] == props["population_resultante"].map(size_class)).all()
    assert (props["financement_max_apres"] == props["taille_apres"].map(funding)).all()
    created = props[props["option"] == "creation"]
    assert (created[["taille_avant", "financement_max_avant"]] == 0).all().all()
    others = props[props["option"] != "creation"]
    before = others["population_resultante"] - others["population_ajoutee"]
    assert (others["taille_avant"] == before.map(size_class)).all()
    # a CPTS first seen in the recommendations starts from its registry population
    first = others[others["recommandee"] == "oui"].drop_duplicates("cpts_cible_id")
    registry_pop = world.cpts["population"].reindex(first["cpts_cible_id"]).to_numpy()
    assert np.allclose(before.loc[first.index].to_numpy(), registry_pop, atol=1)
    changed = others[others["taille_avant"] != others["taille_apres"]]
    assert changed["motif"].str.contains("passe de la taille").all()
    over = props[props["population_resultante"] > CEILING]
    assert over["motif"].str.contains("plafond").all()


def test_recommended_extensions_stay_within_the_ceiling(demo: World) -> None:
    rec = demo.props[(demo.props["recommandee"] == "oui") & (demo.props["option"] == "extension")]
    assert len(rec) > 20
    assert (rec["population_resultante"] <= CEILING).all()


def test_island_zones_are_attached_to_the_nearest_aci_cpts(demo: World) -> None:
    aci = demo.cpts[demo.cpts["stade"] == "aci"].index
    xy = demo.units.set_index("code")[["x", "y"]]
    islands = {"85113": "85", "56069": "56", "29155": "29"}  # Yeu, Groix, Ouessant
    for code, dep in islands.items():
        zone = demo.zones[demo.zones["communes"].str.split().map(lambda cs, c=code: c in cs)]
        assert len(zone) == 1 and zone["departement"].iloc[0] == dep
        rows = demo.props[demo.props["zone_id"] == zone["zone_id"].iloc[0]]
        rec = rows[rows["recommandee"] == "oui"]
        assert list(rec["option"]) == ["rattachement_temporaire"]
        assert "île" in rec["motif"].iloc[0]
        target = rec["cpts_cible_id"].iloc[0]
        assert target in aci
        # nearest ACI CPTS of the mainland (Lambert-93) by centroid distance
        distance = {}
        for cid in aci:
            pts = xy.loc[sorted(demo.members[cid])]
            if not pts.index.str[:2].isin(["2A", "2B", "97"]).any():
                distance[cid] = np.hypot(*(pts.to_numpy() - xy.loc[code].to_numpy()).T).min()
        # every nearer one would pass the ceiling (with the extensions proposed meanwhile)
        added = (
            demo.props[demo.props["recommandee"] == "oui"]
            .groupby("cpts_cible_id")["population_ajoutee"]
            .sum()
        )
        zone_pop = zone["population"].iloc[0]
        for cid, d in distance.items():
            if d < distance[target] - 1:
                final = demo.cpts.loc[cid, "population"] + added.get(cid, 0)
                assert final + zone_pop > CEILING, (code, cid)
        # alternatives: the next nearest mature CPTS, ranked
        alternatives = rows[rows["recommandee"] == "non"]
        assert (alternatives["option"] == "rattachement_temporaire").all()
        assert alternatives["cpts_cible_id"].is_unique and target not in set(
            alternatives["cpts_cible_id"]
        )


def test_multi_commune_island_is_one_proposal(demo: World) -> None:
    belle_ile = {"56009", "56114", "56152", "56241"}
    zone = demo.zones[demo.zones["communes"].str.split().map(set) == belle_ile]
    assert len(zone) == 1
    rec = demo.props[
        (demo.props["zone_id"] == zone["zone_id"].iloc[0]) & (demo.props["recommandee"] == "oui")
    ]
    assert len(rec) == 1 and codes_of(next(rec.itertuples())) == belle_ile


def test_zones_touching_several_cpts_are_split_among_them(demo: World) -> None:
    rec = demo.props[(demo.props["recommandee"] == "oui") & (demo.props["option"] == "extension")]
    split = rec.groupby("zone_id").filter(lambda g: g["cpts_cible_id"].nunique() >= 2)
    assert split["zone_id"].nunique() >= 10
    zones = demo.zones.set_index("zone_id")
    for zone_id, parts in split.groupby("zone_id"):
        voisines = set(zones.loc[zone_id, "cpts_voisines_ids"].split("|"))
        assert set(parts["cpts_cible_id"]) <= voisines
        assert parts["motif"].str.contains(f"partagée entre {len(parts)} CPTS").all()
        units = [set(c.split()) for c in parts["communes"]]
        assert sum(map(len, units)) == len(set().union(*units))  # disjoint parts
    # Ille-et-Vilaine has such a zone on the demo registry
    assert (split["departement"] == "35").any()


def test_big_zone_is_split_into_several_creations(paca: World) -> None:
    # Finistère has no CPTS in the PACA registry: the whole département is to be covered
    zone = paca.zones[paca.zones["departement"] == "29"].iloc[0]
    assert zone["population"] > 900_000
    rows = paca.props[(paca.props["zone_id"] == zone["zone_id"]) & (paca.props["rang"] == 1)]
    created = rows[rows["option"] == "creation"]
    expected = zone["population"] / CEILING
    assert len(created) >= expected
    assert created["population_ajoutee"].sum() == zone["population"]
    in_bounds = created["population_ajoutee"].between(FLOOR, CEILING)
    # only Brest (142,000 inhabitants on its own) cannot fit under the ceiling
    assert list(created.loc[~in_bounds, "nom_propose"]) == ["CPTS Brest"]
    assert "Brest compte à elle seule" in created.loc[~in_bounds, "motif"].iloc[0]
    assert created["nom_propose"].is_unique
    assert created["motif"].str.contains(f"découpée en {len(created)} CPTS").all()


def test_departement_filter_priority_and_validation(paca_registry: Path) -> None:
    with couverture.analyse(paca_registry, default_stage="aci", departements="04,06") as a:
        props = suggest(a)
        zones = a.zones()
        assert set(props["departement"]) == {"04", "06"}
        assert set(props["zone_id"]) == set(zones["zone_id"])
        first = props.drop_duplicates("zone_id")
        assert list(first["zone_id"]) == list(zones["zone_id"])
        assert list(first["priorite"]) == list(range(1, len(zones) + 1))
        lower = suggest(a, floor=10_000, ceiling=50_000)
        created = lower[lower["option"] == "creation"]
        assert len(created) > len(props[props["option"] == "creation"])
        fits = created["population_ajoutee"] <= 50_000
        assert (fits | created["motif"].str.contains("plafond de 50")).all()
        for floor, ceiling in ((0, 100_000), (50_000, 50_000), (60_000, 20_000)):
            with pytest.raises(couverture.ArgumentError, match=r"plancher|plafond"):
                suggest(a, floor=floor, ceiling=ceiling)
        with pytest.raises(couverture.ArgumentError, match="barème"):
            suggest(a, funding_scale="inconnu")


def test_proposal_geometries(paca_registry: Path) -> None:
    with couverture.analyse(paca_registry, default_stage="aci", departements="04") as a:
        props = suggest(a)
        geoms = proposal_geometries(a, props)
    assert len(props) > 0
    assert geoms.crs.to_epsg() == 4326
    assert list(geoms.index) == list(props.index)
    assert geoms.geometry.notna().all() and geoms.is_valid.all()
    assert geoms.geometry.bounds["minx"].between(5, 7.5).all()  # Alpes-de-Haute-Provence


def test_cli_csv_geojson_and_errors(
    paca_registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["suggestions", "--registre", str(paca_registry), "--stade-par-defaut", "aci"]
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main([*args, "--departement", "13", "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(buf.getvalue()), dtype=str)
    assert list(frame.columns[: len(CONTRACT)]) == CONTRACT
    assert set(frame["departement"]) == {"13"}
    out = tmp_path / "propositions.geojson"
    assert main([*args, "--departement", "04", "--format", "geojson", "--sortie", str(out)]) == 0
    import geopandas as gpd

    gdf = gpd.read_file(out)
    assert len(gdf) > 0 and gdf.geometry.notna().all()
    assert main([*args, "--plancher", "90000", "--plafond", "20000", "--format", "csv"]) == 2
    assert "--plancher (90000) doit être inférieur à --plafond (20000)" in capsys.readouterr().err
    assert main([*args, "--departement", "05", "--format", "gpkg"]) == 2
    assert "--sortie" in capsys.readouterr().err
