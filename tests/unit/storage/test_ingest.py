"""Ingest: identities, customers, threading rules and idempotency."""

from __future__ import annotations

from typing import Any

from console.domain import Channel, Direction, IncomingMessage
from console.storage import Workspace
from console.storage.ingest import Ingestor

T0 = 1_700_000_000
H = 3600


def msg(ext: str, **kw: Any) -> IncomingMessage:
    base: dict[str, Any] = {
        "channel": Channel.X,
        "account": "Brand",
        "external_id": ext,
        "direction": Direction.IN,
        "author": "alice",
        "text": f"text {ext}",
        "created_at": T0,
    }
    base.update(kw)
    return IncomingMessage(**base)


def conv_of(ws: Workspace, channel: str, ext: str) -> int:
    return int(
        ws.scalar(
            "SELECT conversation_id FROM messages WHERE channel = ? AND external_id = ?",
            (channel, ext),
        )
    )


def test_replies_join_their_parent_and_idempotent(workspace: Workspace) -> None:
    records = [
        msg("1"),
        msg("2", direction=Direction.OUT, author="Brand", in_reply_to="1", created_at=T0 + 60),
        msg("3", in_reply_to="2", created_at=T0 + 120),
        msg("4", author="bob", created_at=T0 + 10),
    ]
    report = Ingestor(workspace).ingest(records)
    assert report.added == 4
    assert (
        conv_of(workspace, "x", "1") == conv_of(workspace, "x", "2") == conv_of(workspace, "x", "3")
    )
    assert conv_of(workspace, "x", "4") != conv_of(workspace, "x", "1")
    conv = workspace.query_one(
        "SELECT * FROM conversations WHERE id = ?", (conv_of(workspace, "x", "1"),)
    )
    assert conv is not None
    assert conv["message_count"] == 3
    assert conv["first_response_at"] == T0 + 60
    assert conv["waiting_since"] == T0 + 120  # the customer wrote again after our answer
    assert conv["started_by_customer"] == 1
    # The brand's reply is addressed to alice.
    alice = workspace.scalar("SELECT customer_id FROM identities WHERE handle = 'alice'")
    row = workspace.query_one(
        "SELECT inbound_count, outbound_count, conversation_count FROM customers WHERE id = ?",
        (alice,),
    )
    assert row == {"inbound_count": 2, "outbound_count": 1, "conversation_count": 1}
    again = Ingestor(workspace).ingest(records)
    assert (again.added, again.skipped) == (0, 4)
    assert workspace.scalar("SELECT count(*) FROM messages") == 4


def test_parent_arriving_after_its_reply_adopts_the_reply(workspace: Workspace) -> None:
    Ingestor(workspace).ingest([msg("child", in_reply_to="root", created_at=T0 + 100)])
    assert workspace.scalar("SELECT count(*) FROM conversations") == 1
    Ingestor(workspace).ingest([msg("root", author="bob", created_at=T0)])
    assert workspace.scalar("SELECT count(*) FROM conversations") == 1
    assert conv_of(workspace, "x", "child") == conv_of(workspace, "x", "root")
    conv = workspace.query_one("SELECT * FROM conversations")
    assert conv is not None
    assert conv["message_count"] == 2 and conv["started_at"] == T0
    bob = workspace.scalar("SELECT customer_id FROM identities WHERE handle = 'bob'")
    assert conv["customer_id"] == bob


def test_children_before_parents_in_one_batch(workspace: Workspace) -> None:
    # Timestamps out of order: the child claims to be older than its parent.
    Ingestor(workspace).ingest(
        [msg("c", in_reply_to="p", created_at=T0), msg("p", created_at=T0 + 5)]
    )
    assert conv_of(workspace, "x", "c") == conv_of(workspace, "x", "p")


