"""Auto-albums: clustering on content and time, titles, stability and the user's edits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app import cli
from app.core import albums
from app.core.albums import clustering as ac
from app.records import ClipIndex, FileStat
from app.store import albums as album_store

DIM = 64
DAY = "2024-03-{:02d}T12:{:02d}:00Z"  # noon UTC: the same date in any user's time zone


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


class Scenes:
    """Synthetic clip vectors: a shared component (pooled CNN features are never
    orthogonal), a direction per place, and a little per-clip noise."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.common = self.rng.normal(size=DIM)
        self.places: dict[str, np.ndarray] = {}

    def clip(self, place: str, noise: float = 0.25) -> np.ndarray:
        if place not in self.places:
            self.places[place] = self.rng.normal(size=DIM)
        return _unit(0.7 * self.common + self.places[place] + noise * self.rng.normal(size=DIM))


def _features(visual, times) -> ac.ClipFeatures:
    n = len(visual)
    t = np.array([ac.parse_time(x) for x in times], np.float64)
    return ac.ClipFeatures(np.arange(1, n + 1), np.asarray(visual, np.float32),
                           np.zeros((n, 0), np.float32), t)


def _groups(clusters, min_size=2):
    return sorted(sorted(c.rows) for c in clusters if len(c.rows) >= min_size)


# ---- clustering on synthetic vectors -------------------------------------------------
def test_two_events_days_apart_make_two_clusters_and_a_copy_joins_its_original():
    s = Scenes()
    visual = [s.clip("beach"), s.clip("beach"), s.clip("beach"),
              s.clip("kitchen"), s.clip("kitchen"), s.clip("kitchen")]
    times = [DAY.format(2, 0), DAY.format(2, 10), DAY.format(2, 25),
             DAY.format(9, 0), DAY.format(9, 3), DAY.format(9, 30)]
    # A copy of the first beach clip: it lost its creation time, only content links it.
    visual.append(_unit(visual[0] + 0.1 * s.rng.normal(size=DIM)))
    times.append(None)
    clusters = ac.cluster(_features(visual, times))
    assert _groups(clusters) == [[0, 1, 2, 6], [3, 4, 5]]


def test_time_splits_look_alike_days_and_joins_one_outing():
    s = Scenes(1)
    # One room on two different days: alike in content, apart in time.
    same_room = [s.clip("room", noise=0.5) for _ in range(4)]
    cos = float(same_room[0] @ same_room[2])
    assert 1 - cos < ac.THRESHOLD  # content alone would join them
    days = [DAY.format(2, 0), DAY.format(2, 5), DAY.format(20, 0), DAY.format(20, 5)]
    assert _groups(ac.cluster(_features(same_room, days))) == [[0, 1], [2, 3]]
    assert _groups(ac.cluster(_features(same_room, [None] * 4))) == [[0, 1, 2, 3]]

    # One outing: the camera turned from the car park to the sea, minutes apart. The two
    # pictures are less alike than the content threshold asks (cosine 0.4).
    car_park = np.eye(DIM)[0]
    sea = 0.4 * car_park + np.sqrt(1 - 0.16) * np.eye(DIM)[1]
    outing = [car_park, sea]
    assert _groups(ac.cluster(_features(outing, [DAY.format(5, 0), DAY.format(5, 3)]))) == [[0, 1]]
    assert _groups(ac.cluster(_features(outing, [None, None]))) == []
    assert _groups(ac.cluster(_features(outing, [DAY.format(5, 0), DAY.format(6, 0)]))) == []


def test_time_term_shape_and_trusted_times():
    gaps = np.array([10.0, ac.NEAR_GAP, ac.NEUTRAL_GAP, ac.FAR_GAP, 100 * ac.FAR_GAP])
    assert ac.time_term(gaps).tolist() == pytest.approx(
        [-ac.NEAR_BONUS, -ac.NEAR_BONUS, 0.0, ac.FAR_PENALTY, ac.FAR_PENALTY])
    assert np.isfinite(ac.trusted_time("2024-03-09T10:00:00Z"))
    assert np.isnan(ac.trusted_time("1980-01-01T00:00:00Z"))  # an unset camera clock
    assert np.isnan(ac.trusted_time("2999-01-01T00:00:00Z"))  # a clock in the future
    assert np.isnan(ac.trusted_time(None))


