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
    RATES,
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
# An inner picture found by its outline often keeps a strip of the player (a control
# bar, a progress line) beside the clip: such views meet the original's whole frames
# lower (a screen recording of the tune split at 0.87-0.88, its region otherwise the
# clip's). Few files have one, and verification still decides: a lower bar costs little.
REGION_SIMILARITY = 0.85
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
# Windows: parts of a file's frames that may be the whole of another file. A heavy crop
# keeps 60-70% of each side anywhere in the frame; a border (solid or blurred, where no
# edge outlines the picture) shows the picture at 72-88% in the middle. Each window is
# (share of each side, x, y of its top-left in the free room, 0-1); a grid of positions
# in quarter steps lands within two or three thumbnail pixels of any crop (halves left
# 5 of 9 crops of the tune split unmet at WINDOW_SIMILARITY), and verification then fits
# the window exactly (``_fit_window``).
WINDOW = 3  # views WINDOW + i are WINDOWS[i]
WINDOW_PLACES = (0.0, 0.25, 0.5, 0.75, 1.0)
# Windows ask from fewer frames than whole views (a crop meets its window in every
# frame): the grid's 26 windows then cost about the rows 10 windows of all
# CANDIDATE_FRAMES did (the tune split's copies are found alike with 3, 4 or 8).
WINDOW_FRAMES = 4
WINDOWS = tuple((0.65, fx, fy) for fy in WINDOW_PLACES for fx in WINDOW_PLACES) + \
    ((0.83, 0.5, 0.5),)
# Fitting: shares of each side tried, and how far (thumbnail pixels) from the window
# the candidates met in.
FIT_SCALES = (0.56, 0.6, 0.63, 0.66, 0.7, 0.74, 0.78, 0.81, 0.84, 0.87, 0.9)
FIT_SCALE_RANGE = 0.12
# Windows meet whole frames at this similarity (the grid is off by up to 3 thumbnail
# pixels: crops on the tune split meet their original's nearest window at 0.77-0.99,
# median 0.96; with windows at halves 0.61-0.93).
WINDOW_SIMILARITY = 0.9
# A window fitted in scale and place is a search of its own, and one clip of a locked-
# off street then lines up with another moment of it: the bar is this many times chance
# (such pairs on the tune split reach 2.42 times chance, crops and borders 2.0-5).
WINDOW_CHANCE_FACTOR = 2.5


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
        if source >= WINDOW:
            return window(self.whole, *WINDOWS[source - WINDOW])
        return middle_slice(self.whole)


