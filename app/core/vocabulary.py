"""The words the app uses for what it recognizes, as a person would say them.

ImageNet names breeds and gadgets ("golden retriever", "Band Aid"); people say "a dog".
WordNet (resources/imagenet_hypernyms.tsv, built by models/imagenet_hypernyms.py) knows
what each class is a kind of, so:

- ``describe`` pools a clip's class probabilities into everyday words: ten uncertain dog
  breeds at 0.08 each are one confident "dog" (0.8), which no single breed is;
- only confident words are shown or used in titles, and words that embarrass when wrong
  ("Fart", "diaper", "academic gown" on a cartoon) need much stronger evidence
  (resources/label_caution.tsv);
- ``kinds_of`` tells search which classes a word for a kind reaches ("dog", "animal",
  "fruit", "vehicle").
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from app import config
from app.inference.labels import audioset_labels, imagenet_labels

# Everyday words a person uses for a kind of thing, nearest kind first: a class shows as
# the first of its WordNet kinds (itself included) in this list, else by its own name.
# Words like "structure", "container" or "instrumentality" are WordNet's, not people's.
EVERYDAY = frozenset("""
dog cat bird fish shark snake lizard turtle frog insect spider butterfly bee ant beetle
monkey ape bear horse cattle pig sheep goat deer rabbit mouse rat squirrel elephant lion
tiger wolf fox whale seal crab lobster
car truck bus train boat ship aircraft airplane bicycle motorcycle
fruit vegetable bread dessert beverage coffee
flower mushroom
house church bridge tower
chair table bed sofa lamp
guitar piano drum
hat shoe dress shirt
computer phone television
ball toy box bag bottle cup
""".split())
# The colour words: what the picture analysis names pixels with and what search reads
# in a query. Black, white and grey are no true colours: they need a larger share of a
# frame before they name it.
COLOUR_NAMES = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
                "black", "white", "grey")
ACHROMATIC = frozenset({"black", "white", "grey"})

# WordNet kinds too abstract to be a search word ("entity" would reach every class).
ABSTRACT_KINDS = frozenset({
    "entity", "physical entity", "object", "physical object", "whole", "unit", "artifact",
    "artefact", "instrumentality", "instrumentation", "matter", "abstraction",
    "abstract entity", "organism", "being", "living thing", "part", "portion", "component",
    "constituent", "relation", "substance", "solid", "causal agent", "cause",
    "causal agency", "natural object", "thing", "implement", "device", "commodity"})

# Shown only at or above these: a picture word needs this share of the frames' softmax
# mass (pooled over its classes), a sound this YAMNet score.
SHOW_VISUAL = 0.3
SHOW_AUDIO = 0.3


@dataclass(frozen=True)
class Word:
    """A recognized thing in everyday words, with the labels it pools."""

    kind: str  # "visual" | "audio"
    word: str
    score: float
    labels: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Hierarchy:
    everyday: tuple[str, ...]  # per ImageNet class: its everyday word (or its own name)
    kinds: tuple[frozenset[str], ...]  # per class: its lemmas and every ancestor's, lowercase
    # Per class: its own lemmas and each ancestor's first one. An ancestor's other lemmas
    # are often another sense's everyday word: "wind instrument, wind", "big cat, cat".
    main_kinds: tuple[frozenset[str], ...]


def short_name(label: str) -> str:
    """ImageNet names list synonyms ("tabby, tabby cat"): the first reads best;
    'Motor vehicle (road)' -> 'Motor vehicle'."""
    return re.sub(r"\s*\(.*?\)", "", label.split(",")[0]).strip()


@cache
def _class_lines() -> tuple[str, ...]:
    """Per ImageNet class, its own names, a tab, and its line of
    resources/imagenet_hypernyms.tsv (WordNet ancestors), lowercase."""
    names = imagenet_labels()
    path = config.resources_dir() / "imagenet_hypernyms.tsv"
    lines = path.read_text(encoding="utf-8").lower().splitlines()
    if len(lines) != len(names):
        raise RuntimeError(f"{path.name} has {len(lines)} classes, the labels {len(names)}")
    out = [""] * len(names)
    for line in lines:
        index = int(line.split("\t", 1)[0])
        out[index] = names[index].lower() + "\t" + line
    return tuple(out)


def _class_kinds(line: str) -> tuple[list[list[str]], frozenset[str], frozenset[str]]:
    """One line of ``_class_lines``: its synsets (own names first, then each ancestor's
    lemmas), what it is a kind of, and its main kinds (see Hierarchy)."""
    own, _index, _wnid, _lexfile, *rest = line.split("\t")
    chain = [[w.strip() for w in synset.split(",")]
             for synset in (rest[0].split("|") if rest and rest[0] else [])]
    synsets = [[w.strip() for w in own.split(",")], *chain]
    is_a = frozenset(w for synset in synsets for w in synset if w not in ABSTRACT_KINDS)
    main = frozenset(w for w in [*synsets[0], *(synset[0] for synset in chain if synset)]
                     if w not in ABSTRACT_KINDS)
    return synsets, is_a, main


@cache
def hierarchy() -> Hierarchy:
    names = imagenet_labels()
    everyday, kinds, main_kinds = [], [], []
    for index, line in enumerate(_class_lines()):
        synsets, is_a, main = _class_kinds(line)
        # Only a word the class really is a kind of: a sea lion is no lion.
        word = next((w for w in (_everyday_word(s) for s in synsets) if w in is_a), None)
        everyday.append(word or short_name(names[index]))
        kinds.append(is_a)
        main_kinds.append(main)
    return Hierarchy(tuple(everyday), tuple(kinds), tuple(main_kinds))


def _classes_of(word: str, main_only: bool) -> np.ndarray:
    """Indices of the classes that are a kind of ``word`` (or are it). Only the lines
    that hold the word are parsed: a search asks this of one or two words, and the
    whole hierarchy takes longer to build than the search over 100,000 clips."""
    found = []
    for index, line in enumerate(_class_lines()):
        if word in line:
            _, is_a, main = _class_kinds(line)
            if word in (main if main_only else is_a):
                found.append(index)
    return np.array(found, np.int64)


def _everyday_word(lemmas: list[str]) -> str | None:
    """The everyday word a synset stands for: its name, else its name's head noun ("toy
    dog" is a dog, not a toy). Its other lemmas are other senses too often ("movie
    house", "attire, dress")."""
    if not lemmas:
        return None
    for w in (lemmas[0], lemmas[0].split()[-1]):
        if w in EVERYDAY:
            return w
    return None


