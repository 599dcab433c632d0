"""Triage commands: ``customers``, ``groups``, ``triage rebuild``, ``triage settings``, ``triage explain``.

- ``customers --json [--flag KIND]``: live customers with identities, counts, contact times and
  flags (merged customers are left out).
- ``groups --json [--kind duplicates|same_issue]``: duplicate and same-issue groups, each post as
  ``CHANNEL:EXTERNAL_ID``.
- ``triage rebuild [--rescore]``: recompute everything, progress on stderr, a summary on stdout.
- ``triage settings [--set KEY=VALUE ...]``: show or change the thresholds (then rebuild).
- ``triage explain CUSTOMER_ID``: a customer's flags and escalation signals.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from typing import Any

from console.cli import Context, emit_json
from console.domain import FlagKind
from console.triage.engine import rebuild
from console.triage.settings import load_settings, parse_assignment, save_settings
from console.triage.views import customer_flags, escalation_detail, list_customers, list_groups


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("customers", help="customers with their flags, as JSON")
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.add_argument("--flag", choices=[str(k) for k in FlagKind], help="only customers with it")
    p.set_defaults(func=cmd_customers)

    p = subparsers.add_parser("groups", help="duplicate and same-issue groups, as JSON")
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.add_argument("--kind", choices=["duplicates", "same_issue"])
    p.set_defaults(func=cmd_groups)

    p = subparsers.add_parser("triage", help="triage: rebuild, settings, explain")
    sub = p.add_subparsers(dest="triage_command", metavar="ACTION", required=True)
    r = sub.add_parser("rebuild", help="recompute flags, groups, deadlines and priorities")
    r.add_argument("--rescore", action="store_true", help="score every message's sentiment again")
    r.set_defaults(func=cmd_rebuild)
    s = sub.add_parser("settings", help="show or change triage thresholds")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.set_defaults(func=cmd_settings)
    e = sub.add_parser("explain", help="a customer's flags and escalation signals")
    e.add_argument("customer_id", type=int)
    e.set_defaults(func=cmd_explain)


def cmd_customers(args: argparse.Namespace, ctx: Context) -> int:
    emit_json(list_customers(ctx.workspace(), args.flag))
    return 0


def cmd_groups(args: argparse.Namespace, ctx: Context) -> int:
    emit_json(list_groups(ctx.workspace(), args.kind))
    return 0


class _StderrProgress:
    """``triage: 1200/5000 (24%)`` on stderr: redrawn in place on a terminal a few times a second,
    a line a second otherwise (logs, pipes)."""

    def __init__(self) -> None:
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < (0.25 if self.tty else 1.0) and done < total:
            return
        self.last = now
        pct = 100 * done / total if total else 100
        line = f"triage: {done}/{total} ({pct:.0f}%)"
        sys.stderr.write(f"\r{line}" if self.tty else f"{line}\n")
        if self.tty and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_rebuild(args: argparse.Namespace, ctx: Context) -> int:
    report = rebuild(ctx.workspace(), progress=_StderrProgress(), rescore=args.rescore)
    emit_json(report.to_json())
    return 0


def cmd_settings(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    if args.set:
        settings = save_settings(ws, dict(parse_assignment(item) for item in args.set))
        sys.stderr.write("triage settings saved; run `agent-console triage rebuild` to apply\n")
    else:
        settings = load_settings(ws)
    emit_json(settings.to_json())
    return 0


def cmd_explain(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    detail = escalation_detail(ws, args.customer_id)
    emit_json(
        {
            "customer": args.customer_id,
            "flags": [
                {**f.to_json(), "message_ids": list(f.message_ids)}
                for f in customer_flags(ws, args.customer_id)
            ],
            "escalation": None
            if detail is None
            else {
                "score": detail.score,
                "threshold": detail.threshold,
                "flagged": detail.flagged,
                "messages": detail.messages,
                "signals": [
                    {**asdict(sig), "contribution": round(sig.contribution, 3)}
                    for sig in detail.signals
                ],
            },
        }
    )
    return 0
