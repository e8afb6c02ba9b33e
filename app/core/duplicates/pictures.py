"""Copies found by their tiny pictures (indexing/regions.py), where the network's
vectors fail: blurred, noisy, low-bitrate, rotated, a phone's vertical slice, or shown
inside a larger frame (a screen recording, picture-in-picture, a collage, a border).

Seen 48 pixels wide, such a copy *is* its original: rotate its thumbnails back, take the
middle 9:16 slice of the landscape one, or the inner picture of the one that shows it
in a window, and the grey pixels agree frame by frame. So:

1. ``candidates``: every file offers *views* of its frames (whole, inner picture, middle
   vertical slice, each in four rotations), reduced to CANDIDATE_SIDE x CANDIDATE_SIDE
   squares; two files whose views have a pair of frames this alike (cosine of the
   zero-mean pixels) are compared. Views are exact on the square grid, so a rotated copy
   meets its original here however little it resembles it to the network.
2. ``verify``: for each pair of views that met, both are resampled to one grid and laid
   over each other in time by ``alignment.align`` (as the network's vectors are): a copy
   changes together with its original, pixel for pixel; another moment of the same
   street or tree looks alike but does not. The bars are this module's own: pixel
   sequences are not network vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.core.duplicates import screening
from app.core.duplicates.alignment import (
    Alignment,
    Track,
    align,
    chance_coherence,
    off_speed_bar,
)
from app.store.frame_thumbs import iter_thumbnails
from app.store.library import Library

CANDIDATE_SIDE = 12
CANDIDATE_FRAMES = 8  # frames of a file offered as candidates at most (spread over it)
CANDIDATE_SIMILARITY = 0.9
CANDIDATES_PER_FRAME = 20
EXACT_ROWS = 60_000  # rows (frames x views) compared all with all; beyond, an inverted file
# Shapes of two views compared must agree within this (relative) ...
SHAPE_TOLERANCE = 0.2
# Verification bars (see module doc), measured on bench/copies.py's tune split.
MIN_COVER = 0.7
MIN_SIMILARITY = 0.6
MIN_COHERENCE = 0.45
MIN_PART_COHERENCE = 0.3
MIN_VARIATION = 0.0003
MIN_SAMPLES = 8
# Short clips rest on few samples: the bar is at least this many times chance coherence
# (other moments of one locked-off street, 16 samples: up to 0.56 coherent; copies
# resting on 14-16 samples 0.68 and above).
CHANCE_FACTOR = 2.0
# As for the network's vectors (finder.RATE_PENALTY): the bar rises with the speed change.
RATE_PENALTY = 0.1

WHOLE, REGION, SLICE = 0, 1, 2


@dataclass
class Pictures:
    times: np.ndarray
    duration: float
    whole: np.ndarray  # [n, h, w] float32
    region: np.ndarray | None

    def view(self, source: int) -> np.ndarray | None:
        if source == WHOLE:
            return self.whole
        if source == REGION:
            return self.region
        return middle_slice(self.whole)


def middle_slice(frames: np.ndarray) -> np.ndarray | None:
    """The middle 9:16 columns of landscape frames (a phone's vertical reframe)."""
    h, w = frames.shape[1:]
    if w < 1.3 * h:
        return None
    cw = max(2, int(round(h * 9 / 16)))
    x0 = (w - cw) // 2
    return frames[:, :, x0:x0 + cw]


def load(lib: Library, ids, rows: dict[int, dict], times: dict[int, np.ndarray]
         ) -> dict[int, Pictures]:
    out = {}
    for file_id, frames, region in iter_thumbnails(lib.conn, ids):
        t = times.get(file_id)
        if t is None or len(t) != len(frames) or len(t) < 2:
            continue
        duration = float(rows[file_id]["duration"] or t[-1])
        out[file_id] = Pictures(t.astype(np.float64), duration, frames.astype(np.float32),
                                None if region is None else region.astype(np.float32))
    return out


def _normed(v: np.ndarray) -> np.ndarray:
    v = v.reshape(len(v), -1)
    v = v - v.mean(1, keepdims=True)
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-6)).astype(np.float32)


def _squares(frames: np.ndarray, side: int = CANDIDATE_SIDE) -> np.ndarray:
    return np.stack([cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in frames])


