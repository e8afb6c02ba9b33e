"""Taking a typed query apart into the parts search matches separately."""

from __future__ import annotations

from app.core.search.query import CROWD_COUNT, parse


def _objects(q: str) -> list[tuple]:
    return [(o.label, o.min_count, o.colour, o.size) for o in parse(q).objects]


def test_things_with_counts_and_plurals():
    assert _objects("two dogs") == [("dog", 2, None, None)]
    assert _objects("3 people") == [("person", 3, None, None)]
    assert _objects("a person") == [("person", 1, None, None)]
    assert _objects("people walking") == [("person", 2, None, None)]
    assert parse("people walking").words == "walking"
    assert _objects("crowd") == [("person", CROWD_COUNT, None, None)]
    assert _objects("pedestrians") == [("person", 2, None, None)]
    assert _objects("kids") == [("person", 2, None, None)]
    assert sorted(_objects("cyclist")) == [("bicycle", 1, None, None), ("person", 1, None, None)]
    assert _objects("bike") == [("bicycle", 1, None, None)]
    assert _objects("mug") == [("cup", 1, None, None)]
    assert _objects("a dog close up") == [("dog", 1, None, "large")]


def test_colours_go_to_the_thing_they_describe_or_to_the_picture():
    assert _objects("black cup") == [("cup", 1, "black", None)]
    assert _objects("red car") == [("car", 1, "red", None)]
    assert _objects("orange car") == [("car", 1, "orange", None)]
    q = parse("yellow box")
    assert q.objects == [] and q.colours == ["yellow"] and q.words == "box"
    assert parse("night").light == "dark" and parse("grey sky").colours == ["grey"]
    assert parse("daytime").light == "bright" and parse("daytime").words == ""


def test_words_on_screen_dates_and_the_rest():
    q = parse('"TAXI" march 2024')
    assert q.screen_text == ["TAXI"] and q.date is not None and q.date.month == 3
    assert q.words == ""
    assert parse("text on screen").any_screen_text and parse("text on screen").words == ""
    assert parse("sign saying exit").screen_text == ["exit"]
    q = parse("someone holding a box")
    assert _objects("someone holding a box") == [("person", 1, None, None)] and q.words == "box"
    assert parse("person speaking").words == "speaking"
    assert parse("cardboard box").objects == [] and parse("cardboard box").words == "cardboard box"
    assert parse("speech").words == "speech" and parse("a tree").words == "tree"
    assert parse("").empty and not parse("dog").empty
    assert parse("two dogs 2023").parts() == [("date", "2023"), ("object", "dogs")]


def test_words_for_people_and_what_people_do_are_kept_apart():
    q = parse("a man talking")
    assert q.person_words == ["man"] and q.words == "talking" and q.activity_words == ["talking"]
    assert parse("cyclist").person_words == []  # a person on a bicycle: both classes
    assert parse("two dogs running").activity_words == ["running"]
    assert parse("yellow box").activity_words == []
