"""Albums: events found by time and content (``events``: clustering in ``clustering``),
titled as a person would title them, and the user's edits (``edits``), which survive
every re-clustering."""

from app.core.albums.edits import (
    add_clip,
    create_album,
    delete_album,
    merge_albums,
    remove_clip,
    rename_album,
)
from app.core.albums.events import (
    AlbumError,
    album_span,
    album_title,
    album_view,
    date_span,
    dominant_label,
    list_albums,
    refresh_albums,
)

__all__ = ["AlbumError", "add_clip", "album_span", "album_title", "album_view", "create_album",
           "date_span", "delete_album", "dominant_label", "list_albums", "merge_albums",
           "refresh_albums", "remove_clip", "rename_album"]
