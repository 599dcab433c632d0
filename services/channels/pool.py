"""The adapters of one workspace's accounts, built once and shared by the outbox and sync.

``AdapterPool(ws, client)`` is the ``adapters`` callable that :class:`services.outbox.Outbox` and
:class:`services.sync.SyncService` take: ``pool(account_id)`` builds the account's adapter on first
use (its row from the workspace, its secrets from the keyring, through
``services.channels.registry``) and returns the same one afterwards. Sandbox accounts get a
:class:`~services.channels.sandbox.SandboxAdapter` recording in the workspace, so what they "send"
survives restarts. Keyring reads block, so a GUI calls :meth:`AdapterPool.preload` first (it reads
the secrets in an executor); :meth:`forget` drops an account's adapter after its set-up changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import httpx

from console.storage import accounts as accounts_repo
from console.storage.db import Workspace
from services.channels import registry
from services.channels.base import ChannelAdapter
from services.channels.sandbox import SandboxAdapter, WorkspaceJournal
from services.secrets import SecretStore


class AdapterPool:
    def __init__(
        self, ws: Workspace, client: httpx.AsyncClient, *, secrets: SecretStore | None = None
    ) -> None:
        self.ws = ws
        self.client = client
        self.secrets = secrets if secrets is not None else SecretStore()
        self._adapters: dict[int, ChannelAdapter] = {}
        self._loaded: dict[int, dict[str, str]] = {}

    def __call__(self, account_id: int) -> ChannelAdapter:
        adapter = self._adapters.get(account_id)
        if adapter is None:
            adapter = self._adapters[account_id] = self._build(account_id)
        return adapter

    def _build(self, account_id: int) -> ChannelAdapter:
        account = accounts_repo.get_account(self.ws, account_id)
        if account.kind == "sandbox":
            config = registry.account_config(account, {})
            return SandboxAdapter(config, self.client, journal=WorkspaceJournal(self.ws))
        secrets = self._loaded.pop(account_id, None)
        if secrets is None:
            secrets = self.secrets.load(account_id, registry.secret_names(account.kind))
        return registry.build_adapter(registry.account_config(account, secrets), self.client)

    async def preload(self, account_ids: Iterable[int] | None = None) -> None:
        """Read the accounts' secrets off the event loop (keyring blocks), ready for building."""
        ids = (
            list(account_ids)
            if account_ids is not None
            else [a.id for a in accounts_repo.list_accounts(self.ws)]
        )
        for account in accounts_repo.list_accounts(self.ws):
            if account.id in ids and account.kind != "sandbox" and account.id not in self._adapters:
                names = registry.secret_names(account.kind)
                self._loaded[account.id] = await self.secrets.aload(account.id, names)

    def forget(self, account_id: int) -> None:
        """The account was edited or removed: build it afresh next time."""
        self._adapters.pop(account_id, None)
        self._loaded.pop(account_id, None)

    def built(self) -> list[ChannelAdapter]:
        return list(self._adapters.values())

    async def aclose(self) -> None:
        """Close adapters that keep connections (IMAP...); the shared client is the owner's."""
        for adapter in self._adapters.values():
            close = getattr(adapter, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        self._adapters.clear()
