"""Near-duplicates: alignment on synthetic vectors, and copies of generated clips found
(or not) through the real models and the whole pipeline."""

from __future__ import annotations

import dataclasses
import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.core import duplicates
from app.core.duplicates import alignment, finder
from app.core.duplicates.alignment import Track, align
from app.core.indexing import media
from app.core.vectors import interpolate, l2n

# ---- alignment on synthetic vectors (no models) ------------------------------------


def _walk(rng, n: int, dim: int = 64, scene: np.ndarray | None = None, step: float = 0.25):
    """Unit vectors wandering around a scene vector: the frames of one moment."""
    scene = rng.standard_normal(dim) if scene is None else scene
    drift = np.cumsum(rng.standard_normal((n, dim)) * step, axis=0)
    return l2n(scene * 4 + drift)


def _track(times, vecs, flip=None) -> Track:
    return Track(duration=float(times[-1]) + 0.25, times=np.asarray(times, float),
                 visual=vecs.astype(np.float32),
                 visual_flip=None if flip is None else flip.astype(np.float32))


def test_a_sped_up_trimmed_copy_aligns_with_its_speed_and_offset():
    rng = np.random.default_rng(1)
    times = np.arange(0, 12, 0.25)
    source = _walk(rng, len(times))
    original = _track(times, source)
    # The copy starts 3 s in and plays 1.25x faster, sampled at its own times.
    copy_times = np.arange(0, 5, 0.3)
    src_times = 3 + 1.25 * copy_times
    noise = rng.standard_normal((len(copy_times), source.shape[1])) * 0.01
    copy = _track(copy_times, l2n(interpolate(times, source, src_times) + noise))
    al = align(copy, original)
    assert al.rate == pytest.approx(1.25, abs=0.04)
    assert al.b_start == pytest.approx(3.0, abs=0.2)
    assert al.coherence > 0.5
    assert finder.is_copy(al, copy)


def test_a_short_agreement_at_half_speed_is_not_enough_for_a_copy():
    """The pattern of a false pair: two compilations holding different moments of one
    street lined up at half speed, over a stretch where the slower side has only eight
    frames. Its coherence clears the bar a 1x alignment would need, yet so few samples
    cannot carry the claim of a speed change: no copy, and 1x is what is judged."""
    rng = np.random.default_rng(0)
    b_times = np.arange(0, 10.8, 0.4)
    b = _track(b_times, _walk(rng, len(b_times)))
    a_times = np.arange(0, 6.7, 1 / 3)
    half = interpolate(b_times, b.visual, 0.5 * a_times + 4.2)
    a = _track(a_times, l2n(half + 0.01 * rng.standard_normal(half.shape)))
    ca, cb = alignment._compact(a, b)
    at_half = alignment._score(ca, ca.visual, cb, 0.5, 4.2, False)
    assert at_half.samples < alignment.OFF_SPEED_MIN_SAMPLES
    plain_bar = max(finder.MIN_COHERENCE, alignment.chance_coherence(at_half.samples)) \
        + finder.RATE_PENALTY
    assert at_half.coherence >= plain_bar  # what paired them before
    al = align(a, b)
    assert al is None or al.rate == 1.0
    assert not finder.is_copy(al, a)


def test_a_long_copy_at_double_speed_is_still_found():
    rng = np.random.default_rng(6)
    b_times = np.arange(0, 20, 0.4)
    b = _track(b_times, _walk(rng, len(b_times)))
    a_times = np.arange(0, 9.8, 1 / 3)  # B played twice as fast, sampled at its own times
    fast = interpolate(b_times, b.visual, 2 * a_times)
    a = _track(a_times, l2n(fast + 0.01 * rng.standard_normal(fast.shape)))
    al = align(a, b)
    assert al.rate == pytest.approx(2.0, abs=0.05)
    assert al.samples >= alignment.OFF_SPEED_MIN_SAMPLES
    assert finder.is_copy(al, a)


