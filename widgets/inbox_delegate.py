"""Paints one inbox row: channel badge, customer and handle, wait, snippet, account, status, flags.

A fixed row height keeps scrolling cheap (the view never measures rows). Everything painted comes
from the model's cached :class:`~console.storage.inbox.InboxRow` (``ROW_ROLE``); the only texts
made here are the elided ones that depend on the column width.

Urgency is shown twice, so it reads at a glance and without colour: a coloured bar on the left
edge, and the time text on the right ("late 25m" when the response target passed, "due 9m" when
it is near, else how long the customer has waited).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from console.domain import FlagKind
from console.storage.inbox import InboxRow
from console.storage.metrics import AT_RISK_S
from console.triage.flagbits import FLAG_BITS
from widgets.icons import IconCache
from widgets.inbox_model import ROW_ROLE
from widgets.theme import FLAG_LABELS, FLAG_SHORT_LABELS, Theme, flags_in_order
from widgets.timefmt import ago, when

ROW_HEIGHT = 70
ICON = 28
PAD = 12
#: Characters of the account line (left of the badges) worth showing; with less room the
#: badges shorten, and if even that leaves too little the line is left out, not cut to "Mu…".
META_MIN_CHARS = 10


def urgency(row: InboxRow, now: int) -> tuple[str, str | None]:
    """(text, theme colour name or None) for the right-hand time of a row."""
    if row.status == "snoozed" and row.snoozed_until:
        return f"snoozed {ago(row.snoozed_until - now)}", None
    if row.waiting_since is not None and row.status == "open":
        if row.deadline_at is not None and row.deadline_at <= now:
            return f"late {ago(now - row.deadline_at)}", "danger"
        if row.deadline_at is not None and row.deadline_at - now < AT_RISK_S:
            return f"due {ago(row.deadline_at - now)}", "warning"
        return f"waiting {ago(now - row.waiting_since)}", None
    return when(row.last_activity, now), None


def initials(name: str) -> str:
    parts = [p for p in name.replace(".", " ").split() if p[:1].isalpha()]
    if not parts:
        return name[:1].upper() or "?"
    if len(parts) == 1:
        return parts[0][:2].upper()
    return (parts[0][0] + parts[-1][0]).upper()


#: A flag badge: padding around its label, and the gap to the next badge.
BADGE_PADDING = 12
BADGE_GAP = 4


def badge_width(label: str, fm: QFontMetrics) -> int:
    """The width a flag badge takes in a row, its gap to the next included."""
    return fm.horizontalAdvance(label) + BADGE_PADDING + BADGE_GAP


def badge_labels(
    mask: int, room: int, fm: QFontMetrics, min_meta: int
) -> list[tuple[FlagKind, str]]:
    """The flag badges of a row (most urgent first), in full when they leave ``min_meta``
    pixels of ``room`` for the account line, else in their short form."""
    kinds = flags_in_order(mask)
    full = [(kind, FLAG_LABELS[kind]) for kind in kinds]
    if room - sum(badge_width(label, fm) for _, label in full) >= min_meta:
        return full
    return [(kind, FLAG_SHORT_LABELS[kind]) for kind in kinds]


class _Fonts:
    """The fonts and metrics of one base font, made once (painting must not build them per row)."""

    def __init__(self, font: QFont) -> None:
        self.base = QFont(font)
        self.bold = QFont(font)
        self.bold.setWeight(QFont.Weight.DemiBold)
        self.small = QFont(font)
        self.small.setPointSizeF(max(7.0, font.pointSizeF() * 0.88))
        self.small_bold = QFont(self.small)
        self.small_bold.setWeight(QFont.Weight.DemiBold)
        self.tiny_bold = QFont(font)
        self.tiny_bold.setPointSizeF(max(6.0, font.pointSizeF() * 0.72))
        self.tiny_bold.setWeight(QFont.Weight.Bold)
        self.fm = QFontMetrics(self.base)
        self.fm_bold = QFontMetrics(self.bold)
        self.fm_small = QFontMetrics(self.small)
        self.fm_small_bold = QFontMetrics(self.small_bold)


class InboxDelegate(QStyledItemDelegate):
    def __init__(
        self,
        theme: Theme,
        icons: IconCache,
        clock: Callable[[], int],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.theme = theme
        self.icons = icons
        self.clock = clock
        self._font_cache: dict[str, _Fonts] = {}

    def _fonts(self, font: QFont) -> _Fonts:
        key = font.key()
        fonts = self._font_cache.get(key)
        if fonts is None:
            fonts = self._font_cache[key] = _Fonts(font)
        return fonts

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        # The list gives every row its full width; a small hint keeps a horizontal bar away.
        return QSize(100, ROW_HEIGHT)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        row: InboxRow | None = index.data(ROW_ROLE)
        if row is None:
            return
        t = self.theme
        rect = QRect(option.rect)
        state = option.state
        selected = bool(state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if selected:
            painter.fillRect(rect, t.color("selection"))
        elif state & QStyle.StateFlag.State_MouseOver:
            painter.fillRect(rect, t.color("hover"))
        else:
            painter.fillRect(rect, t.color("base"))
        painter.setPen(QPen(t.color("border"), 1))
        painter.drawLine(rect.left() + PAD, rect.bottom(), rect.right(), rect.bottom())

        now = self.clock()
        time_text, time_color = urgency(row, now)
        bar = None
        if row.flag_mask & FLAG_BITS[FlagKind.BREACH] or time_color == "danger":
            bar = t.color("flag_breach")
        elif time_color == "warning":
            bar = t.color("warning")
        elif row.flag_mask & FLAG_BITS[FlagKind.ESCALATING]:
            bar = t.color("flag_escalating")
        if bar is not None:
            painter.fillRect(QRect(rect.left(), rect.top(), 4, rect.height() - 1), bar)

        ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
        icon = self.icons.pixmap(row.channel, ICON, ratio)
        painter.drawPixmap(rect.left() + PAD, rect.top() + 10, icon)
        if not row.is_public:
            self._private_dot(painter, rect.left() + PAD + ICON - 6, rect.top() + 10 + ICON - 6)

        text_color = t.color("selection_text") if selected else t.color("text")
        muted = t.color("muted")
        fonts = self._fonts(option.font)
        base_font, bold, small, small_bold = fonts.base, fonts.bold, fonts.small, fonts.small_bold
        fm, fm_bold, fm_small = fonts.fm, fonts.fm_bold, fonts.fm_small

        left = rect.left() + PAD + ICON + 10
        right = rect.right() - PAD
        line1 = rect.top() + 8
        line2 = line1 + fm_bold.height() + 2
        line3 = line2 + fm.height() + 3

        # line 1: name, handle ........ time
        painter.setFont(small_bold if time_color else small)
        time_width = (fonts.fm_small_bold if time_color else fm_small).horizontalAdvance(time_text)
        painter.setPen(t.color(time_color) if time_color else muted)
        painter.drawText(
            QRect(right - time_width, line1, time_width, fm_bold.height()),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            time_text,
        )
        name_room = right - time_width - 12 - left
        painter.setFont(bold)
        painter.setPen(text_color)
        name = fm_bold.elidedText(row.customer, Qt.TextElideMode.ElideRight, max(40, name_room))
        name_width = fm_bold.horizontalAdvance(name)
        painter.drawText(
            QRect(left, line1, name_width + 2, fm_bold.height()),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            name,
        )
        handle = row.handle if row.handle and row.handle != row.customer else ""
        if handle and name_room - name_width > 40:
            painter.setFont(small)
            painter.setPen(muted)
            shown = fm_small.elidedText(
                handle, Qt.TextElideMode.ElideRight, name_room - name_width - 8
            )
            painter.drawText(
                QRect(left + name_width + 8, line1, name_room - name_width - 8, fm_bold.height()),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                shown,
            )

        # line 2: the snippet
        painter.setFont(base_font)
        painter.setPen(text_color)
        snippet = row.subject + " — " + row.snippet if row.subject else row.snippet
        painter.drawText(
            QRect(left, line2, right - left, fm.height()),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            fm.elidedText(snippet, Qt.TextElideMode.ElideRight, right - left),
        )

        # line 3: flags (right), account · status · tags (left), assignee avatar
        x_right = right
        if row.assignee:
            x_right = self._avatar(painter, x_right, line3, fonts, row.assignee)
        min_meta = fm_small.averageCharWidth() * META_MIN_CHARS
        for kind, label in reversed(
            badge_labels(row.flag_mask, x_right - left - 8, fm_small, min_meta)
        ):
            x_right = self._badge(painter, x_right, line3, fonts, label, t.flag_color(kind))
        parts = [row.account]
        if row.status != "open":
            parts.append(row.status)
        if row.tags:
            parts.append(" ".join(f"#{tag}" for tag in row.tags[:3]))
        meta = " · ".join(parts)
        painter.setFont(small)
        painter.setPen(muted)
        room = x_right - left - 8
        if room >= min_meta or fm_small.horizontalAdvance(meta) <= room:
            painter.drawText(
                QRect(left, line3, room, fm_small.height() + 2),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                fm_small.elidedText(meta, Qt.TextElideMode.ElideRight, room),
            )
        painter.restore()

    def _badge(
        self, painter: QPainter, right: int, top: int, fonts: _Fonts, label: str, color: QColor
    ) -> int:
        fm, font = fonts.fm_small, fonts.small
        width = fm.horizontalAdvance(label) + BADGE_PADDING
        height = fm.height() + 2
        box = QRectF(right - width, top, width, height)
        fill = QColor(color)
        fill.setAlpha(40 if not self.theme.is_dark else 60)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(box, height / 2, height / 2)
        painter.setPen(color)
        painter.setFont(font)
        painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), label)
        return right - width - BADGE_GAP

    def _avatar(self, painter: QPainter, right: int, top: int, fonts: _Fonts, name: str) -> int:
        side = fonts.fm_small.height() + 2
        box = QRectF(right - side, top, side, side)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.theme.color("accent_soft"))
        painter.drawEllipse(box)
        painter.setPen(self.theme.color("accent_strong"))
        painter.setFont(fonts.tiny_bold)
        painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), initials(name))
        return int(right - side - 6)

    def _private_dot(self, painter: QPainter, x: int, y: int) -> None:
        """A small lock-ish dot: this conversation is private (DM, SMS, email), not public."""
        painter.setPen(QPen(self.theme.color("base"), 1.5))
        painter.setBrush(self.theme.color("muted"))
        painter.drawEllipse(QRectF(x, y, 9, 9))
