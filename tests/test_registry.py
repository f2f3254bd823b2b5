"""Tests of :mod:`couverture.registry` on real communes (small registry files in tmp_path)."""

from __future__ import annotations

import csv
import itertools
import logging
import math
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from couverture import _cache, _config
from couverture._errors import ArgumentError, RegistryError
from couverture.registry import normalise_stage, read_registry

HEADER = ["cpts_id", "nom_cpts", "stade", "code_insee", "nom_commune"]
RENNES = [
    ["C1", "CPTS Rennes", "ACI signé", "35238", "Rennes"],
    ["C1", "CPTS Rennes", "ACI signé", "35051", "Cesson-Sévigné"],
    ["C1", "CPTS Rennes", "ACI signé", "35240", "Le Rheu"],
    ["C2", "CPTS Brest", "Projet de santé validé", "29019", "Brest"],
]
_counter = itertools.count()


def write_csv(path: Path, rows, *, header=HEADER, sep=",", encoding="utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=sep)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def read(units, old_codes):
    def _read(path, **options):
        return read_registry(path, units=units, old_codes=old_codes, **options)

    return _read


def pairs(registry) -> set[tuple[str, str]]:
    return set(registry.membership[["cpts_id", "code"]].itertuples(index=False, name=None))


def problems_of(excinfo) -> list[tuple[int | None, str, str]]:
    return excinfo.value.problems


# ------------------------------------------------------------------------------ clean files
def test_clean_registry(read, tmp_path):
    reg = read(write_csv(tmp_path / "r.csv", RENNES))
    assert list(reg.cpts.index) == ["C1", "C2"]
    assert reg.cpts.loc["C1", "stade"] == "aci"
    assert reg.cpts.loc["C2", "stade"] == "projet_sante"
    assert reg.cpts.loc["C2", "stade_libelle"] == "Projet de santé validé"
    m = reg.membership
    assert list(m.columns) == ["cpts_id", "code", "part", "ligne", "iris"]
    assert list(m["ligne"]) == [2, 3, 4, 5]
    assert m["part"].isna().all() and not m["iris"].any()
    assert reg.anomalies.empty and not reg.fictif and len(reg.digest) == 64
    # the file's fingerprint: the same bytes, whatever the options
    assert reg.digest == _cache.digest(tmp_path / "r.csv")


@pytest.mark.parametrize(
    ("sep", "encoding"), [(";", "cp1252"), (",", "utf-8-sig"), ("\t", "utf-8"), (";", "utf-16")]
)
def test_separators_and_encodings(read, tmp_path, sep, encoding):
    clean = read(write_csv(tmp_path / "clean.csv", RENNES))
    other = read(write_csv(tmp_path / "other.csv", RENNES, sep=sep, encoding=encoding))
    assert pairs(other) == pairs(clean)
    assert other.cpts.equals(clean.cpts)


def test_xlsx_numeric_codes(read, tmp_path, caplog):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Identifiant", "Nom de la CPTS", "État d'avancement", "CODGEO", "Part"])
    sheet.append(["C1", "CPTS Bugey", "Lettre d'intention validée", 1001, 0.5])
    sheet.append([None])  # blank Excel row: line numbers stay Excel's
    sheet.append(["C1", "CPTS Bugey", "Lettre d'intention validée", 1004.0, None])
    book.save(tmp_path / "r.xlsx")
    with caplog.at_level(logging.WARNING, logger="couverture.registry"):
        reg = read(tmp_path / "r.xlsx")
    m = reg.membership.set_index("code")
    assert m.loc["01001", "ligne"] == 2 and m.loc["01004", "ligne"] == 4
    assert m.loc["01001", "part"] == 0.5 and math.isnan(m.loc["01004", "part"])
    assert reg.cpts.loc["C1", "stade"] == "lettre_intention"
    assert reg.anomalies["action"].str.contains("zéro initial restauré").sum() == 2
    assert "zéros initiaux restaurés" in caplog.text


# ------------------------------------------------------------------------------ normalisations
def test_iris_whole_city_old_code_and_duplicates(read, tmp_path):
    rows = [
        ["C1", "CPTS A", "aci", "132010101", ""],
        ["C1", "CPTS A", "aci", "132010102", ""],
        ["C2", "CPTS B", "aci", "13055", "Marseille"],
        ["C2", "CPTS B", "aci", "13214", "Marseille 14e"],
        ["C3", "CPTS C", "aci", "05120", "Ristolas"],
        ["C3", "CPTS C", "aci", "05001", "Abriès-Ristolas"],
    ]
    reg = read(write_csv(tmp_path / "r.csv", rows))
    m = reg.membership
    c1 = m[m["cpts_id"] == "C1"]
    assert list(c1["code"]) == ["13201"] and c1["iris"].all() and c1["part"].isna().all()
    c2 = m[m["cpts_id"] == "C2"]
    assert len(c2) == 16 and c2["code"].str.startswith("132").all()
    assert c2.set_index("code").loc["13214", "ligne"] == 5  # explicit row kept
    assert list(m.loc[m["cpts_id"] == "C3", "code"]) == ["05001"]
    actions = " | ".join(reg.anomalies["action"])
    for expected in ("IRIS", "16 arrondissements", "ancien code 05120", "doublon ignoré"):
        assert expected in actions


def test_loose_names_and_name_only_rows(read, tmp_path):
    header = ["cpts", "statut", "commune", "dep", "quote-part"]
    rows = [
        ["CPTS A", "en création", "st  etienne de tinée", "6", "50 %"],
        ["CPTS A", "en création", "Marseille 01", "13", "0,5"],
        ["cpts a", "en création", "Le Tholonet", "13", ""],
        ["CPTS A", "en création", "Vergné", "17", ""],
    ]
    reg = read(write_csv(tmp_path / "r.csv", rows, header=header))
    # no id column: one name in départements that do not touch is one CPTS per département
    assert list(reg.cpts.index) == ["CPTS A (06)", "CPTS A (13)", "CPTS A (17)"]
    assert set(reg.membership["code"]) == {"06120", "13201", "13109", "17464"}
    assert set(reg.membership["part"].dropna()) == {0.5}


def test_postal_code_for_marseille_arrondissement(read, tmp_path):
    rows = [["C1", "CPTS A", "aci", "13001", "Marseille 1er"]]
    with pytest.raises(RegistryError) as excinfo:
        read(write_csv(tmp_path / "r.csv", rows))
    [(line, value, message)] = problems_of(excinfo)
    assert (line, value) == (2, "13001")
    assert "Aix-en-Provence" in message and "13201" in message and "code postal" in message


def test_every_offending_line_is_listed(read, tmp_path):
    rows = [
        ["C1", "CPTS A", "aci", "35238", "Rennes"],
        ["C1", "CPTS A", "aci", "99999", ""],
        ["C2", "CPTS B", "bientôt", "29019", "Brest"],
        ["C2", "CPTS B", "aci", "35238", "Brest"],
        ["C3", "CPTS C", "aci", "", "Saint-Pierre"],
        ["C3", "CPTS C", "aci", "", "Nulle-Part-sur-Mer"],
    ]
    with pytest.raises(RegistryError) as excinfo:
        read(write_csv(tmp_path / "r.csv", rows))
    problems = problems_of(excinfo)
    assert [p[0] for p in problems] == [3, 4, 5, 6, 7]
    assert "stade inconnu" in problems[1][2]
    assert "ne correspond pas" in problems[2][2] or "désigne" in problems[2][2]
    assert "ambigu" in problems[3][2] and "inconnue" in problems[4][2]
    assert "registre" in str(excinfo.value) and "ligne 7" in str(excinfo.value)


def test_shares(read, tmp_path):
    header = [*HEADER, "part"]
    ok = [["C1", "A", "aci", "06088", "Nice", "0,7"], ["C2", "B", "aci", "06088", "Nice", "60%"]]
    reg = read(write_csv(tmp_path / "ok.csv", ok, header=header))
    assert reg.anomalies["action"].str.contains("parts cumulées").any()
    bad = [["C1", "A", "aci", "06088", "Nice", "1,5"], ["C1", "A", "aci", "06088", "", "x"]]
    with pytest.raises(RegistryError) as excinfo:
        read(write_csv(tmp_path / "bad.csv", bad, header=header))
    assert [p[0] for p in problems_of(excinfo)] == [2, 3]


# ------------------------------------------------------------------------------ stages
@pytest.mark.parametrize(
    ("wording", "stage"),
    [
        ("Lettre d'intention validée", "lettre_intention"),
        ("  LETTRE D’INTENTION   VALIDEE ", "lettre_intention"),
        ("en création", "lettre_intention"),
        ("Projet de santé validé", "projet_sante"),
        ("prochainement en fonctionnement", "projet_sante"),
        ("ACI signé", "aci"),
        ("contrat signé", "aci"),
        ("En fonctionnement", "aci"),
        ("aci", "aci"),
        ("en émergence", ""),
        ("En réflexion", ""),
        ("bientôt", None),
        ("", None),
    ],
)
def test_normalise_stage(wording, stage):
    assert normalise_stage(wording) == stage


def test_stage_order():
    assert sorted(_config.stage_codes(), key=_config.stage_rank) == [
        "lettre_intention",
        "projet_sante",
        "aci",
    ]
    assert _config.stage_rank("") == 0 == _config.pre_stage().rank


def test_pre_li_and_inconsistent_stages(read, tmp_path):
    rows = [
        ["C1", "A", "en émergence", "35238", "Rennes"],
        ["C2", "B", "Projet de santé validé", "29019", "Brest"],
        ["C2", "B", "ACI signé", "35051", "Cesson-Sévigné"],
    ]
    reg = read(write_csv(tmp_path / "r.csv", rows))
    assert pd.isna(reg.cpts.loc["C1", "stade"]) and reg.cpts.loc["C1", "stade_libelle"] == (
        "en émergence"
    )
    assert reg.cpts.loc["C2", "stade"] == "aci"
    said = " ".join(reg.anomalies["action"])
    assert "stades différents" in said
    # the stages in words, never their machine keys
    assert "(ACI, projet de santé)" in said and "projet_sante" not in said


def test_missing_or_blank_stage_needs_default(read, tmp_path):
    rows = [r[:2] + r[3:] for r in RENNES]
    path = write_csv(tmp_path / "r.csv", rows, header=["cpts_id", "nom_cpts", "codgeo", "commune"])
    with pytest.raises(RegistryError, match="stade par défaut"):
        read(path)
    assert (read(path, default_stage="ACI signé").cpts["stade"] == "aci").all()
    with pytest.raises(ArgumentError):
        read(path, default_stage="bientôt")
    blank = [[*r[:2], "", *r[3:]] for r in RENNES]
    with pytest.raises(RegistryError) as excinfo:
        read(write_csv(tmp_path / "blank.csv", blank))
    assert [p[0] for p in problems_of(excinfo)] == [2, 3, 4, 5]
    reg = read(tmp_path / "blank.csv", default_stage="projet_sante")
    assert (reg.cpts["stade"] == "projet_sante").all()


# ------------------------------------------------------------------------------ broken files
@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n\n  \n",
        b"\x00\x01\x02garbage\xff\xfe\x00",
        b"PK\x03\x04not really a workbook",
        b"\xd0\xcf\x11\xe0old excel",
        b"cpts_id,stade\nC1,aci\n",
        b"code_insee,stade\n35238,aci\n",
        b"cpts_id,code_insee,stade\n",
        "cpts_id,code_insee,stade\n\x81\x8d,35238,aci\n".encode("latin-1"),
    ],
)
def test_unusable_files(read, tmp_path, content):
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    with pytest.raises(RegistryError):
        read(path)


