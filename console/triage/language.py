"""Offline language detection of messages, restricted to the languages we support.

:class:`LinguaDetector` wraps lingua-language-detector, built lazily once per process (building and
loading its models is the slow part) and restricted to :data:`SUPPORTED_LANGUAGES`. Before asking
lingua it:

- drops links, @mentions and the ``#`` of hashtags;
- returns None for texts with fewer than ``min_letters`` letters (too short to tell: "thanks",
  "ok!!") and for texts mostly in a non-Latin script (Japanese, Arabic...: not a language we
  support, and lingua restricted to our languages would pick a wrong one);
- takes a clear stop-word vote as the answer when one language's function words dominate (at
  least :data:`HINT_MIN_HITS` hits and :data:`HINT_RATIO` times any other language's). This skips
  lingua for most ordinary sentences; on the TWCS tweets it agrees with lingua's answer on over
  99% of the texts it decides (see ``tests/unit/triage/test_triage_language.py``).

Lingua runs in high-accuracy mode for short texts and in low-accuracy mode (about twice as fast)
for texts of :data:`LOW_ACCURACY_CHARS` characters or more, where lingua's own documentation says
the two modes agree.

Anything with a ``detect(texts) -> list[str | None]`` method can stand in (tests inject one).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from console.textutil import LATIN_LETTERS, latin_only
from console.triage.lexicon import SUPPORTED_LANGUAGES, lexicon

HINT_MIN_HITS = 3
HINT_RATIO = 3.0
LOW_ACCURACY_CHARS = 120

_STRIP = re.compile(r"(?:https?://|www\.)\S+|(?<![\w@])@\w+", re.IGNORECASE)
#: _STRIP for ASCII texts, with ASCII's classes (\\s of str also takes \\x1c-\\x1f there)
_ASCII_STRIP = re.compile(
    r"(?:https?://|www\.)[^\t\n\x0b\x0c\r\x1c-\x1f ]+|(?<![A-Za-z0-9_@])@[A-Za-z0-9_]+",
    re.IGNORECASE | re.ASCII,
)
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)


# The same expressions for texts written in the Latin blocks only (console.textutil.latin_only):
# the same matches, three times faster. Texts with any other character use the general ones.
_LATIN_LETTERS = re.compile(f"[{LATIN_LETTERS}]+")
_LATIN_TOKEN = re.compile(f"[{LATIN_LETTERS}]+(?:['’][{LATIN_LETTERS}]+)*")
#: lingua answers remembered per accuracy mode (then the memo starts again)
LINGUA_MEMO = 200_000


class LanguageDetector(Protocol):
    def detect(self, texts: Sequence[str]) -> list[str | None]:
        """ISO 639-1 code of each text, or None when it cannot tell."""
        ...


@lru_cache(maxsize=8192)
def prepare(text: str) -> str:
    """The text without links, @mentions and hashtag signs (they say nothing of the language)."""
    # Most texts have neither a link nor a mention: skip the expression for them.
    if "@" in text or "://" in text or "www." in text.lower():
        text = (_ASCII_STRIP if text.isascii() else _STRIP).sub(" ", text)
    return text.replace("#", " ").strip()


def latin_letters(text: str) -> tuple[int, int]:
    """(letters, letters in the Latin script)."""
    letters = sum(map(str.isalpha, text))
    if text.isascii():
        return letters, letters
    # Only characters outside ASCII can be letters of another script.
    other = 0
    for run in _NON_ASCII.findall(text):
        for ch in run:
            if ch.isalpha():
                code = ord(ch)
                if not (code < 0x250 or 0x1E00 <= code <= 0x1EFF):
                    other += 1
    return letters, letters - other


@lru_cache(maxsize=1)
def _stopword_languages() -> dict[str, tuple[str, ...]]:
    """Stop word -> the supported languages that have it, in :data:`SUPPORTED_LANGUAGES` order."""
    index: dict[str, list[str]] = {}
    for language in SUPPORTED_LANGUAGES:
        for word in lexicon(language).stopwords:
            index.setdefault(word, []).append(language)
    return {word: tuple(languages) for word, languages in index.items()}


def stopword_hint(text: str) -> str | None:
    """The language whose function words clearly dominate ``text``, else None."""
    if text.isascii():  # casefold is lower() there, and the whole text can be folded at once
        return _hint_of(_LATIN_TOKEN.findall(text.lower()))
    return _hint_of(_folded_tokens(text, latin_only(text)))


def _folded_tokens(text: str, in_latin: bool) -> list[str]:
    """The words of a text beyond ASCII, case-folded, for :func:`_hint_of`."""
    tokens = (_LATIN_TOKEN if in_latin else _TOKEN).findall(text)
    return [t.casefold().replace("’", "'") for t in tokens]


def _hint_of(tokens: Sequence[str]) -> str | None:
    """:func:`stopword_hint` of a text's tokens (folded as it folds them)."""
    index = _stopword_languages()
    known = [index[token] for token in tokens if token in index]
    if len(known) < HINT_MIN_HITS:  # no language can have enough
        return None
    found: dict[str, int] = {}
    for languages in known:
        for language in languages:
            found[language] = found.get(language, 0) + 1
    # In language order, as ties are ranked (a tie at the top gives no answer anyway).
    counts = {language: found[language] for language in SUPPORTED_LANGUAGES if language in found}
    ranked = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    best, hits = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    if hits >= HINT_MIN_HITS and hits >= HINT_RATIO * second:
        return best
    return None


