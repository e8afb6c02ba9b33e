"""Box helpers shared by the detectors: letterboxing and non-maximum suppression."""

from __future__ import annotations

import cv2
import numpy as np


def letterbox(rgb: np.ndarray, size: int, fill: int = 0) -> tuple[np.ndarray, float]:
    """``rgb`` shrunk (or grown) to fit a ``size`` x ``size`` square of grey level ``fill``,
    top-left aligned.

    Returns the square and the scale: a point (x, y) of the square is (x, y) / scale in the
    frame. Keeping the aspect ratio keeps faces round; the padding is only on the right or
    bottom, so no offset is needed to map boxes back.
    """
    return _scaled_onto_canvas(rgb, size, fill, grid=None)


def fit_to_grid(rgb: np.ndarray, size: int, multiple: int,
                fill: int = 0) -> tuple[np.ndarray, float]:
    """``rgb`` scaled so its longer side is ``size``, on a canvas whose sides are the
    smallest multiples of ``multiple`` that hold it (padding of grey level ``fill`` on the
    right or bottom only), for networks that take any input size on their grid.

    Returns the canvas and the scale, as ``letterbox`` does: a 16:9 frame becomes 512x288
    where ``letterbox`` would make it 512x512, more than 40% of it padding.
    """
    if size % multiple:
        raise ValueError(f"size {size} is not a multiple of {multiple}")
    return _scaled_onto_canvas(rgb, size, fill, grid=multiple)


def _scaled_onto_canvas(rgb: np.ndarray, size: int, fill: int,
                        grid: int | None) -> tuple[np.ndarray, float]:
    """The frame scaled so its longer side is ``size``, top-left on a canvas of grey level
    ``fill``: ``size`` square (``grid`` None), else each side rounded up to ``grid``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, min(size, round(h * scale))), max(1, min(size, round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    shape = (size, size) if grid is None else (-(-nh // grid) * grid, -(-nw // grid) * grid)
    canvas = np.full((*shape, 3), fill, np.uint8)
    canvas[:nh, :nw] = cv2.resize(rgb, (nw, nh), interpolation=interp)
    return canvas, scale


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one [x1, y1, x2, y2] box with each row of ``boxes``."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
        limit: int | None = None) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and (limit is None or len(keep) < limit):
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) < iou_threshold]
    return np.array(keep, dtype=np.int64)
