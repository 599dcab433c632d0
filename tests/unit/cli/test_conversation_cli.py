"""The inbox and conversation actions from the command line, as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from console.storage.db import Workspace
from tests.helpers.scenario import build_inbox, conversation_of

NOW = 1_764_000_000


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ws.sqlite"
    with Workspace(path) as ws:
        build_inbox(ws, NOW, n_filler=5)
    return path


def run(db: Path, capsys: Any, *args: str) -> Any:
    code = main(["--db", str(db), *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def conv(db: Path, ext: str) -> int:
    with Workspace(db) as ws:
        return conversation_of(ws, ext)


def test_inbox_lists_and_filters(db: Path, capsys: Any) -> None:
    everything = run(db, capsys, "inbox", "--limit", "100")
    with Workspace(db) as ws:
        open_ = ws.scalar("SELECT count(*) FROM conversations WHERE status IN ('open', 'pending')")
    assert everything["total"] == len(everything["conversations"]) == open_ == 13
    sms = run(db, capsys, "inbox", "--channel", "sms")
    assert [c["id"] for c in sms["conversations"]] == [conv(db, "sms-1")]
    dup = run(db, capsys, "inbox", "--flag", "duplicates")
    assert dup["conversations"] and all("duplicates" in c["flags"] for c in dup["conversations"])


def test_actions_change_the_conversation_and_its_history(db: Path, capsys: Any) -> None:
    c = str(conv(db, "m-1"))
    assert run(db, capsys, "assign", c, "--me", "--agent", "Ana")["assignee"] == "Ana"
    assert run(db, capsys, "tag", c, "delivery", "#vip", "--agent", "Ana")["tags"] == [
        "delivery",
        "vip",
    ]
    assert run(db, capsys, "note", c, "Prefers Finnish", "--agent", "Ana")["note"] > 0
    snoozed = run(db, capsys, "snooze", c, "--for", "2h", "--agent", "Ana")
    assert snoozed["status"] == "snoozed" and snoozed["snoozed_until"]
    assert run(db, capsys, "resolve", c, "--agent", "Ana")["status"] == "resolved"
    thread = run(db, capsys, "conversation", c)
    kinds = [(m["direction"], m["text"]) for m in thread["messages"] if m["direction"] != "in"]
    assert kinds[0] == ("event", "Ana took the conversation")
    assert ("note", "Prefers Finnish") in kinds and kinds[-1] == ("event", "Resolved by Ana")


def test_bad_input_is_a_clear_error(db: Path, capsys: Any) -> None:
    assert main(["--db", str(db), "snooze", str(conv(db, "m-1")), "--for", "soon"]) == 2
    assert "is not like 45m" in capsys.readouterr().err
    assert main(["--db", str(db), "resolve", "999999"]) == 2
    assert "no conversation 999999" in capsys.readouterr().err
