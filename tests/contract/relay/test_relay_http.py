"""The relay over real loopback sockets: the webhook contracts of Meta, Twilio and X, the console
pull API, and the refusals (bad signature, malformed JSON, huge body) that must store nothing."""

from __future__ import annotations

import json
import logging
import socket
from urllib.parse import urlencode

import httpx
import pytest

from tests.contract.relay.conftest import RunningRelay

WA_EVENT = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "WABA1",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550001", "phone_number_id": "P1"},
                        "contacts": [{"profile": {"name": "Pablo"}, "wa_id": "16505551234"}],
                        "messages": [
                            {
                                "from": "16505551234",
                                "id": "wamid.A1",
                                "timestamp": "1764612000",
                                "type": "text",
                                "text": {"body": "Hola, my order never came 😞"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}
PAGE_EVENT = {
    "object": "page",
    "entry": [
        {
            "id": "PAGE1",
            "time": 1457764198246,
            "messaging": [
                {
                    "sender": {"id": "PSID1"},
                    "recipient": {"id": "PAGE1"},
                    "timestamp": 1457764197627,
                    "message": {"mid": "mid.1457764197618:41d1", "text": "hello, world!"},
                }
            ],
        }
    ],
}


def post_meta(
    relay: RunningRelay, body: bytes, path: str = "/webhooks/meta", **headers: str
) -> httpx.Response:
    sig = headers.pop("signature", relay.meta_signature(body))
    return httpx.post(
        relay.url + path,
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig, **headers},
    )


def pull(relay: RunningRelay, **params: object) -> dict:
    r = httpx.get(relay.url + "/v1/events", params=params, headers=relay.auth())
    assert r.status_code == 200, r.text
    return r.json()


# -- Meta -----------------------------------------------------------------------------------------


def test_meta_verification_challenge(relay: RunningRelay) -> None:
    ok = httpx.get(
        relay.url + "/webhooks/meta",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "verify-me",
            "hub.challenge": "1158201444",
        },
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wa = httpx.get(
        relay.url + "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "77"},
    )
    assert (wa.status_code, wa.text) == (200, "77")
    wrong = httpx.get(
        relay.url + "/webhooks/meta",
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
    )
    assert wrong.status_code == 403
    assert "1" not in wrong.text.replace("403", "")
    mode = httpx.get(
        relay.url + "/webhooks/meta",
        params={"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "1"},
    )
    assert mode.status_code == 403


def test_meta_events_signed_are_stored_with_their_source(relay: RunningRelay) -> None:
    wa = json.dumps(WA_EVENT, ensure_ascii=False).encode()
    page = json.dumps(PAGE_EVENT).encode()
    assert post_meta(relay, wa, "/webhooks/whatsapp").status_code == 200
    assert post_meta(relay, page).status_code == 200
    events = pull(relay)["events"]
    assert [e["source"] for e in events] == ["whatsapp", "meta"]
    assert events[0]["payload"] == WA_EVENT  # exactly as received, emoji included
    assert events[1]["payload"] == PAGE_EVENT
    assert events[0]["received_at"].endswith("+00:00")
    only_wa = pull(relay, source="whatsapp")["events"]
    assert [e["id"] for e in only_wa] == [events[0]["id"]]


def test_meta_bad_or_missing_signature_is_refused_and_nothing_stored(
    relay: RunningRelay, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(PAGE_EVENT).encode()
    tampered = body.replace(b"hello", b"jello")
    caplog.set_level(logging.WARNING, logger="services.relay")
    assert post_meta(relay, tampered, signature=relay.meta_signature(body)).status_code == 403
    assert post_meta(relay, body, signature="").status_code == 403
    assert post_meta(relay, body, signature="sha1=" + "0" * 40).status_code == 403
    assert post_meta(relay, body, signature="sha256=nothex").status_code == 403
    assert relay.stored() == 0
    assert "X-Hub-Signature-256" in caplog.text
    assert "meta-app-secret" not in caplog.text


def test_malformed_json_and_non_objects_are_400(relay: RunningRelay) -> None:
    for body in (b'{"object": "page", "entry": [', b"[1, 2]", b"\xff\xfe{}", b""):
        r = post_meta(relay, body)
        assert r.status_code == 400, body
        assert "JSON" in r.json()["error"]
    assert relay.stored() == 0


def test_unknown_meta_object_is_acknowledged_but_not_stored(relay: RunningRelay) -> None:
    r = post_meta(relay, json.dumps({"object": "permissions", "entry": []}).encode())
    assert r.status_code == 200
    assert r.json() == {"ok": True, "stored": False}
    assert relay.stored() == 0


def test_a_repeated_delivery_is_stored_once(relay: RunningRelay) -> None:
    body = json.dumps(WA_EVENT).encode()
    assert post_meta(relay, body).json()["stored"] is True
    assert post_meta(relay, body).json()["stored"] is False
    assert relay.stored() == 1


def test_huge_body_is_413_and_not_stored(relay: RunningRelay) -> None:
    event = {"object": "page", "entry": [], "pad": "x" * (1024 * 1024 + 10)}
    body = json.dumps(event).encode()
    r = post_meta(relay, body)
    assert r.status_code == 413

    # without a Content-Length (chunked), the limit holds as the body streams in
    def chunks():
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    r = httpx.post(
        relay.url + "/webhooks/meta",
        content=chunks(),
        headers={"X-Hub-Signature-256": relay.meta_signature(body)},
    )
    assert r.status_code == 413
    assert relay.stored() == 0
    # the relay still serves afterwards
    assert httpx.get(relay.url + "/v1/health").json() == {"ok": True, "events": 0}


def test_malformed_http_is_400(relay: RunningRelay) -> None:
    host, port = relay.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")


def test_unconfigured_endpoints_answer_503(bare_relay: RunningRelay) -> None:
    body = json.dumps(PAGE_EVENT).encode()
    assert httpx.post(bare_relay.url + "/webhooks/meta", content=body).status_code == 503
    assert httpx.post(bare_relay.url + "/webhooks/twilio", content=b"a=b").status_code == 503
    assert httpx.get(bare_relay.url + "/webhooks/x", params={"crc_token": "c"}).status_code == 503
    assert bare_relay.stored() == 0


def test_unknown_paths_and_methods(relay: RunningRelay) -> None:
    assert httpx.get(relay.url + "/nope").status_code == 404
    assert httpx.delete(relay.url + "/webhooks/meta").status_code == 405


# -- Twilio ---------------------------------------------------------------------------------------


def test_twilio_signed_form_is_stored_as_json(relay: RunningRelay) -> None:
    params = {
        "MessageSid": "SM1234567890",
        "From": "+15558675310",
        "To": "+15550001111",
        "Body": "Where is my parcel? ça va",
        "NumMedia": "0",
    }
    path = "/webhooks/twilio?account=support"
    r = httpx.post(
        relay.url + path,
        content=urlencode(params).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": relay.twilio_signature(path, params),
        },
    )
    assert r.status_code == 200, r.text
    (event,) = pull(relay, source="twilio")["events"]
    assert event["payload"] == params


def test_twilio_bad_signature_is_403(relay: RunningRelay) -> None:
    params = {"MessageSid": "SM1", "Body": "hi"}
    sig = relay.twilio_signature("/webhooks/twilio", params)
    forged = dict(params, Body="hi there")
    for headers in ({"X-Twilio-Signature": sig}, {}):
        r = httpx.post(
            relay.url + "/webhooks/twilio",
            content=urlencode(forged).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )
        assert r.status_code == 403
    assert relay.stored() == 0


# -- X --------------------------------------------------------------------------------------------


def test_x_crc_and_signed_events(relay: RunningRelay) -> None:
    from services.channels.webhooks import x_crc_response

    r = httpx.get(relay.url + "/webhooks/x", params={"crc_token": "9b4507b3-1d9c"})
    assert r.status_code == 200
    assert r.json() == {"response_token": x_crc_response("x-consumer-secret", "9b4507b3-1d9c")}
    assert httpx.get(relay.url + "/webhooks/x").status_code == 400
    body = json.dumps(
        {"for_user_id": "2244994945", "tweet_create_events": [{"id_str": "1"}]}
    ).encode()
    ok = httpx.post(
        relay.url + "/webhooks/x",
        content=body,
        headers={"x-twitter-webhooks-signature": relay.x_signature(body)},
    )
    assert ok.status_code == 200
    bad = httpx.post(
        relay.url + "/webhooks/x",
        content=body + b" ",
        headers={"x-twitter-webhooks-signature": relay.x_signature(body)},
    )
    assert bad.status_code == 403
    assert [e["source"] for e in pull(relay)["events"]] == ["x"]


# -- the console side -----------------------------------------------------------------------------


def test_events_need_the_bearer_token(relay: RunningRelay) -> None:
    assert httpx.get(relay.url + "/v1/events").status_code == 401
    wrong = {"Authorization": "Bearer console-token-2"}
    assert httpx.get(relay.url + "/v1/events", headers=wrong).status_code == 401
    basic = {"Authorization": "Basic console-token-1"}
    assert httpx.get(relay.url + "/v1/events", headers=basic).status_code == 401
    assert httpx.get(relay.url + "/v1/health").json()["ok"] is True


def test_events_page_with_the_cursor(relay: RunningRelay) -> None:
    for i in range(7):
        event = dict(WA_EVENT, seq=i)
        assert post_meta(relay, json.dumps(event).encode()).status_code == 200
    seen: list[int] = []
    cursor = "0"
    pages = 0
    while True:
        page = pull(relay, after=cursor, limit=3)
        seen += [e["payload"]["seq"] for e in page["events"]]
        pages += 1
        assert page["next"] == (str(page["events"][-1]["id"]) if page["events"] else cursor)
        cursor = page["next"]
        if not page["more"]:
            break
    assert seen == list(range(7))
    assert pages == 3
    empty = pull(relay, after=cursor)
    assert empty == {"events": [], "next": cursor, "more": False}
    assert len(pull(relay, limit=10_000)["events"]) == 7  # limit is capped, not refused
    bad = httpx.get(relay.url + "/v1/events", params={"after": "x"}, headers=relay.auth())
    assert bad.status_code == 400
    assert httpx.get(relay.url + "/v1/health").json() == {"ok": True, "events": 7}
