"""The durable outbox: every reply is written here before any network call.

States of an item (and of its outbound message's ``delivery``)::

    queued ──claim──> sending ──sent──> sent
       ^                 │ ├──rate limited / transient──> queued (later ``next_attempt_at``)
       │                 │ ├──rejected / auth──────────> failed (never retried by itself)
       │                 │ └──timeout after the request left──> unknown
       └──retry (agent)──┴── failed / unknown

An item found in ``sending`` when the outbox starts was interrupted mid-send (a crash or a kill): its
outcome is unknown, so :func:`recover_interrupted` moves it to ``unknown`` and the worker reconciles it
against the channel (look for the reply) before sending again. The idempotency key is ours: no channel
offers one, so exactly-once comes from this table.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from console.domain import Delivery
from console.errors import NotFoundError
from console.storage.db import Workspace
from console.textutil import snippet


@dataclass(frozen=True, slots=True)
class QueuedReply:
    outbox_id: int
    message_id: int
    idem_key: str


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    idem_key: str
    message_id: int
    account_id: int
    conversation_id: int
    reply_to_message_id: int | None
    mode: str
    state: str
    attempts: int
    next_attempt_at: int
    last_error: str | None
    remote_id: str | None
    text: str
    payload: dict[str, Any]


_ITEM_SQL = (
    "SELECT o.id, o.idem_key, o.message_id, o.account_id, o.conversation_id,"
    " o.reply_to_message_id, o.mode, o.state, o.attempts, o.next_attempt_at, o.last_error,"
    " o.remote_id, m.text, o.payload FROM outbox o JOIN messages m ON m.id = o.message_id"
)


_ITEM_FIELDS = tuple(f for f in OutboxItem.__dataclass_fields__ if f != "payload")


def _item(row: tuple[Any, ...]) -> OutboxItem:
    values: dict[str, Any] = dict(zip(_ITEM_FIELDS, row[:13], strict=True))
    return OutboxItem(**values, payload=json.loads(row[13] or "{}"))


def enqueue_reply(
    ws: Workspace,
    *,
    conversation_id: int,
    text: str,
    now: int,
    reply_to_message_id: int | None = None,
    mode: str = "public",
    agent: str | None = None,
    idem_key: str | None = None,
    payload: dict[str, Any] | None = None,
) -> QueuedReply:
    """Persist a reply (outbound message + outbox item) in one transaction. Idempotent on ``idem_key``."""
    idem_key = idem_key or uuid.uuid4().hex
    with ws.transaction() as conn:
        existing = conn.execute(
            "SELECT id, message_id FROM outbox WHERE idem_key = ?", (idem_key,)
        ).fetchone()
        if existing is not None:
            return QueuedReply(int(existing[0]), int(existing[1]), idem_key)
        conv = conn.execute(
            "SELECT c.channel, c.account_id, c.customer_id, c.identity_id, a.handle, a.name"
            " FROM conversations c JOIN accounts a ON a.id = c.account_id WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()
        if conv is None:
            raise NotFoundError(f"no conversation {conversation_id}")
        channel, account_id, customer_id, identity_id, handle, account_name = conv
        parent_ext = None
        if reply_to_message_id is not None:
            parent = conn.execute(
                "SELECT external_id, customer_id, identity_id, direction FROM messages WHERE id = ?",
                (reply_to_message_id,),
            ).fetchone()
            if parent is None:
                raise NotFoundError(f"no message {reply_to_message_id}")
            parent_ext = parent[0]
            if parent[3] == "in":
                customer_id, identity_id = parent[1], parent[2]
        extra = {"agent": agent} if agent else {}
        cur = conn.execute(
            "INSERT INTO messages (channel, external_id, parent_external_id, conversation_id,"
            " account_id, customer_id, identity_id, direction, author, author_name, text,"
            " created_at, delivery, is_public, extra)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'out', ?, ?, ?, ?, 'queued', ?, ?)",
            (
                channel,
                f"local:{idem_key}",
                parent_ext,
                conversation_id,
                account_id,
                customer_id,
                identity_id,
                handle or account_name,
                agent,
                text,
                now,
                1 if mode == "public" else 0,
                json.dumps(extra) if extra else None,
            ),
        )
        message_id = int(cur.lastrowid or 0)
        cur = conn.execute(
            "INSERT INTO outbox (idem_key, message_id, account_id, conversation_id,"
            " reply_to_message_id, mode, state, next_attempt_at, payload, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
            (
                idem_key,
                message_id,
                account_id,
                conversation_id,
                reply_to_message_id,
                mode,
                now,
                json.dumps(payload or {}),
                now,
                now,
            ),
        )
        conn.execute(
            "UPDATE conversations SET last_activity = max(last_activity, ?), snippet = ?,"
            " message_count = message_count + 1 WHERE id = ?",
            (now, snippet(text), conversation_id),
        )
    return QueuedReply(int(cur.lastrowid or 0), message_id, idem_key)


def get_item(ws: Workspace, item_id: int) -> OutboxItem:
    row = ws.conn.execute(f"{_ITEM_SQL} WHERE o.id = ?", (item_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no outbox item {item_id}")
    return _item(row)


def claim_due(
    ws: Workspace, now: int, *, account_id: int | None = None, limit: int = 10
) -> list[OutboxItem]:
    """Move due ``queued`` items to ``sending`` (attempts + 1) and return them, oldest first."""
    with ws.transaction() as conn:
        params: list[Any] = [now]
        where = "o.state = 'queued' AND o.next_attempt_at <= ?"
        if account_id is not None:
            where += " AND o.account_id = ?"
            params.append(account_id)
        rows = conn.execute(
            f"{_ITEM_SQL} WHERE {where} ORDER BY o.next_attempt_at, o.id LIMIT ?",
            (*params, limit),
        ).fetchall()
        items = [_item(r) for r in rows]
        for item in items:
            conn.execute(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?"
                " WHERE id = ?",
                (now, item.id),
            )
            conn.execute(
                "UPDATE messages SET delivery = 'sending' WHERE id = ?", (item.message_id,)
            )
    return [_replace_state(i, "sending", i.attempts + 1) for i in items]


def _replace_state(item: OutboxItem, state: str, attempts: int) -> OutboxItem:
    values = {f: getattr(item, f) for f in OutboxItem.__dataclass_fields__}
    values.update(state=state, attempts=attempts)
    return OutboxItem(**values)


def mark_sent(ws: Workspace, item_id: int, remote_id: str, now: int) -> None:
    """The channel accepted the reply: record its id and answer the conversation."""
    with ws.transaction() as conn:
        row = conn.execute(
            "SELECT o.message_id, o.conversation_id, m.channel, m.created_at FROM outbox o"
            " JOIN messages m ON m.id = o.message_id WHERE o.id = ?",
            (item_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no outbox item {item_id}")
        message_id, conversation_id, channel, _created = row
        conn.execute(
            "UPDATE outbox SET state = 'sent', remote_id = ?, last_error = NULL, updated_at = ?"
            " WHERE id = ?",
            (remote_id, now, item_id),
        )
        taken = conn.execute(
            "SELECT 1 FROM messages WHERE channel = ? AND external_id = ?", (channel, remote_id)
        ).fetchone()
        if taken is None:
            conn.execute(
                "UPDATE messages SET external_id = ? WHERE id = ?", (remote_id, message_id)
            )
        conn.execute(
            "UPDATE messages SET delivery = 'sent', error = NULL WHERE id = ?", (message_id,)
        )
        conn.execute(
            "UPDATE conversations SET waiting_since = NULL, deadline_at = NULL,"
            " first_response_at = CASE WHEN first_inbound_at IS NOT NULL"
            " THEN coalesce(first_response_at, ?) ELSE first_response_at END,"
            " last_activity = max(last_activity, ?) WHERE id = ?",
            (now, now, conversation_id),
        )
        conn.execute(
            "UPDATE customers SET outbound_count = outbound_count + 1,"
            " last_contact = max(coalesce(last_contact, ?), ?)"
            " WHERE id = (SELECT customer_id FROM messages WHERE id = ?)",
            (now, now, message_id),
        )


def _set_state(
    ws: Workspace,
    item_id: int,
    state: str,
    delivery: Delivery,
    error: str | None,
    now: int,
    next_attempt_at: int | None = None,
) -> None:
    with ws.transaction() as conn:
        row = conn.execute("SELECT message_id FROM outbox WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no outbox item {item_id}")
        conn.execute(
            "UPDATE outbox SET state = ?, last_error = ?, updated_at = ?,"
            " next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?",
            (state, error, now, next_attempt_at, item_id),
        )
        conn.execute(
            "UPDATE messages SET delivery = ?, error = ? WHERE id = ?",
            (str(delivery), error, row[0]),
        )


def reschedule(ws: Workspace, item_id: int, at: int, error: str, now: int) -> None:
    """Put an item back in the queue for a later attempt (rate limited, transient failure)."""
    _set_state(ws, item_id, "queued", Delivery.QUEUED, error, now, next_attempt_at=at)


def mark_failed(ws: Workspace, item_id: int, error: str, now: int) -> None:
    """The channel refused the reply: it will not be retried unless an agent asks."""
    _set_state(ws, item_id, "failed", Delivery.FAILED, error, now)


def mark_unknown(ws: Workspace, item_id: int, error: str, now: int) -> None:
    """The request may have been processed: reconcile before sending again."""
    _set_state(ws, item_id, "unknown", Delivery.UNKNOWN, error, now)


def retry(ws: Workspace, item_id: int, now: int) -> None:
    """An agent asks to send a failed (or unreconcilable unknown) item again."""
    _set_state(ws, item_id, "queued", Delivery.QUEUED, None, now, next_attempt_at=now)


def recover_interrupted(ws: Workspace, now: int) -> list[int]:
    """Items left in ``sending`` by a crash become ``unknown`` (to reconcile). Returns their ids."""
    rows = ws.conn.execute("SELECT id FROM outbox WHERE state = 'sending'").fetchall()
    ids = [int(r[0]) for r in rows]
    for item_id in ids:
        mark_unknown(ws, item_id, "interrupted while sending (the app stopped)", now)
    return ids


def items_in_state(ws: Workspace, state: str, *, limit: int = 100) -> list[OutboxItem]:
    rows = ws.conn.execute(
        f"{_ITEM_SQL} WHERE o.state = ? ORDER BY o.id LIMIT ?", (state, limit)
    ).fetchall()
    return [_item(r) for r in rows]


def list_outbox(ws: Workspace, *, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Outbox items for the CLI and views, newest first."""
    where = ""
    params: tuple[Any, ...] = ()
    if states:
        where = f"WHERE o.state IN ({','.join('?' * len(states))})"
        params = states
    return ws.query(
        "SELECT o.id, o.idem_key, o.state, o.attempts, o.mode, o.last_error AS error,"
        " o.remote_id, o.created_at, o.updated_at, o.next_attempt_at, o.conversation_id,"
        " o.message_id, o.reply_to_message_id, a.name AS account, a.channel,"
        " m.text, r.channel || ':' || r.external_id AS reply_to"
        " FROM outbox o JOIN messages m ON m.id = o.message_id"
        " JOIN accounts a ON a.id = o.account_id"
        f" LEFT JOIN messages r ON r.id = o.reply_to_message_id {where} ORDER BY o.id DESC",
        params,
    )


