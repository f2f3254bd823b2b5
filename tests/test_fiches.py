"""Fiches of the zones blanches of Ille-et-Vilaine on the demo registry: one HTML page per
zone and a PDF booklet of one A4 page per zone, read back with pypdf."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from _helpers import run_cli as _cli
from pypdf import PdfReader

import couverture
from couverture._folders import MANIFEST_NAME, STAMP_NAME

FIXTURE = Path(__file__).parent / "data" / "finess_etablissements_35.csv"
DEP = "35"


@pytest.fixture(scope="module")
def expected(demo_registry: Path) -> dict:
    """What the fiches must show, from the analysis (not from the fiches)."""
    with couverture.analyse(demo_registry, departements=DEP) as a:
        zones = a.zones()
        names = a.unit_table().set_index("code")["nom"]
        cpts = a.national().cpts()
        titles = a.zone_names()["nom_zone"].to_dict()
    return {"zones": zones, "names": names, "cpts": cpts, "titles": titles}


@pytest.fixture(scope="module")
def written(demo_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fiches")
    args = ["fiches", "--registre", str(demo_registry), "--departement", DEP]
    assert _cli([*args, "--sortie", str(out), "--porteurs", str(FIXTURE)]) == 0
    return out


def test_one_page_per_zone_and_a_booklet(written: Path, expected: dict) -> None:
    folder = written / f"departement-{DEP}"
    zones = expected["zones"]
    assert len(zones) > 0
    pages = sorted(p.stem for p in folder.glob("ZB-*.html"))
    assert pages == sorted(zones["zone_id"])
    reader = PdfReader(folder / f"fiches-{DEP}.pdf")
    assert len(reader.pages) == len(zones)
    for page, zone_id in zip(reader.pages, zones["zone_id"], strict=True):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - 595) < 2 and abs(height - 842) < 2  # A4 in points
        text = page.extract_text()
        assert expected["titles"][zone_id] in text and f"réf. {zone_id}" in text
        assert "Décision de la réunion" in text
        # tables wrap their cells on words: no cell, no line cut with « … »
        assert not [line for line in text.splitlines() if line.rstrip().endswith("…")]
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{z}.html"' in index for z in zones["zone_id"])
    assert f'href="fiches-{DEP}.pdf"' in index
    # written aside then renamed: nothing left over
    assert sorted(p.name for p in written.iterdir()) == [f"departement-{DEP}"]


def test_fiche_content(written: Path, expected: dict) -> None:
    zones = expected["zones"].set_index("zone_id")
    names, cpts = expected["names"], expected["cpts"]
    for zone_id, zone in zones.iterrows():
        page = (written / f"departement-{DEP}" / f"{zone_id}.html").read_text(encoding="utf-8")
        assert "@page{size:A4" in page and 'src="data:image/png;base64,' in page
        for code in zone["communes"].split():
            assert html.escape(names[code]) in page, code
        for cid in zone["cpts_voisines_ids"].split("|"):
            assert html.escape(cpts.loc[cid, "nom"]) in page
        assert "recommandée" in page and " → " in page and "Décision de la réunion" in page
    # the fixture's porteurs: three in the zone of Vitré, Châteaubourg's MSP about 5 km away,
    # Rennes' (24 km) and Saint-Denis' not listed, the pharmacy never
    vitre = (written / f"departement-{DEP}" / "ZB-35-35006.html").read_text(encoding="utf-8")
    section = vitre.split("Porteurs potentiels")[1].split("<h2>Communes")[0]
    assert section.count("dans la zone") == 3
    assert "CHATEAUBOURG" in section and "5,4\u00a0km" in section
    assert "RENNES" not in section and "SAINT-DENIS" not in section
    assert "PHARMACIE" not in section
    # its alternative extends three CPTS: three parts told apart, not three « alternative 2 »
    options = vitre.split("Option recommandée et alternatives")[1].split("</table>")[0]
    assert options.count("alt. 2, partie ") == 3 and "partie 3/3" in options


def test_fiches_needs_a_departement(
    demo_registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli(["fiches", "--registre", str(demo_registry), "--sortie", str(tmp_path / "f")])
    assert code == 2
    assert "--departement est obligatoire" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()


def test_rerun_replaces_the_fiches(written: Path, demo_registry: Path, expected: dict) -> None:
    folder = written / f"departement-{DEP}"
    # a fiche of an earlier run (listed as written by it) goes, a file of the user's stays
    (folder / "ZB-35-00000.html").write_text("ancienne fiche", encoding="utf-8")
    listed = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    listed["fichiers"]["ZB-35-00000.html"] = None  # listed without a fingerprint: ours
    (folder / MANIFEST_NAME).write_text(json.dumps(listed), "utf-8")
    (folder / "cr.docx").write_bytes(b"compte rendu")
    # what a run killed before its swap left: its new folder, stamped with its pid and token
    dead, token = 4_194_305, "0123456789ab"  # above Linux's largest pid
    stale = written / f".departement-{DEP}.couverture-neuf-{dead}-{token}"
    stale.mkdir()
    (stale / STAMP_NAME).write_text(f'{{"pid": {dead}, "token": "{token}"}}', encoding="utf-8")
    args = ["fiches", "--registre", str(demo_registry), "--departement", DEP]
    assert _cli([*args, "--sortie", str(written), "-q"]) == 0
    assert sorted(p.name for p in written.iterdir()) == [f"departement-{DEP}"]
    assert sorted(p.stem for p in folder.glob("ZB-*.html")) == sorted(expected["zones"]["zone_id"])
    assert not (folder / STAMP_NAME).exists()
    assert (folder / "cr.docx").read_bytes() == b"compte rendu"
    # without --porteurs the fiche says so
    page = (folder / f"{expected['zones']['zone_id'].iloc[0]}.html").read_text(encoding="utf-8")
    assert "Fichier des porteurs non fourni" in page


def test_departement_without_zone_blanche(demo_registry: Path, tmp_path: Path) -> None:
    with couverture.analyse(demo_registry, departements="28") as a:
        assert a.zones().empty  # Eure-et-Loir is fully covered in the demo registry
    args = ["fiches", "--registre", str(demo_registry), "--departement", "28", "-q"]
    assert _cli([*args, "--sortie", str(tmp_path)]) == 0
    folder = tmp_path / "departement-28"
    assert [p.name for p in folder.iterdir() if p.name != MANIFEST_NAME] == ["index.html"]
    assert "aucune fiche" in (folder / "index.html").read_text(encoding="utf-8")
    # a folder written before the manifests: only the names fiches writes are ours, a fiche
    # a person saved beside them under another name stays
    (folder / MANIFEST_NAME).unlink()
    mine = ["ZB-28-28001-annotee.html", "fiches-28-notes.pdf"]
    for name in mine:
        (folder / name).write_text("notes de la task force", encoding="utf-8")
    (folder / "ZB-28-28001.html").write_text("ancienne fiche", encoding="utf-8")
    assert _cli([*args, "--sortie", str(tmp_path)]) == 0
    assert sorted(p.name for p in folder.iterdir() if p.name != MANIFEST_NAME) == sorted(
        ["index.html", *mine]
    )


def test_map_keys_legend_and_labels(demo_registry: Path) -> None:
    """Each recommended part has its colour and number, in the legend as in the table; the
    legend shows the stages drawn and nothing else; no two visible names overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from couverture import _fiches_data, fiches
    from couverture._config import stage
    from couverture.suggest import suggest

    with couverture.analyse(demo_registry, departements=DEP) as a:
        found = _fiches_data.fiches_of(a, DEP, proposals=suggest(a), porteurs=None)
        stages = a.national().cpts()["stade"]
    several = [f for f in found if len(f.proposal_shapes) > 1]
    assert several, "une zone du 35 de la démo a une proposition en plusieurs parties"
    for fiche in found:
        fig = plt.figure(figsize=(7.2, 4.6))
        ax = fig.add_axes((0.005, 0.01, 0.70, 0.98))
        fiches.draw_map(ax, fiche)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        # the stages of the CPTS drawn, exactly
        drawn = {stage(stages[c]).label for c in fiche.cpts_shapes.index}
        shown = {lab for lab in labels if lab in {stage(s).label for s in stages.dropna()}}
        assert shown == drawn
        assert not any(lab.startswith("Projet (avant") for lab in labels)
        # one numbered key per recommended part, one colour each, numbered as the table
        # (the legend wraps its lines: compared without spaces)
        keys = [lab.replace("\n", "").replace(" ", "") for lab in labels if lab[:1].isdigit()]
        # the parts of a scenario told apart: the recommended ones by their key, the
        # alternatives by « alt. 2, partie 1/3 »
        told = [r[0] or r[1] for r in _fiches_data.option_rows(fiche.options)]
        assert len(set(told)) == len(told), told
        rows = [r for r in _fiches_data.option_rows(fiche.options) if r[0]]
        assert keys == [f"{r[0]}.{r[3]}".replace(" ", "") for r in rows]
        colours = {fiches.proposal_style(int(r[0]))[0] for r in rows}
        assert len(colours) == len(rows)
        # names moved apart: the visible ones never overlap
        renderer = fig.canvas.get_renderer()
        boxes = [
            t.get_window_extent(renderer=renderer)
            for t in ax.texts
            if t.get_visible() and t.get_text() and t.get_bbox_patch() is None
        ]
        for i, b in enumerate(boxes):
            assert not any(b.overlaps(o) for o in boxes[i + 1 :]), fiche.zone["zone_id"]
        plt.close(fig)