def test_missing_file_and_bad_xlsx(read, tmp_path):
    with pytest.raises(RegistryError, match="introuvable"):
        read(tmp_path / "absent.csv")
    (tmp_path / "r.xlsx").write_text("cpts_id,code\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="Excel"):
        read(tmp_path / "r.xlsx")


def test_fictif(read, tmp_path):
    rows = [[*r, "oui"] for r in RENNES]
    assert read(write_csv(tmp_path / "r.csv", rows, header=[*HEADER, "fictif"])).fictif
    assert read(write_csv(tmp_path / "registre_demo_x.csv", RENNES)).fictif


# ------------------------------------------------------------------------------ real PACA file
def test_paca_registry(read, paca_registry, units):
    reg = read(paca_registry, default_stage="aci")
    m = reg.membership
    assert len(reg.cpts) == 70 and (reg.cpts["stade"] == "aci").all()
    marseille = m[m["code"].str.startswith("132")]
    assert "13201" not in set(m["code"])
    assert marseille.groupby("cpts_id").size().max() <= 3 and marseille["cpts_id"].nunique() == 8
    assert not marseille.duplicated("code").any()
    assert (m["code"] == "06088").sum() == 3 and (m["code"] == "83137").sum() == 2
    assert reg.anomalies["action"].str.contains("doublon ignoré : 05001").sum() == 1
    paca = units[units["region"] == "93"]
    assert len(paca) == 961 and paca["code"].isin(m["code"]).sum() == 915
    assert m["code"].isin(units["code"]).all()


# ------------------------------------------------------------------------------ properties
POOL = ["05001", "05061", "05046", "04070", "13201", "13214", "35238", "2A004", "01001"]


def _mangle(text: str, data) -> str:
    if data.draw(st.booleans()):
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
    if data.draw(st.booleans()):
        text = text.upper() if data.draw(st.booleans()) else text.lower()
    return " " * data.draw(st.integers(0, 2)) + text.replace("-", data.draw(st.sampled_from("- ")))


@hsettings(max_examples=25, deadline=None)
@given(data=st.data())
def test_mangled_rows_give_the_same_membership(read, units, tmp_path_factory, data):
    names = units.set_index("code")["nom"]
    chosen = data.draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=6, unique=True))
    clean, messy = [], []
    for k, code in enumerate(chosen):
        cpts_id, stage = f"C{k % 2}", ["aci", "Projet de santé validé"][k % 2]
        clean.append([cpts_id, "CPTS", stage, code, names[code]])
        lost_zero = code.startswith("0") and data.draw(st.booleans())
        messy.append(
            [
                cpts_id,
                "CPTS",
                _mangle(stage, data),
                code[1:] if lost_zero else code,
                _mangle(names[code], data),
            ]
        )
    folder = tmp_path_factory.mktemp("prop")
    sep = data.draw(st.sampled_from([",", ";"]))
    encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    expected = read(write_csv(folder / "clean.csv", clean))
    got = read(write_csv(folder / "messy.csv", messy, sep=sep, encoding=encoding))
    assert pairs(got) == pairs(expected)
    assert got.cpts["stade"].equals(expected.cpts["stade"])


