"""The email adapter: IMAP in (UID polling, IDLE where the server has it), SMTP out, threaded replies.

Receive: log in, ``SELECT`` the mailbox (``imap_mailbox``, default INBOX) and fetch, by UID, what
arrived since the cursor ``{"mailbox", "uidvalidity", "last_uid"}``. ``UID SEARCH UID n:*`` also
answers the highest existing UID when nothing is new, so UIDs are filtered client-side. A changed
UIDVALIDITY (the server renumbered the mailbox) restarts from UID 1: ingest skips every message it
already has by Message-ID, so a re-scan adds only what is really new. Bodies are fetched with
``BODY.PEEK[]`` (no ``\\Seen`` flag set), at most :data:`MAX_MESSAGE_BYTES` of one message, and parsed
by the email importer's code (``services.importers.email.parse_mail``: charsets, HTML, size caps,
threading headers). A mail that cannot be parsed is logged and skipped; the cursor moves past it.
Our own replies (Message-ID ``<ac.KEY@domain>`` from our address) are skipped: the outbox has them.

:meth:`EmailAdapter.wait_for_new` returns as soon as the server pushes ``EXISTS`` in IDLE (RFC 2177,
re-issued before 29 minutes); on a server without IDLE it waits out the timeout, so a sync loop
calls ``fetch`` and ``wait_for_new`` in turn either way.

Send: a reply built with the stdlib ``email`` package, ``From`` our address, ``To`` the customer,
``Subject: Re: ...``, ``In-Reply-To`` the answered Message-ID and ``References`` the thread chain
(RFC 5322 §3.6.4), and our own ``Message-ID: <ac.KEY@domain>`` made from the outbox idempotency
key, so :meth:`~EmailAdapter.find_sent` can look for it (``UID SEARCH HEADER Message-ID``) in the
Sent mailbox (``imap_sent_mailbox``) and the inbox. After SMTP accepted it, a copy is appended to
the Sent mailbox with ``\\Seen`` when one is configured (``imap_append_sent``, default on; turn it off
for servers that file sent mail themselves, such as Gmail).

Connection security: SMTP ``smtp_security`` is ``starttls`` (default, port 587), ``tls`` (implicit,
465) or ``none`` (25; loopback and tests); IMAP ``imap_security`` is ``tls`` (default, 993) or
``none`` (143). ``tls_ca_file`` trusts a private CA. Certificates are always verified.

Errors (``console.errors``): a refused login, a missing AUTH or STARTTLS on the server, or an
untrusted certificate -> ``AuthenticationError``; connection refused, DNS, timeouts before the
message left, SMTP 4xx -> ``TransientError``; SMTP 5xx -> ``RejectedError``; a timeout or a dropped
connection after DATA was sent -> ``UnknownOutcomeError``. Every network call has a timeout
(``timeout_s``, default 30). Passwords (secrets ``imap_password``, ``smtp_password``) are never
part of an error text or a log line.
"""

from __future__ import annotations

import asyncio
import email.errors
import email.policy
import email.utils
import hashlib
import logging
import re
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any, NoReturn

import aioimaplib
import aiosmtplib
import httpx

from console.domain import Channel, IncomingMessage, to_epoch, utcnow
from console.errors import (
    AuthenticationError,
    ChannelError,
    ImportFormatError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
)
from services.channels.base import (
    AccountConfig,
    Capabilities,
    FetchResult,
    Limits,
    OutgoingReply,
    SendResult,
)
from services.channels.fields import FieldSpec
from services.importers.email import SYNTHETIC_ID_DOMAIN, parse_mail

log = logging.getLogger(__name__)

