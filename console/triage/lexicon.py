"""The small multilingual word lists of ``resources/lexicon/<lang>.json``, loaded once and compiled.

Each file holds, for one language: ``stopwords`` (frequent function words, a cheap language hint),
``negations``, ``intensifiers``, ``contrast`` words ("but"), ``positive`` and ``negative`` sentiment
words, and ``escalation_strong`` / ``escalation_weak`` terms (cancel, refund, lawyer... / still,
again, nobody...).

Entry syntax: ``word`` (valence +-2 in the sentiment lists), ``word:3`` (an explicit valence; a
negative number inside the positive list is allowed for phrases like ``"non funziona:-2"``),
``stem*`` (any word starting with ``stem``), a phrase of several words, and ``*`` alone for any one
word (``"switch* to *"``). Matching ignores case and accents: entries and text are folded alike.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

#: The languages we detect and have word lists for (ISO 639-1).
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "it", "fi", "es", "de", "fr", "pt", "sv")

DEFAULT_VALENCE = 2.0
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_PATTERN_NON_WORD = re.compile(r"[^\w*]+", re.UNICODE)


#: Combining marks of the scripts our languages use (accents, diaeresis, ring, cedilla, tilde).
_COMBINING = dict.fromkeys(range(0x300, 0x370))


def fold(text: str) -> str:
    """Case- and accent-insensitive form: ``"Réclamation"`` -> ``"reclamation"``."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text.casefold()).translate(_COMBINING)


def fold_words(text: str) -> str:
    """Folded text with punctuation turned into single spaces and a space at each end."""
    return " " + _NON_WORD.sub(" ", fold(text)).strip() + " "


def _fold_word(word: str) -> str:
    if word.isascii():
        return word
    return _NON_WORD.sub("", fold(word)) or word


@dataclass(frozen=True, slots=True)
class FoldedText:
    """``fold_words`` of a text that remembers which original word each folded word came from."""

    folded: str
    starts: tuple[int, ...]  # offset of each folded word in ``folded``
    words: tuple[str, ...]  # the original words, casefolded but with their accents

    @classmethod
    def of(cls, text: str) -> FoldedText:
        words = [w for w in _NON_WORD.split(text.casefold()) if w]
        parts = words if text.isascii() else [_fold_word(w) for w in words]
        starts = []
        offset = 1
        for part in parts:
            starts.append(offset)
            offset += len(part) + 1
        return cls(" " + " ".join(parts) + " ", tuple(starts), tuple(words))

    def original(self, start: int, end: int) -> str:
        """The original words covering ``folded[start:end]``."""
        picked = [w for s, w in zip(self.starts, self.words, strict=True) if start <= s < end]
        return " ".join(picked)


@dataclass(frozen=True, slots=True)
class Lexicon:
    language: str
    stopwords: frozenset[str]  # casefolded, accents kept: "för" is Swedish, "for" English
    negations: frozenset[str]
    intensifiers: frozenset[str]
    contrast: frozenset[str]
    words: dict[str, float]  # folded word -> valence
    stems: tuple[tuple[str, float], ...]  # folded prefix -> valence, longest first
    phrases: dict[str, tuple[tuple[tuple[str, ...], float], ...]]  # first word -> phrases
    strong: re.Pattern[str] | None
    weak: re.Pattern[str] | None

    def valence_at(self, tokens: list[str], index: int) -> tuple[float, int] | None:
        """(valence, tokens consumed) of a sentiment entry starting at ``tokens[index]``."""
        token = tokens[index]
        for phrase, valence in self.phrases.get(token, ()):
            if tuple(tokens[index : index + len(phrase)]) == phrase:
                return valence, len(phrase)
        exact = self.words.get(token)
        if exact is not None:
            return exact, 1
        for stem, stem_valence in self.stems:
            if token.startswith(stem):
                return stem_valence, 1
        return None

    def escalation_terms(self, text: FoldedText) -> tuple[list[str], list[str]]:
        """Distinct strong and weak escalation terms of a text, as the customer wrote them."""
        return _found(self.strong, text), _found(self.weak, text)


