"""The outbox worker: sends every queued reply exactly once, through crashes, throttling and outages.

Replies are persisted before any network call (``console.storage.outbox_repo.enqueue_reply``); this
worker takes them from there. Per account, one at a time and paced, it claims an item (``sending``),
builds the :class:`~services.channels.base.OutgoingReply` from the conversation and the message
answered, and calls the adapter. What happens next depends on the typed error:

- success: ``sent`` with the remote id; the customer is triaged again (breach flags clear).
- ``RateLimitedError``: that account's queue waits ``retry_after`` (other accounts go on); the attempt
  does not count. The wait is written to the items, so a restart honours it too.
- ``TransientError``: retried with exponential backoff and jitter (capped), ``failed`` after
  ``max_attempts``. A connection failure (nothing reached the channel) instead marks the account
  unreachable: its replies wait, the outbox reports ``online = False`` ("Offline: 3 replies
  waiting") and probes with backoff until the network is back, then drains.
- ``RejectedError``: ``failed`` with the reason, never retried. ``AuthenticationError``: the same, and
  the account holds its other replies until :meth:`Outbox.resume_account` (credentials fixed).
- ``UnknownOutcomeError`` (the request left, no answer came back), an unexpected exception from the
  adapter, or a crash mid-send (found in ``sending`` at start): ``unknown``. The item is reconciled
  with ``adapter.find_sent``: found -> ``sent`` with that id; not found -> sent again; the adapter
  cannot tell -> it stays ``unknown`` with a message for the agent. Never blindly resent.

After each change the worker publishes ``OutboxChanged``, ``MessagesChanged`` and ``InboxChanged``
(and ``CustomersChanged`` after a retriage). A change of :attr:`Outbox.status` (online, paused,
blocked accounts) is published as ``OutboxChanged(reason="status")`` with no item ids.

Time comes from the injected ``clock`` and waits from the injected ``sleep``, so tests run the
whole state machine without real waiting.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import random
import socket
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from console.changes import CustomersChanged, EventBus, InboxChanged, MessagesChanged, OutboxChanged
from console.errors import (
    AuthenticationError,
    ChannelError,
    ConsoleError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
)
from console.storage import outbox_repo as repo
from console.storage.db import Workspace
from console.storage.outbox_repo import OutboxItem
from services.channels.base import ChannelAdapter, OutgoingReply

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
AdapterFactory = Callable[[int], ChannelAdapter]
Retriage = Callable[[Workspace, Iterable[int]], Any]

#: Spacing between two public replies of one account when the adapter declares no rate.
PUBLIC_PACE_S = 1.0
#: How long after an unknown outcome the channel is asked whether the reply arrived.
RECONCILE_DELAY_S = 5.0
#: After this many failed look-ups an unknown reply is left to the agent.
MAX_RECONCILE_TRIES = 6
#: A Retry-After longer than this is treated as this (a broken header must not park replies a week).
MAX_RETRY_AFTER_S = 6 * 3600.0

_NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.ENETDOWN,
    errno.EHOSTDOWN,
}


def is_connection_failure(exc: BaseException) -> bool:
    """True when the error (or what caused it) means the channel could not be reached at all:
    nothing was sent, and the network (or the host) is down."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "offline", False):
            return True
        if isinstance(current, httpx.ConnectError | httpx.ConnectTimeout | socket.gaierror):
            return True
        if isinstance(current, ConnectionRefusedError):
            return True
        if isinstance(current, OSError) and current.errno in _NETWORK_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


def _plural(n: int, word: str = "reply", many: str = "replies") -> str:
    return f"{n} {word if n == 1 else many}"


