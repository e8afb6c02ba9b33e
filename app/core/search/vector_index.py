"""Every clip and moment of the library in memory, compact: the candidate stage of similar.

Scoring a query against a million 2304-d float16 moments means reading 4.6 GB (9 GB as
float32). Kept here instead, per library and process (``CachedIndex``):

- per clip, its fused vector in int8 (one scale per clip): 2.3 KB, dot products within
  ~0.003 of the float16 ones;
- per clip 128 and per moment 64 numbers: projections of the fused vectors on the
  library's own top principal directions (picture and sound halves apart, so a photo
  can be scored on the picture alone).

A query is scored on the projections everywhere (milliseconds), the best few thousand
files again on their int8 clip vectors, and the best of those exactly on their stored
vectors (``app.core.search.service``). Projections alone keep what the library's clips share
(kind of scene) but lose what one event's clips share with each other, so an event's
other clips ranked below hundreds of look-alikes: measured on bench/scale.py's 10,000-clip
library, the exhaustive top 20 was among 200 candidates in 91% (moments) to 99% (clips)
of queries with projections alone, 100% with the int8 step. On a library no larger than
the candidate counts every file is scored exactly: the answer is the exhaustive one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.cached_index import CachedIndex, moment_permutation
from app.core.vectors import principal_directions
from app.inference import FUSED_DIM, VISUAL_DIM
from app.store import vectors as store
from app.store.library import Library

CLIP_DIMS = (192, 64)  # picture, sound
MOMENT_DIMS = (48, 16)  # the leading directions of the clips' basis
FIT_SAMPLE = 8192  # vectors the principal directions are fitted on
CHUNK_FILES = 500  # files read and projected at a time: bounds memory while building
REFIT_GROWTH = 2.0  # fit again once the library has grown this much since the last fit


@dataclass(frozen=True)
class Basis:
    """Principal directions of the picture and sound halves of fused vectors."""

    visual: np.ndarray  # [rv, 1280] float32
    audio: np.ndarray  # [ra, da] float32

    def project(self, fused: np.ndarray) -> np.ndarray:
        """[k, d] (or [d]) fused vectors, float32 -> [k, rv + ra] float32."""
        x = np.atleast_2d(np.asarray(fused, np.float32))
        out = np.empty((len(x), len(self.visual) + len(self.audio)), np.float32)
        out[:, :len(self.visual)] = x[:, :VISUAL_DIM] @ self.visual.T
        out[:, len(self.visual):] = x[:, VISUAL_DIM:] @ self.audio.T
        return out if np.ndim(fused) == 2 else out[0]

    @staticmethod
    def fit(sample: np.ndarray, dims: tuple[int, int]) -> Basis:
        x = sample.astype(np.float32)
        # float32 eigendecomposition: these bases were measured in float32 (see the note above)
        return Basis(principal_directions(x[:, :VISUAL_DIM], dims[0], np.float32),
                     principal_directions(x[:, VISUAL_DIM:], dims[1], np.float32))


@dataclass(frozen=True)
class Vectors:
    """One snapshot of the library's reduced vectors; files ordered by id."""

    file_ids: np.ndarray  # [n] int64
    clips: np.ndarray  # [n, 256] float32 projections
    codes: np.ndarray  # [n, d] int8 clip vectors; vector = codes * scale
    scale: np.ndarray  # [n] float32
    clip_visual_scale: np.ndarray  # [n] float32, as visual_scale, for clips
    counts: np.ndarray  # [n] int64, moments per file
    starts: np.ndarray  # [m] float32
    ends: np.ndarray  # [m] float32
    moments: np.ndarray  # [m, 64] float32
    visual_scale: np.ndarray  # [m] float32: picture vector = picture half of fused * this
    clip_basis: Basis
    moment_basis: Basis
    fitted_on: int  # files in the library when the bases were fitted

    offsets: np.ndarray = None  # [n + 1] first moment of each file

    def __post_init__(self):
        object.__setattr__(self, "offsets", np.concatenate([[0], np.cumsum(self.counts)]))

    # ---- approximate scores -----------------------------------------------------------------
    def clip_scores(self, fused: np.ndarray) -> np.ndarray:
        return self.clips @ self.clip_basis.project(fused)

    def clip_picture_scores(self, visual: np.ndarray) -> np.ndarray:
        """[n] approximate cosine of each clip's picture vector with ``visual``."""
        rv = len(self.clip_basis.visual)
        q = self.clip_basis.visual @ visual.astype(np.float32)
        return (self.clips[:, :rv] @ q) * self.clip_visual_scale

    def fine_clip_scores(self, rows: np.ndarray, fused: np.ndarray) -> np.ndarray:
        """Clip scores of some files from their int8 vectors: near exact."""
        q = np.asarray(fused, np.float32)
        return (self.codes[rows].astype(np.float32) @ q) * self.scale[rows]

    def fine_picture_scores(self, rows: np.ndarray, visual: np.ndarray) -> np.ndarray:
        q = np.asarray(visual, np.float32)
        codes = self.codes[rows, :VISUAL_DIM].astype(np.float32)
        return (codes @ q) * self.scale[rows] * self.clip_visual_scale[rows]

    def moment_scores(self, fused: np.ndarray) -> np.ndarray:
        return self.moments @ self.moment_basis.project(fused)

    def picture_scores(self, visual: np.ndarray) -> np.ndarray:
        """[m] approximate cosine of each moment's picture vector with ``visual``."""
        rv = len(self.moment_basis.visual)
        q = self.moment_basis.visual @ visual.astype(np.float32)
        return (self.moments[:, :rv] @ q) * self.visual_scale

    def best_per_file(self, moment_scores: np.ndarray) -> np.ndarray:
        """[n] highest moment score of each file (-inf for a file without moments)."""
        out = np.full(len(self.file_ids), -np.inf, np.float32)
        has = self.counts > 0
        if has.any():
            out[has] = np.maximum.reduceat(moment_scores, self.offsets[:-1][has])
        return out


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k highest finite scores (all finite rows if fewer), unordered."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) <= k:
        return finite
    return finite[np.argpartition(-scores[finite], k - 1)[:k]]


