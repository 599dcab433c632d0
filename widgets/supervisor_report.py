"""The supervisor's report dialog: a period's figures per account and agent, and CSV export.

The report (:func:`services.metrics.build_report`) runs on the panel's background worker; the
dialog shows it in a table (total, accounts, agents) and writes it as CSV through a non-blocking
file dialog (or :meth:`ReportDialog.export_csv` directly).

Signals:
    report_ready(Report): a report was computed and is shown
    exported(str, int): the CSV file written and its row count
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.errors import ConsoleError
from services.metrics import Clock, Report, build_report, epoch_of, save_report_csv
from widgets.supervisor_models import ReportModel

log = logging.getLogger(__name__)


def _midnight(day: date, tz: tzinfo | None) -> int:
    if tz is None:
        return int(datetime.combine(day, time(0)).astimezone().timestamp())
    return int(datetime.combine(day, time(0), tz).timestamp())


class ReportDialog(QDialog):
    """Choose a period, see the report, export it as CSV (see the module doc for signals)."""

    report_ready = Signal(object)
    exported = Signal(str, int)

    def __init__(
        self, worker: Any, clock: Clock, *, tz: tzinfo | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Supervisor report")
        self.worker = worker
        self.clock = clock
        self.tz = tz
        self.report: Report | None = None
        today = self._today()
        self.start_edit = QDateEdit(QDate(today - timedelta(days=6)))
        self.end_edit = QDateEdit(QDate(today))
        for edit in (self.start_edit, self.end_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.run_button = QPushButton("Show")
        self.run_button.clicked.connect(self.run_report)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._choose_file)
        self.status = QLabel("Choose a period.")
        self.model = ReportModel()
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(False)
        top = QHBoxLayout()
        for widget in (
            QLabel("From"),
            self.start_edit,
            QLabel("to"),
            self.end_edit,
            self.run_button,
        ):
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        self.resize(900, 480)

    def _today(self) -> date:
        now = epoch_of(self.clock())
        moment = datetime.fromtimestamp(now, self.tz) if self.tz else datetime.fromtimestamp(now)
        return moment.date()

    def set_period(self, start: date, end: date) -> None:
        self.start_edit.setDate(QDate(start))
        self.end_edit.setDate(QDate(end))

    def run_report(self) -> None:
        start_day = self.start_edit.date().toPython()
        end_day = self.end_edit.date().toPython()
        if not isinstance(start_day, date) or not isinstance(end_day, date):
            return
        if end_day < start_day:
            self.status.setText("The last day is before the first day.")
            return
        start, end = _midnight(start_day, self.tz), _midnight(end_day + timedelta(days=1), self.tz)
        now = epoch_of(self.clock())
        if not self.worker.submit(
            lambda ws: build_report(ws, start, end, now), self._show, self._failed
        ):
            self.status.setText("The supervisor panel is closed: reopen it to compute reports.")
            return
        self.run_button.setEnabled(False)
        self.status.setText("Computing…")

    def _show(self, report: Report) -> None:
        self.report = report
        self.run_button.setEnabled(True)
        self.export_button.setEnabled(True)
        self.model.set_report(report)
        total = report.total
        self.status.setText(
            f"{total['conversations']:,} conversations, {total['responded']:,} answered,"
            f" {total['replies']:,} replies, {total['breaches']:,} breaches;"
            f" {len(report.accounts)} accounts, {len(report.agents)} agents."
        )
        self.report_ready.emit(report)

    def _failed(self, exc: BaseException) -> None:
        self.run_button.setEnabled(True)
        log.error("report failed: %s", exc, exc_info=exc)
        self.status.setText(f"The report failed: {exc}")

    def _choose_file(self) -> None:
        dialog = QFileDialog(self, "Export report as CSV")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("CSV files (*.csv)")
        dialog.setDefaultSuffix("csv")
        start = self.start_edit.date().toString("yyyy-MM-dd")
        end = self.end_edit.date().toString("yyyy-MM-dd")
        dialog.selectFile(f"report-{start}-{end}.csv")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.export_csv(Path(name)))
        dialog.open()

    def export_csv(self, path: Path) -> bool:
        """Write the shown report to ``path``; says what went wrong in the status line if it fails."""
        if self.report is None:
            self.status.setText("Show a report first.")
            return False
        try:
            rows = save_report_csv(self.report, path)
        except ConsoleError as exc:
            self.status.setText(str(exc))
            return False
        self.status.setText(f"Wrote {rows} rows to {path}.")
        self.exported.emit(str(path), rows)
        return True
