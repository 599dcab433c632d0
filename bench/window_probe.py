"""One measured run of the real main window over a workspace (run by ``bench/run_all.py``).

The window is the app's own start (``console.app._run_window``: the window with the outbox worker,
the channel sync and the hidden supervisor panel, as ``agent-console --db PATH`` runs it). Prints
one JSON object: seconds from process start (``BENCH_T0`` in the environment, set by the parent
just before it spawned this process) to the first painted inbox page; how long the supervisor's
first snapshot took in the background; then, once it is there, the time to fetch and paint the
next inbox page while scrolling and to open a customer's whole history and paint it; and the peak
resident memory of the process with the window open (the supervisor's snapshot included).

Run it by hand with ``python bench/window_probe.py --db WS.sqlite [--customer ID]``.
"""

from __future__ import annotations

import os
import sys
import time

T0 = float(os.environ.get("BENCH_T0", time.time()))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QEvent, QModelIndex, QObject  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


class PaintWatch(QObject):
    """Notes the time of the next paint of a widget that shows something."""

    def __init__(self, target: QObject, ready: object) -> None:
        super().__init__()
        self.at: float | None = None
        self.ready = ready
        target.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and self.at is None and self.ready():  # type: ignore[operator]
            self.at = time.time()
        return False

    def reset(self) -> None:
        self.at = None


async def pump_until(app: QApplication, done: object, timeout: float = 60.0) -> None:
    """Let the app's event loop (qasync: Qt's) run until ``done()``; paints happen meanwhile."""
    deadline = time.time() + timeout
    while not done():  # type: ignore[operator]
        await asyncio.sleep(0.001)
        if time.time() > deadline:
            raise TimeoutError("nothing was painted")


async def measure(app: QApplication, window: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure, on a window that was just shown (its first paint not yet done)."""
    window.resize(1600, 960)
    inbox_view = window.inbox.view.viewport()
    first = PaintWatch(inbox_view, lambda: window.inbox_model.rowCount() > 0)
    await pump_until(app, lambda: first.at is not None)
    start_to_inbox = first.at - T0  # type: ignore[operator]

    out: dict[str, Any] = {
        "start_to_first_inbox_paint_s": round(start_to_inbox, 4),
        "inbox_rows_loaded": window.inbox_model.rowCount(),
    }

    # The supervisor panel (built hidden, as in the app) computes its first snapshot in the
    # background: its memory belongs to the window's, and the figures below are those of the
    # window once started (not competing with that first snapshot for the interpreter).
    dock = getattr(window, "supervisor", None)
    if dock is not None and hasattr(dock, "snapshot"):
        started = time.time()
        await pump_until(app, lambda: getattr(dock, "snapshot", None) is not None, timeout=120)
        out["supervisor_first_snapshot_s"] = round(time.time() - started, 3)

    # scrolling: the next page fetched (keyset query + rows) and painted
    model = window.inbox_model
    scroll_times = []
    for _ in range(5):
        if not model.canFetchMore(QModelIndex()):
            break
        watch = PaintWatch(inbox_view, lambda: True)
        before = model.rowCount()
        started = time.time()
        model.fetchMore(QModelIndex())
        window.inbox.view.scrollToBottom()
        inbox_view.update()
        await pump_until(app, lambda w=watch: w.at is not None)
        assert model.rowCount() > before
        scroll_times.append(watch.at - started)  # type: ignore[operator]
    if scroll_times:
        scroll_times.sort()
        out["next_page_fetch_paint_ms_median"] = round(
            1000 * scroll_times[len(scroll_times) // 2], 3
        )
        out["next_page_fetch_paint_ms_max"] = round(1000 * max(scroll_times), 3)

    if args.customer is not None:
        history_view = window.conversation.history_view.viewport()
        watch = PaintWatch(history_view, lambda: window.conversation.history_model.rowCount() > 0)
        started = time.time()
        window.conversation.show_customer_history(args.customer)
        await pump_until(app, lambda: watch.at is not None)
        out["open_customer_history_ms"] = round(1000 * (watch.at - started), 3)  # type: ignore[operator]
        out["history_rows_loaded"] = window.conversation.history_model.rowCount()
        out["history_has_earlier"] = int(window.conversation.history_model.has_earlier)

    # peak resident memory (Linux reports kilobytes)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--customer", type=int, help="a customer with a long history")
    args = parser.parse_args()
    import tempfile

    # The window's own settings (layout, filters) in a fresh folder: every run starts the same.
    tmp = tempfile.mkdtemp()
    os.environ["XDG_CONFIG_HOME"] = tmp
    app = QApplication(["agent-console"])
    import qasync

    from console.app import _run_window
    from console.storage.db import Workspace

    # The app's own start: the window with the outbox worker and the channel sync beside it,
    # exactly what ``agent-console --db PATH`` runs.
    ws = Workspace(args.db, create=False)
    out: dict[str, Any] = {}

    tasks: list[asyncio.Future[None]] = []

    def started(running: Any) -> None:
        async def probe() -> None:
            try:
                out.update(await measure(app, running.window, args))
            finally:
                running.window.close()

        tasks.append(asyncio.ensure_future(probe()))

    qasync.run(_run_window(app, ws, started=started))
    ws.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
