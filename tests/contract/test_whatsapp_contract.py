"""WhatsAppAdapter against a loopback Cloud API + relay, and against the real relay."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
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
from services.channels.whatsapp import WhatsAppAdapter, whatsapp_webhook_messages
from tests.contract.servers.whatsapp_server import (
    ACCESS_TOKEN,
    PHONE_NUMBER_ID,
    RELAY_TOKEN,
    WhatsAppServer,
    text_message,
    webhook,
)

PABLO = "16505551234"
DAY = 24 * 3600


def config(server: WhatsAppServer, **kw: Any) -> AccountConfig:
    secrets = {
        "access_token": kw.pop("token", ACCESS_TOKEN),
        "relay_token": kw.pop("relay_token", RELAY_TOKEN),
    }
    settings = {
        "base_url": server.url,
        "relay_url": server.url,
        "phone_number_id": PHONE_NUMBER_ID,
        "version": "v21.0",
        "timeout_s": 0.5,
        **kw,
    }
    return AccountConfig(
        3, "acme-wa", Channel.WHATSAPP, "whatsapp", settings=settings, secrets=secrets
    )


def out(text: str, **kw: Any) -> OutgoingReply:
    values: dict[str, Any] = {"mode": "private", "recipient": PABLO, "in_reply_to": None}
    values.update(kw)
    return OutgoingReply(idempotency_key="k", text=text, **values)


def run(with_client: Any, cfg: AccountConfig, method: str, *args: Any) -> Any:
    async def body(client: httpx.AsyncClient) -> Any:
        return await getattr(WhatsAppAdapter(cfg, client), method)(*args)

    return with_client(body)


# -- the pure payload -> messages function ---------------------------------------------------


def test_webhook_payload_maps_messages() -> None:
    payload = webhook(
        [
            text_message(PABLO, "Where is my order?", "wamid.A", 1796034600),
            text_message(PABLO, "Hello?", "wamid.B", 1796034660, context="wamid.OURS"),
            {"from": "447700900123", "id": "wamid.C", "timestamp": "1796034700", "type": "image",
             "image": {"id": "media-1", "mime_type": "image/jpeg", "caption": "the broken box"}},
            {"from": "447700900123", "id": "wamid.D", "timestamp": "1796034701", "type": "interactive",
             "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}},
        ],
        [{"profile": {"name": "Pablo Morales"}, "wa_id": PABLO}],
    )  # fmt: skip

    messages, problems = whatsapp_webhook_messages(payload, "acme-wa")

    assert problems == []
    first, second, image, button = messages
    assert first.channel is Channel.WHATSAPP and first.account == "acme-wa"
    assert first.direction is Direction.IN and first.external_id == "wamid.A"
    assert (first.author, first.author_name) == (PABLO, "Pablo Morales")
    assert first.created_at == 1796034600 and first.text == "Where is my order?"
    assert first.thread is None and first.in_reply_to is None
    assert first.customer_key == f"phone:+{PABLO}"
    assert first.extra["phone_number_id"] == PHONE_NUMBER_ID
    assert second.in_reply_to == "wamid.OURS"
    assert image.text == "[image] the broken box" and image.extra["media_id"] == "media-1"
    assert image.author_name is None
    assert button.text == "Yes"


def test_webhook_payload_skips_with_reasons() -> None:
    payload = webhook(
        [
            {"from": PABLO, "id": "wamid.R", "timestamp": "1796034600", "type": "reaction",
             "reaction": {"message_id": "wamid.X", "emoji": "👍"}},
            {"from": PABLO, "id": "wamid.U", "timestamp": "1796034600", "type": "unsupported",
             "errors": [{"code": 131051, "title": "Message type unknown"}]},
            {"from": PABLO, "type": "text", "text": {"body": "no id"}},
            {"from": PABLO, "id": "wamid.E", "timestamp": "1796034600", "type": "text", "text": {}},
        ],
        statuses=[
            {"id": "wamid.S1", "status": "delivered", "timestamp": "1796034600", "recipient_id": PABLO},
            {"id": "wamid.S2", "status": "failed", "timestamp": "1796034600", "recipient_id": PABLO,
             "errors": [{"code": 131026, "title": "Message undeliverable"}]},
        ],
    )  # fmt: skip

    messages, problems = whatsapp_webhook_messages(payload, "acme-wa")

    assert messages == []
    assert len(problems) == 5
    assert "reaction" in problems[0] and "Message type unknown" in problems[1]
    assert "without id" in problems[2] and "no text" in problems[3]
    assert "wamid.S2" in problems[4] and "131026" in problems[4], "failed delivery reported"


@pytest.mark.parametrize(
    "payload",
    [None, [], "text", {"object": "page", "entry": []}, {"object": "whatsapp_business_account",
     "entry": "nope"}, {"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
     "messages", "value": {"messages": "x", "contacts": [None]}}]}]}],
)  # fmt: skip
def test_malformed_payloads_never_crash(payload: Any) -> None:
    messages, problems = whatsapp_webhook_messages(payload, "acme-wa")
    assert messages == []
    assert isinstance(problems, list)


def test_other_numbers_are_left_out() -> None:
    payload = webhook([text_message(PABLO, "hi", "wamid.A", 1)], phone_number_id="999")
    assert whatsapp_webhook_messages(payload, "a", phone_number_id=PHONE_NUMBER_ID) == ([], [])
    assert len(whatsapp_webhook_messages(payload, "a")[0]) == 1


# -- fetch from the relay ---------------------------------------------------------------------


def test_fetch_pages_through_the_relay(wa_server: WhatsAppServer, with_client: Any) -> None:
    for i in range(130):
        wa_server.inbound(PABLO, "Pablo", f"message {i}")
    wa_server.add_webhook({"object": "page", "entry": []}, source="whatsapp")
    wa_server.add_webhook("not an object", source="whatsapp")

    async def body(client: httpx.AsyncClient) -> list[Any]:
        adapter = WhatsAppAdapter(config(wa_server), client)
        first = await adapter.fetch({})
        second = await adapter.fetch(first.cursor)
        third = await adapter.fetch(second.cursor)
        return [first, second, third]

    first, second, third = with_client(body)
    assert (len(first.messages), first.more, first.cursor) == (100, True, {"relay_after": "100"})
    assert (len(second.messages), second.more, second.cursor) == (30, False, {"relay_after": "132"})
    assert len(second.problems) == 2
    assert third.messages == [] and third.cursor == {"relay_after": "132"}
    calls = wa_server.calls("GET", "/v1/events")
    assert [c.q("after") for c in calls] == ["0", "100", "132"]
    assert all(
        c.q("source") == "whatsapp" and c.header("authorization") == f"Bearer {RELAY_TOKEN}"
        for c in calls
    )


def test_bad_relay_token_is_an_authentication_error(
    wa_server: WhatsAppServer, with_client: Any
) -> None:
    with pytest.raises(AuthenticationError, match="valid relay token"):
        run(with_client, config(wa_server, relay_token="wrong-relay-token-xyz"), "fetch", {})


def test_fetch_without_a_relay_says_why(wa_server: WhatsAppServer, with_client: Any) -> None:
    cfg = config(wa_server, relay_url="")
    with pytest.raises(RejectedError, match="relay_url"):
        run(with_client, cfg, "fetch", {})


@pytest.fixture
def real_relay(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The project's relay (services.relay) on a loopback socket, on its own thread and loop."""
    relay_mod = pytest.importorskip("services.relay")
    store_mod = pytest.importorskip("console.storage.relay_store")
    cfg = relay_mod.RelayConfig(
        relay_token=RELAY_TOKEN, verify_token="v", meta_app_secret="app-secret"
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    holder: dict[str, Any] = {}

    async def boot() -> None:
        holder["store"] = store_mod.RelayStore(tmp_path / "relay.sqlite")
        holder["relay"] = relay_mod.Relay(cfg, holder["store"])
        holder["server"] = await holder["relay"].serve("127.0.0.1", 0)

    asyncio.run_coroutine_threadsafe(boot(), loop).result(10)
    port = holder["server"].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", "app-secret"
    finally:

        async def stop() -> None:
            holder["server"].close()
            await holder["relay"].close_connections()
            await holder["server"].wait_closed()
            holder["store"].close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_fetch_from_the_real_relay(
    real_relay: tuple[str, str], wa_server: WhatsAppServer, with_client: Any
) -> None:
    url, secret = real_relay
    payload = webhook([text_message(PABLO, "Is my order shipped?", "wamid.REAL", 1796034600)],
                      [{"profile": {"name": "Pablo"}, "wa_id": PABLO}])  # fmt: skip
    raw = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    posted = httpx.post(
        url + "/webhooks/whatsapp", content=raw, headers={"X-Hub-Signature-256": signature}
    )
    assert posted.status_code == 200

    result = run(with_client, config(wa_server, relay_url=url), "fetch", {})

    assert [(m.external_id, m.author, m.author_name) for m in result.messages] == [
        ("wamid.REAL", PABLO, "Pablo")
    ]
    assert result.cursor == {"relay_after": "1"} and result.more is False


# -- send -------------------------------------------------------------------------------------


def test_reply_in_context(wa_server: WhatsAppServer, with_client: Any) -> None:
    asked = wa_server.inbound(PABLO, "Pablo", "Thanks!")
    result = run(
        with_client,
        config(wa_server),
        "send",
        out("You're welcome, Pablo!", in_reply_to=asked, recipient="+1 650 555 1234"),
    )
    [call] = wa_server.calls("POST", rf"/v21.0/{PHONE_NUMBER_ID}/messages")
    assert call.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PABLO,
        "type": "text",
        "text": {"preview_url": False, "body": "You're welcome, Pablo!"},
        "context": {"message_id": asked},
    }
    assert call.header("authorization") == f"Bearer {ACCESS_TOKEN}"
    assert result.remote_id == wa_server.sent[0]["id"]


