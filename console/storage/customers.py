"""Customers: the card, the cross-channel history, search, merge and un-merge, workspace stats.

A merge moves every identity of the source customer to the target, with their conversations and
messages, and records which identities moved (``merges``); the source row stays, marked
``merged_into``, so an un-merge restores exactly what was there. Merges chain: a customer merged into
one that is later merged elsewhere follows along, and un-merging undoes the latest merge first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from console.domain import iso
from console.errors import ConsoleError, NotFoundError
from console.storage.db import Workspace
from console.storage.maintenance import recompute_customers

SEARCH_LIMIT = 50


def _customer_row(ws: Workspace, customer_id: int) -> dict[str, Any]:
    row = ws.query_one("SELECT * FROM customers WHERE id = ?", (customer_id,))
    if row is None:
        raise NotFoundError(f"no customer {customer_id}")
    return row


def identities_of(ws: Workspace, customer_id: int) -> list[dict[str, Any]]:
    return ws.query(
        "SELECT id, channel, handle, name, followers FROM identities WHERE customer_id = ?"
        " ORDER BY channel, handle",
        (customer_id,),
    )


def flags_of(ws: Workspace, customer_id: int) -> list[dict[str, Any]]:
    rows = ws.query(
        "SELECT kind, score, reasons, message_ids FROM flags WHERE customer_id = ?"
        " ORDER BY score DESC",
        (customer_id,),
    )
    return [
        {
            "kind": r["kind"],
            "score": round(float(r["score"]), 3),
            "reasons": json.loads(r["reasons"]),
            "message_ids": json.loads(r["message_ids"] or "[]"),
        }
        for r in rows
    ]


def customer_summary(ws: Workspace, customer_id: int) -> dict[str, Any]:
    """Everything the customer card shows."""
    row = _customer_row(ws, customer_id)
    channels = ws.query(
        "SELECT a.channel, a.name AS account, count(*) AS conversations"
        " FROM conversations c JOIN accounts a ON a.id = c.account_id"
        " WHERE c.customer_id = ? GROUP BY a.channel, a.name ORDER BY conversations DESC",
        (customer_id,),
    )
    merged_from = ws.query(
        "SELECT id, name FROM customers WHERE merged_into = ? ORDER BY id", (customer_id,)
    )
    return {
        "id": row["id"],
        "key": row["key"],
        "name": row["name"],
        "language": row["language"],
        "tier": row["tier"],
        "notes": row["notes"],
        "merged_into": row["merged_into"],
        "merged_from": merged_from,
        "identities": identities_of(ws, customer_id),
        "inbound": row["inbound_count"],
        "outbound": row["outbound_count"],
        "conversations": row["conversation_count"],
        "first_contact": iso(row["first_contact"]),
        "last_contact": iso(row["last_contact"]),
        "first_contact_ts": row["first_contact"],
        "last_contact_ts": row["last_contact"],
        "reach": row["reach"],
        "priority": row["priority"],
        "flags": flags_of(ws, customer_id),
        "accounts": channels,
    }


_HISTORY_SQL = (
    "SELECT m.id, m.conversation_id, m.channel, a.name AS account, m.direction, m.author,"
    " m.author_name, m.text, m.subject, m.created_at, m.external_id, m.parent_external_id,"
    " m.language, m.sentiment, m.dup_group, m.delivery, m.error, m.is_public"
    " FROM messages m JOIN accounts a ON a.id = m.account_id"
)


def customer_history(
    ws: Workspace,
    customer_id: int,
    *,
    limit: int | None = None,
    before: int | tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Every message of a customer across every channel and account, oldest to newest.

    Includes the whole conversations the customer is in (our replies, notes and events too), so the
    thread structure is visible. ``limit`` keeps the newest ``limit`` messages; ``before`` (a time,
    or the ``(created_at, id)`` of the oldest message already shown) pages further back.
    """
    _customer_row(ws, customer_id)
    params: list[Any] = [customer_id, customer_id]
    where = (
        "(m.conversation_id IN (SELECT id FROM conversations WHERE customer_id = ?)"
        " OR m.customer_id = ?)"
    )
    if isinstance(before, tuple):
        where += " AND (m.created_at, m.id) < (?, ?)"
        params.extend(before)
    elif before is not None:
        where += " AND m.created_at < ?"
        params.append(before)
    sql = f"{_HISTORY_SQL} WHERE {where} ORDER BY m.created_at DESC, m.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = ws.query(sql, params)
    rows.reverse()
    return rows


def conversations_of_customer(ws: Workspace, customer_id: int, among: Iterable[int]) -> set[int]:
    """Which of the conversations ``among`` belong to the customer."""
    ids = sorted(set(among))
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    return {
        int(r[0])
        for r in ws.conn.execute(
            f"SELECT id FROM conversations WHERE id IN ({marks}) AND customer_id = ?",
            (*ids, customer_id),
        )
    }


