"""The inbox queries: one :class:`~console.inbox_filter.InboxFilter` becomes keyset-paged SQL.

Every page is an index range read, never ``OFFSET``: a page continues strictly after the sort key
of the previous page's last row (:attr:`InboxRow.key`). Each status is read through the index
that starts with ``status`` and the per-status pages are merged in Python, because SQLite cannot
read several ranges of one index in order (an ``IN`` on the leading column would sort every match).

Sort keys ascend in Python for every sort, so merging and placing a live update use one
comparison:

- ``activity``: newest activity first -- ``(-last_activity, -id)``;
- ``priority``: highest priority first -- ``(-priority, -id)``;
- ``waiting``: conversations waiting for us, longest wait first -- ``(0, waiting_since, id)``,
  then the others by activity -- ``(1, -last_activity, -id)``.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from console.domain import Status
from console.inbox_filter import InboxFilter, Sort
from console.storage.customers import count_matches, fts_query, matching_conversations
from console.storage.db import Workspace
from console.storage.metrics import AT_RISK_S
from console.triage.flagbits import mask_of

PAGE = 100
#: Matching messages an inbox search looks at (the newest ones): a common word stays instant.
SEARCH_CAP = 1000
SortKey = tuple[float, ...]


@dataclass(frozen=True, slots=True)
class InboxRow:
    """What one inbox row shows; built once per fetch, then only read by the item model."""

    id: int
    channel: str
    account_id: int
    account: str
    customer_id: int | None
    customer: str
    handle: str
    snippet: str
    subject: str | None
    status: str
    assignee: str | None
    last_activity: int
    waiting_since: int | None
    deadline_at: int | None
    priority: float
    flag_mask: int
    message_count: int
    tags: tuple[str, ...]
    snoozed_until: int | None
    is_public: bool
    key: SortKey


_SELECT = (
    "SELECT c.id, c.channel, c.account_id, a.name, c.customer_id, cu.name, i.handle, c.snippet,"
    " c.subject, c.status, c.assignee, c.last_activity, c.waiting_since, c.deadline_at,"
    " c.priority, c.flag_mask, c.message_count, c.tags, c.snoozed_until, c.is_public"
    " FROM conversations c"
    " JOIN accounts a ON a.id = c.account_id"
    " LEFT JOIN customers cu ON cu.id = c.customer_id"
    " LEFT JOIN identities i ON i.id = c.identity_id"
)


def sort_key(
    sort: Sort, last_activity: int, waiting_since: int | None, priority: float, id_: int
) -> SortKey:
    if sort == "priority":
        return (-float(priority), -id_)
    if sort == "waiting":
        if waiting_since is not None:
            return (0, waiting_since, id_)
        return (1, -last_activity, -id_)
    return (-last_activity, -id_)


def _row(raw: Sequence[Any], sort: Sort) -> InboxRow:
    (cid, channel, account_id, account, customer_id, customer, handle, snippet_, subject, status,
     assignee, last_activity, waiting_since, deadline_at, priority, flag_mask, message_count, tags,
     snoozed_until, is_public) = raw  # fmt: skip
    try:
        tag_list = tuple(str(t) for t in json.loads(tags or "[]"))
    except (ValueError, TypeError):
        tag_list = ()
    return InboxRow(
        id=int(cid),
        channel=str(channel),
        account_id=int(account_id),
        account=str(account),
        customer_id=customer_id,
        customer=str(customer or handle or "Unknown customer"),
        handle=str(handle or ""),
        snippet=str(snippet_ or ""),
        subject=subject,
        status=str(status),
        assignee=assignee,
        last_activity=int(last_activity),
        waiting_since=waiting_since,
        deadline_at=deadline_at,
        priority=float(priority or 0.0),
        flag_mask=int(flag_mask or 0),
        message_count=int(message_count or 0),
        tags=tag_list,
        snoozed_until=snoozed_until,
        is_public=bool(is_public),
        key=sort_key(sort, int(last_activity), waiting_since, float(priority or 0.0), int(cid)),
    )


def _filter_clauses(ws: Workspace, f: InboxFilter, now: int) -> tuple[list[str], list[Any]]:
    """WHERE clauses of everything but status and sort (shared by pages, counts and lookups)."""
    where: list[str] = []
    params: list[Any] = []

    def among(column: str, values: Iterable[Any]) -> None:
        items = sorted(str(v) if not isinstance(v, int) else v for v in values)
        where.append(f"{column} IN ({','.join('?' * len(items))})")
        params.extend(items)

    if f.channels:
        among("c.channel", (str(c) for c in f.channels))
    if f.account_ids:
        among("c.account_id", f.account_ids)
    if f.assignee is not None:
        if f.assignee == "":
            where.append("c.assignee IS NULL")
        else:
            where.append("c.assignee = ?")
            params.append(f.assignee)
    if f.flags:
        where.append("(c.flag_mask & ?) != 0")
        params.append(mask_of(f.flags))
    if f.waiting_only:
        where.append("c.waiting_since IS NOT NULL")
    if f.at_risk:
        where.append("c.deadline_at >= ? AND c.deadline_at < ?")
        params.extend((now, now + AT_RISK_S))
    if f.breached:
        where.append("c.deadline_at < ? AND c.waiting_since IS NOT NULL")
        params.append(now)
    if f.tags:
        marks = ",".join("?" * len(f.tags))
        where.append(f"EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value IN ({marks}))")
        params.extend(sorted(f.tags))
    text = f.search.strip()
    if text:
        ids = search_conversations(ws, text)
        where.append(f"c.id IN ({','.join('?' * len(ids))})" if ids else "0")
        params.extend(ids)
    return where, params


#: What a search result was computed against: ("inbox-search", text, newest message id seen).
SearchKey = tuple[str, str, Any]


def find_for_search(ws: Workspace, text: str) -> tuple[SearchKey, list[int]]:
    """:func:`search_conversations` with what it was computed against, for a background
    connection to compute and :func:`remember_search` to hand to the GUI's (the search then
    pages without searching)."""
    found = search_conversations(ws, text)
    newest, _ = ws.memo[("inbox-search", text)]
    return ("inbox-search", text, newest), found


def remember_search(ws: Workspace, key: SearchKey, found: list[int]) -> None:
    """Keep a search result (perhaps another connection's), one per text. Once messages are
    added after the newest one it saw, only those are searched and their conversations put
    first."""
    if len(ws.memo) > 32:
        ws.memo.clear()
    ws.memo[("inbox-search", key[1])] = (key[2], list(found))


def _first_column(ws: Workspace, sql: str, params: Sequence[Any]) -> list[int]:
    return [int(r[0]) for r in ws.conn.execute(sql, params)]


def _handles(text: str) -> tuple[str, str]:
    handle = text.lstrip("@")
    return handle, "@" + handle


def _search_since(ws: Workspace, text: str, after_id: int) -> list[int]:
    """Conversations of the messages after ``after_id`` that the search finds (newest first)."""
    by_handle = _first_column(
        ws,
        "SELECT m.conversation_id FROM messages m WHERE m.id > ? AND m.customer_id IN"
        " (SELECT customer_id FROM identities WHERE handle IN (?, ?)) ORDER BY m.id DESC",
        (after_id, *_handles(text)),
    )
    match = fts_query(text)
    if not match:
        return by_handle
    by_words = _first_column(
        ws,
        "SELECT m.conversation_id FROM messages_fts f JOIN messages m ON m.id = f.rowid"
        " WHERE messages_fts MATCH ? AND f.rowid > ? ORDER BY f.rowid DESC",
        (match, after_id),
    )
    return [*by_handle, *by_words]


def search_conversations(ws: Workspace, text: str) -> list[int]:
    """Conversations the inbox search shows: those of the customer with that exact handle, and
    those of the :data:`SEARCH_CAP` newest messages matching the words (memoised per query
    until a message is added, so paging does not search again)."""
    newest = ws.scalar("SELECT max(id) FROM messages")
    seen = ws.memo.get(("inbox-search", text))
    if seen is not None and seen[0] == newest:
        return list(seen[1])
    if seen is not None and seen[0] is not None and newest is not None and seen[0] < newest:
        # Messages were added since this search last ran (a live inbox): search only those.
        found = list(dict.fromkeys([*_search_since(ws, text, int(seen[0])), *seen[1]]))
    else:
        # an exact handle finds that customer's conversations (through the customer index)
        by_handle = _first_column(
            ws,
            "SELECT c.id FROM conversations c WHERE c.customer_id IN"
            " (SELECT customer_id FROM identities WHERE handle IN (?, ?))",
            _handles(text),
        )
        found = list(dict.fromkeys([*by_handle, *matching_conversations(ws, text, cap=SEARCH_CAP)]))
    remember_search(ws, ("inbox-search", text, newest), found)
    return list(found)


def search_is_capped(ws: Workspace, text: str) -> bool:
    """Whether a search has more matching messages than the inbox looks at."""
    match = fts_query(text)
    if not match:
        return False
    return count_matches(ws, match, SEARCH_CAP + 1) > SEARCH_CAP


def _statuses(f: InboxFilter) -> list[str]:
    return sorted(str(s) for s in (f.statuses or frozenset(Status)))


def _order_and_after(
    sort: Sort, after: SortKey | None, phase: int
) -> tuple[list[str], list[Any], str]:
    """Keyset condition and ORDER BY for one sort (``phase`` 0/1 for the two waiting parts)."""
    where: list[str] = []
    params: list[Any] = []
    if sort == "priority":
        if after is not None:
            where.append("(c.priority, c.id) < (?, ?)")
            params.extend((-after[0], -after[1]))
        return where, params, "c.priority DESC, c.id DESC"
    if sort == "waiting" and phase == 0:
        where.append("c.waiting_since IS NOT NULL")
        if after is not None and after[0] == 0:
            where.append("(c.waiting_since, c.id) > (?, ?)")
            params.extend((after[1], after[2]))
        return where, params, "c.waiting_since, c.id"
    if sort == "waiting":
        where.append("c.waiting_since IS NULL")
        if after is not None and after[0] == 1:
            where.append("(c.last_activity, c.id) < (?, ?)")
            params.extend((-after[1], -after[2]))
        return where, params, "c.last_activity DESC, c.id DESC"
    if after is not None:
        where.append("(c.last_activity, c.id) < (?, ?)")
        params.extend((-after[0], -after[1]))
    return where, params, "c.last_activity DESC, c.id DESC"


def _phases(sort: Sort, after: SortKey | None) -> list[int]:
    if sort != "waiting":
        return [0]
    if after is not None and after[0] == 1:
        return [1]
    return [0, 1]


def inbox_page(
    ws: Workspace, f: InboxFilter, *, now: int, after: SortKey | None = None, limit: int = PAGE
) -> list[InboxRow]:
    """The next ``limit`` rows after the row whose sort key is ``after`` (None: the first page)."""
    base, base_params = _filter_clauses(ws, f, now)
    if f.conversation_ids:
        return _pinned_page(ws, f, base, base_params, after, limit)
    rows: list[InboxRow] = []
    for phase in _phases(f.sort, after):
        streams = []
        for status in _statuses(f):
            keyset, keyset_params, order = _order_and_after(f.sort, after, phase)
            where = ["c.status = ?", *base, *keyset]
            sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
            raw = ws.conn.execute(sql, [status, *base_params, *keyset_params, limit]).fetchall()
            streams.append([_row(r, f.sort) for r in raw])
        merged = heapq.merge(*streams, key=lambda r: r.key)
        for row in merged:
            rows.append(row)
            if len(rows) >= limit:
                return rows
    return rows


def _pinned_page(
    ws: Workspace,
    f: InboxFilter,
    base: list[str],
    base_params: list[Any],
    after: SortKey | None,
    limit: int,
) -> list[InboxRow]:
    """A supervisor drill-down: exactly the named conversations (few), whatever their status."""
    ids = list(f.conversation_ids)
    rows: list[InboxRow] = []
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        where = [f"c.id IN ({','.join('?' * len(part))})", *base]
        raw = ws.conn.execute(f"{_SELECT} WHERE {' AND '.join(where)}", [*part, *base_params])
        rows.extend(_row(r, f.sort) for r in raw)
    rows.sort(key=lambda r: r.key)
    if after is not None:
        rows = [r for r in rows if r.key > after]
    return rows[:limit]


def inbox_rows(ws: Workspace, f: InboxFilter, ids: Iterable[int], *, now: int) -> list[InboxRow]:
    """Those of ``ids`` that the filter shows now (for live updates), in no particular order."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    base, base_params = _filter_clauses(ws, f, now)
    if f.conversation_ids:
        pinned = set(f.conversation_ids)
        wanted = [i for i in wanted if i in pinned]
    else:
        statuses = _statuses(f)
        base = [f"c.status IN ({','.join('?' * len(statuses))})", *base]
        base_params = [*statuses, *base_params]
    out: list[InboxRow] = []
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        where = [f"c.id IN ({','.join('?' * len(part))})", *base]
        raw = ws.conn.execute(f"{_SELECT} WHERE {' AND '.join(where)}", [*part, *base_params])
        out.extend(_row(r, f.sort) for r in raw)
    return out


def inbox_count(ws: Workspace, f: InboxFilter, *, now: int) -> int:
    """How many conversations the filter shows (counted per status through the status index)."""
    base, base_params = _filter_clauses(ws, f, now)
    if f.conversation_ids:
        return len(_pinned_page(ws, f, base, base_params, None, len(f.conversation_ids)))
    total = 0
    for status in _statuses(f):
        where = " AND ".join(["c.status = ?", *base])
        total += int(
            ws.conn.execute(
                f"SELECT count(*) FROM conversations c WHERE {where}", [status, *base_params]
            ).fetchone()[0]
        )
    return total


def status_counts(ws: Workspace) -> dict[str, int]:
    """Conversations per status, for the filter bar's badges."""
    return {
        str(s): int(n)
        for s, n in ws.conn.execute("SELECT status, count(*) FROM conversations GROUP BY status")
    }
