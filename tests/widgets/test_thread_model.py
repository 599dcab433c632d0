"""The thread/history model: cross-channel history in order, thread depth, paging back, live."""

from __future__ import annotations

from typing import Any

import pytest

from console.changes import EventBus, MessagesChanged
from console.domain import Channel, Direction
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from console.triage.engine import incremental_hook
from tests.helpers.scenario import HOUR, build_inbox, conversation_of, customer_id, msg
from widgets.bridge import QtBridge
from widgets.thread_model import ThreadModel

pytestmark = pytest.mark.gui
NOW = 1_764_000_000


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    build_inbox(workspace, NOW)
    return workspace


def test_model_tester_on_thread_and_history(ws: Workspace, qapp: Any, qtmodeltester: Any) -> None:
    model = ThreadModel(ws, None)
    model.show_customer(customer_id(ws, "andyloynes"))
    qtmodeltester.check(model, force_py=True)
    model.show_conversation(conversation_of(ws, "sms-1"), customer_id(ws, "+358402222222"))
    qtmodeltester.check(model, force_py=True)


def test_history_runs_across_channels_oldest_first_with_flag_evidence(
    ws: Workspace, qapp: Any
) -> None:
    model = ThreadModel(ws, None)
    model.show_customer(customer_id(ws, "andyloynes"))
    rows = model.messages
    assert [(r.channel, r.direction) for r in rows] == [
        ("phone", "in"),
        ("email", "in"),
        ("x", "in"),
    ]
    assert [r.created_at for r in rows] == sorted(r.created_at for r in rows)
    assert any(r.flags for r in rows), "the messages behind Andy's flags are marked"


def test_replies_are_indented_under_what_they_answer(workspace: Workspace, qapp: Any) -> None:
    Ingestor(workspace, after_batch=incremental_hook(clock=lambda: NOW)).ingest(
        [
            msg(Channel.X, "root", "zed", "@AcmeCare my router blinks red", NOW - 3 * HOUR),
            msg(
                Channel.X,
                "ans",
                "AcmeCare",
                "@zed sorry! Try a restart ^AC",
                NOW - 2 * HOUR,
                direction=Direction.OUT,
                account="@AcmeCare",
                reply_to="root",
            ),
            msg(
                Channel.X,
                "again",
                "zed",
                "@AcmeCare restarted, still red",
                NOW - HOUR,
                reply_to="ans",
            ),
        ]
    )
    model = ThreadModel(workspace, None)
    model.show_conversation(conversation_of(workspace, "root"), None)
    assert [(r.external_id, r.depth) for r in model.messages] == [
        ("root", 0),
        ("ans", 1),
        ("again", 2),
    ]


def test_older_pages_come_in_front_and_new_messages_append(workspace: Workspace, qapp: Any) -> None:
    records = [
        msg(Channel.SMS, f"s{i}", "+3581", f"message number {i}", NOW - 1000 + i) for i in range(30)
    ]
    Ingestor(workspace).ingest(records)
    bus = EventBus()
    bridge = QtBridge(bus)
    model = ThreadModel(workspace, bridge, page_size=12)
    conv = conversation_of(workspace, "s0")
    model.show_conversation(conv, None)
    assert [r.external_id for r in model.messages] == [f"s{i}" for i in range(18, 30)]
    assert model.has_earlier
    assert model.fetch_earlier() == 12
    assert model.fetch_earlier() == 6 and not model.has_earlier
    assert [r.external_id for r in model.messages] == [f"s{i}" for i in range(30)]
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    Ingestor(workspace).ingest([msg(Channel.SMS, "s30", "+3581", "one more", NOW)])
    bus.publish(MessagesChanged(conversation_ids=frozenset({conv})))
    assert model.messages[-1].external_id == "s30" and len(model.messages) == 31
    assert not resets
