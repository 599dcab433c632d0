"""The Meta Graph API adapter: Facebook page comments, Messenger, Instagram comments and DMs.

One class serves the three channels; the account's channel picks the surfaces:

=========  ====================================================  =================================
channel    fetch                                                 send
=========  ====================================================  =================================
messenger  ``GET /{page-id}/conversations?platform=messenger``   Send API ``POST /{page-id}/messages``
facebook   ``GET /{page-id}/feed`` with nested ``comments``      ``POST /{comment-id}/comments``;
                                                                 private reply ``recipient.comment_id``
instagram  ``GET /{ig-user-id}/media`` with nested ``comments``  ``POST /{ig-comment-id}/replies``;
           + ``conversations?platform=instagram``                private reply; DMs via the Send API
=========  ====================================================  =================================

Conversations are polled newest-updated first with cursor paging (``after``) until a
conversation older than the last sweep's high-water mark; feed and media polling reads the most
recent ``recent_posts`` (default 25) posts per sweep: comments on older posts need the relay's
webhooks. Mapping: ``author`` is the page- or Instagram-scoped id (PSID/IGSID: what a reply is
addressed to), ``author_name`` the name or username; DMs get ``thread`` = the conversation id
and ``extra["private"] = True``; comments are threaded by ``in_reply_to`` (the parent comment,
else the post/media id). Our own messages and comments are skipped.

The 24-hour window: a DM goes as ``messaging_type: RESPONSE``. When the reply carries
``extra["last_inbound_at"]`` (Unix seconds of the customer's last message) the adapter decides
locally: within 24 h ``RESPONSE``, within 7 days ``MESSAGE_TAG`` + ``tag: HUMAN_AGENT`` if the
account setting ``human_agent`` allows it, else :class:`RejectedError`. Without it, Meta's
window error (code 10, subcode 2018278) triggers one resend with the tag when allowed (the first
request was refused, so nothing is doubled).

Graph errors ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``: 190 ->
authentication, 4/17/32/613/80001-80014 -> rate limited (wait from ``X-Business-Use-Case-Usage``
/ ``X-App-Usage``), 10, 100, 200-299, 368, 551 and window subcodes -> rejected,
``is_transient``/1/2 -> transient. The page token travels in the ``Authorization`` header.
Cursor keys: ``{platform}_since|_after|_newest`` for conversations, ``comments_since``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import httpx

from console.domain import Channel, Direction, IncomingMessage, utcnow
from console.errors import (
    AuthenticationError,
    ChannelError,
    RateLimitedError,
    RejectedError,
    TransientError,
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
    ErrorReader,
    HttpApi,
    as_dict,
    as_list,
    int_of,
    meta_usage_wait,
    parse_time,
    text_of,
    timeout_setting,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v21.0"
DAY_S = 24 * 3600
HUMAN_AGENT_S = 7 * DAY_S
PAGE_SIZE = 25
MESSAGES_PER_CONVERSATION = 25
COMMENTS_PER_POST = 50

GRAPH_AUTH_CODES = frozenset({102, 190, 463, 467, 2500})
GRAPH_RATE_CODES = frozenset({4, 17, 32, 613, *range(80001, 80015)})
GRAPH_REJECT_CODES = frozenset({10, 100, 368, 551, *range(200, 300)})
WINDOW_SUBCODES = frozenset({2018278, 2018108, 2018109, 2534022})

MESSAGE_FIELDS = "id,created_time,from,to,message"
CONVERSATION_FIELDS = (
    f"id,updated_time,messages.limit({MESSAGES_PER_CONVERSATION}){{{MESSAGE_FIELDS}}}"
)
FEED_FIELDS = (
    "id,updated_time,comments.filter(stream).order(reverse_chronological)"
    f".limit({COMMENTS_PER_POST}){{id,message,created_time,from,parent{{id}}}}"
)
IG_COMMENT_FIELDS = "id,text,timestamp,username,from,parent_id"
MEDIA_FIELDS = (
    f"id,timestamp,comments.limit({COMMENTS_PER_POST}){{{IG_COMMENT_FIELDS},"
    f"replies.limit({COMMENTS_PER_POST}){{{IG_COMMENT_FIELDS}}}}}"
)
_COMMENT_ID = re.compile(r"\d+(?:_\d+)*")

LIMITS = {
    Channel.MESSENGER: Limits(2000, "chars", reply_window_s=DAY_S, extended_window_s=HUMAN_AGENT_S),
    Channel.FACEBOOK: Limits(8000, "chars"),
    Channel.INSTAGRAM: Limits(2200, "chars"),
}
PRIVATE_LIMITS = {
    Channel.MESSENGER: LIMITS[Channel.MESSENGER],
    # A private reply to a Facebook comment is a Messenger message.
    Channel.FACEBOOK: Limits(2000, "chars", reply_window_s=HUMAN_AGENT_S),
    Channel.INSTAGRAM: Limits(
        1000, "utf8_bytes", reply_window_s=DAY_S, extended_window_s=HUMAN_AGENT_S
    ),
}


def graph_error_reader(
    *,
    auth: Iterable[int] = GRAPH_AUTH_CODES,
    rate: Iterable[int] = GRAPH_RATE_CODES,
    reject: Iterable[int] = GRAPH_REJECT_CODES,
    window_subcodes: Iterable[int] = WINDOW_SUBCODES,
    transient: Iterable[int] = (1, 2),
) -> ErrorReader:
    """A reader for Graph error bodies; WhatsApp passes its own code sets."""
    auth_codes, rate_codes, reject_codes = frozenset(auth), frozenset(rate), frozenset(reject)
    window, transient_codes = frozenset(window_subcodes), frozenset(transient)

    def read(status: int, body: Any) -> ApiFailure | None:
        error = as_dict(as_dict(body).get("error"))
        message = text_of(error.get("message"))
        if message is None:
            return None
        details = text_of(as_dict(error.get("error_data")).get("details"))
        if details and details not in message:
            message = f"{message}: {details}"
        code, subcode = int_of(error.get("code")), int_of(error.get("error_subcode"))
        kind: type[ChannelError] | None = None
        if code in auth_codes:
            kind = AuthenticationError
        elif code in rate_codes:
            kind = RateLimitedError
        elif subcode in window or code in window:
            kind = RejectedError
            message = f"outside the messaging window: {message}"
        elif error.get("is_transient") is True or code in transient_codes:
            kind = TransientError
        elif code in reject_codes:
            kind = RejectedError
        trace = text_of(error.get("fbtrace_id"))
        if trace:
            message = f"{message} [fbtrace_id {trace}]"
        label = None if code is None else (f"{code}/{subcode}" if subcode else str(code))
        return ApiFailure(message, code=label, kind=kind)

    return read


def is_window_error(error: ChannelError) -> bool:
    sub = (error.code or "").partition("/")[2]
    return isinstance(error, RejectedError) and sub.isdigit() and int(sub) in WINDOW_SUBCODES


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class MetaAdapter:
    """One Facebook page, Messenger inbox or Instagram account. See the module docstring."""

    SECRET_FIELDS: tuple[str, ...] = ("page_access_token",)
    SETTING_FIELDS: tuple[str, ...] = (
        "base_url",
        "version",
        "page_id",
        "ig_user_id",
        "human_agent",
        "recent_posts",
        "timeout_s",
    )

    def __init__(self, config: AccountConfig, client: httpx.AsyncClient) -> None:
        if config.channel not in LIMITS:
            raise RejectedError(f"the Meta adapter does not serve {config.channel.value}")
        self.channel = config.channel
        self.account = config.name
        self._config = config
        self._version = str(config.setting("version") or DEFAULT_VERSION).strip("/")
        self._page_id = text_of(config.setting("page_id"))
        self._ig_user_id = text_of(config.setting("ig_user_id"))
        self._human_agent = _truthy(config.setting("human_agent", False))
        self._recent_posts = int_of(config.setting("recent_posts")) or PAGE_SIZE
        token = config.secrets.get("page_access_token", "")
        self._token = token
        self._api = HttpApi(
            client,
            label=f"{config.channel.label} {config.name}",
            base_url=str(config.setting("base_url") or DEFAULT_BASE_URL),
            secrets=[v for v in config.secrets.values() if v],
            headers={"Authorization": f"Bearer {token}"},
            timeout_s=timeout_setting(config.setting("timeout_s")),
            read_error=graph_error_reader(),
            rate_limit_wait=meta_usage_wait,
        )

    # -- declarations ------------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return LIMITS[self.channel]

    def limits_for(self, mode: str) -> Limits:
        """Limits of a public comment reply (``"public"``) or a private message."""
        return PRIVATE_LIMITS[self.channel] if mode == "private" else self.limits

    @property
    def capabilities(self) -> Capabilities:
        public = self.channel is not Channel.MESSENGER
        return Capabilities(public_reply=public, private_message=True, reconcile=True)

    # -- helpers -----------------------------------------------------------------------------

    def _path(self, *parts: str) -> str:
        return "/" + "/".join([self._version, *(p for p in parts if p)])

    def _need_token(self) -> None:
        if not self._token:
            raise AuthenticationError(f"{self._api.label}: no page access token is set")

    def _page(self) -> str:
        self._need_token()
        if not self._page_id:
            raise RejectedError(f"{self._api.label}: set page_id (the Facebook page id)")
        return self._page_id

    def _ig_user(self) -> str:
        self._need_token()
        if not self._ig_user_id:
            raise RejectedError(f"{self._api.label}: set ig_user_id (the Instagram account id)")
        return self._ig_user_id

    def _ours(self, author_id: str | None) -> bool:
        return author_id is not None and author_id in (self._page_id, self._ig_user_id)

    # -- fetch -------------------------------------------------------------------------------

    async def fetch(self, cursor: dict[str, str]) -> FetchResult:
        state = dict(cursor)
        out: list[IncomingMessage] = []
        problems: list[str] = []
        more = False
        if self.channel is Channel.FACEBOOK:
            await self._fetch_feed(state, out, problems)
        if self.channel is Channel.INSTAGRAM:
            await self._fetch_media(state, out, problems)
            more = await self._fetch_conversations("instagram", state, out, problems)
        if self.channel is Channel.MESSENGER:
            more = await self._fetch_conversations("messenger", state, out, problems)
        for problem in problems:
            log.warning("%s: skipped: %s", self._api.label, problem)
        return FetchResult(out, state, more=more, problems=problems)

    async def _fetch_conversations(
        self, platform: str, state: dict[str, str], out: list[IncomingMessage], problems: list[str]
    ) -> bool:
        since = int_of(state.get(f"{platform}_since")) or 0
        newest = int_of(state.get(f"{platform}_newest")) or 0
        params = {
            "platform": platform,
            "fields": CONVERSATION_FIELDS,
            "limit": PAGE_SIZE,
            "after": state.get(f"{platform}_after"),
        }
        body = as_dict(
            (await self._api.get(self._path(self._page(), "conversations"), params)).body
        )
        reached_seen = False
        for conv in as_list(body.get("data")):
            conv = as_dict(conv)
            conv_id = text_of(conv.get("id"))
            updated = parse_time(conv.get("updated_time")) or 0
            # "<", not "<=": a message in the same second as the mark is read again (ingest
            # skips it) rather than lost.
            if conv_id is None or (since and updated < since):
                reached_seen = reached_seen or conv_id is not None
                continue
            newest = max(newest, updated)
            for msg in as_list(as_dict(conv.get("messages")).get("data")):
                item = self._dm(as_dict(msg), conv_id, platform, since, problems)
                if item is not None:
                    out.append(item)
        after = _next_after(body)
        if after and not reached_seen:
            state[f"{platform}_after"] = after
            if newest:
                state[f"{platform}_newest"] = str(newest)
            return True
        state.pop(f"{platform}_after", None)
        state.pop(f"{platform}_newest", None)
        if max(since, newest):
            state[f"{platform}_since"] = str(max(since, newest))
        return False

    def _dm(
        self, msg: dict[str, Any], conv_id: str, platform: str, since: int, problems: list[str]
    ) -> IncomingMessage | None:
        msg_id = text_of(msg.get("id"))
        sender = as_dict(msg.get("from"))
        sender_id = text_of(sender.get("id"))
        created = parse_time(msg.get("created_time"))
        if msg_id is None or sender_id is None or created is None:
            problems.append(f"message in {conv_id} without id, from.id or created_time")
            return None
        if self._ours(sender_id) or (since and created < since):
            return None
        text = msg.get("message")
        return IncomingMessage(
            channel=self.channel,
            account=self.account,
            external_id=msg_id,
            direction=Direction.IN,
            author=sender_id,
            author_name=text_of(sender.get("name")) or text_of(sender.get("username")),
            text=text if isinstance(text, str) and text else "[attachment]",
            created_at=created,
            thread=conv_id,
            extra={"private": True, "conversation_id": conv_id, "platform": platform},
        )

    async def _fetch_feed(
        self, state: dict[str, str], out: list[IncomingMessage], problems: list[str]
    ) -> None:
        since = int_of(state.get("comments_since")) or 0
        newest = since
        params = {"fields": FEED_FIELDS, "limit": self._recent_posts}
        body = as_dict((await self._api.get(self._path(self._page(), "feed"), params)).body)
        for post in as_list(body.get("data")):
            post = as_dict(post)
            post_id = text_of(post.get("id"))
            if post_id is None:
                problems.append("feed post without id")
                continue
            for comment in as_list(as_dict(post.get("comments")).get("data")):
                comment = as_dict(comment)
                parent = text_of(as_dict(comment.get("parent")).get("id")) or post_id
                item = self._comment(comment, "message", "created_time", parent, post_id, since)
                if isinstance(item, str):
                    problems.append(item)
                elif item is not None:
                    newest = max(newest, item.created_at)
                    out.append(item)
        if newest:
            state["comments_since"] = str(newest)

    async def _fetch_media(
        self, state: dict[str, str], out: list[IncomingMessage], problems: list[str]
    ) -> None:
        since = int_of(state.get("comments_since")) or 0
        newest = since
        params = {"fields": MEDIA_FIELDS, "limit": self._recent_posts}
        body = as_dict((await self._api.get(self._path(self._ig_user(), "media"), params)).body)
        for media in as_list(body.get("data")):
            media = as_dict(media)
            media_id = text_of(media.get("id"))
            if media_id is None:
                problems.append("media without id")
                continue
            for comment in as_list(as_dict(media.get("comments")).get("data")):
                comment = as_dict(comment)
                replies = as_list(as_dict(comment.get("replies")).get("data"))
                for node in [comment, *map(as_dict, replies)]:
                    parent = text_of(node.get("parent_id")) or (
                        text_of(comment.get("id")) if node is not comment else media_id
                    )
                    item = self._comment(
                        node, "text", "timestamp", parent or media_id, media_id, since
                    )
                    if isinstance(item, str):
                        problems.append(item)
                    elif item is not None:
                        newest = max(newest, item.created_at)
                        out.append(item)
        if newest:
            state["comments_since"] = str(newest)

    def _comment(
        self,
        node: dict[str, Any],
        text_key: str,
        time_key: str,
        parent: str,
        post_id: str,
        since: int,
    ) -> IncomingMessage | str | None:
        """A comment as a message, a problem text, or None (ours, or already seen)."""
        comment_id = text_of(node.get("id"))
        text = node.get(text_key)
        created = parse_time(node.get(time_key))
        sender = as_dict(node.get("from"))
        username = text_of(node.get("username")) or text_of(sender.get("username"))
        author = text_of(sender.get("id")) or username
        if comment_id is None or not isinstance(text, str) or created is None:
            return f"comment on {post_id} without id, {text_key} or {time_key}"
        if author is None:
            return f"comment {comment_id} has no author (the token lacks permission to see it)"
        if self._ours(author) or (since and created < since):
            return None
        return IncomingMessage(
            channel=self.channel,
            account=self.account,
            external_id=comment_id,
            direction=Direction.IN,
            author=author,
            author_name=text_of(sender.get("name")) or username,
            text=text,
            created_at=created,
            in_reply_to=parent,
            extra={"post_id": post_id, **({"username": username} if username else {})},
        )

    # -- send --------------------------------------------------------------------------------

    async def send(self, reply: OutgoingReply) -> SendResult:
        if not reply.text.strip():
            raise RejectedError(f"{self._api.label}: the reply is empty")
        comment = self._comment_target(reply)
        if reply.mode != "private" and self.channel is not Channel.MESSENGER:
            if comment is None:
                raise RejectedError(
                    f"{self._api.label}: a public reply needs the id of the comment it answers"
                )
            return await self._reply_to_comment(comment, reply.text)
        if comment is not None:
            return await self._private_reply(comment, reply.text)
        return await self._send_dm(reply)

    def _comment_target(self, reply: OutgoingReply) -> str | None:
        # Comment ids are numeric ("123" on Instagram, "postid_commentid" on Facebook); message
        # ids are not ("m_...", "aWdf..."), so the id says what is being answered.
        target = reply.in_reply_to
        if self.channel is Channel.MESSENGER or not target:
            return None
        return target if _COMMENT_ID.fullmatch(target) else None

    def _check_length(self, text: str, limits: Limits) -> None:
        size = len(text.encode()) if limits.length_rule == "utf8_bytes" else len(text)
        if limits.max_length is not None and size > limits.max_length:
            unit = "bytes" if limits.length_rule == "utf8_bytes" else "characters"
            raise RejectedError(
                f"{self._api.label}: the reply is {size} {unit}; at most {limits.max_length}"
            )

    async def _reply_to_comment(self, comment_id: str, text: str) -> SendResult:
        self._need_token()
        self._check_length(text, self.limits)
        edge = "replies" if self.channel is Channel.INSTAGRAM else "comments"
        answer = await self._api.call(
            "POST", self._path(comment_id, edge), json_body={"message": text}, sending=True
        )
        remote = text_of(as_dict(answer.body).get("id"))
        if remote is None:
            raise UnknownOutcomeError(f"{self._api.label}: the comment reply came back without id")
        return SendResult(remote, detail=f"reply to comment {comment_id}")

    async def _private_reply(self, comment_id: str, text: str) -> SendResult:
        self._check_length(text, PRIVATE_LIMITS[self.channel])
        body = {"recipient": {"comment_id": comment_id}, "message": {"text": text}}
        return await self._send_api(body, f"private reply to comment {comment_id}")

    async def _send_dm(self, reply: OutgoingReply) -> SendResult:
        self._check_length(reply.text, PRIVATE_LIMITS[self.channel])
        recipient = reply.recipient or reply.extra.get("psid")
        if not recipient:
            raise RejectedError(f"{self._api.label}: a message needs the recipient's id")
        tagged = self._window_decision(reply)
        body: dict[str, Any] = {"recipient": {"id": recipient}, "message": {"text": reply.text}}
        try:
            return await self._send_api(_with_type(body, tagged), "message")
        except RejectedError as exc:
            if tagged or not self._human_agent or not is_window_error(exc):
                raise
            log.info("%s: outside 24 h, resending with the HUMAN_AGENT tag", self._api.label)
            return await self._send_api(_with_type(body, True), "message (HUMAN_AGENT tag)")

    def _window_decision(self, reply: OutgoingReply) -> bool:
        """True to send with the HUMAN_AGENT tag; raises when no message may be sent now."""
        last = int_of(reply.extra.get("last_inbound_at"))
        if last is None:
            return False
        age = int(utcnow().timestamp()) - last
        if age <= DAY_S:
            return False
        if age <= HUMAN_AGENT_S and self._human_agent:
            return True
        hours = age // 3600
        why = (
            "more than 7 days have passed"
            if age > HUMAN_AGENT_S
            else "the HUMAN_AGENT tag is not enabled for this account (setting human_agent)"
        )
        raise RejectedError(
            f"{self._api.label}: outside the 24-hour messaging window ({hours} h since the "
            f"customer's last message) and {why}; wait for the customer to write again"
        )

    async def _send_api(self, body: dict[str, Any], what: str) -> SendResult:
        answer = await self._api.call(
            "POST", self._path(self._page(), "messages"), json_body=body, sending=True
        )
        message_id = text_of(as_dict(answer.body).get("message_id"))
        if message_id is None:
            raise UnknownOutcomeError(
                f"{self._api.label}: the Send API answered without message_id"
            )
        return SendResult(message_id, detail=what)

    # -- reconcile ---------------------------------------------------------------------------

    async def find_sent(self, reply: OutgoingReply) -> SendResult | None:
        comment = self._comment_target(reply)
        wanted = " ".join(reply.text.split())
        if (
            reply.mode != "private"
            and comment is not None
            and self.channel is not Channel.MESSENGER
        ):
            return await self._find_comment_reply(comment, wanted)
        platform = "instagram" if self.channel is Channel.INSTAGRAM else "messenger"
        params: dict[str, Any] = {
            "platform": platform,
            "fields": f"id,messages.limit({MESSAGES_PER_CONVERSATION}){{{MESSAGE_FIELDS}}}",
            "limit": 10,
        }
        if reply.recipient and comment is None:
            params["user_id"] = reply.recipient
        body = as_dict(
            (await self._api.get(self._path(self._page(), "conversations"), params)).body
        )
        for conv in as_list(body.get("data")):
            for msg in as_list(as_dict(as_dict(conv).get("messages")).get("data")):
                msg = as_dict(msg)
                sender = text_of(as_dict(msg.get("from")).get("id"))
                text = " ".join(str(msg.get("message", "")).split())
                if self._ours(sender) and text == wanted and text_of(msg.get("id")):
                    return SendResult(str(msg["id"]), detail="found in the conversation")
        return None

    async def _find_comment_reply(self, comment_id: str, wanted: str) -> SendResult | None:
        instagram = self.channel is Channel.INSTAGRAM
        edge, text_key = ("replies", "text") if instagram else ("comments", "message")
        fields = "id,text,from,username,timestamp" if instagram else "id,message,from,created_time"
        params = {"fields": fields, "limit": 50}
        body = as_dict((await self._api.get(self._path(comment_id, edge), params)).body)
        for node in as_list(body.get("data")):
            node = as_dict(node)
            author = text_of(as_dict(node.get("from")).get("id"))
            if self._ours(author) and " ".join(str(node.get(text_key, "")).split()) == wanted:
                remote = text_of(node.get("id"))
                if remote:
                    return SendResult(remote, detail="found among the comment's replies")
        return None

    # -- test --------------------------------------------------------------------------------

    async def test(self) -> str:
        if self.channel is Channel.INSTAGRAM and self._ig_user_id:
            answer = await self._api.get(self._path(self._ig_user(), ""), {"fields": "id,username"})
            data = as_dict(answer.body)
            return f"Instagram @{data.get('username', '?')} (id {data.get('id', '?')}): token works"
        answer = await self._api.get(self._path(self._page(), ""), {"fields": "id,name"})
        data = as_dict(answer.body)
        return f"{self.channel.label} page {data.get('name', '?')} (id {data.get('id', '?')}): token works"


def _with_type(body: dict[str, Any], tagged: bool) -> dict[str, Any]:
    if tagged:
        return {**body, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    return {**body, "messaging_type": "RESPONSE"}


def _next_after(body: dict[str, Any]) -> str | None:
    paging = as_dict(body.get("paging"))
    if not paging.get("next"):
        return None
    return text_of(as_dict(paging.get("cursors")).get("after"))
