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

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import numpy as np

from app.core.indexing.indexer import AUDIO_WEIGHT, VISUAL_WEIGHT

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
_COLUMNS = 8192  # columns per block when comparing against many clips (75 MB in float32)
# Blocks that fill a node matrix: 1024 x 4096 float32 (16 MB; BLAS is twice as fast on
# these as on 256 rows), the time term 256 rows at a time (its float64 temporaries), and
# about 256 clips of albums at a time (their sums are float64 against every free clip).
_FILL_ROWS, _FILL_COLUMNS, _TIME_ROWS, _SEED_ROWS = 1024, 4096, 256, 256
# Clips one average-linkage matrix may hold (its float32 triangle: 10,000 -> 200 MB);
# larger groups are split (``_split``), SPLIT_STEP closer at a time. Groups up to
# 1/sqrt(2) of that fit a whole square in the same memory (faster to merge in).
DENSE_MAX = 10_000
_SQUARE_SHARE = 0.7071  # of DENSE_MAX
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
        if not self.audio.shape[1]:
            return np.zeros(len(self), bool)
        if self.audio.dtype == np.float16:  # any bit but the sign set: not a zero
            return (self.audio.view(np.uint16) & 0x7FFF).any(1)
        return np.abs(self.audio).max(1) > 0


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


# The form the indexer stores times in (``media._parse_created``, file times alike).
_STORED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def parse_times(values: Sequence[str | None]) -> np.ndarray:
    """``parse_time`` of each value, as float64: in one numpy conversion when every set
    value has the stored form (numpy then rejects what ``fromisoformat`` rejects: a
    day, hour, minute or second out of range), else one at a time."""
    out = np.full(len(values), np.nan)
    at = [i for i, v in enumerate(values) if v]
    texts = [values[i] for i in at]
    if all(_STORED_TIME.fullmatch(t) for t in texts):
        try:
            out[at] = np.array([t[:19] for t in texts], "datetime64[s]").astype(np.int64)
            return out
        except ValueError:
            pass
    out[at] = [parse_time(t) for t in texts]
    return out


def trusted_times(created: Sequence[str | None], now: float | None = None) -> np.ndarray:
    """``trusted_time`` of each value (NaN where it is not trusted)."""
    t = parse_times(created)
    now = datetime.now(UTC).timestamp() if now is None else now
    return np.where((t >= EARLIEST_TRUSTED) & (t <= now + 86400), t, np.nan)


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
    _add_time_term(d, f.times[rows], f.times[cols])
    return d


def _add_time_term(d: np.ndarray, tr: np.ndarray, tc: np.ndarray) -> None:
    """d += time_term(|tr - tc|), 0 where a clip has no trusted time (NaN). The logarithm
    only where the term is not flat (pairs between minutes and a day apart: few); the
    band is a little wider than the knots so every value is time_term's own."""
    if not (np.isfinite(tr).any() and np.isfinite(tc).any()):
        return
    for lo in range(0, len(tr), _TIME_ROWS):
        gap = np.abs(tr[lo:lo + _TIME_ROWS, None] - tc[None, :]).astype(np.float32)
        term = np.where(gap > FAR_GAP, FAR_PENALTY, -NEAR_BONUS)
        sloped = (gap >= 0.99 * NEAR_GAP) & (gap <= 1.01 * FAR_GAP)
        term[sloped] = time_term(gap[sloped])
        term[np.isnan(gap)] = 0.0
        d[lo:lo + _TIME_ROWS] += term


def central_rows(f: ClipFeatures, groups: list[list[int]]) -> list[int]:
    """For each group of rows, the one most like the others: the largest summed content
    similarity to the group (itself included), as ``content_similarity(f, g, g).sum(1)``
    ranks them, the first on a tie. Linear in the clips, not quadratic: a similarity is
    a dot product, so a clip meets its group through the sums of the group's vectors."""
    out = []
    for group in groups:
        rows = np.asarray(group, np.int64)
        visual = f.visual[rows].astype(np.float64)
        total = visual.sum(0)
        score = visual @ total
        sound = f.has_audio[rows]
        if sound.any():
            # A clip with sound meets the others with sound through the blend: the
            # picture's share of those is 1/(1+s), the soundtrack's s/(1+s).
            heard, audio = visual[sound], f.audio[rows[sound]].astype(np.float64)
            score[sound] += AUDIO_SHARE / (1 + AUDIO_SHARE) * (
                audio @ audio.sum(0) - heard @ heard.sum(0))
        out.append(int(rows[np.argmax(score)]))
    return out


