"""Tiny real video files for tests, encoded with PyAV (H.264/VP9 + AAC)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def frame_image(pattern: str, i: int, width: int, height: int, rng: np.random.Generator,
                color: tuple[int, int, int] = (220, 40, 40)) -> np.ndarray:
    img = np.full((height, width, 3), 30, np.uint8)
    if pattern == "square":
        s = min(width, height) // 2
        x = (i * 3) % max(1, width - s)
        img[height // 4:height // 4 + s, x:x + s] = color
    elif pattern == "moving":
        band = (i * 4) % width
        img[:, band:band + width // 8] = color
        img[height // 3:height // 3 + 10, :] = (255, 255, 255)
    elif pattern == "noise":
        img = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    else:
        raise ValueError(pattern)
    return img


def make_clip(path: Path, pattern: str = "square", seconds: float = 2.0, fps: int = 25,
              width: int = 160, height: int = 120, audio: str | None = "tone",
              gop: int = 25, codec: str | None = None, rotate: int = 0,
              creation_time: str | None = None, scenes: list[np.ndarray] | None = None,
              tone_hz: float = 2000.0, metadata: dict[str, str] | None = None,
              options: dict[str, str] | None = None,
              color: tuple[int, int, int] = (220, 40, 40), preset: str = "ultrafast") -> Path:
    """Write a short clip. ``scenes``: RGB pictures shown in equal parts (hard cuts), each
    drifting a little as a hand-held camera would. ``metadata``: container tags (e.g. a
    location); ``options``: muxer options (``{"movflags": "use_metadata_tags"}`` writes
    arbitrary keys as iPhones do). ``preset``: x264's (ultrafast encodes without the
    deblocking filter; the others with it, as cameras do)."""
    path = Path(path)
    rng = np.random.default_rng(0)
    codec = codec or ("libvpx-vp9" if path.suffix == ".webm" else "libx264")
    with av.open(str(path), "w", options=options or {}) as out:
        if creation_time:
            out.metadata["creation_time"] = creation_time
        for key, value in (metadata or {}).items():
            out.metadata[key] = value
        v = out.add_stream(codec, rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.codec_context.gop_size = gop
        if codec == "libx264":
            v.options = {"preset": preset, "keyint": str(gop), "min-keyint": str(gop),
                         "scenecut": "0"}
        a = None
        if audio:
            a = out.add_stream("libopus" if path.suffix == ".webm" else "aac", rate=48000)
            a.layout = "mono"
        if rotate:
            # Display matrix side data, as phones write it (degrees counterclockwise).
            v.set_display_rotation(rotate)
        frames = int(seconds * fps)
        for i in range(frames):
            if scenes:
                scene = scenes[min(len(scenes) - 1, i * len(scenes) // frames)]
                img = _drift(scene, i, width, height)
            else:
                img = frame_image(pattern, i, width, height, rng, color)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
        if a is not None:
            _write_audio(out, a, seconds, audio, tone_hz)
    return path


def _drift(picture: np.ndarray, i: int, width: int, height: int) -> np.ndarray:
    """A window that pans slowly across the picture."""
    import cv2
    h, w = picture.shape[:2]
    cw, ch = int(w * 0.8), int(h * 0.8)
    x = int((w - cw) * (0.5 + 0.5 * np.sin(i / 20)))
    y = (h - ch) // 2
    return cv2.resize(np.ascontiguousarray(picture[y:y + ch, x:x + cw]), (width, height),
                      interpolation=cv2.INTER_AREA)


def _write_audio(out, stream, seconds: float, kind: str, tone_hz: float) -> None:
    rate = 48000
    t = np.arange(int(seconds * rate)) / rate
    if kind == "tone":
        wave = 0.5 * np.sin(2 * np.pi * tone_hz * t)
    elif kind == "silence":
        wave = np.zeros_like(t)
    else:
        raise ValueError(kind)
    wave = wave.astype(np.float32)
    chunk = 1024
    for start in range(0, len(wave), chunk):
        piece = wave[start:start + chunk]
        frame = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def make_audio_only(path: Path, seconds: float = 2.0) -> Path:
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=48000)
        a.layout = "mono"
        _write_audio(out, a, seconds, "tone", 1000.0)
    return Path(path)


def make_long_clip(path: Path, seconds: int, width: int = 320, height: int = 240,
                   fps: int = 1, audio: bool = True) -> Path:
    """A long file that encodes fast: a still picture with a small square that moves each
    second (H.264, x264's still-image tuning, keyframes every 250 frames) and a 440 Hz
    sine at 16 kHz (AAC), interleaved second by second as a recorder writes them."""
    rate = 16000
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"preset": "ultrafast", "tune": "stillimage"}
        a = None
        if audio:
            a = out.add_stream("aac", rate=rate)
            a.layout, a.bit_rate = "mono", 16000
        base = np.full((height, width, 3), 96, np.uint8)
        base[: height // 2] = (40, 90, 160)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
        sent = 0
        for second in range(seconds):
            for i in range(fps):
                img = base.copy()
                x = (second * 7) % (width - 16)
                img[height // 2: height // 2 + 16, x:x + 16] = (220, 40, 40)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = second * fps + i
                frame.time_base = Fraction(1, fps)
                for packet in v.encode(frame):
                    out.mux(packet)
            if a is not None:
                for start in range(0, rate, 1024):
                    piece = tone[start:start + 1024]
                    af = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="flt",
                                                    layout="mono")
                    af.sample_rate, af.pts, af.time_base = rate, sent, Fraction(1, rate)
                    sent += len(piece)
                    for packet in a.encode(af):
                        out.mux(packet)
        for stream in [v] + ([a] if a is not None else []):
            for packet in stream.encode():
                out.mux(packet)
    return Path(path)
