"""``agent-console sync [--account NAME] [--once]``: pull new messages from the channels.

``--once`` fetches everything new now (every syncable account, or one) and prints a JSON summary;
without it the per-account loops run until Ctrl-C and report on stderr. Sandbox and phone accounts
have nothing to pull and are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from console.cli import Context, emit_json, error, say


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sync", help="fetch new messages from the channel accounts")
    p.add_argument("--account", help="only this account (name or id)")
    p.add_argument("--once", action="store_true", help="fetch what is new now, print a summary")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    p.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace, ctx: Context) -> int:
    return asyncio.run(_sync(args, ctx))


async def _sync(args: argparse.Namespace, ctx: Context) -> int:
    import httpx

    from console.changes import EventBus
    from console.storage.accounts import get_account
    from services.channels.pool import AdapterPool
    from services.sync import NOT_SYNCED, SyncChanged, SyncService

    ws = ctx.workspace()
    account_id = None
    if args.account:
        account = get_account(ws, args.account)
        if account.kind in NOT_SYNCED:
            error(f"account {account.name!r} is a {account.kind} account: it has nothing to pull")
            return 2
        account_id = account.id
    bus = EventBus()
    timeout = httpx.Timeout(args.timeout, connect=min(10.0, args.timeout))
    async with httpx.AsyncClient(timeout=timeout) as client:
        pool = AdapterPool(ws, client)
        service = SyncService(ws, pool, bus, time.time)
        try:
            if args.once:
                summary = await service.sync_once(account_id)
                emit_json(summary)
                return 1 if summary["errors"] else 0

            def report(change: SyncChanged) -> None:
                for aid in change.account_ids:
                    status = service.account_status(aid)
                    if status is not None and status.state in ("idle", "waiting", "stopped"):
                        extra = f": {status.last_error}" if status.last_error else ""
                        say(f"{status.name}: {status.state}, {status.added} new{extra}")

            bus.subscribe(SyncChanged, report)
            say("syncing; Ctrl-C to stop")
            if account_id is not None:
                await service.run_account(account_id)
            else:
                await service.run()
            return 0
        finally:
            await pool.aclose()
