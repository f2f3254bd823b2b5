"""Plan d'action at the grain of projects, over three months on real communes (Ille-et-Vilaine,
the demo registry's CPTS): a first plan proposing one project per recommended proposal, filled
as a task force would; next month a new CPTS (another name) claims a creation project's
perimeter but one commune; the month after it reaches projet de santé. Remontée, overwrite
refusal, plans written before projects."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import couverture
from couverture import plan
from couverture.cli import main

DEP = "35"
OCT = dt.date(2026, 10, 31)
NOV = dt.date(2026, 11, 30)
DEC = dt.date(2026, 12, 31)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _columns(ws: openpyxl.worksheet.worksheet.Worksheet, titles: dict[str, str]) -> dict[str, int]:
    keys = {t: k for k, t in titles.items()}
    return {keys[str(c.value)]: c.column for c in ws[1] if str(c.value) in keys}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, demo_registry: Path) -> dict:
    tmp = tmp_path_factory.mktemp("plan")
    demo = pd.read_csv(demo_registry, dtype=str, keep_default_na=False)
    rows = demo[demo["departement"] == DEP]
    reg1 = tmp / "registre_2026-10-31.csv"
    rows.to_csv(reg1, index=False)
    with couverture.analyse(reg1, departements=DEP) as a:
        first = plan.build_plan(a, on=OCT)
        population = a.units().set_index("code")["population"]
    projects = first.projects
    creations = projects[projects["type"] == "creation"].sort_values("population")
    assert len(creations) >= 1 and len(projects) >= 3, "the demo leaves proposals in 35"
    claimed = creations.iloc[-1]
    other = projects[projects["projet_id"] != claimed["projet_id"]].iloc[0]
    codes = claimed["communes"].split()
    left = min(codes, key=lambda c: population[c])  # the commune the new CPTS leaves out
    # next month: a new CPTS, under another name than the project's, at lettre d'intention
    template = rows.iloc[0].to_dict()
    new = pd.DataFrame(
        [
            {
                **template,
                "cpts_id": "NOUV-35",
                "nom_cpts": "CPTS Nouvelle du Territoire",
                "stade": "Lettre d'intention validée",
                "code_commune": c,
                "nom_commune": "",
            }
            for c in codes
            if c != left
        ]
    )
    reg2 = tmp / "registre_2026-11-30.csv"
    pd.concat([rows, new]).to_csv(reg2, index=False)
    reg3 = tmp / "registre_2026-12-31.csv"
    later = new.assign(stade="Projet de santé validé")
    pd.concat([rows, later]).to_csv(reg3, index=False)
    return {
        "tmp": tmp,
        "reg1": reg1,
        "reg2": reg2,
        "reg3": reg3,
        "first": first,
        "claimed": claimed["projet_id"],
        "other": other["projet_id"],
        "left": left,
    }


@pytest.fixture(scope="module")
def filled(world: dict) -> Path:
    """October's plan filled with openpyxl: two projects decided with their rétro-planning."""
    path = world["tmp"] / "plan-octobre.xlsx"
    plan.write_plan(world["first"], path)
    book = openpyxl.load_workbook(path)
    ws = book[plan.SHEET_PROJECTS]
    col = _columns(ws, plan.PROJECT_TITLES)
    line = {ws.cell(row=r, column=col["projet_id"]).value: r for r in range(2, ws.max_row + 1)}
    decided = {
        world["claimed"]: {
            "statut": "En cours",  # typed by hand: case is forgiven
            "porteur": "MSP de la commune centre",
            "fir_montant": 50000,
            "fir_etp": "0,5",
            "fir_debut": "01/01/2027",
            "fir_duree": 36,
            "modalites_suivi": "comité de pilotage mensuel",
            "acteurs": "URPS, élus, ARS",
        },
        world["other"]: {"statut": "à lancer", "acteurs": "CPAM, élus", "fir_montant": 30000},
    }
    for pid, values in decided.items():
        for column, value in values.items():
            ws.cell(row=line[pid], column=col[column], value=value)
    jalons = book[plan.SHEET_MILESTONES]
    mcol = _columns(jalons, plan.MILESTONE_TITLES)
    for r in range(2, jalons.max_row + 1):
        pid = jalons.cell(row=r, column=mcol["projet_id"]).value
        name = jalons.cell(row=r, column=mcol["jalon"]).value
        if pid in decided and name == "lettre d'intention":
            jalons.cell(row=r, column=mcol["prevue"], value=dt.date(2026, 11, 15))
        if pid in decided and name == "réunion opérationnelle":
            jalons.cell(row=r, column=mcol["realisee"], value=dt.date(2026, 11, 3))
    out = world["tmp"] / "plan-octobre-rempli.xlsx"
    book.save(out)
    return out