def _table(name: str) -> list[list[str]]:
    """The rows of a tab-separated table in resources/, without blank and # lines."""
    with open(config.resources_dir() / name, encoding="utf-8", newline="") as f:
        return [row for row in csv.reader(f, delimiter="\t") if row and not row[0].startswith("#")]


@cache
def caution() -> dict[tuple[str, str], float]:
    """(kind, label) -> the score it must reach to be shown (resources/label_caution.tsv)."""
    return {(row[0], row[1]): float(row[2]) for row in _table("label_caution.tsv")}


@cache
def scene_words() -> dict[str, dict[str, np.ndarray]]:
    """Word (or two-word phrase) for a place or occasion -> {"visual"|"audio": class
    indices} (resources/scene_words.tsv); an unknown label name is an error."""
    index = {"visual": {n: i for i, n in enumerate(imagenet_labels())},
             "audio": {n: i for i, n in enumerate(audioset_labels())}}
    found: dict[str, dict[str, set[int]]] = {}
    for words, kind, labels in _table("scene_words.tsv"):
        classes = {index[kind][name] for name in labels.split("|")}
        for word in words.split(","):
            found.setdefault(word.strip(), {}).setdefault(kind, set()).update(classes)
    return {w: {k: np.array(sorted(c), np.int64) for k, c in kinds.items()}
            for w, kinds in found.items()}


def scenes_in(text: str) -> list[dict[str, np.ndarray]]:
    """The classes of each place or occasion ``text`` names ("city", "living room",
    "beaches"), two-word phrases first."""
    words = [singular(w) for w in re.findall(r"[a-z]+", text.lower())]
    table, out, i = scene_words(), [], 0
    while i < len(words):
        pair = " ".join(words[i:i + 2])
        if i + 1 < len(words) and pair in table:
            out.append(table[pair])
            i += 2
            continue
        if words[i] in table:
            out.append(table[words[i]])
        i += 1
    return out


