"""The one cache door: one digest recipe, one get/put, for every result computed from a registry.

A cached result is a file under ``data/processed/cache/`` named by the digest of what it depends
on: the registry's bytes, everything that changes its meaning (options such as the default stage
or the CLI options of a cached answer) and the version of the code and configuration that
computed it. Files are written aside then renamed, so that readers never see half a file, and no
lock is ever held: an analysis open in a notebook never blocks a command run beside it (the
store itself is only read).

Frames are stored as LZ4-compressed Arrow IPC files (pandas dtypes round-trip exactly), raw
answers (the CLI's CSV replay) as bytes. The :data:`KEEP` most recently written registries are
kept, the others evicted.

Examples
--------
>>> key = digest_bytes(b"cpts_id;code_insee", "aci")
>>> len(key)
64
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from couverture import _config, settings
from couverture._errors import RegistryError, StoreError
from couverture._folders import BUILD_MARKER
from couverture._output import process_alive
from couverture._validate import check_registry_file, registry_files

# PyArrow is imported by the frame functions only: a replayed answer is bytes.

if TYPE_CHECKING:
    import pandas as pd

# bump when cached results change shape, so that old entries are ignored
VERSION = "4"
#: registries whose results are kept (the oldest are evicted)
KEEP = 12
_CHUNK = 1 << 20


def check_complete(path: Path | None = None) -> None:
    """Refuse a store whose processed data were being rebuilt by a run that did not finish.

    Checked when the store is opened (:func:`couverture.store.connect`), and here, beside the
    answers, because a cached answer is replayed without opening the store (nor importing it).
    """
    path = path or settings.STORE_PATH
    marker = path.parent / BUILD_MARKER
    if not marker.exists():
        return
    try:
        pid = int(marker.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        pid = 0

    # this very process left the mark: its build failed (the store is not being built now)
    if pid and pid != os.getpid() and process_alive(pid):
        state = f"sont en cours de reconstruction (couverture donnees, processus {pid})"
        advice = "attendre la fin de la construction"
    else:
        state = "sont incomplètes : la dernière construction (couverture donnees) a été interrompue"
        advice = "relancer `make data` (ou `couverture donnees` avec les mêmes options)"
    raise StoreError(f"base {path} : les données de {path.parent} {state} ; {advice}")


def _hash_parts(h: hashlib._Hash, parts: tuple[str, ...]) -> str:
    for part in parts:
        h.update(b"\0" + part.encode())
    return h.hexdigest()


def digest(path: Path, *parts: str) -> str:
    """Return the sha256 of a file's bytes followed by ``parts`` (each after a NUL byte).

    ``digest(path)`` alone is the registry's fingerprint (reports, history); a cache key adds
    every option that changes a result and :func:`code_version`.

    Raises
    ------
    RegistryError
        When the file cannot be read (missing, a directory, no permission).
    """
    check_registry_file(Path(path))  # a FIFO or /dev/zero would hang here
    h = hashlib.sha256()
    try:
        for file in registry_files(Path(path)):  # a shapefile's attributes are in its .dbf
            with file.open("rb") as fh:
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    h.update(chunk)
    except FileNotFoundError as exc:
        raise RegistryError(Path(path), [(None, "", "fichier introuvable")]) from exc
    except (IsADirectoryError, PermissionError) as exc:
        raise RegistryError(
            Path(path), [(None, "", f"fichier illisible ({exc.strerror})")]
        ) from exc
    return _hash_parts(h, parts)


def digest_bytes(data: bytes, *parts: str) -> str:
    """Return :func:`digest` of bytes already in memory (same recipe)."""
    return _hash_parts(hashlib.sha256(data), parts)


@cache
def code_version() -> str:
    """Digest of the package's code and configuration.

    Results computed by another version of couverture, or with another configuration table, are
    never served.
    """
    h = hashlib.sha256(VERSION.encode())
    for path in sorted(settings.PACKAGE_DIR.rglob("*")):
        if path.suffix in (".py", ".csv", ".toml", ".js", ".css") and path.is_file():
            h.update(path.relative_to(settings.PACKAGE_DIR).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    # the configuration as read, wherever settings.CONFIG_DIR points (tests move it)
    h.update(_config.digest().encode())
    return h.hexdigest()[:16]


def registry_key(fingerprint: str, *, name: str, store_path: Path | None = None) -> str:
    """Return the cache key of everything computed from a registry.

    Its fingerprint (:func:`digest` of its bytes), its file name (stated in every output and
    warning), the code and configuration version, and the identity of the store file (inode,
    size, modification time: a rebuilt store never serves older results; one ``stat``, no
    database opened).
    """
    try:
        st = (store_path or settings.STORE_PATH).stat()
        store = f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"
    except FileNotFoundError:
        store = "absent"
    return digest_bytes(fingerprint.encode(), name, code_version(), store)


def cache_dir() -> Path:
    """Directory of the cached results (``data/processed/cache``)."""
    return settings.PROCESSED_DIR / "cache"


def _entry(name: str, key: str) -> Path:
    named = hashlib.sha256(name.encode()).hexdigest()[:20]
    return cache_dir() / key / named


def get_bytes(name: str, key: str) -> bytes | None:
    """Return the cached bytes of result ``name`` under ``key``, or ``None`` when absent."""
    try:
        return _entry(name, key).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def put_bytes(name: str, key: str, data: bytes) -> None:
    """Cache ``data`` as result ``name`` under ``key`` (written aside, then renamed).

    A cache that cannot be written (read-only data folder, disk full) is not an error: the
    result is simply not cached.
    """
    target = _entry(name, key)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        os.utime(target.parent)
        _evict()
    except OSError:
        return


def _evict() -> None:
    entries = [p for p in cache_dir().iterdir() if p.is_dir()]
    if len(entries) <= KEEP:
        return

    def written(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    for old in sorted(entries, key=written, reverse=True)[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


# Frames are cached as Arrow IPC files, LZ4-compressed (with pandas' dtypes in their metadata):
# written and read back several times faster than Parquet, whose portability a cache read by the
# same version never needs.
def get_frame(name: str, key: str) -> pd.DataFrame | None:
    """Return the cached frame ``name`` under ``key``, or ``None`` when absent."""
    import pyarrow as pa

    data = get_bytes(name, key)
    if data is None:
        return None
    frame: pd.DataFrame = pa.ipc.open_file(pa.py_buffer(data)).read_all().to_pandas()
    return frame


def put_frame(name: str, key: str, frame: pd.DataFrame) -> None:
    """Cache ``frame`` (without its index) as result ``name`` under ``key``."""
    import pyarrow as pa

    # one thread: PyArrow would otherwise start a pool of Python threads for each frame, whose
    # start-up costs more than it saves on frames of 35,000 rows (the GIL serialises them)
    table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)
    sink = pa.BufferOutputStream()
    # LZ4: a third of the size on disk (12 registries kept) for a few milliseconds per read
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    put_bytes(name, key, sink.getvalue().to_pybytes())


def clear() -> None:
    """Remove every cached result (``make data`` rebuilds the store and calls this)."""
    shutil.rmtree(cache_dir(), ignore_errors=True)
