"""Customer actions as the window and the CLI run them: merge, un-merge, notes.

Merging moves identities, conversations and messages, so afterwards triage runs again for both
customers and the views hear about every conversation that changed hands.
"""

from __future__ import annotations

from collections.abc import Callable

from console.changes import CustomersChanged, EventBus, InboxChanged, MessagesChanged
from console.storage import customers as repo
from console.storage.db import Workspace

Clock = Callable[[], int]


class CustomerActions:
    def __init__(self, ws: Workspace, bus: EventBus, clock: Clock, agent: str) -> None:
        self.ws = ws
        self.bus = bus
        self.clock = clock
        self.agent = agent

    def _conversations(self, customer_ids: list[int]) -> frozenset[int]:
        return frozenset(repo.conversation_ids_of(self.ws, customer_ids))

    def _publish(self, customer_ids: list[int], reason: str, source: object | None) -> None:
        from console.triage.engine import retriage  # imported after the window's start

        retriage(self.ws, customer_ids, clock=self.clock)
        conversations = self._conversations(customer_ids)
        self.bus.publish(
            CustomersChanged(reason=reason, source=source, customer_ids=frozenset(customer_ids))
        )
        self.bus.publish(
            MessagesChanged(reason=reason, source=source, conversation_ids=conversations)
        )
        self.bus.publish(InboxChanged(reason=reason, source=source, conversation_ids=conversations))

    def merge(self, target_id: int, source_id: int, *, source: object | None = None) -> int:
        merge_id = repo.merge_customers(
            self.ws, target_id, source_id, agent=self.agent, now=self.clock()
        )
        self._publish([target_id, source_id], "merged", source)
        return merge_id

    def unmerge(self, customer_id: int, *, source: object | None = None) -> dict[str, int]:
        result = repo.unmerge_customer(self.ws, customer_id, now=self.clock())
        self._publish([result["target"], result["restored"]], "unmerged", source)
        return result
