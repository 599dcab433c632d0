"""MetaAdapter against a loopback Graph API (tests/contract/servers/meta_server.py)."""

from __future__ import annotations

import time
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
from services.channels.base import AccountConfig, OutgoingReply
from services.channels.meta import MetaAdapter
from tests.contract.servers.meta_server import IG_USER_ID, PAGE_ID, PAGE_TOKEN, MetaServer

DAY = 24 * 3600
ANDY = ("2400000000000011", "Andy Loynes")
BEA = ("2400000000000022", "Bea K")
IG_ANDY = ("17840000000000333", "andy.loynes")


def config(server: MetaServer, channel: Channel, **settings: Any) -> AccountConfig:
    token = settings.pop("token", PAGE_TOKEN)
    values = {
        "base_url": server.url,
        "version": "v21.0",
        "page_id": PAGE_ID,
        "ig_user_id": IG_USER_ID,
        "timeout_s": 0.5,
        **settings,
    }
    return AccountConfig(
        id=2,
        name=f"acme-{channel.value}",
        channel=channel,
        kind="meta",
        settings=values,
        secrets={"page_access_token": token},
    )


def dm(text: str, recipient: str, **kw: Any) -> OutgoingReply:
    values: dict[str, Any] = {"mode": "private", "in_reply_to": None}
    values.update(kw)
    return OutgoingReply(idempotency_key="k", text=text, recipient=recipient, **values)


def run(with_client: Any, cfg: AccountConfig, method: str, *args: Any) -> Any:
    async def body(client: httpx.AsyncClient) -> Any:
        return await getattr(MetaAdapter(cfg, client), method)(*args)

    return with_client(body)


def test_declarations_per_channel(meta_server: MetaServer, with_client: Any) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        messenger = MetaAdapter(config(meta_server, Channel.MESSENGER), client)
        assert messenger.channel is Channel.MESSENGER and messenger.account == "acme-messenger"
        assert (messenger.limits.max_length, messenger.limits.length_rule) == (2000, "chars")
        assert messenger.limits.reply_window_s == DAY
        assert messenger.limits.extended_window_s == 7 * DAY
        assert not messenger.capabilities.public_reply and messenger.capabilities.private_message
        facebook = MetaAdapter(config(meta_server, Channel.FACEBOOK), client)
        assert facebook.limits.max_length == 8000 and facebook.capabilities.public_reply
        instagram = MetaAdapter(config(meta_server, Channel.INSTAGRAM), client)
        assert instagram.limits.max_length == 2200
        assert instagram.limits_for("private").length_rule == "utf8_bytes"
        assert instagram.limits_for("private").max_length == 1000

    with_client(body)
    assert "base_url" in MetaAdapter.SETTING_FIELDS
    assert MetaAdapter.SECRET_FIELDS == ("page_access_token",)


def test_messenger_fetch_maps_and_paginates(meta_server: MetaServer, with_client: Any) -> None:
    now = int(time.time())
    first = meta_server.add_dm("messenger", *ANDY, "My parcel never arrived", at=now - 600)
    for i in range(29):
        meta_server.add_dm(
            "messenger", f"25000000000{i:05d}", f"User {i}", f"hello {i}", at=now - 900 - i
        )
    cfg = config(meta_server, Channel.MESSENGER)

    async def body(client: httpx.AsyncClient) -> list[Any]:
        adapter = MetaAdapter(cfg, client)
        one = await adapter.fetch({})
        two = await adapter.fetch(one.cursor)
        meta_server.add_dm("messenger", *BEA, "Still waiting", at=now)
        three = await adapter.fetch(two.cursor)
        return [one, two, three]

    one, two, three = with_client(body)
    assert (len(one.messages), one.more, len(two.messages), two.more) == (25, True, 5, False)
    assert "messenger_after" in one.cursor and "messenger_after" not in two.cursor
    assert two.cursor["messenger_since"] == str(now - 600)
    andy = next(m for m in one.messages if m.external_id == first)
    assert andy.channel is Channel.MESSENGER and andy.direction is Direction.IN
    assert (andy.author, andy.author_name) == ANDY
    assert andy.thread == f"t_me{ANDY[0]}" and andy.extra["private"] is True
    assert andy.created_at == now - 600 and andy.text == "My parcel never arrived"
    # Only what is new, plus the mark's own second read again (ingest skips known ids).
    assert [m.text for m in three.messages] == ["Still waiting", "My parcel never arrived"]
    assert len(meta_server.calls("GET", rf"/v21.0/{PAGE_ID}/conversations")) == 3
    calls = meta_server.calls("GET", rf"/v21.0/{PAGE_ID}/conversations")
    assert all(c.q("platform") == "messenger" for c in calls)
    assert all(c.header("authorization") == f"Bearer {PAGE_TOKEN}" for c in calls)
    assert calls[0].q("after") is None and calls[1].q("after")


