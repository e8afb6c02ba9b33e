"""Decoding with PyAV: metadata, a sparse set of frames, and the soundtrack.

Only what indexing needs is decoded. The plan (``plan_samples``) starts from the
keyframes, which decode on their own, and adds frames inside long GOPs so that no gap
between sampled frames exceeds ``max_gap``. Those fill frames come from one forward pass
over the GOP with non-reference frames skipped, never from a seek per sample.
``stream`` hands the result on in windows, so a decoder's memory does not grow with the
file's length. Media is opened with FFmpeg's file protocol only.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from app.inference import AUDIO_RATE, VISUAL_INPUT_SIZE

# Only local files: a playlist or concat file naming http:// must not reach the network.
OPEN_OPTIONS = {"protocol_whitelist": "file"}

# Frames are converted straight to this working size (longest side) by swscale, so a 4K
# frame never exists as a full-size RGB array.
WORK_SIZE = 320
MODEL_SIZE = VISUAL_INPUT_SIZE
MAX_STEP = 2.0  # seconds between sampled frames of a long clip
# No gap between sampled frames of a long clip exceeds this. Where keyframes are further
# apart, the frames in between cost a forward decode through the GOP, and the gap's end
# is what bounds it: 5 s instead of 4 s decodes 3 s instead of 4 s of an 8 s GOP.
MAX_GAP = 5.0
# Decoder options while a file has fill spans: every frame but the keyframes is decoded
# without the deblocking (loop) filter. Only the keyframes and the frames of fill spans
# are decoded, so this skips the filter exactly on the P-frame chains a fill is reached
# through (and on the fill itself); keyframes, most of the samples, are untouched. The
# filter then does not smooth the references either, so blocking grows along a chain.
# Measured: on bench/index_speed.py's 21 minutes (8 s GOPs in 570 s of them) the decode
# CPU 29.0-30.1 -> 26.1 s; on ../shared/corpus/library, where nearly every sample is a
# fill reached through up to 15 s of P-frames from one keyframe, the visual embeddings'
# cosine to a fully filtered decode is 0.993 on average (1st percentile 0.976, top-5
# labels 0.89 the same): as close as two frames 40 ms apart are to each other there
# (0.990, top-5 0.90).
FILL_DECODER_OPTIONS = {"skip_loop_filter": "nokey"}
# A file whose decodable frames stop this far short of its declared duration is truncated.
TRUNCATION_TOLERANCE = 0.8


class MediaError(Exception):
    """A file could not be used; ``reason`` is a sentence a person can read."""

    def __init__(self, reason: str, skip: bool = False):
        super().__init__(reason)
        self.reason = reason
        # skip=True: a valid file that is not a video (audio only, a still image).
        self.skip = skip


@dataclass
class MediaInfo:
    duration: float
    width: int  # after rotation
    height: int
    fps: float
    video_codec: str
    audio_codec: str | None
    has_audio: bool
    rotation: int  # degrees counterclockwise applied for display
    created: str | None  # ISO 8601 UTC from the container, when it has one
    bitrate: int
    container: str


@dataclass
class DecodedClip:
    info: MediaInfo
    times: np.ndarray  # [n] seconds of each sampled frame
    frames: np.ndarray  # [n, WORK h, WORK w, 3] uint8 RGB, display orientation
    audio: np.ndarray | None  # 16 kHz mono float32, None without a soundtrack
    stats: dict = field(default_factory=dict)


def open_container(path: str | Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), options=OPEN_OPTIONS, metadata_errors="ignore")
    except av.FFmpegError as e:
        raise MediaError(f"not a readable media file ({_ffmpeg_reason(e)})") from e


def _ffmpeg_reason(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.split(": '")[0].strip()


def _parse_created(value: str | None) -> str | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    if dt.year < 1971:  # an unset QuickTime date (1904/1970) means "unknown"
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def probe(container, path: str | Path) -> MediaInfo:
    if not container.streams.video:
        kind = "audio only" if container.streams.audio else "no video stream"
        raise MediaError(f"not a video ({kind})", skip=bool(container.streams.audio))
    vstream = container.streams.video[0]
    if vstream.codec_context.name in {"mjpeg", "png", "bmp", "webp", "gif"} and (
            vstream.frames <= 1 and not container.duration):
        raise MediaError(f"a still image ({vstream.codec_context.name}), not a video")
    astream = container.streams.audio[0] if container.streams.audio else None
    duration = _duration(container, vstream)
    if duration <= 0:
        raise MediaError("no duration: the file holds no playable video")
    rate = vstream.average_rate or vstream.guessed_rate or vstream.base_rate
    created = _parse_created(container.metadata.get("creation_time")
                             or vstream.metadata.get("creation_time"))
    size = Path(path).stat().st_size
    width, height = vstream.codec_context.width, vstream.codec_context.height
    if not width or not height:
        raise MediaError("the video stream has no picture size")
    return MediaInfo(
        duration=duration, width=width, height=height,
        fps=float(rate) if rate else 0.0,
        video_codec=vstream.codec_context.name,
        audio_codec=astream.codec_context.name if astream else None,
        has_audio=astream is not None, rotation=0, created=created,
        bitrate=int(container.bit_rate or (size * 8 / duration)),
        container=container.format.name,
    )


def _duration(container, vstream) -> float:
    if vstream.duration and vstream.time_base:
        return float(vstream.duration * vstream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def sample_step(duration: float) -> float:
    """Seconds between sampled frames: dense for short clips, bounded for long ones."""
    return min(MAX_STEP, max(0.25, duration / 24))


def default_max_gap(duration: float) -> float:
    """The longest gap between sampled frames: a twelfth of the clip (twice its step up to
    48 s), between 0.5 s and MAX_GAP."""
    return min(MAX_GAP, max(0.5, duration / 12))


def plan_samples(keyframes: list[float], duration: float, step: float, max_gap: float,
                 tail_gap: float | None = None) -> tuple[list[int], list[float], dict[int, float]]:
    """Choose the keyframes to keep and the frames to add inside long gaps.

    Returns (indices of kept keyframes, fill target times, and for each kept keyframe
    that opens a long gap, the last fill target after it). Keyframes closer than
    ``step`` to the previous kept one are dropped (all-intra files would otherwise decode
    every frame). A gap longer than ``max_gap`` between kept samples, including the tail
    after the last keyframe, is served by decoding forward from the keyframe that opens
    it, and that decoding is what costs: so the last fill sits ``tail_gap`` (at most
    ``max_gap``, the default) before the gap's end, the decoder stops there, and the
    frames passed on the way are sampled every ``step`` seconds at most.
    """
    tail_gap = max_gap if tail_gap is None else min(tail_gap, max_gap)
    kept: list[int] = []
    for i, t in enumerate(keyframes):
        if not kept or t - keyframes[kept[-1]] >= step:
            kept.append(i)
    starts = [max(0.0, keyframes[i]) for i in kept] or [0.0]
    targets: list[float] = []
    spans: dict[int, float] = {}
    for j, (start, end) in enumerate(zip(starts, [*starts[1:], duration], strict=True)):
        if end - start > max_gap:
            last = end - tail_gap
            n = max(1, math.ceil((last - start) / step - 1e-9))
            gap_targets = [start + (last - start) * (i + 1) / n for i in range(n)]
            targets += gap_targets
            spans[kept[j] if kept else 0] = gap_targets[-1]
    return kept, targets, spans


def keyframe_times(container, vstream) -> list[float]:
    """Keyframe timestamps from the container's index; demux-only scan when it has none."""
    tb = vstream.time_base
    entries = vstream.index_entries
    # MP4/MOV index every sample; Matroska only holds cues, so it needs the scan.
    if entries is not None and len(entries) and len(entries) >= max(vstream.frames, 2) * 0.9:
        return [float(e.timestamp * tb) for e in entries if e.is_keyframe]
    times = []
    for packet in container.demux(vstream):
        if packet.is_keyframe and packet.pts is not None:
            times.append(float(packet.pts * tb))
    container.seek(0)
    return times


