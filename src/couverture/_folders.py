"""Folders built aside, then swapped in: a run replaces only what it wrote.

A report, the fiches or the maps are built in a staged folder beside their target and swapped
in when complete (:func:`staged_folder`, :class:`FolderSwap`); a manifest lists what the run
wrote, so that the next run replaces those and keeps a person's own files; an interrupted run is
put back on the next one (:func:`recover_folders`). The data build marks its folder while it
runs (:func:`mark_building`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from couverture import _format
from couverture._errors import ArgumentError
from couverture._output import atomic_write_text, process_alive

_log = logging.getLogger(__name__)


#: File inside a folder being built (and, until its run finishes, inside the folder swapped in)
#: naming the run: process id, random token and the caller's notes (JSON).
STAMP_NAME = ".couverture-dossier"
#: File of a folder swapped in listing what the run wrote there (JSON), so that the next run
#: replaces those and keeps the user's own files (see :meth:`FolderSwap.swap_in`).
MANIFEST_NAME = ".couverture-contenu"
_AUX = re.compile(
    r"^\.(?P<name>.+)\.couverture-(?P<role>neuf|ancien|rejete)-(?P<pid>\d+)-(?P<token>[0-9a-f]{12})$"
)


def _read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class FolderSwap:
    """A folder built aside, swapped in whole, the previous one kept aside until the end.

    The new folder is ``.<name>.couverture-neuf-<pid>-<token>`` next to the target and holds a
    stamp (:data:`STAMP_NAME`) naming this run; the previous folder waits as
    ``.<name>.couverture-ancien-<pid>-<token>`` until :meth:`finish`. The random token makes
    these names the run's own: :func:`recover_folders` touches a name only when a folder stamped
    with its token proves that a run of ``couverture`` created it.
    """

    def __init__(self, target: Path, *, ours: Callable[[str], bool] | None = None) -> None:
        self.target = Path(target)
        # the names this program writes there, for a folder written before manifests existed
        self.ours = ours
        self.pid = os.getpid()
        self.token = secrets.token_hex(6)
        self.new = self._aux("neuf")
        self.old = self._aux("ancien")
        self.swapped = False
        self.notes: dict[str, Any] = {}

    def _aux(self, role: str) -> Path:
        return self.target.with_name(
            f".{self.target.name}.couverture-{role}-{self.pid}-{self.token}"
        )

    def note(self, **notes: Any) -> None:
        """Record ``notes`` in the new folder's stamp (read back by a later recovery)."""
        self.notes.update(notes)
        stamp = {"pid": self.pid, "token": self.token, **self.notes}
        atomic_write_text(self.new / STAMP_NAME, json.dumps(stamp, default=str))

    def swap_in(self) -> None:
        """Put the new folder in place: the previous one goes aside, then the new one in.

        Only what this program wrote is replaced: the files of the previous folder it did not
        write (a ``cr.docx`` of the meeting, notes, a map saved under another name) are carried
        into the new one (hard links, else copies) before the swap, and the new folder lists
        what was written with each file's size and SHA-256 (:data:`MANIFEST_NAME`) so that the
        next run knows its own files from the user's — a file of the list saved over since
        (an annotated map, a fiche edited in place) is the user's too. A foreign file with the
        name of a file written now is refused (:class:`ArgumentError`), the previous folder
        left as it was.
        """
        written = sorted(
            p.relative_to(self.new).as_posix()
            for p in self.new.rglob("*")
            if (p.is_file() or p.is_symlink()) and p.name not in (STAMP_NAME, MANIFEST_NAME)
        )
        carried = self._carry_foreign(set(written)) if self.target.is_dir() else []
        # each file with its fingerprint: one a person saved over afterwards is theirs
        listing = {name: _fingerprint(self.new / name) for name in written}
        atomic_write_text(
            self.new / MANIFEST_NAME,
            json.dumps({"fichiers": listing}, ensure_ascii=False),
        )
        if carried:
            shown = ", ".join(carried[:8]) + (" …" if len(carried) > 8 else "")
            _log.info(
                "%s : %s par couverture : %s",
                self.target,
                _format.plural(
                    len(carried), "fichier gardé, non écrit", "fichiers gardés, non écrits"
                ),
                shown,
            )
        if self.target.exists():
            os.rename(self.target, self.old)
        os.rename(self.new, self.target)
        self.swapped = True

    def _carry_foreign(self, written: set[str]) -> list[str]:
        """Link (or copy) into the new folder the files of the target this program did not write.

        Ours are those its manifest lists (a folder written before manifests existed: those
        written again now, and those ``ours`` recognises). Returns the relative paths carried.
        """
        listed = _manifest(self.target)
        carried = []
        for path in sorted(self.target.rglob("*")):
            rel = path.relative_to(self.target).as_posix()
            if path.name in (STAMP_NAME, MANIFEST_NAME) or path.name.startswith(".tmp-"):
                continue
            if path.is_dir() and not path.is_symlink():
                (self.new / rel).mkdir(parents=True, exist_ok=True)  # a folder of the user's
                continue
            changed = False
            if listed is not None and rel in listed:
                recorded = listed[rel]
                changed = recorded is not None and _fingerprint(path, like=recorded) != recorded
                if not changed:
                    continue  # ours: replaced by this run's file, or dropped
            if listed is None and (rel in written or (self.ours is not None and self.ours(rel))):
                continue
            dest = self.new / rel
            if dest.exists() or dest.is_symlink():
                if _same_file(path, dest):
                    continue  # carried by the caller already (the maps' .gitkeep)
                why = (
                    "a été modifié depuis que couverture l'a écrit"
                    if changed
                    else "n'a pas été écrit par couverture"
                )
                raise ArgumentError(
                    f"{self.target} : le fichier {rel} {why} et porte le nom d'un fichier à "
                    "écrire ; le renommer ou le déplacer (rien n'a été remplacé)"
                )
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, dest, follow_symlinks=False)
            except OSError:
                shutil.copy2(path, dest, follow_symlinks=False)
            carried.append(rel)
        return carried

    def finish(self) -> None:
        """Drop the previous folder, then the stamp: the swap is final."""
        shutil.rmtree(self.old, ignore_errors=True)
        (self.target / STAMP_NAME).unlink(missing_ok=True)

    def undo(self) -> None:
        """Put the previous folder back (or none, if there was none) and drop the new one."""
        rejected = self._aux("rejete")
        if self.swapped:
            os.rename(self.target, rejected)
            self.swapped = False
        if self.old.exists() and not self.target.exists():
            os.rename(self.old, self.target)
        shutil.rmtree(rejected, ignore_errors=True)
        shutil.rmtree(self.new, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(
    target: Path, *, ours: Callable[[str], bool] | None = None, **notes: Any
) -> Iterator[FolderSwap]:
    """Yield a :class:`FolderSwap` whose new folder is empty but for its stamp.

    ``ours`` tells the names (relative paths) this program writes in ``target``: used only for
    a folder written before manifests existed, whose stale files would otherwise be kept.

    The caller writes into ``swap.new`` and calls ``swap.swap_in()``, then whatever must
    follow the swap (a history commit). On success the swap is finished (the previous folder
    dropped); on any exception, ``KeyboardInterrupt`` included, the previous folder is put
    back. A symlinked target is followed: the folder it points to is replaced, not the link.
    """
    target = Path(target)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    swap = FolderSwap(target, ours=ours)
    swap.new.mkdir()
    try:
        swap.note(**notes)
        yield swap
    except BaseException:
        swap.undo()
        raise
    if swap.swapped:
        swap.finish()
    else:
        shutil.rmtree(swap.new, ignore_errors=True)


_RESTORED = "interruption précédente : dossier précédent remis en place : %s"
_log = logging.getLogger(__name__)


def _manifest(folder: Path) -> dict[str, list[Any] | None] | None:
    """Return the files a run wrote in ``folder`` and their fingerprints, None without a list.

    The fingerprint is ``[size, sha256]`` (:func:`_fingerprint`); ``None`` for a list written
    before fingerprints were recorded (a plain JSON list of names: those files count as ours).
    """
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, list):
        return {str(n): None for n in data}
    files = data.get("fichiers") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return None
    return {str(n): (f if isinstance(f, list) and len(f) == 2 else None) for n, f in files.items()}


