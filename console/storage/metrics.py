"""Supervisor figures, alerts and reports: every SQL query behind the side panel, ``stats`` and ``report``.

Definitions (the panel, ``stats --json`` and ``report`` all read them from here):

- **open**: status ``open`` (pending, snoozed and resolved conversations are not in the queue).
- **waiting**: open, the customer wrote and nobody has answered yet (``waiting_since`` set and no
  ``first_response_at``). **Oldest waiting** is the earliest ``waiting_since`` among them.
- **awaiting a reply**: open with ``waiting_since`` set (a first message or a follow-up).
- **at risk**: awaiting a reply with its ``deadline_at`` (written by triage) less than
  :data:`AT_RISK_S` ahead; **breached**: awaiting a reply with ``deadline_at`` already past.
- **first-response time**: ``first_response_at - first_inbound_at``; **responded**: has one.
- **reply**: an outbound message that did not fail.
- **breach** in reports and in the trend: decided by ``services.metrics.BreachRule`` from the
  :class:`Clocks` read here (the first response came, or is still missing, after the due moment).
- **repeat contact**: after a conversation's first response, the same customer started another
  conversation (any channel) within :data:`REPEAT_WINDOW_S`.

Cost: live queries read index ranges bounded by the open queue (``conversations_waiting``,
``conversations_account``) or by recent activity (``conversations_activity`` then
``messages_conversation``); a group's posts come through ``messages_norm`` or
``messages_customer``. None reads the whole message table (``tests/unit/metrics`` checks the query
plans); the one whole-workspace read is ``account_stats`` for ``stats --json``.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from console.domain import Status
from console.storage.db import Workspace

#: A deadline this close (seconds) counts as at risk.
AT_RISK_S = 15 * 60
#: A new conversation this soon after a first response counts as a repeat contact.
REPEAT_WINDOW_S = 7 * 24 * 3600
#: How long after its last activity a conversation can still breach (weekends under business hours).
_BREACH_SLACK_S = 7 * 24 * 3600

_ALL_STATUSES = tuple(str(s) for s in Status)
# Every status listed lets SQLite use conversations_activity (status, last_activity) as a range.
_ACTIVE_SINCE = (
    f"c.status IN ({', '.join(repr(s) for s in _ALL_STATUSES)}) AND c.last_activity >= ?"
)
_REPLY = "m.direction = 'out' AND coalesce(m.delivery, 'sent') != 'failed'"


class Figure(StrEnum):
    """A queue figure of the panel; :func:`figure_conversations` lists exactly what it counts."""

    OPEN = "open"
    WAITING = "waiting"
    OLDEST = "oldest"
    AT_RISK = "at_risk"
    BREACHED = "breached"


_AWAITING = "c.status = 'open' AND c.waiting_since IS NOT NULL"
_WHERE: dict[Figure, str] = {
    Figure.OPEN: "c.status = 'open'",
    Figure.WAITING: f"{_AWAITING} AND c.first_response_at IS NULL",
    Figure.OLDEST: f"{_AWAITING} AND c.first_response_at IS NULL",
    Figure.AT_RISK: f"{_AWAITING} AND c.deadline_at >= :now AND c.deadline_at < :risk_end",
    Figure.BREACHED: f"{_AWAITING} AND c.deadline_at < :now",
}


# -- numbers -----------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    """The middle value (the mean of the two middle ones for an even count), None when empty."""
    return float(statistics.median(values)) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``q`` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return float(ordered[rank - 1])


# -- accounts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: int
    channel: str
    name: str
    handle: str | None
    response_target_s: int | None
    business_hours: str | None = None


def list_accounts(ws: Workspace) -> list[AccountInfo]:
    rows = ws.conn.execute(
        "SELECT id, channel, name, handle, response_target_s, business_hours FROM accounts"
        " ORDER BY channel, name"
    ).fetchall()
    return [AccountInfo(int(r[0]), str(r[1]), str(r[2]), r[3], r[4], r[5]) for r in rows]


# -- the live queue ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """The queue of one account (``account_id``) or of all of them (``account_id`` None)."""

    account_id: int | None
    open: int = 0
    waiting: int = 0
    oldest_waiting_since: int | None = None
    at_risk: int = 0
    breached: int = 0

    def oldest_waiting_s(self, now: int) -> int | None:
        if self.oldest_waiting_since is None:
            return None
        return max(0, now - self.oldest_waiting_since)

    def count(self, figure: Figure) -> int:
        if figure is Figure.OLDEST:
            return 1 if self.oldest_waiting_since is not None else 0
        return int(getattr(self, figure.value))


def _params(now: int, at_risk_s: int) -> dict[str, int]:
    return {"now": now, "risk_end": now + at_risk_s}


def queue_figures(
    ws: Workspace, now: int, *, at_risk_s: int = AT_RISK_S
) -> dict[int, QueueFigures]:
    """Per account id: open, waiting, oldest waiting, at risk, breached (every account, zeros too)."""
    # Open counts per account: a covering seek of conversations_account per account.
    open_by_account = {
        int(a): int(n)
        for a, n in ws.conn.execute(
            "SELECT a.id, (SELECT count(*) FROM conversations c"
            " WHERE c.account_id = a.id AND c.status = 'open') FROM accounts a"
        )
    }
    # Everything else concerns conversations awaiting a reply: one range of conversations_waiting.
    sums = ", ".join(
        f"coalesce(sum(CASE WHEN {_WHERE[f]} THEN 1 ELSE 0 END), 0)"
        for f in (Figure.WAITING, Figure.AT_RISK, Figure.BREACHED)
    )
    awaiting = {
        int(r[0]): r[1:]
        for r in ws.conn.execute(
            f"SELECT c.account_id, {sums},"
            f" min(CASE WHEN {_WHERE[Figure.WAITING]} THEN c.waiting_since END)"
            f" FROM conversations c WHERE {_AWAITING} GROUP BY c.account_id",
            _params(now, at_risk_s),
        )
    }
    figures = {}
    for account_id, n_open in open_by_account.items():
        waiting, at_risk, breached, oldest = awaiting.get(account_id, (0, 0, 0, None))
        figures[account_id] = QueueFigures(
            account_id, n_open, int(waiting), oldest, int(at_risk), int(breached)
        )
    return figures


def next_deadline_change(ws: Workspace, now: int, *, at_risk_s: int = AT_RISK_S) -> int | None:
    """The next moment a conversation turns at risk or breached (for a timer, not a poll)."""
    row = ws.conn.execute(
        "SELECT min(CASE WHEN c.deadline_at > :now THEN c.deadline_at END),"
        " min(CASE WHEN c.deadline_at - :risk > :now THEN c.deadline_at - :risk END)"
        f" FROM conversations c WHERE {_AWAITING}",
        {"now": now, "risk": at_risk_s},
    ).fetchone()
    moments = [int(v) for v in row if v is not None] if row else []
    return min(moments) if moments else None


def total_figures(rows: Iterable[QueueFigures]) -> QueueFigures:
    rows = list(rows)
    oldest = [r.oldest_waiting_since for r in rows if r.oldest_waiting_since is not None]
    return QueueFigures(
        None,
        sum(r.open for r in rows),
        sum(r.waiting for r in rows),
        min(oldest) if oldest else None,
        sum(r.at_risk for r in rows),
        sum(r.breached for r in rows),
    )


def figure_conversations(
    ws: Workspace,
    figure: Figure,
    now: int,
    *,
    account_id: int | None = None,
    at_risk_s: int = AT_RISK_S,
) -> list[int]:
    """The conversations a queue figure counts, most urgent first (oldest waiting: just that one)."""
    params: dict[str, Any] = _params(now, at_risk_s)
    where = _WHERE[figure]
    if account_id is not None:
        where += " AND c.account_id = :account"
        params["account"] = account_id
    order = "coalesce(c.waiting_since, c.last_activity), c.id"
    limit = " LIMIT 1" if figure is Figure.OLDEST else ""
    rows = ws.conn.execute(
        f"SELECT c.id FROM conversations c WHERE {where} ORDER BY {order}{limit}", params
    )
    return [int(r[0]) for r in rows]


# -- flags, duplicate groups, agents -----------------------------------------------------------


def _account_clause(account_id: int | None, alias: str = "c") -> tuple[str, tuple[Any, ...]]:
    if account_id is None:
        return "", ()
    return f" AND {alias}.account_id = ?", (account_id,)


def flagged_counts(ws: Workspace, *, account_id: int | None = None) -> dict[str, int]:
    """Flag kind -> customers with that flag who have an open conversation (in the account)."""
    clause, params = _account_clause(account_id)
    rows = ws.conn.execute(
        # CROSS JOIN keeps flags (few rows) as the outer loop: SQLite does not reorder it.
        "SELECT f.kind, count(DISTINCT f.customer_id) FROM flags f"
        " CROSS JOIN conversations c ON c.customer_id = f.customer_id"
        f" WHERE c.status = 'open'{clause} GROUP BY f.kind",
        params,
    )
    return {str(k): int(n) for k, n in rows}


def flagged_conversations(ws: Workspace, kind: str, *, account_id: int | None = None) -> list[int]:
    """The open conversations of customers flagged ``kind`` (what :func:`flagged_counts` counts)."""
    clause, params = _account_clause(account_id)
    rows = ws.conn.execute(
        "SELECT DISTINCT c.id, c.priority FROM flags f"
        " CROSS JOIN conversations c ON c.customer_id = f.customer_id"
        f" WHERE f.kind = ? AND c.status = 'open'{clause} ORDER BY c.priority DESC, c.id",
        (kind, *params),
    )
    return [int(r[0]) for r in rows]


@dataclass(frozen=True, slots=True)
class GroupGrowth:
    """A duplicate group and how many posts joined it within the recent window."""

    id: int
    kind: str
    sample: str
    size: int
    customers: int
    recent: int
    recent_customers: int
    last_at: int | None
    latest_conversation_id: int | None = None


def growing_groups(
    ws: Workspace,
    now: int,
    *,
    window_s: int = 3600,
    min_recent: int = 2,
    limit: int = 5,
    account_id: int | None = None,
) -> list[GroupGrowth]:
    """Same-issue groups with at least ``min_recent`` posts in the last ``window_s``, fastest first.

    A same-issue group's posts are the inbound messages with its ``norm_hash`` (triage's rule:
    ``messages.dup_group`` may point at the customer's own duplicates group instead).
    """
    since = now - window_s
    clause, params = _account_clause(account_id, "m")
    rows = ws.conn.execute(
        "SELECT g.id, g.kind, coalesce(g.sample, ''), g.size, g.customers, recent.n,"
        " recent.people, g.last_at, recent.conv"
        " FROM (SELECT m.norm_hash AS h, count(*) AS n, count(DISTINCT m.customer_id) AS people,"
        # SQLite takes a bare column from the row that gave max(): the newest post's conversation.
        "   max(m.created_at) AS newest, m.conversation_id AS conv"
        "   FROM conversations c JOIN messages m ON m.conversation_id = c.id AND m.created_at >= ?"
        f"   WHERE {_ACTIVE_SINCE} AND m.direction = 'in' AND m.norm_hash IS NOT NULL{clause}"
        "   GROUP BY m.norm_hash) recent"
        # Triage keys a same-issue group "s:<norm_hash>": the unique index finds it directly.
        " JOIN dup_groups g ON g.group_key = 's:' || recent.h AND g.kind = 'same_issue'"
        " WHERE recent.n >= ? ORDER BY recent.n DESC, g.size DESC, g.id LIMIT ?",
        (since, since, *params, min_recent, limit),
    )
    return [
        GroupGrowth(
            int(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]), r[7], r[8]
        )
        for r in rows
    ]


def group_conversations(
    ws: Workspace, group_id: int, *, account_id: int | None = None
) -> list[int]:
    """Every conversation holding a post of the group (triage's membership), newest first."""
    group = ws.conn.execute(
        "SELECT kind, norm_hash, customer_id FROM dup_groups WHERE id = ?", (group_id,)
    ).fetchone()
    if group is None:
        return []
    kind, norm_hash, customer_id = group
    if kind == "same_issue":
        members = (
            "SELECT m.conversation_id FROM messages m WHERE m.norm_hash = ? AND m.direction = 'in'"
        )
        member_params: tuple[Any, ...] = (norm_hash,)
    else:
        members = (
            "SELECT m.conversation_id FROM messages m WHERE m.customer_id = ? AND m.dup_group = ?"
        )
        member_params = (customer_id, group_id)
    clause, params = _account_clause(account_id)
    rows = ws.conn.execute(
        f"SELECT c.id FROM conversations c WHERE c.id IN ({members}){clause}"
        " ORDER BY c.last_activity DESC, c.id DESC",
        (*member_params, *params),
    )
    return [int(r[0]) for r in rows]


def group_of_conversation(ws: Workspace, conversation_id: int) -> int | None:
    """The largest same-issue group holding an inbound post of the conversation."""
    value = ws.scalar(
        "SELECT g.id FROM messages m JOIN dup_groups g"
        " ON g.group_key = 's:' || m.norm_hash AND g.kind = 'same_issue'"
        " WHERE m.conversation_id = ? AND m.direction = 'in' ORDER BY g.size DESC, g.id LIMIT 1",
        (conversation_id,),
    )
    return None if value is None else int(value)


def open_load(ws: Workspace, *, account_id: int | None = None) -> dict[str, int]:
    """Assignee -> open conversations."""
    clause, params = _account_clause(account_id)
    rows = ws.conn.execute(
        "SELECT c.assignee, count(*) FROM conversations c"
        f" WHERE c.status = 'open' AND c.assignee IS NOT NULL{clause} GROUP BY c.assignee",
        params,
    )
    return {str(a): int(n) for a, n in rows}


def assigned_conversations(
    ws: Workspace, agent: str, *, account_id: int | None = None
) -> list[int]:
    clause, params = _account_clause(account_id)
    rows = ws.conn.execute(
        "SELECT c.id FROM conversations c WHERE c.status = 'open' AND c.assignee = ?"
        f"{clause} ORDER BY c.priority DESC, c.id",
        (agent, *params),
    )
    return [int(r[0]) for r in rows]


def agent_names(ws: Workspace) -> list[str]:
    return [str(r[0]) for r in ws.conn.execute("SELECT name FROM agents ORDER BY name")]


@dataclass(frozen=True, slots=True)
class Reply:
    """One outbound message, with what tells who wrote it."""

    id: int
    conversation_id: int
    account_id: int
    created_at: int
    author: str
    author_name: str | None
    agent: str | None
    text: str


def _agent_in_extra(extra: str | None) -> str | None:
    if not extra:
        return None
    try:
        value = json.loads(extra)
    except ValueError:
        return None
    agent = value.get("agent") if isinstance(value, dict) else None
    return str(agent) if agent else None


def replies_between(
    ws: Workspace, start: int, end: int, *, account_id: int | None = None
) -> list[Reply]:
    """Replies written in ``[start, end)``, oldest first."""
    clause, params = _account_clause(account_id, "m")
    rows = ws.conn.execute(
        "SELECT m.id, m.conversation_id, m.account_id, m.created_at, m.author, m.author_name,"
        " m.extra, m.text FROM conversations c"
        " JOIN messages m ON m.conversation_id = c.id AND m.created_at >= ? AND m.created_at < ?"
        f" WHERE {_ACTIVE_SINCE} AND {_REPLY}{clause} ORDER BY m.created_at, m.id",
        (start, end, start, *params),
    )
    return [
        Reply(
            int(r[0]), int(r[1]), int(r[2]), int(r[3]), str(r[4]), r[5], _agent_in_extra(r[6]), r[7]
        )
        for r in rows
    ]


# -- today's charts ----------------------------------------------------------------------------


def hourly_traffic(
    ws: Workspace, start: int, hours: int = 24, *, account_id: int | None = None
) -> tuple[list[int], list[int]]:
    """Inbound messages and replies per hour for ``hours`` hours from ``start``."""
    inbound, replies = [0] * hours, [0] * hours
    clause, params = _account_clause(account_id, "m")
    end = start + hours * 3600
    rows = ws.conn.execute(
        "SELECT (m.created_at - ?) / 3600 AS hour, m.direction = 'in' AS is_in, count(*)"
        " FROM conversations c"
        " JOIN messages m ON m.conversation_id = c.id AND m.created_at >= ? AND m.created_at < ?"
        f" WHERE {_ACTIVE_SINCE} AND (m.direction = 'in' OR ({_REPLY})){clause}"
        " GROUP BY hour, is_in",
        (start, start, end, start, *params),
    )
    for hour, is_in, n in rows:
        (inbound if is_in else replies)[int(hour)] += int(n)
    return inbound, replies


def first_response_times(
    ws: Workspace, start: int, end: int, *, account_id: int | None = None
) -> list[int]:
    """First-response times (seconds) of the conversations first answered in ``[start, end)``."""
    clause, params = _account_clause(account_id)
    rows = ws.conn.execute(
        "SELECT c.first_response_at - c.first_inbound_at FROM conversations c"
        f" WHERE {_ACTIVE_SINCE} AND c.first_response_at >= ? AND c.first_response_at < ?"
        f" AND c.first_inbound_at IS NOT NULL{clause}",
        (start, start, end, *params),
    )
    return [max(0, int(r[0])) for r in rows]


# -- breaches ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clocks:
    """The times that decide whether a conversation breached (the rule is in ``services.metrics``)."""

    account_id: int
    first_inbound_at: int | None
    first_response_at: int | None
    deadline_at: int | None
    resolved_at: int | None


_CLOCKS = "c.account_id, c.first_inbound_at, c.first_response_at, c.deadline_at, c.resolved_at"


def breach_candidates(ws: Workspace, start: int, *, account_id: int | None = None) -> list[Clocks]:
    """Conversations that may have breached at or after ``start``.

    Answered ones were answered since ``start`` (the late answer follows the breach); unanswered
    ones were active within a week before it (under business hours a deadline can be days after
    the last message).
    """
    clause, params = _account_clause(account_id)
    rows = []
    for answered, active in (
        ("c.first_response_at >= ?", (start, start)),
        ("c.first_response_at IS NULL", (start - _BREACH_SLACK_S,)),
    ):
        rows += ws.conn.execute(
            f"SELECT {_CLOCKS} FROM conversations c WHERE {_ACTIVE_SINCE}"
            f" AND c.first_inbound_at IS NOT NULL AND {answered}{clause}",
            (active[0], *active[1:], *params),
        ).fetchall()
    return [Clocks(*r) for r in rows]


# -- reports -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportConversation:
    """A conversation of a report period, its first reply and whether the customer came back.

    ``repeat_contact``: the customer started another conversation within :data:`REPEAT_WINDOW_S`
    after the first response.
    """

    id: int
    assignee: str | None
    started_at: int
    clocks: Clocks
    repeat_contact: bool
    first_reply: Reply | None

    @property
    def first_response_s(self) -> int | None:
        first_in, first_out = self.clocks.first_inbound_at, self.clocks.first_response_at
        if first_in is None or first_out is None:
            return None
        return max(0, first_out - first_in)


def report_conversations(ws: Workspace, start: int, end: int) -> list[ReportConversation]:
    """Conversations first written to, or resolved, in ``[start, end)``.

    The first reply is the earliest reply at or after the first inbound message.
    """
    rows = ws.conn.execute(
        f"SELECT c.id, c.assignee, c.started_at, {_CLOCKS},"
        " EXISTS (SELECT 1 FROM conversations n WHERE n.customer_id = c.customer_id"
        "   AND n.id != c.id AND n.started_by_customer = 1"
        "   AND n.started_at > c.first_response_at AND n.started_at <= c.first_response_at + ?),"
        " r.id, r.created_at, r.author, r.author_name, r.extra, r.text"
        " FROM conversations c LEFT JOIN messages r ON r.id = ("
        "   SELECT m.id FROM messages m WHERE m.conversation_id = c.id"
        f"   AND m.created_at >= c.first_inbound_at AND {_REPLY}"
        "   ORDER BY m.created_at, m.id LIMIT 1)"
        f" WHERE {_ACTIVE_SINCE} AND c.started_at < ?"
        " AND ((c.first_inbound_at >= ? AND c.first_inbound_at < ?)"
        "   OR (c.resolved_at >= ? AND c.resolved_at < ?))",
        (REPEAT_WINDOW_S, start, end, start, end, start, end),
    )
    out = []
    for row in rows:
        clocks = Clocks(*row[3:8])
        reply = None
        if row[9] is not None:
            reply = Reply(
                int(row[9]),
                int(row[0]),
                clocks.account_id,
                int(row[10]),
                str(row[11]),
                row[12],
                _agent_in_extra(row[13]),
                row[14],
            )
        out.append(
            ReportConversation(int(row[0]), row[1], int(row[2]), clocks, bool(row[8]), reply)
        )
    return out


# -- whole-workspace figures for ``stats --json`` ----------------------------------------------


def account_stats(ws: Workspace, now: int) -> list[dict[str, Any]]:
    """Per account: the live queue and all-time first-response figures (reads every conversation).

    Each entry: ``id``, ``open``, ``waiting``, ``oldest_waiting_s``, ``at_risk``, ``breached``,
    ``responded``, ``median_first_response_s``, ``p90_first_response_s`` (seconds or None).
    """
    queue = queue_figures(ws, now)
    times: dict[int, list[int]] = {a: [] for a in queue}
    for account_id, seconds in ws.conn.execute(
        "SELECT account_id, first_response_at - first_inbound_at FROM conversations"
        " WHERE first_response_at IS NOT NULL AND first_inbound_at IS NOT NULL"
    ):
        times.setdefault(int(account_id), []).append(max(0, int(seconds)))
    out = []
    for account_id in sorted(queue):
        q = queue[account_id]
        values = times.get(account_id, [])
        out.append(
            {
                "id": account_id,
                "open": q.open,
                "waiting": q.waiting,
                "oldest_waiting_s": q.oldest_waiting_s(now),
                "at_risk": q.at_risk,
                "breached": q.breached,
                "responded": len(values),
                "median_first_response_s": median(values),
                "p90_first_response_s": percentile(values, 0.9),
            }
        )
    return out


# -- alerts ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    kind: str
    conversation_id: int | None
    customer_id: int | None
    text: str
    created_at: int
    acknowledged_at: int | None


@dataclass(frozen=True, slots=True)
class NewAlert:
    kind: str
    text: str
    conversation_id: int | None = None
    customer_id: int | None = None


_ALERT_COLUMNS = "id, kind, conversation_id, customer_id, text, created_at, acknowledged_at"


def _alert(row: Sequence[Any]) -> Alert:
    return Alert(int(row[0]), str(row[1]), row[2], row[3], str(row[4]), int(row[5]), row[6])


def add_alerts(ws: Workspace, alerts: Sequence[NewAlert], now: int) -> list[Alert]:
    out = []
    with ws.transaction() as conn:
        for a in alerts:
            cur = conn.execute(
                "INSERT INTO alerts (kind, conversation_id, customer_id, text, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (a.kind, a.conversation_id, a.customer_id, a.text, now),
            )
            out.append(
                Alert(
                    int(cur.lastrowid or 0),
                    a.kind,
                    a.conversation_id,
                    a.customer_id,
                    a.text,
                    now,
                    None,
                )
            )
    return out


def open_alerts(ws: Workspace, *, limit: int = 100) -> list[Alert]:
    """Unacknowledged alerts, newest first."""
    rows = ws.conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE acknowledged_at IS NULL"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        (limit,),
    )
    return [_alert(r) for r in rows]


