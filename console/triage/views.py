"""What the GUI and the CLI read from triage (read-only; run on the workspace's thread).

For the GUI:

- :func:`customer_flags` -- a customer's flags (kind, score, reasons, ids of the messages to
  highlight in the history), highest score first.
- :func:`customer_groups` -- a customer's duplicate groups, and :func:`group_posts` -- the posts of
  one group (duplicates or same issue), oldest first, to answer each of them.
- :func:`escalation_detail` -- every escalation signal of a customer with its strength, weight and
  the messages behind it (also when the customer is below the threshold).

For ``agent-console customers`` / ``groups``: :func:`list_customers`, :func:`list_groups`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from console.domain import Flag, FlagKind, iso
from console.errors import NotFoundError
from console.storage import triage_repo as repo
from console.storage.db import Workspace
from console.triage.context import Clock, TriageContext
from console.triage.customers import post_from_row
from console.triage.flagbits import bit
from console.triage.rules import Escalation, escalation


def _flag(row: dict[str, Any]) -> Flag:
    return Flag(
        kind=FlagKind(row["kind"]),
        score=float(row["score"]),
        reasons=tuple(json.loads(row["reasons"])),
        message_ids=tuple(int(i) for i in json.loads(row["message_ids"] or "[]")),
    )


def customer_flags(ws: Workspace, customer_id: int) -> list[Flag]:
    flags = [_flag(r) for r in repo.flag_rows(ws, [customer_id])]
    return sorted(flags, key=lambda f: (-f.score, str(f.kind)))


def customer_groups(ws: Workspace, customer_id: int) -> list[dict[str, Any]]:
    """The customer's duplicates groups (id, key, size, first_at, last_at, sample)."""
    return sorted(repo.group_rows_of(ws, [customer_id]), key=lambda g: -int(g["size"]))


def group_posts(ws: Workspace, group_id: int) -> list[dict[str, Any]]:
    group = repo.group_row(ws, group_id)
    if group is None:
        raise NotFoundError(f"no duplicate group {group_id}")
    return repo.group_members(ws, group)


def escalation_detail(
    ws: Workspace, customer_id: int, *, clock: Clock | None = None
) -> Escalation | None:
    """The escalation evaluation of one customer as the rules see it now (None: no inbound)."""
    ctx = TriageContext.open(ws, clock=clock, detector=_NoDetector(), scorer=_NoScorer())
    rows = repo.customer_rows(ws, [customer_id])
    if not rows:
        raise NotFoundError(f"no customer {customer_id}")
    posts = [
        post_from_row(ctx, r)
        for r in repo.recent_post_rows(ws, [customer_id], ctx.settings.escalation_window_s)
    ]
    return escalation(posts, ctx.settings, fallback_language=rows[0]["language"], now=ctx.now)


class _NoDetector:
    """Reading the detail analyses nothing: it must not build lingua."""

    def detect(self, texts: Any) -> list[str | None]:
        return [None] * len(texts)


class _NoScorer:
    def score(self, text: str, language: str | None) -> float:
        return 0.0


def list_customers(ws: Workspace, flag: str | None = None) -> list[dict[str, Any]]:
    """Live customers as the ``customers --json`` command prints them."""
    rows = repo.customer_list(ws, bit(flag) if flag else None)
    identities = repo.all_identities(ws)
    flags = repo.all_flags(ws)
    out = []
    for row in rows:
        cid = int(row["id"])
        out.append(
            {
                "id": cid,
                "key": row["key"],
                "name": row["name"],
                "language": row["language"],
                "tier": row["tier"],
                "reach": row["reach"],
                "identities": [
                    {"channel": i["channel"], "handle": i["handle"]}
                    for i in identities.get(cid, [])
                ],
                "inbound": row["inbound_count"],
                "outbound": row["outbound_count"],
                "conversations": row["conversation_count"],
                "first_contact": iso(row["first_contact"]),
                "last_contact": iso(row["last_contact"]),
                "priority": row["priority"],
                "flags": [_flag(f).to_json() for f in flags.get(cid, [])],
            }
        )
    return out


def list_groups(ws: Workspace, kind: str | None = None) -> list[dict[str, Any]]:
    """Duplicate and same-issue groups as the ``groups --json`` command prints them."""
    by_group, by_hash = repo.member_refs(ws)
    out = []
    for group in repo.all_groups(ws, kind):
        gid = int(group["id"])
        if group["kind"] == "same_issue":
            members = by_hash.get(int(group["norm_hash"]), [])
        else:
            members = by_group.get(gid, [])
        out.append(
            {
                "id": gid,
                "kind": group["kind"],
                "customer": group["customer_id"],
                "customers": group["customers"],
                "size": group["size"],
                "first_at": iso(group["first_at"]),
                "last_at": iso(group["last_at"]),
                "sample": group["sample"],
                "messages": members,
            }
        )
    return out


def flagged_counts(ws: Workspace) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for rows in repo.all_flags(ws).values():
        for row in rows:
            counts[str(row["kind"])] += 1
    return dict(counts)
