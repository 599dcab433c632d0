"""The JSONL interchange format: one JSON object per line, one message per object.

The format is documented for users in ``docs/jsonl.md``; this module is its reader. Each line is
checked on its own: a line that is not JSON, not an object, or has a missing or invalid field
becomes a :class:`~services.importers.ParseProblem` naming the line and the reason, and every
other line is imported. Fields this version does not know are kept in the message's ``extra``.
Bytes that are not UTF-8 are replaced (U+FFFD) and the message is kept, flagged
``extra["invalid_utf8"]``; a blank line is skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from console.domain import Channel, Direction, IncomingMessage, to_epoch
from console.errors import ImportFormatError
from console.textutil import clean_text
from services.importers import ParseProblem

#: Fields with a meaning; any other field goes to ``extra`` unchanged.
KNOWN_FIELDS = frozenset(
    {
        "channel",
        "account",
        "id",
        "in_reply_to",
        "thread",
        "direction",
        "author",
        "author_name",
        "customer",
        "followers",
        "text",
        "created_at",
        "to",
        "subject",
        "language",
        "extra",
    }
)
DIRECTIONS = {"in": Direction.IN, "out": Direction.OUT, "note": Direction.NOTE}
#: Keys the importer writes into ``extra`` itself.
INVALID_UTF8 = "invalid_utf8"

_CHANNELS = ", ".join(c.value for c in Channel)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_CHANNEL_BY_NAME = {c.value: c for c in Channel}


#: msgspec's JSON decoder: the same values as ``json.loads`` for what both read, about three
#: times faster (integers of any size stay integers, keys keep their order, the last of a
#: repeated key wins).
_DECODE = msgspec.json.Decoder().decode


def loads(text: str) -> Any:
    """``json.loads(text)``: msgspec's decoder, and json itself for what msgspec refuses.

    json reads a few things msgspec does not (NaN and Infinity, numbers beyond a float's range,
    lone surrogate escapes); for those, and for text that is not JSON, json decides, so the
    values, and the errors users see, are json's.
    """
    try:
        return _DECODE(text)
    except msgspec.DecodeError:
        return json.loads(text)


_UNREAD = object()


class _Invalid(Exception):
    """A line that cannot become a message; the text is the reason shown to the user."""


class JsonlParser:
    """Reads the JSONL interchange format (see ``docs/jsonl.md``)."""

    def estimate(self, path: Path) -> int | None:
        """Lines in the file, counted in binary chunks (blank lines included: it is a guess)."""
        try:
            handle = path.open("rb")
        except OSError:
            return None
        count, last = 0, b"\n"
        with handle:
            while chunk := handle.read(1 << 20):
                count += chunk.count(b"\n")
                last = chunk[-1:]
        return count + (0 if last == b"\n" else 1)

    def parse(self, path: Path) -> Iterator[IncomingMessage | ParseProblem]:
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ImportFormatError(f"cannot read {path}: {exc}") from exc
        with handle:
            # Binary lines split on b"\n" only: U+2028 inside a JSON string is not a line break.
            for number, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    yield parse_line(raw, first=number == 1)
                except _Invalid as exc:
                    yield ParseProblem(number, str(exc))


def parse_line(raw: bytes, *, first: bool = False) -> IncomingMessage:
    """One message from one line; raises ``_Invalid`` with the reason when it cannot."""
    obj: Any = _UNREAD
    damaged = False
    if not first:  # (a first line may start with a byte order mark)
        # msgspec reads the bytes themselves when they are valid UTF-8 and JSON it reads (no
        # string of the line made first); anything else takes the way below, which decides.
        try:
            obj = _DECODE(raw)
        except (msgspec.DecodeError, RecursionError):
            pass
    if obj is _UNREAD:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            damaged = True
        if first:
            text = text.lstrip("\ufeff")
        try:
            obj = loads(text)
        except json.JSONDecodeError as exc:
            raise _Invalid(f"not JSON: {exc.msg} (column {exc.colno})") from None
        except RecursionError:
            raise _Invalid("not JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise _Invalid(f"not a JSON object but {_kind(obj)}")
    # A lone surrogate can only come from a \\uD8xx-\\uDFxx escape (decoding never makes one):
    # lines without such an escape need no walk through every value.
    if _SURROGATE_ESCAPE.search(raw) is None:
        fields, damaged_strings = obj, False
    else:
        try:
            fields, damaged_strings = _repair_strings(obj)
        except RecursionError:
            raise _Invalid("nested too deeply") from None
    return _fast_record(fields, damaged or damaged_strings) or _record(
        fields, damaged or damaged_strings
    )


def _fast_record(obj: dict[str, Any], damaged: bool) -> IncomingMessage | None:
    """:func:`_record` for a line whose every field is as expected, in one function (the field
    helpers cost more than the work at a million lines); None when anything is unusual, and
    :func:`_record` then says what (the same checks, the same values)."""
    get = obj.get
    given = get("extra")
    if given is not None and type(given) is not dict:
        return None
    channel = _CHANNEL_BY_NAME.get(_plain(get("channel")).lower())
    direction = DIRECTIONS.get(_plain(get("direction")).lower())
    account = _plain(get("account"))
    author = _plain(get("author"))
    external_id = _fast_id(get("id"))
    text = get("text")
    created = _plain(get("created_at"))
    if (
        channel is None
        or direction is None
        or not account
        or not author
        or not external_id
        or type(text) is not str
        or not created
    ):
        return None
    try:
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            return None
        created_at = to_epoch(moment)
    except (ValueError, OverflowError, OSError):
        return None
    followers = get("followers")
    if followers is not None and (type(followers) is not int or followers < 0):
        return None
    in_reply_to, thread = get("in_reply_to"), get("thread")
    optional = (get("author_name"), get("customer"), get("subject"), get("to"), get("language"))
    for value in (in_reply_to, thread, *optional):
        if value is not None and type(value) is not str:
            return None
    author_name, customer, subject, to, language = (
        None if v is None else (clean_text(v).strip() or None) for v in optional
    )
    extra: dict[str, Any] = dict(given) if given else {}
    if obj.keys() - KNOWN_FIELDS:  # fields of its own: into extra, in their order
        extra.update({k: v for k, v in obj.items() if k not in KNOWN_FIELDS})
    if damaged:
        extra[INVALID_UTF8] = True
    email = channel == Channel.EMAIL
    return IncomingMessage(
        channel=channel,
        account=account,
        external_id=external_id,
        direction=direction,
        author=author.lower() if email else author,
        text=clean_text(text),
        created_at=created_at,
        in_reply_to=(in_reply_to.strip() or None) if in_reply_to is not None else None,
        thread=(thread.strip() or None) if thread is not None else None,
        author_name=author_name,
        customer_key=customer,
        followers=followers,
        subject=subject,
        to=to.lower() if email and to is not None else to,
        language=language,
        extra=extra,
    )


def _plain(value: Any) -> str:
    """A string field stripped ("" when it is missing or not a string)."""
    return value.strip() if type(value) is str else ""


def _fast_id(value: Any) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if type(value) is int:
        return str(value)
    return None


def _record(obj: dict[str, Any], damaged: bool) -> IncomingMessage:
    extra = _extra(obj)
    if damaged:
        extra[INVALID_UTF8] = True
    channel = _channel(obj)
    return IncomingMessage(
        channel=channel,
        account=_required_str(obj, "account"),
        external_id=_id(obj, "id", required=True) or "",
        direction=_direction(obj),
        author=_handle(channel, _required_str(obj, "author")),
        text=clean_text(_str(obj, "text", required=True) or ""),
        created_at=_created_at(obj),
        in_reply_to=_id(obj, "in_reply_to"),
        thread=_id(obj, "thread"),
        author_name=_optional_str(obj, "author_name"),
        customer_key=_optional_str(obj, "customer"),
        followers=_followers(obj),
        subject=_optional_str(obj, "subject"),
        to=_maybe(channel, _optional_str(obj, "to")),
        language=_optional_str(obj, "language"),
        extra=extra,
    )


# -- fields ---------------------------------------------------------------------------------------


def _channel(obj: dict[str, Any]) -> Channel:
    value = _required_str(obj, "channel")
    try:
        return Channel(value.lower())
    except ValueError:
        raise _Invalid(f"unknown channel {value!r} (use one of {_CHANNELS})") from None


def _direction(obj: dict[str, Any]) -> Direction:
    value = _required_str(obj, "direction")
    direction = DIRECTIONS.get(value.lower())
    if direction is None:
        raise _Invalid(f"unknown direction {value!r} (use in, out or note)")
    return direction


def _created_at(obj: dict[str, Any]) -> int:
    value = _required_str(obj, "created_at")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(f"created_at {value!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise _Invalid(
            f"created_at {value!r} has no UTC offset (write e.g. {value}+00:00 or {value}Z)"
        )
    try:
        return to_epoch(moment)
    except (OverflowError, OSError, ValueError):
        raise _Invalid(f"created_at {value!r} is out of range") from None


def _handle(channel: Channel, handle: str) -> str:
    # Email addresses are stored lower-cased (as the email importer does) so that one address
    # is one identity whatever the casing; other handles are kept as written.
    return handle.lower() if channel == Channel.EMAIL else handle


def _maybe(channel: Channel, handle: str | None) -> str | None:
    return None if handle is None else _handle(channel, handle)


def _followers(obj: dict[str, Any]) -> int | None:
    value = obj.get("followers")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"field 'followers' must be a whole number, not {_kind(value)}")
    if value < 0:
        raise _Invalid(f"field 'followers' must not be negative ({value})")
    return value


def _id(obj: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """Ids may be strings or whole numbers (X ids are numbers in many exports)."""
    value = obj.get(name)
    if value is None:
        if required:
            raise _Invalid(f"missing field {name!r}")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _Invalid(f"field {name!r} must be a string or a whole number, not {_kind(value)}")
    value = value.strip()
    if not value:
        if required:
            raise _Invalid(f"field {name!r} is empty")
        return None
    return value


def _str(obj: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise _Invalid(f"missing field {name!r}")
        return None
    if not isinstance(value, str):
        raise _Invalid(f"field {name!r} must be a string, not {_kind(value)}")
    return value


def _required_str(obj: dict[str, Any], name: str) -> str:
    value = (_str(obj, name, required=True) or "").strip()
    if not value:
        raise _Invalid(f"field {name!r} is empty")
    return value


def _optional_str(obj: dict[str, Any], name: str) -> str | None:
    value = _str(obj, name)
    if value is None:
        return None
    return clean_text(value).strip() or None


def _extra(obj: dict[str, Any]) -> dict[str, Any]:
    given = obj.get("extra")
    if given is not None and not isinstance(given, dict):
        raise _Invalid(f"field 'extra' must be an object, not {_kind(given)}")
    extra: dict[str, Any] = dict(given or {})
    extra.update({k: v for k, v in obj.items() if k not in KNOWN_FIELDS})
    return extra


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _repair_strings(value: Any) -> tuple[Any, bool]:
    """Replace lone surrogates (``"\\ud800"`` is valid JSON, invalid text) everywhere in a value."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            return _SURROGATE.sub("\ufffd", value), True
        return value, False
    if isinstance(value, list):
        pairs = [_repair_strings(v) for v in value]
        return [v for v, _ in pairs], any(d for _, d in pairs)
    if isinstance(value, dict):
        damaged = False
        repaired: dict[str, Any] = {}
        for key, item in value.items():
            new_key, key_damaged = _repair_strings(key)
            new_item, item_damaged = _repair_strings(item)
            repaired[new_key] = new_item
            damaged = damaged or key_damaged or item_damaged
        return repaired, damaged
    return value, False
