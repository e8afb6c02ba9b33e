"""Recipe: COCO object detector (CenterNet on MobileNetV3) from npm @vladmandic/human.

``package/models/centernet.json`` (MIT; trained by 610265158/mobilenetv3_centernet) is a
TF.js graph model converted by ``models/tfjs.py`` whole, its own decoding included:
3x3 max-pool peak picking on the 128x128x80 class heatmap, top 100 peaks, box edges from
the size head. ``centernet.onnx``: input uint8 RGB [1, 512, 512, 3] (0..255; the wrapper
letterboxes frames on grey: squashing them, as Human does, turned chelsea's cat into a dog), output ``detections`` [1, 100, 6] = x1, y1,
x2, y2 (input pixels), score, COCO class index (0..79, ``resources/coco_labels.txt``).

``build`` runs the converted model on the package's own sample picture (a group of
people) and requires a confident "person" before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from models import tfjs

OUTPUTS = ("centernet.onnx",)
# Bump when the recipe's outputs change: installs of an older version are rebuilt.
VERSION = 1

MODEL_JSON = "package/models/centernet.json"
SAMPLE_IMAGE = "package/assets/samples.jpg"
INPUT_SIZE = 512
MAX_DETECTIONS = 100
NUM_CLASSES = 80
PERSON = 0


class RecipeError(RuntimeError):
    """The package's model does not behave like the one this recipe was written for."""


def build_model(package: Path | bytes) -> onnx.ModelProto:
    graph = tfjs.load_graph_model(package, MODEL_JSON)
    return tfjs.convert(
        graph, "tower_0/images", {"tower_0/detections": "detections"}, batch=1,
        graph_name="centernet", uint8_scale=1.0,
        output_shapes={"detections": [1, MAX_DETECTIONS, 6]},
        doc="CenterNet MobileNetV3 COCO detector from @vladmandic/human 3.3.6 "
            "models/centernet.json, converted by Reelvault models/tfjs.py. Input RGB uint8 "
            "NHWC 512x512; detections [1,100,6]: x1, y1, x2, y2 (pixels), score, class.")


def _check(package: Path | bytes, model_bytes: bytes) -> None:
    import cv2
    import onnxruntime as ort

    from app.inference.boxes import letterbox
    from app.inference.objects import LETTERBOX_FILL

    data = tfjs.read_members(package, [SAMPLE_IMAGE])[SAMPLE_IMAGE]
    image = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                         cv2.COLOR_BGR2RGB)
    square, _ = letterbox(image, INPUT_SIZE, fill=LETTERBOX_FILL)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (detections,) = session.run(["detections"], {"image": square[None]})
    people = detections[0][(detections[0, :, 5] == PERSON) & (detections[0, :, 4] > 0.3)]
    if len(people) < 3:
        raise RecipeError(f"converted CenterNet finds {len(people)} people above 0.3 in "
                          f"{SAMPLE_IMAGE}; expected a group")
    classes = detections[0, :, 5]
    if not (np.all(classes == np.round(classes)) and classes.min() >= 0
            and classes.max() < NUM_CLASSES):
        raise RecipeError("CenterNet class indices are not integers in 0..79")


def build(package: Path, out_dir: Path) -> None:
    data = package.read_bytes()
    model_bytes = build_model(data).SerializeToString()
    _check(data, model_bytes)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / OUTPUTS[0]).write_bytes(model_bytes)
