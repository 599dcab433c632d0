"""The shared HTTP plumbing (services/channels/http.py): waits, times, redaction, the classification
of failures without httpcore traces, and that the registry builds every HTTP adapter."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx
import pytest

from console.domain import Channel
from console.errors import (
    AuthenticationError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
)
from services.channels.base import AccountConfig
from services.channels.http import (
    HttpApi,
    UnreachableError,
    epoch_reset_wait,
    meta_usage_wait,
    parse_time,
    retry_after_header,
)

SECRET = "s3cr3t-token-value-0123456789"


def test_retry_after_seconds_and_http_date() -> None:
    now = 1_800_000_000.0
    assert retry_after_header(httpx.Headers({"Retry-After": "30"}), now) == 30.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert retry_after_header(httpx.Headers({"Retry-After": date}), now) == pytest.approx(90, abs=1)
    assert retry_after_header(httpx.Headers({"Retry-After": "soon"}), now) is None
    assert retry_after_header(httpx.Headers({}), now) is None


def test_channel_reset_headers() -> None:
    now = 1_800_000_000.0
    x = epoch_reset_wait("x-rate-limit-reset")
    assert x(httpx.Headers({"x-rate-limit-reset": str(int(now) + 60)}), now) == 61.0
    assert x(httpx.Headers({"x-rate-limit-reset": str(int(now) - 5)}), now) == 1.0
    buc = {"1234": [{"type": "messenger", "call_count": 99, "estimated_time_to_regain_access": 4}]}
    headers = httpx.Headers({"X-Business-Use-Case-Usage": json.dumps(buc), "X-App-Usage": "{bad"})
    assert meta_usage_wait(headers, now) == 240.0
    app = {"call_count": 100, "total_time": 10, "estimated_time_to_regain_access": 1}
    assert meta_usage_wait(httpx.Headers({"X-App-Usage": json.dumps(app)}), now) == 60.0
    assert meta_usage_wait(httpx.Headers({}), now) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-30T10:30:00.000Z", 1796034600),
        ("2026-11-30T10:30:00+0000", 1796034600),
        ("2026-11-30T11:30:00+01:00", 1796034600),
        ("Mon, 30 Nov 2026 10:30:00 +0000", 1796034600),
        ("1796034600", 1796034600),
        (1796034600, 1796034600),
        ("", None),
        ("yesterday", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_time(value: Any, expected: int | None) -> None:
    assert parse_time(value) == expected


def _api(handler: Any, **kw: Any) -> tuple[httpx.AsyncClient, HttpApi]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    api = HttpApi(client, label="Test acct", base_url="https://api.example", secrets=[SECRET], **kw)
    return client, api


@pytest.mark.parametrize(
    ("exc", "sending", "expected"),
    [
        (httpx.ConnectError("refused"), True, UnreachableError),
        (httpx.ConnectTimeout("slow"), True, UnreachableError),
        (httpx.PoolTimeout("busy"), True, TransientError),
        (httpx.ReadTimeout("slow"), True, UnknownOutcomeError),
        (httpx.RemoteProtocolError("gone"), True, UnknownOutcomeError),
        (httpx.ReadTimeout("slow"), False, TransientError),
    ],
)
def test_transport_failures_without_traces(
    aio: Any, exc: Exception, sending: bool, expected: type[Exception]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async def go() -> None:
        client, api = _api(handler)
        async with client:
            with pytest.raises(expected) as caught:
                await api.call("POST", "/send", json_body={}, sending=sending)
        if expected is TransientError:
            assert not isinstance(caught.value, UnknownOutcomeError | UnreachableError)

    aio(go())


@pytest.mark.parametrize(
    ("status", "sending", "expected"),
    [
        (401, False, AuthenticationError),
        (403, False, AuthenticationError),
        (404, False, RejectedError),
        (408, True, TransientError),
        (429, True, RateLimitedError),
        (500, True, TransientError),
        (504, True, UnknownOutcomeError),
        (504, False, TransientError),
    ],
)
def test_status_classes(aio: Any, status: int, sending: bool, expected: type[Exception]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=f"nope, {SECRET} is wrong")

    async def go() -> Exception:
        client, api = _api(handler, default_retry_after=42.0)
        async with client:
            with pytest.raises(expected) as caught:
                await api.call("POST", "/x", json_body={}, sending=sending)
        return caught.value

    error = aio(go())
    assert SECRET not in str(error) and "***" in str(error), "non-JSON error bodies are redacted"
    if isinstance(error, RateLimitedError):
        assert error.retry_after == 42.0


def test_every_request_carries_a_timeout(aio: Any) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"ok": True})

    async def go() -> None:
        client, api = _api(handler, timeout_s=7.5)
        async with client:
            await api.get("/a")

    aio(go())
    assert seen == [{"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}]


def test_overall_deadline_bounds_a_slow_drip(aio: Any) -> None:
    class Drip(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            import asyncio

            for _ in range(100):
                await asyncio.sleep(0.05)
                yield b" "

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Drip())

    async def go() -> float:
        client, api = _api(handler, timeout_s=0.1)
        start = time.monotonic()
        async with client:
            with pytest.raises(UnknownOutcomeError):
                await api.call("POST", "/send", json_body={}, sending=True)
        return time.monotonic() - start

    assert aio(go()) < 1.0


def test_redaction_covers_encoded_forms() -> None:
    api = HttpApi(httpx.AsyncClient(), label="L", base_url="https://h", secrets=["a b/c+d=secret"])
    api.add_secret("tokentoken", basic_user="ACuser")
    text = api.redact(
        "x a b/c+d=secret y a%20b%2Fc%2Bd%3Dsecret z a+b%2Fc%2Bd%3Dsecret QUN1c2VyOnRva2VudG9rZW4="
    )
    assert text == "x *** y *** z *** ***"


@pytest.mark.parametrize(
    ("kind", "channel", "cls"),
    [
        ("x", Channel.X, "XAdapter"),
        ("meta", Channel.MESSENGER, "MetaAdapter"),
        ("meta", Channel.FACEBOOK, "MetaAdapter"),
        ("meta", Channel.INSTAGRAM, "MetaAdapter"),
        ("whatsapp", Channel.WHATSAPP, "WhatsAppAdapter"),
        ("twilio", Channel.SMS, "TwilioSmsAdapter"),
    ],
)
def test_the_registry_builds_each_adapter(aio: Any, kind: str, channel: Channel, cls: str) -> None:
    registry = pytest.importorskip("services.channels.registry")
    names = {f.name for f in registry.setting_fields(kind)}
    assert "base_url" in names
    settings = registry.check_settings(kind, channel, {"base_url": "http://127.0.0.1:9"})

    async def go() -> Any:
        async with httpx.AsyncClient() as client:
            config = AccountConfig(1, "acct", channel, kind, settings=settings, secrets={})
            adapter = registry.build_adapter(config, client)
            return type(adapter).__name__, adapter.channel, adapter.account

    assert aio(go()) == (cls, channel, "acct")
