"""The ``couverture`` command as a user runs it: CSV contract, stderr, exit codes."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

BIN = Path(sys.executable).parent / "couverture"


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stderr}")
    return proc


def read_csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype={"code": str, "departement": str})


def test_csv_contract_on_real_registry(paca_registry: Path) -> None:
    reg = ["--registre", str(paca_registry), "--stade-par-defaut", "aci"]
    communes = run("communes", *reg, "--departement", "13", "--format", "csv")
    assert not communes.stdout.startswith("\ufeff")
    df = read_csv(communes.stdout)
    assert {"code", "nom", "departement", "population", "stade", "cpts"} <= set(df.columns)
    assert (df["departement"] == "13").all()
    assert df["code"].str.len().eq(5).all()
    m1 = df.set_index("code").loc["13201"]
    assert pd.isna(m1["stade"]) and pd.isna(m1["cpts"])
    assert "avertissement" in communes.stderr  # warnings on stderr…
    assert "avertissement" not in communes.stdout  # …never in the CSV

    taux = read_csv(run("taux", *reg, "--niveau", "region", "--format", "csv").stdout)
    expected = [
        "code", "nom", "population", "pop_lettre_intention", "pop_projet_sante", "pop_aci",
        "taux_lettre_intention", "taux_projet_sante", "taux_aci",
    ]  # fmt: skip
    assert set(expected) <= set(taux.columns)
    row = taux.set_index("code").loc["93"]
    assert row["taux_aci"] == 98.06
    assert (taux["population_millesime"] == "RP2023").all() and (taux["cog"] == 2025).all()

    zones = read_csv(run("zones-blanches", *reg, "--format", "csv").stdout)
    assert list(zones.columns[:7]) == [
        "zone_id", "departement", "n_communes", "population", "superficie_km2",
        "cpts_voisines", "communes",
    ]  # fmt: skip
    assert zones["population"].dtype.kind == "i"

    over = read_csv(run("chevauchements", *reg, "--format", "csv").stdout)
    assert list(over.columns[:5]) == ["code", "nom", "population", "type", "cpts"] or {
        "code",
        "nom",
        "population",
        "type",
        "cpts",
    } <= set(over.columns)
    assert set(over.set_index("code").loc[["06088", "83137"], "type"]) == {"partage"}


def test_demo_registry_is_labelled_fictif(demo_registry: Path) -> None:
    out = run("taux", "--registre", str(demo_registry), "--niveau", "france", "--format", "csv")
    df = read_csv(out.stdout)
    assert df.loc[0, "code"] == "FR"
    assert df.loc[0, "registre"] == "registre fictif"
    pretty = run("taux", "--registre", str(demo_registry), "--niveau", "france")
    assert "FICTIF" in pretty.stdout


def test_bad_registry_exit_2_lists_all_lines(tmp_path: Path) -> None:
    bad = tmp_path / "registre.csv"
    bad.write_text(
        "cpts_id;nom_cpts;stade;code_insee\n"
        "A;CPTS A;ACI signé;35238\n"
        "A;CPTS A;ACI signé;99999\n"
        "A;CPTS A;stade inventé;35047\n"
        "A;CPTS A;ACI signé;88888\n",
        encoding="utf-8",
    )
    proc = run("taux", "--registre", str(bad), "--format", "csv", check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    for line in ("ligne 3", "ligne 4", "ligne 5"):
        assert line in proc.stderr
    assert "registre.csv" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--registre", "absent.csv"], "introuvable"),
        (["--registre", "{demo}", "--departement", "XX"], "département inconnu"),
        (["--registre", "{demo}", "--stade-par-defaut", "fini"], "stade inconnu"),
    ],
)
def test_user_errors_are_french_one_liners(args, message, demo_registry: Path) -> None:
    args = [a.replace("{demo}", str(demo_registry)) for a in args]
    proc = run("taux", *args, "--format", "csv", check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_file_formats_need_sortie_and_write_atomically(
    tmp_path: Path, paca_registry: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import errno

    import geopandas as gpd

    from couverture.cli import main

    reg = ["--registre", str(paca_registry), "--stade-par-defaut", "aci", "--departement", "06"]
    proc = run("zones-blanches", *reg, "--format", "gpkg", check=False)
    assert proc.returncode == 2 and "--sortie" in proc.stderr
    out = tmp_path / "zones.gpkg"
    run("zones-blanches", *reg, "--format", "gpkg", "--sortie", str(out))
    zones = gpd.read_file(out)
    assert len(zones) > 0 and zones.geometry.notna().all()
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left
    before = out.read_bytes()
    # a run failing midway (disk full after part of the file) leaves the previous file whole
    write = gpd.GeoDataFrame.to_file

    def disk_full(self: gpd.GeoDataFrame, path: Path, **kwargs: object) -> None:
        write(self.head(1), path, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", disk_full)
    args = ["zones-blanches", *reg[:-1], "13", "--sortie", str(out)]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        assert main(args) == 2
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "(disque plein)" in capsys.readouterr().err  # in French (issue 17)
    assert out.read_bytes() == before
    assert list(tmp_path.iterdir()) == [out]


def test_verifier_lists_normalisations(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "cpts_id,nom_cpts,stade,code_insee\n"
        "A,CPTS A,ACI signé,1001\n"  # leading zero lost (Excel)
        "A,CPTS A,ACI signé,01001\n"  # then a duplicate
        "B,CPTS B,En création,13055\n",  # whole Marseille
        encoding="utf-8",
    )
    df = read_csv(run("verifier", "--registre", str(path), "--format", "csv").stdout)
    assert {"ligne", "valeur", "action"} <= set(df.columns)
    assert {2, 3, 4} <= set(df["ligne"])


def test_output_guards(tmp_path: Path, demo_registry: Path) -> None:
    reg = tmp_path / "registre.csv"
    reg.write_bytes(demo_registry.read_bytes())
    before = reg.read_bytes()
    base = ["taux", "--registre", str(reg), "--departement", "35", "-q"]
    # never overwrite the registry, nor write into a folder or a missing folder
    for sortie in (str(reg), str(tmp_path), str(tmp_path / "absent" / "t.csv")):
        proc = run(*base, "--format", "csv", "--sortie", sortie, check=False)
        assert proc.returncode == 2 and "--sortie" in proc.stderr
    assert reg.read_bytes() == before
    # the extension chooses the format; a contradiction is refused
    run(*base, "--sortie", str(tmp_path / "t.xlsx"))
    import openpyxl

    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    # a workbook is read by people: French titles (machine keys stay in --format csv)
    assert sheet.cell(row=1, column=1).value == "Code"
    assert sheet.cell(row=1, column=5).value == "Population couverte (lettre d'intention ou plus)"
    proc = run(*base, "--format", "csv", "--sortie", str(tmp_path / "u.xlsx"), check=False)
    assert proc.returncode == 2 and not (tmp_path / "u.xlsx").exists()


def test_help_and_usage_errors_are_french() -> None:
    help_text = run("taux", "--help").stdout
    assert "afficher cette aide" in help_text and "show this help" not in help_text
    proc = run("taux", "--registre", "x.csv", "--niveau", "pays", check=False)
    assert proc.returncode == 2 and "choix invalide" in proc.stderr
    proc = run("taux", "--registre", "x.csv", "--seuil-partage", "-5", check=False)
    assert proc.returncode == 2 and "positif" in proc.stderr


def test_folder_outputs_need_an_existing_parent(tmp_path: Path, demo_registry: Path) -> None:
    for cmd in (["cartes"], ["rapport", "--mois", "2026-11"]):
        proc = run(
            *cmd, "--registre", str(demo_registry), "--sortie", str(tmp_path / "a" / "b"),
            check=False,
        )  # fmt: skip
        assert proc.returncode == 2 and "n'existe pas" in proc.stderr
        assert not (tmp_path / "a").exists()


def test_cached_csv_answer_is_identical_with_its_warnings(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "cpts_id,nom_cpts,stade,code_insee\nA,CPTS A,ACI signé,1001\nA,CPTS A,ACI signé,01002\n",
        encoding="utf-8",
    )
    args = ("communes", "--registre", str(path), "--departement", "01", "--format", "csv")
    quiet = run("-q", *args)  # a quiet first run must not cache the answer without its warnings
    assert quiet.stderr == ""
    first, second = run(*args), run(*args)
    assert first.stdout == second.stdout == quiet.stdout
    assert "01001" in first.stdout and "avertissement" in second.stderr
    assert first.stderr.count("avertissement") == second.stderr.count("avertissement")
    # another registry content is another answer
    path.write_text(
        "cpts_id,nom_cpts,stade,code_insee\nA,CPTS A,En création,01001\n", encoding="utf-8"
    )
    third = read_csv(run(*args).stdout).set_index("code")
    assert third.loc["01001", "stade"] == "lettre_intention"
    assert pd.isna(third.loc["01002", "stade"])


def test_console_script_quick_exit_keeps_output_and_exit_codes(
    tmp_path: Path, demo_registry: Path
) -> None:
    """`run()` leaves without the interpreter's teardown: every line of a large answer still
    arrives (pipe and file), errors keep exit code 2, and `| head` ends quietly."""
    args = ("communes", "--registre", str(demo_registry), "--format", "csv", "-q")
    piped = run(*args)
    lines = piped.stdout.splitlines()
    assert len(lines) == 34_918 and lines[-1].count(",") == lines[0].count(",")
    # through a file descriptor that is not a pipe: the same bytes
    target = tmp_path / "communes.csv"
    with target.open("w", encoding="utf-8") as fh:
        done = subprocess.run([str(BIN), *args], stdout=fh, stderr=subprocess.PIPE, timeout=300)
    assert done.returncode == 0 and target.read_text(encoding="utf-8") == piped.stdout
    refused = run("taux", "--registre", str(tmp_path / "absent.csv"), check=False)
    assert refused.returncode == 2 and "erreur" in refused.stderr
    head = subprocess.run(
        f"'{BIN}' {' '.join(args)} | head -n 2", shell=True, capture_output=True, text=True
    )
    assert head.returncode == 0 and len(head.stdout.splitlines()) == 2
    assert "Traceback" not in head.stderr and "Broken" not in head.stderr


def test_a_regional_registry_read_for_all_of_france_is_told(paca_registry: Path) -> None:
    national = run("taux", "--registre", str(paca_registry), "--stade-par-defaut", "aci")
    assert "ne porte que sur 6 départements (04, 05, 06, 13, 83, 84)" in national.stderr
    # its figures are those of its départements (issue 17 item 4), the rest hors registre
    assert "le reste de la France est hors registre" in national.stderr
    shown = " ".join(national.stdout.split())
    assert "périmètre : départements du registre 04,05,06,13,83,84" in shown
    assert "Ille-et-Vilaine" not in shown
    scoped = run(
        "taux", "--registre", str(paca_registry), "--stade-par-defaut", "aci", "--departement", "13"
    )
    assert "ne porte que sur" not in scoped.stderr


def test_overlaps_are_summed_up_in_words_even_when_there_are_none(paca_registry: Path) -> None:
    args = ("chevauchements", "--registre", str(paca_registry), "--stade-par-defaut", "aci")
    none = run(*args, "--departement", "05")
    assert "aucun chevauchement, aucune commune partagée" in none.stderr
    some = run(*args, "--departement", "13,83", "--format", "csv")
    machine = read_csv(some.stdout)
    claims = int((machine["type"] == "chevauchement").sum())
    told = run(*args, "--departement", "13,83").stderr
    assert (f"{claims} chevauchement" if claims else "aucun chevauchement") in told


def test_overlaps_list_their_cpts_in_words(demo_registry: Path) -> None:
    """Rennes' three CPTS read « A, B, C » in the terminal, « A|B|C » only in the CSV."""
    args = ("chevauchements", "--registre", str(demo_registry), "--departement", "35")
    shown = run(*args, "-q").stdout
    assert "CPTS Rennes Nord, CPTS Rennes Ouest" in shown and "|CPTS" not in shown
    assert "CPTS Rennes Nord|CPTS Rennes Ouest" in run(*args, "--format", "csv").stdout


