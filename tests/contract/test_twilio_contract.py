"""TwilioSmsAdapter against a loopback Twilio REST API (tests/contract/servers/twilio_server.py)."""

from __future__ import annotations

import base64
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
from services.channels.twilio import TwilioSmsAdapter
from tests.contract.servers.twilio_server import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, TwilioServer

ANDY = "+447700900123"
NOW = 1796034600
MESSAGES = rf"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages\.json"


def config(server: TwilioServer, token: str = AUTH_TOKEN, **settings: Any) -> AccountConfig:
    values = {"base_url": server.url, "from_number": OUR_NUMBER, "timeout_s": 0.5, **settings}
    return AccountConfig(
        4, "acme-sms", Channel.SMS, "twilio", settings=values,
        secrets={"account_sid": ACCOUNT_SID, "auth_token": token},
    )  # fmt: skip


def sms(text: str, to: str = ANDY) -> OutgoingReply:
    return OutgoingReply("k", text, "private", to, None)


def run(with_client: Any, cfg: AccountConfig, method: str, *args: Any) -> Any:
    async def body(client: httpx.AsyncClient) -> Any:
        return await getattr(TwilioSmsAdapter(cfg, client), method)(*args)

    return with_client(body)


def test_fetch_maps_inbound_messages(twilio_server: TwilioServer, with_client: Any) -> None:
    sid = twilio_server.add_inbound(ANDY, "My bill is wrong", at=NOW)
    twilio_server.add_inbound("+15550001111", "", at=NOW + 1, media=2)
    twilio_server._store(OUR_NUMBER, ANDY, "our reply", "outbound-api", "delivered", NOW + 2)

    result = run(with_client, config(twilio_server, lookback_days=30000), "fetch", {})

    mms, first = result.messages  # newest first
    assert (first.external_id, first.author, first.text) == (sid, ANDY, "My bill is wrong")
    assert first.channel is Channel.SMS and first.direction is Direction.IN
    assert first.created_at == NOW and first.thread is None and first.in_reply_to is None
    assert first.customer_key == "phone:+447700900123"
    assert mms.text == "[MMS with 2 media]"
    [call] = twilio_server.calls("GET", MESSAGES)
    assert call.q("To") == OUR_NUMBER and call.q("PageSize") == "50"
    assert call.q("DateSent>") is not None
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert call.header("authorization") == expected
    assert result.cursor == {"since": str(NOW + 1), "seen": mms.external_id}


def test_paging_and_the_same_second_cursor(twilio_server: TwilioServer, with_client: Any) -> None:
    for i in range(120):
        twilio_server.add_inbound(ANDY, f"msg {i}", at=NOW + i)

    async def body(client: httpx.AsyncClient) -> list[Any]:
        adapter = TwilioSmsAdapter(config(twilio_server, lookback_days=30000), client)
        results, cursor = [], {}
        for _ in range(4):
            result = await adapter.fetch(cursor)
            results.append(result)
            cursor = result.cursor
            if not result.more:
                break
        # Two more in the last second already seen, and one later: only these are new.
        twilio_server.add_inbound(ANDY, "same second", at=NOW + 119)
        twilio_server.add_inbound(ANDY, "later", at=NOW + 200)
        results.append(await adapter.fetch(cursor))
        results.append(await adapter.fetch(results[-1].cursor))
        return results

    results = with_client(body)
    assert [len(r.messages) for r in results] == [50, 50, 20, 2, 0]
    assert [r.more for r in results] == [True, True, False, False, False]
    assert "next_page" in results[0].cursor and "next_page" not in results[2].cursor
    texts = [m.text for r in results[:3] for m in r.messages]
    assert sorted(texts) == sorted(f"msg {i}" for i in range(120)), "every message once"
    assert {m.text for m in results[3].messages} == {"same second", "later"}
    calls = twilio_server.calls("GET", MESSAGES)
    assert calls[1].q("Page") == "1" and calls[1].q("PageToken") == "PA1"
    assert calls[3].q("DateSent>") == "2026-11-30", "the day of the high-water mark"


def test_send_posts_the_form_fields(twilio_server: TwilioServer, with_client: Any) -> None:
    result = run(with_client, config(twilio_server), "send", sms("We fixed your bill ^CP"))
    [call] = twilio_server.calls("POST", MESSAGES)
    assert call.form() == {"To": ANDY, "From": OUR_NUMBER, "Body": "We fixed your bill ^CP"}
    assert call.header("content-type") == "application/x-www-form-urlencoded"
    assert result.remote_id == twilio_server.messages[-1]["sid"]


