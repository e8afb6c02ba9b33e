"""Tiny grey pictures of every sampled frame, for finding copies the network misses.

A copy that is blurred, upscaled with noise, squeezed to a low bitrate, rotated, cut to
a phone's vertical slice, or shown inside a larger frame (a screen recording's player
window, picture-in-picture, a collage, a border) often embeds far from its original,
yet its picture, seen very small, is still the original's: the same shapes moving the
same way. So each sampled frame is kept as a small grey thumbnail (the long side
THUMB_SIDE pixels, the frame's own shape, black bars cropped), and when the frames show
a *picture inside the picture* (a still rectangle whose inside moves), that region is
kept too. Duplicate detection rotates, slices and compares these; no network runs here,
so this costs well under a millisecond a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

THUMB_SIDE = 48  # pixels of the long side of each thumbnail
REGION_FRAMES = 32  # frames examined at most to find an inner picture
# An edge pixel: a grey-level step of at least this (Sobel, 0-255 luma) ...
EDGE_STEP = 60.0
# ... in this share of the frames at least (a border that stays while the picture moves).
EDGE_PERSISTENCE = 0.8
LINE_COVER = 0.7  # of a rectangle's side that must be such an edge
MIN_REGION_SIDE = 0.3  # of the frame's side, each side of the inner picture at least
MAX_REGION_AREA = 0.85  # a rectangle nearly the whole frame is the frame
MIN_REGION_AREA = 0.12
# The inside must move: its mean per-pixel standard deviation over time (0-255) at least
# this, and this many times the outside's (or the outside moves as much: picture-in-
# picture over other footage, told apart by its edges alone).
MIN_INSIDE_CHANGE = 2.0
CANDIDATE_LINES = 12  # strongest edge lines per direction considered


@dataclass
class Thumbnails:
    frames: np.ndarray  # [n, h, w] uint8 grey, the whole (bar-cropped) frame
    region: np.ndarray | None  # [n, rh, rw] uint8 grey of the inner picture, or None
    box: tuple[float, float, float, float] | None  # (x0, y0, x1, y1) of it, 0-1


def thumbnails(frames: np.ndarray) -> Thumbnails:
    """Thumbnails of RGB work frames [n, h, w, 3] (already without black bars)."""
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]) if len(frames) else \
        np.zeros((0, 2, 2), np.uint8)
    whole = shrink(grey)
    box = inner_picture(grey)
    region = None
    if box is not None:
        h, w = grey.shape[1:]
        x0, y0, x1, y1 = (int(round(box[0] * w)), int(round(box[1] * h)),
                          int(round(box[2] * w)), int(round(box[3] * h)))
        inside = grey[:, y0:y1, x0:x1]
        bx0, bx1, by0, by1 = _dark_bars(inside)  # a player letterboxes what it shows
        region = shrink(inside[:, by0:by1, bx0:bx1])
    return Thumbnails(whole, region, box)


def join(parts: list[Thumbnails | None]) -> Thumbnails | None:
    """One file's thumbnails from its windows' (a long file is decoded in windows). The
    inner picture counts only when every window found it in the same place; a short file
    is one window, found as a whole."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    whole = np.concatenate([p.frames for p in parts])
    boxes = {p.box for p in parts}
    if len(boxes) == 1 and None not in boxes and \
            len({p.region.shape[1:] for p in parts}) == 1:
        return Thumbnails(whole, np.concatenate([p.region for p in parts]), parts[0].box)
    return Thumbnails(whole, None, None)


def shrink(grey: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    """Grey frames [n, h, w] scaled (area averaging) so the long side is ``side``."""
    n, h, w = grey.shape
    s = side / max(h, w, 1)
    size = (max(2, int(round(w * s))), max(2, int(round(h * s))))
    if n == 0:
        return np.zeros((0, size[1], size[0]), np.uint8)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in grey])


