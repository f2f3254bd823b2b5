"""The words of a plan d'action: sheets, columns, closed lists, situations.

The machine keys of every column (the CSV outputs) and their headers in the meeting's
language (the workbook), the closed lists of ``config/plan.toml`` (strategies, statuts,
milestones…) and how a typed word becomes a machine key (:func:`key`), shared by the reading,
the reconciliation and the writing of the plan (:mod:`couverture.plan`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from couverture._config import toml

if TYPE_CHECKING:
    import pandas as pd

SHEET_PROJECTS = "projets"
SHEET_MILESTONES = "jalons"
SHEET_CPTS = "cpts"
SHEET_README = "lisez-moi"
SHEET_LISTS = "listes"
#: The one sheet of plans written before projects (read, never written).
SHEET_ZONES = "zones"
OWN_SHEETS = (SHEET_PROJECTS, SHEET_MILESTONES, SHEET_CPTS, SHEET_README, SHEET_LISTS)

#: Columns of sheet ``projets``: machine key → header (meeting language).
PROJECT_TITLES = {
    "projet_id": "Projet",
    "departement": "Département",
    "type": "Stratégie retenue",
    "cpts": "CPTS à étendre ou à créer",
    "cpts_mentor": "CPTS mentor",
    "porteur": "Porteur",
    "communes": "Communes (codes INSEE)",
    "noms": "Noms des communes",
    "population": "Population",
    "zones": "Zones blanches servies",
    "situation": "Situation",
    "cpts_couvrantes": "CPTS présentes",
    "proposition": "Proposition de l'outil",
    "statut": "Statut",
    "fir_montant": "Coordonnateur FIR : montant annuel (€)",
    "fir_etp": "Coordonnateur FIR : ETP",
    "fir_debut": "Coordonnateur FIR : début",
    "fir_duree": "Coordonnateur FIR : durée (mois)",
    "fir_mutualise": "Coordonnateur mutualisé avec",
    "modalites_suivi": "Modalités de suivi",
    "acteurs": "Acteurs associés",
    "actions": "Actions",
    "commentaire": "Commentaire",
    "origine": "Origine",
}
#: Columns computed from the registry (rewritten at each generation, grey).
COMPUTED = ("noms", "population", "zones", "situation", "cpts_couvrantes", "proposition", "origine")
#: Columns a task force types (carried over), apart from the perimeter.
DECISION_COLUMNS = [
    k for k in PROJECT_TITLES if k not in COMPUTED and k not in ("projet_id", "departement")
]
NUMBER_COLUMNS = ("fir_montant", "fir_etp", "fir_duree")
DATE_COLUMNS = ("fir_debut",)
#: Columns of sheet ``jalons``.
MILESTONE_TITLES = {
    "projet_id": "Projet",
    "jalon": "Jalon",
    "prevue": "Date prévue",
    "realisee": "Date réalisée",
    "responsable": "Responsable",
    "commentaire": "Commentaire",
    "constat": "Constaté au registre",
}
MILESTONE_DATES = ("prevue", "realisee")

#: Situations of a perimeter (machine key → words).
SITUATIONS = {
    "blanche": "blanche",
    "en_partie_couverte": "en partie couverte",
    "couverte_cpts_designee": "couverte par la CPTS désignée",
    "couverte_autre_cpts": "couverte par une autre CPTS",
}
WHITE, PARTLY, COVERED, COVERED_OTHER = SITUATIONS
NO_DECISION = "sans_decision"
PROPOSED = "propose"
#: Label of the reference date in sheet lisez-moi.
REFERENCE_DATE_LABEL = "Date de référence (retards, mois au stade)"
DEPARTEMENTS_LABEL = "Départements du plan"
#: Hidden list of the CPTS the registry held when the plan was written (a new one is born since).
REGISTRY_CPTS_LABEL = "CPTS du registre"

FOLLOW_UP_COLUMNS = [
    "projet_id",
    "zone_id",
    "departement",
    "type",
    "cpts",
    "communes",
    "population",
    "situation",
    "prochain_jalon",
    "echeance",
    "en_retard",
    "statut",
    "cpts_couvrantes",
    "jalons_realises",
    "jalons_en_retard",
    "origine",
]

#: Headers of the follow-up in a workbook or a page (meeting language).
FOLLOW_UP_TITLES = {
    "projet_id": "Projet",
    "zone_id": "Zone blanche",
    "departement": "Département",
    "type": "Stratégie retenue",
    "cpts": "CPTS",
    "communes": "Communes (codes INSEE)",
    "population": "Population",
    "situation": "Situation",
    "prochain_jalon": "Prochain jalon",
    "echeance": "Échéance",
    "en_retard": "En retard",
    "statut": "Statut",
    "cpts_couvrantes": "CPTS présentes",
    "jalons_realises": "Jalons réalisés",
    "jalons_en_retard": "Jalons en retard",
    "origine": "Origine",
}

#: Columns of sheet ``cpts`` (:func:`couverture.alerts.cpts_alerts`).
CPTS_TITLES = {
    "cpts_id": "Identifiant",
    "nom": "CPTS",
    "departement": "Département",
    "stade": "Stade",
    "date_lettre_intention": "Date de la lettre d'intention",
    "date_projet_sante": "Date du projet de santé",
    "date_aci": "Date de l'ACI",
    "date_stade": "Au stade depuis",
    "mois_au_stade": "Mois au stade",
    "population": "Population",
    "taille": "Taille ACI",
    "alerte": "Alerte",
    "professionnels": "Professionnels de santé",
}

#: A problem found in a plan: sheet, row, value, message (:class:`couverture._errors.PlanError`).
Problem = tuple[str | None, int | None, str, str]


def vocabulary() -> dict[str, list[str]]:
    """Return the closed lists of ``config/plan.toml`` (``strategies``, ``statuts``…)."""
    return {k: list(v) for k, v in toml("plan.toml").items() if isinstance(v, list)}


def plan_settings() -> dict[str, Any]:
    """Return the settings of ``config/plan.toml`` (``part_revendiquee``, ``jalons_stades``…)."""
    return toml("plan.toml")


def key(text: str) -> str:
    """Machine key of a word: no accents, lower case, ``_`` for spaces (« Création » → creation)."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^0-9a-z]+", "_", ascii_text.lower()).strip("_")


