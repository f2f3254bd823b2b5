"""History store and month-to-month changes, on a registry of real communes (Lozère)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

import couverture
from couverture import history
from couverture._format import integer

DEP = "48"


@pytest.fixture(scope="module")
def lozere(tmp_path_factory: pytest.TempPathFactory, units: pd.DataFrame) -> dict:
    """Snapshots of two registries: every EPCI of Lozère is a CPTS, then the largest one is
    dissolved and a second one loses a commune."""
    tmp = tmp_path_factory.mktemp("historique")
    dep = units[units["departement"] == DEP]
    epcis = dep.groupby("epci")["code"].agg(sorted).sort_index()
    rows = [
        (f"L{i}", f"CPTS Lozère {i}", "ACI signé", code)
        for i, codes in enumerate(epcis)
        for code in codes
    ]
    full = pd.DataFrame(rows, columns=["cpts_id", "nom_cpts", "stade", "code_insee"])
    dissolved = "L0"
    _shrunk, lost = "L1", epcis.iloc[1][-1]
    later = full[(full["cpts_id"] != dissolved) & (full["code_insee"] != lost)]
    snaps = {}
    for name, frame in (("avant", full), ("apres", later)):
        path = tmp / f"registre-{name}.csv"
        frame.to_csv(path, index=False)
        with couverture.analyse(path, departements=DEP) as a:
            snaps[name] = history.snapshot(a)
    return {
        "tmp": tmp,
        "snaps": snaps,
        "dissolved": epcis.iloc[0],
        "lost": lost,
        "dep_units": dep.set_index("code"),
    }


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-11", "novembre", "2026-00", ""])
def test_check_month_rejects(bad: str) -> None:
    with pytest.raises(couverture.ArgumentError, match="mois invalide"):
        history.check_month(bad)


def test_snapshot_content(lozere: dict) -> None:
    snap = lozere["snaps"]["avant"]
    assert len(snap.communes) == len(lozere["dep_units"]) == 152
    assert snap.communes["stade"].eq("aci").all()
    assert snap.info["population"] == lozere["dep_units"]["population"].sum()
    assert snap.info["taux_aci"] == 100.0 and snap.info["n_zones"] == 0
    assert set(snap.taux["niveau"]) == {"france", "region", "departement"}
    l0 = snap.cpts.set_index("cpts_id").loc["L0"]
    assert l0["communes"].split() == lozere["dissolved"]


def test_changes_dissolution_and_perimeter(lozere: dict) -> None:
    before, after = lozere["snaps"]["avant"], lozere["snaps"]["apres"]
    changes = history.changes(before, after)
    kinds = changes.groupby("type")["cpts_id"].agg(set).to_dict()
    assert set(kinds) == {
        "cpts_dissoute",
        "perimetre_reduit",
        "communes_decouvertes",
        "zone_nouvelle",
    }
    assert kinds["cpts_dissoute"] == {"L0"} and kinds["perimetre_reduit"] == {"L1"}
    uncovered = set(
        " ".join(changes.loc[changes["type"] == "communes_decouvertes", "communes"]).split()
    )
    assert uncovered == {*lozere["dissolved"], lozere["lost"]}
    new_zones = changes[changes["type"] == "zone_nouvelle"]
    assert set(" ".join(new_zones["communes"]).split()) == uncovered
    assert (
        new_zones["population"].sum()
        == lozere["dep_units"].loc[sorted(uncovered), "population"].sum()
    )
    lost_name = lozere["dep_units"].loc[lozere["lost"], "nom"]
    assert lost_name in changes.loc[changes["type"] == "perimetre_reduit", "noms_communes"].iloc[0]
    # the reverse direction is the mirror image
    back = history.changes(after, before)
    assert set(back["type"]) == {
        "cpts_creee",
        "perimetre_etendu",
        "communes_couvertes",
        "zone_disparue",
    }
    assert history.changes(before, before).empty


def test_a_grown_zone_tells_its_population_in_french(lozere: dict, tmp_path: Path) -> None:
    """A zone blanche that keeps its id and grows (a neighbouring CPTS dissolved) is a
    `zone_modifiee` whose populations are written with the French thousands separator."""
    dep = lozere["dep_units"]
    registry = pd.read_csv(lozere["tmp"] / "registre-avant.csv", dtype=str)
    snaps = []
    for gone in (["L1"], ["L1", "L0"]):  # L1's smallest code is below L0's: the id stays
        path = tmp_path / f"registre-{'-'.join(gone)}.csv"
        registry[~registry["cpts_id"].isin(gone)].to_csv(path, index=False)
        with couverture.analyse(path, departements=DEP) as a:
            snaps.append(history.snapshot(a))
    changes = history.changes(*snaps)
    grown = changes[changes["type"] == "zone_modifiee"]
    assert len(grown) == 1
    zone = snaps[1].zones.set_index("zone_id").loc[grown["cpts"].iloc[0]]
    codes = zone["communes"].split()
    population = int(dep.loc[codes, "population"].sum())
    assert population >= 1000 and zone["population"] == population
    assert grown["apres"].iloc[0] == f"{len(codes)} communes, {integer(population)} hab."
    assert "\u202f" in grown["apres"].iloc[0] and "\u202f" in grown["avant"].iloc[0]


def test_save_replaces_one_month_only(lozere: dict, tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    before, after = lozere["snaps"]["avant"], lozere["snaps"]["apres"]
    history.save_snapshot(before, month="2026-09", path=path)
    history.save_snapshot(before, month="2026-10", path=path)
    history.save_snapshot(after, month="2026-10", path=path)  # re-run of October
    months = history.months(path=path)
    assert list(months["mois"]) == ["2026-09", "2026-10"]
    assert list(months["empreinte"]) == [before.info["empreinte"], after.info["empreinte"]]
    assert history.previous_month("2026-11", path=path) == "2026-10"
    assert history.previous_month("2026-09", path=path) is None
    sept = history.load_snapshot("2026-09", path=path)
    assert len(sept.communes) == len(before.communes) and len(sept.zones) == 0
    assert set(history.compare("2026-09", "2026-10", path=path)["type"]) == set(
        history.changes(before, after)["type"]
    )
    with pytest.raises(couverture.HistoryError, match="mois 2026-08 absent"):
        history.load_snapshot("2026-08", path=path)


def test_demo_never_overwrites_a_real_month(lozere: dict, tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    real = lozere["snaps"]["avant"]
    history.save_snapshot(real, month="2026-10", path=path)
    demo = history.Snapshot(**{**real.__dict__, "info": {**real.info, "fictif": True}})
    with pytest.raises(couverture.HistoryError, match="registre fictif ne peut pas"):
        history.save_snapshot(demo, month="2026-10", path=path)
    assert not history.months(path=path)["fictif"].any()
    history.save_snapshot(demo, month="2026-11", path=path)
    assert history.previous_month("2026-12", path=path, fictif=False) == "2026-10"
    assert history.previous_month("2026-12", path=path, fictif=True) == "2026-11"


def test_a_departement_never_silently_replaces_a_wider_month(lozere: dict, tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    real = lozere["snaps"]["avant"]
    national = history.Snapshot(**{**real.__dict__, "info": {**real.info, "perimetre": "France"}})
    history.save_snapshot(national, month="2026-10", path=path)
    with pytest.raises(couverture.HistoryError, match="périmètre"):
        history.save_snapshot(real, month="2026-10", path=path)
    with pytest.raises(couverture.HistoryError, match="--remplacer-perimetre"):
        history.check_scope("2026-10", perimetre=real.info["perimetre"], path=path)
    history.check_scope("2026-11", perimetre=real.info["perimetre"], path=path)  # free month
    assert list(history.months(path=path)["perimetre"]) == ["France"]
    history.save_snapshot(real, month="2026-10", path=path, replace_scope=True)
    assert list(history.months(path=path)["perimetre"]) == [real.info["perimetre"]]


def test_missing_history(tmp_path: Path) -> None:
    with pytest.raises(couverture.HistoryError, match="absent"):
        history.months(path=tmp_path / "rien.duckdb")
    assert history.previous_month("2026-11", path=tmp_path / "rien.duckdb") is None


def test_history_tables_in_the_terminal(
    lozere: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rich.cells import cell_len

    from couverture import cli

    path = tmp_path / "h.duckdb"
    history.save_snapshot(lozere["snaps"]["avant"], month="2026-09", path=path)
    history.save_snapshot(lozere["snaps"]["apres"], month="2026-10", path=path)
    assert cli.main(["historique", "--historique", str(path), "--format", "csv"]) == 0
    machine = pd.read_csv(io.StringIO(capsys.readouterr().out))
    # the machine table keeps every column; each stage has its population and rate
    for s in ("lettre_intention", "projet_sante", "aci"):
        assert {f"pop_{s}", f"taux_{s}"} <= set(machine.columns)
    assert {"empreinte", "ecrit_le", "population"} <= set(machine.columns)
    for args in (
        ["historique", "--historique", str(path)],
        ["evolution", "--de", "2026-09", "--a", "2026-10", "--historique", str(path)],
    ):
        assert cli.main(args) == 0
        out = capsys.readouterr().out
        assert max(cell_len(line) for line in out.splitlines()) <= 120, args[0]
        assert "100,00" in out or "changements" in out  # French decimals / plural caption
    # stage words of the change rows: the short labels of config/vocabulaire_stades.csv
    changes = history.compare("2026-09", "2026-10", path=path)
    dissolved = changes[changes["type"] == "cpts_dissoute"].iloc[0]
    assert dissolved["avant"] == "ACI"
