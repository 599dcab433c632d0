"""XAdapter against a loopback X API v2 (tests/contract/servers/x_server.py) over real sockets."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import httpx
import pytest

from console.domain import Channel, Direction
from console.errors import (
    AuthenticationError,
    ChannelError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
)
from services.channels.base import AccountConfig, ChannelAdapter, OutgoingReply
from services.channels.http import MalformedResponseError
from services.channels.x import XAdapter
from tests.contract.servers.x_server import BEARER, OWN_ID, USER_TOKEN, XServer

ANDY, BEA = "2244994945", "783214"


def config(server: XServer, **overrides: Any) -> AccountConfig:
    secrets = {"bearer_token": BEARER, "user_access_token": USER_TOKEN}
    secrets.update(overrides.pop("secrets", {}))
    settings = {"base_url": server.url, "user_id": OWN_ID, "handle": "AcmeCare", "timeout_s": 0.5}
    settings.update(overrides)
    return AccountConfig(
        id=1,
        name="acme-x",
        channel=Channel.X,
        kind="x",
        settings=settings,
        secrets={k: v for k, v in secrets.items() if v},
    )


def reply(text: str, **kw: Any) -> OutgoingReply:
    values: dict[str, Any] = {"mode": "public", "recipient": "andy", "in_reply_to": None}
    values.update(kw)
    return OutgoingReply(idempotency_key="k-1", text=text, **values)


@pytest.fixture
def server(x_server: XServer) -> XServer:
    x_server.add_user(ANDY, "andyloynes", "Andy Loynes", 1234)
    x_server.add_user(BEA, "bea_k", "Bea K", 87)
    return x_server


def test_declares_the_protocol(server: XServer, with_client: Any) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        adapter: ChannelAdapter = XAdapter(config(server), client)
        assert adapter.channel is Channel.X and adapter.account == "acme-x"
        assert (adapter.limits.max_length, adapter.limits.length_rule) == (280, "x_weighted")
        caps = adapter.capabilities
        assert caps.public_reply and caps.private_message and caps.reconcile

    with_client(body)
    assert "base_url" in XAdapter.SETTING_FIELDS
    assert set(XAdapter.SECRET_FIELDS) == {"bearer_token", "user_access_token"}


def test_fetch_maps_mentions(server: XServer, with_client: Any) -> None:
    first = server.add_mention(ANDY, "@AcmeCare my router is down &amp; nobody answers")
    second = server.add_mention(BEA, "@AcmeCare same here", reply_to=first)
    own = server.add_mention(OWN_ID, "@AcmeCare talking to myself")

    result = with_client(lambda c: XAdapter(config(server), c).fetch({}))

    by_id = {m.external_id: m for m in result.messages}
    assert set(by_id) == {first, second}, "our own post is skipped"
    andy = by_id[first]
    assert andy.channel is Channel.X and andy.account == "acme-x"
    assert andy.direction is Direction.IN
    assert (andy.author, andy.author_name, andy.followers) == ("andyloynes", "Andy Loynes", 1234)
    assert andy.text == "@AcmeCare my router is down & nobody answers"
    assert andy.created_at == 1796034600  # 2026-11-30T10:30:00Z
    assert andy.in_reply_to is None and andy.thread is None
    assert andy.language == "en"
    assert andy.extra["conversation_id"] == first and andy.extra["author_id"] == ANDY
    assert by_id[second].in_reply_to == first
    assert result.cursor == {"mentions_since_id": own}, "the newest id seen, even if skipped"
    [mentions] = server.calls("GET", r"/2/users/\d+/mentions")
    assert mentions.path == f"/2/users/{OWN_ID}/mentions"
    assert mentions.header("authorization") == f"Bearer {BEARER}", "reads use the app token"
    assert mentions.q("expansions") == "author_id"
    assert {"public_metrics", "username", "name"} <= set(mentions.q("user.fields").split(","))
    [dms] = server.calls("GET", r"/2/dm_events")
    assert dms.header("authorization") == f"Bearer {USER_TOKEN}", "DMs need user context"


def test_mentions_paginate_and_resume_from_since_id(server: XServer, with_client: Any) -> None:
    ids = [server.add_mention(ANDY, f"@AcmeCare complaint {i}") for i in range(230)]

    async def body(client: httpx.AsyncClient) -> list[Any]:
        adapter = XAdapter(config(server), client)
        pages, cursor = [], {}
        for _ in range(5):
            result = await adapter.fetch(cursor)
            pages.append(result)
            cursor = result.cursor
            if not result.more:
                break
        server.add_mention(BEA, "@AcmeCare a new one")
        pages.append(await adapter.fetch(cursor))
        return pages

    pages = with_client(body)
    assert [len(p.messages) for p in pages] == [100, 100, 30, 1]
    assert [p.more for p in pages] == [True, True, False, False]
    assert "mentions_token" in pages[0].cursor and pages[0].cursor["mentions_newest"] == ids[-1]
    assert pages[2].cursor["mentions_since_id"] == ids[-1]
    fetched = [m.external_id for p in pages[:3] for m in p.messages]
    assert sorted(fetched, key=int) == ids, "every mention exactly once"
    calls = server.calls("GET", r"/2/users/\d+/mentions")
    assert calls[0].q("since_id") is None and calls[0].q("pagination_token") is None
    assert calls[1].q("pagination_token") and calls[3].q("since_id") == ids[-1]
    assert calls[3].q("pagination_token") is None


def test_dms_are_private_threaded_by_conversation_and_resume(
    server: XServer, with_client: Any
) -> None:
    hello = server.add_dm(ANDY, "Hi, my account number is 12345")
    server.add_dm(OWN_ID, "Thanks, looking into it", to=ANDY)

    async def body(client: httpx.AsyncClient) -> tuple[Any, Any]:
        adapter = XAdapter(config(server), client)
        first = await adapter.fetch({})
        server.add_dm(BEA, "Is the outage over?")
        return first, await adapter.fetch(first.cursor)

    first, second = with_client(body)
    [dm] = [m for m in first.messages if m.external_id == hello]
    assert [m.external_id for m in first.messages] == [hello], "our own DM is skipped"
    assert dm.thread == f"{OWN_ID}-{ANDY}" if int(OWN_ID) < int(ANDY) else f"{ANDY}-{OWN_ID}"
    assert dm.extra["private"] is True and dm.extra["sender_id"] == ANDY
    assert (dm.author, dm.author_name, dm.followers) == ("andyloynes", "Andy Loynes", 1234)
    assert dm.in_reply_to is None
    assert [m.text for m in second.messages] == ["Is the outage over?"], "seen DMs not repeated"
    call = server.calls("GET", r"/2/dm_events")[0]
    assert call.q("event_types") == "MessageCreate" and call.q("expansions") == "sender_id"


def test_public_reply_is_threaded_with_the_user_token(server: XServer, with_client: Any) -> None:
    parent = server.add_mention(ANDY, "@AcmeCare help")

    result = with_client(
        lambda c: XAdapter(config(server), c).send(
            reply("Sorry Andy, DM us ^CP", in_reply_to=parent)
        )
    )

    [post] = server.calls("POST", r"/2/tweets")
    assert post.json() == {
        "text": "Sorry Andy, DM us ^CP",
        "reply": {"in_reply_to_tweet_id": parent},
    }
    assert post.header("authorization") == f"Bearer {USER_TOKEN}"
    assert post.header("content-type") == "application/json"
    assert result.remote_id == server.posts[0]["id"]


def test_dm_reply_finds_the_participant(server: XServer, with_client: Any) -> None:
    async def body(client: httpx.AsyncClient) -> list[str]:
        adapter = XAdapter(config(server), client)
        by_thread = await adapter.send(
            reply("We fixed it", mode="private", recipient=None, thread=f"{OWN_ID}-{ANDY}")
        )
        by_name = await adapter.send(reply("Hello Bea", mode="private", recipient="@bea_k"))
        return [by_thread.remote_id, by_name.remote_id]

    ids = with_client(body)
    sends = server.calls("POST", r"/2/dm_conversations/with/\d+/messages")
    assert [s.path.split("/")[4] for s in sends] == [ANDY, BEA]
    assert [s.json() for s in sends] == [{"text": "We fixed it"}, {"text": "Hello Bea"}]
    assert ids == [e["id"] for e in server.dm_events[-2:]]
    assert server.calls("GET", r"/2/users/by/username/bea_k")


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("wrong_token", AuthenticationError),
        ("restricted", RejectedError),
        ("429", RateLimitedError),
        ("500", TransientError),
    ],
)
def test_send_errors_are_typed(
    server: XServer, with_client: Any, fault: str, expected: type[ChannelError]
) -> None:
    parent = server.add_mention(ANDY, "@AcmeCare help")
    cfg = config(server)
    if fault == "wrong_token":
        cfg = config(server, secrets={"user_access_token": "expired-user-token-abcdef"})
    elif fault == "restricted":
        server.reply_restricted.add(parent)
    else:
        server.misbehave(fault)

    async def body(client: httpx.AsyncClient) -> ChannelError:
        with pytest.raises(expected) as caught:
            await XAdapter(cfg, client).send(reply("On it", in_reply_to=parent))
        return caught.value

    error = with_client(body)
    if fault == "restricted":
        assert "Reply to this conversation is not allowed" in str(error)
    if isinstance(error, RateLimitedError):
        assert 115 <= error.retry_after <= 125, "from x-rate-limit-reset (now + 120 s)"
    assert "expired-user-token-abcdef" not in str(error)


def test_posting_without_a_user_token_fails_before_the_network(
    server: XServer, with_client: Any
) -> None:
    cfg = config(server, secrets={"user_access_token": ""})

    async def body(client: httpx.AsyncClient) -> None:
        with pytest.raises(AuthenticationError, match="user access token"):
            await XAdapter(cfg, client).send(reply("hi", in_reply_to="1"))

    with_client(body)
    assert not server.calls("POST", r"/2/tweets")


def test_too_long_is_rejected_locally(server: XServer, with_client: Any) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        with pytest.raises(RejectedError, match="281 weighted"):
            await XAdapter(config(server), client).send(reply("a" * 281, in_reply_to="1"))
        # 140 emoji weigh 280: allowed.
        await XAdapter(config(server), client).send(reply("😀" * 140, in_reply_to=None))

    with_client(body)
    assert len(server.calls("POST", r"/2/tweets")) == 1


@pytest.mark.parametrize("fault", ["stall", "drop", "cut_body"])
def test_lost_answer_to_a_send_is_unknown_then_reconciled(
    server: XServer, with_client: Any, fault: str
) -> None:
    parent = server.add_mention(ANDY, "@AcmeCare help")
    server.misbehave(fault, path=r"^/2/tweets$")
    out = reply("Fixed now & thanks ^CP", in_reply_to=parent)

    async def body(client: httpx.AsyncClient) -> Any:
        adapter = XAdapter(config(server), client)
        with pytest.raises(UnknownOutcomeError):
            await adapter.send(out)
        found = await adapter.find_sent(out)
        other = await adapter.find_sent(reply("something else", in_reply_to=parent))
        return found, other

    found, other = with_client(body)
    assert len(server.posts) == 1, "the server did post it"
    assert found is not None and found.remote_id == server.posts[0]["id"]
    assert other is None


def test_unknown_outcome_of_a_dm_is_reconciled(server: XServer, with_client: Any) -> None:
    server.misbehave("drop", path="/messages$")
    out = reply("Your refund is on its way", mode="private", recipient=ANDY)

    async def body(client: httpx.AsyncClient) -> Any:
        adapter = XAdapter(config(server), client)
        with pytest.raises(UnknownOutcomeError):
            await adapter.send(out)
        return await adapter.find_sent(out)

    found = with_client(body)
    assert found is not None and found.remote_id == server.dm_events[-1]["id"]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("stall", TransientError),
        ("drop", TransientError),
        ("malformed", MalformedResponseError),
        ("huge", MalformedResponseError),
        ("429", RateLimitedError),
        ("500", TransientError),
    ],
)
def test_fetch_faults_are_transient_not_unknown(
    server: XServer, with_client: Any, fault: str, expected: type[ChannelError]
) -> None:
    server.add_mention(ANDY, "@AcmeCare help")
    server.misbehave(fault)

    async def body(client: httpx.AsyncClient) -> ChannelError:
        with pytest.raises(expected) as caught:
            await XAdapter(config(server), client).fetch({})
        return caught.value

    error = with_client(body)
    assert not isinstance(error, UnknownOutcomeError)


def test_unreachable_server_is_transient_even_for_a_send(with_client: Any) -> None:
    with XServer() as gone:
        cfg = config(gone)

    async def body(client: httpx.AsyncClient) -> None:
        with pytest.raises(TransientError) as caught:
            await XAdapter(cfg, client).send(reply("hi", in_reply_to="1"))
        assert not isinstance(caught.value, UnknownOutcomeError), "nothing left: safe to retry"

    with_client(body)


def test_malformed_items_are_skipped_with_a_reason(server: XServer, with_client: Any) -> None:
    good = server.add_mention(ANDY, "@AcmeCare fine")
    server.mentions.append({"id": "1900000000000009999", "created_at": "2026-11-30T10:00:00Z"})
    server.mentions.append({"id": "1900000000000009998", "text": "no author", "author_id": "42"})
    server.dm_events.append({"id": "1900000000000009997", "event_type": "MessageCreate"})

    result = with_client(lambda c: XAdapter(config(server), c).fetch({}))

    ids = {m.external_id for m in result.messages}
    assert good in ids and "1900000000000009998" in ids, "unknown user: falls back to the id"
    [unknown] = [m for m in result.messages if m.external_id == "1900000000000009998"]
    assert unknown.author == "42" and unknown.followers is None
    assert len(result.problems) == 2
    assert all("without id" in p for p in result.problems)


def test_secrets_never_reach_errors_or_logs(
    server: XServer, with_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "leaky-user-token-0123456789abcdef"
    server.echo_token = True
    cfg = config(server, secrets={"user_access_token": secret, "bearer_token": secret + "-app"})
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []

    async def body(client: httpx.AsyncClient) -> None:
        adapter = XAdapter(cfg, client)
        for call in (adapter.fetch({}), adapter.send(reply("hi", in_reply_to="1")), adapter.test()):
            try:
                await call
            except ChannelError as exc:
                errors.append(exc)

    with_client(body)
    assert len(errors) == 3 and all(isinstance(e, AuthenticationError) for e in errors)
    assert any("***" in str(e) for e in errors), "the server echoed the token; it was masked"
    for error in errors:
        shown = "".join(traceback.format_exception(error)) + repr(error)
        assert secret not in shown
    assert secret not in caplog.text
    assert secret not in repr(cfg)


def test_test_names_the_account(server: XServer, with_client: Any) -> None:
    line = with_client(lambda c: XAdapter(config(server), c).test())
    assert line.startswith("X @AcmeCare") and OWN_ID in line
