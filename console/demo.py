"""The demo workspace: a deterministic generator of realistic social-care traffic, and its builder.

- :func:`load_recipe` reads ``resources/demo/recipe.toml`` (brands, their accounts on every channel
  kind, agents, customer names, texts per language) into a :class:`Recipe`.
- :class:`Plan` says how much to generate; :func:`plan_for_scale` gives the demo's plan.
- :class:`Generator` turns recipe + plan into :class:`~console.domain.IncomingMessage` records with
  times relative to ``now``. It streams (one customer's story at a time, constant memory) and writes
  exactly ``plan.messages`` messages by exactly ``plan.customers`` customers. A fixed seed gives the
  same records on every machine.
- :func:`build_demo` ingests the records into a workspace, sets conversation statuses, assignees,
  tiers and the agents table, then runs the triage rebuild so that flags are there.
- :func:`ensure_demo` builds the demo file on first use (into a temporary file renamed into place,
  so a crash mid-build never leaves half a demo) and reuses it afterwards.

Each customer lives one *story* (weights in the recipe's ``[kinds]``):

- ``simple`` / ``question``: a complaint or a question on one channel, answered (or still waiting);
- ``repeat``: two or three conversations within a week;
- ``cross_channel``: phoned, then emailed a few hours later, then posted in public;
- ``duplicates``: the same complaint posted again and again (every post its own conversation on X,
  Facebook and Instagram), some posts answered with a copy of the first answer;
- ``escalating``: a neutral question in private, nudges and chasing without an answer, then a
  public post, shouting in capitals, threats to cancel or call a lawyer;
- ``praise``: a happy customer;
- ``outage``: one of many customers posting near-identical "is it down?" posts within the hour of an
  outage (a same-issue group), answered with one public reply.

Replies come after a per-channel delay counted in the account's business hours; a few come late
(breaches), recent ones have not come yet (customers still waiting). Agents reply in the customer's
language and sign (``^CP``); some conversations get an internal note.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
import tomllib
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from console.domain import Channel, Direction, IncomingMessage, Status
from console.errors import ConsoleError
from console.storage import demo_repo
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from console.triage.deadlines import BusinessHours, add_business_seconds, parse_business_hours

__all__ = [
    "DEMO_SCALE",
    "DEMO_SEED",
    "DemoCancelledError",
    "Generator",
    "Plan",
    "Recipe",
    "RecipeError",
    "build_demo",
    "ensure_demo",
    "load_recipe",
    "plan_for_scale",
]

#: The demo's default size (1.0: the recipe's ``[demo] customers``) and seed.
DEMO_SCALE = 1.0
DEMO_SEED = 7
HOUR = 3600
DAY = 24 * HOUR

Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]

KINDS = (
    "simple",
    "question",
    "repeat",
    "cross_channel",
    "duplicates",
    "escalating",
    "praise",
    "outage",
)
CUSTOMER_TEXTS = ("complaint", "question", "praise", "outage")
PUBLIC = (Channel.X, Channel.FACEBOOK, Channel.INSTAGRAM)
PRIVATE = (
    Channel.EMAIL,
    Channel.MESSENGER,
    Channel.WHATSAPP,
    Channel.SMS,
    Channel.PHONE,
)


class RecipeError(ConsoleError):
    """The demo recipe is missing something or refers to something it does not define."""


class DemoCancelledError(ConsoleError):
    """The demo build was cancelled; nothing was left behind."""


# -- the recipe ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountSpec:
    brand: str
    channel: Channel
    name: str
    handle: str
    target_s: int
    hours: str | None  # business hours JSON, None = around the clock

    @property
    def ref(self) -> str:
        return f"{self.brand}:{self.channel}"


@dataclass(frozen=True, slots=True)
class AgentSpec:
    name: str
    signature: str
    role: str
    languages: tuple[str, ...]
    brands: tuple[str, ...]
    skills: tuple[str, ...]

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


@dataclass(frozen=True, slots=True)
class Brand:
    key: str
    name: str
    industry: str
    timezone: str
    languages: dict[str, float]
    channels: dict[Channel, float]
    outage_ages_h: tuple[float, ...]
    tiers: tuple[tuple[str, float], ...]
    keyed: bool
    values: dict[str, tuple[str, ...]]
    formats: dict[str, str]
    accounts: tuple[AccountSpec, ...]
    texts: dict[str, dict[str, tuple[str, ...]]]


@dataclass(frozen=True, slots=True)
class Recipe:
    version: int
    me: str
    customers: int
    messages_per_customer: float
    days: float
    kinds: dict[str, float]
    account_order: tuple[str, ...]
    agents: tuple[AgentSpec, ...]
    names: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    locales: dict[str, tuple[str, tuple[str, ...]]]  # language -> (phone pattern, mail domains)
    texts: dict[str, dict[str, tuple[str, ...]]]
    brands: tuple[Brand, ...]

    def brand(self, key: str) -> Brand:
        for brand in self.brands:
            if brand.key == key:
                return brand
        raise RecipeError(f"no brand {key!r} in the recipe")

    @property
    def accounts(self) -> list[AccountSpec]:
        return [a for b in self.brands for a in b.accounts]

    def text_count(self) -> int:
        generic = sum(len(v) for t in self.texts.values() for v in t.values())
        own = sum(len(v) for b in self.brands for t in b.texts.values() for v in t.values())
        return generic + own


def recipe_path() -> Path:
    return Path(str(resources.files("resources") / "demo" / "recipe.toml"))


def load_recipe(path: Path | None = None) -> Recipe:
    """The recipe at ``path`` (default: the packaged ``resources/demo/recipe.toml``), checked."""
    source = path or recipe_path()
    try:
        with source.open("rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RecipeError(f"cannot read the demo recipe {source}: {exc}") from exc
    try:
        recipe = _recipe(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise RecipeError(f"demo recipe {source}: {exc!r}") from exc
    _check(recipe)
    return recipe


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _recipe(raw: dict[str, Any]) -> Recipe:
    hours = {name: json.dumps(spec, ensure_ascii=False) for name, spec in raw["hours"].items()}
    demo = raw["demo"]
    return Recipe(
        version=int(raw["version"]),
        me=str(raw["me"]),
        customers=int(demo["customers"]),
        messages_per_customer=float(demo["messages_per_customer"]),
        days=float(demo["days"]),
        kinds={str(k): float(v) for k, v in raw["kinds"].items()},
        account_order=_strings(raw["bench"]["accounts"]),
        agents=tuple(
            AgentSpec(
                name=str(a["name"]),
                signature=str(a["signature"]),
                role=str(a["role"]),
                languages=_strings(a["languages"]),
                brands=_strings(a["brands"]),
                skills=_strings(a.get("skills", [])),
            )
            for a in raw["agents"]
        ),
        names={
            lang: (_strings(pool["first"]), _strings(pool["last"]))
            for lang, pool in raw["names"].items()
        },
        locales={
            lang: (str(loc["phone"]), _strings(loc["mail"])) for lang, loc in raw["locale"].items()
        },
        texts={
            lang: {kind: _strings(items) for kind, items in kinds.items()}
            for lang, kinds in raw["texts"].items()
        },
        brands=tuple(_brand(b, hours) for b in raw["brands"]),
    )


def _brand(raw: dict[str, Any], hours: dict[str, str]) -> Brand:
    key = str(raw["key"])
    accounts = []
    for a in raw["accounts"]:
        named = a.get("hours")
        if named is not None and named not in hours:
            raise ValueError(f"{key}: account {a['name']!r} uses unknown hours {named!r}")
        accounts.append(
            AccountSpec(
                brand=key,
                channel=Channel(a["channel"]),
                name=str(a["name"]),
                handle=str(a["handle"]),
                target_s=int(a["target_min"]) * 60,
                hours=None if named is None else hours[named],
            )
        )
    return Brand(
        key=key,
        name=str(raw["name"]),
        industry=str(raw["industry"]),
        timezone=str(raw["timezone"]),
        languages={str(k): float(v) for k, v in raw["languages"].items()},
        channels={Channel(k): float(v) for k, v in raw["channels"].items()},
        outage_ages_h=tuple(float(h) for h in raw.get("outage_ages_h", [])),
        tiers=tuple((str(k), float(v)) for k, v in raw.get("tiers", {}).items()),
        keyed=bool(raw.get("keyed", False)),
        values={str(k): _strings(v) for k, v in raw.get("values", {}).items()},
        formats={str(k): str(v) for k, v in raw.get("formats", {}).items()},
        accounts=tuple(accounts),
        texts={
            lang: {kind: _strings(items) for kind, items in kinds.items()}
            for lang, kinds in raw["texts"].items()
        },
    )


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_RANDOM = re.compile(r"^([dnA])(\d+)$")
_STORY_NAMES = frozenset({"name", "brand", "agent"})
_GENERIC_NEEDED = (
    "follow_up",
    "chase",
    "angry",
    "threat",
    "public_move",
    "after_call",
    "detail",
    "thanks",
    "email_open",
    "email_close",
    "reply_first",
    "reply_followup",
    "reply_answer",
    "reply_fix",
    "reply_close",
    "reply_angry",
    "reply_outage",
    "reply_praise",
    "agent_open",
    "agent_close",
)


def _check(recipe: Recipe) -> None:
    """Every reference in the recipe resolves: languages, kinds, accounts, placeholders."""
    unknown = set(recipe.kinds) - set(KINDS)
    if unknown:
        raise RecipeError(f"unknown story kinds {sorted(unknown)}; use {', '.join(KINDS)}")
    if recipe.me not in {a.name for a in recipe.agents}:
        raise RecipeError(f"`me` ({recipe.me!r}) is not one of the agents")
    refs = {a.ref for a in recipe.accounts}
    missing = [r for r in recipe.account_order if r not in refs]
    if missing:
        raise RecipeError(f"[bench] accounts names unknown accounts: {missing}")
    for lang, texts in recipe.texts.items():
        absent = [k for k in _GENERIC_NEEDED if not texts.get(k)]
        if absent:
            raise RecipeError(f"[texts.{lang}] lacks {', '.join(absent)}")
    for brand in recipe.brands:
        _check_brand(recipe, brand)


def _check_brand(recipe: Recipe, brand: Brand) -> None:
    for lang in brand.languages:
        if lang not in recipe.names or lang not in recipe.locales or lang not in recipe.texts:
            raise RecipeError(f"{brand.key}: language {lang!r} lacks names, locale or texts")
        own = brand.texts.get(lang, {})
        absent = [k for k in CUSTOMER_TEXTS if not own.get(k)]
        if absent:
            raise RecipeError(f"{brand.key}: [brands.texts.{lang}] lacks {', '.join(absent)}")
    if not any(a.channel in brand.channels for a in brand.accounts):
        raise RecipeError(f"{brand.key}: no account on any of its channels")
    known = _STORY_NAMES | set(brand.values) | set(brand.formats)
    templates = [t for kinds in brand.texts.values() for v in kinds.values() for t in v]
    templates += [t for lang in brand.languages for v in recipe.texts[lang].values() for t in v]
    templates += list(brand.formats.values())
    for template in templates:
        for name in _PLACEHOLDER.findall(template):
            if name not in known and not _RANDOM.match(name):
                raise RecipeError(f"{brand.key}: unknown placeholder {{{name}}} in {template!r}")
    for account in brand.accounts:
        parse_business_hours(account.hours)  # raises InvalidBusinessHoursError


# -- how much to generate ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What a generator writes: exactly ``messages`` messages by exactly ``customers`` customers,
    over the ``days`` before ``now``, on ``accounts`` (``"brand:channel"``; None = every account).
    ``heavy`` customers get ``heavy_messages`` messages each (the customer with a thousand
    messages of the scale benchmarks)."""

    customers: int
    messages: int
    days: float = 14.0
    accounts: tuple[str, ...] | None = None
    heavy: int = 0
    heavy_messages: int = 1000

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("a plan needs at least one customer")
        heavy_total = self.heavy * self.heavy_messages
        if self.heavy > self.customers or self.messages < heavy_total + (
            self.customers - self.heavy
        ):
            raise ValueError(
                f"{self.messages} messages cannot cover {self.customers} customers"
                f" ({self.heavy} of them with {self.heavy_messages} messages)"
            )


