"""The pure triage rules: each signal, its reason and its limits."""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
import string

import pytest

from console.domain import Direction, FlagKind
from console.textutil import fingerprint, normalize_for_duplicates
from console.triage.duplicates import DupPost, components, loose_signature
from console.triage.flagbits import FLAG_BITS, kinds_of, mask_of
from console.triage.language import prepare
from console.triage.rules import (
    UNANSWERED,
    Clocked,
    GroupInfo,
    Post,
    Start,
    breach_flag,
    customer_priority_part,
    duplicates_flag,
    escalation,
    escalation_flag,
    escalation_terms,
    high_reach_flag,
    repeat_flag,
    repeat_window,
    shouting,
    urgency,
)
from console.triage.settings import TriageSettings
from tests.helpers.texts import mixed_texts

S = TriageSettings()
T0 = 1_700_000_000
H = 3600
D = 86400


def post(
    n: int,
    at: int,
    text: str = "hello there, a question about my order",
    *,
    direction: str = Direction.IN,
    channel: str = "x",
    public: bool = True,
    sentiment: float | None = 0.0,
    language: str | None = "en",
    target: int = H,
) -> Post:
    return Post(n, n, channel, direction, at, text, sentiment, language, public, target)


def signals(posts: list[Post], s: TriageSettings = S) -> dict[str, str]:
    found = escalation(posts, s)
    assert found is not None
    return {sig.name: sig.reason for sig in found.signals}


# -- repeat ------------------------------------------------------------------------------------


def test_two_starts_within_seven_days_repeat_and_one_second_more_does_not() -> None:
    inside = [Start(1, "x", T0), Start(2, "email", T0 + 7 * D)]
    outside = [Start(1, "x", T0), Start(2, "email", T0 + 7 * D + 1)]
    assert repeat_window(inside, S) is not None
    assert repeat_window(outside, S) is None


def test_repeat_reason_names_count_span_and_channels() -> None:
    starts = [Start(1, "x", T0), Start(2, "email", T0 + 2 * D), Start(3, "x", T0 + 5 * D)]
    window = repeat_window([*starts, Start(9, "sms", T0 + 40 * D)], S)
    assert window == starts
    flag = repeat_flag(window, [11, 12, 13])
    assert flag.reasons == ("3 conversations in 5 days on X and email",)
    assert flag.message_ids == (11, 12, 13) and flag.score == 1.0


def test_repeat_lookback_ignores_old_history() -> None:
    starts = [Start(1, "x", T0), Start(2, "x", T0 + D)]
    recent = dataclasses.replace(S, repeat_lookback_s=30 * D)
    assert repeat_window(starts, recent, now=T0 + 2 * D) is not None
    assert repeat_window(starts, recent, now=T0 + 90 * D) is None


# -- escalation --------------------------------------------------------------------------------


def test_falling_sentiment_is_reported_with_its_values() -> None:
    posts = [
        post(1, T0, sentiment=0.4),
        post(2, T0 + D, sentiment=0.0),
        post(3, T0 + 2 * D, sentiment=-0.8),
    ]
    assert signals(posts)["sentiment"] == "sentiment fell from +0.4 to -0.8 over 3 messages"


def test_a_small_dip_or_a_positive_end_is_not_falling() -> None:
    small = [post(1, T0, sentiment=0.1), post(2, T0 + D, sentiment=-0.2)]
    happy = [post(1, T0, sentiment=0.9), post(2, T0 + D, sentiment=0.2)]
    assert "sentiment" not in signals(small)
    assert "sentiment" not in signals(happy)


def test_chasing_counts_writes_without_an_answer() -> None:
    posts = [post(1, T0), post(2, T0 + 2 * H), post(3, T0 + 5 * H)]
    assert signals(posts)["chasing"] == "wrote 3 times without an answer"
    answered = [post(1, T0), post(2, T0 + H, direction=Direction.OUT), post(3, T0 + 5 * H)]
    assert "chasing" not in signals(answered)


def test_a_thought_split_over_quick_posts_is_one_write() -> None:
    posts = [post(1, T0), post(2, T0 + 40), post(3, T0 + 100)]
    assert "chasing" not in signals(posts)


def test_messages_coming_faster() -> None:
    posts = [post(1, T0), post(2, T0 + 16 * H), post(3, T0 + 20 * H), post(4, T0 + 20 * H + 1200)]
    reason = signals(posts)["faster"]
    assert reason.startswith("wrote faster and faster: 4 messages, the gaps shrank from")


