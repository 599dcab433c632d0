"""Text helpers shared by importers, triage and the composer: normalisation and fingerprints."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

#: The Latin blocks (U+0000-U+024F, U+1E00-U+1EFF) and the apostrophe ’: what most texts are
#: written in, and where a character class of ranges replaces a test of Unicode categories.
_LATIN_BLOCKS = (*range(0x250), *range(0x1E00, 0x1F00), 0x2019)
#: A character outside them.
OUTSIDE_LATIN = re.compile(r"[^\x00-\u024f\u1e00-\u1eff\u2019]")


def latin_only(text: str) -> bool:
    """Whether every character of ``text`` is in the Latin blocks (or is ’)."""
    return text.isascii() or OUTSIDE_LATIN.search(text) is None


def latin_class(char: str) -> str:
    """The characters of the Latin blocks that the one-character expression ``char`` matches,
    as the inside of a character class (ranges of them).

    On a text where :func:`latin_only` holds, ``[<class>]`` matches what ``char`` matches, and
    two to four times faster when ``char`` tests Unicode categories (``\\w``, ``\\d``): Python's
    expressions look a range up in a table, a category in the Unicode database.
    """
    one = re.compile(char)
    codes = [code for code in _LATIN_BLOCKS if one.fullmatch(chr(code))]
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


#: The characters of words (letters and digits: ``[^\\W_]``) of the Latin blocks.
LATIN_ALNUM = latin_class(r"[^\W_]")
#: The letters (``[^\\W\\d_]``) of the Latin blocks.
LATIN_LETTERS = latin_class(r"[^\W\d_]")

_MENTION = re.compile(r"(?<![\w@])@\w+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Their twins for ASCII texts, with ASCII's classes (str's \s also takes \x1c-\x1f there)
_ASCII_MENTION = re.compile(r"(?<![A-Za-z0-9_@])@[A-Za-z0-9_]+")
_ASCII_URL = re.compile(
    r"(?:https?://|www\.)[^\t\n\x0b\x0c\r\x1c-\x1f ]+", re.IGNORECASE | re.ASCII
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_LATIN_WORD = re.compile(f"[{LATIN_ALNUM}]+")
_SPACE = re.compile(r"\s+")


def normalize_for_duplicates(text: str) -> str:
    """Lower-case text without @mentions, links, punctuation and extra spacing.

    Two posts are duplicates when these strings are equal: "@Brand my order #123 is LATE!!! http://t.co/x"
    and "my order 123 is late" normalise alike.

    The words (runs of letters and digits) are joined by single spaces: the same as replacing
    every run of other characters by a space and stripping, about three times faster. Links and
    mentions are only searched for in texts that can hold them.
    """
    text = unicodedata.normalize("NFKC", text)
    ascii_only = text.isascii()
    if "://" in text or "www." in text.lower():
        text = (_ASCII_URL if ascii_only else _URL).sub(" ", text)
    if "@" in text:
        text = (_ASCII_MENTION if ascii_only else _MENTION).sub(" ", text)
    folded = text.casefold()
    return " ".join((_LATIN_WORD if latin_only(folded) else _WORD).findall(folded))


def fingerprint(normalized: str) -> int | None:
    """A signed 63-bit fingerprint of a normalised text (None for an empty one)."""
    if not normalized:
        return None
    digest = hashlib.blake2b(normalized.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


#: json.dumps(extra, ensure_ascii=False, default=str) without building an encoder per message.
_EXTRA_JSON = json.JSONEncoder(ensure_ascii=False, default=str).encode


def extra_json(extra: dict[str, Any]) -> str | None:
    """A message's ``extra`` as the messages table stores it (None when it has nothing)."""
    return _EXTRA_JSON(extra) if extra else None


def snippet(text: str, limit: int = 160) -> str:
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def clean_text(raw: bytes | str) -> str:
    """Text from any bytes: invalid UTF-8 is replaced (U+FFFD), never dropped; NULs removed."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return raw.replace("\x00", "")
