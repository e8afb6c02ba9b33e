"""Search by words: query words activate ImageNet and AudioSet labels through the text
encoder (``labelquery``) and also match file, folder and album names (``namematch``); a
date in the query ("march 2024") keeps the clips shot then (``datequery``), a place
("paris", "japan", "grandma's house") the clips shot there (``placequery``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from app.core import vocabulary
from app.core.search import datequery, namematch, peoplequery, picture_search, placequery
from app.core.search import query as query_parser
from app.core.search.results import Result
from app.core.search.search_index import name_sources, search_index
from app.core.vectors import weighted_row_sum
from app.store import search as store
from app.store.library import Library

# A query word in a file, folder or album name outweighs any label evidence (at most
# ~1): names are chosen by people, labels are guesses of a classifier.
NAME_WEIGHT = 1.0
# Label evidence below this is noise (a share of picture or sound no one would notice).
MIN_EVIDENCE = 0.005
# A name of a person in the query keeps only the clips showing them; among those,
# the rest of the query ranks as usual.
PERSON_WEIGHT = 1.0
PERSON_LEAD, PERSON_SPAN = 1.0, 5.0  # seconds before and after a person is first seen
# Label evidence a person would accept on its own: what the app is sure enough of to
# show as a clip's word. Weaker evidence still ranks (a cup the classifier calls a
# "coffee mug" at 1% is still the closest answer to "coffee mug"). But when the object
# detector looked for the thing and saw it in no clip, a list made only of weaker
# evidence is said to be "no sure match" (Results.weak): a tree's ten dog breeds at 1%
# each are "dog" at 0.1, the closest a library without dogs has, and no dog. So is one
# resting on labels the words only come near ("sunset": sunglass, solar dish). (Evidence
# alone does not tell: the street clips that answer "city" rightly score 0.07, scene
# words spreading over many labels.)
SURE_EVIDENCE = vocabulary.SHOW_VISUAL
# Results weaker than this share of the best one are left out.
MIN_SHARE = 0.02
# A part about the picture ("3 people", "yellow", "TAXI") met in full weighs this much,
# about what a query's labels explaining half the picture do; meeting every part of the
# query adds the bonus, so "black cup" puts black cups above cups and black things.
PICTURE_WEIGHT = 0.5
ALL_PARTS_BONUS = 0.5
# The words' labels count as a part to meet once some file's evidence reaches
# LABEL_PART_MIN; a file meets it with LABEL_PART_SHARE of the best file's evidence.
LABEL_PART_MIN = 0.05
# A picture part met by every clip still counts this much (see _rarity).
MIN_RARITY = 0.2
LABEL_PART_SHARE = 0.3
# A clip shot at the place a query names counts like a name match.
PLACE_WEIGHT = 1.0


def search_text(lib: Library, query: str, limit: int = 20, text_model=None,
                matcher=None) -> list[Result]:
    """Files matching ``query`` by labels, names and date, each with its best moment.

    Every present file is scored, in numpy over the cached ``search_index``; only the
    files returned get their explanation ("why") built."""
    when, words_text = datequery.extract(query)
    # Names of people the user named come out first: "anna beach" is Anna at a beach.
    said = namematch.words(words_text)
    people = peoplequery.extract(lib, said) if said else None
    if people is not None and people.names:
        words_text = " ".join(people.rest)
    else:
        people = None
    parsed = query_parser.parse(words_text if people is not None else query)
    if people is not None:
        parsed.date = None  # already taken from the query as a whole
    if when is None and not namematch.words(words_text) and parsed.empty and people is None:
        return Results()
    tx = search_index(lib)
    n = len(tx.file_ids)
    if n == 0:
        return Results()
    albums = store.album_titles(lib)
    matcher_of = _lazy_matcher(matcher, text_model)
    where, words_text = placequery.extract(
        lib, tx.file_ids, words_text,
        lambda phrase: max(float(s.max()) for s in matcher_of().similarities(phrase).values()))
    query_words = namematch.words(words_text)
    # Quoted words are words on screen, not things to recognize ("ZEBRA CROSSING").
    label_text = query_parser.label_text(re.sub(r'"[^"]*"|“[^”]*”', " ", words_text), parsed)
    label_words = namematch.words(label_text)
    labels = _label_matches(tx, label_text, label_words, matcher_of) if label_words else None
    names = _name_scores(tx, query_words, albums)
    evidence = labels.evidence if labels else np.zeros(n, np.float32)
    if (parsed.activity_words and not parsed.objects and people is None
            and (labels is None or float(labels.evidence.max(initial=0.0)) < LABEL_PART_MIN)):
        # "walking": the labels know no walking; the person detector knows who could be.
        parsed.objects.append(query_parser.ObjectWant("person", said=parsed.activity_words[0]))
    picture = _picture(lib, tx, parsed)
    keep = np.ones(n, bool)
    if when is not None:
        y, m, d = tx.days[:, 0], tx.days[:, 1], tx.days[:, 2]
        keep = (y > 0) & ((when.year is None) | (y == (when.year or 0))) \
            & ((when.month is None) | (m == (when.month or 0))) \
            & ((when.day is None) | (d == (when.day or 0)))
    nothing = (evidence < MIN_EVIDENCE) & (names == 0) & (picture.score == 0)
    at_place = np.zeros(n, bool)
    if where is not None:
        at_place = where.at
        if not where.soft:
            # Files named after the place (a folder "Paris 2019" of clips without GPS)
            # are found too, as its words would have found them.
            named = _name_scores(tx, namematch.words(where.text), albums)
            keep &= at_place | (named > 0)
            names = names + named
        else:
            keep &= at_place | ~nothing
    elif when is None:
        keep &= ~nothing
    person_mask = _people_mask(tx, people)
    keep &= person_mask
    if people is not None and not namematch.words(words_text) and when is None:
        keep |= person_mask  # a name alone: every clip showing them
    score = evidence.astype(np.float64) + NAME_WEIGHT * names + (1.0 if when is not None else 0.0) \
        + PLACE_WEIGHT * at_place + picture.score + PERSON_WEIGHT * person_mask * (people is not None)
    # Meeting every part ranks first: the picture's parts and, when the query's words
    # mean something to the labels ("people talking": speech), those words too.
    score += ALL_PARTS_BONUS * (picture.all_met & _labels_met(evidence))
    rows = np.flatnonzero(keep)
    unmatched = [f"{said} ({kind})" for kind, said in picture.unmatched]
    if not len(rows):
        return Results(unmatched=unmatched)
    best = float(score[rows].max())
    rows = rows[score[rows] >= MIN_SHARE * best]
    # Equal scores (a date alone) read best in time order, then by path.
    rounded = -np.round(score[rows], 6)
    if len(rows) > limit:
        cut = np.partition(rounded, limit - 1)[limit - 1]
        rows = rows[rounded <= cut]
        rounded = -np.round(score[rows], 6)
    order = np.lexsort((tx.path_rank[rows], tx.day_order[rows], rounded))
    out = Results(unmatched=unmatched)
    shown = rows[order][:limit]
    # Only the classifier's weak guesses are left, and either the detector saw the
    # thing nowhere or the words name no label (only come near some): say so rather
    # than pass them off as answers.
    out.weak = bool(len(shown)) and when is None and where is None and people is None \
        and not (names[shown] > 0).any() and not (picture.score[shown] > 0).any() \
        and float(evidence[shown].max()) < SURE_EVIDENCE \
        and (any(kind == "object" for kind, _ in picture.unmatched)
             or (labels is not None and not labels.query.named))
    for row in shown:
        row = int(row)
        path, file_id = tx.paths[row], int(tx.file_ids[row])
        by_labels = labels is not None and evidence[row] >= MIN_EVIDENCE
        moment = labels.moment(tx, row) if by_labels else None
        if picture.score[row] > evidence[row]:  # the picture parts carry it: their moment
            moment = _moment_at(tx, row, picture.time[row]) or moment
        if moment is None and people is not None:
            moment = _person_moment(people.files.get(file_id), float(tx.durations[row]))
        start, end = moment or (0.0, float(tx.durations[row]))
        why = picture.why.get(row, []) + (labels.why(lib, tx, row) if by_labels else [])
        sources = name_sources(path, tx.roots[row])
        why += namematch.match(query_words, sources + [("album", t) for t in albums.get(
            file_id, [])]).matched
        if people is not None:
            why += [f"person: {name}" for name in people.names]
        if when is not None:
            why.append(f"date: {datequery.describe(tx.day(row))}")
        if at_place[row]:
            why.append(f"place: {where.names[row]}")
        out.append(Result(path, file_id, start, end, float(score[row]), why))
    return out


class Results(list):
    """Search results, best first; ``unmatched`` names the query parts (what the user
    typed, and its kind) that no clip matched, so "no results" can say why."""

    def __init__(self, items=(), unmatched: list[str] | None = None):
        super().__init__(items)
        self.unmatched = unmatched or []
        # True when every result rests on label evidence below SURE_EVIDENCE: the
        # closest clips, not clips that show what was asked.
        self.weak = False



@dataclass
class _Picture:
    score: np.ndarray  # [n] weighted sum of the picture parts' scores
    time: np.ndarray  # [n] when the strongest part is best met
    why: dict[int, list[str]]  # row -> what matched
    unmatched: list[tuple[str, str]]  # (kind, said) of parts no file met
    all_met: np.ndarray = None  # [n] every picture part met


def _picture(lib: Library, tx, parsed: query_parser.ParsedQuery) -> _Picture:
    """Scores of the parts of the query about what is in the picture (things, colours,
    light, words on screen): each part adds up to PICTURE_WEIGHT, and a file that meets
    every part gets ALL_PARTS_BONUS on top, so it ranks above files that meet some."""
    n = len(tx.file_ids)
    out = _Picture(np.zeros(n), np.zeros(n), {}, [], np.zeros(n, bool))
    parts = picture_search.score_parts(lib, parsed)
    if not parts:
        return out
    met = np.zeros(n, np.int32)
    strongest = np.zeros(n)
    for part in parts:
        if not part.files:
            out.unmatched.append((part.kind, part.said))
            continue
        ids = np.fromiter(part.files, np.int64, len(part.files))
        rows = np.searchsorted(tx.file_ids, ids)
        inside = rows < n
        weight = PICTURE_WEIGHT * _rarity(len(part.files), n)
        for file_id, row in zip(ids[inside], rows[inside], strict=True):
            if tx.file_ids[row] != file_id:
                continue
            value, t, said = part.files[int(file_id)]
            out.score[row] += weight * value
            met[row] += 1
            out.why.setdefault(int(row), []).append(said)
            if value > strongest[row]:
                strongest[row], out.time[row] = value, t
    out.all_met = met == len(parts)
    return out


def _people_mask(tx, people: peoplequery.PeopleQuery | None) -> np.ndarray:
    """[n] 1 where the file shows every person named in the query (all 1 without names)."""
    n = len(tx.file_ids)
    if people is None:
        return np.ones(n, bool)
    ids = np.fromiter(people.files, np.int64, len(people.files))
    return np.isin(tx.file_ids, ids)


def _person_moment(times: list[float] | None, duration: float) -> tuple[float, float] | None:
    """Where the named people are first seen: the player opens there."""
    if not times:
        return None
    start = max(0.0, times[0] - PERSON_LEAD)
    return start, min(duration, max(times[0] + PERSON_SPAN, start))


def _rarity(matched: int, files: int) -> float:
    """How much a part tells files apart, 0..1 (inverse document frequency): "people"
    met by most clips of a family library says less than "talking" heard in a few."""
    if files < 2 or matched <= 0:
        return 1.0
    return float(np.clip(np.log(files / matched) / np.log(files), MIN_RARITY, 1.0))


def _labels_met(evidence: np.ndarray) -> np.ndarray:
    """[n] whether the labels part of a query is met: files whose evidence is a fair
    share of the best file's (all files when the words mean little to the labels)."""
    top = float(evidence.max()) if len(evidence) else 0.0
    if top < LABEL_PART_MIN:
        return np.ones(len(evidence), bool)
    return evidence >= LABEL_PART_SHARE * top


