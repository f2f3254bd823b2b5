"""Coverage by stage on real communes: best stage, shares, cumulative rates, the PACA registry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import couverture
from couverture._config import STAGES


@pytest.fixture(scope="module")
def paca(paca_registry: Path) -> couverture.Analysis:
    a = couverture.analyse(paca_registry, default_stage="aci", departements="04,05,06,13,83,84")
    yield a
    a.close()


def test_paca_real_registry_figures(paca: couverture.Analysis) -> None:
    units = paca.units()
    assert len(units) == 961
    assert units["stade"].isna().sum() == 46
    rates = paca.rates(niveau="region").set_index("code")
    assert rates.loc["93", "population"] == units["population"].sum()
    assert rates.loc["93", "taux_aci"] == pytest.approx(98.06, abs=0.005)
    assert len(paca.cpts()) == 70
    by_code = units.set_index("code")
    assert pd.isna(by_code.loc["13201", "stade"])  # Marseille 1er: no CPTS
    assert by_code.loc["06088", "n_cpts"] == 3  # Nice
    assert by_code.loc["83137", "n_cpts"] == 2  # Toulon
    # population counted once: never more covered than lives there
    assert (units["pop_lettre_intention"] <= units["population"]).all()


def test_best_stage_and_shares(tmp_path: Path, units: pd.DataFrame, write_registry) -> None:
    rennes = units.set_index("code").loc["35238", "population"]
    rows = [
        {
            "cpts_id": "A",
            "nom_cpts": "CPTS A",
            "stade": "ACI signé",
            "code_insee": "35238",
            "part": "0.6",
        },
        {
            "cpts_id": "B",
            "nom_cpts": "CPTS B",
            "stade": "En création",
            "code_insee": "35238",
            "part": "0.3",
        },
        {
            "cpts_id": "B",
            "nom_cpts": "CPTS B",
            "stade": "En création",
            "code_insee": "35047",
            "part": "",
        },
        {
            "cpts_id": "C",
            "nom_cpts": "CPTS C",
            "stade": "Projet de santé validé",
            "code_insee": "35047",
            "part": "",
        },
        {
            "cpts_id": "D",
            "nom_cpts": "CPTS D",
            "stade": "En émergence",
            "code_insee": "35051",
            "part": "",
        },
    ]
    path = write_registry(tmp_path / "r.csv", rows)
    with couverture.analyse(path, departements="35") as a:
        u = a.units().set_index("code")
        rate = a.rates(niveau="departement").set_index("code").loc["35"]
    assert u.loc["35238", "stade"] == "aci"
    assert u.loc["35238", "pop_aci"] == round(0.6 * rennes)
    assert u.loc["35238", "pop_projet_sante"] == round(0.6 * rennes)
    assert u.loc["35238", "pop_lettre_intention"] == round(0.9 * rennes)
    assert u.loc["35238", "cpts"] == "CPTS A|CPTS B"
    # best stage wins; a unit claimed twice is counted once
    assert u.loc["35047", "stade"] == "projet_sante"
    assert u.loc["35047", "pop_lettre_intention"] == u.loc["35047", "population"]
    assert u.loc["35047", "pop_aci"] == 0
    # a pre-LI project is shown but leaves the unit white
    assert pd.isna(u.loc["35051", "stade"])
    assert u.loc["35051", "projets"] == "CPTS D"
    assert u.loc["35051", "pop_lettre_intention"] == 0
    # the tenth of Rennes no CPTS claims is not covered, nor in a zone blanche: said apart
    assert rate["population_non_attribuee"] == rennes - round(0.9 * rennes)
    white = u.loc[u["stade"].isna(), "population"].sum()
    assert rate["population_zones_blanches"] == white
    assert (
        rate["pop_lettre_intention"] + white + rate["population_non_attribuee"]
        == (rate["population"])
    )


def test_rates_are_cumulative_and_add_up(demo_registry: Path) -> None:
    with couverture.analyse(demo_registry) as a:
        france = a.rates(niveau="france").iloc[0]
        deps = a.rates(niveau="departement")
        regions = a.rates(niveau="region")
        epci = a.rates(niveau="epci")
        units = a.units()
    assert france["code"] == "FR"
    assert france["population"] == units["population"].sum()
    # every inhabitant somewhere: covered, in a zone blanche, or in the share of a shared
    # commune that no CPTS claims (Rennes, Nice… in the demo registry)
    assert france["population_non_attribuee"] > 500_000
    for table in (deps, regions, epci):
        for s in STAGES:
            assert table[f"pop_{s}"].sum() == france[f"pop_{s}"]
        rest = table["population_zones_blanches"] + table["population_non_attribuee"]
        assert (table["pop_lettre_intention"] + rest == table["population"]).all()
        assert table["population_non_attribuee"].sum() == france["population_non_attribuee"]
        assert (table["pop_lettre_intention"] >= table["pop_projet_sante"]).all()
        assert (table["pop_projet_sante"] >= table["pop_aci"]).all()
    assert len(deps) == 101
    assert len(regions) == 18
    assert deps["code"].isin(["2A", "2B", "974", "976"]).sum() == 4
    sirens = epci.loc[epci["code"] != "", "code"]
    assert sirens.str.fullmatch(r"\d{9}").all()
    expected = (100 * deps["pop_aci"] / deps["population"]).round(2)
    assert (deps["taux_aci"] - expected).abs().max() < 1e-9


def test_cpts_population_splits_unshared_claims(
    tmp_path: Path, units: pd.DataFrame, write_registry
) -> None:
    pop = units.set_index("code")["population"]
    rows = [
        {"cpts_id": "A", "nom_cpts": "CPTS A", "stade": "aci", "code_insee": "35238"},
        {"cpts_id": "B", "nom_cpts": "CPTS B", "stade": "aci", "code_insee": "35238"},
        {"cpts_id": "B", "nom_cpts": "CPTS B", "stade": "aci", "code_insee": "35047"},
    ]
    with couverture.analyse(write_registry(tmp_path / "r.csv", rows)) as a:
        table = a.cpts()
    assert table.loc["A", "population"] == round(pop["35238"] / 2)
    assert table.loc["B", "population"] == round(pop["35238"] / 2 + pop["35047"])
    assert table.loc["A", "taille"] == 3  # Rennes / 2 ≈ 115k: taille 3
    assert table.loc["A", "financement_max"] == 370_000


def test_cache_gives_identical_results(demo_registry: Path, tmp_path: Path, monkeypatch) -> None:
    from couverture import _cache

    # a cache of our own, empty: the first analysis computes, the second reads it
    monkeypatch.setattr(_cache, "cache_dir", lambda: tmp_path / "cache")
    with couverture.analyse(demo_registry, departements="35") as a:
        first = a.units()
        key = a.digest
    assert any((tmp_path / "cache").rglob("*")), "the computed units were cached"
    with couverture.analyse(demo_registry, departements="35") as b:
        assert _cache.get_frame("units|stade=", key) is not None
        again = b.units()
    pd.testing.assert_frame_equal(first, again)


def test_registry_date(tmp_path: Path, write_registry, paca_registry: Path) -> None:
    from couverture.analysis import registry_date

    rows = [
        {"cpts_id": "A", "nom_cpts": "A", "stade": "aci", "code_insee": "35238",
         "date_aci": "2024-03-01"},
        {"cpts_id": "B", "nom_cpts": "B", "stade": "aci", "code_insee": "35047",
         "date_aci": "2025-06-30"},
    ]  # fmt: skip
    with couverture.analyse(write_registry(tmp_path / "r.csv", rows)) as a:
        # a stage date is not the registry's date (issue 17 item 5): the file's, and said so
        assert a.meta["date_registre"] != "2025-06-30"
        assert a.meta["date_registre_source"] == "fichier"
        assert a.meta["date_registre_texte"].startswith("fichier modifié le ")
    with couverture.analyse(paca_registry, default_stage="aci") as a:
        when = registry_date(a.registry)
        assert (when.iso, when.source) == ("2026-01", "nom_fichier")  # from the file name


def test_paris_whole_city_expands_to_arrondissements(
    tmp_path: Path, units: pd.DataFrame, write_registry
) -> None:
    rows = [
        {"cpts_id": "P", "nom_cpts": "CPTS Paris", "stade": "Projet de santé validé",
         "code_insee": "75056"},
        {"cpts_id": "C", "nom_cpts": "CPTS Paris Centre", "stade": "ACI signé",
         "code_insee": "75101"},
    ]  # fmt: skip
    with couverture.analyse(write_registry(tmp_path / "r.csv", rows), departements="75") as a:
        u = a.units().set_index("code")
        rates = a.rates(niveau="departement").set_index("code")
        anomalies = a.registry.anomalies
    paris = units[units["commune"] == "75056"]
    assert sorted(u.index) == sorted(paris["code"])  # 20 arrondissements, no 75056 unit
    assert u["stade"].notna().all()
    assert u.loc["75101", "stade"] == "aci" and u.loc["75101", "n_cpts"] == 2
    assert rates.loc["75", "taux_projet_sante"] == 100
    assert rates.loc["75", "pop_aci"] == paris.set_index("code").loc["75101", "population"]
    assert anomalies["valeur"].astype(str).str.contains("75056").any()


def test_verifier_says_where_the_unclaimed_share_is(demo_registry: Path, capsys) -> None:
    from _helpers import run_cli

    with couverture.analyse(demo_registry, departements="35") as a:
        rennes = a.units().set_index("code").loc["35238"]
    unclaimed = int(rennes["population"] - rennes["pop_lettre_intention"])
    assert run_cli(["verifier", "--registre", str(demo_registry), "--departement", "35"]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "population non attribuée" in line]
    assert len(said) == 1, err
    assert str(unclaimed) == "".join(ch for ch in said[0].split(" habitant")[0] if ch.isdigit())
    assert "35238 Rennes" in said[0] and "hors zones blanches" in said[0]
