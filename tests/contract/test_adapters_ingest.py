"""What the HTTP adapters fetch, written into a real workspace: the mapping choices (threading,
public vs private, identities, phone numbers joining one customer) hold end to end."""

from __future__ import annotations

from typing import Any

import httpx

from console.domain import Channel
from console.storage.ingest import Ingestor
from services.channels.meta import MetaAdapter
from services.channels.twilio import TwilioSmsAdapter
from services.channels.whatsapp import WhatsAppAdapter
from services.channels.x import XAdapter
from tests.contract import test_meta_contract as meta_t
from tests.contract import test_twilio_contract as twilio_t
from tests.contract import test_whatsapp_contract as wa_t
from tests.contract import test_x_contract as x_t
from tests.contract.servers.meta_server import MetaServer
from tests.contract.servers.twilio_server import TwilioServer
from tests.contract.servers.whatsapp_server import WhatsAppServer
from tests.contract.servers.x_server import OWN_ID, XServer


def test_fetched_messages_land_as_the_channels_mean_them(
    workspace: Any,
    x_server: XServer,
    meta_server: MetaServer,
    wa_server: WhatsAppServer,
    twilio_server: TwilioServer,
    with_client: Any,
) -> None:
    x_server.add_user(x_t.ANDY, "andyloynes", "Andy Loynes", 1234)
    tweet = x_server.add_mention(x_t.ANDY, "@AcmeCare down again")
    x_server.add_mention(x_t.ANDY, "@AcmeCare still down", reply_to=tweet)
    x_server.add_dm(x_t.ANDY, "account 12345")
    post = meta_server.add_post()
    meta_server.add_comment(post, meta_t.ANDY, "Broken")
    meta_server.add_dm("messenger", *meta_t.ANDY, "Parcel?")
    number = "447700900123"
    wa_server.inbound(number, "Andy", "WhatsApp here")
    twilio_server.add_inbound(f"+{number}", "SMS here")

    async def body(client: httpx.AsyncClient) -> list[Any]:
        adapters = [
            XAdapter(x_t.config(x_server), client),
            MetaAdapter(meta_t.config(meta_server, Channel.FACEBOOK), client),
            MetaAdapter(meta_t.config(meta_server, Channel.MESSENGER), client),
            WhatsAppAdapter(wa_t.config(wa_server), client),
            TwilioSmsAdapter(twilio_t.config(twilio_server, lookback_days=30000), client),
        ]
        return [m for a in adapters for m in (await a.fetch({})).messages]

    records = with_client(body)
    Ingestor(workspace).ingest(records)
    Ingestor(workspace).ingest(records)  # a second fetch of the same page changes nothing

    rows = workspace.conn.execute(
        "SELECT c.channel, c.is_public, count(m.id), c.customer_id FROM conversations c"
        " JOIN messages m ON m.conversation_id = c.id GROUP BY c.id ORDER BY c.channel, c.is_public"
    ).fetchall()
    shape = [(ch, pub, n) for ch, pub, n, _ in rows]
    assert shape == [
        ("facebook", 1, 1),
        ("messenger", 0, 1),
        ("sms", 0, 1),
        ("whatsapp", 0, 1),
        ("x", 0, 1),  # the DM: private, its own conversation
        ("x", 1, 2),  # the mention and the reply to it: one public thread
    ]
    by_channel = {ch: cust for ch, _, _, cust in rows}
    assert by_channel["sms"] == by_channel["whatsapp"], "one phone number, one customer"
    handles = {
        h for (h,) in workspace.conn.execute("SELECT handle FROM identities WHERE channel='x'")
    }
    assert handles == {"andyloynes"} and OWN_ID not in handles
