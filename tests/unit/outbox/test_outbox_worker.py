"""The outbox state machine with a fake clock and scripted adapters (no real waiting)."""

from __future__ import annotations

import asyncio
import errno

import httpx
import pytest

from console.changes import CustomersChanged, InboxChanged, MessagesChanged, OutboxChanged
from console.domain import Channel
from console.errors import (
    AuthenticationError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
)
from console.storage import outbox_repo
from services.outbox import is_connection_failure
from tests.helpers.aio import until
from tests.unit.outbox.conftest import (
    T0,
    Harness,
    ScriptedAdapter,
    account_id,
    queue_replies,
    seed_posts,
)


def offline_error() -> TransientError:
    try:
        raise httpx.ConnectError("[Errno 101] Network is unreachable")
    except httpx.ConnectError as exc:
        try:
            raise TransientError("cannot reach api.x.com") from exc
        except TransientError as wrapped:
            return wrapped


def setup(h: Harness, n: int = 3, **adapter_kw: object) -> tuple[ScriptedAdapter, list[int]]:
    posts = seed_posts(h.ws, n)
    items = queue_replies(h.ws, posts)
    adapter = ScriptedAdapter(clock=h.clock, **adapter_kw)  # type: ignore[arg-type]
    h.adapters[account_id(h.ws)] = adapter
    return adapter, items


def test_sends_each_reply_once_and_publishes_changes(harness: Harness, aio) -> None:
    adapter, items = setup(harness, 3)
    summary = aio(harness.outbox().send_once())
    assert summary["sent"] == 3
    assert set(harness.states().values()) == {"sent"}
    assert sorted(adapter.sent_keys()) == sorted(harness.item(i)["idem_key"] for i in items)
    for item_id in items:
        row = harness.item(item_id)
        assert row["remote_id"] == adapter.delivered[row["idem_key"]]
        delivery = harness.ws.scalar(
            "SELECT delivery FROM messages WHERE id = ?", (row["message_id"],)
        )
        ext = harness.ws.scalar(
            "SELECT external_id FROM messages WHERE id = ?", (row["message_id"],)
        )
        assert (delivery, ext) == ("sent", row["remote_id"])
    outbox_events = {i for c in harness.events.of(OutboxChanged) for i in c.item_ids}
    assert outbox_events == set(items)
    convs = {harness.item(i)["conversation_id"] for i in items}
    assert {c for e in harness.events.of(MessagesChanged) for c in e.conversation_ids} == convs
    assert {c for e in harness.events.of(InboxChanged) for c in e.conversation_ids} >= convs
    assert len(harness.retriaged) == 3  # breach flags clear after each answer
    assert harness.events.of(CustomersChanged)
    # the conversation counts as answered
    waiting = harness.ws.scalar(
        "SELECT count(*) FROM conversations WHERE waiting_since IS NOT NULL AND id IN"
        f" ({','.join(str(c) for c in convs)})"
    )
    assert waiting == 0


def test_reply_is_addressed_and_threaded_from_the_workspace(harness: Harness, aio) -> None:
    adapter, items = setup(harness, 1)
    aio(harness.outbox().send_once())
    ((_, reply),) = adapter.sends
    assert reply.in_reply_to == "t0"
    assert reply.recipient == "@cust0"
    assert reply.mode == "public"
    assert reply.idempotency_key == harness.item(items[0])["idem_key"]
    assert reply.text.startswith("Sorry about that!")
    assert reply.extra["last_inbound_at"] == str(int(T0) - 600)  # for 24-hour windows


def test_email_reply_carries_subject_and_references(harness: Harness, aio) -> None:
    posts = seed_posts(
        harness.ws, 1, channel=Channel.EMAIL, account="support", prefix="m", author="ann"
    )
    queue_replies(harness.ws, posts, mode="private")
    adapter = ScriptedAdapter(channel=Channel.EMAIL, account="support", clock=harness.clock)
    harness.adapters[account_id(harness.ws, "support")] = adapter
    aio(harness.outbox().send_once())
    ((_, reply),) = adapter.sends
    assert reply.subject == "Re: Order 0"
    assert reply.references == ("root0@example.org", "m0")
    assert reply.in_reply_to == "m0"
    assert reply.recipient == "ann0"


