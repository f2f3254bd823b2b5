"""The commands of the command line: each checks its options, makes its library calls, emits.

:mod:`couverture.cli` holds the parser, the logging and the entry points; the commands here
read the analysis through the answer cache of :mod:`couverture._cli_cache`.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture import settings
from couverture._cli_cache import _analysis
from couverture._config import stage_codes
from couverture._emit import emit_geo, emit_table
from couverture._errors import ArgumentError
from couverture._format import integer, plural
from couverture._output import FILE_ONLY, output_target

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis
    from couverture.professionnels import Annuaire

log = logging.getLogger("couverture")


# output format implied by a --sortie file extension
_FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".gpkg": "gpkg",
    ".geojson": "geojson",
    ".json": "geojson",
    ".txt": "tableau",
}


def _accepted_suffixes(formats: Sequence[str]) -> str:
    return ", ".join(s for s, f in _FORMAT_BY_SUFFIX.items() if f in formats)


def _check_output(args: argparse.Namespace) -> None:
    """Resolve ``--format`` from ``--sortie`` and refuse outputs that would lose data."""
    if "format" not in args:
        return
    out: Path | None = args.sortie
    formats = getattr(args, "formats_sortie", tuple(_FORMAT_BY_SUFFIX.values()))
    implied = None
    if out is not None and out.suffix and not _is_stream(out):
        implied = _FORMAT_BY_SUFFIX.get(out.suffix.lower())
        if implied is None or implied not in formats:
            what = "non reconnue" if implied is None else f"(format {implied}) non disponible"
            raise ArgumentError(
                f"--sortie {out} : extension {out.suffix} {what} pour cette commande ; "
                f"extensions acceptées : {_accepted_suffixes(formats)} "
                "(ou un nom sans extension avec --format)"
            )
    if args.format is None:
        args.format = implied or "tableau"
    elif implied is not None and implied != args.format:
        assert out is not None
        raise ArgumentError(
            f"--sortie {out} : l'extension {out.suffix} ne correspond pas au format "
            f"{args.format} (choisir --format {implied} ou une autre extension)"
        )
    if out is None:
        return
    if out.is_dir():
        raise ArgumentError(f"--sortie {out} : c'est un dossier, un nom de fichier est attendu")
    if not out.parent.is_dir():
        raise ArgumentError(f"--sortie {out} : le dossier {out.parent} n'existe pas")
    reason = _owned_file(out, args)
    if reason is not None:
        raise ArgumentError(f"--sortie {out} : {reason}, il serait écrasé ; choisir un autre nom")
    output_target(out)  # a symlink's target must be a regular file (or a terminal, a pipe)


def _is_stream(path: Path) -> bool:
    """Tell whether ``path`` is a terminal, device or pipe, written through.

    For example ``/dev/stdout`` or a FIFO.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _owned_file(out: Path, args: argparse.Namespace) -> str | None:
    """Why ``out`` must not be overwritten (a file the project reads or owns), or ``None``.

    Paths are compared resolved (symlinks followed) and, for existing files, by identity
    (``samefile``: a hard link is the same file).
    """
    if _is_stream(out):
        return None
    real = Path(os.path.realpath(out))
    history = getattr(args, "historique", None) or settings.HISTORY_PATH
    files: list[tuple[Path, str]] = [
        (history, "c'est la base de l'historique"),
        (Path(f"{history}.wal"), "c'est un fichier de la base de l'historique"),
    ]
    if getattr(args, "registre", None) is not None:
        files.append((Path(args.registre), "ce fichier est le registre lu"))
    if getattr(args, "plan", None) is not None:
        files.append((Path(args.plan), "ce fichier est le plan d'action lu"))
    root = settings.PROJECT_ROOT
    for name in ("pyproject.toml", "Makefile", "README.md", "LICENSE", "constraints.txt"):
        files.append((root / name, "c'est un fichier du projet"))
    folders: list[tuple[Path, str, bool]] = [
        (settings.PROCESSED_DIR, "c'est un fichier des données construites (make data)", False),
        (settings.PACKAGE_DIR, "c'est un fichier du paquet couverture", False),
        (settings.RAW_DIR, "c'est un fichier source du projet (data/raw)", True),
    ]
    for path, reason in files:
        if real == Path(os.path.realpath(path)) or _same_file(out, path):
            return reason
    for folder, reason, existing_only in folders:
        inside = real.is_relative_to(Path(os.path.realpath(folder)))
        if inside and (real.exists() or not existing_only):
            return reason
        if folder.is_dir() and out.exists():
            for path in folder.rglob("*") if folder != settings.RAW_DIR else folder.iterdir():
                if path.is_file() and _same_file(out, path):
                    return reason
    if _is_duckdb(real):
        return "c'est une base DuckDB (historique ou base de données de couverture)"
    if real.name.endswith(".wal") and _is_duckdb(real.with_name(real.name[: -len(".wal")])):
        return "c'est le journal d'une base DuckDB"
    return None


