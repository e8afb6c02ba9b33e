"""Sentence embeddings (all-MiniLM-L6-v2) for search queries, and the precomputed label embeddings.

The ONNX graph already does mean pooling and L2 normalization, so a dot product between
two embeddings is their cosine similarity.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app import config
from app.inference.session import INSTALL_HINT, ModelError, model_path, open_session
from app.inference.specs import TEXT_DIM

if TYPE_CHECKING:  # loaded with the model: label embeddings alone need neither
    import onnxruntime as ort
    from tokenizers import Tokenizer

MODEL_FILE = "minilm_l6.onnx"
TOKENIZER_FILE = "tokenizer.json"
LABEL_EMBEDDINGS_FILE = "label_embeddings.npz"
EMBEDDING_DIM = TEXT_DIM
MAX_TOKENS = 128
# Bounds the [batch, 12, T, T] attention tensors when embedding long lists (label sets).
BATCH_SIZE = 64


def load_tokenizer(path: Path) -> Tokenizer:
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    # tokenizer.json ships fixed padding to 128; padding to the longest text in the batch
    # gives the same embeddings (padding is masked out) at a fraction of the cost.
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def encode_texts(session: ort.InferenceSession, tokenizer: Tokenizer,
                 texts: list[str]) -> np.ndarray:
    """Embed ``texts`` as float32 [N, 384] unit vectors, in the order given."""
    out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
    if not texts:
        return out
    # Batch texts of similar length together so little compute goes to padding.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), BATCH_SIZE):
        idx = order[start:start + BATCH_SIZE]
        encodings = tokenizer.encode_batch([texts[i] for i in idx])
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (embedding,) = session.run(["embedding"], feeds)
        out[idx] = embedding
    return out


class TextModel:
    def __init__(self, models_dir: Path | None = None, threads: int | None = None):
        models_dir = models_dir or config.models_dir()
        self.session = open_session(model_path(MODEL_FILE, models_dir), threads=threads)
        self.tokenizer = load_tokenizer(model_path(TOKENIZER_FILE, models_dir))

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 [N, 384], L2-normalized rows."""
        return encode_texts(self.session, self.tokenizer, list(texts))


def label_embeddings(models_dir: Path | None = None) -> dict[str, np.ndarray]:
    """``{"imagenet": [1000, 384], "audioset": [521, 384]}`` float32, rows in label-list order."""
    path = (models_dir or config.models_dir()) / LABEL_EMBEDDINGS_FILE
    if not path.exists():
        raise ModelError(f"{LABEL_EMBEDDINGS_FILE} is missing from {path.parent}: {INSTALL_HINT}")
    with np.load(path) as npz:
        return {name: npz[name].astype(np.float32, copy=False) for name in npz.files}