def test_public_replies_are_paced_per_account(harness: Harness, aio) -> None:
    a_posts = seed_posts(harness.ws, 3, account="acme", prefix="a")
    b_posts = seed_posts(harness.ws, 3, account="other", prefix="b")
    queue_replies(harness.ws, a_posts + b_posts)
    a = ScriptedAdapter(clock=harness.clock, rps=None)
    b = ScriptedAdapter(account="other", clock=harness.clock, rps=4.0)
    harness.adapters[account_id(harness.ws, "acme")] = a
    harness.adapters[account_id(harness.ws, "other")] = b
    aio(harness.outbox().send_once())
    a_times = [t - T0 for t, _ in a.sends]
    b_times = [t - T0 for t, _ in b.sends]
    assert a_times == pytest.approx([0.0, 1.0, 2.0])  # 1 s between public replies
    assert b_times == pytest.approx([0.0, 0.25, 0.5])  # the adapter's own rate
    # and an explicit pace wins
    posts = seed_posts(harness.ws, 2, account="acme", prefix="c")
    queue_replies(harness.ws, posts)
    a.sends.clear()
    aio(harness.outbox(pace=5.0).send_once())
    assert [t - a.sends[0][0] for t, _ in a.sends] == pytest.approx([0.0, 5.0])


def test_transient_errors_back_off_then_succeed(harness: Harness, aio) -> None:
    adapter, (item,) = setup(harness, 1, script=[TransientError("500"), TransientError("502")])
    outbox = harness.outbox(backoff_base=2.0)
    aio(outbox.send_once())
    row = harness.item(item)
    assert (row["state"], row["attempts"]) == ("queued", 1)
    assert row["next_attempt_at"] - T0 == pytest.approx(1.5, abs=1)  # 2 s with equal jitter 0.5
    assert "500" in row["last_error"]
    harness.clock.t = row["next_attempt_at"]
    aio(outbox.send_once())
    row = harness.item(item)
    assert (row["state"], row["attempts"]) == ("queued", 2)
    assert row["next_attempt_at"] - harness.clock.t == pytest.approx(3.0, abs=1)  # grew: 4 s * 3/4
    harness.clock.t = row["next_attempt_at"]
    aio(outbox.send_once())
    assert harness.item(item)["state"] == "sent"
    assert len(adapter.sends) == 3


def test_transient_errors_give_up_after_max_attempts(harness: Harness, aio) -> None:
    adapter, (item,) = setup(harness, 1, script=[TransientError("503")] * 10)
    outbox = harness.outbox(max_attempts=4, backoff_cap=60)

    async def run_until_failed() -> None:
        task = asyncio.ensure_future(outbox.run())
        await until(lambda: harness.item(item)["state"] == "failed")
        outbox.stop()
        await task

    aio(run_until_failed())
    row = harness.item(item)
    assert row["state"] == "failed"
    assert "gave up after 4 attempts" in row["last_error"]
    assert len(adapter.sends) == 4
    gaps = [b[0] - a[0] for a, b in zip(adapter.sends, adapter.sends[1:], strict=False)]
    assert gaps == sorted(gaps) and gaps[-1] > gaps[0]  # exponential


def test_backoff_is_capped(harness: Harness) -> None:
    outbox = harness.outbox(backoff_base=2.0, backoff_cap=600.0, jitter=lambda: 1.0)
    assert outbox._backoff_delay(1) == 2.0
    assert outbox._backoff_delay(5) == 32.0
    assert outbox._backoff_delay(30) == 600.0
    low = harness.outbox(backoff_cap=600.0, jitter=lambda: 0.0)
    assert low._backoff_delay(30) == 300.0


