"""The mbox and .eml importers: RFC 5322 mail into :class:`~console.domain.IncomingMessage` records.

``EmailParser("mbox")`` reads an mboxrd file (``From `` separator lines, ``>From `` unquoted, CRLF
or LF); ``EmailParser("eml")`` reads one ``.eml`` file or every ``.eml`` file of a folder (other
files there, except hidden ones, are reported as skipped).

Threading (ingest does the rest, see ``console.storage.ingest``):

- ``external_id`` is the Message-ID without ``<>``; a mail without one gets a stable id made from a
  hash of its bytes, so importing it again still adds nothing. Two copies of one Message-ID are
  one message (lists deliver the same mail twice);
- ``in_reply_to`` is In-Reply-To, or the last References id when In-Reply-To is missing;
- ``thread`` is the root: the first References id, else In-Reply-To, else None (a root). Replies
  whose parent is not in the file share their root and so still land in one conversation. When
  the References of one thread disagree, its messages share the root of its earliest message
  (``services.importers.mailthreads``);
- only ids shaped ``left@right`` count as references: some mailers write ``In-Reply-To: <yes>``,
  which would otherwise chain unrelated threads together.

Our side of the conversation (the account) is the ``account`` argument when given. Otherwise every
thread gets one account, so that a thread is never split between two: the mailing list most of its
messages came through (List-Post, else List-Id, else a To/Cc address seen as a list elsewhere in
the file), else its main recipient (``mailthreads``). Mail from the account address itself is
outbound, addressed to its first recipient. Threads and accounts take one extra pass over the file
that reads headers only.

A message that cannot be read becomes a :class:`~services.importers.ParseProblem` at the line of
its ``From `` separator (1 for an .eml file, whose name is in the message) and the rest import.
"""

from __future__ import annotations

import email
import email.errors
import email.parser
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

from console.domain import Channel, Direction, IncomingMessage
from console.errors import ImportFormatError
from services.importers import ParseProblem
from services.importers.mailbody import extract_body, fix_text
from services.importers.mailthreads import Facts, Placement, plan_threads

SYNTHETIC_ID_DOMAIN = "agent-console.invalid"
MAX_REFERENCES_KEPT = 50

_MSG_ID = re.compile(r"<([^<>\s]+)>")
_REF_ID = re.compile(r"<([^<>@\s]+@[^<>@\s]+)>")
_BARE_ID = re.compile(r"^[^<>@\s]+@[^<>@\s]+$")
_MAILTO = re.compile(r"<mailto:([^>?\s]+@[^>?\s]+)", re.IGNORECASE)
_LIST_ID = re.compile(r"<([^<>\s]+\.[^<>\s]+)>\s*$")
_FROM_LINE = re.compile(rb"^From (\S*)\s+(.*?)\s*$")
_QUOTED_FROM = re.compile(rb"^>+From ")
_SPACE = re.compile(r"\s+")
_ASCTIME = re.compile(r"(\w{3})\s+(\d{1,2})\s+(\d{1,2}:\d{2}(?::\d{2})?)\s+(\d{4})")

# What the stdlib's lenient parser can still raise on a hostile message.
_PARSE_ERRORS = (
    email.errors.MessageError,
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    UnicodeError,
    AssertionError,
)


@dataclass(slots=True)
class RawMail:
    """One message's bytes (LF line endings, mboxrd quoting undone) and where it came from."""

    line: int
    data: bytes
    mtime: int
    source: str | None = None
    envelope_sender: str | None = None
    envelope_date: int | None = None
    mtime_source: str = "file modification time"  # what ``mtime`` is, for a mail with no Date


@dataclass(slots=True)
class Envelope:
    """The header facts the importer needs, read once per message."""

    message_id: str
    synthesized_id: bool
    in_reply_to: str | None
    thread: str | None
    references: list[str]
    sender: tuple[str, str] | None  # (display name, lower-cased address)
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    list_address: str | None
    date: int | None

    def facts(self) -> Facts:
        return Facts(
            message_id=self.message_id,
            linked=(*self.references, *([self.in_reply_to] if self.in_reply_to else [])),
            thread=self.thread,
            date=self.date,
            sender=self.sender[1] if self.sender else None,
            recipients=tuple(_dedupe(self.to + self.cc)),
            list_address=self.list_address,
        )


