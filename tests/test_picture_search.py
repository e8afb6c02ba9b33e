"""Search by what the analysed frames show: things with counts and colours, colours,
light and words on screen, combined with the rest of the query."""

from __future__ import annotations

import json

import pytest

from app import cli
from app.core import search
from app.core.indexing.analysis import FrameAnalysis, FrameLook, FrameText, ObjectSighting
from app.records import FileStat
from tests.test_store import _clip


def _look(t: float, colours, light=None) -> FrameLook:
    return FrameLook(t=t, until=t, brightness=0.5, light=light, colours=colours, faces_seen=0,
                     text_score=0.0, objects_run=True, text_run=True)


def _thing(t: float, label: str, colour: str | None = None, area: float = 0.04):
    side = area ** 0.5
    return ObjectSighting(t, label, 0.8, (0.1, 0.1, side, side), colour)


def _save(library, name: str, frames, objects=(), texts=()) -> int:
    clip = _clip()
    # No label evidence: only what the frames show decides here.
    clip.visual_probs[:] = 0
    clip.labels = []
    for seg in clip.segments:
        seg.labels = {"visual": [], "audio": []}
    clip.analysis = FrameAnalysis(frames=list(frames), objects=list(objects), texts=list(texts))
    return library.save_index(FileStat(f"/v/{name}", 10, 1.5, name), None, clip)


@pytest.fixture
def pictures(library):
    _save(library, "street.mp4", [_look(0.0, [("grey", 0.8)]), _look(4.0, [("grey", 0.7)])],
          [_thing(4.0, "person"), _thing(4.0, "person"), _thing(4.0, "person"),
           _thing(0.0, "car", "yellow", 0.2)],
          [FrameText(4.0, ["TAXI"], ["taxi"])])
    _save(library, "kitchen.mp4", [_look(0.0, [("white", 0.6)]), _look(2.0, [("black", 0.3)])],
          [_thing(2.0, "cup", "black"), _thing(2.0, "person", area=0.5)])
    _save(library, "night.mp4", [_look(0.0, [("black", 0.9)], light="dark")],
          [_thing(0.0, "cup", "white")], [FrameText(0.0, ["C0FFEE SHOP"], ["c0ffee", "shop"])])
    return library


def _names(results) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in results]


@pytest.mark.models  # the rest of the query goes through the text model's label search
def test_things_counts_colours_light_and_words_on_screen(pictures):
    top = search.search_text(pictures, "3 people")
    assert _names(top)[0] == "street.mp4" and top[0].start <= 4.0 <= top[0].end
    assert "3 people" in top[0].why
    assert _names(search.search_text(pictures, "black cup"))[0] == "kitchen.mp4"
    assert _names(search.search_text(pictures, "yellow car")) == ["street.mp4"]
    assert _names(search.search_text(pictures, "a person close up"))[0] == "kitchen.mp4"
    assert _names(search.search_text(pictures, "night"))[0] == "night.mp4"
    assert _names(search.search_text(pictures, '"TAXI"')) == ["street.mp4"]
    assert _names(search.search_text(pictures, "text coffee")) == ["night.mp4"]  # one edit
    assert set(_names(search.search_text(pictures, "text on screen"))) == {"street.mp4",
                                                                          "night.mp4"}
    # Words read without the spaces between them ("SHOULDHAVELEFT") are found inside.
    _save(pictures, "film.mp4", [_look(0.0, [("black", 0.7)])],
          texts=[FrameText(0.0, ["I SHOULDHAVELEFT"], ["shouldhaveleft"])])
    top = search.search_text(pictures, '"should have left"')
    assert _names(top) == ["film.mp4"] and "text: I SHOULDHAVELEFT" in top[0].why
    assert _names(search.search_text(pictures, '"eft"')) == []  # too short to look inside


@pytest.mark.models
def test_no_results_say_which_part_matched_nothing(pictures):
    results = search.search_text(pictures, '"ZEBRA CROSSING"')
    assert list(results) == [] and results.unmatched == ["ZEBRA CROSSING (text)"]
    results = search.search_text(pictures, "purple car")
    assert "purple car (object)" in results.unmatched


@pytest.mark.models
def test_words_for_people_are_left_to_the_person_detector_not_the_labels(library):
    """"man talking": the detector answers "man"; "talking" still reaches the soundtrack's
    speech, so the one person speaking ranks above a crowd in silence."""
    import numpy as np
    _save(library, "crowd.mp4", [_look(0.0, [("grey", 0.8)])],
          [_thing(0.0, "person") for _ in range(3)])
    clip = _clip(1)
    clip.visual_probs[:] = 0
    clip.labels = [("audio", 0, "Speech", 0.9)]
    clip.audio_scores = np.zeros(521)
    clip.audio_scores[0] = 0.9
    for seg in clip.segments:
        seg.labels = {"visual": [], "audio": [[0, "Speech", 0.9]]}
    clip.analysis = FrameAnalysis(frames=[_look(0.0, [("black", 0.5)])],
                                  objects=[_thing(0.0, "person", area=0.3)], texts=[])
    library.save_index(FileStat("/v/interview.mp4", 10, 1.5, "interview"), None, clip)
    for query in ("man talking", "a woman talking", "person talking"):
        top = search.search_text(library, query)
        assert _names(top)[0] == "interview.mp4", query
        assert "1 person" in top[0].why and any("Speech" in w for w in top[0].why), query


