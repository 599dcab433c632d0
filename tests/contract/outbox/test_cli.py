"""The ``outbox``, ``outbox retry``, ``send --once`` and ``sync`` commands on a real workspace file
with sandbox accounts (what demo and imported workspaces have)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from console.domain import Channel
from console.storage import outbox_repo
from console.storage.db import Workspace
from tests.unit.outbox.conftest import T0, queue_replies, seed_posts


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ws.sqlite"
    ws = Workspace(path)
    try:
        items = queue_replies(ws, seed_posts(ws, 3))
        email = seed_posts(ws, 1, channel=Channel.EMAIL, account="support", prefix="e", author="a")
        queue_replies(ws, email, mode="private")
        outbox_repo.mark_failed(ws, items[2], "refused by the channel: duplicate", int(T0))
    finally:
        ws.close()
    return path


def run(capsys: pytest.CaptureFixture[str], db: Path, *argv: str) -> tuple[int, Any, str]:
    code = main(["--db", str(db), *argv])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_send_once_then_list_then_retry(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, summary, _ = run(capsys, db, "send", "--once")
    assert code == 0
    assert summary["sent"] == 3 and summary["failed"] == 0
    assert summary["status"]["message"] == "1 failed"

    code, items, _ = run(capsys, db, "outbox", "--json")
    assert code == 0
    by_id = {i["id"]: i for i in items}
    assert [by_id[i]["state"] for i in sorted(by_id)] == ["sent", "sent", "failed", "sent"]
    first = by_id[1]
    assert first["reply_to"] == "x:t0"
    assert first["remote_id"] == "sandbox:1"
    assert (first["account"], first["channel"], first["attempts"]) == ("acme", "x", 1)
    assert first["text"].startswith("Sorry about that!")
    assert by_id[3]["error"] == "refused by the channel: duplicate"
    assert by_id[4]["channel"] == "email" and by_id[4]["mode"] == "private"

    code, failed, _ = run(capsys, db, "outbox", "--state", "failed")
    assert [i["id"] for i in failed] == [3]

    code, _, err = run(capsys, db, "outbox", "retry", "1")
    assert code == 2 and "only failed or unknown" in err  # a sent reply is never sent again
    code, retried, _ = run(capsys, db, "outbox", "retry", "3")
    assert code == 0 and retried == {"id": 3, "state": "queued", "was": "failed"}
    code, summary, _ = run(capsys, db, "send", "--once")
    assert summary["sent"] == 1
    assert summary["status"]["message"] == "All replies sent"
    code, again, _ = run(capsys, db, "send", "--once")
    assert again["sent"] == 0  # nothing is sent twice


def test_confirm_an_unknown_reply(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = Workspace(db)
    try:
        outbox_repo.mark_unknown(ws, 1, "may or may not have been sent", int(T0))
    finally:
        ws.close()
    code, _, err = run(capsys, db, "outbox", "confirm", "2")
    assert code == 2 and "only unknown" in err
    code, done, _ = run(capsys, db, "outbox", "confirm", "1")
    assert code == 0 and done["state"] == "sent" and done["remote_id"].startswith("confirmed:")
    code, summary, _ = run(capsys, db, "send", "--once")
    assert summary["sent"] == 2 and summary["reconciled"] == 0  # 2 and 4; 1 was confirmed


def test_sync_skips_sandbox_accounts(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, summary, _ = run(capsys, db, "sync", "--once")
    assert code == 0
    assert summary == {"accounts": [], "added": 0, "errors": 0}
    code, _, err = run(capsys, db, "sync", "--account", "acme", "--once")
    assert code == 2 and "nothing to pull" in err
