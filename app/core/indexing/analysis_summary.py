"""A file's picture analysis in words, per moment and for the whole file (``info``, ``tags``).

Reads the rows ``app.store.analysis`` keeps and groups them by the file's moments (its
segments): which objects were seen in each and how large, which colours dominate, what
was written on screen. Face identity vectors and crops are never part of it.
"""

from __future__ import annotations

import bisect
from collections import Counter

from app.store import analysis as rows

# Object sizes in words, by the largest box's share of the frame.
SIZE_WORDS = ((0.35, "close up"), (0.08, "medium"), (0.015, "small"), (0.0, "far"))
MOMENT_COLOUR_SHARE = 0.1  # a colour is named for a moment when it covers this much of it


def size_word(area: float) -> str:
    return next(word for floor, word in SIZE_WORDS if area >= floor)


def _moment_of(starts: list[float], t: float) -> int:
    return max(0, bisect.bisect_right(starts, t) - 1)


def describe(lib, file_id: int, segments: list[dict]) -> dict:
    """JSON-ready {"analysis", "faces", "objects", "text", "colours"} of one file;
    ``segments`` are ``Library.segments(file_id)``. A file indexed before analysis existed
    (or without it) has "analysis": None and empty lists."""
    meta = rows.file_analysis(lib, file_id)
    starts = [s["start"] for s in segments] or [0.0]
    bounds = [(s["start"], s["end"]) for s in segments] or [(0.0, 0.0)]
    frames = rows.analysed_frames(lib, file_id)
    faces = [{"id": f["id"], "time": f["t"], "box": f["box"], "quality": f["quality"],
              "track": f["track"], "person_id": f["person_id"]}
             for f in rows.faces(lib, file_id)]

    per_moment: dict[int, dict[str, dict]] = {}
    counts: dict[tuple[int, float, str], int] = Counter()
    for obj in rows.frame_objects(lib, file_id):
        m = _moment_of(starts, obj["t"])
        counts[(m, obj["t"], obj["label"])] += 1
        entry = per_moment.setdefault(m, {}).setdefault(
            obj["label"], {"label": obj["label"], "count": 0, "max_area": 0.0, "score": 0.0,
                           "colours": Counter()})
        entry["count"] = max(entry["count"], counts[(m, obj["t"], obj["label"])])
        entry["max_area"] = max(entry["max_area"], obj["box"][2] * obj["box"][3])
        entry["score"] = max(entry["score"], obj["score"])
        if obj["colour"]:
            entry["colours"][obj["colour"]] += 1
    objects = []
    for m in sorted(per_moment):
        found = sorted(per_moment[m].values(), key=lambda e: (-e["max_area"], e["label"]))
        objects.append({"start": bounds[m][0], "end": bounds[m][1], "objects": [
            {"label": e["label"], "count": e["count"], "size": size_word(e["max_area"]),
             "colours": [c for c, _ in e["colours"].most_common()],
             "score": round(e["score"], 3)} for e in found]})

    frames_in: dict[int, list[dict]] = {}
    for f in frames:
        frames_in.setdefault(_moment_of(starts, f["t"]), []).append(f)
    shares: dict[int, Counter] = {}
    for c in rows.frame_colours(lib, file_id):
        shares.setdefault(_moment_of(starts, c["t"]), Counter())[c["colour"]] += c["share"]
    colours = []
    for m in sorted(frames_in):
        n = len(frames_in[m])
        lights = Counter(f["light"] for f in frames_in[m])
        light, votes = lights.most_common(1)[0]
        colours.append({
            "start": bounds[m][0], "end": bounds[m][1],
            "colours": [{"colour": c, "share": round(s / n, 3)}
                        for c, s in shares.get(m, Counter()).most_common()
                        if s / n >= MOMENT_COLOUR_SHARE],
            "light": light if votes * 2 > n else None})

    text = [{"time": x["t"], "lines": x["lines"]} for x in rows.frame_text(lib, file_id)]
    return {"analysis": meta, "faces": faces, "objects": objects, "text": text,
            "colours": colours}


def file_tags(described: dict) -> dict:
    """The whole file's objects (by moments seen in), colours and light (by moments they
    are named for), lines read on screen, and its face and face-track counts, from
    ``describe``."""
    seen, tints = Counter(), {}
    for moment in described["objects"]:
        for obj in moment["objects"]:
            seen[obj["label"]] += 1
            tints.setdefault(obj["label"], Counter()).update(obj["colours"])
    colour_votes = Counter(c["colour"] for m in described["colours"] for c in m["colours"])
    lights = Counter(m["light"] for m in described["colours"] if m["light"])
    words = list(dict.fromkeys(line for t in described["text"] for line in t["lines"]))
    return {
        "objects": [{"label": label, "moments": n,
                     "colours": [c for c, _ in tints[label].most_common(2)]}
                    for label, n in seen.most_common()],
        "colours": [{"colour": c, "moments": n} for c, n in colour_votes.most_common()],
        "light": [{"light": word, "moments": n} for word, n in lights.most_common()],
        "text": words,
        "faces": {"count": len(described["faces"]),
                  "tracks": len({f["track"] for f in described["faces"]})},
    }