def test_rate_limit_pauses_only_that_account(harness: Harness, aio) -> None:
    a_posts = seed_posts(harness.ws, 3, account="acme", prefix="a")
    b_posts = seed_posts(harness.ws, 2, account="other", prefix="b")
    a_items = queue_replies(harness.ws, a_posts)
    b_items = queue_replies(harness.ws, b_posts)
    a = ScriptedAdapter(clock=harness.clock, script=[RateLimitedError("429", retry_after=30)])
    b = ScriptedAdapter(account="other", clock=harness.clock)
    harness.adapters[account_id(harness.ws, "acme")] = a
    harness.adapters[account_id(harness.ws, "other")] = b
    outbox = harness.outbox()
    summary = aio(outbox.send_once())
    assert all(harness.item(i)["state"] == "sent" for i in b_items)
    for i in a_items:
        row = harness.item(i)
        assert row["state"] == "queued"
        assert row["next_attempt_at"] == int(T0) + 30  # persisted: a restart honours it too
        assert row["attempts"] == 0  # a throttled try is not a failed attempt
    assert len(a.sends) == 1
    paused = {s["account_id"]: s for s in summary["status"]["accounts"]}
    assert paused[account_id(harness.ws, "acme")]["paused_until"] == int(T0) + 30
    assert "rate limit" in outbox.status.message
    harness.clock.t += 29
    aio(outbox.send_once())
    assert len(a.sends) == 1  # still waiting
    harness.clock.t += 1
    aio(outbox.send_once())
    assert all(harness.item(i)["state"] == "sent" for i in a_items)
    assert len(a.sends) == 4


def test_rejection_is_never_retried(harness: Harness, aio) -> None:
    adapter, items = setup(harness, 2, script=[RejectedError("duplicate content (187)")])
    outbox = harness.outbox()
    aio(outbox.send_once())
    harness.clock.t += 3600
    aio(outbox.send_once())
    first = harness.item(items[0])
    assert first["state"] == "failed"
    assert "duplicate content" in first["last_error"]
    assert harness.item(items[1])["state"] == "sent"
    assert len(adapter.sends) == 2
    delivery = harness.ws.scalar(
        "SELECT delivery || ':' || error FROM messages WHERE id = ?", (first["message_id"],)
    )
    assert delivery.startswith("failed:") and "duplicate content" in delivery
    # an agent's retry sends it again
    outbox.retry(items[0])
    aio(outbox.send_once())
    assert harness.item(items[0])["state"] == "sent"


def test_authentication_failure_holds_the_account(harness: Harness, aio) -> None:
    adapter, items = setup(harness, 3, script=[AuthenticationError("token expired")])
    outbox = harness.outbox()
    aio(outbox.send_once())
    assert harness.item(items[0])["state"] == "failed"
    assert "credentials rejected" in harness.item(items[0])["last_error"]
    assert [harness.item(i)["state"] for i in items[1:]] == ["queued", "queued"]
    assert len(adapter.sends) == 1  # the others were not thrown at a dead token
    assert "credentials" in outbox.status.message
    assert any(c.reason == "status" for c in harness.events.of(OutboxChanged))
    outbox.resume_account(account_id(harness.ws))
    aio(outbox.send_once())
    assert [harness.item(i)["state"] for i in items[1:]] == ["sent", "sent"]


def test_unknown_outcome_found_on_the_channel_is_marked_sent_without_resending(
    harness: Harness, aio
) -> None:
    adapter, (item,) = setup(
        harness, 1, script=[UnknownOutcomeError("read timeout")], deliver_on_unknown=True
    )
    outbox = harness.outbox(reconcile_delay=5)
    aio(outbox.send_once())
    row = harness.item(item)
    assert row["state"] == "unknown"
    assert "checking" in row["last_error"]
    harness.clock.t += 5
    aio(outbox.send_once())
    row = harness.item(item)
    assert row["state"] == "sent"
    assert row["remote_id"] == adapter.delivered[row["idem_key"]]
    assert len(adapter.sends) == 1  # found, not sent again
    assert adapter.lookups == 1


