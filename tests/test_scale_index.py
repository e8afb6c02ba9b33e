"""The caches behind search and similar at scale, and clustering's shortcuts: each must
give exactly what scoring every clip (or every pair) gives, and stay so as the library
changes under it.

Libraries here are written through ``Library.save_index`` with vectors and labels
shaped like the real ones (events of alike clips, label scores following the vectors);
text search runs the real text model.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from app.core import search
from app.core.albums import clustering as ac
from app.core.cached_index import CachedIndex
from app.core.indexing.indexer import fuse
from app.core.search import datequery, namematch, results, similar_search, text_search
from app.core.search import query as query_parser
from app.core.vectors import l2n
from app.inference import AUDIO_DIM, VISUAL_DIM
from app.inference.labels import audioset_labels, imagenet_labels
from app.records import ClipIndex, FileStat, Segment
from app.store import migrations
from app.store import search as search_store
from app.store import vectors as vector_store
from app.store.library import Library, pack_moment_labels

ROOT = "/videos"


class Events:
    """Clips of events: an event's clips share a direction (and labels), with noise."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.common_v = np.abs(self.rng.normal(size=VISUAL_DIM))
        self.common_a = np.abs(self.rng.normal(size=AUDIO_DIM))
        self.events: dict[str, tuple] = {}
        self.inames, self.anames = imagenet_labels(), audioset_labels()

    def _event(self, name: str):
        if name not in self.events:
            r = self.rng
            self.events[name] = (r.normal(size=VISUAL_DIM), r.normal(size=AUDIO_DIM),
                                 r.choice(1000, 3, replace=False), r.choice(521, 2, replace=False))
        return self.events[name]

    def clip(self, event: str, moments: int = 3, sound: bool = True,
             duration: float = 12.0) -> ClipIndex:
        v_dir, a_dir, v_cls, a_cls = self._event(event)
        r = self.rng
        segs, bounds = [], np.linspace(0, duration, moments + 1)
        seg_v, seg_probs, seg_scores = [], [], []
        for k in range(moments):
            visual = l2n(np.maximum(self.common_v + 1.5 * v_dir + r.normal(size=VISUAL_DIM), 0))
            audio = l2n(np.maximum(self.common_a + a_dir + r.normal(size=AUDIO_DIM), 0)) \
                if sound else None
            logits = r.normal(size=1000)
            logits[v_cls] += r.uniform(3, 6, size=len(v_cls))
            probs = np.exp(logits) / np.exp(logits).sum()
            scores = 1 / (1 + np.exp(-(r.normal(size=521) - 4)))
            scores[a_cls] = r.uniform(0.3, 0.9, size=len(a_cls))
            labels = {"visual": [[int(i), self.inames[i], round(float(probs[i]), 4)]
                                 for i in np.argsort(-probs)[:10]],
                      "audio": [[int(i), self.anames[i], round(float(scores[i]), 4)]
                                for i in np.argsort(-scores)[:10]] if sound else []}
            segs.append(Segment(float(bounds[k]), float(bounds[k + 1]), fuse(visual, audio),
                                visual, audio, labels))
            seg_v.append(visual)
            seg_probs.append(probs)
            seg_scores.append(scores)
        visual = l2n(np.mean(seg_v, 0))
        audio = l2n(np.mean([s.audio for s in segs], 0)) if sound else None
        probs, scores = np.mean(seg_probs, 0), np.mean(seg_scores, 0) if sound else None
        times = np.linspace(0, duration, 6, endpoint=False).astype(np.float32)
        frames = np.stack([seg_v[min(int(t / duration * moments), moments - 1)] for t in times])
        return ClipIndex(
            info={"duration": duration, "width": 640, "height": 360, "fps": 25.0,
                  "video_codec": "h264", "audio_codec": "aac" if sound else None,
                  "has_audio": sound, "rotation": 0, "bitrate": 1_000_000,
                  "container": "mp4", "created": None},
            fused=fuse(visual, audio), visual=visual, audio=audio, visual_probs=probs,
            audio_scores=scores, segments=segs, frame_times=times, frame_visual=frames,
            audio_times=None, audio_vectors=None,
            labels=[("visual", int(i), self.inames[i], float(probs[i]))
                    for i in np.argsort(-probs)[:10]],
            poster=b"jpeg", strip=b"jpeg", strip_times=[0.0])


