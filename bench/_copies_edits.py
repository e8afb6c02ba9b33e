"""Picture, sound and container edits for bench/copies.py, with PyAV and OpenCV only.

Each edit is what people really do to a clip they copy: a phone's vertical reframe, a
screen recording of a player window, a rotation, picture-in-picture or a collage, heavy
crops, burned-in subtitles, logos, borders, blur, a 4x upscale of a tiny copy with
noise, a quarter-size copy at a very low bitrate, MPEG-4 Part 2 in AVI, brightness
changes, sound removed or replaced with music. Everything is deterministic for a given
seed. Encoders run with one thread each (the bench machine is shared).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

AUDIO_RATE = 48000
MAX_WIDTH = 640


# ---- sources -------------------------------------------------------------------------
@dataclass
class Clip:
    """Decoded footage: RGB frames at a constant rate, stereo float32 sound or None."""

    frames: list[np.ndarray]
    fps: float
    audio: np.ndarray | None  # (2, n) at AUDIO_RATE

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps

    def cut(self, start: float, end: float) -> Clip:
        i0 = int(round(start * self.fps))
        i1 = max(i0 + 1, int(round(end * self.fps)))
        audio = None
        if self.audio is not None:
            audio = self.audio[:, int(round(start * AUDIO_RATE)):int(round(end * AUDIO_RATE))]
        return Clip(self.frames[i0:i1], self.fps, audio)


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def decode(path: str | Path, max_width: int = MAX_WIDTH) -> Clip:
    """All frames (scaled to at most ``max_width`` wide, even sizes) and the sound."""
    frames: list[np.ndarray] = []
    audio_parts: list[np.ndarray] = []
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v.thread_type = "NONE"
        fps = float(v.average_rate)
        w, h = v.codec_context.width, v.codec_context.height
        scale = min(1.0, max_width / w)
        ow, oh = _even(w * scale), _even(h * scale)
        for frame in c.decode(v):
            frames.append(frame.to_ndarray(format="rgb24", width=ow, height=oh))
    with av.open(str(path)) as c:
        if c.streams.audio:
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
            for frame in c.decode(c.streams.audio[0]):
                for out in resampler.resample(frame):
                    audio_parts.append(out.to_ndarray())
            for out in resampler.resample(None):
                audio_parts.append(out.to_ndarray())
    audio = np.concatenate(audio_parts, axis=1).astype(np.float32) if audio_parts else None
    return Clip(frames, fps, audio)


# ---- sound ---------------------------------------------------------------------------
def music(seconds: float, seed: int) -> np.ndarray:
    """A music-like stereo signal: chords, a bass line, kick and hi-hat on a tempo."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * AUDIO_RATE))
    t = np.arange(n) / AUDIO_RATE
    bpm = float(rng.uniform(92, 132))
    beat = 60.0 / bpm
    root = 110.0 * 2 ** (int(rng.integers(0, 12)) / 12)
    progression = [(0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12)]  # I V vi IV
    out = np.zeros(n, np.float64)
    bar = 4 * beat
    for k in range(int(seconds / bar) + 1):
        chord = progression[k % 4]
        a, b = int(k * bar * AUDIO_RATE), min(n, int((k + 1) * bar * AUDIO_RATE))
        if a >= n:
            break
        tt = t[a:b] - k * bar
        env = np.minimum(1.0, tt / 0.05) * np.exp(-tt / (2.5 * bar))
        for semi in chord:
            f = root * 2 * 2 ** (semi / 12)
            out[a:b] += 0.07 * env * (np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt))
        f_bass = root * 2 ** (chord[0] / 12) / 2
        out[a:b] += 0.12 * np.sin(2 * np.pi * f_bass * tt) * np.exp(-(tt % beat) / 0.4)
    for j in range(int(seconds / beat) + 1):
        a = int(j * beat * AUDIO_RATE)
        if a >= n:
            break
        length = min(n - a, int(0.25 * AUDIO_RATE))
        tt = np.arange(length) / AUDIO_RATE
        if j % 2 == 0:  # kick
            out[a:a + length] += 0.35 * np.sin(2 * np.pi * (50 + 90 * np.exp(-tt / 0.03)) * tt) * np.exp(-tt / 0.12)
        h = int(a + beat / 2 * AUDIO_RATE)
        hl = min(max(0, n - h), int(0.05 * AUDIO_RATE))
        if hl > 0:  # hi-hat on the off-beat
            out[h:h + hl] += 0.08 * rng.normal(0, 1, hl) * np.exp(-np.arange(hl) / (0.01 * AUDIO_RATE))
    out += rng.normal(0, 0.003, n)
    left, right = out, 0.85 * out + 0.15 * np.roll(out, 240)
    return np.clip(np.stack([left, right]), -1, 1).astype(np.float32)


