"""What makes a file the same file: a quick fingerprint, a full content hash, and the
trash folders a walk must never enter.

Scanning (renames, byte copies), trashing (is it still the file we indexed?) and
duplicate detection (identical bytes) all decide identity here, so they agree.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

FINGERPRINT_CHUNK = 64 * 1024
# The app-managed trash folder (app.core.library.trash) on a volume; the walk never enters it.
APP_TRASH_DIR = ".reelvault-trash"


def fingerprint(path: str | Path, size: int) -> str:
    """Hash of the size and three 64 KiB samples: finds renames without reading the file."""
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        for offset in (0, max(0, size // 2 - FINGERPRINT_CHUNK // 2), max(0, size - FINGERPRINT_CHUNK)):
            f.seek(offset)
            h.update(f.read(FINGERPRINT_CHUNK))
    return h.hexdigest()


def content_hash(path: str | Path) -> str:
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_trash_folder(name: str) -> bool:
    """Trash folders (the app's, the freedesktop ones on a volume): never indexed."""
    return name in (APP_TRASH_DIR, ".Trash") or name.startswith(".Trash-")


def home_trash() -> str:
    """The freedesktop home trash, which a scan of the home folder must not enter."""
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data, "Trash")


