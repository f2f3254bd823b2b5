"""The registry's date (issue 17 item 5) and stage dates after it (item 8).

Real communes of the Territoire de Belfort (90) and Ille-et-Vilaine (35).
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

import pandas as pd
import pytest
from _helpers import run_cli

import couverture
from couverture.report import months_at_stage

# 6 December 2026, 12:00 UTC: the day a November report is built
DECEMBER_6 = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC).timestamp()


def _rows(units: pd.DataFrame, dep: str = "90", n: int = 12) -> list[dict[str, str]]:
    codes = units.loc[units["departement"] == dep, "code"].tolist()[:n]
    half = len(codes) // 2
    return [
        {"cpts_id": "A", "nom_cpts": "CPTS A", "stade": "ACI signé", "code_insee": c}
        for c in codes[:half]
    ] + [
        {"cpts_id": "B", "nom_cpts": "CPTS B", "stade": "Lettre d'intention", "code_insee": c}
        for c in codes[half:]
    ]


def _csv(path: Path, rows: list[dict[str, str]], *, title: str | None = None) -> Path:
    text = pd.DataFrame(rows).to_csv(index=False, sep=";")
    path.write_text((title + "\n" if title else "") + text, encoding="utf-8")
    os.utime(path, (DECEMBER_6, DECEMBER_6))
    return path


def test_date_from_a_title_row(tmp_path: Path, units: pd.DataFrame) -> None:
    path = _csv(
        tmp_path / "registre.csv",
        _rows(units),
        title="Registre des CPTS du Territoire de Belfort — extraction du 30/11/2026",
    )
    with couverture.analyse(path) as a:
        assert a.meta["date_registre"] == "2026-11-30"
        assert a.meta["date_registre_source"] == "registre"
        assert a.meta["date_registre_texte"] == "registre du 30 novembre 2026 (ligne de titre)"


def test_date_from_a_title_row_of_a_workbook(tmp_path: Path, units: pd.DataFrame) -> None:
    import openpyxl

    rows = _rows(units)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Liste des CPTS", dt.datetime(2026, 11, 28)])  # a real date cell
    sheet.append(list(rows[0]))
    for r in rows:
        sheet.append(list(r.values()))
    path = tmp_path / "registre.xlsx"
    book.save(path)
    with couverture.analyse(path) as a:
        assert a.meta["date_registre"] == "2026-11-28"


def test_date_from_a_column(tmp_path: Path, units: pd.DataFrame) -> None:
    rows = [{**r, "Mise à jour": "30/11/2026"} for r in _rows(units)]
    with couverture.analyse(_csv(tmp_path / "registre.csv", rows)) as a:
        assert a.meta["date_registre"] == "2026-11-30"
        assert "colonne Mise à jour" in a.meta["date_registre_texte"]
        assert a.registry.anomalies.empty  # a known column, not an anomaly


def test_without_a_date_the_option_then_the_file_and_said_so(
    tmp_path: Path, units: pd.DataFrame
) -> None:
    rows = [{**r, "date_aci": "2025-06-30"} for r in _rows(units)]
    path = _csv(tmp_path / "registre.csv", rows)
    with couverture.analyse(path, date="2026-11-30") as a:
        assert (a.meta["date_registre"], a.meta["date_registre_source"]) == (
            "2026-11-30",
            "option",
        )
    with couverture.analyse(path) as a:
        # neither its latest stage date nor « registre du 6 décembre »: the file's, said so
        assert a.meta["date_registre"] == "2026-12-06"
        assert a.meta["date_registre_texte"] == (
            "fichier modifié le 6 décembre 2026 (registre sans date)"
        )


def test_the_caption_says_where_the_date_comes_from(
    tmp_path: Path, units: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path / "registre.csv", _rows(units))
    assert run_cli(["taux", "--registre", str(path), "--departement", "90"]) == 0
    out = capsys.readouterr().out
    assert "fichier modifié le 6 décembre 2026" in " ".join(out.split())
    assert "registre du 6 décembre" not in out


def test_a_stage_date_after_the_registry_is_an_anomaly_not_the_reference(
    tmp_path: Path, units: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows(units)
    for r in rows:
        r["date_extraction"] = "30/11/2026"
        r["date_aci"] = "15/01/2042" if r["cpts_id"] == "A" else ""
        r["date_lettre_intention"] = "01/03/2026" if r["cpts_id"] == "B" else "01/01/2020"
    path = _csv(tmp_path / "registre.csv", rows)
    with couverture.analyse(path, departements="90") as a:
        assert a.meta["date_registre"] == "2026-11-30"  # not 2042
        late = a.date_anomalies()
        assert late[["colonne", "valeur"]].values.tolist() == [["date_aci", "2042-01-15"]]
        assert int(late["ligne"].iloc[0]) == 2  # the CPTS's first line (header on line 1)
        assert pd.isna(a.registry.cpts.loc["A", "date_aci"])  # left out, as if not given
        cpts = a.cpts().reset_index()
        months = months_at_stage(a.registry.cpts, cpts, registry_date=a.meta["date_registre"])
        assert months is not None
        by_id = dict(zip(cpts["cpts_id"], months, strict=True))
        assert pd.isna(by_id["A"]) and by_id["B"] == 8
    assert run_cli(["verifier", "--registre", str(path), "--format", "csv"]) == 0
    anomalies = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    named = anomalies[anomalies["colonne"] == "date_aci"]
    assert named["valeur"].tolist() == ["2042-01-15"]
    assert "postérieure à la date du registre" in named["action"].iloc[0]


def test_plan_reference_date_ignores_a_future_stage_date(
    tmp_path: Path, units: pd.DataFrame
) -> None:
    from couverture.alerts import reference_date

    rows = [{**r, "date_aci": "15/01/2042" if r["cpts_id"] == "A" else ""} for r in _rows(units)]
    path = _csv(tmp_path / "registre.csv", rows)
    with couverture.analyse(path, departements="90") as a:
        assert reference_date(a) == dt.date(2026, 12, 6)  # the file's date, not 2042
        assert len(a.date_anomalies()) == 1