def test_stream_silence_and_resolution_start_new_conversations(workspace: Workspace) -> None:
    sms = {"channel": Channel.SMS, "account": "+15550000", "author": "+15551234"}
    ing = Ingestor(workspace)
    ing.ingest([msg("s1", **sms), msg("s2", created_at=T0 + 2 * H, **sms)])
    assert conv_of(workspace, "sms", "s1") == conv_of(workspace, "sms", "s2")
    ing.ingest([msg("s3", created_at=T0 + 2 * H + 25 * H, **sms)])  # 25 h of silence
    assert conv_of(workspace, "sms", "s3") != conv_of(workspace, "sms", "s2")
    workspace.conn.execute(
        "UPDATE conversations SET status = 'resolved' WHERE id = ?",
        (conv_of(workspace, "sms", "s3"),),
    )
    ing.ingest([msg("s4", created_at=T0 + 28 * H, **sms)])
    assert conv_of(workspace, "sms", "s4") != conv_of(workspace, "sms", "s3")
    # Our outbound SMS addressed `to` the customer joins the open stream.
    ing.ingest(
        [
            msg(
                "o1",
                direction=Direction.OUT,
                author="+15550000",
                to="+15551234",
                created_at=T0 + 28 * H + 60,
                channel=Channel.SMS,
                account="+15550000",
            )
        ]
    )
    assert conv_of(workspace, "sms", "o1") == conv_of(workspace, "sms", "s4")
    assert (
        workspace.scalar(
            "SELECT is_public FROM conversations WHERE id = ?", (conv_of(workspace, "sms", "s4"),)
        )
        == 0
    )


def test_customer_key_links_identities_across_channels(workspace: Workspace) -> None:
    Ingestor(workspace).ingest(
        [
            msg(
                "e1",
                channel=Channel.EMAIL,
                author="ann@example.org",
                customer_key="C-1",
                thread="root@x",
            ),
            msg("x1", author="ann_tweets", customer_key="C-1", followers=5000, created_at=T0 + H),
            msg(
                "p1",
                channel=Channel.PHONE,
                author="+3581234",
                customer_key="C-1",
                created_at=T0 + 2 * H,
            ),
            msg("x2", author="someone_else", created_at=T0 + H),
        ]
    )
    assert workspace.scalar("SELECT count(*) FROM customers") == 2
    ann = workspace.query_one("SELECT * FROM customers WHERE key = 'C-1'")
    assert ann is not None
    assert ann["inbound_count"] == 3 and ann["conversation_count"] == 3 and ann["reach"] == 5000
    channels = {
        r["channel"]
        for r in workspace.query(
            "SELECT channel FROM identities WHERE customer_id = ?", (ann["id"],)
        )
    }
    assert channels == {"email", "x", "phone"}


def test_email_thread_key_groups_replies_to_a_missing_root(workspace: Workspace) -> None:
    email = {"channel": Channel.EMAIL, "account": "support@example.org"}
    Ingestor(workspace).ingest(
        [
            msg(
                "a@x", author="a@example.org", in_reply_to="missing@x", thread="missing@x", **email
            ),
            msg(
                "b@x",
                author="b@example.org",
                in_reply_to="missing@x",
                thread="missing@x",
                created_at=T0 + 90 * H,
                **email,
            ),
        ]
    )
    assert conv_of(workspace, "email", "a@x") == conv_of(workspace, "email", "b@x")


def test_after_batch_hook_sees_what_changed(workspace: Workspace) -> None:
    seen: list[tuple[int, int]] = []

    def hook(ws: Workspace, batch: Any) -> None:
        seen.append((len(batch.message_ids), len(batch.customer_ids)))

    Ingestor(workspace, after_batch=hook, batch_size=2).ingest(
        [msg("1"), msg("2", author="b"), msg("3", author="c")]
    )
    assert seen == [(2, 2), (1, 1)]


def test_fts_indexes_text(workspace: Workspace) -> None:
    Ingestor(workspace).ingest([msg("1", text="My router keeps dropping the connection")])
    hits = workspace.scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'router'")
    assert hits == 1


def test_scores_the_import_brings_are_kept_unless_they_lack_a_language_the_customer_has(
    workspace: Workspace,
) -> None:
    Ingestor(workspace).ingest([msg("a0", author="ana"), msg("b0", author="bo")])
    workspace.conn.execute("UPDATE customers SET language = 'fi' WHERE name = 'ana'")
    Ingestor(workspace).ingest(
        [
            msg("a1", author="ana", text="ok!!", sentiment=0.4),  # no language: ana speaks fi
            msg("a2", author="ana", text="Tilaus on myöhässä", language="fi", sentiment=-0.5),
            msg("b1", author="bo", text="ok!!", sentiment=0.4),  # bo has no language: as scored
            msg("c1", author="cy", text="ok!!", sentiment=0.4),  # a new customer: as scored
            msg("r1", direction=Direction.OUT, author="Brand", to="bo", text="hi", sentiment=0.9),
        ]
    )
    scores = dict(workspace.conn.execute("SELECT external_id, sentiment FROM messages"))
    assert scores == {
        "a0": None,
        "b0": None,
        "a1": None,
        "a2": -0.5,
        "b1": 0.4,
        "c1": 0.4,
        "r1": None,
    }
