"""A loopback WhatsApp Cloud API (``POST /{version}/{phone-number-id}/messages``) plus a relay's
console side (``GET /v1/events``, ``GET /v1/health``, notes/relay_api.md) in one server.

The Cloud API checks the bearer token and validates message bodies against the parts of Meta's
WhatsApp Business Messaging OpenAPI spec (facebook/openapi, ``business-messaging-api``) encoded
below: allowed top-level keys, ``messaging_product`` = ``whatsapp``, required ``to`` and
``type``, ``text.body`` (at most 4096) with optional ``preview_url``, ``context.message_id``,
``template.name`` + ``template.language.code``. It enforces the 24-hour customer-service window
per ``wa_id`` (free-form text after it -> the real 131047 body), knows which templates are
approved (others -> 132001), and throttles with 130429.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from tests.contract.servers.base import Answer, ChannelServer, Recorded, only_keys, require

ACCESS_TOKEN = "EAAWhatsAppSystemUserToken0123456789abcdef"
RELAY_TOKEN = "relay-console-token-0123456789"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "+1 555-010-0000"
DAY = 24 * 3600

MESSAGE_KEYS = {
    "messaging_product", "recipient_type", "to", "type", "context", "text", "template", "image",
    "audio", "document", "sticker", "video", "interactive", "location", "contacts", "reaction",
    "biz_opaque_callback_data",
}  # fmt: skip
MESSAGE_TYPES = {
    "text", "template", "image", "audio", "document", "sticker", "video", "interactive",
    "location", "contacts", "reaction",
}  # fmt: skip


def webhook(
    messages: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    """A webhook payload shaped like Meta's ``whatsapp_business_account`` notifications."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100000", "phone_number_id": phone_number_id},
    }
    if contacts is not None:
        value["contacts"] = contacts
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def text_message(
    wa_id: str, body: str, msg_id: str, ts: int, context: str | None = None
) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "from": wa_id,
        "id": msg_id,
        "timestamp": str(ts),
        "type": "text",
        "text": {"body": body},
    }
    if context:
        msg["context"] = {"from": "15550100000", "id": context}
    return msg


