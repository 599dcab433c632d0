"""Agent actions: each changes the conversation, is kept in the history, and pauses the clock."""

from __future__ import annotations

import pytest

from console.changes import Change, EventBus, InboxChanged, MessagesChanged
from console.domain import Channel, Status
from console.storage import conversations as repo
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from console.triage.engine import incremental_hook
from services.conversations import ConversationActions
from tests.helpers.scenario import HOUR, build_inbox, conversation_of, msg

NOW = 1_764_000_000


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    build_inbox(workspace, NOW)
    return workspace


def events(ws: Workspace, conv: int) -> list[tuple[str, str]]:
    return [
        (r["direction"], r["text"])
        for r in repo.thread_messages(ws, conv)
        if r["direction"] in ("event", "note")
    ]


def test_each_action_is_recorded_in_the_history(ws: Workspace) -> None:
    conv = conversation_of(ws, "m-1")
    repo.assign(ws, conv, "Ana", agent="Ana", now=NOW)
    repo.assign(ws, conv, "Ben", agent="Ana", now=NOW + 1)
    repo.add_note(ws, conv, "Customer prefers Finnish", agent="Ana", now=NOW + 2)
    repo.set_tags(ws, conv, ["delivery", "vip"], agent="Ana", now=NOW + 3)
    repo.set_status(
        ws, conv, Status.SNOOZED, agent="Ana", now=NOW + 4, until=NOW + 3600, label="in 1 hour"
    )
    repo.set_status(ws, conv, Status.RESOLVED, agent="Ben", now=NOW + 5)
    repo.set_status(ws, conv, Status.OPEN, agent="Ben", now=NOW + 6)
    assert events(ws, conv) == [
        ("event", "Ana took the conversation"),
        ("event", "Assigned to Ben"),
        ("note", "Customer prefers Finnish"),
        ("event", "Ana tagged #delivery, #vip"),
        ("event", "Snoozed by Ana until in 1 hour"),
        ("event", "Resolved by Ben"),
        ("event", "Reopened by Ben"),
    ]
    header = repo.conversation_header(ws, conv)
    assert header["assignee"] == "Ben" and header["status"] == "open"
    assert header["tags"] == ["delivery", "vip"]


def test_actions_that_do_not_apply_are_refused_with_a_reason(ws: Workspace) -> None:
    conv = conversation_of(ws, "m-1")
    with pytest.raises(repo.ActionError, match="needs some text"):
        repo.add_note(ws, conv, "   ", agent="a", now=NOW)
    with pytest.raises(repo.ActionError, match="future"):
        repo.set_status(ws, conv, Status.SNOOZED, agent="a", now=NOW, until=NOW - 5)
    repo.set_status(ws, conv, Status.RESOLVED, agent="a", now=NOW)
    with pytest.raises(repo.ActionError, match="already resolved"):
        repo.set_status(ws, conv, Status.RESOLVED, agent="a", now=NOW)
    with pytest.raises(repo.ActionError, match="did not change"):
        repo.set_tags(ws, conv, [], agent="a", now=NOW)


def test_pending_time_does_not_count_toward_the_deadline(ws: Workspace) -> None:
    bus = EventBus()
    seen: list[Change] = []
    bus.subscribe(Change, seen.append)
    clock = [NOW]
    actions = ConversationActions(ws, bus, lambda: clock[0], "Ana")
    conv = conversation_of(ws, "m-1")  # Messenger, waiting since NOW - 40 min, target 1 hour
    waiting = int(repo.conversation_header(ws, conv)["waiting_since"])
    assert repo.conversation_header(ws, conv)["deadline_at"] == waiting + HOUR
    actions.set_status(conv, Status.PENDING)
    assert repo.conversation_header(ws, conv)["deadline_at"] is None  # the clock is stopped
    clock[0] = NOW + 2 * HOUR
    actions.reopen(conv)
    header = repo.conversation_header(ws, conv)
    assert header["paused_s"] == 2 * HOUR
    assert header["deadline_at"] == waiting + HOUR + 2 * HOUR
    kinds = {type(c) for c in seen}
    assert {InboxChanged, MessagesChanged} <= kinds
    assert all(conv in c.conversation_ids for c in seen if isinstance(c, InboxChanged))


def test_a_customer_message_wakes_a_snoozed_conversation_and_keeps_the_pause(ws: Workspace) -> None:
    conv = conversation_of(ws, "m-1")
    repo.set_status(ws, conv, Status.SNOOZED, agent="a", now=NOW, until=NOW + 10 * HOUR)
    Ingestor(ws, after_batch=incremental_hook(clock=lambda: NOW + HOUR)).ingest(
        [msg(Channel.MESSENGER, "m-2", "psid-dan", "Haloo?", NOW + HOUR, name="Dan Virtanen")]
    )
    header = repo.conversation_header(ws, conv)
    assert header["status"] == "open" and header["snoozed_until"] is None
    assert header["paused_s"] == HOUR


def test_snoozed_conversations_come_back_when_their_time_comes(ws: Workspace) -> None:
    conv = conversation_of(ws, "sms-1")
    repo.set_status(ws, conv, Status.SNOOZED, agent="a", now=NOW, until=NOW + 600)
    assert repo.wake_snoozed(ws, NOW + 599) == []
    woken = repo.wake_snoozed(ws, NOW + 600)
    assert [r.conversation_id for r in woken] == [conv]
    assert repo.conversation_header(ws, conv)["status"] == "open"
    assert events(ws, conv)[-1] == ("event", "Snooze ended")


def test_an_action_retriages_without_recounting_same_issue_texts(ws: Workspace) -> None:
    """Resolving or noting changes flags, deadlines and priorities, never which customers posted
    a text: the same-issue figures are not counted again (on a customer with 1,000 posts that
    was 200 ms a keystroke)."""
    actions = ConversationActions(ws, EventBus(), lambda: NOW, "Ana")
    conv = conversation_of(ws, "m-1")
    statements: list[str] = []
    ws.conn.set_trace_callback(statements.append)
    try:
        actions.add_note(conv, "checked the order")
        actions.resolve(conv)
    finally:
        ws.conn.set_trace_callback(None)
    assert any("UPDATE conversations" in s for s in statements)  # the triage ran
    assert repo.conversation_header(ws, conv)["deadline_at"] is None  # ... and moved the deadline
    assert not [s for s in statements if "count(DISTINCT customer_id)" in s]
