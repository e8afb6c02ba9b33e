"""Temporal alignment of two clips' per-frame vectors: is one a copy of (part of) the other?

Different moments of one scene (the same street, the same tree a minute later) look
alike frame by frame, often more alike than a cropped or re-graded copy does, so the
level of similarity cannot decide. What a copy has and another moment lacks is the same
*changes over time*: the same people crossing, the same camera shake, at the same
relative times. So:

1. Hypotheses ``b_time = rate * a_time + offset`` (and mirrored or not) are proposed by
   votes of frame pairs that look alike, for a set of playback speeds.
2. Each is scored on the frames it pairs up (both ways, B's vectors interpolated at the
   mapped times): the mean similarity (the level) and the *coherence*, the correlation
   of the two sequences once each is detrended (its mean and slow drift over the span
   removed). Coherence is near 0 for another moment of the same scene whatever its
   level, and high for a copy whatever the transform, as long as the picture changes.
   Hypotheses are ranked by how far their coherence exceeds chance for the number of
   independent frames they rest on; the winner also gets the coherence within each
   half of its span, and the stretch where its frames really pair up.
3. Where both clips have sound, the soundtrack aligned the same way is a second
   witness: a copy usually keeps it, another moment does not.

Pure numpy; vectors are L2-normed rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from app.core.vectors import interpolate
from app.inference import PATCH_SECONDS

# Playback speeds tried (b_time per a_time), then refined around the best one.
RATES = (0.5, 2 / 3, 0.75, 0.8, 0.9, 1.0, 1 / 0.9, 1.25, 4 / 3, 1.5, 2.0)
RATE_REFINE = (0.97, 0.985, 1.015, 1.03)
OFFSET_STEP = 0.05  # seconds: offsets are voted and refined on this grid
# A refinement must gain this much: near the best, coherence is flat, and the plain
# speeds and the voted offset are likelier than a drift within noise.
REFINE_MIN_GAIN = 0.005
RATE_MIN_GAIN = 0.02
VOTES_PER_FRAME = 3  # most similar frames of B per frame of A that vote for an offset
HYPOTHESES_KEPT = 6  # best coarse hypotheses per orientation scored in full
HYPOTHESES_REFINED = 2  # of those (both orientations together), the best ones refined
COARSE_MIN = 0.15  # coarse score over the clips' spread below which no hypothesis is scored
STILL_CHANGE = 0.006  # mean squared change of frames below which a clip counts as still
HOPELESS_COHERENCE = 0.08  # below this a hypothesis is not worth refining
DETREND_DEGREE = 2  # mean, slope and curvature of the drift over the span are removed
# Chance coherence is about COHERENCE_NOISE / sqrt(independent samples).
COHERENCE_NOISE = 1.2
PART_MIN_PAIRS = 5  # fewer pairs in a half of the span: too few to judge it
# A pair of frames more than RUN_DROP below the typical pair of an alignment does not
# match; more than RUN_GAP such pairs in a row end the matching run.
RUN_DROP = 0.15
RUN_GAP = 2
# Copies at another speed are rare (a slow-motion re-export); other moments of a scene
# lined up at another speed are a common coincidence, and on a short clip the coherence
# at 0.9x or 1.1x differs from that at 1x by noise. So among hypotheses nearly as good,
# normal speed wins: the selection loses this much per octave away from it.
# Measured on bench/copies.py's tune split (every copy there plays at 1x): at 0.2 the
# copies of 1-3 s clips matched at 0.9x or 1.1x fall from 121 to 17 pairs.
RATE_PRIOR = 0.2
NORMAL_SPEED_STEPS = 4  # OFFSET_STEPs either side tried for the 1x hypothesis
# A hypothesis at another speed (beyond a re-encode's drift) claims an unusual edit, so
# it needs more evidence than one at 1x: at least this many independent samples and a
# coherence this many times chance (a false pair of two compilations' different street
# moments at 0.5x rested on 16 samples, 0.68 coherent, where chance is 0.30).
OFF_SPEED = 0.06  # octaves: |log2 rate| beyond this is another speed
OFF_SPEED_MIN_SAMPLES = 24
OFF_SPEED_CHANCE_FACTOR = 1.5


@dataclass
class Track:
    """One clip's per-frame features, as the index keeps them."""

    duration: float
    times: np.ndarray  # [n] seconds, ascending
    visual: np.ndarray  # [n, d] float32, L2-normed
    visual_flip: np.ndarray | None = None  # [n, d] of the mirrored frames
    audio_times: np.ndarray | None = None  # [p] patch start seconds
    audio: np.ndarray | None = None  # [p, da] float32, L2-normed
    # Inner products among this clip's own frames, kept once ``_compact`` has computed
    # them: a clip is verified against several others ("visual": visual with visual;
    # "flip": visual and visual_flip stacked, with visual_flip). Only clips with few
    # enough frames to compact get them, so they are smaller than the vectors above.
    own_gram: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Alignment:
    """The best way found to lay clip A over clip B: ``b_time = rate * a_time + offset``."""

    rate: float
    offset: float
    mirrored: bool
    a_start: float
    a_end: float
    b_start: float
    b_end: float
    similarity: float  # mean cosine of the paired frames
    coherence: float  # correlation of the paired frames' changes over time
    pairs: int  # frame pairs the figures rest on
    samples: int  # independent samples among them (see _score)
    variation: float  # how much A's picture changes over the span (mean squared residual)
    # Coherence within each half of the span, each detrended on its own (pooled): the
    # agreement must hold at that scale too, not only in the span's overall swing.
    part_coherence: float | None = None
    audio_similarity: float | None = None  # mean cosine of the paired audio patches
    audio_coherence: float | None = None
    audio_pairs: int = 0

    @property
    def a_span(self) -> float:
        return self.a_end - self.a_start

    @property
    def b_span(self) -> float:
        return self.b_end - self.b_start


