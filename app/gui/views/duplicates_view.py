"""Duplicates review: each group side by side, the suggested keeper chosen, and one
explicit action that moves the others to the trash (with Undo). Nothing is deleted here.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.gui import fmt, theme
from app.gui.library_service import DuplicatesSearch, LibraryService
from app.gui.thumbs import POSTER_SIZE, ThumbCache
from app.gui.views.page import Page
from app.gui.widgets.timeline import RangeBar

GROUPS_PER_PAGE = 60
CARD_WIDTH = 236
KIND_TEXT = {
    "exact": "Identical files", "copy": "Same video", "full": "Same video",
    "reencode": "Same video, re-encoded", "partial": "One contains part of another",
    "contains": "One contains part of another",
}


def kind_text(kind: str | None) -> str:
    if not kind:
        return "Same video"
    return KIND_TEXT.get(kind, kind.replace("_", " ").capitalize())


def match_ranges(group: dict) -> dict[str, list[tuple[float, float]]]:
    """Per file path, the time ranges where it matches another file of the group."""
    files = group.get("files", [])
    out: dict[str, list[tuple[float, float]]] = {f["path"]: [] for f in files}
    for m in group.get("matches", []):
        for side in ("a", "b"):
            who = m.get(side)
            path = files[who]["path"] if isinstance(who, int) and 0 <= who < len(files) else who
            start, end = m.get(f"{side}_start"), m.get(f"{side}_end")
            if path in out and start is not None and end is not None:
                out[path].append((float(start), float(end)))
    return out


def _name(who, files: list[dict]) -> str:
    path = files[who]["path"] if isinstance(who, int) and 0 <= who < len(files) else str(who)
    return fmt.file_name(path)


class FileCard(QWidget):
    """One file of a group: picture, facts, where it matches, keep or not."""

    clicked = Signal(dict)  # the file's library row: show it in the detail pane

    def __init__(self, file: dict, row: dict | None, ranges, thumbs: ThumbCache, parent=None):
        super().__init__(parent)
        self.setObjectName("fileCard")
        self.setAttribute(Qt.WA_StyledBackground, True)
        self.setFixedWidth(CARD_WIDTH)
        self.file = file
        self.row = row or {}
        self.file_id = file.get("file_id") or self.row.get("id")
        self.thumbs = thumbs
        self.picture = QLabel()
        self.picture.setFixedSize(POSTER_SIZE.width() - 20, (POSTER_SIZE.width() - 20) * 9 // 16)
        self.picture.setAlignment(Qt.AlignCenter)
        self.picture.setStyleSheet("background: black; border-radius: 6px;")
        self.keep = QRadioButton("Keep this one")
        name = QLabel(fmt.file_name(file["path"]))
        name.setToolTip(file["path"])
        name.setStyleSheet("font-weight: 600;")
        folder = QLabel(os.path.dirname(file["path"]))
        folder.setObjectName("dim")
        folder.setToolTip(file["path"])
        r = self.row
        facts = QLabel(" · ".join(x for x in (
            f"{r.get('width')}×{r.get('height')}" if r.get("width") else "",
            fmt.bitrate(r.get("bitrate")), fmt.duration(r.get("duration")),
            fmt.size(r.get("size"))) if x))
        facts.setWordWrap(True)
        when = QLabel(fmt.date(r.get("created")) or
                      (f"{fmt.date(r.get('file_time'))} (file date)" if r.get("file_time") else ""))
        when.setObjectName("dim")
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setObjectName("faint")
        for label in (name, folder):
            label.setMaximumWidth(CARD_WIDTH - 20)
        bar = RangeBar(r.get("duration") or 0.0, ranges)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(4)
        lay.addWidget(self.picture)
        lay.addWidget(bar)
        lay.addWidget(name)
        lay.addWidget(folder)
        lay.addWidget(facts)
        lay.addWidget(when)
        lay.addWidget(self.reason)
        lay.addStretch(1)
        lay.addWidget(self.keep)
        thumbs.changed.connect(self._thumb)
        self._thumb(self.file_id)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.button() == Qt.LeftButton and self.row:
            self.clicked.emit(self.row)
        super().mousePressEvent(event)

    def _thumb(self, file_id: int) -> None:
        if file_id != self.file_id or self.file_id is None:
            return
        pix = self.thumbs.poster(self.file_id)
        if pix is not None:
            self.picture.setPixmap(pix.scaled(self.picture.size(), Qt.KeepAspectRatio,
                                              Qt.SmoothTransformation))

    def mark(self, keep: bool, suggested_keeper: bool) -> None:
        """Show what happens to this file; the core's reasons hold while its suggested
        keeper is kept, a person's other choice speaks for itself."""
        self.setProperty("keep", "true" if keep else "false")
        why = self.file.get("reason") or ""
        if keep:
            text = f"Kept: {why}" if self.file.get("keep") and why else "Kept (your choice)"
            color = theme.color("ok").name()
        else:
            text = f"Goes to the trash: {why}" if suggested_keeper and why \
                else "Goes to the trash"
            color = theme.color("danger").name()
        self.reason.setText(f"<span style='color:{color}'>{text}</span>")
        self.style().unpolish(self)
        self.style().polish(self)


