"""Copy to all duplicates: preview one reply per post of a group, tick which to queue, queue them.

:class:`DuplicatesPreviewDialog` lists every target of a :class:`~services.replies.ReplyPlan`:
the customer, channel and account, the post it answers, the text as rendered for that customer
(their language, their channel's limit), its length and its warnings. Posts already answered,
and targets the channel would refuse (over the limit, window closed), start unticked; targets that
can never be sent (a template that failed for that customer, a phone call) cannot be ticked.
Space ticks the current row; the full text and every warning of the current row show below the
table. "Queue N replies" queues exactly the ticked targets (one outbox item each, threaded to its
post) and closes; an error keeps the dialog open and says what went wrong.

Signals:
    queued(list[QueuedReply])
    resolve_requested(list[int]): "resolve the conversations" was ticked

The table is :class:`PreviewModel`, a ``QAbstractTableModel`` over the plan's targets (no I/O in
``data()``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.errors import ConsoleError
from console.storage.agents import Agent
from services.replies import STOP, ReplyPlan, ReplyPlanner, ReplyTarget
from widgets.tablemodel import ColumnsModel
from widgets.theme import LIGHT, Theme

Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("", "Customer", "Channel · account", "Answers", "Reply", "Length", "Warnings")
TICK, CUSTOMER, CHANNEL, POST, REPLY, LENGTH, WARNINGS = range(len(COLUMNS))


def _flat(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def can_tick(target: ReplyTarget) -> bool:
    never = {"phone", "empty", "no_window"}
    return target.error is None and not any(w.code in never for w in target.warnings)


class PreviewModel(ColumnsModel):
    """The targets of a plan with a tick box each; texts are prepared once, not in ``data()``."""

    headers = COLUMNS

    ticks_changed = Signal(int)

    def __init__(self, plan: ReplyPlan, theme: Theme = LIGHT, parent: Any = None) -> None:
        super().__init__(parent)
        self.plan = plan
        self.theme = theme
        self.ticked = [t.selected_by_default for t in plan.targets]
        self._cells = [self._row_cells(t) for t in plan.targets]

    @staticmethod
    def _row_cells(t: ReplyTarget) -> tuple[str, ...]:
        answered = {"sent": "answered · ", "queued": "reply queued · "}.get(t.answered or "", "")
        length = t.length.short()
        warnings = "; ".join(w.message for w in t.warnings if w.level != "info")
        if t.error:
            warnings = t.error
        return (
            "",
            t.customer,
            f"{t.channel.label} · {t.account}" + (" · DM" if t.mode == "private" else ""),
            f"{answered}{t.ref or 'conversation'}: {_flat(t.post_text, 60)}",
            _flat(t.text) if not t.error else "(could not render)",
            length,
            warnings,
        )

    # -- Qt model --------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.plan.targets)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == TICK and can_tick(self.plan.targets[index.row()]):
            base |= Qt.ItemFlag.ItemIsUserCheckable
        return base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.plan.targets):
            return None
        row, col = index.row(), index.column()
        target = self.plan.targets[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells[row][col] or None
        if role == Qt.ItemDataRole.CheckStateRole and col == TICK:
            return Qt.CheckState.Checked if self.ticked[row] else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == REPLY:
                return target.text or target.error
            if col == POST:
                return target.post_text
            if col == WARNINGS:
                return "\n".join(w.message for w in target.warnings) or None
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == LENGTH and target.length.is_over:
                return QColor(self.theme.danger)
            if col == WARNINGS and (target.error or any(w.level == STOP for w in target.warnings)):
                return QColor(self.theme.danger)
            if col == WARNINGS:
                return QColor(self.theme.warning)
            if target.answered is not None or not can_tick(target):
                return QColor(self.theme.muted)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col == LENGTH:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or not index.isValid() or index.column() != TICK:
            return False
        if not can_tick(self.plan.targets[index.row()]):
            return False
        state = value if isinstance(value, Qt.CheckState) else Qt.CheckState(int(value))
        self.ticked[index.row()] = state == Qt.CheckState.Checked
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.ticks_changed.emit(self.ticked_count())
        return True

    # -- ticks -----------------------------------------------------------------------------------

    def toggle(self, row: int) -> None:
        if 0 <= row < len(self.ticked):
            state = Qt.CheckState.Unchecked if self.ticked[row] else Qt.CheckState.Checked
            self.setData(self.index(row, TICK), state, Qt.ItemDataRole.CheckStateRole)

    def set_all(self, ticked: bool) -> None:
        for row, target in enumerate(self.plan.targets):
            self.ticked[row] = ticked and can_tick(target)
        if self.ticked:
            self.dataChanged.emit(
                self.index(0, TICK),
                self.index(len(self.ticked) - 1, TICK),
                [Qt.ItemDataRole.CheckStateRole],
            )
        self.ticks_changed.emit(self.ticked_count())

    def ticked_rows(self) -> list[int]:
        return [i for i, on in enumerate(self.ticked) if on]

    def ticked_count(self) -> int:
        return sum(self.ticked)


class _Table(QTableView):
    def keyPressEvent(self, event: QKeyEvent) -> None:
        model = self.model()
        if event.key() == Qt.Key.Key_Space and isinstance(model, PreviewModel):
            model.toggle(self.currentIndex().row())
            return
        super().keyPressEvent(event)


class DuplicatesPreviewDialog(QDialog):
    """See the module docstring."""

    queued = Signal(list)
    resolve_requested = Signal(list)

    def __init__(
        self,
        plan: ReplyPlan,
        planner: ReplyPlanner,
        agent: Agent,
        *,
        theme: Theme = LIGHT,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.plan = plan
        self.planner = planner
        self.agent = agent
        self.setObjectName("duplicatesDialog")
        self.setWindowTitle("Copy the reply to every post")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1100, 560)
        self.model = PreviewModel(plan, theme, self)
        self._build()
        self.model.ticks_changed.connect(self._ticks)
        self._ticks(self.model.ticked_count())
        if plan.targets:
            self.table.setCurrentIndex(self.model.index(0, CUSTOMER))

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(8)
        group = self.plan.group
        what = (
            f"{group.size} posts about the same issue from {group.customers} customers"
            if group is not None and group.kind == "same_issue"
            else f"{len(self.plan.targets)} duplicate posts"
        )
        title = QLabel(f"Reply to {what}, each in its own thread")
        title.setObjectName("paneTitle")
        layout.addWidget(title)
        how = (
            f"Template “{self.plan.template}”, rendered for each customer in their language."
            if self.plan.template
            else "Your text, copied as written to every post."
        )
        answered = sum(1 for t in self.plan.targets if t.answered is not None)
        if answered:
            how += f" {answered} already answered: unticked."
        sub = QLabel(how + "  Space ticks a row.")
        sub.setObjectName("muted")
        layout.addWidget(sub)

        self.table = _Table()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(28)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(TICK, QHeaderView.ResizeMode.Fixed)
        header.setStretchLastSection(True)
        for col, width in (
            (TICK, 28),
            (CUSTOMER, 150),
            (CHANNEL, 170),
            (POST, 230),
            (REPLY, 300),
            (LENGTH, 90),
        ):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._current)
        layout.addWidget(self.table, 1)

        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setMaximumHeight(110)
        self.detail.setObjectName("duplicatesDetail")
        layout.addWidget(self.detail)

        self.error = QLabel()
        self.error.setObjectName("errorBanner")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)

        row = QHBoxLayout()
        tick_all = QPushButton("Tick all")
        tick_all.clicked.connect(lambda: self.model.set_all(True))
        none = QPushButton("Untick all")
        none.clicked.connect(lambda: self.model.set_all(False))
        row.addWidget(tick_all)
        row.addWidget(none)
        self.resolve = QCheckBox("Resolve these conversations")
        row.addWidget(self.resolve)
        row.addStretch(1)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        self.queue_button = QPushButton()
        self.queue_button.setObjectName("primary")
        self.queue_button.setDefault(True)
        self.queue_button.clicked.connect(self.queue)
        row.addWidget(cancel)
        row.addWidget(self.queue_button)
        layout.addLayout(row)

    def _ticks(self, count: int) -> None:
        self.queue_button.setText(f"Queue {count} repl{'y' if count == 1 else 'ies'}")
        self.queue_button.setEnabled(count > 0)

    def _current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self.detail.clear()
            return
        t = self.plan.targets[current.row()]
        lines = [t.error or t.text, ""]
        if t.variant:
            lines.append(
                f"Variant: {t.variant}" + (f" — {t.variant_note}" if t.variant_note else "")
            )
        lines += [f"• {w.message}" for w in t.warnings]
        self.detail.setPlainText("\n".join(lines).strip())

    def queue(self) -> list[Any]:
        rows = self.model.ticked_rows()
        if not rows:
            return []
        force = any(any(w.blocking for w in self.plan.targets[r].warnings) for r in rows)
        try:
            queued = self.planner.queue(self.plan, self.agent, only=rows, force=force, source=self)
        except ConsoleError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return []
        self.queued.emit(queued)
        if self.resolve.isChecked():
            ids = list(dict.fromkeys(self.plan.targets[r].conversation_id for r in rows))
            self.resolve_requested.emit(ids)
        self.accept()
        return queued
