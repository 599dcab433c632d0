"""Sync: per-account pull loops that bring new messages into the workspace and the live inbox.

For each account whose adapter fetches (not ``sandbox`` or ``phone``), :meth:`SyncService.run_account`
loops: load the cursor, ``fetch`` pages while ``FetchResult.more``, then wait for the next poll
(or, when the adapter offers ``wait_for_new`` (email IDLE), until the server says there is news).

Exactly-once: a page's messages are stored (in chunks of :data:`STORE_CHUNK`, each its own
transaction, the window painting in between) before its cursor moves; a crash before the cursor
moved fetches the page again, and what was already stored is skipped by the idempotent ingest
(``(channel, external_id)`` is unique), so nothing is lost and nothing doubled. New messages go
through ``Ingestor(after_batch=triage)`` and then ``InboxChanged`` (with the new conversation ids
as ``added``), ``MessagesChanged`` and ``CustomersChanged`` are published so they appear live.

Errors are typed: ``AuthenticationError`` (and ``RejectedError``, a set-up problem such as a wrong
page id) stop that account's loop and say why; ``RateLimitedError`` waits ``retry_after``;
``TransientError``, ``UnknownOutcomeError`` and unexpected errors back off exponentially with
jitter. Each account's :class:`SyncStatus` (last sync, last error, next attempt) is readable at any
time and every change of it is published as :class:`SyncChanged`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from console.changes import Change, CustomersChanged, EventBus, InboxChanged, MessagesChanged
from console.errors import (
    AccountError,
    AuthenticationError,
    ConsoleError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    SecretStoreError,
)
from console.storage import accounts as accounts_repo
from console.storage.db import Workspace
from console.storage.ingest import AfterBatch, Ingestor, IngestReport
from services.channels.base import ChannelAdapter

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
AdapterFactory = Callable[[int], ChannelAdapter]

#: Kinds whose accounts have nothing to pull.
NOT_SYNCED = frozenset({"sandbox", "phone"})
POLL_INTERVAL_S = 60.0
MAX_PAGES_PER_SYNC = 50
MAX_RETRY_AFTER_S = 6 * 3600.0
#: Messages stored (and triaged) in one go before the loop, and with it the window, runs again.
STORE_CHUNK = 20


@dataclass(frozen=True, slots=True)
class SyncChanged(Change):
    """An account's sync status changed (the window's status line and account list show it)."""

    account_ids: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class SyncStatus:
    account_id: int
    name: str
    channel: str
    state: str = "idle"  # idle, syncing, waiting (backing off / rate limited), stopped
    last_sync_at: float | None = None  # the last fetch that succeeded
    last_error: str | None = None
    next_attempt_at: float | None = None
    added: int = 0  # messages added since this service started
    failures: int = 0  # consecutive
    problems: tuple[str, ...] = ()  # items the adapter skipped in the last sync, with reasons

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "account": self.name,
            "channel": self.channel,
            "state": self.state,
            "last_sync_at": self.last_sync_at,
            "last_error": self.last_error,
            "next_attempt_at": self.next_attempt_at,
            "added": self.added,
            "problems": list(self.problems),
        }


class _Stop(Exception):
    """The account's loop must stop until a person fixes something."""


