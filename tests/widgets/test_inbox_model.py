"""The inbox model: pages in by keyset, passes the model tester, updates live without resets."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QModelIndex

from console.changes import EventBus, InboxChanged
from console.domain import Channel, Status
from console.inbox_filter import InboxFilter
from console.storage import conversations as repo
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from console.triage.engine import incremental_hook
from tests.helpers.scenario import build_inbox, conversation_of, msg
from widgets.bridge import QtBridge
from widgets.inbox_model import ID_ROLE, ROW_ROLE, InboxModel

pytestmark = pytest.mark.gui
NOW = 1_764_000_000


class Recorder:
    def __init__(self, model: InboxModel) -> None:
        self.events: list[str] = []
        model.modelReset.connect(lambda: self.events.append("reset"))
        model.rowsInserted.connect(lambda *_: self.events.append("insert"))
        model.rowsRemoved.connect(lambda *_: self.events.append("remove"))
        model.rowsMoved.connect(lambda *_: self.events.append("move"))
        model.dataChanged.connect(lambda *_: self.events.append("update"))


@pytest.fixture
def setup(workspace: Workspace, qapp: Any) -> tuple[Workspace, EventBus, InboxModel]:
    build_inbox(workspace, NOW, n_filler=60)
    bus = EventBus()
    bridge = QtBridge(bus)
    model = InboxModel(workspace, bridge, lambda: NOW, page_size=25)
    model.bridge_ref = bridge  # keep the bridge alive with the model
    model.reload()
    return workspace, bus, model


def ids(model: InboxModel) -> list[int]:
    return [model.data(model.index(r, 0), ID_ROLE) for r in range(model.rowCount())]


def test_model_tester_passes(setup: Any, qtmodeltester: Any) -> None:
    _ws, _bus, model = setup
    qtmodeltester.check(model, force_py=True)


def test_pages_load_on_demand_and_never_repeat(setup: Any) -> None:
    ws, _bus, model = setup
    total = ws.scalar("SELECT count(*) FROM conversations WHERE status IN ('open', 'pending')")
    assert model.rowCount() == 25 and model.canFetchMore(QModelIndex())
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    assert model.rowCount() == total
    assert len(set(ids(model))) == total
    row = model.data(model.index(0, 0), ROW_ROLE)
    assert model.data(model.index(0, 0)) == row.customer


def test_a_new_message_inserts_one_row_at_its_place_without_reset(setup: Any) -> None:
    ws, bus, model = setup
    recorder = Recorder(model)
    report = Ingestor(ws, after_batch=incremental_hook(clock=lambda: NOW)).ingest(
        [
            msg(
                Channel.X,
                "t-new",
                "newbie",
                "@AcmeCare hello, is anyone there?",
                NOW,
                name="New Person",
            )
        ]
    )
    bus.publish(
        InboxChanged(
            conversation_ids=frozenset(report.conversation_ids),
            added=frozenset(report.new_conversation_ids),
        )
    )
    assert recorder.events.count("insert") == 1 and "reset" not in recorder.events
    assert model.data(model.index(0, 0)) == "New Person"  # newest activity first


def test_a_changed_row_moves_and_a_resolved_row_leaves(setup: Any) -> None:
    ws, bus, model = setup
    recorder = Recorder(model)
    carla = conversation_of(ws, "sms-1")
    before = ids(model)
    assert carla in before and before.index(carla) > 0
    # Carla writes again: her conversation jumps to the top
    report = Ingestor(ws, after_batch=incremental_hook(clock=lambda: NOW + 60)).ingest(
        [
            msg(
                Channel.SMS,
                "sms-3",
                "+358402222222",
                "Thanks! One more thing",
                NOW + 60,
                name="Carla Rossi",
            )
        ]
    )
    bus.publish(InboxChanged(conversation_ids=frozenset(report.conversation_ids)))
    assert ids(model)[0] == carla
    assert "move" in recorder.events and "reset" not in recorder.events
    assert sorted(ids(model)) == sorted(before)
    # resolving it removes the row
    repo.set_status(ws, carla, Status.RESOLVED, agent="a", now=NOW + 120)
    bus.publish(InboxChanged(conversation_ids=frozenset({carla})))
    assert carla not in ids(model)
    assert recorder.events.count("remove") == 1 and "reset" not in recorder.events


def test_a_row_that_sorts_past_the_loaded_page_waits_for_its_page(setup: Any) -> None:
    ws, bus, model = setup
    assert model.canFetchMore(QModelIndex())
    first = ids(model)[0]
    # push its activity far back (an old import): it now belongs to a later page
    ws.conn.execute("UPDATE conversations SET last_activity = 1000 WHERE id = ?", (first,))
    bus.publish(InboxChanged(conversation_ids=frozenset({first})))
    assert first not in ids(model)
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    assert ids(model)[-1] == first and ids(model).count(first) == 1


def test_filter_change_reloads(setup: Any) -> None:
    ws, _bus, model = setup
    model.set_filter(InboxFilter(channels=frozenset({Channel.SMS, Channel.MESSENGER})))
    assert set(ids(model)) == {conversation_of(ws, "sms-1"), conversation_of(ws, "m-1")}


def test_a_rows_tooltip_names_its_flags_in_full_and_escapes_the_customers_words(
    setup: Any,
) -> None:
    from dataclasses import replace

    from PySide6.QtCore import Qt

    from console.domain import FlagKind
    from console.triage.flagbits import FLAG_BITS
    from widgets.inbox_model import row_tooltip

    _ws, _bus, model = setup
    tip = model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    row = model.data(model.index(0, 0), ROW_ROLE)
    assert tip == row_tooltip(row)
    mask = FLAG_BITS[FlagKind.BREACH] | FLAG_BITS[FlagKind.HIGH_REACH]
    odd = replace(
        row, snippet="<b>refund</b> & now", flag_mask=mask, status="pending", tags=("vip",)
    )
    text = row_tooltip(odd)
    assert "&lt;b&gt;refund&lt;/b&gt; &amp; now" in text and "<b>refund" not in text
    assert "Flags: Late, High reach" in text
    assert f"{odd.account} · pending · #vip" in text
    assert "Flags" not in row_tooltip(replace(row, flag_mask=0))


def test_a_narrow_row_shortens_its_badges_before_it_hides_the_account(qapp: Any) -> None:
    from PySide6.QtGui import QFont, QFontMetrics

    from console.domain import FlagKind
    from console.triage.flagbits import FLAG_BITS
    from widgets.inbox_delegate import badge_labels, badge_width

    fm = QFontMetrics(QFont())
    every = sum(FLAG_BITS.values())
    full = badge_labels(every, 10_000, fm, 80)
    assert [label for _, label in full] == [
        "Late", "Escalating", "Repeat", "Duplicates", "High reach"
    ]  # fmt: skip
    needed = sum(badge_width(label, fm) for _, label in full) + 80
    assert badge_labels(every, needed, fm, 80) == full
    short = badge_labels(every, needed - 1, fm, 80)
    assert [kind for kind, _ in short] == [kind for kind, _ in full]
    assert [label for _, label in short] == ["Late", "Esc", "Rep", "Dup", "Reach"]
    assert sum(badge_width(lb, fm) for _, lb in short) < needed - 80
    one = badge_labels(FLAG_BITS[FlagKind.REPEAT], 200, fm, 80)
    assert one == [(FlagKind.REPEAT, "Repeat")]
