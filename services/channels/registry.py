"""Which adapter serves which kind of account, and building one from an account and its secrets.

:data:`ADAPTER_KINDS` maps each kind (the ``accounts.adapter`` column) to the module and class that
implement it, the channels it serves and a label. Classes are imported only when needed
(:func:`adapter_class`), so a kind whose module is absent from a build fails with a clear
:class:`~console.errors.ConsoleError` when used, and the others keep working.

An adapter is built from an :class:`~services.channels.base.AccountConfig` (the account row plus
its keyring secrets, :func:`account_config`) and the shared ``httpx.AsyncClient`` (adapters that
do not speak HTTP ignore it): :func:`build_adapter`. Each class declares ``SETTING_FIELDS`` and
``SECRET_FIELDS`` (names or :class:`~services.channels.fields.FieldSpec`), which
:func:`setting_fields`, :func:`secret_fields` and :func:`check_settings` read.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import httpx

from console.domain import Channel
from console.errors import AccountError, ConsoleError
from console.storage.accounts import Account
from services.channels.base import AccountConfig, ChannelAdapter
from services.channels.fields import FieldSpec, FieldValue, coerce_settings, field_specs


@dataclass(frozen=True, slots=True)
class AdapterKind:
    kind: str
    module: str
    class_name: str
    channels: frozenset[Channel]
    label: str

    @property
    def path(self) -> str:
        return f"{self.module}.{self.class_name}"


def _kind(kind: str, module: str, cls: str, channels: set[Channel], label: str) -> AdapterKind:
    return AdapterKind(kind, f"services.channels.{module}", cls, frozenset(channels), label)


ADAPTER_KINDS: dict[str, AdapterKind] = {
    k.kind: k
    for k in (
        _kind("x", "x", "XAdapter", {Channel.X}, "X API v2"),
        _kind(
            "meta",
            "meta",
            "MetaAdapter",
            {Channel.FACEBOOK, Channel.INSTAGRAM, Channel.MESSENGER},
            "Meta Graph API (Facebook, Instagram, Messenger)",
        ),
        _kind("whatsapp", "whatsapp", "WhatsAppAdapter", {Channel.WHATSAPP}, "WhatsApp Cloud API"),
        _kind("twilio", "twilio", "TwilioSmsAdapter", {Channel.SMS}, "Twilio SMS"),
        _kind("email", "email", "EmailAdapter", {Channel.EMAIL}, "Email (IMAP and SMTP)"),
        _kind("phone", "phone", "PhoneAdapter", {Channel.PHONE}, "Phone (calls logged by agents)"),
        _kind("sandbox", "sandbox", "SandboxAdapter", set(Channel), "Sandbox (no network)"),
    )
}


def adapter_kind(kind: str) -> AdapterKind:
    try:
        return ADAPTER_KINDS[kind]
    except KeyError:
        known = ", ".join(ADAPTER_KINDS)
        raise AccountError(f"unknown adapter kind {kind!r}; use one of {known}") from None


def kinds_for(channel: Channel) -> list[AdapterKind]:
    """The kinds that can serve a channel, the real one first and the sandbox last."""
    found = [k for k in ADAPTER_KINDS.values() if channel in k.channels]
    return sorted(found, key=lambda k: k.kind == "sandbox")


def adapter_class(kind: str) -> type[Any]:
    """The class of a kind, imported now; a clear ConsoleError when this build lacks it."""
    spec = adapter_kind(kind)
    try:
        module = importlib.import_module(spec.module)
    except ImportError as exc:
        raise ConsoleError(
            f"the {spec.label} adapter is not available in this build ({spec.module}: {exc})"
        ) from None
    cls = getattr(module, spec.class_name, None)
    if not isinstance(cls, type):
        raise ConsoleError(f"the {spec.label} adapter is not available ({spec.path} is missing)")
    return cls


def is_available(kind: str) -> bool:
    try:
        adapter_class(kind)
    except ConsoleError:
        return False
    return True


def setting_fields(kind: str) -> tuple[FieldSpec, ...]:
    return field_specs(getattr(adapter_class(kind), "SETTING_FIELDS", ()))


def secret_fields(kind: str) -> tuple[FieldSpec, ...]:
    return field_specs(getattr(adapter_class(kind), "SECRET_FIELDS", ()))


def secret_names(kind: str) -> tuple[str, ...]:
    """Secret field names of a kind; none when its module is absent (nothing can be stored)."""
    try:
        return tuple(f.name for f in secret_fields(kind))
    except ConsoleError:
        return ()


def check_settings(
    kind: str, channel: Channel | str, settings: Mapping[str, Any], *, partial: bool = False
) -> dict[str, FieldValue]:
    """Settings for an account of ``kind`` on ``channel``, converted to their declared types.

    Raises :class:`AccountError` for an unknown kind, a channel the kind does not serve, unknown
    setting names, bad values and (unless ``partial``) missing required settings. A class that
    declares no ``SETTING_FIELDS`` accepts any names.
    """
    spec = adapter_kind(kind)
    try:
        chan = Channel(str(channel))
    except ValueError:
        raise AccountError(f"unknown channel {channel!r}") from None
    if chan not in spec.channels:
        served = ", ".join(sorted(c.value for c in spec.channels))
        raise AccountError(f"the {spec.label} adapter serves {served}, not {chan.value}")
    cls = adapter_class(kind)
    if not hasattr(cls, "SETTING_FIELDS"):
        return {k: v for k, v in settings.items() if v is not None and v != ""}
    return coerce_settings(setting_fields(kind), settings, partial=partial)


def account_config(
    account: Account | Mapping[str, Any], secrets: Mapping[str, str]
) -> AccountConfig:
    """What an adapter is built from: the stored account (an :class:`Account` or its row as a
    mapping with the ``accounts`` columns) plus its secrets."""
    if isinstance(account, Account):
        return AccountConfig(
            id=account.id,
            name=account.name,
            channel=account.channel,
            kind=account.kind,
            handle=account.handle,
            settings=dict(account.settings),
            secrets=dict(secrets),
        )
    settings = account.get("settings") or {}
    if isinstance(settings, str):
        settings = json.loads(settings or "{}")
    return AccountConfig(
        id=int(account["id"]),
        name=str(account["name"]),
        channel=Channel(str(account["channel"])),
        kind=str(account.get("kind") or account.get("adapter") or "sandbox"),
        handle=account.get("handle"),
        settings=dict(settings),
        secrets=dict(secrets),
    )


def build_adapter(config: AccountConfig, client: httpx.AsyncClient) -> ChannelAdapter:
    """An adapter for one account; the kind must serve the account's channel."""
    spec = adapter_kind(config.kind)
    if config.channel not in spec.channels:
        raise AccountError(
            f"account {config.name!r} is on {config.channel.value}, which the {spec.label} "
            "adapter does not serve"
        )
    cls = adapter_class(config.kind)
    return cast(ChannelAdapter, cls(config, client))
