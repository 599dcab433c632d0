"""One conversation: its header, its thread, and the agent actions on it, each kept in the history.

Actions (assign, resolve, reopen, snooze, mark pending, note, tag) change the conversation row and
add a message to its thread in the same transaction: a ``note`` for internal notes, an ``event``
("Resolved by Ana", "Snoozed until Tue 09:00") for everything else, so the history tells who did
what and when. Pending and snoozed time while the customer waits is paused time: it is added to
``paused_s`` on reopening so response deadlines do not count it (``console.triage.deadlines``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from console.domain import Direction, Status
from console.errors import ConsoleError, NotFoundError
from console.storage.db import Workspace
from console.storage.ingest import paused_seconds

THREAD_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action changed: the conversation, its customer, and the history message it added."""

    conversation_id: int
    customer_id: int | None
    message_id: int


class ActionError(ConsoleError):
    """An action that does not apply (resolving a resolved conversation, an empty note...)."""


_THREAD_SQL = (
    "SELECT m.id, m.conversation_id, m.channel, a.name AS account, m.direction, m.author,"
    " m.author_name, m.text, m.subject, m.created_at, m.external_id, m.parent_external_id,"
    " m.language, m.sentiment, m.dup_group, m.delivery, m.error, m.is_public, m.customer_id"
    " FROM messages m JOIN accounts a ON a.id = m.account_id"
)


def conversation_header(ws: Workspace, conversation_id: int) -> dict[str, Any]:
    """The conversation row with its account, customer and identity, for the thread's header."""
    row = ws.query_one(
        "SELECT c.*, a.name AS account, a.handle AS account_handle, cu.name AS customer,"
        " i.handle AS handle, i.followers AS followers"
        " FROM conversations c JOIN accounts a ON a.id = c.account_id"
        " LEFT JOIN customers cu ON cu.id = c.customer_id"
        " LEFT JOIN identities i ON i.id = c.identity_id WHERE c.id = ?",
        (conversation_id,),
    )
    if row is None:
        raise NotFoundError(f"no conversation {conversation_id}")
    try:
        row["tags"] = [str(t) for t in json.loads(row.get("tags") or "[]")]
    except (ValueError, TypeError):
        row["tags"] = []
    return row


