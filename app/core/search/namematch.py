"""Query words against file names, folder names and album titles.

Names are split the way people write them: ``BeachDay_2023-07`` gives "beach",
"day", "2023", "07". Words are compared after folding case, accents and plurals; a
longer query word that starts a run-together name ("beach" in "beachday") counts half;
inside a word it does not ("tree" is no match for "street").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from app.core.vocabulary import singular

# Words that say nothing about which clip is meant, in a query or in a name.
STOPWORDS = frozenset(
    "a an the of in on at with and or from to for by my our your some this that these "
    "those is are was were video videos clip clips movie movies footage film recording".split())
PART_CREDIT = 0.5
MIN_PART_LEN = 4

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_WORD = re.compile(r"[^\W_]+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    """Stemmed, case- and accent-folded words of a name or query, without stopwords."""
    out = []
    for token in _WORD.findall(_CAMEL.sub(" ", text)):
        token = _fold(token)
        if token and token not in STOPWORDS:
            out.append(singular(token))
    return out


@dataclass
class NameMatch:
    score: float  # share of the query's words found, 0..1
    matched: list[str]  # "name: box", "folder: holidays", "album: Rome"


def match(query_words: list[str], sources: list[tuple[str, str]]) -> NameMatch:
    """How well ``query_words`` are covered by ``sources``: (kind, text) pairs such as
    ("name", "box_1") or ("album", "Summer in Rome"). Each query word takes its best
    credit from any source."""
    if not query_words:
        return NameMatch(0.0, [])
    source_words = [(kind, text, set(words(text))) for kind, text in sources]
    total, matched = 0.0, []
    for word in dict.fromkeys(query_words):
        best, where = 0.0, None
        for kind, text, found in source_words:
            if word in found:
                credit = 1.0
            elif len(word) >= MIN_PART_LEN and any(w.startswith(word) for w in found):
                credit = PART_CREDIT
            else:
                continue
            if credit > best:
                best, where = credit, f"{kind}: {text}"
        if where:
            total += best
            if where not in matched:
                matched.append(where)
    return NameMatch(total / len(set(query_words)), matched)
