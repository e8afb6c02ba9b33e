"""The detail pane: player at the moment, moments timeline, file facts, labels, similar moments."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from app.gui import fmt
from app.gui.library_service import LatestAnswer, LibraryService
from app.gui.models.results_model import ResultRole, ResultsModel, why_text
from app.gui.thumbs import ThumbCache
from app.gui.widgets.flow import FlowLayout, chip
from app.gui.widgets.moments import moment_strip
from app.gui.widgets.player import Player
from app.gui.widgets.timeline import SegmentTimeline

SIMILAR_MOMENTS = 12
FACTS = ("Duration", "Resolution", "Frame rate", "Video", "Audio", "Bitrate", "Size",
         "Created", "Indexed", "Place")


def short_label(name: str) -> str:
    """ImageNet names list synonyms ("tabby, tabby cat"): the first reads best."""
    return name.split(",")[0].strip()


def see_chips(details: dict, most: int = 8) -> list[tuple[str, str]]:
    """What a clip shows, as a person would say it: the things found in its frames,
    confident everyday words ("dog", not ten breeds), words read on screen and its main
    colour, as (chip text, tooltip) pairs; a label the model is unsure of is no chip."""
    pictures = details.get("pictures") or {}
    chips = [(o["label"] if o["label"] != "person" else "people",
              f"seen in {o['moments']} moment(s)" + (f", {', '.join(o['colours'])}"
                                                     if o["colours"] else ""))
             for o in pictures.get("objects", [])[:4]]
    chips += [(w["word"], ", ".join(w["labels"]) + f" ({w['score']:.2f})")
              for w in details.get("words", []) if w["kind"] == "visual"]
    chips += [(f"“{line}”", "words on screen") for line in pictures.get("text", [])[:2]]
    chips += [(c["colour"], "colour") for c in pictures.get("colours", [])[:1]]
    seen, out = set(), []
    for text, tip in chips:
        if text.lower() not in seen:
            seen.add(text.lower())
            out.append((text, tip))
    return out[:most]


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionTitle")
    return label


class DetailPane(QWidget):
    similar_activated = Signal(dict)  # a result: open that file at its moment
    notice = Signal(str)

    def __init__(self, thumbs: ThumbCache, library: LibraryService, parent=None):
        super().__init__(parent)
        self.setObjectName("detail")
        self.setAttribute(Qt.WA_StyledBackground, True)
        self.thumbs = thumbs
        self.library = library
        self.row: dict | None = None
        self._details_asked = LatestAnswer()  # which file's details are awaited
        self._similar_asked = LatestAnswer()  # which similar-moments request is awaited
        self.setMinimumWidth(340)
        self._build_widgets()
        self._build_facts()
        self._lay_out(self._info_column())
        self._connect()

    # ---- building -------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.empty = QLabel("Select a clip to see it here.\n\nEnter plays it, Space pauses.")
        self.empty.setObjectName("dim")
        self.empty.setAlignment(Qt.AlignCenter)

        self.player = Player()
        self.timeline = SegmentTimeline()
        self.title = QLabel()
        self.title.setObjectName("detailTitle")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.folder = QLabel()
        self.folder.setObjectName("dim")
        self.folder.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.match = QLabel()
        self.match.setWordWrap(True)
        self.match.setVisible(False)
        self.sees = FlowLayout()
        self.hears = FlowLayout()
        self.sees_title = _section("Sees")
        self.hears_title = _section("Hears")
        self.similar_model = ResultsModel(self.thumbs, self)
        self.similar_view = moment_strip()
        self.similar_view.setModel(self.similar_model)
        self.similar_title = _section("Similar moments")
        self.similar_empty = QLabel()
        self.similar_empty.setObjectName("faint")

    def _build_facts(self) -> None:
        """Two columns of key/value pairs (``FACTS``), filled per clip."""
        self.facts = QGridLayout()
        self.facts.setHorizontalSpacing(14)
        self.facts.setVerticalSpacing(3)
        self.fact_values: dict[str, QLabel] = {}
        self.fact_keys: dict[str, QLabel] = {}
        for i, key in enumerate(FACTS):
            k = QLabel(key)
            k.setObjectName("factKey")
            v = QLabel()
            v.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.facts.addWidget(k, i // 2, (i % 2) * 2)
            self.facts.addWidget(v, i // 2, (i % 2) * 2 + 1)
            self.fact_values[key] = v
            self.fact_keys[key] = k
        self.facts.setColumnStretch(1, 1)
        self.facts.setColumnStretch(3, 1)

    def _info_column(self) -> QScrollArea:
        """Title, folder, match, facts, labels and similar moments, scrolling."""
        info = QWidget()
        lay = QVBoxLayout(info)
        lay.setContentsMargins(0, 4, 6, 4)
        lay.setSpacing(6)
        lay.addWidget(self.title)
        lay.addWidget(self.folder)
        lay.addWidget(self.match)
        lay.addSpacing(4)
        lay.addLayout(self.facts)
        lay.addSpacing(6)
        lay.addWidget(self.sees_title)
        lay.addLayout(self.sees)
        lay.addWidget(self.hears_title)
        lay.addLayout(self.hears)
        lay.addSpacing(6)
        lay.addWidget(self.similar_title)
        lay.addWidget(self.similar_view)
        lay.addWidget(self.similar_empty)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(info)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.NoFrame)
        return scroll

    def _lay_out(self, scroll: QScrollArea) -> None:
        """The player and timeline above the scrolling facts; "select a clip" when empty."""
        content = QWidget()
        col = QVBoxLayout(content)
        col.setContentsMargins(14, 14, 8, 8)
        col.setSpacing(8)
        col.addWidget(self.player, 0)
        col.addWidget(self.timeline)
        col.addWidget(scroll, 1)
        self.stack = QStackedLayout(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(content)

    def _connect(self) -> None:
        self._similar_timer = QTimer(self, singleShot=True, interval=350)
        self._similar_timer.timeout.connect(self._load_similar)
        self.player.position_changed.connect(self.timeline.set_position)
        self.player.watched.connect(self._record_watch)
        self.player.failed.connect(lambda text: self.notice.emit(f"Cannot play: {text}"))
        self.timeline.seek_requested.connect(self._seek)
        self.similar_view.clicked.connect(
            lambda idx: self.similar_activated.emit(idx.data(ResultRole)))
        self.similar_view.activated.connect(
            lambda idx: self.similar_activated.emit(idx.data(ResultRole)))
        self.thumbs.changed.connect(self._poster_arrived)

    def _poster_arrived(self, file_id: int) -> None:
        if self.row is not None and file_id == self.row["id"] and not self.player.loaded():
            self.player.show_poster(file_id, self.row["path"], self.thumbs.poster(file_id))

    def clear(self) -> None:
        self.player.close_media()
        self.row = None
        self._details_asked.forget()
        self._similar_asked.forget()
        self.stack.setCurrentIndex(0)

    # ---- showing a clip -------------------------------------------------------------
    def show_clip(self, row: dict, moment: dict | None = None, open_player: bool = False,
                  autoplay: bool = False) -> None:
        """Show a clip; with a ``moment`` (a result), open the player at its start."""
        same_file = self.row is not None and self.row["id"] == row["id"]
        self.row = row
        if not same_file:
            self._details_asked.forget()
        self.stack.setCurrentIndex(1)
        start = float(moment["start"]) if moment and moment.get("start") is not None else 0.0
        if open_player or moment is not None:
            self.player.open(row["id"], row["path"], start, autoplay=autoplay)
        else:
            self.player.show_poster(row["id"], row["path"], self.thumbs.poster(row["id"]))
        self.timeline.set_highlight(moment.get("start") if moment else None,
                                    moment.get("end") if moment else None)
        if moment and moment.get("why") is not None:
            self.match.setText(f"<b>Matched {fmt.time_range(moment.get('start'), moment.get('end'))}"
                               f"</b> — {why_text(moment.get('why'))}")
            self.match.setVisible(True)
        else:
            self.match.setVisible(False)
        if same_file:
            self._similar_timer.start()
            return
        self.title.setText(fmt.file_name(row["path"]))
        self.folder.setText(str(Path(row["path"]).parent))
        self.folder.setToolTip(row["path"])
        self._fill_facts(row)
        self.timeline.set_segments([], row.get("duration") or 0.0)
        self.timeline.set_marks([])
        ticket = self._details_asked.ask()
        self.library.file_details(
            row["id"], lambda result=None, error=None: self._details(ticket, result, error),
            owner=self)
        self.similar_model.set_results([], {})
        self.similar_empty.setText("Looking for similar moments…")
        self.similar_empty.setVisible(True)
        self.similar_view.setVisible(False)
        self._similar_timer.start()

    def play(self) -> None:
        if self.row is not None:
            self.player.play()

    def toggle(self) -> None:
        self.player.toggle()

    def _seek(self, seconds: float) -> None:
        self.player.seek(seconds)
        self._similar_timer.start()

    def _fill_facts(self, row: dict) -> None:
        v = self.fact_values
        v["Duration"].setText(fmt.duration(row.get("duration")))
        v["Resolution"].setText(f"{row.get('width')}×{row.get('height')}" if row.get("width") else "")
        v["Frame rate"].setText(f"{row['fps']:.2f} fps" if row.get("fps") else "")
        v["Video"].setText(row.get("video_codec") or "")
        v["Audio"].setText(row.get("audio_codec") or "none")
        v["Bitrate"].setText(fmt.bitrate(row.get("bitrate")))
        v["Size"].setText(fmt.size(row.get("size")))
        created = fmt.date(row.get("created"))
        v["Created"].setText(created or fmt.date(row.get("file_time")) or "unknown")
        v["Created"].setToolTip("" if created else "The file's date: the video itself does "
                                "not say when it was shot")
        self.fact_keys["Created"].setText("Created" if created else "File date")
        v["Indexed"].setText(fmt.date(row.get("indexed_at")))
        v["Place"].setText("")  # read with the details, off the GUI thread

    def _details(self, ticket: int, result, error) -> None:
        if not self._details_asked.is_latest(ticket) or error is not None or not result \
                or self.row is None:
            return
        segments = []
        for s in result["segments"]:
            visual = [short_label(name) for _, name, _ in s["labels"].get("visual", [])[:3]]
            audio = [name for _, name, _ in s["labels"].get("audio", [])[:2]]
            segments.append({"start": s["start"], "end": s["end"],
                             "label": visual[0] if visual else "",
                             "detail": ", ".join(visual + audio)})
        self.timeline.set_segments(segments, self.row.get("duration") or 0.0)
        self.fact_values["Place"].setText(result.get("place") or "unknown")
        self.sees.clear()
        self.hears.clear()
        # People first: named ones by name, ticks on the timeline where they are seen.
        named = [p for p in result.get("people", []) if p["name"]]
        for person in named:
            self.sees.addWidget(chip(person["name"], "chip", f"seen at {person['times'][0]:.0f} s"))
        others = len(result.get("people", [])) - len(named)
        if others:
            self.sees.addWidget(chip(f"{others} unnamed {'person' if others == 1 else 'people'}",
                                     "chip", "Name them on the People page"))
        self.timeline.set_marks(sorted(t for p in named for t in p["times"]))
        sees = see_chips(result)
        for text, tip in sees:
            self.sees.addWidget(chip(text, "chip", tip))
        hears = [w for w in result.get("words", []) if w["kind"] == "audio"][:4]
        for w in hears:
            self.hears.addWidget(chip(w["word"], "chipAudio", f"{w['score']:.2f}"))
        self.sees_title.setVisible(bool(sees) or bool(result.get("people")))
        self.hears_title.setVisible(bool(hears))

    # ---- similar moments ----------------------------------------------------------------
    def _load_similar(self) -> None:
        if self.row is None:
            return
        ticket, row = self._similar_asked.ask(), self.row
        self.library.similar(
            row["path"], lambda result=None, error=None: self._similar(ticket, row, result, error),
            at=self.player.position(), limit=SIMILAR_MOMENTS + 4, owner=self)

    def _similar(self, ticket: int, row: dict, result, error) -> None:
        if not self._similar_asked.is_latest(ticket):
            return
        if result:  # moments of other clips: this one's own are on its timeline
            result = [r for r in result if r.get("file_id") != row["id"]][:SIMILAR_MOMENTS]
        if error is not None:
            self.similar_empty.setText("Similar moments are not available "
                                       f"({type(error).__name__}: {error}).")
            self.similar_empty.setVisible(True)
            self.similar_view.setVisible(False)
            return
        self.similar_model.set_results(result or [], {})
        self.similar_empty.setText("No similar moments in the library.")
        self.similar_empty.setVisible(not result)
        self.similar_view.setVisible(bool(result))

    def _record_watch(self, file_id: int, seconds: float) -> None:
        self.library.record_watch(
            file_id, seconds, lambda result=None, error=None: error and self.notice.emit(
                f"Could not record watching: {error}"), owner=self)
