"""One measured run of the real main window over a workspace (run by ``bench/bench_window.py``).

Prints one JSON object: seconds from process start (``BENCH_T0`` in the environment, set by the
parent just before it spawned this process) to the first painted inbox page; the time to open a
customer's whole history and paint it; the time to fetch and paint the next inbox page while
scrolling; and the peak resident memory of the process with the window open.

Run it by hand with ``python bench/window_probe.py --db WS.sqlite [--customer ID]``.
"""

from __future__ import annotations

import os
import sys
import time

T0 = float(os.environ.get("BENCH_T0", time.time()))

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
from pathlib import Path  # noqa: E402

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


def pump_until(app: QApplication, done: object, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not done():  # type: ignore[operator]
        app.processEvents()
        if time.time() > deadline:
            raise TimeoutError("nothing was painted")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--customer", type=int, help="a customer with a long history")
    args = parser.parse_args()
    app = QApplication(["agent-console"])
    import tempfile

    from console.app import build_window, settings_at
    from console.storage.db import Workspace

    tmp = tempfile.mkdtemp()
    ws = Workspace(args.db, create=False)
    running = build_window(ws, settings=settings_at(Path(tmp) / "w.ini"), with_supervisor=False)
    window = running.window
    window.resize(1600, 960)
    inbox_view = window.inbox.view.viewport()
    first = PaintWatch(inbox_view, lambda: window.inbox_model.rowCount() > 0)
    window.show()
    pump_until(app, lambda: first.at is not None)
    start_to_inbox = first.at - T0  # type: ignore[operator]

    out: dict[str, float | int | None] = {
        "start_to_first_inbox_paint_s": round(start_to_inbox, 4),
        "inbox_rows_loaded": window.inbox_model.rowCount(),
    }

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
        pump_until(app, lambda w=watch: w.at is not None)
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
        pump_until(app, lambda: watch.at is not None)
        out["open_customer_history_ms"] = round(1000 * (watch.at - started), 3)  # type: ignore[operator]
        out["history_rows_loaded"] = window.conversation.history_model.rowCount()
        out["history_has_earlier"] = int(window.conversation.history_model.has_earlier)

    # peak resident memory (Linux reports kilobytes)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    window.close()
    app.processEvents()
    ws.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