def test_a_short_copy_at_1x_is_not_given_another_speed():
    """On a clip of two seconds 0.9x and 1x lay nearly the same frames side by side:
    the copy keeps its true speed (and the evidence a 1x claim needs)."""
    rng = np.random.default_rng(7)
    b_times = np.arange(0, 8, 0.3)
    b = _track(b_times, _walk(rng, len(b_times), step=0.5))
    a_times = np.arange(0, 2.0, 0.25)
    same = interpolate(b_times, b.visual, a_times + 3.0)
    a = _track(a_times, l2n(same + 0.01 * rng.standard_normal(same.shape)))
    al = align(a, b)
    assert al.rate == 1.0 and al.b_start == pytest.approx(3.0, abs=0.1)
    assert finder.is_copy(al, a)


def test_another_moment_of_the_same_scene_is_alike_but_not_coherent():
    rng = np.random.default_rng(2)
    times = np.arange(0, 10, 0.4)
    scene = rng.standard_normal(64)
    one, other = _track(times, _walk(rng, len(times), scene=scene)), \
        _track(times, _walk(rng, len(times), scene=scene))
    # Frame by frame the two look alike...
    assert float(np.einsum("ij,ij->i", one.visual, other.visual).mean()) > 0.8
    al = align(one, other)
    # ...but do not change together: no hypothesis is even worth scoring in full, or
    # the best one is far from coherent.
    assert al is None or al.coherence < finder.MIN_COHERENCE
    assert not finder.is_copy(al, one)


def test_inverted_file_search_finds_what_the_exhaustive_search_finds():
    """Planted near-identical moments among many alike ones: the cell search must pair
    every copy with its original, as comparing everything with everything does."""
    from app.core.duplicates import screening
    rng = np.random.default_rng(5)
    themes = rng.standard_normal((40, 96))
    moments = themes[rng.integers(0, 40, 6000)] + 0.9 * rng.standard_normal((6000, 96))
    owners = np.arange(6000) // 10  # ten moments per file
    copies = rng.choice(6000, 200, replace=False)
    copied = moments[copies] + 0.05 * rng.standard_normal((200, 96))
    x = l2n(np.concatenate([moments, copied])).astype(np.float16)
    owners = np.concatenate([owners, 10_000 + np.arange(200)])
    found = set(map(tuple, screening._pairs_of(
        screening._inverted_file_search(x, owners, 40, 0.55)).tolist()))
    exact = set(map(tuple, screening._pairs_of(screening._pair_keys(owners, screening._nearest(
        x.astype(np.float32), x.astype(np.float32), owners, owners, 40, 0.55))).tolist()))
    planted = {(int(owners[c]), 10_000 + i) for i, c in enumerate(copies)}
    assert planted <= exact and planted <= found
    assert len(found & exact) >= 0.5 * len(exact)  # the cells keep most near pairs too


def test_a_mirrored_copy_needs_the_mirrored_frame_vectors():
    rng = np.random.default_rng(3)
    times = np.arange(0, 8, 0.3)
    frames, mirrored = _walk(rng, len(times)), _walk(rng, len(times))
    copy_with_flip = _track(times, mirrored, flip=frames)
    al = align(copy_with_flip, _track(times, frames))
    assert al.mirrored and finder.is_copy(al, copy_with_flip)
    assert not finder.is_copy(align(_track(times, mirrored), _track(times, frames)),
                                  _track(times, mirrored))


def test_gram_coordinates_keep_every_inner_product():
    m = np.random.default_rng(4).standard_normal((30, 200)).astype(np.float32)
    m[7] = m[3]  # a repeated frame: rank-deficient
    gram = m.astype(np.float64) @ m.T.astype(np.float64)
    c = alignment.gram_coordinates(gram)
    assert c.shape[1] == 29
    assert np.abs(c.astype(np.float64) @ c.T - gram).max() < 1e-3 * np.abs(gram).max()


