"""The cheap stages before duplicates are verified, so a large library is not aligned pair
by pair (verification costs ~5 ms a pair; a library of 100,000 clips has over a million
pairs of alike moments, nearly all of them other clips of one event).

1. ``candidate_pairs``: files with a pair of alike moments. Up to EXACT_MOMENTS moments
   every moment is compared with every other on the stored vectors. Beyond that, on
   vectors reduced to the library's REDUCED_DIM principal directions, searched in an
   inverted file: moments are put in k-means cells (in their nearest and in their second
   nearest), and each cell's moments are compared with those of the PROBE_CELLS cells
   nearest it. Copies are near-identical moments: they share a cell, or sit on either
   side of a border, each then in the other's cell as well.
2. ``screen_pairs``: copies' pictures change together; other moments of one scene share
   its look but not its changes. Each frame minus its clip's mean frame is what changes;
   reduced and normalized, a pair's score is the share of the shorter clip's changes
   that find a like change somewhere in the other clip (the best over its frames, with
   or without mirroring). No alignment is needed, so whole blocks of pairs are scored
   with one matrix product. Measured (SCREEN_DIM 48): copies on the public corpus 0.53
   and above, other clips of one event there up to 0.61; on bench/scale.py's synthetic
   library copies 0.95 and above, and 7.5% of its other candidate pairs reach 0.4.
   Pairs below SCREEN_MIN are not verified; verification decides the rest.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from app.core.vectors import l2n, principal_directions
from app.store import vectors as store
from app.store.frames import iter_frames
from app.store.library import Library

EXACT_MOMENTS = 20_000
REDUCED_DIM = 96
CELL_SIZE = 1000  # moments per inverted-file cell, about
PROBE_CELLS = 2  # the cell itself and its nearest
CROWDED = 8  # a cell this many times its expected size is split in cells of its own
MAX_DEPTH = 2
BLOCK_CELLS = 1 << 22  # similarities computed at once (x ~16 bytes with the ranking)
ASSIGN_BLOCK = 8192  # moments given their cells at once
KMEANS_ROUNDS = 8
FIT_SAMPLE = 20_000  # vectors principal directions and cells are fitted on
CHUNK_FILES = 500  # files read at a time
SCREEN_DIM = 48
SCREEN_MIN = 0.4
# A clip that hardly changes has no changes to compare (noise would decide): such pairs
# are always verified (verification judges still shots by their soundtrack).
STILL_CHANGE = 0.006
T = TypeVar("T")


# ---- 1. candidates -----------------------------------------------------------------------
def candidate_pairs(lib: Library, members: set[int], min_similarity: float,
                    per_moment: int, reduced_out: dict | None = None) -> np.ndarray:
    """Pairs [n, 2] (a < b, sorted) of member files with a moment among the ``per_moment``
    nearest of a moment of the other, at least ``min_similarity`` alike (cosine of visual
    vectors). An array: a large library has millions. ``reduced_out`` (a large library)
    receives the reduced moments searched (``owners``, ``reduced``) and the ``basis``, so
    later runs can search new clips against them (``search_new``)."""
    ids = sorted(members)
    if store.segment_count(lib, ids) <= EXACT_MOMENTS:
        owners, vectors = store.segment_visuals(lib, ids)
        vectors = vectors.astype(np.float32)
        return _pairs_of(_pair_keys(owners, _nearest(
            vectors, vectors, owners, owners, per_moment, min_similarity)))
    owners, reduced, basis = _reduced_moments(lib, ids)
    if reduced_out is not None:
        reduced_out.update(owners=owners, reduced=reduced, basis=basis)
    return _pairs_of(_inverted_file_search(reduced, owners, per_moment, min_similarity,
                                           layout_out=reduced_out))


def search_new(queries: np.ndarray, q_owners: np.ndarray, q_cells: np.ndarray,
               base: np.ndarray, b_owners: np.ndarray, b_cells: np.ndarray,
               centroids: np.ndarray, k: int, min_similarity: float) -> np.ndarray:
    """Pairs [n, 2] of a query moment's file (new clips) and a file with a moment among
    its approximately k nearest in ``base`` (every moment, the new ones too), searched as
    ``_inverted_file_search`` does at its first level, in the cells a full run made
    (``centroids``; each row's two nearest cells in ``*_cells``, see ``assign_cells``):
    what the full search finds for these clips, asked from their side, without looking
    at the rest of the library. A crowded cell is compared whole."""
    cells = len(centroids)
    found_in = _members(b_cells.ravel(), cells, per_row=2)
    crowded = np.array([len(f) > CROWDED * CELL_SIZE for f in found_in])
    probes = np.argsort(-(centroids @ centroids.T), axis=1)[:, :PROBE_CELLS]
    asked_in = _members(q_cells[:, 0], cells)
    keys = []
    for c in np.unique(q_cells[:, 0]).tolist():
        q_rows = asked_in[c]
        b_rows = np.unique(np.concatenate([found_in[p] for p in probes[c]
                                           if p == c or not crowded[p]]))
        if not len(b_rows):
            continue
        a, b = _nearest(queries[q_rows].astype(np.float32), base[b_rows].astype(np.float32),
                        q_owners[q_rows], b_owners[b_rows], k, min_similarity)
        keys.append(_pair_keys(np.concatenate([q_owners[q_rows], b_owners[b_rows]]),
                               (a, len(q_rows) + b)))
    return _pairs_of(np.concatenate(keys)) if keys else np.zeros((0, 2), np.int64)


def assign_cells(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """[n, 2] int32: the nearest and second nearest cell of each row."""
    if not len(x):
        return np.zeros((0, 2), np.int32)

    def block(lo: int) -> np.ndarray:
        return _two_nearest(x[lo:lo + ASSIGN_BLOCK].astype(np.float32) @ centroids.T)

    starts = range(0, len(x), ASSIGN_BLOCK)
    if len(starts) < 2:
        return block(0).astype(np.int32)
    # A whole library's moments (a million) against a thousand cells: the blocks go to
    # every core (numpy lets go of the interpreter in the product and the partition).
    with ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
        return np.concatenate(list(pool.map(block, starts))).astype(np.int32)


def _nearest(queries: np.ndarray, base: np.ndarray, q_files: np.ndarray, b_files: np.ndarray,
             k: int, min_similarity: float, q_rows: np.ndarray | None = None,
             b_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(query row, base row) of each query's k most similar base rows of another file,
    at least ``min_similarity`` alike; rows are positions in q_rows / b_rows when given."""
    q_rows = np.arange(len(queries)) if q_rows is None else q_rows
    b_rows = np.arange(len(base)) if b_rows is None else b_rows
    out_q, out_b = [], []
    k = min(k + 1, len(base))
    block = max(16, BLOCK_CELLS // max(1, len(base)))  # bounds the similarity block
    for lo in range(0, len(queries), block):
        sims = queries[lo:lo + block] @ base.T
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < len(base) else \
            np.broadcast_to(np.arange(len(base)), sims.shape)
        r = np.repeat(np.arange(len(near)), near.shape[1])
        c = near.ravel()
        ok = (sims[r, c] >= min_similarity) & (q_files[lo + r] != b_files[c])
        out_q.append(q_rows[lo + r[ok]])
        out_b.append(b_rows[c[ok]])
    if not out_q:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_q), np.concatenate(out_b)


def _pair_keys(owners: np.ndarray, rows: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Distinct file pairs of matched rows, as int64 keys lo << 32 | hi."""
    a, b = owners[rows[0]].astype(np.int64), owners[rows[1]].astype(np.int64)
    return np.unique((np.minimum(a, b) << 32) | np.maximum(a, b))


def _pairs_of(keys: np.ndarray) -> np.ndarray:
    keys = np.unique(keys)
    return np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=1) if len(keys) else \
        np.zeros((0, 2), np.int64)


def _reduced_moments(lib: Library, ids: list[int]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owner file and reduced, L2-normed visual vector (float16) of every moment, and
    the basis they were reduced with."""
    rng = np.random.default_rng(0)
    sample_ids = np.sort(rng.choice(ids, size=min(len(ids), FIT_SAMPLE // 10), replace=False))
    sample = store.segment_visuals(lib, sample_ids)[1].astype(np.float32)
    basis = principal_directions(sample, REDUCED_DIM)
    return (*reduce_moments(lib, ids, basis), basis)


def reduce_moments(lib: Library, ids: list[int], basis: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Owner file and reduced, L2-normed visual vector (float16) of these files' moments."""
    def read(reader: Library, chunk: list[int]) -> tuple[np.ndarray, np.ndarray]:
        owners, vectors = store.segment_visuals(reader, chunk)
        if not len(owners):
            return np.zeros(0, np.int64), np.zeros((0, len(basis)), np.float16)
        return owners, l2n(vectors.astype(np.float32) @ basis.T).astype(np.float16)

    parts = _by_chunks(lib, ids, read)
    return (np.concatenate([np.zeros(0, np.int64)] + [p[0] for p in parts]),
            np.concatenate([np.zeros((0, len(basis)), np.float16)] + [p[1] for p in parts]))


def _by_chunks(lib: Library, ids: list[int], work: Callable[[Library, list[int]], T]
               ) -> list[T]:
    """``work(library, chunk)`` for CHUNK_FILES files at a time, in order. A large
    library's chunks go to every core, each thread with a connection of its own (SQLite
    and numpy let go of the interpreter while they work)."""
    chunks = [ids[lo:lo + CHUNK_FILES] for lo in range(0, len(ids), CHUNK_FILES)]
    threads = min(os.cpu_count() or 1, len(chunks) // 4)
    if threads <= 1:
        return [work(lib, c) for c in chunks]
    local = threading.local()
    readers: list[Library] = []

    def run(chunk: list[int]) -> T:
        if not hasattr(local, "lib"):
            local.lib = Library(lib.path, readonly=True)
            readers.append(local.lib)
        return work(local.lib, chunk)

    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(run, chunks))
    finally:
        for reader in readers:
            reader.close()


def _inverted_file_search(x: np.ndarray, owners: np.ndarray, k: int,
                          min_similarity: float, depth: int = 0,
                          part: np.ndarray | None = None,
                          layout_out: dict | None = None) -> np.ndarray:
    """File pairs (``_pair_keys``) of approximately the k nearest moments of each moment
    (``_nearest``), cell by cell. A crowded cell (a popular kind of scene) is searched
    the same way within itself, in cells of its own, so no comparison block grows with
    the library; past MAX_DEPTH it is compared whole. ``part``: the vectors cells are
    made of (default ``x``; similarities are always those of ``x``). ``layout_out``
    receives the first level's cells: ``centroids`` and each row's two nearest (``cells``)."""
    part = x if part is None else part
    m = len(x)
    cells = max(1, m // CELL_SIZE)
    rng = np.random.default_rng(0)
    centroids = part[rng.choice(m, size=cells, replace=False)].astype(np.float32)
    fit = part[rng.choice(m, size=min(m, FIT_SAMPLE), replace=False)].astype(np.float32)
    for _ in range(KMEANS_ROUNDS):  # spherical k-means on a sample
        near = (fit @ centroids.T).argmax(1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, near, fit)
        empty = np.abs(sums).sum(1) == 0
        centroids = np.where(empty[:, None], centroids, l2n(sums))
    # Each moment is asked about in its nearest cell, and found in its two nearest: a
    # moment near a border is then in the cell its copy (just across) is asked in.
    top2 = assign_cells(part, centroids)
    if layout_out is not None:
        layout_out.update(centroids=centroids, cells=top2)
    asked_in = _members(top2[:, 0], cells)
    found_in = _members(top2.ravel(), cells, per_row=2)
    probes = np.argsort(-(centroids @ centroids.T), axis=1)[:, :PROBE_CELLS]
    crowded = np.array([len(f) > CROWDED * CELL_SIZE for f in found_in]) & \
        (depth < MAX_DEPTH) & (cells > 1)

    def search(c: int) -> np.ndarray:
        q_rows = asked_in[c]
        if crowded[c]:
            # Within a popular kind of scene its moments share most of their direction:
            # cells of what is left once that is taken out split it evenly.
            sub = found_in[c]
            shared = part[sub].astype(np.float32)
            shared = l2n(shared - shared.mean(0)).astype(np.float16)
            return _inverted_file_search(x[sub], owners[sub], k, min_similarity, depth + 1,
                                         shared)
        # A crowded neighbour is not probed whole: its moments near this cell's border
        # are found here already (in their two nearest cells).
        b_rows = np.unique(np.concatenate([found_in[p] for p in probes[c]
                                           if p == c or not crowded[p]]))
        return _pair_keys(owners, _nearest(
            x[q_rows].astype(np.float32), x[b_rows].astype(np.float32), owners[q_rows],
            owners[b_rows], k, min_similarity, q_rows, b_rows))

    # The largest first: a crowded cell (searched whole by one thread) taken last would
    # leave the other cores idle at the end. Threads within it as well cost more than
    # they gain (10,000 clips: 3.0 s against 2.1 s).
    wanted = sorted((c for c in range(cells) if len(asked_in[c])),
                    key=lambda c: (not crowded[c], -len(found_in[c]), c))
    if depth == 0 and len(wanted) > 1:
        # numpy lets go of the interpreter in its products and partitions: cells are
        # searched on every core.
        with ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
            keys = list(pool.map(search, wanted))
    else:
        keys = [search(c) for c in wanted]
    return np.concatenate(keys) if keys else np.zeros(0, np.int64)


def _two_nearest(sims: np.ndarray) -> np.ndarray:
    """[n, 2] the nearest and the second nearest column of each row."""
    if sims.shape[1] == 1:
        return np.repeat(sims.argmax(1)[:, None], 2, axis=1)
    two = np.argpartition(-sims, 1, axis=1)[:, :2].copy()  # not a view: frees the rest
    swap = sims[np.arange(len(sims)), two[:, 1]] > sims[np.arange(len(sims)), two[:, 0]]
    two[swap] = two[swap][:, ::-1]
    return two


def _members(cell_of: np.ndarray, cells: int, per_row: int = 1) -> list[np.ndarray]:
    """For each cell, the rows in it (``cell_of`` lists ``per_row`` cells per row)."""
    order = np.argsort(cell_of, kind="stable")
    bounds = np.searchsorted(cell_of[order], np.arange(cells + 1))
    rows = order // per_row
    return [rows[bounds[c]:bounds[c + 1]] for c in range(cells)]


# ---- 2. screening ------------------------------------------------------------------------
class _Changes:
    """Every file's frames minus their mean (plain and mirrored), reduced to SCREEN_DIM
    and scaled to unit mean squared norm, float16, in one flat array per orientation."""

    def __init__(self, lib: Library, ids: list[int], basis: np.ndarray | None = None):
        if basis is None:
            rng = np.random.default_rng(0)
            fit_ids = rng.choice(ids, size=min(len(ids), FIT_SAMPLE // 8), replace=False)
            sample = [v.astype(np.float32) - v.astype(np.float32).mean(0)
                      for _, _, v, _ in iter_frames(lib, fit_ids)]
            basis = principal_directions(np.concatenate(sample), SCREEN_DIM) if sample else \
                np.zeros((0, 0), np.float32)
        self.basis = basis
        self.at: dict[int, tuple[int, int]] = {}
        self.still: set[int] = set()
        plain, mirrored = [], []
        size = 0
        for chunk in _by_chunks(lib, sorted(set(int(i) for i in ids)), self._read):
            for file_id, p, m in chunk:
                if p is None:
                    self.still.add(file_id)
                    continue
                plain.append(p)
                mirrored.append(m)
                self.at[file_id] = (size, size + len(p))
                size += len(p)
        dim = len(self.basis)
        self.plain = np.concatenate(plain) if plain else np.zeros((0, dim), np.float16)
        self.mirrored = np.concatenate(mirrored) if mirrored else np.zeros((0, dim), np.float16)

    def _read(self, lib: Library, ids: list[int]) -> list[tuple]:
        """(file id, plain changes, mirrored changes) of these files; None for a still one."""
        out = []
        for file_id, _, v, f in iter_frames(lib, ids):
            v = v.astype(np.float32)
            change = v - v.mean(0)
            if len(v) < 2 or float((change * change).sum(1).mean()) < STILL_CHANGE:
                out.append((file_id, None, None))
                continue
            f = v if f is None else f.astype(np.float32)
            out.append((file_id, self._reduce(change), self._reduce(f - f.mean(0))))
        return out

    def _reduce(self, change: np.ndarray) -> np.ndarray:
        z = change @ self.basis.T
        return (z / np.sqrt(max(float((z * z).sum(1).mean()), 1e-12))).astype(np.float16)

    def scores(self, a: int, others: list[int]) -> np.ndarray:
        """For each of ``others``: the mean over a's frames of the best match among its
        frames, the better of a plain and a mirrored."""
        lo, hi = self.at[a]
        qa = np.concatenate([self.plain[lo:hi], self.mirrored[lo:hi]]).astype(np.float32)
        spans = [self.at[b] for b in others]
        cols = np.concatenate([np.arange(s, e) for s, e in spans])
        sims = qa @ self.plain[cols].astype(np.float32).T
        starts = np.cumsum([0] + [e - s for s, e in spans[:-1]])
        best = np.maximum.reduceat(sims, starts, axis=1)  # [2 n_a, len(others)]
        n = hi - lo
        return np.maximum(best[:n].mean(0), best[n:].mean(0))


def screen_pairs(lib: Library, pairs: np.ndarray, durations: dict[int, float],
                 basis: np.ndarray | None = None, basis_out: dict | None = None
                 ) -> list[tuple[int, int]]:
    """The pairs worth verifying, sorted: those whose pictures' changes match (see the
    module's doc), and those where a clip has no changes to compare. ``basis``: the
    directions changes are reduced to, as an earlier run fitted them (``basis_out``
    receives them as ``screen_basis``); fitting them costs more than screening a few."""
    kept = [worth for worth, _ in screen_batches(lib, pairs, durations, basis, basis_out)]
    if not kept:
        return []
    return [(int(x), int(y)) for x, y in np.unique(np.concatenate(kept), axis=0)]


SCREEN_BATCH = 4096  # candidate pairs judged between two answers of ``screen_batches``


def screen_batches(lib: Library, pairs: np.ndarray, durations: dict[int, float],
                   basis: np.ndarray | None = None, basis_out: dict | None = None
                   ) -> Iterator[tuple[np.ndarray, int]]:
    """``screen_pairs`` as it goes, so verification can start on the first pairs while
    the rest are screened: (pairs worth verifying [n, 2], a < b, sorted; how many of
    ``pairs`` this answer judged), about every SCREEN_BATCH pairs. Every pair is judged
    exactly once; a pair with a file that has no frames is judged not worth verifying."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    if not len(pairs):
        return
    files = np.unique(pairs)
    changes = _Changes(lib, files.tolist(), basis)
    if basis_out is not None and changes.basis.size:
        basis_out["screen_basis"] = changes.basis
    still = np.isin(pairs, list(changes.still)).any(axis=1)
    usable = np.isin(pairs, list(changes.at)).all(axis=1) & ~still
    yield _sorted_pairs(pairs[still][:, 0], pairs[still][:, 1]), int(len(pairs) - usable.sum())
    # Each pair scored from its shorter clip: all of one clip's pairs in one product.
    length = np.array([durations.get(int(f)) or 0.0 for f in files])[np.searchsorted(files, pairs)]
    first_shorter = (length[:, 0] < length[:, 1]) | \
        ((length[:, 0] == length[:, 1]) & (pairs[:, 0] < pairs[:, 1]))
    a = np.where(first_shorter, pairs[:, 0], pairs[:, 1])[usable]
    b = np.where(first_shorter, pairs[:, 1], pairs[:, 0])[usable]
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    bounds = np.flatnonzero(np.diff(a)) + 1
    kept_a, kept_b, judged = [], [], 0
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(a)], strict=True):
        if hi > lo:
            ok = changes.scores(int(a[lo]), b[lo:hi].tolist()) >= SCREEN_MIN
            kept_a.append(a[lo:hi][ok])
            kept_b.append(b[lo:hi][ok])
            judged += int(hi - lo)
        if judged >= SCREEN_BATCH or (judged and hi == len(a)):
            yield _sorted_pairs(np.concatenate(kept_a), np.concatenate(kept_b)), judged
            kept_a, kept_b, judged = [], [], 0


def _sorted_pairs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairs [n, 2] of x[i] and y[i], the smaller id first, sorted."""
    out = np.stack([np.minimum(x, y), np.maximum(x, y)], axis=1).reshape(-1, 2)
    return out[np.lexsort((out[:, 1], out[:, 0]))]
