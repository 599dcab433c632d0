"""A loopback Meta Graph API: a page's conversations (Messenger and Instagram), feed comments,
Instagram media comments, the Send API and comment replies, as the Graph and Messenger Platform
documentation describes them.

Checks the page token (``Authorization: Bearer`` or ``access_token``; a bad one gets the real
``OAuthException`` code 190 body), the version prefix, the ``fields`` expressions (nested
``edge.limit(n).order(...){...}`` syntax, field names per node type: unknown ones get Graph's
``(#100) Tried accessing nonexisting field``), and Send API bodies (``recipient`` with exactly one
of ``id``/``comment_id``, ``messaging_type`` required with ``recipient.id``, ``MESSAGE_TAG``
needs a ``tag``, text at most 2000 characters). Enforces the 24-hour window per recipient
(``RESPONSE`` past 24 h, or ``HUMAN_AGENT`` past 7 days -> code 10 subcode 2018278) and one
private reply per comment. Throttles with code 32 and ``X-Business-Use-Case-Usage``.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from tests.contract.servers.base import (
    Answer,
    ChannelServer,
    Recorded,
    Violation,
    only_keys,
    require,
)

PAGE_TOKEN = "EAAGm0PX4ZCpsBAPageTokenZBZCfake0123456789"
PAGE_ID = "104000000000001"
PAGE_NAME = "Acme Support"
IG_USER_ID = "17841400000000001"
IG_USERNAME = "acme.support"
DAY = 24 * 3600

NODE_FIELDS: dict[str, set[str]] = {
    "conversation": {
        "id", "updated_time", "link", "message_count", "messages", "participants", "senders",
        "snippet", "unread_count", "can_reply", "name", "subject", "scoped_thread_key",
    },
    "message": {
        "id", "created_time", "from", "to", "message", "attachments", "sticker", "tags",
        "shares", "is_unsupported", "reactions", "story",
    },
    "post": {
        "id", "message", "created_time", "updated_time", "comments", "from", "permalink_url",
        "status_type", "story",
    },
    "comment": {
        "id", "message", "created_time", "from", "parent", "comment_count", "like_count",
        "attachment", "can_reply_privately", "message_tags", "permalink_url", "is_hidden",
        "comments", "object",
    },
    "ig_media": {
        "id", "caption", "timestamp", "comments", "comments_count", "media_type", "media_url",
        "permalink", "username", "like_count", "owner", "shortcode",
    },
    "ig_comment": {
        "id", "text", "timestamp", "username", "from", "parent_id", "replies", "like_count",
        "media", "hidden", "user",
    },
    "page": {"id", "name", "category", "link", "fan_count", "username"},
    "ig_user": {"id", "username", "name", "followers_count", "media_count"},
    "parent": {"id"},
}  # fmt: skip
EDGE_NODES = {
    ("conversation", "messages"): "message",
    ("post", "comments"): "comment",
    ("comment", "comments"): "comment",
    ("comment", "parent"): "parent",
    ("ig_media", "comments"): "ig_comment",
    ("ig_comment", "replies"): "ig_comment",
}
MODIFIER = re.compile(
    r"\.(limit\(\d+\)|order\((chronological|reverse_chronological)\)|filter\((stream|toplevel)\))"
)
SEND_KEYS = {"recipient", "messaging_type", "message", "tag", "notification_type", "persona_id"}
TAGS = {
    "HUMAN_AGENT", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE",
    "CUSTOMER_FEEDBACK",
}  # fmt: skip


def graph_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_fields(expr: str, node: str) -> dict[str, tuple[int | None, dict[str, Any] | None]]:
    """``a,b.limit(2){c,d}`` -> {name: (limit, subfields)}; Violation on syntax or unknown names."""
    out: dict[str, tuple[int | None, dict[str, Any] | None]] = {}
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(expr):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        require(depth >= 0, f"unbalanced braces in fields {expr!r}")
        if ch == "," and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    require(depth == 0, f"unbalanced braces in fields {expr!r}")
    parts.append(expr[start:])
    for part in parts:
        m = re.fullmatch(r"([a-z_]+)((?:\.[a-z_]+\([^)]*\))*)(?:\{(.*)\})?", part.strip(), re.S)
        require(m is not None, f"(#100) Syntax error in fields near {part!r}")
        assert m is not None
        name, mods, sub = m.group(1), m.group(2), m.group(3)
        require(
            name in NODE_FIELDS[node],
            f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})",
        )
        require(MODIFIER.sub("", mods) == "", f"(#100) bad modifier {mods!r} on {name}")
        limit = re.search(r"limit\((\d+)\)", mods)
        sub_fields = None
        if sub is not None:
            child = EDGE_NODES.get((node, name))
            require(child is not None, f"(#100) {name} on {node} takes no subfields")
            assert child is not None
            sub_fields = parse_fields(sub, child)
        out[name] = (int(limit.group(1)) if limit else None, sub_fields)
    return out


class MetaServer(ChannelServer):
    name = "graph-api"

    def __init__(self) -> None:
        self.conversations: dict[str, dict[str, Any]] = {}
        self.posts: list[dict[str, Any]] = []
        self.media: list[dict[str, Any]] = []
        self.comments: dict[str, dict[str, Any]] = {}  # every comment by id (FB and IG)
        self.last_inbound: dict[str, int] = {}
        self.private_replied: set[str] = set()
        self.sent: list[dict[str, Any]] = []
        self.echo_token = False
        self._ids = itertools.count(1)
        super().__init__()

    # -- data --------------------------------------------------------------------------------

    def add_dm(self, platform: str, psid: str, name: str, text: str, at: int | None = None) -> str:
        at = at if at is not None else int(time.time()) - 60
        conv_id = f"t_{platform[:2]}{psid}"
        conv = self.conversations.setdefault(
            conv_id, {"id": conv_id, "platform": platform, "psid": psid, "messages": []}
        )
        key = "username" if platform == "instagram" else "name"
        mid = f"m_{base64.urlsafe_b64encode(f'{psid}:{next(self._ids)}'.encode()).decode()}"
        conv["messages"].insert(
            0,
            {
                "id": mid,
                "created_time": at,
                "from": {"id": psid, key: name},
                "to": {"data": [{"id": self._own(platform)}]},
                "message": text,
            },
        )
        conv["updated_time"] = max(conv.get("updated_time", 0), at)
        self.last_inbound[psid] = max(self.last_inbound.get(psid, 0), at)
        return mid

    def _own(self, platform: str) -> str:
        return IG_USER_ID if platform == "instagram" else PAGE_ID

    def add_post(self, at: int | None = None) -> str:
        post_id = f"{PAGE_ID}_{next(self._ids) + 500}"
        self.posts.insert(
            0, {"id": post_id, "created_time": at or int(time.time()) - DAY, "comments": []}
        )
        return post_id

    def add_comment(
        self, post_id: str, user: tuple[str, str] | None, text: str, *, parent: str | None = None,
        at: int | None = None,
    ) -> str:  # fmt: skip
        post = next(p for p in self.posts if p["id"] == post_id)
        comment_id = f"{post_id.split('_')[1]}_{next(self._ids) + 9000}"
        comment: dict[str, Any] = {
            "id": comment_id,
            "message": text,
            "created_time": at or int(time.time()) - 120,
        }
        if user is not None:
            comment["from"] = {"id": user[0], "name": user[1]}
        if parent:
            comment["parent"] = {"id": parent}
        post["comments"].insert(0, comment)
        post["updated_time"] = comment["created_time"]
        self.comments[comment_id] = {**comment, "post": post_id, "kind": "fb"}
        if user is not None:
            self.last_inbound.setdefault(user[0], 0)
        return comment_id

    def add_media(self) -> str:
        media_id = str(17900000000000000 + next(self._ids))
        self.media.insert(0, {"id": media_id, "timestamp": int(time.time()) - DAY, "comments": []})
        return media_id

    def add_ig_comment(
        self, media_id: str, user: tuple[str, str], text: str, *, parent: str | None = None,
        at: int | None = None,
    ) -> str:  # fmt: skip
        media = next(m for m in self.media if m["id"] == media_id)
        comment_id = str(18000000000000000 + next(self._ids))
        node: dict[str, Any] = {
            "id": comment_id,
            "text": text,
            "timestamp": at or int(time.time()) - 120,
            "username": user[1],
            "from": {"id": user[0], "username": user[1]},
            "replies": [],
        }
        if parent:
            node["parent_id"] = parent
            self.comments[parent]["node"]["replies"].insert(0, node)
        else:
            media["comments"].insert(0, node)
        self.comments[comment_id] = {"node": node, "media": media_id, "kind": "ig"}
        return comment_id

    # -- contract ----------------------------------------------------------------------------

    def error(
        self, status: int, message: str, code: Any = 100, subcode: int | None = None
    ) -> Answer:
        error: dict[str, Any] = {
            "message": message,
            "type": "OAuthException" if code in (190, 10, 200) else "GraphMethodException",
            "code": code if isinstance(code, int) else 100,
            "fbtrace_id": "AbCdEfGhIjK",
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        return Answer(status, {"error": error})

    def rate_limited(self) -> Answer:
        answer = self.error(400, "(#32) Page request limit reached", 32)
        usage = {PAGE_ID: [{"type": "pages", "call_count": 100, "total_cputime": 12,
                            "total_time": 30, "estimated_time_to_regain_access": 3}]}  # fmt: skip
        answer.headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
        return answer

    def server_error(self) -> Answer:
        answer = self.error(
            500, "An unexpected error has occurred. Please retry your request later.", 2
        )
        answer.body["error"]["is_transient"] = True
        return answer

    def _auth(self, req: Recorded) -> Answer | None:
        header = req.header("authorization") or ""
        token = (
            header.removeprefix("Bearer ").removeprefix("OAuth ")
            if header
            else req.q("access_token")
        )
        if token is None:
            self.violations.append(f"{req.method} {req.path}: no access token")
            return self.error(
                400, "An active access token must be used to query information.", 2500
            )
        if token != PAGE_TOKEN:
            echo = f" ({token})" if self.echo_token else ""
            return self.error(
                400, f"Invalid OAuth access token - Cannot parse access token{echo}", 190
            )
        return None

    def setup_routes(self) -> None:
        v = r"/v(?P<v>\d+\.\d+)"
        self.route("GET", rf"{v}/(?P<page>\d+)/conversations", self.get_conversations)
        self.route("GET", rf"{v}/(?P<page>\d+)/feed", self.get_feed)
        self.route("GET", rf"{v}/(?P<ig>\d+)/media", self.get_media)
        self.route("POST", rf"{v}/(?P<page>\d+)/messages", self.send_api)
        self.route("POST", rf"{v}/(?P<cid>\d+_\d+)/comments", self.reply_fb_comment)
        self.route("GET", rf"{v}/(?P<cid>\d+_\d+)/comments", self.list_fb_replies)
        self.route("POST", rf"{v}/(?P<cid>\d+)/replies", self.reply_ig_comment)
        self.route("GET", rf"{v}/(?P<cid>\d+)/replies", self.list_ig_replies)
        self.route("GET", rf"{v}/(?P<node>\d+)", self.get_node)

    def _fields(self, req: Recorded, node: str) -> dict[str, Any]:
        expr = req.q("fields")
        require(expr is not None, "fields is required by this server (Graph returns defaults)")
        assert expr is not None
        return parse_fields(expr, node)

    def _check_params(self, req: Recorded, allowed: set[str]) -> None:
        unknown = set(req.query) - allowed - {"access_token", "appsecret_proof"}
        require(not unknown, f"unknown parameter(s) {sorted(unknown)}")

    # -- reads -------------------------------------------------------------------------------

    def get_conversations(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        require(m["page"] == PAGE_ID, "conversations of another page")
        self._check_params(
            req, {"platform", "fields", "limit", "after", "before", "user_id", "folder"}
        )
        platform = req.q("platform")
        require(
            platform in ("messenger", "instagram"), "(#100) platform must be messenger or instagram"
        )
        fields = self._fields(req, "conversation")
        convs = [c for c in self.conversations.values() if c["platform"] == platform]
        if req.q("user_id"):
            convs = [c for c in convs if c["psid"] == req.q("user_id")]
        convs.sort(key=lambda c: c["updated_time"], reverse=True)
        return self._paged(req, convs, lambda c: self._render_conv(c, fields))

    def _render_conv(self, conv: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": conv["id"]}
        if "updated_time" in fields:
            out["updated_time"] = graph_time(conv["updated_time"])
        if "messages" in fields:
            limit, sub = fields["messages"]
            msgs = conv["messages"][: limit or 25]
            sub = sub or {"id": None}
            out["messages"] = {"data": [self._render_msg(x, sub) for x in msgs]}
        return out

    @staticmethod
    def _render_msg(msg: dict[str, Any], sub: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in msg.items() if k in sub or k == "id"}
        if "created_time" in out:
            out["created_time"] = graph_time(msg["created_time"])
        return out

    def get_feed(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        self._check_params(req, {"fields", "limit", "after", "since", "until"})
        fields = self._fields(req, "post")
        return self._paged(req, self.posts, lambda p: self._render_post(p, fields))

    def _render_post(self, post: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": post["id"]}
        if "updated_time" in fields:
            out["updated_time"] = graph_time(post.get("updated_time", post["created_time"]))
        if "comments" in fields:
            limit, sub = fields["comments"]
            sub = sub or {}
            rendered = []
            for c in post["comments"][: limit or 25]:
                item = {k: v for k, v in c.items() if k in sub or k == "id"}
                if "created_time" in item:
                    item["created_time"] = graph_time(c["created_time"])
                rendered.append(item)
            out["comments"] = {"data": rendered}
        return out

    def get_media(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        require(m["ig"] == IG_USER_ID, "media of another Instagram account")
        self._check_params(req, {"fields", "limit", "after", "since", "until"})
        fields = self._fields(req, "ig_media")
        return self._paged(req, self.media, lambda x: self._render_media(x, fields))

    def _render_media(self, media: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": media["id"]}
        if "timestamp" in fields:
            out["timestamp"] = graph_time(media["timestamp"])
        if "comments" in fields:
            limit, sub = fields["comments"]
            out["comments"] = {
                "data": [self._render_ig(c, sub or {}) for c in media["comments"][: limit or 25]]
            }
        return out

    def _render_ig(self, node: dict[str, Any], sub: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in node.items() if (k in sub or k == "id") and k != "replies"}
        if "timestamp" in out:
            out["timestamp"] = graph_time(node["timestamp"])
        if "replies" in sub:
            limit, inner = sub["replies"]
            out["replies"] = {
                "data": [self._render_ig(r, inner or {}) for r in node["replies"][: limit or 25]]
            }
        return out

    def _paged(self, req: Recorded, items: list[dict[str, Any]], render: Any) -> Answer:
        limit = int(req.q("limit") or 25)
        require(1 <= limit <= 100, "(#100) limit must be 1..100")
        after = req.q("after")
        start = _decode(after) if after else 0
        page = items[start : start + limit]
        body: dict[str, Any] = {"data": [render(i) for i in page]}
        if page:
            paging: dict[str, Any] = {
                "cursors": {"before": _encode(start), "after": _encode(start + len(page))}
            }
            if start + limit < len(items):
                paging["next"] = (
                    f"https://graph.facebook.com{req.path}?after={_encode(start + limit)}"
                )
            body["paging"] = paging
        return Answer(200, body)

    def get_node(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        if m["node"] == PAGE_ID:
            self._fields(req, "page")
            return Answer(200, {"id": PAGE_ID, "name": PAGE_NAME})
        if m["node"] == IG_USER_ID:
            self._fields(req, "ig_user")
            return Answer(200, {"id": IG_USER_ID, "username": IG_USERNAME})
        return self.error(
            400, f"(#803) Some of the aliases you requested do not exist: {m['node']}", 803
        )

    # -- writes ------------------------------------------------------------------------------

    def send_api(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        require(m["page"] == PAGE_ID, "(#100) the page id is not ours")
        body = req.json()
        only_keys(body, SEND_KEYS, "Send API body")
        recipient = body.get("recipient")
        only_keys(recipient, {"id", "comment_id", "post_id", "user_ref"}, "recipient")
        require(len(recipient) == 1, "(#100) recipient needs exactly one of id, comment_id, ...")
        message = body.get("message")
        only_keys(message, {"text", "attachment", "quick_replies", "metadata"}, "message")
        text = message.get("text")
        require(
            isinstance(text, str) and text != "", "(#100) message.text must be a non-empty string"
        )
        if len(text) > 2000:
            return self.error(
                400, "(#100) Length of param message[text] must be less than or equal to 2000"
            )
        mtype = body.get("messaging_type")
        if "id" in recipient:
            require(
                mtype in ("RESPONSE", "UPDATE", "MESSAGE_TAG"), "(#100) messaging_type is required"
            )
        if mtype == "MESSAGE_TAG":
            require(body.get("tag") in TAGS, "(#100) MESSAGE_TAG requires a valid tag")
        else:
            require("tag" not in body, "(#100) tag is only valid with messaging_type MESSAGE_TAG")
        if "comment_id" in recipient:
            return self._private_reply(recipient["comment_id"], text)
        psid = recipient["id"]
        if psid not in self.last_inbound:
            return self.error(400, "(#100) No matching user found", 100, 2018001)
        age = int(time.time()) - self.last_inbound[psid]
        allowed = DAY if mtype == "RESPONSE" else 7 * DAY
        if age > allowed:
            return self.error(
                400, "(#10) This message is sent outside of allowed window.", 10, 2018278
            )
        conv = next((c for c in self.conversations.values() if c["psid"] == psid), None)
        return self._deliver(psid, text, conv)

    def _private_reply(self, comment_id: str, text: str) -> Answer:
        comment = self.comments.get(comment_id)
        if comment is None:
            return self.error(400, "(#100) Invalid comment_id", 100)
        if comment_id in self.private_replied:
            return self.error(
                400, "(#10) This comment has already been replied to privately", 10, 1893
            )
        self.private_replied.add(comment_id)
        node = comment.get("node", comment)
        psid = node.get("from", {}).get("id", "unknown")
        # A private reply opens (or continues) the Messenger/Instagram conversation with them.
        platform = "instagram" if comment["kind"] == "ig" else "messenger"
        conv_id = f"t_{platform[:2]}{psid}"
        conv = self.conversations.setdefault(
            conv_id,
            {"id": conv_id, "platform": platform, "psid": psid, "messages": [],
             "updated_time": int(time.time())},
        )  # fmt: skip
        return self._deliver(psid, text, conv)

    def _deliver(self, psid: str, text: str, conv: dict[str, Any] | None) -> Answer:
        mid = f"m_sent{next(self._ids)}"
        msg = {"id": mid, "created_time": int(time.time()), "message": text}
        if conv is not None:
            msg["from"] = {"id": self._own(conv["platform"]), "name": PAGE_NAME}
            conv["messages"].insert(0, msg)
        self.sent.append({"recipient": psid, "message_id": mid, "text": text})
        return Answer(200, {"recipient_id": psid, "message_id": mid})

    def reply_fb_comment(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        body = self._message_body(req)
        comment = self.comments.get(m["cid"])
        if comment is None or comment["kind"] != "fb":
            return self.error(
                400,
                f"(#100) Unsupported post request. Object with ID '{m['cid']}' does not exist",
                100,
                33,
            )
        require(len(body["message"]) <= 8000, "(#100) comment too long")
        reply_id = f"{comment['post'].split('_')[1]}_{next(self._ids) + 9000}"
        node = {"id": reply_id, "message": body["message"], "created_time": int(time.time()),
                "from": {"id": PAGE_ID, "name": PAGE_NAME}, "parent": {"id": m["cid"]}}  # fmt: skip
        self.comments[reply_id] = {
            **node,
            "post": comment["post"],
            "kind": "fb",
            "reply_to": m["cid"],
        }
        return Answer(200, {"id": reply_id})

    def reply_ig_comment(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        body = self._message_body(req)
        comment = self.comments.get(m["cid"])
        if comment is None or comment["kind"] != "ig":
            return self.error(400, "(#100) Invalid parameter", 100, 2534014)
        require(len(body["message"]) <= 2200, "(#100) comment too long")
        reply_id = str(18000000000000000 + next(self._ids))
        node = {"id": reply_id, "text": body["message"], "timestamp": int(time.time()),
                "username": IG_USERNAME, "from": {"id": IG_USER_ID, "username": IG_USERNAME},
                "parent_id": m["cid"], "replies": []}  # fmt: skip
        comment["node"]["replies"].insert(0, node)
        self.comments[reply_id] = {"node": node, "media": comment["media"], "kind": "ig"}
        return Answer(200, {"id": reply_id})

    def _message_body(self, req: Recorded) -> dict[str, Any]:
        ctype = req.header("content-type") or ""
        if ctype.startswith("application/json"):
            body = req.json()
        elif ctype.startswith("application/x-www-form-urlencoded"):
            body = req.form()
        else:
            body = {k: v[-1] for k, v in req.query.items() if k != "access_token"}
        only_keys(body, {"message", "attachment_url", "attachment_id"}, "comment body")
        require(
            isinstance(body.get("message"), str) and body["message"], "(#100) message is required"
        )
        return body

    def list_fb_replies(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        fields = self._fields(req, "comment")
        replies = [c for c in self.comments.values() if c.get("reply_to") == m["cid"]]
        rows = []
        for c in replies:
            row = {k: v for k, v in c.items() if k in fields or k == "id"}
            if "created_time" in row:
                row["created_time"] = graph_time(c["created_time"])
            rows.append(row)
        return Answer(200, {"data": rows})

    def list_ig_replies(self, req: Recorded, m: re.Match[str]) -> Answer:
        denied = self._auth(req)
        if denied:
            return denied
        fields = self._fields(req, "ig_comment")
        comment = self.comments.get(m["cid"])
        if comment is None:
            return self.error(400, "(#100) Invalid parameter", 100)
        return Answer(
            200, {"data": [self._render_ig(r, fields) for r in comment["node"]["replies"]]}
        )


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{offset}".encode()).decode()


def _decode(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":")[1])
    except Exception as exc:
        raise Violation(f"(#100) after cursor {cursor!r} was not issued by this server") from exc
