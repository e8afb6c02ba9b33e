"""Albums at scale: the shortcuts that keep clustering and the start-up refresh cheap on
a large library must give what the plain method gives.

- The node matrix is a triangle filled block by block, seeds' clips are never compared
  with each other, near pairs are met once: with blocks far smaller than a clip count
  (so every path runs), clustering equals naive average linkage.
- Groups too large for one matrix are cut by union-finds kept per margin instead of the
  pairs themselves: the cut equals the one recomputed from every pair's distance.
- Covers come from sums of vectors, not a clip x clip matrix: the same clip.
- A refresh with nothing new only lists; a new clip, a user's edit or another writer's
  edit makes the next refresh place clips again.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.core import albums
from app.core.albums import clustering as ac
from app.core.albums import events
from app.store import albums as album_store
from app.store import vectors as vector_store
from tests.test_albums import DAY, Shelf
from tests.test_scale_index import _reference_clusters


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _library_features(seed: int, n: int) -> ac.ClipFeatures:
    """Clips of a few places on a few days, some with sound, some without a date."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=48)
    places = rng.normal(size=(max(2, n // 12), 48))
    visual, audio, times = [], [], []
    for _ in range(n):
        p = rng.integers(len(places))
        visual.append(_unit(0.7 * common + places[p] + rng.uniform(0.3, 0.9) * rng.normal(size=48)))
        audio.append(_unit(rng.normal(size=16) + places[p][:16]) if rng.random() < 0.6
                     else np.zeros(16))
        t = 1.6e9 + p * 86400 * rng.choice([0.1, 0.5, 1, 3]) + rng.uniform(0, 7200)
        times.append(np.nan if rng.random() < 0.3 else t)
    return ac.ClipFeatures(np.arange(1, n + 1), np.array(visual, np.float16),
                           np.array(audio, np.float16), np.array(times))


def _seeds(seed: int, n: int) -> list[ac.Seed]:
    """Albums of 0 to 20 clips, with clips the user took out of them."""
    rng = np.random.default_rng(seed + 100)
    order, k, out = rng.permutation(n), 0, []
    for key in (10, 20, 30, 40):
        size = int(rng.integers(0, 20))
        rows = order[k:k + size].tolist()
        k += size
        taken_out = set(rng.choice(n, size=int(rng.integers(0, 6)), replace=False).tolist())
        out.append(ac.Seed(key, rows, frozenset(taken_out - set(rows))))
    return out


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few clips: every chunked path (row and column blocks, album groups
    larger than a group, the diagonal) runs on a library of a hundred clips."""
    for name, value in (("_BLOCK", 8), ("_COLUMNS", 16), ("_FILL_ROWS", 8),
                        ("_FILL_COLUMNS", 16), ("_SEED_ROWS", 4), ("_TIME_ROWS", 3)):
        monkeypatch.setattr(ac, name, value)


@pytest.mark.parametrize("square", [True, False])
@pytest.mark.parametrize("seed", range(12))
def test_blockwise_clustering_is_plain_average_linkage(small_blocks, monkeypatch, seed, square):
    monkeypatch.setattr(ac, "_SQUARE_SHARE", 1.0 if square else 0.0)  # whole matrix or half
    n = (40, 90, 150)[seed % 3]
    f = _library_features(seed, n)
    seeds = _seeds(seed, n) if seed % 2 else []
    got = sorted(((c.key, tuple(c.rows)) for c in ac.cluster(f, seeds)), key=lambda c: c[1])
    # The reference lists albums left with no clip; clustering has nothing to say of them.
    assert got == [c for c in _reference_clusters(f, seeds) if c[1]]
    assert any(len(rows) > 2 for _, rows in got)


def _reference_split(f: ac.ClipFeatures, threshold: float = ac.THRESHOLD
                     ) -> tuple[list[set[int]], list[set[int]]]:
    """The groups, and their parts when too large for one matrix, from every pair's
    distance: the components of pairs ever closer, margin by margin, until each fits."""
    d = ac.distances(f, np.arange(len(f)), np.arange(len(f))).astype(np.float32)

    def components(nodes, limit):
        left, out = set(nodes), []
        while left:
            todo, part = [left.pop()], set()
            while todo:
                x = todo.pop()
                part.add(x)
                near = {y for y in left if d[x, y] < limit or d[y, x] < limit}
                left -= near
                todo += near
            out.append(part)
        return out

    groups = components(range(len(f)), threshold)
    done = [p for p in groups if len(p) <= ac.DENSE_MAX]
    todo = [p for p in groups if len(p) > ac.DENSE_MAX]
    for margin in ac._margins(threshold):
        parts, todo = todo, []
        for part in parts:
            for sub in components(part, threshold - margin):
                (todo if len(sub) > ac.DENSE_MAX and margin < threshold else done).append(sub)
    return groups, done + todo


@pytest.mark.parametrize("limit, seed", [(12, 3), (30, 0), (20, 4)])
def test_large_groups_are_cut_as_the_pairs_would_cut_them(monkeypatch, limit, seed):
    monkeypatch.setattr(ac, "DENSE_MAX", limit)
    f = _library_features(seed, 120)
    parts = []
    real_agglomerate = ac._agglomerate

    def recording(f_, node_rows, *args):
        parts.append({r for rows in node_rows for r in rows})
        return real_agglomerate(f_, node_rows, *args)

    monkeypatch.setattr(ac, "_agglomerate", recording)
    clusters = ac.cluster(f)
    groups, want = _reference_split(f)
    assert max(map(len, groups)) > ac.DENSE_MAX  # the limit does cut a group
    assert sum(len(p) > 1 for p in want) > sum(len(g) > 1 for g in groups)
    singles = [{r} for c in clusters for r in c.rows if not any(r in p for p in parts)]
    assert sorted(map(sorted, parts + singles)) == sorted(map(sorted, want))
    assert sorted(r for c in clusters for r in c.rows) == list(range(len(f)))


def test_covers_from_sums_are_the_most_central_clips():
    f = _library_features(5, 200)
    rng = np.random.default_rng(5)
    groups = [sorted(rng.choice(200, int(rng.integers(1, 60)), replace=False).tolist())
              for _ in range(40)]
    want = [g[int(np.argmax(ac.content_similarity(f, np.array(g), np.array(g))
                            .astype(np.float64).sum(1)))] for g in groups]
    assert ac.central_rows(f, groups) == want


# ---- the refresh at every start ------------------------------------------------------
@pytest.fixture
def shelf(library):
    return Shelf.weeks(library, ("park", "lake"))


def _no_placing(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a refresh with nothing new read the clips' vectors")
    monkeypatch.setattr(events, "load_features", fail)


def test_refresh_with_nothing_new_only_lists(library, shelf, monkeypatch):
    first = albums.refresh_albums(library)
    assert len(first) == 2
    with monkeypatch.context() as m:
        _no_placing(m)
        assert albums.refresh_albums(library) == first
        assert albums.list_albums(library) == first


def test_new_clips_and_edits_make_the_next_refresh_place_again(library, shelf, monkeypatch):
    found = {shelf.names(a)[0]: a for a in albums.refresh_albums(library)}
    park, lake = found["park_0"]["id"], found["lake_0"]["id"]
    # A new clip (a scan): it joins the album it fits.
    shelf.add("lake_3", "lake", DAY.format(9, 40))
    now = {a["id"]: a for a in albums.refresh_albums(library)}
    assert "lake_3" in shelf.names(now[lake])
    # The user takes a clip out: the next run places it (here: it fits nothing else).
    albums.remove_clip(library, lake, shelf.ids["lake_3"])
    now = {a["id"]: a for a in albums.refresh_albums(library)}
    assert "lake_3" not in shelf.names(now[lake])
    # Another writer takes a clip out of an album behind our back: noticed too.
    with library.transaction():
        album_store.remove_member(library, park, shelf.ids["park_1"])
    now = {a["id"]: a for a in albums.refresh_albums(library)}
    assert "park_1" in shelf.names(now[park])  # no exclusion: it is placed back
    # ...and once placed, nothing is new again.
    with monkeypatch.context() as m:
        _no_placing(m)
        assert {a["id"]: a for a in albums.refresh_albums(library)} == now


def test_a_clip_going_missing_is_a_change(library, shelf, monkeypatch):
    albums.refresh_albums(library)
    library.mark([shelf.ids["lake_0"]], "missing")
    now = albums.refresh_albums(library)  # places and retitles: must not fail
    assert all("lake_0" not in shelf.names(a) for a in now)
    with monkeypatch.context() as m:
        _no_placing(m)
        assert albums.refresh_albums(library) == now


def test_clip_columns_read_what_clip_vectors_read(library, shelf):
    ids = sorted(shelf.ids.values())[1:]
    got, (visual, audio) = vector_store.clip_columns(library, ids, ("visual", "audio"))
    assert got.tolist() == ids
    want = vector_store.clip_vectors(library, ids, "visual")
    assert np.array_equal(visual, want.vectors) and audio.shape == (len(ids), 0)


def test_labels_summed_by_sqlite_name_albums_as_the_clips_labels_do(library):
    s = Shelf(library)
    speech, music = ("audio", "Speech", 0.9), ("audio", "Music", 0.6)
    dog, cat = ("visual", "golden retriever", 0.7), ("visual", "tabby", 0.4)
    clips = {"a": [speech, dog], "b": [speech, music], "c": [dog, cat], "d": [], "e": [music]}
    for name, labels in clips.items():
        s.add(name, "park", DAY.format(2, 5), labels=labels)
    with library.transaction():
        one = album_store.insert_album(library, "", album_store.AUTO)
        two = album_store.insert_album(library, "", album_store.AUTO)
        for name in "abcd":
            album_store.set_member(library, one, s.ids[name], album_store.AUTO)
        album_store.set_member(library, two, s.ids["e"], album_store.AUTO)
    library.mark([s.ids["d"]], "missing")  # a missing clip counts for nothing
    summed = dict(album_store.album_labels(library))
    assert summed[one].clips == 3 and summed[one].with_sound == 2
    assert summed[one].totals[("audio", "Speech")] == pytest.approx(1.8)
    for album, names in ((one, "abc"), (two, "e")):
        want = albums.dominant_label([[tuple(x) for x in clips[n]] for n in names])
        assert events._dominant(summed[album]) == want
    assert events._dominant(summed[one]) == "Speech" and events._dominant(summed[two]) == "Music"
    assert dict(album_store.album_labels(library, [two])).keys() == {two}
