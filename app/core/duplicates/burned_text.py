"""Burned-in text: words on screen that one copy of a clip carries and another lacks.

Subtitles, a logo, a channel's handle or a player's title bar and controls are drawn
into a copy's picture for good; a person keeps the copy without them. The index reads
words on sparse frames (``app.core.indexing.analysis``, stored per moment). Words in
the scene itself (a street sign, a printed shirt) show in every copy at the same
moment, so what counts is words one copy shows where the other was looked at and shows
nothing like them, and only when that other shows none the first lacks (two copies
with different text are neither of them clean).

An unreadable copy proves nothing: words the other shows legibly may be lost in it.
So only a copy with about as many pixels and not far fewer bits (``could_show``) can
vouch that words were absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher

# Seconds between a moment of one copy and the analysed frame of the other it is
# compared with: frames are analysed every few seconds, at about the same times in
# copies of one length; a subtitle stays on screen for a couple of seconds.
NEAR_SECONDS = 1.0
# A line counts with at least this many letters or digits (the reader's own floor,
# analysis.MIN_LINE_CHARS: single glyphs read off textures are mostly misreadings).
MIN_CHARS = 2
# The same words read in two encodings differ in a letter or two ("Qmusie51" and
# "Omusies1"): a line is the other's when this share of its characters is found, in
# order, in what the other shows at that moment.
SAME_LINE = 0.6
# A copy with far fewer bits at about the same size is blurred or blocky: the words the
# other shows legibly may be lost in it (a blurred copy of the corpus at 51 kb/s beside
# its original at 422 kb/s, subtitled and logo copies at 0.8-0.9 of the original's).
MIN_BITRATE_SHARE = 0.25
SAME_PIXELS = 0.05  # pixel counts within this (relative) are about the same size


@dataclass
class Words:
    """What a file shows in words: when it was looked at, and the lines read."""

    looked: list[tuple[float, float]]  # (t, until) of analysed frames whose words were looked for
    lines: dict[float, list[str]]  # frame time -> lines read there


def from_rows(row: Mapping) -> Words | None:
    """A file's words from ``app.store.analysis.screen_text``; None when its words were
    never looked for (no text reader at indexing)."""
    if not row["reader_ran"] or not row["frames"]:
        return None
    # The first analysed frame of every file gets a look by the text detector even when
    # the cheap test sees no text (analysis._probe_finds_text), and is read when it
    # finds some: not read there means no words were found.
    looked = [(t, until) for i, (t, until, read) in enumerate(row["frames"]) if read or i == 0]
    return Words(looked, {float(t): list(v) for t, v in row["lines"].items()})


def lines_lacking(x: Words, y: Words, to_y: Callable[[float], float | None]) -> list[str]:
    """Lines ``x`` shows at moments when ``y`` was looked at and showed nothing like
    them; ``to_y`` maps a time of x to y's (None: that moment is not in y)."""
    out = []
    for t, lines in sorted(x.lines.items()):
        ty = to_y(t)
        if ty is None:
            continue
        near = [s for s in y.looked if s[0] - NEAR_SECONDS <= ty <= s[1] + NEAR_SECONDS]
        if not near:
            continue  # y was not looked at then: it says nothing
        other = _letters(" ".join(line for s in near for line in y.lines.get(s[0], [])))
        for line in lines:
            key = _letters(line)
            if len(key) >= MIN_CHARS and _share_found(key, other) < SAME_LINE:
                out.append(line)
    return out


def could_show(x: Mapping, y: Mapping) -> bool:
    """Whether file row ``y`` would show legibly what ``x`` shows: about as many pixels
    or more, and not far fewer bits."""
    px, py = (x["width"] or 0) * (x["height"] or 0), (y["width"] or 0) * (y["height"] or 0)
    return py >= (1 - SAME_PIXELS) * px and (y["bitrate"] or 0) >= MIN_BITRATE_SHARE * (x["bitrate"] or 0)


def carriers(pairs: Iterable[tuple[int, int]], words: Mapping[int, Words],
             rows: Mapping[int, Mapping], to_other: Callable[[int, int], Callable]
             ) -> dict[int, str]:
    """Files that carry burned-in text beside another of these pairs (file ids): words
    the other could show but lacks, while it shows none they lack. File -> a line of
    those words (for the reason a person reads). ``to_other(x, y)`` maps x's times to y's."""
    out: dict[int, str] = {}
    for x, y in pairs:
        if x not in words or y not in words:
            continue
        x_more = lines_lacking(words[x], words[y], to_other(x, y))
        y_more = lines_lacking(words[y], words[x], to_other(y, x))
        if x_more and not y_more and could_show(rows[x], rows[y]):
            out.setdefault(x, x_more[0])
        elif y_more and not x_more and could_show(rows[y], rows[x]):
            out.setdefault(y, y_more[0])
    return out


def _letters(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def _share_found(key: str, other: str) -> float:
    if not other:
        return 0.0
    blocks = SequenceMatcher(None, key, other, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks) / len(key)
