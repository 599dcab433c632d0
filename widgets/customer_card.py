"""The customer card: who this is, on which channels, how often, how they feel, and why flagged.

:class:`CustomerCard` shows one customer (``show_customer``): name and key, every identity with
its channel and reach, contact counts, first and last contact, language, flags with their reasons
in plain words, duplicate groups (each opens the list of its posts), notes (saved as the agent
types, after a pause) and merge / un-merge. It reads through ``console.storage.customers`` and
``console.triage.views``: a handful of indexed queries per customer.

Signals:
    merge_requested(int): the agent wants to merge another customer into this one
    unmerge_requested(int): undo the latest merge of this customer
    group_requested(int): open a duplicate group's posts
    history_requested(int): show this customer's whole history
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from console.domain import CHANNEL_LABELS, Channel, FlagKind
from console.errors import NotFoundError
from console.storage.customers import customer_summary, set_notes
from console.storage.db import Workspace
from console.templates import language_name
from console.triage.views import customer_groups
from widgets.icons import IconCache
from widgets.theme import FLAG_LABELS, Theme
from widgets.timefmt import full, when


def reach_text(followers: int | None) -> str:
    if not followers:
        return ""
    if followers >= 1_000_000:
        return f"{followers / 1_000_000:.1f}M followers"
    if followers >= 10_000:
        return f"{followers / 1000:.0f}k followers"
    if followers >= 1000:
        return f"{followers / 1000:.1f}k followers"
    return f"{followers} followers"


def _section(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("cardSection")
    return label


def _clear(layout: Any) -> None:
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget()
        if widget is not None:
            widget.hide()  # gone now, not when the event loop gets to the deferred delete
            widget.deleteLater()
        elif item.layout() is not None:
            _clear(item.layout())


class CustomerCard(QScrollArea):
    merge_requested = Signal(int)
    unmerge_requested = Signal(int)
    group_requested = Signal(int)
    history_requested = Signal(int)

    def __init__(
        self,
        ws: Workspace,
        theme: Theme,
        icons: IconCache,
        clock: Callable[[], int],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ws = ws
        self.theme = theme
        self.icons = icons
        self.clock = clock
        self.customer_id: int | None = None
        self.summary: dict[str, Any] | None = None
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        body.setObjectName("customerPane")
        self.setWidget(body)
        self.layout_ = QVBoxLayout(body)
        self.layout_.setContentsMargins(14, 12, 14, 12)
        self.layout_.setSpacing(6)

        self.title = QLabel()
        self.title.setObjectName("cardTitle")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel()
        self.subtitle.setObjectName("muted")
        self.subtitle.setWordWrap(True)
        self.layout_.addWidget(self.title)
        self.layout_.addWidget(self.subtitle)

        self.flags_box = QVBoxLayout()
        self.flags_box.setSpacing(6)
        self.layout_.addLayout(self.flags_box)

        self.layout_.addWidget(_section("Channels"))
        self.identities = QVBoxLayout()
        self.identities.setSpacing(3)
        self.layout_.addLayout(self.identities)

        self.layout_.addWidget(_section("Contact"))
        self.figures = QGridLayout()
        self.figures.setHorizontalSpacing(10)
        self.figures.setVerticalSpacing(2)
        self.layout_.addLayout(self.figures)

        self.groups_title = _section("Posted the same thing")
        self.layout_.addWidget(self.groups_title)
        self.groups = QVBoxLayout()
        self.groups.setSpacing(3)
        self.layout_.addLayout(self.groups)

        self.layout_.addWidget(_section("Notes"))
        self.notes = QPlainTextEdit()
        self.notes.setObjectName("customerNotes")
        self.notes.setPlaceholderText("Notes about this customer, for the whole team…")
        self.notes.setFixedHeight(84)
        self.notes.setTabChangesFocus(True)
        self.layout_.addWidget(self.notes)
        self.notes_state = QLabel()
        self.notes_state.setObjectName("muted")
        self.layout_.addWidget(self.notes_state)
        self._save_timer = QTimer(self, singleShot=True, interval=700)
        self._save_timer.timeout.connect(self.save_notes)
        self.notes.textChanged.connect(self._notes_edited)

        # Two rows (history above, merge and un-merge below): in one row the three buttons were
        # wider than the narrowest card, and the whole card was cut off at the right edge.
        buttons = QGridLayout()
        self.history_button = QPushButton("Whole history")
        self.history_button.setToolTip("Every message of this customer on every channel (H)")
        self.history_button.clicked.connect(self._history)
        self.merge_button = QPushButton("Merge…")
        self.merge_button.setToolTip(
            "Merge another customer (same person, other channel) into this one"
        )
        self.merge_button.clicked.connect(self._merge)
        self.unmerge_button = QPushButton("Un-merge")
        self.unmerge_button.setToolTip("Undo the latest merge of this customer")
        self.unmerge_button.clicked.connect(self._unmerge)
        buttons.addWidget(self.history_button, 0, 0, 1, 2)
        buttons.addWidget(self.merge_button, 1, 0)
        buttons.addWidget(self.unmerge_button, 1, 1)
        self.layout_.addSpacing(6)
        self.layout_.addLayout(buttons)
        self.layout_.addStretch(1)
        self._loading = False
        self.show_customer(None)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        if self.customer_id is not None:
            self.refresh()

    # -- content -------------------------------------------------------------------------------

    def show_customer(self, customer_id: int | None) -> None:
        if self._save_timer.isActive():
            self.save_notes()
        self.customer_id = customer_id
        self.refresh()

    def refresh(self) -> None:
        summary = None
        if self.customer_id is not None:
            try:
                summary = customer_summary(self.ws, self.customer_id)
            except NotFoundError:
                summary = None
        self.summary = summary
        for layout in (self.flags_box, self.identities, self.figures, self.groups):
            _clear(layout)
        enabled = summary is not None
        for w in (self.notes, self.history_button, self.merge_button):
            w.setEnabled(enabled)
        if summary is None:
            self.title.setText("No customer selected")
            self.subtitle.setText("Select a conversation to see who it is.")
            self._loading = True
            self.notes.setPlainText("")
            self._loading = False
            self.unmerge_button.setEnabled(False)
            self.groups_title.hide()
            return
        self.title.setText(summary["name"] or "Unknown customer")
        bits = [f"Customer #{summary['id']}"]
        if summary.get("key"):
            bits.append(f"key {summary['key']}")
        if summary.get("tier"):
            bits.append(f"value tier {summary['tier']}")
        if summary.get("merged_into"):
            bits.append(f"merged into #{summary['merged_into']}")
        if summary.get("merged_from"):
            names = ", ".join(f"#{m['id']}" for m in summary["merged_from"])
            bits.append(f"merged from {names}")
        self.subtitle.setText(" · ".join(bits))
        self._show_flags(summary["flags"])
        self._show_identities(summary["identities"])
        self._show_figures(summary)
        self._show_groups()
        self._loading = True
        self.notes.setPlainText(summary.get("notes") or "")
        self._loading = False
        self.notes_state.setText("")
        self.unmerge_button.setEnabled(
            bool(summary.get("merged_from") or summary.get("merged_into"))
        )

    def _show_flags(self, flags: list[dict[str, Any]]) -> None:
        for flag in flags:
            kind = FlagKind(flag["kind"])
            color = self.theme.flag_color(kind)
            box = QLabel()
            box.setObjectName("flagBox")
            box.setWordWrap(True)
            box.setTextFormat(Qt.TextFormat.RichText)
            reasons = "".join(f"<li>{html.escape(r)}</li>" for r in flag["reasons"])
            box.setText(
                f"<b style='color:{color.name()}'>{html.escape(FLAG_LABELS[kind])}</b>"
                f" <span style='color:{self.theme.muted}'>score {flag['score']:.2f}</span>"
                f"<ul style='margin:2px 0 0 -24px'>{reasons}</ul>"
            )
            soft = color.name()
            box.setStyleSheet(
                f"#flagBox {{ background: {self.theme.base}; border: 1px solid {soft};"
                f" border-left: 4px solid {soft}; }}"
            )
            self.flags_box.addWidget(box)

    def _show_identities(self, identities: list[dict[str, Any]]) -> None:
        for ident in identities:
            row = QHBoxLayout()
            icon = QLabel()
            icon.setPixmap(self.icons.pixmap(ident["channel"], 18, self.devicePixelRatioF()))
            icon.setFixedWidth(22)
            row.addWidget(icon)
            try:
                channel = CHANNEL_LABELS[Channel(ident["channel"])]
            except ValueError:
                channel = ident["channel"]
            text = QLabel()
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            extra = reach_text(ident.get("followers"))
            name = ident.get("name")
            label = f"<b>{html.escape(str(ident['handle']))}</b>"
            details = [channel]
            if name and name != ident["handle"]:
                details.append(html.escape(str(name)))
            if extra:
                details.append(extra)
            text.setText(
                f"{label} <span style='color:{self.theme.muted}'>{' · '.join(details)}</span>"
            )
            text.setWordWrap(True)
            text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            row.addWidget(text, 1)
            self.identities.addLayout(row)

    def _show_figures(self, s: dict[str, Any]) -> None:
        now = self.clock()
        language = s.get("language")
        rows = [
            ("Conversations", str(s["conversations"])),
            ("Messages", f"{s['inbound']} from them · {s['outbound']} from us"),
            (
                "First contact",
                when(s["first_contact_ts"], now) if s.get("first_contact_ts") else "—",
            ),
            ("Last contact", when(s["last_contact_ts"], now) if s.get("last_contact_ts") else "—"),
            ("Language", language_name(language) if language else "not detected"),
            ("Reach", reach_text(s.get("reach")) or "—"),
        ]
        channels = s.get("accounts") or []
        if channels:
            rows.append(
                (
                    "Where",
                    ", ".join(
                        f"{CHANNEL_LABELS.get(Channel(a['channel']), a['channel'])} ({a['conversations']})"
                        for a in channels[:5]
                    ),
                )
            )
        for i, (label, value) in enumerate(rows):
            key = QLabel(label)
            key.setObjectName("muted")
            val = QLabel(value)
            val.setWordWrap(True)
            if label in ("First contact", "Last contact"):
                ts = s.get("first_contact_ts" if label == "First contact" else "last_contact_ts")
                if ts:
                    val.setToolTip(full(ts))
            self.figures.addWidget(key, i, 0, Qt.AlignmentFlag.AlignTop)
            self.figures.addWidget(val, i, 1)
        self.figures.setColumnStretch(1, 1)

    def _show_groups(self) -> None:
        groups = customer_groups(self.ws, self.customer_id) if self.customer_id else []
        self.groups_title.setVisible(bool(groups))
        for group in groups[:6]:
            full = str(group.get("sample") or "")
            sample = full if len(full) < 70 else full[:69] + "…"
            button = QPushButton(f"{group['size']}×  “{sample}”")
            button.setToolTip(
                f"“{html.escape(full)}”<br>Open every post of this group, to answer each of them"
            )
            button.setStyleSheet("text-align: left;")
            # A button never wraps its text: left to its own width, a long sample made the whole
            # card wider than the panel and cut every flag reason off at the right edge.
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            button.clicked.connect(
                lambda _=False, gid=int(group["id"]): self.group_requested.emit(gid)
            )
            self.groups.addWidget(button)

    # -- notes and actions ---------------------------------------------------------------------

    def _notes_edited(self) -> None:
        if self._loading or self.customer_id is None:
            return
        self.notes_state.setText("Editing…")
        self._save_timer.start()

    def save_notes(self) -> None:
        self._save_timer.stop()
        if self.customer_id is None:
            return
        set_notes(self.ws, self.customer_id, self.notes.toPlainText())
        self.notes_state.setText("Saved")

    def _merge(self) -> None:
        if self.customer_id is not None:
            self.merge_requested.emit(self.customer_id)

    def _unmerge(self) -> None:
        if self.customer_id is not None:
            self.unmerge_requested.emit(self.customer_id)

    def _history(self) -> None:
        if self.customer_id is not None:
            self.history_requested.emit(self.customer_id)
