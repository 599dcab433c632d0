"""The webhook relay: receives pushes from channels that only push, keeps them, serves them to consoles.

A desktop console cannot receive webhooks (they need a public HTTPS URL), so a team runs this small
server behind its HTTPS proxy (``agent-console relay``). The API is the one agreed in
``notes/relay_api.md``:

- ``GET /webhooks/meta`` (and ``/webhooks/whatsapp``): Meta's verification challenge.
- ``POST /webhooks/meta`` / ``/webhooks/whatsapp``: ``X-Hub-Signature-256`` checked; stored with source
  ``whatsapp`` (``object`` = ``whatsapp_business_account``) or ``meta`` (``page``, ``instagram``).
- ``POST /webhooks/twilio``: ``X-Twilio-Signature`` checked against the public URL; the form fields
  are stored as a JSON object, source ``twilio``.
- ``GET /webhooks/x?crc_token=`` answers X's CRC; ``POST /webhooks/x`` checks
  ``x-twitter-webhooks-signature``; source ``x``.
- ``GET /v1/events?source=&after=&limit=`` with ``Authorization: Bearer <relay token>``, and
  ``GET /v1/health``.

Every accepted event is committed (``console.storage.relay_store``) before the 200 goes out. A bad
signature answers 403, malformed JSON 400, a body over 1 MiB 413, an endpoint whose secret is not
configured 503; each is logged with its reason and the client address, never with a secret or the
body. Meta objects other than ``page``, ``instagram`` and ``whatsapp_business_account`` are answered
200 (so Meta does not retry them forever), logged and not stored.

Configuration comes from the environment or the OS keyring (service ``agent-console-relay``), never
from the command line (see :data:`CONFIG_NAMES`). HTTP is parsed by ``h11`` (already a dependency
of httpx) over asyncio streams: no web framework.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import h11

from console.storage.relay_store import RelayStore
from services.channels.webhooks import (
    verify_meta_signature,
    verify_twilio_signature,
    verify_x_signature,
    x_crc_response,
)

log = logging.getLogger(__name__)

KEYRING_SERVICE = "agent-console-relay"
MAX_BODY = 1024 * 1024
#: How much of an oversized body is read and thrown away so the client can read our 413.
DRAIN_LIMIT = 16 * 1024 * 1024
DEFAULT_LIMIT = 100
MAX_LIMIT = 500

#: Each setting: (keyring user name under service ``agent-console-relay``, environment variable).
CONFIG_NAMES: dict[str, tuple[str, str]] = {
    "relay_token": ("relay_token", "AGENT_CONSOLE_RELAY_TOKEN"),
    "verify_token": ("verify_token", "AGENT_CONSOLE_RELAY_VERIFY_TOKEN"),
    "meta_app_secret": ("meta_app_secret", "AGENT_CONSOLE_RELAY_META_APP_SECRET"),
    "twilio_auth_token": ("twilio_auth_token", "AGENT_CONSOLE_RELAY_TWILIO_AUTH_TOKEN"),
    "public_url": ("public_url", "AGENT_CONSOLE_RELAY_PUBLIC_URL"),
    "x_consumer_secret": ("x_consumer_secret", "AGENT_CONSOLE_RELAY_X_CONSUMER_SECRET"),
}

META_SOURCES = {"whatsapp_business_account": "whatsapp", "page": "meta", "instagram": "meta"}


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """The relay's secrets and its public URL. ``repr`` shows which are set, never their values."""

    relay_token: str | None = None
    verify_token: str | None = None
    meta_app_secret: str | None = None
    twilio_auth_token: str | None = None
    public_url: str | None = None  # what Twilio calls, e.g. https://relay.example.org
    x_consumer_secret: str | None = None

    def __repr__(self) -> str:
        present = [f.name for f in fields(self) if getattr(self, f.name)]
        return f"RelayConfig(set={present})"

    def enabled(self) -> list[str]:
        """Which webhook endpoints can work with this configuration."""
        out = []
        if self.verify_token or self.meta_app_secret:
            out.append("meta")
        if self.twilio_auth_token and self.public_url:
            out.append("twilio")
        if self.x_consumer_secret:
            out.append("x")
        return out


