"""``agent-console report --from DATE --to DATE [--csv FILE]``: a period's figures per account and agent.

Prints the report as JSON (first-response median and p90, resolution time, replies, breaches and
repeat-contact rate, for all accounts, each account and each agent); ``--csv FILE`` also writes it
as CSV. Dates are whole days in the local time zone (or ``--tz``), both ends included.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console.cli import Context, emit_json
from console.domain import to_epoch, utcnow
from console.errors import ConsoleError
from services.metrics import build_report, save_report_csv


class ReportArgumentError(ConsoleError):
    """A report was asked for with dates, a zone or a file that cannot be used."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="first response, resolution, replies, breaches per account and agent"
    )
    p.add_argument(
        "--from", dest="start", required=True, metavar="DATE", help="first day, YYYY-MM-DD"
    )
    p.add_argument("--to", dest="end", required=True, metavar="DATE", help="last day, YYYY-MM-DD")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the report as CSV")
    p.add_argument("--tz", metavar="ZONE", help="time zone of the dates (default: local time)")
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.set_defaults(func=cmd_report)


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportArgumentError(f"{option} {text!r} is not a date like 2017-11-30") from None


def parse_zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportArgumentError(f"--tz {name!r} is not a known time zone") from None


def period(start: date, end: date, tz: tzinfo | None) -> tuple[int, int]:
    """Unix seconds of the first day's start and of the day after the last day."""
    if end < start:
        raise ReportArgumentError(f"--to {end} is before --from {start}")

    def midnight(day: date) -> int:
        if tz is None:  # local time: the platform applies that day's own offset
            return to_epoch(datetime.combine(day, time(0)).astimezone())
        return to_epoch(datetime.combine(day, time(0), tz))

    return midnight(start), midnight(end + timedelta(days=1))


def cmd_report(args: argparse.Namespace, ctx: Context) -> int:
    tz = parse_zone(args.tz)
    start, end = period(parse_day(args.start, "--from"), parse_day(args.end, "--to"), tz)
    report = build_report(ctx.workspace(), start, end, to_epoch(utcnow()))
    out = report.to_json()
    if args.csv is not None:
        rows = save_report_csv(report, args.csv)
        out["csv"] = {"file": str(args.csv), "rows": rows}
    emit_json(out)
    return 0
