"""Recipe: PP-OCRv4 mobile text detection and recognition from the ``rapidocr-onnxruntime`` wheel.

rapidocr-onnxruntime 1.4.4 (Apache-2.0; the weights are PaddleOCR's, Apache-2.0) ships
PaddleOCR's models already converted to ONNX inside the wheel:

- ``ch_PP-OCRv4_det_infer.onnx`` (4.7 MB): the DB text detector (PP-OCRv4 mobile);
- ``ch_PP-OCRv4_rec_infer.onnx`` (10.9 MB): the SVTR-LCNet CTC recognizer (PP-OCRv4
  mobile, Chinese + Latin: 6623 characters, among them ASCII letters, digits and
  punctuation), its character list stored in the model's ``character`` metadata.

The recipe takes the two models out of the wheel and folds their scalar affine blocks
and hard-swish activations into the convolutions (``models/onnx_fold.py``: the same
arithmetic, about 30% less CPU for the detector and 45% for the recognizer); ``build``
requires the folded graphs to give the upstream graphs' outputs on a picture with drawn
words and on its line crops before anything is written. The folded files have names of
their own (``*_folded.onnx``), so a models folder shared with older code, which expects
the upstream bytes as ``ocr_det.onnx`` and ``ocr_rec.onnx``, keeps both. It writes the
character list to ``ocr_keys.txt``, one key per line, UTF-8, "\\n" line ends and one
final newline. Class 0 of the recognizer is the CTC blank, class i is key i (1-based),
and the last class a space; ``build`` checks that the counts agree. Nothing is fetched
at run time. The wheel's third model (a 0/180 degree text-angle classifier) is not used:
upside-down text is rare in video.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import onnx

from models import onnx_fold

DET_FILE = "ocr_det_folded.onnx"
REC_FILE = "ocr_rec_folded.onnx"
KEYS_FILE = "ocr_keys.txt"
OUTPUTS = (DET_FILE, REC_FILE, KEYS_FILE)
# Bump when the recipe's outputs change: installs of an older version are rebuilt.
# 2: scalar affines and hard-swish folded into the convolutions.
VERSION = 2
WHEEL_DET = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
WHEEL_REC = "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"
KEYS_METADATA = "character"


class RecipeError(RuntimeError):
    """The wheel's models do not have the structure this recipe was written for."""


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def _one(items, what: str):
    items = list(items)
    if len(items) != 1:
        raise RecipeError(f"expected one {what}, found {len(items)}")
    return items[0]


def check_detector(model: onnx.ModelProto) -> None:
    """[N, 3, H, W] in, one [N, 1, H, W] probability map out."""
    inputs = _dims(_one(model.graph.input, "detector input"))
    outputs = _dims(_one(model.graph.output, "detector output"))
    if len(inputs) != 4 or inputs[1] != 3 or len(outputs) != 4 or outputs[1] != 1:
        raise RecipeError(f"detector maps {inputs} to {outputs}, expected [N,3,H,W] -> [N,1,H,W]")


def recognizer_keys(model: onnx.ModelProto) -> list[str]:
    """The character list, checked against the recognizer's [N, T, classes] output."""
    inputs = _dims(_one(model.graph.input, "recognizer input"))
    outputs = _dims(_one(model.graph.output, "recognizer output"))
    if len(inputs) != 4 or inputs[1] != 3 or len(outputs) != 3:
        raise RecipeError(f"recognizer maps {inputs} to {outputs}, expected "
                          f"[N,3,48,W] -> [N,T,classes]")
    metadata = {p.key: p.value for p in model.metadata_props}
    if KEYS_METADATA not in metadata:
        raise RecipeError(f"recognizer has no '{KEYS_METADATA}' metadata")
    keys = metadata[KEYS_METADATA].split("\n")
    if any(len(k) != 1 or k in "\r\n" for k in keys):
        raise RecipeError("recognizer keys are not single non-newline characters")
    if len(set(keys)) != len(keys):
        raise RecipeError("recognizer keys repeat")
    classes = outputs[2]
    if classes != len(keys) + 2:
        raise RecipeError(f"recognizer has {classes} classes for {len(keys)} keys; expected "
                          f"keys + CTC blank + space")
    output = model.graph.output[0].name
    if _one((n for n in model.graph.node if output in n.output),
            "producer of the recognizer output").op_type != "Softmax":
        raise RecipeError("recognizer output is not a softmax")
    return keys