def conversation_ids_of(ws: Workspace, customer_ids: Iterable[int]) -> list[int]:
    """Every conversation of the given customers."""
    ids = sorted(set(customer_ids))
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return [
        int(r[0])
        for r in ws.conn.execute(
            f"SELECT id FROM conversations WHERE customer_id IN ({marks})", ids
        )
    ]


def fts_query(text: str) -> str:
    """A safe FTS5 query: every word must appear; a trailing ``*`` keeps prefix search."""
    words = re.findall(r"[\w']+\*?", text, flags=re.UNICODE)
    terms = []
    for word in words:
        prefix = word.endswith("*")
        core = word.rstrip("*").replace('"', "")
        if not core:
            continue
        terms.append(f'"{core}"' + ("*" if prefix else ""))
    return " ".join(terms)


def search_messages(
    ws: Workspace, query: str, *, limit: int = SEARCH_LIMIT, before: tuple[int, int] | None = None
) -> list[dict[str, Any]]:
    """Messages matching every word of ``query``, newest first.

    ``before`` is the ``(created_at, id)`` of the last row of the previous page (keyset paging).
    """
    match = fts_query(query)
    if not match:
        return []
    ids = newest_matches(ws, match, limit=limit, before=before)
    if not ids:
        return []
    select = _HISTORY_SQL.replace("SELECT m.id,", "SELECT m.id, m.customer_id, c.name AS customer,")
    rows = ws.query(
        f"{select} LEFT JOIN customers c ON c.id = m.customer_id"
        f" WHERE m.id IN ({','.join('?' * len(ids))})",
        ids,
    )
    rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return rows


def count_matches(ws: Workspace, match: str, cap: int) -> int:
    """How many messages an FTS query matches, counted up to ``cap`` (cheap for common words)."""
    return int(
        ws.scalar(
            "SELECT count(*) FROM (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?"
            " LIMIT ?)",
            (match, cap),
        )
        or 0
    )


#: Up to this many matches, a search looks each one up; beyond it, it walks the time index.
DIRECT_MATCHES = 4000


def newest_matches(
    ws: Workspace, match: str, *, limit: int, before: tuple[int, int] | None = None
) -> list[int]:
    """Ids of the ``limit`` newest messages (by ``(created_at, id)``) matching an FTS query.

    Exact either way. A rare word's matches are few: read them and sort. A common word has too
    many to read one by one, but its matches are dense among recent messages: walk the
    ``messages_time`` index from the newest down, testing each against the match set, and stop
    after ``limit`` hits.
    """
    conn = ws.conn
    count = count_matches(ws, match, DIRECT_MATCHES + 1)
    if count == 0:
        return []
    keyset, params = "", list[Any]([match])
    if before is not None:
        keyset = " AND (m.created_at, m.id) < (?, ?)"
        params.extend(before)
    params.append(limit)
    index = "" if count <= DIRECT_MATCHES else "INDEXED BY messages_time "
    rows = conn.execute(
        f"SELECT m.id FROM messages m {index}"
        f"WHERE m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?){keyset}"
        " ORDER BY m.created_at DESC, m.id DESC LIMIT ?",
        params,
    )
    return [int(r[0]) for r in rows]


def matching_conversations(ws: Workspace, query: str, *, cap: int) -> list[int]:
    """Conversations of the ``cap`` newest messages matching ``query`` (newest match first)."""
    match = fts_query(query)
    if not match:
        return []
    ids = newest_matches(ws, match, limit=cap)
    if not ids:
        return []
    owner = dict(
        ws.conn.execute(
            f"SELECT id, conversation_id FROM messages WHERE id IN ({','.join('?' * len(ids))})",
            ids,
        ).fetchall()
    )
    return list(dict.fromkeys(int(owner[i]) for i in ids if i in owner))


