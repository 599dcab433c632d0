"""A bulk import drops the indexes the ingest does not read and builds them at its end; a crash
in between leaves their definitions for the next opening to build."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import services.importers as importers
from console.domain import Channel, Direction, IncomingMessage
from console.errors import StorageError
from console.storage import ingest
from console.storage.db import DEFERRABLE_INDEXES, Workspace
from console.storage.ingest import Ingestor
from services.importers import run_import

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def _write(path: Path, count: int, start: int = 0) -> Path:
    lines = []
    for n in range(start, start + count):
        channel = ("x", "sms", "email", "whatsapp")[n % 4]
        author = f"c{n % 37}@example.com" if channel == "email" else f"@c{n % 37}"
        inbound = n % 3 != 2
        lines.append(
            {
                "channel": channel,
                "account": "BrandCare",
                "id": f"m{n}",
                "in_reply_to": f"m{n - 1}" if not inbound and channel != "sms" else None,
                "direction": "in" if inbound else "out",
                "author": author if inbound else "brandcare",
                "to": None if inbound else author,
                "text": f"my order {n % 11} is late, day {n}" if inbound else "sorry, on it",
                "created_at": (T0 + timedelta(minutes=7 * n)).isoformat(),
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _indexes(ws: Workspace) -> dict[str, str]:
    return dict(
        ws.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
    )


def _state(ws: Workspace) -> dict[str, list]:
    tables = ("messages", "conversations", "identities", "customers")
    state = {t: ws.query(f"SELECT * FROM {t} ORDER BY id") for t in tables}
    state["search"] = ws.query(
        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'late' ORDER BY rowid"
    )
    return state


def test_a_deferred_import_writes_what_an_import_with_every_index_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # new customers and identities are stamped with the clock: the same second for both imports
    monkeypatch.setattr(ingest, "utcnow", lambda: T0)
    src = _write(tmp_path / "in.jsonl", 600)
    seen_during: list[set[str]] = []
    with Workspace(tmp_path / "deferred.sqlite") as ws:
        before = _indexes(ws)

        def watch(done: int, total: int | None) -> None:
            seen_during.append(set(_indexes(ws)))

        summary = run_import(ws, src, progress=watch, defer_indexes=True, analyse=False)
        assert summary.added == 600
        deferred, deferred_indexes = _state(ws), _indexes(ws)
        pending = ws.scalar("SELECT count(*) FROM deferred_indexes")
    with Workspace(tmp_path / "plain.sqlite") as ws:
        run_import(ws, src, defer_indexes=False, analyse=False)
        plain = _state(ws)
    # while it ran, every deferrable index was gone, and the others were there
    assert seen_during
    for names in seen_during:
        assert not names & set(DEFERRABLE_INDEXES)
        assert {"messages_conversation", "messages_parent", "conversations_thread"} <= names
    assert deferred_indexes == before  # all back, with the very same definitions
    assert pending == 0
    assert deferred == plain


def test_the_default_defers_for_a_big_file_into_a_smaller_workspace_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importers, "DEFER_INDEXES_MIN", 100)
    deferring: list[bool] = []

    def watch(ws: Workspace) -> importers.Progress:
        def progress(done: int, total: int | None) -> None:
            deferring.append("messages_norm" not in _indexes(ws))

        return progress

    with Workspace(tmp_path / "w.sqlite") as ws:
        run_import(ws, _write(tmp_path / "small.jsonl", 50), progress=watch(ws), analyse=False)
        assert deferring == [False]  # under the threshold
        deferring.clear()
        run_import(ws, _write(tmp_path / "a.jsonl", 200, 50), progress=watch(ws), analyse=False)
        assert deferring == [True]  # 200 records into 50 messages
        deferring.clear()
        run_import(ws, _write(tmp_path / "b.jsonl", 150, 250), progress=watch(ws), analyse=False)
        assert deferring == [False]  # 150 records into 250 messages
        assert "messages_norm" in _indexes(ws)


def test_a_failing_import_keeps_its_commits_and_gets_its_indexes_back(tmp_path: Path) -> None:
    def records():
        for n in range(50):
            if n == 30:
                raise RuntimeError("the file went away")
            yield IncomingMessage(
                Channel.SMS,
                "brand",
                f"s{n}",
                Direction.IN,
                f"+1555{n % 5}",
                "hi",
                1_700_000_000 + n,
            )

    with Workspace(tmp_path / "w.sqlite") as ws:
        before = _indexes(ws)
        with pytest.raises(RuntimeError, match="went away"), ws.deferred_indexes():
            Ingestor(ws, batch_size=10).ingest(records())
        assert ws.scalar("SELECT count(*) FROM messages") == 30  # three committed batches
        assert _indexes(ws) == before
        assert ws.scalar("SELECT count(*) FROM deferred_indexes") == 0


def test_deferring_inside_a_transaction_is_refused(tmp_path: Path) -> None:
    with (
        Workspace(tmp_path / "w.sqlite") as ws,
        ws.transaction(),
        pytest.raises(StorageError, match="inside a transaction"),
        ws.deferred_indexes(),
    ):
        pass


CRASH = """
import os, sys
sys.path.insert(0, sys.argv[2])
from console.storage.db import Workspace
ws = Workspace(sys.argv[1])
with ws.deferred_indexes():
    with ws.transaction() as conn:
        conn.execute("INSERT INTO customers (name, created_at) VALUES ('x', 0)")
    os._exit(3)  # killed in the middle of the import: no finally, no close
"""


def test_a_crash_mid_import_leaves_the_indexes_to_the_next_opening(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    with Workspace(path) as ws:
        before = _indexes(ws)
    done = subprocess.run(
        [sys.executable, "-c", CRASH, str(path), str(ROOT)], capture_output=True, timeout=60
    )
    assert done.returncode == 3, done.stderr.decode()
    raw = sqlite3.connect(path)  # as the crash left it: dropped, and written down
    left = {name for (name,) in raw.execute("SELECT name FROM deferred_indexes")}
    gone = {n for (n,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    raw.close()
    assert left == set(DEFERRABLE_INDEXES)
    assert not gone & left
    with Workspace(path) as ws:
        assert _indexes(ws) == before
        assert ws.scalar("SELECT count(*) FROM deferred_indexes") == 0
        assert ws.scalar("SELECT count(*) FROM customers") == 1
        plan = " ".join(
            str(row[-1])
            for row in ws.conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM conversations WHERE status = 'open'"
                " ORDER BY last_activity DESC, id DESC LIMIT 50"
            )
        )
        assert "conversations_activity" in plan


def test_an_opening_during_a_deferring_import_leaves_the_indexes_to_it(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    with Workspace(path) as ws:
        before = _indexes(ws)
        with ws.deferred_indexes() as dropped:
            assert sorted(dropped) == sorted(DEFERRABLE_INDEXES)
            with Workspace(path) as other:  # the window, or a second job, opening meanwhile
                assert not set(_indexes(other)) & set(DEFERRABLE_INDEXES)
                assert other.build_deferred_indexes() == []
                with other.deferred_indexes() as again:  # a second import at the same time
                    assert again == []
                assert not set(_indexes(other)) & set(DEFERRABLE_INDEXES)
        assert _indexes(ws) == before
        assert ws.scalar("SELECT count(*) FROM deferred_indexes") == 0
