"""Shots, fusion and thumbnails, on synthetic vectors and on generated clips."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.indexing import indexer, shots
from app.inference import specs
from tests.media_factory import make_clip


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_shots_split_at_a_visual_change():
    rng = np.random.default_rng(0)
    a, b = _unit(rng.random(64)), _unit(rng.random(64) - 0.5)
    vecs = np.stack([a] * 6 + [b] * 6)
    times = np.arange(12) * 0.5
    result = shots.split(times, vecs, duration=6.0)
    assert [(s, e) for s, e, _, _ in result] == [(0.0, 2.75), (2.75, 6.0)]


def test_long_take_is_split_into_findable_moments():
    times = np.arange(60) * 1.0
    vecs = np.tile(_unit(np.ones(8)), (60, 1))
    result = shots.split(times, vecs, duration=60.0)
    assert len(result) == 3 and result[0][0] == 0.0 and result[-1][1] == 60.0
    assert all(e - s <= shots.MAX_SHOT + 1 for s, e, _, _ in result)


def test_fuse_is_unit_length_with_and_without_audio():
    v, a = np.ones(specs.VISUAL_DIM), np.ones(specs.AUDIO_DIM)
    for fused in (indexer.fuse(v, a), indexer.fuse(v, None)):
        assert fused.shape == (specs.FUSED_DIM,)
        assert np.linalg.norm(fused) == pytest.approx(1.0, abs=1e-5)
    assert np.all(indexer.fuse(v, None)[specs.VISUAL_DIM:] == 0)


def test_thumbs_are_jpegs_with_strip_times():
    frames = np.random.default_rng(0).integers(0, 255, (10, 48, 64, 3), dtype=np.uint8)
    poster, strip, times = indexer.render_thumbs(np.arange(10.0), frames)
    assert poster[:2] == strip[:2] == b"\xff\xd8"
    assert times == [0.0, 1.0, 3.0, 4.0, 5.0, 6.0, 8.0, 9.0] or len(times) == indexer.STRIP_FRAMES


@pytest.mark.models
def test_two_scene_clip_gets_two_segments(tmp_path, real_indexer):
    from skimage import data
    path = make_clip(tmp_path / "cut.mp4", seconds=8, width=224, height=224, audio="tone",
                     scenes=[data.chelsea(), data.coffee()])
    clip = real_indexer.index(indexer.prepare_clip(str(path)))
    bounds = [(s.start, s.end) for s in clip.segments]
    assert len(bounds) == 2, bounds
    assert abs(bounds[0][1] - 4.0) < 0.6
    assert clip.frame_visual.shape[0] == len(clip.frame_times)
    assert np.linalg.norm(clip.fused) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.models
def test_every_other_frame_is_mirrored_through_the_network(real_indexer, monkeypatch):
    """Mirrored vectors: computed for every MIRROR_EVERY-th frame and the last, blended
    in between; every frame still gets its own plain vector."""
    from skimage import data
    picture = np.ascontiguousarray(data.astronaut()[:, :, :3])
    n = 9
    frames = np.stack([np.ascontiguousarray(picture[8 * i:8 * i + 224, 12 * i:12 * i + 224])
                       for i in range(n)])
    times = np.arange(n) * 0.5
    seen = []
    run = real_indexer.visual.run
    monkeypatch.setattr(real_indexer.visual, "run", lambda images: seen.append(len(images))
                        or run(images))
    vecs, flips, probs = real_indexer._run_visual(frames, times)
    mirrored = sorted({*range(0, n, indexer.MIRROR_EVERY), n - 1})
    assert sum(seen) == n + len(mirrored) < 2 * n
    assert vecs.shape == flips.shape == (n, specs.VISUAL_DIM) and len(probs) == n
    np.testing.assert_allclose(np.linalg.norm(flips, axis=1), 1.0, atol=1e-4)
    exact, _ = run(np.ascontiguousarray(frames[:, :, ::-1]))
    exact = _unit(exact)
    cos = np.einsum("ij,ij->i", flips, exact)
    assert cos[mirrored].min() > 0.9999  # computed, not estimated
    assert cos.min() > 0.9  # the blended ones stay near the truth on a slow pan
    for i in sorted(set(range(n)) - set(mirrored)):  # halfway between two mirrored frames
        np.testing.assert_allclose(flips[i], _unit(flips[i - 1] + flips[i + 1]), atol=1e-5)


def _same_index(a, b) -> None:
    for name in ("fused", "visual", "audio", "visual_probs", "audio_scores", "frame_times",
                 "frame_visual", "frame_visual_flip", "audio_times", "audio_vectors"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.labels == b.labels
    assert [(s.start, s.end, s.labels) for s in a.segments] == \
        [(s.start, s.end, s.labels) for s in b.segments]
    for s, t in zip(a.segments, b.segments, strict=True):
        np.testing.assert_array_equal(s.fused, t.fused)


@pytest.mark.models
def test_windows_give_the_index_of_one_pass(tmp_path, real_indexer):
    """A clip decoded and run through the networks 3 frames at a time gets the index a
    one-pass run gives, value for value (the networks see the same batches)."""
    from skimage import data
    path = make_clip(tmp_path / "w.mp4", seconds=30, width=224, height=160, audio="tone",
                     gop=40, scenes=[data.chelsea(), data.coffee(), data.astronaut()])
    one_pass = real_indexer.index(indexer.prepare_clip(str(path)))
    windows, summary = indexer.drain(indexer.prepare_windows(str(path), window_frames=3,
                                                             hold_frames=0))
    assert len(windows) > 5 and summary.stats["windowed"]
    builder = real_indexer.builder()
    for window in windows:
        builder.add(window)
    windowed = builder.finish(summary)
    _same_index(one_pass, windowed)
    assert len(windowed.segments) >= 3
    # Thumbnails of a windowed file are chosen by time: the same kind of pictures.
    assert windowed.poster[:2] == windowed.strip[:2] == b"\xff\xd8"
    assert len(windowed.strip_times) == indexer.STRIP_FRAMES
    assert windowed.strip_times[0] == 0.0 and windowed.strip_times[-1] == one_pass.strip_times[-1]


def record_analysis_frames(times, frames):
    """An analysis hook (module level: the decode workers import it by name)."""
    return [{"t": float(t), "shape": f.shape, "dtype": str(f.dtype), "mean": float(f.mean())}
            for t, f in zip(times, frames, strict=True)]


@pytest.mark.models
def test_the_analysis_hook_sees_hi_res_frames_and_its_result_reaches_the_index(
        tmp_path, library, real_indexer, monkeypatch):
    from app.core.library.scanner import Scanner
    folder = tmp_path / "videos"
    folder.mkdir()
    make_clip(folder / "hd.mp4", seconds=12, fps=10, width=1280, height=720, audio="tone",
              pattern="moving")
    monkeypatch.setattr(indexer, "ANALYSE", "tests.test_indexer:record_analysis_frames")
    saved = []
    save = library.save_index
    monkeypatch.setattr(library, "save_index", lambda stat, root, clip, version:
                        saved.append(clip) or save(stat, root, clip, version))
    report = Scanner(library, indexer=real_indexer, workers=1).scan([str(folder)])
    assert report.indexed and not report.failed
    (clip,) = saved
    assert [round(a["t"], 2) for a in clip.analysis] == [0.0, 5.0, 10.0]
    assert all(a["shape"] == (540, 960, 3) and a["dtype"] == "uint8" for a in clip.analysis)
    assert all(a["mean"] > 0 for a in clip.analysis)  # pictures, not blank buffers
    assert report.stages["analysis_s"] > 0
    # Each worker stage also reports its CPU seconds (what compares runs on a busy machine).
    assert report.stages["decode_cpu_s"] > 0 and report.stages["analysis_cpu_s"] > 0
    assert "prepare_cpu_s" in report.stages


def test_window_results_are_joined_per_file():
    assert indexer.join_analysis([None, None]) is None
    assert indexer.join_analysis([[1], None, [2, 3]]) == [1, 2, 3]
    joined = indexer.join_analysis([{"faces": [1], "n": np.ones(2)}, {"faces": [2], "n": np.ones(1)}])
    assert joined["faces"] == [1, 2] and len(joined["n"]) == 3


def failing_detector(times, frames):
    if times[0] > 4:
        raise RuntimeError("detector broke")
    return [len(frames)]


def test_a_failing_hook_costs_the_analysis_not_the_file(tmp_path, monkeypatch):
    from app.core.indexing import media
    monkeypatch.setattr(media, "ANALYSIS_BATCH", 1)  # a call per analysis frame
    path = make_clip(tmp_path / "a.mp4", seconds=12, fps=10, width=320, height=240)
    prepared = indexer.prepare_clip(str(path), analyse=failing_detector)
    assert len(prepared.times) > 6 and prepared.model_frames.shape[1:] == (224, 224, 3)
    assert prepared.analysis is None  # not the first windows' part of it
    assert "detector broke" in prepared.stats["analysis_error"]
