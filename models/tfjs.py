"""TensorFlow.js graph models (model.json + weight shards) to ONNX, with numpy and onnx only.

A TF.js graph model is a frozen TensorFlow GraphDef written as JSON (``modelTopology``)
plus a ``weightsManifest`` naming the binary shards that hold every ``Const`` node's
value. ``load_graph_model`` reads both straight out of an npm ``.tgz`` (nothing is
extracted to disk) and dequantizes the weights (float16, or uint8/uint16 with a scale
and a minimum); ``convert`` walks back from the requested outputs and writes an ONNX
graph for the ops these graphs use. An op it does not know, or an attribute value it was
not written for, raises ``ConversionError``: a silently wrong model is worse than none.

Layout: TF.js tensors are NHWC, ONNX convolutions NCHW. Every 4-D activation is kept
in whichever layout its producer made; convolutions and pools take and give NCHW,
element-wise ops and concatenations follow their inputs (constants are permuted once at
conversion time), and anything whose meaning depends on the axis order (Reshape,
StridedSlice, Gather...) gets its input transposed back to NHWC first. The graph's
inputs and outputs keep TF's NHWC meaning, so callers see the model as TF.js did.

The output is a pure function of the package bytes (fixed names, no time or paths,
pinned opset and IR version), so its SHA-256 can be pinned in ``manifest.json``.
"""

from __future__ import annotations

import base64
import io
import json
import posixpath
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18  # Resize with an ``axes`` attribute (sizes of H and W only, any batch)
IR_VERSION = 8  # pinned so onnx upgrades keep the bytes

WEIGHT_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
QUANTIZED_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}
TF_DTYPES = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_BOOL": np.bool_,
             "DT_INT64": np.int64}
ONNX_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int32): TensorProto.INT32,
              np.dtype(np.int64): TensorProto.INT64, np.dtype(np.bool_): TensorProto.BOOL,
              np.dtype(np.uint8): TensorProto.UINT8}
TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)
NHWC_AXIS_IN_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


class ConversionError(RuntimeError):
    """The TF.js model uses something this converter does not (yet) translate."""


@dataclass
class GraphModel:
    nodes: list[dict]
    weights: dict[str, np.ndarray]
    signature: dict = field(default_factory=dict)


# --- reading ---------------------------------------------------------------------------


def read_members(tgz: Path | bytes, names: Iterable[str]) -> dict[str, bytes]:
    """The bytes of some members of a .tgz, read in memory."""
    wanted = set(names)
    found: dict[str, bytes] = {}
    source = io.BytesIO(tgz) if isinstance(tgz, bytes) else open(tgz, "rb")
    with source, tarfile.open(fileobj=source, mode="r:gz") as archive:
        for member in archive:
            if member.name in wanted and member.isfile():
                found[member.name] = archive.extractfile(member).read()
    missing = sorted(wanted - set(found))
    if missing:
        raise ConversionError(f"package has no {', '.join(missing)}")
    return found


def decode_weights(manifest: list[dict], shards: dict[str, bytes]) -> dict[str, np.ndarray]:
    """Weights of a ``weightsManifest``: each group's shards concatenated, read in order."""
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        blob = b"".join(shards[p] for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(d) for d in spec["shape"]]
            count = int(np.prod(shape, dtype=np.int64))
            quant = spec.get("quantization")
            if spec["dtype"] not in WEIGHT_DTYPES:
                raise ConversionError(f"weight {spec['name']}: dtype {spec['dtype']}")
            if quant and quant["dtype"] not in QUANTIZED_DTYPES:
                raise ConversionError(f"weight {spec['name']}: quantized as {quant['dtype']}")
            kind = QUANTIZED_DTYPES[quant["dtype"]] if quant else WEIGHT_DTYPES[spec["dtype"]]
            stored = np.dtype(kind).newbyteorder("<")
            if offset + count * stored.itemsize > len(blob):
                raise ConversionError(f"weight {spec['name']} runs past the end of its shards")
            raw = np.frombuffer(blob, stored, count, offset).astype(stored.newbyteorder("="))
            offset += count * stored.itemsize
            if quant and quant["dtype"] != "float16":
                # Affine dequantization, in float64 so only the final cast rounds.
                raw = raw.astype(np.float64) * float(quant["scale"]) + float(quant["min"])
            value = raw.astype(WEIGHT_DTYPES[spec["dtype"]])
            weights[spec["name"]] = value.reshape(shape)
        if offset != len(blob):
            raise ConversionError(f"shards {group['paths']} hold {len(blob) - offset} bytes "
                                  f"no weight accounts for")
    return weights


