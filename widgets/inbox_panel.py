"""The inbox pane: search, filters, sort, and the conversation list.

:class:`InboxPanel` owns the :class:`~widgets.inbox_model.InboxModel` and edits its
:class:`~console.inbox_filter.InboxFilter`: a search field (debounced, full-text over every
message plus exact handles), filter buttons for status, channel, account, assignee and flag, a
sort choice, and a banner when a supervisor figure pinned the list to exact conversations. The
count in the title is computed on the background worker so typing never waits on SQLite.

Signals:
    current_changed(object): the selected ``InboxRow`` (or None)
    activated(object): Enter or double-click on a row
    filter_changed(object): the new ``InboxFilter`` (the window persists it)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.domain import CHANNEL_LABELS, Channel, Status
from console.inbox_filter import OPEN_STATUSES, SORTS, InboxFilter
from console.storage.inbox import (
    SEARCH_CAP,
    InboxRow,
    find_for_search,
    inbox_count,
    remember_search,
    search_is_capped,
)
from widgets.dbworker import DbWorker
from widgets.icons import IconCache
from widgets.inbox_delegate import ROW_HEIGHT, InboxDelegate
from widgets.inbox_model import InboxModel
from widgets.theme import FLAG_LABELS, FLAG_ORDER, Theme

SORT_LABELS = {"activity": "Latest activity", "waiting": "Longest waiting", "priority": "Priority"}
STATUS_CHOICES: list[tuple[str, frozenset[Status]]] = [
    ("To do (open + pending)", OPEN_STATUSES),
    ("Open", frozenset({Status.OPEN})),
    ("Pending", frozenset({Status.PENDING})),
    ("Snoozed", frozenset({Status.SNOOZED})),
    ("Resolved", frozenset({Status.RESOLVED})),
    ("Everything", frozenset(Status)),
]


@dataclass(frozen=True, slots=True)
class Choices:
    """What the filter menus offer: accounts ``(id, name, channel)``, agent names, me."""

    accounts: Sequence[tuple[int, str, str]]
    agents: Sequence[str]
    me: str


class InboxList(QTableView):
    """The list itself: j/k and arrows move, Enter opens.

    A table view showing only the first column: its rows all have the header's fixed height, so
    appending a page costs nothing in layout (a list view re-lays out every row on each insert).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.horizontalHeader().hide()
        self.verticalHeader().hide()
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.horizontalHeader().setStretchLastSection(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setTabKeyNavigation(False)
        self.setCornerButtonEnabled(False)

    def setModel(self, model: Any) -> None:
        super().setModel(model)
        # One painted column: the delegate draws the whole row from the cached InboxRow.
        for column in range(1, model.columnCount()):
            self.setColumnHidden(column, True)

    activated_row = Signal(int)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if event.modifiers() in (
            Qt.KeyboardModifier.NoModifier,
            Qt.KeyboardModifier.KeypadModifier,
        ):
            if key == Qt.Key.Key_J:
                self._step(1)
                return
            if key == Qt.Key.Key_K:
                self._step(-1)
                return
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                if self.currentIndex().isValid():
                    self.activated_row.emit(self.currentIndex().row())
                return
        super().keyPressEvent(event)

    def _step(self, delta: int) -> None:
        model = self.model()
        if model is None or model.rowCount() == 0:
            return
        row = self.currentIndex().row() if self.currentIndex().isValid() else -1
        target = max(0, min(model.rowCount() - 1, row + delta))
        if target == model.rowCount() - 1 and model.canFetchMore(QModelIndex()):
            model.fetchMore(QModelIndex())
        index = model.index(target, 0)
        self.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        self.scrollTo(index)


class InboxPanel(QWidget):
    current_changed = Signal(object)
    activated = Signal(object)
    filter_changed = Signal(object)

    def __init__(
        self,
        model: InboxModel,
        worker: DbWorker,
        theme: Theme,
        icons: IconCache,
        clock: Callable[[], int],
        choices: Callable[[], Choices],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("inboxPane")
        self.model = model
        self.worker = worker
        self.clock = clock
        self.choices = choices
        self._count_token = 0
        self._search_token = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(12, 10, 12, 8)
        top_layout.setSpacing(6)
        title_row = QHBoxLayout()
        self.title = QLabel("Inbox")
        self.title.setObjectName("paneTitle")
        self.count = QLabel("")
        self.count.setObjectName("muted")
        self.sort = QComboBox()
        self.sort.setObjectName("sortCombo")
        self.sort.setToolTip("Sort the inbox (Ctrl+Shift+O)")
        for key in SORTS:
            self.sort.addItem(SORT_LABELS[key], key)
        self.sort.currentIndexChanged.connect(self._sort_changed)
        title_row.addWidget(self.title)
        title_row.addWidget(self.count, 1)
        title_row.addWidget(self.sort)
        top_layout.addLayout(title_row)

        self.search = QLineEdit()
        self.search.setObjectName("searchField")
        self.search.setPlaceholderText("Search messages, @handles…   ( / )")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self._apply_search)
        self.search.textEdited.connect(lambda _: self._search_timer.start())
        self.search.returnPressed.connect(self._search_enter)
        top_layout.addWidget(self.search)

        bar = QWidget()
        bar.setObjectName("filterBar")
        bar_layout = QHBoxLayout(bar)
        bar_layout.setContentsMargins(0, 0, 0, 0)
        bar_layout.setSpacing(4)
        self.status_button = self._filter_button("Status", bar_layout)
        self.channel_button = self._filter_button("Channel", bar_layout)
        self.account_button = self._filter_button("Account", bar_layout)
        self.assignee_button = self._filter_button("Assignee", bar_layout)
        self.flag_button = self._filter_button("Flags", bar_layout)
        bar_layout.addStretch(1)
        top_layout.addWidget(bar)

        self.pin_banner = QWidget()
        self.pin_banner.setObjectName("banner")
        pin_layout = QHBoxLayout(self.pin_banner)
        pin_layout.setContentsMargins(8, 4, 4, 4)
        self.pin_label = QLabel()
        self.pin_label.setWordWrap(True)
        clear = QPushButton("Show all")
        clear.clicked.connect(self.clear_pin)
        pin_layout.addWidget(self.pin_label, 1)
        pin_layout.addWidget(clear)
        self.pin_banner.hide()
        top_layout.addWidget(self.pin_banner)
        layout.addWidget(top)

        self.view = InboxList()
        self.view.setObjectName("inboxList")
        self.view.setModel(model)
        self.delegate = InboxDelegate(theme, icons, clock, self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.verticalScrollBar().setSingleStep(ROW_HEIGHT // 2)
        self.view.setMouseTracking(True)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.selectionModel().currentChanged.connect(self._current)
        self.view.doubleClicked.connect(lambda i: self._activate(i.row()))
        self.view.activated_row.connect(self._activate)
        layout.addWidget(self.view, 1)

        self.empty = QLabel("Nothing here. Inbox zero — or loosen the filters.")
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.hide()
        layout.addWidget(self.empty)

        model.count_changed.connect(self._recount)
        model.reloaded.connect(self._after_reload)
        model.rowsAboutToBeRemoved.connect(self._before_remove)
        self._refresh_buttons()

    # -- building ------------------------------------------------------------------------------

    def _filter_button(self, label: str, layout: QHBoxLayout) -> QToolButton:
        button = QToolButton()
        button.setText(label + " ▾")
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(button)
        menu.aboutToShow.connect(lambda b=button, m=menu, name=label: self._fill_menu(name, m))
        button.setMenu(menu)
        button.setProperty("base_label", label)
        button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        layout.addWidget(button)
        return button

    def set_theme(self, theme: Theme) -> None:
        self.delegate.set_theme(theme)
        self.view.viewport().update()

    # -- the filter ----------------------------------------------------------------------------

    @property
    def filter(self) -> InboxFilter:
        return self.model.filter

    def set_filter(self, f: InboxFilter, *, keep_selection: bool = True) -> None:
        selected = self.current_row()
        self.model.set_filter(f)
        if self.search.text() != f.search:
            self.search.setText(f.search)
        index = self.sort.findData(f.sort)
        if index >= 0 and index != self.sort.currentIndex():
            self.sort.blockSignals(True)
            self.sort.setCurrentIndex(index)
            self.sort.blockSignals(False)
        self._refresh_buttons()
        self.pin_banner.setVisible(f.is_pinned)
        if f.is_pinned:
            self.pin_label.setText(
                f"<b>{f.title or 'Selected conversations'}</b> — {len(f.conversation_ids)}"
            )
        if keep_selection and selected is not None:
            self.select_conversation(selected.id)
        self.filter_changed.emit(f)

    def _update(self, **changes: Any) -> None:
        self.set_filter(self.filter.with_(**changes))

    def clear_pin(self) -> None:
        self._update(conversation_ids=(), title="")

    def _sort_changed(self, index: int) -> None:
        self._update(sort=self.sort.itemData(index))

    def _apply_search(self, then: Callable[[], None] | None = None) -> None:
        """Search for the field's text. The full-text part (tens of ms on a million messages)
        runs on the background connection; the inbox then pages through its result at once."""
        text = self.search.text().strip()
        self._search_token += 1
        token = self._search_token

        def show(result: Any = None) -> None:
            if token != self._search_token or self.search.text().strip() != text:
                return  # typed on meanwhile: a newer search is coming
            if result is not None:
                remember_search(self.model.ws, *result)
            if text != self.filter.search:
                self._update(search=text)
            if then is not None:
                then()

        if text == self.filter.search or not text:
            show()
            return
        self.count.setText("Searching…")
        if not self.worker.submit(lambda ws: find_for_search(ws, text), show, lambda _: show()):
            show()

    def _search_enter(self) -> None:
        self._search_timer.stop()
        self.view.setFocus()
        self._apply_search(then=self._select_first_found)

    def _select_first_found(self) -> None:
        if self.model.rowCount() and not self.view.currentIndex().isValid():
            self.select_row(0)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _fill_menu(self, name: str, menu: QMenu) -> None:
        menu.clear()
        f = self.filter
        choices = self.choices()
        if name == "Status":
            for label, statuses in STATUS_CHOICES:
                act = self._check(menu, label, f.statuses == statuses)
                act.triggered.connect(lambda _=False, s=statuses: self._update(statuses=s))
        elif name == "Channel":
            self._multi(menu, f.channels, [(c, CHANNEL_LABELS[c]) for c in Channel], "channels")
        elif name == "Account":
            accounts = [
                (a[0], f"{a[1]}  ({CHANNEL_LABELS.get(Channel(a[2]), a[2])})")
                for a in choices.accounts
            ]
            self._multi(menu, f.account_ids, accounts, "account_ids")
        elif name == "Assignee":
            options: list[tuple[str | None, str]] = [
                (None, "Anyone"),
                (choices.me, f"Me ({choices.me})"),
                ("", "Unassigned"),
            ]
            options += [(a, a) for a in choices.agents if a != choices.me]
            for value, label in options:
                act = self._check(menu, label, f.assignee == value)
                act.triggered.connect(lambda _=False, v=value: self._update(assignee=v))
        elif name == "Flags":
            flags = [(k, FLAG_LABELS[k]) for k in FLAG_ORDER]
            self._multi(menu, f.flags, flags, "flags")
            menu.addSeparator()
            for label, field, turn_on in (
                ("Waiting for us only", "waiting_only", not f.waiting_only),
                ("Due within 15 minutes", "at_risk", not f.at_risk),
                ("Past the response target", "breached", not f.breached),
            ):
                act = self._check(menu, label, bool(getattr(f, field)))
                act.triggered.connect(lambda _=False, fl=field, v=turn_on: self._update(**{fl: v}))

    def _check(self, menu: QMenu, label: str, checked: bool) -> QAction:
        act = menu.addAction(label)
        act.setCheckable(True)
        act.setChecked(checked)
        return act

    def _multi(
        self, menu: QMenu, current: frozenset[Any], options: list[tuple[Any, str]], field: str
    ) -> None:
        act = self._check(menu, "All", not current)
        act.triggered.connect(lambda: self._update(**{field: frozenset()}))
        menu.addSeparator()
        for value, label in options:
            act = self._check(menu, label, value in current)
            act.triggered.connect(
                lambda checked, v=value: self._update(
                    **{
                        field: (self.filter_field(field) | {v})
                        if checked
                        else (self.filter_field(field) - {v})
                    }
                )
            )

    def filter_field(self, field: str) -> frozenset[Any]:
        value = getattr(self.filter, field)
        assert isinstance(value, frozenset)
        return value

    def _refresh_buttons(self) -> None:
        f = self.filter
        choices = None
        states = {
            self.status_button: (f.statuses != OPEN_STATUSES, self._status_text(f)),
            self.channel_button: (
                bool(f.channels),
                ", ".join(CHANNEL_LABELS[c] for c in sorted(f.channels)) if f.channels else "",
            ),
            self.account_button: (
                bool(f.account_ids),
                f"{len(f.account_ids)} accounts" if len(f.account_ids) > 1 else "",
            ),
            self.assignee_button: (
                f.assignee is not None,
                "Unassigned" if f.assignee == "" else (f.assignee or ""),
            ),
            self.flag_button: (
                bool(f.flags) or f.waiting_only or f.at_risk or f.breached,
                ", ".join(FLAG_LABELS[k] for k in FLAG_ORDER if k in f.flags),
            ),
        }
        if len(f.account_ids) == 1:
            choices = self.choices()
            (only,) = f.account_ids
            name = next((a[1] for a in choices.accounts if a[0] == only), str(only))
            states[self.account_button] = (True, name)
        for button, (active, text) in states.items():
            base = str(button.property("base_label"))
            short = text if len(text) <= 16 else text[:15] + "…"
            button.setText(f"{base}: {short} ▾" if active and text else f"{base} ▾")
            button.setToolTip(f"{base}: {text}" if active and text else f"Filter by {base.lower()}")
            button.setProperty("active", "true" if active else "false")
            button.style().unpolish(button)
            button.style().polish(button)

    @staticmethod
    def _status_text(f: InboxFilter) -> str:
        for label, statuses in STATUS_CHOICES:
            if statuses == f.statuses:
                return label.split(" (")[0]
        return ", ".join(sorted(str(s) for s in f.statuses))

    # -- counting ------------------------------------------------------------------------------

    def _recount(self) -> None:
        self._count_token += 1
        token = self._count_token
        f = self.filter
        now = self.clock()
        self.empty.setVisible(self.model.rowCount() == 0)
        self.view.setVisible(self.model.rowCount() > 0)

        def count(ws: Any) -> tuple[int, bool]:
            capped = bool(f.search) and search_is_capped(ws, f.search)
            return inbox_count(ws, f, now=now), capped

        def show(result: tuple[int, bool]) -> None:
            n, capped = result
            if token == self._count_token:
                text = f"{n:,} conversation{'s' if n != 1 else ''}"
                if capped:
                    text += f" in the newest {SEARCH_CAP:,} matches"
                self.count.setText(text)

        self.worker.submit(count, show)

    def _after_reload(self) -> None:
        self._recount()

    # -- selection -----------------------------------------------------------------------------

    def current_row(self) -> InboxRow | None:
        index = self.view.currentIndex()
        return self.model.conversation_at(index.row()) if index.isValid() else None

    def _current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.current_changed.emit(
            self.model.conversation_at(current.row()) if current.isValid() else None
        )

    def _activate(self, row: int) -> None:
        conv = self.model.conversation_at(row)
        if conv is not None:
            self.activated.emit(conv)

    def select_row(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            index = self.model.index(row, 0)
            self.view.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
            self.view.scrollTo(index)

    def select_conversation(self, conversation_id: int) -> bool:
        row = self.model.row_of(conversation_id)
        if row is None:
            return False
        self.select_row(row)
        return True

    def _before_remove(self, parent: QModelIndex, first: int, last: int) -> None:
        """When the selected row leaves (resolved, snoozed), select the next one: keep flowing."""
        current = self.view.currentIndex()
        if current.isValid() and first <= current.row() <= last:
            # After the removal the row that followed sits at ``first``.
            QTimer.singleShot(0, lambda: self._reselect(first))

    def _reselect(self, row: int) -> None:
        if self.model.rowCount() == 0:
            self.current_changed.emit(None)
            return
        self.select_row(max(0, min(row, self.model.rowCount() - 1)))
