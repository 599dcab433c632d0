"""Panel figures beyond the queue: flags, growing groups, agents, charts, and what they cost."""

from __future__ import annotations

import re
from datetime import UTC

import pytest

from console.storage import metrics as store
from console.storage.db import Workspace
from console.storage.outbox_repo import enqueue_reply, mark_failed, mark_sent
from services.metrics import (
    Pick,
    Selection,
    agent_of,
    breach_trend,
    day_start,
    frt_histogram,
    selection_conversations,
    signature_of,
    take_snapshot,
)
from tests.unit.metrics.builders import DAY, HOUR, Scenario

NOW = DAY + 15 * HOUR


def test_flagged_counts_only_customers_in_the_queue(workspace: Workspace) -> None:
    s = Scenario(workspace)
    open_a = s.inbound("Brand", "ann", NOW - HOUR)
    open_b = s.inbound("Brand", "bob", NOW - HOUR)
    closed = s.inbound("Brand", "cat", NOW - HOUR)
    other = s.inbound("Other", "ann2", NOW - HOUR)
    s.set_conversation(s.conversation(closed), status="resolved")
    for ext, kinds in (
        (open_a, ["repeat", "escalating"]),
        (open_b, ["repeat"]),
        (closed, ["repeat"]),
        (other, ["high_reach"]),
    ):
        for kind in kinds:
            s.flag(s.customer(ext), kind)
    assert store.flagged_counts(workspace) == {"repeat": 2, "escalating": 1, "high_reach": 1}
    assert store.flagged_counts(workspace, account_id=s.account("Brand")) == {
        "repeat": 2,
        "escalating": 1,
    }
    repeat = selection_conversations(workspace, Selection(Pick.FLAG, key="repeat"), NOW)
    assert sorted(repeat) == sorted([s.conversation(open_a), s.conversation(open_b)])


def test_growing_groups_rank_by_recent_posts(workspace: Workspace) -> None:
    s = Scenario(workspace)
    old = [s.inbound("Brand", f"o{i}", NOW - 5 * HOUR + i) for i in range(6)]
    fresh = [s.inbound("Brand", f"f{i}", NOW - 1800 + i * 60) for i in range(4)]
    slow = [s.inbound("Brand", f"s{i}", NOW - 3000 + i) for i in range(2)]
    quiet = [s.inbound("Brand", f"q{i}", NOW - 4 * HOUR + i) for i in range(8)]
    big = s.group(old + fresh, sample="app crashes on login")
    small = s.group(slow, sample="refund not received")
    s.group(quiet, sample="quiet issue")
    s.group(
        [s.inbound("Brand", "d1", NOW - 60), s.inbound("Brand", "d1", NOW - 30)], kind="duplicates"
    )
    groups = store.growing_groups(workspace, NOW, window_s=HOUR)
    assert [g.id for g in groups] == [big, small]  # the quiet group and the other kind are left out
    assert (groups[0].recent, groups[0].size, groups[0].recent_customers) == (4, 10, 4)
    assert groups[0].latest_conversation_id == s.conversation(fresh[-1])
    ids = selection_conversations(workspace, Selection(Pick.GROUP, group_id=big), NOW)
    assert sorted(ids) == sorted(s.conversation(e) for e in old + fresh)
    assert store.group_of_conversation(workspace, s.conversation(fresh[0])) == big


def test_signatures_name_agents() -> None:
    assert signature_of("Please DM us your order number. ^JL") == "JL"
    assert signature_of("Steps here: https://t.co/abc ^ab") == "AB"
    assert signature_of("We can help with that ^IS\n https://t.co/3ZhVDWKaYU") == "IS"
    assert signature_of("Please DM us so we can further assist. - AP") == "AP"
    assert signature_of("Thanks for reaching out!") is None
    assert signature_of("It costs 5 - 10 dollars") is None


def test_agents_open_load_and_replies_today(workspace: Workspace) -> None:
    s = Scenario(workspace)
    a = s.inbound("Brand", "ann", NOW - 3 * HOUR)
    s.reply("Brand", NOW - 2 * HOUR, a, text="On it ^JL")
    s.reply("Brand", NOW - HOUR, a, text="Fixed now ^JL")
    b = s.inbound("Brand", "bob", NOW - 3 * HOUR)
    s.reply("Brand", NOW - HOUR, b, text="no signature here")
    s.reply("Brand", DAY - HOUR, b, text="yesterday ^JL")  # before today: not counted
    c = s.conversation(s.inbound("Brand", "cat", NOW - HOUR))
    s.set_conversation(c, assignee="Ana")
    s.set_conversation(s.conversation(b), assignee="Ana")
    queued = enqueue_reply(workspace, conversation_id=c, text="hello", now=NOW - 600, agent="Ana")
    failed = enqueue_reply(workspace, conversation_id=c, text="oops", now=NOW - 500, agent="Ana")
    mark_sent(workspace, queued.outbox_id, "remote-1", NOW - 590)
    mark_failed(workspace, failed.outbox_id, "rejected", NOW - 490)
    snap = take_snapshot(workspace, NOW, tz=UTC)
    agents = {x.name: (x.open, x.replies_today) for x in snap.agents}
    assert agents == {"^JL @Brand": (0, 2), "Ana": (2, 1)}  # the failed reply is not a reply
    assert snap.unsigned_replies == 1
    ids = selection_conversations(
        workspace, Selection(Pick.AGENT_REPLIES, key="^JL @Brand"), NOW, tz=UTC
    )
    assert ids == [s.conversation(a)]
    ids = selection_conversations(workspace, Selection(Pick.AGENT_OPEN, key="Ana"), NOW)
    assert sorted(ids) == sorted([c, s.conversation(b)])
    reply = store.replies_between(workspace, NOW - 700, NOW)[0]
    assert agent_of(reply) == "Ana"


