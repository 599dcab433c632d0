"""The Twilio Programmable Messaging adapter: SMS in and out through the REST API.

Auth is HTTP Basic with the account SID and auth token (both secrets: the SID is masked in every
error text too). Requests are form-encoded, answers JSON.

- send: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` with ``To``, ``From`` (the
  ``from_number`` setting, E.164) and ``Body`` (at most 1600 characters, checked before sending).
  SMS has no threading field: the thread is the (our number, their number) pair.
- fetch: ``GET .../Messages.json?To={from_number}&DateSent>=YYYY-MM-DD&PageSize=50``, following
  ``next_page_uri``. ``DateSent`` filters by day, so the cursor keeps a high-water mark to the
  second (``since``) plus the SIDs seen at that second (``seen``); a sweep in progress keeps
  ``next_page`` and ``pending``/``pending_seen``, and ends at the first message older than the
  mark (the list is newest first). Only ``direction: inbound`` messages are taken.
  The first sweep looks back ``lookback_days`` (default 2).
- find_sent: lists messages ``From`` us ``To`` them (newest first) and matches the body.

Mapping: ``author`` is the sender's E.164 number, no ``thread``, ``customer_key`` =
``phone:+<digits>`` (the same key WhatsApp uses, so one number is one customer).
Errors ``{"code", "message", "more_info", "status"}``: 20003/20005 -> authentication; 429 and
20429 -> rate limited (``Retry-After`` or a short default: Twilio documents 20429 as never
processed and always safe to retry); 21211, 21606, 21610, 21614, 21617... -> rejected.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from console.domain import Channel, Direction, IncomingMessage
from console.errors import (
    AuthenticationError,
    ChannelError,
    RateLimitedError,
    RejectedError,
    UnknownOutcomeError,
)
from services.channels.base import (
    AccountConfig,
    Capabilities,
    FetchResult,
    Limits,
    OutgoingReply,
    SendResult,
)
from services.channels.http import (
    ApiFailure,
    HttpApi,
    as_dict,
    as_list,
    int_of,
    parse_time,
    text_of,
    timeout_setting,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.twilio.com"
API = "/2010-04-01"
MAX_BODY = 1600
PAGE_SIZE = 50
LOOKBACK_DAYS = 2
AUTH_CODES = frozenset({20003, 20005, 20006})
RATE_CODES = frozenset({20429, 14107})
REJECT_CODES = frozenset(
    {20404, 21211, 21408, 21602, 21603, 21604, 21606, 21608, 21610, 21612, 21614, 21617, 21659}
)


def read_twilio_error(status: int, body: Any) -> ApiFailure | None:
    root = as_dict(body)
    message = text_of(root.get("message"))
    if message is None:
        return None
    code = int_of(root.get("code"))
    kind: type[ChannelError] | None = None
    if code in AUTH_CODES:
        kind = AuthenticationError
    elif code in RATE_CODES:
        kind = RateLimitedError
    elif code in REJECT_CODES:
        kind = RejectedError
    more = text_of(root.get("more_info"))
    text = f"{message} ({more})" if more else message
    return ApiFailure(text, code=None if code is None else str(code), kind=kind)


class TwilioSmsAdapter:
    """One Twilio phone number. See the module docstring."""

    SECRET_FIELDS: tuple[str, ...] = ("account_sid", "auth_token")
    SETTING_FIELDS: tuple[str, ...] = ("base_url", "from_number", "lookback_days", "timeout_s")

    def __init__(self, config: AccountConfig, client: httpx.AsyncClient) -> None:
        self.channel = Channel.SMS
        self.account = config.name
        self._sid = config.secrets.get("account_sid", "")
        token = config.secrets.get("auth_token", "")
        self._from = text_of(config.setting("from_number"))
        self._lookback = int_of(config.setting("lookback_days")) or LOOKBACK_DAYS
        self._api = HttpApi(
            client,
            label=f"Twilio {config.name}",
            base_url=str(config.setting("base_url") or DEFAULT_BASE_URL),
            secrets=[v for v in config.secrets.values() if v],
            auth=httpx.BasicAuth(self._sid, token) if self._sid and token else None,
            timeout_s=timeout_setting(config.setting("timeout_s")),
            read_error=read_twilio_error,
            default_retry_after=5.0,
        )
        self._has_auth = bool(self._sid and token)
        if self._has_auth:
            self._api.add_secret(token, basic_user=self._sid)

    # -- declarations ------------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return Limits(MAX_BODY, "sms_segments")

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(private_message=True, threading=False, reconcile=True)

    # -- helpers -----------------------------------------------------------------------------

    def _messages_path(self) -> str:
        if not self._has_auth:
            raise AuthenticationError(f"Twilio {self.account}: set the account SID and auth token")
        return f"{API}/Accounts/{quote(self._sid, safe='')}/Messages.json"

    def _our_number(self) -> str:
        if not self._from:
            raise RejectedError(f"Twilio {self.account}: set from_number (our number, E.164)")
        return self._from

    # -- fetch -------------------------------------------------------------------------------

    async def fetch(self, cursor: dict[str, str]) -> FetchResult:
        state = dict(cursor)
        path = self._messages_path()
        since = int_of(state.get("since")) or 0
        seen = set(filter(None, state.get("seen", "").split(",")))
        page_uri = state.get("next_page")
        if page_uri and page_uri.startswith(path + "?"):
            answer = await self._api.get(page_uri)
        else:
            answer = await self._api.get(path, self._first_page_params(since))
        body = as_dict(answer.body)
        messages: list[IncomingMessage] = []
        problems: list[str] = []
        pending = int_of(state.get("pending")) or since
        pending_seen = set(filter(None, state.get("pending_seen", "").split(","))) or set(seen)
        reached_old = False
        for raw in as_list(body.get("messages")):
            item = self._message(as_dict(raw), problems)
            if item is None:
                continue
            if item.created_at < since:
                reached_old = True  # the list is newest first: the rest is older still
                continue
            if item.created_at == since and item.external_id in seen:
                continue
            messages.append(item)
            if item.created_at > pending:
                pending, pending_seen = item.created_at, set()
            if item.created_at == pending:
                pending_seen.add(item.external_id)
        next_uri = text_of(body.get("next_page_uri"))
        for problem in problems:
            log.warning("Twilio %s: skipped: %s", self.account, problem)
        if next_uri and next_uri.startswith(path + "?") and not reached_old:
            state.update(
                next_page=next_uri,
                pending=str(pending),
                pending_seen=",".join(sorted(pending_seen)),
            )
            return FetchResult(messages, state, more=True, problems=problems)
        if next_uri and not reached_old:
            problems.append(
                f"ignored a next_page_uri outside this account's messages: {next_uri[:80]}"
            )
        for key in ("next_page", "pending", "pending_seen"):
            state.pop(key, None)
        if pending:
            state["since"] = str(pending)
            state["seen"] = ",".join(sorted(pending_seen))
        return FetchResult(messages, state, more=False, problems=problems)

    def _first_page_params(self, since: int) -> dict[str, Any]:
        if since:
            day = datetime.fromtimestamp(since, UTC).date()
        else:
            day = (datetime.now(UTC) - timedelta(days=self._lookback)).date()
        return {"To": self._our_number(), "DateSent>": day.isoformat(), "PageSize": PAGE_SIZE}

    def _message(self, msg: dict[str, Any], problems: list[str]) -> IncomingMessage | None:
        if msg.get("direction") != "inbound":
            return None
        sid = text_of(msg.get("sid"))
        sender = text_of(msg.get("from"))
        created = parse_time(msg.get("date_sent")) or parse_time(msg.get("date_created"))
        if sid is None or sender is None or created is None:
            problems.append(f"message without sid, from or date: {str(msg.get('sid'))[:40]}")
            return None
        body = msg.get("body") if isinstance(msg.get("body"), str) else ""
        media = int_of(msg.get("num_media")) or 0
        text = body or (f"[MMS with {media} media]" if media else "")
        if not text:
            problems.append(f"message {sid} has no body")
            return None
        digits = "".join(ch for ch in sender if ch.isdigit())
        return IncomingMessage(
            channel=Channel.SMS,
            account=self.account,
            external_id=sid,
            direction=Direction.IN,
            author=sender,
            text=text,
            created_at=created,
            customer_key=f"phone:+{digits}" if sender.startswith("+") and digits else None,
            extra={"to": msg.get("to"), "num_media": media} if media else {"to": msg.get("to")},
        )

    # -- send --------------------------------------------------------------------------------

    async def send(self, reply: OutgoingReply) -> SendResult:
        path = self._messages_path()
        if not reply.text.strip():
            raise RejectedError(f"Twilio {self.account}: the message is empty")
        if len(reply.text) > MAX_BODY:
            raise RejectedError(
                f"Twilio {self.account}: the message is {len(reply.text)} characters; "
                f"SMS allows {MAX_BODY}"
            )
        if not reply.recipient:
            raise RejectedError(f"Twilio {self.account}: a message needs the customer's number")
        form = {"To": reply.recipient, "From": self._our_number(), "Body": reply.text}
        answer = await self._api.call("POST", path, form=form, sending=True)
        body = as_dict(answer.body)
        sid = text_of(body.get("sid"))
        if sid is None:
            raise UnknownOutcomeError(f"Twilio {self.account}: the message came back without a sid")
        if body.get("status") in ("failed", "undelivered"):
            raise RejectedError(
                f"Twilio {self.account}: message {sid} {body.get('status')}: "
                f"{body.get('error_message') or body.get('error_code')}"
            )
        segments = text_of(body.get("num_segments"))
        return SendResult(sid, detail=f"{body.get('status', '')} {segments or '?'} segment(s)")

    async def find_sent(self, reply: OutgoingReply) -> SendResult | None:
        path = self._messages_path()
        if not reply.recipient:
            return None
        params = {"To": reply.recipient, "From": self._our_number(), "PageSize": PAGE_SIZE}
        body = as_dict((await self._api.get(path, params)).body)
        wanted = " ".join(reply.text.split())
        for msg in as_list(body.get("messages")):
            msg = as_dict(msg)
            if not str(msg.get("direction", "")).startswith("outbound"):
                continue
            if " ".join(str(msg.get("body", "")).split()) == wanted and text_of(msg.get("sid")):
                return SendResult(str(msg["sid"]), detail="found among the messages we sent")
        return None

    async def test(self) -> str:
        self._messages_path()
        answer = await self._api.get(f"{API}/Accounts/{quote(self._sid, safe='')}.json")
        data = as_dict(answer.body)
        sending = f", sending from {self._from}" if self._from else ""
        return (
            f"Twilio account {data.get('friendly_name', '?')} ({data.get('status', '?')})"
            f"{sending}: credentials work"
        )
