"""What a clip's pictures show beyond ImageNet labels: faces, COCO objects, words on
screen and colours, on sparse high-resolution frames.

``analyse(times, frames)`` runs in a decode worker process on frames picked every few
seconds (RGB uint8, longest side about 960, display orientation) and returns a small
picklable ``FrameAnalysis``; the results of several windows of one file are joined with
``FrameAnalysis.concat``. The models are loaded once per process, one thread each (the
worker decodes beside them); a model that is not installed leaves its part empty and is
named in ``FrameAnalysis.missing``.

Per analysed frame (costs are CPU time on one thread, measured by ``bench/analysis_speed.py``):

- a 64-pixel thumbnail: brightness, named colours, and whether the frame is nearly the
  same as the last analysed one (then it is not analysed again: the earlier frame's
  results stand for it, see ``FrameLook.until``);
- faces: BlazeFace (at most MAX_FACES, the largest), a quality score, and for good
  faces only a FaceRes identity vector and a 112-pixel crop; faces in consecutive
  analysed frames that match are one track;
- objects: CenterNet where the picture changed (at most every OBJECTS_EVERY-th analysed
  frame, at least every OBJECTS_MAX_GAP seconds), confident boxes only, each with its
  colour;
- words: the cheap ``text_presence`` test on every frame; the PP-OCR reader only where
  it passes, not more often than TEXT_GAP seconds of video, less often while reads find
  nothing (see ``_wants_text``). These rate limits carry over from one call to the next
  when the next call's frames come later (the next window of the same file).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from app.core.vocabulary import ACHROMATIC, COLOUR_NAMES

# --- tuning (each value says what it was measured on) --------------------------------

# Faces per frame that are refined and kept: a crowd costs at most this (the detector's
# second look runs in batches of 8 on up to twice this many candidates). The largest
# faces are kept; in a crowd the rest are too small for identity anyway.
MAX_FACES = 8
# face_quality (size x sharpness x frontal pose) at or above which a face gets an identity
# vector and a crop. Measured on the astronaut pasted into 960x540 frames, cosine of her
# vector to the sharp 110-px face's: sharp 60 px, quality 0.49: 0.98; sharp 41 px, 0.20:
# 0.94; 60 px slightly blurred, 0.12: 0.79; 41 px blurred, 0.04: 0.75; 30 px, 0.03: 0.84;
# heavily blurred at any size, 0.0: 0.45-0.47, no better than another person's face (0.36).
IDENTITY_QUALITY = 0.1
MAX_EMBEDDED = 4  # identity vectors per frame (about 15 ms each), best quality first
CROP_SIZE = 112
CROP_QUALITY = 80

# Objects: CenterNet scores of true objects on scikit-image's photos were 0.50-0.61
# (person, cat, cup, horse); look-alikes 0.15-0.41 (clock on coins, kite on the moon),
# with one whole-frame umbrella at 0.53 on a retina scan. People are the class home video
# is about and are scored lower when small or partly hidden, so they get a lower bar.
OBJECT_THRESHOLD = 0.45
PERSON_THRESHOLD = 0.4
MAX_OBJECTS = 12  # per frame, best first
# The detector (about 60 ms a frame) runs on the first analysed frame, then when the
# picture has changed since its last run (a mean difference of OBJECTS_CHANGE grey levels
# between 32x18 thumbnails) but on at most every OBJECTS_EVERY-th analysed frame, and at
# least every OBJECTS_MAX_GAP seconds. Measured on the corpus at five-second spacing:
# a static street camera with pedestrians differs by 3-8 between frames, hand-held shots
# of one subject by 13-30, cuts by 33-71.
OBJECTS_EVERY = 2
OBJECTS_CHANGE = 10.0
OBJECTS_MAX_GAP = 20.0

# Words: text_presence >= ocr.PRESENCE_THRESHOLD (0.2) means "maybe text". Measured at
# 960 px: the drawn text scenes of tests/test_ocr_model.py score 0.57-1.0; photos
# without text that pass the gate score 0.24-0.40 (astronaut, rocket, coffee, coins),
# one star field 0.67, and the corpus's street footage (pedestrians, railings, no
# legible text) 0.45-0.75 on every frame. The reader costs about 100 ms (detector) plus
# 5-25 ms per line, so a likely-text frame is read at most every TEXT_GAP seconds of
# video and a maybe-text frame every WEAK_TEXT_GAP; each read that finds nothing doubles
# both gaps (up to MAX_TEXT_GAP) until one finds words again.
STRONG_TEXT = 0.5
# A quick look by the text detector itself (see _probe_finds_text): once per file start
# and per PROBE_GAP seconds of video, at this detector input side.
PROBE_GAP = 60.0
PROBE_SIDE = 480
TEXT_GAP = 8.0
WEAK_TEXT_GAP = 30.0
MAX_TEXT_GAP = 120.0
MIN_LINE_CHARS = 2  # single glyphs read off textures ("1", "人") are mostly misreadings

# Near-identical frames: mean absolute difference of 32x18 grey thumbnails, in grey
# levels. A tripod shot with a person talking differs by 4-10 between frames five
# seconds apart; an unchanged title or a still scene by under 1.5 (encoder noise).
SAME_FRAME_DIFF = 2.0
THUMB_SIDE = 64  # colours and brightness are read from this small a picture

# Tracks: consecutive analysed frames' faces are one person when their identity vectors
# agree (cosine; same face 0.89-0.98, other people below 0.45, see
# tests/test_face_models.py) or, without vectors, when their boxes overlap well.
TRACK_COSINE = 0.6
TRACK_COSINE_NEAR = 0.4  # enough when the boxes also overlap (IoU >= TRACK_IOU_NEAR)
TRACK_IOU_NEAR = 0.3
TRACK_IOU_ALONE = 0.5  # a face without a vector follows a box this close
TRACK_GAP = 12.0  # seconds between two analysed frames beyond which no track continues

# Colours. Pixels are named in HSV (OpenCV: H 0-179, S and V 0-255).
FRAME_COLOUR_SHARE = 0.1  # a colour is named for a frame when it covers this much of it
# A true colour stands out from grey, white and black well below that: a yellow box
# filling a twentieth of a dim room is what a person calls the yellow thing.
CHROMATIC_COLOUR_SHARE = 0.05
MAX_FRAME_COLOURS = 5
DARK_LUMA = 0.25  # mean luma 0..1 below which a frame is "dark" (night, a dim room)
BRIGHT_LUMA = 0.7  # and above which it is "bright" (snow, beach, overexposed)


# --- results --------------------------------------------------------------------------

@dataclass
class FaceSighting:
    t: float
    box: tuple[float, float, float, float]  # x, y, width, height as fractions of the frame
    score: float  # detector confidence
    quality: float  # face_quality 0..1
    embedding: np.ndarray | None  # float16 [1024] L2-normed; None below IDENTITY_QUALITY
    crop: bytes | None  # JPEG, CROP_SIZE square, aligned face; None without embedding
    track: int = -1  # per file: the same face followed across consecutive analysed frames


@dataclass
class ObjectSighting:
    t: float
    label: str  # COCO class name
    score: float
    box: tuple[float, float, float, float]  # x, y, width, height as fractions of the frame
    colour: str | None  # the box's dominant colour (COLOUR_NAMES)


@dataclass
class FrameText:
    t: float
    lines: list[str]
    tokens: list[str]  # ocr.normalize_words of the lines: what search matches


@dataclass
class FrameLook:
    """One analysed frame: what was looked at, and what is true of the frame as a whole."""

    t: float
    until: float  # later frames, nearly identical, were not analysed up to this time
    brightness: float  # mean luma 0..1
    light: str | None  # "dark" | "bright" | None
    colours: list[tuple[str, float]]  # named colours covering enough (see _frame_look)
    faces_seen: int  # faces found, whether good enough for identity or not
    text_score: float  # text_presence 0..1
    objects_run: bool  # the object detector looked at this frame
    text_run: bool  # the text reader looked at this frame


@dataclass
class FrameAnalysis:
    frames: list[FrameLook] = field(default_factory=list)
    faces: list[FaceSighting] = field(default_factory=list)
    objects: list[ObjectSighting] = field(default_factory=list)
    texts: list[FrameText] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "faces" | "objects" | "text"
    stats: dict[str, float] = field(default_factory=dict)  # CPU seconds and counts

    @classmethod
    def concat(cls, parts: list[FrameAnalysis]) -> FrameAnalysis:
        """One file's analysis from those of its windows, in time order; face tracks
        are linked again over the whole file, so they continue across windows."""
        parts = sorted((p for p in parts if p is not None),
                       key=lambda p: p.frames[0].t if p.frames else float("inf"))
        out = cls()
        for part in parts:
            if out.frames and part.frames and part.frames[0].t <= out.frames[-1].t:
                raise ValueError("analysis windows overlap in time")
            out.frames += part.frames
            out.faces += part.faces
            out.objects += part.objects
            out.texts += part.texts
            out.missing += [m for m in part.missing if m not in out.missing]
            for key, value in part.stats.items():
                out.stats[key] = out.stats.get(key, 0) + value
        link_tracks(out)
        return out


# --- models, once per process ---------------------------------------------------------

@dataclass
class _Models:
    detector: object | None
    embedder: object | None
    objects: object | None
    reader: object | None
    missing: list[str]


_models: _Models | None = None
_models_lock = threading.Lock()


def _load_models() -> _Models:
    """The four models, each opened once per process with one thread; a model that is
    not installed (or damaged) leaves its part out."""
    global _models
    with _models_lock:
        if _models is not None:
            return _models
        from app.inference import faces, objects, ocr
        from app.inference.session import ModelError

        missing: list[str] = []

        def load(part: str, make):
            try:
                return make()
            except (ModelError, FileNotFoundError, ValueError):
                if part not in missing:
                    missing.append(part)
                return None

        detector = load("faces", lambda: faces.FaceDetector(threads=1, max_faces=MAX_FACES))
        embedder = load("faces", lambda: faces.FaceEmbedder(threads=1))
        if detector is None or embedder is None:
            detector = embedder = None
        _models = _Models(detector, embedder,
                          load("objects", lambda: objects.ObjectDetector(threads=1)),
                          load("text", lambda: ocr.TextReader(threads=1)), missing)
        return _models


def reset_models() -> None:
    """Forget the loaded models (tests that change the models folder)."""
    global _models
    with _models_lock:
        _models = None


# --- the analysis ---------------------------------------------------------------------

def analyse_without_faces(times: np.ndarray, frames: list[np.ndarray]) -> FrameAnalysis:
    """``analyse`` with face recognition off (Settings.faces): no face is looked for."""
    return analyse(times, frames, faces=False)


def analyse(times: np.ndarray, frames: list[np.ndarray], faces: bool = True) -> FrameAnalysis:
    """Faces, objects, words and colours of sparse frames of one clip (see the module
    docstring). ``times`` in seconds, ``frames`` HxWx3 uint8 RGB, in time order."""
    from app.inference import ocr

    models = _load_models()
    if not faces:
        models = dataclasses.replace(models, detector=None, embedder=None)
    out = FrameAnalysis(missing=list(models.missing))
    cost = {"looks_s": 0.0, "faces_s": 0.0, "objects_s": 0.0, "text_s": 0.0}
    counts = {"frames": len(frames), "analysed": 0, "faces_embedded": 0, "objects_frames": 0,
              "text_frames": 0}
    last_small: np.ndarray | None = None
    last_objects, text_state = _rate_state(times)
    for t, rgb in zip(np.asarray(times, np.float64), frames, strict=True):
        t = round(float(t), 3)
        _rates["last_t"] = t
        rgb = np.ascontiguousarray(rgb)
        clock = time.thread_time()
        small = _thumbnail(rgb)
        grey = cv2.resize(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (32, 18),
                          interpolation=cv2.INTER_AREA).astype(np.float32)
        if (last_small is not None and out.frames
                and float(np.abs(grey - last_small).mean()) < SAME_FRAME_DIFF):
            out.frames[-1].until = t  # nothing new to see: the earlier frame stands for it
            cost["looks_s"] += time.thread_time() - clock
            continue
        last_small = grey
        look = FrameLook(t=t, until=t, brightness=0.0, light=None, colours=[], faces_seen=0,
                         text_score=0.0, objects_run=False, text_run=False)
        look.brightness, look.light, look.colours = _frame_look(small)
        look.text_score = ocr.text_presence(rgb)
        now = time.thread_time()
        cost["looks_s"] += now - clock
        clock = now

        if models.detector is not None:
            found, look.faces_seen = _faces(models, rgb, t)
            counts["faces_embedded"] += sum(f.embedding is not None for f in found)
            out.faces += found
        now = time.thread_time()
        cost["faces_s"] += now - clock
        clock = now

        if models.objects is not None and _wants_objects(grey, t, last_objects):
            out.objects += _objects(models, rgb, t)
            look.objects_run = True
            counts["objects_frames"] += 1
        now = time.thread_time()
        cost["objects_s"] += now - clock
        clock = now

        if models.reader is not None and (
                _wants_text(look.text_score, t, text_state)
                or _probe_finds_text(models.reader, rgb, t, text_state)):
            lines = [line.text for line in models.reader.read(rgb)
                     if len(line.text.replace(" ", "")) >= MIN_LINE_CHARS]
            look.text_run = True
            counts["text_frames"] += 1
            text_state["misses"] = 0 if lines else text_state["misses"] + 1
            if lines:
                out.texts.append(FrameText(t, lines, ocr.normalize_words(lines)))
        cost["text_s"] += time.thread_time() - clock
        counts["analysed"] += 1
        out.frames.append(look)
    out.stats = {**cost, **counts}
    link_tracks(out)
    return out


# When the objects and words were last looked for, carried from one call to the next:
# the windows of one file come in time order to the same worker process, and the rate
# limits must hold across them. A call whose first frame is not after the last one
# analysed is another file (or the same again): it starts afresh.
_rates: dict = {"last_t": np.inf}


def _rate_state(times: np.ndarray) -> tuple[dict, dict]:
    if not len(times) or float(times[0]) <= _rates["last_t"]:
        _rates.update(last_t=-np.inf,
                      objects={"t": -np.inf, "grey": None, "frames_since": OBJECTS_EVERY},
                      text={"strong": -np.inf, "weak": -np.inf, "misses": 0,
                            "probe": -np.inf})
    return _rates["objects"], _rates["text"]


def _wants_objects(grey: np.ndarray, t: float, state: dict) -> bool:
    """Whether to look for objects in this analysed frame (``state``: the last run's time
    and thumbnail, analysed frames since)."""
    state["frames_since"] += 1
    changed = state["grey"] is None or float(np.abs(grey - state["grey"]).mean()) >= OBJECTS_CHANGE
    if (changed and state["frames_since"] >= OBJECTS_EVERY) or t - state["t"] >= OBJECTS_MAX_GAP:
        state.update(t=t, grey=grey, frames_since=0)
        return True
    return False


def _probe_finds_text(reader, rgb: np.ndarray, t: float, state: dict) -> bool:
    """The cheap test misses real titles (bold white words over a busy picture scored
    0.01 where the reader read "MY TRIP 2024" at 0.95), so the first analysed frame of a
    file, and one every PROBE_GAP seconds after, get a quick look by the text detector
    itself at PROBE_SIDE (about a quarter of a full read's detection)."""
    if t - state.get("probe", -np.inf) < PROBE_GAP:
        return False
    state["probe"] = t
    return bool(reader.detect(rgb, max_side=PROBE_SIDE))


def _wants_text(score: float, t: float, state: dict) -> bool:
    """Whether to read this frame's words, given its text presence and the reads so far
    (``state``: last strong and weak read times, reads in a row that found nothing)."""
    from app.inference.ocr import PRESENCE_THRESHOLD

    backoff = 2.0 ** state["misses"]
    if score >= STRONG_TEXT and t - state["strong"] >= min(MAX_TEXT_GAP, TEXT_GAP * backoff):
        state["strong"] = state["weak"] = t
        return True
    if (PRESENCE_THRESHOLD <= score < STRONG_TEXT
            and t - state["weak"] >= min(MAX_TEXT_GAP, WEAK_TEXT_GAP * backoff)):
        state["weak"] = t
        return True
    return False


def _thumbnail(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    k = THUMB_SIDE / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * k)), max(1, round(h * k))),
                      interpolation=cv2.INTER_AREA)