# ---- streaming decode ------------------------------------------------------------------
# A file is decoded in one forward pass and handed on in windows, so that what a decoder
# holds does not grow with the file's length.
#
# Which frames a clip's box (black bars) and thumbnails come from depends on all of its
# frames, so a file whose plan has at most HOLD_FRAMES samples keeps its frames and hands
# them on together at the end, exactly as a one-pass decode would. A longer file's frames
# go out every WINDOW_FRAMES samples; its box is taken beforehand from keyframes spread
# over the whole file (``_border_box``: a seek and one keyframe each).
HOLD_FRAMES = 256  # 44-60 MB of 320-px frames; 8.5 minutes at the long-clip step
WINDOW_FRAMES = 64
# Soundtrack goes out at least this often (samples at AUDIO_RATE): 64 s, about 4 MB.
AUDIO_WINDOW = 64 * AUDIO_RATE

# Analysis frames for the detectors (faces, objects, words on screen): a sparse set of
# sampled frames at a higher resolution, converted by their own scaler (a second swscale
# conversion for these frames only). The first sampled frame, then one every
# ANALYSIS_STEP seconds; past ANALYSIS_DENSE_UNTIL, one every ANALYSIS_SPARSE_STEP, so a
# film costs ~1100 of them for 3 hours, not 2200.
ANALYSIS_SIZE = 960  # longest side; smaller pictures keep their own size
ANALYSIS_STEP = 5.0
ANALYSIS_SPARSE_STEP = 10.0
ANALYSIS_DENSE_UNTIL = 600.0
# Analysis frames go out in batches of this many (960x540 RGB: 1.5 MB each).
ANALYSIS_BATCH = 8


