"""Helpers shared by the test modules (imported by name: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest

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


# ------------------------------------------------------------------------------------------------
# headless Chromium: the system browser, no download, no network
# ------------------------------------------------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")
#: Flags of every run: headless, no sandbox (containers), nothing fetched in the background, and
#: the network unreachable through a dead proxy (in case no empty network namespace is at hand).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--hide-scrollbars",
    "--lang=fr-FR",
)


def require_chromium(*, driver: bool = False) -> None:
    """Skip the test when the system Chromium (and chromium-driver if ``driver``) is absent.

    On CI (``CI`` set) a missing browser is a failure: ``.ci/run`` installs it.
    """
    if CHROMIUM.exists() and (not driver or CHROMEDRIVER.exists()):
        return
    what = "chromium ou chromedriver" if driver else "/usr/bin/chromium"
    if os.environ.get("CI"):
        pytest.fail(f"{what} absent en CI")
    pytest.skip(f"{what} absent")


def _no_network() -> list[str]:
    """``unshare -n``, a network namespace with nothing in it, when the system allows it."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0:
        return ["unshare", "-n"]
    return []


def chromium(
    url: str,
    tmp: Path,
    *,
    size: tuple[float, float] = (1400, 950),
    pdf: Path | None = None,
    screenshot: Path | None = None,
) -> tuple[str, str]:
    """Open ``url`` in headless Chromium without network; return (DOM, log).

    With ``pdf`` the page is printed there (no header nor footer), with ``screenshot`` it is
    captured there (the DOM is then empty); the log holds the page's console messages.
    """
    require_chromium()
    args = [
        *_no_network(),
        str(CHROMIUM),
        "--headless",
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp / 'profil'}",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={round(size[0])},{round(size[1])}",
        "--virtual-time-budget=5000",
    ]
    if screenshot:
        args.append(f"--screenshot={screenshot}")
    elif pdf:
        args += ["--no-pdf-header-footer", f"--print-to-pdf={pdf}"]
    else:
        args.append("--dump-dom")
    proc = subprocess.run([*args, url], capture_output=True, text=True, timeout=180)
    return proc.stdout, proc.stderr


def chromium_driver(downloads: Path, *, size: tuple[int, int] = (1500, 950)) -> Any:
    """Return a Selenium driver of headless Chromium (system chromium-driver) saving downloads
    to ``downloads``, the browser's console kept (``driver.get_log("browser")``)."""
    require_chromium(driver=True)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ["--headless=new", *CHROMIUM_FLAGS, f"--window-size={size[0]},{size[1]}"]:
        opts.add_argument(arg)
    prefs = {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    opts.add_experimental_option("prefs", prefs)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    return driver
