"""Readable text out of one parsed email: the body part, charsets, HTML, attachments and size caps.

Owns the rules the email importer applies to a message body:

- prefer ``text/plain``; an HTML-only mail becomes plain text through ``nh3`` (scripts, styles and
  titles dropped with their content) and ``html2text`` (images ignored; nothing is fetched or
  rendered);
- a charset Python does not know, and 8-bit bytes under no charset (or us-ascii), fall back to
  UTF-8 with replacement, and bytes that are not valid in the declared charset become U+FFFD: a
  body never makes the import fail;
- a multipart whose boundary never appears keeps its whole body as the text;
- quoted-printable left undecoded (soft line breaks and ``=XX`` escapes in a part not declared as
  quoted-printable) is decoded;
- huge bodies are cut to :data:`MAX_TEXT_CHARS` characters (HTML to :data:`MAX_HTML_CHARS` before
  conversion, which is slow on megabytes), and what was cut is noted, in the notes and at the end
  of the text;
- attachments never reach the text: their names and types are listed instead.

:func:`extract_body` returns the text and the notes that go into the message's ``extra``.
"""

from __future__ import annotations

import quopri
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message, MIMEPart
from typing import Any

import html2text
import nh3

from console.textutil import clean_text

MAX_TEXT_CHARS = 100_000
MAX_HTML_CHARS = 300_000
MAX_ATTACHMENTS_LISTED = 50

_SOFT_BREAK = re.compile(r"=\r?\n")
_QP_ESCAPE = re.compile(r"=[0-9A-F]{2}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BLANK_RUN = re.compile(r"\n{3,}")
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968"})


@dataclass(slots=True)
class Body:
    """The text shown for a message and what the importer should record about how it was made."""

    text: str
    notes: dict[str, Any] = field(default_factory=dict)


def extract_body(msg: EmailMessage) -> Body:
    """The message's readable text plus notes (``html``, ``truncated``, ``attachments``...)."""
    notes: dict[str, Any] = {}
    part = _body_part(msg)
    text = ""
    if part is None:
        text = _broken_multipart_text(msg, notes)
    else:
        raw = _part_text(part, notes)
        if part.get_content_subtype() == "html":
            text = html_to_text(_cap(raw, MAX_HTML_CHARS, notes, "html_chars"))
            notes["html"] = True
        else:
            text = undo_stray_quoted_printable(raw, part)
    text = _tidy(text)
    text = _html_cut_marker(_cap(text, MAX_TEXT_CHARS, notes, "chars"), notes)
    attachments = list_attachments(msg, part)
    if attachments:
        notes["attachments"] = attachments[:MAX_ATTACHMENTS_LISTED]
        if len(attachments) > MAX_ATTACHMENTS_LISTED:
            notes["attachments_not_listed"] = len(attachments) - MAX_ATTACHMENTS_LISTED
    return Body(text, notes)


def html_to_text(html: str) -> str:
    """Plain text from untrusted HTML; nothing remote is loaded and no script survives."""
    cleaned = nh3.clean(html, clean_content_tags={"script", "style", "title"})
    converter = html2text.HTML2Text()
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.inline_links = False  # links as numbered footnotes keep sentences readable
    converter.body_width = 0  # no hard wrapping: the views wrap
    converter.unicode_snob = True
    return str(converter.handle(cleaned))


def undo_stray_quoted_printable(text: str, part: Message) -> str:
    """Decode quoted-printable that a sender forgot to declare (soft breaks and ``=XX`` left in)."""
    if (part.get("Content-Transfer-Encoding") or "").strip().lower() == "quoted-printable":
        return text
    if len(_SOFT_BREAK.findall(text)) < 2 or not _QP_ESCAPE.search(text):
        return text
    charset = part.get_content_charset() or "utf-8"
    decoded = quopri.decodestring(text.encode("utf-8", "replace"))
    return _decode(decoded, charset)


def list_attachments(msg: Message, body: Message | None) -> list[dict[str, str | None]]:
    """Name and type of every part that is not the body nor one of its alternatives."""
    found: list[dict[str, str | None]] = []
    _collect_attachments(msg, body, found)
    return found


def fix_text(value: str) -> str:
    """A string safe to store: no lone surrogates (from undecodable header bytes), no NULs."""
    if _SURROGATE.search(value):
        # Header bytes that were not ASCII arrive as surrogate escapes; most are UTF-8.
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        value = _SURROGATE.sub("\ufffd", value)
    return clean_text(value)


# -- internals ---------------------------------------------------------------------------------


def _body_part(msg: EmailMessage) -> MIMEPart | None:
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except (KeyError, ValueError, TypeError, AttributeError):
        part = None
    if part is not None:
        return part
    # Some senders mark their only text part as an attachment or use an odd multipart type.
    for candidate in msg.walk():
        if candidate.get_content_maintype() == "text" and not _is_attachment(candidate):
            return candidate
    return None


def _part_text(part: Message, notes: dict[str, Any]) -> str:
    if (part.get_content_charset() or "us-ascii") in _ASCII_LABELS:
        # No charset (or us-ascii) yet 8-bit bytes: the stdlib would turn every one of them into
        # U+FFFD; they are nearly always UTF-8, so only bytes invalid in UTF-8 become U+FFFD.
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and not payload.isascii():
            notes["charset_fallback"] = part.get_param("charset") or "undeclared"
            return _decode(payload, "utf-8")
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, ValueError, TypeError, AssertionError):
        # An unknown charset label raises LookupError (channels.md §5): read the bytes as UTF-8.
        notes["charset_fallback"] = part.get_param("charset") or "unknown"
        payload = part.get_payload(decode=True)
        return _decode(payload if isinstance(payload, bytes) else b"", "utf-8")
    if isinstance(content, bytes):
        return _decode(content, part.get_content_charset() or "utf-8")
    return str(content)


