"""The French texts of the maps: CPTS and zone cards, proposal labels, titles and legends."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from couverture import _format
from couverture._config import pre_stage as _pre_stage
from couverture._config import stage as _stage
from couverture._config import stages as _stages
from couverture._map_page import (
    INDEX_NAME,
    NEIGHBOUR_FILL,
    NEIGHBOUR_OUTLINE,
    OUTSIDE_FILL,
    OVERLAP_COLOURS,
    PORTEUR_COLOUR,
    PROJECT_COLOUR,
    PROPOSAL_COLOURS,
    RATE_CLASSES,
    STAGE_OPACITY,
    ZONE_COLOUR,
    _codes,
    _esc,
    _swatch,
)

if TYPE_CHECKING:
    import pandas as pd

    from couverture._map_layers import MapLayers

log = logging.getLogger(__name__)


OVERLAP_LABELS = {"chevauchement": "Chevauchement à arbitrer", "partage": "Commune partagée"}


PROPOSAL_LABELS = {
    "extension": "Extension d'une CPTS",
    "creation": "Création d'une CPTS",
    "rattachement_temporaire": "Rattachement temporaire",
}


NEW_CPTS_LABEL = "nouvelle CPTS"


def _int(value: Any) -> int | None:
    try:
        if value is None or value != value:  # None or NaN
            return None
        return int(value)
    except (TypeError, ValueError):
        return None


def _positive(value: Any) -> int | None:
    """Return an integer above 0, else ``None`` (a taille or funding of 0 means "none yet")."""
    n = _int(value)
    return n if n else None


def proposal_text(r: dict[str, Any]) -> str:
    """Return the plain-French effect of a proposal, missing values left out.

    Examples
    --------
    >>> proposal_text({"population_ajoutee": 1200, "population_resultante": 41000,
    ...     "taille_avant": 1, "taille_apres": 2, "financement_max_avant": 220000,
    ...     "financement_max_apres": 287000}).replace("\u202f", " ").replace("\xa0", " ")
    '+1 200 hab. → 41 000 hab. ; taille 1 → 2 ; financement maximal 220 000 € → 287 000 € par an'
    >>> proposal_text({"taille_avant": 0, "taille_apres": 2, "financement_max_avant": 0,
    ...     "financement_max_apres": 287000}).replace("\u202f", " ").replace("\xa0", " ")
    'taille 2 ; financement maximal 287 000 € par an'
    """
    parts = []
    added, result = _int(r.get("population_ajoutee")), _int(r.get("population_resultante"))
    if added is not None and result is not None:
        parts.append(f"+{_format.integer(added)} hab. → {_format.integer(result)} hab.")
    before, after = _positive(r.get("taille_avant")), _positive(r.get("taille_apres"))
    if before and after:
        parts.append(f"taille {before} → {after}")
    elif after:
        parts.append(f"taille {after}")
    f_before = _positive(r.get("financement_max_avant"))
    f_after = _positive(r.get("financement_max_apres"))
    if f_before and f_after:
        parts.append(
            f"financement maximal {_format.euros(f_before)} → {_format.euros(f_after)} par an"
        )
    elif f_after:
        parts.append(f"financement maximal {_format.euros(f_after)} par an")
    return " ; ".join(parts)


def proposal_label(option: Any, target: Any, proposed: Any = None) -> str:
    """Return the label drawn on a proposal: every proposal named.

    The CPTS that would take it, or « nouvelle CPTS Vitré » (the proposed name).

    Examples
    --------
    >>> proposal_label("creation", None, "CPTS Vitré"), proposal_label("extension", "CPTS Redon")
    ('nouvelle CPTS Vitré', 'CPTS Redon')
    """
    name = _text(target)
    new = _text(proposed)
    if option == "creation" or name is None:
        if new is None:
            return NEW_CPTS_LABEL
        return f"nouvelle {new}" if new.startswith("CPTS") else f"{NEW_CPTS_LABEL} {new}"
    return f"{name} (temporaire)" if option == "rattachement_temporaire" else name


def _stage_label(stage: Any) -> str:
    return _stage(stage).label if stage in _codes() else "Non couverte"


def _title_html(
    meta: dict[str, Any], heading: str, rows: Sequence[tuple[str, str]], extra: str
) -> str:
    banner = (
        '<div class="cv-fictif">REGISTRE FICTIF — données de démonstration</div>'
        if meta.get("fictif")
        else ""
    )
    sub = (
        f"registre {_esc(meta.get('registre'))} · {_esc(_registry_date_text(meta))}"
        f" · population {_esc(meta.get('population_millesime'))}"
        f" · COG {_esc(meta.get('cog'))}"
    )
    table = "".join(f"<tr><th>{_esc(k)}</th><td class='n'>{v}</td></tr>" for k, v in rows)
    return (
        f"{banner}<h1>{_esc(heading)}</h1><p class='cv-sub'>{sub}</p><table>{table}</table>{extra}"
    )


def _registry_date_text(meta: dict[str, Any]) -> str:
    """« registre du 30 novembre 2026 », « fichier modifié le … »: the date and its source."""
    return str(meta.get("date_registre_texte") or f"du {_registry_date(meta)}")


def _registry_date(meta: dict[str, Any]) -> str:
    """Return the registry's date in French (« 29 novembre 2026 »), as given when not a date."""
    value = meta.get("date_registre")
    if not value:
        return ""
    try:
        return _format.date(str(value))
    except (ValueError, IndexError):
        return str(value)


