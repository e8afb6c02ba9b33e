"""Frame thumbnails (indexing/regions.py): written with a file's index, read in bulk by
duplicate detection."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator

import numpy as np

ID_CHUNK = 900  # ids per IN (...) list


def write_thumbnails(conn: sqlite3.Connection, file_id: int, thumbs) -> None:
    """One file's thumbnails (a regions.Thumbnails); the caller holds the transaction
    and has cleared the file's earlier rows."""
    n, h, w = thumbs.frames.shape
    region = thumbs.region
    conn.execute(
        "INSERT INTO frame_thumbs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (file_id, w, h, np.ascontiguousarray(thumbs.frames, np.uint8).tobytes(),
         None if thumbs.box is None else json.dumps([round(float(b), 4) for b in thumbs.box]),
         None if region is None else region.shape[2], None if region is None else region.shape[1],
         None if region is None else np.ascontiguousarray(region, np.uint8).tobytes()))


def iter_thumbnails(conn: sqlite3.Connection, file_ids: Iterable[int]
                    ) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """(file_id, thumbnails uint8 [n, h, w], inner-picture thumbnails [n, rh, rw] or None)
    for those of these files that have them, by file id. ``conn``: a Library's
    connection (library.py imports this module to write the rows, so not the reverse)."""
    ids = sorted(set(int(i) for i in file_ids))
    for lo in range(0, len(ids), ID_CHUNK):
        chunk = ids[lo:lo + ID_CHUNK]
        for file_id, w, h, blob, rw, rh, region in conn.execute(
                "SELECT file_id, width, height, thumbs, region_width, region_height, region "
                f"FROM frame_thumbs WHERE file_id IN ({','.join('?' * len(chunk))}) "
                "ORDER BY file_id", chunk):
            frames = np.frombuffer(blob, np.uint8).reshape(-1, h, w)
            inner = None if region is None else np.frombuffer(region, np.uint8).reshape(-1, rh, rw)
            yield file_id, frames, inner