def _moment_at(tx, row: int, t: float) -> tuple[float, float] | None:
    """The moment of a file that contains time ``t``."""
    lo, hi = int(tx.offsets[row]), int(tx.offsets[row + 1])
    if hi <= lo:
        return None
    k = lo + int(np.clip(np.searchsorted(tx.starts[lo:hi], t, side="right") - 1, 0, hi - lo - 1))
    if not tx.starts[k] <= t <= tx.ends[k]:  # past the last moment: the frame itself
        return float(t), float(t)
    return float(tx.starts[k]), float(tx.ends[k])


def _name_scores(tx, query_words: list[str], albums: dict[int, list[str]]) -> np.ndarray:
    """[n] share of the query's words found in each file's name, folders and (named)
    albums, with namematch's credits: the score ``namematch.match`` gives each file."""
    n = len(tx.file_ids)
    if not query_words:
        return np.zeros(n, np.float64)
    album_rows, album_words = [], []
    for file_id, titles in albums.items():
        row = int(np.searchsorted(tx.file_ids, file_id))
        if row < n and tx.file_ids[row] == file_id:
            album_rows.append(row)
            album_words.append({w for t in titles for w in namematch.words(t)})
    total = np.zeros(n, np.float64)
    unique = list(dict.fromkeys(query_words))
    for word in unique:
        credit = tx.names.credits(word, n)
        for row, found in zip(album_rows, album_words, strict=True):
            if word in found:
                credit[row] = 1.0
            elif len(word) >= namematch.MIN_PART_LEN and any(w.startswith(word) for w in found):
                credit[row] = max(credit[row], namematch.PART_CREDIT)
        total += credit
    return total / len(set(query_words))