#: Bytes of one message fetched at most (the rest is cut; the body text is capped anyway).
MAX_MESSAGE_BYTES = 12 * 1024 * 1024
#: Bytes fetched in one UID FETCH command at most (a single larger message goes alone).
MAX_CHUNK_BYTES = 16 * 1024 * 1024
#: RFC 2177: re-issue IDLE before the server's 30-minute inactivity timer.
MAX_IDLE_S = 29 * 60
DEFAULT_TIMEOUT_S = 30
DEFAULT_BATCH = 50
OWN_ID_PREFIX = "ac."

_FETCH_HEAD = re.compile(rb"^(\d+) FETCH \(")
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_LITERAL = re.compile(rb"\{(\d+)\}$")
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_UIDNEXT = re.compile(rb"UIDNEXT (\d+)")
_EXISTS = re.compile(rb"^(\d+) EXISTS")
_KEY_CHARS = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9.-]+$")

SETTINGS: tuple[FieldSpec, ...] = (
    FieldSpec("address", "Our address", required=True, help="the support mailbox, e.g. help@brand"),
    FieldSpec("display_name", "Display name", help="shown in From, e.g. Brand Support"),
    FieldSpec("imap_host", "IMAP host"),
    FieldSpec("imap_port", "IMAP port", type="int", help="993 with TLS, 143 without"),
    FieldSpec("imap_security", "IMAP security", default="tls", choices=("tls", "none")),
    FieldSpec("imap_username", "IMAP user", help="defaults to our address"),
    FieldSpec("imap_mailbox", "Inbox folder", default="INBOX"),
    FieldSpec("imap_sent_mailbox", "Sent folder", help="e.g. Sent; empty: none"),
    FieldSpec("imap_append_sent", "Copy replies to Sent", type="bool", default=True),
    FieldSpec("smtp_host", "SMTP host"),
    FieldSpec("smtp_port", "SMTP port", type="int", help="587 STARTTLS, 465 TLS, 25 none"),
    FieldSpec(
        "smtp_security", "SMTP security", default="starttls", choices=("starttls", "tls", "none")
    ),
    FieldSpec("smtp_username", "SMTP user", help="defaults to our address"),
    FieldSpec("message_id_domain", "Message-ID domain", help="defaults to our address's domain"),
    FieldSpec("tls_ca_file", "CA certificate file", help="PEM file of a private CA to trust"),
    FieldSpec("timeout_s", "Timeout (s)", type="int", default=DEFAULT_TIMEOUT_S),
    FieldSpec("batch_size", "Messages per fetch", type="int", default=DEFAULT_BATCH),
)
SECRETS: tuple[FieldSpec, ...] = (
    FieldSpec("imap_password", "IMAP password"),
    FieldSpec("smtp_password", "SMTP password"),
)


@dataclass(frozen=True, slots=True)
class Mailbox:
    """What ``SELECT`` told about a mailbox."""

    name: str
    uidvalidity: int
    uidnext: int | None
    exists: int


def reply_subject(subject: str | None) -> str:
    text = " ".join((subject or "").split())
    if not text:
        return "Re: your message"
    return text if text.lower().startswith("re:") else f"Re: {text}"


def _bracket(message_id: str) -> str:
    bare = message_id.strip().strip("<>").strip()
    return f"<{bare}>"


def _usable_id(message_id: str | None) -> str | None:
    """A Message-ID worth referencing (not one the importer made up for a mail without one)."""
    if not message_id:
        return None
    bare = message_id.strip().strip("<>").strip()
    if not bare or "@" not in bare or bare.endswith("@" + SYNTHETIC_ID_DOMAIN):
        return None
    if any(c in bare for c in " \t\r\n<>"):
        return None
    return bare


def reference_chain(references: Iterable[str], in_reply_to: str | None) -> list[str]:
    """``References`` of a reply: the answered message's references, then the answered message."""
    chain = [r for r in (_usable_id(x) for x in references) if r]
    parent = _usable_id(in_reply_to)
    if parent:
        chain = [r for r in chain if r != parent] + [parent]
    return list(dict.fromkeys(chain))