def analysis_step(t: float) -> float:
    """Seconds from an analysis frame at ``t`` to the next one."""
    return ANALYSIS_STEP if t < ANALYSIS_DENSE_UNTIL else ANALYSIS_SPARSE_STEP


@dataclass
class DecodedWindow:
    """One part of a file, in order. Every part but the last may lack frames, sound or
    analysis frames; the last carries the final ``info`` (rotation known) and ``stats``."""

    info: MediaInfo
    times: np.ndarray  # [k] seconds, ascending, after every earlier window's
    frames: np.ndarray | None  # [k, WORK h, WORK w, 3] uint8 RGB, display orientation
    audio: np.ndarray | None  # 16 kHz mono float32 that follows the previous window's
    analysis_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    analysis_frames: list[np.ndarray] = field(default_factory=list)  # RGB uint8
    # True when ``frames`` are all of the file's frames (a held file's last window).
    whole_file: bool = False
    # (x0, x1, y0, y1) of the picture inside black bars for a windowed file (None: the
    # whole frame); a whole-file window leaves it to its frames.
    box: tuple[int, int, int, int] | None = None
    final: bool = False
    stats: dict = field(default_factory=dict)


def decode(path: str | Path, max_gap: float | None = None, threads: int = 0) -> DecodedClip:
    """Metadata, sampled frames (display orientation, WORK_SIZE) and 16 kHz mono audio,
    all at once (memory grows with the file; indexing uses ``stream``).

    ``threads``: decoder threads (0: FFmpeg's choice, one more than the cores). Where
    several decoders run at once, one thread each wastes less on synchronization.
    """
    times, frames, audio = [], [], []
    for window in stream(path, max_gap, threads, hold_frames=math.inf):
        if window.frames is not None:
            times.append(window.times)
            frames.append(window.frames)
        if window.audio is not None:
            audio.append(window.audio)
    return DecodedClip(info=window.info, times=np.concatenate(times),
                       frames=np.concatenate(frames),
                       audio=np.concatenate(audio) if audio else None, stats=window.stats)


def stream(path: str | Path, max_gap: float | None = None, threads: int = 0,
           analysis: bool = False, window_frames: int = WINDOW_FRAMES,
           hold_frames: float = HOLD_FRAMES) -> Iterator[DecodedWindow]:
    """The file in windows (see DecodedWindow); raises MediaError.

    ``analysis``: also convert analysis frames (see ANALYSIS_STEP). ``window_frames`` and
    ``hold_frames``: see WINDOW_FRAMES and HOLD_FRAMES.
    """
    container = open_container(path)
    where = _Progress()
    try:
        yield from _stream(container, path, max_gap, threads, analysis, window_frames,
                           hold_frames, where)
    except MemoryError as e:  # FFmpeg's ENOMEM included (av.error.MemoryError is one)
        raise MediaError(f"ran out of memory decoding, {where}") from e
    except av.FFmpegError as e:
        raise MediaError(f"decoding failed ({_ffmpeg_reason(e)})") from e
    except (ValueError, OverflowError, ZeroDivisionError, IndexError) as e:
        # Damaged headers reach Python as absurd numbers (timestamps, rates, sizes).
        raise MediaError(f"damaged stream ({type(e).__name__}: {e})") from e
    finally:
        try:
            container.close()
        except av.FFmpegError:
            pass  # the file is already reported; a failing close must not mask why


@dataclass
class _Progress:
    """How far a decode got, for a message that names where it failed and on what."""

    seconds: float = 0.0
    duration: float = 0.0
    size: tuple[int, int] = (0, 0)
    held: int = 0  # frames held at once

    def __str__(self) -> str:
        return (f"at {clock(self.seconds)} of {clock(self.duration)} "
                f"({self.size[0]}x{self.size[1]} pictures, {self.held} frames held)")


