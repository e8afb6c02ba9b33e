"""Face tracks grouped into people: the numbers, without the library.

The unit is a *track*: one face followed across the analysed frames of one clip
(``app.core.indexing.analysis.link_tracks``), represented by the quality-weighted mean of
its identity vectors. A track joins a person when it is close to the person's nearest
tracks (``best_people``); tracks that join nobody are grouped among themselves
(``group``): a k-nearest-neighbour graph cut at ``LINK`` gives candidate groups, each
split by average linkage at ``LINK`` so that no chain of look-alikes joins two people.

Thresholds are cosine similarities of FaceRes track vectors, measured by
``bench/people_quality.py`` on real faces (the MIT-licensed demo photos of
@vladmandic/face-api, scikit-image's astronaut) turned into 81 clips with zooms, pans,
darkening, mirroring, small re-encodes, a byte copy and a joined file:

- one face in other clips of its photo: median 0.92, 5th percentile 0.78, lowest 0.61;
- one woman in two different photos: 0.48-0.65 -- FaceRes is a small model, and there
  it overlaps with
- different people: median 0.41, 95th percentile 0.55, highest 0.715 (people
  photographed together: same light, same camera).

The sweep (same bench) of JOIN = LINK: at 0.60 different people merge (pair precision
0.82); at 0.65 a later scan joins a look-alike (0.80 when clips arrive in two scans);
0.70-0.75 keep precision 0.995 and clip precision 1.0 both at once and incrementally,
with pair recall 0.89; above that people split more (0.85: recall 0.82). So a person is
what is surely one face; one person photographed very differently may stay two people
until the user merges them (the merge is kept).
"""

from __future__ import annotations

import numpy as np

# A track joins a person when the mean similarity to the person's TOP_K nearest tracks
# (fewer if it has fewer) is at least JOIN.
JOIN = 0.72
TOP_K = 3
# Unplaced tracks group by average linkage at LINK (mean similarity of the two groups).
LINK = 0.72
# The user's word is kept as track vectors; a track this close to one is the same face
# appearance (the same track indexed again, or a copy of its clip): measured 0.89-0.99
# for one face under scale and brightness changes, at most 0.65 between people.
ANCHOR_SAME = 0.88
ANCHOR_EXACT = 0.99  # the same track (float16 storage costs ~1e-4)
NEIGHBOURS = 16  # per track, for the graph of candidate groups
BLOCK = 2048  # rows per matrix product: memory stays BLOCK x n floats
LINKAGE_MAX = 3000  # larger candidate groups are split by centroids instead


