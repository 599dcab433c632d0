"""Length rules of the channels, and each channel's default limits and reply window.

A rule is a name (the ``length_rule`` of :class:`services.channels.base.Limits`):

- ``x_weighted``: X's weighted count (twitter-text configuration v3, through the maintained
  ``twitter-text-parser`` package): text is NFC-normalised; code points in U+0000-U+10FF,
  U+2000-U+200D, U+2010-U+201F and U+2032-U+2037 weigh 1, all others 2 (CJK, most emoji); an emoji
  sequence (ZWJ families, skin tones, flags, keycaps) counts once, as 2; every URL counts 23.
- ``chars``: Unicode code points (Messenger, WhatsApp, X DMs, Facebook and Instagram comments).
- ``utf8_bytes``: bytes in UTF-8 (Instagram direct messages: under 1000 bytes).
- ``sms_segments``: GSM-7 when every character is in the GSM 03.38 alphabet (the extension table
  ``^{}\\[~]|€`` and form feed cost two septets), 160 septets in one segment and 153 per segment
  when split; otherwise UCS-2, counted in UTF-16 code units (an emoji is two), 70 in one segment
  and 67 per segment when split.
- ``none``: no limit (email, logged phone calls).

:func:`count` measures a text under a rule; :data:`DEFAULT_CHANNEL_RULES` says, per channel, the
rule, the limit and the messaging window of its default reply mode, and :func:`rule_for` the rule
of a given mode ("public" reply or "private" message) where a channel has both.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from console.domain import Channel

RULES = ("x_weighted", "chars", "utf8_bytes", "sms_segments", "none")

DAY_S = 24 * 3600

# GSM 03.38 basic character set (one septet each) and its extension table (escape + one septet).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("\x0c^{}\\[~]|€")

SMS_GSM_SINGLE, SMS_GSM_MULTI = 160, 153
SMS_UCS2_SINGLE, SMS_UCS2_MULTI = 70, 67


@dataclass(frozen=True, slots=True)
class LengthReport:
    """A text measured under a rule.

    ``length`` is in ``unit``; ``limit`` is None when there is none; ``over_by`` is how far past the
    limit the text is (0 when within). ``segments`` and ``encoding`` are set for SMS only.
    """

    rule: str
    length: int
    limit: int | None
    unit: str
    over_by: int = 0
    segments: int | None = None
    encoding: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def is_over(self) -> bool:
        return self.over_by > 0

    @property
    def ratio(self) -> float:
        """How full the text is (0..1+); 0 without a limit."""
        return self.length / self.limit if self.limit else 0.0

    def short(self) -> str:
        """What a counter shows: "212/280", "2 SMS segments (GSM-7)", "1,204 characters"."""
        if self.rule == "sms_segments":
            n = self.segments or 0
            text = f"{n} SMS segment{'s' if n != 1 else ''} ({self.encoding})"
            return f"{text} · {self.length}/{self.limit}" if self.limit else text
        if self.limit is None:
            return f"{self.length:,} {self.unit}"
        return f"{self.length:,}/{self.limit:,}"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule": self.rule,
            "length": self.length,
            "limit": self.limit,
            "unit": self.unit,
            "over_by": self.over_by,
        }
        if self.segments is not None:
            out["segments"] = self.segments
            out["encoding"] = self.encoding
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def count(
    rule: str, text: str, max_length: int | None = None, *, max_segments: int | None = None
) -> LengthReport:
    """Measure ``text`` under ``rule`` against ``max_length`` (and, for SMS, ``max_segments``)."""
    if rule == "x_weighted":
        return _x_weighted(text, max_length)
    if rule == "chars":
        return _within("chars", len(text), max_length, "characters")
    if rule == "utf8_bytes":
        return _within("utf8_bytes", len(text.encode("utf-8")), max_length, "bytes")
    if rule == "sms_segments":
        return _sms(text, max_length, max_segments)
    if rule == "none":
        return LengthReport("none", len(text), None, "characters")
    raise ValueError(f"unknown length rule {rule!r}; use one of {', '.join(RULES)}")


def _within(rule: str, length: int, limit: int | None, unit: str) -> LengthReport:
    over = max(0, length - limit) if limit is not None else 0
    return LengthReport(rule, length, limit, unit, over_by=over)


def x_weighted_length(text: str) -> int:
    """X's weighted length of ``text`` (0 for an empty text)."""
    if not text:
        return 0
    # Imported on first use: twitter-text compiles its emoji expressions at import (~0.3 s),
    # which the window's start-up should not wait for.
    from twitter_text import parse_tweet

    return int(parse_tweet(text).weightedLength)


def _x_weighted(text: str, limit: int | None) -> LengthReport:
    length = x_weighted_length(text)
    warnings: list[str] = []
    if text and _has_invalid_x_characters(text):
        warnings.append("contains characters X refuses (U+FFFE, U+FEFF, U+FFFF or direction marks)")
    report = _within("x_weighted", length, limit, "weighted characters")
    return LengthReport(
        report.rule,
        report.length,
        report.limit,
        report.unit,
        report.over_by,
        warnings=tuple(warnings),
    )


_X_INVALID = frozenset("\ufffe\ufeff\uffff")


def _has_invalid_x_characters(text: str) -> bool:
    return any(ch in _X_INVALID for ch in unicodedata.normalize("NFC", text))