def _check_demo_output(out: Path | None) -> None:
    """Refuse a demo output onto a project file (a demo registry of data/raw may be replaced)."""
    if out is None:
        return
    real = Path(os.path.realpath(out))
    demo = (
        settings.DEMO_REGISTRY_PATH,
        settings.RAW_DIR / "registre_demo_precedent.csv",
        settings.RAW_DIR / "annuaire_demo.txt",
        settings.RAW_DIR / "adhesions_demo.csv",
    )
    if any(real == Path(os.path.realpath(d)) for d in demo):
        return
    reason = _owned_file(out, argparse.Namespace())
    if reason is not None:
        raise ArgumentError(f"--sortie {out} : {reason}, il serait écrasé ; choisir un autre nom")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _is_duckdb(path: Path) -> bool:
    """Tell whether ``path`` is a DuckDB database file (magic ``DUCK`` at byte 8)."""
    try:
        with path.open("rb") as fh:
            return fh.read(12)[8:12] == b"DUCK"
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------
# what every command emits
# ------------------------------------------------------------------------------------------------
def _stamp(frame: pd.DataFrame, a: Analysis) -> pd.DataFrame:
    """Add the vintages and registry label to a machine table."""
    out = frame.copy()
    if "population_millesime" not in out:
        out["population_millesime"] = a.meta["population_millesime"]
    out["cog"] = a.meta["cog"]
    out["registre"] = a.meta["libelle_registre"]
    out["perimetre"] = _perimeter(a)
    return out


def _perimeter(a: Analysis) -> str:
    if a.departements is None:
        return "France"
    of = " du registre" if a.extent_source == "registre" else ""
    return f"départements{of} " + ",".join(a.departements)


def _caption(a: Analysis) -> str:
    label = "REGISTRE FICTIF (démonstration) — " if a.meta["fictif"] else ""
    return (
        f"{label}registre {a.meta['registre']} · {a.meta['date_registre_texte']}"
        f" · périmètre : {_perimeter(a)}"
        f" · population {a.meta['population_millesime']} · COG {a.meta['cog']}"
    )


def _warn_regional(a: Analysis) -> None:
    """Say it when a registry of a few départements is read against all of France.

    Its zones blanches, rates and proposals then cover the whole country: the user most likely
    wanted ``--departement`` (a régional registry, the task force's own listing).
    """
    if a.extent_source != "registre" or a.departements is None:
        return
    mine = a.departements
    shown = ", ".join(mine[:12]) + (" …" if len(mine) > 12 else "")
    log.warning(
        "le registre ne porte que sur %s (%s) : résultats limités à %s, le reste de la "
        "France est hors registre (--departement pour choisir le périmètre)",
        plural(len(mine), "département"),
        shown,
        "ce département" if len(mine) == 1 else "ces départements",
    )


def _emit(args: argparse.Namespace, a: Analysis, frame: pd.DataFrame, title: str) -> None:

    if a.meta["fictif"] and args.format != "csv":
        log.warning("registre fictif : données de démonstration, pas de situation réelle")
    _warn_regional(a)
    emit_table(
        _stamp(frame, a) if args.format != "tableau" else frame,
        fmt=args.format,
        output=args.sortie,
        title=title,
        caption=_caption(a),
    )


def _emit_geo(
    args: argparse.Namespace, a: Analysis, frame: pd.DataFrame, geometry: Any, layer: str
) -> None:
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(_stamp(frame, a), geometry=geometry, crs="EPSG:4326")
    emit_geo(gdf, fmt=args.format, output=args.sortie, layer=layer)


