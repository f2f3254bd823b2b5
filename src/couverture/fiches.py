"""Fiches for a task force's meeting: one A4 page per zone blanche, as HTML and as a PDF.

:func:`build_fiches` writes, for each département, ``<sortie>/departement-<code>/``:

``index.html``
    the list of the département's zones blanches, linking each fiche and the booklet;
``<zone_id>.html``
    one self-contained page per zone (map inlined), laid out for A4 printing;
``fiches-<code>.pdf``
    the booklet: the same fiches, one A4 page each (matplotlib's PDF backend, no browser).

Each fiche has a static map of the zone (its communes, the neighbouring CPTS coloured by stage
with their names, the recommended proposal outlined, the potential porteurs), the communes
(name, population), the neighbouring CPTS (stage, taille, population), the recommended option
and the alternatives (taille and maximum ACI funding before → after), the potential porteurs in
the zone and within 10 km, and blank lines for the decision taken in the meeting.

A département's folder is written next to its target under a temporary name and then renamed:
an interrupted run leaves the previous fiches as they were.

Examples
--------
>>> import couverture
>>> from couverture.fiches import build_fiches
>>> with couverture.analyse("data/raw/registre_demo.csv", departements="35") as a:
...     written = build_fiches(a, "fiches")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.backends.backend_pdf import PdfPages

from couverture import _figure as plt
from couverture import _format
from couverture._errors import ArgumentError
from couverture._fiches_data import (
    A4,
    MAX_CPTS,
    MAX_OPTIONS,
    MAX_PORTEURS,
    PROPOSAL_STYLES,
    ZONE_EDGE,
    Fiche,
    fiches_of,
    proposal_style,
    proposals_empty,
    wrap_cell,
)
from couverture._fiches_html import index_html, render_fiche_html
from couverture._fiches_map import draw_map, map_png
from couverture._fiches_pdf import fiche_figure
from couverture._folders import new_folder, recover_folders, staged_folder
from couverture.porteurs import name_porteurs, proposals_of
from couverture.professionnels import zone_texts

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis
    from couverture.professionnels import Annuaire

__all__ = [
    "A4",
    "MAX_CPTS",
    "MAX_OPTIONS",
    "MAX_PORTEURS",
    "PROPOSAL_STYLES",
    "ZONE_EDGE",
    "FicheSet",
    "build_fiches",
    "draw_map",
    "fiche_figure",
    "map_png",
    "proposal_style",
    "proposals_empty",
    "render_fiche_html",
    "wrap_cell",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FicheSet:
    """The fiches written for one département.

    Attributes
    ----------
    departement
        COG code.
    index
        ``index.html`` listing the fiches.
    pdf
        The booklet (one page per zone blanche), ``None`` without any zone blanche.
    pages
        ``{zone_id: page}``, in order of priority (population).
    """

    departement: str
    index: Path
    pdf: Path | None
    pages: dict[str, Path] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------
def _write_departement(
    dep: str, fiches: list[Fiche], target: Path, *, meta: dict[str, Any]
) -> FicheSet:
    # a fresh folder swapped in whole (the one door of couverture._output): a run killed
    # midway leaves the previous fiches as they were
    recover_folders(target.resolve().parent)
    pdf_name = f"fiches-{dep}.pdf"
    dep_name = fiches[0].dep_name if fiches else dep
    pages: dict[str, Path] = {}
    with staged_folder(target, ours=_is_fiche_name) as stage:
        tmp = stage.new
        if fiches:
            with PdfPages(tmp / pdf_name) as pdf:
                info = pdf.infodict()
                info["Title"] = f"Fiches des zones blanches — {dep_name} ({dep})"
                info["Subject"] = "Couverture de la population par les CPTS"
                for n, fiche in enumerate(fiches, start=1):
                    zone_id = str(fiche.zone["zone_id"])
                    log.info("fiches %s : zone %d/%d (%s)…", dep, n, len(fiches), zone_id)
                    page = render_fiche_html(fiche, meta=meta, png=map_png(fiche))
                    (tmp / f"{zone_id}.html").write_text(page, encoding="utf-8")
                    fig = fiche_figure(fiche, meta=meta)
                    pdf.savefig(fig)
                    plt.close(fig)
                    pages[zone_id] = target / f"{zone_id}.html"
        (tmp / "index.html").write_text(
            index_html(dep, dep_name, fiches, pdf_name if fiches else None, meta),
            encoding="utf-8",
        )
        stage.swap_in()
    return FicheSet(
        departement=dep,
        index=target / "index.html",
        pdf=target / pdf_name if fiches else None,
        pages=pages,
    )


# the names fiches writes: index.html, fiches-<département>.pdf and <zone id>.html (a fiche
# saved beside them as « ZB-35-35001-annotee.html » is a person's file, never ours)
_FICHE_NAME = re.compile(
    r"fiches-(?:\d{2}|2[AB]|97\d)\.pdf|ZB-(?:\d{2}|2[AB]|97\d)-[0-9][0-9AB][0-9]{3}\.html"
)


def _is_fiche_name(name: str) -> bool:
    """Whether ``name`` is one fiches write (a folder of fiches written before manifests)."""
    return name == "index.html" or _FICHE_NAME.fullmatch(name) is not None


def build_fiches(
    analysis: Analysis,
    output_dir: Path | str,
    *,
    proposals: pd.DataFrame | None = None,
    porteurs: pd.DataFrame | None = None,
    annuaire: Annuaire | None = None,
    shown: Path | str | None = None,
) -> dict[str, FicheSet]:
    """Write the fiches of the zones blanches of the analysis's départements.

    Parameters
    ----------
    analysis
        An open analysis restricted to one or a few départements.
    output_dir
        Folder receiving one ``departement-<code>/`` folder per département.
    proposals
        Rows of :func:`couverture.suggest.suggest` for these départements (computed when
        not given).
    porteurs
        Output of :func:`couverture.porteurs.read_porteurs` (the fiches say when absent).
    annuaire
        :func:`couverture.professionnels.read_annuaire`: the professionals present in each
        zone, under its title.
    shown
        Where ``output_dir`` will be once its caller has swapped it in, named in the messages
        instead of ``output_dir``: the report writes its fiches into its staged folder (a
        temporary name the user never sees). The paths returned stay under ``output_dir``.

    Returns
    -------
    dict
        ``{département: FicheSet}``.

    Raises
    ------
    ArgumentError
        When the analysis is not restricted to départements.
    """
    a = analysis
    if a.departements is None:
        raise ArgumentError("fiches : préciser le ou les départements (--departement 35)")
    a.check_departements()
    if proposals is None:
        log.info("fiches : propositions pour les zones blanches…")
        proposals = proposals_of(a, porteurs)
    elif porteurs is not None and "porteur_potentiel" not in proposals:
        proposals = name_porteurs(a, proposals, porteurs)
    meta = a.meta
    pros = None
    if annuaire is not None:
        pros = zone_texts(a, annuaire)
    written = {}
    # a failed run leaves no empty folder behind (one written before the failure stays)
    with new_folder(Path(output_dir)) as out:
        for dep in a.departements:
            fiches = fiches_of(a, dep, proposals=proposals, porteurs=porteurs)
            for fiche in fiches:  # issue 23: professionals present in the zone
                if pros is not None:
                    fiche.zone["professionnels_texte"] = pros.get(str(fiche.zone["zone_id"]))
            target = out / f"departement-{dep}"
            written[dep] = _write_departement(dep, fiches, target, meta=meta)
            booklet = written[dep].pdf
            if booklet is not None and shown is not None:
                booklet = Path(shown) / booklet.relative_to(out)
            log.info(
                "fiches %s : %s%s",
                dep,
                _format.plural(len(fiches), "fiche"),
                f", livret {booklet}" if booklet is not None else " (aucune zone blanche)",
            )
    return written
