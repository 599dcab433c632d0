"""Sync loops against a paged test adapter and a real workspace file: cursors, exactly-once ingest
across a crash mid-page, live change events, typed-error handling and IDLE-or-poll waiting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from console.changes import CustomersChanged, EventBus, InboxChanged, MessagesChanged
from console.domain import Channel, Direction, IncomingMessage
from console.errors import AuthenticationError, RateLimitedError, TransientError
from console.storage import accounts as accounts_repo
from console.storage.db import Workspace
from services.channels.base import Capabilities, FetchResult, Limits
from services.sync import SyncChanged, SyncService
from tests.helpers.aio import until
from tests.unit.outbox.conftest import T0, FakeClock, Recorder


@dataclass
class PagedAdapter:
    """A channel with ``posts`` on its server, served ``page`` at a time after cursor ``pos``."""

    channel: Channel = Channel.X
    account: str = "acme"
    posts: list[IncomingMessage] = field(default_factory=list)
    page: int = 3
    errors: list[BaseException] = field(default_factory=list)
    cursors_seen: list[dict[str, str]] = field(default_factory=list)

    @property
    def limits(self) -> Limits:
        return Limits(280, "x_weighted")

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(public_reply=True)

    def add(self, n: int) -> None:
        start = len(self.posts)
        self.posts += [
            IncomingMessage(
                channel=self.channel,
                account=self.account,
                external_id=f"m{i}",
                direction=Direction.IN,
                author=f"@c{i % 4}",
                text=f"complaint number {i}",
                created_at=int(T0) + i,
            )
            for i in range(start, start + n)
        ]

    async def fetch(self, cursor: dict[str, str]) -> FetchResult:
        self.cursors_seen.append(dict(cursor))
        await asyncio.sleep(0)
        if self.errors:
            raise self.errors.pop(0)
        pos = int(cursor.get("pos", "0"))
        batch = self.posts[pos : pos + self.page]
        new_pos = pos + len(batch)
        return FetchResult(batch, {"pos": str(new_pos)}, more=new_pos < len(self.posts))

    async def send(self, reply: Any) -> Any:
        raise NotImplementedError

    async def find_sent(self, reply: Any) -> Any:
        return None

    async def test(self) -> str:
        return "paged"


@dataclass
class Env:
    ws: Workspace
    bus: EventBus
    clock: FakeClock
    events: Recorder
    adapter: PagedAdapter
    account_id: int

    def service(self, **kw: Any) -> SyncService:
        kw.setdefault("triage_hook", lambda ws, batch: None)
        kw.setdefault("jitter", lambda: 0.5)
        return SyncService(
            self.ws,
            lambda aid: self.adapter,
            self.bus,
            self.clock,
            sleep=self.clock.sleep,
            **kw,
        )

    def stored(self) -> list[str]:
        return [
            str(r["external_id"])
            for r in self.ws.query("SELECT external_id FROM messages ORDER BY external_id")
        ]


@pytest.fixture
def env(workspace: Workspace) -> Env:
    account = accounts_repo.add_account(workspace, channel="x", name="acme", kind="x")
    accounts_repo.add_account(workspace, channel="x", name="demo", kind="sandbox")
    accounts_repo.add_account(workspace, channel="phone", name="calls", kind="phone")
    bus = EventBus()
    adapter = PagedAdapter()
    return Env(workspace, bus, FakeClock(), Recorder(bus), adapter, account.id)


def test_pages_until_done_and_stores_the_cursor(env: Env, aio) -> None:
    env.adapter.add(7)
    summary = aio(env.service().sync_once())
    assert summary["added"] == 7
    assert [a["account"] for a in summary["accounts"]] == ["acme"]  # sandbox, phone skipped
    assert len(env.adapter.cursors_seen) == 3  # 3 + 3 + 1
    assert accounts_repo.get_cursor(env.ws, env.account_id) == {"pos": "7"}
    assert len(env.stored()) == 7
    # live: the new conversations are announced as added, with their messages and customers
    added = {c for e in env.events.of(InboxChanged) for c in e.added}
    convs = {int(r["id"]) for r in env.ws.query("SELECT id FROM conversations")}
    assert added == convs
    msgs = {m for e in env.events.of(MessagesChanged) for m in e.message_ids}
    assert msgs == {int(r["id"]) for r in env.ws.query("SELECT id FROM messages")}
    assert {c for e in env.events.of(CustomersChanged) for c in e.customer_ids}
    # nothing new: the stored cursor is passed back and nothing is announced
    env.events.changes.clear()
    again = aio(env.service().sync_once())
    assert again["added"] == 0
    assert env.adapter.cursors_seen[-1] == {"pos": "7"}
    assert not env.events.of(InboxChanged)


def test_a_crash_mid_sync_neither_loses_nor_doubles(env: Env, aio) -> None:
    env.adapter.add(8)
    pages = {"n": 0}

    def crashing_hook(ws: Workspace, batch: Any) -> None:
        pages["n"] += 1
        if pages["n"] == 2:  # dies while storing the second page, inside its transaction
            raise RuntimeError("power cut")

    summary = aio(env.service(triage_hook=crashing_hook).sync_once())
    assert summary["errors"] == 1
    assert env.stored() == ["m0", "m1", "m2"]  # page 1 and its cursor, page 2 not at all
    assert accounts_repo.get_cursor(env.ws, env.account_id) == {"pos": "3"}
    aio(env.service().sync_once())
    assert env.stored() == [f"m{i}" for i in range(8)]
    # a fetch repeated from an old cursor (as if it had been lost) adds nothing twice
    accounts_repo.set_cursor(env.ws, env.account_id, {})
    assert aio(env.service().sync_once())["added"] == 0
    assert env.stored() == [f"m{i}" for i in range(8)]


def test_a_big_page_is_stored_a_chunk_at_a_time_with_the_loop_running_between(
    env: Env, aio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop is the window's: it runs between chunks, and the cursor moves after the page."""
    import services.sync as sync_module

    monkeypatch.setattr(sync_module, "STORE_CHUNK", 4)
    env.adapter.add(10)
    env.adapter.page = 10
    observed: list[tuple[int, dict[str, str]]] = []

    async def scenario() -> None:
        done = asyncio.Event()

        async def watch() -> None:
            while not done.is_set():
                observed.append(
                    (len(env.stored()), accounts_repo.get_cursor(env.ws, env.account_id))
                )
                await asyncio.sleep(0)

        watcher = asyncio.ensure_future(watch())
        await env.service().sync_once()
        done.set()
        await watcher

    aio(scenario())
    counts = [n for n, _ in observed]
    assert {4, 8} <= set(counts)  # the loop ran after each chunk of 4
    assert all(cursor == {} for n, cursor in observed if n < 10)  # the cursor waits for the page
    assert len(env.events.of(InboxChanged)) == 3  # each chunk shows up at once
    assert accounts_repo.get_cursor(env.ws, env.account_id) == {"pos": "10"}

    # a crash in the second chunk keeps the first, leaves the cursor, and doubles nothing
    env.adapter.add(10)
    calls = {"n": 0}

    def crashing_hook(ws: Workspace, batch: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")

    summary = aio(env.service(triage_hook=crashing_hook).sync_once())
    assert summary["errors"] == 1
    assert len(env.stored()) == 14 and accounts_repo.get_cursor(env.ws, env.account_id) == {
        "pos": "10"
    }
    aio(env.service().sync_once())
    assert env.stored() == sorted(f"m{i}" for i in range(20))


def test_messages_are_triaged_as_they_arrive(env: Env, aio) -> None:
    seen: list[list[int]] = []
    env.adapter.add(4)
    aio(env.service(triage_hook=lambda ws, batch: seen.append(list(batch.message_ids))).sync_once())
    assert sum(len(s) for s in seen) == 4


def test_run_account_backs_off_on_transient_errors(env: Env, aio) -> None:
    env.adapter.add(2)
    env.adapter.errors = [TransientError("502"), TransientError("503")]
    service = env.service(backoff_base=5.0, poll_interval=60.0)

    async def scenario() -> None:
        task = asyncio.ensure_future(service.run_account(env.account_id))

        def synced() -> bool:  # stored, and the round finished (the page's cursor saved)
            status = service.account_status(env.account_id)
            return len(env.stored()) >= 2 and bool(status and status.state == "idle")

        await until(synced)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    aio(scenario())
    assert env.clock.sleeps[:2] == pytest.approx([3.75, 7.5])  # 5 s then 10 s, equal jitter 0.5
    status = service.account_status(env.account_id)
    assert status is not None and status.last_error is None and status.state == "idle"
    assert status.last_sync_at is not None
    assert env.events.of(SyncChanged)


def test_rate_limit_waits_retry_after(env: Env, aio) -> None:
    env.adapter.add(1)
    env.adapter.errors = [RateLimitedError("429", retry_after=120)]
    service = env.service()

    async def scenario() -> None:
        task = asyncio.ensure_future(service.run_account(env.account_id))
        await until(env.stored)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    aio(scenario())
    assert env.clock.sleeps[0] == pytest.approx(120)


def test_authentication_failure_stops_the_account_with_a_reason(env: Env, aio) -> None:
    env.adapter.errors = [AuthenticationError("bearer token revoked")]
    service = env.service()
    aio(service.run_account(env.account_id))  # returns by itself: a person must act
    status = service.account_status(env.account_id)
    assert status is not None
    assert status.state == "stopped"
    assert "bearer token revoked" in (status.last_error or "")


def test_idle_is_used_when_the_adapter_offers_it(env: Env, aio) -> None:
    waits: list[tuple[float, dict[str, str] | None]] = []

    async def wait_for_new(timeout: float, cursor: dict[str, str] | None = None) -> bool:
        waits.append((timeout, cursor))
        env.adapter.add(1)  # the server pushes EXISTS
        return True

    env.adapter.wait_for_new = wait_for_new  # type: ignore[attr-defined]
    env.adapter.add(1)
    service = env.service(poll_interval=300)

    async def scenario() -> None:
        task = asyncio.ensure_future(service.run_account(env.account_id))
        await until(lambda: len(env.stored()) >= 3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    aio(scenario())
    assert waits[0] == (300, {"pos": "1"})
    assert not env.clock.sleeps  # no polling sleep: IDLE woke it


def test_polls_without_idle(env: Env, aio) -> None:
    env.adapter.add(1)
    service = env.service(poll_interval=45)

    async def scenario() -> None:
        task = asyncio.ensure_future(service.run_account(env.account_id))

        def waiting_again() -> bool:  # the third round fetched, stored, and is waiting
            status = service.account_status(env.account_id)
            return len(env.adapter.cursors_seen) >= 3 and bool(status and status.next_attempt_at)

        await until(waiting_again)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    aio(scenario())
    assert env.clock.sleeps[:2] == [45, 45]
    status = service.account_status(env.account_id)
    assert status is not None and status.next_attempt_at is not None
