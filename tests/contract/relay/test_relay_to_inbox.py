"""The relay and the WhatsApp adapter agree (notes/relay_api.md): a signed webhook posted to the
relay reaches the workspace inbox through the sync service, once, and the cursor moves on."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from console.changes import EventBus, InboxChanged
from console.domain import Channel
from console.storage import accounts as accounts_repo
from console.storage.db import Workspace
from services.channels.base import AccountConfig
from services.channels.whatsapp import WhatsAppAdapter
from services.sync import SyncService
from tests.contract.relay.conftest import RunningRelay
from tests.contract.relay.test_relay_http import WA_EVENT, post_meta
from tests.unit.outbox.conftest import Recorder


def test_a_webhook_reaches_the_inbox_exactly_once(
    relay: RunningRelay, workspace: Workspace, aio: Any
) -> None:
    body = json.dumps(WA_EVENT, ensure_ascii=False).encode()
    assert post_meta(relay, body, "/webhooks/whatsapp").status_code == 200
    assert post_meta(relay, body, "/webhooks/whatsapp").status_code == 200  # Meta retried
    account = accounts_repo.add_account(
        workspace, channel="whatsapp", name="acme-wa", kind="whatsapp"
    )
    config = AccountConfig(
        id=account.id,
        name="acme-wa",
        channel=Channel.WHATSAPP,
        kind="whatsapp",
        settings={"relay_url": relay.url},
        secrets={"relay_token": relay.config.relay_token or "", "access_token": "unused"},
    )
    bus = EventBus()
    events = Recorder(bus)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
            adapter = WhatsAppAdapter(config, client)
            sync = SyncService(
                workspace, lambda aid: adapter, bus, time.time, triage_hook=lambda ws, b: None
            )
            first = await sync.sync_once()
            second = await sync.sync_once()
            return first, second

    first, second = aio(scenario())
    assert (first["added"], second["added"]) == (1, 0), first
    row = workspace.query_one("SELECT external_id, text, author FROM messages")
    assert row == {
        "external_id": "wamid.A1",
        "text": "Hola, my order never came 😞",
        "author": "16505551234",
    }
    assert accounts_repo.get_cursor(workspace, account.id)["relay_after"] == "1"
    assert any(e.added for e in events.of(InboxChanged))
