"""The outbox in the window: a status line that tells the truth, a list with Retry / Confirm sent."""

from __future__ import annotations

from typing import Any

import pytest

from console.changes import EventBus
from console.storage.db import Workspace
from console.storage.outbox_repo import enqueue_reply, get_item, mark_failed, mark_unknown
from services.outbox import Outbox
from tests.helpers.scenario import build_inbox, conversation_of
from widgets.bridge import QtBridge
from widgets.outbox_view import OutboxButton, OutboxModel
from widgets.tablemodel import RowsModel

pytestmark = pytest.mark.gui
NOW = 1_764_000_000


def never(_account_id: int) -> Any:
    raise AssertionError("nothing is sent in these tests")


@pytest.fixture
def setup(workspace: Workspace, qapp: Any) -> tuple[Workspace, Outbox, QtBridge]:
    build_inbox(workspace, NOW)
    bus = EventBus()
    bridge = QtBridge(bus)
    outbox = Outbox(workspace, never, lambda: NOW, bus)
    return workspace, outbox, bridge


def test_models_pass_the_model_tester(setup: Any, qtmodeltester: Any) -> None:
    ws, _outbox, _bridge = setup
    enqueue_reply(ws, conversation_id=conversation_of(ws, "m-1"), text="Hei!", now=NOW)
    model = OutboxModel(ws, lambda: NOW)
    model.reload()
    assert model.rowCount() == 1
    qtmodeltester.check(model, force_py=True)
    qtmodeltester.check(RowsModel(("A", "B"), [("1", "2"), ("3", "4")]), force_py=True)


def test_status_and_actions(setup: Any) -> None:
    ws, outbox, bridge = setup
    a = enqueue_reply(ws, conversation_id=conversation_of(ws, "m-1"), text="Hei Dan!", now=NOW)
    b = enqueue_reply(ws, conversation_id=conversation_of(ws, "sms-1"), text="Hi Carla", now=NOW)
    button = OutboxButton(ws, outbox, bridge, lambda: NOW)
    assert "2 replies waiting" in button.text()
    mark_failed(ws, a.outbox_id, "rejected: the window closed", NOW)
    mark_unknown(ws, b.outbox_id, "timed out after sending", NOW)
    button.refresh()
    assert "1 reply to check" in button.text() and "1 failed" in button.text()
    assert button.text().startswith("⚠")
    dialog = button.open_dialog()
    rows = {item["id"]: item for item in dialog.model.items}
    assert rows[a.outbox_id]["error"] == "rejected: the window closed"
    # Retry the failed one: it is queued again (and the list follows the outbox's events)
    dialog.view.selectRow([i["id"] for i in dialog.model.items].index(a.outbox_id))
    assert dialog.retry_button.isEnabled() and not dialog.confirm_button.isEnabled()
    dialog.retry_button.click()
    assert get_item(ws, a.outbox_id).state == "queued"
    # Confirm the unknown one as found on the channel: sent, never sent again
    dialog.view.selectRow([i["id"] for i in dialog.model.items].index(b.outbox_id))
    assert dialog.confirm_button.isEnabled()
    dialog.confirm_button.click()
    assert get_item(ws, b.outbox_id).state == "sent"
    button.refresh()
    assert "to check" not in button.text()
    dialog.close()
