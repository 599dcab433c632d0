"""Planted triage scenarios: ordinary cross-channel, multilingual traffic with escalating
customers, duplicate posters, an outage and repeat contacts hidden in it.

:func:`build` returns the records (in time order) and the truth: which customer keys were planted
as what. Ordinary customers include hard cases that must not be flagged escalating: a single angry
message that gets answered, a thought split over two quick posts, a thank-you tweet after a DM.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from console.domain import Channel, Direction, IncomingMessage

START = 1_730_000_000  # late October 2024
NOW = START + 120 * 86400
HOUR = 3600
DAY = 86400

TEXTS: dict[str, dict[str, list[str]]] = {
    "en": {
        "detail": ["I already tried restarting it twice.", "It started after the last update."],
        "ask": [
            "Hi, my order {n} has not arrived yet, could you check where it is?",
            "Hello, the app logs me out every time I open it on my {p}, any idea why?",
            "My bill for this month looks higher than usual, can you explain the charges?",
        ],
        "chase": [
            "I wrote about order {n} yesterday and nobody has answered me yet.",
            "Still waiting for an answer about my {p}, this is getting ridiculous.",
        ],
        "angry": [
            "This is the third time I contact you about order {n}!!! Terrible service, "
            "I want a refund or I will cancel my account",
            "ABSOLUTELY USELESS SUPPORT, still no answer after days, I am filing a complaint "
            "and switching provider",
        ],
        "thanks": ["Thanks a lot, that fixed it!", "Great, thank you for the quick help."],
        "angry_once": ["Your delivery was late and the box was damaged, I want a refund for {n}"],
    },
    "fi": {
        "detail": ["Kokeilin jo käynnistää laitteen uudelleen kahdesti."],
        "ask": [
            "Hei, tilaukseni {n} ei ole vieläkään saapunut, voisitteko tarkistaa missä se on?",
            "Sovellus kirjaa minut ulos joka kerta kun avaan sen, mistä on kyse?",
        ],
        "chase": ["Kirjoitin eilen tilauksesta {n} eikä kukaan ole vastannut minulle."],
        "angry": [
            "Tämä on jo kolmannen kerran kun otan yhteyttä tilauksesta {n}!!! Surkea palvelu, "
            "haluan rahat takaisin tai irtisanon sopimuksen",
        ],
        "thanks": ["Kiitos paljon, nyt toimii hyvin!"],
        "angry_once": ["Toimitus oli myöhässä ja paketti rikki, haluan hyvityksen tilauksesta {n}"],
    },
    "it": {
        "detail": ["Ho già provato a riavviare il telefono due volte."],
        "ask": [
            "Buongiorno, il mio ordine {n} non è ancora arrivato, potete controllare dove si trova?",
            "Salve, l'app mi disconnette ogni volta che la apro sul mio telefono, come mai?",
        ],
        "chase": ["Vi ho scritto ieri per l'ordine {n} e nessuno mi ha ancora risposto."],
        "angry": [
            "È la terza volta che vi scrivo per l'ordine {n}!!! Servizio pessimo, una vergogna, "
            "voglio il rimborso o faccio reclamo",
        ],
        "thanks": ["Grazie mille, adesso funziona tutto perfettamente!"],
        "angry_once": [
            "La consegna è arrivata in ritardo e il pacco era rotto, chiedo il rimborso"
        ],
    },
    "es": {
        "detail": ["Ya he probado a reiniciar el teléfono dos veces."],
        "ask": [
            "Hola, mi pedido {n} todavía no ha llegado, ¿podéis comprobar dónde está?",
            "Hola, la aplicación se cierra cada vez que la abro en el móvil, ¿sabéis por qué?",
        ],
        "chase": ["Os escribí ayer por el pedido {n} y nadie me ha respondido todavía."],
        "angry": [
            "¡¡¡Es la tercera vez que os escribo por el pedido {n}!!! Un servicio pésimo, una "
            "vergüenza, quiero el reembolso o pongo una queja",
        ],
        "thanks": ["Muchas gracias, ya funciona todo perfecto!"],
        "angry_once": [
            "El envío llegó tarde y la caja estaba rota, quiero el reembolso del pedido"
        ],
    },
    "de": {
        "detail": ["Ich habe das Gerät schon zweimal neu gestartet."],
        "ask": [
            "Hallo, meine Bestellung {n} ist immer noch nicht angekommen, können Sie das prüfen?",
            "Hallo, die App meldet mich jedes Mal ab, wenn ich sie öffne, woran liegt das?",
        ],
        "chase": ["Ich habe gestern wegen Bestellung {n} geschrieben und niemand hat geantwortet."],
        "angry": [
            "Ich schreibe jetzt zum dritten Mal wegen Bestellung {n}!!! Eine Frechheit, "
            "furchtbarer Service, ich will mein Geld zurück oder ich kündige",
        ],
        "thanks": ["Vielen Dank, jetzt funktioniert alles wunderbar!"],
        "angry_once": [
            "Die Lieferung kam zu spät und das Paket war kaputt, ich will eine Erstattung"
        ],
    },
    "fr": {
        "detail": ["J'ai déjà essayé de redémarrer le téléphone deux fois."],
        "ask": [
            "Bonjour, ma commande {n} n'est toujours pas arrivée, pouvez-vous vérifier où elle est ?",
            "Bonjour, l'application me déconnecte à chaque fois que je l'ouvre, pourquoi ?",
        ],
        "chase": ["Je vous ai écrit hier pour la commande {n} et personne ne m'a répondu."],
        "angry": [
            "C'est la troisième fois que je vous écris pour la commande {n} !!! Service nul, "
            "c'est scandaleux, je veux être remboursé ou je porte plainte",
        ],
        "thanks": ["Merci beaucoup, tout fonctionne parfaitement maintenant !"],
        "angry_once": [
            "La livraison est arrivée en retard et le colis était cassé, remboursez-moi"
        ],
    },
    "pt": {
        "detail": ["Já tentei reiniciar o telefone duas vezes."],
        "ask": [
            "Olá, o meu pedido {n} ainda não chegou, vocês podem verificar onde ele está?",
            "Olá, o aplicativo me desconecta toda vez que eu abro no celular, por que isso?",
        ],
        "chase": ["Escrevi ontem sobre o pedido {n} e ninguém me respondeu até agora."],
        "angry": [
            "É a terceira vez que escrevo sobre o pedido {n}!!! Atendimento péssimo, uma "
            "vergonha, quero o reembolso ou vou reclamar no Procon",
        ],
        "thanks": ["Muito obrigado, agora está tudo funcionando perfeitamente!"],
        "angry_once": ["A entrega atrasou e a caixa chegou quebrada, quero o reembolso do pedido"],
    },
    "sv": {
        "detail": ["Jag har redan försökt starta om telefonen två gånger."],
        "ask": [
            "Hej, min beställning {n} har fortfarande inte kommit, kan ni kolla var den är?",
            "Hej, appen loggar ut mig varje gång jag öppnar den på telefonen, varför då?",
        ],
        "chase": ["Jag skrev igår om beställning {n} och ingen har svarat mig ännu."],
        "angry": [
            "Det här är tredje gången jag skriver om beställning {n}!!! Värdelös service, "
            "helt oacceptabelt, jag vill ha pengarna tillbaka annars säger jag upp avtalet",
        ],
        "thanks": ["Tack så mycket, nu fungerar allt jättebra!"],
        "angry_once": ["Leveransen var sen och paketet var trasigt, jag vill ha återbetalning"],
    },
}
REPLIES = [
    "Sorry about that! Could you send us your order number? ^CP",
    "Thanks for getting in touch, we're looking into it now ^AB",
    "We've sorted this out for you, let us know if anything else comes up ^MK",
]
PRODUCTS = ["phone", "tablet", "laptop", "router"]
PRIVATE = [Channel.EMAIL, Channel.WHATSAPP, Channel.SMS, Channel.MESSENGER]
PUBLIC = [Channel.X, Channel.FACEBOOK]
OUTAGE = "Is the app down for everyone? I cannot log in since this morning"


@dataclass
class Truth:
    escalating: set[str] = field(default_factory=set)
    ordinary: set[str] = field(default_factory=set)
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # key -> external ids
    outage: list[str] = field(default_factory=list)
    repeat: set[str] = field(default_factory=set)
    languages: dict[str, str] = field(default_factory=dict)
    high_reach: str = "star"


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.records: list[IncomingMessage] = []
        self.serial = 0

    def handle(self, channel: Channel, key: str) -> str:
        if channel == Channel.EMAIL:
            return f"{key}@mail.example"
        if channel in (Channel.SMS, Channel.WHATSAPP):
            return f"+35840{abs(hash(key)) % 10_000_000:07d}"
        return f"@{key}_{channel}"

    def say(
        self,
        key: str,
        channel: Channel,
        text: str,
        at: int,
        *,
        reply_to: str | None = None,
        followers: int | None = None,
    ) -> str:
        self.serial += 1
        ext = f"m{self.serial}"
        self.records.append(
            IncomingMessage(
                channel=channel,
                account=f"brand-{channel}",
                external_id=ext,
                direction=Direction.IN,
                author=self.handle(channel, key),
                text=text,
                created_at=at,
                in_reply_to=reply_to,
                customer_key=key,
                followers=followers,
                subject="Support request" if channel == Channel.EMAIL else None,
            )
        )
        return ext

    def answer(self, key: str, channel: Channel, parent: str, at: int) -> str:
        self.serial += 1
        ext = f"r{self.serial}"
        self.records.append(
            IncomingMessage(
                channel=channel,
                account=f"brand-{channel}",
                external_id=ext,
                direction=Direction.OUT,
                author=f"brand-{channel}",
                text=self.rng.choice(REPLIES),
                created_at=at,
                in_reply_to=parent if channel.is_threaded else None,
                to=self.handle(channel, key),
            )
        )
        return ext

    def text(self, lang: str, kind: str) -> str:
        return self.rng.choice(TEXTS[lang][kind]).format(
            n=self.rng.randint(10000, 99999), p=self.rng.choice(PRODUCTS)
        )


def _ordinary(w: _Writer, key: str, lang: str, t: int, variant: int) -> None:
    """Calm traffic: questions answered in time, conversations at least 9 days apart."""
    rng = w.rng
    at = t
    for conv in range(rng.choice([1, 1, 2, 3])):
        at += rng.randint(9, 20) * DAY if conv else 0
        channel = rng.choice([*PRIVATE, *PUBLIC])
        text = w.text(lang, "angry_once" if variant == 1 and conv == 0 else "ask")
        first = w.say(key, channel, text, at)
        last = first
        if variant == 2 and conv == 0:  # a thought split over two posts a minute apart
            last = w.say(key, channel, w.text(lang, "detail"), at + 70, reply_to=first)
        reply = w.answer(key, channel, last, at + rng.randint(5, 40) * 60)
        if rng.random() < 0.5:
            w.say(key, channel, w.text(lang, "thanks"), at + 2 * HOUR, reply_to=reply)
    if variant == 3:  # a private question, then a public thank-you: moved, but not angry
        at += 30 * DAY
        first = w.say(key, Channel.WHATSAPP, w.text(lang, "ask"), at)
        w.answer(key, Channel.WHATSAPP, first, at + 20 * 60)
        w.say(key, Channel.X, w.text(lang, "thanks"), at + 3 * HOUR)


def _escalating(w: _Writer, key: str, lang: str, t: int, variant: int) -> None:
    """Three ways to escalate: private then loud in public; louder and faster on one public
    channel; or quietly, by email, chasing unanswered until asking for a refund."""
    rng = w.rng
    if variant % 3 == 0:
        private = rng.choice(PRIVATE)
        first = w.say(key, private, w.text(lang, "ask"), t)
        w.say(key, private, w.text(lang, "chase"), t + rng.randint(20, 30) * HOUR, reply_to=first)
        public = rng.choice(PUBLIC)
        w.say(key, public, w.text(lang, "angry"), t + rng.randint(32, 40) * HOUR)
    elif variant % 3 == 1:
        public = rng.choice(PUBLIC)
        at = t
        parent = None
        for step, kind in enumerate(["ask", "chase", "chase", "angry"]):
            parent = w.say(key, public, w.text(lang, kind), at, reply_to=parent)
            at += max(600, int(rng.randint(14, 20) * HOUR / (step + 1) ** 2))
    else:
        first = w.say(key, Channel.EMAIL, w.text(lang, "ask"), t)
        chase = w.say(key, Channel.EMAIL, w.text(lang, "chase"), t + 30 * HOUR, reply_to=first)
        w.say(key, Channel.EMAIL, w.text(lang, "angry_once"), t + 56 * HOUR, reply_to=chase)


def _duplicates(w: _Writer, key: str, t: int) -> list[str]:
    """The same complaint posted four times: mentions, links, case and numbers vary."""
    base = "my internet has been down for two days and nobody fixes it order"
    ids = []
    variants = [
        f"@brand {base} 55120",
        f"{base.upper()} 55120!!! https://t.co/abc",
        f"@brand @support {base} 55120",
        f"{base} 99831 #fail",  # another number: near-identical, not exact
    ]
    for n, text in enumerate(variants):
        ids.append(w.say(key, Channel.X, text, t + n * 3 * HOUR))
    return ids


def _repeat(w: _Writer, key: str, lang: str, t: int) -> None:
    """Three conversations in four days on two channels, each answered politely."""
    for n, channel in enumerate([Channel.EMAIL, Channel.X, Channel.EMAIL]):
        at = t + n * 2 * DAY
        first = w.say(key, channel, w.text(lang, "ask"), at)
        w.answer(key, channel, first, at + 30 * 60)


def build(
    seed: int = 1, ordinary: int = 120, escalating: int = 24, duplicates: int = 6
) -> tuple[list[IncomingMessage], Truth]:
    rng = random.Random(seed)
    w = _Writer(rng)
    truth = Truth()
    langs = list(TEXTS)
    for n in range(ordinary):
        key = f"ord{n}"
        lang = langs[n % len(langs)]
        truth.ordinary.add(key)
        truth.languages[key] = lang
        _ordinary(w, key, lang, START + rng.randint(0, 20 * DAY), n % 4)
    for n in range(escalating):
        key = f"esc{n}"
        lang = langs[n % len(langs)]
        truth.escalating.add(key)
        truth.languages[key] = lang
        _escalating(w, key, lang, START + rng.randint(0, 60 * DAY), n)
    for n in range(duplicates):
        key = f"dup{n}"
        truth.duplicates[key] = _duplicates(w, key, START + rng.randint(0, 60 * DAY))
    for n in range(5):
        key = f"rep{n}"
        truth.repeat.add(key)
        _repeat(w, key, langs[n % len(langs)], START + rng.randint(0, 60 * DAY))
    first = w.say(truth.high_reach, Channel.X, w.text("en", "ask"), START + DAY, followers=48_000)
    w.answer(truth.high_reach, Channel.X, first, START + DAY + 600)
    for n in range(4):
        at = START + 50 * DAY + n * 600
        truth.outage.append(w.say(f"out{n}", Channel.X, f"@brand {OUTAGE}", at))
    records = sorted(w.records, key=lambda r: (r.created_at, r.external_id))
    return records, truth