def test_missing_soundtrack_is_no_evidence_against_a_copy():
    s = Scenes(2)
    v = s.clip("garden")
    sound = _unit(s.rng.normal(size=32))
    f = ac.ClipFeatures(np.array([1, 2]), np.stack([v, v]).astype(np.float32),
                        np.stack([sound, np.zeros(32)]).astype(np.float32),
                        np.array([np.nan, np.nan]))
    assert ac.content_similarity(f, np.array([0]), np.array([1]))[0, 0] == pytest.approx(1.0)


def test_seeds_never_merge_and_exclusions_hold():
    s = Scenes(3)
    visual = [s.clip("park") for _ in range(5)]
    f = _features(visual, [None] * 5)
    seeds = [ac.Seed(10, [0, 1]), ac.Seed(11, [2]), ac.Seed(12, [], frozenset({3}))]
    clusters = {c.key: c.rows for c in ac.cluster(f, seeds)}
    assert clusters[10] != clusters[11] and {0, 1} <= set(clusters[10]) and 2 in clusters[11]
    assert sorted(r for rows in clusters.values() for r in rows) == [0, 1, 2, 3, 4]
    # Row 3 may join any album but 12 (which it was taken out of), and it does join one.
    assert 3 not in clusters.get(12, []) and any(3 in clusters.get(k, []) for k in (10, 11))
    excluded_everywhere = [ac.Seed(10, [0, 1], frozenset({4})), ac.Seed(11, [2], frozenset({4}))]
    alone = [c for c in ac.cluster(f, excluded_everywhere) if 4 in c.rows]
    assert alone[0].key is None


def test_average_linkage_matches_a_brute_force_run():
    s = Scenes(4)
    visual = [s.clip(p, noise=0.6) for p in "aabbbcccdd"]
    f = _features(visual, [None] * 10)
    got = _groups(ac.cluster(f), min_size=1)
    d = ac.distances(f, np.arange(10), np.arange(10))
    groups = [[i] for i in range(10)]
    while len(groups) > 1:
        pairs = [(d[np.ix_(a, b)].mean(), i, j) for i, a in enumerate(groups)
                 for j, b in enumerate(groups) if i < j]
        best, i, j = min(pairs)
        if best >= ac.THRESHOLD:
            break
        groups[i] += groups.pop(j)
    assert got == sorted(sorted(g) for g in groups)
    assert len(got) >= 3


# ---- titles --------------------------------------------------------------------------
def test_titles_use_a_confident_label_and_the_date():
    speech = [[("audio", "Speech", 0.85), ("audio", "Music", 0.1), ("visual", "candle", 0.2)],
              [("audio", "Speech", 0.8), ("visual", "mask", 0.1)]]
    assert albums.dominant_label(speech) == "Speech"
    unsure = [[("visual", "mobile home", 0.25)], [("visual", "mobile home", 0.3)]]
    assert albums.dominant_label(unsure) is None
    quiet = [[("audio", "Silence", 0.9)], [("audio", "Silence", 0.95)]]
    assert albums.dominant_label(quiet) is None
    # A sound heard in one clip of three does not name the album.
    one_voice = [[("audio", "Speech", 0.9)], [("visual", "tabby", 0.2)], [("visual", "tabby", 0.3)]]
    assert albums.dominant_label(one_voice) is None
    assert albums.dominant_label([[("audio", "Motor vehicle (road)", 0.7)]]) == "Motor vehicle"
    assert albums.dominant_label([[("visual", "golden retriever", 0.8)]]) == "Golden retriever"

    t = ac.parse_time
    assert albums.album_title(speech, t("2024-03-09T12:00:00Z"), t("2024-03-09T13:00:00Z")) \
        == "Speech \u00b7 9 Mar 2024"
    assert albums.album_title(unsure, t("2024-03-09T12:00:00Z"), t("2024-03-11T12:00:00Z")) \
        == "9\u201311 Mar 2024"
    assert albums.date_span(t("2024-03-30T12:00:00Z"), t("2024-04-02T12:00:00Z")) \
        == "30 Mar \u2013 2 Apr 2024"
    assert albums.date_span(t("2023-12-30T12:00:00Z"), t("2024-01-02T12:00:00Z")) \
        == "30 Dec 2023 \u2013 2 Jan 2024"