def test_moving_from_a_private_channel_to_a_public_one() -> None:
    posts = [
        post(1, T0, channel="email", public=False),
        post(2, T0 + H, channel="whatsapp", public=False),
        post(3, T0 + 3 * H, channel="x"),
    ]
    found = escalation(posts, S)
    assert found is not None
    move = next(s for s in found.signals if s.name == "public_move")
    assert move.reason == "moved from WhatsApp to a public tweet"
    assert move.message_ids == (2, 3)


def test_waiting_past_the_target_before_writing_again() -> None:
    posts = [post(1, T0, target=H), post(2, T0 + 3 * H, target=H)]
    assert signals(posts)["waiting"] == (
        "wrote again after waiting 3 hours without an answer (target 1 hour)"
    )
    fast = [post(1, T0, target=24 * H), post(2, T0 + 3 * H, target=24 * H)]
    assert "waiting" not in signals(fast)


@pytest.mark.parametrize(
    ("language", "text", "strong"),
    [
        ("en", "I want a refund or I cancel", "refund"),
        ("it", "voglio il rimborso subito", "rimborso"),
        ("fi", "haluan rahat takaisin", "rahat takaisin"),
        ("es", "pongo una queja formal", "queja"),
        ("de", "ich werde kündigen", "kündigen"),
        ("fr", "je vais porter plainte", "porter plainte"),
        ("pt", "vou reclamar no procon", "procon"),
        ("sv", "jag säger upp avtalet", "säger upp"),
    ],
)
def test_escalation_words_in_every_supported_language(
    language: str, text: str, strong: str
) -> None:
    found, _ = escalation_terms(text, language)
    assert strong in found


def test_weak_words_and_english_words_in_another_language() -> None:
    strong, weak = escalation_terms("Ancora nessuna risposta, voglio un refund", "it")
    assert "refund" in strong and "ancora" in weak
    assert escalation_terms("Thanks, all good now", "en") == ((), ())


def test_shouting_needs_capitals_or_three_exclamation_marks() -> None:
    assert shouting("@Brand WHERE IS MY PARCEL YOU PROMISED") == (True, False)
    assert shouting("where is it!!!") == (False, True)
    assert shouting("My UPS parcel and DM me, thanks") == (False, False)


def _shouting_by_the_rule(text: str) -> tuple[bool, bool]:
    """shouting() written plainly, counting with str.isupper/islower (the reference)."""
    cleaned = prepare(text)
    upper = sum(map(str.isupper, cleaned))
    cased = upper + sum(map(str.islower, cleaned))
    words = re.findall(r"\b[^\W\d_a-z]{4,}\b", cleaned)
    caps = upper >= 4 and (
        (cased >= 12 and upper >= 0.7 * cased) or (len(words) >= 3 and upper >= 0.3 * cased)
    )
    return caps, re.search(r"!\s*!\s*!", text) is not None


def test_shouting_counts_capitals_as_the_plain_rule_does() -> None:
    rng = random.Random(6)
    letters = string.ascii_uppercase * 3 + string.ascii_lowercase + "  !1"
    texts = [
        *mixed_texts(20000, seed=6, longest=30),
        *("".join(rng.choice(letters) for _ in range(rng.randint(4, 24))) for _ in range(5000)),
        "WHERE IS MY PARCEL!!!",
        "ÇA NE MARCHE PAS",
        "ok ok ok ! ! !",
        "MY ORDER, MY MONEY, MY TIME",
    ]
    for text in texts:
        assert shouting.__wrapped__(text) == _shouting_by_the_rule(text), text


def test_one_weak_signal_does_not_flag() -> None:
    found = escalation([post(1, T0, "still waiting", sentiment=-0.3)], S)
    assert found is not None and not found.flagged and found.to_flag() is None


def test_the_score_is_the_weighted_sum_and_the_flag_lists_every_reason() -> None:
    posts = [
        post(
            1, T0, "Hello, my order has not arrived", channel="email", public=False, sentiment=0.2
        ),
        post(2, T0 + 26 * H, "Still no answer", channel="email", public=False, sentiment=-0.3),
        post(3, T0 + 30 * H, "THIRD TIME!!! I want a refund", sentiment=-0.8),
    ]
    found = escalation(posts, S)
    assert found is not None and found.flagged
    unanswered = sum(s.contribution for s in found.signals if s.name in UNANSWERED)
    others = sum(s.contribution for s in found.signals if s.name not in UNANSWERED)
    expected = min(1.0, others + min(unanswered, S.unanswered_cap))
    assert found.score == pytest.approx(expected, abs=1e-3)
    flag = found.to_flag()
    assert flag is not None and flag.kind == FlagKind.ESCALATING
    assert len(flag.reasons) == len(found.signals) >= 4
    assert set(flag.message_ids) == {1, 2, 3}


