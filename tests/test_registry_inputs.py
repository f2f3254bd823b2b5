"""Registry inputs a careless or hostile user gives (issue 13): several sheets, stray quotes,
mixed encodings, homonymous CPTS, special files, absurd used ranges, unclear empty cells.

Each test fails on the reader before the fix and names the case it covers.
"""

from __future__ import annotations

import logging
import os
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


# ------------------------------------------------------------------ 13: special files
def _refused(done, *words: str) -> None:
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "Traceback" not in err and all(w in err for w in words), err


def test_case13_fifo_device_and_directory_refused_at_once(tmp_path):
    fifo = tmp_path / "registre.csv"
    os.mkfifo(fifo)  # nobody writes: opening it would wait forever
    # the timeouts only guard against the hang (the command never returned)
    _refused(run("taux", "--registre", str(fifo), timeout=60), "tube", "fichier ordinaire")
    _refused(run("taux", "--registre", "/dev/zero", timeout=60), "/dev/zero", "spécial")
    _refused(run("verifier", "--registre", str(tmp_path), timeout=60), "dossier")


def test_a_csv_renamed_xlsx_is_said_in_french(read, tmp_path):
    renamed = tmp_path / "registre.xlsx"
    renamed.write_text("cpts_id;nom_cpts;stade;code_insee\nA;CPTS A;aci;35238\n", "utf-8")
    with pytest.raises(RegistryError, match=r"CSV renommé en \.xlsx") as error:
        read(renamed)
    assert "BadZipFile" not in str(error.value) and "registre.xlsx" in str(error.value)
    _refused(run("verifier", "--registre", str(renamed)), "pas un classeur Excel")


def test_case13_library_refuses_a_directory_by_name(read, tmp_path):
    with pytest.raises(RegistryError, match="c'est un dossier"):
        read(tmp_path)


