"""The demo recipe and generator: complete, deterministic, exact counts, streaming."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path

import pytest

from console.demo import Generator, Plan, RecipeError, load_recipe, plan_for_scale, recipe_path
from console.domain import Channel, Direction
from console.storage.db import Workspace
from console.storage.ingest import Ingestor
from console.triage.lexicon import SUPPORTED_LANGUAGES
from tests.unit.demo.conftest import NOW


def test_recipe_covers_every_channel_kind_and_language() -> None:
    recipe = load_recipe()
    assert len(recipe.brands) >= 4
    for brand in recipe.brands:
        assert {a.channel for a in brand.accounts} == set(Channel), brand.key
    assert set(recipe.texts) == set(SUPPORTED_LANGUAGES)
    assert recipe.text_count() >= 500
    signatures = [a.signature for a in recipe.agents]
    assert all(s.startswith("^") for s in signatures) and len(set(signatures)) == len(signatures)
    assert {a.role for a in recipe.agents} == {"agent", "supervisor"}
    # the twelve benchmark accounts cover every channel kind
    first12 = {ref.split(":")[1] for ref in recipe.account_order[:12]}
    assert first12 == {str(c) for c in Channel}


def test_recipe_with_an_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    text = recipe_path().read_text(encoding="utf-8")
    broken = text.replace('"Any update on this?",', '"Any update on {parcel}?",', 1)
    assert broken != text
    path = tmp_path / "recipe.toml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(RecipeError, match=r"\{parcel\}"):
        load_recipe(path)


def _records(seed: int, plan: Plan) -> list[tuple[object, ...]]:
    generator = Generator(load_recipe(), plan, now=NOW, seed=seed)
    return [
        (r.channel, r.external_id, r.direction, r.author, r.text, r.created_at, r.in_reply_to)
        for r in generator.records()
    ]


def test_same_seed_same_records_other_seed_other_records() -> None:
    plan = Plan(customers=150, messages=700)
    first = _records(7, plan)
    assert first == _records(7, plan)
    assert first != _records(8, plan)


def test_exact_counts_on_the_benchmark_accounts(tmp_path: Path) -> None:
    recipe = load_recipe()
    plan = Plan(customers=400, messages=2000, days=30, accounts=recipe.account_order[:12])
    generator = Generator(recipe, plan, now=NOW)
    records = list(generator.records())
    assert len(records) == 2000
    assert max(r.created_at for r in records) <= NOW
    assert {r.channel for r in records} == set(Channel)
    assert len({r.account for r in records}) == 12
    assert len({(r.channel, r.external_id) for r in records}) == 2000
    with Workspace(tmp_path / "ws.sqlite") as ws:
        report = Ingestor(ws).ingest(records)
        assert report.added == 2000
        assert ws.scalar("SELECT count(*) FROM customers") == 400
        # identities of one person on several channels are linked by the customer key
        multi = ws.scalar(
            "SELECT count(*) FROM (SELECT customer_id FROM identities GROUP BY customer_id"
            " HAVING count(DISTINCT channel) > 1)"
        )
        assert multi > 0


def test_records_stream_without_building_the_whole_plan() -> None:
    plan = Plan(customers=2_000_000, messages=10_000_000, days=90)
    started = time.perf_counter()
    generator = Generator(load_recipe(), plan, now=NOW)
    first = list(itertools.islice(generator.records(), 500))
    assert len(first) == 500
    assert time.perf_counter() - started < 5  # ten million would take many minutes


def test_the_demo_reads_like_social_care() -> None:
    recipe = load_recipe()
    records = list(Generator(recipe, plan_for_scale(recipe, 0.1), now=NOW).records())
    inbound = [r for r in records if r.direction == Direction.IN]
    outbound = [r for r in records if r.direction == Direction.OUT]
    notes = [r for r in records if r.direction == Direction.NOTE]
    assert inbound and outbound and notes
    signatures = {a.signature for a in recipe.agents}
    social = [r for r in outbound if r.channel not in (Channel.EMAIL, Channel.PHONE)]
    assert all(r.text.rsplit(" ", 1)[-1] in signatures for r in social)  # signed: "... ^CP"
    assert all(r.extra.get("agent") for r in outbound)
    assert all(r.to for r in outbound)  # addressed to the customer's handle
    # shouting and escalation words are there, and no placeholder is left unrendered
    assert any("!!!" in r.text for r in inbound)
    assert not [r.text for r in records if "{" in r.text or "}" in r.text]
    # email has subjects and threads; streams have no reply links
    mails = [r for r in records if r.channel == Channel.EMAIL and r.direction == Direction.IN]
    assert mails and all(r.subject for r in mails)
    assert any(r.thread for r in mails)
    streams = [r for r in records if not Channel(r.channel).is_threaded]
    assert streams and all(r.in_reply_to is None for r in streams)
    # some customers have a large audience
    assert any((r.followers or 0) >= 50_000 for r in inbound)
    # texts vary: no long inbound text is shared by many customers unless it is an outage post
    by_text = Counter(r.text for r in inbound if len(r.text) > 40)
    assert by_text.most_common(1)[0][1] < 20
