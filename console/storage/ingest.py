"""Ingest: turning :class:`IncomingMessage` records into customers, identities, conversations and messages.

Every importer and every channel sync goes through :class:`Ingestor`. It is idempotent: a message
whose ``(channel, external_id)`` is already in the workspace is skipped, so importing a file twice
or fetching a page twice changes nothing.

Threading rules:

- A message whose ``in_reply_to`` is in the workspace joins its parent's conversation.
- Otherwise, on threaded channels (X, email, Facebook, Instagram) a ``thread`` key (an email's root
  Message-ID) joins the conversation with that key; with neither the message starts a conversation.
  When a parent arrives after its replies (files in any order), the replies' conversation is adopted
  into the parent's, so the result does not depend on import order.
- On unthreaded streams (DMs, SMS, WhatsApp, Messenger, phone) the thread key is ``thread`` or the
  customer's handle; a message after 24 hours of silence, or after the conversation was resolved,
  starts a new conversation.

Work is done in batches, each in one transaction; ``after_batch`` lets triage update flags, groups
and deadlines for exactly what the batch touched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from console.domain import (
    STREAM_SILENCE_S,
    Channel,
    Direction,
    IncomingMessage,
    Status,
    to_epoch,
    utcnow,
)
from console.storage.db import Workspace
from console.textutil import extra_json, fingerprint, normalize_for_duplicates, snippet

log = logging.getLogger(__name__)
_T = TypeVar("_T")

SNIPPET_CHARS = 160
#: A commit group of this many records or more is indexed for search in one statement at its end
#: (``Workspace.deferred_fts``); that changes the schema twice (the trigger goes and comes back),
#: which smaller groups (a sync page) are not worth: their rows go through the trigger.
DEFER_FTS_FROM = 200


@dataclass(slots=True)
class BatchResult:
    """What one batch wrote: ids of new messages, and every conversation and customer touched."""

    message_ids: list[int] = field(default_factory=list)
    conversation_ids: set[int] = field(default_factory=set)
    new_conversation_ids: set[int] = field(default_factory=set)
    removed_conversation_ids: set[int] = field(default_factory=set)
    customer_ids: set[int] = field(default_factory=set)


@dataclass(slots=True)
class IngestReport:
    added: int = 0
    skipped: int = 0
    message_ids: list[int] = field(default_factory=list)
    conversation_ids: set[int] = field(default_factory=set)
    new_conversation_ids: set[int] = field(default_factory=set)
    removed_conversation_ids: set[int] = field(default_factory=set)
    customer_ids: set[int] = field(default_factory=set)

    def absorb(self, batch: BatchResult) -> None:
        self.added += len(batch.message_ids)
        self.message_ids.extend(batch.message_ids)
        self.conversation_ids |= batch.conversation_ids
        self.new_conversation_ids |= batch.new_conversation_ids
        self.removed_conversation_ids |= batch.removed_conversation_ids
        self.conversation_ids -= batch.removed_conversation_ids
        self.customer_ids |= batch.customer_ids


AfterBatch = Callable[[Workspace, BatchResult], None]
Progress = Callable[[int], None]

_CONV_COLUMNS = (
    "id",
    "account_id",
    "channel",
    "customer_id",
    "identity_id",
    "thread_key",
    "status",
    "subject",
    "snippet",
    "started_at",
    "started_by_customer",
    "last_activity",
    "first_inbound_at",
    "last_inbound_at",
    "first_response_at",
    "waiting_since",
    "message_count",
    "resolved_at",
    "paused_s",
    "paused_since",
    "snoozed_until",
)


#: Positions in a message row of :meth:`_BatchWriter._insert_messages`.
_CUSTOMER, _LANGUAGE, _SENTIMENT = 6, 14, 19


@dataclass(slots=True)
class _Parent:
    conversation_id: int
    direction: str
    identity_id: int | None
    customer_id: int | None


class Ingestor:
    """Writes incoming messages into one workspace. Use from the workspace's own thread."""

    def __init__(
        self,
        ws: Workspace,
        *,
        after_batch: AfterBatch | None = None,
        batch_size: int = 2000,
        batches_per_commit: int = 1,
    ) -> None:
        self.ws = ws
        self.after_batch = after_batch
        self.batch_size = batch_size
        # A bulk import commits every few batches: each commit writes every page the batches
        # touched (index pages all over the file), so fewer, larger commits write far less.
        # The batches themselves (and so the result) are the same.
        self.batches_per_commit = max(1, batches_per_commit)
        self._accounts: dict[tuple[str, str], int] = {}
        # Per-batch caches (cleared at each batch so merges made meanwhile are never missed):
        # (channel, handle) -> [identity id, customer id, followers, name]
        self._identities: dict[tuple[str, str], list[Any]] = {}
        self._customer_keys: dict[str, int] = {}
        # (customer, key) pairs already attached or found taken: a second try changes nothing.
        self._keys_tried: set[tuple[int, str]] = set()
        # Known identities whose followers or name changed in this batch, and the customers'
        # highest follower counts seen: written once at the end of the batch.
        self._changed_identities: dict[int, list[Any]] = {}
        self._reach: dict[int, int] = {}
        # handles the batch's prefetch found no identity for (no second look-up each)
        self._absent: set[tuple[str, str]] = set()
        # customer keys it found no customer for, and the keys of the customers it read
        self._absent_keys: set[str] = set()
        self._key_of: dict[int, str | None] = {}

    # -- public ------------------------------------------------------------------------------

    def ingest(
        self, records: Iterable[IncomingMessage], progress: Progress | None = None
    ) -> IngestReport:
        report = IngestReport()
        batches = _chunks(records, self.batch_size)
        for group in _chunks(batches, self.batches_per_commit):
            # A big group is indexed for search at its end, in one statement (a few large
            # additions to the index are cheaper than many small ones).
            big = sum(map(len, group)) >= DEFER_FTS_FROM
            with self.ws.transaction(), self.ws.deferred_fts() if big else nullcontext():
                for batch in group:
                    result, skipped = self._ingest_batch(batch)
                    report.skipped += skipped
                    report.absorb(result)
                    if progress is not None:
                        progress(len(batch))
        return report

    def ensure_account(self, channel: Channel, name: str, handle: str | None = None) -> int:
        key = (str(channel), name)
        cached = self._accounts.get(key)
        if cached is not None:
            return cached
        row = self.ws.conn.execute(
            "SELECT id FROM accounts WHERE channel = ? AND name = ?", key
        ).fetchone()
        if row is None:
            cur = self.ws.conn.execute(
                "INSERT INTO accounts (channel, name, handle, adapter, created_at) "
                "VALUES (?, ?, ?, 'sandbox', ?)",
                (str(channel), name, handle or name, to_epoch(utcnow())),
            )
            account_id = int(cur.lastrowid or 0)
        else:
            account_id = int(row[0])
        self._accounts[key] = account_id
        return account_id

    # -- one batch ---------------------------------------------------------------------------

    def _ingest_batch(self, batch: list[IncomingMessage]) -> tuple[BatchResult, int]:
        with self.ws.transaction():
            self._identities.clear()
            self._customer_keys.clear()
            self._changed_identities.clear()
            self._reach.clear()
            self._absent.clear()
            self._absent_keys.clear()
            self._key_of.clear()
            self._keys_tried.clear()
            fresh = self._drop_known(batch)
            skipped = len(batch) - len(fresh)
            result = BatchResult()
            if fresh:
                _BatchWriter(self, fresh, result).run()
            if self.after_batch is not None and result.message_ids:
                self.after_batch(self.ws, result)
        return result, skipped

    def _drop_known(self, batch: list[IncomingMessage]) -> list[IncomingMessage]:
        seen: set[tuple[str, str]] = set()
        by_channel: dict[str, list[str]] = {}
        for rec in batch:
            by_channel.setdefault(str(rec.channel), []).append(rec.external_id)
        known: set[tuple[str, str]] = set()
        for channel, ids in by_channel.items():
            for part in _slices(ids, 500):
                marks = ",".join("?" * len(part))
                for (ext,) in self.ws.conn.execute(
                    f"SELECT external_id FROM messages WHERE channel = ? AND external_id IN ({marks})",
                    (channel, *part),
                ):
                    known.add((channel, ext))
        fresh = []
        for rec in batch:
            key = (str(rec.channel), rec.external_id)
            if key in known or key in seen:
                continue
            seen.add(key)
            fresh.append(rec)
        return fresh

    # -- identities and customers ------------------------------------------------------------

    def prefetch_identities(self, records: Iterable[IncomingMessage]) -> None:
        """Load the identities a batch mentions in a few queries instead of one per message."""
        wanted: dict[str, set[str]] = {}
        keys: set[str] = set()
        for rec in records:
            handle = rec.author if rec.direction == Direction.IN else rec.to
            if handle and (str(rec.channel), handle) not in self._identities:
                wanted.setdefault(str(rec.channel), set()).add(handle)
            if rec.customer_key and rec.customer_key not in self._customer_keys:
                keys.add(rec.customer_key)
        conn = self.ws.conn
        for channel, handles in wanted.items():
            for part in _slices(sorted(handles), 500):
                marks = ",".join("?" * len(part))
                for ident, cust, handle, followers, name, key in conn.execute(
                    "SELECT i.id, i.customer_id, i.handle, i.followers, i.name, c.key"
                    " FROM identities i LEFT JOIN customers c ON c.id = i.customer_id"
                    f" WHERE i.channel = ? AND i.handle IN ({marks})",
                    (channel, *part),
                ):
                    self._identities[(channel, handle)] = [ident, cust, followers, name]
                    self._key_of[cust] = key
            self._absent.update(
                (channel, h) for h in handles if (channel, h) not in self._identities
            )
        for part in _slices(sorted(keys), 500):
            marks = ",".join("?" * len(part))
            for key, cust, merged_into in conn.execute(
                f"SELECT key, id, merged_into FROM customers WHERE key IN ({marks})", part
            ):
                self._customer_keys[key] = int(merged_into or cust)
            self._absent_keys.update(k for k in part if k not in self._customer_keys)

    def resolve_identity(
        self,
        channel: Channel,
        handle: str,
        *,
        name: str | None = None,
        followers: int | None = None,
        customer_key: str | None = None,
        now: int,
    ) -> tuple[int, int]:
        """(identity id, customer id) for a handle, creating both when new."""
        key = (str(channel), handle)
        cached = self._identities.get(key)
        conn = self.ws.conn
        if cached is None and key not in self._absent:
            row = conn.execute(
                "SELECT id, customer_id, followers, name FROM identities"
                " WHERE channel = ? AND handle = ?",
                key,
            ).fetchone()
            if row is not None:
                cached = list(row)
                self._identities[key] = cached
        if cached is not None:
            ident, cust = int(cached[0]), int(cached[1])
            # Only write what changed (most messages come from handles we already know as they
            # are), once per batch (:meth:`flush_identities`): the latest followers and name.
            if (followers is not None and followers != cached[2]) or (name and name != cached[3]):
                cached[2] = followers if followers is not None else cached[2]
                cached[3] = name or cached[3]
                self._changed_identities[ident] = cached
                if followers is not None:
                    self._reach[cust] = max(self._reach.get(cust, 0), followers)
            if customer_key:
                self._attach_key(cust, customer_key)
            return ident, cust
        customer_id = self._customer_for_key(customer_key, name or handle, now)
        if customer_id is None:
            cur = conn.execute(
                "INSERT INTO customers (key, name, created_at, reach) VALUES (?, ?, ?, ?)",
                (None, name or handle, now, followers or 0),
            )
            customer_id = int(cur.lastrowid or 0)
        elif followers:
            conn.execute(
                "UPDATE customers SET reach = max(reach, ?) WHERE id = ?", (followers, customer_id)
            )
        cur = conn.execute(
            "INSERT INTO identities (channel, handle, name, followers, customer_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (str(channel), handle, name, followers, customer_id, now),
        )
        resolved = (int(cur.lastrowid or 0), customer_id)
        self._identities[key] = [resolved[0], customer_id, followers, name]
        return resolved

    def flush_identities(self) -> None:
        """Write the batch's follower and name changes of known identities."""
        conn = self.ws.conn
        if self._changed_identities:
            conn.executemany(
                "UPDATE identities SET followers = ?, name = ? WHERE id = ?",
                [(c[2], c[3], ident) for ident, c in self._changed_identities.items()],
            )
            self._changed_identities.clear()
        if self._reach:
            conn.executemany(
                "UPDATE customers SET reach = max(reach, ?) WHERE id = ?",
                [(reach, cust) for cust, reach in self._reach.items()],
            )
            self._reach.clear()

    def _customer_for_key(self, key: str | None, name: str, now: int) -> int | None:
        if not key:
            return None
        cached = self._customer_keys.get(key)
        if cached is not None:
            return cached
        row = None
        if key not in self._absent_keys:
            row = self.ws.conn.execute(
                "SELECT id, merged_into FROM customers WHERE key = ?", (key,)
            ).fetchone()
        if row is not None:
            customer_id = int(row[1] or row[0])
        else:
            cur = self.ws.conn.execute(
                "INSERT INTO customers (key, name, created_at) VALUES (?, ?, ?)", (key, name, now)
            )
            customer_id = int(cur.lastrowid or 0)
            self._key_of[customer_id] = key
        self._customer_keys[key] = customer_id
        return customer_id

    def _attach_key(self, customer_id: int, key: str) -> None:
        if (customer_id, key) in self._keys_tried:
            return
        self._keys_tried.add((customer_id, key))
        if self._key_of.get(customer_id) is not None:
            return  # the customer has a key already (the batch's prefetch read it)
        row = self.ws.conn.execute(
            "SELECT key FROM customers WHERE id = ?", (customer_id,)
        ).fetchone()
        if row is not None and row[0] is None:
            taken = self.ws.conn.execute("SELECT 1 FROM customers WHERE key = ?", (key,)).fetchone()
            if taken is None:
                self.ws.conn.execute(
                    "UPDATE customers SET key = ? WHERE id = ?", (key, customer_id)
                )
                self._customer_keys[key] = customer_id
                self._key_of[customer_id] = key


