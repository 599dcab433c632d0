"""The domain vocabulary: channels, directions, statuses and the plain records passed between layers.

Records are frozen, slotted dataclasses (all but :class:`IncomingMessage`, see there); ids are
plain ints. Times inside the core are aware ``datetime`` objects in UTC; the storage layer keeps
them as integer Unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    X = "x"
    EMAIL = "email"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    MESSENGER = "messenger"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    PHONE = "phone"

    @property
    def label(self) -> str:
        return CHANNEL_LABELS[self]

    @property
    def is_threaded(self) -> bool:
        """Threaded channels carry reply links; the others are streams split by silence."""
        return self in THREADED_CHANNELS

    @property
    def is_public(self) -> bool:
        return self in PUBLIC_CHANNELS


CHANNEL_LABELS: dict[Channel, str] = {
    Channel.X: "X",
    Channel.EMAIL: "Email",
    Channel.FACEBOOK: "Facebook",
    Channel.INSTAGRAM: "Instagram",
    Channel.MESSENGER: "Messenger",
    Channel.WHATSAPP: "WhatsApp",
    Channel.SMS: "SMS",
    Channel.PHONE: "Phone",
}
THREADED_CHANNELS = frozenset({Channel.X, Channel.EMAIL, Channel.FACEBOOK, Channel.INSTAGRAM})
PUBLIC_CHANNELS = frozenset({Channel.X, Channel.FACEBOOK, Channel.INSTAGRAM})

#: Silence after which a message on an unthreaded stream opens a new conversation.
STREAM_SILENCE_S = 24 * 3600


class Direction(StrEnum):
    IN = "in"
    OUT = "out"
    NOTE = "note"
    EVENT = "event"  # an action recorded in the history: assigned, resolved, snoozed, tagged...


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class Delivery(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the request left and no answer came back: reconcile before retrying


class FlagKind(StrEnum):
    REPEAT = "repeat"
    ESCALATING = "escalating"
    DUPLICATES = "duplicates"
    HIGH_REACH = "high_reach"
    BREACH = "breach"


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: times must carry an offset")
    return int(moment.timestamp())


def from_epoch(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def iso(seconds: int | float | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``-free explicit offset, or None."""
    if seconds is None:
        return None
    return from_epoch(seconds).isoformat()


@dataclass(slots=True)
class IncomingMessage:
    """One message as an importer or a channel adapter hands it to the workspace.

    Not frozen, though nothing changes one after it is made: an import builds a million of them
    twice (in the reader process and again in the importing one), and a frozen dataclass of 18
    fields takes ten times as long to build (2.7 µs against 0.27 µs), some 5 s of a 1M import.

    ``author`` is the handle of whoever wrote it: a customer's handle for inbound messages, our
    account's handle for outbound ones. ``to`` names the customer handle an outbound message on an
    unthreaded stream is addressed to, when no ``thread`` or ``in_reply_to`` says it.
    """

    channel: Channel
    account: str
    external_id: str
    direction: Direction
    author: str
    text: str
    created_at: int
    in_reply_to: str | None = None
    thread: str | None = None
    author_name: str | None = None
    customer_key: str | None = None
    followers: int | None = None
    subject: str | None = None
    to: str | None = None
    language: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The sentiment of an inbound text when the import already scored it (in ``language``);
    #: None leaves it to the triage.
    sentiment: float | None = None
    #: ``fingerprint(normalize_for_duplicates(text))`` of an inbound text when the reader already
    #: computed it (console.textutil); None: the ingest computes it.
    norm_hash: int | None = None
    #: ``extra`` as the JSON the messages table stores, when the reader already encoded it
    #: (``console.textutil.extra_json``); None: the ingest encodes it.
    extra_json: str | None = None


@dataclass(frozen=True, slots=True)
class Flag:
    kind: FlagKind
    score: float
    reasons: tuple[str, ...]
    message_ids: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "score": round(self.score, 3),
            "reasons": list(self.reasons),
        }
