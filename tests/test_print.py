"""The documents of the meeting table, printed by headless Chromium and measured in the page.

The département report and a département map of Ille-et-Vilaine (demo registry) are printed to
PDF; their layouts are measured in the browser (bounding boxes of the elements, the labels, the
panels and the zones blanches) with the print styles applied: nothing overflows the page box,
the report carries its map, no two visible labels overlap, the title panel covers no zone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _helpers import chromium as run_chromium
from _helpers import require_chromium
from _helpers import run_cli as _cli

DEP = "35"
#: A4 at 96 CSS pixels per inch, less the pages' margins (report 12 mm, map 8 mm).
MM = 96 / 25.4
REPORT_WIDTH = (210 - 24) * MM
MAP_PAGE = ((297 - 16) * MM, (210 - 16) * MM)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def _browser() -> None:
    require_chromium()


def chromium(url: str, tmp: Path, *, size: tuple[float, float], pdf: Path | None = None) -> str:
    """Run headless Chromium on ``url`` without network; return the DOM (or print to ``pdf``)."""
    return run_chromium(url, tmp, size=size, pdf=pdf)[0]


def _pages(pdf: Path) -> list[tuple[float, float]]:
    from pypdf import PdfReader

    return [(float(p.mediabox.width), float(p.mediabox.height)) for p in PdfReader(pdf).pages]


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(scope="module")
def report(demo_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rapport")
    args = ["rapport", "--mois", "2026-11", "--registre", str(demo_registry)]
    args += ["--departement", DEP, "--sortie", str(out), "--historique", str(out / "h.duckdb")]
    assert _cli([*args, "--sans-cartes", "--sans-fiches"]) == 0
    return out / "2026-11"


@pytest.fixture(scope="module")
def dep_map(demo_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cartes")
    args = ["cartes", "--registre", str(demo_registry), "--departement", DEP]
    assert _cli([*args, "--sortie", str(out)]) == 0
    return out / f"departement-{DEP}.html"


# the report's print styles applied on screen, at the printed width, then every box measured
_MEASURE = """<script>window.addEventListener("load", function () {
  var out = [], page = document.body.getBoundingClientRect();
  document.querySelectorAll("body *").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width && r.right > page.right + 1) {
      out.push([el.tagName, (el.textContent || "").slice(0, 40), Math.round(r.right)]);
    }
  });
  var map = document.querySelector('figure.carte img');
  document.documentElement.setAttribute("data-mesure", JSON.stringify({
    debordements: out, largeur: Math.round(page.width),
    carte: map ? [map.naturalWidth, Math.round(map.getBoundingClientRect().width)] : null}));
});</script>"""


def test_report_prints_within_the_page_and_holds_the_map(report: Path, tmp_path: Path) -> None:
    page = report / "index.html"
    text = page.read_text(encoding="utf-8")
    assert re.search(r'<figure class="carte"><img src="carte-35\.png"', text)
    # EPCI names shortened, the legal name on hover; zones named by place, id beside
    assert '<abbr title="Communauté de communes Bretagne Romantique">CC Bretagne Romantique' in text
    assert "Communauté de communes" not in re.sub(r'title="[^"]*"', "", text)
    named = r'Zone blanche de [^<]+(</a>)?<br><small class="ref">ZB-35-\d{5}</small>'
    assert re.search(named, text)
    # the print rules on screen, at A4's printed width: every element's box within it
    screen = text.replace("@media print{", "@media all{").replace("</body>", _MEASURE + "</body>")
    probe = report / "mesure.html"
    probe.write_text(screen, encoding="utf-8")
    dom = chromium(probe.as_uri(), tmp_path, size=(REPORT_WIDTH, 1100))
    match = re.search(r'data-mesure="([^"]*)"', dom)
    assert match, "la mesure ne s'est pas exécutée"
    measure = json.loads(match.group(1).replace("&quot;", '"'))
    assert measure["largeur"] <= REPORT_WIDTH + 1
    assert measure["debordements"] == []
    natural, shown = measure["carte"]
    assert natural > 500 and 0 < shown <= REPORT_WIDTH
    probe.unlink()
    # printed: A4 pages (portrait, landscape for the wide tables), the map an image of page 1
    pdf = tmp_path / "rapport.pdf"
    chromium(page.as_uri(), tmp_path, size=(1200, 900), pdf=pdf)
    sizes = _pages(pdf)
    assert sizes and all(
        (abs(w - 595) < 2 and abs(h - 842) < 2) or (abs(w - 842) < 2 and abs(h - 595) < 2)
        for w, h in sizes
    )
    from pypdf import PdfReader

    first = PdfReader(pdf).pages[0]
    assert any(img.image.width > 500 for img in first.images)


@pytest.fixture(scope="module")
def plan_report(demo_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of 53 and 67 with their plan d'action filled as the demo does (wide tables)."""
    out = tmp_path_factory.mktemp("rapport-plan")
    deps = ["--departement", "53,67"]
    empty, filled = out / "plan.xlsx", out / "plan-rempli.xlsx"
    reg = ["--registre", str(demo_registry)]
    assert _cli(["plan-action", *reg, *deps, "--date", "2026-11-30", "--sortie", str(empty)]) == 0
    assert _cli(["demo", "--remplir-plan", str(empty), "--sortie", str(filled)]) == 0
    args = ["rapport", "--mois", "2026-11", *reg, *deps, "--plan", str(filled)]
    args += ["--sortie", str(out), "--historique", str(out / "h.duckdb")]
    assert _cli([*args, "--sans-cartes", "--sans-fiches"]) == 0
    return out / "2026-11"


