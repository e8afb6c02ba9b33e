"""Settings: the JSON file, excluded patterns (honoured by scans), the dialog, themes."""

from __future__ import annotations

import json
import re

import pytest

from app import settings
from app.gui import theme
from tests.app_window import open_window


def test_settings_round_trip_and_defaults(tmp_path):
    path = tmp_path / "settings.json"
    assert settings.load(path) == settings.Settings()  # no file: defaults
    saved = settings.Settings(exclude=["*.part", "Screen Recordings"], workers=1, threads=3,
                              theme="light")
    settings.save(saved, path)
    assert settings.load(path) == saved
    # Garbage or out-of-range values never break the app: they fall back.
    path.write_text(json.dumps({"theme": "neon", "workers": "many", "threads": -5,
                                "exclude": "oops", "unknown": 1}))
    loaded = settings.load(path)
    assert loaded.theme == "dark" and loaded.workers == 0 and loaded.threads == 0
    assert loaded.exclude == []
    path.write_text("{not json")
    assert settings.load(path) == settings.Settings()


def test_excluded_patterns_match_names_and_paths():
    patterns = ["*.part", "Screen Recordings", "*/private/*"]
    assert settings.is_excluded("holiday/clip.mp4.part", patterns)
    assert settings.is_excluded("Screen Recordings/a.mov", patterns)
    assert settings.is_excluded("2024/private/a.mp4", patterns)
    assert not settings.is_excluded("holiday/clip.mp4", patterns)
    assert not settings.is_excluded("Screen/a.mov", patterns)
    assert not settings.is_excluded("anything.mp4", [])


@pytest.mark.models
def test_a_scan_skips_excluded_folders_and_files(tmp_path, library, real_indexer):
    from app.core.library.scanner import Scanner
    from tests.media_factory import make_clip
    root = tmp_path / "videos"
    (root / "@eaDir").mkdir(parents=True)
    (root / "keep").mkdir()
    make_clip(root / "keep" / "a.mp4", seconds=1)
    make_clip(root / "@eaDir" / "thumb.mp4", seconds=1)
    make_clip(root / "keep" / "b.part.mp4", seconds=1)
    report = Scanner(library, indexer=real_indexer,
                     exclude=settings.DEFAULT_EXCLUDES + ["*.part.mp4"]).scan([str(root)])
    assert [p.split("/")[-1] for p in report.indexed] == ["a.mp4"]


def test_settings_dialog_returns_what_was_chosen(qtbot, tmp_path):
    from app.gui.views.settings_dialog import SettingsDialog
    start = settings.Settings(exclude=["*.part"], workers=1, threads=0, theme="dark")
    dialog = SettingsDialog(start, ["/videos"], str(tmp_path / "lib.sqlite"))
    qtbot.addWidget(dialog)
    assert dialog.folders.count() == 1
    dialog.exclude.setPlainText("*.part\n\n  Screen Recordings  \n")
    dialog.threads.setValue(2)
    dialog.theme.setCurrentIndex(dialog.theme.findData("light"))
    got = dialog.settings()
    assert got.exclude == ["*.part", "Screen Recordings"]
    assert got.threads == 2 and got.theme == "light" and got.workers == 1
    with qtbot.waitSignal(dialog.remove_folder_requested) as removed:
        dialog.folders.setCurrentRow(0)
        dialog._remove()
    assert removed.args == ["/videos"]


def test_both_themes_fill_every_style_token(qtbot):
    from PySide6.QtWidgets import QApplication
    for name in theme.PALETTES:
        sheet = re.sub(r"/\*.*?\*/", "", theme.style_sheet(name), flags=re.S)
        assert not re.findall(r"@\w+", sheet), f"unreplaced token in the {name} theme"
    app = QApplication.instance()
    theme.apply(app, "light")
    assert theme.current() == "light"
    assert app.palette().window().color().name() == theme.PALETTES["light"]["bg"]
    theme.apply(app, "dark")
    assert theme.current() == "dark"


def test_first_run_screen_and_theme_switch_in_the_window(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QApplication

    monkeypatch.setenv("REELVAULT_DATA", str(tmp_path / "data"))
    window = open_window(qtbot, tmp_path / "new.sqlite", timeout=30_000)
    # No folders yet: the welcome screen, with nothing beside it.
    assert window.current_page() == "welcome"
    assert window.welcome.isVisible() and not window.detail.isVisible()
    assert window.library_view.model.rowCount() == 0

    window.apply_settings(settings.Settings(theme="light"), save=True)
    app = QApplication.instance()
    assert app.palette().window().color().name() == theme.PALETTES["light"]["bg"]
    assert settings.load().theme == "light"  # saved in the data folder's settings.json
    window.apply_settings(settings.Settings(theme="dark"), save=False)
    assert theme.current() == "dark"
