"""The Customer Support on Twitter (TWCS) CSV format.

Columns: ``tweet_id, author_id, inbound, created_at, text, response_tweet_id,
in_response_to_tweet_id``. Inbound rows are customers' tweets (the identity's handle is the row's
author_id); other rows are the brand account named by its author_id answering. Every tweet of one
reply tree is filed under one brand account: the brand that answers in it, else the brand the root
tweet mentions.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from console.domain import Channel, Direction, IncomingMessage
from console.textutil import clean_text
from services.importers import ParseProblem

COLUMNS = (
    "tweet_id",
    "author_id",
    "inbound",
    "created_at",
    "text",
    "response_tweet_id",
    "in_response_to_tweet_id",
)
UNKNOWN_ACCOUNT = "x-inbox"
_MENTION = re.compile(r"@(\w{1,30})")
_MAX_FIELD = 1_000_000


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_TIME = re.compile(r"^\w{3} (\w{3}) (\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})$")


def parse_twcs_time(value: str) -> int:
    """``Tue Oct 31 22:10:47 +0000 2017`` as Unix seconds (a fast path for the usual shape)."""
    value = value.strip()
    match = _TIME.match(value)
    if match is None or match.group(1) not in _MONTHS:
        return int(datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").timestamp())
    mon, day, hh, mm, ss, sign, oh, om, year = match.groups()
    offset = (int(oh) * 3600 + int(om) * 60) * (1 if sign == "+" else -1)
    days = _days_from_civil(int(year), _MONTHS[mon], int(day))
    return days * 86400 + int(hh) * 3600 + int(mm) * 60 + int(ss) - offset


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


class TwcsParser:
    def estimate(self, path: Path) -> int | None:
        return None

    def parse(self, path: Path) -> Iterator[IncomingMessage | ParseProblem]:
        rows: list[tuple[int, dict[str, str]]] = []
        problems: list[ParseProblem] = []
        csv.field_size_limit(_MAX_FIELD)
        with path.open("rb") as raw:
            text_stream = (clean_text(line) for line in raw)
            reader = csv.reader(text_stream)
            try:
                header = next(reader)
            except StopIteration:
                return
            header = [h.strip().lstrip("\ufeff") for h in header]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                yield ParseProblem(1, f"not a TWCS file: missing columns {', '.join(missing)}")
                return
            index = {name: header.index(name) for name in COLUMNS}
            line = reader.line_num + 1
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    problems.append(ParseProblem(line, f"unreadable CSV: {exc}"))
                    line = reader.line_num + 1
                    continue
                if not values or all(not v.strip() for v in values):
                    line = reader.line_num + 1
                    continue
                if len(values) < len(header):
                    problems.append(
                        ParseProblem(line, f"expected {len(header)} fields, found {len(values)}")
                    )
                else:
                    rows.append((line, {c: values[i] for c, i in index.items()}))
                line = reader.line_num + 1
        yield from problems
        yield from _records(rows)


def _records(rows: list[tuple[int, dict[str, str]]]) -> Iterator[IncomingMessage | ParseProblem]:
    parsed: list[tuple[int, dict[str, str], int]] = []
    for line, row in rows:
        tweet_id = row["tweet_id"].strip()
        author = row["author_id"].strip()
        inbound = row["inbound"].strip().lower()
        if not tweet_id or not author:
            yield ParseProblem(line, "tweet_id and author_id are required")
            continue
        if inbound not in ("true", "false"):
            yield ParseProblem(line, f"inbound must be True or False, not {row['inbound']!r}")
            continue
        try:
            created = parse_twcs_time(row["created_at"])
        except ValueError:
            yield ParseProblem(line, f"unreadable created_at {row['created_at']!r}")
            continue
        parsed.append((line, row, created))

    brands = {
        row["author_id"].strip()
        for _, row, _ in parsed
        if row["inbound"].strip().lower() == "false"
    }
    parent_of = {
        row["tweet_id"].strip(): (row["in_response_to_tweet_id"] or "").strip() or None
        for _, row, _ in parsed
    }
    author_of = {row["tweet_id"].strip(): row["author_id"].strip() for _, row, _ in parsed}
    text_of = {row["tweet_id"].strip(): row["text"] for _, row, _ in parsed}

    # One account per reply tree (connected through in-file parent links).
    root_cache: dict[str, str] = {}

    def root(tweet: str) -> str:
        path = []
        seen = set()
        cur = tweet
        while cur not in root_cache:
            parent = parent_of.get(cur)
            if parent is None or parent not in parent_of or parent in seen:
                break
            seen.add(cur)
            path.append(cur)
            cur = parent
        top = root_cache.get(cur, cur)
        for item in path:
            root_cache[item] = top
        root_cache[cur] = top
        return top

    tree_brands: dict[str, Counter[str]] = {}
    for _, row, _ in parsed:
        tweet = row["tweet_id"].strip()
        author = author_of[tweet]
        if author in brands:
            tree_brands.setdefault(root(tweet), Counter())[author] += 1
    lower_brands = {b.lower(): b for b in brands}
    mention_casing: dict[str, str] = {}

    def account_for(tweet: str) -> str:
        top = root(tweet)
        counted = tree_brands.get(top)
        if counted:
            return counted.most_common(1)[0][0]
        mentions = _MENTION.findall(text_of.get(top, "")) + _MENTION.findall(text_of[tweet])
        for handle in mentions:
            if handle.lower() in lower_brands:
                return lower_brands[handle.lower()]
        for handle in mentions:
            if not handle.isdigit():
                # X handles are case-insensitive: one account whatever the casing in the text.
                return mention_casing.setdefault(handle.lower(), handle)
        return UNKNOWN_ACCOUNT

    for _line, row, created in parsed:
        tweet = row["tweet_id"].strip()
        author = author_of[tweet]
        is_inbound = row["inbound"].strip().lower() == "true"
        extra: dict[str, object] = {}
        responses = (row["response_tweet_id"] or "").strip()
        if responses:
            extra["response_tweet_id"] = responses
        yield IncomingMessage(
            channel=Channel.X,
            account=account_for(tweet),
            external_id=tweet,
            direction=Direction.IN if is_inbound else Direction.OUT,
            author=author,
            author_name=None,
            text=row["text"],
            created_at=created,
            in_reply_to=parent_of[tweet],
            extra=extra,
        )
