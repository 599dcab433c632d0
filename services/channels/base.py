"""The one protocol every channel adapter implements, and the records it exchanges.

An adapter fetches what is new since a cursor, sends a reply threaded to the message it answers,
and declares its limits and capabilities. Errors are the typed ``ChannelError`` family from
``console.errors``: ``AuthenticationError`` and ``RejectedError`` are never retried,
``RateLimitedError`` carries the wait, ``TransientError`` is retried with backoff, and
``UnknownOutcomeError`` (the request left, no answer came back) is reconciled before any retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from console.domain import Channel, IncomingMessage


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """What an adapter is built from: one channel account's row plus its secrets from the keyring.

    ``kind`` names the adapter ("x", "meta", "whatsapp", "twilio", "email", "phone", "sandbox");
    ``settings`` are the non-secret settings stored in the workspace (``base_url``, page ids,
    hosts...); ``secrets`` come from the OS keyring and are never persisted or printed (``repr``
    shows only their names).
    """

    id: int
    name: str
    channel: Channel
    kind: str
    handle: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return (
            f"AccountConfig(id={self.id}, name={self.name!r}, channel={self.channel!s}, "
            f"kind={self.kind!r}, secrets={sorted(self.secrets)})"
        )

    def setting(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)


@dataclass(frozen=True, slots=True)
class Limits:
    """What the channel allows. ``length_rule`` names the counter in ``console.limits``."""

    max_length: int | None
    length_rule: str  # "x_weighted", "chars", "utf8_bytes", "sms_segments", "none"
    reply_window_s: int | None = None  # messaging window after the customer's last message
    extended_window_s: int | None = None  # e.g. Messenger HUMAN_AGENT tag, 7 days
    requests_per_second: float | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    public_reply: bool = False
    private_message: bool = False
    threading: bool = True
    fetch: bool = True
    send: bool = True
    reconcile: bool = False  # can look up whether a reply we may have sent exists


@dataclass(frozen=True, slots=True)
class OutgoingReply:
    """A reply to send. ``idempotency_key`` is ours (no channel offers one); adapters that can
    carry it (email Message-ID, a client reference field) do, so reconciling can find it."""

    idempotency_key: str
    text: str
    mode: str  # "public" or "private"
    recipient: str | None  # customer handle / address / number / PSID
    in_reply_to: str | None  # external id of the message answered
    thread: str | None = None  # conversation key for DMs (X dm_conversation_id, ...)
    subject: str | None = None
    references: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendResult:
    remote_id: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FetchResult:
    messages: list[IncomingMessage]
    cursor: dict[str, str]  # to store and pass back on the next fetch
    more: bool = False  # another page is ready now
    problems: list[str] = field(default_factory=list)  # items skipped, each with its reason


class ChannelAdapter(Protocol):
    channel: Channel
    account: str  # our account name in the workspace

    @property
    def limits(self) -> Limits: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def fetch(self, cursor: dict[str, str]) -> FetchResult: ...

    async def send(self, reply: OutgoingReply) -> SendResult: ...

    async def find_sent(self, reply: OutgoingReply) -> SendResult | None:
        """Look for a reply we may already have sent (for unknown outcomes); None if not found."""

    async def test(self) -> str:
        """Check the credentials and the connection; return a one-line description."""