# ------------------------------------------------------------------------------------------------
# commands
# ------------------------------------------------------------------------------------------------
# The one place of lazy imports: each command imports the library it calls (and with it
# pandas, DuckDB, GeoPandas…) in its body, so that `couverture taux … --format csv` answered
# from the cache (couverture._cli_cache) starts without any of them; every other module of the
# package imports at its top, but for the layer formats and spreadsheets of the registry reader
# and the geometry libraries of the modules the first commands load (said where they are).
def cmd_donnees(args: argparse.Namespace) -> None:
    """Build data/processed (units, contiguity, store) from the sources."""
    from couverture import sources, store

    sources.build_all(admin_express=args.admin_express, population=args.population)
    log.info("chargement dans la base DuckDB…")
    path = store.build_store()
    log.info("base prête : %s", path)


def cmd_demo(args: argparse.Namespace) -> None:
    """Write the demo registry (registre fictif), or fill a demo plan d'action."""
    from couverture.demo import write_demo_registry

    _check_demo_output(args.sortie)
    if args.annuaire is not None:
        from couverture.demo import write_demo_annuaire

        _check_demo_output(args.annuaire)
        _check_demo_output(args.adhesions)
        write_demo_annuaire(args.annuaire, args.adhesions, seed=args.graine)
        return
    if args.remplir_plan is not None:
        from couverture.demo import fill_demo_plan

        if args.sortie is None:
            raise ArgumentError("--remplir-plan : --sortie PLAN_REMPLI.xlsx est obligatoire")
        fill_demo_plan(args.remplir_plan, args.sortie)
        return
    if args.mois_suivant is not None:
        from couverture.demo import next_month_registry

        if args.sortie is None or args.registre is None:
            raise ArgumentError(
                "--mois-suivant : --registre et --sortie REGISTRE.csv sont obligatoires"
            )
        next_month_registry(args.registre, args.mois_suivant, args.sortie)
        return
    path = write_demo_registry(args.sortie, seed=args.graine, previous=args.precedent)
    log.info("registre fictif écrit : %s", path)


def cmd_communes(args: argparse.Namespace) -> None:
    """Print or write the stage and CPTS of every unit."""
    with _analysis(args) as a:
        from couverture.coverage import unit_output_columns

        units = a.units()
        cols = [*unit_output_columns(), "population_source"]
        frame = units[cols].rename(columns={"population_source": "population_millesime"})
        if args.format in ("geojson", "gpkg"):
            geoms = a.geometries()
            frame = frame[frame["code"].isin(geoms.index)]
            _emit_geo(args, a, frame, geoms.geometry.loc[frame["code"]].values, "communes")
        else:
            if args.format == "tableau":
                # the terminal shows what fits on a line; the files have every column
                frame = frame.drop(columns=["region", "epci", "projets", "population_millesime"])
                # words where people read: an empty cell would read as missing data
                frame["stade"] = (
                    frame["stade"].astype(object).where(frame["stade"].notna(), "non couverte")
                )
            _emit(args, a, frame, "Couverture par commune")


def cmd_taux(args: argparse.Namespace) -> None:
    """Print or write the coverage rates by stage at one territorial level."""
    with _analysis(args) as a:
        frame = a.rates(niveau=args.niveau)
        if args.format == "tableau":
            # the rates before the populations by stage: a narrow terminal leaves out the last
            pops = [c for c in frame.columns if c.startswith(("pop_", "population_"))]
            frame = frame[[c for c in frame.columns if c not in pops] + pops]
        level = {
            "france": "France",
            "region": "région",
            "departement": "département",
            "epci": "EPCI",
        }
        title = f"Population couverte par stade, par {level.get(args.niveau, args.niveau)}"
        _emit(args, a, frame, title.replace("par France", "France"))


def _insert_zone_place(frame: pd.DataFrame, named: pd.DataFrame, fmt: str) -> None:
    """Insert the zones' place names beside their ``zone_id`` (for people: not in the CSV).

    ``named``: :meth:`Analysis.zone_names`. The terminal shows the place alone (« Vitré et
    environs », its title says zone blanche), a workbook the full name.
    """
    place = "lieu" if fmt == "tableau" else "nom_zone"
    frame.insert(1, place, named.reindex(frame["zone_id"])[place].to_numpy())


