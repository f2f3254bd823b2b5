"""Helpers shared by the test modules (imported by name: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import logging

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
