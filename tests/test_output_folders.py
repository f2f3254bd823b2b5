"""Output folders swap only what couverture wrote (issue 17 item 7).

The user's own files left in ``departement-XX/`` or ``AAAA-MM/`` (a ``cr.docx`` of the
meeting) are kept by a re-run, never deleted; a failed run leaves no empty folder behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from _helpers import run_cli

from couverture._errors import ArgumentError
from couverture._folders import MANIFEST_NAME, staged_folder


def _run(target: Path, files: dict[str, str]) -> None:
    with staged_folder(target) as stage:
        for name, text in files.items():
            (stage.new / name).parent.mkdir(parents=True, exist_ok=True)
            (stage.new / name).write_text(text, encoding="utf-8")
        stage.swap_in()


def test_rerun_keeps_the_users_files_and_drops_its_own_stale_ones(tmp_path: Path) -> None:
    target = tmp_path / "2026-11"
    _run(target, {"index.html": "1", "ZB-35-001.html": "1"})
    (target / "cr.docx").write_bytes(b"compte rendu")
    (target / "notes").mkdir()
    (target / "notes" / "reunion.txt").write_text("à garder", encoding="utf-8")
    _run(target, {"index.html": "2", "ZB-35-002.html": "2"})
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == [MANIFEST_NAME, "ZB-35-002.html", "cr.docx", "index.html", "notes/reunion.txt"]
    assert (target / "index.html").read_text(encoding="utf-8") == "2"
    assert (target / "cr.docx").read_bytes() == b"compte rendu"
    # and again: the user's files are still not ours
    _run(target, {"index.html": "3"})
    assert (target / "cr.docx").exists() and not (target / "ZB-35-002.html").exists()


def test_a_folder_written_before_manifests_keeps_what_is_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "departement-35"
    target.mkdir()
    (target / "index.html").write_text("ancien", encoding="utf-8")
    (target / "annotations.docx").write_bytes(b"notes")
    _run(target, {"index.html": "nouveau"})
    assert (target / "index.html").read_text(encoding="utf-8") == "nouveau"
    assert (target / "annotations.docx").read_bytes() == b"notes"


def test_a_users_file_named_as_a_new_file_is_refused_and_nothing_replaced(
    tmp_path: Path,
) -> None:
    target = tmp_path / "departement-35"
    _run(target, {"index.html": "1"})
    (target / "ZB-35-004.html").write_text("ma page", encoding="utf-8")
    with pytest.raises(ArgumentError, match=r"ZB-35-004\.html"):
        _run(target, {"index.html": "2", "ZB-35-004.html": "fiche"})
    assert (target / "index.html").read_text(encoding="utf-8") == "1"
    assert (target / "ZB-35-004.html").read_text(encoding="utf-8") == "ma page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["departement-35"]  # nothing aside


def _small_registry(tmp_path: Path, units: pd.DataFrame) -> Path:
    """Territoire de Belfort covered but for a few communes: a few zones blanches."""
    codes = units.loc[units["departement"] == "90", "code"].tolist()
    rows = [
        {"cpts_id": "T", "nom_cpts": "CPTS Belfort", "stade": "ACI signé", "code_insee": c}
        for c in codes[6:]
    ]
    path = tmp_path / "registre.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_fiches_rerun_keeps_the_meeting_minutes(tmp_path: Path, units: pd.DataFrame) -> None:
    registry = _small_registry(tmp_path, units)
    out = tmp_path / "fiches"
    args = ["fiches", "--registre", str(registry), "--departement", "90", "--sortie", str(out)]
    assert run_cli(args) == 0
    (out / "departement-90" / "cr.docx").write_bytes(b"compte rendu de la reunion")
    assert run_cli(args) == 0
    assert (out / "departement-90" / "cr.docx").read_bytes() == b"compte rendu de la reunion"
    assert (out / "departement-90" / "index.html").exists()


def test_report_rerun_keeps_the_users_files(tmp_path: Path, units: pd.DataFrame) -> None:
    registry = _small_registry(tmp_path, units)
    args = ["rapport", "--mois", "2026-11", "--registre", str(registry), "--departement", "90"]
    args += ["--sortie", str(tmp_path / "reports"), "--historique", str(tmp_path / "h.duckdb")]
    args += ["--sans-cartes", "--sans-propositions"]
    assert run_cli(args) == 0
    month = tmp_path / "reports" / "2026-11"
    (month / "cr.docx").write_bytes(b"compte rendu")
    assert run_cli(args) == 0
    assert (month / "cr.docx").read_bytes() == b"compte rendu"
    assert (month / "index.html").exists()


def test_failed_report_and_fiches_leave_no_empty_folder(
    tmp_path: Path, units: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "registre.csv"
    bad.write_text("cpts_id,nom_cpts,stade,code_insee\nA,CPTS A,ACI,99999\n", encoding="utf-8")
    args = ["rapport", "--mois", "2026-11", "--registre", str(bad), "--sortie"]
    assert run_cli([*args, str(tmp_path / "rapports"), "--historique", str(tmp_path / "h")]) == 2
    assert not (tmp_path / "rapports").exists()

    from couverture import fiches

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fiches, "_write_departement", broken)
    registry = _small_registry(tmp_path, units)
    out = tmp_path / "fiches-nouvelles"
    args = ["fiches", "--registre", str(registry), "--departement", "90", "--sortie", str(out)]
    assert run_cli(args) == 2
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["registre.csv"]


def test_a_folder_written_before_manifests_drops_the_names_its_writer_recognises(
    tmp_path: Path,
) -> None:
    target = tmp_path / "departement-35"
    target.mkdir()
    (target / "ZB-35-35001.html").write_text("fiche d'une zone disparue", encoding="utf-8")
    (target / "cr.docx").write_bytes(b"compte rendu")
    with staged_folder(target, ours=lambda name: name.startswith("ZB-")) as stage:
        (stage.new / "index.html").write_text("nouveau", encoding="utf-8")
        stage.swap_in()
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST_NAME, "cr.docx", "index.html"]


def test_a_file_saved_over_since_written_is_the_users(tmp_path: Path) -> None:
    """A file of the list saved over (a fiche completed in place) is kept when not rewritten,
    and refuses a run that would write its name; one left as written is replaced."""
    target = tmp_path / "departement-35"
    _run(target, {"index.html": "1", "ZB-35-001.html": "fiche", "ZB-35-002.html": "fiche"})
    (target / "ZB-35-001.html").write_text("fiche complétée en réunion", encoding="utf-8")
    (target / "ZB-35-002.html").write_text("FICHE", encoding="utf-8")  # same size: hashed
    with pytest.raises(ArgumentError, match=r"ZB-35-002\.html a été modifié depuis"):
        _run(target, {"index.html": "2", "ZB-35-002.html": "nouvelle"})
    assert (target / "index.html").read_text(encoding="utf-8") == "1"
    _run(target, {"index.html": "2"})
    assert (target / "index.html").read_text(encoding="utf-8") == "2"
    assert (target / "ZB-35-001.html").read_text(encoding="utf-8") == "fiche complétée en réunion"
    assert (target / "ZB-35-002.html").read_text(encoding="utf-8") == "FICHE"


def test_kept_files_are_said_in_french(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """« 1 fichier gardé, non écrit par couverture », never « gardé(s), non écrit(s) »."""
    target = tmp_path / "2026-11"
    _run(target, {"index.html": "1"})
    (target / "cr.docx").write_bytes(b"compte rendu")
    with caplog.at_level("INFO"):
        _run(target, {"index.html": "2"})
    assert "1 fichier gardé, non écrit par couverture : cr.docx" in caplog.text
    (target / "notes.txt").write_text("à garder", encoding="utf-8")
    caplog.clear()
    with caplog.at_level("INFO"):
        _run(target, {"index.html": "3"})
    assert "2 fichiers gardés, non écrits par couverture : cr.docx, notes.txt" in caplog.text