def cmd_zones(args: argparse.Namespace) -> None:
    """Print or write the zones blanches (contiguous uncovered units)."""
    with _analysis(args) as a:
        zones = a.zones().drop(columns="cpts_voisines_ids")
        if args.format in ("geojson", "gpkg"):
            geoms = a.zone_geometries().reindex(zones["zone_id"]).to_list()
            _emit_geo(args, a, zones, geoms, "zones_blanches")
        else:
            if args.format != "csv":  # people read it: named by place, communes by name
                named = a.zone_names().reindex(zones["zone_id"])
                _insert_zone_place(zones, named, args.format)
                names = "resume_communes" if args.format == "tableau" else "noms_communes"
                zones[names] = named[names].to_numpy()
                if args.format == "tableau":
                    zones = zones.drop(columns="communes")
                    zones["cpts_voisines"] = zones["cpts_voisines"].str.replace("|", ", ")
            _emit(args, a, zones, "Zones blanches (par population décroissante)")
            if args.format == "tableau":
                log.info(
                    "%s, %s",
                    plural(len(zones), "zone blanche", "zones blanches"),
                    plural(int(zones["population"].sum()), "habitant"),
                )


def cmd_chevauchements(args: argparse.Namespace) -> None:
    """Print or write the units claimed by several CPTS."""
    with _analysis(args) as a:
        overlaps = a.overlaps()
        if args.format == "tableau":  # people read it: the CPTS listed in words
            overlaps = overlaps.assign(cpts=overlaps["cpts"].str.replace("|", ", "))
        _emit(args, a, overlaps, "Chevauchements et communes partagées")
        if args.format == "tableau":  # said in words, an empty table included
            shared = int((overlaps["type"] == "partage").sum())
            claims = len(overlaps) - shared
            log.info(
                "%s, %s",
                plural(claims, "chevauchement") if claims else "aucun chevauchement",
                plural(shared, "commune partagée", "communes partagées")
                if shared
                else "aucune commune partagée",
            )


def cmd_verifier(args: argparse.Namespace) -> None:
    """Print or write the anomalies corrected while reading the registry."""
    with _analysis(args) as a:
        import pandas as pd

        reg = a.registry
        late = a.date_anomalies()  # stage dates after the registry's date (typos)
        anomalies = (
            pd.concat([reg.anomalies, late], ignore_index=True) if len(late) else reg.anomalies
        )
        _emit(args, a, anomalies, f"Anomalies corrigées dans {args.registre.name}")
        log.info(
            "%s, %s, %s",
            plural(len(reg.cpts), "CPTS", "CPTS"),
            plural(len(reg.membership), "ligne commune", "lignes commune"),
            plural(len(anomalies), "anomalie corrigée", "anomalies corrigées"),
        )
        _unclaimed_note(a)


def _unclaimed_note(a: Analysis) -> None:
    """Say where the share of the shared communes that no CPTS claims is counted."""
    m = a.registry.membership
    if not (m["part"].notna().any() or ("iris" in m and m["iris"].any())):
        return  # no share given: every claimed unit is claimed whole
    units = a.units()
    claimed = units[units["stade"].notna()]
    rest = claimed["population"] - claimed[f"pop_{stage_codes()[0]}"]
    if int(rest.sum()) > 0:
        log.info(
            "population non attribuée : %s dans %s dont les parts font moins de 1 (%s) : "
            "comptée non couverte, hors zones blanches (colonne population_non_attribuee de "
            "taux)",
            plural(int(rest.sum()), "habitant"),
            plural(int((rest > 0).sum()), "commune partagée", "communes partagées"),
            ", ".join(
                f"{code} {nom}"
                for code, nom in claimed.loc[rest > 0, ["code", "nom"]].head(5).itertuples(False)
            )
            + ("…" if (rest > 0).sum() > 5 else ""),
        )


