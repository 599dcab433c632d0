"""A real relay on a loopback socket, run on its own thread and event loop, for plain httpx clients."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.storage.relay_store import RelayStore
from services.relay import Relay, RelayConfig

SECRETS = RelayConfig(
    relay_token="console-token-1",
    verify_token="verify-me",
    meta_app_secret="meta-app-secret",
    twilio_auth_token="twilio-auth-token",
    public_url="https://relay.example.org",
    x_consumer_secret="x-consumer-secret",
)


@dataclass
class RunningRelay:
    url: str
    db: Path
    config: RelayConfig

    def meta_signature(self, body: bytes) -> str:
        secret = (self.config.meta_app_secret or "").encode()
        return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()

    def x_signature(self, body: bytes) -> str:
        secret = (self.config.x_consumer_secret or "").encode()
        return (
            "sha256=" + base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()
        )

    def twilio_signature(self, path: str, params: dict[str, str]) -> str:
        url = (self.config.public_url or "") + path
        data = url + "".join(k + params[k] for k in sorted(params))
        secret = (self.config.twilio_auth_token or "").encode()
        return base64.b64encode(hmac.new(secret, data.encode(), hashlib.sha1).digest()).decode()

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.relay_token}"}

    def stored(self) -> int:
        store = RelayStore(self.db)
        try:
            return store.count()
        finally:
            store.close()


def start_relay(db: Path, config: RelayConfig) -> Iterator[RunningRelay]:
    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}

    async def boot() -> None:
        store = RelayStore(db)  # created on the loop's thread: sqlite connections are per thread
        relay = Relay(config, store)
        server = await relay.serve("127.0.0.1", 0)
        ready.update(
            relay=relay, server=server, store=store, port=server.sockets[0].getsockname()[1]
        )

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(boot(), loop).result(10)
    try:
        yield RunningRelay(f"http://127.0.0.1:{ready['port']}", db, config)
    finally:

        async def shutdown() -> None:
            ready["server"].close()
            await ready["server"].wait_closed()
            await ready["relay"].close_connections()
            ready["store"].close()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RunningRelay]:
    yield from start_relay(tmp_path / "relay.sqlite", SECRETS)


@pytest.fixture
def bare_relay(tmp_path: Path) -> Iterator[RunningRelay]:
    """A relay with only a console token: every webhook endpoint is unconfigured."""
    yield from start_relay(tmp_path / "bare.sqlite", RelayConfig(relay_token="t"))
