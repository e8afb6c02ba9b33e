"""Faces in frames: BlazeFace detection (boxes, scores, 6 landmarks) and FaceRes identity
embeddings of aligned face crops, plus a face quality score.

Detection runs in two stages on the same small model (``models/faces.py``):

1. the whole frame, letterboxed to 256x256, gives candidate faces (a low threshold);
2. each candidate is looked at again in a crop four times its size, where the face fills
   a quarter of the model's input. That second look gives the final score, box and
   landmarks: much sharper landmarks for small faces, and it rejects look-alikes that
   fool the whole-frame pass (a cat's face scores 0.71 there, 0.51 here; real faces
   0.87-0.96).

Faces smaller than about 1/16 of the frame's longer side are below what the 256-pixel
first pass can see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.inference.boxes import box_iou, letterbox, nms
from app.inference.session import model_path, open_session

DETECTOR_FILE = "blazeface.onnx"
EMBEDDER_FILE = "faceres.onnx"
DETECTOR_INPUT_SIZE = 256
EMBEDDER_INPUT_SIZE = 224
EMBEDDING_DIM = 1024
NUM_LANDMARKS = 6  # eye, eye, nose tip, mouth centre, ear, ear (image left one first)
# Landmark order after a horizontal flip (left and right swap).
MIRROR_ORDER = (1, 0, 2, 3, 5, 4)
MAX_FACES = 20  # per frame: the largest ones are kept
CANDIDATE_THRESHOLD = 0.4  # first pass: anything face-like
SCORE_THRESHOLD = 0.65  # second pass: what counts as a face
NMS_IOU = 0.3
REFINE_CONTEXT = 4.0  # the second look's crop, in face sizes
REFINE_BATCH = 8
EMBED_BATCH = 8
# Canonical landmark positions in the 224x224 descriptor input (eyes, nose, mouth):
# the ArcFace 112-pixel five-point template, mouth corners averaged, spread by 1.6 about
# the centre (FaceRes was trained on looser crops than ArcFace). Measured on real faces:
# 1.6 gave the widest gap between same-face and other-face distances of 2.0/1.6/1.3/1.0.
_ARCFACE_112 = np.array([[38.29, 51.70], [73.53, 51.50], [56.03, 71.74], [56.14, 92.28]],
                        np.float32)
ALIGN_SPREAD = 1.6
CANONICAL_LANDMARKS = ((_ARCFACE_112 - 56.0) * ALIGN_SPREAD
                       + EMBEDDER_INPUT_SIZE / 2).astype(np.float32)


@dataclass(frozen=True)
class Face:
    """One face in frame pixels: box [x1, y1, x2, y2], score 0..1, landmarks [6, 2]."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def size(self) -> float:
        """The box's shorter side in pixels."""
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))


