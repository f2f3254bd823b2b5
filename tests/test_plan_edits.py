"""A plan d'action edited as a careless user would (issue 20): nothing typed is silently lost,
every refusal names the sheet, the cell and the value, and no edit makes the reader slow."""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import couverture
from couverture import plan
from couverture._errors import PlanError
from couverture.cli import main

DEP = "35"
ON = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, demo_registry: Path) -> dict:
    tmp = tmp_path_factory.mktemp("edits")
    demo = pd.read_csv(demo_registry, dtype=str, keep_default_na=False)
    registry = tmp / "registre_2026-11-30.csv"
    demo[demo["departement"] == DEP].to_csv(registry, index=False)
    with couverture.analyse(registry, departements=DEP) as a:
        built = plan.build_plan(a, on=ON)
    path = tmp / "plan.xlsx"
    plan.write_plan(built, path)
    return {"tmp": tmp, "registry": registry, "plan": path, "built": built}


def _open(base: dict) -> tuple[openpyxl.Workbook, dict[str, int]]:
    book = openpyxl.load_workbook(base["plan"])
    keys = {t: k for k, t in plan.PROJECT_TITLES.items()}
    ws = book[plan.SHEET_PROJECTS]
    return book, {keys[str(c.value)]: c.column for c in ws[1] if str(c.value) in keys}


def _save(book: openpyxl.Workbook, path: Path) -> Path:
    book.save(path)
    return path


def _rows(read: plan.PlanFile) -> dict[str, dict]:
    return {r["projet_id"]: r for r in read.rows if r["projet_id"]}


