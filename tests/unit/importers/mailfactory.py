"""Hand-made mail for the email importer tests: raw RFC 5322 bytes and mboxrd files."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

DEFAULT_DATE = "Mon, 08 Jan 2024 10:00:00 +0000"


def mail(
    message_id: str | None = "<m1@example.org>",
    *,
    sender: str = "Ann Example <ann@example.org>",
    to: str | None = "help@brand.example",
    subject: str | None = "Kettle",
    date: str | None = DEFAULT_DATE,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    content_type: str | None = None,
    transfer_encoding: str | None = None,
    body: bytes | str = b"Hello, my kettle leaks.\n",
) -> bytes:
    """One message; a None argument leaves its header out."""
    lines: list[str] = []
    if sender is not None:
        lines.append(f"From: {sender}")
    if to is not None:
        lines.append(f"To: {to}")
    if subject is not None:
        lines.append(f"Subject: {subject}")
    if date is not None:
        lines.append(f"Date: {date}")
    if message_id is not None:
        lines.append(f"Message-ID: {message_id}")
    if in_reply_to is not None:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references is not None:
        lines.append(f"References: {references}")
    for name, value in headers:
        lines.append(f"{name}: {value}")
    if content_type is not None:
        lines.append("MIME-Version: 1.0")
        lines.append(f"Content-Type: {content_type}")
    if transfer_encoding is not None:
        lines.append(f"Content-Transfer-Encoding: {transfer_encoding}")
    head = "\n".join(lines).encode("utf-8")
    data = body.encode("utf-8") if isinstance(body, str) else body
    return head + b"\n\n" + data


def mbox(*mails: bytes, crlf: bool = False, separator_dates: Iterable[str] = ()) -> bytes:
    """An mboxrd file: a ``From `` line before each mail, body ``>*From `` lines quoted once."""
    dates = list(separator_dates)
    out = bytearray()
    for index, data in enumerate(mails):
        when = dates[index] if index < len(dates) else "Mon Jan  8 10:00:00 2024"
        sender = re.search(rb"^From: .*?<?([^<>\s]+@[^<>\s]+)>?\s*$", data, re.M)
        address = sender.group(1).decode() if sender else "MAILER-DAEMON"
        out += f"From {address} {when}\n".encode()
        for line in data.rstrip(b"\n").split(b"\n"):
            out += (b">" + line if re.match(rb"^>*From ", line) else line) + b"\n"
        out += b"\n"
    data = bytes(out)
    return data.replace(b"\n", b"\r\n") if crlf else data


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
