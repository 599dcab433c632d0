"""The live queue figures: definitions, boundaries, per account and total, and click lists."""

from __future__ import annotations

from datetime import UTC

import pytest

from console.storage import metrics as store
from console.storage.db import Workspace
from console.storage.metrics import Figure
from services.metrics import Pick, Selection, selection_conversations, take_snapshot
from tests.unit.metrics.builders import DAY, HOUR, Scenario

NOW = DAY + 12 * HOUR


@pytest.fixture
def queue(workspace: Workspace) -> dict[str, int]:
    """Conversations covering every rule of the queue definitions (see each comment)."""
    s = Scenario(workspace)
    ids: dict[str, int] = {}
    # Waiting 30 min, deadline in 10 min: waiting and at risk.
    ids["risk"] = s.conversation(s.inbound("Brand", "ann", NOW - 1800))
    s.set_conversation(ids["risk"], deadline_at=NOW + 600)
    # Waiting 3 h, deadline 2 h ago: waiting (the oldest) and breached.
    ids["late"] = s.conversation(s.inbound("Brand", "bob", NOW - 3 * HOUR))
    s.set_conversation(ids["late"], deadline_at=NOW - 2 * HOUR)
    # Answered, then a follow-up 20 min ago due in 5 min: at risk but not waiting for a *first* response.
    first = s.inbound("Brand", "cat", NOW - 2 * HOUR)
    s.reply("Brand", NOW - HOUR, first)
    ids["follow"] = s.conversation(s.inbound("Brand", "cat", NOW - 1200, reply_to=first))
    s.set_conversation(ids["follow"], deadline_at=NOW + 300)
    # Deadline exactly 15 min away: not yet at risk; deadline exactly now: at risk, not breached.
    ids["edge15"] = s.conversation(s.inbound("Brand", "dan", NOW - 50 * 60))
    s.set_conversation(ids["edge15"], deadline_at=NOW + store.AT_RISK_S)
    ids["edge0"] = s.conversation(s.inbound("Brand", "eve", NOW - 55 * 60))
    s.set_conversation(ids["edge0"], deadline_at=NOW)
    # Pending, snoozed and resolved conversations are out of the queue whatever their clocks say.
    for status, who in (("pending", "fay"), ("snoozed", "gus"), ("resolved", "hal")):
        ids[status] = s.conversation(s.inbound("Brand", who, NOW - 4 * HOUR))
        s.set_conversation(ids[status], status=status, deadline_at=NOW - HOUR)
    # An answered conversation is open but waits for nobody.
    done = s.inbound("Brand", "ivy", NOW - 5 * HOUR)
    s.reply("Brand", NOW - 4 * HOUR, done)
    ids["answered"] = s.conversation(done)
    # Another account: waiting 10 minutes, no deadline.
    ids["mail"] = s.conversation(s.inbound("Support", "joe", NOW - 600))
    ids["brand"] = s.account("Brand")
    ids["support"] = s.account("Support")
    return ids


def test_queue_figures_follow_the_definitions(workspace: Workspace, queue: dict[str, int]) -> None:
    figures = store.queue_figures(workspace, NOW)
    brand = figures[queue["brand"]]
    assert brand.open == 6  # risk, late, follow, edge15, edge0, answered
    assert brand.waiting == 4  # risk, late, edge15, edge0
    assert brand.oldest_waiting_s(NOW) == 3 * HOUR
    assert brand.at_risk == 3  # risk, follow, edge0
    assert brand.breached == 1  # late
    support = figures[queue["support"]]
    assert (support.open, support.waiting, support.at_risk, support.breached) == (1, 1, 0, 0)
    assert support.oldest_waiting_s(NOW) == 600
    total = store.total_figures(figures.values())
    assert (total.open, total.waiting, total.at_risk, total.breached) == (7, 5, 3, 1)
    assert total.oldest_waiting_s(NOW) == 3 * HOUR