def counts_by_state(ws: Workspace) -> dict[str, int]:
    return {
        str(state): int(n)
        for state, n in ws.conn.execute("SELECT state, count(*) FROM outbox GROUP BY state")
    }


# -- what the worker needs (services.outbox) ----------------------------------------------------

#: Payload keys with a meaning of their own (not passed to adapters as ``extra``).
RESERVED_PAYLOAD_KEYS = frozenset({"recipient", "thread", "subject", "extra", "sandbox"})


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """Where a queued reply goes: read from its conversation and the message it answers."""

    channel: str
    account_id: int
    account_name: str
    customer_id: int | None
    recipient: str | None  # the customer's handle, address or number on that channel
    in_reply_to: str | None  # external id of the message answered (None if it is local only)
    thread: str | None  # the conversation's thread key (email root, DM conversation, number)
    subject: str | None
    references: tuple[str, ...]
    last_inbound_at: int | None = None  # the customer's last message (messaging windows)


def reply_context(ws: Workspace, item_id: int) -> ReplyContext:
    """Everything an adapter needs to address and thread one outbox item."""
    row = ws.query_one(
        "SELECT c.channel, o.account_id, a.name AS account_name, m.customer_id,"
        " i.handle AS recipient, c.thread_key, c.subject AS conv_subject, c.last_inbound_at,"
        " r.external_id AS parent_ext, r.subject AS parent_subject, r.extra AS parent_extra"
        " FROM outbox o JOIN messages m ON m.id = o.message_id"
        " JOIN conversations c ON c.id = o.conversation_id"
        " JOIN accounts a ON a.id = o.account_id"
        " LEFT JOIN identities i ON i.id = m.identity_id"
        " LEFT JOIN messages r ON r.id = o.reply_to_message_id WHERE o.id = ?",
        (item_id,),
    )
    if row is None:
        raise NotFoundError(f"no outbox item {item_id}")
    parent = row["parent_ext"]
    if parent is not None and str(parent).startswith("local:"):
        parent = None  # answering a reply of ours that has not left yet: nothing to thread to
    extra = json.loads(row["parent_extra"] or "{}") if row["parent_extra"] else {}
    refs = [str(r) for r in extra.get("references", []) if r] if isinstance(extra, dict) else []
    if parent and parent not in refs:
        refs.append(str(parent))
    return ReplyContext(
        channel=str(row["channel"]),
        account_id=int(row["account_id"]),
        account_name=str(row["account_name"]),
        customer_id=None if row["customer_id"] is None else int(row["customer_id"]),
        recipient=row["recipient"],
        in_reply_to=parent,
        thread=row["thread_key"],
        subject=row["parent_subject"] or row["conv_subject"],
        references=tuple(refs),
        last_inbound_at=None if row["last_inbound_at"] is None else int(row["last_inbound_at"]),
    )


