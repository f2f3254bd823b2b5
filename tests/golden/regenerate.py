"""Regenerate the golden CLI outputs (run only when a change of output is intended).

    .venv/bin/python tests/golden/regenerate.py

Writes ``tests/golden/expected.json``: for each CLI command of :data:`CASES`, the sha256 and
line count of its machine CSV on the demo registry and on the real PACA registry (the latter
only when ``../shared`` is present); for each of :data:`MAP_CASES`, the sha256 of every map.
``tests/test_golden.py`` compares fresh runs with it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from test_golden import CASES, MAP_CASES, run_case, run_maps  # noqa: E402  (the test's runners)


def main() -> None:
    expected = {}
    for name, registry, args in CASES:
        text = run_case(registry, args)
        if text is None:
            print(f"{name}: registre absent, ignoré", file=sys.stderr)
            continue
        expected[name] = {
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "lignes": text.count("\n"),
        }
        print(f"{name}: {expected[name]['lignes']} lignes", file=sys.stderr)
    for name, registry, args in MAP_CASES:
        files = run_maps(registry, args)
        if files is None:
            print(f"{name}: registre absent, ignoré", file=sys.stderr)
            continue
        expected[name] = {"fichiers": files}
        print(f"{name}: {len(files)} cartes", file=sys.stderr)
    out = HERE / "expected.json"
    out.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