def words(kind: str) -> dict[str, str]:
    """Machine key → words of a closed list of ``config/plan.toml`` (``strategies``…)."""
    return {key(w): w for w in vocabulary().get(kind, [])}


def in_words(value: str, kind: str) -> str:
    """Return the words of a machine key (« rattachement_temporaire » → in words)."""
    if kind == "situations":
        return SITUATIONS.get(value, value)
    return words(kind).get(value, value)


def cpts_key(name: str) -> str:
    """Compare CPTS names without accents, case, punctuation nor the word « CPTS »."""
    return re.sub(r"(^|_)cpts(_|$)", r"\1", key(name)).strip("_")


def same_cpts(a: str, b: str) -> bool:
    """Whether two CPTS names designate the same CPTS (one name contains the other)."""
    ka, kb = cpts_key(a), cpts_key(b)
    if not ka or not kb:
        return False
    return ka == kb or (min(len(ka), len(kb)) >= 6 and (ka in kb or kb in ka))


def departement_of(code: str) -> str:
    """Département of a commune code (``974`` for ``97411``, ``2A`` for ``2A004``)."""
    return code[:3] if code.startswith("97") else code[:2]


def frame_in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """Return closed values in the meeting's words (the workbook), machine keys elsewhere."""
    out = frame.copy()
    for column, kind in (("type", "strategies"), ("statut", "statuts")):
        if column in out:
            out[column] = out[column].map(lambda v, k=kind: in_words(str(v or ""), k))
    if "situation" in out:
        out["situation"] = out["situation"].map(lambda v: SITUATIONS.get(str(v), str(v)))
    return out
