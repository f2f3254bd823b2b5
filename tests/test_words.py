"""Documents people read speak French: no machine key as a header or a value (issue 21, item 6).

The monthly report's workbook and CSV files, the remontée workbook, and ``suivi`` on a plan
with nothing to follow; on the demo registry of the Mayenne and its fictitious annuaire, and
on the real communes of the Territoire de Belfort.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import couverture
from couverture import plan
from couverture._config import pre_stage, stage_codes
from couverture.cli import main
from couverture.report import build_report
from couverture.suggest import OPTIONS

DEP = "53"
MONTH = "2026-11"
SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
# machine values: the stage codes and the option keys that are not already a French word
MACHINE = {*stage_codes(), *(o for o in OPTIONS if "_" in o or o == "creation")}


def _machine_cells(ws: openpyxl.worksheet.worksheet.Worksheet) -> list[str]:
    """Return the snake_case headers and the machine values of a sheet."""
    found = [str(c.value) for c in ws[1] if isinstance(c.value, str) and SNAKE.match(c.value)]
    for row in ws.iter_rows(min_row=2, values_only=True):
        found += [v for v in row if isinstance(v, str) and v in MACHINE]
    return found


@pytest.fixture(scope="module")
def demo53(tmp_path_factory: pytest.TempPathFactory, demo_registry: Path, units: pd.DataFrame):
    """The demo registry of the Mayenne with its fictitious annuaire and adhesions."""
    from couverture._annuaire_demo import write_demo_files

    tmp = tmp_path_factory.mktemp("mots")
    registry = pd.read_csv(demo_registry, dtype=str, keep_default_na=False)
    annuaire, adhesions = tmp / "annuaire_demo.txt", tmp / "adhesions.csv"
    write_demo_files(annuaire, adhesions, units=units, registry=registry, departements=(DEP,))
    return {"tmp": tmp, "registry": demo_registry, "annuaire": annuaire, "adhesions": adhesions}


def test_report_workbook_and_csv_in_words(demo53: dict) -> None:
    folder = build_report(
        demo53["registry"],
        month=MONTH,
        departements=DEP,
        output_dir=demo53["tmp"] / "rapport",
        history_path=demo53["tmp"] / "historique.duckdb",
        maps=False,
        fiches=False,
        annuaire=demo53["annuaire"],
        adhesions=demo53["adhesions"],
    )
    book = openpyxl.load_workbook(folder / f"couverture-{MONTH}.xlsx")
    assert {"Propositions", "Professionnels"} <= set(book.sheetnames)
    for ws in book.worksheets:
        assert _machine_cells(ws) == [], ws.title
    proposals = pd.read_excel(folder / f"couverture-{MONTH}.xlsx", sheet_name="Propositions")
    assert "création" in set(proposals["Option"])  # the Mayenne's demo has creations
    assert set(proposals["Option"]) <= {"création", "extension", "rattachement temporaire"}
    assert "Identifiant de la CPTS mentor" in proposals.columns
    pros = pd.read_excel(folder / f"couverture-{MONTH}.xlsx", sheet_name="Professionnels")
    labels = {couverture._config.stage(s).label for s in stage_codes()}
    # a CPTS before its lettre d'intention says so, as in the sheet « CPTS »
    assert set(pros["Stade"]) <= {*labels, pre_stage().label} and len(pros) > 0
    assert pre_stage().label in set(pros["Stade"])  # the Mayenne's demo has one
    # the CSV files for a spreadsheet say the same
    for name in ("propositions", "professionnels", "cpts"):
        csv = pd.read_csv(folder / f"{name}-{MONTH}.csv", sep=";", encoding="utf-8-sig", dtype=str)
        assert not [c for c in csv.columns if SNAKE.match(c)], name
        assert not (csv.isin(MACHINE)).any().any(), name


def test_remontee_workbook_in_words(demo53: dict, capsys: pytest.CaptureFixture[str]) -> None:
    day = dt.date(2026, 11, 30)
    with couverture.analyse(demo53["registry"], departements=DEP) as a:
        first = plan.build_plan(a, on=day)
    plan_path = plan.write_plan(first, demo53["tmp"] / "plan.xlsx")
    out = demo53["tmp"] / "remontee.xlsx"
    args = ["remontee", "--mois", MONTH, "--registre", str(demo53["registry"])]
    args += ["--plan", str(plan_path), "--date", day.isoformat(), "--sortie", str(out)]
    args += ["--annuaire", str(demo53["annuaire"]), "--adhesions", str(demo53["adhesions"])]
    args += ["--historique", str(demo53["tmp"] / "h-remontee.duckdb"), "-q"]
    assert main(args) == 0, capsys.readouterr().err
    book = openpyxl.load_workbook(out)
    for name in ("professionnels", "informations"):
        assert _machine_cells(book[name]) == [], name
    headers = [c.value for c in book["professionnels"][1]]
    assert {"Identifiant CPTS", "Nom", "Stade", "Part d'adhérents (%)"} <= set(headers)
    stades = [row[headers.index("Stade")] for row in book["professionnels"].iter_rows(min_row=2)]
    assert all(c.value for c in stades)
    assert [c.value for c in book["informations"][1]] == ["Rubrique", "Valeur"]


def test_suivi_of_a_fully_covered_departement(
    tmp_path: Path, write_registry, dep_rows, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Territoire de Belfort all covered by one CPTS: one French line, no empty table."""
    registry = write_registry(tmp_path / "registre.csv", dep_rows("90", "T90", "ACI signé"))
    day = dt.date(2026, 11, 30)
    with couverture.analyse(registry, departements="90") as a:
        assert a.zones().empty
        empty = plan.build_plan(a, on=day)
    plan_path = plan.write_plan(empty, tmp_path / "plan.xlsx")
    capsys.readouterr()
    args = ["suivi", "--registre", str(registry), "--plan", str(plan_path)]
    args += ["--date", day.isoformat(), "--historique", str(tmp_path / "h.duckdb")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.strip() == "aucun projet ni zone blanche sur le périmètre du plan"