# ---- 1. candidates --------------------------------------------------------------------
def candidates(pics: dict[int, Pictures]) -> dict[tuple[int, int], set[tuple[int, int, int]]]:
    """(x, y) with x < y -> the (source of x, source of y, rotation of x's view relative
    to y's, in quarter turns) that met."""
    owners, codes, rows = [], [], []
    for file_id, p in pics.items():
        pick = np.unique(np.linspace(0, len(p.times) - 1,
                                     min(len(p.times), CANDIDATE_FRAMES)).round().astype(int))
        for source in (WHOLE, REGION, SLICE):
            view = p.view(source)
            if view is None:
                continue
            sq = _squares(view[pick])
            # Rotated copies of landscape footage are upright portrait (a quarter turn
            # back) or upside down (a half turn): other turns would only cost rows.
            portrait = view.shape[1] > 1.1 * view.shape[2]
            for k in ((0, 1, 3) if portrait else (0,) if source == SLICE else (0, 2)):
                rows.append(_normed(np.rot90(sq, k, axes=(1, 2))))
                owners.append(np.full(len(pick), file_id))
                codes.append(np.full(len(pick), source * 4 + k))
    if not rows:
        return {}
    x = np.concatenate(rows)
    owner = np.concatenate(owners).astype(np.int64)
    code = np.concatenate(codes).astype(np.int64)
    if len(x) > EXACT_ROWS:
        return _large_candidates(x, owner, code)
    # Rows of the unrotated views are the base; every view asks about them.
    base = np.flatnonzero(code % 4 == 0)
    qi, bi = screening._nearest(x, x[base], owner, owner[base], CANDIDATES_PER_FRAME,
                                CANDIDATE_SIMILARITY, b_rows=base)
    return _combos(qi, bi, owner, code)


def _large_candidates(x: np.ndarray, owner: np.ndarray, code: np.ndarray
                      ) -> dict[tuple[int, int], set[tuple[int, int, int]]]:
    """As ``candidates`` for a large library: file pairs from the inverted-file search
    over all views' rows (``screening``), then each pair's views compared exactly."""
    keys = screening._inverted_file_search(x.astype(np.float16), owner, CANDIDATES_PER_FRAME,
                                           CANDIDATE_SIMILARITY)
    keys = np.unique(keys)
    order = np.argsort(owner, kind="stable")
    bounds = {int(f): (int(lo), int(hi)) for f, lo, hi in zip(
        *np.unique(owner[order], return_index=True),
        np.r_[np.unique(owner[order], return_index=True)[1][1:], len(order)], strict=True)}
    qs, bs = [], []
    for key in keys.tolist():
        fx, fy = key >> 32, key & 0xFFFFFFFF
        rx = order[slice(*bounds[fx])]
        ry = order[slice(*bounds[fy])]
        ry = ry[code[ry] % 4 == 0]
        q, b = np.nonzero(x[rx] @ x[ry].T >= CANDIDATE_SIMILARITY)
        qs.append(rx[q])
        bs.append(ry[b])
    if not qs:
        return {}
    return _combos(np.concatenate(qs), np.concatenate(bs), owner, code)


def _combos(qi: np.ndarray, bi: np.ndarray, owner: np.ndarray, code: np.ndarray
            ) -> dict[tuple[int, int], set[tuple[int, int, int]]]:
    found: dict[tuple[int, int], set[tuple[int, int, int]]] = {}
    for q, b in zip(qi.tolist(), bi.tolist(), strict=True):
        ox, oy = int(owner[q]), int(owner[b])
        sx, kx, sy = int(code[q]) // 4, int(code[q]) % 4, int(code[b]) // 4
        if sx == SLICE and sy == SLICE:
            continue
        if ox < oy:
            found.setdefault((ox, oy), set()).add((sx, sy, kx))
        else:
            found.setdefault((oy, ox), set()).add((sy, sx, (4 - kx) % 4))
    return found


# ---- 2. verification -----------------------------------------------------------------
@dataclass
class Found:
    alignment: Alignment
    a: int  # the shorter clip (laid over b)
    b: int
    combo: tuple[int, int, int]


