"""From a video file to its index rows: decode (in a worker), embed and label (here).

``prepare_clip`` runs in a decode worker process: it decodes, squashes frames to the
model size, renders thumbnails and computes the audio front end, so the parent only
runs the two networks and writes. ``Indexer`` holds the models and turns a prepared
clip into a ``ClipIndex``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from app.core.indexing import media, regions, shots
from app.core.vectors import interpolate, l2n
from app.inference import AUDIO_DIM, PATCH_SECONDS
from app.inference import audio as audio_fe
from app.inference.labels import audioset_labels, imagenet_labels
from app.records import ClipIndex, Segment

# Bump when what indexing stores changes: files indexed by an older recipe are redone
# by the next scan even though they did not change on disk.
# 2: black bars cropped before embedding; vectors of the mirrored frames kept.
# 3: mirrored-frame vectors of every other frame interpolated (MIRROR_EVERY).
# 4: picture analysis (faces, objects, words on screen, colours: indexing/analysis.py).
# 5: frame thumbnails and inner pictures for duplicates (indexing/regions.py).
INDEX_VERSION = 5

# Fusion: each modality L2-normed, then weighted. The picture carries most of the
# meaning in home video; the soundtrack separates speech, music, crowds and silence.
VISUAL_WEIGHT = 1.0
AUDIO_WEIGHT = 0.5
TOP_LABELS = 10
# Per moment: text search sums a query's labels over these (a "dog" spreads over breeds).
SEGMENT_LABELS = 10
STRIP_FRAMES = 8
THUMB_HEIGHT = 90
VISUAL_BATCH = 32  # frames handed to the visual model at once, with their mirror images
# One frame in this many goes through the network mirrored too (see Indexer._run_visual).
# Measured: mirrored copies are still found (corpus F1 1.0; the flipped copy's coherence
# 0.59 -> 0.50, against a bar of 0.25), and a scan runs 25% fewer images through the
# visual network.
MIRROR_EVERY = 2


@dataclass
class PreparedClip:
    info: dict
    times: np.ndarray
    model_frames: np.ndarray  # [n, 224, 224, 3] uint8
    mel_patches: np.ndarray | None  # [p, 96, 64] float32
    patch_times: np.ndarray | None
    poster: bytes
    strip: bytes
    strip_times: list[float]
    stats: dict = field(default_factory=dict)
    thumbnails: regions.Thumbnails | None = None


def prepare_clip(path: str, threads: int = 0) -> PreparedClip:
    """Decode one file for indexing. Runs in a worker process; raises media.MediaError.

    ``threads``: decoder threads (see media.decode)."""
    t0 = time.perf_counter()
    clip = media.decode(path, threads=threads)
    t1 = time.perf_counter()
    # Without its black bars, a letterboxed copy embeds like its original.
    content = media.crop_borders(clip.frames)
    model_frames = media.model_input(content)
    thumbnails = regions.thumbnails(content)
    poster, strip, strip_times = render_thumbs(clip.times, clip.frames)
    patches = patch_times = None
    if clip.audio is not None and len(clip.audio) > 0:
        mel = audio_fe.log_mel(clip.audio)
        patches, patch_times = audio_fe.patches(mel)
        if len(patches) == 0:
            patches = patch_times = None
    t2 = time.perf_counter()
    info = {k: getattr(clip.info, k) for k in (
        "duration", "width", "height", "fps", "video_codec", "audio_codec", "has_audio",
        "rotation", "bitrate", "container", "created")}
    stats = {**clip.stats, "decode_s": t1 - t0, "prepare_s": t2 - t1}
    return PreparedClip(info, clip.times, model_frames, patches, patch_times,
                        poster, strip, strip_times, stats, thumbnails)


def render_thumbs(times: np.ndarray, frames: np.ndarray) -> tuple[bytes, bytes, list[float]]:
    """A poster (a well-exposed, detailed frame from the middle) and a strip for scrubbing."""
    n = len(frames)
    lo, hi = int(n * 0.1), max(int(n * 0.9), int(n * 0.1) + 1)
    candidates = range(lo, min(hi, n))
    detail = [float(cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY).std()) for i in candidates]
    poster_idx = candidates[int(np.argmax(detail))] if detail else 0
    poster = _jpeg(frames[poster_idx])
    picks = np.unique(np.linspace(0, n - 1, min(STRIP_FRAMES, n)).round().astype(int))
    h, w = frames.shape[1:3]
    tw = max(1, int(round(w * THUMB_HEIGHT / h)))
    strip = np.concatenate([cv2.resize(frames[i], (tw, THUMB_HEIGHT), interpolation=cv2.INTER_AREA)
                            for i in picks], axis=1)
    return poster, _jpeg(strip), [round(float(times[i]), 3) for i in picks]


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def fuse(visual: np.ndarray, audio: np.ndarray | None) -> np.ndarray:
    """One vector per moment: weighted, L2-normed halves, L2-normed again."""
    a = (AUDIO_WEIGHT * l2n(audio)) if audio is not None else np.zeros(AUDIO_DIM, np.float32)
    return l2n(np.concatenate([VISUAL_WEIGHT * l2n(visual), a]))


def top_labels(scores: np.ndarray, names: tuple[str, ...], k: int) -> list[list]:
    idx = np.argsort(-scores)[:k]
    return [[int(i), names[i], round(float(scores[i]), 4)] for i in idx]


class Indexer:
    """Runs the visual and audio networks on prepared clips."""

    def __init__(self, visual_model, audio_model):
        self.visual = visual_model
        self.audio = audio_model
        self.timings = {"visual_s": 0.0, "audio_s": 0.0}

    def index(self, clip: PreparedClip) -> ClipIndex:
        t0 = time.perf_counter()
        frame_vecs, flip_vecs, probs = self._run_visual(clip.model_frames, clip.times)
        t1 = time.perf_counter()
        patch_vecs = patch_scores = None
        if clip.mel_patches is not None:
            patch_vecs, patch_scores = self.audio.run(clip.mel_patches)
            patch_vecs = l2n(patch_vecs)
        t2 = time.perf_counter()
        self.timings["visual_s"] += t1 - t0
        self.timings["audio_s"] += t2 - t1
        index = build_index(clip, frame_vecs, probs, patch_vecs, patch_scores)
        index.frame_visual_flip = flip_vecs
        index.frame_thumbnails = clip.thumbnails
        return index

    def _run_visual(self, frames: np.ndarray, times: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """L2-normed vectors of the frames and of their mirror images, and class probabilities.

        The mirrored frames' vectors let duplicate detection match a horizontally flipped
        copy, which plain CNN features do not (measured: a flipped clip matched its
        original no better than another moment of the scene). Only every MIRROR_EVERY-th
        frame (and the last) is mirrored through the network; the others' mirrored
        vectors are interpolated between those neighbours, as alignment samples a clip
        between its frames anyway. Chunks are bounded so a long clip's activations never
        all exist at once.
        """
        n = len(frames)
        mirrored = np.unique(np.r_[np.arange(0, n, MIRROR_EVERY), n - 1]) if n else np.empty(0, int)
        vecs, probs, flips = [], [], []
        for start in range(0, n, VISUAL_BATCH):
            chunk = frames[start:start + VISUAL_BATCH]
            pick = mirrored[(mirrored >= start) & (mirrored < start + len(chunk))] - start
            v, p = self.visual.run(np.concatenate([chunk, chunk[pick, :, ::-1]]))
            vecs.append(v[:len(chunk)])
            probs.append(p[:len(chunk)])
            flips.append(v[len(chunk):])
        frame_vecs, flip_vecs = l2n(np.concatenate(vecs)), l2n(np.concatenate(flips))
        if len(mirrored) < n:
            flip_vecs = interpolate(times[mirrored], flip_vecs, times)
        return frame_vecs, flip_vecs, np.concatenate(probs)


def build_index(clip: PreparedClip, frame_vecs, probs, patch_vecs, patch_scores) -> ClipIndex:
    inames, anames = imagenet_labels(), audioset_labels()
    duration = clip.info["duration"]
    patch_mid = (clip.patch_times + PATCH_SECONDS / 2) if patch_vecs is not None else None
    segments = []
    for start, end, a, b in shots.split(clip.times, frame_vecs, duration):
        visual = l2n(frame_vecs[a:b].mean(0))
        seg_probs = probs[a:b].mean(0)
        audio_vec, audio_labels = None, []
        if patch_vecs is not None:
            inside = (patch_mid >= start) & (patch_mid < end)
            if not inside.any():  # a short shot between patch centres: take the nearest
                inside = np.zeros(len(patch_mid), bool)
                inside[int(np.argmin(np.abs(patch_mid - (start + end) / 2)))] = True
            audio_vec = l2n(patch_vecs[inside].mean(0))
            audio_labels = top_labels(patch_scores[inside].mean(0), anames, SEGMENT_LABELS)
        segments.append(Segment(
            start=round(start, 3), end=round(end, 3), fused=fuse(visual, audio_vec),
            visual=visual, audio=audio_vec,
            labels={"visual": top_labels(seg_probs, inames, SEGMENT_LABELS), "audio": audio_labels}))
    visual = l2n(frame_vecs.mean(0))
    mean_probs = probs.mean(0)
    audio_vec = l2n(patch_vecs.mean(0)) if patch_vecs is not None else None
    mean_scores = patch_scores.mean(0) if patch_scores is not None else None
    labels = [("visual", c, name, s) for c, name, s in top_labels(mean_probs, inames, TOP_LABELS)]
    if mean_scores is not None:
        labels += [("audio", c, name, s) for c, name, s in top_labels(mean_scores, anames, TOP_LABELS)]
    return ClipIndex(
        info=clip.info, fused=fuse(visual, audio_vec), visual=visual, audio=audio_vec,
        visual_probs=mean_probs, audio_scores=mean_scores, segments=segments,
        frame_times=clip.times, frame_visual=frame_vecs, audio_times=clip.patch_times,
        audio_vectors=patch_vecs, labels=labels, poster=clip.poster, strip=clip.strip,
        strip_times=clip.strip_times)


def default_indexer(threads: int | None = None) -> Indexer:
    from app.inference.audio import AudioModel
    from app.inference.visual import VisualModel
    return Indexer(VisualModel(threads=threads), AudioModel(threads=threads))

