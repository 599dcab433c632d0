"""The supervisor side panel: a dock that watches the queues live and filters the inbox on a click.

:class:`SupervisorDock` shows, for every channel account and in total, the open conversations,
those waiting for a first response, the oldest wait, deadlines at risk and breached; then, for the
scope chosen at the top (all accounts or one): flagged customers by kind, same-issue groups
growing fast, each agent's open load and replies today, three small charts (inbound vs replies
per hour, first-response times, breaches per day) and the open alerts.

How it stays live without polling the workspace: it listens to the Qt bridge's ``changed`` signal
and recomputes at most once per ``debounce_ms`` (the queries are index ranges, see
:mod:`console.storage.metrics`); a single timer fires at the next moment a deadline turns at risk or
breached, or after a minute for the ages shown. Queries run on one background thread with its own
connection (:class:`DbWorker`), so the GUI thread never waits on SQLite.

Clicking any figure emits ``filter_requested(InboxFilter)`` with exactly the conversations the
figure counts. New alerts are stored in the ``alerts`` table (each raised once), listed in the
panel and shown as a desktop notification when the desktop has a system tray.

Signals:
    filter_requested(InboxFilter): show exactly these conversations in the inbox
    refreshed(SupervisorSnapshot): the panel shows new figures
    alerts_raised(list[Alert]): new alerts were stored
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QCursor, QFont, QFontMetrics, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.domain import FlagKind, utcnow
from console.storage.db import Workspace
from console.storage.metrics import AT_RISK_S, Alert, acknowledge_alerts, median, percentile
from services.metrics import (
    FRT_BUCKET_LABELS,
    FRT_BUCKETS,
    AlertWatcher,
    Clock,
    Pick,
    Selection,
    SupervisorSnapshot,
    alert_selection,
    duration,
    epoch_of,
    selection_conversations,
    take_snapshot,
)
from widgets.bridge import QtBridge
from widgets.dbworker import DbWorker
from widgets.supervisor_alerts import AlertList, ElidedButton, TrayNotifier
from widgets.supervisor_charts import HistogramChart, HourlyChart, TrendChart, muted
from widgets.supervisor_models import AgentModel, QueueModel, account_label

log = logging.getLogger(__name__)
T = TypeVar("T")

FLAG_LABELS = {
    FlagKind.REPEAT: "Repeat",
    FlagKind.ESCALATING: "Escalating",
    FlagKind.DUPLICATES: "Duplicates",
    FlagKind.HIGH_REACH: "High reach",
    FlagKind.BREACH: "Breach",
}
#: The longest the panel waits before refreshing the ages it shows.
TICK_MS = 60_000


@dataclass(frozen=True, slots=True)
class PanelFilter:
    """Stand-in for ``console.inbox_filter.InboxFilter`` while that module is absent."""

    conversation_ids: tuple[int, ...]
    title: str = ""


def make_inbox_filter(selection: Selection, conversation_ids: list[int]) -> Any:
    """The inbox filter for exactly ``conversation_ids``: an ``InboxFilter`` of the main window.

    Its ``conversation_ids`` field carries the ids; the figure's title goes to the first of
    ``title``, ``label``, ``name``, ``description`` that the dataclass has.
    """
    try:
        from console.inbox_filter import InboxFilter
    except ImportError:
        return PanelFilter(tuple(conversation_ids), selection.title)
    names = {f.name for f in fields(InboxFilter)}
    values: dict[str, Any] = {"conversation_ids": tuple(conversation_ids)}
    title_field = next((n for n in ("title", "label", "name", "description") if n in names), None)
    if title_field is not None:
        values[title_field] = selection.title
    return InboxFilter(**values)


def _section(title: str) -> QLabel:
    label = QLabel(title.upper())
    label.setObjectName("supervisorSection")
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 0.85)
    label.setFont(font)
    label.setContentsMargins(0, 8, 0, 2)
    return label


def _table(model: Any, max_rows: int) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setShowGrid(False)
    view.setAlternatingRowColors(True)
    view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(22)
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    header = view.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    # Fixed widths measured once: ResizeToContents would re-measure every row on each refresh.
    bold = QFont(view.font())
    bold.setBold(True)  # the total row is bold, hence wider
    metrics = QFontMetrics(bold)
    for column in range(1, model.columnCount()):
        title = str(model.headerData(column, Qt.Orientation.Horizontal))
        sample = model.samples[column] if column < len(model.samples) else "99,999"
        width = max(metrics.horizontalAdvance(title), metrics.horizontalAdvance(sample)) + 10
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(column, width)
    header.setHighlightSections(False)
    view.setFrameShape(QFrame.Shape.NoFrame)
    view.viewport().setCursor(QCursor(Qt.CursorShape.PointingHandCursor))
    view.setProperty("max_rows", max_rows)
    return view


def _fit_height(view: QTableView) -> None:
    rows = min(view.model().rowCount(), int(view.property("max_rows")))
    height = (
        view.horizontalHeader().sizeHint().height()
        + rows * view.verticalHeader().defaultSectionSize()
    )
    view.setFixedHeight(height + 2)


class _FigureButton(ElidedButton):
    """A flat, clickable figure with a frame; carries the :class:`Selection` it stands for."""

    def __init__(self, palette: QPalette) -> None:
        super().__init__()
        self.selection: Selection | None = None
        self.restyle(palette)

    def restyle(self, palette: QPalette) -> None:
        """Colours from the panel's palette (a style sheet would otherwise freeze the first one)."""
        text = palette.color(QPalette.ColorRole.WindowText)
        frame = palette.color(QPalette.ColorRole.Mid).name()
        hover = palette.color(QPalette.ColorRole.Midlight).name()
        faint = QColor(text)
        faint.setAlpha(110)
        style = (
            f"QPushButton {{ text-align: left; padding: 2px 6px; color: {text.name()};"
            f" background: transparent; border: 1px solid {frame}; border-radius: 4px; }}"
            f" QPushButton:disabled {{ color: {faint.name(QColor.NameFormat.HexArgb)};"
            f" border-color: {hover}; }} QPushButton:hover {{ background: {hover}; }}"
        )
        if style != self.styleSheet():
            self.setStyleSheet(style)


