"""Outbox commands: ``outbox`` (list, ``retry ID``) and ``send`` (run the worker).

``send --once`` sends (and reconciles) everything due now and prints a JSON summary; without
``--once`` the worker runs until Ctrl-C, picking up replies queued meanwhile by other processes.
Adapters are built from the accounts and the keyring (``services.channels.pool``) with one shared
``httpx.AsyncClient``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from console.cli import Context, emit_json, error, say
from console.domain import iso, to_epoch, utcnow
from console.storage import outbox_repo

STATES = ("queued", "sending", "sent", "failed", "unknown")
RETRYABLE = ("failed", "unknown")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "outbox",
        help="replies on their way (state, attempts, error); `outbox retry ID`, `outbox confirm ID`",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["retry", "confirm"],
        help="retry: send a failed or unknown reply again; confirm: an unknown reply is on the "
        "channel (you checked), record it as sent",
    )
    p.add_argument("item_id", nargs="?", type=int, metavar="ID")
    p.add_argument("--state", choices=STATES, action="append", help="only items in this state")
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.set_defaults(func=cmd_outbox)

    p = subparsers.add_parser("send", help="run the outbox worker: send queued replies")
    p.add_argument("--once", action="store_true", help="send what is due now, print a summary")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    p.set_defaults(func=cmd_send)


def _item_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "state": row["state"],
        "attempts": row["attempts"],
        "error": row["error"],
        "account": row["account"],
        "channel": row["channel"],
        "mode": row["mode"],
        "reply_to": row["reply_to"],
        "text": row["text"],
        "remote_id": row["remote_id"],
        "message_id": row["message_id"],
        "conversation_id": row["conversation_id"],
        "idempotency_key": row["idem_key"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "next_attempt_at": iso(row["next_attempt_at"]) if row["state"] == "queued" else None,
    }


def cmd_outbox(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    if args.action is not None and args.item_id is None:
        error(f"outbox {args.action} needs the item ID (see `outbox --json`)")
        return 2
    if args.action == "confirm":
        return _confirm(ws, args.item_id)
    if args.action == "retry":
        item = outbox_repo.get_item(ws, args.item_id)
        if item.state not in RETRYABLE:
            error(f"item {item.id} is {item.state}; only failed or unknown replies can be retried")
            return 2
        outbox_repo.retry(ws, item.id, to_epoch(utcnow()))
        emit_json({"id": item.id, "state": "queued", "was": item.state})
        say("queued again: `agent-console send` (or the open window) will send it")
        return 0
    if args.item_id is not None:
        error("an ID is only used with `outbox retry ID`")
        return 2
    rows = outbox_repo.list_outbox(ws, states=tuple(args.state) if args.state else None)
    emit_json([_item_json(r) for r in rows])
    return 0


def _confirm(ws: Any, item_id: int) -> int:
    import time

    from console.changes import EventBus
    from services.outbox import Outbox

    def no_adapter(account_id: int) -> Any:
        raise AssertionError("confirming needs no channel")

    Outbox(ws, no_adapter, time.time, EventBus()).confirm_sent(item_id)
    item = outbox_repo.get_item(ws, item_id)
    emit_json({"id": item.id, "state": item.state, "remote_id": item.remote_id})
    return 0


def cmd_send(args: argparse.Namespace, ctx: Context) -> int:
    return asyncio.run(_send(args, ctx))


async def _send(args: argparse.Namespace, ctx: Context) -> int:
    import httpx

    from console.changes import EventBus, OutboxChanged
    from services.channels.pool import AdapterPool
    from services.outbox import Outbox

    ws = ctx.workspace()
    bus = EventBus()
    timeout = httpx.Timeout(args.timeout, connect=min(10.0, args.timeout))
    async with httpx.AsyncClient(timeout=timeout) as client:
        pool = AdapterPool(ws, client)
        outbox = Outbox(ws, pool, time.time, bus, idle_poll=1.0)
        try:
            if args.once:
                summary = await outbox.send_once()
                emit_json(summary)
                if summary["status"]["standby"]:
                    say("another process is sending this workspace's replies: nothing done")
                    return 3
                return 0 if not summary["failed"] else 1
            say("sending queued replies; Ctrl-C to stop")

            def report(change: OutboxChanged) -> None:
                if change.reason == "status":
                    say(f"outbox: {outbox.status.message}")
                for item_id in change.item_ids:
                    item = outbox_repo.get_item(ws, item_id)
                    detail = f" ({item.last_error})" if item.last_error else ""
                    say(f"reply {item_id}: {item.state}{detail}")

            bus.subscribe(OutboxChanged, report)
            await outbox.run()
            return 0
        finally:
            outbox.close()
            await pool.aclose()