# The folded graphs must match the upstream ones to this (probabilities 0..1; float
# rounding moves them by about 1e-5), and pick the same character at every step.
FOLD_TOLERANCE = 1e-3


def _sample_picture() -> np.ndarray:
    """A BGR picture with words drawn on it, 960x544 (a detector input size): soft
    colour fields and shapes (no photo ships with the wheel), three lines of text."""
    import cv2

    rng = np.random.default_rng(0)
    picture = cv2.resize(rng.integers(0, 256, (6, 10, 3), dtype=np.uint8), (960, 544),
                         interpolation=cv2.INTER_CUBIC)
    for _ in range(12):
        centre = (int(rng.integers(0, 960)), int(rng.integers(0, 400)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(picture, centre, int(rng.integers(10, 80)), colour, -1, cv2.LINE_AA)
    cv2.putText(picture, "EXIT 12", (620, 120), cv2.FONT_HERSHEY_DUPLEX, 2.0, (20, 20, 20), 5,
                cv2.LINE_AA)
    for i, line in enumerate(("Where are you going?", "Station 42 North")):
        cv2.putText(picture, line, (60, 430 + 60 * i), cv2.FONT_HERSHEY_SIMPLEX, 1.4,
                    (255, 255, 255), 3, cv2.LINE_AA)
    return picture


def _det_sample() -> np.ndarray:
    from app.inference.ocr import normalize_image

    return normalize_image(_sample_picture())[None]


def _rec_sample() -> np.ndarray:
    """The drawn lines and a stretch of the picture, as the reader batches them."""
    from app.inference.ocr import recognizer_batch

    picture = _sample_picture()
    return recognizer_batch([picture[392:448, 50:560], picture[452:508, 50:460],
                             picture[60:116, 200:520]])


def _folded(model_bytes: bytes, sample: np.ndarray, what: str) -> bytes:
    """The model with its arithmetic folded (``onnx_fold``), checked on ``sample``; the
    bytes unchanged when nothing folds."""
    import onnxruntime as ort

    folded, counts = onnx_fold.fold(onnx.load_model_from_string(model_bytes))
    if not counts:
        return model_bytes
    folded_bytes = folded.SerializeToString()
    outputs = []
    for candidate in (model_bytes, folded_bytes):
        session = ort.InferenceSession(candidate, providers=["CPUExecutionProvider"])
        (out,) = session.run(None, {session.get_inputs()[0].name: sample})
        outputs.append(out)
    want, got = outputs
    gap = float(np.abs(got - want).max())
    if gap > FOLD_TOLERANCE or (what == "recognizer" and (
            got.argmax(-1) != want.argmax(-1)).any()):
        raise RecipeError(f"the folded {what} differs from the upstream one (by {gap:.3g})")
    return folded_bytes


def build(wheel: Path, out_dir: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        try:
            det_bytes, rec_bytes = zf.read(WHEEL_DET), zf.read(WHEEL_REC)
        except KeyError as e:
            raise RecipeError(f"{wheel.name} does not hold the expected models: {e}") from e
    check_detector(onnx.load_model_from_string(det_bytes))
    keys = recognizer_keys(onnx.load_model_from_string(rec_bytes))
    det_bytes = _folded(det_bytes, _det_sample(), "detector")
    rec_bytes = _folded(rec_bytes, _rec_sample(), "recognizer")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / DET_FILE).write_bytes(det_bytes)
    (out_dir / REC_FILE).write_bytes(rec_bytes)
    (out_dir / KEYS_FILE).write_bytes(("\n".join(keys) + "\n").encode("utf-8"))
