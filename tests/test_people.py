"""People: face tracks grouped into people incrementally with stable ids, the user's
word (name, merge, remove a face, hide) surviving re-grouping and re-indexing, search by
name, the CLI's JSON, and deleting all face data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app import cli
from app.core import people
from app.core.indexing.analysis import FaceSighting, FrameAnalysis, FrameLook, link_tracks
from app.core.people import clustering
from app.core.search import peoplequery
from app.core.search.text_search import search_text
from app.records import FileStat
from app.store.library import Library
from tests.test_store import _clip

DIM = 1024
RNG = np.random.default_rng(7)
# Identity directions: random unit vectors in 1024-d are nearly orthogonal.
IDENTITY = {name: RNG.standard_normal(DIM) for name in ("anna", "ben", "carl", "dora")}


def _face_vector(identity: str, noise: float = 0.25, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = IDENTITY[identity] / np.linalg.norm(IDENTITY[identity])
    v = base + noise * rng.standard_normal(DIM) / np.sqrt(DIM)
    return (v / np.linalg.norm(v)).astype(np.float16)


def _analysis(who: list[list[str]], seed: int = 0) -> FrameAnalysis:
    """Frames 2 s apart; ``who[k]`` are the identities seen in frame k, left to right."""
    frames, faces = [], []
    for k, names in enumerate(who):
        t = 2.0 * k
        frames.append(FrameLook(t, t, 0.5, None, [], len(names), 0.0, False, False))
        for i, name in enumerate(names):
            faces.append(FaceSighting(t, (0.1 + 0.4 * i, 0.2, 0.2, 0.3), 0.9, 0.6,
                                      _face_vector(name, seed=seed * 100 + k * 10 + i),
                                      b"jpeg"))
    result = FrameAnalysis(frames=frames, faces=faces)
    link_tracks(result)
    return result


def _save(lib: Library, path: str, who: list[list[str]], seed: int = 0) -> int:
    clip = _clip(seed)
    clip.analysis = _analysis(who, seed)
    return lib.save_index(FileStat(path, 10, 1.5, f"fp{path}"), None, clip)


def _people_of_file(lib: Library, file_id: int) -> set[int | None]:
    return {r[0] for r in lib.conn.execute(
        "SELECT DISTINCT person_id FROM faces WHERE file_id = ?", (file_id,))}


def test_tracks_group_into_people_and_ids_stay(library):
    a1 = _save(library, "/v/a1.mp4", [["anna"]] * 3, seed=1)
    _save(library, "/v/a2.mp4", [["anna", "ben"]] * 3, seed=2)
    b1 = _save(library, "/v/b1.mp4", [["ben"]] * 2, seed=3)
    stranger = _save(library, "/v/c1.mp4", [["carl"]] * 2, seed=4)  # 2 faces: too few
    found = people.refresh_people(library)
    assert len(found) == 2
    anna = next(p for p in found if "/v/a1.mp4" in p["files"])
    ben = next(p for p in found if "/v/b1.mp4" in p["files"])
    assert anna["id"] != ben["id"]
    assert sorted(anna["files"]) == ["/v/a1.mp4", "/v/a2.mp4"] and anna["faces"] == 6
    assert sorted(ben["files"]) == ["/v/a2.mp4", "/v/b1.mp4"] and ben["faces"] == 5
    assert set(anna) == {"id", "name", "faces", "files", "cover"}
    assert _people_of_file(library, stranger) == {None}
    assert _people_of_file(library, a1) == {anna["id"]}
    assert _people_of_file(library, b1) == {ben["id"]}

    # Nothing changed: the same people, the same ids.
    assert people.refresh_people(library) == found
    # A new clip of Anna joins her; a second clip of the stranger makes him a person.
    a3 = _save(library, "/v/a3.mp4", [["anna"]], seed=5)
    _save(library, "/v/c2.mp4", [["carl"]] * 2, seed=6)
    again = {p["id"]: p for p in people.refresh_people(library)}
    assert _people_of_file(library, a3) == {anna["id"]}
    assert len(again) == 3 and again[anna["id"]]["faces"] == 7
    carl = next(p for p in again.values() if "/v/c1.mp4" in p["files"])
    assert sorted(carl["files"]) == ["/v/c1.mp4", "/v/c2.mp4"]
    # A rebuild regroups from scratch and keeps the ids.
    rebuilt = {p["id"]: p for p in people.refresh_people(library, rebuild=True)}
    assert rebuilt == again


def test_the_users_word_survives_rebuild_and_reindexing(library):
    a1 = _save(library, "/v/a1.mp4", [["anna"]] * 3, seed=1)
    a2 = _save(library, "/v/a2.mp4", [["anna"]] * 3, seed=2)
    d1 = _save(library, "/v/d1.mp4", [["dora"]] * 3, seed=3)
    found = people.refresh_people(library)
    anna = next(p["id"] for p in found if "/v/a1.mp4" in p["files"])
    dora = next(p["id"] for p in found if "/v/d1.mp4" in p["files"])
    # The user merges Dora into Anna (say: the same person, the model did not know).
    merged = people.merge_people(library, anna, dora)
    assert merged["id"] == anna and len(merged["files"]) == 3
    named = people.name_person(library, anna, "  Anna  ")
    assert named["name"] == "Anna"
    # "Not Anna": the face of a2 is taken out (its whole track).
    face = next(r[0] for r in library.conn.execute("SELECT id FROM faces WHERE file_id = ?",
                                                   (a2,)))
    removed = people.remove_face(library, face)
    assert removed == {"face": face, "person": anna, "faces_removed": 3}
    assert _people_of_file(library, a2) == {None}

    for rebuild in (False, True):
        listed = {p["id"]: p for p in people.refresh_people(library, rebuild=rebuild)}
        assert listed[anna]["name"] == "Anna"
        assert sorted(listed[anna]["files"]) == ["/v/a1.mp4", "/v/d1.mp4"]  # merge kept
        assert anna not in _people_of_file(library, a2)  # removal kept
        assert dora not in listed

    # Indexing the files again gives their faces new ids: the anchors still hold.
    _save(library, "/v/d1.mp4", [["dora"]] * 3, seed=3)
    _save(library, "/v/a2.mp4", [["anna"]] * 3, seed=2)
    listed = {p["id"]: p for p in people.refresh_people(library)}
    assert sorted(listed[anna]["files"]) == ["/v/a1.mp4", "/v/d1.mp4"]
    assert anna not in _people_of_file(library, a2)
    assert _people_of_file(library, a1) == {anna}
    assert d1 == library.file("/v/d1.mp4")["id"]

    # Hidden: not listed, not searched, and its faces do not come back as a new person.
    people.hide_person(library, anna)
    listed = people.refresh_people(library, rebuild=True)
    assert anna not in {p["id"] for p in listed}
    assert all("/v/a1.mp4" not in p["files"] for p in listed)
    assert [p["id"] for p in people.list_people(library, hidden=True)] == [anna]


def test_edits_refuse_what_cannot_be_done(library):
    _save(library, "/v/a1.mp4", [["anna"]] * 3, seed=1)
    (anna,) = people.refresh_people(library)
    with pytest.raises(people.PeopleError):
        people.merge_people(library, anna["id"], anna["id"])
    with pytest.raises(people.PeopleError):
        people.name_person(library, anna["id"], "   ")
    with pytest.raises(people.PeopleError):
        people.name_person(library, 999, "Ben")
    with pytest.raises(people.PeopleError):
        people.remove_face(library, 999)


def test_search_by_name(library):
    _save(library, "/v/a1.mp4", [["anna"]] * 3, seed=1)
    _save(library, "/v/ab.mp4", [[], ["anna", "ben"], ["anna", "ben"], ["anna", "ben"]], seed=2)
    _save(library, "/v/b1.mp4", [["ben"]] * 3, seed=3)
    _save(library, "/v/none.mp4", [[]], seed=4)
    found = people.refresh_people(library)
    anna = next(p["id"] for p in found if "/v/a1.mp4" in p["files"])
    ben = next(p["id"] for p in found if "/v/b1.mp4" in p["files"])
    people.name_person(library, anna, "Anna")
    people.name_person(library, ben, "Zoë Ben")  # two words and an accent

    results = search_text(library, "anna")
    assert {r.path for r in results} == {"/v/a1.mp4", "/v/ab.mp4"}
    assert all("person: Anna" in r.why for r in results)
    ab = next(r for r in results if r.path == "/v/ab.mp4")
    assert ab.start == pytest.approx(1.0)  # she is first seen at 2 s
    assert {r.path for r in search_text(library, "ZOE ben")} == {"/v/ab.mp4", "/v/b1.mp4"}
    both = search_text(library, "anna zoe ben")
    assert [r.path for r in both] == ["/v/ab.mp4"]
    assert "person: Anna" in both[0].why and "person: Zoë Ben" in both[0].why
    # A date narrows the person's clips (the test clips have no date: nothing is left).
    assert search_text(library, "anna 2023") == []
    people.hide_person(library, anna)
    assert peoplequery.extract(library, ["anna"]).names == []


def test_cli_people_contract(tmp_path, capsys):
    path = tmp_path / "lib.sqlite"
    lib = Library(path)
    _save(lib, "/v/a1.mp4", [["anna"]] * 3, seed=1)
    _save(lib, "/v/a2.mp4", [["anna"]] * 2, seed=2)
    _save(lib, "/v/b1.mp4", [["ben"]] * 3, seed=3)
    lib.close()

    def run(*args):
        assert cli.main(["--library", str(path), *args, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    listed = run("people")["people"]
    assert [p["faces"] for p in listed] == [5, 3]  # largest first
    assert all(set(p) == {"id", "name", "faces", "files", "cover"} for p in listed)
    assert all(isinstance(p["cover"], int) for p in listed)
    anna, ben = listed[0]["id"], listed[1]["id"]
    assert run("people", "name", str(anna), "Anna")["person"]["name"] == "Anna"
    assert run("people", "merge", str(anna), str(ben))["person"]["faces"] == 8
    face = run("info", "/v/b1.mp4")["faces"][0]
    assert face["person_id"] == anna and set(face) >= {"id", "time", "box", "person_id"}
    assert run("people", "remove-face", str(face["id"]))["faces_removed"] == 3
    assert run("people", "hide", str(anna))["person"]["id"] == anna
    assert anna not in {p["id"] for p in run("people")["people"]}
    assert cli.main(["--library", str(path), "people", "name", "999", "X"]) != 0


def test_delete_face_data(library):
    a1 = _save(library, "/v/a1.mp4", [["anna"]] * 3, seed=1)
    (anna,) = people.refresh_people(library)
    people.name_person(library, anna["id"], "Anna")
    assert people.delete_face_data(library) == 3
    assert people.refresh_people(library) == []
    assert library.conn.execute("SELECT COUNT(*) FROM person_anchors").fetchone()[0] == 0
    assert library.file_by_id(a1)["status"] == "indexed"  # the clip stays indexed


def test_grouping_does_not_chain_look_alikes():
    """Average linkage: a chain of tracks each close to the next does not make the two
    ends (far apart) one person."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(DIM), rng.standard_normal(DIM)
    steps = [clustering.normalized(((1 - s) * a + s * b)[None])[0] for s in np.linspace(0, 1, 9)]
    sims = [float(steps[i] @ steps[i + 1]) for i in range(8)]
    assert min(sims) > clustering.LINK  # every neighbour link alone would chain them
    labels = clustering.group(np.stack(steps))
    assert labels[0] != labels[-1]
    # Tight groups stay whole.
    tight = np.stack([_face_vector("anna", seed=i) for i in range(5)]
                     + [_face_vector("ben", seed=i) for i in range(5)]).astype(np.float32)
    labels = clustering.group(tight)
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1 and labels[0] != labels[5]


