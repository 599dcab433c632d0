"""The real main window, offscreen: search, filter, open a customer's history, act by keyboard."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from console.app import Running, build_window, settings_at
from console.domain import Channel
from console.inbox_filter import InboxFilter
from console.storage import conversations as repo
from console.storage.db import Workspace
from tests.helpers.scenario import build_inbox, conversation_of, customer_id
from widgets.dialogs import AssignDialog, NoteDialog, ShortcutsDialog, SnoozeDialog
from widgets.inbox_model import ID_ROLE

pytestmark = [pytest.mark.gui, pytest.mark.e2e]
NOW = 1_764_000_000


def settle(ms: int = 50) -> None:
    QTest.qWait(ms)


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return settings_at(tmp_path / "window.ini")


@pytest.fixture
def running(workspace: Workspace, settings: QSettings, qapp: Any) -> Iterator[Running]:
    build_inbox(workspace, NOW, n_filler=40)
    app = build_window(workspace, settings=settings, clock_fn=lambda: NOW, agent="Ana Silva")
    app.window.resize(1400, 860)
    app.window.show()
    settle()
    yield app
    app.window.close()
    app.window.deleteLater()
    settle()


def shown_ids(app: Running) -> list[int]:
    model = app.window.inbox_model
    return [model.data(model.index(r, 0), ID_ROLE) for r in range(model.rowCount())]


def press(app: Running, key: Any, modifier: Any = Qt.KeyboardModifier.NoModifier) -> None:
    """A key press where the person's focus is (after a dialog, the window is active again)."""
    if QApplication.activeWindow() is None:
        app.window.activateWindow()
        settle()
    QTest.keyClick(QApplication.focusWidget() or app.window, key, modifier)
    settle()


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        QTest.qWait(10)


def dialog_of(kind: type) -> Any:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, kind) and widget.isVisible():
            return widget
    raise AssertionError(f"no {kind.__name__} open")


def test_opens_on_the_inbox_with_the_first_conversation_shown(running: Running) -> None:
    w = running.window
    assert w.inbox_model.rowCount() > 0
    first = shown_ids(running)[0]
    assert w.current_conversation() == first
    assert w.conversation.thread_model.rowCount() >= 1
    assert w.card.summary is not None
    assert QApplication.focusWidget() is w.inbox.view


def test_search_from_the_keyboard(running: Running) -> None:
    w = running.window
    press(running, Qt.Key.Key_Slash)
    assert QApplication.focusWidget() is w.inbox.search
    QTest.keyClicks(w.inbox.search, "parcel 4471")
    ws = running.ws
    on_gui: list[str] = []
    ws.conn.set_trace_callback(on_gui.append)
    try:
        press(running, Qt.Key.Key_Return)
        assert QApplication.focusWidget() is w.inbox.view
        wait_for(lambda: w.inbox.filter.search == "parcel 4471")
        wait_for(lambda: w.current_conversation() is not None)
    finally:
        ws.conn.set_trace_callback(None)
    assert set(shown_ids(running)) == {conversation_of(ws, f"t-bea-{i}") for i in (1, 2, 3)}
    assert w.current_conversation() in shown_ids(running)
    # the full-text part ran on the background connection, not on the GUI thread's
    assert on_gui and not [s for s in on_gui if "messages_fts" in s]


def test_filter_by_channel_from_the_menu(running: Running) -> None:
    w = running.window
    menu = w.inbox.channel_button.menu()
    menu.aboutToShow.emit()
    sms = next(a for a in menu.actions() if a.text() == "SMS")
    sms.trigger()
    assert shown_ids(running) == [conversation_of(running.ws, "sms-1")]
    assert "SMS" in w.inbox.channel_button.text()


def test_whole_history_across_channels(running: Running) -> None:
    w = running.window
    ws = running.ws
    tweet = conversation_of(ws, "t-andy-1")
    w.open_conversation(tweet)
    settle()
    assert w.current_conversation() == tweet
    w.focus_conversation()
    press(running, Qt.Key.Key_H)
    assert w.conversation.view == "history"
    rows = w.conversation.history_model.messages
    assert [r.channel for r in rows] == [
        "phone",
        "email",
        "x",
    ]  # phoned, then emailed, then tweeted
    assert all(r.starts_block for r in rows)
    card = w.card.summary
    assert card is not None and card["id"] == customer_id(ws, "andyloynes")
    assert {i["channel"] for i in card["identities"]} == {"phone", "email", "x"}
    assert card["flags"], "Andy is flagged (repeat/escalating) with reasons"


