"""A synthetic library shaped like a real one, for bench/scale.py: no decoding, no files.

Rows go through the real schema (``app.store.migrations``) with bulk inserts of the same
columns ``Library.save_index`` writes. What is in them:

- files: paths in a few thousand folders under three roots (camera names like
  ``IMG_1234.MOV`` in folders like ``2019-07-14 Beach trip``), durations (log-normal,
  median ~20 s), sizes from bitrates, container creation times spread over 2012-2025 (one
  event's clips minutes to hours apart), file times; copies lost their creation time.
- events of a few to tens of clips (long-tailed sizes), each drawn from a *theme* (a
  kind of scene: themes are Zipf-popular), so clips of one event are alike (cosine
  ~0.8-0.9), of one theme less (~0.6), of different themes ~0.3, as measured on the
  public corpus's real vectors. Vectors are non-negative (pooled activations), L2-normed.
- ~10 moments (segments) per clip; 8 frames per clip with mirrored-frame vectors; audio
  patches for the 70% of clips with sound.
- near-duplicate copies (re-encoded: the original plus noise; mirrored: frame and flip
  vectors swapped) and byte copies (identical rows and fingerprint).
- label scores *derived from the vectors* (a fixed low-rank map to 1000 ImageNet logits
  and 521 AudioSet scores, with long-tailed class priors), so a label query finds the
  clips whose vectors point its way, and clips of one event share their labels.
- a tiny shared JPEG as every poster and strip.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from app.core.indexing.indexer import AUDIO_WEIGHT, INDEX_VERSION, VISUAL_WEIGHT
from app.core.vectors import l2n
from app.inference.labels import audioset_labels, imagenet_labels
from app.store import migrations
from app.store.library import pack_moment_labels

GENERATOR_VERSION = 2  # bump when the rows change: invalidates cached libraries
VISUAL_DIM, AUDIO_DIM = 1280, 1024
SEGMENTS_MEAN = 10
FRAMES_PER_CLIP = 8
PATCHES_PER_CLIP = 6
AUDIO_SHARE = 0.7
COPY_SHARE = 0.04  # near-duplicate copies (re-encoded, mirrored, downscaled)
BYTE_COPY_SHARE = 0.01
CREATED_SHARE = 0.85  # originals that carry a container creation time
VISUAL_THEMES, AUDIO_THEMES = 400, 120
CLIPS_PER_FOLDER = 30
BATCH = 1000  # clips generated and written per transaction
ROOTS = ("/synthetic/Camera", "/synthetic/Phone", "/synthetic/Archive")
WORDS = ("beach trip", "birthday", "garden", "hike", "christmas", "school play", "concert",
         "zoo", "wedding", "skiing", "camping", "soccer", "first steps", "road trip",
         "harbour", "market", "museum", "lake", "snow day", "picnic", "graduation",
         "fireworks", "dog park", "carnival", "bike ride", "kitchen", "farm", "city walk",
         "swimming", "rainy day", "new house", "cousins", "grandma", "halloween", "fishing")
CAMERA_NAMES = ("IMG_{n:04d}.MOV", "VID_{date}_{time}.mp4", "DSC_{n:04d}.MP4",
                "GOPR{n:04d}.MP4", "MVI_{n:04d}.MOV", "PXL_{date}_{time}.mp4")
SIZES = ((1920, 1080), (1280, 720), (3840, 2160), (1080, 1920), (640, 480))


class _Space:
    """One modality's latent space: pre-activations bias + scale * (theme, event, clip,
    moment, frame parts); vectors are their ReLU, L2-normed."""

    WEIGHTS = {"theme": 0.8, "event": 0.55, "clip": 0.3, "segment": 0.35, "frame": 0.2}

    def __init__(self, rng: np.random.Generator, dim: int, themes: int, classes: int,
                 rank: int, spread: float, prior_slope: float):
        self.dim = dim
        self.bias = rng.normal(-0.3, 0.5, dim).astype(np.float32)
        self.scale = rng.lognormal(0, 0.5, dim).astype(np.float32)
        self.themes = rng.standard_normal((themes, dim)).astype(np.float32)
        popularity = 1.0 / np.arange(1, themes + 1) ** 0.8
        self.theme_p = popularity / popularity.sum()
        # Labels from vectors: a fixed low-rank map (its inputs standardized on typical
        # vectors, so ``spread`` is the logits' standard deviation), plus long-tailed
        # class priors that make some labels common and most rare.
        self.down = l2n(rng.standard_normal((rank, dim)).astype(np.float32))
        self.up = rng.standard_normal((classes, rank)).astype(np.float32) / np.sqrt(rank)
        picks = rng.integers(themes, size=200)
        sample = self.vectors(self.themes[picks] * self.WEIGHTS["theme"] + rng.standard_normal(
            (200, dim)).astype(np.float32) * self.WEIGHTS["event"])
        proj = sample @ self.down.T
        self.center, self.std = proj.mean(0), proj.std(0)
        order = rng.permutation(classes)
        self.prior = np.empty(classes, np.float32)
        self.prior[order] = -prior_slope * np.log(np.arange(1, classes + 1))
        self.spread = spread

    def vectors(self, z: np.ndarray) -> np.ndarray:
        return l2n(np.maximum(self.bias + self.scale * z, 0.0)).astype(np.float32)

    def logits(self, v: np.ndarray) -> np.ndarray:
        return self.spread * (((v @ self.down.T) - self.center) / self.std) @ self.up.T + self.prior


@dataclass
class _Event:
    theme: int
    audio_theme: int
    latent: np.ndarray
    audio_latent: np.ndarray
    start: float  # epoch seconds
    folder: int


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _blob(x: np.ndarray | None, dtype=np.float16) -> bytes | None:
    return None if x is None else np.ascontiguousarray(x, dtype=dtype).tobytes()


def _top(scores: np.ndarray, names: tuple[str, ...], k: int = 10) -> list[list]:
    idx = np.argpartition(-scores, k)[:k]
    idx = idx[np.argsort(-scores[idx])]
    return [[int(i), names[i], round(float(scores[i]), 4)] for i in idx]


def tiny_jpeg(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 255, (4, 6, 3), dtype=np.uint8), (width, height),
                     interpolation=cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return buf.tobytes()


class Generator:
    def __init__(self, clips: int, seed: int = 5):
        self.clips = clips
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.visual = _Space(rng, VISUAL_DIM, VISUAL_THEMES, 1000, 48, 3.0, 0.6)
        self.audio = _Space(rng, AUDIO_DIM, AUDIO_THEMES, 521, 32, 1.5, 0.3)
        self.audio.prior -= 4.5  # AudioSet scores are sigmoids: most classes near zero
        self.inames, self.anames = imagenet_labels(), audioset_labels()
        self.folders = max(20, clips // CLIPS_PER_FOLDER)
        self.folder_names = self._folder_names()
        self.poster = tiny_jpeg(64, 36, 1)
        self.strip = tiny_jpeg(8 * 48, 27, 2)
        self.strip_times = json.dumps([round(i * 1.5, 3) for i in range(8)])
        self.events: list[_Event] = []
        self.pending: list[int] = []  # clips left in the current event
        self.made: list[dict] = []  # recent originals, for copies

    def _folder_names(self) -> list[tuple[int, str]]:
        out = []
        t0, t1 = datetime(2012, 1, 1, tzinfo=UTC).timestamp(), datetime(2025, 6, 1, tzinfo=UTC).timestamp()
        for _ in range(self.folders):
            day = _iso(self.rng.uniform(t0, t1))[:10]
            words = WORDS[int(self.rng.zipf(1.6) - 1) % len(WORDS)]
            out.append((int(self.rng.integers(len(ROOTS))), f"{day} {words.capitalize()}"))
        return out

    def _event(self) -> _Event:
        rng = self.rng
        folder = int(rng.integers(self.folders))
        day = datetime.fromisoformat(self.folder_names[folder][1][:10]).replace(tzinfo=UTC)
        start = day.timestamp() + rng.uniform(8, 20) * 3600
        return _Event(int(rng.choice(VISUAL_THEMES, p=self.visual.theme_p)),
                      int(rng.choice(AUDIO_THEMES, p=self.audio.theme_p)),
                      rng.standard_normal(VISUAL_DIM).astype(np.float32),
                      rng.standard_normal(AUDIO_DIM).astype(np.float32), start, folder)

    # ---- one batch of clips ------------------------------------------------------------
    def batch(self, first_id: int, count: int) -> list[dict]:
        clips = []
        for k in range(count):
            file_id = first_id + k
            roll = self.rng.random()
            if self.made and roll < BYTE_COPY_SHARE:
                clips.append(self._byte_copy(file_id))
            elif self.made and roll < BYTE_COPY_SHARE + COPY_SHARE:
                clips.append(self._near_copy(file_id))
            else:
                clips.append(self._original(file_id))
        self._embed(clips)
        return clips

    def _original(self, file_id: int) -> dict:
        rng = self.rng
        if not self.pending:
            size = int(np.clip(rng.lognormal(np.log(8), 0.9), 1, 80))
            self.events.append(self._event())
            self.pending = list(range(size))
        self.pending.pop()
        event = self.events[-1]
        duration = float(np.clip(rng.lognormal(np.log(20), 1.0), 1.0, 1800.0))
        shot = event.start + rng.exponential(900)
        root, folder = self.folder_names[event.folder]
        width, height = SIZES[int(rng.choice(len(SIZES), p=(0.45, 0.25, 0.1, 0.15, 0.05)))]
        name = CAMERA_NAMES[file_id % len(CAMERA_NAMES)].format(
            n=file_id % 10000, date=_iso(shot)[:10].replace("-", ""),
            time=_iso(shot)[11:19].replace(":", ""))
        clip = {
            "id": file_id, "root": root,
            "path": f"{ROOTS[root]}/{folder[:4]}/{folder}/{file_id:07d}_{name}",
            "duration": duration, "width": width, "height": height,
            "bitrate": int(width * height * rng.uniform(4, 10)),
            "created": _iso(shot) if rng.random() < CREATED_SHARE else None,
            "file_time": _iso(shot + rng.uniform(0, 86400 * 30)),
            "has_audio": rng.random() < AUDIO_SHARE,
            "event": event, "kind": "original",
            "latent": (self.visual.WEIGHTS["theme"] * self.visual.themes[event.theme]
                       + self.visual.WEIGHTS["event"] * event.latent
                       + self.visual.WEIGHTS["clip"] * rng.standard_normal(VISUAL_DIM)),
            "audio_latent": (self.audio.WEIGHTS["theme"] * self.audio.themes[event.audio_theme]
                             + self.audio.WEIGHTS["event"] * event.audio_latent
                             + self.audio.WEIGHTS["clip"] * rng.standard_normal(AUDIO_DIM)),
        }
        clip["segments"] = self._cuts(duration)
        clip["size"] = int(clip["bitrate"] * duration / 8)
        clip["fingerprint"] = hashlib.blake2b(f"{file_id}".encode(), digest_size=16).hexdigest()
        self.made.append(clip)
        if len(self.made) > 400:  # copies are of recent clips; bounds memory
            self.made = self.made[-200:]
        return clip

    def _cuts(self, duration: float) -> np.ndarray:
        n = int(np.clip(self.rng.poisson(SEGMENTS_MEAN - 1) + 1, 1, max(1, duration // 0.5)))
        inner = np.sort(self.rng.uniform(0, duration, n - 1))
        return np.round(np.concatenate([[0.0], inner, [duration]]), 3)

    def _pick_original(self) -> dict:
        return self.made[int(self.rng.integers(len(self.made)))]

    def _byte_copy(self, file_id: int) -> dict:
        src = self._pick_original()
        clip = dict(src, id=file_id, kind="byte", source=src, root=2,
                    path=f"{ROOTS[2]}/Backup/{file_id:07d}_{Path(src['path']).name}")
        return clip

    def _near_copy(self, file_id: int) -> dict:
        rng = self.rng
        src = self._pick_original()
        how = ("reencoded", "mirrored", "downscaled")[int(rng.integers(3))]
        width, height = (src["width"], src["height"]) if how != "downscaled" else (640, 360)
        return dict(src, id=file_id, kind=how, source=src, created=None, root=2,
                    path=f"{ROOTS[2]}/Exports/{file_id:07d}_{Path(src['path']).stem}_{how}.mp4",
                    width=width, height=height, bitrate=int(width * height * 3),
                    size=int(width * height * 3 * src["duration"] / 8),
                    fingerprint=hashlib.blake2b(f"c{file_id}".encode(), digest_size=16).hexdigest(),
                    file_time=_iso(datetime.fromisoformat(src["file_time"].replace("Z", "+00:00")).timestamp()
                                   + rng.uniform(86400, 86400 * 400)))

    # ---- vectors and labels for a batch ------------------------------------------------
    def _embed(self, clips: list[dict]) -> None:
        """Segment, clip and frame vectors, label scores and top labels of every clip."""
        rng = self.rng
        originals = [c for c in clips if c["kind"] == "original"]
        for space, key, modality in ((self.visual, "latent", "visual"),
                                     (self.audio, "audio_latent", "audio")):
            chosen = [c for c in originals if modality == "visual" or c["has_audio"]]
            if not chosen:
                continue
            counts = [len(c["segments"]) - 1 for c in chosen]
            z = np.repeat(np.stack([c[key] for c in chosen]), counts, axis=0)
            z += space.WEIGHTS["segment"] * rng.standard_normal(z.shape, dtype=np.float32)
            seg = space.vectors(z)
            if modality == "visual":
                probs = _softmax(space.logits(seg)).astype(np.float32)
            else:
                probs = (1.0 / (1.0 + np.exp(-space.logits(seg)))).astype(np.float32)
            # Frames (or audio patches): spread over the clip, each near its moment.
            per = FRAMES_PER_CLIP if modality == "visual" else PATCHES_PER_CLIP
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            pick = np.concatenate([s + np.minimum((np.arange(per) * n) // per, n - 1)
                                   for s, n in zip(starts, counts, strict=True)])
            fz = z[pick] + space.WEIGHTS["frame"] * rng.standard_normal((len(pick), space.dim),
                                                                        dtype=np.float32)
            frames = space.vectors(fz)
            flips = space.vectors(fz + 0.3 * rng.standard_normal(fz.shape, dtype=np.float32)) \
                if modality == "visual" else None
            at = 0
            for i, c in enumerate(chosen):
                n = counts[i]
                c[f"seg_{modality}"] = seg[at:at + n]
                c[f"seg_{modality}_probs"] = probs[at:at + n]
                c[f"{modality}"] = l2n(seg[at:at + n].mean(0))
                c[f"{modality}_probs"] = probs[at:at + n].mean(0)
                c[f"frames_{modality}"] = frames[i * per:(i + 1) * per]
                if flips is not None:
                    c["frames_flip"] = flips[i * per:(i + 1) * per]
                at += n
        for c in clips:
            if c["kind"] in ("reencoded", "mirrored", "downscaled"):
                self._copy_vectors(c)
            if c["kind"] != "byte":
                self._finish(c)

    def _copy_vectors(self, c: dict) -> None:
        src, rng = c["source"], self.rng

        def noisy(x, amount=0.3):  # cosine to the original ~1/sqrt(1 + amount^2)
            noise = rng.standard_normal(x.shape).astype(np.float32) / np.sqrt(x.shape[-1])
            return l2n(np.maximum(x + amount * noise, 0))

        for key in ("seg_visual", "frames_visual", "frames_flip", "seg_audio", "frames_audio"):
            if key in src:
                c[key] = noisy(src[key])
        if c["kind"] == "mirrored":
            c["frames_visual"], c["frames_flip"] = c["frames_flip"], c["frames_visual"]
        for modality in ("visual", "audio"):
            if f"seg_{modality}" in c:
                c[f"seg_{modality}_probs"] = src[f"seg_{modality}_probs"]
                c[modality] = l2n(c[f"seg_{modality}"].mean(0))
                c[f"{modality}_probs"] = src[f"{modality}_probs"]

    def _finish(self, c: dict) -> None:
        """Fused vectors, top labels per moment and per clip, frame times."""
        n = len(c["segments"]) - 1
        audio = c.get("seg_audio")
        a = AUDIO_WEIGHT * audio if audio is not None else np.zeros((n, AUDIO_DIM), np.float32)
        c["seg_fused"] = l2n(np.concatenate([VISUAL_WEIGHT * c["seg_visual"], a], axis=1))
        ca = AUDIO_WEIGHT * c["audio"] if audio is not None else np.zeros(AUDIO_DIM, np.float32)
        c["fused"] = l2n(np.concatenate([VISUAL_WEIGHT * c["visual"], ca]))
        labels = [{"visual": _top(c["seg_visual_probs"][k], self.inames),
                   "audio": _top(c["seg_audio_probs"][k], self.anames) if audio is not None
                   else []} for k in range(n)]
        c["seg_labels"] = [json.dumps(lab) for lab in labels]
        c["moment_labels"] = pack_moment_labels(labels)
        c["labels"] = [("visual", i, name, s) for i, name, s in _top(c["visual_probs"], self.inames)]
        if audio is not None:
            c["labels"] += [("audio", i, name, s) for i, name, s in _top(c["audio_probs"], self.anames)]
        d = c["duration"]
        c["frame_times"] = np.linspace(0, d, FRAMES_PER_CLIP, endpoint=False).astype(np.float32)
        c["patch_times"] = (np.linspace(0, max(0.0, d - 0.96), PATCHES_PER_CLIP).astype(np.float32)
                            if audio is not None else None)


# ---- writing ---------------------------------------------------------------------------
def _file_row(c: dict, now: str) -> tuple:
    return (c["id"], c["path"], c["root"] + 1, c["size"], 1.7e9, c["fingerprint"], "indexed",
            "present", c["duration"], c["width"], c["height"], 29.97, "h264",
            "aac" if c["has_audio"] else None, int(c["has_audio"]), 0, c["bitrate"], "mp4",
            c["created"], c["file_time"], now, now, INDEX_VERSION)


def _write(conn: sqlite3.Connection, gen: Generator, clips: list[dict]) -> None:
    now = _iso(time.time())
    conn.executemany(
        "INSERT INTO files(id, path, root_id, size, mtime, fingerprint, status, presence, "
        "duration, width, height, fps, video_codec, audio_codec, has_audio, rotation, "
        "bitrate, container, created, file_time, indexed_at, seen_at, index_version) "
        "VALUES (" + ",".join("?" * 23) + ")", [_file_row(c, now) for c in clips])
    src = [c if c["kind"] != "byte" else c["source"] for c in clips]
    conn.executemany("INSERT INTO clips VALUES (?, ?, ?, ?, ?, ?)", [
        (c["id"], _blob(s["fused"]), _blob(s["visual"]), _blob(s.get("audio")),
         _blob(s["visual_probs"]), _blob(s.get("audio_probs"))) for c, s in zip(clips, src, strict=True)])
    conn.executemany(
        "INSERT INTO segments(file_id, idx, start, end, fused, visual, audio, labels) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ((c["id"], k, float(s["segments"][k]), float(s["segments"][k + 1]),
          _blob(s["seg_fused"][k]), _blob(s["seg_visual"][k]),
          _blob(s["seg_audio"][k]) if "seg_audio" in s else None, s["seg_labels"][k])
         for c, s in zip(clips, src, strict=True) for k in range(len(s["segments"]) - 1)))
    conn.executemany("INSERT INTO segment_visuals VALUES (?, ?, ?)", [
        (c["id"], len(s["segments"]) - 1, _blob(s["seg_visual"][:len(s["segments"]) - 1]))
        for c, s in zip(clips, src, strict=True) if len(s["segments"]) > 1])
    conn.executemany("INSERT INTO moment_index VALUES (?, ?, ?, ?, ?)", [
        (c["id"], _blob(s["segments"][:-1], np.float32), _blob(s["segments"][1:], np.float32),
         s["moment_labels"][0].tobytes(), s["moment_labels"][1].tobytes())
        for c, s in zip(clips, src, strict=True)])
    conn.executemany(
        "INSERT INTO frames(file_id, times, visual, audio_times, audio, visual_flip) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(c["id"], _blob(s["frame_times"], np.float32), _blob(s["frames_visual"]),
          _blob(s["patch_times"], np.float32), _blob(s.get("frames_audio")),
          _blob(s["frames_flip"])) for c, s in zip(clips, src, strict=True)])
    conn.executemany("INSERT INTO labels VALUES (?, ?, ?, ?, ?)",
                     [(c["id"], *lab) for c, s in zip(clips, src, strict=True) for lab in s["labels"]])
    conn.executemany("INSERT INTO thumbs VALUES (?, ?, ?, ?)",
                     [(c["id"], gen.poster, gen.strip, gen.strip_times) for c in clips])


def build(path: Path, clips: int, seed: int = 5, log=print) -> dict:
    """Write a library of ``clips`` synthetic clips at ``path`` (replacing it)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    migrations.migrate(conn, None)
    conn.executemany("INSERT INTO roots(id, path) VALUES (?, ?)",
                     [(i + 1, p) for i, p in enumerate(ROOTS)])
    gen = Generator(clips, seed)
    started = time.perf_counter()
    for first in range(0, clips, BATCH):
        batch = gen.batch(first + 1, min(BATCH, clips - first))
        conn.execute("BEGIN")
        _write(conn, gen, batch)
        conn.execute("COMMIT")
        if log and (first // BATCH) % 10 == 0:
            log(f"  {first + len(batch):,} / {clips:,} clips ({time.perf_counter() - started:.0f} s)")
    # A few watched clips, as a person who uses the app has.
    ids = gen.rng.choice(np.arange(1, clips + 1), size=min(200, clips), replace=False)
    conn.executemany("INSERT INTO watches(file_id, seconds) VALUES (?, ?)",
                     [(int(i), 10.0) for i in ids])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stats = {r[0]: r[1] for r in conn.execute(
        "SELECT 'files', count(*) FROM files UNION ALL SELECT 'segments', count(*) FROM segments "
        "UNION ALL SELECT 'events', 0")}
    stats["events"] = len(gen.events)
    conn.close()
    stats["seconds"] = round(time.perf_counter() - started, 1)
    stats["bytes"] = path.stat().st_size
    return stats