def _cpts_card(r: Any, stage: str | None) -> dict[str, Any]:
    """Return the card of a CPTS, as the texts the popup shows (``None``.

    Row left out); ``voisine`` is added per map.
    """
    taille = _positive(r["taille"])
    funding = _positive(r["financement_max"]) if stage else None
    return {
        "nom": r["nom"],
        "stade": _stage(stage).label if stage else _pre_stage().label,
        "stade_code": stage or "projet",
        "population": f"{_format.integer(r['population'])} hab.",
        "taille": None if taille is None else str(taille),
        "financement": None if funding is None else f"{_format.euros(funding)} par an",
        "n_communes": _format.integer(r["n_communes"]),
        "departement": None if r["departement"] != r["departement"] else r["departement"],
        **({"professionnels": t} if (t := _text(r.get("professionnels_texte"))) else {}),
    }


def _text(value: Any) -> str | None:
    """Return a non-empty string, or ``None`` for a missing or empty value."""
    if value is None or value != value or str(value) == "":
        return None
    return str(value)


def _proposal_info(proposals: pd.DataFrame) -> list[dict[str, Any]]:
    from couverture._suggest_texts import rank_texts

    out = []
    best = (proposals["recommandee"].astype(str).str.lower() == "oui").tolist()
    # « alternative 2, partie 1/3 »: the parts of one scenario told apart on cards and labels
    ranks = rank_texts(proposals["zone_id"], proposals["rang"], best)
    for r, rank in zip(proposals.to_dict("records"), ranks, strict=True):
        out.append(
            {
                "id": r["proposition"],
                "zone_id": r["zone_id"],
                "option": r["option"],
                "libelle": PROPOSAL_LABELS.get(r["option"], str(r["option"])),
                "recommandee": str(r["recommandee"]).lower() == "oui",
                "rang": rank,
                "cpts_cible": _text(r.get("cpts_cible_id")),
                "cible": _text(r["cpts_cible"]),
                "nom": _text(r["nom_propose"]),
                "etiquette": proposal_label(r["option"], r["cpts_cible"], r["nom_propose"]),
                "texte": proposal_text(r),
                "priorite": _text(r["priorite"]),
                "motif": _text(r["motif"]),
            }
        )
    return out


def _zone_card(r: Any) -> dict[str, Any]:
    """Return the card of a zone blanche (texts.

    ``None``: row left out).
    """
    area = r["superficie_km2"]
    name = r.get("nom_zone")
    return {
        # named by place (« Zone blanche de Vitré et environs »), the id beside it
        "nom": name if isinstance(name, str) else None,
        "population": f"{_format.integer(r['population'])} hab.",
        "n_communes": _format.integer(r["n_communes"]),
        # None for a zone of units without geometry (four Cantal communes)
        "superficie_km2": None
        if area is None or area != area
        else f"{_format.number(area, decimals=1)}\u00a0km²",
        "cpts_voisines": str(r["cpts_voisines"]).replace("|", ", "),
        **({"professionnels": t} if (t := _text(r.get("professionnels_texte"))) else {}),
    }


