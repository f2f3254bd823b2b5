"""Tests of the demo registry generator on the national units (``make data``)."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.sparse.csgraph import connected_components

import couverture
from couverture import settings
from couverture._config import sources, stage_wordings
from couverture._errors import DataSourceError
from couverture.demo import (
    REGISTRY_COLUMNS,
    TARGET_ACI,
    TARGET_LETTRE_INTENTION,
    generate_demo_registry,
    write_demo_registry,
)

ANALYSIS = sources()["analyse"]
SHARED_MIN = ANALYSIS["seuil_commune_partagee"]
FLOOR = ANALYSIS["plancher_creation"]
CAP = ANALYSIS["plafond_taille_coherente"]
LEVELS = {"": 0, "lettre_intention": 1, "projet_sante": 2, "aci": 3}


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@pytest.fixture(scope="session")
def adjacency() -> pd.DataFrame:
    if not settings.ADJACENCY_PATH.exists():
        pytest.fail(f"{settings.ADJACENCY_PATH} absent : lancer `make data` avant les tests")
    return pd.read_parquet(settings.ADJACENCY_PATH)


@pytest.fixture(scope="session")
def registry(units: pd.DataFrame, adjacency: pd.DataFrame) -> pd.DataFrame:
    # its speed is measured by `make bench` (benchmarks/bench.py), tests never time anything
    return generate_demo_registry(units, adjacency)


@pytest.fixture(scope="session")
def rows(registry: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Registry rows with the unit's population, stage level and number of claimants."""
    wordings = stage_wordings()
    out = registry.copy()
    out["population"] = out["code_commune"].map(units.set_index("code")["population"])
    out["level"] = out["stade"].map(lambda s: LEVELS[wordings[_plain(s)]])
    out["claims"] = out.groupby("code_commune")["cpts_id"].transform("nunique")
    return out


