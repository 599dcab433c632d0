"""Recomputing denormalised figures from the messages themselves.

Ingest keeps conversation and customer figures up to date incrementally; these functions rebuild
them from scratch for the rare cases that move messages around (adopting orphaned replies, customer
merges and un-merges) and for full rebuilds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from console.textutil import snippet


def merge_conversations(conn: sqlite3.Connection, source: int, target: int) -> None:
    """Move every message of conversation ``source`` into ``target`` and drop ``source``."""
    # The moved messages (and replies on their way) take the target's account: one
    # conversation, one account.
    account = conn.execute(
        "SELECT account_id FROM conversations WHERE id = ?", (target,)
    ).fetchone()
    conn.execute(
        "UPDATE messages SET conversation_id = ?1, account_id = coalesce(?3, account_id)"
        " WHERE conversation_id = ?2",
        (target, source, account[0] if account else None),
    )
    conn.execute(
        "UPDATE outbox SET conversation_id = ?1, account_id = coalesce(?3, account_id)"
        " WHERE conversation_id = ?2",
        (target, source, account[0] if account else None),
    )
    drafts = conn.execute("SELECT 1 FROM drafts WHERE conversation_id = ?", (target,)).fetchone()
    if drafts is None:
        conn.execute(
            "UPDATE drafts SET conversation_id = ? WHERE conversation_id = ?", (target, source)
        )
    conn.execute("DELETE FROM drafts WHERE conversation_id = ?", (source,))
    old = conn.execute("SELECT customer_id FROM conversations WHERE id = ?", (source,)).fetchone()
    conn.execute("DELETE FROM conversations WHERE id = ?", (source,))
    recompute_conversations(conn, [target])
    customers = {old[0]} if old and old[0] is not None else set()
    row = conn.execute("SELECT customer_id FROM conversations WHERE id = ?", (target,)).fetchone()
    if row and row[0] is not None:
        customers.add(row[0])
    recompute_customers(conn, customers)


def recompute_conversations(conn: sqlite3.Connection, ids: Iterable[int]) -> None:
    for conv_id in ids:
        rows = conn.execute(
            "SELECT direction, created_at, text, customer_id, identity_id, subject FROM messages "
            "WHERE conversation_id = ? ORDER BY created_at, id",
            (conv_id,),
        ).fetchall()
        if not rows:
            continue
        first_in = last_in = first_resp = waiting = None
        customer = identity = None
        subject = None
        last_text = rows[0][2]
        for direction, at, text, cust, ident, subj in rows:
            subject = subject or subj
            if direction == "in":
                if customer is None:
                    customer, identity = cust, ident
                first_in = at if first_in is None else first_in
                last_in = at
                if waiting is None:
                    waiting = at
            elif direction == "out":
                waiting = None
                if first_in is not None and first_resp is None:
                    first_resp = at
            if direction in ("in", "out"):
                last_text = text
        first = rows[0]
        if customer is None:
            customer, identity = first[3], first[4]
        conn.execute(
            "UPDATE conversations SET started_at = ?, started_by_customer = ?, last_activity = ?,"
            " first_inbound_at = ?, last_inbound_at = ?, first_response_at = ?, waiting_since = ?,"
            " message_count = ?, snippet = ?, customer_id = coalesce(customer_id, ?),"
            " identity_id = coalesce(identity_id, ?), subject = coalesce(subject, ?) WHERE id = ?",
            (
                first[1],
                1 if first[0] == "in" else 0,
                rows[-1][1],
                first_in,
                last_in,
                first_resp,
                waiting,
                len(rows),
                snippet(last_text),
                customer,
                identity,
                subject,
                conv_id,
            ),
        )


def recompute_customers(conn: sqlite3.Connection, ids: Iterable[int]) -> None:
    for cust_id in ids:
        counts = conn.execute(
            "SELECT sum(direction = 'in'), sum(direction = 'out'), min(created_at), max(created_at)"
            " FROM messages WHERE customer_id = ? AND direction IN ('in', 'out')",
            (cust_id,),
        ).fetchone()
        convs = conn.execute(
            "SELECT count(*) FROM conversations WHERE customer_id = ?", (cust_id,)
        ).fetchone()[0]
        reach = conn.execute(
            "SELECT coalesce(max(followers), 0) FROM identities WHERE customer_id = ?", (cust_id,)
        ).fetchone()[0]
        conn.execute(
            "UPDATE customers SET inbound_count = ?, outbound_count = ?, first_contact = ?,"
            " last_contact = ?, conversation_count = ?, reach = ? WHERE id = ?",
            (counts[0] or 0, counts[1] or 0, counts[2], counts[3], convs, reach, cust_id),
        )