def _departement_title_and_legend(
    layers: MapLayers,
    departement: str,
    *,
    n_chev: int,
    n_part: int,
    n_zones: int,
    zone_population: int,
    n_covering: int,
    has_projects: bool,
    options: Sequence[str],
    n_proposals: int,
    n_alternatives: int,
    n_porteurs: int,
    national_link: bool,
) -> tuple[str, str]:
    """Return the HTML of the title box (key figures of the département) and of the legend."""
    rate = layers.rates.loc[departement]
    heading = f"Couverture CPTS — {rate['nom']} ({departement})"
    rows = [
        ("Population", _format.integer(rate["population"]) + " hab."),
        *[(f"Couverte ≥ {s.short}", _format.percent(rate[f"taux_{s.code}"])) for s in _stages()],
        ("Zones blanches", f"{n_zones} ({_format.integer(zone_population)} hab.)"),
        *_unclaimed_row(rate),
        ("CPTS (hors projets)", _format.integer(n_covering)),
        ("Chevauchements / partagées", f"{n_chev} / {n_part}"),
        ("Propositions recommandées", _format.integer(n_proposals)),
    ]
    link = (
        f"<p class='cv-sub'><a href='{INDEX_NAME}'>← carte nationale</a></p>"
        if national_link
        else ""
    )
    legend = _departement_legend(
        has_projects=has_projects,
        options=options,
        alternatives=n_alternatives > 0,
        porteurs=n_porteurs > 0,
    )
    return _title_html(layers.meta, heading, rows, link), legend


def _unclaimed_row(rate: pd.Series) -> list[tuple[str, str]]:
    """Return the row of the share of shared communes no CPTS claims (none when nothing is)."""
    unclaimed = int(rate.get("population_non_attribuee", 0) or 0)
    return [("Part non attribuée", f"{_format.integer(unclaimed)} hab.")] if unclaimed else []


def _departement_legend(
    *, has_projects: bool, options: Sequence[str], alternatives: bool, porteurs: bool
) -> str:
    rows = ["<h4>Périmètres des CPTS</h4>"]
    rows += [
        f"<div>{_swatch(s.colour, s.outline, opacity=STAGE_OPACITY[min(s.rank, 3) - 1])}"
        f"{_esc(s.label)}</div>"
        for s in _stages()
    ]
    rows.append(
        f"<div>{_swatch(NEIGHBOUR_FILL, NEIGHBOUR_OUTLINE, opacity=0.15, dash='3 3')}"
        "CPTS voisine (hors département)</div>"
    )
    if has_projects:
        rows.append(
            f"<div>{_swatch('none', PROJECT_COLOUR, opacity=0, dash='2 4')}"
            "Projet avant lettre d'intention</div>"
        )
    rows.append(f"<div>{_swatch(ZONE_COLOUR, ZONE_COLOUR, hatch=True)}Zone blanche</div>")
    rows += [
        f"<div>{_swatch(c, c, opacity=0.25, dash='6 3' if k == 'partage' else '')}"
        f"{OVERLAP_LABELS[k]}</div>"
        for k, c in OVERLAP_COLOURS.items()
    ]
    if options:
        rows.append("<h4>Propositions recommandées</h4>")
        rows += [
            f"<div>{_swatch('none', PROPOSAL_COLOURS.get(o, '#333333'), opacity=0, dash='6 3')}"
            f"{_esc(PROPOSAL_LABELS.get(o, o))}</div>"
            for o in options
        ]
        rows.append(
            "<p class='cv-sub'>Étiquette : la CPTS qui prendrait la zone, ou « "
            f"{NEW_CPTS_LABEL} » et le nom proposé.</p>"
        )
    if alternatives:
        rows.append(
            f"<div>{_swatch('none', '#333333', opacity=0, dash='2 5')}"
            "Proposition alternative (calque à cocher)</div>"
        )
    if porteurs:
        rows.append(
            f"<div><svg width='22' height='14'><circle cx='11' cy='7' r='5' "
            f"fill='{PORTEUR_COLOUR}' stroke='#ffffff' stroke-width='1.5'/></svg>"
            "Porteur potentiel (MSP, centre de santé)</div>"
        )
    rows.append("<p class='cv-sub'>Cliquez sur une commune : fiches CPTS et zone blanche.</p>")
    return "".join(rows)


def _national_legend(outside: str | None = None) -> str:
    """Return the legend of the choropleth classes (and of the départements ``outside``)."""
    legend = "<h4>Population couverte</h4>" + "".join(
        f"<div>{_swatch(c, '#444444', opacity=0.85)}"
        + (
            f"{lo} à {RATE_CLASSES[i + 1][0]}\u00a0%"
            if i + 1 < len(RATE_CLASSES)
            else f"{lo}\u00a0% et plus"
        )
        + "</div>"
        for i, (lo, c) in enumerate(RATE_CLASSES)
    )
    if outside:
        legend += f"<div>{_swatch(OUTSIDE_FILL, '#888888', opacity=0.6)}{_esc(outside)}</div>"
    return legend + "<p class='cv-sub'>Cliquez sur un département pour ouvrir sa carte.</p>"