@dataclass
class _LabelMatches:
    """Per file: label evidence for the query and the moment that carries it."""

    query: object  # LabelQuery
    names: dict  # kind -> label names
    evidence: np.ndarray  # [n] float32, 0 where the labels say nothing
    moment_row: np.ndarray  # [n] int64 moment carrying the evidence, -1: the whole clip

    def moment(self, tx, row: int) -> tuple[float, float] | None:
        k = int(self.moment_row[row])
        return None if k < 0 else (float(tx.starts[k]), float(tx.ends[k]))

    def why(self, lib: Library, tx, row: int) -> list[str]:
        lq, k = self.query, int(self.moment_row[row])
        if k >= 0:
            idx = k - int(tx.offsets[row])
            labels = store.moment_labels(lib, int(tx.file_ids[row]), idx)
            parts = [(kind, name, float(lq.weights(kind)[c] * s))
                     for kind in ("visual", "audio") for c, name, s in labels.get(kind, [])]
        else:  # the labels are spread over the clip: the whole clip is the match
            parts = [(kind, self.names[kind][c], float(w[c] * table[c, row]))
                     for kind, w, table in (("visual", lq.visual, tx.visual),
                                            ("audio", lq.audio, tx.audio))
                     for c in np.flatnonzero(w[:table.shape[0]])]
        return lq.explain(parts)


