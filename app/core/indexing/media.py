"""Decoding with PyAV: metadata, a sparse set of frames, and the soundtrack.

Only what indexing needs is decoded. The plan (``plan_samples``) starts from the
keyframes, which decode on their own, and adds frames inside long GOPs so that no gap
between sampled frames exceeds ``max_gap``. Those fill frames come from one forward pass
over the GOP with non-reference frames skipped, never from a seek per sample.
Media is opened with FFmpeg's file protocol only.
"""

from __future__ import annotations

import math
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


def _to_work_rgb(frame: av.VideoFrame, rotation: int, scaler: VideoReformatter) -> np.ndarray:
    w, h = frame.width, frame.height
    scale = WORK_SIZE / max(w, h)
    tw = max(2, int(round(w * scale / 2)) * 2) if scale < 1 else w
    th = max(2, int(round(h * scale / 2)) * 2) if scale < 1 else h
    # One scaler for the whole file, on this thread: a fresh one per frame rebuilds its
    # filters and starts its own threads each time (measured: twice the time per frame).
    rgb = scaler.reformat(frame, width=tw, height=th, format="rgb24", threads=1,
                          interpolation="AREA" if scale < 1 else "BILINEAR").to_ndarray()
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def decode(path: str | Path, max_gap: float | None = None, threads: int = 0) -> DecodedClip:
    """Metadata, sampled frames (display orientation, WORK_SIZE) and 16 kHz mono audio.

    ``threads``: decoder threads (0: FFmpeg's choice, one more than the cores). Where
    several decoders run at once, one thread each wastes less on synchronization.
    """
    container = open_container(path)
    try:
        return _decode(container, path, max_gap, threads)
    except av.FFmpegError as e:
        raise MediaError(f"decoding failed ({_ffmpeg_reason(e)})") from e
    except MemoryError as e:
        raise MediaError("too large to decode in the memory a decoder may use") from e
    except (ValueError, OverflowError, ZeroDivisionError, IndexError) as e:
        # Damaged headers reach Python as absurd numbers (timestamps, rates, sizes).
        raise MediaError(f"damaged stream ({type(e).__name__}: {e})") from e
    finally:
        try:
            container.close()
        except av.FFmpegError:
            pass  # the file is already reported; a failing close must not mask why


def _decode(container, path, max_gap, threads) -> DecodedClip:
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
    kept_set = set(kept) or {0}

    vstream.thread_type = "AUTO"
    if threads:
        vstream.thread_count = threads
    # Reference frames are all a forward fill needs; B-frames are skipped undecoded.
    vstream.codec_context.skip_frame = "NONREF" if spans else "NONKEY"
    streams = [vstream] + ([astream] if astream is not None else [])
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE) if astream else None
    audio_chunks: list[np.ndarray] = []

    times: list[float] = []
    frames: list[np.ndarray] = []
    pending = list(targets)  # fill targets not yet served, ascending
    scaler = VideoReformatter()
    state = {"rotation": None, "last": -1.0, "decoded": 0}

    def take(frame: av.VideoFrame) -> None:
        state["decoded"] += 1
        # From pts, not frame.time: PyAV reports NaN times for frames that come out of a
        # threaded decoder's final flush, which would silently drop the file's tail.
        stamp = frame.pts if frame.pts is not None else frame.dts
        t = float(stamp * tb) - start_offset if stamp is not None else state["last"]
        if state["rotation"] is None:
            state["rotation"] = int(round(getattr(frame, "rotation", 0) or 0)) % 360
        state["last"] = max(state["last"], t)
        # Only kept keyframes and fill spans are fed to the decoder, so any keyframe
        # that comes out is wanted (one inside a span is a free sample).
        want = frame.key_frame
        while pending and pending[0] <= t + 1e-3:
            pending.pop(0)
            want = True
        if span["until"] is not None and t >= span["until"] - 1e-3:
            # Reached the span's last target: stop feeding the decoder. A threaded decoder
            # lags a few packets behind, so this costs those few frames, no more.
            span["served"] = True
        if want and (not times or t - times[-1] > 1e-3):
            times.append(t)
            frames.append(_to_work_rgb(frame, state["rotation"], scaler))

    # The fill span being decoded: its last target, and whether a frame reached it.
    span = {"until": None, "served": True}
    key_index = -1  # keyframes are matched to the plan by their order, not by timestamp
    for packet in container.demux(streams):
        if packet.stream is astream:
            _decode_audio(packet, resampler, audio_chunks)
            continue
        if packet.size == 0:
            continue
        if packet.is_keyframe:
            key_index += 1
            if key_index in kept_set:
                span["until"] = spans.get(key_index)
                span["served"] = span["until"] is None
            elif span["served"]:
                continue
            # A dropped keyframe inside an unfinished span is decoded: the frames after
            # it need it as their reference.
        elif span["served"]:
            continue  # past the span's last target: the rest of this GOP stays undecoded
        for frame in packet.decode():
            take(frame)
    for frame in vstream.decode(None):
        take(frame)
    if resampler is not None:
        for rf in resampler.resample(None):
            audio_chunks.append(rf.to_ndarray().reshape(-1))

    if not frames:
        raise MediaError("no picture could be decoded")
    covered = max(state["last"], times[-1])
    if info.duration > 2.0 and covered < info.duration * TRUNCATION_TOLERANCE - max_gap:
        raise MediaError(f"truncated or damaged: pictures stop at {max(0.0, covered):.1f} s "
                         f"of {info.duration:.1f} s")
    info.rotation = state["rotation"] or 0
    if info.rotation in (90, 270):
        info.width, info.height = info.height, info.width
    audio = np.concatenate(audio_chunks).astype(np.float32) if audio_chunks else None
    order = np.argsort(times)
    return DecodedClip(
        info=info, times=np.asarray(times, dtype=np.float64)[order],
        frames=_stack(frames)[order], audio=audio,
        stats={"decoded_frames": state["decoded"], "keyframes": len(keys), "fills": len(targets)},
    )


def _decode_audio(packet, resampler, chunks: list[np.ndarray]) -> None:
    if not packet.size:
        return
    try:
        for af in packet.decode():
            for rf in resampler.resample(af):
                chunks.append(rf.to_ndarray().reshape(-1))
    except av.FFmpegError:
        pass  # a damaged audio packet costs a few ms of sound, not the whole file


def _stack(frames: list[np.ndarray]) -> np.ndarray:
    """Stack frames of one clip; VFR or odd streams may change size mid-file."""
    h, w = frames[0].shape[:2]
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