def plan_for_scale(recipe: Recipe, scale: float = DEMO_SCALE) -> Plan:
    """The demo's plan: ``scale`` times the recipe's customers, every account."""
    customers = max(20, round(recipe.customers * scale))
    return Plan(
        customers=customers,
        messages=round(customers * recipe.messages_per_customer),
        days=recipe.days,
    )


# -- the generator -------------------------------------------------------------------------------

# Natural story lengths (messages) by kind: values and weights.
_LENGTHS: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "simple": ((1, 2, 3, 4, 5, 6, 7), (10, 22, 22, 18, 12, 9, 7)),
    "question": ((1, 2, 3, 4), (15, 35, 25, 25)),
    "praise": ((1, 2, 3), (30, 50, 20)),
    "outage": ((1, 2, 3), (40, 40, 20)),
    "repeat": ((3, 4, 5, 6, 7, 8), (15, 25, 20, 18, 12, 10)),
    "cross_channel": ((3, 4, 5, 6, 7), (20, 25, 25, 18, 12)),
    "duplicates": ((4, 5, 6, 8, 10, 12, 14), (18, 18, 18, 16, 12, 10, 8)),
    "escalating": ((4, 5, 6, 7, 8, 9), (10, 18, 22, 22, 16, 12)),
}
_MIN_LENGTH = {"repeat": 2, "cross_channel": 3, "duplicates": 3, "escalating": 3}

# Median minutes (and spread) from a customer's message to our reply, per channel.
_REPLY_DELAY: dict[Channel, tuple[float, float]] = {
    Channel.X: (25, 1.0),
    Channel.FACEBOOK: (90, 1.0),
    Channel.INSTAGRAM: (100, 1.0),
    Channel.MESSENGER: (20, 1.0),
    Channel.WHATSAPP: (20, 1.0),
    Channel.SMS: (40, 1.0),
    Channel.EMAIL: (240, 0.9),
    Channel.PHONE: (180, 0.9),
}
# Median minutes from our reply to the customer's next message.
_ANSWER_DELAY: dict[Channel, float] = {
    Channel.X: 25,
    Channel.FACEBOOK: 60,
    Channel.INSTAGRAM: 60,
    Channel.MESSENGER: 8,
    Channel.WHATSAPP: 8,
    Channel.SMS: 15,
    Channel.EMAIL: 180,
    Channel.PHONE: 600,
}
# How busy each local hour of the day is (0-23), relative to the peak.
_HOUR_PROFILE = (
    0.12, 0.08, 0.05, 0.04, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 1.0, 0.95,
    0.9, 0.95, 0.9, 0.85, 0.85, 0.9, 0.95, 1.0, 0.9, 0.7, 0.45, 0.25,
)  # fmt: skip
# Emoji a customer may end a social post with, by text kind.
_EMOJI = {
    "complaint": ("😡", "😤", "🙄", "😞"),
    "angry": ("😡", "🤬", "😤"),
    "praise": ("😍", "🙌", "👏", "❤️"),
    "question": ("🙏", "🤔"),
    "thanks": ("🙏", "😊", "👍"),
}


@dataclass(frozen=True, slots=True)
class _Step:
    direction: Direction
    kind: str = ""
    delay: int | None = None  # seconds after the previous step (None: the usual delay)


