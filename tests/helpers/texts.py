"""Random texts that mix scripts, for checking a fast path against the general one."""

from __future__ import annotations

import random

#: ASCII letters, digits and punctuation; Latin letters with odd case folding ("İ", "ß", "ŉ");
#: digits that \w takes ("²", "½"); a ligature and full-width letters (NFKC changes them);
#: a combining mark; the apostrophes; Greek, Cyrillic and CJK letters; the edges of the Latin
#: blocks (U+024F, U+0250, U+1EFF, U+1F00).
MIXED_SCRIPT = (
    list("abcXYZ  '’-_1.!?,@#") + list("²½İıßŉǰÆøæœ€ĳéÉ") + ["\ufb01", "Ｗ", "\u0301", "\u2018"]
) + [chr(c) for c in (0x3B1, 0x416, 0x4E2D, 0x1E9E, 0x24F, 0x250, 0x1EFF, 0x1F00)]


def mixed_texts(count: int, seed: int, longest: int = 40) -> list[str]:
    """``count`` random strings of :data:`MIXED_SCRIPT`, the same for the same ``seed``."""
    rng = random.Random(seed)
    return [
        "".join(rng.choice(MIXED_SCRIPT) for _ in range(rng.randint(1, longest)))
        for _ in range(count)
    ]
