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
