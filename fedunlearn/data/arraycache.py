"""Arrays computed once per machine: the train/test split, each seed's client partition, and the data sets.

A simulation computes the same index arrays in several processes: the server, and every Ray worker (or
SuperNode) that serves clients. Computing them means importing scikit-learn (the stratified split) and
flwr-datasets (the partitioners), which on a 2-core machine cost each process 5-7 s of CPU, more than the
work itself. So the first process to compute them stores them here, and the others read them back.

Data sets are kept here too (:func:`shared_arrays`), one ``.npy`` file per array, and every process maps the same
files read-only instead of holding a copy: the Ray workers of a machine then share one data set in memory, so
memory stops growing with the number of workers (the operating system's page cache holds the pages once).

Entries are addressed by content: a hash of the inputs (the labels' bytes, the split or partition keys and
the version of the library that computes them), so a stale entry cannot be served. Each is written atomically
(a temporary file, then a rename); one that cannot be read is computed again, and a folder that cannot be
written is no error (the arrays are then computed in every process, as without a cache).

Where: ``$FEDUNLEARN_CACHE_DIR``, else ``$XDG_CACHE_HOME/fedunlearn``, else ``~/.cache/fedunlearn``; set
``FEDUNLEARN_CACHE_DIR=off`` to compute everything in every process. Index files are small (an int64 per
training sample and per partition); a data set takes its size on disk. Everything may be deleted at any time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ENV = "FEDUNLEARN_CACHE_DIR"


def cache_root() -> Path | None:
    """The folder of the cache, or None when it is switched off."""
    chosen = os.environ.get(ENV, "")
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fedunlearn"


def key_of(*parts: object, arrays: Sequence[np.ndarray] = (), package: str | None = None) -> str:
    """A hex digest of ``parts`` (their reprs), the bytes of ``arrays`` and the version of ``package``."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode())
        digest.update(b"\0")
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    if package is not None:
        try:
            digest.update(metadata.version(package).encode())
        except metadata.PackageNotFoundError:
            digest.update(b"-")
    return digest.hexdigest()


def cached_arrays(kind: str, key: str, compute: Callable[[], Sequence[np.ndarray]]) -> tuple[np.ndarray, ...]:
    """The arrays stored under ``kind/key``, or ``compute()``'s (then stored for the next process)."""
    root = cache_root()
    path = root / kind / f"{key}.npz" if root is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return tuple(stored[f"a{i}"] for i in range(len(stored.files)))
        except Exception:  # truncated, corrupt or foreign: compute it again  # noqa: BLE001
            pass
    arrays = tuple(np.asarray(a) for a in compute())
    if path is not None:
        _store(path, arrays)
    return arrays


def shared_arrays(kind: str, key: str, compute: Callable[[], Sequence[np.ndarray]]) -> tuple[np.ndarray, ...]:
    """The arrays stored under ``kind/key/`` mapped read-only into this process (shared with every other process
    that maps them), or ``compute()``'s, stored for the next process and then mapped. Without a cache folder, the
    computed arrays themselves."""
    root = cache_root()
    folder = root / kind / key if root is not None else None
    if folder is not None and (folder / "count").is_file():
        try:
            return _mapped(folder)
        except Exception:  # truncated, corrupt or foreign: compute it again  # noqa: BLE001
            shutil.rmtree(folder, ignore_errors=True)
    arrays = tuple(np.asarray(a) for a in compute())
    if folder is None or not _store_folder(folder, arrays):
        return arrays
    return _mapped(folder)


def _mapped(folder: Path) -> tuple[np.ndarray, ...]:
    count = int((folder / "count").read_text())
    return tuple(np.load(folder / f"a{i}.npy", mmap_mode="r", allow_pickle=False) for i in range(count))


def _store_folder(folder: Path, arrays: tuple[np.ndarray, ...]) -> bool:
    """Write the arrays into a temporary folder beside ``folder``, then rename it: another process sees the whole
    folder or none. False when the folder cannot be written (or another process won the race with its own)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    except OSError:
        return False
    try:
        for i, array in enumerate(arrays):
            np.save(temporary / f"a{i}.npy", array, allow_pickle=False)
        (temporary / "count").write_text(str(len(arrays)))
        os.replace(temporary, folder)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            for path in temporary.iterdir():
                path.unlink()
            temporary.rmdir()
        return (folder / "count").is_file()  # another process stored the same arrays first


def _store(path: Path, arrays: tuple[np.ndarray, ...]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".npz")
    except OSError:
        return  # a folder we cannot write: no cache
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **{f"a{i}": a for i, a in enumerate(arrays)})
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