def test_unknown_outcome_not_found_is_sent_again_once(harness: Harness, aio) -> None:
    adapter, (item,) = setup(harness, 1, script=[UnknownOutcomeError("reset after send")])
    outbox = harness.outbox(reconcile_delay=5)
    aio(outbox.send_once())
    harness.clock.t += 5
    aio(outbox.send_once())
    assert harness.item(item)["state"] == "sent"
    assert len(adapter.sends) == 2
    assert len(adapter.delivered) == 1


def test_unknown_outcome_that_cannot_be_checked_waits_for_the_agent(harness: Harness, aio) -> None:
    adapter, (item,) = setup(harness, 1, script=[UnknownOutcomeError("timeout")], reconcile=False)
    outbox = harness.outbox(reconcile_delay=1)
    aio(outbox.send_once())
    harness.clock.t += 3600
    aio(outbox.send_once())
    row = harness.item(item)
    assert row["state"] == "unknown"
    assert "may or may not have been sent" in row["last_error"]
    assert len(adapter.sends) == 1  # never blindly resent
    assert "1 reply to check" in outbox.status.message


def test_lookup_failures_are_retried_later(harness: Harness, aio) -> None:
    adapter, (item,) = setup(
        harness,
        1,
        script=[UnknownOutcomeError("timeout")],
        deliver_on_unknown=True,
        find_errors=[TransientError("500 on search")],
    )
    outbox = harness.outbox(reconcile_delay=1)
    aio(outbox.send_once())
    harness.clock.t += 1
    aio(outbox.send_once())
    assert harness.item(item)["state"] == "unknown"
    harness.clock.t += 60
    aio(outbox.send_once())
    assert harness.item(item)["state"] == "sent"
    assert (len(adapter.sends), adapter.lookups) == (1, 2)


def test_interrupted_items_are_reconciled_at_start(harness: Harness, aio) -> None:
    adapter, items = setup(harness, 2)
    # a previous process claimed both and died: one had reached the channel, one had not
    claimed = outbox_repo.claim_due(harness.ws, int(T0), limit=2)
    assert [c.state for c in claimed] == ["sending", "sending"]
    adapter.delivered[claimed[0].idem_key] = "remote-1"
    outbox = harness.outbox()
    aio(outbox.send_once())
    assert harness.item(items[0])["remote_id"] == "remote-1"
    assert [harness.item(i)["state"] for i in items] == ["sent", "sent"]
    assert adapter.sent_keys() == [claimed[1].idem_key]  # only the missing one went out
    assert adapter.lookups == 2


def test_cancelled_mid_send_becomes_unknown(harness: Harness, aio) -> None:
    gate = asyncio.Event()

    async def scenario() -> None:
        posts = seed_posts(harness.ws, 1)
        (item,) = queue_replies(harness.ws, posts)
        adapter = ScriptedAdapter(clock=harness.clock)

        async def stuck(reply: object) -> None:
            gate.set()
            await asyncio.sleep(3600)

        adapter.send = stuck  # type: ignore[method-assign]
        harness.adapters[account_id(harness.ws)] = adapter
        task = asyncio.ensure_future(harness.outbox().send_once())
        await gate.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert harness.item(item)["state"] == "unknown"

    aio(scenario())


