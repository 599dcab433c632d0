"""The composer under the conversation: write (or pick a template), check, send.

Keyboard first:

- type ``/refu`` at the start of a word: a picker pops up with the matching templates (shortcut
  first, then names); ↑ ↓ choose, Enter or Tab insert the variant rendered for this customer,
  channel and language, Esc closes. Ctrl+T opens the picker at the cursor.
- Ctrl+Enter sends, Ctrl+Shift+Enter sends and resolves, Ctrl+M switches public reply / private
  message where the channel has both, Ctrl+Shift+D copies the reply to every duplicate.

What it shows: who the reply goes to (customer, channel, language), the signature that will be
appended (``^CP``), a live counter by the channel's rule ("212/280", "2 SMS segments (GSM-7)"),
amber near the limit and red over it, and a line of notes: the template fell back to another
language, the messaging window (Messenger, WhatsApp 24 hours), already answered, over the limit.
Sending something the channel would refuse (over the limit, window closed) needs a second
Ctrl+Enter. Drafts are kept per conversation (saved 700 ms after typing stops, restored by
:meth:`Composer.set_conversation`).

"Copy to all N duplicates" appears when the answered post is in a duplicate or same-issue group; it
opens :class:`~widgets.duplicates_dialog.DuplicatesPreviewDialog`. A template inserted and left
unedited is rendered again for each target (their name, language and channel); edited text is
copied as written.

Signals:
    queued(list[QueuedReply]): replies were written to the outbox
    resolve_requested(list[int]): "send and resolve": the window should resolve these conversations
    templates_requested(): the agent asked for the template manager

Every query here is an indexed read of a few rows (see :class:`services.replies.ReplyPlanner`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.errors import ConsoleError, TemplateError
from console.limits import LengthReport
from console.storage import drafts, templates_repo
from console.storage.agents import Agent
from console.templates import Template, apply_signature, language_name, matching, render
from services.replies import (
    CAUTION,
    INFO,
    STOP,
    ComposeContext,
    GroupChoice,
    ReplyPlanner,
    ReplyWarning,
    assess,
)
from widgets.duplicates_dialog import DuplicatesPreviewDialog
from widgets.templates_dialog import TemplateListModel
from widgets.theme import LIGHT, Theme

AgentSource = Agent | Callable[[], Agent]
DRAFT_DELAY_MS = 700
_TOKEN = re.compile(r"(?:^|(?<=\s))/([\w-]*)$")
NEAR_LIMIT = 0.9
MIN_LINES, MAX_LINES = 3, 10

_STYLE = """
#composer { background: $base; border-top: 1px solid $border; }
#composerTo { color: $muted; }
#composerTo[empty="true"] { color: $muted; font-style: italic; }
#composerEditor { border: 1px solid $border; border-radius: 8px; padding: 6px 8px; font-size: 10.5pt; }
#composerEditor:focus { border: 1px solid $accent; }
#composerSignature { color: $muted; background: $panel; border: 1px solid $border;
    border-radius: 9px; padding: 1px 8px; }
#composerCounter { color: $muted; padding: 0 4px; }
#composerCounter[state="near"] { color: $warning; font-weight: 600; }
#composerCounter[state="over"] { color: $danger; font-weight: 700; }
#composerNote { border-radius: 6px; padding: 4px 8px; }
#composerNote[level="info"] { color: $muted; background: $panel; border: 1px solid $border; }
#composerNote[level="caution"] { color: $text; background: $warning_soft; border: 1px solid $warning; }
#composerNote[level="stop"] { color: $text; background: $danger_soft; border: 1px solid $danger; }
#modeSwitch QToolButton { border-radius: 0; padding: 3px 10px; }
#modeSwitch QToolButton:first-child { border-top-left-radius: 6px; border-bottom-left-radius: 6px; }
#modeSwitch QToolButton:last-child { border-top-right-radius: 6px; border-bottom-right-radius: 6px; }
#modeSwitch QToolButton:checked { background: $accent; color: $accent_text; border-color: $accent; }
#sendButton { background: $accent; color: $accent_text; border: 1px solid $accent;
    font-weight: 600; padding: 5px 14px; }