def _in(kind: str, delay: int | None = None) -> _Step:
    return _Step(Direction.IN, kind, delay)


def _out(kind: str, delay: int | None = None) -> _Step:
    return _Step(Direction.OUT, kind, delay)


_NOTE = _Step(Direction.NOTE, "note")
#: How often a customer starts a text of a kind with a word of their own ("Hi,", "Honestly,").
_LEAD_SHARE = {"thanks": 0.6, "praise": 0.5, "question": 0.5}
#: Generic customer texts that get the customer's reference appended when they lack one.
_QUOTES_REF = frozenset(
    {"follow_up", "chase", "angry", "threat", "public_move", "after_call", "detail", "detail_dm"}
)


@dataclass(slots=True)
class _ConvPlan:
    account: AccountSpec
    steps: list[_Step]
    offset: int  # seconds after the story's anchor (negative: earlier history)
    text_key: str | None = None  # posts sharing a key repeat one text (duplicates)


@dataclass(slots=True)
class _Person:
    index: int
    brand: Brand
    lang: str
    first: str
    last: str
    key: str | None
    followers: int
    values: dict[str, str] = field(default_factory=dict)
    handles: dict[Channel, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # text key -> rendered text

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(slots=True)
class _Thread:
    account: AccountSpec
    handle: str
    agent: AgentSpec
    root: str | None = None
    last: str | None = None  # the latest public message (what a reply answers)
    subject: str | None = None
    last_in: int = 0


@dataclass(slots=True)
class _Outage:
    brand: str
    start: int
    weight: float
    values: dict[str, str]
    reply: int  # index of the reply text every post of this outage is answered with


def _fold_ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if "a" <= ch <= "z")


def _subject_of(text: str) -> str:
    first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0].rstrip(".")
    if len(first) <= 60:
        return first
    cut = first[:57].rsplit(" ", 1)[0]
    return cut + "…"