def test_album_titles_use_names_seen_in_enough_clips(library):
    f1 = _save(library, "/v/a1.mp4", [["anna", "ben"]] * 3, seed=1)
    f2 = _save(library, "/v/a2.mp4", [["anna"]] * 3, seed=2)
    f3 = _save(library, "/v/a3.mp4", [["anna"], ["carl"]], seed=3)
    found = people.refresh_people(library)
    anna = next(p["id"] for p in found if len(p["files"]) == 3)
    ben = next(p["id"] for p in found if p["files"] == ["/v/a1.mp4"])
    assert people.names_in_files(library, [f1, f2, f3]) == []  # nobody named yet
    people.name_person(library, anna, "Anna")
    people.name_person(library, ben, "Ben")
    assert people.names_in_files(library, [f1, f2, f3]) == ["Anna", "Ben"]
    assert people.names_in_files(library, [f2, f3]) == ["Anna"]
    assert people.names_in_files(library, [f1, f2, f3], share=0.5) == ["Anna"]


@pytest.mark.models
def test_real_faces_of_one_person_in_two_clips_are_one_person(library, real_models_dir):
    """The astronaut at two scales, darker in one clip: the real detector and descriptor
    put both clips' tracks in one person."""
    import cv2
    from skimage import data

    from app.core.indexing import analysis

    def frame(size: int, x: int, gain: float) -> np.ndarray:
        out = np.full((540, 960, 3), 90, np.uint8)
        face = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
        out[:size, x:x + size] = np.clip(face * gain, 0, 255).astype(np.uint8)
        return out

    analysis.reset_models()
    ids = []
    for name, size, gain in (("near.mp4", 520, 1.0), ("far.mp4", 380, 0.7)):
        frames = [frame(size, x, gain) for x in (100, 160, 220)]
        clip = _clip(len(ids))
        clip.analysis = analysis.analyse(np.array([0.0, 2.0, 4.0]), frames)
        assert sum(f.embedding is not None for f in clip.analysis.faces) == 3
        ids.append(library.save_index(FileStat(f"/v/{name}", 10, 1.5, name), None, clip))
    (person,) = people.refresh_people(library)
    assert sorted(person["files"]) == ["/v/far.mp4", "/v/near.mp4"]
    assert person["faces"] == 6