class SenderLease:
    """One sending process per workspace: an OS lock on a file beside the workspace.

    Two workers on one workspace (the window and ``agent-console send``) would each take the
    other's in-flight items for interrupted ones and could send them twice. The OS releases the
    lock when its process ends, however it ends (even SIGKILL), so a restart after a crash gets it
    at once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> bool:
        if self._file is not None:
            return True
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for the lease's lifetime
        try:
            _lock_file(handle)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the lock
            self._file = None


def _lock_file(handle: Any) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


@dataclass(frozen=True, slots=True)
class AccountState:
    """What the outbox knows about one account's queue (for the status line and tooltips)."""

    account_id: int
    paused_until: float | None = None  # rate limited (or probing while unreachable)
    unreachable: bool = False
    blocked: str | None = None  # why the account holds its replies (credentials, set-up)


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    online: bool
    waiting: int  # queued or being sent
    unknown: int  # need a look-up or the agent
    failed: int
    accounts: tuple[AccountState, ...] = ()
    standby: bool = False  # another process sends this workspace's replies

    @property
    def message(self) -> str:
        """One line for the window's status bar."""
        parts = []
        if self.standby:
            parts.append("Another Agent Console is sending this workspace's replies")
        if not self.online:
            parts.append(f"Offline: {_plural(self.waiting)} waiting")
        elif self.waiting:
            parts.append(f"{_plural(self.waiting)} waiting")
        if any(a.blocked for a in self.accounts):
            parts.append("an account holds its replies (check its credentials)")
        elif any(a.paused_until and not a.unreachable for a in self.accounts):
            parts.append("paused by a channel's rate limit")
        if self.unknown:
            parts.append(f"{_plural(self.unknown)} to check")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return "; ".join(parts) if parts else "All replies sent"

    def to_json(self) -> dict[str, Any]:
        return {
            "online": self.online,
            "standby": self.standby,
            "waiting": self.waiting,
            "unknown": self.unknown,
            "failed": self.failed,
            "message": self.message,
            "accounts": [
                {
                    "account_id": a.account_id,
                    "paused_until": a.paused_until,
                    "unreachable": a.unreachable,
                    "blocked": a.blocked,
                }
                for a in self.accounts
            ],
        }


@dataclass(slots=True)
class _Account:
    adapter: ChannelAdapter | None = None
    last_send: float | None = None
    paused_until: float = 0.0
    unreachable: bool = False
    probe_delay: float = 0.0
    held: set[int] = field(default_factory=set)  # items waiting for the network
    blocked: str | None = None
    worker: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Pending:
    """An unknown item to look up on its channel."""

    account_id: int
    at: float
    tries: int = 0


@dataclass(slots=True)
class RunSummary:
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    retried: int = 0
    reconciled: int = 0
    items: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "unknown": self.unknown,
            "retried": self.retried,
            "reconciled": self.reconciled,
        }