def test_added_columns_sheets_and_duplicates_are_kept(
    base: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    book, _ = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    end = ws.max_column
    ws.cell(row=1, column=end + 1, value="Actions")  # a second « Actions » column
    ws.cell(row=2, column=end + 1, value="relancer la mairie")
    ws.cell(row=3, column=end + 2, value="valeur sans en-tête")
    ws.cell(row=1, column=end + 3, value="Référent ARS")
    ws.cell(row=2, column=end + 3, value="Mme Martin")
    notes = book.create_sheet("notes de réunion")
    notes["A1"] = "compte rendu du 12/11"
    cpts = book[plan.SHEET_CPTS]
    cpts.cell(row=1, column=cpts.max_column + 1, value="Contact")
    cpts.cell(row=2, column=cpts.max_column, value="président@exemple.invalid")
    path = _save(book, tmp_path / "edite.xlsx")
    with caplog.at_level(logging.WARNING):
        read = plan.read_plan(path)
    said = caplog.text
    assert "« Actions » en double" in said and "valeurs sans en-tête" in said
    assert "Référent ARS" in said and "notes de réunion" in said and "Contact" in said
    first = read.rows[0]
    assert first["extra"]["Actions"] == "relancer la mairie"
    assert first["extra"]["Référent ARS"] == "Mme Martin"
    assert read.rows[1]["extra"]  # the value without header
    assert plan.typed(first)
    # carried into next month's workbook
    with couverture.analyse(base["registry"], departements=DEP) as a:
        again = plan.build_plan(a, previous=read, on=ON, proposals=False)
    out = tmp_path / "suivant.xlsx"
    plan.write_plan(again, out)
    next_book = openpyxl.load_workbook(out)
    assert "notes de réunion" in next_book.sheetnames
    assert next_book["notes de réunion"]["A1"].value == "compte rendu du 12/11"
    headers = [c.value for c in next_book[plan.SHEET_PROJECTS][1]]
    assert "Référent ARS" in headers and headers.count("Actions") == 2
    cpts_headers = [c.value for c in next_book[plan.SHEET_CPTS][1]]
    assert "Contact" in cpts_headers
    values = [c.value for c in next_book[plan.SHEET_CPTS]["M"]]
    assert "président@exemple.invalid" in values


def test_merged_cells_give_every_row_the_decision(base: dict, tmp_path: Path) -> None:
    book, col = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    ws.cell(row=2, column=col["statut"], value="en cours")
    letter = openpyxl.utils.get_column_letter(col["statut"])
    ws.merge_cells(f"{letter}2:{letter}4")
    read = plan.read_plan(_save(book, tmp_path / "fusion.xlsx"))
    assert [r["statut"] for r in read.rows[:3]] == ["en_cours"] * 3


def _with_cached(path: Path, out: Path, cell: str, value: str, *, text: bool) -> Path:
    """Give a formula cell the value a spreadsheet would have cached."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                xml = data.decode()
                pattern = re.compile(rf'<c r="{cell}"([^>]*)><f>([^<]*)</f><v\s*/?>(</v>)?')
                kind = ' t="str"' if text else ""

                def cached(m: re.Match[str], kind: str = kind) -> str:
                    return f'<c r="{cell}"{m.group(1)}{kind}><f>{m.group(2)}</f><v>{value}</v>'

                xml, n = pattern.subn(cached, xml)
                assert n == 1
                data = xml.encode()
            dst.writestr(item, data)
    return out


def test_formula_cells_read_as_their_cached_values(base: dict, tmp_path: Path) -> None:
    book, col = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    start = openpyxl.utils.get_column_letter(col["fir_debut"])
    actions = openpyxl.utils.get_column_letter(col["actions"])
    ws[f"{start}2"] = "=EDATE(DATE(2026,10,1),3)"
    ws[f"{actions}2"] = '="réunion du "&TEXT(DATE(2026,12,1),"JJ/MM")'
    raw = _save(book, tmp_path / "formules.xlsx")
    # never computed (openpyxl writes no value): refused, naming the cell
    with pytest.raises(PlanError) as err:
        plan.read_plan(raw)
    assert f"cellule {start}2 : formule sans valeur calculée" in str(err.value)
    cached = _with_cached(raw, tmp_path / "c1.xlsx", f"{start}2", "46023", text=False)
    cached = _with_cached(
        cached, tmp_path / "c2.xlsx", f"{actions}2", "réunion du 01/12", text=True
    )
    read = plan.read_plan(cached)
    assert read.rows[0]["fir_debut"] == dt.date(2026, 1, 1)
    assert read.rows[0]["actions"] == "réunion du 01/12"


def test_cleared_communes_and_bad_departement_are_named(base: dict, tmp_path: Path) -> None:
    book, col = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    ws.cell(row=2, column=col["communes"]).value = None
    ws.cell(row=3, column=col["departement"], value="Bas-Rhin")
    with pytest.raises(PlanError) as err:
        plan.read_plan(_save(book, tmp_path / "efface.xlsx"))
    text = str(err.value)
    letter = openpyxl.utils.get_column_letter(col["communes"])
    assert (
        "feuille « projets », ligne 2" in text and f"cellule {letter}2 : communes du projet" in text
    )
    dep = openpyxl.utils.get_column_letter(col["departement"])
    assert f"ligne 3 « Bas-Rhin » : cellule {dep}3 (Département)" in text
    assert "--departement" not in text


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"type": "fusion"}, "« fusion » : cellule C2 (Stratégie retenue) : valeur inconnue"),
        ({"statut": "fini"}, "(Statut) : valeur inconnue"),
        ({"fir_debut": "bientôt"}, "« bientôt » : cellule Q2 (Coordonnateur FIR : début) : date"),
        ({"fir_montant": "beaucoup"}, "« beaucoup » : cellule O2"),
    ],
)
def test_bad_cells_are_named(base: dict, tmp_path: Path, cells: dict, expected: str) -> None:
    book, col = _open(base)
    for column, value in cells.items():
        book[plan.SHEET_PROJECTS].cell(row=2, column=col[column], value=value)
    with pytest.raises(PlanError) as err:
        plan.read_plan(_save(book, tmp_path / "mauvais.xlsx"))
    assert "feuille « projets », ligne 2" in str(err.value) and expected in str(err.value)


def test_plan_without_rows_keeps_its_departement(
    base: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book, _ = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    ws.delete_rows(2, ws.max_row)
    path = _save(book, tmp_path / "vide.xlsx")
    assert plan.read_plan(path).departements == (DEP,)
    code = main(
        ["suivi", "--registre", str(base["registry"]), "--plan", str(path), "--format", "csv", "-q"]
    )
    out = capsys.readouterr().out
    assert code == 0
    frame = pd.read_csv(__import__("io").StringIO(out), dtype=str)
    assert set(frame["departement"]) == {DEP}


def test_other_formats_are_refused_in_french(base: dict, tmp_path: Path) -> None:
    (tmp_path / "plan.csv").write_text("Projet;Statut\n", encoding="utf-8")
    (tmp_path / "plan.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with zipfile.ZipFile(tmp_path / "texte.odt", "w") as odt:
        odt.writestr("mimetype", "application/vnd.oasis.opendocument.text")
    (tmp_path / "plan").write_text("Projet;Statut\n", encoding="utf-8")
    for name, said in (
        ("plan.csv", "fichier texte CSV"),
        ("plan.xls", "classeur Excel 97-2003 (.xls)"),
        ("texte.odt", "document OpenDocument qui n'est pas un classeur"),
        ("plan", "fichier texte CSV"),
    ):
        with pytest.raises(PlanError) as err:
            plan.read_plan(tmp_path / name)
        assert said in str(err.value) and "classeur Excel .xlsx" in str(err.value)
    # a damaged .ods (no content): named, no traceback
    with zipfile.ZipFile(tmp_path / "plan.ods", "w") as ods:
        ods.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
    with pytest.raises(PlanError, match="classeur ODS illisible"):
        plan.read_plan(tmp_path / "plan.ods")
    # an XLSX without its extension is read
    shutil.copy(base["plan"], tmp_path / "sans_extension")
    assert plan.read_plan(tmp_path / "sans_extension").rows


def test_cell_formatted_at_the_last_cell_is_bounded(base: dict, tmp_path: Path) -> None:
    book, _ = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    ws["XFD1048576"].number_format = "DD/MM/YYYY"
    ws["XFD1048576"].value = ""
    read = plan.read_plan(_save(book, tmp_path / "loin.xlsx"))
    assert len(read.rows) == len(base["built"].projects)


def test_hand_split_project_gets_a_new_id(base: dict, tmp_path: Path) -> None:
    """A row copied by hand with part of the communes: two projects, the second a new id."""
    book, col = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    codes = str(ws.cell(row=2, column=col["communes"]).value).split()
    assert len(codes) >= 2
    new_row = ws.max_row + 1
    for c in range(1, ws.max_column + 1):
        ws.cell(row=new_row, column=c, value=ws.cell(row=2, column=c).value)
    ws.cell(row=2, column=col["communes"], value=" ".join(codes[:1]))
    ws.cell(row=new_row, column=col["communes"], value=" ".join(codes[1:]))
    ws.cell(row=new_row, column=col["statut"], value="à lancer")
    read = plan.read_plan(_save(book, tmp_path / "scinde.xlsx"))
    with couverture.analyse(base["registry"], departements=DEP) as a:
        again = plan.build_plan(a, previous=read, on=ON, proposals=False)
    ids = again.projects["projet_id"]
    assert ids[ids != ""].is_unique
    first = again.projects.iloc[0]
    assert first["communes"] == codes[0]
    split = again.projects[again.projects["communes"] == " ".join(codes[1:])]
    assert len(split) == 1 and split.iloc[0]["projet_id"] != first["projet_id"]


def test_free_milestones_are_carried_and_late(base: dict, tmp_path: Path) -> None:
    book, col = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    pid = ws.cell(row=2, column=col["projet_id"]).value
    ws.cell(row=2, column=col["statut"], value="en cours")
    jalons = book[plan.SHEET_MILESTONES]
    jalons.append([pid, "visite des maires", dt.datetime(2026, 11, 10), None, "ARS", "à caler"])
    path = _save(book, tmp_path / "libre.xlsx")
    read = plan.read_plan(path)
    with couverture.analyse(base["registry"], departements=DEP) as a:
        suivi = plan.follow_up(a, read, on=ON, history_path=tmp_path / "absent.duckdb")
        again = plan.build_plan(
            a, previous=read, on=ON, proposals=False, history_path=tmp_path / "absent.duckdb"
        )
    row = suivi.set_index("projet_id").loc[pid]
    assert row["en_retard"] == "oui" and row["prochain_jalon"] == "visite des maires"
    free = again.milestones[again.milestones["jalon"] == "visite des maires"]
    assert free[["projet_id", "responsable", "commentaire"]].values.tolist() == [
        [pid, "ARS", "à caler"]
    ]
    # a typed milestone of a project that is not in sheet projets: named, not dropped
    jalons.append(["P-35-999", "réunion des élus", dt.datetime(2026, 12, 1)])
    orphan = _save(book, tmp_path / "orphelin.xlsx")
    with (
        couverture.analyse(base["registry"], departements=DEP) as a,
        pytest.raises(PlanError, match=r"feuille « jalons », ligne \d+ « P-35-999 » : jalon saisi"),
    ):
        plan.build_plan(a, previous=plan.read_plan(orphan), on=ON, proposals=False)


def _as_ods(xlsx: Path, ods: Path) -> None:
    """Save a workbook as LibreOffice would: every sheet, values only, in OpenDocument."""
    sheets = pd.read_excel(xlsx, sheet_name=None, header=None, dtype=object)
    with pd.ExcelWriter(ods, engine="odf") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, header=False, index=False)


def _project_keys(read: plan.PlanFile) -> list[tuple]:
    keys = ("projet_id", "zone_id", "type", "cpts", "communes", "statut", "echeance")
    return [tuple(str(r.get(k, "")) for k in keys) for r in read.rows]


def test_plan_saved_as_ods_is_read_like_the_xlsx(
    base: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A plan saved by LibreOffice (.ods) is read with the same checks as the XLSX."""
    book, col = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    ws.cell(row=2, column=col["statut"], value="en cours")
    edited = _save(book, tmp_path / "edite.xlsx")
    ods = tmp_path / "plan.ods"
    _as_ods(edited, ods)
    read, expected = plan.read_plan(ods), plan.read_plan(edited)
    assert _project_keys(read) == _project_keys(expected)
    assert read.rows[0]["statut"] == expected.rows[0]["statut"] == "en_cours"
    assert read.departements == (DEP,)
    code = main(["suivi", "--registre", str(base["registry"]), "--plan", str(ods), "-q",
                 "--format", "csv"])  # fmt: skip
    assert code == 0 and capsys.readouterr().out.count("\n") == len(expected.rows) + 1


def _ods_with(tmp_path: Path, name: str, rows_xml: str) -> Path:
    """A hand-written .ods of one sheet « projets » (the XML a spreadsheet writes)."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="projets">'
        f"{rows_xml}</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
        'manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml", manifest)
    return path


def _cell(text: str, extra: str = "") -> str:
    cell = f'<table:table-cell office:value-type="string" {extra}>'
    return f"{cell}<text:p>{text}</text:p></table:table-cell>"


def test_ods_merged_cells_formulas_and_bounds(tmp_path: Path) -> None:
    from couverture import _plan_book

    # a merged range covers two rows: both read its value; a date and a number typed
    merged = _ods_with(
        tmp_path,
        "fusion.ods",
        "<table:table-row>" + _cell("Projet") + _cell("Statut") + "</table:table-row>"
        "<table:table-row>" + _cell("P-35-1")
        + _cell("en cours", 'table:number-rows-spanned="2"') + "</table:table-row>"
        "<table:table-row>" + _cell("P-35-2") + "<table:covered-table-cell/></table:table-row>"
        '<table:table-row><table:table-cell office:value-type="date" '
        'office:date-value="2027-03-31"/><table:table-cell office:value-type="float" '
        'office:value="3"/></table:table-row>',
    )  # fmt: skip
    (sheet,) = _plan_book.load(merged)
    assert sheet.title == "projets"
    assert [r[1] for r in sheet.rows] == ["Statut", "en cours", "en cours", 3]
    assert sheet.rows[3][0] == dt.date(2027, 3, 31)
    # a formula never computed: named by sheet and cell
    formula = _ods_with(
        tmp_path,
        "formule.ods",
        "<table:table-row>" + _cell("Projet")
        + '<table:table-cell table:formula="of:=EDATE([.A1];3)"/></table:table-row>',
    )  # fmt: skip
    with pytest.raises(PlanError, match="cellule B1 : formule sans valeur calculée"):
        _plan_book.load(formula)
    # empty cells formatted to the last one cost nothing; a value repeated over the whole
    # sheet is refused before it is spread (17 G cells)
    far = _ods_with(
        tmp_path,
        "loin.ods",
        "<table:table-row>" + _cell("Projet") + "</table:table-row>"
        '<table:table-row table:number-rows-repeated="1048575"><table:table-cell '
        'table:number-columns-repeated="16384"/></table:table-row>',
    )
    (sheet,) = _plan_book.load(far)
    assert sheet.rows == [["Projet"]]
    huge = _ods_with(
        tmp_path,
        "enorme.ods",
        '<table:table-row table:number-rows-repeated="1048576">'
        + _cell("x", 'table:number-columns-repeated="16384"')
        + "</table:table-row>",
    )
    with pytest.raises(PlanError, match="feuille trop grande"):
        _plan_book.load(huge)


def test_deleted_decision_column_is_refused_naming_it(
    base: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A task force deletes column « Statut » by hand: the statuses it held would silently
    become empty in the next plan, so the plan is refused, naming the sheet and the column."""
    book, col = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    ws.cell(row=2, column=col["statut"], value="en cours")
    ws.delete_cols(col["statut"])
    path = _save(book, tmp_path / "sans-statut.xlsx")
    with pytest.raises(PlanError) as err:
        plan.read_plan(path)
    text = str(err.value)
    assert "feuille « projets », ligne 1 « Statut » : colonne absente" in text
    code = main(
        ["suivi", "--registre", str(base["registry"]), "--plan", str(path), "--format", "csv"]
    )
    assert code == 2 and "« Statut » : colonne absente" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sheet", "title"),
    [
        ("projets", "Projet"),  # renumbered, the milestones could change projects
        ("jalons", "Date réalisée"),  # the milestones done would read as late
    ],
)
def test_deleted_id_or_milestone_column_is_refused(
    base: dict, tmp_path: Path, sheet, title
) -> None:
    book = openpyxl.load_workbook(base["plan"])
    ws = book[sheet]
    [column] = [c.column for c in ws[1] if c.value == title]
    ws.delete_cols(column)
    with pytest.raises(PlanError) as err:
        plan.read_plan(_save(book, tmp_path / "colonne.xlsx"))
    assert f"feuille « {sheet} », ligne 1 « {title} » : colonne absente" in str(err.value)


def test_closed_project_has_no_next_milestone(base: dict, tmp_path: Path) -> None:
    """An abandoned project plans nothing: no « prochain jalon » nor « échéance » in suivi."""
    book, col = _open(base)
    ws = book[plan.SHEET_PROJECTS]
    pid = ws.cell(row=2, column=col["projet_id"]).value
    ws.cell(row=2, column=col["statut"], value="abandonné")
    ws.cell(row=3, column=col["statut"], value="en cours")
    read = plan.read_plan(_save(book, tmp_path / "abandon.xlsx"))
    with couverture.analyse(base["registry"], departements=DEP) as a:
        again = plan.build_plan(a, previous=read, on=ON, proposals=False)
    rows = again.projects.set_index("projet_id")
    assert rows.loc[pid, "prochain_jalon"] == "" and pd.isna(rows.loc[pid, "echeance"])
    other = ws.cell(row=3, column=col["projet_id"]).value
    assert rows.loc[other, "prochain_jalon"] != ""  # a live project keeps its next one
