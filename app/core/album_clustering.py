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


@dataclass
class ClipFeatures:
    file_ids: np.ndarray  # [n] int64
    visual: np.ndarray  # [n, dv] float32, L2-normed
    audio: np.ndarray  # [n, da] float32, L2-normed rows, zeros without sound
    times: np.ndarray  # [n] trusted capture time (epoch seconds), NaN when unknown

    def __len__(self) -> int:
        return len(self.file_ids)

    @cached_property
    def has_audio(self) -> np.ndarray:
        return np.abs(self.audio).sum(1) > 0


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
    a missing soundtrack is no evidence either way (a muted copy is still a copy)."""
    sim = f.visual[rows] @ f.visual[cols].T
    both = (f.has_audio[rows][:, None] & f.has_audio[cols][None, :]).astype(np.float32)
    if both.any():
        sim = (sim + AUDIO_SHARE * both * (f.audio[rows] @ f.audio[cols].T)) / (1 + AUDIO_SHARE * both)
    return sim


def distances(f: ClipFeatures, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    d = 1.0 - content_similarity(f, rows, cols)
    tr, tc = f.times[rows], f.times[cols]
    if np.isfinite(tr).any() and np.isfinite(tc).any():
        term = time_term(np.abs(tr[:, None] - tc[None, :]).astype(np.float32))
        d += np.nan_to_num(term, nan=0.0)  # NaN: a clip without a trusted time
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
    everything = np.arange(n)
    for start in range(0, len(free), _BLOCK):
        block = free[start:start + _BLOCK]
        # No time bonus can bring a pair this far apart in content under the threshold.
        content = 1.0 - content_similarity(f, block, everything)
        i, j = np.nonzero(content < threshold + NEAR_BONUS)
        gap = np.abs(f.times[block[i]] - f.times[j])
        near = content[i, j] + np.nan_to_num(time_term(gap), nan=0.0) < threshold
        a, b = owner[block[i[near]]], owner[j[near]]
        keep = a != b
        _union(roots, a[keep], b[keep])

    out: list[Cluster] = []
    order = np.argsort(roots, kind="stable")
    bounds = np.flatnonzero(np.diff(roots[order])) + 1
    for nodes in np.split(order, bounds) if len(order) else []:
        if len(nodes) == 1:
            out.append(Cluster(node_key[nodes[0]], node_rows[nodes[0]]))
        else:
            out += _agglomerate(f, [node_rows[k] for k in nodes], [node_key[k] for k in nodes],
                                excluded, threshold)
    out.sort(key=lambda c: c.rows[0])
    return out


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
    m = len(node_rows)
    rows = np.concatenate([np.asarray(r, np.int64) for r in node_rows])
    which = np.repeat(np.arange(m), [len(r) for r in node_rows])
    member = np.zeros((len(rows), m), np.float64)
    member[np.arange(len(rows)), which] = 1.0
    sizes = member.sum(0)
    avg = member.T @ distances(f, rows, rows).astype(np.float64) @ member / np.outer(sizes, sizes)
    blocked = [set().union(*(excluded.get(r, set()) for r in nr)) for nr in node_rows]
    members = [list(r) for r in node_rows]
    key_of = np.array([-1 if k is None else k for k in keys], np.int64)
    active = np.ones(m, bool)

    def allowed(i: int) -> np.ndarray:
        """Nodes that node i may merge with: never two seeds, never into an exclusion."""
        ok = active.copy()
        ok[i] = False
        if key_of[i] >= 0:
            ok &= key_of < 0
            for k in np.flatnonzero(ok):
                if blocked[k] and key_of[i] in blocked[k]:
                    ok[k] = False
        elif blocked[i]:
            ok &= ~np.isin(key_of, list(blocked[i]))
        return ok

    eff = np.full((m, m), np.inf)  # avg where a merge is allowed, else inf
    for i in range(m):
        ok = allowed(i)
        eff[i, ok] = avg[i, ok]
    nearest = eff.argmin(1)
    best = eff[np.arange(m), nearest]
    while True:
        i = int(np.argmin(best))
        j = int(nearest[i])
        if not best[i] < threshold:
            break
        if key_of[i] < 0 and key_of[j] >= 0:
            i, j = j, i  # the seed's slot survives, so its key does
        ni, nj = sizes[i], sizes[j]
        avg[i, :] = avg[:, i] = (ni * avg[i, :] + nj * avg[j, :]) / (ni + nj)
        sizes[i] += nj
        members[i] += members[j]
        blocked[i] |= blocked[j]
        key_of[i] = max(key_of[i], key_of[j])
        active[j] = False
        eff[j, :] = eff[:, j] = np.inf
        ok = allowed(i)
        eff[i, :] = eff[:, i] = np.inf
        eff[i, ok] = eff[ok, i] = avg[i, ok]
        best[j] = np.inf
        stale = np.flatnonzero(active & ((nearest == i) | (nearest == j)))
        if len(stale):
            nearest[stale] = eff[stale].argmin(1)
            best[stale] = eff[stale, nearest[stale]]
        closer = np.flatnonzero(eff[:, i] < best)
        nearest[closer] = i
        best[closer] = eff[closer, i]
        nearest[i] = int(np.argmin(eff[i]))
        best[i] = eff[i, nearest[i]]
    return [Cluster(None if key_of[i] < 0 else int(key_of[i]), sorted(members[i]))
            for i in np.flatnonzero(active)]
