"""``agent-console screenshot OUT.png [--view inbox|customer] [--customer ID] [--size WxH]``.

Renders the real main window offscreen (``QT_QPA_PLATFORM=offscreen`` unless a platform is set)
over the workspace and saves it as a PNG, for docs and review. ``--view customer`` opens a
customer's whole cross-channel history: ``--customer ID``, or else the customer with the most
channels. ``--theme dark`` and ``--supervisor`` show the dark theme and the supervisor panel.
Window settings go to a throwaway file, so a screenshot never changes the user's layout.
"""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from console.cli import Context, emit_json
from console.errors import ConsoleError


class ScreenshotError(ConsoleError):
    """The screenshot could not be made (bad size, nothing to show, unwritable file)."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("screenshot", help="render the main window offscreen to a PNG")
    p.add_argument("out", type=Path, metavar="OUT.png")
    p.add_argument("--view", choices=["inbox", "customer"], default="inbox")
    p.add_argument("--customer", type=int, metavar="ID")
    p.add_argument("--size", default="1600x960", metavar="WxH")
    p.add_argument("--theme", choices=["light", "dark"], default="light")
    p.add_argument("--supervisor", action="store_true", help="show the supervisor panel")
    p.set_defaults(func=cmd_screenshot)


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ScreenshotError(f"--size {text!r} is not like 1600x960") from None
    if not (320 <= w <= 8000 and 240 <= h <= 8000):
        raise ScreenshotError(f"--size {text!r} is out of range (320x240 .. 8000x8000)")
    return w, h


def _settle(app: Any, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def busiest_customer(ws: Any) -> int | None:
    """The customer with the most channels, then the most messages (a good history to show)."""
    value = ws.scalar(
        "SELECT c.id FROM customers c JOIN identities i ON i.customer_id = c.id"
        " WHERE c.merged_into IS NULL AND c.conversation_count > 0 GROUP BY c.id"
        " ORDER BY count(DISTINCT i.channel) DESC, c.inbound_count DESC, c.id LIMIT 1"
    )
    return None if value is None else int(value)


def cmd_screenshot(args: argparse.Namespace, ctx: Context) -> int:
    width, height = parse_size(args.size)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Imported by name, as console.cli does: the GUI stack stays out of the headless commands
    # (and out of mypy's strict run over the core).
    gui = importlib.import_module("console.app")
    build_window, settings_at = gui.build_window, gui.settings_at
    theme_named = importlib.import_module("widgets.theme").theme_named
    qt = importlib.import_module("PySide6.QtWidgets")
    app = qt.QApplication.instance() or qt.QApplication([])
    ws = ctx.workspace()
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_at(Path(tmp) / "window.ini")
        settings.setValue("theme", args.theme)
        running = build_window(ws, settings=settings)
        window = running.window
        theme_named(args.theme).apply(app)
        window.resize(width, height)
        window.show()
        if args.supervisor:
            window.toggle_supervisor()
        _settle(app)
        customer = None
        if args.view == "customer":
            customer = args.customer or busiest_customer(ws)
            if customer is None:
                raise ScreenshotError("the workspace has no customer to show")
            conv = ws.scalar(
                "SELECT id FROM conversations WHERE customer_id = ? ORDER BY last_activity DESC LIMIT 1",
                (customer,),
            )
            if conv is None:
                raise ScreenshotError(f"customer {customer} has no conversation")
            window.open_conversation(int(conv))
            window.conversation.show_customer_history(customer)
        _settle(app, 0.8 if args.supervisor else 0.4)
        image = window.grab()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(args.out), "PNG"):
            raise ScreenshotError(f"could not write {args.out}")
        shown = window.current_conversation()
        rows = window.inbox_model.rowCount()
        window.close()
        window.deleteLater()
        _settle(app, 0.1)
    emit_json(
        {
            "file": str(args.out),
            "size": [image.width(), image.height()],
            "view": args.view,
            "customer": customer,
            "conversation": shown,
            "inbox_rows": rows,
        }
    )
    return 0
