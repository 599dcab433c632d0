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
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from console.textutil import LATIN_ALNUM, latin_only

#: The languages we detect and have word lists for (ISO 639-1).
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "it", "fi", "es", "de", "fr", "pt", "sv")

DEFAULT_VALENCE = 2.0
#: Distinct words whose valence a lexicon remembers (then it starts again).
_MEMO_WORDS = 200_000
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
#: _NON_WORD for texts of the Latin blocks only (console.textutil.latin_only), faster
_LATIN_NON_WORD = re.compile(f"[^{LATIN_ALNUM}]+")
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


_folded_words: dict[str, str] = {}


def _fold_word(word: str) -> str:
    if word.isascii():
        return word
    found = _folded_words.get(word)
    if found is None:
        found = _NON_WORD.sub("", fold(word)) or word
        if len(_folded_words) >= _MEMO_WORDS:
            _folded_words.clear()
        _folded_words[word] = found
    return found


def split_folded(text: str) -> tuple[list[str], list[str]]:
    """(the words of ``text`` casefolded, the same words folded), as :class:`FoldedText` has them."""
    folded = text.casefold()
    words = [w for w in (_LATIN_NON_WORD if latin_only(folded) else _NON_WORD).split(folded) if w]
    return words, words if text.isascii() else [_fold_word(w) for w in words]


@dataclass(frozen=True, slots=True)
class FoldedText:
    """``fold_words`` of a text that remembers which original word each folded word came from."""

    folded: str
    starts: tuple[int, ...]  # offset of each folded word in ``folded``
    words: tuple[str, ...]  # the original words, casefolded but with their accents
    distinct: frozenset[str] = frozenset()  # the folded words

    @classmethod
    def of(cls, text: str) -> FoldedText:
        return cls.from_words(*split_folded(text))

    @classmethod
    def from_words(cls, words: list[str], parts: list[str]) -> FoldedText:
        """From :func:`split_folded`'s two lists."""
        starts = []
        offset = 1
        for part in parts:
            starts.append(offset)
            offset += len(part) + 1
        return cls(" " + " ".join(parts) + " ", tuple(starts), tuple(words), frozenset(parts))

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
    strong_starts: TermStarts | None = None
    weak_starts: TermStarts | None = None
    #: ``stems`` as a dict, and the stem lengths longest first: the longest stem that starts a
    #: word is found with one dict look-up per length instead of a test of every stem.
    stem_valence: dict[str, float] = field(default_factory=dict)
    stem_lengths: tuple[int, ...] = ()

    #: word -> its valence as a word or by stem (None: no entry), filled as words are met
    memo: dict[str, float | None] = field(default_factory=dict)

    def valence_at(self, tokens: list[str], index: int) -> tuple[float, int] | None:
        """(valence, tokens consumed) of a sentiment entry starting at ``tokens[index]``."""
        token = tokens[index]
        phrases = self.phrases.get(token)
        if phrases is not None:
            for phrase, valence in phrases:
                if tuple(tokens[index : index + len(phrase)]) == phrase:
                    return valence, len(phrase)
        found = self.word_valence(token)
        return None if found is None else (found, 1)

    def word_valence(self, token: str) -> float | None:
        """The valence of one folded word alone: an exact entry, else its longest stem."""
        memo = self.memo
        if token in memo:
            return memo[token]
        found = self.words.get(token)
        if found is None:
            # Of two stems of one length only one can start the word, so trying the lengths
            # longest first finds what testing ``stems`` in order would.
            for length in self.stem_lengths:
                if length <= len(token):
                    found = self.stem_valence.get(token[:length])
                    if found is not None:
                        break
        if len(memo) >= _MEMO_WORDS:
            memo.clear()
        memo[token] = found
        return found

    def may_have_terms(self, folded_words: frozenset[str]) -> bool:
        """False when no escalation term can be in a text with these folded words."""
        strong, weak = self.strong_starts, self.weak_starts
        return (self.strong is not None and (strong is None or strong.may_start(folded_words))) or (
            self.weak is not None and (weak is None or weak.may_start(folded_words))
        )

    def escalation_terms(self, text: FoldedText) -> tuple[list[str], list[str]]:
        """Distinct strong and weak escalation terms of a text, as the customer wrote them."""
        return (
            _found(self.strong, self.strong_starts, text),
            _found(self.weak, self.weak_starts, text),
        )


@dataclass(frozen=True, slots=True)
class TermStarts:
    """What the first word of a list's terms can be: a known word, or a word starting with a stem.

    A text none of whose words qualifies cannot match the list's expression (which only matches
    at word starts and whole words), so the expression need not run on it.
    """

    words: frozenset[str]
    stems: frozenset[str]
    stem_lengths: tuple[int, ...]
    any_word: bool  # a term starts with "*" (or an empty stem): any word may start it
    memo: dict[str, bool] = field(default_factory=dict)  # word -> may start a term

    @classmethod
    def of(cls, entries: list[str]) -> TermStarts:
        words: set[str] = set()
        stems: set[str] = set()
        any_word = False
        for entry in entries:
            tokens = _entry_tokens(entry)
            if not tokens:
                continue
            first = tokens[0]
            if first == "*" or (first.endswith("*") and not first.rstrip("*")):
                any_word = True
            elif first.endswith("*"):
                stems.add(first.rstrip("*"))
            else:
                words.add(first)
        lengths = tuple(sorted({len(stem) for stem in stems}, reverse=True))
        return cls(frozenset(words), frozenset(stems), lengths, any_word)

    def may_start(self, words: frozenset[str]) -> bool:
        if self.any_word:
            return True
        memo = self.memo
        for word in words:
            known = memo.get(word)
            if known is None:
                known = self._starts(word)
                if len(memo) >= _MEMO_WORDS:
                    memo.clear()
                memo[word] = known
            if known:
                return True
        return False

    def _starts(self, word: str) -> bool:
        if word in self.words:
            return True
        return any(n <= len(word) and word[:n] in self.stems for n in self.stem_lengths)


def _found(
    pattern: re.Pattern[str] | None, starts: TermStarts | None, text: FoldedText
) -> list[str]:
    if pattern is None:
        return []
    if starts is not None and not starts.may_start(text.distinct):
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
        stem_valence=dict(stems),
        stem_lengths=tuple(sorted({len(stem) for stem, _ in stems}, reverse=True)),
        phrases={k: tuple(v) for k, v in phrases.items()},
        strong=_term_regex(data.get("escalation_strong", [])),
        weak=_term_regex(data.get("escalation_weak", [])),
        strong_starts=TermStarts.of(data.get("escalation_strong", [])),
        weak_starts=TermStarts.of(data.get("escalation_weak", [])),
    )