def test_chasing_waiting_and_faster_count_as_one_fact() -> None:
    posts = [post(1, T0), post(2, T0 + 16 * H), post(3, T0 + 20 * H), post(4, T0 + 20 * H + 1200)]
    found = escalation(posts, S)
    assert found is not None and {s.name for s in found.signals} == {"chasing", "waiting", "faster"}
    assert sum(s.contribution for s in found.signals) > S.unanswered_cap
    assert found.score == S.unanswered_cap and not found.flagged


def test_a_customer_who_ends_happy_is_not_escalating() -> None:
    angry = [
        post(
            1, T0, "Hello, my order has not arrived", channel="email", public=False, sentiment=0.2
        ),
        post(2, T0 + 26 * H, "Still no answer", channel="email", public=False, sentiment=-0.3),
        post(3, T0 + 30 * H, "THIRD TIME!!! I want a refund", sentiment=-0.8),
    ]
    happy = [*angry, post(4, T0 + 31 * H, "Sorted now, thank you so much!", sentiment=0.8)]
    still = escalation(angry, S)
    calmed = escalation(happy, S)
    assert still is not None and still.flagged
    assert calmed is not None and calmed.calm and not calmed.flagged and calmed.signals


def test_the_window_ends_at_the_latest_inbound_message() -> None:
    old = [post(1, T0, "REFUND NOW!!!", sentiment=-0.9)]
    later = [*old, post(2, T0 + 30 * D, "thanks", sentiment=0.6)]
    found = escalation(later, S)
    assert found is not None and found.messages == 1 and not found.signals


_TEXTS = (
    "hello, a question about my order",
    "Still no answer",
    "THIRD TIME!!! I want a refund",
    "I will cancel and call my lawyer",
    "WHERE IS MY PARCEL",
    "thanks, sorted",
    "again nobody answers",
    "ok",
)


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.05])
def test_the_rebuild_flag_equals_the_full_escalation(threshold: float) -> None:
    """escalation_flag skips the text signals only where no flag is possible: on 3,000 random
    histories (calm endings, bursts, channel moves, angry words, capitals) it flags exactly
    what escalation().to_flag() flags, with the same score, reasons and messages."""
    s = dataclasses.replace(S, escalation_threshold=threshold)
    rng = random.Random(threshold)
    skipped_texts = flagged = 0
    for _ in range(3000):
        at = T0
        posts = []
        for n in range(1, rng.randint(1, 7)):
            at += rng.choice((60, 600, 3 * H, 20 * H, 3 * D))
            posts.append(
                post(
                    n,
                    at,
                    rng.choice(_TEXTS),
                    direction=rng.choice((Direction.IN, Direction.IN, Direction.OUT)),
                    channel=rng.choice(("x", "email", "whatsapp")),
                    public=rng.random() < 0.5,
                    sentiment=rng.choice((None, -0.9, -0.4, 0.0, 0.3, 0.8)),
                )
            )
        full = escalation(posts, s)
        expected = full.to_flag() if full is not None else None
        assert escalation_flag(posts, s) == expected
        flagged += expected is not None
        text_signals = {"words", "shouting"} & {g.name for g in (full.signals if full else ())}
        skipped_texts += bool(text_signals) and expected is None
    assert flagged > 100 and skipped_texts > 100  # both paths were taken


# -- duplicates --------------------------------------------------------------------------------


def dup(n: int, at: int, text: str) -> DupPost:
    norm = fingerprint(normalize_for_duplicates(text))
    assert norm is not None
    return DupPost(n, 1, norm, at, text, None, -0.4)


def test_exact_duplicates_group_at_any_distance_and_near_ones_within_the_window() -> None:
    posts = [
        dup(1, T0, "@brand My order 123 is late and nobody answers"),
        dup(2, T0 + 90 * D, "my order 123 is LATE and nobody answers!!! http://t.co/x"),
        dup(3, T0 + H, "my order 456 is late and nobody answers #fail"),
        dup(4, T0 + 40 * D, "my order 789 is late and nobody answers"),
        dup(5, T0 + 2 * H, "completely different text about a broken router"),
    ]
    groups = components(posts, S)
    assert [[p.id for p in g] for g in groups] == [[1, 3, 2]]