def defer(ws: Workspace, item_id: int, at: int, error: str, now: int) -> None:
    """Back to the queue for ``at`` without counting the attempt (throttled, offline): nothing was
    processed, so it must not bring the item closer to giving up."""
    with ws.transaction() as conn:
        reschedule(ws, item_id, at, error, now)
        conn.execute("UPDATE outbox SET attempts = max(0, attempts - 1) WHERE id = ?", (item_id,))


def defer_account(ws: Workspace, account_id: int, until: int, error: str, now: int) -> list[int]:
    """Hold every queued item of one account until ``until`` (a 429 pauses that account only)."""
    with ws.transaction() as conn:
        ids = [
            int(r[0])
            for r in conn.execute(
                "SELECT id FROM outbox WHERE account_id = ? AND state = 'queued'"
                " AND next_attempt_at < ?",
                (account_id, until),
            )
        ]
        for item_id in ids:
            _set_state(ws, item_id, "queued", Delivery.QUEUED, error, now, next_attempt_at=until)
    return ids


def due_by_account(ws: Workspace) -> dict[int, int]:
    """For each account with queued items: when its earliest one is due."""
    return {
        int(a): int(t)
        for a, t in ws.conn.execute(
            "SELECT account_id, min(next_attempt_at) FROM outbox WHERE state = 'queued'"
            " GROUP BY account_id"
        )
    }