class GroupCard(QWidget):
    trash_requested = Signal(object, list)  # this card, file ids to move to the trash
    file_clicked = Signal(dict)

    def __init__(self, group: dict, rows_by_path: dict[str, dict], thumbs: ThumbCache,
                 parent=None):
        super().__init__(parent)
        self.setObjectName("card")
        self.setAttribute(Qt.WA_StyledBackground, True)
        self.group = group
        files = group.get("files", [])
        ranges = match_ranges(group)
        title = QLabel(f"{kind_text(group.get('kind'))} · {len(files)} files")
        title.setStyleSheet("font-size: 14px; font-weight: 600;")
        self.status = QLabel()
        self.status.setObjectName("dim")
        self.trash_button = QPushButton(theme.icon("trash"), "Move others to trash")
        self.trash_button.setObjectName("danger")
        head = QHBoxLayout()
        head.addWidget(title)
        head.addSpacing(10)
        head.addWidget(self.status, 1)
        head.addWidget(self.trash_button)

        self.cards: list[FileCard] = []
        self.choice = QButtonGroup(self)
        row = QHBoxLayout()
        row.setSpacing(10)
        for f in files:
            card = FileCard(f, rows_by_path.get(f["path"]), ranges.get(f["path"], []), thumbs)
            self.cards.append(card)
            self.choice.addButton(card.keep)
            card.clicked.connect(self.file_clicked)
            row.addWidget(card)
        row.addStretch(1)
        keeper = next((c for c in self.cards if c.file.get("keep")),
                      self.cards[0] if self.cards else None)
        for c in self.cards:
            c.keep.setChecked(c is keeper)
        self._marks()
        self.choice.buttonToggled.connect(lambda *_: self._marks())
        strip = QWidget()
        strip.setLayout(row)
        scroll = QScrollArea()
        scroll.setWidget(strip)
        scroll.setWidgetResizable(True)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(strip.sizeHint().height() + 14)

        matches = QLabel("<br>".join(
            f"{_name(m.get('a'), files)} {fmt.time_range(m.get('a_start'), m.get('a_end'))}"
            f"  ≈  {_name(m.get('b'), files)} {fmt.time_range(m.get('b_start'), m.get('b_end'))}"
            + (f"  ·  {float(m['similarity']):.0%} alike" if m.get("similarity") is not None else "")
            for m in group.get("matches", [])[:6]))
        matches.setObjectName("dim")
        matches.setVisible(bool(group.get("matches")))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.setSpacing(8)
        lay.addLayout(head)
        lay.addWidget(scroll)
        lay.addWidget(matches)
        self.trash_button.clicked.connect(self._trash)

    def _marks(self) -> None:
        suggested = any(c.keep.isChecked() and c.file.get("keep") for c in self.cards)
        for c in self.cards:
            c.mark(c.keep.isChecked(), suggested)

    def others(self) -> list[int]:
        return [c.file_id for c in self.cards if not c.keep.isChecked() and c.file_id is not None]

    def _trash(self) -> None:
        ids = self.others()
        if ids:
            self.trash_requested.emit(self, ids)

    def mark_trashed(self, ids: list[int]) -> None:
        gone = set(ids)
        for c in self.cards:
            if c.file_id in gone:
                c.setEnabled(False)
                c.reason.setText("In the trash")
        self.trash_button.setEnabled(False)
        self.status.setText(f"Moved {len(gone)} to the trash")


