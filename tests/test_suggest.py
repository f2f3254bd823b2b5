"""Proposals covering the zones blanches, on real geography (demo and real PACA registries)."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import couverture
from couverture._config import funding_table, size_class, size_classes, toml
from couverture.cli import main
from couverture.suggest import COLUMNS, proposal_geometries, suggest

CEILING = 100_000
FLOOR = int(toml("sources.toml")["analyse"]["plancher_creation"])  # the default plancher
MINIMUM = int(toml("propositions.toml")["calibration"]["plancher_minimum"])
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
            columns = ["code", "nom", "departement", "population", "x", "y", "epci"]
            self.units = a.unit_table()[columns]
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
    assert set(props["hors_territoire"]) <= {"", "département", "région"}


def test_motif_reads_in_one_breath(world: World) -> None:
    props = world.props
    # at most about 200 characters, the long explanation in details
    assert props["motif"].str.len().max() <= 202
    assert (props["details"].str.len() >= props["motif"].str.len() * 0.5).all()
    created = props[props["option"] == "creation"]
    # what the perimeter follows, then why this size
    assert created["motif"].str.contains(r"^(?:suit|regroupe|partie|surtout|création)").all()
    assert created["motif"].str.contains(r"(?:taille des CPTS|bornes par défaut)").all()
    # French numbers: thousands separated by a narrow no-break space
    assert created["motif"].str.contains(r"\d\u202f\d{3} à \d").all()
    assert not props["motif"].str.contains(r"\d,\d{3}").any()


def test_motif_names_the_cpts_it_speaks_of(world: World) -> None:
    # a fiche or a map shows the motif away from the row naming the target: « la CPTS couvre
    # déjà 16 % du bassin de vie … » must say which CPTS
    others = world.props[world.props["option"] != "creation"]
    assert len(others) > 0
    for row in others.itertuples():
        name = re.sub(r"^CPTS ", "", str(row.cpts_cible))
        assert f"CPTS {name}" in row.motif, (row.cpts_cible, row.motif)
    assert not others["motif"].str.contains(r"la CPTS (?:couvre|voisine)|à une CPTS").any()
    assert not others["motif"].str.contains(r"(?:^|; )CPTS voisine \(\d").any()
    assert not world.props["motif"].str.contains(r"\bla EPCI").any()  # « l'EPCI Toulouse … »


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


def band_of(motif: str) -> tuple[int, int]:
    """The calibrated band a creation's motif states (« … : 12 000 à 25 000 hab. »)."""
    found = re.search(r"(\d[\d\u202f]*) à (\d[\d\u202f]*) hab\.", motif)
    assert found, motif
    low, high = (int(x.replace("\u202f", "")) for x in found.groups())
    return low, high


def plancher_of(details: str) -> int:
    """The effective plancher of a creation: the default one unless its details lower it."""
    found = re.search(r"plancher abaissé à (\d[\d\u202f]*) hab\.", details)
    return int(found.group(1).replace("\u202f", "")) if found else FLOOR


def test_creations_respect_the_bounds_or_say_why(world: World) -> None:
    created = world.props[world.props["option"] == "creation"]
    assert len(created) > 0
    bands = created["motif"].map(band_of)
    low, high = bands.str[0], bands.str[1]
    assert (low > 0).all() and (2 * low <= high + 1).all() and (high <= CEILING).all()
    inside = created["population_ajoutee"].between(low, high)
    assert inside.mean() > 0.5  # the others say why (whole EPCIs, enclaves, small zones)
    for row in created[~inside].itertuples():
        _, hi = band_of(row.motif)
        if row.population_ajoutee > hi:
            assert "plafond" in row.motif, row.motif
        else:
            # below the band only when the zone (or what is left of it) is too small, or
            # to keep an intercommunalité without CPTS whole (above the plancher)
            assert "sous la taille visée" in row.motif, row.motif
            assert "plancher" in row.details, row.details
            if "EPCI entier" in row.motif:
                assert row.population_ajoutee >= plancher_of(row.details)
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
    assert changed["details"].str.contains("passe de la taille").all()
    assert changed["motif"].str.contains("passe en taille").all()
    over = props[props["population_resultante"] > CEILING]
    assert over["motif"].str.contains("plafond").all()


