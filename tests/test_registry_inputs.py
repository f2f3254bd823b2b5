"""Registry inputs a careless or hostile user gives (issue 13): several sheets, stray quotes,
mixed encodings, homonymous CPTS, special files, absurd used ranges, unclear empty cells.

Each test fails on the reader before the fix and names the case it covers.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from couverture._errors import RegistryError
from couverture.registry import read_registry

BIN = Path(sys.executable).parent / "couverture"
HEADER = ["cpts_id", "nom_cpts", "stade", "code_insee"]


@pytest.fixture(scope="session")
def read(units, old_codes):
    def _read(path, **options):
        return read_registry(path, units=units, old_codes=old_codes, **options)

    return _read


def run(*args: str, stdin: bytes | None = None, timeout: float = 120):
    """The CLI in a fresh process; ``timeout`` only guards against a hang."""
    return subprocess.run(
        [str(BIN), *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )


def pairs(registry) -> set[tuple[str, str]]:
    return set(registry.membership[["cpts_id", "code"]].itertuples(index=False, name=None))


# ------------------------------------------------------------------ 3: several sheets
def test_case3_every_registry_sheet_is_read(read, tmp_path, caplog):
    import openpyxl

    book = openpyxl.Workbook()
    first = book.active
    first.append(HEADER)
    first.append(["C1", "CPTS A", "ACI", "35238"])  # Rennes
    notes = book.create_sheet("Notes")
    notes.append(["Extraction ARS du 12/01/2026"])
    other = book.create_sheet("29")
    other.append(["code_insee", "stade", "nom_cpts", "cpts_id"])  # same columns, other order
    other.append(["29019", "Projet de santé", "CPTS B", "C9"])  # Brest
    other.append(["29232", "Projet de santé", "CPTS B", "C9"])  # Quimper
    book.save(tmp_path / "two.xlsx")
    with caplog.at_level(logging.INFO, logger="couverture.registry"):
        reg = read(tmp_path / "two.xlsx")
    assert pairs(reg) == {("C1", "35238"), ("C9", "29019"), ("C9", "29232")}
    assert reg.cpts.loc["C9", "stade"] == "projet_sante"
    m = reg.membership.set_index("code")
    assert m.loc["29232", "feuille"] == "29" and m.loc["29232", "ligne"] == 3
    assert m.loc["35238", "feuille"] == "Sheet" and m.loc["35238", "ligne"] == 2
    assert "« Sheet », « 29 »" in caplog.text and "Notes" in caplog.text


def test_case3_sheet_lines_named_in_errors_and_anomalies(read, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.append(["C1", "CPTS A", "ACI", "35238"])
    other = book.create_sheet("29")
    other.append(HEADER)
    other.append(["C9", "CPTS B", "ACI", "2919"])  # lost leading zero: 02919 does not exist
    book.save(tmp_path / "bad.xlsx")
    with pytest.raises(RegistryError) as excinfo:
        read(tmp_path / "bad.xlsx")
    assert "bad.xlsx, feuille « 29 », ligne 2 « 2919 »" in str(excinfo.value)

    other["D2"] = "29019"
    other.append(["C9", "CPTS B", "ACI", "29019"])  # duplicate row
    book.save(tmp_path / "dup.xlsx")
    reg = read(tmp_path / "dup.xlsx")
    [note] = reg.anomalies.to_dict("records")
    assert (note["feuille"], note["ligne"]) == ("29", 3)
    assert "(feuille « 29 », ligne 2)" in note["action"]


def test_case3_sheets_with_other_columns_are_refused(read, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.append(["C1", "CPTS A", "ACI", "35238"])
    other = book.create_sheet("29")
    other.append(["cpts_id", "nom_cpts", "code_insee"])  # no stage column
    other.append(["C9", "CPTS B", "29019"])
    book.save(tmp_path / "two.xlsx")
    with pytest.raises(RegistryError) as excinfo:
        read(tmp_path / "two.xlsx")
    assert "feuille « 29 » : colonnes différentes" in str(excinfo.value)


# ------------------------------------------------------------------ 14: absurd used range
def test_case14_far_used_range_is_bounded(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["C1", "A", "ACI", "35238"])
    sheet["XFD1048576"] = " "
    book.save(tmp_path / "far.xlsx")
    assert (tmp_path / "far.xlsx").stat().st_size < 10_000
    # the timeout only guards against the hang (the read took hours)
    done = run("communes", "--registre", str(tmp_path / "far.xlsx"), "--format", "csv", timeout=90)
    assert done.returncode == 0, done.stderr.decode()
    assert "\n35238," in done.stdout.decode()


# ------------------------------------------------------------------ 4: a stray quote
def test_case4_stray_quote_is_an_error_naming_the_lines(read, tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(
        b'cpts_id;nom_cpts;stade;code_insee\nC1;"CPTS A;ACI;35238\nC1;CPTS A";ACI;35047\n'
    )
    with pytest.raises(RegistryError) as excinfo:
        read(path)
    [(line, value, message)] = excinfo.value.problems
    assert line == 2 and "35238" in value and "lignes 2 à 3" in message
    assert "guillemet" in message and "\n" not in str(excinfo.value).split("\n  ", 1)[1]
    unclosed = tmp_path / "u.csv"  # never closed: swallows the end of the file
    unclosed.write_bytes(
        b"cpts_id;nom_cpts;stade;code_insee\nC1;CPTS A;ACI;35238\n"
        b'C2;"CPTS B;ACI;35047\nC2;CPTS B;ACI;35051\n'
    )
    with pytest.raises(RegistryError) as excinfo:
        read(unclosed)
    assert [p[0] for p in excinfo.value.problems] == [3]


def test_case4_cell_over_two_lines_is_joined_and_noted(read, tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(
        b'cpts_id;nom_cpts;stade;code_insee\nC1;"CPTS du\nPays de Rennes";ACI;35238\n'
        b"C1;CPTS du Pays de Rennes;ACI;35051\n"
    )
    reg = read(path)
    assert reg.cpts.loc["C1", "nom"] == "CPTS du Pays de Rennes"
    assert pairs(reg) == {("C1", "35238"), ("C1", "35051")}
    assert list(reg.membership["ligne"]) == [2, 4]
    [note] = reg.anomalies.to_dict("records")
    assert note["ligne"] == 2 and "plusieurs lignes" in note["action"]


# ------------------------------------------------------------------ 5: mixed encodings
def test_case5_one_cp1252_line_in_utf8_file(read, tmp_path, caplog):
    path = tmp_path / "mix.csv"
    path.write_bytes(
        b"cpts_id;nom_cpts;stade;code_insee\nC1;CPTS Vitr\xc3\xa9;ACI;35360\n"
        b"C2;Foug\xe8res;ACI;35115\nC3;CPTS Ch\xc3\xa2teaugiron;ACI;35069\n"
    )
    with caplog.at_level(logging.WARNING, logger="couverture.registry"):
        reg = read(path)
    assert reg.cpts["nom"].to_dict() == {
        "C1": "CPTS Vitré",
        "C2": "Fougères",
        "C3": "CPTS Châteaugiron",
    }
    [note] = reg.anomalies.to_dict("records")
    assert note["ligne"] == 3 and "Windows-1252" in note["action"]
    assert "encodages mélangés" in caplog.text and "ligne 3" in caplog.text
    whole = tmp_path / "cp.csv"  # a whole Windows-1252 file stays a clean read
    text = "cpts_id;nom_cpts;stade;code_insee\nC1;CPTS Vitré;ACI;35360\nC2;Fougères;ACI;35115\n"
    whole.write_bytes(text.encode("cp1252"))
    assert read(whole).anomalies.empty and read(whole).cpts.loc["C1", "nom"] == "CPTS Vitré"


# ------------------------------------------------------------------ 8: nan, inf, digits
@pytest.mark.parametrize("share", ["nan", "NaN", "inf", "-inf", "nan %", "Infinity"])
def test_case8_non_finite_share_is_an_error(read, tmp_path, share):
    path = tmp_path / "p.csv"
    path.write_text(
        "cpts_id;nom_cpts;stade;code_insee;part\n"
        "C1;CPTS A;ACI;35238;0,5\n"
        f"C2;CPTS B;ACI;35238;{share}\n",
        encoding="utf-8",
    )
    with pytest.raises(RegistryError) as excinfo:
        read(path)
    [(line, value, message)] = excinfo.value.problems
    assert (line, value) == (3, share) and "part invalide" in message


@pytest.mark.parametrize("month", ["2026-１１", "２０２６-11", "2026-\u0661\u0661"])
def test_case8_month_needs_ascii_digits(month):
    from couverture._errors import ArgumentError
    from couverture._validate import check_month

    assert check_month("2026-11") == "2026-11"
    with pytest.raises(ArgumentError, match="mois invalide"):
        check_month(month)
