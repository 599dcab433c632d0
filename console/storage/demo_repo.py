"""The SQL of the demo builder (:mod:`console.demo`): accounts with their targets and hours, the
agents table, value tiers, and the statuses and assignees of a freshly generated workspace.

Every function takes an open :class:`~console.storage.db.Workspace` and writes in one transaction
(joining the caller's when there is one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from console.storage.db import Workspace


@dataclass(frozen=True, slots=True)
class AccountRow:
    channel: str
    name: str
    handle: str
    response_target_s: int | None
    business_hours: str | None  # JSON (console.triage.deadlines), None = around the clock


@dataclass(frozen=True, slots=True)
class AgentRow:
    name: str
    signature: str
    role: str
    languages: Sequence[str]
    skills: Sequence[str]


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    """What deciding a generated conversation's status needs."""

    id: int
    account_id: int
    last_activity: int
    waiting_since: int | None
    first_response_at: int | None
    last_agent: str | None  # the agent of the latest reply (``extra.agent``)


@dataclass(frozen=True, slots=True)
class ConversationState:
    id: int
    status: str
    assignee: str | None
    resolved_at: int | None = None
    snoozed_until: int | None = None


def upsert_accounts(ws: Workspace, accounts: Sequence[AccountRow], *, now: int) -> dict[str, int]:
    """Create (or update) the accounts; returns ``"channel:name" -> id``."""
    ids: dict[str, int] = {}
    with ws.transaction() as conn:
        for a in accounts:
            conn.execute(
                "INSERT INTO accounts (channel, name, handle, adapter, response_target_s,"
                " business_hours, created_at) VALUES (?, ?, ?, 'sandbox', ?, ?, ?)"
                " ON CONFLICT (channel, name) DO UPDATE SET handle = excluded.handle,"
                " response_target_s = excluded.response_target_s,"
                " business_hours = excluded.business_hours",
                (a.channel, a.name, a.handle, a.response_target_s, a.business_hours, now),
            )
            row = conn.execute(
                "SELECT id FROM accounts WHERE channel = ? AND name = ?", (a.channel, a.name)
            ).fetchone()
            ids[f"{a.channel}:{a.name}"] = int(row[0])
    return ids


def seed_agents(ws: Workspace, agents: Sequence[AgentRow]) -> None:
    with ws.transaction() as conn:
        conn.executemany(
            "INSERT INTO agents (name, signature, role, languages, skills) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET signature = excluded.signature,"
            " role = excluded.role, languages = excluded.languages, skills = excluded.skills",
            [
                (
                    a.name,
                    a.signature,
                    a.role,
                    json.dumps(list(a.languages)),
                    json.dumps(list(a.skills)),
                )
                for a in agents
            ],
        )


def set_tiers(ws: Workspace, rows: Sequence[tuple[str, int, str]]) -> int:
    """(customer key, tier, note) for each customer with a value tier; returns customers changed."""
    with ws.transaction() as conn:
        before = conn.total_changes
        conn.executemany(
            "UPDATE customers SET tier = ?2,"
            " notes = CASE WHEN notes = '' THEN ?3 ELSE notes || char(10) || ?3 END"
            " WHERE key = ?1 AND merged_into IS NULL",
            rows,
        )
        return conn.total_changes - before


def conversation_facts(
    ws: Workspace, *, after: int = 0, limit: int = 10_000
) -> list[ConversationFacts]:
    """Conversations with ids above ``after``, in id order (a page of at most ``limit``), with the
    agent of each one's latest reply."""
    rows = ws.conn.execute(
        "SELECT c.id, c.account_id, c.last_activity, c.waiting_since, c.first_response_at,"
        " (SELECT json_extract(m.extra, '$.agent') FROM messages m"
        "   WHERE m.conversation_id = c.id AND m.direction = 'out'"
        "   ORDER BY m.created_at DESC LIMIT 1)"
        " FROM conversations c WHERE c.id > ? ORDER BY c.id LIMIT ?",
        (after, limit),
    ).fetchall()
    return [
        ConversationFacts(
            int(row[0]),
            int(row[1]),
            int(row[2]),
            None if row[3] is None else int(row[3]),
            None if row[4] is None else int(row[4]),
            None if row[5] is None else str(row[5]),
        )
        for row in rows
    ]


def apply_states(ws: Workspace, states: Sequence[ConversationState]) -> None:
    with ws.transaction() as conn:
        conn.executemany(
            "UPDATE conversations SET status = ?, assignee = ?, resolved_at = ?, snoozed_until = ?"
            " WHERE id = ?",
            [(s.status, s.assignee, s.resolved_at, s.snoozed_until, s.id) for s in states],
        )


def summary(ws: Workspace) -> dict[str, Any]:
    """Counts of what a build wrote, per channel and per status."""
    conn = ws.conn
    by_channel = dict(conn.execute("SELECT channel, count(*) FROM messages GROUP BY channel"))
    by_status = dict(conn.execute("SELECT status, count(*) FROM conversations GROUP BY status"))
    by_direction = dict(conn.execute("SELECT direction, count(*) FROM messages GROUP BY direction"))
    return {
        "messages": int(conn.execute("SELECT count(*) FROM messages").fetchone()[0]),
        "customers": int(
            conn.execute("SELECT count(*) FROM customers WHERE merged_into IS NULL").fetchone()[0]
        ),
        "conversations": int(conn.execute("SELECT count(*) FROM conversations").fetchone()[0]),
        "accounts": int(conn.execute("SELECT count(*) FROM accounts").fetchone()[0]),
        "messages_by_channel": {str(k): int(v) for k, v in sorted(by_channel.items())},
        "messages_by_direction": {str(k): int(v) for k, v in sorted(by_direction.items())},
        "conversations_by_status": {str(k): int(v) for k, v in sorted(by_status.items())},
    }
