"""On the real TWCS files: per-account responded conversations and first-response times equal what
the raw CSV gives, computed here independently of the importer and of the metrics SQL.

Raw definitions: a conversation is a connected reply tree (``in_response_to_tweet_id`` links within
the files); its account is the brand answering in it (the brand with most replies in the tree, the
first one met in the file on a tie); its first-response time runs from its first customer tweet to
the first brand tweet at or after it.
"""

from __future__ import annotations

import csv
import statistics
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from console.storage import metrics as store
from console.storage.db import Workspace
from services.importers import run_import
from services.metrics import build_report

NOW = 1_515_000_000  # January 2018: after every tweet of the files


def raw_first_responses(paths: list[Path]) -> dict[str, list[int]]:
    """Brand -> first-response seconds of each answered conversation, from the raw rows."""
    rows: dict[str, dict[str, str]] = {}
    order: list[str] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["tweet_id"] not in rows:
                    order.append(row["tweet_id"])
                rows.setdefault(row["tweet_id"], row)

    def parent(tweet: str) -> str | None:
        p = rows[tweet]["in_response_to_tweet_id"].strip()
        return p if p in rows else None

    def root(tweet: str) -> str:
        seen = set()
        while (p := parent(tweet)) is not None and tweet not in seen:
            seen.add(tweet)
            tweet = p
        return tweet

    trees: dict[str, list[dict[str, str]]] = defaultdict(list)
    for tweet in order:
        trees[root(tweet)].append(rows[tweet])
    out: dict[str, list[int]] = defaultdict(list)
    for tree in trees.values():
        when = {
            r["tweet_id"]: datetime.strptime(r["created_at"], "%a %b %d %H:%M:%S %z %Y")
            for r in tree
        }
        inbound = [when[r["tweet_id"]] for r in tree if r["inbound"] == "True"]
        outbound = [r for r in tree if r["inbound"] == "False"]
        if not inbound or not outbound:
            continue
        brand = Counter(r["author_id"] for r in outbound).most_common(1)[0][0]
        first_in = min(inbound)
        answers = [when[r["tweet_id"]] for r in outbound if when[r["tweet_id"]] >= first_in]
        if answers:
            out[brand].append(int((min(answers) - first_in).total_seconds()))
    return out


def assert_matches(ws: Workspace, expected: dict[str, list[int]]) -> None:
    names = {a.id: a.name for a in store.list_accounts(ws)}
    actual = {
        names[row["id"]]: (
            row["responded"],
            row["median_first_response_s"],
            row["p90_first_response_s"],
        )
        for row in store.account_stats(ws, NOW)
        if row["responded"]
    }
    wanted = {
        brand: (len(v), float(statistics.median(v)), store.percentile(v, 0.9))
        for brand, v in expected.items()
    }
    assert set(actual) == set(wanted)
    mismatched = {b: (actual[b], wanted[b]) for b in wanted if actual[b] != wanted[b]}
    assert mismatched == {}
    # The period report over all time agrees with the all-time stats.
    report = build_report(ws, 0, NOW, NOW)
    by_name = {row["name"]: row for row in report.accounts}
    for brand, (responded, median, p90) in wanted.items():
        row = by_name[brand]
        assert (row["responded"], row["first_response_median_s"], row["first_response_p90_s"]) == (
            responded,
            median,
            p90,
        )


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["twcs_head_5000.csv", "twcs_tail_12459.csv"])
def test_first_responses_per_account_match_the_raw_file(
    shared_data: Path, tmp_path: Path, name: str
) -> None:
    path = shared_data / "twcs" / name
    expected = raw_first_responses([path])
    assert len(expected) > 50  # many brands answer in these files
    ws = Workspace(tmp_path / "w.sqlite")
    run_import(ws, path)
    assert_matches(ws, expected)
    ws.close()


@pytest.mark.realdata
@pytest.mark.slow
def test_all_three_files_together(shared_data: Path, tmp_path: Path) -> None:
    names = ["twcs_head_5000.csv", "twcs_tail_12459.csv", "twcs_spotifycares_inbound_15096.csv"]
    paths = [shared_data / "twcs" / n for n in names]
    ws = Workspace(tmp_path / "w.sqlite")
    for path in paths:
        run_import(ws, path)
    assert_matches(ws, raw_first_responses(paths))
    ws.close()