# ---- pictures --------------------------------------------------------------------------
FONT = cv2.FONT_HERSHEY_SIMPLEX
WORDS = ("holiday", "recipe", "review", "unboxing", "weekly", "update", "live", "news",
         "travel", "vlog", "tips", "guide", "best", "moments", "highlights", "part", "music",
         "cover", "tutorial", "reaction", "garden", "city", "walk", "morning", "evening",
         "family", "birthday", "match", "goal", "trailer", "official", "remix", "episode")
SUBTITLES = ("I told you we should have left earlier.", "Where are we going now?",
             "Look at that, over there!", "It's going to rain again.", "Just wait a second.",
             "Nobody knows what happened next.", "We'll be back after the break.",
             "That's exactly what I meant.", "[music playing]", "Are you recording this?",
             "Don't forget to subscribe!", "This is the best part.")


def _text(img, text, org, scale, color, thick=1, outline=None):
    if outline is not None:
        cv2.putText(img, text, org, FONT, scale, outline, thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, FONT, scale, color, thick, cv2.LINE_AA)


def _words(rng, k):
    return " ".join(WORDS[int(i)] for i in rng.integers(len(WORDS), size=k))


def fit(img: np.ndarray, box_w: int, box_h: int) -> np.ndarray:
    """``img`` scaled to fit inside box_w x box_h, keeping its shape."""
    h, w = img.shape[:2]
    s = min(box_w / w, box_h / h)
    return cv2.resize(img, (max(2, int(w * s)), max(2, int(h * s))), interpolation=cv2.INTER_AREA)


def vertical(img: np.ndarray) -> np.ndarray:
    """A phone's vertical reframe: the middle 9:16 slice, upright, at 360x640."""
    h, w = img.shape[:2]
    cw = min(w, int(round(h * 9 / 16)))
    x0 = (w - cw) // 2
    return cv2.resize(img[:, x0:x0 + cw], (360, 640), interpolation=cv2.INTER_LINEAR)