def cluster(f: ClipFeatures, seeds: list[Seed] | tuple = (),
            threshold: float = THRESHOLD) -> list[Cluster]:
    """Average-linkage clustering of all rows, grown from ``seeds``.

    Two clusters can only ever merge if some pair of their clips is closer than the
    threshold (an average below it needs one), so the work splits into the connected
    components of that sparse graph and only they get a matrix of node distances.
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
    # The groups closer pairs make, margin by margin, in case a group is too large for
    # one matrix (``_split``): union-finds instead of the pairs (tens of millions of
    # them on a large library).
    levels = [(margin, np.arange(len(node_rows))) for margin in _margins(threshold)]
    for rows, cols, d in _near_pairs(f, free, threshold):
        a, b = owner[rows], owner[cols]
        keep = a != b
        a, b, d = a[keep], b[keep], d[keep]
        _union(roots, a, b)
        for margin, level in levels:
            close = d < threshold - margin
            if not close.any():
                break  # closer levels see fewer pairs still
            _union(level, a[close], b[close])
    for level in (roots, *(level for _, level in levels)):
        _compress(level)
    sizes = np.array([len(r) for r in node_rows], np.int64)

    parts = []
    for nodes in _groups(roots):
        if sizes[nodes].sum() > DENSE_MAX:
            parts += _split(nodes, sizes, levels, threshold)
        else:
            parts.append(nodes)
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


def _margins(threshold: float) -> list[float]:
    """SPLIT_STEP, twice that... up to the first margin that reaches the threshold."""
    margins = [SPLIT_STEP]
    while margins[-1] < threshold:
        margins.append(margins[-1] + SPLIT_STEP)
    return margins


def _split(nodes: np.ndarray, sizes: np.ndarray, levels: list[tuple[float, np.ndarray]],
           threshold: float) -> list[np.ndarray]:
    """A group too large for one matrix (it happens on large libraries: clips without
    a trusted time link look-alike events into one chain), cut into the groups its
    closer pairs make: pairs must be ever closer (margin by margin, ``levels``: the
    union-find of the pairs closer than threshold - margin) until every group fits. An
    approximation: two parts are then never merged, which average linkage does only
    when clips without dates pull two events' average under the threshold."""
    todo, done = [nodes], []
    for margin, roots in levels:
        parts, todo = todo, []
        for part in parts:
            for group in _groups(roots[part]):
                sub = part[group]
                (todo if sizes[sub].sum() > DENSE_MAX and margin < threshold else done).append(sub)
        if not todo:
            break
    return done + todo


def reach(threshold: float = THRESHOLD) -> float:
    """How far apart in time two clips with trusted times may be and still be compared:
    a day, as from there the penalty alone reaches the threshold (else without limit)."""
    return FAR_GAP if FAR_PENALTY >= threshold else np.inf