@hsettings(max_examples=60, deadline=None)
@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.lists(
            st.lists(
                st.sampled_from(["35238", "C1", "aci", "1001", "", "x;y", '"', "13055"]), max_size=6
            ),
            max_size=5,
        ).map(lambda rows: "cpts_id;stade;code_insee;part\n" + "\n".join(map(";".join, rows))),
    )
)
def test_junk_raises_only_registry_error(read, tmp_path_factory, content):
    path = tmp_path_factory.getbasetemp() / f"junk{next(_counter)}.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    try:
        reg = read(path)
    except RegistryError:
        return
    assert reg.membership["code"].str.len().eq(5).all()


# ------------------------------------------------------------------------------ tester's defects
def test_paris_postal_code_is_not_an_old_code(read, tmp_path):
    header = ["cpts_id", "nom_cpts", "stade", "code_insee", "departement"]
    rows = [["C1", "A", "aci", "75001", "75"], ["C1", "A", "aci", "75015", ""]]
    with pytest.raises(RegistryError) as excinfo:
        read(write_csv(tmp_path / "r.csv", rows, header=header))
    problems = problems_of(excinfo)
    assert [p[:2] for p in problems] == [(2, "75001"), (3, "75015")]
    assert "code postal" in problems[0][2] and "75101" in problems[0][2]
    assert "Alfortville" in problems[0][2] and "75115" in problems[1][2]


