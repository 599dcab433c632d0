"""``agent-console relay`` as a real process: configuration from the environment, events that
survive a kill and a restart, and a clear refusal without a relay token."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ENV = {
    "AGENT_CONSOLE_RELAY_TOKEN": "proc-token",
    "AGENT_CONSOLE_RELAY_META_APP_SECRET": "proc-secret",
    "AGENT_CONSOLE_RELAY_VERIFY_TOKEN": "proc-verify",
    # keep the real keyring out of a subprocess that has no in-memory backend
    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_CONSOLE_RELAY_")}
    env.update(extra)
    return env


@contextmanager
def relay_process(db: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "relay", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(env),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        info = json.loads(line)
        assert info["enabled"] == ["meta"]
        yield proc, info["listening"]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _post(url: str, seq: int) -> int:
    body = json.dumps({"object": "whatsapp_business_account", "entry": [], "seq": seq}).encode()
    sig = "sha256=" + hmac.new(b"proc-secret", body, hashlib.sha256).hexdigest()
    return httpx.post(
        url + "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": sig}
    ).status_code


def test_events_survive_a_kill_and_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "relay.sqlite"
    with relay_process(db, ENV) as (proc, url):
        assert [_post(url, i) for i in range(5)] == [200] * 5
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: what was answered 200 must be on disk
        proc.wait(10)
    with relay_process(db, ENV) as (proc, url):
        auth = {"Authorization": "Bearer proc-token"}
        page = httpx.get(url + "/v1/events", params={"source": "whatsapp"}, headers=auth).json()
        assert [e["payload"]["seq"] for e in page["events"]] == [0, 1, 2, 3, 4]
        assert _post(url, 5) == 200
        later = httpx.get(url + "/v1/events", params={"after": page["next"]}, headers=auth).json()
        assert [e["payload"]["seq"] for e in later["events"]] == [5]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_relay_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "AGENT_CONSOLE_RELAY_TOKEN"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "console",
            "relay",
            "--port",
            "0",
            "--db",
            str(tmp_path / "r.sqlite"),
        ],
        capture_output=True,
        text=True,
        env=_env(env),
        timeout=30,
    )
    assert done.returncode == 2
    assert "relay token" in done.stderr
    assert "proc-secret" not in done.stderr + done.stdout
