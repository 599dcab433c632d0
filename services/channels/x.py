"""The X (API v2) adapter: mentions and DMs in, threaded replies and DMs out.

Receive paths (both polled, since a desktop app cannot take webhooks):

- mentions: ``GET /2/users/:id/mentions`` with ``since_id`` (the newest id of the last complete
  sweep) and ``pagination_token`` while a sweep is in progress;
- direct messages: ``GET /2/dm_events`` (newest first, no ``since_id``): a sweep pages back until
  it reaches an event id it has already seen.

Mapping: ``author`` is the X ``username`` **without** ``@`` (numeric author id as a fallback when
the user expansion is missing); ``author_name`` the display name; ``followers`` from
``public_metrics``; ``in_reply_to`` the ``replied_to`` referenced post. Mentions carry no
``thread`` (public, threaded by reply links); DMs carry ``thread = dm_conversation_id`` and
``extra["private"] = True`` and become a private stream. Our own posts and DMs are skipped.

Send: a public reply is ``POST /2/tweets`` with ``reply.in_reply_to_tweet_id``; a private one is
``POST /2/dm_conversations/with/:participant_id/messages`` (participant from
``extra["participant_id"]``, the one-to-one ``thread`` id, a numeric ``recipient``, or a username
looked up with ``GET /2/users/by/username/:username``). ``find_sent`` reconciles an unknown
outcome against our recent posts (``GET /2/users/:id/tweets``) or the DM conversation.

Tokens: ``bearer_token`` (app-only) reads mentions; ``user_access_token`` (OAuth 2.0 user
context) is required for posting and for every DM call, and reads mentions when there is no
bearer token. Cursor keys: ``mentions_since_id``, ``mentions_token``, ``mentions_newest``,
``dm_since_id``, ``dm_token``, ``dm_newest``.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import httpx
from twitter_text import parse_tweet

from console.domain import Channel, Direction, IncomingMessage, utcnow
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
    epoch_reset_wait,
    int_of,
    parse_time,
    text_of,
    timeout_setting,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.x.com"
MAX_POST = 280
MAX_DM = 10_000
PAGE_SIZE = 100
TWEET_FIELDS = (
    "created_at,conversation_id,in_reply_to_user_id,referenced_tweets,lang,author_id,note_tweet"
)
USER_FIELDS = "public_metrics,username,name"
DM_FIELDS = "id,text,event_type,created_at,dm_conversation_id,sender_id,participant_ids"
_AUTH_PROBLEMS = ("client-forbidden", "unsupported-authentication")
_URL = re.compile(r"https?://\S+")
_LEADING_MENTIONS = re.compile(r"^(?:@\w+\s+)+")


def read_x_error(status: int, body: Any) -> ApiFailure | None:
    """X error bodies: ``{"errors": [{"message", "code"}]}`` (v1.1 style),
    ``{"errors": [{"title", "detail", "type"}]}`` or RFC 7807 ``{"title", "detail", "type"}``."""
    root = as_dict(body)
    errors = as_list(root.get("errors"))
    first = as_dict(errors[0]) if errors else root
    message = (
        text_of(first.get("detail"))
        or text_of(first.get("message"))
        or text_of(first.get("title"))
        or text_of(root.get("detail"))
        or text_of(root.get("title"))
    )
    if message is None:
        return None
    problem = text_of(first.get("type")) or text_of(root.get("type")) or ""
    code = text_of(first.get("code"))
    kind: type[ChannelError] | None = None
    if code == "88":
        kind = RateLimitedError
    elif code in ("32", "89", "215"):
        kind = AuthenticationError
    elif status == 403:
        # 403 is mostly policy (reply restricted, duplicate, not allowed): never retried but the
        # credentials are fine; only a few problem types mean the app/token is wrong.
        auth = any(problem.endswith(p) for p in _AUTH_PROBLEMS)
        kind = AuthenticationError if auth else RejectedError
    if code is None and problem.startswith("http"):
        code = problem.rsplit("/", 1)[-1]  # ".../problems/usage-capped" -> "usage-capped"
    return ApiFailure(message, code=code, kind=kind)


class XAdapter:
    """One X account. See the module docstring for the contract."""

    SECRET_FIELDS: tuple[str, ...] = ("bearer_token", "user_access_token")
    SETTING_FIELDS: tuple[str, ...] = ("base_url", "user_id", "handle")

    def __init__(self, config: AccountConfig, client: httpx.AsyncClient) -> None:
        self.channel = Channel.X
        self.account = config.name
        self._config = config
        base_url = str(config.setting("base_url") or DEFAULT_BASE_URL)
        timeout = timeout_setting(config.setting("timeout_s"))
        secrets = [v for v in config.secrets.values() if v]
        self._app = self._api(client, base_url, timeout, secrets, "bearer_token")
        self._user = self._api(client, base_url, timeout, secrets, "user_access_token")
        self._user_id: str | None = text_of(config.setting("user_id"))
        handle = text_of(config.setting("handle")) or config.handle or ""
        self._handle = handle.lstrip("@")

    def _api(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        timeout: float,
        secrets: list[str],
        token_name: str,
    ) -> HttpApi | None:
        token = self._config.secrets.get(token_name)
        if not token:
            return None
        return HttpApi(
            client,
            label=f"X {self._config.name}",
            base_url=base_url,
            secrets=secrets,
            headers={"Authorization": f"Bearer {token}"},
            timeout_s=timeout,
            read_error=read_x_error,
            rate_limit_wait=epoch_reset_wait("x-rate-limit-reset"),
        )

    # -- declarations ------------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return Limits(max_length=MAX_POST, length_rule="x_weighted")

    def limits_for(self, mode: str) -> Limits:
        """Limits of a public post (``"public"``) or of a DM (``"private"``)."""
        if mode == "private":
            return Limits(max_length=MAX_DM, length_rule="chars")
        return self.limits

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(public_reply=True, private_message=True, reconcile=True)

    # -- tokens and ids ----------------------------------------------------------------------

    def _reader(self) -> HttpApi:
        api = self._app or self._user
        if api is None:
            raise AuthenticationError(f"X {self.account}: no bearer or user access token is set")
        return api

    def _writer(self) -> HttpApi:
        if self._user is None:
            raise AuthenticationError(
                f"X {self.account}: posting and DMs need a user access token (OAuth 2.0 user "
                "context); none is set"
            )
        return self._user

    async def _own_id(self) -> str:
        if self._user_id:
            return self._user_id
        if self._user is None:
            raise RejectedError(
                f"X {self.account}: set user_id (our numeric id) or add a user access token"
            )
        me = as_dict((await self._user.get("/2/users/me")).body).get("data")
        user_id = text_of(as_dict(me).get("id"))
        if user_id is None:
            raise RejectedError(f"X {self.account}: /2/users/me did not say who we are")
        self._user_id = user_id
        return user_id

    # -- fetch -------------------------------------------------------------------------------

    async def fetch(self, cursor: dict[str, str]) -> FetchResult:
        state = dict(cursor)
        messages: list[IncomingMessage] = []
        problems: list[str] = []
        own = await self._own_id()
        more = await self._fetch_mentions(own, state, messages, problems)
        if self._user is not None:
            more = await self._fetch_dms(own, state, messages, problems) or more
        for problem in problems:
            log.warning("X %s: skipped: %s", self.account, problem)
        return FetchResult(messages, state, more=more, problems=problems)

    async def _fetch_mentions(
        self,
        own: str,
        state: dict[str, str],
        out: list[IncomingMessage],
        problems: list[str],
    ) -> bool:
        params = {
            "max_results": PAGE_SIZE,
            "since_id": state.get("mentions_since_id"),
            "pagination_token": state.get("mentions_token"),
            "expansions": "author_id",
            "tweet.fields": TWEET_FIELDS,
            "user.fields": USER_FIELDS,
        }
        body = as_dict((await self._reader().get(f"/2/users/{own}/mentions", params)).body)
        users = _users_by_id(body)
        for tweet in as_list(body.get("data")):
            msg = self._mention(as_dict(tweet), users, own, problems)
            if msg is not None:
                out.append(msg)
        meta = as_dict(body.get("meta"))
        newest = _newest(state.get("mentions_newest"), text_of(meta.get("newest_id")))
        token = text_of(meta.get("next_token"))
        if token:
            state["mentions_token"] = token
            if newest:
                state["mentions_newest"] = newest
            return True
        state.pop("mentions_token", None)
        state.pop("mentions_newest", None)
        final = _newest(state.get("mentions_since_id"), newest)
        if final:
            state["mentions_since_id"] = final
        return False

    def _mention(
        self, tweet: dict[str, Any], users: dict[str, dict[str, Any]], own: str, problems: list[str]
    ) -> IncomingMessage | None:
        tweet_id = text_of(tweet.get("id"))
        author_id = text_of(tweet.get("author_id"))
        text = _post_text(tweet)
        if tweet_id is None or author_id is None or text is None:
            problems.append(f"mention without id, author_id or text: {_short(tweet)}")
            return None
        if author_id == own:
            return None
        user = users.get(author_id, {})
        replied_to = next(
            (
                text_of(as_dict(ref).get("id"))
                for ref in as_list(tweet.get("referenced_tweets"))
                if as_dict(ref).get("type") == "replied_to"
            ),
            None,
        )
        extra: dict[str, Any] = {"author_id": author_id}
        conversation = text_of(tweet.get("conversation_id"))
        if conversation:
            extra["conversation_id"] = conversation
        return IncomingMessage(
            channel=Channel.X,
            account=self.account,
            external_id=tweet_id,
            direction=Direction.IN,
            author=text_of(user.get("username")) or author_id,
            author_name=text_of(user.get("name")),
            text=text,
            created_at=parse_time(tweet.get("created_at")) or _now(),
            in_reply_to=replied_to,
            followers=_followers(user),
            language=_language(tweet.get("lang")),
            extra=extra,
        )

    async def _fetch_dms(
        self,
        own: str,
        state: dict[str, str],
        out: list[IncomingMessage],
        problems: list[str],
    ) -> bool:
        params = {
            "event_types": "MessageCreate",
            "dm_event.fields": DM_FIELDS,
            "expansions": "sender_id",
            "user.fields": USER_FIELDS,
            "max_results": PAGE_SIZE,
            "pagination_token": state.get("dm_token"),
        }
        body = as_dict((await self._writer().get("/2/dm_events", params)).body)
        users = _users_by_id(body)
        since = int_of(state.get("dm_since_id")) or 0
        newest = int_of(state.get("dm_newest")) or 0
        reached_seen = False
        for event in as_list(body.get("data")):
            event = as_dict(event)
            event_id = int_of(event.get("id"))
            if event_id is not None and event_id <= since:
                reached_seen = True
                continue
            if event_id is not None:
                newest = max(newest, event_id)
            msg = self._dm(event, users, own, problems)
            if msg is not None:
                out.append(msg)
        token = text_of(as_dict(body.get("meta")).get("next_token"))
        if token and not reached_seen:
            state["dm_token"] = token
            if newest:
                state["dm_newest"] = str(newest)
            return True
        state.pop("dm_token", None)
        state.pop("dm_newest", None)
        if max(since, newest):
            state["dm_since_id"] = str(max(since, newest))
        return False

    def _dm(
        self, event: dict[str, Any], users: dict[str, dict[str, Any]], own: str, problems: list[str]
    ) -> IncomingMessage | None:
        event_id = text_of(event.get("id"))
        sender = text_of(event.get("sender_id"))
        text = event.get("text")
        if event.get("event_type", "MessageCreate") != "MessageCreate":
            return None
        if event_id is None or sender is None or not isinstance(text, str):
            problems.append(f"DM event without id, sender_id or text: {_short(event)}")
            return None
        if sender == own:
            return None
        conversation = text_of(event.get("dm_conversation_id")) or _one_to_one(own, sender)
        user = users.get(sender, {})
        return IncomingMessage(
            channel=Channel.X,
            account=self.account,
            external_id=event_id,
            direction=Direction.IN,
            author=text_of(user.get("username")) or sender,
            author_name=text_of(user.get("name")),
            text=text,
            created_at=parse_time(event.get("created_at")) or _now(),
            thread=conversation,
            followers=_followers(user),
            extra={"private": True, "sender_id": sender, "dm_conversation_id": conversation},
        )

    # -- send --------------------------------------------------------------------------------

    async def send(self, reply: OutgoingReply) -> SendResult:
        if not reply.text.strip():
            raise RejectedError(f"X {self.account}: the reply is empty")
        if reply.mode == "private":
            return await self._send_dm(reply)
        return await self._send_post(reply)

    async def _send_post(self, reply: OutgoingReply) -> SendResult:
        weighted = parse_tweet(reply.text).weightedLength
        if weighted > MAX_POST:
            raise RejectedError(
                f"X {self.account}: the reply is {weighted} weighted characters; X allows {MAX_POST}"
            )
        body: dict[str, Any] = {"text": reply.text}
        if reply.in_reply_to:
            body["reply"] = {"in_reply_to_tweet_id": reply.in_reply_to}
        answer = await self._writer().call("POST", "/2/tweets", json_body=body, sending=True)
        post_id = text_of(as_dict(as_dict(answer.body).get("data")).get("id"))
        if post_id is None:
            raise UnknownOutcomeError(
                f"X {self.account}: POST /2/tweets succeeded without a post id; reconcile"
            )
        return SendResult(
            post_id, detail=f"reply to {reply.in_reply_to}" if reply.in_reply_to else ""
        )

    async def _send_dm(self, reply: OutgoingReply) -> SendResult:
        if len(reply.text) > MAX_DM:
            raise RejectedError(
                f"X {self.account}: the DM is {len(reply.text)} characters; X allows {MAX_DM}"
            )
        path = await self._dm_path(reply)
        answer = await self._writer().call(
            "POST", f"{path}/messages", json_body={"text": reply.text}, sending=True
        )
        data = as_dict(as_dict(answer.body).get("data"))
        event_id = text_of(data.get("dm_event_id"))
        if event_id is None:
            raise UnknownOutcomeError(
                f"X {self.account}: the DM was accepted without a dm_event_id; reconcile"
            )
        return SendResult(event_id, detail=f"dm_conversation {data.get('dm_conversation_id', '')}")

    async def _dm_path(self, reply: OutgoingReply) -> str:
        participant = await self._participant(reply)
        if participant:
            return f"/2/dm_conversations/with/{participant}"
        if reply.thread:
            return f"/2/dm_conversations/{reply.thread}"
        raise RejectedError(f"X {self.account}: a DM needs a recipient or a conversation")

    async def _participant(self, reply: OutgoingReply) -> str | None:
        explicit = reply.extra.get("participant_id") or reply.extra.get("sender_id")
        if explicit:
            return explicit
        if reply.thread and re.fullmatch(r"\d+-\d+", reply.thread):
            own = await self._own_id()
            others = [p for p in reply.thread.split("-") if p != own]
            if len(others) == 1:
                return others[0]
        recipient = (reply.recipient or "").lstrip("@")
        if recipient.isdigit():
            return recipient
        if recipient:
            return await self._user_id_of(recipient)
        return None

    async def _user_id_of(self, username: str) -> str:
        answer = await self._reader().get(f"/2/users/by/username/{username}")
        user_id = text_of(as_dict(as_dict(answer.body).get("data")).get("id"))
        if user_id is None:
            raise RejectedError(f"X {self.account}: no X user named @{username}")
        return user_id

    # -- reconcile ---------------------------------------------------------------------------

    async def find_sent(self, reply: OutgoingReply) -> SendResult | None:
        if reply.mode == "private":
            return await self._find_dm(reply)
        own = await self._own_id()
        params = {
            "max_results": PAGE_SIZE,
            "tweet.fields": "created_at,referenced_tweets,conversation_id",
            "exclude": "retweets",
        }
        body = as_dict((await self._reader().get(f"/2/users/{own}/tweets", params)).body)
        wanted = _comparable(reply.text)
        for tweet in as_list(body.get("data")):
            tweet = as_dict(tweet)
            refs = [as_dict(r) for r in as_list(tweet.get("referenced_tweets"))]
            parent = next(
                (text_of(r.get("id")) for r in refs if r.get("type") == "replied_to"), None
            )
            if parent != reply.in_reply_to:
                continue
            if _comparable(_post_text(tweet) or "") == wanted and text_of(tweet.get("id")):
                return SendResult(str(tweet["id"]), detail="found among our recent posts")
        return None

    async def _find_dm(self, reply: OutgoingReply) -> SendResult | None:
        own = await self._own_id()
        path = await self._dm_path(reply)
        params = {
            "event_types": "MessageCreate",
            "dm_event.fields": DM_FIELDS,
            "max_results": PAGE_SIZE,
        }
        body = as_dict((await self._writer().get(f"{path}/dm_events", params)).body)
        wanted = _comparable(reply.text)
        for event in as_list(body.get("data")):
            event = as_dict(event)
            if text_of(event.get("sender_id")) != own:
                continue
            if _comparable(str(event.get("text", ""))) == wanted and text_of(event.get("id")):
                return SendResult(str(event["id"]), detail="found in the DM conversation")
        return None

    # -- test --------------------------------------------------------------------------------

    async def test(self) -> str:
        if self._user is not None:
            data = as_dict(as_dict((await self._user.get("/2/users/me")).body).get("data"))
            user_id = text_of(data.get("id"))
            if user_id and not self._user_id:
                self._user_id = user_id
            return f"X @{data.get('username', '?')} (id {user_id}): user token works"
        if not self._user_id:
            raise RejectedError(f"X {self.account}: set user_id to test with an app-only token")
        data = as_dict(
            as_dict((await self._reader().get(f"/2/users/{self._user_id}")).body).get("data")
        )
        return f"X @{data.get('username', '?')} (id {self._user_id}): app token works (read only)"


def _users_by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    users: dict[str, dict[str, Any]] = {}
    for user in as_list(as_dict(body.get("includes")).get("users")):
        user = as_dict(user)
        user_id = text_of(user.get("id"))
        if user_id:
            users[user_id] = user
    return users


def _post_text(tweet: dict[str, Any]) -> str | None:
    """The full text: long posts carry it in ``note_tweet.text``. X escapes ``&<>`` in ``text``."""
    note = as_dict(tweet.get("note_tweet")).get("text")
    text = note if isinstance(note, str) and note else tweet.get("text")
    return html.unescape(text) if isinstance(text, str) else None


def _followers(user: dict[str, Any]) -> int | None:
    return int_of(as_dict(user.get("public_metrics")).get("followers_count"))


def _language(lang: Any) -> str | None:
    # "und" (undetermined), "zxx" (no text) and "qme"-style pseudo codes are not languages.
    code = text_of(lang)
    if code is None or code in ("und", "zxx") or code.startswith("q"):
        return None
    return code


def _newest(a: str | None, b: str | None) -> str | None:
    candidates = [x for x in (a, b) if x and x.isdigit()]
    return max(candidates, key=int) if candidates else None


def _one_to_one(own: str, other: str) -> str:
    low, high = sorted((own, other), key=lambda v: int(v) if v.isdigit() else 0)
    return f"{low}-{high}"


def _comparable(text: str) -> str:
    """Text as X shows it back: entities unescaped, links wrapped, leading @mentions added."""
    text = _LEADING_MENTIONS.sub("", html.unescape(text).strip())
    return " ".join(_URL.sub("<url>", text).split())


def _short(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 120 else text[:117] + "..."


def _now() -> int:
    return int(utcnow().timestamp())