def _found(pattern: re.Pattern[str] | None, text: FoldedText) -> list[str]:
    if pattern is None:
        return []
    seen: dict[str, None] = {}
    for match in pattern.finditer(text.folded):
        seen.setdefault(text.original(match.start(), match.end()), None)
    return list(seen)


def _split_entry(entry: str, sign: float) -> tuple[str, float]:
    text, sep, number = entry.rpartition(":")
    if sep and re.fullmatch(r"-?\d+(\.\d+)?", number):
        value = float(number)
        return text, value if value < 0 else sign * value
    return entry, sign * DEFAULT_VALENCE


def _entry_tokens(entry: str) -> list[str]:
    return _PATTERN_NON_WORD.sub(" ", fold(entry)).split()


def _term_regex(entries: list[str]) -> re.Pattern[str] | None:
    alternatives = []
    for entry in entries:
        parts = []
        for token in _entry_tokens(entry):
            if token == "*":
                parts.append(r"\w+")
            elif token.endswith("*"):
                parts.append(re.escape(token.rstrip("*")) + r"\w*")
            else:
                parts.append(re.escape(token))
        if parts:
            alternatives.append(" ".join(parts))
    if not alternatives:
        return None
    # Longest first, so "yet again" wins over "again"; lookarounds keep whole words.
    alternatives.sort(key=len, reverse=True)
    return re.compile(r"(?<= )(?:" + "|".join(alternatives) + r")(?= )")


def _sentiment_entries(
    positive: list[str], negative: list[str]
) -> tuple[
    dict[str, float], tuple[tuple[str, float], ...], dict[str, list[tuple[tuple[str, ...], float]]]
]:
    words: dict[str, float] = {}
    stems: dict[str, float] = {}
    phrases: dict[str, list[tuple[tuple[str, ...], float]]] = {}
    for entries, sign in ((positive, 1.0), (negative, -1.0)):
        for raw in entries:
            text, valence = _split_entry(raw, sign)
            tokens = _entry_tokens(text)
            if len(tokens) > 1:
                phrases.setdefault(tokens[0], []).append((tuple(tokens), valence))
            elif tokens and tokens[0].endswith("*"):
                stems[tokens[0].rstrip("*")] = valence
            elif tokens:
                words[tokens[0]] = valence
    ordered = tuple(sorted(stems.items(), key=lambda kv: len(kv[0]), reverse=True))
    for first in phrases:
        phrases[first].sort(key=lambda p: len(p[0]), reverse=True)
    return words, ordered, phrases


def _folded_set(entries: list[str]) -> frozenset[str]:
    """Single folded words; of an elided form ("n'est") only the elided letter ("n") is kept."""
    out: set[str] = set()
    for entry in entries:
        tokens = _entry_tokens(entry)
        elided = ("'" in entry or "’" in entry) and len(tokens[0]) == 1
        if len(tokens) == 1 or elided:
            out.add(tokens[0])
    return frozenset(out)


@cache
def lexicon(language: str) -> Lexicon:
    """The compiled word lists of one supported language (loaded from resources once)."""
    if language not in SUPPORTED_LANGUAGES:
        raise KeyError(f"no lexicon for language {language!r}")
    source = resources.files("resources").joinpath("lexicon", f"{language}.json")
    data = json.loads(source.read_text(encoding="utf-8"))
    words, stems, phrases = _sentiment_entries(data.get("positive", []), data.get("negative", []))
    return Lexicon(
        language=language,
        stopwords=frozenset(w.casefold() for w in data.get("stopwords", [])),
        negations=_folded_set(data.get("negations", [])),
        intensifiers=_folded_set(data.get("intensifiers", [])),
        contrast=_folded_set(data.get("contrast", [])),
        words=words,
        stems=stems,
        phrases={k: tuple(v) for k, v in phrases.items()},
        strong=_term_regex(data.get("escalation_strong", [])),
        weak=_term_regex(data.get("escalation_weak", [])),
    )
