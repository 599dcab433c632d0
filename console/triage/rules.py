"""The triage rules as pure functions over plain records: no SQL, no clock of their own.

Each rule returns a :class:`~console.domain.Flag` (kind, score in [0, 1], plain-word reasons naming
the evidence, ids of the messages that triggered it) or None:

- :func:`repeat_window` / :func:`repeat_flag`: the customer started at least
  ``repeat_min_conversations`` conversations within ``repeat_window_s``, on any channels together
  ("3 conversations in 5 days on X and email"). The densest window counts (the latest on ties).
- :func:`escalation`: a weighted score over the customer's recent inbound messages (the
  ``escalation_window_s`` before their latest one). Signals, each with a strength in [0, 1]:
  falling sentiment, messages coming faster, chasing (writing again before an answer), moving from
  a private channel to a public one, escalation words (``resources/lexicon``), shouting (capitals,
  "!!!") and writing again after waiting past the response target. Flagged when
  ``sum(weight * strength)`` reaches ``escalation_threshold`` (chasing, waiting and faster describe
  one unanswered run and add at most ``unanswered_cap`` together), unless the latest message is
  clearly positive (``escalation_calm_above``): the customer has calmed down.
- :func:`duplicates_flag`: a duplicate group of the customer's own posts (see
  :mod:`console.triage.duplicates`) with at least ``duplicates_min_posts`` posts.
- :func:`high_reach_flag`: followers at or above ``high_reach_followers``.
- :func:`breach_flag`: an open conversation whose first-response deadline passed (clock time).

:func:`customer_priority_part` and :func:`urgency` make the priority: flags, reach and value tier for
the customer, plus how close each conversation is to (or past) its deadline.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from console.domain import Direction, Flag, FlagKind, Status
from console.triage.language import prepare
from console.triage.lexicon import SUPPORTED_LANGUAGES, FoldedText, lexicon, split_folded
from console.triage.settings import TriageSettings
from console.triage.wording import (
    and_list,
    channel_word,
    duration,
    plural,
    private_place,
    public_post,
    quote,
    signed,
)


class Start(NamedTuple):
    """A conversation the customer started (its first message was theirs).

    The records the rules get one of per message or conversation (:class:`Start`,
    :class:`Post`, :class:`Clocked`) are named tuples: a rebuild makes millions of them, and a
    frozen dataclass takes three times as long to build.
    """

    conversation_id: int
    channel: str
    started_at: int


class Post(NamedTuple):
    """One message of the customer's recent history (inbound or outbound)."""

    id: int
    conversation_id: int
    channel: str
    direction: str
    created_at: int
    text: str
    sentiment: float | None
    language: str | None
    is_public: bool
    target_s: int

    @property
    def inbound(self) -> bool:
        return self.direction == Direction.IN


@dataclass(frozen=True, slots=True)
class Signal:
    """One piece of escalation evidence."""

    name: str
    strength: float
    weight: float
    reason: str
    message_ids: tuple[int, ...]

    @property
    def contribution(self) -> float:
        return self.weight * self.strength


@dataclass(frozen=True, slots=True)
class Escalation:
    """A customer's escalation score with every signal that made it (the GUI's detail view)."""

    score: float
    threshold: float
    signals: tuple[Signal, ...]
    window_start: int
    window_end: int
    messages: int
    #: the latest inbound message is clearly positive: whatever came before, not escalating now
    calm: bool = False

    @property
    def flagged(self) -> bool:
        return bool(self.signals) and self.score >= self.threshold and not self.calm

    def to_flag(self) -> Flag | None:
        if not self.flagged:
            return None
        ranked = sorted(self.signals, key=lambda s: s.contribution, reverse=True)
        ids = sorted({i for s in ranked for i in s.message_ids})
        return Flag(FlagKind.ESCALATING, self.score, tuple(s.reason for s in ranked), tuple(ids))


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A duplicate group of one customer's posts; ``posts`` are (created_at, id) in time order."""

    key: str
    size: int
    sample: str
    norm_chars: int
    sentiment: float | None
    posts: tuple[tuple[int, int], ...]


