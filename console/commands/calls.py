"""``agent-console log-call``: log a phone call so that it joins the customer's history.

The call is stored like any message (ingest, then incremental triage), on the phone account named by
``--account`` (created on first use). Prints the stored message as JSON.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from console.cli import Context, emit_json, say
from console.domain import iso
from console.errors import ConsoleError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("log-call", help="log a phone call with a customer")
    p.add_argument("--account", required=True, help="our phone account (created if missing)")
    p.add_argument("--number", required=True, help="the customer's number (or handle)")
    p.add_argument("--name", help="the customer's name")
    p.add_argument("--direction", choices=("in", "out"), default="in", help="in: they called")
    p.add_argument("--at", help="when the call started, ISO 8601 (default: now; local time)")
    p.add_argument("--duration", help="seconds, or [h:]mm:ss")
    p.add_argument("--summary", required=True, help="what was said and agreed")
    p.add_argument("--agent", help="who took the call")
    p.set_defaults(func=cmd_log_call)


def _started_at(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConsoleError(f"--at {text!r} is not an ISO 8601 date and time") from None


def cmd_log_call(args: argparse.Namespace, ctx: Context) -> int:
    from console.triage.engine import incremental_hook
    from services.channels.phone import ensure_phone_account, ingest_call, log_call, parse_duration

    ws = ctx.workspace()
    call = log_call(
        account=args.account,
        number=args.number,
        name=args.name,
        direction=args.direction,
        started_at=_started_at(args.at),
        duration_s=parse_duration(args.duration),
        summary=args.summary,
        agent=args.agent,
    )
    account, created = ensure_phone_account(ws, args.account)
    if created:
        say(f"created phone account {account.name!r} (id {account.id})")
    logged = ingest_call(ws, call, after_batch=incremental_hook())
    if not logged.added:
        say("this call was already logged; nothing changed")
    emit_json(
        {
            "added": logged.added,
            "message_id": logged.message_id,
            "conversation_id": logged.conversation_id,
            "customer_id": logged.customer_id,
            "account": account.name,
            "account_id": account.id,
            "channel": "phone",
            "external_id": call.external_id,
            "direction": args.direction,
            "number": call.author if args.direction == "in" else call.to,
            "name": call.author_name if args.direction == "in" else args.name,
            "started_at": iso(call.created_at),
            "duration_s": call.extra.get("duration_s"),
            "agent": call.extra.get("agent"),
            "summary": call.text,
        }
    )
    return 0
