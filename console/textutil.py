"""Text helpers shared by importers, triage and the composer: normalisation and fingerprints."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

_MENTION = re.compile(r"(?<![\w@])@\w+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
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
    if "://" in text or "www." in text.lower():
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    return " ".join(_WORD.findall(text.casefold()))


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
