"""Shared fixtures: offscreen Qt, one qasync loop for the whole suite, an in-memory keyring, a
fresh workspace, and the real data folder (``../shared/data``) when it is there.

Async UI tests run a coroutine with ``arun(coro)`` (``loop.run_until_complete``) and await
``until(...)`` or ``signal_emitted(...)`` from ``tests.helpers``; pytest-qt's ``waitSignal`` and
``waitUntil`` do not work inside a running qasync loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_QUICK_BACKEND", "software")

import keyring
import pytest

from tests.helpers.memkeyring import MemoryKeyring

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every test gets an empty in-memory keyring: no files, no desktop session."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the user's real data and config folders out of reach of every test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))


@pytest.fixture
def shared_data() -> Path:
    """The real data folder; tests that need it skip with a clear reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the repository)")
    return SHARED_DATA


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Any]:
    from console.storage import Workspace

    ws = Workspace(tmp_path / "ws.sqlite")
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def qloop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """The one qasync loop of the whole suite (import PySide6 before qasync)."""
    import PySide6  # noqa: F401
    import qasync

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture(autouse=True)
def _qloop_is_current(request: pytest.FixtureRequest) -> None:
    """Tests on the qasync loop find it current, even after another test ran ``asyncio.run``
    (which leaves no current loop behind: widgets that spawn tasks in their constructor need it)."""
    if "qloop" in request.fixturenames:
        asyncio.set_event_loop(request.getfixturevalue("qloop"))


@pytest.fixture
def arun(qloop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """Run a coroutine to completion on the qasync loop, failing after ``timeout`` seconds."""

    def run(coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
        return qloop.run_until_complete(asyncio.wait_for(coro, timeout))

    return run


@pytest.fixture
def aio() -> Callable[..., Any]:
    """Run a coroutine on a plain asyncio loop (services tests that need no Qt)."""

    def run(coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
        async def guarded() -> Any:
            return await asyncio.wait_for(coro, timeout)

        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(guarded())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    return run
