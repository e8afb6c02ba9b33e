"""Places in the library: GPS read during scans (both phone tag styles), info, search,
trips in albums, the user's corrections and named spots, the metadata-only pass."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app import cli
from app.core.albums import trips
from app.core.albums.clustering import Cluster
from app.core.library import places as lib_places
from app.core.library.places import ClipPlace
from app.core.library.scanner import Scanner
from app.core.places import Place
from app.core.search import placequery, search_text
from app.gui.window import SIDEBAR
from app.store.library import Library
from tests.app_window import open_window
from tests.media_factory import make_clip

PARIS = (48.8584, 2.2945)      # the Eiffel Tower
PARIS_2 = (48.8606, 2.3376)    # the Louvre
BERLIN = (52.5200, 13.4050)
TOKYO = (35.6595, 139.7005)    # Shibuya crossing


def _iso6709(lat: float, lon: float, alt: float | None = None) -> str:
    text = f"{lat:+08.4f}{lon:+09.4f}"
    return text + (f"{alt:+08.3f}" if alt is not None else "") + "/"


def android(folder, name, when, where, **kw):
    """An Android-style clip: the ``location`` key (the ©xyz/loci atom), as MP4."""
    meta = {"location": _iso6709(*where)} if where else {}
    return make_clip(folder / name, creation_time=when, metadata=meta, seconds=1.5, **kw)


def iphone(folder, name, when, where, **kw):
    """An iPhone-style clip: the Apple mdta key with altitude, as QuickTime."""
    return make_clip(folder / name, creation_time=when, seconds=1.5,
                     metadata={"com.apple.quicktime.location.ISO6709": _iso6709(*where, 35.0)},
                     options={"movflags": "use_metadata_tags"}, **kw)


def run(capsys, *argv) -> dict:
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


# --- a library shot at home (Berlin), on a trip to Paris, and in Tokyo --------------------

@pytest.fixture(scope="module")
def shot(tmp_path_factory, real_indexer):
    folder = tmp_path_factory.mktemp("places") / "videos"
    folder.mkdir()
    red, blue, green = (220, 40, 40), (40, 40, 220), (40, 200, 60)
    for k, day in enumerate((1, 3, 8, 10, 17, 22, 29)):  # home: seven days in June
        android(folder, f"VID_202406{day:02d}_090000.mp4", f"2024-06-{day:02d}T09:00:00Z",
                (BERLIN[0] + k * 1e-3, BERLIN[1]), pattern="square", color=green)
    trip = [
        android(folder, "VID_20240714_101500.mp4", "2024-07-14T10:15:00Z", PARIS,
                pattern="square", color=red),
        android(folder, "VID_20240714_150000.mp4", "2024-07-14T15:00:00Z", PARIS_2,
                pattern="noise", audio=None),
        iphone(folder, "IMG_1234.MOV", "2024-07-15T12:00:00Z", PARIS_2, pattern="moving"),
        android(folder, "VID_20240716_180000.mp4", "2024-07-16T18:00:00Z", PARIS,
                pattern="square", color=blue),
    ]
    tokyo = [iphone(folder, "IMG_2000.MOV", "2023-04-02T03:00:00Z", TOKYO, pattern="moving"),
             iphone(folder, "IMG_2001.MOV", "2023-04-02T07:00:00Z", TOKYO, pattern="noise")]
    nowhere = android(folder, "VID_20240801_120000.mp4", "2024-08-01T12:00:00Z", None)
    juice = android(folder, "orange_juice.mp4", "2024-08-02T12:00:00Z", None)
    lib_path = folder.parent / "library.sqlite"
    lib = Library(lib_path)
    report = Scanner(lib, indexer=real_indexer).scan([folder])
    lib.close()
    assert not report.failed and len(report.indexed) == 15
    return {"lib": lib_path, "trip": [str(p) for p in trip], "tokyo": [str(p) for p in tokyo],
            "nowhere": str(nowhere), "juice": str(juice), "folder": folder}


@pytest.mark.models
def test_info_has_the_place(shot, capsys):
    android_clip = run(capsys, "--library", shot["lib"], "info", shot["trip"][0], "--json")
    assert android_clip["place"]["name"] == "Paris"
    assert android_clip["place"]["region"] == "Île-de-France"
    assert android_clip["place"]["country"] == "France"
    assert android_clip["place"]["lat"] == pytest.approx(PARIS[0], abs=1e-4)
    assert android_clip["place"]["lon"] == pytest.approx(PARIS[1], abs=1e-4)
    apple_clip = run(capsys, "--library", shot["lib"], "info", shot["tokyo"][0], "--json")
    assert (apple_clip["place"]["name"], apple_clip["place"]["country"]) == ("Tokyo", "Japan")
    assert run(capsys, "--library", shot["lib"], "info", shot["nowhere"], "--json")["place"] is None


@pytest.mark.models
def test_places_lists_counts_and_files(shot, capsys):
    found = run(capsys, "--library", shot["lib"], "places", "--json")["places"]
    counts = {p["name"]: p["count"] for p in found}
    assert counts == {"Berlin": 7, "Paris": 4, "Tokyo": 2}
    paris = next(p for p in found if p["name"] == "Paris")
    assert paris["files"] == sorted(shot["trip"]) and paris["country"] == "France"


@pytest.mark.models
def test_search_by_place(shot):
    lib = Library(shot["lib"], readonly=True)
    try:
        paris = search_text(lib, "paris")
        assert sorted(r.path for r in paris) == sorted(shot["trip"])
        assert all("place: Paris" in r.why for r in paris)
        dated = search_text(lib, "paris 2024")
        assert sorted(r.path for r in dated) == sorted(shot["trip"])
        assert all("place: Paris" in r.why and any(w.startswith("date: ") for w in r.why)
                   for r in dated)
        assert sorted(r.path for r in search_text(lib, "tokyo")) == sorted(shot["tokyo"])
        assert sorted(r.path for r in search_text(lib, "tokio")) == sorted(shot["tokyo"])
        assert sorted(r.path for r in search_text(lib, "japan")) == sorted(shot["tokyo"])
        assert search_text(lib, "tokyo 2024") == []  # the Tokyo clips are from 2023
        assert sorted(r.path for r in search_text(lib, "paris 15 jul 2024")) == [shot["trip"][2]]
        # "orange" names a town in France, but no clip was shot there: it stays a word
        # for labels and names, and the file named after it is found.
        ids = np.array(sorted(f["id"] for f in lib.files()), np.int64)
        assert placequery.extract(lib, ids, "orange")[0] is None
        orange = search_text(lib, "orange")
        assert shot["juice"] in [r.path for r in orange]
        assert not any(w.startswith("place:") for r in orange for w in r.why)
    finally:
        lib.close()


@pytest.mark.models
def test_a_query_naming_no_place_never_reads_the_clips_places(shot, monkeypatch):
    """Words no spot and no place in the geocoder is called are not looked for among the
    clips' places (a read that grows with the library); a place word still is."""
    read = []
    real = placequery.clip_places
    monkeypatch.setattr(placequery, "clip_places",
                        lambda lib, *a, **kw: read.append(1) or real(lib, *a, **kw))
    lib = Library(shot["lib"], readonly=True)
    try:
        ids = np.array(sorted(f["id"] for f in lib.files()), np.int64)
        assert placequery.extract(lib, ids, "birthday cake") == (None, "birthday cake")
        assert placequery.extract(lib, ids, "juice")[0] is None
        assert read == []
        paris, rest = placequery.extract(lib, ids, "paris juice")
        assert read == [1] and rest == "juice"
        assert sorted(lib.file_by_id(int(ids[r]))["path"] for r in np.flatnonzero(paris.at)) \
            == sorted(shot["trip"])
    finally:
        lib.close()


