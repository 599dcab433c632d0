"""Long work off the GUI thread: imports, triage rebuilds, building the demo workspace.

A :class:`Job` runs ``work(workspace, progress, cancelled)`` on its own thread with its own
connection to the workspace file (SQLite's per-thread rule; WAL lets the window keep reading).
``progress(done, total)`` may be called as often as the work likes: the window hears about it at
most ten times a second. ``cancel()`` makes ``cancelled()`` true; work checks it between batches, so
what was already committed stays and the rest is skipped. :class:`JobBar` is the status-bar widget
that shows a running job with a progress bar and a Cancel button.

Signals of Job:
    progressed(int, object): done, total (None when unknown)
    succeeded(object): the work's return value
    failed(str): a readable error
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from console.errors import ConsoleError
from console.storage.db import Workspace

log = logging.getLogger(__name__)

Work = Callable[[Workspace, Callable[[int, int | None], None], Callable[[], bool]], Any]


class _Runner(QThread):
    progressed = Signal(int, object)
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(
        self, path: Path, work: Work, *, create: bool, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.path = path
        self.work = work
        self.create = create
        self.cancel_event = threading.Event()
        self._last = 0.0

    def _progress(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last >= 0.1 or (total is not None and done >= total):
            self._last = now
            self.progressed.emit(int(done), total)

    def run(self) -> None:
        try:
            with Workspace(self.path, create=self.create) as ws:
                result = self.work(ws, self._progress, self.cancel_event.is_set)
        except ConsoleError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            log.exception("background job failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(result)


class Job(QObject):
    progressed = Signal(int, object)
    succeeded = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(
        self,
        label: str,
        path: Path,
        work: Work,
        *,
        create: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.label = label
        self.result: Any = None
        self.error: str | None = None
        self._runner = _Runner(path, work, create=create, parent=self)
        self._runner.progressed.connect(self.progressed, Qt.ConnectionType.QueuedConnection)
        self._runner.succeeded.connect(self._succeeded, Qt.ConnectionType.QueuedConnection)
        self._runner.failed.connect(self._failed, Qt.ConnectionType.QueuedConnection)
        self._runner.finished.connect(self.finished, Qt.ConnectionType.QueuedConnection)

    def _succeeded(self, result: Any) -> None:
        self.result = result
        self.succeeded.emit(result)

    def _failed(self, message: str) -> None:
        self.error = message
        self.failed.emit(message)

    def start(self) -> None:
        self._runner.start()

    def cancel(self) -> None:
        self._runner.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self._runner.cancel_event.is_set()

    def is_running(self) -> bool:
        return self._runner.isRunning()

    def wait(self, ms: int = 30_000) -> bool:
        return bool(self._runner.wait(ms))


class JobBar(QWidget):
    """A running job in the status bar: its label, a progress bar and Cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(180)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("jobCancel")
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.job: Job | None = None
        self.cancel_button.clicked.connect(self._cancel)
        self.hide()

    def track(self, job: Job) -> None:
        self.job = job
        self.label.setText(job.label)
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.show()
        job.progressed.connect(self._progress)
        job.finished.connect(self._done)

    def _progress(self, done: int, total: int | None) -> None:
        if total:
            self.bar.setRange(0, max(1, int(total)))
            self.bar.setValue(min(int(done), int(total)))
            self.bar.setFormat(f"{done:,} / {total:,}")
        else:
            self.bar.setRange(0, 0)
            self.bar.setFormat(f"{done:,}")

    def _cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.label.setText(self.job.label + " — cancelling…")
            self.cancel_button.setEnabled(False)

    def _done(self) -> None:
        self.job = None
        self.hide()