def test_short_texts_are_only_grouped_when_identical() -> None:
    assert loose_signature("ok thanks", S) is None
    posts = [dup(1, T0, "ok thanks"), dup(2, T0 + 60, "thanks ok"), dup(3, T0 + 90, "OK, thanks!")]
    assert [[p.id for p in g] for g in components(posts, S)] == [[1, 3]]


def _components_signing_every_neighbour(posts: list[DupPost]) -> list[list[int]]:
    """The reference: every post with any post within the window is signed (exact links by
    text, near links by signature between posts of one signature consecutive in time)."""
    parent = {p.id: p.id for p in posts}

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    def join(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)

    for a in posts:
        for b in posts:
            if a.norm_hash == b.norm_hash:
                join(a.id, b.id)
    ordered = sorted(posts, key=lambda p: (p.created_at, p.id))
    window = S.near_window_s
    neighboured = [
        p
        for i, p in enumerate(ordered)
        if (i > 0 and p.created_at - ordered[i - 1].created_at <= window)
        or (i + 1 < len(ordered) and ordered[i + 1].created_at - p.created_at <= window)
    ]
    by_sig: dict[int, list[DupPost]] = {}
    for p in neighboured:
        sig = loose_signature(p.text, S)
        if sig is not None:
            by_sig.setdefault(sig, []).append(p)
    for similar in by_sig.values():
        for a, b in itertools.pairwise(similar):
            if b.created_at - a.created_at <= window:
                join(a.id, b.id)
    groups: dict[int, list[DupPost]] = {}
    for p in posts:
        groups.setdefault(find(p.id), []).append(p)
    found = [sorted(g, key=lambda p: (p.created_at, p.id)) for g in groups.values() if len(g) > 1]
    return [[p.id for p in g] for g in sorted(found, key=lambda g: min(p.id for p in g))]


def test_groups_are_those_of_signing_every_post_with_a_neighbour() -> None:
    # Texts that are exact and near duplicates of one another, posted at random times (some at
    # the same second), by 400 customers: the posts that components() leaves unsigned (no post of
    # another text within the window) never change a group.
    variants = [
        "my order 123 is late and nobody answers",
        "My order 456 is LATE and nobody answers!!!",
        # one normalised text (the hashtag's word is kept) with two signatures (it is not),
        # and a text of each signature
        "nobody answers, my order is late #fail",
        "nobody answers my order is late fail",
        "fail: late order, nobody answers",
        "late order, nobody answers!",
        "still waiting for my refund please help",
        "please help, still waiting for my refund 42",
        "the router is broken again since monday",
        "thanks",
    ]
    rng = random.Random(8)
    checked = grouped = 0
    for customer in range(400):
        count = rng.randint(2, 12)
        texts = rng.sample(variants, rng.randint(1, 4))
        span = rng.choice([H, D, 5 * D, 20 * D, 60 * D])
        posts = [
            dup(
                customer * 100 + n,
                T0 + rng.randrange(0, span, rng.choice([1, 600])),
                rng.choice(texts),
            )
            for n in range(count)
        ]
        got = [[p.id for p in g] for g in components(posts, S)]
        assert got == _components_signing_every_neighbour(posts), posts
        checked += 1
        grouped += bool(got)
    assert checked == 400 and 50 < grouped < 400