class EmailAdapter:
    """One support mailbox. See the module docstring for the contract."""

    SETTING_FIELDS = SETTINGS
    SECRET_FIELDS = SECRETS

    def __init__(self, config: AccountConfig, client: httpx.AsyncClient | None = None) -> None:
        self.channel = Channel.EMAIL
        self.account = config.name
        self.config = config
        settings = config.settings
        self.address = str(settings.get("address") or config.handle or "").strip().lower()
        self.display_name = str(settings.get("display_name") or "").strip()
        self.timeout = float(settings.get("timeout_s") or DEFAULT_TIMEOUT_S)
        self.batch_size = max(1, int(settings.get("batch_size") or DEFAULT_BATCH))
        self.mailbox = str(settings.get("imap_mailbox") or "INBOX")
        self.sent_mailbox = str(settings.get("imap_sent_mailbox") or "") or None
        self.append_sent = bool(settings.get("imap_append_sent", True))
        domain = str(settings.get("message_id_domain") or self.address.rpartition("@")[2])
        self.domain = domain if _DOMAIN.match(domain or "") else "agent-console.local"
        #: Whether the server offered IDLE at the last login (None before any).
        self.idle_supported: bool | None = None

    def __repr__(self) -> str:
        return f"EmailAdapter(account={self.account!r}, address={self.address!r})"

    @property
    def limits(self) -> Limits:
        return Limits(max_length=None, length_rule="none")

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            public_reply=False,
            private_message=True,
            threading=True,
            fetch=bool(self.config.setting("imap_host")),
            send=bool(self.config.setting("smtp_host")),
            reconcile=bool(self.config.setting("imap_host")),
        )

    # -- secrets and errors --------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for value in self.config.secrets.values():
            if value and len(value) >= 3:
                text = text.replace(value, "***")
        return text

    def _fail(self, kind: type[ChannelError], message: str) -> NoReturn:
        raise kind(self._scrub(message)) from None

    def _ssl_context(self) -> ssl.SSLContext:
        cafile = str(self.config.setting("tls_ca_file") or "") or None
        try:
            return ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            self._fail(AuthenticationError, f"cannot read tls_ca_file {cafile!r}: {exc}")

    # -- IMAP ------------------------------------------------------------------------------------

    def _imap_endpoint(self) -> tuple[str, int, bool]:
        host = str(self.config.setting("imap_host") or "").strip()
        if not host:
            self._fail(RejectedError, f"{self.account}: no imap_host is set")
        use_tls = str(self.config.setting("imap_security") or "tls") == "tls"
        port = int(self.config.setting("imap_port") or (993 if use_tls else 143))
        return host, port, use_tls

    @asynccontextmanager
    async def _imap(self) -> AsyncIterator[aioimaplib.IMAP4]:
        """A logged-in IMAP session, logged out (or dropped) on leaving."""
        host, port, use_tls = self._imap_endpoint()
        where = f"IMAP {host}:{port}"
        user = str(self.config.setting("imap_username") or self.address)
        password = self.config.secrets.get("imap_password", "")
        if not password:
            self._fail(AuthenticationError, f"{self.account}: no imap_password in the keyring")
        if use_tls:
            imap: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                host, port, timeout=self.timeout, ssl_context=self._ssl_context()
            )
        else:
            imap = aioimaplib.IMAP4(host, port, timeout=self.timeout)
        try:
            try:
                await imap.wait_hello_from_server()
                response = await imap.login(user, password)
            except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
                self._connection_failed(where, exc)
            if response.result != "OK":
                detail = _text(response.lines[-1:]) if response.lines else response.result
                self._fail(AuthenticationError, f"{where}: login as {user} refused: {detail}")
            self.idle_supported = imap.has_capability("IDLE")
            yield imap
        finally:
            await _imap_close(imap)

    def _connection_failed(self, where: str, exc: BaseException) -> NoReturn:
        if isinstance(exc, ssl.SSLCertVerificationError):
            self._fail(
                AuthenticationError,
                f"{where}: the server's TLS certificate is not trusted ({exc.verify_message}); "
                "set tls_ca_file for a private CA",
            )
        if isinstance(exc, ssl.SSLError):
            self._fail(
                TransientError, f"{where}: TLS handshake failed ({exc}); is the security right?"
            )
        if isinstance(exc, TimeoutError):
            self._fail(TransientError, f"{where}: no answer within {self.timeout:g} s")
        name = type(exc).__name__
        self._fail(TransientError, f"{where}: connection failed ({name}: {exc})")

    async def _imap_call(self, where: str, coro: Any) -> aioimaplib.Response:
        try:
            response: aioimaplib.Response = await coro
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            self._connection_failed(where, exc)
        return response

    async def _select(self, imap: aioimaplib.IMAP4, mailbox: str) -> Mailbox:
        where = f"IMAP SELECT {mailbox}"
        response = await self._imap_call(where, imap.select(_quote(mailbox)))
        if response.result != "OK":
            self._fail(RejectedError, f"{where} failed: {_text(response.lines[-1:])}")
        uidvalidity, uidnext, exists = 0, None, 0
        for line in response.lines:
            if not isinstance(line, bytes | bytearray):
                continue
            if found := _UIDVALIDITY.search(line):
                uidvalidity = int(found.group(1))
            if found := _UIDNEXT.search(line):
                uidnext = int(found.group(1))
            if found := _EXISTS.match(line):
                exists = int(found.group(1))
        return Mailbox(mailbox, uidvalidity, uidnext, exists)

    async def _search(self, imap: aioimaplib.IMAP4, *criteria: str) -> list[int]:
        response = await self._imap_call("IMAP UID SEARCH", imap.uid_search(*criteria))
        if response.result != "OK":
            self._fail(TransientError, f"IMAP UID SEARCH failed: {_text(response.lines[-1:])}")
        uids: list[int] = []
        for line in response.lines[:-1]:
            text = bytes(line).decode("ascii", "replace")
            uids.extend(int(part) for part in text.split() if part.isdigit())
        return sorted(set(uids))

    async def _sizes(self, imap: aioimaplib.IMAP4, uids: Sequence[int]) -> dict[int, int]:
        response = await self._imap_call(
            "IMAP UID FETCH", imap.uid("fetch", _uid_set(uids), "(UID RFC822.SIZE)")
        )
        sizes: dict[int, int] = {}
        for line in response.lines:
            if isinstance(line, bytes | bytearray) and _FETCH_HEAD.match(line):
                uid, size = _UID.search(line), _SIZE.search(line)
                if uid and size:
                    sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    async def _bodies(self, imap: aioimaplib.IMAP4, uids: Sequence[int]) -> dict[int, bytes]:
        response = await self._imap_call(
            "IMAP UID FETCH",
            imap.uid("fetch", _uid_set(uids), f"(UID BODY.PEEK[]<0.{MAX_MESSAGE_BYTES}>)"),
        )
        if response.result != "OK":
            self._fail(TransientError, f"IMAP UID FETCH failed: {_text(response.lines[-1:])}")
        return _fetched_literals(response.lines)

    # -- fetch -------------------------------------------------------------------------------------

    async def fetch(self, cursor: dict[str, str]) -> FetchResult:
        async with self._imap() as imap:
            box = await self._select(imap, self.mailbox)
            last = _start_uid(cursor, box)
            state = {
                "mailbox": box.name,
                "uidvalidity": str(box.uidvalidity),
                "last_uid": str(last),
            }
            if box.exists == 0 or (box.uidnext is not None and box.uidnext <= last + 1):
                return FetchResult([], state)
            uids = [u for u in await self._search(imap, "UID", f"{last + 1}:*") if u > last]
            batch = uids[: self.batch_size]
            problems: list[str] = []
            messages = await self._read_batch(imap, batch, box, problems)
        if batch:
            state["last_uid"] = str(batch[-1])
        return FetchResult(messages, state, more=len(uids) > len(batch), problems=problems)

    async def _read_batch(
        self, imap: aioimaplib.IMAP4, uids: list[int], box: Mailbox, problems: list[str]
    ) -> list[IncomingMessage]:
        if not uids:
            return []
        sizes = await self._sizes(imap, uids)
        messages: list[IncomingMessage] = []
        for chunk in _chunks_by_size(uids, sizes, MAX_CHUNK_BYTES):
            bodies = await self._bodies(imap, chunk)
            for uid in chunk:
                data = bodies.get(uid)
                if data is None:
                    log.warning("%s: UID %d vanished before it was fetched", self.account, uid)
                    continue
                record = self._parse(uid, data, sizes.get(uid), box, problems)
                if record is not None:
                    messages.append(record)
        return messages

    def _parse(
        self, uid: int, data: bytes, size: int | None, box: Mailbox, problems: list[str]
    ) -> IncomingMessage | None:
        extra: dict[str, Any] = {"imap_uid": uid, "imap_mailbox": box.name}
        if size is not None and size > len(data):
            extra["truncated_bytes"] = size
        try:
            record = parse_mail(
                data,
                account=self.account,
                own_address=self.address,
                received_at=to_epoch(utcnow()),
                extra=extra,
            )
        except ImportFormatError as exc:
            log.warning("%s: skipped UID %d of %s: %s", self.account, uid, box.name, exc)
            problems.append(f"{box.name} UID {uid}: {exc}")
            return None
        if self._is_own_reply(record):
            return None
        return record

    def _is_own_reply(self, record: IncomingMessage) -> bool:
        return (
            record.author == self.address
            and record.external_id.startswith(OWN_ID_PREFIX)
            and record.external_id.endswith("@" + self.domain)
        )

    # -- IDLE ----------------------------------------------------------------------------------

    async def wait_for_new(self, timeout: float, cursor: dict[str, str] | None = None) -> bool:
        """Wait until the server signals new mail (True) or ``timeout`` passes (False).

        With a ``cursor``, mail that arrived since it returns True at once (no race between the
        last fetch and the IDLE). Without IDLE on the server this just waits ``timeout`` and
        returns True: the caller fetches on its poll schedule.
        """
        async with self._imap() as imap:
            box = await self._select(imap, self.mailbox)
            if cursor is not None and _has_news(cursor, box):
                return True
            if imap.has_capability("IDLE"):
                return await self._idle(imap, min(timeout, MAX_IDLE_S))
        await asyncio.sleep(timeout)  # no IDLE: the caller polls, and no connection idles meanwhile
        return True

    async def _idle(self, imap: aioimaplib.IMAP4, timeout: float) -> bool:
        where = "IMAP IDLE"
        try:
            idle = await imap.idle_start(timeout=timeout + 5)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            self._connection_failed(where, exc)
        news = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while not news and (left := deadline - loop.time()) > 0:
                try:
                    pushed = await imap.wait_server_push(timeout=left)
                except TimeoutError:
                    break
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                news = any(_EXISTS.match(bytes(line)) for line in pushed)
        finally:
            if imap.has_pending_idle():
                imap.idle_done()
                with suppress(TimeoutError, aioimaplib.AioImapException, OSError):
                    await asyncio.wait_for(idle, self.timeout)
        return news

    # -- SMTP --------------------------------------------------------------------------------------

    def build_reply(self, reply: OutgoingReply) -> EmailMessage:
        """The reply as a message, headers per RFC 5322 §3.6.4 (RejectedError if unusable)."""
        recipient = (reply.recipient or "").strip()
        if not recipient or "@" not in recipient or any(c in recipient for c in "\r\n<>,;"):
            self._fail(RejectedError, f"no usable recipient address ({recipient!r})")
        if not self.address or "@" not in self.address:
            self._fail(RejectedError, f"{self.account}: no sender address is set (address)")
        msg = EmailMessage(policy=email.policy.SMTP)
        try:
            local, _, domain = self.address.partition("@")
            msg["From"] = Address(self.display_name, local, domain)
            msg["To"] = recipient
            msg["Subject"] = reply_subject(reply.subject)
            msg["Date"] = email.utils.format_datetime(utcnow())
            msg["Message-ID"] = self.message_id(reply.idempotency_key)
            parent = _usable_id(reply.in_reply_to)
            if parent:
                msg["In-Reply-To"] = _bracket(parent)
                chain = reference_chain(reply.references, parent)
                msg["References"] = " ".join(_bracket(r) for r in chain)
            msg["X-Mailer"] = "Agent Console"
            msg.set_content(reply.text.replace("\r\n", "\n"))
        except (ValueError, TypeError, email.errors.HeaderParseError) as exc:
            self._fail(RejectedError, f"the reply cannot be written as an email: {exc}")
        return msg

    def message_id(self, idempotency_key: str) -> str:
        """Our Message-ID for a reply: the idempotency key under our domain."""
        key = idempotency_key.strip()
        if not _KEY_CHARS.match(key):
            key = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
        return f"<{OWN_ID_PREFIX}{key}@{self.domain}>"

    def _smtp(self) -> tuple[aiosmtplib.SMTP, str, str]:
        host = str(self.config.setting("smtp_host") or "").strip()
        if not host:
            self._fail(RejectedError, f"{self.account}: no smtp_host is set")
        security = str(self.config.setting("smtp_security") or "starttls")
        default_port = {"tls": 465, "none": 25}.get(security, 587)
        port = int(self.config.setting("smtp_port") or default_port)
        client = aiosmtplib.SMTP(
            hostname=host,
            port=port,
            timeout=self.timeout,
            use_tls=security == "tls",
            start_tls=False,  # done below, so that a server without it is our error to raise
            tls_context=self._ssl_context() if security == "tls" else None,
        )
        return client, f"SMTP {host}:{port}", security

    @asynccontextmanager
    async def _smtp_session(self) -> AsyncIterator[tuple[aiosmtplib.SMTP, str]]:
        smtp, where, security = self._smtp()
        try:
            try:
                await smtp.connect()
                await smtp.ehlo()
                if security == "starttls":
                    if not smtp.supports_extension("starttls"):
                        self._fail(
                            AuthenticationError,
                            f"{where} does not offer STARTTLS; refusing to go on without TLS "
                            "(check smtp_security)",
                        )
                    await smtp.starttls(tls_context=self._ssl_context())
                    await smtp.ehlo()  # extensions may differ once the line is encrypted
            except aiosmtplib.SMTPResponseException as exc:
                self._smtp_refused(where, "connection", exc)
            except (aiosmtplib.SMTPException, OSError) as exc:
                self._smtp_connection_failed(where, exc)
            await self._smtp_login(smtp, where)
            yield smtp, where
        finally:
            await _smtp_close(smtp)

    async def _smtp_login(self, smtp: aiosmtplib.SMTP, where: str) -> None:
        password = self.config.secrets.get("smtp_password", "")
        if not password:
            return  # e.g. a relay that trusts our network
        user = str(self.config.setting("smtp_username") or self.address)
        if not smtp.supports_extension("auth"):
            self._fail(
                AuthenticationError,
                f"{where} offers no login (AUTH) on this connection; check smtp_security",
            )
        try:
            await smtp.login(user, password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            self._fail(AuthenticationError, f"{where}: login as {user} refused: {_reply(exc)}")
        except aiosmtplib.SMTPResponseException as exc:
            self._smtp_refused(where, "login", exc)
        except (aiosmtplib.SMTPException, OSError) as exc:
            if "authentication method" in str(exc).lower():
                self._fail(AuthenticationError, f"{where}: {exc}")
            self._smtp_connection_failed(where, exc)

    def _smtp_connection_failed(self, where: str, exc: BaseException) -> NoReturn:
        if isinstance(exc, ssl.SSLCertVerificationError | ssl.SSLError):
            self._connection_failed(where, exc)
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ssl.SSLError):
            self._connection_failed(where, cause)
        if isinstance(exc, TimeoutError):
            self._fail(TransientError, f"{where}: no answer within {self.timeout:g} s")
        self._fail(TransientError, f"{where}: connection failed ({type(exc).__name__}: {exc})")

    def _smtp_refused(
        self, where: str, step: str, exc: aiosmtplib.SMTPResponseException
    ) -> NoReturn:
        kind: type[ChannelError] = RejectedError if 500 <= exc.code < 600 else TransientError
        self._fail(kind, f"{where} refused the {step}: {_reply(exc)}")

    async def send(self, reply: OutgoingReply) -> SendResult:
        msg = self.build_reply(reply)
        sender, recipient = self.address, (reply.recipient or "").strip()
        data = msg.as_bytes()
        async with self._smtp_session() as (smtp, where):
            try:
                await smtp.mail(sender)
                await smtp.rcpt(recipient)
            except aiosmtplib.SMTPResponseException as exc:
                self._smtp_refused(where, "envelope", exc)
            except (aiosmtplib.SMTPException, OSError) as exc:
                self._smtp_connection_failed(where, exc)
            try:
                await smtp.data(data)
            except aiosmtplib.SMTPResponseException as exc:
                self._smtp_refused(where, "message", exc)
            except (aiosmtplib.SMTPException, OSError) as exc:
                # The message may have been accepted just before the line went quiet.
                self._fail(
                    UnknownOutcomeError,
                    f"{where}: no answer after the message was sent ({type(exc).__name__})",
                )
        message_id = str(msg["Message-ID"]).strip("<>")
        await self._file_sent(data)
        return SendResult(remote_id=message_id, detail=f"accepted by {where}")

    async def _file_sent(self, data: bytes) -> None:
        """Best effort: the mail is sent whatever happens to its copy."""
        if not (self.sent_mailbox and self.append_sent and self.config.setting("imap_host")):
            return
        try:
            async with self._imap() as imap:
                response = await self._imap_call(
                    "IMAP APPEND",
                    imap.append(
                        data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
                        mailbox=_quote(self.sent_mailbox),
                        flags="(\\Seen)",
                    ),
                )
                if response.result != "OK":
                    log.warning(
                        "%s: copying the reply to %s failed: %s",
                        self.account,
                        self.sent_mailbox,
                        _text(response.lines[-1:]),
                    )
        except ChannelError as exc:
            log.warning(
                "%s: copying the reply to %s failed: %s", self.account, self.sent_mailbox, exc
            )

    async def find_sent(self, reply: OutgoingReply) -> SendResult | None:
        """Our reply, found by its Message-ID in the Sent mailbox or the inbox; None if absent."""
        if not self.config.setting("imap_host"):
            return None
        message_id = self.message_id(reply.idempotency_key)
        boxes = list(dict.fromkeys(b for b in (self.sent_mailbox, self.mailbox) if b))
        async with self._imap() as imap:
            for name in boxes:
                response = await self._imap_call(f"IMAP SELECT {name}", imap.select(_quote(name)))
                if response.result != "OK":
                    continue
                found = await self._search(imap, "HEADER", "Message-ID", _quote(message_id))
                if found:
                    return SendResult(remote_id=message_id.strip("<>"), detail=f"found in {name}")
        return None

    # -- test ------------------------------------------------------------------------------------

    async def test(self) -> str:
        """Log in to IMAP (and select the inbox) and to SMTP, whichever are set."""
        parts: list[str] = []
        if self.config.setting("imap_host"):
            async with self._imap() as imap:
                box = await self._select(imap, self.mailbox)
                idle = "IDLE" if imap.has_capability("IDLE") else "no IDLE: polling"
                parts.append(f"IMAP: {box.name} has {box.exists} message(s) ({idle})")
        if self.config.setting("smtp_host"):
            async with self._smtp_session() as (smtp, where):
                with suppress(aiosmtplib.SMTPException, OSError):
                    await smtp.noop()
                login = "logged in" if self.config.secrets.get("smtp_password") else "no login"
                parts.append(f"{where} ready ({login})")
        if not parts:
            self._fail(RejectedError, f"{self.account}: neither imap_host nor smtp_host is set")
        return f"{self.address}: " + "; ".join(parts)