def test_facebook_comments_thread_by_parent(meta_server: MetaServer, with_client: Any) -> None:
    post = meta_server.add_post()
    top = meta_server.add_comment(post, ANDY, "Your app is broken again")
    reply = meta_server.add_comment(post, BEA, "Same for me", parent=top)
    meta_server.add_comment(post, (PAGE_ID, "Acme Support"), "Sorry! Looking", parent=top)
    meta_server.add_comment(post, None, "hidden author")
    cfg = config(meta_server, Channel.FACEBOOK)

    async def body(client: httpx.AsyncClient) -> tuple[Any, Any]:
        adapter = MetaAdapter(cfg, client)
        first = await adapter.fetch({})
        return first, await adapter.fetch(first.cursor)

    first, second = with_client(body)
    by_id = {m.external_id: m for m in first.messages}
    assert set(by_id) == {top, reply}, "ours skipped, authorless skipped"
    assert by_id[top].in_reply_to == post and by_id[reply].in_reply_to == top
    assert (by_id[top].author, by_id[top].author_name) == ANDY
    assert by_id[top].thread is None and by_id[top].channel is Channel.FACEBOOK
    assert by_id[top].extra["post_id"] == post
    assert len(first.problems) == 1 and "no author" in first.problems[0]
    assert {m.external_id for m in second.messages} <= {top, reply}
    assert "comments_since" in first.cursor


def test_instagram_comments_replies_and_dms(meta_server: MetaServer, with_client: Any) -> None:
    media = meta_server.add_media()
    top = meta_server.add_ig_comment(media, IG_ANDY, "Where is my order?")
    nested = meta_server.add_ig_comment(media, ("17840000000000444", "bea"), "+1", parent=top)
    mid = meta_server.add_dm("instagram", IG_ANDY[0], IG_ANDY[1], "order 123 please")

    result = run(with_client, config(meta_server, Channel.INSTAGRAM), "fetch", {})

    by_id = {m.external_id: m for m in result.messages}
    assert set(by_id) == {top, nested, mid}
    assert by_id[top].in_reply_to == media and by_id[nested].in_reply_to == top
    assert (by_id[top].author, by_id[top].author_name) == IG_ANDY
    assert by_id[mid].thread is not None and by_id[mid].extra["private"] is True
    assert by_id[mid].author == IG_ANDY[0], "the IGSID: what a reply is addressed to"
    assert meta_server.calls("GET", rf"/v21.0/{IG_USER_ID}/media")


def test_messenger_reply_inside_the_window(meta_server: MetaServer, with_client: Any) -> None:
    meta_server.add_dm("messenger", *ANDY, "help")
    result = run(
        with_client, config(meta_server, Channel.MESSENGER), "send", dm("On it ^CP", ANDY[0])
    )
    [call] = meta_server.calls("POST", rf"/v21.0/{PAGE_ID}/messages")
    assert call.json() == {
        "recipient": {"id": ANDY[0]},
        "messaging_type": "RESPONSE",
        "message": {"text": "On it ^CP"},
    }
    assert result.remote_id == meta_server.sent[0]["message_id"]


