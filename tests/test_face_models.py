"""The TF.js converter, the npm package fetch, the face recipes and the face wrappers."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from app import config
from app.inference import faces
from app.inference.boxes import letterbox, nms
from models import install, tfjs

# --- a tiny TF.js graph model, written by hand -------------------------------------------


def _attr_list(ints):
    return {"list": {"i": [str(i) for i in ints]}}


def _s(text):
    return {"s": base64.b64encode(text.encode()).decode()}


def _tiny_package(rng, quantize: str | None = None) -> tuple[bytes, dict[str, np.ndarray]]:
    """An npm-like .tgz holding a graph model: Conv2D(SAME, stride 2)+bias+relu ->
    depthwise -> Mean over H, W -> MatMul+bias, plus its weights."""
    w = {
        "conv/W": rng.normal(size=(3, 3, 3, 4)).astype(np.float32),
        "conv/B": rng.normal(size=(4,)).astype(np.float32),
        "dw/W": rng.normal(size=(3, 3, 4, 2)).astype(np.float32),
        "mean/axes": np.array([1, 2], np.int32),
        "fc/W": rng.normal(size=(8, 5)).astype(np.float32),
        "fc/B": rng.normal(size=(5,)).astype(np.float32),
    }
    nodes = [
        {"name": "x", "op": "Placeholder",
         "attr": {"shape": {"shape": {"dim": [{"size": "1"}, {"size": "9"}, {"size": "9"},
                                              {"size": "3"}]}}}},
        *({"name": k, "op": "Const", "attr": {}} for k in w),
        {"name": "conv", "op": "_FusedConv2D", "input": ["x", "conv/W", "conv/B"],
         "attr": {"strides": _attr_list([1, 2, 2, 1]), "padding": _s("SAME"),
                  "fused_ops": {"list": {"s": [base64.b64encode(b"BiasAdd").decode(),
                                               base64.b64encode(b"Relu").decode()]}}}},
        {"name": "dw", "op": "DepthwiseConv2dNative", "input": ["conv", "dw/W"],
         "attr": {"strides": _attr_list([1, 1, 1, 1]), "padding": _s("SAME")}},
        {"name": "mean", "op": "Mean", "input": ["dw", "mean/axes"],
         "attr": {"keep_dims": {"b": False}}},
        {"name": "fc", "op": "_FusedMatMul", "input": ["mean", "fc/W", "fc/B"],
         "attr": {"fused_ops": {"list": {"s": [base64.b64encode(b"BiasAdd").decode()]}}}},
        {"name": "out", "op": "Identity", "input": ["fc"]},
    ]
    specs, blobs = [], []
    for name, value in w.items():
        spec = {"name": name, "shape": list(value.shape),
                "dtype": "int32" if value.dtype == np.int32 else "float32"}
        if quantize == "uint8" and value.dtype == np.float32:
            lo, hi = float(value.min()), float(value.max())
            scale = (hi - lo) / 255
            q = np.round((value - lo) / scale).astype(np.uint8)
            spec["quantization"] = {"dtype": "uint8", "scale": scale, "min": lo}
            w[name] = (q.astype(np.float64) * scale + lo).astype(np.float32)
            blobs.append(q.tobytes())
        elif quantize == "float16" and value.dtype == np.float32:
            spec["quantization"] = {"dtype": "float16"}
            w[name] = value.astype(np.float16).astype(np.float32)
            blobs.append(value.astype(np.float16).tobytes())
        else:
            blobs.append(value.tobytes())
        specs.append(spec)
    blob = b"".join(blobs)
    half = len(blob) // 2  # two shards, to check they are joined in order
    meta = {"format": "graph-model", "modelTopology": {"node": nodes},
            "weightsManifest": [{"paths": ["w1.bin", "w2.bin"], "weights": specs}]}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (("package/m/model.json", json.dumps(meta).encode()),
                           ("package/m/w1.bin", blob[:half]), ("package/m/w2.bin", blob[half:])):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue(), w


def _reference(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """The tiny graph in numpy, NHWC, TF SAME padding (odd pixel at the end)."""
    def conv(x, k, stride, depthwise=False):
        kh, kw = k.shape[:2]
        n, h, wd, c = x.shape
        oh, ow = -(-h // stride), -(-wd // stride)
        ph = max((oh - 1) * stride + kh - h, 0)
        pw = max((ow - 1) * stride + kw - wd, 0)
        xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
        out = []
        for i in range(oh):
            row = []
            for j in range(ow):
                patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
                if depthwise:
                    row.append(np.einsum("nhwc,hwcm->ncm", patch, k).reshape(n, -1))
                else:
                    row.append(np.einsum("nhwc,hwco->no", patch, k))
            out.append(np.stack(row, 1))
        return np.stack(out, 1)

    y = np.maximum(conv(x, w["conv/W"], 2) + w["conv/B"], 0)
    y = conv(y, w["dw/W"], 1, depthwise=True)
    return y.mean(axis=(1, 2)) @ w["fc/W"] + w["fc/B"]


@pytest.mark.parametrize("quantize", [None, "float16", "uint8"])
def test_converter_matches_numpy_reference(quantize):
    import onnxruntime as ort

    package, w = _tiny_package(np.random.default_rng(1), quantize)
    graph = tfjs.load_graph_model(package, "package/m/model.json")
    model = tfjs.convert(graph, "x", {"out": "y"}, batch=1, graph_name="tiny", doc="")
    x = np.random.default_rng(2).normal(size=(1, 9, 9, 3)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    (y,) = session.run(["y"], {"image": x})
    np.testing.assert_allclose(y, _reference(x, w), rtol=1e-4, atol=1e-4)
    # Deterministic bytes: the SHA-256 of a converted model can be pinned.
    again = tfjs.convert(tfjs.load_graph_model(package, "package/m/model.json"), "x",
                         {"out": "y"}, batch=1, graph_name="tiny", doc="")
    assert again.SerializeToString() == model.SerializeToString()


def test_converter_fails_loudly_on_unknown_ops():
    package, _ = _tiny_package(np.random.default_rng(1))
    graph = tfjs.load_graph_model(package, "package/m/model.json")
    for node in graph.nodes:
        if node["name"] == "dw":
            node["op"] = "Atan2"
    with pytest.raises(tfjs.ConversionError, match="Atan2"):
        tfjs.convert(graph, "x", {"out": "y"}, batch=1, graph_name="tiny", doc="")


def test_converter_refuses_replacements_it_does_not_use():
    package, _ = _tiny_package(np.random.default_rng(1))
    graph = tfjs.load_graph_model(package, "package/m/model.json")
    with pytest.raises(tfjs.ConversionError, match="no/such/const"):
        tfjs.convert(graph, "x", {"out": "y"}, batch=1, graph_name="tiny", doc="",
                     replace={"no/such/const": np.array([1], np.int32)})


def test_truncated_shards_are_refused():
    package, _ = _tiny_package(np.random.default_rng(1))
    meta = json.loads(tfjs.read_members(package, ["package/m/model.json"])[
        "package/m/model.json"])
    shards = {"w1.bin": b"\0" * 8, "w2.bin": b""}
    with pytest.raises(tfjs.ConversionError, match="runs past"):
        tfjs.decode_weights(meta["weightsManifest"], shards)


def test_npm_entries_are_fetched_with_npm_pack(monkeypatch, tmp_path):
    monkeypatch.setattr(install.shutil, "which", lambda name: "/usr/bin/npm")
    cmd = install.download_command({"registry": "npm", "package": "@scope/pkg",
                                    "version": "1.2.3"}, str(tmp_path))
    assert cmd == ["/usr/bin/npm", "pack", "--silent", "@scope/pkg@1.2.3",
                   "--pack-destination", str(tmp_path)]
    wheel = install.download_command({"package": "p", "version": "1"}, str(tmp_path))
    assert "pip" in wheel and "p==1" in wheel


def test_nms_and_letterbox():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.3).tolist() == [0, 2]
    canvas, scale = letterbox(np.full((100, 200, 3), 255, np.uint8), 256)
    assert scale == 256 / 200 and canvas[:128].min() == 255 and canvas[129:].max() == 0


def test_anchors_match_blazeface_layout():
    a = faces.anchors()
    assert a.shape == (896, 2)
    assert a[0].tolist() == [8, 8] and a[1].tolist() == [8, 8] and a[2].tolist() == [24, 8]
    assert a[512].tolist() == [16, 16] and a[-1].tolist() == [240, 240]


# --- the real models --------------------------------------------------------------------

FACE_MODELS = (faces.DETECTOR_FILE, faces.EMBEDDER_FILE)


@pytest.fixture(scope="module")
def face_models() -> tuple[faces.FaceDetector, faces.FaceEmbedder]:
    folder = config.models_dir()
    status = install.verify_models(folder)
    bad = {n: status.get(n) for n in FACE_MODELS if status.get(n) != "ok"}
    if bad:
        pytest.skip(f"face models not installed in {folder}: {bad}")
    return (faces.FaceDetector(folder / faces.DETECTOR_FILE, threads=1),
            faces.FaceEmbedder(folder / faces.EMBEDDER_FILE, threads=1))


def _human_package() -> Path:
    manifest = json.loads(config.manifest_path().read_text())
    package = config.wheel_cache() / manifest["wheels"]["faces"]["file"]
    if not package.exists():
        pytest.skip(f"@vladmandic/human not in the download cache {package.parent}")
    return package


def _package_image(member: str) -> np.ndarray:
    data = tfjs.read_members(_human_package(), [member])[member]
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                        cv2.COLOR_BGR2RGB)


@pytest.mark.models
def test_astronaut_has_one_plausible_face(face_models):
    from skimage import data

    detector, _ = face_models
    found = detector.detect(data.astronaut())
    assert len(found) == 1
    face = found[0]
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    assert 180 < cx < 270 and 70 < cy < 170 and 60 < face.size < 160
    assert face.score > 0.8
    left_eye, right_eye, nose, mouth = face.landmarks[:4]
    assert left_eye[0] < nose[0] < right_eye[0] and max(left_eye[1], right_eye[1]) < nose[1] < mouth[1]
    quality = faces.face_quality(data.astronaut(), face)
    assert 0.5 < quality.frontal <= 1 and quality.score > 0.2


@pytest.mark.models
@pytest.mark.parametrize("name", ["black", "grey", "noise", "chelsea", "coffee"])
def test_no_face_where_there_is_none(face_models, name):
    from skimage import data

    detector, _ = face_models
    image = {"black": np.zeros((480, 640, 3), np.uint8),
             "grey": np.full((720, 1280, 3), 128, np.uint8),
             "noise": np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8),
             "chelsea": data.chelsea() if name == "chelsea" else None,
             "coffee": data.coffee() if name == "coffee" else None}[name]
    assert detector.detect(image) == []


@pytest.mark.models
def test_many_faces_are_capped(face_models):
    from skimage import data

    detector, _ = face_models
    face = detector.detect(data.astronaut())[0]
    x1, y1, x2, y2 = face.box.astype(int)
    pad = (x2 - x1) // 2
    tile = cv2.resize(data.astronaut()[y1 - pad:y2 + pad, x1 - pad:x2 + pad], (96, 96))
    mosaic = np.tile(tile, (10, 20, 1))  # 200 faces
    found = detector.detect(mosaic)
    assert 5 <= len(found) <= faces.MAX_FACES
    sizes = [f.size for f in found]
    assert sizes == sorted(sizes, reverse=True)


def _identity_faces(face_models) -> tuple[list, list]:
    """The astronaut under small changes, and faces of other people."""
    from skimage import data

    detector, _ = face_models
    astro = data.astronaut()
    variants = [astro, astro[:, ::-1].copy(),
                cv2.resize(astro, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA),
                np.clip(astro.astype(np.int32) * 13 // 10 + 20, 0, 255).astype(np.uint8),
                (astro * 0.6).astype(np.uint8)]
    same = []
    for image in variants:
        found = detector.detect(image)
        assert len(found) == 1
        same.append((image, found[0].landmarks))
    others = []
    cameraman = np.repeat(data.camera()[..., None], 3, axis=2)
    others += [(cameraman, f.landmarks) for f in detector.detect(cameraman)]
    strip = _package_image("package/assets/samples.jpg")
    strip = np.ascontiguousarray(strip[: strip.shape[0] // 6, : strip.shape[1] // 2])
    others += [(strip, f.landmarks) for f in detector.detect(strip)]
    assert len(others) >= 3
    return same, others


@pytest.mark.models
def test_same_face_is_closer_than_other_faces(face_models):
    _, embedder = face_models
    same, others = _identity_faces(face_models)
    vectors = embedder.embed(same + others)
    assert vectors.shape == (len(same) + len(others), faces.EMBEDDING_DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    distances = 1 - vectors @ vectors[0]
    same_d, other_d = distances[1:len(same)], distances[len(same):]
    # Measured: same 0.02-0.11, others 0.55 and more.
    assert same_d.max() < 0.25
    assert other_d.min() > 0.4
    assert other_d.min() - same_d.max() > 0.2


@pytest.mark.models
def test_embedding_batches_match_single_faces(face_models):
    from skimage import data

    detector, embedder = face_models
    astro = data.astronaut()
    crop = faces.align_face(astro, detector.detect(astro)[0].landmarks)
    crops = np.stack([crop, crop[:, ::-1], crop // 2] * 4)  # 12: more than one batch
    batch = embedder.embed_aligned(crops)
    for i in (0, 1, 2, 11):
        np.testing.assert_allclose(batch[i], embedder.embed_aligned(crops[i:i + 1])[0],
                                   atol=1e-5)


@pytest.mark.models
def test_real_build_is_deterministic(tmp_path):
    from models import faces as recipe

    package = _human_package()
    digests = []
    for run in ("first", "second"):
        out = tmp_path / run
        recipe.build(package, out)
        digests.append({n: hashlib.sha256((out / n).read_bytes()).hexdigest()
                        for n in recipe.OUTPUTS})
    assert digests[0] == digests[1]
    pinned = json.loads(config.manifest_path().read_text())["models"]
    assert all(digests[0][n] == pinned[n] for n in recipe.OUTPUTS)
