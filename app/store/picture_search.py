"""SQL for search over what the analysed frames show (tables of migration 4): things
with counts, sizes and colours, colours of the picture, light, and words on screen.

Every function returns one row per analysed frame that matches, of present indexed
files only, so search can judge counts per frame and point at the moment.
"""

from __future__ import annotations

from typing import TypedDict

from app.store.library import Library

_PRESENT = "f.status = 'indexed' AND f.presence = 'present'"


class ObjectFrame(TypedDict):
    file_id: int
    t: float
    count: int  # things of that class in the frame (of that colour, when asked)
    largest: float  # the largest one's share of the frame, 0..1
    score: float  # the detector's best confidence among them


def object_frames(lib: Library, label: str, colour: str | None = None) -> list[ObjectFrame]:
    colour_sql = "AND x.colour = ?" if colour else ""
    args = (label, colour) if colour else (label,)
    return [ObjectFrame(file_id=r[0], t=r[1], count=r[2], largest=r[3], score=r[4])
            for r in lib.conn.execute(
                f"SELECT x.file_id, x.t, count(*), max(x.w * x.h), max(x.score) "
                f"FROM frame_objects x JOIN files f ON f.id = x.file_id "
                f"WHERE x.label = ? {colour_sql} AND {_PRESENT} GROUP BY x.file_id, x.t",
                args)]


def colour_frames(lib: Library, colour: str) -> list[tuple[int, float, float]]:
    """(file_id, t, share of the frame) for frames where ``colour`` is a dominant colour."""
    return [tuple(r) for r in lib.conn.execute(
        f"SELECT x.file_id, x.t, x.share FROM frame_colours x JOIN files f ON f.id = x.file_id "
        f"WHERE x.colour = ? AND {_PRESENT}", (colour,))]


def light_frames(lib: Library, light: str) -> list[tuple[int, float]]:
    """(file_id, t) of the analysed frames that are ``light`` ("dark" or "bright")."""
    return [tuple(r) for r in lib.conn.execute(
        f"SELECT x.file_id, x.t FROM analysed_frames x JOIN files f ON f.id = x.file_id "
        f"WHERE x.light = ? AND {_PRESENT}", (light,))]


def text_frames(lib: Library) -> list[tuple[int, float, str, str]]:
    """(file_id, t, tokens, lines as JSON) of every frame where words were read."""
    return [tuple(r) for r in lib.conn.execute(
        f"SELECT x.file_id, x.t, x.tokens, x.lines FROM frame_text x "
        f"JOIN files f ON f.id = x.file_id WHERE {_PRESENT}")]
