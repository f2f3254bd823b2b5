"""Scenario files (projet;type;cpts;code_commune) on real communes of Ille-et-Vilaine with the
demo registry's CPTS: read into projects, turned into a plan, and every bad line named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import couverture
from couverture import plan
from couverture._errors import ScenarioError
from couverture.cli import main
from couverture.scenario import read_scenario

DEP = "35"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, demo_registry: Path) -> dict:
    tmp = tmp_path_factory.mktemp("scenario")
    demo = pd.read_csv(demo_registry, dtype=str, keep_default_na=False)
    rows = demo[demo["departement"] == DEP]
    registry = tmp / "registre_2026-11-30.csv"
    rows.to_csv(registry, index=False)
    with couverture.analyse(registry, departements=DEP) as a:
        zones = a.zones()
        adjacency = a.adjacency()
        units = a.units().set_index("code")
    zone = zones.sort_values("population").iloc[-1]
    codes = zone["communes"].split()
    # a CPTS touching the zone, and one that touches none of its communes
    members = rows.groupby("nom_cpts")["code_commune"].agg(set)
    near = adjacency[adjacency["code_a"].isin(codes)]["code_b"]
    touching = [n for n, m in members.items() if m & set(near)]
    far = [n for n, m in members.items() if not (m & set(near)) and not (m & set(codes))]
    assert touching and far
    return {
        "tmp": tmp,
        "registry": registry,
        "codes": codes,
        "touching": touching[0],
        "far": far[0],
        "other_dep": "53130",
        "units": units,
    }


def _write(path: Path, lines: list[str], *, bom: bool = False, encoding: str = "utf-8") -> Path:
    text = "\r\n".join(lines) + "\r\n"
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def test_scenario_read_and_planned(world: dict, tmp_path: Path) -> None:
    codes = world["codes"]
    half = len(codes) // 2
    lines = ["projet;type;cpts;code_commune;cpts_mentor"]
    lines += [f"Création nord;Création;CPTS du Nord;{c};" for c in codes[:half]]
    lines += [
        f"Rattachement;RATTACHEMENT TEMPORAIRE;{world['touching']};{c};{world['touching']}"
        for c in codes[half:]
    ]
    path = _write(tmp_path / "scenario.csv", lines, bom=True)  # Excel's « CSV UTF-8 »
    with couverture.analyse(world["registry"], departements=DEP) as a:
        projects = read_scenario(path, a)
        built = plan.build_plan(a, scenario=projects, proposals=False)
    assert [p["projet_id"] for p in projects] == ["Création nord", "Rattachement"]
    assert projects[0]["type"] == "creation" and projects[1]["type"] == "rattachement_temporaire"
    assert projects[0]["communes"] == codes[:half] and projects[0]["departement"] == DEP
    assert projects[1]["cpts_mentor"] == world["touching"]
    rows = built.projects.set_index("projet_id")
    assert rows.loc["Création nord", "statut"] == "a_lancer"
    assert (
        rows.loc["Création nord", "population"]
        == world["units"].loc[codes[:half], "population"].sum()
    )
    # the scenario covers the zone: none of its communes is left undecided
    undecided = {
        c for cs in built.projects.query("projet_id == ''")["communes"] for c in cs.split()
    }
    assert undecided and not undecided & set(codes)
    jalons = built.milestones
    assert set(jalons["projet_id"]) == {"Création nord", "Rattachement"}


def test_scenario_in_windows_1252_with_commas(world: dict, tmp_path: Path) -> None:
    lines = ["projet,type,cpts,code_commune"]
    lines += [f"P1,creation,CPTS Hélène,{c}" for c in world["codes"][:3]]
    path = _write(tmp_path / "s.csv", lines, encoding="cp1252")
    with couverture.analyse(world["registry"], departements=DEP) as a:
        projects = read_scenario(path, a)
    assert projects[0]["cpts"] == "CPTS Hélène"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["A;creation;CPTS X;99999"], "ligne 2 « 99999 » : commune inconnue"),
        (["A;fusion;CPTS X;{c0}"], "ligne 2 « fusion » : type inconnu"),
        (["A;creation;CPTS X;{c0}", "B;creation;CPTS Y;{c0}"],
         "ligne 3 « {c0} » : commune déjà dans le projet « A », ligne 2"),
        (["A;extension;{far};{c0}"], "« {far} » : extension d'une CPTS qui ne touche pas"),
        (["A;extension;CPTS Inventée;{c0}"], "« CPTS Inventée » : CPTS inconnue du registre"),
        (["A;creation;{touching};{c0}"], "une CPTS de ce nom existe déjà"),
        (["A;creation;CPTS X;{c0}", "A;extension;CPTS X;{c1}"],
         "ligne 3 « extension » : le projet « A » est de type « création » à la ligne 2"),
        (["A;creation;CPTS X;{c0}", "A;creation;CPTS Z;{c1}"],
         "ligne 3 « CPTS Z » : le projet « A » a pour CPTS « CPTS X » à la ligne 2"),
        (["A;creation;CPTS X;{dep}"], "commune du département 53, hors des départements"),
        (["A;creation;;{c0}"], "colonne cpts vide"),
    ],
)  # fmt: skip
def test_bad_lines_are_named(world: dict, tmp_path: Path, rows: list[str], expected: str) -> None:
    values = {
        "c0": world["codes"][0],
        "c1": world["codes"][1],
        "far": world["far"],
        "touching": world["touching"],
        "dep": world["other_dep"],
    }
    lines = ["projet;type;cpts;code_commune", *(r.format(**values) for r in rows)]
    path = _write(tmp_path / "mauvais.csv", lines)
    with (
        couverture.analyse(world["registry"], departements=DEP) as a,
        pytest.raises(ScenarioError) as err,
    ):
        read_scenario(path, a)
    assert "scénario" in str(err.value) and expected.format(**values) in str(err.value)


def test_cli_scenario_errors_and_files(
    world: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.xlsx"
    base = ["plan-action", "--registre", str(world["registry"]), "--departement", DEP]
    bad = _write(tmp_path / "s.csv", ["projet;type;code_commune", "A;creation;35238"])
    code = main([*base, "--scenario", str(bad), "--sortie", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "colonnes absentes : cpts" in err and "Traceback" not in err
    (tmp_path / "s.xlsx").write_bytes(b"PK\x03\x04" + b"\0" * 40)
    code = main([*base, "--scenario", str(tmp_path / "s.xlsx"), "--sortie", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "scénario" in err and "Traceback" not in err
    code = main([*base, "--scenario", str(tmp_path / "absent.csv"), "--sortie", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "absent.csv" in err and not out.exists()
    good = _write(
        tmp_path / "ok.csv",
        ["projet;type;cpts;code_commune", *(f"P1;création;CPTS Z;{c}" for c in world["codes"])],
    )
    code = main([*base, "--scenario", str(good), "--sortie", str(out), "-q"])
    assert code == 0
    read = plan.read_plan(out)
    assert [r["projet_id"] for r in read.rows if r["projet_id"]] == ["P1"]


def test_scenario_over_a_plan_refuses_a_commune_of_another_project(
    world: dict, tmp_path: Path
) -> None:
    codes = world["codes"]
    first = _write(
        tmp_path / "a.csv", ["projet;type;cpts;code_commune", f"A;création;CPTS A;{codes[0]}"]
    )
    with couverture.analyse(world["registry"], departements=DEP) as a:
        built = plan.build_plan(a, scenario=read_scenario(first, a), proposals=False)
        plan.write_plan(built, tmp_path / "plan.xlsx")
        previous = plan.read_plan(tmp_path / "plan.xlsx")
        lines = ["projet;type;cpts;code_commune", f"B;création;CPTS B;{codes[1]}"]
        lines.append(f"B;création;CPTS B;{codes[0]}")
        second = _write(tmp_path / "b.csv", lines)
        with pytest.raises(
            ScenarioError, match=rf"b.csv, ligne 3 « {codes[0]} » : commune déjà dans le projet A"
        ):
            plan.build_plan(
                a, previous=previous, scenario=read_scenario(second, a), proposals=False
            )
        # the same project again: its perimeter is replaced, its decisions kept
        again = _write(
            tmp_path / "c.csv", ["projet;type;cpts;code_commune", f"A;création;CPTS A;{codes[1]}"]
        )
        built = plan.build_plan(
            a, previous=previous, scenario=read_scenario(again, a), proposals=False
        )
    row = built.projects.set_index("projet_id").loc["A"]
    assert row["communes"] == codes[1]


def test_scenario_without_departement_is_planned_on_its_own_departements(
    world: dict, demo_registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A national registry and a scenario of Ille-et-Vilaine: the plan is that of 35."""
    lines = ["projet;type;cpts;code_commune", *(f"P1;création;CPTS Z;{c}" for c in world["codes"])]
    path = _write(tmp_path / "s.csv", lines)
    out = tmp_path / "plan.xlsx"
    code = main(
        ["plan-action", "--registre", str(demo_registry), "--scenario", str(path), "--sortie",
         str(out), "-q", "--historique", str(tmp_path / "h.duckdb")]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    read = plan.read_plan(out)
    assert read.departements == (DEP,)


def test_a_name_of_two_cpts_is_refused_and_their_ids_asked_for(world: dict, tmp_path: Path) -> None:
    """Two CPTS of the 35 under one name (distinct ids): the registry notes it, and a scenario
    naming them by that name is refused with both ids; by its id, one is taken."""
    demo = pd.read_csv(world["registry"], dtype=str, keep_default_na=False)
    demo.loc[demo["cpts_id"] == "DEMO-35-014", "nom_cpts"] = "CPTS Rennes Sud"
    registry = tmp_path / "registre_homonymes.csv"
    demo.to_csv(registry, index=False)
    second = int(demo.index[demo["cpts_id"] == "DEMO-35-014"][0]) + 2  # header is line 1
    code = world["codes"][0]
    lines = [
        "projet;type;cpts;code_commune;cpts_mentor",
        f"A;rattachement temporaire;CPTS Rennes Sud;{code};DEMO-35-013",
        f"B;rattachement temporaire;DEMO-35-013;{world['codes'][1]};cpts rennes sud",
    ]
    path = _write(tmp_path / "scenario.csv", lines)
    with couverture.analyse(registry, departements=DEP) as a:
        notes = a.registry.anomalies
        with pytest.raises(ScenarioError) as err:
            read_scenario(path, a)
        ok = _write(
            tmp_path / "ok.csv", [lines[0], lines[1].replace("CPTS Rennes Sud", "DEMO-35-013")]
        )
        assert read_scenario(ok, a)[0]["cpts"] == "DEMO-35-013"
    said = notes[notes["action"].str.contains("porté par 2 CPTS du département 35")]
    assert said["ligne"].tolist() == [second] and said["valeur"].tolist() == ["CPTS Rennes Sud"]
    assert "DEMO-35-013, DEMO-35-014" in said["action"].iloc[0]
    message = str(err.value)
    assert "ligne 2 « CPTS Rennes Sud » : nom ambigu : désigne 2 CPTS du registre" in message
    assert "DEMO-35-013 « CPTS Rennes Sud », DEMO-35-014 « CPTS Rennes Sud »" in message
    assert "ligne 3 « cpts rennes sud » : CPTS mentor : nom ambigu" in message
