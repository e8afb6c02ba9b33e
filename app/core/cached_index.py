"""Caches of the whole index in memory, one per library file and kind, kept current.

Search and similar score every clip and moment of the library (and albums compare a new
clip without a date with every clip); reading a million moments from SQLite takes
seconds, scoring them in numpy milliseconds. So what they need
is read once per process and then kept: a ``CachedIndex`` compares the library's change
counter (one row, bumped by triggers on every change that matters, schema 3) with the
one it was built at, and when it moved, re-reads only the files that are new, changed
or gone (by their ``indexed_at``): a scan adding clips costs a read of those clips.

Snapshots are immutable: a refresh builds a new one and swaps it in, so a search running
on one thread never sees another thread's half-made update.

A subclass with a ``KIND`` is also kept on disk (``index_files``): a new process maps the
last version written instead of reading every vector from SQLite, and if the counter
moved since, updates it the same way (reading only what changed) and writes the result.
What it records per file is a digest of the signature, so the comparison holds across
processes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import numpy as np

from app.core import index_files
from app.store import vectors as store
from app.store.library import Library

S = TypeVar("S")
# Past this share of files changed, building again costs no more than updating.
REBUILD_SHARE = 0.5


class CachedIndex(Generic[S]):
    """Subclasses implement ``signatures`` (file id -> what marks a change), ``build``
    (a snapshot of the given files) and ``update`` (a snapshot without ``gone`` and with
    ``new``); ``snapshot(lib)`` returns a current one."""

    _registry: ClassVar[dict[tuple, CachedIndex]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()
    # The name of its versions on disk (None: memory only) and the version of what is
    # stored: bump RECIPE whenever the arrays, or how they are computed, change.
    KIND: ClassVar[str | None] = None
    RECIPE: ClassVar[int] = 1

    def __init__(self):
        self.lock = threading.Lock()
        self.count: int | None = None
        self.signature: dict[int, int] = {}  # file id -> digest of its signature
        self.current: S | None = None
        self.source = "none"  # where the current snapshot came from: disk, build, update
        self.folder: Path | None = None  # the version on disk the snapshot is mapped from

    @classmethod
    def of(cls, lib: Library) -> CachedIndex[S]:
        key = (cls, str(Path(lib.path).resolve()), store.library_identity(lib))
        with cls._registry_lock:
            index = cls._registry.get(key)
            if index is None:
                index = cls._registry[key] = cls()
        return index

    @classmethod
    def snapshot(cls, lib: Library, build: bool = True) -> S | None:
        return cls.of(lib).refresh(lib, build)

    @classmethod
    def forget_all(cls) -> None:
        """Drop every cache (tests; a library file replaced under the same name)."""
        with cls._registry_lock:
            cls._registry.clear()

    def refresh(self, lib: Library, build: bool = True) -> S | None:
        """A current snapshot; without ``build``, None where there is none in memory or
        on disk to update (the caller reads what it needs another way)."""
        count = store.change_count(lib)  # before the reads: a later change shows next time
        with self.lock:
            if self.current is not None and count == self.count:
                return self.current
            if self.current is None and self.KIND is not None:
                self._load(lib, count)
                if self.current is not None and count == self.count:
                    return self.current
            if self.current is None and not build:
                return None
            now = {f: index_files.digest(sig) for f, sig in self.signatures(lib).items()}
            if self.current is None:
                snap, self.source = self.build(lib, sorted(now)), "build"
            else:
                gone = sorted(f for f, sig in self.signature.items() if now.get(f) != sig)
                new = sorted(f for f, sig in now.items() if self.signature.get(f) != sig)
                if not gone and not new:
                    snap = self.current
                elif len(gone) + len(new) > REBUILD_SHARE * max(1, len(now)) \
                        or self.stale(self.current, len(now)):
                    snap, self.source = self.build(lib, sorted(now)), "build"
                else:
                    snap, self.source = self.update(lib, self.current, gone, new), "update"
            unchanged = snap is self.current
            self.current, self.count, self.signature = snap, count, now
            if self.KIND is not None:
                self._save(lib, unchanged)
            return self.current

    def _load(self, lib: Library, count: int) -> None:
        """The newest version on disk, if one is valid for this library and recipe."""
        loaded = index_files.load(Path(lib.path), self.KIND, self.RECIPE,
                                  store.library_identity(lib), count)
        if loaded is None:
            return
        try:
            snap = self.restore(loaded.arrays, loaded.meta)
        except (ValueError, KeyError, IndexError, TypeError):
            index_files.remove(loaded.folder)  # arrays that do not fit together
            return
        self.current, self.count, self.source = snap, loaded.count, "disk"
        self.folder = loaded.folder
        self.signature = dict(zip(loaded.signature_ids.tolist(),
                                  loaded.signature_digests.tolist(), strict=True))

    def _save(self, lib: Library, unchanged: bool) -> None:
        """Write the current snapshot as a new version and map it back: what is on disk
        can be dropped from memory by the system, what was built in memory cannot. A
        snapshot the counter's move did not change keeps its arrays (linked, not copied)."""
        identity = store.library_identity(lib)
        folder = None
        if unchanged and self.folder is not None:
            folder = index_files.relabel(self.folder, self.count, self.signature)
        if folder is None:
            arrays, meta = self.arrays(self.current)
            folder = index_files.save(Path(lib.path), self.KIND, self.RECIPE, identity,
                                      self.count, arrays, meta, self.signature)
        if folder is None:
            self.folder = None  # nowhere to write: it lives in memory
            return
        loaded = index_files.load(Path(lib.path), self.KIND, self.RECIPE, identity, self.count)
        if loaded is not None and loaded.count == self.count:
            self.current, self.folder = self.restore(loaded.arrays, loaded.meta), loaded.folder

    # ---- what subclasses provide ---------------------------------------------------------
    def signatures(self, lib: Library) -> dict[int, object]:
        raise NotImplementedError

    def build(self, lib: Library, file_ids: list[int]) -> S:
        raise NotImplementedError

    def update(self, lib: Library, current: S, gone: list[int], new: list[int]) -> S:
        raise NotImplementedError

    def arrays(self, snap: S) -> tuple[dict[str, np.ndarray], dict]:
        """The snapshot as named arrays and a little JSON (for ``KIND``); an array still
        as mapped from the version it was restored from may be given as
        ``index_files.Linked.of(array)``, so that the new version links its file."""
        raise NotImplementedError

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> S:
        """A snapshot from what ``arrays`` gave (mapped, read-only); raises ValueError,
        KeyError or IndexError if they do not fit together."""
        raise NotImplementedError

    def stale(self, current: S, files_now: int) -> bool:
        """Whether to build again rather than update (e.g. a fit made on far fewer files)."""
        return False


def moment_permutation(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Moments follow their files: for files taken in a new order, with their moments at
    ``starts`` (``counts`` each) in the old order, the old position of each moment in the
    new order (the concatenation of arange(s, s + c))."""
    counts = np.asarray(counts, np.int64)
    begin = np.cumsum(counts) - counts
    return (np.arange(int(counts.sum())) - np.repeat(begin, counts)
            + np.repeat(np.asarray(starts, np.int64), counts))
