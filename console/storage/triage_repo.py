"""Every SQL statement of triage: reading what the rules need, writing flags, groups and figures.

Sets of customers are passed as one JSON array parameter (``json_each``), which SQLite joins to the
indexes (``messages_customer``, ``conversations_customer``, ``identities_customer``, the flags'
primary key), so a query for a few customers never scans the workspace. Duplicate groups are found
by ``group_key``: ``d:<customer>:<first message id>`` for one customer's duplicates and
``s:<norm_hash>`` for a same-issue group, both through the key's unique index.

Functions take an open :class:`~console.storage.db.Workspace`; writers expect to run inside the
caller's transaction (``ws.transaction()`` joins an outer one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from console.storage.db import Workspace

IdList = Sequence[int]


def _ids(ids: Iterable[int]) -> str:
    return json.dumps(sorted({int(i) for i in ids}))


def data_version(ws: Workspace) -> int:
    """Changes whenever another connection commits to the workspace (SQLite's data_version)."""
    return int(ws.scalar("PRAGMA data_version"))


# -- settings -------------------------------------------------------------------------------------


def load_prefixed_settings(ws: Workspace, prefix: str) -> dict[str, str]:
    rows = ws.conn.execute(
        "SELECT key, value FROM settings WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff")
    ).fetchall()
    return {str(k): str(v) for k, v in rows}


def store_settings(ws: Workspace, items: dict[str, str]) -> None:
    with ws.transaction() as conn:
        conn.executemany(
            "INSERT INTO settings (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(items.items()),
        )


# -- language and sentiment -------------------------------------------------------------------


def count_unanalysed(ws: Workspace) -> int:
    return int(
        ws.scalar("SELECT count(*) FROM messages WHERE direction = 'in' AND sentiment IS NULL")
    )


def unanalysed_after(
    ws: Workspace, after_id: int, limit: int
) -> list[tuple[int, str, int | None, str | None]]:
    """(id, text, customer id, language) of inbound messages without sentiment, by id."""
    rows = ws.conn.execute(
        "SELECT id, text, customer_id, language FROM messages"
        " WHERE id > ? AND direction = 'in' AND sentiment IS NULL ORDER BY id LIMIT ?",
        (after_id, limit),
    ).fetchall()
    return [(int(r[0]), str(r[1]), r[2], r[3]) for r in rows]


def unanalysed_among(ws: Workspace, ids: IdList) -> list[tuple[int, str, int | None, str | None]]:
    rows = ws.conn.execute(
        "SELECT m.id, m.text, m.customer_id, m.language FROM json_each(?) j"
        " JOIN messages m ON m.id = j.value WHERE m.direction = 'in' AND m.sentiment IS NULL",
        (_ids(ids),),
    ).fetchall()
    return [(int(r[0]), str(r[1]), r[2], r[3]) for r in rows]


def reset_sentiment(ws: Workspace) -> None:
    """Forget every computed sentiment so a rebuild scores all inbound messages again."""
    with ws.transaction() as conn:
        conn.execute("UPDATE messages SET sentiment = NULL WHERE sentiment IS NOT NULL")


def store_analysis(ws: Workspace, rows: Sequence[tuple[str | None, float, int]]) -> None:
    """(language, sentiment, message id); a language already stored (from the channel) is kept."""
    ws.conn.executemany(
        "UPDATE messages SET language = coalesce(language, ?), sentiment = ? WHERE id = ?", rows
    )


def customer_languages(ws: Workspace, customer_ids: Iterable[int]) -> dict[int, str | None]:
    rows = ws.conn.execute(
        "SELECT c.id, c.language FROM json_each(?) j JOIN customers c ON c.id = j.value",
        (_ids(customer_ids),),
    ).fetchall()
    return {int(r[0]): r[1] for r in rows}


