"""Business hours, response targets and first-response deadlines.

Each channel account has a response target (``accounts.response_target_s``; when null the channel's
default from :data:`console.triage.settings.DEFAULT_TARGETS`: X, SMS, WhatsApp, Messenger 1 h;
Facebook, Instagram 4 h; email, phone 24 h) and business hours (``accounts.business_hours``; null
means around the clock). The target counts business time only.

``accounts.business_hours`` is JSON::

    {
      "timezone": "Europe/Helsinki",
      "week": {"mon": ["08:00-17:00"], "tue": ["08:00-12:00", "13:00-17:00"], "wed": ["08:00-17:00"],
               "thu": ["08:00-17:00"], "fri": ["08:00-16:00"]},
      "holidays": ["2025-12-24", "2025-12-25"]
    }

- ``timezone``: an IANA zone name (default ``"UTC"``); hours are local wall-clock times, so
  daylight-saving changes are followed.
- ``week``: days ``mon`` ... ``sun``, each a list of ``"HH:MM-HH:MM"`` ranges (``"24:00"`` may end a
  range); a day left out is closed. At least one day must have open time.
- ``holidays``: optional ISO dates on which the account is closed all day.

A conversation's deadline (``conversations.deadline_at``) is ``waiting_since`` plus the target plus
``paused_s`` (the seconds it spent pending or snoozed while waiting), all counted in business time.
Only open conversations that wait for an answer have a deadline; pending, snoozed and resolved ones
have none (their clock is stopped).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console.errors import ConsoleError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
#: How far ahead a deadline is searched before the hours are declared unusable.
MAX_DAYS = 800


class InvalidBusinessHoursError(ConsoleError):
    """``accounts.business_hours`` could not be understood."""


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Weekly opening hours in one time zone. ``week[0]`` is Monday; ranges are minutes of the day."""

    zone: ZoneInfo
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date] = frozenset()

    def open_ranges(self, day: date) -> list[tuple[int, int]]:
        """Open intervals of one local day as Unix seconds."""
        if day in self.holidays:
            return []
        out = []
        for start, end in self.week[day.weekday()]:
            out.append((self._epoch(day, start), self._epoch(day, end)))
        return out

    def _epoch(self, day: date, minutes: int) -> int:
        moment = datetime.combine(day, time(0), self.zone) + timedelta(minutes=minutes)
        if minutes >= 24 * 60:  # "24:00" is the next day's midnight, whatever DST did that day
            moment = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        return int(moment.timestamp())

    def local_date(self, seconds: int) -> date:
        return datetime.fromtimestamp(seconds, self.zone).date()


def parse_business_hours(value: str | dict[str, object] | None) -> BusinessHours | None:
    """The hours described by the JSON above; None means open around the clock."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidBusinessHoursError(f"business hours are not valid JSON: {exc}") from exc
        if value is None:
            return None
    if not isinstance(value, dict):
        raise InvalidBusinessHoursError("business hours must be a JSON object")
    zone = _zone(value.get("timezone", "UTC"))
    week_spec = value.get("week")
    if not isinstance(week_spec, dict):
        raise InvalidBusinessHoursError('business hours need a "week" object (mon ... sun)')
    unknown = sorted(set(week_spec) - set(DAYS))
    if unknown:
        raise InvalidBusinessHoursError(
            f"unknown day(s) {', '.join(unknown)}; use {', '.join(DAYS)}"
        )
    week = tuple(_day_ranges(day, week_spec.get(day, [])) for day in DAYS)
    if not any(week):
        raise InvalidBusinessHoursError("business hours have no open time in the week")
    return BusinessHours(zone, week, _holidays(value.get("holidays", [])))


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str):
        raise InvalidBusinessHoursError("timezone must be an IANA name like 'Europe/Rome'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidBusinessHoursError(f"unknown timezone {name!r}") from exc


def _day_ranges(day: str, spec: object) -> tuple[tuple[int, int], ...]:
    if not isinstance(spec, list):
        raise InvalidBusinessHoursError(f'{day}: expected a list like ["09:00-17:00"]')
    ranges = []
    for item in spec:
        match = _RANGE.match(item) if isinstance(item, str) else None
        if match is None:
            raise InvalidBusinessHoursError(f"{day}: {item!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or start >= 24 * 60 or end > 24 * 60 or end <= start:
            raise InvalidBusinessHoursError(f"{day}: {item!r} is not a valid range of the day")
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in itertools.pairwise(ranges):
        if start < end:
            raise InvalidBusinessHoursError(f"{day}: ranges overlap")
    return tuple(ranges)


def _holidays(spec: object) -> frozenset[date]:
    if not isinstance(spec, list):
        raise InvalidBusinessHoursError("holidays must be a list of YYYY-MM-DD dates")
    try:
        return frozenset(date.fromisoformat(str(d)) for d in spec)
    except ValueError as exc:
        raise InvalidBusinessHoursError(f"holidays: {exc}") from exc


def add_business_seconds(start: int, seconds: int, hours: BusinessHours | None) -> int:
    """The moment ``seconds`` of business time after ``start`` (plain addition around the clock)."""
    if hours is None:
        return start + seconds
    remaining = max(0, seconds)
    day = hours.local_date(start) - timedelta(days=1)  # the previous day may run past midnight
    for _ in range(MAX_DAYS):
        for open_at, close_at in hours.open_ranges(day):
            if close_at <= start:
                continue
            open_at = max(open_at, start)
            if remaining <= close_at - open_at:
                return open_at + remaining
            remaining -= close_at - open_at
        day += timedelta(days=1)
    raise InvalidBusinessHoursError(f"no business time within {MAX_DAYS} days (all holidays?)")


def deadline(waiting_since: int, target_s: int, paused_s: int, hours: BusinessHours | None) -> int:
    """First-response deadline of a conversation waiting since ``waiting_since``."""
    return add_business_seconds(waiting_since, target_s + max(0, paused_s), hours)


@lru_cache(maxsize=256)
def hours_or_none(raw: str | None) -> BusinessHours | None:
    """Stored hours for triage: unreadable hours count as around the clock rather than stop triage.

    Accounts are validated when saved (:func:`parse_business_hours` raises there). Remembered by
    the stored text (hours are immutable): every triage run reads every account's hours.
    """
    try:
        return parse_business_hours(raw)
    except InvalidBusinessHoursError:
        return None
