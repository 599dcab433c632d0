"""Kill the sending process (SIGKILL) at random and at chosen moments; every reply must reach the
loopback channel exactly once after restarts: no loss, no double.

The worker (``tests/contract/outbox/loopback.py``, run as a real process on a real workspace file)
composes its replies (idempotently, by key), then sends them through the real ``Outbox`` to a real
socket. The channel records a delivery the moment the request has fully arrived and answers late,
so kills land between "the channel has it" and ``mark_sent``; the adapter waits a little between
claiming an item and sending it, so kills also land between persist and send.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from console.storage.db import Workspace
from tests.contract.outbox.loopback import LoopbackChannel
from tests.unit.outbox.conftest import seed_posts

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def channel() -> Iterator[LoopbackChannel]:
    server = LoopbackChannel().start()
    yield server
    server.stop()


def make_workspace(path: Path, n: int) -> None:
    ws = Workspace(path)
    try:
        seed_posts(ws, n)
    finally:
        ws.close()


def start_worker(db: Path, url: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.contract.outbox.loopback", str(db), url, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def finish(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def states(db: Path) -> dict[str, tuple[str, str | None]]:
    ws = Workspace(db)
    try:
        return {
            str(r["idem_key"]): (str(r["state"]), r["remote_id"])
            for r in ws.query("SELECT idem_key, state, remote_id FROM outbox")
        }
    finally:
        ws.close()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.005)


def assert_exactly_once(db: Path, channel: LoopbackChannel, n: int) -> None:
    keys = {f"k{i}" for i in range(n)}
    counts = channel.counts()
    assert set(counts) == keys, f"lost: {sorted(keys - set(counts))}"
    doubled = {k: c for k, c in counts.items() if c != 1}
    assert not doubled, f"delivered more than once: {doubled}"
    stored = states(db)
    assert set(stored) == keys
    for key, (state, remote) in stored.items():
        assert state == "sent", (key, state)
        assert remote == channel.by_key[key], key  # the id the channel gave, even if reconciled


def test_random_kills_deliver_every_reply_exactly_once(
    tmp_path: Path, channel: LoopbackChannel
) -> None:
    n, kills = 20, 6
    db = tmp_path / "ws.sqlite"
    make_workspace(db, n)
    rng = random.Random(20261201)
    channel.answer_delay = lambda: rng.uniform(0.02, 0.12)
    delivered_at_kill = []
    for _ in range(kills):
        proc = start_worker(db, channel.url, "--compose", str(n), "--pre-send-delay", "0.03")
        time.sleep(rng.uniform(0.05, 0.4))
        kill(proc)
        delivered_at_kill.append(sum(channel.counts().values()))
    finish(start_worker(db, channel.url, "--compose", str(n)))
    assert_exactly_once(db, channel, n)
    assert delivered_at_kill[-1] < n  # the kills really interrupted the work
    assert channel.lookups >= 1  # and some landed where only reconciling could tell


def test_kill_between_claim_and_send(tmp_path: Path, channel: LoopbackChannel) -> None:
    n = 3
    db = tmp_path / "ws.sqlite"
    make_workspace(db, n)
    proc = start_worker(db, channel.url, "--compose", str(n), "--pre-send-fixed", "30")
    wait_for(lambda: any(s == "sending" for s, _ in states(db).values()))
    kill(proc)
    assert channel.posts == 0  # claimed, persisted as "sending", never on the wire
    finish(start_worker(db, channel.url, "--compose", str(n)))
    assert_exactly_once(db, channel, n)
    assert channel.lookups == 1  # the interrupted one was looked up (not found), then sent


def test_kill_between_the_channels_receipt_and_mark_sent(
    tmp_path: Path, channel: LoopbackChannel
) -> None:
    n = 3
    db = tmp_path / "ws.sqlite"
    make_workspace(db, n)
    channel.plan = lambda i, body: ("stall", 30.0) if i == 0 else None
    proc = start_worker(db, channel.url, "--compose", str(n))
    wait_for(lambda: len(channel.deliveries) == 1)  # the channel has it; the answer is stalled
    kill(proc)
    assert states(db)["k0"][0] == "sending"
    channel.plan = None
    finish(start_worker(db, channel.url, "--compose", str(n)))
    assert_exactly_once(db, channel, n)
    assert channel.lookups == 1  # found on the channel: marked sent with its id, not resent


def test_a_second_sender_stands_by_until_the_first_dies(
    tmp_path: Path, channel: LoopbackChannel
) -> None:
    n = 4
    db = tmp_path / "ws.sqlite"
    make_workspace(db, n)
    first = start_worker(db, channel.url, "--compose", str(n), "--pre-send-fixed", "30")
    wait_for(lambda: any(s == "sending" for s, _ in states(db).values()))
    second = start_worker(db, channel.url, "--compose", str(n))
    assert second.stdout is not None
    assert second.stdout.readline().strip() == "standby"  # it did not take the in-flight item
    assert [s for s, _ in states(db).values()].count("sending") == 1
    kill(first)  # the OS frees its lease: the second takes over and recovers its item
    finish(second)
    assert_exactly_once(db, channel, n)
