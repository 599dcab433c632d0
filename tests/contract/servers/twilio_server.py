"""A loopback Twilio REST API (2010-04-01 Messages resource), from Twilio's Message resource docs
and the ``twilio_api_v2010`` OpenAPI spec (twilio/twilio-oai).

Checks HTTP Basic auth (account SID + auth token; the path's SID must be the authenticated one:
otherwise 20003 with ``WWW-Authenticate``), that sends are form-encoded with the spec's
``CreateMessage`` fields (``To`` required; ``From`` or ``MessagingServiceSid``; ``Body``,
``MediaUrl`` or ``ContentSid``; no unknown fields), E.164 numbers (21211), STOP-ed recipients
(21610), landlines (21614), bodies over 1600 characters (21617). Lists newest first with the
``DateSent>`` day filter, ``PageSize`` and ``next_page_uri`` paging, and throttles with
429 / 20429 and ``Retry-After``.
"""

from __future__ import annotations

import base64
import email.utils
import itertools
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.contract.servers.base import Answer, ChannelServer, Recorded, require

ACCOUNT_SID = "AC5ef872f6da5a21de157d80997a64bd33"
AUTH_TOKEN = "f2a9c8e7d6b5a4f3e2d1c0b9a8f7e6d5"
OUR_NUMBER = "+15557770000"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CREATE_FIELDS = {
    "To", "StatusCallback", "ApplicationSid", "MaxPrice", "ProvideFeedback", "Attempt",
    "ValidityPeriod", "ForceDelivery", "ContentRetention", "AddressRetention", "SmartEncoded",
    "PersistentAction", "TrafficType", "ShortenUrls", "ScheduleType", "SendAt", "SendAsMms",
    "ContentVariables", "RiskCheck", "From", "MessagingServiceSid", "Body", "MediaUrl",
    "ContentSid",
}  # fmt: skip
LIST_PARAMS = {"To", "From", "DateSent", "DateSent<", "DateSent>", "PageSize", "Page", "PageToken"}


def rfc2822(epoch: int) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(epoch, UTC))


