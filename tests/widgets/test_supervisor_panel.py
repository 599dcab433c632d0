"""The supervisor dock, live: new messages move its figures, time moves its deadlines, clicks filter.

Async waits follow ``tests/conftest.py``: each test runs a coroutine with ``arun`` and awaits
``until`` / ``signal_emitted``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtWidgets import QTableView

from console.changes import EventBus, InboxChanged
from console.storage import metrics as store
from console.storage.db import Workspace
from console.storage.metrics import Figure
from tests.helpers.aio import signal_emitted, until
from tests.unit.metrics.builders import DAY, HOUR, Scenario
from widgets.bridge import QtBridge
from widgets.supervisor import SupervisorDock
from widgets.supervisor_alerts import TrayNotifier

NOW = DAY + 10 * HOUR + 1800  # 10:30 UTC


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def scene(workspace: Workspace) -> Scenario:
    s = Scenario(workspace)
    waiting = s.inbound("Brand", "ann", NOW - HOUR, text="my parcel is lost")
    s.set_conversation(s.conversation(waiting), deadline_at=NOW + 10 * 60, assignee="Ana")
    late = s.inbound("Brand", "bob", NOW - 3 * HOUR)
    s.set_conversation(s.conversation(late), deadline_at=NOW - 2 * HOUR)
    s.flag(s.customer(late), "repeat")
    answered = s.inbound("Support", "cat", NOW - 2 * HOUR)
    s.reply("Support", NOW - HOUR, answered, text="Done ^JL")
    posts = [
        s.inbound("Brand", f"u{i}", NOW - 1200 + i * 60, text="app crashes on login")
        for i in range(3)
    ]
    s.group(posts, sample="app crashes on login")
    return s


@pytest.fixture
def panel(
    qtbot: Any, qloop: Any, scene: Scenario
) -> Iterator[tuple[SupervisorDock, EventBus, Clock]]:
    bus = EventBus()
    bridge = QtBridge(bus)
    clock = Clock(NOW)
    dock = SupervisorDock(
        scene.ws, bridge, clock, tz=UTC, notifier=TrayNotifier(), debounce_ms=20, tick_ms=150
    )
    qtbot.addWidget(dock)
    dock.resize(420, 1300)
    dock.show()
    yield dock, bus, clock
    dock.shutdown()
    bridge.detach()


def cell(view: QTableView, row: int, column: int) -> str:
    return str(view.model().index(row, column).data())


def click_cell(qtbot: Any, view: QTableView, row: int, column: int) -> None:
    index = view.model().index(row, column)
    view.scrollTo(index)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center()
    )


async def clicked_filter(dock: SupervisorDock, click: Callable[[], None]) -> Any:
    waiter = asyncio.ensure_future(signal_emitted(dock.filter_requested))
    await asyncio.sleep(0)  # let the waiter connect before the click
    click()
    (inbox_filter,) = await waiter
    return inbox_filter


def test_a_new_inbound_message_moves_the_waiting_count_and_the_chart(
    arun: Callable[..., Any], panel: tuple[SupervisorDock, EventBus, Clock], scene: Scenario
) -> None:
    dock, bus, _ = panel
    hour = (NOW - DAY) // HOUR

    async def scenario() -> None:
        await until(lambda: dock.snapshot is not None)
        assert dock.snapshot is not None
        waiting = dock.snapshot.total.waiting
        inbound = dock.hourly.inbound[hour]
        assert cell(dock.queue_view, 0, 2) == f"{waiting:,}"
        ext = scene.inbound("Brand", "newcomer", NOW - 5, text="hello? anyone?")
        bus.publish(
            InboxChanged(reason="sync", conversation_ids=frozenset({scene.conversation(ext)}))
        )
        await until(
            lambda: dock.snapshot is not None and dock.snapshot.total.waiting == waiting + 1
        )
        assert cell(dock.queue_view, 0, 2) == f"{waiting + 1:,}"
        assert dock.hourly.inbound[hour] == inbound + 1
        # A reply leaves: the conversation no longer waits, and the replies line moves.
        replies = dock.hourly.replies[hour]
        scene.reply("Brand", NOW - 2, ext, text="Here! ^AB")
        bus.publish(InboxChanged(reason="sent"))
        await until(lambda: dock.snapshot is not None and dock.snapshot.total.waiting == waiting)
        assert dock.hourly.replies[hour] == replies + 1

    arun(scenario())


def test_bursts_of_changes_are_folded_into_few_refreshes(
    arun: Callable[..., Any], panel: tuple[SupervisorDock, EventBus, Clock]
) -> None:
    dock, bus, _ = panel
    refreshes: list[object] = []

    async def scenario() -> None:
        await until(lambda: dock.snapshot is not None and not dock._in_flight)
        dock.tick_ms = 60_000  # only the changes below may cause refreshes
        dock._tick.stop()
        dock.refreshed.connect(lambda snap: refreshes.append(snap))
        for _ in range(200):
            bus.publish(InboxChanged(reason="sync"))

        def settled() -> bool:
            return bool(refreshes) and not dock._in_flight and not dock._debounce.isActive()

        await until(settled)
        await asyncio.sleep(0.1)
        assert settled() and len(refreshes) == 1

    arun(scenario())


def test_clicking_a_figure_filters_the_inbox_to_exactly_those_conversations(
    arun: Callable[..., Any],
    qtbot: Any,
    panel: tuple[SupervisorDock, EventBus, Clock],
    scene: Scenario,
) -> None:
    dock, _, _ = panel
    ws = scene.ws

    async def scenario() -> None:
        await until(lambda: dock.snapshot is not None)
        view = dock.queue_view
        for column, figure in (
            (1, Figure.OPEN),
            (2, Figure.WAITING),
            (4, Figure.AT_RISK),
            (5, Figure.BREACHED),
        ):
            got = await clicked_filter(dock, lambda c=column: click_cell(qtbot, view, 0, c))
            assert list(got.conversation_ids) == store.figure_conversations(ws, figure, NOW)
            assert len(got.conversation_ids) == int(cell(view, 0, column))
        brand_row = next(r for r in range(view.model().rowCount()) if cell(view, r, 0) == "Brand")
        got = await clicked_filter(dock, lambda: click_cell(qtbot, view, brand_row, 2))
        brand = scene.account("Brand")
        assert list(got.conversation_ids) == store.figure_conversations(
            ws, Figure.WAITING, NOW, account_id=brand
        )
        assert "Brand" in got.title
        got = await clicked_filter(dock, lambda: dock.flag_buttons["repeat"].click())
        assert list(got.conversation_ids) == store.flagged_conversations(ws, "repeat")
        group = dock._group_buttons[0]
        got = await clicked_filter(dock, group.click)
        assert group.selection is not None and group.selection.group_id is not None
        assert list(got.conversation_ids) == store.group_conversations(ws, group.selection.group_id)
        agents = dock.agent_view
        ana = next(r for r in range(agents.model().rowCount()) if cell(agents, r, 0) == "Ana")
        got = await clicked_filter(dock, lambda: click_cell(qtbot, agents, ana, 1))
        assert list(got.conversation_ids) == store.assigned_conversations(ws, "Ana")

    arun(scenario())


def test_zero_figures_are_not_clickable(
    arun: Callable[..., Any], panel: tuple[SupervisorDock, EventBus, Clock]
) -> None:
    dock, _, _ = panel

    async def scenario() -> None:
        await until(lambda: dock.snapshot is not None)
        support = next(
            r
            for r in range(dock.queue_model.rowCount())
            if cell(dock.queue_view, r, 0) == "Support"
        )
        assert cell(dock.queue_view, support, 5) == "0"
        assert dock.queue_model.selection_at(dock.queue_model.index(support, 5)) is None
        assert not dock.flag_buttons["escalating"].isEnabled()

    arun(scenario())


def test_time_alone_turns_a_deadline_at_risk_into_a_breach_and_alerts(
    arun: Callable[..., Any], panel: tuple[SupervisorDock, EventBus, Clock]
) -> None:
    dock, _, clock = panel
    notifier = dock.notifier

    async def scenario() -> None:
        await until(lambda: dock.snapshot is not None)
        assert dock.snapshot is not None
        assert (dock.snapshot.total.at_risk, dock.snapshot.total.breached) == (1, 1)
        clock.now = NOW + 11 * 60  # no change event: only the panel's timer notices
        await until(
            lambda: dock.snapshot is not None and dock.snapshot.total.breached == 2, timeout=5
        )
        await until(lambda: dock.alert_list.shown != [])
        assert "my parcel is lost" in dock.alert_list.shown[0].text
        assert isinstance(notifier, TrayNotifier) and notifier.sent
        assert dock.alerts_title.text() == "ALERTS (1)"

    arun(scenario())


def test_acknowledging_alerts_empties_the_list(
    arun: Callable[..., Any],
    qtbot: Any,
    panel: tuple[SupervisorDock, EventBus, Clock],
    scene: Scenario,
) -> None:
    dock, bus, _ = panel
    store.add_alerts(
        scene.ws,
        [
            store.NewAlert("breach", "first", scene.conversation("t1")),
            store.NewAlert("same_issue", "second"),
        ],
        NOW,
    )

    async def scenario() -> None:
        bus.publish(InboxChanged(reason="test"))
        await until(lambda: len(dock.alert_list.shown) == 2)
        got = await clicked_filter(
            dock, lambda: dock.alert_list.alert_activated.emit(dock.alert_list.shown[1])
        )
        assert list(got.conversation_ids) == [scene.conversation("t1")]
        dock.alert_list.acknowledge_requested.emit([dock.alert_list.shown[0].id])
        await until(lambda: len(dock.alert_list.shown) == 1)
        qtbot.mouseClick(dock.alert_list.ack_all, Qt.MouseButton.LeftButton)
        await until(lambda: dock.alert_list.shown == [])
        assert store.count_open_alerts(scene.ws) == 0
        assert not dock.alert_list.ack_all.isEnabled()

    arun(scenario())


def test_the_scope_narrows_flags_agents_and_charts_to_one_account(
    arun: Callable[..., Any], panel: tuple[SupervisorDock, EventBus, Clock], scene: Scenario
) -> None:
    dock, _, _ = panel

    async def scenario() -> None:
        await until(lambda: dock.snapshot is not None and dock.scope_box.count() == 3)
        assert dock.snapshot is not None
        assert sum(dock.snapshot.inbound_by_hour) == 6
        dock.scope_box.setCurrentIndex(dock.scope_box.findData(scene.account("Support")))
        await until(
            lambda: (
                dock.snapshot is not None and dock.snapshot.account_id == scene.account("Support")
            )
        )
        assert dock.snapshot is not None
        assert sum(dock.snapshot.inbound_by_hour) == 1
        assert dock.snapshot.flagged == {}
        assert [a.name for a in dock.snapshot.agents] == ["^JL @Support"]
        assert not dock.flag_buttons["repeat"].isEnabled()
        assert dock._group_buttons == [] and dock.groups_empty.isVisibleTo(dock)
        assert dock.snapshot.total.open == 6  # the queue table always shows every account

    arun(scenario())


def test_models_pass_the_model_tester(
    arun: Callable[..., Any], qtmodeltester: Any, panel: tuple[SupervisorDock, EventBus, Clock]
) -> None:
    dock, _, _ = panel

    async def scenario() -> None:
        await until(lambda: dock.snapshot is not None)

    arun(scenario())
    qtmodeltester.check(dock.queue_model)
    qtmodeltester.check(dock.agent_model)
    assert dock.queue_model.selection_at(QModelIndex()) is None
    tip = dock.hourly.tip_at(
        dock.hourly.plot_rect().left() + 1, dock.hourly.plot_rect().center().y()
    )
    assert tip is not None and tip.startswith("00:00")
    assert dock.hourly.rect().contains(QPoint(5, 5))