def _add(lib: Library, events: Events, path: str, event: str, created: str | None = None,
         **kw) -> int:
    clip = events.clip(event, **kw)
    clip.info["created"] = created
    root = lib.add_root(ROOT)
    return lib.save_index(FileStat(path, 1000, 1.7e9, f"print {path}"), root, clip, 2)


def _library(tmp_path: Path, files: int, seed: int = 0) -> tuple[Library, Events]:
    lib = Library(tmp_path / "library.sqlite")
    events = Events(seed)
    for i in range(files):
        event = f"event{i // 4}"
        created = f"20{10 + (i // 4) % 12}-0{1 + i % 9}-1{i % 9}T10:00:00Z" if i % 5 else None
        _add(lib, events, f"{ROOT}/{event} beach/clip_{i:04d}.mp4", event, created,
             moments=1 + i % 4, sound=i % 3 != 0)
    return lib, events


# ---- exhaustive references: every clip, every moment ------------------------------------
def _exhaustive_similar(lib: Library, file_id: int, at: float | None, limit: int) -> list:
    ids = vector_store.present_files(lib)
    clips = vector_store.clip_vectors(lib, ids)
    segs = vector_store.segment_vectors(lib, ids)
    probe = lib.clip(file_id)["fused"].astype(np.float32)
    own = vector_store.segment_vectors(lib, [file_id])
    if at is not None:
        k = int(np.clip(np.searchsorted(own.starts, at, side="right") - 1, 0, len(own.starts) - 1))
        sim = segs.vectors.astype(np.float32) @ own.vectors[k].astype(np.float32)
        sim[(segs.file_ids == file_id) & (np.abs(segs.starts - own.starts[k]) < 1e-3)] = -np.inf
        best = results.best_per_file(segs.file_ids, sim)
        scores = {f: (float(sim[j]), j) for f, j in best.items() if np.isfinite(sim[j])}
    else:
        clip_sim = clips.vectors.astype(np.float32) @ probe
        sim = segs.vectors.astype(np.float32) @ probe
        best = results.best_per_file(segs.file_ids, sim)
        scores = {}
        for i, f in enumerate(clips.file_ids.tolist()):
            if f != file_id:
                j = best.get(f)
                moment = float(sim[j]) if j is not None else float(clip_sim[i])
                scores[f] = (0.5 * float(clip_sim[i]) + 0.5 * moment, j)
    return [(r.path, round(r.score, 5), r.start, r.end)
            for r in results.results_for(lib, scores, segs, limit)]


def _similar(lib: Library, file_id: int, at: float | None, limit: int) -> list:
    return [(r.path, round(r.score, 5), r.start, r.end)
            for r in search.similar(lib, file_id, at=at, limit=limit)]


def _exhaustive_text(lib: Library, query: str, matcher, limit: int = 20) -> list:
    """search_text as it was: every file walked, every moment's JSON labels read."""
    when, words_text = datequery.extract(query)
    query_words = namematch.words(words_text)
    files = search_store.search_files(lib)
    # Words read as people go to the person detector, not to the labels.
    label_text = query_parser.label_text(words_text, query_parser.parse(words_text))
    lq = matcher.query(label_text) if query_words else None
    albums = search_store.album_titles(lib)
    scored = []
    for f in files:
        day = datequery.local_day(f["created"]) or datequery.local_day(f["file_time"])
        if when is not None and (day is None or not when.matches(day)):
            continue
        sources = [("name", Path(f["path"]).stem)] + [
            ("folder", p) for p in [Path(f["root"]).name,
                                    *Path(f["path"]).parent.relative_to(f["root"]).parts]]
        names = namematch.match(query_words, sources + [("album", t) for t in albums.get(
            f["id"], [])])
        evidence, moment, why = 0.0, None, []
        if lq is not None and not lq.empty:
            clip = lib.clip(f["id"])
            probs = clip["visual_probs"].astype(np.float32)
            sound = clip["audio_scores"].astype(np.float32) if clip["audio_scores"] is not None \
                else np.zeros(521, np.float32)
            clip_ev = float(probs @ lq.visual + sound @ lq.audio)
            best, best_k = 0.0, None
            for k, seg in enumerate(lib.segments(f["id"])):
                ev = sum(lq.weights(kind)[c] * s for kind in ("visual", "audio")
                         for c, _, s in seg["labels"].get(kind, []))
                if ev > best:
                    best, best_k = ev, (k, seg)
            evidence = max(clip_ev, best)
            if best_k is not None and best > 0 and best >= 0.5 * evidence:
                seg = best_k[1]
                moment = (seg["start"], seg["end"])
                parts = [(kind, name, float(lq.weights(kind)[c] * s))
                         for kind in ("visual", "audio") for c, name, s in seg["labels"][kind]]
            else:
                parts = [(kind, matcher.names[kind][c], float(w[c] * row[c]))
                         for kind, w, row in (("visual", lq.visual, probs), ("audio", lq.audio, sound))
                         for c in np.flatnonzero(w)]
            why = lq.explain(parts)
        if evidence < text_search.MIN_EVIDENCE and names.score == 0 and when is None:
            continue
        by_labels = evidence >= text_search.MIN_EVIDENCE
        start, end = (moment if by_labels else None) or (0.0, f["duration"] or 0.0)
        reasons = (why if by_labels else []) + names.matched
        score = evidence + names.score + (1.0 if when is not None else 0.0)
        if when is not None:
            reasons.append(f"date: {datequery.describe(day)}")
        scored.append((score, day, f["path"], start, end, reasons))
    if not scored:
        return []
    top = max(s[0] for s in scored)
    scored = [s for s in scored if s[0] >= text_search.MIN_SHARE * top]
    scored.sort(key=lambda s: (-round(s[0], 6), s[1] or datequery.date.max, s[2]))
    return [(s[2], round(s[0], 4), round(s[3], 3), round(s[4], 3), s[5]) for s in scored[:limit]]


