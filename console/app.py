"""The GUI composition root: builds every object of the running app and wires them together.

Only this module (and ``console/cli.py`` and ``console/commands``) may import ``widgets`` and
``services`` together. :func:`build_window` makes a main window over an open workspace (used by
the app, the ``screenshot`` command and the end-to-end tests); :func:`run_gui` is
``agent-console`` without a command: one asyncio loop, qasync's, on the GUI thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# PySide6 before qasync: qasync picks the Qt binding that is already imported.
from PySide6.QtCore import QEvent, QObject, QSettings, QThread, QTimer, Signal
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QProgressBar, QVBoxLayout, QWidget

from console.changes import EventBus
from console.errors import ConsoleError
from console.storage.agents import Agent, ensure_agent
from console.storage.db import Workspace
from services.conversations import ConversationActions
from services.customers import CustomerActions
from widgets.bridge import QtBridge
from widgets.main_window import MainWindow, Parts
from widgets.theme import theme_named

if TYPE_CHECKING:
    from console.cli import Context

log = logging.getLogger(__name__)

ORGANIZATION = "agent-console"
APPLICATION = "Agent Console"


def clock() -> int:
    return int(time.time())


def settings_at(path: Path | None) -> QSettings:
    """The window's settings: an INI file in the user's config folder (or at ``path``)."""
    if path is not None:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, "window")


@dataclass
class Running:
    """What :func:`build_window` made, for the caller to start and stop."""

    window: MainWindow
    bus: EventBus
    bridge: QtBridge
    ws: Workspace
    tasks: list[Callable[[], Any]] = field(default_factory=list)


def current_agent_name(ws: Workspace) -> str:
    try:
        from console.storage.agents import current_agent
    except ImportError:  # pragma: no cover - agents land with the composer
        return os.environ.get("USER", "agent")
    return current_agent(ws).name


def _import_work(
    path: Path,
) -> Callable[[Workspace, Callable[[int, int | None], None], Callable[[], bool]], Any]:
    """The import job for the File menu: read the file, then triage what it touched."""

    def work(
        ws: Workspace, progress: Callable[[int, int | None], None], cancelled: Callable[[], bool]
    ) -> dict[str, Any]:
        from console.triage.engine import after_import
        from services.importers import run_import

        summary = run_import(ws, path, progress=progress, cancelled=cancelled)
        result: dict[str, Any] = summary.to_json()
        result["cancelled"] = cancelled()
        if summary.added and summary.report is not None:
            report = after_import(
                ws, summary.report, progress=lambda d, t: progress(d, t), cancelled=cancelled
            )
            result["triage"] = report.to_json()
        return result

    return work


def _supervisor_factory(window: MainWindow) -> Any:
    from widgets.supervisor import SupervisorDock

    return SupervisorDock(window.ws, window.bridge, parent=window)


def build_window(
    ws: Workspace,
    *,
    settings: QSettings | None = None,
    clock_fn: Callable[[], int] = clock,
    bus: EventBus | None = None,
    agent: str | None = None,
    with_supervisor: bool = True,
    outbox: Any | None = None,
    channels: Channels | None = None,
) -> Running:
    """The main window over ``ws`` with every part wired (no network tasks started here).

    ``outbox`` (a ``services.outbox.Outbox`` on the same ``bus``) adds its status to the window
    and is woken when the composer queues a reply; without one the window still queues replies,
    which a running ``agent-console send`` sends. ``channels`` lets the accounts dialog test
    accounts with the app's client and rebuild an edited account's adapter.
    """
    from services.replies import ReplyPlanner

    bus = bus or EventBus()
    bridge = QtBridge(bus)
    name = agent or current_agent_name(ws)
    actions = ConversationActions(ws, bus, clock_fn, name)
    customers = CustomerActions(ws, bus, clock_fn, name)
    planner = ReplyPlanner(ws, clock_fn, bus=bus)

    def who() -> Agent:
        """The agent at this window, read afresh (a signature edited meanwhile applies)."""
        return ensure_agent(ws, name)

    def composer(window: MainWindow) -> QWidget:
        from widgets.composer import Composer

        return Composer(planner, who, theme=window.theme, parent=window)

    def templates(window: MainWindow) -> QWidget:
        from widgets.templates_dialog import TemplatesDialog

        signature = who().signature
        dialog = TemplatesDialog(ws, clock_fn, signature=signature, parent=window)
        dialog.finished.connect(lambda *_: _reload_templates(window))
        return dialog

    def accounts(window: MainWindow) -> QWidget:
        from services.secrets import SecretStore
        from widgets.accounts_dialog import AccountsDialog

        client = channels.client if channels is not None and channels.client else _test_client
        from services.conversations import account_removed

        dialog = AccountsDialog(ws, SecretStore(), client, window.tasks, parent=window)
        if channels is not None:
            dialog.saved.connect(channels.account_changed)

        def removed(what: Any) -> None:
            if channels is not None:
                channels.account_removed(what.account.id)
            account_removed(ws, bus, what.customer_ids, clock=clock_fn)

        dialog.removed.connect(removed)
        return dialog

    def calls(window: MainWindow) -> QWidget:
        from console.storage.accounts import list_accounts as all_accounts
        from widgets.call_dialog import CallDialog

        phones = [a.name for a in all_accounts(ws) if a.channel == "phone"]
        dialog = CallDialog(phones, agent=name, parent=window)
        dialog.submitted.connect(lambda values: _log_call(window, bus, values, clock_fn))
        return dialog

    parts = Parts(
        composer=composer,
        supervisor=_supervisor_factory if with_supervisor else None,
        accounts_dialog=accounts,
        call_dialog=calls,
        templates_dialog=templates,
        import_work=_import_work,
    )
    window = MainWindow(
        ws,
        bridge,
        actions,
        customers,
        clock_fn,
        agent=name,
        settings=settings if settings is not None else settings_at(None),
        parts=parts,
    )
    bridge.setParent(window)
    composer_widget = window.composer
    if composer_widget is not None:
        composer_widget.resolve_requested.connect(
            lambda ids: _resolve_all(window, actions, [int(i) for i in ids])
        )
        composer_widget.templates_requested.connect(lambda: window.open_part("templates_dialog"))
        # A reply sent or a customer's new message: the composer re-reads its warnings
        # ("already answered", the messaging window) without touching the text being written.
        bridge.messages_changed.connect(
            lambda change: (
                composer_widget.refresh_context()
                if window.current_conversation() in change.conversation_ids
                else None
            )
        )
    running = Running(window=window, bus=bus, bridge=bridge, ws=ws)
    if outbox is not None:
        attach_outbox(running, outbox, clock_fn)
    return running


def attach_outbox(running: Running, outbox: Any, clock_fn: Callable[[], int] = clock) -> None:
    """Show ``outbox``'s state in the window's status bar and wake it when a reply is queued."""
    from widgets.outbox_view import OutboxButton

    window = running.window
    button = OutboxButton(running.ws, outbox, running.bridge, clock_fn, parent=window)
    window.add_status_widget(button)
    if window.composer is not None:
        window.composer.queued.connect(lambda *_: outbox.notify())


@dataclass
class Channels:
    """The running channel machinery the accounts dialog talks to (``client`` is None until
    the app's HTTP client exists, a moment after the window's first paint)."""

    client: Any
    account_changed: Callable[[int], None]
    account_removed: Callable[[int], None]


def _test_client() -> Any:
    """A client for testing an account when the app runs without its channel machinery."""
    import httpx

    return httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=10.0))


def _reload_templates(window: MainWindow) -> None:
    reload = getattr(window.composer, "reload_templates", None)
    if callable(reload):
        reload()


def _resolve_all(window: MainWindow, actions: ConversationActions, ids: list[int]) -> None:
    """Send and resolve: the reply is queued; now resolve its conversation(s)."""
    for conversation_id in ids:
        try:
            actions.resolve(conversation_id)
        except ConsoleError as exc:  # already resolved, or gone after a merge
            window.statusBar().showMessage(str(exc), 4000)


def _log_call(window: MainWindow, bus: EventBus, values: Any, clock_fn: Callable[[], int]) -> None:
    from services.conversations import log_phone_call

    try:
        logged = log_phone_call(window.ws, bus, values.message(), clock=clock_fn)
    except ConsoleError as exc:
        QMessageBox.warning(window, "Log a phone call", str(exc))
        return
    if not logged.added:
        window.statusBar().showMessage("That call was already logged", 4000)
    elif logged.conversation_id is not None:
        window.open_conversation(logged.conversation_id)
        window.statusBar().showMessage("Call logged in the customer's history", 4000)


# -- the running app ---------------------------------------------------------------------------


class _DemoBuilder(QThread):
    """Builds the demo workspace on first use, off the GUI thread."""

    progressed = Signal(int, int)
    failed = Signal(str)

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def run(self) -> None:
        try:
            from console.demo import ensure_demo

            ensure_demo(self.path, progress=lambda done, total: self.progressed.emit(done, total))
        except Exception as exc:  # reported to the person waiting for the window
            log.exception("building the demo workspace failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}")


def _resolver(future: asyncio.Future[None]) -> Callable[..., None]:
    """A slot that completes ``future`` (once) whatever the signal carries."""

    def resolve(*_: object) -> None:
        if not future.done():
            future.set_result(None)

    return resolve


async def _wait_finished(thread: QThread) -> None:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    thread.finished.connect(_resolver(done))
    thread.start()
    await done


async def _build_demo(path: Path) -> str | None:
    splash = QWidget()
    splash.setWindowTitle("Agent Console — preparing the demo")
    layout = QVBoxLayout(splash)
    label = QLabel("Building the demo workspace: a day of social care on every channel…")
    bar = QProgressBar()
    bar.setRange(0, 0)
    layout.addWidget(label)
    layout.addWidget(bar)
    splash.resize(460, 110)
    splash.show()
    builder = _DemoBuilder(path)
    errors: list[str] = []
    builder.failed.connect(errors.append)

    def show(done: int, total: int) -> None:
        bar.setRange(0, max(1, total))
        bar.setValue(min(done, total))

    builder.progressed.connect(show)
    await _wait_finished(builder)
    splash.close()
    return errors[0] if errors else None


async def _show_error(title: str, text: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, title, text)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    box.finished.connect(_resolver(done))
    box.open()
    await done


async def _main(app: QApplication, ctx: Context) -> int:
    if ctx.demo and not ctx.db_path.exists():
        problem = await _build_demo(ctx.db_path)
        if problem is not None:
            await _show_error("Agent Console", f"The demo workspace could not be built:\n{problem}")
            return 2
    try:
        ws = Workspace(ctx.db_path)
    except ConsoleError as exc:
        await _show_error("Agent Console", str(exc))
        return 2
    try:
        await _run_window(app, ws)
    finally:
        ws.close()
    return 0


#: How long after the window shows its start-up objects are frozen out of the collector.
FREEZE_AFTER_MS = 1500


def settle_memory() -> None:
    """Load what the first actions need, collect what the start left behind, then freeze the
    survivors (``gc.freeze``).

    The triage engine is not imported before the first painted page (0.1 s of the start); it is
    imported here, after the start, so that the first Take or Resolve does not wait for it.
    """
    import gc

    import console.triage.engine  # noqa: F401

    gc.collect()
    gc.freeze()


async def _run_window(
    app: QApplication, ws: Workspace, *, started: Callable[[Running], None] | None = None
) -> None:
    """The window with the outbox worker and the channel sync running beside it, until the
    window closes. ``started(running)`` is called once the window shows (for tests).

    The window shows first: the HTTP client, the channel adapters, the outbox and the sync
    (httpx and every adapter module, 0.1-0.2 s of imports) start once its first page is painted.
    A reply queued meanwhile waits in the durable outbox, which sends it when it starts.
    """
    bus = EventBus()

    def account_changed(account_id: int) -> None:
        if machinery:
            pool, outbox, sync = machinery
            pool.forget(account_id)
            outbox.resume_account(account_id)
            sync.start_account(account_id)

    def account_gone(account_id: int) -> None:
        if machinery:
            pool, _outbox, sync = machinery
            pool.forget(account_id)
            sync.stop_account(account_id)

    machinery: list[Any] = []
    channels = Channels(None, account_changed, account_gone)
    running = build_window(ws, bus=bus, channels=channels)
    window = running.window
    quit_event = asyncio.Event()
    app.aboutToQuit.connect(quit_event.set)
    window.closed.connect(quit_event.set)
    painted = asyncio.Event()
    watch = _FirstPaint(window.inbox.view.viewport(), painted.set)
    window.show()
    # Once started, what the start made (modules, widgets, caches: a few hundred thousand
    # objects) lives as long as the window; frozen out of the collector, an occasional full
    # collection no longer scans them all (on 1M messages one took 36 ms in the middle of
    # scrolling; after the freeze the same page paints in 9 ms).
    QTimer.singleShot(FREEZE_AFTER_MS, settle_memory)
    if started is not None:
        started(running)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(painted.wait(), FIRST_PAINT_WAIT_S)
    watch.stop()
    if quit_event.is_set():
        return

    import httpx

    from services.channels.pool import AdapterPool
    from services.outbox import Outbox
    from services.sync import SyncService

    # One client for the whole app; every request has a timeout (the adapters set their own too).
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as client:
        pool = AdapterPool(ws, client)
        try:
            await pool.preload()
        except ConsoleError as exc:  # e.g. no keyring: real accounts wait, sandboxes work
            log.warning("channel credentials are not available: %s", exc)
        outbox = Outbox(ws, pool, time.time, bus)
        sync = SyncService(ws, pool, bus, time.time)
        channels.client = client
        machinery.extend((pool, outbox, sync))
        attach_outbox(running, outbox)
        window.tasks.spawn(outbox.run(), "sending replies")
        window.tasks.spawn(sync.run(), "fetching messages")
        try:
            await quit_event.wait()
        finally:
            outbox.close()
            await sync.stop()
            window.tasks.cancel_all()
            await pool.aclose()


#: The longest the channel machinery waits for the window's first paint before it starts.
FIRST_PAINT_WAIT_S = 2.0


class _FirstPaint(QObject):
    """Calls ``then()`` at the first paint of ``target`` (an event filter, removed by stop)."""

    def __init__(self, target: QObject, then: Callable[[], None]) -> None:
        super().__init__()
        self.target = target
        self.then = then
        target.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.then()
        return False

    def stop(self) -> None:
        self.target.removeEventFilter(self)


def run_gui(ctx: Context) -> int:
    """``agent-console`` without a command: the main window on the workspace (or the demo)."""
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setDesktopFileName("agent-console")
    theme_named(str(settings_at(None).value("theme", "light"))).apply(app)
    import qasync

    return int(qasync.run(_main(app, ctx)))
