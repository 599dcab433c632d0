"""Table models of the supervisor panel: the queue per account, the agents, and a report.

Rows are small and replaced whole from a :class:`~services.metrics.SupervisorSnapshot` or a
:class:`~services.metrics.Report`; every display string is prepared when the rows are set, so
``data()`` only looks values up. :meth:`selection_at` tells which figure a cell shows, for the
panel's click-to-filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from console.domain import CHANNEL_LABELS, Channel
from console.storage.metrics import AccountInfo, Figure, QueueFigures
from services.metrics import Pick, Report, Selection, SupervisorSnapshot, duration
from widgets.supervisor_charts import SERIES
from widgets.tablemodel import ColumnsModel
from widgets.timefmt import ago

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_MUTED = QColor("#8A94A6")


@cache
def _bold() -> QFont:
    # Built on first use: a QFont needs the QGuiApplication, which importers may not have yet.
    font = QFont()
    font.setBold(True)
    return font


def account_label(account: AccountInfo | None) -> str:
    if account is None:
        return "All accounts"
    try:
        channel = CHANNEL_LABELS[Channel(account.channel)]
    except ValueError:
        channel = account.channel
    return f"{channel} · {account.name}"


@dataclass(frozen=True, slots=True)
class _Cell:
    text: str
    value: int | None = None
    color: QColor | None = None
    tip: str = ""


class _Table(ColumnsModel):
    """A read-only table of prepared cells."""

    #: The widest value expected in each column (to size the columns once).
    samples: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._cells: list[list[_Cell]] = []
        self._keys: list[Any] = []
        self._bold_rows: set[int] = set()

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._cells)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.TextAlignmentRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.headers)
        ):
            return _LEFT if section == 0 else _RIGHT
        return super().headerData(section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._cells):
            return None
        row = self._cells[index.row()]
        if index.column() >= len(row):
            return None
        cell = row[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return cell.text
        if role == Qt.ItemDataRole.ToolTipRole:
            return cell.tip or None
        if role == Qt.ItemDataRole.ForegroundRole:
            return cell.color
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _LEFT if index.column() == 0 else _RIGHT
        if role == Qt.ItemDataRole.FontRole and index.row() in self._bold_rows:
            return _bold()
        if role == Qt.ItemDataRole.UserRole:
            return cell.value
        return None

    def _replace(self, keys: list[Any], cells: list[list[_Cell]], bold: set[int]) -> None:
        if keys == self._keys and cells:
            self._cells, self._bold_rows = cells, bold
            last = self.index(len(cells) - 1, len(self.headers) - 1)
            self.dataChanged.emit(self.index(0, 0), last)
            return
        self.beginResetModel()
        self._keys, self._cells, self._bold_rows = keys, cells, bold
        self.endResetModel()

    def key_at(self, row: int) -> Any:
        return self._keys[row] if 0 <= row < len(self._keys) else None


def _count_cell(n: int, what: str, color: QColor | None = None) -> _Cell:
    if n == 0:
        return _Cell("0", 0, _MUTED, f"no {what}")
    return _Cell(f"{n:,}", n, color, f"{n:,} {what}: click to show them in the inbox")


class QueueModel(_Table):
    """All accounts, then each account with open conversations, most urgent first."""

    headers = ("Account", "Open", "Waiting", "Oldest", "Risk", "Breached")
    samples = ("", "9,999", "9,999", "47 h 59", "99", "9,999")
    HEADER_TIPS = (
        "Channel account",
        "Open conversations",
        "Waiting for a first response",
        "The longest wait for a first response",
        "At risk: the deadline falls within 15 minutes",
        "Past the response deadline, still unanswered",
    )
    FIGURES: tuple[Figure | None, ...] = (
        Figure.OPEN,
        Figure.OPEN,
        Figure.WAITING,
        Figure.OLDEST,
        Figure.AT_RISK,
        Figure.BREACHED,
    )

    def __init__(self) -> None:
        super().__init__()
        self._labels: list[str] = []

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.ToolTipRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.HEADER_TIPS)
        ):
            return self.HEADER_TIPS[section]
        return super().headerData(section, orientation, role)

    def set_snapshot(self, snapshot: SupervisorSnapshot) -> None:
        rows: list[tuple[int | None, QueueFigures]] = [(None, snapshot.total)]
        rows += [(r.account_id, r) for r in snapshot.queue if r.open or r.waiting or r.breached]
        keys, cells = [], []
        self._labels = []
        for account_id, figures in rows:
            info = snapshot.accounts.get(account_id) if account_id is not None else None
            label = account_label(info)
            self._labels.append(label)
            keys.append(account_id)
            # The channel is in the tooltip: the narrow dock needs the width for the name.
            cells.append(self._row(info.name if info else label, label, figures, snapshot.now))
        self._replace(keys, cells, {0})

    def _row(self, name: str, label: str, q: QueueFigures, now: int) -> list[_Cell]:
        oldest = q.oldest_waiting_s(now)
        oldest_cell = (
            _Cell(
                ago(oldest),  # compact: the dock is narrow
                oldest,
                None,
                f"the longest wait for a first response ({duration(oldest)}): click to open it",
            )
            if oldest is not None
            else _Cell("—", None, _MUTED, "nobody is waiting")
        )
        return [
            _Cell(name, None, None, f"{label}: click to show its open conversations"),
            _count_cell(q.open, "open conversations"),
            _count_cell(q.waiting, "waiting for a first response"),
            oldest_cell,
            _count_cell(q.at_risk, "due within 15 minutes", SERIES["warn"]),
            _count_cell(q.breached, "past their deadline", SERIES["bad"]),
        ]

    def selection_at(self, index: Index) -> Selection | None:
        if not index.isValid() or index.row() >= len(self._cells):
            return None
        figure = self.FIGURES[index.column()]
        cell = self._cells[index.row()][index.column()]
        if figure is None or (index.column() > 0 and not cell.value):
            return None
        label = self._labels[index.row()]
        title = f"{label}: {self.headers[index.column()].lower()}"
        if index.column() == 0:
            title = f"{label}: open"
        return Selection(Pick.QUEUE, figure, account_id=self.key_at(index.row()), title=title)


class AgentModel(_Table):
    """Each agent's open conversations (assigned) and replies written today."""

    headers = ("Agent", "Open", "Replies today")
    samples = ("", "999", "999")

    def set_snapshot(self, snapshot: SupervisorSnapshot, limit: int = 50) -> None:
        keys, cells = [], []
        for agent in snapshot.agents[:limit]:
            keys.append(agent.name)
            cells.append(
                [
                    _Cell(agent.name, None, None, agent.name),
                    _count_cell(agent.open, "open conversations assigned"),
                    _count_cell(agent.replies_today, "replies today"),
                ]
            )
        self._replace(keys, cells, set())

    def selection_at(self, index: Index, account_id: int | None = None) -> Selection | None:
        if not index.isValid() or index.column() == 0 or index.row() >= len(self._cells):
            return None
        if not self._cells[index.row()][index.column()].value:
            return None
        name = str(self.key_at(index.row()))
        if index.column() == 1:
            return Selection(
                Pick.AGENT_OPEN, account_id=account_id, key=name, title=f"{name}: open"
            )
        return Selection(
            Pick.AGENT_REPLIES, account_id=account_id, key=name, title=f"{name}: replied today"
        )


