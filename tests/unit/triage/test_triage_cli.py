"""The triage commands: customers, groups, triage rebuild / settings / explain, and the settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from console.storage import Workspace
from console.storage.customers import merge_customers
from console.storage.ingest import Ingestor
from console.triage.settings import InvalidSettingError, load_settings, save_settings
from tests.unit.triage.triage_scenarios import NOW, build


@pytest.fixture
def db(tmp_path: Path) -> str:
    records, _ = build(seed=8, ordinary=30, escalating=6, duplicates=2)
    path = tmp_path / "ws.sqlite"
    ws = Workspace(path)
    Ingestor(ws).ingest(records)
    ws.close()
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_rebuild_reports_progress_on_stderr_and_a_summary_on_stdout(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary, err = run(capsys, "--db", db, "triage", "rebuild")
    assert code == 0
    assert "triage:" in err and "(100%)" in err
    assert summary["customers"] > 0 and summary["flagged"]["escalating"] >= 4
    assert summary["cancelled"] is False


def test_customers_lists_flags_and_filters(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "--db", db, "triage", "rebuild")
    _, everyone, _ = run(capsys, "--db", db, "customers", "--json")
    _, escalating, _ = run(capsys, "--db", db, "customers", "--json", "--flag", "escalating")
    assert 0 < len(escalating) < len(everyone)
    assert all(any(f["kind"] == "escalating" for f in c["flags"]) for c in escalating)
    sample = escalating[0]
    assert set(sample) >= {
        "id", "key", "name", "identities", "inbound", "outbound", "conversations",
        "first_contact", "last_contact", "flags",
    }  # fmt: skip
    assert sample["identities"] and {"channel", "handle"} <= set(sample["identities"][0])
    assert sample["first_contact"].endswith("+00:00")


def test_merged_customers_are_not_listed(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ws = Workspace(db)
    a, b = (
        int(ws.scalar("SELECT id FROM customers WHERE key = ?", (k,))) for k in ("ord1", "ord2")
    )
    merge_customers(ws, a, b, now=NOW)
    ws.close()
    _, everyone, _ = run(capsys, "--db", db, "customers", "--json")
    ids = {c["id"] for c in everyone}
    assert a in ids and b not in ids


def test_groups_list_posts_as_channel_and_external_id(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "--db", db, "triage", "rebuild")
    _, groups, _ = run(capsys, "--db", db, "groups", "--json")
    kinds = {g["kind"] for g in groups}
    assert kinds == {"duplicates", "same_issue"}
    for group in groups:
        assert group["size"] == len(group["messages"]) >= 2
        assert all(
            ref.split(":", 1)[0] in {"x", "email", "facebook", "sms", "whatsapp", "messenger"}
            for ref in group["messages"]
        )
        assert (group["customer"] is None) == (group["kind"] == "same_issue")
    _, only, _ = run(capsys, "--db", db, "groups", "--json", "--kind", "same_issue")
    assert only and all(g["kind"] == "same_issue" for g in only)


def test_settings_can_be_shown_changed_and_refused(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown, _ = run(capsys, "--db", db, "triage", "settings")
    assert code == 0 and shown["repeat_window_s"] == 7 * 86400
    code, changed, err = run(
        capsys, "--db", db, "triage", "settings", "--set", "repeat_window_s=86400",
        "--set", "triage.escalation_threshold=0.7",
    )  # fmt: skip
    assert code == 0 and changed["repeat_window_s"] == 86400
    assert changed["escalation_threshold"] == 0.7 and "rebuild" in err
    code, _, err = run(capsys, "--db", db, "triage", "settings", "--set", "repeat_window_s=soon")
    assert code == 2 and "whole number" in err
    code, _, err = run(capsys, "--db", db, "triage", "settings", "--set", "no_such=1")
    assert code == 2 and "unknown triage setting" in err
    _, after, _ = run(capsys, "--db", db, "triage", "settings")
    assert after["repeat_window_s"] == 86400


def test_a_stricter_setting_changes_the_flags_after_a_rebuild(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, before, _ = run(capsys, "--db", db, "triage", "rebuild")
    run(capsys, "--db", db, "triage", "settings", "--set", "repeat_min_conversations=3")
    _, after, _ = run(capsys, "--db", db, "triage", "rebuild")
    assert 0 < after["flagged"]["repeat"] < before["flagged"]["repeat"]


def test_explain_shows_the_signals(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "--db", db, "triage", "rebuild")
    ws = Workspace(db)
    cid = int(ws.scalar("SELECT customer_id FROM flags WHERE kind = 'escalating' LIMIT 1"))
    ws.close()
    code, detail, _ = run(capsys, "--db", db, "triage", "explain", str(cid))
    assert code == 0 and detail["escalation"]["flagged"] is True
    names = {s["name"] for s in detail["escalation"]["signals"]}
    assert names and all(s["message_ids"] for s in detail["escalation"]["signals"])
    assert names <= {
        "sentiment",
        "faster",
        "chasing",
        "public_move",
        "words",
        "shouting",
        "waiting",
    }
    code, _, err = run(capsys, "--db", db, "triage", "explain", "999999")
    assert code == 2 and "no customer" in err


def test_settings_are_typed_and_damaged_values_fall_back(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.sqlite")
    with pytest.raises(InvalidSettingError):
        save_settings(ws, {"high_reach_followers": -5})
    with pytest.raises(InvalidSettingError):
        save_settings(ws, {"default_targets": {"pigeon": 60}})
    saved = save_settings(ws, {"default_targets": {"x": 1800}, "repeat_lookback_s": None})
    assert saved.default_targets["x"] == 1800 and saved.default_targets["email"] == 86400
    ws.set_setting("triage.escalation_threshold", "high")
    assert load_settings(ws).escalation_threshold == 0.5
    ws.close()
