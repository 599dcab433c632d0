"""Length rules: X's weighted counting against twitter-text's published conformance cases
(``conformance/validate.yml``, v3 section ``WeightedTweetsWithDiscountedEmojiCounterTest``, Apache-2.0),
SMS segments in GSM-7 and UCS-2, and each channel's defaults."""

from __future__ import annotations

import pytest

from console.domain import Channel
from console.limits import (
    DEFAULT_CHANNEL_RULES,
    count,
    modes_of,
    rule_for,
    sms_segments,
)

ZWJ = "\u200d"
FAMILY = f"\U0001f468{ZWJ}\U0001f469{ZWJ}\U0001f467{ZWJ}\U0001f466"
X_COUNT = "xxxxxxxxxx-"
CJK160 = (
    "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。朱雀桥边野草花，乌衣巷口夕阳斜。"
    "旧时王谢堂前燕，飞入寻常百姓家。朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"
    "泪湿罗巾梦不成，夜深前殿按歌声。红颜未老恩先断，斜倚薰笼坐到明。独在异乡为异客，每逢佳节倍思亲。"
    "遥知兄弟登高处，遍插茱萸少一人。"
)
KANA = "あいうえおかきくけこ"

# (description, text, weighted length) from the conformance file
CONFORMANCE = [
    ("Regular Tweet with url", "Hi http://test.co", 26),
    ("Just url", "http://test.co", 23),
    ("Long tweet, overflow at char index 280", "285 chars-" + X_COUNT * 25, 285),
    (
        "Long tweet with url in the middle",
        "285 chars- http://www.twitter.com/jack " + X_COUNT * 24,
        299,
    ),
    ("Long tweet with url at the end", X_COUNT * 24 + " http://www.twitter.com/jack ", 289),
    ("10 url string, no overflow", "https://www.twitter.com/aloha " * 10, 240),
    ("160 CJK char", CJK160, 320),
    ("160 emoji char", "\U0001f637" * 160, 320),
    ("3 latin char + 160 CJK char", "the" + CJK160, 323),
    ("'Á' is normalized into 1 char", "A\u0301B", 2),
    ("שּׁ is normalized into 3 chars", "A\ufb2c", 4),
    ("mix of single and double word characters", f"H\U0001f431\u263a{FAMILY}", 7),
    ("emoji inside the BMP", "\U0001f637\U0001f47e\U0001f621\U0001f525\U0001f4a9", 10),
    ("skin tone modifiers", f"\U0001f64b\U0001f3fd\U0001f468{ZWJ}\U0001f3a4", 4),
    (
        "General Punctuation with visible spaces, no ZWJ/ZWNJ",
        "This is a tweet with general punctuation characters: "
        "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b "
        "‐ ‑ ‒ – — ― ‖  ‗ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ ‵ ‶ ‷",
        110,
    ),
    ("64 character domain without protocol", "randomurl" * 7 + "s.com", 68),
    (
        "CJK chars greater than 63 punycode encoded chars in the host",
        KANA * 12 + " http://" + KANA * 5 + "あいう.com",
        358,
    ),
    (
        "CJK chars less than 63 punycode encoded chars in the host",
        KANA * 12 + " http://" + KANA * 5 + "あい.com",
        264,
    ),
    ("140 family emoji", FAMILY * 140, 280),
    ("Emoji with a leading character in the latin range", "1\u20e3", 2),
    (
        "Unicode 10.0 emoji",
        "Unicode 10.0 emoji: \U0001f92a; \U0001f9d5; \U0001f9d5\U0001f3fe; "
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
        34,
    ),
    ("Unicode 9.0 emoji", "Unicode 9.0 emoji: \U0001f920; \U0001f483; \U0001f483\U0001f3fe", 29),
    ("directional characters", "\u2066\u202ahttp://foobar.پاکستان/\u202c\u2069", 31),
]


@pytest.mark.parametrize(
    ("description", "text", "expected"), CONFORMANCE, ids=[c[0] for c in CONFORMANCE]
)
def test_x_weighted_matches_twitter_text_conformance(
    description: str, text: str, expected: int
) -> None:
    report = count("x_weighted", text, 280)
    assert report.length == expected, description
    assert report.is_over == (expected > 280)
    assert report.over_by == max(0, expected - 280)


