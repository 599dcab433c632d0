"""Building email adapters and mails for the contract tests."""

from __future__ import annotations

from typing import Any

from console.domain import Channel
from services.channels.base import AccountConfig
from services.channels.email import EmailAdapter
from tests.contract.email.conftest import PASSWORD, SMTP_PASSWORD, SMTP_USER, Dovecot, SmtpSink


def adapter(
    *,
    dovecot: Dovecot | None = None,
    user: str | None = None,
    smtp: SmtpSink | None = None,
    smtp_security: str = "none",
    secrets: dict[str, str] | None = None,
    **settings: Any,
) -> EmailAdapter:
    values: dict[str, Any] = {"address": "help@brand.example", "timeout_s": 5}
    given: dict[str, str] = {}
    if dovecot is not None:
        values.update(
            imap_host=dovecot.host, imap_port=dovecot.port, imap_security="none", imap_username=user
        )
        given["imap_password"] = PASSWORD
    if smtp is not None:
        values.update(
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_security=smtp_security,
            smtp_username=SMTP_USER,
        )
        given["smtp_password"] = SMTP_PASSWORD
    values.update(settings)
    given.update(secrets or {})
    config = AccountConfig(
        id=7,
        name="Support",
        channel=Channel.EMAIL,
        kind="email",
        handle="help@brand.example",
        settings=values,
        secrets=given,
    )
    return EmailAdapter(config, None)


def mail(
    message_id: str,
    *,
    sender: str = "Ann Example <ann@example.org>",
    to: str = "help@brand.example",
    subject: str = "Kettle",
    in_reply_to: str | None = None,
    references: str | None = None,
    body: bytes | str = "Hello, my kettle leaks.\n",
    headers: tuple[tuple[str, str], ...] = (),
    date: str = "Mon, 08 Jan 2024 10:00:00 +0000",
) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}"]
    lines.append(f"Message-ID: <{message_id}>")
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append(f"References: {references}")
    lines += [f"{k}: {v}" for k, v in headers]
    data = body.encode("utf-8") if isinstance(body, str) else body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + data.replace(b"\n", b"\r\n")