@pytest.fixture(scope="module")
def months(world: dict, filled: Path) -> dict:
    """November's and December's plans, each carried from the month before."""
    out = {}
    previous = plan.read_plan(filled)
    for name, registry, on in (("nov", world["reg2"], NOV), ("dec", world["reg3"], DEC)):
        with couverture.analyse(registry, departements=DEP) as a:
            none = world["tmp"] / "sans-historique.duckdb"  # the machine's history plays no part
            built = plan.build_plan(a, previous=previous, on=on, proposals=False, history_path=none)
            path = world["tmp"] / f"plan-{name}.xlsx"
            plan.write_plan(built, path)
            out[name] = built
            out[f"{name}_path"] = path
            out[f"{name}_suivi"] = plan.follow_up(a, previous, on=on, history_path=none)
        previous = plan.read_plan(path)
    return out


def test_first_plan_proposes_one_project_per_recommended_proposal(world: dict) -> None:
    with couverture.analyse(world["reg1"], departements=DEP) as a:
        from couverture.suggest import suggest

        recommended = suggest(a)
        recommended = recommended[recommended["recommandee"] == "oui"]
        white = set(a.zone_units()["code"])
    projects = world["first"].projects
    assert len(projects) == len(recommended)
    assert set(projects["statut"]) == {plan.PROPOSED}
    assert projects["projet_id"].is_unique
    assert all(p.startswith("P-35-") for p in projects["projet_id"])
    perimeters = [c for cs in projects["communes"] for c in cs.split()]
    assert sorted(perimeters) == sorted(white)  # every white commune in exactly one project


def test_workbook_speaks_the_meeting_language(world: dict, filled: Path) -> None:
    book = openpyxl.load_workbook(world["tmp"] / "plan-octobre.xlsx")
    assert book.sheetnames[:3] == ["projets", "jalons", "cpts"]
    ws = book["projets"]
    headers = [c.value for c in ws[1]]
    assert "Stratégie retenue" in headers and "strategie_retenue" not in headers
    values = {ws.cell(row=r, column=3).value for r in range(2, ws.max_row + 1)} - {None}
    assert values <= {"création", "extension", "rattachement temporaire", "autre"}
    lists = {dv.formula1 for dv in ws.data_validations.dataValidation}
    assert any("rattachement temporaire" in str(f) for f in lists)
    jalons = book["jalons"]
    names = [jalons.cell(row=r, column=2).value for r in range(2, 7)]
    assert names == plan.vocabulary()["jalons"]
    # the CPTS drop-down: the département's CPTS and the proposed new CPTS first
    listed = [c.value for c in book["listes"]["D"][1:] if c.value]
    creations = world["first"].projects.query("type == 'creation'")["cpts"]
    deps = set(pd.read_csv(world["reg1"], dtype=str)["nom_cpts"])
    head = listed[: len(deps) + len(set(creations))]
    assert set(head) == deps | set(creations)


def test_new_cpts_claims_the_perimeter(world: dict, months: dict) -> None:
    """Done when: covered by the designated CPTS, not late; the leftover commune its own
    undecided row; the LI milestone done with the month it appeared."""
    suivi = months["nov_suivi"].set_index("projet_id", drop=False)
    claimed = suivi.loc[world["claimed"]]
    assert claimed["situation"] == plan.COVERED
    assert claimed["en_retard"] == "non"
    assert world["left"] not in claimed["communes"].split()
    rest = suivi[suivi["projet_id"] == ""]
    assert [world["left"]] in [c.split() for c in rest["communes"]]
    assert set(rest["statut"]) == {plan.NO_DECISION}
    jalons = months["nov"].milestones
    li = jalons[
        (jalons["projet_id"] == world["claimed"]) & (jalons["jalon"] == "lettre d'intention")
    ]
    assert li["realisee"].tolist() == [NOV] and li["constat"].tolist() == [
        "registre de novembre 2026"
    ]
    # the other decided project: LI due 15 November, nothing in the registry: late
    other = suivi.loc[world["other"]]
    assert other["en_retard"] == "oui" and other["prochain_jalon"] == "lettre d'intention"
    assert other["echeance"] == "2026-11-15"


