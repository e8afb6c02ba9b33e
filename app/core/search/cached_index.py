"""Caches of the whole index in memory, one per library file and kind, kept current.

Search and similar score every clip and moment of the library; reading a million
moments from SQLite takes seconds, scoring them in numpy milliseconds. So what they need
is read once per process and then kept: a ``CachedIndex`` compares the library's change
counter (one row, bumped by triggers on every change that matters, schema 3) with the
one it was built at, and when it moved, re-reads only the files that are new, changed
or gone (by their ``indexed_at``): a scan adding clips costs a read of those clips.

Snapshots are immutable: a refresh builds a new one and swaps it in, so a search running
on one thread never sees another thread's half-made update.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import numpy as np

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

    def __init__(self):
        self.lock = threading.Lock()
        self.count: int | None = None
        self.signature: dict[int, object] = {}
        self.current: S | None = None

    @classmethod
    def of(cls, lib: Library) -> CachedIndex[S]:
        key = (cls, str(Path(lib.path).resolve()), store.library_identity(lib))
        with cls._registry_lock:
            index = cls._registry.get(key)
            if index is None:
                index = cls._registry[key] = cls()
        return index

    @classmethod
    def snapshot(cls, lib: Library) -> S:
        return cls.of(lib).refresh(lib)

    @classmethod
    def forget_all(cls) -> None:
        """Drop every cache (tests; a library file replaced under the same name)."""
        with cls._registry_lock:
            cls._registry.clear()

    def refresh(self, lib: Library) -> S:
        count = store.change_count(lib)  # before the reads: a later change shows next time
        with self.lock:
            if self.current is not None and count == self.count:
                return self.current
            now = self.signatures(lib)
            if self.current is None:
                snap = self.build(lib, sorted(now))
            else:
                gone = sorted(f for f, sig in self.signature.items() if now.get(f) != sig)
                new = sorted(f for f, sig in now.items() if self.signature.get(f) != sig)
                if not gone and not new:
                    snap = self.current
                elif len(gone) + len(new) > REBUILD_SHARE * max(1, len(now)) \
                        or self.stale(self.current, len(now)):
                    snap = self.build(lib, sorted(now))
                else:
                    snap = self.update(lib, self.current, gone, new)
            self.current, self.count, self.signature = snap, count, now
            return snap

    # ---- what subclasses provide ---------------------------------------------------------
    def signatures(self, lib: Library) -> dict[int, object]:
        raise NotImplementedError

    def build(self, lib: Library, file_ids: list[int]) -> S:
        raise NotImplementedError

    def update(self, lib: Library, current: S, gone: list[int], new: list[int]) -> S:
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
