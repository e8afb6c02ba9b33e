"""From a video file to its index rows: decode (in a worker), embed and label (here).

``prepare_windows`` runs in a decode worker process: it decodes, squashes frames to the
model size, renders thumbnails, computes the audio front end and runs the detectors'
analysis hook, a window at a time, so the parent only runs the two networks and writes.
``Indexer`` holds the models; its ``ClipBuilder`` turns a file's windows into a
``ClipIndex`` keeping only the networks' outputs. ``prepare_clip`` and ``Indexer.index``
do the same for a whole file at once.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import cv2
import numpy as np

from app.core.indexing import media, regions, shots
from app.core.vectors import interpolate, l2n
from app.inference import AUDIO_DIM, PATCH_FRAMES, PATCH_SECONDS
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
INTERPOLATE_ROWS = 1024


# The detectors' hook (faces, objects, words on screen): ``analyse(times, frames)`` runs
# in the decode worker on each batch of analysis frames (media.ANALYSIS_STEP; RGB uint8,
# longest side media.ANALYSIS_SIZE, display orientation) and returns something small and
# picklable; a file's results are joined (``join_analysis``) into ClipIndex.analysis.
# A function, or its name as "package.module:function" (imported in the worker). None:
# app.core.indexing.analysis:analyse when that module exists (see ``analysis_hook``).
ANALYSE: Callable | str | None = None
ANALYSIS_MODULE = "app.core.indexing.analysis"


def analysis_hook() -> Callable | str | None:
    """The hook a scan passes to its workers: ANALYSE, else the analysis module's
    ``analyse`` by name when the module is installed (not imported here: its detectors
    load in the workers)."""
    if ANALYSE is not None:
        return ANALYSE
    try:
        found = importlib.util.find_spec(ANALYSIS_MODULE) is not None
    except (ImportError, ValueError):
        found = False
    return f"{ANALYSIS_MODULE}:analyse" if found else None


def _resolve_hook(analyse: Callable | str | None) -> Callable | None:
    if analyse is None or callable(analyse):
        return analyse
    module, _, name = analyse.rpartition(":") if ":" in analyse else analyse.rpartition(".")
    return getattr(importlib.import_module(module), name, None)


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
    analysis: object | None = None  # the analysis hook's joined results
    thumbnails: regions.Thumbnails | None = None  # tiny frames for duplicates


@dataclass
class ClipWindow:
    """One window of a file, from the decode worker to the networks (see prepare_windows)."""

    times: np.ndarray
    model_frames: np.ndarray  # [k, 224, 224, 3] uint8, k may be 0
    mel_patches: np.ndarray | None  # [p, 96, 64] float32
    patch_times: np.ndarray | None
    analysis: object | None = None  # the hook's result on this window's analysis frames
    thumbnails: regions.Thumbnails | None = None  # of this window's frames (duplicates)


@dataclass
class ClipSummary:
    """What a file's decode worker sends after its last window."""

    info: dict
    poster: bytes
    strip: bytes
    strip_times: list[float]
    stats: dict = field(default_factory=dict)


INFO_FIELDS = ("duration", "width", "height", "fps", "video_codec", "audio_codec",
               "has_audio", "rotation", "bitrate", "container", "created")


