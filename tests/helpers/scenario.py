"""A small, readable workspace for storage, widget and end-to-end tests.

``build_inbox(ws, now)`` ingests (with triage) a handful of customers on several channels:

- Andy (key ``andy``): phoned, then emailed, then tweeted (cross-channel, escalating wording);
- Bea: three identical tweets (a duplicates group), high reach;
- Carla: an SMS thread we already answered;
- Dan: a Messenger DM, waiting;
- ``n_filler`` more customers on X, one tweet each, to make paging real.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.domain import Channel, Direction, IncomingMessage
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from console.triage.engine import incremental_hook

HOUR = 3600


@dataclass(frozen=True)
class Scenario:
    now: int
    messages: int


def msg(
    channel: Channel,
    ext: str,
    author: str,
    text: str,
    at: int,
    *,
    direction: Direction = Direction.IN,
    account: str | None = None,
    reply_to: str | None = None,
    thread: str | None = None,
    name: str | None = None,
    key: str | None = None,
    followers: int | None = None,
    to: str | None = None,
    subject: str | None = None,
) -> IncomingMessage:
    return IncomingMessage(
        channel=channel,
        account=account
        or {"x": "@AcmeCare", "email": "support@acme.test"}.get(str(channel), f"acme-{channel}"),
        external_id=ext,
        direction=direction,
        author=author,
        text=text,
        created_at=at,
        in_reply_to=reply_to,
        thread=thread,
        author_name=name,
        customer_key=key,
        followers=followers,
        to=to,
        subject=subject,
    )


def records(now: int, n_filler: int = 0) -> list[IncomingMessage]:
    out = [
        msg(
            Channel.PHONE,
            "call-1",
            "+358401111111",
            "Called about a double charge on the invoice.",
            now - 30 * HOUR,
            name="Andy Loynes",
            key="andy",
        ),
        msg(
            Channel.EMAIL,
            "<a1@example.org>",
            "andy@example.org",
            "Hello, I phoned yesterday about the double charge. Still nothing has happened.",
            now - 6 * HOUR,
            name="Andy Loynes",
            key="andy",
            subject="Double charge",
        ),
        msg(
            Channel.X,
            "t-andy-1",
            "andyloynes",
            "@AcmeCare third time I'm asking: refund the double charge or I cancel!!!",
            now - 2 * HOUR,
            name="Andy Loynes",
            key="andy",
            followers=1200,
        ),
        msg(
            Channel.X,
            "t-bea-1",
            "bea_k",
            "@AcmeCare my parcel 4471 never arrived",
            now - 5 * HOUR,
            name="Bea Koski",
            followers=250_000,
        ),
        msg(
            Channel.X,
            "t-bea-2",
            "bea_k",
            "@AcmeCare My parcel 4471 never arrived!",
            now - 4 * HOUR,
            name="Bea Koski",
            followers=250_000,
        ),
        msg(
            Channel.X,
            "t-bea-3",
            "bea_k",
            "my parcel 4471 never arrived https://t.co/x @AcmeCare",
            now - 3 * HOUR,
            name="Bea Koski",
            followers=250_000,
        ),
        msg(
            Channel.SMS,
            "sms-1",
            "+358402222222",
            "Is my order 9912 shipped?",
            now - 9 * HOUR,
            name="Carla Rossi",
        ),
        msg(
            Channel.SMS,
            "sms-2",
            "acme-sms",
            "Hi Carla, yes: it left today. ^AC",
            now - 8 * HOUR,
            direction=Direction.OUT,
            to="+358402222222",
        ),
        msg(
            Channel.MESSENGER,
            "m-1",
            "psid-dan",
            "Hei, missä tilaukseni on?",
            now - 40 * 60,
            name="Dan Virtanen",
        ),
    ]
    for i in range(n_filler):
        out.append(
            msg(
                Channel.X,
                f"t-fill-{i}",
                f"filler{i}",
                f"@AcmeCare question number {i} about my plan",
                now - 10 * HOUR - i * 60,
                name=f"Filler Person {i}",
            )
        )
    return out


def build_inbox(ws: Workspace, now: int, n_filler: int = 0) -> Scenario:
    recs = records(now, n_filler)
    Ingestor(ws, after_batch=incremental_hook(clock=lambda: now)).ingest(recs)
    return Scenario(now=now, messages=len(recs))


def customer_id(ws: Workspace, handle: str) -> int:
    value = ws.scalar("SELECT customer_id FROM identities WHERE handle = ?", (handle,))
    assert value is not None, f"no identity {handle}"
    return int(value)


def conversation_of(ws: Workspace, external_id: str) -> int:
    value = ws.scalar("SELECT conversation_id FROM messages WHERE external_id = ?", (external_id,))
    assert value is not None, f"no message {external_id}"
    return int(value)
