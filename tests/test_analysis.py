"""Picture analysis: colours in words, face tracks, windows joined, the real models on
generated frames, the rows in the library, and what ``info`` and ``tags`` show of them."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data

from app import cli
from app.core.indexing import analysis
from app.core.indexing.analysis import (
    FaceSighting,
    FrameAnalysis,
    FrameLook,
    FrameText,
    ObjectSighting,
    box_colour,
    colour_shares,
    link_tracks,
)
from app.records import FileStat
from app.store import analysis as rows
from app.store import trash as trash_rows
from tests.test_store import _clip

W, H = 960, 540


def _grey(level: int = 128) -> np.ndarray:
    return np.full((H, W, 3), level, np.uint8)


def _yellow_box() -> np.ndarray:
    frame = _grey()
    cv2.rectangle(frame, (300, 150), (660, 390), (250, 210, 20), -1)
    return frame


def _black_cup() -> np.ndarray:
    """A dark mug with a handle on a white table."""
    frame = np.full((H, W, 3), 235, np.uint8)
    cv2.rectangle(frame, (380, 180), (560, 420), (22, 22, 26), -1)
    cv2.ellipse(frame, (470, 180), (90, 20), 0, 0, 360, (30, 30, 34), -1)
    cv2.ellipse(frame, (580, 300), (45, 60), 0, 0, 360, (22, 22, 26), 18)
    return frame


def _astronaut_frame(x: int = 200, size: int = 540, background: int = 90) -> np.ndarray:
    frame = _grey(background)
    face = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    w = min(size, W - x)
    frame[:size, x:x + w] = face[:H, :w]
    return frame


def _taxi() -> np.ndarray:
    frame = _yellow_box()
    cv2.putText(frame, "TAXI", (340, 310), cv2.FONT_HERSHEY_DUPLEX, 3, (20, 20, 20), 8,
                cv2.LINE_AA)
    return frame


# --- colours --------------------------------------------------------------------------

@pytest.mark.parametrize("rgb, name", [
    ((250, 210, 20), "yellow"), ((220, 30, 30), "red"), ((240, 130, 20), "orange"),
    ((40, 170, 60), "green"), ((30, 80, 200), "blue"), ((120, 40, 170), "purple"),
    ((250, 150, 190), "pink"), ((230, 40, 150), "pink"), ((120, 70, 30), "brown"),
    ((20, 20, 24), "black"), ((245, 245, 240), "white"), ((128, 128, 128), "grey"),
    ((70, 70, 75), "grey"), ((15, 25, 70), "blue")])
def test_flat_colours_are_named(rgb, name):
    patch = np.full((20, 20, 3), rgb, np.uint8)
    assert colour_shares(patch) == [(name, 1.0)]


def test_yellow_box_on_grey():
    frame = _yellow_box()
    assert box_colour(frame, (300 / W, 150 / H, 660 / W, 390 / H)) == "yellow"
    shares = dict(colour_shares(frame))
    assert set(shares) == {"grey", "yellow"}
    assert shares["yellow"] == pytest.approx(360 * 240 / (W * H), abs=0.02)


def test_a_small_true_colour_is_named_where_grey_of_that_size_is_not():
    from app.core.indexing.analysis import _frame_look
    frame = np.full((200, 200, 3), (128, 128, 128), np.uint8)
    frame[:160, :40] = (250, 250, 250)  # white, 16%
    frame[160:, :20] = (20, 20, 20)  # black, 2%
    frame[180:, 100:200] = (250, 210, 20)  # yellow, 5%
    frame[140:180, 180:200] = (40, 170, 60)  # green, 2%
    names = [name for name, _ in _frame_look(frame)[2]]
    assert names == ["grey", "white", "yellow"]


def test_black_cup_is_black():
    frame = _black_cup()
    assert box_colour(frame, (380 / W, 160 / H, 630 / W, 420 / H)) == "black"
    assert colour_shares(frame)[0][0] == "white"


def test_box_colour_of_an_empty_box_is_none():
    assert box_colour(_grey(), (0.5, 0.5, 0.5, 0.5)) is None


# --- how often the expensive parts run ------------------------------------------------

def test_objects_run_where_the_picture_changes():
    still = np.zeros((18, 32), np.float32)
    state = {"t": -np.inf, "grey": None, "frames_since": analysis.OBJECTS_EVERY}
    # A still scene every 5 s: the first frame, then every OBJECTS_MAX_GAP (20 s).
    runs = [t for t in range(0, 60, 5) if analysis._wants_objects(still, float(t), state)]
    assert runs == [0, 20, 40]
    # A picture that changes every frame: every OBJECTS_EVERY-th (2nd) frame.
    runs = [t for t in range(60, 90, 5)
            if analysis._wants_objects(np.full((18, 32), 3.0 * t, np.float32), float(t), state)]
    assert runs == [60, 70, 80]


def test_text_reads_back_off_while_they_find_nothing():
    state = {"strong": -np.inf, "weak": -np.inf, "misses": 0}
    reads = []
    for t in range(0, 200, 4):
        if analysis._wants_text(0.8, float(t), state):
            reads.append(t)
            state["misses"] += 1  # nothing found
    assert reads == [0, 16, 48, 112]  # gaps 16, 32, 64 (the next would be 120)
    state["misses"] = 0  # words found: back to every TEXT_GAP
    assert analysis._wants_text(0.8, 200.0, state) and analysis._wants_text(0.8, 208.0, state)
    assert not analysis._wants_text(0.1, 240.0, state)  # below the presence gate: never
    assert analysis._wants_text(0.3, 240.0, state)  # maybe text: every WEAK_TEXT_GAP
    assert not analysis._wants_text(0.3, 260.0, state)


# --- tracks and windows ---------------------------------------------------------------

def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=1024)
    return (v / np.linalg.norm(v)).astype(np.float16)


def _look(t: float, until: float | None = None) -> FrameLook:
    return FrameLook(t=t, until=t if until is None else until, brightness=0.5, light=None,
                     colours=[("grey", 1.0)], faces_seen=0, text_score=0.0,
                     objects_run=True, text_run=False)


def _face(t: float, box, vector=None) -> FaceSighting:
    return FaceSighting(t=t, box=box, score=0.9, quality=0.5 if vector is not None else 0.02,
                        embedding=vector, crop=b"jpeg" if vector is not None else None)


def test_tracks_follow_identity_and_boxes():
    anna, ben = _unit(1), _unit(2)
    result = FrameAnalysis(frames=[_look(0), _look(5), _look(10), _look(40)], faces=[
        _face(0, (0.1, 0.1, 0.2, 0.3), anna), _face(0, (0.6, 0.1, 0.2, 0.3), ben),
        # They swapped places: identity, not position, decides.
        _face(5, (0.6, 0.1, 0.2, 0.3), anna), _face(5, (0.1, 0.1, 0.2, 0.3), ben),
        # Too poor for a vector, but where Anna was: follows her box.
        _face(10, (0.61, 0.1, 0.2, 0.3)),
        # Thirty seconds later: a new track even for the same person.
        _face(40, (0.6, 0.1, 0.2, 0.3), anna)])
    link_tracks(result)
    track = {(f.t, f.box[0]): f.track for f in result.faces}
    assert track[(0, 0.1)] == track[(5, 0.6)] == track[(10, 0.61)]
    assert track[(0, 0.6)] == track[(5, 0.1)] != track[(0, 0.1)]
    assert track[(40, 0.6)] not in {track[(0, 0.1)], track[(0, 0.6)]}


def test_windows_concatenate_and_tracks_continue():
    anna = _unit(1)
    first = FrameAnalysis(frames=[_look(0), _look(5, until=9)],
                          faces=[_face(0, (0.1, 0.1, 0.2, 0.3), anna),
                                 _face(5, (0.1, 0.1, 0.2, 0.3), anna)],
                          objects=[ObjectSighting(5, "dog", 0.6, (0, 0, 0.5, 0.5), "brown")],
                          missing=["text"], stats={"faces_s": 0.5, "analysed": 2})
    second = FrameAnalysis(frames=[_look(12)], faces=[_face(12, (0.12, 0.1, 0.2, 0.3), anna)],
                           texts=[FrameText(12, ["TAXI"], ["taxi"])],
                           missing=["text"], stats={"faces_s": 0.25, "analysed": 1})
    link_tracks(first)
    link_tracks(second)
    assert first.faces[0].track == second.faces[0].track == 0  # each window counts from 0
    joined = FrameAnalysis.concat([second, first])  # order given does not matter
    assert [f.t for f in joined.frames] == [0, 5, 12]
    assert len(joined.objects) == 1 and joined.texts[0].tokens == ["taxi"]
    assert joined.missing == ["text"]
    assert joined.stats == {"faces_s": 0.75, "analysed": 3}
    assert {f.track for f in joined.faces} == {0}  # one person across the window seam
    with pytest.raises(ValueError, match="overlap"):
        FrameAnalysis.concat([first, first])
    assert FrameAnalysis.concat([]).frames == []


def test_analysis_pickles():
    import pickle

    result = FrameAnalysis(frames=[_look(0)], faces=[_face(0, (0.1, 0.1, 0.2, 0.3), _unit(3))])
    back = pickle.loads(pickle.dumps(result))
    assert np.array_equal(back.faces[0].embedding, result.faces[0].embedding)


# --- the real models ------------------------------------------------------------------

@pytest.fixture(scope="module")
def analysed(real_models_dir):
    analysis.reset_models()
    frames = [_astronaut_frame(200), _astronaut_frame(230), _astronaut_frame(230),
              _grey(), _yellow_box(), _taxi(), _black_cup(), _grey(12)]
    times = np.arange(len(frames)) * 5.0
    return analyse_checked(times, frames)


def analyse_checked(times, frames) -> FrameAnalysis:
    result = analysis.analyse(times, frames)
    assert result.missing == []
    return result


@pytest.mark.models
def test_astronaut_is_one_face_track(analysed):
    faces = [f for f in analysed.faces if f.t in (0.0, 5.0)]
    assert len(faces) == 2 and faces[0].track == faces[1].track
    for face in faces:
        x, y, w, h = face.box
        assert 0.3 < x + w / 2 < 0.55 and 0 < y < 0.4 and 0.05 < w < 0.3
        assert face.quality >= analysis.IDENTITY_QUALITY
        assert face.embedding.shape == (1024,) and face.embedding.dtype == np.float16
        crop = cv2.imdecode(np.frombuffer(face.crop, np.uint8), cv2.IMREAD_COLOR)
        assert crop.shape == (analysis.CROP_SIZE, analysis.CROP_SIZE, 3)
    a, b = (f.embedding.astype(np.float32) for f in faces)
    assert float(a @ b) > 0.85
    assert not [f for f in analysed.faces if f.t > 5.0]  # grey, boxes, text, cup: no faces


@pytest.mark.models
def test_nearly_identical_frame_is_not_analysed_again(analysed):
    times = [f.t for f in analysed.frames]
    assert 10.0 not in times and analysed.frames[1].t == 5.0 and analysed.frames[1].until == 10.0
    assert analysed.stats["frames"] == 8 and analysed.stats["analysed"] == 7


@pytest.mark.models
def test_person_colours_words_and_light(analysed):
    by_time = {f.t: f for f in analysed.frames}
    people = [o for o in analysed.objects if o.label == "person"]
    assert people and people[0].t == 0.0 and people[0].box[2] * people[0].box[3] > 0.2
    assert dict(by_time[20.0].colours).keys() == {"grey", "yellow"}
    assert [t.tokens for t in analysed.texts if t.t == 25.0] == [["taxi"]]
    assert by_time[35.0].light == "dark" and by_time[30.0].light == "bright"
    assert by_time[15.0].light is None and by_time[15.0].text_run is False
    # The picture changed every frame: the object detector ran on every other one.
    assert [f.objects_run for f in analysed.frames] == [True, False] * 3 + [True]


@pytest.mark.models
def test_detectors_keep_no_arena_and_repeat_their_results(real_models_dir):
    """The detectors run now and then on one frame in each decode worker: their
    sessions free what a run needed (no ONNX Runtime arena, see open_session), and a
    second run on the same frames finds the same things."""
    analysis.reset_models()
    models = analysis._load_models()
    sessions = [models.detector.session, models.embedder.session, models.objects.session,
                models.reader.det, models.reader.rec]
    assert not any(s.get_session_options().enable_cpu_mem_arena for s in sessions)
    frames = [_astronaut_frame(200), _taxi()]
    first, again = (analysis.analyse(np.array([0.0, 30.0]), frames) for _ in range(2))
    assert [(o.label, o.box) for o in first.objects] == [(o.label, o.box) for o in again.objects]
    assert [f.box for f in first.faces] == [f.box for f in again.faces] and first.faces
    assert [t.tokens for t in first.texts] == [t.tokens for t in again.texts] == [["taxi"]]


@pytest.mark.models
def test_a_crowd_is_capped(real_models_dir):
    face = data.astronaut()[60:260, 150:330]
    tile = cv2.resize(face, (64, 72), interpolation=cv2.INTER_AREA)
    crowd = np.ascontiguousarray(np.tile(tile, (8, 15, 1))[:H, :W])  # 120 faces
    result = analysis.analyse(np.array([0.0]), [crowd])
    assert 1 <= len(result.faces) <= analysis.MAX_FACES
    assert result.frames[0].faces_seen == len(result.faces)
    assert sum(f.embedding is not None for f in result.faces) <= analysis.MAX_EMBEDDED


@pytest.mark.models
def test_rate_limits_carry_over_to_the_next_window(real_models_dir):
    def runs(times, levels):
        result = analysis.analyse(np.array(times, float), [_grey(v) for v in levels])
        return [f.objects_run for f in result.frames]

    # A slowly changing picture: the detector runs on its first frame only...
    assert runs([0, 5, 10], [100, 103, 106]) == [True, False, False]
    # ...and not again in the next window of the same file (15 s < OBJECTS_MAX_GAP)...
    assert runs([15], [109]) == [False]
    # ...but on the first frame of another file.
    assert runs([0], [109]) == [True]


@pytest.mark.models
def test_empty_and_odd_frames(real_models_dir):
    assert analysis.analyse(np.zeros(0), []).frames == []
    tiny = np.full((20, 30, 3), 200, np.uint8)
    tall = np.ascontiguousarray(_astronaut_frame(0).transpose(1, 0, 2)[:, :300])
    result = analysis.analyse(np.array([0.0, 4.0]), [tiny, tall])
    assert [f.t for f in result.frames] == [0.0, 4.0]


def test_missing_models_leave_parts_out(tmp_path, monkeypatch):
    monkeypatch.setenv("REELVAULT_DATA", str(tmp_path))
    analysis.reset_models()
    try:
        result = analysis.analyse(np.array([0.0]), [_yellow_box()])
    finally:
        analysis.reset_models()
    assert result.missing == ["faces", "objects", "text"]
    assert result.faces == [] and result.objects == [] and result.texts == []
    assert dict(result.frames[0].colours).keys() == {"grey", "yellow"}


# --- the library ----------------------------------------------------------------------

def _hand_analysis() -> FrameAnalysis:
    anna = _unit(1)
    result = FrameAnalysis(
        frames=[FrameLook(0.0, 4.0, 0.2, "dark", [("black", 0.7), ("yellow", 0.2)], 1, 0.8,
                          True, True),
                FrameLook(5.0, 5.0, 0.5, None, [("grey", 0.9)], 2, 0.0, False, False)],
        faces=[_face(0.0, (0.1, 0.1, 0.2, 0.3), anna), _face(5.0, (0.12, 0.1, 0.2, 0.3), anna),
               _face(5.0, (0.7, 0.7, 0.05, 0.05))],
        objects=[ObjectSighting(0.0, "car", 0.7, (0.1, 0.5, 0.6, 0.4), "yellow"),
                 ObjectSighting(0.0, "car", 0.5, (0.8, 0.5, 0.1, 0.1), "red"),
                 ObjectSighting(0.0, "person", 0.6, (0.0, 0.0, 0.3, 0.9), "blue")],
        texts=[FrameText(0.0, ["TAXI", "Call 555"], ["taxi", "call", "555"])],
        missing=[], stats={"faces_s": 0.1, "analysed": 2})
    link_tracks(result)
    return result


def _save(library, path="/v/a.mp4", with_analysis=True) -> int:
    clip = _clip()
    if with_analysis:
        clip.analysis = _hand_analysis()
    return library.save_index(FileStat(path, 10, 1.5, "fp"), None, clip)


def _count(library, file_id) -> dict[str, int]:
    return {t: library.conn.execute(f"SELECT count(*) FROM {t} WHERE file_id = ?",
                                    (file_id,)).fetchone()[0] for t in rows.TABLES}


def test_rows_round_trip(library):
    file_id = _save(library)
    assert rows.file_analysis(library, file_id) == {"missing": [],
                                                    "stats": {"faces_s": 0.1, "analysed": 2}}
    frames = rows.analysed_frames(library, file_id)
    assert [(f["t"], f["until"], f["light"], f["objects_run"]) for f in frames] == [
        (0.0, 4.0, "dark", True), (5.0, 5.0, None, False)]
    faces = rows.faces(library, file_id)
    assert [(f["t"], f["track"], f["identity"], f["person_id"]) for f in faces] == [
        (0.0, 0, True, None), (5.0, 0, True, None), (5.0, 1, False, None)]
    assert "embedding" not in faces[0] and "crop" not in faces[0]
    assert rows.face_crop(library, faces[0]["id"]) == b"jpeg"
    ids, files, vectors = rows.face_vectors(library)
    assert ids.tolist() == [faces[0]["id"], faces[1]["id"]] and set(files) == {file_id}
    assert np.array_equal(vectors[0], _unit(1))
    assert rows.face_vectors(library, [file_id + 1])[2].shape == (0, 1024)
    rows.set_face_people(library, [(faces[0]["id"], 7)])
    assert rows.faces(library, file_id)[0]["person_id"] == 7
    objects = rows.frame_objects(library, file_id)
    assert [(o["label"], o["colour"]) for o in objects] == [
        ("car", "yellow"), ("person", "blue"), ("car", "red")]
    assert rows.frame_text(library, file_id)[0]["tokens"] == ["taxi", "call", "555"]
    assert [c["colour"] for c in rows.frame_colours(library, file_id)] == [
        "black", "yellow", "grey"]
    words = {(t, kind): w for _, t, kind, w in rows.frame_words(library)}
    assert words[(0.0, "object")] == ["car", "person"]
    assert words[(0.0, "object_colour")] == ["blue person", "red car", "yellow car"]
    assert words[(0.0, "light")] == ["dark"] and words[(5.0, "colour")] == ["grey"]
    assert words[(0.0, "text")] == ["555", "call", "taxi"]


def test_reindex_copy_and_delete_take_the_rows_along(library):
    file_id = _save(library)
    before = _count(library, file_id)
    assert all(before.values())
    copy_id = library.copy_index(file_id, FileStat("/v/b.mp4", 10, 2.0, "fp"), None)
    assert _count(library, copy_id) == before
    assert len(rows.face_vectors(library)[0]) == 4
    # Indexed again without analysis (an older recipe): the old rows go.
    _save(library, with_analysis=False)
    assert not any(_count(library, file_id).values())
    _save(library)
    assert _count(library, file_id) == before
    library.record_problem(FileStat("/v/a.mp4", 10, 1.5, "fp"), None, "failed", "broken")
    assert not any(_count(library, file_id).values())
    # Purging a missing file deletes its rows by cascade.
    library.mark([copy_id], "missing")
    assert trash_rows.delete_missing(library, [copy_id]) == 1
    assert not any(_count(library, copy_id).values())


def test_info_and_tags_show_the_analysis(capsys, tmp_path):
    from app.store.library import Library

    path = str(tmp_path / "lib.sqlite")
    clip_path = tmp_path / "a.mp4"
    lib = Library(path)
    _save(lib, str(clip_path))
    lib.close()
    assert cli.main(["--library", path, "info", str(clip_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["analysis"]["missing"] == []
    assert info["faces"][0] == {"id": info["faces"][0]["id"], "time": 0.0,
                                "box": [0.1, 0.1, 0.2, 0.3], "quality": 0.5, "track": 0,
                                "person_id": None}
    assert not any({"embedding", "crop"} & set(f) for f in info["faces"])
    (moment,) = info["objects"]
    assert (moment["start"], moment["end"]) == (0.0, 2.0)
    assert moment["objects"] == [
        {"label": "person", "count": 1, "size": "medium", "colours": ["blue"], "score": 0.6},
        {"label": "car", "count": 2, "size": "medium", "colours": ["yellow", "red"],
         "score": 0.7}]
    assert info["text"] == [{"time": 0.0, "lines": ["TAXI", "Call 555"]}]
    (colours,) = info["colours"]
    assert colours["colours"] == [{"colour": "grey", "share": 0.45},
                                  {"colour": "black", "share": 0.35},
                                  {"colour": "yellow", "share": 0.1}]
    assert colours["light"] is None  # one dark frame of two
    assert cli.main(["--library", path, "tags", str(clip_path), "--json"]) == 0
    tags = json.loads(capsys.readouterr().out)
    assert tags["objects"][0]["label"] in {"car", "person"}
    assert {"colour": "yellow", "moments": 1} in tags["colours"]
    assert tags["text"] == ["TAXI", "Call 555"]
    assert tags["faces"] == {"count": 3, "tracks": 2}
    assert cli.main(["--library", path, "info", str(clip_path)]) == 0
    assert "1 person (blue, medium), 2 car (yellow, medium)" in capsys.readouterr().out


def test_info_of_a_file_without_analysis(capsys, tmp_path):
    from app.store.library import Library

    path = str(tmp_path / "lib.sqlite")
    lib = Library(path)
    _save(lib, str(tmp_path / "a.mp4"), with_analysis=False)
    lib.close()
    assert cli.main(["--library", path, "info", str(tmp_path / "a.mp4"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["analysis"] is None and info["faces"] == info["objects"] == info["text"] == []


@pytest.mark.models
def test_real_analysis_is_stored(library, analysed):
    clip = _clip()
    clip.analysis = analysed
    file_id = library.save_index(FileStat("/v/real.mp4", 10, 1.5, "fp"), None, clip)
    faces = rows.faces(library, file_id)
    assert len(faces) == len(analysed.faces) and faces[0]["identity"]
    crop = cv2.imdecode(np.frombuffer(rows.face_crop(library, faces[0]["id"]), np.uint8),
                        cv2.IMREAD_COLOR)
    assert crop.shape == (analysis.CROP_SIZE, analysis.CROP_SIZE, 3)
    _, _, vectors = rows.face_vectors(library, [file_id])
    assert np.array_equal(vectors[0], analysed.faces[0].embedding)
    assert len(rows.frame_objects(library, file_id)) == len(analysed.objects)
    assert [t["tokens"] for t in rows.frame_text(library, file_id)] == [
        t.tokens for t in analysed.texts]
    assert len(rows.analysed_frames(library, file_id)) == len(analysed.frames)