class Clocked(NamedTuple):
    """A conversation's deadline facts."""

    id: int
    channel: str
    status: str
    waiting_since: int | None
    deadline_at: int | None
    target_s: int
    business_hours: bool


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def densest(times: Sequence[int], window: int) -> tuple[int, int]:
    """(first, last) index of the longest run of sorted ``times`` within ``window`` seconds
    (the latest such run on ties); (0, -1) for no times."""
    best = (0, -1)
    lo = 0
    for hi, moment in enumerate(times):
        while moment - times[lo] > window:
            lo += 1
        if hi - lo >= best[1] - best[0]:
            best = (lo, hi)
    return best


# -- repeat ------------------------------------------------------------------------------------


def repeat_window(
    starts: Sequence[Start], settings: TriageSettings, now: int | None = None
) -> list[Start] | None:
    """The densest run of starts within the window (latest on ties), if it is long enough."""
    items = sorted(starts, key=lambda s: (s.started_at, s.conversation_id))
    if settings.repeat_lookback_s is not None and now is not None:
        items = [s for s in items if s.started_at >= now - settings.repeat_lookback_s]
    lo, hi = densest([s.started_at for s in items], settings.repeat_window_s)
    if hi - lo + 1 < settings.repeat_min_conversations:
        return None
    return items[lo : hi + 1]


def repeat_flag(window: Sequence[Start], message_ids: Sequence[int] = ()) -> Flag:
    count = len(window)
    span = window[-1].started_at - window[0].started_at
    channels = list(dict.fromkeys(channel_word(s.channel) for s in window))
    reason = f"{count} conversations in {duration(span)} on {and_list(channels)}"
    score = clamp(0.5 + 0.25 * (count - 2) + (0.25 if len(channels) > 1 else 0.0))
    return Flag(FlagKind.REPEAT, score, (reason,), tuple(message_ids))


# -- escalation --------------------------------------------------------------------------------

_BANGS = re.compile(r"!\s*!\s*!")
_CAPS_WORD = re.compile(r"\b[^\W\d_a-z]{4,}\b")
#: _CAPS_WORD for ASCII texts: there \\w and \\b mean the same with re.ASCII, and the class is A-Z
_ASCII_CAPS_WORD = re.compile(r"\b[A-Z]{4,}\b", re.ASCII)
_ASCII_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_ASCII_LOWER = bytes(range(ord("a"), ord("z") + 1))


#: Texts whose shouting and escalation terms are remembered (each a pure function of the text and
#: its language; a rebuild meets the same texts again and again: replies copied, complaints posted
#: again, one message in several customers' windows).
TEXT_MEMO = 65_536


@functools.lru_cache(maxsize=TEXT_MEMO)
def shouting(text: str) -> tuple[bool, bool]:
    """(written in capitals, "!!!") for one message; mentions and links are ignored."""
    cleaned = prepare(text)
    bangs = "!" in text and _BANGS.search(text) is not None
    ascii_only = cleaned.isascii()
    if ascii_only:
        # the capitals and small letters of ASCII are A-Z and a-z: bytes.translate counts them
        raw = cleaned.encode("ascii")
        upper = len(raw) - len(raw.translate(None, _ASCII_UPPER))
        if upper < 4:
            return False, bangs
        cased = upper + len(raw) - len(raw.translate(None, _ASCII_LOWER))
    else:
        upper = sum(map(str.isupper, cleaned))
        if upper < 4:
            return False, bangs
        cased = upper + sum(map(str.islower, cleaned))
    caps = (cased >= 12 and upper >= 0.7 * cased) or (
        upper >= 0.3 * cased
        and len((_ASCII_CAPS_WORD if ascii_only else _CAPS_WORD).findall(cleaned)) >= 3
    )
    return caps, bangs


