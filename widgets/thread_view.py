"""The thread and history view: messages as bubbles, replies indented under what they answer.

:class:`MessageDelegate` paints a :class:`~widgets.thread_model.MessageRow`: the customer's messages
on the left, ours on the right, internal notes as yellow cards, actions (assigned, resolved...) as a
small centred line. Each bubble shows author, handle, time, text, and chips for language,
sentiment, delivery state ("queued", "sent", "failed: ...") and the flags the message is evidence
for. In history mode each conversation block starts with its channel and account.

Heights depend on the text and the width; they are measured once per (message, width) and cached,
so scrolling a long history costs only painting.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeyEvent, QPainter, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from console.domain import FlagKind
from widgets.icons import IconCache
from widgets.theme import FLAG_LABELS, Theme
from widgets.thread_model import MESSAGE_ROLE, MessageRow, ThreadModel
from widgets.timefmt import full, when

Index = QModelIndex | QPersistentModelIndex

INDENT = 22
MARGIN = 14
BUBBLE_PAD = 10
MAX_TEXT = 1500
BLOCK_HEADER = 30

DELIVERY_TEXT = {
    "queued": "Queued",
    "sending": "Sending…",
    "sent": "Sent ✓",
    "failed": "Failed",
    "unknown": "Not confirmed",
}


def shown_text(row: MessageRow) -> str:
    text = row.text.strip() or "(no text)"
    if len(text) > MAX_TEXT:
        return text[:MAX_TEXT].rstrip() + " …  (double-click to read it all)"
    return text


class MessageDelegate(QStyledItemDelegate):
    def __init__(
        self,
        view: QListView,
        theme: Theme,
        icons: IconCache,
        clock: Callable[[], int],
        *,
        history: bool = False,
    ) -> None:
        super().__init__(view)
        self.view = view
        self.theme = theme
        self.icons = icons
        self.clock = clock
        self.history = history
        self._heights: dict[tuple[MessageRow, int], int] = {}
        self._font_cache: dict[str, tuple[QFont, QFont, QFont]] = {}
        self._metrics: dict[str, tuple[QFontMetrics, QFontMetrics, QFontMetrics]] = {}

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme

    def forget_sizes(self) -> None:
        self._heights.clear()

    # -- geometry ------------------------------------------------------------------------------

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFont]:
        font: QFont = option.font
        key = font.key()
        fonts = self._font_cache.get(key)
        if fonts is None:
            base = QFont(font)
            bold = QFont(base)
            bold.setWeight(QFont.Weight.DemiBold)
            small = QFont(base)
            small.setPointSizeF(max(7.0, base.pointSizeF() * 0.86))
            fonts = self._font_cache[key] = (base, bold, small)
            self._metrics[key] = (QFontMetrics(base), QFontMetrics(bold), QFontMetrics(small))
        return fonts

    def _fm(self, option: QStyleOptionViewItem) -> tuple[QFontMetrics, QFontMetrics, QFontMetrics]:
        self._fonts(option)
        return self._metrics[option.font.key()]

    def _bubble_width(self, row: MessageRow, width: int) -> int:
        room = width - 2 * MARGIN - row.depth * INDENT
        if row.direction in ("note", "event"):
            return max(120, room)
        return max(160, min(int(room * 0.82), 760))

    def _chips(self, row: MessageRow) -> list[tuple[str, str]]:
        """(text, theme colour name) for the footer of a bubble."""
        chips: list[tuple[str, str]] = []
        if (
            row.direction == "out"
            and row.delivery == "sent"
            and row.external_id.startswith("sandbox:")
        ):
            # say it plainly: a sandbox account records the reply, nothing left this machine
            chips.append(("Sandbox: recorded, not sent", "warning"))
        elif row.direction == "out" and row.delivery:
            label = DELIVERY_TEXT.get(row.delivery, row.delivery)
            if row.delivery in ("failed", "unknown") and row.error:
                label += f": {row.error}"
            color = {"failed": "danger", "unknown": "warning", "sent": "success"}.get(
                row.delivery, "muted"
            )
            chips.append((label, color))
        for kind in row.flags:
            chips.append((FLAG_LABELS.get(FlagKind(kind), kind), f"flag_{kind}"))
        if row.dup_group is not None and row.direction == "in":
            chips.append(("duplicate post", "flag_duplicates"))
        if row.direction == "in" and row.sentiment is not None and row.sentiment <= -0.35:
            chips.append((f"negative {row.sentiment:+.1f}", "danger"))
        if row.language and row.direction == "in":
            chips.append((row.language, "muted"))
        if (
            not row.is_public
            and row.direction in ("in", "out")
            and row.channel in ("x", "facebook", "instagram")
        ):
            chips.append(("private", "muted"))
        return chips

    def _measure(self, row: MessageRow, width: int, option: QStyleOptionViewItem) -> int:
        fm, fm_bold, fm_small = self._fm(option)
        top = BLOCK_HEADER if self.history and row.starts_block else 0
        if row.direction == "event":
            return top + fm_small.height() + 14
        inner = self._bubble_width(row, width) - 2 * BUBBLE_PAD
        text_h = fm.boundingRect(
            QRect(0, 0, inner, 1_000_000), int(Qt.TextFlag.TextWordWrap), shown_text(row)
        ).height()
        height = top + 8 + BUBBLE_PAD + fm_bold.height() + 4 + text_h + BUBBLE_PAD + 8
        if row.subject and (row.channel == "email"):
            height += fm_bold.height() + 2
        if self._chips(row):
            height += fm_small.height() + 8
        return height

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        row: MessageRow | None = index.data(MESSAGE_ROLE)
        width = self.view.viewport().width()
        if row is None:
            return QSize(width, 0)
        key = (row, width)
        height = self._heights.get(key)
        if height is None:
            height = self._measure(row, width, option)
            self._heights[key] = height
        return QSize(width, height)

    # -- painting ------------------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        row: MessageRow | None = index.data(MESSAGE_ROLE)
        if row is None:
            return
        t = self.theme
        rect = QRect(option.rect)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        base, bold, small = self._fonts(option)
        fm, fm_bold, fm_small = self._fm(option)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        top = rect.top()
        if self.history and row.starts_block:
            self._block_header(painter, rect, row, small)
            top += BLOCK_HEADER
        if row.direction == "event":
            painter.setFont(small)
            painter.setPen(t.color("accent") if selected else t.color("muted"))
            text = f"{row.text}  ·  {when(row.created_at, self.clock())}"
            painter.drawText(
                QRect(
                    rect.left() + MARGIN, top + 4, rect.width() - 2 * MARGIN, fm_small.height() + 6
                ),
                int(Qt.AlignmentFlag.AlignCenter),
                fm_small.elidedText(text, Qt.TextElideMode.ElideMiddle, rect.width() - 2 * MARGIN),
            )
            painter.restore()
            return

        width = self._bubble_width(row, rect.width())
        indent = row.depth * INDENT
        if row.direction == "out":
            left = rect.right() - MARGIN - width
        else:
            left = rect.left() + MARGIN + indent
        bubble = QRectF(left, top + 6, width, rect.bottom() - top - 10)
        fill = {
            "out": t.color("outbound_bubble"),
            "note": t.color("note_bubble"),
        }.get(row.direction, t.color("inbound_bubble"))
        border = t.color("accent") if selected else t.color("border")
        if row.flags and not selected:
            border = t.flag_color(row.flags[0])
        painter.setPen(QPen(border, 1.6 if (selected or row.flags) else 1.0))
        painter.setBrush(fill)
        painter.drawRoundedRect(bubble, 9, 9)
        if row.depth and row.direction == "in":
            painter.setPen(QPen(t.color("border"), 2))
            x = left - INDENT / 2
            painter.drawLine(int(x), int(bubble.top() + 4), int(x), int(bubble.bottom() - 4))

        x = int(bubble.left()) + BUBBLE_PAD
        y = int(bubble.top()) + BUBBLE_PAD
        inner = width - 2 * BUBBLE_PAD
        # header: author (handle) ... time
        time_text = when(row.created_at, self.clock())
        if self.history or row.direction == "out":
            time_text = f"{row.channel_label} · {time_text}"
        painter.setFont(small)
        painter.setPen(t.color("muted"))
        time_w = fm_small.horizontalAdvance(time_text)
        painter.drawText(
            QRect(x + inner - time_w, y, time_w, fm_bold.height()),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            time_text,
        )
        who = row.author_name or row.author
        if row.direction == "note":
            who = f"Internal note · {who}"
        painter.setFont(bold)
        painter.setPen(t.color("text"))
        name = fm_bold.elidedText(who, Qt.TextElideMode.ElideRight, max(40, inner - time_w - 10))
        painter.drawText(
            QRect(x, y, inner - time_w - 8, fm_bold.height()),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            name,
        )
        handle = row.author if row.author_name and row.author != row.author_name else ""
        name_w = fm_bold.horizontalAdvance(name)
        if handle and inner - time_w - name_w > 60:
            painter.setFont(small)
            painter.setPen(t.color("muted"))
            painter.drawText(
                QRect(x + name_w + 6, y, inner - time_w - name_w - 14, fm_bold.height()),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                fm_small.elidedText(
                    handle, Qt.TextElideMode.ElideRight, inner - time_w - name_w - 14
                ),
            )
        y += fm_bold.height() + 4
        if row.subject and row.channel == "email":
            painter.setFont(bold)
            painter.setPen(t.color("text"))
            painter.drawText(
                QRect(x, y, inner, fm_bold.height()),
                int(Qt.AlignmentFlag.AlignLeft),
                fm_bold.elidedText(row.subject, Qt.TextElideMode.ElideRight, inner),
            )
            y += fm_bold.height() + 2
        painter.setFont(base)
        painter.setPen(t.color("text"))
        text = shown_text(row)
        text_rect = fm.boundingRect(
            QRect(0, 0, inner, 1_000_000), int(Qt.TextFlag.TextWordWrap), text
        )
        painter.drawText(
            QRect(x, y, inner, text_rect.height()),
            int(Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
            text,
        )
        y += text_rect.height() + 6
        chips = self._chips(row)
        if chips:
            cx = x
            painter.setFont(small)
            for label, color_name in chips:
                color = QColor(str(getattr(t, color_name)))
                w = fm_small.horizontalAdvance(label) + 12
                if cx + w > x + inner:
                    w = max(30, x + inner - cx)
                    label = fm_small.elidedText(label, Qt.TextElideMode.ElideRight, w - 12)
                box = QRectF(cx, y, w, fm_small.height() + 2)
                soft = QColor(color)
                soft.setAlpha(38 if not t.is_dark else 64)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(soft)
                painter.drawRoundedRect(box, box.height() / 2, box.height() / 2)
                painter.setPen(color)
                painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), label)
                cx += w + 5
                if cx >= x + inner:
                    break
        painter.restore()

    def _block_header(self, painter: QPainter, rect: QRect, row: MessageRow, font: QFont) -> None:
        t = self.theme
        fm = QFontMetrics(font)
        y = rect.top() + 8
        ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
        painter.drawPixmap(rect.left() + MARGIN, y, self.icons.pixmap(row.channel, 16, ratio))
        painter.setFont(font)
        painter.setPen(t.color("muted"))
        label = f"{row.channel_label} · {row.account} · conversation #{row.conversation_id}"
        text_left = rect.left() + MARGIN + 22
        painter.drawText(
            QRect(text_left, y, rect.width() - 2 * MARGIN - 22, 16),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            label,
        )
        line_x = text_left + fm.horizontalAdvance(label) + 10
        painter.setPen(QPen(t.color("border"), 1))
        painter.drawLine(line_x, y + 8, rect.right() - MARGIN, y + 8)


class ThreadView(QListView):
    """A list of message bubbles that keeps its place when earlier pages are prepended.

    Signals:
        message_activated(MessageRow): double-click or Enter on a message
    """

    message_activated = Signal(object)

    def __init__(
        self,
        model: ThreadModel,
        theme: Theme,
        icons: IconCache,
        clock: Callable[[], int],
        *,
        history: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.thread_model = model
        self.setModel(model)
        self.delegate = MessageDelegate(self, theme, icons, clock, history=history)
        self.setItemDelegate(self.delegate)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setWordWrap(True)
        self.setSpacing(0)
        self.setMouseTracking(False)
        model.loaded.connect(self._after_load)
        model.rowsInserted.connect(self._after_insert)
        self.verticalScrollBar().valueChanged.connect(self._maybe_fetch_earlier)
        self.doubleClicked.connect(self._activated)
        self._fetching = False

    def set_theme(self, theme: Theme) -> None:
        self.delegate.set_theme(theme)
        self.viewport().update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        if event.oldSize().width() != event.size().width():
            self.delegate.forget_sizes()
        super().resizeEvent(event)

    def _after_load(self) -> None:
        self.delegate.forget_sizes()
        self.scrollToBottom()

    def _after_insert(self, parent: QModelIndex, first: int, last: int) -> None:
        if self._fetching:
            return
        if last == self.model().rowCount() - 1:
            self.scrollToBottom()

    def _maybe_fetch_earlier(self, value: int) -> None:
        if value != 0 or self._fetching or not self.thread_model.has_earlier:
            return
        self._fetching = True
        try:
            anchor = self.indexAt(self.viewport().rect().topLeft())
            anchor_row = anchor.row() if anchor.isValid() else 0
            added = self.thread_model.fetch_earlier()
            if added:
                self.scrollTo(
                    self.model().index(anchor_row + added, 0),
                    QAbstractItemView.ScrollHint.PositionAtTop,
                )
        finally:
            self._fetching = False

    def _activated(self, index: QModelIndex) -> None:
        row = self.thread_model.message_at(index.row())
        if row is not None:
            self.message_activated.emit(row)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._activated(self.currentIndex())
            return
        super().keyPressEvent(event)

    def selected_message(self) -> MessageRow | None:
        index = self.currentIndex()
        return self.thread_model.message_at(index.row()) if index.isValid() else None

    def tooltip_for(self, row: MessageRow) -> str:
        return full(row.created_at)
