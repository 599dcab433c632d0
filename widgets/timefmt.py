"""Short, human time texts for rows and headers ("4m", "2h 5m", "Tue 14:05", "12 Nov 2024")."""

from __future__ import annotations

from datetime import UTC, datetime


def ago(seconds: float) -> str:
    """A compact duration: ``now``, ``45s``, ``12m``, ``2h 5m``, ``3d 4h``, ``5w``."""
    s = max(0, int(seconds))
    if s < 45:
        return "now"
    minutes = s // 60
    if minutes < 1:
        return f"{s}s"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes and hours < 10 else f"{hours}h"
    days, hours = divmod(hours, 24)
    if days < 14:
        return f"{days}d {hours}h" if hours and days < 3 else f"{days}d"
    return f"{days // 7}w"


def local(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).astimezone()


def when(epoch: float, now: float) -> str:
    """A moment relative to today: ``14:05``, ``Yesterday 09:12``, ``Tue 09:12``, ``12 Nov 2024``."""
    moment, today = local(epoch), local(now)
    days = (today.date() - moment.date()).days
    if days == 0:
        return moment.strftime("%H:%M")
    if days == 1:
        return "Yesterday " + moment.strftime("%H:%M")
    if 1 < days < 7:
        return moment.strftime("%a %H:%M")
    if moment.year == today.year:
        return moment.strftime("%d %b %H:%M").lstrip("0")
    return moment.strftime("%d %b %Y").lstrip("0")


def full(epoch: float) -> str:
    """An unambiguous local timestamp for tooltips."""
    return local(epoch).strftime("%a %d %b %Y %H:%M:%S %Z")