def count_open_alerts(ws: Workspace) -> int:
    return int(ws.scalar("SELECT count(*) FROM alerts WHERE acknowledged_at IS NULL") or 0)


def acknowledge_alerts(ws: Workspace, ids: Iterable[int] | None, now: int) -> int:
    """Acknowledge the given alerts (every open one when ``ids`` is None); returns how many."""
    with ws.transaction() as conn:
        if ids is None:
            cur = conn.execute(
                "UPDATE alerts SET acknowledged_at = ? WHERE acknowledged_at IS NULL", (now,)
            )
            return cur.rowcount
        done = 0
        for alert_id in ids:
            done += conn.execute(
                "UPDATE alerts SET acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL",
                (now, alert_id),
            ).rowcount
        return done


def alerts_since(ws: Workspace, since: int) -> list[Alert]:
    """Alerts raised since ``since`` or still unacknowledged (to avoid raising them twice)."""
    rows = ws.conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE acknowledged_at IS NULL OR created_at >= ?",
        (since,),
    )
    return [_alert(r) for r in rows]


@dataclass(frozen=True, slots=True)
class BreachedConversation:
    conversation_id: int
    customer_id: int | None
    account_id: int
    deadline_at: int
    waiting_since: int
    snippet: str
    who: str | None


def newly_breached(ws: Workspace, since: int, now: int) -> list[BreachedConversation]:
    """Conversations awaiting a reply whose deadline passed within ``[since, now)``."""
    rows = ws.conn.execute(
        "SELECT c.id, c.customer_id, c.account_id, c.deadline_at, c.waiting_since,"
        " coalesce(c.snippet, ''),"
        " coalesce(i.name, CASE WHEN i.channel = 'x' THEN '@' || i.handle ELSE i.handle END)"
        " FROM conversations c"
        " LEFT JOIN identities i ON i.id = c.identity_id"
        f" WHERE {_AWAITING} AND c.deadline_at >= ? AND c.deadline_at < ?"
        " ORDER BY c.deadline_at, c.id",
        (since, now),
    )
    return [
        BreachedConversation(int(r[0]), r[1], int(r[2]), int(r[3]), int(r[4]), str(r[5]), r[6])
        for r in rows
    ]


