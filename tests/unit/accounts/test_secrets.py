"""SecretStore: the keyring layout, the async variants, backends that cannot keep a secret, the
standard PYTHON_KEYRING_BACKEND variable, and secrets kept out of logs, reprs and errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordSetError

from console.errors import SecretStoreError
from services.secrets import SERVICE, SecretStore
from tests.helpers.memkeyring import MemoryKeyring

SECRET = "tok-3f9a-very-secret"


def test_secrets_live_under_the_account_and_field(memory_keyring: MemoryKeyring) -> None:
    store = SecretStore()
    store.set(4, "smtp_password", SECRET)
    store.set(4, "imap_password", "other")
    store.set(5, "smtp_password", "fifth")
    assert memory_keyring.store[(SERVICE, "account:4:smtp_password")] == SECRET
    assert store.get(4, "smtp_password") == SECRET
    assert store.get(4, "missing") is None
    assert store.load(4, ["smtp_password", "imap_password", "missing"]) == {
        "smtp_password": SECRET,
        "imap_password": "other",
    }
    assert store.which_set(4, ["smtp_password", "missing"]) == {
        "smtp_password": True,
        "missing": False,
    }
    assert store.delete(4, "smtp_password") is True
    assert store.delete(4, "smtp_password") is False  # already gone: not an error
    assert store.delete_account(4, ["smtp_password", "imap_password"]) == ["imap_password"]
    assert list(memory_keyring.store) == [(SERVICE, "account:5:smtp_password")]
    with pytest.raises(SecretStoreError, match="empty value"):
        store.set(4, "smtp_password", "")
    with pytest.raises(SecretStoreError, match="invalid secret field"):
        store.get(4, "a:b")


def test_async_variants_run_in_an_executor(aio: Callable[..., Any]) -> None:
    store = SecretStore()

    async def scenario() -> tuple[Any, ...]:
        await store.aset(1, "token", SECRET)
        return (
            await store.aget(1, "token"),
            await store.aload(1, ["token", "x"]),
            await store.awhich_set(1, ["token", "x"]),
            await store.aavailable(),
            await store.adelete(1, "token"),
            await store.adelete_account(1, ["token"]),
        )

    assert aio(scenario()) == (
        SECRET,
        {"token": SECRET},
        {"token": True, "x": False},
        None,
        True,
        [],
    )


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        (keyring.backends.fail.Keyring(), "no keyring backend is available"),
        (keyring.backends.null.Keyring(), "stores nothing"),
    ],
)
def test_backends_that_cannot_keep_a_secret_give_a_clear_message(
    backend: KeyringBackend, says: str
) -> None:
    keyring.set_keyring(backend)  # the autouse memory_keyring fixture puts its own back
    store = SecretStore()
    with pytest.raises(SecretStoreError) as caught:
        store.set(1, "token", SECRET)
    text = str(caught.value)
    assert says in text
    assert "PYTHON_KEYRING_BACKEND" in text and "keyrings.cryptfile" in text
    assert "keyrings.alt" not in text  # never advise the plain-text backend
    assert store.available() == text
    with pytest.raises(SecretStoreError):
        store.get(1, "token")


class PlaintextKeyring(MemoryKeyring):
    """Looks like keyrings.alt's plain-text file backend (which keyring picks silently)."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


def test_a_plaintext_backend_is_refused_unless_asked_for_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyring.set_keyring(PlaintextKeyring())
    store = SecretStore()
    with pytest.raises(SecretStoreError, match="plain text"):
        store.set(1, "token", SECRET)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    store.set(1, "token", SECRET)
    assert store.get(1, "token") == SECRET


def test_the_standard_environment_variable_chooses_the_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.helpers.memkeyring.MemoryKeyring")
    keyring.core.init_backend()  # what keyring does on first use in a fresh process
    assert "tests.helpers.memkeyring.MemoryKeyring" in SecretStore().check()
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core.init_backend()
    assert "no keyring backend" in (SecretStore().available() or "")
    # A name that does not load fails inside keyring's loader: still a clear SecretStoreError.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "nope.Backend")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    with pytest.raises(SecretStoreError, match=re.escape("PYTHON_KEYRING_BACKEND='nope.Backend'")):
        SecretStore().get(1, "token")


class Leaky(MemoryKeyring):
    """A backend whose errors quote what it was given."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError(f"cannot store {password!r} for {username}")


def test_secrets_stay_out_of_logs_reprs_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = SecretStore()
    store.set(3, "token", SECRET)
    assert store.load(3, ["token"]) == {"token": SECRET}
    store.delete(3, "token")
    leaky = SecretStore(backend=Leaky())
    with pytest.raises(SecretStoreError) as caught:
        leaky.set(3, "token", SECRET)
    assert SECRET not in str(caught.value) and "token" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert SECRET not in caplog.text and "token" in caplog.text
    assert SECRET not in repr(store) and SECRET not in repr(leaky)