class SyncService:
    """Pulls every syncable account of one workspace. Use from the workspace's thread."""

    def __init__(
        self,
        ws: Workspace,
        adapters: AdapterFactory,
        bus: EventBus,
        clock: Clock,
        *,
        triage_hook: AfterBatch | None = None,
        sleep: Sleep = asyncio.sleep,
        poll_interval: float = POLL_INTERVAL_S,
        backoff_base: float = 5.0,
        backoff_cap: float = 900.0,
        jitter: Callable[[], float] = random.random,
        max_pages: int = MAX_PAGES_PER_SYNC,
    ) -> None:
        self.ws = ws
        self.adapters = adapters
        self.bus = bus
        self.clock = clock
        if triage_hook is None:
            from console.triage.engine import incremental_hook

            triage_hook = incremental_hook()
        self.triage_hook = triage_hook
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.jitter = jitter
        self.max_pages = max_pages
        self._status: dict[int, SyncStatus] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    # -- what is synced --------------------------------------------------------------------

    def syncable_accounts(self) -> list[accounts_repo.Account]:
        return [a for a in accounts_repo.list_accounts(self.ws) if a.kind not in NOT_SYNCED]

    def status(self) -> list[SyncStatus]:
        return [self._status[k] for k in sorted(self._status)]

    def account_status(self, account_id: int) -> SyncStatus | None:
        return self._status.get(account_id)

    # -- one pass --------------------------------------------------------------------------

    async def sync_once(self, account_id: int | None = None) -> dict[str, Any]:
        """Fetch everything new now (every syncable account, or one) and return a summary."""
        if account_id is not None:
            account = accounts_repo.get_account(self.ws, account_id)
            targets = [account]
        else:
            targets = self.syncable_accounts()
        results = []
        for account in targets:
            self._ensure_status(account)
            try:
                added = await self._sync_account(account.id)
            except Exception as exc:  # noqa: BLE001 - one account's failure is reported, not raised
                status = self._failed(account.id, exc)
                results.append({**status.to_json(), "ok": False, "added_now": 0})
            else:
                results.append(
                    {**self._status[account.id].to_json(), "ok": True, "added_now": added}
                )
        return {
            "accounts": results,
            "added": sum(r["added_now"] for r in results),
            "errors": sum(1 for r in results if not r["ok"]),
        }

    async def _sync_account(self, account_id: int) -> int:
        """Fetch all ready pages of one account; each page is stored before its cursor moves."""
        lock = self._locks.setdefault(account_id, asyncio.Lock())
        async with lock:  # a loop and a manual "sync now" never fetch one account at once
            adapter = self.adapters(account_id)
            self._set(account_id, state="syncing", next_attempt_at=None)
            cursor = accounts_repo.get_cursor(self.ws, account_id)
            added = 0
            problems: list[str] = []
            for _page in range(self.max_pages):
                result = await adapter.fetch(dict(cursor))
                problems += [str(p) for p in getattr(result, "problems", None) or ()]
                added += await self._store_page(account_id, result.messages, result.cursor)
                cursor = result.cursor
                if not result.more:
                    break
            current = self._status[account_id]
            self._set(
                account_id,
                state="idle",
                last_sync_at=self.clock(),
                last_error=None,
                failures=0,
                added=current.added + added,
                problems=tuple(problems[-20:]),
            )
            return added

    async def _store_page(
        self, account_id: int, messages: list[Any], cursor: dict[str, str]
    ) -> int:
        """Ingest (and triage) a page a chunk at a time, publishing each, then move the cursor.

        The loop is the window's: a page of 100 mentions triaged at once held it for a few
        hundred milliseconds on a large workspace; between chunks it paints and answers keys."""
        added = 0
        ingestor = Ingestor(self.ws, after_batch=self.triage_hook)
        for start in range(0, len(messages), STORE_CHUNK):
            with self.ws.transaction():
                report = ingestor.ingest(messages[start : start + STORE_CHUNK])
            self._publish(report)
            added += report.added
            await asyncio.sleep(0)
        with self.ws.transaction():
            accounts_repo.set_cursor(self.ws, account_id, cursor, now=int(self.clock()))
        return added

    # -- the loops -------------------------------------------------------------------------

    async def run(self) -> None:
        """Run every syncable account's loop until cancelled."""
        for account in self.syncable_accounts():
            self.start_account(account.id)
        try:
            await asyncio.gather(*self._tasks.values())
        finally:
            await self.stop()

    def start_account(self, account_id: int) -> asyncio.Task[None]:
        """(Re)start one account's loop, e.g. after its credentials were fixed."""
        task = self._tasks.get(account_id)
        if task is not None and not task.done():
            return task
        task = asyncio.ensure_future(self.run_account(account_id))
        self._tasks[account_id] = task
        return task

    def stop_account(self, account_id: int) -> None:
        """Stop one account's loop (the account was removed)."""
        task = self._tasks.pop(account_id, None)
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def run_account(self, account_id: int) -> None:
        """Pull one account forever: fetch, wait (IDLE or poll), and back off on errors. Returns
        when the account needs a person (credentials, set-up)."""
        account = accounts_repo.get_account(self.ws, account_id)
        self._ensure_status(account)
        while True:
            try:
                await self._sync_account(account_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is classified below
                status = self._failed(account_id, exc)
                if status.state == "stopped":
                    return
                await self.sleep(max(0.0, (status.next_attempt_at or 0) - self.clock()))
                continue
            await self._wait_for_news(account_id)

    async def _wait_for_news(self, account_id: int) -> None:
        adapter = self.adapters(account_id)
        interval = float(getattr(adapter, "poll_interval_s", None) or self.poll_interval)
        self._set(account_id, next_attempt_at=self.clock() + interval)
        wait_for_new = getattr(adapter, "wait_for_new", None)
        if wait_for_new is None:
            await self.sleep(interval)
            return
        try:
            if "cursor" in inspect.signature(wait_for_new).parameters:
                cursor = accounts_repo.get_cursor(self.ws, account_id)
                await wait_for_new(interval, cursor=cursor)
            else:
                await wait_for_new(interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - IDLE failing is no reason to stop: poll instead
            log.info("sync: waiting on account %d failed (%s); polling", account_id, exc)
            await self.sleep(min(interval, self._backoff(1)))

    # -- status ----------------------------------------------------------------------------

    def _ensure_status(self, account: accounts_repo.Account) -> None:
        if account.id not in self._status:
            self._status[account.id] = SyncStatus(account.id, account.name, str(account.channel))

    def _set(self, account_id: int, **changes: Any) -> SyncStatus:
        status = replace(self._status[account_id], **changes)
        if status != self._status[account_id]:
            self._status[account_id] = status
            self.bus.publish(SyncChanged(account_ids=frozenset({account_id}), source=self))
        return status

    def _backoff(self, failures: int) -> float:
        raw = min(self.backoff_cap, self.backoff_base * 2.0 ** max(0, failures - 1))
        return raw / 2 + raw / 2 * self.jitter()

    def _failed(self, account_id: int, exc: BaseException) -> SyncStatus:
        status = self._status[account_id]
        failures = status.failures + 1
        now = self.clock()
        if isinstance(exc, AuthenticationError):
            return self._stop(account_id, f"credentials rejected: {exc}")
        if isinstance(exc, RejectedError):
            return self._stop(account_id, f"the channel refused the request: {exc}")
        if isinstance(exc, RateLimitedError):
            wait = min(max(float(exc.retry_after), 1.0), MAX_RETRY_AFTER_S)
            message = f"rate limited: next try in {wait:.0f} s"
        elif isinstance(exc, ConsoleError):
            if _is_setup_problem(exc):
                return self._stop(account_id, str(exc))
            wait = self._backoff(failures)
            message = f"{exc} (retrying in {wait:.0f} s)"
        else:
            log.error("sync of account %d failed", account_id, exc_info=exc)
            wait = self._backoff(failures)
            message = f"unexpected error {type(exc).__name__}: {exc} (retrying in {wait:.0f} s)"
        log.info("sync: account %d: %s", account_id, message)
        return self._set(
            account_id,
            state="waiting",
            last_error=message,
            next_attempt_at=now + wait,
            failures=failures,
        )

    def _stop(self, account_id: int, why: str) -> SyncStatus:
        log.warning("sync: account %d stopped: %s", account_id, why)
        return self._set(account_id, state="stopped", last_error=why, next_attempt_at=None)

    def _publish(self, report: IngestReport) -> None:
        if not (report.added or report.removed_conversation_ids):
            return
        conversations = frozenset(report.conversation_ids)
        self.bus.publish(
            InboxChanged(
                conversation_ids=conversations,
                added=frozenset(report.new_conversation_ids),
                removed=frozenset(report.removed_conversation_ids),
                reason="sync",
                source=self,
            )
        )
        self.bus.publish(
            MessagesChanged(
                message_ids=frozenset(report.message_ids),
                conversation_ids=conversations,
                reason="sync",
                source=self,
            )
        )
        if report.customer_ids:
            self.bus.publish(
                CustomersChanged(
                    customer_ids=frozenset(report.customer_ids), reason="sync", source=self
                )
            )


def _is_setup_problem(exc: ConsoleError) -> bool:
    """Errors a retry cannot fix: no keyring, missing settings, an unknown adapter kind."""
    return isinstance(exc, AccountError | SecretStoreError | NotFoundError)
