"""Professionals of each territory: the RPPS extract in its published layout (a hand-built file
over real communes of Ille-et-Vilaine and Paris, with the traps of the real one), the simple CSV,
adherents and actifs from the registry or an adhesions CSV, and the command line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import pytest
from _helpers import run_cli

import couverture
from couverture._errors import DataSourceError, RegistryError
from couverture.professionnels import (
    COUNT_COLUMNS,
    by_commune,
    by_cpts,
    by_zone,
    read_adhesions,
    read_annuaire,
)

# The header of PS_LibreAcces_Personne_activite as published: 52 named columns, then an empty
# one (every line ends with "|").
HEADER = [
    "Type d'identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Code civilité d'exercice",
    "Libellé civilité d'exercice",
    "Code civilité",
    "Libellé civilité",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Code profession",
    "Libellé profession",
    "Code catégorie professionnelle",
    "Libellé catégorie professionnelle",
    "Code type savoir-faire",
    "Libellé type savoir-faire",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Code mode exercice",
    "Libellé mode exercice",
    "Numéro SIRET site",
    "Numéro SIREN site",
    "Numéro FINESS site",
    "Numéro FINESS établissement juridique",
    "Identifiant technique de la structure",
    "Raison sociale site",
    "Enseigne commerciale site",
    "Complément destinataire (coord. structure)",
    "Complément point géographique (coord. structure)",
    "Numéro Voie (coord. structure)",
    "Indice répétition voie (coord. structure)",
    "Code type de voie (coord. structure)",
    "Libellé type de voie (coord. structure)",
    "Libellé Voie (coord. structure)",
    "Mention distribution (coord. structure)",
    "Bureau cedex (coord. structure)",
    "Code postal (coord. structure)",
    "Code commune (coord. structure)",
    "Libellé commune (coord. structure)",
    "Code pays (coord. structure)",
    "Libellé pays (coord. structure)",
    "Téléphone (coord. structure)",
    "Téléphone 2 (coord. structure)",
    "Télécopie (coord. structure)",
    "Adresse e-mail (coord. structure)",
    "Code Département (structure)",
    "Libellé Département (structure)",
    "Ancien identifiant de la structure",
    "Autorité d'enregistrement",
    "Code secteur d'activité",
    "Libellé secteur d'activité",
    "Code section tableau pharmaciens",
    "Libellé section tableau pharmaciens",
    "",
]

GP = {
    "Code profession": "10",
    "Libellé profession": "Médecin",
    "Code savoir-faire": "SM54",
    "Libellé savoir-faire": "Médecine Générale",
}
LIBERAL = {"Code mode exercice": "L", "Libellé mode exercice": "Libéral"}
SALARIED = {"Code mode exercice": "S", "Libellé mode exercice": "Salarié"}


def _site(commune: str, postal: str = "", **more: str) -> dict[str, str]:
    return {
        "Code commune (coord. structure)": commune,
        "Code postal (coord. structure)": postal,
        **more,
    }


# (person, fields): one line per activity site
LINES: list[tuple[str, dict[str, str]]] = [
    # P1, GP with two sites in Rennes (CPTS A): counted once
    ("810000000001", {**GP, **LIBERAL, **_site("35238", "35000")}),
    ("810000000001", {**GP, **LIBERAL, **_site("35238", "35200")}),
    # P2, GP (« Spécialiste en Médecine Générale ») in Rennes (A) and Saint-Malo (B): in both
    ("810000000002", {**GP, "Code savoir-faire": "SM53", **LIBERAL, **_site("35238")}),
    ("810000000002", {**GP, "Code savoir-faire": "SM53", **LIBERAL, **_site("35288")}),
    # P3, salaried nurse in Cesson-Sévigné (A): a professional, not a libéral
    (
        "810000000003",
        {"Code profession": "60", "Libellé profession": "Infirmier", **SALARIED, **_site("35051")},
    ),
    # P4, cardiologist in Rennes (A): a doctor who is not a GP
    (
        "810000000004",
        {
            **GP,
            "Code savoir-faire": "SM04",
            "Libellé savoir-faire": "Cardiologie et maladies vasculaires",
            **LIBERAL,
            **_site("35238"),
        },
    ),
    # P5, physiotherapist without a commune code: left out
    ("810000000005", {"Code profession": "70", **LIBERAL, **_site("", "")}),
    # P6, pharmacist abroad: left out
    (
        "810000000006",
        {
            "Code profession": "21",
            **SALARIED,
            **_site(
                "",
                "",
                **{
                    "Code pays (coord. structure)": "99109",
                    "Libellé pays (coord. structure)": "Allemagne",
                },
            ),
        },
    ),
    # P7, midwife at an old code (Saint-Servan-sur-Mer, 35313, now Saint-Malo): in B
    ("810000000007", {"Code profession": "50", **LIBERAL, **_site("35313")}),
    # P8, dentist in Bruz (zone blanche)
    ("810000000008", {"Code profession": "40", **LIBERAL, **_site("35047")}),
    # P9, GP in Paris given by the city's code and the postal code of the 15th (CPTS C)
    ("810000000009", {**GP, **LIBERAL, **_site("75056", "75015")}),
]


def _line(person: str, fields: dict[str, str]) -> str:
    cells = dict.fromkeys(HEADER, "")
    cells.update(
        {
            "Type d'identifiant PP": "8",
            "Identifiant PP": person[1:],
            "Identification nationale PP": person,
            "Nom d'exercice": "FICTIF",
        }
    )
    cells.update(fields)
    assert set(cells) == set(HEADER), set(cells) - set(HEADER)
    return "|".join(cells[name] for name in HEADER[:-1]) + "|"


def _extract(path: Path, lines: list[tuple[str, dict[str, str]]] = LINES) -> Path:
    text = "|".join(HEADER) + "\n" + "\n".join(_line(p, f) for p, f in lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def registry(tmp_path_factory, write_registry) -> Path:
    rows = [
        {
            "cpts_id": "A",
            "nom_cpts": "CPTS Rennes Est",
            "stade": "aci",
            "code_insee": "35238",
            "adherents": "3",
            "actifs": "2",
        },
        {
            "cpts_id": "A",
            "nom_cpts": "CPTS Rennes Est",
            "stade": "aci",
            "code_insee": "35051",
            "adherents": "",
            "actifs": "",
        },
        {
            "cpts_id": "B",
            "nom_cpts": "CPTS Côte d'Émeraude",
            "stade": "projet_sante",
            "code_insee": "35288",
            "adherents": "5",
            "actifs": "1",
        },
        {
            "cpts_id": "C",
            "nom_cpts": "CPTS Paris 15",
            "stade": "aci",
            "code_insee": "75115",
            "adherents": "",
            "actifs": "",
        },
    ]
    return write_registry(tmp_path_factory.mktemp("reg") / "registre.csv", rows)


@pytest.fixture(scope="module")
def analysis(registry: Path):
    with couverture.analyse(registry, departements=("35", "75")) as a:
        yield a


@pytest.fixture(scope="module")
def extract(tmp_path_factory) -> Path:
    return _extract(tmp_path_factory.mktemp("rpps") / "PS_LibreAcces_Personne_activite.txt")


def test_published_extract_counts_each_person_once_per_territory(analysis, extract, caplog):
    caplog.set_level(logging.INFO, logger="couverture")
    annuaire = read_annuaire(extract, analysis)
    assert annuaire.kind == "rpps" and annuaire.lignes == len(LINES)
    assert annuaire.exclus["sans_commune"] == 1 and annuaire.exclus["etranger"] == 1
    assert "2 lignes laissées de côté (1 sans code commune ; 1 à l'étranger)" in caplog.text
    table = by_cpts(analysis, annuaire)
    got = table[COUNT_COLUMNS].to_dict(orient="index")
    zero = dict.fromkeys(COUNT_COLUMNS, 0)
    assert got["A"] == {
        **zero,
        "professionnels": 4,
        "liberaux": 3,
        "medecins_generalistes": 2,
        "infirmiers": 1,
        "autres": 1,
    }
    assert got["B"] == {
        **zero,
        "professionnels": 2,
        "liberaux": 2,
        "medecins_generalistes": 1,
        "sages_femmes": 1,
    }
    assert got["C"] == {**zero, "professionnels": 1, "liberaux": 1, "medecins_generalistes": 1}
    # the categories partition the professionals
    cats = COUNT_COLUMNS[2:]
    assert (table[cats].sum(axis=1) == table["professionnels"]).all()


def test_adhesions_from_registry_columns_and_the_share_over_100(analysis, extract, caplog):
    annuaire = read_annuaire(extract, analysis)
    caplog.set_level(logging.WARNING, logger="couverture")
    table = by_cpts(analysis, annuaire)
    assert table.loc["A", "adherents"] == 3 and table.loc["A", "actifs"] == 2
    assert table.loc["A", "part_adherents"] == 75.0 and table.loc["A", "part_actifs"] == 50.0
    assert pd.isna(table.loc["C", "adherents"]) and pd.isna(table.loc["C", "part_adherents"])
    # five adherents for two professionals: said, naming the CPTS
    assert table.loc["B", "part_adherents"] == 250.0
    warned = [r.getMessage() for r in caplog.records if "plus de 100 %" in r.getMessage()]
    assert len(warned) == 1 and "CPTS « CPTS Côte d'Émeraude » (B)" in warned[0]
    assert "5 adhérents pour 2 professionnels" in warned[0]


def test_adhesions_csv_by_id_or_name(analysis, extract, tmp_path):
    annuaire = read_annuaire(extract, analysis)
    path = tmp_path / "adhesions.csv"
    path.write_text("cpts;adherents;actifs\nA;4;1\ncpts cote d'emeraude;2;\n", encoding="utf-8")
    table = by_cpts(analysis, annuaire, adhesions=path)
    assert table.loc["A", "part_adherents"] == 100.0 and table.loc["A", "part_actifs"] == 25.0
    assert table.loc["B", "adherents"] == 2 and pd.isna(table.loc["B", "actifs"])
    assert pd.isna(table.loc["C", "adherents"])
    path.write_text("cpts;adherents\nA;4\nCPTS Inconnue;3\nB;deux\n", encoding="utf-8")
    with pytest.raises(DataSourceError) as err:
        read_adhesions(path, analysis)
    message = str(err.value)
    assert "adhesions.csv, ligne 3 « CPTS Inconnue » : CPTS inconnue du registre" in message
    assert "ligne 4 « deux » : adherents : nombre entier attendu" in message


def test_registry_adhesions_must_agree_between_lines(tmp_path, write_registry, extract):
    rows = [
        {
            "cpts_id": "A",
            "nom_cpts": "A",
            "stade": "aci",
            "code_insee": "35238",
            "nb_adherents": "3",
        },
        {
            "cpts_id": "A",
            "nom_cpts": "A",
            "stade": "aci",
            "code_insee": "35051",
            "nb_adherents": "4",
        },
    ]
    path = write_registry(tmp_path / "registre.csv", rows)
    with couverture.analyse(path, departements=("35",)) as a:
        annuaire = read_annuaire(extract, a)
        with pytest.raises(RegistryError, match="ligne 3 « 4 » : adherents de la CPTS A : 3"):
            by_cpts(a, annuaire)


def test_zones_and_communes(analysis, extract):
    annuaire = read_annuaire(extract, analysis)
    zones = by_zone(analysis, annuaire).set_index("zone_id")
    bruz = analysis.zone_units().set_index("code").loc["35047", "zone_id"]
    assert zones.loc[bruz, "professionnels"] == 1  # the dentist
    assert zones.loc[bruz, "medecins_generalistes"] == 0
    assert zones.loc[bruz, "generalistes_pour_10000_hab"] == 0.0
    assert zones["professionnels"].sum() == 1
    communes = by_commune(analysis, annuaire).set_index("code")
    assert communes.loc["35238", "professionnels"] == 3  # P1, P2, P4
    assert communes.loc["35288", "professionnels"] == 2  # P2 and the old code's P7
    assert communes.loc["75115", "medecins_generalistes"] == 1  # Paris by its postal code
    assert communes["professionnels"].sum() == 8  # P2 in two communes


def test_simple_csv(analysis, tmp_path):
    path = tmp_path / "annuaire.csv"
    path.write_text(
        "code_commune;profession;effectif;mode\n"
        "35238;Médecin généraliste;3;L\n"
        "35051;infirmier;2;S\n"
        "35313;Sage-femme;1;L\n"
        ";kiné;4;L\n"
        "35238;ostéopathe;1;L\n",
        encoding="utf-8",
    )
    annuaire = read_annuaire(path, analysis)
    assert annuaire.kind == "csv" and annuaire.exclus["sans_commune"] == 4
    table = by_cpts(analysis, annuaire)
    assert table.loc["A", "professionnels"] == 6 and table.loc["A", "liberaux"] == 4
    assert table.loc["A", "medecins_generalistes"] == 3 and table.loc["A", "autres"] == 1
    assert table.loc["B", "sages_femmes"] == 1
    path.write_text("code_commune;profession;effectif\n35238;infirmier;trois\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="ligne 2 « trois » : effectif : nombre entier"):
        read_annuaire(path, analysis)


def test_other_layout_names_the_missing_columns(analysis, tmp_path):
    # the savoir-faire extract of the same publication: another layout
    path = tmp_path / "PS_LibreAcces_SavoirFaire.txt"
    path.write_text(
        "Type d'identifiant PP|Identifiant PP|Identification nationale PP|Nom d'exercice|"
        "Code profession|Code savoir-faire|Libellé savoir-faire|\n"
        "8|10000000001|810000000001|FICTIF|10|SM54|Médecine Générale|\n",
        encoding="utf-8",
    )
    with pytest.raises(DataSourceError) as err:
        read_annuaire(path, analysis)
    message = str(err.value)
    assert "colonnes manquantes" in message
    for name in (
        "Code mode exercice",
        "Code commune (coord. structure)",
        "Code pays (coord. structure)",
    ):
        assert f"« {name} »" in message
    assert "« Code profession »" not in message


def test_input_door_refuses_fifo_directory_and_empty_file(analysis, tmp_path):
    fifo = tmp_path / "tube"
    os.mkfifo(fifo)
    with pytest.raises(DataSourceError, match="un fichier ordinaire est attendu"):
        read_annuaire(fifo, analysis)
    with pytest.raises(DataSourceError, match="c'est un dossier"):
        read_annuaire(tmp_path, analysis)
    (tmp_path / "vide.txt").write_bytes(b"")
    with pytest.raises(DataSourceError, match="fichier vide"):
        read_annuaire(tmp_path / "vide.txt", analysis)
    with pytest.raises(DataSourceError, match="fichier introuvable"):
        read_annuaire(tmp_path / "absent.txt", analysis)


def test_cli(registry, extract, tmp_path, capsys):
    out = tmp_path / "pros.csv"
    code = run_cli(
        [
            "professionnels",
            "--registre",
            str(registry),
            "--annuaire",
            str(extract),
            "--departement",
            "35,75",
            "--sortie",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_csv(out, dtype={"cpts_id": str}).set_index("cpts_id")
    assert table.loc["A", "professionnels"] == 4 and table.loc["B", "part_adherents"] == 250.0
    code = run_cli(
        [
            "professionnels",
            "--registre",
            str(registry),
            "--annuaire",
            str(extract),
            "--par",
            "zone",
            "--departement",
            "35",
            "--format",
            "csv",
        ]
    )
    assert code == 0
    assert "generalistes_pour_10000_hab" in capsys.readouterr().out
    wrong = tmp_path / "autre.txt"
    wrong.write_text("a|b|\n1|2|\n", encoding="utf-8")
    code = run_cli(["professionnels", "--registre", str(registry), "--annuaire", str(wrong)])
    assert code == 2
    err = capsys.readouterr().err
    assert "colonnes manquantes" in err and "« Identification nationale PP »" in err
    assert "Traceback" not in err


def test_cli_names_the_zones_by_place(registry, extract, analysis, tmp_path, capsys):
    # a task force knows « Zone blanche de Bruz et environs », not ZB-35-35047: the zone named
    # by place as in the fiches and maps, its id beside it (the machine CSV keeps the id only)
    zones = analysis.zones()
    named = analysis.zone_names().reindex(zones.loc[zones["departement"] == "35", "zone_id"])
    args = ["professionnels", "--registre", str(registry), "--annuaire", str(extract)]
    args += ["--par", "zone", "--departement", "35"]
    assert run_cli(args) == 0
    out = capsys.readouterr().out
    lines = {z: next(line for line in out.splitlines() if z in line) for z in named.index}
    assert len(lines) > 0
    for zone_id, line in lines.items():
        assert named.loc[zone_id, "lieu"] in line, line
    book = tmp_path / "pros.xlsx"
    assert run_cli([*args, "--sortie", str(book)]) == 0
    sheet = pd.read_excel(book, dtype=str)
    assert list(sheet.columns[:2]) == ["Zone blanche (référence)", "Zone blanche"]
    shown = dict(zip(sheet.iloc[:, 0], sheet.iloc[:, 1], strict=True))
    assert shown == {z: named.loc[z, "nom_zone"] for z in shown} and set(shown) == set(named.index)


def test_demo_annuaire_is_fictitious_and_only_speaks_of_its_departements(
    tmp_path, units, demo_registry, caplog
):
    from couverture._annuaire_demo import write_demo_files

    registry = pd.read_csv(demo_registry, dtype=str)
    annuaire_path, adhesions_path = tmp_path / "annuaire_demo.txt", tmp_path / "adhesions.csv"
    _, lines = write_demo_files(
        annuaire_path, adhesions_path, units=units, registry=registry, departements=("53",)
    )
    text = annuaire_path.read_text(encoding="utf-8").splitlines()
    assert text[0].split("|") == HEADER and len(text) == lines + 1
    assert all(line.split("|")[HEADER.index("Nom d'exercice")] == "FICTIF" for line in text[1:])
    caplog.set_level(logging.INFO, logger="couverture")
    with couverture.analyse(demo_registry, departements=("53", "67")) as a:
        annuaire = read_annuaire(annuaire_path, a)
        assert annuaire.fictif and annuaire.departements == {"53"}
        assert "annuaire fictif" in caplog.text
        table = by_cpts(a, annuaire, adhesions=adhesions_path)
    in53 = table[table["departement"] == "53"]
    assert (in53["professionnels"] > 0).all()
    assert (in53[COUNT_COLUMNS[2:]].sum(axis=1) == in53["professionnels"]).all()
    # the Bas-Rhin has no line: nothing said there, rather than zeros
    assert table.loc[table["departement"] == "67", "professionnels"].isna().all()
    # fictitious adhesions stay below the professionals counted: no warning on a demo run
    # (the warning is tested on a hand-built file above)
    reported = in53.dropna(subset=["adherents"])
    assert len(reported) and (reported["adherents"] <= reported["professionnels"]).all()
    assert (reported["part_adherents"] <= 100).all()
    assert "plus de 100 %" not in caplog.text


def test_report_has_a_professionals_section(registry, extract, tmp_path):
    from couverture.report import build_report

    target = build_report(
        registry,
        month="2026-11",
        output_dir=tmp_path,
        departements=("35",),
        history_path=tmp_path / "historique.duckdb",
        suggestions=False,
        maps=False,
        fiches=False,
        annuaire=extract,
    )
    page = (target / "index.html").read_text(encoding="utf-8")
    section = page[page.index('<h2 id="professionnels">') :]
    assert '<a href="#professionnels">' in page
    row = section[section.index("<td>CPTS Rennes Est</td>") :].split("</tr>")[0]
    cells = [c.split(">", 1)[1] for c in row.split("</td>")[1:-1]]
    # professionals, libéraux, GPs, adherents, actifs, shares
    assert cells == ["4", "3", "2", "3", "2", "75,0\xa0%", "50,0\xa0%"]
    path = target / "professionnels-2026-11.csv"
    table = pd.read_csv(path, sep=";", dtype={"Identifiant CPTS": str}, encoding="utf-8-sig")
    assert table.set_index("Identifiant CPTS").loc["B", "Professionnels de santé"] == 2


def test_plan_and_remontee_have_the_second_indicator(registry, extract, tmp_path):
    plan = tmp_path / "plan.xlsx"
    common = ["--registre", str(registry), "--departement", "35"]
    args = ["plan-action", *common, "--date", "2026-11-30", "--sortie", str(plan)]
    assert run_cli([*args, "--annuaire", str(extract)]) == 0
    # the plan's CPTS sheet gains a column
    # (the workbook speaks in words: plan.CPTS_TITLES)
    sheet = pd.read_excel(plan, sheet_name="cpts").set_index("Identifiant")
    assert sheet.loc["A", "Professionnels de santé"].startswith(
        "4 dont 2 médecins généralistes ; 3 adh"
    )
    out = tmp_path / "remontee.xlsx"
    args = ["remontee", "--mois", "2026-11", *common, "--plan", str(plan), "--sortie", str(out)]
    assert run_cli([*args, "--annuaire", str(extract)]) == 0
    sheets = pd.read_excel(out, sheet_name=None, dtype={"Département": str, "departement": str})
    row = sheets["remontee"].set_index("Département").loc["35"]
    # CPTS A (3 adherents of 4 professionals, 2 actifs) and B (5 of 2, 1 actif)
    assert row["CPTS ayant déclaré leurs adhérents"] == 2
    assert row["Professionnels de ces CPTS"] == 6 and row["Adhérents"] == 8
    assert row["% professionnels adhérents"] == 133.3 and row["% professionnels actifs"] == 50.0
    pros = sheets["professionnels"].set_index("Identifiant CPTS")  # in words (issue 21)
    assert sorted(pros.index) == ["A", "B"] and pros.loc["A", "Part d'adhérents (%)"] == 75.0


def test_texts_of_the_maps_and_fiches(analysis, extract):
    from couverture.professionnels import with_texts, zone_texts

    annuaire = read_annuaire(extract, analysis)
    cpts, zones = with_texts(analysis, annuaire, cpts=analysis.cpts(), zones=analysis.zones())
    assert cpts.loc["A", "professionnels_texte"] == (
        "4 dont 2 médecins généralistes ; 3 adhérents (75,0\xa0%) ; 2 actifs (50,0\xa0%)"
    )
    assert cpts.loc["C", "professionnels_texte"] == "1 dont 1 médecin généraliste"
    bruz = analysis.zone_units().set_index("code").loc["35047", "zone_id"]
    texts = zone_texts(analysis, annuaire)
    assert texts[bruz] == (
        "1 professionnel de santé dont 0 médecin généraliste (0,0 pour 10\u202f000 hab.)"
    )
    assert zones.set_index("zone_id").loc[bruz, "professionnels_texte"] == texts[bruz]


def test_cartes_cards_name_the_professionals(registry, extract, tmp_path):
    out = tmp_path / "cartes"
    args = ["cartes", "--registre", str(registry), "--departement", "35", "--sortie", str(out)]
    assert run_cli([*args, "--annuaire", str(extract)]) == 0
    page = (out / "departement-35.html").read_text(encoding="utf-8")
    assert '"professionnels":"4 dont 2 médecins généralistes ; 3 adhérents' in page
    assert '"professionnels":"1 professionnel de santé dont 0 médecin généraliste' in page


def test_a_malformed_line_is_named(analysis, tmp_path):
    path = _extract(tmp_path / "PS_LibreAcces_Personne_activite.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4] += "x|y|"  # a "|" inside values: fields too many on line 5
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        DataSourceError, match=r"ligne 5 « 8\|10000000002\|.* : 54 champs au lieu des 53"
    ):
        read_annuaire(path, analysis)
