"""Triage of a set of customers: their groups, flags, deadlines, masks and priorities.

:func:`triage_customers` is the one pass every entry point of :mod:`console.triage.engine` runs
(the ingest hook on the customers a batch touched, rebuilds on chunks of a thousand): it reads what
the rules need for all the customers at once (a few indexed queries), applies the pure rules of
:mod:`console.triage.rules`, and writes only what changed. Reading and computing
(:func:`plan_customers`) are apart from writing (:func:`apply_customer_plan`), so that a rebuild
can compute the plans in worker processes (:class:`PlanPool`) while it writes.
:func:`refresh_priorities` moves the deadline part of priorities on without running the rules
again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from console.domain import Flag, FlagKind, Status
from console.storage import triage_repo as repo
from console.storage.db import Workspace
from console.triage import duplicates as dup
from console.triage.context import TriageContext
from console.triage.deadlines import deadline
from console.triage.flagbits import FLAG_BITS, mask_of
from console.triage.pool import OrderedPool
from console.triage.rules import (
    Clocked,
    GroupInfo,
    Post,
    Start,
    breach_flag,
    breached,
    customer_priority_part,
    duplicates_flag,
    escalation_flag,
    high_reach_flag,
    repeat_flag,
    repeat_window,
    urgency,
)
from console.triage.settings import TriageSettings

_BREACH = FLAG_BITS[FlagKind.BREACH]
FlagRow = tuple[int, str, float, str, str, int]
ConversationFigures = tuple[int | None, int, float, int]


def clocked_conversation(ctx: TriageContext, conv: dict[str, Any]) -> Clocked:
    """A conversation row with its deadline: open and waiting conversations only have one."""
    channel, account_id = str(conv["channel"]), int(conv["account_id"])
    target = ctx.target(account_id, channel)
    hours = ctx.hours(account_id)
    due: int | None = None
    if conv["status"] == Status.OPEN and conv["waiting_since"] is not None:
        due = deadline(int(conv["waiting_since"]), target, int(conv["paused_s"] or 0), hours)
    return Clocked(
        id=int(conv["id"]),
        channel=channel,
        status=str(conv["status"]),
        waiting_since=conv["waiting_since"],
        deadline_at=due,
        target_s=target,
        business_hours=hours is not None,
    )


def post_from_row(ctx: TriageContext, row: Sequence[Any]) -> Post:
    """A :func:`console.storage.triage_repo.recent_post_rows` row as a rules record."""
    # SQLite gives the INTEGER and TEXT columns as int and str already: no conversions (a
    # rebuild makes 600,000 of these).
    mid, _cid, conv, channel, direction, created, text, sentiment, language, public, account = row
    target = ctx.target(account, channel)
    return Post(
        mid, conv, channel, direction, created, text, sentiment, language, bool(public), target
    )


@dataclass(slots=True)
class _Facts:
    """What the rules read, for every customer of one pass."""

    customers: dict[int, dict[str, Any]]
    identities: dict[int, list[tuple[str, str, int | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    conversations: dict[int, list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    posts: dict[int, list[Post]] = field(default_factory=lambda: defaultdict(list))


def _read(ctx: TriageContext, live: Sequence[int], customers: dict[int, dict[str, Any]]) -> _Facts:
    facts = _Facts(customers)
    for cid, channel, handle, followers in repo.identity_rows(ctx.ws, live):
        facts.identities[cid].append((channel, handle, followers))
    for conv in repo.conversation_rows(ctx.ws, live):
        facts.conversations[int(conv["customer_id"])].append(conv)
    for row in repo.recent_post_rows(ctx.ws, live, ctx.settings.escalation_window_s):
        facts.posts[int(row[1])].append(post_from_row(ctx, row))
    return facts


@dataclass(slots=True)
class _Verdict:
    """One customer's flags; repeat and breach wait for the message ids they cite."""

    customer: dict[str, Any]
    flags: list[Flag]
    clocked: list[Clocked]
    repeat: list[Start] | None
    late: list[Clocked]