def test_legitimate_old_codes_still_accepted(read, tmp_path):
    header = ["cpts_id", "nom_cpts", "stade", "code_insee", "nom_commune", "departement"]
    rows = [
        ["C1", "A", "aci", "05120", "Ristolas", "05"],  # merged into Abriès-Ristolas
        ["C1", "A", "aci", "20004", "", ""],  # Corsica before 1976: Ajaccio
        ["C1", "A", "aci", "14513", "", "50"],  # Pont-Farcy, now Tessy-Bocage (Manche)
        ["C1", "A", "aci", "74011", "Annecy le Vieux", ""],
        ["C1", "A", "aci", "74010", "Annecy-le-Vieux", ""],
    ]
    reg = read(write_csv(tmp_path / "r.csv", rows, header=header))
    assert set(reg.membership["code"]) == {"05001", "2A004", "50592", "74010"}


def test_departement_contradicting_the_code_is_an_error(read, tmp_path):
    header = ["cpts_id", "nom_cpts", "stade", "code_insee", "nom_commune", "dep"]
    rows = [["C1", "A", "aci", "35238", "Rennes", "35"], ["C1", "A", "aci", "29019", "Brest", "35"]]
    with pytest.raises(RegistryError) as excinfo:
        read(write_csv(tmp_path / "r.csv", rows, header=header))
    [(line, value, message)] = problems_of(excinfo)
    assert (line, value) == (3, "29019")
    assert "Brest (29019)" in message and "29" in message and "indiqué est 35" in message