def test_album_span_ignores_copy_dates_when_a_clip_has_a_creation_time():
    rows = [{"created": "2024-03-09T12:00:00Z", "file_time": "2026-01-01T00:00:00Z"},
            {"created": None, "file_time": "2026-01-01T00:00:00Z"}]
    start, end = albums.album_span(rows)
    assert start == end == ac.parse_time("2024-03-09T12:00:00Z")
    only_files = [{"created": None, "file_time": "2022-05-01T12:00:00Z"}]
    assert albums.album_span(only_files)[0] == ac.parse_time("2022-05-01T12:00:00Z")


# ---- a library of synthetic clips ------------------------------------------------------
class Shelf:
    """Writes synthetic clips (vectors, labels, times) into a real library."""

    def __init__(self, lib):
        self.lib = lib
        self.scenes = Scenes(7)
        self.ids: dict[str, int] = {}

    def add(self, name: str, place: str, created: str | None, labels=(), copy_of=None):
        visual = self.scenes.clip(place) if copy_of is None else _unit(
            self.lib.clip(self.ids[copy_of])["visual"].astype(np.float32)
            + 0.1 * self.scenes.rng.normal(size=DIM))
        info = {"duration": 5.0, "width": 160, "height": 120, "fps": 25.0,
                "video_codec": "h264", "audio_codec": None, "has_audio": 0, "rotation": 0,
                "bitrate": 1000, "container": "mp4", "created": created}
        clip = ClipIndex(
            info=info, fused=visual, visual=visual, audio=None, visual_probs=np.zeros(1000),
            audio_scores=None, segments=[], frame_times=np.zeros(1, np.float32),
            frame_visual=visual[None], audio_times=None, audio_vectors=None,
            labels=[(k, i, lab, sc) for i, (k, lab, sc) in enumerate(labels)],
            poster=b"", strip=b"", strip_times=[])
        stat = FileStat(f"/videos/{name}.mp4", 1000, 1.7e9, name)
        self.ids[name] = self.lib.save_index(stat, None, clip)
        return self.ids[name]

    def names(self, album: dict) -> list[str]:
        return sorted(Path(p).stem for p in album["files"])

    @classmethod
    def weeks(cls, lib, places: tuple[str, ...], copy: bool = False) -> Shelf:
        """Three clips of each place on one day, a week apart from place to place
        (the 2nd, 9th, 16th...), optionally an undated copy of the first, and one lone
        clip of the desert on the 20th."""
        s = cls(lib)
        for i in range(3):
            for week, place in enumerate(places):
                s.add(f"{place}_{i}", place, DAY.format(2 + 7 * week, 10 * i))
        if copy:
            s.add(f"{places[0]}_0_copy", places[0], None, copy_of=f"{places[0]}_0")
        s.add("lone", "desert", DAY.format(20, 0))
        return s


@pytest.fixture
def shelf(library):
    s = Shelf(library)
    dog = [("visual", "golden retriever", 0.8)]
    for i in range(3):
        s.add(f"park_{i}", "park", DAY.format(2, 10 * i), labels=dog)
    for i in range(3):
        s.add(f"lake_{i}", "lake", DAY.format(9, 10 * i))
    s.add("park_0_copy", "park", None, labels=dog, copy_of="park_0")
    s.add("lone", "desert", DAY.format(20, 0))
    return s