def _frame_look(small: np.ndarray) -> tuple[float, str | None, list[tuple[str, float]]]:
    luma = float(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).mean()) / 255.0
    light = "dark" if luma < DARK_LUMA else "bright" if luma > BRIGHT_LUMA else None
    shares = colour_shares(small)
    named = [(name, round(share, 3)) for name, share in shares
             if share >= (FRAME_COLOUR_SHARE if name in ACHROMATIC else CHROMATIC_COLOUR_SHARE)
             ][:MAX_FRAME_COLOURS]
    return round(luma, 3), light, named


def _faces(models: _Models, rgb: np.ndarray, t: float) -> tuple[list[FaceSighting], int]:
    from app.inference.faces import align_face, face_quality

    detected = models.detector.detect(rgb)
    h, w = rgb.shape[:2]
    rated = []
    for face in detected:
        aligned = align_face(rgb, face.landmarks)
        rated.append((face, aligned, face_quality(rgb, face, aligned).score))
    good = sorted((i for i, (_, _, q) in enumerate(rated) if q >= IDENTITY_QUALITY),
                  key=lambda i: -rated[i][2])[:MAX_EMBEDDED]
    vectors = (models.embedder.embed_aligned(np.stack([rated[i][1] for i in good]))
               if good else np.zeros((0, 0), np.float32))
    vector_of = {i: vectors[n] for n, i in enumerate(good)}
    found = []
    for i, (face, aligned, quality) in enumerate(rated):
        x1, y1, x2, y2 = (float(v) for v in face.box)
        x1, x2 = max(0.0, x1 / w), min(1.0, x2 / w)
        y1, y2 = max(0.0, y1 / h), min(1.0, y2 / h)
        if x2 <= x1 or y2 <= y1:
            continue
        vector = vector_of.get(i)
        found.append(FaceSighting(
            t=t, box=(round(x1, 4), round(y1, 4), round(x2 - x1, 4), round(y2 - y1, 4)),
            score=round(face.score, 3), quality=round(quality, 3),
            embedding=vector.astype(np.float16) if vector is not None else None,
            crop=_jpeg(cv2.resize(aligned, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA))
            if vector is not None else None))
    return found, len(detected)


