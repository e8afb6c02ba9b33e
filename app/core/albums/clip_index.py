"""The clip vectors albums compare, kept on disk beside the library (``CachedIndex``).

A clip without a trusted date may be a copy of any clip, so placing one after a scan
compares it with every clip of the library. Reading every clip's vectors from SQLite
for that takes seconds on a large library; mapping them from one file costs little.
The snapshot holds the stored float16 vectors unchanged (the comparisons are the same
arithmetic on the same numbers as from SQLite).

A scan changes few clips: an update keeps the rows already written (``base``, linked
into the new version rather than written again), marks those of files gone or indexed
again as dead (``alive``) and puts the new rows in a small ``extra`` part. When the
dead and extra rows reach MERGE_SHARE of the base, they are merged into a new base
(written whole): the writes stay about proportional to the clips that changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.cached_index import CachedIndex
from app.core.index_files import Linked
from app.inference import VISUAL_DIM
from app.store.library import Library
from app.store.vectors import clip_columns, present_files

READ_CHUNK = 5000  # clips read from SQLite at a time: the BLOBs of one chunk
MERGE_SHARE = 0.1  # dead and extra rows, of the base, past which they are merged


@dataclass
class Rows:
    """Clip vectors of files, ordered by file id."""

    file_ids: np.ndarray  # [n] int64
    visual: np.ndarray  # [n, dv] float16
    audio: np.ndarray  # [n, da] float16, zeros without sound; da = 0 when no clip has sound

    def __len__(self) -> int:
        return len(self.file_ids)


def read_rows(lib: Library, file_ids) -> Rows:
    """The clip vectors of these files (those with clip rows) from SQLite, a chunk at a
    time into arrays made once."""
    ids = np.unique(np.asarray(file_ids, np.int64))
    visual = np.zeros((len(ids), VISUAL_DIM), np.float16)
    audio = np.zeros((len(ids), 0), np.float16)
    found = np.zeros(len(ids), bool)
    for lo in range(0, len(ids), READ_CHUNK):
        chunk = ids[lo:lo + READ_CHUNK]
        got, (vis, aud) = clip_columns(lib, chunk, ("visual", "audio"))
        if not len(got):
            continue
        if vis.shape[1] != visual.shape[1]:
            visual = np.zeros((len(ids), vis.shape[1]), np.float16)
        if aud.shape[1] and not audio.shape[1]:
            audio = np.zeros((len(ids), aud.shape[1]), np.float16)
        # A scan may write between the reads: rows are placed by file id.
        at = lo + np.searchsorted(chunk, got)
        visual[at] = vis
        found[at] = True
        if aud.shape[1]:
            audio[at] = aud
    if not found.all():  # files without clip rows (gone meanwhile) are left out
        ids, visual, audio = ids[found], visual[found], audio[found]
    return Rows(ids, visual, audio)


def join(parts: list[Rows]) -> Rows:
    """The rows of all parts (no file in two), in file id order."""
    return _gather([(p, np.arange(len(p))) for p in parts])


def _gather(parts: list[tuple[Rows, np.ndarray]]) -> Rows:
    """Some rows (positions, ascending, distinct) of each part (no file in two), in file
    id order: copied a chunk at a time into arrays made once, so that gathering a whole
    mapped library holds it once; all rows of a single part are that part's arrays
    (read-only where mapped). A part without any soundtrack (no audio columns) gets
    zeros."""
    parts = [(p, np.asarray(at, np.int64)) for p, at in parts if len(at)]
    if len(parts) == 1 and len(parts[0][1]) == len(parts[0][0]):
        return parts[0][0]  # all of one part (a whole library after a build): as mapped
    if not parts:
        return Rows(np.zeros(0, np.int64), np.zeros((0, VISUAL_DIM), np.float16),
                    np.zeros((0, 0), np.float16))
    ids = np.concatenate([p.file_ids[at] for p, at in parts])
    order = np.argsort(ids, kind="stable")
    dest = np.empty(len(ids), np.int64)  # where each part's rows go, in turn
    dest[order] = np.arange(len(ids))
    visual = np.empty((len(ids), parts[0][0].visual.shape[1]), np.float16)
    audio = np.zeros((len(ids), max(p.audio.shape[1] for p, _ in parts)), np.float16)
    start = 0
    for part, at in parts:
        to = dest[start:start + len(at)]
        start += len(at)
        for lo in range(0, len(at), READ_CHUNK):
            visual[to[lo:lo + READ_CHUNK]] = part.visual[at[lo:lo + READ_CHUNK]]
            if part.audio.shape[1]:
                audio[to[lo:lo + READ_CHUNK]] = part.audio[at[lo:lo + READ_CHUNK]]
    return Rows(ids[order], visual, audio)


@dataclass
class ClipRows:
    """The snapshot: ``base`` rows (file id order) of which those not ``alive`` are
    stale, and ``extra`` rows (file id order, all current) added since the base."""

    base: Rows
    alive: np.ndarray  # [len(base)] bool
    extra: Rows

    def rows(self, file_ids) -> Rows:
        """The current vectors of these files (those the snapshot holds), by file id."""
        ids = np.unique(np.asarray(file_ids, np.int64))
        return _gather([(self.base, _positions(self.base.file_ids, ids, self.alive)),
                        (self.extra, _positions(self.extra.file_ids, ids))])

    def all(self) -> Rows:
        return _gather([(self.base, np.flatnonzero(self.alive)),
                        (self.extra, np.arange(len(self.extra)))])


def _positions(held: np.ndarray, wanted: np.ndarray, alive: np.ndarray | None = None,
               ) -> np.ndarray:
    """Where (ascending) the sorted ``held`` ids hold some of the sorted ``wanted`` ones."""
    if not len(held) or not len(wanted):
        return np.zeros(0, np.int64)
    at = np.minimum(np.searchsorted(held, wanted), len(held) - 1)
    hit = held[at] == wanted
    if alive is not None:
        hit &= alive[at]
    return at[hit]


class ClipVectorIndex(CachedIndex[ClipRows]):
    KIND = "album_clips"  # no "-": it separates the parts of a version's name
    RECIPE = 1

    def signatures(self, lib: Library) -> dict[int, object]:
        return present_files(lib)

    def build(self, lib: Library, file_ids: list[int]) -> ClipRows:
        base = read_rows(lib, file_ids)
        return ClipRows(base, np.ones(len(base), bool), read_rows(lib, []))

    def update(self, lib: Library, current: ClipRows, gone: list[int],
               new: list[int]) -> ClipRows:
        # A file indexed again is in both: its old row dies, its new one is read.
        stale = np.union1d(np.asarray(gone, np.int64), np.asarray(new, np.int64))
        alive = current.alive & ~np.isin(current.base.file_ids, stale)
        kept = np.flatnonzero(~np.isin(current.extra.file_ids, stale))
        added = read_rows(lib, new)
        extra = _gather([(current.extra, kept), (added, np.arange(len(added)))])
        if len(extra) + int((~alive).sum()) > MERGE_SHARE * len(current.base):
            merged = _gather([(current.base, np.flatnonzero(alive)),
                              (extra, np.arange(len(extra)))])
            return ClipRows(merged, np.ones(len(merged), bool), read_rows(lib, []))
        return ClipRows(current.base, alive, extra)

    def arrays(self, snap: ClipRows) -> tuple[dict[str, np.ndarray], dict]:
        base, extra = snap.base, snap.extra
        return ({"ids": Linked.of(base.file_ids), "visual": Linked.of(base.visual),
                 "audio": Linked.of(base.audio), "alive": snap.alive,
                 "extra_ids": extra.file_ids, "extra_visual": extra.visual,
                 "extra_audio": extra.audio}, {})

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> ClipRows:
        base = Rows(arrays["ids"], arrays["visual"], arrays["audio"])
        extra = Rows(arrays["extra_ids"], arrays["extra_visual"], arrays["extra_audio"])
        for part in (base, extra):
            if part.file_ids.dtype != np.int64 or part.visual.dtype != np.float16 \
                    or part.audio.dtype != np.float16 \
                    or not len(part) == len(part.visual) == len(part.audio):
                raise ValueError("the arrays of a part differ")
            if (np.diff(part.file_ids) <= 0).any():
                raise ValueError("file ids out of order")  # looked up by bisection
        if arrays["alive"].shape != (len(base),) or arrays["alive"].dtype != bool:
            raise ValueError("alive does not fit the base")
        return ClipRows(base, arrays["alive"], extra)


def clip_rows(lib: Library, build: bool = True) -> ClipRows | None:
    """The current snapshot; without ``build``, None where none exists to update (see
    ``CachedIndex.refresh``)."""
    return ClipVectorIndex.snapshot(lib, build)