def _judge(ctx: TriageContext, facts: _Facts, cid: int, groups: Sequence[GroupInfo]) -> _Verdict:
    s, now = ctx.settings, ctx.now
    customer = facts.customers[cid]
    convs = facts.conversations[cid]
    clocked = [clocked_conversation(ctx, c) for c in convs]
    starts = [
        Start(int(c["id"]), str(c["channel"]), int(c["started_at"]))
        for c in convs
        if c["started_by_customer"]
    ]
    candidates = (
        escalation_flag(facts.posts[cid], s, fallback_language=customer["language"], now=now),
        duplicates_flag(groups, s),
        high_reach_flag(int(customer["reach"] or 0), facts.identities[cid], s),
    )
    flags = [f for f in candidates if f is not None]
    late = [c for c in clocked if breached(c, now)]
    return _Verdict(customer, flags, clocked, repeat_window(starts, s, now), late)


def _complete(verdicts: Sequence[_Verdict], ctx: TriageContext) -> None:
    """Add the repeat and breach flags, with the ids of the messages they cite."""
    firsts = repo.first_message_ids(
        ctx.ws, [st.conversation_id for v in verdicts if v.repeat for st in v.repeat]
    )
    waits = repo.waiting_message_ids(
        ctx.ws, [(c.id, int(c.waiting_since or 0)) for v in verdicts for c in v.late]
    )
    for verdict in verdicts:
        if verdict.repeat:
            ids = [
                firsts[st.conversation_id] for st in verdict.repeat if st.conversation_id in firsts
            ]
            verdict.flags.append(repeat_flag(verdict.repeat, ids))
        late = breach_flag(verdict.clocked, ctx.now, waits)
        if late is not None:
            verdict.flags.append(late)


def _flag_row(customer_id: int, flag: Flag, now: int) -> FlagRow:
    return (
        customer_id,
        str(flag.kind),
        round(flag.score, 3),
        json.dumps(list(flag.reasons), ensure_ascii=False),
        _id_list(flag.message_ids),
        now,
    )


def _id_list(ids: Sequence[int]) -> str:
    """``json.dumps(list(ids))`` of message ids (ints), made directly (a rebuild writes 300,000)."""
    return "[" + ", ".join(map(str, ids)) + "]"


def _figures(
    ctx: TriageContext, verdict: _Verdict
) -> tuple[tuple[int, float, int], list[ConversationFigures]]:
    """(customer mask, priority, id) and each conversation's (deadline, mask, priority, id)."""
    s, now = ctx.settings, ctx.now
    cid = int(verdict.customer["id"])
    mask = mask_of(f.kind for f in verdict.flags)
    scores = {str(f.kind): round(f.score, 3) for f in verdict.flags}
    reach, tier = int(verdict.customer["reach"] or 0), int(verdict.customer["tier"] or 0)
    part = customer_priority_part(scores, reach, tier, s)
    most = 0.0
    conversations: list[ConversationFigures] = []
    for conv in verdict.clocked:
        pressing = urgency(conv, now, s)
        most = max(most, pressing)
        conv_mask = (mask & ~_BREACH) | (_BREACH if breached(conv, now) else 0)
        conversations.append((conv.deadline_at, conv_mask, round(part + pressing, 2), conv.id))
    return (mask, round(part + most, 2), cid), conversations


def _changed(facts: _Facts, figures: Sequence[ConversationFigures]) -> set[int]:
    stored = {
        int(c["id"]): (c["deadline_at"], int(c["flag_mask"]), float(c["priority"]))
        for convs in facts.conversations.values()
        for c in convs
    }
    return {row[3] for row in figures if stored.get(row[3]) != row[:3]}


@dataclass(slots=True)
class FlagPlan:
    """What :func:`flag_customers` will write, read and computed without writing."""

    customer_ids: list[int]
    flag_rows: list[FlagRow]
    customer_figures: list[tuple[int, float, int]]
    conversation_figures: list[ConversationFigures]
    changed: set[int]
    counts: dict[str, int]


