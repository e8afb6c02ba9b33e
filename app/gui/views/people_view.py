"""The People page: round face crops with names and counts; a person's clips (each opens
the player where they appear) and faces (take a wrong one out); name in place, merge two,
hide. All reads and edits run off the GUI thread (``services``)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QIcon, QImage, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.gui.library_service import LibraryService
from app.gui.views.page import Page

FACE_SIDE = 96
GRID_SIDE = 72
IdRole = Qt.UserRole + 1


def round_face(jpeg: bytes | None, side: int) -> QIcon:
    """A face crop cut to a circle (an empty circle without a crop)."""
    image = QImage.fromData(jpeg or b"")
    out = QPixmap(side, side)
    out.fill(Qt.transparent)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.Antialiasing)
    path = QPainterPath()
    path.addEllipse(0, 0, side, side)
    if image.isNull():
        painter.fillPath(path, QBrush(Qt.gray))
    else:
        painter.setClipPath(path)
        painter.drawImage(out.rect(), image.scaled(side, side, Qt.KeepAspectRatioByExpanding,
                                                   Qt.SmoothTransformation))
    painter.end()
    return QIcon(out)


class PeopleView(Page):
    clip_activated = Signal(dict)  # {"file_id", "path", "start", "end", "why"}
    loaded = Signal(object)  # number of people shown, None when they could not be read
    notice = Signal(str, bool)

    def __init__(self, library: LibraryService, parent=None):
        super().__init__("People", parent)
        self.library = library
        self.people: list[dict] = []
        self._renaming = False

        self.name_button = QPushButton("Name…")
        self.merge_button = QPushButton("Merge")
        self.merge_button.setToolTip("Select two people who are one: the first keeps its name")
        self.hide_button = QPushButton("Hide")
        for b in (self.name_button, self.merge_button, self.hide_button):
            self.controls.addWidget(b)
        self.name_button.clicked.connect(self.rename)
        self.merge_button.clicked.connect(self.merge)
        self.hide_button.clicked.connect(self.hide)

        self.grid = QListWidget()
        self.grid.setViewMode(QListView.IconMode)
        self.grid.setIconSize(QSize(FACE_SIDE, FACE_SIDE))
        self.grid.setGridSize(QSize(FACE_SIDE + 44, FACE_SIDE + 48))
        self.grid.setResizeMode(QListView.Adjust)
        self.grid.setMovement(QListView.Static)
        self.grid.setWordWrap(True)
        self.grid.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.grid.setEditTriggers(QAbstractItemView.EditKeyPressed
                                  | QAbstractItemView.DoubleClicked)
        self.grid.itemSelectionChanged.connect(self._selected)
        self.grid.itemChanged.connect(self._renamed)

        self.who = QLabel()
        self.who.setObjectName("sectionTitle")
        self.clips = QListWidget()
        self.clips.itemActivated.connect(self._open_clip)
        self.clips.itemClicked.connect(self._open_clip)
        self.faces = QListWidget()
        self.faces.setViewMode(QListView.IconMode)
        self.faces.setIconSize(QSize(GRID_SIDE, GRID_SIDE))
        self.faces.setGridSize(QSize(GRID_SIDE + 12, GRID_SIDE + 12))
        self.faces.setResizeMode(QListView.Adjust)
        self.faces.setMovement(QListView.Static)
        self.faces.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.not_button = QPushButton("Not this person")
        self.not_button.setToolTip("Take the selected faces out of this person")
        self.not_button.clicked.connect(self.remove_faces)
        self.faces.itemSelectionChanged.connect(self._enable)

        detail = QWidget()
        col = QVBoxLayout(detail)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.who)
        col.addWidget(QLabel("Clips"))
        col.addWidget(self.clips, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Faces"), 1)
        row.addWidget(self.not_button)
        col.addLayout(row)
        col.addWidget(self.faces, 1)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.grid)
        split.addWidget(detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.body.addWidget(split, 1)
        self._enable()

    # ---- listing ---------------------------------------------------------------------------
    def load(self) -> None:
        self.set_subtitle("Finding people…")
        self.library.people(self._listed, owner=self)

    def _listed(self, result=None, error=None, keep: int | None = None) -> None:
        if error is not None:
            self.set_subtitle("")
            self.notice.emit(f"Could not list people: {error}", True)
            self.loaded.emit(None)
            return
        self.people, crops = result
        current = keep if keep is not None else self._current_id()
        self._renaming = True
        self.grid.clear()
        for p in self.people:
            item = QListWidgetItem(round_face(crops.get(p["cover"]), FACE_SIDE),
                                   p["name"] or "")
            item.setData(IdRole, p["id"])
            item.setToolTip(f"{p['faces']} faces in {len(p['files'])} clips")
            item.setFlags(item.flags() | Qt.ItemIsEditable)
            item.setText(self._label(p))
            self.grid.addItem(item)
            if p["id"] == current:
                item.setSelected(True)
        self._renaming = False
        named = sum(1 for p in self.people if p["name"])
        self.set_subtitle(f"{len(self.people)} people, {named} named" if self.people else
                          "Nobody yet: people appear once their faces are seen a few times")
        self.loaded.emit(len(self.people))
        self._selected()

    @staticmethod
    def _label(p: dict) -> str:
        return f"{p['name'] or 'Add a name'}\n{len(p['files'])} clips"

    def _current_id(self) -> int | None:
        items = self.grid.selectedItems()
        return items[0].data(IdRole) if items else None

    def _person(self, person_id: int | None) -> dict | None:
        return next((p for p in self.people if p["id"] == person_id), None)

    def _enable(self) -> None:
        n = len(self.grid.selectedItems())
        self.name_button.setEnabled(n == 1)
        self.hide_button.setEnabled(n >= 1)
        self.merge_button.setEnabled(n == 2)
        self.not_button.setEnabled(bool(self.faces.selectedItems()))

    # ---- one person ------------------------------------------------------------------------
    def _selected(self) -> None:
        self._enable()
        person = self._person(self._current_id())
        self.clips.clear()
        self.faces.clear()
        if person is None:
            self.who.setText("")
            return
        self.who.setText(f"{person['name'] or 'Unnamed'} — {person['faces']} faces")
        pid = person["id"]
        self.library.person_details(
            pid, lambda result=None, error=None: self._details(pid, result, error), owner=self)

    def _details(self, person_id: int, result=None, error=None) -> None:
        if error is not None or person_id != self._current_id():
            return
        person = self._person(person_id)
        self.clips.clear()  # an earlier answer for the same person may have filled them
        self.faces.clear()
        for clip in result["clips"]:
            item = QListWidgetItem(f"{clip['path']}   (at {clip['start'] + 1.0:.0f} s)")
            item.setData(IdRole, {**clip, "why": [f"person: {person['name']}"]
                                  if person and person["name"] else []})
            self.clips.addItem(item)
        for face in result["faces"]:
            item = QListWidgetItem(round_face(face["crop"], GRID_SIDE), "")
            item.setData(IdRole, face["id"])
            item.setToolTip(f"{face['path']} at {face['time']:.1f} s")
            self.faces.addItem(item)

    def _open_clip(self, item: QListWidgetItem) -> None:
        self.clip_activated.emit(item.data(IdRole))

    # ---- edits -----------------------------------------------------------------------------
    def edit(self, action: str, args: tuple, message: str, keep: int | None = None) -> None:
        def done(result=None, error=None):
            if error is not None:
                self.notice.emit(str(error), True)
                return
            self.notice.emit(message, False)
            self._listed(result, keep=keep)

        self.library.people(done, owner=self, edits=((action, args),))

    def rename(self) -> None:
        items = self.grid.selectedItems()
        if len(items) == 1:
            person = self._person(items[0].data(IdRole))
            self._renaming = True
            items[0].setText(person["name"] or "" if person else "")
            self._renaming = False
            self.grid.editItem(items[0])

    def _renamed(self, item: QListWidgetItem) -> None:
        if self._renaming:
            return
        person = self._person(item.data(IdRole))
        name = item.text().split("\n")[0].strip()
        if person is None or not name or name == person["name"]:
            if person is not None:
                self._renaming = True
                item.setText(self._label(person))
                self._renaming = False
            return
        self.edit("name", (person["id"], name), f"Named {name}", keep=person["id"])

    def merge(self) -> None:
        ids = [i.data(IdRole) for i in self.grid.selectedItems()]
        if len(ids) == 2:
            first, second = (self._person(i) for i in ids)
            # The named one (or the larger) keeps its id and name.
            target, other = sorted((first, second), key=lambda p: (not p["name"], -p["faces"]))
            self.edit("merge", (target["id"], other["id"]), "Merged", keep=target["id"])

    def hide(self) -> None:
        for item in self.grid.selectedItems():
            self.edit("hide", (item.data(IdRole),), "Hidden")

    def remove_faces(self) -> None:
        pid = self._current_id()
        faces = [i.data(IdRole) for i in self.faces.selectedItems()]
        if not faces:
            return
        def done(result=None, error=None):
            if error is not None:
                self.notice.emit(str(error), True)
                return
            self.notice.emit(f"Took {len(faces)} face(s) out", False)
            self._listed(result, keep=pid)

        self.library.people(done, owner=self,
                            edits=tuple(("remove_face", (face,)) for face in faces))