def test_hourly_traffic_and_first_responses_today(workspace: Workspace) -> None:
    s = Scenario(workspace)
    for hour, n in ((1, 3), (9, 1), (14, 2)):
        for i in range(n):
            s.inbound("Brand", f"h{hour}-{i}", DAY + hour * HOUR + i)
    yesterday = s.inbound("Brand", "y", DAY - HOUR)
    s.reply("Brand", DAY + 2 * HOUR + 5, yesterday)  # today's reply to yesterday's post: 3 h
    post = s.inbound("Brand", "z", DAY + 9 * HOUR + 100)
    s.reply("Brand", DAY + 9 * HOUR + 400, post)  # 5 minutes
    inbound, replies = store.hourly_traffic(workspace, DAY, 24)
    assert inbound[1] == 3 and inbound[9] == 2 and inbound[14] == 2 and sum(inbound) == 7
    assert replies[2] == 1 and replies[9] == 1 and sum(replies) == 2
    times = sorted(store.first_response_times(workspace, DAY, NOW))
    assert times == [300, 3 * HOUR + 5]
    assert frt_histogram(times) == [1, 0, 0, 0, 1, 0, 0, 0]
    snap = take_snapshot(workspace, NOW, tz=UTC)
    assert snap.inbound_by_hour == inbound and snap.replies_by_hour == replies


def test_breach_trend_counts_each_breach_on_its_day(workspace: Workspace) -> None:
    s = Scenario(workspace)  # X accounts: a one-hour target
    late = s.inbound("Brand", "late", DAY - 2 * 86400 + 10 * HOUR)
    s.reply("Brand", DAY - 2 * 86400 + 13 * HOUR, late)  # breached two days ago at 11:00
    fine = s.inbound("Brand", "fine", DAY - 86400 + 10 * HOUR)
    s.reply("Brand", DAY - 86400 + 10 * HOUR + 600, fine)  # in time
    s.inbound("Brand", "never", DAY + 2 * HOUR)  # unanswered: breached today at 03:00
    waiting = s.inbound("Brand", "triaged", DAY + 13 * HOUR)
    s.set_conversation(s.conversation(waiting), deadline_at=NOW + HOUR)  # triage: not due yet
    resolved = s.inbound("Brand", "closed", DAY + 4 * HOUR)
    s.set_conversation(s.conversation(resolved), status="resolved", resolved_at=DAY + 4 * HOUR + 60)
    trend = breach_trend(workspace, NOW, days=4, tz=UTC)
    assert [start for start, _ in trend] == [DAY - 3 * 86400, DAY - 2 * 86400, DAY - 86400, DAY]
    assert [n for _, n in trend] == [0, 1, 0, 1]


def test_day_start_in_a_zone() -> None:
    from zoneinfo import ZoneInfo

    helsinki = ZoneInfo("Europe/Helsinki")  # UTC+2 in November
    assert day_start(DAY + HOUR, UTC) == DAY
    assert day_start(DAY + HOUR, helsinki) == DAY - 2 * HOUR
    assert day_start(DAY + 23 * HOUR, helsinki) == DAY + 22 * HOUR


def test_live_queries_read_index_ranges_only(workspace: Workspace) -> None:
    """The panel's refresh never scans the message or conversation tables (DESIGN: no polling)."""
    s = Scenario(workspace)
    for i in range(30):
        post = s.inbound("Brand", f"c{i}", NOW - i * 600)
        if i % 2:
            s.reply("Brand", NOW - i * 600 + 300, post)
    s.flag(s.customer(post), "repeat")
    s.group([post], sample="x")
    statements: list[str] = []
    workspace.conn.set_trace_callback(statements.append)
    take_snapshot(workspace, NOW, tz=UTC)
    workspace.conn.set_trace_callback(None)
    scans = []
    for sql in statements:
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        for row in workspace.conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
            detail = str(row[-1])
            if (
                re.match(r"SCAN (messages|conversations|m|c|r|n)\b", detail)
                and "INDEX" not in detail
            ):
                scans.append((detail, sql[:120]))
    assert scans == []
    assert len(statements) > 10


@pytest.mark.parametrize(
    "pick", [Pick.FLAG, Pick.GROUP, Pick.AGENT_OPEN, Pick.AGENT_REPLIES, Pick.QUEUE]
)
def test_incomplete_selections_select_nothing(workspace: Workspace, pick: Pick) -> None:
    assert selection_conversations(workspace, Selection(pick), NOW) == []
