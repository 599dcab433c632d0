"""The sandbox adapter: real limits, a durable record of what it would send, exactly-once."""

from __future__ import annotations

import json

import pytest

from console.domain import Channel
from console.errors import RejectedError
from console.storage.outbox_repo import claim_due
from services.channels.base import AccountConfig, OutgoingReply
from services.channels.sandbox import MemoryJournal, SandboxAdapter, WorkspaceJournal
from tests.unit.outbox.conftest import T0, Harness, account_id, queue_replies, seed_posts


def config(channel: Channel, name: str = "demo") -> AccountConfig:
    return AccountConfig(id=1, name=name, channel=channel, kind="sandbox")


@pytest.mark.parametrize(
    ("channel", "limit", "rule", "public", "private"),
    [
        (Channel.X, 280, "x_weighted", True, True),
        (Channel.SMS, 1600, "sms_segments", False, True),
        (Channel.MESSENGER, 2000, "chars", False, True),
        (Channel.WHATSAPP, 4096, "chars", False, True),
        (Channel.EMAIL, None, "none", False, True),
        (Channel.FACEBOOK, 8000, "chars", True, True),
        (Channel.INSTAGRAM, 2200, "chars", True, True),
    ],
)
def test_limits_and_capabilities_are_the_channels(
    channel: Channel, limit: int | None, rule: str, public: bool, private: bool
) -> None:
    adapter = SandboxAdapter(config(channel))
    assert (adapter.limits.max_length, adapter.limits.length_rule) == (limit, rule)
    caps = adapter.capabilities
    assert (caps.public_reply, caps.private_message, caps.reconcile) == (public, private, True)
    assert SandboxAdapter.SECRET_FIELDS == () and SandboxAdapter.SETTING_FIELDS == ()


def test_messaging_windows() -> None:
    assert SandboxAdapter(config(Channel.MESSENGER)).limits.reply_window_s == 24 * 3600
    assert SandboxAdapter(config(Channel.MESSENGER)).limits.extended_window_s == 7 * 24 * 3600
    assert SandboxAdapter(config(Channel.WHATSAPP)).limits.reply_window_s == 24 * 3600


def test_test_says_plainly_it_is_a_sandbox(aio) -> None:
    text = aio(SandboxAdapter(config(Channel.X, "Acme on X")).test())
    assert "Sandbox" in text and "nothing leaves this machine" in text and "\n" not in text


def test_memory_journal_is_exactly_once(aio) -> None:
    adapter = SandboxAdapter(config(Channel.SMS), journal=MemoryJournal())
    reply = OutgoingReply("k1", "hi", "private", "+15550001", None)
    first = aio(adapter.send(reply))
    again = aio(adapter.send(reply))
    assert first.remote_id == again.remote_id == "sandbox:1"
    assert aio(adapter.find_sent(reply)).remote_id == "sandbox:1"
    assert aio(adapter.find_sent(OutgoingReply("k2", "x", "private", None, None))) is None


def test_phone_accounts_cannot_send(aio) -> None:
    with pytest.raises(RejectedError):
        aio(
            SandboxAdapter(config(Channel.PHONE)).send(
                OutgoingReply("k", "t", "private", None, None)
            )
        )


def test_workspace_journal_records_in_the_outbox_and_survives_a_restart(
    harness: Harness, aio
) -> None:
    posts = seed_posts(harness.ws, 2)
    items = queue_replies(harness.ws, posts)
    aid = account_id(harness.ws)

    def factory(_: int) -> SandboxAdapter:
        return SandboxAdapter(
            AccountConfig(id=aid, name="acme", channel=Channel.X, kind="sandbox"),
            journal=WorkspaceJournal(harness.ws),
        )

    from services.outbox import Outbox

    outbox = Outbox(
        harness.ws,
        factory,
        harness.clock,
        harness.bus,
        sleep=harness.clock.sleep,
        retriage=lambda ws, ids: None,
    )
    aio(outbox.send_once())
    for item_id in items:
        row = harness.item(item_id)
        assert row["state"] == "sent"
        assert row["remote_id"] == f"sandbox:{item_id}"
        record = json.loads(row["payload"])["sandbox"]
        assert record["in_reply_to"].startswith("t") and record["mode"] == "public"
        assert record["text"].startswith("Sorry about that!")
    # a crash after the sandbox recorded but before mark_sent: the restart finds the record
    (late,) = queue_replies(harness.ws, seed_posts(harness.ws, 1, prefix="late"))
    (claimed,) = claim_due(harness.ws, int(T0), limit=1)
    aio(factory(aid).send(outbox.build_reply(claimed)))  # "sent", then the process died
    outbox.close()  # the process "died": the OS releases its sender lease
    restarted = Outbox(
        harness.ws,
        factory,
        harness.clock,
        harness.bus,
        sleep=harness.clock.sleep,
        retriage=lambda ws, ids: None,
    )
    aio(restarted.send_once())
    restarted.close()
    row = harness.item(late)
    assert (row["state"], row["remote_id"]) == ("sent", f"sandbox:{late}")
    assert "recorded earlier" not in (row["last_error"] or "")