class Generator:
    """Deterministic messages for a :class:`Plan`; iterate :meth:`records` once."""

    def __init__(self, recipe: Recipe, plan: Plan, *, now: int, seed: int = DEMO_SEED) -> None:
        self.recipe = recipe
        self.plan = plan
        self.now = int(now)
        self.seed = seed
        self.rng = random.Random(f"{seed}:{plan}")
        self.accounts = self._select_accounts()
        self.by_brand: dict[str, dict[Channel, AccountSpec]] = {}
        for account in self.accounts:
            self.by_brand.setdefault(account.brand, {})[account.channel] = account
        self.brands = [b for b in recipe.brands if b.key in self.by_brand]
        self._hours: dict[str, BusinessHours | None] = {
            a.ref: parse_business_hours(a.hours) for a in self.accounts
        }
        self._offsets = {b.key: self._utc_offset(b.timezone) for b in self.brands}
        self._seq: dict[str, int] = {}
        self._personal: dict[str, frozenset[str]] = {}
        self.outages = self._plan_outages()
        kinds = [(k, w) for k, w in recipe.kinds.items() if w > 0]
        if not self.outages:
            kinds = [(k, w) for k, w in kinds if k != "outage"]
        self._kinds = [k for k, _ in kinds]
        self._kind_weights = [w for _, w in kinds]
        total = sum(self._kind_weights)
        self._natural_mean = sum(
            w / total * _mean_length(k)
            for k, w in zip(self._kinds, self._kind_weights, strict=True)
        )
        #: customer key -> (tier, tier name) of the customers with a value tier
        self.tiers: dict[str, tuple[int, str]] = {}
        #: story kind -> customers
        self.kind_counts: dict[str, int] = {}
        self.written = 0

    # -- set-up --------------------------------------------------------------------------------

    def _select_accounts(self) -> list[AccountSpec]:
        every = {a.ref: a for a in self.recipe.accounts}
        if self.plan.accounts is None:
            return list(every.values())
        unknown = [r for r in self.plan.accounts if r not in every]
        if unknown:
            raise RecipeError(f"no such accounts in the recipe: {unknown}")
        return [every[r] for r in self.plan.accounts]

    def _utc_offset(self, zone: str) -> int:
        offset = datetime.fromtimestamp(self.now, ZoneInfo(zone)).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def _plan_outages(self) -> list[_Outage]:
        rng = random.Random(f"{self.seed}:outages")
        window = self.plan.days * DAY
        outages = []
        for brand in self.brands:
            for age_h in brand.outage_ages_h:
                age = age_h * HOUR
                while age < window:
                    values: dict[str, str] = {}
                    for name in ("city", "flight"):
                        if name in brand.values or name in brand.formats:
                            values[name] = self._value(name, values, brand, rng)
                    weight = 6.0 if age < 3 * HOUR else 1.0  # the live ones are the big ones
                    reply = rng.randrange(1000)
                    outages.append(_Outage(brand.key, int(self.now - age), weight, values, reply))
                    age += 14 * DAY
        return outages

    # -- the stream ----------------------------------------------------------------------------

    def records(self) -> Iterator[IncomingMessage]:
        """Every message, customer by customer, each customer's messages in time order."""
        plan = self.plan
        budget = plan.messages
        for index in range(plan.customers):
            left = plan.customers - index
            if index < plan.heavy:
                kind, length = "heavy", plan.heavy_messages
            else:
                kind, length = self._draw(budget, left, index)
            story = self._story(index, kind, length, last=left == 1)
            budget -= len(story)
            self.written += len(story)
            self.kind_counts[kind] = self.kind_counts.get(kind, 0) + 1
            yield from story

    def _draw(self, budget: int, left: int, index: int) -> tuple[str, int]:
        """A story kind and its length; lengths are stretched so the plan's total comes out."""
        heavy_left = max(0, self.plan.heavy - index) * self.plan.heavy_messages
        spare = budget - heavy_left - (left - 1)  # what this customer may take at most
        if left == 1:
            return self._kind_fitting(spare), spare
        factor = (budget - heavy_left) / left / self._natural_mean
        kind = self.rng.choices(self._kinds, self._kind_weights)[0]
        values, weights = _LENGTHS[kind]
        natural = self.rng.choices(values, weights)[0] * factor
        length = int(natural) + (1 if self.rng.random() < natural - int(natural) else 0)
        length = max(1, min(length, spare))
        if length < _MIN_LENGTH.get(kind, 1):
            kind = self._kind_fitting(length)
        return kind, length

    def _kind_fitting(self, length: int) -> str:
        fitting = [k for k in self._kinds if _MIN_LENGTH.get(k, 1) <= length] or ["simple"]
        return self.rng.choice(fitting)

    # -- one customer's story ------------------------------------------------------------------

    def _story(self, index: int, kind: str, length: int, *, last: bool) -> list[IncomingMessage]:
        """``length`` messages (fewer when the story runs past ``now``, never none; exactly
        ``length`` for heavy customers and the ``last`` one, whose story closes the count)."""
        person = self._person(index, kind)
        builder: Callable[[_Person, int], tuple[list[_ConvPlan], str]] = getattr(
            self, f"_plan_{kind}"
        )
        convs, mode = builder(person, length)
        if self._top_up_needs_key(convs, person, last):
            person.key = self._key(person)
        anchor = self._anchor(person, convs, mode, last=last)
        messages: list[IncomingMessage] = []
        for conv in sorted(convs, key=lambda c: c.offset):
            self._write(person, conv, anchor + conv.offset, messages)
        wanted = length if last or kind == "heavy" else 1
        if len(messages) < wanted:
            self._top_up(person, wanted - len(messages), messages)
        messages.sort(key=lambda m: m.created_at)  # stable: replies stay after their parents
        return messages

    def _top_up_needs_key(self, convs: list[_ConvPlan], person: _Person, last: bool) -> bool:
        # Identities on several channels are one person only when a key links them; a top-up
        # may add another channel, so the last customer always carries one.
        several = len({c.account.channel for c in convs}) > 1
        return person.key is None and (several or last)

    def _top_up(self, person: _Person, count: int, out: list[IncomingMessage]) -> None:
        """Older conversations, wholly in the past, so the plan's counts come out exactly."""
        earliest = min((m.created_at for m in out), default=self.now)
        anchor = min(earliest, self.now - int(self.plan.days * DAY)) - DAY
        for conv in self._history(person, count, 0):
            self._write(person, conv, anchor + conv.offset, out)

    def _person(self, index: int, kind: str) -> _Person:
        rng = self.rng
        if kind == "outage":
            brand = self.recipe.brand(
                rng.choices(self.outages, [o.weight for o in self.outages])[0].brand
            )
        else:
            brand = rng.choice(self.brands)
        lang = rng.choices(list(brand.languages), list(brand.languages.values()))[0]
        first_names, last_names = self.recipe.names[lang]
        person = _Person(
            index=index,
            brand=brand,
            lang=lang,
            first=rng.choice(first_names),
            last=rng.choice(last_names),
            key=None,
            followers=self._followers(),
        )
        person.values["name"] = person.first
        person.values["brand"] = brand.name
        tier = self._tier(brand)
        if tier is not None:
            person.key = self._key(person)
            self.tiers[person.key] = tier
        if brand.keyed or kind == "heavy":
            person.key = person.key or self._key(person)
        return person

    def _followers(self) -> int:
        roll = self.rng.random()
        if roll < 0.01:
            return self.rng.randint(50_000, 600_000)
        if roll < 0.03:
            return self.rng.randint(10_000, 50_000)
        return int(self.rng.lognormvariate(math.log(180), 1.3))

    def _tier(self, brand: Brand) -> tuple[int, str] | None:
        roll = self.rng.random()
        for number, (name, share) in enumerate(brand.tiers, 1):
            if roll < share:
                return number, name
            roll -= share
        return None

    @staticmethod
    def _key(person: _Person) -> str:
        return f"{person.brand.key[:3].upper()}-{person.index:07d}"

    # -- accounts and channels -----------------------------------------------------------------

    def _account(
        self, person: _Person, among: Sequence[Channel] | None = None, avoid: Channel | None = None
    ) -> AccountSpec:
        """One of the brand's accounts, weighted by the brand's channel mix."""
        available = self.by_brand[person.brand.key]
        channels = [c for c in available if among is None or c in among]
        if avoid is not None and len(channels) > 1:
            channels = [c for c in channels if c != avoid] or channels
        if not channels:
            channels = list(available)
        weights = [person.brand.channels.get(c, 1.0) for c in channels]
        return available[self.rng.choices(channels, weights)[0]]

    def _has(self, person: _Person, among: Sequence[Channel]) -> bool:
        return any(c in self.by_brand[person.brand.key] for c in among)

    # -- story plans (one per kind) ------------------------------------------------------------

    def _split(self, length: int, longest: int) -> list[int]:
        parts = []
        while length > 0:
            part = min(length, self.rng.randint(2, longest))
            if 0 < length - part < 2 and part > 2:
                part -= 1
            parts.append(part)
            length -= part
        return parts

    def _simple_steps(self, n: int, opener: str) -> list[_Step]:
        """``n`` steps of one conversation, shaped to end where conversations end: on our
        answer or the customer's thanks (a lone post, n = 1, is the exception)."""
        rng = self.rng
        if opener == "question":
            steps = [_in("question"), _out("reply_answer"), _in("thanks"), _out("reply_close")]
        elif n == 3 and rng.random() < 0.5:  # chased before the first answer came
            return [_in(opener), _in("follow_up"), _out("reply_first")]
        elif n == 3:
            return [_in(opener), _out("reply_first"), _in("thanks")]
        else:
            steps = [_in(opener), _out("reply_first")]
            if rng.random() < 0.06:
                steps.append(_NOTE)
            steps += [_in("detail"), _out("reply_followup"), _out("reply_fix", 1800)]
            steps += [_in("thanks"), _out("reply_close")]
        while len(steps) < n:
            steps[-1:-1] = [_in("follow_up"), _out("reply_followup")]
        if (
            len(steps) > n > 1
            and steps[n - 1].direction == Direction.IN
            and steps[n - 1].kind != "thanks"
        ):
            steps = [*steps[: n - 1], _out("reply_followup")]  # end on an answer
        return steps[:n]

    def _history(self, person: _Person, length: int, before: int) -> list[_ConvPlan]:
        """Earlier conversations that absorb a long story's extra messages."""
        convs = []
        offset = before
        for n in self._split(length, 7):
            offset -= int(self.rng.uniform(2, 8) * DAY)
            opener = "question" if self.rng.random() < 0.3 else "complaint"
            convs.append(_ConvPlan(self._account(person), self._simple_steps(n, opener), offset))
        return convs

    def _plan_simple(
        self, person: _Person, length: int, opener: str = "complaint"
    ) -> tuple[list[_ConvPlan], str]:
        first, *rest = self._split(length, 7) if length > 7 else [length]
        convs = [_ConvPlan(self._account(person), self._simple_steps(first, opener), 0)]
        if rest:
            convs += self._history(person, sum(rest), 0)
        return convs, "recent"

    def _plan_question(self, person: _Person, length: int) -> tuple[list[_ConvPlan], str]:
        n = min(length, 4)
        convs = [_ConvPlan(self._account(person), self._simple_steps(n, "question"), 0)]
        if length > n:
            convs += self._history(person, length - n, 0)
        return convs, "recent"

    def _plan_praise(self, person: _Person, length: int) -> tuple[list[_ConvPlan], str]:
        n = min(length, 3)
        steps = [_in("praise"), _out("reply_praise"), _in("thanks")][:n]
        convs = [_ConvPlan(self._account(person, PUBLIC), steps, 0)]
        if length > n:
            convs += self._history(person, length - n, 0)
        return convs, "recent"

    def _plan_repeat(self, person: _Person, length: int) -> tuple[list[_ConvPlan], str]:
        rng = self.rng
        count = min(length, rng.choice((2, 2, 3)))
        parts = [1] * count
        for _ in range(length - count):
            parts[rng.randrange(count)] += 1
        first = self._account(person)
        convs = [_ConvPlan(first, self._simple_steps(parts[0], "complaint"), 0, "opener")]
        offset = 0
        for n in parts[1:]:
            offset += int(rng.uniform(1.1, 3.0) * DAY)
            account = first if rng.random() < 0.6 else self._account(person, avoid=first.channel)
            opener = rng.choices(("complaint", "follow_up", "chase"), (0.45, 0.3, 0.25))[0]
            steps = self._simple_steps(n, opener)
            convs.append(
                _ConvPlan(account, steps, offset, "opener" if opener == "complaint" else None)
            )
        return convs, "recent"

    def _plan_cross_channel(self, person: _Person, length: int) -> tuple[list[_ConvPlan], str]:
        rng = self.rng
        first = self._account(
            person, (Channel.PHONE, Channel.WHATSAPP, Channel.MESSENGER, Channel.SMS)
        )
        second = self._account(
            person, (Channel.EMAIL, Channel.SMS, Channel.MESSENGER), avoid=first.channel
        )
        third = self._account(person, PUBLIC, avoid=second.channel)
        n1 = 2 if length >= 5 and rng.random() < 0.5 else 1
        n2 = 2 if length - n1 >= 4 and rng.random() < 0.4 else 1
        n3 = length - n1 - n2
        call = [_in("complaint"), _out("reply_followup")][:n1]
        mail = [_in("after_call"), _in("follow_up", int(rng.uniform(2, 5) * HOUR))][:n2]
        public = [_in("public_move"), _out("reply_angry"), _in("follow_up"), _out("reply_fix")]
        while len(public) < n3:
            public += [_in("chase"), _out("reply_followup")]
        gap1 = int(rng.uniform(1.5, 4) * HOUR)
        gap2 = gap1 + int(rng.uniform(2, 6) * HOUR) + (n2 - 1) * 4 * HOUR
        convs = [
            _ConvPlan(first, call, 0),
            _ConvPlan(second, mail, gap1),
            _ConvPlan(third, public[:n3], gap2),
        ]
        return convs, ("live" if rng.random() < 0.5 else "recent")

    def _plan_duplicates(self, person: _Person, length: int) -> tuple[list[_ConvPlan], str]:
        rng = self.rng
        if self._has(person, PUBLIC) and rng.random() < 0.8:
            account = self._account(person, PUBLIC)
        else:
            account = self._account(person, (Channel.WHATSAPP, Channel.MESSENGER, Channel.SMS))
        answered = int(length * rng.uniform(0.15, 0.4))
        posts = length - answered
        convs: list[_ConvPlan] = []
        offset = 0
        if not account.channel.is_threaded:  # one stream: the same text sent again and again
            steps = []
            for i in range(posts):
                steps.append(_in("complaint", None if i == 0 else int(rng.uniform(5, 90) * 60)))
                if i < answered:
                    steps.append(_out("reply_first"))
            return [_ConvPlan(account, steps, 0, "dup")], "live"
        for i in range(posts):
            steps = [_in("complaint")]
            if i < answered:
                steps.append(_out("reply_first", int(rng.uniform(10, 120) * 60)))
            convs.append(_ConvPlan(account, steps, offset, "dup"))
            offset += int(rng.uniform(8, 150) * 60)
        return convs, ("live" if rng.random() < 0.55 else "recent")

    def _plan_escalating(self, person: _Person, length: int) -> tuple[list[_ConvPlan], str]:
        rng = self.rng
        public = self._account(person, PUBLIC)
        if length == 3 or not self._has(person, PRIVATE):
            steps = [_in("complaint"), _in("chase", int(rng.uniform(3, 9) * HOUR))]
            steps.append(_in("angry", int(rng.uniform(1, 5) * HOUR)))
            while len(steps) < length:
                steps.append(_in("threat", int(rng.uniform(0.5, 3) * HOUR)))
            return [_ConvPlan(public, steps, 0)], "live"
        private = self._account(person, PRIVATE)
        opener = "question" if rng.random() < 0.7 else "complaint"
        first = [
            _in(opener),
            _in("follow_up", int(rng.uniform(3, 8) * HOUR)),
            _in("chase", int(rng.uniform(5, 14) * HOUR)),
        ]
        n1 = 2 if length <= 5 else 3
        late_reply = length >= 7 and rng.random() < 0.4
        steps1 = first[:n1] + (
            [_out("reply_followup", int(rng.uniform(6, 20) * HOUR))] if late_reply else []
        )
        n2 = length - len(steps1)
        second = [
            _in("public_move"),
            _in("angry", int(rng.uniform(20, 90) * 60)),
            _in("threat", int(rng.uniform(1, 3) * HOUR)),
            _out("reply_angry", int(rng.uniform(0.5, 3) * HOUR)),
        ]
        while len(second) < n2:
            second += [_in("chase", int(rng.uniform(1, 6) * HOUR))]
        duration = sum(s.delay or 0 for s in steps1)
        gap = duration + int(rng.uniform(1, 6) * HOUR)
        convs = [_ConvPlan(private, steps1, 0), _ConvPlan(public, second[:n2], gap)]
        return convs, ("live" if rng.random() < 0.6 else "recent")

    def _plan_outage(self, person: _Person, length: int) -> tuple[list[_ConvPlan], str]:
        rng = self.rng
        mine = [o for o in self.outages if o.brand == person.brand.key]
        outage = rng.choices(mine, [o.weight for o in mine])[0]
        person.values.update(outage.values)
        person.values["_outage"] = str(outage.reply)
        if rng.random() < 0.75:
            account = self._account(person, PUBLIC)
        else:
            account = self._account(person, (Channel.WHATSAPP, Channel.MESSENGER, Channel.SMS))
        n = min(length, 3)
        steps = [_in("outage"), _out("reply_outage", int(rng.uniform(10, 80) * 60))]
        steps.append(_in("thanks" if self.now - outage.start > 6 * HOUR else "follow_up"))
        spread = min(rng.expovariate(1 / 900), 3 * HOUR, max(60, self.now - outage.start - 60))
        offset = outage.start - self.now + int(spread)
        convs = [_ConvPlan(account, steps[:n], offset)]
        if length > n:
            convs += self._history(person, length - n, offset)
        return convs, "event"

    def _plan_heavy(self, person: _Person, length: int) -> tuple[list[_ConvPlan], str]:
        """A customer who writes every day on two or three channels (and repeats themself)."""
        rng = self.rng
        channels = list(self.by_brand[person.brand.key])
        rng.shuffle(channels)
        mine = channels[: min(3, len(channels))]
        parts = self._split(length, 9)
        step = max(60, int(self.plan.days * DAY * 0.95 / max(1, len(parts))))
        convs = []
        for i, n in enumerate(parts):
            account = self.by_brand[person.brand.key][mine[i % len(mine)]]
            opener = rng.choice(("complaint", "complaint", "question", "chase"))
            convs.append(_ConvPlan(account, self._simple_steps(n, opener), i * step, "opener"))
        return convs, "history"

    # -- placing a story in time ---------------------------------------------------------------

    def _anchor(self, person: _Person, convs: list[_ConvPlan], mode: str, *, last: bool) -> int:
        """The time of offset 0: the story ends before ``now`` unless it is still going on."""
        window = int(self.plan.days * DAY)
        low = min(c.offset for c in convs)
        final = max(convs, key=lambda c: c.offset)
        span = final.offset - low + self._duration(final)
        if mode == "event":
            return self.now
        if span > window * 0.95:  # squeeze long histories into the window
            factor = window * 0.95 / span
            for conv in convs:
                conv.offset = int(conv.offset * factor)
            low = min(c.offset for c in convs)
            span = int(window * 0.95)
        latest = self.now - int(span) - low - 60
        if mode == "history" or last:
            return self.now - window + int(0.02 * window) - low
        if mode == "live":  # still going on: the last messages land within the last hours
            return latest + int(self.rng.uniform(0, min(4 * HOUR, 0.8 * span)))
        return max(min(self._start_time(person.brand), latest), self.now - window - low)

    def _duration(self, conv: _ConvPlan) -> int:
        typical = _REPLY_DELAY[conv.account.channel][0] * 60
        return int(sum(s.delay or typical for s in conv.steps))

    def _start_time(self, brand: Brand) -> int:
        """A start time: the last 24 hours busiest, quiet nights in the brand's time zone."""
        days = max(1, math.ceil(self.plan.days))
        weights = [3.0, 1.6] + [1.0] * (days - 2) if days > 1 else [1.0]
        offset = self._offsets[brand.key]
        while True:
            day = self.rng.choices(range(days), weights[:days])[0]
            moment = self.now - day * DAY - int(self.rng.uniform(0, DAY))
            hour = ((moment + offset) // HOUR) % 24
            if self.rng.random() < _HOUR_PROFILE[hour]:
                return moment

    # -- writing a conversation ----------------------------------------------------------------

    def _write(
        self, person: _Person, conv: _ConvPlan, start: int, out: list[IncomingMessage]
    ) -> None:
        account = conv.account
        thread = _Thread(account, self._handle(person, account.channel), self._agent(person))
        t = start
        previous: _Step | None = None
        for step in conv.steps:
            if previous is not None:
                t = self._next_time(thread, previous, step, t)
            if t > self.now:
                return  # the rest of the story has not happened yet
            if step.direction == Direction.IN:
                out.append(self._inbound(person, thread, step, t, conv.text_key))
                thread.last_in = t
            elif step.direction == Direction.OUT:
                out.append(self._outbound(person, thread, step, t))
            else:
                out.append(self._note(person, thread, t))
            previous = step

    def _next_time(self, thread: _Thread, previous: _Step, step: _Step, t: int) -> int:
        rng = self.rng
        channel = thread.account.channel
        if step.direction == Direction.OUT:
            if step.delay is not None:
                delay = step.delay
            else:
                median, sigma = _REPLY_DELAY[channel]
                delay = int(rng.lognormvariate(math.log(median * 60), sigma))
                if rng.random() < 0.07:
                    delay = int(delay * rng.uniform(3, 10))
            since = max(t, thread.last_in)
            return add_business_seconds(since, delay, self._hours[thread.account.ref]) + 1
        if step.delay is not None:
            return t + step.delay
        if step.direction == Direction.NOTE:
            return t + rng.randint(60, 900)
        if previous.direction == Direction.OUT:
            median = _ANSWER_DELAY[channel] * 60
        else:
            median = 2.5 * HOUR  # writing again before an answer
        return t + max(30, int(rng.lognormvariate(math.log(median), 0.9)))

    def _agent(self, person: _Person) -> AgentSpec:
        team = [a for a in self.recipe.agents if person.brand.key in a.brands]
        speaking = [a for a in team if person.lang in a.languages]
        return self.rng.choice(speaking or team or list(self.recipe.agents))

    def _inbound(
        self, person: _Person, thread: _Thread, step: _Step, t: int, text_key: str | None
    ) -> IncomingMessage:
        channel = thread.account.channel
        plain = self._customer_text(person, step.kind, text_key, thread)
        text = self._decorate_inbound(person, thread, step.kind, plain)
        ext = self._id(channel, person)
        subject = None
        if channel == Channel.EMAIL:
            if thread.subject is None:
                subject = thread.subject = _subject_of(plain)
            else:
                subject = "Re: " + thread.subject
        record = IncomingMessage(
            channel=channel,
            account=thread.account.name,
            external_id=ext,
            direction=Direction.IN,
            author=thread.handle,
            text=text,
            created_at=t,
            in_reply_to=thread.last if channel.is_threaded else None,
            thread=thread.root if channel == Channel.EMAIL else None,
            author_name=self._display_name(person, channel),
            customer_key=person.key,
            followers=person.followers if channel in (Channel.X, Channel.INSTAGRAM) else None,
            subject=subject,
        )
        thread.root = thread.root or ext
        thread.last = ext
        return record

    def _outbound(self, person: _Person, thread: _Thread, step: _Step, t: int) -> IncomingMessage:
        channel = thread.account.channel
        agent = thread.agent
        kind = step.kind
        if kind == "reply_outage":
            options = self.recipe.texts[person.lang][kind]
            template = options[int(person.values.get("_outage", "0")) % len(options)]
        elif kind == "reply_first" and "reply" in person.texts:
            template = person.texts["reply"]  # a copy of the first answer for every duplicate
        else:
            template = self.rng.choice(self._options(person, kind, channel))
            if kind == "reply_first":
                person.texts["reply"] = template
        text = self._render(template, person, agent)
        text = self._decorate_outbound(person, thread, text)
        ext = self._id(channel, person)
        record = IncomingMessage(
            channel=channel,
            account=thread.account.name,
            external_id=ext,
            direction=Direction.OUT,
            author=thread.account.handle,
            text=text,
            created_at=t,
            in_reply_to=thread.last if channel.is_threaded else None,
            thread=thread.root if channel == Channel.EMAIL else None,
            author_name=agent.name,
            to=thread.handle,
            subject=("Re: " + thread.subject) if thread.subject else None,
            extra={"agent": agent.name},
        )
        thread.last = ext
        return record

    def _note(self, person: _Person, thread: _Thread, t: int) -> IncomingMessage:
        channel = thread.account.channel
        notes = self.recipe.texts[person.lang].get("note") or self.recipe.texts["en"]["note"]
        if self.rng.random() < 0.5:
            notes = self.recipe.texts["en"].get("note", notes)
        return IncomingMessage(
            channel=channel,
            account=thread.account.name,
            external_id="note-" + self._id(channel, person),
            direction=Direction.NOTE,
            author=thread.agent.name,
            text=self.rng.choice(notes),
            created_at=t,
            in_reply_to=thread.last if channel.is_threaded else None,
            author_name=thread.agent.name,
            to=thread.handle,
            extra={"agent": thread.agent.name},
        )

    # -- texts ---------------------------------------------------------------------------------

    def _options(self, person: _Person, kind: str, channel: Channel) -> Sequence[str]:
        """Templates of a kind: the brand's own first, then the language's; a kind's ``_dm``
        variants (asking for a private message) only on public channels."""
        own = person.brand.texts[person.lang].get(kind)
        if own:
            return own
        texts = self.recipe.texts[person.lang]
        if channel in PUBLIC and f"{kind}_dm" in texts:
            return texts[kind] + texts[f"{kind}_dm"]
        return texts[kind]

    def _customer_text(
        self, person: _Person, kind: str, text_key: str | None, thread: _Thread
    ) -> str:
        """The rendered text of one inbound message; posts sharing a key repeat one text."""
        if text_key is not None and kind == "complaint":
            cached = person.texts.get(f"{text_key}:{kind}")
            if cached is not None:
                return cached
        channel = thread.account.channel
        options = self._options(person, kind, channel)
        if kind == "outage":  # most posters write the same few words: a same-issue group
            template = options[0] if self.rng.random() < 0.65 else self.rng.choice(options)
            return self._render(template, person, thread.agent)
        short = self.recipe.texts[person.lang].get("thanks_short")
        if kind == "thanks" and short and self.rng.random() < 0.5:
            return self.rng.choice(short)
        template = self.rng.choice(options)
        text = self._personalise(
            person, kind, template, self._render(template, person, thread.agent), channel
        )
        if text_key is not None and kind == "complaint":
            person.texts[f"{text_key}:{kind}"] = text
        return text

    def _is_personal(self, brand: Brand, template: str) -> bool:
        """Whether a template names something of this customer's own (an order, an amount...)."""
        personal = self._personal.get(brand.key)
        if personal is None:
            personal = self._personal[brand.key] = frozenset(
                name for name in brand.formats if _random_width(brand, name) >= 3
            )
        return any(name in personal for name in _PLACEHOLDER.findall(template))

    def _personalise(
        self, person: _Person, kind: str, template: str, text: str, channel: Channel
    ) -> str:
        """Customers quote their reference and start as they like: long texts stay their own."""
        rng = self.rng
        texts = self.recipe.texts[person.lang]
        quotes = kind in _QUOTES_REF or (
            kind == "complaint" and not self._is_personal(person.brand, template)
        )
        if quotes and "{ref}" not in template and rng.random() < 0.85:
            tails = texts.get("ref_tail")
            if tails:
                text = f"{text} {self._render(rng.choice(tails), person, None)}"
        leads = texts.get("lead")
        if leads and channel != Channel.EMAIL and rng.random() < _LEAD_SHARE.get(kind, 0.35):
            text = f"{rng.choice(leads)} {_after_lead(text, person.brand)}"
        return text

    def _render(self, template: str, person: _Person, agent: AgentSpec | None) -> str:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "agent":
                return agent.first_name if agent is not None else person.brand.name
            return self._value(name, person.values, person.brand, self.rng)

        return _PLACEHOLDER.sub(sub, template)

    def _value(
        self, name: str, values: dict[str, str], brand: Brand, rng: random.Random, depth: int = 0
    ) -> str:
        cached = values.get(name)
        if cached is not None:
            return cached
        pattern = _RANDOM.match(name)
        if pattern is not None:  # inside a format: fresh random characters every time
            count, kind = int(pattern.group(2)), pattern.group(1)
            if kind in "dn":
                digits = "".join(rng.choice("0123456789") for _ in range(count))
                return str(rng.randint(1, 9)) + digits[1:] if kind == "n" else digits
            return "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(count))
        if name in brand.formats and depth < 4:
            value = _PLACEHOLDER.sub(
                lambda m: self._value(m.group(1), values, brand, rng, depth + 1),
                brand.formats[name],
            )
        elif name in brand.values:
            value = rng.choice(brand.values[name])
        else:
            raise RecipeError(f"{brand.key}: unknown placeholder {{{name}}}")
        values[name] = value
        return value

    def _decorate_inbound(self, person: _Person, thread: _Thread, kind: str, text: str) -> str:
        rng = self.rng
        channel = thread.account.channel
        if channel == Channel.EMAIL:
            texts = self.recipe.texts[person.lang]
            opening = self._render(rng.choice(texts["email_open"]), person, None)
            closing = rng.choice(texts["email_close"])
            return f"{opening}\n\n{text}\n\n{closing}\n{person.full_name}"
        if channel == Channel.X and "@" not in text and rng.random() < 0.85:
            text = f"@{thread.account.handle} {text}"
        if channel in PUBLIC and kind in _EMOJI and rng.random() < 0.15:
            text = f"{text} {rng.choice(_EMOJI[kind])}"
        return text

    def _decorate_outbound(self, person: _Person, thread: _Thread, text: str) -> str:
        channel = thread.account.channel
        agent = thread.agent
        if channel == Channel.EMAIL:
            texts = self.recipe.texts[person.lang]
            opening = self._render(self.rng.choice(texts["agent_open"]), person, agent)
            closing = self.rng.choice(texts["agent_close"])
            team = f"{person.brand.name} Customer Care"
            return f"{opening}\n\n{text}\n\n{closing}\n{agent.name}\n{team}"
        if channel == Channel.X:
            text = f"@{thread.handle} {text}"
        if channel == Channel.PHONE:
            return text
        return f"{text} {agent.signature}"

    # -- identities ----------------------------------------------------------------------------

    def _handle(self, person: _Person, channel: Channel) -> str:
        """The person's handle on a channel: unique (it ends in the customer's number)."""
        known = person.handles.get(channel)
        if known is not None:
            return known
        first, last, i = _fold_ascii(person.first), _fold_ascii(person.last), person.index
        style = (i * 7 + len(first)) % 4
        if channel == Channel.X:
            handle = (
                f"{first}{last}{i}",
                f"{first}_{last}{i}",
                f"{first}{i}",
                f"{first}_{last[:1]}{i}",
            )[style]
        elif channel == Channel.INSTAGRAM:
            handle = (
                f"{first}.{last}{i}",
                f"{first}{last}_{i}",
                f"{first}.{last[:1]}{i}",
                f"the{first}{i}",
            )[style]
        elif channel == Channel.EMAIL:
            domains = self.recipe.locales[person.lang][1]
            user = (
                f"{first}.{last}{i}",
                f"{first}{last}{i}",
                f"{first[:1]}{last}{i}",
                f"{first}_{i}",
            )[style]
            handle = f"{user}@{domains[i % len(domains)]}"
        elif channel == Channel.FACEBOOK:
            handle = str(100_004_000_000_000 + i * 13 + 7)
        elif channel == Channel.MESSENGER:
            handle = str(5_100_000_000_000_000 + i * 17 + 3)
        else:  # phone, SMS, WhatsApp: one phone number
            handle = self._phone(person)
        person.handles[channel] = handle
        return handle

    def _phone(self, person: _Person) -> str:
        pattern = self.recipe.locales[person.lang][0]
        groups = [int(n) for n in re.findall(r"\{d(\d+)\}", pattern)]
        width = sum(groups)
        digits = str((person.index * 7_919_113 + 1_234_567) % 10**width).zfill(width)
        parts = iter(groups)
        position = 0

        def fill(_: re.Match[str]) -> str:
            nonlocal position
            size = next(parts)
            chunk = digits[position : position + size]
            position += size
            return chunk

        return re.sub(r"\{d\d+\}", fill, pattern)

    def _display_name(self, person: _Person, channel: Channel) -> str | None:
        if channel == Channel.SMS:
            return None
        if channel == Channel.WHATSAPP:
            return person.first
        if channel == Channel.PHONE:
            return person.full_name if person.key else None
        return person.full_name

    def _id(self, channel: Channel, person: _Person) -> str:
        """A fresh external id in the channel's usual shape."""
        n = self._seq[channel] = self._seq.get(channel, 0) + 1
        if channel == Channel.X:
            return str(1_790_000_000_000_000_000 + n * 4099)
        if channel == Channel.FACEBOOK:
            return f"1{n:014d}_{(n * 7919) % 10**9:09d}"
        if channel == Channel.INSTAGRAM:
            return str(17_900_000_000_000_000 + n * 31)
        if channel == Channel.MESSENGER:
            return f"m_{n:012d}"
        if channel == Channel.WHATSAPP:
            return f"wamid.HBgL{n:012d}"
        if channel == Channel.SMS:
            return f"SM{n * 2654435761 % 16**32:032x}"
        if channel == Channel.EMAIL:
            return f"<{n:x}.{person.index:x}@mail.{person.brand.key}.example>"
        return f"call-{n:08d}"


def _after_lead(text: str, brand: Brand) -> str:
    """``"My order..."`` as it reads after ``"Hi,"``: lower-case, unless a name or "I"."""
    first = text.split(" ", 1)[0]
    if len(first) < 2 or not first[0].isupper() or not first[1:].islower():
        return text
    if brand.name.startswith(first.rstrip("',.!?")) or first.startswith("I'"):
        return text
    return first[0].lower() + text[1:]


def _random_width(brand: Brand, name: str, depth: int = 0) -> int:
    """How many random characters a format placeholder draws (``{d6}`` counts 6)."""
    pattern = brand.formats.get(name)
    if pattern is None or depth > 4:
        return 0
    width = 0
    for inner in _PLACEHOLDER.findall(pattern):
        match = _RANDOM.match(inner)
        width += int(match.group(2)) if match else _random_width(brand, inner, depth + 1)
    return width


def _mean_length(kind: str) -> float:
    values, weights = _LENGTHS[kind]
    return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)


