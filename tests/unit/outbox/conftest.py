"""Helpers for the outbox and sync tests: a fake clock whose sleep advances it, a scripted adapter
that plays back outcomes and keeps a "server side" record, and a seeded workspace."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from console.changes import Change, EventBus
from console.domain import Channel, Direction, IncomingMessage
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from console.storage.outbox_repo import enqueue_reply
from services.channels.base import Capabilities, FetchResult, Limits, OutgoingReply, SendResult
from services.outbox import Outbox

T0 = 1_764_600_000.0


class FakeClock:
    """Virtual time: ``clock()`` reads it; ``await clock.sleep(s)`` parks the caller until virtual
    time reaches its deadline. Time jumps to the earliest deadline once the other tasks have had
    a few loop turns to run, so concurrent sleepers (two accounts pacing) keep their own spacing."""

    SETTLE_TURNS = 20

    def __init__(self, start: float = T0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._ticking = False

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiters, (self.t + max(0.0, seconds), next(self._seq), fut))
        self._tick_soon(loop)
        await fut

    def _tick_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._ticking:
            self._ticking = True
            loop.call_soon(self._tick, loop, self.SETTLE_TURNS)

    def _tick(self, loop: asyncio.AbstractEventLoop, turns: int) -> None:
        if turns:
            loop.call_soon(self._tick, loop, turns - 1)
            return
        self._ticking = False
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)  # cancelled sleeps
        if not self._waiters:
            return
        deadline, _, fut = heapq.heappop(self._waiters)
        self.t = max(self.t, deadline)
        fut.set_result(None)
        if self._waiters:
            self._tick_soon(loop)


Outcome = BaseException | Callable[[OutgoingReply], Any] | None


@dataclass
class ScriptedAdapter:
    """Plays back ``script`` (an exception to raise, None to succeed) for each send in turn, then
    succeeds. ``delivered`` is what the "channel" really has: sends that raise ``UnknownOutcome``
    with ``deliver_on_unknown`` still land there, as when the answer is lost on the way back."""

    channel: Channel = Channel.X
    account: str = "acme"
    script: list[Outcome] = field(default_factory=list)
    rps: float | None = 1000.0
    reconcile: bool = True
    deliver_on_unknown: bool = False
    clock: FakeClock | None = None
    find_errors: list[BaseException] = field(default_factory=list)
    sends: list[tuple[float, OutgoingReply]] = field(default_factory=list)
    delivered: dict[str, str] = field(default_factory=dict)
    lookups: int = 0

    @property
    def limits(self) -> Limits:
        return Limits(280, "x_weighted", requests_per_second=self.rps)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(public_reply=True, private_message=True, reconcile=self.reconcile)

    async def fetch(self, cursor: dict[str, str]) -> FetchResult:
        return FetchResult([], cursor)

    async def send(self, reply: OutgoingReply) -> SendResult:
        self.sends.append((self.clock() if self.clock else 0.0, reply))
        await asyncio.sleep(0)
        outcome = self.script.pop(0) if self.script else None
        from console.errors import UnknownOutcomeError

        if isinstance(outcome, UnknownOutcomeError) and self.deliver_on_unknown:
            self.delivered[reply.idempotency_key] = f"r{len(self.delivered) + 1}"
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            outcome(reply)
        remote = self.delivered.setdefault(reply.idempotency_key, f"r{len(self.delivered) + 1}")
        return SendResult(remote)

    async def find_sent(self, reply: OutgoingReply) -> SendResult | None:
        self.lookups += 1
        if self.find_errors:
            raise self.find_errors.pop(0)
        remote = self.delivered.get(reply.idempotency_key)
        return None if remote is None else SendResult(remote)

    async def test(self) -> str:
        return "scripted"

    def sent_keys(self) -> list[str]:
        return [r.idempotency_key for _, r in self.sends]


class Recorder:
    def __init__(self, bus: EventBus) -> None:
        self.changes: list[Change] = []
        bus.subscribe(Change, self.changes.append)

    def of(self, kind: type) -> list[Any]:
        return [c for c in self.changes if isinstance(c, kind)]


def seed_posts(
    ws: Workspace,
    n: int,
    *,
    channel: Channel = Channel.X,
    account: str = "acme",
    prefix: str = "t",
    author: str = "@cust",
) -> list[tuple[int, int]]:
    """``n`` inbound posts by different customers; returns (conversation id, message id) each."""
    records = [
        IncomingMessage(
            channel=channel,
            account=account,
            external_id=f"{prefix}{i}",
            direction=Direction.IN,
            author=f"{author}{i}",
            text=f"my order {i} never arrived",
            created_at=int(T0) - 600 + i,
            subject=f"Order {i}" if channel == Channel.EMAIL else None,
            extra={"references": [f"root{i}@example.org"]} if channel == Channel.EMAIL else {},
        )
        for i in range(n)
    ]
    Ingestor(ws).ingest(records)
    rows = ws.query(
        "SELECT conversation_id, id FROM messages WHERE channel = ? AND external_id LIKE ?"
        " ORDER BY id",
        (str(channel), f"{prefix}%"),
    )
    return [(int(r["conversation_id"]), int(r["id"])) for r in rows]


def queue_replies(
    ws: Workspace, posts: list[tuple[int, int]], *, mode: str = "public"
) -> list[int]:
    ids = []
    for conv, msg in posts:
        q = enqueue_reply(
            ws,
            conversation_id=conv,
            text=f"Sorry about that! ^CP ({msg})",
            now=int(T0),
            reply_to_message_id=msg,
            mode=mode,
        )
        ids.append(q.outbox_id)
    return ids


def account_id(ws: Workspace, name: str = "acme") -> int:
    return int(ws.scalar("SELECT id FROM accounts WHERE name = ?", (name,)))


@dataclass
class Harness:
    ws: Workspace
    clock: FakeClock
    bus: EventBus
    events: Recorder
    adapters: dict[int, ScriptedAdapter]
    retriaged: list[list[int]]
    workers: list[Outbox] = field(default_factory=list)

    def outbox(self, **kw: Any) -> Outbox:
        """A new worker; the previous one ends first (one sender per workspace)."""

        def factory(aid: int) -> Any:
            return self.adapters[aid]

        for old in self.workers:
            old.close()
        kw.setdefault("jitter", lambda: 0.5)
        kw.setdefault("retriage", lambda ws, ids: self.retriaged.append(list(ids)))
        outbox = Outbox(self.ws, factory, self.clock, self.bus, sleep=self.clock.sleep, **kw)
        self.workers.append(outbox)
        return outbox

    def states(self) -> dict[int, str]:
        return {
            int(r["id"]): str(r["state"]) for r in self.ws.query("SELECT id, state FROM outbox")
        }

    def item(self, item_id: int) -> dict[str, Any]:
        row = self.ws.query_one("SELECT * FROM outbox WHERE id = ?", (item_id,))
        assert row is not None
        return row


@pytest.fixture
def harness(workspace: Workspace) -> Iterator[Harness]:
    bus = EventBus()
    h = Harness(workspace, FakeClock(), bus, Recorder(bus), {}, [])
    yield h
    for outbox in h.workers:
        outbox.close()