def _objects(models: _Models, rgb: np.ndarray, t: float) -> list[ObjectSighting]:
    kept = [d for d in models.objects.detect(rgb)
            if d.score >= (PERSON_THRESHOLD if d.label == "person" else OBJECT_THRESHOLD)]
    out = []
    for d in kept[:MAX_OBJECTS]:
        x1, y1, x2, y2 = d.box
        out.append(ObjectSighting(
            t=t, label=d.label, score=round(d.score, 3),
            box=(round(x1, 4), round(y1, 4), round(x2 - x1, 4), round(y2 - y1, 4)),
            colour=box_colour(rgb, d.box)))
    return out


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, CROP_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


# --- colours --------------------------------------------------------------------------

# Hue bounds in OpenCV units (degrees / 2): red wraps around 0.
_HUES = ((8, "red"), (19, "orange"), (34, "yellow"), (85, "green"), (130, "blue"),
         (148, "purple"), (170, "pink"), (180, "red"))


def name_pixels(rgb: np.ndarray) -> np.ndarray:
    """Index into COLOUR_NAMES of each pixel of an HxWx3 uint8 RGB image.

    Dark pixels are black; washed-out ones white or grey by brightness; the rest are
    named by hue, with dark orange and dark yellow as brown and pale red as pink.
    """
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h = hsv[..., 0].astype(np.int16)
    s = hsv[..., 1].astype(np.int16)
    v = hsv[..., 2].astype(np.int16)
    index = np.zeros(h.shape, np.int8)
    lower = 0
    for upper, name in _HUES:
        index[(h >= lower) & (h < upper)] = COLOUR_NAMES.index(name)
        lower = upper
    orange, yellow, red = (COLOUR_NAMES.index(n) for n in ("orange", "yellow", "red"))
    brown = COLOUR_NAMES.index("brown")
    index[((index == orange) & (v < 160)) | ((index == yellow) & (v < 120))
          | ((index == red) & (v < 130) & (s < 170))] = brown
    index[(index == red) & (s < 130) & (v > 170)] = COLOUR_NAMES.index("pink")
    grey_ish = s < 45 + (255 - v) // 8  # dim pixels need more saturation to look coloured
    index[grey_ish] = COLOUR_NAMES.index("grey")
    index[grey_ish & (v >= 200)] = COLOUR_NAMES.index("white")
    index[(v < 45) | ((v < 64) & (s < 100))] = COLOUR_NAMES.index("black")
    return index


