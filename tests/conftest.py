"""Shared fixtures: the real models, tiny generated media, a fresh library per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt tests render offscreen; set before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app import config  # noqa: E402
from models.install import verify_models  # noqa: E402
from tests import media_factory  # noqa: E402


@pytest.fixture(scope="session")
def real_models_dir() -> Path:
    """The installed real models. Missing models fail the test: `make test` installs them."""
    folder = config.models_dir()
    status = verify_models(folder)
    bad = {k: v for k, v in status.items() if v != "ok"}
    if bad:
        pytest.fail(f"models not installed in {folder}: {bad}; run `reelvault models install`")
    return folder


@pytest.fixture(scope="session")
def real_indexer(real_models_dir):
    from app.core.indexing.indexer import Indexer
    from app.inference.audio import AudioModel
    from app.inference.visual import VisualModel
    return Indexer(VisualModel(real_models_dir / "efficientnet_lite0.onnx"),
                   AudioModel(real_models_dir / "yamnet.onnx"))


@pytest.fixture
def library(tmp_path):
    from app.store.library import Library
    lib = Library(tmp_path / "library.sqlite")
    yield lib
    lib.close()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A folder of tiny generated clips shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("media")
    media_factory.make_clip(folder / "red_square.mp4", pattern="square", seconds=3, audio="tone")
    media_factory.make_clip(folder / "noise.mkv", pattern="noise", seconds=2, audio=None)
    media_factory.make_clip(folder / "long_gop.mp4", pattern="moving", seconds=12, gop=1000,
                            audio="tone")
    return folder


@pytest.fixture
def xdg_trash(tmp_path, monkeypatch) -> Path:
    """A freedesktop home trash inside the test folder, used by the real send2trash."""
    from send2trash import plat_other
    data = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", os.fsencode(data))
    monkeypatch.setattr(plat_other, "HOMETRASH_B", os.fsencode(data / "Trash"))
    monkeypatch.setattr(plat_other, "HOMETRASH", str(data / "Trash"))
    # Every path counts as on the home volume, so the home trash above is the one used
    # whatever device /tmp is on.
    monkeypatch.setattr(plat_other, "get_dev", lambda path: 0)
    return data / "Trash"
