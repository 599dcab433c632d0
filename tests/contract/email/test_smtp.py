"""The email adapter's send side against real SMTP servers (aiosmtpd: plain with AUTH, STARTTLS,
implicit TLS) and reconciling against a real Dovecot Sent folder."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Callable
from typing import Any

import pytest

from console.errors import (
    AuthenticationError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
)
from services.channels.base import OutgoingReply
from tests.contract.email.conftest import Dovecot, Recorder, SmtpSink, free_port
from tests.contract.email.helpers import adapter


def reply(key: str = "0f3c9a7e-key", **changes: Any) -> OutgoingReply:
    values: dict[str, Any] = {
        "idempotency_key": key,
        "text": "Hi Ann,\nsorry about the kettle: a new one is on its way.\n^CP",
        "mode": "private",
        "recipient": "ann@example.org",
        "in_reply_to": "orig-2@example.org",
        "subject": "Kettle",
        "references": ("orig-1@example.org",),
    }
    values.update(changes)
    return OutgoingReply(**values)


def received(sink: SmtpSink) -> email.message.EmailMessage:
    return email.message_from_bytes(sink.last().content, policy=email.policy.default)  # type: ignore[return-value]


def test_a_reply_arrives_threaded_with_our_message_id(
    smtp_server: tuple[SmtpSink, Recorder], aio: Callable[..., Any]
) -> None:
    sink, _ = smtp_server
    result = aio(adapter(smtp=sink, display_name="Brand Support").send(reply()))
    assert result.remote_id == "ac.0f3c9a7e-key@brand.example"
    envelope = sink.last()
    assert envelope.mail_from == "help@brand.example"
    assert envelope.rcpt_tos == ["ann@example.org"]
    msg = received(sink)
    assert msg["Message-ID"] == "<ac.0f3c9a7e-key@brand.example>"
    assert msg["In-Reply-To"] == "<orig-2@example.org>"
    assert msg["References"] == "<orig-1@example.org> <orig-2@example.org>"
    assert msg["Subject"] == "Re: Kettle"
    assert msg["From"] == "Brand Support <help@brand.example>"
    assert msg["To"] == "ann@example.org"
    assert msg["Date"]
    body = msg.get_body(("plain",))
    assert body is not None and "a new one is on its way" in body.get_content()


def test_subject_and_references_edge_cases(
    smtp_server: tuple[SmtpSink, Recorder], aio: Callable[..., Any]
) -> None:
    sink, _ = smtp_server
    email_adapter = adapter(smtp=sink)
    aio(
        email_adapter.send(
            reply(
                "k2",
                subject="RE: Kettle",
                references=("orig-1@example.org", "orig-2@example.org"),
                text="Grüße, ça va? 😀",
            )
        )
    )
    msg = received(sink)
    assert msg["Subject"] == "RE: Kettle"  # never "Re: RE: ..."
    assert msg["References"] == "<orig-1@example.org> <orig-2@example.org>"  # no duplicate
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Grüße, ça va? 😀"
    # A mail the importer had to give a made-up id is not referenced; a new thread starts.
    aio(email_adapter.send(reply("k3", in_reply_to="abc@agent-console.invalid", references=())))
    msg = received(sink)
    assert msg["In-Reply-To"] is None and msg["References"] is None


@pytest.mark.parametrize("smtp_server", ["starttls", "tls"], indirect=True)
def test_starttls_and_implicit_tls_with_auth(
    smtp_server: tuple[SmtpSink, Recorder],
    aio: Callable[..., Any],
    ca_file: str,
    request: pytest.FixtureRequest,
) -> None:
    sink, _ = smtp_server
    security = request.node.callspec.params["smtp_server"]
    email_adapter = adapter(smtp=sink, smtp_security=security, tls_ca_file=ca_file)
    aio(email_adapter.send(reply(f"key-{security}")))
    assert received(sink)["Message-ID"] == f"<ac.key-{security}@brand.example>"
    assert "logged in" in aio(email_adapter.test())


def test_starttls_refuses_a_server_without_it(
    smtp_server: tuple[SmtpSink, Recorder], aio: Callable[..., Any]
) -> None:
    sink, _ = smtp_server  # plain: no STARTTLS offered
    with pytest.raises(AuthenticationError, match="does not offer STARTTLS"):
        aio(adapter(smtp=sink, smtp_security="starttls").send(reply()))
    assert not sink.messages


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_an_untrusted_certificate_is_refused(
    smtp_server: tuple[SmtpSink, Recorder], aio: Callable[..., Any]
) -> None:
    sink, _ = smtp_server
    with pytest.raises(AuthenticationError, match="not trusted"):
        aio(adapter(smtp=sink, smtp_security="starttls").send(reply()))
    assert not sink.messages


def test_a_refused_login_is_an_authentication_error_without_the_password(
    smtp_server: tuple[SmtpSink, Recorder], aio: Callable[..., Any]
) -> None:
    sink, _ = smtp_server
    email_adapter = adapter(smtp=sink, secrets={"smtp_password": "wrong-smtp-secret"})
    with pytest.raises(AuthenticationError) as caught:
        aio(email_adapter.send(reply()))
    assert "wrong-smtp-secret" not in str(caught.value) and "535" in str(caught.value)
    assert not sink.messages


@pytest.mark.parametrize(
    ("where", "answer", "error"),
    [
        ("rcpt", "550 5.1.1 No such user", RejectedError),
        ("rcpt", "450 4.2.0 Mailbox busy", TransientError),
        ("data", "554 5.7.1 Spam detected", RejectedError),
        ("data", "451 4.3.0 Try again later", TransientError),
    ],
)
def test_smtp_refusals_are_typed_by_their_class(
    smtp_server: tuple[SmtpSink, Recorder],
    aio: Callable[..., Any],
    where: str,
    answer: str,
    error: type[Exception],
) -> None:
    sink, handler = smtp_server
    setattr(handler, f"{where}_reply", answer)
    with pytest.raises(error, match=answer.split()[0]):
        aio(adapter(smtp=sink).send(reply()))


def test_no_answer_after_data_is_an_unknown_outcome(
    smtp_server: tuple[SmtpSink, Recorder], aio: Callable[..., Any]
) -> None:
    sink, handler = smtp_server
    handler.data_delay = 3
    started = time.monotonic()
    with pytest.raises(UnknownOutcomeError, match="after the message was sent"):
        aio(adapter(smtp=sink, timeout_s=1).send(reply()))
    assert time.monotonic() - started < 3


def test_refused_connections_and_silent_servers_are_transient(
    stalled_port: int, aio: Callable[..., Any]
) -> None:
    pw = {"smtp_password": "pw"}
    refused = adapter(
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none", secrets=pw
    )
    with pytest.raises(TransientError, match="connection failed"):
        aio(refused.send(reply()))
    silent = adapter(
        smtp_host="127.0.0.1", smtp_port=stalled_port, smtp_security="none", timeout_s=1, secrets=pw
    )
    started = time.monotonic()
    with pytest.raises(TransientError):
        aio(silent.send(reply()))
    assert time.monotonic() - started < 4


def test_unusable_recipients_are_rejected_before_any_connection(aio: Callable[..., Any]) -> None:
    email_adapter = adapter(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none")
    for bad in (None, "", "no-at-sign", "ann@example.org\r\nBcc: all@example.org", "a@b, c@d"):
        with pytest.raises(RejectedError):
            aio(email_adapter.send(reply(recipient=bad)))


def test_find_sent_finds_a_reply_in_the_sent_folder_by_its_message_id(
    dovecot: Dovecot,
    mailbox: str,
    smtp_server: tuple[SmtpSink, Recorder],
    aio: Callable[..., Any],
) -> None:
    sink, _ = smtp_server
    dovecot.create(mailbox, "Sent")
    email_adapter = adapter(dovecot=dovecot, user=mailbox, smtp=sink, imap_sent_mailbox="Sent")
    sent = aio(email_adapter.send(reply("reply-1")))
    found = aio(email_adapter.find_sent(reply("reply-1")))
    assert found is not None and found.remote_id == sent.remote_id
    assert "Sent" in found.detail
    assert aio(email_adapter.find_sent(reply("never-sent"))) is None

    # The copy in Sent is marked read and is the very message that was sent.
    client = dovecot.imap(mailbox)
    try:
        client.select("Sent")
        _, data = client.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    finally:
        client.logout()
    flags_and_header = b" ".join(part if isinstance(part, bytes) else part[1] for part in data)
    assert b"\\Seen" in bytes(data[0][0]) and b"<ac.reply-1@brand.example>" in flags_and_header
    # Incoming sync never brings our own reply back as a customer message.
    assert aio(email_adapter.fetch({})).messages == []


def test_find_sent_looks_in_the_inbox_when_there_is_no_sent_folder(
    dovecot: Dovecot, mailbox: str, aio: Callable[..., Any]
) -> None:
    email_adapter = adapter(dovecot=dovecot, user=mailbox)
    built = email_adapter.build_reply(reply("bcc-copy"))
    dovecot.deliver(mailbox, built.as_bytes())  # e.g. a server that copies outgoing mail back
    found = aio(email_adapter.find_sent(reply("bcc-copy")))
    assert found is not None and found.remote_id == "ac.bcc-copy@brand.example"


def test_test_reports_both_sides(
    dovecot: Dovecot,
    mailbox: str,
    smtp_server: tuple[SmtpSink, Recorder],
    aio: Callable[..., Any],
) -> None:
    line = aio(adapter(dovecot=dovecot, user=mailbox, smtp=smtp_server[0]).test())
    assert line.startswith("help@brand.example: IMAP: INBOX has 0 message(s) (IDLE)")
    assert "SMTP 127.0.0.1" in line and "logged in" in line