def test_offline_waits_then_drains_when_the_network_returns(harness: Harness, aio) -> None:
    adapter, items = setup(harness, 3, script=[offline_error(), offline_error(), offline_error()])
    outbox = harness.outbox(probe_cap=8)
    aio(outbox.send_once())
    assert outbox.online is False
    assert outbox.status.message.startswith("Offline: 3 replies waiting")
    assert set(harness.states().values()) == {"queued"}
    assert all(harness.item(i)["attempts"] == 0 for i in items)  # offline tries do not count
    assert len(adapter.sends) == 1  # one probe, not a burst against a dead network
    status_events = [c for c in harness.events.of(OutboxChanged) if c.reason == "status"]
    assert status_events
    # probes back off: 1 s, then 2 s
    harness.clock.t += 1
    aio(outbox.send_once())
    assert len(adapter.sends) == 2
    harness.clock.t += 1
    aio(outbox.send_once())
    assert len(adapter.sends) == 2  # the next probe is 2 s after the last one
    harness.clock.t += 1
    aio(outbox.send_once())
    assert len(adapter.sends) == 3
    # the network is back (the next probe succeeds): everything leaves, exactly once
    harness.clock.t += 4
    aio(outbox.send_once())
    assert outbox.online is True
    assert set(harness.states().values()) == {"sent"}
    assert len(adapter.delivered) == 3
    assert outbox.status.message == "All replies sent"


def test_network_available_probes_at_once(harness: Harness, aio) -> None:
    setup(harness, 2, script=[offline_error(), offline_error()])
    outbox = harness.outbox(probe_cap=60)
    aio(outbox.send_once())
    harness.clock.t += 1
    aio(outbox.send_once())  # second probe fails: the next is 2 s away
    assert outbox.online is False
    outbox.network_available()
    aio(outbox.send_once())
    assert outbox.online is True
    assert set(harness.states().values()) == {"sent"}


def test_run_wakes_on_notify_and_on_due_times(harness: Harness, aio) -> None:
    adapter, items = setup(harness, 1, script=[TransientError("500")])
    outbox = harness.outbox()

    async def scenario() -> None:
        task = asyncio.ensure_future(outbox.run())
        await until(lambda: harness.item(items[0])["state"] == "sent")  # the retry comes later
        more = queue_replies(harness.ws, seed_posts(harness.ws, 1, prefix="late"))
        outbox.notify()
        await until(lambda: harness.item(more[0])["state"] == "sent")
        outbox.stop()
        await task

    aio(scenario())
    assert len(adapter.sends) == 3


def test_an_adapter_that_cannot_be_built_holds_its_account(harness: Harness, aio) -> None:
    from console.errors import SecretStoreError

    posts = seed_posts(harness.ws, 1)
    (item,) = queue_replies(harness.ws, posts)

    def factory(aid: int) -> ScriptedAdapter:
        raise SecretStoreError("no keyring backend")

    from services.outbox import Outbox

    outbox = Outbox(harness.ws, factory, harness.clock, harness.bus, sleep=harness.clock.sleep)
    harness.workers.append(outbox)
    aio(outbox.send_once())
    assert harness.item(item)["state"] == "queued"
    assert "no keyring backend" in (outbox.status.accounts[0].blocked or "")


def test_connection_failures_are_told_apart_from_server_errors() -> None:
    assert is_connection_failure(offline_error())
    assert is_connection_failure(TransientError("x").with_traceback(None)) is False
    refused = TransientError("down")
    refused.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    assert is_connection_failure(refused)
    server = TransientError("HTTP 503")
    server.__cause__ = httpx.HTTPStatusError(
        "503", request=httpx.Request("GET", "http://x"), response=httpx.Response(503)
    )
    assert not is_connection_failure(server)


def test_one_sender_per_workspace(harness: Harness, aio) -> None:
    from services.outbox import Outbox

    adapter, items = setup(harness, 2)
    claimed = outbox_repo.claim_due(harness.ws, int(T0), limit=1)  # in flight in the first
    first = harness.outbox()
    assert first.lease.acquire()
    second = Outbox(
        harness.ws, lambda aid: adapter, harness.clock, harness.bus, sleep=harness.clock.sleep
    )
    harness.workers.append(second)
    summary = aio(second.send_once())
    assert summary["status"]["standby"] is True
    assert "Another Agent Console is sending" in second.status.message
    assert harness.item(claimed[0].id)["state"] == "sending"  # not taken for an interrupted one
    assert adapter.sends == []
    first.close()
    aio(second.send_once())
    assert [harness.item(i)["state"] for i in items] == ["sent", "sent"]
    assert second.status.standby is False