def _dark_bars(grey: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, x1, y0, y1) inside black bars of a stack of grey frames."""
    bright = grey.max(axis=0) > 24

    def span(profile: np.ndarray) -> tuple[int, int]:
        on = np.flatnonzero(profile > 0.1)
        if len(on) == 0 or on[-1] + 1 - on[0] < 0.3 * len(profile):
            return 0, len(profile)
        return int(on[0]), int(on[-1]) + 1

    x0, x1 = span(bright.mean(axis=0))
    y0, y1 = span(bright.mean(axis=1))
    return x0, x1, y0, y1


def inner_picture(grey: np.ndarray) -> tuple[float, float, float, float] | None:
    """The box (x0, y0, x1, y1, as shares of the frame) of a picture shown inside the
    frame, or None: a rectangle outlined by edges that stay put in (nearly) every frame,
    whose inside moves, and that is neither nearly the whole frame nor a small detail.
    Cheap: Sobel on at most REGION_FRAMES grey work frames."""
    n, h, w = grey.shape
    if n < 3 or h < 16 or w < 16:
        return None
    picks = np.unique(np.linspace(0, n - 1, min(n, REGION_FRAMES)).round().astype(int))
    stack = grey[picks].astype(np.float32)
    vertical = np.zeros((h, w), np.float32)  # how often each pixel is a vertical edge
    horizontal = np.zeros((h, w), np.float32)
    for f in stack:
        vertical += np.abs(cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)) >= EDGE_STEP
        horizontal += np.abs(cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)) >= EDGE_STEP
    vertical = vertical >= EDGE_PERSISTENCE * len(stack)
    horizontal = horizontal >= EDGE_PERSISTENCE * len(stack)
    # An edge a pixel either side still counts: lines drawn at odd pixels blur into two.
    vertical = cv2.dilate(vertical.astype(np.uint8), np.ones((1, 3), np.uint8)).astype(bool)
    horizontal = cv2.dilate(horizontal.astype(np.uint8), np.ones((3, 1), np.uint8)).astype(bool)
    change = stack.std(axis=0)
    cols = _lines(vertical.sum(axis=0), MIN_REGION_SIDE * h)
    rows = _lines(horizontal.sum(axis=1), MIN_REGION_SIDE * w)
    if len(cols) < 2 or len(rows) < 2:
        return None
    # Prefix sums make each side's edge cover and the inside's change O(1) per rectangle.
    v_cum = np.vstack([np.zeros((1, w)), np.cumsum(vertical, axis=0)])
    h_cum = np.hstack([np.zeros((h, 1)), np.cumsum(horizontal, axis=1)])
    c_int = cv2.integral(change)
    best, best_score = None, 0.0
    for i, x0 in enumerate(cols):
        for x1 in cols[i + 1:]:
            if x1 - x0 < MIN_REGION_SIDE * w:
                continue
            for j, y0 in enumerate(rows):
                for y1 in rows[j + 1:]:
                    if y1 - y0 < MIN_REGION_SIDE * h:
                        continue
                    area = (x1 - x0) * (y1 - y0) / (w * h)
                    if not MIN_REGION_AREA <= area <= MAX_REGION_AREA:
                        continue
                    cover = min(
                        (v_cum[y1, x0] - v_cum[y0, x0]) / (y1 - y0),
                        (v_cum[y1, x1] - v_cum[y0, x1]) / (y1 - y0),
                        (h_cum[y0, x1] - h_cum[y0, x0]) / (x1 - x0),
                        (h_cum[y1, x1] - h_cum[y1, x0]) / (x1 - x0))
                    if cover < LINE_COVER:
                        continue
                    inside = float(c_int[y1, x1] - c_int[y0, x1] - c_int[y1, x0] + c_int[y0, x0])
                    inside_mean = inside / ((x1 - x0) * (y1 - y0))
                    if inside_mean < MIN_INSIDE_CHANGE:
                        continue
                    # The most clearly outlined rectangle; of equally clear ones the
                    # smallest (a player's window outlines its video area too).
                    score = round(cover, 1) + 0.01 * (1 - area)
                    if score > best_score:
                        best, best_score = (x0, y0, x1, y1), score
    if best is None:
        return None
    x0, y0, x1, y1 = best
    return x0 / w, y0 / h, x1 / w, y1 / h


def _lines(counts: np.ndarray, min_count: float) -> list[int]:
    """Positions of the strongest lines: local maxima of edge counts at least min_count."""
    order = np.argsort(-counts, kind="stable")
    found: list[int] = []
    for p in order:
        if counts[p] < min_count or len(found) >= CANDIDATE_LINES:
            break
        if all(abs(int(p) - q) > 2 for q in found):
            found.append(int(p))
    return sorted(found)
