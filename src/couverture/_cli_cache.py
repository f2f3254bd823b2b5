"""The answer cache of the command line: one analysis per command run, the machine CSV replayed.

While a command (and the answers computed ahead of it) runs, the analyses it opens share one
registry read (:func:`_analysis`, :func:`_one_analysis`); the machine CSV of the commands in
:data:`_CSV_CACHED` is cached whole in the store with its warnings and replayed without even
importing pandas (:func:`_csv_cache_key`, :func:`_replay_csv`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from couverture import _cache

if TYPE_CHECKING:
    from couverture.analysis import Analysis

log = logging.getLogger("couverture")


# While a command and the answers computed ahead of it run (see `_answer_ahead`), the analyses
# they open share one registry read, keyed by the registry options.
_SESSION: dict[tuple[str, ...], Analysis] | None = None


def _analysis(args: argparse.Namespace) -> Analysis:
    from couverture.analysis import analyse

    options = (args.registre, args.stade_par_defaut, args.departement, args.seuil_partage)
    key = tuple(map(str, options))
    if _SESSION is not None and (origin := _SESSION.get(key)):
        return origin.shared().limit_to_registry()
    a = analyse(
        args.registre,
        default_stage=args.stade_par_defaut,
        departements=args.departement,
        shared_threshold=args.seuil_partage,
    )
    if _SESSION is None:
        return a.limit_to_registry()
    _SESSION[key] = a
    # a regional registry read without --departement: its extent (told by _warn_regional)
    return a.shared().limit_to_registry()


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
    _cache.check_complete()  # an interrupted `donnees`: no answer from the data it replaced

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
    from couverture.analysis import recording_log

    buffer = io.StringIO()
    with recording_log(logging.getLogger()) as messages, contextlib.redirect_stdout(buffer):
        args.func(args)
    return buffer.getvalue(), messages


def _answer(text: str, messages: list[tuple[int, str]]) -> bytes:
    return json.dumps({"csv": text, "log": messages}).encode()
