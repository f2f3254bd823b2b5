"""Decision mode of the département maps (``couverture.decision`` and ``assets/decision.js``).

The data the page embeds is checked against the analysis (units, rook adjacency, CPTS,
proposals); the page itself is driven in headless Chromium (Selenium and the system
chromium-driver, no browser download, no network) as a task force would use it: start from the
proposals, move three communes by clicking them, read the totals and compare them with the same
figures computed here, export the scenario, read it with ``plan-action --scenario`` and find the
same projects and perimeters in the plan, reload, undo, import it back, print.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _helpers import chromium_driver

import couverture
from couverture import decision, maps
from couverture._errors import ArgumentError

DEP = "35"
TYPE_KEYS = {v: k for k, v in decision.SCENARIO_TYPES.items()}


@pytest.fixture(scope="module")
def analysis(demo_registry: Path):
    a = couverture.analyse(demo_registry, departements=DEP)
    yield a
    a.close()


@pytest.fixture(scope="module")
def suggestions(analysis) -> pd.DataFrame:
    from couverture.suggest import suggest

    return suggest(analysis)


@pytest.fixture(scope="module")
def layers(analysis, suggestions) -> maps.MapLayers:
    return maps.prepare_layers(analysis, suggestions=suggestions)


@pytest.fixture(scope="module")
def payload(layers) -> dict[str, Any]:
    assert layers.decision is not None
    return decision.payload(layers.decision, DEP, meta=layers.meta)


@pytest.fixture(scope="module")
def facts(analysis) -> dict[str, Any]:
    """What the Python side knows: units, white units, CPTS (national), graph, rates."""
    full = analysis.national()
    units = full.units().set_index("code")
    zones = analysis.zones()
    white = {c for s in zones["communes"] for c in s.split()}
    return {
        "units": units,
        "white": white,
        "cpts": full.cpts(),
        "graph": full.graph(),
        "rate": analysis.rates().set_index("code").loc[DEP],
        "membership": full.registry.membership,
        "registry": analysis.registry_path,
    }


# ------------------------------------------------------------------------------------------------
# the embedded data
# ------------------------------------------------------------------------------------------------
def test_payload_units_and_adjacency(payload: dict[str, Any], facts: dict[str, Any]) -> None:
    units, graph = facts["units"], facts["graph"]
    own = sorted(units.index[units["departement"] == DEP])
    n_in = payload["nIn"]
    assert payload["code"][:n_in] == own
    assert payload["pop"] == [int(units.loc[c, "population"]) for c in own]
    assert {c for c, w in zip(own, payload["blanche"], strict=True) if w} == facts["white"]
    assert all(payload["dep"][i] != DEP for i in range(n_in, len(payload["code"])))
    # each of the département's units has all its rook neighbours, and only them
    codes = payload["code"]
    for i, code in enumerate(own):
        adj = payload["adj"][payload["adj0"][i] : payload["adj0"][i + 1]]
        assert {codes[j] for j in adj} == set(graph.neighbours(code)), code
    # a unit across the border lists its neighbours in the département
    for i in range(n_in, len(codes)):
        adj = payload["adj"][payload["adj0"][i] : payload["adj0"][i + 1]]
        assert adj and all(j < n_in for j in adj)
    # a point inside every unit with a geometry (for the lasso and the labels)
    assert all(lon is not None for lon in payload["lon"])


def test_payload_accounts_for_the_whole_population(
    payload: dict[str, Any], facts: dict[str, Any]
) -> None:
    """Covered, white, and the share of Rennes that its three CPTS do not claim (0,29 + 0,32 +
    0,30 of it): the three add up to the département's population."""
    units = facts["units"]
    rennes = units.loc["35238"]
    unclaimed = int(rennes["population"] - rennes["pop_lettre_intention"])
    assert unclaimed > 20_000 and isinstance(rennes["stade"], str)  # claimed, not white
    n_in = payload["nIn"]
    white = sum(p for p, w in zip(payload["pop"], payload["blanche"], strict=True) if w)
    assert payload["popNonAttribuee"] == unclaimed == facts["rate"]["population_non_attribuee"]
    assert payload["popLi"] + white + payload["popNonAttribuee"] == payload["population"]
    assert payload["population"] == sum(payload["pop"][:n_in])


