"""Grouping clips into events: average-linkage clustering on content and capture time.

The distance between two clips is a content distance (cosine distance of the clip
vectors: the picture always, the soundtrack only when both clips have one) plus a time
term that applies only when both clips carry a trusted container creation time:

- clips shot minutes apart get a bonus (one outing, even if the camera turned around);
- clips shot an hour apart are neutral;
- clips shot a day or more apart get a penalty (another day is another event, even in
  the same living room).

Copies usually lost their creation time (a file time is when the copy was made, not
when the scene was shot), so only their content pulls them to the event of their
original, and average linkage weighs them against every clip of that event.

Clustering can start from *seeds* (existing albums): a seed never merges with another
seed, and a clip the user took out of an album never goes back into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import numpy as np

from app.core.indexer import AUDIO_WEIGHT, VISUAL_WEIGHT

# Clusters merge while their average distance is below this; for content alone, a
# cosine of 0.5 ("more alike than not"). On real footage (the public corpus), copies
# score 0.87-0.98 against their original (re-encoded, cropped, grey, mirrored...), other
# moments of one event 0.76-0.98, and different events 0.16-0.44 (pooled activations
# are never orthogonal): the cut sits inside the empty band, away from both edges.
# With the time term, any cut from 0.2 to 0.8 separates the corpus's events.
THRESHOLD = 0.5
# The soundtrack's share of the similarity, as in the fused vector (weights squared).
AUDIO_SHARE = (AUDIO_WEIGHT / VISUAL_WEIGHT) ** 2
# Time term, piecewise linear in log10(gap): -NEAR_BONUS up to NEAR_GAP, 0 at
# NEUTRAL_GAP, +FAR_PENALTY from FAR_GAP on. The bonus lets clips of one outing with
# moderately different pictures (cosine down to 0.3) join; the penalty is as large as
# the threshold, so trusted times a day apart never merge on their own.
NEAR_GAP, NEUTRAL_GAP, FAR_GAP = 6 * 60.0, 3600.0, 86400.0
NEAR_BONUS, FAR_PENALTY = 0.2, 0.5
# Creation times before this are unset camera clocks, not capture times.
EARLIEST_TRUSTED = datetime(1990, 1, 1, tzinfo=UTC).timestamp()
_BLOCK = 1024  # rows per distance block: bounds memory on large libraries
_COLUMNS = 8192  # columns per block when comparing against many clips
# Clips one dense average-linkage matrix may hold (float32: 10,000 -> 400 MB); larger
# groups are split (``_split``), SPLIT_STEP closer at a time.
DENSE_MAX = 10_000
SPLIT_STEP = 0.05


@dataclass
class ClipFeatures:
    file_ids: np.ndarray  # [n] int64
    visual: np.ndarray  # [n, dv] float16 or float32, L2-normed
    audio: np.ndarray  # [n, da] float16 or float32, L2-normed rows, zeros without sound
    times: np.ndarray  # [n] trusted capture time (epoch seconds), NaN when unknown

    def __len__(self) -> int:
        return len(self.file_ids)

    @cached_property
    def has_audio(self) -> np.ndarray:
        return np.abs(self.audio).max(1) > 0 if self.audio.shape[1] else \
            np.zeros(len(self), bool)


@dataclass
class Seed:
    """An existing album: ``rows`` are its clips, ``excluded`` rows may never join it."""

    key: int
    rows: list[int]
    excluded: frozenset[int] = field(default_factory=frozenset)


@dataclass
class Cluster:
    key: int | None  # the seed it grew from, None for a new group
    rows: list[int]


def parse_time(value: str | None) -> float:
    if not value:
        return float("nan")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("nan")


def trusted_time(created: str | None, now: float | None = None) -> float:
    """A container creation time we believe: set, after 1990, not in the future."""
    t = parse_time(created)
    now = datetime.now(UTC).timestamp() if now is None else now
    return t if EARLIEST_TRUSTED <= t <= now + 86400 else float("nan")


def time_term(gap_seconds: np.ndarray) -> np.ndarray:
    x = np.log10(np.maximum(gap_seconds, 1.0))
    return np.interp(x, np.log10([NEAR_GAP, NEUTRAL_GAP, FAR_GAP]),
                     [-NEAR_BONUS, 0.0, FAR_PENALTY])


def content_similarity(f: ClipFeatures, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Cosine of the pictures, blended with the soundtracks' where both clips have one:
    a missing soundtrack is no evidence either way (a muted copy is still a copy).
    [len(rows), len(cols)] float32, computed _BLOCK rows at a time."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    out = np.empty((len(rows), len(cols)), np.float32)
    visual = f.visual[cols].astype(np.float32)
    audio_cols = f.has_audio[cols]
    audio = f.audio[cols].astype(np.float32) if audio_cols.any() else None
    for lo in range(0, len(rows), _BLOCK):
        r = rows[lo:lo + _BLOCK]
        sim = f.visual[r].astype(np.float32) @ visual.T
        both = (f.has_audio[r][:, None] & audio_cols[None, :]).astype(np.float32)
        if both.any():
            sim = (sim + AUDIO_SHARE * both * (f.audio[r].astype(np.float32) @ audio.T)) \
                / (1 + AUDIO_SHARE * both)
        out[lo:lo + _BLOCK] = sim
    return out


def distances(f: ClipFeatures, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    d = content_similarity(f, rows, cols)
    np.subtract(1.0, d, out=d)
    tr, tc = f.times[rows], f.times[cols]
    if np.isfinite(tr).any() and np.isfinite(tc).any():
        for lo in range(0, len(rows), _BLOCK):
            gap = np.abs(tr[lo:lo + _BLOCK, None] - tc[None, :]).astype(np.float32)
            term = time_term(gap)
            d[lo:lo + _BLOCK] += np.nan_to_num(term, nan=0.0)  # NaN: a clip without a trusted time
    return d


def cluster(f: ClipFeatures, seeds: list[Seed] | tuple = (),
            threshold: float = THRESHOLD) -> list[Cluster]:
    """Average-linkage clustering of all rows, grown from ``seeds``.

    Two clusters can only ever merge if some pair of their clips is closer than the
    threshold (an average below it needs one), so the work splits into the connected
    components of that sparse graph and only they get a dense distance matrix.
    """
    n = len(f)
    node_rows: list[list[int]] = []
    node_key: list[int | None] = []
    owner = np.full(n, -1, np.int64)
    excluded: dict[int, set[int]] = {}  # row -> seed keys it may not join
    for seed in seeds:
        rows = sorted(set(seed.rows))
        for r in seed.excluded:
            excluded.setdefault(r, set()).add(seed.key)
        if not rows:
            continue
        if (owner[rows] >= 0).any():
            raise ValueError("a clip is in two seeds")
        owner[rows] = len(node_rows)
        node_rows.append(rows)
        node_key.append(seed.key)
    free = np.flatnonzero(owner < 0)
    owner[free] = np.arange(len(node_rows), len(node_rows) + len(free))
    node_rows += [[int(r)] for r in free]
    node_key += [None] * len(free)

    roots = np.arange(len(node_rows))
    edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # nodes a, b, distance
    for rows, cols, d in _near_pairs(f, free, threshold):
        a, b = owner[rows], owner[cols]
        keep = a != b
        _union(roots, a[keep], b[keep])
        # Kept in case a group is too large for one dense matrix (``_split``).
        edges.append((a[keep].astype(np.int32), b[keep].astype(np.int32),
                      d[keep].astype(np.float16)))
    sizes = np.array([len(r) for r in node_rows], np.int64)

    parts = []
    for nodes in _groups(roots):
        if sizes[nodes].sum() > DENSE_MAX:
            parts += _split(nodes, sizes, edges, threshold)
        else:
            parts.append(nodes)
    del edges  # the dense matrices below need the room
    out: list[Cluster] = []
    for part in parts:
        out += _agglomerate(f, [node_rows[k] for k in part], [node_key[k] for k in part],
                            excluded, threshold) if len(part) > 1 else \
            [Cluster(node_key[part[0]], node_rows[part[0]])]
    out.sort(key=lambda c: c.rows[0])
    return out


def _groups(roots: np.ndarray) -> list[np.ndarray]:
    """Nodes grouped by root, each group in node order."""
    order = np.argsort(roots, kind="stable")
    bounds = np.flatnonzero(np.diff(roots[order])) + 1
    return np.split(order, bounds) if len(order) else []


def _split(nodes: np.ndarray, sizes: np.ndarray, edges: list, threshold: float
           ) -> list[np.ndarray]:
    """A group too large for a dense matrix (it happens on large libraries: clips without
    a trusted time link look-alike events into one chain), cut into the groups its
    closer pairs make: pairs must be ever closer (margin by margin) until every group
    fits. An approximation: two parts are then never merged, which average linkage
    does only when clips without dates pull two events' average under the threshold."""
    todo, done = [nodes], []
    margin = 0.0
    while todo:
        margin += SPLIT_STEP
        big = np.zeros(len(sizes), bool)
        for part in todo:
            big[part] = True
        roots = np.arange(len(sizes))
        for a, b, d in edges:
            close = big[a] & (d < threshold - margin)
            _union(roots, a[close], b[close])
        todo = []
        members = np.flatnonzero(big)
        for group in _groups(roots[members]):
            part = members[group]
            (todo if sizes[part].sum() > DENSE_MAX and margin < threshold else done).append(part)
    return done


