"""Shared HTTP plumbing of the channel adapters: one call path from a request to a typed outcome.

:class:`HttpApi` performs every request of an adapter with the injected, shared
``httpx.AsyncClient``, always with a timeout (per phase and an overall deadline), reads at most
``max_body_bytes`` of the answer, parses JSON, and turns every failure into the ``ChannelError``
tree of :mod:`console.errors`:

============================================  =========================================
outcome                                       error
============================================  =========================================
401 / 403 (unless the channel says otherwise) ``AuthenticationError``
429 or a channel throttling code              ``RateLimitedError`` (``retry_after`` from
                                              ``Retry-After``, the channel's reset/usage
                                              headers, else a default)
other 4xx, bad base URL                       ``RejectedError`` with the channel's message
5xx, 408, connect error, pool timeout,        ``TransientError`` (``UnreachableError``
                                              when nothing could connect)
unreadable answer to a fetch                  (``MalformedResponseError``)
timeout / dropped connection after the        ``UnknownOutcomeError`` (reconcile first)
request left, on a send (``sending=True``);
504 or unreadable 2xx answer to a send
============================================  =========================================

Whether "the request left" is decided from httpcore's ``trace`` extension (request headers
started going out); with a transport that does not trace (a mock), a send that fails after the
connect phase is treated as unknown, the safe side: reconciling costs a lookup, guessing wrong
costs a duplicate public reply.

Secrets never reach an exception text or a log line: every message built here passes through
:meth:`HttpApi.redact`, which masks each secret the adapter declared (and its URL-encoded form),
and causes are not chained (``from None``) so a traceback shows only redacted text. Secrets are
sent in headers (``Authorization``), never in URLs.

The module also holds the small JSON and time helpers the adapters share (``as_dict``,
``as_list``, ``text_of``, ``parse_time``) so that malformed payloads degrade into skipped items
with a reason instead of ``KeyError``/``TypeError`` crashes.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from console.errors import (
    AuthenticationError,
    ChannelError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_RETRY_AFTER_S = 60.0
_MASK = "***"
_MESSAGE_MAX = 300


class MalformedResponseError(TransientError):
    """The channel answered a fetch with something that is not the JSON it documents."""


class UnreachableError(TransientError):
    """The channel could not be reached at all (connection refused, DNS, connect timeout):
    nothing was sent. ``offline`` tells the outbox to hold the account's replies and probe."""

    offline = True


@dataclass(frozen=True, slots=True)
class ApiFailure:
    """What a channel's error body says, read by the adapter's ``read_error`` hook.

    ``kind`` forces the classification (a Graph throttling code arrives with HTTP 400);
    None lets the HTTP status decide. ``retry_after`` overrides the header-derived wait.
    """

    message: str
    code: str | None = None
    kind: type[ChannelError] | None = None
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class ApiReply:
    """A successful (2xx) answer: status, headers and the parsed JSON body (None when empty)."""

    status: int
    headers: httpx.Headers
    body: Any


ErrorReader = Callable[[int, Any], ApiFailure | None]
WaitReader = Callable[[httpx.Headers, float], float | None]