_DOMINANT = """
    WITH counts AS (
        SELECT m.customer_id, m.language, count(*) AS n, max(m.created_at) AS latest
        FROM {source} WHERE m.direction = 'in' AND m.language IS NOT NULL
        GROUP BY m.customer_id, m.language
    ), ranked AS (
        SELECT customer_id, language,
               row_number() OVER (PARTITION BY customer_id ORDER BY n DESC, latest DESC, language)
               AS rank
        FROM counts
    )
    UPDATE customers SET language = ranked.language FROM ranked
    WHERE ranked.customer_id = customers.id AND ranked.rank = 1
      AND customers.language IS NOT ranked.language
"""


def update_dominant_languages(ws: Workspace, customer_ids: Iterable[int] | None = None) -> None:
    """``customers.language`` := the most frequent language of their inbound messages."""
    if customer_ids is None:
        # Every inbound message is read: a scan of the table beats walking the customer index
        # and fetching each row from it (1.3 s against 1.6-2.2 s on 1M messages).
        ws.conn.execute(_DOMINANT.format(source="messages m NOT INDEXED"))
        return
    ws.conn.execute(
        _DOMINANT.format(source="json_each(?) j JOIN messages m ON m.customer_id = j.value"),
        (_ids(customer_ids),),
    )


# -- duplicate groups ---------------------------------------------------------------------------


def inbound_posts(
    ws: Workspace, customer_ids: Iterable[int]
) -> list[tuple[int, int, int, int, str, int | None, float | None]]:
    """(id, customer id, norm_hash, created_at, text, dup_group, sentiment) of the customers'
    inbound posts."""
    # The columns come back as the types above (INTEGER, TEXT and REAL columns, norm_hash not
    # NULL here): no conversion per row (a rebuild reads 600,000).
    rows: list[tuple[int, int, int, int, str, int | None, float | None]] = ws.conn.execute(
        "SELECT m.id, m.customer_id, m.norm_hash, m.created_at, m.text, m.dup_group, m.sentiment"
        " FROM json_each(?) j JOIN messages m ON m.customer_id = j.value"
        " WHERE m.direction = 'in' AND m.norm_hash IS NOT NULL",
        (_ids(customer_ids),),
    ).fetchall()
    return rows


def duplicate_groups_of(ws: Workspace, customer_ids: Iterable[int]) -> dict[str, int]:
    """group_key -> id of the customers' ``duplicates`` groups."""
    rows = ws.conn.execute(
        "SELECT g.group_key, g.id FROM json_each(?) j JOIN dup_groups g"
        " ON g.group_key >= 'd:' || j.value || ':' AND g.group_key < 'd:' || j.value || ';'",
        (_ids(customer_ids),),
    ).fetchall()
    return {str(k): int(i) for k, i in rows}


def group_rows_of(ws: Workspace, customer_ids: Iterable[int]) -> list[dict[str, Any]]:
    return ws.query(
        "SELECT g.* FROM json_each(?) j JOIN dup_groups g"
        " ON g.group_key >= 'd:' || j.value || ':' AND g.group_key < 'd:' || j.value || ';'",
        (_ids(customer_ids),),
    )


def same_issue_groups(ws: Workspace, hashes: Iterable[int]) -> dict[int, dict[str, Any]]:
    """norm_hash -> same-issue group row, for the hashes that have one."""
    keys = json.dumps([f"s:{h}" for h in sorted(set(hashes))])
    rows = ws.query(
        "SELECT g.* FROM json_each(?) j JOIN dup_groups g ON g.group_key = j.value", (keys,)
    )
    return {int(r["norm_hash"]): r for r in rows}


def upsert_group(ws: Workspace, row: dict[str, Any]) -> int:
    """Insert or update a group by its key; returns its id."""
    cur = ws.conn.execute(
        "INSERT INTO dup_groups (kind, group_key, customer_id, norm_hash, size, customers,"
        " first_at, last_at, sample) VALUES (:kind, :group_key, :customer_id, :norm_hash, :size,"
        " :customers, :first_at, :last_at, :sample)"
        " ON CONFLICT (group_key) DO UPDATE SET size = excluded.size,"
        " customers = excluded.customers, first_at = excluded.first_at,"
        " last_at = excluded.last_at, sample = excluded.sample, norm_hash = excluded.norm_hash"
        " RETURNING id",
        row,
    )
    return int(cur.fetchone()[0])


