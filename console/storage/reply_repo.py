"""The SQL behind reply planning (``services.replies``): the posts a reply answers, whether they are
already answered, and their duplicate groups. ("Send and resolve" uses
``console.storage.conversations.set_status``.)

Every query is an index lookup: messages by id or ``(channel, external_id)``, a conversation's
messages by ``messages_conversation``, replies to a post by ``messages_parent``, groups by id or by
``group_key``. Sets of ids are one JSON parameter (``json_each``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from console.errors import NotFoundError
from console.storage import triage_repo
from console.storage.db import Workspace

_TARGET_SQL = """
SELECT m.id, m.channel, m.external_id, m.conversation_id, m.account_id, m.customer_id,
       m.identity_id, m.direction, m.text, m.created_at, m.language, m.is_public, m.extra,
       m.dup_group, m.norm_hash,
       a.name AS account, a.handle AS account_handle,
       c.status, c.last_inbound_at, c.is_public AS conversation_public, c.subject,
       cu.name AS customer_name, cu.language AS customer_language,
       i.handle AS handle, i.name AS identity_name
FROM json_each(?) j
JOIN messages m ON m.id = j.value
JOIN accounts a ON a.id = m.account_id
JOIN conversations c ON c.id = m.conversation_id
LEFT JOIN customers cu ON cu.id = m.customer_id
LEFT JOIN identities i ON i.id = m.identity_id
"""


def _ids(ids: Iterable[int]) -> str:
    return json.dumps([int(i) for i in ids])


def message_by_ref(ws: Workspace, channel: str, external_id: str) -> int | None:
    value = ws.scalar(
        "SELECT id FROM messages WHERE channel = ? AND external_id = ?", (channel, external_id)
    )
    return None if value is None else int(value)


def target_rows(ws: Workspace, message_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Each message with its account, conversation, customer and identity, by message id."""
    rows = ws.query(_TARGET_SQL, (_ids(message_ids),))
    for row in rows:
        row["extra"] = json.loads(row["extra"]) if row["extra"] else {}
    return {int(r["id"]): r for r in rows}


def conversation_row(ws: Workspace, conversation_id: int) -> dict[str, Any]:
    row = ws.query_one(
        "SELECT c.*, a.name AS account, a.handle AS account_handle FROM conversations c"
        " JOIN accounts a ON a.id = c.account_id WHERE c.id = ?",
        (conversation_id,),
    )
    if row is None:
        raise NotFoundError(f"no conversation {conversation_id}")
    return row


def answered(ws: Workspace, message_ids: Iterable[int]) -> dict[int, str]:
    """For the posts already answered: ``"sent"`` (a reply went out: threaded to the post, or a later
    outbound message in its conversation) or ``"queued"`` (our reply to it waits in the outbox).
    Failed replies do not count."""
    rows = ws.conn.execute(
        """
        SELECT m.id,
          (SELECT group_concat(coalesce(r.delivery, 'sent')) FROM messages r
            WHERE r.channel = m.channel AND r.parent_external_id = m.external_id
              AND r.direction = 'out' AND coalesce(r.delivery, 'sent') != 'failed'),
          (SELECT group_concat(coalesce(o.delivery, 'sent')) FROM messages o
            WHERE o.conversation_id = m.conversation_id AND o.direction = 'out'
              AND o.created_at >= m.created_at AND (o.created_at > m.created_at OR o.id > m.id)
              AND coalesce(o.delivery, 'sent') != 'failed')
        FROM json_each(?) j JOIN messages m ON m.id = j.value
        """,
        (_ids(message_ids),),
    ).fetchall()
    out: dict[int, str] = {}
    for message_id, direct, later in rows:
        states = set(f"{direct or ''},{later or ''}".split(",")) - {""}
        if "sent" in states:
            out[int(message_id)] = "sent"
        elif states:
            out[int(message_id)] = "queued"
    return out


def groups_of_message(ws: Workspace, message_id: int) -> list[dict[str, Any]]:
    """The duplicate group the post is in, then the same-issue group of its text, if any."""
    row = ws.query_one("SELECT dup_group, norm_hash FROM messages WHERE id = ?", (message_id,))
    if row is None:
        raise NotFoundError(f"no message {message_id}")
    found: list[dict[str, Any]] = []
    if row["dup_group"] is not None:
        group = triage_repo.group_row(ws, int(row["dup_group"]))
        if group is not None:
            found.append(group)
    if row["norm_hash"] is not None:
        same = ws.query_one(
            "SELECT * FROM dup_groups WHERE group_key = ?", (f"s:{row['norm_hash']}",)
        )
        if same is not None and all(g["id"] != same["id"] for g in found):
            found.append(same)
    return found


def group_row(ws: Workspace, group_id: int) -> dict[str, Any]:
    group = triage_repo.group_row(ws, group_id)
    if group is None:
        raise NotFoundError(f"no duplicate group {group_id}")
    return group


def group_message_ids(ws: Workspace, group: dict[str, Any]) -> list[int]:
    """The posts of a group, oldest first."""
    return [int(r["id"]) for r in triage_repo.group_members(ws, group)]