def _by_first(found, shelf):
    return {shelf.names(a)[0]: a for a in found}


def test_refresh_groups_events_titles_them_and_leaves_a_lone_clip_unsorted(library, shelf):
    found = albums.refresh_albums(library)
    assert [shelf.names(a) for a in found] == [
        ["lake_0", "lake_1", "lake_2"], ["park_0", "park_0_copy", "park_1", "park_2"]]
    park = found[1]
    assert park["title"] == "Golden retriever \u00b7 2 Mar 2024"
    assert found[0]["title"] == "9 Mar 2024"
    assert park["start"] == "2024-03-02T12:00:00Z" and park["end"] == "2024-03-02T12:20:00Z"
    assert park["cover"] in park["files"]
    assert set(park) == {"id", "title", "files", "start", "end", "cover"}


def test_rerun_and_rebuild_keep_the_same_albums_and_ids(library, shelf):
    first = albums.refresh_albums(library)
    assert albums.refresh_albums(library) == first
    assert albums.refresh_albums(library, rebuild=True) == first


def test_new_clip_joins_the_album_it_fits(library, shelf):
    before = _by_first(albums.refresh_albums(library), shelf)
    shelf.add("lake_3", "lake", DAY.format(9, 40))
    shelf.add("city_0", "city", DAY.format(15, 0))
    shelf.add("city_1", "city", DAY.format(15, 5))
    after = _by_first(albums.refresh_albums(library), shelf)
    assert after["lake_0"]["id"] == before["lake_0"]["id"]
    assert "lake_3" in shelf.names(after["lake_0"])
    assert after["park_0"] == before["park_0"]
    assert shelf.names(after["city_0"]) == ["city_0", "city_1"]


def test_user_edits_survive_rerun_and_rebuild(library, shelf):
    found = _by_first(albums.refresh_albums(library), shelf)
    park, lake = found["park_0"]["id"], found["lake_0"]["id"]
    albums.rename_album(library, park, "Rex in the park")
    albums.remove_clip(library, park, shelf.ids["park_2"])
    albums.add_clip(library, lake, shelf.ids["lone"])
    mine = albums.create_album(library, "Favourites", [shelf.ids["lake_2"]])
    for rebuild in (False, True, True):
        now = {a["id"]: a for a in albums.refresh_albums(library, rebuild=rebuild)}
        assert now[park]["title"] == "Rex in the park"
        assert "park_2" not in shelf.names(now[park])  # the exclusion holds
        assert {"park_0", "park_0_copy", "park_1"} <= set(shelf.names(now[park]))
        assert shelf.names(now[lake]) == ["lake_0", "lake_1", "lone"]
        assert now[mine["id"]]["title"] == "Favourites"
        assert shelf.names(now[mine["id"]]) == ["lake_2"]
        assert len(now) == 3  # park_2, out of its album, fits no other one: unsorted


def test_rebuild_never_folds_a_renamed_album_into_another(library, shelf):
    found = _by_first(albums.refresh_albums(library), shelf)
    lake = found["lake_0"]["id"]
    albums.rename_album(library, lake, "Lake weekend")
    # Re-indexed by a newer recipe, the lake clips now look like the park: a rebuild
    # clusters them with the park clips, and that cluster goes to the bigger park album.
    for i in range(3):
        shelf.add(f"lake_{i}", "park", DAY.format(2, 30 + i))
    now = {a["id"]: a for a in albums.refresh_albums(library, rebuild=True)}
    assert now[lake]["title"] == "Lake weekend"
    assert shelf.names(now[lake]) == ["lake_0", "lake_1", "lake_2"]
    park = found["park_0"]["id"]
    assert shelf.names(now[park]) == ["park_0", "park_0_copy", "park_1", "park_2"]