def test_third_month_keeps_what_was_done(world: dict, months: dict) -> None:
    jalons = months["dec"].milestones
    mine = jalons[jalons["projet_id"] == world["claimed"]].set_index("jalon")
    assert mine.loc["lettre d'intention", "realisee"] == NOV  # the month it appeared, kept
    assert mine.loc["projet de santé", "realisee"] == DEC
    assert mine.loc["réunion opérationnelle", "realisee"] == dt.date(2026, 11, 3)
    suivi = months["dec_suivi"].set_index("projet_id", drop=False)
    assert suivi.loc[world["claimed"], "situation"] == plan.COVERED
    assert suivi.loc[world["claimed"], "prochain_jalon"] == "coordinateur recruté"
    # decisions typed in October are all there in December
    projects = months["dec"].projects.set_index("projet_id")
    assert projects.loc[world["claimed"], "fir_montant"] == 50000
    assert projects.loc[world["claimed"], "fir_etp"] == 0.5
    assert projects.loc[world["claimed"], "fir_debut"] == dt.date(2027, 1, 1)
    assert projects.loc[world["other"], "statut"] == "a_lancer"
    # the released commune is still one undecided row, not a moved decision
    rows = months["dec"].projects
    assert (rows["communes"] == world["left"]).sum() == 1


