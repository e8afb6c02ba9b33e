"""Recipe: COCO object detector (CenterNet on MobileNetV3) from npm @vladmandic/human.

``package/models/centernet.json`` (MIT; trained by 610265158/mobilenetv3_centernet) is a
TF.js graph model converted by ``models/tfjs.py`` whole, its own decoding included:
3x3 max-pool peak picking on the (H/4)x(W/4)x80 class heatmap, top 100 peaks, box edges
from the size head. ``centernet_any_size.onnx``: input uint8 RGB [1, height, width, 3]
(0..255), output ``detections`` [1, 100, 6] = x1, y1, x2, y2 (input pixels), score,
COCO class index (0..79, ``resources/coco_labels.txt``).

The graph was frozen at 512x512, and the exporter folded sizes of that grid into
constants (``GRID_SIZES``); they are computed from the input instead, so any height and
width that are multiples of STRIDE work: a 16:9 frame can be seen at 512x288 rather
than letterboxed into 512x512, 44% of it grey padding the network pays for (see
``app/inference/objects.py`` for what that changes; squashing frames into the square,
as Human does, turned chelsea's cat into a dog).

The file is named for that (a models folder shared with older code keeps the frozen
``centernet.onnx`` beside it). ``build`` runs the converted model on the package's own sample picture (a group of
people): at 512x512 it must give what the frozen graph gives, and both there and at the
picture's own aspect ratio it must find a confident group of people.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from models import tfjs

OUTPUTS = ("centernet_any_size.onnx",)
# Bump when the recipe's outputs change: installs of an older version are rebuilt.
# 2: free input height and width.
VERSION = 2

MODEL_JSON = "package/models/centernet.json"
SAMPLE_IMAGE = "package/assets/samples.jpg"
INPUT_SIZE = 512
MAX_DETECTIONS = 100
NUM_CLASSES = 80
PERSON = 0
STRIDE = 32  # the backbone's: input sides must be multiples of it

# Const nodes the exporter folded from the 512x512 grid: the sizes the three upsamplings
# double to, the heatmap rows flattened for the box gather, the heatmap width that turns
# a flat peak index into a column and a row.
GRID_SIZES: dict[str, np.ndarray | tfjs.GridSize] = {
    "tower_0/CenternetHead/c5_upsample/up_sampling2d/mul":
        tfjs.GridSize("tower_0/CenternetHead/c5_upsample/add", (1, 2), factor=2),
    "tower_0/CenternetHead/c4_upsample/up_sampling2d_1/mul":
        tfjs.GridSize("tower_0/CenternetHead/c4_upsample/add", (1, 2), factor=2),
    "tower_0/CenternetHead/c3_upsample/up_sampling2d_2/mul":
        tfjs.GridSize("tower_0/CenternetHead/c3_upsample/add", (1, 2), factor=2),
    "tower_0/BatchGather/concat": np.array([-1, 4], np.int32),
    "tower_0/strided_slice_6": tfjs.GridSize("tower_0/keypoints", (2,), scalar=True),
}


class RecipeError(RuntimeError):
    """The package's model does not behave like the one this recipe was written for."""


def build_model(package: Path | bytes, frozen: bool = False) -> onnx.ModelProto:
    """The detector with a free input height and width (``frozen``: 512x512 only, as the
    TF.js graph was exported; kept to check the free one against)."""
    graph = tfjs.load_graph_model(package, MODEL_JSON)
    return tfjs.convert(
        graph, "tower_0/images", {"tower_0/detections": "detections"}, batch=1,
        graph_name="centernet", uint8_scale=1.0,
        output_shapes={"detections": [1, MAX_DETECTIONS, 6]},
        spatial=None if frozen else ("height", "width"),
        replace=None if frozen else GRID_SIZES,
        doc="CenterNet MobileNetV3 COCO detector from @vladmandic/human 3.3.6 "
            "models/centernet.json, converted by Reelvault models/tfjs.py. Input RGB uint8 "
            "NHWC, height and width multiples of 32 (trained at 512x512); detections "
            "[1,100,6]: x1, y1, x2, y2 (pixels), score, class.")


def _check(package: Path | bytes, model_bytes: bytes) -> None:
    import cv2
    import onnxruntime as ort

    from app.inference.boxes import fit_to_grid, letterbox
    from app.inference.objects import LETTERBOX_FILL

    data = tfjs.read_members(package, [SAMPLE_IMAGE])[SAMPLE_IMAGE]
    image = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                         cv2.COLOR_BGR2RGB)
    square, _ = letterbox(image, INPUT_SIZE, fill=LETTERBOX_FILL)
    fitted, _ = fit_to_grid(image, INPUT_SIZE, STRIDE, fill=LETTERBOX_FILL)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    frozen = ort.InferenceSession(build_model(package, frozen=True).SerializeToString(),
                                  providers=["CPUExecutionProvider"])
    (want,) = frozen.run(["detections"], {"image": square[None]})
    (got,) = session.run(["detections"], {"image": square[None]})
    if not np.allclose(got, want, atol=1e-3):
        raise RecipeError("the free-size CenterNet differs from the frozen graph at 512x512 "
                          f"(largest difference {np.abs(got - want).max():.4g})")
    for name, picture in (("512x512", square), (f"{fitted.shape[1]}x{fitted.shape[0]}", fitted)):
        (detections,) = session.run(["detections"], {"image": picture[None]})
        people = detections[0][(detections[0, :, 5] == PERSON) & (detections[0, :, 4] > 0.3)]
        if len(people) < 3:
            raise RecipeError(f"converted CenterNet finds {len(people)} people above 0.3 in "
                              f"{SAMPLE_IMAGE} at {name}; expected a group")
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