class WhatsAppServer(ChannelServer):
    name = "whatsapp"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.last_inbound: dict[str, int] = {}
        self.known_messages: set[str] = set()
        self.templates = {("order_update", "en"), ("order_update", "de")}
        self.sent: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        super().__init__()

    # -- relay side --------------------------------------------------------------------------

    def add_webhook(self, payload: Any, source: str = "whatsapp") -> int:
        """Store a webhook as the relay would; inbound messages open the window."""
        event_id = len(self.events) + 1
        self.events.append({"id": event_id, "source": source, "received_at": "2026-12-01T18:00:00+00:00",
                            "payload": payload})  # fmt: skip
        if isinstance(payload, dict):
            for entry in payload.get("entry", []):
                for change in entry.get("changes", []):
                    for msg in change.get("value", {}).get("messages", []):
                        self.last_inbound[msg["from"]] = int(msg["timestamp"])
                        self.known_messages.add(msg["id"])
        return event_id

    def inbound(self, wa_id: str, name: str, body: str, ago: int = 60) -> str:
        msg_id = f"wamid.HBgL{wa_id}{next(self._ids):04d}FQIAEhg"
        ts = int(time.time()) - ago
        self.add_webhook(
            webhook(
                [text_message(wa_id, body, msg_id, ts)],
                [{"profile": {"name": name}, "wa_id": wa_id}],
            )
        )
        return msg_id

    def get_events(self, req: Recorded, m: re.Match[str]) -> Answer:
        if req.header("authorization") != f"Bearer {RELAY_TOKEN}":
            return Answer(401, {"error": "a valid relay token is needed (Authorization: Bearer)"})
        unknown = set(req.query) - {"source", "after", "limit"}
        require(not unknown, f"unknown parameter(s) {sorted(unknown)}")
        after, limit = int(req.q("after") or 0), min(int(req.q("limit") or 100), 500)
        source = req.q("source")
        rows = [e for e in self.events if e["id"] > after and (not source or e["source"] == source)]
        page = rows[:limit]
        nxt = str(page[-1]["id"]) if page else str(after)
        return Answer(200, {"events": page, "next": nxt, "more": len(rows) > limit})

    def health(self, req: Recorded, m: re.Match[str]) -> Answer:
        return Answer(200, {"ok": True, "events": len(self.events)})

    # -- Cloud API ---------------------------------------------------------------------------

    def error(
        self, status: int, message: str, code: Any = 100, details: str | None = None
    ) -> Answer:
        error: dict[str, Any] = {
            "message": message,
            "type": "OAuthException",
            "code": code if isinstance(code, int) else 100,
            "fbtrace_id": "AazKx9zS0NmYvWh",
        }
        if details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        return Answer(status, {"error": error})

    def rate_limited(self) -> Answer:
        return self.error(429, "(#130429) Rate limit hit", 130429,
                          "Cloud API message throughput has been reached.")  # fmt: skip

    def server_error(self) -> Answer:
        return self.error(500, "(#131000) Something went wrong", 131000, "Unknown error")

    def setup_routes(self) -> None:
        self.route("GET", r"/v1/events", self.get_events)
        self.route("GET", r"/v1/health", self.health)
        self.route("POST", r"/v(?P<v>\d+\.\d+)/(?P<pn>\d+)/messages", self.send_message)
        self.route("GET", r"/v(?P<v>\d+\.\d+)/(?P<pn>\d+)", self.phone_number)

    def _auth(self, req: Recorded) -> Answer | None:
        if req.header("authorization") != f"Bearer {ACCESS_TOKEN}":
            return self.error(401, "Invalid OAuth access token - Cannot parse access token", 190)
        return None

    def phone_number(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        return Answer(200, {"display_phone_number": DISPLAY_NUMBER, "verified_name": "Acme Support",
                            "id": m["pn"]})  # fmt: skip

    def send_message(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        require(m["pn"] == PHONE_NUMBER_ID, "(#100) Invalid phone number id")
        body = req.json()
        only_keys(body, MESSAGE_KEYS, "message")
        require(body.get("messaging_product") == "whatsapp", "messaging_product must be 'whatsapp'")
        require(isinstance(body.get("to"), str) and body["to"] != "", "to is required")
        require(body.get("type", "text") in MESSAGE_TYPES, f"unknown type {body.get('type')!r}")
        require(
            body.get("recipient_type", "individual") in ("individual", "group"),
            "bad recipient_type",
        )
        kind = body.get("type", "text")
        require(kind in body, f"a {kind} message needs a {kind!r} object")
        if "context" in body:
            only_keys(body["context"], {"message_id"}, "context")
            require(
                isinstance(body["context"].get("message_id"), str), "context.message_id is required"
            )
            if body["context"]["message_id"] not in self.known_messages:
                return self.error(400, "(#131009) Parameter value is not valid", 131009,
                                  "context.message_id is not a message of this number")  # fmt: skip
        to = body["to"].lstrip("+")
        if kind == "text":
            only_keys(body["text"], {"body", "preview_url"}, "text")
            text = body["text"].get("body")
            require(
                isinstance(text, str) and 0 < len(text) <= 4096,
                "text.body must be 1..4096 characters",
            )
            if int(time.time()) - self.last_inbound.get(to, 0) > DAY:
                return self.error(
                    400, "(#131047) Re-engagement message", 131047,
                    "Message failed to send because more than 24 hours have passed since the "
                    "customer last replied to this number.",
                )  # fmt: skip
        elif kind == "template":
            template = body["template"]
            only_keys(template, {"name", "language", "components"}, "template")
            require(isinstance(template.get("name"), str), "template.name is required")
            only_keys(template.get("language"), {"code", "policy"}, "template.language")
            require(
                isinstance(template["language"].get("code"), str),
                "template.language.code is required",
            )
            if (template["name"], template["language"]["code"]) not in self.templates:
                return self.error(
                    404, "(#132001) Template name does not exist in the translation", 132001
                )
        wamid = f"wamid.HBgLsent{next(self._ids):06d}AA=="
        self.sent.append({"id": wamid, **body})
        return Answer(200, {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": to}],
                            "messages": [{"id": wamid}]})  # fmt: skip
