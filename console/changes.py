"""Change sets and the small typed event bus that carries them (Anki's ``OpChanges`` idea).

Services mutate storage and then publish what changed. Subscribers (the Qt bridge, the supervisor
metrics) decide for themselves whether to refresh. ``source`` names the initiator so that the view
which started a change can skip refreshing itself. Callbacks run synchronously on the publishing
thread; publish from the GUI/asyncio thread only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    reason: str = ""
    source: object | None = None


@dataclass(frozen=True, slots=True)
class InboxChanged(Change):
    """Conversations were added, updated or removed (by id)."""

    conversation_ids: frozenset[int] = field(default_factory=frozenset)
    added: frozenset[int] = field(default_factory=frozenset)
    removed: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class MessagesChanged(Change):
    message_ids: frozenset[int] = field(default_factory=frozenset)
    conversation_ids: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class CustomersChanged(Change):
    customer_ids: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class OutboxChanged(Change):
    item_ids: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class WorkspaceReset(Change):
    """Too much changed to describe (an import, a rebuild): views reload."""


C = TypeVar("C", bound=Change)
Callback = Callable[[Any], None]


class EventBus:
    """Typed publish/subscribe. ``subscribe(InboxChanged, fn)`` also receives subclasses."""

    def __init__(self) -> None:
        self._subscribers: dict[type[Change], list[Callback]] = defaultdict(list)

    def subscribe(self, kind: type[C], callback: Callable[[C], None]) -> Callable[[], None]:
        self._subscribers[kind].append(callback)

        def unsubscribe() -> None:
            try:
                self._subscribers[kind].remove(callback)
            except ValueError:
                pass

        return unsubscribe

    def publish(self, change: Change) -> None:
        for kind, callbacks in list(self._subscribers.items()):
            if isinstance(change, kind):
                for callback in list(callbacks):
                    try:
                        callback(change)
                    except Exception:
                        log.exception("subscriber %r failed on %r", callback, change)
