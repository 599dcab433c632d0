"""Triage on the real TWCS files: the repeat flags and the duplicate groups equal what the rules
give when computed directly from the raw CSV rows (threads rebuilt from in_response_to_tweet_id)."""

from __future__ import annotations

import csv
import itertools
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from console.cli import main
from console.storage import Workspace
from console.textutil import normalize_for_duplicates
from console.triage.engine import rebuild
from console.triage.views import list_customers, list_groups
from services.importers import run_import
from services.importers.twcs import parse_twcs_time

FILES = ["twcs_head_5000.csv", "twcs_tail_12459.csv", "twcs_spotifycares_inbound_15096.csv"]
WEEK = 7 * 24 * 3600
CLOCK = 1_513_000_000  # December 2017, just after the data


class Quiet:
    """Repeat and duplicates do not depend on language or sentiment: skip the analysers."""

    def detect(self, texts: Sequence[str]) -> list[str | None]:
        return [None] * len(texts)

    def score(self, text: str, language: str | None) -> float:
        return 0.0


def raw_rows(paths: list[Path]) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rows[row["tweet_id"]] = row
    return rows


def raw_repeat_authors(rows: dict[str, dict[str, str]]) -> set[str]:
    """Authors who started two conversations within seven days, from the CSV rows alone."""
    parent = {}
    for tweet, row in rows.items():
        up = row["in_response_to_tweet_id"].strip()
        parent[tweet] = up if up in rows else None

    def root(tweet: str) -> str:
        seen = set()
        while parent[tweet] is not None and tweet not in seen:
            seen.add(tweet)
            tweet = parent[tweet]  # type: ignore[assignment]
        return tweet

    trees: dict[str, list[str]] = defaultdict(list)
    for tweet in rows:
        trees[root(tweet)].append(tweet)
    starts: dict[str, list[int]] = defaultdict(list)
    for tweets in trees.values():
        first = min(tweets, key=lambda t: (parse_twcs_time(rows[t]["created_at"]), int(t)))
        if rows[first]["inbound"] == "True":
            starts[rows[first]["author_id"]].append(parse_twcs_time(rows[first]["created_at"]))
    out = set()
    for author, times in starts.items():
        times.sort()
        if any(b - a <= WEEK for a, b in itertools.pairwise(times)):
            out.add(author)
    return out


def raw_duplicate_sets(rows: dict[str, dict[str, str]]) -> list[tuple[str, set[str]]]:
    """(author, tweet refs) for every set of one author's inbound tweets with equal normalised text."""
    by_text: dict[tuple[str, str], set[str]] = defaultdict(set)
    for tweet, row in rows.items():
        if row["inbound"] != "True":
            continue
        normalized = normalize_for_duplicates(row["text"])
        if normalized:
            by_text[(row["author_id"], normalized)].add(f"x:{tweet}")
    return [(author, refs) for (author, _), refs in by_text.items() if len(refs) > 1]


def triaged(paths: list[Path], tmp: Path) -> Workspace:
    ws = Workspace(tmp / "ws.sqlite")
    for path in paths:
        assert run_import(ws, path).problems == []
    quiet = Quiet()
    rebuild(ws, clock=lambda: CLOCK, detector=quiet, scorer=quiet)
    return ws


def handles_with(ws: Workspace, kind: str) -> set[str]:
    return {
        i["handle"]
        for c in list_customers(ws, kind)
        for i in c["identities"]
        if i["channel"] == "x"
    }


def check(ws: Workspace, rows: dict[str, dict[str, str]]) -> None:
    expected = raw_repeat_authors(rows)
    assert handles_with(ws, "repeat") == expected
    handle_of = {c["id"]: c["identities"][0]["handle"] for c in list_customers(ws)}
    groups = [(handle_of[g["customer"]], set(g["messages"])) for g in list_groups(ws, "duplicates")]
    raw = raw_duplicate_sets(rows)
    for author, refs in raw:
        holders = [g for g in groups if refs <= g[1]]
        assert len(holders) == 1 and holders[0][0] == author, (author, sorted(refs))
    # Every group holds at least one exact set: near matches only extend them.
    assert len(groups) >= len({(a, frozenset(r)) for a, r in raw}) > 0 or not raw


@pytest.mark.parametrize(
    "name",
    [*FILES[:2], pytest.param(FILES[2], marks=pytest.mark.slow)],  # the third takes ~5 s
)
def test_repeat_and_duplicates_equal_the_raw_file(
    shared_data: Path, tmp_path: Path, name: str
) -> None:
    path = shared_data / "twcs" / name
    ws = triaged([path], tmp_path)
    check(ws, raw_rows([path]))
    ws.close()


@pytest.mark.slow
def test_all_files_together(shared_data: Path, tmp_path: Path) -> None:
    paths = [shared_data / "twcs" / n for n in FILES]
    ws = triaged(paths, tmp_path)
    check(ws, raw_rows(paths))
    ws.close()


def test_the_cli_imports_triages_and_lists(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shared_data / "twcs" / "twcs_head_5000.csv"
    db = str(tmp_path / "cli.sqlite")
    assert main(["--db", db, "import", str(path)]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert imported["added"] == 5000 and imported["triage"]["customers"] > 0

    assert main(["--db", db, "customers", "--json", "--flag", "repeat"]) == 0
    customers = json.loads(capsys.readouterr().out)
    rows = raw_rows([path])
    handles = {i["handle"] for c in customers for i in c["identities"]}
    assert handles == raw_repeat_authors(rows)
    for customer in customers:
        assert {"id", "key", "name", "identities", "inbound", "outbound", "conversations"} <= set(
            customer
        )
        assert customer["first_contact"] <= customer["last_contact"]
        assert "T" in customer["first_contact"]
        kinds = [f["kind"] for f in customer["flags"]]
        assert "repeat" in kinds
        assert all(f["reasons"] and 0 < f["score"] <= 1 for f in customer["flags"])

    assert main(["--db", db, "groups", "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)
    found = [set(g["messages"]) for g in groups if g["kind"] == "duplicates"]
    for _, refs in raw_duplicate_sets(rows):
        assert any(refs <= g for g in found)
    assert all(g["size"] == len(g["messages"]) for g in groups)