@pytest.mark.parametrize(
    ("case", "expected", "code"),
    [
        ("token", AuthenticationError, "20003"),
        ("invalid", RejectedError, "21211"),
        ("stop", RejectedError, "21610"),
        ("landline", RejectedError, "21614"),
        ("429", RateLimitedError, "20429"),
        ("500", TransientError, "20503"),
    ],
)
def test_errors_are_typed(
    twilio_server: TwilioServer,
    with_client: Any,
    case: str,
    expected: type[ChannelError],
    code: str,
) -> None:
    cfg = config(twilio_server, token="0" * 32) if case == "token" else config(twilio_server)
    to = {"invalid": "07700 900123"}.get(case, ANDY)
    if case == "stop":
        twilio_server.unsubscribed.add(ANDY)
    elif case == "landline":
        twilio_server.landlines.add(ANDY)
    elif case in ("429", "500"):
        twilio_server.misbehave(case)
    with pytest.raises(expected) as caught:
        run(with_client, cfg, "send", sms("hello", to=to))
    assert caught.value.code == code
    shown = "".join(traceback.format_exception(caught.value))
    assert ACCOUNT_SID not in shown and AUTH_TOKEN not in shown and "0" * 32 not in shown
    if isinstance(caught.value, RateLimitedError):
        assert caught.value.retry_after == 2.0


@pytest.mark.parametrize("fault", ["stall", "drop", "cut_body"])
def test_lost_answer_is_unknown_then_reconciled(
    twilio_server: TwilioServer, with_client: Any, fault: str
) -> None:
    twilio_server.misbehave(fault, path="Messages.json$")
    message = sms("Your refund is on its way")

    async def body(client: httpx.AsyncClient) -> tuple[Any, Any]:
        adapter = TwilioSmsAdapter(config(twilio_server), client)
        with pytest.raises(UnknownOutcomeError) as caught:
            await adapter.send(message)
        assert ACCOUNT_SID not in str(caught.value), "the SID in the path is masked"
        return await adapter.find_sent(message), await adapter.find_sent(sms("other"))

    found, other = with_client(body)
    assert found is not None and found.remote_id == twilio_server.messages[-1]["sid"]
    assert other is None
    assert len(twilio_server.calls("POST", MESSAGES)) == 1


def test_too_long_and_missing_settings_fail_before_the_network(
    twilio_server: TwilioServer, with_client: Any
) -> None:
    with pytest.raises(RejectedError, match="1601 characters"):
        run(with_client, config(twilio_server), "send", sms("a" * 1601))
    with pytest.raises(RejectedError, match="from_number"):
        run(with_client, config(twilio_server, from_number=""), "send", sms("hi"))
    cfg = AccountConfig(5, "x", Channel.SMS, "twilio", settings={"base_url": twilio_server.url})
    with pytest.raises(AuthenticationError, match="SID and auth token"):
        run(with_client, cfg, "fetch", {})
    assert not twilio_server.requests


@pytest.mark.parametrize("fault", ["malformed", "huge", "stall"])
def test_fetch_faults_are_transient(
    twilio_server: TwilioServer, with_client: Any, fault: str
) -> None:
    twilio_server.misbehave(fault)
    with pytest.raises(TransientError) as caught:
        run(with_client, config(twilio_server), "fetch", {})
    assert not isinstance(caught.value, UnknownOutcomeError)


def test_declarations_and_test(twilio_server: TwilioServer, with_client: Any) -> None:
    async def body(client: httpx.AsyncClient) -> str:
        adapter = TwilioSmsAdapter(config(twilio_server), client)
        assert adapter.channel is Channel.SMS and adapter.account == "acme-sms"
        assert (adapter.limits.max_length, adapter.limits.length_rule) == (1600, "sms_segments")
        assert adapter.capabilities.reconcile and adapter.capabilities.private_message
        return await adapter.test()

    assert with_client(body) == (
        f"Twilio account Acme Support (active), sending from {OUR_NUMBER}: credentials work"
    )
    assert "base_url" in TwilioSmsAdapter.SETTING_FIELDS
    assert set(TwilioSmsAdapter.SECRET_FIELDS) == {"account_sid", "auth_token"}


def test_a_429_storm_then_one_delivery(twilio_server: TwilioServer, with_client: Any) -> None:
    twilio_server.misbehave("429", times=3)

    async def body(client: httpx.AsyncClient) -> list[Any]:
        adapter = TwilioSmsAdapter(config(twilio_server), client)
        outcomes: list[Any] = []
        for _ in range(4):
            try:
                outcomes.append(await adapter.send(sms("hello")))
            except RateLimitedError as exc:
                outcomes.append(exc.retry_after)
        return outcomes

    outcomes = with_client(body)
    assert outcomes[:3] == [2.0, 2.0, 2.0] and outcomes[3].remote_id
    assert [m["body"] for m in twilio_server.messages] == ["hello"], "throttled sends did nothing"