# -- building a workspace ------------------------------------------------------------------------


def account_rows(accounts: Sequence[AccountSpec]) -> list[demo_repo.AccountRow]:
    return [
        demo_repo.AccountRow(str(a.channel), a.name, a.handle, a.target_s, a.hours)
        for a in accounts
    ]


def prepare_workspace(ws: Workspace, generator: Generator) -> None:
    """Accounts with their targets and hours, and the agents table, before any message."""
    demo_repo.upsert_accounts(ws, account_rows(generator.accounts), now=generator.now)
    demo_repo.seed_agents(
        ws,
        [
            demo_repo.AgentRow(a.name, a.signature, a.role, a.languages, a.skills)
            for a in generator.recipe.agents
        ],
    )


def finish_workspace(
    ws: Workspace, generator: Generator, *, seed: int = DEMO_SEED
) -> dict[str, int]:
    """After ingest: value tiers, conversation statuses and assignees, the current agent."""
    recipe, now = generator.recipe, generator.now
    tiers = [(key, tier, f"Tier: {name}") for key, (tier, name) in sorted(generator.tiers.items())]
    counts: dict[str, int] = {"tiered_customers": demo_repo.set_tiers(ws, tiers)}
    for states in conversation_states(ws, recipe, now, seed=seed):
        demo_repo.apply_states(ws, states)
        for state in states:
            counts[state.status] = counts.get(state.status, 0) + 1
    ws.set_setting("agent.me", recipe.me)
    return counts