def upsert_groups(ws: Workspace, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert or update groups by key; returns key -> id."""
    if not rows:
        return {}
    ws.conn.executemany(
        "INSERT INTO dup_groups (kind, group_key, customer_id, norm_hash, size, customers,"
        " first_at, last_at, sample) VALUES (:kind, :group_key, :customer_id, :norm_hash, :size,"
        " :customers, :first_at, :last_at, :sample)"
        " ON CONFLICT (group_key) DO UPDATE SET size = excluded.size,"
        " customers = excluded.customers, first_at = excluded.first_at,"
        " last_at = excluded.last_at, sample = excluded.sample, norm_hash = excluded.norm_hash",
        rows,
    )
    keys = json.dumps([r["group_key"] for r in rows])
    found = ws.conn.execute(
        "SELECT g.group_key, g.id FROM json_each(?) j JOIN dup_groups g ON g.group_key = j.value",
        (keys,),
    ).fetchall()
    return {str(k): int(i) for k, i in found}


def delete_groups(ws: Workspace, group_ids: Iterable[int]) -> None:
    ws.conn.execute(
        "DELETE FROM dup_groups WHERE id IN (SELECT value FROM json_each(?))", (_ids(group_ids),)
    )


def set_dup_groups(ws: Workspace, rows: Sequence[tuple[int | None, int]]) -> None:
    """(group id or None, message id)."""
    ws.conn.executemany("UPDATE messages SET dup_group = ? WHERE id = ?", rows)


def hash_figures(
    ws: Workspace, norm_hash: int
) -> tuple[int, int, int | None, int | None, int | None]:
    """(posts, distinct customers, first, last, first message id) of the inbound posts of a hash."""
    row = ws.conn.execute(
        "SELECT count(*), count(DISTINCT customer_id), min(created_at), max(created_at), min(id)"
        " FROM messages WHERE norm_hash = ? AND direction = 'in'",
        (norm_hash,),
    ).fetchone()
    return int(row[0]), int(row[1]), row[2], row[3], row[4]


def hash_posts(
    ws: Workspace, hashes: Iterable[int]
) -> dict[int, list[tuple[int, int, float | None]]]:
    """norm_hash -> (customer id, created_at, sentiment) of its inbound posts, oldest first."""
    rows = ws.conn.execute(
        "SELECT m.norm_hash, m.customer_id, m.created_at, m.sentiment FROM json_each(?) j"
        " JOIN messages m ON m.norm_hash = j.value"
        " WHERE m.direction = 'in' AND m.customer_id IS NOT NULL"
        " ORDER BY m.norm_hash, m.created_at, m.id",
        (_ids(hashes),),
    ).fetchall()
    out: dict[int, list[tuple[int, int, float | None]]] = {}
    for norm_hash, customer_id, created_at, sentiment in rows:
        out.setdefault(int(norm_hash), []).append((int(customer_id), int(created_at), sentiment))
    return out


def message_text(ws: Workspace, message_id: int) -> str:
    return str(ws.scalar("SELECT text FROM messages WHERE id = ?", (message_id,)) or "")


def claim_same_issue_members(ws: Workspace, norm_hash: int, group_id: int) -> None:
    """Posts of a new same-issue group that are in no duplicates group point at it."""
    ws.conn.execute(
        "UPDATE messages SET dup_group = ? WHERE norm_hash = ? AND direction = 'in'"
        " AND dup_group IS NULL",
        (group_id, norm_hash),
    )


def release_same_issue(ws: Workspace, norm_hash: int, group_id: int) -> None:
    """Posts of a same-issue group about to be deleted point nowhere."""
    ws.conn.execute(
        "UPDATE messages SET dup_group = NULL WHERE norm_hash = ? AND dup_group = ?",
        (norm_hash, group_id),
    )


def bump_same_issue(
    ws: Workspace, group_id: int, posts: int, customers: int, first_at: int, last_at: int
) -> None:
    ws.conn.execute(
        "UPDATE dup_groups SET size = size + ?, customers = customers + ?,"
        " first_at = min(coalesce(first_at, ?3), ?3), last_at = max(coalesce(last_at, ?4), ?4)"
        " WHERE id = ?5",
        (posts, customers, first_at, last_at, group_id),
    )


def clear_all_groups(ws: Workspace) -> None:
    ws.conn.execute("UPDATE messages SET dup_group = NULL WHERE dup_group IS NOT NULL")
    ws.conn.execute("DELETE FROM dup_groups")


def same_issue_candidates(
    ws: Workspace, min_customers: int
) -> list[tuple[int, int, int, int, int, int]]:
    """(norm_hash, posts, customers, first, last, first message id) of hashes many customers posted."""
    # NOT INDEXED: every inbound message is read, and a scan of the table is faster than the
    # norm_hash index with a row fetch for each entry (1.0 s against 1.9-9 s on 1M messages).
    rows = ws.conn.execute(
        "SELECT norm_hash, count(*), count(DISTINCT customer_id), min(created_at),"
        " max(created_at), min(id) FROM messages NOT INDEXED"
        " WHERE norm_hash IS NOT NULL AND direction = 'in'"
        " GROUP BY norm_hash HAVING count(DISTINCT customer_id) >= ?",
        (min_customers,),
    ).fetchall()
    return [tuple(int(v) for v in r) for r in rows]  # type: ignore[misc]


def texts_of(ws: Workspace, message_ids: Iterable[int]) -> dict[int, str]:
    rows = ws.conn.execute(
        "SELECT m.id, m.text FROM json_each(?) j JOIN messages m ON m.id = j.value",
        (_ids(message_ids),),
    ).fetchall()
    return {int(r[0]): str(r[1]) for r in rows}


def insert_groups(ws: Workspace, rows: Sequence[dict[str, Any]]) -> None:
    ws.conn.executemany(
        "INSERT INTO dup_groups (kind, group_key, customer_id, norm_hash, size, customers,"
        " first_at, last_at, sample) VALUES (:kind, :group_key, :customer_id, :norm_hash, :size,"
        " :customers, :first_at, :last_at, :sample)",
        rows,
    )


def claim_all_same_issue_members(ws: Workspace) -> None:
    ws.conn.execute(
        "UPDATE messages SET dup_group = g.id FROM dup_groups g"
        " WHERE g.kind = 'same_issue' AND messages.norm_hash = g.norm_hash"
        " AND messages.direction = 'in'"
    )


# -- what the rules read --------------------------------------------------------------------------


def customer_rows(ws: Workspace, customer_ids: Iterable[int]) -> list[dict[str, Any]]:
    return ws.query(
        "SELECT c.id, c.reach, c.tier, c.language, c.merged_into, c.flag_mask, c.priority"
        " FROM json_each(?) j JOIN customers c ON c.id = j.value",
        (_ids(customer_ids),),
    )


def identity_rows(
    ws: Workspace, customer_ids: Iterable[int]
) -> list[tuple[int, str, str, int | None]]:
    """(customer id, channel, handle, followers)."""
    rows: list[tuple[int, str, str, int | None]] = ws.conn.execute(
        "SELECT i.customer_id, i.channel, i.handle, i.followers FROM json_each(?) j"
        " JOIN identities i ON i.customer_id = j.value",
        (_ids(customer_ids),),
    ).fetchall()
    return rows  # INTEGER and TEXT columns: already int and str


def conversation_rows(ws: Workspace, customer_ids: Iterable[int]) -> list[dict[str, Any]]:
    return ws.query(
        "SELECT c.id, c.customer_id, c.account_id, c.channel, c.status, c.started_at,"
        " c.started_by_customer, c.waiting_since, c.paused_s, c.deadline_at, c.priority,"
        " c.flag_mask FROM json_each(?) j JOIN conversations c ON c.customer_id = j.value",
        (_ids(customer_ids),),
    )


def customers_of_conversations(ws: Workspace, conversation_ids: Iterable[int]) -> set[int]:
    rows = ws.conn.execute(
        "SELECT DISTINCT c.customer_id FROM json_each(?) j JOIN conversations c ON c.id = j.value"
        " WHERE c.customer_id IS NOT NULL",
        (_ids(conversation_ids),),
    ).fetchall()
    return {int(r[0]) for r in rows}


def merged_into_any(ws: Workspace, customer_ids: Iterable[int]) -> set[int]:
    """Customers merged into one of these (their groups and flags must go)."""
    rows = ws.conn.execute(
        "SELECT id FROM customers WHERE merged_into IN (SELECT value FROM json_each(?))",
        (_ids(customer_ids),),
    ).fetchall()
    return {int(r[0]) for r in rows}


def live_customer_count(ws: Workspace) -> int:
    return int(ws.scalar("SELECT count(*) FROM customers WHERE merged_into IS NULL"))


def account_rows(ws: Workspace) -> list[dict[str, Any]]:
    return ws.query("SELECT id, channel, response_target_s, business_hours FROM accounts")


def recent_post_rows(
    ws: Workspace, customer_ids: Iterable[int], window_s: int
) -> list[tuple[Any, ...]]:
    """Messages of each customer within ``window_s`` before (and at) their latest inbound one.

    (id, customer id, conversation id, channel, direction, created_at, text, sentiment, language,
    is_public, account id)
    """
    return ws.conn.execute(
        "WITH latest AS (SELECT j.value AS cid, (SELECT created_at FROM messages"
        "   WHERE customer_id = j.value AND direction = 'in' ORDER BY created_at DESC LIMIT 1) AS t"
        "   FROM json_each(?) j)"
        " SELECT m.id, m.customer_id, m.conversation_id, m.channel, m.direction, m.created_at,"
        " m.text, m.sentiment, m.language, m.is_public, m.account_id"
        " FROM latest JOIN messages m ON m.customer_id = latest.cid"
        "  AND m.created_at >= latest.t - ? AND m.created_at <= latest.t"
        " WHERE latest.t IS NOT NULL AND m.direction IN ('in', 'out')",
        (_ids(customer_ids), window_s),
    ).fetchall()


def first_message_ids(ws: Workspace, conversation_ids: Iterable[int]) -> dict[int, int]:
    rows = ws.conn.execute(
        "SELECT j.value, (SELECT id FROM messages WHERE conversation_id = j.value"
        " ORDER BY created_at, id LIMIT 1) FROM json_each(?) j",
        (_ids(conversation_ids),),
    ).fetchall()
    return {int(c): int(m) for c, m in rows if m is not None}


def waiting_message_ids(ws: Workspace, waits: Sequence[tuple[int, int]]) -> dict[int, int]:
    """conversation id -> the inbound message at ``waiting_since``, for (conversation, since) pairs."""
    if not waits:
        return {}
    rows = ws.conn.execute(
        "WITH w AS (SELECT json_extract(value, '$[0]') AS conv, json_extract(value, '$[1]') AS t"
        " FROM json_each(?))"
        " SELECT w.conv, (SELECT id FROM messages WHERE conversation_id = w.conv"
        " AND created_at = w.t AND direction = 'in' ORDER BY id LIMIT 1) FROM w",
        (json.dumps([[int(c), int(t)] for c, t in waits]),),
    ).fetchall()
    return {int(c): int(m) for c, m in rows if m is not None}


def flag_rows(ws: Workspace, customer_ids: Iterable[int]) -> list[dict[str, Any]]:
    return ws.query(
        "SELECT f.customer_id, f.kind, f.score, f.reasons, f.message_ids, f.updated_at"
        " FROM json_each(?) j JOIN flags f ON f.customer_id = j.value",
        (_ids(customer_ids),),
    )


# -- what the rules write -------------------------------------------------------------------------


def replace_flags(
    ws: Workspace,
    customer_ids: Iterable[int],
    rows: Sequence[tuple[int, str, float, str, str, int]],
) -> None:
    """Make the customers' flags exactly ``rows`` (customer, kind, score, reasons, ids, time).

    A flag whose content did not change keeps its ``updated_at``.
    """
    ids = _ids(customer_ids)
    wanted = {(r[0], r[1]) for r in rows}
    stale = [
        (cid, kind)
        for cid, kind in ws.conn.execute(
            "SELECT f.customer_id, f.kind FROM json_each(?) j JOIN flags f ON f.customer_id = j.value",
            (ids,),
        )
        if (cid, kind) not in wanted
    ]
    ws.conn.executemany("DELETE FROM flags WHERE customer_id = ? AND kind = ?", stale)
    ws.conn.executemany(
        "INSERT INTO flags (customer_id, kind, score, reasons, message_ids, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (customer_id, kind) DO UPDATE SET"
        " score = excluded.score, reasons = excluded.reasons, message_ids = excluded.message_ids,"
        " updated_at = CASE WHEN flags.score = excluded.score AND flags.reasons = excluded.reasons"
        " AND flags.message_ids = excluded.message_ids THEN flags.updated_at"
        " ELSE excluded.updated_at END",
        rows,
    )


def update_customer_figures(ws: Workspace, rows: Sequence[tuple[int, float, int]]) -> None:
    """(flag_mask, priority, customer id)."""
    ws.conn.executemany(
        "UPDATE customers SET flag_mask = ?1, priority = ?2 WHERE id = ?3"
        " AND (flag_mask IS NOT ?1 OR priority IS NOT ?2)",
        rows,
    )


def update_conversation_figures(
    ws: Workspace, rows: Sequence[tuple[int | None, int, float, int]]
) -> None:
    """(deadline_at, flag_mask, priority, conversation id); unchanged rows are not rewritten."""
    ws.conn.executemany(
        "UPDATE conversations SET deadline_at = ?1, flag_mask = ?2, priority = ?3 WHERE id = ?4"
        " AND (deadline_at IS NOT ?1 OR flag_mask IS NOT ?2 OR priority IS NOT ?3)",
        rows,
    )


# -- whole-workspace passes -----------------------------------------------------------------------


def live_customer_ids(ws: Workspace) -> list[int]:
    return [
        int(r[0])
        for r in ws.conn.execute("SELECT id FROM customers WHERE merged_into IS NULL ORDER BY id")
    ]


def reset_merged_and_orphans(ws: Workspace) -> None:
    """Merged customers carry nothing; conversations without a customer have no flags."""
    conn = ws.conn
    conn.execute(
        "DELETE FROM flags WHERE customer_id IN (SELECT id FROM customers WHERE merged_into IS NOT NULL)"
    )
    conn.execute(
        "UPDATE customers SET flag_mask = 0, priority = 0 WHERE merged_into IS NOT NULL"
        " AND (flag_mask != 0 OR priority != 0)"
    )
    conn.execute(
        "UPDATE conversations SET flag_mask = 0, priority = 0, deadline_at = NULL"
        " WHERE customer_id IS NULL AND (flag_mask != 0 OR priority != 0 OR deadline_at IS NOT NULL)"
    )
    conn.execute("DELETE FROM flags WHERE customer_id NOT IN (SELECT id FROM customers)")


def customers_due(ws: Workspace, now: int, breach_bit: int) -> list[int]:
    """Customers with an open conversation past its deadline whose breach is not flagged yet."""
    rows = ws.conn.execute(
        "SELECT DISTINCT customer_id FROM conversations WHERE status = 'open'"
        " AND waiting_since IS NOT NULL AND deadline_at <= ? AND customer_id IS NOT NULL"
        " AND (flag_mask & ?) = 0",
        (now, breach_bit),
    ).fetchall()
    return [int(r[0]) for r in rows]


def customers_waiting(ws: Workspace, since: int) -> list[int]:
    """Customers with an open conversation whose deadline urgency still moved after ``since``
    (it stops growing at twice the target: ``2 * deadline_at - waiting_since``)."""
    rows = ws.conn.execute(
        "SELECT DISTINCT customer_id FROM conversations WHERE status = 'open'"
        " AND waiting_since IS NOT NULL AND deadline_at IS NOT NULL AND customer_id IS NOT NULL"
        " AND 2 * deadline_at - waiting_since >= ?",
        (since,),
    ).fetchall()
    return [int(r[0]) for r in rows]


# -- what the GUI and the CLI read ----------------------------------------------------------------


def group_row(ws: Workspace, group_id: int) -> dict[str, Any] | None:
    return ws.query_one("SELECT * FROM dup_groups WHERE id = ?", (group_id,))


def group_members(ws: Workspace, group: dict[str, Any]) -> list[dict[str, Any]]:
    """The posts of a group, oldest first: by dup_group among the customer's posts for a
    duplicates group, by norm_hash for a same-issue group (a post in both belongs to its
    customer's duplicates group in ``messages.dup_group``)."""
    columns = (
        "m.id, m.channel, m.external_id, m.customer_id, m.conversation_id, m.author,"
        " m.created_at, m.text, m.language, m.sentiment"
    )
    if group["kind"] == "same_issue":
        return ws.query(
            f"SELECT {columns} FROM messages m WHERE m.norm_hash = ? AND m.direction = 'in'"
            " ORDER BY m.created_at, m.id",
            (group["norm_hash"],),
        )
    return ws.query(
        f"SELECT {columns} FROM messages m WHERE m.customer_id = ? AND m.dup_group = ?"
        " ORDER BY m.created_at, m.id",
        (group["customer_id"], group["id"]),
    )


def all_groups(ws: Workspace, kind: str | None = None) -> list[dict[str, Any]]:
    if kind is None:
        return ws.query("SELECT * FROM dup_groups ORDER BY id")
    return ws.query("SELECT * FROM dup_groups WHERE kind = ? ORDER BY id", (kind,))


def member_refs(ws: Workspace) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """Members of every group as CHANNEL:EXTERNAL_ID: (by duplicates group id, by norm_hash)."""
    by_group: dict[int, list[str]] = {}
    for gid, ref in ws.conn.execute(
        "SELECT m.dup_group, m.channel || ':' || m.external_id FROM messages m"
        " JOIN dup_groups g ON g.id = m.dup_group WHERE g.kind = 'duplicates'"
        " ORDER BY m.created_at, m.id"
    ):
        by_group.setdefault(int(gid), []).append(str(ref))
    by_hash: dict[int, list[str]] = {}
    for h, ref in ws.conn.execute(
        "SELECT m.norm_hash, m.channel || ':' || m.external_id FROM dup_groups g"
        " JOIN messages m ON m.norm_hash = g.norm_hash AND m.direction = 'in'"
        " WHERE g.kind = 'same_issue' ORDER BY m.created_at, m.id"
    ):
        by_hash.setdefault(int(h), []).append(str(ref))
    return by_group, by_hash


def customer_list(ws: Workspace, flag_bit: int | None = None) -> list[dict[str, Any]]:
    """Live (not merged) customers with their figures, optionally only those with a flag bit."""
    where = "merged_into IS NULL" + (" AND (flag_mask & :bit) != 0" if flag_bit else "")
    return ws.query(
        "SELECT id, key, name, language, tier, reach, inbound_count, outbound_count,"
        " conversation_count, first_contact, last_contact, flag_mask, priority"
        f" FROM customers WHERE {where} ORDER BY id",
        {"bit": flag_bit or 0},
    )


def all_identities(ws: Workspace) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for row in ws.query(
        "SELECT customer_id, channel, handle, followers FROM identities ORDER BY channel, handle"
    ):
        out.setdefault(int(row["customer_id"]), []).append(row)
    return out


def all_flags(ws: Workspace) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for row in ws.query(
        "SELECT customer_id, kind, score, reasons, message_ids FROM flags ORDER BY score DESC, kind"
    ):
        out.setdefault(int(row["customer_id"]), []).append(row)
    return out
