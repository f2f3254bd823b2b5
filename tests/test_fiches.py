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
from couverture._output import MANIFEST_NAME, STAMP_NAME

FIXTURE = Path(__file__).parent / "data" / "finess_etablissements_35.csv"
DEP = "35"


@pytest.fixture(scope="module")
def expected(demo_registry: Path) -> dict:
    """What the fiches must show, from the analysis (not from the fiches)."""
    with couverture.analyse(demo_registry, departements=DEP) as a:
        zones = a.zones()
        names = a.unit_table().set_index("code")["nom"]
        cpts = a.national().cpts()
    return {"zones": zones, "names": names, "cpts": cpts}


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
        assert f"Zone blanche {zone_id}" in text
        assert "Décision de la réunion" in text
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
    (folder / MANIFEST_NAME).write_text(json.dumps([*listed, "ZB-35-00000.html"]), "utf-8")
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
