"""Language and sentiment of message texts, in this process or spread over worker processes.

:func:`analyse` is the pure step: detect the language of texts that have none, then score each
text's sentiment in its language (or the customer's, for texts too short to tell). Long texts are
cut: quoted lines of emails (``> ...``) are dropped and only the first :data:`MAX_CHARS`
characters are read, so one long email costs about as much as a tweet. A cache of results serves
repeated texts, keyed by :func:`cache_key`: texts that differ only in the digits of long numbers
(order, booking and phone numbers) are read once.

:class:`WorkerPool` runs :func:`analyse` in worker processes (``spawn``: safe beside Qt and
threads) for full rebuilds of big workspaces; results come back in submission order. Each worker
builds its own lingua detector and VADER analyser once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import partial

from console.triage.language import LanguageDetector, LinguaDetector
from console.triage.pool import OrderedPool
from console.triage.sentiment import DefaultSentiment, SentimentScorer

#: Characters of a text that language detection and sentiment read.
MAX_CHARS = 1000

#: (message id, text, stored language, the customer's language)
Row = tuple[int, str, str | None, str | None]
#: (language, sentiment, message id)
Result = tuple[str | None, float, int]
Cache = dict[str, tuple[str | None, float]]

#: Runs of digits no analyser reads: lingua and our word lists read letters only, and VADER's
#: lexicon has no entry with more than four digits in a row ("1337", "1432").
_LONG_NUMBER = re.compile(r"[0-9]{5,}")


def _zeros(match: re.Match[str]) -> str:
    return "0" * (match.end() - match.start())


def cache_key(text: str) -> str:
    """``text`` with the digits of its long numbers (five digits or more) as zeros.

    The default analysers give such texts the same language and sentiment: they see the same
    letters, the same words (VADER splits at spaces, and a run of digits keeps its length) and no
    lexicon entry of theirs has five digits in a row. Support texts differ in exactly that way
    ("order 4410923 has not arrived"), so the cache answers far more of them.
    """
    return _LONG_NUMBER.sub(_zeros, text)


def for_analysis(text: str) -> str:
    """The part of a message worth reading: no quoted lines, at most :data:`MAX_CHARS`."""
    if ">" in text:
        text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))
    return text[:MAX_CHARS]


def analyse(
    rows: Sequence[Row],
    detector: LanguageDetector,
    scorer: SentimentScorer,
    cache: Cache | None = None,
) -> list[Result]:
    """(language, sentiment, id) of each row. ``cache`` (text -> result) skips repeated texts."""
    texts = {row[0]: for_analysis(row[1]) for row in rows}
    keys = {i: cache_key(t) for i, t in texts.items()} if cache is not None else texts
    unknown = [
        row[0] for row in rows if row[2] is None and (cache is None or keys[row[0]] not in cache)
    ]
    detected = dict(zip(unknown, detector.detect([texts[i] for i in unknown]), strict=True))
    out: list[Result] = []
    for message_id, _, stored, customer_language in rows:
        text = texts[message_id]
        hit = cache.get(keys[message_id]) if cache is not None and stored is None else None
        if hit is not None:
            out.append((hit[0], hit[1], message_id))
            continue
        language = stored or detected.get(message_id)
        sentiment = scorer.score(text, language or customer_language)
        if cache is not None and stored is None and language is not None:
            cache[keys[message_id]] = (language, sentiment)
        out.append((language, sentiment, message_id))
    return out


_worker_cache: Cache = {}
_worker_detector: dict[int, LinguaDetector] = {}


def analyse_in_worker(rows: Sequence[Row], min_letters: int) -> list[Result]:
    """:func:`analyse` with the default analysers, in a worker process (one core)."""
    if len(_worker_cache) > 100_000:
        _worker_cache.clear()
    detector = _worker_detector.get(min_letters)
    if detector is None:
        # One core per worker: lingua's own threads would compete with the other processes.
        detector = _worker_detector[min_letters] = LinguaDetector(min_letters, parallel=False)
    return analyse(rows, detector, DefaultSentiment(), _worker_cache)


def start_worker(min_letters: int) -> None:
    """Load the models of a worker process (its first chunk then starts at full speed)."""
    from console.triage.language import _lingua

    for low in (False, True):
        _lingua(low, preload=True).detect_language_of("Hyvää huomenta, ciao a tutti, guten Morgen")
    DefaultSentiment().score("warming up", None)


class WorkerPool(OrderedPool):
    """Analyses chunks of rows in ``workers`` processes, results in order, a few chunks ahead."""

    def __init__(self, workers: int, min_letters: int) -> None:
        super().__init__(workers)
        self.min_letters = min_letters

    def map(self, chunks: Iterable[Sequence[Row]]) -> Iterator[tuple[Sequence[Row], list[Result]]]:
        return self._map(partial(analyse_in_worker, min_letters=self.min_letters), chunks)