def test_communes_without_cpts_read_non_couverte(demo_registry: Path) -> None:
    """An uncovered commune says so in the terminal (an empty cell reads as missing data)."""
    shown = run("communes", "--registre", str(demo_registry), "--departement", "35", "-q").stdout
    [line] = [t for t in shown.splitlines() if "35003" in t]  # Andouillé-Neuville, zone blanche
    assert "non couverte" in line
    [line] = [t for t in shown.splitlines() if "35001" in t]  # Acigné, projet de santé
    assert "non couverte" not in line


def test_a_maps_folder_named_like_a_file_is_refused(tmp_path: Path, demo_registry: Path) -> None:
    target = tmp_path / "carte35.html"
    done = run("cartes", "--registre", str(demo_registry), "--departement", "35", "--sortie",
               str(target), check=False)  # fmt: skip
    assert done.returncode == 2 and "un dossier est attendu" in done.stderr
    assert not target.exists()


def test_zones_blanches_read_by_place_in_the_terminal(demo_registry: Path) -> None:
    """The terminal table names each zone by place, communes most populated first; the machine
    CSV keeps its columns."""
    import couverture

    with couverture.analyse(demo_registry, departements="35") as a:
        named = a.zone_names()
    proc = run("zones-blanches", "--registre", str(demo_registry), "--departement", "35", "-q")
    assert "Réf. zone" in proc.stdout and "zone_id" not in proc.stdout
    for zone_id, row in named.iterrows():
        line = next(x for x in proc.stdout.splitlines() if zone_id in x)
        assert row["lieu"][:12] in line and row["commune_principale"][:12] in line.split("│")[-2]
    csv = run("zones-blanches", "--registre", str(demo_registry), "--departement", "35",
              "--format", "csv").stdout  # fmt: skip
    assert csv.splitlines()[0].startswith("zone_id,departement,") and "nom_zone" not in csv