class SupervisorDock(QDockWidget):
    """The supervisor side panel (see the module doc; signals listed there)."""

    filter_requested = Signal(object)
    refreshed = Signal(object)
    alerts_raised = Signal(object)

    def __init__(
        self,
        workspace: Workspace | Path | str,
        bridge: QtBridge,
        clock: Clock = utcnow,
        *,
        tz: tzinfo | None = None,
        notifier: TrayNotifier | None = None,
        watcher: AlertWatcher | None = None,
        debounce_ms: int = 300,
        tick_ms: int = TICK_MS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Supervisor", parent)
        self.setObjectName("supervisorDock")
        path = workspace.path if isinstance(workspace, Workspace) else Path(workspace)
        self.worker = DbWorker(path, self)
        self.bridge = bridge
        self.clock = clock
        self.tz = tz
        self.watcher = watcher or AlertWatcher()
        self.notifier = notifier or TrayNotifier(self)
        self.notifier.activated.connect(self._show_alerts)
        self.snapshot: SupervisorSnapshot | None = None
        self.scope: int | None = None
        self.tick_ms = tick_ms
        self._in_flight = False
        self._dirty = False
        self._debounce = QTimer(self, singleShot=True, interval=debounce_ms)
        self._debounce.timeout.connect(self.refresh_now)
        self._tick = QTimer(self, singleShot=True)
        self._tick.timeout.connect(self.refresh_now)
        self._build()
        bridge.changed.connect(self.schedule_refresh)
        QTimer.singleShot(0, self, self.refresh_now)

    # -- building ------------------------------------------------------------------------------

    def _build(self) -> None:
        body = QWidget()
        body.setObjectName("supervisorBody")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(10, 6, 10, 10)
        layout.setSpacing(4)
        layout.addLayout(self._build_header())
        self.hint = QLabel("Click any figure to show those conversations in the inbox.")
        self.hint.setObjectName("supervisorHint")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        layout.addWidget(_section("Queues"))
        self.queue_model = QueueModel()
        self.queue_view = _table(self.queue_model, max_rows=9)
        self.queue_view.setObjectName("queueTable")
        self.queue_view.clicked.connect(self._queue_clicked)
        layout.addWidget(self.queue_view)
        layout.addWidget(_section("Flagged customers with open conversations"))
        layout.addLayout(self._build_flags())
        layout.addWidget(_section("Same issue, growing in the last hour"))
        self.groups_box = QVBoxLayout()
        self.groups_box.setSpacing(2)
        self.groups_empty = QLabel("No same-issue group is growing.")
        self.groups_box.addWidget(self.groups_empty)
        self._group_buttons: list[_FigureButton] = []
        layout.addLayout(self.groups_box)
        layout.addWidget(_section("Agents"))
        self.agent_model = AgentModel()
        self.agent_view = _table(self.agent_model, max_rows=6)
        self.agent_view.setObjectName("agentTable")
        self.agent_view.clicked.connect(self._agent_clicked)
        layout.addWidget(self.agent_view)
        self.unsigned = QLabel()
        self.unsigned.setObjectName("unsignedReplies")
        layout.addWidget(self.unsigned)
        layout.addWidget(_section("Activity"))
        self.hourly = HourlyChart()
        self.frt = HistogramChart(
            "First responses today",
            description="How long customers waited for the first answer, for conversations first"
            " answered today. Amber: over an hour.",
        )
        self.trend = TrendChart()
        for chart in (self.hourly, self.frt, self.trend):
            layout.addWidget(chart)
        self.alerts_title = _section("Alerts")
        layout.addWidget(self.alerts_title)
        self.alert_list = AlertList()
        self.alert_list.acknowledge_requested.connect(self.acknowledge)
        self.alert_list.alert_activated.connect(self._alert_clicked)
        layout.addWidget(self.alert_list)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self.setMinimumWidth(330)

    def _build_header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.scope_box = QComboBox()
        self.scope_box.setObjectName("scopeBox")
        self.scope_box.addItem("All accounts", None)
        self.scope_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.scope_box.setMinimumContentsLength(14)
        self.scope_box.setToolTip("Scope of the flags, groups, agents and charts below")
        self.scope_box.currentIndexChanged.connect(self._scope_changed)
        self.updated = QLabel("loading…")
        self.updated.setObjectName("updatedAt")
        self.report_button = QPushButton("Report…")
        self.report_button.setObjectName("reportButton")
        self.report_button.setToolTip(
            "First response, resolution, replies and breaches for a period"
        )
        self.report_button.clicked.connect(self.open_report)
        row.addWidget(self.scope_box, 1)
        row.addWidget(self.updated)
        row.addWidget(self.report_button)
        return row

    def _build_flags(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(4)
        self.flag_buttons: dict[str, _FigureButton] = {}
        for i, kind in enumerate(FLAG_LABELS):
            button = _FigureButton(self.palette())
            button.setObjectName(f"flag_{kind}")
            button.clicked.connect(lambda _=False, b=button: self._figure_clicked(b))
            self.flag_buttons[str(kind)] = button
            grid.addWidget(button, i // 3, i % 3)
        return grid

    # -- refreshing ----------------------------------------------------------------------------

    def now(self) -> int:
        return epoch_of(self.clock())

    def schedule_refresh(self, *_: object) -> None:
        """Refresh soon; changes arriving meanwhile are folded into the same refresh."""
        if not self._debounce.isActive():
            self._debounce.start()

    def refresh_now(self) -> None:
        if self._in_flight:
            self._dirty = True
            return
        now, scope, tz, watcher = self.now(), self.scope, self.tz, self.watcher

        def compute(ws: Workspace) -> tuple[SupervisorSnapshot, list[Alert]]:
            raised = watcher.check(ws, now)
            return take_snapshot(ws, now, account_id=scope, tz=tz), raised

        self._in_flight = True
        if not self.worker.submit(compute, self._apply, self._failed):
            self._in_flight = False

    def _failed(self, exc: BaseException) -> None:
        self._in_flight = False
        log.error("supervisor refresh failed: %s", exc, exc_info=exc)
        self.updated.setText("figures unavailable")
        self.updated.setToolTip(str(exc))
        self._schedule_tick(None)

    def _apply(self, result: tuple[SupervisorSnapshot, list[Alert]]) -> None:
        self._in_flight = False
        snapshot, raised = result
        if snapshot.account_id != self.scope:
            self._dirty = True  # the scope changed while this was computed
        else:
            self._show(snapshot)
        if raised:
            self.notifier.notify(raised)
            self.alerts_raised.emit(raised)
        if self._dirty:
            self._dirty = False
            self.schedule_refresh()
        self._schedule_tick(snapshot.next_change_at, snapshot.now)

    def _schedule_tick(self, next_change: int | None, now: int | None = None) -> None:
        delay = self.tick_ms
        if next_change is not None and now is not None:
            delay = min(delay, max(1, next_change - now) * 1000 + 200)
        self._tick.start(delay)

    # -- showing -------------------------------------------------------------------------------

    def _show(self, snap: SupervisorSnapshot) -> None:
        self.snapshot = snap
        self._fill_scopes(snap)
        self.queue_model.set_snapshot(snap)
        _fit_height(self.queue_view)
        self._show_flags(snap)
        self._show_groups(snap)
        self.agent_model.set_snapshot(snap)
        _fit_height(self.agent_view)
        self.agent_view.setVisible(bool(snap.agents))
        self.unsigned.setText(
            f"{snap.unsigned_replies:,} replies today carry no agent name or signature."
            if snap.unsigned_replies
            else ("No replies yet today." if not snap.agents else "")
        )
        self.unsigned.setVisible(bool(self.unsigned.text()))
        self._show_charts(snap)
        self.alert_list.tz = self.tz
        self.alert_list.set_alerts(snap.alerts, snap.open_alerts)
        self.alerts_title.setText(f"ALERTS ({snap.open_alerts})" if snap.open_alerts else "ALERTS")
        self.updated.setText(f"updated {self._clock_text(snap.now)}")
        self.refreshed.emit(snap)

    def _clock_text(self, at: int) -> str:
        moment = datetime.fromtimestamp(at, self.tz) if self.tz else datetime.fromtimestamp(at)
        return moment.strftime("%H:%M")

    def _fill_scopes(self, snap: SupervisorSnapshot) -> None:
        wanted = [
            None,
            *sorted(snap.accounts, key=lambda a: account_label(snap.accounts[a]).casefold()),
        ]
        have = [self.scope_box.itemData(i) for i in range(self.scope_box.count())]
        if wanted == have:
            return
        self.scope_box.blockSignals(True)
        self.scope_box.clear()
        for account_id in wanted:
            info = snap.accounts.get(account_id) if account_id is not None else None
            self.scope_box.addItem(account_label(info), account_id)
        self.scope_box.setCurrentIndex(max(0, self.scope_box.findData(self.scope)))
        self.scope_box.blockSignals(False)

    def _show_flags(self, snap: SupervisorSnapshot) -> None:
        for kind, label in FLAG_LABELS.items():
            button = self.flag_buttons[str(kind)]
            button.restyle(self.palette())
            n = snap.flagged.get(str(kind), 0)
            button.set_label(f"{label}   {n:,}")
            button.setEnabled(n > 0)
            button.selection = Selection(
                Pick.FLAG,
                account_id=snap.account_id,
                key=str(kind),
                title=f"Flagged: {label.lower()}",
            )
            button.setToolTip(
                f"{n:,} customers flagged {label.lower()} have an open conversation: click to show them"
                if n
                else f"no customer flagged {label.lower()} has an open conversation"
            )

    def _show_groups(self, snap: SupervisorSnapshot) -> None:
        # Keep one button per row and relabel it: no flicker, hover survives a refresh.
        while len(self._group_buttons) < len(snap.groups):
            button = _FigureButton(self.palette())
            button.clicked.connect(lambda _=False, b=button: self._figure_clicked(b))
            self.groups_box.addWidget(button)
            self._group_buttons.append(button)
        while len(self._group_buttons) > len(snap.groups):
            button = self._group_buttons.pop()
            self.groups_box.removeWidget(button)
            button.deleteLater()
        for button, group in zip(self._group_buttons, snap.groups, strict=True):
            sample = " ".join(group.sample.split())
            short = sample if len(sample) <= 60 else sample[:59] + "…"
            button.restyle(self.palette())
            button.set_label(f"+{group.recent}/h   {group.size} posts   “{short}”")
            button.setToolTip(
                f"“{sample}”\n{group.recent} posts from {group.recent_customers} customers in the"
                f" last hour; {group.size} posts from {group.customers} customers in all.\n"
                "Click to show them."
            )
            button.selection = Selection(
                Pick.GROUP,
                account_id=snap.account_id,
                group_id=group.id,
                title=f"Same issue: {short}",
            )
        self.groups_empty.setVisible(not snap.groups)

    def _show_charts(self, snap: SupervisorSnapshot) -> None:
        current = (snap.now - snap.day_start) // 3600
        self.hourly.set_data(snap.inbound_by_hour, snap.replies_by_hour, current)
        values = sorted(snap.first_response_times)
        note = ""
        if values:
            note = f"median {duration(median(values))} · p90 {duration(percentile(values, 0.9))}"
        # Buckets past one hour are amber: DESIGN.md's social-care expectation on X.
        warn_from = next(i for i, bound in enumerate(FRT_BUCKETS) if bound > 3600)
        self.frt.set_data(snap.frt_histogram, FRT_BUCKET_LABELS, note, warn_from)
        self.trend.set_data(snap.breach_trend, self.tz)
        color = muted(self).name()
        for label in (self.groups_empty, self.unsigned, self.hint):
            label.setStyleSheet(f"color: {color};")

    # -- clicks --------------------------------------------------------------------------------

    def _scope_changed(self, index: int) -> None:
        self.scope = self.scope_box.itemData(index)
        self.refresh_now()

    def _queue_clicked(self, index: QModelIndex) -> None:
        selection = self.queue_model.selection_at(index)
        if selection is not None:
            self.request_filter(selection)

    def _agent_clicked(self, index: QModelIndex) -> None:
        selection = self.agent_model.selection_at(index, self.scope)
        if selection is not None:
            self.request_filter(selection)

    def _figure_clicked(self, button: _FigureButton) -> None:
        if button.selection is not None:
            self.request_filter(button.selection)

    def _alert_clicked(self, alert: Alert) -> None:
        now, tz = self.now(), self.tz

        def lookup(ws: Workspace) -> tuple[Selection, list[int]]:
            selection = alert_selection(alert, ws)
            return selection, selection_conversations(ws, selection, now, tz=tz)

        self.worker.submit(lookup, lambda r: self.filter_requested.emit(make_inbox_filter(*r)))

    def request_filter(self, selection: Selection) -> None:
        """Look up exactly the conversations of ``selection`` and emit ``filter_requested``."""
        now, tz = self.now(), self.tz

        def lookup(ws: Workspace) -> list[int]:
            return selection_conversations(ws, selection, now, tz=tz, at_risk_s=AT_RISK_S)

        self.worker.submit(
            lookup, lambda ids: self.filter_requested.emit(make_inbox_filter(selection, ids))
        )

    # -- alerts and reports ----------------------------------------------------------------------

    def acknowledge(self, ids: list[int] | None) -> None:
        """Acknowledge the given alerts (every open one for None), then refresh."""
        now = self.now()
        self.worker.submit(
            lambda ws: acknowledge_alerts(ws, ids, now), lambda _n: self.refresh_now()
        )

    def _show_alerts(self) -> None:
        self.show()
        self.raise_()
        widget = self.widget()
        if isinstance(widget, QScrollArea):
            widget.ensureWidgetVisible(self.alert_list)

    def open_report(self) -> None:
        from widgets.supervisor_report import ReportDialog

        dialog = ReportDialog(self.worker, self.clock, tz=self.tz, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.report_dialog = dialog

    def shutdown(self) -> None:
        """Stop listening, timers and the background thread (call once, when the app closes)."""
        try:
            self.bridge.changed.disconnect(self.schedule_refresh)
        except (RuntimeError, TypeError):
            pass
        self._debounce.stop()
        self._tick.stop()
        self.worker.shutdown()
        self.notifier.close()
