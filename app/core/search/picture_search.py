"""The parts of a query that ask what is in the picture: things with counts, sizes and
colours ("3 people", "a dog close up", "black cup"), colours and light of the picture
("yellow", "night"), and words on screen ("TAXI", "text on screen").

Each part scores every file from its analysed frames (app.store.picture_search): how
well its best frame meets the part (1.0 = fully), and when that frame is, so the player
can open there. ``text_search`` adds these scores to the label and name evidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from app.core.search.query import ObjectWant, ParsedQuery
from app.core.vocabulary import ACHROMATIC
from app.store import picture_search as store
from app.store.library import Library

# "a dog close up": the largest one fills at least this share of the frame; "in the
# distance": at most this one.
LARGE_SHARE = 0.15
SMALL_SHARE = 0.02
# A colour names the picture when it covers at least this share of the frame; a true
# colour (not grey, white or black) stands out at a smaller share (a yellow box).
COLOUR_SHARE = 0.15
CHROMATIC_COLOUR_SHARE = 0.05
# Words on screen: fuzzy matches allow one edit in words of this length or more (OCR
# drops or swaps a letter: "C0FFEE").
FUZZY_MIN_LEN = 4
# The recognizer drops the spaces of small or tightly set text: a subtitle "I told you
# we should have" comes back as one token "itoldyouweshouldhave". A query word of
# FUZZY_MIN_LEN letters or more inside a token at least GLUED_EXTRA letters longer
# is found there, worth less than a word read on its own.
GLUED_EXTRA = 3
GLUED_MATCH = 0.6


@dataclass
class PartScore:
    """One part's answer: per file, how well (0..1), when, and how to say it."""

    kind: str
    said: str
    files: dict[int, tuple[float, float, str]] = field(default_factory=dict)  # id -> (score, t, why)

    def offer(self, file_id: int, score: float, t: float, why: str) -> None:
        if score > self.files.get(file_id, (0.0,))[0]:
            self.files[file_id] = (score, t, why)


def score_parts(lib: Library, q: ParsedQuery) -> list[PartScore]:
    """One ``PartScore`` per picture part of the query (none when it has no such part)."""
    parts = [_objects(lib, want) for want in q.objects]
    parts += [_colour(lib, c) for c in q.colours]
    if q.light:
        parts.append(_light(lib, q.light))
    if q.screen_text:
        parts += _screen_words(lib, q.screen_text)
    elif q.any_screen_text:
        parts.append(_any_screen_text(lib))
    return parts


def _objects(lib: Library, want: ObjectWant) -> PartScore:
    part = PartScore("object", want.said or want.describe())
    for f in store.object_frames(lib, want.label, want.colour):
        if want.size == "large" and f["largest"] < LARGE_SHARE:
            continue
        if want.size == "small" and f["largest"] > SMALL_SHARE:
            continue
        # Fewer than asked is a partial answer: 2 people for "3 people" beats none.
        score = min(1.0, f["count"] / want.min_count) * (0.5 + 0.5 * f["score"])
        noun = want.label if f["count"] == 1 else _plural(want.label)
        colour = f"{want.colour} " if want.colour else ""
        part.offer(f["file_id"], score, f["t"], f"{f['count']} {colour}{noun}")
    return part


def _colour(lib: Library, colour: str) -> PartScore:
    part = PartScore("colour", colour)
    need = COLOUR_SHARE if colour in ACHROMATIC else CHROMATIC_COLOUR_SHARE
    for file_id, t, share in store.colour_frames(lib, colour):
        if share >= need:
            part.offer(file_id, min(1.0, 0.5 + share), t, colour)
    return part


def _light(lib: Library, light: str) -> PartScore:
    part = PartScore("light", light)
    for file_id, t in store.light_frames(lib, light):
        part.offer(file_id, 1.0, t, light)
    return part


def _screen_words(lib: Library, wanted: list[str]) -> list[PartScore]:
    frames = store.text_frames(lib)
    parts = []
    for phrase in wanted:
        words = [w for w in _tokens(phrase) if w]
        part = PartScore("text", phrase)
        for file_id, t, tokens, lines in frames:
            have = tokens.split()
            hits = [_word_match(w, have) for w in words]
            if words and all(h > 0 for h in hits):
                score = sum(hits) / len(words)
                shown = _line_with(json.loads(lines), words) or phrase
                part.offer(file_id, score, t, f"text: {shown}")
        parts.append(part)
    return parts


def _any_screen_text(lib: Library) -> PartScore:
    part = PartScore("text", "text on screen")
    for file_id, t, _tokens, lines in store.text_frames(lib):
        read = json.loads(lines)
        part.offer(file_id, min(1.0, 0.5 + 0.1 * len(read)), t,
                   f"text: {read[0]}" if read else "text on screen")
    return part


def _tokens(text: str) -> list[str]:
    from app.inference.ocr import normalize_words
    return normalize_words([text])


def _word_match(word: str, have: list[str]) -> float:
    """1.0 for the word itself among the frame's tokens, 0.8 for one edit away, 0.6 for
    the word inside a run of words read without spaces (both for long enough words
    only), 0 otherwise."""
    if word in have:
        return 1.0
    if len(word) < FUZZY_MIN_LEN:
        return 0.0
    if any(_one_edit(word, h) for h in have):
        return 0.8
    if any(len(h) >= len(word) + GLUED_EXTRA and word in h for h in have):
        return GLUED_MATCH
    return 0.0


def _one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return a == b
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _line_with(lines: list[str], words: list[str]) -> str | None:
    for line in lines:
        if any(w in line.lower() for w in words):
            return line
    return None


def _plural(label: str) -> str:
    return "people" if label == "person" else label + ("es" if label.endswith(("s", "sh", "ch")) else "s")