def test_merge_and_delete_stick(library, shelf):
    found = _by_first(albums.refresh_albums(library), shelf)
    park, lake = found["park_0"]["id"], found["lake_0"]["id"]
    merged = albums.merge_albums(library, park, lake)
    assert merged["id"] == park and len(merged["files"]) == 7
    assert merged["title"] == "2\u20139 Mar 2024"  # no label all clips agree on
    for rebuild in (False, True):
        now = albums.refresh_albums(library, rebuild=rebuild)
        assert [a["id"] for a in now] == [park] and len(now[0]["files"]) == 7
    albums.delete_album(library, park)
    for rebuild in (False, True):
        assert albums.refresh_albums(library, rebuild=rebuild) == []
    with pytest.raises(albums.AlbumError):
        albums.rename_album(library, park, "gone")


def test_a_clip_is_in_one_album_at_a_time(library, shelf):
    found = _by_first(albums.refresh_albums(library), shelf)
    park, lake = found["park_0"]["id"], found["lake_0"]["id"]
    albums.add_clip(library, lake, shelf.ids["park_1"])
    now = _by_first(albums.refresh_albums(library, rebuild=True), shelf)
    assert "park_1" in shelf.names(now["lake_0"]) and "park_1" not in shelf.names(now["park_0"])
    state = album_store.load(library)
    owners = [a for a, m in state.members.items() if shelf.ids["park_1"] in m]
    assert owners == [lake] and shelf.ids["park_1"] in state.exclusions[park]


def test_user_operations_refuse_bad_input(library, shelf):
    found = _by_first(albums.refresh_albums(library), shelf)
    park = found["park_0"]["id"]
    with pytest.raises(albums.AlbumError):
        albums.rename_album(library, park, "  ")
    with pytest.raises(albums.AlbumError):
        albums.merge_albums(library, park, park)
    with pytest.raises(albums.AlbumError):
        albums.remove_clip(library, park, shelf.ids["lake_0"])
    with pytest.raises(albums.AlbumError):
        albums.create_album(library, "Empty", [])
    with pytest.raises(albums.AlbumError):
        albums.add_clip(library, 9999, shelf.ids["lake_0"])


def test_missing_clips_leave_the_listing_but_keep_their_album(library, shelf):
    found = _by_first(albums.refresh_albums(library), shelf)
    library.mark([shelf.ids["lake_0"]], "missing")
    now = _by_first(albums.refresh_albums(library, rebuild=True), shelf)
    assert now["lake_1"]["id"] == found["lake_0"]["id"]
    assert shelf.names(now["lake_1"]) == ["lake_1", "lake_2"]
    library.mark([shelf.ids["lake_0"]], "present")
    assert _by_first(albums.refresh_albums(library), shelf)["lake_0"] == found["lake_0"]


# ---- command line ----------------------------------------------------------------------
def _cli(capsys, *argv):
    code = cli.main(list(argv))
    return code, capsys.readouterr()


def test_cli_albums_json_and_user_actions(capsys, library, shelf):
    lib = str(library.path)
    code, out = _cli(capsys, "--library", lib, "albums", "--json")
    data = json.loads(out.out)
    assert code == 0 and len(data["albums"]) == 2
    assert all(set(a) == {"id", "title", "files", "start", "end", "cover"} for a in data["albums"])
    park = next(a for a in data["albums"] if "/videos/park_0.mp4" in a["files"])

    code, out = _cli(capsys, "--library", lib, "albums", "rename", str(park["id"]), "Dog days",
                     "--json")
    assert code == 0 and json.loads(out.out)["album"]["title"] == "Dog days"
    # Files are named by path; this one is not in the library.
    code, out = _cli(capsys, "--library", lib, "albums", "remove", str(park["id"]),
                     "/videos/nowhere.mp4")
    assert code == 1 and "not in the library" in out.err
    code, out = _cli(capsys, "--library", lib, "albums", "--json", "delete", "12345")
    assert code == 1 and "no album 12345" in out.err

    code, out = _cli(capsys, "--library", lib, "albums", "--rebuild", "--json")
    titles = [a["title"] for a in json.loads(out.out)["albums"]]
    assert code == 0 and "Dog days" in titles


