"""Messages as an item model: one conversation's thread, or a customer's whole history.

:class:`ThreadModel` shows messages oldest to newest. It loads the newest page first (what an
agent reads) and earlier pages on request (:meth:`fetch_earlier`, when the view is scrolled to
the top), by keyset on ``(created_at, id)``. Each row is a :class:`MessageRow` built at load time
with everything the delegate paints: channel, direction, author, time, text, thread depth (replies
are indented under the message they answer), delivery state, and the flags whose evidence the
message is (so the history highlights what triggered a flag).

In history mode consecutive messages of one conversation form a block; the first row of a block
carries ``starts_block`` so the delegate can print "X · @AirlineCare" above it: an agent sees at
once that the customer phoned, then emailed, then tweeted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal

from console.changes import MessagesChanged
from console.domain import CHANNEL_LABELS, Channel
from console.storage.conversations import thread_messages
from console.storage.customers import conversations_of_customer, customer_history, flags_of
from console.storage.db import Workspace
from console.textutil import snippet
from widgets.bridge import QtBridge
from widgets.tablemodel import ColumnsModel

Index = QModelIndex | QPersistentModelIndex

MESSAGE_ROLE = int(Qt.ItemDataRole.UserRole) + 11
PAGE = 120
MAX_DEPTH = 4
COLUMNS = ("Time", "Channel", "Direction", "Author", "Text", "Delivery")


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    conversation_id: int
    channel: str
    account: str
    direction: str
    author: str
    author_name: str | None
    text: str
    subject: str | None
    created_at: int
    external_id: str
    parent_external_id: str | None
    language: str | None
    sentiment: float | None
    dup_group: int | None
    delivery: str | None
    error: str | None
    is_public: bool
    depth: int = 0
    starts_block: bool = False
    flags: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.channel}:{self.external_id}"

    @property
    def channel_label(self) -> str:
        try:
            return CHANNEL_LABELS[Channel(self.channel)]
        except ValueError:
            return self.channel


def _message(raw: dict[str, Any]) -> MessageRow:
    return MessageRow(
        id=int(raw["id"]),
        conversation_id=int(raw["conversation_id"]),
        channel=str(raw["channel"]),
        account=str(raw["account"]),
        direction=str(raw["direction"]),
        author=str(raw["author"] or ""),
        author_name=raw.get("author_name"),
        text=str(raw["text"] or ""),
        subject=raw.get("subject"),
        created_at=int(raw["created_at"]),
        external_id=str(raw["external_id"]),
        parent_external_id=raw.get("parent_external_id"),
        language=raw.get("language"),
        sentiment=raw.get("sentiment"),
        dup_group=raw.get("dup_group"),
        delivery=raw.get("delivery"),
        error=raw.get("error"),
        is_public=bool(raw.get("is_public")),
    )


def _arrange(rows: Sequence[MessageRow], evidence: dict[int, tuple[str, ...]]) -> list[MessageRow]:
    """Thread depth (replies under their parent), block starts and flag evidence, in one pass."""
    depth_of: dict[tuple[int, str], int] = {}
    out: list[MessageRow] = []
    previous_conv: int | None = None
    for row in rows:
        depth = 0
        if row.parent_external_id:
            parent = depth_of.get((row.conversation_id, row.parent_external_id))
            if parent is not None:
                depth = min(MAX_DEPTH, parent + 1)
        depth_of[(row.conversation_id, row.external_id)] = depth
        out.append(
            replace(
                row,
                depth=depth,
                starts_block=row.conversation_id != previous_conv,
                flags=evidence.get(row.id, ()),
            )
        )
        previous_conv = row.conversation_id
    return out


def flag_evidence(ws: Workspace, customer_id: int | None) -> dict[int, tuple[str, ...]]:
    """Message id -> the flags it is evidence for."""
    if customer_id is None:
        return {}
    out: dict[int, list[str]] = {}
    for flag in flags_of(ws, customer_id):
        for message_id in flag["message_ids"]:
            out.setdefault(int(message_id), []).append(str(flag["kind"]))
    return {k: tuple(v) for k, v in out.items()}


class ThreadModel(ColumnsModel):
    """Messages of a conversation (``show_conversation``) or a customer (``show_customer``).

    Signals:
        loaded(): new content was loaded (not for earlier pages)
    """

    headers = COLUMNS

    loaded = Signal()

    def __init__(
        self, ws: Workspace, bridge: QtBridge | None, *, page_size: int = PAGE, parent: Any = None
    ) -> None:
        super().__init__(parent)
        self.ws = ws
        self.page_size = page_size
        self.mode: str = "none"
        self.conversation_id: int | None = None
        self.customer_id: int | None = None
        self._rows: list[MessageRow] = []
        self._texts: list[tuple[str, ...]] = []
        self._more_earlier = False
        self._evidence: dict[int, tuple[str, ...]] = {}
        if bridge is not None:
            bridge.messages_changed.connect(self._on_messages_changed)
            bridge.customers_changed.connect(self._on_customers_changed)
            bridge.workspace_reset.connect(lambda *_: self.reload())

    # -- Qt model interface --------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._texts[index.row()][index.column()]
        if role == MESSAGE_ROLE:
            return self._rows[index.row()]
        return None

    # -- loading -------------------------------------------------------------------------------

    def show_conversation(self, conversation_id: int | None, customer_id: int | None) -> None:
        self.mode = "conversation" if conversation_id is not None else "none"
        self.conversation_id = conversation_id
        self.customer_id = customer_id
        self.reload()

    def show_customer(self, customer_id: int | None) -> None:
        self.mode = "customer" if customer_id is not None else "none"
        self.customer_id = customer_id
        self.reload()

    def _load(self, before: tuple[int, int] | None) -> list[MessageRow]:
        limit = self.page_size + 1
        if self.mode == "conversation" and self.conversation_id is not None:
            raw = thread_messages(self.ws, self.conversation_id, limit=limit, before=before)
        elif self.mode == "customer" and self.customer_id is not None:
            raw = customer_history(self.ws, self.customer_id, limit=limit, before=before)
        else:
            raw = []
        return [_message(r) for r in raw]

    def reload(self) -> None:
        self.beginResetModel()
        self._evidence = flag_evidence(self.ws, self.customer_id) if self.mode != "none" else {}
        rows = self._load(None)
        self._more_earlier = len(rows) > self.page_size
        if self._more_earlier:
            rows = rows[1:]
        self._set_rows(rows)
        self.endResetModel()
        self.loaded.emit()

    def _set_rows(self, rows: list[MessageRow]) -> None:
        self._rows = _arrange(rows, self._evidence)
        self._texts = [_texts(r) for r in self._rows]

    @property
    def has_earlier(self) -> bool:
        return self._more_earlier

    def fetch_earlier(self) -> int:
        """Prepend the previous page; returns how many rows were added."""
        if not self._more_earlier or not self._rows:
            return 0
        first = self._rows[0]
        rows = self._load((first.created_at, first.id))
        self._more_earlier = len(rows) > self.page_size
        if self._more_earlier:
            rows = rows[1:]
        if not rows:
            return 0
        combined = _arrange([*rows, *self._rows], self._evidence)
        self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
        self._rows = combined
        self._texts = [_texts(r) for r in combined]
        self.endInsertRows()
        return len(rows)

    def row_of(self, message_id: int) -> int | None:
        for i, row in enumerate(self._rows):
            if row.id == message_id:
                return i
        return None

    def message_at(self, row: int) -> MessageRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    @property
    def messages(self) -> list[MessageRow]:
        return list(self._rows)

    # -- live updates --------------------------------------------------------------------------

    def _concerns(self, conversation_ids: Iterable[int]) -> bool:
        ids = set(conversation_ids)
        if self.mode == "conversation":
            return self.conversation_id in ids
        if self.mode == "customer" and self.customer_id is not None:
            shown = {r.conversation_id for r in self._rows}
            return bool(ids & shown) or bool(
                conversations_of_customer(self.ws, self.customer_id, ids - shown)
            )
        return False

    def _on_messages_changed(self, change: MessagesChanged) -> None:
        if self.mode == "none" or not self._concerns(change.conversation_ids):
            return
        self._refresh_tail()

    def _on_customers_changed(self, change: Any) -> None:
        if self.customer_id is not None and self.customer_id in change.customer_ids:
            self._evidence = flag_evidence(self.ws, self.customer_id)
            self._refresh_tail()

    def _refresh_tail(self) -> None:
        """Re-read the newest page and merge it in: new messages append, changed ones update."""
        fresh = self._load(None)
        if len(fresh) > self.page_size:
            fresh = fresh[1:]
        if not fresh:
            return
        known = {r.id: i for i, r in enumerate(self._rows)}
        oldest_fresh = (fresh[0].created_at, fresh[0].id)
        keep = [r for r in self._rows if (r.created_at, r.id) < oldest_fresh]
        combined = _arrange([*keep, *fresh], self._evidence)
        appended = [r for r in combined if r.id not in known]
        if len(combined) == len(self._rows) + len(appended) and all(
            combined[i].id == r.id for i, r in enumerate(self._rows)
        ):
            # The usual case: the old rows are unchanged in place, new ones come after them.
            changed = [i for i, r in enumerate(self._rows) if r != combined[i]]
            self._rows[: len(self._rows)] = combined[: len(self._rows)]
            for i in changed:
                self._texts[i] = _texts(self._rows[i])
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))
            if appended:
                first = len(self._rows)
                self.beginInsertRows(QModelIndex(), first, first + len(appended) - 1)
                self._rows.extend(combined[first:])
                self._texts.extend(_texts(r) for r in combined[first:])
                self.endInsertRows()
            return
        self.beginResetModel()
        self._rows = combined
        self._texts = [_texts(r) for r in combined]
        self.endResetModel()


def _texts(row: MessageRow) -> tuple[str, ...]:
    return (
        str(row.created_at),
        row.channel_label,
        row.direction,
        row.author_name or row.author,
        snippet(row.text, 200),
        row.delivery or "",
    )
