"""The WhatsApp Cloud API adapter: messages in from the relay, replies out through the Cloud API.

WhatsApp only pushes (webhooks), so inbound messages come from the team's relay
(``services/relay.py``, notes/relay_api.md): ``GET {relay_url}/v1/events?source=whatsapp&after=N``
with ``Authorization: Bearer <relay_token>``; the cursor is ``{"relay_after": "<last event id>"}``.
Each stored webhook payload goes through :func:`whatsapp_webhook_messages`, a pure function the
relay's own tests use too.

Mapping: ``author`` is the customer's ``wa_id`` (digits of their number, what ``to`` takes),
``author_name`` the profile name from ``contacts[]``, ``in_reply_to`` the ``context.id`` of the
message they replied to, no ``thread`` (an unthreaded stream), ``customer_key`` =
``phone:+<wa_id>`` so the same number on SMS or phone joins the same customer. ``statuses[]``
(delivery receipts) are not messages: failed ones are reported as problems, the rest ignored.
Unknown message types (reactions, system, unsupported...) are skipped with a reason.

Send: ``POST /{version}/{phone_number_id}/messages`` with ``messaging_product: whatsapp``, ``to``,
``type: text`` and ``context.message_id`` to quote the message answered. Outside the 24-hour
customer-service window only an approved template may be sent: with
``extra["last_inbound_at"]`` the adapter decides before sending; otherwise Meta's 131047 answer
decides. A reply that has ``extra["template"]`` (name; ``extra["template_language"]``, default
the ``template_language`` setting or ``en``; optional ``extra["template_params"]`` a JSON list of
body parameters) is then sent as ``type: template``; without one it is rejected, saying so.

Errors: Graph bodies; 190 -> authentication; 4, 80007, 130429, 131056 -> rate limited;
131047 (window), 131026, 131051, 100, 132xxx (templates) -> rejected; 1, 2, 131000, 131016,
133004 -> transient. The Cloud API cannot list sent messages, so there is no reconciling
(``capabilities.reconcile`` is False; ``find_sent`` raises ``NotImplementedError``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from console.domain import Channel, Direction, IncomingMessage, utcnow
from console.errors import AuthenticationError, RejectedError, UnknownOutcomeError
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
    meta_usage_wait,
    text_of,
    timeout_setting,
)
from services.channels.meta import DEFAULT_BASE_URL, DEFAULT_VERSION, graph_error_reader

log = logging.getLogger(__name__)

DAY_S = 24 * 3600
MAX_TEXT = 4096
RELAY_PAGE = 100
WINDOW_CODE = "131047"
WA_AUTH = frozenset({0, 190})
WA_RATE = frozenset({4, 80007, 130429, 131048, 131056})
WA_REJECT = frozenset(
    {10, 100, 200, 368, 131008, 131009, 131021, 131026, 131031, 131051, 131052, 131053}
    | set(range(132000, 132070))
)
WA_TRANSIENT = frozenset({1, 2, 131000, 131016, 131057, 133004})
_MEDIA = ("image", "video", "audio", "document", "sticker")


def whatsapp_webhook_messages(
    payload: Any, account: str, *, phone_number_id: str | None = None
) -> tuple[list[IncomingMessage], list[str]]:
    """Messages (and problems: skipped items with their reason) in one WhatsApp webhook payload.

    ``payload`` is the JSON object Meta POSTs (``object: whatsapp_business_account``; anything
    else is reported, never raised on). With
    ``phone_number_id``, changes for other numbers of the business are left out silently.
    """
    messages: list[IncomingMessage] = []
    problems: list[str] = []
    if not isinstance(payload, dict):
        return messages, ["payload is not a JSON object"]
    kind = payload.get("object")
    if kind != "whatsapp_business_account":
        return messages, [f"not a WhatsApp payload (object {kind!r})"]
    for entry in as_list(payload.get("entry")):
        for change in as_list(as_dict(entry).get("changes")):
            change = as_dict(change)
            if change.get("field") != "messages":
                continue  # template status, account updates...: not conversation traffic
            value = as_dict(change.get("value"))
            number = text_of(as_dict(value.get("metadata")).get("phone_number_id"))
            if phone_number_id and number and number != phone_number_id:
                continue
            _value_messages(value, account, number, messages, problems)
    return messages, problems


def _value_messages(
    value: dict[str, Any],
    account: str,
    number: str | None,
    messages: list[IncomingMessage],
    problems: list[str],
) -> None:
    names = {
        text_of(as_dict(c).get("wa_id")): text_of(as_dict(as_dict(c).get("profile")).get("name"))
        for c in as_list(value.get("contacts"))
    }
    for raw in as_list(value.get("messages")):
        item = _message(as_dict(raw), account, number, names)
        if isinstance(item, str):
            problems.append(item)
        else:
            messages.append(item)
    for status in as_list(value.get("statuses")):
        status = as_dict(status)
        if status.get("status") == "failed":
            errors = [as_dict(e) for e in as_list(status.get("errors"))]
            why = "; ".join(
                f"{e.get('code', '?')} {e.get('title') or e.get('message') or ''}".strip()
                for e in errors
            )
            problems.append(
                f"delivery of {status.get('id')} to {status.get('recipient_id')} failed: "
                f"{why or 'no reason given'}"
            )
    for error in as_list(value.get("errors")):
        error = as_dict(error)
        problems.append(f"webhook error {error.get('code', '?')}: {error.get('title', '')}")


def _message(
    msg: dict[str, Any], account: str, number: str | None, names: dict[str | None, str | None]
) -> IncomingMessage | str:
    msg_id = text_of(msg.get("id"))
    sender = text_of(msg.get("from"))
    created = int_of(msg.get("timestamp"))
    kind = text_of(msg.get("type")) or "?"
    if msg_id is None or sender is None or created is None:
        return f"message without id, from or timestamp: {kind}"
    text = _text_of_message(msg, kind)
    if text is None:
        return f"message {msg_id} of type {kind!r} skipped: {_skip_reason(msg, kind)}"
    extra: dict[str, Any] = {"type": kind}
    if number:
        extra["phone_number_id"] = number
    media = as_dict(msg.get(kind)) if kind in _MEDIA else {}
    if media.get("id"):
        extra["media_id"] = media["id"]
    context = as_dict(msg.get("context"))
    if context.get("forwarded"):
        extra["forwarded"] = True
    return IncomingMessage(
        channel=Channel.WHATSAPP,
        account=account,
        external_id=msg_id,
        direction=Direction.IN,
        author=sender,
        author_name=names.get(sender),
        text=text,
        created_at=created,
        in_reply_to=text_of(context.get("id")),
        customer_key=f"phone:+{sender.lstrip('+')}",
        extra=extra,
    )


def _text_of_message(msg: dict[str, Any], kind: str) -> str | None:
    body = as_dict(msg.get(kind))
    if kind == "text":
        return text_of(body.get("body"))
    if kind == "button":
        return text_of(body.get("text"))
    if kind == "interactive":
        choice = as_dict(body.get("button_reply")) or as_dict(body.get("list_reply"))
        title = text_of(choice.get("title"))
        if title is None:
            return None
        detail = text_of(choice.get("description"))
        return f"{title} ({detail})" if detail else title
    if kind in _MEDIA:
        caption = text_of(body.get("caption")) or text_of(body.get("filename"))
        return f"[{kind}] {caption}" if caption else f"[{kind}]"
    if kind == "location":
        where = " ".join(filter(None, (text_of(body.get("name")), text_of(body.get("address")))))
        coords = f"({body.get('latitude')}, {body.get('longitude')})"
        return f"[location] {where} {coords}".replace("  ", " ")
    if kind == "contacts":
        people = [
            text_of(as_dict(as_dict(c).get("name")).get("formatted_name")) or "?"
            for c in as_list(msg.get("contacts"))
        ]
        return f"[contacts] {', '.join(people)}" if people else None
    return None


def _skip_reason(msg: dict[str, Any], kind: str) -> str:
    if kind == "reaction":
        return "a reaction, not a message"
    errors = [as_dict(e) for e in as_list(msg.get("errors"))]
    if errors:
        return "; ".join(str(e.get("title") or e.get("message") or e.get("code")) for e in errors)
    if kind in ("text", "button", "interactive", "contacts"):
        return "no text in it"
    return "type not supported by the console"


def _read_relay_error(status: int, body: Any) -> ApiFailure | None:
    message = text_of(as_dict(body).get("error"))
    return None if message is None else ApiFailure(message)


class WhatsAppAdapter:
    """One WhatsApp Business phone number. See the module docstring."""

    SECRET_FIELDS: tuple[str, ...] = ("access_token", "relay_token")
    SETTING_FIELDS: tuple[str, ...] = (
        "base_url",
        "version",
        "phone_number_id",
        "relay_url",
        "template_language",
        "timeout_s",
    )

    def __init__(self, config: AccountConfig, client: httpx.AsyncClient) -> None:
        self.channel = Channel.WHATSAPP
        self.account = config.name
        self._config = config
        self._version = str(config.setting("version") or DEFAULT_VERSION).strip("/")
        self._number = text_of(config.setting("phone_number_id"))
        self._language = text_of(config.setting("template_language")) or "en"
        timeout = timeout_setting(config.setting("timeout_s"))
        secrets = [v for v in config.secrets.values() if v]
        token = config.secrets.get("access_token", "")
        self._token = token
        self._api = HttpApi(
            client,
            label=f"WhatsApp {config.name}",
            base_url=str(config.setting("base_url") or DEFAULT_BASE_URL),
            secrets=secrets,
            headers={"Authorization": f"Bearer {token}"},
            timeout_s=timeout,
            read_error=graph_error_reader(
                auth=WA_AUTH,
                rate=WA_RATE,
                reject=WA_REJECT,
                window_subcodes={int(WINDOW_CODE), 470},
                transient=WA_TRANSIENT,
            ),
            rate_limit_wait=meta_usage_wait,
            default_retry_after=10.0,
        )
        relay_url = text_of(config.setting("relay_url"))
        relay_token = config.secrets.get("relay_token", "")
        self._relay = (
            HttpApi(
                client,
                label=f"WhatsApp relay {config.name}",
                base_url=relay_url,
                secrets=secrets,
                headers={"Authorization": f"Bearer {relay_token}"},
                timeout_s=timeout,
                read_error=_read_relay_error,
                default_retry_after=10.0,
            )
            if relay_url
            else None
        )

    # -- declarations ------------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return Limits(MAX_TEXT, "chars", reply_window_s=DAY_S)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            private_message=True, threading=True, fetch=self._relay is not None, reconcile=False
        )

    # -- fetch -------------------------------------------------------------------------------

    async def fetch(self, cursor: dict[str, str]) -> FetchResult:
        if self._relay is None:
            raise RejectedError(
                f"WhatsApp {self.account}: set relay_url: WhatsApp only delivers messages to a "
                "webhook, which the relay receives"
            )
        after = int_of(cursor.get("relay_after")) or 0
        params = {"source": "whatsapp", "after": after, "limit": RELAY_PAGE}
        body = as_dict((await self._relay.get("/v1/events", params)).body)
        messages: list[IncomingMessage] = []
        problems: list[str] = []
        last = after
        for event in as_list(body.get("events")):
            event = as_dict(event)
            event_id = int_of(event.get("id"))
            if event_id is not None:
                last = max(last, event_id)
            payload = event.get("payload")
            if not isinstance(payload, dict):
                problems.append(f"relay event {event_id} has no JSON object payload")
                continue
            found, trouble = whatsapp_webhook_messages(
                payload, self.account, phone_number_id=self._number
            )
            messages.extend(found)
            problems.extend(f"relay event {event_id}: {p}" for p in trouble)
        nxt = int_of(body.get("next"))
        state = dict(cursor)
        state["relay_after"] = str(max(last, nxt or 0))
        for problem in problems:
            log.warning("WhatsApp %s: %s", self.account, problem)
        return FetchResult(messages, state, more=body.get("more") is True, problems=problems)

    # -- send --------------------------------------------------------------------------------

    async def send(self, reply: OutgoingReply) -> SendResult:
        if not self._token:
            raise AuthenticationError(f"WhatsApp {self.account}: no access token is set")
        if not self._number:
            raise RejectedError(f"WhatsApp {self.account}: set phone_number_id")
        to = "".join(ch for ch in (reply.recipient or "") if ch.isdigit())
        if not to:
            raise RejectedError(f"WhatsApp {self.account}: a reply needs the customer's number")
        template = reply.extra.get("template")
        if self._outside_window(reply):
            if not template:
                raise self._window_error("more than 24 hours since the customer's last message")
            return await self._post(self._template_body(to, reply, template))
        if not reply.text.strip():
            raise RejectedError(f"WhatsApp {self.account}: the reply is empty")
        if len(reply.text) > MAX_TEXT:
            raise RejectedError(
                f"WhatsApp {self.account}: the reply is {len(reply.text)} characters; "
                f"WhatsApp allows {MAX_TEXT}"
            )
        try:
            return await self._post(self._text_body(to, reply))
        except RejectedError as exc:
            if (exc.code or "").partition("/")[0] != WINDOW_CODE:
                raise
            if not template:
                raise self._window_error(str(exc)) from None
        log.info("WhatsApp %s: outside the window, sending template %s", self.account, template)
        return await self._post(self._template_body(to, reply, template))

    def _outside_window(self, reply: OutgoingReply) -> bool:
        last = int_of(reply.extra.get("last_inbound_at"))
        return last is not None and int(utcnow().timestamp()) - last > DAY_S

    def _window_error(self, why: str) -> RejectedError:
        error = RejectedError(
            f"WhatsApp {self.account}: outside the 24-hour customer-service window ({why}); "
            "WhatsApp only delivers an approved template message now: pick a template"
        )
        error.code = WINDOW_CODE
        return error

    @staticmethod
    def _text_body(to: str, reply: OutgoingReply) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"preview_url": False, "body": reply.text},
        }
        if reply.in_reply_to:
            body["context"] = {"message_id": reply.in_reply_to}
        return body

    def _template_body(self, to: str, reply: OutgoingReply, name: str) -> dict[str, Any]:
        template: dict[str, Any] = {
            "name": name,
            "language": {"code": reply.extra.get("template_language") or self._language},
        }
        params = _template_params(reply.extra.get("template_params"))
        if params:
            template["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
            ]
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": template,
        }

    async def _post(self, body: dict[str, Any]) -> SendResult:
        path = f"/{self._version}/{self._number}/messages"
        answer = await self._api.call("POST", path, json_body=body, sending=True)
        first = as_dict(next(iter(as_list(as_dict(answer.body).get("messages"))), None))
        message_id = text_of(first.get("id"))
        if message_id is None:
            raise UnknownOutcomeError(
                f"WhatsApp {self.account}: the Cloud API answered without a message id"
            )
        status = text_of(first.get("message_status"))
        return SendResult(message_id, detail=f"{body['type']}{f' ({status})' if status else ''}")

    # -- reconcile and test ------------------------------------------------------------------

    async def find_sent(self, reply: OutgoingReply) -> SendResult | None:
        raise NotImplementedError("the WhatsApp Cloud API cannot list the messages we sent")

    async def test(self) -> str:
        if not self._number:
            raise RejectedError(f"WhatsApp {self.account}: set phone_number_id")
        answer = await self._api.get(
            f"/{self._version}/{self._number}", {"fields": "display_phone_number,verified_name"}
        )
        data = as_dict(answer.body)
        line = (
            f"WhatsApp {data.get('display_phone_number', '?')} "
            f"({data.get('verified_name', '?')}): token works"
        )
        if self._relay is not None:
            health = as_dict((await self._relay.get("/v1/health")).body)
            line += f"; relay reachable ({health.get('events', '?')} events)"
        return line


def _template_params(raw: str | None) -> list[str]:
    if not raw:
        return []
    try:
        values = json.loads(raw)
    except ValueError:
        return [raw]
    return [str(v) for v in values] if isinstance(values, list) else [str(values)]
