"""The supervisor panel's small charts, painted with QPainter (PySide6-Essentials has no QtCharts).

- :class:`HourlyChart`: inbound messages (bars) and replies (a line) per hour of today.
- :class:`HistogramChart`: how many first responses fell in each time bucket.
- :class:`TrendChart`: breaches per day over the last two weeks.

Each chart takes plain lists through ``set_data``, paints with the widget's palette (so it follows
light and dark themes) plus the few series colours of :data:`SERIES`, and shows the exact value of
the bar under the mouse as a tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QHelpEvent, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

#: Series colours: readable on light and dark backgrounds, distinguishable by most colour-blind eyes.
SERIES = {
    "inbound": QColor("#6A8CC7"),
    "replies": QColor("#2E9E6A"),
    "neutral": QColor("#8A94A6"),
    "warn": QColor("#D08A1E"),
    "bad": QColor("#C8463D"),
}

_LEFT, _RIGHT, _TOP, _BOTTOM = 30.0, 8.0, 22.0, 18.0


def muted(widget: QWidget) -> QColor:
    """The palette's secondary text colour."""
    color = widget.palette().color(QPalette.ColorRole.PlaceholderText)
    if not color.isValid() or color.alpha() == 0:
        color = widget.palette().color(QPalette.ColorRole.Mid)
    return color


def nice_ceiling(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30...)."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8):
            top = int(step * factor)
            if top == step * factor and top >= value:
                return top
        step *= 10


class _Chart(QWidget):
    """Shared frame: a caption line, a y axis with its maximum, and per-bar tooltips."""

    def __init__(self, caption: str, parent: QWidget | None = None, description: str = "") -> None:
        super().__init__(parent)
        self.caption = caption
        self.description = description
        self.note = ""
        self._tips: list[tuple[QRectF, str]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:
        return QSize(320, 128)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, 110)

    def plot_rect(self) -> QRectF:
        return QRectF(
            _LEFT,
            _TOP,
            max(1.0, self.width() - _LEFT - _RIGHT),
            max(1.0, self.height() - _TOP - _BOTTOM),
        )

    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.82))
        return font

    def paint_frame(self, painter: QPainter, top: int) -> QRectF:
        """Caption, note, baseline and the y maximum; returns the plot area."""
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        painter.setPen(text)
        caption_font = QFont(self.font())
        caption_font.setBold(True)
        painter.setFont(caption_font)
        painter.drawText(
            QRectF(0, 0, self.width(), _TOP - 4),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            self.caption,
        )
        painter.setFont(self._small_font())
        painter.setPen(muted(self))
        if self.note:
            painter.drawText(
                QRectF(0, 0, self.width(), _TOP - 4),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                self.note,
            )
        plot = self.plot_rect()
        grid = QColor(muted(self))
        grid.setAlpha(70)
        painter.setPen(QPen(grid, 1, Qt.PenStyle.DotLine))
        painter.drawLine(QPointF(plot.left(), plot.top()), QPointF(plot.right(), plot.top()))
        painter.setPen(QPen(grid, 1))
        painter.drawLine(QPointF(plot.left(), plot.bottom()), QPointF(plot.right(), plot.bottom()))
        painter.setPen(muted(self))
        painter.drawText(
            QRectF(0, plot.top() - 7, _LEFT - 5, 14),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            str(top),
        )
        painter.drawText(
            QRectF(0, plot.bottom() - 7, _LEFT - 5, 14),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            "0",
        )
        return plot

    def label_below(self, painter: QPainter, plot: QRectF, x: float, label: str) -> None:
        painter.setPen(muted(self))
        painter.drawText(
            QRectF(x - 20, plot.bottom() + 2, 40, _BOTTOM - 2),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            label,
        )

    def event(self, event: object) -> bool:
        if isinstance(event, QHelpEvent) and event.type() == QHelpEvent.Type.ToolTip:
            pos = QPointF(event.pos())
            for rect, tip in self._tips:
                if rect.contains(pos):
                    QToolTip.showText(event.globalPos(), tip, self)
                    return True
            if self.description:
                QToolTip.showText(event.globalPos(), self.description, self)
                return True
            QToolTip.hideText()
            event.ignore()
            return True
        return super().event(event)  # type: ignore[arg-type]

    def tip_at(self, x: float, y: float) -> str | None:
        """The tooltip of the bar at a point (for tests and keyboard users)."""
        for rect, tip in self._tips:
            if rect.contains(QPointF(x, y)):
                return tip
        return None