def anchors(size: int = DETECTOR_INPUT_SIZE) -> np.ndarray:
    """BlazeFace anchor centres in input pixels: 16x16 grid (2 each), then 8x8 (6 each)."""
    centres = []
    for stride, per_cell in ((size // 16, 2), (size // 8, 6)):
        grid = (size + stride - 1) // stride
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        cells = np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1)
        centres.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode(logits: np.ndarray, regressors: np.ndarray, anchor_centres: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores [A], boxes [A, 4] and landmarks [A, 6, 2] in input pixels for one image."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
    centres = regressors[:, 0:2] + anchor_centres
    half = regressors[:, 2:4] / 2
    boxes = np.concatenate([centres - half, centres + half], axis=1)
    landmarks = regressors[:, 4:16].reshape(-1, NUM_LANDMARKS, 2) + anchor_centres[:, None]
    return scores.astype(np.float32), boxes, landmarks


def letterbox_frame(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    return letterbox(rgb, DETECTOR_INPUT_SIZE)


class FaceDetector:
    INPUT_SIZE = DETECTOR_INPUT_SIZE

    def __init__(self, path: Path | None = None, threads: int | None = None, *,
                 session=None, max_faces: int = MAX_FACES,
                 threshold: float = SCORE_THRESHOLD):
        if session is None:
            session = open_session(path if path is not None else model_path(DETECTOR_FILE),
                                   threads, arena=False)
        self.session = session
        self.max_faces = max_faces
        self.threshold = threshold
        self.anchors = anchors()

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.session.run(["logits", "regressors"], {"image": batch})

    def candidates(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First pass: candidate boxes [K, 4] in frame pixels and their scores [K]."""
        canvas, scale = letterbox(rgb, DETECTOR_INPUT_SIZE)
        logits, regressors = self._run(canvas[None])
        scores, boxes, _ = decode(logits[0], regressors[0], self.anchors)
        keep = np.flatnonzero(scores >= CANDIDATE_THRESHOLD)
        if keep.size == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        kept = nms(boxes[keep], scores[keep], NMS_IOU)
        return boxes[keep][kept] / scale, scores[keep][kept]

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an HxWx3 uint8 RGB frame, largest first, at most ``max_faces``."""
        boxes, _ = self.candidates(rgb)
        if len(boxes) == 0:
            return []
        # Keep the largest candidates: those are the faces a cap would keep anyway.
        sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        order = np.argsort(-sides, kind="stable")[: 2 * self.max_faces]
        faces = []
        for start in range(0, len(order), REFINE_BATCH):
            faces.extend(self._refine(rgb, boxes[order[start:start + REFINE_BATCH]]))
        faces = [f for f in faces if f.score >= self.threshold]
        if not faces:
            return []
        # Two candidates can settle on the same face in the second look.
        all_boxes = np.stack([f.box for f in faces])
        kept = nms(all_boxes, np.array([f.score for f in faces]), NMS_IOU)
        faces = sorted((faces[i] for i in kept), key=lambda f: -f.size)
        return faces[: self.max_faces]

    def _refine(self, rgb: np.ndarray, boxes: np.ndarray) -> list[Face]:
        size = DETECTOR_INPUT_SIZE
        crops, transforms = [], []
        for box in boxes:
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            half = max(box[2] - box[0], box[3] - box[1], 1.0) * REFINE_CONTEXT / 2
            k = size / (2 * half)
            m = np.array([[k, 0, (half - cx) * k], [0, k, (half - cy) * k]], np.float64)
            crops.append(cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA
                                        if k < 1 else cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT))
            transforms.append((k, m[:, 2].copy()))
        logits, regressors = self._run(np.stack(crops))
        centre = np.array([size / 2, size / 2, size / 2, size / 2], np.float32)
        expected = centre + np.array([-1, -1, 1, 1], np.float32) * size / REFINE_CONTEXT / 2
        faces = []
        for i, (k, offset) in enumerate(transforms):
            scores, found, landmarks = decode(logits[i], regressors[i], self.anchors)
            # The face the crop was made for sits in the middle: weigh by overlap with it.
            overlap = box_iou(expected, found)
            best = int(np.argmax(scores * (overlap > 0.2)))
            if overlap[best] <= 0.2:
                continue
            faces.append(Face(box=((found[best].reshape(2, 2) - offset) / k).ravel()
                              .astype(np.float32),
                              score=float(scores[best]),
                              landmarks=((landmarks[best] - offset) / k).astype(np.float32)))
        return faces


def similarity_transform(landmarks: np.ndarray) -> np.ndarray:
    """2x3 matrix taking a face's eyes, nose and mouth to the canonical positions."""
    src = np.asarray(landmarks, np.float32)[:4]
    matrix, _ = cv2.estimateAffinePartial2D(src, CANONICAL_LANDMARKS, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks: fall back to the eyes alone
        (x0, y0), (x1, y1) = src[0], src[1]
        (u0, v0), (u1, v1) = CANONICAL_LANDMARKS[0], CANONICAL_LANDMARKS[1]
        a = complex(u1 - u0, v1 - v0) / (complex(x1 - x0, y1 - y0) or 1e-6)
        t = complex(u0, v0) - a * complex(x0, y0)
        matrix = np.array([[a.real, -a.imag, t.real], [a.imag, a.real, t.imag]])
    return matrix


def align_face(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 224x224 uint8 RGB face crop the descriptor expects."""
    matrix = similarity_transform(landmarks)
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    return cv2.warpAffine(rgb, matrix, (EMBEDDER_INPUT_SIZE, EMBEDDER_INPUT_SIZE),
                          flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


class FaceEmbedder:
    INPUT_SIZE = EMBEDDER_INPUT_SIZE
    EMBEDDING_DIM = EMBEDDING_DIM

    def __init__(self, path: Path | None = None, threads: int | None = None, *, session=None):
        if session is None:
            session = open_session(path if path is not None else model_path(EMBEDDER_FILE),
                                   threads, arena=False)
        self.session = session

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        """L2-normed embeddings float32 [N, 1024] of aligned uint8 crops [N, 224, 224, 3]."""
        expected = (EMBEDDER_INPUT_SIZE, EMBEDDER_INPUT_SIZE, 3)
        if crops.ndim != 4 or crops.shape[1:] != expected or crops.dtype != np.uint8:
            raise ValueError(f"expected uint8 crops [N,{EMBEDDER_INPUT_SIZE},"
                             f"{EMBEDDER_INPUT_SIZE},3], got {crops.dtype} {crops.shape}")
        if len(crops) == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        out = []
        for start in range(0, len(crops), EMBED_BATCH):
            batch = np.ascontiguousarray(crops[start:start + EMBED_BATCH])
            out.append(self.session.run(["embedding"], {"image": batch})[0])
        vectors = np.concatenate(out).astype(np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def embed(self, faces: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Embeddings of (frame, landmarks) pairs: each face aligned, then embedded."""
        if not faces:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        return self.embed_aligned(np.stack([align_face(rgb, lm) for rgb, lm in faces]))


@dataclass(frozen=True)
class FaceQuality:
    """How usable a face is for identity: each part and their product, all 0..1."""

    score: float
    size: float  # shorter box side, pixels
    sharpness: float  # variance of the Laplacian of the aligned grey crop
    frontal: float  # 1 = landmarks symmetric (facing the camera), 0 = profile


def face_quality(rgb: np.ndarray, face: Face, aligned: np.ndarray | None = None
                 ) -> FaceQuality:
    """Size (24 px poor .. 96 px good), blur (Laplacian variance of the aligned crop at
    112 pixels, 20 poor .. 200 good) and pose (nose between the eyes, ears equally far)."""
    crop = aligned if aligned is not None else align_face(rgb, face.landmarks)
    grey = cv2.cvtColor(cv2.resize(crop, (112, 112), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_RGB2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    lm = face.landmarks.astype(np.float64)
    eye_gap = np.linalg.norm(lm[1] - lm[0]) + 1e-6
    eye_mid = (lm[0] + lm[1]) / 2
    nose_shift = abs(float(np.dot(lm[2] - eye_mid, (lm[1] - lm[0]) / eye_gap))) / eye_gap
    ear_left, ear_right = np.linalg.norm(lm[4] - lm[2]), np.linalg.norm(lm[5] - lm[2])
    ear_asym = abs(ear_left - ear_right) / (ear_left + ear_right + 1e-6)
    frontal = float(np.clip(1.0 - max(nose_shift / 0.5, ear_asym / 0.6), 0.0, 1.0))
    size_f = float(np.clip((face.size - 24) / (96 - 24), 0.0, 1.0))
    sharp_f = float(np.clip((sharpness - 20) / (200 - 20), 0.0, 1.0))
    return FaceQuality(score=size_f * sharp_f * frontal, size=face.size,
                       sharpness=sharpness, frontal=frontal)