def gsm7_units(text: str) -> int | None:
    """Septets of ``text`` in GSM-7, or None when a character is outside the alphabet."""
    units = 0
    for ch in text:
        if ch in _GSM_BASIC:
            units += 1
        elif ch in _GSM_EXTENDED:
            units += 2
        else:
            return None
    return units


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def sms_segments(text: str) -> tuple[int, str, int]:
    """(segments, encoding, units) of an SMS body."""
    units = gsm7_units(text)
    if units is not None:
        single, multi, encoding = SMS_GSM_SINGLE, SMS_GSM_MULTI, "GSM-7"
    else:
        units, single, multi, encoding = utf16_units(text), SMS_UCS2_SINGLE, SMS_UCS2_MULTI, "UCS-2"
    if units == 0:
        return 0, encoding, 0
    if units <= single:
        return 1, encoding, units
    return -(-units // multi), encoding, units


def _sms(text: str, max_chars: int | None, max_segments: int | None) -> LengthReport:
    segments, encoding, units = sms_segments(text)
    multi = SMS_GSM_MULTI if encoding == "GSM-7" else SMS_UCS2_MULTI
    single = SMS_GSM_SINGLE if encoding == "GSM-7" else SMS_UCS2_SINGLE
    limits: list[int] = []
    if max_segments is not None:
        limits.append(single if max_segments == 1 else max_segments * multi)
    if max_chars is not None:
        limits.append(max_chars)
    limit = min(limits) if limits else None
    over = max(0, units - limit) if limit is not None else 0
    warnings: list[str] = []
    if encoding == "UCS-2" and text:
        odd = sorted({ch for ch in text if ch not in _GSM_BASIC and ch not in _GSM_EXTENDED})
        shown = " ".join(repr(ch) for ch in odd[:5]) + (" …" if len(odd) > 5 else "")
        warnings.append(f"UCS-2 (70 per SMS, not 160) because of {shown}")
    return LengthReport(
        "sms_segments",
        units,
        limit,
        "characters",
        over_by=over,
        segments=segments,
        encoding=encoding,
        warnings=tuple(warnings),
    )


# -- channel rules -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelRule:
    """How long a reply may be on one channel in one mode, and when it may be sent.

    ``window_s``: replies are allowed only this long after the customer's last inbound message;
    ``extended_window_s``: a human agent may still answer until then (Messenger's HUMAN_AGENT tag);
    ``can_reply``: False for channels we only log (phone calls).
    """

    channel: Channel
    mode: str
    rule: str
    max_length: int | None
    window_s: int | None = None
    extended_window_s: int | None = None
    max_segments: int | None = None
    can_reply: bool = True
    label: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def measure(self, text: str) -> LengthReport:
        return count(self.rule, text, self.max_length, max_segments=self.max_segments)


_X, _FB, _IG = Channel.X, Channel.FACEBOOK, Channel.INSTAGRAM

#: (channel, mode) -> rule. "public" is a public post or comment, "private" a DM or message.
MODE_RULES: dict[tuple[Channel, str], ChannelRule] = {
    (_X, "public"): ChannelRule(_X, "public", "x_weighted", 280, label="X reply"),
    (_X, "private"): ChannelRule(_X, "private", "chars", 10_000, label="X direct message"),
    (_FB, "public"): ChannelRule(_FB, "public", "chars", 8000, label="Facebook comment"),
    # A private reply to a comment is allowed for 7 days after the comment.
    (_FB, "private"): ChannelRule(
        _FB, "private", "chars", 2000, window_s=7 * DAY_S, label="Facebook private reply"
    ),
    (_IG, "public"): ChannelRule(_IG, "public", "chars", 2200, label="Instagram comment"),
    (_IG, "private"): ChannelRule(
        _IG,
        "private",
        "utf8_bytes",
        1000,
        window_s=DAY_S,
        extended_window_s=7 * DAY_S,
        label="Instagram direct message",
    ),
    (Channel.MESSENGER, "private"): ChannelRule(
        Channel.MESSENGER,
        "private",
        "chars",
        2000,
        window_s=DAY_S,
        extended_window_s=7 * DAY_S,
        label="Messenger message",
    ),
    (Channel.WHATSAPP, "private"): ChannelRule(
        Channel.WHATSAPP,
        "private",
        "chars",
        4096,
        window_s=DAY_S,
        label="WhatsApp message",
        notes=("outside the 24-hour window only approved template messages may be sent",),
    ),
    (Channel.SMS, "private"): ChannelRule(
        Channel.SMS, "private", "sms_segments", 1600, max_segments=10, label="SMS"
    ),
    (Channel.EMAIL, "private"): ChannelRule(Channel.EMAIL, "private", "none", None, label="Email"),
    (Channel.PHONE, "private"): ChannelRule(
        Channel.PHONE,
        "private",
        "none",
        None,
        can_reply=False,
        label="Phone call",
        notes=("phone calls are logged, not answered in writing: call the customer back",),
    ),
}

#: The modes each channel offers, the default first.
CHANNEL_MODES: dict[Channel, tuple[str, ...]] = {}
for _channel, _mode in MODE_RULES:
    CHANNEL_MODES.setdefault(_channel, ())
    CHANNEL_MODES[_channel] = (*CHANNEL_MODES[_channel], _mode)

#: The rule of each channel's default mode (public where the channel has it).
DEFAULT_CHANNEL_RULES: dict[Channel, ChannelRule] = {
    channel: MODE_RULES[(channel, modes[0])] for channel, modes in CHANNEL_MODES.items()
}


def modes_of(channel: Channel | str) -> tuple[str, ...]:
    return CHANNEL_MODES[Channel(channel)]


def rule_for(channel: Channel | str, mode: str | None = None) -> ChannelRule:
    """The rule of ``channel`` in ``mode`` (its default mode when None or not offered)."""
    channel = Channel(channel)
    if mode is not None and (channel, mode) in MODE_RULES:
        return MODE_RULES[(channel, mode)]
    return DEFAULT_CHANNEL_RULES[channel]


def twitter_text_config() -> dict[str, object]:
    """The twitter-text configuration the counter uses (v3), for tests and the curious."""
    from twitter_text.config import config

    return dict(config["defaults"])
