"""COCO objects in frames: CenterNet (MobileNetV3) with its own peak decoding in the graph.

The ONNX graph (``models/objects.py``) takes any input size on its 32-pixel grid and
returns its 100 best peaks; this wrapper letterboxes the frame into the 512x512 square
the network was trained at, keeps the confident peaks, runs per-class NMS and maps boxes
back to the frame as fractions 0..1.

``fit_frame`` gives the network the frame at its own aspect ratio instead (512x288 for
16:9, 512x384 for 4:3): 40-45% less CPU for a 16:9 frame (measured 62.6 -> 37.3 ms on
the corpus and scikit-image's photos), the same objects in the same places, but not the
same scores. The squeeze-excite blocks average over the whole input, grey padding
included, and without it most scores drop a little: people on the corpus's street
footage by 0.00-0.05, chelsea's cat 0.50 -> 0.43, a hand taken for a person 0.41 ->
below 0.3, false "sports balls" (litter, signs) by up to 0.19. The analysis thresholds
were measured on the square, and with fewer false people the search weighs "person"
differently (bench/quality.py: "people talking" r-precision 1.0 -> 0.75), so it stays
off until the thresholds are measured again on frames seen at their own shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from app import config
from app.inference.boxes import fit_to_grid, letterbox, nms
from app.inference.session import model_path, open_session

MODEL_FILE = "centernet_any_size.onnx"
INPUT_SIZE = 512  # the longer side; the network was trained on 512x512
STRIDE = 32  # input sides are multiples of it (the shorter side is padded up to one)
NUM_CLASSES = 80
MAX_DETECTIONS = 100  # peaks the graph returns
SCORE_THRESHOLD = 0.3
NMS_IOU = 0.5
LETTERBOX_FILL = 127  # grey padding scored a little better than black on real photos


@cache
def coco_labels() -> tuple[str, ...]:
    text = (config.resources_dir() / "coco_labels.txt").read_text(encoding="utf-8")
    labels = tuple(line for line in text.splitlines() if line)
    if len(labels) != NUM_CLASSES:
        raise ValueError(f"coco_labels.txt has {len(labels)} labels, expected {NUM_CLASSES}")
    return labels


@dataclass(frozen=True)
class Detection:
    """One object: COCO class name, score 0..1, box [x1, y1, x2, y2] as fractions 0..1."""

    label: str
    score: float
    box: tuple[float, float, float, float]


class ObjectDetector:
    INPUT_SIZE = INPUT_SIZE

    def __init__(self, path: Path | None = None, threads: int | None = None, *, session=None,
                 threshold: float = SCORE_THRESHOLD, fit_frame: bool = False):
        if session is None:
            session = open_session(path if path is not None else model_path(MODEL_FILE),
                                   threads, arena=False)
        self.session = session
        self.threshold = threshold
        self.fit_frame = fit_frame

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Objects in an HxWx3 uint8 RGB frame, best score first."""
        h, w = rgb.shape[:2]
        if self.fit_frame:
            canvas, scale = fit_to_grid(rgb, INPUT_SIZE, STRIDE, fill=LETTERBOX_FILL)
        else:
            canvas, scale = letterbox(rgb, INPUT_SIZE, fill=LETTERBOX_FILL)
        (raw,) = self.session.run(["detections"], {"image": canvas[None]})
        raw = raw[0]
        raw = raw[raw[:, 4] >= self.threshold]
        labels = coco_labels()
        found: list[Detection] = []
        for cls in np.unique(raw[:, 5]).astype(int):
            rows = raw[raw[:, 5] == cls]
            for i in nms(rows[:, :4], rows[:, 4], NMS_IOU):
                x1, y1, x2, y2 = rows[i, :4] / scale
                box = (float(np.clip(x1 / w, 0, 1)), float(np.clip(y1 / h, 0, 1)),
                       float(np.clip(x2 / w, 0, 1)), float(np.clip(y2 / h, 0, 1)))
                if box[2] > box[0] and box[3] > box[1]:
                    found.append(Detection(labels[cls], float(rows[i, 4]), box))
        return sorted(found, key=lambda d: -d.score)