def _broken_multipart_text(msg: Message, notes: dict[str, Any]) -> str:
    """The body of a multipart whose boundary never appears (the stdlib keeps it as one string)."""
    if msg.get_content_maintype() != "multipart" or msg.is_multipart():
        return ""
    payload = msg.get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload.strip():
        return ""
    notes["broken_multipart"] = True
    return _decode(payload, msg.get_content_charset() or "utf-8")


def _decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _tidy(text: str) -> str:
    text = fix_text(text).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUN.sub("\n\n", text).strip()


def _cap(text: str, limit: int, notes: dict[str, Any], what: str) -> str:
    if len(text) <= limit:
        return text
    truncated = notes.setdefault("truncated", {})
    truncated[what] = len(text)
    if what != "chars":
        truncated[f"{what}_kept"] = limit
        return text[:limit]
    truncated["kept"] = limit
    return text[:limit] + f"\n\n[… {len(text) - limit:,} more characters not imported]"


def _html_cut_marker(text: str, notes: dict[str, Any]) -> str:
    """Say so in the text when the HTML was cut before conversion (its text may be short)."""
    truncated = notes.get("truncated", {})
    if "html_chars" not in truncated:
        return text
    dropped = truncated["html_chars"] - truncated["html_chars_kept"]
    return text + f"\n\n[… {dropped:,} more characters of HTML not imported]"


def _is_attachment(part: Message) -> bool:
    try:
        return bool(part.is_attachment())  # type: ignore[attr-defined]
    except (ValueError, TypeError, AttributeError):
        return False


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except (ValueError, TypeError, LookupError, AttributeError):
        return None
    return fix_text(str(name)) if name else None


def _collect_attachments(
    part: Message, body: Message | None, found: list[dict[str, str | None]]
) -> None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        # A forwarded mail is listed, not opened: its text is not this customer's words.
        inner = part.get_payload()
        subject = None
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            subject = inner[0].get("Subject")
        found.append(
            {"name": _filename(part) or fix_text(str(subject or "")) or None, "type": ctype}
        )
        return
    if part.is_multipart():
        for child in part.get_payload():
            if isinstance(child, Message):
                _collect_attachments(child, body, found)
        return
    if part is body:
        return
    name = _filename(part)
    is_alternative_text = ctype in ("text/plain", "text/html") and not name
    if is_alternative_text and not _is_attachment(part):
        return
    found.append({"name": name, "type": ctype})