def _near_pairs(f: ClipFeatures, free: np.ndarray, threshold: float):
    """(rows, cols, distance) of every pair of a free row and any row closer than the
    threshold, in blocks. Two clips with trusted times a day or more apart get the full
    penalty, which alone reaches the threshold: such pairs are never compared, so dated
    clips meet only those of nearby days (in time order, a window each), linear in the
    library; clips without a date (no time term) meet every clip."""
    timed = np.isfinite(f.times)
    far = FAR_GAP if FAR_PENALTY >= threshold else np.inf
    undated = free[~timed[free]]
    everything = np.arange(len(f))
    # Columns in chunks, each made float32 once: a block against a whole large library
    # would not fit.
    for lo in range(0, len(everything), _COLUMNS):
        cols = _Block(f, everything[lo:lo + _COLUMNS])
        for start in range(0, len(undated), _BLOCK):
            rows = _Block(f, undated[start:start + _BLOCK])
            content = 1.0 - rows.similarity(cols)
            i, j = np.nonzero(content < threshold)
            yield rows.index[i], cols.index[j], content[i, j]
    by_time = np.flatnonzero(timed)
    by_time = by_time[np.argsort(f.times[by_time], kind="stable")]
    when = f.times[by_time]
    dated = free[timed[free]]
    dated = dated[np.argsort(f.times[dated], kind="stable")]
    # Undated clips that are free met every clip above; the others (in albums) not yet.
    is_free = np.zeros(len(f), bool)
    is_free[free] = True
    others = np.flatnonzero(~timed & ~is_free)
    for start in range(0, len(dated), _BLOCK):
        rows = _Block(f, dated[start:start + _BLOCK])
        lo = np.searchsorted(when, f.times[rows.index[0]] - far, side="left")
        hi = np.searchsorted(when, f.times[rows.index[-1]] + far, side="right")
        window = np.concatenate([by_time[lo:hi], others])
        for at in range(0, len(window), _COLUMNS):
            cols = _Block(f, window[at:at + _COLUMNS])
            # No time bonus can bring a pair this far apart in content under the threshold.
            content = 1.0 - rows.similarity(cols)
            i, j = np.nonzero(content < threshold + NEAR_BONUS)
            gap = np.abs(f.times[rows.index[i]] - f.times[cols.index[j]])
            d = content[i, j] + np.nan_to_num(time_term(gap), nan=0.0)
            near = d < threshold
            yield rows.index[i[near]], cols.index[j[near]], d[near].astype(np.float32)