def _text(lib: Library, query: str, matcher) -> list:
    return [(r.path, round(r.score, 4), round(r.start, 3), round(r.end, 3), r.why)
            for r in search.search_text(lib, query, matcher=matcher)]


# ---- similar -----------------------------------------------------------------------------
def _assert_close_to_exhaustive(got: list, want: list, k: int = 20,
                                margin: float = 0.01) -> None:
    """``want``: the exhaustive list, longer than k. Scores, moments are exact (each
    file's exhaustive ones); every result clearly better than the k-th is there (near-ties
    at the cut may swap)."""
    exact = {p: (s, a, b) for p, s, a, b in want}
    cut = want[k - 1][1]
    assert [s for _, s, _, _ in got] == sorted((s for _, s, _, _ in got), reverse=True)
    for p, s, a, b in got:
        assert (s, a, b) == exact[p] if p in exact else s <= cut + margin, p
    must = {p for p, s, _, _ in want[:k] if s > cut + margin}
    assert must <= {p for p, *_ in got}, sorted(must - {p for p, *_ in got})


def test_similar_is_exhaustive_on_a_small_library(tmp_path):
    """Up to the exact stage's size, every file is scored exactly: the very same list."""
    lib, _ = _library(tmp_path, 60)
    for file_id in sorted(vector_store.present_files(lib))[::7]:
        assert _similar(lib, file_id, None, 20) == _exhaustive_similar(lib, file_id, None, 20)
        assert _similar(lib, file_id, 5.0, 20) == _exhaustive_similar(lib, file_id, 5.0, 20)
    lib.close()


def test_similar_finds_the_best_and_follows_the_library(tmp_path):
    """More files than the exact stage takes: the candidate stages must still find what
    is clearly best, scored exactly; then the cache must follow additions, re-indexing,
    a file going missing and a move."""
    lib, events = _library(tmp_path, 240)
    assert len(vector_store.present_files(lib)) > similar_search.CANDIDATES_MIN
    ids = sorted(vector_store.present_files(lib))
    for file_id in ids[::37]:
        for at in (None, 5.0):
            want = _exhaustive_similar(lib, file_id, at, 40)
            _assert_close_to_exhaustive(_similar(lib, file_id, at, 20), want)
    probe = ids[5]
    new = _add(lib, events, f"{ROOT}/late/new.mp4", "event1")  # probe's event: ranks high
    lib.save_index(FileStat(f"{ROOT}/event0 beach/clip_0001.mp4", 1000, 1.7e9, "x"), 1,
                   events.clip("event40"), 2)  # re-indexed with other content
    lib.mark([ids[7]], "missing")
    lib.move_file(ids[6], FileStat(f"{ROOT}/moved/there.mp4", 1000, 1.7e9, "y"), 1)
    got = _similar(lib, probe, None, 20)
    _assert_close_to_exhaustive(got, _exhaustive_similar(lib, probe, None, 40))
    paths = [p for p, *_ in got]
    assert f"{ROOT}/late/new.mp4" in paths[:4] and f"{ROOT}/moved/there.mp4" in paths[:4]
    assert all(not p.endswith(("clip_0007.mp4", "clip_0001.mp4")) for p in paths[:4])
    assert all(not p.endswith("clip_0007.mp4") for p in paths)
    _assert_close_to_exhaustive(_similar(lib, new, 2.0, 20), _exhaustive_similar(lib, new, 2.0, 40))
    lib.close()