def test_pair_gram_is_the_stacked_gram_bit_for_bit_with_each_clip_kept_once():
    """The blocks of a clip with itself are kept on its Track and reused with another
    partner; the Gram matrix put together is the one of the stacked frames, every bit
    (the coordinates, and so every score and decision, depend on it)."""
    rng = np.random.default_rng(9)

    def clip(n, flip):
        v = l2n(rng.standard_normal((n, 1280))).astype(np.float32)
        return Track(n / 4, np.arange(n) / 4, v, v[:, ::-1].copy() if flip else None)

    def stacked_gram(a, b):
        parts = [a.visual, b.visual] + ([a.visual_flip] if a.visual_flip is not None else [])
        s = np.concatenate(parts)
        return np.einsum("id,jd->ij", s, s, dtype=np.float64)

    a, b, c = clip(7, True), clip(13, False), clip(1, True)
    for x, y in [(a, b), (a, c), (c, b), (b, a), (a, b)]:
        assert np.array_equal(alignment.pair_gram(x, y), stacked_gram(x, y))
    assert set(a.own_gram) == {"visual", "flip"} and set(b.own_gram) == {"visual"}
    # The kept blocks are what is used: a changed one shows in the next pair.
    a.own_gram["visual"] = a.own_gram["visual"] + 1.0
    assert not np.array_equal(alignment.pair_gram(a, b), stacked_gram(a, b))


def test_coarse_hypotheses_of_each_orientation_do_not_depend_on_the_other():
    """Both orientations are scored in one array; each one's hypotheses are those it
    gets alone."""
    rng = np.random.default_rng(11)
    b_times = np.arange(0, 9, 0.4)
    b = _track(b_times, _walk(rng, len(b_times), step=1.0))
    a_times = np.arange(0, 4, 0.3)
    seen = l2n(interpolate(b_times, b.visual, a_times + 2.0)
               + 0.05 * rng.standard_normal((len(a_times), b.visual.shape[1])))
    a = _track(a_times, seen, flip=_walk(rng, len(a_times), step=1.0))
    both = alignment._coarse_hypotheses(a, [a.visual, a.visual_flip], b)
    alone = [alignment._coarse_hypotheses(a, [v], b)[0] for v in (a.visual, a.visual_flip)]
    assert both == alone
    assert [len(h) for h in both] == [alignment.HYPOTHESES_KEPT] * 2
    # Among the kept hypotheses of the frames as they are: the copy's speed and offset.
    assert any(r == 1.0 and o == pytest.approx(2.0) for _, r, o in both[0])


def test_voted_offsets_are_the_distinct_offsets_rate_by_rate():
    rng = np.random.default_rng(10)
    a_times = np.sort(rng.uniform(0, 6, 9))
    b_times_voted = rng.uniform(-1, 9, (9, 3))
    b_times_voted[2, 1] = 0.6 * a_times[2] - 0.001  # votes for -0.0 next to 0.0
    b_times_voted[4, 0] = 0.6 * a_times[4]
    rates = (0.6, 1.0, 1.25)
    rate, offset = alignment._voted_offsets(a_times, b_times_voted, rates)
    expected = [(r, np.unique(np.round((b_times_voted - r * a_times[:, None]).ravel()
                                       / alignment.OFFSET_STEP)) * alignment.OFFSET_STEP)
                for r in rates]
    assert rate.shape == offset.shape == (sum(len(o) for _, o in expected), 1)
    assert np.array_equal(rate[:, 0], np.concatenate([np.full(len(o), r) for r, o in expected]))
    assert offset[:, 0].tobytes() == np.concatenate([o for _, o in expected]).tobytes()


def test_letterbox_bars_are_found_despite_a_watermark():
    frames = np.zeros((4, 90, 160, 3), np.uint8)
    frames[:, :, 20:140] = np.random.default_rng(5).integers(40, 255, (4, 90, 120, 3))
    frames[:, 5:12, 2:18] = 255  # a watermark written over the left bar
    assert media.content_box(frames) == (20, 140, 0, 90)
    assert media.crop_borders(frames).shape == (4, 90, 120, 3)
    plain = np.full((2, 60, 80, 3), 120, np.uint8)
    assert media.crop_borders(plain) is plain


def _row(i, path, duration, w, h, bitrate, size=1, fingerprint="x"):
    return {"id": i, "path": path, "duration": duration, "width": w, "height": h,
            "bitrate": bitrate, "size": size, "fingerprint": fingerprint}