class _Block:
    """Some clips' vectors in float32, those with sound first (so the blend of
    ``content_similarity`` is done on one contiguous sub-block)."""

    def __init__(self, f: ClipFeatures, index: np.ndarray):
        sound = f.has_audio[index]
        self.index = np.concatenate([index[sound], index[~sound]])
        self.sound = int(sound.sum())
        self.visual = f.visual[self.index].astype(np.float32)
        self.audio = f.audio[self.index[:self.sound]].astype(np.float32)

    def similarity(self, cols: _Block) -> np.ndarray:
        """As content_similarity (same float32 arithmetic), rows x cols."""
        sim = self.visual @ cols.visual.T
        if self.sound and cols.sound:
            both = sim[:self.sound, :cols.sound]
            both += AUDIO_SHARE * (self.audio @ cols.audio.T)
            both /= 1 + AUDIO_SHARE
        return sim


def _compress(roots: np.ndarray) -> None:
    """Point every node at its root (pointer jumping: log(depth) passes)."""
    while True:
        up = roots[roots]
        if np.array_equal(up, roots):
            return
        roots[:] = up


def _union(roots: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Vectorized union-find; roots always point to a smaller index, so no cycles."""
    while len(a):
        _compress(roots)
        ra, rb = roots[a], roots[b]
        differ = ra != rb
        ra, rb, a, b = ra[differ], rb[differ], a[differ], b[differ]
        # Where one root gets several parents at once, one write wins and the rest retry.
        roots[np.maximum(ra, rb)] = np.minimum(ra, rb)
    _compress(roots)


def _agglomerate(f: ClipFeatures, node_rows: list[list[int]], keys: list[int | None],
                 excluded: dict[int, set[int]], threshold: float) -> list[Cluster]:
    """Average linkage over one connected component's nodes (seeds and free clips).

    One matrix holds the average distance between nodes, +inf where they may never
    merge (two seeds; a clip and an album it was taken out of). A merge replaces a
    node's row by the size-weighted mean of the two rows, so +inf carries over: what
    one part of a node may not join, the whole may not join either."""
    m = len(node_rows)
    sizes = np.array([len(r) for r in node_rows], np.float64)
    rows = np.concatenate([np.asarray(r, np.int64) for r in node_rows])
    avg = distances(f, rows, rows)  # float32: the matrix is the memory of a large group
    if len(rows) > m:  # seeds hold several clips: average their blocks
        starts = np.concatenate([[0], np.cumsum(sizes[:-1])]).astype(np.int64)
        avg = np.add.reduceat(np.add.reduceat(avg, starts, axis=0, dtype=np.float64),
                              starts, axis=1)
        avg = (avg / np.outer(sizes, sizes)).astype(np.float32)
    members = [list(r) for r in node_rows]
    key_of = np.array([-1 if k is None else k for k in keys], np.int64)
    seed = key_of >= 0
    avg[np.ix_(seed, seed)] = np.inf
    for i, nr in enumerate(node_rows):
        blocked = set().union(*(excluded.get(r, set()) for r in nr))
        if blocked:
            no = np.isin(key_of, list(blocked))
            avg[i, no] = avg[no, i] = np.inf
    np.fill_diagonal(avg, np.inf)
    active = np.ones(m, bool)
    nearest = avg.argmin(1)
    best = avg[np.arange(m), nearest]
    while True:
        i = int(np.argmin(best))
        j = int(nearest[i])
        if not best[i] < threshold:
            break
        if key_of[i] < 0 and key_of[j] >= 0:
            i, j = j, i  # the seed's slot survives, so its key does
        ni, nj = sizes[i], sizes[j]
        row = ((ni * avg[i].astype(np.float64) + nj * avg[j]) / (ni + nj)).astype(np.float32)
        avg[i, :] = avg[:, i] = row
        avg[i, i] = np.inf
        avg[j, :] = avg[:, j] = np.inf
        sizes[i] += nj
        members[i] += members[j]
        key_of[i] = max(key_of[i], key_of[j])
        active[j] = False
        best[j] = np.inf
        stale = np.flatnonzero(active & ((nearest == i) | (nearest == j)))
        if len(stale):
            nearest[stale] = avg[stale].argmin(1)
            best[stale] = avg[stale, nearest[stale]]
        closer = np.flatnonzero(avg[:, i] < best)
        nearest[closer] = i
        best[closer] = avg[closer, i]
        nearest[i] = int(np.argmin(avg[i]))
        best[i] = avg[i, nearest[i]]
    return [Cluster(None if key_of[i] < 0 else int(key_of[i]), sorted(members[i]))
            for i in np.flatnonzero(active)]