# -- helpers ---------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _text(lines: Iterable[Any]) -> str:
    return " ".join(bytes(line).decode("utf-8", "replace") for line in lines).strip()


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {' '.join(str(exc.message).split())}"


def _uid_set(uids: Sequence[int]) -> str:
    return ",".join(str(u) for u in uids)


def _start_uid(cursor: dict[str, str], box: Mailbox) -> int:
    """The last UID already seen, or 0 to scan from the start (new, other mailbox, renumbered)."""
    if cursor.get("mailbox", box.name) != box.name:
        return 0
    if cursor.get("uidvalidity") != str(box.uidvalidity):
        if cursor.get("uidvalidity"):
            log.info("%s: UIDVALIDITY changed: scanning it again", box.name)
        return 0
    try:
        return max(0, int(cursor.get("last_uid", "0")))
    except ValueError:
        return 0


def _has_news(cursor: dict[str, str], box: Mailbox) -> bool:
    last = _start_uid(cursor, box)
    if last == 0:
        return box.exists > 0
    return box.uidnext is not None and box.uidnext > last + 1


def _chunks_by_size(uids: Sequence[int], sizes: dict[int, int], budget: int) -> Iterable[list[int]]:
    chunk: list[int] = []
    used = 0
    for uid in uids:
        size = min(sizes.get(uid, 0), MAX_MESSAGE_BYTES)
        if chunk and used + size > budget:
            yield chunk
            chunk, used = [], 0
        chunk.append(uid)
        used += size
    if chunk:
        yield chunk