def load_graph_model(tgz: Path | bytes, model_json: str) -> GraphModel:
    """A TF.js graph model from an npm tarball, e.g. ``package/models/blazeface.json``."""
    meta = json.loads(read_members(tgz, [model_json])[model_json])
    if meta.get("format") not in ("graph-model", None) or "modelTopology" not in meta:
        raise ConversionError(f"{model_json} is not a TF.js graph model")
    base = posixpath.dirname(model_json)
    manifest = meta["weightsManifest"]
    for group in manifest:
        group["paths"] = [posixpath.normpath(posixpath.join(base, p)) for p in group["paths"]]
    shards = read_members(tgz, [p for g in manifest for p in g["paths"]])
    return GraphModel(nodes=meta["modelTopology"]["node"],
                      weights=decode_weights(manifest, shards),
                      signature=meta.get("signature") or meta.get("userDefinedMetadata", {})
                      .get("signature", {}))


# --- converting ------------------------------------------------------------------------


def _attr(node: dict, key: str, default=None):
    """A TF AttrValue from the JSON: ints come as strings, strings as base64."""
    value = node.get("attr", {}).get(key)
    if value is None:
        return default
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return value["type"]
    if "list" in value:
        items = value["list"]
        if "i" in items:
            return [int(i) for i in items["i"]]
        if "s" in items:
            return [base64.b64decode(s).decode() for s in items["s"]]
        if "f" in items:
            return [float(f) for f in items["f"]]
        return []
    if "shape" in value:
        return [int(d.get("size", -1)) for d in value["shape"].get("dim", [])]
    return value


@dataclass(frozen=True)
class GridSize:
    """What a constant of a frozen graph held when it was a size of some tensor's grid,
    folded by the exporter for the one input size it was frozen at: ``convert(replace=...)``
    computes it at run time instead, as ``factor`` times the NHWC dimensions ``axes`` of
    ``tensor`` (int32, a scalar when ``scalar``), so the graph accepts other input sizes."""

    tensor: str
    axes: tuple[int, ...]
    factor: int = 1
    scalar: bool = False


@dataclass
class Value:
    """One TF tensor during conversion: a constant, or an ONNX edge in some layout."""

    name: str | None = None  # ONNX edge name (None for a constant not yet materialized)
    const: np.ndarray | None = None
    nchw: bool = False  # a 4-D activation stored as NCHW
    rank: int | None = None
    dtype: np.dtype = np.dtype(np.float32)


