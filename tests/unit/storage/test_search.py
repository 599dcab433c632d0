"""Full-text search: newest first and exact, whether a word is rare or common."""

from __future__ import annotations

import random

import pytest

from console.domain import Channel
from console.storage import customers
from console.storage.db import Workspace
from console.storage.inbox import search_conversations
from console.storage.ingest import Ingestor
from tests.helpers.scenario import msg

NOW = 1_764_000_000


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    rng = random.Random(3)
    records = []
    # ids do not follow time: an import of old mail after new posts (the hard case)
    for i in range(600):
        words = ["refund"] if i % 3 == 0 else ["hello"]
        if i == 17:
            words.append("zeppelin")
        at = NOW - rng.randrange(0, 90 * 86400)
        records.append(
            msg(Channel.SMS, f"s{i}", f"+3584{i % 40:05d}", " ".join(words) + f" n{i}", at)
        )
    Ingestor(workspace, batch_size=97).ingest(records)
    return workspace


def brute(ws: Workspace, word: str) -> list[int]:
    rows = ws.query("SELECT id, created_at, text FROM messages")
    hits = [r for r in rows if word in r["text"].split()]
    hits.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return [r["id"] for r in hits]


@pytest.mark.parametrize("direct", [4000, 10], ids=["look-up", "time-index"])
def test_pages_are_the_newest_matches_in_order(
    ws: Workspace, direct: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(customers, "DIRECT_MATCHES", direct)
    expected = brute(ws, "refund")
    got: list[int] = []
    before = None
    while True:
        page = customers.search_messages(ws, "refund", limit=25, before=before)
        got.extend(r["id"] for r in page)
        if len(page) < 25:
            break
        before = (page[-1]["created_at"], page[-1]["id"])
    assert got == expected and len(got) == 200
    assert [r["id"] for r in customers.search_messages(ws, "zeppelin")] == brute(ws, "zeppelin")


def test_the_index_walk_is_used_for_common_words(ws: Workspace) -> None:
    plan = " ".join(
        str(r[3])
        for r in ws.conn.execute(
            "EXPLAIN QUERY PLAN SELECT m.id FROM messages m INDEXED BY messages_time"
            " WHERE m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'refund')"
            " ORDER BY m.created_at DESC, m.id DESC LIMIT 5"
        )
    )
    assert "messages_time" in plan and "TEMP B-TREE" not in plan


def test_inbox_search_finds_conversations_by_word_and_by_handle(ws: Workspace) -> None:
    conv = ws.scalar("SELECT conversation_id FROM messages WHERE external_id = 's17'")
    assert search_conversations(ws, "zeppelin") == [conv]
    by_handle = set(search_conversations(ws, "+358400017"))
    customer = ws.scalar("SELECT customer_id FROM messages WHERE external_id = 's17'")
    assert by_handle == {
        int(r[0])
        for r in ws.conn.execute("SELECT id FROM conversations WHERE customer_id = ?", (customer,))
    }


def test_a_search_found_on_another_connection_primes_this_one(ws: Workspace) -> None:
    from console.storage.inbox import find_for_search, remember_search

    other = Workspace(ws.path, create=False)
    try:
        key, found = find_for_search(other, "zeppelin")
    finally:
        other.close()
    assert found and key[1] == "zeppelin"
    statements: list[str] = []
    ws.conn.set_trace_callback(statements.append)
    try:
        remember_search(ws, key, found)
        assert search_conversations(ws, "zeppelin") == found
    finally:
        ws.conn.set_trace_callback(None)
    assert not [s for s in statements if "messages_fts" in s]  # no search on this connection
    # a message added since: only the messages after the remembered search are searched, and
    # their conversations come first (the same set a search from scratch gives)
    Ingestor(ws).ingest(
        [
            msg(Channel.SMS, "late", "+358499999", "zeppelin again", NOW),
            msg(Channel.SMS, "other", "+358499998", "nothing to see", NOW),
        ]
    )
    late = int(ws.scalar("SELECT conversation_id FROM messages WHERE external_id = 'late'"))
    statements.clear()
    ws.conn.set_trace_callback(statements.append)
    try:
        now_found = search_conversations(ws, "zeppelin")
    finally:
        ws.conn.set_trace_callback(None)
    assert now_found == [late, *found]
    assert any("f.rowid > " in s for s in statements)
    fresh = Workspace(ws.path, create=False)
    try:
        assert set(search_conversations(fresh, "zeppelin")) == set(now_found)
    finally:
        fresh.close()
