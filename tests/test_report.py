"""Monthly report on real communes (Territoire de Belfort): two months, changes, exports,
an interrupted run, the CLI and make."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from _helpers import history_rows as _history_rows
from _helpers import run_cli as _cli
from _helpers import tree_digests as _digest_tree

import couverture
from couverture import history, settings
from couverture._format import plural
from couverture.report import COLUMN_TITLES, build_report

DEP = "90"
BIN = Path(sys.executable).parent


def _registry(path: Path, rows: list[tuple[str, str, str, list[str]]]) -> Path:
    """Write a registry CSV: one row per (CPTS, commune)."""
    frame = pd.DataFrame(
        [(cid, nom, stade, code) for cid, nom, stade, codes in rows for code in codes],
        columns=["cpts_id", "nom_cpts", "stade", "code_insee"],
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def belfort(tmp_path_factory: pytest.TempPathFactory, units: pd.DataFrame) -> dict:
    """Two months of a registry of the Territoire de Belfort, reported one after the other.

    October: CPTS A (Grand Belfort EPCI, projet de santé) and B (an ACI), the third EPCI left
    white. November: A signs the ACI, a new CPTS C covers October's most populous zone.
    """
    tmp = tmp_path_factory.mktemp("rapport")
    dep = units[units["departement"] == DEP]
    epcis = dep.groupby("epci")["code"].agg(list).sort_index()
    a_codes, white_epci, b_codes = epcis.iloc[0], epcis.iloc[1], epcis.iloc[2]
    assert len(a_codes) == 52 and len(white_epci) == 22  # the EPCIs of the COG 2025
    oct_rows = [
        ("T90-A", "CPTS Grand Belfort", "projet de santé validé", a_codes),
        ("T90-B", "CPTS Sud Territoire", "ACI signé", b_codes),
    ]
    reg_oct = _registry(tmp / "registre-2026-10.csv", oct_rows)
    with couverture.analyse(reg_oct, departements=DEP) as a:
        zones_oct = a.zones()
    target_zone = zones_oct.iloc[0]
    nov_rows = [
        ("T90-A", "CPTS Grand Belfort", "ACI signé", a_codes),
        oct_rows[1],
        (
            "T90-C",
            "CPTS Nouvelle du Territoire",
            "lettre d'intention",
            target_zone.communes.split(),
        ),
    ]
    reg_nov = _registry(tmp / "registre-2026-11.csv", nov_rows)
    out, hist = tmp / "reports", tmp / "historique.duckdb"
    common = {
        "departements": DEP,
        "output_dir": out,
        "history_path": hist,
        "suggestions": False,
        "maps": False,
    }
    build_report(reg_oct, month="2026-10", **common)
    build_report(reg_nov, month="2026-11", **common)
    return {
        "tmp": tmp,
        "out": out,
        "hist": hist,
        "reg_oct": reg_oct,
        "reg_nov": reg_nov,
        "zones_oct": zones_oct,
        "zone": target_zone,
        "a_codes": a_codes,
        "nov_rows": nov_rows,
    }


def test_evolution_shows_exactly_the_changes(belfort: dict) -> None:
    zone = belfort["zone"]
    evolution = pd.read_csv(
        belfort["out"] / "2026-11" / "evolution-2026-11.csv",
        sep=";",
        decimal=",",
        encoding="utf-8-sig",
        dtype=str,
    )
    got = set(zip(evolution["Changement"], evolution["Identifiant CPTS"].fillna(""), strict=True))
    assert got == {
        ("Changement de stade", "T90-A"),
        ("CPTS créée", "T90-C"),
        ("Communes nouvellement couvertes", "T90-C"),
        ("Zone blanche disparue", ""),
    }
    rows = evolution.set_index("Changement")
    assert rows.loc["Changement de stade", "Avant"] == "projet de santé"
    assert rows.loc["Changement de stade", "Après"] == "ACI"
    assert rows.loc["Changement de stade", "Nombre de communes"] == "52"
    assert rows.loc["Zone blanche disparue", "CPTS"] == zone.zone_id
    assert rows.loc["Zone blanche disparue", "Après"] == "entièrement couverte"
    for kind in ("CPTS créée", "Communes nouvellement couvertes", "Zone blanche disparue"):
        assert rows.loc[kind, "Codes des communes"] == zone.communes
        assert int(rows.loc[kind, "Population"]) == zone.population
    # the same changes from the history store, and in the page
    stored = history.compare("2026-10", "2026-11", path=belfort["hist"])
    assert len(stored) == 4 and set(stored["type"]) == {
        "changement_stade",
        "cpts_creee",
        "communes_couvertes",
        "zone_disparue",
    }
    page = (belfort["out"] / "2026-11" / "index.html").read_text(encoding="utf-8")
    assert "Changements entre octobre 2026 et novembre 2026 : 4 lignes" in page
    assert "CPTS Nouvelle du Territoire" in page and zone.zone_id in page
    first = (belfort["out"] / "2026-10" / "index.html").read_text(encoding="utf-8")
    assert "Premier mois enregistré" in first


def test_history_months(belfort: dict, capsys: pytest.CaptureFixture[str]) -> None:
    months = history.months(path=belfort["hist"])
    assert list(months["mois"]) == ["2026-10", "2026-11"]
    assert list(months["registre"]) == [str(belfort["reg_oct"]), str(belfort["reg_nov"])]
    assert (months["n_zones"].iloc[1]) == len(belfort["zones_oct"]) - 1
    assert months["pop_aci"].iloc[1] > months["pop_aci"].iloc[0]
    assert _cli(["historique", "--historique", str(belfort["hist"]), "--format", "csv"]) == 0
    listed = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out), dtype={"mois": str})
    assert list(listed["mois"]) == ["2026-10", "2026-11"]
    code = _cli(
        [
            "evolution",
            "--de",
            "2026-10",
            "--a",
            "2026-11",
            "--historique",
            str(belfort["hist"]),
            "--format",
            "csv",
        ]
    )
    assert code == 0
    assert len(pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))) == 4
    assert (
        _cli(
            ["evolution", "--de", "2026-09", "--a", "2026-11", "--historique", str(belfort["hist"])]
        )
        == 2
    )
    assert "mois 2026-09 absent" in capsys.readouterr().err


def test_xlsx_equals_csv_and_taux_command(
    belfort: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = belfort["out"] / "2026-11"
    book = openpyxl.load_workbook(folder / "couverture-2026-11.xlsx")
    expected = {"Synthèse", "France", "Régions", "Départements", "Zones blanches", "Évolution"}
    assert expected <= set(book.sheetnames)
    sheet = pd.read_excel(
        folder / "couverture-2026-11.xlsx", sheet_name="Départements", dtype={"Code": str}
    )
    csv = pd.read_csv(
        folder / "departements-2026-11.csv",
        sep=";",
        decimal=",",
        encoding="utf-8-sig",
        dtype={"Code": str},
    )
    assert (folder / "departements-2026-11.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    pd.testing.assert_frame_equal(sheet, csv, check_dtype=False)  # Excel: 100.0 reads as 100
    assert (
        _cli(
            [
                "taux",
                "--registre",
                str(belfort["reg_nov"]),
                "--departement",
                DEP,
                "--niveau",
                "departement",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    taux = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out), dtype={"code": str})
    taux = taux.rename(columns=COLUMN_TITLES)[list(csv.columns)]
    pd.testing.assert_frame_equal(taux, csv, check_dtype=False)
    assert csv["Code"].tolist() == [DEP] and csv["Population"].iloc[0] == 140_255
    # frozen header and French titles
    ws = book["Zones blanches"]
    assert ws.freeze_panes == "A2" and ws["A1"].value == "Zone blanche (référence)"
    # zones named by place beside their reference
    assert ws["B1"].value == "Zone blanche"
    names = [c.value for c in ws["B"][1:] if c.value is not None]
    assert all(str(n).startswith("Zone blanche d") for n in names), names


def test_interrupted_run_keeps_previous_files_and_history(belfort: dict) -> None:
    out, hist = belfort["out"], belfort["hist"]
    before_files = {m: _digest_tree(out / m) for m in ("2026-10", "2026-11")}
    before_rows = _history_rows(hist)
    # December registry: C dissolved
    reg = _registry(belfort["tmp"] / "registre-2026-12.csv", belfort["nov_rows"][:2])
    args = [str(BIN / "couverture"), "rapport", "--mois", "2026-11", "--registre", str(reg)]
    args += ["--departement", DEP, "--sortie", str(out), "--historique", str(hist)]
    proc = subprocess.Popen(
        [*args, "--sans-cartes", "--sans-propositions"], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # kill as soon as it starts writing files
        if "écriture" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert {m: _digest_tree(out / m) for m in before_files} == before_files
    assert _history_rows(hist) == before_rows
    # a new run cleans up, replaces November only, and keeps October untouched
    build_report(
        reg,
        month="2026-11",
        departements=DEP,
        output_dir=out,
        history_path=hist,
        maps=False,
        suggestions=False,
    )
    assert sorted(p.name for p in out.iterdir()) == ["2026-10", "2026-11"]
    assert _digest_tree(out / "2026-10") == before_files["2026-10"]
    after = _history_rows(hist)
    for table, rows in after.items():
        assert [r for r in rows if r[0] == "2026-10"] == [
            r for r in before_rows[table] if r[0] == "2026-10"
        ]
    changes = history.compare("2026-10", "2026-11", path=hist)
    assert "cpts_creee" not in set(changes["type"])
    # put November back as the other tests expect it
    build_report(
        belfort["reg_nov"],
        month="2026-11",
        departements=DEP,
        output_dir=out,
        history_path=hist,
        maps=False,
        suggestions=False,
    )


def test_full_report_with_proposals_and_maps(
    belfort: dict, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="couverture")
    out = belfort["tmp"] / "complet"
    hist = belfort["tmp"] / "historique-complet.duckdb"
    folder = build_report(
        belfort["reg_oct"], month="2026-10", departements=DEP, output_dir=out, history_path=hist
    )
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page
    assert "graphique-evolution.png" in page and (folder / "graphique-evolution.png").exists()
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(folder / "zones-2026-10.gpkg")}
    zones = pyogrio.read_dataframe(folder / "zones-2026-10.gpkg", layer="zones_blanches")
    assert len(zones) == len(belfort["zones_oct"])
    if "propositions" in layers:  # couverture.suggest available
        assert "Option recommandée" in page
    if "propositions" in layers:  # the fiches of the département's zones, linked
        fiches = folder / "fiches" / "departement-90"
        assert 'href="fiches/departement-90/index.html"' in page
        assert 'href="fiches/departement-90/fiches-90.pdf"' in page
        for zone_id in belfort["zones_oct"]["zone_id"]:
            assert (fiches / f"{zone_id}.html").exists()
            assert f'href="fiches/departement-90/{zone_id}.html"' in page
        # the booklet is named where the user finds it, not in the report's staged folder
        said = [r.getMessage() for r in caplog.records if "livret" in r.getMessage()]
        assert len(said) == 1 and said[0].endswith(f"livret {fiches / 'fiches-90.pdf'}")
        assert (fiches / "fiches-90.pdf").exists()
    assert not [r for r in caplog.records if f"{out}{os.sep}." in r.getMessage()]
    maps = list(folder.rglob("departement-90.html"))
    if maps:  # couverture.maps available
        assert f'href="{maps[0].relative_to(folder).as_posix()}"' in page


def test_month_is_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(couverture.ArgumentError, match="mois invalide : « 2026-13 »"):
        build_report(settings.DEMO_REGISTRY_PATH, month="2026-13", output_dir=tmp_path)
    code = _cli(["rapport", "--mois", "nov-2026", "--registre", "x.csv", "--sortie", str(tmp_path)])
    assert code == 2 and "mois invalide : « nov-2026 »" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------
# département report (issue 11)
# ------------------------------------------------------------------------------------------
def test_projected_full_coverage() -> None:
    from couverture.report import projected_full_coverage

    # +5 points a month from 90 %: 100 % two months later
    assert projected_full_coverage(["2026-09", "2026-10", "2026-11"], [80, 85, 90]) == "2027-01"
    # the pace is taken over the whole record, across a year end
    assert projected_full_coverage(["2026-11", "2027-01"], [96.0, 97.0]) == "2027-07"
    assert projected_full_coverage(["2026-10", "2026-11"], [90, 90]) is None
    assert projected_full_coverage(["2026-10", "2026-11"], [91, 90]) is None
    assert projected_full_coverage(["2026-11"], [90]) is None
    assert projected_full_coverage(["2026-10", "2026-11"], [99, 100]) == "2026-11"


def test_departement_report_page(belfort: dict) -> None:
    """Belfort, November after October: the change since October and a projection."""
    page = (belfort["out"] / "2026-11" / "index.html").read_text(encoding="utf-8")
    assert "Territoire de Belfort (90)" in page.split("</h1>")[0]
    assert 'id="regions"' not in page and 'id="departements"' not in page
    assert 'id="epci"' in page and 'id="cpts"' in page
    # October → November from the two registries, not from the report
    rates = {}
    for month, reg in (("2026-10", belfort["reg_oct"]), ("2026-11", belfort["reg_nov"])):
        with couverture.analyse(reg, departements=DEP) as a:
            rates[month] = a.rates(niveau="departement").iloc[0]
    delta = rates["2026-11"]["taux_aci"] - rates["2026-10"]["taux_aci"]
    assert delta > 0
    shown = f"+{delta:.1f}".replace(".", ",") + " point depuis octobre 2026"
    assert shown in page
    assert "100 % prévu en " in page
    # the three EPCIs of the département, and the CPTS with their stage
    epci = page.split('id="epci"')[1].split("<h2")[0]
    assert epci.count("<tr>") == 1 + 3
    cpts = page.split('id="cpts"')[1].split("<h2")[0]
    assert "CPTS Nouvelle du Territoire" in cpts
    assert html_escape("Lettre d'intention validée") in cpts


def test_rapport_departement_35_on_demo(
    demo_registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["rapport", "--mois", "2026-11", "--registre", str(demo_registry)]
    args += ["--departement", "35", "--sortie", str(tmp_path / "r")]
    args += ["--historique", str(tmp_path / "h.duckdb"), "--sans-cartes", "--sans-fiches"]
    assert _cli(args) == 0
    page = (tmp_path / "r" / "2026-11" / "index.html").read_text(encoding="utf-8")
    title = page.split("</h1>")[0]
    assert "Ille-et-Vilaine (35)" in title
    assert "objectif 100 %" in page.split('id="evolution"')[0]
    assert 'id="epci"' in page and 'id="cpts"' in page and 'id="regions"' not in page
    assert "Taux par région" not in page
    # every EPCI with communes in 35 is listed, and every CPTS of the département
    with couverture.analyse(demo_registry, departements="35") as a:
        units, cpts, zones = a.units(), a.cpts(), a.zones()
        a_rates = a.rates(niveau="departement").set_index("code")
        date, digest = a.meta["date_registre_texte"], a.registry_digest
    epci = page.split('id="epci"')[1].split("<h2")[0]
    assert epci.count("<tr>") == 1 + units["epci"].nunique()
    section = page.split('id="cpts"')[1].split("<h2")[0]
    assert all(html_escape(n) in section for n in cpts["nom"])
    # the zones blanches with their recommended option on the first screen
    first = page.split('id="evolution"')[0]
    assert all(z in first for z in zones["zone_id"]) and "Option recommandée" in first
    # the unclaimed share of Rennes is said next to the zones, so the population adds up
    unclaimed = int(a_rates.loc["35", "population_non_attribuee"])
    assert unclaimed > 0 and f"Et {plural(unclaimed, 'habitant')} non attribués" in first
    # the registry's date in French, and where it comes from; fingerprints at the end only
    assert html_escape(date) in page.split("<nav>")[0]
    head, tail = page.split('<h2 id="empreintes">')
    assert digest[:12] not in head and digest in tail and 'id="zones"' in head


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


def test_months_at_stage_from_the_registry_dates(tmp_path: Path, units: pd.DataFrame) -> None:
    from couverture.report import months_at_stage

    codes = units.loc[units["departement"] == DEP, "code"].tolist()
    rows = [
        # ACI signed on 15 March 2026: 8 whole months on the registry's date (29 November)
        ("T90-A", "CPTS A", "ACI signé", "2025-06-01", "2026-03-15", codes[:10]),
        # lettre d'intention on 30 May 2026: 5 whole months (not quite 6) on 29 November
        ("T90-B", "CPTS B", "lettre d'intention", "2026-05-30", "", codes[10:20]),
        # ACI without a date: unknown
        ("T90-C", "CPTS C", "ACI signé", "", "", codes[20:30]),
        # a lettre d'intention of the registry's day
        ("T90-D", "CPTS D", "lettre d'intention", "2026-11-29", "", codes[30:40]),
    ]
    frame = pd.DataFrame(
        [(c, n, s, li, aci, code) for c, n, s, li, aci, cs in rows for code in cs],
        columns=["cpts_id", "nom_cpts", "stade", "date_lettre_intention", "date_aci", "code_insee"],
    ).assign(date_extraction="29/11/2026")  # the registry's date, stated in it
    path = tmp_path / "registre-date.csv"
    frame.to_csv(path, index=False)
    with couverture.analyse(path, departements=DEP) as a:
        assert a.meta["date_registre"] == "2026-11-29"
        cpts = a.cpts().reset_index()
        got = months_at_stage(a.registry.cpts, cpts, registry_date=a.meta["date_registre"])
    assert got is not None
    months = dict(zip(cpts["cpts_id"], got, strict=True))
    assert months["T90-A"] == 8 and months["T90-B"] == 5 and months["T90-D"] == 0
    assert pd.isna(months["T90-C"])


def test_workbook_with_a_text_column_of_missing_values_only(tmp_path: Path) -> None:
    """Found by make fuzz (seed 1003): every date_aci of the report's CPTS left out (after the
    registry's date) made a text column of NA only, and the column width a NaN."""
    from couverture.report import write_xlsx

    frame = pd.DataFrame({"cpts_id": ["A", "B"], "date_aci": pd.array([None, None], "string")})
    write_xlsx({"cpts": frame}, tmp_path / "rapport.xlsx")
    assert (tmp_path / "rapport.xlsx").stat().st_size > 0