def test_pre_stage_style_is_the_vocabulary_s(
    demo_registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CPTS before its lettre d'intention is drawn and named as rank 0 of
    ``config/vocabulaire_stades.csv`` says (one vocabulary with the map and the report)."""
    import shutil

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from couverture import _config, _fiches_data, _fiches_map, fiches, settings

    copy = tmp_path / "config"
    shutil.copytree(settings.CONFIG_DIR, copy)
    path = copy / "vocabulaire_stades.csv"
    text = path.read_text(encoding="utf-8")
    old = ",0,Projet avant lettre d'intention,projet avant lettre d'intention,#d9d9d9,#777777"
    assert old in text
    new = ",0,CPTS en émergence,en émergence,#aabbcc,#112233"
    path.write_text(text.replace(old, new), encoding="utf-8")
    monkeypatch.setenv("COUVERTURE_CONFIG", str(copy))
    _config.clear_caches()
    try:
        assert _fiches_map._stage_style("") == ("#aabbcc", "#112233", "CPTS en émergence")
        assert _fiches_map._stage_style(None) == _fiches_map._stage_style("")
        with couverture.analyse(demo_registry, departements=DEP) as a:
            fiche = _fiches_data.fiches_of(a, DEP, proposals=None, porteurs=None)[0]
        first = fiche.cpts_shapes.index[0]
        fiche.neighbours.loc[fiche.neighbours["cpts_id"] == first, "stade"] = ""  # pre-LI
        fig = plt.figure(figsize=(7.2, 4.6))
        ax = fig.add_axes((0.005, 0.01, 0.70, 0.98))
        fiches.draw_map(ax, fiche)
        legend = ax.get_legend()
        labels = [t.get_text() for t in legend.get_texts()]
        assert "CPTS en émergence" in labels
        patch = legend.get_patches()[labels.index("CPTS en émergence")]
        assert matplotlib.colors.to_hex(patch.get_facecolor()) == "#aabbcc"
        plt.close(fig)
    finally:
        monkeypatch.undo()
        _config.clear_caches()


def test_booklet_names_the_professionals_present(
    demo_registry: Path, expected: dict, tmp_path: Path
) -> None:
    """With --annuaire, each PDF page says the professionals present in the zone, as the
    HTML fiche does (issue 23)."""
    zones = expected["zones"]
    with couverture.analyse(demo_registry, departements=DEP) as a:
        units = a.zone_units()
    first = str(zones.iloc[0]["zone_id"])
    code = str(units.loc[units["zone_id"] == first, "code"].iloc[0])
    annuaire = tmp_path / "annuaire.csv"
    annuaire.write_text(
        f"code_commune;profession;effectif;mode\n{code};Médecin généraliste;3;L\n"
        f"{code};infirmier;2;L\n",
        encoding="utf-8",
    )
    out = tmp_path / "fiches"
    args = ["fiches", "--registre", str(demo_registry), "--departement", DEP]
    assert _cli([*args, "--sortie", str(out), "--annuaire", str(annuaire)]) == 0
    folder = out / f"departement-{DEP}"
    (pdf,) = folder.glob("*.pdf")
    pages = [" ".join(p.extract_text().split()) for p in PdfReader(pdf).pages]
    said = [p for p in pages if "Professionnels présents" in p]
    page = next(p for p in pages if first in p)
    assert page in said and "5 professionnels de santé dont 3 médecins généralistes" in page
    html_page = (folder / f"{first}.html").read_text(encoding="utf-8")
    assert "Professionnels présents : 5 professionnels" in html_page
