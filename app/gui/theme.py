"""Light and dark themes: one style sheet template (resources/style.qss) and two palettes.

The style sheet names colours as ``@token``; painted widgets (tiles, timelines) read the
same palette through ``color(name)``, so a theme switch repaints everything at once.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from app import config

PALETTES: dict[str, dict[str, str]] = {
    "dark": {
        "bg": "#16171a", "panel": "#1d1e22", "raised": "#25272c", "sunken": "#111214",
        "border": "#2e3036", "text": "#ececef", "dim": "#9b9da5", "faint": "#6c6e76",
        "accent": "#6f8cff", "accent_soft": "#2b3558", "accent_text": "#ffffff",
        "hover": "#2a2c32", "danger": "#ff6b6b", "ok": "#5fd39a", "warn": "#f2b84b",
        "badge": "#000000b4", "poster": "#0d0e10",
    },
    "light": {
        "bg": "#f4f4f6", "panel": "#ffffff", "raised": "#ebebef", "sunken": "#e4e4e9",
        "border": "#d9d9e0", "text": "#1b1c20", "dim": "#5f616a", "faint": "#9597a0",
        "accent": "#3f63f0", "accent_soft": "#dde4ff", "accent_text": "#ffffff",
        "hover": "#e9eaf0", "danger": "#d63c3c", "ok": "#1f9d63", "warn": "#b7791f",
        "badge": "#000000a0", "poster": "#d6d7dd",
    },
}

_current = {"name": "dark"}


def current() -> str:
    return _current["name"]


def color(name: str) -> QColor:
    value = PALETTES[_current["name"]][name]
    if len(value) == 9:  # #rrggbbaa
        c = QColor(value[:7])
        c.setAlpha(int(value[7:], 16))
        return c
    return QColor(value)


def style_sheet(name: str) -> str:
    template = (config.resources_dir() / "style.qss").read_text(encoding="utf-8")
    palette = PALETTES[name]
    # Longest tokens first so @accent_soft is not cut into @accent + _soft.
    for token in sorted(palette, key=len, reverse=True):
        value = palette[token]
        if len(value) == 9:
            c = QColor(value[:7])
            value = f"rgba({c.red()}, {c.green()}, {c.blue()}, {int(value[7:], 16)})"
        template = template.replace(f"@{token}", value)
    return template


def apply(app: QApplication, name: str) -> None:
    name = name if name in PALETTES else "dark"
    _current["name"] = name
    pal = QPalette()
    for role, token in ((QPalette.Window, "bg"), (QPalette.Base, "panel"),
                        (QPalette.AlternateBase, "raised"), (QPalette.Text, "text"),
                        (QPalette.WindowText, "text"), (QPalette.Button, "raised"),
                        (QPalette.ButtonText, "text"), (QPalette.Highlight, "accent"),
                        (QPalette.HighlightedText, "accent_text"),
                        (QPalette.ToolTipBase, "raised"), (QPalette.ToolTipText, "text"),
                        (QPalette.PlaceholderText, "faint")):
        pal.setColor(role, color(token))
    app.setPalette(pal)
    app.setStyleSheet(style_sheet(name))


def icon(name: str, tint: str | None = None) -> QIcon:
    """An icon from resources/icons, tinted for the current theme (SVGs use currentColor);
    ``tint`` (a palette name) gives every state one colour, e.g. on an accent button."""
    path = config.resources_dir() / "icons" / f"{name}.svg"
    if not path.exists():
        return QIcon()
    from PySide6.QtCore import QByteArray, QSize
    from PySide6.QtGui import QPainter, QPixmap
    from PySide6.QtSvg import QSvgRenderer

    svg = path.read_text(encoding="utf-8")
    result = QIcon()
    for mode, token in ((QIcon.Normal, "dim"), (QIcon.Selected, "accent_text"),
                        (QIcon.Active, "text")):
        data = QByteArray(svg.replace("currentColor", color(tint or token).name()).encode())
        renderer = QSvgRenderer(data)
        for size in (16, 20, 32, 48, 96):
            pix = QPixmap(QSize(size, size))
            pix.fill(QColor(0, 0, 0, 0))
            painter = QPainter(pix)
            renderer.render(painter)
            painter.end()
            result.addPixmap(pix, mode)
    return result