def test_similar_weighs_the_people_of_the_clip(library, monkeypatch):
    """Clips showing the target's people gain PEOPLE_WEIGHT per share of its people (the
    rest keep their likeness) and say who."""
    from app.core.search import similar, similar_search
    target = _save(library, "/v/anna_beach.mp4", [["anna"]] * 3, seed=11)
    _save(library, "/v/anna_home.mp4", [["anna"]] * 3, seed=12)
    for i in range(4):
        _save(library, f"/v/strangers_{i}.mp4", [["ben"]] * 3, seed=20 + i)
    found = people.refresh_people(library)
    anna = next(p["id"] for p in found if "/v/anna_home.mp4" in p["files"])
    people.name_person(library, anna, "Anna")
    with_people = {r.path: r for r in similar(library, target, limit=10)}
    monkeypatch.setattr(similar_search, "PEOPLE_WEIGHT", 0.0)
    plain = {r.path: r for r in similar(library, target, limit=10)}
    home = with_people["/v/anna_home.mp4"]
    assert home.score == pytest.approx(plain["/v/anna_home.mp4"].score + 0.15, abs=1e-5)
    assert home.why == ["person: Anna"]
    assert all(with_people[p].score == pytest.approx(plain[p].score, abs=1e-6)
               for p in plain if p != "/v/anna_home.mp4")
