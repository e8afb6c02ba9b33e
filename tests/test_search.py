"""Text search, similar clips and moments, watch history and recommendations.

Clips are generated (scikit-image photographs panned as a hand-held camera would, with
tones or spoken sentences) and indexed with the real models.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import wave
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app import cli
from app.core import search
from app.core.library.scanner import Scanner
from app.core.search import datequery, namematch, recommendations
from app.store import watches
from tests.media_factory import make_clip


def _photo(name: str) -> np.ndarray:
    from skimage import data
    img = getattr(data, name)()
    return np.ascontiguousarray(img[..., :3]) if img.ndim == 3 else np.stack([img] * 3, -1)


def _variant(picture: np.ndarray, flip: bool = False, crop: float = 0.9) -> np.ndarray:
    """Another shot of the same scene: a tighter framing, maybe from the other side."""
    h, w = picture.shape[:2]
    ch, cw = int(h * crop), int(w * crop)
    out = picture[h - ch:, :cw]
    return np.ascontiguousarray(out[:, ::-1] if flip else out)


def _scan(library, indexer, folder: Path) -> None:
    report = Scanner(library, indexer=indexer).scan([str(folder)])
    assert not report.failed, report.failed


def _names(results) -> list[str]:
    return [Path(r.path).name for r in results]


def _with_sound(path: Path, picture: np.ndarray, samples: np.ndarray, rate: int,
                seconds: float) -> Path:
    """A clip of ``picture`` with a given mono soundtrack (float32 in -1..1)."""
    fps, width, height = 25, 224, 168
    frame = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        a = out.add_stream("aac", rate=rate)
        a.layout = "mono"
        for i in range(int(seconds * fps)):
            vf = av.VideoFrame.from_ndarray(np.roll(frame, i, axis=1), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for packet in v.encode(vf):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
        samples = samples[:int(seconds * rate)].astype(np.float32)
        for start in range(0, len(samples), 1024):
            af = av.AudioFrame.from_ndarray(samples[start:start + 1024].reshape(1, -1),
                                            format="flt", layout="mono")
            af.sample_rate, af.pts, af.time_base = rate, start, Fraction(1, rate)
            for packet in a.encode(af):
                out.mux(packet)
        for packet in a.encode():
            out.mux(packet)
    return path


def _spoken(tmp_path: Path) -> tuple[np.ndarray, int]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    wav = tmp_path / "speech.wav"
    text = ("Good morning everyone, thank you for coming. Today we will talk about the "
            "garden, the weather and the plans for the summer holidays.")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True,
                   capture_output=True)
    with wave.open(str(wav)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    return pcm.astype(np.float32) / 32768.0, rate


# ---- pure parts: dates and names ----------------------------------------------------
def test_dates_in_queries():
    when, rest = datequery.extract("beach 9 Mar 2024")
    assert (when.year, when.month, when.day, rest) == (2024, 3, 9, "beach")
    when, rest = datequery.extract("March 2024")
    assert (when.year, when.month, when.day, rest) == (2024, 3, None, "")
    assert datequery.extract("2023")[0].year == 2023
    assert datequery.extract("party 2024-03-09")[0].day == 9
    assert datequery.extract("july 4th, 2021")[0] == datequery.DateQuery("july 4th, 2021",
                                                                         2021, 7, 4)
    # A month alone is a word ("march", "may"), not a date.
    assert datequery.extract("may") == (None, "may")
    assert datequery.extract("31 feb 2024")[0].day is None


def test_name_words_and_matching():
    assert namematch.words("GrandmasBirthday_2023-07") == ["grandma", "birthday", "2023", "07"]
    assert namematch.words("Été à Zürich") == ["ete", "zurich"]
    found = namematch.match(["beach", "party"], [("name", "beach_party")])
    assert found.score == 1.0 and found.matched == ["name: beach_party"]
    assert namematch.match(["tree"], [("name", "street_4")]).score == 0
    assert namematch.match(["beach"], [("folder", "beachday")]).score == 0.5
    assert namematch.match(namematch.words("Boxes"), [("album", "box")]).score == 1.0


def test_mmr_keeps_copies_of_one_scene_from_filling_the_list():
    rng = np.random.default_rng(0)
    scene_a, scene_b = rng.normal(size=(2, 64))
    copies = [scene_a + 0.05 * rng.normal(size=64) for _ in range(4)]
    vectors = np.stack([*copies, scene_b, rng.normal(size=64)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = np.array([0.90, 0.89, 0.88, 0.87, 0.80, 0.10], np.float32)
    picks = recommendations._mmr(vectors.astype(np.float32), relevance, np.ones(6, bool), 3)
    assert picks[0] == 0 and picks[1] == 4, picks  # the other scene before a second copy
    assert 5 not in recommendations._mmr(vectors.astype(np.float32), relevance, np.ones(6, bool), 5)


# ---- text search ------------------------------------------------------------------
@pytest.mark.models
def test_search_by_sound_word_name_and_date(tmp_path, library, real_indexer):
    folder = tmp_path / "videos"
    (folder / "Holidays").mkdir(parents=True)
    picture = _photo("grass")
    speech, rate = _spoken(tmp_path)
    _with_sound(folder / "a.mp4", picture, speech, rate, seconds=6)
    t = np.arange(6 * 48000) / 48000
    _with_sound(folder / "b.mp4", picture, 0.5 * np.sin(2 * np.pi * 2000 * t), 48000, 6)
    make_clip(folder / "grandmas_birthday.mp4", seconds=3, audio=None,
              scenes=[_photo("coffee")], creation_time="2021-07-04T12:00:00Z")
    make_clip(folder / "Holidays" / "c.mp4", seconds=3, audio=None,
              scenes=[_photo("rocket")], creation_time="2019-02-01T12:00:00Z")
    _scan(library, real_indexer, folder)

    spoken = search.search_text(library, "speech")
    assert _names(spoken)[0] == "a.mp4" and "sound: Speech" in spoken[0].why
    tone = search.search_text(library, "sine wave")
    assert _names(tone)[0] == "b.mp4" and any(w.startswith("sound:") for w in tone[0].why)
    assert 0 <= tone[0].start < tone[0].end <= 6.1

    named = search.search_text(library, "birthday")
    assert _names(named) == ["grandmas_birthday.mp4"]
    assert "name: grandmas_birthday" in named[0].why
    assert _names(search.search_text(library, "holidays"))[0] == "c.mp4"

    # Album titles a person gave count; titles made up by clustering do not.
    from app.store import albums
    ids = {Path(f["path"]).name: f["id"] for f in library.files()}
    mine = albums.insert_album(library, "Summer in Rome", "user")
    albums.set_member(library, mine, ids["a.mp4"], "user")
    auto = albums.insert_album(library, "Grass · 2021", "auto", auto_title="Grass · 2021")
    albums.set_member(library, auto, ids["b.mp4"], "auto")
    rome = search.search_text(library, "rome")
    assert _names(rome) == ["a.mp4"] and "album: Summer in Rome" in rome[0].why
    assert all("album: Grass · 2021" not in r.why for r in search.search_text(library, "grass"))

    for query in ("july 2021", "4 Jul 2021", "2021-07-04", "2021"):
        found = search.search_text(library, query)
        assert _names(found) == ["grandmas_birthday.mp4"], query
        assert found[0].why == ["date: 4 Jul 2021"]
    assert _names(search.search_text(library, "2019")) == ["c.mp4"]
    assert search.search_text(library, "2020") == []
    # A date with words: only clips of that day, the words ranking them.
    assert _names(search.search_text(library, "speech 2021")) == ["grandmas_birthday.mp4"]


# ---- similar ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scenes_library(tmp_path_factory, real_indexer) -> Path:
    """A folder, indexed into scenes.sqlite beside it. cat_1/cat_2: two shots of one
    scene; coffee, rocket: other scenes; cut: cat then coffee, 4 s each."""
    from app.store.library import Library
    folder = tmp_path_factory.mktemp("similar") / "scenes"
    folder.mkdir()
    cat, coffee, rocket = _photo("chelsea"), _photo("coffee"), _photo("rocket")
    make_clip(folder / "cat_1.mp4", seconds=4, width=224, height=168, scenes=[cat])
    make_clip(folder / "cat_2.mp4", seconds=4, width=224, height=168,
              scenes=[_variant(cat, flip=True)])
    make_clip(folder / "coffee.mp4", seconds=4, width=224, height=168, scenes=[coffee])
    make_clip(folder / "rocket.mp4", seconds=4, width=224, height=168, scenes=[rocket])
    make_clip(folder / "cut.mp4", seconds=8, width=224, height=168,
              scenes=[_variant(cat, crop=0.85), _variant(coffee, crop=0.85)])
    library = Library(folder.parent / "scenes.sqlite")
    _scan(library, real_indexer, folder)
    library.close()
    return folder


@pytest.fixture
def scenes_db(scenes_library):
    from app.store.library import Library
    library = Library(scenes_library.parent / "scenes.sqlite")
    yield library
    library.close()


@pytest.mark.models
def test_similar_ranks_the_same_scene_first(scenes_library, scenes_db):
    results = search.similar(scenes_db, str(scenes_library / "cat_1.mp4"))
    names = _names(results)
    assert "cat_1.mp4" not in names
    assert names.index("cat_2.mp4") < names.index("coffee.mp4")
    assert names.index("cat_2.mp4") < names.index("rocket.mp4")
    # The joined clip answers with its cat moment, not its coffee one.
    cut = results[names.index("cut.mp4")]
    assert cut.start < 1.0 and abs(cut.end - 4.0) < 0.6
    assert all(a.score >= b.score for a, b in zip(results, results[1:], strict=False))
    assert _names(search.similar(scenes_db, scenes_db.file(str(scenes_library / "cat_1.mp4"))["id"],
                                 limit=1)) == ["cat_2.mp4"]


@pytest.mark.models
def test_similar_to_a_video_outside_the_library(scenes_library, scenes_db, real_indexer, tmp_path):
    (tmp_path / "phone").mkdir()
    outside = make_clip(tmp_path / "phone" / "coffee_again.mp4", seconds=3, width=224, height=168,
                        scenes=[_variant(_photo("coffee"), flip=True, crop=0.8)])
    assert scenes_db.file(str(outside)) is None
    names = _names(search.similar(scenes_db, str(outside), indexer=real_indexer))
    assert names[0] == "coffee.mp4" and names[1] == "cut.mp4", names
    assert scenes_db.file(str(outside)) is None  # looked at, not added


@pytest.mark.models
def test_similar_at_a_moment_follows_that_moment(scenes_library, scenes_db):
    cut = str(scenes_library / "cut.mp4")
    assert _names(search.similar(scenes_db, cut, at=1.0))[0] in {"cat_1.mp4", "cat_2.mp4"}
    assert _names(search.similar(scenes_db, cut, at=6.0))[0] == "coffee.mp4"
    coffee = search.similar(scenes_db, str(scenes_library / "coffee.mp4"))
    moment = coffee[_names(coffee).index("cut.mp4")]
    assert abs(moment.start - 4.0) < 0.6 and moment.end > 7.5
    with pytest.raises(search.SearchError):
        search.similar(scenes_db, cut, at=60.0)


@pytest.mark.models
def test_similar_to_a_photo(scenes_library, scenes_db, real_models_dir, tmp_path):
    from app.inference.visual import VisualModel
    photo = tmp_path / "my cat.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(_variant(_photo("chelsea"), crop=0.8), cv2.COLOR_RGB2BGR))
    model = VisualModel(real_models_dir / "efficientnet_lite0.onnx")
    names = _names(search.similar(scenes_db, str(photo), visual_model=model))
    assert set(names[:2]) <= {"cat_1.mp4", "cat_2.mp4", "cut.mp4"}
    assert names.index("rocket.mp4") > 2
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    with pytest.raises(search.SearchError):
        search.similar(scenes_db, str(tmp_path / "bad.png"), visual_model=model)


# ---- watching and recommendations ----------------------------------------------------
@pytest.mark.models
def test_recommend_after_watching(tmp_path, library, real_indexer):
    folder = tmp_path / "rec"
    folder.mkdir()
    cat, coffee = _photo("chelsea"), _photo("coffee")
    for i, crop in enumerate((0.95, 0.9, 0.85, 0.8)):
        make_clip(folder / f"cat_{i}.mp4", seconds=3, width=224, height=168,
                  scenes=[_variant(cat, flip=bool(i % 2), crop=crop)])
    for i, crop in enumerate((0.95, 0.85)):
        make_clip(folder / f"coffee_{i}.mp4", seconds=3, width=224, height=168,
                  scenes=[_variant(coffee, crop=crop)])
    for name in ("rocket", "astronaut", "camera"):
        make_clip(folder / f"{name}.mp4", seconds=3, width=224, height=168,
                  scenes=[_photo(name)])
    _scan(library, real_indexer, folder)
    ids = {Path(f["path"]).name: f["id"] for f in library.files()}

    fresh = search.recommend(library, limit=3)  # no history: newest first, still a list
    assert len(fresh) == 3 and fresh[0].why == ["recent"]

    search.record_watch(library, ids["cat_0.mp4"], 3.0)
    search.record_watch(library, ids["cat_1.mp4"], 2.5)
    results = search.recommend(library, limit=10)
    names = _names(results)
    assert "cat_0.mp4" not in names and "cat_1.mp4" not in names
    assert set(names[:2]) == {"cat_2.mp4", "cat_3.mp4"}, names
    assert results[0].why[0] in {"like: cat_0.mp4", "like: cat_1.mp4"}

    # A history of two scenes: both show up at the top, not one scene's copies first.
    search.record_watch(library, ids["coffee_0.mp4"])
    top = _names(search.recommend(library, limit=2))
    assert {n.split("_")[0] for n in top} == {"cat", "coffee"}, top


def test_watch_history_is_recorded(library, tmp_path):
    from app.store.library import FileStat
    stat = FileStat(str(tmp_path / "x.mp4"), 10, 0.0, "f")
    library.record_problem(stat, None, "skipped", "test")
    file_id = library.file(stat.path)["id"]
    search.record_watch(library, file_id, 12.5)
    search.record_watch(library, file_id)
    history = watches.file_history(library, file_id)
    assert history["watches"] == 2 and history["seconds"] == 12.5
    assert watches.watched_files(library)[0]["file_id"] == file_id
    with pytest.raises(search.SearchError):
        search.record_watch(library, file_id, -1)


# ---- the CLI's JSON -----------------------------------------------------------------
@pytest.mark.models
def test_cli_search_similar_watched_recommend(capsys, scenes_library):
    lib = str(scenes_library.parent / "scenes.sqlite")

    def run(*argv) -> dict:
        assert cli.main(["--library", lib, *argv, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    cat = str(scenes_library / "cat_1.mp4")
    found = run("similar", cat, "--limit", "2")
    assert len(found["results"]) == 2
    assert set(found["results"][0]) == {"path", "start", "end", "score"}
    moment = run("similar", cat, "--at", "1.5")["results"][0]
    assert moment["end"] > moment["start"]
    watched = run("watched", cat, "--seconds", "4")
    assert watched == {"path": cat, "watches": 1, "seconds": 4.0}
    assert run("watched", cat)["watches"] == 2
    recommended = run("recommend", "--limit", "3")["results"]
    assert len(recommended) == 3 and cat not in {r["path"] for r in recommended}
    hits = run("search", "cat")["results"]
    assert {"path", "start", "end", "score", "why"} <= set(hits[0])
    assert cli.main(["--library", lib, "similar", str(scenes_library / "nope.mp4")]) == 1
