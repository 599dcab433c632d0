"""Supervisor logic without Qt: the panel's snapshot, what a click selects, reports and alert rules.

Every figure is defined and queried in :mod:`console.storage.metrics`; this module assembles them:

- :func:`take_snapshot` gathers what the side panel shows for one scope (all accounts or one) at
  one moment: the queue per account and in total, flagged customers, growing same-issue groups,
  agents' load and replies today, today's traffic per hour, first-response times and the breach
  trend.
- :class:`Selection` names one figure of the panel; :func:`selection_conversations` lists exactly
  the conversations that figure counts, for the inbox filter.
- :func:`build_report` and :func:`write_report_csv`: a period's figures per account and per agent.
- :class:`AlertWatcher` raises alerts (breached deadlines, flagged customers writing, same-issue
  groups growing past a threshold) once each, and stores them in the ``alerts`` table.

Who wrote a reply (:func:`agent_of`): the agent recorded by the outbox (``extra.agent`` or
``author_name``), else the initials a care team signs with (``^CP``, ``- CE``), else nobody.
Days and hours follow the supervisor's local time unless a time zone is given.
"""

from __future__ import annotations

import bisect
import csv
import math
import os
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from console.errors import ConsoleError
from console.storage import metrics as store
from console.storage.db import Workspace
from console.storage.metrics import (
    AT_RISK_S,
    AccountInfo,
    Alert,
    Figure,
    GroupGrowth,
    NewAlert,
    QueueFigures,
    Reply,
    median,
    percentile,
)
from console.textutil import snippet

DAY_S = 24 * 3600
#: Upper bounds (seconds) of the first-response histogram's buckets; the last bucket is open.
FRT_BUCKETS: tuple[int, ...] = (15 * 60, 30 * 60, 3600, 2 * 3600, 4 * 3600, 8 * 3600, DAY_S)
FRT_BUCKET_LABELS: tuple[str, ...] = ("≤15m", "≤30m", "≤1h", "≤2h", "≤4h", "≤8h", "≤24h", ">24h")
TREND_DAYS = 14

_SIGNATURE = re.compile(
    r"(?:\^\s?(?P<caret>[A-Za-z]{1,4})|\s[-–—]\s?(?P<dash>[A-Z]{2,3}))"
    r"(?:\s+(?:https?://\S+|\d\s*/\s*\d|\d))*\s*$"
)

Clock = Callable[[], Any]


