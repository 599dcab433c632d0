"""The TWCS importer on the real files: counts equal what the raw CSVs hold."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from console.storage import Workspace
from services.importers import run_import

FILES = ["twcs_head_5000.csv", "twcs_tail_12459.csv", "twcs_spotifycares_inbound_15096.csv"]


def raw_counts(path: Path) -> dict[str, int]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    ids = {r["tweet_id"] for r in rows}
    parent = {}
    for r in rows:
        p = r["in_response_to_tweet_id"].strip()
        parent[r["tweet_id"]] = p if p in ids else None

    def root(t: str) -> str:
        while parent[t] is not None:
            t = parent[t]  # type: ignore[assignment]
        return t

    return {
        "messages": len(rows),
        "inbound": sum(r["inbound"] == "True" for r in rows),
        "customers": len({r["author_id"] for r in rows if r["inbound"] == "True"}),
        "conversations": len({root(t) for t in ids}),
    }


@pytest.mark.parametrize("name", FILES)
def test_counts_match_the_raw_file(shared_data: Path, tmp_path: Path, name: str) -> None:
    path = shared_data / "twcs" / name
    expected = raw_counts(path)
    ws = Workspace(tmp_path / "w.sqlite")
    summary = run_import(ws, path)
    assert summary.problems == []
    assert summary.added == expected["messages"]
    assert ws.scalar("SELECT count(*) FROM messages") == expected["messages"]
    assert ws.scalar("SELECT count(*) FROM messages WHERE direction = 'in'") == expected["inbound"]
    assert ws.scalar("SELECT count(*) FROM customers") == expected["customers"]
    assert ws.scalar("SELECT count(*) FROM conversations") == expected["conversations"]
    again = run_import(ws, path)
    assert (again.added, again.skipped) == (0, expected["messages"])
    assert ws.scalar("SELECT count(*) FROM conversations") == expected["conversations"]
    ws.close()


def test_all_files_in_any_order_give_the_combined_threads(
    shared_data: Path, tmp_path: Path
) -> None:
    paths = [shared_data / "twcs" / n for n in FILES]
    counts = []
    for order in (paths, list(reversed(paths))):
        ws = Workspace(tmp_path / f"w{len(counts)}.sqlite")
        for p in order:
            run_import(ws, p)
        counts.append(
            (
                ws.scalar("SELECT count(*) FROM messages"),
                ws.scalar("SELECT count(*) FROM conversations"),
            )
        )
        ws.close()
    assert counts[0] == counts[1]
    assert counts[0][0] == 32470  # SOURCE.md: rows deduplicated by tweet_id across the three files


def test_broken_rows_are_reported_by_line_and_the_rest_imported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\r\n"
        b"1,111,True,Tue Oct 31 22:10:47 +0000 2017,@Brand help,,\r\n"
        b"2,Brand,maybe,Tue Oct 31 22:11:47 +0000 2017,hi,,1\r\n"
        b"3,222,True,not a date,hi,,\r\n"
        b"4,333,True,Tue Oct 31 22:12:47 +0000 2017,bad \xff\xfe bytes,,\r\n"
        b"5,444\r\n"
    )
    ws = Workspace(tmp_path / "w.sqlite")
    summary = run_import(ws, path)
    assert summary.added == 2
    assert sorted(p.line for p in summary.problems) == [3, 4, 6]
    assert "inbound" in str(summary.problems[0]) or "inbound" in " ".join(
        map(str, summary.problems)
    )
    text = ws.scalar("SELECT text FROM messages WHERE external_id = '4'")
    assert "\ufffd" in text and text.startswith("bad")
    ws.close()
