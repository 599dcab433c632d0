"""Fixtures of the HTTP channel adapter contract tests: the loopback channel servers and a way
to run an adapter against them with a real ``httpx.AsyncClient`` on a plain asyncio loop.

Each server fixture fails the test when the fake server crashed, or when it saw a contract
violation the test did not declare with ``server.expect_violations = True``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.contract.servers.base import ChannelServer

ClientRun = Callable[[Callable[[httpx.AsyncClient], Awaitable[Any]]], Any]


def _serve(server: ChannelServer) -> Iterator[Any]:
    with server:
        yield server
    assert not server.crashes, "the fake server crashed:\n" + "\n".join(server.crashes)
    if not getattr(server, "expect_violations", False):
        assert not server.violations, f"contract violations: {server.violations}"


@pytest.fixture
def x_server() -> Iterator[Any]:
    from tests.contract.servers.x_server import XServer

    yield from _serve(XServer())


@pytest.fixture
def meta_server() -> Iterator[Any]:
    from tests.contract.servers.meta_server import MetaServer

    yield from _serve(MetaServer())


@pytest.fixture
def wa_server() -> Iterator[Any]:
    from tests.contract.servers.whatsapp_server import WhatsAppServer

    yield from _serve(WhatsAppServer())


@pytest.fixture
def twilio_server() -> Iterator[Any]:
    from tests.contract.servers.twilio_server import TwilioServer

    yield from _serve(TwilioServer())


@pytest.fixture
def with_client(aio: Callable[..., Any]) -> ClientRun:
    """``with_client(lambda client: ...)``: run a coroutine that gets a fresh shared client
    (no proxies from the environment: loopback only)."""

    def run(body: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
        async def go() -> Any:
            async with httpx.AsyncClient(trust_env=False) as client:
                return await body(client)

        return aio(go())

    return run