#sendButton:disabled { background: $panel; color: $muted; border-color: $border; }
#sendButton[state="over"] { background: $danger; border-color: $danger; }
#duplicatesButton { color: $accent_strong; border: 1px solid $accent; background: $accent_soft; }
#templatePopup { background: $base; border: 1px solid $border; border-radius: 8px; }
#templatePopup QListView { background: $base; border: none; padding: 4px; }
#templatePopup QListView::item { padding: 5px 8px; border-radius: 5px; }
#templatePopup QListView::item:selected { background: $selection; color: $selection_text; }
#templatePopupHint { color: $muted; padding: 2px 8px 4px 8px; font-size: 8.5pt; }
"""


def composer_stylesheet(theme: Theme) -> str:
    from string import Template as Subst

    values = {f: getattr(theme, f) for f in theme.__dataclass_fields__}
    return Subst(_STYLE).safe_substitute(values)


def _repolish(widget: QWidget) -> None:
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class TemplatePopup(QFrame):
    """The template picker: an overlay list (no window of its own, so the editor keeps focus)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("templatePopup")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.model = TemplateListModel(self)
        self.view = QListView(self)
        self.view.setModel(self.model)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.view.setUniformItemSizes(True)
        self.view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        hint = QLabel("↑ ↓ choose · Enter or Tab insert · Esc close")
        hint.setObjectName("templatePopupHint")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(0)
        layout.addWidget(self.view)
        layout.addWidget(hint)
        self.hide()

    def set_templates(self, templates: list[Template], language: str | None = None) -> None:
        self.model.set_templates(templates, language)
        if templates:
            self.view.setCurrentIndex(self.model.index(0, 0))

    def move(self, delta: int) -> None:  # type: ignore[override]
        rows = self.model.rowCount()
        if not rows:
            return
        row = (self.view.currentIndex().row() + delta) % rows
        self.view.setCurrentIndex(self.model.index(row, 0))

    def current(self) -> Template | None:
        return self.model.template_at(self.view.currentIndex().row())

    def place(self, anchor: QRect) -> None:
        """Show above ``anchor`` (parent coordinates) when there is room, else below it."""
        rows = min(self.model.rowCount(), 8)
        row_h = max(self.view.sizeHintForRow(0), 22) if rows else 22
        height = rows * row_h + 40
        width = 420
        parent = self.parentWidget()
        assert parent is not None
        x = max(0, min(anchor.left(), parent.width() - width))
        y = anchor.top() - height - 4
        if y < 0:
            y = min(anchor.bottom() + 4, max(0, parent.height() - height))
        self.setGeometry(x, y, width, height)
        self.raise_()
        self.show()


