"""Real mail servers on loopback for the email adapter: Debian's Dovecot (IMAP, plain and TLS) and
aiosmtpd (SMTP: plain with AUTH, STARTTLS, implicit TLS), with certificates from ``trustme``.

Dovecot runs once per test module from a throwaway configuration and Maildir in a fresh temporary
folder (``../shared/reference/channels.md`` §5: the root variant uses the ``dovecot`` system user
for mail, the unprivileged one runs everything as the current user). Each test gets its own IMAP
user (``mailbox`` fixture), so tests never see each other's mail. Without ``dovecot`` on PATH the
IMAP tests skip with the reason; ``scripts/test`` installs ``dovecot-imapd``.
"""

from __future__ import annotations

import asyncio
import grp
import imaplib
import itertools
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

USERS = 40
PASSWORD = "s3cret-imap-pw"
SMTP_USER = "agent@example.test"
SMTP_PASSWORD = "s3cret-smtp-pw"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"dovecot exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


# -- Dovecot ---------------------------------------------------------------------------------------


@dataclass
class Dovecot:
    root: Path
    port: int
    tls_port: int
    users: Iterator[str] = field(default_factory=lambda: iter(()))

    host = "127.0.0.1"

    def next_user(self) -> str:
        return next(self.users)

    def imap(self, user: str) -> imaplib.IMAP4:
        """A blocking stdlib client (the test's own side: delivering, renumbering)."""
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(user, PASSWORD)
        return client

    def deliver(self, user: str, raw: bytes, mailbox: str = "INBOX") -> None:
        client = self.imap(user)
        try:
            status, _ = client.append(mailbox, "", imaplib.Time2Internaldate(time.time()), raw)
            assert status == "OK", status
        finally:
            client.logout()

    def create(self, user: str, mailbox: str) -> None:
        client = self.imap(user)
        try:
            client.create(mailbox)
        finally:
            client.logout()

    def recreate(self, user: str, mailbox: str) -> None:
        """Delete and create a mailbox again: it comes back with a new UIDVALIDITY."""
        client = self.imap(user)
        try:
            client.delete(mailbox)
            time.sleep(1.1)  # UIDVALIDITY is a timestamp: make sure the second one differs
            client.create(mailbox)
        finally:
            client.logout()


def _dovecot_config(root: Path, port: int, tls_port: int) -> str:
    lines = [
        f"base_dir = {root}/run",
        f"state_dir = {root}/state",
        f"instance_name = dovecot-test-{port}",
        f"log_path = {root}/dovecot.log",
        "protocols = imap",
        "listen = 127.0.0.1",
        "ssl = yes",
        f"ssl_cert = <{root}/cert.pem",
        f"ssl_key = <{root}/key.pem",
        "disable_plaintext_auth = no",
        "auth_mechanisms = plain login",
        "auth_failure_delay = 0",
        f"mail_location = maildir:{root}/mail/%u/Maildir",
        "passdb {",
        "  driver = passwd-file",
        f"  args = scheme=PLAIN username_format=%u {root}/users",
        "}",
        "userdb {",
        "  driver = static",
        f"  args = home={root}/mail/%u",
        "}",
        "service imap-login {",
        "  chroot =",
        "  inet_listener imap {",
        "    address = 127.0.0.1",
        f"    port = {port}",
        "  }",
        "  inet_listener imaps {",
        "    address = 127.0.0.1",
        f"    port = {tls_port}",
        "    ssl = yes",
        "  }",
        "}",
    ]
    if os.geteuid() == 0:
        # Dovecot refuses to access mail as root: the package's system user does it.
        lines += ["mail_uid = dovecot", "mail_gid = dovecot", "first_valid_uid = 1"]
    else:
        me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        lines += [
            f"default_internal_user = {me}",
            f"default_internal_group = {group}",
            f"default_login_user = {me}",
        ]
    # No growing delay after failed logins (tests fail logins on purpose, from one IP).
    lines += ["service anvil {", "  unix_listener anvil-auth-penalty {", "    mode = 0", "  }"]
    lines += ["  chroot =", "}"] if os.geteuid() != 0 else ["}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def dovecot(ca: trustme.CA) -> Iterator[Dovecot]:
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None
    )
    if binary is None:
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd; scripts/test does)")
    # Not under pytest's tmp_path: its 0700 parent would stop the dovecot user (channels.md §5).
    root = Path(tempfile.mkdtemp(prefix="ac-dovecot-"))
    os.chmod(root, 0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
    cert.private_key_pem.write_to_path(str(root / "key.pem"))
    users = [f"user{i}@example.test" for i in range(USERS)]
    (root / "users").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}\n" for u in users))
    os.chmod(root / "users", 0o644)
    if os.geteuid() == 0:
        shutil.chown(root / "mail", "dovecot", "dovecot")
    port, tls_port = free_port(), free_port()
    conf = root / "dovecot.conf"
    conf.write_text(_dovecot_config(root, port, tls_port))
    proc = subprocess.Popen(
        [binary, "-c", str(conf), "-F"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_port(port, proc)
        wait_port(tls_port, proc)
        yield Dovecot(root, port, tls_port, users=iter(users))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mailbox(dovecot: Dovecot) -> str:
    """A fresh IMAP user with an empty mailbox, for this test only."""
    return dovecot.next_user()


# -- SMTP ------------------------------------------------------------------------------------------


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[Any]

    def last(self) -> Any:
        assert self.messages, "the SMTP server received nothing"
        return self.messages[-1]


class Recorder:
    """An aiosmtpd handler that keeps every envelope; ``data_reply``/``rcpt_reply`` and
    ``data_delay`` make it refuse or stall."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.data_delay = 0.0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply:
            return self.data_reply
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (
        isinstance(data, LoginPassword)
        and data.login == SMTP_USER.encode()
        and data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server(
    request: pytest.FixtureRequest, ca: trustme.CA
) -> Iterator[tuple[SmtpSink, Recorder]]:
    """An SMTP server; ``@pytest.mark.parametrize("smtp_server", [...], indirect=True)`` picks
    ``"plain"`` (AUTH without TLS, default), ``"starttls"`` or ``"tls"`` (implicit)."""
    from aiosmtpd.controller import Controller

    mode = getattr(request, "param", "plain")
    handler = Recorder()
    kwargs: dict[str, Any] = {"authenticator": _authenticator}
    if mode == "plain":
        kwargs["auth_require_tls"] = False
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    if mode == "starttls":
        kwargs.update(tls_context=server_ctx, require_starttls=True)
    elif mode == "tls":
        # aiosmtpd only counts STARTTLS as TLS for AUTH; this connection is TLS from the start.
        kwargs.update(ssl_context=server_ctx, auth_require_tls=False)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpSink("127.0.0.1", port, handler.messages), handler
    finally:
        controller.stop()


@pytest.fixture
def stalled_port() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


_counter = itertools.count(1)


def unique(prefix: str = "m") -> str:
    return f"{prefix}{next(_counter)}-{os.getpid()}"
