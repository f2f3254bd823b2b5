"""Helpers shared by the test modules (imported by name: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import duckdb

from couverture import cli


def run_cli(args: list[str]) -> int:
    """Run the CLI in-process, restoring the logging set-up it replaces."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return cli.main(args)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def tree_digests(folder: Path) -> dict[str, str]:
    """Return the sha256 of every file below ``folder``, by relative path."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def history_rows(path: Path) -> dict[str, list[tuple]]:
    """Return every row of each table of a history store, sorted."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("mois", "communes", "cpts", "taux", "zones")
        }
    finally:
        con.close()