def _fingerprint(path: Path, *, like: list[Any] | None = None) -> list[Any]:
    """Return ``[size, sha256]`` of a file (a symlink: of its link text).

    With ``like`` (a recorded fingerprint) of another size, the size alone answers: the file
    is not hashed.
    """
    import hashlib

    if path.is_symlink():
        data = os.readlink(path).encode("utf-8", "surrogateescape")
        return [len(data), hashlib.sha256(data).hexdigest()]
    size = path.stat().st_size
    if like is not None and like[0] != size:
        return [size, ""]
    with path.open("rb") as fh:
        return [size, hashlib.file_digest(fh, "sha256").hexdigest()]


def _same_file(a: Path, b: Path) -> bool:
    import filecmp

    try:
        return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


@contextlib.contextmanager
def new_folder(folder: Path) -> Iterator[Path]:
    """Create ``folder`` and its missing parents; on failure remove those still empty.

    A refused or failed command leaves no empty folder behind (``fiches/``, ``reports/``).
    """
    folder = Path(folder)
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for path in missing:  # the deepest first
            try:
                path.rmdir()
            except OSError:
                break
        raise


#: A run of :func:`staged_folder`: target name, process id, random token.
_RunKey = tuple[str, int, str]


def recover_folders(
    parent: Path, *, committed: Callable[[dict[str, Any]], bool] | None = None
) -> list[Path]:
    """Clean up what killed runs of :func:`staged_folder` left in ``parent``.

    Only names of the form ``.<name>.couverture-<role>-<pid>-<token>`` whose process is gone
    are looked at, and only when a folder stamped with the same pid and token (the new folder,
    or the target it was swapped into) proves they are this program's. A run killed before
    its swap leaves the previous folder in place; a run killed after it keeps the new folder
    when ``committed(stamp)`` says that what had to follow the swap was done (default: yes),
    else the previous folder is put back.

    Returns
    -------
    list of Path
        The targets whose previous folder was put back.
    """
    parent = Path(parent)
    if not parent.is_dir():
        return []
    restored = []
    for (name, pid, token), parts in sorted(_collect_runs(parent).items()):
        if process_alive(pid):
            continue
        target = _recover_run(parent / name, parts, pid=pid, token=token, committed=committed)
        if target is not None:
            restored.append(target)
    return restored


