"""Business hours, response targets and the deadlines triage stores."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from console.domain import Channel, Direction, IncomingMessage
from console.storage import Workspace
from console.storage.ingest import Ingestor
from console.triage.deadlines import (
    InvalidBusinessHoursError,
    add_business_seconds,
    deadline,
    parse_business_hours,
)
from console.triage.engine import incremental_hook, refresh_clock, retriage

HELSINKI = ZoneInfo("Europe/Helsinki")
OFFICE = {
    "timezone": "Europe/Helsinki",
    "week": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2025-12-24"],
}


def local(*args: int) -> int:
    return int(datetime(*args, tzinfo=HELSINKI).timestamp())  # type: ignore[misc]


def test_around_the_clock_is_plain_addition() -> None:
    assert parse_business_hours(None) is None
    assert add_business_seconds(1000, 3600, None) == 4600


def test_friday_afternoon_waits_for_monday_morning() -> None:
    hours = parse_business_hours(OFFICE)
    # Friday 2025-11-21 16:30 + 1 business hour = Monday 09:30.
    assert add_business_seconds(local(2025, 11, 21, 16, 30), 3600, hours) == local(
        2025, 11, 24, 9, 30
    )


def test_before_opening_starts_counting_at_opening_and_holidays_are_skipped() -> None:
    hours = parse_business_hours(json.dumps(OFFICE))
    assert add_business_seconds(local(2025, 11, 20, 6, 0), 1800, hours) == local(
        2025, 11, 20, 9, 30
    )
    # Tuesday 23 Dec 16:00 + 2 h: one hour on Tuesday, the 24th is a holiday, one hour on the 25th.
    assert add_business_seconds(local(2025, 12, 23, 16, 0), 7200, hours) == local(
        2025, 12, 25, 10, 0
    )


def test_daylight_saving_change_follows_local_hours() -> None:
    hours = parse_business_hours(
        {"timezone": "Europe/Helsinki", "week": {"sun": ["00:00-24:00"], "mon": ["09:00-10:00"]}}
    )
    # On 2025-03-30 clocks jump from 03:00 to 04:00: that Sunday has 23 hours, so 23.5 business
    # hours run into Monday (they would end on Sunday 23:30 if every day had 24 hours).
    start = local(2025, 3, 30, 0, 0)
    assert add_business_seconds(start, 23 * 3600 + 1800, hours) == local(2025, 3, 31, 9, 30)


def test_paused_time_moves_the_deadline() -> None:
    assert deadline(1000, 3600, 600, None) == 1000 + 3600 + 600


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"timezone": "Mars/Olympus", "week": {"mon": ["09:00-17:00"]}}, "unknown timezone"),
        ({"week": {"mon": ["9-17"]}}, "not HH:MM-HH:MM"),
        ({"week": {"mon": ["17:00-09:00"]}}, "not a valid range"),
        ({"week": {"mon": ["09:00-12:00", "11:00-13:00"]}}, "overlap"),
        ({"week": {"funday": ["09:00-12:00"]}}, "unknown day"),
        ({"week": {"sat": []}}, "no open time"),
        ({"week": {"mon": ["09:00-12:00"]}, "holidays": ["25/12/2025"]}, "holidays"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_hours_are_refused_with_a_clear_message(value: object, message: str) -> None:
    with pytest.raises(InvalidBusinessHoursError, match=message):
        parse_business_hours(value)  # type: ignore[arg-type]


def test_accounts_targets_and_hours_make_the_stored_deadline(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.sqlite")
    ingest = Ingestor(ws, after_batch=incremental_hook(clock=lambda: local(2025, 11, 21, 16, 40)))
    mail = ingest.ensure_account(Channel.EMAIL, "support")
    sms = ingest.ensure_account(Channel.SMS, "texts")
    ws.conn.execute(
        "UPDATE accounts SET business_hours = ?, response_target_s = 7200 WHERE id = ?",
        (json.dumps(OFFICE), mail),
    )
    at = local(2025, 11, 21, 16, 30)
    ingest.ingest(
        [
            IncomingMessage(
                Channel.EMAIL,
                "support",
                "<a@x>",
                Direction.IN,
                "ann@x.org",
                "Help with my bill",
                at,
            ),
            IncomingMessage(
                Channel.SMS, "texts", "s1", Direction.IN, "+3584000", "my bill is wrong", at
            ),
        ]
    )
    rows = {
        r["account_id"]: r for r in ws.query("SELECT account_id, deadline_at FROM conversations")
    }
    assert rows[mail]["deadline_at"] == local(2025, 11, 24, 10, 30)  # 30 min Friday + 1.5 h Monday
    assert rows[sms]["deadline_at"] == at + 3600  # default SMS target, around the clock

    assert ws.scalar("SELECT count(*) FROM flags WHERE kind = 'breach'") == 0
    changed = refresh_clock(ws, clock=lambda: local(2025, 11, 21, 18, 0))
    assert ws.scalar("SELECT count(*) FROM flags WHERE kind = 'breach'") == 1
    assert changed
    reasons = json.loads(ws.scalar("SELECT reasons FROM flags WHERE kind = 'breach'"))
    assert reasons == ["no answer on SMS for 1.5 hours (target 1 hour)"]

    ws.conn.execute("UPDATE conversations SET status = 'pending' WHERE account_id = ?", (sms,))
    retriage(
        ws,
        [r["customer_id"] for r in ws.query("SELECT customer_id FROM conversations")],
        clock=lambda: local(2025, 11, 21, 18, 0),
    )
    assert ws.scalar("SELECT count(*) FROM flags WHERE kind = 'breach'") == 0
    assert ws.scalar("SELECT deadline_at FROM conversations WHERE account_id = ?", (sms,)) is None
    ws.close()
