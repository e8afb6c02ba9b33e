"""Search by words: query words activate ImageNet and AudioSet labels through the text
encoder (``labelquery``) and also match file, folder and album names (``namematch``); a
date in the query ("march 2024") keeps the clips shot then (``datequery``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.search import datequery, namematch, peoplequery
from app.core.search.results import Result
from app.core.search.search_index import name_sources, search_index
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
# Results weaker than this share of the best one are left out.
MIN_SHARE = 0.02


def search_text(lib: Library, query: str, limit: int = 20, text_model=None,
                matcher=None) -> list[Result]:
    """Files matching ``query`` by labels, names and date, each with its best moment.

    Every present file is scored, in numpy over the cached ``search_index``; only the
    files returned get their explanation ("why") built."""
    when, words_text = datequery.extract(query)
    query_words = namematch.words(words_text)
    people = peoplequery.extract(lib, query_words) if query_words else None
    if people is not None and people.names:
        query_words, words_text = people.rest, " ".join(people.rest)
    else:
        people = None
    if when is None and not query_words and people is None:
        return []
    tx = search_index(lib)
    n = len(tx.file_ids)
    if n == 0:
        return []
    labels = _label_matches(tx, words_text, query_words, matcher, text_model)
    albums = store.album_titles(lib)
    names = _name_scores(tx, query_words, albums)
    evidence = labels.evidence if labels else np.zeros(n, np.float32)
    keep = np.ones(n, bool)
    if when is not None:
        y, m, d = tx.days[:, 0], tx.days[:, 1], tx.days[:, 2]
        keep = (y > 0) & ((when.year is None) | (y == (when.year or 0))) \
            & ((when.month is None) | (m == (when.month or 0))) \
            & ((when.day is None) | (d == (when.day or 0)))
    elif query_words:
        keep &= ~((evidence < MIN_EVIDENCE) & (names == 0))
    person_mask = _people_mask(tx, people)
    keep &= person_mask
    score = evidence.astype(np.float64) + NAME_WEIGHT * names + (1.0 if when is not None else 0.0) \
        + PERSON_WEIGHT * person_mask * (people is not None)
    rows = np.flatnonzero(keep)
    if not len(rows):
        return []
    best = float(score[rows].max())
    rows = rows[score[rows] >= MIN_SHARE * best]
    # Equal scores (a date alone) read best in time order, then by path.
    rounded = -np.round(score[rows], 6)
    if len(rows) > limit:
        cut = np.partition(rounded, limit - 1)[limit - 1]
        rows = rows[rounded <= cut]
        rounded = -np.round(score[rows], 6)
    order = np.lexsort((tx.path_rank[rows], tx.day_order[rows], rounded))
    out = []
    for row in rows[order][:limit]:
        row = int(row)
        path, file_id = tx.paths[row], int(tx.file_ids[row])
        by_labels = labels is not None and evidence[row] >= MIN_EVIDENCE
        moment = labels.moment(tx, row) if by_labels else None
        if moment is None and people is not None:
            moment = _person_moment(people.files.get(file_id), float(tx.durations[row]))
        start, end = moment or (0.0, float(tx.durations[row]))
        why = labels.why(lib, tx, row) if by_labels else []
        sources = name_sources(path, tx.roots[row])
        why += namematch.match(query_words, sources + [("album", t) for t in albums.get(
            file_id, [])]).matched
        if people is not None:
            why += [f"person: {name}" for name in people.names]
        if when is not None:
            why.append(f"date: {datequery.describe(tx.day(row))}")
        out.append(Result(path, file_id, start, end, float(score[row]), why))
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


def _label_matches(tx, text: str, query_words: list[str], matcher, text_model
                   ) -> _LabelMatches | None:
    """Evidence of each file from its labels: the better of the clip's label scores and
    its best moment's top labels, weighted by what the query's words activate."""
    if not query_words:
        return None
    if matcher is None:
        from app.core.search.labelquery import default_matcher
        matcher = default_matcher(text_model)
    lq = matcher.query(text)
    if lq.empty:
        return None
    n, m = len(tx.file_ids), len(tx.starts)
    clip_ev = np.zeros(n, np.float32)
    for w, table in ((lq.visual, tx.visual), (lq.audio, tx.audio)):
        cs = np.flatnonzero(w[:table.shape[0]])
        if len(cs):
            clip_ev += w[cs].astype(np.float32) @ table[cs].astype(np.float32)
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