def test_missing_stage_message_names_the_cli_option(read, tmp_path):
    path = write_csv(tmp_path / "r.csv", [["C1", "35238"]], header=["cpts_id", "code_insee"])
    with pytest.raises(RegistryError) as excinfo:
        read(path)
    [(_, _, message)] = problems_of(excinfo)
    assert "--stade-par-defaut" in message and "default_stage=" in message
    blank = write_csv(tmp_path / "b.csv", [["C1", "A", "", "35238"]], header=HEADER[:4])
    with pytest.raises(RegistryError, match="--stade-par-defaut"):
        read(blank)


def test_wrong_column_set_lists_found_and_expected(read, tmp_path):
    path = write_csv(tmp_path / "r.csv", [["1", "2"]], header=["foo", "bar"])
    with pytest.raises(RegistryError) as excinfo:
        read(path)
    [(_, _, message)] = problems_of(excinfo)
    assert "foo, bar" in message and "code_insee" in message and "nom_cpts" in message
    assert "stade par défaut" not in message


def test_excel_sep_line_and_title_rows(read, tmp_path):
    clean = read(write_csv(tmp_path / "clean.csv", RENNES))
    body = "\n".join(";".join(r) for r in [HEADER, *RENNES])
    (tmp_path / "sep.csv").write_text("sep=;\n" + body + "\n", encoding="utf-8")
    reg = read(tmp_path / "sep.csv")
    assert pairs(reg) == pairs(clean) and list(reg.membership["ligne"]) == [3, 4, 5, 6]
    titled = "Extraction ARS du 12/01/2026\n\nSource : ARS Bretagne\n" + body + "\n"
    (tmp_path / "title.csv").write_text(titled, encoding="utf-8")
    reg = read(tmp_path / "title.csv")
    assert pairs(reg) == pairs(clean) and list(reg.membership["ligne"]) == [5, 6, 7, 8]


def test_xlsx_notes_sheet_first(read, tmp_path, caplog):
    import openpyxl

    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Notes"
    notes.append(["Registre des CPTS, extraction ARS du 12/01/2026"])
    data = book.create_sheet("Données")
    data.append(["Extraction ARS du 12/01/2026"])
    data.append(HEADER)
    for row in RENNES:
        data.append(row)
    book.save(tmp_path / "r.xlsx")
    with caplog.at_level(logging.INFO, logger="couverture.registry"):
        reg = read(tmp_path / "r.xlsx")
    assert len(reg.membership) == 4 and list(reg.membership["ligne"]) == [3, 4, 5, 6]
    assert "Données" in caplog.text
    book.remove(data)
    book.create_sheet("Autre").append(["rien", "ici"])
    book.save(tmp_path / "bad.xlsx")
    with pytest.raises(RegistryError) as excinfo:
        read(tmp_path / "bad.xlsx")
    assert "Notes" in str(excinfo.value) and "Autre" in str(excinfo.value)


@pytest.mark.parametrize("code", ["12345678", "3523800", "352380001X", "35238001"])
def test_garbage_codes(read, tmp_path, code):
    with pytest.raises(RegistryError) as excinfo:
        read(write_csv(tmp_path / "r.csv", [["C1", "A", "aci", code, ""]]))
    [(line, value, message)] = problems_of(excinfo)
    assert (line, value) == (2, code) and "IRIS" in message


@pytest.mark.parametrize(
    ("wording", "stage"),
    [
        ("En fonctionnement (ACI)", "aci"),
        ("Signée", "aci"),
        ("signe", "aci"),
        ("Fonctionnelle", "aci"),
        ("Projet de santé déposé", "lettre_intention"),
        ("Lettre d'intention déposée", ""),
        ("En cours de contractualisation", "projet_sante"),
        ("Abandonnée", "exclu"),
        ("CPTS dissoute", "exclu"),
    ],
)
def test_new_stage_wordings(wording, stage):
    assert normalise_stage(wording) == stage


