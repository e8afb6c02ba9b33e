"""models/onnx_fold.py: folded graphs compute what the originals did, with fewer nodes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from models import onnx_fold


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=name,
                            value=numpy_helper.from_array(np.asarray(value, np.float32), name))


def _hardswish(x: str, out: str) -> list[onnx.NodeProto]:
    return [helper.make_node("Add", [x, "three"], [f"{out}/a"]),
            helper.make_node("Clip", [f"{out}/a", "zero", "six"], [f"{out}/c"]),
            helper.make_node("Mul", [x, f"{out}/c"], [f"{out}/m"]),
            helper.make_node("Div", [f"{out}/m", "six"], [out])]


def _paddle_like_block() -> onnx.ModelProto:
    """PP-LCNetV3's pattern as paddle2onnx writes it: conv, learnable affine, hard-swish,
    affine, then a 1x1 conv (folds) and a padded depthwise conv (must not fold)."""
    rng = np.random.default_rng(0)
    nodes = [_const("three", 3.0), _const("zero", 0.0), _const("six", 6.0),
             _const("W1", rng.normal(size=(8, 3, 3, 3))), _const("B1", rng.normal(size=8)),
             _const("c1", [0.9]), _const("d1", [0.4]), _const("c2", [0.6]), _const("d2", [-0.3]),
             _const("W2", rng.normal(size=(4, 8, 1, 1))), _const("B2", rng.normal(size=4)),
             _const("c3", [1.7]), _const("d3", [0.2]),
             _const("W3", rng.normal(size=(4, 1, 3, 3)))]
    nodes += [helper.make_node("Conv", ["x", "W1", "B1"], ["conv1"], pads=[1, 1, 1, 1]),
              helper.make_node("Mul", ["c1", "conv1"], ["scaled1"]),
              helper.make_node("Add", ["scaled1", "d1"], ["affine1"])]
    nodes += _hardswish("affine1", "act1")
    nodes += [helper.make_node("Mul", ["c2", "act1"], ["scaled2"]),
              helper.make_node("Add", ["scaled2", "d2"], ["affine2"]),
              helper.make_node("Conv", ["affine2", "W2", "B2"], ["conv2"]),
              helper.make_node("Mul", ["c3", "conv2"], ["scaled3"]),
              helper.make_node("Add", ["scaled3", "d3"], ["affine3"]),
              helper.make_node("Conv", ["affine3", "W3"], ["y"], group=4, pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "block",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 20, 24])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 20, 24])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=8)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_folded_graph_computes_the_same_with_fewer_nodes():
    model = _paddle_like_block()
    folded, counts = onnx_fold.fold(model)
    assert counts == {"conv then affine": 2, "affine then 1x1 conv": 1, "hard-swish": 1}
    ops = [n.op_type for n in folded.graph.node]
    assert ops == ["Conv", "HardSigmoid", "Mul", "Conv", "Conv"]
    x = np.random.default_rng(1).normal(size=(1, 3, 20, 24)).astype(np.float32) * 3
    np.testing.assert_allclose(_run(folded, x), _run(model, x), rtol=1e-4, atol=1e-4)
    again, _ = onnx_fold.fold(_paddle_like_block())
    assert again.SerializeToString() == folded.SerializeToString()  # pinned by SHA-256


def test_a_padded_convolution_keeps_its_affine_input():
    """Zero padding of x*c + d is not x*c + d of zero padding: not folded."""
    model = _paddle_like_block()
    nodes = [n for n in model.graph.node if n.output[0] not in ("y",)]
    nodes.append(helper.make_node("Conv", ["affine2", "W2pad"], ["y"], pads=[1, 1, 1, 1]))
    nodes.append(_const("W2pad", np.ones((4, 8, 3, 3))))
    graph = helper.make_graph(nodes, "block", model.graph.input, model.graph.output)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=8)
    folded, counts = onnx_fold.fold(model)
    assert counts["affine then 1x1 conv"] == 0
    x = np.random.default_rng(2).normal(size=(1, 3, 20, 24)).astype(np.float32)
    np.testing.assert_allclose(_run(folded, x), _run(model, x), rtol=1e-4, atol=1e-4)


def test_nothing_to_fold_leaves_the_model_as_it_was():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    model = helper.make_model(graph)
    folded, counts = onnx_fold.fold(model)
    assert folded is model and not counts


@pytest.mark.parametrize("shared", [True, False])
def test_an_affine_read_elsewhere_is_not_folded(shared):
    """When the scaled value is also a graph output (or read by another node), folding
    would lose it."""
    model = _paddle_like_block()
    if shared:
        model.graph.output.append(helper.make_tensor_value_info("affine1", TensorProto.FLOAT, [1, 8, 20, 24]))
    else:
        model.graph.node.append(helper.make_node("Relu", ["conv1"], ["side"]))
        model.graph.output.append(helper.make_tensor_value_info("side", TensorProto.FLOAT, [1, 8, 20, 24]))
    folded, counts = onnx_fold.fold(model)
    assert counts["conv then affine"] == 1  # only the second conv's affine
    x = np.random.default_rng(3).normal(size=(1, 3, 20, 24)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": x})
    session = ort.InferenceSession(folded.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x})
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