def conversation_states(
    ws: Workspace, recipe: Recipe, now: int, *, seed: int = DEMO_SEED, page: int = 10_000
) -> Iterator[list[demo_repo.ConversationState]]:
    """Who works on what, a page of conversations at a time: old conversations resolved, recent
    answered ones pending, the waiting ones open (some assigned, a few snoozed), in proportions a
    real queue has."""
    rng = random.Random(f"{seed}:states")
    accounts = {row["id"]: row["name"] for row in ws.query("SELECT id, name FROM accounts")}
    brand_of = {a.name: a.brand for a in recipe.accounts}
    teams: dict[str, list[str]] = {}
    for agent in recipe.agents:
        for brand in agent.brands:
            teams.setdefault(brand, []).append(agent.name)
    after = 0
    while facts := demo_repo.conversation_facts(ws, after=after, limit=page):
        after = facts[-1].id
        states = []
        for fact in facts:
            team = teams.get(brand_of.get(accounts.get(fact.account_id, ""), ""), [recipe.me])
            states.append(_state(fact, now, rng, team, recipe.me))
        yield states


def _state(
    facts: demo_repo.ConversationFacts,
    now: int,
    rng: random.Random,
    team: Sequence[str],
    me: str,
) -> demo_repo.ConversationState:
    age = now - facts.last_activity
    helper = facts.last_agent
    resolved_at = min(now, facts.last_activity + rng.randint(300, 3 * HOUR))
    if facts.waiting_since is not None:  # the customer wrote last
        closed_share = 0.97 if age > 2 * DAY else (0.8 if age > 12 * HOUR else 0.0)
        if rng.random() < closed_share:  # answered elsewhere, or nothing to answer: closed
            return demo_repo.ConversationState(facts.id, Status.RESOLVED, helper, resolved_at)
        roll = rng.random()
        if roll < 0.04:
            until = now + rng.randint(2 * HOUR, 30 * HOUR)
            assignee = helper or rng.choice(team)
            return demo_repo.ConversationState(facts.id, Status.SNOOZED, assignee, None, until)
        if roll < 0.12:
            return demo_repo.ConversationState(facts.id, Status.OPEN, me)
        if helper is not None and roll < 0.6:
            return demo_repo.ConversationState(facts.id, Status.OPEN, helper)
        picked = rng.choice(team) if roll < 0.45 else None
        return demo_repo.ConversationState(facts.id, Status.OPEN, picked)
    if facts.first_response_at is None:  # only notes or our own first message
        return demo_repo.ConversationState(facts.id, Status.OPEN, helper)
    roll = rng.random()
    if age > 6 * HOUR:
        if roll < 0.9:
            return demo_repo.ConversationState(facts.id, Status.RESOLVED, helper, resolved_at)
        status = Status.PENDING if roll < 0.95 else Status.OPEN
        return demo_repo.ConversationState(facts.id, status, helper)
    if roll < 0.5:
        return demo_repo.ConversationState(facts.id, Status.PENDING, helper)
    if roll < 0.65:
        return demo_repo.ConversationState(facts.id, Status.RESOLVED, helper, resolved_at)
    return demo_repo.ConversationState(facts.id, Status.OPEN, helper)


