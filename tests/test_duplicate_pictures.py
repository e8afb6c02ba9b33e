"""Frame thumbnails and inner pictures (indexing/regions.py) and the copies they find
(duplicates/pictures.py), on generated frames: no models needed."""

from __future__ import annotations

import cv2
import numpy as np

from app.core.duplicates import pictures
from app.core.indexing import regions


def _moving_scene(n: int, h: int, w: int, seed: int) -> np.ndarray:
    """RGB frames [n, h, w, 3] of one textured scene (a locked-off camera) with shapes
    crossing it, each moment (seed) in its own way."""
    base = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8),
                            (0, 0), 3)
    rng = np.random.default_rng(seed)
    speed, phase = rng.uniform(0.2, 0.6, 3), rng.uniform(0, 6.3, 3)  # each scene its own
    frames = []
    for i in range(n):
        f = base.copy()
        for k in range(3):
            x = int(w / 2 + w / 3 * np.sin(i * speed[k] + phase[k]))
            y = int(h * (0.2 + 0.3 * k))
            cv2.circle(f, (x, y), max(4, h // 5), (255 - 80 * k, 60 * k, 200), -1)
        frames.append(f)
    return np.stack(frames)


def _in_player(frames: np.ndarray) -> np.ndarray:
    """The frames shown at 60% inside a still window with text beside them."""
    n, h, w = frames.shape[:3]
    out = np.zeros((n, 180, 320, 3), np.uint8)
    out[:] = (220, 220, 225)
    cv2.putText(out[0], "Up next: something else", (200, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.3,
                (20, 20, 20), 1)
    out[:] = out[0]
    pw, ph = 192, 108
    for i, f in enumerate(frames):
        out[i, 30:30 + ph, 10:10 + pw] = cv2.resize(f, (pw, ph), interpolation=cv2.INTER_AREA)
    return out


def test_the_picture_inside_a_player_window_is_found():
    scene = _moving_scene(20, 180, 320, seed=1)
    box = regions.inner_picture(np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
                                          for f in _in_player(scene)]))
    assert box is not None
    x0, y0, x1, y1 = box
    assert abs(x0 - 10 / 320) < 0.03 and abs(x1 - 202 / 320) < 0.03
    assert abs(y0 - 30 / 180) < 0.03 and abs(y1 - 138 / 180) < 0.03
    # An ordinary clip has no picture inside it.
    assert regions.thumbnails(scene).box is None


def _pictures(frames: np.ndarray, step: float = 0.25) -> pictures.Pictures:
    th = regions.thumbnails(frames)
    times = np.arange(len(frames)) * step
    return pictures.Pictures(times, float(len(frames) * step), th.frames.astype(np.float32),
                             None if th.region is None else th.region.astype(np.float32))


def test_rotated_and_windowed_copies_are_found_and_other_moments_are_not():
    scene = _moving_scene(24, 180, 320, seed=2)
    pics = {1: _pictures(scene),
            2: _pictures(np.ascontiguousarray(np.rot90(scene, -1, axes=(1, 2)))),  # 90° clockwise
            3: _pictures(_in_player(scene)),
            4: _pictures(_moving_scene(24, 180, 320, seed=3))}  # same look, other moment
    found = pictures.candidates(pics)
    for other in (2, 3):
        assert (1, other) in found
        assert pictures.verify(pics, 1, other, found[(1, other)]) is not None
    assert (1, 4) not in found or pictures.verify(pics, 1, 4, found[(1, 4)]) is None


def _crop(frames: np.ndarray, share: float, fx: float, fy: float) -> np.ndarray:
    n, h, w = frames.shape[:3]
    cw, ch = int(w * share) // 2 * 2, int(h * share) // 2 * 2
    x0, y0 = int((w - cw) * fx), int((h - ch) * fy)
    return np.ascontiguousarray(frames[:, y0:y0 + ch, x0:x0 + cw])


def _bordered(frames: np.ndarray, share: float, colour: tuple[int, int, int]) -> np.ndarray:
    n, h, w = frames.shape[:3]
    bw, bh = int(w * share), int(h * share)
    out = np.empty((n, h + 2 * bh, w + 2 * bw, 3), np.uint8)
    out[:] = colour
    out[:, bh:bh + h, bw:bw + w] = frames
    return out


def test_heavy_crops_and_borders_are_found_in_a_fitted_window():
    """A crop keeping 65% of each side, off-centre, and the picture inside a border:
    found through a window of the larger picture fitted in scale and place; the same
    crop of another moment of the scene is not a copy. (This scene's texture is fine, so
    the crop sits near one of the windows the candidates look in; real footage meets
    them further off, see WINDOW_SIMILARITY.)"""
    scene = _moving_scene(24, 180, 320, seed=2)
    pics = {1: _pictures(scene),
            2: _pictures(_crop(scene, 0.66, 0.45, 0.92)),
            3: _pictures(_bordered(scene, 0.1, (90, 110, 70))),
            4: _pictures(_crop(_moving_scene(24, 180, 320, seed=3), 0.66, 0.45, 0.92))}
    found = pictures.candidates(pics)
    for other in (2, 3):
        assert (1, other) in found
        assert pictures.verify(pics, 1, other, found[(1, other)]) is not None
    crop_hit = pictures.verify(pics, 1, 2, found[(1, 2)])
    assert max(crop_hit.combo[:2]) >= pictures.WINDOW
    for pair in ((1, 4), (2, 4)):
        assert pair not in found or pictures.verify(pics, *pair, found[pair]) is None


def test_crops_between_the_halves_of_the_frame_are_found():
    """Heavy crops (60-70% of each side) placed a quarter of the way in, where windows
    at the frame's halves met none of them: each is found; the same crops of another
    moment of the scene are not copies."""
    scene = _moving_scene(24, 180, 320, seed=2)
    other = _moving_scene(24, 180, 320, seed=3)
    crops = [(0.62, 0.25, 0.75), (0.68, 0.75, 0.25), (0.6, 0.3, 0.2), (0.7, 0.8, 0.7)]
    pics = {1: _pictures(scene)}
    for k, crop in enumerate(crops):
        pics[2 + k] = _pictures(_crop(scene, *crop))
        pics[10 + k] = _pictures(_crop(other, *crop))
    found = pictures.candidates(pics)
    for k in range(len(crops)):
        assert (1, 2 + k) in found, crops[k]
        assert pictures.verify(pics, 1, 2 + k, found[(1, 2 + k)]) is not None, crops[k]
        assert (1, 10 + k) not in found or pictures.verify(pics, 1, 10 + k, found[(1, 10 + k)]) is None


def test_a_fitted_window_lands_on_the_crop():
    """Off the windows' grid and at another share of the sides, the fitted window is the
    crop's, given frames paired in time."""
    from app.core.duplicates.alignment import Alignment
    scene = _moving_scene(24, 180, 320, seed=5)
    outer, inner = _pictures(scene), _pictures(_crop(scene, 0.62, 0.8, 0.15))
    same_time = Alignment(rate=1.0, offset=0.0, mirrored=False, a_start=0.0, a_end=6.0,
                          b_start=0.0, b_end=6.0, similarity=1.0, coherence=1.0, pairs=24,
                          samples=48, variation=0.1)
    view = pictures._fit_window(outer, inner, inner.whole, 0.65, same_time, outer_is_a=False)
    h, w = outer.whole.shape[1:]
    assert abs(view.shape[2] / w - 0.62) < 0.05 and abs(view.shape[1] / h - 0.62) < 0.05
    # Where it sits: the window's pixels are the crop's, frame for frame.
    small = np.stack([cv2.resize(f, (view.shape[2], view.shape[1]), interpolation=cv2.INTER_AREA)
                      for f in inner.whole])
    assert np.abs(small - view).mean() < 12
