"""The unified inbox as an item model: an id list, a row cache, keyset pages, live updates.

:class:`InboxModel` never loads the whole workspace: ``fetchMore`` reads the next page after the
last row's sort key (``console.storage.inbox``), so Qt pulls pages in as the view scrolls. Rows are
built once per fetch (``InboxRow`` plus its display texts); ``data()`` only looks them up.

Live updates come from the Qt bridge's ``inbox_changed``: the changed conversations are read back
through the current filter and each one is updated in place, moved, inserted at its sorted place
or removed -- never a reset for one new message. A conversation that now sorts after the loaded
rows is dropped from the list and comes back with a later page, exactly once (keyset paging).
``workspace_reset`` (an import, a rebuild) reloads from the first page.

Signals:
    count_changed(): a live update inserted or removed rows (the panel re-counts; paging in
        more rows does not change the count)
    reloaded(): the model was reset (new filter or a workspace reset)
"""

from __future__ import annotations

import bisect
import html
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from console.changes import InboxChanged
from console.domain import CHANNEL_LABELS, Channel
from console.inbox_filter import InboxFilter
from console.storage.db import Workspace
from console.storage.inbox import PAGE, InboxRow, SortKey, inbox_page, inbox_rows
from widgets.bridge import QtBridge
from widgets.tablemodel import ColumnsModel
from widgets.theme import FLAG_LABELS, flags_in_order
from widgets.timefmt import ago

Index = QModelIndex | QPersistentModelIndex
Clock = Callable[[], int]

ROW_ROLE = int(Qt.ItemDataRole.UserRole) + 1
ID_ROLE = int(Qt.ItemDataRole.UserRole) + 2

COLUMNS = ("Customer", "Channel", "Message", "Account", "Waiting", "Status", "Priority")
WAITING_COLUMN = COLUMNS.index("Waiting")


def _channel_label(channel: str) -> str:
    try:
        return CHANNEL_LABELS[Channel(channel)]
    except ValueError:
        return channel


def _display(row: InboxRow, now: int) -> tuple[str, ...]:
    channel = _channel_label(row.channel)
    waiting = ago(now - row.waiting_since) if row.waiting_since is not None else ""
    return (
        row.customer,
        channel,
        row.snippet,
        row.account,
        waiting,
        row.status,
        f"{row.priority:.0f}",
    )


def row_tooltip(row: InboxRow) -> str:
    """What hovering a row tells: the customer's words, where, and every flag in full.

    Rich text with everything escaped: a customer's "<b>" is shown, never interpreted, and long
    texts wrap.
    """
    text = f"{row.subject} — {row.snippet}" if row.subject else row.snippet
    where = " · ".join(
        part
        for part in (
            _channel_label(row.channel),
            row.account,
            row.status if row.status != "open" else "",
            " ".join(f"#{tag}" for tag in row.tags),
        )
        if part
    )
    flags = [FLAG_LABELS[kind] for kind in flags_in_order(row.flag_mask)]
    lines = [f"<b>{html.escape(row.customer)}</b>", html.escape(text), html.escape(where)]
    if flags:
        lines.append("Flags: " + html.escape(", ".join(flags)))
    return "<p style='white-space:pre-wrap'>" + "<br>".join(lines) + "</p>"


