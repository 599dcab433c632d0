"""A loopback X API v2: mentions, DM events, posts and DMs, as documented on docs.x.com.

Checks what the real API checks: the bearer token and whether the endpoint accepts an app-only
token (DMs, ``/2/users/me`` and posting need user context: an app token gets X's 403
``unsupported-authentication`` problem), query parameters against the enumerations of X's
OpenAPI spec (``tweet.fields``, ``user.fields``, ``expansions``, ``dm_event.fields``,
``event_types``, ``max_results`` ranges, id patterns) and JSON bodies against the spec's request
schemas (``TweetCreateRequest``, ``CreateMessageRequest``: allowed keys, required keys, types).
Paginates with opaque ``next_token`` values, filters ``since_id`` exclusively, answers with
``x-rate-limit-*`` headers, and throttles with 429 + ``x-rate-limit-reset``.
"""

from __future__ import annotations

import base64
import itertools
import re
import time
from typing import Any

from tests.contract.servers.base import (
    Answer,
    ChannelServer,
    Recorded,
    Violation,
    only_keys,
    require,
)

BEARER = "AAAAAAAAAAAAAAAAAAAAAx-app-bearer-0123456789"
USER_TOKEN = "user-ctx-token-ZmFrZS11c2VyLXRva2Vu"
OWN_ID = "1000000000000000001"
OWN_USERNAME = "AcmeCare"

# From X's OpenAPI spec (api.x.com/2/openapi.json): the enumerations the adapter may use.
TWEET_FIELDS = {
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls",
    "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang",
    "media_metadata", "non_public_metrics", "note_tweet", "organic_metrics", "possibly_sensitive",
    "promoted_metrics", "public_metrics", "referenced_tweets", "reply_settings", "scopes",
    "source", "suggested_source_links", "text", "withheld",
}  # fmt: skip
USER_FIELDS = {
    "affiliation", "confirmed_email", "connection_status", "created_at", "description",
    "entities", "id", "is_identity_verified", "location", "most_recent_tweet_id", "name",
    "parody", "pinned_tweet_id", "profile_banner_url", "profile_image_url", "protected",
    "public_metrics", "receives_your_dm", "subscription", "subscription_type", "url",
    "username", "verified", "verified_followers_count", "verified_type", "withheld",
}  # fmt: skip
TWEET_EXPANSIONS = {
    "article.cover_media", "article.media_entities", "attachments.media_keys",
    "attachments.media_source_tweet", "attachments.poll_ids", "author_id",
    "edit_history_tweet_ids", "entities.mentions.username", "geo.place_id",
    "in_reply_to_user_id", "entities.note.mentions.username", "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id",
}  # fmt: skip
DM_EVENT_FIELDS = {
    "attachments", "created_at", "dm_conversation_id", "entities", "event_type", "id",
    "participant_ids", "referenced_tweets", "sender_id", "text",
}  # fmt: skip
DM_EXPANSIONS = {"attachments.media_keys", "participant_ids", "referenced_tweets.id", "sender_id"}
EVENT_TYPES = {"MessageCreate", "ParticipantsJoin", "ParticipantsLeave"}
TWEET_CREATE_KEYS = {
    "card_uri", "community_id", "direct_message_deep_link", "edit_options",
    "for_super_followers_only", "geo", "made_with_ai", "media", "nullcast", "paid_partnership",
    "poll", "quote_tweet_id", "reply", "reply_settings", "share_with_followers", "text",
}  # fmt: skip
REPLY_KEYS = {"auto_populate_reply_metadata", "exclude_reply_user_ids", "in_reply_to_tweet_id"}
TWEET_ID = re.compile(r"^[0-9]{1,19}$")
USER_ID = TWEET_ID
DM_CONVERSATION_ID = re.compile(r"^([0-9]{1,19}-[0-9]{1,19}|[0-9]{15,19})$")
PAGINATION_TOKEN = re.compile(r"^[A-Za-z0-9_=-]{1,}$")


