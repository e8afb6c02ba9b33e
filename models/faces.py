"""Recipe: face detector (BlazeFace) and face descriptor (FaceRes) from npm @vladmandic/human.

Both are TF.js graph models in the package (MIT), converted by ``models/tfjs.py``:

- ``blazeface.onnx``: MediaPipe's BlazeFace "back camera" model (small and distant faces),
  input uint8 RGB [N, 256, 256, 3], normalized in the graph to [-1, 1]. Outputs, for
  the 896 anchors (16x16 grid x 2, then 8x8 grid x 6): ``logits`` [N, 896] and
  ``regressors`` [N, 896, 16] = box centre offset (x, y) and size (w, h) in input pixels,
  then six keypoints (x, y) as offsets from the anchor centre: the two eyes, nose tip,
  mouth centre and the two ear tragions. The shipped graph has a batch of 1 frozen into
  its reshapes; the recipe lets it follow the input and checks batches against singles.
- ``faceres.onnx``: HSE FaceRes (a MobileNet trained on VGGFace2, age/gender heads left
  out), input uint8 RGB [N, 224, 224, 3] (0..255, as the model was trained), output
  ``embedding`` [N, 1024], the global-pooled descriptor (not L2-normed by the graph).

``build`` checks the converted detector on the package's own sample picture (faces must
be found) and the descriptor on two faces of it, before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from models import tfjs

OUTPUTS = ("blazeface.onnx", "faceres.onnx")
# Bump when the recipe's outputs change: installs of an older version are rebuilt.
VERSION = 1

DETECTOR_JSON = "package/models/blazeface.json"
DESCRIPTOR_JSON = "package/models/faceres.json"
SAMPLE_IMAGE = "package/assets/samples.jpg"
DETECTOR_SIZE = 256
NUM_ANCHORS = 896
DESCRIPTOR_SIZE = 224
EMBEDDING_DIM = 1024


class RecipeError(RuntimeError):
    """The package's models do not behave like the ones this recipe was written for."""


def build_detector(package: Path | bytes) -> onnx.ModelProto:
    graph = tfjs.load_graph_model(package, DETECTOR_JSON)
    # Identity: 16x16 grid scores, Identity_1: 8x8 grid scores, _2/_3: their regressors.
    model = tfjs.convert(
        graph, "input",
        {"Identity": "logits_16", "Identity_1": "logits_8",
         "Identity_2": "regressors_16", "Identity_3": "regressors_8"},
        batch="N", graph_name="blazeface", rebatch_reshapes=True,
        uint8_scale=1 / 127.5, uint8_offset=-1.0,
        doc="BlazeFace (MediaPipe, back-camera model) from @vladmandic/human 3.3.6 "
            "models/blazeface.json, converted by Reelvault models/tfjs.py. Input RGB uint8 "
            "NHWC 256x256; logits [N,896]; regressors [N,896,16] (box dx, dy, w, h, then 6 "
            "keypoints as offsets from the anchor centre, input pixels).")
    g = model.graph
    # One tensor per output kind, anchors in the usual order (the 16x16 grid first).
    tail = [
        helper.make_node("Concat", ["logits_16", "logits_8"], ["logits_all"],
                         name="logits_all", axis=1),
        helper.make_node("Flatten", ["logits_all"], ["logits_flat"], name="logits_flat",
                         axis=1),
        helper.make_node("Identity", ["logits_flat"], ["logits"], name="logits"),
        helper.make_node("Concat", ["regressors_16", "regressors_8"], ["regressors"],
                         name="regressors", axis=1),
    ]
    g.node.extend(tail)
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", NUM_ANCHORS]),
        helper.make_tensor_value_info("regressors", TensorProto.FLOAT, ["N", NUM_ANCHORS, 16]),
    ])
    onnx.checker.check_model(model, full_check=True)
    return model


def build_descriptor(package: Path | bytes) -> onnx.ModelProto:
    graph = tfjs.load_graph_model(package, DESCRIPTOR_JSON)
    return tfjs.convert(
        graph, "input_1", {"global_pooling/Mean": "embedding"}, batch="N",
        graph_name="faceres", uint8_scale=1.0,
        output_shapes={"embedding": ["N", EMBEDDING_DIM]},
        doc="HSE FaceRes face descriptor from @vladmandic/human 3.3.6 models/faceres.json, "
            "converted by Reelvault models/tfjs.py. Input RGB uint8 NHWC 224x224 (an aligned "
            "face); embedding [N,1024] (L2-normalize before comparing).")


def _session(model_bytes: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def _check(package: Path | bytes, detector: bytes, descriptor: bytes) -> None:
    """The converted models must find faces in the package's sample picture, batch like
    single images, and tell a face's mirror image from another person."""
    import cv2

    from app.inference import faces

    data = tfjs.read_members(package, [SAMPLE_IMAGE])[SAMPLE_IMAGE]
    image = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                         cv2.COLOR_BGR2RGB)
    # The picture is a strip of thumbnails above a group photo whose faces are small;
    # the left half of the strip holds two clear faces (found at 0.94 and 0.92).
    strip = np.ascontiguousarray(image[: image.shape[0] // 6, : image.shape[1] // 2])
    det = faces.FaceDetector(session=_session(detector))
    found = det.detect(strip)
    if len(found) < 2 or found[0].score < 0.8:
        raise RecipeError(f"converted BlazeFace finds {len(found)} faces in {SAMPLE_IMAGE} "
                          f"(scores {[round(f.score, 2) for f in found]}); expected >= 2")
    # Batching: a batch of letterboxed inputs scores like each input alone.
    batch = np.stack([faces.letterbox(strip, DETECTOR_SIZE)[0],
                      faces.letterbox(image, DETECTOR_SIZE)[0]])
    sess = det.session
    logits, regressors = sess.run(["logits", "regressors"], {"image": batch})
    for i in range(len(batch)):
        one_logits, one_regressors = sess.run(["logits", "regressors"],
                                              {"image": batch[i:i + 1]})
        if not (np.allclose(one_logits[0], logits[i], atol=1e-3)
                and np.allclose(one_regressors[0], regressors[i], atol=1e-3)):
            raise RecipeError("BlazeFace batch and single results differ")

    emb = faces.FaceEmbedder(session=_session(descriptor))
    a, b = found[0], found[1]
    vectors = emb.embed([(strip, a.landmarks), (strip[:, ::-1].copy(), _mirror(a.landmarks,
                                                                           strip.shape[1])),
                         (strip, b.landmarks)])
    same = float(vectors[0] @ vectors[1])
    other = float(vectors[0] @ vectors[2])
    if not (same > 0.8 and same - other > 0.2):
        raise RecipeError(f"FaceRes: cosine to the mirrored face {same:.3f}, to another face "
                          f"{other:.3f}; the descriptor does not separate identities")


def _mirror(landmarks: np.ndarray, width: int) -> np.ndarray:
    flipped = landmarks.copy()
    flipped[:, 0] = width - 1 - flipped[:, 0]
    from app.inference.faces import MIRROR_ORDER

    return flipped[list(MIRROR_ORDER)]


def build(package: Path, out_dir: Path) -> None:
    data = package.read_bytes()
    detector = build_detector(data).SerializeToString()
    descriptor = build_descriptor(data).SerializeToString()
    _check(data, detector, descriptor)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / OUTPUTS[0]).write_bytes(detector)
    (out_dir / OUTPUTS[1]).write_bytes(descriptor)
