"""Albums: made automatically from events (time and content), edited by the person.

Left, the albums with cover, title and date range; right, the chosen album's clips.
Rename, merge, delete, remove a clip, and new albums from selected clips; every edit is
one call into app.core.albums, which keeps it through later re-clustering.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QAbstractListModel, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
)

from app.gui import fmt, theme
from app.gui.library_service import LibraryService
from app.gui.models.library_model import LibraryModel
from app.gui.thumbs import ThumbCache
from app.gui.views.page import Page
from app.gui.widgets.grid import ClipGridView, draw_picture

AlbumRole = Qt.UserRole + 20
COVER = QSize(112, 63)


class AlbumListModel(QAbstractListModel):
    def __init__(self, thumbs: ThumbCache, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self.albums: list[dict] = []
        thumbs.changed.connect(self._thumb_changed)

    def set_albums(self, albums: list[dict]) -> None:
        self.beginResetModel()
        self.albums = albums
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # noqa: N802 (Qt API)
        return 0 if parent is not None and parent.isValid() else len(self.albums)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        a = self.albums[index.row()]
        if role == Qt.DisplayRole:
            return a["title"]
        if role == AlbumRole:
            return a
        if role == Qt.DecorationRole and a.get("cover_id") is not None:
            return self.thumbs.poster(a["cover_id"])
        return None

    def row_of(self, album_id: int) -> int:
        return next((i for i, a in enumerate(self.albums) if a["id"] == album_id), -1)

    def _thumb_changed(self, file_id: int) -> None:
        for i, a in enumerate(self.albums):
            if a.get("cover_id") == file_id:
                self.dataChanged.emit(self.index(i), self.index(i), [Qt.DecorationRole])


class AlbumDelegate(QStyledItemDelegate):
    def sizeHint(self, option, index) -> QSize:  # noqa: N802 (Qt API)
        return QSize(300, COVER.height() + 16)

    def paint(self, painter: QPainter, option, index) -> None:
        a = index.data(AlbumRole)
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        rect = option.rect.adjusted(4, 2, -4, -2)
        selected = bool(option.state & QStyle.State_Selected)
        if selected or option.state & QStyle.State_MouseOver:
            bg = QPainterPath()
            bg.addRoundedRect(QRectF(rect), 9, 9)
            painter.fillPath(bg, theme.color("accent_soft" if selected else "hover"))
            if selected:
                painter.setPen(QPen(theme.color("accent"), 1.5))
                painter.drawPath(bg)
        cover = QRect(rect.left() + 6, rect.top() + 6, COVER.width(), COVER.height())
        clip = QPainterPath()
        clip.addRoundedRect(QRectF(cover), 6, 6)
        painter.save()
        painter.setClipPath(clip)
        painter.fillRect(cover, theme.color("poster"))
        pix = index.data(Qt.DecorationRole)
        if pix is not None:
            draw_picture(painter, cover, pix)
        painter.restore()
        x = cover.right() + 12
        width = rect.right() - x - 6
        bold = QFont(option.font)
        bold.setWeight(QFont.DemiBold)
        painter.setFont(bold)
        painter.setPen(theme.color("text"))
        painter.drawText(QRect(x, cover.top() + 6, width, 20), Qt.AlignLeft | Qt.AlignVCenter,
                         painter.fontMetrics().elidedText(a["title"], Qt.ElideRight, width))
        painter.setFont(option.font)
        painter.setPen(theme.color("dim"))
        n = len(a["files"])
        count = f"{n} clip{'s' if n != 1 else ''}"
        if a.get("seconds"):
            count += f" · {fmt.duration(a['seconds'])}"
        painter.drawText(QRect(x, cover.top() + 28, width, 18), Qt.AlignLeft | Qt.AlignVCenter,
                         count)
        when = fmt.date_range(a.get("start"), a.get("end"))
        if when and when not in a["title"]:  # titles often are the date already
            painter.drawText(QRect(x, cover.top() + 46, width, 18),
                             Qt.AlignLeft | Qt.AlignVCenter, when)
        painter.restore()


class AlbumsView(Page):
    create_requested = Signal()  # "New album…": the window hands over the selected clips
    loaded = Signal(object)  # number of albums shown, None when they could not be read
    notice = Signal(str, bool)  # what happened, is it an error

    def __init__(self, thumbs: ThumbCache, library: LibraryService, parent=None):
        super().__init__("Albums", parent)
        self.thumbs = thumbs
        self.library = library
        self.rows_by_path: dict[str, dict] = {}
        self.albums = AlbumListModel(thumbs, self)
        self.list = QListView()
        self.list.setModel(self.albums)
        self.list.setItemDelegate(AlbumDelegate(self.list))
        self.list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.list.setMouseTracking(True)
        self.list.setMinimumWidth(260)
        self.clips = LibraryModel(thumbs, self)
        self.clips.set_sort("date_old")
        self.grid = ClipGridView()
        self.grid.setModel(self.clips)
        self.message = QLabel()
        self.message.setObjectName("dim")
        self.message.setAlignment(Qt.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setVisible(False)

        self.new_button = QPushButton(theme.icon("add"), "New album…")
        self.new_button.setToolTip("Make an album of the clips selected in the Library")
        self.rename_button = QPushButton("Rename…")
        self.merge_button = QPushButton("Merge")
        self.merge_button.setToolTip("Select two or more albums to merge them into one")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the album; its clips stay in the library")
        self.remove_button = QPushButton("Remove clip")
        self.remove_button.setToolTip("Take the selected clips out of this album")
        for b in (self.new_button, self.rename_button, self.merge_button, self.remove_button,
                  self.delete_button):
            self.controls.addWidget(b)
        split = QSplitter()
        split.addWidget(self.list)
        split.addWidget(self.grid)
        split.setStretchFactor(1, 1)
        split.setSizes([300, 700])
        self.body.addWidget(self.message)
        self.body.addWidget(split, 1)

        self.list.selectionModel().currentChanged.connect(lambda *_: self._show_current())
        self.list.selectionModel().selectionChanged.connect(lambda *_: self._enable())
        self.grid.selectionModel().selectionChanged.connect(lambda *_: self._enable())
        self.grid.context_requested.connect(self._clip_menu)
        self.new_button.clicked.connect(self.create_requested)
        self.rename_button.clicked.connect(self.rename)
        self.merge_button.clicked.connect(self.merge)
        self.delete_button.clicked.connect(self.delete)
        self.remove_button.clicked.connect(self.remove_clips)
        self._enable()

    # ---- content ---------------------------------------------------------------------
    def set_rows(self, rows: list[dict], rows_by_path: dict[str, dict],
                 orders: dict[str, list[int]] | None = None) -> None:
        """The library's rows (``orders``: their sort orders, computed in the background)."""
        self.rows_by_path = rows_by_path
        self.clips.set_rows(rows, orders)
        self._show_current()

    def set_albums(self, albums: list[dict], keep: int | None = None) -> None:
        current = self.current_album()
        keep = keep if keep is not None else (current["id"] if current else None)
        for a in albums:
            cover = self.rows_by_path.get(a.get("cover") or "")
            a["cover_id"] = cover["id"] if cover else None
            a["seconds"] = sum((self.rows_by_path.get(p) or {}).get("duration") or 0
                               for p in a["files"])
        self.albums.set_albums(albums)
        n = len(albums)
        self.set_subtitle(f"{n} album{'s' if n != 1 else ''} · one per event" if n else "")
        self.message.setText("No albums yet: they appear once clips are indexed.")
        self.message.setVisible(not albums)
        row = self.albums.row_of(keep) if keep is not None else -1
        self.list.setCurrentIndex(self.albums.index(max(0, row)))
        self._show_current()

    def show_busy(self, text: str) -> None:
        self.set_subtitle(text)

    def current_album(self) -> dict | None:
        index = self.list.currentIndex()
        return index.data(AlbumRole) if index.isValid() else None

    def selected_albums(self) -> list[dict]:
        return [i.data(AlbumRole) for i in self.list.selectionModel().selectedIndexes()]

    def _show_current(self) -> None:
        album = self.current_album()
        ids = {self.rows_by_path[p]["id"] for p in (album or {}).get("files", [])
               if p in self.rows_by_path}
        self.clips.set_only(ids)
        self._enable()

    def _enable(self) -> None:
        has = self.current_album() is not None
        self.rename_button.setEnabled(has)
        self.delete_button.setEnabled(has)
        self.merge_button.setEnabled(len(self.selected_albums()) >= 2)
        self.remove_button.setEnabled(has and bool(self.grid.selectionModel().selectedIndexes()))

    # ---- edits ------------------------------------------------------------------------
    def rename(self) -> None:
        from PySide6.QtWidgets import QInputDialog
        album = self.current_album()
        if album is None:
            return
        title, ok = QInputDialog.getText(self, "Rename album", "Title:", text=album["title"])
        if ok and title.strip() and title.strip() != album["title"]:
            self.edit("rename", (album["id"], title.strip()),
                                     f"Renamed to “{title.strip()}”")

    def merge(self) -> None:
        albums = self.selected_albums()
        if len(albums) < 2:
            return
        current = self.current_album()
        target = current if current in albums else albums[0]
        for other in albums:
            if other["id"] != target["id"]:
                self.edit("merge", (target["id"], other["id"]),
                                         f"Merged into “{target['title']}”")

    def delete(self) -> None:
        album = self.current_album()
        if album is not None:
            self.edit("delete", (album["id"],),
                                     f"Deleted the album “{album['title']}”; its clips stay "
                                     "in the library")

    def remove_clips(self) -> None:
        album = self.current_album()
        if album is None:
            return
        for row in self.grid.selected_rows():
            self.edit("remove", (album["id"], row["id"]),
                                     f"Took {os.path.basename(row['path'])} out of "
                                     f"“{album['title']}”")

    # ---- background work -----------------------------------------------------------------
    def load(self) -> None:
        """Place new clips into albums (re-clustering keeps the person's edits), then show."""
        self.show_busy("Grouping clips into albums…")
        self.library.refresh_albums(self._listed, owner=self)

    def edit(self, action: str, args: tuple, message: str) -> None:
        """One edit (app.core.albums), then the albums again, the edited one selected."""

        def done(result=None, error=None):
            if error is not None:
                self.notice.emit(f"Album not changed: {error}", True)
                return
            self.notice.emit(message, False)
            keep = result.get("id") if isinstance(result, dict) else None
            self.library.list_albums(
                lambda result=None, error=None: self._listed(result, error, keep), owner=self)

        self.library.edit_album(action, args, done, owner=self)

    def _listed(self, result=None, error=None, keep: int | None = None) -> None:
        if error is not None:
            self.show_busy(f"Albums are not available: {error}")
            self.loaded.emit(None)
            return
        self.set_albums(result, keep=keep)
        self.loaded.emit(len(result))

    def create_from(self, rows: list[dict]) -> None:
        from PySide6.QtWidgets import QInputDialog
        if not rows:
            self.notice.emit("Select clips in the Library first (Ctrl+click for several), "
                             "then choose New album.", False)
            return
        n = len(rows)
        title, ok = QInputDialog.getText(self, "New album",
                                         f"Title for {n} clip{'s' if n != 1 else ''}:")
        if ok and title.strip():
            self.edit("create", (title.strip(), [r["id"] for r in rows]),
                      f"Made the album “{title.strip()}”")

    def add_clips(self, album: dict, rows: list[dict]) -> None:
        for r in rows:
            self.edit("add", (album["id"], r["id"]),
                      f"Added {os.path.basename(r['path'])} to “{album['title']}”")

    def _clip_menu(self, rows: list[dict], pos) -> None:
        menu = QMenu(self)
        n = len(rows)
        menu.addAction(f"Remove {n} clip{'s' if n != 1 else ''} from this album",
                       self.remove_clips)
        menu.exec(pos)