def _fetched_literals(lines: Sequence[Any]) -> dict[int, bytes]:
    """UID -> message bytes from a FETCH response: a head line ending in ``{n}``, the literal, and
    a closing line (which some servers use for the UID)."""
    found: dict[int, bytes] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        if isinstance(line, bytes) and _FETCH_HEAD.match(line) and _LITERAL.search(line):
            literal = lines[index + 1] if index + 1 < len(lines) else b""
            tail = lines[index + 2] if index + 2 < len(lines) else b""
            uid = _UID.search(line) or (
                _UID.search(bytes(tail)) if isinstance(tail, bytes | bytearray) else None
            )
            if uid and isinstance(literal, bytes | bytearray):
                found[int(uid.group(1))] = bytes(literal)
            index += 2
            continue
        index += 1
    return found


async def _imap_close(imap: aioimaplib.IMAP4) -> None:
    protocol = imap.protocol
    if protocol is None or protocol.transport is None:
        task = getattr(imap, "_client_task", None)
        if task is not None and not task.done():
            task.cancel()
        return
    if imap.get_state() in (aioimaplib.AUTH, aioimaplib.SELECTED, aioimaplib.NONAUTH):
        with suppress(TimeoutError, aioimaplib.AioImapException, OSError):
            await asyncio.wait_for(imap.logout(), 2)
    protocol.transport.close()


async def _smtp_close(smtp: aiosmtplib.SMTP) -> None:
    if smtp.is_connected:
        try:
            await asyncio.wait_for(smtp.quit(), 2)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()