def detrended_correlation(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Correlation of two vector sequences over time once the polynomial trend of each is
    removed; and the mean squared residual of ``x`` (how much it changes)."""
    q = _trend_basis(t)
    rx, ry = x - q @ (q.T @ x), y - q @ (q.T @ y)
    sxx, syy = float((rx * rx).sum()), float((ry * ry).sum())
    if sxx <= 1e-12 or syy <= 1e-12:
        return 0.0, sxx / len(t)
    return float((rx * ry).sum() / np.sqrt(sxx * syy)), sxx / len(t)


def _trend_basis(t: np.ndarray) -> np.ndarray:
    """Orthonormal columns whose span is the trend removed over times ``t``: a
    sequence minus its projection on them is what changes beyond the slow drift."""
    span = max(float(np.ptp(t)), 1e-6)
    return _orthonormal_polynomials((t - t.mean()) / span, min(DETREND_DEGREE, len(t) - 2))


def _orthonormal_polynomials(t: np.ndarray, degree: int) -> np.ndarray:
    """[len(t), degree + 1] orthonormal columns spanning 1, t, t^2... (Gram-Schmidt: a
    LAPACK call per hypothesis costs more than the rest of its scoring)."""
    cols: list[np.ndarray] = []
    for k in range(degree + 1):
        c = t ** k
        for prev in cols:
            c = c - (prev @ c) * prev
        norm = math.sqrt(c.dot(c))  # what np.linalg.norm computes, without its checks
        if norm > 1e-9:
            cols.append(c / norm)
    return np.stack(cols, axis=1)


def _span(rate: float, offset: float, a_dur: float, b_dur: float) -> tuple[float, float]:
    """The part of A's timeline that the hypothesis lays over B's."""
    return max(0.0, -offset / rate), min(a_dur, (b_dur - offset) / rate)


def _pairs(a: Track, va: np.ndarray, b: Track, rate: float, offset: float,
           lo: float, hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame pairs over A's span [lo, hi]: A's frames with B sampled at the mapped times,
    and B's frames with A sampled back. Returns (A-side, B-side, A-time), by A-time."""
    ia = (a.times >= lo - 1e-6) & (a.times <= hi + 1e-6)
    qa = rate * a.times[ia] + offset
    jb = (b.times >= rate * lo + offset - 1e-6) & (b.times <= rate * hi + offset + 1e-6)
    pb = (b.times[jb] - offset) / rate
    x = np.concatenate([va[ia], interpolate(a.times, va, pb)])
    y = np.concatenate([interpolate(b.times, b.visual, qa), b.visual[jb]])
    t = np.concatenate([a.times[ia], pb])
    order = np.argsort(t, kind="stable")
    return x[order], y[order], t[order]


def _coarse_hypotheses(a: Track, vas: list[np.ndarray], b: Track, limit: int = HYPOTHESES_KEPT,
                       rates: tuple[float, ...] = RATES) -> list[list[tuple[float, float, float]]]:
    """For each of A's orientations ``vas`` (its frames, mirrored or not): (score, rate,
    offset) from offset votes, best first, scored cheaply on the similarity matrix with
    each row's and column's mean taken out (the scene-wide likeness of the two clips),
    at B's frame nearest each mapped frame of A."""
    centred, rate, offset, ends = [], [], [], [0]
    for va in vas:
        s = va @ b.visual.T
        centred.append(s - s.mean(1, keepdims=True) - s.mean(0, keepdims=True) + s.mean())
        k = min(VOTES_PER_FRAME, s.shape[1])
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        voted = _voted_offsets(a.times, b.times[top], rates)
        rate.append(voted[0])
        offset.append(voted[1])
        ends.append(ends[-1] + len(voted[0]))
    # All hypotheses of every orientation at once: [hypotheses, frames of A].
    rate, offset = np.concatenate(rate), np.concatenate(offset)
    lo = np.maximum(0.0, -offset / rate)
    hi = np.minimum(a.duration, (b.duration - offset) / rate)
    inside = (a.times >= lo) & (a.times <= hi)
    q = rate * a.times + offset
    last = len(b.times) - 1
    j = np.minimum(np.searchsorted(b.times, q), last)
    j_prev = np.maximum(j - 1, 0)
    nearer = np.where(np.abs(b.times[j_prev] - q) < np.abs(b.times[j] - q), j_prev, j)
    # centred[orientation][frame of A, nearer], as one flat gather.
    n, nb = len(a.times), len(b.times)
    row_starts = np.repeat(np.arange(len(vas)) * (n * nb), np.diff(ends))[:, None] \
        + np.arange(0, n * nb, nb)
    diag = np.where(inside, np.concatenate(centred).ravel()[nearer + row_starts], 0.0)
    score = diag.sum(axis=1) / n
    usable = (inside.sum(axis=1) >= 2) & (hi[:, 0] > lo[:, 0])
    ranked = -np.where(usable, score, -np.inf)
    found = []
    for first, end in zip(ends[:-1], ends[1:], strict=True):
        order = first + np.argsort(ranked[first:end], kind="stable")[:limit]
        found.append([(float(score[i]), float(rate[i, 0]), float(offset[i, 0]))
                      for i in order if usable[i]])
    return found


def _voted_offsets(a_times: np.ndarray, b_times_voted: np.ndarray,
                   rates: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """([h, 1] rates, [h, 1] offsets): for each rate in turn, the distinct offsets on the
    OFFSET_STEP grid that A's frames (``a_times``, [n]) vote for with B's frames
    (``b_times_voted``, [n, k]), ascending. All rates in one sort of their rows: the
    values and order ``np.unique`` gives rate by rate, for a fraction of the calls."""
    rate = np.asarray(rates, dtype=np.float64)
    votes = b_times_voted[None] - rate[:, None, None] * a_times[None, :, None]
    steps = np.sort(np.round(votes.reshape(len(rate), -1) / OFFSET_STEP), axis=1)
    first = np.ones(steps.shape, dtype=bool)
    first[:, 1:] = steps[:, 1:] != steps[:, :-1]
    counts = first.sum(axis=1)
    return np.repeat(rate, counts)[:, None], (steps[first] * OFFSET_STEP)[:, None]


def _score(a: Track, va: np.ndarray, b: Track, rate: float, offset: float,
           mirrored: bool, within: tuple[float, float] | None = None) -> Alignment | None:
    lo, hi = _span(rate, offset, a.duration, b.duration)
    if within is not None:
        lo, hi = max(lo, within[0]), min(hi, within[1])
    if hi - lo <= 0:
        return None
    x, y, t = _pairs(a, va, b, rate, offset, lo, hi)
    if len(t) < 3:
        return None
    sims = np.einsum("ij,ij->i", x, y)
    coherence, variation = detrended_correlation(x, y, t)
    # Pairs built by interpolating the sparser side repeat what its few frames say: a
    # clip squeezed into a few frames of the other has only that many samples to agree on.
    in_a = int(((a.times >= lo - 1e-6) & (a.times <= hi + 1e-6)).sum())
    b_lo, b_hi = rate * lo + offset, rate * hi + offset
    in_b = int(((b.times >= b_lo - 1e-6) & (b.times <= b_hi + 1e-6)).sum())
    return Alignment(rate=rate, offset=offset, mirrored=mirrored, a_start=lo, a_end=hi,
                     b_start=b_lo, b_end=b_hi, similarity=float(sims.mean()),
                     coherence=coherence, pairs=len(t), samples=2 * min(in_a, in_b),
                     variation=variation)


def chance_coherence(samples: int) -> float:
    """About the highest coherence two unrelated moments reach by chance over this many
    samples, after the search over offsets and speeds (measured on other moments of the
    same scenes: 0.18 at 23-46 samples)."""
    return COHERENCE_NOISE / np.sqrt(max(samples, 1))


def off_speed_bar(al: Alignment) -> float | None:
    """For an alignment at another speed, the least coherence it needs for that claim
    (None: it rests on too few samples to make it); 0.0 for one at about 1x."""
    if abs(float(np.log2(al.rate))) <= OFF_SPEED:
        return 0.0
    if al.samples < OFF_SPEED_MIN_SAMPLES:
        return None
    return OFF_SPEED_CHANCE_FACTOR * chance_coherence(al.samples)


def _matching_run(a: Track, va: np.ndarray, b: Track, al: Alignment) -> tuple[float, float]:
    """The stretch of A's span where the frames really pair up: the longest run of pairs
    that stay near the typical pair similarity, allowing a short dip (a flash, a
    dropped frame). Where A holds more than B does, the rest falls away."""
    x, y, t = _pairs(a, va, b, al.rate, al.offset, al.a_start, al.a_end)
    sims = np.einsum("ij,ij->i", x, y)
    good = sims >= np.median(sims) - RUN_DROP
    best, start, bad = (0, -1), None, 0
    last_good = -1
    for i, ok in enumerate(good):
        if ok:
            if start is None:
                start = i
            last_good, bad = i, 0
            if last_good - start > best[1] - best[0]:
                best = (start, last_good)
        else:
            bad += 1
            if bad > RUN_GAP:
                start, bad = None, 0
    if best[1] < 0:
        return al.a_start, al.a_end
    lo = al.a_start if best[0] == 0 else float(t[best[0]])
    hi = al.a_end if best[1] == len(t) - 1 else float(t[best[1]])
    return lo, hi


def _selection(al: Alignment, a_dur: float) -> float:
    # Coherence above chance decides; a hypothesis laying only part of A over B earns
    # less; the level of similarity only breaks near-ties.
    margin = al.coherence - chance_coherence(al.samples)
    return (margin * min(1.0, al.a_span / max(a_dur, 1e-6)) + 0.1 * al.similarity
            - RATE_PRIOR * abs(float(np.log2(al.rate))))


def align(a: Track, b: Track, rates: tuple[float, ...] = RATES) -> Alignment | None:
    """The best alignment of A over B (A is normally the shorter clip), or None; at the
    playback speeds ``rates`` (and refined around them)."""
    a, b = _compact(a, b)
    orientations = [(False, a.visual)]
    if a.visual_flip is not None:
        orientations.append((True, a.visual_flip))
    found = _coarse_hypotheses(a, [va for _, va in orientations], b, rates=rates)
    coarse = [(mirrored, va, hypotheses)
              for (mirrored, va), hypotheses in zip(orientations, found, strict=True)]
    if not _worth_scoring(a, b, coarse):
        return None
    scored = []
    for mirrored, va, hypotheses in coarse:
        for _, rate, offset in hypotheses:
            found = _score(a, va, b, rate, offset, mirrored)
            if found is not None:
                scored.append((found, va))
    scored.sort(key=lambda h: -_selection(h[0], a.duration))
    best: Alignment | None = scored[0][0] if scored else None
    for found, va in scored[:HYPOTHESES_REFINED]:
        # Refining moves a hypothesis by a few hundredths; one this far from any bar
        # is not worth the work.
        if found.coherence < HOPELESS_COHERENCE:
            continue
        found = _refine(a, va, b, found)
        if _selection(found, a.duration) > _selection(best, a.duration):
            best = found
    if best is None:
        return None
    va = a.visual_flip if best.mirrored else a.visual
    if best.rate != 1.0:
        # 1x when it is as good, or when the other speed lacks the evidence that claim
        # needs (``off_speed_bar``): then 1x is the hypothesis left to judge.
        normal = _at_normal_speed(a, va, b, best)
        bar = off_speed_bar(best)
        if normal is not None and (bar is None or best.coherence < bar or _selection(
                normal, a.duration) >= _selection(best, a.duration)):
            best = normal
    lo, hi = _matching_run(a, va, b, best)
    if (lo, hi) != (best.a_start, best.a_end):
        best = _score(a, va, b, best.rate, best.offset, best.mirrored, within=(lo, hi)) or best
    best.part_coherence = _part_coherence(a, va, b, best)
    _add_audio(a, b, best)
    return best


def _change(v: np.ndarray) -> float:
    """Mean squared distance of frames from their mean: how much a clip changes."""
    c = v - v.mean(0)
    return float(np.einsum("ij,ij->", c, c)) / len(v)


def _worth_scoring(a: Track, b: Track, coarse: list) -> bool:
    """Whether the best coarse hypothesis could be a copy: its score is a covariance of
    the two clips' changes along it, so over their spread it is about the coherence the
    full scoring would find (measured: copies on the public corpus 0.32 and above,
    other clips of one event up to 0.27; bench/scale.py's other candidate pairs below
    0.15). Clips that hardly change are always scored (their sound decides)."""
    change_b = _change(b.visual)
    for _, va, hypotheses in coarse:
        change_a = _change(va)
        if min(change_a, change_b) < STILL_CHANGE:
            return True
        if hypotheses and hypotheses[0][0] >= COARSE_MIN * np.sqrt(change_a * change_b):
            return True
    return False


def _part_coherence(a: Track, va: np.ndarray, b: Track, al: Alignment) -> float | None:
    mid = (al.a_start + al.a_end) / 2
    sxy = sxx = syy = 0.0
    for lo, hi in ((al.a_start, mid), (mid, al.a_end)):
        x, y, t = _pairs(a, va, b, al.rate, al.offset, lo, hi)
        if len(t) < PART_MIN_PAIRS:
            return None
        q = _trend_basis(t)
        rx, ry = x - q @ (q.T @ x), y - q @ (q.T @ y)
        sxy += float((rx * ry).sum())
        sxx += float((rx * rx).sum())
        syy += float((ry * ry).sum())
    return float(sxy / np.sqrt(sxx * syy)) if sxx > 1e-12 and syy > 1e-12 else 0.0


def gram_coordinates(gram: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Rows C with C C^T = gram (a pivoted, truncated Cholesky factor), as float32.

    Written with elementwise numpy on purpose: LAPACK and BLAS calls on matrices this
    small spend longer waking OpenBLAS threads than computing on a busy machine.
    """
    n = len(gram)
    factor = np.zeros((n, n))
    residual = np.diag(gram).astype(np.float64).copy()
    limit = tol * max(float(residual.max()), 1e-12)
    rank = 0
    while rank < n:
        pivot = int(residual.argmax())
        if residual[pivot] <= limit:
            break
        # np.add.reduce: the reduction .sum(axis=1) makes, without its Python wrapper.
        col = gram[:, pivot] - np.add.reduce(factor[:, :rank] * factor[pivot, :rank], axis=1)
        col /= math.sqrt(residual[pivot])
        factor[:, rank] = col
        residual -= col * col
        residual[pivot] = 0.0
        rank += 1
    return factor[:, :rank].astype(np.float32)


def inner_products(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[len(x), len(y)] inner products of rows, in float64.

    einsum, not a matrix product: see gram_coordinates on BLAS threads. Each entry is
    one sum over the dimensions in a fixed order, the same bits whichever other rows it
    is computed with, so a Gram matrix can be put together from blocks computed apart.
    """
    return np.einsum("id,jd->ij", x, y, dtype=np.float64)


def _own_gram(t: Track, key: str) -> np.ndarray:
    found = t.own_gram.get(key)
    if found is None:
        if key == "visual":
            found = inner_products(t.visual, t.visual)
        else:
            found = inner_products(np.concatenate([t.visual, t.visual_flip]), t.visual_flip)
        t.own_gram[key] = found
    return found


def pair_gram(a: Track, b: Track) -> np.ndarray:
    """The Gram matrix of A's frames, B's and A's mirrored frames (when A has them)
    stacked, bit for bit; only the blocks pairing A with B are computed here, each
    clip's own are kept on it (``Track.own_gram``)."""
    na, nb = len(a.visual), len(b.visual)
    nf = 0 if a.visual_flip is None else len(a.visual_flip)
    gram = np.empty((na + nb + nf, na + nb + nf))
    gram[:na, :na] = _own_gram(a, "visual")
    gram[na:na + nb, na:na + nb] = _own_gram(b, "visual")
    if not nf:
        cross = inner_products(a.visual, b.visual)
    else:
        cross = inner_products(np.concatenate([a.visual, a.visual_flip]), b.visual)
        flip = _own_gram(a, "flip")
        gram[:na, na + nb:] = flip[:na]
        gram[na + nb:, :na] = flip[:na].T
        gram[na + nb:, na + nb:] = flip[na:]
        gram[na + nb:, na:na + nb] = cross[na:]
        gram[na:na + nb, na + nb:] = cross[na:].T
    # x.y and y.x are the same products summed in the same order: the same bits.
    gram[:na, na:na + nb] = cross[:na]
    gram[na:na + nb, :na] = cross[:na].T
    return gram


def _compact(a: Track, b: Track) -> tuple[Track, Track]:
    """Both clips' visual vectors in coordinates of the space their frames span: every
    inner product is unchanged, and a few dozen dimensions replace 1280."""
    parts = [a.visual, b.visual] + ([a.visual_flip] if a.visual_flip is not None else [])
    rows = sum(len(p) for p in parts)
    if rows >= a.visual.shape[1] // 2:
        return a, b
    coords_all = gram_coordinates(pair_gram(a, b))
    bounds = np.cumsum([0] + [len(p) for p in parts])

    def coords(i):
        return None if i >= len(parts) else np.ascontiguousarray(coords_all[bounds[i]:bounds[i + 1]])

    return (Track(a.duration, a.times, coords(0), coords(2), a.audio_times, a.audio),
            Track(b.duration, b.times, coords(1), None, b.audio_times, b.audio))


def _at_normal_speed(a: Track, va: np.ndarray, b: Track, al: Alignment) -> Alignment | None:
    """The best 1x hypothesis near another speed's: the middle of its span kept in
    place, offsets around it tried. The votes rarely propose it on a short clip (a
    second or two at 0.9x or 1x lay nearly the same frames side by side)."""
    mid = (al.a_start + al.a_end) / 2
    centre = al.rate * mid + al.offset - mid
    best = None
    for d in range(-NORMAL_SPEED_STEPS, NORMAL_SPEED_STEPS + 1):
        found = _score(a, va, b, 1.0, round(centre / OFFSET_STEP + d) * OFFSET_STEP, al.mirrored)
        if found is not None and (best is None or _selection(found, a.duration)
                                  > _selection(best, a.duration)):
            best = found
    return best


def _refine(a: Track, va: np.ndarray, b: Track, al: Alignment) -> Alignment:
    """Hill-climb offset and rate around a hypothesis."""
    for _ in range(4):
        moves = [(al.rate, al.offset + d * OFFSET_STEP, REFINE_MIN_GAIN) for d in (-2, -1, 1, 2)]
        moves += [(al.rate * f, al.offset + al.a_start * al.rate * (1 - f), RATE_MIN_GAIN)
                  for f in RATE_REFINE]
        improved = False
        for rate, offset, gain in moves:
            found = _score(a, va, b, rate, offset, al.mirrored)
            if found is not None and (_selection(found, a.duration)
                                      > _selection(al, a.duration) + gain):
                al, improved = found, True
        if not improved:
            break
    return al


def _add_audio(a: Track, b: Track, al: Alignment) -> None:
    """Pair A's audio patches with B's nearest patch at the mapped time."""
    if a.audio is None or b.audio is None or not len(a.audio) or not len(b.audio):
        return
    centre_a = a.audio_times + PATCH_SECONDS / 2
    centre_b = b.audio_times + PATCH_SECONDS / 2
    inside = (centre_a >= al.a_start) & (centre_a <= al.a_end)
    if not inside.any():
        return
    q = al.rate * centre_a[inside] + al.offset
    j = np.clip(np.searchsorted(centre_b, q), 0, len(centre_b) - 1)
    j_prev = np.clip(j - 1, 0, len(centre_b) - 1)
    j = np.where(np.abs(centre_b[j_prev] - q) < np.abs(centre_b[j] - q), j_prev, j)
    # A patch is 0.96 s; one further off than half a patch pairs different sound.
    close = np.abs(centre_b[j] - q) <= PATCH_SECONDS / 2 * max(1.0, al.rate)
    if not close.any():
        return
    xa, xb = a.audio[inside][close], b.audio[j[close]]
    al.audio_similarity = float(np.einsum("ij,ij->i", xa, xb).mean())
    al.audio_pairs = int(close.sum())
    if al.audio_pairs >= 4:
        al.audio_coherence, _ = detrended_correlation(xa, xb, centre_a[inside][close])
