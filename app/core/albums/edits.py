"""The user's edits of albums: rename, add or remove a clip, merge, create, delete.

Each is one transaction and is remembered as the user's (``edited``, exclusions, user
members), so ``refresh_albums`` never undoes it when it re-clusters.
"""

from __future__ import annotations

from app.core.albums.events import AlbumError, album_view, load_features, retitle, shown_album
from app.records import Status
from app.store import albums as store
from app.store.library import Library


def _take_out(lib: Library, file_id: int, keep: int | None = None) -> set[int]:
    """A clip leaves the album it is in (one album per clip), remembered as the user's.
    Returns the albums it left that still hold clips."""
    left = set()
    for other in store.albums_of_file(lib, file_id):
        if other.id == keep:
            continue
        store.remove_member(lib, other.id, file_id)
        store.exclude(lib, other.id, file_id)
        if store.members(lib, other.id):
            store.update_album(lib, other.id, edited=True)
            left.add(other.id)
        else:
            store.delete_album(lib, other.id)
    return left


def _after_edit(lib: Library, album_id: int, others: set[int] = frozenset()) -> dict:
    """Retitle the edited album, and those a clip was taken from: a refresh retitles only
    the albums it changes."""
    changed = {album_id, *others}
    fids = [f for aid in changed for f in store.members(lib, aid)]
    retitle(lib, load_features(lib, fids), store.load(lib), only=changed)
    return album_view(lib, album_id)


def rename_album(lib: Library, album_id: int, title: str) -> dict:
    shown_album(lib, album_id)
    title = title.strip()
    if not title:
        raise AlbumError("an album title cannot be empty")
    with lib.transaction():
        store.update_album(lib, album_id, title=title, renamed=True)
    return album_view(lib, album_id)


def _check_clip(lib: Library, file_id: int) -> None:
    row = lib.file_by_id(file_id)
    if row is None or row["status"] != Status.INDEXED:
        raise AlbumError(f"no indexed clip with id {file_id}")


def add_clip(lib: Library, album_id: int, file_id: int) -> dict:
    """Put a clip in an album (taking it out of the album it was in)."""
    shown_album(lib, album_id)
    _check_clip(lib, file_id)
    with lib.transaction():
        others = _take_out(lib, file_id, keep=album_id)
        store.unexclude(lib, album_id, file_id)
        store.set_member(lib, album_id, file_id, store.USER)
        store.update_album(lib, album_id, edited=True)
        return _after_edit(lib, album_id, others)


def remove_clip(lib: Library, album_id: int, file_id: int) -> dict:
    """Take a clip out of an album; clustering will not put it back there."""
    shown_album(lib, album_id)
    if file_id not in store.members(lib, album_id):
        raise AlbumError(f"that clip is not in album {album_id}")
    with lib.transaction():
        store.remove_member(lib, album_id, file_id)
        store.exclude(lib, album_id, file_id)
        store.update_album(lib, album_id, edited=True)
        return _after_edit(lib, album_id)


def merge_albums(lib: Library, target_id: int, other_id: int) -> dict:
    """Move every clip of ``other_id`` into ``target_id``, which keeps its id and title."""
    if target_id == other_id:
        raise AlbumError("cannot merge an album with itself")
    shown_album(lib, target_id)
    shown_album(lib, other_id)
    with lib.transaction():
        for f in store.members(lib, other_id):
            store.unexclude(lib, target_id, f)
            store.set_member(lib, target_id, f, store.USER)
        store.delete_album(lib, other_id)
        store.update_album(lib, target_id, edited=True)
        return _after_edit(lib, target_id)


def create_album(lib: Library, title: str, file_ids: list[int]) -> dict:
    """A new album of the user's, made of clips taken out of the albums they were in."""
    title = title.strip()
    if not title:
        raise AlbumError("an album title cannot be empty")
    if not file_ids:
        raise AlbumError("an album needs at least one clip")
    for f in file_ids:
        _check_clip(lib, f)
    with lib.transaction():
        aid = store.insert_album(lib, title, store.USER, renamed=True, edited=True)
        others: set[int] = set()
        for f in dict.fromkeys(file_ids):
            others |= _take_out(lib, f, keep=aid)
            store.set_member(lib, aid, f, store.USER)
        return _after_edit(lib, aid, others)


def delete_album(lib: Library, album_id: int) -> None:
    """Hide an album. Its clips stay in the library, unsorted, and are not regrouped
    into a look-alike album by the next run."""
    shown_album(lib, album_id)
    with lib.transaction():
        store.update_album(lib, album_id, origin=store.DISMISSED)
