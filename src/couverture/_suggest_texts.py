"""The French explanations of the proposals: the ``motif`` and ``details`` of each row.

:mod:`couverture.suggest` draws the perimeters; this module words them (what a perimeter
follows, the CPTS it extends, its taille and funding before and after, the band it was sized
on). The rows are built here from a :class:`~couverture._suggest_context._Context`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from couverture._config import stage
from couverture._format import integer, number

if TYPE_CHECKING:
    from couverture._suggest_context import _Band, _Context, _Graph


def rank_texts(
    zones: Iterable[Any],
    ranks: Iterable[Any],
    recommended: Iterable[bool],
    *,
    short: bool = False,
) -> list[str]:
    """Name each proposal row as the documents show it, the parts of one scenario told apart.

    « recommandée » or « alternative 2 »; when an alternative of a zone has several parts (one
    per CPTS that extends, or several creations), each part says which: « alternative 2,
    partie 1/3 », numbered in the order of the rows. The recommended parts stay « recommandée »:
    the fiche numbers them (key 1, 2… on its map and table) and the map draws each one.

    Parameters
    ----------
    zones, ranks, recommended
        The ``zone_id``, ``rang`` and whether ``recommandee`` is « oui » of each row.
    short
        « alt. 2, partie 1/3 » for a part: a fiche's table keeps each row on one line (its A4
        page has no line to spare).

    Examples
    --------
    >>> rank_texts("ZZZZZ", [1, 1, 2, 2, 3], [True, True, False, False, False])[1:]
    ['recommandée', 'alternative 2, partie 1/2', 'alternative 2, partie 2/2', 'alternative 3']
    """
    rows = [
        (str(z), int(float(r)) if str(r).replace(".", "", 1).isdigit() else str(r), bool(best))
        for z, r, best in zip(zones, ranks, recommended, strict=True)
    ]
    total = Counter((z, r, best) for z, r, best in rows)
    seen: Counter[tuple[str, Any, bool]] = Counter()
    out = []
    for key in rows:
        seen[key] += 1
        if key[2]:
            out.append("recommandée")
            continue
        n = total[key]
        if n == 1:
            out.append(f"alternative {key[1]}")
        else:
            out.append(f"{'alt.' if short else 'alternative'} {key[1]}, partie {seen[key]}/{n}")
    return out


def _communes(n: int) -> str:
    return f"{n} commune" + ("s" if n > 1 else "")


def _km(metres: float) -> str:
    return f"{number(metres / 1000, decimals=1)} km"


def _epci_name(g: _Graph, epci: str) -> str:
    """« communauté de communes du Sisteronais » (lower-case legal form, else « EPCI … »)."""
    label = g.nom_epci.get(epci, "")
    if label.lower().startswith(("communauté", "métropole")):
        return label[0].lower() + label[1:]
    return f"EPCI {label or epci}"


def _follows(ctx: _Context, region: list[int], zone: set[int]) -> str:
    """Return what a new perimeter follows, in a few words (EPCIs, a bassin de vie or communes)."""
    g = ctx.graph
    pops: dict[str, float] = defaultdict(float)
    for v in region:
        pops[str(g.epci[v])] += g.pop[v] + 1e-6
    epcis = sorted(pops, key=lambda e: (-pops[e], e))
    inside = set(region)
    whole = all(str(g.epci[v]) not in pops or v in inside for v in zone)
    names = [_epci_name(g, e) for e in epcis]
    if whole and len(epcis) == 1:
        label = names[0]
        return f"suit la {label}" if not label.startswith("EPCI") else f"suit l'{label}"
    if whole:
        shown = ", ".join(_short(n) for n in names[:2])
        more = len(epcis) - 2
        return f"regroupe {len(epcis)} EPCI entiers ({shown}{' …' if more > 0 else ''})"
    bassins = {str(g.bassin[v]) for v in region}
    where = _short(names[0])
    if len(bassins) == 1:
        bassin = g.nom_bassin.get(next(iter(bassins)), "") or "non renseigné"
        return f"suit le bassin de vie {_of(bassin)} dans la {where}".replace("la EPCI", "l'EPCI")
    if len(epcis) == 1:
        return f"partie de la {where} (découpage par communes)".replace("la EPCI", "l'EPCI")
    return f"surtout la {where}, avec des communes voisines".replace("la EPCI", "l'EPCI")


def _the_cpts(name: str) -> str:
    """« la CPTS du Pays de Gap »: a CPTS named in a sentence (« CPTS » added when it lacks it).

    Examples
    --------
    >>> _the_cpts("CPTS du Pays de Gap"), _the_cpts("Drôme Provençale Enclave des Papes")
    ('la CPTS du Pays de Gap', 'la CPTS Drôme Provençale Enclave des Papes')
    """
    name = " ".join(str(name).split())
    return f"la {name}" if name.split(" ", 1)[0].upper() == "CPTS" else f"la CPTS {name}"


def _of(name: str) -> str:
    """« de Gap », « d'Aix-en-Provence »."""
    return f"d'{name}" if name[:1].lower() in "aeiouyéèêâîôûh" else f"de {name}"


