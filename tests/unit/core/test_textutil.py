"""Duplicate normalisation: the fast form gives exactly what the rule says, on real and odd texts.

The stored ``norm_hash`` of every message comes from :func:`normalize_for_duplicates`, so a
faster implementation must give the same strings as the rule it implements (NFKC, links and
@mentions out, case-folded, every run of non-word characters one space, stripped); otherwise
old and new messages would stop matching as duplicates.
"""

from __future__ import annotations

import csv
import random
import re
import string
import unicodedata
from pathlib import Path

import pytest

from console.textutil import fingerprint, normalize_for_duplicates
from tests.helpers.texts import mixed_texts

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w+")


def by_the_rule(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = text.casefold()
    text = re.sub(r"[\W_]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


ODD = [
    "",
    "   ",
    "@",
    "https://",
    "a  b\t\tc\n\nd",
    "x\u00a0\u2003y\u200bz",
    "__a__b__",
    " @x @@y www.Foo.com/@z HTTP://A.b WWW.EXAMPLE.org",
    "mail me: me@example.com or @Brand_Care!!",
    "ß Straße \ufb01ne ＷＷＷ．ｆｕｌｌ．ｗｉｄｔｈ",
    "١٢٣ abc 🤔🤔 ¿qué? «ça» — 東京",
    "@Brand My order #123 is LATE!!! http://t.co/x",
]


@pytest.mark.parametrize("text", ODD)
def test_odd_texts_normalise_by_the_rule(text: str) -> None:
    assert normalize_for_duplicates(text) == by_the_rule(text)


def test_random_texts_of_mixed_scripts_normalise_by_the_rule() -> None:
    # the fast expression for texts of the Latin blocks, the general one for the others
    for text in mixed_texts(20000, seed=3):
        assert normalize_for_duplicates(text) == by_the_rule(text), text


def test_random_ascii_texts_with_links_and_mentions_normalise_by_the_rule() -> None:
    rng = random.Random(4)
    parts = [*string.ascii_letters, *string.digits, *" \t\n\x1c\x1f@#._:/!-"]
    parts += ["http://", "https://", "www.", "WWW.", "HTTPS://", "@Brand", "a@b"]
    for _ in range(30000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(1, 25)))
        assert normalize_for_duplicates(text) == by_the_rule(text), text


def test_the_documented_example() -> None:
    a = normalize_for_duplicates("@Brand my order #123 is LATE!!! http://t.co/x")
    assert a == "my order 123 is late"
    assert fingerprint(a) == fingerprint(normalize_for_duplicates("my order 123 is late"))
    assert fingerprint("") is None


def test_real_tweets_normalise_by_the_rule(shared_data: Path) -> None:
    csv.field_size_limit(1_000_000)
    path = shared_data / "twcs" / "twcs_spotifycares_inbound_15096.csv"
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    assert len(texts) > 15_000
    differing = [t for t in texts if normalize_for_duplicates(t) != by_the_rule(t)]
    assert differing == []
