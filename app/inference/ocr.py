"""Words on screen: a cheap text-presence test, PP-OCR detection + recognition, search tokens.

The models (built by ``models/ocr.py``) are PaddleOCR's DB text detector and CTC text
recognizer as ONNX (their element-wise arithmetic folded into the convolutions), with
the recognizer's character list in a text file:

- ``ocr_det_folded.onnx``: float32 [1, 3, H, W] (H, W multiples of 32), BGR,
  ``(x/255 - 0.5) / 0.5`` -> [1, 1, H, W] probability that a pixel lies inside a text
  line's shrunk kernel.
- ``ocr_rec_folded.onnx``: float32 [N, 3, 48, W], BGR, same normalization -> [N, T, C] softmax
  over C classes per time step (T = W / 8): class 0 is the CTC blank, class i (1..C-2) is
  line i of ``ocr_keys.txt``, class C-1 is a space.

``text_presence`` runs on OpenCV alone in a few milliseconds; callers use it to skip the
networks on frames that plainly hold no text. ``TextReader.read`` is the full pipeline,
bounded per frame (one detector pass at most ``max_side`` pixels wide, at most
``max_lines`` recognized lines). ``normalize_words`` turns the lines into search tokens.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app import config
from app.inference.session import model_path, open_session

DET_FILE = "ocr_det_folded.onnx"
REC_FILE = "ocr_rec_folded.onnx"
KEYS_FILE = "ocr_keys.txt"

# Detection: the longer side of the image the detector sees (a 1920x1080 frame runs at
# 960x544). Both sides are rounded to a multiple of 32, the network's total stride.
DET_MAX_SIDE = 960
DET_STRIDE = 32
# DB post-processing, PaddleOCR's defaults: a pixel is text above BIN_THRESH; a region is
# kept when its mean probability reaches BOX_THRESH; boxes grow by UNCLIP_RATIO * area /
# perimeter on every side (DB's kernels are shrunk versions of the text lines).
BIN_THRESH = 0.3
BOX_THRESH = 0.6
UNCLIP_RATIO = 1.6
MIN_BOX_SIDE = 3  # pixels of the detector's input, before unclipping
MAX_CANDIDATES = 300  # contours looked at per frame
# Recognition: lines are squashed to 48 px high; a batch is padded to its widest line
# and at least REC_MIN_WIDTH (the width the recognizer was trained at).
REC_HEIGHT = 48
REC_MIN_WIDTH = 320
REC_MAX_WIDTH = 1600  # a 33:1 line; anything longer is squeezed
REC_BATCH = 6
MAX_LINES = 30
MIN_SCORE = 0.5  # mean character confidence below which a line is dropped

# text_presence works on a frame scaled to this width, with edges of this gradient.
PRESENCE_WIDTH = 640
PRESENCE_EDGE = 48
_ELLIPSE_3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_ROW_9 = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1))
# A frame with text_presence below this need not be read. Measured on 37 generated text
# frames (the scenes of tests/test_ocr_model.py and 30 random lines in five Hershey fonts,
# 15-60 px high, on photos): the lowest scored 0.26, so none is missed; 11 of 15 frames
# without text (photos, textures, noise, flat, gradient) score below it.
PRESENCE_THRESHOLD = 0.2


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float  # mean confidence of the line's characters, 0..1
    # Corners in the input image's pixels: top-left, top-right, bottom-right, bottom-left.
    box: tuple[tuple[float, float], ...]


# --- text presence ----------------------------------------------------------------------

def _gray_small(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    if w > PRESENCE_WIDTH:
        gray = cv2.resize(gray, (PRESENCE_WIDTH, max(1, round(h * PRESENCE_WIDTH / w))),
                          interpolation=cv2.INTER_AREA)
    return gray


def text_presence(rgb: np.ndarray) -> float:
    """How much an HxWx3 uint8 RGB frame looks like it holds text, 0..1 (a few ms).

    Text is a row of sharp, high-contrast strokes. The frame is scaled to 640 px wide;
    its morphological gradient is thresholded at a contrast fixed in grey levels (not
    relative to the frame, so a flat or softly lit frame finds nothing), and the edge
    pixels are closed horizontally into blobs. A blob is a candidate line when it is 6
    to 80 px high, at least 1.5 times as wide, and its edges fill 15-60% of its box. Its
    score multiplies three cues, each saturating at 1: the grey-level gap between the two
    Otsu classes inside it (ink against background: 60 -> 0, 160 -> 1), stroke edges
    crossed along its middle rows per line height (3 -> 1: glyphs give several, smooth
    contours few) and its aspect ratio (3 -> 1). The frame's score is its best blob's.
    """
    gray = _gray_small(rgb)
    gradient = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, _ELLIPSE_3)
    edges = (gradient >= PRESENCE_EDGE).astype(np.uint8)
    if not edges.any():
        return 0.0
    joined = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, _ROW_9)
    _, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    best = 0.0
    for x, y, w, h, area in stats[1:]:
        if h < 6 or h > 80 or w < 1.5 * h or area < 40:
            continue
        box = edges[y:y + h, x:x + w]
        fill = float(box.mean())
        if not 0.15 <= fill <= 0.6:
            continue
        middle = box[h // 4: h - h // 4]
        crossings = np.count_nonzero(np.diff(middle, axis=1)) / middle.shape[0] / (w / h)
        aspect_cue = min(1.0, w / h / 3.0)
        stroke_cue = min(1.0, crossings / 3.0)
        if aspect_cue * stroke_cue <= best:
            continue  # cannot beat the best blob whatever its contrast
        patch = gray[y:y + h, x:x + w]
        level, _ = cv2.threshold(patch, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        dark, light = patch[patch <= level], patch[patch > level]
        if dark.size == 0 or light.size == 0:
            continue
        contrast_cue = min(1.0, max(0.0, (float(light.mean()) - float(dark.mean()) - 60) / 100))
        best = max(best, contrast_cue * stroke_cue * aspect_cue)
    return float(best)


# --- detection --------------------------------------------------------------------------

def normalize_image(bgr: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> float32 3xHxW in [-1, 1]."""
    return ((bgr.astype(np.float32) * (2.0 / 255.0)) - 1.0).transpose(2, 0, 1)