_REPORT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("name", "Name", "text"),
    ("conversations", "Conversations", "count"),
    ("responded", "Responded", "count"),
    ("first_response_median_s", "First resp. median", "duration"),
    ("first_response_p90_s", "First resp. p90", "duration"),
    ("resolved", "Resolved", "count"),
    ("resolution_median_s", "Resolution median", "duration"),
    ("replies", "Replies", "count"),
    ("breaches", "Breaches", "count"),
    ("repeat_contact_rate", "Repeat contact", "percent"),
)


class ReportModel(_Table):
    """A report: the total, each account, each agent."""

    headers = tuple(title for _, title, _ in _REPORT_COLUMNS)

    def set_report(self, report: Report) -> None:
        keys, cells = [], []
        for row in report.rows():
            keys.append((row["scope"], row["name"]))
            cells.append([self._cell(row, key, kind) for key, _, kind in _REPORT_COLUMNS])
        self._replace(keys, cells, {0})

    @staticmethod
    def _cell(row: dict[str, Any], key: str, kind: str) -> _Cell:
        value = row[key]
        if kind == "text":
            prefix = {"account": "", "agent": "   ", "total": ""}.get(row["scope"], "")
            text = (
                f"{row['channel']} · {value}"
                if row["scope"] == "account" and row["channel"]
                else str(value)
            )
            return _Cell(prefix + text, None, None, text)
        if value is None:
            return _Cell("—", None, _MUTED)
        if kind == "duration":
            return _Cell(duration(value), int(value))
        if kind == "percent":
            return _Cell(f"{100 * float(value):.1f} %", None)
        return _Cell(f"{int(value):,}", int(value), _MUTED if not value else None)