def rotate(img: np.ndarray, degrees: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(img, k=-(degrees // 90)))  # clockwise


def crop(img: np.ndarray, frac: float, fx: float, fy: float) -> np.ndarray:
    """Keep ``frac`` of the width and height, placed at (fx, fy) in the free room."""
    h, w = img.shape[:2]
    cw, ch = _even(w * frac), _even(h * frac)
    x0, y0 = int((w - cw) * fx), int((h - ch) * fy)
    return img[y0:y0 + ch, x0:x0 + cw]


def border(img: np.ndarray, frac: float, color: tuple[int, int, int], blurred: bool) -> np.ndarray:
    """A frame around the picture (solid colour, or the picture itself blurred behind)."""
    h, w = img.shape[:2]
    bw, bh = _even(w * frac), _even(h * frac)
    W, H = w + 2 * bw, h + 2 * bh
    if blurred:
        canvas = cv2.GaussianBlur(cv2.resize(img, (W, H)), (0, 0), 12)
        canvas = (canvas * 0.7).astype(np.uint8)
    else:
        canvas = np.empty((H, W, 3), np.uint8)
        canvas[:] = color
    canvas[bh:bh + h, bw:bw + w] = img
    if max(W, H) > MAX_WIDTH:
        canvas = fit(canvas, MAX_WIDTH, MAX_WIDTH)
        canvas = canvas[:canvas.shape[0] // 2 * 2, :canvas.shape[1] // 2 * 2]
    return canvas


def blur(img: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), max(2.0, img.shape[1] / 90))


def upscale_noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A quarter-size copy blown up 4x (bicubic), with sensor-like noise."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(2, w // 4), max(2, h // 4)), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    noise = rng.normal(0, 9, (h, w, 1)).astype(np.int16)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def brightness(img: np.ndarray, brighter: bool) -> np.ndarray:
    f = img.astype(np.float32) / 255
    f = f ** 0.55 * 1.05 + 0.08 if brighter else f ** 1.3 * 0.45
    return np.clip(f * 255, 0, 255).astype(np.uint8)


def subtitles(img: np.ndarray, t: float, seed: int) -> np.ndarray:
    out = img.copy()
    h, w = out.shape[:2]
    rng = np.random.default_rng((seed, int(t // 2.2)))
    line = SUBTITLES[int(rng.integers(len(SUBTITLES)))]
    scale = max(0.35, w / 900)
    (tw, th), _ = cv2.getTextSize(line, FONT, scale, 1)
    if tw > w * 0.92:
        scale *= w * 0.92 / tw
        (tw, th), _ = cv2.getTextSize(line, FONT, scale, 1)
    _text(out, line, ((w - tw) // 2, int(h * 0.92)), scale, (255, 255, 255), 1, (0, 0, 0))
    return out


def logo(img: np.ndarray, seed: int) -> np.ndarray:
    """A channel logo in a corner (semi-opaque badge with letters) and a handle."""
    rng = np.random.default_rng(seed)
    out = img.copy()
    h, w = out.shape[:2]
    size = max(24, int(min(w, h) * 0.16))
    corner = int(rng.integers(4))
    x = 8 if corner in (0, 2) else w - size - 8
    y = 8 if corner in (0, 1) else h - size - 8
    color = tuple(int(c) for c in rng.integers(40, 255, 3))
    badge = out.copy()
    cv2.rectangle(badge, (x, y), (x + size, y + size), color, -1)
    cv2.circle(badge, (x + size // 2, y + size // 2), size // 3, (255, 255, 255), 2)
    out = cv2.addWeighted(badge, 0.65, out, 0.35, 0)
    letters = "".join(chr(65 + int(i)) for i in rng.integers(26, size=2))
    _text(out, letters, (x + size // 5, y + size * 2 // 3), size / 60, (255, 255, 255), 1)
    handle = "@" + _words(rng, 1) + str(int(rng.integers(10, 99)))
    hx = w - 8 - cv2.getTextSize(handle, FONT, 0.4, 1)[0][0] if corner in (0, 2) else 8
    hy = h - 10 if corner in (0, 1) else 18
    _text(out, handle, (hx, hy), 0.4, (235, 235, 235), 1, (30, 30, 30))
    return out


class ScreenRecording:
    """A desktop with a media player window: the clip at ~60% of the frame's width,
    a title bar, playback controls, an "up next" list of unrelated text and pictures
    beside it, and a mouse pointer drifting about. 640x360."""

    W, H = 640, 360

    def __init__(self, seed: int, seconds: float, photos: list[np.ndarray]):
        rng = np.random.default_rng(seed)
        self.seconds = seconds
        W, H = self.W, self.H
        base = np.empty((H, W, 3), np.uint8)
        top, bottom = rng.integers(20, 90, 3), rng.integers(0, 50, 3)
        for y in range(H):
            base[y] = (top + (bottom - top) * y / H).astype(np.uint8)
        theme = int(rng.integers(2))
        win_bg, fg = ((245, 245, 245), (30, 30, 30)) if theme == 0 else ((38, 38, 42), (220, 220, 220))
        cv2.rectangle(base, (6, 6), (W - 6, H - 22), win_bg, -1)
        cv2.rectangle(base, (6, 6), (W - 6, 26), (70, 90, 140) if theme == 0 else (20, 20, 24), -1)
        title = f"{_words(rng, 2).title()} - {_words(rng, 1)}_{int(rng.integers(100, 9999))}.mp4 - Media Player"
        _text(base, title, (14, 21), 0.42, (255, 255, 255), 1)
        for k, sym in enumerate(("_", "o", "x")):
            _text(base, sym, (W - 60 + 18 * k, 21), 0.45, (255, 255, 255), 1)
        cv2.rectangle(base, (0, H - 20), (W, H), (25, 25, 30), -1)  # task bar
        _text(base, f"12:{int(rng.integers(60)):02d}", (W - 52, H - 6), 0.4, (220, 220, 220), 1)
        for k in range(5):
            cv2.rectangle(base, (8 + 24 * k, H - 17), (26 + 24 * k, H - 3),
                          tuple(int(c) for c in rng.integers(60, 230, 3)), -1)
        # The video area and the side bar.
        self.vx, self.vy, self.vw, self.vh = 14, 32, int(W * 0.6), 270
        sx = self.vx + self.vw + 12
        _text(base, "Up next", (sx, 46), 0.5, fg, 1)
        for k in range(4):
            y = 58 + 62 * k
            photo = photos[int(rng.integers(len(photos)))]
            ph, pw = photo.shape[:2]
            oy, ox = int(rng.integers(max(1, ph // 2))), int(rng.integers(max(1, pw // 2)))
            thumb = cv2.resize(photo[oy:oy + ph // 2, ox:ox + pw // 2], (80, 48))
            base[y:y + 48, sx:sx + 80] = thumb
            _text(base, _words(rng, 2), (sx + 86, y + 14), 0.36, fg, 1)
            _text(base, _words(rng, 1), (sx + 86, y + 30), 0.36, fg, 1)
            _text(base, f"{int(rng.integers(1, 999))}K views", (sx + 86, y + 44), 0.32, (128, 128, 128), 1)
        _text(base, _words(rng, 3), (14, H - 30), 0.4, fg, 1)
        self.base = base
        self.fg = fg
        self.mouse = [(float(rng.uniform(50, W - 50)), float(rng.uniform(50, H - 60))) for _ in range(3)]

    def frame(self, img: np.ndarray, t: float) -> np.ndarray:
        out = self.base.copy()
        pic = fit(img, self.vw, self.vh - 26)
        ph, pw = pic.shape[:2]
        cv2.rectangle(out, (self.vx, self.vy), (self.vx + self.vw, self.vy + self.vh), (0, 0, 0), -1)
        x = self.vx + (self.vw - pw) // 2
        y = self.vy + (self.vh - 26 - ph) // 2
        out[y:y + ph, x:x + pw] = pic
        # Controls: play symbol, progress bar, time.
        cy = self.vy + self.vh - 13
        cv2.fillPoly(out, [np.array([(self.vx + 8, cy - 6), (self.vx + 8, cy + 6), (self.vx + 18, cy)])],
                     (230, 230, 230))
        x0, x1 = self.vx + 28, self.vx + self.vw - 90
        cv2.line(out, (x0, cy), (x1, cy), (110, 110, 110), 3)
        u = min(1.0, t / max(1e-6, self.seconds))
        cv2.line(out, (x0, cy), (int(x0 + (x1 - x0) * u), cy), (220, 40, 40), 3)
        _text(out, f"{int(t // 60)}:{int(t % 60):02d} / {int(self.seconds // 60)}:{int(self.seconds % 60):02d}",
              (x1 + 6, cy + 4), 0.34, (230, 230, 230), 1)
        # The mouse pointer, gliding between three places.
        k = (t / 2.0) % 3
        (ax, ay), (bx, by) = self.mouse[int(k)], self.mouse[(int(k) + 1) % 3]
        f = k - int(k)
        mx, my = int(ax + (bx - ax) * f), int(ay + (by - ay) * f)
        arrow = np.array([(mx, my), (mx, my + 14), (mx + 4, my + 10), (mx + 9, my + 11)])
        cv2.fillPoly(out, [arrow], (255, 255, 255))
        cv2.polylines(out, [arrow], True, (0, 0, 0), 1)
        return out


class PictureInPicture:
    """The clip at half to two thirds of the width over another moving clip (synthetic
    footage from photographs, see _media.py) or over a collage of photographs."""

    def __init__(self, seed: int, photos: list[np.ndarray], collage: bool, frac: float):
        rng = np.random.default_rng(seed)
        self.collage = collage
        self.frac = frac
        self.W, self.H = (640, 480) if collage else (640, 360)
        self.fx, self.fy = float(rng.uniform()), float(rng.uniform())
        if collage:
            base = cv2.GaussianBlur(cv2.resize(photos[int(rng.integers(len(photos)))], (self.W, self.H)), (0, 0), 6)
            for _ in range(4):  # other pictures of the collage, some under the clip
                photo = photos[int(rng.integers(len(photos)))]
                tw = int(self.W * rng.uniform(0.25, 0.4))
                tile = fit(photo, tw, tw)
                th, tw = tile.shape[:2]
                x, y = int(rng.integers(0, self.W - tw)), int(rng.integers(0, self.H - th))
                cv2.rectangle(base, (x - 3, y - 3), (x + tw + 2, y + th + 2), (250, 250, 250), -1)
                base[y:y + th, x:x + tw] = tile
            self.base = base
            self.painter = None
        else:
            from _media import ClipSpec, _Painter, plan_scenes
            spec = ClipSpec(name="bg", width=self.W, height=self.H, seconds=60.0, keyint=60,
                            bframes=0, scenecut=False, seed=int(rng.integers(1 << 30)))
            self.painter = _Painter(spec, plan_scenes(spec))
            self.t0 = float(rng.uniform(0, 40))

    def frame(self, img: np.ndarray, t: float) -> np.ndarray:
        if self.painter is not None:
            out = self.painter.frame(int(round((self.t0 + t) * 30)))
        else:
            out = self.base.copy()
        pic = fit(img, int(self.W * self.frac), int(self.H * 0.92))
        ph, pw = pic.shape[:2]
        x = 6 + int((self.W - pw - 12) * self.fx)
        y = 6 + int((self.H - ph - 12) * self.fy)
        cv2.rectangle(out, (x - 2, y - 2), (x + pw + 1, y + ph + 1), (255, 255, 255), -1)
        out[y:y + ph, x:x + pw] = pic
        return out


# ---- encoding --------------------------------------------------------------------------
@dataclass
class Encoding:
    container: str = "mp4"  # mp4 | mkv | avi
    vcodec: str = "libx264"  # libx264 | mpeg4
    crf: int = 20
    bit_rate: int | None = None  # video bit rate (bit/s) instead of a crf
    audio_bit_rate: int = 128000
    creation_time: str | None = None


def encode(path: Path, frames, fps: float, size: tuple[int, int], audio: np.ndarray | None,
           enc: Encoding) -> None:
    """Write ``frames`` (an iterable of RGB arrays of ``size`` = (w, h)) and ``audio``.
    Written under a temporary name, then renamed."""
    part = path.with_name(path.name + ".part")
    rate = Fraction(fps).limit_denominator(1001)
    fmt = {"mp4": "mp4", "mkv": "matroska", "avi": "avi"}[enc.container]
    # Matroska writes a random segment UID and the date unless asked to be bit-exact.
    options = {"fflags": "+bitexact"} if fmt == "matroska" else {}
    with av.open(str(part), "w", format=fmt, options=options) as out:
        if enc.creation_time:
            out.metadata["creation_time"] = enc.creation_time
        v = out.add_stream(enc.vcodec, rate=rate)
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        v.codec_context.thread_count = 1
        if enc.vcodec == "libx264":
            params = f"threads=1:lookahead-threads=1:keyint={int(round(2 * fps))}"
            v.options = {"preset": "veryfast", "x264-params": params}
            if enc.bit_rate:
                v.codec_context.bit_rate = enc.bit_rate
            else:
                v.options = {**v.options, "crf": str(enc.crf)}
        else:
            v.codec_context.bit_rate = enc.bit_rate or 700000
            v.codec_context.gop_size = int(round(fps * 2))
            try:
                v.codec_tag = "XVID"
            except Exception:  # noqa: BLE001 - the default tag is fine too
                pass
        a = None
        if audio is not None:
            a = out.add_stream("libmp3lame" if enc.container == "avi" else "aac", rate=AUDIO_RATE)
            a.layout = "stereo"
            a.bit_rate = enc.audio_bit_rate
        n_frames = 0
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1) / rate
            for packet in v.encode(frame):
                out.mux(packet)
            n_frames += 1
        for packet in v.encode():
            out.mux(packet)
        if a is not None:
            samples = audio[:, :int(round(n_frames / fps * AUDIO_RATE))]
            block = a.codec_context.frame_size or 1152
            pos = 0
            while pos < samples.shape[1]:
                chunk = np.ascontiguousarray(samples[:, pos:pos + block])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate = AUDIO_RATE
                frame.pts = pos
                frame.time_base = Fraction(1, AUDIO_RATE)
                for packet in a.encode(frame):
                    out.mux(packet)
                pos += block
            for packet in a.encode():
                out.mux(packet)
    os.replace(part, path)


def retime(frames: list[np.ndarray], fps_in: float, fps_out: float, seconds: float):
    """The frames shown at ``fps_out`` over ``seconds`` (nearest earlier input frame)."""
    n = max(1, int(math.floor(seconds * fps_out + 1e-6)))
    for i in range(n):
        yield frames[min(len(frames) - 1, int(i / fps_out * fps_in + 1e-6))]