class HttpApi:
    """One channel account's HTTP surface: base URL, auth, timeouts, error mapping, redaction."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        label: str,
        base_url: str,
        secrets: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        read_error: ErrorReader | None = None,
        rate_limit_wait: WaitReader | None = None,
        default_retry_after: float = DEFAULT_RETRY_AFTER_S,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.label = label
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self._auth = auth
        self.timeout_s = timeout_s
        self._timeout = httpx.Timeout(timeout_s)
        self._read_error = read_error
        self._rate_limit_wait = rate_limit_wait
        self._default_retry_after = default_retry_after
        self._max_body = max_body_bytes
        self._clock = clock
        self._masks = _masks_for(secrets)

    # -- redaction ---------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every declared secret (plain, URL-encoded, base64 Basic) masked."""
        for secret in self._masks:
            if secret in text:
                text = text.replace(secret, _MASK)
        return text

    def add_secret(self, secret: str, *, basic_user: str | None = None) -> None:
        """Mask one more value (and, for Basic auth, the ``user:secret`` base64 token)."""
        extra = [secret]
        if basic_user is not None:
            extra.append(base64.b64encode(f"{basic_user}:{secret}".encode()).decode())
        self._masks = _masks_for([*self._masks, *extra])

    # -- requests ----------------------------------------------------------------------------

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> ApiReply:
        return await self.call("GET", path, params=params)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        sending: bool = False,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApiReply:
        """Perform one request; ``sending`` marks a non-idempotent send (see module docstring)."""
        url = (base_url.rstrip("/") if base_url else self.base_url) + path
        where = f"{method} {path.split('?', 1)[0]}"
        phase = _Phase()
        try:
            request = self._client.build_request(
                method,
                url,
                params=_clean_params(params),
                json=json_body,
                data=form,
                headers={**self._headers, **(headers or {})},
                timeout=self._timeout,
                extensions={"trace": phase.trace},
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise RejectedError(self._text(f"bad request URL for {where}: {exc}")) from None
        status, resp_headers, raw = await self._exchange(request, where, phase, sending)
        return self._outcome(status, resp_headers, raw, where, sending)

    async def _exchange(
        self, request: httpx.Request, where: str, phase: _Phase, sending: bool
    ) -> tuple[int, httpx.Headers, bytes]:
        # The per-phase timeouts do not bound a server that drips bytes slowly: the overall
        # deadline does.
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                response = await self._client.send(request, auth=self._auth, stream=True)
                try:
                    raw = await self._read_capped(response, where, sending)
                finally:
                    await response.aclose()
                return response.status_code, response.headers, raw
        except ChannelError:
            raise
        except TimeoutError:
            raise self._lost(
                where, "no complete answer within the deadline", phase, sending
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise UnreachableError(self._text(f"cannot reach {where}: {_describe(exc)}")) from None
        except httpx.PoolTimeout as exc:
            raise TransientError(self._text(f"no free connection for {where}: {exc}")) from None
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise RejectedError(self._text(f"cannot send {where}: {_describe(exc)}")) from None
        except (httpx.WriteError, httpx.WriteTimeout) as exc:
            # Writing failed, so the channel never had the whole request and cannot have acted.
            if phase.traced:
                raise TransientError(self._text(f"{where}: {_describe(exc)}")) from None
            raise self._lost(where, _describe(exc), phase, sending) from None
        except httpx.TransportError as exc:
            raise self._lost(where, _describe(exc), phase, sending) from None

    async def _read_capped(self, response: httpx.Response, where: str, sending: bool) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_body:
                text = f"answer to {where} is larger than {self._max_body} bytes"
                if sending and response.is_success:
                    raise UnknownOutcomeError(self._text(f"{text}; the send may have succeeded"))
                raise MalformedResponseError(self._text(text))
            chunks.append(chunk)
        return b"".join(chunks)

    def _lost(self, where: str, what: str, phase: _Phase, sending: bool) -> ChannelError:
        if sending and phase.may_have_left:
            return UnknownOutcomeError(
                self._text(
                    f"{where}: {what} after the request was sent; it may have been processed"
                )
            )
        return TransientError(self._text(f"{where}: {what}"))

    def _outcome(
        self, status: int, headers: httpx.Headers, raw: bytes, where: str, sending: bool
    ) -> ApiReply:
        body, parsed = _parse_json(raw)
        if 200 <= status < 300:
            if not parsed:
                text = f"{where} answered HTTP {status} with a body that is not JSON"
                if sending:
                    raise UnknownOutcomeError(self._text(f"{text}; the send may have succeeded"))
                raise MalformedResponseError(self._text(text))
            return ApiReply(status, headers, body)
        failure = self._failure(status, body if parsed else None, raw)
        raise self._error(status, headers, failure, where, sending)

    def _failure(self, status: int, body: Any, raw: bytes) -> ApiFailure:
        failure = self._read_error(status, body) if self._read_error and body is not None else None
        if failure is None:
            snippet = raw[:_MESSAGE_MAX].decode("utf-8", "replace").strip()
            failure = ApiFailure(snippet or httpx.codes.get_reason_phrase(status) or "error")
        return failure

    def _error(
        self, status: int, headers: httpx.Headers, failure: ApiFailure, where: str, sending: bool
    ) -> ChannelError:
        kind = failure.kind or _kind_for_status(status, sending)
        code = f", code {failure.code}" if failure.code else ""
        text = self._text(f"{failure.message[:_MESSAGE_MAX]} ({where}: HTTP {status}{code})")
        error = (
            RateLimitedError(text, self._wait(headers, failure))
            if kind is RateLimitedError
            else kind(text)
        )
        error.code = failure.code
        return error

    def _wait(self, headers: httpx.Headers, failure: ApiFailure) -> float:
        now = self._clock()
        for wait in (
            failure.retry_after,
            retry_after_header(headers, now),
            self._rate_limit_wait(headers, now) if self._rate_limit_wait else None,
        ):
            if wait is not None:
                return max(0.0, wait)
        return self._default_retry_after

    def _text(self, text: str) -> str:
        return self.redact(f"{self.label}: {text}")


class _Phase:
    """Follows httpcore's trace events to know whether request bytes may have left."""

    def __init__(self) -> None:
        self.traced = False
        self.headers_started = False

    async def trace(self, event: str, info: Mapping[str, Any]) -> None:
        self.traced = True
        if event.endswith(".send_request_headers.started"):
            self.headers_started = True

    @property
    def may_have_left(self) -> bool:
        # Without traces (a transport that is not httpcore) nothing proves the request stayed.
        return self.headers_started or not self.traced


def _kind_for_status(status: int, sending: bool) -> type[ChannelError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 429:
        return RateLimitedError
    if status == 408:
        return TransientError
    if status == 504 and sending:
        # A gateway gave up waiting for the backend, which may still have done the work.
        return UnknownOutcomeError
    if status >= 500:
        return TransientError
    return RejectedError


def _masks_for(secrets: Iterable[str]) -> tuple[str, ...]:
    masks: set[str] = set()
    for secret in secrets:
        # Very short values would mask ordinary words; real tokens are long.
        if not secret or len(secret) < 6:
            continue
        masks.update({secret, quote(secret, safe=""), quote_plus(secret)})
    return tuple(sorted(masks, key=len, reverse=True))


def _describe(exc: BaseException) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if params is None:
        return None
    return {k: str(v) for k, v in params.items() if v is not None and v != ""}


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    if not raw.strip():
        return None, True
    try:
        return json.loads(raw), True
    except (ValueError, UnicodeDecodeError):
        return None, False


# -- rate-limit waits ------------------------------------------------------------------------


def retry_after_header(headers: httpx.Headers, now: float) -> float | None:
    """Seconds from ``Retry-After`` (delta seconds or an HTTP date), or None."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


def epoch_reset_wait(name: str) -> WaitReader:
    """A reader for a reset header holding Unix epoch seconds (X's ``x-rate-limit-reset``)."""

    def wait(headers: httpx.Headers, now: float) -> float | None:
        value = headers.get(name)
        if not value:
            return None
        try:
            reset = float(value.strip())
        except ValueError:
            return None
        return max(0.0, reset - now) + 1.0  # +1 s: the reset second itself is still throttled

    return wait


def meta_usage_wait(headers: httpx.Headers, now: float) -> float | None:
    """Seconds from Meta's usage headers: ``estimated_time_to_regain_access`` is in minutes.

    ``X-Business-Use-Case-Usage`` maps business ids to lists of usage objects; ``X-App-Usage``
    is one usage object. The longest estimate wins.
    """
    minutes: list[float] = []
    for name in ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        for usage in _usage_objects(data):
            value = usage.get("estimated_time_to_regain_access")
            if isinstance(value, int | float) and not isinstance(value, bool):
                minutes.append(float(value))
    if not minutes:
        return None
    return max(minutes) * 60.0


def _usage_objects(data: Any) -> Iterable[dict[str, Any]]:
    if isinstance(data, dict):
        if "estimated_time_to_regain_access" in data or "call_count" in data:
            yield data
            return
        for value in data.values():
            yield from _usage_objects(value)
    elif isinstance(data, list):
        for item in data:
            yield from _usage_objects(item)


# -- JSON and time helpers -------------------------------------------------------------------


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (malformed payloads degrade)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text_of(value: Any) -> str | None:
    """A non-empty string (ids may arrive as numbers), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def int_of(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_time(value: Any) -> int | None:
    """Unix seconds from ISO 8601 (``Z``, ``+00:00`` or ``+0000``), RFC 2822 or epoch numbers."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    iso = text[:-1] + "+00:00" if text.endswith("Z") else text
    if len(iso) > 5 and iso[-5] in "+-" and iso[-4:].isdigit():
        iso = f"{iso[:-2]}:{iso[-2:]}"  # "+0000" -> "+00:00" for Python 3.11's fromisoformat
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def timeout_setting(value: Any, default: float = DEFAULT_TIMEOUT_S) -> float:
    """The ``timeout_s`` account setting as a positive float."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default