@functools.lru_cache(maxsize=TEXT_MEMO)
def escalation_terms(text: str, language: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Strong and weak escalation terms of a message, in its language and in English."""
    languages = ["en"]
    if language in SUPPORTED_LANGUAGES and language != "en":
        languages.insert(0, language)
    words, parts = split_folded(prepare(text))
    lexicons = [lexicon(lang) for lang in languages]
    distinct = frozenset(parts)
    # Most messages have no word that can start a term: no need to build the folded text.
    if not any(lex.may_have_terms(distinct) for lex in lexicons):
        return (), ()
    folded = FoldedText.from_words(words, parts)
    strong: dict[str, None] = {}
    weak: dict[str, None] = {}
    for lex in lexicons:
        s, w = lex.escalation_terms(folded)
        strong.update(dict.fromkeys(s))
        weak.update(dict.fromkeys(w))
    return tuple(strong), tuple(w for w in weak if w not in strong)


def _writes(posts: Sequence[Post], gap: int) -> list[list[Post]]:
    """Inbound posts grouped into writes: posts within ``gap`` seconds of the previous one join it."""
    writes: list[list[Post]] = []
    for post in posts:
        if not post.inbound:
            continue
        if writes and post.created_at - writes[-1][-1].created_at < gap:
            writes[-1].append(post)
        else:
            writes.append([post])
    return writes


def _sentiment_signal(inbound: Sequence[Post], s: TriageSettings) -> Signal | None:
    """The biggest fall from an earlier message to a later, negative one."""
    scored = [(p, p.sentiment) for p in inbound if p.sentiment is not None]
    best: tuple[float, int, int] | None = None
    peak = 0
    for j in range(1, len(scored)):
        if scored[j - 1][1] > scored[peak][1]:
            peak = j - 1
        value = scored[j][1]
        drop = scored[peak][1] - value
        falling = value <= s.sentiment_negative_below and drop >= s.sentiment_min_drop
        if falling and (best is None or drop >= best[0]):
            best = (drop, peak, j)
    if best is None:
        return None
    drop, i, j = best
    (first, high), (last, low) = scored[i], scored[j]
    reason = f"sentiment fell from {signed(high)} to {signed(low)} over {j - i + 1} messages"
    return Signal(
        "sentiment", clamp((drop - 0.3) / 0.9), s.weight_sentiment, reason, (first.id, last.id)
    )


def _faster_signal(writes: Sequence[Sequence[Post]], s: TriageSettings) -> Signal | None:
    if len(writes) < 3:
        return None
    times = [w[0].created_at for w in writes]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    half = len(gaps) // 2
    early = statistics.median(gaps[:half])
    late = max(statistics.median(gaps[half:]), 60)
    if late * 2 > early:
        return None
    reason = (
        f"wrote faster and faster: {len(writes)} messages, the gaps shrank from"
        f" {duration(early)} to {duration(late)}"
    )
    ids = tuple(w[0].id for w in writes[half:])
    return Signal("faster", clamp(math.log2(early / late) / 3), s.weight_faster, reason, ids)


def _unanswered_runs(posts: Sequence[Post], gap: int) -> list[list[list[Post]]]:
    """Runs of writes with no outbound message in between."""
    runs: list[list[list[Post]]] = []
    current: list[Post] = []
    for post in posts:
        if not post.inbound:
            if current:
                runs.append(_writes(current, gap))
            current = []
        else:
            current.append(post)
    if current:
        runs.append(_writes(current, gap))
    return runs


def _chasing_signal(runs: Sequence[Sequence[Sequence[Post]]], s: TriageSettings) -> Signal | None:
    longest = max(runs, key=len, default=[])
    if len(longest) < 2:
        return None
    count = len(longest)
    reason = f"wrote {count} times without an answer"
    ids = tuple(w[0].id for w in longest)
    return Signal("chasing", clamp((count - 1) / 3), s.weight_chasing, reason, ids)


def _waiting_signal(runs: Sequence[Sequence[Sequence[Post]]], s: TriageSettings) -> Signal | None:
    best: tuple[float, Post, Post] | None = None
    for run in runs:
        first = run[0][0]
        for write in run[1:]:
            ratio = (write[0].created_at - first.created_at) / max(first.target_s, 1)
            if ratio > 1 and (best is None or ratio >= best[0]):
                best = (ratio, first, write[0])
    if best is None:
        return None
    ratio, first, later = best
    reason = (
        f"wrote again after waiting {duration(later.created_at - first.created_at)} without an"
        f" answer (target {duration(first.target_s)})"
    )
    return Signal(
        "waiting", clamp(0.5 + (ratio - 1) / 4), s.weight_waiting, reason, (first.id, later.id)
    )


def _public_move_signal(inbound: Sequence[Post], s: TriageSettings) -> Signal | None:
    last_private: Post | None = None
    found: tuple[Post, Post] | None = None
    for post in inbound:
        if not post.is_public:
            last_private = post
        elif last_private is not None:
            found = (last_private, post)
    if found is None:
        return None
    private, public = found
    reason = f"moved from {private_place(private.channel)} to {public_post(public.channel)}"
    return Signal("public_move", 1.0, s.weight_public_move, reason, (private.id, public.id))


def _words_signal(
    inbound: Sequence[Post], s: TriageSettings, fallback_language: str | None
) -> Signal | None:
    strong: dict[str, None] = {}
    weak: dict[str, None] = {}
    ids = []
    for post in inbound:
        found_strong, found_weak = escalation_terms(post.text, post.language or fallback_language)
        if found_strong or found_weak:
            ids.append(post.id)
            strong.update(dict.fromkeys(found_strong))
            weak.update(dict.fromkeys(found_weak))
    weak_only = [w for w in weak if w not in strong]
    if not strong and not weak_only:
        return None
    terms = [*strong, *weak_only]
    shown = ", ".join(quote(t) for t in terms[:5]) + (", …" if len(terms) > 5 else "")
    reason = f"used escalation words: {shown}"
    strength = clamp(0.5 * len(strong) + 0.2 * len(weak_only))
    return Signal("words", strength, s.weight_words, reason, tuple(ids))


def _shouting_signal(inbound: Sequence[Post], s: TriageSettings) -> Signal | None:
    ids = []
    caps_seen = bangs_seen = False
    for post in inbound:
        caps, bangs = shouting(post.text)
        if caps or bangs:
            ids.append(post.id)
            caps_seen |= caps
            bangs_seen |= bangs
    if not ids:
        return None
    how = and_list([w for w, seen in (("capitals", caps_seen), ('"!!!"', bangs_seen)) if seen])
    reason = f"shouted in {plural(len(ids), 'message')} ({how})"
    return Signal("shouting", clamp(len(ids) / 2), s.weight_shouting, reason, tuple(ids))


def recent_posts(posts: Sequence[Post], s: TriageSettings) -> list[Post]:
    """The escalation window: posts up to the latest inbound one, at most the last N inbound."""
    ordered = sorted(posts, key=lambda p: (p.created_at, p.id))
    inbound = [p for p in ordered if p.inbound]
    if not inbound:
        return []
    end = inbound[-1].created_at
    start = end - s.escalation_window_s
    kept = inbound[-s.escalation_max_messages :] if s.escalation_max_messages > 0 else inbound
    start = max(start, kept[0].created_at)
    return [p for p in ordered if start <= p.created_at <= end]


def escalation(
    posts: Sequence[Post],
    s: TriageSettings,
    *,
    fallback_language: str | None = None,
    now: int | None = None,
) -> Escalation | None:
    """The escalation score of a customer from their posts (any order; outbound ones included)."""
    return _escalation(posts, s, fallback_language, now, flag_only=False)


def escalation_flag(
    posts: Sequence[Post],
    s: TriageSettings,
    *,
    fallback_language: str | None = None,
    now: int | None = None,
) -> Flag | None:
    """``escalation(...).to_flag()``, without reading the texts of customers it cannot flag.

    The text signals (escalation words, shouting) are the costly ones; they are skipped when the
    latest message is calm, or when even at full strength they could not lift the other signals'
    score to the threshold (the words also when they could not, given the shouting found).
    Whenever a flag is possible every signal is computed, as :func:`escalation` does, so the
    flag is the same.
    """
    found = _escalation(posts, s, fallback_language, now, flag_only=True)
    return found.to_flag() if found is not None else None


def _escalation(
    posts: Sequence[Post],
    s: TriageSettings,
    fallback_language: str | None,
    now: int | None,
    *,
    flag_only: bool,
) -> Escalation | None:
    window = recent_posts(posts, s)
    inbound = [p for p in window if p.inbound]
    if not inbound:
        return None
    lookback = s.escalation_lookback_s
    if lookback is not None and now is not None and inbound[-1].created_at < now - lookback:
        return None
    last = inbound[-1].sentiment
    calm = last is not None and last >= s.escalation_calm_above
    runs = _unanswered_runs(window, s.burst_gap_s)
    cheap = (
        _sentiment_signal(inbound, s),
        _faster_signal(_writes(inbound, s.burst_gap_s), s),
        _chasing_signal(runs, s),
        _public_move_signal(inbound, s),
        _waiting_signal(runs, s),
    )
    words_most, shouting_most = max(s.weight_words, 0.0), max(s.weight_shouting, 0.0)
    if flag_only and (calm or not _may_reach_threshold(cheap, words_most + shouting_most, s)):
        return None
    # Shouting first: it is cheaper than the words, and may leave them unable to matter.
    shouted = _shouting_signal(inbound, s)
    if flag_only and not _may_reach_threshold((*cheap, shouted), words_most, s):
        return None
    candidates = (
        *cheap[:4],
        _words_signal(inbound, s, fallback_language),
        shouted,
        cheap[4],
    )
    signals = tuple(sig for sig in candidates if sig is not None and sig.contribution > 0)
    return Escalation(
        score=combined_score(signals, s),
        threshold=s.escalation_threshold,
        signals=signals,
        window_start=window[0].created_at,
        window_end=window[-1].created_at,
        messages=len(inbound),
        calm=calm,
    )


def _may_reach_threshold(known: Sequence[Signal | None], pending: float, s: TriageSettings) -> bool:
    """Whether the signals not computed yet, at most ``pending`` together (their weights at full
    strength; none of them of the unanswered family), could bring the score to the threshold."""
    signals = [sig for sig in known if sig is not None and sig.contribution > 0]
    best = combined_score(signals, s, more=pending)
    # A margin for the order of the float additions (the real sum adds in another order).
    return best + 1e-9 >= s.escalation_threshold


#: Signals that all describe writing without an answer: together they add at most
#: ``unanswered_cap`` (a customer chasing an absent answer is one fact, not three).
UNANSWERED = frozenset({"chasing", "waiting", "faster"})


def combined_score(signals: Sequence[Signal], s: TriageSettings, *, more: float = 0.0) -> float:
    """Sum of the signals' contributions, the unanswered family capped, at most 1; ``more`` is
    added to the uncapped part (signals not computed, at their largest)."""
    unanswered = sum(sig.contribution for sig in signals if sig.name in UNANSWERED)
    others = sum(sig.contribution for sig in signals if sig.name not in UNANSWERED) + more
    return round(clamp(others + min(unanswered, s.unanswered_cap)), 3)


# -- duplicates, reach, breach -----------------------------------------------------------------


def duplicates_flag(groups: Sequence[GroupInfo], s: TriageSettings) -> Flag | None:
    """Flag the groups whose posts repeat within ``duplicates_flag_window_s``: long enough texts
    that are not plainly positive (a "thanks!" said in several conversations is no complaint)."""
    qualifying: list[tuple[GroupInfo, tuple[tuple[int, int], ...]]] = []
    for group in groups:
        if group.norm_chars < s.duplicates_flag_min_chars:
            continue
        if group.sentiment is not None and group.sentiment >= s.duplicates_positive_above:
            continue
        lo, hi = densest([t for t, _ in group.posts], s.duplicates_flag_window_s)
        if hi - lo + 1 >= s.duplicates_min_posts:
            qualifying.append((group, group.posts[lo : hi + 1]))
    if not qualifying:
        return None
    qualifying.sort(key=lambda q: (len(q[1]), q[1][-1][0]), reverse=True)
    reasons = tuple(
        f"{len(run)} near-identical posts in {duration(run[-1][0] - run[0][0])}:"
        f" {quote(group.sample)}"
        for group, run in qualifying[:3]
    )
    if len(qualifying) > 3:
        reasons += (f"and {plural(len(qualifying) - 3, 'more group')}",)
    ids = sorted({i for _, run in qualifying for _, i in run})
    score = clamp(0.4 + 0.2 * (len(qualifying[0][1]) - 2))
    return Flag(FlagKind.DUPLICATES, score, reasons, tuple(ids))


def high_reach_flag(
    reach: int, identities: Sequence[tuple[str, str, int | None]], s: TriageSettings
) -> Flag | None:
    """``identities``: (channel, handle, followers) of the customer."""
    if reach < s.high_reach_followers or reach <= 0:
        return None
    biggest = max(identities, key=lambda i: i[2] or 0, default=None)
    if biggest is not None and (biggest[2] or 0) == reach:
        reason = f"{reach:,} followers on {channel_word(biggest[0])} ({biggest[1]})"
    else:
        reason = f"{reach:,} followers"
    score = clamp(0.5 + math.log10(reach / max(s.high_reach_followers, 1)) / 2, 0.5, 1.0)
    return Flag(FlagKind.HIGH_REACH, score, (reason,))


def breached(conv: Clocked, now: int) -> bool:
    return (
        conv.status == Status.OPEN
        and conv.waiting_since is not None
        and conv.deadline_at is not None
        and conv.deadline_at <= now
    )


def breach_flag(
    convs: Sequence[Clocked], now: int, waiting_message: Mapping[int, int] | None = None
) -> Flag | None:
    """``waiting_message``: conversation id -> id of the message that waits for an answer."""
    late = sorted((c for c in convs if breached(c, now)), key=lambda c: c.deadline_at or 0)
    if not late:
        return None
    reasons = []
    for conv in late[:3]:
        waited = now - (conv.waiting_since or now)
        hours = " in business hours" if conv.business_hours else ""
        reasons.append(
            f"no answer on {channel_word(conv.channel)} for {duration(waited)}"
            f" (target {duration(conv.target_s)}{hours})"
        )
    if len(late) > 3:
        reasons.append(f"and {plural(len(late) - 3, 'more conversation')}")
    worst = late[0]
    overdue = now - (worst.deadline_at or now)
    score = clamp(0.5 + 0.5 * overdue / max(worst.target_s, 1))
    ids = tuple(waiting_message[c.id] for c in late if waiting_message and c.id in waiting_message)
    return Flag(FlagKind.BREACH, score, tuple(reasons), ids)


# -- priority ----------------------------------------------------------------------------------


def reach_points(reach: int) -> float:
    """0 up to 100 followers, 1 from a million, logarithmic in between."""
    if reach <= 100:
        return 0.0
    return clamp((math.log10(reach) - 2) / 4)


def customer_priority_part(
    scores: Mapping[str, float], reach: int, tier: int, s: TriageSettings
) -> float:
    """The customer's share of every conversation's priority: flags, reach, value tier."""
    part = (
        s.priority_escalating * scores.get(FlagKind.ESCALATING, 0.0)
        + s.priority_repeat * scores.get(FlagKind.REPEAT, 0.0)
        + s.priority_duplicates * scores.get(FlagKind.DUPLICATES, 0.0)
        + s.priority_reach * reach_points(reach)
        + s.priority_tier * clamp(float(tier), 0.0, 4.0)
    )
    return part


def urgency(conv: Clocked, now: int, s: TriageSettings) -> float:
    """How pressing a conversation's deadline is: up to ``priority_deadline`` as it nears, plus up
    to ``priority_overdue`` once past it (full at twice the target)."""
    if conv.status != Status.OPEN or conv.waiting_since is None or conv.deadline_at is None:
        return 0.0
    span = max(conv.deadline_at - conv.waiting_since, 1)
    used = (now - conv.waiting_since) / span
    return s.priority_deadline * clamp(used) + s.priority_overdue * clamp(used - 1)