_lock = threading.Lock()
_built: dict[bool, Any] = {}


def _lingua(low_accuracy: bool, *, preload: bool = False) -> Any:
    """The process-wide lingua detector (one per accuracy mode), built on first use.

    ``preload``: when this call builds it, load every model now, which lingua does on all cores
    (half the wall time of loading them one by one at the first detection, for the same CPU
    time: for bulk work, whose first texts wait on the models).
    """
    with _lock:
        detector = _built.get(low_accuracy)
        if detector is None:
            from lingua import IsoCode639_1, LanguageDetectorBuilder

            codes = [getattr(IsoCode639_1, code.upper()) for code in SUPPORTED_LANGUAGES]
            builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
            if low_accuracy:
                builder = builder.with_low_accuracy_mode()
            if preload:
                builder = builder.with_preloaded_language_models()
            detector = builder.build()
            _built[low_accuracy] = detector
        return detector


def lingua_key(text: str) -> str:
    """What lingua reads of a text: its words (runs of letters), lower-cased, one space apart.

    Lingua lower-cases a text and splits it into runs of letters; digits, punctuation and spacing
    only separate words. It gives this form the answer it gives the text (checked on every TWCS
    and generated text that reaches it, in both accuracy modes; see
    ``tests/unit/triage/test_triage_language.py``), so texts that differ only in order numbers,
    times or punctuation are asked once, and lingua reads less.
    """
    lowered = text.lower()
    # (lower-casing can leave the Latin blocks: "İ" becomes "i" and a combining dot)
    in_latin = latin_only(lowered)
    return " ".join((_LATIN_LETTERS if in_latin else _LETTERS).findall(lowered))


class LinguaDetector:
    """Language detection with lingua, behind the cheap checks described in the module docs."""

    def __init__(
        self, min_letters: int = 12, *, use_hints: bool = True, parallel: bool = True
    ) -> None:
        self.min_letters = min_letters
        self.use_hints = use_hints
        # lingua's parallel detection spreads one call over every core; a worker process that
        # has a core of its own detects one text after the other (the same answers).
        self.parallel = parallel
        # lingua's answers by :func:`lingua_key`, one memo per accuracy mode
        self._memo: dict[bool, dict[str, str | None]] = {False: {}, True: {}}

    def detect(self, texts: Sequence[str]) -> list[str | None]:
        results: list[str | None] = [None] * len(texts)
        short: list[int] = []
        long: list[int] = []
        prepared = [prepare(t) for t in texts]
        # lingua's key of each text that goes to lingua (see lingua_key)
        keyed: dict[int, str] = {}
        for i, text in enumerate(prepared):
            if text.isascii():
                # One pass for the three checks: in ASCII the runs of letters are what
                # latin_letters counts and lingua_key joins, and, with no apostrophe, the
                # tokens of stopword_hint.
                lowered = text.lower()
                runs = _LATIN_LETTERS.findall(lowered)
                if sum(map(len, runs)) < self.min_letters:
                    continue
                hint = None
                if self.use_hints:
                    hint = _hint_of(_LATIN_TOKEN.findall(lowered) if "'" in lowered else runs)
                if hint is None:
                    keyed[i] = " ".join(runs)
            else:
                in_latin = latin_only(text)
                if in_latin:  # every letter is a Latin one
                    letters = latin = sum(map(str.isalpha, text))
                else:
                    letters, latin = latin_letters(text)
                if letters < self.min_letters or latin * 2 < letters:
                    continue
                hint = _hint_of(_folded_tokens(text, in_latin)) if self.use_hints else None
            if hint is not None:
                results[i] = hint
            elif len(text) >= LOW_ACCURACY_CHARS:
                long.append(i)
            else:
                short.append(i)
        for indexes, low in ((short, False), (long, True)):
            if not indexes:
                continue
            memo = self._memo[low]
            keys = [keyed[i] if i in keyed else lingua_key(prepared[i]) for i in indexes]
            answers = {k: memo[k] for k in keys if k in memo}
            asked = [k for k in dict.fromkeys(keys) if k not in answers]
            if asked:
                lingua = _lingua(low)
                if self.parallel:
                    found = lingua.detect_languages_in_parallel_of(asked)
                else:
                    found = [lingua.detect_language_of(text) for text in asked]
                if len(memo) + len(asked) > LINGUA_MEMO:
                    memo.clear()
                for key, language in zip(asked, found, strict=True):
                    answers[key] = memo[key] = (
                        None if language is None else language.iso_code_639_1.name.lower()
                    )
            for i, key in zip(indexes, keys, strict=True):
                results[i] = answers[key]
        return results


_default: LinguaDetector | None = None


def default_detector(min_letters: int = 12) -> LinguaDetector:
    """A shared :class:`LinguaDetector` (lingua itself is built once whatever this returns)."""
    global _default
    if _default is None or _default.min_letters != min_letters:
        _default = LinguaDetector(min_letters)
    return _default
