"""The seam between the Qt-free core and the widgets.

:class:`QtBridge` subscribes once to the core's :class:`~console.changes.EventBus` and re-emits each
change set as a Qt signal, so views get Qt's automatic disconnection when they die.

:class:`TaskOwner` starts asyncio work for a widget: it keeps strong references to its tasks (qasync
0.28's ``asyncSlot`` does not), reports failures to an error sink and the log, and cancels what it
owns when the widget closes. Connect signals to plain slots that call ``owner.spawn(coro)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from console.changes import (
    Change,
    CustomersChanged,
    EventBus,
    InboxChanged,
    MessagesChanged,
    OutboxChanged,
    WorkspaceReset,
)

log = logging.getLogger(__name__)


class QtBridge(QObject):
    """Qt signals for the core's change sets.

    Signals:
        inbox_changed(InboxChanged)
        messages_changed(MessagesChanged)
        customers_changed(CustomersChanged)
        outbox_changed(OutboxChanged)
        workspace_reset(WorkspaceReset)
        changed(Change): every change, whatever its kind
    """

    inbox_changed = Signal(object)
    messages_changed = Signal(object)
    customers_changed = Signal(object)
    outbox_changed = Signal(object)
    workspace_reset = Signal(object)
    changed = Signal(object)

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bus = bus
        self._unsubscribe = bus.subscribe(Change, self._dispatch)

    def _dispatch(self, change: Change) -> None:
        if isinstance(change, InboxChanged):
            self.inbox_changed.emit(change)
        elif isinstance(change, MessagesChanged):
            self.messages_changed.emit(change)
        elif isinstance(change, CustomersChanged):
            self.customers_changed.emit(change)
        elif isinstance(change, OutboxChanged):
            self.outbox_changed.emit(change)
        elif isinstance(change, WorkspaceReset):
            self.workspace_reset.emit(change)
        self.changed.emit(change)

    def detach(self) -> None:
        self._unsubscribe()


ErrorSink = Callable[[str, BaseException], None]


class TaskOwner(QObject):
    """Owns the asyncio tasks a widget starts; cancels them with :meth:`cancel_all`.

    Signals:
        failed(str, object): a task named ``str`` raised the exception ``object``
    """

    failed = Signal(str, object)

    def __init__(self, parent: QObject | None = None, on_error: ErrorSink | None = None) -> None:
        super().__init__(parent)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "task") -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error("%s failed: %s", task.get_name(), exc, exc_info=exc)
        self.failed.emit(task.get_name(), exc)
        if self._on_error is not None:
            self._on_error(task.get_name(), exc)

    @property
    def running(self) -> int:
        return len(self._tasks)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
