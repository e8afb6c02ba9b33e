"""The refresh after a scan: it places the clips no run has placed, reading the vectors
of their neighbourhood only, and retitles only the albums whose clips changed.

- New clips join the event of their time and content, or make a new album (with a clip
  left unsorted before, when they are of one event); a copy without a date joins the
  event of its original.
- What the user renamed or edited stays; albums no new clip reaches are not rewritten.
- Without edits since the last run, the result equals placing the whole library.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.core import albums
from app.core.albums import events
from app.store import albums as album_store
from tests.test_albums import DAY, Shelf


@pytest.fixture
def shelf(library):
    return Shelf.weeks(library, ("park", "lake", "beach"), copy=True)


def _by_first(found, shelf):
    return {shelf.names(a)[0]: a for a in found}


class _Spy:
    """Counts what a refresh reads and writes: vectors of which clips, albums updated,
    and which way it went (the new clips only, or the whole library)."""

    def __init__(self, monkeypatch):
        self.read: set[int] = set()
        self.updated: set[int] = set()
        self.whole = 0
        load, update, whole = events.load_features, album_store.update_album, events._refresh_all

        def load_features(lib, file_ids=None, files=None):
            feats = load(lib, file_ids, files)
            self.read.update(feats.file_ids.tolist())
            return feats

        def update_album(lib, album_id, **cols):
            self.updated.add(album_id)
            update(lib, album_id, **cols)

        def refresh_all(*args, **kwargs):
            self.whole += 1
            whole(*args, **kwargs)

        monkeypatch.setattr(events, "load_features", load_features)
        monkeypatch.setattr(album_store, "update_album", update_album)
        monkeypatch.setattr(events, "_refresh_all", refresh_all)


def test_new_clips_join_their_event_or_make_a_new_album_reading_only_nearby_days(
        library, shelf, monkeypatch):
    before = _by_first(albums.refresh_albums(library), shelf)
    assert set(before) == {"park_0", "lake_0", "beach_0"}
    shelf.add("lake_3", "lake", DAY.format(9, 40))
    shelf.add("city_0", "city", DAY.format(23, 0))
    shelf.add("city_1", "city", DAY.format(23, 5))
    spy = _Spy(monkeypatch)
    after = _by_first(albums.refresh_albums(library), shelf)
    assert spy.whole == 0
    assert after["lake_0"]["id"] == before["lake_0"]["id"]
    assert shelf.names(after["lake_0"]) == ["lake_0", "lake_1", "lake_2", "lake_3"]
    assert shelf.names(after["city_0"]) == ["city_0", "city_1"]
    assert after["city_0"]["title"] == "23 Mar 2024"
    assert after["park_0"] == before["park_0"] and after["beach_0"] == before["beach_0"]
    # Vectors read: the new clips, the lake album they reach (whole), and the clips
    # without a date (a dated clip may be a copy's original); never the park or the
    # beach clips, days away from every new clip.
    ids = shelf.ids
    assert {ids[n] for n in ("lake_3", "city_0", "city_1", "lake_0", "park_0_copy")} <= spy.read
    assert not spy.read & {ids[f"{p}_{i}"] for p in ("park", "beach") for i in range(3)}
    # Only the albums whose clips changed were retitled.
    assert spy.updated == {after["lake_0"]["id"], after["city_0"]["id"]}


def test_a_copy_without_a_date_joins_the_event_of_its_original(library, shelf, monkeypatch):
    before = _by_first(albums.refresh_albums(library), shelf)
    shelf.add("beach_1_copy", "beach", None, copy_of="beach_1")
    spy = _Spy(monkeypatch)
    after = _by_first(albums.refresh_albums(library), shelf)
    assert spy.whole == 0
    assert after["beach_0"]["id"] == before["beach_0"]["id"]
    assert "beach_1_copy" in shelf.names(after["beach_0"])
    assert spy.updated == {after["beach_0"]["id"]}


def test_a_new_clip_and_an_unsorted_clip_of_its_event_make_an_album(library, shelf,
                                                                     monkeypatch):
    albums.refresh_albums(library)
    assert album_store.unplaced_files(library) == {}  # the lone clip is known unsorted
    shelf.add("lone_2", "desert", DAY.format(20, 7))
    spy = _Spy(monkeypatch)
    after = _by_first(albums.refresh_albums(library), shelf)
    assert spy.whole == 0
    assert shelf.names(after["lone"]) == ["lone", "lone_2"]
    assert album_store.unplaced_files(library) == {}


def test_user_edits_stay_and_a_renamed_album_keeps_its_title_when_a_clip_joins(
        library, shelf, monkeypatch):
    found = _by_first(albums.refresh_albums(library), shelf)
    park, lake, beach = (found[n]["id"] for n in ("park_0", "lake_0", "beach_0"))
    albums.rename_album(library, lake, "Lake weekend")
    albums.remove_clip(library, park, shelf.ids["park_2"])
    albums.add_clip(library, beach, shelf.ids["lone"])
    edited = {a["id"]: a for a in albums.list_albums(library)}
    shelf.add("lake_3", "lake", DAY.format(9, 40))
    spy = _Spy(monkeypatch)
    now = {a["id"]: a for a in albums.refresh_albums(library)}
    assert spy.whole == 0
    assert now[lake]["title"] == "Lake weekend"
    assert shelf.names(now[lake]) == ["lake_0", "lake_1", "lake_2", "lake_3"]
    assert now[park] == edited[park] and now[beach] == edited[beach]
    assert "park_2" not in shelf.names(now[park])  # taken out by the user: not put back
    # park_2 (taken out) was placed again: it fits nothing else, and is left unsorted.
    assert all("park_2" not in shelf.names(a) for a in now.values())
    assert album_store.unplaced_files(library) == {}


def test_nothing_new_after_an_edit_rewrites_nothing(library, shelf, monkeypatch):
    found = _by_first(albums.refresh_albums(library), shelf)
    albums.rename_album(library, found["park_0"]["id"], "Rex")
    spy = _Spy(monkeypatch)
    now = albums.refresh_albums(library)
    assert spy.whole == 0 and spy.read == set() and spy.updated == set()
    assert _by_first(now, shelf)["park_0"]["title"] == "Rex"


def _events(shelf: Shelf, rng: np.random.Generator, day0: int, days: int, tag: str,
            places: str):
    """Clips of outings at five places on random days (one to four clips, minutes apart:
    a single one stays unsorted), and copies that lost their date."""
    for k in range(days):
        day = day0 + int(rng.integers(0, 8))
        place = f"{places}{k % 5}"
        for i in range(int(rng.integers(1, 5))):
            shelf.add(f"{tag}{k}_{i}", place, DAY.format(day, int(rng.integers(0, 50))))
        if rng.random() < 0.3:
            shelf.add(f"{tag}{k}_copy", place, None, copy_of=f"{tag}{k}_0")


def placed_both_ways(tmp_path, monkeypatch, seed: int, forget=lambda: None,
                     extra=lambda shelf: None, patch=lambda m, whole: (lambda lib: None)):
    """The albums listed after a scan, its new clips placed on their own
    (``_refresh_new``), then placing the whole library, each on its own library built
    from ``seed``. ``forget()`` runs between the first refresh and the scan, ``extra``
    adds clips to the scan, ``patch(m, whole)`` sets up the refresh and returns a check
    run on the library after it."""
    from app.store.library import Library
    found = []
    for whole in (False, True):
        lib = Library(tmp_path / f"{whole}.sqlite")
        shelf = Shelf(lib)
        rng = np.random.default_rng(seed)
        _events(shelf, rng, 1, 12, "old", "old")
        albums.refresh_albums(lib)
        forget()
        # A scan: more clips of the same days and places (some join, some do not, some
        # pair with a clip left unsorted), new outings, copies without a date.
        _events(shelf, rng, 4, 6, "more", "old")
        _events(shelf, rng, 10, 5, "new", "new")
        extra(shelf)
        with monkeypatch.context() as m:
            if whole:
                m.setattr(events, "_refresh_new", lambda *args: False)
            else:  # the share of new clips only chooses the cheaper way: here, always this
                m.setattr(events, "WHOLE_SHARE", 1.0)
            check = patch(m, whole)
            listing = albums.refresh_albums(lib)
            check(lib)
        found.append([(a["id"], a["title"], a["files"], a["cover"]) for a in listing])
        assert album_store.unplaced_files(lib) == {}
        lib.close()
    assert len(found[0]) > 3
    return found


@pytest.mark.parametrize("seed", range(6))
def test_placing_new_clips_equals_placing_the_whole_library(tmp_path, monkeypatch, seed):
    def patch(m, whole):
        spy = _Spy(m)

        def check(lib):
            assert spy.whole == int(whole)
        return check
    found = placed_both_ways(tmp_path, monkeypatch, seed, patch=patch)
    assert found[0] == found[1]
