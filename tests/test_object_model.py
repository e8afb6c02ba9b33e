"""The CenterNet COCO recipe and the ObjectDetector wrapper on real pictures."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from app import config
from app.inference import objects
from app.inference.boxes import box_iou, fit_to_grid
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


@pytest.mark.models
def test_frames_at_their_own_shape_find_what_the_square_finds(detector):
    """``fit_frame``: the graph takes the frame at its own aspect ratio (no grey square
    around it). On real photos, landscape and portrait, it finds the same objects in the
    same places with nearly the same scores as the 512x512 letterbox it was trained at."""
    from skimage import data

    fitted = objects.ObjectDetector(session=detector.session, fit_frame=True)
    astronaut = data.astronaut()
    pictures = {"astronaut": astronaut, "coffee": data.coffee(), "chelsea": data.chelsea(),
                "astronaut upright": np.ascontiguousarray(astronaut[:, 112:400])}
    for name, picture in pictures.items():
        square = [d for d in detector.detect(picture) if d.score >= 0.4]
        found = fitted.detect(picture)
        assert square, name
        for d in square:
            same = [f for f in found if f.label == d.label]
            assert same, f"{name}: {d.label} lost"
            ious = box_iou(np.array(d.box), np.array([f.box for f in same]))
            best = int(np.argmax(ious))
            assert ious[best] > 0.8, name
            assert abs(same[best].score - d.score) < 0.1, (name, d.score, same[best].score)