class TwilioServer(ChannelServer):
    name = "twilio"

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.unsubscribed: set[str] = set()
        self.landlines: set[str] = set()
        self._ids = itertools.count(1)
        super().__init__()

    # -- data --------------------------------------------------------------------------------

    def _sid(self) -> str:
        return f"SM{next(self._ids):032x}"

    def add_inbound(self, sender: str, body: str, at: int | None = None, media: int = 0) -> str:
        return self._store(sender, OUR_NUMBER, body, "inbound", "received", at, media)

    def _store(
        self, sender: str, to: str, body: str, direction: str, status: str, at: int | None,
        media: int = 0,
    ) -> str:  # fmt: skip
        sid = self._sid()
        at = at if at is not None else int(time.time())
        self.messages.append(
            {
                "account_sid": ACCOUNT_SID,
                "api_version": "2010-04-01",
                "body": body,
                "date_created": rfc2822(at),
                "date_sent": rfc2822(at) if status != "queued" else None,
                "date_updated": rfc2822(at),
                "direction": direction,
                "error_code": None,
                "error_message": None,
                "from": sender,
                "messaging_service_sid": None,
                "num_media": str(media),
                "num_segments": str(max(1, -(-len(body) // 153))),
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": status,
                "to": to,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
                "_at": at,
            }
        )
        return sid

    # -- contract ----------------------------------------------------------------------------

    def error(self, status: int, message: str, code: Any = None) -> Answer:
        code = (
            code
            if isinstance(code, int)
            else {400: 21211, 401: 20003, 404: 20404}.get(status, 20500)
        )
        return Answer(status, {"code": code, "message": message,
                               "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})  # fmt: skip

    def rate_limited(self) -> Answer:
        answer = self.error(429, "Too Many Requests", 20429)
        answer.headers["Retry-After"] = "2"
        return answer

    def server_error(self) -> Answer:
        return self.error(503, "Service Unavailable", 20503)

    def _auth(self, req: Recorded, sid: str) -> Answer | None:
        header = req.header("authorization") or ""
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if not header.startswith("Basic "):
            self.violations.append(f"{req.method} {req.path}: no Basic Authorization header")
        if header != expected or sid != ACCOUNT_SID:
            answer = self.error(401, "Authenticate", 20003)
            answer.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return answer
        return None

    def setup_routes(self) -> None:
        base = r"/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})"
        self.route("POST", rf"{base}/Messages\.json", self.create)
        self.route("GET", rf"{base}/Messages\.json", self.list)
        self.route("GET", rf"{base}\.json", self.account)

    def account(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, m["sid"])
        return denied or Answer(200, {"sid": ACCOUNT_SID, "friendly_name": "Acme Support", "status": "active",
                                      "type": "Full"})  # fmt: skip

    def create(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, m["sid"])
        if denied:
            return denied
        require((req.header("content-type") or "").startswith("application/x-www-form-urlencoded"),
                "Messages.json takes application/x-www-form-urlencoded")  # fmt: skip
        form = req.form()
        unknown = set(form) - CREATE_FIELDS
        require(not unknown, f"unknown parameter(s) {sorted(unknown)}")
        if "To" not in form:
            return self.error(400, "A 'To' phone number is required.", 21604)
        if not ({"From", "MessagingServiceSid"} & set(form)):
            return self.error(400, "A 'From' phone number is required.", 21603)
        if not ({"Body", "MediaUrl", "ContentSid"} & set(form)):
            return self.error(400, "A text message body or media urls must be specified.", 21602)
        to, body = form["To"], form.get("Body", "")
        if not E164.match(to):
            return self.error(400, f"The 'To' number {to} is not a valid phone number.", 21211)
        if form.get("From") != OUR_NUMBER:
            return self.error(400, f"The From phone number {form.get('From')} is not a valid, "
                              "SMS-capable inbound phone number or short code for your account.", 21606)  # fmt: skip
        if to in self.unsubscribed:
            return self.error(400, "Attempt to send to unsubscribed recipient", 21610)
        if to in self.landlines:
            return self.error(400, "'To' number is not a valid mobile number", 21614)
        if len(body) > 1600:
            return self.error(
                400, "The concatenated message body exceeds the 1600 character limit.", 21617
            )
        sid = self._store(OUR_NUMBER, to, body, "outbound-api", "queued", None)
        return Answer(201, self._public(self.messages[-1]) | {"sid": sid})

    def list(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, m["sid"])
        if denied:
            return denied
        unknown = set(req.query) - LIST_PARAMS
        require(not unknown, f"unknown parameter(s) {sorted(unknown)}")
        size = int(req.q("PageSize") or 50)
        require(1 <= size <= 1000, "PageSize must be 1..1000")
        rows = [x for x in self.messages if self._matches(x, req)]
        rows.sort(key=lambda x: (x["_at"], x["sid"]), reverse=True)
        page = int(req.q("Page") or 0)
        if page:
            require(req.q("PageToken") == f"PA{page}", "PageToken does not belong to this page")
        chunk = rows[page * size : (page + 1) * size]
        path = req.path
        keep = {k: v[-1] for k, v in req.query.items() if k not in ("Page", "PageToken")}
        next_uri = None
        if (page + 1) * size < len(rows):
            next_uri = (
                f"{path}?{urlencode({**keep, 'Page': page + 1, 'PageToken': f'PA{page + 1}'})}"
            )
        return Answer(200, {
            "messages": [self._public(x) for x in chunk],
            "end": page * size + max(0, len(chunk) - 1),
            "first_page_uri": f"{path}?{urlencode({**keep, 'Page': 0})}",
            "next_page_uri": next_uri,
            "page": page,
            "page_size": size,
            "previous_page_uri": None,
            "start": page * size,
            "uri": f"{path}?{urlencode(keep)}",
        })  # fmt: skip

    @staticmethod
    def _matches(msg: dict[str, Any], req: Recorded) -> bool:
        if req.q("To") and msg["to"] != req.q("To"):
            return False
        if req.q("From") and msg["from"] != req.q("From"):
            return False
        after = req.q("DateSent>")
        if after is not None:
            require(
                re.fullmatch(r"\d{4}-\d{2}-\d{2}", after) is not None,
                "DateSent> must be YYYY-MM-DD",
            )
            if msg["date_sent"] is None:
                return False
            day = datetime.fromtimestamp(msg["_at"], UTC).date().isoformat()
            return day >= after
        return True

    @staticmethod
    def _public(msg: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in msg.items() if not k.startswith("_")}
