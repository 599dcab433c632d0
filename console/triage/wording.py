"""Plain words for flag reasons: durations, channel names, lists ("X and email")."""

from __future__ import annotations

from collections.abc import Iterable

from console.domain import Channel

_CHANNEL_WORDS = {
    Channel.X: "X",
    Channel.EMAIL: "email",
    Channel.FACEBOOK: "Facebook",
    Channel.INSTAGRAM: "Instagram",
    Channel.MESSENGER: "Messenger",
    Channel.WHATSAPP: "WhatsApp",
    Channel.SMS: "SMS",
    Channel.PHONE: "phone",
}
_PUBLIC_POSTS = {
    Channel.X: "a public tweet",
    Channel.FACEBOOK: "a public Facebook post",
    Channel.INSTAGRAM: "a public Instagram comment",
}
_PRIVATE_OF_PUBLIC = {
    Channel.X: "X direct messages",
    Channel.FACEBOOK: "Facebook private messages",
    Channel.INSTAGRAM: "Instagram direct messages",
}


def channel_word(channel: str) -> str:
    try:
        return _CHANNEL_WORDS[Channel(channel)]
    except ValueError:
        return channel


def public_post(channel: str) -> str:
    try:
        return _PUBLIC_POSTS.get(Channel(channel), f"a public {channel_word(channel)} post")
    except ValueError:
        return f"a public {channel} post"


def private_place(channel: str) -> str:
    """Where a private message was written: "email", "SMS", "X direct messages"..."""
    try:
        return _PRIVATE_OF_PUBLIC.get(Channel(channel), channel_word(channel))
    except ValueError:
        return channel


def and_list(items: Iterable[str]) -> str:
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


def duration(seconds: float) -> str:
    """A rounded human duration: "under a minute", "25 minutes", "3 hours", "5 days"."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return plural(round(seconds / 60), "minute")
    if seconds < 48 * 3600:
        hours = round(seconds / 3600, 1)
        whole = int(hours)
        return plural(whole, "hour") if hours == whole else f"{hours:g} hours"
    return plural(round(seconds / 86400), "day")


def signed(value: float) -> str:
    """A sentiment as "+0.4" / "-0.8" (never "-0.0")."""
    text = f"{value:+.1f}"
    return "+0.0" if text == "-0.0" else text


def quote(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return f"\u201c{flat}\u201d"