def prepare_windows(path: str, threads: int = 0, analyse: Callable | str | None = None,
                    window_frames: int = media.WINDOW_FRAMES,
                    hold_frames: float = media.HOLD_FRAMES
                    ) -> Generator[ClipWindow, None, ClipSummary]:
    """Decode one file for indexing in windows; runs in a worker process.

    Yields ClipWindows in order and returns the ClipSummary; raises media.MediaError.
    What is held at once is bounded by the window, whatever the file's length.
    ``threads``: decoder threads (see media.decode); ``analyse``: see ANALYSE;
    ``window_frames``, ``hold_frames``: see media.stream.
    """
    hook = _resolve_hook(analyse)
    timer = _StageTimer()
    thumbs = ThumbPicker()
    audio = audio_fe.PatchStream()
    windows = media.stream(path, threads=threads, analysis=hook is not None,
                           window_frames=window_frames, hold_frames=hold_frames)
    analysis_error = None
    while (decoded := timer.next(windows)) is not None:
        with timer.stage("prepare_s"):
            try:
                model_frames, frame_thumbs = _model_frames(decoded, thumbs)
                patches, patch_times = _patches(audio, decoded)
            except MemoryError as e:
                raise media.MediaError("ran out of memory preparing pictures and sound for "
                                       f"the networks, {_position(decoded)}") from e
        result = None
        if hook is not None and decoded.analysis_frames and analysis_error is None:
            with timer.stage("analysis_s"):
                try:
                    result = hook(decoded.analysis_times, decoded.analysis_frames)
                except MemoryError as e:
                    raise media.MediaError("ran out of memory analysing frames, "
                                           f"{_position(decoded)}") from e
                except Exception as e:  # a detector's failure costs the analysis only
                    analysis_error = f"{type(e).__name__}: {e}"
            timer.count("analysis_frames", len(decoded.analysis_frames))
        timer.count("windows", 1)
        yield ClipWindow(decoded.times, model_frames,
                         patches if len(patches) else None,
                         patch_times if len(patches) else None, result, frame_thumbs)
        if decoded.final:
            break
    info = {k: getattr(decoded.info, k) for k in INFO_FIELDS}
    poster, strip, strip_times = thumbs.render()
    stats = {**decoded.stats, **timer.totals}
    if analysis_error:
        stats["analysis_error"] = analysis_error
    return ClipSummary(info, poster, strip, strip_times, stats)


def _position(decoded: media.DecodedWindow) -> str:
    times = [*decoded.times[-1:], *decoded.analysis_times[-1:]]
    where = f"at {media.clock(max(times))} " if times else ""
    return (f"{where}of {media.clock(decoded.info.duration)} "
            f"({decoded.info.width}x{decoded.info.height} pictures)")


def _patches(audio: audio_fe.PatchStream, decoded: media.DecodedWindow
             ) -> tuple[np.ndarray, np.ndarray]:
    """The audio patches the window's sound completes (with the tail, on the last)."""
    parts = [audio.feed(decoded.audio)] if decoded.audio is not None else []
    if decoded.final:
        parts.append(audio.finish())
    if not parts:
        return np.empty((0, PATCH_FRAMES, audio_fe.MEL_BANDS), np.float32), np.empty(0)
    return np.concatenate([p for p, _ in parts]), np.concatenate([t for _, t in parts])


def _model_frames(decoded: media.DecodedWindow, thumbs: ThumbPicker
                  ) -> tuple[np.ndarray, regions.Thumbnails | None]:
    """The window's frames squashed to the model size, without the clip's black bars
    (a letterboxed copy embeds like its original), and their tiny thumbnails for
    duplicates; the poster and strip see the frames on the way."""
    frames = decoded.frames
    if frames is None:
        return np.empty((0, media.MODEL_SIZE, media.MODEL_SIZE, 3), np.uint8), None
    if decoded.whole_file:
        thumbs.whole(decoded.times, frames)
        content = media.crop_borders(frames)
        return media.model_input(content), regions.thumbnails(content)
    thumbs.add(decoded.times, frames, decoded.info.duration)
    if decoded.box is not None:
        x0, x1, y0, y1 = decoded.box
        frames = frames[:, y0:y1, x0:x1]
    return media.model_input(frames), regions.thumbnails(frames)


class _StageTimer:
    """Seconds spent decoding (inside the media generator) and in each later stage, and
    the CPU seconds of each (``decode_cpu_s``...: the worker process's, which does
    nothing else meanwhile). On a machine shared with other work, the wall seconds
    grow with its load and the CPU seconds much less: they are what compares runs."""

    def __init__(self):
        self.totals: dict = {"decode_s": 0.0, "prepare_s": 0.0,
                             "decode_cpu_s": 0.0, "prepare_cpu_s": 0.0}

    def next(self, iterator: Iterator):
        with self.stage("decode_s"):
            return next(iterator, None)

    @contextmanager
    def stage(self, name: str):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            cpu = name.removesuffix("_s") + "_cpu_s"
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - t0
            self.totals[cpu] = self.totals.get(cpu, 0.0) + time.process_time() - c0

    def count(self, name: str, n: int) -> None:
        self.totals[name] = self.totals.get(name, 0) + n


