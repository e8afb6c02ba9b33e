"""Moving files to the trash from the window: always asked first, always undoable.

One flow for every place that can trash (Delete on a clip or result, the duplicates
review): confirm, move in the background (app.core.library.trash, asked of the window's
LibraryService), report in the notice bar with an Undo button, and tell the window what
changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.gui.library_service import LibraryService
from app.gui.widgets.notice import NoticeBar


def _files(n: int) -> str:
    return f"{n} file{'s' if n != 1 else ''}"


class TrashFlow(QObject):
    moved = Signal(object)  # TrashResult of a move
    restored = Signal(object)  # TrashResult of an undo

    def __init__(self, library: LibraryService, confirm: Callable[[str, str], bool],
                 notice: NoticeBar, parent=None):
        super().__init__(parent)
        self.library = library
        self.confirm = confirm
        self.notice = notice

    def trash(self, file_ids: list[int], question: str,
              before: Callable[[], None] | None = None) -> bool:
        """Ask, then move ``file_ids`` to the trash as one batch (one Undo)."""
        if not file_ids or not self.confirm(
                "Move to trash", f"{question}\n\nThe files go to the system trash; "
                                 "Undo puts them back."):
            return False
        if before is not None:
            before()
        self.library.move_to_trash(list(file_ids), self._moved, owner=self)
        return True

    def _moved(self, result=None, error=None) -> None:
        if error is not None:
            self.notice.show_message(f"Nothing was moved: {error}", error=True)
            return
        text = f"Moved {_files(len(result.done))} to the trash."
        if result.failed:
            text += " Not moved: " + "; ".join(
                f"{os.path.basename(f.get('path') or '?')} ({f['reason']})" for f in result.failed)
        batch = result.batch
        self.notice.show_message(text, "Undo" if result.done else None,
                                 (lambda: self.undo(batch)) if result.done else None,
                                 error=bool(result.failed) and not result.done)
        self.moved.emit(result)

    def undo(self, batch) -> None:
        self.library.undo_trash(batch, self._restored, owner=self)

    def _restored(self, result=None, error=None) -> None:
        if error is not None:
            self.notice.show_message(f"Undo failed: {error}", error=True)
            return
        text = f"Put back {_files(len(result.done))}."
        if result.failed:
            text += " Not restored: " + "; ".join(f["reason"] for f in result.failed)
        self.notice.show_message(text, error=bool(result.failed))
        self.restored.emit(result)