def normalized(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def best_people(queries: np.ndarray, members: np.ndarray, member_people: np.ndarray,
                top_k: int = TOP_K) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each query track: (best person, its score, second person's score). The score
    of a person is the mean similarity to its ``top_k`` nearest tracks. Persons -1 and
    scores -1 where there are no members."""
    n = len(queries)
    best = np.full(n, -1, np.int64)
    score = np.full(n, -1.0, np.float32)
    second = np.full(n, -1.0, np.float32)
    if n == 0 or len(members) == 0:
        return best, score, second
    m = np.asarray(members, np.float32)
    # Only the nearest tracks can make a person's top-k mean the best: look at that many.
    near = min(len(m), 8 * top_k)
    for lo in range(0, n, BLOCK):
        sims = np.asarray(queries[lo:lo + BLOCK], np.float32) @ m.T
        idx = np.argpartition(-sims, near - 1, axis=1)[:, :near] if near < len(m) else \
            np.broadcast_to(np.arange(len(m)), sims.shape)
        top = np.take_along_axis(sims, idx, axis=1)
        order = np.argsort(-top, axis=1)
        top = np.take_along_axis(top, order, axis=1)
        who = member_people[np.take_along_axis(idx, order, axis=1)]
        for r in range(len(top)):
            scores: dict[int, list[float]] = {}
            for p, s in zip(who[r].tolist(), top[r].tolist(), strict=True):
                got = scores.setdefault(p, [])
                if len(got) < top_k:
                    got.append(s)
            ranked = sorted(((sum(v) / len(v), p) for p, v in scores.items()), reverse=True)
            best[lo + r], score[lo + r] = ranked[0][1], ranked[0][0]
            if len(ranked) > 1:
                second[lo + r] = ranked[1][0]
    return best, score, second


def group(vectors: np.ndarray, link: float | None = None) -> np.ndarray:
    """Group labels 0.. of tracks (L2-normed vectors): average linkage at ``link``
    within the connected parts of the nearest-neighbour graph cut at ``link``."""
    # SciPy is imported here, not with the module: looking up a clip's people (the
    # detail pane of the app's first click) imports this package, and SciPy's import
    # costs that click half a second.
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    link = LINK if link is None else link
    n = len(vectors)
    if n == 0:
        return np.zeros(0, np.int64)
    v = np.asarray(vectors, np.float32)
    k = min(NEIGHBOURS, n - 1)
    rows, cols = [], []
    for lo in range(0, n, BLOCK):
        sims = v[lo:lo + BLOCK] @ v.T
        for r in range(len(sims)):
            sims[r, lo + r] = -1.0
        if k <= 0:
            break
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sims, idx, axis=1)
        keep = top >= link
        rows.append(np.repeat(np.arange(lo, lo + len(sims)), k)[keep.ravel()])
        cols.append(idx[keep])
    labels = np.arange(n, dtype=np.int64)
    if rows:
        r, c = np.concatenate(rows), np.concatenate(cols)
        graph = coo_matrix((np.ones(len(r), np.int8), (r, c)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        labels = labels.astype(np.int64)
    out = np.full(n, -1, np.int64)
    next_label = 0
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        idx = order[lo:hi]
        if len(idx) == 1:
            sub = np.zeros(1, np.int64)
        elif len(idx) <= LINKAGE_MAX:
            # Cosine distance 1 - s; the vectors are unit length.
            z = linkage(v[idx], method="average", metric="cosine")
            sub = fcluster(z, t=1.0 - link, criterion="distance").astype(np.int64) - 1
        else:
            sub = _centroid_split(v[idx], link)
        out[idx] = sub + next_label
        next_label += int(sub.max()) + 1
    return out


def _centroid_split(v: np.ndarray, link: float, rounds: int = 3) -> np.ndarray:
    """Large candidate groups: leader clustering (a track joins the nearest centroid at
    ``link`` or starts one), then a few rounds of re-assignment to the centroids."""
    centroids: list[np.ndarray] = []
    sums: list[np.ndarray] = []
    labels = np.full(len(v), -1, np.int64)
    for i in range(len(v)):
        if centroids:
            sims = np.stack(centroids) @ v[i]
            j = int(np.argmax(sims))
            if sims[j] >= link:
                labels[i] = j
                sums[j] = sums[j] + v[i]
                centroids[j] = sums[j] / np.linalg.norm(sums[j])
                continue
        labels[i] = len(centroids)
        centroids.append(v[i].copy())
        sums.append(v[i].copy())
    for _ in range(rounds):
        c = normalized(np.stack(centroids))
        sims = v @ c.T
        new = np.argmax(sims, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        centroids = [v[labels == j].sum(0) if np.any(labels == j) else c[j]
                     for j in range(len(c))]
    _, labels = np.unique(labels, return_inverse=True)
    return labels.astype(np.int64)


def anchor_matches(tracks: np.ndarray, anchors: np.ndarray, same: float = ANCHOR_SAME
                   ) -> list[tuple[int, int]]:
    """(track row, anchor row) pairs at least ``same`` alike."""
    if len(tracks) == 0 or len(anchors) == 0:
        return []
    a = np.asarray(anchors, np.float32)
    out = []
    for lo in range(0, len(tracks), BLOCK):
        sims = np.asarray(tracks[lo:lo + BLOCK], np.float32) @ a.T
        r, c = np.nonzero(sims >= same)
        out += list(zip((r + lo).tolist(), c.tolist(), strict=True))
    return out