class InboxModel(ColumnsModel):
    """Conversations matching an :class:`InboxFilter`, in its sort order (see the module doc)."""

    headers = COLUMNS

    count_changed = Signal()
    reloaded = Signal()

    def __init__(
        self,
        ws: Workspace,
        bridge: QtBridge | None,
        clock: Clock,
        *,
        page_size: int = PAGE,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.ws = ws
        self.clock = clock
        self.page_size = page_size
        self._filter = InboxFilter()
        self._ids: list[int] = []
        self._keys: list[SortKey] = []
        self._rows: dict[int, InboxRow] = {}
        self._texts: dict[int, tuple[str, ...]] = {}
        self._exhausted = False
        self._now = clock()
        if bridge is not None:
            bridge.inbox_changed.connect(self.apply_change)
            bridge.workspace_reset.connect(self.reload)
        # The "waiting" texts age: refresh them once a minute (one dataChanged for the column).
        self._ticker = QTimer(self, interval=60_000)
        self._ticker.timeout.connect(self.refresh_times)
        self._ticker.start()

    # -- Qt model interface --------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._ids):
            return None
        conv_id = self._ids[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._texts[conv_id][index.column()]
        if role == ROW_ROLE:
            return self._rows[conv_id]
        if role == ID_ROLE:
            return conv_id
        if role == Qt.ItemDataRole.ToolTipRole:
            return row_tooltip(self._rows[conv_id])
        return None

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self._exhausted:
            return
        after = self._keys[-1] if self._keys else None
        page = inbox_page(self.ws, self._filter, now=self._now, after=after, limit=self.page_size)
        if len(page) < self.page_size:
            self._exhausted = True
        fresh = [r for r in page if r.id not in self._rows]
        if not fresh:
            return
        first = len(self._ids)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        for row in fresh:
            self._store(row)
            self._ids.append(row.id)
            self._keys.append(row.key)
        self.endInsertRows()

    # -- public --------------------------------------------------------------------------------

    @property
    def filter(self) -> InboxFilter:
        return self._filter

    def set_filter(self, f: InboxFilter) -> None:
        if f == self._filter and self._ids:
            return
        self._filter = f
        self.reload()

    def reload(self, *_: object) -> None:
        self.beginResetModel()
        self._ids.clear()
        self._keys.clear()
        self._rows.clear()
        self._texts.clear()
        self._exhausted = False
        self._now = self.clock()
        self.endResetModel()
        self.fetchMore()
        self.reloaded.emit()

    def row_of(self, conversation_id: int) -> int | None:
        row = self._rows.get(conversation_id)
        if row is None:
            return None
        pos = bisect.bisect_left(self._keys, row.key)
        if pos < len(self._ids) and self._ids[pos] == conversation_id:
            return pos
        return self._ids.index(conversation_id)

    def conversation_at(self, row: int) -> InboxRow | None:
        if 0 <= row < len(self._ids):
            return self._rows[self._ids[row]]
        return None

    @property
    def loaded(self) -> int:
        return len(self._ids)

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def stop(self) -> None:
        """No more timed refreshes (the window is closing; its workspace may close next)."""
        self._ticker.stop()

    def refresh_times(self) -> None:
        self._now = self.clock()
        for conv_id, row in self._rows.items():
            self._texts[conv_id] = _display(row, self._now)
        if self._ids:
            top = self.index(0, WAITING_COLUMN)
            bottom = self.index(len(self._ids) - 1, WAITING_COLUMN)
            self.dataChanged.emit(top, bottom, [Qt.ItemDataRole.DisplayRole])

    # -- live updates --------------------------------------------------------------------------

    def apply_change(self, change: InboxChanged) -> None:
        """Bring the listed conversations up to date: update, move, insert or remove rows."""
        ids = set(change.conversation_ids) | set(change.added)
        for gone in change.removed:
            self._remove(gone)
        if ids:
            self.update_conversations(ids)

    def update_conversations(self, ids: Iterable[int]) -> None:
        wanted = set(ids)
        self._now = self.clock()
        current = {r.id: r for r in inbox_rows(self.ws, self._filter, wanted, now=self._now)}
        changed_count = False
        for conv_id in sorted(wanted):
            row = current.get(conv_id)
            if row is None:
                changed_count |= self._remove(conv_id)
            elif conv_id in self._rows:
                changed_count |= self._update(row)
            else:
                changed_count |= self._insert(row)
        if changed_count:
            self.count_changed.emit()

    def _store(self, row: InboxRow) -> None:
        self._rows[row.id] = row
        self._texts[row.id] = _display(row, self._now)

    def _within_loaded(self, key: SortKey) -> bool:
        """Whether a row with this key belongs among the loaded rows (else a later page has it)."""
        return self._exhausted or (bool(self._keys) and key < self._keys[-1])

    def _insert(self, row: InboxRow) -> bool:
        if not self._within_loaded(row.key):
            return False
        pos = bisect.bisect_left(self._keys, row.key)
        self.beginInsertRows(QModelIndex(), pos, pos)
        self._store(row)
        self._ids.insert(pos, row.id)
        self._keys.insert(pos, row.key)
        self.endInsertRows()
        return True

    def _remove(self, conv_id: int) -> bool:
        pos = self.row_of(conv_id)
        if pos is None:
            return False
        self.beginRemoveRows(QModelIndex(), pos, pos)
        del self._ids[pos]
        del self._keys[pos]
        del self._rows[conv_id]
        del self._texts[conv_id]
        self.endRemoveRows()
        return True

    def _update(self, row: InboxRow) -> bool:
        old = self.row_of(row.id)
        assert old is not None
        old_key = self._keys[old]
        if row.key == old_key:
            self._store(row)
            self.dataChanged.emit(self.index(old, 0), self.index(old, len(COLUMNS) - 1))
            return False
        # Every row up to the last loaded key is loaded: a row that now sorts after it leaves
        # (a later page brings it back); otherwise it moves, and the selection follows it.
        if not self._within_loaded(row.key):
            self._remove(row.id)
            return True
        del self._keys[old]
        del self._ids[old]
        new = bisect.bisect_left(self._keys, row.key)
        self._keys.insert(old, old_key)
        self._ids.insert(old, row.id)
        if new != old:
            # beginMoveRows takes the destination in the coordinates before the move.
            self.beginMoveRows(
                QModelIndex(), old, old, QModelIndex(), new if new < old else new + 1
            )
            del self._keys[old]
            del self._ids[old]
            self._keys.insert(new, row.key)
            self._ids.insert(new, row.id)
            self._store(row)
            self.endMoveRows()
        else:
            self._keys[old] = row.key
            self._store(row)
        self.dataChanged.emit(self.index(new, 0), self.index(new, len(COLUMNS) - 1))
        return False