class Outbox:
    """The worker over one workspace's outbox. Use from the workspace's (event loop's) thread.

    ``adapters(account_id)`` builds (or returns) the adapter of an account; it is called once per
    account and may raise a ``ConsoleError`` (no credentials...), which holds that account.
    ``pace`` is the minimum spacing in seconds between two sends of one account; by default
    ``1 / limits.requests_per_second``, else 1 s between public replies (so copying an answer to
    every duplicate does not burst on the channel). ``idle_poll`` bounds how long :meth:`run`
    sleeps without a :meth:`notify`, for replies queued by another process (None: never).
    Only one process sends per workspace (:class:`SenderLease`): a second one stands by
    (``status.standby``) and takes over when the first ends. :meth:`close` gives the lease up.
    """

    def __init__(
        self,
        ws: Workspace,
        adapters: AdapterFactory,
        clock: Clock,
        bus: EventBus,
        *,
        sleep: Sleep = asyncio.sleep,
        pace: float | None = None,
        max_attempts: int = 8,
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        probe_cap: float = 60.0,
        jitter: Callable[[], float] = random.random,
        reconcile_delay: float = RECONCILE_DELAY_S,
        retriage: Retriage | None = None,
        idle_poll: float | None = 30.0,
        lease: SenderLease | None = None,
    ) -> None:
        self.ws = ws
        self.adapters = adapters
        self.clock = clock
        self.bus = bus
        self.sleep = sleep
        self.pace = pace
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.probe_cap = probe_cap
        self.jitter = jitter
        self.reconcile_delay = reconcile_delay
        if retriage is None:
            from console.triage.engine import retriage_customers

            retriage = retriage_customers
        self.retriage = retriage
        self.idle_poll = idle_poll
        self.lease = lease or SenderLease(ws.path.with_name(ws.path.name + ".sender-lock"))
        self._accounts: dict[int, _Account] = {}
        self._pending: dict[int, _Pending] = {}
        self._wake = asyncio.Event()
        self._started = False
        self._standby_logged = False
        self._stopping = False
        self._last_status: OutboxStatus | None = None
        self.summary = RunSummary()

    # -- public ----------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """False while some account cannot be reached (its replies wait for the network)."""
        return not any(a.unreachable for a in self._accounts.values())

    @property
    def status(self) -> OutboxStatus:
        counts = repo.counts_by_state(self.ws)
        accounts = tuple(
            AccountState(
                account_id=aid,
                paused_until=a.paused_until if a.paused_until > self.clock() else None,
                unreachable=a.unreachable,
                blocked=a.blocked,
            )
            for aid, a in sorted(self._accounts.items())
            if a.unreachable or a.blocked or a.paused_until > self.clock()
        )
        return OutboxStatus(
            online=self.online,
            waiting=counts.get("queued", 0) + counts.get("sending", 0),
            unknown=counts.get("unknown", 0),
            failed=counts.get("failed", 0),
            accounts=accounts,
            standby=self._started and not self.lease.held,
        )

    def notify(self) -> None:
        """Something was enqueued (or retried): look at the queue now."""
        self._wake.set()

    def network_available(self) -> None:
        """The system says the network is back: probe unreachable accounts at once."""
        now = self._now_s()
        for state in self._accounts.values():
            if state.unreachable:
                state.paused_until = 0.0
                state.probe_delay = 0.0
                for item_id in list(state.held):
                    repo.reschedule(self.ws, item_id, now, "waiting for the network", now)
        self.notify()

    def resume_account(self, account_id: int) -> None:
        """Credentials were fixed (or the adapter set up): build the adapter again and send."""
        state = self._accounts.pop(account_id, None)
        if state is not None and state.worker is not None and not state.worker.done():
            self._accounts[account_id] = _Account(worker=state.worker)
        self._publish_status()
        self.notify()

    def retry(self, item_id: int) -> None:
        """An agent asks to send a failed (or unreconcilable) reply again."""
        item = repo.get_item(self.ws, item_id)
        repo.retry(self.ws, item_id, self._now_s())
        self._pending.pop(item_id, None)
        self._publish_item(item)
        self.notify()

    def confirm_sent(self, item_id: int, remote_id: str | None = None) -> None:
        """An agent found an ``unknown`` reply on the channel: record it as sent (no resend)."""
        item = repo.get_item(self.ws, item_id)
        if item.state != "unknown":
            raise ConsoleError(f"reply {item_id} is {item.state}: only unknown ones are confirmed")
        self._pending.pop(item_id, None)
        self._on_sent(item, remote_id or f"confirmed:{item.idem_key}")
        self._publish_item(item)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def start(self) -> list[int]:
        """Take the sender lease, then recover after a crash: items left ``sending`` become
        ``unknown`` and every unknown item is queued for a look-up on its channel. Returns the
        interrupted ids. Without the lease (another process sends) nothing is touched."""
        if self._started and self.lease.held:
            return []
        self._started = True
        if not self.lease.acquire():
            if not self._standby_logged:
                log.warning("outbox: another process sends for %s; standing by", self.ws.path)
                self._standby_logged = True
                self._publish_status()
            return []
        self._standby_logged = False
        now = self._now_s()
        interrupted = repo.recover_interrupted(self.ws, now)
        if interrupted:
            log.warning("%s interrupted while sending: checking them", _plural(len(interrupted)))
        for item in repo.items_in_state(self.ws, "unknown", limit=100_000):
            self._pending[item.id] = _Pending(item.account_id, self.clock())
        for item_id in interrupted:
            self._publish_item(repo.get_item(self.ws, item_id))
        self._publish_status()
        return interrupted

    def close(self) -> None:
        """Give the sender lease up (the window closes, the command ends)."""
        self.stop()
        self.lease.release()

    async def send_once(self) -> dict[str, Any]:
        """Send (and reconcile) everything due now, concurrently per account, then return a
        summary: this run's counts and the outbox status."""
        await self.start()
        if not self.lease.held:
            return {**RunSummary().to_json(), "status": self.status.to_json()}
        before = RunSummary(**{k: v for k, v in self.summary.to_json().items()})
        for _round in range(10_000):
            due = self._due_accounts()
            if not due:
                break
            await asyncio.gather(*(self._drain_account(aid) for aid in due))
        run = self.summary.to_json()
        delta = {k: run[k] - getattr(before, k) for k in run}
        return {**delta, "status": self.status.to_json()}

    async def run(self) -> None:
        """The forever loop: sends what is due, then sleeps until the next due time, a
        :meth:`notify`, or a worker finishing. Cancel the task (or :meth:`stop`) to end it."""
        await self.start()
        try:
            while not self._stopping:
                self._wake.clear()
                if not self.lease.held:
                    await self.start()  # take over when the other sender ends
                    if not self.lease.held:
                        await self._wait(self.idle_poll or 5.0)
                        continue
                spawned = self._spawn_workers()
                delay = self._next_wake_in()
                if delay is not None and delay <= 0 and not spawned:
                    delay = 0.05  # never spin: something due could not start (e.g. a race)
                if self.idle_poll is not None:
                    # another process (the CLI, a second window) may enqueue without notify()
                    delay = self.idle_poll if delay is None else min(delay, self.idle_poll)
                await self._wait(delay)
        finally:
            workers = [a.worker for a in self._accounts.values() if a.worker is not None]
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    # -- scheduling ------------------------------------------------------------------------

    def _now_s(self) -> int:
        return int(self.clock())

    def _state(self, account_id: int) -> _Account:
        state = self._accounts.get(account_id)
        if state is None:
            state = self._accounts[account_id] = _Account()
        return state

    def _account_ready_at(self, account_id: int, due: float | None) -> float | None:
        """When this account can next do something, or None (nothing to do, or held)."""
        state = self._state(account_id)
        if state.blocked:
            return None
        times = [p.at for p in self._pending.values() if p.account_id == account_id]
        if due is not None:
            times.append(due)
        if not times:
            return None
        return max(min(times), state.paused_until)

    def _candidates(self) -> dict[int, float]:
        due = repo.due_by_account(self.ws)
        ids = set(due) | {p.account_id for p in self._pending.values()}
        out = {}
        for aid in ids:
            at = self._account_ready_at(aid, due.get(aid))
            if at is not None:
                out[aid] = at
        return out

    def _due_accounts(self) -> list[int]:
        now = self.clock()
        return sorted(aid for aid, at in self._candidates().items() if at <= now)

    def _spawn_workers(self) -> bool:
        spawned = False
        for aid in self._due_accounts():
            state = self._state(aid)
            if state.worker is None or state.worker.done():
                state.worker = asyncio.ensure_future(self._drain_account(aid))
                state.worker.add_done_callback(self._worker_done)
                spawned = True
        return spawned

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox worker failed", exc_info=task.exception())
        self._wake.set()

    def _next_wake_in(self) -> float | None:
        busy = {aid for aid, a in self._accounts.items() if a.worker and not a.worker.done()}
        times = [at for aid, at in self._candidates().items() if aid not in busy]
        if not times:
            return None
        return max(0.0, min(times) - self.clock())

    async def _wait(self, delay: float | None) -> None:
        waiter = asyncio.ensure_future(self._wake.wait())
        tasks: set[asyncio.Future[Any]] = {waiter}
        if delay is not None:
            tasks.add(asyncio.ensure_future(self.sleep(delay)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _spacing(self, adapter: ChannelAdapter, mode: str) -> float:
        if self.pace is not None:
            return self.pace
        rate = adapter.limits.requests_per_second
        if rate:
            return 1.0 / rate
        return PUBLIC_PACE_S if mode == "public" else 0.0

    # -- one account's queue ---------------------------------------------------------------

    def _adapter(self, account_id: int) -> ChannelAdapter | None:
        state = self._state(account_id)
        if state.adapter is None and not state.blocked:
            try:
                state.adapter = self.adapters(account_id)
            except ConsoleError as exc:
                state.blocked = f"cannot set up the account: {exc}"
                log.warning("outbox: account %d held: %s", account_id, exc)
                self._publish_status()
        return state.adapter

    async def _drain_account(self, account_id: int) -> None:
        """Reconcile, then send, this account's due items one by one, paced."""
        state = self._state(account_id)
        while not self._stopping:
            adapter = self._adapter(account_id)
            if adapter is None or state.blocked or state.paused_until > self.clock():
                return
            pending = self._due_pending(account_id)
            if pending is not None:
                await self._reconcile(adapter, pending)
                continue
            nxt = repo.peek_due(self.ws, self._now_s(), account_id)
            if nxt is None:
                return
            if await self._pace(state, adapter, nxt.mode):
                continue  # time passed: look again (a reconcile may be due, a pause may apply)
            items = repo.claim_due(self.ws, self._now_s(), account_id=account_id, limit=1)
            if not items:
                return
            await self._send(adapter, items[0])

    def _due_pending(self, account_id: int) -> int | None:
        now = self.clock()
        due = [
            (p.at, item_id)
            for item_id, p in self._pending.items()
            if p.account_id == account_id and p.at <= now
        ]
        return min(due)[1] if due else None

    async def _pace(self, state: _Account, adapter: ChannelAdapter, mode: str) -> bool:
        """Wait out the account's spacing since its last send; True if it waited."""
        if state.last_send is None:
            return False
        wait = state.last_send + self._spacing(adapter, mode) - self.clock()
        if wait <= 0:
            return False
        await self.sleep(wait)
        return True

    # -- sending ---------------------------------------------------------------------------

    def build_reply(self, item: OutboxItem) -> OutgoingReply:
        """The adapter's view of an item: addressed and threaded from the workspace, with the
        payload's explicit choices (recipient, thread, subject, extra) taking precedence."""
        ctx = repo.reply_context(self.ws, item.id)
        payload = item.payload
        extra = {
            str(k): str(v)
            for k, v in payload.items()
            if k not in repo.RESERVED_PAYLOAD_KEYS and isinstance(v, str | int | float | bool)
        }
        if isinstance(payload.get("extra"), dict):
            extra.update({str(k): str(v) for k, v in payload["extra"].items()})
        if ctx.last_inbound_at is not None:
            # Messenger, Instagram and WhatsApp check their 24-hour window before sending
            extra.setdefault("last_inbound_at", str(ctx.last_inbound_at))
        subject = payload.get("subject") or ctx.subject
        if subject and ctx.channel == "email" and not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        return OutgoingReply(
            idempotency_key=item.idem_key,
            text=item.text,
            mode=item.mode,
            recipient=payload.get("recipient") or ctx.recipient,
            in_reply_to=ctx.in_reply_to,
            thread=payload.get("thread") or ctx.thread,
            subject=subject,
            references=ctx.references,
            extra=extra,
        )

    async def _send(self, adapter: ChannelAdapter, item: OutboxItem) -> None:
        state = self._state(item.account_id)
        state.last_send = self.clock()
        try:
            reply = self.build_reply(item)
            result = await adapter.send(reply)
        except asyncio.CancelledError:
            # stopped mid-send: the request may have left
            repo.mark_unknown(self.ws, item.id, "stopped while sending", self._now_s())
            raise
        except Exception as exc:  # noqa: BLE001 - every outcome must land in a state
            self._on_send_error(item, exc)
        else:
            self._on_sent(item, result.remote_id)
        self._publish_item(item)

    def _on_sent(self, item: OutboxItem, remote_id: str) -> None:
        repo.mark_sent(self.ws, item.id, remote_id, self._now_s())
        self.summary.sent += 1
        self.summary.items.append(item.id)
        state = self._state(item.account_id)
        state.held.discard(item.id)
        if state.unreachable:
            state.unreachable = False
            state.probe_delay = 0.0
            state.paused_until = 0.0
            for held in list(state.held):
                repo.reschedule(
                    self.ws, held, self._now_s(), "waiting for the network", self._now_s()
                )
            state.held.clear()
            log.info("outbox: account %d reachable again", item.account_id)
            self._publish_status()
        self._retriage(item)

    def _on_send_error(self, item: OutboxItem, exc: Exception) -> None:
        now = self._now_s()
        state = self._state(item.account_id)
        if isinstance(exc, RateLimitedError):
            wait = min(max(float(exc.retry_after), 1.0), MAX_RETRY_AFTER_S)
            until = math.ceil(self.clock() + wait)
            message = f"rate limited: waiting {wait:.0f} s ({exc})"
            repo.defer(self.ws, item.id, until, message, now)
            for other in repo.defer_account(self.ws, item.account_id, until, message, now):
                self.bus.publish(OutboxChanged(item_ids=frozenset({other}), reason="rate limited"))
            state.paused_until = until
            self.summary.retried += 1
            log.info("outbox: account %d rate limited for %.0f s", item.account_id, wait)
            self._publish_status()
        elif isinstance(exc, AuthenticationError):
            repo.mark_failed(self.ws, item.id, f"credentials rejected: {exc}", now)
            state.blocked = f"credentials rejected: {exc}"
            self.summary.failed += 1
            self._publish_status()
        elif isinstance(exc, RejectedError):
            repo.mark_failed(self.ws, item.id, f"refused by the channel: {exc}", now)
            self.summary.failed += 1
        elif isinstance(exc, UnknownOutcomeError):
            self._to_unknown(item, f"no answer from the channel: {exc}")
        elif isinstance(exc, TransientError) and is_connection_failure(exc):
            self._unreachable(item, exc)
        elif isinstance(exc, TransientError):
            self._backoff(item, exc)
        elif isinstance(exc, ChannelError):
            repo.mark_failed(self.ws, item.id, f"{type(exc).__name__}: {exc}", now)
            self.summary.failed += 1
        else:
            # a bug in an adapter: the request may have left, so treat it like no answer
            log.error("outbox: adapter error on item %d", item.id, exc_info=exc)
            self._to_unknown(item, f"unexpected error: {type(exc).__name__}: {exc}")

    def _to_unknown(self, item: OutboxItem, message: str) -> None:
        repo.mark_unknown(
            self.ws, item.id, f"{message}; checking whether it arrived", self._now_s()
        )
        self._pending[item.id] = _Pending(item.account_id, self.clock() + self.reconcile_delay)
        self.summary.unknown += 1

    def _backoff(self, item: OutboxItem, exc: Exception) -> None:
        now = self._now_s()
        attempts = item.attempts
        if attempts >= self.max_attempts:
            repo.mark_failed(
                self.ws,
                item.id,
                f"gave up after {_plural(attempts, 'attempt', 'attempts')}: {exc}",
                now,
            )
            self.summary.failed += 1
            return
        delay = self._backoff_delay(attempts)
        repo.reschedule(
            self.ws,
            item.id,
            math.ceil(self.clock() + delay),
            f"attempt {attempts} failed, retrying in {delay:.0f} s: {exc}",
            now,
        )
        self.summary.retried += 1

    def _backoff_delay(self, attempts: int) -> float:
        """Exponential with "equal jitter": half fixed, half random, so retries spread out."""
        raw = min(self.backoff_cap, self.backoff_base * 2.0 ** max(0, attempts - 1))
        return raw / 2 + raw / 2 * self.jitter()

    def _unreachable(self, item: OutboxItem, exc: Exception) -> None:
        state = self._state(item.account_id)
        was_online = self.online
        state.unreachable = True
        state.probe_delay = min(self.probe_cap, max(1.0, state.probe_delay * 2))
        state.paused_until = self.clock() + state.probe_delay
        state.held.add(item.id)
        repo.defer(
            self.ws,
            item.id,
            math.ceil(state.paused_until),
            f"cannot reach the channel, will try again: {exc}",
            self._now_s(),
        )
        self.summary.retried += 1
        if was_online:
            log.warning("outbox: offline (account %d unreachable: %s)", item.account_id, exc)
        self._publish_status()

    # -- reconciling unknown outcomes ------------------------------------------------------

    async def _reconcile(self, adapter: ChannelAdapter, item_id: int) -> None:
        pending = self._pending[item_id]
        try:
            item = repo.get_item(self.ws, item_id)
        except ConsoleError:
            self._pending.pop(item_id, None)
            return
        if item.state != "unknown":  # an agent retried it or marked it meanwhile
            self._pending.pop(item_id, None)
            return
        if not adapter.capabilities.reconcile:
            self._needs_agent(item, f"{adapter.channel.label} cannot be searched for sent replies")
            return
        pending.tries += 1
        try:
            found = await adapter.find_sent(self.build_reply(item))
        except NotImplementedError:
            self._needs_agent(item, f"{adapter.channel.label} cannot be searched for sent replies")
            return
        except AuthenticationError as exc:
            self._needs_agent(item, f"could not check (credentials rejected: {exc})")
            return
        except (RateLimitedError, TransientError, UnknownOutcomeError) as exc:
            self._reconcile_later(item, pending, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a failed look-up must not lose the item
            self._needs_agent(item, f"could not check ({type(exc).__name__}: {exc})")
            return
        self._pending.pop(item_id, None)
        self.summary.reconciled += 1
        if found is not None:
            log.info("outbox: item %d had arrived (%s)", item_id, found.remote_id)
            self._on_sent(item, found.remote_id)
        else:
            log.info("outbox: item %d had not arrived: sending it again", item_id)
            repo.retry(self.ws, item_id, self._now_s())
        self._publish_item(item)

    def _reconcile_later(self, item: OutboxItem, pending: _Pending, exc: Exception) -> None:
        if pending.tries >= MAX_RECONCILE_TRIES:
            self._needs_agent(item, f"could not check after {pending.tries} tries ({exc})")
            return
        wait = self._backoff_delay(pending.tries + 1)
        if isinstance(exc, RateLimitedError):
            wait = max(wait, min(float(exc.retry_after), MAX_RETRY_AFTER_S))
        if isinstance(exc, TransientError) and is_connection_failure(exc):
            state = self._state(item.account_id)
            if not state.unreachable:
                state.unreachable = True
                self._publish_status()
            state.probe_delay = min(self.probe_cap, max(1.0, state.probe_delay * 2))
            wait = state.probe_delay
        pending.at = self.clock() + wait

    def _needs_agent(self, item: OutboxItem, why: str) -> None:
        self._pending.pop(item.id, None)
        message = (
            f"may or may not have been sent: {why}. Look on the channel: if it is not there, "
            "retry it; if it is, confirm it as sent"
        )
        repo.mark_unknown(self.ws, item.id, message, self._now_s())
        self._publish_item(item)

    # -- after a change --------------------------------------------------------------------

    def _retriage(self, item: OutboxItem) -> None:
        customer = repo.customer_of_item(self.ws, item.id)
        if customer is None:
            return
        try:
            report = self.retriage(self.ws, [customer])
        except Exception:  # triage must never undo a sent reply (logged with the trace)
            log.exception("retriage after a sent reply failed")
            return
        conversations = frozenset(getattr(report, "conversation_ids", ()) or ())
        self.bus.publish(
            CustomersChanged(customer_ids=frozenset({customer}), reason="reply sent", source=self)
        )
        if conversations:
            self.bus.publish(
                InboxChanged(conversation_ids=conversations, reason="reply sent", source=self)
            )

    def _publish_item(self, item: OutboxItem) -> None:
        ids = frozenset({item.id})
        conversations = frozenset({item.conversation_id})
        self.bus.publish(OutboxChanged(item_ids=ids, reason="delivery", source=self))
        self.bus.publish(
            MessagesChanged(
                message_ids=frozenset({item.message_id}),
                conversation_ids=conversations,
                reason="delivery",
                source=self,
            )
        )
        self.bus.publish(
            InboxChanged(conversation_ids=conversations, reason="delivery", source=self)
        )

    def _publish_status(self) -> None:
        status = self.status
        if status != self._last_status:
            self._last_status = status
            self.bus.publish(OutboxChanged(reason="status", source=self))
