"""Writing inside a folder the user chose, and nowhere else (exports, playlists).

Names that reach the file system come from data (album titles, clip names), so they
may hold ``..``, slashes, absolute paths, or lead through a symbolic link out of the
destination. ``safe_destination`` refuses all of those; ``safe_name`` turns a title
into one harmless file name.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePosixPath, PureWindowsPath

MAX_NAME_BYTES = 240  # below the usual 255-byte limit, leaving room for " (2)" suffixes
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}


class UnsafePath(ValueError):
    """A name that would write outside the destination folder."""


def safe_destination(root: str | Path, name: str | Path) -> Path:
    """``root / name``, guaranteed to stay inside ``root`` (symbolic links resolved).

    ``name`` may have sub-folders ("album/clip.mp4"); it may not be absolute, hold
    ``..``, a drive, a NUL byte, or reach outside through a link inside ``root``.
    """
    text = os.fspath(name)
    if not text or "\0" in text:
        raise UnsafePath(f"not a usable file name: {text!r}")
    posix, windows = PurePosixPath(text), PureWindowsPath(text)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or text.startswith("\\"):
        raise UnsafePath(f"{text!r} is an absolute path, not a name inside the destination")
    if ".." in posix.parts or ".." in windows.parts:
        raise UnsafePath(f"{text!r} leads out of the destination")
    base = Path(root).resolve()
    target = (base / posix).resolve()  # follows links that already exist
    if target == base or base not in target.parents:
        raise UnsafePath(f"{text!r} resolves to {target}, outside {base}")
    return target


def safe_name(title: str, fallback: str = "untitled") -> str:
    """One file name from free text: no separators, no control characters, not hidden."""
    text = unicodedata.normalize("NFC", title)
    text = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', " ", text)
    text = re.sub(r"\s+", " ", text).strip(" .")  # no hidden names, no "..", no "a."
    if not text or text.upper().split(".")[0] in _RESERVED:
        text = f"{fallback} {text}".strip() if text else fallback
    while len(text.encode("utf-8")) > MAX_NAME_BYTES:
        text = text[:-1]
    return text.rstrip(" .") or fallback