class XServer(ChannelServer):
    name = "x-api"

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.mentions: list[dict[str, Any]] = []  # any order; served newest first
        self.dm_events: list[dict[str, Any]] = []
        self.posts: list[dict[str, Any]] = []  # ours, created through POST /2/tweets
        self.reply_restricted: set[str] = set()
        self.echo_token = False
        self._ids = itertools.count(1_900_000_000_000_000_000)
        super().__init__()
        self.add_user(OWN_ID, OWN_USERNAME, "Acme Support", 52_000)

    # -- data --------------------------------------------------------------------------------

    def next_id(self) -> str:
        return str(next(self._ids))

    def add_user(self, user_id: str, username: str, name: str, followers: int) -> None:
        self.users[user_id] = {
            "id": user_id,
            "username": username,
            "name": name,
            "public_metrics": {
                "followers_count": followers,
                "following_count": 10,
                "tweet_count": 100,
                "listed_count": 1,
            },
        }

    def add_mention(
        self, author_id: str, text: str, *, reply_to: str | None = None, created: str | None = None
    ) -> str:
        tweet_id = self.next_id()
        tweet: dict[str, Any] = {
            "id": tweet_id,
            "text": text,
            "author_id": author_id,
            "created_at": created or "2026-11-30T10:30:00.000Z",
            "conversation_id": reply_to or tweet_id,
            "lang": "en",
            "edit_history_tweet_ids": [tweet_id],
        }
        if reply_to:
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
            tweet["in_reply_to_user_id"] = OWN_ID
        self.mentions.append(tweet)
        return tweet_id

    def add_dm(self, sender_id: str, text: str, *, to: str = OWN_ID) -> str:
        event_id = self.next_id()
        low, high = sorted((sender_id, to), key=int)
        self.dm_events.append(
            {
                "id": event_id,
                "event_type": "MessageCreate",
                "text": text,
                "sender_id": sender_id,
                "participant_ids": [sender_id, to],
                "dm_conversation_id": f"{low}-{high}",
                "created_at": "2026-11-30T11:00:00.000Z",
            }
        )
        return event_id

    # -- contract ----------------------------------------------------------------------------

    def error(self, status: int, message: str, code: Any = None) -> Answer:
        problem = {
            400: "invalid-request",
            401: "about:blank",
            403: "about:blank",
            404: "resource-not-found",
        }.get(status, "about:blank")
        kind = (
            problem if problem == "about:blank" else f"https://api.twitter.com/2/problems/{problem}"
        )
        title = {400: "Invalid Request", 401: "Unauthorized", 403: "Forbidden"}.get(status, "Error")
        body: dict[str, Any] = {"title": title, "detail": message, "type": kind, "status": status}
        if status == 400:
            body = {"errors": [{"message": message, "parameters": {}}], **body}
        return Answer(status, body, self._limit_headers(remaining=42))

    def rate_limited(self) -> Answer:
        body = {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        }
        return Answer(429, body, self._limit_headers(remaining=0, reset_in=120))

    def server_error(self) -> Answer:
        body = {
            "title": "Service Unavailable",
            "detail": "Service Unavailable",
            "type": "about:blank",
            "status": 503,
        }
        return Answer(503, body, self._limit_headers(remaining=40))

    @staticmethod
    def _limit_headers(remaining: int, reset_in: int = 900) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(time.time()) + reset_in),
        }

    def _ok(self, body: Any, status: int = 200) -> Answer:
        return Answer(status, body, self._limit_headers(remaining=449))

    def _auth(self, req: Recorded, *, user_context: bool) -> Answer | None:
        header = req.header("authorization") or ""
        if not header.startswith("Bearer "):
            self.violations.append(f"{req.method} {req.path}: no bearer Authorization header")
            return self.error(401, "Unauthorized")
        token = header.removeprefix("Bearer ")
        if token == BEARER and user_context:
            answer = self.error(
                403,
                "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint. "
                "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
            )
            answer.body["type"] = "https://api.twitter.com/2/problems/unsupported-authentication"
            return answer
        if token not in (BEARER, USER_TOKEN):
            # Some proxies and APIs echo what they got; the adapter must mask it.
            detail = f"Unauthorized: {token!r} is not valid" if self.echo_token else "Unauthorized"
            return self.error(401, detail)
        return None

    def setup_routes(self) -> None:
        self.route("GET", r"/2/users/me", self.me)
        self.route("GET", r"/2/users/by/username/(?P<username>\w{1,15})", self.user_by_name)
        self.route("GET", r"/2/users/(?P<id>[^/]+)/mentions", self.get_mentions)
        self.route("GET", r"/2/users/(?P<id>[^/]+)/tweets", self.get_posts)
        self.route("GET", r"/2/users/(?P<id>\d+)", self.user_by_id)
        self.route("GET", r"/2/dm_events", self.get_dm_events)
        self.route("GET", r"/2/dm_conversations/with/(?P<pid>[^/]+)/dm_events", self.get_dm_with)
        self.route("POST", r"/2/tweets", self.create_post)
        self.route("POST", r"/2/dm_conversations/with/(?P<pid>[^/]+)/messages", self.send_dm_with)
        self.route("POST", r"/2/dm_conversations/(?P<cid>[^/]+)/messages", self.send_dm_in)

    # -- users -------------------------------------------------------------------------------

    def me(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, user_context=True)
        return denied or self._ok({"data": self._public_user(OWN_ID)})

    def user_by_id(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, user_context=False)
        if denied:
            return denied
        if m["id"] not in self.users:
            return self._not_found("user", m["id"])
        return self._ok({"data": self._public_user(m["id"])})

    def user_by_name(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, user_context=False)
        if denied:
            return denied
        for user in self.users.values():
            if user["username"].lower() == m["username"].lower():
                return self._ok({"data": self._public_user(user["id"])})
        return self._not_found("user", m["username"])

    def _public_user(self, user_id: str) -> dict[str, Any]:
        user = self.users[user_id]
        return {"id": user["id"], "username": user["username"], "name": user["name"]}

    def _not_found(self, kind: str, value: str) -> Answer:
        return self._ok(
            {
                "errors": [
                    {
                        "value": value,
                        "detail": f"Could not find {kind} with id: [{value}].",
                        "title": "Not Found Error",
                        "resource_type": kind,
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                ]
            }
        )

    # -- timelines ---------------------------------------------------------------------------

    def get_mentions(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, user_context=False)
        if denied:
            return denied
        require(bool(USER_ID.match(m["id"])), f"id {m['id']!r} does not match ^[0-9]{{1,19}}$")
        self._check_query(
            req,
            {"max_results", "since_id", "until_id", "pagination_token", "start_time", "end_time",
             "expansions", "tweet.fields", "user.fields", "media.fields", "place.fields", "poll.fields"},
            fields={"tweet.fields": TWEET_FIELDS, "user.fields": USER_FIELDS, "expansions": TWEET_EXPANSIONS},
            max_results=(5, 100),
        )  # fmt: skip
        since = req.q("since_id")
        if since is not None:
            require(bool(TWEET_ID.match(since)), "since_id must match ^[0-9]{1,19}$")
        tweets = [t for t in self.mentions if since is None or int(t["id"]) > int(since)]
        return self._page(req, tweets, "tweet.fields", lambda t: [t.get("author_id")])

    def get_posts(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, user_context=False)
        if denied:
            return denied
        self._check_query(
            req,
            {"max_results", "since_id", "until_id", "pagination_token", "exclude", "start_time",
             "end_time", "expansions", "tweet.fields", "user.fields"},
            fields={"tweet.fields": TWEET_FIELDS, "user.fields": USER_FIELDS, "expansions": TWEET_EXPANSIONS,
                    "exclude": {"replies", "retweets"}},
            max_results=(5, 100),
        )  # fmt: skip
        posts = [p for p in self.posts if p["author_id"] == m["id"]]
        return self._page(req, posts, "tweet.fields", lambda t: [])

    def get_dm_events(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, user_context=True)
        if denied:
            return denied
        self._check_dm_query(req)
        return self._page(req, self.dm_events, "dm_event.fields", lambda e: [e.get("sender_id")])

    def get_dm_with(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, user_context=True)
        if denied:
            return denied
        self._check_dm_query(req)
        pid = m["pid"]
        events = [e for e in self.dm_events if pid in e.get("participant_ids", ())]
        return self._page(req, events, "dm_event.fields", lambda e: [e.get("sender_id")])

    def _check_dm_query(self, req: Recorded) -> None:
        self._check_query(
            req,
            {"max_results", "pagination_token", "event_types", "dm_event.fields", "expansions",
             "media.fields", "user.fields", "tweet.fields"},
            fields={"dm_event.fields": DM_EVENT_FIELDS, "user.fields": USER_FIELDS,
                    "expansions": DM_EXPANSIONS, "event_types": EVENT_TYPES},
            max_results=(1, 100),
        )  # fmt: skip

    def _check_query(
        self,
        req: Recorded,
        allowed: set[str],
        *,
        fields: dict[str, set[str]],
        max_results: tuple[int, int],
    ) -> None:
        unknown = set(req.query) - allowed
        require(not unknown, f"unknown query parameter(s) {sorted(unknown)}")
        for name, values in req.query.items():
            require(len(values) == 1, f"{name} given {len(values)} times")
        for name, enum in fields.items():
            value = req.q(name)
            if value is None:
                continue
            bad = [v for v in value.split(",") if v not in enum]
            require(
                not bad, f"The `{name}` query parameter value {bad} is not one of {sorted(enum)}"
            )
        size = req.q("max_results")
        if size is not None:
            low, high = max_results
            require(
                size.isdigit() and low <= int(size) <= high, f"max_results must be {low}..{high}"
            )
        token = req.q("pagination_token")
        if token is not None:
            require(bool(PAGINATION_TOKEN.match(token)), "bad pagination_token")

    def _page(
        self, req: Recorded, items: list[dict[str, Any]], field_param: str, user_ids: Any
    ) -> Answer:
        items = sorted(items, key=lambda i: int(i["id"]), reverse=True)
        size = int(req.q("max_results") or 10)
        token = req.q("pagination_token")
        start = _decode_token(token) if token else 0
        page = items[start : start + size]
        if not page:
            return self._ok({"meta": {"result_count": 0}})
        wanted = set((req.q(field_param) or "").split(",")) | {"id", "text"}
        body: dict[str, Any] = {
            "data": [_pick(i, wanted | {"edit_history_tweet_ids"}) for i in page]
        }
        expansions = set((req.q("expansions") or "").split(","))
        if expansions & {"author_id", "sender_id"}:
            user_wanted = set((req.q("user.fields") or "").split(",")) | {"id", "name", "username"}
            ids = {uid for i in page for uid in user_ids(i) if uid in self.users}
            body["includes"] = {"users": [_pick(self.users[u], user_wanted) for u in sorted(ids)]}
        meta: dict[str, Any] = {"result_count": len(page)}
        if field_param == "tweet.fields":
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if start + size < len(items):
            meta["next_token"] = _encode_token(start + size)
        body["meta"] = meta
        return self._ok(body)

    # -- writes ------------------------------------------------------------------------------

    def create_post(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req, user_context=True)
        if denied:
            return denied
        require(
            (req.header("content-type") or "").startswith("application/json"), "body must be JSON"
        )
        body = req.json()
        only_keys(body, TWEET_CREATE_KEYS, "TweetCreateRequest")
        require(isinstance(body.get("text"), str), "text must be a string")
        reply = body.get("reply")
        if reply is not None:
            only_keys(reply, REPLY_KEYS, "TweetCreateRequest.reply")
            require("in_reply_to_tweet_id" in reply, "reply.in_reply_to_tweet_id is required")
            parent = reply["in_reply_to_tweet_id"]
            require(isinstance(parent, str) and bool(TWEET_ID.match(parent)),
                    "reply.in_reply_to_tweet_id must be a string matching ^[0-9]{1,19}$")  # fmt: skip
            if parent in self.reply_restricted:
                return self.error(
                    403,
                    "Reply to this conversation is not allowed because you have not been "
                    "mentioned or otherwise engaged by the author of the post you are replying to.",
                )
        if any(p["text"] == body["text"] for p in self.posts):
            return self.error(403, "You are not allowed to create a Tweet with duplicate content.")
        post_id = self.next_id()
        post: dict[str, Any] = {
            "id": post_id,
            "text": body["text"].replace("&", "&amp;"),  # X escapes entities in text
            "author_id": OWN_ID,
            "created_at": "2026-11-30T12:00:00.000Z",
            "edit_history_tweet_ids": [post_id],
        }
        if reply is not None:
            post["referenced_tweets"] = [
                {"type": "replied_to", "id": reply["in_reply_to_tweet_id"]}
            ]
        self.posts.append(post)
        return self._ok(
            {"data": {"id": post_id, "text": body["text"], "edit_history_tweet_ids": [post_id]}},
            201,
        )

    def send_dm_with(self, req: Recorded, m: re.Match[str]) -> Answer:
        require(bool(USER_ID.match(m["pid"])), "participant_id must match ^[0-9]{1,19}$")
        return self._send_dm(req, m["pid"])

    def send_dm_in(self, req: Recorded, m: re.Match[str]) -> Answer:
        require(bool(DM_CONVERSATION_ID.match(m["cid"])), "bad dm_conversation_id")
        others = [p for p in m["cid"].split("-") if p != OWN_ID]
        return self._send_dm(req, others[0] if others else m["cid"])

    def _send_dm(self, req: Recorded, participant: str) -> Answer:
        denied = self._auth(req, user_context=True)
        if denied:
            return denied
        body = req.json()
        only_keys(body, {"text", "attachments"}, "CreateMessageRequest")
        require("text" in body or "attachments" in body, "one of text or attachments is required")
        require(isinstance(body.get("text", ""), str) and len(body.get("text", "")) <= 10_000,
                "text must be a string of at most 10000 characters")  # fmt: skip
        if participant not in self.users:
            return self.error(403, "You cannot send messages to this user.")
        event_id = self.add_dm(OWN_ID, body.get("text", ""), to=participant)
        conversation = self.dm_events[-1]["dm_conversation_id"]
        return self._ok(
            {"data": {"dm_conversation_id": conversation, "dm_event_id": event_id}}, 201
        )


def _pick(obj: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k in keys}


def _encode_token(offset: int) -> str:
    return base64.b32encode(f"offset:{offset:08d}".encode()).decode().rstrip("=").lower()


def _decode_token(token: str) -> int:
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        return int(base64.b32decode(padded).decode().split(":")[1])
    except Exception as exc:
        raise Violation(f"pagination_token {token!r} was not issued by this server") from exc
