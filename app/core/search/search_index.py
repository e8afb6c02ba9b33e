"""What text search scores, for every present clip and moment, in memory.

``app.core.search.search_text`` used to walk every file in Python and parse every
moment's JSON labels per query: seconds at 10,000 clips. Here the same data is laid out
for numpy, built once and kept current (``CachedIndex``):

- label scores of each clip (ImageNet probabilities, AudioSet scores) class-major, so a
  query reads only the rows of the labels it activates;
- moments' top labels as postings: per class, the moments that list it and its score;
  a query adds up only its own classes' postings;
- names: every word of file and folder names, with the files it appears in;
- the day each clip was shot, and each file's rank by path, for ties.

Everything here is exact: search gives the answers it gave when it scanned every file.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from app.core.cached_index import CachedIndex, moment_permutation
from app.core.index_files import CodedStrings, Ragged, Strings
from app.core.search import datequery, namematch
from app.inference import AUDIOSET_CLASSES, IMAGENET_CLASSES
from app.store import search as store
from app.store.library import Library

NO_DAY = date.max.toordinal()  # sorts after every real day, like date.max did
CHUNK_FILES = 5000  # files read at a time while building: bounds memory


@dataclass(frozen=True)
class Postings:
    """For each class c, entries ptr[c]:ptr[c+1]: moments (rows) listing c and the score."""

    ptr: np.ndarray  # [classes + 1] int64
    moments: np.ndarray  # [e] int32
    scores: np.ndarray  # [e] float32

    def gather(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Moments and weight * score of every posting of the classes weights select."""
        cs = np.flatnonzero(weights[:len(self.ptr) - 1])
        if not len(cs):
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        rows = [np.arange(self.ptr[c], self.ptr[c + 1]) for c in cs]
        at = np.concatenate(rows)
        w = np.repeat(weights[cs].astype(np.float64), [len(r) for r in rows])
        return self.moments[at].astype(np.int64), w * self.scores[at]