# ---- building and keeping it current ---------------------------------------------------
class _Grow:
    """A float32 matrix filled row block by row block, grown by half when full: the
    moments' count is known only once they are read."""

    def __init__(self, rows: int, dim: int):
        self.data = np.empty((max(rows, 16), dim) if dim else max(rows, 16), np.float32)
        self.size = 0

    def add(self, block: np.ndarray) -> None:
        if self.size + len(block) > len(self.data):
            bigger = np.empty((max(self.size + len(block), len(self.data) * 3 // 2),
                               *self.data.shape[1:]), np.float32)
            bigger[:self.size] = self.data[:self.size]
            self.data = bigger
        self.data[self.size:self.size + len(block)] = block
        self.size += len(block)

    def done(self) -> np.ndarray:
        # A view: the unused tail was never written, so it holds no memory.
        return self.data[:self.size]


def _read(lib: Library, file_ids: list[int], clip_basis: Basis, moment_basis: Basis):
    """Reduced vectors of these files, read and projected CHUNK_FILES at a time into
    arrays made once."""
    n = len(file_ids)
    ids = np.zeros(n, np.int64)
    clips = np.zeros((n, sum(CLIP_DIMS)), np.float32)
    codes = np.zeros((n, FUSED_DIM), np.int8)
    cscale, cvscale, counts = np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.int64)
    guess = n * 12  # moments per clip, about
    starts, ends, scale = _Grow(guess, 0), _Grow(guess, 0), _Grow(guess, 0)
    moments = _Grow(guess, sum(MOMENT_DIMS))
    done = 0
    for lo in range(0, n, CHUNK_FILES):
        cm = store.clip_vectors(lib, file_ids[lo:lo + CHUNK_FILES], "fused")
        sm = store.segment_vectors(lib, cm.file_ids, "fused")
        at = slice(done, done + len(cm.file_ids))
        ids[at] = cm.file_ids
        if len(cm.file_ids) and cm.vectors.shape[1] == FUSED_DIM:
            x = cm.vectors.astype(np.float32)  # once: float16 conversion is the slow part
            clips[at] = clip_basis.project(x)
            codes[at], cscale[at] = _int8(x)
            cvscale[at] = _visual_scale(x)
        counts[at] = np.searchsorted(sm.file_ids, cm.file_ids, side="right") \
            - np.searchsorted(sm.file_ids, cm.file_ids, side="left")
        starts.add(sm.starts)
        ends.add(sm.ends)
        if len(sm.file_ids):
            x = sm.vectors.astype(np.float32)
            moments.add(moment_basis.project(x))
            scale.add(_visual_scale(x))
        done += len(cm.file_ids)
    if done < n:  # files that lost their rows meanwhile
        ids, clips, codes = ids[:done], clips[:done].copy(), codes[:done].copy()
        cscale, cvscale, counts = cscale[:done], cvscale[:done], counts[:done]
    return (ids, clips, codes, cscale, cvscale, counts, starts.done(), ends.done(),
            moments.done(), scale.done())


