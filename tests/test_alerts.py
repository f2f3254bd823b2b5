"""Alerts (stage dates, coordinators to share) and the projection of full coverage, on a
hand-written registry of real communes around Rennes and a history of three months."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd
import pytest

import couverture
from couverture import alerts, history, plan, remontee, settings
from couverture._format import month as french_month

DEP = "35"
ON = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, units: pd.DataFrame) -> dict:
    tmp = tmp_path_factory.mktemp("alertes")
    dep = units[units["departement"] == DEP].set_index("code")
    adjacency = pd.read_parquet(settings.ADJACENCY_PATH, columns=["code_a", "code_b"])
    neighbours = adjacency.groupby("code_a")["code_b"].agg(set).to_dict()
    small = [c for c in dep.index if dep.loc[c, "population"] < 20_000]
    rennes = "35238"
    a = next(c for c in sorted(neighbours[rennes]) if c in small)
    b = next(c for c in sorted(neighbours[a]) if c in small and c != rennes)
    taken = {rennes, a, b}

    def far(code: str) -> bool:
        return code not in taken and not (neighbours.get(code, set()) & taken)

    c = next(x for x in small if far(x))
    taken.add(c)
    d = next(x for x in small if far(x))
    taken.add(d)
    # D grows month after month over small communes next to it (LI stage: ACI stays flat)
    others = taken - {d}
    growth = sorted(
        x
        for x in neighbours[d]
        if x in small and x not in taken and not (neighbours.get(x, set()) & others)
    )[:4]
    assert len(growth) >= 3
    rows = [
        ("E", "CPTS Rennes", "ACI signé", rennes, "2022-01-01", "2023-01-01", "2024-03-01"),
        ("A", "CPTS A", "lettre d'intention", a, "2025-06-01", "", ""),
        ("B", "CPTS B", "projet de santé", b, "2025-01-01", "2026-01-15", ""),
        ("C", "CPTS C", "projet de santé", c, "2024-06-01", "2025-01-10", ""),
        ("D", "CPTS D", "lettre d'intention", d, "2026-06-01", "", ""),
    ]
    columns = [
        "cpts_id", "nom_cpts", "stade", "code_insee",
        "date_lettre_intention", "date_projet_sante", "date_aci",
    ]  # fmt: skip
    base = pd.DataFrame(rows, columns=columns)
    registries = []
    for k, extra in enumerate((growth[:1], growth[:2], growth[:4])):
        more = pd.DataFrame([{**base.iloc[4].to_dict(), "code_insee": x} for x in extra])
        path = tmp / f"registre-{k}.csv"
        pd.concat([base, more]).to_csv(path, index=False)
        registries.append(path)
    return {"tmp": tmp, "registries": registries}


def test_stage_alerts_and_months(world: dict) -> None:
    with couverture.analyse(world["registries"][0], departements=DEP) as a:
        table = alerts.cpts_alerts(a, on=ON).set_index("cpts_id")
        # a registry without a date: its file's date, never its latest stage date (issue 17)
        mtime = dt.date.fromtimestamp(world["registries"][0].stat().st_mtime)
        assert alerts.reference_date(a) == mtime
        assert alerts.reference_date(a, "2026-11-30") == ON
    assert table.loc["A", "mois_au_stade"] == 17
    assert (
        "à risque d'essoufflement : lettre d'intention depuis 17 mois (12 ou plus)"
        in table.loc["A", "alerte"]
    )
    assert table.loc["C", "mois_au_stade"] == 22
    assert "projet de santé depuis 22 mois sans ACI" in table.loc["C", "alerte"]
    assert table.loc["B", "mois_au_stade"] == 10
    assert "depuis" not in table.loc["B", "alerte"]
    assert table.loc["D", "mois_au_stade"] == 5 and "essoufflement" not in table.loc["D", "alerte"]
    assert table.loc["E", "date_stade"] == "2024-03-01" and table.loc["E", "alerte"] == ""
    assert table.loc["E", "taille"] == 4
    assert table.loc["B", "date_projet_sante"] == "2026-01-15"


def test_coordinator_pairs_are_small_neighbours(world: dict) -> None:
    with couverture.analyse(world["registries"][0], departements=DEP) as a:
        pairs = alerts.coordinator_pairs(a)
        table = alerts.cpts_alerts(a, on=ON).set_index("cpts_id")
    # A borders Rennes (taille 4: no pair) and B (taille 1): one pair
    assert pairs[["cpts_id_a", "cpts_id_b"]].values.tolist() == [["A", "B"]]
    assert "mutualiser possible avec CPTS B (taille 1)" in table.loc["A", "alerte"]
    assert "mutualiser possible avec CPTS A" in table.loc["B", "alerte"]
    assert "mutualiser" not in table.loc["C", "alerte"]


def test_abnormal_perimeters_and_shrinking(world: dict, tmp_path: Path) -> None:
    """One-commune CPTS under the floor are abnormal; a CPTS in two pieces too; a perimeter
    smaller than in the history's previous month is at risk; Rennes (ACI, taille 4) is not."""
    store = tmp_path / "historique.duckdb"
    with couverture.analyse(world["registries"][2], departements=DEP) as a:
        history.save_snapshot(history.snapshot(a), month="2026-10", path=store)
    with couverture.analyse(world["registries"][1], departements=DEP) as a:
        table = alerts.cpts_alerts(a, on=ON, history_path=store).set_index("cpts_id")
    assert "périmètre anormal : 1 commune seulement" in table.loc["A", "alerte"]
    assert "(périmètre non arrêté ?)" in table.loc["C", "alerte"]
    assert "hab., sous le plancher de 20" in table.loc["D", "alerte"]
    assert "périmètre anormal" not in table.loc["E", "alerte"]
    assert (
        "à risque d'essoufflement : périmètre réduit de 5 à 3 communes depuis 2026-10"
        in table.loc["D", "alerte"]
    )
    # a CPTS in two pieces: D's seat and a commune far from it
    rows = pd.read_csv(world["registries"][0], dtype=str)
    far_away = rows[rows["cpts_id"] == "C"].iloc[0]["code_insee"]
    extra = rows[rows["cpts_id"] == "D"].iloc[[0]].assign(code_insee=far_away)
    path = tmp_path / "morceaux.csv"
    pd.concat([rows, extra]).to_csv(path, index=False)
    with couverture.analyse(path, departements=DEP) as a:
        table = alerts.cpts_alerts(a, on=ON, history_path=tmp_path / "absent.duckdb")
    d = table.set_index("cpts_id").loc["D", "alerte"]
    assert "communes en 2 morceaux qui ne se touchent pas" in d


