"""How numbers read in the window: durations, sizes, bitrates, dates, resolutions."""

from __future__ import annotations

import os
from datetime import datetime

# Characters that reorder text: a name holding U+202E (right-to-left override) can show
# "clip.exe.mp4" as "clip.4pm.exe", posing as another extension. Shown escaped instead.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")


def safe_text(text: str) -> str:
    """``text`` with direction controls and other invisible control characters shown as
    escapes (\\u202e), so what is on screen is what the name is."""
    if text.isprintable() and not BIDI_CONTROLS.intersection(text):
        return text
    return "".join(f"\\u{ord(c):04x}" if c in BIDI_CONTROLS or (not c.isprintable() and c != " ")
                   else c for c in text)


def file_name(path: str) -> str:
    """A file's name as the window shows it (see ``safe_text``)."""
    return safe_text(os.path.basename(path))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(round(max(0.0, seconds)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def clock(seconds: float | None) -> str:
    """A moment's time: tenths under a minute-long clip are noise, seconds are enough."""
    return duration(seconds)


def time_range(start: float | None, end: float | None) -> str:
    if start is None:
        return ""
    return f"{clock(start)}–{clock(end)}" if end is not None and end > start else clock(start)


def size(n: int | None) -> str:
    if not n:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def bitrate(bps: int | None) -> str:
    if not bps:
        return ""
    return f"{bps / 1e6:.1f} Mb/s" if bps >= 1e6 else f"{bps / 1e3:.0f} kb/s"


def resolution_label(width: int | None, height: int | None) -> str:
    if not width or not height:
        return ""
    short = min(width, height)
    for limit, name in ((2160, "4K"), (1440, "1440p"), (1080, "1080p"), (720, "720p")):
        if short >= limit:
            return name
    return f"{short}p"


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def date(value: str | None) -> str:
    d = parse_date(value)
    return d.strftime("%-d %b %Y") if d else ""


def date_range(first: str | None, last: str | None) -> str:
    a, b = parse_date(first), parse_date(last)
    if not a:
        return ""
    if not b or (a.year, a.month, a.day) == (b.year, b.month, b.day):
        return a.strftime("%-d %b %Y")
    if a.year == b.year and a.month == b.month:
        return f"{a.day}–{b.day} {a.strftime('%b %Y')}"
    if a.year == b.year:
        return f"{a.strftime('%-d %b')} – {b.strftime('%-d %b %Y')}"
    return f"{a.strftime('%b %Y')} – {b.strftime('%b %Y')}"
