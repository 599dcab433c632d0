"""The GUI composition root: builds every object of the running app and wires them together.

Only this module (and ``console/cli.py`` and ``console/commands``) may import ``widgets`` and
``services`` together. :func:`build_window` makes a main window over an open workspace (used by
the app, the ``screenshot`` command and the end-to-end tests); :func:`run_gui` is
``agent-console`` without a command: one asyncio loop, qasync's, on the GUI thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# PySide6 before qasync: qasync picks the Qt binding that is already imported.
from PySide6.QtCore import QSettings, QThread, Signal
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QProgressBar, QVBoxLayout, QWidget

from console.changes import EventBus
from console.errors import ConsoleError
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
) -> Running:
    """The main window over ``ws`` with every part wired (no network tasks started here).

    ``outbox`` (a ``services.outbox.Outbox`` on the same ``bus``) adds its status to the window;
    without one the window still queues replies, which a running ``agent-console send`` sends.
    """
    bus = bus or EventBus()
    bridge = QtBridge(bus)
    name = agent or current_agent_name(ws)
    actions = ConversationActions(ws, bus, clock_fn, name)
    customers = CustomerActions(ws, bus, clock_fn, name)
    parts = Parts(
        supervisor=_supervisor_factory if with_supervisor else None,
        import_work=_import_work,
    )
    if outbox is not None:
        from widgets.outbox_view import OutboxButton

        parts.status_widgets.append(
            lambda window: OutboxButton(ws, outbox, bridge, clock_fn, parent=window)
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
    return Running(window=window, bus=bus, bridge=bridge, ws=ws)


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


async def _run_window(
    app: QApplication, ws: Workspace, *, started: Callable[[Running], None] | None = None
) -> None:
    """The window with the outbox worker and the channel sync running beside it, until the
    window closes. ``started(running)`` is called once the window shows (for tests)."""
    import httpx

    from services.channels.pool import AdapterPool
    from services.outbox import Outbox
    from services.sync import SyncService

    bus = EventBus()
    # One client for the whole app; every request has a timeout (the adapters set their own too).
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as client:
        pool = AdapterPool(ws, client)
        try:
            await pool.preload()
        except ConsoleError as exc:  # e.g. no keyring: real accounts wait, sandboxes work
            log.warning("channel credentials are not available: %s", exc)
        outbox = Outbox(ws, pool, time.time, bus)
        sync = SyncService(ws, pool, bus, time.time)
        running = build_window(ws, bus=bus, outbox=outbox)
        window = running.window
        window.tasks.spawn(outbox.run(), "sending replies")
        window.tasks.spawn(sync.run(), "fetching messages")
        quit_event = asyncio.Event()
        app.aboutToQuit.connect(quit_event.set)
        window.closed.connect(quit_event.set)
        window.show()
        if started is not None:
            started(running)
        try:
            await quit_event.wait()
        finally:
            outbox.close()
            await sync.stop()
            window.tasks.cancel_all()
            await pool.aclose()


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
