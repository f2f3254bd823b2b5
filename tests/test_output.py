"""Human tables in the terminal: French figures, one line per row, as wide as the terminal."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from rich.cells import cell_len

from couverture import _emit, _output, _workbook, cli

LONG_MOTIF = (
    "recommandée : création ; nouvelle CPTS de 67 145 habitants (38 communes) ; bassins de vie "
    "Vitré (60 %), La Guerche-de-Bretagne (22 %) … ; financement max 287 000 € (taille 2) ; "
    "frontière commune avec cinq CPTS voisines dont aucune ne peut s'étendre sans dépasser "
    "la taille cohérente de 100 000 habitants"
)


def _table_rows(text: str) -> list[str]:
    """Body lines of a rich table (between the header rule and the bottom border)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    end = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return lines[start + 1 : end]


def test_long_cells_are_cut_and_figures_kept(capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame(
        {
            "zone_id": ["ZB-35-35006", "ZB-35-35003"],
            "population_ajoutee": [67145, 1234567],
            "taux_aci": [98.0625, 7.5],
            "stade": ["projet_sante", None],
            "motif": [LONG_MOTIF, "court"],
            "cpts_voisines": ["CPTS Fougères|CPTS du Pays de Châteaubourg" * 3, ""],
        }
    )
    _output.write_pretty(frame, title="Titre", caption="Légende")
    out = capsys.readouterr().out
    assert max(cell_len(line) for line in out.splitlines()) <= _output.DEFAULT_WIDTH
    rows = _table_rows(out)
    assert len(rows) == 2  # one line per row, nothing wrapped
    assert "ZB-35-35006" in rows[0]  # identifiers are never cut
    assert "67\u202f145" in rows[0] and "1\u202f234\u202f567" in rows[1]  # French integers
    assert "98,06" in rows[0] and "7,50" in rows[1]  # French decimals
    assert "projet de santé" in rows[0]  # the stage's short label
    assert "…" in rows[0] and LONG_MOTIF not in out
    assert "court" in rows[1]
    # French short titles, not the machine names
    assert "Réf." in out and "Motif" in out and "zone_id" not in out  # « Réf. zone »


def test_width_follows_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Tty())
    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback: os.terminal_size((200, 50)))
    assert _output.terminal_width() == 200
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert _output.terminal_width() == 120


def test_fit_widths_never_narrows_figures() -> None:
    natural = [11, 6, 300, 40, 17]
    cut = [False, False, True, True, False]
    widths = _output.fit_widths(natural, cut, 80)
    assert sum(widths) <= 80
    assert [widths[i] for i in (0, 1, 4)] == [11, 6, 17]
    assert widths[2] >= widths[3] >= _output.MIN_TEXT_WIDTH
    assert _output.fit_widths([5, 10], [False, True], 80) == [5, 10]  # fits: untouched