def test_keeper_is_the_longest_then_sharpest_then_richest():
    rows = {1: _row(1, "/a.mp4", 10.0, 640, 360, 900_000),
            2: _row(2, "/b.mp4", 10.02, 1280, 720, 500_000),
            3: _row(3, "/c.mp4", 6.0, 1920, 1080, 4_000_000),
            4: _row(4, "/d.mp4", 10.0, 1280, 720, 800_000)}
    assert duplicates.choose_keeper([1, 2, 3], rows) == 2  # same length: more pixels
    assert duplicates.choose_keeper([2, 4], rows) == 4  # same length and size: bitrate
    assert duplicates.choose_keeper([1, 3], rows) == 1  # longer beats sharper
    rows[5] = {**_row(5, "/e.mp4", 10.0, 1280, 720, 790_000), "created": "2024-03-09T10:00:00Z"}
    assert duplicates.choose_keeper([4, 5], rows) == 5  # a tie: the one with its date


def test_keeper_is_the_dated_original_over_a_richer_re_encode_of_about_its_size():
    """An old codec needs more bits for the same picture, and a brightened copy takes
    more bits than its source: the file that still has its camera's recording date is
    the source, and a re-encode is never better than its source."""
    dated = "2023-10-21T10:00:00Z"
    rows = {1: {**_row(1, "/original.mp4", 4.4, 640, 480, 422_000, size=1), "created": dated},
            2: _row(2, "/copy.avi", 4.4, 640, 480, 523_000, size=2),
            3: _row(3, "/bordered.mp4", 4.4, 640, 482, 472_000, size=3),
            4: {**_row(4, "/exported.mp4", 4.4, 640, 480, 900_000, size=4),
                "created": "2024-01-05T09:00:00Z"}}
    assert duplicates.choose_keeper([1, 2, 3, 4], rows) == 1
    assert duplicates.choose_keeper([2, 3], rows) == 2  # 640x482 is 640x480: bitrate
    group = finder._group("full", [1, 2, 3, 4], [], rows)
    reasons = {Path(f.path).name: f.reason for f in group.files}
    assert reasons["original.mp4"].startswith("same length and resolution; the original recording date")
    assert reasons["copy.avi"] == "a copy of original.mp4: without its recording date"
    assert "made later" in reasons["exported.mp4"]
    # More pixels still come first: a quarter-size copy that kept its date is not kept.
    rows[5] = {**_row(5, "/shared.mp4", 4.4, 320, 240, 200_000, size=5), "created": dated}
    assert duplicates.choose_keeper([2, 5], rows) == 2


def test_keeper_is_the_whole_landscape_picture_over_a_reframe_or_a_recording():
    """A phone's vertical reframe and a screen recording are re-encoded at a higher
    bitrate than the original, at the same length and about its pixels: the original,
    which shows the whole picture, is still the one to keep."""
    rows = {1: _row(1, "/original.mp4", 8.0, 640, 360, 900_000, size=1),
            2: _row(2, "/vertical.mp4", 8.0, 360, 640, 1_400_000, size=2),
            3: _row(3, "/screen.mkv", 8.0, 640, 360, 1_600_000, size=3)}
    assert duplicates.choose_keeper([1, 2], rows) == 1  # upright beside landscape
    assert duplicates.choose_keeper([1, 3], rows, {3}) == 1  # shows 1 inside a frame
    assert duplicates.choose_keeper([1, 3], rows) == 3  # without that, the bitrate decides
    assert duplicates.choose_keeper([1, 2, 3], rows, {3}) == 1
    # Length still comes first: a longer upright file holds footage the others lack.
    rows[4] = _row(4, "/vertical_long.mp4", 12.0, 360, 640, 800_000)
    assert duplicates.choose_keeper([1, 4], rows) == 4
    group = finder._group("full", [1, 2, 3], [
        finder._Edge(2, 1, "full", (0, 8), (0, 8), 0.9, lesser=2),
        finder._Edge(1, 3, "full", (0, 8), (0, 8), 0.9, lesser=3)], rows)
    kept = next(f for f in group.files if f.keep)
    assert kept.path == "/original.mp4" and "whole picture" in kept.reason
    assert all("less of the picture" in f.reason for f in group.files if not f.keep)


def _words(looked, lines):
    from app.core.duplicates.burned_text import Words
    return Words([(t, t) for t in looked], lines)


