"""What the window asks of the library, as plain functions run by ``tasks.run_task``.

Each call opens its own connection (SQLite connections stay on the thread that made
them), calls app.store / app.core, and returns plain data. Nothing here runs on the GUI
thread and nothing here imports widgets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.core import vocabulary
from app.store import browse
from app.store.library import Library


@contextmanager
def opened(path: str, write: bool = False) -> Iterator[Library]:
    """Reads take no writer lock (WAL lets them run beside a scan); edits and the first
    open of a new library (which creates it) do."""
    lib = Library(path, readonly=not write and Path(path).exists())
    try:
        yield lib
    finally:
        lib.close()


def plain(obj) -> dict:
    """A core result (dataclass, dict or object with attributes) as a dict."""
    if isinstance(obj, dict):
        return dict(obj)
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


# ---- browsing ---------------------------------------------------------------------------
@dataclass
class Snapshot:
    rows: list[dict]
    problems: list[dict]
    roots: list[dict]
    by_id: dict[int, dict] = dataclasses.field(default_factory=dict)
    by_path: dict[str, dict] = dataclasses.field(default_factory=dict)
    # sort key -> indices of ``rows`` in that order: sorting 100,000 rows takes a good
    # part of a second, so it happens here, off the GUI thread, and the models swap in.
    orders: dict[str, list[int]] = dataclasses.field(default_factory=dict)


def prepare_library(path: str) -> None:
    """Create or upgrade the library once, before any read. Another process holding the
    writer lock (a CLI scan) is fine: the library exists and reads go on beside it."""
    from app.store.lock import LibraryLocked
    try:
        with opened(path, write=True):
            pass
    except LibraryLocked:
        if not Path(path).exists():
            raise


def load_snapshot(path: str, sorts: tuple[str, ...] = ()) -> Snapshot:
    """The library's rows, problems and folders, with the rows already indexed by id and
    path and put in the order of each of ``sorts`` (keys of ``sorting.SORTS``)."""
    from app.gui.models.sorting import sorted_orders
    with opened(path) as lib:
        rows = browse.grid_rows(lib)
        problems, roots = lib.problems(), browse.root_summaries(lib)
    return Snapshot(rows, problems, roots, {r["id"]: r for r in rows},
                    {r["path"]: r for r in rows}, sorted_orders(rows, sorts))


def file_details(path: str, file_id: int) -> dict:
    with opened(path) as lib:
        row = lib.file_by_id(file_id)
        if row is None:
            return {}
        from app.core.indexing.analysis_summary import describe, file_tags
        from app.core.library.places import place_of
        segments = lib.segments(file_id)
        for s in segments:  # the timeline names a moment only by what is confidently there
            s["labels"] = {kind: [x for x in s["labels"].get(kind, [])
                                  if vocabulary.is_shown(kind, x[1], x[2])]
                           for kind in ("visual", "audio")}
        place = place_of(lib, file_id)
        return {"file": row, "segments": segments,
                "visual": lib.labels(file_id, "visual"), "audio": lib.labels(file_id, "audio"),
                "words": vocabulary.clip_words(lib.clip(file_id)),
                "pictures": file_tags(describe(lib, file_id, segments)),
                "place": place.label if place else None,
                "people": _file_people(lib, file_id)}


def library_places(path: str) -> list[dict]:
    """Places with their clip counts and files (``app.core.library.places``)."""
    from app.core.library.places import library_places as places
    with opened(path) as lib:
        return places(lib)


def _file_people(lib, file_id: int) -> list[dict]:
    from app.core import people
    return people.file_people(lib, file_id)


def forget_folder(path: str, folder: str) -> int:
    with opened(path, write=True) as lib:
        return browse.forget_root(lib, folder)


# ---- search -----------------------------------------------------------------------------
class SearchAnswer(list):
    """Results as dicts, with what the search says about them: the query's parts no
    clip matched, and whether they are only the closest clips (``weak``)."""

    def __init__(self, items=(), unmatched: list[str] | None = None, weak: bool = False):
        super().__init__(items)
        self.unmatched = unmatched or []
        self.weak = weak


def search_text(path: str, query: str, limit: int = 60) -> SearchAnswer:
    from app.core import search
    with opened(path) as lib:
        results = search.search_text(lib, query, limit=limit)
        return SearchAnswer([plain(r) for r in results], results.unmatched, results.weak)


def similar(path: str, target: str | int, at: float | None = None, limit: int = 24) -> list[dict]:
    """Clips (or moments, with ``at``) like a library file, an outside clip or a photo."""
    from app.core import search
    with opened(path) as lib:
        return [plain(r) for r in search.similar(lib, target, at=at, limit=limit)]


def warm(path: str, text_model: bool = True) -> None:
    """At start, off the GUI thread: map (or build) the search indexes and load the text
    model, so the first search and similar strip answer at once."""
    from app.core import search
    with opened(path) as lib:
        search.warm(lib, text_model=text_model)


def warm_text_model() -> None:
    from app.core import search
    search.warm_text_model()


def recommend(path: str, limit: int = 40) -> list[dict]:
    from app.core import search
    with opened(path) as lib:
        return [plain(r) for r in search.recommend(lib, limit=limit)]


def record_watch(path: str, file_id: int, seconds: float) -> None:
    from app.core import search
    with opened(path, write=True) as lib:
        search.record_watch(lib, file_id, seconds)


# ---- duplicates and trash -----------------------------------------------------------------
def find_duplicates(path: str, progress=None, cancelled=None, found=None,
                    rebuild: bool = False) -> list[dict]:
    """``progress(done, total)`` as candidate pairs are compared; ``cancelled()`` True
    stops the comparison early (what was found so far comes back); ``found(groups)``
    with the groups confirmed so far, while it works; ``rebuild`` compares every clip
    again, not only those new since the last comparison."""
    from app.core import duplicates
    with opened(path) as lib:
        def plain_found(groups):
            found(_plain_groups(groups))

        return _plain_groups(duplicates.find_duplicates(
            lib, progress=progress, cancelled=cancelled,
            found=plain_found if found is not None else None, rebuild=rebuild))


def _plain_groups(groups) -> list[dict]:
    out = []
    for g in groups:
        group = plain(g)
        group["files"] = [plain(f) for f in group.get("files", [])]
        group["matches"] = [plain(m) for m in group.get("matches", [])]
        out.append(group)
    return out


def move_to_trash(path: str, file_ids: list[int]):
    from app.core.library import trash
    with opened(path, write=True) as lib:
        return trash.move_to_trash(lib, list(file_ids))


def undo_trash(path: str, batch):
    from app.core.library import trash
    with opened(path, write=True) as lib:
        return trash.undo(lib, batch)


def file_ids_for(path: str, paths: list[str]) -> dict[str, int]:
    with opened(path) as lib:
        found = {}
        for p in paths:
            row = lib.file(str(Path(p)))
            if row is not None:
                found[p] = row["id"]
        return found


# ---- albums ---------------------------------------------------------------------------------
def albums_refreshed(path: str) -> list[dict]:
    """Place new clips into albums (clustering keeps the user's edits), then list them."""
    from app.core import albums
    with opened(path, write=True) as lib:
        return albums.refresh_albums(lib)


def list_albums(path: str) -> list[dict]:
    from app.core import albums
    with opened(path) as lib:
        return albums.list_albums(lib)


def album_edit(path: str, action: str, *args):
    """``rename`` (id, title), ``merge`` (target, other), ``add``/``remove`` (id, file id),
    ``create`` (title, file ids), ``delete`` (id): each one transaction in app.core.albums.events."""
    from app.core import albums
    func = {"rename": albums.rename_album, "merge": albums.merge_albums,
            "add": albums.add_clip, "remove": albums.remove_clip,
            "create": albums.create_album, "delete": albums.delete_album}[action]
    with opened(path, write=True) as lib:
        return func(lib, *args)


# ---- people ---------------------------------------------------------------------------------
def people_refreshed(path: str) -> list[dict]:
    """Place new faces into people (the user's word is kept), then list them."""
    from app.core import people
    with opened(path, write=True) as lib:
        return people.refresh_people(lib)


def person_details(path: str, person_id: int) -> dict:
    """A person's clips (with the moment they are first seen) and faces, with crops."""
    from app.core import people
    from app.store import people as rows
    with opened(path) as lib:
        faces = people.person_faces(lib, person_id)
        clips: dict[int, dict] = {}
        for f in faces:
            clips.setdefault(f["file_id"], {"file_id": f["file_id"], "path": f["path"],
                                            "start": max(0.0, f["time"] - 1.0),
                                            "end": f["time"] + 4.0, "faces": 0})
            clips[f["file_id"]]["faces"] += 1
        # One face per track in the grid: the track is what "not this person" removes.
        shown, seen = [], set()
        for f in sorted(faces, key=lambda f: -f["quality"]):
            if (f["file_id"], f["track"]) not in seen:
                seen.add((f["file_id"], f["track"]))
                shown.append({**f, "crop": rows.face_crop(lib, f["id"])})
        return {"clips": list(clips.values()), "faces": shown}


def face_crops(path: str, face_ids: list[int]) -> dict[int, bytes]:
    from app.store import people as rows
    with opened(path) as lib:
        return {f: c for f in face_ids if (c := rows.face_crop(lib, f)) is not None}


def people_edit(path: str, action: str, *args):
    """``name`` (id, name), ``merge`` (target, other), ``remove_face`` (face id), ``hide``
    (id): each one transaction in app.core.people.edits."""
    from app.core import people
    func = {"name": people.name_person, "merge": people.merge_people,
            "remove_face": people.remove_face, "hide": people.hide_person}[action]
    with opened(path, write=True) as lib:
        return func(lib, *args)


def clip_people(path: str, file_id: int) -> list[dict]:
    """The people in a clip with the times they are seen (detail pane, timeline)."""
    from app.core import people
    with opened(path) as lib:
        return people.file_people(lib, file_id)


def delete_face_data(path: str) -> int:
    from app.core import people
    with opened(path, write=True) as lib:
        return people.delete_face_data(lib)