def test_excluded_cpts_are_dropped(read, tmp_path):
    rows = [
        ["C1", "CPTS Rennes", "ACI signé", "35238", "Rennes"],
        ["C2", "CPTS Brest", "Dissoute", "29019", "Brest"],
        ["C2", "CPTS Brest", "Dissoute", "99999", "Nulle-Part"],  # not checked: ignored
    ]
    reg = read(write_csv(tmp_path / "r.csv", rows))
    assert list(reg.cpts.index) == ["C1"] and pairs(reg) == {("C1", "35238")}
    [anomaly] = reg.anomalies.itertuples()
    assert anomaly.ligne == 3 and anomaly.valeur == "Dissoute" and "ignorée" in anomaly.action
    with pytest.raises(ArgumentError):
        read(tmp_path / "r.csv", default_stage="abandonnée")


def test_unknown_stage_lists_accepted_wordings(read, tmp_path):
    rows = [["C1", "A", "bientôt", "35238", ""], ["C2", "B", "bientôt", "29019", ""]]
    with pytest.raises(RegistryError) as excinfo:
        read(write_csv(tmp_path / "r.csv", rows))
    first, second = problems_of(excinfo)
    assert "…" not in first[2]
    for part in ("aci signe", "projet de sante valide", "en emergence", "dissoute"):
        assert part in first[2]
    assert "voir ligne 2" in second[2]


def test_name_spelling_and_suggestions(read, tmp_path):
    header = ["cpts", "stade", "commune", "dep"]
    rows = [
        ["CPTS A", "aci", "L Escale", "04"],
        ["CPTS A", "aci", "LEscale", "04"],
        ["CPTS A", "aci", "Saint Martin d Hères", "38"],
    ]
    reg = read(write_csv(tmp_path / "ok.csv", rows, header=header))
    assert set(reg.membership["code"]) == {"04079", "38421"}
    bad = [["CPTS A", "aci", "Saint-Etiene", "42"], ["CPTS A", "aci", "Annecy le Vieux", "74"]]
    with pytest.raises(RegistryError) as excinfo:
        read(write_csv(tmp_path / "bad.csv", bad, header=header))
    first, second = problems_of(excinfo)
    assert "vouliez-vous dire : Saint-Étienne (42218) ?" in first[2]
    assert "Annecy (74010)" in second[2]


def test_anomalies_show_raw_values_sorted_by_line(read, tmp_path, caplog):
    header = ["cpts", "stade", "commune", "dep"]
    rows = [
        ["CPTS A", "aci", "Saint-Étienne", "42"],
        ["CPTS A", "Projet de santé validé", "Rennes", "35"],
        ["CPTS A", "aci", "saint-étienne", "42"],
    ]
    with caplog.at_level(logging.WARNING, logger="couverture.registry"):
        reg = read(write_csv(tmp_path / "r.csv", rows, header=header))
    anomalies = reg.anomalies
    assert list(anomalies["ligne"]) == sorted(anomalies["ligne"])
    duplicate = anomalies[anomalies["action"].str.contains("doublon")].iloc[0]
    assert duplicate["valeur"] == "saint-étienne" and duplicate["ligne"] == 4
    assert "2 anomalies corrigées" in caplog.text and "(1 ; ligne 4)" in caplog.text
    text = " ".join(anomalies["action"])
    assert "CPTS CPTS" not in text and "la CPTS A" in text


def test_single_anomaly_is_singular(read, tmp_path, caplog):
    rows = [["C1", "A", "aci", "35238", ""], ["C1", "A", "aci", "35238", ""]]
    with caplog.at_level(logging.WARNING, logger="couverture.registry"):
        reg = read(write_csv(tmp_path / "r.csv", rows))
    assert len(reg.anomalies) == 1 and "1 anomalie corrigée" in caplog.text
    assert "1 anomalies" not in caplog.text


# ------------------------------------------------------------------------------ names of CPTS
def test_a_name_without_letters_is_no_name(read, tmp_path):
    header = ["nom_cpts", "stade", "code_insee"]
    rows = [["CPTS Vitré", "ACI signé", "35360"], ["-", "ACI signé", "35238"]]
    with pytest.raises(RegistryError) as excinfo:
        read(write_csv(tmp_path / "r.csv", rows, header=header))
    assert problems_of(excinfo) == [(3, "-", "nom de CPTS sans lettre ni chiffre")]
    assert "r.csv, ligne 3 « - » : nom de CPTS sans lettre ni chiffre" in str(excinfo.value)