class _Converter:
    def __init__(self, model: GraphModel, rebatch: bool = False,
                 replace: dict[str, np.ndarray | GridSize] | None = None):
        self.model = model
        self.rebatch = rebatch
        self.replace = dict(replace or {})
        self.nodes = {n["name"]: n for n in model.nodes}
        self.values: dict[str, Value] = {}
        self.onnx_nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: set[str] = set()
        self.inputs: list[onnx.ValueInfoProto] = []
        self._layout_cache: dict[tuple[str, bool], str] = {}

    # -- helpers --
    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def const_edge(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def emit(self, op: str, inputs: list[str], base: str, n_out: int = 1, **attrs) -> list[str]:
        outs = [self.fresh(base if i == 0 else f"{base}:{i}") for i in range(n_out)]
        self.onnx_nodes.append(helper.make_node(op, inputs, outs, name=outs[0], **attrs))
        return outs

    def edge(self, v: Value, base: str) -> str:
        if v.name is None:
            v.name = self.const_edge(base, v.const)
        return v.name

    def nhwc(self, v: Value, base: str) -> str:
        """The edge holding ``v`` in TF's own axis order."""
        if v.const is not None:
            return self.edge(v, base)
        if not v.nchw:
            return v.name
        key = (v.name, False)
        if key not in self._layout_cache:
            self._layout_cache[key] = self.emit("Transpose", [v.name], f"{v.name}/nhwc",
                                                perm=list(TO_NHWC))[0]
        return self._layout_cache[key]

    def nchw(self, v: Value, base: str) -> str:
        if v.rank != 4:
            raise ConversionError(f"{base}: expected a 4-D tensor, got rank {v.rank}")
        if v.const is not None:
            return self.const_edge(base, v.const.transpose(TO_NCHW))
        if v.nchw:
            return v.name
        key = (v.name, True)
        if key not in self._layout_cache:
            self._layout_cache[key] = self.emit("Transpose", [v.name], f"{v.name}/nchw",
                                                perm=list(TO_NCHW))[0]
        return self._layout_cache[key]

    def value(self, ref: str) -> Value:
        name, _, index = ref.partition(":")
        key = name if index in ("", "0") else f"{name}:{index}"
        if key not in self.values:
            self.visit(name)
        if key not in self.values:
            raise ConversionError(f"{ref}: no such output")
        return self.values[key]

    def visit(self, name: str) -> None:
        # Iterative post-order walk: these graphs are deep enough to exhaust recursion.
        stack = [(name, False)]
        while stack:
            current, ready = stack.pop()
            if current in self.values:
                continue
            node = self.nodes.get(current)
            if node is None:
                raise ConversionError(f"graph has no node {current}")
            deps = [i.lstrip("^").partition(":")[0] for i in node.get("input", [])
                    if not i.startswith("^")]
            if ready or not [d for d in deps if d not in self.values]:
                self.convert_node(node)
                continue
            stack.append((current, True))
            stack.extend((d, False) for d in reversed(deps) if d not in self.values)

    # -- ops --
    def convert_node(self, node: dict) -> None:
        op = node["op"]
        handler = getattr(self, f"op_{op.lstrip('_')}", None)
        if handler is None:
            raise ConversionError(f"node {node['name']}: TF op {op} is not supported")
        inputs = [self.value(i) for i in node.get("input", []) if not i.startswith("^")]
        result = handler(node, inputs)
        if isinstance(result, Value):
            result = [result]
        for i, v in enumerate(result):
            self.values[node["name"] if i == 0 else f"{node['name']}:{i}"] = v

    def op_Const(self, node, inputs):
        if node["name"] in self.replace:
            return self._replacement(node["name"])
        value = self.model.weights.get(node["name"])
        if value is None:
            raise ConversionError(f"Const {node['name']} has no weight in the manifest")
        return Value(const=value, rank=value.ndim, dtype=value.dtype)

    def _replacement(self, name: str) -> Value:
        spec = self.replace.pop(name)  # each replacement is used once: a typo is an error
        if not isinstance(spec, GridSize):
            value = np.asarray(spec)
            old = self.model.weights.get(name)
            if old is not None and old.dtype != value.dtype:
                raise ConversionError(f"{name}: replacement {value.dtype} for a {old.dtype}")
            return Value(const=value, rank=value.ndim, dtype=value.dtype)
        x = self.value(spec.tensor)
        if x.const is not None:
            raise ConversionError(f"{name}: {spec.tensor} is a constant")
        axes = [NHWC_AXIS_IN_NCHW[a] if x.nchw else a for a in spec.axes]
        shape = self.emit("Shape", [x.name], f"{name}/shape")[0]
        index = np.array(axes[0] if spec.scalar else axes, np.int64)
        if spec.scalar and len(axes) != 1:
            raise ConversionError(f"{name}: a scalar grid size of {len(axes)} axes")
        dims = self.emit("Gather", [shape, self.const_edge(f"{name}/axes", index)],
                         f"{name}/dims", axis=0)[0]
        if spec.factor != 1:
            dims = self.emit("Mul", [dims, self.const_edge(
                f"{name}/factor", np.array(spec.factor, np.int64))], f"{name}/scaled")[0]
        out = self.emit("Cast", [dims], name, to=TensorProto.INT32)[0]
        return Value(name=out, rank=0 if spec.scalar else 1, dtype=np.dtype(np.int32))

    def op_Placeholder(self, node, inputs):
        raise ConversionError(f"input {node['name']} was not bound by convert()")

    def op_Identity(self, node, inputs):
        return inputs[0]

    def _conv(self, node, x: Value, w: np.ndarray, depthwise: bool, fused: list[str],
              args: list[Value]) -> Value:
        name = node["name"]
        strides = _attr(node, "strides", [1, 1, 1, 1])
        dilations = _attr(node, "dilations", [1, 1, 1, 1])
        if _attr(node, "data_format", "NHWC") != "NHWC":
            raise ConversionError(f"{name}: data_format {_attr(node, 'data_format')}")
        if strides[0] != 1 or strides[3] != 1:
            raise ConversionError(f"{name}: strides {strides}")
        kh, kw = w.shape[:2]
        if depthwise:  # [H, W, C, M] -> [C*M, 1, H, W]; output channel c*M + m, as in TF
            weight = w.reshape(kh, kw, -1).transpose(2, 0, 1)[:, None]
            group = w.shape[2]
        else:  # HWIO -> OIHW
            weight = w.transpose(3, 2, 0, 1)
            group = 1
        attrs = dict(kernel_shape=[kh, kw], strides=strides[1:3], dilations=dilations[1:3],
                     group=group)
        attrs.update(self._padding(node))
        conv_inputs = [self.nchw(x, f"{name}/x"), self.const_edge(f"{name}/W",
                                                                  weight.astype(np.float32))]
        rest = list(fused)
        if rest and rest[0] == "BiasAdd":
            rest.pop(0)
            bias = args.pop(0)
            if bias.const is None:
                raise ConversionError(f"{name}: bias is not a constant")
            conv_inputs.append(self.const_edge(f"{name}/B", bias.const.astype(np.float32)))
        out = Value(name=self.emit("Conv", conv_inputs, name if not rest else f"{name}/conv",
                                   **attrs)[0], nchw=True, rank=4)
        return self._activations(node, out, rest, args)

    def _padding(self, node) -> dict:
        padding = _attr(node, "padding")
        if padding == "SAME":
            return {"auto_pad": "SAME_UPPER"}  # TF SAME: the odd pixel goes at the end
        if padding == "VALID":
            return {"pads": [0, 0, 0, 0]}
        if padding == "EXPLICIT":
            p = _attr(node, "explicit_paddings")  # NHWC pairs
            return {"pads": [p[2], p[4], p[3], p[5]]}
        raise ConversionError(f"{node['name']}: padding {padding}")

    def _activations(self, node, x: Value, ops: list[str], args: list[Value]) -> Value:
        name = node["name"]
        for i, op in enumerate(ops):
            last = i == len(ops) - 1
            base = name if last else f"{name}/{op}"
            edge = x.name
            if op == "Relu":
                out = self.emit("Relu", [edge], base)[0]
            elif op == "Relu6":
                out = self._clip(edge, 0.0, 6.0, base)
            elif op == "Elu":
                out = self.emit("Elu", [edge], base)[0]
            elif op == "LeakyRelu":
                out = self.emit("LeakyRelu", [edge], base,
                                alpha=_attr(node, "leakyrelu_alpha", 0.2))[0]
            elif op == "Sigmoid":
                out = self.emit("Sigmoid", [edge], base)[0]
            elif op == "PRelu":
                alpha = args.pop(0)
                if alpha.const is None:
                    raise ConversionError(f"{name}: PRelu alpha is not a constant")
                slope = alpha.const.astype(np.float32)
                if x.nchw:
                    slope = slope.reshape(-1, 1, 1)
                out = self.emit("PRelu", [edge, self.const_edge(f"{name}/alpha", slope)],
                                base)[0]
            else:
                raise ConversionError(f"{name}: fused op {op} is not supported")
            x = Value(name=out, nchw=x.nchw, rank=x.rank, dtype=x.dtype)
        return x

    def _clip(self, edge: str, low: float, high: float, base: str) -> str:
        return self.emit("Clip", [edge, self.const_edge(f"{base}/min", np.array(low, np.float32)),
                                  self.const_edge(f"{base}/max", np.array(high, np.float32))],
                         base)[0]

    def _fused_ops(self, node) -> list[str]:
        return list(_attr(node, "fused_ops", []))

    def op_Conv2D(self, node, inputs):
        return self._conv(node, inputs[0], self._weight(node, inputs[1]), False, [], [])

    def op_FusedConv2D(self, node, inputs):
        return self._conv(node, inputs[0], self._weight(node, inputs[1]), False,
                          self._fused_ops(node), list(inputs[2:]))

    def op_DepthwiseConv2dNative(self, node, inputs):
        return self._conv(node, inputs[0], self._weight(node, inputs[1]), True, [], [])

    def op_FusedDepthwiseConv2dNative(self, node, inputs):
        return self._conv(node, inputs[0], self._weight(node, inputs[1]), True,
                          self._fused_ops(node), list(inputs[2:]))

    def _weight(self, node, v: Value) -> np.ndarray:
        if v.const is None:
            raise ConversionError(f"{node['name']}: filter is not a constant")
        return v.const

    def op_FusedMatMul(self, node, inputs):
        a, b = inputs[:2]
        name = node["name"]
        if b.const is None or a.rank != 2:
            raise ConversionError(f"{name}: only activation x constant 2-D MatMul")
        ops = self._fused_ops(node)
        args = list(inputs[2:])
        gemm_inputs = [self.nhwc(a, f"{name}/a"), self.const_edge(f"{name}/W",
                                                                  b.const.astype(np.float32))]
        if ops and ops[0] == "BiasAdd":
            ops.pop(0)
            gemm_inputs.append(self.const_edge(f"{name}/B", args.pop(0).const.astype(np.float32)))
        out = self.emit("Gemm", gemm_inputs, name if not ops else f"{name}/gemm",
                        transA=int(_attr(node, "transpose_a", False)),
                        transB=int(_attr(node, "transpose_b", False)))[0]
        return self._activations(node, Value(name=out, rank=2), ops, args)

    def op_MatMul(self, node, inputs):
        node = dict(node, attr={**node.get("attr", {})})
        return self.op_FusedMatMul(node, inputs)

    def _pool(self, node, inputs, op: str):
        x = inputs[0]
        ksize = _attr(node, "ksize")
        strides = _attr(node, "strides")
        if ksize[0] != 1 or ksize[3] != 1 or strides[0] != 1 or strides[3] != 1:
            raise ConversionError(f"{node['name']}: pooling over batch or channels")
        attrs = dict(kernel_shape=ksize[1:3], strides=strides[1:3], **self._padding(node))
        out = self.emit(op, [self.nchw(x, node["name"])], node["name"], **attrs)[0]
        return Value(name=out, nchw=True, rank=4)

    def op_MaxPool(self, node, inputs):
        return self._pool(node, inputs, "MaxPool")

    def op_AvgPool(self, node, inputs):
        return self._pool(node, inputs, "AveragePool")

    def _unary(self, node, inputs, op: str, **attrs):
        x = inputs[0]
        if x.const is not None:
            raise ConversionError(f"{node['name']}: {op} of a constant")
        out = self.emit(op, [x.name], node["name"], **attrs)[0]
        return Value(name=out, nchw=x.nchw, rank=x.rank, dtype=x.dtype)

    def op_Relu(self, node, inputs):
        return self._unary(node, inputs, "Relu")

    def op_Sigmoid(self, node, inputs):
        return self._unary(node, inputs, "Sigmoid")

    def op_Tanh(self, node, inputs):
        return self._unary(node, inputs, "Tanh")

    def op_Elu(self, node, inputs):
        return self._unary(node, inputs, "Elu")

    def op_Relu6(self, node, inputs):
        x = inputs[0]
        return Value(name=self._clip(x.name, 0.0, 6.0, node["name"]), nchw=x.nchw, rank=x.rank)

    def op_Softmax(self, node, inputs):
        x = inputs[0]
        out = self.emit("Softmax", [self.nhwc(x, node["name"])], node["name"], axis=-1)[0]
        return Value(name=out, rank=x.rank)

    def op_Cast(self, node, inputs):
        x = inputs[0]
        dst = np.dtype(TF_DTYPES[_attr(node, "DstT")])
        if x.const is not None:
            return Value(const=x.const.astype(dst), rank=x.rank, dtype=dst)
        out = self.emit("Cast", [x.name], node["name"], to=ONNX_TYPES[dst])[0]
        return Value(name=out, nchw=x.nchw, rank=x.rank, dtype=dst)

    # Element-wise binary ops. Constants are folded in numpy; a constant beside an NCHW
    # activation is broadcast to 4-D NHWC and permuted once.
    BINARY = {"Add": ("Add", np.add), "AddV2": ("Add", np.add), "BiasAdd": ("Add", np.add),
              "Sub": ("Sub", np.subtract), "Mul": ("Mul", np.multiply),
              "RealDiv": ("Div", np.divide), "Maximum": ("Max", np.maximum),
              "Minimum": ("Min", np.minimum), "Equal": ("Equal", np.equal),
              "Greater": ("Greater", np.greater), "Less": ("Less", np.less),
              "FloorDiv": (None, np.floor_divide), "FloorMod": (None, np.mod)}

    def _binary(self, node, inputs):
        op = node["op"]
        onnx_op, fold = self.BINARY[op]
        a, b = inputs
        name = node["name"]
        if a.const is not None and b.const is not None:
            value = np.asarray(fold(a.const, b.const))
            return Value(const=value, rank=value.ndim, dtype=value.dtype)
        rank = max(a.rank, b.rank)
        dtype = np.dtype(np.bool_) if onnx_op in ("Equal", "Greater", "Less") else (
            a.dtype if a.const is None else b.dtype)
        activations = [v for v in (a, b) if v.const is None]
        use_nchw = rank == 4 and any(v.nchw for v in activations) and all(
            v.rank == 4 for v in activations)
        edges = []
        for i, v in enumerate((a, b)):
            if v.const is not None:
                c = v.const.astype(dtype if onnx_op not in ("Equal", "Greater", "Less")
                                   else (a if a.const is None else b).dtype)
                if use_nchw:
                    if c.ndim > 4:
                        raise ConversionError(f"{name}: constant of rank {c.ndim}")
                    c = c.reshape((1,) * (4 - c.ndim) + c.shape).transpose(TO_NCHW)
                edges.append(self.const_edge(f"{name}/{'ab'[i]}", c))
            else:
                edges.append(self.nchw(v, name) if use_nchw else self.nhwc(v, name))
        if op == "FloorDiv":
            out = self._floor_div(edges, dtype, name)
        elif op == "FloorMod":
            out = self._floor_mod(edges, dtype, name)
        else:
            out = self.emit(onnx_op, edges, name)[0]
        return Value(name=out, nchw=use_nchw, rank=rank, dtype=dtype)

    def _floor_mod(self, edges, dtype, name) -> str:
        if np.issubdtype(dtype, np.integer):  # Python-style modulo: the divisor's sign
            return self.emit("Mod", edges, name, fmod=0)[0]
        div = self.emit("Div", edges, f"{name}/div")[0]
        floor = self.emit("Floor", [div], f"{name}/floor")[0]
        prod = self.emit("Mul", [floor, edges[1]], f"{name}/mul")[0]
        return self.emit("Sub", [edges[0], prod], name)[0]

    def _floor_div(self, edges, dtype, name) -> str:
        if np.issubdtype(dtype, np.integer):  # exact: (a - a mod b) / b divides evenly
            mod = self.emit("Mod", edges, f"{name}/mod", fmod=0)[0]
            diff = self.emit("Sub", [edges[0], mod], f"{name}/sub")[0]
            return self.emit("Div", [diff, edges[1]], name)[0]
        div = self.emit("Div", edges, f"{name}/div")[0]
        return self.emit("Floor", [div], name)[0]

    def _const_ints(self, node, v: Value, what: str) -> np.ndarray:
        if v.const is None:
            raise ConversionError(f"{node['name']}: {what} is not a constant")
        return v.const.astype(np.int64)

    def op_Pad(self, node, inputs):
        x, paddings = inputs[0], self._const_ints(node, inputs[1], "paddings")
        value = 0.0
        if len(inputs) > 2:
            value = float(inputs[2].const)
        if x.nchw:
            paddings = paddings[list(TO_NCHW)]
        pads = np.concatenate([paddings[:, 0], paddings[:, 1]])
        name = node["name"]
        edges = [x.name, self.const_edge(f"{name}/pads", pads),
                 self.const_edge(f"{name}/value", np.array(value, np.float32))]
        return Value(name=self.emit("Pad", edges, name, mode="constant")[0], nchw=x.nchw,
                     rank=x.rank, dtype=x.dtype)

    op_PadV2 = op_Pad

    def op_ConcatV2(self, node, inputs):
        *parts, axis_value = inputs
        axis = int(self._const_ints(node, axis_value, "axis"))
        if all(p.const is not None for p in parts):
            value = np.concatenate([p.const for p in parts], axis=axis)
            return Value(const=value, rank=value.ndim, dtype=value.dtype)
        rank = next(p.rank for p in parts if p.const is None)
        axis = axis % rank
        name = node["name"]
        use_nchw = rank == 4 and any(p.nchw for p in parts)
        if use_nchw:
            edges = [self.nchw(p, f"{name}/{i}") for i, p in enumerate(parts)]
            axis = NHWC_AXIS_IN_NCHW[axis]
        else:
            edges = [self.nhwc(p, f"{name}/{i}") for i, p in enumerate(parts)]
        dtype = next(p.dtype for p in parts if p.const is None)
        return Value(name=self.emit("Concat", edges, name, axis=axis)[0], nchw=use_nchw,
                     rank=rank, dtype=dtype)

    def op_Mean(self, node, inputs):
        x = inputs[0]
        axes = [int(a) % x.rank for a in np.atleast_1d(self._const_ints(node, inputs[1], "axes"))]
        keep = bool(_attr(node, "keep_dims", False))
        name = node["name"]
        if x.nchw and (keep or sorted(axes) == [1, 2]):
            mapped = sorted(NHWC_AXIS_IN_NCHW[a] for a in axes)
            edge, nchw = x.name, keep
        else:
            mapped, edge, nchw = sorted(axes), self.nhwc(x, name), False
        out = self.emit("ReduceMean", [edge, self.const_edge(f"{name}/axes",
                                                             np.array(mapped, np.int64))],
                        name, keepdims=int(keep))[0]
        return Value(name=out, nchw=nchw, rank=x.rank if keep else x.rank - len(axes),
                     dtype=x.dtype)

    def op_ResizeBilinear(self, node, inputs):
        x, name = inputs[0], node["name"]
        if inputs[1].const is not None:
            size = self.const_edge(f"{name}/sizes", self._const_ints(node, inputs[1], "size"))
        else:  # computed at run time (a GridSize replacement)
            size = self.emit("Cast", [inputs[1].name], f"{name}/sizes", to=TensorProto.INT64)[0]
        if _attr(node, "align_corners", False):
            mode = "align_corners"
        elif _attr(node, "half_pixel_centers", False):
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        out = self.emit("Resize", [self.nchw(x, name), "", "", size],
                        name, mode="linear", coordinate_transformation_mode=mode, axes=[2, 3])[0]
        return Value(name=out, nchw=True, rank=4)

    def op_Reshape(self, node, inputs):
        x, shape = inputs[0], self._const_ints(node, inputs[1], "shape")
        name = node["name"]
        if x.const is not None:
            value = x.const.reshape(shape)
            return Value(const=value, rank=value.ndim, dtype=value.dtype)
        if (shape == 0).any():
            raise ConversionError(f"{name}: reshape to a zero-sized dimension")
        if self.rebatch:
            # The graph was frozen with a batch of 1 written into its reshapes; let the
            # first dimension follow the input instead (convert() callers check batches).
            if shape[0] != 1 or (shape == -1).any():
                raise ConversionError(f"{name}: cannot make reshape to {shape.tolist()} "
                                      f"follow the batch")
            shape = shape.copy()
            shape[0] = -1
        out = self.emit("Reshape", [self.nhwc(x, name), self.const_edge(f"{name}/shape", shape)],
                        name)[0]
        return Value(name=out, rank=len(shape), dtype=x.dtype)

    def op_ExpandDims(self, node, inputs):
        x = inputs[0]
        axis = int(self._const_ints(node, inputs[1], "axis"))
        name = node["name"]
        if x.const is not None:
            value = np.expand_dims(x.const, axis)
            return Value(const=value, rank=value.ndim, dtype=value.dtype)
        out = self.emit("Unsqueeze", [self.nhwc(x, name),
                                      self.const_edge(f"{name}/axes", np.array([axis], np.int64))],
                        name)[0]
        return Value(name=out, rank=x.rank + 1, dtype=x.dtype)

    def op_TopKV2(self, node, inputs):
        x = inputs[0]
        k = np.atleast_1d(self._const_ints(node, inputs[1], "k"))
        name = node["name"]
        if not _attr(node, "sorted", True):
            raise ConversionError(f"{name}: unsorted TopK")
        values, indices = self.emit("TopK", [self.nhwc(x, name), self.const_edge(f"{name}/k", k)],
                                    name, n_out=2, axis=-1, largest=1, sorted=1)
        # TF gives int32 indices; later integer ops expect that type.
        indices32 = self.emit("Cast", [indices], f"{name}/indices", to=TensorProto.INT32)[0]
        return [Value(name=values, rank=x.rank, dtype=x.dtype),
                Value(name=indices32, rank=x.rank, dtype=np.dtype(np.int32))]

    def op_GatherV2(self, node, inputs):
        params, indices, axis_value = inputs
        axis = int(self._const_ints(node, axis_value, "axis"))
        name = node["name"]
        if _attr(node, "batch_dims", 0) != 0:
            raise ConversionError(f"{name}: batch_dims")
        out = self.emit("Gather", [self.nhwc(params, f"{name}/params"),
                                   self.nhwc(indices, f"{name}/indices")], name, axis=axis)[0]
        return Value(name=out, rank=params.rank + indices.rank - 1, dtype=params.dtype)

    def op_StridedSlice(self, node, inputs):
        x = inputs[0]
        begin, end, strides = (self._const_ints(node, v, "slice spec") for v in inputs[1:4])
        name = node["name"]
        for mask in ("ellipsis_mask", "new_axis_mask"):
            if _attr(node, mask, 0):
                raise ConversionError(f"{name}: StridedSlice {mask} is not supported")
        begin_mask, end_mask = _attr(node, "begin_mask", 0), _attr(node, "end_mask", 0)
        shrink = _attr(node, "shrink_axis_mask", 0)
        big = np.iinfo(np.int64).max
        starts, ends, axes, steps, squeeze = [], [], [], [], []
        for i in range(len(begin)):
            step = int(strides[i])
            if shrink >> i & 1:
                start = int(begin[i])
                stop = start + 1 if start != -1 else big
                step = 1
                squeeze.append(i)
            else:
                start = (0 if step > 0 else big) if begin_mask >> i & 1 else int(begin[i])
                stop = (big if step > 0 else -big) if end_mask >> i & 1 else int(end[i])
            starts.append(start)
            ends.append(stop)
            axes.append(i)
            steps.append(step)
        if x.const is not None:
            value = x.const[tuple(slice(s, e if abs(e) != big else None, t)
                                  for s, e, t in zip(starts, ends, steps, strict=True))]
            if squeeze:
                value = np.squeeze(value, axis=tuple(squeeze))
            return Value(const=value, rank=value.ndim, dtype=value.dtype)
        edges = [self.nhwc(x, name)] + [
            self.const_edge(f"{name}/{what}", np.array(arr, np.int64))
            for what, arr in (("starts", starts), ("ends", ends), ("axes", axes),
                              ("steps", steps))]
        out = self.emit("Slice", edges, name if not squeeze else f"{name}/slice")[0]
        if squeeze:
            out = self.emit("Squeeze", [out, self.const_edge(f"{name}/squeeze",
                                                             np.array(squeeze, np.int64))],
                            name)[0]
        return Value(name=out, rank=x.rank - len(squeeze), dtype=x.dtype)


for _op in _Converter.BINARY:
    setattr(_Converter, f"op_{_op}", _Converter._binary)


def convert(model: GraphModel, input_node: str, outputs: dict[str, str], *, batch: int | str,
            graph_name: str, doc: str, uint8_scale: float | None = None,
            uint8_offset: float = 0.0,
            output_shapes: dict[str, list[int | str]] | None = None,
            rebatch_reshapes: bool = False,
            spatial: tuple[str, str] | None = None,
            replace: dict[str, np.ndarray | GridSize] | None = None) -> onnx.ModelProto:
    """Convert the part of ``model`` that computes ``outputs`` (TF name -> ONNX name).

    The input keeps TF's NHWC shape with ``batch`` as its first dimension. With
    ``uint8_scale`` set, the ONNX input is uint8 and the graph computes
    ``x * uint8_scale + uint8_offset`` in float32 before the TF graph proper, so callers
    hand over plain RGB frames and cannot get the normalization wrong.
    ``rebatch_reshapes`` turns a frozen batch of 1 in every Reshape into -1, for graphs
    exported with a fixed batch; the caller must check that batches match single runs.
    ``spatial`` names the input's height and width as free dimensions; the exporter folds
    sizes derived from the frozen input size into constants, and ``replace`` gives each
    such Const node (by name) its new value or the ``GridSize`` it stands for. The caller
    must check that the free-size graph matches the frozen one at the frozen size.
    """
    conv = _Converter(model, rebatch=rebatch_reshapes, replace=replace)
    node = conv.nodes.get(input_node)
    if node is None or node["op"] != "Placeholder":
        raise ConversionError(f"{input_node} is not a Placeholder of the graph")
    shape = _attr(node, "shape")
    dims: list[int | str] = [batch] + [int(d) for d in shape[1:]]
    if spatial is not None:
        dims[1:3] = spatial
    if any(isinstance(d, int) and d < 0 for d in dims):
        raise ConversionError(f"input {input_node} has an unknown dimension: {shape}")
    input_name = "image"
    conv.names.add(input_name)
    if uint8_scale is None:
        conv.inputs.append(helper.make_tensor_value_info(input_name, TensorProto.FLOAT, dims))
        x = input_name
    else:
        conv.inputs.append(helper.make_tensor_value_info(input_name, TensorProto.UINT8, dims))
        x = conv.emit("Cast", [input_name], "image/float", to=TensorProto.FLOAT)[0]
        x = conv.emit("Mul", [x, conv.const_edge("image/scale",
                                                 np.array(uint8_scale, np.float32))],
                      "image/scaled")[0]
        if uint8_offset:
            x = conv.emit("Add", [x, conv.const_edge("image/offset",
                                                     np.array(uint8_offset, np.float32))],
                          "image/normalized")[0]
    conv.values[input_node] = Value(name=x, rank=len(dims))

    graph_outputs = []
    for tf_name, onnx_name in outputs.items():
        v = conv.value(tf_name)
        edge = conv.nhwc(v, onnx_name)
        if onnx_name in conv.names:
            raise ConversionError(f"output name {onnx_name} clashes with a node")
        conv.names.add(onnx_name)
        conv.onnx_nodes.append(helper.make_node("Identity", [edge], [onnx_name], name=onnx_name))
        graph_outputs.append(helper.make_tensor_value_info(
            onnx_name, ONNX_TYPES[np.dtype(v.dtype)], (output_shapes or {}).get(onnx_name)))
    if conv.replace:
        raise ConversionError(f"replacements for nodes the outputs do not use: "
                              f"{', '.join(sorted(conv.replace))}")

    graph = helper.make_graph(conv.onnx_nodes, graph_name, conv.inputs, graph_outputs,
                              initializer=conv.initializers, doc_string=doc)
    model_proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                    producer_name="reelvault-models", ir_version=IR_VERSION)
    # Outputs whose shape was not given get the one ONNX infers (the checker needs one).
    inferred = onnx.shape_inference.infer_shapes(model_proto, strict_mode=True).graph
    shapes = {v.name: v.type for v in list(inferred.value_info) + list(inferred.output)}
    for out in model_proto.graph.output:
        if not out.type.tensor_type.HasField("shape"):
            if out.name not in shapes or not shapes[out.name].tensor_type.HasField("shape"):
                raise ConversionError(f"cannot infer the shape of output {out.name}")
            out.type.CopyFrom(shapes[out.name])
    onnx.checker.check_model(model_proto, full_check=True)
    return model_proto