def test_plan_cpts_sheet(world: dict, tmp_path: Path) -> None:
    import openpyxl

    with couverture.analyse(world["registries"][0], departements=DEP) as a:
        p = plan.build_plan(a, on=ON, proposals=False)
    plan.write_plan(p, tmp_path / "plan.xlsx")
    frame = pd.read_excel(tmp_path / "plan.xlsx", sheet_name="cpts")
    # headers in the meeting's language
    assert list(frame.columns) == [plan.CPTS_TITLES[c] for c in alerts.CPTS_COLUMNS]
    frame = frame.rename(columns={t: k for k, t in plan.CPTS_TITLES.items()}).set_index("cpts_id")
    assert frame.loc["C", "mois_au_stade"] == 22
    assert frame.loc["A", "stade"] == "lettre d'intention"
    book = openpyxl.load_workbook(tmp_path / "plan.xlsx")
    readme = {r[0].value: r[1].value for r in book["lisez-moi"].iter_rows() if len(r) > 1}
    assert readme["Date de référence (retards, mois au stade)"] == ON.isoformat()


def test_projection_on_three_months_of_history(world: dict, tmp_path: Path) -> None:
    store = tmp_path / "historique.duckdb"
    months = ["2026-09", "2026-10", "2026-11"]
    for month, registry in zip(months, world["registries"], strict=True):
        with couverture.analyse(registry, departements=DEP) as a:
            history.save_snapshot(history.snapshot(a), month=month, path=store)
    with couverture.analyse(world["registries"][-1], departements=DEP) as a:
        series = alerts.history_series(a, departement=DEP, history_path=store)
        p = plan.build_plan(a, on=ON, proposals=False)
        plan.write_plan(p, tmp_path / "plan.xlsx")
        table, _ = remontee.remontee(
            a, plan.read_plan(tmp_path / "plan.xlsx"), month="2026-11", history_path=store
        )
    assert list(series["mois"]) == months
    li = (series["pop_lettre_intention"] / series["population"] * 100).tolist()
    assert li[0] < li[1] < li[2] < 100
    pace = (li[2] - li[0]) / 2
    needed = math.ceil((100 - li[2]) / pace)
    expected = pd.Period("2026-11", freq="M") + needed
    result = alerts.project(series)
    assert result["lettre_intention"]["mois"] == str(expected)
    assert result["aci"]["mois"] == alerts.NO_PROGRESS  # the ACI CPTS did not grow
    row = table.iloc[0]
    assert row["projection_lettre_intention"].startswith(french_month(str(expected)))
    assert row["projection_aci"] == alerts.NO_PROGRESS


def test_projection_window_and_edge_cases() -> None:
    months = [f"2026-{m:02d}" for m in range(1, 9)]
    # a jump in the first months, then +1 point a month: only the last six months count
    li = [10, 40, 50, 51, 52, 53, 54, 55]
    series = pd.DataFrame(
        {"mois": months, "population": 100, "pop_lettre_intention": li, "pop_aci": 100}
    )
    result = alerts.project(series, window=6)
    assert result["lettre_intention"]["rythme"] == pytest.approx(1.0)
    assert result["lettre_intention"]["mois"] == "2030-05"  # 45 months after 2026-08
    assert result["aci"]["mois"] == alerts.REACHED
    one = alerts.project(series.tail(1))
    assert one["lettre_intention"]["mois"] == alerts.TOO_SHORT
    assert alerts.project(series.iloc[0:0])["aci"]["mois"] == alerts.TOO_SHORT
    # months missing from the history: the pace is per calendar month
    gap = series.iloc[[3, 7]]
    assert alerts.project(gap)["lettre_intention"]["rythme"] == pytest.approx(1.0)


def test_no_coordinator_sharing_with_an_aci_cpts(world: dict, tmp_path: Path) -> None:
    """An ACI funds its own coordinator: its small neighbour is not told to share one."""
    rows = pd.read_csv(world["registries"][0], dtype=str, keep_default_na=False)
    rows.loc[rows["cpts_id"] == "B", ["stade", "date_aci"]] = ["ACI signé", "2026-06-01"]
    path = tmp_path / "aci.csv"
    rows.to_csv(path, index=False)
    with couverture.analyse(path, departements=DEP) as a:
        assert alerts.coordinator_pairs(a).empty
        table = alerts.cpts_alerts(a, on=ON, history_path=tmp_path / "absent.duckdb")
    assert not table["alerte"].str.contains("mutualiser").any()