def prepare_clip(path: str, threads: int = 0, analyse: Callable | str | None = None,
                 **window_options) -> PreparedClip:
    """Decode one file for indexing, all at once (see prepare_windows); raises
    media.MediaError."""
    windows, summary = drain(prepare_windows(path, threads, analyse, **window_options))
    patches = [w.mel_patches for w in windows if w.mel_patches is not None]
    return PreparedClip(
        summary.info, np.concatenate([w.times for w in windows]).astype(np.float64),
        np.concatenate([w.model_frames for w in windows]),
        np.concatenate(patches) if patches else None,
        np.concatenate([w.patch_times for w in windows if w.mel_patches is not None])
        if patches else None,
        summary.poster, summary.strip, summary.strip_times, summary.stats,
        None if summary.stats.get("analysis_error") else
        join_analysis([w.analysis for w in windows]),
        regions.join([w.thumbnails for w in windows]))


def drain(gen: Generator) -> tuple[list, object]:
    """(the items a generator yields, the value it returns)."""
    items = []
    while True:
        try:
            items.append(next(gen))
        except StopIteration as stop:
            return items, stop.value


def join_analysis(parts: list) -> object | None:
    """One file's analysis from its windows' results: lists and tuples are concatenated,
    arrays stacked along their first axis, dicts joined key by key; other results are
    kept as the list of them. A result type with a ``concat`` class method (the picture
    analysis's FrameAnalysis) joins itself. None when no window had a result."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    concat = getattr(type(parts[0]), "concat", None)
    if concat is not None and all(type(p) is type(parts[0]) for p in parts):
        return concat(parts)
    if all(isinstance(p, list | tuple) for p in parts):
        return [x for p in parts for x in p]
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts)
    if all(isinstance(p, dict) for p in parts):
        keys = list(dict.fromkeys(k for p in parts for k in p))
        return {k: join_analysis([p.get(k) for p in parts]) for k in keys}
    return parts if len(parts) > 1 else parts[0]


class ThumbPicker:
    """A clip's poster and scrubbing strip, from its frames as they pass.

    A whole file's frames give the thumbnails ``render_thumbs`` picks. A windowed file
    has its frames chosen by time instead, as they pass: the most detailed frame of the
    middle 80% for the poster, the nearest frame to each of STRIP_FRAMES even times for
    the strip; only those candidates are kept.
    """

    def __init__(self):
        self.rendered: tuple[bytes, bytes, list[float]] | None = None
        self.poster: np.ndarray | None = None
        self.poster_detail = -1.0
        self.first: np.ndarray | None = None
        self.targets: np.ndarray | None = None
        self.picks: list[tuple[float, float, np.ndarray] | None] = []  # (distance, t, frame)

    def whole(self, times: np.ndarray, frames: np.ndarray) -> None:
        self.rendered = render_thumbs(times, frames)

    def add(self, times: np.ndarray, frames: np.ndarray, duration: float) -> None:
        if self.targets is None:
            self.targets = np.linspace(0.0, duration, STRIP_FRAMES)
            self.picks = [None] * STRIP_FRAMES
            self.first = frames[0].copy()
        for t, frame in zip(times, frames, strict=True):
            if 0.1 * duration <= t < 0.9 * duration:
                detail = float(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).std())
                if detail > self.poster_detail:
                    self.poster, self.poster_detail = frame.copy(), detail
            for i, target in enumerate(self.targets):
                best = self.picks[i]
                if best is None or abs(t - target) < best[0]:
                    self.picks[i] = (abs(t - target), float(t), frame.copy())

    def render(self) -> tuple[bytes, bytes, list[float]]:
        if self.rendered is not None:
            return self.rendered
        picks = sorted({p[1]: p[2] for p in self.picks if p is not None}.items())
        poster = self.poster if self.poster is not None else self.first
        return (_jpeg(poster), _jpeg(_strip([f for _, f in picks], poster.shape[:2])),
                [round(t, 3) for t, _ in picks])


def render_thumbs(times: np.ndarray, frames: np.ndarray) -> tuple[bytes, bytes, list[float]]:
    """A poster (a well-exposed, detailed frame from the middle) and a strip for scrubbing."""
    n = len(frames)
    lo, hi = int(n * 0.1), max(int(n * 0.9), int(n * 0.1) + 1)
    candidates = range(lo, min(hi, n))
    detail = [float(cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY).std()) for i in candidates]
    poster_idx = candidates[int(np.argmax(detail))] if detail else 0
    poster = _jpeg(frames[poster_idx])
    picks = np.unique(np.linspace(0, n - 1, min(STRIP_FRAMES, n)).round().astype(int))
    strip = _strip([frames[i] for i in picks], frames.shape[1:3])
    return poster, _jpeg(strip), [round(float(times[i]), 3) for i in picks]


def _strip(frames: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    h, w = size
    tw = max(1, int(round(w * THUMB_HEIGHT / h)))
    return np.concatenate([cv2.resize(f, (tw, THUMB_HEIGHT), interpolation=cv2.INTER_AREA)
                           for f in frames], axis=1)


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
        builder = self.builder()
        builder.add(ClipWindow(clip.times, clip.model_frames, clip.mel_patches,
                               clip.patch_times, clip.analysis, clip.thumbnails))
        return builder.finish(ClipSummary(clip.info, clip.poster, clip.strip,
                                          clip.strip_times, clip.stats))

    def builder(self) -> ClipBuilder:
        """Index a file window by window (see prepare_windows)."""
        return ClipBuilder(self)

    def _run_visual(self, frames: np.ndarray, times: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """L2-normed vectors of the frames and of their mirror images, and class probabilities
        (see ClipBuilder)."""
        builder = self.builder()
        builder.add(ClipWindow(times, frames, None, None))
        builder._run_frames(final=True)
        return builder._frame_results()


class ClipBuilder:
    """Runs the networks on a file's windows as they come, keeping only their outputs.

    The networks see exactly the batches a one-pass run would (VISUAL_BATCH frames from
    the first, the audio model's batch from the first patch): frames and patches wait
    until a batch is full, so a file indexed in windows gets the index a one-pass run
    gives, value for value.

    Mirrored frames: the mirrored frames' vectors let duplicate detection match a
    horizontally flipped copy, which plain CNN features do not (measured: a flipped clip
    matched its original no better than another moment of the scene). Only every
    MIRROR_EVERY-th frame (and the last) is mirrored through the network; the others'
    mirrored vectors are interpolated between those neighbours, as alignment samples a
    clip between its frames anyway.
    """

    def __init__(self, indexer: Indexer):
        self.indexer = indexer
        self.times: list[np.ndarray] = []
        self.frames: list[np.ndarray] = []  # model frames not yet run, in order
        self.waiting = 0
        self.done = 0  # frames run so far
        self.vecs: list[np.ndarray] = []
        self.probs: list[np.ndarray] = []
        self.flips: list[np.ndarray] = []
        self.flipped: list[np.ndarray] = []  # indices of the mirrored frames
        self.patches: list[np.ndarray] = []
        self.patches_waiting = 0
        self.patch_times: list[np.ndarray] = []
        self.patch_vecs: list[np.ndarray] = []
        self.patch_scores: list[np.ndarray] = []
        self.analysis: list = []
        self.thumbnails: list = []

    def add(self, window: ClipWindow) -> None:
        if len(window.times):
            self.times.append(np.asarray(window.times, np.float64))
            self.frames.append(window.model_frames)
            self.waiting += len(window.model_frames)
        if window.mel_patches is not None and len(window.mel_patches):
            self.patches.append(window.mel_patches)
            self.patches_waiting += len(window.mel_patches)
            self.patch_times.append(window.patch_times)
        if window.analysis is not None:
            self.analysis.append(window.analysis)
        if window.thumbnails is not None:
            self.thumbnails.append(window.thumbnails)
        self._run_frames(final=False)
        self._run_patches(final=False)

    def finish(self, summary: ClipSummary) -> ClipIndex:
        self._run_frames(final=True)
        self._run_patches(final=True)
        frame_vecs, flip_vecs, probs = self._frame_results(flips_as_stored=True)
        patch_vecs = patch_scores = patch_times = None
        if self.patch_vecs:
            patch_vecs = _join(self.patch_vecs)
            patch_scores = _join(self.patch_scores)
            patch_times = _join(self.patch_times)
        # A hook that failed on a window leaves the file without analysis, not with part.
        analysis = None if summary.stats.get("analysis_error") else join_analysis(self.analysis)
        clip = PreparedClip(summary.info, np.concatenate(self.times), np.empty(0), None,
                            patch_times, summary.poster, summary.strip, summary.strip_times,
                            summary.stats, analysis)
        index = build_index(clip, frame_vecs, probs, patch_vecs, patch_scores)
        index.frame_visual_flip = flip_vecs
        index.frame_thumbnails = regions.join(self.thumbnails)
        return index

    def _take(self, queue: list[np.ndarray], count: int) -> np.ndarray:
        """The first ``count`` rows of a queue of arrays, removed from it."""
        out, got = [], 0
        while got < count:
            head = queue[0]
            need = count - got
            out.append(head[:need])
            got += min(need, len(head))
            if len(head) <= need:
                queue.pop(0)
            else:
                queue[0] = head[need:]
        return np.concatenate(out) if len(out) > 1 else out[0]

    def _run_frames(self, final: bool) -> None:
        # The last frame is always mirrored: until the end, one frame waits, so the batch
        # that holds the last frame is run knowing it.
        while self.waiting > VISUAL_BATCH or (final and self.waiting):
            chunk = self._take(self.frames, min(VISUAL_BATCH, self.waiting))
            self.waiting -= len(chunk)
            index = self.done + np.arange(len(chunk))
            last = final and self.waiting == 0
            pick = np.flatnonzero((index % MIRROR_EVERY == 0) | (last & (index == index[-1])))
            t0 = time.perf_counter()
            v, p = self.indexer.visual.run(np.concatenate([chunk, chunk[pick, :, ::-1]]))
            self.indexer.timings["visual_s"] += time.perf_counter() - t0
            # Normalized now, row by row as at the end (the same values): a long file's
            # vectors are never held twice for it.
            self.vecs.append(l2n(v[:len(chunk)]))
            self.probs.append(p[:len(chunk)].copy())  # not a view holding the mirrored rows
            self.flips.append(l2n(v[len(chunk):]))
            self.flipped.append(index[pick])
            self.done += len(chunk)

    def _frame_results(self, flips_as_stored: bool = False
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Each list is let go once joined: a long file's outputs exist twice at most.
        frame_vecs = _join(self.vecs)
        flip_vecs = _join(self.flips)
        flipped = _join(self.flipped)
        if len(flipped) < self.done:
            # In slices: interpolate's temporaries are float64 copies of its rows (for a
            # 3-hour file, ~190 MB at once), and each row depends on its neighbours only.
            # ``flips_as_stored``: mirrored vectors are only stored, as float16; converted
            # slice by slice as the store would convert them (the same bytes), a 3-hour
            # file's 55 MB of float64 never exist at once.
            times = np.concatenate(self.times)
            slices = (interpolate(times[flipped], flip_vecs, times[i:i + INTERPOLATE_ROWS])
                      for i in range(0, len(times), INTERPOLATE_ROWS))
            flip_vecs = np.concatenate([v.astype(np.float16) if flips_as_stored else v
                                        for v in slices])
        return frame_vecs, flip_vecs, _join(self.probs)

    def _run_patches(self, final: bool) -> None:
        batch = getattr(self.indexer.audio, "batch_size", None)
        if not self.patches_waiting:
            return
        count = self.patches_waiting if final or not batch else (
            self.patches_waiting // batch * batch)
        if not count:
            return
        chunk = self._take(self.patches, count)
        self.patches_waiting -= count
        t0 = time.perf_counter()
        vecs, scores = self.indexer.audio.run(chunk)
        self.indexer.timings["audio_s"] += time.perf_counter() - t0
        self.patch_vecs.append(l2n(vecs))
        self.patch_scores.append(scores)


def _join(parts: list[np.ndarray]) -> np.ndarray:
    """The parts concatenated; the list is emptied so they can be freed."""
    joined = np.concatenate(parts)
    parts.clear()
    return joined


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
        strip_times=clip.strip_times, analysis=clip.analysis)


def default_indexer(threads: int | None = None) -> Indexer:
    from app.inference.audio import AudioModel
    from app.inference.visual import VisualModel
    return Indexer(VisualModel(threads=threads), AudioModel(threads=threads))