def _lazy_matcher(matcher, text_model):
    """A function returning the label matcher, loading the default one on first use."""
    loaded = [matcher]

    def get():
        if loaded[0] is None:
            from app.core.search.labelquery import default_matcher
            loaded[0] = default_matcher(text_model)
        return loaded[0]
    return get


def _label_matches(tx, text: str, query_words: list[str], matcher_of
                   ) -> _LabelMatches | None:
    """Evidence of each file from its labels: the better of the clip's label scores and
    its best moment's top labels, weighted by what the query's words activate."""
    if not query_words:
        return None
    matcher = matcher_of()
    lq = matcher.query(text)
    if lq.empty:
        return None
    n, m = len(tx.file_ids), len(tx.starts)
    clip_ev = np.zeros(n, np.float32)
    for w, table in ((lq.visual, tx.visual), (lq.audio, tx.audio)):
        cs = np.flatnonzero(w[:table.shape[0]])
        if len(cs):
            clip_ev += weighted_row_sum(table, cs, w[cs])
    # Moments listing the query's labels, with their weighted scores summed.
    found = [p.gather(w) for p, w in zip(tx.postings, (lq.visual, lq.audio), strict=True)]
    moments = np.concatenate([f[0] for f in found])
    seg_score = np.zeros(n, np.float32)
    best_moment = np.full(n, -1, np.int64)
    if len(moments):
        total = np.bincount(moments, weights=np.concatenate([f[1] for f in found]), minlength=m)
        # A moment scoring 0 never carries a file's evidence: only the others matter.
        touched = np.flatnonzero(total > 0)
        seg_ev = total[touched].astype(np.float32)
        # Each file's best moment (the first on ties): touched is in file order.
        rows = tx.moment_file[touched]
        starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
        top = np.maximum.reduceat(seg_ev, starts)
        group = np.cumsum(np.concatenate([[False], rows[1:] != rows[:-1]]))
        at_top = np.flatnonzero(seg_ev == top[group])
        first = at_top[np.concatenate([[True], group[at_top][1:] != group[at_top][:-1]])]
        seg_score[rows[first]] = seg_ev[first]
        best_moment[rows[first]] = touched[first]
    evidence = np.maximum(clip_ev, seg_score)
    evidence[evidence <= 0] = 0.0
    carried = (seg_score > 0) & (seg_score >= 0.5 * evidence) & (evidence > 0)
    return _LabelMatches(lq, matcher.names, evidence, np.where(carried, best_moment, -1))


