"""A background thread with its own workspace connection, for queries the GUI must not wait on.

``DbWorker.submit(fn, on_done)`` runs ``fn(workspace)`` on the worker thread (one connection,
opened there: SQLite's per-thread rule) and delivers ``on_done(result)`` on the GUI thread through a
queued signal. WAL mode lets it read while the GUI thread writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal

from console.storage.db import Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")


class DbWorker(QObject):
    """Runs workspace calls on one background thread with its own connection.

    ``submit(fn, on_done)`` calls ``fn(workspace)`` on the worker thread and ``on_done(result)``
    back on the GUI thread; a failure goes to ``on_error`` (default: the log). After
    :meth:`shutdown` nothing more is delivered.
    """

    _finished = Signal(object, object, object)

    def __init__(self, path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self._ws: Workspace | None = None
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="db-worker"
        )
        # Queued even when a call finishes before submit() returns (the future then runs its
        # callback on the submitting thread): results always arrive from the event loop.
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def _run(self, fn: Callable[[Workspace], T]) -> T:
        if self._ws is None:
            self._ws = Workspace(self.path, create=False)
        return fn(self._ws)

    def submit(
        self,
        fn: Callable[[Workspace], T],
        on_done: Callable[[T], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> bool:
        if self._executor is None:
            return False
        future = self._executor.submit(self._run, fn)
        # Runs on the worker thread: the queued signal brings the result to the GUI thread.
        future.add_done_callback(lambda f: self._finished.emit(f, on_done, on_error))
        return True

    def _deliver(self, future: Future[Any], on_done: Callable[[Any], None], on_error: Any) -> None:
        if self._executor is None or future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            on_done(future.result())
        elif on_error is not None:
            on_error(exc)
        else:
            log.error("background query failed: %s", exc, exc_info=exc)

    def _close_ws(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def shutdown(self) -> None:
        """Stop: a query still running is interrupted (its results would go nowhere, and a
        window must not take seconds to close while a snapshot of 1M messages finishes)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            ws = self._ws
            if ws is not None:
                ws.conn.interrupt()  # thread-safe; harmless when nothing runs
            executor.submit(self._close_ws)
            executor.shutdown(wait=True, cancel_futures=False)