def clock(seconds: float) -> str:
    s = int(max(0.0, seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass
class _Plan:
    """What one pass decodes: see plan_samples."""

    info: MediaInfo
    vstream: av.video.stream.VideoStream
    astream: av.audio.stream.AudioStream | None
    start_offset: float
    step: float
    max_gap: float
    keys: list[float]  # keyframe times from the start
    kept: list[int]
    targets: list[float]
    spans: dict[int, float]

    @property
    def expected_samples(self) -> int:
        return max(1, len(self.kept)) + len(self.targets)


def _plan(container, path, max_gap: float | None) -> _Plan:
    info = probe(container, path)
    vstream = container.streams.video[0]
    astream = container.streams.audio[0] if container.streams.audio else None
    tb = vstream.time_base
    start_offset = float(vstream.start_time * tb) if vstream.start_time is not None else 0.0
    step = sample_step(info.duration)
    max_gap = max_gap if max_gap is not None else default_max_gap(info.duration)
    keys = [t - start_offset for t in keyframe_times(container, vstream)]
    # Long clips end a forward fill as early as the max gap allows: the decoding saved
    # is what makes their long GOPs affordable. Short clips have few samples, each of
    # which counts when matching copies, and decode fast: their fills go on at ``step``.
    tail_gap = max_gap if step >= MAX_STEP else step
    kept, targets, spans = plan_samples(keys, info.duration, step, max_gap, tail_gap)
    return _Plan(info, vstream, astream, start_offset, step, max_gap, keys, kept, targets,
                 spans)


def _stream(container, path, max_gap, threads, analysis, window_frames, hold_frames,
            where: _Progress) -> Iterator[DecodedWindow]:
    plan = _plan(container, path, max_gap)
    where.duration = plan.info.duration
    vstream = plan.vstream
    vstream.thread_type = "AUTO"
    if threads:
        vstream.thread_count = threads
    windowed = plan.expected_samples > hold_frames
    # A keyframe-only pass on one decoder thread drains the decoder after each keyframe
    # (see _Sampler._keyframe), so it can take the border frames as they are.
    alone = not plan.spans and threads == 1
    # A threaded one keeps its keyframes overlapping, unless they are open (see
    # _Sampler._keyframe): then it drains them too, from the first open one on.
    h264_nal_length = (_h264_nal_length(vstream) if not plan.spans and not alone
                       else None)
    box, border_frames = (_border_box(path, plan, threads, keep=alone) if windowed
                          else (None, None))
    # Reference frames are all a forward fill needs; B-frames are skipped undecoded.
    vstream.codec_context.skip_frame = "NONREF" if plan.spans else "NONKEY"
    if plan.spans:
        # Read when the decoder opens, at its first packet (not yet: nothing decoded).
        vstream.codec_context.options = dict(FILL_DECODER_OPTIONS)
    sampler = _Sampler(plan, analysis, where, alone, border_frames, h264_nal_length)
    sound = _Soundtrack(plan.astream)
    streams = [vstream] + ([plan.astream] if plan.astream is not None else [])

    for packet in container.demux(streams):
        if packet.stream is plan.astream:
            sound.feed(packet)
        else:
            sampler.feed(packet)
        if not windowed and len(sampler.frames) >= 2 * hold_frames:
            # A plan can undercount (keyframes met inside fill spans are free samples):
            # from twice the planned limit on, windows, and the bars of the frames held
            # so far stand for the file's.
            windowed, box = True, content_box(_stack(sampler.frames, sampler.size))
        if (windowed and len(sampler.frames) >= window_frames
                or len(sampler.analysis_frames) >= ANALYSIS_BATCH
                or sound.samples >= AUDIO_WINDOW):
            yield _window(plan.info, sampler, sound, windowed, box)
    sampler.flush()
    sound.flush()
    sampler.check_complete()
    info = plan.info
    info.rotation = sampler.rotation or 0
    if info.rotation in (90, 270):
        info.width, info.height = info.height, info.width
    last = _window(info, sampler, sound, True, box)
    last.final, last.whole_file = True, not windowed
    last.stats = {"decoded_frames": sampler.decoded, "keyframes": len(plan.keys),
                  "fills": len(plan.targets), "windowed": windowed}
    yield last


def _window(info, sampler: _Sampler, sound: _Soundtrack, with_frames: bool,
            box) -> DecodedWindow:
    """What the sampler and soundtrack hold, handed on (the frames if ``with_frames``)."""
    times, frames = sampler.take_frames() if with_frames else (np.empty(0), None)
    atimes, aframes = sampler.take_analysis()
    return DecodedWindow(info=info, times=times, frames=frames, audio=sound.take(),
                         analysis_times=atimes, analysis_frames=aframes, box=box)


class _Sampler:
    """Feeds the planned packets to the decoder and keeps the planned frames.

    Only kept keyframes and fill spans are fed to the decoder; a fill span is decoded
    forward from its keyframe until a frame reaches its last target.
    """

    def __init__(self, plan: _Plan, analysis: bool, where: _Progress,
                 keyframes_alone: bool = False,
                 border_frames: dict[int, _BorderFrame] | None = None,
                 h264_nal_length: int | None = None):
        self.plan = plan
        # H.264 keyframes are looked at until an open one (not IDR) turns keyframes_alone
        # on: 0 for Annex B start codes, else the bytes of each NAL's length; None: not.
        self.h264_nal_length = h264_nal_length
        # Each kept keyframe decoded alone (see _keyframe), and the border box's frames
        # by pts, each decoded once, not again here.
        self.keyframes_alone = keyframes_alone
        self.border_frames = border_frames or {}
        self.tb = plan.vstream.time_base
        self.kept = set(plan.kept) or {0}
        self.pending = deque(plan.targets)  # fill targets not yet served, ascending
        self.scaler = VideoReformatter()
        self.analysis_scaler = VideoReformatter() if analysis else None
        self.next_analysis = -math.inf
        self.where = where
        self.rotation: int | None = None
        self.size: tuple[int, int] | None = None  # (h, w) of the first work frame
        self.last = -1.0  # latest frame time seen
        self.decoded = 0
        self.flushed_until = -math.inf  # time of the last frame handed on
        self.times: list[float] = []
        self.frames: list[np.ndarray] = []
        self.analysis_times: list[float] = []
        self.analysis_frames: list[np.ndarray] = []
        self.sampled = 0
        # The fill span being decoded: its last target, and whether a frame reached it.
        self.span_until: float | None = None
        self.span_served = True
        self.key_index = -1  # keyframes are matched to the plan by order, not timestamp

    def feed(self, packet: av.Packet) -> None:
        if packet.size == 0:
            return
        if packet.is_keyframe:
            self.key_index += 1
            if self.key_index in self.kept:
                self.span_until = self.plan.spans.get(self.key_index)
                self.span_served = self.span_until is None
                if (not self.keyframes_alone and self.h264_nal_length is not None
                        and not _h264_idr(bytes(packet), self.h264_nal_length)):
                    # The held frames come out before the open keyframe goes in.
                    for frame in self.plan.vstream.decode(None):
                        self._take(frame)
                    self.plan.vstream.codec_context.flush_buffers()
                    self.keyframes_alone, self.h264_nal_length = True, None
                if self.keyframes_alone:
                    self._keyframe(packet)
                    return
            elif self.span_served:
                return
            # A dropped keyframe inside an unfinished span is decoded: the frames after
            # it need it as their reference.
        elif self.span_served:
            return  # past the span's last target: the rest of this GOP stays undecoded
        for frame in packet.decode():
            self._take(frame)

    def flush(self) -> None:
        for frame in self.plan.vstream.decode(None):
            self._take(frame)

    def _keyframe(self, packet: av.Packet) -> None:
        """A kept keyframe of a keyframe-only pass, drained out of the decoder before
        the next one is fed; or the border box's decode of it, when there is one (the
        same picture: an intra frame decodes on its own), unless it is to be an analysis
        frame, which needs the decoded frame at its own size.

        Drained, the frames come out in order whichever way they come, and the decoder
        holds none back: fed keyframes only, an open-GOP H.264 stream (non-IDR
        keyframes) stopped handing any out after its first few, and the file was
        refused as truncated."""
        border = self.border_frames.pop(packet.pts, None) if packet.pts is not None else None
        if border is not None:
            t = float(packet.pts * self.tb) - self.plan.start_offset
            if ((self.analysis_scaler is None or t < self.next_analysis)
                    and self.rotation in (None, border.rotation)
                    and t > max(self.last, self.flushed_until) + 1e-3):
                self.rotation = border.rotation
                self.last = t
                self.where.seconds = t
                self._keep(t, border.rgb, border.size)
                return
        vstream = self.plan.vstream
        for frame in [*packet.decode(), *vstream.decode(None)]:
            self._take(frame)
        vstream.codec_context.flush_buffers()  # the drain ended it: ready for the next

    def _take(self, frame: av.VideoFrame) -> None:
        self.decoded += 1
        # From pts, not frame.time: PyAV reports NaN times for frames that come out of a
        # threaded decoder's final flush, which would silently drop the file's tail.
        stamp = frame.pts if frame.pts is not None else frame.dts
        t = float(stamp * self.tb) - self.plan.start_offset if stamp is not None else self.last
        if self.rotation is None:
            self.rotation = int(round(getattr(frame, "rotation", 0) or 0)) % 360
        self.last = max(self.last, t)
        self.where.seconds = self.last
        # Any keyframe that comes out is wanted (one inside a span is a free sample).
        want = frame.key_frame
        while self.pending and self.pending[0] <= t + 1e-3:
            self.pending.popleft()
            want = True
        if self.span_until is not None and t >= self.span_until - 1e-3:
            # Reached the span's last target: stop feeding the decoder. A threaded decoder
            # lags a few packets behind, so this costs those few frames, no more.
            self.span_served = True
        if not want or (self.times and t - self.times[-1] <= 1e-3):
            return
        if t <= self.flushed_until + 1e-3:
            return  # behind a window already handed on (a damaged stream's order)
        self._keep(t, _to_work_rgb(frame, self.rotation, self.scaler),
                   (frame.width, frame.height))
        if self.analysis_scaler is not None and t >= self.next_analysis:
            self.analysis_times.append(t)
            self.analysis_frames.append(
                _to_rgb(frame, self.rotation, self.analysis_scaler, ANALYSIS_SIZE))
            self.next_analysis = t + analysis_step(t)

    def _keep(self, t: float, rgb: np.ndarray, size: tuple[int, int]) -> None:
        """Keep a sampled frame (``size``: the decoded picture's width, height)."""
        if self.size is None:
            self.size = rgb.shape[:2]
            self.where.size = size
        self.times.append(t)
        self.frames.append(rgb)
        self.where.held = len(self.frames)

    def take_frames(self) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.frames:
            return np.empty(0), None
        order = np.argsort(self.times)
        times = np.asarray(self.times, dtype=np.float64)[order]
        frames = _stack(self.frames, self.size)[order]
        self.flushed_until = float(times[-1])
        self.times, self.frames = [], []
        return times, frames

    def take_analysis(self) -> tuple[np.ndarray, list[np.ndarray]]:
        order = np.argsort(self.analysis_times)
        times = np.asarray(self.analysis_times, dtype=np.float64)[order]
        frames = [self.analysis_frames[i] for i in order]
        self.analysis_times, self.analysis_frames = [], []
        return times, frames

    def check_complete(self) -> None:
        if self.size is None:
            raise MediaError("no picture could be decoded")
        covered = max(self.last, self.flushed_until)
        duration = self.plan.info.duration
        if duration > 2.0 and covered < duration * TRUNCATION_TOLERANCE - self.plan.max_gap:
            raise MediaError(f"truncated or damaged: pictures stop at {max(0.0, covered):.1f} s "
                             f"of {duration:.1f} s")


# Decoded sound is resampled this many seconds of the source at a time, not frame by
# frame: an AAC frame is 21 ms, and the Python around each resample call cost more than
# decoding it. swresample works on a stream, so the samples are the same bytes; measured
# on bench/index_speed.py's 21 minutes: 2.38 -> 1.63 s CPU for the soundtrack, of which
# 1.15 s is the AAC decoder itself.
RESAMPLE_SECONDS = 1.0


class _Soundtrack:
    """The audio stream resampled to 16 kHz mono float32, handed on in pieces."""

    def __init__(self, astream):
        self.resampler = (av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
                          if astream is not None else None)
        self.fifo = av.AudioFifo() if astream is not None else None
        rate = astream.codec_context.sample_rate if astream is not None else 0
        self.resample_at = max(1, int((rate or AUDIO_RATE) * RESAMPLE_SECONDS))
        self.chunks: list[np.ndarray] = []
        self.samples = 0

    def feed(self, packet: av.Packet) -> None:
        if not packet.size:
            return
        try:
            for af in packet.decode():
                # The FIFO refuses frames whose timestamps leave a gap; the resampler
                # never looked at them either.
                af.pts = None
                self.fifo.write(af)
        except av.FFmpegError:
            pass  # a damaged audio packet costs a few ms of sound, not the whole file
        if self.fifo.samples >= self.resample_at:
            self._add(self.resampler.resample(self.fifo.read()))

    def flush(self) -> None:
        if self.resampler is not None:
            if self.fifo.samples:
                self._add(self.resampler.resample(self.fifo.read()))
            self._add(self.resampler.resample(None))

    def _add(self, frames) -> None:
        for rf in frames:
            chunk = rf.to_ndarray().reshape(-1)
            self.chunks.append(chunk)
            self.samples += len(chunk)

    def take(self) -> np.ndarray | None:
        if not self.chunks:
            return None
        audio = np.concatenate(self.chunks).astype(np.float32)
        self.chunks, self.samples = [], 0
        return audio


def _h264_nal_length(vstream) -> int | None:
    """How an H.264 stream's packets hold their NAL units: the bytes of each one's
    length (avcC extradata, as MP4 and Matroska have), 0 for Annex B start codes (MPEG-TS,
    raw); None for other codecs."""
    if vstream.codec_context.name != "h264":
        return None
    extradata = vstream.codec_context.extradata or b""
    return (extradata[4] & 3) + 1 if len(extradata) > 4 and extradata[0] == 1 else 0


def _h264_idr(data: bytes, nal_length: int) -> bool:
    """Whether an H.264 packet holds an IDR slice (NAL type 5); a keyframe without one
    is open (a recovery point that later frames may reach across)."""
    if nal_length == 0:  # start codes never occur inside a NAL (emulation prevention)
        i = data.find(b"\0\0\1")
        while 0 <= i < len(data) - 3:
            if data[i + 3] & 0x1F == 5:
                return True
            i = data.find(b"\0\0\1", i + 3)
        return False
    i = 0
    while i + nal_length < len(data):
        size = int.from_bytes(data[i:i + nal_length], "big")
        if data[i + nal_length] & 0x1F == 5:
            return True
        i += nal_length + size
    return False


@dataclass
class _BorderFrame:
    """A keyframe the border box decoded, at the work size, for the pass to reuse."""

    rgb: np.ndarray
    rotation: int
    size: tuple[int, int]  # the decoded picture's width, height


def _border_box(path, plan: _Plan, threads: int, keep: bool = False
                ) -> tuple[tuple[int, int, int, int] | None, dict[int, _BorderFrame] | None]:
    """The content box of up to BORDER_FRAMES kept keyframes spread over the whole file,
    each reached by a seek; None (no crop) when none of them decodes. With ``keep``, also
    those frames by pts (else None), which a keyframe-only pass need not decode again:
    measured on 10 minutes of 1080p (bench/index_speed.py's two 2 s GOP files joined
    twice, windowed, one thread), the decode 12.9 -> 8.9 s CPU with _keyframe_alone,
    40 of its 280 keyframes not decoded twice.

    A container of its own: seeking the main one would change how its soundtrack starts
    (the decoder's priming samples are only dropped at the true start)."""
    container = open_container(path)
    try:
        vstream = container.streams.video[0]
        vstream.thread_type = "AUTO"
        if threads:
            vstream.thread_count = threads
        vstream.codec_context.skip_frame = "NONKEY"
        tb = vstream.time_base
        kept = plan.kept or [0]
        picks = np.unique(np.linspace(0, len(kept) - 1, min(len(kept), BORDER_FRAMES)).round())
        scaler = VideoReformatter()
        frames, size = [], None
        kept_frames: dict[int, _BorderFrame] | None = {} if keep else None
        for i in picks.astype(int):
            k, t = kept[i], 0.0
            if plan.keys:
                # An index holds decode times, before the keyframes' own with B-frames:
                # aim halfway to the next keyframe, or a backward seek lands on the one
                # before (one the pass does not keep, so its frame could not serve there).
                after = plan.keys[k + 1] if k + 1 < len(plan.keys) else plan.info.duration
                t = (plan.keys[k] + after) / 2
            t += plan.start_offset
            try:
                container.seek(int(t / tb), stream=vstream, backward=True, any_frame=False)
                frame = _keyframe_alone(container, vstream)
            except av.FFmpegError:
                continue  # a keyframe that does not decode here is met again in the pass
            if frame is not None:
                rotation = int(round(getattr(frame, "rotation", 0) or 0)) % 360
                rgb = _to_work_rgb(frame, rotation, scaler)
                size = size or rgb.shape[:2]
                frames.append(rgb)
                if kept_frames is not None and frame.pts is not None:
                    kept_frames[frame.pts] = _BorderFrame(rgb, rotation,
                                                          (frame.width, frame.height))
    finally:
        container.close()
    return (content_box(_stack(frames, size)) if frames else None), kept_frames


def _keyframe_alone(container, vstream) -> av.VideoFrame | None:
    """The first keyframe from where the container stands, and no other frame decoded.

    A decoder holds frames back as deep as the stream reorders them (two with B-frames
    in a pyramid), and with non-keyframes skipped, what pushed a keyframe out was the
    next two keyframes: three keyframe decodes per border frame. Draining the decoder
    after the one packet hands it out alone, the same picture (an intra frame decodes
    on its own). Measured on bench/index_speed.py's 12 files with a windowed decode:
    the border boxes cost 20.4 -> 7.8 s CPU (a 180 s 1080p file: 5.0 -> 2.0 s, against
    2.5 s for its whole pass), the same frames byte for byte. On an open-GOP x264 file
    the old way even handed out the keyframe two further on than the seek reached."""
    for packet in container.demux(vstream):
        if packet.size and packet.is_keyframe:
            frames = [*packet.decode(), *vstream.decode(None)]
            # The drain left the decoder at its end: reset it for the next packet.
            vstream.codec_context.flush_buffers()
            return frames[0] if frames else None
    return None


def _to_rgb(frame: av.VideoFrame, rotation: int, scaler: VideoReformatter,
            longest: int) -> np.ndarray:
    """RGB of the frame with its longest side at most ``longest``, display orientation."""
    w, h = frame.width, frame.height
    scale = longest / max(w, h)
    tw = max(2, int(round(w * scale / 2)) * 2) if scale < 1 else w
    th = max(2, int(round(h * scale / 2)) * 2) if scale < 1 else h
    # One scaler per size for the whole file, on this thread: a fresh one per frame
    # rebuilds its filters and starts its own threads each time (measured: twice the
    # time per frame).
    rgb = scaler.reformat(frame, width=tw, height=th, format="rgb24", threads=1,
                          interpolation="AREA" if scale < 1 else "BILINEAR").to_ndarray()
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def _to_work_rgb(frame: av.VideoFrame, rotation: int, scaler: VideoReformatter) -> np.ndarray:
    return _to_rgb(frame, rotation, scaler, WORK_SIZE)


def _stack(frames: list[np.ndarray], size: tuple[int, int] | None = None) -> np.ndarray:
    """Stack frames of one clip at ``size`` (h, w; default the first frame's): VFR or odd
    streams may change size mid-file."""
    h, w = size or frames[0].shape[:2]
    same = [f if f.shape[:2] == (h, w) else cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
            for f in frames]
    return np.stack(same)


def model_input(frames: np.ndarray, size: int = MODEL_SIZE) -> np.ndarray:
    """Squash each whole frame to size x size (no crop: a crop would hide edited borders)."""
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


# A border row or column is this dark (0-255 luma) in 80% of its pixels in every sampled
# frame. The percentile, not the maximum, so a watermark written over a black bar does
# not make the bar count as picture.
BORDER_LUMA = 24
BORDER_PERCENTILE = 80
MIN_BAR = 0.02  # of the side
MIN_CONTENT = 0.25
BORDER_FRAMES = 64  # frames examined at most


def content_box(frames: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, x1, y0, y1) of the picture inside black letterbox or pillarbox bars.

    One box for the whole clip, from its frames (at most BORDER_FRAMES spread over it),
    so a fade to black or a dark shot never crops one frame differently from the others.
    The whole frame when no bar is found, or when the bars would leave less than
    MIN_CONTENT of a side.
    """
    n, h, w = frames.shape[:3]
    cols = np.zeros(w, np.float32)
    rows = np.zeros(h, np.float32)
    # Bars last the whole clip: frames spread over it find them as well as all of them.
    picks = np.unique(np.linspace(0, n - 1, min(n, BORDER_FRAMES)).round().astype(int))
    for frame in frames[picks]:  # one frame at a time: a long clip's frames stay uint8
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        np.maximum(cols, np.percentile(luma, BORDER_PERCENTILE, axis=0), out=cols)
        np.maximum(rows, np.percentile(luma, BORDER_PERCENTILE, axis=1), out=rows)

    def span(profile: np.ndarray) -> tuple[int, int]:
        size = len(profile)
        bright = np.flatnonzero(profile > BORDER_LUMA)
        if len(bright) == 0 or bright[-1] + 1 - bright[0] < MIN_CONTENT * size:
            return 0, size
        lo, hi = int(bright[0]), int(bright[-1]) + 1
        # Bars thinner than MIN_BAR are encoder padding or noise: leave the picture whole.
        return (lo if lo >= MIN_BAR * size else 0), (hi if size - hi >= MIN_BAR * size else size)

    x0, x1 = span(cols)
    y0, y1 = span(rows)
    return x0, x1, y0, y1


def crop_borders(frames: np.ndarray) -> np.ndarray:
    """The frames without their black bars, so a letterboxed copy embeds like the original."""
    x0, x1, y0, y1 = content_box(frames)
    if (x0, x1, y0, y1) == (0, frames.shape[2], 0, frames.shape[1]):
        return frames
    return frames[:, y0:y1, x0:x1]