def thread_messages(
    ws: Workspace,
    conversation_id: int,
    *,
    limit: int = THREAD_LIMIT,
    before: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """The newest ``limit`` messages of one conversation (older than ``before``), oldest first."""
    where, params = "m.conversation_id = ?", [conversation_id]
    if before is not None:
        where += " AND (m.created_at, m.id) < (?, ?)"
        params.extend(before)
    rows = ws.query(
        f"{_THREAD_SQL} WHERE {where} ORDER BY m.created_at DESC, m.id DESC LIMIT ?",
        (*params, limit),
    )
    rows.reverse()
    return rows


def latest_inbound(ws: Workspace, conversation_id: int) -> int | None:
    """The customer's latest message in the conversation (what a reply answers by default)."""
    value = ws.scalar(
        "SELECT id FROM messages WHERE conversation_id = ? AND direction = 'in'"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        (conversation_id,),
    )
    return None if value is None else int(value)


def _conversation(ws: Workspace, conversation_id: int) -> dict[str, Any]:
    row = ws.query_one(
        "SELECT id, account_id, channel, customer_id, identity_id, status, assignee, tags,"
        " waiting_since, paused_since, paused_s, snoozed_until FROM conversations WHERE id = ?",
        (conversation_id,),
    )
    if row is None:
        raise NotFoundError(f"no conversation {conversation_id}")
    return row


def _record(
    ws: Workspace,
    conv: dict[str, Any],
    direction: Direction,
    text: str,
    agent: str,
    now: int,
    extra: dict[str, Any] | None = None,
) -> int:
    cur = ws.conn.execute(
        "INSERT INTO messages (channel, external_id, conversation_id, account_id, customer_id,"
        " identity_id, direction, author, author_name, text, created_at, is_public, extra)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
        (
            conv["channel"],
            f"{direction}:{uuid.uuid4().hex}",
            conv["id"],
            conv["account_id"],
            conv["customer_id"],
            conv["identity_id"],
            str(direction),
            agent,
            agent,
            text,
            now,
            json.dumps({"agent": agent, **(extra or {})}),
        ),
    )
    ws.conn.execute(
        "UPDATE conversations SET message_count = message_count + 1 WHERE id = ?", (conv["id"],)
    )
    return int(cur.lastrowid or 0)


def _result(conv: dict[str, Any], message_id: int) -> ActionResult:
    return ActionResult(int(conv["id"]), conv["customer_id"], message_id)


def assign(
    ws: Workspace, conversation_id: int, assignee: str | None, *, agent: str, now: int
) -> ActionResult:
    """Assign to ``assignee`` (None: unassign)."""
    with ws.transaction():
        conv = _conversation(ws, conversation_id)
        if (conv["assignee"] or None) == (assignee or None):
            raise ActionError(
                f"already assigned to {assignee}" if assignee else "already unassigned"
            )
        ws.conn.execute(
            "UPDATE conversations SET assignee = ? WHERE id = ?", (assignee or None, conv["id"])
        )
        if assignee is None:
            text = "Unassigned"
        elif assignee == agent:
            text = f"{agent} took the conversation"
        else:
            text = f"Assigned to {assignee}"
        return _result(conv, _record(ws, conv, Direction.EVENT, text, agent, now))


def _leave_status(ws: Workspace, conv: dict[str, Any], now: int) -> None:
    """Close the current pause, if any (its time while waiting joins ``paused_s``)."""
    if conv["status"] in (Status.PENDING, Status.SNOOZED):
        extra = paused_seconds(conv["paused_since"], conv["waiting_since"], now)
        ws.conn.execute(
            "UPDATE conversations SET paused_s = paused_s + ?, paused_since = NULL,"
            " snoozed_until = NULL WHERE id = ?",
            (extra, conv["id"]),
        )


def set_status(
    ws: Workspace,
    conversation_id: int,
    status: Status,
    *,
    agent: str,
    now: int,
    until: int | None = None,
    label: str | None = None,
) -> ActionResult:
    """Resolve, reopen, mark pending, or snooze until ``until`` (epoch seconds, in the future)."""
    status = Status(status)
    with ws.transaction():
        conv = _conversation(ws, conversation_id)
        if status == Status.SNOOZED:
            if until is None or until <= now:
                raise ActionError("snooze needs a time in the future")
        elif conv["status"] == status:
            raise ActionError(f"the conversation is already {status}")
        _leave_status(ws, conv, now)
        if status == Status.RESOLVED:
            ws.conn.execute(
                "UPDATE conversations SET status = 'resolved', resolved_at = ?, deadline_at = NULL"
                " WHERE id = ?",
                (now, conv["id"]),
            )
            text = f"Resolved by {agent}"
        elif status == Status.OPEN:
            ws.conn.execute(
                "UPDATE conversations SET status = 'open', resolved_at = NULL WHERE id = ?",
                (conv["id"],),
            )
            text = f"Reopened by {agent}"
        else:
            ws.conn.execute(
                "UPDATE conversations SET status = ?, paused_since = ?, snoozed_until = ?,"
                " deadline_at = NULL WHERE id = ?",
                (str(status), now, until if status == Status.SNOOZED else None, conv["id"]),
            )
            if status == Status.SNOOZED:
                text = f"Snoozed by {agent} until {label or until}"
            else:
                text = f"Marked pending (waiting on the customer) by {agent}"
        extra = {"status": str(status), "until": until}
        return _result(conv, _record(ws, conv, Direction.EVENT, text, agent, now, extra))


def wake_snoozed(ws: Workspace, now: int) -> list[ActionResult]:
    """Snoozed conversations whose time came back to open (for a timer); returns what changed."""
    ids = [
        int(r[0])
        for r in ws.conn.execute(
            "SELECT id FROM conversations WHERE snoozed_until IS NOT NULL AND snoozed_until <= ?"
            " AND status = 'snoozed'",
            (now,),
        )
    ]
    results = []
    for conv_id in ids:
        with ws.transaction():
            conv = _conversation(ws, conv_id)
            _leave_status(ws, conv, now)
            ws.conn.execute("UPDATE conversations SET status = 'open' WHERE id = ?", (conv_id,))
            message_id = _record(ws, conv, Direction.EVENT, "Snooze ended", "Agent Console", now)
            results.append(_result(conv, message_id))
    return results


def add_note(
    ws: Workspace, conversation_id: int, text: str, *, agent: str, now: int
) -> ActionResult:
    """An internal note: in the history for the team, never sent to the customer."""
    text = text.strip()
    if not text:
        raise ActionError("a note needs some text")
    with ws.transaction():
        conv = _conversation(ws, conversation_id)
        return _result(conv, _record(ws, conv, Direction.NOTE, text, agent, now))


def set_tags(
    ws: Workspace, conversation_id: int, tags: Iterable[str], *, agent: str, now: int
) -> ActionResult:
    """Replace the conversation's tags (lower-case, trimmed, unique); records what was added/removed."""
    wanted = sorted({t.strip().lower().lstrip("#") for t in tags if t.strip().lstrip("#")})
    with ws.transaction():
        conv = _conversation(ws, conversation_id)
        try:
            before = {str(t) for t in json.loads(conv["tags"] or "[]")}
        except (ValueError, TypeError):
            before = set()
        added = [t for t in wanted if t not in before]
        removed = sorted(before - set(wanted))
        if not added and not removed:
            raise ActionError("the tags did not change")
        ws.conn.execute(
            "UPDATE conversations SET tags = ? WHERE id = ?", (json.dumps(wanted), conv["id"])
        )
        parts = []
        if added:
            parts.append("tagged " + ", ".join(f"#{t}" for t in added))
        if removed:
            parts.append("removed " + ", ".join(f"#{t}" for t in removed))
        text = f"{agent} " + " and ".join(parts)
        return _result(conv, _record(ws, conv, Direction.EVENT, text, agent, now))


#: Conversations (the newest) whose tags feed tag completion: enough to know the team's tags.
TAG_SAMPLE = 20_000


def all_tags(ws: Workspace, *, limit: int = 200) -> list[str]:
    """Tags in use on recent conversations, most used first (for completion)."""
    rows = ws.conn.execute(
        "SELECT j.value, count(*) FROM"
        " (SELECT tags FROM conversations ORDER BY id DESC LIMIT ?) c, json_each(c.tags) j"
        " WHERE c.tags != '[]' GROUP BY j.value ORDER BY count(*) DESC, j.value LIMIT ?",
        (TAG_SAMPLE, limit),
    )
    return [str(r[0]) for r in rows]
