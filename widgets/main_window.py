"""The agent's main window: inbox | conversation and history | customer card, keyboard first.

:class:`MainWindow` is built by the composition root (``console/app.py``) from objects it is
handed -- the workspace, the Qt bridge, the action services, the clock, the agent's name -- and
optional parts (the composer, the supervisor dock, the accounts dialog) through small factories,
so tests can build it with exactly what they need. It holds no global state.

Keyboard (also on the ``?`` sheet): J/K or arrows move, Enter opens, ``/`` searches, E resolves,
Shift+E reopens, S snoozes, A takes, Shift+A assigns, N notes, T tags, H switches to the whole
history, G opens the selected post's duplicate group, R replies, Ctrl+1/2/3 focus the panes.
Single keys never fire while typing: text fields take them first (Qt's shortcut override).

Persisted between runs (``QSettings``): window geometry and state, splitter sizes, the inbox
filter and sort, the theme, and whether the supervisor panel is open.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStatusBar,
    QWidget,
)

from console.changes import WorkspaceReset
from console.domain import CHANNEL_LABELS, Channel, Status
from console.errors import ConsoleError
from console.inbox_filter import InboxFilter
from console.storage.conversations import all_tags, conversation_header
from console.storage.customers import customer_summary, find_customers
from console.storage.db import Workspace
from console.storage.inbox import InboxRow
from console.storage.metrics import agent_names, list_accounts
from console.triage.settings import load_settings, save_settings
from console.triage.views import group_posts
from services.conversations import ConversationActions
from services.customers import CustomerActions
from widgets.bridge import QtBridge, TaskOwner
from widgets.conversation_panel import ConversationPanel
from widgets.customer_card import CustomerCard
from widgets.dbworker import DbWorker
from widgets.dialogs import (
    AssignDialog,
    GroupPostsDialog,
    MergeDialog,
    MessageDialog,
    NoteDialog,
    ShortcutsDialog,
    SnoozeDialog,
    TagsDialog,
)
from widgets.icons import IconCache
from widgets.inbox_model import InboxModel
from widgets.inbox_panel import Choices, InboxPanel
from widgets.jobs import Job, JobBar
from widgets.theme import Theme, theme_named
from widgets.thread_model import MessageRow
from widgets.timefmt import full
from widgets.triage_settings_dialog import TriageSettingsDialog

log = logging.getLogger(__name__)

Clock = Callable[[], int]

IMPORT_FILTER = "Exports (*.csv *.mbox *.mbx *.eml *.jsonl *.ndjson);;All files (*)"


@dataclass
class Parts:
    """Optional parts the composition root plugs in (each a factory taking the window)."""

    composer: Callable[[MainWindow], QWidget] | None = None
    supervisor: Callable[[MainWindow], QDockWidget] | None = None
    accounts_dialog: Callable[[MainWindow], QWidget] | None = None
    call_dialog: Callable[[MainWindow], QWidget] | None = None
    templates_dialog: Callable[[MainWindow], QWidget] | None = None
    status_widgets: list[Callable[[MainWindow], QWidget]] = field(default_factory=list)
    import_work: Callable[[Path], Any] | None = None


class MainWindow(QMainWindow):
    """See the module docstring. Signals: ``conversation_shown(int | None)``, ``closed()``."""

    conversation_shown = Signal(object)
    closed = Signal()

    def __init__(
        self,
        ws: Workspace,
        bridge: QtBridge,
        actions: ConversationActions,
        customers: CustomerActions,
        clock: Clock,
        *,
        agent: str,
        settings: QSettings | None = None,
        parts: Parts | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ws = ws
        self.bridge = bridge
        self.conv_actions = actions
        self.customer_actions = customers
        self.clock = clock
        self.agent = agent
        self.settings = settings or QSettings()
        self.parts = parts or Parts()
        self.tasks = TaskOwner(self, on_error=self._task_failed)
        self.icons = IconCache()
        self.theme: Theme = theme_named(str(self.settings.value("theme", "light")))
        self.worker = DbWorker(ws.path, self)
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"Agent Console — {ws.path.stem}")
        self.setWindowIcon(self.icons.icon("app"))
        self._jobs: list[Job] = []
        self._shown_conversation: int | None = None

        self.inbox_model = InboxModel(ws, bridge, clock, parent=self)
        self.inbox = InboxPanel(
            self.inbox_model, self.worker, self.theme, self.icons, clock, self._choices, self
        )
        self.conversation = ConversationPanel(ws, bridge, self.theme, self.icons, clock, self)
        self.card = CustomerCard(ws, self.theme, self.icons, clock, self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.inbox)
        self.splitter.addWidget(self.conversation)
        self.splitter.addWidget(self.card)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.inbox.setMinimumWidth(400)
        self.card.setMinimumWidth(230)
        self.splitter.setSizes([430, 800, 330])
        self.setCentralWidget(self.splitter)

        self.composer: QWidget | None = None
        if self.parts.composer is not None:
            self.composer = self.parts.composer(self)
            self.conversation.set_composer(self.composer)
        self.supervisor: QDockWidget | None = None
        if self.parts.supervisor is not None:
            self.supervisor = self.parts.supervisor(self)
            self.supervisor.setObjectName("supervisorDock")
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.supervisor)
            self.supervisor.hide()
            filter_requested = getattr(self.supervisor, "filter_requested", None)
            if filter_requested is not None:
                filter_requested.connect(self.show_filter)

        self._build_status_bar()
        self._build_actions()
        self._build_menus()
        self._connect()
        self._restore()
        self._snooze_timer = QTimer(self, interval=30_000)
        self._snooze_timer.timeout.connect(self._wake_snoozed)
        self._snooze_timer.start()
        self.apply_theme(self.theme)

    # -- building ------------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = QStatusBar()
        self.setStatusBar(bar)
        self.agent_label = QLabel(f"Signed in as {self.agent}")
        self.workspace_label = QLabel(str(self.ws.path.name))
        self.workspace_label.setToolTip(str(self.ws.path))
        self.job_bar = JobBar()
        bar.addPermanentWidget(self.job_bar)
        for factory in self.parts.status_widgets:
            bar.addPermanentWidget(factory(self))
        bar.addPermanentWidget(self.agent_label)
        bar.addPermanentWidget(self.workspace_label)

    def add_status_widget(self, widget: QWidget) -> None:
        """A permanent status-bar widget added after the start, before the agent's name."""
        bar = self.statusBar()
        for label in (self.agent_label, self.workspace_label):
            bar.removeWidget(label)
        bar.addPermanentWidget(widget)
        for label in (self.agent_label, self.workspace_label):
            bar.addPermanentWidget(label)
            label.show()

    def _act(
        self,
        name: str,
        text: str,
        keys: str | list[str] | None,
        slot: Callable[[], Any],
        *,
        tip: str = "",
    ) -> QAction:
        act = QAction(text, self)
        act.setObjectName(name)
        if keys:
            sequences = [QKeySequence(k) for k in ([keys] if isinstance(keys, str) else keys)]
            act.setShortcuts(sequences)
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.triggered.connect(lambda _=False: slot())
        if tip:
            act.setStatusTip(tip)
        self.addAction(act)
        self.acts[name] = act
        return act

    def _build_actions(self) -> None:
        self.acts: dict[str, QAction] = {}
        a = self._act
        a("search", "Search", ["/", "Ctrl+F"], self.inbox.focus_search)
        a("focus_inbox", "Focus the inbox", "Ctrl+1", self.focus_inbox)
        a("focus_conversation", "Focus the conversation", "Ctrl+2", self.focus_conversation)
        a("focus_card", "Focus the customer card", "Ctrl+3", self.card.setFocus)
        a("resolve", "Resolve", "E", lambda: self.run_action("resolve"))
        a("reopen", "Reopen", "Shift+E", lambda: self.run_action("reopen"))
        a("snooze", "Snooze…", "S", lambda: self.run_action("snooze"))
        a(
            "pending",
            "Mark pending (waiting on the customer)",
            "P",
            lambda: self.run_action("pending"),
        )
        a("take", "Assign to me", "A", lambda: self.run_action("take"))
        a("assign", "Assign to…", "Shift+A", lambda: self.run_action("assign"))
        a("note", "Add an internal note…", "N", lambda: self.run_action("note"))
        a("tags", "Tags…", "T", lambda: self.run_action("tags"))
        a("history", "Whole history / conversation", "H", self.conversation.toggle_view)
        a("group", "Duplicate posts of the selected message", "G", self.open_selected_group)
        a("reply", "Reply", "R", self.focus_composer)
        a("merge", "Merge customer…", "Ctrl+Shift+M", self.open_merge)
        a("import", "Import a file…", "Ctrl+I", self.open_import)
        a("shortcuts", "Keyboard shortcuts", ["?", "Shift+?", "F1"], self.show_shortcuts)
        a("theme", "Dark theme", "Ctrl+Shift+L", self.toggle_theme)
        self.acts["theme"].setCheckable(True)
        a("supervisor", "Supervisor panel", "Ctrl+Shift+S", self.toggle_supervisor)
        self.acts["supervisor"].setCheckable(True)
        self.acts["supervisor"].setEnabled(self.supervisor is not None)
        a("reload", "Reload the inbox", "F5", self.inbox_model.reload)
        a("triage_rules", "Triage rules…", None, self.open_triage_settings)
        a("rebuild", "Rebuild triage", None, self.start_rebuild)
        a("quit", "Quit", "Ctrl+Q", self.close)
        if self.parts.accounts_dialog is not None:
            a("accounts", "Channel accounts…", None, lambda: self.open_part("accounts_dialog"))
        if self.parts.call_dialog is not None:
            a("log_call", "Log a phone call…", "Ctrl+L", lambda: self.open_part("call_dialog"))
        if self.parts.templates_dialog is not None:
            a("templates", "Reply templates…", None, lambda: self.open_part("templates_dialog"))

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for name in ("import", "log_call", "accounts", "templates", "quit"):
            if name in self.acts:
                if name == "quit":
                    file_menu.addSeparator()
                file_menu.addAction(self.acts[name])
        conv = bar.addMenu("&Conversation")
        for name in (
            "reply",
            "take",
            "assign",
            "snooze",
            "pending",
            "note",
            "tags",
            "resolve",
            "reopen",
        ):
            conv.addAction(self.acts[name])
        conv.addSeparator()
        conv.addAction(self.acts["group"])
        conv.addAction(self.acts["merge"])
        view = bar.addMenu("&View")
        for name in (
            "search",
            "history",
            "focus_inbox",
            "focus_conversation",
            "focus_card",
            "reload",
        ):
            view.addAction(self.acts[name])
        view.addSeparator()
        view.addAction(self.acts["supervisor"])
        view.addAction(self.acts["theme"])
        tools = bar.addMenu("&Tools")
        tools.addAction(self.acts["triage_rules"])
        tools.addAction(self.acts["rebuild"])
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.acts["shortcuts"])

    def _connect(self) -> None:
        self.inbox.current_changed.connect(self._selected)
        self.inbox.activated.connect(lambda _row: self.focus_conversation())
        self.inbox.filter_changed.connect(self._save_filter)
        self.conversation.action_requested.connect(self.run_action)
        self.conversation.message_activated.connect(self._message_activated)
        self.card.merge_requested.connect(lambda _cid: self.open_merge())
        self.card.unmerge_requested.connect(self.unmerge)
        self.card.group_requested.connect(self.open_group)
        self.card.history_requested.connect(self.conversation.show_customer_history)
        self.bridge.inbox_changed.connect(self._inbox_changed)
        self.bridge.customers_changed.connect(self._customers_changed)
        self.bridge.workspace_reset.connect(lambda *_: self._reshow())
        self.setTabOrder(self.inbox.search, self.inbox.view)
        self.setTabOrder(self.inbox.view, self.conversation.thread_view)
        if self.composer is not None:
            self.setTabOrder(self.conversation.thread_view, self.composer)
        # Selecting a customer's post in this conversation's thread makes it the post answered.
        self.conversation.thread_view.selectionModel().currentChanged.connect(
            self._message_selected
        )

    # -- theme and persistence -----------------------------------------------------------------

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app)
        self.inbox.set_theme(theme)
        self.conversation.set_theme(theme)
        self.card.set_theme(theme)
        self.acts["theme"].setChecked(theme.is_dark)
        set_theme = getattr(self.composer, "set_theme", None)
        if callable(set_theme):
            set_theme(theme)

    def toggle_theme(self) -> None:
        self.apply_theme(theme_named("light" if self.theme.is_dark else "dark"))
        self.settings.setValue("theme", self.theme.name)

    def _restore(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 880)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        sizes = s.value("window/splitter")
        if isinstance(sizes, QByteArray):
            self.splitter.restoreState(sizes)
        raw = s.value("inbox/filter")
        # First start: the most urgent conversations first (breaches, escalations, reach).
        f = InboxFilter(sort="priority")
        if isinstance(raw, str) and raw:
            try:
                f = InboxFilter.from_json(json.loads(raw))
            except ValueError:
                f = InboxFilter(sort="priority")
        # A supervisor drill-down is for the moment; the next start shows the normal inbox.
        f = f.with_(conversation_ids=(), title="")
        self.inbox.set_filter(f)
        if self.supervisor is not None and s.value("window/supervisor", "false") in (True, "true"):
            self.supervisor.show()
        if self.supervisor is not None:
            self.acts["supervisor"].setChecked(self.supervisor.isVisible())
        QTimer.singleShot(0, self._select_first)

    def save_state(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        s.setValue("window/supervisor", bool(self.supervisor and self.supervisor.isVisible()))
        s.setValue("theme", self.theme.name)
        self._save_filter(self.inbox.filter)
        s.sync()

    def _save_filter(self, f: InboxFilter) -> None:
        self.settings.setValue(
            "inbox/filter", json.dumps(f.with_(conversation_ids=(), title="").to_json())
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        self._snooze_timer.stop()
        self.inbox_model.stop()
        self.save_state()
        if self.card._save_timer.isActive():
            self.card.save_notes()
        for job in list(self._jobs):
            job.cancel()
            job.wait(10_000)
        self.tasks.cancel_all()
        self.worker.shutdown()
        shutdown = getattr(self.supervisor, "shutdown", None)
        if callable(shutdown):
            shutdown()
        super().closeEvent(event)
        self.closed.emit()

    # -- selection -----------------------------------------------------------------------------

    def _select_first(self) -> None:
        if self.inbox.current_row() is None and self.inbox_model.rowCount():
            self.inbox.select_row(0)
        self.inbox.view.setFocus()

    def _selected(self, row: InboxRow | None) -> None:
        self.show_conversation(
            row.id if row is not None else None, customer_id=row.customer_id if row else None
        )

    def show_conversation(
        self, conversation_id: int | None, *, customer_id: int | None = None
    ) -> None:
        self._shown_conversation = conversation_id
        self.conversation.show_conversation(conversation_id)
        customer = self.conversation.customer_id if conversation_id is not None else customer_id
        self.card.show_customer(customer)
        set_conversation = getattr(self.composer, "set_conversation", None)
        if callable(set_conversation):
            set_conversation(conversation_id, None)
        self.conversation_shown.emit(conversation_id)

    def current_conversation(self) -> int | None:
        return self._shown_conversation

    def open_conversation(self, conversation_id: int) -> None:
        """Show a conversation, selecting it in the inbox when the inbox lists it."""
        if not self.inbox.select_conversation(conversation_id):
            # not in the inbox as filtered: show it, and let no other row look selected
            self.inbox.view.selectionModel().clearSelection()
            self.show_conversation(conversation_id)

    def show_filter(self, f: InboxFilter) -> None:
        self.inbox.set_filter(f, keep_selection=False)
        self.inbox.select_row(0)
        self.focus_inbox()

    def _message_selected(self, *_: Any) -> None:
        """A customer's post selected in the thread: the composer answers that post."""
        message = self.conversation.selected_message()
        set_conversation = getattr(self.composer, "set_conversation", None)
        if message is None or message.direction != "in" or not callable(set_conversation):
            return
        set_conversation(message.conversation_id, message.id)

    def _inbox_changed(self, change: Any) -> None:
        conv = self._shown_conversation
        if conv is not None and conv in change.conversation_ids:
            try:
                self.conversation.header_row = conversation_header(self.ws, conv)
            except ConsoleError:
                return
            self.conversation.refresh_header()

    def _customers_changed(self, change: Any) -> None:
        if self.card.customer_id in change.customer_ids:
            self.card.refresh()

    def _reshow(self) -> None:
        if self._shown_conversation is not None:
            self.show_conversation(self._shown_conversation)

    def focus_inbox(self) -> None:
        self.inbox.view.setFocus()

    def focus_conversation(self) -> None:
        self.conversation.current_view().setFocus()

    def focus_composer(self) -> None:
        focus = getattr(self.composer, "focus_editor", None)
        if callable(focus):
            focus()

    # -- actions -------------------------------------------------------------------------------

    def _choices(self) -> Choices:
        accounts = [(a.id, a.name, a.channel) for a in list_accounts(self.ws)]
        return Choices(accounts=accounts, agents=agent_names(self.ws), me=self.agent)

    def run_action(self, action: str) -> None:
        conv = self._shown_conversation
        if conv is None:
            self.statusBar().showMessage("Select a conversation first", 3000)
            return
        try:
            if action == "resolve":
                self.conv_actions.resolve(conv)
                self.statusBar().showMessage("Resolved", 2500)
            elif action == "reopen":
                self.conv_actions.reopen(conv)
            elif action == "pending":
                self.conv_actions.set_status(conv, Status.PENDING)
            elif action == "take":
                self.conv_actions.take(conv)
            elif action == "assign":
                self._open_assign(conv)
            elif action == "snooze":
                self._open_snooze(conv)
            elif action == "note":
                note = NoteDialog(self)
                note.chosen.connect(
                    lambda text, c=conv: self._guard(lambda: self.conv_actions.add_note(c, text))
                )
                note.open()
            elif action == "tags":
                header = conversation_header(self.ws, conv)
                tags_dialog = TagsDialog(header["tags"], all_tags(self.ws), self)
                tags_dialog.chosen.connect(
                    lambda tags, c=conv: self._guard(lambda: self.conv_actions.set_tags(c, tags))
                )
                tags_dialog.open()
        except ConsoleError as exc:
            self.statusBar().showMessage(str(exc), 4000)

    def _guard(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except ConsoleError as exc:
            self.statusBar().showMessage(str(exc), 4000)

    def _open_assign(self, conv: int) -> None:
        header = conversation_header(self.ws, conv)
        agents = sorted(set(agent_names(self.ws)) | {self.agent})
        dialog = AssignDialog(agents, self.agent, header.get("assignee"), self)
        dialog.chosen.connect(
            lambda name, c=conv: self._guard(lambda: self.conv_actions.assign(c, name or None))
        )
        dialog.open()

    def _open_snooze(self, conv: int) -> None:
        dialog = SnoozeDialog(self.clock(), self)
        dialog.chosen.connect(
            lambda at, label, c=conv: self._guard(
                lambda: self.conv_actions.snooze(c, at, label=label)
            )
        )
        dialog.open()

    def _wake_snoozed(self) -> None:
        try:
            self.conv_actions.wake_snoozed()
        except ConsoleError as exc:
            log.warning("waking snoozed conversations failed: %s", exc)

    # -- customers and groups ------------------------------------------------------------------

    def open_merge(self) -> None:
        customer = self.card.customer_id
        if customer is None:
            return
        summary = customer_summary(self.ws, customer)
        dialog = MergeDialog(
            str(summary["name"] or "this customer"),
            customer,
            lambda text: find_customers(self.ws, text),
            self,
        )
        dialog.chosen.connect(lambda source, target=customer: self.merge(target, source))
        dialog.open()

    def merge(self, target: int, source: int) -> None:
        try:
            self.customer_actions.merge(target, source)
        except ConsoleError as exc:
            QMessageBox.warning(self, "Merge", str(exc))
            return
        self.statusBar().showMessage(f"Merged customer #{source} into #{target}", 4000)
        self.card.show_customer(target)

    def unmerge(self, customer_id: int) -> None:
        try:
            result = self.customer_actions.unmerge(customer_id)
        except ConsoleError as exc:
            self.statusBar().showMessage(str(exc), 4000)
            return
        self.statusBar().showMessage(
            f"Un-merged: customer #{result['restored']} is separate again", 4000
        )
        self.card.refresh()

    def open_selected_group(self) -> None:
        message = self.conversation.selected_message()
        if message is None or message.dup_group is None:
            self.statusBar().showMessage("Select a duplicate post in the thread first", 3000)
            return
        self.open_group(message.dup_group)

    def open_group(self, group_id: int) -> None:
        try:
            posts = group_posts(self.ws, group_id)
        except ConsoleError as exc:
            self.statusBar().showMessage(str(exc), 4000)
            return
        names = {}
        for cid in {int(p["customer_id"]) for p in posts if p.get("customer_id")}:
            try:
                names[cid] = str(customer_summary(self.ws, cid)["name"])
            except ConsoleError:
                continue
        sample = " ".join(str(posts[0]["text"]).split())[:90] if posts else ""
        dialog = GroupPostsDialog(f"“{sample}”", posts, names, self.clock(), self)
        dialog.open_requested.connect(self.open_conversation)
        dialog.reply_requested.connect(self.reply_to_group)
        dialog.open()

    def reply_to_group(self, message_id: int) -> None:
        """Open the composer on a group post, ready to copy the reply to every duplicate."""
        conv = self.ws.scalar("SELECT conversation_id FROM messages WHERE id = ?", (message_id,))
        if conv is None:
            return
        self.open_conversation(int(conv))
        duplicates = getattr(self.composer, "answer_duplicates", None)
        if callable(duplicates):
            duplicates(int(conv), message_id)

    def _message_activated(self, row: MessageRow) -> None:
        """Enter on a message: in the whole history, go to its conversation; else read it all."""
        if self.conversation.view == "history" and row.conversation_id != self._shown_conversation:
            self.open_conversation(row.conversation_id)
            self.conversation.show_view("thread")
            index = self.conversation.thread_model.row_of(row.id)
            if index is not None:
                view = self.conversation.thread_view
                view.setCurrentIndex(view.model().index(index, 0))
                view.scrollTo(view.currentIndex())
            self.focus_conversation()
            return
        self.open_message(row)

    def open_message(self, row: MessageRow) -> None:
        try:
            channel = CHANNEL_LABELS[Channel(row.channel)]
        except ValueError:
            channel = row.channel
        meta = (
            f"{row.author_name or row.author} · {channel} · {row.account} · {full(row.created_at)}"
        )
        if row.delivery:
            meta += f" · {row.delivery}"
            if row.error:
                meta += f": {row.error}"
        dialog = MessageDialog(row.subject or f"Message {row.ref}", meta, row.text, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    # -- other windows -------------------------------------------------------------------------

    def open_part(self, name: str) -> QWidget | None:
        """Open one of the plugged-in dialogs (accounts, templates, log a call)."""
        factory = getattr(self.parts, name)
        if factory is None:
            return None
        dialog = factory(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def toggle_supervisor(self) -> None:
        if self.supervisor is None:
            return
        self.supervisor.setVisible(not self.supervisor.isVisible())
        self.acts["supervisor"].setChecked(self.supervisor.isVisible())
        if self.supervisor.isVisible() and self.supervisor.width() < 400:
            # wide enough for the queue table's six columns
            self.resizeDocks([self.supervisor], [440], Qt.Orientation.Horizontal)

    def show_shortcuts(self) -> None:
        def keys(name: str) -> str:
            return "  ".join(
                s.toString(QKeySequence.SequenceFormat.NativeText)
                for s in self.acts[name].shortcuts()
            )

        groups = [
            (
                "Move",
                [
                    ("J  K  ↑  ↓", "Next / previous conversation"),
                    ("Enter", "Open the conversation"),
                    (keys("search"), "Search"),
                    (keys("focus_inbox"), "Focus the inbox"),
                    (keys("focus_conversation"), "Focus the conversation"),
                    (keys("focus_card"), "Focus the customer card"),
                    (keys("history"), "Whole history ⇄ this conversation"),
                    ("Tab", "Inbox → thread → composer"),
                ],
            ),
            (
                "Act",
                [
                    (keys("reply"), "Reply (focus the composer)"),
                    ("Ctrl+Enter", "Send the reply"),
                    ("Ctrl+Shift+Enter", "Send and resolve"),
                    (keys("resolve"), "Resolve"),
                    (keys("reopen"), "Reopen"),
                    (keys("snooze"), "Snooze…"),
                    (keys("pending"), "Mark pending"),
                    (keys("take"), "Assign to me"),
                    (keys("assign"), "Assign to…"),
                    (keys("note"), "Internal note…"),
                    (keys("tags"), "Tags…"),
                    (keys("group"), "Duplicate posts of a message"),
                    (keys("merge"), "Merge customers…"),
                ],
            ),
            (
                "Window",
                [
                    (keys("import"), "Import a file…"),
                    (keys("supervisor"), "Supervisor panel"),
                    (keys("theme"), "Light / dark theme"),
                    (keys("shortcuts"), "This sheet"),
                ],
            ),
        ]
        if "log_call" in self.acts:
            groups[2][1].insert(1, (keys("log_call"), "Log a phone call…"))
        dialog = ShortcutsDialog(groups, self)
        dialog.open()

    # -- imports -------------------------------------------------------------------------------

    def open_import(self) -> None:
        dialog = QFileDialog(self, "Import an export file", str(Path.home()), IMPORT_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: self.start_import(Path(path)))
        dialog.open()

    def start_import(self, path: Path) -> Job | None:
        if self.parts.import_work is None:
            self.statusBar().showMessage("Importing is not available in this window", 4000)
            return None
        return self._start_job(
            f"Importing {path.name}",
            self.parts.import_work(path),
            lambda result, p=path: self._import_done(p, result),
            lambda message, p=path: self._import_failed(p, message),
        )

    def _start_job(
        self,
        label: str,
        work: Any,
        done: Callable[[Any], None],
        failed: Callable[[str], None],
    ) -> Job | None:
        """Run ``work`` off the GUI thread (one job at a time), with progress and Cancel."""
        if any(job.is_running() for job in self._jobs):
            self.statusBar().showMessage("Another background job is still running", 4000)
            return None
        job = Job(label, self.ws.path, work, parent=self)
        job.succeeded.connect(done)
        job.failed.connect(failed)
        job.finished.connect(lambda j=job: self._jobs.remove(j) if j in self._jobs else None)
        self._jobs.append(job)
        self.job_bar.track(job)
        job.start()
        return job

    def open_triage_settings(self) -> None:
        dialog = TriageSettingsDialog(load_settings(self.ws), self)
        dialog.saved.connect(self._save_triage_settings)
        dialog.open()

    def _save_triage_settings(self, changes: dict[str, Any]) -> None:
        try:
            if changes:
                save_settings(self.ws, changes)
        except ConsoleError as exc:
            QMessageBox.warning(self, "Triage rules", str(exc))
            return
        self.start_rebuild()

    def start_rebuild(self) -> Job | None:
        def work(ws: Workspace, progress: Any, cancelled: Any) -> dict[str, Any]:
            from console.triage.engine import rebuild

            report = rebuild(ws, progress=progress, cancelled=cancelled, clock=self.clock)
            result: dict[str, Any] = report.to_json()
            return result

        def done(result: Any) -> None:
            self.bridge.bus.publish(WorkspaceReset(reason="triage rebuild"))
            flagged = result.get("flagged", {}) if isinstance(result, dict) else {}
            summary = ", ".join(f"{n} {kind}" for kind, n in sorted(flagged.items()))
            state = "cancelled" if result.get("cancelled") else "done"
            self.statusBar().showMessage(f"Triage rebuild {state}: {summary or 'no flags'}", 8000)

        return self._start_job(
            "Rebuilding triage",
            work,
            done,
            lambda message: QMessageBox.warning(self, "Triage rebuild failed", message),
        )

    def _import_done(self, path: Path, result: Any) -> None:
        self.bridge.bus.publish(WorkspaceReset(reason="import"))
        summary = result if isinstance(result, dict) else {}
        added = summary.get("added", 0)
        errors = summary.get("errors", [])
        text = f"Imported {path.name}: {added:,} new messages"
        if summary.get("skipped"):
            text += f", {summary['skipped']:,} already there"
        if summary.get("cancelled"):
            text += " (cancelled; what was imported stays)"
        if errors:
            text += f", {len(errors)} bad records"
            lines = "\n".join(f"line {e['line']}: {e['message']}" for e in errors[:30])
            more = f"\n… and {len(errors) - 30} more" if len(errors) > 30 else ""
            box = QMessageBox(QMessageBox.Icon.Warning, "Import", text, parent=self)
            box.setDetailedText(lines + more)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
        self.statusBar().showMessage(text, 8000)

    def _import_failed(self, path: Path, message: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Critical, "Import failed", f"{path.name}: {message}", parent=self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _task_failed(self, name: str, exc: BaseException) -> None:
        self.statusBar().showMessage(f"{name} failed: {exc}", 6000)