def test_time_moves_figures_without_new_data(workspace: Workspace, queue: dict[str, int]) -> None:
    later = NOW + 601  # past the deadlines of edge0 (NOW), follow (+300) and risk (+600)
    brand = store.queue_figures(workspace, later)[queue["brand"]]
    assert (brand.breached, brand.at_risk) == (4, 1)  # edge15 (+900) is now at risk
    # The panel's timer: the next deadline to pass is follow's; edge15 turned at risk at NOW.
    assert store.next_deadline_change(workspace, NOW) == NOW + 300
    assert store.next_deadline_change(workspace, NOW + 2 * HOUR) is None


@pytest.mark.parametrize("figure", list(Figure))
@pytest.mark.parametrize("account", [None, "brand", "support"])
def test_each_figure_lists_exactly_what_it_counts(
    workspace: Workspace, queue: dict[str, int], figure: Figure, account: str | None
) -> None:
    account_id = queue[account] if account else None
    figures = store.queue_figures(workspace, NOW)
    counted = (
        store.total_figures(figures.values()) if account_id is None else figures[account_id]
    ).count(figure)
    listed = store.figure_conversations(workspace, figure, NOW, account_id=account_id)
    assert len(listed) == counted
    assert len(set(listed)) == len(listed)
    via_selection = selection_conversations(
        workspace, Selection(Pick.QUEUE, figure, account_id=account_id), NOW
    )
    assert via_selection == listed


def test_the_lists_hold_the_right_conversations(
    workspace: Workspace, queue: dict[str, int]
) -> None:
    def listed(figure: Figure) -> set[int]:
        return set(store.figure_conversations(workspace, figure, NOW))

    assert listed(Figure.BREACHED) == {queue["late"]}
    assert listed(Figure.AT_RISK) == {queue["risk"], queue["follow"], queue["edge0"]}
    assert listed(Figure.WAITING) == {queue[k] for k in ("risk", "late", "edge15", "edge0", "mail")}
    assert store.figure_conversations(workspace, Figure.OLDEST, NOW) == [queue["late"]]
    assert queue["pending"] not in listed(Figure.OPEN)
    assert queue["answered"] in listed(Figure.OPEN)


def test_snapshot_total_and_rows_agree(workspace: Workspace, queue: dict[str, int]) -> None:
    snap = take_snapshot(workspace, NOW, tz=UTC)
    assert snap.total.open == sum(r.open for r in snap.queue)
    assert snap.total.breached == 1
    # Most urgent first: the account with a breach leads.
    assert snap.queue[0].account_id == queue["brand"]
    assert snap.queue_of(queue["support"]).waiting == 1
    assert snap.next_change_at is not None and snap.next_change_at > NOW


def test_account_stats_shape_and_first_response_figures(workspace: Workspace) -> None:
    s = Scenario(workspace)
    for i, seconds in enumerate((60, 120, 600, 3600)):
        post = s.inbound("Brand", f"c{i}", DAY + i * HOUR)
        s.reply("Brand", DAY + i * HOUR + seconds, post)
    s.inbound("Brand", "waiting", NOW - HOUR)
    s.inbound("Quiet", "nobody-answered", NOW - HOUR)
    stats = {row["id"]: row for row in store.account_stats(workspace, NOW)}
    brand = stats[s.account("Brand")]
    assert set(brand) == {
        "id",
        "open",
        "waiting",
        "oldest_waiting_s",
        "at_risk",
        "breached",
        "responded",
        "median_first_response_s",
        "p90_first_response_s",
    }
    assert brand["responded"] == 4
    assert brand["median_first_response_s"] == 360  # (120 + 600) / 2
    assert brand["p90_first_response_s"] == 3600  # nearest rank: the 4th of 4
    assert (brand["open"], brand["waiting"], brand["oldest_waiting_s"]) == (5, 1, HOUR)
    quiet = stats[s.account("Quiet")]
    assert quiet["responded"] == 0
    assert quiet["median_first_response_s"] is None and quiet["p90_first_response_s"] is None


def test_median_and_percentile() -> None:
    assert store.median([]) is None
    assert store.median([5]) == 5
    assert store.median([1, 2, 3, 10]) == 2.5
    assert store.percentile([], 0.9) is None
    values = list(range(1, 11))
    assert store.percentile(values, 0.9) == 9
    assert store.percentile(values, 0.91) == 10
    assert store.percentile([7], 0.9) == 7