def _collect_runs(parent: Path) -> dict[_RunKey, dict[str, Path]]:
    """Group the leftovers of runs in ``parent`` by run, each as its folders by role."""
    runs: dict[_RunKey, dict[str, Path]] = {}
    for entry in parent.iterdir():
        m = _AUX.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            key = (m["name"], int(m["pid"]), m["token"])
            runs.setdefault(key, {})[m["role"]] = entry
    # a target swapped in by a killed run may have nothing left aside (first report of a month)
    for entry in parent.iterdir():
        if _AUX.match(entry.name):
            continue  # a new folder is stamped too, but it is not a target
        stamp = _read_stamp(entry) if entry.is_dir() and not entry.is_symlink() else None
        if stamp and isinstance(stamp.get("pid"), int) and isinstance(stamp.get("token"), str):
            runs.setdefault((entry.name, stamp["pid"], stamp["token"]), {})
    return runs


def _run_stamp(folder: Path, *, pid: int, token: str) -> dict[str, Any] | None:
    """Return the stamp of ``folder`` when the run ``pid``/``token`` wrote it, else None."""
    stamp = _read_stamp(folder)
    if stamp and stamp.get("pid") == pid and stamp.get("token") == token:
        return stamp
    return None


def _recover_run(
    target: Path,
    parts: dict[str, Path],
    *,
    pid: int,
    token: str,
    committed: Callable[[dict[str, Any]], bool] | None,
) -> Path | None:
    """Settle what one killed run left around ``target``.

    Returns
    -------
    Path or None
        ``target`` when its previous folder was put back (or the unfinished one removed).
    """
    swapped = None
    if target.is_dir() and not target.is_symlink():
        swapped = _run_stamp(target, pid=pid, token=token)
    stamped = {
        role: p
        for role, p in parts.items()
        if role != "ancien" and _run_stamp(p, pid=pid, token=token)
    }
    if swapped is None and not stamped:
        return None  # nothing proves these names are ours: leave them alone
    for folder in stamped.values():
        shutil.rmtree(folder, ignore_errors=True)
    old = parts.get("ancien")
    if swapped is not None:
        if committed is None or committed(swapped):
            _finish_swapped(target, old)
            return None
        _undo_swapped(target, old, pid=pid, token=token)
        return target
    if old is not None and not target.exists():
        os.rename(old, target)
        _log.warning(_RESTORED, target)
        return target
    return None


def _finish_swapped(target: Path, old: Path | None) -> None:
    """Keep the swapped-in ``target``: drop the previous folder, then the stamp."""
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    (target / STAMP_NAME).unlink(missing_ok=True)


def _undo_swapped(target: Path, old: Path | None, *, pid: int, token: str) -> None:
    """Put the previous folder back in place of the swapped-in ``target`` (or remove it)."""
    rejected = target.with_name(f".{target.name}.couverture-rejete-{pid}-{token}")
    os.rename(target, rejected)
    if old is not None:
        os.rename(old, target)
        _log.warning(_RESTORED, target)
    else:
        _log.warning("interruption précédente : dossier inachevé retiré : %s", target)
    shutil.rmtree(rejected, ignore_errors=True)


#: File left in the processed data folder while ``couverture donnees`` replaces its files; it
#: is removed once the store is rebuilt, so a killed build is never used as if it were whole.
BUILD_MARKER = ".donnees-en-cours"


def mark_building(directory: Path) -> None:
    """Mark the processed data in ``directory`` as being rebuilt (before a first file is replaced).

    :func:`couverture.store.build_store` removes the mark once the store is in place.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / BUILD_MARKER).write_text(f"{os.getpid()}\n", encoding="utf-8")
