"""What a person typed, taken apart: things with counts and colours, words on screen,
colours and light, dates, and the words left for labels, sounds and names.

    "two dogs"            -> objects: dog (at least 2)
    "people walking"      -> objects: person (at least 2); words: "walking"
    "a person"            -> objects: person (at least 1)
    "crowd"               -> objects: person (at least 5)
    "yellow box"          -> colours: yellow (of the picture); words: "box"
    "red car"             -> objects: car, red
    "a dog close up"      -> objects: dog, large in the frame
    '"TAXI"' / "text TAXI"-> text on screen: taxi
    "text on screen"      -> any words on screen
    "night", "dark"       -> light: dark
    "march 2024"          -> date (app.core.search.datequery)

Object words are the COCO classes the person detector knows, with their everyday
synonyms and plurals ("pedestrians", "cyclist", "bike", "kids", "mug"). Everything not
taken goes on to the label search (ImageNet, AudioSet and WordNet kinds: "speech",
"cardboard box", "fruit") and to file, folder and album names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.core.search import datequery
from app.core.vocabulary import COLOUR_NAMES, singular

# COCO class -> the words people use for it (singular; plurals are folded first).
OBJECT_WORDS: dict[str, tuple[str, ...]] = {
    "person": ("person", "people", "persons", "pedestrian", "man", "woman", "kid", "child",
               "boy", "girl", "baby", "guy", "lady", "someone", "somebody", "human",
               "player", "runner", "walker", "adult", "teenager", "toddler", "cyclist",
               "biker", "skier", "surfer", "skater", "family", "friend", "crowd"),
    "bicycle": ("bicycle", "bike", "cyclist", "biker", "cycle"),
    "car": ("car", "auto", "automobile", "taxi", "cab", "sedan", "suv", "jeep"),
    "motorcycle": ("motorcycle", "motorbike", "scooter", "moped"),
    "airplane": ("airplane", "aeroplane", "plane", "aircraft", "jet", "airliner"),
    "bus": ("bus",),
    "train": ("train", "tram", "locomotive", "subway"),
    "truck": ("truck", "lorry", "van", "pickup"),
    "boat": ("boat", "ship", "sailboat", "yacht", "canoe", "kayak", "ferry"),
    "traffic light": ("traffic light", "traffic signal", "stoplight"),
    "fire hydrant": ("fire hydrant", "hydrant"),
    "stop sign": ("stop sign",),
    "parking meter": ("parking meter",),
    "bench": ("bench",),
    "bird": ("bird", "pigeon", "seagull", "gull", "duck", "parrot", "chicken"),
    "cat": ("cat", "kitten", "kitty"),
    "dog": ("dog", "puppy", "pup", "doggy"),
    "horse": ("horse", "pony"),
    "sheep": ("sheep", "lamb"),
    "cow": ("cow", "cattle", "calf", "bull"),
    "elephant": ("elephant",),
    "bear": ("bear",),
    "zebra": ("zebra",),
    "giraffe": ("giraffe",),
    "backpack": ("backpack", "rucksack"),
    "umbrella": ("umbrella",),
    "handbag": ("handbag", "purse"),
    "tie": ("tie", "necktie"),
    "suitcase": ("suitcase", "luggage"),
    "frisbee": ("frisbee",),
    "skis": ("ski", "skis"),
    "snowboard": ("snowboard",),
    "sports ball": ("ball", "football", "soccer ball", "basketball"),
    "kite": ("kite",),
    "baseball bat": ("baseball bat",),
    "baseball glove": ("baseball glove",),
    "skateboard": ("skateboard",),
    "surfboard": ("surfboard",),
    "tennis racket": ("tennis racket", "racket", "racquet"),
    "bottle": ("bottle",),
    "wine glass": ("wine glass", "glass"),
    "cup": ("cup", "mug"),
    "fork": ("fork",),
    "knife": ("knife",),
    "spoon": ("spoon",),
    "bowl": ("bowl",),
    "banana": ("banana",),
    "apple": ("apple",),
    "sandwich": ("sandwich",),
    "orange": ("orange",),
    "broccoli": ("broccoli",),
    "carrot": ("carrot",),
    "hot dog": ("hot dog", "hotdog"),
    "pizza": ("pizza",),
    "donut": ("donut", "doughnut"),
    "cake": ("cake",),
    "chair": ("chair",),
    "couch": ("couch", "sofa"),
    "potted plant": ("potted plant", "houseplant", "plant"),
    "bed": ("bed",),
    "dining table": ("dining table", "table"),
    "toilet": ("toilet",),
    "tv": ("tv", "television", "telly"),
    "laptop": ("laptop", "notebook computer"),
    "mouse": ("computer mouse",),
    "remote": ("remote", "remote control"),
    "keyboard": ("keyboard",),
    "cell phone": ("cell phone", "phone", "smartphone", "mobile phone", "cellphone"),
    "microwave": ("microwave",),
    "oven": ("oven",),
    "toaster": ("toaster",),
    "sink": ("sink",),
    "refrigerator": ("refrigerator", "fridge"),
    "book": ("book",),
    "clock": ("clock",),
    "vase": ("vase",),
    "scissors": ("scissors",),
    "teddy bear": ("teddy bear", "teddy"),
    "hair drier": ("hair drier", "hair dryer", "hairdryer"),
    "toothbrush": ("toothbrush",),
}
# A word that names two classes ("cyclist": a person on a bicycle) asks for both.
_WORD_CLASSES: dict[str, list[str]] = {}
for _cls, _words in OBJECT_WORDS.items():
    for _w in _words:
        _WORD_CLASSES.setdefault(_w, []).append(_cls)
_LONGEST_WORDS = max(len(w.split()) for w in _WORD_CLASSES)

COLOUR_WORDS = {c: c for c in COLOUR_NAMES} | {"gray": "grey", "violet": "purple", "golden": "yellow",
                                          "gold": "yellow", "silver": "grey", "beige": "brown"}
LIGHT_WORDS = {"dark": "dark", "night": "dark", "nighttime": "dark", "evening": "dark",
               "bright": "bright", "sunny": "bright", "daylight": "bright", "sunshine": "bright",
               "daytime": "bright"}
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "couple": 2, "pair": 2,
                "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "several": 3, "few": 2, "many": 5, "lots": 5, "group": 3}
# Plural object words ask for more than one; these ask for many.
CROWD_WORDS = frozenset({"crowd", "crowds", "crowded", "busy"})
CROWD_COUNT = 5
SIZE_WORDS = {"close": "large", "closeup": "large", "close-up": "large", "big": "large",
              "large": "large", "huge": "large", "small": "small", "tiny": "small",
              "distant": "small", "far": "small"}
TEXT_WORDS = frozenset({"text", "words", "word", "writing", "written", "caption", "captions",
                        "subtitle", "subtitles", "title", "sign", "signs", "lettering"})
# What people do: with no thing named and nothing the labels know in the words
# ("walking", "dancing"), such a word asks for people in the picture.
ACTIVITY_WORDS = frozenset({
    "walking", "walk", "running", "run", "jogging", "dancing", "dance", "sitting", "standing",
    "playing", "play", "talking", "speaking", "chatting", "singing", "laughing", "smiling",
    "waving", "hugging", "kissing", "eating", "drinking", "cooking", "working", "shopping",
    "swimming", "skating", "skiing", "cycling", "riding", "jumping", "climbing", "hiking",
    "reading", "posing", "celebrating", "exercising", "training", "fighting", "crying"})
# Words that only glue a query together ("someone holding a box", "text on screen").
FILLER = frozenset({"the", "of", "on", "in", "at", "with", "and", "or", "some", "up", "screen",
                    "holding", "showing", "shot", "video", "clip", "clips", "videos", "photo",
                    "footage", "me", "my", "our", "is", "are", "there"})


@dataclass
class ObjectWant:
    """A detected thing the query asks for."""

    label: str  # COCO class
    min_count: int = 1
    colour: str | None = None
    size: str | None = None  # "large" (close up) | "small" (in the distance)
    said: str = ""  # the words the user typed for it

    def describe(self) -> str:
        bits = [str(self.min_count) + "+" if self.min_count > 1 else "",
                self.colour or "", self.label, "close up" if self.size == "large" else ""]
        return " ".join(b for b in bits if b)


@dataclass
class ParsedQuery:
    text: str
    date: datequery.DateQuery | None = None
    objects: list[ObjectWant] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)  # of the picture as a whole
    light: str | None = None  # "dark" | "bright"
    screen_text: list[str] = field(default_factory=list)  # quoted or after "text"
    any_screen_text: bool = False  # "text on screen", "subtitles"
    words: str = ""  # left for labels, sounds and names
    # Words read as people and nothing else ("man", "kids"): the person detector answers
    # them; to the labels they are noise that drowns the rest ("man talking": speech).
    person_words: list[str] = field(default_factory=list)
    activity_words: list[str] = field(default_factory=list)  # also left in ``words``

    @property
    def empty(self) -> bool:
        return not (self.date or self.objects or self.colours or self.light
                    or self.screen_text or self.any_screen_text or self.words.strip())

    def parts(self) -> list[tuple[str, str]]:
        """(kind, what the user said) for each part: for "why" and "nothing matched"."""
        out = [("date", self.date.text)] if self.date else []
        out += [("object", o.said or o.describe()) for o in self.objects]
        out += [("colour", c) for c in self.colours]
        out += [("light", self.light)] if self.light else []
        out += [("text", t) for t in self.screen_text]
        out += [("text", "text on screen")] if self.any_screen_text and not self.screen_text else []
        out += [("words", self.words)] if self.words.strip() else []
        return out


_TOKEN = re.compile(r"[\w'-]+")


def label_text(text: str, parsed: ParsedQuery) -> str:
    """``text`` without the words read as people only: what the label matcher is given
    (the person detector answers "man" in "man talking"; the labels answer "talking")."""
    if not parsed.person_words:
        return text
    drop = set(parsed.person_words)
    return " ".join(w for w in _TOKEN.findall(text) if w.lower() not in drop)


def parse(query: str) -> ParsedQuery:
    """Take a query apart (see the module's docstring)."""
    parsed = ParsedQuery(query)
    when, rest = datequery.extract(query)
    parsed.date = when
    quoted = re.findall(r'"([^"]+)"|“([^”]+)”', rest)
    parsed.screen_text += [(a or b).strip() for a, b in quoted if (a or b).strip()]
    rest = re.sub(r'"[^"]*"|“[^”]*”', " ", rest)
    tokens = _TOKEN.findall(rest.lower())
    left: list[str] = []
    pending_count: int | None = None
    pending_colour: str | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        # "orange car": a colour before a thing, though "orange" names a fruit too.
        took = None if tok in COLOUR_WORDS and _object_at(tokens, i + 1) else _object_at(tokens, i)
        if took:
            classes, n, said, plural = took
            if classes == ["person"]:
                parsed.person_words += tokens[i:i + n]
            for cls in classes:
                want = ObjectWant(cls, said=said)
                if tok in CROWD_WORDS or said in CROWD_WORDS:
                    want.min_count = CROWD_COUNT
                elif pending_count is not None:
                    want.min_count = pending_count
                elif plural and cls == "person":
                    want.min_count = 2
                if pending_colour:
                    want.colour = pending_colour
                    want.said = f"{pending_colour} {said}"
                parsed.objects.append(want)
            pending_count = pending_colour = None
            i += n
            continue
        if pending_colour:  # a colour before a word that is no detected thing: the picture's
            parsed.colours.append(pending_colour)
            pending_colour = None
        if tok.isdigit() and int(tok) < 1000:
            pending_count = int(tok)
        elif tok in NUMBER_WORDS:
            pending_count = NUMBER_WORDS[tok] if pending_count is None else pending_count
        elif tok in COLOUR_WORDS:
            pending_colour = COLOUR_WORDS[tok]
        elif tok in LIGHT_WORDS:
            parsed.light = LIGHT_WORDS[tok]
        elif tok in SIZE_WORDS:
            if parsed.objects:
                parsed.objects[-1].size = SIZE_WORDS[tok]
        elif tok in CROWD_WORDS:
            parsed.objects.append(ObjectWant("person", CROWD_COUNT, said=tok))
        elif tok in TEXT_WORDS:
            parsed.any_screen_text = True
        elif tok not in FILLER:
            left.append(tok)
            if tok in ACTIVITY_WORDS:
                parsed.activity_words.append(tok)
        i += 1
    if pending_colour:
        parsed.colours.append(pending_colour)
    if parsed.any_screen_text and left and not quoted:
        # "text TAXI", "sign saying exit": the words after a text word are the text.
        parsed.screen_text += [w for w in left if w not in {"saying", "says", "reading"}]
        left = []
    parsed.words = " ".join(left)
    return parsed


def _object_at(tokens: list[str], i: int) -> tuple[list[str], int, str, bool] | None:
    """The COCO classes named by the words at ``tokens[i:]`` (longest match first), how
    many tokens that took, the words, and whether they were plural."""
    for n in range(min(_LONGEST_WORDS, len(tokens) - i), 0, -1):
        words = tokens[i:i + n]
        said = " ".join(words)
        one = " ".join([*words[:-1], singular(words[-1])])
        for candidate, plural in ((said, said != one and said in _WORD_CLASSES), (one, one != said)):
            if candidate in _WORD_CLASSES:
                plural = plural or words[-1] in {"people", "men", "women", "children", "kids"}
                return _WORD_CLASSES[candidate], n, said, plural
    return None