def test_human_agent_tag_from_last_inbound(meta_server: MetaServer, with_client: Any) -> None:
    three_days = int(time.time()) - 3 * DAY
    meta_server.add_dm("messenger", *ANDY, "help", at=three_days)
    late = dm("Sorry for the wait", ANDY[0], extra={"last_inbound_at": str(three_days)})

    run(with_client, config(meta_server, Channel.MESSENGER, human_agent=True), "send", late)
    [call] = meta_server.calls("POST", rf"/v21.0/{PAGE_ID}/messages")
    assert call.json()["messaging_type"] == "MESSAGE_TAG" and call.json()["tag"] == "HUMAN_AGENT"

    with pytest.raises(RejectedError, match=r"24-hour messaging window.*human_agent"):
        run(with_client, config(meta_server, Channel.MESSENGER), "send", late)
    ten_days = dm("too late", ANDY[0], extra={"last_inbound_at": str(int(time.time()) - 10 * DAY)})
    with pytest.raises(RejectedError, match="7 days"):
        run(with_client, config(meta_server, Channel.MESSENGER, human_agent=True), "send", ten_days)
    assert len(meta_server.calls("POST", rf"/v21.0/{PAGE_ID}/messages")) == 1, "decided locally"


def test_window_error_from_meta_retries_once_with_the_tag(
    meta_server: MetaServer, with_client: Any
) -> None:
    meta_server.add_dm("messenger", *ANDY, "help", at=int(time.time()) - 2 * DAY)

    result = run(
        with_client,
        config(meta_server, Channel.MESSENGER, human_agent="true"),
        "send",
        dm("hi", ANDY[0]),
    )
    types = [c.json()["messaging_type"] for c in meta_server.calls("POST", r"/v21.0/\d+/messages")]
    assert types == ["RESPONSE", "MESSAGE_TAG"] and result.remote_id
    assert len(meta_server.sent) == 1

    with pytest.raises(RejectedError, match="window") as caught:
        run(with_client, config(meta_server, Channel.MESSENGER), "send", dm("hi", ANDY[0]))
    assert caught.value.code == "10/2018278"


def test_comment_replies_public_and_private(meta_server: MetaServer, with_client: Any) -> None:
    post = meta_server.add_post()
    comment = meta_server.add_comment(post, ANDY, "Broken again")
    media = meta_server.add_media()
    ig_comment = meta_server.add_ig_comment(media, IG_ANDY, "Where is it?")
    fb, ig = config(meta_server, Channel.FACEBOOK), config(meta_server, Channel.INSTAGRAM)

    public = OutgoingReply("k1", "We're on it, Andy ^CP", "public", ANDY[0], comment)
    run(with_client, fb, "send", public)
    [fb_call] = meta_server.calls("POST", rf"/v21.0/{comment}/comments")
    assert fb_call.json() == {"message": "We're on it, Andy ^CP"}

    run(with_client, ig, "send", OutgoingReply("k2", "DM us?", "public", IG_ANDY[0], ig_comment))
    [ig_call] = meta_server.calls("POST", rf"/v21.0/{ig_comment}/replies")
    assert ig_call.json() == {"message": "DM us?"}

    private = OutgoingReply("k3", "Your case is 42", "private", ANDY[0], comment)
    run(with_client, fb, "send", private)
    [send] = meta_server.calls("POST", rf"/v21.0/{PAGE_ID}/messages")
    assert send.json() == {
        "recipient": {"comment_id": comment},
        "message": {"text": "Your case is 42"},
    }
    with pytest.raises(RejectedError, match="already been replied to privately"):
        run(with_client, fb, "send", private)
    with pytest.raises(RejectedError, match="needs the id of the comment"):
        run(with_client, fb, "send", OutgoingReply("k4", "hi", "public", ANDY[0], None))


def test_length_limits_are_checked_locally(meta_server: MetaServer, with_client: Any) -> None:
    ig = config(meta_server, Channel.INSTAGRAM)
    with pytest.raises(RejectedError, match="1002 bytes"):
        run(with_client, ig, "send", dm("é" * 501, IG_ANDY[0]))
    with pytest.raises(RejectedError, match="2001 characters"):
        run(with_client, config(meta_server, Channel.MESSENGER), "send", dm("a" * 2001, ANDY[0]))
    assert not meta_server.requests


