"""The email adapter's receive side against a real Dovecot: UIDs, cursors, UIDVALIDITY, IDLE,
hostile mail, typed errors, TLS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console.domain import Direction
from console.errors import AuthenticationError, TransientError
from console.storage.accounts import add_account, get_cursor, set_cursor
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from services.importers.mailbody import MAX_TEXT_CHARS
from tests.contract.email.conftest import Dovecot, free_port, unique
from tests.contract.email.helpers import adapter, mail


def test_fetch_new_mail_by_uid_and_the_cursor_survives_a_restart(
    dovecot: Dovecot, mailbox: str, aio: Callable[..., Any], tmp_path: Path
) -> None:
    first, second = unique(), unique()
    dovecot.deliver(mailbox, mail(f"{first}@example.org"))
    dovecot.deliver(
        mailbox,
        mail(
            f"{second}@example.org",
            subject="Re: Kettle",
            in_reply_to=f"{first}@example.org",
            references=f"<{first}@example.org>",
            body="Still leaking.\n",
        ),
    )
    email = adapter(dovecot=dovecot, user=mailbox)

    result = aio(email.fetch({}))
    assert [m.external_id for m in result.messages] == [
        f"{first}@example.org",
        f"{second}@example.org",
    ]
    root, reply = result.messages
    assert root.author == "ann@example.org" and root.author_name == "Ann Example"
    assert root.direction == Direction.IN and root.account == "Support"
    assert root.subject == "Kettle" and root.text.startswith("Hello, my kettle leaks.")
    assert reply.in_reply_to == f"{first}@example.org" and reply.thread == f"{first}@example.org"
    assert reply.extra["imap_uid"] == 2
    assert result.cursor["last_uid"] == "2" and result.cursor["mailbox"] == "INBOX"
    assert int(result.cursor["uidvalidity"]) > 0
    assert not result.more

    # The cursor lives in the workspace; a new process (a new Workspace) goes on from it.
    ws = Workspace(tmp_path / "ws.sqlite")
    account = add_account(ws, channel="email", name="Support", kind="email")
    set_cursor(ws, account.id, result.cursor)
    ws.close()
    ws = Workspace(tmp_path / "ws.sqlite")
    cursor = get_cursor(ws, account.id)
    ws.close()
    assert cursor == result.cursor
    assert aio(email.fetch(cursor)).messages == []

    third = unique()
    dovecot.deliver(mailbox, mail(f"{third}@example.org", body="And now the lid.\n"))
    later = aio(email.fetch(cursor))
    assert [m.external_id for m in later.messages] == [f"{third}@example.org"]
    assert later.cursor["last_uid"] == "3"


def test_a_fetch_takes_at_most_batch_size_messages_and_says_more(
    dovecot: Dovecot, mailbox: str, aio: Callable[..., Any]
) -> None:
    ids = [unique() for _ in range(5)]
    for mid in ids:
        dovecot.deliver(mailbox, mail(f"{mid}@example.org"))
    email = adapter(dovecot=dovecot, user=mailbox, batch_size=2)
    seen: list[str] = []
    cursor: dict[str, str] = {}
    rounds = 0
    while True:
        result = aio(email.fetch(cursor))
        rounds += 1
        seen += [m.external_id.split("@")[0] for m in result.messages]
        cursor = result.cursor
        if not result.more:
            break
    assert seen == ids and rounds == 3


def test_a_changed_uidvalidity_rescans_and_ingest_adds_only_what_is_new(
    dovecot: Dovecot, mailbox: str, aio: Callable[..., Any], workspace: Workspace
) -> None:
    dovecot.create(mailbox, "Support")
    old = [mail(f"{unique()}@example.org", body=f"post {i}\n") for i in range(2)]
    for raw in old:
        dovecot.deliver(mailbox, raw, "Support")
    email = adapter(dovecot=dovecot, user=mailbox, imap_mailbox="Support")
    ingest = Ingestor(workspace)
    first = aio(email.fetch({}))
    assert ingest.ingest(first.messages).added == 2

    dovecot.recreate(mailbox, "Support")  # the server renumbers: new UIDVALIDITY, UIDs from 1
    for raw in old:
        dovecot.deliver(mailbox, raw, "Support")
    dovecot.deliver(mailbox, mail(f"{unique()}@example.org", body="new one\n"), "Support")
    again = aio(email.fetch(first.cursor))
    assert again.cursor["uidvalidity"] != first.cursor["uidvalidity"]
    assert len(again.messages) == 3 and again.cursor["last_uid"] == "3"
    report = ingest.ingest(again.messages)
    assert (report.added, report.skipped) == (1, 2)


def test_idle_wakes_up_when_mail_is_delivered(
    dovecot: Dovecot, mailbox: str, aio: Callable[..., Any]
) -> None:
    email = adapter(dovecot=dovecot, user=mailbox)
    cursor = aio(email.fetch({})).cursor

    async def scenario() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        waiting = asyncio.ensure_future(email.wait_for_new(20, cursor))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        started = loop.time()
        raw = mail(f"{unique()}@example.org")
        await loop.run_in_executor(None, dovecot.deliver, mailbox, raw)
        woke = await asyncio.wait_for(waiting, 10)
        return woke, loop.time() - started

    woke, after = aio(scenario())
    assert woke is True and after < 5
    assert email.idle_supported is True
    assert len(aio(email.fetch(cursor)).messages) == 1


def test_wait_for_new_returns_at_once_when_mail_came_since_the_cursor_and_times_out_quietly(
    dovecot: Dovecot, mailbox: str, aio: Callable[..., Any]
) -> None:
    email = adapter(dovecot=dovecot, user=mailbox)
    cursor = aio(email.fetch({})).cursor
    started = time.monotonic()
    assert aio(email.wait_for_new(0.5, cursor)) is False
    assert 0.4 < time.monotonic() - started < 3
    dovecot.deliver(mailbox, mail(f"{unique()}@example.org"))
    started = time.monotonic()
    assert aio(email.wait_for_new(20, cursor)) is True
    assert time.monotonic() - started < 2


def test_a_5_mb_mail_and_invalid_utf8_neither_crash_nor_stop_the_others(
    dovecot: Dovecot, mailbox: str, aio: Callable[..., Any]
) -> None:
    big_id, bad_id, broken_id, ok_id = unique(), unique(), unique(), unique()
    line = "The kettle leaks all over the counter again. " * 2 + "\n"
    big = mail(f"{big_id}@example.org", body=line * (5 * 1024 * 1024 // len(line)))
    assert len(big) > 5 * 1024 * 1024
    bad = mail(
        f"{bad_id}@example.org",
        subject="caf-E9",
        headers=(("Content-Type", "text/plain; charset=utf-8"),),
        body=b"Bytes \xff\xfe not UTF-8: caf\xe9 \xc3\x28\n",
    ).replace(b"Subject: caf-E9", b"Subject: caf\xe9")  # a raw 8-bit byte in a header
    no_sender = b"Subject: nobody\r\nMessage-ID: <" + broken_id.encode() + b"@x>\r\n\r\nhi\r\n"
    for raw in (big, bad, no_sender, mail(f"{ok_id}@example.org")):
        dovecot.deliver(mailbox, raw)
    email = adapter(dovecot=dovecot, user=mailbox)

    started = time.monotonic()
    result = aio(email.fetch({}))
    elapsed = time.monotonic() - started
    by_id = {m.external_id.split("@")[0]: m for m in result.messages}
    assert set(by_id) == {big_id, bad_id, ok_id}  # the mail without a sender is skipped
    assert result.cursor["last_uid"] == "4"  # ... and the cursor moves past it
    assert result.problems == [
        "INBOX UID 3: no sender address (From, Sender and Return-Path missing or unreadable)"
    ]
    assert len(by_id[big_id].text) <= MAX_TEXT_CHARS + 200
    assert by_id[big_id].extra.get("truncated")
    assert "\ufffd" in by_id[bad_id].text and "caf" in by_id[bad_id].text
    assert "\ufffd" in (by_id[bad_id].subject or "")
    assert elapsed < 10, f"fetching a 5 MB mail took {elapsed:.1f} s"


def test_a_wrong_password_is_an_authentication_error_that_does_not_quote_it(
    dovecot: Dovecot, mailbox: str, aio: Callable[..., Any]
) -> None:
    email = adapter(dovecot=dovecot, user=mailbox, secrets={"imap_password": "wrong-but-secret-pw"})
    with pytest.raises(AuthenticationError) as caught:
        aio(email.fetch({}))
    assert "wrong-but-secret-pw" not in str(caught.value)
    assert mailbox in str(caught.value)
    with pytest.raises(AuthenticationError):
        aio(email.test())


def test_refused_and_silent_servers_are_transient_errors(
    stalled_port: int, aio: Callable[..., Any]
) -> None:
    pw = {"imap_password": "pw"}
    refused = adapter(
        imap_host="127.0.0.1", imap_port=free_port(), imap_security="none", secrets=pw
    )
    with pytest.raises(TransientError, match="connection failed"):
        aio(refused.fetch({}))
    silent = adapter(
        imap_host="127.0.0.1", imap_port=stalled_port, imap_security="none", timeout_s=1, secrets=pw
    )
    started = time.monotonic()
    with pytest.raises(TransientError, match="no answer"):
        aio(silent.fetch({}))
    assert time.monotonic() - started < 4


def test_imap_over_tls_trusts_a_private_ca_only_when_told(
    dovecot: Dovecot, mailbox: str, aio: Callable[..., Any], ca_file: str
) -> None:
    dovecot.deliver(mailbox, mail(f"{unique()}@example.org"))
    trusted = adapter(
        dovecot=dovecot,
        user=mailbox,
        imap_port=dovecot.tls_port,
        imap_security="tls",
        tls_ca_file=ca_file,
    )
    assert len(aio(trusted.fetch({})).messages) == 1
    assert "INBOX has 1 message(s) (IDLE)" in aio(trusted.test())
    untrusted = adapter(
        dovecot=dovecot, user=mailbox, imap_port=dovecot.tls_port, imap_security="tls"
    )
    with pytest.raises(AuthenticationError, match="not trusted"):
        aio(untrusted.fetch({}))


def test_own_replies_found_in_the_inbox_are_skipped(
    dovecot: Dovecot, mailbox: str, aio: Callable[..., Any]
) -> None:
    email = adapter(dovecot=dovecot, user=mailbox)
    own = email.message_id("key-1").strip("<>")
    dovecot.deliver(mailbox, mail(own, sender="help@brand.example", to="ann@example.org"))
    theirs = unique()
    dovecot.deliver(mailbox, mail(f"{theirs}@example.org"))
    result = aio(email.fetch({}))
    assert [m.external_id for m in result.messages] == [f"{theirs}@example.org"]