def test_payload_cpts_and_proposals(
    payload: dict[str, Any], facts: dict[str, Any], suggestions: pd.DataFrame
) -> None:
    cpts = facts["cpts"]
    ids = [c["id"] for c in payload["cpts"]]
    for c in payload["cpts"]:
        assert c["nom"] == cpts.loc[c["id"], "nom"]
        assert c["pop"] == int(cpts.loc[c["id"], "population"])
        assert DEP in c["deps"] or c["id"] in _across(payload)
    rec = suggestions[(suggestions["departement"] == DEP) & (suggestions["recommandee"] == "oui")]
    assert len(payload["propositions"]) == len(rec) > 0
    for p, (_, r) in zip(payload["propositions"], rec.iterrows(), strict=True):
        assert p["option"] == r["option"]
        assert sorted(payload["code"][u] for u in p["u"]) == sorted(r["communes"].split())
        if r["option"] != "creation":
            assert ids[p["cpts"]] == r["cpts_cible_id"]
    assert payload["bareme"] == {"1": 220000, "2": 287000, "3": 370000, "4": 450000}
    assert payload["cle"].endswith(f"|{DEP}")


def _across(payload: dict[str, Any]) -> set[str]:
    """CPTS holding a unit across the border."""
    n_in = payload["nIn"]
    return {payload["cpts"][k]["id"] for cu in payload["cu"][n_in:] for k in cu}


def test_project_totals() -> None:
    t = decision.project_totals([12_000, 3_000], cpts_population=70_000)
    assert (t.population_apres, t.taille_avant, t.taille_apres) == (85_000, 2, 3)
    assert (t.financement_avant, t.financement_apres) == (287_000, 370_000)


# ------------------------------------------------------------------------------------------------
# the page, in headless Chromium
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def page(layers, tmp_path_factory) -> Iterator[tuple[Any, Path, Path]]:
    out = tmp_path_factory.mktemp("cartes_decision")
    (data,) = maps.departement_data(layers, [DEP])
    path = out / maps.departement_filename(DEP)
    path.write_text(maps.render_departement(data), encoding="utf-8")
    downloads = tmp_path_factory.mktemp("telechargements")
    driver = chromium_driver(downloads)
    try:
        yield driver, path, downloads
    finally:
        driver.quit()


def _js(driver: Any, code: str) -> Any:
    return driver.execute_script("var D = couverture.decision; " + code)


def _click_commune(driver: Any, code: str, *, shift: bool = False) -> None:
    """Click the commune on the map, as a person would (centred first, at a point inside it)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    x, y = _js(
        driver,
        f"var u = D.pos['{code}']; D.map.setView([D.data.lat[u], D.data.lon[u]], 12, "
        "{animate: false}); var p = D.map.latLngToContainerPoint([D.data.lat[u], D.data.lon[u]]);"
        " return [p.x, p.y];",
    )
    box = driver.find_element(By.ID, "cv-map")
    w, h = box.size["width"], box.size["height"]
    chain = ActionChains(driver).move_to_element_with_offset(box, int(x - w / 2), int(y - h / 2))
    chain = chain.key_down(Keys.SHIFT).click().key_up(Keys.SHIFT) if shift else chain.click()
    chain.perform()


def _button(driver: Any, action: str, title: str | None = None, project: str = "") -> Any:
    from selenium.webdriver.common.by import By

    found = [
        b
        for b in driver.find_elements(By.CSS_SELECTOR, f"#cv-decision button[data-action={action}]")
        if (title is None or title in (b.get_attribute("title") or ""))
        and (not project or b.get_attribute("data-p") == project)
    ]
    assert found, f"bouton {action} {title or ''} absent du panneau"
    return found[0]


def _state(driver: Any) -> dict[str, Any]:
    import json

    return json.loads(driver.find_element("css selector", "html").get_attribute("data-decision"))


def _page_totals(driver: Any) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """The figures shown in the panel: per project, and for the département."""
    rows = _js(
        driver,
        "return Array.from(document.querySelectorAll('tr[data-projet]')).map(function (tr) {"
        " var v = function (k, a) { var e = tr.querySelector('[data-k=' + k + ']');"
        " return e.getAttribute(a || 'data-v'); };"
        " return {nom: tr.getAttribute('data-projet'), communes: v('communes'),"
        " apres: v('population_apres'), ajoutee: v('population_apres', 'data-ajoutee'),"
        " taille: v('taille_apres'), taille_avant: v('taille_apres', 'data-avant'),"
        " fin: v('financement_apres'), fin_avant: v('financement_apres', 'data-avant'),"
        " alertes: Array.from(tr.querySelectorAll('.cv-dec-warn li')).map(function (l) {"
        " return l.textContent; })}; });",
    )
    part = driver.find_element("id", "cv-dec-part")
    blanc = driver.find_element("id", "cv-dec-blanc")
    dep = {
        "part_li": float(part.get_attribute("data-v")),
        "blanches": int(blanc.get_attribute("data-communes")),
        "population_blanche": int(blanc.get_attribute("data-v")),
    }
    return {r["nom"]: r for r in rows}, dep


def _expected_projects(
    suggestions: pd.DataFrame, facts: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The recommended proposals as the page's projects: name → type, CPTS, communes."""
    units, cpts = facts["units"], facts["cpts"]
    rec = suggestions[(suggestions["departement"] == DEP) & (suggestions["recommandee"] == "oui")]
    out: dict[str, dict[str, Any]] = {}
    for r in rec.to_dict("records"):
        codes = r["communes"].split()
        if r["option"] == "creation":
            biggest = max(codes, key=lambda c: units.loc[c, "population"])
            name = r["nom_propose"] or f"CPTS {units.loc[biggest, 'nom']}"
            cid, label = None, name
        else:
            cid = r["cpts_cible_id"]
            label = cpts.loc[cid, "nom"]
            prefix = "Extension " if r["option"] == "extension" else "Rattachement temporaire à "
            name = prefix + label
        p = out.setdefault(
            name, {"type": r["option"], "cpts_id": cid, "cpts": label, "codes": set()}
        )
        p["codes"] |= set(codes)
    return out


