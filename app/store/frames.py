"""Bulk reads of per-frame vectors (duplicate screening reads every file's frames once)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from app.store.library import Library
from app.store.vectors import _chunks


def iter_frames(lib: Library, file_ids: Iterable[int]
                ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]:
    """(file_id, times float32 [n], visual float16 [n, d], mirrored float16 [n, d] or None)
    for those of these files that have frames, by file id, a chunk of rows at a time."""
    for chunk in _chunks(sorted(set(int(i) for i in file_ids))):
        for file_id, times, visual, flip in lib.conn.execute(
                "SELECT file_id, times, visual, visual_flip FROM frames WHERE file_id IN "
                f"({','.join('?' * len(chunk))}) ORDER BY file_id", chunk):
            t = np.frombuffer(times, np.float32)
            if not len(t) or visual is None:
                continue
            v = np.frombuffer(visual, np.float16).reshape(len(t), -1)
            f = np.frombuffer(flip, np.float16).reshape(len(t), -1) if flip is not None else None
            yield file_id, t, v, f
