"""``bench/generate.py`` at a tiny size: exact counts, valid JSONL, byte-identical reruns, and a
workspace written directly (the benchmark itself never runs in the suite)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from console.storage.db import Workspace
from services.importers import ParseProblem, run_import
from services.importers.jsonl import JsonlParser
from tests.helpers.bench import bench_module

NOW = "2025-12-01T12:00:00+00:00"
SMALL = ["--messages", "2000", "--customers", "400", "--days", "20", "--now", NOW, "--quiet"]


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    return bench_module("generate")


def _run(generate: ModuleType, args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert generate.main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_jsonl_has_exact_counts_and_imports_cleanly(
    generate: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "small.jsonl"
    summary = _run(generate, ["--out", str(out), *SMALL], capsys)
    assert summary["messages"] == 2000 and summary["format"] == "jsonl"
    assert len(summary["plan"]["accounts"]) == 12
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2000
    parsed = list(JsonlParser().parse(out))
    assert not [p for p in parsed if isinstance(p, ParseProblem)]
    first = json.loads(lines[0])
    assert {"channel", "account", "id", "direction", "author", "text", "created_at"} <= set(first)
    with Workspace(tmp_path / "ws.sqlite") as ws:
        result = run_import(ws, out, "jsonl")
        assert result.added == 2000 and not result.problems
        assert ws.scalar("SELECT count(*) FROM customers") == 400
        assert ws.scalar("SELECT count(*) FROM accounts") == 12
        assert ws.scalar("SELECT count(DISTINCT channel) FROM messages") == 8
        # the replying agent travels as an unknown field and lands in extra
        agents = ws.scalar(
            "SELECT count(*) FROM messages WHERE direction = 'out'"
            " AND json_extract(extra, '$.agent') IS NOT NULL"
        )
        assert agents == ws.scalar("SELECT count(*) FROM messages WHERE direction = 'out'")


def test_same_arguments_same_bytes(
    generate: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    _run(generate, ["--out", str(a), *SMALL], capsys)
    _run(generate, ["--out", str(b), *SMALL], capsys)
    _run(generate, ["--out", str(c), *SMALL, "--seed", "8"], capsys)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_writes_a_triaged_workspace_directly(
    generate: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "big.sqlite"
    summary = _run(generate, ["--out", str(out), *SMALL], capsys)
    assert summary["format"] == "workspace"
    assert summary["messages"] == 2000 and summary["customers"] == 400
    assert summary["accounts"] == 12 and len(summary["messages_by_channel"]) == 8
    assert summary["triage"]["customers"] == 400 and summary["triage_rebuild_s"] >= 0
    assert summary["bytes_per_message"] > 0
    with Workspace(out, create=False) as ws:
        assert ws.scalar("SELECT count(*) FROM flags") > 0
        assert ws.scalar("SELECT count(*) FROM conversations WHERE status = 'resolved'") > 0


def test_records_are_consumed_lazily(generate: ModuleType) -> None:
    from console.demo import Generator, load_recipe

    recipe = load_recipe()
    plan = generate.make_plan(recipe)  # the real benchmark's plan: 1,000,000 messages
    assert (plan.messages, plan.customers, len(plan.accounts)) == (1_000_000, 200_000, 12)
    assert plan.heavy == 3
    records = Generator(recipe, plan, now=1_764_590_400).records()
    seen = [next(records) for _ in range(3000)]  # the heavy customers' 3000 messages come first
    assert len({r.author for r in seen if r.direction == "in"}) <= 9
