"""Places inside a search query: "paris 2024", "tokyo night", "beach japan",
"grandma's house".

``extract`` looks for the longest run of query words (up to ``MAX_WORDS``) that names a
place the library's clips were shot at: one of the user's named spots, a city or town
(by any of its names: "munchen", "tokio", "nyc"), a first-level region ("bavaria") or a
country ("japan", "uk"). The test is the library, not the word: many common words are
also place names ("nice", "orange", "reading", "mobile"), so a word only becomes a place
when clips were shot at such a place; "orange" on a library with no clip in Orange stays
a word for labels and names.

A place word that is also a strong label word (the text encoder puts "orange" at 1.0 of
ImageNet's "orange") stays ambiguous even then: it is a *soft* place, which adds the
clips shot there to what the labels find instead of keeping only those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from app.core.library.places import ClipPlace, any_located, clip_places, geocoder, spots
from app.core.places import Place, distance_km, fold
from app.core.search import namematch

MAX_WORDS = 4
# A phrase whose best label similarity reaches this is a label word as well as a place
# (measured: "orange" 1.0, "turkey" 1.0, "bath" 0.82; "paris" 0.52, "tokyo" 0.48,
# "japan" 0.66, "nice" 0.40, "reading" 0.64).
LABEL_WORD_SIMILARITY = 0.75


@dataclass
class PlaceQuery:
    text: str  # the words as typed
    at: np.ndarray  # [n] bool: files (search rows) shot at the place
    names: dict[int, str]  # row -> what the file's place is called ("Paris")
    soft: bool  # also a label word: boosts, does not filter


def _phrases(text: str) -> list[tuple[int, int, str]]:
    """(start, end, phrase) of runs of words, longest first, then left to right."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    out = []
    for size in range(min(MAX_WORDS, len(spans)), 0, -1):
        for i in range(len(spans) - size + 1):
            start, end = spans[i][0], spans[i + size - 1][1]
            out.append((start, end, text[start:end]))
    return out


def _names_spot(key: str, wanted: list[str], spot) -> bool:
    spot_words = set(namematch.words(spot.name)) | set(namematch.words(fold(spot.name)))
    return key == fold(spot.name) or (set(wanted) <= spot_words and (
        len(wanted) > 1 or len(wanted[0]) >= namematch.MIN_PART_LEN))


def _may_name_a_place(phrase: str, spots, geo) -> bool:
    """Whether ``_matches`` can find anything for ``phrase`` on any library: it names one
    of the spots, or the geocoder knows it (a place's own name is always one of its
    keys, so a place whose name is the phrase is among ``find``'s answers). Asks neither
    the library nor its clips."""
    key = fold(phrase)
    wanted = namematch.words(phrase)
    if not key or key.isdigit() or not wanted:
        return False
    if any(_names_spot(key, wanted, spot) for spot in spots):
        return True
    return geo is not None and bool(geo.find(phrase, limit=1) or geo.areas(phrase))


def _by_place(places: list[ClipPlace]) -> dict[Place, list[ClipPlace]]:
    """The clips of each place: many clips share one, which is then judged once."""
    out: dict[Place, list[ClipPlace]] = {}
    for cp in places:
        if cp.place is not None:
            out.setdefault(cp.place, []).append(cp)
    return out


def _matches(phrase: str, places: list[ClipPlace], spots, geo,
             by_place: dict[Place, list[ClipPlace]] | None = None
             ) -> list[tuple[ClipPlace, str]]:
    """The clips at the place ``phrase`` names, each with what to call it: the spot's name
    when the phrase names a spot, else the city's. ``by_place``: ``_by_place(places)``,
    made once for many phrases."""
    key = fold(phrase)
    wanted = namematch.words(phrase)
    if not key or key.isdigit() or not wanted:
        return []
    found = []
    for spot in spots:
        # Every clip within the spot's radius, also those a nearer spot names.
        if _names_spot(key, wanted, spot):
            taken = {cp.file_id for cp, _ in found}
            found += [(cp, spot.name) for cp in places if cp.file_id not in taken and
                      distance_km(cp.lat, cp.lon, spot.lat, spot.lon) * 1000 <= spot.radius_m]
    by_place = _by_place(places) if by_place is None else by_place
    if geo is None or not by_place:
        return found
    ids = {p.geoname_id for p in geo.find(phrase, limit=1000)}
    areas = geo.areas(phrase)
    taken = {cp.file_id for cp, _ in found}
    for p, clips in by_place.items():
        if p.geoname_id in ids or fold(p.name) == key or any(
                a.country_code == p.country_code
                and (a.kind == "country" or fold(a.region) == fold(p.region)) for a in areas):
            found += [(cp, p.name) for cp in clips if cp.file_id not in taken]
    return found


def extract(lib, file_ids: np.ndarray, text: str, label_similarity=None
            ) -> tuple[PlaceQuery | None, str]:
    """The longest phrase of ``text`` naming a place where some of ``file_ids`` (the
    search rows) were shot, and the text without it (a soft place stays in the text).

    ``label_similarity(phrase)``: the best label similarity of a phrase (the text
    encoder's), or None to treat no place word as a label word."""
    if not text.strip():
        return None, text
    # Most queries name no place. Asked of the spots' names and the geocoder first, they
    # never read the clips' places: at 8,000 located clips of 10,000 that read cost every
    # search 0.5 s of CPU, and it grows with the library.
    if not any_located(lib):
        return None, text
    named = spots(lib)
    geo = geocoder()
    if not any(_may_name_a_place(phrase, named, geo) for _, _, phrase in _phrases(text)):
        return None, text
    by_file = clip_places(lib)
    if not by_file:
        return None, text
    rows = np.searchsorted(file_ids, np.array(sorted(by_file), np.int64))
    rows = np.clip(rows, 0, max(len(file_ids) - 1, 0))
    located = [(int(r), by_file[int(f)]) for r, f in zip(rows, sorted(by_file), strict=True)
               if len(file_ids) and file_ids[r] == f]
    if not located:
        return None, text
    places = [cp for _, cp in located]
    row_of = {cp.file_id: r for r, cp in located}
    by_place = _by_place(places)
    for start, end, phrase in _phrases(text):
        found = _matches(phrase, places, named, geo, by_place)
        if not found:
            continue
        at = np.zeros(len(file_ids), bool)
        names = {}
        for cp, name in found:
            at[row_of[cp.file_id]] = True
            names[row_of[cp.file_id]] = name
        soft = label_similarity is not None and label_similarity(phrase) >= LABEL_WORD_SIMILARITY
        rest = text if soft else re.sub(r"\s+", " ", text[:start] + " " + text[end:]).strip()
        return PlaceQuery(phrase, at, names, soft), rest
    return None, text