@pytest.mark.models
def test_a_place_word_finds_what_such_a_place_shows(library):
    """"city" names no kind of thing: it reaches street signs and traffic lights."""
    from app.inference.labels import imagenet_labels
    names = imagenet_labels()
    for name, label in (("downtown.mp4", "street sign"), ("home.mp4", "refrigerator")):
        clip = _clip(2)
        clip.visual_probs[:] = 0
        clip.visual_probs[names.index(label)] = 0.6
        clip.labels = [("visual", names.index(label), label, 0.6)]
        for seg in clip.segments:
            seg.labels = {"visual": [[names.index(label), label, 0.6]], "audio": []}
        library.save_index(FileStat(f"/v/{name}", 10, 1.5, name), None, clip)
    assert _names(search.search_text(library, "city")) == ["downtown.mp4"]
    assert _names(search.search_text(library, "kitchen")) == ["home.mp4"]


@pytest.mark.models
def test_what_people_do_asks_for_people_when_the_labels_know_nothing_of_it(pictures):
    """"walking" names no thing and no label: the clips with people answer it."""
    top = search.search_text(pictures, "walking")
    assert set(_names(top)) == {"street.mp4", "kitchen.mp4"}
    assert any(w.endswith(("person", "people")) for w in top[0].why)


@pytest.mark.models
def test_a_small_true_colour_answers_but_a_small_grey_does_not(library):
    _save(library, "box.mp4", [_look(0.0, [("grey", 0.6), ("yellow", 0.07)])])
    _save(library, "wall.mp4", [_look(0.0, [("yellow", 0.9), ("white", 0.08)])])
    assert _names(search.search_text(library, "yellow")) == ["wall.mp4", "box.mp4"]
    assert _names(search.search_text(library, "white")) == []


@pytest.mark.models
def test_guesses_for_a_thing_the_detector_saw_nowhere_are_no_sure_match(library, capsys):
    """A tree's dog breeds at 1-2% each add up to "dog" at ~0.1: the closest a library
    without dogs has, listed as such, not as dogs. Once the detector sees a dog, or
    the classifier is sure, the answer is no longer a guess."""
    from app.inference.labels import imagenet_labels
    names = imagenet_labels()
    breeds = [names.index(b) for b in ("Ibizan hound", "Great Dane", "basenji", "Saluki",
                                        "whippet", "Airedale")]

    def save(name: str, share: float, objects=()) -> None:
        clip = _clip(3)
        clip.visual_probs[:] = 0
        clip.visual_probs[breeds] = share
        clip.labels = [("visual", i, names[i], share) for i in breeds]
        for seg in clip.segments:
            seg.labels = {"visual": [[i, names[i], share] for i in breeds], "audio": []}
        clip.analysis = FrameAnalysis(frames=[_look(0.0, [("green", 0.6)])],
                                      objects=list(objects), texts=[])
        library.save_index(FileStat(f"/v/{name}", 10, 1.5, name), None, clip)

    save("tree.mp4", 0.015)
    results = search.search_text(library, "a dog")
    assert _names(results) == ["tree.mp4"]
    assert results.weak and results.unmatched == ["dog (object)"]
    assert cli.main(["--library", str(library.path), "search", "a dog", "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["weak"] is True and said["unmatched"] == ["dog (object)"]
    assert cli.main(["--library", str(library.path), "search", "a dog"]) == 0
    assert capsys.readouterr().out.startswith("no sure match; the closest clips:")
    save("sure.mp4", 0.1)  # the breeds sum to 0.6: the classifier is sure of a dog
    results = search.search_text(library, "a dog")
    assert _names(results)[0] == "sure.mp4" and not results.weak
    save("park.mp4", 0.015, [_thing(0.0, "dog")])
    results = search.search_text(library, "a dog")
    assert set(_names(results)[:2]) == {"sure.mp4", "park.mp4"}
    assert not results.weak and not results.unmatched


@pytest.mark.models
def test_labels_the_words_only_come_near_are_no_sure_match(library):
    """"sunset" names no label: the classifier's sundial and solar dish are only near it
    in the text model's space, so a list of them is the closest clips, not sunsets. The
    word "sundial" names its label: the same clip answers it."""
    from app.inference.labels import imagenet_labels
    names = imagenet_labels()
    near = [names.index(n) for n in ("sundial", "solar dish", "sunglass")]
    clip = _clip(3)
    clip.visual_probs[:] = 0
    clip.visual_probs[near] = 0.05
    clip.labels = [("visual", i, names[i], 0.05) for i in near]
    for seg in clip.segments:
        seg.labels = {"visual": [[i, names[i], 0.05] for i in near], "audio": []}
    library.save_index(FileStat("/v/garden.mp4", 10, 1.5, "garden.mp4"), None, clip)
    results = search.search_text(library, "sunset")
    assert _names(results) == ["garden.mp4"] and results.weak
    results = search.search_text(library, "sundial")
    assert _names(results) == ["garden.mp4"] and not results.weak
