"""Decoding: the sampling plan, metadata, rotation, audio, and files that must be refused."""

from __future__ import annotations

import os
import socket
import threading

import cv2
import numpy as np
import pytest

from app.core.indexing import media
from app.inference import AUDIO_RATE
from tests.media_factory import make_audio_only, make_clip


def test_plan_keeps_spaced_keyframes_and_fills_long_gops():
    kept, targets, spans = media.plan_samples([0.0, 0.1, 0.2, 1.0, 9.0], duration=12.0,
                                              step=0.5, max_gap=2.0)
    assert kept == [0, 3, 4]  # 0.1 and 0.2 are too close to 0.0
    samples = sorted([0.0, 1.0, 9.0, *targets, 12.0])
    assert max(np.diff(samples)) <= 2.0  # no gap over max_gap, the tail included
    assert set(spans) == {3, 4}  # fills start from the keyframes that open long gaps
    assert spans[3] < 9.0 and spans[4] < 12.0


def test_plan_without_long_gaps_needs_no_fill():
    kept, targets, spans = media.plan_samples([0.0, 1.0, 2.0, 3.0], duration=3.5,
                                              step=1.0, max_gap=2.0)
    assert kept == [0, 1, 2, 3] and targets == [] and spans == {}


def test_decode_reads_metadata_frames_and_audio(tmp_path):
    path = make_clip(tmp_path / "a.mp4", seconds=3, width=160, height=120, audio="tone",
                     creation_time="2024-03-09T10:00:00Z")
    clip = media.decode(path)
    info = clip.info
    assert abs(info.duration - 3.0) < 0.1
    assert (info.width, info.height) == (160, 120)
    assert info.fps == pytest.approx(25, abs=0.5)
    assert info.video_codec == "h264" and info.audio_codec == "aac" and info.has_audio
    assert info.created == "2024-03-09T10:00:00Z"
    assert clip.frames.dtype == np.uint8 and clip.frames.shape[1:] == (120, 160, 3)
    assert len(clip.times) == len(clip.frames) >= 6
    assert clip.audio is not None and abs(len(clip.audio) / AUDIO_RATE - 3.0) < 0.15


def test_soundtrack_resampled_in_pieces_is_the_frame_by_frame_resample(tmp_path):
    """The soundtrack is resampled about a second of source at a time: the same samples
    as resampling each decoded frame on its own, to the last one."""
    import av

    path = make_clip(tmp_path / "s.mp4", seconds=3.5, width=64, height=48, audio="tone",
                     tone_hz=440.0)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    pieces = []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.audio[0]):
            pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    expected = np.concatenate(pieces)
    assert len(expected) > 3 * AUDIO_RATE * media.RESAMPLE_SECONDS  # several pieces
    np.testing.assert_array_equal(media.decode(path).audio, expected)


def test_single_keyframe_file_is_sampled_densely(tmp_path):
    path = make_clip(tmp_path / "gop.mp4", seconds=12, gop=1000, pattern="moving", audio=None)
    clip = media.decode(path)
    assert clip.stats["keyframes"] == 1
    gaps = np.diff([0.0, *clip.times, clip.info.duration])
    assert gaps.max() <= 2 * media.sample_step(clip.info.duration) + 0.1
    assert clip.audio is None and not clip.info.has_audio


def test_big_frames_are_downscaled_in_the_decoder(tmp_path):
    path = make_clip(tmp_path / "big.mp4", seconds=1, width=1280, height=720, audio=None)
    clip = media.decode(path)
    assert max(clip.frames.shape[1:3]) == media.WORK_SIZE
    assert (clip.info.width, clip.info.height) == (1280, 720)


def test_rotation_is_honoured(tmp_path):
    path = make_clip(tmp_path / "rot.mp4", seconds=1, width=160, height=120, rotate=90, audio=None)
    clip = media.decode(path)
    assert clip.info.rotation == 90
    assert (clip.info.width, clip.info.height) == (120, 160)
    assert clip.frames.shape[1:3] == (160, 120)  # portrait, as displayed


