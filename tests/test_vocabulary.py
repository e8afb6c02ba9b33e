"""Everyday words for what the models recognize: pooled, confident, cautious."""

from __future__ import annotations

import numpy as np

from app.core import vocabulary
from app.core.search.labelquery import kind_classes
from app.inference.labels import audioset_labels, imagenet_labels


def _visual(**probs: float) -> np.ndarray:
    names = imagenet_labels()
    out = np.zeros(len(names))
    for name, p in probs.items():
        out[names.index(name.replace("_", " "))] = p
    return out


def test_uncertain_breeds_pool_into_one_confident_dog():
    probs = _visual(beagle=0.09, basset=0.08, Chihuahua=0.08, boxer=0.07, whippet=0.06)
    words = vocabulary.describe(probs, None)
    assert [w.word for w in words] == ["dog"]
    assert abs(words[0].score - 0.38) < 1e-6 and words[0].labels[0] == "beagle"
    # No single breed would have been shown on its own.
    assert not vocabulary.is_shown("visual", "beagle", 0.09)


def test_unsure_labels_are_not_shown_and_embarrassing_ones_need_more():
    assert vocabulary.describe(_visual(crate=0.1, carton=0.1), None) == []
    gown = _visual(academic_gown=0.5)
    assert vocabulary.describe(gown, None) == []  # 0.5 is confident, but not for this
    assert [w.word for w in vocabulary.describe(_visual(academic_gown=0.8), None)] == \
        ["academic gown"]
    audio = np.zeros(len(audioset_labels()))
    audio[audioset_labels().index("Fart")] = 0.6
    audio[audioset_labels().index("Speech")] = 0.6
    assert [w.word for w in vocabulary.describe(None, audio)] == ["Speech"]


def test_kinds_reach_every_class_of_that_kind():
    names = imagenet_labels()
    dogs = {names[i] for i in vocabulary.kinds_of("dogs")}
    assert {"beagle", "golden retriever", "Chihuahua"} <= dogs and "tabby" not in dogs
    assert {"crate", "carton"} <= {names[i] for i in vocabulary.kinds_of("boxes")}
    assert {"banana", "orange", "lemon"} <= {names[i] for i in vocabulary.kinds_of("fruit")}
    assert len(vocabulary.kinds_of("entity")) == 0 and len(vocabulary.kinds_of("xyzzy")) == 0
    # Search parses only the lines that hold the word; the whole hierarchy agrees.
    h = vocabulary.hierarchy()
    for word in ("dog", "fruit", "vehicle", "cat", "wind", "musical instrument"):
        kinds = h.main_kinds if word in vocabulary.label_names() else h.kinds
        assert vocabulary.kinds_of(word).tolist() == [i for i, k in enumerate(kinds) if word in k]
    assert vocabulary.singular("boxes") == "box" and vocabulary.singular("puppies") == "puppy"
    assert vocabulary.singular("people") == "person" and vocabulary.singular("glass") == "glass"


def test_a_query_word_for_a_kind_reaches_its_classes_but_people_words_do_not():
    names = imagenet_labels()
    (dogs,) = kind_classes("two dogs")
    assert "beagle" in {names[i] for i in dogs}
    assert kind_classes("people walking") == []


def test_an_album_is_not_titled_by_an_embarrassing_guess():
    from app.core import albums
    fart = [[("audio", "Fart", 0.6), ("audio", "Speech", 0.55)] for _ in range(3)]
    assert albums.dominant_label(fart) == "Speech"


def test_detail_chips_read_as_a_person_would_say_them():
    from app.gui.views.detail_pane import see_chips
    details = {"words": [{"word": "dog", "kind": "visual", "score": 0.4,
                          "labels": ["beagle", "basset"]},
                         {"word": "Speech", "kind": "audio", "score": 0.8, "labels": ["Speech"]}],
               "pictures": {"objects": [{"label": "person", "moments": 2, "colours": ["blue"]},
                                        {"label": "dog", "moments": 1, "colours": []}],
                            "text": ["TAXI"], "colours": [{"colour": "yellow", "moments": 2}]}}
    assert [text for text, _ in see_chips(details)] == ["people", "dog", "“TAXI”", "yellow"]
    assert see_chips({}) == []


def test_places_and_occasions_reach_what_they_show_and_sound_like():
    names = {"visual": imagenet_labels(), "audio": audioset_labels()}

    def labels(text):
        return [{kind: {names[kind][i] for i in cls} for kind, cls in scene.items()}
                for scene in vocabulary.scenes_in(text)]
    (city,) = labels("a city at night")
    assert {"street sign", "traffic light"} <= city["visual"]
    assert "Traffic noise, roadway noise" in city["audio"]
    (beach,) = labels("Beaches")  # case and plural folded
    assert "seashore" in beach["visual"] and "Ocean" in beach["audio"]
    (room,) = labels("our living room")  # a two-word place
    assert "studio couch" in room["visual"]
    assert labels("a yellow box") == []
    # Being outdoors or indoors is what the sound model's acoustic scenes tell; a drawn
    # film is what the picture classifier calls a comic book.
    (outside, *_) = labels("people outdoors")
    assert {"Outside, urban or manmade", "Outside, rural or natural"} <= outside["audio"]
    assert "Inside, large room or hall" in labels("indoors")[-1]["audio"]
    assert labels("a cartoon") == [{"visual": {"comic book"}}]
    # Every label the file names exists (loading checks it).
    assert len(vocabulary.scene_words()) > 40


def test_a_word_that_names_a_sound_does_not_reach_a_kind_it_is_only_a_second_name_of():
    names = imagenet_labels()
    assert not {"flute", "trombone", "sax"} & {names[i] for i in vocabulary.kinds_of("wind")}
    assert not {"steam locomotive"} & {names[i] for i in vocabulary.kinds_of("engine")}
    assert {"flute", "trombone"} <= {names[i] for i in vocabulary.kinds_of("wind instrument")}
    assert {"tabby", "Persian cat"} <= {names[i] for i in vocabulary.kinds_of("cats")}
    assert "mountain bike" in {names[i] for i in vocabulary.kinds_of("bike")}
