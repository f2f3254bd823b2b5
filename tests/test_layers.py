"""The layer map of pyproject.toml ([tool.importlinter]) holds, and a wrong import breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from couverture import settings

ROOT = settings.PROJECT_ROOT
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter absent (extra dev : make install)"
)


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the package copied in ``tree/src`` with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package's code and of pyproject.toml (the contracts)."""
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "src" / "couverture",
        tmp_path / "src" / "couverture",
        ignore=shutil.ignore_patterns("__pycache__", "config", "assets"),
    )
    return tmp_path


def _add_import(tree: Path, module: str, line: str) -> None:
    path = tree / "src" / "couverture" / f"{module}.py"
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("from __future__ import annotations\n")
    assert sep, module
    path.write_text(f"{head}{sep}\n{line}\n{rest}", encoding="utf-8")


def test_the_package_keeps_its_layers(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # upward: the store (data) reading the maps (features), the circle of the first design
        ("store", "from couverture import maps", "couverture.store is not allowed to import"),
        # upward through the base: the configuration reading the cache
        ("_config", "import couverture._cache", "couverture._config is not allowed to import"),
        # sideways, a pair the contract does not name: a feature reading another one
        ("maps", "from couverture import alerts", "couverture.maps is not allowed to import"),
        # sideways inside the plan d'action: its writing reading its rows (named for types only)
        (
            "_plan_write",
            "from couverture import _plan_rows",
            "couverture._plan_write is not allowed to import",
        ),
        # sideways between documents' parts: the fiches' map drawing with the report's page
        (
            "_fiches_map",
            "from couverture import _report_html",
            "couverture._fiches_map is not allowed to import",
        ),
    ],
)
def test_a_wrong_import_breaks_the_contract(
    tree: Path, module: str, line: str, broken: str
) -> None:
    _add_import(tree, module, line)
    result = _lint(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout


def test_a_new_module_must_take_a_place(tree: Path) -> None:
    (tree / "src" / "couverture" / "nouveau.py").write_text('"""New."""\n', encoding="utf-8")
    result = _lint(tree)
    assert result.returncode == 1
    assert "couverture.nouveau" in result.stdout + result.stderr