def det_input_size(height: int, width: int, max_side: int = DET_MAX_SIDE) -> tuple[int, int]:
    """(h, w) the detector sees: scaled down to ``max_side``, each a multiple of 32."""
    scale = min(1.0, max_side / max(height, width))
    return (max(DET_STRIDE, round(height * scale / DET_STRIDE) * DET_STRIDE),
            max(DET_STRIDE, round(width * scale / DET_STRIDE) * DET_STRIDE))


def _order_corners(points: np.ndarray) -> np.ndarray:
    """Four points as top-left, top-right, bottom-right, bottom-left."""
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def _region_score(prob: np.ndarray, corners: np.ndarray) -> float:
    """Mean probability inside a quadrilateral of the probability map."""
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(corners - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _unclip(rect: tuple) -> tuple:
    """Grow a rotated rectangle by DB's offset on every side.

    DB trains its kernels shrunk by D = area * (1 - r^2) / perimeter and undoes that with
    a polygon offset of area * UNCLIP_RATIO / perimeter. For a rectangle, the offset
    polygon (rounded corners) has as its minimum-area rectangle the same rectangle with
    each side moved out by the offset, so no polygon clipper is needed.
    """
    (cx, cy), (w, h), angle = rect
    offset = w * h * UNCLIP_RATIO / (2.0 * (w + h))
    return (cx, cy), (w + 2 * offset, h + 2 * offset), angle


def boxes_from_probability(prob: np.ndarray, scale_x: float, scale_y: float,
                           image_size: tuple[int, int]) -> list[tuple[np.ndarray, float]]:
    """(corners [4, 2] in image pixels, score) of each text region of a [H, W] DB map."""
    bitmap = (prob > BIN_THRESH).astype(np.uint8)
    bitmap = cv2.dilate(bitmap, np.ones((2, 2), dtype=np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    # The largest regions first, so the candidate cap drops specks and not titles.
    contours = sorted(contours, key=cv2.contourArea, reverse=True)[:MAX_CANDIDATES]
    height, width = image_size
    found = []
    for contour in contours:
        if len(contour) < 4:
            continue
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < MIN_BOX_SIDE:
            continue
        score = _region_score(prob, cv2.boxPoints(rect))
        if score < BOX_THRESH:
            continue
        grown = _unclip(rect)
        if min(grown[1]) < MIN_BOX_SIDE + 2:
            continue
        corners = _order_corners(cv2.boxPoints(grown))
        corners[:, 0] = np.clip(corners[:, 0] * scale_x, 0, width - 1)
        corners[:, 1] = np.clip(corners[:, 1] * scale_y, 0, height - 1)
        found.append((corners, score))
    return found


def reading_order(boxes: list[np.ndarray]) -> list[int]:
    """Indices of boxes top-to-bottom, and left-to-right within a line.

    Boxes whose vertical centres lie within half a box height of a line's first box join
    that line.
    """
    if not boxes:
        return []
    centres = [(float(b[:, 1].mean()), float(b[:, 0].min()),
                float(np.linalg.norm(b[3] - b[0]))) for b in boxes]
    order = sorted(range(len(boxes)), key=lambda i: centres[i][0])
    lines: list[list[int]] = []
    for i in order:
        cy, _, h = centres[i]
        if lines:
            first = lines[-1][0]
            if abs(cy - centres[first][0]) <= 0.5 * max(h, centres[first][2]):
                lines[-1].append(i)
                continue
        lines.append([i])
    return [i for line in lines for i in sorted(line, key=lambda j: centres[j][1])]


# --- recognition ------------------------------------------------------------------------

def crop_line(bgr: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The quadrilateral warped upright; a tall crop (vertical text) is turned to read
    left to right."""
    width = int(round(max(np.linalg.norm(corners[0] - corners[1]),
                          np.linalg.norm(corners[3] - corners[2]))))
    height = int(round(max(np.linalg.norm(corners[0] - corners[3]),
                           np.linalg.norm(corners[1] - corners[2]))))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    crop = cv2.warpPerspective(bgr, matrix, (width, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
    if height >= 1.5 * width:
        crop = np.rot90(crop)
    return crop


def recognizer_batch(crops: list[np.ndarray]) -> np.ndarray:
    """Upright BGR line crops as one recognizer input: each 48 px high at its own aspect
    ratio, padded to the widest (at least REC_MIN_WIDTH)."""
    widths = [min(REC_MAX_WIDTH, math.ceil(REC_HEIGHT * c.shape[1] / c.shape[0])) for c in crops]
    batch_width = max(REC_MIN_WIDTH, max(widths))
    batch = np.zeros((len(crops), 3, REC_HEIGHT, batch_width), dtype=np.float32)
    for i, (crop, width) in enumerate(zip(crops, widths, strict=True)):
        resized = cv2.resize(crop, (width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        batch[i, :, :, :width] = normalize_image(resized)
    return batch


def ctc_greedy(probs: np.ndarray, keys: tuple[str, ...]) -> tuple[str, float]:
    """Best path of one [T, C] softmax: repeats collapsed, blanks dropped; score = mean
    probability of the kept steps (0 for an empty line)."""
    best = probs.argmax(axis=1)
    confidence = probs[np.arange(len(best)), best]
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    chars = [keys[k - 1] if k <= len(keys) else " " for k in best[keep]]
    text = "".join(chars).strip()
    return text, float(confidence[keep].mean()) if keep.any() and text else 0.0


def load_keys(path: Path) -> tuple[str, ...]:
    text = path.read_text(encoding="utf-8")
    if text.endswith("\n"):
        text = text[:-1]
    # split("\n"), not splitlines(): one key is U+3000 and others could be separators.
    return tuple(text.split("\n"))


class TextReader:
    """PP-OCR on RGB frames: DB detection, then CTC recognition of each detected line."""

    def __init__(self, models_dir: Path | None = None, threads: int | None = None,
                 max_side: int = DET_MAX_SIDE, max_lines: int = MAX_LINES,
                 min_score: float = MIN_SCORE):
        models_dir = models_dir or config.models_dir()
        # No arena: see open_session (the detector's input size varies with the frame).
        self.det = open_session(model_path(DET_FILE, models_dir), threads=threads, arena=False)
        self.rec = open_session(model_path(REC_FILE, models_dir), threads=threads, arena=False)
        self.keys = load_keys(model_path(KEYS_FILE, models_dir))
        classes = self.rec.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self.keys) + 2:
            raise ValueError(f"{KEYS_FILE} has {len(self.keys)} keys, the recognizer "
                             f"{classes} classes (expected keys + blank + space)")
        self.max_side = max_side
        self.max_lines = max_lines
        self.min_score = min_score

    def detect(self, rgb: np.ndarray, max_side: int | None = None) -> list[np.ndarray]:
        """Corners [4, 2] (float32, image pixels) of up to ``max_lines`` text lines, in
        reading order; the largest lines are kept when there are more. ``max_side``: a
        smaller detector input than the reader's (a quick look for text, a quarter of the
        work at half the side)."""
        _check_rgb(rgb)
        height, width = rgb.shape[:2]
        det_h, det_w = det_input_size(height, width, max_side or self.max_side)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        small = cv2.resize(bgr, (det_w, det_h), interpolation=cv2.INTER_AREA
                           if det_w < width else cv2.INTER_LINEAR)
        (prob,) = self.det.run(None, {self.det.get_inputs()[0].name: normalize_image(small)[None]})
        found = boxes_from_probability(prob[0, 0], width / det_w, height / det_h,
                                       (height, width))
        if len(found) > self.max_lines:
            found = sorted(found, key=lambda f: -cv2.contourArea(f[0]))[:self.max_lines]
        boxes = [corners for corners, _ in found]
        return [boxes[i] for i in reading_order(boxes)]

    def recognize(self, bgr_crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, score) of each upright BGR line crop, in the order given."""
        out: list[tuple[str, float]] = [("", 0.0)] * len(bgr_crops)
        # Lines of similar shape share a batch, so little of it is padding.
        order = sorted(range(len(bgr_crops)),
                       key=lambda i: bgr_crops[i].shape[1] / bgr_crops[i].shape[0])
        name = self.rec.get_inputs()[0].name
        for start in range(0, len(order), REC_BATCH):
            idx = order[start:start + REC_BATCH]
            (probs,) = self.rec.run(None, {name: recognizer_batch([bgr_crops[i] for i in idx])})
            for row, i in enumerate(idx):
                out[i] = ctc_greedy(probs[row], self.keys)
        return out

    def read(self, rgb: np.ndarray) -> list[TextLine]:
        """The text lines of an HxWx3 uint8 RGB frame, top to bottom; lines scoring
        below ``min_score`` are dropped."""
        boxes = self.detect(rgb)
        if not boxes:
            return []
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        results = self.recognize([crop_line(bgr, b) for b in boxes])
        return [TextLine(text, score, tuple((float(x), float(y)) for x, y in box))
                for box, (text, score) in zip(boxes, results, strict=True)
                if text and score >= self.min_score]


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")


# --- search tokens ----------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")
# Joiners inside one written word: "e-mail", "don't", "U.S.A", "3.5".
_COMPOUND = re.compile(r"\w+(?:[-'’.·/]\w+)+")


def _fold(text: str) -> str:
    """NFKC, case-folded, accents stripped ("Café" -> "cafe", full-width "ＴＡＸＩ" -> "taxi")."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return unicodedata.normalize("NFC", "".join(c for c in text if not unicodedata.combining(c)))


def normalize_words(lines: Iterable[TextLine | str]) -> list[str]:
    """Search tokens of OCR lines, each once, in reading order.

    Tokens are runs of letters and digits, case-folded with accents stripped ("Café" ->
    "cafe", full-width "ＴＡＸＩ" -> "taxi"); underscores split. Some extra tokens undo
    what OCR and writers disagree on:

    - a word written with joiners also gives its joined form ("E-MAIL" -> "e", "mail",
      "email"; "U.S.A." -> "usa");
    - a run that mixes letters and digits, or a lower-to-upper case change, also gives
      its parts when each is at least two characters long: the recognizer drops the
      spaces of small text ("Station42North" -> "station42north", "station", "42",
      "north"; "EXIT12" -> "exit12", "exit", "12"; "B52" stays whole);
    - a zero between two letters, the recognizer's usual misreading of a capital O,
      also gives the word with an "o" ("C0FFEE" -> "c0ffee", "coffee").

    Single letters are dropped (mostly misread specks and stray glyphs); single digits
    and single CJK characters, which carry meaning, are kept. Fuzzy matching (an edit
    distance against these tokens: "C0FFEE" is one edit from "coffee") is left to the
    search side.
    """
    tokens: dict[str, None] = {}
    for line in lines:
        raw = unicodedata.normalize("NFKC", line.text if isinstance(line, TextLine) else line)
        raw = raw.replace("_", " ")
        for match in _TOKEN.finditer(raw):
            word = match.group()
            _add(tokens, _fold(word))
            parts = _split_word(word)
            if len(parts) > 1 and all(len(part) > 1 for part in parts):
                for part in parts:
                    _add(tokens, _fold(part))
        for match in _COMPOUND.finditer(raw):
            _add(tokens, _fold("".join(_TOKEN.findall(match.group()))))
    return list(tokens)


def _split_word(word: str) -> list[str]:
    """A run cut where letters meet digits and where a lower-case letter meets an upper."""
    parts, start = [], 0
    for i in range(1, len(word)):
        a, b = word[i - 1], word[i]
        if a.isdigit() != b.isdigit() or (a.islower() and b.isupper()):
            parts.append(word[start:i])
            start = i
    parts.append(word[start:])
    return parts


_ZERO_IN_WORD = re.compile(r"(?<=[^\W\d_])0(?=[^\W\d_])")


def _add(tokens: dict[str, None], token: str) -> None:
    if not token or (len(token) == 1 and not (token.isdigit() or _is_cjk(token))):
        return
    tokens.setdefault(token, None)
    if _ZERO_IN_WORD.search(token):
        tokens.setdefault(_ZERO_IN_WORD.sub("o", token), None)


def _is_cjk(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL"))