def plan_flags(
    ctx: TriageContext, customer_ids: Sequence[int], groups: dict[int, list[GroupInfo]]
) -> FlagPlan:
    """The flags, deadlines, masks and priorities of these customers (reads only)."""
    rows = {int(r["id"]): r for r in repo.customer_rows(ctx.ws, customer_ids)}
    live = [cid for cid in customer_ids if cid in rows and rows[cid]["merged_into"] is None]
    merged = [cid for cid in customer_ids if cid in rows and rows[cid]["merged_into"] is not None]
    facts = _read(ctx, live, rows)
    verdicts = [_judge(ctx, facts, cid, groups.get(cid, [])) for cid in live]
    _complete(verdicts, ctx)
    flag_rows: list[FlagRow] = []
    customer_figures: list[tuple[int, float, int]] = [(0, 0.0, cid) for cid in merged]
    conversation_figures: list[ConversationFigures] = []
    counts: dict[str, int] = defaultdict(int)
    for verdict in verdicts:
        for flag in verdict.flags:
            flag_rows.append(_flag_row(int(verdict.customer["id"]), flag, ctx.now))
            counts[str(flag.kind)] += 1
        customer, conversations = _figures(ctx, verdict)
        customer_figures.append(customer)
        conversation_figures.extend(conversations)
    return FlagPlan(
        customer_ids=[*live, *merged],
        flag_rows=flag_rows,
        customer_figures=customer_figures,
        conversation_figures=conversation_figures,
        changed=_changed(facts, conversation_figures),
        counts=dict(counts),
    )


def apply_flags(ws: Workspace, plan: FlagPlan) -> tuple[set[int], dict[str, int]]:
    """Write a :class:`FlagPlan`; returns (changed conversation ids, flags written per kind)."""
    repo.replace_flags(ws, plan.customer_ids, plan.flag_rows)
    repo.update_customer_figures(ws, plan.customer_figures)
    repo.update_conversation_figures(ws, plan.conversation_figures)
    return plan.changed, plan.counts


def flag_customers(
    ctx: TriageContext, customer_ids: Sequence[int], groups: dict[int, list[GroupInfo]]
) -> tuple[set[int], dict[str, int]]:
    """Flags, deadlines, masks and priorities of these customers; returns (changed
    conversation ids, flags written per kind). Merged customers lose everything."""
    return apply_flags(ctx.ws, plan_flags(ctx, customer_ids, groups))


@dataclass(slots=True)
class CustomerPlan:
    """Everything :func:`triage_customers` writes for a chunk of customers (see
    :func:`plan_customers`): computed from reads alone, so another process can compute it."""

    groups: dup.GroupPlan
    flags: FlagPlan


def plan_customers(ctx: TriageContext, customer_ids: Sequence[int]) -> CustomerPlan:
    """Groups, flags and figures of these customers, read and computed but not written.

    The flag rules read nothing that the group writes change (``dup_group``, ``dup_groups``), so
    reading all first and writing after gives what :func:`triage_customers` gives.
    """
    posts = dup.fetch_posts(ctx.ws, customer_ids)
    groups = dup.plan_customer_groups(ctx.ws, posts, customer_ids, ctx.settings)
    return CustomerPlan(groups, plan_flags(ctx, customer_ids, groups.infos))


def apply_customer_plan(ws: Workspace, plan: CustomerPlan) -> tuple[set[int], dict[str, int]]:
    """Write a :class:`CustomerPlan`; returns (changed conversation ids, flags per kind)."""
    dup.apply_group_plan(ws, plan.groups)
    return apply_flags(ws, plan.flags)


_worker_contexts: dict[tuple[str, int], TriageContext] = {}


def plan_in_worker(
    path: str, now: int, settings: TriageSettings, customer_ids: list[int]
) -> CustomerPlan:
    """:func:`plan_customers` in a worker process, on its own (read-only) connection."""
    return plan_customers(_worker_context(path, now, settings), customer_ids)


def warm_worker(path: str, now: int, settings: TriageSettings) -> None:
    """Open a worker's connection and load the word lists before its first chunk comes."""
    import time

    from console.triage.lexicon import SUPPORTED_LANGUAGES, lexicon

    _worker_context(path, now, settings)
    for language in SUPPORTED_LANGUAGES:
        lexicon(language)
    time.sleep(0.2)  # let the other workers take the other warm-ups