def load_config(
    environ: Mapping[str, str] | None = None,
    get_password: Callable[[str, str], str | None] | None = None,
) -> RelayConfig:
    """Each setting from its environment variable, else from the keyring; a keyring that is
    missing or refuses only means "not set there"."""
    environ = os.environ if environ is None else environ
    if get_password is None:
        import keyring

        get_password = keyring.get_password
    values: dict[str, str | None] = {}
    for name, (user, env) in CONFIG_NAMES.items():
        value = environ.get(env) or None
        if value is None:
            try:
                value = get_password(KEYRING_SERVICE, user) or None
            except Exception as exc:  # noqa: BLE001 - backends raise their own types; go on without
                log.warning("keyring unavailable for %s (%s)", name, type(exc).__name__)
                value = None
        values[name] = value
    return RelayConfig(**values)


# -- requests and responses ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str  # path and query as sent
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""
    client: str = "?"

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def param(self, name: str) -> str | None:
        values = parse_qs(self.query, keep_blank_values=True).get(name)
        return values[0] if values else None


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any) -> Response:
        return cls(status, json.dumps(value, ensure_ascii=False).encode("utf-8"))

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json(status, {"error": message})


class Relay:
    """Routes requests, checks signatures and stores events. ``handle`` is pure request -> response
    (plus the store); :meth:`serve` puts it on a socket."""

    def __init__(
        self,
        config: RelayConfig,
        store: RelayStore,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_body: int = MAX_BODY,
    ) -> None:
        self.config = config
        self.store = store
        self.now = now
        self.max_body = max_body
        self._connections: set[asyncio.Task[None]] = set()

    # -- routing ---------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/v1/health"): self._health,
            ("GET", "/v1/events"): self._events,
            ("GET", "/webhooks/meta"): self._meta_challenge,
            ("GET", "/webhooks/whatsapp"): self._meta_challenge,
            ("POST", "/webhooks/meta"): self._meta_event,
            ("POST", "/webhooks/whatsapp"): self._meta_event,
            ("POST", "/webhooks/twilio"): self._twilio_event,
            ("GET", "/webhooks/x"): self._x_crc,
            ("POST", "/webhooks/x"): self._x_event,
        }
        path = req.path.rstrip("/") or "/"
        route = routes.get((req.method, path))
        if route is not None:
            return route(req)
        if any(p == path for _, p in routes):
            return self._refuse(req, 405, "method not allowed")
        return self._refuse(req, 404, "no such endpoint")

    def _refuse(self, req: Request, status: int, reason: str) -> Response:
        log.warning("%s %s %s from %s: %s", status, req.method, req.path, req.client, reason)
        return Response.error(status, reason)

    # -- console side ----------------------------------------------------------------------

    def _health(self, req: Request) -> Response:
        return Response.json(200, {"ok": True, "events": self.store.count()})

    def _authorized(self, req: Request) -> bool:
        token = self.config.relay_token
        header = req.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if not token or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), token.encode())

    def _events(self, req: Request) -> Response:
        if not self._authorized(req):
            return self._refuse(req, 401, "a valid relay token is needed (Authorization: Bearer)")
        try:
            after = int(req.param("after") or 0)
            limit = int(req.param("limit") or DEFAULT_LIMIT)
        except ValueError:
            return self._refuse(req, 400, "after and limit must be whole numbers")
        if after < 0 or limit < 1:
            return self._refuse(req, 400, "after must be >= 0 and limit >= 1")
        limit = min(limit, MAX_LIMIT)
        rows = self.store.after(after, source=req.param("source") or None, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        # Payloads are spliced in as stored, so consoles get the webhook JSON exactly as received.
        parts = [
            f'{{"id": {r.id}, "source": {json.dumps(r.source)}, '
            f'"received_at": {json.dumps(r.received_at)}, "payload": {r.payload}}}'
            for r in rows
        ]
        cursor = str(rows[-1].id) if rows else str(after)
        body = (
            f'{{"events": [{", ".join(parts)}], "next": {json.dumps(cursor)}, '
            f'"more": {"true" if more else "false"}}}'
        )
        return Response(200, body.encode("utf-8"))

    # -- Meta (Facebook, Instagram, Messenger, WhatsApp) -----------------------------------

    def _meta_challenge(self, req: Request) -> Response:
        token = self.config.verify_token
        if not token:
            return self._refuse(req, 503, "the Meta verify token is not configured")
        given = req.param("hub.verify_token") or ""
        if req.param("hub.mode") != "subscribe" or not hmac.compare_digest(
            given.encode(), token.encode()
        ):
            return self._refuse(req, 403, "verification refused: wrong mode or verify token")
        challenge = req.param("hub.challenge") or ""
        return Response(200, challenge.encode("utf-8"), content_type="text/plain")

    def _meta_event(self, req: Request) -> Response:
        secret = self.config.meta_app_secret
        if not secret:
            return self._refuse(req, 503, "the Meta app secret is not configured")
        if not verify_meta_signature(secret, req.body, req.headers.get("x-hub-signature-256")):
            return self._refuse(req, 403, "missing or invalid X-Hub-Signature-256")
        payload, text = self._json_object(req)
        if payload is None:
            return self._refuse(req, 400, text)
        source = META_SOURCES.get(str(payload.get("object")))
        if source is None:
            log.warning(
                "ignored Meta event from %s: unknown object %r", req.client, payload.get("object")
            )
            return Response.json(200, {"ok": True, "stored": False})
        return self._store(req, source, text)

    # -- Twilio ----------------------------------------------------------------------------

    def _twilio_event(self, req: Request) -> Response:
        token, public = self.config.twilio_auth_token, self.config.public_url
        if not token or not public:
            return self._refuse(req, 503, "the Twilio auth token or public URL is not configured")
        try:
            text = req.body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
        except (UnicodeDecodeError, ValueError):
            return self._refuse(req, 400, "the body is not a valid form")
        params = dict(pairs)
        url = public.rstrip("/") + req.target
        if not verify_twilio_signature(token, url, params, req.headers.get("x-twilio-signature")):
            return self._refuse(req, 403, "missing or invalid X-Twilio-Signature")
        return self._store(req, "twilio", json.dumps(params, ensure_ascii=False))

    # -- X -----------------------------------------------------------------------------------

    def _x_crc(self, req: Request) -> Response:
        secret = self.config.x_consumer_secret
        if not secret:
            return self._refuse(req, 503, "the X consumer secret is not configured")
        crc = req.param("crc_token")
        if not crc:
            return self._refuse(req, 400, "crc_token is missing")
        return Response.json(200, {"response_token": x_crc_response(secret, crc)})

    def _x_event(self, req: Request) -> Response:
        secret = self.config.x_consumer_secret
        if not secret:
            return self._refuse(req, 503, "the X consumer secret is not configured")
        header = req.headers.get("x-twitter-webhooks-signature")
        if not verify_x_signature(secret, req.body, header):
            return self._refuse(req, 403, "missing or invalid x-twitter-webhooks-signature")
        payload, text = self._json_object(req)
        if payload is None:
            return self._refuse(req, 400, text)
        return self._store(req, "x", text)

    # -- shared ----------------------------------------------------------------------------

    @staticmethod
    def _json_object(req: Request) -> tuple[dict[str, Any] | None, str]:
        """(the parsed object, its text) or (None, why it was refused)."""
        try:
            text = req.body.decode("utf-8")
            value = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            return None, "the body is not valid JSON"
        if not isinstance(value, dict):
            return None, "the body is not a JSON object"
        return value, text

    def _store(self, req: Request, source: str, payload: str) -> Response:
        received = self.now().astimezone(UTC).isoformat(timespec="seconds")
        event_id = self.store.add(source, received, payload)  # committed before we answer
        if event_id is None:
            log.info("duplicate %s delivery from %s: already stored", source, req.client)
        else:
            log.info("stored %s event %d from %s", source, event_id, req.client)
        return Response.json(200, {"ok": True, "stored": event_id is not None})

    # -- the socket ------------------------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 8765) -> asyncio.Server:
        """Start listening; the caller awaits ``server.serve_forever()`` or closes it."""
        return await asyncio.start_server(_Connection.factory(self), host, port)

    async def close_connections(self) -> None:
        """End open (keep-alive) connections; call after closing the server."""
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _BodyTooLarge(Exception):
    pass


class _Connection:
    """One client connection: h11 parses, :class:`Relay` answers, keep-alive until idle."""

    HEADER_TIMEOUT = 10.0
    IDLE_TIMEOUT = 30.0

    def __init__(self, relay: Relay, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.relay = relay
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.SERVER)
        peer = writer.get_extra_info("peername")
        self.client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"

    @classmethod
    def factory(cls, relay: Relay) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                relay._connections.add(task)
            try:
                await cls(relay, reader, writer).run()
            finally:
                if task is not None:
                    relay._connections.discard(task)

        return on_connect

    async def run(self) -> None:
        try:
            while True:
                try:
                    request = await self._read_request()
                except _BodyTooLarge:
                    log.warning("413 from %s: body over %d bytes", self.client, self.relay.max_body)
                    await self._send(Response.error(413, "the body is larger than 1 MiB"))
                    await self._drain_rest()
                    return
                except h11.RemoteProtocolError as exc:
                    log.warning("400 from %s: malformed HTTP (%s)", self.client, exc)
                    await self._send_if_possible(Response.error(400, "malformed HTTP request"))
                    return
                if request is None:
                    return
                try:
                    response = self.relay.handle(request)
                except Exception:  # a bug must answer 500, never kill the server
                    log.exception("error answering %s %s", request.method, request.path)
                    response = Response.error(500, "internal error")
                await self._send(response)
                if self.conn.our_state is h11.MUST_CLOSE:
                    return
                self.conn.start_next_cycle()
        except (TimeoutError, ConnectionError, h11.LocalProtocolError):
            return
        finally:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _receive(self, timeout: float) -> None:
        data = await asyncio.wait_for(self.reader.read(65536), timeout)
        self.conn.receive_data(data)

    async def _read_request(self) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                # a keep-alive connection may idle between requests; a started one may not stall
                await self._receive(self.IDLE_TIMEOUT if head is None else self.HEADER_TIMEOUT)
                continue
            if isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, h11.Request):
                head = event
                length = _header(event.headers, b"content-length")
                if length is not None and length.isdigit() and int(length) > self.relay.max_body:
                    raise _BodyTooLarge
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.relay.max_body:
                    raise _BodyTooLarge
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers
                }
                return Request(
                    method=head.method.decode("ascii"),
                    target=head.target.decode("latin-1"),
                    headers=headers,
                    body=bytes(body),
                    client=self.client,
                )

    async def _send(self, response: Response) -> None:
        headers = [
            ("content-type", response.content_type),
            ("content-length", str(len(response.body))),
            *response.headers.items(),
        ]
        if response.status >= 400 and response.status not in (401, 403, 404, 405):
            headers.append(("connection", "close"))
        data = self.conn.send(h11.Response(status_code=response.status, headers=headers))
        data = (data or b"") + (self.conn.send(h11.Data(data=response.body)) or b"")
        data += self.conn.send(h11.EndOfMessage()) or b""
        self.writer.write(data)
        await self.writer.drain()

    async def _send_if_possible(self, response: Response) -> None:
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                await self._send(response)
            except h11.LocalProtocolError:
                pass

    async def _drain_rest(self) -> None:
        """Read and drop what the client still sends, so it can read our answer before we close."""
        dropped = 0
        try:
            while dropped < DRAIN_LIMIT:
                data = await asyncio.wait_for(self.reader.read(65536), 2.0)
                if not data:
                    return
                dropped += len(data)
        except (TimeoutError, ConnectionError):
            return


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None
