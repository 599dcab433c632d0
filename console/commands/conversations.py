"""Conversation commands: the inbox and the agent's actions, as the window does them.

- ``inbox --json [--sort activity|waiting|priority] [--status S ...] [--channel C ...]
  [--flag F ...] [--assignee NAME|--unassigned] [--search TEXT] [--limit N]``
- ``conversation ID --json``: the header and the thread
- ``resolve ID``, ``reopen ID``, ``pending ID``, ``assign ID (NAME | --me | --nobody)``,
  ``snooze ID (--until ISO | --for 2h)``, ``note ID TEXT``, ``tag ID TAG ...``

Actions are recorded in the conversation's history and re-run triage for its customer, exactly as
in the window. ``--agent NAME`` says who acts (default: this workstation's agent).
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from typing import Any

from console.cli import Context, emit_json
from console.domain import Channel, FlagKind, Status, iso, to_epoch, utcnow
from console.errors import ConsoleError
from console.inbox_filter import SORTS, InboxFilter
from console.storage.agents import current_agent
from console.storage.conversations import conversation_header, thread_messages
from console.storage.inbox import inbox_count, inbox_page
from services.conversations import ConversationActions

_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class ConversationArgumentError(ConsoleError):
    """A conversation command was given a time or a name it cannot use."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("inbox", help="the inbox (keyset-paged), as JSON")
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.add_argument("--sort", choices=SORTS, default="priority")
    p.add_argument("--status", action="append", choices=[str(s) for s in Status], default=[])
    p.add_argument("--channel", action="append", choices=[str(c) for c in Channel], default=[])
    p.add_argument("--flag", action="append", choices=[str(f) for f in FlagKind], default=[])
    who = p.add_mutually_exclusive_group()
    who.add_argument("--assignee", metavar="NAME")
    who.add_argument("--unassigned", action="store_true")
    p.add_argument("--search", default="")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_inbox)

    p = subparsers.add_parser("conversation", help="one conversation's header and thread")
    p.add_argument("conversation_id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.set_defaults(func=cmd_conversation)

    for name, help_text in (
        ("resolve", "resolve a conversation"),
        ("reopen", "reopen a conversation"),
        ("pending", "mark a conversation pending (waiting on the customer)"),
    ):
        p = subparsers.add_parser(name, help=help_text)
        p.add_argument("conversation_id", type=int, metavar="ID")
        p.add_argument("--agent")
        p.set_defaults(func=cmd_status, status=name)

    p = subparsers.add_parser("assign", help="assign a conversation")
    p.add_argument("conversation_id", type=int, metavar="ID")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("name", nargs="?")
    target.add_argument("--me", action="store_true")
    target.add_argument("--nobody", action="store_true")
    p.add_argument("--agent")
    p.set_defaults(func=cmd_assign)

    p = subparsers.add_parser("snooze", help="snooze a conversation until a time")
    p.add_argument("conversation_id", type=int, metavar="ID")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--until", metavar="ISO", help="e.g. 2026-12-02T09:00+02:00")
    when.add_argument("--for", dest="duration", metavar="DURATION", help="e.g. 45m, 4h, 2d")
    p.add_argument("--agent")
    p.set_defaults(func=cmd_snooze)

    p = subparsers.add_parser("note", help="add an internal note to a conversation")
    p.add_argument("conversation_id", type=int, metavar="ID")
    p.add_argument("text")
    p.add_argument("--agent")
    p.set_defaults(func=cmd_note)

    p = subparsers.add_parser("tag", help="set a conversation's tags")
    p.add_argument("conversation_id", type=int, metavar="ID")
    p.add_argument("tags", nargs="*")
    p.add_argument("--agent")
    p.set_defaults(func=cmd_tag)


def _now() -> int:
    return to_epoch(utcnow())


def _actions(args: argparse.Namespace, ctx: Context) -> ConversationActions:
    from console.changes import EventBus

    ws = ctx.workspace()
    agent = args.agent or current_agent(ws).name
    return ConversationActions(ws, EventBus(), _now, agent)


def _result(ctx: Context, conversation_id: int) -> dict[str, Any]:
    header = conversation_header(ctx.workspace(), conversation_id)
    return {
        "conversation": header["id"],
        "status": header["status"],
        "assignee": header["assignee"],
        "tags": header["tags"],
        "snoozed_until": iso(header["snoozed_until"]),
        "deadline_at": iso(header["deadline_at"]),
    }


def cmd_inbox(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    f = InboxFilter(
        sort=args.sort,
        channels=frozenset(Channel(c) for c in args.channel),
        flags=frozenset(FlagKind(k) for k in args.flag),
        assignee="" if args.unassigned else args.assignee,
        search=args.search,
    )
    if args.status:
        f = f.with_(statuses=frozenset(Status(s) for s in args.status))
    now = _now()
    rows = inbox_page(ws, f, now=now, limit=max(1, args.limit))
    emit_json(
        {
            "total": inbox_count(ws, f, now=now),
            "conversations": [
                {
                    "id": r.id,
                    "channel": r.channel,
                    "account": r.account,
                    "customer": r.customer,
                    "customer_id": r.customer_id,
                    "handle": r.handle,
                    "status": r.status,
                    "assignee": r.assignee,
                    "snippet": r.snippet,
                    "waiting_since": iso(r.waiting_since),
                    "deadline_at": iso(r.deadline_at),
                    "priority": round(r.priority, 2),
                    "flags": [str(k) for k in FlagKind if r.flag_mask & _bit(k)],
                    "tags": list(r.tags),
                }
                for r in rows
            ],
        }
    )
    return 0


def _bit(kind: FlagKind) -> int:
    from console.triage.flagbits import bit

    return bit(kind)


def cmd_conversation(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    header = conversation_header(ws, args.conversation_id)
    thread = thread_messages(ws, args.conversation_id)
    for key in ("started_at", "last_activity", "waiting_since", "deadline_at", "snoozed_until"):
        header[key] = iso(header.get(key))
    emit_json(
        {
            **header,
            "messages": [
                {
                    **m,
                    "created_at": iso(m["created_at"]),
                    "ref": f"{m['channel']}:{m['external_id']}",
                }
                for m in thread
            ],
        }
    )
    return 0


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    status = {"resolve": Status.RESOLVED, "reopen": Status.OPEN, "pending": Status.PENDING}
    _actions(args, ctx).set_status(args.conversation_id, status[args.status])
    emit_json(_result(ctx, args.conversation_id))
    return 0


def cmd_assign(args: argparse.Namespace, ctx: Context) -> int:
    actions = _actions(args, ctx)
    who = None if args.nobody else (actions.agent if args.me else args.name)
    actions.assign(args.conversation_id, who)
    emit_json(_result(ctx, args.conversation_id))
    return 0


def parse_until(until: str | None, duration: str | None, now: int) -> int:
    if duration is not None:
        match = _DURATION.match(duration)
        if match is None:
            raise ConversationArgumentError(f"--for {duration!r} is not like 45m, 4h, 2d or 1w")
        return now + int(match.group(1)) * _UNITS[match.group(2)]
    assert until is not None
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        raise ConversationArgumentError(f"--until {until!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a wall-clock time means this computer's zone
    return to_epoch(moment)


def cmd_snooze(args: argparse.Namespace, ctx: Context) -> int:
    actions = _actions(args, ctx)
    at = parse_until(args.until, args.duration, actions.clock())
    actions.snooze(args.conversation_id, at, label=iso(at))
    emit_json(_result(ctx, args.conversation_id))
    return 0


def cmd_note(args: argparse.Namespace, ctx: Context) -> int:
    result = _actions(args, ctx).add_note(args.conversation_id, args.text)
    emit_json({**_result(ctx, args.conversation_id), "note": result.message_id})
    return 0


def cmd_tag(args: argparse.Namespace, ctx: Context) -> int:
    _actions(args, ctx).set_tags(args.conversation_id, args.tags)
    emit_json(_result(ctx, args.conversation_id))
    return 0
