"""File names that are not valid UTF-8, stored losslessly.

On Linux a file name is bytes. Python hands undecodable bytes to us as lone surrogates
(``os.fsdecode``, "surrogateescape"), which SQLite's UTF-8 text cannot hold. Such a
string is bound as a BLOB of the exact name bytes instead, and TEXT columns are read
back with UTF-8 "surrogateescape" decoding, which turns those BLOBs into the same
string and leaves valid text unchanged. Every valid path is stored
as ordinary TEXT; an odd one keeps its real bytes, so ``open(row["path"])`` finds it.
"""

from __future__ import annotations

import sqlite3

_installed = False


def _bind_text(value: str) -> str | bytes:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Only surrogate-escaped bytes pass; any other lone surrogate still raises.
        return value.encode("utf-8", "surrogateescape")
    return value


def _read_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def install() -> None:
    """Register the adapter and the TEXT converter (process-wide, idempotent).

    Connections see the converter only when opened with ``detect_types=PARSE_DECLTYPES``.
    """
    global _installed
    if _installed:
        return
    sqlite3.register_adapter(str, _bind_text)
    sqlite3.register_converter("TEXT", _read_text)
    _installed = True