def test_past_the_ceiling_an_extension_keeps_its_taille(demo: World) -> None:
    # the plafond is a cost, the change of ACI taille class past it the wall
    rec = demo.props[(demo.props["recommandee"] == "oui") & (demo.props["option"] == "extension")]
    assert len(rec) > 20
    assert (rec["population_resultante"] <= CEILING).mean() > 0.8
    over = rec[rec["population_resultante"] > CEILING]
    assert len(over) > 0
    assert (over["taille_avant"] == over["taille_apres"]).all()
    assert over["motif"].str.contains("au-delà du plafond").all()


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
    recommended = demo.props[demo.props["recommandee"] == "oui"]
    created = set(recommended.loc[recommended["option"] != "extension", "zone_id"])
    rec = recommended[recommended["option"] == "extension"]
    split = rec.groupby("zone_id").filter(
        lambda g: g["cpts_cible_id"].nunique() >= 2 and g["zone_id"].iloc[0] not in created
    )
    assert split["zone_id"].nunique() >= 10
    zones = demo.zones.set_index("zone_id")
    for zone_id, parts in split.groupby("zone_id"):
        voisines = set(zones.loc[zone_id, "cpts_voisines_ids"].split("|"))
        assert set(parts["cpts_cible_id"]) <= voisines
        assert parts["details"].str.contains(f"partagée entre {len(parts)} CPTS").all()
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
    out = created[~in_bounds].set_index("nom_propose")
    # Brest (142,000 inhabitants on its own) cannot fit under the ceiling; the others past
    # it keep an intercommunalité whole within the plafond's taille class
    assert "CPTS Brest" in out.index
    assert "Brest compte à elle seule" in out.loc["CPTS Brest", "details"]
    assert "Brest dépasse à elle seule le plafond" in out.loc["CPTS Brest", "motif"]
    others = out.drop(index="CPTS Brest")
    assert others["motif"].str.contains("pour garder l'EPCI entier").all()
    assert (others["taille_apres"] <= size_class(CEILING)).all()
    assert created["nom_propose"].is_unique
    assert created["details"].str.contains(f"découpée en {len(created)} CPTS").all()
    # no CPTS in Brittany: the default bounds, and the motif says so
    default = f"bornes par défaut : {FLOOR:,} à 100,000".replace(",", "\u202f")
    assert created["motif"].str.contains(default).all()


def test_departement_filter_priority_and_validation(paca_registry: Path) -> None:
    with couverture.analyse(paca_registry, default_stage="aci", departements="04,06") as a:
        props = suggest(a)
        zones = a.zones()
        assert set(props["departement"]) == {"04", "06"}
        assert set(props["zone_id"]) == set(zones["zone_id"])
        first = props.drop_duplicates("zone_id")
        assert list(first["zone_id"]) == list(zones["zone_id"])
        assert list(first["priorite"]) == list(range(1, len(zones) + 1))
        # the ceiling bounds the calibrated band (the floor is the fallback)
        lower = suggest(a, floor=5_000, ceiling=12_000)
        created = lower[lower["option"] == "creation"]
        assert len(created) > len(props[props["option"] == "creation"])
        fits = created["population_ajoutee"] <= 12_000
        assert (fits | created["details"].str.contains("plafond de 12")).all()
        assert created["motif"].map(band_of).str[1].max() <= 12_000
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


