"""Phone: calls have no API here, so an agent logs each one and it joins the customer's history.

:func:`log_call` turns what the agent typed (number, name, direction, when, duration, summary) into
an :class:`~console.domain.IncomingMessage` on the ``phone`` channel: an unthreaded stream, so the
calls of one number within a day share a conversation. An incoming call is an inbound message
from the customer's number; an outgoing call is an outbound message from our account to it (it
answers whoever was waiting). The summary is the text; ``extra`` holds ``duration_s``, ``agent``
and ``call_direction``. The external id is derived from account, number, direction and start time,
so logging the same call twice stores it once.

:func:`ingest_call` stores it through :class:`~console.storage.ingest.Ingestor` (pass the triage
hook so flags and deadlines follow), creating the phone account on first use.

:class:`PhoneAdapter` exists so that phone accounts fit the adapter protocol: it fetches nothing,
and ``send`` raises ``RejectedError`` (a reply to a call is another call, logged the same way).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from console.domain import Channel, Direction, IncomingMessage, to_epoch, utcnow
from console.errors import ConsoleError, RejectedError
from console.storage.accounts import Account, add_account, find_account
from console.storage.db import Workspace
from console.storage.ingest import AfterBatch, Ingestor

if TYPE_CHECKING:
    import httpx

from services.channels.base import (
    AccountConfig,
    Capabilities,
    FetchResult,
    Limits,
    OutgoingReply,
    SendResult,
)
from services.channels.fields import FieldSpec

MAX_SUMMARY_CHARS = 20_000
MAX_DURATION_S = 24 * 3600
_SEPARATORS = re.compile(r"[\s().\-/]")
_NUMBER = re.compile(r"^\+?\d{3,20}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class InvalidCallError(ConsoleError):
    """What was typed about a call cannot be logged; the text says which value."""


def normalize_number(value: str) -> str:
    """A phone number without spaces, dots, dashes and brackets (``00`` becomes ``+``); anything
    that is not a number (``withheld``, a SIP address) is kept as typed."""
    text = " ".join(str(value or "").split())
    if not text:
        raise InvalidCallError("the caller's number is empty")
    if _CONTROL.search(text) or len(text) > 100:
        raise InvalidCallError("the caller's number is not usable")
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact if _NUMBER.match(compact) else text


def parse_duration(value: str | int | None) -> int | None:
    """Seconds from ``90``, ``1:30`` or ``1:02:03``; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        raise InvalidCallError(f"duration {text!r} is not seconds or [h:]mm:ss") from None
    if len(parts) > 3 or any(p < 0 for p in parts) or any(p >= 60 for p in parts[1:]):
        raise InvalidCallError(f"duration {text!r} is not seconds or [h:]mm:ss")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    if seconds > MAX_DURATION_S:
        raise InvalidCallError("a call cannot last more than a day")
    return seconds


def _epoch(started_at: int | float | datetime) -> int:
    if isinstance(started_at, datetime):
        if started_at.tzinfo is None:
            started_at = started_at.astimezone()  # a wall-clock time: the agent's zone
        return to_epoch(started_at)
    return int(started_at)


def call_id(account: str, number: str, direction: str, started_at: int) -> str:
    digest = hashlib.sha256(f"{account}\n{number}\n{direction}\n{started_at}".encode()).hexdigest()
    return f"call:{digest[:24]}"


def log_call(
    *,
    account: str,
    number: str,
    summary: str,
    name: str | None = None,
    direction: str = "in",
    started_at: int | float | datetime | None = None,
    duration_s: int | None = None,
    agent: str | None = None,
    account_handle: str | None = None,
) -> IncomingMessage:
    """The call as a message of the phone channel (see the module docstring)."""
    if direction not in ("in", "out"):
        raise InvalidCallError(f"direction must be 'in' or 'out', not {direction!r}")
    handle = normalize_number(number)
    text = (summary or "").replace("\r\n", "\n").strip()
    if not text:
        raise InvalidCallError("the call summary is empty")
    if len(text) > MAX_SUMMARY_CHARS:
        raise InvalidCallError(f"the call summary is longer than {MAX_SUMMARY_CHARS} characters")
    if duration_s is not None and not 0 <= duration_s <= MAX_DURATION_S:
        raise InvalidCallError("the duration must be between 0 and 24 hours")
    when = _epoch(utcnow() if started_at is None else started_at)
    extra: dict[str, Any] = {"call_direction": direction}
    if duration_s is not None:
        extra["duration_s"] = duration_s
    if agent:
        extra["agent"] = agent
    customer_name = " ".join(name.split()) if name and name.strip() else None
    common: dict[str, Any] = {
        "channel": Channel.PHONE,
        "account": account,
        "external_id": call_id(account, handle, direction, when),
        "text": text,
        "created_at": when,
        "extra": extra,
    }
    # The same key as SMS and WhatsApp numbers: one person's calls, texts and chats join up.
    key = f"phone:{handle}" if handle.startswith("+") else None
    if direction == "in":
        return IncomingMessage(
            direction=Direction.IN,
            author=handle,
            author_name=customer_name,
            customer_key=key,
            **common,
        )
    if customer_name:
        extra["customer_name"] = customer_name  # an outbound message has no field for it
    return IncomingMessage(
        direction=Direction.OUT,
        author=account_handle or account,
        author_name=agent,
        to=handle,
        customer_key=key,
        **common,
    )


@dataclass(frozen=True, slots=True)
class LoggedCall:
    added: bool
    external_id: str
    message_id: int | None = None
    conversation_id: int | None = None
    customer_id: int | None = None


def ensure_phone_account(ws: Workspace, name: str) -> tuple[Account, bool]:
    """The phone account called ``name``, created (kind ``phone``) when missing."""
    found = find_account(ws, Channel.PHONE, name)
    if found is not None:
        return found, False
    return add_account(ws, channel=Channel.PHONE, name=name, kind="phone"), True


def ingest_call(
    ws: Workspace, call: IncomingMessage, *, after_batch: AfterBatch | None = None
) -> LoggedCall:
    """Store a logged call (use from the workspace's own thread)."""
    report = Ingestor(ws, after_batch=after_batch).ingest([call])
    if not report.message_ids:
        return LoggedCall(False, call.external_id)
    return LoggedCall(
        True,
        call.external_id,
        report.message_ids[0],
        next(iter(report.conversation_ids), None),
        next(iter(report.customer_ids), None),
    )


class PhoneAdapter:
    """The adapter of a phone account: nothing to fetch, nothing to send (calls are logged)."""

    SETTING_FIELDS: tuple[FieldSpec, ...] = ()
    SECRET_FIELDS: tuple[FieldSpec, ...] = ()

    def __init__(self, config: AccountConfig, client: httpx.AsyncClient | None = None) -> None:
        self.channel = Channel.PHONE
        self.account = config.name
        self.config = config

    @property
    def limits(self) -> Limits:
        return Limits(max_length=MAX_SUMMARY_CHARS, length_rule="none")

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(threading=False, fetch=False, send=False, reconcile=False)

    async def fetch(self, cursor: dict[str, str]) -> FetchResult:
        return FetchResult([], dict(cursor))

    async def send(self, reply: OutgoingReply) -> SendResult:
        raise RejectedError("phone calls are logged, not sent")

    async def find_sent(self, reply: OutgoingReply) -> SendResult | None:
        return None

    async def test(self) -> str:
        return f"{self.account}: phone calls are logged by agents; there is nothing to connect to"
