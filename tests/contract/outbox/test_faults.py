"""Network faults over real loopback sockets: a connection dropped mid-request, 500 and 429 storms,
an answer stalled past the timeout, and the network going away and coming back."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from console.changes import EventBus, OutboxChanged
from console.storage.db import Workspace
from services.outbox import Outbox
from tests.contract.outbox.loopback import LoopbackAdapter, LoopbackChannel
from tests.unit.outbox.conftest import FakeClock, Recorder, account_id, queue_replies, seed_posts


@pytest.fixture
def channel() -> Iterator[LoopbackChannel]:
    server = LoopbackChannel().start()
    yield server
    server.stop()


OPEN: list[Outbox] = []


@pytest.fixture(autouse=True)
def _close_outboxes() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def fast_outbox(ws: Workspace, adapters: dict[int, LoopbackAdapter], **kw: Any) -> Outbox:
    kw.setdefault("reconcile_delay", 0.02)
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_cap", 0.05)
    kw.setdefault("retriage", lambda ws, ids: None)
    import time

    outbox = Outbox(
        ws, adapters.__getitem__, kw.pop("clock", time.time), kw.pop("bus", EventBus()), **kw
    )
    OPEN.append(outbox)
    return outbox


async def drain(
    outbox: Outbox, ws: Workspace, timeout: float = 15.0, clock: FakeClock | None = None
) -> None:
    """send_once until nothing is waiting or unresolved; with a virtual ``clock``, each round
    moves it one second on (backoffs are scheduled in whole seconds)."""
    from console.storage import outbox_repo

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await outbox.send_once()
        counts = outbox_repo.counts_by_state(ws)
        if not any(counts.get(s) for s in ("queued", "sending")) and not outbox._pending:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"outbox did not settle: {counts}")
        if clock is not None:
            clock.t += 1
        else:
            await asyncio.sleep(0.02)


def states(ws: Workspace) -> list[str]:
    return [str(r["state"]) for r in ws.query("SELECT state FROM outbox ORDER BY id")]


@pytest.mark.parametrize("drop", ["drop", "deliver_then_drop"])
def test_connection_dropped_mid_request(
    workspace: Workspace, channel: LoopbackChannel, aio, drop: str
) -> None:
    items = queue_replies(workspace, seed_posts(workspace, 2))
    channel.plan = lambda n, body: drop if n == 0 else None

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            adapters = {
                account_id(workspace): LoopbackAdapter(channel.url, "acme", client, rps=1000.0)
            }
            await drain(fast_outbox(workspace, adapters), workspace)

    aio(scenario())
    assert states(workspace) == ["sent", "sent"]
    assert set(channel.counts().values()) == {1} and len(channel.counts()) == len(items)
    assert channel.lookups == 1  # the dropped one was reconciled, never blindly resent
    # whether it had arrived decides whether it went again
    assert channel.posts == (3 if drop == "drop" else 2)


def test_500_storm_is_retried_with_backoff_then_sent(
    workspace: Workspace, channel: LoopbackChannel, aio
) -> None:
    (item,) = queue_replies(workspace, seed_posts(workspace, 1))
    channel.plan = lambda n, body: ("status", 500, {}) if n < 4 else None
    clock = FakeClock()

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            adapter = LoopbackAdapter(channel.url, "acme", client, rps=1000.0, clock=clock)
            outbox = fast_outbox(
                workspace,
                {account_id(workspace): adapter},
                clock=clock,
                sleep=clock.sleep,
                backoff_base=2.0,
                backoff_cap=600.0,
                jitter=lambda: 1.0,
            )
            await drain(outbox, workspace, clock=clock)
            gaps = [y - x for x, y in zip(adapter.send_times, adapter.send_times[1:], strict=False)]
            assert gaps == sorted(gaps) and gaps[0] >= 2 and gaps[-1] >= 16  # 2, 4, 8, 16 s

    aio(scenario())
    row = workspace.query_one("SELECT state, attempts FROM outbox WHERE id = ?", (item,))
    assert row == {"state": "sent", "attempts": 5}
    assert channel.counts() == {workspace.scalar("SELECT idem_key FROM outbox"): 1}


def test_endless_500s_fail_after_max_attempts(
    workspace: Workspace, channel: LoopbackChannel, aio
) -> None:
    queue_replies(workspace, seed_posts(workspace, 1))
    channel.plan = lambda n, body: ("status", 503, {})
    clock = FakeClock()

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            adapters = {
                account_id(workspace): LoopbackAdapter(channel.url, "acme", client, rps=1000.0)
            }
            outbox = fast_outbox(
                workspace, adapters, max_attempts=4, clock=clock, sleep=clock.sleep
            )
            await drain(outbox, workspace, clock=clock)

    aio(scenario())
    row = workspace.query_one("SELECT state, last_error FROM outbox")
    assert row is not None and row["state"] == "failed"
    assert "gave up after 4 attempts" in row["last_error"] and "503" in row["last_error"]
    assert channel.posts == 4 and not channel.deliveries


def test_429_storm_pauses_only_that_account_for_retry_after(
    workspace: Workspace, channel: LoopbackChannel, aio
) -> None:
    a_items = queue_replies(workspace, seed_posts(workspace, 2, account="acme", prefix="a"))
    b_items = queue_replies(workspace, seed_posts(workspace, 3, account="other", prefix="b"))
    throttled = {"n": 0}

    def plan(n: int, body: dict[str, Any]) -> Any:
        if body["account"] == "acme" and throttled["n"] < 3:
            throttled["n"] += 1
            return ("status", 429, {"Retry-After": "7"})
        return None

    channel.plan = plan
    clock = FakeClock()

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            a = LoopbackAdapter(channel.url, "acme", client, clock=clock, rps=100.0)
            b = LoopbackAdapter(channel.url, "other", client, clock=clock, rps=100.0)
            adapters = {account_id(workspace, "acme"): a, account_id(workspace, "other"): b}
            outbox = fast_outbox(workspace, adapters, clock=clock, sleep=clock.sleep)
            await outbox.send_once()
            # the other account was not held up by acme's 429
            assert states(workspace)[len(a_items) :] == ["sent"] * len(b_items)
            assert states(workspace)[: len(a_items)] == ["queued"] * len(a_items)
            await drain(outbox, workspace, clock=clock)
            gaps = [y - x for x, y in zip(a.send_times, a.send_times[1:], strict=False)]
            assert len(a.send_times) == 5  # 3 throttled tries + 2 sends
            assert all(g >= 7 for g in gaps[:3])  # Retry-After honoured every time

    aio(scenario())
    assert states(workspace) == ["sent"] * 5
    rows = workspace.query("SELECT attempts FROM outbox ORDER BY id")
    assert [r["attempts"] for r in rows[: len(a_items)]] == [1, 1]  # 429s are not attempts
    assert set(channel.counts().values()) == {1}


def test_answer_stalled_past_the_timeout_is_reconciled(
    workspace: Workspace, channel: LoopbackChannel, aio
) -> None:
    queue_replies(workspace, seed_posts(workspace, 2))
    channel.plan = lambda n, body: ("stall", 1.5) if n == 0 else None

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as client:
            adapters = {
                account_id(workspace): LoopbackAdapter(channel.url, "acme", client, rps=1000.0)
            }
            await drain(fast_outbox(workspace, adapters), workspace)

    aio(scenario())
    assert states(workspace) == ["sent", "sent"]
    assert channel.posts == 2  # the stalled one was found on the channel, not sent again
    assert set(channel.counts().values()) == {1}
    first = workspace.query_one("SELECT remote_id FROM outbox ORDER BY id LIMIT 1")
    assert first == {"remote_id": "srv-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_offline_then_online_drains_the_queue(workspace: Workspace, aio) -> None:
    items = queue_replies(workspace, seed_posts(workspace, 3))
    port = free_port()  # nothing listens yet: connection refused, as when the network is down
    bus = EventBus()
    events = Recorder(bus)
    servers: list[LoopbackChannel] = []

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=1.0) as client:
            adapter = LoopbackAdapter(f"http://127.0.0.1:{port}", "acme", client, rps=1000.0)
            outbox = fast_outbox(workspace, {account_id(workspace): adapter}, bus=bus)
            await outbox.send_once()
            assert outbox.online is False
            assert outbox.status.message.startswith("Offline: 3 replies waiting")
            assert states(workspace) == ["queued"] * 3
            servers.append(LoopbackChannel(port).start())  # the network is back
            task = asyncio.ensure_future(outbox.run())
            try:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 10
                while states(workspace) != ["sent"] * 3:
                    assert loop.time() < deadline, states(workspace)
                    await asyncio.sleep(0.02)
            finally:
                outbox.stop()
                await task
            assert outbox.online is True

    try:
        aio(scenario())
    finally:
        for server in servers:
            server.stop()
    (server,) = servers
    assert len(server.counts()) == len(items) and set(server.counts().values()) == {1}
    status_events = [c for c in events.of(OutboxChanged) if c.reason == "status"]
    assert len(status_events) >= 2  # went offline, came back