# --- suggestions commands (issue: propositions) ---
def _suggestion_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Compact view of the proposals for the terminal, one line per proposal.

    By priority (the CSV and XLSX outputs have every column).
    """
    import pandas as pd

    def arrow(before: pd.Series, after: pd.Series) -> list[str]:
        return [f"{integer(b)} → {integer(a)}" for b, a in zip(before, after, strict=True)]

    cible = frame["cpts_cible"].where(
        frame["option"] != "creation", frame["nom_propose"] + " (nouvelle)"
    )
    return pd.DataFrame(
        {
            "zone_id": frame["zone_id"],
            "recommandee": frame["recommandee"],
            "option": frame["option"],
            "cpts_cible": cible,
            "population_ajoutee": frame["population_ajoutee"],
            "taille": arrow(frame["taille_avant"], frame["taille_apres"]),
            "financement_max": arrow(
                frame["financement_max_avant"], frame["financement_max_apres"]
            ),
            "motif": frame["motif"],
        }
    )


_TEMPORARY = "rattachements temporaires"


def cmd_suggestions(args: argparse.Namespace) -> None:
    """Print or write the proposals covering each zone blanche."""
    from couverture.porteurs import proposals_of
    from couverture.suggest import proposal_geometries

    if args.format in FILE_ONLY and args.sortie is None:
        # said before the national computation, not after
        raise ArgumentError(
            f"le format {args.format} ne peut pas aller sur la sortie standard : --sortie FICHIER"
        )
    porteurs = _read_porteurs(args)  # a malformed file is refused before the computation
    with _analysis(args) as a:
        frame = proposals_of(a, porteurs, floor=args.plancher, ceiling=args.plafond)
        if args.format in ("geojson", "gpkg"):
            geoms = proposal_geometries(a, frame)
            _emit_geo(args, a, frame, geoms.geometry.to_numpy(), "propositions")
            return
        shown = _suggestion_table(frame) if args.format == "tableau" else frame
        if args.format == "tableau" and porteurs is not None:
            shown["porteur_potentiel"] = frame["porteur_potentiel"]
        _emit(args, a, shown, "Propositions pour couvrir les zones blanches (par priorité)")
        if args.format == "tableau":
            rec = frame[frame["recommandee"] == "oui"]
            sizes = rec.groupby("option").size().to_dict()
            sums = rec.groupby("option")["population_ajoutee"].sum().astype("int64").to_dict()
            parts = [
                f"{plural(sizes[o], *words)} ({integer(sums[o])} hab.)"
                for o, words in (
                    ("creation", ("création",)),
                    ("extension", ("extension",)),
                    ("rattachement_temporaire", ("rattachement temporaire", _TEMPORARY)),
                )
                if o in sizes
            ]
            log.info(
                "%s ; recommandé : %s",
                plural(frame["zone_id"].nunique(), "zone blanche", "zones blanches"),
                ", ".join(parts) or "rien",
            )


# --- cartes commands (issue: cartes) ---
def _check_folder(folder: Path) -> None:
    """Refuse an output folder whose parent is missing (a typo must not build a tree)."""
    if folder.exists() and not folder.is_dir():
        raise ArgumentError(f"--sortie {folder} : c'est un fichier, un dossier est attendu")
    if folder.suffix.lower() in (".html", ".htm", ".pdf", ".xlsx", ".csv") and not folder.exists():
        raise ArgumentError(
            f"--sortie {folder} : un dossier est attendu (les fichiers y sont écrits), "
            f"pas un nom de fichier en {folder.suffix}"
        )
    if not folder.parent.is_dir():
        raise ArgumentError(f"--sortie {folder} : le dossier {folder.parent} n'existe pas")


def cmd_cartes(args: argparse.Namespace) -> None:
    """Write the HTML maps of the départements and the national map."""
    from couverture.maps import INDEX_NAME, build_maps
    from couverture.porteurs import proposals_of

    _check_folder(args.sortie)
    porteurs = _read_porteurs(args)  # a malformed file is refused before the computation
    _check_annuaire_files(args)
    with _analysis(args) as a:
        _warn_regional(a)
        annuaire = _read_annuaire(args, a)
        # computed by build_maps before it loads the geometry (the memory peak otherwise)
        suggestions = functools.partial(proposals_of, a)
        paths = build_maps(
            a,
            args.sortie,
            suggestions=suggestions,
            porteurs=porteurs,
            annuaire=annuaire,
            adhesions=args.adhesions,
        )
        for path in paths:
            log.info("carte écrite : %s", path)
        log.info(
            "%s. Ouvrir %s dans un navigateur (fonctionne sans réseau)",
            plural(len(paths), "carte écrite", "cartes écrites"),
            args.sortie / INDEX_NAME,
        )


# --- porteurs option (issue 11: potential porteurs) ---
def _read_porteurs(args: argparse.Namespace) -> pd.DataFrame | None:
    if getattr(args, "porteurs", None) is None:
        return None
    from couverture.porteurs import read_porteurs

    return read_porteurs(args.porteurs)


# --- fiches command (issue 11: one printable fiche per zone blanche) ---
def cmd_fiches(args: argparse.Namespace) -> None:
    """Write the printable fiches (HTML and PDF) of the zones blanches of départements."""
    from couverture.fiches import build_fiches

    if args.departement is None:
        raise ArgumentError("fiches : --departement est obligatoire (par exemple 35 ou 2A,2B)")
    _check_folder(args.sortie)
    porteurs = _read_porteurs(args)
    _check_annuaire_files(args)
    with _analysis(args) as a:
        if a.meta["fictif"]:
            log.warning("registre fictif : données de démonstration, pas de situation réelle")
        annuaire = _read_annuaire(args, a)
        written = build_fiches(a, args.sortie, porteurs=porteurs, annuaire=annuaire)
        for fiche_set in written.values():
            log.info("fiches écrites : ouvrir %s (imprimable)", fiche_set.index)


# --- rapport commands (issue: rapport mensuel) ---
def cmd_rapport(args: argparse.Namespace) -> None:
    """Write the monthly report and record the month in the history."""
    from couverture.report import build_report

    if args.sortie is not None:
        _check_folder(args.sortie)
    if args.historique is not None and not args.historique.parent.is_dir():
        raise ArgumentError(
            f"--historique {args.historique} : le dossier {args.historique.parent} n'existe pas"
        )
    _check_annuaire_files(args)
    build_report(
        args.registre,
        month=args.mois,
        output_dir=args.sortie,
        default_stage=args.stade_par_defaut,
        departements=args.departement,
        shared_threshold=args.seuil_partage,
        history_path=args.historique,
        suggestions=not args.sans_propositions,
        maps=not args.sans_cartes,
        replace_scope=args.remplacer_perimetre,
        plan=args.plan,
        fiches=not args.sans_fiches,
        porteurs=args.porteurs,
        annuaire=args.annuaire,
        adhesions=args.adhesions,
    )


def cmd_historique(args: argparse.Namespace) -> None:
    """Print or write the months recorded in the history."""
    from couverture import history

    frame = history.months(path=args.historique)
    frame["empreinte"] = frame["empreinte"].str[:12]
    frame["fictif"] = frame["fictif"].map({True: "oui", False: "non"})
    pops = [f"pop_{s}" for s in stage_codes()]
    rates = [f"taux_{s}" for s in stage_codes()]
    cols = ["mois", "libelle_registre", "fictif", "perimetre", "empreinte", "ecrit_le"]
    cols += ["n_cpts", "population", *pops, *rates, "n_zones", "population_zones"]
    if args.format == "tableau":
        # what fits on a terminal line; the files have every column
        cols = [c for c in cols if c not in ("empreinte", "ecrit_le", "population", *pops)]
    emit_table(
        frame[cols],
        fmt=args.format,
        output=args.sortie,
        title="Mois enregistrés dans l'historique",
        caption=str(args.historique or "data/historique.duckdb"),
    )


def cmd_evolution(args: argparse.Namespace) -> None:
    """Print or write the changes between two recorded months."""
    from couverture import history

    frame = history.compare(args.de, args.a, path=args.historique)
    # the terminal reads the French label and the communes' names, the files keep the codes
    shown = frame.drop(columns=["type", "communes"]) if args.format == "tableau" else frame
    emit_table(
        shown,
        fmt=args.format,
        output=args.sortie,
        title=f"Changements de {args.de} à {args.a}",
        caption=plural(len(frame), "changement"),
    )
    for label, n in frame["libelle"].value_counts(sort=False).items():
        log.info("%s : %s", label, integer(n))


# --- plan d'action commands (issue: plan d'action) ---
def _plan_analysis(args: argparse.Namespace, previous: Any) -> Analysis:
    """Return the analysis of a plan.

    --departement, else the départements of the plan read.
    """
    from couverture.analysis import analyse, parse_departements
    from couverture.plan import plan_departements

    deps = plan_departements(previous, parse_departements(args.departement))
    if deps is None and getattr(args, "scenario", None) is not None:
        from couverture.scenario import scenario_departements

        deps = scenario_departements(args.scenario) or None  # the scenario's scope
    return analyse(
        args.registre,
        default_stage=args.stade_par_defaut,
        departements=deps,
        shared_threshold=args.seuil_partage,
        date=args.date,
    ).limit_to_registry()


def _check_xlsx_output(args: argparse.Namespace, *, replaces_plan: bool = False) -> None:
    """Refuse an output workbook that is a file the project reads or owns.

    ``replaces_plan``: the output may be the plan read (``--plan``): its decisions are carried.
    """
    out: Path = args.sortie
    if out.suffix.lower() != ".xlsx":
        raise ArgumentError(f"--sortie {out} : un classeur .xlsx est attendu")
    if out.is_dir():
        raise ArgumentError(f"--sortie {out} : c'est un dossier, un nom de fichier est attendu")
    if not out.parent.is_dir():
        raise ArgumentError(f"--sortie {out} : le dossier {out.parent} n'existe pas")
    if out.resolve() == Path(args.registre).resolve():
        raise ArgumentError(f"--sortie {out} : ce fichier est le registre lu, il serait écrasé")
    owner = argparse.Namespace(**{**vars(args), "plan": None}) if replaces_plan else args
    reason = _owned_file(out, owner)  # the history, a plan read, a DuckDB base, data/raw…
    if reason is not None:
        raise ArgumentError(f"--sortie {out} : {reason}, il serait écrasé ; choisir un autre nom")

    output_target(out)


def _check_plan_overwrite(args: argparse.Namespace) -> None:
    """Refuse to write a plan over a workbook holding decisions (issue 17, item 6).

    Allowed when the workbook is also the plan read (``--plan``: its decisions are carried
    over) or with ``--force``.
    """
    from couverture.plan import decisions_in

    out: Path = args.sortie
    if args.force or not out.is_file() or out.stat().st_size == 0:
        return
    if args.plan is not None and (
        _same_file(out, Path(args.plan)) or out.resolve() == Path(args.plan).resolve()
    ):
        return
    held = decisions_in(out)
    if held is None:
        raise ArgumentError(
            f"--sortie {out} : ce classeur existe et n'est pas un plan d'action lisible ; "
            "choisir un autre nom, ou --force pour le remplacer"
        )
    if held:
        raise ArgumentError(
            f"--sortie {out} : ce plan d'action contient des décisions saisies "
            f"({plural(held, 'ligne remplie', 'lignes remplies')}), elles seraient perdues ; "
            f"pour les reprendre : --plan {out} --sortie {out} ; "
            "pour le remplacer quand même : --force"
        )


def cmd_plan_action(args: argparse.Namespace) -> None:
    """Write the plan d'action workbook, carrying over a previous plan's decisions."""
    from couverture import plan

    _check_xlsx_output(args, replaces_plan=True)
    _check_plan_overwrite(args)
    _check_annuaire_files(args)
    previous = plan.read_plan(args.plan) if args.plan is not None else None
    porteurs = _read_porteurs(args)  # a malformed file is refused before the computation
    with _plan_analysis(args, previous) as a:
        projects = None
        if args.scenario is not None:
            from couverture.scenario import read_scenario

            projects = read_scenario(args.scenario, a)
        result = plan.build_plan(
            a,
            previous=previous,
            on=args.date,
            scenario=projects,
            history_path=args.historique,
            porteurs=porteurs,
        )
        annuaire = _read_annuaire(args, a)
        if annuaire is not None:  # issue 23: the professionals of each CPTS, a column
            from couverture.professionnels import plan_cpts_sheet

            sheet = plan_cpts_sheet(a, result.cpts, annuaire=annuaire, adhesions=args.adhesions)
            result = replace(result, cpts=sheet)
        plan.write_plan(result, args.sortie)
    rows = result.projects
    n_projects = int((rows["projet_id"] != "").sum())
    log.info(
        "plan d'action écrit : %s (%s, %s)",
        args.sortie,
        plural(n_projects, "projet"),
        plural(len(rows) - n_projects, "zone sans projet", "zones sans projet"),
    )


def cmd_suivi(args: argparse.Namespace) -> None:
    """Print or write the follow-up of a filled plan d'action, one line per project."""
    from couverture import plan

    previous = plan.read_plan(args.plan)
    with _plan_analysis(args, previous) as a:
        frame = plan.follow_up(a, previous, on=args.date, history_path=args.historique)
        shown = frame if args.format == "csv" else plan.follow_up_in_words(frame)
        if args.format == "tableau" and frame.empty and args.sortie is None:
            print("aucun projet ni zone blanche sur le périmètre du plan")  # not an empty table
        elif args.format == "xlsx" and args.sortie is not None:
            titled = _stamp(shown, a).rename(columns=plan.FOLLOW_UP_TITLES)
            plan.write_xlsx({"suivi": titled}, args.sortie)
        else:
            _emit(args, a, shown, "Suivi du plan d'action")
        if args.format == "tableau":
            projects = frame[frame["projet_id"] != ""]
            log.info(
                "%s ; %s en retard ; %s ; %s",
                plural(len(projects), "projet"),
                plural(int((projects["en_retard"] == "oui").sum()), "projet"),
                plural(
                    int((projects["situation"] == plan.COVERED).sum()),
                    "projet couvert par sa CPTS",
                    "projets couverts par leur CPTS",
                ),
                plural(len(frame) - len(projects), "zone sans projet", "zones sans projet"),
            )


