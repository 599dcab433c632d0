"""Alerts: raised once each, never for history, stored and acknowledged."""

from __future__ import annotations

from console.storage import metrics as store
from console.storage.db import Workspace
from services.metrics import AlertKind, AlertWatcher, Pick, alert_selection
from tests.unit.metrics.builders import DAY, HOUR, Scenario

NOW = DAY + 12 * HOUR


def kinds(alerts: list[store.Alert]) -> list[str]:
    return [a.kind for a in alerts]


def test_a_breach_alerts_once_when_its_deadline_passes(workspace: Workspace) -> None:
    s = Scenario(workspace)
    conv = s.conversation(s.inbound("Brand", "ann", NOW - 3000, text="where is my parcel"))
    s.set_conversation(conv, deadline_at=NOW + 60)
    watcher = AlertWatcher()
    assert watcher.check(workspace, NOW) == []
    raised = watcher.check(workspace, NOW + 120)
    assert kinds(raised) == [AlertKind.BREACH]
    assert raised[0].conversation_id == conv and "where is my parcel" in raised[0].text
    assert "@ann" in raised[0].text
    assert watcher.check(workspace, NOW + 180) == []
    # A second panel (or a restart) finds the alert stored and does not raise it again.
    assert AlertWatcher().check(workspace, NOW + 240) == []
    assert [a.id for a in store.open_alerts(workspace)] == [raised[0].id]


def test_history_does_not_alert(workspace: Workspace) -> None:
    s = Scenario(workspace)
    old = s.conversation(s.inbound("Brand", "ann", NOW - 5 * HOUR))
    s.set_conversation(old, deadline_at=NOW - 4 * HOUR)
    customer = s.customer(s.inbound("Brand", "bob", NOW - 3 * HOUR))
    s.flag(customer, "repeat")
    assert AlertWatcher().check(workspace, NOW) == []


def test_a_flagged_customer_writing_alerts_until_acknowledged(workspace: Workspace) -> None:
    s = Scenario(workspace)
    first = s.inbound("Brand", "ann", NOW - HOUR)
    ann = s.customer(first)
    s.flag(ann, "escalating")
    s.flag(ann, "repeat")
    watcher = AlertWatcher()
    assert watcher.check(workspace, NOW) == []  # what was already there is not news
    s.inbound("Brand", "ann", NOW + 10, text="third time I ask!!", reply_to=first)
    s.inbound("Brand", "zed", NOW + 20)  # not flagged
    raised = watcher.check(workspace, NOW + 30)
    assert kinds(raised) == [AlertKind.FLAGGED]
    assert raised[0].customer_id == ann and "escalating, repeat" in raised[0].text
    assert "third time I ask" in raised[0].text
    s.inbound("Brand", "ann", NOW + 40, text="hello??", reply_to=first)
    assert watcher.check(workspace, NOW + 50) == []  # one open alert per customer is enough
    assert store.acknowledge_alerts(workspace, [raised[0].id], NOW + 60) == 1
    s.inbound("Brand", "ann", NOW + 70, text="still nothing", reply_to=first)
    assert kinds(watcher.check(workspace, NOW + 80)) == [AlertKind.FLAGGED]
    # Messages imported from long ago are history, not a customer writing now.
    s.inbound("Brand", "ann", NOW - 30 * 86400, text="an old tweet")
    store.acknowledge_alerts(workspace, None, NOW + 85)
    assert watcher.check(workspace, NOW + 90) == []


def grow(s: Scenario, group_id: int, n: int, at: int) -> None:
    s.join_group(group_id, [s.inbound("Brand", f"g{group_id}-{at}-{i}", at + i) for i in range(n)])


def test_a_same_issue_group_alerts_at_the_threshold_and_each_doubling(workspace: Workspace) -> None:
    s = Scenario(workspace)
    group = s.group(
        [s.inbound("Brand", f"u{i}", NOW - 600 + i) for i in range(9)], sample="login broken"
    )
    stale = s.group(
        [s.inbound("Brand", f"v{i}", NOW - 5 * HOUR + i) for i in range(30)], sample="old"
    )
    watcher = AlertWatcher(same_issue_threshold=10)
    assert watcher.check(workspace, NOW) == []  # 9 posts; the stale group is not growing
    grow(s, group, 1, NOW + 10)
    raised = watcher.check(workspace, NOW + 20)
    assert kinds(raised) == [AlertKind.SAME_ISSUE] and "10 posts" in raised[0].text
    grow(s, group, 5, NOW + 30)
    assert watcher.check(workspace, NOW + 40) == []
    grow(s, group, 5, NOW + 50)
    raised = watcher.check(workspace, NOW + 60)
    assert kinds(raised) == [AlertKind.SAME_ISSUE] and "20 posts" in raised[0].text
    selection = alert_selection(raised[0], workspace)
    assert (selection.pick, selection.group_id) == (Pick.GROUP, group)
    assert stale not in {selection.group_id}


def test_alerts_are_listed_newest_first_and_acknowledged(workspace: Workspace) -> None:
    added = store.add_alerts(
        workspace,
        [store.NewAlert("breach", "one", 1), store.NewAlert("breach", "two", 2)],
        NOW,
    )
    later = store.add_alerts(workspace, [store.NewAlert("same_issue", "three")], NOW + 5)
    assert [a.text for a in store.open_alerts(workspace)] == ["three", "two", "one"]
    assert store.count_open_alerts(workspace) == 3
    assert store.acknowledge_alerts(workspace, [added[0].id, added[0].id], NOW + 10) == 1
    assert store.count_open_alerts(workspace) == 2
    assert store.acknowledge_alerts(workspace, None, NOW + 20) == 2
    assert store.open_alerts(workspace) == []
    acked = workspace.scalar("SELECT acknowledged_at FROM alerts WHERE id = ?", (later[0].id,))
    assert acked == NOW + 20
    assert alert_selection(added[1], workspace).conversation_id == 2