class EmailParser:
    """Reads mbox files or .eml files/folders; see the module docstring for the rules."""

    def __init__(self, fmt: str = "mbox", *, account: str | None = None) -> None:
        if fmt not in ("mbox", "eml"):
            raise ImportFormatError(f"the email importer reads mbox or eml, not {fmt!r}")
        self.fmt = fmt
        self.account = _normalize_account(account) if account else None

    def estimate(self, path: Path) -> int | None:
        if self.fmt == "eml":
            return len(_eml_files(path)) if path.is_dir() else 1
        return _count_separators(path)

    def parse(self, path: Path) -> Iterator[IncomingMessage | ParseProblem]:
        plan = self._plan(path)
        for item in self._raw_mails(path):
            if isinstance(item, ParseProblem):
                yield item
                continue
            try:
                yield self._record(item, plan)
            except _Unusable as exc:
                yield ParseProblem(item.line, _where(item, str(exc)))
            except _PARSE_ERRORS as exc:
                yield ParseProblem(
                    item.line, _where(item, f"unreadable message ({type(exc).__name__}: {exc})")
                )

    # -- reading ---------------------------------------------------------------------------

    def _raw_mails(self, path: Path) -> Iterator[RawMail | ParseProblem]:
        if self.fmt == "mbox":
            if path.is_dir():
                raise ImportFormatError(f"{path} is a folder; use --format eml for .eml folders")
            return iter_mbox(path)
        return iter_eml(path)

    def _plan(self, path: Path) -> dict[str, Placement]:
        """First pass, headers only: every thread's key and account (see mailthreads)."""
        parser = email.parser.BytesHeaderParser(policy=email.policy.default)
        facts = []
        for item in self._raw_mails(path):
            if isinstance(item, ParseProblem):
                continue  # reported by the second pass
            try:
                facts.append(read_envelope(parser.parsebytes(item.data), item).facts())
            except _PARSE_ERRORS:
                continue
        return plan_threads(facts, self.account)

    # -- one record ----------------------------------------------------------------------------

    def _record(self, raw: RawMail, plan: dict[str, Placement]) -> IncomingMessage:
        msg, env = _read(raw)
        placed = (
            plan.get(env.message_id) or plan_threads([env.facts()], self.account)[env.message_id]
        )
        return _build_record(msg, env, raw, placed.account, placed.thread, placed.account)


# -- one message -----------------------------------------------------------------------------------


def parse_mail(
    data: bytes,
    *,
    account: str,
    own_address: str,
    received_at: int,
    extra: dict[str, Any] | None = None,
) -> IncomingMessage:
    """One message's raw bytes (e.g. fetched over IMAP) as a record of a known account.

    ``own_address`` is the account's address: mail from it is outbound. The thread key comes from
    the message's own References/In-Reply-To; ``received_at`` stands in for a missing or unreadable
    Date. Raises :class:`~console.errors.ImportFormatError` when the bytes are not a usable mail.
    """
    raw = RawMail(line=1, data=data.replace(b"\r\n", b"\n"), mtime=received_at)
    raw.mtime_source = "time received"
    try:
        msg, env = _read(raw)
        own = _normalize_account(own_address)
        placed = plan_threads([env.facts()], own)[env.message_id]
        record = _build_record(msg, env, raw, account, placed.thread, own)
    except _Unusable as exc:
        raise ImportFormatError(str(exc)) from None
    except _PARSE_ERRORS as exc:
        raise ImportFormatError(f"unreadable message ({type(exc).__name__}: {exc})") from None
    if extra:
        record.extra.update(extra)
    return record


