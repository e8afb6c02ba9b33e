"""Rows of what a file's pictures show: analysed frames, faces, objects, words, colours.

Written by ``Library.save_index`` in the same transaction as the rest of a file's index
(from ``ClipIndex.analysis``, an ``app.core.indexing.analysis.FrameAnalysis``: read here by
its attributes, as the store does not import the core), cleared with it when the file
is indexed again or fails, copied with it for a byte-identical copy, and deleted with
the file (ON DELETE CASCADE).

Face identity vectors and crops stay in this file: reads for display (``faces``) leave
them out; ``face_vectors`` and ``face_crop`` are for people clustering and the People page.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol, TypedDict

import numpy as np


class Library(Protocol):
    """What these functions use of ``app.store.library.Library`` (which imports this
    module to write the rows, so this module cannot import it)."""

    conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

TABLES = ("analysed_frames", "file_analysis", "faces", "frame_objects", "frame_text",
          "frame_colours")
FACE_DIM = 1024


# --- writing --------------------------------------------------------------------------

def write_analysis(conn: sqlite3.Connection, file_id: int, analysis) -> None:
    """Rows of one file's analysis; the caller holds the transaction and has cleared
    the file's earlier rows."""
    conn.execute("INSERT INTO file_analysis VALUES (?, ?, ?)",
                  (file_id, json.dumps(list(analysis.missing)),
                   json.dumps({k: round(float(v), 4) for k, v in analysis.stats.items()})))
    conn.executemany(
        "INSERT INTO analysed_frames VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(file_id, f.t, f.until, f.brightness, f.light, f.faces_seen, f.text_score,
          int(f.objects_run), int(f.text_run)) for f in analysis.frames])
    conn.executemany(
        "INSERT INTO frame_colours VALUES (?, ?, ?, ?)",
        [(file_id, f.t, colour, share) for f in analysis.frames for colour, share in f.colours])
    conn.executemany(
        "INSERT INTO faces(file_id, t, x, y, w, h, score, quality, embedding, crop, track) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(file_id, f.t, *f.box, f.score, f.quality,
          None if f.embedding is None else np.asarray(f.embedding, np.float16).tobytes(),
          f.crop, f.track) for f in analysis.faces])
    conn.executemany(
        "INSERT INTO frame_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(file_id, o.t, o.label, o.score, *o.box, o.colour) for o in analysis.objects])
    conn.executemany(
        "INSERT INTO frame_text VALUES (?, ?, ?, ?)",
        [(file_id, x.t, json.dumps(x.lines, ensure_ascii=False), " ".join(x.tokens))
         for x in analysis.texts])


def clear_analysis(conn: sqlite3.Connection, file_id: int) -> None:
    """A file's analysis rows go (it is being indexed again, or failed)."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table} WHERE file_id = ?", (file_id,))


def copy_analysis(conn: sqlite3.Connection, source_id: int, file_id: int) -> None:
    """A byte-identical copy gets the rows of the file it equals (its faces get new ids
    and no person yet: clustering places them)."""
    for table in TABLES:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")
                if r[1] not in ("file_id", "id", "person_id")]
        conn.execute(f"INSERT INTO {table}(file_id, {', '.join(cols)}) "
                     f"SELECT ?, {', '.join(cols)} FROM {table} WHERE file_id = ?",
                     (file_id, source_id))


# --- reading one file -----------------------------------------------------------------

class AnalysedFrame(TypedDict):
    t: float
    until: float
    brightness: float
    light: str | None
    faces_seen: int
    text_score: float
    objects_run: bool
    text_run: bool


class FaceRow(TypedDict):
    id: int
    t: float
    box: list[float]  # x, y, width, height as fractions of the frame
    score: float
    quality: float
    track: int
    person_id: int | None
    identity: bool  # has an identity vector (and a crop)


class ObjectRow(TypedDict):
    t: float
    label: str
    score: float
    box: list[float]
    colour: str | None


class TextRow(TypedDict):
    t: float
    lines: list[str]
    tokens: list[str]


class ColourRow(TypedDict):
    t: float
    colour: str
    share: float


def file_analysis(lib: Library, file_id: int) -> dict | None:
    """{"missing": [...], "stats": {...}}, or None for a file indexed without analysis."""
    row = lib.conn.execute("SELECT missing, stats FROM file_analysis WHERE file_id = ?",
                           (file_id,)).fetchone()
    return None if row is None else {"missing": json.loads(row[0]), "stats": json.loads(row[1])}


def analysed_frames(lib: Library, file_id: int) -> list[AnalysedFrame]:
    return [AnalysedFrame(t=r[0], until=r[1], brightness=r[2], light=r[3], faces_seen=r[4],
                          text_score=r[5], objects_run=bool(r[6]), text_run=bool(r[7]))
            for r in lib.conn.execute(
                "SELECT t, until, brightness, light, faces_seen, text_score, objects_run, "
                "text_run FROM analysed_frames WHERE file_id = ? ORDER BY t", (file_id,))]


def faces(lib: Library, file_id: int) -> list[FaceRow]:
    """A file's faces by time, without vectors or crops."""
    return [FaceRow(id=r[0], t=r[1], box=[r[2], r[3], r[4], r[5]], score=r[6], quality=r[7],
                    track=r[8], person_id=r[9], identity=bool(r[10]))
            for r in lib.conn.execute(
                "SELECT id, t, x, y, w, h, score, quality, track, person_id, "
                "embedding IS NOT NULL FROM faces WHERE file_id = ? ORDER BY t, track",
                (file_id,))]


def frame_objects(lib: Library, file_id: int) -> list[ObjectRow]:
    return [ObjectRow(t=r[0], label=r[1], score=r[2], box=[r[3], r[4], r[5], r[6]],
                      colour=r[7])
            for r in lib.conn.execute(
                "SELECT t, label, score, x, y, w, h, colour FROM frame_objects "
                "WHERE file_id = ? ORDER BY t, score DESC", (file_id,))]


def frame_text(lib: Library, file_id: int) -> list[TextRow]:
    return [TextRow(t=r[0], lines=json.loads(r[1]), tokens=r[2].split())
            for r in lib.conn.execute(
                "SELECT t, lines, tokens FROM frame_text WHERE file_id = ? ORDER BY t",
                (file_id,))]


def frame_colours(lib: Library, file_id: int) -> list[ColourRow]:
    return [ColourRow(t=r[0], colour=r[1], share=r[2])
            for r in lib.conn.execute(
                "SELECT t, colour, share FROM frame_colours WHERE file_id = ? "
                "ORDER BY t, share DESC", (file_id,))]


class ScreenText(TypedDict):
    reader_ran: bool  # the file's analysis had the text reader (not "missing" text)
    frames: list[tuple[float, float, bool]]  # analysed frames: (t, until, text_run)
    lines: dict[float, list[str]]  # frame time -> the lines read there


def screen_text(lib: Library, file_ids: Iterable[int]) -> dict[int, ScreenText]:
    """What was read on screen in each of these files that has an analysis: its analysed
    frames (whether the reader looked) and the lines read, by time. For comparing copies
    (``app.core.duplicates.burned_text``); files without an analysis are left out."""
    out: dict[int, ScreenText] = {}
    ids = sorted({int(i) for i in file_ids})
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for file_id, missing in lib.conn.execute(
                f"SELECT file_id, missing FROM file_analysis WHERE file_id IN ({marks})", chunk):
            out[file_id] = ScreenText(reader_ran="text" not in json.loads(missing),
                                      frames=[], lines={})
        for file_id, t, until, run in lib.conn.execute(
                f"SELECT file_id, t, until, text_run FROM analysed_frames "
                f"WHERE file_id IN ({marks}) ORDER BY file_id, t", chunk):
            if file_id in out:
                out[file_id]["frames"].append((t, until, bool(run)))
        for file_id, t, lines in lib.conn.execute(
                f"SELECT file_id, t, lines FROM frame_text WHERE file_id IN ({marks})", chunk):
            if file_id in out:
                out[file_id]["lines"][t] = json.loads(lines)
    return out


# --- faces for people ------------------------------------------------------------------

def face_crop(lib: Library, face_id: int) -> bytes | None:
    row = lib.conn.execute("SELECT crop FROM faces WHERE id = ?", (face_id,)).fetchone()
    return row[0] if row else None


def face_vectors(lib: Library, file_ids: Iterable[int] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face ids int64 [n], file ids int64 [n], identity vectors float16 [n, 1024]) of the
    faces that have one, of present indexed files (or of these files)."""
    sql = ("SELECT fc.id, fc.file_id, fc.embedding FROM faces fc JOIN files f ON "
           "f.id = fc.file_id WHERE fc.embedding IS NOT NULL AND f.status = 'indexed' "
           "AND f.presence = 'present'")
    if file_ids is None:
        rows = lib.conn.execute(sql + " ORDER BY fc.id").fetchall()
    else:
        rows = [r for chunk in _chunks(sorted({int(i) for i in file_ids}))
                for r in lib.conn.execute(
                    sql + f" AND fc.file_id IN ({','.join('?' * len(chunk))}) ORDER BY fc.id",
                    chunk)]
    ids = np.array([r[0] for r in rows], np.int64)
    files = np.array([r[1] for r in rows], np.int64)
    vectors = (np.frombuffer(b"".join(r[2] for r in rows), np.float16).reshape(-1, FACE_DIM)
               if rows else np.zeros((0, FACE_DIM), np.float16))
    return ids, files, vectors


def set_face_people(lib: Library, assignments: Iterable[tuple[int, int | None]]) -> None:
    """(face id, person id or None) pairs, in one transaction."""
    with lib.transaction() as c:
        c.executemany("UPDATE faces SET person_id = ? WHERE id = ?",
                      [(person, face) for face, person in assignments])


# --- bulk, for search -----------------------------------------------------------------

def frame_words(lib: Library) -> list[tuple[int, float, str, list[str]]]:
    """(file_id, t, kind, words) of the analysed frames of present indexed files, by file
    and time: kind "object" (COCO labels), "object_colour" ("yellow car"), "colour" (the
    frame's colours), "light" (dark, bright) or "text" (search tokens of the words read).
    The query parser's vocabulary of what is on screen, and when."""
    present = "JOIN files f ON f.id = x.file_id WHERE f.status = 'indexed' " \
              "AND f.presence = 'present'"
    queries = (
        ("object", f"SELECT x.file_id, x.t, group_concat(x.label, '|') FROM frame_objects x "
                   f"{present} GROUP BY x.file_id, x.t"),
        ("object_colour", f"SELECT x.file_id, x.t, group_concat(x.colour || ' ' || x.label, "
                          f"'|') FROM frame_objects x {present} AND x.colour IS NOT NULL "
                          f"GROUP BY x.file_id, x.t"),
        ("colour", f"SELECT x.file_id, x.t, group_concat(x.colour, '|') FROM frame_colours x "
                   f"{present} GROUP BY x.file_id, x.t"),
        ("light", f"SELECT x.file_id, x.t, x.light FROM analysed_frames x {present} "
                  f"AND x.light IS NOT NULL"),
        ("text", f"SELECT x.file_id, x.t, replace(x.tokens, ' ', '|') FROM frame_text x "
                 f"{present}"),
    )
    rows = []
    for kind, sql in queries:
        rows += [(r[0], r[1], kind, sorted(set(r[2].split("|"))))
                 for r in lib.conn.execute(sql)]
    return sorted(rows, key=lambda r: (r[0], r[1], r[2]))


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]
