"""The one place that defines which bit of ``flag_mask`` stands for which flag.

``customers.flag_mask`` and ``conversations.flag_mask`` hold one bit per :class:`FlagKind`, so the
inbox filters in SQL (``WHERE flag_mask & :bit``). A conversation carries its customer's bits,
except ``breach``, which only the conversation whose deadline passed carries.
Never renumber: masks are stored in workspaces.
"""

from __future__ import annotations

from collections.abc import Iterable

from console.domain import FlagKind

FLAG_BITS: dict[FlagKind, int] = {
    FlagKind.REPEAT: 1 << 0,
    FlagKind.ESCALATING: 1 << 1,
    FlagKind.DUPLICATES: 1 << 2,
    FlagKind.HIGH_REACH: 1 << 3,
    FlagKind.BREACH: 1 << 4,
}


def bit(kind: FlagKind | str) -> int:
    return FLAG_BITS[FlagKind(kind)]


def mask_of(kinds: Iterable[FlagKind | str]) -> int:
    mask = 0
    for kind in kinds:
        mask |= bit(kind)
    return mask


def kinds_of(mask: int) -> list[FlagKind]:
    return [kind for kind, value in FLAG_BITS.items() if mask & value]
