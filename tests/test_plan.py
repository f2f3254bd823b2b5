"""Plan d'action round trip on real communes (Ille-et-Vilaine, the demo registry's CPTS):
generate, fill with openpyxl, follow up, a month later with one zone covered and one split,
regenerate without losing anything typed; remontée against ``taux`` and ``zones-blanches``."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import couverture
from couverture import plan
from couverture._errors import PlanError
from couverture.cli import main

DEP = "35"
ON = "2026-11-30"
LATE = dt.date(2026, 10, 15)
LATER = dt.date(2027, 3, 1)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _header(ws: openpyxl.worksheet.worksheet.Worksheet) -> dict[str, int]:
    return {str(c.value): c.column for c in ws[1] if c.value is not None}


def _articulation(codes: list[str], adjacency: pd.DataFrame) -> str | None:
    """A unit of a zone whose removal splits it in two or more parts."""
    inside = adjacency[adjacency["code_a"].isin(codes) & adjacency["code_b"].isin(codes)]
    links = inside.groupby("code_a")["code_b"].agg(set).to_dict()
    for code in codes:
        rest = [c for c in codes if c != code]
        seen, todo = {rest[0]}, [rest[0]]
        while todo:
            for nxt in links.get(todo.pop(), set()) - seen - {code}:
                seen.add(nxt)
                todo.append(nxt)
        if len(seen) < len(rest):
            return code
    return None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, demo_registry: Path) -> dict:
    tmp = tmp_path_factory.mktemp("plan")
    demo = pd.read_csv(demo_registry, dtype=str, keep_default_na=False)
    rows = demo[demo["departement"] == DEP]
    reg1 = tmp / "registre_2026-11-30.csv"  # the registry's date is in its name
    rows.to_csv(reg1, index=False)
    with couverture.analyse(reg1, departements=DEP) as a:
        zones = a.zones().set_index("zone_id")
        adjacency = a.adjacency()
        first = plan.build_plan(a, on=ON)
    assert len(zones) >= 3, "the demo registry should leave several zones blanches in 35"
    # next month: a neighbouring CPTS extends over the smallest zone
    covered = zones.index[-1]
    neighbour = zones.loc[covered, "cpts_voisines_ids"].split("|")[0]
    template = rows[rows["cpts_id"] == neighbour].iloc[0]
    extension = pd.DataFrame(
        [
            {**template.to_dict(), "code_commune": c, "nom_commune": ""}
            for c in zones.loc[covered, "communes"].split()
        ]
    )
    reg2 = tmp / "registre_2026-12-31.csv"
    pd.concat([rows, extension]).to_csv(reg2, index=False)
    # another month: the same CPTS also takes a unit that splits the largest zone
    big = zones.index[0]
    cut = _articulation(zones.loc[big, "communes"].split(), adjacency)
    assert cut is not None
    split = pd.DataFrame([{**template.to_dict(), "code_commune": cut, "nom_commune": ""}])
    reg3 = tmp / "registre_2027-01-31.csv"
    pd.concat([rows, extension, split]).to_csv(reg3, index=False)
    return {
        "tmp": tmp,
        "reg1": reg1,
        "reg2": reg2,
        "reg3": reg3,
        "zones": zones,
        "covered": covered,
        "big": big,
        "cut": cut,
        "neighbour": template["nom_cpts"],
        "first": first,
    }


@pytest.fixture(scope="module")
def filled(world: dict) -> Path:
    """The first plan written, then filled as a task force would with openpyxl: decisions on
    two zones (one late), nothing on the others, a formula-like comment, an added column."""
    path = world["tmp"] / "plan-octobre.xlsx"
    plan.write_plan(world["first"], path)
    book = openpyxl.load_workbook(path)
    ws = book["zones"]
    col = _header(ws)
    ws.cell(row=1, column=ws.max_column + 1, value="notes_internes")
    col = _header(ws)
    line = {ws.cell(row=r, column=col["zone_id"]).value: r for r in range(2, ws.max_row + 1)}
    typed = {
        world["covered"]: {
            "strategie_retenue": "Extension",  # typed by hand: case is forgiven
            "cpts_ou_porteur": world["neighbour"],
            "coordonnateur_finance": "oui",
            "date_reunion": dt.datetime(2026, 9, 1),
            "actions": "réunion avec les maires",
            "echeance": LATE,
            "statut": "en cours",
            "commentaire": '=HYPERLINK("http://exemple.invalid")',
            "notes_internes": "vu avec l'ARS",
        },
        world["big"]: {
            "strategie_retenue": "creation",
            "cpts_mentor": world["neighbour"],
            "coordonnateur_finance": "à étudier",
            "actions": "appel à porteur",
            "echeance": "01/03/2027",  # typed as text: still a date
            "statut": "a lancer",
        },
    }
    for zone, values in typed.items():
        for column, value in values.items():
            ws.cell(row=line[zone], column=col[column], value=value)
    out = world["tmp"] / "plan-octobre-rempli.xlsx"
    book.save(out)
    return out


def test_workbook_sheets_columns_and_drop_downs(world: dict, filled: Path) -> None:
    book = openpyxl.load_workbook(world["tmp"] / "plan-octobre.xlsx")
    assert {"zones", "cpts", "lisez-moi"} <= set(book.sheetnames)
    ws = book["zones"]
    col = _header(ws)
    assert list(col)[:5] == ["zone_id", "departement", "communes", "noms", "population"]
    assert set(plan.DECISION_COLUMNS) <= set(col)
    assert col["option_recommandee"] < col["strategie_retenue"]
    zones = world["zones"]
    ids = [ws.cell(row=r, column=1).value for r in range(2, ws.max_row + 1)]
    # rows below the zones are formatted (dates, lists) for the rows a task force adds
    assert set(ids[len(zones) :]) == {None}
    ids = ids[: len(zones)]
    assert ids == list(zones.index)
    for r, zone in enumerate(ids, start=2):
        assert ws.cell(row=r, column=col["communes"]).value == zones.loc[zone, "communes"]
        assert ws.cell(row=r, column=col["population"]).value == zones.loc[zone, "population"]
        assert ws.cell(row=r, column=col["option_recommandee"]).value
    validations = {}
    for dv in ws.data_validations.dataValidation:
        for ref in str(dv.sqref).split():
            validations[ref.split(":")[0].rstrip("0123456789")] = dv
    letter = {name: openpyxl.utils.get_column_letter(i) for name, i in col.items()}
    strategies = validations[letter["strategie_retenue"]]
    assert strategies.type == "list" and "rattachement_temporaire" in strategies.formula1
    assert "réalisé" in validations[letter["statut"]].formula1
    assert "à étudier" in validations[letter["coordonnateur_finance"]].formula1
    assert validations[letter["echeance"]].type == "date"
    assert validations[letter["date_reunion"]].type == "date"
    assert ws.cell(row=2, column=col["echeance"]).number_format == "DD/MM/YYYY"
    readme = " ".join(str(c.value) for c in book["lisez-moi"]["A"] if c.value)
    assert "strategie_retenue" in readme and "--plan" in readme
    assert _header(book["cpts"])["alerte"]


def test_suivi_reads_the_decisions_back(
    world: dict, filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(
        capsys, "suivi", "--registre", str(world["reg1"]), "--plan", str(filled),
        "--date", ON, "--format", "csv",
    )  # fmt: skip
    assert code == 0
    frame = pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False).set_index("zone_id")
    assert list(frame.index) == list(world["zones"].index)
    covered, big = frame.loc[world["covered"]], frame.loc[world["big"]]
    assert covered["strategie_retenue"] == "extension" and covered["statut"] == "en cours"
    assert covered["echeance"] == LATE.isoformat() and covered["en_retard"] == "oui"
    assert big["strategie_retenue"] == "creation" and big["statut"] == "à lancer"
    assert big["echeance"] == LATER.isoformat() and big["en_retard"] == "non"
    others = frame.drop(index=[world["covered"], world["big"]])
    assert (others["strategie_retenue"] == plan.NO_DECISION).all()
    assert (frame["situation"] == plan.WHITE).all()
    assert (frame["origine"] == "même zone").all()
    out = world["tmp"] / "suivi.xlsx"
    code, _, err = _cli(
        capsys, "suivi", "--registre", str(world["reg1"]), "--plan", str(filled),
        "--date", ON, "--sortie", str(out),
    )  # fmt: skip
    assert code == 0, err
    sheet = pd.read_excel(out, dtype=str, keep_default_na=False).set_index("zone_id")
    assert sheet[frame.columns].equals(frame)
    # the delay is measured at the date given: before the échéance, not late
    code, out, _ = _cli(
        capsys, "suivi", "--registre", str(world["reg1"]), "--plan", str(filled),
        "--date", "2026-10-01", "--format", "csv",
    )  # fmt: skip
    early = pd.read_csv(io.StringIO(out), dtype=str).set_index("zone_id")
    assert early.loc[world["covered"], "en_retard"] == "non"


def test_next_month_zone_covered(
    world: dict, filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(
        capsys, "suivi", "--registre", str(world["reg2"]), "--plan", str(filled),
        "--date", ON, "--format", "csv",
    )  # fmt: skip
    assert code == 0
    frame = pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False).set_index("zone_id")
    row = frame.loc[world["covered"]]
    assert row["situation"] == plan.COVERED
    assert row["cpts_couvrantes"] == world["neighbour"]
    assert row["strategie_retenue"] == "extension" and "couverte" in row["origine"]
    rest = frame.drop(index=world["covered"])
    assert (rest["situation"] == plan.WHITE).all()


def _typed_rows(path: Path) -> list[dict]:
    """Every row of sheet zones with something typed in a decision or added column."""
    ws = openpyxl.load_workbook(path)["zones"]
    col = _header(ws)
    keep = [c for c in col if c not in plan.ZONE_COLUMNS]
    out = []
    for r in range(2, ws.max_row + 1):
        values = {c: ws.cell(row=r, column=col[c]).value for c in keep}
        if any(v not in (None, "") for v in values.values()):
            out.append({"zone_id": ws.cell(row=r, column=1).value, **values})
    return out


def test_merged_zones_keep_each_decision(world: dict) -> None:
    """Two zones of an older plan now one zone: one row for each typed decision."""
    big = world["big"]
    codes = world["zones"].loc[big, "communes"].split()
    half = len(codes) // 2
    rows = []
    for k, (part, strategy) in enumerate(((codes[:half], "extension"), (codes[half:], "autre"))):
        row = {c: "" for c in plan.DECISION_COLUMNS}
        row.update(date_reunion=None, echeance=None, extra={})
        row.update(ligne=k + 2, zone_id=f"ZB-35-{part[0]}", departement=DEP, communes=part)
        row.update(strategie_retenue=strategy, actions=f"action {k}")
        rows.append(row)
    rows[0]["zone_id"] = big  # the first part kept the zone's id
    previous = plan.PlanFile(world["tmp"] / "ancien.xlsx", rows)
    with couverture.analyse(world["reg1"], departements=DEP) as a:
        out = plan.reconcile(a, previous)
    merged = out[out["zone_id"] == big]
    assert list(merged["actions"]) == ["action 0", "action 1"]
    assert merged["origine"].iloc[0] == f"fusionnée : issue de {big} (avec {rows[1]['zone_id']})"
    assert merged["origine"].iloc[1] == f"fusionnée : issue de {rows[1]['zone_id']} (avec {big})"
    assert len(out) == len(world["zones"]) + 1


def test_row_added_by_hand_is_kept(world: dict, filled: Path, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(filled)
    ws = book["zones"]
    col = _header(ws)
    r = next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=1).value is None)
    ws.cell(row=r, column=col["zone_id"]).value = world["covered"]  # only the id copied
    ws.cell(row=r, column=col["actions"]).value = "deuxième action"
    ws.cell(row=r, column=col["statut"]).value = "À lancer"
    book.save(tmp_path / "ajout.xlsx")
    previous = plan.read_plan(tmp_path / "ajout.xlsx")
    assert previous.rows[-1]["departement"] == DEP and previous.rows[-1]["statut"] == "à lancer"
    with couverture.analyse(world["reg2"], departements=DEP) as a:
        rows = plan.reconcile(a, previous)
    kept = rows[rows["zone_id"] == world["covered"]]
    assert list(kept["actions"]) == ["réunion avec les maires", "deuxième action"]
    assert (kept["situation"] == plan.COVERED).all()


def test_regenerated_plan_keeps_every_decision(
    world: dict, filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = world["tmp"] / "plan-novembre.xlsx"
    code, _, err = _cli(
        capsys, "plan-action", "--registre", str(world["reg2"]), "--plan", str(filled),
        "--date", ON, "--sortie", str(out),
    )  # fmt: skip
    assert code == 0, err
    before = _typed_rows(filled)
    after = _typed_rows(out)
    assert len(before) == 2
    canon = {"Extension": "extension", "a lancer": "à lancer", "01/03/2027": LATER}

    def same(row: dict) -> dict:
        return {
            k: canon.get(v, v.date() if isinstance(v, dt.datetime) else v)
            for k, v in row.items()
            if v not in (None, "")
        }

    assert sorted(map(str, map(same, before))) == sorted(map(str, map(same, after)))
    book = openpyxl.load_workbook(out)
    ws = book["zones"]
    col = _header(ws)
    rows = {ws.cell(row=r, column=1).value: r for r in range(2, ws.max_row + 1)}
    r = rows[world["covered"]]
    assert list(rows)[-2:] == [world["covered"], None]  # covered zones come last
    assert ws.cell(row=r, column=col["situation"]).value == plan.COVERED
    comment = ws.cell(row=r, column=col["commentaire"])
    assert comment.data_type == "s" and comment.value.startswith("=HYPERLINK")
    assert isinstance(ws.cell(row=r, column=col["echeance"]).value, dt.datetime)
    # the plan regenerated again from itself changes nothing typed
    again = world["tmp"] / "plan-novembre-bis.xlsx"
    code, _, err = _cli(
        capsys, "plan-action", "--registre", str(world["reg2"]), "--plan", str(out),
        "--date", ON, "--sortie", str(again),
    )  # fmt: skip
    assert code == 0, err
    assert _typed_rows(again) == after


def test_split_zone_keeps_its_decision_on_each_part(world: dict, filled: Path) -> None:
    with couverture.analyse(world["reg3"], departements=DEP) as a:
        rows = plan.reconcile(a, plan.read_plan(filled))
        new_zones = a.zones()
    old = set(world["zones"].loc[world["big"], "communes"].split()) - {world["cut"]}
    parts = new_zones[new_zones["communes"].map(lambda c: bool(set(c.split()) & old))]
    assert len(parts) >= 2
    carried = rows[rows["zone_id"].isin(parts["zone_id"])]
    assert set(carried["zone_id"]) == set(parts["zone_id"])
    assert (carried["strategie_retenue"] == "creation").all()
    assert (carried["actions"] == "appel à porteur").all()
    assert carried["origine"].str.startswith(f"scindée : issue de {world['big']}").all()
    assert (carried["situation"] == plan.PARTLY).all()
    # the zone covered in between is still listed, with its decision
    covered = rows[rows["zone_id"] == world["covered"]].iloc[0]
    assert covered["situation"] == plan.COVERED and covered["strategie_retenue"] == "extension"


def test_remontee_equals_taux_and_zones_blanches(
    world: dict, filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from couverture.remontee import TITLES

    out = world["tmp"] / "remontee.xlsx"
    code, _, err = _cli(
        capsys, "remontee", "--mois", "2026-11", "--registre", str(world["reg1"]),
        "--plan", str(filled), "--date", ON, "--sortie", str(out),
        "--historique", str(world["tmp"] / "pas-d-historique.duckdb"),
    )  # fmt: skip
    assert code == 0, err
    sheet = pd.read_excel(out, sheet_name="remontee", dtype={"Département": str})
    sheet = sheet.rename(columns={v: k for k, v in TITLES.items()}).set_index("departement")
    assert list(sheet.index) == [DEP]
    row = sheet.loc[DEP]
    _, taux, _ = _cli(
        capsys, "taux", "--registre", str(world["reg1"]), "--departement", DEP, "--format", "csv"
    )
    _, zones, _ = _cli(
        capsys, "zones-blanches", "--registre", str(world["reg1"]), "--departement", DEP,
        "--format", "csv",
    )  # fmt: skip
    rates = pd.read_csv(io.StringIO(taux), dtype={"code": str}).set_index("code").loc[DEP]
    for column in ("population", "pop_lettre_intention", "pop_projet_sante", "pop_aci"):
        assert row[column] == rates[column]
    for column in ("taux_lettre_intention", "taux_projet_sante", "taux_aci"):
        assert row[column] == pytest.approx(rates[column])
    z = pd.read_csv(io.StringIO(zones))
    assert row["n_zones_blanches"] == len(z)
    assert row["population_zones_blanches"] == z["population"].sum()
    assert row["n_extension"] == 1 and row["n_creation"] == 1
    assert row["n_rattachement_temporaire"] == 0
    assert row["n_zones_sans_decision"] == len(z) - 2
    assert row["n_coordonnateurs_finances"] == 1
    assert row["n_actions"] == 2 and row["n_actions_en_retard"] == 1
    assert row["prochaine_echeance"] == LATE.isoformat()
    assert row["projection_aci"] == "historique insuffisant"
    actions = pd.read_excel(out, sheet_name="actions")
    assert sorted(actions["zone_id"]) == sorted([world["covered"], world["big"]])


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------
def _edit(src: Path, dst: Path, **cells: object) -> Path:
    """Copy a plan, writing ``column=value`` on its first data row (``None`` header deletes)."""
    book = openpyxl.load_workbook(src)
    ws = book["zones"]
    col = _header(ws)
    for column, value in cells.items():
        if column.startswith("entete_"):
            ws.cell(row=1, column=col[column[len("entete_") :]]).value = value
        else:
            ws.cell(row=2, column=col[column]).value = value
    book.save(dst)
    return dst


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"strategie_retenue": "fusion"}, "ligne 2 « fusion » : colonne strategie_retenue"),
        ({"statut": "fini"}, "ligne 2 « fini » : colonne statut : valeur inconnue"),
        ({"coordonnateur_finance": "peut-être"}, "« peut-être » : colonne coordonnateur"),
        ({"echeance": "bientôt"}, "ligne 2 « bientôt » : colonne echeance : date attendue"),
        ({"date_reunion": "31/02/2026"}, "« 31/02/2026 » : colonne date_reunion : date attendue"),
        ({"entete_statut": "etat"}, "ligne 1 « statut » : colonne absente"),
        ({"zone_id": None, "communes": None}, "ligne 2 : ligne sans zone_id ni communes"),
    ],
)
def test_bad_cells_are_named(world: dict, filled: Path, cells: dict, expected: str) -> None:
    bad = _edit(filled, world["tmp"] / "mauvais.xlsx", **cells)
    with pytest.raises(PlanError) as err:
        plan.read_plan(bad)
    assert "feuille « zones »" in str(err.value) and expected in str(err.value)


def test_missing_sheet_and_not_a_workbook(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Feuil1"
    book.save(tmp_path / "vide.xlsx")
    with pytest.raises(PlanError, match="feuille « zones » : feuille absente"):
        plan.read_plan(tmp_path / "vide.xlsx")
    (tmp_path / "texte.xlsx").write_text("zone_id;statut\n", encoding="utf-8")
    with pytest.raises(PlanError, match="classeur XLSX illisible"):
        plan.read_plan(tmp_path / "texte.xlsx")


def test_cli_errors_write_nothing(
    world: dict, filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = _edit(filled, tmp_path / "inconnue.xlsx", zone_id="ZB-35-99999", communes="99999")
    out = tmp_path / "sortie.xlsx"
    code, _, err = _cli(
        capsys, "plan-action", "--registre", str(world["reg1"]), "--plan", str(unknown),
        "--sortie", str(out),
    )  # fmt: skip
    assert code == 2 and "ligne 2 « ZB-35-99999 » : zone inconnue" in err
    assert "Traceback" not in err
    code, _, err = _cli(
        capsys, "remontee", "--mois", "2026-11", "--registre", str(world["reg1"]), "--plan",
        str(filled), "--departement", "13", "--sortie", str(out),
    )  # fmt: skip
    assert code == 2 and "le plan concerne le département 35, pas --departement 13" in err
    code, _, err = _cli(
        capsys, "suivi", "--registre", str(world["reg1"]), "--plan", str(filled),
        "--date", "demain",
    )  # fmt: skip
    assert code == 2 and "--date : date attendue" in err
    assert not out.exists() and list(tmp_path.glob(".tmp-*")) == []


def test_report_has_a_plan_section(world: dict, filled: Path, tmp_path: Path) -> None:
    from couverture.report import build_report

    target = build_report(
        world["reg1"],
        month="2026-11",
        output_dir=tmp_path / "rapports",
        departements=DEP,
        history_path=tmp_path / "historique.duckdb",
        suggestions=False,
        maps=False,
        plan=filled,
    )
    page = (target / "index.html").read_text(encoding="utf-8")
    assert '<h2 id="plan">Plan d\'action</h2>' in page
    assert page.index('id="plan"') < page.index('id="fichiers"')
    # late at the registry's date (in its name): listed among the late actions
    late = page[page.index("<h3>Actions en retard</h3>") : page.index("<h3>Alertes")]
    assert world["covered"] in late and world["big"] not in late
    assert (target / "remontee-2026-11.xlsx").exists()


def test_report_with_a_bad_plan_writes_nothing(
    world: dict, filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _edit(filled, tmp_path / "mauvais.xlsx", echeance="fin novembre")
    history_path = tmp_path / "historique.duckdb"
    code, _, err = _cli(
        capsys, "rapport", "--mois", "2026-11", "--registre", str(world["reg1"]),
        "--departement", DEP, "--sortie", str(tmp_path / "rapports"), "--sans-cartes",
        "--sans-propositions", "--historique", str(history_path), "--plan", str(bad),
    )  # fmt: skip
    assert code == 2 and "« fin novembre » : colonne echeance : date attendue" in err
    assert not (tmp_path / "rapports" / "2026-11").exists() and not history_path.exists()
