"""Small keyboard-first dialogs: snooze, assign, tags, note, merge, shortcuts, a group's posts,
and reading one message in full.

Every dialog is opened with ``open()`` (never ``exec()``, so nothing blocks the event loop or a
coroutine) and reports its answer through a signal; Enter accepts, Escape cancels, the first field
has the focus. The caller keeps no reference to the dialog: ``WA_DeleteOnClose`` frees it.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QDateTime, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.domain import CHANNEL_LABELS, Channel
from widgets.tablemodel import RowsModel
from widgets.timefmt import full, local, when


def _base(dialog: QDialog, title: str) -> QVBoxLayout:
    dialog.setWindowTitle(title)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    layout = QVBoxLayout(dialog)
    layout.setContentsMargins(16, 14, 16, 14)
    layout.setSpacing(8)
    return layout


def _buttons(dialog: QDialog, ok: str = "OK") -> QDialogButtonBox:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    ok_button = box.button(QDialogButtonBox.StandardButton.Ok)
    ok_button.setText(ok)
    ok_button.setDefault(True)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


# -- snooze -------------------------------------------------------------------------------------


def snooze_presets(now: int) -> list[tuple[str, int]]:
    """(label, epoch) choices from the local time ``now``: in an hour, this evening, tomorrow..."""
    current = local(now)
    out = [("In 1 hour", now + 3600), ("In 4 hours", now + 4 * 3600)]
    tomorrow = (current + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    out.append((f"Tomorrow morning ({tomorrow:%a} 09:00)", int(tomorrow.timestamp())))
    days = (7 - current.weekday()) % 7 or 7
    monday = (current + timedelta(days=days)).replace(hour=9, minute=0, second=0, microsecond=0)
    out.append((f"Next week ({monday:%a %d %b} 09:00)", int(monday.timestamp())))
    return out


class SnoozeDialog(QDialog):
    """Choose when the conversation comes back. Signal ``chosen(int epoch, str label)``."""

    chosen = Signal(int, str)

    def __init__(self, now: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = _base(self, "Snooze conversation")
        layout.addWidget(QLabel("Bring it back to the inbox…"))
        self.choices = QListWidget()
        self.presets = snooze_presets(now)
        for i, (label, _at) in enumerate(self.presets, 1):
            self.choices.addItem(f"{i}.  {label}")
        self.choices.addItem(f"{len(self.presets) + 1}.  At a time I pick…")
        self.choices.setCurrentRow(0)
        self.choices.setFixedHeight(self.choices.sizeHintForRow(0) * 6 + 8)
        layout.addWidget(self.choices)
        self.custom = QDateTimeEdit(QDateTime.fromSecsSinceEpoch(now + 3600))
        self.custom.setCalendarPopup(True)
        self.custom.setDisplayFormat("ddd d MMM yyyy HH:mm")
        self.custom.setMinimumDateTime(QDateTime.fromSecsSinceEpoch(now + 60))
        layout.addWidget(self.custom)
        self.choices.currentRowChanged.connect(
            lambda r: self.custom.setEnabled(r == len(self.presets))
        )
        self.custom.setEnabled(False)
        self.choices.itemActivated.connect(lambda *_: self.accept())
        layout.addWidget(_buttons(self, "Snooze"))
        self.choices.setFocus()

    def keyPressEvent(self, event: Any) -> None:
        text = event.text()
        if text.isdigit() and 1 <= int(text) <= len(self.presets) + 1:
            self.choices.setCurrentRow(int(text) - 1)
            if int(text) <= len(self.presets):
                self.accept()
                return
            self.custom.setFocus()
            return
        super().keyPressEvent(event)

    def accept(self) -> None:
        row = self.choices.currentRow()
        if 0 <= row < len(self.presets):
            label, at = self.presets[row]
            label = label.split(" (")[0] if "(" in label else label
            self.chosen.emit(at, when(at, at - 1) if label.startswith("In ") else label.lower())
        else:
            at = int(self.custom.dateTime().toSecsSinceEpoch())
            self.chosen.emit(at, self.custom.dateTime().toString("ddd d MMM HH:mm"))
        super().accept()


# -- assign -------------------------------------------------------------------------------------


class AssignDialog(QDialog):
    """Pick an agent (type to filter). Signal ``chosen(str)``; an empty string unassigns."""

    chosen = Signal(str)

    def __init__(
        self, agents: Sequence[str], me: str, current: str | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        layout = _base(self, "Assign conversation")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Type a name…")
        layout.addWidget(self.search)
        self.list = QListWidget()
        names = [me, *sorted((a for a in agents if a != me), key=str.casefold)]
        for name in names:
            label = f"{name} (me)" if name == me else name
            if name == current:
                label += "  — assigned now"
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.list.addItem(item)
        item = QListWidgetItem("Nobody (unassign)")
        item.setData(Qt.ItemDataRole.UserRole, "")
        self.list.addItem(item)
        self.list.setCurrentRow(0)
        layout.addWidget(self.list)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self.accept)
        self.list.itemActivated.connect(lambda *_: self.accept())
        layout.addWidget(_buttons(self, "Assign"))
        self.resize(340, 380)
        self.search.setFocus()

    def _filter(self, text: str) -> None:
        needle = text.casefold().strip()
        first = -1
        for i in range(self.list.count()):
            item = self.list.item(i)
            hidden = bool(needle) and needle not in item.text().casefold()
            item.setHidden(hidden)
            if not hidden and first < 0:
                first = i
        if first >= 0:
            self.list.setCurrentRow(first)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.search.hasFocus():
            self.list.setFocus()
            self.list.keyPressEvent(event)
            return
        super().keyPressEvent(event)

    def accept(self) -> None:
        item = self.list.currentItem()
        if item is not None and not item.isHidden():
            self.chosen.emit(str(item.data(Qt.ItemDataRole.UserRole)))
        super().accept()


# -- tags and notes -----------------------------------------------------------------------------


def parse_tags(text: str) -> list[str]:
    return [t for t in (p.strip().lstrip("#") for p in text.replace(",", " ").split()) if t]


class TagsDialog(QDialog):
    """Edit a conversation's tags (space or comma separated). Signal ``chosen(list[str])``."""

    chosen = Signal(list)

    def __init__(
        self, tags: Sequence[str], known: Sequence[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        layout = _base(self, "Tags")
        layout.addWidget(QLabel("Tags, separated by spaces or commas:"))
        self.edit = QLineEdit(" ".join(tags) + (" " if tags else ""))
        self.edit.setPlaceholderText("billing outage refund")
        completer = QCompleter(list(known), self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.edit.setCompleter(completer)
        layout.addWidget(self.edit)
        if known:
            hint = QLabel("In use: " + ", ".join(known[:12]))
            hint.setObjectName("muted")
            hint.setWordWrap(True)
            layout.addWidget(hint)
        layout.addWidget(_buttons(self, "Save tags"))
        self.edit.returnPressed.connect(self.accept)
        self.resize(380, 140)
        self.edit.setFocus()

    def accept(self) -> None:
        self.chosen.emit(parse_tags(self.edit.text()))
        super().accept()


class NoteDialog(QDialog):
    """Write an internal note (Ctrl+Enter saves). Signal ``chosen(str)``."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = _base(self, "Internal note")
        hint = QLabel("Only your team sees notes; the customer never does.")
        hint.setObjectName("muted")
        layout.addWidget(hint)
        self.edit = QPlainTextEdit()
        self.edit.setPlaceholderText("What the next agent should know…")
        layout.addWidget(self.edit)
        buttons = _buttons(self, "Add note  (Ctrl+Enter)")
        layout.addWidget(buttons)
        self.resize(460, 240)
        self.edit.setFocus()

    def keyPressEvent(self, event: Any) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.accept()
            return
        super().keyPressEvent(event)

    def accept(self) -> None:
        text = self.edit.toPlainText().strip()
        if not text:
            self.edit.setPlaceholderText("A note needs some text (Escape to cancel)")
            return
        self.chosen.emit(text)
        super().accept()


# -- merge --------------------------------------------------------------------------------------


class MergeDialog(QDialog):
    """Find the customer to merge into the one shown. Signal ``chosen(int customer id)``.

    ``search(text)`` returns ``[{id, name, key}]`` (``console.storage.customers.find_customers``).
    """

    chosen = Signal(int)

    def __init__(
        self,
        target_name: str,
        target_id: int,
        search: Callable[[str], list[dict[str, Any]]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        layout = _base(self, "Merge customers")
        intro = QLabel(
            f"Merge another customer into <b>{html.escape(target_name)}</b> (#{target_id}): their"
            " identities, conversations and messages move here. It can be undone with Un-merge."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.target_id = target_id
        self.search_fn = search
        self.field = QLineEdit()
        self.field.setPlaceholderText("Name, handle, e-mail or phone…")
        layout.addWidget(self.field)
        self.results = QListWidget()
        layout.addWidget(self.results)
        self.field.textChanged.connect(self._search)
        self.field.returnPressed.connect(self._enter)
        self.results.itemActivated.connect(lambda *_: self.accept())
        layout.addWidget(_buttons(self, "Merge"))
        self.resize(460, 380)
        self.field.setFocus()

    def _search(self, text: str) -> None:
        self.results.clear()
        if len(text.strip()) < 2:
            return
        for row in self.search_fn(text):
            if int(row["id"]) == self.target_id:
                continue
            label = f"{row['name'] or 'Unknown'}  ·  #{row['id']}"
            if row.get("key"):
                label += f"  ·  key {row['key']}"
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, int(row["id"]))
            self.results.addItem(item)
        if self.results.count():
            self.results.setCurrentRow(0)

    def _enter(self) -> None:
        if self.results.count():
            self.results.setFocus()

    def accept(self) -> None:
        item = self.results.currentItem()
        if item is None:
            return
        self.chosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))
        super().accept()


# -- shortcuts sheet ----------------------------------------------------------------------------


class ShortcutsDialog(QDialog):
    """The keyboard sheet (``?``): every action with its keys, grouped."""

    def __init__(
        self, groups: Sequence[tuple[str, Sequence[tuple[str, str]]]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        layout = _base(self, "Keyboard shortcuts")
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(3)
        col = 0
        row = 0
        half = (sum(len(items) + 1 for _, items in groups) + 1) // 2
        for title, items in groups:
            if row + len(items) + 1 > half and col == 0 and row > 0:
                col, row = 2, 0
            head = QLabel(title.upper())
            head.setObjectName("cardSection")
            grid.addWidget(head, row, col, 1, 2)
            row += 1
            for keys, what in items:
                key = QLabel(
                    " ".join(
                        f"<span style='font-family:monospace'>&nbsp;{html.escape(k)}&nbsp;</span>"
                        for k in keys.split("  ")
                    )
                )
                key.setObjectName("shortcutKey")
                grid.addWidget(key, row, col, Qt.AlignmentFlag.AlignRight)
                grid.addWidget(QLabel(what), row, col + 1)
                row += 1
        layout.addLayout(grid)
        close = QPushButton("Close")
        close.setDefault(True)
        close.clicked.connect(self.accept)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)


def shortcut_text(sequence: QKeySequence | str) -> str:
    seq = sequence if isinstance(sequence, QKeySequence) else QKeySequence(sequence)
    return seq.toString(QKeySequence.SequenceFormat.NativeText)


# -- a duplicate group's posts ------------------------------------------------------------------


class GroupPostsDialog(QDialog):
    """Every post of a duplicate or same-issue group, oldest first.

    Signals ``open_requested(int conversation id)`` (Enter / double-click) and
    ``reply_requested(int message id)`` (answer them all from the composer).
    """

    open_requested = Signal(int)
    reply_requested = Signal(int)

    def __init__(
        self,
        title: str,
        posts: Sequence[dict[str, Any]],
        names: dict[int, str],
        now: int,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        layout = _base(self, "Duplicate posts")
        head = QLabel(f"<b>{html.escape(title)}</b> — {len(posts)} posts")
        head.setWordWrap(True)
        layout.addWidget(head)
        rows = []
        for p in posts:
            try:
                channel = CHANNEL_LABELS[Channel(p["channel"])]
            except ValueError:
                channel = str(p["channel"])
            rows.append(
                (
                    when(int(p["created_at"]), now),
                    names.get(int(p["customer_id"] or 0), str(p.get("author") or "")),
                    channel,
                    " ".join(str(p["text"]).split()),
                )
            )
        self.posts = list(posts)
        self.model = RowsModel(("When", "Customer", "Channel", "Post"), rows, self)
        self.model.set_tooltips([full(int(p["created_at"])) for p in posts], column=0)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.verticalHeader().hide()
        self.view.setWordWrap(False)
        self.view.resizeColumnsToContents()
        self.view.doubleClicked.connect(self._open)
        layout.addWidget(self.view)
        buttons = QDialogButtonBox()
        reply = buttons.addButton("Answer every post…", QDialogButtonBox.ButtonRole.ActionRole)
        reply.setToolTip("Write one reply and send a copy to each post, each in its own thread")
        reply.clicked.connect(self._reply)
        open_button = buttons.addButton("Open conversation", QDialogButtonBox.ButtonRole.AcceptRole)
        open_button.setDefault(True)
        open_button.clicked.connect(lambda: self._open(self.view.currentIndex()))
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.reject)
        layout.addWidget(buttons)
        if posts:
            self.view.selectRow(0)
        self.resize(820, 460)
        self.view.setFocus()

    def _open(self, index: QModelIndex | QPersistentModelIndex) -> None:
        if index.isValid():
            self.open_requested.emit(int(self.posts[index.row()]["conversation_id"]))
            self.accept()

    def _reply(self) -> None:
        index = self.view.currentIndex()
        post = self.posts[index.row() if index.isValid() else 0]
        self.reply_requested.emit(int(post["id"]))
        self.accept()


# -- one message in full ------------------------------------------------------------------------


class MessageDialog(QDialog):
    """A message's whole text (plain text: nothing in it is ever run or loaded)."""

    def __init__(self, title: str, meta: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = _base(self, title)
        info = QLabel(meta)
        info.setObjectName("muted")
        info.setWordWrap(True)
        layout.addWidget(info)
        body = QTextBrowser()
        body.setOpenLinks(False)
        body.setPlainText(text)
        layout.addWidget(body)
        close = QPushButton("Close")
        close.setDefault(True)
        close.clicked.connect(self.accept)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self.resize(680, 520)


def format_moment(epoch: int) -> str:
    return datetime.fromtimestamp(epoch).strftime("%a %d %b %Y %H:%M")