def test_suivi_csv_columns(world: dict, months: dict, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(
        capsys, "suivi", "--registre", str(world["reg2"]), "--plan", str(months["nov_path"]),
        "--departement", DEP, "--format", "csv", "-q",
    )  # fmt: skip
    assert code == 0, err
    header = out.splitlines()[0].split(",")
    expected = ["projet_id", "zone_id", "departement", "type", "cpts", "communes", "population"]
    expected += ["situation", "prochain_jalon", "echeance", "en_retard", "statut"]
    assert header[: len(expected)] == expected
    assert "couverte_cpts_designee" in out and "couverte par la CPTS désignée" not in out
    # the workbook speaks the meeting's language
    xlsx = world["tmp"] / "suivi.xlsx"
    code, _, err = _cli(
        capsys, "suivi", "--registre", str(world["reg2"]), "--plan", str(months["nov_path"]),
        "--departement", DEP, "--sortie", str(xlsx), "-q",
    )  # fmt: skip
    assert code == 0, err
    frame = pd.read_excel(xlsx, dtype=str)
    assert {"Projet", "Situation", "Prochain jalon", "En retard"} <= set(frame.columns)
    assert "couverte par la CPTS désignée" in set(frame["Situation"])
    assert "sans décision" in set(frame["Statut"])


def test_remontee_counts_projects_and_funding(
    world: dict, months: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from couverture import remontee

    previous = plan.read_plan(months["nov_path"])
    with couverture.analyse(world["reg2"], departements=DEP) as a:
        table, detail = remontee.remontee(
            a, previous, month="2026-11", on=NOV, history_path=tmp_path / "h.duckdb"
        )
        rates = a.rates(niveau="departement").set_index("code")
        zones = a.zones()
    row = table.set_index("departement").loc[DEP]
    assert row["population"] == rates.loc[DEP, "population"]
    assert row["n_zones_blanches"] == len(zones)
    # the unclaimed share of Rennes (parts under 1) is said, so the population adds up
    assert row["population_non_attribuee"] == rates.loc[DEP, "population_non_attribuee"] > 0
    assert row["population"] == (
        row["pop_lettre_intention"]
        + row["population_zones_blanches"]
        + row["population_non_attribuee"]
    )
    n = len(world["first"].projects)
    assert row["n_projets"] == n
    assert row["n_projets_couverts"] == 1
    assert row["n_coordonnateurs"] == 2 and row["fir_montant_annuel"] == 80000
    assert row["fir_etp"] == 0.5
    assert row["n_reunions_tenues"] == 2
    # done in November: the two réunions (3 Nov) and the LI seen in the registry
    assert row["n_jalons_realises_mois"] == 3
    assert row["n_jalons_en_retard"] == 1 and row["n_projets_en_retard"] == 1
    assert row["acteurs"] == "URPS, élus, CPAM, ARS"
    assert row["modalites_suivi"] == "comité de pilotage mensuel"
    assert "couverte par la CPTS désignée" in set(detail["situation"])
    out = tmp_path / "remontee.xlsx"
    code, _, err = _cli(
        capsys, "remontee", "--mois", "2026-11", "--registre", str(world["reg2"]), "--plan",
        str(months["nov_path"]), "--date", "2026-11-30", "--sortie", str(out),
        "--historique", str(tmp_path / "h.duckdb"),
    )  # fmt: skip
    assert code == 0, err
    assert openpyxl.load_workbook(out).sheetnames == ["remontee", "projets", "informations"]
    header = [c.value for c in openpyxl.load_workbook(out)["remontee"][1]]
    assert "Population non attribuée (parts de communes partagées)" in header


def test_overwriting_a_filled_plan_is_refused(
    world: dict, filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 17 item 6: re-running the first plan over a filled one is refused, exit 2."""
    target = tmp_path / "f.xlsx"
    target.write_bytes(filled.read_bytes())
    before = target.read_bytes()
    base = ["plan-action", "--registre", str(world["reg1"]), "--departement", DEP]
    code, _, err = _cli(capsys, *base, "--sortie", str(target))
    assert code == 2 and "contient des décisions saisies" in err and "--force" in err
    assert target.read_bytes() == before
    # given as --plan too: its decisions are carried into itself
    code, _, err = _cli(capsys, *base, "--plan", str(target), "--sortie", str(target), "-q")
    assert code == 0, err
    again = plan.read_plan(target)
    assert sum(1 for r in again.rows if plan.typed(r)) == 2
    # a workbook that is no plan is not replaced either
    other = tmp_path / "autre.xlsx"
    book = openpyxl.Workbook()
    book.active["A1"] = "budget"
    book.save(other)
    code, _, err = _cli(capsys, *base, "--sortie", str(other))
    assert code == 2 and "n'est pas un plan d'action" in err
    code, _, err = _cli(capsys, *base, "--sortie", str(other), "--force", "-q")
    assert code == 0 and "projets" in openpyxl.load_workbook(other).sheetnames


def test_legacy_plan_each_zone_decision_becomes_a_project(world: dict, tmp_path: Path) -> None:
    """A plan written by the previous version (sheet zones, one row per zone) is read."""
    with couverture.analyse(world["reg1"], departements=DEP) as a:
        zones = a.zones()
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "zones"
    ws.append(["zone_id", "departement", "communes", "strategie_retenue", "cpts_ou_porteur",
               "cpts_mentor", "coordonnateur_finance", "date_reunion", "actions", "echeance",
               "statut", "commentaire"])  # fmt: skip
    first, second = zones.iloc[0], zones.iloc[1]
    ws.append([first["zone_id"], DEP, first["communes"], "creation", "CPTS Future", "",
               "oui", dt.datetime(2026, 9, 1), "appel à porteur", dt.datetime(2026, 10, 1),
               "en cours", ""])  # fmt: skip
    ws.append([second["zone_id"], DEP, second["communes"]] + [""] * 9)
    path = tmp_path / "ancien.xlsx"
    book.save(path)
    old = plan.read_plan(path)
    assert old.legacy and len(old.rows) == 1  # the undecided zone is recomputed
    with couverture.analyse(world["reg1"], departements=DEP) as a:
        built = plan.build_plan(a, previous=old, on=OCT, proposals=False)
    projects = built.projects
    mine = projects[projects["projet_id"] != ""]
    assert len(mine) == 1
    assert mine.iloc[0]["communes"] == first["communes"]
    assert mine.iloc[0]["type"] == "creation" and mine.iloc[0]["statut"] == "en_cours"
    assert "coordonnateur financé : oui" in mine.iloc[0]["commentaire"]
    jalons = built.milestones
    assert set(jalons["jalon"]) == {"réunion opérationnelle", "appel à porteur"}
    assert jalons.set_index("jalon").loc["appel à porteur", "prevue"] == dt.date(2026, 10, 1)
    # every other zone is an undecided row
    assert (projects["projet_id"] == "").sum() == len(zones) - 1


def test_demo_next_month_and_fill(world: dict, filled: Path, tmp_path: Path) -> None:
    """`demo --remplir-plan` decides projects; `demo --mois-suivant` lets a new CPTS, under a
    name of its own, claim the largest decided creation project still white but one commune."""
    from couverture.demo import fill_demo_plan, next_month_registry

    demo_filled = fill_demo_plan(world["tmp"] / "plan-octobre.xlsx", tmp_path / "rempli.xlsx")
    read = plan.read_plan(demo_filled)
    assert sum(1 for r in read.rows if plan.typed(r)) >= 2
    registry = next_month_registry(world["reg1"], filled, tmp_path / "registre_2026-11-30.csv")
    with couverture.analyse(registry, departements=DEP) as a:
        suivi = plan.follow_up(a, plan.read_plan(filled), on=NOV).set_index("projet_id")
    assert suivi.loc[world["claimed"], "situation"] == plan.COVERED
    assert suivi.loc[world["claimed"], "cpts"].startswith("CPTS Cœur de ")
    rest = suivi.loc[suivi.index == "", "communes"]
    assert [world["left"]] in [c.split() for c in rest]


def test_report_has_a_plan_section(world: dict, months: dict, tmp_path: Path) -> None:
    from couverture.report import build_report

    target = build_report(
        world["reg2"],
        month="2026-11",
        output_dir=tmp_path / "rapports",
        departements=DEP,
        history_path=tmp_path / "historique.duckdb",
        suggestions=False,
        maps=False,
        fiches=False,
        plan=months["nov_path"],
    )
    page = (target / "index.html").read_text(encoding="utf-8")
    assert '<h2 id="plan">Plan d\'action</h2>' in page
    late = page[page.index("<h3>Projets en retard</h3>") : page.index("<h3>Alertes")]
    assert world["other"] in late and world["claimed"] not in late
    assert (target / "remontee-2026-11.xlsx").exists()
    # the remontée's figures as people read them: 80 000 €, never « 80000.0 »
    section = page[page.index('<h2 id="plan">') : page.index("<h3>Projets en retard</h3>")]
    assert "80\u202f000" in section and "80000" not in section and "0.5" not in section
    assert not re.search(r">\d{5,}<", section)  # populations with their thousands space
    assert not re.search(r">\d{4}-\d{2}-\d{2}<", page[page.index('<h2 id="plan">') :])


def test_report_plan_section_speaks_french(world: dict, months: dict, tmp_path: Path) -> None:
    """The plan section's tables (late projects, alerts on the CPTS) have French headers:
    no machine key (snake_case) as a column header anywhere in the report."""
    from couverture.report import build_report

    rows = pd.read_csv(world["reg2"], dtype=str, keep_default_na=False)
    lone = {**rows.iloc[0].to_dict(), "cpts_id": "SEULE-35", "nom_cpts": "CPTS Isolée",
            "stade": "Lettre d'intention validée", "code_commune": world["left"],
            "nom_commune": ""}  # fmt: skip
    registry = tmp_path / "registre_2026-11-30.csv"
    pd.concat([rows, pd.DataFrame([lone])]).to_csv(registry, index=False)  # a one-commune CPTS
    target = build_report(
        registry,
        month="2026-11",
        output_dir=tmp_path / "rapports",
        departements=DEP,
        history_path=tmp_path / "historique.duckdb",
        suggestions=False,
        maps=False,
        fiches=False,
        plan=months["nov_path"],
    )
    page = (target / "index.html").read_text(encoding="utf-8")
    alerts = page[page.index("<h3>Alertes") :]
    assert "CPTS Isolée" in alerts
    assert "<th>Alerte</th>" in alerts and "<th>Département</th>" in alerts
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", page)
    assert headers and not [h for h in headers if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", h)]


def test_report_with_a_bad_plan_writes_nothing(
    world: dict, filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = openpyxl.load_workbook(filled)
    ws = book[plan.SHEET_PROJECTS]
    col = _columns(ws, plan.PROJECT_TITLES)
    ws.cell(row=2, column=col["fir_debut"], value="fin novembre")
    bad = tmp_path / "mauvais.xlsx"
    book.save(bad)
    history_path = tmp_path / "historique.duckdb"
    code, _, err = _cli(
        capsys, "rapport", "--mois", "2026-11", "--registre", str(world["reg2"]),
        "--departement", DEP, "--sortie", str(tmp_path / "rapports"), "--sans-cartes",
        "--sans-propositions", "--sans-fiches", "--historique", str(history_path),
        "--plan", str(bad),
    )  # fmt: skip
    assert code == 2 and "« fin novembre » : cellule Q2 (Coordonnateur FIR : début)" in err
    assert not (tmp_path / "rapports" / "2026-11").exists() and not history_path.exists()


def test_milestone_done_in_the_month_the_history_saw_it(
    world: dict, filled: Path, tmp_path: Path
) -> None:
    """No plan was made in November, but the history recorded the new CPTS at lettre
    d'intention then: December's plan marks the LI done in November, the projet de santé in
    December."""
    from couverture import history

    store = tmp_path / "historique.duckdb"
    with couverture.analyse(world["reg2"], departements=DEP) as a:
        history.save_snapshot(history.snapshot(a), month="2026-11", path=store)
    with couverture.analyse(world["reg3"], departements=DEP) as a:
        built = plan.build_plan(
            a, previous=plan.read_plan(filled), on=DEC, proposals=False, history_path=store
        )
    jalons = built.milestones
    mine = jalons[jalons["projet_id"] == world["claimed"]].set_index("jalon")
    assert mine.loc["lettre d'intention", "realisee"] == NOV
    assert mine.loc["lettre d'intention", "constat"] == "registre de novembre 2026"
    assert mine.loc["projet de santé", "realisee"] == DEC


def test_leftover_taken_by_a_neighbour_is_still_a_success(
    world: dict, filled: Path, tmp_path: Path
) -> None:
    rows = pd.read_csv(world["reg2"], dtype=str, keep_default_na=False)
    other = rows[rows["cpts_id"] != "NOUV-35"].iloc[0].to_dict()
    taken = pd.DataFrame([{**other, "code_commune": world["left"], "nom_commune": ""}])
    registry = tmp_path / "registre_2026-11-30.csv"
    pd.concat([rows, taken]).to_csv(registry, index=False)
    with couverture.analyse(registry, departements=DEP) as a:
        suivi = plan.follow_up(
            a, plan.read_plan(filled), on=NOV, history_path=tmp_path / "absent.duckdb"
        ).set_index("projet_id", drop=False)
    claimed = suivi.loc[world["claimed"]]
    assert claimed["situation"] == plan.COVERED and claimed["en_retard"] == "non"
    assert world["left"] in claimed["communes"].split()  # nothing released: nothing is white


def test_porteurs_join_the_drop_down(
    world: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 20 item 7: `plan-action --porteurs FINESS` lists the département's MSP and centres
    de santé in the drop-down, after the CPTS and the proposed new CPTS, before the CPTS of
    other départements; those of other départements are not listed."""
    from couverture.porteurs import read_porteurs

    finess = Path(__file__).parent / "data" / "finess_etablissements_35.csv"
    read = read_porteurs(finess)
    assert (read["code_commune"].str[:2] == DEP).any()
    out = tmp_path / "plan.xlsx"
    base = ["plan-action", "--registre", str(world["reg1"]), "--departement", DEP, "-q"]
    code, _, err = _cli(capsys, *base, "--sortie", str(out), "--porteurs", str(finess))
    assert code == 0, err
    ws = openpyxl.load_workbook(out)[plan.SHEET_LISTS]
    (col,) = [c.column for c in ws[1] if c.value == "CPTS"]
    names = [
        str(r[0])
        for r in ws.iter_rows(min_row=2, min_col=col, max_col=col, values_only=True)
        if r[0]
    ]
    here = sorted(set(read.loc[read["code_commune"].str[:2] == DEP, "nom"]))
    assert "MAISON DE SANTE PLURIPROFESSIONNELLE DU PAYS DE VITRE" in here
    assert "CENTRE DE SANTE D'ARGENTRE-DU-PLESSIS" in here
    assert [n for n in names if n in here] == here
    with couverture.analyse(world["reg1"], departements=DEP) as a:
        table = a.cpts()
    own = set(table.loc[table["departement"] == DEP, "nom"])
    rest = set(table["nom"]) - own
    assert own
    first = names.index(here[0])
    assert all(names.index(n) < first for n in own)
    assert all(names.index(n) > names.index(here[-1]) for n in rest)
    elsewhere = set(read.loc[read["code_commune"].str[:2] != DEP, "nom"]) - set(here)
    assert not elsewhere & set(names)
    # without the file: no porteur listed
    assert not set(here) & set(world["first"].cpts_names)
