"""The "Log a phone call" dialog, whose answer is a :class:`CallValues` (nothing is written here).

Fields: our phone account, the customer's number and name, direction, when the call started
(default now), duration (``m:ss`` or seconds), summary and agent. OK checks the values with the
same rules as ``agent-console log-call`` (:func:`services.channels.phone.log_call`) and shows a
problem inline instead of closing. Signal ``submitted(CallValues)``; ``CallValues.message()`` is
the :class:`~console.domain.IncomingMessage` to store with
:func:`services.channels.phone.ingest_call` (on the storage worker, with the triage hook).

Open it with ``open()`` or ``show()``; Ctrl+Enter accepts, Escape cancels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QDateTime, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from console.domain import IncomingMessage
from console.errors import ConsoleError
from services.channels.phone import log_call, parse_duration


@dataclass(frozen=True, slots=True)
class CallValues:
    account: str
    number: str
    name: str | None
    direction: str
    started_at: int
    duration_s: int | None
    summary: str
    agent: str | None

    def message(self) -> IncomingMessage:
        return log_call(
            account=self.account,
            number=self.number,
            name=self.name,
            direction=self.direction,
            started_at=self.started_at,
            duration_s=self.duration_s,
            summary=self.summary,
            agent=self.agent,
        )


class CallDialog(QDialog):
    """Log a phone call (see the module docstring)."""

    submitted = Signal(object)

    def __init__(
        self,
        accounts: Sequence[str],
        *,
        agent: str | None = None,
        number: str = "",
        name: str = "",
        now: datetime | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Log a phone call")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.values: CallValues | None = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.account = QComboBox()
        self.account.setEditable(True)  # a new name creates the phone account on first use
        self.account.addItems(list(accounts) or ["Phone"])
        self.number = QLineEdit(number)
        self.number.setPlaceholderText("+44 20 7946 0958")
        self.name = QLineEdit(name)
        self.direction = QComboBox()
        self.direction.addItem("Incoming (they called)", "in")
        self.direction.addItem("Outgoing (we called)", "out")
        self.started = QDateTimeEdit(QDateTime.fromSecsSinceEpoch(_epoch(now)))
        self.started.setCalendarPopup(True)
        self.started.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.duration = QLineEdit()
        self.duration.setPlaceholderText("m:ss or seconds")
        self.summary = QPlainTextEdit()
        self.summary.setPlaceholderText("What was said and what was agreed")
        self.agent = QLineEdit(agent or "")
        form.addRow("Account", self.account)
        form.addRow("Number", self.number)
        form.addRow("Name", self.name)
        form.addRow("Direction", self.direction)
        form.addRow("Started", self.started)
        form.addRow("Duration", self.duration)
        form.addRow("Summary", self.summary)
        form.addRow("Agent", self.agent)
        layout.addLayout(form)
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #b00020;")
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Log call")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.accept)
        (self.number if not number else self.summary).setFocus()

    def read(self) -> CallValues:
        """The values as typed, checked (ConsoleError with the reason)."""
        values = CallValues(
            account=self.account.currentText().strip(),
            number=self.number.text().strip(),
            name=self.name.text().strip() or None,
            direction=str(self.direction.currentData()),
            started_at=int(self.started.dateTime().toSecsSinceEpoch()),
            duration_s=parse_duration(self.duration.text()),
            summary=self.summary.toPlainText().strip(),
            agent=self.agent.text().strip() or None,
        )
        if not values.account:
            raise ConsoleError("choose the phone account the call came in on")
        values.message()  # the same checks as storing it
        return values

    def accept(self) -> None:
        try:
            self.values = self.read()
        except ConsoleError as exc:
            self.problem.setText(str(exc))
            return
        self.submitted.emit(self.values)
        super().accept()


def _epoch(now: datetime | None) -> int:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp())