def test_a_subtitled_copy_is_not_kept_though_it_has_more_bits():
    """Two copies of one length and size: the one with subtitles burned in was encoded
    at a higher bitrate, and a sign in the scene is read in both; the clean one is kept,
    and the reasons say why."""
    rows = {1: _row(1, "/clip.mp4", 8.0, 640, 360, 900_000, size=1),
            2: _row(2, "/clip_subtitled.mp4", 8.0, 640, 360, 1_300_000, size=2)}
    words = {1: _words([0.0, 5.0], {0.0: ["CAFE"], 5.0: ["CAFE"]}),
             2: _words([0.0, 5.0], {0.0: ["CAFE", "Where are we going?"], 5.0: ["CAFE"]})}
    assert duplicates.choose_keeper([1, 2], rows) == 2  # by bitrate alone
    group = finder._group("full", [1, 2], [finder._Edge(1, 2, "full", (0, 8), (0, 8), 0.9)],
                          rows, words)
    kept, dropped = (next(f for f in group.files if f.keep is k) for k in (True, False))
    assert kept.path == "/clip.mp4" and "no burned-in words" in kept.reason
    assert dropped.reason == 'a copy of clip.mp4: words burned into the picture ("Where are we going?")'


def test_words_in_the_scene_or_on_both_copies_do_not_decide_the_keeper():
    from app.core.duplicates import burned_text
    rows = {1: _row(1, "/a.mp4", 8.0, 640, 360, 900_000, size=1),
            2: _row(2, "/b.mp4", 8.0, 640, 360, 1_300_000, size=2)}
    edge = [finder._Edge(1, 2, "full", (0, 8), (0, 8), 0.9)]
    # The same sign read a little differently in two encodings: the same words.
    words = {1: _words([0.0], {0.0: ["Qmusie51"]}), 2: _words([0.0], {0.0: ["Omusies1"]})}
    assert finder._burned_in([1, 2], edge, rows, words) == {}
    # Different text on each (a logo on one, subtitles on the other): neither is clean.
    words = {1: _words([0.0], {0.0: ["@news11"]}), 2: _words([0.0], {0.0: ["Where to now?"]})}
    assert finder._burned_in([1, 2], edge, rows, words) == {}
    # Words where the other copy was never looked at say nothing.
    words = {1: _words([0.0], {}), 2: _words([0.0, 5.0], {5.0: ["Where to now?"]})}
    assert finder._burned_in([1, 2], edge, rows, words) == {}
    # The match aligns the moments: b's subtitle at 5 s is a's 3 s, where a shows nothing.
    shifted = [finder._Edge(1, 2, "full", (0, 6), (2, 8), 0.9)]
    words = {1: _words([0.0, 3.0], {}), 2: _words([0.0, 5.0], {5.0: ["Where to now?"]})}
    assert finder._burned_in([1, 2], shifted, rows, words) == {2: "Where to now?"}
    # A copy too blurred or small to read the scene's sign cannot vouch it is burned in:
    # the sharp original is not taken for a subtitled copy.
    rows[3] = _row(3, "/blurred.mp4", 8.0, 640, 360, 90_000, size=3)
    rows[4] = _row(4, "/small.mp4", 8.0, 320, 180, 900_000, size=4)
    words = {1: _words([0.0], {0.0: ["CAFE"]}), 3: _words([0.0], {}), 4: _words([0.0], {})}
    assert finder._burned_in([1, 3, 4], [], rows, words) == {}
    assert burned_text.could_show(rows[1], rows[2]) and not burned_text.could_show(rows[1], rows[3])


def test_which_file_holds_less_of_the_picture_follows_the_views_that_met():
    from app.core.duplicates import pictures
    # x's middle slice is y's whole: y is the reframe.
    assert finder._lesser(1, 2, (pictures.SLICE, pictures.WHOLE, 0)) == 2
    # x's inner picture is y's whole: x is the recording.
    assert finder._lesser(1, 2, (pictures.REGION, pictures.WHOLE, 0)) == 1
    assert finder._lesser(1, 2, (pictures.WHOLE, pictures.REGION, 0)) == 2
    assert finder._lesser(1, 2, (pictures.WHOLE, pictures.WHOLE, 2)) is None