def reached(f: ClipFeatures, free: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """The rows closer than the threshold to some ``free`` row (those included, sorted):
    what ``cluster`` would link them with, among the rows of ``f``."""
    out = np.zeros(len(f), bool)
    out[np.asarray(free, np.int64)] = True
    for rows, cols, _ in _near_pairs(f, np.asarray(free, np.int64), threshold):
        out[rows] = out[cols] = True
    return np.flatnonzero(out)


def _near_pairs(f: ClipFeatures, free: np.ndarray, threshold: float):
    """(rows, cols, distance) of every pair of a free row and any row closer than the
    threshold, each pair once, in blocks. Two clips with trusted times a day or more
    apart get the full penalty, which alone reaches the threshold: such pairs are never
    compared, so dated clips meet only those of nearby days (in time order, a window
    each), linear in the library; clips without a date (no time term) meet every clip."""
    timed = np.isfinite(f.times)
    far = reach(threshold)
    is_free = np.zeros(len(f), bool)
    is_free[free] = True
    undated = free[~timed[free]]
    # Free undated clips meet every other clip, and each other once.
    yield from _pairs_across(f, undated, np.flatnonzero(timed | ~is_free), threshold)
    yield from _pairs_among(f, undated, threshold)
    # Dated free clips meet the undated clips in albums (content only: no time term)...
    dated = free[timed[free]]
    dated = dated[np.argsort(f.times[dated], kind="stable")]
    yield from _pairs_across(f, dated, np.flatnonzero(~timed & ~is_free), threshold)
    # ...and the dated clips of nearby days: a window for each block of rows close in time.
    by_time = np.flatnonzero(timed)
    by_time = by_time[np.argsort(f.times[by_time], kind="stable")]
    when = f.times[by_time]
    for block in _time_blocks(dated, f.times, far):
        rows = _Block(f, block)
        lo = np.searchsorted(when, f.times[block[0]] - far, side="left")
        hi = np.searchsorted(when, f.times[block[-1]] + far, side="right")
        window = by_time[lo:hi]
        for at in range(0, len(window), _COLUMNS):
            # No time bonus can bring a pair this far apart in content under the threshold.
            r, c, d = _close(rows, _Block(f, window[at:at + _COLUMNS]), threshold + NEAR_BONUS)
            tr, tc = f.times[r], f.times[c]
            d = d + time_term(np.abs(tr - tc))
            # Two free clips see each other from both ends: the earlier one keeps the pair.
            keep = (d < threshold) & (~is_free[c] | (tc > tr) | ((tc == tr) & (c > r)))
            yield r[keep], c[keep], d[keep].astype(np.float32)


def _time_blocks(rows: np.ndarray, times: np.ndarray, far: float):
    """Rows in time order, in blocks of at most _BLOCK, cut where they are more than two
    windows apart: a few new clips spread over years each get a small window."""
    cuts = np.flatnonzero(np.diff(times[rows]) > 2 * far) + 1
    for run in np.split(rows, cuts):
        for lo in range(0, len(run), _BLOCK):
            yield run[lo:lo + _BLOCK]


def _pairs_across(f: ClipFeatures, rows_index: np.ndarray, cols_index: np.ndarray,
                  threshold: float):
    """Content-only near pairs of rows x cols. Columns in chunks, each made float32 once:
    a block against a whole large library would not fit."""
    if not len(rows_index):
        return
    for lo in range(0, len(cols_index), _COLUMNS):
        cols = _Block(f, cols_index[lo:lo + _COLUMNS])
        for start in range(0, len(rows_index), _BLOCK):
            yield _close(_Block(f, rows_index[start:start + _BLOCK]), cols, threshold)
        del cols  # before the next one is made


def _pairs_among(f: ClipFeatures, index: np.ndarray, threshold: float):
    """Content-only near pairs within ``index`` (ascending), each pair once: the upper
    triangle, block by block."""
    for lo in range(0, len(index), _COLUMNS):
        cols = _Block(f, index[lo:lo + _COLUMNS])
        for start in range(0, min(lo + _COLUMNS, len(index)), _BLOCK):
            # Where the block meets the diagonal, only pairs with a later column count.
            yield _close(_Block(f, index[start:start + _BLOCK]), cols, threshold,
                         upper=start + _BLOCK > lo)
        del cols  # before the next one is made


def _close(rows: _Block, cols: _Block, limit: float, upper: bool = False):
    """(rows, cols, content distance) of the pairs closer than ``limit``; with ``upper``
    only those whose column comes after the row. The block's matrices die here."""
    content = rows.content_distances(cols)
    if upper:
        content[rows.index[:, None] >= cols.index[None, :]] = np.inf
    i, j = np.nonzero(content < limit)
    return rows.index[i], cols.index[j], content[i, j]


class _Block:
    """Some clips' vectors in float32, those with sound first (so the blend of
    ``content_similarity`` is done on one contiguous sub-block): ``index`` holds the
    clips in that order, ``order`` where each came from in the index given."""

    def __init__(self, f: ClipFeatures, index: np.ndarray):
        sound = f.has_audio[index]
        self.order = np.concatenate([np.flatnonzero(sound), np.flatnonzero(~sound)])
        self.index = index[self.order]
        self.sound = int(sound.sum())
        self.visual = f.visual[self.index].astype(np.float32)
        self.audio = f.audio[self.index[:self.sound]].astype(np.float32)
        self.times = f.times[self.index]

    def similarity(self, cols: _Block) -> np.ndarray:
        """As content_similarity (same float32 arithmetic), rows x cols."""
        sim = self.visual @ cols.visual.T
        if self.sound and cols.sound:
            both = sim[:self.sound, :cols.sound]
            both += AUDIO_SHARE * (self.audio @ cols.audio.T)
            both /= 1 + AUDIO_SHARE
        return sim

    def content_distances(self, cols: _Block) -> np.ndarray:
        """1 - similarity, rows x cols in the blocks' order."""
        d = self.similarity(cols)
        return np.subtract(1.0, d, out=d)

    def distances(self, cols: _Block) -> np.ndarray:
        """As ``distances`` (same arithmetic), rows x cols in the clips' given order."""
        d = self.content_distances(cols)
        _add_time_term(d, self.times, cols.times)
        return d[np.ix_(np.argsort(self.order), np.argsort(cols.order))]  # one copy


def _compress(roots: np.ndarray) -> None:
    """Point every node at its root (pointer jumping: log(depth) passes)."""
    while True:
        up = roots[roots]
        if np.array_equal(up, roots):
            return
        roots[:] = up


def _find(roots: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The roots of nodes ``x``, whose paths then point at them: only the nodes asked
    about are touched, so many small batches of pairs never cost a pass over all nodes."""
    r = roots[x]
    while True:
        up = roots[r]
        if np.array_equal(up, r):
            roots[x] = r
            return r
        r = up


def _union(roots: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Vectorized union-find; roots always point to a smaller index, so no cycles.
    Read groups after ``_compress``."""
    while len(a):
        ra, rb = _find(roots, a), _find(roots, b)
        differ = ra != rb
        ra, rb, a, b = ra[differ], rb[differ], a[differ], b[differ]
        # Where one root gets several parents at once, one write wins and the rest retry.
        roots[np.maximum(ra, rb)] = np.minimum(ra, rb)


class _Square:
    """A symmetric node x node float32 matrix, whole: rows are contiguous, so reading
    them (what each merge does most) is cheap. Filled through ``upper``, then ``mirror``."""

    def __init__(self, m: int):
        self.m = m
        self.data = np.full((m, m), np.inf, np.float32)

    def upper(self, r: int, lo: int, hi: int) -> np.ndarray:
        return self.data[r, lo:hi]

    def mirror(self) -> None:
        for lo in range(0, self.m, _FILL_ROWS):
            hi = min(lo + _FILL_ROWS, self.m)
            self.data[lo:hi, :lo] = self.data[:lo, lo:hi].T
            block = self.data[lo:hi, lo:hi]  # its lower half is still +inf
            np.minimum(block, block.T, out=block)

    def row(self, k: int) -> np.ndarray:
        return self.data[k]

    def rows(self, ks: np.ndarray) -> np.ndarray:
        return self.data[ks]

    def set_row(self, k: int, values: np.ndarray) -> None:
        self.data[k] = self.data[:, k] = values


class _Triangle:
    """A symmetric node x node float32 matrix stored as its upper triangle, row after
    row: half the memory of the square (each row read gathers half its entries from
    other rows, though): for the largest groups only."""

    def __init__(self, m: int):
        self.m = m
        k = np.arange(m, dtype=np.int64)
        self.base = k * m - k * (k + 1) // 2 - k - 1  # entry (r, c), r < c: base[r] + c
        self.data = np.full(m * (m - 1) // 2, np.inf, np.float32)
        self._at = np.empty(m, np.int64)  # scratch for the indices of a column

    def upper(self, r: int, lo: int, hi: int) -> np.ndarray:
        """Entries (r, lo..hi-1), r < lo: a view."""
        return self.data[self.base[r] + lo:self.base[r] + hi]

    def row(self, k: int) -> np.ndarray:
        out = np.empty(self.m, np.float32)
        np.take(self.data, np.add(self.base[:k], k, out=self._at[:k]), out=out[:k])
        out[k] = np.inf
        out[k + 1:] = self.upper(k, k + 1, self.m)
        return out

    def rows(self, ks: np.ndarray) -> np.ndarray:
        if len(ks) <= 8:  # the usual case: a gather per row is cheaper than index grids
            return np.stack([self.row(int(k)) for k in ks])
        out = np.empty((len(ks), self.m), np.float32)
        cols = np.arange(self.m)
        for lo in range(0, len(ks), 64):
            k = ks[lo:lo + 64, None]
            # The diagonal reads some other entry (or the last): it is +inf below.
            out[lo:lo + 64] = self.data[self.base[np.minimum(k, cols)] + np.maximum(k, cols)]
        out[np.arange(len(ks)), ks] = np.inf
        return out

    def mirror(self) -> None:
        pass

    def set_row(self, k: int, values: np.ndarray) -> None:
        self.data[np.add(self.base[:k], k, out=self._at[:k])] = values[:k]
        self.upper(k, k + 1, self.m)[:] = values[k + 1:]


def _offer(best: np.ndarray, nearest: np.ndarray, who: np.ndarray, values: np.ndarray,
           partners: np.ndarray) -> None:
    """Nodes ``who`` (distinct) meet ``partners`` at ``values``: each keeps its nearest,
    the lower index on a tie, as an argmin over its whole row would."""
    better = (values < best[who]) | ((values == best[who]) & (partners < nearest[who]))
    best[who[better]] = values[better]
    nearest[who[better]] = partners[better]


def _node_distances(f: ClipFeatures, node_rows: list[list[int]], key_of: np.ndarray,
                    excluded: dict[int, set[int]]):
    """The average distances between nodes (seeds first, then free clips, one each), and
    each node's nearest. Two seeds never merge: their clips are never compared, so an
    album's refresh costs its new clips against the albums they reach, not album x album."""
    m = len(node_rows)
    seeds = int((key_of >= 0).sum())
    # A square where it takes no more memory than the triangle of the largest group.
    tri = _Square(m) if m <= _SQUARE_SHARE * DENSE_MAX else _Triangle(m)
    nearest = np.zeros(m, np.int64)
    best = np.full(m, np.inf, np.float32)
    free = np.array([r[0] for r in node_rows[seeds:]], np.int64)
    seed_of = {int(k): q for q, k in enumerate(key_of[:seeds])}
    blocked: dict[int, list[int]] = {}  # seed node -> free clips (positions) taken out of it
    for p, r in enumerate(free):
        for key in excluded.get(int(r), ()):
            if key in seed_of:
                blocked.setdefault(seed_of[key], []).append(p)
    if seeds:
        _fill_seed_rows(f, node_rows[:seeds], free, blocked, tri, nearest, best)
    _fill_free_rows(f, free, seeds, tri, nearest, best)
    tri.mirror()
    return tri, nearest, best


def _fill_seed_rows(f: ClipFeatures, seed_rows: list[list[int]], free: np.ndarray,
                    blocked: dict[int, list[int]], tri: _Square | _Triangle, nearest: np.ndarray,
                    best: np.ndarray) -> None:
    """Seed rows: the mean distance of each album's clips to each free clip (seed x seed
    stays +inf)."""
    seeds, m = len(seed_rows), tri.m
    # Free clips as columns: made float32 once when they fit one chunk (the usual case).
    whole = _Block(f, free) if len(free) <= _FILL_COLUMNS else None

    def free_chunks():
        for lo in range(0, len(free), _FILL_COLUMNS):
            yield lo, whole if whole is not None else _Block(f, free[lo:lo + _FILL_COLUMNS])

    sizes = np.array([len(r) for r in seed_rows], np.int64)
    for q0, q1 in _seed_groups(sizes):
        rows = np.concatenate([np.asarray(seed_rows[q], np.int64) for q in range(q0, q1)])
        starts = np.concatenate([[0], np.cumsum(sizes[q0:q1 - 1])])
        sums = np.zeros((q1 - q0, len(free)), np.float64)
        for at in range(0, len(rows), _SEED_ROWS):
            block = _Block(f, rows[at:at + _SEED_ROWS])
            # Albums (their first rows) within this slice of rows, and their sums' rows.
            first = np.clip(starts - at, 0, None)
            inside = (starts + sizes[q0:q1] > at) & (starts < at + _SEED_ROWS)
            cuts, which = np.unique(first[inside], return_index=True)
            which = np.flatnonzero(inside)[which]
            for lo, cols in free_chunks():
                d = block.distances(cols)
                sums[which, lo:lo + len(cols.index)] += np.add.reduceat(d, cuts, axis=0,
                                                                        dtype=np.float64)
        values = (sums / sizes[q0:q1, None]).astype(np.float32)
        for q in range(q0, q1):
            if q in blocked:
                values[q - q0, blocked[q]] = np.inf
            tri.upper(q, seeds, m)[:] = values[q - q0]
        partners = np.arange(q0, q1)
        _offer(best, nearest, partners, values.min(1), seeds + values.argmin(1))
        _offer(best, nearest, seeds + np.arange(len(free)), values.min(0),
               partners[values.argmin(0)])


def _fill_free_rows(f: ClipFeatures, free: np.ndarray, seeds: int, tri: _Square | _Triangle,
                    nearest: np.ndarray, best: np.ndarray) -> None:
    """Free rows: the upper triangle of free x free, a block of rows against the columns
    from its own first one on (made float32 again for each block: cheaper than the
    wasted half of square blocks)."""
    for at in range(0, len(free), _FILL_ROWS):
        block = _Block(f, free[at:at + _FILL_ROWS])
        here = np.arange(at, at + len(block.index))
        for lo in range(at, len(free), _FILL_COLUMNS):
            cols = _Block(f, free[lo:lo + _FILL_COLUMNS])
            hi = lo + len(cols.index)
            d = block.distances(cols)
            if lo == at:  # the block's own columns: only those after each row
                d[here[:, None] >= np.arange(lo, hi)[None, :]] = np.inf
            for k, p in enumerate(here):
                start = max(lo, p + 1)
                if start < hi:
                    tri.upper(seeds + p, seeds + start, seeds + hi)[:] = d[k, start - lo:]
            _offer(best, nearest, seeds + here, d.min(1), seeds + lo + d.argmin(1))
            _offer(best, nearest, seeds + np.arange(lo, hi), d.min(0), seeds + at + d.argmin(0))
            del cols, d  # before the next ones are made


def _seed_groups(sizes: np.ndarray):
    """Consecutive seeds, about _SEED_ROWS clips a group (a larger seed alone)."""
    q0, rows = 0, 0
    for q, size in enumerate(sizes):
        if rows and rows + size > _SEED_ROWS:
            yield q0, q
            q0, rows = q, 0
        rows += size
    if len(sizes):
        yield q0, len(sizes)


def _agglomerate(f: ClipFeatures, node_rows: list[list[int]], keys: list[int | None],
                 excluded: dict[int, set[int]], threshold: float) -> list[Cluster]:
    """Average linkage over one connected component's nodes (seeds and free clips).

    A triangle of the node matrix holds the average distance between nodes, +inf where
    they may never merge (two seeds; a clip and an album it was taken out of). A merge
    replaces a node's row by the size-weighted mean of the two rows, so +inf carries
    over: what one part of a node may not join, the whole may not join either."""
    order = sorted(range(len(keys)), key=lambda k: keys[k] is None)  # seeds first
    node_rows = [node_rows[k] for k in order]
    key_of = np.array([-1 if keys[k] is None else keys[k] for k in order], np.int64)
    m = len(node_rows)
    sizes = np.array([len(r) for r in node_rows], np.float64)
    tri, nearest, best = _node_distances(f, node_rows, key_of, excluded)
    members = [list(r) for r in node_rows]
    active = np.ones(m, bool)
    gone = np.full(m, np.inf, np.float32)
    while True:
        i = int(np.argmin(best))
        j = int(nearest[i])
        if not best[i] < threshold:
            break
        if key_of[i] < 0 and key_of[j] >= 0:
            i, j = j, i  # the seed's slot survives, so its key does
        ni, nj = sizes[i], sizes[j]
        row = ((ni * tri.row(i).astype(np.float64) + nj * tri.row(j)) / (ni + nj)
               ).astype(np.float32)
        row[i] = row[j] = np.inf
        tri.set_row(i, row)
        tri.set_row(j, gone)
        sizes[i] += nj
        members[i] += members[j]
        key_of[i] = max(key_of[i], key_of[j])
        active[j] = False
        best[j] = np.inf
        stale = np.flatnonzero(active & ((nearest == i) | (nearest == j)))
        if len(stale):
            values = tri.rows(stale)
            nearest[stale] = values.argmin(1)
            best[stale] = values[np.arange(len(stale)), nearest[stale]]
        closer = np.flatnonzero(row < best)
        nearest[closer] = i
        best[closer] = row[closer]
        nearest[i] = int(np.argmin(row))
        best[i] = row[nearest[i]]
    return [Cluster(None if key_of[i] < 0 else int(key_of[i]), sorted(members[i]))
            for i in np.flatnonzero(active)]
