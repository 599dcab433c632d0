"""The background query thread: results come back on the GUI thread, and closing never waits on a
long query."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from PySide6.QtTest import QTest

from console.storage.db import Workspace
from widgets.dbworker import DbWorker

pytestmark = pytest.mark.gui

ENDLESS = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 4000000000)"
    " SELECT count(*) FROM n"
)


def test_a_result_arrives_on_the_gui_thread(workspace: Workspace, qapp: Any) -> None:
    worker = DbWorker(workspace.path)
    got: list[tuple[int, bool]] = []

    def job(ws: Workspace) -> int:
        return int(ws.scalar("SELECT 6 * 7"))

    worker.submit(
        job, lambda v: got.append((v, threading.current_thread() is threading.main_thread()))
    )
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        QTest.qWait(10)
    worker.shutdown()
    assert got == [(42, True)]


def test_shutdown_interrupts_a_running_query(workspace: Workspace, qapp: Any) -> None:
    worker = DbWorker(workspace.path)
    started = threading.Event()
    failures: list[BaseException] = []
    delivered: list[object] = []

    def job(ws: Workspace) -> int:
        started.set()
        return int(ws.scalar(ENDLESS))

    worker.submit(job, delivered.append, failures.append)
    assert started.wait(5)
    time.sleep(0.05)  # inside the statement
    t0 = time.monotonic()
    worker.shutdown()
    elapsed = time.monotonic() - t0
    QTest.qWait(20)
    assert elapsed < 2.0, f"closing waited {elapsed:.1f} s for the query"
    assert delivered == [] and failures == []  # nothing is delivered after shutdown
    assert not worker.submit(job, delivered.append)