class Composer(QWidget):
    """The reply editor (see the module docstring)."""

    queued = Signal(list)
    resolve_requested = Signal(list)
    templates_requested = Signal()

    def __init__(
        self,
        planner: ReplyPlanner,
        agent: AgentSource,
        *,
        theme: Theme = LIGHT,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.planner = planner
        self.ws = planner.ws
        self._agent_source = agent
        self.theme = theme
        self.ctx: ComposeContext | None = None
        self.mode: str | None = None
        self.report: LengthReport | None = None
        self.warnings: list[ReplyWarning] = []
        self._templates: list[Template] = []
        self._inserted: tuple[Template, str] | None = None
        self._variant_note = ""
        self._error = ""
        self._confirm = False
        self._restoring = False
        self._dialog: DuplicatesPreviewDialog | None = None
        self.setObjectName("composer")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._build()
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_DELAY_MS)
        self._draft_timer.timeout.connect(self.save_draft)
        self.set_theme(theme)
        self.reload_templates()
        self.set_conversation(None, None)

    # -- building --------------------------------------------------------------------------------

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(12, 8, 12, 10)
        root.setSpacing(6)

        top = QHBoxLayout()
        top.setSpacing(8)
        self.to_label = QLabel()
        self.to_label.setObjectName("composerTo")
        top.addWidget(self.to_label, 1)
        self.mode_box = QWidget()
        self.mode_box.setObjectName("modeSwitch")
        mode_layout = QHBoxLayout(self.mode_box)
        mode_layout.setContentsMargins(0, 0, 0, 0)
        mode_layout.setSpacing(0)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        for mode, label in (("public", "Public reply"), ("private", "Private message")):
            button = QToolButton()
            button.setText(label)
            button.setCheckable(True)
            button.setToolTip(f"{label} (Ctrl+M switches)")
            button.clicked.connect(lambda _=False, m=mode: self.set_mode(m))
            self.mode_group.addButton(button)
            self.mode_buttons[mode] = button
            mode_layout.addWidget(button)
        top.addWidget(self.mode_box)
        root.addLayout(top)

        self.editor = QPlainTextEdit()
        self.editor.setObjectName("composerEditor")
        self.editor.setPlaceholderText("Write a reply…   type / for templates (Ctrl+T)")
        self.editor.setTabChangesFocus(False)
        self.editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.editor.document().documentLayout().documentSizeChanged.connect(self._fit_editor)
        self.editor.installEventFilter(self)
        self.editor.textChanged.connect(self._text_changed)
        self.editor.cursorPositionChanged.connect(self._update_popup)
        root.addWidget(self.editor)

        self.note = QLabel()
        self.note.setObjectName("composerNote")
        self.note.setWordWrap(True)
        self.note.hide()
        root.addWidget(self.note)

        bottom = QHBoxLayout()
        bottom.setSpacing(8)
        self.templates_button = QToolButton()
        self.templates_button.setText("Templates")
        self.templates_button.setToolTip("Insert a template (Ctrl+T, or type / in the text)")
        self.templates_button.clicked.connect(self.open_picker)
        bottom.addWidget(self.templates_button)
        self.duplicates_button = QToolButton()
        self.duplicates_button.setObjectName("duplicatesButton")
        self.duplicates_button.setToolTip(
            "Preview the reply for every post of the group (Ctrl+Shift+D)"
        )
        self.duplicates_button.clicked.connect(lambda: self.copy_to_duplicates())
        self.duplicates_button.hide()
        bottom.addWidget(self.duplicates_button)
        bottom.addStretch(1)
        self.signature_label = QLabel()
        self.signature_label.setObjectName("composerSignature")
        self.signature_label.setToolTip("Appended to every reply (your agent signature)")
        bottom.addWidget(self.signature_label)
        self.counter = QLabel()
        self.counter.setObjectName("composerCounter")
        bottom.addWidget(self.counter)
        self.resolve_button = QPushButton("Send and resolve")
        self.resolve_button.setToolTip("Send and resolve the conversation (Ctrl+Shift+Enter)")
        self.resolve_button.clicked.connect(lambda: self.send(resolve=True))
        bottom.addWidget(self.resolve_button)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setToolTip("Queue the reply (Ctrl+Enter)")
        self.send_button.clicked.connect(lambda: self.send())
        bottom.addWidget(self.send_button)
        root.addLayout(bottom)

        self.popup = TemplatePopup(self)
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for keys, slot in (
            ("Ctrl+Return", lambda: self.send()),
            ("Ctrl+Enter", lambda: self.send()),
            ("Ctrl+Shift+Return", lambda: self.send(resolve=True)),
            ("Ctrl+Shift+Enter", lambda: self.send(resolve=True)),
            ("Ctrl+T", self.open_picker),
            ("Ctrl+M", self.toggle_mode),
            ("Ctrl+Shift+D", lambda: self.copy_to_duplicates()),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(context)
            shortcut.activated.connect(slot)

    # -- public API ------------------------------------------------------------------------------

    def agent(self) -> Agent:
        source = self._agent_source
        return source() if callable(source) else source

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        sheet = composer_stylesheet(theme)
        self.setStyleSheet(sheet)
        self.popup.setStyleSheet(sheet)  # the popup lives on the window, outside the composer
        self._fit_editor()

    def _fit_editor(self, *_: Any) -> None:
        """Grow with the text from 3 to 10 lines (the thread above keeps the rest)."""
        lines = int(self.editor.document().size().height())
        lines = max(MIN_LINES, min(MAX_LINES, lines))
        spacing = self.editor.fontMetrics().lineSpacing()
        margins = self.editor.contentsMargins()
        doc_margin = 2 * self.editor.document().documentMargin()
        extra = margins.top() + margins.bottom() + int(doc_margin) + 14
        height = lines * spacing + extra
        if self.editor.height() != height or self.editor.minimumHeight() != height:
            self.editor.setFixedHeight(height)
            self._relayout()

    def _relayout(self) -> None:
        layout = self.layout()
        if layout is not None:
            layout.invalidate()
        self.updateGeometry()

    def focus_editor(self) -> None:
        self.editor.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def reload_templates(self) -> None:
        templates_repo.install_stock_templates(self.ws, self.planner.clock())
        self._templates = templates_repo.list_templates(self.ws)

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        self.editor.setPlainText(text)
        self.editor.moveCursor(QTextCursor.MoveOperation.End)

    def set_conversation(
        self, conversation_id: int | None, reply_to_message_id: int | None = None
    ) -> None:
        """Answer this conversation (its latest inbound post unless ``reply_to_message_id``)."""
        self.save_draft()
        self.popup.hide()
        self._inserted = None
        self._variant_note = self._error = ""
        self._confirm = False
        self.ctx = None
        if conversation_id is not None:
            try:
                self.ctx = self.planner.context(
                    conversation_id, reply_to_message_id, agent=self.agent()
                )
            except ConsoleError as exc:
                self._error = str(exc)
        ctx = self.ctx
        self._restoring = True
        self.editor.setPlainText(
            (drafts.get_draft(self.ws, ctx.conversation_id) or "") if ctx else ""
        )
        self.editor.moveCursor(QTextCursor.MoveOperation.End)
        self._restoring = False
        self.mode = ctx.default_mode if ctx else None
        enabled = ctx is not None
        for w in (self.editor, self.send_button, self.resolve_button, self.templates_button):
            w.setEnabled(enabled)
        self._show_header()
        self._show_groups()
        self._refresh()

    def refresh_context(self) -> None:
        """Read the conversation again (a new message, a reply sent elsewhere) keeping the text:
        connect it to the bridge's ``messages_changed`` for the shown conversation."""
        ctx = self.ctx
        if ctx is None:
            return
        try:
            self.ctx = self.planner.context(ctx.conversation_id, ctx.message_id, agent=self.agent())
        except ConsoleError as exc:
            self._error = str(exc)
        if self.mode not in self.ctx.modes:
            self.mode = self.ctx.default_mode
        self._show_header()
        self._show_groups()
        self._refresh()

    def answer_duplicates(self, conversation_id: int, message_id: int) -> None:
        """Open on a group post, ready to copy the reply to every duplicate."""
        if self.ctx is None or self.ctx.message_id != message_id:
            self.set_conversation(conversation_id, message_id)
        self.focus_editor()
        if self.text().strip():
            self.copy_to_duplicates()
        elif self.ctx is not None and self.ctx.groups:
            self._error = ""
            self._variant_note = (
                f"Write the reply or pick a template (/), then Ctrl+Shift+D to copy it to all "
                f"{self.ctx.groups[0].size} posts"
            )
            self._refresh()

    def set_mode(self, mode: str) -> None:
        if self.ctx is None or mode not in self.ctx.modes:
            return
        self.mode = mode
        self._confirm = False
        self._show_header()
        self._refresh()

    def toggle_mode(self) -> None:
        if self.ctx is not None and len(self.ctx.modes) > 1:
            modes = self.ctx.modes
            self.set_mode(modes[(modes.index(self.mode or modes[0]) + 1) % len(modes)])

    # -- the header, groups and counter ------------------------------------------------------------

    def _show_header(self) -> None:
        ctx = self.ctx
        if ctx is None:
            self.to_label.setText("No conversation selected")
            self.to_label.setProperty("empty", True)
            self.mode_box.hide()
        else:
            verb = {"public": "Public reply to", "private": "Private message to"}.get(
                self.mode or "", "Reply to"
            )
            if len(ctx.modes) == 1:
                verb = "Reply to"
            parts = [ctx.channel.label, ctx.account]
            if ctx.language:
                parts.append(language_name(ctx.language))
            self.to_label.setText(
                f"{verb} <b>{html.escape(ctx.customer)}</b> · "
                + " · ".join(map(html.escape, parts))
            )
            self.to_label.setProperty("empty", False)
            self.mode_box.setVisible(len(ctx.modes) > 1)
            for mode, button in self.mode_buttons.items():
                button.setVisible(mode in ctx.modes)
                button.setChecked(mode == self.mode)
        _repolish(self.to_label)
        agent = self.agent()
        self.signature_label.setText(f"signed {agent.signature}" if agent.signature else "unsigned")

    def _show_groups(self) -> None:
        groups = self.ctx.groups if self.ctx is not None else ()
        self.duplicates_button.setVisible(bool(groups))
        if not groups:
            return
        self.duplicates_button.setText(groups[0].label())
        popup = QToolButton.ToolButtonPopupMode
        if len(groups) > 1:
            menu = QMenu(self.duplicates_button)
            for group in groups:
                menu.addAction(group.label(), lambda g=group: self.copy_to_duplicates(g))
            self.duplicates_button.setMenu(menu)
            self.duplicates_button.setPopupMode(popup.MenuButtonPopup)
        else:
            self.duplicates_button.setMenu(None)  # type: ignore[arg-type]
            self.duplicates_button.setPopupMode(popup.DelayedPopup)

    def outgoing_text(self) -> str:
        """The text as it will be sent: what is written, signed."""
        if self.ctx is None:
            return self.text()
        return apply_signature(self.text(), self.agent().signature, self.ctx.channel.value)

    def _refresh(self) -> None:
        ctx = self.ctx
        if ctx is None:
            self.report = None
            self.warnings = []
            self.counter.setText("")
            self._show_note()
            return
        rule = ctx.rule(self.mode)
        outgoing = self.outgoing_text()
        self.report = rule.measure(outgoing)
        warnings, _tag = assess(
            rule,
            self.report,
            outgoing if self.text().strip() else "x",
            now=self.planner.clock(),
            last_inbound_at=ctx.last_inbound_at,
            answered=ctx.answered,
            modes=ctx.modes,
        )
        self.warnings = warnings
        report = self.report
        self.counter.setText(report.short())
        self.counter.setToolTip(
            f"{rule.label}: {report.length:,} {report.unit}"
            + (f" of {report.limit:,}" if report.limit else " (no limit)")
            + ("\n" + "\n".join(report.warnings) if report.warnings else "")
        )
        state = "over" if report.is_over else "near" if report.ratio >= NEAR_LIMIT else "ok"
        self.counter.setProperty("state", state)
        self.send_button.setProperty("state", "over" if report.is_over else "ok")
        _repolish(self.counter)
        _repolish(self.send_button)
        self._show_note()

    def _show_note(self) -> None:
        lines: list[tuple[str, str]] = []
        if self._error:
            lines.append((STOP, self._error))
        for w in self.warnings:
            if w.code in ("private", "length_note") and not self.text().strip():
                continue
            lines.append((w.level, w.message))
        if self._variant_note:
            lines.append((INFO, self._variant_note))
        if self._confirm:
            lines.append((STOP, "Press Ctrl+Enter again to queue it anyway"))
        if not lines:
            if self.note.isVisible():
                self.note.hide()
                self._relayout()
            return
        order = {STOP: 0, CAUTION: 1, INFO: 2}
        level = min((lvl for lvl, _ in lines), key=lambda lvl: order.get(lvl, 3))
        self.note.setText(" · ".join(text for _, text in lines))
        self.note.setProperty("level", level)
        _repolish(self.note)
        if not self.note.isVisibleTo(self):
            self.note.show()
        self._relayout()

    def _text_changed(self) -> None:
        if self._restoring:
            return
        self._confirm = False
        self._error = ""
        if self._inserted is not None and self._inserted[1] not in self.text():
            self._inserted = None
            self._variant_note = ""
        if self.ctx is not None:
            self._draft_timer.start()
        self._refresh()

    # -- drafts ----------------------------------------------------------------------------------

    def save_draft(self) -> None:
        self._draft_timer.stop()
        if self.ctx is None or self._restoring:
            return
        drafts.save_draft(self.ws, self.ctx.conversation_id, self.text(), self.planner.clock())

    def hideEvent(self, event: Any) -> None:
        self.save_draft()
        super().hideEvent(event)

    # -- the template picker -----------------------------------------------------------------------

    def _token(self) -> tuple[int, str] | None:
        """(position of the ``/``, query) when the cursor ends a ``/word`` at a word start."""
        cursor = self.editor.textCursor()
        block = cursor.block().text()[: cursor.positionInBlock()]
        found = _TOKEN.search(block)
        if found is None:
            return None
        return cursor.block().position() + found.start(), found.group(1)

    def _update_popup(self) -> None:
        token = self._token() if self.ctx is not None else None
        if token is None:
            self.popup.hide()
            return
        shown = matching(self._templates, token[1])
        if not shown:
            self.popup.hide()
            return
        self.popup.set_templates(shown, self.ctx.language if self.ctx else None)
        self._place_popup()

    def _place_popup(self) -> None:
        host = self.window()
        if self.popup.parentWidget() is not host:
            self.popup.setParent(host)
        rect = self.editor.cursorRect()
        top_left = self.editor.viewport().mapTo(host, rect.topLeft())
        self.popup.place(QRect(top_left, rect.size()))

    def open_picker(self) -> None:
        """Ctrl+T: start a ``/`` at the cursor (after a space if needed) and show every template."""
        if self.ctx is None:
            return
        self.focus_editor()
        cursor = self.editor.textCursor()
        before = cursor.block().text()[: cursor.positionInBlock()]
        if self._token() is None:
            cursor.insertText("/" if not before or before[-1].isspace() else " /")
            self.editor.setTextCursor(cursor)
        self._update_popup()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.editor and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            return self._editor_key(event)
        return super().eventFilter(watched, event)

    def _editor_key(self, event: QKeyEvent) -> bool:
        key = event.key()
        mods = event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        if ctrl and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.popup.hide()
            self.send(resolve=shift)
            return True
        # The same keys as the shortcuts, for when the editor has the focus (an editor may claim
        # Ctrl combinations before shortcuts see them).
        if ctrl and not shift and key == Qt.Key.Key_T:
            self.open_picker()
            return True
        if ctrl and not shift and key == Qt.Key.Key_M:
            self.toggle_mode()
            return True
        if ctrl and shift and key == Qt.Key.Key_D:
            self.copy_to_duplicates()
            return True
        if not self.popup.isVisible():
            return False
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.popup.move(-1 if key == Qt.Key.Key_Up else 1)
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab):
            template = self.popup.current()
            if template is not None:
                self.insert_template(template)
            return True
        if key == Qt.Key.Key_Escape:
            self.popup.hide()
            return True
        return False

    def insert_template(self, template: Template) -> bool:
        """Replace the ``/word`` before the cursor (if any) with ``template`` rendered here."""
        self.popup.hide()
        ctx = self.ctx
        if ctx is None:
            return False
        try:
            rendered = render(
                template,
                ctx.render_context,
                language=ctx.language,
                default_language=self.planner.default_language(),
            )
        except TemplateError as exc:
            self._error = str(exc)
            self._refresh()
            return False
        cursor = self.editor.textCursor()
        token = self._token()
        if token is not None:
            cursor.setPosition(token[0], QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(rendered.text)
        self.editor.setTextCursor(cursor)
        self._inserted = (template, rendered.text)
        self._variant_note = (
            f"{template.name}: {rendered.note}"
            if rendered.note
            else f"{template.name} ({rendered.variant.describe()})"
        )
        self._refresh()
        return True

    # -- sending ---------------------------------------------------------------------------------

    def _unedited_template(self) -> Template | None:
        if self._inserted is not None and self.text().strip() == self._inserted[1].strip():
            return self._inserted[0]
        return None

    def send(self, *, resolve: bool = False) -> list[Any]:
        """Queue the reply to this conversation's post; a second press confirms a risky one."""
        ctx = self.ctx
        if ctx is None or not self.text().strip():
            return []
        blocking = [w for w in self.warnings if w.blocking]
        never = [w for w in blocking if w.code in ("phone", "no_window")]
        if never:
            self._error = never[0].message
            self._refresh()
            return []
        if blocking and not self._confirm:
            self._confirm = True
            self._show_note()
            return []
        agent = self.agent()
        try:
            plan = self.planner.plan(
                ctx.message_id,
                conversation_id=ctx.conversation_id,
                agent=agent,
                text=self.text(),
                mode=self.mode,
            )
            queued = self.planner.queue(
                plan, agent, only=range(len(plan.targets)), force=bool(blocking), source=self
            )
        except ConsoleError as exc:
            self._error = str(exc)
            self._confirm = False
            self._refresh()
            return []
        self._after_queue(queued, [ctx.conversation_id] if resolve else [])
        return queued

    def _after_queue(self, queued: list[Any], resolve: list[int]) -> None:
        ctx = self.ctx
        if ctx is not None:
            drafts.clear_draft(self.ws, ctx.conversation_id)
        self._restoring = True
        self.editor.clear()
        self._restoring = False
        self._inserted = None
        self._confirm = False
        self._error = ""
        n = len(queued)
        self._variant_note = f"Queued {n} repl{'y' if n == 1 else 'ies'}" if n else ""
        if ctx is not None:  # the post is answered now
            try:
                self.ctx = self.planner.context(
                    ctx.conversation_id, ctx.message_id, agent=self.agent()
                )
            except ConsoleError:
                self.ctx = ctx
        self._refresh()
        self.queued.emit(queued)
        if resolve:
            self.resolve_requested.emit(resolve)

    def copy_to_duplicates(
        self, group: GroupChoice | None = None
    ) -> DuplicatesPreviewDialog | None:
        """Open the preview of this reply for every post of the group (the first one by default)."""
        ctx = self.ctx
        if ctx is None or not ctx.groups or ctx.message_id is None:
            return None
        chosen = group or ctx.groups[0]
        if not self.text().strip():
            self._error = "Write the reply (or insert a template) first"
            self._refresh()
            return None
        template = self._unedited_template()
        agent = self.agent()
        try:
            plan = self.planner.plan(
                ctx.message_id,
                agent=agent,
                text=None if template is not None else self.text(),
                template=template,
                group_id=chosen.id,
                mode=self.mode,
            )
        except ConsoleError as exc:
            self._error = str(exc)
            self._refresh()
            return None
        dialog = DuplicatesPreviewDialog(plan, self.planner, agent, parent=self.window())
        dialog.queued.connect(self._dialog_queued)
        dialog.resolve_requested.connect(self.resolve_requested)
        dialog.finished.connect(self._dialog_finished)
        self._dialog = dialog
        dialog.open()
        return dialog

    def _dialog_queued(self, queued: list[Any]) -> None:
        self._after_queue(queued, [])

    def _dialog_finished(self, _result: int) -> None:
        self._dialog = None
        self.focus_editor()
