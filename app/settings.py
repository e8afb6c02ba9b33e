"""The user's preferences, kept in a small JSON file (``config.settings_path()``).

Library folders live in the library database (they belong to the index); everything
else a person chooses in Settings is here: excluded patterns, how many decoding
processes and inference threads a scan may use, and the window theme. No Qt here: the
CLI reads the same file.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePath

from app import config

THEMES = ("dark", "light")

# Folders that hold copies made by other software, never the user's own clips.
DEFAULT_EXCLUDES = [".Trash-*", "@eaDir", ".thumbnails"]


@dataclass
class Settings:
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDES))
    # Decoding processes during a scan; 0 = one per core (at most four): the networks
    # run between decodes (app.core.library.scanner.default_workers).
    workers: int = 0
    # Inference threads during a scan; 0 = two, or one on a single core
    # (app.core.library.scanner.model_threads).
    threads: int = 0
    theme: str = "dark"
    # Face recognition: faces found, grouped into people and named. Off: no face is
    # looked for and the library keeps no face data (turning it off deletes it).
    faces: bool = True

    def is_excluded(self, path: str | Path) -> bool:
        """True when a pattern matches the path or any of its folder or file names."""
        return is_excluded(path, self.exclude)


def is_excluded(path: str | Path, patterns: list[str]) -> bool:
    if not patterns:
        return False
    p = PurePath(path)
    names = p.parts
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern:
            continue
        if os.sep in pattern or "/" in pattern:
            if fnmatch.fnmatch(str(p), pattern):
                return True
        elif any(fnmatch.fnmatch(name, pattern) for name in names):
            return True
    return False


def load(path: Path | None = None) -> Settings:
    """The saved settings; defaults for anything missing, unknown or malformed."""
    path = path or config.settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant,
                         parse_float=_finite_float)
    except (OSError, ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return Settings()
    if not isinstance(raw, dict):
        return Settings()
    settings = Settings()
    known = {f.name for f in fields(Settings)}
    for key, value in raw.items():
        if key in known:
            setattr(settings, key, value)
    return _sanitized(settings)


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically: a crash mid-write never leaves a half file behind."""
    path = path or config.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(_sanitized(settings)), indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _sanitized(s: Settings) -> Settings:
    exclude = s.exclude if isinstance(s.exclude, list) else []
    return Settings(
        exclude=[str(x) for x in exclude if str(x).strip()],
        workers=_clamp(s.workers, 0, max(1, os.cpu_count() or 1), 0),
        threads=_clamp(s.threads, 0, 64, 0),
        theme=s.theme if s.theme in THEMES else "dark",
        # Only a real false turns faces off: a damaged file never stops recognition.
        faces=s.faces is not False,
    )


def _no_constant(name: str):
    raise ValueError(f"{name} is not a setting's value")


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):  # 1e309 reads as inf
        raise ValueError(f"{text} is not a finite number")
    return value


def _clamp(value, lo: int, hi: int, default: int) -> int:
    try:
        return min(hi, max(lo, int(value)))
    except (TypeError, ValueError, OverflowError):
        return default