def test_resolve_snooze_take_and_note_with_the_keyboard(running: Running) -> None:
    w = running.window
    ws = running.ws
    w.focus_inbox()
    first = w.current_conversation()
    assert first is not None
    press(running, Qt.Key.Key_E)
    assert repo.conversation_header(ws, first)["status"] == "resolved"
    assert first not in shown_ids(running)
    second = w.current_conversation()
    assert second is not None and second != first  # the next conversation is shown at once

    press(running, Qt.Key.Key_A)
    assert repo.conversation_header(ws, second)["assignee"] == "Ana Silva"

    press(running, Qt.Key.Key_N)
    note = dialog_of(NoteDialog)
    QTest.keyClicks(note.edit, "Called the warehouse")
    QTest.keyClick(note.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    settle()
    texts = [m["text"] for m in repo.thread_messages(ws, second)]
    assert "Called the warehouse" in texts
    assert "Called the warehouse" in [r.text for r in w.conversation.thread_model.messages]

    w.focus_inbox()
    press(running, Qt.Key.Key_S)
    snooze = dialog_of(SnoozeDialog)
    QTest.keyClick(snooze, Qt.Key.Key_1)
    settle()
    header = repo.conversation_header(ws, second)
    assert header["status"] == "snoozed" and header["snoozed_until"] == NOW + 3600
    assert second not in shown_ids(running)


def test_assign_to_someone_by_typing_a_name(running: Running) -> None:
    from console.storage.agents import Agent, upsert_agent

    upsert_agent(running.ws, Agent(name="Ben Okafor", signature="^BO"))
    w = running.window
    w.focus_inbox()
    conv = w.current_conversation()
    press(running, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    dialog = dialog_of(AssignDialog)
    QTest.keyClicks(dialog.search, "ben")
    QTest.keyClick(dialog.search, Qt.Key.Key_Return)
    settle()
    assert repo.conversation_header(running.ws, conv)["assignee"] == "Ben Okafor"


def test_the_header_more_menu_marks_pending_and_opens_the_note(running: Running) -> None:
    w = running.window
    w.focus_inbox()
    conv = w.current_conversation()
    assert conv is not None
    panel = w.conversation
    labels = [a.text().split("\t")[0] for a in panel.buttons["more"].menu().actions()]
    assert labels == ["Assign to…", "Pending (waiting on the customer)", "Internal note…", "Tags…"]
    panel.more_actions["pending"].trigger()
    settle()
    assert repo.conversation_header(running.ws, conv)["status"] == "pending"
    panel.more_actions["note"].trigger()
    settle()
    note = dialog_of(NoteDialog)
    note.reject()
    settle()


def test_shortcut_sheet_lists_the_actions(running: Running) -> None:
    running.window.focus_inbox()
    press(running, Qt.Key.Key_Question, Qt.KeyboardModifier.ShiftModifier)
    sheet = dialog_of(ShortcutsDialog)
    text = " ".join(label.text() for label in sheet.findChildren(type(running.window.agent_label)))
    for what in ("Resolve", "Snooze", "Assign to me", "Search", "Whole history"):
        assert what in text
    sheet.close()


def test_a_supervisor_figure_filters_the_inbox(running: Running) -> None:
    w = running.window
    assert w.supervisor is not None
    picked = (conversation_of(running.ws, "m-1"), conversation_of(running.ws, "sms-1"))
    w.supervisor.filter_requested.emit(
        InboxFilter(conversation_ids=picked, title="Waiting on Messenger")
    )
    settle()
    assert set(shown_ids(running)) == set(picked)
    assert w.inbox.pin_banner.isVisible()
    w.inbox.clear_pin()
    assert len(shown_ids(running)) > 2


def test_merge_and_unmerge_from_the_card(running: Running) -> None:
    w = running.window
    ws = running.ws
    bea, dan = customer_id(ws, "bea_k"), customer_id(ws, "psid-dan")
    w.open_conversation(conversation_of(ws, "t-bea-1"))
    settle()
    w.merge(bea, dan)
    assert {i["handle"] for i in w.card.summary["identities"]} == {"bea_k", "psid-dan"}
    w.unmerge(bea)
    assert {i["handle"] for i in w.card.summary["identities"]} == {"bea_k"}


def test_the_card_fits_its_panel_whatever_the_group_samples(running: Running) -> None:
    """A long duplicate sample must not widen the card past the panel (the flag reasons and
    figures would be cut off at the right edge, as horizontal scrolling is off)."""
    w, ws = running.window, running.ws
    with ws.transaction():
        ws.conn.execute("UPDATE dup_groups SET sample = ? ", ("Where is my order " * 12,))
    w.open_conversation(conversation_of(ws, "t-bea-1"))
    settle()
    card = w.card
    assert card.groups.count() >= 1  # Bea's duplicates group is shown
    w.splitter.setSizes([400, 700, 230])  # the card's narrowest
    settle()
    content = card.widget()
    assert content is not None
    assert content.width() <= card.viewport().width()
    assert content.minimumSizeHint().width() <= card.viewport().width()


def test_layout_filter_and_theme_persist(
    workspace: Workspace, settings: QSettings, qapp: Any
) -> None:
    build_inbox(workspace, NOW)
    first = build_window(workspace, settings=settings, clock_fn=lambda: NOW, agent="Ana")
    first.window.show()
    first.window.inbox.set_filter(InboxFilter(channels=frozenset({Channel.X}), sort="waiting"))
    first.window.toggle_theme()
    sizes = [500, 700, 300]
    first.window.splitter.setSizes(sizes)
    first.window.close()
    settle()
    second = build_window(workspace, settings=settings, clock_fn=lambda: NOW, agent="Ana")
    second.window.show()
    settle()
    f = second.window.inbox.filter
    assert f.channels == frozenset({Channel.X}) and f.sort == "waiting"
    assert second.window.theme.is_dark
    assert second.window.inbox.sort.currentData() == "waiting"
    second.window.close()
    settle()


def test_clicking_the_supervisor_waiting_figure_filters_the_real_inbox(
    running: Running, arun: Any, qtbot: Any
) -> None:
    from tests.helpers.aio import until

    w = running.window
    dock = w.supervisor
    w.toggle_supervisor()
    assert dock is not None and dock.isVisible()

    async def scenario() -> None:
        await until(lambda: dock.snapshot is not None, timeout=10)
        view = dock.queue_view
        index = view.model().index(0, 2)  # the total row, "Waiting"
        view.scrollTo(index)
        qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center()
        )
        await until(lambda: w.inbox.filter.is_pinned, timeout=10)

    arun(scenario())
    waiting = {
        int(r[0])
        for r in running.ws.conn.execute(
            "SELECT id FROM conversations WHERE status = 'open' AND waiting_since IS NOT NULL"
        )
    }
    assert set(shown_ids(running)) == waiting and waiting
    assert w.inbox.pin_banner.isVisible()


def test_changing_a_triage_rule_rebuilds_in_the_background(running: Running) -> None:
    import time as _time

    from console.storage.customers import flags_of
    from widgets.triage_settings_dialog import TriageSettingsDialog

    w = running.window
    bea = customer_id(running.ws, "bea_k")
    assert "high_reach" in {f["kind"] for f in flags_of(running.ws, bea)}
    w.open_triage_settings()
    dialog = dialog_of(TriageSettingsDialog)
    dialog.findChild(
        type(dialog.editors["high_reach_followers"][0]), "setting_high_reach_followers"
    ).setValue(300_000)
    assert dialog.changes() == {"high_reach_followers": 300_000}
    dialog.accept()
    settle()
    job = w._jobs[0] if w._jobs else None
    deadline = _time.monotonic() + 60
    while job is not None and job.is_running():
        settle(20)
        assert _time.monotonic() < deadline
    settle(100)
    assert "high_reach" not in {f["kind"] for f in flags_of(running.ws, bea)}
    assert "Triage rebuild done" in w.statusBar().currentMessage()


def test_reply_and_resolve_from_the_keyboard(running: Running) -> None:
    from console.storage.outbox_repo import list_outbox

    w = running.window
    ws = running.ws
    dan = conversation_of(ws, "m-1")
    w.open_conversation(dan)
    settle()
    w.focus_inbox()
    press(running, Qt.Key.Key_R)
    composer = w.composer
    assert composer is not None and QApplication.focusWidget() is composer.editor
    QTest.keyClicks(composer.editor, "Hei Dan! Tilauksesi on matkalla.")
    QTest.keyClick(
        composer.editor,
        Qt.Key.Key_Return,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    settle()
    items = list_outbox(ws)
    assert len(items) == 1 and items[0]["conversation_id"] == dan
    assert items[0]["text"].startswith("Hei Dan! Tilauksesi on matkalla.")
    assert items[0]["text"].rstrip().endswith("^AS")  # Ana Silva's signature
    assert items[0]["reply_to"] == "messenger:m-1"
    assert repo.conversation_header(ws, dan)["status"] == "resolved"
    assert dan not in shown_ids(running)


def test_log_a_phone_call_from_the_window(running: Running) -> None:
    from widgets.call_dialog import CallDialog

    w = running.window
    dialog = w.open_part("call_dialog")
    assert isinstance(dialog, CallDialog)
    dialog.account.setCurrentText("Acme hotline")
    dialog.number.setText("+358 40 222 2222")
    dialog.name.setText("Carla Rossi")
    dialog.duration.setText("4:05")
    dialog.summary.setPlainText("Asked again about order 9912; promised a call back")
    dialog.accept()
    settle()
    conv = w.current_conversation()
    assert conv is not None
    header = repo.conversation_header(running.ws, conv)
    assert header["channel"] == "phone"
    texts = [r.text for r in w.conversation.thread_model.messages]
    assert "Asked again about order 9912; promised a call back" in texts
    kind = running.ws.scalar("SELECT adapter FROM accounts WHERE name = 'Acme hotline'")
    assert kind == "phone"
