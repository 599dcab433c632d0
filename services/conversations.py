"""Agent actions on conversations, as the window and the CLI run them.

:class:`ConversationActions` changes storage (``console.storage.conversations``), re-runs triage for
the customer (a resolved conversation no longer breaches; a snoozed one stops its clock), and then
publishes what changed on the event bus. ``source`` lets the view that acted skip its own refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from console.changes import (
    CustomersChanged,
    EventBus,
    InboxChanged,
    MessagesChanged,
    WorkspaceReset,
)
from console.domain import IncomingMessage, Status
from console.storage import conversations as repo
from console.storage.conversations import ActionResult
from console.storage.db import Workspace
from services.channels.phone import LoggedCall, ensure_phone_account, ingest_call

Clock = Callable[[], int]


class ConversationActions:
    """Assign, resolve, reopen, snooze, mark pending, note and tag, as ``agent``."""

    def __init__(self, ws: Workspace, bus: EventBus, clock: Clock, agent: str) -> None:
        self.ws = ws
        self.bus = bus
        self.clock = clock
        self.agent = agent

    def _done(
        self, results: Iterable[ActionResult], reason: str, source: object | None
    ) -> list[ActionResult]:
        done = list(results)
        if not done:
            return done
        customers = {r.customer_id for r in done if r.customer_id is not None}
        if customers:
            # No inbound text changed: flags, deadlines and priorities move, same-issue counts
            # do not (recounting every text of a customer with 1,000 posts cost 200 ms a key).
            from console.triage.engine import retriage

            retriage(self.ws, customers, clock=self.clock, message_ids=())
        conversations = frozenset(r.conversation_id for r in done)
        self.bus.publish(
            MessagesChanged(
                reason=reason,
                source=source,
                message_ids=frozenset(r.message_id for r in done),
                conversation_ids=conversations,
            )
        )
        self.bus.publish(InboxChanged(reason=reason, source=source, conversation_ids=conversations))
        return done

    def assign(
        self, conversation_id: int, assignee: str | None, *, source: object | None = None
    ) -> ActionResult:
        result = repo.assign(self.ws, conversation_id, assignee, agent=self.agent, now=self.clock())
        return self._done([result], "assigned", source)[0]

    def take(self, conversation_id: int, *, source: object | None = None) -> ActionResult:
        return self.assign(conversation_id, self.agent, source=source)

    def set_status(
        self,
        conversation_id: int,
        status: Status,
        *,
        until: int | None = None,
        label: str | None = None,
        source: object | None = None,
    ) -> ActionResult:
        result = repo.set_status(
            self.ws,
            conversation_id,
            status,
            agent=self.agent,
            now=self.clock(),
            until=until,
            label=label,
        )
        return self._done([result], str(status), source)[0]

    def resolve(self, conversation_id: int, *, source: object | None = None) -> ActionResult:
        return self.set_status(conversation_id, Status.RESOLVED, source=source)

    def reopen(self, conversation_id: int, *, source: object | None = None) -> ActionResult:
        return self.set_status(conversation_id, Status.OPEN, source=source)

    def snooze(
        self,
        conversation_id: int,
        until: int,
        *,
        label: str | None = None,
        source: object | None = None,
    ) -> ActionResult:
        return self.set_status(
            conversation_id, Status.SNOOZED, until=until, label=label, source=source
        )

    def add_note(
        self, conversation_id: int, text: str, *, source: object | None = None
    ) -> ActionResult:
        result = repo.add_note(self.ws, conversation_id, text, agent=self.agent, now=self.clock())
        return self._done([result], "note", source)[0]

    def set_tags(
        self, conversation_id: int, tags: Iterable[str], *, source: object | None = None
    ) -> ActionResult:
        result = repo.set_tags(self.ws, conversation_id, tags, agent=self.agent, now=self.clock())
        return self._done([result], "tags", source)[0]

    def wake_snoozed(self) -> list[ActionResult]:
        """For a timer: snoozed conversations whose time came are open again."""
        return self._done(repo.wake_snoozed(self.ws, self.clock()), "snooze ended", None)


def log_phone_call(
    ws: Workspace, bus: EventBus, call: IncomingMessage, *, clock: Clock | None = None
) -> LoggedCall:
    """Store a call an agent logged (with triage), then tell the views: it joins the history.

    A phone account named for the first time is created as a phone account (not a sandbox)."""
    from console.triage.engine import incremental_hook

    ensure_phone_account(ws, call.account)
    logged = ingest_call(ws, call, after_batch=incremental_hook(clock=clock))
    if logged.added and logged.conversation_id is not None:
        conversations = frozenset({logged.conversation_id})
        bus.publish(
            MessagesChanged(
                reason="call logged",
                message_ids=frozenset({logged.message_id or 0}),
                conversation_ids=conversations,
            )
        )
        bus.publish(
            InboxChanged(reason="call logged", conversation_ids=conversations, added=conversations)
        )
        if logged.customer_id is not None:
            bus.publish(
                CustomersChanged(reason="call logged", customer_ids=frozenset({logged.customer_id}))
            )
    return logged


def account_removed(
    ws: Workspace, bus: EventBus, customer_ids: Iterable[int], *, clock: Clock | None = None
) -> None:
    """An account went with its conversations: its customers' flags change, the views reload."""
    from console.triage.engine import retriage

    ids = sorted(set(customer_ids))
    if ids:
        retriage(ws, ids, clock=clock)
    bus.publish(WorkspaceReset(reason="account removed"))
