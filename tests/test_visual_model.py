"""The legacy .pth reader, the EfficientNet-Lite0 recipe and the VisualModel wrapper."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from app import config
from app.inference.visual import INPUT_SIZE, MODEL_FILE, VisualModel, prepare_image
from models import torch_legacy, visual
from models.torch_legacy import LegacyFormatError, load_state_dict

# --- a legacy-format writer built from raw pickle opcodes, so no torch is needed ----------


def _str(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)  # BININT


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()  # GLOBAL


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


EMPTY_ORDERED_DICT = _global("collections", "OrderedDict") + b")R"


def _tensor(storage_type: str, key: str, numel: int, offset: int,
            shape: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    """What torch.save wrote for a tensor: _rebuild_tensor_v2(storage, offset, size, stride,
    requires_grad, backward_hooks) with the storage as a persistent id."""
    persistent_id = _tuple(_str("storage"), _global("torch", storage_type), _str(key),
                           _str("cpu"), _int(numel), b"N") + b"Q"  # BINPERSID
    args = _tuple(persistent_id, _int(offset), _tuple(*map(_int, shape)),
                  _tuple(*map(_int, stride)), b"\x89", EMPTY_ORDERED_DICT)
    return _global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def _state_dict_pickle(entries: list[tuple[str, bytes]]) -> bytes:
    items = b"".join(_str(name) + tensor for name, tensor in entries)
    return b"\x80\x02" + EMPTY_ORDERED_DICT + b"(" + items + b"u."  # SETITEMS, STOP


def _legacy_file(state_pickle: bytes, storages: list[tuple[str, np.ndarray]],
                 magic: int = torch_legacy.MAGIC_NUMBER) -> bytes:
    sys_info = {"protocol_version": 1001, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    out = io.BytesIO()
    for header in (magic, torch_legacy.PROTOCOL_VERSION, sys_info):
        out.write(pickle.dumps(header, protocol=2))
    out.write(state_pickle)
    out.write(pickle.dumps([key for key, _ in storages], protocol=2))
    for _, data in storages:
        out.write(struct.pack("<q", data.size))
        out.write(data.astype(data.dtype.newbyteorder("<")).tobytes())
    return out.getvalue()


FLOATS = np.arange(12, dtype=np.float32) * 0.5 - 2.0


def _sample_file() -> bytes:
    state = _state_dict_pickle([
        ("conv.weight", _tensor("FloatStorage", "100", 12, 0, (2, 3, 2), (6, 2, 1))),
        # A transposed view of part of the same storage, as tensor slicing produces.
        ("view.weight", _tensor("FloatStorage", "100", 12, 1, (3, 2), (1, 3))),
        ("bn.num_batches_tracked", _tensor("LongStorage", "200", 1, 0, (), ())),
    ])
    return _legacy_file(state, [("100", FLOATS), ("200", np.array([7], np.int64))])


def test_reads_tensors_views_and_scalars():
    state = load_state_dict(_sample_file())
    assert list(state) == ["conv.weight", "view.weight", "bn.num_batches_tracked"]
    np.testing.assert_array_equal(state["conv.weight"], FLOATS.reshape(2, 3, 2))
    assert state["conv.weight"].dtype == np.float32
    np.testing.assert_array_equal(state["view.weight"], FLOATS[1:7].reshape(2, 3).T)
    assert state["bn.num_batches_tracked"].shape == ()
    assert state["bn.num_batches_tracked"].dtype == np.int64
    assert int(state["bn.num_batches_tracked"]) == 7


def test_reads_from_a_file_object():
    state = load_state_dict(io.BytesIO(_sample_file()))
    assert set(state) == {"conv.weight", "view.weight", "bn.num_batches_tracked"}


def test_refuses_code_execution(tmp_path):
    marker = tmp_path / "pwned"
    payload = (b"\x80\x02" + _global("os", "system") + _tuple(_str(f"touch {marker}"))
               + b"R.")
    with pytest.raises(LegacyFormatError, match="os.system"):
        load_state_dict(_legacy_file(payload, []))
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("torch", "load"),
                                         ("torch.nn.modules.conv", "Conv2d"),
                                         ("numpy.core.multiarray", "_reconstruct")])
def test_refuses_unexpected_globals(module, name):
    payload = b"\x80\x02" + _global(module, name) + b"."
    with pytest.raises(LegacyFormatError, match="refusing"):
        load_state_dict(_legacy_file(payload, []))


def test_refuses_globals_in_the_header():
    evil_magic = b"\x80\x02" + _global("os", "system") + _tuple(_str("true")) + b"R."
    data = evil_magic + _sample_file()[len(pickle.dumps(torch_legacy.MAGIC_NUMBER, 2)):]
    with pytest.raises(LegacyFormatError, match="refusing"):
        load_state_dict(data)


def test_rejects_zip_checkpoints_and_wrong_magic():
    with pytest.raises(LegacyFormatError, match="magic"):
        load_state_dict(_legacy_file(_state_dict_pickle([]), [], magic=12345))
    with pytest.raises(LegacyFormatError):
        load_state_dict(b"PK\x03\x04" + b"\x00" * 64)


def test_rejects_truncated_storage():
    data = _sample_file()
    with pytest.raises(LegacyFormatError, match="ends inside"):
        load_state_dict(data[:-4])


def test_rejects_storage_size_mismatch():
    state = _state_dict_pickle([("w", _tensor("FloatStorage", "1", 4, 0, (4,), (1,)))])
    with pytest.raises(LegacyFormatError, match="holds 3 elements"):
        load_state_dict(_legacy_file(state, [("1", np.zeros(3, np.float32))]))


def test_rejects_tensor_past_end_of_storage():
    state = _state_dict_pickle([("w", _tensor("FloatStorage", "1", 4, 2, (4,), (1,)))])
    with pytest.raises(LegacyFormatError, match="past the end"):
        load_state_dict(_legacy_file(state, [("1", np.zeros(4, np.float32))]))


# --- the graph recipe on a tiny EfficientNet-Lite, checked against a numpy reference ------

TINY_STAGES = (
    visual.Stage(1, 3, 1, 1, 4),
    visual.Stage(2, 5, 2, 6, 8),  # second block: stride 1, 8 -> 8, so it has a skip
    visual.Stage(1, 3, 2, 3, 8),  # stride 2 and in == out: no skip
)
TINY_SIZE = 20  # 20 -> 10 -> 10 -> 5 -> 3: symmetric and asymmetric SAME pads both occur
TINY_STEM, TINY_HEAD, TINY_CLASSES = 8, 16, 10


def _tiny_state(rng: np.random.Generator) -> dict[str, np.ndarray]:
    state: dict[str, np.ndarray] = {}

    def conv_bn(conv: str, bn: str, out_c: int, in_c: int, k: int) -> None:
        fan_in = in_c * k * k
        state[f"{conv}.weight"] = (rng.standard_normal((out_c, in_c, k, k))
                                   * np.sqrt(2.0 / fan_in)).astype(np.float32)
        state[f"{bn}.weight"] = rng.uniform(0.5, 1.5, out_c).astype(np.float32)
        state[f"{bn}.bias"] = rng.uniform(-0.5, 0.5, out_c).astype(np.float32)
        state[f"{bn}.running_mean"] = rng.uniform(-0.3, 0.3, out_c).astype(np.float32)
        state[f"{bn}.running_var"] = rng.uniform(0.5, 2.0, out_c).astype(np.float32)
        state[f"{bn}.num_batches_tracked"] = np.array(1000, np.int64)

    conv_bn("_conv_stem", "_bn0", TINY_STEM, 3, 3)
    channels, index = TINY_STEM, 0
    for stage in TINY_STAGES:
        for _ in range(stage.repeats):
            hidden = channels * stage.expand
            p = f"_blocks.{index}"
            if stage.expand != 1:
                conv_bn(f"{p}._expand_conv", f"{p}._bn0", hidden, channels, 1)
            conv_bn(f"{p}._depthwise_conv", f"{p}._bn1", hidden, 1, stage.kernel)
            conv_bn(f"{p}._project_conv", f"{p}._bn2", stage.out_channels, hidden, 1)
            channels, index = stage.out_channels, index + 1
    conv_bn("_conv_head", "_bn1", TINY_HEAD, channels, 1)
    state["_fc.weight"] = (rng.standard_normal((TINY_CLASSES, TINY_HEAD)) * 0.3).astype(np.float32)
    state["_fc.bias"] = rng.uniform(-0.1, 0.1, TINY_CLASSES).astype(np.float32)
    return state


def _reference_forward(state: dict[str, np.ndarray], images: np.ndarray,
                       stages: tuple[visual.Stage, ...]) -> tuple[np.ndarray, np.ndarray]:
    """lukemelas EfficientNet forward in float64 numpy, unfused, TF SAME padding."""
    def conv(x, w, stride, depthwise=False):
        k, size = w.shape[-1], x.shape[-1]
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        x = np.pad(x, ((0, 0), (0, 0), (total // 2, total - total // 2),
                       (total // 2, total - total // 2)))
        windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
        if depthwise:
            return np.einsum("nchwij,cij->nchw", windows, w[:, 0])
        return np.einsum("nchwij,ocij->nohw", windows, w)

    def bn(x, name):
        g, b, m, v = (state[f"{name}.{p}"].astype(np.float64)[None, :, None, None]
                      for p in ("weight", "bias", "running_mean", "running_var"))
        return (x - m) / np.sqrt(v + 1e-3) * g + b

    def relu6(x):
        return np.clip(x, 0.0, 6.0)

    def w(name):
        return state[f"{name}.weight"].astype(np.float64)

    x = (images.astype(np.float64) - 127.0) / 128.0
    x = x.transpose(0, 3, 1, 2)
    x = relu6(bn(conv(x, w("_conv_stem"), 2), "_bn0"))
    channels, index = x.shape[1], 0
    for stage in stages:
        for repeat in range(stage.repeats):
            stride = stage.stride if repeat == 0 else 1
            p = f"_blocks.{index}"
            y = x
            if stage.expand != 1:
                y = relu6(bn(conv(y, w(f"{p}._expand_conv"), 1), f"{p}._bn0"))
            y = relu6(bn(conv(y, w(f"{p}._depthwise_conv"), stride, True), f"{p}._bn1"))
            y = bn(conv(y, w(f"{p}._project_conv"), 1), f"{p}._bn2")
            if stride == 1 and channels == stage.out_channels:
                y = y + x
            x, channels, index = y, stage.out_channels, index + 1
    x = relu6(bn(conv(x, w("_conv_head"), 1), "_bn1"))
    embedding = x.mean(axis=(2, 3))
    logits = embedding @ state["_fc.weight"].astype(np.float64).T + state["_fc.bias"]
    return embedding, logits


def _run_onnx(model_bytes: bytes, images: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(["embedding", "logits"], {"image": images})


def test_tiny_graph_matches_numpy_reference():
    rng = np.random.default_rng(0)
    state = _tiny_state(rng)
    model = visual.build_model(state, TINY_STAGES, input_size=TINY_SIZE)
    images = rng.integers(0, 256, (3, TINY_SIZE, TINY_SIZE, 3), dtype=np.uint8)

    embedding, logits = _run_onnx(model.SerializeToString(), images)
    want_embedding, want_logits = _reference_forward(state, images, TINY_STAGES)

    assert embedding.dtype == np.float32 and embedding.shape == (3, TINY_HEAD)
    assert logits.dtype == np.float32 and logits.shape == (3, TINY_CLASSES)
    np.testing.assert_allclose(embedding, want_embedding, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-4)
    # The skip in block 2 and the asymmetric pads matter: the check above would fail
    # without them, so make sure the fixture actually exercises them.
    adds = [n.name for n in model.graph.node if n.op_type == "Add"]
    assert adds == ["blocks.2.residual"]
    pads = {tuple(a.ints) for n in model.graph.node for a in n.attribute if a.name == "pads"}
    assert (0, 0, 1, 1) in pads and (1, 1, 2, 2) in pads


def test_tiny_graph_is_deterministic():
    first = visual.build_model(_tiny_state(np.random.default_rng(1)), TINY_STAGES, TINY_SIZE)
    second = visual.build_model(_tiny_state(np.random.default_rng(1)), TINY_STAGES, TINY_SIZE)
    assert first.SerializeToString() == second.SerializeToString()


def test_graph_interface_has_dynamic_batch():
    model = visual.build_model(_tiny_state(np.random.default_rng(2)), TINY_STAGES, TINY_SIZE)
    (image,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert image.name == "image" and dims == ["N", TINY_SIZE, TINY_SIZE, 3]
    assert [o.name for o in model.graph.output] == ["embedding", "logits"]
    assert model.opset_import[0].version == visual.OPSET


def test_rejects_unexpected_architecture():
    state = _tiny_state(np.random.default_rng(3))
    with pytest.raises(visual.LayoutError, match="_blocks.1._depthwise_conv.weight has shape"):
        visual.build_model(state, (visual.Stage(1, 3, 1, 1, 4), visual.Stage(2, 3, 2, 6, 8),
                                   visual.Stage(1, 3, 2, 3, 8)), TINY_SIZE)
    state["_blocks.1._se_reduce.weight"] = np.zeros((1, 24, 1, 1), np.float32)
    with pytest.raises(visual.LayoutError, match="_se_reduce"):
        visual.build_model(state, TINY_STAGES, TINY_SIZE)


@pytest.mark.parametrize("size,kernel,stride,want", [
    (224, 3, 2, (0, 1, 112)), (112, 3, 1, (1, 1, 112)), (56, 5, 2, (1, 2, 28)),
    (14, 5, 1, (2, 2, 14)), (7, 1, 1, (0, 0, 7)), (5, 3, 2, (1, 1, 3)),
])
def test_same_pads_match_tensorflow(size, kernel, stride, want):
    assert visual.same_pads(size, kernel, stride) == want


def test_wrapper_on_tiny_model(tmp_path):
    state = _tiny_state(np.random.default_rng(4))
    path = tmp_path / "tiny.onnx"
    path.write_bytes(visual.build_model(state, TINY_STAGES, INPUT_SIZE).SerializeToString())
    model = VisualModel(path, threads=1)
    images = np.random.default_rng(5).integers(0, 256, (2, INPUT_SIZE, INPUT_SIZE, 3),
                                               dtype=np.uint8)
    embedding, probabilities = model.run(images)
    assert embedding.shape == (2, TINY_HEAD) and embedding.dtype == np.float32
    assert probabilities.shape == (2, TINY_CLASSES) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()
    with pytest.raises(ValueError, match="uint8"):
        model.run(images.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        model.run(images[:, :100])


def test_prepare_image_squashes_whole_frame():
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[:, :10] = 255  # a bar at the very left edge must survive: no center crop
    out = prepare_image(frame)
    assert out.shape == (INPUT_SIZE, INPUT_SIZE, 3) and out.dtype == np.uint8
    assert out[:, 0].min() == 255 and out[:, -1].max() == 0
    same = np.full((INPUT_SIZE, INPUT_SIZE, 3), 9, np.uint8)
    np.testing.assert_array_equal(prepare_image(same), same)
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                np.zeros((10, 10, 3), np.float32)):
        with pytest.raises(ValueError):
            prepare_image(bad)


# --- the real wheel and the installed model --------------------------------------------


def _visual_wheel() -> Path:
    manifest = json.loads(config.manifest_path().read_text())
    wheel = config.wheel_cache() / manifest["wheels"]["visual"]["file"]
    if not wheel.exists():
        pytest.skip(f"visual wheel not in the download cache {wheel.parent}")
    return wheel


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.models
def test_real_build_is_deterministic(tmp_path):
    wheel = _visual_wheel()
    digests = []
    for run in ("first", "second"):
        out_dir = tmp_path / run
        out_dir.mkdir()
        visual.build(wheel, out_dir)
        assert sorted(p.name for p in out_dir.iterdir()) == list(visual.OUTPUTS)
        digests.append(_sha256(out_dir / MODEL_FILE))
    assert digests[0] == digests[1]
    pinned = json.loads(config.manifest_path().read_text())["models"].get(MODEL_FILE)
    if pinned is not None:
        assert digests[0] == pinned


@pytest.fixture(scope="module")
def real_visual_model(real_models_dir):
    from app.inference.session import model_path

    return VisualModel(model_path(MODEL_FILE, real_models_dir), threads=2)


def _top(probabilities: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-probabilities)[:k]]


@pytest.mark.models
def test_chelsea_is_a_cat(real_visual_model):
    from skimage import data

    embedding, probabilities = real_visual_model.run(prepare_image(data.chelsea())[None])
    assert embedding.shape == (1, 1280) and probabilities.shape == (1, 1000)
    top5 = _top(probabilities[0], 5)
    cats = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
    assert cats <= set(top5)
    assert top5[0] in cats


@pytest.mark.models
def test_coffee_is_espresso(real_visual_model):
    from skimage import data

    _, probabilities = real_visual_model.run(prepare_image(data.coffee())[None])
    assert _top(probabilities[0], 1) == [967]  # espresso
    assert probabilities[0, 967] > 0.9


@pytest.mark.models
def test_batch_matches_single_images(real_visual_model):
    from skimage import data

    images = np.stack([prepare_image(data.chelsea()), prepare_image(data.coffee())])
    batch_embedding, batch_probabilities = real_visual_model.run(images)
    for i in range(len(images)):
        embedding, probabilities = real_visual_model.run(images[i:i + 1])
        np.testing.assert_allclose(batch_embedding[i], embedding[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(batch_probabilities[i], probabilities[0], atol=1e-5)
    # Pooled ReLU6 features: non-negative, bounded, and not all alike for two photos.
    assert batch_embedding.min() >= 0 and batch_embedding.max() <= 6
    cosine = batch_embedding[0] @ batch_embedding[1] / (
        np.linalg.norm(batch_embedding[0]) * np.linalg.norm(batch_embedding[1]))
    assert cosine < 0.9


def test_wrapper_batches_any_number_of_images(tmp_path, monkeypatch):
    """Images go through the session a few at a time; each image's outputs are those of
    running it alone, whatever the batch it fell in."""
    from app.inference import visual as wrapper
    state = _tiny_state(np.random.default_rng(6))
    path = tmp_path / "tiny.onnx"
    path.write_bytes(visual.build_model(state, TINY_STAGES, INPUT_SIZE).SerializeToString())
    model = VisualModel(path, threads=1)
    images = np.random.default_rng(7).integers(0, 256, (wrapper.BATCH_SIZE * 2 + 1, INPUT_SIZE,
                                                        INPUT_SIZE, 3), dtype=np.uint8)
    calls = []
    run = model.session.run
    monkeypatch.setattr(model.session, "run", lambda *a: calls.append(a) or run(*a), raising=False)
    embedding, probabilities = model.run(images)
    assert len(calls) == 3 and embedding.shape == (len(images), TINY_HEAD)
    for i in (0, wrapper.BATCH_SIZE, len(images) - 1):
        alone, alone_p = model.run(images[i:i + 1])
        np.testing.assert_allclose(embedding[i], alone[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(probabilities[i], alone_p[0], rtol=1e-5, atol=1e-6)