# ---- generated clips through the real models ---------------------------------------

FPS = 25
SIZE = (320, 240)


def _scene_frames(picture: np.ndarray, seconds: float, seed: int,
                  size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """A hand-held look around a picture, with two objects crossing it: the camera path
    and the objects' courses depend on ``seed``, so two seeds are two moments of one
    scene (same place, same look, other timing)."""
    rng = np.random.default_rng(seed)
    h, w = picture.shape[:2]
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    path = []
    for _ in range(3):  # x, y, zoom: sums of slow sines with seeded phases
        freqs, phases = rng.uniform(0.05, 0.35, 3), rng.uniform(0, 2 * np.pi, 3)
        path.append(sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phases, strict=True)) / 3)
    movers = [(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(-60, 60), rng.uniform(-40, 40),
               tuple(int(c) for c in rng.integers(0, 255, 3))) for _ in range(2)]
    frames = []
    for i in range(n):
        img = picture.copy()
        for x, y, vx, vy, color in movers:
            cx, cy = int((x + vx * t[i]) % w), int((y + vy * t[i]) % h)
            cv2.circle(img, (cx, cy), max(6, w // 14), color, -1)
        zoom = 0.7 + 0.12 * path[2][i]
        cw, ch = int(w * zoom), int(h * zoom)
        x0 = int((w - cw) * (0.5 + 0.5 * path[0][i]))
        y0 = int((h - ch) * (0.5 + 0.5 * path[1][i]))
        crop = np.ascontiguousarray(img[y0:y0 + ch, x0:x0 + cw])
        frames.append(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
    return frames


def _sound(seconds: float, seed: int, rate: int = 48000) -> np.ndarray:
    """Noise with a seeded rhythm of swells: a copy keeps it, another moment does not."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    envelope = np.interp(np.arange(n), np.linspace(0, n, int(seconds * 4) + 2),
                         rng.uniform(0.05, 1.0, int(seconds * 4) + 2))
    return (0.3 * envelope * rng.standard_normal(n)).astype(np.float32)


def _write(path: Path, frames: list[np.ndarray], audio: np.ndarray | None = None,
           fps: float = FPS, size: tuple[int, int] | None = None, crf: int = 23) -> Path:
    size = size or (frames[0].shape[1], frames[0].shape[0])
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        v.options = {"preset": "ultrafast", "crf": str(crf)}
        a = None
        if audio is not None:
            a = out.add_stream("aac", rate=48000)
            a.layout = "mono"
        for i, img in enumerate(frames):
            if (img.shape[1], img.shape[0]) != size:
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts, frame.time_base = i, 1 / Fraction(fps).limit_denominator(1000)
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
        if a is not None:
            for start in range(0, len(audio), 1024):
                af = av.AudioFrame.from_ndarray(audio[start:start + 1024].reshape(1, -1),
                                                format="flt", layout="mono")
                af.sample_rate, af.pts, af.time_base = 48000, start, Fraction(1, 48000)
                for packet in a.encode(af):
                    out.mux(packet)
            for packet in a.encode():
                out.mux(packet)
    return path


@pytest.fixture(scope="module")
def copies(tmp_path_factory, real_indexer):
    """An original with copies of many kinds, another moment of its scene, and a file
    that joins another scene to the original; scanned, and duplicates found once."""
    from skimage import data

    from app.core.library.scanner import Scanner
    from app.store.library import Library

    folder = tmp_path_factory.mktemp("dups")
    seconds = 6.0
    picture = data.astronaut()
    original = _scene_frames(picture, seconds, seed=1, size=(480, 360))
    sound = _sound(seconds, seed=1)
    rate = 48000
    _write(folder / "original.mp4", original, sound)
    (folder / "backup").mkdir()
    shutil.copy(folder / "original.mp4", folder / "backup" / "original.mp4")
    _write(folder / "small.mkv", original, sound, size=(160, 120))
    _write(folder / "trimmed.mp4", original[FPS:5 * FPS], sound[rate:5 * rate])
    _write(folder / "mirrored.mp4", [f[:, ::-1] for f in original], sound, size=(320, 240))
    fast = [original[int(i * 1.25)] for i in range(int(len(original) / 1.25))]
    _write(folder / "fast.mp4", fast, sound[(np.arange(int(len(sound) / 1.25)) * 1.25).astype(int)])
    other = _scene_frames(data.coffee(), 4.0, seed=7, size=(480, 360))
    _write(folder / "joined.mp4", other + original, np.concatenate([_sound(4.0, seed=7), sound]))
    # Another moment of the same scene: same picture, another camera path, zoom and
    # passers-by, another stretch of the same kind of sound.
    _write(folder / "later.mp4", _scene_frames(picture, seconds, seed=2, size=(480, 360)),
           _sound(seconds, seed=2))
    lib = Library(tmp_path_factory.mktemp("dups_lib") / "library.sqlite")
    report = Scanner(lib, indexer=real_indexer).scan([str(folder)])
    assert not report.failed, report.failed
    groups = duplicates.find_duplicates(lib)
    yield folder, lib, groups
    lib.close()


def _by_name(folder: Path, group, name: str):
    return next(f for f in group.files if f.path == str(folder / name))


def _match(group, a: str, b: str):
    """The match of files named ``a`` and ``b``, told from ``a``'s side. Copies of one
    length may be reported either way round (by the order the scan gave them ids)."""
    for m in group.matches:
        if (Path(m.a).name, Path(m.b).name) == (a, b):
            return m
        if (Path(m.b).name, Path(m.a).name) == (a, b):
            return dataclasses.replace(m, a=m.b, b=m.a, a_start=m.b_start, a_end=m.b_end,
                                       b_start=m.a_start, b_end=m.a_end)
    raise AssertionError(f"no match of {a} and {b}: {group.matches}")


@pytest.mark.models
def test_copies_of_every_kind_form_one_full_group(copies):
    folder, _, groups = copies
    full = [g for g in groups if g.kind == "full"]
    assert len(full) == 1, [[f.path for f in g.files] for g in full]
    assert {f.path for f in full[0].files} == {str(folder / n) for n in (
        "original.mp4", "backup/original.mp4", "small.mkv", "trimmed.mp4", "mirrored.mp4",
        "fast.mp4")}


@pytest.mark.models
def test_another_moment_of_the_same_scene_is_in_no_group(copies):
    folder, _, groups = copies
    assert all(str(folder / "later.mp4") not in {f.path for f in g.files} for g in groups)


@pytest.mark.models
def test_matches_report_where_the_copies_sit(copies):
    _, _, groups = copies
    full = next(g for g in groups if g.kind == "full")
    trimmed = _match(full, "trimmed.mp4", "original.mp4")
    assert (trimmed.a_start, trimmed.a_end) == pytest.approx((0.0, 4.0), abs=0.4)
    assert (trimmed.b_start, trimmed.b_end) == pytest.approx((1.0, 5.0), abs=0.4)
    fast = _match(full, "fast.mp4", "original.mp4")
    assert (fast.b_start, fast.b_end) == pytest.approx((0.0, 6.0), abs=0.4)
    assert fast.a_end == pytest.approx(4.8, abs=0.4)
    mirrored = _match(full, "mirrored.mp4", "original.mp4")
    assert mirrored.similarity > 0.9


@pytest.mark.models
def test_a_clip_inside_a_longer_file_is_a_partial_group_of_its_own(copies):
    folder, _, groups = copies
    partial = [g for g in groups if g.kind == "partial"]
    assert len(partial) == 1
    group = partial[0]
    assert str(folder / "joined.mp4") in {f.path for f in group.files}
    assert str(folder / "original.mp4") in {f.path for f in group.files}
    assert str(folder / "later.mp4") not in {f.path for f in group.files}
    inside = _match(group, "original.mp4", "joined.mp4")
    assert (inside.b_start, inside.b_end) == pytest.approx((4.0, 10.0), abs=0.4)
    keeper = next(f for f in group.files if f.keep)
    assert keeper.path == str(folder / "joined.mp4")
    assert "contained in joined.mp4" in _by_name(folder, group, "original.mp4").reason


@pytest.mark.models
def test_the_copy_to_keep_is_the_longest_then_the_sharpest(copies):
    folder, _, groups = copies
    full = next(g for g in groups if g.kind == "full")
    keepers = [f for f in full.files if f.keep]
    assert len(keepers) == 1
    # The original and its byte copy tie on everything: the first by name is kept.
    assert keepers[0].path == str(folder / "backup" / "original.mp4")
    assert "identical bytes" in _by_name(folder, full, "original.mp4").reason
    assert "shorter" in _by_name(folder, full, "trimmed.mp4").reason
    assert "lower resolution" in _by_name(folder, full, "small.mkv").reason
    assert "mirrored" in _by_name(folder, full, "mirrored.mp4").reason


@pytest.mark.models
def test_cli_prints_the_json_contract(copies, capsys):
    from app.cli import main
    _, lib, groups = copies
    assert main(["--library", str(lib.path), "duplicates", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"groups"} and len(out["groups"]) == len(groups)
    for g in out["groups"]:
        assert set(g) == {"files", "kind", "matches"} and g["kind"] in ("full", "partial")
        assert sum(f["keep"] for f in g["files"]) == 1
        assert all(set(f) == {"path", "keep", "reason"} and f["reason"] for f in g["files"])
        assert all(set(m) == {"a", "b", "a_start", "a_end", "b_start", "b_end", "similarity"}
                   for m in g["matches"])


@pytest.fixture(scope="module")
def subtitled(tmp_path_factory, real_indexer):
    """A clip with a sign in the scene, and a copy of it with subtitles burned in,
    encoded at a higher bitrate; scanned (words on screen read), duplicates found."""
    from skimage import data

    from app.core.library.scanner import Scanner
    from app.store.library import Library

    folder = tmp_path_factory.mktemp("subtitled")
    picture = data.astronaut().copy()
    cv2.rectangle(picture, (150, 180), (380, 290), (250, 210, 20), -1)
    cv2.putText(picture, "CAFE", (170, 265), cv2.FONT_HERSHEY_DUPLEX, 2.6, (20, 20, 20), 6,
                cv2.LINE_AA)
    seconds = 6.0
    frames = _scene_frames(picture, seconds, seed=3, size=(480, 360))
    sound = _sound(seconds, seed=3)
    with_subtitles = []
    for i, frame in enumerate(frames):
        frame = frame.copy()
        text = "Where are we going now?" if i < len(frames) // 2 else "Look at that over there!"
        (width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
        for colour, thickness in (((0, 0, 0), 6), ((255, 255, 255), 2)):
            cv2.putText(frame, text, ((480 - width) // 2, 335), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                        colour, thickness, cv2.LINE_AA)
        with_subtitles.append(frame)
    _write(folder / "clip.mp4", frames, sound, crf=26)
    _write(folder / "clip_subtitled.mp4", with_subtitles, sound, crf=18)
    lib = Library(tmp_path_factory.mktemp("subtitled_lib") / "library.sqlite")
    report = Scanner(lib, indexer=real_indexer).scan([str(folder)])
    assert not report.failed, report.failed
    yield folder, lib, duplicates.find_duplicates(lib)
    lib.close()


@pytest.mark.models
def test_the_clean_copy_is_kept_over_one_with_burned_in_subtitles(subtitled):
    from app.store import analysis

    folder, lib, groups = subtitled
    ids = {Path(p).name: i for i, p in lib.conn.execute("SELECT id, path FROM files")}
    bitrate = dict(lib.conn.execute("SELECT id, bitrate FROM files"))
    assert bitrate[ids["clip_subtitled.mp4"]] > 1.05 * bitrate[ids["clip.mp4"]]
    read = analysis.screen_text(lib, ids.values())
    sign = [any("CAFE" in line for line in lines) for lines in read[ids["clip.mp4"]]["lines"].values()]
    assert sign and all(sign)  # the scene's own words, read in the clean copy too
    assert len(groups) == 1 and groups[0].kind == "full"
    kept = next(f for f in groups[0].files if f.keep)
    assert kept.path == str(folder / "clip.mp4") and "no burned-in words" in kept.reason
    dropped = next(f for f in groups[0].files if not f.keep)
    assert "words burned into the picture" in dropped.reason
