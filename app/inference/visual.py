"""EfficientNet-Lite0 on frames: a 1280-d visual embedding and ImageNet-1k probabilities.

The ONNX graph (built by ``models/visual.py``) does its own normalization, so callers only
hand over uint8 RGB frames of 224x224; ``prepare_image`` squashes any photo to that size.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.inference.session import model_path, open_session
from app.inference.specs import VISUAL_DIM, VISUAL_INPUT_SIZE

MODEL_FILE = "efficientnet_lite0.onnx"
INPUT_SIZE = VISUAL_INPUT_SIZE
EMBEDDING_DIM = VISUAL_DIM
# Images per session call. Small batches are faster per image on CPU, not slower: the
# activations of a few images stay in cache, and ONNX Runtime's arena only grows to the
# largest batch it saw (measured, one thread: 5.9 ms/image and 160 MB resident at 4,
# 7.3 ms/image and 885 MB at 64).
BATCH_SIZE = 4


def prepare_image(rgb: np.ndarray) -> np.ndarray:
    """Resize an HxWx3 uint8 RGB image to the model's 224x224 input.

    The whole frame is squashed rather than center-cropped, so subjects near the edges of
    wide video frames still count; INTER_AREA avoids aliasing when shrinking large frames.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
    if rgb.shape[:2] == (INPUT_SIZE, INPUT_SIZE):
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32, copy=False)


class VisualModel:
    INPUT_SIZE = INPUT_SIZE

    def __init__(self, path: Path | None = None, threads: int | None = None):
        self.path = path if path is not None else model_path(MODEL_FILE)
        self.session = open_session(self.path, threads)

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings float32 [N,1280] and class probabilities float32 [N,1000].

        ``images`` is uint8 [N,224,224,3] RGB (see ``prepare_image``).
        """
        expected = (self.INPUT_SIZE, self.INPUT_SIZE, 3)
        if images.ndim != 4 or images.shape[1:] != expected or images.dtype != np.uint8:
            raise ValueError(f"expected uint8 images of shape [N,{INPUT_SIZE},{INPUT_SIZE},3], "
                             f"got {images.dtype} {images.shape}")
        embeddings, logits = [], []
        for start in range(0, max(1, len(images)), BATCH_SIZE):
            batch = np.ascontiguousarray(images[start:start + BATCH_SIZE])
            embedding, logit = self.session.run(["embedding", "logits"], {"image": batch})
            embeddings.append(embedding)
            logits.append(logit)
        return np.concatenate(embeddings), softmax(np.concatenate(logits))