def waiting_count(ws: Workspace) -> int:
    """Replies that have not left yet (queued or being sent)."""
    return int(ws.scalar("SELECT count(*) FROM outbox WHERE state IN ('queued', 'sending')") or 0)


def customer_of_item(ws: Workspace, item_id: int) -> int | None:
    value = ws.scalar(
        "SELECT m.customer_id FROM outbox o JOIN messages m ON m.id = o.message_id WHERE o.id = ?",
        (item_id,),
    )
    return None if value is None else int(value)


# -- the sandbox's record of what it "sent" (services.channels.sandbox) -----------------------


def record_sandbox_send(ws: Workspace, idem_key: str, record: dict[str, Any]) -> int:
    """Note in the item's payload what the sandbox would have sent; returns its sandbox number
    (the item id). Recording twice keeps the first record: the sandbox is exactly-once too."""
    with ws.transaction() as conn:
        row = conn.execute(
            "SELECT id, payload FROM outbox WHERE idem_key = ?", (idem_key,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no outbox item with key {idem_key}")
        payload = json.loads(row[1] or "{}")
        if "sandbox" not in payload:
            payload["sandbox"] = record
            conn.execute(
                "UPDATE outbox SET payload = ? WHERE id = ?", (json.dumps(payload), row[0])
            )
    return int(row[0])


def find_sandbox_send(ws: Workspace, idem_key: str) -> tuple[int, dict[str, Any]] | None:
    """(sandbox number, record) if the sandbox recorded this reply, else None."""
    row = ws.conn.execute(
        "SELECT id, payload FROM outbox WHERE idem_key = ?", (idem_key,)
    ).fetchone()
    if row is None:
        return None
    record = json.loads(row[1] or "{}").get("sandbox")
    return (int(row[0]), record) if isinstance(record, dict) else None


def peek_due(ws: Workspace, now: int, account_id: int) -> OutboxItem | None:
    """The item :func:`claim_due` would claim next for this account, without claiming it."""
    row = ws.conn.execute(
        f"{_ITEM_SQL} WHERE o.state = 'queued' AND o.next_attempt_at <= ? AND o.account_id = ?"
        " ORDER BY o.next_attempt_at, o.id LIMIT 1",
        (now, account_id),
    ).fetchone()
    return None if row is None else _item(row)
