"""Fold the element-wise arithmetic of exported ONNX graphs into their convolutions.

paddle2onnx writes PP-LCNetV3's "learnable affine blocks" and hard-swish activations as
separate scalar ``Mul``/``Add``/``Clip``/``Div`` nodes. On the CPU each is a full pass
over a feature map (about 40% of the PP-OCRv4 detector's time, and they keep ONNX
Runtime from running consecutive convolutions in its blocked layout), while the same
arithmetic costs nothing inside a convolution's weights. ``fold`` rewrites:

- ``Conv -> Mul(c) -> Add(d)`` as one ``Conv`` with weights ``c * W`` and bias
  ``c * B + d``;
- ``Mul(c) -> Add(d)`` feeding only 1x1 convolutions without padding (where every
  output pixel sees the affine input) into those: weights ``c * W``, bias
  ``B + d * sum(W)`` (a padded convolution would see zeros, not ``d``, at the borders,
  so those are left alone);
- hard-swish ``x * Clip(x + 3, 0, 6) / 6`` as ``x * HardSigmoid(x)`` (alpha 1/6, beta
  1/2), two passes instead of four.

The arithmetic is the same up to float rounding (outputs differ by about 1e-5); callers
check the folded graph against the original on real input. Only scalar constants are
folded; anything else is left as it was. The result is a pure function of the input
graph (fixed names, constants in graph order), so its SHA-256 can be pinned.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Graph:
    def __init__(self, model: onnx.ModelProto):
        graph = model.graph
        self.consts: dict[str, np.ndarray] = {
            init.name: numpy_helper.to_array(init) for init in graph.initializer}
        self.nodes: list[onnx.NodeProto] = []
        for node in graph.node:
            value = _attrs(node).get("value") if node.op_type == "Constant" else None
            if value is not None and len(node.attribute) == 1:
                self.consts[node.output[0]] = numpy_helper.to_array(value)
            else:
                self.nodes.append(node)
        self.outputs = {o.name for o in graph.output}

    def consumers(self, name: str) -> list[onnx.NodeProto]:
        return [n for n in self.nodes if name in n.input]

    def only_consumer(self, name: str, op: str) -> onnx.NodeProto | None:
        users = self.consumers(name)
        if len(users) == 1 and users[0].op_type == op and name not in self.outputs:
            return users[0]
        return None

    def scalar(self, node: onnx.NodeProto) -> tuple[float, str] | None:
        """(the constant, the other input) of a binary op with one scalar constant."""
        if len(node.input) != 2:
            return None
        const = [i for i in node.input if i in self.consts]
        other = [i for i in node.input if i not in self.consts]
        if len(const) != 1 or len(other) != 1 or self.consts[const[0]].size != 1:
            return None
        return float(self.consts[const[0]].reshape(())), other[0]

    def affine(self, mul: onnx.NodeProto) -> tuple[float, float, str, onnx.NodeProto] | None:
        """``x * c + d`` starting at ``mul``: (c, d, x, the Add), or None."""
        if mul.op_type != "Mul" or (scaled := self.scalar(mul)) is None:
            return None
        add = self.only_consumer(mul.output[0], "Add")
        if add is None or (shift := self.scalar(add)) is None:
            return None
        return scaled[0], shift[0], scaled[1], add

    def conv_weights(self, conv: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
        if len(conv.input) < 2 or conv.input[1] not in self.consts:
            return None
        weight = self.consts[conv.input[1]].astype(np.float64)
        if len(conv.input) > 2 and conv.input[2]:
            if conv.input[2] not in self.consts:
                return None
            bias = self.consts[conv.input[2]].astype(np.float64)
        else:
            bias = np.zeros(weight.shape[0])
        return weight, bias

    def set_conv(self, conv: onnx.NodeProto, x: str, weight: np.ndarray,
                 bias: np.ndarray) -> None:
        base = conv.output[0]
        self.consts[f"{base}/folded_W"] = weight.astype(np.float32)
        self.consts[f"{base}/folded_B"] = bias.astype(np.float32)
        del conv.input[:]
        conv.input.extend([x, f"{base}/folded_W", f"{base}/folded_B"])


def _fold_conv_affine(g: _Graph, counts: Counter) -> None:
    """Conv -> Mul(c) -> Add(d): one Conv."""
    rename: dict[str, str] = {}
    dropped: set[int] = set()
    for conv in g.nodes:
        if conv.op_type != "Conv" or (params := g.conv_weights(conv)) is None:
            continue
        mul = g.only_consumer(conv.output[0], "Mul")
        if mul is None or (found := g.affine(mul)) is None or found[2] != conv.output[0]:
            continue
        c, d, _, add = found
        if add.output[0] in g.outputs:
            continue
        weight, bias = params
        g.set_conv(conv, conv.input[0], weight * c, bias * c + d)
        rename[add.output[0]] = conv.output[0]
        dropped |= {id(mul), id(add)}
        counts["conv then affine"] += 1
    g.nodes = [n for n in g.nodes if id(n) not in dropped]
    for node in g.nodes:
        for k, name in enumerate(node.input):
            node.input[k] = rename.get(name, name)


def _plain_1x1(g: _Graph, conv: onnx.NodeProto, x: str) -> bool:
    attrs = _attrs(conv)
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    return (conv.op_type == "Conv" and conv.input[0] == x and g.conv_weights(conv) is not None
            and g.consts[conv.input[1]].shape[2:] == (1, 1) and attrs.get("group", 1) == 1
            and not any(attrs.get("pads", [])) and auto_pad in (b"NOTSET", "NOTSET"))


def _fold_affine_conv(g: _Graph, counts: Counter) -> None:
    """Mul(c) -> Add(d) -> only 1x1 unpadded Convs: into those Convs."""
    dropped: set[int] = set()
    for mul in g.nodes:
        if (found := g.affine(mul)) is None:
            continue
        c, d, x, add = found
        convs = g.consumers(add.output[0])
        if (not convs or add.output[0] in g.outputs or mul.output[0] in g.outputs
                or not all(_plain_1x1(g, conv, add.output[0]) for conv in convs)):
            continue
        for conv in convs:
            weight, bias = g.conv_weights(conv)
            g.set_conv(conv, x, weight * c, bias + d * weight.sum(axis=(1, 2, 3)))
        dropped |= {id(mul), id(add)}
        counts["affine then 1x1 conv"] += 1
    g.nodes = [n for n in g.nodes if id(n) not in dropped]


def _fold_hardswish(g: _Graph, counts: Counter) -> None:
    """x * Clip(x + 3, 0, 6) / 6: x * HardSigmoid(x)."""
    replaced: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[int] = set()
    for add in g.nodes:
        if add.op_type != "Add" or (found := g.scalar(add)) is None or found[0] != 3.0:
            continue
        x = found[1]
        clip = g.only_consumer(add.output[0], "Clip")
        if clip is None or len(clip.input) != 3 or not all(i in g.consts for i in clip.input[1:]):
            continue
        if [float(g.consts[i].reshape(())) for i in clip.input[1:]] != [0.0, 6.0]:
            continue
        mul = g.only_consumer(clip.output[0], "Mul")
        if mul is None or sorted(mul.input) != sorted([x, clip.output[0]]):
            continue
        div = g.only_consumer(mul.output[0], "Div")
        if div is None or (six := g.scalar(div)) is None or six[0] != 6.0 or six[1] != mul.output[0]:
            continue
        out = div.output[0]
        gate = helper.make_node("HardSigmoid", [x], [f"{out}/gate"], name=f"{out}/gate",
                                alpha=1.0 / 6.0, beta=0.5)
        replaced[id(div)] = [gate, helper.make_node("Mul", [x, f"{out}/gate"], [out], name=out)]
        dropped |= {id(add), id(clip), id(mul)}
        counts["hard-swish"] += 1
    nodes = []
    for node in g.nodes:
        if id(node) not in dropped:
            nodes.extend(replaced.get(id(node), [node]))
    g.nodes = nodes


def fold(model: onnx.ModelProto) -> tuple[onnx.ModelProto, Counter]:
    """The folded model and how many of each pattern were folded (``model`` itself,
    untouched, when none was)."""
    source = model
    model = onnx.ModelProto()
    model.CopyFrom(source)  # the rewrite edits nodes in place
    g = _Graph(model)
    counts: Counter = Counter()
    _fold_conv_affine(g, counts)
    _fold_affine_conv(g, counts)
    _fold_hardswish(g, counts)
    if not counts:
        return source, counts
    used = {name for node in g.nodes for name in node.input} | g.outputs
    initializers = [numpy_helper.from_array(np.ascontiguousarray(value), name)
                    for name, value in g.consts.items() if name in used]
    graph = helper.make_graph(g.nodes, model.graph.name, model.graph.input,
                              model.graph.output, initializer=initializers,
                              doc_string=model.graph.doc_string)
    folded = helper.make_model(graph, opset_imports=model.opset_import,
                               ir_version=model.ir_version,
                               producer_name=model.producer_name,
                               producer_version=model.producer_version)
    folded.metadata_props.extend(model.metadata_props)
    onnx.checker.check_model(folded, full_check=True)
    return folded, counts
