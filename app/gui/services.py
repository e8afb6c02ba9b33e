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


def load_snapshot(path: str) -> Snapshot:
    with opened(path) as lib:
        return Snapshot(browse.grid_rows(lib), lib.problems(), browse.root_summaries(lib))


def file_details(path: str, file_id: int) -> dict:
    with opened(path) as lib:
        row = lib.file_by_id(file_id)
        if row is None:
            return {}
        return {"file": row, "segments": lib.segments(file_id),
                "visual": lib.labels(file_id, "visual"), "audio": lib.labels(file_id, "audio")}


def forget_folder(path: str, folder: str) -> int:
    with opened(path, write=True) as lib:
        return browse.forget_root(lib, folder)


# ---- search -----------------------------------------------------------------------------
def search_text(path: str, query: str, limit: int = 60) -> list[dict]:
    from app.core import search
    with opened(path) as lib:
        return [plain(r) for r in search.search_text(lib, query, limit=limit)]


def similar(path: str, target: str | int, at: float | None = None, limit: int = 24) -> list[dict]:
    """Clips (or moments, with ``at``) like a library file, an outside clip or a photo."""
    from app.core import search
    with opened(path) as lib:
        return [plain(r) for r in search.similar(lib, target, at=at, limit=limit)]


def warm(path: str) -> None:
    """At start, off the GUI thread: map (or build) the search indexes and load the text
    model, so the first search and similar strip answer at once."""
    from app.core import search
    with opened(path) as lib:
        search.warm(lib)


def recommend(path: str, limit: int = 40) -> list[dict]:
    from app.core import search
    with opened(path) as lib:
        return [plain(r) for r in search.recommend(lib, limit=limit)]


def record_watch(path: str, file_id: int, seconds: float) -> None:
    from app.core import search
    with opened(path, write=True) as lib:
        search.record_watch(lib, file_id, seconds)


# ---- duplicates and trash -----------------------------------------------------------------
def find_duplicates(path: str) -> list[dict]:
    from app.core import duplicates
    with opened(path) as lib:
        groups = []
        for g in duplicates.find_duplicates(lib):
            group = plain(g)
            group["files"] = [plain(f) for f in group.get("files", [])]
            group["matches"] = [plain(m) for m in group.get("matches", [])]
            groups.append(group)
        return groups


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
