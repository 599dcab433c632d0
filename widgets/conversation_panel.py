"""The centre pane: the selected conversation's header, its thread or the customer's whole history,
and the composer under it.

The header says who, where, since when, and how late: customer and handle, channel and account,
status, assignee, tags and the response deadline. Two views share the space: **Conversation** (this
thread) and **Whole history** (every message of the customer on every channel and account, oldest
to newest, in conversation blocks). ``H`` switches. The history is loaded only when it is shown.

Signals:
    action_requested(str): "assign", "take", "snooze", "resolve", "reopen", "pending", "note", "tags"
    message_activated(object): a message was opened (Enter / double-click)
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QResizeEvent, QTextDocumentFragment
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.domain import CHANNEL_LABELS, Channel
from console.errors import NotFoundError
from console.storage.conversations import conversation_header
from console.storage.db import Workspace
from widgets.bridge import QtBridge
from widgets.icons import IconCache
from widgets.theme import Theme
from widgets.thread_model import MessageRow, ThreadModel
from widgets.thread_view import ThreadView
from widgets.timefmt import ago, full, when

#: Buttons on the header row (the ones an agent uses on every conversation).
ACTIONS = (
    ("take", "Take", "Assign to me (A)"),
    ("snooze", "Snooze…", "Snooze until a time (S)"),
    ("resolve", "Resolve", "Resolve (E)"),
)
#: ... and under "More" (a narrow centre keeps the customer's name whole).
MORE_ACTIONS = (
    ("assign", "Assign to…", "Shift+A"),
    ("pending", "Pending (waiting on the customer)", "P"),
    ("note", "Internal note…", "N"),
    ("tags", "Tags…", "T"),
)


class TitleLabel(QLabel):
    """The customer's name and handle, cut with "…" to the width there is (whole in the tooltip)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._parts: tuple[str, str, str] | None = None

    def set_parts(self, name: str, handle: str, muted: str) -> None:
        self._parts = (name, handle, muted)
        self.setToolTip(f"{name} {handle}".strip())
        self._render()

    def set_plain(self, text: str) -> None:
        self._parts = None
        self.setToolTip("")
        self.setText(text)

    def shown_text(self) -> str:
        """The title as painted, without markup (for tests)."""
        return QTextDocumentFragment.fromHtml(self.text()).toPlainText()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._render()

    def _render(self) -> None:
        if self._parts is None:
            return
        name, handle, muted = self._parts
        metrics = self.fontMetrics()  # the bold title font: the lighter handle fits in it
        room = max(40, self.contentsRect().width() - 2)
        shown = metrics.elidedText(name, Qt.TextElideMode.ElideRight, room)
        text = html.escape(shown)
        rest = room - metrics.horizontalAdvance(shown + " ")
        if handle and shown == name and rest > metrics.horizontalAdvance("mm…"):
            cut = metrics.elidedText(handle, Qt.TextElideMode.ElideRight, rest)
            text += f" <span style='color:{muted}; font-weight:400'>{html.escape(cut)}</span>"
        self.setText(text)