def test_a_cpts_known_by_its_id_alone_is_noted(read, tmp_path):
    rows = [
        ["A", "", "ACI signé", "35360", "Vitré"],
        ["A", "CPTS Pays de Vitré", "ACI signé", "35047", "Bruz"],  # named on a later row
        ["Z", "", "ACI signé", "35238", "Rennes"],
        ["Z", "?", "ACI signé", "35051", "Cesson-Sévigné"],
    ]
    reg = read(write_csv(tmp_path / "r.csv", rows))
    assert reg.cpts.loc["A", "nom"] == "CPTS Pays de Vitré" and reg.cpts.loc["Z", "nom"] == "Z"
    notes = reg.anomalies[reg.anomalies["action"].str.contains("sans nom")]
    assert notes[["ligne", "colonne", "valeur"]].values.tolist() == [[4, "nom_cpts", ""]]
    assert notes["action"].iloc[0] == "CPTS Z sans nom : son identifiant « Z » lui sert de nom"


def test_homonyms_of_one_departement(read, tmp_path):
    """With ids: one name for two CPTS of the 35 is noted on the second one's first line.
    Without ids: two CPTS « CPTS Sud » merge, their rows in separate blocks are noted."""
    rows = [
        ["B", "CPTS Sud", "ACI signé", "35360", "Vitré"],
        ["N", "CPTS Nord", "ACI signé", "35238", "Rennes"],
        ["C", "CPTS  sud", "Lettre d'intention validée", "35047", "Bruz"],
        ["D", "CPTS Sud", "ACI signé", "29019", "Brest"],  # another département: no note
    ]
    reg = read(write_csv(tmp_path / "ids.csv", rows))
    said = reg.anomalies[reg.anomalies["action"].str.contains("porté par")]
    assert said[["ligne", "valeur"]].values.tolist() == [[4, "CPTS Sud"]]
    assert (
        said["action"]
        .iloc[0]
        .startswith("nom « CPTS Sud » porté par 2 CPTS du département 35 (B, C)")
    )

    no_ids = [r[1:] for r in rows[:3]] + [["CPTS Sud", "ACI signé", "35051", "Cesson-Sévigné"]]
    reg = read(write_csv(tmp_path / "noms.csv", no_ids, header=HEADER[1:]))
    assert list(reg.cpts.index) == ["CPTS Sud", "CPTS Nord"]
    said = reg.anomalies[reg.anomalies["action"].str.contains("blocs de lignes")]
    assert said[["ligne", "valeur"]].values.tolist() == [[4, "CPTS Sud"]]
    assert "(ligne 2, ligne 4–5)" in said["action"].iloc[0] and "cpts_id" in said["action"].iloc[0]
    # sorted by commune, the CPTS come in many blocks: nothing to say
    by_commune = [
        ["CPTS Sud", "ACI signé", "35047", "Bruz"],
        ["CPTS Nord", "ACI signé", "35051", "Cesson-Sévigné"],
        ["CPTS Sud", "ACI signé", "35238", "Rennes"],
        ["CPTS Nord", "ACI signé", "35240", "Le Rheu"],
        ["CPTS Sud", "ACI signé", "35360", "Vitré"],
    ]
    reg = read(write_csv(tmp_path / "communes.csv", by_commune, header=HEADER[1:]))
    assert not reg.anomalies["action"].str.contains("blocs de lignes").any()


def test_duplicate_with_other_share_says_both_shares(read, tmp_path):
    """One commune listed twice for one CPTS at 30 % and 70 %: the first share is kept and the
    note says which share was kept and which ignored, so the reader sees what coverage lost."""
    rows = [
        ["C1", "CPTS Rennes", "ACI signé", "35051", "Cesson-Sévigné", "0,3"],
        ["C1", "CPTS Rennes", "ACI signé", "35238", "Rennes", ""],
        ["C1", "CPTS Rennes", "ACI signé", "35051", "Cesson-Sévigné", "0,7"],
    ]
    reg = read(write_csv(tmp_path / "r.csv", rows, header=[*HEADER, "part"]))
    m = reg.membership.set_index("code")
    assert m.loc["35051", "part"] == 0.3
    said = " ".join(reg.anomalies["action"])
    assert "doublon ignoré : 35051 déjà rattachée à la CPTS Rennes (C1)" in said
    assert "part 0,3 gardée" in said and "part 0,7 de cette ligne ignorée" in said