def test_webm_decodes(tmp_path):
    clip = media.decode(make_clip(tmp_path / "a.webm", seconds=2))
    assert clip.info.video_codec == "vp9" and len(clip.frames) > 2


@pytest.mark.parametrize("content", [b"", b"hello, this is a text file\n", bytes(range(256)) * 400])
def test_non_video_bytes_fail_with_a_reason(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(media.MediaError) as err:
        media.decode(path)
    assert not err.value.skip and err.value.reason


def test_truncated_file_fails(tmp_path):
    good = make_clip(tmp_path / "good.mp4", seconds=4, audio=None)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(media.MediaError):
        media.decode(cut)


def test_audio_only_file_is_skipped_not_failed(tmp_path):
    with pytest.raises(media.MediaError) as err:
        media.decode(make_audio_only(tmp_path / "song.m4a"))
    assert err.value.skip and "audio only" in err.value.reason


def test_network_references_are_refused(tmp_path, monkeypatch):
    # A local listener stands in for the server: it records and drops any connection
    # FFmpeg makes, so a regression fails here instead of hanging.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    connections, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                fd, addr = server._accept()  # the raw call: socket.socket is patched below
            except (TimeoutError, OSError):
                continue
            connections.append(addr)
            os.close(fd)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    playlist = tmp_path / "list.ffconcat"
    playlist.write_text(f"ffconcat version 1.0\nfile {url}/clip.mp4\n")
    m3u = tmp_path / "list.m3u8"
    m3u.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{url}/seg.ts\n"
                   "#EXT-X-ENDLIST\n")
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access is forbidden in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    try:
        # The URL itself is what protocol_whitelist=file stops: without it FFmpeg connects.
        for path in (playlist, m3u, f"{url}/direct.mp4"):
            with pytest.raises(media.MediaError):
                media.decode(path)
    finally:
        monkeypatch.undo()
        stop.set()
        thread.join()
        server.close()
    assert connections == [] and attempts == []


def test_frames_from_the_decoders_final_flush_are_kept(tmp_path):
    """Threaded decoders hand out the last keyframes only when flushed (PyAV gives them
    no frame.time): the tail of the file must still be sampled."""
    path = make_clip(tmp_path / "gop2.mp4", seconds=30, gop=50, pattern="moving", audio=None)
    clip = media.decode(path)
    assert clip.stats["fills"] == 0  # keyframes alone are dense enough: the NONKEY path
    assert clip.times[-1] >= clip.info.duration - 2.5
    assert np.all(np.isfinite(clip.times))


def test_plan_ends_each_fill_as_early_as_the_max_gap_allows():
    # An 8 s GOP in a long clip: decoding stops at the fill max_gap before the next
    # keyframe, and the frames passed on the way are sampled every step.
    kept, targets, spans = media.plan_samples([0.0, 8.0], duration=16.0, step=2.0, max_gap=5.0)
    assert kept == [0, 1]
    assert targets == pytest.approx([1.5, 3.0, 9.5, 11.0])
    assert spans == pytest.approx({0: 3.0, 1: 11.0})
    samples = sorted([0.0, 8.0, *targets, 16.0])
    assert max(np.diff(samples)) <= 5.0 + 1e-9
    # A shorter tail keeps the fills going nearer the gap's end (denser, decodes more).
    _, dense, spans = media.plan_samples([0.0], duration=8.0, step=2.0, max_gap=5.0, tail_gap=2.0)
    assert dense == pytest.approx([2.0, 4.0, 6.0]) and spans == pytest.approx({0: 6.0})


def test_max_gap_grows_with_the_clip_up_to_a_bound():
    assert media.default_max_gap(3.0) == 0.5
    assert media.default_max_gap(24.0) == pytest.approx(2 * media.sample_step(24.0))
    assert media.default_max_gap(48.0) == pytest.approx(4.0)
    assert media.default_max_gap(600.0) == media.MAX_GAP


