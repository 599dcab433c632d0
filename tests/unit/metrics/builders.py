"""Small workspaces with known timelines for the supervisor metrics tests.

Messages go through the real :class:`~console.storage.ingest.Ingestor`; what other parts of the app
write (triage's deadlines, flags and duplicate groups, assignment, resolution) is set directly, the
way those parts store it.
"""

from __future__ import annotations

import json
from typing import Any

from console.domain import Channel, Direction, IncomingMessage
from console.storage.db import Workspace
from console.storage.ingest import Ingestor

#: 2023-11-14 00:00:00 UTC: "today" of the scenarios.
DAY = 1_699_920_000
HOUR = 3600


class Scenario:
    """Writes inbound posts and replies on X threads and remembers their ids."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.ingestor = Ingestor(ws)
        self._n = 0

    def _ext(self) -> str:
        self._n += 1
        return f"t{self._n}"

    def inbound(
        self,
        account: str,
        customer: str,
        at: int,
        text: str = "my order has not arrived, please help",
        reply_to: str | None = None,
        channel: Channel = Channel.X,
    ) -> str:
        ext = self._ext()
        self.ingestor.ingest(
            [
                IncomingMessage(
                    channel=channel,
                    account=account,
                    external_id=ext,
                    direction=Direction.IN,
                    author=customer,
                    text=text,
                    created_at=at,
                    in_reply_to=reply_to,
                )
            ]
        )
        return ext

    def reply(
        self,
        account: str,
        at: int,
        reply_to: str,
        text: str = "Sorry to hear that, we are on it. ^AB",
        agent: str | None = None,
        channel: Channel = Channel.X,
    ) -> str:
        ext = self._ext()
        extra: dict[str, Any] = {"agent": agent} if agent else {}
        self.ingestor.ingest(
            [
                IncomingMessage(
                    channel=channel,
                    account=account,
                    external_id=ext,
                    direction=Direction.OUT,
                    author=account,
                    text=text,
                    created_at=at,
                    in_reply_to=reply_to,
                    extra=extra,
                )
            ]
        )
        return ext

    def conversation(self, ext: str) -> int:
        return int(
            self.ws.scalar("SELECT conversation_id FROM messages WHERE external_id = ?", (ext,))
        )

    def message_id(self, ext: str) -> int:
        return int(self.ws.scalar("SELECT id FROM messages WHERE external_id = ?", (ext,)))

    def customer(self, ext: str) -> int:
        return int(self.ws.scalar("SELECT customer_id FROM messages WHERE external_id = ?", (ext,)))

    def account(self, name: str) -> int:
        return int(self.ws.scalar("SELECT id FROM accounts WHERE name = ?", (name,)))

    def set_conversation(self, conversation_id: int, **columns: Any) -> None:
        assignments = ", ".join(f"{k} = ?" for k in columns)
        with self.ws.transaction() as conn:
            conn.execute(
                f"UPDATE conversations SET {assignments} WHERE id = ?",
                (*columns.values(), conversation_id),
            )

    def flag(self, customer_id: int, kind: str, now: int = DAY) -> None:
        with self.ws.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO flags (customer_id, kind, score, reasons, updated_at)"
                " VALUES (?, ?, 0.7, ?, ?)",
                (customer_id, kind, json.dumps(["test"]), now),
            )

    def group(
        self, exts: list[str], *, kind: str = "same_issue", sample: str = "app crashes"
    ) -> int:
        """A duplicate group of the given posts, stored the way triage stores it.

        Same issue: the posts share a ``norm_hash`` (the group's); ``dup_group`` points at it unless
        the post is in a duplicates group. Duplicates: one customer's posts, ``dup_group`` set.
        """
        ids = [self.message_id(e) for e in exts]
        self._n += 1
        norm_hash = 10_000 + self._n
        marks = ",".join("?" * len(ids))
        with self.ws.transaction() as conn:
            customers, first, last, customer = conn.execute(
                "SELECT count(DISTINCT customer_id), min(created_at), max(created_at),"
                f" min(customer_id) FROM messages WHERE id IN ({marks})",
                ids,
            ).fetchone()
            same = kind == "same_issue"
            cur = conn.execute(
                "INSERT INTO dup_groups (kind, group_key, customer_id, norm_hash, size, customers,"
                " first_at, last_at, sample) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    f"s:{norm_hash}" if same else f"d:{customer}:{ids[0]}",
                    None if same else customer,
                    norm_hash,
                    len(ids),
                    customers,
                    first,
                    last,
                    sample,
                ),
            )
            group_id = int(cur.lastrowid or 0)
            conn.execute(
                f"UPDATE messages SET norm_hash = ?, dup_group = coalesce(dup_group, ?) WHERE id IN ({marks})",
                (norm_hash, group_id, *ids),
            )
        return group_id

    def join_group(self, group_id: int, exts: list[str]) -> None:
        """More posts of a same-issue group (triage bumps its size)."""
        with self.ws.transaction() as conn:
            norm_hash = conn.execute(
                "SELECT norm_hash FROM dup_groups WHERE id = ?", (group_id,)
            ).fetchone()[0]
            for ext in exts:
                conn.execute(
                    "UPDATE messages SET norm_hash = ?, dup_group = coalesce(dup_group, ?)"
                    " WHERE external_id = ?",
                    (norm_hash, group_id, ext),
                )
            conn.execute(
                "UPDATE dup_groups SET size = size + ?, last_at = (SELECT max(created_at) FROM messages"
                " WHERE norm_hash = ?) WHERE id = ?",
                (len(exts), norm_hash, group_id),
            )