def last_message_id(ws: Workspace) -> int:
    return int(ws.scalar("SELECT coalesce(max(id), 0) FROM messages") or 0)


@dataclass(frozen=True, slots=True)
class FlaggedWrite:
    message_id: int
    conversation_id: int
    customer_id: int
    account_id: int
    kinds: tuple[str, ...]
    text: str
    who: str | None
    created_at: int


def flagged_writes_after(ws: Workspace, after_id: int, *, limit: int = 500) -> list[FlaggedWrite]:
    """Inbound messages with an id above ``after_id`` whose customer carries a flag."""
    rows = ws.conn.execute(
        "SELECT m.id, m.conversation_id, m.customer_id, m.account_id,"
        " (SELECT group_concat(kind, ',') FROM flags f WHERE f.customer_id = m.customer_id),"
        " m.text, coalesce(m.author_name, CASE WHEN m.channel = 'x' THEN '@' || m.author"
        " ELSE m.author END), m.created_at"
        " FROM messages m JOIN customers cu ON cu.id = m.customer_id"
        " WHERE m.id > ? AND m.direction = 'in'"
        " AND EXISTS (SELECT 1 FROM flags f WHERE f.customer_id = m.customer_id)"
        " ORDER BY m.id LIMIT ?",
        (after_id, limit),
    )
    return [
        FlaggedWrite(
            int(r[0]),
            int(r[1]),
            int(r[2]),
            int(r[3]),
            tuple(sorted(str(r[4]).split(","))),
            str(r[5]),
            r[6],
            int(r[7]),
        )
        for r in rows
    ]
