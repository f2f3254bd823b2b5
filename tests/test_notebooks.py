"""The notebooks run from top to bottom on the demo registry, and are committed clean."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from couverture import settings

NOTEBOOKS = sorted((settings.PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "sorties committées"
            imports = [
                line.split()[1]
                for line in cell.source.splitlines()
                if line.startswith(("import ", "from "))
            ]
            assert all(m.split(".")[0] == "couverture" for m in imports), imports


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, demo_registry: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    # "python3" is started with this interpreter (jupyter_client swaps "python" for
    # sys.executable), so the kernel sees the venv's couverture
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    # the figure the notebook prints is the CLI's: same zones, same population
    printed = re.search(r"(\d+) zones blanches, (\d+) habitants", text)
    assert printed, text
    command = ["zones-blanches", "--registre", str(demo_registry), "--departement", "35"]
    cli = subprocess.run(
        [sys.executable, "-m", "couverture.cli", *command, "--format", "csv", "-q"],
        capture_output=True,
        text=True,
        check=True,
    )
    zones = list(csv.DictReader(io.StringIO(cli.stdout)))
    assert int(printed.group(1)) == len(zones)
    assert int(printed.group(2)) == sum(int(z["population"]) for z in zones)
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "leaflet" in html.lower() or "folium" in html.lower()  # the map is inline


def test_there_is_a_notebook() -> None:
    assert any(p.name == "explorer_un_departement.ipynb" for p in NOTEBOOKS)
