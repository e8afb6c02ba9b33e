"""Text encoder: safetensors reader, the ONNX graph's math, and the installed MiniLM model."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from app.inference.labels import audioset_labels, imagenet_labels
from app.inference.session import ModelError
from app.inference.text import TextModel, label_embeddings
from models import text as text_recipe
from models.safetensors_reader import SafetensorsError, load_safetensors, parse_safetensors

# --- safetensors reader -------------------------------------------------------------------


def write_safetensors(path: Path, tensors: dict[str, tuple[str, np.ndarray]],
                      metadata: dict[str, str] | None = None) -> None:
    """Write the format by hand (no safetensors package) so the test checks the reader, not a library."""
    header: dict = {"__metadata__": metadata} if metadata else {}
    blobs, offset = [], 0
    for name, (dtype, array) in tensors.items():
        raw = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(blobs))


def test_safetensors_reads_f32_f16_i64(tmp_path):
    f32 = np.arange(12, dtype="<f4").reshape(3, 4) / 7
    f16 = np.array([[0.5, -1.25], [65504.0, 1e-3]], dtype="<f2")
    i64 = np.array([[0, 1, 2**40, -5]], dtype="<i8")
    path = tmp_path / "tiny.safetensors"
    write_safetensors(path, {"a.weight": ("F32", f32), "b": ("F16", f16), "ids": ("I64", i64)},
                      metadata={"format": "pt"})

    tensors = load_safetensors(path)

    assert set(tensors) == {"a.weight", "b", "ids"}
    for got, want in ((tensors["a.weight"], f32), (tensors["b"], f16), (tensors["ids"], i64)):
        assert got.dtype == want.dtype.newbyteorder("=")
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    tensors["a.weight"][0, 0] = 1.0  # arrays are writable copies


def test_safetensors_scalar_and_empty(tmp_path):
    path = tmp_path / "edge.safetensors"
    write_safetensors(path, {"s": ("F32", np.array(3.5, dtype="<f4")),
                             "e": ("F32", np.zeros((0, 4), dtype="<f4"))})
    tensors = load_safetensors(path)
    assert tensors["s"].shape == () and tensors["s"] == 3.5
    assert tensors["e"].shape == (0, 4)


@pytest.mark.parametrize("mutate, message", [
    (lambda h: h["x"].update(dtype="BF16"), "unsupported dtype"),
    (lambda h: h["x"].update(data_offsets=[0, 4]), "do not hold"),
    (lambda h: h["x"].update(data_offsets=[0, 4096]), "outside the data section"),
])
def test_safetensors_rejects_malformed(mutate, message):
    raw = np.ones(4, dtype="<f4").tobytes()
    header = {"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, len(raw)]}}
    mutate(header)
    header_bytes = json.dumps(header).encode()
    with pytest.raises(SafetensorsError, match=message):
        parse_safetensors(struct.pack("<Q", len(header_bytes)) + header_bytes + raw)


def test_safetensors_rejects_truncated_header():
    with pytest.raises(SafetensorsError, match="runs past the end"):
        parse_safetensors(struct.pack("<Q", 1000) + b"{}")


# --- the ONNX graph against a numpy BERT, on tiny random weights --------------------------

TINY_CONFIG = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute",
               "hidden_size": 16, "num_attention_heads": 4, "num_hidden_layers": 2,
               "intermediate_size": 32, "layer_norm_eps": 1e-12, "vocab_size": 50,
               "max_position_embeddings": 20, "type_vocab_size": 2}


def tiny_weights(cfg: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, ff = cfg["hidden_size"], cfg["intermediate_size"]

    def r(*shape):
        return rng.normal(0, 0.5, shape).astype(np.float32)

    w = {"embeddings.word_embeddings.weight": r(cfg["vocab_size"], h),
         "embeddings.position_embeddings.weight": r(cfg["max_position_embeddings"], h),
         "embeddings.token_type_embeddings.weight": r(cfg["type_vocab_size"], h),
         "embeddings.LayerNorm.weight": 1 + r(h), "embeddings.LayerNorm.bias": r(h)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        shapes = {"attention.self.query": (h, h), "attention.self.key": (h, h),
                  "attention.self.value": (h, h), "attention.output.dense": (h, h),
                  "intermediate.dense": (ff, h), "output.dense": (h, ff)}
        for name, (n_out, n_in) in shapes.items():
            w[f"{p}.{name}.weight"] = r(n_out, n_in)
            w[f"{p}.{name}.bias"] = r(n_out)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[f"{p}.{ln}.weight"] = 1 + r(h)
            w[f"{p}.{ln}.bias"] = r(h)
    return w


def numpy_sentence_bert(w, cfg, ids, mask, types):
    """Plain float64 BERT + mean pooling + L2 norm, written from the paper, not from the graph."""
    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + cfg["layer_norm_eps"]) * w[f"{p}.weight"] + w[f"{p}.bias"]

    def lin(x, p):
        return x @ w[f"{p}.weight"].T.astype(np.float64) + w[f"{p}.bias"]

    n, t = ids.shape
    heads = cfg["num_attention_heads"]
    d = cfg["hidden_size"] // heads
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:t][None]
         + w["embeddings.token_type_embeddings.weight"][types]).astype(np.float64)
    x = ln(x, "embeddings.LayerNorm")
    erf = np.vectorize(math.erf)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"

        def split(y):
            return y.reshape(n, t, heads, d).transpose(0, 2, 1, 3)

        q, k, v = (split(lin(x, f"{p}.attention.self.{m}")) for m in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
        scores = np.where(mask[:, None, None, :] > 0, scores, -np.inf)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(n, t, heads * d)
        x = ln(lin(ctx, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        hid = lin(x, f"{p}.intermediate.dense")
        hid = 0.5 * hid * (1 + erf(hid / np.sqrt(2)))
        x = ln(lin(hid, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
    m = mask[..., None].astype(np.float64)
    pooled = (x * m).sum(1) / m.sum(1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def tiny_encoder():
    weights = tiny_weights(TINY_CONFIG)
    model = text_recipe.build_encoder(weights, TINY_CONFIG)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return weights, session


def test_graph_matches_numpy_bert(tiny_encoder):
    weights, session = tiny_encoder
    ids = np.array([[1, 7, 9, 3, 2, 0, 0], [1, 4, 4, 4, 4, 8, 2]], dtype=np.int64)
    mask = np.array([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]], dtype=np.int64)
    types = np.array([[0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0]], dtype=np.int64)

    (got,) = session.run(["embedding"], {"input_ids": ids, "attention_mask": mask,
                                         "token_type_ids": types})

    want = numpy_sentence_bert(weights, TINY_CONFIG, ids, mask, types)
    assert got.dtype == np.float32 and got.shape == (2, TINY_CONFIG["hidden_size"])
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_graph_ignores_padding(tiny_encoder):
    _, session = tiny_encoder
    ids = np.array([[1, 7, 9, 2]], dtype=np.int64)
    padded = np.array([[1, 7, 9, 2, 0, 0, 0]], dtype=np.int64)

    def run(x, mask):
        return session.run(["embedding"], {"input_ids": x, "attention_mask": mask,
                                           "token_type_ids": np.zeros_like(x)})[0]

    np.testing.assert_allclose(run(ids, np.ones_like(ids)),
                               run(padded, (padded > 0).astype(np.int64)), atol=1e-6)


def test_graph_bytes_are_deterministic():
    weights = tiny_weights(TINY_CONFIG)
    first = text_recipe.build_encoder(weights, TINY_CONFIG).SerializeToString()
    assert text_recipe.build_encoder(weights, TINY_CONFIG).SerializeToString() == first


def test_label_embeddings_missing_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="label_embeddings.npz"):
        label_embeddings(tmp_path)


# --- the installed model ------------------------------------------------------------------

REFERENCE_SENTENCES = [
    "A man is playing a guitar on stage.",
    "Someone performs a song on the guitar in front of an audience.",
    "The quarterly tax report is due next Tuesday.",
]
# Computed once from the original checkpoint with transformers 5.23.0 + torch 2.13.0 (CPU):
# BertModel last_hidden_state, mean pooling over the attention mask, L2 normalization.
REFERENCE_FIRST_DIMS = np.array([
    (0.018591, 0.035837, -0.015210, -0.078206, -0.143276, 0.004202, 0.074919, -0.017194),
    (0.011288, 0.031126, -0.064594, -0.086342, -0.052976, 0.044359, 0.071617, 0.001714),
    (-0.016001, -0.007197, 0.047083, 0.015583, 0.002290, 0.090993, -0.091431, 0.017607),
], dtype=np.float32)
REFERENCE_COSINES = {(0, 1): 0.582919, (0, 2): -0.051526, (1, 2): -0.131089}


@pytest.fixture(scope="module")
def text_model(real_models_dir):
    return TextModel(real_models_dir)


@pytest.mark.models
def test_matches_original_model(text_model):
    emb = text_model.encode(REFERENCE_SENTENCES)
    assert emb.dtype == np.float32 and emb.shape == (3, 384)
    np.testing.assert_allclose(emb[:, :8], REFERENCE_FIRST_DIMS, atol=1e-4)
    for (i, j), cosine in REFERENCE_COSINES.items():
        assert float(emb[i] @ emb[j]) == pytest.approx(cosine, abs=1e-4)


@pytest.mark.models
def test_paraphrases_score_above_unrelated(text_model):
    pairs = [("a dog is running on the beach", "a puppy runs along the shore"),
             ("people talking in a cafe", "a conversation in a coffee shop"),
             ("fireworks over the city at night", "a night sky full of fireworks above town")]
    unrelated = ["the quarterly tax report is due next tuesday",
                 "how to replace a bicycle chain"]
    emb = text_model.encode([s for pair in pairs for s in pair] + unrelated)
    unrelated_emb = emb[len(pairs) * 2:]
    for k in range(len(pairs)):
        a, b = emb[2 * k], emb[2 * k + 1]
        assert float(a @ b) > 0.5
        assert float(a @ b) > float((unrelated_emb @ a).max()) + 0.3


@pytest.mark.models
def test_encode_is_normalized_and_order_preserving(text_model):
    texts = ["a much longer sentence about a cat sleeping on a warm windowsill", "dog", "", "car"]
    batch = text_model.encode(texts)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([text_model.encode([t]) for t in texts])
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)
    assert text_model.encode([]).shape == (0, 384)


@pytest.mark.models
def test_long_text_is_truncated_not_rejected(text_model):
    assert text_model.encode(["word " * 1000]).shape == (1, 384)


@pytest.mark.models
def test_label_embeddings_shapes_and_freshness(real_models_dir, text_model):
    labels = label_embeddings(real_models_dir)
    assert set(labels) == {"imagenet", "audioset", "imagenet_gloss"}
    assert labels["imagenet"].shape == (len(imagenet_labels()), 384) == (1000, 384)
    assert labels["audioset"].shape == (len(audioset_labels()), 384) == (521, 384)
    assert labels["imagenet_gloss"].shape == (1000, 384)
    glosses = text_recipe.label_texts()["imagenet_gloss"]
    assert glosses[478].startswith("carton: a box made of cardboard")
    for key, names in (("imagenet", imagenet_labels()), ("audioset", audioset_labels()),
                       ("imagenet_gloss", glosses)):
        assert labels[key].dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(labels[key], axis=1), 1.0, atol=1e-5)
        # Rows must be the current model's embedding of the current label list, in order.
        sample = [0, len(names) // 2, len(names) - 1]
        np.testing.assert_allclose(labels[key][sample],
                                   text_model.encode([names[i] for i in sample]), atol=1e-4)


@pytest.mark.models
def test_espresso_query_finds_espresso_label(real_models_dir, text_model):
    imagenet = label_embeddings(real_models_dir)["imagenet"]
    scores = imagenet @ text_model.encode(["espresso"])[0]
    assert imagenet_labels()[int(np.argmax(scores))] == "espresso"
