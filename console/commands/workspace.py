"""Workspace commands: ``stats``, ``search``, ``customer``, ``history``, ``merge``, ``unmerge``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from console.cli import Context, emit_json, say
from console.domain import iso, to_epoch, utcnow
from console.storage.customers import (
    customer_history,
    customer_summary,
    merge_customers,
    search_messages,
    unmerge_customer,
    workspace_stats,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("stats", help="workspace counts (and queue figures) as JSON")
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.set_defaults(func=cmd_stats)

    p = subparsers.add_parser("search", help="full-text search over every message, newest first")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.set_defaults(func=cmd_search)

    p = subparsers.add_parser("customer", help="one customer's card as JSON")
    p.add_argument("customer_id", type=int)
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.set_defaults(func=cmd_customer)

    p = subparsers.add_parser("history", help="a customer's whole cross-channel history")
    p.add_argument("customer_id", type=int)
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.set_defaults(func=cmd_history)

    p = subparsers.add_parser("merge", help="merge the second customer into the first")
    p.add_argument("target", type=int, metavar="CUSTOMER_ID")
    p.add_argument("source", type=int, metavar="CUSTOMER_ID")
    p.add_argument("--agent")
    p.set_defaults(func=cmd_merge)

    p = subparsers.add_parser("unmerge", help="undo the latest merge of a customer")
    p.add_argument("customer_id", type=int, metavar="CUSTOMER_ID")
    p.set_defaults(func=cmd_unmerge)


def _message_json(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["created_at"] = iso(row["created_at"])
    out["ref"] = f"{row['channel']}:{row['external_id']}"
    return out


def cmd_stats(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    stats = workspace_stats(ws)
    try:
        from console.storage.metrics import account_stats
    except ImportError:
        pass
    else:
        per_account = {a["id"]: a for a in account_stats(ws, to_epoch(utcnow()))}
        for account in stats["accounts"]:
            account.update(per_account.get(account["id"], {}))
    emit_json(stats)
    return 0


def cmd_search(args: argparse.Namespace, ctx: Context) -> int:
    started = time.perf_counter()
    rows = search_messages(ctx.workspace(), args.query, limit=args.limit)
    elapsed_ms = (time.perf_counter() - started) * 1000
    emit_json([_message_json(r) for r in rows])
    if args.verbose:
        say(f"{len(rows)} results in {elapsed_ms:.1f} ms")

    return 0


def cmd_customer(args: argparse.Namespace, ctx: Context) -> int:
    emit_json(customer_summary(ctx.workspace(), args.customer_id))
    return 0


def cmd_history(args: argparse.Namespace, ctx: Context) -> int:
    rows = customer_history(ctx.workspace(), args.customer_id, limit=args.limit)
    emit_json([_message_json(r) for r in rows])
    return 0


def cmd_merge(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    merge_id = merge_customers(
        ws, args.target, args.source, agent=args.agent, now=to_epoch(utcnow())
    )
    _retriage(ws, [args.target])
    emit_json({"merge": merge_id, "target": args.target, "source": args.source})
    return 0


def cmd_unmerge(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    result = unmerge_customer(ws, args.customer_id, now=to_epoch(utcnow()))
    _retriage(ws, [result["target"], result["restored"]])
    emit_json(result)
    return 0


def _retriage(ws: Any, customer_ids: list[int]) -> None:
    try:
        from console.triage.engine import retriage_customers
    except ImportError:
        return
    retriage_customers(ws, customer_ids)
