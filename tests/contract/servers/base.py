"""A small threaded HTTP/1.1 server on loopback that channel fakes build on.

Each channel server subclasses :class:`ChannelServer`, declares its routes (method + path regex
-> handler) and how its errors look (:meth:`ChannelServer.error`, :meth:`rate_limited`). The base
records every request (:attr:`requests`), collects contract violations a handler found
(:attr:`violations`, answered with the channel's own 400 body) and crashes of a handler
(:attr:`crashes`: the fixtures fail the test on any).

It can be told to misbehave for the next N requests (optionally only those whose path matches):
``"500"`` (server error storm), ``"429"`` (the channel's throttling answer with its real headers),
``"stall"`` (process, then answer only after ``stall_s``: past the client's timeout), ``"drop"``
(process, then close the connection without an answer), ``"drop_before"`` (close without
processing), ``"cut_body"`` (process, send headers and half the body, close), ``"malformed"``
(200 with truncated JSON), ``"huge"`` (200 with a ~12 MiB JSON body).

The server runs the stdlib ``ThreadingHTTPServer`` on a daemon thread, so faults are written at
the socket level and nothing depends on the client's event loop.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULTS = ("500", "429", "stall", "drop", "drop_before", "cut_body", "malformed", "huge")


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    fault: str | None = None

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # JSON value, or bytes as is
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/json")
        if self.body is None:
            return b"", "application/json"
        return json.dumps(self.body).encode(), "application/json; charset=utf-8"


class Violation(Exception):
    """A request broke the channel's contract; the server answers with the channel's 400."""


Handler = Callable[[Recorded, "re.Match[str]"], Answer]


@dataclass
class _Fault:
    kind: str
    remaining: int
    path: re.Pattern[str] | None


class ChannelServer:
    """Base of the channel fakes: routing, recording, faults. Use as a context manager."""

    name = "channel"
    stall_s = 3.0

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.crashes: list[str] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.setup_routes()

    # -- what subclasses provide -------------------------------------------------------------

    def setup_routes(self) -> None:
        raise NotImplementedError

    def error(self, status: int, message: str, code: Any = None) -> Answer:
        """The channel's error answer."""
        return Answer(status, {"message": message, "code": code})

    def rate_limited(self) -> Answer:
        return Answer(429, {"message": "Too Many Requests"}, {"Retry-After": "7"})

    def server_error(self) -> Answer:
        return self.error(500, "Internal error")

    def huge_body(self) -> bytes:
        item = b'{"id": "1", "text": "' + b"x" * 1000 + b'"},'
        return b'{"data": [' + item * 12_000 + b'{"id": "2"}]}'

    # -- routing -----------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern + r"\Z"), handler))

    def misbehave(self, kind: str, times: int = 1, path: str | None = None) -> None:
        """Misbehave for the next ``times`` requests (whose path matches ``path``, a regex)."""
        assert kind in FAULTS, kind
        with self._lock:
            self._faults.append(_Fault(kind, times, re.compile(path) if path else None))

    def behave(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.path is None or fault.path.search(path)):
                    fault.remaining -= 1
                    return fault.kind
        return None

    def dispatch(self, req: Recorded) -> Answer:
        for method, pattern, handler in self._routes:
            match = pattern.match(req.path)
            if match and method == req.method:
                try:
                    return handler(req, match)
                except Violation as exc:
                    self.violations.append(f"{req.method} {req.path}: {exc}")
                    return self.error(400, str(exc))
        self.violations.append(f"no such endpoint: {req.method} {req.path}")
        return self.error(404, f"no route for {req.method} {req.path}")

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        pattern = re.compile(path_regex + r"\Z")
        return [r for r in self.requests if r.method == method and pattern.match(r.path)]

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ChannelServer:
        httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.02,), name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    app: ChannelServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (timeouts, size caps) break pipes; anything else is a bug.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | OSError):
            return
        self.app.crashes.append(traceback.format_exc())


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Recorded(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        req.fault = app._take_fault(parts.path)
        app.requests.append(req)
        if req.fault == "drop_before":
            self._drop()
            return
        try:
            answer = self._answer(app, req)
        except Exception:
            app.crashes.append(traceback.format_exc())
            answer = app.error(500, "fake server crashed")
        self._deliver(app, req.fault, answer)

    def _answer(self, app: ChannelServer, req: Recorded) -> Answer:
        if req.fault == "500":
            return app.server_error()
        if req.fault == "429":
            return app.rate_limited()
        answer = app.dispatch(req)  # the request is processed (a post is stored) from here on
        if req.fault == "malformed":
            return Answer(200, b'{"data": [{"id": "12', {"Content-Type": "application/json"})
        if req.fault == "huge":
            return Answer(200, app.huge_body(), {"Content-Type": "application/json"})
        return answer

    def _deliver(self, app: ChannelServer, fault: str | None, answer: Answer) -> None:
        if fault == "drop":
            self._drop()
            return
        if fault == "stall":
            app._release.wait(app.stall_s)
        payload, content_type = answer.encoded()
        self.send_response(answer.status)
        headers = {"Content-Type": content_type, **answer.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if fault == "cut_body":
            self.wfile.write(payload[: max(1, len(payload) // 2)])
            self.wfile.flush()
            self._drop()
            return
        self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def require(condition: bool, message: str) -> None:
    """Raise a :class:`Violation` (answered with the channel's 400) unless ``condition``."""
    if not condition:
        raise Violation(message)


def only_keys(obj: Any, allowed: set[str], where: str) -> None:
    require(isinstance(obj, dict), f"{where} must be a JSON object")
    extra = set(obj) - allowed
    require(not extra, f"{where} has unknown field(s) {sorted(extra)}")