class ConversationPanel(QWidget):
    action_requested = Signal(str)
    message_activated = Signal(object)

    def __init__(
        self,
        ws: Workspace,
        bridge: QtBridge | None,
        theme: Theme,
        icons: IconCache,
        clock: Callable[[], int],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conversationPane")
        self.ws = ws
        self.theme = theme
        self.icons = icons
        self.clock = clock
        self.conversation_id: int | None = None
        self.customer_id: int | None = None
        self.header_row: dict[str, Any] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)

        header = QWidget()
        header.setObjectName("convHeader")
        h = QVBoxLayout(header)
        h.setContentsMargins(14, 10, 14, 8)
        h.setSpacing(4)
        first = QHBoxLayout()
        self.icon = QLabel()
        self.icon.setFixedSize(26, 26)
        self.title = TitleLabel("No conversation selected")
        self.title.setObjectName("convTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long name must not widen the window: the title gives way to the buttons.
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setMinimumWidth(80)
        first.addWidget(self.icon)
        first.addWidget(self.title, 1)
        self.buttons: dict[str, QToolButton] = {}
        for key, label, tip in ACTIONS:
            button = QToolButton()
            button.setText(label)
            button.setToolTip(tip)
            button.setObjectName(f"action_{key}")
            button.clicked.connect(lambda _=False, k=key: self._action(k))
            first.addWidget(button)
            self.buttons[key] = button
        more = QToolButton()
        more.setText("More ▾")
        more.setObjectName("action_more")
        more.setToolTip("Assign to…, pending, note, tags")
        more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(more)
        self.more_actions: dict[str, QAction] = {}
        for key, label, keys in MORE_ACTIONS:
            action = menu.addAction(f"{label}\t{keys}")
            action.setObjectName(f"action_{key}")
            action.triggered.connect(lambda _=False, k=key: self._action(k))
            self.more_actions[key] = action
        more.setMenu(menu)
        first.insertWidget(first.count() - 1, more)
        self.buttons["more"] = more
        h.addLayout(first)
        self.meta = QLabel()
        self.meta.setObjectName("muted")
        self.meta.setWordWrap(True)
        self.meta.setTextFormat(Qt.TextFormat.RichText)
        self.meta.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        h.addWidget(self.meta)

        switch = QWidget()
        switch.setObjectName("viewSwitch")
        s = QHBoxLayout(switch)
        s.setContentsMargins(0, 4, 0, 0)
        s.setSpacing(0)
        self.thread_button = QToolButton()
        self.thread_button.setText("Conversation")
        self.thread_button.setCheckable(True)
        self.thread_button.setChecked(True)
        self.history_button = QToolButton()
        self.history_button.setText("Whole history  (H)")
        self.history_button.setCheckable(True)
        self.history_button.setToolTip(
            "Every message of this customer on every channel and account, oldest first"
        )
        group = QButtonGroup(self)
        group.setExclusive(True)
        group.addButton(self.thread_button)
        group.addButton(self.history_button)
        self.thread_button.clicked.connect(lambda: self.show_view("thread"))
        self.history_button.clicked.connect(lambda: self.show_view("history"))
        s.addWidget(self.thread_button)
        s.addWidget(self.history_button)
        s.addStretch(1)
        self.count_label = QLabel()
        self.count_label.setObjectName("muted")
        self.count_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        s.addWidget(self.count_label)
        h.addWidget(switch)
        layout.addWidget(header)

        self.thread_model = ThreadModel(ws, bridge, parent=self)
        self.history_model = ThreadModel(ws, bridge, parent=self)
        self.thread_view = ThreadView(self.thread_model, theme, icons, clock, parent=self)
        self.thread_view.setObjectName("threadView")
        self.history_view = ThreadView(
            self.history_model, theme, icons, clock, history=True, parent=self
        )
        self.history_view.setObjectName("historyView")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.thread_view)
        self.stack.addWidget(self.history_view)
        self.empty = QLabel("Pick a conversation on the left (↑ ↓ or J K, then Enter).")
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.empty)
        self.stack.setCurrentWidget(self.empty)
        layout.addWidget(self.stack, 1)
        for view in (self.thread_view, self.history_view):
            view.message_activated.connect(self.message_activated)
        self.thread_model.loaded.connect(self._counts)
        self.history_model.loaded.connect(self._counts)
        self.composer_slot = QVBoxLayout()
        self.composer_slot.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.composer_slot)
        self.view = "thread"
        self._history_stale = True
        self._set_enabled(False)

    # -- public --------------------------------------------------------------------------------

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.thread_view.set_theme(theme)
        self.history_view.set_theme(theme)
        self.refresh_header()

    def set_composer(self, composer: QWidget) -> None:
        self.composer_slot.addWidget(composer)

    def show_conversation(self, conversation_id: int | None) -> None:
        self.conversation_id = conversation_id
        self.header_row = None
        if conversation_id is not None:
            try:
                self.header_row = conversation_header(self.ws, conversation_id)
            except NotFoundError:
                self.header_row = None
                self.conversation_id = None
        previous_customer = self.customer_id
        self.customer_id = self.header_row["customer_id"] if self.header_row else None
        self.refresh_header()
        self.thread_model.show_conversation(self.conversation_id, self.customer_id)
        if self.customer_id != previous_customer:
            self._history_stale = True
        if self.view == "history":
            self._load_history()
        self._set_enabled(self.conversation_id is not None)
        if self.conversation_id is None:
            self.stack.setCurrentWidget(self.empty)
        else:
            self.stack.setCurrentWidget(
                self.history_view if self.view == "history" else self.thread_view
            )

    def show_customer_history(self, customer_id: int) -> None:
        """The whole history of a customer (from the card or a search), whatever is selected."""
        if customer_id != self.customer_id:
            self.customer_id = customer_id
            self._history_stale = True
        self.show_view("history")

    def show_view(self, view: str) -> None:
        self.view = view
        self.thread_button.setChecked(view == "thread")
        self.history_button.setChecked(view == "history")
        if view == "history":
            self._load_history()
            if self.customer_id is not None:
                self.stack.setCurrentWidget(self.history_view)
                self.history_view.setFocus()
        elif self.conversation_id is not None:
            self.stack.setCurrentWidget(self.thread_view)
        self._counts()

    def toggle_view(self) -> None:
        self.show_view("thread" if self.view == "history" else "history")

    def current_view(self) -> ThreadView:
        return self.history_view if self.view == "history" else self.thread_view

    def selected_message(self) -> MessageRow | None:
        return self.current_view().selected_message()

    def refresh_header(self) -> None:
        row = self.header_row
        if row is None:
            self.title.set_plain("No conversation selected")
            self.meta.setText("")
            self.icon.clear()
            return
        t = self.theme
        self.icon.setPixmap(self.icons.pixmap(str(row["channel"]), 24, self.devicePixelRatioF()))
        name = row.get("customer") or row.get("handle") or "Unknown customer"
        handle = row.get("handle") or ""
        self.title.set_parts(str(name), str(handle) if handle and handle != name else "", t.muted)
        try:
            channel = CHANNEL_LABELS[Channel(row["channel"])]
        except ValueError:
            channel = str(row["channel"])
        now = self.clock()
        bits = [
            f"{channel} · {html.escape(str(row['account']))}"
            + (" · public" if row.get("is_public") else " · private"),
            f"<b>{html.escape(str(row['status']).capitalize())}</b>",
        ]
        if row["status"] == "snoozed" and row.get("snoozed_until"):
            bits[-1] += f" until {when(int(row['snoozed_until']), now)}"
        bits.append(
            f"assigned to <b>{html.escape(str(row['assignee']))}</b>"
            if row.get("assignee")
            else "unassigned"
        )
        waiting = row.get("waiting_since")
        deadline = row.get("deadline_at")
        if waiting and row["status"] == "open":
            wait = f"waiting {ago(now - int(waiting))}"
            if deadline:
                if int(deadline) <= now:
                    wait += f" — <b style='color:{t.danger}'>late by {ago(now - int(deadline))}</b>"
                else:
                    wait += f" — answer due in {ago(int(deadline) - now)}"
            bits.append(wait)
        elif row.get("first_response_at") and row.get("first_inbound_at"):
            bits.append(
                f"first answer after {ago(int(row['first_response_at']) - int(row['first_inbound_at']))}"
            )
        if row.get("tags"):
            bits.append(" ".join(f"#{html.escape(tag)}" for tag in row["tags"]))
        bits.append(f"started {when(int(row['started_at']), now)}")
        self.meta.setText(" · ".join(bits))
        self.meta.setToolTip(f"Conversation #{row['id']} · started {full(int(row['started_at']))}")
        resolved = row["status"] == "resolved"
        self.buttons["resolve"].setText("Reopen" if resolved else "Resolve")
        self.buttons["resolve"].setToolTip("Reopen (Shift+E)" if resolved else "Resolve (E)")

    # -- internals -----------------------------------------------------------------------------

    def _action(self, key: str) -> None:
        if key == "resolve" and self.header_row and self.header_row["status"] == "resolved":
            key = "reopen"
        self.action_requested.emit(key)

    def _load_history(self) -> None:
        if self._history_stale or self.history_model.customer_id != self.customer_id:
            self.history_model.show_customer(self.customer_id)
            self._history_stale = False

    def _set_enabled(self, enabled: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(enabled)
        for action in self.more_actions.values():
            action.setEnabled(enabled)

    def _counts(self) -> None:
        model = self.history_model if self.view == "history" else self.thread_model
        n = model.rowCount()
        more = "+" if model.has_earlier else ""
        what = "in the whole history" if self.view == "history" else "in this conversation"
        self.count_label.setText(f"{n}{more} messages {what}" if n else "")