def test_case13_piped_stdin_gets_a_clear_message(demo_registry, tmp_path):
    data = demo_registry.read_bytes()
    for name in ("/dev/stdin", "-"):
        done = run("taux", "--registre", name, "--format", "csv", stdin=data, timeout=120)
        _refused(done, "entrée standard non acceptée")
        assert "fichier vide" not in done.stderr.decode()
    # standard input redirected from a file is that file: accepted
    with demo_registry.open("rb") as fh:
        done = subprocess.run(
            [str(BIN), "taux", "--registre", "/dev/stdin", "--format", "csv", "-q"],
            stdin=fh,
            capture_output=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().startswith("code,")


# ------------------------------------------------------------------ 7: homonymous CPTS
NO_ID = ["nom_cpts", "stade", "code_insee"]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


def test_case7_same_name_in_distant_departements_is_two_cpts(read, tmp_path):
    rows = [
        ["CPTS Saint-Pierre", "ACI", "97416"],  # Saint-Pierre (La Réunion)
        ["CPTS Saint-Pierre", "ACI", "97412"],  # Saint-Joseph (La Réunion)
        ["CPTS Montreuil", "Lettre d'intention", "93048"],  # Montreuil (Seine-Saint-Denis)
        ["CPTS Saint-Pierre", "Projet de santé", "97225"],  # Saint-Pierre (Martinique)
        ["CPTS Montreuil", "ACI", "28267"],  # Montreuil (Eure-et-Loir)
    ]
    reg = read(write_rows(tmp_path / "national.csv", NO_ID, rows))
    stages = reg.cpts["stade"].to_dict()
    assert stages == {
        "CPTS Saint-Pierre (974)": "aci",
        "CPTS Montreuil (93)": "lettre_intention",
        "CPTS Saint-Pierre (972)": "projet_sante",
        "CPTS Montreuil (28)": "aci",
    }
    assert set(reg.cpts["nom"]) == {"CPTS Saint-Pierre", "CPTS Montreuil"}
    assert pairs(reg) == {
        ("CPTS Saint-Pierre (974)", "97416"),
        ("CPTS Saint-Pierre (974)", "97412"),
        ("CPTS Montreuil (93)", "93048"),
        ("CPTS Saint-Pierre (972)", "97225"),
        ("CPTS Montreuil (28)", "28267"),
    }
    notes = reg.anomalies
    assert list(notes["ligne"]) == [2, 4]  # once per name, at its first line
    assert notes["action"].str.contains("homonymes").all()
    assert not notes["action"].str.contains("stades différents").any()


def test_case7_one_cpts_over_touching_departements_stays_one(read, tmp_path):
    rows = [
        ["CPTS Rance Émeraude", "ACI", "35288"],  # Saint-Malo (Ille-et-Vilaine)
        ["CPTS Rance Émeraude", "Projet de santé", "22050"],  # Dinan (Côtes-d'Armor)
        ["CPTS Brest", "ACI", "29019"],
        ["CPTS Brest", "Projet de santé", "29075"],  # Guipavas: same département
    ]
    reg = read(write_rows(tmp_path / "r.csv", NO_ID, rows))
    assert reg.cpts["stade"].to_dict() == {"CPTS Rance Émeraude": "aci", "CPTS Brest": "aci"}
    actions = " ".join(reg.anomalies["action"])
    assert actions.count("stades différents") == 2 and "homonymes" not in actions


def test_case7_an_id_column_is_trusted(read, tmp_path):
    rows = [
        ["C1", "CPTS Saint-Pierre", "ACI", "97416"],
        ["C1", "CPTS Saint-Pierre", "ACI", "97225"],
    ]
    reg = read(write_rows(tmp_path / "r.csv", ["cpts_id", *NO_ID], rows))
    assert list(reg.cpts.index) == ["C1"] and reg.anomalies.empty


# ------------------------------------------------------------------ 11: terminal escapes
CONTROLS = ("\x1b", "\x07", "\x9b", "\x00", "\u202e")


def test_case11_registry_messages_carry_no_terminal_controls(read, tmp_path, caplog):
    evil = "\x1b]0;pwned\x07\x1b[2J\x1b[31mCPTS\x9b Rennes\u202e"
    bad = write_rows(
        tmp_path / "bad.csv",
        ["cpts_id", "nom_cpts", "stade", "code_insee", "nom_commune"],
        [["C1", evil, "ACI", "35238", "Rennes"], ["C1", evil, "ACI", "35051", f"Brest{evil}"]],
    )
    with pytest.raises(RegistryError) as excinfo:
        read(bad)
    text = str(excinfo.value)
    assert "Brest" in text and not any(c in text for c in CONTROLS)
    noted = write_rows(
        tmp_path / "noted.csv",
        ["cpts_id", "nom_cpts", "stade", "code_insee"],
        [["C1", "CPTS Rennes", "ACI", "35238"], ["C1", evil, "ACI", "35051"]],
    )
    with caplog.at_level(logging.INFO, logger="couverture.registry"):
        reg = read(noted)
    [action] = reg.anomalies["action"]  # « nom différent pour la CPTS C1 »
    shown = " ".join([action, *reg.anomalies["valeur"], caplog.text])
    assert "CPTS Rennes" in shown and not any(c in shown for c in CONTROLS)


# ------------------------------------------------------------------ unclear empty cells
def test_merged_cells_and_uncomputed_formulas_are_named(read, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Registre"
    sheet.append(HEADER)
    sheet.append(["C1", "CPTS A", "ACI", "35238"])
    sheet.append(["C1", "CPTS A", None, "35051"])
    sheet.append(["C1", "CPTS A", None, "35240"])
    sheet.merge_cells("C2:C4")  # one stage for the three rows, as people format it
    sheet.append(["C2", "CPTS B", '=IF(1=1,"ACI","")', "29019"])  # saved without its value
    book.save(tmp_path / "r.xlsx")
    with pytest.raises(RegistryError) as excinfo:
        read(tmp_path / "r.xlsx")
    problems = {line: message for line, _, message in excinfo.value.problems}
    assert sorted(problems) == [3, 4, 5]
    assert "stade vide" in problems[3] and "cellule C3 fusionnée (C2:C4)" in problems[3]
    assert "seule C2 porte la valeur" in problems[4] and "feuille « Registre »" in problems[4]
    assert "cellule C5 : formule sans valeur calculée" in problems[5]
    assert "LibreOffice" in problems[5]


@pytest.mark.parametrize(
    "text",
    [
        "cpts_id;nom_cpts;code_insee\nA; CPTS A ;01001\n\n   \nA;CPTS A;01002;\n",
        "titre du fichier\n\ncpts_id,nom_cpts,code_insee\nA,CPTS A,01001\nA,CPTS A,01002",
        "sep=;\ncpts_id;code_insee\nA;01001\n;;\nB;01002\n",
        "cpts_id\tcode_insee\nA\t01001\x0bB\t01002\u2028\n",
    ],
)
def test_csv_without_quotes_reads_as_the_csv_module_reads_it(tmp_path: Path, text: str) -> None:
    """The plain split and the csv module give the same rows and line numbers."""
    from couverture import _registry_read

    path = tmp_path / "r.csv"
    data = text.encode()
    fast = _registry_read._csv_rows(path, data)
    plain, _registry_read._plain_rows = _registry_read._plain_rows, lambda *a: None
    try:
        slow = _registry_read._csv_rows(path, data)
    finally:
        _registry_read._plain_rows = plain
    assert fast[:2] == slow[:2]