def _worker_context(path: str, now: int, settings: TriageSettings) -> TriageContext:
    ctx = _worker_contexts.get((path, now))
    if ctx is None:
        for old in _worker_contexts.values():
            old.ws.close()
        _worker_contexts.clear()
        ws = Workspace(path, create=False)
        ctx = _worker_contexts[(path, now)] = TriageContext.open(
            ws, clock=lambda: now, settings=settings
        )
    ctx.settings = settings
    return ctx


class PlanPool(OrderedPool):
    """Computes :class:`CustomerPlan` s of chunks in ``workers`` processes, results in order.

    The workers read through their own connections; the caller writes each plan in its
    transaction (and plans again itself if another connection wrote meanwhile).
    """

    def __init__(self, ctx: TriageContext, workers: int) -> None:
        super().__init__(workers)
        self.path = str(ctx.ws.path)
        self.now = ctx.now
        self.settings = ctx.settings

    def warm(self) -> None:
        """Start the workers now (each opens the workspace and loads the word lists), so that
        they are ready when the first chunks come; the caller goes on meanwhile."""
        for _ in range(self.workers):
            self.executor.submit(warm_worker, self.path, self.now, self.settings)

    def map(self, chunks: Iterable[Sequence[int]]) -> Iterator[tuple[list[int], CustomerPlan]]:
        plan = partial(plan_in_worker, self.path, self.now, self.settings)
        return self._map(plan, (list(chunk) for chunk in chunks))


def triage_customers(
    ctx: TriageContext,
    customer_ids: Sequence[int],
    *,
    new_message_ids: Iterable[int] | None = None,
    recount_hashes: Iterable[int] | None = None,
) -> tuple[set[int], dict[str, int]]:
    """Groups, then flags and figures, of these customers.

    ``new_message_ids``: posts just ingested, counted into their same-issue groups (the hook);
    ``recount_hashes``: texts whose same-issue groups are counted again from scratch (retriage).
    """
    ws, s = ctx.ws, ctx.settings
    if new_message_ids is None and recount_hashes is None:
        return apply_customer_plan(ws, plan_customers(ctx, customer_ids))
    posts = dup.fetch_posts(ws, customer_ids)
    if new_message_ids is not None:
        fresh = set(new_message_ids)
        new_posts = [p for cposts in posts.values() for p in cposts if p.id in fresh]
        dup.add_same_issue_posts(ws, new_posts, posts, s)
    if recount_hashes is not None:
        dup.recount_same_issue(ws, recount_hashes, s)
    groups = dup.refresh_customer_groups(ws, posts, customer_ids, s)
    return flag_customers(ctx, customer_ids, groups)


def refresh_priorities(ctx: TriageContext, customer_ids: Sequence[int]) -> set[int]:
    """Priorities from the stored flags and the deadlines, without running the rules again;
    returns the conversations whose figures changed."""
    ws, s, now = ctx.ws, ctx.settings, ctx.now
    scores: dict[int, dict[str, float]] = defaultdict(dict)
    for row in repo.flag_rows(ws, customer_ids):
        scores[int(row["customer_id"])][str(row["kind"])] = float(row["score"])
    convs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for conv in repo.conversation_rows(ws, customer_ids):
        convs[int(conv["customer_id"])].append(conv)
    customer_figures = []
    conversation_figures = []
    changed = set()
    for row in repo.customer_rows(ws, customer_ids):
        cid = int(row["id"])
        if row["merged_into"] is not None:
            continue
        part = customer_priority_part(scores[cid], int(row["reach"] or 0), int(row["tier"] or 0), s)
        most = 0.0
        for conv in convs[cid]:
            clocked = clocked_conversation(ctx, conv)
            pressing = urgency(clocked, now, s)
            most = max(most, pressing)
            figures = (clocked.deadline_at, int(conv["flag_mask"]), round(part + pressing, 2))
            if figures != (conv["deadline_at"], int(conv["flag_mask"]), float(conv["priority"])):
                changed.add(clocked.id)
                conversation_figures.append((*figures, clocked.id))
        customer_figures.append((int(row["flag_mask"]), round(part + most, 2), cid))
    repo.update_customer_figures(ws, customer_figures)
    repo.update_conversation_figures(ws, conversation_figures)
    return changed
