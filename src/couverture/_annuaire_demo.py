"""A fictitious annuaire in the layout of the published RPPS extract (demo and benchmark).

Every person is named « FICTIF »: the file shows the pipeline at work on the real geography
(the communes of the store and their population), never real professionals. Densities per
inhabitant are of the order of France's; ``scale`` multiplies them (the benchmark writes a
national extract of about 2 million lines with ``scale=3``). A few lines carry the traps of the
real file: a second site in another commune, lines without a commune code, sites abroad.

Private to :mod:`couverture.demo` (and ``benchmarks/``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from couverture._annuaire import RPPS_COLUMNS
from couverture._output import atomic_path

# (Code profession, Libellé, Code savoir-faire, Libellé savoir-faire, per 100,000 inhabitants,
#  share libéral)
_PROFILES = (
    ("10", "Médecin", "SM54", "Médecine Générale", 70.0, 0.75),
    ("10", "Médecin", "SM53", "Spécialiste en Médecine Générale", 20.0, 0.8),
    ("10", "Médecin", "SM04", "Cardiologie et maladies vasculaires", 10.0, 0.5),
    ("10", "Médecin", "SM32", "Pédiatrie", 12.0, 0.4),
    ("10", "Médecin", "SM02", "Anesthésie-réanimation", 18.0, 0.2),
    ("60", "Infirmier", "", "", 280.0, 0.35),
    ("70", "Masseur-Kinésithérapeute", "", "", 130.0, 0.85),
    ("21", "Pharmacien", "", "", 110.0, 0.45),
    ("50", "Sage-Femme", "", "", 35.0, 0.3),
    ("40", "Chirurgien-Dentiste", "", "", 65.0, 0.9),
    ("28", "Opticien-Lunetier", "", "", 55.0, 0.1),
    ("26", "Audioprothésiste", "", "", 10.0, 0.2),
)
_MODES = {"L": "Libéral, indépendant, artisan, commerçant", "S": "Salarié"}
_SECOND_SITE = 0.12
_NO_COMMUNE = 0.003
_ABROAD = 0.001


def lines_per_inhabitant() -> float:
    """Return the expected lines per inhabitant at ``scale=1`` (to size an extract)."""
    density = sum(p[4] for p in _PROFILES) / 100_000
    return density * (1 + _SECOND_SITE)


def _postal(code: str) -> str:
    """Return a postal code for a fictitious address (arrondissements: 75115 → 75015)."""
    if code.startswith(("751", "132")):  # Paris, Marseille: 751NN → 750NN, 132NN → 130NN
        return code[:2] + "0" + code[3:]
    if code.startswith("6938"):  # Lyon: 6938N → 6900N
        return "6900" + code[4]
    return code[:3] + "00" if code.startswith("97") else code[:2] + "000"


def generate_lines(
    units: pd.DataFrame, *, seed: int = 2026, scale: float = 1.0
) -> Iterable[list[str]]:
    """Yield the fields of each line (``RPPS_COLUMNS`` order) for the units given.

    ``units``: ``code``, ``nom``, ``departement``, ``population``.
    """
    rng = np.random.default_rng(seed)
    units = units[units["population"] > 0].reset_index(drop=True)
    codes = units["code"].astype(str).to_numpy()
    names = units["nom"].astype(str).to_numpy()
    deps = units["departement"].astype(str).to_numpy()
    pop = units["population"].to_numpy(dtype=float)
    by_dep = pd.Series(np.arange(len(units))).groupby(deps).apply(np.asarray).to_dict()
    # professionals concentrate in towns: weight grows faster than population
    weight = pop**1.15
    at = {name: i for i, name in enumerate(RPPS_COLUMNS)}
    number = 0
    for profile in _PROFILES:
        density, liberal_share = profile[4], profile[5]
        n_total = rng.poisson(density * scale * pop.sum() / 100_000)
        unit_of = rng.choice(len(units), size=n_total, p=weight / weight.sum())
        liberal = rng.random(n_total) < liberal_share
        second = rng.random(n_total) < _SECOND_SITE
        trap = rng.random(n_total)
        for k in range(n_total):
            number += 1
            u = int(unit_of[k])
            sites = [u]
            if second[k]:
                pool = by_dep[deps[u]]
                sites.append(int(pool[rng.integers(len(pool))]))
            for site in sites:
                place = (codes[site], names[site], deps[site])
                yield _row(at, number, profile, bool(liberal[k]), float(trap[k]), place)


def _row(
    at: dict[str, int],
    number: int,
    profile: tuple[str, str, str, str, float, float],
    liberal: bool,
    trap: float,
    place: tuple[str, str, str],
) -> list[str]:
    """Return the fields of one line: a fictitious person's activity site."""
    profession, label, sf_code, sf_label, _, _ = profile
    code, name, dep = place
    row = [""] * len(RPPS_COLUMNS)
    pp = f"{10_000_000_000 + number:011d}"
    row[at["Type d'identifiant PP"]] = "8"
    row[at["Identifiant PP"]] = pp
    row[at["Identification nationale PP"]] = "8" + pp
    row[at["Nom d'exercice"]] = "FICTIF"
    row[at["Prénom d'exercice"]] = f"Démo {number}"
    row[at["Code profession"]] = profession
    row[at["Libellé profession"]] = label
    row[at["Code catégorie professionnelle"]] = "C"
    row[at["Libellé catégorie professionnelle"]] = "Civil"
    if sf_code:
        row[at["Code type savoir-faire"]] = "S"
        row[at["Libellé type savoir-faire"]] = "Spécialité ordinale"
        row[at["Code savoir-faire"]] = sf_code
        row[at["Libellé savoir-faire"]] = sf_label
    mode = "L" if liberal else "S"
    row[at["Code mode exercice"]] = mode
    row[at["Libellé mode exercice"]] = _MODES[mode]
    row[at["Raison sociale site"]] = f"CABINET FICTIF {number}"
    row[at["Numéro Voie (coord. structure)"]] = str(1 + number % 97)
    row[at["Libellé Voie (coord. structure)"]] = "RUE DE LA DEMONSTRATION"
    row[at["Téléphone (coord. structure)"]] = f"0{100000000 + number % 899999999}"
    row[at["Adresse e-mail (coord. structure)"]] = f"fictif.{number}@exemple.invalid"
    if trap < _ABROAD:
        row[at["Code pays (coord. structure)"]] = "99109"
        row[at["Libellé pays (coord. structure)"]] = "Allemagne"
        row[at["Libellé commune (coord. structure)"]] = "Kehl"
    elif trap < _ABROAD + _NO_COMMUNE:
        row[at["Libellé commune (coord. structure)"]] = name.upper()
    else:
        row[at["Code postal (coord. structure)"]] = _postal(code)
        row[at["Code commune (coord. structure)"]] = code
        row[at["Libellé commune (coord. structure)"]] = name
        row[at["Code Département (structure)"]] = dep
    row[at["Autorité d'enregistrement"]] = "FICTIF"
    return row