class DuplicatesView(Page):
    trash_requested = Signal(list, str)  # file ids, a description for the confirmation
    refresh_requested = Signal()
    loaded = Signal(object)  # number of groups, None when they could not be found
    file_selected = Signal(dict)  # a file card was clicked

    def __init__(self, thumbs: ThumbCache, library: LibraryService, parent=None):
        super().__init__("Duplicates", parent)
        self.thumbs = thumbs
        self.library = library
        self.search: DuplicatesSearch | None = None  # the comparison running, if any
        self.groups: list[dict] = []
        self.rows_by_path: dict[str, dict] = {}
        self.cards: list[GroupCard] = []
        self._pending_card: GroupCard | None = None
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedWidth(160)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop comparing clips")
        self.cancel_button.setVisible(False)
        self.refresh_button = QPushButton(theme.icon("scan"), "Check again")
        self.trash_all_button = QPushButton(theme.icon("trash"), "Move all others to trash")
        self.trash_all_button.setObjectName("danger")
        self.controls.addWidget(self.progress)
        self.controls.addWidget(self.cancel_button)
        self.controls.addWidget(self.refresh_button)
        self.controls.addWidget(self.trash_all_button)
        self.message = QLabel()
        self.message.setObjectName("dim")
        self.message.setAlignment(Qt.AlignCenter)
        self.message.setWordWrap(True)
        self.column = QVBoxLayout()
        self.column.setSpacing(12)
        self.column.setContentsMargins(8, 4, 8, 12)
        self.more_button = QPushButton("Show more groups")
        holder = QWidget()
        outer = QVBoxLayout(holder)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self.column)
        outer.addWidget(self.more_button, 0, Qt.AlignHCenter)
        outer.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidget(holder)
        self.scroll.setWidgetResizable(True)
        self.body.addWidget(self.message)
        self.body.addWidget(self.scroll, 1)
        self.refresh_button.clicked.connect(self.refresh_requested)
        self.cancel_button.clicked.connect(self.cancel)
        self.trash_all_button.clicked.connect(self._trash_all)
        self.more_button.clicked.connect(self._more)
        self.show_busy()

    def load(self) -> None:
        """Compare the library's clips (app.core.duplicates.finder) in the background,
        with progress and Cancel; a comparison already running is replaced."""
        if self.search is not None:
            self.search.cancel()
        self.show_busy()
        search = self.library.find_duplicates(
            lambda result=None, error=None: self._found(search, result, error),
            progress=self._progress, owner=self,
            found=lambda groups: self._found_so_far(search, groups))
        self.search = search
        self._running(True)

    def cancel(self) -> None:
        """Stop comparing; what was found so far is not shown as if it were everything."""
        if self.search is not None:
            self.search.cancel()
            self.cancel_button.setEnabled(False)
            self.set_subtitle("Cancelling…")

    def _progress(self, done: int, total: int) -> None:
        if self.search is None or total <= 0:
            return
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.set_subtitle(f"Comparing clips… {done * 100 // total}%")

    def _found_so_far(self, search: DuplicatesSearch, groups: list[dict]) -> None:
        """Groups confirmed while the comparison goes on: shown at once, the page stays
        busy (and "Move all others" waits for the whole answer)."""
        if search is not self.search or search.cancelled or not groups:
            return
        subtitle = self.subtitle.text()
        self.set_groups(groups, self.rows_by_path)
        self.trash_all_button.setEnabled(False)
        self.set_subtitle(subtitle)

    def _found(self, search: DuplicatesSearch, result=None, error=None) -> None:
        if search is not self.search:  # a newer comparison replaced it
            return
        self.search = None
        self._running(False)
        if search.cancelled:
            self.show_error("Cancelled. “Check again” compares the clips from the start.")
            self.loaded.emit(None)
        elif error is not None:
            self.show_error(f"Could not look for duplicates: {error}")
            self.loaded.emit(None)
        else:
            self.set_groups(result, self.rows_by_path)
            self.loaded.emit(len(result))

    def _running(self, on: bool) -> None:
        self.progress.setRange(0, 0)  # busy until the first pair is compared
        self.progress.setVisible(on)
        self.cancel_button.setEnabled(on)
        self.cancel_button.setVisible(on)
        self.refresh_button.setEnabled(not on)

    def show_busy(self, text: str = "Looking for copies…") -> None:
        self.set_subtitle(text)
        self.trash_all_button.setEnabled(False)

    def show_error(self, text: str) -> None:
        self.set_subtitle("")
        self.message.setText(text)
        self.message.setVisible(True)

    def set_groups(self, groups: list[dict], rows_by_path: dict[str, dict]) -> None:
        self.groups = groups
        self.rows_by_path = rows_by_path
        for card in self.cards:
            card.deleteLater()
        self.cards = []
        spare = sum((rows_by_path.get(f["path"]) or {}).get("size") or 0
                    for g in groups for f in g.get("files", []) if not f.get("keep"))
        copies = sum(1 for g in groups for f in g.get("files", []) if not f.get("keep"))
        n = len(groups)
        self.set_subtitle(f"{n} group{'s' if n != 1 else ''} · {copies} cop"
                          f"{'ies' if copies != 1 else 'y'} could go ({fmt.size(spare)})"
                          if groups else "")
        self.message.setText("No duplicates: every clip in the library is one of a kind.")
        self.message.setVisible(not groups)
        self.scroll.setVisible(bool(groups))
        self.trash_all_button.setEnabled(bool(groups))
        self._more()

    def _more(self) -> None:
        start = len(self.cards)
        for group in self.groups[start:start + GROUPS_PER_PAGE]:
            card = GroupCard(group, self.rows_by_path, self.thumbs)
            card.trash_requested.connect(self._trash_group)
            card.file_clicked.connect(self.file_selected)
            self.column.addWidget(card)
            self.cards.append(card)
        self.more_button.setVisible(len(self.cards) < len(self.groups))

    def _trash_group(self, card: GroupCard, ids: list[int]) -> None:
        self._pending_card = card
        keeper = next((c for c in card.cards if c.keep.isChecked()), None)
        kept = os.path.basename(keeper.file["path"]) if keeper else "none"
        self.trash_requested.emit(ids, f"Keep {kept} and move {len(ids)} other "
                                       f"file{'s' if len(ids) != 1 else ''} to the trash?")

    def _trash_all(self) -> None:
        self._pending_card = None
        # Cards not shown yet keep the suggested keeper.
        ids = [i for c in self.cards if c.trash_button.isEnabled() for i in c.others()]
        for g in self.groups[len(self.cards):]:
            ids += [f.get("file_id") or (self.rows_by_path.get(f["path"]) or {}).get("id")
                    for f in g.get("files", []) if not f.get("keep")]
        ids = [i for i in ids if i is not None]
        if ids:
            self.trash_requested.emit(ids, f"Move {len(ids)} duplicate files to the trash, "
                                           "keeping one file of each group?")

    def files_trashed(self, ids: list[int]) -> None:
        """The window moved these files: show it on their cards."""
        gone = set(ids)
        for card in self.cards:
            mine = [c.file_id for c in card.cards if c.file_id in gone]
            if mine:
                card.mark_trashed(mine)
