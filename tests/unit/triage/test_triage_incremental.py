"""Incremental triage equals a full rebuild, and the hook only touches what it must."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from console.domain import Channel, Direction, IncomingMessage
from console.storage import Workspace
from console.storage.ingest import BatchResult, Ingestor
from console.triage.engine import after_import, incremental_hook, rebuild, retriage
from tests.unit.triage.triage_scenarios import NOW, START, build

#: Tables the hook may read whole: a handful of rows, or what its own CTEs derived.
SMALL_OR_DERIVED = {"accounts", "settings", "counts", "ranked", "latest"}


def snapshot(ws: Workspace) -> dict[str, Any]:
    """Everything triage writes, keyed by external ids and customer keys (not row ids)."""
    ref = {
        r["id"]: f"{r['channel']}:{r['external_id']}"
        for r in ws.query("SELECT id, channel, external_id FROM messages")
    }
    key = {r["id"]: r["key"] for r in ws.query("SELECT id, key FROM customers")}
    flags = {
        (key[r["customer_id"]], r["kind"]): (
            r["score"],
            json.loads(r["reasons"]),
            sorted(ref[i] for i in json.loads(r["message_ids"])),
        )
        for r in ws.query("SELECT * FROM flags")
    }
    members: dict[int, list[str]] = {}
    for r in ws.query("SELECT id, dup_group FROM messages WHERE dup_group IS NOT NULL"):
        members.setdefault(r["dup_group"], []).append(ref[r["id"]])
    groups = {
        (r["kind"], key.get(r["customer_id"]), r["norm_hash"]): (
            r["size"],
            r["customers"],
            r["first_at"],
            r["last_at"],
            r["sample"],
            sorted(members.get(r["id"], [])),
        )
        for r in ws.query("SELECT * FROM dup_groups")
    }
    customers = {
        key[r["id"]]: (r["flag_mask"], r["priority"], r["language"])
        for r in ws.query("SELECT id, flag_mask, priority, language FROM customers")
    }
    conversations = {
        ref[r["first"]]: (r["deadline_at"], r["flag_mask"], r["priority"])
        for r in ws.query(
            "SELECT c.deadline_at, c.flag_mask, c.priority, (SELECT id FROM messages"
            " WHERE conversation_id = c.id ORDER BY created_at, id LIMIT 1) AS first"
            " FROM conversations c"
        )
    }
    messages = {
        ref[r["id"]]: (r["language"], r["sentiment"])
        for r in ws.query("SELECT id, language, sentiment FROM messages")
    }
    return {
        "flags": flags,
        "groups": groups,
        "customers": customers,
        "conversations": conversations,
        "messages": messages,
    }


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for part in a:
        left, right = a[part], b[part]
        diff = {
            k: (left.get(k), right.get(k))
            for k in set(left) | set(right)
            if left.get(k) != right.get(k)
        }
        assert not diff, (part, dict(list(diff.items())[:5]))


def test_one_message_at_a_time_equals_a_rebuild(tmp_path: Path) -> None:
    records, _ = build(seed=5, ordinary=50, escalating=12, duplicates=3)
    live = Workspace(tmp_path / "live.sqlite")
    Ingestor(live, after_batch=incremental_hook(clock=lambda: NOW), batch_size=1).ingest(records)
    incremental = snapshot(live)
    assert incremental["flags"] and incremental["groups"]

    rebuild(live, clock=lambda: NOW)
    assert_same(incremental, snapshot(live))

    bulk = Workspace(tmp_path / "bulk.sqlite")
    Ingestor(bulk).ingest(records)
    rebuild(bulk, clock=lambda: NOW)
    assert_same(incremental, snapshot(bulk))
    live.close()
    bulk.close()


def test_batches_in_any_order_equal_a_rebuild(tmp_path: Path) -> None:
    records, _ = build(seed=9, ordinary=40, escalating=8, duplicates=3)
    shuffled = records[::2] + records[1::2]  # replies before their parents, later before earlier
    live = Workspace(tmp_path / "live.sqlite")
    Ingestor(live, after_batch=incremental_hook(clock=lambda: NOW), batch_size=37).ingest(shuffled)
    incremental = snapshot(live)
    rebuild(live, clock=lambda: NOW)
    assert_same(incremental, snapshot(live))
    live.close()


def test_scoped_triage_after_an_import_equals_a_rebuild(tmp_path: Path) -> None:
    records, _ = build(seed=3, ordinary=60, escalating=10, duplicates=3)
    first, second = records[:-30], records[-30:]
    ws = Workspace(tmp_path / "ws.sqlite")
    Ingestor(ws).ingest(first)
    rebuild(ws, clock=lambda: NOW)
    report = Ingestor(ws).ingest(second)
    done = after_import(ws, report, clock=lambda: NOW)
    assert 0 < done.customers < ws.scalar("SELECT count(*) FROM customers")
    scoped = snapshot(ws)
    rebuild(ws, clock=lambda: NOW)
    assert_same(scoped, snapshot(ws))
    ws.close()


def test_a_first_import_rebuilds_without_looking_up_its_conversations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.storage import triage_repo

    records, _ = build(seed=5, ordinary=30, escalating=5, duplicates=2)
    ws = Workspace(tmp_path / "ws.sqlite")
    report = Ingestor(ws).ingest(records)

    def looked_up(*args: object) -> set[int]:
        raise AssertionError("the customers it wrote for already tell a full rebuild")

    monkeypatch.setattr(triage_repo, "customers_of_conversations", looked_up)
    done = after_import(ws, report, clock=lambda: NOW)
    assert done.customers == ws.scalar("SELECT count(*) FROM customers WHERE merged_into IS NULL")
    imported = snapshot(ws)
    rebuild(ws, clock=lambda: NOW)
    assert_same(imported, snapshot(ws))
    ws.close()


def test_retriage_after_a_merge_and_unmerge(tmp_path: Path) -> None:
    from console.storage.customers import merge_customers, unmerge_customer

    records, _ = build(seed=4, ordinary=20, escalating=4, duplicates=2)
    ws = Workspace(tmp_path / "ws.sqlite")
    Ingestor(ws).ingest(records)
    rebuild(ws, clock=lambda: NOW)
    a, b = (
        int(ws.scalar("SELECT id FROM customers WHERE key = ?", (k,))) for k in ("dup0", "dup1")
    )
    merge_customers(ws, a, b, now=NOW)
    retriage(ws, [a], clock=lambda: NOW)  # the merged customer comes along
    merged = snapshot(ws)
    assert ("dup1", "duplicates") not in merged["flags"]
    rebuild(ws, clock=lambda: NOW)
    assert_same(merged, snapshot(ws))
    unmerge_customer(ws, a, now=NOW)
    retriage(ws, [a, b], clock=lambda: NOW)
    restored = snapshot(ws)
    rebuild(ws, clock=lambda: NOW)
    assert_same(restored, snapshot(ws))
    assert ("dup1", "duplicates") in restored["flags"]


def _full_scans(ws: Workspace, statements: list[str]) -> list[tuple[str, str]]:
    """Statements whose plan walks a whole table or index (anything but small or derived tables)."""
    scans = []
    for sql in statements:
        if sql in ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"):
            continue
        for row in ws.conn.execute("EXPLAIN QUERY PLAN " + sql):
            detail = str(row[3])
            words = detail.split()
            if words[0] != "SCAN" or "VIRTUAL TABLE" in detail:
                continue
            if words[1] in SMALL_OR_DERIVED or words[1].startswith("(subquery"):
                continue
            scans.append((detail, sql[:120]))
    return scans


def test_the_hook_uses_indexes_only_and_is_fast(tmp_path: Path) -> None:
    records, _ = build(seed=2, ordinary=150, escalating=20, duplicates=5)
    ws = Workspace(tmp_path / "ws.sqlite")
    Ingestor(ws).ingest(records)
    rebuild(ws, clock=lambda: NOW)
    hook = incremental_hook(clock=lambda: NOW)
    statements: list[str] = []
    timings: list[float] = []

    def traced(w: Workspace, batch: BatchResult) -> None:
        w.conn.set_trace_callback(statements.append)
        started = time.perf_counter()
        try:
            hook(w, batch)
        finally:
            timings.append(time.perf_counter() - started)
            w.conn.set_trace_callback(None)

    ingestor = Ingestor(ws, after_batch=traced, batch_size=1)
    handles = ws.query("SELECT channel, handle FROM identities ORDER BY id LIMIT 40")
    for n, ident in enumerate(handles):
        ingestor.ingest(
            [
                IncomingMessage(
                    channel=Channel(ident["channel"]),
                    account=f"brand-{ident['channel']}",
                    external_id=f"new{n}",
                    direction=Direction.IN,
                    author=ident["handle"],
                    text="Still no answer about my refund, this is the third time I write!!!",
                    created_at=START + 100 * 86400 + n,
                )
            ]
        )
    assert statements
    assert _full_scans(ws, statements) == []
    timings.sort()
    assert timings[len(timings) * 95 // 100] < 0.05  # generous: the bench measures the real p95


class Broken:
    def detect(self, texts: object) -> list[str | None]:
        raise RuntimeError("detector exploded")


def test_a_failing_triage_keeps_the_messages_and_asks_for_a_rebuild(
    tmp_path: Path, caplog: Any
) -> None:
    from console.triage.engine import needs_rebuild

    records, _ = build(seed=6, ordinary=5, escalating=1, duplicates=1)
    ws = Workspace(tmp_path / "ws.sqlite")
    hook = incremental_hook(clock=lambda: NOW, detector=Broken())
    report = Ingestor(ws, after_batch=hook).ingest(records)
    assert report.added == len(records) == ws.scalar("SELECT count(*) FROM messages")
    assert ws.scalar("SELECT count(*) FROM messages WHERE sentiment IS NOT NULL") == 0
    assert needs_rebuild(ws) and "run a rebuild" in caplog.text
    rebuild(ws, clock=lambda: NOW)
    assert not needs_rebuild(ws)
    assert ws.scalar("SELECT count(*) FROM flags") > 0
    ws.close()
