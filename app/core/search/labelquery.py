"""From the words of a query to weights over the ImageNet and AudioSet labels.

A query is embedded by the text encoder and compared with every label's embedding. The
raw similarities are soft: "crate" is 1.0 to ImageNet "crate" but also 0.53 to AudioSet
"Steam", and everything is 0.3-0.4 to something. So the weights are sharpened:

- a label counts only above ``LABEL_FLOOR`` and within ``BAND`` of the best label of its
  list, with a weight falling e-fold per ``SHARPNESS`` below that best label;
- each list (picture, sound) is gated by how its best label compares with the best label
  of either list: a query about sounds ("people talking": AudioSet "Conversation" 0.72,
  ImageNet at most 0.40) uses the sound labels, a query about things the picture ones,
  and a query that fits both ("dog": "Dog" 1.0, ImageNet breeds ~0.67) mostly the closer.

ImageNet classes also carry a WordNet gloss ("carton: a box made of cardboard"); a class
scores the better of its name and its gloss, the gloss raised by ``GLOSS_OFFSET`` because
a sentence never embeds as close to a short query as an equal name does.

A word that names a kind of thing ("dog", "fruit", "boxes") also reaches every ImageNet
class WordNet files under it (``app.core.vocabulary.kinds_of``) at full weight: the text
encoder puts "dog" at 0.67 from each breed, WordNet knows a beagle is a dog.

A clip's evidence for the query is then the weighted sum of the label probabilities it
activates: the share of the picture (softmax mass) or the sound scores that the query's
labels explain.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from app.core import vocabulary
from app.inference import TEXT_DIM
from app.inference.labels import audioset_labels, imagenet_labels

LABEL_FLOOR = 0.5
BAND = 0.3
SHARPNESS = 0.1
GLOSS_OFFSET = 0.15
# A list counts fully once its best label reaches GATE_FLOOR + GATE_RAMP, not at all
# below GATE_FLOOR: "crate" -> "Steam" (0.53) or "speech" -> any ImageNet class (<0.45)
# are not matches, "cat" -> "Egyptian cat" (0.77) is.
GATE_FLOOR = 0.55
GATE_RAMP = 0.2
# ... and falls e-fold per GATE_SHARPNESS that its best label trails the other list's
# ("cat": the sound "Cat" is 1.0, the picture classes 0.77 -> pictures weigh 0.4).
GATE_SHARPNESS = 0.25
MIN_WEIGHT = 0.01
# A query whose best label is at least this close names it, or a near synonym of it
# ("talking" -> Conversation 0.84, "airplane" -> Aircraft 0.90, "laughing" -> Laughter
# 0.91); below, the closest labels are associations ("sunset" -> sunglass 0.63,
# "cake" -> trifle 0.58, "daytime" -> sundial 0.63), not what was asked.
NAMED_SIMILARITY = 0.8

KIND_WORD = {"visual": "picture", "audio": "sound"}
TEXT_MODEL_FILE = "minilm_l6.onnx"  # app.inference.text.MODEL_FILE, without loading it


@dataclass
class LabelQuery:
    visual: np.ndarray  # [1000] float32 weight per ImageNet class
    audio: np.ndarray  # [521] float32 weight per AudioSet class
    # Whether the words name labels (a label's own name or a near synonym, a kind
    # WordNet files classes under, a place word), not only come near some.
    named: bool = True

    def weights(self, kind: str) -> np.ndarray:
        return self.visual if kind == "visual" else self.audio

    @property
    def empty(self) -> bool:
        return not (self.visual.any() or self.audio.any())

    def evidence(self, visual_probs: np.ndarray, audio_scores: np.ndarray) -> np.ndarray:
        """[n] evidence of clips from their [n, 1000] and [n, 521] label scores."""
        return visual_probs @ self.visual + audio_scores @ self.audio

    def explain(self, contributions: list[tuple[str, str, float]], share: float = 0.25,
                most: int = 3) -> list[str]:
        """The labels that carry a result: those within ``share`` of the largest part."""
        parts = sorted(contributions, key=lambda c: -c[2])
        if not parts or parts[0][2] <= 0:
            return []
        return [f"{KIND_WORD[kind]}: {name}" for kind, name, value in parts[:most]
                if value >= share * parts[0][2]]


class LabelMatcher:
    """Turns query text into a ``LabelQuery``; holds the text model and label vectors."""

    def __init__(self, text_model, embeddings: dict[str, np.ndarray]):
        self.text_model = text_model
        self.names = {"visual": imagenet_labels(), "audio": audioset_labels()}
        self.visual = embeddings["imagenet"]
        # Installs from before the glosses existed have names only; search still works.
        self.visual_gloss = embeddings.get("imagenet_gloss")
        self.audio = embeddings["audioset"]

    def similarities(self, text: str) -> dict[str, np.ndarray]:
        q = self.text_model.encode([text])[0]
        visual = self.visual @ q
        if self.visual_gloss is not None:
            visual = np.maximum(visual, self.visual_gloss @ q + GLOSS_OFFSET)
        return {"visual": visual, "audio": self.audio @ q}

    def query(self, text: str) -> LabelQuery:
        if not text.strip():
            return LabelQuery(np.zeros(len(self.visual), np.float32),
                              np.zeros(len(self.audio), np.float32))
        sims = self.similarities(text)
        best = max(float(s.max()) for s in sims.values())
        out = {}
        for kind, s in sims.items():
            top = float(s.max())
            gate = np.clip((top - GATE_FLOOR) / GATE_RAMP, 0.0, 1.0) * np.exp(
                (top - best) / GATE_SHARPNESS)
            keep = (s >= LABEL_FLOOR) & (s >= top - BAND)
            w = np.where(keep, np.exp((s - top) / SHARPNESS), 0.0) * gate
            out[kind] = np.where(w >= MIN_WEIGHT, w, 0.0).astype(np.float32)
        kinds = kind_classes(text)
        for cls in kinds:
            out["visual"][cls] = 1.0
        # A place or occasion ("city", "kitchen") asks for what one shows and sounds like.
        scenes = vocabulary.scenes_in(text)
        for scene in scenes:
            for kind, cls in scene.items():
                out[kind][cls] = 1.0
        return LabelQuery(out["visual"], out["audio"],
                          named=best >= NAMED_SIMILARITY or bool(kinds) or bool(scenes))


# People are found by the person detector, not by ImageNet's three person classes
# (ballplayer, groom, scuba diver), which would only add noise to "people" queries.
PERSON_WORDS = frozenset({"person", "people", "man", "woman", "child", "kid", "someone",
                          "somebody", "human", "pedestrian", "crowd"})


def kind_classes(text: str) -> list[np.ndarray]:
    """The ImageNet classes each word of ``text`` names a kind of (WordNet)."""
    out = []
    for word in re.findall(r"[a-z]+", text.lower()):
        if len(word) > 2 and vocabulary.singular(word) not in PERSON_WORDS:
            classes = vocabulary.kinds_of(word)
            if len(classes):
                out.append(classes)
    return out


@cache
def _embeddings(models_dir: Path) -> dict[str, np.ndarray]:
    from app.inference.text import label_embeddings
    return label_embeddings(models_dir)


_MODEL_LOCK = threading.Lock()


@cache
def _text_model(models_dir: Path):
    from app.inference.text import TextModel
    return TextModel(models_dir)


class QueryEncoder:
    """The text model behind a cache of the queries it embedded, one small file each in
    the user's cache folder: a query asked before, in any process, is answered without
    loading the model (about a second from a cold start). The cache is keyed by the
    model file (size, times, inode), so another model never answers from it."""

    def __init__(self, models_dir: Path):
        self.models_dir = models_dir
        self.folder: Path | None = None
        try:
            from app import config
            st = (models_dir / TEXT_MODEL_FILE).stat()
            key = hashlib.blake2b(f"{models_dir.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0"
                                  f"{st.st_ctime_ns}\0{st.st_ino}".encode("utf-8", "surrogatepass"),
                                  digest_size=8).hexdigest()
            self.folder = config.cache_dir() / "text-queries" / key
        except OSError:
            pass  # no model file: encoding will say so

    def load(self):
        # One load per process: the app's warm-up and a first search asked meanwhile
        # would otherwise each open a session (~0.3 s of CPU on the same two cores).
        with _MODEL_LOCK:
            return _text_model(self.models_dir)

    def encode(self, texts: list[str]) -> np.ndarray:
        if len(texts) != 1 or self.folder is None:
            return self.load().encode(texts)
        name = hashlib.blake2b(texts[0].encode("utf-8", "surrogatepass"), digest_size=16)
        path = self.folder / f"{name.hexdigest()}.npy"
        try:
            found = np.load(path, allow_pickle=False)
            if found.shape == (1, TEXT_DIM) and found.dtype == np.float32:
                return found
        except (OSError, ValueError):
            pass
        vectors = self.load().encode(texts)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.npy")
            np.save(tmp, np.asarray(vectors, np.float32), allow_pickle=False)
            os.replace(tmp, path)
        except OSError:
            pass  # not cached: asked again, it is embedded again
        return vectors


@cache
def _query_encoder(models_dir: Path) -> QueryEncoder:
    return QueryEncoder(models_dir)


def default_matcher(text_model=None, models_dir: Path | None = None) -> LabelMatcher:
    """A matcher on the installed models; the text model is loaded once per process (the
    app searches many times; an ONNX session may be shared between threads), when a query
    not embedded before needs it."""
    from app import config
    models_dir = models_dir or config.models_dir()
    return LabelMatcher(text_model or _query_encoder(models_dir), _embeddings(models_dir))