def test_recommend_from_a_pool_is_the_exhaustive_answer_on_a_small_library(tmp_path):
    lib, _ = _library(tmp_path, 40)
    from app.store import watches
    for f in sorted(vector_store.present_files(lib))[:3]:
        watches.add_watch(lib, f, 10.0)
    picks = search.recommend(lib, limit=8)
    assert len(picks) == 8
    # The watched clips are of event0: the unwatched clip of that event leads.
    assert picks[0].path.endswith("clip_0003.mp4"), [p.path for p in picks]
    assert picks[0].why and picks[0].why[0].startswith("like: ")
    lib.close()


# ---- text search -------------------------------------------------------------------------
@pytest.mark.models
def test_text_search_scores_every_file_as_before(tmp_path, real_models_dir):
    from app.core.search.labelquery import default_matcher
    matcher = default_matcher(models_dir=real_models_dir)
    lib, events = _library(tmp_path, 60, seed=3)
    from app.store import albums
    mine = albums.insert_album(lib, "Summer in Rome", "user")
    albums.set_member(lib, mine, 9, "user")
    queries = ["dog", "people talking", "music 2013", "beach", "rome", "event3", "2015",
               "march 2012", "clip", "beaches"]
    labels = {lab for e in events.events.values() for lab in e[2][:1]}
    queries += [imagenet_labels()[c] for c in sorted(labels)[:4]]
    for q in queries:
        assert _text(lib, q, matcher) == _exhaustive_text(lib, q, matcher), q
    # Changes reach the cached index: a new file, a missing one, a renamed folder.
    _add(lib, events, f"{ROOT}/Rome trip/new.mp4", "event2", "2013-03-10T10:00:00Z")
    lib.mark([2], "missing")
    for q in ("rome", "trip", "music 2013", queries[-1]):
        assert _text(lib, q, matcher) == _exhaustive_text(lib, q, matcher), q
    assert any(p.endswith("new.mp4") for p, *_ in _text(lib, "trip", matcher))
    lib.close()


# ---- the library's change counter and packed moments ---------------------------------------
def test_change_counter_moves_with_what_search_reads(tmp_path):
    lib, events = _library(tmp_path, 3)
    count = vector_store.change_count(lib)
    lib.conn.execute("UPDATE files SET seen_at = 'later', mtime = 5 WHERE id = 1")
    assert vector_store.change_count(lib) == count  # a rescan that found nothing new
    lib.mark([1], "missing")
    assert vector_store.change_count(lib) > count
    count = vector_store.change_count(lib)
    _add(lib, events, f"{ROOT}/x.mp4", "event9")
    assert vector_store.change_count(lib) > count
    lib.close()


