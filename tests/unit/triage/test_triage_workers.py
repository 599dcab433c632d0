"""Reading and analysing ahead during a bulk import: the triage afterwards ends exactly where it
ends without; a reader that fails costs no message. Rebuilds planned in worker processes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from console.domain import Direction, IncomingMessage
from console.storage.db import Workspace
from console.textutil import extra_json, fingerprint, normalize_for_duplicates
from console.triage.engine import after_import
from services.importers import run_import
from tests.helpers.bench import bench_module

NOW = 1_764_590_400  # 2025-12-01T12:00:00Z
SMALL = ["--messages", "3000", "--customers", "500", "--days", "20", "--quiet"]


@pytest.fixture(scope="module")
def small_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ahead") / "small.jsonl"
    args = ["--out", str(out), *SMALL, "--now", "2025-12-01T12:00:00+00:00"]
    assert bench_module("generate").main(args) == 0
    return out


STATE = {
    "messages": "SELECT id, language, sentiment, dup_group, extra FROM messages ORDER BY id",
    "flags": "SELECT customer_id, kind, score, reasons, message_ids FROM flags"
    " ORDER BY customer_id, kind",
    "customers": "SELECT id, language, flag_mask, priority FROM customers ORDER BY id",
    "conversations": "SELECT id, deadline_at, flag_mask, priority FROM conversations ORDER BY id",
    "groups": "SELECT kind, group_key, size, customers, first_at, last_at, sample FROM dup_groups"
    " ORDER BY id",
}


def _triaged_state(path: Path, source: Path, *, analyse: bool) -> tuple[dict[str, list], int]:
    with Workspace(path) as ws:
        summary = run_import(ws, source, "jsonl", analyse=analyse)
        assert summary.report is not None and summary.added == 3000
        unanalysed = ws.scalar(
            "SELECT count(*) FROM messages WHERE direction = 'in' AND sentiment IS NULL"
        )
        after_import(ws, summary.report, clock=lambda: NOW)
        return {name: ws.query(sql) for name, sql in STATE.items()}, int(unanalysed)


def test_import_read_and_analysed_ahead_ends_where_the_plain_import_and_triage_end(
    small_jsonl: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    capsys.readouterr()
    ahead, left_ahead = _triaged_state(tmp_path / "ahead.sqlite", small_jsonl, analyse=True)
    plain, left_plain = _triaged_state(tmp_path / "plain.sqlite", small_jsonl, analyse=False)
    assert left_ahead == 0, "the worker analysed every inbound message of the new customers"
    assert left_plain > 1000, "without it the import leaves them to the triage"
    assert sum(1 for m in ahead["messages"] if m["language"]) > 1000
    for name in STATE:
        assert ahead[name] == plain[name], name


def _items(items: object) -> list[object]:
    return [
        (type(i).__name__, getattr(i, "external_id", None), getattr(i, "line", None))
        for i in items  # type: ignore[attr-defined]
    ]


def test_the_reader_yields_what_the_parser_yields_problems_included(
    small_jsonl: Path, tmp_path: Path
) -> None:
    from services.importers.jsonl import JsonlParser
    from services.importers.readahead import read_ahead

    damaged = tmp_path / "damaged.jsonl"
    lines = small_jsonl.read_bytes().splitlines(keepends=True)
    lines[10] = b"{not json\n"
    lines[2500] = b'{"channel": "pigeon"}\n'
    damaged.write_bytes(b"".join(lines))
    expected = list(JsonlParser().parse(damaged))
    got = list(read_ahead(damaged, "jsonl", min_letters=None))
    assert _items(got) == _items(expected)
    assert [str(p) for p in got if not hasattr(p, "external_id")] == [
        str(p) for p in expected if not hasattr(p, "external_id")
    ]
    # without analysis the records are the parser's own, field for field, with the duplicate
    # fingerprint of each inbound text and the JSON of each extra computed
    records = [i for i in got if isinstance(i, IncomingMessage)]
    assert [replace(i, norm_hash=None, extra_json=None) for i in records] == [
        i for i in expected if isinstance(i, IncomingMessage)
    ]
    inbound = [i for i in records if i.direction == Direction.IN]
    assert len(inbound) > 1000
    assert all(i.norm_hash == fingerprint(normalize_for_duplicates(i.text)) for i in inbound)
    assert all(i.norm_hash is None for i in records if i.direction != Direction.IN)
    assert all(i.extra_json == extra_json(i.extra) for i in records)
    assert sum(1 for i in records if i.extra_json is not None) > 100


def test_a_reader_killed_mid_import_costs_no_message(small_jsonl: Path, tmp_path: Path) -> None:
    import multiprocessing
    import os
    import signal

    from services.importers.jsonl import JsonlParser
    from services.importers.readahead import read_ahead

    expected = _items(JsonlParser().parse(small_jsonl))
    got = []
    for n, item in enumerate(read_ahead(small_jsonl, "jsonl")):
        got.append(item)
        if n == 0:
            (reader,) = [
                p for p in multiprocessing.active_children() if p.name.endswith("import-reader")
            ]
            assert reader.pid is not None
            os.kill(reader.pid, signal.SIGKILL)
    assert _items(got) == expected
    assert not multiprocessing.active_children()


def test_a_file_the_reader_cannot_read_raises_the_parsers_error(tmp_path: Path) -> None:
    from console.errors import ImportFormatError
    from services.importers.readahead import read_ahead

    with pytest.raises(ImportFormatError, match="cannot read"):
        list(read_ahead(tmp_path / "gone.jsonl", "jsonl", min_letters=None))


def _rebuilt_state(path: Path, source: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool):
    from console.triage import engine

    monkeypatch.setattr(engine, "PARALLEL_CUSTOMERS_MIN", 0 if parallel else 10**9)
    monkeypatch.setattr(engine, "CUSTOMER_CHUNK", 100)  # several chunks for the workers
    with Workspace(path) as ws:
        run_import(ws, source, "jsonl", analyse=False)
        report = engine.rebuild(ws, clock=lambda: NOW, workers=2)
        return {name: ws.query(sql) for name, sql in STATE.items()}, report


def test_a_rebuild_planned_in_worker_processes_writes_what_one_process_writes(
    small_jsonl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parallel, report = _rebuilt_state(tmp_path / "p.sqlite", small_jsonl, monkeypatch, True)
    serial, expected = _rebuilt_state(tmp_path / "s.sqlite", small_jsonl, monkeypatch, False)
    assert report.customers == expected.customers == 500
    assert report.flagged == expected.flagged and sum(report.flagged.values()) > 50
    assert report.conversation_ids == expected.conversation_ids
    for name in STATE:
        assert parallel[name] == serial[name], name


def test_a_write_by_another_connection_during_a_parallel_rebuild_is_not_overwritten(
    small_jsonl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.triage import customers, engine

    monkeypatch.setattr(engine, "PARALLEL_CUSTOMERS_MIN", 0)
    monkeypatch.setattr(engine, "CUSTOMER_CHUNK", 50)
    path = tmp_path / "w.sqlite"
    with Workspace(path) as ws:
        run_import(ws, small_jsonl, "jsonl", analyse=False)
        engine.rebuild(ws, clock=lambda: NOW, workers=1)
        first = int(ws.scalar("SELECT min(id) FROM customers"))
        before = ws.scalar("SELECT priority FROM customers WHERE id = ?", (first,))
        planned = customers.PlanPool.map

        def map_then_write(self: customers.PlanPool, chunks: object) -> object:
            # The first chunk's plan is read and computed; then an agent raises the tier of
            # that chunk's first customer on another connection, before the plan is written.
            for n, item in enumerate(planned(self, chunks)):  # type: ignore[arg-type]
                if n == 0:
                    with Workspace(path) as other, other.transaction() as conn:
                        conn.execute("UPDATE customers SET tier = 4 WHERE id = ?", (first,))
                yield item

        monkeypatch.setattr(customers.PlanPool, "map", map_then_write)
        engine.rebuild(ws, clock=lambda: NOW, workers=2)
        after = ws.scalar("SELECT priority FROM customers WHERE id = ?", (first,))
        assert after > before, "the tier raised mid-rebuild counts in its priority"


def test_workers_dying_mid_rebuild_leave_the_rest_to_this_process(
    small_jsonl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from console.triage import customers

    planned = customers.PlanPool.map

    def map_then_die(self: customers.PlanPool, chunks: object) -> object:
        for n, item in enumerate(planned(self, chunks)):  # type: ignore[arg-type]
            if n == 2:
                raise BrokenProcessPool("a worker was killed")
            yield item

    serial, expected = _rebuilt_state(tmp_path / "s.sqlite", small_jsonl, monkeypatch, False)
    monkeypatch.setattr(customers.PlanPool, "map", map_then_die)
    dying, report = _rebuilt_state(tmp_path / "d.sqlite", small_jsonl, monkeypatch, True)
    assert report.customers == expected.customers == 500
    assert report.flagged == expected.flagged
    for name in STATE:
        assert dying[name] == serial[name], name