def colour_shares(rgb: np.ndarray) -> list[tuple[str, float]]:
    """(colour, share of the pixels) for each colour present, largest first."""
    counts = np.bincount(name_pixels(rgb).ravel(), minlength=len(COLOUR_NAMES))
    total = max(1, int(counts.sum()))
    order = np.argsort(-counts, kind="stable")
    return [(COLOUR_NAMES[i], float(counts[i]) / total) for i in order if counts[i]]


def box_colour(rgb: np.ndarray, box: tuple[float, float, float, float]) -> str | None:
    """The dominant colour of the middle of a box [x1, y1, x2, y2] (fractions): the
    middle half of each side, where the object is and the background is not."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) / 4, (y2 - y1) / 4
    c1, c2 = int((x1 + mx) * w), int(np.ceil((x2 - mx) * w))
    r1, r2 = int((y1 + my) * h), int(np.ceil((y2 - my) * h))
    patch = rgb[max(0, r1):min(h, r2), max(0, c1):min(w, c2)]
    if patch.size == 0:
        return None
    side = max(patch.shape[:2])
    if side > 48:
        k = 48 / side
        patch = cv2.resize(patch, (max(1, round(patch.shape[1] * k)),
                                   max(1, round(patch.shape[0] * k))),
                           interpolation=cv2.INTER_AREA)
    shares = colour_shares(np.ascontiguousarray(patch))
    return shares[0][0] if shares else None


# --- face tracks ----------------------------------------------------------------------

def _iou(a: tuple, b: tuple) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _match(a: FaceSighting, b: FaceSighting) -> float:
    """How well two faces of consecutive analysed frames match; 0 = not the same."""
    iou = _iou(a.box, b.box)
    if a.embedding is not None and b.embedding is not None:
        cosine = float(np.dot(a.embedding.astype(np.float32), b.embedding.astype(np.float32)))
        if cosine >= TRACK_COSINE or (cosine >= TRACK_COSINE_NEAR and iou >= TRACK_IOU_NEAR):
            return 1.0 + cosine + iou
        return 0.0
    return iou if iou >= TRACK_IOU_ALONE else 0.0


def link_tracks(analysis: FrameAnalysis) -> None:
    """Number face tracks 0.. over the whole analysis: a face continues the track of the
    best-matching face of the previous analysed frame (each face joins at most one)."""
    by_time: dict[float, list[FaceSighting]] = {}
    for face in analysis.faces:
        by_time.setdefault(face.t, []).append(face)
    previous: list[FaceSighting] = []
    previous_until = -np.inf
    next_track = 0
    for look in analysis.frames:
        current = by_time.get(look.t, [])
        pairs = []
        if look.t - previous_until <= TRACK_GAP:
            pairs = sorted(((_match(p, c), i, j) for i, p in enumerate(previous)
                            for j, c in enumerate(current)), reverse=True)
        taken_prev, taken_cur = set(), set()
        for score, i, j in pairs:
            if score <= 0:
                break
            if i in taken_prev or j in taken_cur:
                continue
            current[j].track = previous[i].track
            taken_prev.add(i)
            taken_cur.add(j)
        for j, face in enumerate(current):
            if j not in taken_cur:
                face.track = next_track
                next_track += 1
        previous, previous_until = current, look.until
    analysis.faces.sort(key=lambda f: (f.t, f.track))