@pytest.mark.models
def test_a_trip_is_one_album_titled_by_place_and_dates(shot, capsys):
    albums = run(capsys, "--library", shot["lib"], "albums", "--json")["albums"]
    trip = [a for a in albums if set(shot["trip"]) & set(a["files"])]
    # Four clips that look nothing alike, over three days: one trip.
    assert len(trip) == 1 and sorted(trip[0]["files"]) == sorted(shot["trip"])
    assert trip[0]["title"] == "Paris \u00b7 14\u201316 Jul 2024"
    tokyo = [a for a in albums if set(shot["tokyo"]) & set(a["files"])]
    # One day in one city: one event although the clips look different; not a trip.
    assert len(tokyo) == 1 and sorted(tokyo[0]["files"]) == sorted(shot["tokyo"])
    assert "Tokyo" in tokyo[0]["title"] and tokyo[0]["title"].endswith("2 Apr 2023")
    rebuilt = run(capsys, "--library", shot["lib"], "albums", "--rebuild", "--json")["albums"]
    assert {a["title"] for a in rebuilt} >= {trip[0]["title"], tokyo[0]["title"]}


# --- the user's places survive rescans; spots name later clips ----------------------------

@pytest.fixture
def small(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    first = android(folder, "VID_20240301_100000.mp4", "2024-03-01T10:00:00Z", PARIS)
    second = iphone(folder, "IMG_0001.MOV", "2024-03-01T11:00:00Z", TOKYO, pattern="moving")
    return folder, str(first), str(second)


@pytest.mark.models
def test_named_spot_correction_and_rescan(small, library, real_indexer, capsys):
    folder, first, second = small
    scan = Scanner(library, indexer=real_indexer).scan([folder])
    assert len(scan.indexed) == 2
    lib = str(library.path)
    library.close()
    spot = run(capsys, "--library", lib, "place", "name", "Grandma's house", "48.8586",
               "2.2948", "--radius", "200", "--json")["spot"]
    assert spot["name"] == "Grandma's house" and spot["radius_m"] == 200
    assert run(capsys, "--library", lib, "info", first, "--json")["place"]["name"] == \
        "Grandma's house"
    # A later clip near the spot gets the name too.
    later = android(folder, "VID_20240420_100000.mp4", "2024-04-20T10:00:00Z",
                    (48.8589, 2.2951), pattern="noise")
    reopened = Library(lib)
    Scanner(reopened, indexer=real_indexer).scan([folder])
    found = search_text(reopened, "grandma")
    assert sorted(r.path for r in found) == sorted([first, str(later)])
    assert all("place: Grandma's house" in r.why for r in found)
    reopened.close()
    assert run(capsys, "--library", lib, "info", str(later), "--json")["place"]["city"] == "Paris"
    # The Tokyo clip was really shot in Kyoto: the correction survives a rescan, and a
    # re-index of the changed file.
    fixed = run(capsys, "--library", lib, "place", "set", second, "35.0116", "135.7681",
                "--json")["place"]
    assert (fixed["name"], fixed["source"]) == ("Kyoto", "user")
    by_name = run(capsys, "--library", lib, "place", "set", str(later), "Tokyo", "--json")
    assert by_name["place"]["name"] == "Tokyo"
    st = os.stat(second)
    os.utime(second, (st.st_atime, st.st_mtime + 10))
    reopened = Library(lib)
    again = Scanner(reopened, indexer=real_indexer).scan([folder])
    assert again.changes["updated"] == 1
    reopened.close()
    assert run(capsys, "--library", lib, "info", second, "--json")["place"]["name"] == "Kyoto"
    # Clear: no place at all, kept by rescans; --reset: the file's own location again.
    assert run(capsys, "--library", lib, "place", "clear", second, "--json")["place"] is None
    reopened = Library(lib)
    Scanner(reopened, indexer=real_indexer).scan([folder])
    reopened.close()
    assert run(capsys, "--library", lib, "info", second, "--json")["place"] is None
    back = run(capsys, "--library", lib, "place", "clear", second, "--reset", "--json")
    assert back["place"]["name"] == "Tokyo" and back["place"]["source"] == "file"
    # A spot named from a clip's place.
    like = run(capsys, "--library", lib, "place", "name", "Crossing", "--like", second,
               "--json")["spot"]
    assert (like["lat"], like["lon"]) == pytest.approx(TOKYO, abs=1e-4)
    assert run(capsys, "--library", lib, "info", second, "--json")["place"]["name"] == "Crossing"


@pytest.mark.models
def test_orange_is_a_place_only_where_clips_were_shot(small, library, real_indexer):
    folder, first, _ = small
    juice = android(folder, "orange_juice.mp4", "2024-05-01T10:00:00Z", None)
    Scanner(library, indexer=real_indexer).scan([folder])
    ids = np.array(sorted(f["id"] for f in library.files()), np.int64)
    assert placequery.extract(library, ids, "orange")[0] is None
    lib_places.set_place(library, library.file(first)["id"], 44.1381, 4.8075)  # Orange, France
    where, rest = placequery.extract(library, ids, "orange",
                                     lambda phrase: 1.0 if phrase == "orange" else 0.0)
    # Orange is also a picture label ("orange" the fruit): the place adds its clips, the
    # word still goes to labels and names.
    assert where is not None and where.soft and rest == "orange"
    found = search_text(library, "orange")
    assert {r.path for r in found} == {first, str(juice)}
    assert "place: Orange" in next(r.why for r in found if r.path == first)


@pytest.mark.models
def test_metadata_only_pass_on_a_library_indexed_before_places(small, library, real_indexer):
    folder, first, second = small
    Scanner(library, indexer=real_indexer).scan([folder])
    # As a library indexed before places existed: no location, never read.
    library.conn.execute("UPDATE files SET lat = NULL, lon = NULL, location_read = NULL, "
                         "geoname_id = NULL, geo_version = NULL")
    assert lib_places.clip_places(library) == {}

    def no_decode(path):
        raise AssertionError(f"{path} was decoded again")

    again = Scanner(library, indexer=real_indexer, prepare=no_decode).scan([folder])
    assert again.changes["unchanged"] == 2 and again.changes["located"] == 2
    assert not again.failed and "locate_s" in again.stages
    got = {cp.path: cp.name for cp in lib_places.clip_places(library).values()}
    assert got == {first: "Paris", second: "Tokyo"}
    once = Scanner(library, indexer=real_indexer, prepare=no_decode).scan([folder])
    assert once.changes["located"] == 0 and once.stages == {}


def test_a_file_that_cannot_be_opened_is_located_as_nowhere(library, tmp_path):
    from app.records import FileStat
    from app.store import places as store
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    library.record_problem(FileStat(str(bad), 18, 1.0, "x"), None, "failed", "test")
    library.conn.execute("UPDATE files SET status = 'indexed'")
    file_id = library.file(str(bad))["id"]
    stats = lib_places.locate_unread(library, [file_id])
    assert stats == {"read": 1, "located": 0, "failed": 1}
    assert store.files_to_locate(library, [file_id]) == []  # read once, not again


# --- the place rules on their own (no models) ---------------------------------------------

def _cp(file_id, lat, lon, when, city=None, country="France"):
    place = Place(city, "", country, "FR", lat, lon, 1000, hash(city) % 10**6) if city else None
    return ClipPlace(file_id, f"/v/{file_id}.mp4", lat, lon, "file", None, place, when, when)


def _t(text):
    from app.core.albums.clustering import trusted_time
    return trusted_time(text)


def test_trip_rules():
    home = [_cp(i, BERLIN[0], BERLIN[1], f"2024-06-{i:02d}T09:00:00Z", "Berlin", "Germany")
            for i in range(1, 8)]
    away = [_cp(10, *PARIS, "2024-07-14T10:00:00Z", "Paris"),
            _cp(11, *PARIS_2, "2024-07-14T16:00:00Z", "Paris"),
            _cp(12, *PARIS, "2024-07-16T10:00:00Z", "Paris"),
            _cp(13, *PARIS, "2024-09-01T10:00:00Z", "Paris")]   # another, one-day visit
    by_file = {cp.file_id: cp for cp in home + away}
    homes = trips.home_bases(by_file)
    assert len(homes) == 1 and homes[0][0] == pytest.approx(BERLIN[0], abs=0.01)
    ids = np.array(sorted(by_file), np.int64)
    times = np.array([_t(by_file[int(f)].created) for f in ids])
    groups = trips.place_groups(ids, times, by_file, homes)
    rows = {int(f): r for r, f in enumerate(ids)}
    as_files = sorted(sorted(int(ids[r]) for r in g) for g in groups)
    assert [10, 11] in as_files            # one day, one city
    assert [10, 11, 12] in as_files        # the trip (a day without clips inside)
    assert not any(13 in g for g in as_files)
    # Clusters of one clip each join into the trip; an album (seed) keeps its id and
    # never merges with another album; a clip the user took out stays out.
    singles = [Cluster(None, [r]) for r in range(len(ids))]
    joined = trips.join(singles, groups)
    trip = next(c for c in joined if rows[10] in c.rows)
    assert sorted(trip.rows) == sorted([rows[10], rows[11], rows[12]]) and trip.key is None
    seeded = [Cluster(7, [rows[10]]), Cluster(8, [rows[12]]), Cluster(None, [rows[11]])]
    out = trips.join(seeded, groups, {7: frozenset({rows[11]})})
    assert {c.key for c in out} == {7, 8, None}
    assert next(c for c in out if c.key is None).rows == [rows[11]]
    assert trips.is_trip(away[:3], homes) and not trips.is_trip(home, homes)
    assert trips.place_name(away) == "Paris"
    assert trips.place_name([_cp(1, 0.1, 0.1, None, "Lyon"), _cp(2, 0.2, 0.2, None, "Nice"),
                             _cp(3, 0.3, 0.3, None, "Paris")]) == "France"


def test_without_locations_nothing_changes():
    clusters = [Cluster(None, [0, 2]), Cluster(3, [1])]
    ids = np.array([1, 2, 3], np.int64)
    times = np.array([_t("2024-01-01T00:00:00Z")] * 3)
    groups = trips.place_groups(ids, times, {}, [])
    assert groups == [] and trips.join(clusters, groups) is clusters
    assert trips.home_bases({}) == [] and trips.place_name([]) is None


def test_place_commands_refuse_bad_input(library, tmp_path, capsys):
    library.close()
    code = cli.main(["--library", str(library.path), "place", "name", "Nowhere", "0", "0"])
    assert code == 1 and "not a place" in capsys.readouterr().err
    code = cli.main(["--library", str(library.path), "place", "name", "Nowhere"])
    assert code == 1 and "LAT LON or --like" in capsys.readouterr().err
    code = cli.main(["--library", str(library.path), "place", "set", str(tmp_path / "x.mp4"),
                     "Paris"])
    assert code == 1 and "not in the library" in capsys.readouterr().err


def test_copy_of_a_located_file_keeps_its_location(library, tmp_path):
    from app.records import ClipIndex, FileStat
    from app.store import places as store
    info = {"duration": 1.0, "lat": PARIS[0], "lon": PARIS[1]}
    clip = ClipIndex(info, np.ones(4), np.ones(4), None, np.ones(4), None, [], np.zeros(1),
                     np.ones((1, 4)), None, None, [], b"p", b"s", [0.0])
    a = library.save_index(FileStat(str(tmp_path / "a.mp4"), 1, 1.0, "f"), None, clip, 3)
    b = library.copy_index(a, FileStat(str(tmp_path / "b.mp4"), 1, 1.0, "f"), None)
    rows = {r.file_id: (r.lat, r.lon) for r in store.locations(library)}
    assert rows == {a: PARIS, b: PARIS}


@pytest.mark.models
def test_places_page_and_the_place_in_the_detail_pane(shot, qtbot):
    w = open_window(qtbot, shot["lib"])
    try:
        with qtbot.waitSignal(w.places_view.loaded, timeout=30_000):
            w.show_page("places")
        tree = w.places_view.tree
        tops = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
        assert [(t.text(0), t.text(2)) for t in tops] == [("Berlin", "7"), ("Paris", "4"),
                                                          ("Tokyo", "2")]
        assert tops[1].text(1) == "Île-de-France, France"
        clip = tops[1].child(0)
        tree.setCurrentItem(clip)
        assert w.detail.row["path"] == clip.data(0, Qt.UserRole + 1)
        qtbot.waitUntil(lambda: w.detail.fact_values["Place"].text() != "", timeout=10_000)
        assert w.detail.fact_values["Place"].text() == "Paris, Île-de-France, France"
        assert w.sidebar.item([k for k, _ in SIDEBAR].index("places")).text().endswith("3")
    finally:
        w.detail.player.close_media()
        w.close()