def _read(raw: RawMail) -> tuple[EmailMessage, Envelope]:
    msg = email.message_from_bytes(raw.data, policy=email.policy.default)
    if not msg.keys():
        raise _Unusable("not an email message: no headers")
    env = read_envelope(msg, raw)
    if env.sender is None:
        raise _Unusable("no sender address (From, Sender and Return-Path missing or unreadable)")
    return msg, env


def _build_record(
    msg: EmailMessage,
    env: Envelope,
    raw: RawMail,
    account: str,
    thread: str | None,
    own_address: str,
) -> IncomingMessage:
    assert env.sender is not None  # checked by _read
    name, author = env.sender
    extra: dict[str, Any] = {}
    created_at = _created_at(env, raw, extra)
    direction, to = Direction.IN, None
    if author == own_address:
        direction = Direction.OUT
        to = next((a for a in env.to + env.cc if a != own_address), None)
    body = extract_body(msg)
    extra.update(body.notes)
    _header_notes(env, raw, extra)
    return IncomingMessage(
        channel=Channel.EMAIL,
        account=account,
        external_id=env.message_id,
        direction=direction,
        author=author,
        author_name=name or None,
        text=body.text,
        created_at=created_at,
        in_reply_to=env.in_reply_to,
        thread=thread,
        subject=_header_text(msg, "Subject") or None,
        to=to,
        extra=extra,
    )


def _created_at(env: Envelope, raw: RawMail, extra: dict[str, Any]) -> int:
    if env.date is not None:
        return env.date
    if raw.envelope_date is not None:
        extra["date_source"] = "mbox From line"
        return raw.envelope_date
    extra["date_source"] = raw.mtime_source
    return raw.mtime


def _header_notes(env: Envelope, raw: RawMail, extra: dict[str, Any]) -> None:
    if env.to:
        extra["to"] = env.to
    if env.cc:
        extra["cc"] = env.cc
    if env.reply_to and env.sender and env.reply_to != [env.sender[1]]:
        extra["reply_to"] = env.reply_to
    if env.references:
        # Kept so that a reply can carry a full References header (RFC 5322 §3.6.4).
        extra["references"] = env.references[-MAX_REFERENCES_KEPT:]
    if env.list_address:
        extra["list"] = env.list_address
    if env.synthesized_id:
        extra["message_id_synthesized"] = True
    if raw.source:
        extra["file"] = raw.source


class _Unusable(Exception):
    """A message the importer cannot turn into a record; the text says why."""


# -- headers ---------------------------------------------------------------------------------------


def read_envelope(msg: EmailMessage, raw: RawMail) -> Envelope:
    """Ids, addresses, list and date of one message; never raises on odd header values."""
    own, synthesized = _message_id(msg, raw.data)
    refs = _dedupe(r for r in _ref_ids(_raw_header(msg, "References")) if r != own)
    parents = [r for r in _ref_ids(_raw_header(msg, "In-Reply-To")) if r != own]
    in_reply_to = (parents[0] if parents else None) or (refs[-1] if refs else None)
    thread = refs[0] if refs else in_reply_to
    to = _addresses(msg, "To")
    cc = _addresses(msg, "Cc")
    return Envelope(
        message_id=own,
        synthesized_id=synthesized,
        in_reply_to=in_reply_to,
        thread=thread,
        references=refs,
        sender=_sender(msg, raw),
        to=to,
        cc=cc,
        reply_to=_addresses(msg, "Reply-To"),
        list_address=_list_address(msg, to + cc),
        date=_date(_raw_header(msg, "Date")),
    )


def _message_id(msg: Message, data: bytes) -> tuple[str, bool]:
    value = _raw_header(msg, "Message-ID")
    found = _MSG_ID.search(value)
    if found:
        return fix_text(found.group(1)), False
    bare = _SPACE.sub("", value)
    if bare:
        return fix_text(bare), False
    digest = hashlib.sha256(data.rstrip(b"\n")).hexdigest()[:32]
    return f"{digest}@{SYNTHETIC_ID_DOMAIN}", True


def _ref_ids(value: str) -> list[str]:
    ids = _REF_ID.findall(value)
    if not ids and _BARE_ID.match(value.strip()):
        ids = [value.strip()]  # a bare id without angle brackets, as a few mailers write
    return [fix_text(i) for i in ids]


