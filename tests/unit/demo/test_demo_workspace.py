"""A small demo built into a real workspace: channels, linked customers, flags, languages,
statuses, agents; ``ensure_demo`` atomic and reused; ``--demo`` on the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from console import demo
from console.cli import main
from console.demo import DemoCancelledError, ensure_demo, load_recipe
from console.domain import Channel
from console.textutil import normalize_for_duplicates
from console.triage.views import list_customers
from tests.unit.demo.conftest import NOW


def test_every_channel_kind_and_account_is_there(small_demo: tuple[Any, dict[str, Any]]) -> None:
    ws, summary = small_demo
    assert summary["cancelled"] is False
    assert set(summary["messages_by_channel"]) == {str(c) for c in Channel}
    assert summary["accounts"] == len(load_recipe().accounts)
    assert summary["customers"] == 300
    hours = ws.scalar("SELECT count(*) FROM accounts WHERE business_hours IS NOT NULL")
    targets = ws.scalar("SELECT count(DISTINCT response_target_s) FROM accounts")
    assert hours > 0 and targets > 2


def test_cross_channel_customers_are_one_customer(small_demo: tuple[Any, dict[str, Any]]) -> None:
    ws, _ = small_demo
    rows = ws.query(
        "SELECT c.id, c.key, count(DISTINCT i.channel) AS channels FROM customers c"
        " JOIN identities i ON i.customer_id = c.id GROUP BY c.id HAVING channels >= 2"
    )
    assert len(rows) >= 10
    assert all(r["key"] for r in rows)
    three = [r for r in rows if r["channels"] >= 3]
    assert three, "someone phoned, then emailed, then posted in public"


def _flagged(ws: Any, kind: str) -> list[dict[str, Any]]:
    return list_customers(ws, kind)


def test_flags_with_true_reasons(small_demo: tuple[Any, dict[str, Any]]) -> None:
    ws, _ = small_demo
    for kind in ("escalating", "repeat", "duplicates", "high_reach", "breach"):
        assert _flagged(ws, kind), f"nobody flagged {kind}"
    escalating = _flagged(ws, "escalating")
    reasons = [
        r for c in escalating for f in c["flags"] if f["kind"] == "escalating" for r in f["reasons"]
    ]
    assert any(r.startswith("moved from") for r in reasons)
    assert any(r.startswith("sentiment fell") for r in reasons)
    assert any("escalation words" in r for r in reasons)
    # "moved from X to a public post" is true: the customer has a private and a public identity
    for customer in escalating:
        flag = next(f for f in customer["flags"] if f["kind"] == "escalating")
        if any(r.startswith("moved from") for r in flag["reasons"]):
            channels = {i["channel"] for i in customer["identities"]}
            assert channels & {"x", "facebook", "instagram"}, customer
    reach = ws.scalar(
        "SELECT min(c.reach) FROM flags f JOIN customers c ON c.id = f.customer_id"
        " WHERE f.kind = 'high_reach'"
    )
    assert reach >= 10_000
    breached = ws.scalar(
        "SELECT count(*) FROM conversations WHERE status = 'open' AND deadline_at < ?", (NOW,)
    )
    assert breached > 0


def _outage_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for brand in load_recipe().brands:
        for texts in brand.texts.values():
            for template in texts["outage"]:
                pieces = re.split(r"\{\w+\}", template)
                body = ".+".join(re.escape(normalize_for_duplicates(p)) for p in pieces)
                patterns.append(re.compile(body.replace(r"\ ", r"\s?")))
    return patterns


def test_an_outage_is_the_biggest_same_issue_group(small_demo: tuple[Any, dict[str, Any]]) -> None:
    ws, _ = small_demo
    top = ws.query_one(
        "SELECT sample, customers FROM dup_groups WHERE kind = 'same_issue'"
        " ORDER BY customers DESC, id LIMIT 1"
    )
    assert top is not None and top["customers"] >= 3
    sample = normalize_for_duplicates(top["sample"])
    assert any(p.search(sample) for p in _outage_patterns()), top


def test_languages_are_detected(small_demo: tuple[Any, dict[str, Any]]) -> None:
    ws, _ = small_demo
    found = {
        r["language"]: r["n"]
        for r in ws.query(
            "SELECT language, count(*) AS n FROM messages WHERE direction = 'in'"
            " AND language IS NOT NULL GROUP BY language"
        )
    }
    assert len(found) >= 6, found
    # the Finnish telecom's Finnish customers are detected as Finnish
    finnish = ws.query(
        "SELECT m.language FROM messages m JOIN customers c ON c.id = m.customer_id"
        " WHERE m.direction = 'in' AND m.text LIKE '%kiitos%' AND length(m.text) > 30"
    )
    assert finnish and sum(r["language"] == "fi" for r in finnish) / len(finnish) > 0.8


def test_queue_statuses_assignees_and_agents(small_demo: tuple[Any, dict[str, Any]]) -> None:
    ws, _ = small_demo
    statuses = {r["status"] for r in ws.query("SELECT DISTINCT status FROM conversations")}
    assert statuses == {"open", "pending", "snoozed", "resolved"}
    me = ws.get_setting("agent.me")
    agents = {r["name"]: r for r in ws.query("SELECT * FROM agents")}
    assert me in agents and len(agents) == len(load_recipe().agents)
    assert json.loads(agents[me]["languages"])
    assigned = ws.scalar("SELECT count(*) FROM conversations WHERE assignee = ?", (me,))
    assert assigned > 0
    unknown = ws.scalar(
        "SELECT count(*) FROM conversations WHERE assignee IS NOT NULL"
        " AND assignee NOT IN (SELECT name FROM agents)"
    )
    assert unknown == 0
    snoozed = ws.scalar("SELECT min(snoozed_until) FROM conversations WHERE status = 'snoozed'")
    assert snoozed > NOW
    tiers = ws.scalar("SELECT count(*) FROM customers WHERE tier > 0")
    assert tiers > 0


# -- ensure_demo ----------------------------------------------------------------------------------


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_crash_mid_build_leaves_nothing(tmp_path: Path) -> None:
    calls: list[int] = []

    def crash(done: int, total: int) -> None:
        calls.append(done)
        if done > total // 3:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        ensure_demo(tmp_path / "demo.sqlite", now=NOW, scale=0.02, progress=crash)
    assert calls and _files(tmp_path) == []


def test_a_cancelled_build_leaves_nothing(tmp_path: Path) -> None:
    seen: list[int] = []

    def cancelled() -> bool:
        return bool(seen)

    def progress(done: int, total: int) -> None:
        seen.append(done)

    with pytest.raises(DemoCancelledError):
        ensure_demo(
            tmp_path / "demo.sqlite", now=NOW, scale=0.02, progress=progress, cancelled=cancelled
        )
    assert _files(tmp_path) == []


def test_ensure_demo_builds_once_then_reuses(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "demo.sqlite"
    progress: list[tuple[int, int]] = []
    assert ensure_demo(path, now=NOW, scale=0.02, progress=lambda d, t: progress.append((d, t)))
    assert path.exists() and progress[-1] == (1000, 1000)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)  # never goes back
    stamp = path.stat().st_mtime_ns
    again: list[int] = []
    assert ensure_demo(path, now=NOW + 3600, progress=lambda d, t: again.append(d)) == path
    assert again == [] and path.stat().st_mtime_ns == stamp
    assert [n for n in _files(path.parent) if ".building" in n] == []


def test_demo_flag_builds_the_demo_for_headless_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "DEMO_SCALE", 0.03)
    path = tmp_path / "demo.sqlite"
    assert main(["--db", str(path), "--demo", "stats", "--json"]) == 0
    out, err = capsys.readouterr()
    stats = json.loads(out)
    assert {a["channel"] for a in stats["accounts"]} == {str(c) for c in Channel}
    assert stats["customers"] == 90
    assert "building the demo workspace" in err and "100%" in err
    assert main(["--db", str(path), "--demo", "customers", "--json", "--flag", "repeat"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) and "building" not in err


def test_without_demo_flag_no_demo_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plain.sqlite"
    assert main(["--db", str(path), "stats", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["messages"]["inbound"] == 0 and "demo" not in err