def test_long_gop_decodes_only_up_to_its_last_fill(tmp_path):
    """A long clip with 10 s GOPs: no gap over the max gap, yet about half of each GOP
    is never decoded (the decoder stops at the last fill, max_gap before the next
    keyframe)."""
    fps, seconds = 25, 60
    path = make_clip(tmp_path / "long.mp4", seconds=seconds, fps=fps, gop=10 * fps,
                     pattern="moving", audio=None)
    clip = media.decode(path)
    max_gap = media.default_max_gap(clip.info.duration)
    gaps = np.diff([0.0, *clip.times, clip.info.duration])
    assert gaps.max() <= max_gap + 2.0 / fps
    assert clip.stats["keyframes"] == 6
    assert clip.stats["decoded_frames"] < 0.6 * seconds * fps
    # A single-threaded decoder samples the same frames.
    single = media.decode(path, threads=1)
    np.testing.assert_allclose(single.times, clip.times)
    np.testing.assert_array_equal(single.frames, clip.frames)


def test_fill_frames_skip_the_loop_filter_and_keyframes_keep_it(tmp_path):
    """Frames reached through a fill span are decoded without the deblocking filter
    (media.FILL_DECODER_OPTIONS); keyframes with it. Against a plain decode of every
    frame: the keyframe samples are the same pixels, the fill samples differ a little."""
    import av
    from av.video.reformatter import VideoReformatter

    fps = 25
    rng = np.random.default_rng(1)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8), (0, 0), 2)
    path = make_clip(tmp_path / "gop8.mp4", seconds=24, fps=fps, gop=8 * fps, width=640,
                     height=360, audio=None, scenes=[texture], preset="veryfast")
    clip = media.decode(path, threads=1)
    assert clip.stats["fills"] > 0
    plain: dict[float, tuple[bool, np.ndarray]] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        scaler = VideoReformatter()
        for frame in container.decode(stream):
            plain[round(float(frame.pts * stream.time_base), 2)] = (
                frame.key_frame, media._to_work_rgb(frame, 0, scaler))
    keyframe_diffs, fill_diffs = [], []
    for t, got in zip(clip.times, clip.frames, strict=True):
        key, want = plain[round(float(t), 2)]
        diff = float(np.abs(got.astype(np.int16) - want).mean())
        (keyframe_diffs if key else fill_diffs).append(diff)
    assert len(keyframe_diffs) == 3 and max(keyframe_diffs) == 0.0
    assert fill_diffs and 0.0 < max(fill_diffs) < 4.0


def test_windows_hand_on_the_frames_and_sound_of_one_pass(tmp_path):
    path = make_clip(tmp_path / "w.mp4", seconds=12, gop=50, pattern="moving", audio="tone")
    whole = media.decode(path)
    windows = list(media.stream(path, window_frames=5, hold_frames=0))
    assert len(windows) > 3 and windows[-1].final and not windows[-1].whole_file
    assert all(w.box == (0, 160, 0, 120) for w in windows)  # no bars in any keyframe
    framed = [w for w in windows if w.frames is not None]
    assert all(len(w.frames) <= 5 for w in framed[:-1])
    np.testing.assert_array_equal(np.concatenate([w.times for w in framed]), whole.times)
    np.testing.assert_array_equal(np.concatenate([w.frames for w in framed]), whole.frames)
    sound = np.concatenate([w.audio for w in windows if w.audio is not None])
    np.testing.assert_array_equal(sound, whole.audio)
    # A short file is held and handed on whole, as one pass decodes it.
    held = list(media.stream(path))
    assert held[-1].whole_file and all(w.frames is None for w in held[:-1])