def test_outside_the_window_needs_a_template(wa_server: WhatsAppServer, with_client: Any) -> None:
    wa_server.inbound(PABLO, "Pablo", "hello", ago=2 * DAY)
    cfg = config(wa_server)

    with pytest.raises(RejectedError, match="template") as caught:
        run(with_client, cfg, "send", out("Any news?"))
    assert caught.value.code == "131047" and "24-hour" in str(caught.value)

    templated = out(
        "Any news?", extra={"template": "order_update", "template_params": '["Pablo", "A-17"]'}
    )
    result = run(with_client, cfg, "send", templated)
    bodies = [c.json() for c in wa_server.calls("POST", r"/v21.0/\d+/messages")]
    assert [b["type"] for b in bodies] == ["text", "text", "template"]
    assert bodies[-1]["template"] == {
        "name": "order_update",
        "language": {"code": "en"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Pablo"}, {"type": "text", "text": "A-17"}],
            }
        ],
    }
    assert result.remote_id == wa_server.sent[-1]["id"]


def test_known_last_inbound_decides_locally(wa_server: WhatsAppServer, with_client: Any) -> None:
    old = str(int(time.time()) - 3 * DAY)
    wa_server.inbound(PABLO, "Pablo", "hello", ago=3 * DAY)
    cfg = config(wa_server, template_language="de")
    with pytest.raises(RejectedError, match="more than 24 hours"):
        run(with_client, cfg, "send", out("hi", extra={"last_inbound_at": old}))
    assert not wa_server.calls("POST", r"/v21.0/\d+/messages")
    run(
        with_client,
        cfg,
        "send",
        out("hi", extra={"last_inbound_at": old, "template": "order_update"}),
    )
    [call] = wa_server.calls("POST", r"/v21.0/\d+/messages")
    assert call.json()["type"] == "template" and call.json()["template"]["language"] == {
        "code": "de"
    }