def _int8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 rows as int8 codes and one scale each (the largest entry maps to 127)."""
    scale = np.maximum(np.abs(x).max(axis=1), 1e-12) / 127.0 if len(x) else np.zeros(0)
    return (np.round(x / scale[:, None]).astype(np.int8) if len(x) else
            np.zeros(x.shape, np.int8)), scale.astype(np.float32)


def _visual_scale(fused: np.ndarray) -> np.ndarray:
    """Picture vector = picture half of the fused vector * this (1 without sound)."""
    half = np.sqrt(np.einsum("ij,ij->i", fused[:, :VISUAL_DIM], fused[:, :VISUAL_DIM],
                             dtype=np.float32))
    return (1.0 / np.maximum(half, 1e-6)).astype(np.float32)


def _fit(lib: Library, file_ids: list[int]) -> tuple[Basis, Basis]:
    """Bases fitted on a fixed-seed sample of the library's clips and moments together;
    moments keep the leading directions of the clips' basis."""
    rng = np.random.default_rng(0)
    ids = np.asarray(file_ids, np.int64)
    picked = np.sort(rng.choice(ids, size=min(len(ids), FIT_SAMPLE // 2), replace=False))
    clips = store.clip_vectors(lib, picked, "fused").vectors
    few = np.sort(rng.choice(picked, size=min(len(picked), FIT_SAMPLE // 16), replace=False))
    segs = store.segment_vectors(lib, few, "fused").vectors
    if len(segs) > FIT_SAMPLE // 2:
        segs = segs[np.sort(rng.choice(len(segs), FIT_SAMPLE // 2, replace=False))]
    sample = np.concatenate([clips, segs]) if len(segs) else clips
    if sample.shape[1] != FUSED_DIM:
        sample = np.zeros((0, FUSED_DIM), np.float16)
    clip_basis = Basis.fit(sample, CLIP_DIMS)
    moment_basis = Basis(clip_basis.visual[:MOMENT_DIMS[0]], clip_basis.audio[:MOMENT_DIMS[1]])
    return clip_basis, moment_basis


# The arrays of a snapshot kept on disk, in Vectors field order.
_STORED = ("file_ids", "clips", "codes", "scale", "clip_visual_scale", "counts", "starts",
           "ends", "moments", "visual_scale")


class VectorIndex(CachedIndex[Vectors]):
    KIND = "vectors"
    RECIPE = 1

    def arrays(self, snap: Vectors) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {name: getattr(snap, name) for name in _STORED}
        arrays.update(clip_basis_visual=snap.clip_basis.visual,
                      clip_basis_audio=snap.clip_basis.audio,
                      moment_basis_visual=snap.moment_basis.visual,
                      moment_basis_audio=snap.moment_basis.audio)
        return arrays, {"fitted_on": int(snap.fitted_on)}

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> Vectors:
        snap = Vectors(*(arrays[name] for name in _STORED),
                       Basis(arrays["clip_basis_visual"], arrays["clip_basis_audio"]),
                       Basis(arrays["moment_basis_visual"], arrays["moment_basis_audio"]),
                       int(meta["fitted_on"]))
        n, m = len(snap.file_ids), len(snap.starts)
        if any(len(a) != n for a in (snap.clips, snap.codes, snap.scale,
                                     snap.clip_visual_scale, snap.counts)) \
                or any(len(a) != m for a in (snap.ends, snap.moments, snap.visual_scale)) \
                or int(snap.offsets[-1]) != m or (n and np.any(np.diff(snap.file_ids) <= 0)):
            raise ValueError("vector index arrays do not fit together")
        return snap

    def signatures(self, lib: Library) -> dict[int, object]:
        return store.present_files(lib)

    def build(self, lib: Library, file_ids: list[int]) -> Vectors:
        clip_basis, moment_basis = _fit(lib, file_ids)
        parts = _read(lib, file_ids, clip_basis, moment_basis)
        return Vectors(*parts, clip_basis, moment_basis, len(file_ids))

    def update(self, lib: Library, current: Vectors, gone: list[int], new: list[int]) -> Vectors:
        keep = ~np.isin(current.file_ids, gone)
        keep_moments = np.repeat(keep, current.counts)
        added = _read(lib, new, current.clip_basis, current.moment_basis)
        ids = np.concatenate([current.file_ids[keep], added[0]])
        order = np.argsort(ids, kind="stable")
        counts = np.concatenate([current.counts[keep], added[5]])
        # Moments follow their files into the files' new order.
        moment_order = moment_permutation((np.cumsum(counts) - counts)[order], counts[order])

        def files(a, b):
            return np.concatenate([a[keep], b])[order]

        def moments(a, b):
            return np.concatenate([a[keep_moments], b])[moment_order]

        return Vectors(ids[order], files(current.clips, added[1]),
                       files(current.codes, added[2]), files(current.scale, added[3]),
                       files(current.clip_visual_scale, added[4]), counts[order],
                       moments(current.starts, added[6]), moments(current.ends, added[7]),
                       moments(current.moments, added[8]),
                       moments(current.visual_scale, added[9]),
                       current.clip_basis, current.moment_basis, current.fitted_on)

    def stale(self, current: Vectors, files_now: int) -> bool:
        return files_now > REFIT_GROWTH * max(current.fitted_on, 50)


def vector_index(lib: Library) -> Vectors:
    return VectorIndex.snapshot(lib)
