"""Small workspaces for the reply tests, built through the real Ingestor and incremental triage.

The scene (times relative to ``NOW``):

- Maija (Finnish) posted the same complaint three times on X to @AcmeCare: a duplicates group,
  each post its own conversation; the second post was already answered by the brand.
- Four customers (English, Italian, Spanish, English) posted the same outage text on X: a
  same-issue group.
- Laura wrote on Messenger 30 hours ago (outside 24 h, inside the 7-day HUMAN_AGENT window), Pekka
  on WhatsApp 30 hours ago (window closed), Sam by SMS, Ana on Messenger 10 minutes ago.
- A logged phone call from Bob.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from console.domain import Channel, Direction, IncomingMessage
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from console.triage.engine import incremental_hook

NOW = 1_780_000_000
HOUR = 3600

COMPLAINT_FI = "@AcmeCare tilaukseni ei ole vieläkään saapunut, auttakaa nyt heti"
OUTAGE = "@AcmeCare the app is down again and I cannot log in at all"


class NoDetector:
    """Languages come from the records; no lingua in unit tests."""

    def detect(self, texts: Sequence[str]) -> list[str | None]:
        return [None] * len(texts)

    def score(self, text: str, language: str | None) -> float:
        return -0.5


def msg(
    channel: Channel,
    ext: str,
    author: str,
    text: str,
    at: int,
    *,
    account: str = "AcmeCare",
    direction: Direction = Direction.IN,
    name: str | None = None,
    language: str | None = None,
    in_reply_to: str | None = None,
    key: str | None = None,
    extra: dict[str, str] | None = None,
) -> IncomingMessage:
    return IncomingMessage(
        channel=channel,
        account=account,
        external_id=ext,
        direction=direction,
        author=author,
        text=text,
        created_at=at,
        author_name=name,
        language=language,
        in_reply_to=in_reply_to,
        customer_key=key,
        extra=extra or {},
    )


def scene_records() -> list[IncomingMessage]:
    x = Channel.X
    records = [
        msg(
            x, "fi1", "maija_v", COMPLAINT_FI, NOW - 5 * HOUR, name="Maija Virtanen", language="fi"
        ),
        msg(
            x,
            "fi2",
            "maija_v",
            COMPLAINT_FI + "!!",
            NOW - 4 * HOUR,
            name="Maija Virtanen",
            language="fi",
        ),
        msg(
            x,
            "fi2r",
            "AcmeCare",
            "@maija_v Pahoittelut, tarkistamme asian.",
            NOW - 3 * HOUR,
            direction=Direction.OUT,
            in_reply_to="fi2",
        ),
        msg(
            x,
            "fi3",
            "maija_v",
            COMPLAINT_FI + "!!!",
            NOW - 2 * HOUR,
            name="Maija Virtanen",
            language="fi",
        ),
        msg(x, "o1", "john_d", OUTAGE, NOW - 90 * 60, name="John Doe", language="en"),
        msg(x, "o2", "giulia", OUTAGE, NOW - 80 * 60, name="Giulia Bianchi", language="it"),
        msg(x, "o3", "pablo", OUTAGE, NOW - 70 * 60, name="Pablo García", language="es"),
        msg(x, "o4", "kim", OUTAGE + "!", NOW - 60 * 60, name="Kim Lee", language="en"),
        msg(
            Channel.MESSENGER,
            "m1",
            "psid-laura",
            "Hi, my parcel never came, order A-77",
            NOW - 30 * HOUR,
            account="Acme Messenger",
            name="Laura Smith",
            language="en",
            extra={"order_number": "A-77"},
        ),
        msg(
            Channel.WHATSAPP,
            "w1",
            "+358401234567",
            "Hei, laskussani on virhe",
            NOW - 30 * HOUR,
            account="Acme WhatsApp",
            name="Pekka Korhonen",
            language="fi",
        ),
        msg(
            Channel.SMS,
            "s1",
            "+441234567890",
            "Where is my refund?",
            NOW - HOUR,
            account="Acme SMS",
            name="Sam Jones",
            language="en",
        ),
        msg(
            Channel.MESSENGER,
            "m2",
            "psid-ana",
            "Ciao, ho un problema con la password",
            NOW - 10 * 60,
            account="Acme Messenger",
            name="Ana Rossi",
            language="it",
        ),
        msg(
            Channel.PHONE,
            "p1",
            "+15550001",
            "Call: customer asked about the invoice",
            NOW - HOUR,
            account="Acme Phone",
            name="Bob Brown",
            language="en",
        ),
    ]
    return records


def build_scene(path: Path) -> Workspace:
    ws = Workspace(path)
    hook = incremental_hook(clock=lambda: NOW, detector=NoDetector(), scorer=NoDetector())
    Ingestor(ws, after_batch=hook).ingest(scene_records())
    return ws


def message_id(ws: Workspace, ref: str) -> int:
    channel, _, ext = ref.partition(":")
    value = ws.scalar(
        "SELECT id FROM messages WHERE channel = ? AND external_id = ?", (channel, ext)
    )
    assert value is not None, ref
    return int(value)


class Clock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now