@pytest.mark.parametrize(
    ("case", "expected", "code"),
    [
        ("token", AuthenticationError, "190"),
        ("429", RateLimitedError, "130429"),
        ("500", TransientError, "131000"),
        ("template", RejectedError, "132001"),
        ("context", RejectedError, "131009"),
    ],
)
def test_cloud_api_errors_are_typed(
    wa_server: WhatsAppServer, with_client: Any, case: str, expected: type[ChannelError], code: str
) -> None:
    wa_server.inbound(PABLO, "Pablo", "hello", ago=2 * DAY if case == "template" else 60)
    cfg = config(wa_server, token="EAAbadbadbadtoken123") if case == "token" else config(wa_server)
    reply = out("hi")
    if case in ("429", "500"):
        wa_server.misbehave(case)
    elif case == "template":
        reply = out("hi", extra={"template": "no_such_template"})
    elif case == "context":
        reply = out("hi", in_reply_to="wamid.UNKNOWN")
    with pytest.raises(expected) as caught:
        run(with_client, cfg, "send", reply)
    assert caught.value.code == code
    assert "EAAbadbadbadtoken123" not in "".join(traceback.format_exception(caught.value))
    if isinstance(caught.value, RateLimitedError):
        assert caught.value.retry_after > 0


@pytest.mark.parametrize("fault", ["stall", "drop", "cut_body", "malformed"])
def test_lost_answer_is_unknown_and_cannot_be_reconciled(
    wa_server: WhatsAppServer, with_client: Any, fault: str
) -> None:
    wa_server.inbound(PABLO, "Pablo", "hello")
    wa_server.misbehave(fault, path="/messages$")

    async def body(client: httpx.AsyncClient) -> WhatsAppAdapter:
        adapter = WhatsAppAdapter(config(wa_server), client)
        with pytest.raises(UnknownOutcomeError):
            await adapter.send(out("hi"))
        with pytest.raises(NotImplementedError):
            await adapter.find_sent(out("hi"))
        return adapter

    adapter = with_client(body)
    assert not adapter.capabilities.reconcile and len(wa_server.sent) == 1


def test_limits_and_test(wa_server: WhatsAppServer, with_client: Any) -> None:
    async def body(client: httpx.AsyncClient) -> str:
        adapter = WhatsAppAdapter(config(wa_server), client)
        assert adapter.channel is Channel.WHATSAPP and adapter.account == "acme-wa"
        assert (adapter.limits.max_length, adapter.limits.length_rule) == (4096, "chars")
        assert adapter.limits.reply_window_s == DAY
        with pytest.raises(RejectedError, match="4097"):
            await adapter.send(out("a" * 4097))
        return await adapter.test()

    line = with_client(body)
    assert "+1 555-010-0000" in line and "relay reachable" in line
    assert "base_url" in WhatsAppAdapter.SETTING_FIELDS