class _BatchWriter:
    """Writes one de-duplicated batch inside the caller's transaction."""

    def __init__(self, ing: Ingestor, records: list[IncomingMessage], result: BatchResult) -> None:
        self.ing = ing
        self.conn = ing.ws.conn
        self.result = result
        self.records = records
        self.by_ext: dict[tuple[str, str], IncomingMessage] = {
            (str(r.channel), r.external_id): r for r in records
        }
        self.placed: dict[tuple[str, str], _Parent] = {}
        self.convs: dict[int, dict[str, Any]] = {}
        self.message_rows: list[tuple[Any, ...]] = []
        self.customer_delta: dict[int, list[Any]] = {}
        self.now = to_epoch(utcnow())
        row = self.conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
        self.next_message_id = int(row[0]) + 1
        # New conversations get their ids here and are written in one statement at the end
        # (the batch holds the write lock, so nobody else can take these ids meanwhile).
        row = self.conn.execute("SELECT coalesce(max(id), 0) FROM conversations").fetchone()
        self.next_conversation_id = int(row[0]) + 1
        # (channel, thread key, account) -> ids of this batch's conversations with that key
        self.thread_convs: dict[tuple[str, str, int], list[int]] = {}
        # the same key -> the workspace's latest conversation before this batch (or None)
        self.stored_thread: dict[tuple[str, str, int], int | None] = {}
        self.known_parents = self._prefetch_parents()
        ing.prefetch_identities(records)

    def _prefetch_parents(self) -> dict[tuple[str, str], _Parent]:
        """Parents already in the workspace, fetched in a few queries instead of one per reply."""
        wanted: dict[str, list[str]] = {}
        for rec in self.records:
            if rec.in_reply_to and (str(rec.channel), rec.in_reply_to) not in self.by_ext:
                wanted.setdefault(str(rec.channel), []).append(rec.in_reply_to)
        found: dict[tuple[str, str], _Parent] = {}
        for channel, ids in wanted.items():
            for part in _slices(sorted(set(ids)), 500):
                marks = ",".join("?" * len(part))
                for ext, conv, direction, ident, cust in self.conn.execute(
                    "SELECT external_id, conversation_id, direction, identity_id, customer_id"
                    f" FROM messages WHERE channel = ? AND external_id IN ({marks})",
                    (channel, *part),
                ):
                    found[(channel, ext)] = _Parent(int(conv), str(direction), ident, cust)
        return found

    def run(self) -> None:
        for rec in sorted(self.records, key=lambda r: (r.created_at, r.external_id)):
            self._place_with_ancestors(rec)
        self._flush_messages()
        self._flush_conversations()
        self._flush_customers()
        self.ing.flush_identities()
        self._adopt_orphans()

    def _place_with_ancestors(self, rec: IncomingMessage) -> None:
        # Parents in the same batch are placed first, whatever their timestamps say.
        chain = [rec]
        seen = {(str(rec.channel), rec.external_id)}
        cursor = rec
        while cursor.in_reply_to:
            key = (str(cursor.channel), cursor.in_reply_to)
            parent = self.by_ext.get(key)
            if parent is None or key in self.placed or key in seen:
                break
            seen.add(key)
            chain.append(parent)
            cursor = parent
        for item in reversed(chain):
            if (str(item.channel), item.external_id) not in self.placed:
                self._place(item)

    # -- placing one message -----------------------------------------------------------------

    def _place(self, rec: IncomingMessage) -> None:
        ing, now = self.ing, self.now
        channel = _channel(rec.channel)
        account_id = ing.ensure_account(
            channel, rec.account, rec.author if rec.direction == Direction.OUT else None
        )
        identity_id: int | None = None
        customer_id: int | None = None
        if rec.direction == Direction.IN:
            identity_id, customer_id = ing.resolve_identity(
                channel,
                rec.author,
                name=rec.author_name,
                followers=rec.followers,
                customer_key=rec.customer_key,
                now=now,
            )
        elif rec.to:
            identity_id, customer_id = ing.resolve_identity(
                channel, rec.to, customer_key=rec.customer_key, now=now
            )

        parent = self._find_parent(rec)
        conv: dict[str, Any] | None = None
        if parent is not None:
            conv = self._conversation(parent.conversation_id)
            if rec.direction != Direction.IN and identity_id is None:
                if parent.direction == Direction.IN:
                    identity_id, customer_id = parent.identity_id, parent.customer_id
                else:
                    identity_id, customer_id = conv["identity_id"], conv["customer_id"]
        if conv is None:
            thread_key = self._thread_key(rec, channel)
            if thread_key is not None:
                conv = self._find_by_thread(
                    channel, account_id, thread_key, rec.created_at, _is_stream(rec, channel)
                )
            if conv is not None and rec.direction != Direction.IN and identity_id is None:
                identity_id, customer_id = conv["identity_id"], conv["customer_id"]
            if conv is None:
                conv = self._new_conversation(
                    rec,
                    channel,
                    account_id,
                    thread_key or rec.external_id,
                    identity_id,
                    customer_id,
                )
        self._update_conversation(conv, rec, identity_id, customer_id)
        # A conversation belongs to one account: a reply that joined its parent's conversation
        # is filed under that conversation's account (an email import may guess another one).
        account_id = int(conv["account_id"])

        message_id = self.next_message_id
        self.next_message_id += 1
        norm_hash = None
        if rec.direction == Direction.IN:
            norm_hash = rec.norm_hash
            if norm_hash is None:
                norm_hash = fingerprint(normalize_for_duplicates(rec.text))
        self.message_rows.append(
            (
                message_id,
                str(channel),
                rec.external_id,
                rec.in_reply_to,
                conv["id"],
                account_id,
                customer_id,
                identity_id,
                str(rec.direction),
                rec.author,
                rec.author_name,
                rec.text,
                rec.subject,
                rec.created_at,
                rec.language,
                norm_hash,
                "sent" if rec.direction == Direction.OUT else None,
                0 if _is_stream(rec, channel) or not channel.is_public else 1,
                # the reader's JSON; nothing to encode for the many messages without extra
                rec.extra_json
                if rec.extra_json is not None or not rec.extra
                else extra_json(rec.extra),
                rec.sentiment if rec.direction == Direction.IN else None,
            )
        )
        self.result.message_ids.append(message_id)
        self.result.conversation_ids.add(conv["id"])
        self.placed[(str(channel), rec.external_id)] = _Parent(
            conv["id"], str(rec.direction), identity_id, customer_id
        )
        if customer_id is not None:
            self.result.customer_ids.add(customer_id)
            delta = self._delta(customer_id)
            if rec.direction == Direction.IN:
                delta[0] += 1
            elif rec.direction == Direction.OUT:
                delta[1] += 1
            delta[3] = rec.created_at if delta[3] is None else min(delta[3], rec.created_at)
            delta[4] = rec.created_at if delta[4] is None else max(delta[4], rec.created_at)

    def _find_parent(self, rec: IncomingMessage) -> _Parent | None:
        if not rec.in_reply_to:
            return None
        key = (str(rec.channel), rec.in_reply_to)
        placed = self.placed.get(key)
        if placed is not None:
            return placed
        return self.known_parents.get(key)

    @staticmethod
    def _thread_key(rec: IncomingMessage, channel: Channel) -> str | None:
        if rec.thread:
            return rec.thread
        if channel.is_threaded:
            return None
        counterpart = rec.author if rec.direction == Direction.IN else rec.to
        return counterpart or None

    def _find_by_thread(
        self, channel: Channel, account_id: int, thread_key: str, created_at: int, stream: bool
    ) -> dict[str, Any] | None:
        key = (str(channel), thread_key, account_id)
        if key not in self.stored_thread:
            row = self.conn.execute(
                "SELECT id FROM conversations WHERE channel = ? AND thread_key = ? AND account_id = ? "
                "ORDER BY last_activity DESC, id DESC LIMIT 1",
                key,
            ).fetchone()
            self.stored_thread[key] = None if row is None else int(row[0])
            if row is not None:
                self._conversation(int(row[0]))  # registers it under its key
        candidates = [self.convs[i] for i in self.thread_convs.get(key, ())]
        if not candidates:
            return None
        latest = max(candidates, key=lambda c: (c["last_activity"], c["id"]))
        if not stream:
            return latest
        silent = created_at - int(latest["last_activity"]) > STREAM_SILENCE_S
        if silent or latest["status"] == Status.RESOLVED:
            return None
        return latest

    def _conversation(self, conversation_id: int) -> dict[str, Any]:
        conv = self.convs.get(conversation_id)
        if conv is None:
            row = self.conn.execute(
                f"SELECT {', '.join(_CONV_COLUMNS)} FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
            conv = dict(zip(_CONV_COLUMNS, row, strict=True))
            conv["_new"] = False
            conv["_stored"] = row
            self._remember(conv)
        return conv

    def _remember(self, conv: dict[str, Any]) -> None:
        self.convs[conv["id"]] = conv
        key = (conv["channel"], conv["thread_key"], conv["account_id"])
        self.thread_convs.setdefault(key, []).append(conv["id"])

    def _new_conversation(
        self,
        rec: IncomingMessage,
        channel: Channel,
        account_id: int,
        thread_key: str,
        identity_id: int | None,
        customer_id: int | None,
    ) -> dict[str, Any]:
        conv_id = self.next_conversation_id
        self.next_conversation_id += 1
        conv = {
            "id": conv_id,
            "account_id": account_id,
            "channel": str(channel),
            "customer_id": customer_id,
            "identity_id": identity_id,
            "thread_key": thread_key,
            "status": "open",
            "subject": rec.subject,
            "snippet": None,
            "started_at": rec.created_at,
            "started_by_customer": 1 if rec.direction == Direction.IN else 0,
            "last_activity": rec.created_at,
            "first_inbound_at": None,
            "last_inbound_at": None,
            "first_response_at": None,
            "waiting_since": None,
            "message_count": 0,
            "resolved_at": None,
            "paused_s": 0,
            "paused_since": None,
            "snoozed_until": None,
            "_new": True,
            "_is_public": 0 if _is_stream(rec, channel) or not channel.is_public else 1,
        }
        self._remember(conv)
        self.result.new_conversation_ids.add(conv_id)
        if customer_id is not None:
            self._count_conversation(customer_id)
        return conv

    def _delta(self, customer_id: int) -> list[Any]:
        """[inbound, outbound, conversations, first contact, last contact] added by this batch."""
        return self.customer_delta.setdefault(customer_id, [0, 0, 0, None, None])

    def _count_conversation(self, customer_id: int) -> None:
        self._delta(customer_id)[2] += 1

    def _update_conversation(
        self,
        conv: dict[str, Any],
        rec: IncomingMessage,
        identity_id: int | None,
        customer_id: int | None,
    ) -> None:
        at = rec.created_at
        conv["message_count"] += 1
        if conv["customer_id"] is None and customer_id is not None:
            conv["customer_id"], conv["identity_id"] = customer_id, identity_id
            self._count_conversation(customer_id)
        if at < conv["started_at"]:
            conv["started_at"] = at
            conv["started_by_customer"] = 1 if rec.direction == Direction.IN else 0
        if rec.direction == Direction.IN:
            conv["first_inbound_at"] = min(conv["first_inbound_at"] or at, at)
            conv["last_inbound_at"] = max(conv["last_inbound_at"] or at, at)
            if conv["status"] != Status.OPEN:
                # The customer wrote again: a resolved, pending or snoozed conversation reopens.
                _reopen(conv, at)
            if conv["waiting_since"] is None and at >= (conv.get("_last_out") or 0):
                conv["waiting_since"] = at
                conv["paused_s"] = 0  # a new wait: earlier pauses belong to an answered wait
        elif rec.direction == Direction.OUT:
            conv["_last_out"] = max(conv.get("_last_out") or 0, at)
            if conv["waiting_since"] is not None and at >= conv["waiting_since"]:
                conv["waiting_since"] = None
            if conv["first_inbound_at"] is not None and at >= conv["first_inbound_at"]:
                first = conv["first_response_at"]
                conv["first_response_at"] = at if first is None else min(first, at)
        # The snippet is made once per conversation at the flush, from the text it comes from
        # (``_snippet_of``); a text gives an empty snippet exactly when it is all whitespace.
        if rec.direction in (Direction.IN, Direction.OUT) and at >= conv["last_activity"]:
            conv["_snippet_of"] = rec.text
        if _snippet_empty(conv):
            conv["_snippet_of"] = rec.text
        if rec.subject and not conv["subject"]:
            conv["subject"] = rec.subject
        conv["last_activity"] = max(conv["last_activity"], at)

    # -- flushing ----------------------------------------------------------------------------

    def _flush_messages(self) -> None:
        self._keep_scores_without_language_for_customers_without_one()
        self._insert_messages()

    def _keep_scores_without_language_for_customers_without_one(self) -> None:
        """A text too short to tell its language may come scored without a language (see
        ``services.importers.readahead``): right for a customer with no language, as a rebuild
        scores it; for a customer with one, the triage scores it in that language instead."""
        rows = self.message_rows
        unsure = [
            i
            for i, row in enumerate(rows)
            if row[_SENTIMENT] is not None and row[_LANGUAGE] is None
        ]
        if not unsure:
            return
        customers = sorted({rows[i][_CUSTOMER] for i in unsure if rows[i][_CUSTOMER] is not None})
        speaking = {
            int(cid)
            for (cid,) in self.conn.execute(
                "SELECT c.id FROM json_each(?) j JOIN customers c ON c.id = j.value"
                " WHERE c.language IS NOT NULL",
                (json.dumps(customers),),
            )
        }
        for i in unsure:
            if rows[i][_CUSTOMER] is None or rows[i][_CUSTOMER] in speaking:
                rows[i] = (*rows[i][:_SENTIMENT], None)

    def _insert_messages(self) -> None:
        # The row's columns in this order (_CUSTOMER, _LANGUAGE and _SENTIMENT index them).
        self.conn.executemany(
            "INSERT INTO messages (id, channel, external_id, parent_external_id, conversation_id,"
            " account_id, customer_id, identity_id, direction, author, author_name, text, subject,"
            " created_at, language, norm_hash, delivery, is_public, extra, sentiment)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.message_rows,
        )

    def _flush_conversations(self) -> None:
        for conv in self.convs.values():
            source = conv.pop("_snippet_of", None)
            if source is not None:
                conv["snippet"] = snippet(source, SNIPPET_CHARS)
        new = [c for c in self.convs.values() if c["_new"]]
        self.conn.executemany(
            f"INSERT INTO conversations ({', '.join(_CONV_COLUMNS)}, is_public)"
            f" VALUES ({', '.join('?' * (len(_CONV_COLUMNS) + 1))})",
            [(*(conv[c] for c in _CONV_COLUMNS), conv["_is_public"]) for conv in new],
        )
        # Only the columns that changed: SQLite maintains the index of every column a SET names
        # (the conversations table has eight indexes), whether its value changed or not.
        updates: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for conv in self.convs.values():
            if conv["_new"]:
                continue
            stored = conv["_stored"]
            changed = tuple(c for i, c in enumerate(_CONV_COLUMNS) if i and conv[c] != stored[i])
            if changed:
                updates.setdefault(changed, []).append((*(conv[c] for c in changed), conv["id"]))
        for changed, rows in updates.items():
            assignments = ", ".join(f"{c} = ?" for c in changed)
            self.conn.executemany(f"UPDATE conversations SET {assignments} WHERE id = ?", rows)

    def _flush_customers(self) -> None:
        self.conn.executemany(
            "UPDATE customers SET inbound_count = inbound_count + ?1,"
            " outbound_count = outbound_count + ?2,"
            " conversation_count = conversation_count + ?3 WHERE id = ?4",
            [(d[0], d[1], d[2], cid) for cid, d in self.customer_delta.items()],
        )
        self.conn.executemany(
            "UPDATE customers SET"
            " first_contact = min(coalesce(first_contact, ?1), coalesce(?1, first_contact)),"
            " last_contact = max(coalesce(last_contact, ?2), coalesce(?2, last_contact))"
            " WHERE id = ?3",
            [(d[3], d[4], cid) for cid, d in self.customer_delta.items()],
        )

    def _adopt_orphans(self) -> None:
        """Replies that arrived before their parent join the parent's conversation now."""
        threaded = [
            (str(r.channel), r.external_id) for r in self.records if _channel(r.channel).is_threaded
        ]
        by_channel: dict[str, list[str]] = {}
        for channel, ext in threaded:
            by_channel.setdefault(channel, []).append(ext)
        moves: dict[int, int] = {}
        for channel, ids in by_channel.items():
            for part in _slices(ids, 500):
                marks = ",".join("?" * len(part))
                rows = self.conn.execute(
                    "SELECT conversation_id, parent_external_id FROM messages"
                    f" WHERE channel = ? AND parent_external_id IN ({marks})",
                    (channel, *part),
                ).fetchall()
                for child_conv, parent_ext in rows:
                    parent = self.placed.get((channel, parent_ext))
                    if parent is None or parent.conversation_id == child_conv:
                        continue
                    moves[int(child_conv)] = parent.conversation_id
        if not moves:
            return
        from console.storage.maintenance import merge_conversations

        for source, target in moves.items():
            while target in moves and moves[target] != target:
                target = moves[target]
            if source == target:
                continue
            merge_conversations(self.conn, source, target)
            self.result.removed_conversation_ids.add(source)
            self.result.new_conversation_ids.discard(source)
            self.result.conversation_ids.discard(source)
            self.result.conversation_ids.add(target)


def _reopen(conv: dict[str, Any], at: int) -> None:
    """Status back to open at ``at``; a pause (pending, snoozed) that ran while the customer waited
    joins ``paused_s`` so the response deadline does not count it (see console.triage.deadlines)."""
    conv["paused_s"] = (conv.get("paused_s") or 0) + paused_seconds(
        conv.get("paused_since"), conv.get("waiting_since"), at
    )
    conv["status"] = str(Status.OPEN)
    conv["resolved_at"] = None
    conv["paused_since"] = None
    conv["snoozed_until"] = None


def _snippet_empty(conv: dict[str, Any]) -> bool:
    source = conv.get("_snippet_of")
    if source is not None:
        return not source.strip()
    return not conv["snippet"]


def paused_seconds(paused_since: int | None, waiting_since: int | None, until: int) -> int:
    """How much of a pause that began at ``paused_since`` fell while the customer was waiting."""
    if paused_since is None or waiting_since is None:
        return 0
    return max(0, until - max(paused_since, waiting_since))


def _channel(value: Channel | str) -> Channel:
    """The channel of a record (an importer may hand its value)."""
    return value if isinstance(value, Channel) else Channel(value)


def _is_stream(rec: IncomingMessage, channel: Channel) -> bool:
    """Streams split into conversations by silence: DMs, SMS, WhatsApp, Messenger, phone."""
    if not channel.is_threaded:
        return True
    return rec.thread is not None and channel != Channel.EMAIL


def _chunks(records: Iterable[_T], size: int) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _slices(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