def _track(p: Pictures, frames: np.ndarray, shape: tuple[int, int], with_flip: bool) -> Track:
    h, w = shape
    small = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
    return Track(p.duration, p.times, _normed(small),
                 _normed(small[:, :, ::-1]) if with_flip else None)


def compare(px: Pictures, py: Pictures, combo: tuple[int, int, int]
            ) -> tuple[Alignment | None, bool]:
    """Align x's view over y's (or the reverse when y is shorter); (alignment, whether
    x was laid over y)."""
    sx, sy, k = combo
    vx, vy = px.view(sx), py.view(sy)
    if vx is None or vy is None:
        return None, True
    vx = np.rot90(vx, k, axes=(1, 2))
    (hx, wx), (hy, wy) = vx.shape[1:], vy.shape[1:]
    if abs(hx / wx - hy / wy) > SHAPE_TOLERANCE * (hy / wy):
        return None, True
    shape = (min(hx, hy), min(wx, wy))
    x_first = px.duration <= py.duration
    if x_first:
        return align(_track(px, vx, shape, True), _track(py, vy, shape, False)), True
    return align(_track(py, vy, shape, True), _track(px, vx, shape, False)), False


def is_copy(al: Alignment | None, a_duration: float) -> bool:
    off_speed = None if al is None else off_speed_bar(al)
    if al is None or al.samples < MIN_SAMPLES or off_speed is None:
        return False
    need = max(MIN_COHERENCE, CHANCE_FACTOR * chance_coherence(al.samples), off_speed)
    need += RATE_PENALTY * abs(np.log2(al.rate))
    return (al.a_span >= MIN_COVER * a_duration and al.similarity >= MIN_SIMILARITY
            and al.coherence >= need and al.variation >= MIN_VARIATION
            and (al.part_coherence is None or al.part_coherence >= MIN_PART_COHERENCE))


def verify(pics: dict[int, Pictures], x: int, y: int,
           combos: set[tuple[int, int, int]]) -> Found | None:
    best: Found | None = None
    for combo in sorted(combos):
        al, x_first = compare(pics[x], pics[y], combo)
        a, b = (x, y) if x_first else (y, x)
        if is_copy(al, pics[a].duration) and (best is None or al.coherence > best.alignment.coherence):
            best = Found(al, a, b, combo)
    return best


# The network's vectors of two moments of one locked-off scene (the same tree a second
# later, given the same blur) can change together by chance. Their tiny pictures then
# line up in space, nearly identical (similarity at least CONTRADICT_SIMILARITY), yet
# their pixels do not change together: that contradicts a copy. Measured on the tune
# split: such pairs 0.05-0.28 coherent, copies framed alike 0.49 and above.
CONTRADICT_SIMILARITY = 0.9
CONTRADICT_COHERENCE = 0.3


def contradicts(pics: dict[int, Pictures], x: int, y: int) -> bool:
    """Whether two files' pictures, framed alike, show they change differently."""
    if x not in pics or y not in pics:
        return False
    al, _ = compare(pics[x], pics[y], (WHOLE, WHOLE, 0))
    if al is None:
        # No alignment worth scoring at all: a contradiction when the two are framed
        # alike (their mean pictures nearly the same), as nothing then hides a copy.
        return _framed_alike(pics[x], pics[y])
    return (al.samples >= MIN_SAMPLES and al.similarity >= CONTRADICT_SIMILARITY
            and al.coherence < CONTRADICT_COHERENCE)


def _framed_alike(px: Pictures, py: Pictures) -> bool:
    (hx, wx), (hy, wy) = px.whole.shape[1:], py.whole.shape[1:]
    if abs(hx / wx - hy / wy) > SHAPE_TOLERANCE * (hy / wy) or len(px.times) < MIN_SAMPLES \
            or len(py.times) < MIN_SAMPLES:
        return False
    shape = (min(wx, wy), min(hx, hy))
    mx = _normed(cv2.resize(px.whole.mean(0), shape, interpolation=cv2.INTER_AREA)[None])
    my = _normed(cv2.resize(py.whole.mean(0), shape, interpolation=cv2.INTER_AREA)[None])
    return float((mx @ my.T)[0, 0]) >= CONTRADICT_SIMILARITY