class _Phases:
    """One progress scale (0..1000) over the phases of a build, each with its share."""

    TOTAL = 1000

    def __init__(self, progress: Progress | None, shares: Mapping[str, float]) -> None:
        self.progress = progress
        self.starts: dict[str, float] = {}
        self.shares = dict(shares)
        position = 0.0
        for name, share in shares.items():
            self.starts[name] = position
            position += share
        self.last = -1

    def report(self, phase: str, done: float, total: float) -> None:
        if self.progress is None:
            return
        fraction = 0.0 if total <= 0 else min(1.0, done / total)
        value = int(self.TOTAL * (self.starts[phase] + self.shares[phase] * fraction))
        if value != self.last:
            self.last = value
            self.progress(value, self.TOTAL)


def build_demo(
    ws: Workspace,
    *,
    now: int,
    seed: int = DEMO_SEED,
    scale: float = 1.0,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    plan: Plan | None = None,
    recipe: Recipe | None = None,
) -> dict[str, Any]:
    """Fill ``ws`` (an empty workspace) with the demo: ingest, statuses, agents, triage rebuild.

    ``progress(done, total)`` runs on the caller's thread between batches (total is 1000);
    ``cancelled()`` is checked there too: a cancelled build returns ``{"cancelled": True}`` and
    leaves the workspace half filled (:func:`ensure_demo` throws such a file away).
    """
    from console.triage.engine import rebuild

    started = time.perf_counter()
    recipe = recipe or load_recipe()
    plan = plan or plan_for_scale(recipe, scale)
    generator = Generator(recipe, plan, now=now, seed=seed)
    phases = _Phases(progress, {"ingest": 0.55, "finish": 0.05, "triage": 0.40})
    prepare_workspace(ws, generator)
    done = 0

    def on_batch(count: int) -> None:
        nonlocal done
        done += count
        phases.report("ingest", done, plan.messages)
        if cancelled is not None and cancelled():
            raise _Stop

    try:
        Ingestor(ws, batch_size=2000).ingest(generator.records(), progress=on_batch)
    except _Stop:
        return {"cancelled": True}
    ingested = time.perf_counter()
    finish = finish_workspace(ws, generator, seed=seed)
    phases.report("finish", 1, 1)
    report = rebuild(
        ws,
        progress=lambda d, t: phases.report("triage", d, t),
        cancelled=cancelled,
        clock=lambda: now,
    )
    if report.cancelled:
        return {"cancelled": True}
    ws.set_setting(
        "demo.info", {"built_at": now, "seed": seed, "recipe": recipe.version, "scale": scale}
    )
    summary = demo_repo.summary(ws)
    summary.update(
        {
            "cancelled": False,
            "stories": dict(sorted(generator.kind_counts.items())),
            "states": finish,
            "triage": report.to_json(),
            "seconds": {
                "ingest": round(ingested - started, 2),
                "triage": round(report.seconds, 2),
                "total": round(time.perf_counter() - started, 2),
            },
        }
    )
    return summary


