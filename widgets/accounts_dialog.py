"""The channel accounts dialog: add, edit, test and remove the accounts the console answers from.

The accounts are listed on the left; the right side is a form for the selected one (or a new one):
channel, adapter kind, name, handle, response target, business hours, then one field per setting
and per secret of the kind, generated from the adapter's ``SETTING_FIELDS`` and ``SECRET_FIELDS``
(:mod:`services.channels.registry`). Secret fields are password fields that show "stored in
keyring" when a value is set and never display it; typing a value replaces it, leaving the field
empty keeps it.

Test builds the adapter from the form as it stands (typed secrets over stored ones) and runs its
``test()`` through the dialog's :class:`~widgets.bridge.TaskOwner`; the result or the typed error
appears inline, the GUI never waits. Keyring calls go through the SecretStore's async methods
(an executor). When no secure keyring is available a banner says so and what to install, and
saving a secret is refused (nothing is written).

Remove asks for a confirmation in place; an account with conversations can only be removed with
"also delete its conversations" ticked. Signals:

    changed(): an account was saved or removed (the inbox's account names may have changed)
    saved(int): this account's set-up changed (an adapter pool should build it again)
    removed(object): a :class:`~console.storage.accounts.RemovedAccount`; its ``customer_ids``
        need triage again (the caller runs ``retriage_customers`` on its storage worker)

Open it with ``show()``/``open()``, never ``exec()`` inside a coroutine.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from console.domain import CHANNEL_LABELS, Channel
from console.errors import AccountError, ConsoleError, SecretStoreError
from console.storage import accounts as repo
from console.storage.accounts import Account, RemovedAccount
from console.storage.db import Workspace
from services.channels import registry
from services.channels.fields import FieldSpec
from services.secrets import SecretStore
from widgets.bridge import TaskOwner

log = logging.getLogger(__name__)

TEST_TIMEOUT_S = 60.0
STORED = "stored in keyring"
NOT_SET = "not set"

ClientSource = httpx.AsyncClient | Callable[[], httpx.AsyncClient]


class AccountsDialog(QDialog):
    """Add, edit, test and remove channel accounts (see the module docstring)."""

    changed = Signal()
    saved = Signal(int)
    removed = Signal(object)

    def __init__(
        self,
        ws: Workspace,
        secrets: SecretStore,
        client: ClientSource,
        owner: TaskOwner | None = None,
        parent: QWidget | None = None,
        *,
        test_timeout: float = TEST_TIMEOUT_S,
    ) -> None:
        super().__init__(parent)
        self.ws = ws
        self.secrets = secrets
        self._client = client
        self.owner = owner if owner is not None else TaskOwner(self, on_error=self._task_failed)
        self._tasks: set[asyncio.Task[Any]] = set()  # ours, cancelled when the dialog closes
        self.test_timeout = test_timeout
        self.current: Account | None = None
        self.setting_widgets: dict[str, tuple[FieldSpec, QWidget]] = {}
        self.secret_widgets: dict[str, tuple[FieldSpec, QLineEdit]] = {}
        self.stored_secrets: dict[str, bool] = {}
        self.keyring_problem: str | None = None
        self.keyring_checked = False
        self.setWindowTitle("Channel accounts")
        self.resize(900, 620)
        self._build()
        self.reload()
        self._spawn(self._check_keyring(), name="accounts: check keyring")

    # -- layout ------------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.banner = QLabel()
        self.banner.setObjectName("keyringBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            "QLabel#keyringBanner { background: #fff3cd; color: #5c4400; padding: 8px;"
            " border: 1px solid #e0c36a; border-radius: 4px; }"
        )
        self.banner.hide()
        layout.addWidget(self.banner)

        split = QSplitter(Qt.Orientation.Horizontal)
        layout.addWidget(split, 1)
        split.addWidget(self._build_list())
        split.addWidget(self._build_form())
        split.setSizes([260, 640])

        self.status = QLabel()
        self.status.setObjectName("accountStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        layout.addWidget(self._build_confirm())

        buttons = QHBoxLayout()
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("Check the credentials and the connection (Ctrl+T)")
        self.test_button.clicked.connect(self.start_test)
        self.save_button = QPushButton("Save")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.start_save)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        QShortcut(QKeySequence.StandardKey.Save, self, activated=self.start_save)
        QShortcut(QKeySequence("Ctrl+T"), self, activated=self.start_test)

    def _build_list(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._selected)
        column.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.new_button = QPushButton("New")
        self.new_button.clicked.connect(self.new_account)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self.ask_remove)
        row.addWidget(self.new_button)
        row.addWidget(self.remove_button)
        column.addLayout(row)
        return box

    def _build_form(self) -> QWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        self.form = QFormLayout(body)
        self.channel = QComboBox()
        for channel in Channel:
            self.channel.addItem(CHANNEL_LABELS[channel], channel.value)
        self.channel.currentIndexChanged.connect(self._channel_changed)
        self.kind = QComboBox()
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Support mailbox, @BrandCares")
        self.handle = QLineEdit()
        self.handle.setPlaceholderText("our handle, address or number")
        self.target = QSpinBox()
        self.target.setRange(0, 60 * 24 * 30)
        self.target.setSuffix(" min")
        self.target.setSpecialValueText("channel default")
        self.hours = QPlainTextEdit()
        self.hours.setPlaceholderText(
            '{"timezone": "Europe/Helsinki", "week": {"mon": ["08:00-17:00"], ...}}'
            "  (empty: around the clock)"
        )
        self.hours.setFixedHeight(60)
        self.form.addRow("Channel", self.channel)
        self.form.addRow("Adapter", self.kind)
        self.form.addRow("Name", self.name)
        self.form.addRow("Handle", self.handle)
        self.form.addRow("Response target", self.target)
        self.form.addRow("Business hours", self.hours)
        self.fields_box = QWidget()
        self.fields_form = QFormLayout(self.fields_box)
        self.fields_form.setContentsMargins(0, 0, 0, 0)
        self.form.addRow(self.fields_box)
        scroll.setWidget(body)
        return scroll

    def _build_confirm(self) -> QWidget:
        self.confirm = QFrame()
        self.confirm.setFrameShape(QFrame.Shape.StyledPanel)
        row = QHBoxLayout(self.confirm)
        self.confirm_label = QLabel()
        self.confirm_label.setWordWrap(True)
        self.force = QCheckBox("also delete its conversations")
        self.confirm_yes = QPushButton("Remove")
        self.confirm_yes.clicked.connect(self.start_remove)
        no = QPushButton("Keep")
        no.clicked.connect(self.confirm.hide)
        row.addWidget(self.confirm_label, 1)
        row.addWidget(self.force)
        row.addWidget(self.confirm_yes)
        row.addWidget(no)
        self.confirm.hide()
        return self.confirm

    # -- the list ----------------------------------------------------------------------------------

    def reload(self, select_id: int | None = None) -> None:
        wanted = select_id if select_id is not None else (self.current.id if self.current else None)
        self.list.blockSignals(True)
        self.list.clear()
        chosen: QListWidgetItem | None = None
        for account in repo.list_accounts(self.ws):
            item = QListWidgetItem(f"{account.label}  ({account.kind})")
            item.setData(Qt.ItemDataRole.UserRole, account.id)
            self.list.addItem(item)
            if account.id == wanted:
                chosen = item
        self.list.blockSignals(False)
        if chosen is not None:
            self.list.setCurrentItem(chosen)
        elif self.list.count():
            self.list.setCurrentRow(0)
        else:
            self.new_account()

    def _selected(self, item: QListWidgetItem | None, _previous: Any = None) -> None:
        self.confirm.hide()
        if item is None:
            return
        self.show_account(repo.get_account(self.ws, int(item.data(Qt.ItemDataRole.UserRole))))

    def new_account(self) -> None:
        self.list.blockSignals(True)
        self.list.clearSelection()
        self.list.setCurrentItem(None)  # type: ignore[arg-type]
        self.list.blockSignals(False)
        self.current = None
        self.channel.setEnabled(True)
        self.name.clear()
        self.handle.clear()
        self.target.setValue(0)
        self.hours.clear()
        self._channel_changed()
        self.remove_button.setEnabled(False)
        self.say("")
        self.name.setFocus()

    def show_account(self, account: Account) -> None:
        self.current = account
        self.channel.blockSignals(True)
        self.channel.setCurrentIndex(self.channel.findData(account.channel.value))
        self.channel.blockSignals(False)
        self.channel.setEnabled(False)  # conversations belong to the channel
        self._fill_kinds(account.channel, account.kind)
        self.name.setText(account.name)
        self.handle.setText(account.handle or "")
        self.target.setValue((account.response_target_s or 0) // 60)
        self.hours.setPlainText(
            json.dumps(json.loads(account.business_hours), indent=None)
            if account.business_hours
            else ""
        )
        self._build_fields(account.kind, account.settings)
        self.remove_button.setEnabled(True)
        self.say("")
        names = list(self.secret_widgets)
        if names:
            self._spawn(self._show_stored(account.id, names), name="accounts: secrets")

    # -- channel, kind and the generated fields ----------------------------------------------------

    def _channel(self) -> Channel:
        return Channel(str(self.channel.currentData()))

    def _channel_changed(self) -> None:
        self._fill_kinds(self._channel(), None)
        self._kind_changed()

    def _fill_kinds(self, channel: Channel, selected: str | None) -> None:
        self.kind.blockSignals(True)
        self.kind.clear()
        for spec in registry.kinds_for(channel):
            if registry.is_available(spec.kind) or spec.kind == selected:
                self.kind.addItem(spec.label, spec.kind)
        if selected is not None:
            index = self.kind.findData(selected)
            if index < 0:
                self.kind.addItem(f"{selected} (unknown)", selected)
                index = self.kind.count() - 1
            self.kind.setCurrentIndex(index)
        self.kind.blockSignals(False)

    def _kind(self) -> str:
        return str(self.kind.currentData() or "")

    def _kind_changed(self) -> None:
        settings = self.current.settings if self.current is not None else {}
        self._build_fields(self._kind(), settings)

    def _build_fields(self, kind: str, values: dict[str, Any]) -> None:
        while self.fields_form.rowCount():
            self.fields_form.removeRow(0)
        self.setting_widgets.clear()
        self.secret_widgets.clear()
        self.stored_secrets = {}
        if not kind:
            return
        try:
            settings, secrets = registry.setting_fields(kind), registry.secret_fields(kind)
        except ConsoleError as exc:
            self.fields_form.addRow(QLabel(str(exc)))
            return
        for spec in settings:
            widget = _setting_widget(spec, values.get(spec.name))
            widget.setObjectName(f"setting_{spec.name}")
            self.setting_widgets[spec.name] = (spec, widget)
            self.fields_form.addRow(spec.title + (" *" if spec.required else ""), widget)
        for spec in secrets:
            edit = QLineEdit()
            edit.setObjectName(f"secret_{spec.name}")
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setPlaceholderText(NOT_SET)
            edit.setToolTip("kept in the OS keyring; leave empty to keep the stored value")
            self.secret_widgets[spec.name] = (spec, edit)
            self.fields_form.addRow(spec.title + " 🔒", edit)

    async def _show_stored(self, account_id: int, names: list[str]) -> None:
        try:
            stored = await self.secrets.awhich_set(account_id, names)
        except SecretStoreError as exc:
            self._show_banner(str(exc))
            return
        if self.current is None or self.current.id != account_id:
            return  # another account was selected meanwhile
        self.stored_secrets = stored
        for name, is_set in stored.items():
            if name in self.secret_widgets:
                self.secret_widgets[name][1].setPlaceholderText(STORED if is_set else NOT_SET)

    # -- reading the form ------------------------------------------------------------------------

    def form_settings(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, (_spec, widget) in self.setting_widgets.items():
            value = _widget_value(widget)
            if value is not None:
                values[name] = value
        return values

    def typed_secrets(self) -> dict[str, str]:
        return {n: e.text() for n, (_s, e) in self.secret_widgets.items() if e.text()}

    def _checked_values(self) -> dict[str, Any]:
        kind = self._kind()
        if not kind:
            raise AccountError("choose an adapter for this channel")
        settings = registry.check_settings(kind, self._channel(), self.form_settings())
        target = self.target.value()
        hours = self.hours.toPlainText().strip()
        return {
            "kind": kind,
            "name": self.name.text(),
            "handle": self.handle.text() or None,
            "settings": settings,
            "response_target_s": target * 60 if target else None,
            "business_hours": hours or None,
            "secret_fields": registry.secret_names(kind),
        }

    # -- keyring -----------------------------------------------------------------------------------

    async def _check_keyring(self) -> None:
        problem = await self.secrets.aavailable()
        self.keyring_checked = True
        if problem:
            self._show_banner(problem)

    def _show_banner(self, problem: str) -> None:
        self.keyring_problem = problem
        self.banner.setText(f"<b>Secrets cannot be stored.</b> {problem}")
        self.banner.show()

    # -- save --------------------------------------------------------------------------------------

    def start_save(self) -> None:
        self._spawn(self.save(), name="accounts: save")

    async def save(self) -> Account | None:
        try:
            values = self._checked_values()
        except ConsoleError as exc:
            self.say(str(exc), error=True)
            return None
        typed = self.typed_secrets()
        if typed:
            problem = await self.secrets.aavailable()
            if problem:
                self._show_banner(problem)
                self.say("Not saved: the secrets have nowhere safe to go.", error=True)
                return None
        try:
            if self.current is None:
                account = repo.add_account(self.ws, channel=self._channel(), **values)
            else:
                account = repo.update_account(self.ws, self.current.id, **values)
        except ConsoleError as exc:
            self.say(str(exc), error=True)
            return None
        problem = None
        try:
            for field, value in typed.items():
                await self.secrets.aset(account.id, field, value)
        except SecretStoreError as exc:
            problem = str(exc)
        self.current = account
        self.reload(account.id)  # shows the account again: after this, the status line
        if problem:
            self.say(f"Saved, but the secrets were not: {problem}", error=True)
        else:
            self.say(f"Saved {account.label}.")
        self.saved.emit(account.id)
        self.changed.emit()
        return account

    # -- test --------------------------------------------------------------------------------------

    def start_test(self) -> None:
        self.test_button.setEnabled(False)
        self.say("Testing…")
        self._spawn(self.run_test(), name="accounts: test")

    async def run_test(self) -> bool:
        typed = self.typed_secrets()
        secrets: dict[str, str] = {}
        try:
            values = self._checked_values()
            names = values["secret_fields"]
            if self.current is not None and names:
                secrets = await self.secrets.aload(self.current.id, names)
            secrets.update(typed)
            config = registry.account_config(
                {
                    "id": self.current.id if self.current else 0,
                    "name": values["name"] or "(new account)",
                    "channel": self._channel().value,
                    "kind": values["kind"],
                    "handle": values["handle"],
                    "settings": values["settings"],
                },
                secrets,
            )
            line = await self._test_adapter(config)
        except TimeoutError:
            self.say(f"✗ Test failed: no answer within {self.test_timeout:g} s", error=True)
            return False
        except ConsoleError as exc:
            message = _scrub(str(exc), secrets)
            self.say(f"✗ Test failed ({type(exc).__name__}): {message}", error=True)
            return False
        finally:
            self.test_button.setEnabled(True)
        self.say(f"✓ {_scrub(line, secrets)}")
        return True

    async def _test_adapter(self, config: Any) -> str:
        if isinstance(self._client, httpx.AsyncClient):
            adapter = registry.build_adapter(config, self._client)
            return await asyncio.wait_for(adapter.test(), self.test_timeout)
        async with self._client() as client:
            adapter = registry.build_adapter(config, client)
            return await asyncio.wait_for(adapter.test(), self.test_timeout)

    # -- remove ------------------------------------------------------------------------------------

    def ask_remove(self) -> None:
        if self.current is None:
            return
        count = repo.conversation_count(self.ws, self.current.id)
        if count:
            self.confirm_label.setText(
                f"Remove {self.current.label}? It has {count} conversation(s): removing it "
                "deletes them and their messages."
            )
            self.force.show()
        else:
            self.confirm_label.setText(f"Remove {self.current.label} and its stored secrets?")
            self.force.hide()
        self.force.setChecked(False)
        self.confirm.show()

    def start_remove(self) -> None:
        self._spawn(self.remove(), name="accounts: remove")

    async def remove(self) -> RemovedAccount | None:
        if self.current is None:
            return None
        account = self.current
        try:
            removed = repo.remove_account(self.ws, account.id, force=self.force.isChecked())
        except ConsoleError as exc:
            self.say(str(exc), error=True)
            return None
        self.confirm.hide()
        self.current = None
        problem = None
        try:
            await self.secrets.adelete_account(account.id, registry.secret_names(account.kind))
        except SecretStoreError as exc:
            problem = str(exc)
        self.reload()
        if problem:
            self.say(
                f"Removed, but its keyring entries could not be deleted: {problem}", error=True
            )
        else:
            self.say(f"Removed {account.label}.")
        self.changed.emit()
        self.removed.emit(removed)
        return removed

    # -- messages and closing --------------------------------------------------------------------

    def say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("error", error)
        self.status.setStyleSheet("color: #b00020;" if error else "")

    def _task_failed(self, name: str, exc: BaseException) -> None:
        self.test_button.setEnabled(True)
        self.say(f"{name}: {type(exc).__name__}: {exc}", error=True)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = self.owner.spawn(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    def done(self, result: int) -> None:
        self._cancel_tasks()  # a shared owner outlives the dialog: its work must not
        super().done(result)

    def closeEvent(self, event: Any) -> None:
        self._cancel_tasks()
        super().closeEvent(event)


def _setting_widget(spec: FieldSpec, value: Any) -> QWidget:
    if spec.type == "bool":
        box = QCheckBox()
        box.setChecked(bool(spec.default if value is None else value))
        box.setToolTip(spec.help)
        return box
    if spec.choices:
        combo = QComboBox()
        for choice in spec.choices:
            combo.addItem(choice, choice)
        current = value if value is not None else spec.default
        if current is not None and combo.findData(str(current)) >= 0:
            combo.setCurrentIndex(combo.findData(str(current)))
        combo.setToolTip(spec.help)
        return combo
    edit = QLineEdit("" if value is None else str(value))
    hint = spec.help or ""
    if spec.default is not None:
        hint = f"default {spec.default}" + (f"; {hint}" if hint else "")
    edit.setPlaceholderText(hint)
    edit.setToolTip(spec.help)
    return edit


def _widget_value(widget: QWidget) -> Any:
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QLineEdit):
        return widget.text().strip() or None
    return None


def _scrub(text: str, secrets: dict[str, str]) -> str:
    for value in secrets.values():
        if value and len(value) >= 3:
            text = text.replace(value, "***")
    return text