def _brief(parts: list[str], limit: int = 200) -> str:
    """Return the parts joined by « ; » in at most ``limit`` characters.

    The first part (what the perimeter follows) is shortened when needed, the reasons after it
    are kept.
    """
    text = " ; ".join(parts)
    if len(text) <= limit or not parts:
        return text
    room = max(limit - (len(text) - len(parts[0])) - 2, 20)
    head = parts[0][:room].rsplit(" ", 1)[0] + " …"
    text = " ; ".join([head, *parts[1:]])
    return text if len(text) <= limit else text[: limit - 2].rsplit(" ", 1)[0] + " …"


def _short(label: str) -> str:
    """Return an EPCI name without its legal form.

    (« communauté de communes du Sisteronais » → « CC du Sisteronais »).
    """
    for long, short in (
        ("communauté de communes", "CC"),
        ("communauté d'agglomération", "CA"),
        ("communauté urbaine", "CU"),
        ("métropole", "métropole"),
    ):
        if label.lower().startswith(long):
            return short + label[len(long) :]
    return label


def _bassins_text(ctx: _Context, units: list[int]) -> str:
    g = ctx.graph
    pops: dict[str, float] = defaultdict(float)
    for v in units:
        pops[str(g.bassin[v])] += g.pop[v]
    total = sum(pops.values()) or 1.0
    top = sorted(pops.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    named = [(g.nom_bassin.get(b, b) or "non renseigné", share / total) for b, share in top]
    if len(pops) == 1:
        return f"bassin de vie de {named[0][0]}"
    shown = ", ".join(f"{n} ({round(100 * s)} %)" for n, s in named)
    return f"bassins de vie {shown}" + (" …" if len(pops) > 2 else "")


def _funding_text(ctx: _Context, before: int, after: int) -> str:
    fa, fb = ctx.funding.get(before, 0), ctx.funding.get(after, 0)
    if before == after:
        return f"reste en taille {after}"
    gain = f"{'+' if fb >= fa else ''}{integer(fb - fa)}"
    return f"passe de la taille {before} à la taille {after} (financement max {gain} €)"


def _extension_lead(ctx: _Context, cid: str, units: list[int]) -> str:
    """Why this CPTS takes these units, in a few words.

    The EPCI or bassin de vie it already holds most of, else the shared border.
    """
    g = ctx.graph
    # named: in a fiche or on a map the motif is read away from the row naming the CPTS
    cpts = _the_cpts(ctx.cpts.nom[cid])
    epci = g.main(g.epci, units)
    held = ctx.cpts.epci_share.get(cid, {}).get(epci, 0.0)
    bassin = g.main(g.bassin, units)
    in_bassin = ctx.cpts.bassin_share.get(cid, {}).get(bassin, 0.0)
    # the larger of the two: a CPTS holding 8 % of a métropole but most of the bassin de vie
    if held >= 0.05 and held >= in_bassin:
        where = f"la {_short(_epci_name(g, epci))}".replace("la EPCI", "l'EPCI")
        return f"{cpts} couvre déjà {round(100 * held)} % de {where}"
    held = in_bassin
    if held >= 0.05:
        name = g.nom_bassin.get(bassin, "") or "non renseigné"
        return f"{cpts} couvre déjà {round(100 * held)} % du bassin de vie {_of(name)}"
    border = sum(b for v in units for u, b in g.adj[v] if cid in ctx.cpts.of_unit[u])
    return f"frontière commune de {_km(border)} avec {cpts}"


def _cpts_row(
    ctx: _Context,
    option: str,
    cid: str,
    units: list[int],
    base: float,
    notes: list[str],
    *,
    lead: str = "",
) -> dict[str, Any]:
    g = ctx.graph
    added = g.population(units)
    after = base + added
    t0, t1 = ctx.size(base), ctx.size(after)
    stade = ctx.cpts.stade[cid]
    motif = list(notes)
    short = [lead or _extension_lead(ctx, cid, units)]
    if option == "extension":
        border = sum(b for v in units for u, b in g.adj[v] if cid in ctx.cpts.of_unit[u])
        motif.append(f"frontière commune {_km(border)}")
        in_bassin = sum(g.pop[v] for v in units if g.bassin[v] in ctx.cpts.bassins.get(cid, ()))
        share = round(100 * in_bassin / added) if added else 0
        motif.append(f"{share} % de la population ajoutée dans les bassins de vie de la CPTS")
    if stade == "aci":
        motif.append("CPTS au stade ACI : peut accompagner")
    elif stade == "lettre_intention":
        motif.append("CPTS jeune (lettre d'intention) : à ne pas surcharger")
    else:
        motif.append(f"CPTS au stade {stage(stade).short}")
    motif.append(f"population résultante {integer(after)} : {_funding_text(ctx, t0, t1)}")
    if t1 != t0:
        short.append(f"passe en taille {t1}")
    if after > ctx.ceiling:
        motif.append(f"au-delà du plafond de taille cohérente ({integer(ctx.ceiling)} habitants)")
        short.append("au-delà du plafond")
    if abs(base - ctx.cpts.pop0[cid]) > 0.5:
        motif.append("compte tenu des extensions déjà proposées pour des zones plus peuplées")
    where = ctx.outside(units, cid)
    if where == "région":
        short.append("hors région, faute de CPTS voisine de la région")
    elif where == "département":
        short.append("hors département, faute de CPTS voisine du département")
    return {
        "option": option,
        "cpts_cible": ctx.cpts.nom[cid],
        "cpts_cible_id": cid,
        "nom_propose": "",
        "units": units,
        "population_ajoutee": round(added),
        "population_resultante": round(after),
        "taille_avant": t0,
        "taille_apres": t1,
        "financement_max_avant": ctx.funding[t0],
        "financement_max_apres": ctx.funding[t1],
        "motif": _brief(short),
        "details": " ; ".join(motif),
        "hors_territoire": where,
        "cpts_mentor": "",
        "cpts_mentor_id": "",
    }


def _band_text(band: _Band) -> str:
    if band.source:
        return f"taille des {band.source.rsplit(' (', 1)[0]} : {band.text()}"
    return f"bornes par défaut : {band.text()}"


def _creation_row(
    ctx: _Context,
    units: list[int],
    notes: list[str],
    *,
    lead: str = "",
    why: str = "",
    zone: set[int] | None = None,
) -> dict[str, Any]:
    g = ctx.graph
    population = g.population(units)
    main = max(units, key=lambda v: (g.pop[v], -v))
    taille = ctx.size(population)
    band = ctx.band(units)
    motif = [f"nouvelle CPTS de {integer(population)} habitants ({_communes(len(units))})"]
    motif.append(_bassins_text(ctx, units))
    motif.extend(notes)
    short = [lead or _follows(ctx, units, zone if zone is not None else set(units))]
    short.append(_band_text(band))
    if band.source:
        motif.append(f"taille calibrée sur les {band.source} : {band.text()}")
    if band.lowered:
        lowered = f"plancher abaissé à {integer(band.plancher)} hab. : {band.lowered}"
        motif.append(f"{lowered} (plancher par défaut {integer(ctx.floor)} hab.)")
        if population < ctx.floor:
            short.append(lowered)
    if population < band.low:
        motif.append(f"sous le plancher de {integer(band.low)} habitants")
        short.append(why or "sous la taille visée")
    if population > band.high:
        if len(units) == 1:
            text = (
                f"{g.nom[main]} compte à elle seule {integer(population)} habitants, au-delà du "
                f"plafond de {integer(band.high)} : périmètre à partager entre plusieurs CPTS"
            )
            motif.append(text)
            short.append(why or f"{g.nom[main]} dépasse à elle seule le plafond")
        else:
            motif.append(f"au-delà du plafond de {integer(band.high)} habitants")
            short.append(why or "au-delà du plafond")
    motif.append(f"financement max {integer(ctx.funding[taille])} € (taille {taille})")
    deps = {str(g.dep[v]) for v in units}
    regions = {str(g.region[v]) for v in units}
    return {
        "option": "creation",
        "cpts_cible": "",
        "cpts_cible_id": "",
        "nom_propose": f"CPTS {g.nom[main]}",
        "units": units,
        "population_ajoutee": round(population),
        "population_resultante": round(population),
        "taille_avant": 0,
        "taille_apres": taille,
        "financement_max_avant": 0,
        "financement_max_apres": ctx.funding[taille],
        "motif": _brief(short),
        "details": " ; ".join(motif),
        "hors_territoire": "région" if len(regions) > 1 else "département" if len(deps) > 1 else "",
        "cpts_mentor": "",
        "cpts_mentor_id": "",
    }