@pytest.mark.parametrize(
    ("case", "expected", "code"),
    [
        ("bad_token", AuthenticationError, "190"),
        ("throttled", RateLimitedError, "32"),
        ("server", TransientError, "2"),
        ("unknown_user", RejectedError, "100/2018001"),
    ],
)
def test_graph_errors_are_typed(
    meta_server: MetaServer, with_client: Any, case: str, expected: type[ChannelError], code: str
) -> None:
    meta_server.add_dm("messenger", *ANDY, "help")
    cfg = config(meta_server, Channel.MESSENGER)
    recipient = ANDY[0]
    if case == "bad_token":
        cfg = config(meta_server, Channel.MESSENGER, token="EAAexpiredtoken999999")
    elif case == "throttled":
        meta_server.misbehave("429")
    elif case == "server":
        meta_server.misbehave("500")
    else:
        recipient = "999"

    with pytest.raises(expected) as caught:
        run(with_client, cfg, "send", dm("hi", recipient))
    assert caught.value.code == code
    assert "fbtrace_id" in str(caught.value)
    if isinstance(caught.value, RateLimitedError):
        assert caught.value.retry_after == 180.0, "3 minutes from X-Business-Use-Case-Usage"


@pytest.mark.parametrize("fault", ["drop", "stall"])
def test_lost_answers_are_unknown_and_reconciled(
    meta_server: MetaServer, with_client: Any, fault: str
) -> None:
    meta_server.add_dm("messenger", *ANDY, "help")
    post = meta_server.add_post()
    comment = meta_server.add_comment(post, ANDY, "Broken")
    meta_server.misbehave(fault, times=2, path=r"/(messages|comments)$")
    message = dm("Refund sent", ANDY[0])
    public = OutgoingReply("k", "Fixed, thanks!", "public", ANDY[0], comment)

    async def body(client: httpx.AsyncClient) -> list[Any]:
        messenger = MetaAdapter(config(meta_server, Channel.MESSENGER), client)
        facebook = MetaAdapter(config(meta_server, Channel.FACEBOOK), client)
        with pytest.raises(UnknownOutcomeError):
            await messenger.send(message)
        with pytest.raises(UnknownOutcomeError):
            await facebook.send(public)
        return [
            await messenger.find_sent(message),
            await facebook.find_sent(public),
            await messenger.find_sent(dm("never sent", ANDY[0])),
        ]

    found_dm, found_comment, missing = with_client(body)
    assert found_dm is not None and found_dm.remote_id == meta_server.sent[0]["message_id"]
    assert found_comment is not None and found_comment.remote_id in meta_server.comments
    assert missing is None


@pytest.mark.parametrize("fault", ["malformed", "huge", "cut_body", "stall"])
def test_fetch_faults_are_transient(meta_server: MetaServer, with_client: Any, fault: str) -> None:
    meta_server.add_dm("messenger", *ANDY, "help")
    meta_server.misbehave(fault)
    with pytest.raises(TransientError) as caught:
        run(with_client, config(meta_server, Channel.MESSENGER), "fetch", {})
    assert not isinstance(caught.value, UnknownOutcomeError)


def test_token_never_shown(meta_server: MetaServer, with_client: Any) -> None:
    meta_server.echo_token = True
    bad = "EAAsecretpagetokenthatleaks123456"
    with pytest.raises(AuthenticationError) as caught:
        run(with_client, config(meta_server, Channel.MESSENGER, token=bad), "fetch", {})
    shown = "".join(traceback.format_exception(caught.value))
    assert bad not in shown and "***" in shown


def test_test_names_the_page(meta_server: MetaServer, with_client: Any) -> None:
    line = run(with_client, config(meta_server, Channel.FACEBOOK), "test")
    assert "Acme Support" in line and PAGE_ID in line
    line = run(with_client, config(meta_server, Channel.INSTAGRAM), "test")
    assert "@acme.support" in line


def test_malformed_graph_nodes_are_skipped(meta_server: MetaServer, with_client: Any) -> None:
    good = meta_server.add_dm("messenger", *ANDY, "fine")
    conv = meta_server.conversations[f"t_me{ANDY[0]}"]
    conv["messages"].insert(
        0, {"id": "m_nofrom", "created_time": conv["updated_time"], "message": "?"}
    )
    conv["messages"].insert(0, {"id": "m_notime", "from": {"id": BEA[0]}, "message": "?"})
    meta_server.conversations["t_broken"] = {
        "id": "t_broken", "platform": "messenger", "psid": "1", "updated_time": conv["updated_time"],
        "messages": [{"from": "not an object", "created_time": 5}],
    }  # fmt: skip

    result = run(with_client, config(meta_server, Channel.MESSENGER), "fetch", {})

    assert [m.external_id for m in result.messages] == [good]
    assert len(result.problems) == 3 and all("without id" in p for p in result.problems)
