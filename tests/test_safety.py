"""Nothing lost, nothing injected (issue 13): outputs never overwrite what the project reads,
reports/maps/store survive a kill whole, spreadsheets and terminals get inert text, and the
history's problems are told apart. Real communes of the Territoire de Belfort (90)."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from _helpers import history_rows as _rows
from _helpers import run_cli as _cli
from _helpers import tree_digests as _tree

import couverture
from couverture import _folders, _output, history, report, settings, sources, store
from couverture._config import source_path
from couverture.report import build_report

DEP = "90"
MONTH = "2026-10"
BIN = Path(sys.executable).parent / "couverture"


@pytest.fixture(scope="module")
def belfort(tmp_path_factory: pytest.TempPathFactory, units: pd.DataFrame, dep_rows) -> dict:
    """A real (non-demo) registry of the Territoire de Belfort reported for October."""
    tmp = tmp_path_factory.mktemp("surete")
    codes = sorted(units.loc[units["departement"] == DEP, "code"])
    rows = dep_rows(DEP, "B1", "ACI signé", skip=codes[:30])
    reg = pd.DataFrame(rows)
    reg.to_csv(tmp / "registre-belfort.csv", index=False)
    later = pd.DataFrame(dep_rows(DEP, "B1", "ACI signé", skip=codes[:10]))
    later.to_csv(tmp / "registre-belfort-suivant.csv", index=False)
    out, hist = tmp / "reports", tmp / "h.duckdb"
    build_report(
        tmp / "registre-belfort.csv",
        month=MONTH,
        departements=DEP,
        output_dir=out,
        history_path=hist,
        suggestions=False,
        maps=False,
    )
    return {
        "tmp": tmp,
        "reg": tmp / "registre-belfort.csv",
        "later": tmp / "registre-belfort-suivant.csv",
        "out": out,
        "hist": hist,
        "codes": codes,
    }


@pytest.fixture
def copy(belfort: dict, tmp_path: Path) -> dict:
    """A private copy of the October report and history, for tests that change them."""
    out, hist = tmp_path / "reports", tmp_path / "h.duckdb"
    shutil.copytree(belfort["out"], out)
    shutil.copy2(belfort["hist"], hist)
    return {**belfort, "out": out, "hist": hist}


# ------------------------------------------------------------------------------------------------
# 1. --sortie never overwrites what the project reads
# ------------------------------------------------------------------------------------------------
def test_sortie_never_overwrites_history_store_registry_or_sources(
    copy: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hist, reg = copy["hist"], copy["reg"]
    (tmp_path / "lien.csv").symlink_to(hist)
    os.link(hist, tmp_path / "dur")
    os.link(source_path("bassins_vie"), tmp_path / "bassins.csv")
    (tmp_path / "registre-lien.csv").symlink_to(reg)
    guarded = [hist, tmp_path / "dur", source_path("bassins_vie"), reg]
    before = {p: p.read_bytes() for p in guarded}
    cases = [
        (["historique", "--historique", str(hist)], hist),  # the command
        (["historique", "--historique", str(hist)], tmp_path / "lien.csv"),
        (["historique", "--historique", str(hist)], tmp_path / "dur"),
        (["historique", "--historique", str(hist)], Path(f"{hist}.wal")),
        (["historique", "--historique", str(hist)], tmp_path / "bassins.csv"),
        (["historique", "--historique", str(hist)], source_path("bassins_vie")),
        (["historique", "--historique", str(hist)], settings.PROCESSED_DIR / "x.csv"),
        (["verifier", "--registre", str(reg)], tmp_path / "registre-lien.csv"),
    ]
    for args, out in cases:
        code = _cli([*args, "--format", "csv", "--sortie", str(out)])
        err = capsys.readouterr().err
        assert code == 2, (out, err)
        assert f"--sortie {out}" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in guarded} == before
    assert not (settings.PROCESSED_DIR / "x.csv").exists()
    assert list(history.months(path=hist)["mois"]) == [MONTH]
    # an ordinary file next to them is fine
    assert _cli(["historique", "--historique", str(hist), "--sortie", str(tmp_path / "h.csv")]) == 0


def test_workbook_commands_never_overwrite_the_history(copy: dict, tmp_path: Path, capsys) -> None:
    hist = copy["hist"]
    (tmp_path / "plan.xlsx").symlink_to(hist)
    before = hist.read_bytes()
    for cmd in (["plan-action"], ["remontee", "--mois", MONTH, "--plan", str(copy["reg"])]):
        args = [*cmd, "--registre", str(copy["reg"]), "--sortie", str(tmp_path / "plan.xlsx")]
        assert _cli(args) == 2
        assert "base DuckDB" in capsys.readouterr().err
    assert hist.read_bytes() == before


def test_demo_sortie_never_overwrites_the_history(copy: dict, capsys) -> None:
    before = copy["hist"].read_bytes()
    assert _cli(["demo", "--sortie", str(copy["hist"])]) == 2
    assert "base DuckDB" in capsys.readouterr().err
    assert copy["hist"].read_bytes() == before


def test_sortie_extension_must_be_known(belfort: dict, tmp_path: Path, capsys) -> None:
    code = _cli(
        ["historique", "--historique", str(belfort["hist"]), "--sortie", str(tmp_path / "x.xls")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "extension .xls non reconnue" in err and ".csv, .xlsx, .txt" in err
    code = _cli(
        ["historique", "--historique", str(belfort["hist"]), "--sortie", str(tmp_path / "x.gpkg")]
    )
    assert code == 2 and "format gpkg" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------
# 6. kills and failures: report/history in step, maps whole, store refused, recovery owns names
# ------------------------------------------------------------------------------------------------
_KILLED_REPORT = """
import os, signal, sys
from couverture import history
from couverture._config import source_path
from couverture.report import build_report

