"""Realistic benchmark clips, encoded with PyAV: H.264 (libx264) video + AAC audio.

The pictures are not trivially compressible: real photographs from scikit-image's data
module, panned and zoomed over time (Ken Burns), with a second photograph moving across
the frame, hand-held shake, slow exposure drift, hard cuts between scenes and temporal
sensor-like noise. The soundtrack has tone chords with vibrato, a noise bed, noise bursts
(claps, knocks) and speech-like modulated harmonics. Audio and video are interleaved as a
camera writes them.

Everything is deterministic for a given ``ClipSpec``; generation time is not measured.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_left
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

FPS = 30
AUDIO_RATE = 48000
AUDIO_BLOCK = 1024  # one AAC frame
GENERATOR_VERSION = 1  # bump when the pictures or sound change: invalidates the cache

COLOR_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                "immunohistochemistry", "retina", "colorwheel")
GRAY_IMAGES = ("camera", "coins", "moon", "grass", "gravel", "brick")
# Natural textures that give the pictures full-resolution detail moving with the pan.
TEXTURES = ("grass", "gravel", "brick", "camera", "moon", "coins", "hubble_deep_field",
            "astronaut", "coffee", "rocket", "chelsea")


@dataclass(frozen=True)
class ClipSpec:
    name: str  # file name without extension
    width: int
    height: int
    seconds: float
    keyint: int  # frames between keyframes (GOP)
    bframes: int
    scenecut: bool  # let x264 put extra keyframes at cuts
    seed: int
    preset: str = "veryfast"
    crf: int = 23

    @property
    def filename(self) -> str:
        return f"{self.name}.mp4"

    def as_dict(self) -> dict:
        return {**asdict(self), "version": GENERATOR_VERSION}


# ---- pictures ----------------------------------------------------------------------
_IMAGES: list[np.ndarray] | None = None


def source_images() -> list[np.ndarray]:
    global _IMAGES
    if _IMAGES is None:
        from skimage import data
        images = [np.ascontiguousarray(getattr(data, n)()[..., :3]) for n in COLOR_IMAGES]
        for n in GRAY_IMAGES:
            g = getattr(data, n)()
            images.append(np.ascontiguousarray(np.repeat(g[..., None], 3, axis=2)))
        _IMAGES = images
    return _IMAGES


def _detail_sheet(width: int, height: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A (2h x 2w) mosaic of high-passed natural textures, split into +/- uint8 layers."""
    from skimage import data
    rng = np.random.default_rng(seed)
    textures = []
    for name in TEXTURES:
        img = getattr(data, name)()
        if img.ndim == 3:
            img = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY)
        textures.append(img)
    sheet = np.zeros((2 * height, 2 * width), np.uint8)
    tile = max(128, height // 3)
    for y in range(0, 2 * height, tile):
        for x in range(0, 2 * width, tile):
            tex = textures[int(rng.integers(len(textures)))]
            th, tw = tex.shape[:2]
            oy, ox = int(rng.integers(max(1, th - tile))), int(rng.integers(max(1, tw - tile)))
            patch = tex[oy:oy + tile, ox:ox + tile]
            if patch.shape[:2] != (tile, tile):
                patch = cv2.resize(patch, (tile, tile))
            hh, ww = min(tile, 2 * height - y), min(tile, 2 * width - x)
            sheet[y:y + hh, x:x + ww] = patch[:hh, :ww]
    f = sheet.astype(np.float32)
    high = np.clip(0.8 * (f - cv2.GaussianBlur(f, (0, 0), 2.5)), -32, 32)
    high = np.repeat(high[..., None], 3, axis=2)
    return np.clip(high, 0, 255).astype(np.uint8), np.clip(-high, 0, 255).astype(np.uint8)


@dataclass
class _Scene:
    start: float
    end: float
    image: int
    sprite: int
    zoom: tuple[float, float]  # fraction of the largest 16:9 window, at start and end
    center: tuple[tuple[float, float], tuple[float, float]]  # relative, start and end
    sprite_path: tuple[float, float, float]  # phase, speed, vertical level
    tone: float  # base frequency of the scene's chord (Hz)
    speech: bool


def plan_scenes(spec: ClipSpec) -> list[_Scene]:
    rng = np.random.default_rng(spec.seed)
    n_images = len(source_images())
    scenes: list[_Scene] = []
    t = 0.0
    scale = (220.0, 247.0, 262.0, 294.0, 330.0, 392.0, 440.0, 523.0)
    while t < spec.seconds:
        length = float(rng.uniform(6.0, 24.0))
        end = min(spec.seconds, t + length)
        if spec.seconds - end < 3.0:
            end = spec.seconds
        image = int(rng.integers(n_images))
        sprite = int((image + 1 + rng.integers(n_images - 1)) % n_images)
        scenes.append(_Scene(
            start=t, end=end, image=image, sprite=sprite,
            zoom=(float(rng.uniform(0.55, 1.0)), float(rng.uniform(0.55, 1.0))),
            center=((float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7))),
                    (float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7)))),
            sprite_path=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.05, 0.2)),
                         float(rng.uniform(0.2, 0.6))),
            tone=float(scale[int(rng.integers(len(scale)))]),
            speech=bool(rng.random() < 0.4)))
        t = end
    return scenes


