"""Planted scenarios: escalations, duplicates, an outage, repeat contacts and a big account hidden in
ordinary multilingual, cross-channel traffic. Flags must find them, with reasons that are true."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from console.domain import FlagKind
from console.storage import Workspace
from console.storage.ingest import Ingestor
from console.triage.engine import rebuild
from console.triage.flagbits import FLAG_BITS, mask_of
from console.triage.lexicon import fold_words
from console.triage.views import customer_flags, escalation_detail, group_posts, list_groups
from console.triage.wording import channel_word, private_place, public_post
from tests.unit.triage.triage_scenarios import NOW, Truth, build


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Truth]]:
    records, truth = build()
    ws = Workspace(tmp_path_factory.mktemp("planted") / "ws.sqlite")
    Ingestor(ws).ingest(records)
    rebuild(ws, clock=lambda: NOW)
    yield ws, truth
    ws.close()


def _keys_with(ws: Workspace, kind: str) -> set[str]:
    rows = ws.query(
        "SELECT c.key FROM flags f JOIN customers c ON c.id = f.customer_id WHERE f.kind = ?",
        (kind,),
    )
    return {r["key"] for r in rows}


def _customer(ws: Workspace, key: str) -> int:
    return int(ws.scalar("SELECT id FROM customers WHERE key = ?", (key,)))


def test_most_planted_escalations_are_flagged_with_few_false_alarms(
    planted: tuple[Workspace, Truth],
) -> None:
    ws, truth = planted
    flagged = _keys_with(ws, "escalating")
    found = flagged & truth.escalating
    false_alarms = flagged & truth.ordinary
    assert len(found) >= 0.85 * len(truth.escalating), sorted(truth.escalating - flagged)
    assert len(false_alarms) <= 0.05 * len(truth.ordinary), sorted(false_alarms)


def test_escalations_are_found_in_every_language(planted: tuple[Workspace, Truth]) -> None:
    ws, truth = planted
    flagged = _keys_with(ws, "escalating") & truth.escalating
    languages = {truth.languages[k] for k in flagged}
    assert languages == {"en", "fi", "it", "es", "de", "fr", "pt", "sv"}


def _message(ws: Workspace, message_id: int) -> dict[str, Any]:
    row = ws.query_one("SELECT * FROM messages WHERE id = ?", (message_id,))
    assert row is not None
    return row


def _check_signal(
    ws: Workspace, customer_id: int, name: str, reason: str, ids: tuple[int, ...]
) -> None:
    messages = [_message(ws, i) for i in ids]
    assert all(m["customer_id"] == customer_id for m in messages)
    if name == "sentiment":
        high, low = (float(x) for x in re.findall(r"[+-]\d\.\d", reason))
        assert round(messages[0]["sentiment"], 1) == high
        assert round(messages[-1]["sentiment"], 1) == low
        assert messages[0]["created_at"] <= messages[-1]["created_at"]
    elif name == "public_move":
        private, public = messages
        assert private["is_public"] == 0 and public["is_public"] == 1
        assert private["created_at"] <= public["created_at"]
        assert (
            reason
            == f"moved from {private_place(private['channel'])} to {public_post(public['channel'])}"
        )
    elif name == "chasing":
        count = int(re.search(r"wrote (\d+) times", reason).group(1))  # type: ignore[union-attr]
        assert count == len(messages) and all(m["direction"] == "in" for m in messages)
        answers = ws.scalar(
            "SELECT count(*) FROM messages WHERE customer_id = ? AND direction = 'out'"
            " AND created_at BETWEEN ? AND ?",
            (customer_id, messages[0]["created_at"], messages[-1]["created_at"]),
        )
        assert answers == 0
    elif name == "words":
        texts = " ".join(fold_words(m["text"]) for m in messages)
        for term in re.findall(r"\u201c(.+?)\u201d", reason):
            assert fold_words(term) in texts, (term, texts)
            assert any(term in m["text"].casefold() for m in messages)
    elif name == "shouting":
        assert any(
            m["text"].count("!") >= 3 or sum(c.isupper() for c in m["text"]) > 10 for m in messages
        )
    elif name in ("faster", "waiting"):
        assert all(m["direction"] == "in" for m in messages)


def test_escalation_reasons_are_true(planted: tuple[Workspace, Truth]) -> None:
    ws, truth = planted
    checked = 0
    for key in _keys_with(ws, "escalating"):
        cid = _customer(ws, key)
        detail = escalation_detail(ws, cid, clock=lambda: NOW)
        assert detail is not None and detail.flagged
        flag = next(f for f in customer_flags(ws, cid) if f.kind == FlagKind.ESCALATING)
        assert set(flag.reasons) == {s.reason for s in detail.signals}
        assert flag.score == pytest.approx(detail.score, abs=1e-3)
        assert set(flag.message_ids) == {i for s in detail.signals for i in s.message_ids}
        for signal in detail.signals:
            _check_signal(ws, cid, signal.name, signal.reason, signal.message_ids)
            checked += 1
    assert checked >= len(truth.escalating)


def test_planted_public_moves_are_named(planted: tuple[Workspace, Truth]) -> None:
    ws, truth = planted
    movers = {f"esc{n}" for n in range(0, len(truth.escalating), 3)} & _keys_with(ws, "escalating")
    assert len(movers) >= 6
    for key in movers:
        reasons = [r for f in customer_flags(ws, _customer(ws, key)) for r in f.reasons]
        moved = [r for r in reasons if r.startswith("moved from")]
        assert len(moved) == 1
        assert moved[0].endswith(("a public tweet", "a public Facebook post"))


def test_duplicate_posts_are_grouped_and_flagged(planted: tuple[Workspace, Truth]) -> None:
    ws, truth = planted
    groups = list_groups(ws, "duplicates")
    refs = {key: {f"x:{e}" for e in ids} for key, ids in truth.duplicates.items()}
    for key, wanted in refs.items():
        cid = _customer(ws, key)
        mine = [g for g in groups if g["customer"] == cid]
        assert len(mine) == 1 and set(mine[0]["messages"]) == wanted
        assert mine[0]["size"] == len(wanted)
        posts = group_posts(ws, mine[0]["id"])
        assert {f"{p['channel']}:{p['external_id']}" for p in posts} == wanted
        flag = next(f for f in customer_flags(ws, cid) if f.kind == FlagKind.DUPLICATES)
        assert flag.reasons[0].startswith(f"{len(wanted)} near-identical posts")
        assert len(flag.message_ids) == len(wanted)


def test_ordinary_customers_are_rarely_flagged_for_duplicates(
    planted: tuple[Workspace, Truth],
) -> None:
    ws, truth = planted
    assert len(_keys_with(ws, "duplicates") & truth.ordinary) <= 0.05 * len(truth.ordinary)


def test_the_outage_is_one_same_issue_group(planted: tuple[Workspace, Truth]) -> None:
    ws, truth = planted
    issues = list_groups(ws, "same_issue")
    outage = {f"x:{e}" for e in truth.outage}
    match = [g for g in issues if set(g["messages"]) == outage]
    assert len(match) == 1
    assert match[0]["customers"] == len(outage) and match[0]["customer"] is None
    dup_groups = ws.query(
        "SELECT DISTINCT dup_group FROM messages WHERE external_id IN (SELECT value FROM json_each(?))",
        (json.dumps(truth.outage),),
    )
    assert [r["dup_group"] for r in dup_groups] == [match[0]["id"]]


def test_repeat_contacts_are_flagged_with_true_reasons(planted: tuple[Workspace, Truth]) -> None:
    ws, truth = planted
    flagged = _keys_with(ws, "repeat")
    assert truth.repeat <= flagged
    for key in flagged:
        cid = _customer(ws, key)
        flag = next(f for f in customer_flags(ws, cid) if f.kind == FlagKind.REPEAT)
        count = int(flag.reasons[0].split()[0])
        convs = ws.query(
            "SELECT DISTINCT c.id, c.channel, c.started_at, c.started_by_customer FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE m.id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(flag.message_ids)),),
        )
        assert len(convs) == count >= 2
        assert all(c["started_by_customer"] == 1 for c in convs)
        assert (
            max(c["started_at"] for c in convs) - min(c["started_at"] for c in convs) <= 7 * 86400
        )
        for channel in {c["channel"] for c in convs}:
            assert channel_word(channel) in flag.reasons[0]


def test_high_reach_names_the_account(planted: tuple[Workspace, Truth]) -> None:
    ws, truth = planted
    assert _keys_with(ws, "high_reach") == {truth.high_reach}
    flag = customer_flags(ws, _customer(ws, truth.high_reach))[0]
    assert flag.reasons == ("48,000 followers on X (@star_x)",)


def test_breaches_are_the_open_conversations_past_their_deadline(
    planted: tuple[Workspace, Truth],
) -> None:
    ws, _ = planted
    expected = {
        r["key"]
        for r in ws.query(
            "SELECT DISTINCT cu.key FROM conversations c JOIN customers cu ON cu.id = c.customer_id"
            " WHERE c.status = 'open' AND c.waiting_since IS NOT NULL AND c.deadline_at <= ?",
            (NOW,),
        )
    }
    assert expected and _keys_with(ws, "breach") == expected
    late = ws.query(
        "SELECT waiting_since, deadline_at, channel FROM conversations WHERE deadline_at IS NOT NULL"
    )
    targets = {
        "x": 3600,
        "facebook": 4 * 3600,
        "email": 86400,
        "whatsapp": 3600,
        "sms": 3600,
        "messenger": 3600,
    }
    assert all(r["deadline_at"] - r["waiting_since"] == targets[r["channel"]] for r in late)


def test_masks_and_priorities_follow_the_flags(planted: tuple[Workspace, Truth]) -> None:
    ws, truth = planted
    for row in ws.query("SELECT id, flag_mask FROM customers"):
        kinds = [f.kind for f in customer_flags(ws, row["id"])]
        assert row["flag_mask"] == mask_of(kinds)
    breach = FLAG_BITS[FlagKind.BREACH]
    for conv in ws.query(
        "SELECT c.flag_mask, cu.flag_mask AS customer_mask, c.deadline_at FROM conversations c"
        " JOIN customers cu ON cu.id = c.customer_id"
    ):
        assert conv["flag_mask"] & ~breach == conv["customer_mask"] & ~breach
        if conv["flag_mask"] & breach:
            assert conv["deadline_at"] <= NOW
    priority = {
        r["key"]: r["priority"]
        for r in ws.query("SELECT key, priority FROM customers WHERE key IS NOT NULL")
    }
    esc = sorted(priority[k] for k in truth.escalating)
    calm = sorted(priority[k] for k in truth.ordinary)
    assert esc[len(esc) // 2] > calm[len(calm) // 2]


def test_customer_languages_are_detected(planted: tuple[Workspace, Truth]) -> None:
    ws, truth = planted
    rows = {r["key"]: r["language"] for r in ws.query("SELECT key, language FROM customers")}
    right = [k for k, lang in truth.languages.items() if rows.get(k) == lang]
    assert len(right) >= 0.95 * len(truth.languages)
