"""File > Import runs off the GUI thread with progress and cancel, then the inbox shows the data."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtTest import QTest

from console.app import build_window, settings_at
from console.storage.db import Workspace

pytestmark = [pytest.mark.gui, pytest.mark.e2e]
NOW = 1_764_000_000


def jsonl(path: Path, n: int, *, broken_line: int | None = None) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            if broken_line is not None and i == broken_line:
                fh.write("{this is not json\n")
                continue
            fh.write(
                json.dumps(
                    {
                        "channel": "sms",
                        "account": "acme-sms",
                        "id": f"sms-{i}",
                        "direction": "in",
                        "author": f"+35840{i:07d}",
                        "author_name": f"Person {i}",
                        "text": f"Where is my order {i}?",
                        "created_at": "2025-11-24T10:00:00+00:00",
                    }
                )
                + "\n"
            )
    return path


def wait_for(job: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while job.is_running() or (job.result is None and job.error is None):
        QTest.qWait(20)
        assert time.monotonic() < deadline, "the import did not finish"
    QTest.qWait(50)


def test_import_from_the_window(tmp_path: Path, workspace: Workspace, qapp: Any) -> None:
    app = build_window(
        workspace, settings=settings_at(tmp_path / "w.ini"), clock_fn=lambda: NOW, agent="Ana"
    )
    w = app.window
    w.show()
    assert w.inbox_model.rowCount() == 0
    job = w.start_import(jsonl(tmp_path / "sms.jsonl", 40, broken_line=7))
    assert job is not None and w.job_bar.isVisible()
    wait_for(job)
    assert job.result["added"] == 39 and job.result["errors"][0]["line"] == 8
    assert w.inbox_model.rowCount() == 39  # the window reloaded on the import's reset
    assert "1 bad records" in w.statusBar().currentMessage()
    assert not w.job_bar.isVisible()
    w.close()


def test_cancel_keeps_what_was_imported(tmp_path: Path, workspace: Workspace, qapp: Any) -> None:
    app = build_window(
        workspace, settings=settings_at(tmp_path / "w.ini"), clock_fn=lambda: NOW, agent="Ana"
    )
    w = app.window
    w.show()
    job = w.start_import(jsonl(tmp_path / "big.jsonl", 30_000))
    assert job is not None
    QTest.qWait(30)
    w.job_bar.cancel_button.click()
    wait_for(job)
    added = job.result["added"]
    assert job.result["cancelled"] and added < 30_000
    assert workspace.scalar("SELECT count(*) FROM messages") == added
    w.close()
