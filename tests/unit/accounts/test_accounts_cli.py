"""The account commands end to end through ``console.cli.main``: secrets go to the keyring only
(never the workspace file, never the output), listings, edits, tests and removal; and log-call."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import pytest

from console.cli import main
from console.storage import accounts as repo
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from services.secrets import SERVICE
from tests.helpers.memkeyring import MemoryKeyring
from tests.unit.accounts.test_accounts_repo import post

SECRET = "smtp-Pa55-word-77"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "ws.sqlite")


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, Any, str]:
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(argv))
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, out + err


def workspace_bytes(db: str) -> bytes:
    return b"".join(p.read_bytes() for p in Path(db).parent.glob(Path(db).name + "*"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_port() -> Iterator[int]:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        return AuthResult(success=getattr(data, "password", b"") == SECRET.encode(), handled=False)

    port = free_port()
    controller = Controller(
        Sink(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def add_email(capsys: pytest.CaptureFixture[str], db: str, port: int, *extra: str) -> Any:
    return run(
        capsys,
        "--db",
        db,
        "account",
        "add",
        "--channel",
        "email",
        "--name",
        "Support",
        "--kind",
        "email",
        "--handle",
        "help@brand.example",
        "--set",
        "address=help@brand.example",
        "--set",
        "smtp_host=127.0.0.1",
        "--set",
        f"smtp_port={port}",
        "--set",
        "smtp_security=none",
        "--set",
        "timeout_s=3",
        "--secret",
        "smtp_password",
        "--target-minutes",
        "90",
        *extra,
        stdin=SECRET + "\n",
    )


def test_add_stores_the_secret_in_the_keyring_only(
    capsys: pytest.CaptureFixture[str], db: str, memory_keyring: MemoryKeyring
) -> None:
    code, added, text = add_email(capsys, db, 2525)
    assert code == 0, text
    assert added["settings"]["smtp_port"] == 2525  # converted to the declared type
    assert added["secrets"] == {"imap_password": False, "smtp_password": True}
    assert added["response_target_s"] == 5400
    assert memory_keyring.store[(SERVICE, f"account:{added['id']}:smtp_password")] == SECRET
    assert SECRET not in text
    assert SECRET.encode() not in workspace_bytes(db)

    code, listing, text = run(capsys, "--db", db, "accounts", "--json")
    assert code == 0 and [a["name"] for a in listing] == ["Support"]
    row = listing[0]
    assert row["kind"] == "email" and row["conversations"] == 0 and row["adapter_available"]
    assert row["secrets"]["smtp_password"] is True and SECRET not in text


def test_secret_values_are_never_taken_from_argv(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, _, text = run(
        capsys,
        "--db",
        db,
        "account",
        "add",
        "--channel",
        "x",
        "--name",
        "Brand",
        "--kind",
        "x",
        "--secret",
        "bearer_token=abc123",
    )
    assert code == 2 and "never taken from the command line" in text
    code, _, text = run(
        capsys,
        "--db",
        db,
        "account",
        "add",
        "--channel",
        "email",
        "--name",
        "S",
        "--kind",
        "email",
        "--set",
        "address=a@b.example",
        "--secret",
        "api_key",
    )
    assert code == 2 and "not a secret of email accounts" in text
    code, _, text = run(
        capsys,
        "--db",
        db,
        "account",
        "add",
        "--channel",
        "email",
        "--name",
        "S",
        "--kind",
        "email",
        "--set",
        "address=a@b.example",
        "--set",
        "smtp_password=oops",
    )
    assert code == 2 and "unknown setting" in text
    code, listing, _ = run(capsys, "--db", db, "accounts")
    assert listing == []


def test_without_a_usable_keyring_nothing_is_written_and_the_message_says_why(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    code, _, text = add_email(capsys, db, 2525)
    assert code == 2
    assert "no keyring backend is available" in text and "PYTHON_KEYRING_BACKEND" in text
    assert SECRET not in text
    code, listing, text = run(capsys, "--db", db, "accounts")
    assert code == 0 and listing == [] and SECRET.encode() not in workspace_bytes(db)


def test_edit_changes_settings_and_secrets(
    capsys: pytest.CaptureFixture[str], db: str, memory_keyring: MemoryKeyring
) -> None:
    _, added, _ = add_email(capsys, db, 2525)
    code, edited, text = run(
        capsys,
        "--db",
        db,
        "account",
        "edit",
        "Support",
        "--set",
        "display_name=Brand Care",
        "--unset",
        "timeout_s",
        "--secret",
        "imap_password",
        "--forget-secret",
        "smtp_password",
        "--target-minutes",
        "none",
        "--business-hours",
        '{"timezone": "UTC", "week": {"mon": ["09:00-17:00"]}}',
        stdin="imap-pw-9\n",
    )
    assert code == 0, text
    assert edited["settings"]["display_name"] == "Brand Care"
    assert "timeout_s" not in edited["settings"]
    assert edited["secrets"] == {"imap_password": True, "smtp_password": False}
    assert edited["response_target_s"] is None
    assert edited["business_hours"]["week"] == {"mon": ["09:00-17:00"]}
    assert (SERVICE, f"account:{added['id']}:smtp_password") not in memory_keyring.store
    code, _, text = run(capsys, "--db", db, "account", "edit", "Support", "--set", "imap_port=x")
    assert code == 2 and "whole number" in text


def test_account_test_reports_success_and_failure_without_leaking_secrets(
    capsys: pytest.CaptureFixture[str], db: str, smtp_port: int
) -> None:
    add_email(capsys, db, smtp_port)
    code, result, text = run(capsys, "--db", db, "account", "test", "Support")
    assert code == 0, text
    assert result["ok"] is True
    assert f"SMTP 127.0.0.1:{smtp_port} ready (logged in)" in result["result"]

    closed = free_port()
    run(capsys, "--db", db, "account", "edit", "Support", "--set", f"smtp_port={closed}")
    code, result, text = run(capsys, "--db", db, "account", "test", "1")
    assert code == 1
    assert result["ok"] is False and result["error_kind"] == "TransientError"
    assert "connection failed" in result["error"] and "agent-console: error" in text
    assert SECRET not in text


def test_remove_refuses_an_account_in_use_then_forces_and_forgets_its_secrets(
    capsys: pytest.CaptureFixture[str], db: str, memory_keyring: MemoryKeyring
) -> None:
    ws = Workspace(db)
    Ingestor(ws).ingest([post("1", "ann"), post("2", "ann", account="Other")])
    brand = repo.get_account(ws, "Brand")
    repo.update_account(ws, brand.id, kind="x")
    ws.close()
    memory_keyring.store[(SERVICE, f"account:{brand.id}:bearer_token")] = "bt"
    code, _, text = run(capsys, "--db", db, "account", "remove", "Brand")
    assert code == 2 and "1 conversation" in text and "force" in text
    code, result, text = run(capsys, "--db", db, "account", "remove", "Brand", "--force")
    assert code == 0, text
    assert (result["conversations"], result["messages"]) == (1, 1)
    assert result["secrets_deleted"] == ["bearer_token"]
    assert result["retriaged_customers"] == 1
    assert not memory_keyring.store
    _, listing, _ = run(capsys, "--db", db, "accounts")
    assert [a["name"] for a in listing] == ["Other"]


def test_log_call_ingests_the_call_with_triage_and_prints_it(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    argv = [
        "--db",
        db,
        "log-call",
        "--account",
        "Hotline",
        "--number",
        "+44 20 7946 0958",
        "--name",
        "Ann Example",
        "--at",
        "2025-01-06T10:00:00+00:00",
        "--duration",
        "4:05",
        "--summary",
        "Kettle leaks again; replacement promised",
        "--agent",
        "Cara",
    ]
    code, call, text = run(capsys, *argv)
    assert code == 0, text
    assert call["added"] is True and call["number"] == "+442079460958"
    assert call["duration_s"] == 245 and call["agent"] == "Cara"
    assert call["started_at"] == "2025-01-06T10:00:00+00:00"
    assert "created phone account 'Hotline'" in text
    code, again, text = run(capsys, *argv)
    assert code == 0 and again["added"] is False and "already logged" in text

    out_argv = [
        "--db",
        db,
        "log-call",
        "--account",
        "Hotline",
        "--number",
        "+442079460958",
        "--direction",
        "out",
        "--at",
        "2025-01-06T11:00:00+00:00",
        "--summary",
        "Called back",
    ]
    code, back, text = run(capsys, *out_argv)
    assert code == 0 and back["conversation_id"] == call["conversation_id"]
    ws = Workspace(db)
    try:
        rows = ws.query(
            "SELECT direction, author, author_name, text, extra, customer_id FROM messages"
            " WHERE channel = 'phone' ORDER BY created_at"
        )
        conv = ws.query_one("SELECT * FROM conversations WHERE id = ?", (call["conversation_id"],))
        account = repo.get_account(ws, "Hotline")
    finally:
        ws.close()
    assert [r["direction"] for r in rows] == ["in", "out"]
    assert rows[0]["author_name"] == "Ann Example"
    assert json.loads(rows[0]["extra"])["duration_s"] == 245
    assert rows[0]["customer_id"] == rows[1]["customer_id"] == call["customer_id"]
    assert account.kind == "phone"
    assert conv is not None and conv["first_response_at"] is not None
    # Triage ran on the call (incremental hook): its deadline was computed from the phone target.
    code, _, text = run(
        capsys, "--db", db, "log-call", "--account", "Hotline", "--number", "  ", "--summary", "x"
    )
    assert code == 2 and "number is empty" in text