def test_one_text_posted_again_and_again_needs_no_signature(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import console.triage.duplicates as duplicates

    signed: list[str] = []

    def counting(text: str, s: TriageSettings) -> int | None:
        signed.append(text)
        return loose_signature(text, s)

    monkeypatch.setattr(duplicates, "loose_signature", counting)
    same = [dup(n, T0 + n * H, "my order 123 is late and nobody answers") for n in range(1, 6)]
    assert [[p.id for p in g] for g in components(same, S)] == [[1, 2, 3, 4, 5]]
    assert signed == []
    # another text within the window: the posts next to it in time are signed, the rest not
    other = dup(6, T0 + 5 * H + 60, "my order 456 is late and nobody answers")
    groups = components([*same, other], S)
    assert [[p.id for p in g] for g in groups] == [[1, 2, 3, 4, 5, 6]]
    assert len(signed) == 6  # all within a week of the other text
    signed.clear()
    far = [dup(n, T0 + n * 30 * D, "my order 123 is late and nobody answers") for n in range(1, 4)]
    late = dup(9, T0 + 3 * 30 * D + H, "my order 456 is late and nobody answers")
    groups = components([*far, late], S)
    assert [[p.id for p in g] for g in groups] == [[1, 2, 3, 9]]
    assert sorted(signed) == sorted([far[2].text, late.text])
    # A post inside its text's run, with the other text within the window only on one side of
    # the run: its own signature links it (the run's posts next to the other text have another
    # one: a hashtag's word is in the normalised text, not in the signature).
    y = dup(11, T0, "late order, nobody answers!")
    r = dup(12, T0 + H, "nobody answers my order is late fail")
    x = dup(13, T0 + 2 * H, "nobody answers, my order is late #fail")
    assert [[p.id for p in g] for g in components([y, r, x], S)] == [[11, 12, 13]]
    x, r, y = dup(11, T0, x.text), dup(12, T0 + H, r.text), dup(13, T0 + 2 * H, y.text)
    assert [[p.id for p in g] for g in components([x, r, y], S)] == [[11, 12, 13]]


def group(size: int, text: str, *, sentiment: float | None = -0.5, spread: int = H) -> GroupInfo:
    return GroupInfo(
        key="d:1:1",
        size=size,
        sample=text,
        norm_chars=len(normalize_for_duplicates(text)),
        sentiment=sentiment,
        posts=tuple((T0 + i * spread, i + 1) for i in range(size)),
    )


def test_the_duplicates_flag_names_count_span_and_text() -> None:
    flag = duplicates_flag([group(3, "my internet is down again")], S)
    assert flag is not None
    assert flag.reasons == (
        "3 near-identical posts in 2 hours: \u201cmy internet is down again\u201d",
    )
    assert flag.message_ids == (1, 2, 3)


def test_repeated_thanks_and_old_repeats_are_no_duplicates_flag() -> None:
    assert duplicates_flag([group(2, "thanks a lot for the help", sentiment=0.8)], S) is None
    assert duplicates_flag([group(2, "my internet is down again", spread=30 * D)], S) is None
    assert duplicates_flag([group(2, "hi")], S) is None


# -- reach, breach, priority -------------------------------------------------------------------


def test_high_reach() -> None:
    flag = high_reach_flag(250_000, [("x", "@big", 250_000), ("email", "b@x.org", None)], S)
    assert flag is not None and flag.reasons == ("250,000 followers on X (@big)",)
    assert flag.score == 1.0
    assert high_reach_flag(9_999, [], S) is None


def clocked(n: int, since: int | None, due: int | None, status: str = "open") -> Clocked:
    return Clocked(n, "x", status, since, due, H, False)


def test_breach_only_for_open_conversations_past_the_deadline() -> None:
    now = T0 + 3 * H
    late = clocked(1, T0, T0 + H)
    assert breach_flag([late], now, {1: 77}) is not None
    assert breach_flag([clocked(2, T0, T0 + H, "pending")], now) is None
    assert breach_flag([clocked(3, T0, T0 + 4 * H)], now) is None
    flag = breach_flag([late], now, {1: 77})
    assert flag is not None and flag.reasons == ("no answer on X for 3 hours (target 1 hour)",)
    assert flag.message_ids == (77,)


def test_urgency_grows_to_the_deadline_and_past_it() -> None:
    conv = clocked(1, T0, T0 + H)
    values = [urgency(conv, T0 + t, S) for t in (0, H // 2, H, 2 * H, 5 * H)]
    assert values == sorted(values) and values[0] == 0
    assert (
        values[2] == S.priority_deadline and values[-1] == S.priority_deadline + S.priority_overdue
    )
    assert urgency(clocked(2, None, None), T0, S) == 0


def test_priority_part_rises_with_flags_reach_and_tier() -> None:
    base = customer_priority_part({}, 0, 0, S)
    assert customer_priority_part({"escalating": 1.0}, 0, 0, S) > base
    assert (
        customer_priority_part({}, 1_000_000, 0, S) > customer_priority_part({}, 1_000, 0, S) > base
    )
    assert customer_priority_part({}, 0, 3, S) > customer_priority_part({}, 0, 1, S)


def test_flag_bits_are_distinct_and_round_trip() -> None:
    bits = list(FLAG_BITS.values())
    assert len(set(bits)) == len(FlagKind) and all(b & (b - 1) == 0 for b in bits)
    for kind in FlagKind:
        assert kinds_of(mask_of([kind])) == [kind]
    assert kinds_of(mask_of(list(FlagKind))) == list(FlagKind)
