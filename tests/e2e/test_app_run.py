"""The running app: window, outbox worker and sync together on the one qasync loop."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

import console.app as app_module
from console.app import Running, _run_window
from console.storage.db import Workspace
from console.storage.outbox_repo import enqueue_reply, list_outbox
from tests.helpers.aio import until
from tests.helpers.scenario import build_inbox, conversation_of

pytestmark = [pytest.mark.gui, pytest.mark.e2e]
NOW = 1_764_000_000


def test_a_queued_reply_leaves_through_the_sandbox_while_the_window_runs(
    tmp_path: Path, qapp: Any, arun: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(app_module, "FREEZE_AFTER_MS", 10)
    gc.unfreeze()
    ws = Workspace(tmp_path / "ws.sqlite")
    build_inbox(ws, NOW)
    conv = conversation_of(ws, "m-1")
    enqueue_reply(ws, conversation_id=conv, text="Moi Dan! Tilauksesi on matkalla. ^AS", now=NOW)
    seen: list[Running] = []
    # Closing the last window would quit the application, and with it the suite's one loop.
    qapp.setQuitOnLastWindowClosed(False)

    async def scenario() -> None:
        task = __import__("asyncio").ensure_future(_run_window(qapp, ws, started=seen.append))
        await until(lambda: bool(seen), timeout=10)
        window = seen[0].window
        await until(lambda: list_outbox(ws)[0]["state"] == "sent", timeout=15)
        button = next(
            b
            for b in window.statusBar().findChildren(type(window.job_bar.cancel_button))
            if b.objectName() == "outboxButton"
        )
        await until(lambda: "All replies sent" in button.text(), timeout=5)
        # the thread says plainly that a sandbox account sends nothing
        window.open_conversation(conv)
        # the start-up objects were frozen out of the collector once the window showed
        await until(lambda: gc.get_freeze_count() > 0, timeout=5)
        out = next(r for r in window.conversation.thread_model.messages if r.direction == "out")
        chips = [label for label, _ in window.conversation.thread_view.delegate._chips(out)]
        assert "Sandbox: recorded, not sent" in chips
        window.close()
        await task

    try:
        arun(scenario(), timeout=40)
    finally:
        qapp.setQuitOnLastWindowClosed(True)
        gc.unfreeze()  # the rest of the suite collects as usual
    item = list_outbox(ws)[0]
    assert item["remote_id"].startswith("sandbox:")
    ws.close()


FIRST_PAINT_PROBE = """
import asyncio, json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication
import qasync
from console.app import _run_window
from console.storage.db import Workspace

app = QApplication(["agent-console"])
ws = Workspace(sys.argv[1])
seen = {}

class Watch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "paint" not in seen:
            seen["paint"] = {m: m in sys.modules for m in ("httpx", "services.outbox")}
        return False

def started(running):
    window = running.window
    watch = Watch(window)
    window.inbox.view.viewport().installEventFilter(watch)

    async def later():
        for _ in range(500):
            await asyncio.sleep(0.01)
            names = [b.objectName() for b in window.statusBar().findChildren(QObject)]
            if "outboxButton" in names:
                break
        seen["outbox_button"] = "outboxButton" in names
        seen["after"] = {m: m in sys.modules for m in ("httpx", "services.outbox")}
        window.close()

    asyncio.ensure_future(later())

qasync.run(_run_window(app, ws, started=started))
print(json.dumps(seen))
"""


def test_the_window_paints_its_inbox_before_the_channel_machinery_loads(tmp_path: Path) -> None:
    """httpx, the adapters and the outbox load after the first paint (a faster start), and the
    outbox then shows in the status bar as before."""
    import json
    import subprocess
    import sys

    path = tmp_path / "ws.sqlite"
    ws = Workspace(path)
    build_inbox(ws, NOW)
    ws.close()
    env = {**__import__("os").environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", FIRST_PAINT_PROBE, str(path)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen.get("paint") == {"httpx": False, "services.outbox": False}
    assert seen["outbox_button"] is True
    assert seen["after"] == {"httpx": True, "services.outbox": True}
