"""The CenterNet COCO recipe and the ObjectDetector wrapper on real pictures."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from app import config
from app.inference import objects
from app.inference.boxes import box_iou, fit_to_grid, letterbox
from models import install


def test_labels_are_the_80_coco_classes():
    labels = objects.coco_labels()
    assert len(labels) == objects.NUM_CLASSES
    assert labels[0] == "person" and labels[15] == "cat" and labels[79] == "toothbrush"


def test_frames_fit_the_grid_without_a_square():
    canvas, scale = fit_to_grid(np.full((1080, 1920, 3), 200, np.uint8), 512, 32, fill=127)
    assert canvas.shape == (288, 512, 3) and scale == 512 / 1920 and canvas.min() == 200
    canvas, scale = fit_to_grid(np.full((300, 451, 3), 200, np.uint8), 512, 32, fill=127)
    assert canvas.shape == (352, 512, 3)  # 341 rows of picture, then grey to the grid
    assert canvas[:341].min() == 200 and (canvas[341:] == 127).all()
    canvas, _ = fit_to_grid(np.full((1920, 1080, 3), 200, np.uint8), 512, 32)
    assert canvas.shape == (512, 288, 3)  # a phone held upright
    with pytest.raises(ValueError):
        fit_to_grid(np.zeros((10, 10), np.uint8), 512, 32)


@pytest.fixture(scope="module")
def detector() -> objects.ObjectDetector:
    folder = config.models_dir()
    if install.verify_models(folder).get(objects.MODEL_FILE) != "ok":
        pytest.skip(f"{objects.MODEL_FILE} not installed in {folder}")
    return objects.ObjectDetector(folder / objects.MODEL_FILE, threads=1)


@pytest.mark.models
def test_astronaut_is_a_person(detector):
    from skimage import data

    found = detector.detect(data.astronaut())
    assert found[0].label == "person" and found[0].score > 0.5
    x1, y1, x2, y2 = found[0].box
    assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
    assert (x2 - x1) * (y2 - y1) > 0.2  # she fills much of the picture


@pytest.mark.models
def test_chelsea_is_a_cat(detector):
    from skimage import data

    found = detector.detect(data.chelsea())
    assert found and found[0].label == "cat"
    assert "person" not in {d.label for d in found if d.score > 0.4}


@pytest.mark.models
def test_nothing_on_a_blank_frame(detector):
    assert detector.detect(np.full((720, 1280, 3), 128, np.uint8)) == []


@pytest.mark.models
def test_real_build_is_deterministic(tmp_path):
    from models import objects as recipe

    manifest = json.loads(config.manifest_path().read_text())
    package = config.wheel_cache() / manifest["wheels"]["objects"]["file"]
    if not package.exists():
        pytest.skip(f"@vladmandic/human not in the download cache {package.parent}")
    digests = []
    for run in ("first", "second"):
        recipe.build(package, tmp_path / run)
        digests.append(hashlib.sha256((tmp_path / run / recipe.OUTPUTS[0]).read_bytes())
                       .hexdigest())
    assert digests[0] == digests[1] == manifest["models"][recipe.OUTPUTS[0]]


def _confident(session, canvas: np.ndarray, scale: float, shape) -> list[tuple[int, float, np.ndarray]]:
    (raw,) = session.run(["detections"], {"image": canvas[None]})
    h, w = shape[:2]
    return [(int(r[5]), float(r[4]), r[:4] / scale / np.array([w, h, w, h]))
            for r in raw[0] if r[4] >= 0.4]


@pytest.mark.models
def test_frames_without_padding_find_what_the_square_finds(detector):
    """The graph takes the frame at its own aspect ratio (no grey square around it): on
    real photos, landscape and portrait, it finds the same objects in the same places
    with nearly the same scores as the 512x512 letterbox the network was trained at."""
    from skimage import data

    astronaut = data.astronaut()
    pictures = {"astronaut": astronaut, "coffee": data.coffee(), "chelsea": data.chelsea(),
                "astronaut upright": np.ascontiguousarray(astronaut[:, 112:400])}
    for name, picture in pictures.items():
        square = _confident(detector.session, *letterbox(picture, 512, objects.LETTERBOX_FILL),
                            picture.shape)
        canvas, scale = fit_to_grid(picture, 512, objects.STRIDE, objects.LETTERBOX_FILL)
        assert canvas.shape[:2] != (512, 512) or name == "astronaut"
        fitted = _confident(detector.session, canvas, scale, picture.shape)
        assert square, name
        for cls, score, box in square:
            same = [(s, b) for c, s, b in fitted if c == cls]
            assert same, f"{name}: class {cls} lost"
            ious = box_iou(box, np.array([b for _, b in same]))
            best = int(np.argmax(ious))
            assert ious[best] > 0.8, name
            assert abs(same[best][0] - score) < 0.1, (name, score, same[best][0])
