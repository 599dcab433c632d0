"""The adapter registry: kinds, lazy loading, settings checks, configs and building adapters."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from console.domain import Channel
from console.errors import AccountError, ConsoleError, RejectedError
from console.storage import accounts as repo
from console.storage.db import Workspace
from services.channels import registry
from services.channels.base import OutgoingReply
from services.channels.email import EmailAdapter
from services.channels.phone import PhoneAdapter

HTTP_KINDS = ("x", "meta", "whatsapp", "twilio")


def test_every_kind_is_known_with_its_channels() -> None:
    assert set(registry.ADAPTER_KINDS) == {
        "x",
        "meta",
        "whatsapp",
        "twilio",
        "email",
        "phone",
        "sandbox",
    }
    assert registry.ADAPTER_KINDS["meta"].channels == {
        Channel.FACEBOOK,
        Channel.INSTAGRAM,
        Channel.MESSENGER,
    }
    assert registry.ADAPTER_KINDS["sandbox"].channels == set(Channel)
    assert [k.kind for k in registry.kinds_for(Channel.EMAIL)] == ["email", "sandbox"]
    with pytest.raises(AccountError, match="unknown adapter kind"):
        registry.adapter_kind("fax")


def test_email_and_phone_fields_and_settings_checks() -> None:
    names = [f.name for f in registry.setting_fields("email")]
    assert names[0] == "address" and "imap_host" in names and "smtp_security" in names
    assert [f.name for f in registry.secret_fields("email")] == ["imap_password", "smtp_password"]
    assert registry.secret_fields("phone") == ()
    settings = registry.check_settings(
        "email",
        "email",
        {"address": "help@brand.example", "imap_port": "993", "imap_append_sent": "no"},
    )
    assert settings == {
        "address": "help@brand.example",
        "imap_port": 993,
        "imap_append_sent": False,
    }
    with pytest.raises(AccountError, match="unknown setting"):
        registry.check_settings("email", "email", {"address": "a@b", "imap_hots": "x"})
    with pytest.raises(AccountError, match="missing required setting"):
        registry.check_settings("email", "email", {"imap_host": "x"})
    assert registry.check_settings("email", "email", {"imap_host": "x"}, partial=True)
    with pytest.raises(AccountError, match="must be one of"):
        registry.check_settings("email", "email", {"address": "a@b", "smtp_security": "ssl"})
    with pytest.raises(AccountError, match="whole number"):
        registry.check_settings("email", "email", {"address": "a@b", "imap_port": "x"})
    with pytest.raises(AccountError, match="serves email, not sms"):
        registry.check_settings("email", "sms", {"address": "a@b"})


def test_build_adapter_from_a_stored_account_and_its_secrets(workspace: Workspace) -> None:
    account = repo.add_account(
        workspace,
        channel="email",
        name="Support",
        kind="email",
        settings={"address": "help@brand.example"},
    )
    config = registry.account_config(account, {"smtp_password": "pw-123"})
    assert config.secrets == {"smtp_password": "pw-123"} and "pw-123" not in repr(config)
    client = httpx.AsyncClient()
    try:
        adapter = registry.build_adapter(config, client)
        assert isinstance(adapter, EmailAdapter) and adapter.account == "Support"
        row = workspace.query_one("SELECT * FROM accounts WHERE id = ?", (account.id,))
        assert row is not None
        assert registry.account_config(row, {}).settings == {"address": "help@brand.example"}
        phone = repo.add_account(workspace, channel="phone", name="Hotline", kind="phone")
        assert isinstance(
            registry.build_adapter(registry.account_config(phone, {}), client), PhoneAdapter
        )
        wrong = repo.add_account(workspace, channel="sms", name="Line", kind="phone")
        with pytest.raises(AccountError, match="does not serve"):
            registry.build_adapter(registry.account_config(wrong, {}), client)
    finally:
        asyncio.run(client.aclose())


def test_a_kind_whose_module_is_absent_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    ghost = registry.AdapterKind(
        "ghost", "services.channels.ghost_adapter", "GhostAdapter", frozenset({Channel.X}), "Ghost"
    )
    monkeypatch.setitem(registry.ADAPTER_KINDS, "ghost", ghost)
    with pytest.raises(ConsoleError, match="Ghost adapter is not available"):
        registry.adapter_class("ghost")
    assert registry.is_available("ghost") is False
    assert registry.secret_names("ghost") == ()


@pytest.mark.parametrize("kind", [*HTTP_KINDS, "sandbox"])
def test_other_helpers_adapters_load_when_present(kind: str) -> None:
    if not registry.is_available(kind):
        pytest.skip(f"{registry.ADAPTER_KINDS[kind].path} is not in this checkout yet")
    cls = registry.adapter_class(kind)
    assert cls.__name__ == registry.ADAPTER_KINDS[kind].class_name
    registry.setting_fields(kind)
    registry.secret_fields(kind)


def test_the_phone_adapter_fetches_nothing_and_sends_nothing(workspace: Workspace) -> None:
    phone = repo.add_account(workspace, channel="phone", name="Hotline", kind="phone")
    adapter = PhoneAdapter(registry.account_config(phone, {}), None)
    assert asyncio.run(adapter.fetch({"a": "1"})).messages == []
    with pytest.raises(RejectedError, match="logged, not sent"):
        asyncio.run(adapter.send(OutgoingReply("k", "hi", "private", "+441", None)))
    assert "logged by agents" in asyncio.run(adapter.test())