class _Stop(Exception):
    """Raised inside ingest's progress callback to stop a cancelled build."""


def ensure_demo(
    path: Path,
    *,
    now: int | None = None,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    scale: float | None = None,
    seed: int = DEMO_SEED,
) -> Path:
    """The demo workspace at ``path``, built on first use; an existing file is reused as it is.

    The build goes into a temporary file in the same folder, renamed into place when complete: a
    crash or a cancel mid-build leaves no demo (and no temporary file) behind. Raises
    :class:`DemoCancelledError` when ``cancelled()`` said so. Safe to call from a worker thread
    (the workspace it builds is opened and closed on that thread).
    """
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.building")
    moment = int(time.time()) if now is None else int(now)
    try:
        ws = Workspace(temp)
        try:
            summary = build_demo(
                ws,
                now=moment,
                seed=seed,
                scale=DEMO_SCALE if scale is None else scale,
                progress=progress,
                cancelled=cancelled,
            )
            if not summary.get("cancelled"):
                ws.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            ws.close()
        if summary.get("cancelled"):
            raise DemoCancelledError("the demo build was cancelled")
        with temp.open("rb+") as fh:
            os.fsync(fh.fileno())
        if not path.exists():  # another process may have finished first: keep theirs
            os.replace(temp, path)
    finally:
        for leftover in (temp, Path(f"{temp}-wal"), Path(f"{temp}-shm")):
            leftover.unlink(missing_ok=True)
    return path