when, registry, out, hist = sys.argv[1:]
commit = history.save_snapshot

def killed(*args, **kwargs):
    if when == "apres":
        commit(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

history.save_snapshot = killed
build_report(registry, month="{month}", departements="{dep}", output_dir=out,
             history_path=hist, suggestions=False, maps=False)
"""


def _report_digest(folder: Path) -> str:
    sheet = openpyxl.load_workbook(folder / f"couverture-{MONTH}.xlsx")["Synthèse"]
    rows = {r[0]: r[1] for r in sheet.iter_rows(min_row=2, values_only=True)}
    return str(rows["Empreinte du registre (sha256)"])


@pytest.mark.parametrize("when", ["avant", "apres"])
def test_report_killed_at_the_history_commit_stays_in_step(copy: dict, when: str) -> None:
    out, hist = copy["out"], copy["hist"]
    before_files, before_rows = _tree(out / MONTH), _rows(hist)
    script = _KILLED_REPORT.format(month=MONTH, dep=DEP)
    proc = subprocess.run(
        [sys.executable, "-c", script, when, str(copy["later"]), str(out), str(hist)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    report._recover(out / MONTH)  # what the next run does first
    stored = history.months(path=hist).set_index("mois").loc[MONTH, "empreinte"]
    assert _report_digest(out / MONTH) == stored  # report and history tell the same month
    if when == "avant":
        assert _tree(out / MONTH) == before_files and _rows(hist) == before_rows
    else:
        with couverture.analyse(copy["later"], departements=DEP) as a:
            assert stored == a.registry_digest  # the new month, in both
    assert sorted(p.name for p in out.iterdir()) == [MONTH]  # nothing left aside


def test_failed_history_commit_puts_the_previous_report_back(
    copy: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, hist = copy["out"], copy["hist"]
    before_files, before_rows = _tree(out / MONTH), _rows(hist)

    def full(*args: object, **kwargs: object) -> None:
        assert (out / MONTH / _folders.STAMP_NAME).exists()  # the new report is in place
        raise OSError(errno.ENOSPC, "No space left on device", str(hist))

    monkeypatch.setattr(history, "save_snapshot", full)
    with pytest.raises(OSError):
        build_report(
            copy["later"], month=MONTH, departements=DEP, output_dir=out, history_path=hist,
            suggestions=False, maps=False,
        )  # fmt: skip
    assert _tree(out / MONTH) == before_files and _rows(hist) == before_rows
    assert sorted(p.name for p in out.iterdir()) == [MONTH]


def test_recovery_touches_only_the_names_it_created(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (reports / MONTH).mkdir(parents=True)
    (reports / MONTH / "index.html").write_text("rapport", encoding="utf-8")
    dead = 4194305  # above Linux's largest pid: never a live process
    mine = reports / f".{MONTH}.couverture-neuf-{dead}-0123456789ab"
    mine.mkdir()
    (mine / _folders.STAMP_NAME).write_text(f'{{"pid": {dead}, "token": "0123456789ab"}}')
    foreign = [
        reports / f".{MONTH}.sauvegarde-2025",  # the user folder
        reports / f".{MONTH}.sauvegarde-{dead}",
        reports / f".{MONTH}.tmp-{dead}",
        reports / f".{MONTH}.ancien-{dead}",
        reports / f".{MONTH}.couverture-ancien-{dead}-0123456789ac",  # no stamp proves it
        reports / f".{MONTH}.couverture-neuf-{dead}-0123456789ad",  # unstamped
    ]
    for folder in foreign:
        folder.mkdir()
        (folder / "a-moi.txt").write_text("à garder", encoding="utf-8")
    report._recover(reports / MONTH)
    assert not mine.exists()
    for folder in foreign:
        assert (folder / "a-moi.txt").read_text(encoding="utf-8") == "à garder"
    assert (reports / MONTH / "index.html").read_text(encoding="utf-8") == "rapport"


def test_maps_folder_holding_other_files_is_refused(tmp_path: Path, demo_registry: Path) -> None:
    (tmp_path / "notes.txt").write_text("à moi", encoding="utf-8")
    with couverture.analyse(demo_registry, departements="2A") as a:
        from couverture.maps import build_maps

        with pytest.raises(couverture.ArgumentError, match=r"notes\.txt"):
            build_maps(a, tmp_path)
        (tmp_path / "notes.txt").unlink()
        (tmp_path / ".gitkeep").write_text("", encoding="utf-8")
        build_maps(a, tmp_path)
    # the maps, the user's .gitkeep kept, and the list of what cartes wrote (its next run
    # replaces only those: _folders.MANIFEST_NAME)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".couverture-contenu",
        ".gitkeep",
        "departement-2A.html",
        "index.html",
    ]


def test_killed_donnees_leaves_a_store_commands_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, demo_registry: Path
) -> None:
    import geopandas as gpd

    processed = tmp_path / "processed"
    processed.mkdir()
    for name in ("units.parquet", "adjacency.parquet", "couverture.duckdb"):
        shutil.copy2(settings.PROCESSED_DIR / name, processed / name)
    monkeypatch.setenv("COUVERTURE_DATA", str(tmp_path))  # paths follow it (settings)
    assert settings.STORE_PATH.parent == processed

    # the new population is read and the parquet files replaced, then the run is killed
    def read_units(**kwargs: object) -> gpd.GeoDataFrame:
        frame = pd.read_parquet(settings.PROCESSED_DIR / "units.parquet")
        geometry = gpd.GeoSeries.from_wkb(frame.pop("geometry"), crs=settings.CRS_WEB)
        return gpd.GeoDataFrame(frame, geometry=geometry)

    monkeypatch.setattr(sources, "build_units", read_units)
    monkeypatch.setattr(
        sources, "build_adjacency", lambda units: pd.read_parquet(settings.ADJACENCY_PATH)
    )

    def killed(**kwargs: object) -> Path:
        raise KeyboardInterrupt

    args = ["taux", "--registre", str(demo_registry), "--departement", DEP, "--format", "csv"]
    assert _cli(args) == 0  # an answer cached from the data about to be replaced
    monkeypatch.setattr(store, "build_store", killed)
    assert _cli(["donnees"]) == 130
    capsys.readouterr()
    assert _cli(args) == 2
    err = capsys.readouterr().err
    assert "interrompue" in err and "make data" in err and str(processed) in err
    # once the store is rebuilt, it is used again
    (processed / store.BUILD_MARKER).unlink()  # (build_store's last step, not re-run here)
    assert _cli(args) == 0


# ------------------------------------------------------------------------------------------------
# 9. spreadsheet formulas stay text
# ------------------------------------------------------------------------------------------------
def test_formula_like_names_stay_text_in_workbook_and_csv(
    tmp_path: Path, belfort: dict, capsys
) -> None:
    code = belfort["codes"][0]
    reg = tmp_path / "f.csv"
    reg.write_text(
        "cpts_id;nom_cpts;stade;code_insee\n"
        f'=2+3;"=HYPERLINK(""http://x"")";ACI;{code}\n'
        f"@SUM(1);+CPTS -1;ACI;{belfort['codes'][1]}\n",
        encoding="utf-8",
    )
    folder = build_report(
        reg, month="2026-11", departements=DEP, output_dir=tmp_path / "r",
        history_path=tmp_path / "h.duckdb", suggestions=False, maps=False,
    )  # fmt: skip
    sheet = openpyxl.load_workbook(folder / "couverture-2026-11.xlsx")["CPTS"]
    cells = {c.value: c for row in sheet.iter_rows(min_row=2) for c in row}
    for text in ('=HYPERLINK("http://x")', "=2+3", "@SUM(1)", "+CPTS -1"):
        assert cells[text].data_type == "s" and cells[text].quotePrefix, text
    numbers = [c for c in cells.values() if isinstance(c.value, int | float)]
    assert numbers and all(c.data_type == "n" for c in numbers)
    csv = (folder / "cpts-2026-11.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in csv and "'=2+3" in csv and "'@SUM(1)" in csv and "'+CPTS -1" in csv
    # XLSX written by the CLI too; the machine CSV on stdout stays exact
    out = tmp_path / "v.xlsx"
    assert (
        _cli(["communes", "--registre", str(reg), "--departement", DEP, "--sortie", str(out)]) == 0
    )
    cell = next(
        c for row in openpyxl.load_workbook(out).active.iter_rows() for c in row
        if c.value == '=HYPERLINK("http://x")'
    )  # fmt: skip
    assert cell.data_type == "s"
    capsys.readouterr()
    assert _cli(["communes", "--registre", str(reg), "--departement", DEP, "--format", "csv"]) == 0
    assert '"=HYPERLINK(""http://x"")"' in capsys.readouterr().out


def test_only_text_is_neutralised() -> None:
    frame = pd.DataFrame({"n": [-3, 4], "x": [-1.5, 2.0], "t": ["-3", "CPTS"]})
    out = _output.neutralise_frame(frame)
    assert out["n"].tolist() == [-3, 4] and out["x"].tolist() == [-1.5, 2.0]
    assert out["t"].tolist() == ["'-3", "CPTS"]


# ------------------------------------------------------------------------------------------------
# 10. special files
# ------------------------------------------------------------------------------------------------
def test_sortie_writes_through_symlinks_devices_and_pipes(tmp_path: Path, belfort: dict) -> None:
    base = [str(BIN), "historique", "--historique", str(belfort["hist"]), "--format", "csv"]
    link = tmp_path / "out"
    link.symlink_to("/proc/self/fd/1")
    proc = subprocess.run([*base, "--sortie", str(link)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("mois,")
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    # a symlink to a regular file: the target is replaced, the link stays
    (tmp_path / "cible.csv").write_text("ancien\n", encoding="utf-8")
    (tmp_path / "lien.csv").symlink_to("cible.csv")
    subprocess.run([*base, "--sortie", str(tmp_path / "lien.csv")], check=True)
    assert (tmp_path / "lien.csv").is_symlink()
    assert (tmp_path / "cible.csv").read_text(encoding="utf-8").startswith("mois,")
    # a FIFO is written through (a workbook too)
    fifo = tmp_path / "tube"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    xlsx = [*base[:-2], "--format", "xlsx", "--sortie", str(fifo)]
    subprocess.run(xlsx, check=True, timeout=120)
    reader.join(timeout=60)
    assert fifo.is_fifo() and received and received[0][:2] == b"PK"


# ------------------------------------------------------------------------------------------------
# 11. terminal escape sequences
# ------------------------------------------------------------------------------------------------
def test_escape_sequences_never_reach_the_terminal(
    tmp_path: Path, belfort: dict, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a wide terminal: the CPTS column shows the whole name (« non couverte » in the Stade
    # column leaves it 20 characters at 120 columns)
    monkeypatch.setattr(_output, "terminal_width", lambda: 200)
    code = belfort["codes"][0]
    reg = tmp_path / "e.csv"
    name = "CPTS \x1b]0;pirate\x07\x1b[2J\x1b[31mRouge\u202e [link=http://x]lien[/link]"
    reg.write_text(f'cpts_id;nom_cpts;stade;code_insee\nE1;"{name}";ACI;{code}\n', encoding="utf-8")
    assert _cli(["communes", "--registre", str(reg), "--departement", DEP]) == 0
    shown = capsys.readouterr()
    assert "CPTS Rouge" in shown.out and "[link=http" in shown.out  # markup shown as typed
    for text in (shown.out, shown.err):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    reg.write_text(
        f'cpts_id;nom_cpts;stade;code_insee\nE1;CPTS;"\x1b[2Jfini\x1b]0;x\x07";{code}\n',
        encoding="utf-8",
    )
    assert _cli(["verifier", "--registre", str(reg)]) == 2
    err = capsys.readouterr().err
    assert "fini" in err and "\x1b" not in err and "\x07" not in err


# ------------------------------------------------------------------------------------------------
# 12 and unclear messages: the history's problems told apart
# ------------------------------------------------------------------------------------------------
def test_historique_of_a_file_that_is_not_a_history(tmp_path: Path, capsys) -> None:
    work = tmp_path / "couverture.duckdb"
    shutil.copy2(settings.STORE_PATH, work)
    csv = tmp_path / "registre.csv"
    csv.write_text("cpts_id,nom_cpts\nA,B\n", encoding="utf-8")
    for path, message in ((work, "n'est pas un historique"), (csv, "pas une base DuckDB")):
        before = path.read_bytes()
        assert _cli(["historique", "--historique", str(path)]) == 2
        err = capsys.readouterr().err
        assert message in err and str(path) in err and "Traceback" not in err
        with pytest.raises(couverture.HistoryError, match=message):
            history.previous_month(MONTH, path=path)
        assert path.read_bytes() == before


def test_history_lock_rights_and_damage_are_told_apart(copy: dict, tmp_path: Path) -> None:
    hist = copy["hist"]
    snap = history.load_snapshot(MONTH, path=hist)
    # held by another process
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); "
         "print('ok', flush=True); time.sleep(60)", str(hist)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(couverture.HistoryError, match=f"autre processus.*{holder.pid}"):
            history.months(path=hist)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    # no right to write there (sysfs refuses new files, even to root)
    if _refuses_files(Path("/sys")):
        with pytest.raises(couverture.HistoryError, match="droits insuffisants") as err:
            history.save_snapshot(snap, month=MONTH, path=Path("/sys/historique.duckdb"))
        assert "autre processus" not in str(err.value)
    # damaged
    data = bytearray(hist.read_bytes())
    data[8192:12288] = bytes(4096)
    damaged = tmp_path / "abime.duckdb"
    damaged.write_bytes(bytes(data))
    with pytest.raises(couverture.HistoryError, match="endommagé") as err:
        history.load_snapshot(MONTH, path=damaged)
    assert "autre processus" not in str(err.value)


# ------------------------------------------------------------------------------------------------
# exit paths of the CLI
# ------------------------------------------------------------------------------------------------
def _refuses_files(folder: Path) -> bool:
    """True when creating a file in ``folder`` fails (sysfs does, even for root)."""
    try:
        (folder / "couverture-essai").open("x").close()
    except OSError:
        return folder.is_dir()
    (folder / "couverture-essai").unlink()
    return False


def test_environment_error_exits_2(belfort: dict, capsys) -> None:
    """/sys refuses new files even to root: an OSError of the environment, not a bug."""
    if not _refuses_files(Path("/sys")):
        pytest.skip("/sys accepte la création de fichiers ici")
    args = ["historique", "--historique", str(belfort["hist"]), "--sortie", "/sys/h.csv"]
    assert _cli(args) == 2
    err = capsys.readouterr().err
    assert "lecture ou écriture impossible" in err and "Traceback" not in err


def test_ctrl_c_exits_130(belfort: dict, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(**kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(history, "months", interrupted)
    assert _cli(["historique", "--historique", str(belfort["hist"])]) == 130
    assert "interrompu" in capsys.readouterr().err


def test_demo_report_over_a_real_month_is_refused(copy: dict, demo_registry: Path, capsys) -> None:
    out, hist = copy["out"], copy["hist"]
    before_files, before_rows = _tree(out / MONTH), _rows(hist)
    args = ["rapport", "--mois", MONTH, "--registre", str(demo_registry), "--departement", DEP]
    args += ["--sortie", str(out), "--historique", str(hist), "--sans-cartes"]
    assert _cli([*args, "--sans-propositions"]) == 2
    assert "registre fictif ne peut pas" in capsys.readouterr().err
    assert _tree(out / MONTH) == before_files and _rows(hist) == before_rows


def test_replacing_a_month_of_another_perimeter_needs_the_option(copy: dict, capsys) -> None:
    out, hist = copy["out"], copy["hist"]
    args = ["rapport", "--mois", MONTH, "--registre", str(copy["reg"]), "--departement", "90,25"]
    args += ["--sortie", str(out), "--historique", str(hist), "--sans-cartes"]
    args += ["--sans-propositions"]
    before_files = _tree(out / MONTH)
    assert _cli(args) == 2
    assert "--remplacer-perimetre" in capsys.readouterr().err
    assert _tree(out / MONTH) == before_files
    assert _cli([*args, "--remplacer-perimetre"]) == 0
    assert list(history.months(path=hist)["perimetre"]) == ["25,90"]


def test_historique_without_history_file(tmp_path: Path, capsys) -> None:
    assert _cli(["historique", "--historique", str(tmp_path / "rien.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "absent" in err and "rien.duckdb" in err
    assert not (tmp_path / "rien.duckdb").exists()