@pytest.fixture(scope="session")
def best_level(rows: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Units with the most advanced stage claiming them (-1 for no claim)."""
    best = rows.groupby("code_commune")["level"].max()
    out = units.set_index("code")[["departement", "population", "superficie_km2"]].copy()
    out["level"] = best.reindex(out.index).fillna(-1).astype(int)
    return out


def test_same_seed_same_registry(
    registry: pd.DataFrame, units: pd.DataFrame, adjacency: pd.DataFrame
) -> None:
    again = generate_demo_registry(units, adjacency, seed=2026)
    assert again.to_csv(index=False) == registry.to_csv(index=False)
    other = generate_demo_registry(units, adjacency, seed=7)
    assert other.to_csv(index=False) != registry.to_csv(index=False)


def test_write_is_byte_identical(tmp_path) -> None:
    first = write_demo_registry(tmp_path / "a" / "registre.csv")
    second = write_demo_registry(tmp_path / "b" / "registre.csv")
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in first.parent.iterdir()) == ["registre.csv"]
    assert first.stat().st_mode & 0o777 == 0o644
    text = first.read_text(encoding="utf-8")
    assert text.startswith(",".join(REGISTRY_COLUMNS) + "\n")
    assert "\r" not in text
    back = pd.read_csv(first, dtype=str, keep_default_na=False)
    assert back["code_commune"].str.fullmatch(r"[0-9AB]{5}").all()
    assert back["code_commune"].str.startswith("0").any()


def test_columns_and_codes(registry: pd.DataFrame, units: pd.DataFrame) -> None:
    assert list(registry.columns) == REGISTRY_COLUMNS
    assert (registry["fictif"] == "oui").all()
    by_code = units.set_index("code")
    assert registry["code_commune"].isin(by_code.index).all()
    assert (registry["nom_commune"] == registry["code_commune"].map(by_code["nom"])).all()
    assert (registry["departement"] == registry["code_commune"].map(by_code["departement"])).all()
    assert not registry.duplicated(["cpts_id", "code_commune"]).any()
    ids = registry["cpts_id"].str.extract(r"^DEMO-(\d{2}|2[AB]|97\d)-(\d{3})$")
    assert ids.notna().all().all()
    assert (ids[0] == registry["departement"]).all()
    sort_key = registry[["cpts_id", "code_commune"]].apply(tuple, axis=1)
    assert sort_key.is_monotonic_increasing


def test_one_name_and_stage_per_cpts(registry: pd.DataFrame) -> None:
    per_cpts = registry.groupby("cpts_id")[["nom_cpts", "stade"]].nunique()
    assert (per_cpts == 1).all().all()
    names = registry.drop_duplicates("cpts_id")["nom_cpts"]
    assert names.is_unique
    assert names.str.startswith("CPTS ").all()
    assert names.str.startswith("CPTS du Pays ").sum() > 50
    assert 600 <= len(names) <= 1200


def test_stage_wordings_are_varied_and_understood(registry: pd.DataFrame) -> None:
    wordings = stage_wordings()
    stades = registry.drop_duplicates("cpts_id")["stade"]
    assert stades.map(lambda s: _plain(s) in wordings).all()
    counts = stades.value_counts()
    assert len(counts) >= 8
    assert 10 <= counts["En émergence"] <= 100


def test_cpts_are_contiguous(registry: pd.DataFrame, adjacency: pd.DataFrame) -> None:
    members = registry[["cpts_id", "code_commune", "departement"]].reset_index(drop=True)
    assert (members.groupby("cpts_id")["departement"].nunique() == 1).all()
    members["node"] = np.arange(len(members))
    edges = members.merge(adjacency, left_on="code_commune", right_on="code_a").merge(
        members, left_on=["cpts_id", "code_b"], right_on=["cpts_id", "code_commune"]
    )
    graph = sparse.coo_array(
        (np.ones(len(edges)), (edges["node_x"], edges["node_y"])), shape=(len(members),) * 2
    )
    _, label = connected_components(graph, directed=False)
    members["component"] = label
    pieces = members.groupby("cpts_id")["component"].nunique()
    assert (pieces == 1).all(), pieces[pieces > 1].index.tolist()[:10]


def test_population_per_cpts(rows: pd.DataFrame) -> None:
    shared = rows[(rows["population"] >= SHARED_MIN) & (rows["claims"] > 1)]
    exempt = set(shared["cpts_id"])
    plain = rows[~rows["cpts_id"].isin(exempt)]
    population = plain.groupby("cpts_id")["population"].sum()
    assert population.between(FLOOR, CAP).all(), population[~population.between(FLOOR, CAP)]
    assert len(population) > 3 * len(exempt)


def test_national_stage_mix(best_level: pd.DataFrame) -> None:
    total = best_level["population"].sum()
    aci = best_level.loc[best_level["level"] >= 3, "population"].sum() / total
    at_least_li = best_level.loc[best_level["level"] >= 1, "population"].sum() / total
    assert abs(aci - TARGET_ACI) <= 0.03
    assert abs(at_least_li - TARGET_LETTRE_INTENTION) <= 0.03


def test_white_zones(best_level: pd.DataFrame, adjacency: pd.DataFrame) -> None:
    white = best_level["level"] < 1
    by_dep = best_level.groupby("departement")
    white_units = white.groupby(best_level["departement"]).sum()
    assert (white_units > 0).mean() >= 0.75
    covered = best_level["population"].where(~white, 0).groupby(best_level["departement"]).sum()
    rate = covered / by_dep["population"].sum()
    assert rate.min() < 0.5 and rate.max() > 0.95
    assert set(rate.index[rate.index.str.startswith("97")]) == {"971", "972", "973", "974", "976"}
    # zones blanches: contiguous uncovered units of a département, mostly rural, of all sizes
    codes = best_level.index[white]
    dep = best_level["departement"]
    pairs = adjacency[adjacency["code_a"].isin(codes) & adjacency["code_b"].isin(codes)]
    pairs = pairs[dep[pairs["code_a"]].to_numpy() == dep[pairs["code_b"]].to_numpy()]
    position = pd.Series(np.arange(len(codes)), index=codes)
    graph = sparse.coo_array(
        (np.ones(len(pairs)), (position[pairs["code_a"]], position[pairs["code_b"]])),
        shape=(len(codes),) * 2,
    )
    _, label = connected_components(graph, directed=False)
    zone_pop = best_level.loc[codes, "population"].groupby(label).sum()
    assert zone_pop.between(2_000, 50_000).sum() >= 50
    assert (zone_pop >= 100_000).sum() >= 10
    density = best_level["population"] / best_level["superficie_km2"]
    assert density[white].median() < density[~white].median()


def test_shared_cities(rows: pd.DataFrame) -> None:
    big = rows[(rows["population"] >= SHARED_MIN) & (rows["claims"] > 1)]
    claims = big.groupby("code_commune")["cpts_id"].nunique()
    assert len(claims) >= 20
    assert claims.between(2, 3).all()
    parts = pd.to_numeric(big["part"].replace("", np.nan))
    with_parts = parts.notna().groupby(big["code_commune"]).agg(["all", "any"])
    assert (with_parts["all"] == with_parts["any"]).all()  # all claimants give a part, or none
    assert 5 <= with_parts["all"].sum() <= len(with_parts) - 5
    sums = parts.groupby(big["code_commune"]).sum()[with_parts["all"]]
    assert ((sums > 0) & (sums <= 1)).all()
    assert rows.loc[rows["part"] != "", "part"].str.fullmatch(r"0\.\d\d").all()
    assert (rows.loc[rows["part"] != "", "population"] >= SHARED_MIN).all()


def test_overlaps(rows: pd.DataFrame) -> None:
    small = rows[(rows["population"] < SHARED_MIN) & (rows["claims"] > 1)]
    per_unit = small.groupby("code_commune")["cpts_id"].nunique()
    assert 10 <= len(per_unit) <= 30
    assert (per_unit == 2).all()
    assert (small["part"] == "").all()


def test_paris_cpts_group_a_few_arrondissements(rows: pd.DataFrame) -> None:
    paris = rows[rows["departement"] == "75"]
    assert paris["code_commune"].str.startswith("751").all()
    size = paris.groupby("cpts_id")["code_commune"].nunique()
    assert len(size) >= 5
    assert size.max() <= 5
    assert (size > 1).any()
    assert re.fullmatch(r"CPTS Paris .+", paris["nom_cpts"].iloc[0])


def test_missing_column_is_reported(units: pd.DataFrame, adjacency: pd.DataFrame) -> None:
    with pytest.raises(DataSourceError, match="bassin_vie"):
        generate_demo_registry(units.drop(columns="bassin_vie"), adjacency)


def test_previous_month_shows_an_evolution(tmp_path, units) -> None:
    """The demo's month before: some CPTS a stage behind, some not yet created."""
    from couverture import history
    from couverture.demo import previous_month
    from couverture.registry import normalise_stage

    current = pd.read_csv(settings.DEMO_REGISTRY_PATH, dtype=str, keep_default_na=False)
    before = previous_month(current)
    pd.testing.assert_frame_equal(before, previous_month(current))  # deterministic
    stage_now = (
        current.drop_duplicates("cpts_id").set_index("cpts_id")["stade"].map(normalise_stage)
    )
    stage_then = (
        before.drop_duplicates("cpts_id").set_index("cpts_id")["stade"].map(normalise_stage)
    )
    created = set(stage_now.index) - set(stage_then.index)
    assert created and all(stage_now[c] == "lettre_intention" for c in created)
    rank = {"lettre_intention": 1, "projet_sante": 2, "aci": 3}
    moved = [c for c in stage_then.index if stage_then[c] != stage_now[c]]
    assert moved and all(rank[stage_then[c]] == rank[stage_now[c]] - 1 for c in moved)
    # the history sees exactly these changes between the two months
    paths = {"2026-10": tmp_path / "avant.csv", "2026-11": tmp_path / "apres.csv"}
    before.to_csv(paths["2026-10"], index=False)
    current.to_csv(paths["2026-11"], index=False)
    snaps = {}
    for month, path in paths.items():
        with couverture.analyse(path) as a:
            snaps[month] = history.snapshot(a)
    changes = history.changes(snaps["2026-10"], snaps["2026-11"])
    kinds = changes.groupby("type")["cpts_id"].agg(set)
    assert kinds["cpts_creee"] == created
    assert kinds["changement_stade"] == set(moved)


def test_sheet_preview_shows_a_sheet_as_a_spreadsheet_does(tmp_path) -> None:
    """The README's screenshots of the plan: header fills kept, dates as dates, blank rows out."""
    import datetime as dt

    import openpyxl
    from openpyxl.styles import PatternFill

    from couverture.demo import sheet_preview

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "zones"
    ws.append(["zone_id", "statut", "echeance"])
    ws.append(["ZB-35-35006", "en cours", dt.date(2026, 11, 15)])
    ws.append([None, None, None])
    ws["B1"].fill = PatternFill("solid", fgColor="FFF2CC")
    wb.save(tmp_path / "plan.xlsx")
    page = sheet_preview(
        tmp_path / "plan.xlsx",
        "zones",
        tmp_path / "apercu.html",
        title="Plan",
        columns=["statut", "echeance"],
    ).read_text(encoding="utf-8")
    assert '<th style="background:#FFF2CC">statut</th>' in page
    assert "<td>2026-11-15</td>" in page and "ZB-35-35006" not in page
    assert page.count("<tr>") == 2