class HourlyChart(_Chart):
    """Inbound per hour as bars, replies per hour as a line, today up to the current hour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Inbound vs replies per hour",
            parent,
            "Customer messages (bars) and replies sent (line) in each hour of today.",
        )
        self.inbound: list[int] = []
        self.replies: list[int] = []
        self.current_hour = -1

    def set_data(self, inbound: Sequence[int], replies: Sequence[int], current_hour: int) -> None:
        self.inbound, self.replies = list(inbound), list(replies)
        self.current_hour = current_hour
        self.note = ""
        self.update()

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        hours = max(1, len(self.inbound))
        top = nice_ceiling(max([*self.inbound, *self.replies, 1]))
        plot = self.paint_frame(painter, top)
        slot = plot.width() / hours
        self._tips = []
        path = QPainterPath()
        for hour in range(hours):
            x = plot.left() + hour * slot
            n_in = self.inbound[hour] if hour < len(self.inbound) else 0
            n_out = self.replies[hour] if hour < len(self.replies) else 0
            height = plot.height() * n_in / top
            color = QColor(SERIES["inbound"])
            if hour > self.current_hour >= 0:
                color.setAlpha(60)
            painter.fillRect(
                QRectF(x + slot * 0.15, plot.bottom() - height, slot * 0.7, height), color
            )
            point = QPointF(x + slot / 2, plot.bottom() - plot.height() * n_out / top)
            if hour <= self.current_hour or self.current_hour < 0:
                if path.elementCount() == 0:
                    path.moveTo(point)
                else:
                    path.lineTo(point)
            self._tips.append(
                (
                    QRectF(x, plot.top(), slot, plot.height()),
                    f"{hour:02d}:00–{hour + 1:02d}:00\ninbound {n_in}\nreplies {n_out}",
                )
            )
            if hour % 6 == 0:
                self.label_below(painter, plot, x, f"{hour:02d}")
        self.label_below(painter, plot, plot.right() - 6, f"{hours:02d}")
        painter.setPen(QPen(SERIES["replies"], 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        self._legend(painter)
        painter.end()

    def _legend(self, painter: QPainter) -> None:
        """Swatches with today's totals, right-aligned on the caption line."""
        painter.setFont(self._small_font())
        metrics = painter.fontMetrics()
        inbound = f"inbound {sum(self.inbound):,}"
        replies = f"replies {sum(self.replies):,}"
        x = self.width() - _RIGHT - metrics.horizontalAdvance(replies)
        y = (_TOP - 4) / 2
        text = self.palette().color(QPalette.ColorRole.WindowText)
        painter.setPen(text)
        painter.drawText(QPointF(x, y + metrics.ascent() / 2 - 1), replies)
        painter.setPen(QPen(SERIES["replies"], 2))
        painter.drawLine(QPointF(x - 14, y), QPointF(x - 4, y))
        x -= 24 + metrics.horizontalAdvance(inbound)
        painter.setPen(text)
        painter.drawText(QPointF(x, y + metrics.ascent() / 2 - 1), inbound)
        painter.fillRect(QRectF(x - 13, y - 4, 8, 8), SERIES["inbound"])


class HistogramChart(_Chart):
    """Counts per bucket with the bucket labels below; buckets past ``warn_from`` in amber."""

    def __init__(self, caption: str, parent: QWidget | None = None, description: str = "") -> None:
        super().__init__(caption, parent, description)
        self.counts: list[int] = []
        self.labels: list[str] = []
        self.warn_from = -1

    def set_data(
        self, counts: Sequence[int], labels: Sequence[str], note: str = "", warn_from: int = -1
    ) -> None:
        self.counts, self.labels = list(counts), list(labels)
        self.note = note
        self.warn_from = warn_from
        self.update()

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        top = nice_ceiling(max([*self.counts, 1]))
        plot = self.paint_frame(painter, top)
        n = max(1, len(self.counts))
        slot = plot.width() / n
        self._tips = []
        for i, count in enumerate(self.counts):
            x = plot.left() + i * slot
            height = plot.height() * count / top
            color = SERIES["warn"] if 0 <= self.warn_from <= i else SERIES["replies"]
            painter.fillRect(
                QRectF(x + slot * 0.12, plot.bottom() - height, slot * 0.76, height), color
            )
            label = self.labels[i] if i < len(self.labels) else ""
            self.label_below(painter, plot, x + slot / 2, label)
            bound = f"up to {label}" if not label.startswith(">") else f"over {label[1:]}"
            self._tips.append((QRectF(x, plot.top(), slot, plot.height()), f"{bound}: {count}"))
        if not any(self.counts):
            painter.setPen(muted(self))
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no first responses yet today")
        painter.end()


class TrendChart(_Chart):
    """Breaches per day; today's bar is the last one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Breaches per day",
            parent,
            "Conversations that missed their first-response target, by the day the target passed.",
        )
        self.days: list[tuple[int, int]] = []
        self.tz: tzinfo | None = None

    def set_data(self, days: Sequence[tuple[int, int]], tz: tzinfo | None = None) -> None:
        self.days = list(days)
        self.tz = tz
        total = sum(n for _, n in self.days)
        today = self.days[-1][1] if self.days else 0
        self.note = f"today {today:,} · {len(self.days)} days {total:,}"
        self.update()

    def _day(self, start: int) -> datetime:
        return datetime.fromtimestamp(start, self.tz) if self.tz else datetime.fromtimestamp(start)

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        top = nice_ceiling(max([n for _, n in self.days] + [1]))
        plot = self.paint_frame(painter, top)
        n = max(1, len(self.days))
        slot = plot.width() / n
        self._tips = []
        for i, (start, count) in enumerate(self.days):
            x = plot.left() + i * slot
            height = plot.height() * count / top
            color = QColor(SERIES["bad"])
            if i < n - 1:
                color.setAlpha(150)
            painter.fillRect(
                QRectF(x + slot * 0.15, plot.bottom() - height, slot * 0.7, height), color
            )
            day = self._day(start)
            if i == n - 1:
                self.label_below(painter, plot, x + slot / 2, "today")
            elif (n - 1 - i) % 7 == 0:
                self.label_below(painter, plot, x + slot / 2, day.strftime("%d %b").lstrip("0"))
            self._tips.append(
                (
                    QRectF(x, plot.top(), slot, plot.height()),
                    f"{day.strftime('%a %d %b')}: {count} breached",
                )
            )
        painter.end()
