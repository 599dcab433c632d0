"""Customer card, cross-channel history, search, merge and un-merge."""

from __future__ import annotations

import pytest

from console.domain import Channel, Direction
from console.errors import ConsoleError
from console.storage import Workspace
from console.storage.customers import (
    customer_history,
    customer_summary,
    merge_customers,
    search_messages,
    unmerge_customer,
    workspace_stats,
)
from console.storage.ingest import Ingestor
from tests.unit.storage.test_ingest import T0, H, msg


def _seed(ws: Workspace) -> tuple[int, int]:
    Ingestor(ws).ingest(
        [
            msg(
                "c1",
                channel=Channel.PHONE,
                account="Hotline",
                author="+441234",
                text="Called about a double charge",
            ),
            msg(
                "e1",
                channel=Channel.EMAIL,
                account="support@brand",
                author="andy@example.org",
                text="Emailing about the double charge",
                created_at=T0 + 3 * H,
                thread="e1",
            ),
            msg(
                "t1",
                author="andyloynes",
                text="@Brand still charged twice, nobody answers!",
                created_at=T0 + 6 * H,
            ),
            msg(
                "t2",
                direction=Direction.OUT,
                author="Brand",
                in_reply_to="t1",
                text="Sorry Andy, DM us ^CP",
                created_at=T0 + 7 * H,
            ),
        ]
    )
    phone = int(ws.scalar("SELECT customer_id FROM identities WHERE handle = '+441234'"))
    x = int(ws.scalar("SELECT customer_id FROM identities WHERE handle = 'andyloynes'"))
    return phone, x


def test_merge_then_unmerge_restores_everything(workspace: Workspace) -> None:
    phone, x = _seed(workspace)
    email = int(
        workspace.scalar("SELECT customer_id FROM identities WHERE handle = 'andy@example.org'")
    )
    before_x = customer_summary(workspace, x)
    merge_customers(workspace, x, phone, now=T0)
    merge_customers(workspace, x, email, now=T0)
    card = customer_summary(workspace, x)
    assert {i["channel"] for i in card["identities"]} == {"phone", "email", "x"}
    assert card["inbound"] == 3 and card["conversations"] == 3
    history = customer_history(workspace, x)
    assert [m["channel"] for m in history] == ["phone", "email", "x", "x"]  # oldest to newest
    assert workspace_stats(workspace)["customers"] == 1
    with pytest.raises(ConsoleError, match="already merged"):
        merge_customers(workspace, x, phone, now=T0)

    unmerge_customer(workspace, x, now=T0)  # undoes the latest: the email identity
    assert {i["channel"] for i in customer_summary(workspace, x)["identities"]} == {"phone", "x"}
    assert customer_summary(workspace, email)["inbound"] == 1
    unmerge_customer(workspace, phone, now=T0)
    after = customer_summary(workspace, x)
    assert (after["inbound"], after["outbound"], after["conversations"]) == (
        before_x["inbound"],
        before_x["outbound"],
        before_x["conversations"],
    )
    assert customer_summary(workspace, phone)["merged_into"] is None
    assert [m["channel"] for m in customer_history(workspace, phone)] == ["phone"]
    with pytest.raises(ConsoleError, match="no merge"):
        unmerge_customer(workspace, phone, now=T0)


def test_merge_refuses_self(workspace: Workspace) -> None:
    phone, _ = _seed(workspace)
    with pytest.raises(ConsoleError, match="itself"):
        merge_customers(workspace, phone, phone, now=T0)


def test_search_is_newest_first_and_safe(workspace: Workspace) -> None:
    _seed(workspace)
    hits = search_messages(workspace, "double charge")
    assert [h["external_id"] for h in hits] == ["e1", "c1"]
    assert [h["external_id"] for h in search_messages(workspace, 'charged" (')] == [
        "t1"
    ]  # no FTS syntax errors
    assert search_messages(workspace, "   ") == []
    assert [h["external_id"] for h in search_messages(workspace, "char*")][:1] == ["t1"]
    page2 = search_messages(
        workspace, "double", limit=1, before=(hits[0]["created_at"], hits[0]["id"])
    )
    assert [h["external_id"] for h in page2] == ["c1"]


def test_search_indexes_bulk_ingest_and_single_writes_alike(workspace: Workspace) -> None:
    """Ingest indexes a batch at once (trigger off); other writers rely on the trigger."""
    from console.storage.outbox_repo import enqueue_reply

    _seed(workspace)
    conv = workspace.scalar("SELECT conversation_id FROM messages WHERE external_id = 'e1'")
    enqueue_reply(
        workspace, conversation_id=int(conv), text="Refund approved for the zeppelin", now=T0
    )
    assert [h["direction"] for h in search_messages(workspace, "zeppelin")] == ["out"]
    # FTS5 checks the index against the messages table itself and raises on any difference
    workspace.conn.execute(
        "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
    )
    # deferring outside a transaction would lose rows
    with pytest.raises(ConsoleError), workspace.deferred_fts():
        pass