def _bench() -> object:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "propositions_reelles.py"
    spec = importlib.util.spec_from_file_location("propositions_reelles", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_metrics_on_a_hand_made_case() -> None:
    bench = _bench()
    ari = bench.adjusted_rand_index  # type: ignore[attr-defined]
    jaccard = bench.weighted_jaccard  # type: ignore[attr-defined]
    truth = ["a", "a", "a", "b", "b", "b"]
    found = ["x", "x", "y", "y", "z", "z"]
    # contingency (a,x)=2 (a,y)=1 (b,y)=1 (b,z)=2: index 1+1=2, rows 3+3=6, columns 1+1+1=3,
    # pairs 15, expected 6×3/15=1.2, maximum (6+3)/2=4.5 → (2−1.2)/(4.5−1.2) = 8/33
    assert ari(truth, found) == pytest.approx(8 / 33)
    assert ari(truth, ["p", "p", "p", "q", "q", "q"]) == pytest.approx(1.0)
    assert ari(truth, found[::-1]) == pytest.approx(ari(found[::-1], truth))
    # weights 1,1,1,1,1,5: a weighs 3, best x 2/(3+2−2) = 2/3; b weighs 7, best z (1+5)
    # over 7+6−6 → 6/7; weighted (3×2/3 + 7×6/7) / 10 = 0.8
    weights = [1, 1, 1, 1, 1, 5]
    assert jaccard(truth, found, weights) == pytest.approx(0.8)
    assert jaccard(truth, ["q", "q", "q", "p", "p", "p"], weights) == pytest.approx(1.0)
    assert jaccard(truth, ["u"] * 6, weights) == pytest.approx((3 * 0.3 + 7 * 0.7) / 10)


@pytest.fixture(scope="module")
def adjacency() -> pd.DataFrame:
    from couverture import settings

    return pd.read_parquet(settings.ADJACENCY_PATH)


def _row(cpts: str, code: str) -> dict[str, str]:
    return {"cpts_id": cpts, "nom_cpts": f"CPTS {cpts}", "stade": "aci", "code_insee": code}


def test_new_cpts_are_sized_like_the_registry_s_own(
    units: pd.DataFrame, write_registry, tmp_path: Path
) -> None:
    # the same communes of Aveyron covered by nine small CPTS (one per EPCI) or by three
    # large ones (three EPCIs each): the rest of the département gets smaller creations in
    # the first case, sized like the rural CPTS around them
    aveyron = units[units["departement"] == "12"]
    epcis = sorted(aveyron["epci"].unique())[:9]
    covered = aveyron[aveyron["epci"].isin(epcis)]
    created, bands = {}, {}
    for label, group in (("petites", lambda i: i), ("grandes", lambda i: i // 3)):
        rows = [
            _row(f"C{group(epcis.index(e))}", c)
            for e, c in zip(covered["epci"], covered["code"], strict=True)
        ]
        path = write_registry(tmp_path / f"{label}.csv", rows)
        with couverture.analyse(path, departements="12") as a:
            # a plancher under the registry's band: the band is the registry's own (and a
            # whole EPCI above the plancher, 1,000 say, would stay one CPTS in both cases)
            props = suggest(a, floor=8_000)
        rec = props[(props["recommandee"] == "oui") & (props["option"] == "creation")]
        assert len(rec) >= 1, label
        # calibrated on the CPTS of the département (of the same density class where enough)
        assert rec["motif"].str.contains("taille des CPTS (?:peu denses )?du département").all()
        assert rec["motif"].map(band_of).nunique() == 1
        created[label] = rec["population_ajoutee"]
        bands[label] = band_of(rec["motif"].iloc[0])
    assert created["petites"].median() < created["grandes"].median()
    assert len(created["petites"]) > len(created["grandes"])
    assert bands["petites"][1] < bands["grandes"][0]
    # the band is the registry's: between its smallest and its largest CPTS
    for label, key in (("petites", "epci"), ("grandes", None)):
        if key:
            sizes = covered.groupby(key)["population"].sum()
        else:
            sizes = covered.groupby(covered["epci"].map(lambda e: epcis.index(e) // 3))[
                "population"
            ].sum()
        low, high = bands[label]
        # (bounds said in hundreds of inhabitants)
        assert sizes.min() - 100 <= low < high <= max(sizes.max(), 2 * low) + 100, label


def test_the_default_plancher_follows_the_registry_s_cpts(
    units: pd.DataFrame, write_registry, tmp_path: Path
) -> None:
    # the same communes of Aveyron covered by nine CPTS of one EPCI each (6,345 to 26,508
    # inhabitants) or by three of three EPCIs each (36,830 to 59,342): without --plancher, the
    # plancher of the rest of the département is lowered to the small CPTS' lower quartile,
    # and stays the default one beside the large CPTS
    aveyron = units[units["departement"] == "12"]
    epcis = sorted(aveyron["epci"].unique())[:9]
    covered = aveyron[aveyron["epci"].isin(epcis)]
    for label, group in (("petites", lambda i: i), ("grandes", lambda i: i // 3)):
        cpts = [f"C{group(epcis.index(e))}" for e in covered["epci"]]
        rows = [_row(c, code) for c, code in zip(cpts, covered["code"], strict=True)]
        sizes = covered.groupby(cpts)["population"].sum()
        path = write_registry(tmp_path / f"{label}.csv", rows)
        with couverture.analyse(path, departements="12") as a:
            props = suggest(a)
        created = _under_the_plancher(props)
        assert len(created) >= 1, label
        lowered = created["details"].str.contains("plancher abaissé")
        if label == "grandes":
            assert sizes.quantile(0.25) >= FLOOR
            assert not lowered.any(), created["details"].tolist()
            continue
        assert sizes.quantile(0.25) < FLOOR
        assert lowered.all(), created["details"].tolist()
        assert created["details"].str.contains(r"hab\. : CPTS (?:peu denses )?du département").all()
        plancher = created["details"].map(plancher_of)
        assert plancher.nunique() == 1
        assert sizes.min() <= plancher.iloc[0] <= sizes.quantile(0.5)
        # creations the default plancher would have refused
        assert (created["population_ajoutee"] < FLOOR).any()


def test_white_commune_goes_to_the_cpts_holding_its_epci(
    units: pd.DataFrame, adjacency: pd.DataFrame, write_registry, tmp_path: Path
) -> None:
    # Aveyron covered by one CPTS per EPCI, but for one commune that borders another EPCI's
    # CPTS more than its own: it goes back to the CPTS that holds the rest of its EPCI
    aveyron = units[units["departement"] == "12"].set_index("code")
    epci = aveyron["epci"]
    edges = adjacency[adjacency["code_a"].isin(epci.index) & adjacency["code_b"].isin(epci.index)]
    outside_dep = set(adjacency.loc[~adjacency["code_b"].isin(epci.index), "code_a"])
    own = edges[epci.loc[edges["code_a"]].to_numpy() == epci.loc[edges["code_b"]].to_numpy()]
    other = edges[epci.loc[edges["code_a"]].to_numpy() != epci.loc[edges["code_b"]].to_numpy()]
    border = pd.DataFrame(
        {
            "own": own.groupby("code_a")["frontiere_m"].sum(),
            "other": other.groupby("code_a")["frontiere_m"].sum(),
        }
    ).dropna()
    border = border[(border["other"] > 2 * border["own"]) & ~border.index.isin(outside_dep)]
    border = border[aveyron.loc[border.index, "population"] < 2000]
    assert len(border) > 0
    white = sorted(border.index)[0]
    rows = [_row(f"E{e}", c) for c, e in epci.items() if c != white]
    with couverture.analyse(write_registry(tmp_path / "r.csv", rows), departements="12") as a:
        props = suggest(a)
    rec = props[props["recommandee"] == "oui"]
    assert list(rec["communes"]) == [white]
    row = rec.iloc[0]
    assert row["option"] == "extension" and row["cpts_cible_id"] == f"E{epci[white]}"
    assert re.search(rf"la CPTS E{epci[white]} couvre déjà \d+ % de la ", row["motif"]), row[
        "motif"
    ]
    assert row["hors_territoire"] == ""


def test_crossing_a_region_boundary_only_when_nothing_else_fits(
    units: pd.DataFrame, adjacency: pd.DataFrame, write_registry, tmp_path: Path
) -> None:
    # a small commune of the Bouches-du-Rhône between the Gard (Occitanie) and one commune
    # of its own département (Saintes-Maries-de-la-Mer, next to Arles)
    codes = units.set_index("code")
    dep, pop = codes["departement"], codes["population"]
    edges = adjacency[adjacency["code_a"].isin(dep.index) & adjacency["code_b"].isin(dep.index)]
    around = edges.groupby("code_a")["code_b"].apply(set)
    candidates = [
        c
        for c, near in around.items()
        if dep[c] == "13"
        and {dep[n] for n in near} == {"13", "30"}
        and pop[c] < 5000
        and sum(dep[n] == "13" for n in near) == 1
    ]
    assert candidates
    white = sorted(candidates)[0]
    gard = [_row(f"G{e}", c) for c, e in codes.loc[dep == "30", "epci"].items()]
    bdr = codes[(dep == "13") & (codes.index != white)]
    # the Bouches-du-Rhône CPTS follow their EPCIs: the commune stays in its département
    per_epci = [_row(f"B{e}", c) for c, e in bdr["epci"].items()]
    # one CPTS on the Bouches-du-Rhône side, grown from the commune's neighbour to just
    # under the top of taille 3: taking the commune would change its taille past the plafond,
    # so only the Gard can take it
    limit = size_classes()[2][2]
    assert limit is not None
    grown: list[str] = []
    total, frontier = 0.0, [next(n for n in around[white] if dep[n] == "13")]
    while frontier and total < limit - pop[white]:
        c = frontier.pop(0)
        if c in grown or c == white or dep[c] != "13" or total + pop[c] >= limit:
            continue
        grown.append(c)
        total += pop[c]
        frontier.extend(sorted(around.get(c, set()) - set(grown)))
    assert limit - pop[white] <= total < limit
    near_limit = [_row("B13", c) for c in grown]
    for rows, expected in ((per_epci, ""), (near_limit, "région")):
        path = write_registry(tmp_path / f"r{len(rows)}.csv", gard + rows)
        with couverture.analyse(path, departements="13") as a:
            props = suggest(a)
        rec = props[props["communes"].str.split().map(lambda cs: white in cs)]
        rec = rec[rec["recommandee"] == "oui"]
        assert len(rec) == 1
        row = rec.iloc[0]
        assert row["hors_territoire"] == expected, row["motif"]
        if expected:
            assert row["cpts_cible_id"].startswith("G")
            assert "hors région" in row["motif"]
        else:
            assert row["cpts_cible_id"].startswith("B")
            assert "hors" not in row["motif"]


# ------------------------------------------------------------------------------------------------
# degenerate registries (issue 17, item 1): every division, quantile and band has a result
# ------------------------------------------------------------------------------------------------
def test_calibrated_band_holds_its_bounds_on_any_reference_set() -> None:
    from couverture._suggest_context import _Context
    from couverture.suggest import _params

    def context(floor: int, *, explicit: bool = True) -> _Context:
        empty: Any = None
        return _Context(
            empty, empty, floor=floor, ceiling=CEILING, funding={}, params=_params(),
            explicit=explicit,
        )  # fmt: skip

    given, default = context(FLOOR), context(FLOOR, explicit=False)
    for pops in ([], [1.0], [150.0, 150.0], [0.5, 80.0, 90.0], [1e9] * 5, [300.0] * 3):
        band = given._calibrated(pops, "x")
        assert FLOOR == band.plancher <= band.low < band.high <= CEILING, pops
        assert band.low <= band.target <= band.high, pops
        # the default plancher is lowered by small references, never below the minimum
        band = default._calibrated(pops, "x")
        assert MINIMUM <= band.plancher <= band.low < band.high <= CEILING, pops
        assert band.low <= band.target <= band.high, pops
        assert (band.plancher < FLOOR) == (len(pops) > 0 and max(pops) < FLOOR), pops
    assert default._calibrated([12_345.0, 15_000.0, 40_000.0], "x").plancher == 13_600
    # a plancher near the plafond leaves the band between them
    tight = context(99_950)
    band = tight._calibrated([10_000.0, 20_000.0, 30_000.0], "x")
    assert 99_950 <= band.low < band.high <= CEILING


def test_outliers_do_not_calibrate_the_band() -> None:
    from couverture._suggest_context import _inliers

    # Tukey's outer fences on the log populations: a seat-commune-only CPTS of 300
    # inhabitants and a federation of five million say nothing of a new CPTS's size
    sizes = [20_000.0 + 5_000.0 * i for i in range(10)]
    assert _inliers([*sizes, 300.0, 5e6, 0.0]) == sizes
    assert _inliers([1_100.0, 0.0, float("nan")]) == [1_100.0]


TINY = [
    ("A", "CPTS Armix", "01019"),
    ("B", "CPTS Premillieu", "01311"),
    ("C", "CPTS Belley", "01034"),
    ("D", "CPTS Bourg", "01053"),
]


def _tiny_rows() -> list[dict[str, str]]:
    return [{"cpts_id": i, "nom_cpts": n, "stade": "aci", "code_insee": c} for i, n, c in TINY]


def _recommended(props: pd.DataFrame) -> pd.DataFrame:
    return props[props["recommandee"] == "oui"]


def test_one_commune_cpts_do_not_crash_and_the_plancher_holds(
    write_registry, tmp_path: Path
) -> None:
    # the repro of issue 17: four one-commune CPTS of the Ain (Armix: a few dozen inhabitants)
    path = write_registry(tmp_path / "tiny.csv", _tiny_rows())
    for dep in ("01", "35"):
        with couverture.analyse(path, departements=dep) as a:
            props = suggest(a)
            zones = a.zones()
        rec = _recommended(props)
        assert set(rec["departement"]) == {dep}
        covered = {c for cs in rec["communes"] for c in cs.split()}
        assert covered == {c for cs in zones["communes"] for c in cs.split()}
        created = rec[rec["option"] == "creation"]
        plancher = created["details"].map(plancher_of)
        small = created[created["population_ajoutee"] < plancher]
        # a creation under the plancher only for a zone itself under it
        assert (small["population_zone"] < plancher[small.index]).all(), small["motif"]
        # CPTS listed with their seat commune only (under plancher_minimum) calibrate nothing:
        # the plancher is not lowered on them (a 6,247-inhabitant creation came out before)
        assert not created["details"].str.contains("plancher abaissé").any()
        assert (created["population_ajoutee"] >= FLOOR).all() or not len(small)
    code, out = _cli(["suggestions", "--registre", str(path), "--departement", "01"])
    assert code == 0 and "ZeroDivisionError" not in out


def _cli(args: list[str]) -> tuple[int, str]:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(args)
    return code, buffer.getvalue()


@pytest.mark.parametrize("n", [1, 2])
def test_one_or_two_reference_cpts(n: int, write_registry, tmp_path: Path) -> None:
    path = write_registry(tmp_path / f"r{n}.csv", _tiny_rows()[:n])
    with couverture.analyse(path, departements="01") as a:
        props = suggest(a)
    rec = _recommended(props)
    assert len(rec) > 0
    # too few CPTS to calibrate on: the default bounds, said so
    creations = rec[rec["option"] == "creation"]
    assert creations["motif"].str.contains("bornes par défaut").all()


def test_zero_population_cpts_and_a_covered_departement(
    units: pd.DataFrame, dep_rows, write_registry, tmp_path: Path
) -> None:
    # the villages of the Meuse destroyed in 1916 have no inhabitant: a young CPTS made of them
    # has no population to grow from; the Ain entirely covered has no zone and no proposal
    dead = units[(units["departement"] == "55") & (units["population"] == 0)]["code"]
    assert len(dead) >= 3
    rows = [
        {"cpts_id": "Z", "nom_cpts": "CPTS Zéro", "stade": "lettre_intention", "code_insee": c}
        for c in dead
    ]
    path = write_registry(tmp_path / "z.csv", rows + dep_rows("01", "AIN", "aci"))
    with couverture.analyse(path, departements="01,55") as a:
        props = suggest(a)
    assert "01" not in set(props["departement"])
    rec = _recommended(props)
    assert set(rec["departement"]) == {"55"}
    assert np.isfinite(rec[["population_ajoutee", "population_resultante"]].to_numpy()).all()


# ------------------------------------------------------------------------------------------------
# proposals a task force would sign (issue 18)
# ------------------------------------------------------------------------------------------------
def test_an_enclave_goes_to_the_cpts_around_it_past_the_ceiling(
    units: pd.DataFrame, write_registry, tmp_path: Path
) -> None:
    # Drouges and Moussé (35) inside a CPTS of Vitré and La Roche-aux-Fées of 110,000
    # inhabitants: taking 795 more passes the plafond but keeps its taille (3): the enclave
    # goes to the CPTS that surrounds it, not to a mature CPTS that does not touch it
    codes = units.set_index("code")
    ille = codes[codes["departement"] == "35"]
    enclave = {"35102", "35199"}
    around = {"200039022", "243500634"}  # CA Vitré Communauté, CC Roche aux Fées
    rows = [
        _row("ARG" if e in around else f"E{e}", c)
        for c, e in ille["epci"].items()
        if c not in enclave
    ]
    with couverture.analyse(write_registry(tmp_path / "r.csv", rows), departements="35") as a:
        props = suggest(a)
        before = a.cpts().loc["ARG", "population"]
    assert before > CEILING and size_class(before) == size_class(before + 795)
    rec = _recommended(props)
    row = rec[rec["communes"].str.split().map(lambda cs: bool(enclave & set(cs)))]
    assert len(row) == 1
    row = row.iloc[0]
    assert set(row["communes"].split()) == enclave
    assert row["option"] == "extension" and row["cpts_cible_id"] == "ARG"
    assert row["taille_avant"] == row["taille_apres"] == 3
    assert "au-delà du plafond" in row["motif"] and row["hors_territoire"] == ""


def test_vauvenargues_goes_to_the_cpts_of_its_bassin_de_vie(paca: World) -> None:
    rec = _recommended(paca.props)
    row = rec[rec["communes"].str.split().map(lambda cs: "13111" in cs)].iloc[0]
    # CPTS Aix Sainte Victoire borders it, holds its bassin de vie and stays in taille 3
    assert row["cpts_cible"] == "CPTS Aix Sainte Victoire"
    assert row["taille_avant"] == row["taille_apres"]
    assert "du bassin de vie d'Aix-en-Provence" in row["motif"]


def _contiguous_to(world: World, part: set[str], target: set[str]) -> bool:
    return all(any(world.neighbours[c] & target for c in comp) for comp in world.components(part))


def test_every_extension_touches_its_cpts_and_names_its_mentor(world: World) -> None:
    # on every département: an extension, temporary or not, is contiguous with the CPTS that
    # takes it (or with another part it takes in the same zone); only units no CPTS borders
    # (islands, zones surrounded by white units) go to the nearest mature CPTS, and say so
    rec = _recommended(world.props)
    aci = set(world.cpts.index[world.cpts["stade"] == "aci"])
    others = rec[rec["option"] != "creation"]
    assert len(others) > 0
    for row in others.itertuples():
        part = codes_of(row)
        same = others[
            (others["zone_id"] == row.zone_id) & (others["cpts_cible_id"] == row.cpts_cible_id)
        ]
        taken = set().union(*map(codes_of, same.itertuples())) - part
        target = world.members[row.cpts_cible_id] | taken
        if not _contiguous_to(world, part, target):
            assert row.option == "rattachement_temporaire", row.proposition_id
            assert re.search(r"île|aucune CPTS voisine|sans géométrie", row.motif), row.motif
    temporary = others[others["option"] == "rattachement_temporaire"]
    assert len(temporary) > 0
    assert temporary["cpts_mentor_id"].isin(aci).all()
    assert (
        temporary["cpts_mentor"]
        == world.cpts["nom"].reindex(temporary["cpts_mentor_id"]).to_numpy()
    ).all()
    assert (rec.loc[rec["option"] != "rattachement_temporaire", "cpts_mentor"] == "").all()


def _under_the_plancher(props: pd.DataFrame) -> pd.DataFrame:
    """Recommended creations under their effective plancher: only zones themselves under it
    that no CPTS can take (the motif says so)."""
    rec = _recommended(props)
    created = rec[rec["option"] == "creation"]
    plancher = created["details"].map(plancher_of)
    assert (plancher >= MINIMUM).all() and (plancher <= FLOOR).all()
    small = created[created["population_ajoutee"] < plancher]
    assert (small["population_zone"] < plancher[small.index]).all()
    assert small["motif"].str.contains("faute de CPTS").all(), small["motif"]
    return created


def test_no_recommended_creation_under_the_plancher(world: World) -> None:
    _under_the_plancher(world.props)


def test_an_explicit_plancher_holds(demo_registry: Path) -> None:
    # --plancher given: it holds as given, the registry lowers nothing
    with couverture.analyse(demo_registry, departements="35") as a:
        props = suggest(a, floor=30_000)
    created = _recommended(props)
    created = created[created["option"] == "creation"]
    assert len(created) > 0
    assert not props["details"].str.contains("plancher abaissé").any()
    assert (created["motif"].map(band_of).str[0] >= 30_000).all()
    small = created[created["population_ajoutee"] < 30_000]
    assert (small["population_zone"] < 30_000).all(), small["motif"]
    assert small["motif"].str.contains("faute de CPTS").all(), small["motif"]


def test_intact_intercommunalities_are_not_scattered(demo: World) -> None:
    units = demo.units.set_index("code")
    epci = units["epci"].fillna("")
    covered = {c for cs in demo.members.values() for c in cs}
    held = set(epci[epci.index.isin(covered)])
    pops = units["population"].groupby(epci).sum()
    rec = _recommended(demo.props)
    rows_of: dict[str, set[int]] = defaultdict(set)
    for i, cs in zip(rec.index, rec["communes"], strict=True):
        for c in cs.split():
            rows_of[c].add(i)
    zone_of = {
        c: z
        for z, cs in zip(demo.zones["zone_id"], demo.zones["communes"], strict=True)
        for c in cs.split()
    }
    checked = 0
    for e, members in epci.groupby(epci).groups.items():
        if not e or e in held or pops[e] > CEILING:
            continue
        by_zone: dict[str, set[int]] = defaultdict(set)
        for c in members:
            if c in zone_of:
                by_zone[zone_of[c]] |= rows_of[c]
        for rows in by_zone.values():
            checked += 1
            assert len(rows) <= 2, (e, rec.loc[sorted(rows), "motif"].tolist())
    assert checked > 20
    # the CC de l'Alsace Bossue (67, no CPTS) is one proposal, inside its territory
    alsace = epci[units.index[units["nom"] == "Sarre-Union"][0]]
    rows = set().union(*(rows_of[c] for c in epci.index[epci == alsace]))
    assert len(rows) == 1
    assert (rec.loc[sorted(rows), "hors_territoire"] != "département").all()