def epoch_of(value: Any) -> int:
    """Unix seconds from a clock's reading (an aware ``datetime`` or a number)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: clocks must give aware times")
        return int(value.timestamp())
    return int(value)


def day_start(now: int, tz: tzinfo | None = None) -> int:
    """The start of ``now``'s day in ``tz`` (local time when None), as Unix seconds."""
    if tz is None:
        local = datetime.fromtimestamp(now)
        return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    moment = datetime.fromtimestamp(now, tz)
    return int(moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def next_day_start(start: int, tz: tzinfo | None = None) -> int:
    # Noon of the next day is safely inside it whatever the daylight-saving shift.
    return day_start(start + DAY_S + 12 * 3600, tz)


# -- who wrote a reply ---------------------------------------------------------------------------


def signature_of(text: str) -> str | None:
    """The initials a reply is signed with (``^CP``, ``- CE``), or None."""
    # Signatures sit at the very end (before links); searching the tail keeps this cheap.
    match = _SIGNATURE.search(text.strip()[-120:])
    if match is None:
        return None
    return (match.group("caret") or match.group("dash") or "").upper() or None


def agent_of(reply: Reply, accounts: dict[int, AccountInfo] | None = None) -> str | None:
    """The agent who wrote a reply (see the module doc), or None when it does not say."""
    if reply.agent:
        return reply.agent
    if reply.author_name:
        return reply.author_name
    initials = signature_of(reply.text)
    if initials is None:
        return None
    account = accounts.get(reply.account_id) if accounts else None
    handle = (account.handle or account.name) if account else reply.author
    return f"^{initials} @{handle}"


# -- the panel's snapshot ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentFigures:
    name: str
    open: int
    replies_today: int


@dataclass(frozen=True, slots=True)
class SupervisorSnapshot:
    """Everything the side panel shows, at ``now``, for ``account_id`` (None: every account)."""

    now: int
    day_start: int
    account_id: int | None
    accounts: dict[int, AccountInfo]
    queue: list[QueueFigures]
    total: QueueFigures
    flagged: dict[str, int]
    groups: list[GroupGrowth]
    agents: list[AgentFigures]
    unsigned_replies: int
    inbound_by_hour: list[int]
    replies_by_hour: list[int]
    first_response_times: list[int]
    breach_trend: list[tuple[int, int]]
    alerts: list[Alert] = field(default_factory=list)
    open_alerts: int = 0
    next_change_at: int | None = None

    def queue_of(self, account_id: int | None) -> QueueFigures:
        if account_id is None:
            return self.total
        for row in self.queue:
            if row.account_id == account_id:
                return row
        return QueueFigures(account_id)

    @property
    def frt_histogram(self) -> list[int]:
        return frt_histogram(self.first_response_times)


def frt_histogram(values: Iterable[int]) -> list[int]:
    counts = [0] * (len(FRT_BUCKETS) + 1)
    for value in values:
        index = next((i for i, bound in enumerate(FRT_BUCKETS) if value <= bound), len(FRT_BUCKETS))
        counts[index] += 1
    return counts


def _queue_rows(ws: Workspace, now: int, at_risk_s: int) -> tuple[list[QueueFigures], QueueFigures]:
    by_account = store.queue_figures(ws, now, at_risk_s=at_risk_s)
    rows = sorted(
        by_account.values(),
        key=lambda r: (-r.breached, -r.at_risk, -r.waiting, -r.open, r.account_id or 0),
    )
    return rows, store.total_figures(rows)


def _agents(
    ws: Workspace,
    replies: Sequence[Reply],
    accounts: dict[int, AccountInfo],
    account_id: int | None,
) -> tuple[list[AgentFigures], int]:
    load = store.open_load(ws, account_id=account_id)
    written: Counter[str] = Counter()
    unsigned = 0
    for reply in replies:
        agent = agent_of(reply, accounts)
        if agent is None:
            unsigned += 1
        else:
            written[agent] += 1
    names = set(load) | set(written)
    if account_id is None:
        names |= set(store.agent_names(ws))
    agents = [AgentFigures(n, load.get(n, 0), written.get(n, 0)) for n in names]
    agents.sort(key=lambda a: (-a.open - a.replies_today, a.name.casefold()))
    return agents, unsigned


#: Per-channel first-response targets used only when triage is not installed (triage's defaults).
_FALLBACK_TARGETS: dict[str, int] = {
    "x": 3600,
    "sms": 3600,
    "whatsapp": 3600,
    "messenger": 3600,
    "facebook": 4 * 3600,
    "instagram": 4 * 3600,
    "email": DAY_S,
    "phone": DAY_S,
}

AddBusinessSeconds = Callable[[int, int, Any], int]


def _around_the_clock(start: int, seconds: int, hours: Any) -> int:
    return start + seconds


class BreachRule:
    """When a conversation breached its first-response target, or None if it has not.

    - Unanswered: triage's ``deadline_at`` (business hours and pauses included) or, without one,
      the target counted from the first inbound message, passed before now (or before the
      conversation was resolved).
    - Answered: sending clears ``deadline_at``, so the first response is judged against the target
      counted in the account's business hours from the first inbound message.

    Targets and business hours are triage's (``console.triage``): the account's own target, else
    the workspace's per-channel default.
    """

    def __init__(
        self,
        accounts: dict[int, AccountInfo],
        targets: dict[str, int],
        hours: dict[int, Any],
        add_business_seconds: AddBusinessSeconds = _around_the_clock,
    ) -> None:
        self._target = {
            a.id: int(a.response_target_s)
            if a.response_target_s and a.response_target_s > 0
            else int(targets.get(a.channel, DAY_S))
            for a in accounts.values()
        }
        self._hours = hours
        self._add = add_business_seconds

    @classmethod
    def for_workspace(cls, ws: Workspace, accounts: dict[int, AccountInfo]) -> BreachRule:
        try:
            from console.triage.deadlines import add_business_seconds, hours_or_none
            from console.triage.settings import load_settings
        except ImportError:  # a build without triage: its defaults, around the clock
            return cls(accounts, _FALLBACK_TARGETS, {})
        targets = dict(load_settings(ws).default_targets)
        hours = {
            a.id: hours_or_none(a.business_hours) for a in accounts.values() if a.business_hours
        }
        return cls(
            accounts,
            targets,
            {k: v for k, v in hours.items() if v is not None},
            add_business_seconds,
        )

    def due(self, account_id: int, start: int) -> int:
        target = self._target.get(account_id, DAY_S)
        return self._add(start, target, self._hours.get(account_id))

    def breach_at(self, clocks: store.Clocks, now: int) -> int | None:
        first_in = clocks.first_inbound_at
        if first_in is None:
            return None
        if clocks.first_response_at is None:
            due = clocks.deadline_at or self.due(clocks.account_id, first_in)
            stop = now if clocks.resolved_at is None else min(now, clocks.resolved_at)
            return due if due < stop else None
        due = self.due(clocks.account_id, first_in)
        return due if clocks.first_response_at > due else None


def breach_trend(
    ws: Workspace,
    now: int,
    *,
    days: int = TREND_DAYS,
    tz: tzinfo | None = None,
    account_id: int | None = None,
    rule: BreachRule | None = None,
) -> list[tuple[int, int]]:
    """(day start, breaches that day) for the last ``days`` days, today included."""
    starts = [day_start(now, tz)]
    for _ in range(days - 1):
        starts.insert(0, day_start(starts[0] - 12 * 3600, tz))
    if rule is None:
        rule = BreachRule.for_workspace(ws, {a.id: a for a in store.list_accounts(ws)})
    counts = [0] * days
    for clocks in store.breach_candidates(ws, starts[0], account_id=account_id):
        moment = rule.breach_at(clocks, now)
        if moment is not None and starts[0] <= moment < now:
            counts[bisect.bisect_right(starts, moment) - 1] += 1
    return list(zip(starts, counts, strict=True))


def take_snapshot(
    ws: Workspace,
    now: int,
    *,
    account_id: int | None = None,
    tz: tzinfo | None = None,
    at_risk_s: int = AT_RISK_S,
    group_window_s: int = 3600,
) -> SupervisorSnapshot:
    accounts = {a.id: a for a in store.list_accounts(ws)}
    start = day_start(now, tz)
    hours = max(1, (next_day_start(start, tz) - start) // 3600)
    queue, total = _queue_rows(ws, now, at_risk_s)
    replies = store.replies_between(ws, start, now + 1, account_id=account_id)
    agents, unsigned = _agents(ws, replies, accounts, account_id)
    inbound, replied = store.hourly_traffic(ws, start, hours, account_id=account_id)
    return SupervisorSnapshot(
        now=now,
        day_start=start,
        account_id=account_id,
        accounts=accounts,
        queue=queue,
        total=total,
        flagged=store.flagged_counts(ws, account_id=account_id),
        groups=store.growing_groups(ws, now, window_s=group_window_s, account_id=account_id),
        agents=agents,
        unsigned_replies=unsigned,
        inbound_by_hour=inbound,
        replies_by_hour=replied,
        first_response_times=store.first_response_times(ws, start, now + 1, account_id=account_id),
        breach_trend=breach_trend(
            ws, now, tz=tz, account_id=account_id, rule=BreachRule.for_workspace(ws, accounts)
        ),
        alerts=store.open_alerts(ws),
        open_alerts=store.count_open_alerts(ws),
        next_change_at=store.next_deadline_change(ws, now, at_risk_s=at_risk_s),
    )


# -- what a click selects ------------------------------------------------------------------------


class Pick(StrEnum):
    QUEUE = "queue"
    FLAG = "flag"
    GROUP = "group"
    AGENT_OPEN = "agent_open"
    AGENT_REPLIES = "agent_replies"
    ALERT = "alert"


@dataclass(frozen=True, slots=True)
class Selection:
    """One figure of the panel: a queue figure of an account (or all), a flag kind, a group..."""

    pick: Pick
    figure: Figure | None = None
    account_id: int | None = None
    key: str | None = None
    group_id: int | None = None
    conversation_id: int | None = None
    title: str = ""


def selection_conversations(
    ws: Workspace,
    selection: Selection,
    now: int,
    *,
    tz: tzinfo | None = None,
    at_risk_s: int = AT_RISK_S,
) -> list[int]:
    """Exactly the conversations the selected figure counts."""
    account = selection.account_id
    if selection.pick is Pick.QUEUE and selection.figure is not None:
        return store.figure_conversations(
            ws, selection.figure, now, account_id=account, at_risk_s=at_risk_s
        )
    if selection.pick is Pick.FLAG and selection.key:
        return store.flagged_conversations(ws, selection.key, account_id=account)
    if selection.pick is Pick.GROUP and selection.group_id is not None:
        return store.group_conversations(ws, selection.group_id, account_id=account)
    if selection.pick is Pick.AGENT_OPEN and selection.key:
        return store.assigned_conversations(ws, selection.key, account_id=account)
    if selection.pick is Pick.AGENT_REPLIES and selection.key:
        accounts = {a.id: a for a in store.list_accounts(ws)}
        start = day_start(now, tz)
        ids: dict[int, None] = {}
        for reply in store.replies_between(ws, start, now + 1, account_id=account):
            if agent_of(reply, accounts) == selection.key:
                ids[reply.conversation_id] = None
        return list(ids)
    if selection.pick is Pick.ALERT and selection.conversation_id is not None:
        return [selection.conversation_id]
    return []


# -- reports -------------------------------------------------------------------------------------


REPORT_COLUMNS = (
    "scope",
    "name",
    "channel",
    "conversations",
    "responded",
    "first_response_median_s",
    "first_response_p90_s",
    "resolved",
    "resolution_median_s",
    "resolution_p90_s",
    "replies",
    "breaches",
    "repeat_contacts",
    "repeat_contact_rate",
)


@dataclass(slots=True)
class _Tally:
    conversations: int = 0
    first_response: list[int] = field(default_factory=list)
    resolution: list[int] = field(default_factory=list)
    replies: int = 0
    breaches: int = 0
    repeats: int = 0

    def row(self, scope: str, name: str, channel: str) -> dict[str, Any]:
        responded = len(self.first_response)
        return {
            "scope": scope,
            "name": name,
            "channel": channel,
            "conversations": self.conversations,
            "responded": responded,
            "first_response_median_s": median(self.first_response),
            "first_response_p90_s": percentile(self.first_response, 0.9),
            "resolved": len(self.resolution),
            "resolution_median_s": median(self.resolution),
            "resolution_p90_s": percentile(self.resolution, 0.9),
            "replies": self.replies,
            "breaches": self.breaches,
            "repeat_contacts": self.repeats,
            "repeat_contact_rate": round(self.repeats / responded, 4) if responded else None,
        }


@dataclass(frozen=True, slots=True)
class Report:
    start: int
    end: int
    total: dict[str, Any]
    accounts: list[dict[str, Any]]
    agents: list[dict[str, Any]]

    def rows(self) -> list[dict[str, Any]]:
        return [self.total, *self.accounts, *self.agents]

    def to_json(self) -> dict[str, Any]:
        return {
            "from": datetime.fromtimestamp(self.start, UTC).isoformat(),
            "to": datetime.fromtimestamp(self.end, UTC).isoformat(),
            "total": self.total,
            "accounts": self.accounts,
            "agents": self.agents,
        }


UNSIGNED = "(unsigned)"


class ReportFileError(ConsoleError):
    """A report could not be written to the file asked for."""


def build_report(ws: Workspace, start: int, end: int, now: int) -> Report:
    """First response, resolution, replies, breaches and repeat contacts in ``[start, end)``.

    Per account and per agent. A conversation counts for the period when its first inbound message
    falls in it (resolutions: when it was resolved in it); an agent's conversations are those
    assigned to them, else those they answered first.
    """
    accounts = {a.id: a for a in store.list_accounts(ws)}
    total = _Tally()
    by_account: defaultdict[int, _Tally] = defaultdict(_Tally)
    by_agent: defaultdict[str, _Tally] = defaultdict(_Tally)
    rule = BreachRule.for_workspace(ws, accounts)
    for item in store.report_conversations(ws, start, end):
        first_reply = agent_of(item.first_reply, accounts) if item.first_reply else None
        owner = item.assignee or first_reply or UNSIGNED
        breached = rule.breach_at(item.clocks, now) is not None
        for tally in (total, by_account[item.clocks.account_id], by_agent[owner]):
            _count_conversation(tally, item, start, end, breached)
    for reply in store.replies_between(ws, start, end):
        agent = agent_of(reply, accounts) or UNSIGNED
        for tally in (total, by_account[reply.account_id], by_agent[agent]):
            tally.replies += 1
    account_rows = []
    for account_id, tally in sorted(by_account.items()):
        info = accounts.get(account_id)
        name = info.name if info else str(account_id)
        account_rows.append(tally.row("account", name, info.channel if info else ""))
    agent_rows = [
        tally.row("agent", name, "")
        for name, tally in sorted(
            by_agent.items(), key=lambda kv: (kv[0] == UNSIGNED, kv[0].casefold())
        )
    ]
    return Report(start, end, total.row("total", "all accounts", ""), account_rows, agent_rows)


def _count_conversation(
    tally: _Tally, item: store.ReportConversation, start: int, end: int, breached: bool
) -> None:
    first_in = item.clocks.first_inbound_at
    if first_in is not None and start <= first_in < end:
        tally.conversations += 1
        seconds = item.first_response_s
        if seconds is not None:
            tally.first_response.append(seconds)
            tally.repeats += int(item.repeat_contact)
        tally.breaches += int(breached)
    resolved_at = item.clocks.resolved_at
    if resolved_at is not None and start <= resolved_at < end:
        tally.resolution.append(max(0, resolved_at - (first_in or item.started_at)))


def save_report_csv(report: Report, path: Path) -> int:
    """Write the report to ``path`` through a temporary file beside it (no half-written CSV).

    Raises :class:`ReportFileError` when the file cannot be written; returns the rows written.
    """
    folder = path.parent
    if not folder.is_dir():
        raise ReportFileError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ReportFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            rows = write_report_csv(report, stream)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReportFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows


def write_report_csv(report: Report, stream: IO[str]) -> int:
    """Write the report as CSV (one row per total, account and agent); returns the rows written."""
    writer = csv.DictWriter(stream, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    rows = report.rows()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k in REPORT_COLUMNS})
    return len(rows)


# -- alerts --------------------------------------------------------------------------------------


class AlertKind(StrEnum):
    BREACH = "breach"
    FLAGGED = "flagged_customer"
    SAME_ISSUE = "same_issue"


SAME_ISSUE_LEVELS_KEY = "supervisor.same_issue_alert_levels"


@dataclass(slots=True)
class AlertWatcher:
    """Raises each alert once: on a breached deadline, a flagged customer writing, a growing group.

    ``check`` is cheap (index ranges and the newest messages only) and is meant to run after every
    change and on a timer. History is not alerted on: only deadlines that pass while watching (or
    within ``lookback_s`` before the first check), messages written within ``lookback_s``, and groups
    active within ``lookback_s``. A same-issue group alerts at ``same_issue_threshold`` posts and
    again each time it doubles.
    """

    same_issue_threshold: int = 10
    lookback_s: int = 3600
    _checked_until: int | None = field(default=None, init=False)
    _last_message_id: int | None = field(default=None, init=False)

    def check(self, ws: Workspace, now: int) -> list[Alert]:
        since = self._checked_until if self._checked_until is not None else now - self.lookback_s
        seen = store.alerts_since(ws, min(since, now - self.lookback_s))
        if self._last_message_id is None:
            self._last_message_id = store.last_message_id(ws)
        fresh = [
            *self._breaches(ws, since, now, seen),
            *self._flagged(ws, now, seen),
            *self._groups(ws, now),
        ]
        self._checked_until = now
        return store.add_alerts(ws, fresh, now) if fresh else []

    def _breaches(self, ws: Workspace, since: int, now: int, seen: list[Alert]) -> list[NewAlert]:
        done = {(a.conversation_id, a.created_at) for a in seen if a.kind == AlertKind.BREACH}
        out = []
        for conv in store.newly_breached(ws, since, now):
            if any(c == conv.conversation_id and at >= conv.deadline_at for c, at in done):
                continue
            who = conv.who or "A customer"
            waited = duration(now - conv.waiting_since)
            text = f"{who} waited {waited} past the deadline: “{snippet(conv.snippet, 80)}”"
            out.append(NewAlert(AlertKind.BREACH, text, conv.conversation_id, conv.customer_id))
        return out

    def _flagged(self, ws: Workspace, now: int, seen: list[Alert]) -> list[NewAlert]:
        after = self._last_message_id or 0
        writes = store.flagged_writes_after(ws, after)
        self._last_message_id = max([after, store.last_message_id(ws)])
        open_for = {
            a.customer_id for a in seen if a.kind == AlertKind.FLAGGED and a.acknowledged_at is None
        }
        out = []
        for write in writes:
            if write.customer_id in open_for:
                continue
            if write.created_at < now - self.lookback_s:
                continue  # an import of old messages, not someone writing now
            open_for.add(write.customer_id)
            kinds = ", ".join(k.replace("_", " ") for k in write.kinds)
            who = write.who or "A flagged customer"
            text = f"{who} ({kinds}) wrote: “{snippet(write.text, 80)}”"
            out.append(NewAlert(AlertKind.FLAGGED, text, write.conversation_id, write.customer_id))
        return out

    def _groups(self, ws: Workspace, now: int) -> list[NewAlert]:
        levels: dict[str, int] = dict(ws.get_setting(SAME_ISSUE_LEVELS_KEY, {}) or {})
        out = []
        for group in store.growing_groups(
            ws, now, window_s=self.lookback_s, min_recent=1, limit=50
        ):
            if group.size < self.same_issue_threshold:
                continue
            level = int(math.log2(group.size / self.same_issue_threshold))
            if level <= levels.get(str(group.id), -1):
                continue
            levels[str(group.id)] = level
            text = (
                f"{group.size} posts from {group.customers} customers"
                f" (+{group.recent} in the last hour): “{snippet(group.sample, 80)}”"
            )
            out.append(NewAlert(AlertKind.SAME_ISSUE, text, group.latest_conversation_id, None))
        if out:
            ws.set_setting(SAME_ISSUE_LEVELS_KEY, levels)
        return out


def duration(seconds: float | None) -> str:
    """A short human duration: ``45 s``, ``12 min``, ``2 h 05``, ``3 d 4 h``; ``—`` for None."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d}"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def alert_selection(alert: Alert, ws: Workspace) -> Selection:
    """What clicking an alert selects: its group's conversations, else its conversation."""
    if alert.kind == AlertKind.SAME_ISSUE and alert.conversation_id is not None:
        group = store.group_of_conversation(ws, alert.conversation_id)
        if group is not None:
            return Selection(Pick.GROUP, group_id=group, title=alert.text)
    return Selection(Pick.ALERT, conversation_id=alert.conversation_id, title=alert.text)