def test_cli_create_add_remove_merge(capsys, library, shelf):
    lib = str(library.path)
    code, out = _cli(capsys, "--library", lib, "albums", "create", "Mix",
                     "/videos/lone.mp4", "/videos/lake_0.mp4", "--json")
    mix = json.loads(out.out)["album"]
    assert code == 0 and sorted(mix["files"]) == ["/videos/lake_0.mp4", "/videos/lone.mp4"]
    code, out = _cli(capsys, "--library", lib, "albums", "remove", str(mix["id"]),
                     "/videos/lone.mp4", "--json")
    assert json.loads(out.out)["album"]["files"] == ["/videos/lake_0.mp4"]
    code, out = _cli(capsys, "--library", lib, "albums", "add", str(mix["id"]),
                     "/videos/lake_1.mp4", "--json")
    assert len(json.loads(out.out)["album"]["files"]) == 2
    listed = json.loads(_cli(capsys, "--library", lib, "albums", "--json")[1].out)["albums"]
    # The user's album grows with the clip that fits it, never with the one taken out.
    mix = next(a for a in listed if a["id"] == mix["id"])
    assert sorted(mix["files"]) == [f"/videos/lake_{i}.mp4" for i in range(3)]
    park = next(a for a in listed if "/videos/park_0.mp4" in a["files"])
    code, out = _cli(capsys, "--library", lib, "albums", "merge", str(mix["id"]),
                     str(park["id"]), "--json")
    merged = json.loads(out.out)["album"]
    assert code == 0 and sorted(merged["files"]) == sorted(mix["files"] + park["files"])
    code, out = _cli(capsys, "--library", lib, "albums", "delete", str(mix["id"]), "--json")
    assert code == 0 and json.loads(out.out) == {"deleted": mix["id"]}
    assert json.loads(_cli(capsys, "--library", lib, "albums", "--json")[1].out) == {"albums": []}


# ---- real media, real models -------------------------------------------------------------
@pytest.mark.models
def test_generated_events_with_real_models(tmp_path, library, real_indexer):
    from skimage import data

    from app.core.library.scanner import Scanner
    from tests.media_factory import make_clip

    folder = tmp_path / "videos"
    folder.mkdir()
    cat, coffee = data.chelsea(), data.coffee()

    def left(img):
        return img[:, : img.shape[1] * 3 // 4]

    def right(img):
        return img[:, img.shape[1] // 4:]

    size = {"seconds": 3, "width": 224, "height": 224}
    make_clip(folder / "cat_1.mp4", scenes=[left(cat)], creation_time="2023-05-01T12:00:00Z", **size)
    make_clip(folder / "cat_2.mp4", scenes=[right(cat)], creation_time="2023-05-01T12:05:00Z",
              tone_hz=1500, **size)
    # A smaller re-encode without a creation time: content alone must place it.
    make_clip(folder / "cat_1_small.mp4", scenes=[left(cat)], seconds=3, width=160, height=160)
    make_clip(folder / "coffee_1.mp4", scenes=[left(coffee)], audio="silence",
              creation_time="2023-05-03T12:00:00Z", **size)
    make_clip(folder / "coffee_2.mp4", scenes=[right(coffee)], audio="silence",
              creation_time="2023-05-03T12:04:00Z", **size)
    report = Scanner(library, indexer=real_indexer).scan([folder])
    assert len(report.indexed) == 5

    found = albums.refresh_albums(library)
    groups = sorted(sorted(Path(p).name for p in a["files"]) for a in found)
    assert groups == [["cat_1.mp4", "cat_1_small.mp4", "cat_2.mp4"],
                      ["coffee_1.mp4", "coffee_2.mp4"]]
    titles = {Path(a["files"][0]).name[:3]: a["title"] for a in found}
    assert titles["cat"].endswith("1 May 2023") and titles["cof"].endswith("3 May 2023")
    assert albums.refresh_albums(library, rebuild=True) == found