@pytest.mark.parametrize("command", ["suggestions", "zones-blanches", "communes", "taux"])
def test_cli_tables_fit_120_columns(
    command: str, demo_registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [command, "--registre", str(demo_registry), "--departement", "35"]
    assert cli.main([*args, "--format", "csv"]) == 0
    machine = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    assert cli.main([*args, "--format", "tableau"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(cell_len(line) for line in lines) <= 120
    rows = _table_rows(out)
    assert len(rows) == min(len(machine), _output.MAX_PRETTY_ROWS)  # one line per row
    if command == "suggestions":
        # the motif is cut on screen, whole in the CSV
        assert machine["motif"].str.len().max() > 100
        assert all("…" in row for row in rows if "recommandée" in row or "alternative" in row)
        assert machine["motif"].iloc[0] not in out
    if command == "taux":
        population = int(machine["population"].iloc[0])
        assert f"{population:,}".replace(",", "\u202f") in out  # French thousands


def test_table_file_keeps_every_row_and_whole_cells(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"zone_id": [f"ZB-35-{i:05d}" for i in range(250)], "motif": LONG_MOTIF, "n": 12345}
    )
    out = tmp_path / "tableau.txt"
    _emit.emit_table(frame, fmt="tableau", output=out, title="Titre", caption="Légende")
    text = out.read_text(encoding="utf-8")
    assert len(_table_rows(text)) == 250  # no cap on rows in a file
    assert text.count(LONG_MOTIF) == 250  # nor on widths
    assert "12\u202f345" in text
    assert not list(tmp_path.glob(".tmp-*"))


@pytest.mark.parametrize("width", [80, 60])
def test_narrow_terminal_leaves_out_the_last_columns_never_cuts_a_figure(
    width: int, demo_registry: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setattr(_output, "terminal_width", lambda: width)
    args = ["taux", "--registre", str(demo_registry), "--niveau", "region", "--format"]
    assert cli.main([*args, "csv"]) == 0
    machine = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"code": str})
    assert cli.main([*args, "tableau"]) == 0
    out = capsys.readouterr().out
    assert max(cell_len(line) for line in out.splitlines()) <= width
    assert f"colonnes non affichées sur {width} caractères" in out
    rows = _table_rows(out)
    assert len(rows) == len(machine)  # one line per row: no figure folded onto a second line
    idf = next(row for row in rows if row.lstrip("│ ").startswith("11"))
    population = int(machine.set_index("code").loc["11", "population"])
    assert f"{population:,}".replace(",", "\u202f") in idf  # whole, on its row
    if width == 80:
        assert "% ACI" in out  # the rates come before the populations by stage


def test_one_spreadsheet_writer_for_tables_pages_and_frames(tmp_path: Path) -> None:
    """The plan's and the remontée's sheets and a command's plain table, through one writer."""
    import datetime as dt

    import openpyxl

    projects = pd.DataFrame(
        {
            "projet_id": ["P-53-001", "P-53-002"],
            "cpts": ['=HYPERLINK("x")', "CPTS Laval"],  # typed by a person: stays text
            "fir_debut": [dt.date(2026, 11, 3), None],
            "population": [55702, 12030],
        }
    )
    plain = pd.DataFrame({"zone_id": ["ZB-53-53130"], "population": [1200.5]})
    path = _workbook.write_xlsx(
        {
            "projets": _workbook.Table(
                projects,
                titles={"projet_id": "Projet", "cpts": "CPTS"},
                widths={"cpts": 30},
                fills={"cpts": "FFF2CC"},
                checks=[
                    _workbook.Check.choices("cpts", ["CPTS Laval"], error_title="Valeur"),
                    _workbook.Check("fir_debut", "date", "36526", operator="greaterThan"),
                ],
                formats={"fir_debut": "DD/MM/YYYY"},
                room=3,
            ),
            "zones": plain,
            "listes": _workbook.Page([["Titre", "-1"], [None, "@x"]], hidden=True, title_size=14),
        },
        tmp_path / "classeur.xlsx",
    )
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["projets", "zones", "listes"]
    ws = book["projets"]
    assert [c.value for c in ws[1]] == ["Projet", "CPTS", "fir_debut", "population"]
    assert ws["B1"].font.b and ws["B1"].fill.fgColor.rgb.endswith("FFF2CC")
    assert ws["B2"].value == '=HYPERLINK("x")' and ws["B2"].data_type == "s"
    assert ws["B2"].quotePrefix
    assert ws["C2"].value == dt.datetime(2026, 11, 3) and ws["C3"].value is None
    assert ws["D3"].value == 12030
    assert ws.freeze_panes == "B2" and ws.column_dimensions["B"].width == 30
    assert ws.column_dimensions["A"].width == 14
    # the checks and the date format cover the rows a person adds below the table (room)
    assert ws["C6"].number_format == "DD/MM/YYYY"
    rules = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
    assert set(rules) == {"B2:B6", "C2:C6"}
    assert rules["B2:B6"].formula1 == '"CPTS Laval"' and rules["B2:B6"].showErrorMessage
    assert rules["B2:B6"].error == "Choisir une valeur de la liste : CPTS Laval"
    assert not rules["C2:C6"].showErrorMessage
    # a plain frame keeps the French titles of the commands' tables
    assert [c.value for c in book["zones"][1]] == ["Zone blanche (référence)", "Population"]
    lists = book["listes"]
    assert lists.sheet_state == "hidden" and lists["A1"].font.sz == 14
    assert lists["B1"].quotePrefix and lists["B2"].quotePrefix and lists["A2"].value is None


def test_one_csv_writer_for_machines_and_people(tmp_path: Path, units: pd.DataFrame) -> None:
    """The machine CSV (``--format csv``) and the report's CSV for a spreadsheet are one writer
    with two sets of options; the report's file: BOM, ``;``, decimal comma, CRLF, French
    titles, stages in words, a cell a spreadsheet would run kept as text."""
    from couverture._config import column_titles
    from couverture.report import write_csv

    frame = units[units["departement"] == "90"][["code", "nom", "population"]].head(4).copy()
    frame["stade"] = ["aci", "projet_sante", None, "lettre_intention"]
    frame["taux_aci"] = [12.5, 0.0, 100.0, 33.25]
    frame.iloc[0, 1] = '=HYPERLINK("x")'
    machine = io.StringIO()
    _output.write_csv(frame, machine)
    assert machine.getvalue() == frame.to_csv(index=False, lineterminator="\n")
    path = tmp_path / "communes.csv"
    write_csv(frame, path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\r\n") == len(frame) + 1
    back = pd.read_csv(path, sep=";", decimal=",", encoding="utf-8-sig", dtype=str)
    titles = column_titles()
    assert list(back.columns) == [titles.get(c, c) for c in frame.columns]
    assert back.iloc[:, 1].tolist() == ["'" + frame.iloc[0, 1], *frame["nom"].iloc[1:]]
    assert back.iloc[:, 3].fillna("").tolist() == [
        "ACI signé",
        "Projet de santé validé",
        "",
        "Lettre d'intention validée",
    ]
    assert back.iloc[:, 4].tolist() == ["12,5", "0,0", "100,0", "33,25"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["communes.csv"]  # nothing left aside


def test_workbook_values_in_words_only_when_asked(tmp_path: Path) -> None:
    import openpyxl

    frame = pd.DataFrame({"stade": ["aci", "projet_sante"], "option": ["creation", "extension"]})
    _workbook.write_xlsx({"Propositions": frame}, tmp_path / "codes.xlsx")
    _workbook.write_xlsx({"Propositions": frame}, tmp_path / "mots.xlsx", words=True)
    codes = openpyxl.load_workbook(tmp_path / "codes.xlsx")["Propositions"]
    words = openpyxl.load_workbook(tmp_path / "mots.xlsx")["Propositions"]
    assert [c.value for c in codes["A"][1:]] == ["aci", "projet_sante"]
    assert [c.value for c in words["A"][1:]] == ["ACI signé", "Projet de santé validé"]
    assert [c.value for c in words["B"][1:]] == ["création", "extension"]
    assert codes["A"][0].value == words["A"][0].value  # French titles in both
