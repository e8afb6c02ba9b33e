"""The values that cross between the core and the store: what a scan saw of a file,
what indexing computed for it, and the words a file's state is described in.

Neutral ground: the core produces these, the store writes and reads them, and neither
has to import the other to agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Status(StrEnum):
    """What became of a file's indexing."""

    INDEXED = "indexed"
    FAILED = "failed"  # a file that should be a video but cannot be read (with a reason)
    SKIPPED = "skipped"  # not a video (an audio-only file): with a reason


class Presence(StrEnum):
    """Where a file is, as far as the library knows."""

    PRESENT = "present"
    MISSING = "missing"  # gone from a folder that is still there: purge-missing forgets it
    OFFLINE = "offline"  # under a folder or drive that is not there now: kept, never purged
    TRASHED = "trashed"  # moved to the trash by the user; Undo brings it back with its rows


class TrashState(StrEnum):
    """A trash journal entry's state (app.store.trash)."""

    INTENT = "intent"  # written before anything moves
    TRASHED = "trashed"
    FAILED = "failed"
    RESTORING = "restoring"
    RESTORED = "restored"
    GONE = "gone"  # no longer in the trash (emptied by hand): reported once, then settled


@dataclass
class FileStat:
    path: str
    size: int
    mtime: float
    fingerprint: str
    # Which file this is, whatever name it was reached by (None where not known).
    dev: int | None = None
    ino: int | None = None


@dataclass
class Segment:
    start: float
    end: float
    fused: np.ndarray
    visual: np.ndarray
    audio: np.ndarray | None
    labels: dict


@dataclass
class ClipIndex:
    """Everything indexing computed for one file, written in one transaction."""

    info: dict
    fused: np.ndarray
    visual: np.ndarray
    audio: np.ndarray | None
    visual_probs: np.ndarray
    audio_scores: np.ndarray | None
    segments: list[Segment]
    frame_times: np.ndarray
    frame_visual: np.ndarray
    audio_times: np.ndarray | None
    audio_vectors: np.ndarray | None
    labels: list[tuple[str, int, str, float]]  # (kind, class, label, score)
    poster: bytes
    strip: bytes
    strip_times: list[float]
    frame_visual_flip: np.ndarray | None = None  # [n, 1280] of the mirrored frames (as stored)
    # The detectors' results (app.core.indexing.indexer.ANALYSE), joined over the file.
    analysis: object | None = None
    frame_thumbnails: object | None = None  # indexing/regions.Thumbnails