def cmd_remontee(args: argparse.Namespace) -> None:
    """Write the return to DGOS/CNAM of a month, one row per département."""
    from couverture import plan, remontee

    _check_xlsx_output(args)
    _check_annuaire_files(args)
    previous = plan.read_plan(args.plan)
    with _plan_analysis(args, previous) as a:
        table, actions = remontee.remontee(
            a, previous, month=args.mois, on=args.date, history_path=args.historique
        )
        info = remontee.remontee_info(a, previous, month=args.mois)
        extra = None
        if args.annuaire is not None:  # the second indicator (issue 23)
            from couverture.professionnels import remontee_tables

            table, extra = remontee_tables(
                a, table, annuaire=args.annuaire, adhesions=args.adhesions
            )
        remontee.write_remontee(table, actions, args.sortie, info=info, extra=extra)
    log.info("remontée écrite : %s (%s)", args.sortie, plural(len(table), "département"))


# --- professionnels command (issue 23: the annuaire, adherents and actifs of each CPTS) ---
def _check_annuaire_files(args: argparse.Namespace) -> None:
    """Refuse a missing or unusable annuaire or adhesions file before any computation."""
    from couverture.professionnels import checked_path, config

    limits = config()["annuaire"]
    if getattr(args, "annuaire", None) is not None:
        checked_path(args.annuaire, what="annuaire", max_mb=float(limits["taille_max_mo"]))
    if getattr(args, "adhesions", None) is not None:
        checked_path(args.adhesions, what="adhésions", max_mb=float(limits["taille_max_mo_csv"]))