def _touches(graph: Any, codes: set[str], members: set[str]) -> bool:
    return any(n in members for c in codes for n in graph.neighbours(c))


def _python_totals(
    projects: dict[str, dict[str, Any]], facts: dict[str, Any]
) -> tuple[dict[str, decision.ProjectTotals], dict[str, float]]:
    units, cpts, rate = facts["units"], facts["cpts"], facts["rate"]
    out = {}
    for name, p in projects.items():
        before = None if p["cpts_id"] is None else float(cpts.loc[p["cpts_id"], "population"])
        out[name] = decision.project_totals(
            units.loc[sorted(p["codes"]), "population"], cpts_population=before
        )
    assigned = set().union(*(p["codes"] for p in projects.values()))
    white_left = facts["white"] - assigned
    added = int(units.loc[sorted(assigned), "population"].sum())
    dep = {
        "part_li": decision.covered_share(rate["pop_lettre_intention"], added, rate["population"]),
        "blanches": len(white_left),
        "population_blanche": int(units.loc[sorted(white_left), "population"].sum()),
    }
    return out, dep


def _pick_moves(
    projects: dict[str, dict[str, Any]], facts: dict[str, Any]
) -> tuple[str, str, str, str]:
    """Three communes to move and the CPTS the first goes to (a neighbour of another project)."""
    graph, units, cpts = facts["graph"], facts["units"], facts["cpts"]
    m = facts["membership"]
    staged = cpts.index[cpts["stade"].notna() & (cpts["stade"] != "")]
    member_of = m[m["cpts_id"].isin(staged)].groupby("code")["cpts_id"].agg(set)
    owner = {c: name for name, p in projects.items() for c in p["codes"]}
    for c1 in sorted(owner):
        targets = {
            t
            for n in graph.neighbours(c1)
            for t in member_of.get(n, set())
            if t != projects[owner[c1]]["cpts_id"]
        }
        if not targets:
            continue
        target = sorted(targets)[0]
        # the second goes to the same CPTS by the brush: a neighbour of the first, elsewhere
        seconds = [n for n in graph.neighbours(c1) if n in owner and n != c1]
        if not seconds:
            continue
        c2 = sorted(seconds)[0]
        # the third goes back to « sans décision »: in another project if there is one
        others = sorted(c for c in owner if c not in (c1, c2) and owner[c] != owner[c1])
        c3 = others[0] if others else sorted(c for c in owner if c not in (c1, c2))[0]
        assert units.loc[c1, "departement"] == DEP
        return c1, c2, c3, str(cpts.loc[target, "nom"])
    raise AssertionError("aucune commune d'une proposition ne touche une autre CPTS")


