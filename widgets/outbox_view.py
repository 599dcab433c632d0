"""Where replies stand: a status-bar button ("3 replies waiting", "Offline: …") and the outbox list.

:class:`OutboxButton` shows the outbox's one-line status and opens :class:`OutboxDialog`, a live
list of replies (state, account, the post answered, attempts, error) with **Retry** for failed or
unconfirmed replies and **Confirm sent** for a reply the agent found on the channel. Both follow
the bridge's ``outbox_changed`` signal; the list is re-read only while it is open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.errors import ConsoleError
from console.storage.db import Workspace
from console.storage.outbox_repo import list_outbox
from console.textutil import snippet
from widgets.bridge import QtBridge
from widgets.tablemodel import ColumnsModel
from widgets.timefmt import full, when

Index = QModelIndex | QPersistentModelIndex

STATE_TEXT = {
    "queued": "Queued",
    "sending": "Sending…",
    "sent": "Sent",
    "failed": "Failed",
    "unknown": "To check",
}
COLUMNS = ("State", "When", "Account", "Answers", "Reply", "Tries", "Problem")


class OutboxLike(Protocol):
    """What the views need of ``services.outbox.Outbox``."""

    @property
    def status(self) -> Any: ...

    def retry(self, item_id: int) -> None: ...

    def confirm_sent(self, item_id: int, remote_id: str | None = None) -> None: ...


class OutboxModel(ColumnsModel):
    headers = COLUMNS

    def __init__(self, ws: Workspace, clock: Callable[[], int], parent: Any = None) -> None:
        super().__init__(parent)
        self.ws = ws
        self.clock = clock
        self.items: list[dict[str, Any]] = []
        self._texts: list[tuple[str, ...]] = []

    def reload(self) -> None:
        self.beginResetModel()
        self.items = list_outbox(self.ws)[:500]
        now = self.clock()
        self._texts = [
            (
                STATE_TEXT.get(i["state"], i["state"]),
                when(int(i["created_at"]), now),
                f"{i['account']} ({i['channel']})",
                str(i.get("reply_to") or ""),
                snippet(str(i["text"]), 90),
                str(i["attempts"]),
                str(i.get("error") or ""),
            )
            for i in self.items
        ]
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.items):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._texts[index.row()][index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            item = self.items[index.row()]
            return f"{item['text']}\n\nqueued {full(int(item['created_at']))}"
        return None


class OutboxDialog(QDialog):
    def __init__(
        self,
        ws: Workspace,
        outbox: OutboxLike,
        bridge: QtBridge,
        clock: Callable[[], int],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Outbox")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.outbox = outbox
        layout = QVBoxLayout(self)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.model = OutboxModel(ws, clock, self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.view)
        buttons = QHBoxLayout()
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip("Send a failed or unconfirmed reply again")
        self.confirm_button = QPushButton("Confirm sent")
        self.confirm_button.setToolTip(
            "You found this reply on the channel: mark it sent, never send it again"
        )
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        self.message = QLabel()
        self.message.setObjectName("muted")
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.confirm_button)
        buttons.addWidget(self.message, 1)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.retry_button.clicked.connect(self._retry)
        self.confirm_button.clicked.connect(self._confirm)
        self.view.selectionModel().currentChanged.connect(lambda *_: self._buttons())
        bridge.outbox_changed.connect(lambda *_: self.refresh())
        self.resize(980, 480)
        self.refresh()

    def refresh(self) -> None:
        selected = self.selected()
        self.model.reload()
        self.view.resizeColumnsToContents()
        self.status.setText(self.outbox.status.message)
        if selected is not None:
            for row, item in enumerate(self.model.items):
                if item["id"] == selected["id"]:
                    self.view.selectRow(row)
        self._buttons()

    def selected(self) -> dict[str, Any] | None:
        index = self.view.currentIndex()
        return self.model.items[index.row()] if index.isValid() else None

    def _buttons(self) -> None:
        item = self.selected()
        state = item["state"] if item else None
        self.retry_button.setEnabled(state in ("failed", "unknown"))
        self.confirm_button.setEnabled(state == "unknown")

    def _retry(self) -> None:
        item = self.selected()
        if item is not None:
            self._guard(lambda: self.outbox.retry(int(item["id"])))

    def _confirm(self) -> None:
        item = self.selected()
        if item is not None:
            self._guard(lambda: self.outbox.confirm_sent(int(item["id"])))

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except ConsoleError as exc:
            self.message.setText(str(exc))
        else:
            self.message.setText("")
        self.refresh()


class OutboxButton(QPushButton):
    """The outbox's status in the status bar; click to open the outbox list."""

    def __init__(
        self,
        ws: Workspace,
        outbox: OutboxLike,
        bridge: QtBridge,
        clock: Callable[[], int],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("outboxButton")
        self.setFlat(True)
        self.ws = ws
        self.outbox = outbox
        self.bridge = bridge
        self.clock = clock
        self.setToolTip("Replies on their way (click for the outbox)")
        self.clicked.connect(self.open_dialog)
        bridge.outbox_changed.connect(lambda *_: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        status = self.outbox.status
        text = status.message
        self.setText(
            ("⚠ " if (not status.online or status.failed or status.unknown) else "") + text
        )

    def open_dialog(self) -> OutboxDialog:
        dialog = OutboxDialog(self.ws, self.outbox, self.bridge, self.clock, self.window())
        dialog.show()
        return dialog
