"""Channel account secrets in the OS keyring, and nowhere else.

:class:`SecretStore` keeps one keyring entry per secret field of an account: service
``agent-console``, username ``account:{id}:{field}``. The workspace only ever records *which*
fields are set (by asking the store), never a value.

The backend is whatever ``keyring`` chooses: the desktop's Secret Service, macOS Keychain, Windows
Credential Locker, or the class named by the standard ``PYTHON_KEYRING_BACKEND`` environment
variable (``keyring`` reads it itself; nothing here overrides it). The store refuses to work, with
a :class:`~console.errors.SecretStoreError` saying what to install, when the only backend is
``keyring``'s ``fail`` or ``null`` one, or a plain-text file backend that nobody asked for by name
(``keyrings.alt`` chooses one silently when it is merely installed). It never falls back to
storing secrets in plain text itself.

Secret values never reach a log line, a ``repr`` or an exception text: errors name the account and
the field only.

``keyring`` is synchronous and may block (a Secret Service can wait for an unlock prompt), so the
``a*`` methods run each call in an executor; the GUI uses those.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import TypeVar

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from console.errors import SecretStoreError

log = logging.getLogger(__name__)

SERVICE = "agent-console"
ENV_VAR = "PYTHON_KEYRING_BACKEND"

T = TypeVar("T")

#: Backends that cannot keep a secret: ``fail`` raises on every call, ``null`` drops what it gets.
_UNUSABLE = ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring")

INSTALL_HINT = (
    "Agent Console keeps channel passwords and tokens only in a secure keyring. Start a desktop "
    "keyring (GNOME Keyring/KWallet with the Secret Service; on a headless machine e.g. "
    "`dbus-run-session -- gnome-keyring-daemon --unlock --components=secrets`), or install an "
    "encrypted backend such as `pip install keyrings.cryptfile` and select it with "
    f"{ENV_VAR}=keyrings.cryptfile.cryptfile.CryptFileKeyring."
)


def _class_path(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_plaintext(backend: object) -> bool:
    path = _class_path(backend)
    return path.startswith("keyrings.alt.") and "Plaintext" in path


def _delete(backend: KeyringBackend, service: str, user: str) -> None:
    try:
        backend.delete_password(service, user)
    except keyring.errors.PasswordDeleteError:
        # Gone meanwhile (another process): the goal is reached all the same.
        if backend.get_password(service, user) is not None:
            raise


def backend_problem(backend: object) -> str | None:
    """Why ``backend`` cannot hold secrets, or None when it can."""
    path = _class_path(backend)
    if path in _UNUSABLE:
        kind = "no keyring backend is available" if "fail" in path else f"{path} stores nothing"
        return f"{kind}. {INSTALL_HINT}"
    children = getattr(backend, "backends", None)
    if path == "keyring.backends.chainer.ChainerBackend" and isinstance(children, list):
        usable = [b for b in children if backend_problem(b) is None]
        if not usable:
            return f"no keyring backend is available. {INSTALL_HINT}"
        return None
    if _is_plaintext(backend) and os.environ.get(ENV_VAR, "") != path:
        return (
            f"the keyring chose {path}, which writes secrets in plain text; refusing it. "
            f"Set {ENV_VAR}={path} if you really want that, or better: {INSTALL_HINT}"
        )
    return None


class SecretStore:
    """Secrets of channel accounts, one keyring entry per ``(account id, field)``.

    ``backend`` is for tests and special set-ups; by default each call asks ``keyring`` for its
    current backend, so ``keyring.set_keyring`` and ``PYTHON_KEYRING_BACKEND`` both apply.
    ``executor`` runs the async variants (the loop's default executor when None).
    """

    def __init__(
        self,
        service: str = SERVICE,
        *,
        backend: KeyringBackend | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.service = service
        self._backend = backend
        self._executor = executor

    def __repr__(self) -> str:
        return f"SecretStore(service={self.service!r})"

    # -- the backend -------------------------------------------------------------------------

    def backend(self) -> KeyringBackend:
        """The usable backend, or :class:`SecretStoreError` saying what to install."""
        try:
            backend = self._backend if self._backend is not None else keyring.get_keyring()
        except Exception as exc:  # noqa: BLE001  a bad PYTHON_KEYRING_BACKEND fails in keyring's loader
            raise SecretStoreError(
                f"the keyring backend could not be loaded ({type(exc).__name__}: {exc}); "
                f"check {ENV_VAR}={os.environ.get(ENV_VAR, '')!r}. {INSTALL_HINT}"
            ) from None
        problem = backend_problem(backend)
        if problem is not None:
            raise SecretStoreError(problem)
        return backend

    def check(self) -> str:
        """A one-line description of the backend in use; raises when none is usable."""
        backend = self.backend()
        return f"secrets are stored with {_class_path(backend)}"

    def available(self) -> str | None:
        """None when secrets can be stored, else the message to show."""
        try:
            self.backend()
        except SecretStoreError as exc:
            return str(exc)
        return None

    # -- one secret --------------------------------------------------------------------------

    @staticmethod
    def username(account_id: int, field: str) -> str:
        if not field or ":" in field:
            raise SecretStoreError(f"invalid secret field name {field!r}")
        return f"account:{int(account_id)}:{field}"

    def get(self, account_id: int, field: str) -> str | None:
        user = self.username(account_id, field)
        backend = self.backend()
        return self._call(
            "read", account_id, field, lambda: backend.get_password(self.service, user)
        )

    def set(self, account_id: int, field: str, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise SecretStoreError(f"empty value for secret {field!r} of account {account_id}")
        user = self.username(account_id, field)
        backend = self.backend()
        self._call(
            "store", account_id, field, lambda: backend.set_password(self.service, user, value)
        )
        log.info("stored secret %r of account %d", field, account_id)

    def delete(self, account_id: int, field: str) -> bool:
        """Forget one secret; False when there was none."""
        user = self.username(account_id, field)
        backend = self.backend()
        if self._call("read", account_id, field, lambda: backend.get_password(self.service, user)):
            self._call("delete", account_id, field, lambda: _delete(backend, self.service, user))
            log.info("deleted secret %r of account %d", field, account_id)
            return True
        return False

    # -- all fields of an account ------------------------------------------------------------

    def load(self, account_id: int, fields: Iterable[str]) -> dict[str, str]:
        """The account's secrets that are set (fields without a value are left out)."""
        found: dict[str, str] = {}
        for field in fields:
            value = self.get(account_id, field)
            if value:
                found[field] = value
        return found

    def which_set(self, account_id: int, fields: Iterable[str]) -> dict[str, bool]:
        """For display: whether each field has a value (never the value)."""
        return {field: bool(self.get(account_id, field)) for field in fields}

    def delete_account(self, account_id: int, fields: Iterable[str]) -> list[str]:
        """Forget every listed secret of an account; returns the fields that had one."""
        return [field for field in fields if self.delete(account_id, field)]

    # -- async variants (keyring may block) --------------------------------------------------

    async def _run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    async def aget(self, account_id: int, field: str) -> str | None:
        return await self._run(lambda: self.get(account_id, field))

    async def aset(self, account_id: int, field: str, value: str) -> None:
        await self._run(lambda: self.set(account_id, field, value))

    async def adelete(self, account_id: int, field: str) -> bool:
        return await self._run(lambda: self.delete(account_id, field))

    async def aload(self, account_id: int, fields: Iterable[str]) -> dict[str, str]:
        wanted = list(fields)
        return await self._run(lambda: self.load(account_id, wanted))

    async def awhich_set(self, account_id: int, fields: Iterable[str]) -> dict[str, bool]:
        wanted = list(fields)
        return await self._run(lambda: self.which_set(account_id, wanted))

    async def adelete_account(self, account_id: int, fields: Iterable[str]) -> list[str]:
        wanted = list(fields)
        return await self._run(lambda: self.delete_account(account_id, wanted))

    async def aavailable(self) -> str | None:
        return await self._run(self.available)

    # -- errors --------------------------------------------------------------------------------

    @staticmethod
    def _call(action: str, account_id: int, field: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001  backends raise their own (D-Bus, locked, denied)
            # The backend's own text is left out: it could quote what it was given.
            raise SecretStoreError(
                f"the keyring could not {action} secret {field!r} of account {account_id} "
                f"({type(exc).__name__})"
            ) from None