def test_the_box_of_a_windowed_file_comes_from_keyframes_across_it(tmp_path):
    """Letterboxed all along: the keyframes the windowed decode looks at beforehand find
    the same bars as all of the frames do."""
    path = make_clip(tmp_path / "bars.mp4", seconds=8, width=320, height=240, audio=None,
                     pattern="moving")
    import av
    boxed = tmp_path / "boxed.mp4"
    with av.open(str(path)) as src, av.open(str(boxed), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 320, 240, "yuv420p"
        v.options = {"preset": "ultrafast", "keyint": "25"}
        for frame in src.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            rgb[:40] = rgb[-40:] = 0
            new = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            new.pts, new.time_base = frame.pts, frame.time_base
            for packet in v.encode(new):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    windows = list(media.stream(boxed, window_frames=4, hold_frames=0))
    whole = media.decode(boxed)
    assert windows[0].box == media.content_box(whole.frames)
    assert windows[0].box[2:] == (40, 200)


def test_analysis_frames_are_sparse_hi_res_and_upright(tmp_path):
    path = make_clip(tmp_path / "hd.mp4", seconds=21, fps=10, width=1280, height=720,
                     rotate=90, pattern="moving", audio=None)
    windows = list(media.stream(path, analysis=True))
    times = np.concatenate([w.analysis_times for w in windows])
    frames = [f for w in windows for f in w.analysis_frames]
    sampled = np.concatenate([w.times for w in windows if w.frames is not None])
    assert times[0] == sampled[0]  # the first sampled frame, then about one per step
    assert np.all(np.isin(times, sampled))
    assert np.diff(times).min() >= media.ANALYSIS_STEP - 1e-6
    assert np.diff(times).max() <= media.ANALYSIS_STEP + 2 * media.sample_step(21)
    assert len(frames) == len(times) == 5
    assert all(f.shape == (960, 540, 3) and f.dtype == np.uint8 for f in frames)  # portrait
    assert all(len(w.analysis_frames) <= media.ANALYSIS_BATCH for w in windows)
    # Without a hook nothing is converted.
    assert not any(w.analysis_frames for w in media.stream(path))


def test_long_files_get_fewer_analysis_frames_per_minute():
    assert media.analysis_step(60.0) == media.ANALYSIS_STEP <= 6.0
    assert media.analysis_step(media.ANALYSIS_DENSE_UNTIL + 1) == media.ANALYSIS_SPARSE_STEP >= 10


def test_a_border_frame_is_its_keyframe_decoded_alone(tmp_path):
    """After a seek, the border box's keyframe comes out of the decoder on its own, not
    pushed out by the next keyframes (a B-frame pyramid holds frames back), and it is the
    picture a plain decode gives; the decoder is ready for the next seek."""
    import av
    from av.video.reformatter import VideoReformatter
    path = make_clip(tmp_path / "pyramid.mp4", seconds=6, gop=25, pattern="moving",
                     audio=None, preset="veryfast")  # veryfast: 3 B-frames, in a pyramid
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.has_b_frames  # the decoder holds frames back
        scaler = VideoReformatter()
        plain, keys = {}, []
        for frame in container.decode(stream):
            plain[frame.pts] = media._to_work_rgb(frame, 0, scaler)
            keys += [frame.pts] if frame.key_frame else []
    assert len(keys) >= 3
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        scaler = VideoReformatter()
        for key, following in zip(keys[1:], keys[2:], strict=False):
            container.seek(key, stream=stream, backward=True, any_frame=False)
            frame = media._keyframe_alone(container, stream)
            assert frame.pts == key and frame.key_frame
            np.testing.assert_array_equal(media._to_work_rgb(frame, 0, scaler), plain[key])
            # One packet read: the demuxer stands right after the keyframe, far from the
            # next one (the old way decoded up to it and beyond).
            after = next(p for p in container.demux(stream) if p.size)
            assert not after.is_keyframe and after.dts < following
        container.seek(0, stream=stream, backward=True, any_frame=False)
        assert media._keyframe_alone(container, stream).pts == keys[0]


def _open_gop_clip(path, seconds: int = 30, fps: int = 10):
    """H.264 with a keyframe every second, non-IDR after the first (x264's open GOP),
    and B-frames, as broadcast recordings and some cameras have."""
    from fractions import Fraction

    import av

    from tests.media_factory import frame_image
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        v.options = {"preset": "veryfast", "x264-params":
                     f"keyint={fps}:min-keyint={fps}:scenecut=0:open-gop=1:bframes=3"}
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(
                frame_image("moving", i, 160, 120, rng, (220, 40, 40)), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("container_format", ["mp4", "mpegts"])
def test_an_open_gop_file_is_sampled_from_all_of_its_keyframes(tmp_path, container_format):
    """Fed only its keyframes, an open-GOP H.264 decoder stopped handing frames out after
    the first few (the file was refused as truncated): the keyframes are drained out, on
    one thread each one, threaded from the first open one on. MP4 holds NAL units with
    their lengths, MPEG-TS (Annex B) with start codes."""
    import av
    from av.video.reformatter import VideoReformatter
    path = _open_gop_clip(tmp_path / "open.mp4")
    if container_format == "mpegts":
        path = _remux(path, tmp_path / "open.ts")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        scaler = VideoReformatter()
        start = stream.start_time or 0  # MPEG-TS starts later than 0
        plain = {round(float((f.pts - start) * stream.time_base), 2):
                 media._to_work_rgb(f, 0, scaler) for f in container.decode(stream)
                 if f.key_frame}
    for threads in (1, 2, 0):
        clip = media.decode(path, threads=threads)
        assert clip.stats["fills"] == 0 and clip.times[-1] >= 27.0
        assert len(clip.times) == 15  # every other keyframe: the step is 1.25 s
        for t, frame in zip(clip.times, clip.frames, strict=True):
            np.testing.assert_array_equal(frame, plain[round(float(t), 2)])


def _remux(source, path):
    import av
    with av.open(str(source)) as src, av.open(str(path), "w") as out:
        video = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                out.mux(packet)
    return path


def test_only_h264_keyframes_without_an_idr_slice_are_open(tmp_path):
    import av
    for path in (_open_gop_clip(tmp_path / "open.mp4", seconds=4),
                 make_clip(tmp_path / "closed.mp4", seconds=4, fps=10, gop=10, audio=None)):
        for name in (path, _remux(path, path.with_suffix(".ts"))):
            with av.open(str(name)) as container:
                stream = container.streams.video[0]
                nal_length = media._h264_nal_length(stream)
                assert nal_length == (0 if name.suffix == ".ts" else 4)
                idr = [media._h264_idr(bytes(p), nal_length)
                       for p in container.demux(stream) if p.size and p.is_keyframe]
            assert len(idr) == 4 and idr[0]
            assert not any(idr[1:]) if path.stem == "open" else all(idr)
    webm = make_clip(tmp_path / "v.webm", seconds=1, audio=None)
    with av.open(str(webm)) as container:
        assert media._h264_nal_length(container.streams.video[0]) is None


def test_a_windowed_keyframe_pass_reuses_the_border_frames(tmp_path):
    """The keyframes the border box decoded are not decoded again (unless they are to be
    analysis frames), and the windows hand on what a held decode does, byte for byte."""
    path = make_clip(tmp_path / "k.mp4", seconds=30, fps=10, gop=10, pattern="moving",
                     audio="tone", preset="veryfast")
    held = list(media.stream(path, threads=1, analysis=True))
    windows = list(media.stream(path, threads=1, analysis=True, window_frames=4,
                                hold_frames=0))
    assert held[-1].whole_file and not windows[-1].whole_file

    def joined(ws):
        framed = [w for w in ws if w.frames is not None]
        return (np.concatenate([w.times for w in framed]),
                np.concatenate([w.frames for w in framed]),
                np.concatenate([w.analysis_times for w in ws]),
                np.stack([f for w in ws for f in w.analysis_frames]),
                np.concatenate([w.audio for w in ws if w.audio is not None]))

    for got, want in zip(joined(windows), joined(held), strict=True):
        np.testing.assert_array_equal(got, want)
    samples = len(joined(held)[0])
    assert held[-1].stats["decoded_frames"] == samples
    assert windows[-1].stats["decoded_frames"] < samples
