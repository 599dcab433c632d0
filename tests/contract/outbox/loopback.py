"""A loopback "channel" for outbox fault and crash tests, and the tiny adapter that speaks to it.

The contract (our own, shaped like the real ones: no idempotency key is honoured by the server,
it just records what it receives):

- ``POST /v1/messages`` JSON ``{"key", "account", "text", "in_reply_to", "to"}`` -> 201
  ``{"id": "srv-N"}``. The delivery is recorded as soon as the whole request has arrived, before
  the answer (which :attr:`LoopbackChannel.answer_delay` can stall), like a channel that processes
  the request and then loses the answer on the way back.
- ``GET /v1/messages?key=K`` -> ``{"data": [{"id": ...}]}``: the look-up reconciling uses.

``plan(n, body)`` decides per POST (n counts from 0): ``None`` (deliver), ``("status", code,
headers)`` (answer that without delivering), ``"drop"`` (close without an answer, not delivered),
``"deliver_then_drop"``, or ``("stall", seconds)`` (deliver, answer late).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from console.domain import Channel
from console.errors import (
    AuthenticationError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
)
from services.channels.base import Capabilities, FetchResult, Limits, OutgoingReply, SendResult

Plan = Callable[[int, dict[str, Any]], Any]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients killed mid-request (the point of the crash tests) are not errors here


class LoopbackChannel:
    def __init__(self, port: int = 0, *, plan: Plan | None = None) -> None:
        self.plan = plan
        self.answer_delay: Callable[[], float] = lambda: 0.0
        self.lock = threading.Lock()
        self.deliveries: list[dict[str, Any]] = []
        self.by_key: dict[str, str] = {}
        self.posts = 0
        self.lookups = 0
        self.post_times: list[tuple[float, str]] = []  # (time.monotonic(), account)
        channel = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                key = (parse_qs(parts.query).get("key") or [""])[0]
                with channel.lock:
                    channel.lookups += 1
                    found = channel.by_key.get(key)
                self._json(200, {"data": [{"id": found}] if found else []})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:
                    return  # the client died mid-request: nothing arrived
                body = json.loads(raw)
                with channel.lock:
                    n = channel.posts
                    channel.posts += 1
                    channel.post_times.append((time.monotonic(), str(body.get("account"))))
                action = channel.plan(n, body) if channel.plan else None
                if isinstance(action, tuple) and action[0] == "status":
                    self._json(action[1], {"error": f"planned {action[1]}"}, action[2])
                    return
                if action == "drop":
                    self._drop()
                    return
                remote = channel.deliver(body)
                if action == "deliver_then_drop":
                    self._drop()
                    return
                delay = action[1] if isinstance(action, tuple) else channel.answer_delay()
                if delay:
                    time.sleep(delay)
                try:
                    self._json(201, {"id": remote})
                except OSError:
                    pass  # the client is gone (killed, timed out)

            def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _drop(self) -> None:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        self.server = _QuietServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def deliver(self, body: dict[str, Any]) -> str:
        with self.lock:
            remote = f"srv-{len(self.deliveries) + 1}"
            self.deliveries.append({**body, "id": remote})
            self.by_key.setdefault(str(body["key"]), remote)
            return remote

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackChannel:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(str(d["key"]) for d in self.deliveries)


class LoopbackAdapter:
    """An adapter for :class:`LoopbackChannel`, classifying failures like the real ones do."""

    def __init__(
        self,
        base_url: str,
        account: str,
        client: httpx.AsyncClient,
        *,
        pre_send_delay: float = 0.0,
        pre_send_fixed: float = 0.0,
        rps: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.base_url = base_url
        self.account = account
        self.channel = Channel.X
        self.client = client
        self.pre_send_delay = pre_send_delay
        self.pre_send_fixed = pre_send_fixed
        self.rps = rps
        self.clock = clock
        self.send_times: list[float] = []

    @property
    def limits(self) -> Limits:
        return Limits(280, "x_weighted", requests_per_second=self.rps)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(public_reply=True, private_message=True, reconcile=True)

    async def fetch(self, cursor: dict[str, str]) -> FetchResult:
        return FetchResult([], cursor)

    async def send(self, reply: OutgoingReply) -> SendResult:
        if self.pre_send_delay or self.pre_send_fixed:
            # claimed, not yet on the wire: the "between persist and send" window
            await asyncio.sleep(self.pre_send_fixed + random.random() * self.pre_send_delay)
        if self.clock is not None:
            self.send_times.append(self.clock())
        body = {
            "key": reply.idempotency_key,
            "account": self.account,
            "text": reply.text,
            "in_reply_to": reply.in_reply_to,
            "to": reply.recipient,
        }
        try:
            response = await self.client.post(f"{self.base_url}/v1/messages", json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TransientError(f"cannot reach the loopback channel: {exc}") from exc
        except httpx.HTTPError as exc:  # the request may have left
            raise UnknownOutcomeError(f"no answer: {type(exc).__name__}") from exc
        status = response.status_code
        if status in (200, 201):
            return SendResult(str(response.json()["id"]))
        if status == 429:
            raise RateLimitedError("429", retry_after=float(response.headers.get("Retry-After", 1)))
        if status == 401:
            raise AuthenticationError("401")
        if status >= 500:
            raise TransientError(f"HTTP {status}")
        raise RejectedError(f"HTTP {status}")

    async def find_sent(self, reply: OutgoingReply) -> SendResult | None:
        try:
            response = await self.client.get(
                f"{self.base_url}/v1/messages", params={"key": reply.idempotency_key}
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"look-up failed: {exc}") from exc
        data = response.json().get("data") or []
        return SendResult(str(data[0]["id"])) if data else None

    async def test(self) -> str:
        return "loopback"


# -- the worker process the crash tests kill ------------------------------------------------------


def _worker_main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("url")
    parser.add_argument("--compose", type=int, default=0, help="enqueue k0..kN-1 first")
    parser.add_argument("--pre-send-delay", type=float, default=0.0, help="random, up to this")
    parser.add_argument("--pre-send-fixed", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(_work(args))


async def _work(args: argparse.Namespace) -> None:
    import sys

    from console.changes import EventBus
    from console.storage import outbox_repo
    from console.storage.db import Workspace
    from services.outbox import Outbox

    ws = Workspace(args.db)
    # the composer persisting replies, each in its own transaction; on a restart it composes the
    # same replies again (same keys), which the outbox accepts idempotently
    posts = ws.query(
        "SELECT id, conversation_id FROM messages WHERE direction = 'in' ORDER BY id LIMIT ?",
        (args.compose,),
    )
    for i, post in enumerate(posts):
        outbox_repo.enqueue_reply(
            ws,
            conversation_id=int(post["conversation_id"]),
            text=f"reply {i} ^CP",
            now=int(time.time()),
            reply_to_message_id=int(post["id"]),
            idem_key=f"k{i}",
        )
    print("ready", flush=True)
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0, connect=1.0)) as client:
        adapter = LoopbackAdapter(
            args.url,
            "acme",
            client,
            pre_send_delay=args.pre_send_delay,
            pre_send_fixed=args.pre_send_fixed,
            rps=1000.0,
        )
        outbox = Outbox(
            ws,
            lambda aid: adapter,
            time.time,
            EventBus(),
            reconcile_delay=0.05,
            backoff_base=0.05,
            backoff_cap=0.2,
            retriage=lambda ws, ids: None,
        )
        for _ in range(2000):
            summary = await outbox.send_once()
            if summary["status"]["standby"]:
                print("standby", flush=True)
            counts = outbox_repo.counts_by_state(ws)
            if not any(counts.get(s) for s in ("queued", "sending", "unknown")):
                break
            await asyncio.sleep(0.05)
        outbox.close()
    print(json.dumps(outbox_repo.counts_by_state(ws)), file=sys.stderr, flush=True)


if __name__ == "__main__":
    _worker_main()
