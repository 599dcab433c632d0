"""The sandbox adapter: what demo and imported accounts use until a real channel is set up.

It sends nothing anywhere. A "sent" reply is recorded (with a :class:`WorkspaceJournal`, in the
outbox item's payload under ``sandbox``, so it survives restarts; otherwise in memory) and gets
the remote id ``sandbox:{n}``. ``find_sent`` looks replies up by idempotency key, and recording the
same key twice keeps one record, so the outbox's exactly-once promise holds here too. Limits and
capabilities are the real channel's, so the composer counts and warns as it will for real.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from console.domain import Channel
from console.errors import NotFoundError, RejectedError
from console.storage import outbox_repo
from console.storage.db import Workspace
from services.channels.base import (
    AccountConfig,
    Capabilities,
    FetchResult,
    Limits,
    OutgoingReply,
    SendResult,
)

DAY = 24 * 3600


@dataclass(frozen=True, slots=True)
class _Profile:
    limits: Limits
    public: bool
    private: bool


#: Each channel's real limits (see the reference, section 8) and whether it has public replies,
#: private messages or both.
PROFILES: dict[Channel, _Profile] = {
    Channel.X: _Profile(Limits(280, "x_weighted"), public=True, private=True),
    Channel.FACEBOOK: _Profile(Limits(8000, "chars"), public=True, private=True),
    Channel.INSTAGRAM: _Profile(Limits(2200, "chars"), public=True, private=True),
    Channel.MESSENGER: _Profile(
        Limits(2000, "chars", reply_window_s=DAY, extended_window_s=7 * DAY), False, True
    ),
    Channel.WHATSAPP: _Profile(Limits(4096, "chars", reply_window_s=DAY), False, True),
    Channel.SMS: _Profile(Limits(1600, "sms_segments"), public=False, private=True),
    Channel.EMAIL: _Profile(Limits(None, "none"), public=False, private=True),
    Channel.PHONE: _Profile(Limits(None, "none"), public=False, private=False),
}

#: Pacing: nothing leaves the machine, but bursts are still spaced as a channel would want.
SANDBOX_REQUESTS_PER_SECOND = 10.0


class SandboxJournal(Protocol):
    """Where the sandbox keeps what it would have sent."""

    def record(self, key: str, record: dict[str, Any]) -> int: ...

    def find(self, key: str) -> int | None: ...


class MemoryJournal:
    """Records for this process only (tests, ``account test``)."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[int, dict[str, Any]]] = {}

    def record(self, key: str, record: dict[str, Any]) -> int:
        if key not in self.records:
            self.records[key] = (len(self.records) + 1, record)
        return self.records[key][0]

    def find(self, key: str) -> int | None:
        found = self.records.get(key)
        return None if found is None else found[0]


class WorkspaceJournal:
    """Records in the outbox item itself (its payload), so they survive a restart. A reply that
    is not in the outbox (sent by hand) falls back to memory."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._memory = MemoryJournal()

    def record(self, key: str, record: dict[str, Any]) -> int:
        try:
            return outbox_repo.record_sandbox_send(self.ws, key, record)
        except NotFoundError:
            return -self._memory.record(key, record)

    def find(self, key: str) -> int | None:
        found = outbox_repo.find_sandbox_send(self.ws, key)
        if found is not None:
            return found[0]
        local = self._memory.find(key)
        return None if local is None else -local


class SandboxAdapter:
    """A channel adapter that records replies instead of sending them."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ()
    SETTING_FIELDS: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        config: AccountConfig,
        client: object | None = None,
        *,
        journal: SandboxJournal | None = None,
    ) -> None:
        self.config = config
        self.channel = config.channel
        self.account = config.name
        self.journal: SandboxJournal = journal if journal is not None else MemoryJournal()
        self._profile = PROFILES.get(config.channel, _Profile(Limits(None, "none"), True, False))

    @property
    def limits(self) -> Limits:
        base = self._profile.limits
        return Limits(
            base.max_length,
            base.length_rule,
            base.reply_window_s,
            base.extended_window_s,
            requests_per_second=SANDBOX_REQUESTS_PER_SECOND,
        )

    @property
    def capabilities(self) -> Capabilities:
        can_send = self._profile.public or self._profile.private
        return Capabilities(
            public_reply=self._profile.public,
            private_message=self._profile.private,
            threading=True,
            fetch=False,
            send=can_send,
            reconcile=True,
        )

    async def fetch(self, cursor: dict[str, str]) -> FetchResult:
        return FetchResult(messages=[], cursor=dict(cursor), more=False)

    async def send(self, reply: OutgoingReply) -> SendResult:
        if not self.capabilities.send:
            raise RejectedError(f"{self.channel.label} accounts log contacts; they cannot send")
        record = {
            "account": self.account,
            "channel": str(self.channel),
            "mode": reply.mode,
            "recipient": reply.recipient,
            "in_reply_to": reply.in_reply_to,
            "thread": reply.thread,
            "subject": reply.subject,
            "text": reply.text,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        number = self.journal.record(reply.idempotency_key, record)
        return SendResult(_remote_id(number), "sandbox: recorded, nothing left this machine")

    async def find_sent(self, reply: OutgoingReply) -> SendResult | None:
        number = self.journal.find(reply.idempotency_key)
        if number is None:
            return None
        return SendResult(_remote_id(number), "sandbox: recorded earlier")

    async def test(self) -> str:
        return (
            f"Sandbox account {self.account!r} ({self.channel.label}): replies are only recorded "
            "here, nothing leaves this machine. Set up the real channel to send."
        )


def _remote_id(number: int) -> str:
    return f"sandbox:{number}" if number > 0 else f"sandbox:local-{-number}"