def test_x_counter_text() -> None:
    assert count("x_weighted", "a" * 212, 280).short() == "212/280"
    assert count("x_weighted", "a" * 281, 280).over_by == 1
    assert count("x_weighted", "", 280).length == 0


@pytest.mark.parametrize(
    ("text", "segments", "encoding", "units"),
    [
        ("", 0, "GSM-7", 0),
        ("x" * 160, 1, "GSM-7", 160),
        ("x" * 161, 2, "GSM-7", 161),
        ("x" * 306, 2, "GSM-7", 306),
        ("x" * 307, 3, "GSM-7", 307),
        ("€" * 80, 1, "GSM-7", 160),  # extension table: two septets each
        ("€" * 81, 2, "GSM-7", 162),
        ("[]{}^~|\\", 1, "GSM-7", 16),
        ("ÄÖÑÜäöñüàé", 1, "GSM-7", 10),
        ("x" * 70 + "ç", 2, "UCS-2", 71),  # lowercase ç is not GSM-7
        ("x" * 69 + "ç", 1, "UCS-2", 70),
        ("\U0001f600" * 35, 1, "UCS-2", 70),  # an emoji is two UTF-16 code units
        ("\U0001f600" * 36, 2, "UCS-2", 72),
        ("y" * 134, 1, "GSM-7", 134),
        ("Привет" * 12, 2, "UCS-2", 72),
        ("a" * 134 + "ł", 3, "UCS-2", 135),
    ],
)
def test_sms_segments(text: str, segments: int, encoding: str, units: int) -> None:
    assert sms_segments(text) == (segments, encoding, units)


def test_sms_report_names_what_forced_ucs2_and_caps_segments() -> None:
    report = count("sms_segments", "Grazie, ciao 😀 ç", 1600, max_segments=10)
    assert report.encoding == "UCS-2" and report.limit == 670
    assert "'ç'" in report.warnings[0] and "UCS-2" in report.warnings[0]
    assert report.short() == "1 SMS segment (UCS-2) · 17/670"
    long = count("sms_segments", "x" * 1531, 1600, max_segments=10)
    assert (long.segments, long.limit, long.over_by) == (11, 1530, 1)


def test_chars_bytes_and_none() -> None:
    assert count("chars", "é😀", 2000).length == 2
    assert count("utf8_bytes", "é😀", 1000).length == 6
    none = count("none", "x" * 50_000)
    assert none.limit is None and not none.is_over and none.short() == "50,000 characters"
    with pytest.raises(ValueError, match="unknown length rule"):
        count("tweets", "x")


def test_channel_defaults() -> None:
    x = DEFAULT_CHANNEL_RULES[Channel.X]
    assert (x.rule, x.max_length, x.mode) == ("x_weighted", 280, "public")
    assert rule_for("x", "private").max_length == 10_000
    sms = DEFAULT_CHANNEL_RULES[Channel.SMS]
    assert (sms.rule, sms.max_segments, sms.max_length) == ("sms_segments", 10, 1600)
    messenger = DEFAULT_CHANNEL_RULES[Channel.MESSENGER]
    assert (messenger.max_length, messenger.window_s, messenger.extended_window_s) == (
        2000,
        86400,
        7 * 86400,
    )
    whatsapp = DEFAULT_CHANNEL_RULES[Channel.WHATSAPP]
    assert (whatsapp.max_length, whatsapp.window_s, whatsapp.extended_window_s) == (
        4096,
        86400,
        None,
    )
    assert rule_for("instagram", "private").max_length == 1000
    assert rule_for("instagram", "public").max_length == 2200
    assert rule_for("facebook", "public").max_length == 8000
    assert DEFAULT_CHANNEL_RULES[Channel.EMAIL].rule == "none"
    assert not DEFAULT_CHANNEL_RULES[Channel.PHONE].can_reply
    assert modes_of("x") == ("public", "private") and modes_of("sms") == ("private",)
    assert set(DEFAULT_CHANNEL_RULES) == set(Channel)
