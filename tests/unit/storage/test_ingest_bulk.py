"""Bulk ingest: several batches per commit give the very rows one batch per commit gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.domain import Channel, Direction, IncomingMessage
from console.storage.db import Workspace
from console.storage.ingest import Ingestor


def _records() -> list[IncomingMessage]:
    out = []
    for n in range(30):
        customer = f"c{n % 7}"
        out.append(
            IncomingMessage(
                channel=Channel.X if n % 3 else Channel.SMS,
                account="brand",
                external_id=f"m{n}",
                direction=Direction.IN,
                author=customer,
                text=f"my order {n} is late   again\n\n",
                created_at=1_700_000_000 + 3600 * n,
                in_reply_to=f"r{n - 2}" if n % 4 == 0 and n > 2 else None,
            )
        )
        out.append(
            IncomingMessage(
                channel=Channel.X if n % 3 else Channel.SMS,
                account="brand",
                external_id=f"r{n}",
                direction=Direction.OUT,
                author="brand",
                text="   " if n % 5 == 0 else f"sorry {customer}, on it ^CP",
                created_at=1_700_000_000 + 3600 * n + 60,
                in_reply_to=f"m{n}",
                to=customer,
                extra={"agent": "Chiara", "n": n} if n % 2 else {},
            )
        )
    return out[::-1]  # replies before their parents: orphans adopted across batches


TABLES = {
    "messages": "SELECT * FROM messages ORDER BY id",
    "conversations": "SELECT * FROM conversations ORDER BY id",
    "identities": "SELECT id, channel, handle, customer_id FROM identities ORDER BY id",
    "customers": "SELECT id, inbound_count, outbound_count, conversation_count, first_contact,"
    " last_contact FROM customers ORDER BY id",
}


def _state(path: Path, per_commit: int) -> dict[str, list]:
    with Workspace(path) as ws:
        Ingestor(ws, batch_size=4, batches_per_commit=per_commit).ingest(_records())
        return {name: ws.query(sql) for name, sql in TABLES.items()}


def test_batches_per_commit_change_nothing_but_the_commits(tmp_path: Path) -> None:
    one = _state(tmp_path / "one.sqlite", 1)
    grouped = _state(tmp_path / "grouped.sqlite", 3)
    assert len(one["messages"]) == 60
    assert any(c["snippet"] for c in one["conversations"])
    for name in TABLES:
        assert grouped[name] == one[name], name


def test_a_failure_undoes_its_own_group_of_batches_only(tmp_path: Path) -> None:
    seen: list[int] = []

    def after_batch(ws: Workspace, batch: object) -> None:
        seen.append(1)
        if len(seen) == 5:  # the second batch of the second group of 3
            raise RuntimeError("disk full")

    with Workspace(tmp_path / "fail.sqlite") as ws:
        ingestor = Ingestor(ws, batch_size=4, batches_per_commit=3, after_batch=after_batch)
        with pytest.raises(RuntimeError):
            ingestor.ingest(_records())
        assert ws.scalar("SELECT count(*) FROM messages") == 12  # the first group of 3 batches


def _many(n: int, start: int = 0) -> list[IncomingMessage]:
    return [
        IncomingMessage(
            channel=Channel.X,
            account="brand",
            external_id=f"bulk{i}",
            direction=Direction.IN,
            author=f"c{i % 50}",
            text=f"parcel number {i} went to the wrong zeppelin depot",
            created_at=1_700_000_000 + 60 * i,
        )
        for i in range(start, start + n)
    ]


def _fts_check(ws: Workspace) -> None:
    # FTS5 compares its index with the messages table and raises on any difference.
    ws.conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")


def _has_fts_trigger(ws: Workspace) -> bool:
    return bool(
        ws.scalar(
            "SELECT count(*) FROM sqlite_master"
            " WHERE type = 'trigger' AND name = 'messages_fts_insert'"
        )
    )


def test_big_batches_are_indexed_in_one_statement_and_the_trigger_comes_back(
    tmp_path: Path,
) -> None:
    from console.storage.ingest import DEFER_FTS_FROM

    with Workspace(tmp_path / "big.sqlite") as ws:
        Ingestor(ws, batch_size=DEFER_FTS_FROM * 2).ingest(_many(DEFER_FTS_FROM * 3))
        assert _has_fts_trigger(ws)
        _fts_check(ws)
        hits = ws.scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'zeppelin'")
        assert hits == DEFER_FTS_FROM * 3
        # a small batch afterwards goes through the trigger, indexed all the same
        Ingestor(ws, batch_size=10).ingest(_many(5, start=10_000))
        _fts_check(ws)
        assert (
            ws.scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'zeppelin'")
            == DEFER_FTS_FROM * 3 + 5
        )


def test_a_failed_big_batch_leaves_neither_rows_nor_index_nor_a_missing_trigger(
    tmp_path: Path,
) -> None:
    from console.storage.ingest import DEFER_FTS_FROM

    def fail(ws: Workspace, batch: object) -> None:
        raise RuntimeError("disk full")

    with Workspace(tmp_path / "fail.sqlite") as ws:
        with pytest.raises(RuntimeError):
            Ingestor(ws, batch_size=DEFER_FTS_FROM, after_batch=fail).ingest(_many(DEFER_FTS_FROM))
        assert ws.scalar("SELECT count(*) FROM messages") == 0
        assert _has_fts_trigger(ws)
        _fts_check(ws)
        # and inside a failing block the trigger is back for the rest of the transaction
        with ws.transaction():
            with pytest.raises(RuntimeError), ws.deferred_fts():
                raise RuntimeError("parse error")
            assert _has_fts_trigger(ws)
