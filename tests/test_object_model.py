"""The CenterNet COCO recipe and the ObjectDetector wrapper on real pictures."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from app import config
from app.inference import objects
from models import install


def test_labels_are_the_80_coco_classes():
    labels = objects.coco_labels()
    assert len(labels) == objects.NUM_CLASSES
    assert labels[0] == "person" and labels[15] == "cat" and labels[79] == "toothbrush"


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
