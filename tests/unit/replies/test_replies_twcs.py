"""On the real TWCS tweets: a template reply to a customer's duplicate group gives one reply per
post, each threaded to that post, in its own conversation, within X's limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.cli import main
from console.storage.agents import Agent
from console.storage.db import Workspace
from console.storage.outbox_repo import list_outbox
from console.triage.engine import after_import
from services.importers import run_import
from services.replies import ReplyPlanner
from tests.unit.replies.builders import NoDetector

pytestmark = pytest.mark.realdata
CLOCK = 1_513_000_000


@pytest.fixture(scope="module")
def twcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from tests.conftest import SHARED_DATA

    source = SHARED_DATA / "twcs" / "twcs_head_5000.csv"
    if not source.exists():
        pytest.skip(f"{source} is absent")
    path = tmp_path_factory.mktemp("twcs") / "ws.sqlite"
    with Workspace(path) as ws:
        summary = run_import(ws, source)
        assert summary.report is not None
        after_import(
            ws, summary.report, clock=lambda: CLOCK, detector=NoDetector(), scorer=NoDetector()
        )
    return path


def _groups(ws: Workspace) -> list[dict[str, object]]:
    return ws.query(
        "SELECT id, customer_id, size FROM dup_groups WHERE kind = 'duplicates' ORDER BY size DESC"
    )


def test_one_reply_per_post_of_a_customer_group(twcs: Path, shared_data: Path) -> None:
    with Workspace(twcs) as ws:
        groups = _groups(ws)
        assert groups, "the TWCS head has customer duplicate groups"
        planner = ReplyPlanner(ws, lambda: CLOCK)
        agent = Agent("Chris Parker", "^CP")
        for group in groups[:10]:
            posts = ws.query(
                "SELECT id, channel || ':' || external_id AS ref, conversation_id FROM messages"
                " WHERE dup_group = ? ORDER BY created_at, id",
                (group["id"],),
            )
            plan = planner.plan(
                int(posts[-1]["id"]), agent=agent, template="/looking", to_duplicates=True
            )
            assert [t.ref for t in plan.targets] == [p["ref"] for p in posts]
            assert [t.conversation_id for t in plan.targets] == [
                p["conversation_id"] for p in posts
            ]
            assert {t.customer_id for t in plan.targets} == {group["customer_id"]}
            for target in plan.targets:
                assert target.text.endswith("^CP") and target.length.limit == 280
                assert not target.length.is_over and target.error is None
            every = list(range(len(plan.targets)))
            queued = planner.queue(plan, agent, only=every)
            assert len(queued) == len(posts)
        rows = list_outbox(ws)
        replied = ws.query(
            "SELECT o.reply_to_message_id AS post, m.parent_external_id AS parent,"
            " p.external_id AS post_ext, m.conversation_id AS conv, p.conversation_id AS post_conv"
            " FROM outbox o JOIN messages m ON m.id = o.message_id"
            " JOIN messages p ON p.id = o.reply_to_message_id"
        )
        assert len(rows) == len(replied) == len({r["post"] for r in replied})
        for r in replied:
            assert r["parent"] == r["post_ext"] and r["conv"] == r["post_conv"]


def test_cli_reply_on_twcs(twcs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Workspace(twcs) as ws:
        group = _groups(ws)[-1]
        ref = ws.scalar(
            "SELECT channel || ':' || external_id FROM messages WHERE dup_group = ? LIMIT 1",
            (group["id"],),
        )
    code = main(
        ["--db", str(twcs), "reply", ref, "--template", "/thanks", "--to-duplicates", "--dry-run"]
    )
    assert code == 0
    targets = json.loads(capsys.readouterr().out)
    assert len(targets) == group["size"]
    assert all(t["channel"] == "x" and t["length"] <= t["limit"] for t in targets)