def _postings(classes: np.ndarray, scores: np.ndarray, kinds: int) -> list[Postings]:
    """classes/scores [m, 2, w] -> one Postings per kind (class ids up to ``kinds[k]``)."""
    out = []
    m, _, width = classes.shape
    for k, size in enumerate(kinds):
        cls = classes[:, k, :].reshape(-1)
        valid = np.flatnonzero(cls >= 0)
        order = valid[np.argsort(cls[valid], kind="stable")]
        counts = np.bincount(cls[valid].astype(np.int64), minlength=size)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        out.append(Postings(ptr, (order // max(width, 1)).astype(np.int32),
                            scores[:, k, :].reshape(-1)[order].astype(np.float32)))
    return out


@dataclass(frozen=True)
class Names:
    """Words of file and folder names -> the files (rows) they appear in."""

    vocabulary: Sequence[str]  # sorted (a list, or ``Strings`` when mapped from disk)
    files: Sequence[np.ndarray]  # per word, sorted rows

    def credits(self, word: str, n: int) -> np.ndarray:
        """[n] per file: 1 if a name has the word, 0.5 if a name has a longer word it
        starts (namematch's rule), else 0."""
        out = np.zeros(n, np.float64)
        lo = bisect.bisect_left(self.vocabulary, word)
        if len(word) >= namematch.MIN_PART_LEN:
            hi = lo
            while hi < len(self.vocabulary) and self.vocabulary[hi].startswith(word):
                if self.vocabulary[hi] != word:
                    out[self.files[hi]] = namematch.PART_CREDIT
                hi += 1
        if lo < len(self.vocabulary) and self.vocabulary[lo] == word:
            out[self.files[lo]] = 1.0
        return out


@dataclass(frozen=True)
class Texts:
    """One snapshot of what search needs; files ordered by id (rows), moments by file
    then idx."""

    file_ids: np.ndarray  # [n] int64
    paths: Sequence[str]  # lists, or their array forms when mapped from disk
    roots: Sequence[str | None]
    durations: np.ndarray  # [n] float64 (0 when unknown)
    days: np.ndarray  # [n, 3] int32 year, month, day (0s when unknown)
    day_order: np.ndarray  # [n] int64 ordinal, NO_DAY when unknown
    path_rank: np.ndarray  # [n] int64
    words: Sequence[tuple[str, ...]]  # per file: words of its name and folders
    visual: np.ndarray  # [1000, n] float16 ImageNet probabilities (clip mean)
    audio: np.ndarray  # [521, n] float16 AudioSet scores, zeros without sound
    counts: np.ndarray  # [n] int64 moments per file
    starts: np.ndarray  # [m] float32
    ends: np.ndarray  # [m] float32
    postings: tuple[Postings, Postings]  # visual, audio
    names: Names
    offsets: np.ndarray = None  # [n + 1] first moment of each file
    moment_file: np.ndarray = None  # [m] int32 row of each moment's file

    def __post_init__(self):
        object.__setattr__(self, "offsets", np.concatenate([[0], np.cumsum(self.counts)]))
        object.__setattr__(self, "moment_file", np.repeat(
            np.arange(len(self.counts), dtype=np.int32), self.counts))

    def day(self, row: int) -> date | None:
        y, m, d = (int(v) for v in self.days[row])
        return date(y, m, d) if y else None


def name_sources(path: str, root: str | None) -> list[tuple[str, str]]:
    """The file's name and the folders from its library root down (or its folder)."""
    p = Path(path)
    sources = [("name", p.stem)]
    r = Path(root) if root else None
    if r is not None and r in p.parents:
        folders = [r.name, *p.parent.relative_to(r).parts]
    else:
        folders = [p.parent.name]
    return sources + [("folder", name) for name in folders if name]


def _file_part(facts: list[tuple]) -> dict:
    """Per-file arrays from (id, indexed_at, path, root, duration, created, file_time)."""
    folder_words: dict[tuple, tuple[str, ...]] = {}  # many files share a folder
    words, days = [], np.zeros((len(facts), 3), np.int32)
    for i, (_, _, path, root, _, created, file_time) in enumerate(facts):
        folder, name = os.path.split(path)
        if (folder, root) not in folder_words:
            found = []
            for kind, text in name_sources(path, root):
                if kind == "folder":
                    found += namematch.words(text)
            folder_words[folder, root] = tuple(found)
        stem = Path(name).stem
        words.append(tuple(dict.fromkeys(namematch.words(stem) + list(folder_words[folder, root]))))
        day = datequery.local_day(created) or datequery.local_day(file_time)
        if day is not None:
            days[i] = (day.year, day.month, day.day)
    return {"file_ids": np.array([f[0] for f in facts], np.int64),
            "paths": [f[2] for f in facts], "roots": [f[3] for f in facts],
            "durations": np.array([f[4] or 0.0 for f in facts], np.float64),
            "days": days, "words": words}


def _day_order(days: np.ndarray) -> np.ndarray:
    return np.array([date(*map(int, d)).toordinal() if d[0] else NO_DAY for d in days],
                    np.int64)


def _names(words: list[tuple[str, ...]]) -> Names:
    where: dict[str, list[int]] = {}
    for row, ws in enumerate(words):
        for w in ws:
            where.setdefault(w, []).append(row)
    vocabulary = sorted(where)
    return Names(vocabulary, [np.array(where[w], np.int64) for w in vocabulary])


def _rank(paths: list[str]) -> np.ndarray:
    order = sorted(range(len(paths)), key=paths.__getitem__)
    rank = np.empty(len(paths), np.int64)
    rank[order] = np.arange(len(paths))
    return rank


def _concat(parts: list[store.Moments]) -> store.Moments:
    width = max(p.classes.shape[2] for p in parts)

    def wide(a: np.ndarray, fill) -> np.ndarray:
        if a.shape[2] == width:
            return a
        out = np.full((len(a), 2, width), fill, a.dtype)
        out[:, :, :a.shape[2]] = a
        return out

    return store.Moments(*(np.concatenate([getattr(p, k) for p in parts])
                           for k in ("file_ids", "counts", "starts", "ends")),
                         np.concatenate([wide(p.classes, -1) for p in parts]),
                         np.concatenate([wide(p.scores, 0.0) for p in parts]))


class WordLists(Sequence):
    """Per file, the words of its names as ids into the (sorted) vocabulary."""

    def __init__(self, ids: Ragged, vocabulary: Sequence[str]):
        self.ids, self.vocabulary = ids, vocabulary

    @staticmethod
    def of(words: Sequence[tuple[str, ...]], vocabulary: Sequence[str]) -> WordLists:
        if isinstance(words, WordLists):
            return words
        where = {w: i for i, w in enumerate(vocabulary)}
        return WordLists(Ragged.of([[where[w] for w in ws] for ws in words], np.int32),
                         vocabulary)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return tuple(self.vocabulary[int(k)] for k in self.ids[i])

    def __iter__(self):
        vocabulary = list(self.vocabulary)
        ptr, ids = self.ids.ptr.tolist(), self.ids.values.tolist()
        return (tuple(vocabulary[k] for k in ids[lo:hi]) for lo, hi in zip(ptr[:-1], ptr[1:], strict=True))


# Per-file and per-moment arrays of a snapshot kept on disk, by their Texts field name.
_STORED = ("file_ids", "durations", "days", "day_order", "path_rank", "visual", "audio",
           "counts", "starts", "ends")


class SearchIndex(CachedIndex[Texts]):
    KIND = "texts"
    RECIPE = 2  # 2: name words folded by vocabulary.singular ("houses" -> "house")

    def arrays(self, snap: Texts) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {name: getattr(snap, name) for name in _STORED}
        for kind, p in zip(("visual", "audio"), snap.postings, strict=True):
            arrays.update({f"{kind}_ptr": p.ptr, f"{kind}_moments": p.moments,
                           f"{kind}_scores": p.scores})
        paths, roots = Strings.of(snap.paths), CodedStrings.of(snap.roots)
        vocabulary = Strings.of(snap.names.vocabulary)
        files, words = Ragged.of(snap.names.files), WordLists.of(snap.words, vocabulary)
        arrays.update(paths_data=paths.data, paths_ends=paths.ends, roots_codes=roots.codes,
                      roots_data=roots.table.data, roots_ends=roots.table.ends,
                      vocabulary_data=vocabulary.data, vocabulary_ends=vocabulary.ends,
                      name_files_ptr=files.ptr, name_files=files.values,
                      words_ptr=words.ids.ptr, words=words.ids.values)
        return arrays, {}

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> Texts:
        a = arrays
        vocabulary = Strings(a["vocabulary_data"], a["vocabulary_ends"])
        postings = tuple(Postings(a[f"{k}_ptr"], a[f"{k}_moments"], a[f"{k}_scores"])
                         for k in ("visual", "audio"))
        snap = Texts(a["file_ids"], Strings(a["paths_data"], a["paths_ends"]),
                     CodedStrings(a["roots_codes"], Strings(a["roots_data"], a["roots_ends"])),
                     a["durations"], a["days"], a["day_order"], a["path_rank"],
                     WordLists(Ragged(a["words_ptr"], a["words"]), vocabulary),
                     a["visual"], a["audio"], a["counts"], a["starts"], a["ends"], postings,
                     Names(vocabulary, Ragged(a["name_files_ptr"], a["name_files"])))
        n, m = len(snap.file_ids), len(snap.starts)
        if any(len(x) != n for x in (snap.paths, snap.roots, snap.durations, snap.days,
                                     snap.day_order, snap.path_rank, snap.words, snap.counts)) \
                or snap.visual.shape[1:] != (n,) or snap.audio.shape[1:] != (n,) \
                or len(snap.ends) != m or int(snap.offsets[-1]) != m \
                or len(snap.names.files) != len(vocabulary) \
                or any(int(p.ptr[-1]) != len(p.moments) or len(p.scores) != len(p.moments)
                       for p in postings) \
                or int(a["paths_ends"][-1] if n else 0) != len(a["paths_data"]) \
                or int(a["vocabulary_ends"][-1] if len(vocabulary) else 0) \
                != len(a["vocabulary_data"]) \
                or int(a["words_ptr"][-1]) != len(a["words"]) \
                or int(a["name_files_ptr"][-1]) != len(a["name_files"]):
            raise ValueError("search index arrays do not fit together")
        return snap

    def signatures(self, lib: Library) -> dict[int, object]:
        self._facts = {f[0]: f for f in store.file_facts(lib)}
        return {f: facts[1:] for f, facts in self._facts.items()}

    def _read(self, lib: Library, file_ids: list[int]):
        """Per-file facts, label scores (class-major) and moments of these files, read
        CHUNK_FILES at a time into arrays made once (no second copy of the scores)."""
        parts, moments = [], []
        visual = np.zeros((0, len(file_ids)), np.float16)
        audio = np.zeros((0, len(file_ids)), np.float16)
        done = 0
        for lo in range(0, len(file_ids), CHUNK_FILES):
            chunk = file_ids[lo:lo + CHUNK_FILES]
            scores = store.label_scores_of(lib, chunk)
            found = store.moments_of(lib, scores.file_ids)
            # Files lacking clip rows or moments (written half-way) are left out.
            ok = np.isin(scores.file_ids, found.file_ids)
            ids = [int(f) for f in scores.file_ids[ok]]
            parts.append(_file_part([self._facts[f] for f in ids]))
            moments.append(found if ok.all() else store.moments_of(lib, ids))
            k = len(ids)
            if scores.visual.shape[1] and not visual.shape[0]:
                visual = np.zeros((scores.visual.shape[1], len(file_ids)), np.float16)
            if scores.audio.shape[1] and not audio.shape[0]:
                audio = np.zeros((scores.audio.shape[1], len(file_ids)), np.float16)
            if visual.shape[0]:
                visual[:, done:done + k] = scores.visual[ok].T
            if audio.shape[0]:
                audio[:scores.audio.shape[1], done:done + k] = scores.audio[ok].T
            done += k
        if done < len(file_ids):
            visual, audio = visual[:, :done].copy(), audio[:, :done].copy()
        part = {key: (sum((p[key] for p in parts), []) if isinstance(parts[0][key], list)
                      else np.concatenate([p[key] for p in parts])) for key in parts[0]} \
            if parts else _file_part([])
        return part, visual, audio, _concat(moments) if moments else store.moments_of(lib, [])

    def build(self, lib: Library, file_ids: list[int]) -> Texts:
        part, visual, audio, moments = self._read(lib, file_ids)
        return self._assemble(part, visual, audio, moments.counts, moments.starts,
                              moments.ends, moments.classes, moments.scores)

    def update(self, lib: Library, current: Texts, gone: list[int], new: list[int]) -> Texts:
        keep = ~np.isin(current.file_ids, gone)
        part, new_visual, new_audio, moments = self._read(lib, new)
        old = {"file_ids": current.file_ids[keep],
               "paths": [p for p, k in zip(current.paths, keep, strict=True) if k],
               "roots": [r for r, k in zip(current.roots, keep, strict=True) if k],
               "durations": current.durations[keep], "days": current.days[keep],
               "words": [w for w, k in zip(current.words, keep, strict=True) if k]}
        ids = np.concatenate([old["file_ids"], part["file_ids"]])
        order = np.argsort(ids, kind="stable")
        merged = {}
        for key in old:
            if isinstance(old[key], list):
                both = old[key] + part[key]
                merged[key] = [both[i] for i in order]
            else:
                merged[key] = np.concatenate([old[key], part[key]])[order]
        def joined(old_table: np.ndarray, new_table: np.ndarray) -> np.ndarray:
            out = np.zeros((max(old_table.shape[0], new_table.shape[0]), len(ids)), np.float16)
            out[:old_table.shape[0], :int(keep.sum())] = old_table[:, keep]
            out[:new_table.shape[0], int(keep.sum()):] = new_table
            return out[:, order]

        visual, audio = joined(current.visual, new_visual), joined(current.audio, new_audio)
        # Moments: the kept ones renumbered, the new ones after them, then file order.
        counts = np.concatenate([current.counts[keep], moments.counts])
        moment_order = moment_permutation((np.cumsum(counts) - counts)[order], counts[order])
        keep_m = np.repeat(keep, current.counts)
        old_rows = np.full(len(keep_m), -1, np.int64)
        old_rows[keep_m] = np.arange(int(keep_m.sum()))
        new_row = np.empty(len(moment_order), np.int64)
        new_row[moment_order] = np.arange(len(moment_order))
        postings = []
        fresh = _postings(moments.classes, moments.scores,
                          [len(p.ptr) - 1 for p in current.postings])
        for old_p, new_p in zip(current.postings, fresh, strict=True):
            cls_old = np.repeat(np.arange(len(old_p.ptr) - 1), np.diff(old_p.ptr))
            rows_old = old_rows[old_p.moments]
            ok = rows_old >= 0
            cls_new = np.repeat(np.arange(len(new_p.ptr) - 1), np.diff(new_p.ptr))
            rows_new = new_p.moments.astype(np.int64) + int(keep_m.sum())
            cls = np.concatenate([cls_old[ok], cls_new])
            rows = new_row[np.concatenate([rows_old[ok], rows_new])]
            sc = np.concatenate([old_p.scores[ok], new_p.scores])
            by = np.argsort(cls, kind="stable")
            ptr = np.concatenate([[0], np.cumsum(np.bincount(cls, minlength=len(old_p.ptr) - 1))])
            postings.append(Postings(ptr.astype(np.int64), rows[by].astype(np.int32), sc[by]))
        starts = np.concatenate([current.starts[keep_m], moments.starts])[moment_order]
        ends = np.concatenate([current.ends[keep_m], moments.ends])[moment_order]
        return Texts(merged["file_ids"], merged["paths"], merged["roots"], merged["durations"],
                     merged["days"], _day_order(merged["days"]), _rank(merged["paths"]),
                     merged["words"], visual, audio, counts[order], starts, ends,
                     tuple(postings), _names(merged["words"]))

    def _assemble(self, part: dict, visual, audio, counts, starts, ends, classes,
                  scores) -> Texts:
        kinds = (max(visual.shape[0], IMAGENET_CLASSES), max(audio.shape[0], AUDIOSET_CLASSES))
        postings = tuple(_postings(classes, scores, kinds))
        return Texts(part["file_ids"], part["paths"], part["roots"], part["durations"],
                     part["days"], _day_order(part["days"]), _rank(part["paths"]),
                     part["words"], visual, audio, counts, starts, ends, postings,
                     _names(part["words"]))


def search_index(lib: Library) -> Texts:
    return SearchIndex.snapshot(lib)