def window(frames: np.ndarray, share: float, fx: float, fy: float) -> np.ndarray:
    """The part of frames [n, h, w] ``share`` of each side wide, at (fx, fy) in the room
    left around it."""
    h, w = frames.shape[1:]
    cw, ch = max(2, int(round(w * share))), max(2, int(round(h * share)))
    x0, y0 = int(round((w - cw) * fx)), int(round((h - ch) * fy))
    return frames[:, y0:y0 + ch, x0:x0 + cw]


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
        few = pick[np.unique(np.linspace(0, len(pick) - 1, min(len(pick), WINDOW_FRAMES))
                             .round().astype(int))]
        for source in (WHOLE, REGION, SLICE, *range(WINDOW, WINDOW + len(WINDOWS))):
            view = p.view(source)
            if view is None:
                continue
            if source >= WINDOW:  # asked about, upright only: a crop keeps its frame's turn
                rows.append(_normed(_squares(view[few])))
                owners.append(np.full(len(few), file_id))
                codes.append(np.full(len(few), source * 4))
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
    # Rows of the unrotated views are the base; every other view asks about them, an
    # inner picture with a lower bar (REGION_SIMILARITY). A window asks only about whole
    # frames, with a lower bar: its grid is a few pixels off the copy's crop.
    base = np.flatnonzero(_is_base(code))
    asks = np.flatnonzero((code // 4 < WINDOW) & (code // 4 != REGION))
    qi, bi = screening._nearest(x[asks], x[base], owner[asks], owner[base],
                                CANDIDATES_PER_FRAME, CANDIDATE_SIMILARITY, asks, base)
    regions = np.flatnonzero(code // 4 == REGION)
    ri, rb = screening._nearest(x[regions], x[base], owner[regions], owner[base],
                                CANDIDATES_PER_FRAME, REGION_SIMILARITY, regions, base)
    qi, bi = np.concatenate([qi, ri]), np.concatenate([bi, rb])
    windows, wholes = np.flatnonzero(code // 4 >= WINDOW), np.flatnonzero(code == WHOLE * 4)
    wq, wb = screening._nearest(x[windows], x[wholes], owner[windows], owner[wholes],
                                CANDIDATES_PER_FRAME, WINDOW_SIMILARITY, windows, wholes)
    return _combos(np.concatenate([qi, wq]), np.concatenate([bi, wb]), owner, code)


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
        ry = ry[_is_base(code[ry])]
        q, b = np.nonzero(x[rx] @ x[ry].T >= CANDIDATE_SIMILARITY)
        qs.append(rx[q])
        bs.append(ry[b])
    if not qs:
        return {}
    return _combos(np.concatenate(qs), np.concatenate(bs), owner, code)


def _is_base(code: np.ndarray) -> np.ndarray:
    return (code % 4 == 0) & (code // 4 < WINDOW)


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
    if (sx >= WINDOW and sy != WHOLE) or (sy >= WINDOW and sx != WHOLE):
        return None, True  # a window is the whole of the other file or nothing
    x_first = px.duration <= py.duration
    windowed = sx >= WINDOW or sy >= WINDOW
    # The window the candidates met in is near the copy's, not on it: it is fitted on
    # the frames a first, quick alignment pairs (1x, as it is), then aligned again.
    al = _align_views(px, vx, py, vy, x_first, quick=windowed)
    if al is not None and windowed:
        if sx >= WINDOW:
            vx = _fit_window(px, py, vy, WINDOWS[sx - WINDOW][0], al, outer_is_a=x_first)
        else:
            vy = _fit_window(py, px, vx, WINDOWS[sy - WINDOW][0], al, outer_is_a=not x_first)
        al = _align_views(px, vx, py, vy, x_first)
    return al, x_first


def _align_views(px: Pictures, vx: np.ndarray, py: Pictures, vy: np.ndarray, x_first: bool,
                 quick: bool = False) -> Alignment | None:
    (hx, wx), (hy, wy) = vx.shape[1:], vy.shape[1:]
    shape = (min(hx, hy), min(wx, wy))
    rates = (1.0,) if quick else RATES
    if x_first:
        return align(_track(px, vx, shape, not quick), _track(py, vy, shape, False), rates)
    return align(_track(py, vy, shape, not quick), _track(px, vx, shape, False), rates)


def _fit_window(outer: Pictures, inner: Pictures, inner_view: np.ndarray, share: float,
                al: Alignment, outer_is_a: bool) -> np.ndarray:
    """The part of ``outer``'s frames that best matches ``inner_view`` (template
    matching summed over the frames the alignment pairs, over shares of each side near
    ``share``): the window ``outer`` is cut to."""
    def to_outer(t):
        return (t - al.offset) / al.rate if outer_is_a else al.rate * t + al.offset
    span = (al.a_start, al.a_end) if not outer_is_a else (al.b_start, al.b_end)
    keep = (inner.times >= span[0] - 1e-6) & (inner.times <= span[1] + 1e-6)
    t_outer = to_outer(inner.times[keep])
    j = np.clip(np.searchsorted(outer.times, t_outer), 0, len(outer.times) - 1)
    j_prev = np.clip(j - 1, 0, len(outer.times) - 1)
    j = np.where(np.abs(outer.times[j_prev] - t_outer) < np.abs(outer.times[j] - t_outer), j_prev, j)
    frames_in, frames_out = inner_view[keep], outer.whole[j]
    h, w = outer.whole.shape[1:]
    best, best_box = -np.inf, None
    for s in FIT_SCALES:
        if abs(s - share) > FIT_SCALE_RANGE:
            continue
        cw, ch = max(2, int(round(w * s))), max(2, int(round(h * s)))
        if cw >= w and ch >= h:
            continue
        total = 0.0
        for fi, fo in zip(frames_in, frames_out, strict=True):
            tpl = cv2.resize(fi, (cw, ch), interpolation=cv2.INTER_AREA)
            total = total + cv2.matchTemplate(fo, tpl, cv2.TM_CCOEFF_NORMED)
        if not len(frames_in):
            break
        y, x = np.unravel_index(int(np.argmax(total)), total.shape)
        if total[y, x] > best:
            best, best_box = float(total[y, x]), (x, y, cw, ch)
    if best_box is None:
        return window(outer.whole, *WINDOWS[0]) if share == WINDOWS[0][0] else \
            window(outer.whole, share, 0.5, 0.5)
    x, y, cw, ch = best_box
    return outer.whole[:, y:y + ch, x:x + cw]


def is_copy(al: Alignment | None, a_duration: float, windowed: bool = False) -> bool:
    off_speed = None if al is None else off_speed_bar(al)
    if al is None or al.samples < MIN_SAMPLES or off_speed is None:
        return False
    factor = WINDOW_CHANCE_FACTOR if windowed else CHANCE_FACTOR
    need = max(MIN_COHERENCE, factor * chance_coherence(al.samples), off_speed)
    need += RATE_PENALTY * abs(np.log2(al.rate))
    return (al.a_span >= MIN_COVER * a_duration and al.similarity >= MIN_SIMILARITY
            and al.coherence >= need and al.variation >= MIN_VARIATION
            and (al.part_coherence is None or al.part_coherence >= MIN_PART_COHERENCE))


def verify(pics: dict[int, Pictures], x: int, y: int,
           combos: set[tuple[int, int, int]]) -> Found | None:
    best: Found | None = None
    for combo in _worth_trying(combos):
        if best is not None and (combo[0] >= WINDOW or combo[1] >= WINDOW):
            break  # found without a window: fitting one costs more and adds nothing
        al, x_first = compare(pics[x], pics[y], combo)
        a, b = (x, y) if x_first else (y, x)
        windowed = combo[0] >= WINDOW or combo[1] >= WINDOW
        if is_copy(al, pics[a].duration, windowed) and (
                best is None or al.coherence > best.alignment.coherence):
            best = Found(al, a, b, combo)
    return best


def _worth_trying(combos: set[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The combos in order, plain views first; of windows of one size on one side only
    the first, since fitting searches every place (``_fit_window``)."""
    out, sizes = [], set()
    for combo in sorted(combos, key=lambda c: (max(c[0], c[1]) >= WINDOW, c)):
        sx, sy, _ = combo
        if sx >= WINDOW or sy >= WINDOW:
            size = (sx >= WINDOW, WINDOWS[max(sx, sy) - WINDOW][0])
            if size in sizes:
                continue
            sizes.add(size)
        out.append(combo)
    return out


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