def _move(
    projects: dict[str, dict[str, Any]], code: str, name: str | None, p: dict | None = None
) -> None:
    for q in projects.values():
        q["codes"].discard(code)
    if name is not None:
        projects.setdefault(name, p or {}).setdefault("codes", set()).add(code)
    for key in [k for k, q in projects.items() if not q["codes"]]:
        del projects[key]


def _read_scenario(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "BOM UTF-8 attendu (Excel)"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


def _wait_file(path: Path) -> Path:
    for _ in range(100):
        if path.exists() and path.stat().st_size > 0:
            return path
        time.sleep(0.05)
    raise AssertionError(f"{path} non téléchargé")


def _move_three(
    driver: Any, expected: dict[str, dict[str, Any]], facts: dict[str, Any]
) -> tuple[str, str]:
    """Move three communes by clicking them; return the CPTS extended and the commune let go."""
    c1, c2, c3, target = _pick_moves(expected, facts)
    _click_commune(driver, c1)
    assert _js(driver, "return D.selection.map(function (u) { return D.data.code[u]; })") == [c1]
    _button(driver, "extension", f"Étendre {target} ").click()
    cid = facts["cpts"].index[facts["cpts"]["nom"] == target][0]
    ext = {"type": "extension", "cpts_id": cid, "cpts": target}
    _move(expected, c1, f"Extension {target}", ext)
    # the chosen target is now the brush: a click gives the commune to it
    _click_commune(driver, c2)
    _move(expected, c2, f"Extension {target}", ext)
    driver.find_element("css selector", "body").send_keys("\ue00c")  # Escape: brush off
    _click_commune(driver, c3)
    _button(driver, "aucune").click()
    _move(expected, c3, None)
    return target, c3


def _apart(name: str, p: dict[str, Any], facts: dict[str, Any]) -> bool:
    """Whether Python finds the project not contiguous (to itself, or to its CPTS)."""
    codes = sorted(p["codes"])
    labels = facts["graph"].components(codes)
    if p["type"] == "creation":
        return len(set(labels)) > 1
    if p["type"] != "extension":
        return False
    m = facts["membership"]
    members = set(m.loc[m["cpts_id"] == p["cpts_id"], "code"])
    pieces: dict[int, set[str]] = {}
    for c, lab in zip(codes, labels, strict=True):
        pieces.setdefault(int(lab), set()).add(c)
    return any(not _touches(facts["graph"], piece, members) for piece in pieces.values())


def _check_totals(
    driver: Any, expected: dict[str, dict[str, Any]], facts: dict[str, Any], *, white: int
) -> None:
    shown, dep_shown = _page_totals(driver)
    want, dep_want = _python_totals(expected, facts)
    assert set(shown) == set(want)
    for name, t in want.items():
        s = shown[name]
        assert int(s["communes"]) == t.communes, name
        assert int(s["ajoutee"]) == t.population_ajoutee, name
        assert int(s["apres"]) == t.population_apres, name
        assert int(s["taille"]) == t.taille_apres, name
        assert int(s["fin"]) == t.financement_apres, name
        assert s["taille_avant"] == ("" if t.taille_avant is None else str(t.taille_avant))
        assert s["fin_avant"] == ("" if t.financement_avant is None else str(t.financement_avant))
        apart = _apart(name, expected[name], facts)
        assert any("non contigu" in a for a in s["alertes"]) == apart, (name, s["alertes"])
    assert dep_shown["part_li"] == pytest.approx(dep_want["part_li"], abs=1e-3)
    assert dep_shown["blanches"] == dep_want["blanches"] == white
    assert dep_shown["population_blanche"] == dep_want["population_blanche"]


def _check_export(
    rows: list[list[str]], expected: dict[str, dict[str, Any]], facts: dict[str, Any]
) -> None:
    """The scenario file: one row per commune, projects and perimeters as decided."""
    assert rows[0] == list(decision.SCENARIO_COLUMNS)
    got: dict[str, dict[str, Any]] = {}
    for projet, kind, cpts_name, code, mentor in rows[1:]:
        assert kind in TYPE_KEYS
        assert facts["units"].loc[code, "departement"] == DEP and code in facts["white"]
        p = got.setdefault(projet, {"type": TYPE_KEYS[kind], "cpts": cpts_name, "codes": set()})
        assert (p["type"], p["cpts"]) == (TYPE_KEYS[kind], cpts_name)
        p["codes"].add(code)
        assert mentor == expected[projet].get("mentor", ""), projet
    codes = [r[3] for r in rows[1:]]
    assert len(codes) == len(set(codes)), "une commune dans deux projets"
    assert {k: (p["type"], p["cpts"], p["codes"]) for k, p in got.items()} == {
        k: (p["type"], p["cpts"], p["codes"]) for k, p in expected.items()
    }
    # an extension's perimeter borders its CPTS
    m = facts["membership"]
    for p in expected.values():
        if p["type"] == "extension":
            members = set(m.loc[m["cpts_id"] == p["cpts_id"], "code"])
            assert _touches(facts["graph"], p["codes"], members)


def _check_plan(exported: Path, expected: dict[str, dict[str, Any]], facts: dict[str, Any]) -> None:
    """The exported file, read by ``plan-action --scenario``: the same projects and perimeters."""
    from couverture import plan
    from couverture.cli import main

    out = exported.with_name("plan.xlsx")
    args = ["--registre", str(facts["registry"]), "--departement", DEP, "-q"]
    code = main(["plan-action", *args, "--scenario", str(exported), "--sortie", str(out)])
    assert code == 0
    rows = [r for r in plan.read_plan(out).rows if r["projet_id"]]
    got = {r["projet_id"]: (r["type"], r["cpts"], set(r["communes"])) for r in rows}
    assert got == {k: (p["type"], p["cpts"], p["codes"]) for k, p in expected.items()}
    for r in rows:
        assert (r.get("cpts_mentor") or "") == expected[r["projet_id"]].get("mentor", "")


def _wait_projects(driver: Any) -> None:
    for _ in range(50):
        if _state(driver)["projets"]:
            return
        time.sleep(0.05)


def _check_reload_and_import(driver: Any, exported: Path, n_projects: int) -> None:
    """The work survives a reload; undo and redo; an exported file is read back."""
    text = exported.read_bytes().decode("utf-8")
    driver.refresh()
    assert _state(driver)["projets"] == n_projects
    assert _js(driver, "return D.csv();") == text
    _button(driver, "clear").click()
    assert _state(driver)["projets"] == 0
    _button(driver, "undo").click()
    assert _js(driver, "return D.csv();") == text
    _button(driver, "redo").click()
    assert _state(driver)["projets"] == 0
    driver.find_element("id", "cv-dec-file").send_keys(str(exported))
    _wait_projects(driver)
    assert _js(driver, "return D.csv();") == text

    # the same file saved again by Excel (Windows-1252, no BOM) reads the same
    excel = exported.with_name("excel.csv")
    excel.write_bytes(text.lstrip("\ufeff").encode("cp1252"))
    _button(driver, "clear").click()
    driver.find_element("id", "cv-dec-file").send_keys(str(excel))
    _wait_projects(driver)
    assert _js(driver, "return D.csv();") == text

    # a file with a commune outside the département is refused whole, its line named
    bad = exported.with_name("faux.csv")
    bad.write_text(text.rstrip() + "\r\nX;création;CPTS X;29019;\r\n", encoding="utf-8")
    _button(driver, "clear").click()
    driver.find_element("id", "cv-dec-file").send_keys(str(bad))
    for _ in range(50):
        if _js(driver, "return D.errors.length;"):
            break
        time.sleep(0.05)
    errors = _js(driver, "return D.errors;")
    n_lines = len(text.strip().splitlines())
    assert errors and f"ligne {n_lines + 1}" in errors[0] and "29019" in errors[0]
    assert _state(driver)["projets"] == 0
    _button(driver, "undo").click()
    assert _js(driver, "return D.csv();") == text


def _rename_creation(driver: Any, expected: dict[str, dict[str, Any]]) -> None:
    """A new CPTS renamed in the table of projects: the scenario carries the new name.

    (Created in place from one commune when the proposals hold no creation.)
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    new = "CPTS des Marches de Bretagne"
    old = next((k for k, p in expected.items() if p["type"] == "creation"), None)
    if old is None:
        code = sorted(set().union(*(p["codes"] for p in expected.values())))[0]
        _click_commune(driver, code)
        box = driver.find_element(By.ID, "cv-dec-nom")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(new, Keys.ENTER)  # Enter creates it, as the button does
        _move(expected, code, new, {"type": "creation", "cpts_id": None, "cpts": new})
        driver.find_element("css selector", "body").send_keys("\ue00c")  # Escape: brush off
    else:
        box = driver.find_element(By.CSS_SELECTOR, f"tr[data-projet='{old}'] input.cv-dec-rename")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(new, Keys.ENTER)
        p = expected.pop(old)
        expected[new] = {**p, "cpts": new}
    assert _state(driver)["projets"] == len(expected)
    assert driver.find_elements(By.CSS_SELECTOR, f"tr[data-projet='{new}']")


def _attach(
    driver: Any, code: str, expected: dict[str, dict[str, Any]], facts: dict[str, Any]
) -> None:
    """The commune let go, now attached temporarily to the nearest ACI CPTS (its own mentor)."""
    from selenium.webdriver.support.select import Select

    _click_commune(driver, code)
    choice = Select(driver.find_element("id", "cv-dec-mature")).first_selected_option.text
    _button(driver, "temporaire-aci").click()
    cpts = facts["cpts"]
    cid = cpts.index[cpts["nom"] == choice][0]
    assert cpts.loc[cid, "stade"] == "aci"
    p = {"type": "rattachement_temporaire", "cpts_id": cid, "cpts": choice, "mentor": choice}
    _move(expected, code, f"Rattachement temporaire à {choice}", p)
    driver.find_element("css selector", "body").send_keys("\ue00c")  # Escape: brush off


def _check_shift_click(driver: Any, expected: dict[str, dict[str, Any]]) -> None:
    """Shift-click adds a commune to the selection (and a second shift-click takes it out)."""
    first, second = sorted(set().union(*(p["codes"] for p in expected.values())))[:2]
    before = _js(driver, "return D.csv();")
    _click_commune(driver, first)
    _click_commune(driver, second, shift=True)
    codes = "return D.selection.map(function (u) { return D.data.code[u]; });"
    assert _js(driver, codes) == [first, second]
    _click_commune(driver, second, shift=True)
    assert _js(driver, codes) == [first]
    assert _js(driver, "return D.csv();") == before  # selecting decides nothing
    _button(driver, "deselect").click()


def _check_lasso(driver: Any, code: str) -> None:
    """The lasso, drawn with the mouse around a commune, selects it (and changes nothing)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    before = _js(driver, "return D.csv();")
    _button(driver, "lasso").click()
    _js(driver, f"var u = D.pos['{code}']; D.map.setView([D.data.lat[u], D.data.lon[u]], 13, "
        "{animate: false});")  # fmt: skip
    box = driver.find_element(By.ID, "cv-map")
    chain = ActionChains(driver).move_to_element_with_offset(box, -40, -40).click_and_hold()
    for dx, dy in [(80, 0), (0, 80), (-80, 0), (0, -79)]:
        chain = chain.move_by_offset(dx, dy)
    chain.release().perform()
    selected = _js(driver, "return D.selection.map(function (u) { return D.data.code[u]; });")
    assert code in selected
    assert _js(driver, "return D.csv();") == before
    _button(driver, "lasso").click()
    _button(driver, "deselect").click()


@pytest.mark.browser
@pytest.mark.slow
def test_decision_mode_in_chromium(
    page: tuple[Any, Path, Path],
    suggestions: pd.DataFrame,
    facts: dict[str, Any],
) -> None:
    driver, path, downloads = page
    driver.get(path.as_uri() + "#decision")
    assert _state(driver)["projets"] == 0

    # start from the recommended proposals, one click; move three communes by clicking them
    _button(driver, "proposals").click()
    expected = _expected_projects(suggestions, facts)
    assert _state(driver)["projets"] == len(expected)
    target, let_go = _move_three(driver, expected, facts)
    _rename_creation(driver, expected)
    # the totals on the page are those computed here
    _check_totals(driver, expected, facts, white=1)  # the commune let go
    _check_shift_click(driver, expected)
    _check_lasso(driver, let_go)
    _attach(driver, let_go, expected, facts)
    _check_totals(driver, expected, facts, white=0)
    # a project's swatch shows it and selects its communes
    name = f"Extension {target}"
    pid = _js(driver, f"return document.querySelector('tr[data-projet=\"{name}\"]').dataset.id;")
    _button(driver, "focus", None, pid).click()
    selected = _js(driver, "return D.selection.map(function (u) { return D.data.code[u]; });")
    assert set(selected) == expected[name]["codes"]
    _button(driver, "deselect").click()

    _button(driver, "export").click()
    exported = _wait_file(downloads / f"scenario-{DEP}.csv")
    _check_export(_read_scenario(exported), expected, facts)
    _check_plan(exported, expected, facts)
    _check_reload_and_import(driver, exported, len(expected))

    # printed: the map, then the table of projects
    _js(driver, "D.preparePrint(true);")
    pdf = _print(driver)
    _js(driver, "D.preparePrint(false);")
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 2
    later = " ".join(p.extract_text() for p in reader.pages[1:])
    assert f"Extension {target}" in later
    console = [e for e in driver.get_log("browser") if e.get("source") != "network"]
    assert console == []


def _print(driver: Any) -> bytes:
    import base64

    from selenium.webdriver.common.print_page_options import PrintOptions

    opts = PrintOptions()
    opts.orientation = "landscape"
    opts.page_width, opts.page_height = 21.0, 29.7  # A4
    opts.background = True
    return base64.b64decode(driver.print_page(opts))


def test_embedded_payload_and_demo_selection(analysis, layers, payload: dict[str, Any]) -> None:
    (data,) = maps.departement_data(layers, [DEP])
    text = maps.render_departement(data)
    assert decision.embedded_payload(text) == payload
    # the demonstration selects a white commune of a proposal that borders a CPTS
    (code,) = decision.demo_selection(payload)
    u = payload["code"].index(code)
    assert payload["blanche"][u]
    assert any(u in p["u"] for p in payload["propositions"])
    neighbours = payload["adj"][payload["adj0"][u] : payload["adj0"][u + 1]]
    assert any(payload["cu"][v] for v in neighbours)
    national = maps.national_map(analysis, layers=layers)
    with pytest.raises(ArgumentError, match="sans mode décision"):
        decision.embedded_payload(national, source="index.html")


@pytest.mark.browser
def test_capture_of_the_mode_in_use(page: tuple[Any, Path, Path], tmp_path: Path) -> None:
    """The picture make demo writes: a PNG of the map in decision mode, written whole."""
    _, path, _ = page
    png = decision.capture(path, tmp_path / "decision.png")
    assert png is not None and png.read_bytes().startswith(b"\x89PNG")
    assert png.stat().st_size > 50_000
    # a failing browser leaves nothing half-written, and says so
    assert decision.capture(path, tmp_path / "rate.png", chromium="/bin/false") is None
    assert not (tmp_path / "rate.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["decision.png"]


@pytest.mark.browser
def test_the_unclaimed_share_is_shown_beside_what_stays_white(
    page: tuple[Any, Path, Path], payload: dict
) -> None:
    """Every white commune given to a project, « reste blanc : 0 » — and the part of Rennes
    that no CPTS claims is still said, not lost."""
    driver, path, _ = page
    driver.get("about:blank")
    driver.get(path.as_uri() + "#decision")
    _js(driver, "D.clear();")
    white = [u for u in range(payload["nIn"]) if payload["blanche"][u]]
    # the lasso drawn around the whole département selects every white commune
    ring = "[{lng: -10, lat: 40}, {lng: 10, lat: 40}, {lng: 10, lat: 55}, {lng: -10, lat: 55}]"
    _js(driver, f"D.lassoSelect({ring}, false);")
    assert sorted(_js(driver, "return D.selection;")) == white
    driver.execute_script(
        "var b = document.getElementById('cv-dec-nom'); b.value = 'CPTS Tout le reste';"
        "document.querySelector('button[data-action=creation]').click();"
    )
    _, dep = _page_totals(driver)
    assert dep["blanches"] == 0 and dep["population_blanche"] == 0
    shown = driver.find_element("id", "cv-dec-na")
    assert int(shown.get_attribute("data-v")) == payload["popNonAttribuee"] > 0
    assert "Part non attribuée" in driver.find_element("id", "cv-decision").text
    covered = payload["popLi"] + sum(payload["pop"][u] for u in white)
    assert dep["part_li"] == pytest.approx(100 * covered / payload["population"], abs=1e-3)
    assert covered + payload["popNonAttribuee"] == payload["population"]
    _js(driver, "D.clear();")


def test_homonyms_are_flagged_for_the_page(facts: dict[str, Any]) -> None:
    """Two CPTS of the registry under one name: both flagged (the page names them by id);
    the key is the scenario reader's (plan.cpts_key)."""
    from couverture.plan import cpts_key

    cpts = facts["cpts"].copy()
    assert decision._homonyms(cpts) == set()
    cpts.loc["DEMO-35-014", "nom"] = "cpts rennes-sud"
    assert decision._homonyms(cpts) == {"DEMO-35-013", "DEMO-35-014"}
    for name in [*cpts["nom"].head(50), "Ça CPTS là", "  CPTS  Rennes (Nord) "]:
        assert decision.cpts_name_key(name) == cpts_key(name)


@pytest.mark.browser
def test_homonyms_are_exported_by_id_and_refused_by_name(
    page: tuple[Any, Path, Path], payload: dict
) -> None:
    """A CPTS whose name another bears: the export names it by its id, an import naming it by
    the shared name is refused with the line."""
    driver, path, _ = page
    driver.get("about:blank")
    driver.get(path.as_uri() + "#decision")
    _js(driver, "D.clear();")
    n_in = payload["nIn"]
    white = [payload["code"][u] for u in range(n_in) if payload["blanche"][u]]
    first, second = payload["cpts"][0], payload["cpts"][1]
    _js(driver, f"D.data.cpts[1].nom = {json.dumps(first['nom'])};")
    lines = ["projet;type;cpts;code_commune;cpts_mentor"]
    ok = [*lines, f"A;rattachement temporaire;{second['id']};{white[0]};{first['id']}"]
    done = driver.execute_script(
        "return couverture.decision.importCsv(arguments[0], 'ok.csv');", "\n".join(ok)
    )
    assert done is True, _js(driver, "return D.errors;")
    exported = _js(driver, "return D.csv();").lstrip("\ufeff").splitlines()
    assert exported[1].split(";")[2:] == [second["id"], white[0], first["id"]]
    bad = [*lines, f"B;extension;{first['nom']};{white[1]}"]
    done = driver.execute_script(
        "return couverture.decision.importCsv(arguments[0], 'homonymes.csv');", "\n".join(bad)
    )
    assert done is False
    errors = _js(driver, "return D.errors;")
    assert errors == [
        f"homonymes.csv, ligne 2 : CPTS « {first['nom']} » ambiguë : plusieurs CPTS de ce nom, "
        "écrire son identifiant"
    ]
    _js(driver, f"D.data.cpts[1].nom = {json.dumps(second['nom'])}; D.clear();")


@pytest.mark.browser
def test_import_names_every_bad_line(page: tuple[Any, Path, Path], payload: dict) -> None:
    """A scenario file read back in the page: each bad line named, nothing changed."""
    driver, path, _ = page
    driver.get("about:blank")
    driver.get(path.as_uri() + "#decision")
    n_in = payload["nIn"]
    white = [payload["code"][u] for u in range(n_in) if payload["blanche"][u]]
    covered = next(payload["code"][u] for u in range(n_in) if not payload["blanche"][u])
    cpts = payload["cpts"][0]["nom"]
    lines = [
        "projet;type;cpts;code_commune;cpts_mentor",
        f"A;création;CPTS A;{white[0]}",
        f"B;fusion;CPTS B;{white[1]}",  # 3: unknown type
        f"C;extension;CPTS Inconnue;{white[2]}",  # 4: unknown CPTS
        f"A;création;CPTS A;{white[0]}",  # 5: commune twice
        f"D;création;CPTS D;{covered}",  # 6: covered commune
        f"E;rattachement temporaire;{cpts};{white[3]};CPTS Personne",  # 7: unknown mentor
        "F;création;;" + white[4],  # 8: no name
    ]
    before = _js(driver, "return D.csv();")
    text = "\n".join(lines)
    ok = driver.execute_script("return couverture.decision.importCsv(arguments[0], 's.csv');", text)
    assert ok is False
    errors = _js(driver, "return D.errors;")
    for line, words in [
        (3, "type inconnu"),
        (4, "CPTS « CPTS Inconnue » inconnue"),
        (5, "dans deux projets"),
        (6, "déjà couverte"),
        (7, "mentor « CPTS Personne » inconnue"),
        (8, "colonne cpts vide"),
    ]:
        assert any(f"s.csv, ligne {line} : " in e and words in e for e in errors), (line, errors)
    assert _js(driver, "return D.csv();") == before
    bad_header = _js(driver, "return D.importCsv('code;nom\\n35001;X', 'h.csv');")
    assert bad_header is False and "en-tête attendu" in _js(driver, "return D.errors[0];")
