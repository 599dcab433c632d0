"""Inbox queries: keyset pages equal a full sort, every filter selects what it says."""

from __future__ import annotations

import pytest

from console.domain import Channel, FlagKind, Status
from console.inbox_filter import SORTS, InboxFilter
from console.storage import conversations as conv_repo
from console.storage.db import Workspace
from console.storage.inbox import inbox_count, inbox_page, inbox_rows, sort_key
from tests.helpers.scenario import build_inbox, conversation_of, customer_id

NOW = 1_764_000_000


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    build_inbox(workspace, NOW, n_filler=230)
    # some variety in status and priority
    conv_repo.set_status(
        workspace, conversation_of(workspace, "t-fill-3"), Status.RESOLVED, agent="a", now=NOW
    )
    conv_repo.set_status(
        workspace, conversation_of(workspace, "t-fill-4"), Status.PENDING, agent="a", now=NOW
    )
    conv_repo.set_status(
        workspace,
        conversation_of(workspace, "t-fill-5"),
        Status.SNOOZED,
        agent="a",
        now=NOW,
        until=NOW + 60,
    )
    return workspace


def all_pages(ws: Workspace, f: InboxFilter, limit: int = 17) -> list[int]:
    ids: list[int] = []
    after = None
    while True:
        page = inbox_page(ws, f, now=NOW, after=after, limit=limit)
        ids.extend(r.id for r in page)
        if len(page) < limit:
            return ids
        after = page[-1].key


def brute_force(ws: Workspace, f: InboxFilter) -> list[int]:
    statuses = {str(s) for s in f.statuses}
    rows = ws.query("SELECT id, status, last_activity, waiting_since, priority FROM conversations")
    keep = [r for r in rows if r["status"] in statuses]
    keep.sort(
        key=lambda r: sort_key(
            f.sort, r["last_activity"], r["waiting_since"], r["priority"], r["id"]
        )
    )
    return [r["id"] for r in keep]


@pytest.mark.parametrize("sort", SORTS)
def test_keyset_pages_walk_every_row_once_in_sort_order(ws: Workspace, sort: str) -> None:
    f = InboxFilter(sort=sort)  # type: ignore[arg-type]
    assert all_pages(ws, f) == brute_force(ws, f)
    everything = f.with_(statuses=frozenset(Status))
    assert all_pages(ws, everything, limit=50) == brute_force(ws, everything)
    assert inbox_count(ws, f, now=NOW) == len(brute_force(ws, f))


def test_default_inbox_is_open_and_pending_only(ws: Workspace) -> None:
    statuses = {r["status"] for r in ws.query("SELECT status FROM conversations")}
    assert statuses == {"open", "pending", "resolved", "snoozed"}
    shown = set(all_pages(ws, InboxFilter()))
    resolved = conversation_of(ws, "t-fill-3")
    snoozed = conversation_of(ws, "t-fill-5")
    assert resolved not in shown and snoozed not in shown
    assert conversation_of(ws, "t-fill-4") in shown


def test_filters_select_what_they_name(ws: Workspace) -> None:
    sms = all_pages(ws, InboxFilter(channels=frozenset({Channel.SMS})))
    assert sms == [conversation_of(ws, "sms-1")]
    andy_tweet = conversation_of(ws, "t-andy-1")
    conv_repo.assign(ws, andy_tweet, "Ana", agent="Ana", now=NOW)
    assert all_pages(ws, InboxFilter(assignee="Ana")) == [andy_tweet]
    assert andy_tweet not in all_pages(ws, InboxFilter(assignee=""))
    # flags come from triage: Bea's three posts are duplicates and she has a large audience
    bea_conversations = set(
        int(r[0])
        for r in ws.conn.execute(
            "SELECT id FROM conversations WHERE customer_id = ?", (customer_id(ws, "bea_k"),)
        )
    )
    dup = set(all_pages(ws, InboxFilter(flags=frozenset({FlagKind.DUPLICATES}))))
    assert bea_conversations and bea_conversations <= dup
    assert bea_conversations <= set(
        all_pages(ws, InboxFilter(flags=frozenset({FlagKind.HIGH_REACH})))
    )
    # waiting: Carla was answered, Dan was not
    waiting = set(all_pages(ws, InboxFilter(waiting_only=True)))
    assert conversation_of(ws, "m-1") in waiting
    assert conversation_of(ws, "sms-1") not in waiting


def test_search_matches_text_and_handles(ws: Workspace) -> None:
    assert all_pages(ws, InboxFilter(search="parcel 4471")) and set(
        all_pages(ws, InboxFilter(search="parcel 4471"))
    ) == {conversation_of(ws, f"t-bea-{i}") for i in (1, 2, 3)}
    assert all_pages(ws, InboxFilter(search="@psid-dan")) == [conversation_of(ws, "m-1")]
    assert all_pages(ws, InboxFilter(search='"; DROP TABLE messages; --')) == []


def test_tags_filter(ws: Workspace) -> None:
    conv = conversation_of(ws, "sms-1")
    conv_repo.set_tags(ws, conv, ["Billing", "#refund"], agent="a", now=NOW)
    assert all_pages(ws, InboxFilter(tags=frozenset({"refund"}))) == [conv]
    assert conv_repo.all_tags(ws) == ["billing", "refund"]


def test_pinned_filter_lists_exactly_the_named_conversations(ws: Workspace) -> None:
    picked = (conversation_of(ws, "t-fill-3"), conversation_of(ws, "m-1"))
    f = InboxFilter(conversation_ids=picked, title="picked")
    assert set(all_pages(ws, f)) == set(picked)  # whatever their status
    assert inbox_count(ws, f, now=NOW) == 2


def test_inbox_rows_returns_only_rows_the_filter_shows(ws: Workspace) -> None:
    resolved, open_ = conversation_of(ws, "t-fill-3"), conversation_of(ws, "t-fill-6")
    rows = inbox_rows(ws, InboxFilter(), [resolved, open_], now=NOW)
    assert [r.id for r in rows] == [open_]
    assert rows[0].customer == "Filler Person 6" and rows[0].handle == "filler6"


def test_a_page_is_an_index_range_not_a_scan(ws: Workspace) -> None:
    plan = " ".join(
        str(r[3])
        for r in ws.conn.execute(
            "EXPLAIN QUERY PLAN SELECT c.id, c.snippet FROM conversations c WHERE c.status = ?"
            " AND (c.last_activity, c.id) < (?, ?) ORDER BY c.last_activity DESC, c.id DESC LIMIT 10",
            ("open", NOW, 0),
        )
    )
    assert "INDEX conversations_activity" in plan and "TEMP B-TREE" not in plan