class _Painter:
    """Renders frame ``i`` of a clip as an RGB array of the clip's size."""

    NOISE_FIELDS = 4
    NOISE_MARGIN = 32

    def __init__(self, spec: ClipSpec, scenes: list[_Scene]):
        self.spec = spec
        self.scenes = scenes
        self.starts = [s.start for s in scenes]
        self.images = source_images()
        rng = np.random.default_rng(spec.seed + 1)
        w, h, m = spec.width, spec.height, self.NOISE_MARGIN
        self.noise_pos: list[np.ndarray] = []
        self.noise_neg: list[np.ndarray] = []
        for _ in range(self.NOISE_FIELDS):
            n = rng.normal(0.0, 4.0, (h + m, w + m, 3))
            self.noise_pos.append(np.clip(n, 0, 255).astype(np.uint8))
            self.noise_neg.append(np.clip(-n, 0, 255).astype(np.uint8))
        self.rng = rng
        self.detail_pos, self.detail_neg = _detail_sheet(w, h, spec.seed + 3)
        self._sprite_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _sprite(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index not in self._sprite_cache:
            img = self.images[index]
            side = self.spec.height // 3
            h, w = img.shape[:2]
            sw = max(2, int(round(side * w / h)))
            sprite = cv2.resize(img, (sw, side), interpolation=cv2.INTER_AREA)
            mask = np.zeros((side, sw), np.uint8)
            cv2.ellipse(mask, (sw // 2, side // 2), (sw // 2 - 2, side // 2 - 2), 0, 0, 360, 255, -1)
            self._sprite_cache[index] = (sprite, mask.astype(bool))
        return self._sprite_cache[index]

    def frame(self, i: int) -> np.ndarray:
        spec = self.spec
        t = i / FPS
        scene = self.scenes[max(0, bisect_left(self.starts, t + 1e-9) - 1)]
        u = (t - scene.start) / max(1e-6, scene.end - scene.start)
        src = self.images[scene.image]
        sh, sw = src.shape[:2]
        W, H = spec.width, spec.height
        # Largest 16:9 window inside the source, zoomed in by the scene's factor.
        full_w = min(sw, sh * W / H)
        zoom = scene.zoom[0] + (scene.zoom[1] - scene.zoom[0]) * u
        cw = full_w * zoom
        ch = cw * H / W
        (cx0, cy0), (cx1, cy1) = scene.center
        # Hand-held shake: a few source pixels, smooth in time, plus a tiny rotation.
        shake_x = 0.004 * cw * (math.sin(t * 7.1) + 0.5 * math.sin(t * 13.3 + 1.0))
        shake_y = 0.004 * ch * (math.sin(t * 6.3 + 2.0) + 0.5 * math.sin(t * 11.7))
        cx = (cx0 + (cx1 - cx0) * u) * sw + shake_x
        cy = (cy0 + (cy1 - cy0) * u) * sh + shake_y
        cx = min(max(cx, cw / 2), sw - cw / 2)
        cy = min(max(cy, ch / 2), sh - ch / 2)
        angle = 0.01 * math.sin(t * 0.9)
        s = cw / W
        ca, sa = math.cos(angle) * s, math.sin(angle) * s
        # Inverse map: destination pixel -> source pixel.
        m = np.array([[ca, -sa, cx - ca * W / 2 + sa * H / 2],
                      [sa, ca, cy - sa * W / 2 - ca * H / 2]], np.float64)
        img = cv2.warpAffine(src, m, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT)
        # A second photograph (elliptical) crossing the frame.
        sprite, mask = self._sprite(scene.sprite)
        ph, pw = sprite.shape[:2]
        phase, speed, level = scene.sprite_path
        x = int((W + pw) * ((phase / (2 * np.pi) + speed * (t - scene.start)) % 1.0)) - pw
        y = int(H * level + 0.1 * H * math.sin(t * 1.3 + phase))
        y = min(max(y, 0), H - ph)
        x0, x1 = max(0, x), min(W, x + pw)
        if x1 > x0:
            region = img[y:y + ph, x0:x1]
            sub = mask[:, x0 - x:x1 - x]
            region[sub] = sprite[:, x0 - x:x1 - x][sub]
        # Full-resolution texture that travels with the pan (triangle wave over the sheet).
        px, py = cx / s, cy / s
        dx = int(abs((px + 97 * scene.image) % (2 * W) - W))
        dy = int(abs((py + 53 * scene.image) % (2 * H) - H))
        img = cv2.add(img, self.detail_pos[dy:dy + H, dx:dx + W])
        img = cv2.subtract(img, self.detail_neg[dy:dy + H, dx:dx + W])
        # Slow exposure drift.
        gain = 1.0 + 0.06 * math.sin(t * 0.7 + scene.image)
        img = cv2.convertScaleAbs(img, alpha=gain, beta=0)
        # Temporal noise: a random crop of one of a few fields, added with saturation.
        k = int(self.rng.integers(self.NOISE_FIELDS))
        ox, oy = (int(v) for v in self.rng.integers(0, self.NOISE_MARGIN, 2))
        img = cv2.add(img, self.noise_pos[k][oy:oy + H, ox:ox + W])
        k2 = int(self.rng.integers(self.NOISE_FIELDS))
        return cv2.subtract(img, self.noise_neg[k2][oy:oy + H, ox:ox + W])


# ---- sound -------------------------------------------------------------------------
class _Soundtrack:
    """Stereo float32 blocks of the clip's soundtrack, rendered on demand."""

    BURST_MAX = int(0.3 * AUDIO_RATE)

    def __init__(self, spec: ClipSpec, scenes: list[_Scene]):
        self.spec = spec
        self.scenes = scenes
        self.starts = [s.start for s in scenes]
        rng = np.random.default_rng(spec.seed + 2)
        bursts = []
        t = float(rng.exponential(3.0))
        while t < spec.seconds:
            bursts.append((int(t * AUDIO_RATE), int(rng.uniform(0.06, 0.3) * AUDIO_RATE),
                           float(rng.uniform(0.2, 0.6)), int(rng.integers(1 << 30))))
            t += float(rng.exponential(3.0))
        self.bursts = bursts
        self.burst_starts = [b[0] for b in bursts]
        self._burst_waves: dict[int, np.ndarray] = {}

    def _burst(self, j: int) -> np.ndarray:
        if j not in self._burst_waves:
            _, length, amp, seed = self.bursts[j]
            r = np.random.default_rng(seed)
            env = np.exp(-np.arange(length) / (length / 5))
            wave = r.normal(0.0, 1.0, length) * env * amp
            # A knock has a low body under the click.
            wave += amp * 0.5 * np.sin(2 * np.pi * r.uniform(80, 200) * np.arange(length)
                                       / AUDIO_RATE) * env
            self._burst_waves[j] = wave.astype(np.float32)
            if len(self._burst_waves) > 64:
                self._burst_waves.pop(next(iter(self._burst_waves)))
        return self._burst_waves[j]

    def block(self, start: int, n: int) -> np.ndarray:
        t = (start + np.arange(n)) / AUDIO_RATE
        t0 = start / AUDIO_RATE
        scene = self.scenes[max(0, bisect_left(self.starts, t0 + 1e-9) - 1)]
        f = scene.tone
        vib = 1.0 + 0.004 * np.sin(2 * np.pi * 5.0 * t)
        phase = 2 * np.pi * f * t * vib
        # Fade in/out at scene edges (0.2 s).
        edge = np.minimum(t - scene.start, scene.end - t)
        fade = np.clip(edge / 0.2, 0.0, 1.0)
        tones = (0.12 * np.sin(phase) + 0.06 * np.sin(1.5 * phase) + 0.04 * np.sin(2 * phase))
        tones *= (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t + scene.image)) * fade
        if scene.speech:
            # Syllable-rate amplitude modulation over a harmonic series ~ a voice.
            syll = np.clip(np.sin(2 * np.pi * 4.0 * t + np.sin(2 * np.pi * 0.7 * t)), 0, 1) ** 2
            pitch = 2 * np.pi * (120 + 20 * np.sin(2 * np.pi * 0.5 * t)) * t
            voice = sum(np.sin(k * pitch) / k for k in range(1, 9))
            tones = 0.4 * tones + 0.15 * syll * voice * fade
        r = np.random.default_rng((self.spec.seed, start))
        bed = r.normal(0.0, 0.015, (2, n))
        left = tones + bed[0]
        right = 0.9 * tones + bed[1]
        lo = bisect_left(self.burst_starts, start - self.BURST_MAX)
        hi = bisect_left(self.burst_starts, start + n)
        for j in range(lo, hi):
            b0 = self.bursts[j][0]
            wave = self._burst(j)
            a, b = max(start, b0), min(start + n, b0 + len(wave))
            if b > a:
                piece = wave[a - b0:b - b0]
                left[a - start:b - start] += piece
                right[a - start:b - start] += 0.7 * piece
        return np.clip(np.stack([left, right]), -1.0, 1.0).astype(np.float32)


# ---- encoding ----------------------------------------------------------------------
def make_clip(spec: ClipSpec, folder: str | Path) -> Path:
    """Encode ``spec`` into ``folder``; written under a temporary name, then renamed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / spec.filename
    part = folder / (spec.filename + ".part")
    scenes = plan_scenes(spec)
    painter = _Painter(spec, scenes)
    sound = _Soundtrack(spec, scenes)
    params = [f"keyint={spec.keyint}", f"bframes={spec.bframes}"]
    if spec.scenecut:
        params.append(f"min-keyint={max(1, min(FPS, spec.keyint // 10))}")
    else:
        params += [f"min-keyint={spec.keyint}", "scenecut=0"]
    with av.open(str(part), "w", format="mp4") as out:
        out.metadata["creation_time"] = "2024-06-01T10:00:00.000000Z"
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = spec.width, spec.height, "yuv420p"
        v.codec_context.gop_size = spec.keyint
        v.options = {"preset": spec.preset, "crf": str(spec.crf), "x264-params": ":".join(params)}
        a = out.add_stream("aac", rate=AUDIO_RATE)
        a.layout = "stereo"
        a.bit_rate = 128000
        n_frames = int(round(spec.seconds * FPS))
        n_samples = int(round(spec.seconds * AUDIO_RATE))
        audio_pos = 0

        def audio_until(limit: int) -> None:
            nonlocal audio_pos
            while audio_pos < min(limit, n_samples):
                n = min(AUDIO_BLOCK, n_samples - audio_pos)
                frame = av.AudioFrame.from_ndarray(sound.block(audio_pos, n), format="fltp",
                                                   layout="stereo")
                frame.sample_rate = AUDIO_RATE
                frame.pts = audio_pos
                frame.time_base = Fraction(1, AUDIO_RATE)
                for packet in a.encode(frame):
                    out.mux(packet)
                audio_pos += n

        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(painter.frame(i), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for packet in v.encode(frame):
                out.mux(packet)
            audio_until((i + 1) * AUDIO_RATE // FPS)
        for packet in v.encode():
            out.mux(packet)
        audio_until(n_samples)
        for packet in a.encode():
            out.mux(packet)
    os.replace(part, final)
    return final


def keyframe_intervals(path: str | Path) -> tuple[float, float, int]:
    """(median, max) seconds between keyframes and the count, from demuxing only."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        times = sorted(float(p.pts * s.time_base) for p in c.demux(s)
                       if p.is_keyframe and p.pts is not None)
    gaps = np.diff(times) if len(times) > 1 else np.array([0.0])
    return float(np.median(gaps)), float(gaps.max()), len(times)