def describe(visual_probs: np.ndarray | None, audio_scores: np.ndarray | None,
             limit: int = 6) -> list[Word]:
    """The confident everyday words for a clip or moment, strongest first.

    ``visual_probs``: [1000] ImageNet probabilities (a mean over frames); ``audio_scores``:
    [521] AudioSet scores (a mean over patches)."""
    words: list[Word] = []
    if visual_probs is not None and len(visual_probs):
        words += _pooled_visual(np.asarray(visual_probs, np.float64))
    if audio_scores is not None and len(audio_scores):
        words += _confident_audio(np.asarray(audio_scores, np.float64))
    words.sort(key=lambda w: -w.score)
    return words[:limit]


def _pooled_visual(probs: np.ndarray) -> list[Word]:
    h, names, need = hierarchy(), imagenet_labels(), caution()
    pooled: dict[str, float] = {}
    members: dict[str, list[tuple[float, str]]] = {}
    for i in np.flatnonzero(probs >= 0.01):
        # A cautious class never lends its mass to a word unless it is sure on its own.
        if probs[i] < need.get(("visual", names[i]), 0.0):
            continue
        w = h.everyday[i]
        pooled[w] = pooled.get(w, 0.0) + float(probs[i])
        members.setdefault(w, []).append((float(probs[i]), short_name(names[i])))
    out = []
    for w, score in pooled.items():
        if score >= SHOW_VISUAL:
            labels = tuple(n for _, n in sorted(members[w], reverse=True)[:3])
            out.append(Word("visual", w, score, labels))
    return out


def _confident_audio(scores: np.ndarray) -> list[Word]:
    names, need = audioset_labels(), caution()
    out = []
    for i in np.flatnonzero(scores >= SHOW_AUDIO):
        if scores[i] >= need.get(("audio", names[i]), SHOW_AUDIO):
            out.append(Word("audio", short_name(names[i]), float(scores[i]), (names[i],)))
    return out


def clip_words(clip: dict | None, limit: int = 6) -> list[dict]:
    """The confident everyday words of a stored clip (``Library.clip``), as plain dicts
    for JSON and the app: word, kind ("visual"/"audio"), score, the labels pooled."""
    if not clip:
        return []
    return [{"word": w.word, "kind": w.kind, "score": round(w.score, 3), "labels": list(w.labels)}
            for w in describe(clip.get("visual_probs"), clip.get("audio_scores"), limit)]


def is_shown(kind: str, label: str, score: float) -> bool:
    """Whether one label is confident enough to show or title with."""
    floor = SHOW_VISUAL if kind == "visual" else SHOW_AUDIO
    return score >= max(floor, caution().get((kind, label), 0.0))


# Plurals no suffix rule folds: kept to the words people name things with.
_IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child",
              "mice": "mouse", "geese": "goose", "teeth": "tooth", "feet": "foot",
              "knives": "knife", "leaves": "leaf", "wolves": "wolf", "shelves": "shelf",
              "wives": "wife", "lives": "life", "halves": "half", "calves": "calf",
              "loaves": "loaf", "scarves": "scarf", "thieves": "thief", "buses": "bus",
              "busses": "bus", "gases": "gas", "lenses": "lens", "potatoes": "potato",
              "tomatoes": "tomato", "heroes": "hero", "echoes": "echo", "volcanoes": "volcano",
              "oxen": "ox", "dice": "die"}


def singular(word: str) -> str:
    """Plain English plural forms to the singular ("boxes" -> "box", "houses" -> "house",
    "cities" -> "city"); a word that is no plural comes back as it is ("glass", "bus").
    The one plural fold for query words, names and labels alike."""
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith(("ches", "shes", "sses", "xes", "zes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def kinds_of(word: str) -> np.ndarray:
    """ImageNet classes a query word for a kind reaches, through WordNet: "dogs" -> the
    dog breeds, "fruit" -> banana, orange, ...; empty for words that name no kind."""
    w = word.lower().strip()
    if not w or w in ABSTRACT_KINDS:
        return np.zeros(0, np.int64)
    # A word that is itself the name of a sound or a class ("wind", "engine") means that,
    # not a kind it is only a second name of ("wind instrument, wind"; "locomotive, engine").
    main_only = bool(label_names() & {w, singular(w)})
    found = _classes_of(w, main_only)
    if not len(found) and singular(w) != w:
        found = _classes_of(singular(w), main_only)
    return found


@cache
def label_names() -> frozenset[str]:
    """Every ImageNet and AudioSet label's short name, lowercase ("wind", "engine")."""
    return frozenset(short_name(n).lower() for n in (*imagenet_labels(), *audioset_labels()))