def _raw_header(msg: Message, name: str) -> str:
    """A header's undecoded value (ids and dates need no RFC 2047 decoding), or ''."""
    lowered = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == lowered:
            return _SPACE.sub(" ", str(value)).strip()
    return ""


def _header_text(msg: Message, name: str) -> str:
    """A header decoded from RFC 2047 words and unfolded; raw text if decoding fails."""
    try:
        value = msg.get(name)
        text = "" if value is None else str(value)
    except _PARSE_ERRORS:
        text = _raw_header(msg, name)
    return _SPACE.sub(" ", fix_text(text)).strip()


def _address_pairs(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs of an address header; bad entries dropped."""
    raw = _raw_header(msg, name)
    if not raw:
        return []
    try:
        addresses = getattr(msg.get(name), "addresses", None)
        if addresses is None:  # e.g. Return-Path, which the policy keeps unstructured
            pairs = email.utils.getaddresses([raw])
        else:
            pairs = [(str(a.display_name or ""), str(a.addr_spec or "")) for a in addresses]
    except _PARSE_ERRORS:
        pairs = email.utils.getaddresses([raw])
    return [
        (_SPACE.sub(" ", fix_text(display)).strip(), fix_text(address).strip().lower())
        for display, address in pairs
        if "@" in address and not address.startswith("@")
    ]


def _addresses(msg: Message, name: str) -> list[str]:
    return _dedupe(address for _, address in _address_pairs(msg, name))


def _sender(msg: Message, raw: RawMail) -> tuple[str, str] | None:
    for name in ("From", "Sender", "Return-Path"):
        pairs = _address_pairs(msg, name)
        if pairs:
            return pairs[0]
    if raw.envelope_sender and "@" in raw.envelope_sender:
        return ("", raw.envelope_sender.lower())
    return None


def _list_address(msg: Message, recipients: list[str]) -> str | None:
    post = _MAILTO.search(_raw_header(msg, "List-Post"))
    if post:
        return fix_text(post.group(1)).lower()
    list_id = _LIST_ID.search(_raw_header(msg, "List-Id"))
    if not list_id:
        return None
    ident = fix_text(list_id.group(1)).lower()
    # List-Id is the list address with '@' written as '.': find it among the recipients.
    for address in recipients:
        if address.replace("@", ".", 1) == ident:
            return address
    local, _, domain = ident.partition(".")
    return f"{local}@{domain}"


def _date(value: str) -> int | None:
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # "-0000": the zone is unknown, the time is UTC (RFC 5322 §3.3)
        moment = moment.replace(tzinfo=UTC)
    try:
        return int(moment.timestamp())
    except (OverflowError, OSError, ValueError):
        return None


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _normalize_account(account: str) -> str:
    account = account.strip()
    return account.lower() if "@" in account else account


def _where(raw: RawMail, message: str) -> str:
    return f"{raw.source}: {message}" if raw.source else message


# -- mbox and eml files ----------------------------------------------------------------------------


def iter_mbox(path: Path) -> Iterator[RawMail | ParseProblem]:
    """Split an mboxrd file into messages; text before the first ``From `` line is reported."""
    mtime = _mtime(path)
    current: RawMail | None = None
    lines: list[bytes] = []
    stray_at: int | None = None
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ImportFormatError(f"cannot read {path}: {exc}") from exc
    with handle:
        for number, raw_line in enumerate(handle, 1):
            line = raw_line.rstrip(b"\n").rstrip(b"\r")
            # Strict mboxrd quotes every body line starting "From ", so an unquoted one is a
            # separator; the date check keeps sloppy mboxo bodies from splitting a message.
            if _is_separator(line):
                if current is not None:
                    yield _finish(current, lines)
                current, lines = _start(line, number, mtime), []
            elif current is None:
                if line.strip() and stray_at is None:
                    stray_at = number
            else:
                lines.append(line[1:] if _QUOTED_FROM.match(line) else line)
    if stray_at is not None and current is None:
        yield ParseProblem(
            stray_at, "no 'From ' separator line: not an mbox file (a single mail is --format eml)"
        )
    elif stray_at is not None:
        yield ParseProblem(
            stray_at, "text before the first 'From ' line is not part of any message"
        )
    if current is not None:
        yield _finish(current, lines)


def _is_separator(line: bytes) -> bool:
    """A ``From `` line with something like a date after the sender (not a body line)."""
    match = _FROM_LINE.match(line)
    if match is None:
        return False
    rest = match.group(2)
    return re.search(rb"\d{1,2}:\d{2}", rest) is not None and re.search(rb"\d{4}", rest) is not None


def _start(line: bytes, number: int, mtime: int) -> RawMail:
    match = _FROM_LINE.match(line)
    assert match is not None
    sender = match.group(1).decode("ascii", "replace") or None
    return RawMail(
        line=number,
        data=b"",
        mtime=mtime,
        envelope_sender=sender if sender and sender != "-" else None,
        envelope_date=_asctime(match.group(2).decode("ascii", "replace")),
    )


def _finish(mail: RawMail, lines: list[bytes]) -> RawMail | ParseProblem:
    while lines and not lines[-1].strip():
        lines.pop()  # the blank line before the next separator belongs to the mbox, not the mail
    if not lines:
        return ParseProblem(mail.line, "empty message")
    mail.data = b"\n".join(lines) + b"\n"
    return mail


def _asctime(value: str) -> int | None:
    """The date of an mbox ``From `` line (asctime in UTC), or None."""
    match = _ASCTIME.search(value)
    if match is None:
        return None
    month, day, clock, year = match.groups()
    if clock.count(":") == 1:
        clock += ":00"
    try:
        moment = datetime.strptime(f"{month} {day} {clock} {year}", "%b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return int(moment.replace(tzinfo=UTC).timestamp())


def iter_eml(path: Path) -> Iterator[RawMail | ParseProblem]:
    """One .eml file, or every .eml file of a folder (and its subfolders) in name order."""
    files = _eml_files(path) if path.is_dir() else [path]
    if path.is_dir() and not files:
        raise ImportFormatError(f"no .eml files in {path}")
    for file in files:
        label = str(file.relative_to(path)) if path.is_dir() else file.name
        try:
            data = file.read_bytes()
        except OSError as exc:
            yield ParseProblem(1, f"{label}: cannot read ({exc.strerror or exc})")
            continue
        data = data.replace(b"\r\n", b"\n")
        if not data.strip():
            yield ParseProblem(1, f"{label}: empty file")
            continue
        yield RawMail(line=1, data=data, mtime=_mtime(file), source=label)
    if path.is_dir():
        for other in _other_files(path):
            yield ParseProblem(1, f"{other}: not an .eml file, skipped")


def _eml_files(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.rglob("*") if p.suffix.lower() == ".eml" and p.is_file()),
        key=lambda p: _natural_key(str(p.relative_to(folder))),
    )


def _other_files(folder: Path) -> list[str]:
    """Files of a folder import that are not .eml (hidden ones left out), so none goes unnoticed."""
    found = []
    for file in folder.rglob("*"):
        label = file.relative_to(folder)
        if file.suffix.lower() == ".eml" or any(p.startswith(".") for p in label.parts):
            continue
        if file.is_file():
            found.append(str(label))
    return sorted(found, key=_natural_key)


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _mtime(path: Path) -> int:
    try:
        return int(path.stat().st_mtime)
    except OSError:
        return 0


def _count_separators(path: Path) -> int | None:
    """Roughly how many messages an mbox holds: ``From `` at a line start (for progress only)."""
    try:
        handle = path.open("rb")
    except OSError:
        return None
    needle = b"\nFrom "
    count, tail = 0, b"\n"  # the file's start counts as a line start
    with handle:
        while chunk := handle.read(1 << 20):
            count += (tail + chunk).count(needle)
            tail = chunk[-(len(needle) - 1) :]
    return count
