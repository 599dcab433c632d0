"""Same-issue groups are outages: one text from many customers close together, never courtesies.

The TWCS files hold dozens of "Thank you for your help!" and "Still doesn't work" posts that many
customers wrote weeks apart; none of them is an outage. Both the rebuild and the incremental hook
must agree on that.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.domain import Channel, Direction, IncomingMessage
from console.storage import Workspace
from console.storage.ingest import Ingestor
from console.triage import duplicates, engine
from console.triage.duplicates import is_issue
from console.triage.engine import incremental_hook, rebuild
from console.triage.settings import TriageSettings
from console.triage.views import list_groups

HOUR = 3600
DAY = 24 * HOUR
T0 = 1_780_000_000
NOW = T0 + 90 * DAY


def post(n: int, author: str, text: str, at: int) -> IncomingMessage:
    return IncomingMessage(
        channel=Channel.X,
        account="brand",
        external_id=f"p{n}",
        direction=Direction.IN,
        author=author,
        text=text,
        created_at=at,
    )


OUTAGE = "@brand the internet is down in Leeds again since this morning"
SPREAD = "@brand the app still does not load my playlists at all"
THANKS = "@brand thank you so much for your help, all sorted now!"


def traffic() -> list[IncomingMessage]:
    posts = []
    # Five customers within two hours: an outage.
    posts += [post(i, f"leeds{i}", OUTAGE, T0 + i * 1500) for i in range(5)]
    # Five customers, the same words, each two weeks after the previous one: no outage.
    posts += [post(10 + i, f"spread{i}", SPREAD, T0 + i * 14 * DAY) for i in range(5)]
    # Six customers thanking within the hour: a courtesy, not an issue.
    posts += [post(20 + i, f"happy{i}", THANKS, T0 + i * 600) for i in range(6)]
    return posts


def samples(ws: Workspace) -> dict[str, int]:
    return {g["sample"]: g["customers"] for g in list_groups(ws, "same_issue")}


@pytest.fixture
def imported(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace holding :func:`traffic`, not triaged yet."""
    ws = Workspace(tmp_path / "ws.sqlite")
    Ingestor(ws).ingest(traffic())
    yield ws
    ws.close()


def test_rebuild_keeps_outages_only(imported: Workspace) -> None:
    rebuild(imported, clock=lambda: NOW)
    assert samples(imported) == {OUTAGE: 5}


def test_rebuild_reads_the_groups_on_a_second_connection(
    imported: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers: list[tuple[bool, bool]] = []  # (this connection, this thread)
    real = duplicates.same_issue_rows

    def same_issue_rows(on: Workspace, s: TriageSettings) -> list[dict[str, Any]]:
        readers.append((on is imported, threading.current_thread() is threading.main_thread()))
        return real(on, s)

    monkeypatch.setattr(duplicates, "same_issue_rows", same_issue_rows)
    rebuild(imported, clock=lambda: NOW)
    assert readers == [(False, False)]
    assert samples(imported) == {OUTAGE: 5}


def test_the_groups_are_read_here_when_the_second_connection_fails(
    imported: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path, settings: TriageSettings) -> list[dict[str, Any]]:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(engine, "_read_same_issue", broken)
    rebuild(imported, clock=lambda: NOW)
    assert samples(imported) == {OUTAGE: 5}


def test_the_hook_one_post_at_a_time_agrees(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.sqlite")
    ingestor = Ingestor(ws, after_batch=incremental_hook(clock=lambda: NOW))
    for record in sorted(traffic(), key=lambda r: r.created_at):
        ingestor.ingest([record])
    assert samples(ws) == {OUTAGE: 5}
    ws.close()


def test_a_group_forms_once_enough_customers_post_within_the_window(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.sqlite")
    ingestor = Ingestor(ws, after_batch=incremental_hook(clock=lambda: NOW))
    ingestor.ingest([post(1, "a", SPREAD, T0), post(2, "b", SPREAD, T0 + 20 * DAY)])
    ingestor.ingest([post(3, "c", SPREAD, T0 + 40 * DAY)])
    assert samples(ws) == {}  # three customers, but weeks apart
    ingestor.ingest([post(4, "d", SPREAD, T0 + 40 * DAY + HOUR)])
    assert samples(ws) == {}  # two within the day
    ingestor.ingest([post(5, "e", SPREAD, T0 + 40 * DAY + 2 * HOUR)])
    # Three within the day: the group forms and holds every post of the text.
    assert samples(ws) == {SPREAD: 5}
    ws.close()


@pytest.mark.parametrize(
    ("posts", "expected"),
    [
        ([(1, 0, -0.5), (2, 10, -0.5), (3, 20, -0.5)], True),
        ([(1, 0, -0.5), (1, 10, -0.5), (2, 20, -0.5)], False),  # two customers
        ([(1, 0, None), (2, DAY // 2, None), (3, DAY, None)], True),  # exactly a day apart
        ([(1, 0, None), (2, DAY // 2, None), (3, DAY + 1, None)], False),
        ([(1, 0, None), (2, 5 * DAY, None), (1, 5 * DAY + 1, None), (3, 5 * DAY + 2, None)], True),
        ([(1, 0, 0.8), (2, 10, 0.6), (3, 20, 0.7)], False),  # thanks
        ([(1, 0, 0.8), (2, 10, -0.6), (3, 20, -0.7)], True),  # mostly unhappy
    ],
)
def test_is_issue(posts: list[tuple[int, int, float | None]], expected: bool) -> None:
    assert is_issue(posts, TriageSettings()) is expected
