"""The accounts dialog and the call dialog, offscreen: secrets land in the keyring (not the
workspace), Test reports success and typed failures inline without blocking, a missing keyring is
announced and nothing is written, removal asks first."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import keyring
import keyring.backends.fail
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from console.domain import Channel, Direction, IncomingMessage
from console.storage import accounts as repo
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from services.channels.phone import ingest_call
from services.secrets import SERVICE, SecretStore
from tests.helpers.aio import until
from tests.helpers.memkeyring import MemoryKeyring
from widgets.accounts_dialog import STORED, AccountsDialog
from widgets.call_dialog import CallDialog

SECRET = "dialog-smtp-Pa55"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_port() -> Iterator[int]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        return AuthResult(success=getattr(data, "password", b"") == SECRET.encode(), handled=False)

    port = free_port()
    controller = Controller(
        Sink(), hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def dialog(qtbot: Any, arun: Callable[..., Any], workspace: Workspace) -> Iterator[AccountsDialog]:
    box = AccountsDialog(
        workspace, SecretStore(), lambda: httpx.AsyncClient(timeout=5), test_timeout=10
    )
    qtbot.addWidget(box)
    box.show()
    arun(until(lambda: box.keyring_checked))
    yield box
    box.close()


def field(box: AccountsDialog, name: str) -> Any:
    return box.setting_widgets[name][1]


def secret(box: AccountsDialog, name: str) -> QLineEdit:
    return box.secret_widgets[name][1]


def fill_email(box: AccountsDialog, port: int, password: str = SECRET) -> None:
    box.new_account()
    box.channel.setCurrentIndex(box.channel.findData("email"))
    assert box.kind.itemData(0) == "email"  # the real adapter first, the sandbox after
    box.kind.setCurrentIndex(box.kind.findData("email"))
    box.name.setText("Support")
    box.handle.setText("help@brand.example")
    box.target.setValue(90)
    field(box, "address").setText("help@brand.example")
    field(box, "smtp_host").setText("127.0.0.1")
    field(box, "smtp_port").setText(str(port))
    security = field(box, "smtp_security")
    security.setCurrentIndex(security.findData("none"))
    field(box, "timeout_s").setText("3")
    secret(box, "smtp_password").setText(password)


def workspace_bytes(ws: Workspace) -> bytes:
    ws.conn.execute("PRAGMA wal_checkpoint(FULL)")
    return b"".join(p.read_bytes() for p in Path(ws.path).parent.glob(ws.path.name + "*"))


def test_adding_an_account_puts_the_secret_in_the_keyring_and_not_in_the_workspace(
    arun: Callable[..., Any],
    dialog: AccountsDialog,
    workspace: Workspace,
    memory_keyring: MemoryKeyring,
) -> None:
    fill_email(dialog, 2525)
    assert dialog.kind.currentData() == "email"
    assert secret(dialog, "smtp_password").echoMode() == QLineEdit.EchoMode.Password
    account = arun(dialog.save())
    assert account is not None and "Saved" in dialog.status.text()
    stored = repo.get_account(workspace, account.id)
    assert stored.kind == "email" and stored.response_target_s == 90 * 60
    assert stored.settings["smtp_port"] == 2525 and "smtp_password" not in stored.settings
    assert memory_keyring.store[(SERVICE, f"account:{account.id}:smtp_password")] == SECRET
    assert SECRET.encode() not in workspace_bytes(workspace)
    assert dialog.list.count() == 1

    # Shown again: the field says a value is stored, and holds nothing.
    dialog.show_account(stored)
    arun(until(lambda: secret(dialog, "smtp_password").placeholderText() == STORED))
    assert secret(dialog, "smtp_password").text() == ""
    assert secret(dialog, "imap_password").placeholderText() == "not set"
    assert not dialog.channel.isEnabled()
    # Saving without retyping keeps the stored secret.
    field(dialog, "display_name").setText("Brand Care")
    arun(dialog.save())
    assert memory_keyring.store[(SERVICE, f"account:{account.id}:smtp_password")] == SECRET
    assert repo.get_account(workspace, account.id).settings["display_name"] == "Brand Care"


def test_invalid_values_are_shown_inline_and_nothing_is_saved(
    arun: Callable[..., Any], dialog: AccountsDialog, workspace: Workspace
) -> None:
    fill_email(dialog, 2525)
    field(dialog, "address").setText("")
    assert arun(dialog.save()) is None
    assert "missing required setting(s): address" in dialog.status.text()
    field(dialog, "address").setText("help@brand.example")
    field(dialog, "smtp_port").setText("many")
    assert arun(dialog.save()) is None and "whole number" in dialog.status.text()
    assert repo.list_accounts(workspace) == []


def test_the_test_button_shows_success_and_typed_failure_inline(
    arun: Callable[..., Any], qtbot: Any, dialog: AccountsDialog, smtp_port: int
) -> None:
    fill_email(dialog, smtp_port)
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert not dialog.test_button.isEnabled() and dialog.status.text() == "Testing…"
    arun(until(lambda: dialog.test_button.isEnabled(), timeout=10))
    assert dialog.status.text().startswith("✓ ")
    assert f"SMTP 127.0.0.1:{smtp_port} ready (logged in)" in dialog.status.text()

    secret(dialog, "smtp_password").setText("wrong-password-typed")
    assert arun(dialog.run_test()) is False
    assert "AuthenticationError" in dialog.status.text()
    assert "wrong-password-typed" not in dialog.status.text()

    field(dialog, "smtp_port").setText(str(free_port()))
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    arun(until(lambda: dialog.test_button.isEnabled(), timeout=10))
    assert "✗ Test failed (TransientError)" in dialog.status.text()
    assert "connection failed" in dialog.status.text()


def test_a_saved_account_is_tested_with_its_stored_secret(
    arun: Callable[..., Any], dialog: AccountsDialog, smtp_port: int
) -> None:
    fill_email(dialog, smtp_port)
    account = arun(dialog.save())
    assert account is not None and secret(dialog, "smtp_password").text() == ""
    assert arun(dialog.run_test()) is True, dialog.status.text()


def test_a_phone_account_tests_without_any_network(
    arun: Callable[..., Any], dialog: AccountsDialog
) -> None:
    dialog.new_account()
    dialog.channel.setCurrentIndex(dialog.channel.findData("phone"))
    dialog.kind.setCurrentIndex(dialog.kind.findData("phone"))
    dialog.name.setText("Hotline")
    assert not dialog.secret_widgets and not dialog.setting_widgets
    assert arun(dialog.run_test()) is True
    assert "logged by agents" in dialog.status.text()


def test_without_a_keyring_a_banner_says_what_to_install_and_no_secret_is_written(
    arun: Callable[..., Any], qtbot: Any, qloop: Any, workspace: Workspace
) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    box = AccountsDialog(workspace, SecretStore(), httpx.AsyncClient)
    qtbot.addWidget(box)
    box.show()
    arun(until(lambda: box.banner.isVisible()))
    assert "Secrets cannot be stored" in box.banner.text()
    assert "PYTHON_KEYRING_BACKEND" in box.banner.text()
    fill_email(box, 2525)
    assert arun(box.save()) is None
    assert "nowhere safe" in box.status.text()
    assert repo.list_accounts(workspace) == []
    box.close()


def test_remove_asks_first_and_needs_force_for_an_account_with_conversations(
    arun: Callable[..., Any],
    qtbot: Any,
    dialog: AccountsDialog,
    workspace: Workspace,
    memory_keyring: MemoryKeyring,
) -> None:
    Ingestor(workspace).ingest(
        [
            IncomingMessage(
                channel=Channel.X,
                account="Brand",
                external_id="1",
                direction=Direction.IN,
                author="ann",
                text="help",
                created_at=1_700_000_000,
            )
        ]
    )
    dialog.reload()
    brand = repo.get_account(workspace, "Brand")
    assert dialog.current is not None and dialog.current.id == brand.id
    memory_keyring.store[(SERVICE, f"account:{brand.id}:bearer_token")] = "bt"
    repo.update_account(workspace, brand.id, kind="x")
    dialog.show_account(repo.get_account(workspace, brand.id))
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert dialog.confirm.isVisible() and "1 conversation" in dialog.confirm_label.text()
    assert arun(dialog.remove()) is None and "force" in dialog.status.text()
    assert repo.get_account(workspace, brand.id)

    dialog.force.setChecked(True)
    removed_signals: list[Any] = []
    dialog.removed.connect(removed_signals.append)
    removed = arun(dialog.remove())
    assert removed is not None and removed.conversations == 1
    assert removed_signals == [removed]
    assert repo.list_accounts(workspace) == [] and not memory_keyring.store
    assert dialog.current is None and dialog.list.count() == 0


def test_the_call_dialog_returns_checked_values_and_a_storable_message(
    qtbot: Any, qloop: Any, workspace: Workspace
) -> None:
    now = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
    box = CallDialog(["Hotline"], agent="Cara", now=now)
    qtbot.addWidget(box)
    got: list[Any] = []
    box.submitted.connect(got.append)
    box.number.setText("+44 20 7946 0958")
    box.accept()
    assert not got and "summary is empty" in box.problem.text()
    box.summary.setPlainText("Kettle leaks; replacement promised")
    box.duration.setText("ten")
    box.accept()
    assert not got and "duration" in box.problem.text()
    box.duration.setText("2:30")
    box.name.setText("Ann Example")
    box.accept()
    (values,) = got
    assert values.account == "Hotline" and values.duration_s == 150 and values.agent == "Cara"
    assert values.started_at == int(now.timestamp()) and values.direction == "in"
    message = values.message()
    assert message.author == "+442079460958" and message.author_name == "Ann Example"
    logged = ingest_call(workspace, message)
    assert logged.added and logged.conversation_id is not None


def test_closing_the_dialog_cancels_its_work_even_with_a_shared_task_owner(
    arun: Callable[..., Any], qtbot: Any, workspace: Workspace
) -> None:
    from widgets.bridge import TaskOwner

    owner = TaskOwner()
    failures: list[Any] = []
    owner.failed.connect(lambda name, exc: failures.append((name, exc)))
    box = AccountsDialog(workspace, SecretStore(), httpx.AsyncClient, owner)
    qtbot.addWidget(box)
    box.show()
    arun(until(lambda: box.keyring_checked))
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        fill_email(box, silent.getsockname()[1])
        box.start_test()
        arun(until(lambda: owner.running == 1))
        box.close()
        arun(until(lambda: owner.running == 0, timeout=3))
    assert failures == []