def write_annuaire(
    path: Path | str,
    units: pd.DataFrame,
    *,
    seed: int = 2026,
    scale: float = 1.0,
) -> tuple[Path, int]:
    """Write the fictitious extract (UTF-8, ``|``, published header); return it and its lines."""
    path = Path(path)
    lines = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write("|".join(RPPS_COLUMNS) + "\n")
        batch: list[str] = []
        for row in generate_lines(units, seed=seed, scale=scale):
            # every line ends with "|", as the header's empty last column says
            batch.append("|".join(row[:-1]) + "|")
            if len(batch) >= 50_000:
                fh.write("\n".join(batch) + "\n")
                lines += len(batch)
                batch = []
        if batch:
            fh.write("\n".join(batch) + "\n")
            lines += len(batch)
    return path, lines


#: Départements of the demo annuaire (those `make demo` shows; elsewhere no annuaire).
DEMO_DEPARTEMENTS = ("06", "35", "53", "67")


def _persons_by_cpts(path: Path, registry: pd.DataFrame) -> pd.Series:
    """Distinct persons of the written extract with a site in each CPTS of the registry."""
    sites = pd.read_csv(
        path,
        sep="|",
        usecols=["Identification nationale PP", "Code commune (coord. structure)"],
        dtype=str,
        quoting=3,
    ).dropna()
    sites.columns = ["personne", "code"]
    members = registry[["cpts_id", "code_commune"]].rename(columns={"code_commune": "code"})
    joined = sites.merge(members.astype(str), on="code").drop_duplicates(["cpts_id", "personne"])
    return joined.groupby("cpts_id").size()


def write_demo_files(
    annuaire: Path | str,
    adhesions: Path | str | None,
    *,
    units: pd.DataFrame,
    registry: pd.DataFrame,
    departements: tuple[str, ...] = DEMO_DEPARTEMENTS,
    seed: int = 2026,
) -> tuple[Path, int]:
    """Write the fictitious annuaire of ``departements`` and, optionally, adhesions.

    The adhesions CSV (``cpts;adherents;actifs``) gives most CPTS of these départements 5 to
    30 % of their professionals as adherents, a part of them active, never more than the
    professionals counted (no warning on a demo run); a few CPTS give nothing (not yet
    reported).
    """
    units = units[units["departement"].astype(str).isin(departements)]
    path, lines = write_annuaire(annuaire, units, seed=seed)
    if adhesions is None:
        return path, lines
    rng = np.random.default_rng(seed + 1)
    counts = _persons_by_cpts(path, registry)
    rows = ["cpts;adherents;actifs"]
    for cpts_id, n in counts.sort_index().items():
        draw = rng.random()
        if draw < 0.15:
            continue  # not reported yet
        adherents = min(round(n * (0.05 + 0.25 * rng.random())), int(n))
        actifs = round(adherents * (0.3 + 0.4 * rng.random()))
        rows.append(f"{cpts_id};{adherents};{actifs}")
    with atomic_path(Path(adhesions)) as tmp:
        tmp.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path, lines