def find_customers(ws: Workspace, text: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Customers whose name or any handle contains ``text`` (for the merge picker)."""
    like = f"%{text.strip()}%"
    return ws.query(
        "SELECT DISTINCT c.id, c.name, c.key FROM customers c"
        " LEFT JOIN identities i ON i.customer_id = c.id"
        " WHERE c.merged_into IS NULL AND (c.name LIKE ? OR i.handle LIKE ? OR c.key LIKE ?)"
        " ORDER BY c.last_contact DESC LIMIT ?",
        (like, like, like, limit),
    )


def set_notes(ws: Workspace, customer_id: int, notes: str) -> None:
    _customer_row(ws, customer_id)
    with ws.transaction():
        ws.conn.execute("UPDATE customers SET notes = ? WHERE id = ?", (notes, customer_id))


def merge_customers(
    ws: Workspace, target_id: int, source_id: int, *, agent: str | None = None, now: int
) -> int:
    """Merge ``source_id`` into ``target_id``; returns the merge's id."""
    if target_id == source_id:
        raise ConsoleError("cannot merge a customer into itself")
    target = _customer_row(ws, target_id)
    source = _customer_row(ws, source_id)
    if target["merged_into"] is not None:
        raise ConsoleError(f"customer {target_id} was merged into {target['merged_into']}")
    if source["merged_into"] is not None:
        raise ConsoleError(f"customer {source_id} was already merged into {source['merged_into']}")
    with ws.transaction() as conn:
        ids = [
            r[0]
            for r in conn.execute("SELECT id FROM identities WHERE customer_id = ?", (source_id,))
        ]
        cur = conn.execute(
            "INSERT INTO merges (target_id, source_id, identity_ids, source_key, agent, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (target_id, source_id, json.dumps(ids), source["key"], agent, now),
        )
        conn.execute(
            "UPDATE identities SET customer_id = ? WHERE customer_id = ?", (target_id, source_id)
        )
        conn.execute(
            "UPDATE conversations SET customer_id = ? WHERE customer_id = ?", (target_id, source_id)
        )
        conn.execute(
            "UPDATE messages SET customer_id = ? WHERE customer_id = ?", (target_id, source_id)
        )
        conn.execute("UPDATE customers SET merged_into = ? WHERE id = ?", (target_id, source_id))
        # Anything merged into the source earlier now points at the target too.
        conn.execute(
            "UPDATE customers SET merged_into = ? WHERE merged_into = ? AND id != ?",
            (target_id, source_id, target_id),
        )
        conn.execute("DELETE FROM flags WHERE customer_id = ?", (source_id,))
        recompute_customers(conn, [target_id, source_id])
    return int(cur.lastrowid or 0)


def unmerge_customer(ws: Workspace, customer_id: int, *, now: int) -> dict[str, int]:
    """Undo the latest merge into ``customer_id`` (or of ``customer_id`` into another)."""
    merge = ws.query_one(
        "SELECT * FROM merges WHERE undone_at IS NULL AND (target_id = ?1 OR source_id = ?1)"
        " ORDER BY id DESC LIMIT 1",
        (customer_id,),
    )
    if merge is None:
        raise ConsoleError(f"customer {customer_id} has no merge to undo")
    target_id, source_id = int(merge["target_id"]), int(merge["source_id"])
    identity_ids = [int(i) for i in json.loads(merge["identity_ids"])]
    marks = ",".join("?" * len(identity_ids)) or "NULL"
    with ws.transaction() as conn:
        owner = conn.execute(
            "SELECT merged_into FROM customers WHERE id = ?", (target_id,)
        ).fetchone()
        current = int(owner[0]) if owner and owner[0] is not None else target_id
        conn.execute(
            f"UPDATE identities SET customer_id = ? WHERE id IN ({marks})",
            (source_id, *identity_ids),
        )
        conn.execute(
            f"UPDATE conversations SET customer_id = ? WHERE identity_id IN ({marks})"
            " AND customer_id = ?",
            (source_id, *identity_ids, current),
        )
        conn.execute(
            f"UPDATE messages SET customer_id = ? WHERE identity_id IN ({marks}) AND customer_id = ?",
            (source_id, *identity_ids, current),
        )
        conn.execute("UPDATE customers SET merged_into = NULL WHERE id = ?", (source_id,))
        conn.execute("UPDATE merges SET undone_at = ? WHERE id = ?", (now, merge["id"]))
        conn.execute("DELETE FROM flags WHERE customer_id IN (?, ?)", (current, source_id))
        recompute_customers(conn, [current, source_id])
    return {"merge": int(merge["id"]), "target": current, "restored": source_id}


def workspace_stats(ws: Workspace) -> dict[str, Any]:
    """Counts for ``stats --json``."""
    by_direction = dict.fromkeys(("inbound", "outbound", "note"), 0)
    names = {"in": "inbound", "out": "outbound", "note": "note"}
    for direction, n in ws.conn.execute("SELECT direction, count(*) FROM messages GROUP BY 1"):
        if direction in names:
            by_direction[names[direction]] = int(n)
    accounts = ws.query(
        "SELECT a.id, a.name, a.channel, a.adapter,"
        " (SELECT count(*) FROM conversations c WHERE c.account_id = a.id) AS conversations"
        " FROM accounts a ORDER BY a.channel, a.name"
    )
    return {
        "customers": ws.scalar("SELECT count(*) FROM customers WHERE merged_into IS NULL"),
        "identities": ws.scalar("SELECT count(*) FROM identities"),
        "conversations": ws.scalar("SELECT count(*) FROM conversations"),
        "messages": by_direction,
        "accounts": accounts,
    }