# the plan d'action's section prints on landscape pages: its boxes are measured at that width
LANDSCAPE_WIDTH = (297 - 24) * MM
_LANDSCAPE = (
    f"<style>#plan,#plan~*{{width:{round(LANDSCAPE_WIDTH)}px;max-width:none;"
    "box-sizing:border-box}</style></head>"
)


def test_plan_section_prints_within_landscape_pages(plan_report: Path, tmp_path: Path) -> None:
    """The plan's wide tables (échéance, statut, commentaire…) are not cut at the margin."""
    page = plan_report / "index.html"
    text = page.read_text(encoding="utf-8")
    assert '<h2 id="plan">' in text and "#plan,#plan~*{page:paysage}" in text
    screen = text.replace("@media print{", "@media all{").replace("</head>", _LANDSCAPE, 1)
    probe = plan_report / "mesure.html"
    probe.write_text(screen.replace("</body>", _MEASURE_PLAN + "</body>"), encoding="utf-8")
    dom = chromium(probe.as_uri(), tmp_path, size=(REPORT_WIDTH, 1100))
    match = re.search(r'data-mesure="([^"]*)"', dom)
    assert match, "la mesure ne s'est pas exécutée"
    assert json.loads(match.group(1).replace("&quot;", '"')) == []
    pdf = tmp_path / "plan.pdf"
    chromium(page.as_uri(), tmp_path, size=(1200, 900), pdf=pdf)
    from pypdf import PdfReader

    pages = PdfReader(pdf).pages
    plan_pages = [p for p in pages if "Plan d'action" in (p.extract_text() or "")]
    assert plan_pages and all(
        float(p.mediabox.width) > float(p.mediabox.height) for p in plan_pages
    )


# every element within its page: portrait before the plan section, landscape from it on
_MEASURE_PLAN = """<script>window.addEventListener("load", function () {
  var out = [], left = document.body.getBoundingClientRect().left;
  var plan = document.getElementById("plan");
  document.querySelectorAll("body *").forEach(function (el) {
    var r = el.getBoundingClientRect();
    var wide = plan && (el === plan || (plan.compareDocumentPosition(el) & 4));
    var limit = left + (wide ? LANDSCAPE : PORTRAIT) + 1;
    if (r.width && r.right > limit) {
      out.push([el.tagName, (el.textContent || "").slice(0, 40), Math.round(r.right)]);
    }
  });
  document.documentElement.setAttribute("data-mesure", JSON.stringify(out.slice(0, 10)));
});</script>""".replace("LANDSCAPE", str(round(LANDSCAPE_WIDTH))).replace(
    "PORTRAIT", str(round(REPORT_WIDTH))
)


def _state(dom: str) -> dict:
    match = re.search(r'data-couverture="([^"]*)"', dom)
    assert match, "le runtime de la carte ne s'est pas exécuté"
    return json.loads(match.group(1).replace("&quot;", '"'))


@pytest.mark.parametrize("mode", ["impression", "ecran"])
def test_map_labels_and_panels(dep_map: Path, tmp_path: Path, mode: str) -> None:
    """Printed layout (as the print button makes it) and screen: labels apart, panels clear."""
    url = dep_map.as_uri() + ("#impression" if mode == "impression" else "")
    size = MAP_PAGE if mode == "impression" else (1400, 950)
    state = _state(chromium(url, tmp_path, size=size))
    m = state["mesures"]
    labels = m["etiquettes"]
    assert state["nVilles"] >= 5 and len(labels) >= 10
    names = [name for name, *_ in labels]
    # the main towns named without a basemap, every proposal named
    assert {"Rennes", "Saint-Malo", "Fougères"} <= set(names)
    shown = m["propositions"]
    assert len(shown) == state["nPropositions"] > 0  # none hidden
    assert all(n.strip() != "nouvelle CPTS" for n in shown)
    for i, (name, *box) in enumerate(labels):
        for other, *obox in labels[i + 1 :]:
            assert not _overlap(box, obox), (name, other)
    assert m["zones"]
    for zone in m["zones"]:
        assert not _overlap(m["titre"], zone)
        assert not _overlap(m["legende"], zone)
    if mode == "impression":
        width, height = MAP_PAGE
        assert m["page"][2] <= width + 1 and m["page"][3] <= height + 1
        for box in [m["titre"], m["legende"], m["carte"], *(b for _, *b in labels)]:
            assert box[0] >= 0 and box[1] >= 0 and box[2] <= width + 1 and box[3] <= height + 1
        pdf = tmp_path / "carte.pdf"
        chromium(url, tmp_path, size=size, pdf=pdf)
        assert [(round(w), round(h)) for w, h in _pages(pdf)] == [(842, 595)]


@pytest.fixture(scope="module")
def fiches_35(demo_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fiches")
    porteurs = Path(__file__).parent / "data" / "finess_etablissements_35.csv"
    args = ["fiches", "--registre", str(demo_registry), "--departement", DEP]
    assert _cli([*args, "--sortie", str(out), "--porteurs", str(porteurs)]) == 0
    return out / f"departement-{DEP}"


def test_each_html_fiche_prints_on_one_a4_page(fiches_35: Path, tmp_path: Path) -> None:
    pages = sorted(fiches_35.glob("ZB-*.html"))
    assert pages
    for page in pages:
        pdf = tmp_path / f"{page.stem}.pdf"
        chromium(page.as_uri(), tmp_path, size=(900, 1200), pdf=pdf)
        assert [(round(w), round(h)) for w, h in _pages(pdf)] == [(595, 842)], page.name
