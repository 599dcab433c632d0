"""What the inbox shows: one immutable value shared by the inbox, the supervisor panel and the CLI.

The inbox model turns an :class:`InboxFilter` into a keyset query (``console.storage.inbox``); the
supervisor panel builds one for each figure an agent clicks (``conversation_ids`` + ``title``).
Filters are plain data so they can be persisted (``to_json``/``from_json``) and compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from console.domain import Channel, FlagKind, Status

Sort = Literal["activity", "waiting", "priority"]
SORTS: tuple[Sort, ...] = ("activity", "waiting", "priority")

#: Statuses an inbox shows when the agent has not chosen any: the work still to do.
OPEN_STATUSES: frozenset[Status] = frozenset({Status.OPEN, Status.PENDING})


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """Which conversations the inbox lists and in what order. Empty sets mean "any"."""

    channels: frozenset[Channel] = frozenset()
    account_ids: frozenset[int] = frozenset()
    statuses: frozenset[Status] = OPEN_STATUSES
    #: an agent name; "" = unassigned only; None = anyone
    assignee: str | None = None
    flags: frozenset[FlagKind] = frozenset()
    search: str = ""
    #: only conversations whose last message is the customer's (waiting for us)
    waiting_only: bool = False
    #: only conversations whose response deadline is near (see triage deadlines)
    at_risk: bool = False
    #: only conversations past their response deadline
    breached: bool = False
    #: exactly these conversations (from a supervisor figure); empty = no restriction
    conversation_ids: tuple[int, ...] = ()
    #: a human title for a filter built elsewhere ("Breached on @AirlineCare")
    title: str = ""
    sort: Sort = "activity"
    tags: frozenset[str] = field(default_factory=frozenset)

    def with_(self, **changes: Any) -> InboxFilter:
        """A copy with some fields changed (``replace`` that reads well at call sites)."""
        return replace(self, **changes)

    @property
    def is_pinned(self) -> bool:
        """True when the filter names exact conversations (a supervisor drill-down)."""
        return bool(self.conversation_ids)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (sets become sorted lists) for QSettings/workspace settings."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, frozenset):
                data[key] = sorted(str(getattr(v, "value", v)) for v in value)
            elif isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InboxFilter:
        """The inverse of :meth:`to_json`; unknown keys and bad values fall back to defaults."""
        default = cls()
        try:
            sort = data.get("sort", default.sort)
            return cls(
                channels=frozenset(Channel(v) for v in data.get("channels", ())),
                account_ids=frozenset(int(v) for v in data.get("account_ids", ())),
                statuses=frozenset(Status(v) for v in data.get("statuses", ())) or default.statuses,
                assignee=data.get("assignee"),
                flags=frozenset(FlagKind(v) for v in data.get("flags", ())),
                search=str(data.get("search", "")),
                waiting_only=bool(data.get("waiting_only", False)),
                at_risk=bool(data.get("at_risk", False)),
                breached=bool(data.get("breached", False)),
                conversation_ids=tuple(int(v) for v in data.get("conversation_ids", ())),
                title=str(data.get("title", "")),
                sort=sort if sort in SORTS else default.sort,
                tags=frozenset(str(v) for v in data.get("tags", ())),
            )
        except (TypeError, ValueError):
            return default
