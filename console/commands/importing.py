"""``agent-console import FILE [--format ...]``: import an export file, with progress on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from console.cli import Context, emit_json, say
from services.importers import FORMATS, run_import


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("import", help="import a TWCS CSV, mbox, .eml or JSONL file")
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=FORMATS, help="guessed from the file when omitted")
    p.add_argument("--account", help="our account name for email imports (default: the list/To)")
    p.add_argument("--no-triage", action="store_true", help="skip the triage rebuild afterwards")
    p.set_defaults(func=cmd_import)


class TerminalProgress:
    """A one-line progress display on stderr (only redrawn a few times a second)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < 0.25 and (total is None or done < total):
            return
        self.last = now
        rate = done / max(now - self.started, 1e-6)
        if total:
            line = f"{self.label}: {done:,}/{total:,} ({100 * done / total:.0f}%) {rate:,.0f}/s"
        else:
            line = f"{self.label}: {done:,} {rate:,.0f}/s"
        if self.tty:
            say("\r" + line.ljust(78), end="")
        else:
            say(line)

    def finish(self) -> None:
        if self.tty:
            say("")


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    progress = TerminalProgress(f"importing {args.file.name}")
    # A bulk import skips the per-batch triage hook and triages once at the end: only what it
    # touched, or everything when it touched much of the workspace (console.triage.engine).
    summary = run_import(ws, args.file, args.format, account=args.account, progress=progress)
    progress.finish()
    for problem in summary.problems:
        say(f"{args.file.name}: {problem}")
    result: dict[str, Any] = summary.to_json()
    if not args.no_triage and summary.added and summary.report is not None:
        from console.triage.engine import after_import

        result["triage"] = after_import(
            ws, summary.report, progress=TerminalProgress("triage")
        ).to_json()
    emit_json(result)
    return 0