def _read_annuaire(args: argparse.Namespace, a: Analysis) -> Annuaire | None:
    if getattr(args, "annuaire", None) is None:
        return None
    from couverture.professionnels import read_annuaire

    return read_annuaire(args.annuaire, a)


def cmd_professionnels(args: argparse.Namespace) -> None:
    """Print or write the professionals of each CPTS, zone blanche or commune."""
    from couverture.professionnels import professionals, read_annuaire

    if args.adhesions is not None and args.par != "cpts":
        raise ArgumentError("--adhesions : seulement avec --par cpts (adhérents de chaque CPTS)")
    _check_annuaire_files(args)
    with _analysis(args) as a:
        annuaire = read_annuaire(args.annuaire, a)
        frame = professionals(a, annuaire, par=args.par, adhesions=args.adhesions)
        if args.par == "zone" and args.format != "csv":  # named by place, as the fiches
            _insert_zone_place(frame, a.zone_names(), args.format)
        if args.format == "tableau" and args.par != "zone":
            # the terminal shows what fits: the professions but GPs are in the files
            shown = ["infirmiers", "masseurs_kinesitherapeutes", "pharmaciens", "sages_femmes"]
            frame = frame.drop(columns=[*shown, "chirurgiens_dentistes", "autres"])
            frame = frame.drop(columns=["departement", "stade", "cpts"], errors="ignore")
        where = {"cpts": "CPTS", "zone": "zone blanche", "commune": "commune"}[args.par]
        fictif = " (annuaire fictif)" if annuaire.fictif else ""
        _emit(args, a, frame, f"Professionnels de santé par {where}{fictif}")
