"""The supervisor panel's alerts: the in-panel list and the desktop notification.

:class:`AlertList` shows the unacknowledged alerts (newest first) with a button to acknowledge each
one and all of them; clicking an alert's text asks the panel to filter the inbox to it.
:class:`TrayNotifier` shows new alerts as a desktop notification through ``QSystemTrayIcon`` when
the desktop has a system tray, and does nothing otherwise (the in-panel list is always there).

Signals of :class:`AlertList`:
    acknowledge_requested(object): a list of alert ids, or None for every open alert
    alert_activated(object): the :class:`~console.storage.metrics.Alert` clicked
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSystemTrayIcon,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.storage.metrics import Alert
from services.metrics import AlertKind
from widgets.supervisor_charts import SERIES

KIND_LABELS = {
    AlertKind.BREACH: ("Breach", SERIES["bad"]),
    AlertKind.FLAGGED: ("Flagged", SERIES["warn"]),
    AlertKind.SAME_ISSUE: ("Same issue", SERIES["inbound"]),
}


def _kind(alert: Alert) -> tuple[str, QColor]:
    try:
        return KIND_LABELS[AlertKind(alert.kind)]
    except ValueError:
        return alert.kind, SERIES["neutral"]


class ElidedButton(QPushButton):
    """A flat push button whose text is elided to its width instead of widening its parent."""

    def __init__(self, mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight) -> None:
        super().__init__()
        self.mode = mode
        self.full_text = ""
        self.setFlat(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def set_label(self, text: str) -> None:
        self.full_text = text
        self._elide()

    def _elide(self) -> None:
        width = max(20, self.width() - 16)
        self.setText(self.fontMetrics().elidedText(self.full_text, self.mode, width))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()


class _AlertRow(QWidget):
    def __init__(self, alert: Alert, when: str, owner: AlertList) -> None:
        super().__init__()
        self.alert = alert
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 1, 0, 1)
        layout.setSpacing(6)
        label, color = _kind(alert)
        badge = QLabel(label)
        badge.setObjectName("alertBadge")
        badge.setStyleSheet(
            f"QLabel {{ color: white; background: {color.name()}; border-radius: 3px;"
            " padding: 0px 4px; font-size: 8pt; }"
        )
        badge.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        text = ElidedButton()
        text.set_label(f"{when}  {alert.text}")
        text.setObjectName("alertText")
        text.setToolTip(f"{alert.text}\nClick to show it in the inbox")
        text.setStyleSheet("QPushButton { text-align: left; padding: 1px 2px; border: none; }")
        text.clicked.connect(lambda: owner.alert_activated.emit(self.alert))
        ack = QToolButton()
        ack.setObjectName("alertAck")
        ack.setText("✓")
        ack.setToolTip("Acknowledge")
        ack.setAutoRaise(True)
        ack.clicked.connect(lambda: owner.acknowledge_requested.emit([self.alert.id]))
        layout.addWidget(badge)
        layout.addWidget(text, 1)
        layout.addWidget(ack)


class AlertList(QWidget):
    """Unacknowledged alerts with acknowledge buttons (see the module doc for signals)."""

    acknowledge_requested = Signal(object)
    alert_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, limit: int = 12) -> None:
        super().__init__(parent)
        self.limit = limit
        self.tz: tzinfo | None = None
        self._rows: list[_AlertRow] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self._list = QVBoxLayout()
        self._list.setSpacing(0)
        layout.addLayout(self._list)
        footer = QHBoxLayout()
        self.more = QLabel()
        self.more.setObjectName("alertsMore")
        self.empty = QLabel("No open alerts.")
        self.empty.setObjectName("alertsEmpty")
        self.ack_all = QPushButton("Acknowledge all")
        self.ack_all.setObjectName("alertsAckAll")
        self.ack_all.clicked.connect(lambda: self.acknowledge_requested.emit(None))
        footer.addWidget(self.empty)
        footer.addWidget(self.more)
        footer.addStretch(1)
        footer.addWidget(self.ack_all)
        layout.addLayout(footer)
        self.set_alerts([], 0)

    @property
    def shown(self) -> list[Alert]:
        return [row.alert for row in self._rows]

    def set_alerts(self, alerts: Sequence[Alert], total: int) -> None:
        if [a.id for a in alerts[: self.limit]] != [a.id for a in self.shown]:
            for row in self._rows:
                self._list.removeWidget(row)
                row.deleteLater()
            self._rows = [
                _AlertRow(a, self._when(a.created_at), self) for a in alerts[: self.limit]
            ]
            for row in self._rows:
                self._list.addWidget(row)
        hidden = max(0, total - len(self._rows))
        self.more.setText(f"and {hidden} more" if hidden else "")
        self.more.setVisible(bool(hidden))
        self.empty.setVisible(total == 0)
        self.ack_all.setEnabled(total > 0)

    def _when(self, at: int) -> str:
        moment = datetime.fromtimestamp(at, self.tz) if self.tz else datetime.fromtimestamp(at)
        return moment.strftime("%H:%M")


def _dot_icon(color: QColor) -> QIcon:
    pixmap = QPixmap(32, 32)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(color)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(4, 4, 24, 24)
    painter.end()
    return QIcon(pixmap)


class TrayNotifier(QObject):
    """Desktop notifications for new alerts, when the desktop has a system tray.

    Signals:
        activated(): the person clicked a notification
    """

    activated = Signal()

    def __init__(self, parent: QObject | None = None, icon: QIcon | None = None) -> None:
        super().__init__(parent)
        self._icon = icon
        self._tray: QSystemTrayIcon | None = None
        self.sent: list[tuple[str, str]] = []

    @property
    def available(self) -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages()

    def notify(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        if len(alerts) == 1:
            title, _ = _kind(alerts[0])
            message = alerts[0].text
        else:
            title = f"{len(alerts)} new alerts"
            message = "\n".join(a.text for a in alerts[:3])
            if len(alerts) > 3:
                message += f"\n… and {len(alerts) - 3} more"
        self.sent.append((title, message))
        tray = self._ensure_tray()
        if tray is not None:
            tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Warning, 8000)

    def _ensure_tray(self) -> QSystemTrayIcon | None:
        if self._tray is None and self.available:
            self._tray = QSystemTrayIcon(self._icon or _dot_icon(SERIES["bad"]), self)
            self._tray.setToolTip("Agent Console: supervisor alerts")
            self._tray.messageClicked.connect(self.activated)
            self._tray.show()
        return self._tray

    def close(self) -> None:
        if self._tray is not None:
            self._tray.hide()
            self._tray.deleteLater()
            self._tray = None
