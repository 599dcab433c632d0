"""The whole path with a real adapter: an X account in the workspace, its tokens in the keyring,
the adapter built by the pool (registry + secret store), mentions pulled by the sync service into
the inbox, a reply queued and sent by the outbox to the loopback X API, threaded to the mention."""

from __future__ import annotations

import time
from typing import Any

import httpx

from console.changes import EventBus, InboxChanged
from console.storage import accounts as accounts_repo
from console.storage import outbox_repo
from console.storage.db import Workspace
from services.channels.pool import AdapterPool
from services.outbox import Outbox
from services.secrets import SecretStore
from services.sync import SyncService
from tests.contract.servers.x_server import BEARER, OWN_ID, USER_TOKEN
from tests.unit.outbox.conftest import Recorder

ANDY = "2244994945"


def test_sync_then_reply_through_the_real_x_adapter(
    workspace: Workspace, x_server: Any, aio: Any
) -> None:
    x_server.add_user(ANDY, "andyloynes", "Andy Loynes", 1234)
    mention = x_server.add_mention(ANDY, "@AcmeCare my parcel never arrived")
    account = accounts_repo.add_account(
        workspace,
        channel="x",
        name="acme-x",
        kind="x",
        handle="AcmeCare",
        settings={"base_url": x_server.url, "user_id": OWN_ID, "handle": "AcmeCare"},
    )
    secrets = SecretStore()
    secrets.set(account.id, "bearer_token", BEARER)
    secrets.set(account.id, "user_access_token", USER_TOKEN)
    bus = EventBus()
    events = Recorder(bus)

    async def scenario() -> dict[str, Any]:
        async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
            pool = AdapterPool(workspace, client, secrets=secrets)
            await pool.preload()
            sync = SyncService(workspace, pool, bus, time.time, triage_hook=lambda ws, b: None)
            pulled = await sync.sync_once()
            row = workspace.query_one(
                "SELECT id, conversation_id FROM messages WHERE external_id = ?", (mention,)
            )
            assert row is not None, pulled
            outbox_repo.enqueue_reply(
                workspace,
                conversation_id=int(row["conversation_id"]),
                text="Sorry Andy, we are on it ^CP",
                now=int(time.time()),
                reply_to_message_id=int(row["id"]),
            )
            outbox = Outbox(workspace, pool, time.time, bus, retriage=lambda ws, ids: None)
            summary = await outbox.send_once()
            outbox.close()
            await pool.aclose()
            return summary

    summary = aio(scenario())
    assert summary["sent"] == 1, summary
    assert any(e.added for e in events.of(InboxChanged))  # the mention appeared live
    [post] = x_server.calls("POST", r"/2/tweets")
    assert post.json() == {
        "text": "Sorry Andy, we are on it ^CP",
        "reply": {"in_reply_to_tweet_id": mention},
    }
    item = outbox_repo.list_outbox(workspace)[0]
    assert item["state"] == "sent"
    assert item["remote_id"] == x_server.posts[0]["id"]
    assert item["reply_to"] == f"x:{mention}"