def test_moment_index_is_filled_on_upgrade_and_kept_with_the_segments(tmp_path):
    """A schema-2 library (no moment index) gets one when opened for writing, equal to
    what its segments' JSON says; byte copies and re-indexing keep it in step."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for number, sql in enumerate(migrations.MIGRATIONS[:2], start=1):
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.execute("INSERT INTO files(id, path, size, mtime, fingerprint, status) "
                 "VALUES (1, '/v/a.mp4', 1, 1, 'p', 'indexed')")
    conn.execute("INSERT INTO clips VALUES (1, x'00', x'00', NULL, x'00', NULL)")
    labels = [{"visual": [[5, "x", 0.5], [7, "y", 0.25]], "audio": []},
              {"visual": [[9, "z", 0.75]], "audio": [[0, "Speech", 0.875]]}]
    for idx, (start, end) in enumerate([(0.0, 2.5), (2.5, 6.0)]):
        conn.execute("INSERT INTO segments(file_id, idx, start, end, fused, visual, labels) "
                     "VALUES (1, ?, ?, ?, x'00', x'00', ?)",
                     (idx, start, end, json.dumps(labels[idx])))
    conn.commit()
    conn.close()
    lib = Library(path)
    packed = search_store.moments_of(lib, [1])
    classes, scores = pack_moment_labels(labels)
    assert packed.counts.tolist() == [2]
    assert packed.starts.tolist() == [0.0, 2.5] and packed.ends.tolist() == [2.5, 6.0]
    assert np.array_equal(packed.classes, classes) and np.array_equal(packed.scores, scores)
    assert packed.classes[0, 0].tolist()[:3] == [5, 7, -1] and packed.classes[1, 1, 0] == 0
    lib.close()

    lib, events = _library(tmp_path / "new", 2)
    copy = lib.copy_index(1, FileStat(f"{ROOT}/copy.mp4", 1000, 1.7e9, "print"), 1)
    a, b = search_store.moments_of(lib, [1]), search_store.moments_of(lib, [copy])
    assert np.array_equal(a.classes, b.classes) and np.array_equal(a.starts, b.starts)
    # The JSON of the segments and the packed rows say the same.
    rows = lib.segments(1)
    classes, scores = pack_moment_labels([r["labels"] for r in rows])
    assert np.array_equal(a.classes, classes) and np.array_equal(a.scores, scores)
    lib.close()


# ---- clustering --------------------------------------------------------------------------
def _reference_clusters(f: ac.ClipFeatures, seeds, threshold: float = ac.THRESHOLD):
    """Average linkage the plain way: every pair's distance, naive merges."""
    n = len(f)
    d = ac.distances(f, np.arange(n), np.arange(n)).astype(np.float64)
    nodes, keys, blocked = [], [], []
    owner = {}
    for s in seeds:
        nodes.append(sorted(s.rows))
        keys.append(s.key)
        for r in s.rows:
            owner[r] = len(nodes) - 1
    excluded = {}
    for s in seeds:
        for r in s.excluded:
            excluded.setdefault(r, set()).add(s.key)
    free = [r for r in range(n) if r not in owner]
    for r in free:
        owner[r] = len(nodes)
        nodes.append([r])
        keys.append(None)
    blocked = [set().union(*(excluded.get(r, set()) for r in rows)) for rows in nodes]
    parent = list(range(len(nodes)))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i in free:
        for j in range(n):
            if d[i, j] < threshold and owner[i] != owner[j]:
                parent[find(owner[i])] = find(owner[j])
    comps = {}
    for k in range(len(nodes)):
        comps.setdefault(find(k), []).append(k)
    out = []
    for members in comps.values():
        live = {k: (list(nodes[k]), keys[k], set(blocked[k])) for k in members}
        while True:
            best = None
            for a in live:
                for b in live:
                    if a >= b:
                        continue
                    ra, ka, ba = live[a]
                    rb, kb, bb = live[b]
                    if ka is not None and kb is not None:
                        continue
                    if (ka is not None and ka in bb) or (kb is not None and kb in ba):
                        continue
                    avg = d[np.ix_(ra, rb)].mean()
                    if best is None or avg < best[0]:
                        best = (avg, a, b)
            if best is None or not best[0] < threshold:
                break
            _, a, b = best
            ra, ka, ba = live[a]
            rb, kb, bb = live.pop(b)
            live[a] = (ra + rb, ka if ka is not None else kb, ba | bb)
        out += [(k, tuple(sorted(r))) for r, k, _ in live.values()]
    return sorted(out, key=lambda c: c[1])


def test_clustering_with_time_windows_is_plain_average_linkage():
    rng = np.random.default_rng(4)
    common = rng.normal(size=48)
    places = rng.normal(size=(6, 48))
    visual, audio, times = [], [], []
    for i in range(90):
        place = i % 6
        visual.append(l2n(0.7 * common + places[place] + 0.6 * rng.normal(size=48)))
        audio.append(l2n(rng.normal(size=16)) if i % 3 else np.zeros(16))
        # Days apart, minutes apart within a day, a fifth without a trusted time.
        t = 1.6e9 + (i % 5) * 86400 * rng.choice([0.2, 1, 3]) + rng.uniform(0, 3600)
        times.append(np.nan if i % 5 == 0 else t)
    f = ac.ClipFeatures(np.arange(1, 91), np.array(visual, np.float16),
                        np.array(audio, np.float16), np.array(times))
    got = sorted(((c.key, tuple(c.rows)) for c in ac.cluster(f)), key=lambda c: c[1])
    assert got == _reference_clusters(f, [])
    assert any(len(rows) > 2 for _, rows in got)
    seeds = [ac.Seed(7, [0, 6, 12]), ac.Seed(8, [1, 7], frozenset({13, 19})),
             ac.Seed(9, [2], frozenset({8}))]
    got = sorted(((c.key, tuple(c.rows)) for c in ac.cluster(f, seeds)), key=lambda c: c[1])
    assert got == _reference_clusters(f, seeds)


def teardown_module():
    CachedIndex.forget_all()
