"""Offline language detection and sentiment."""

from __future__ import annotations

import csv
import random
import re
import string
from collections.abc import Sequence
from pathlib import Path

import pytest

from console.domain import Channel, Direction, IncomingMessage
from console.storage import Workspace
from console.storage.ingest import Ingestor
from console.textutil import latin_only
from console.triage.engine import incremental_hook
from console.triage.language import (
    HINT_MIN_HITS,
    HINT_RATIO,
    LinguaDetector,
    _lingua,
    latin_letters,
    lingua_key,
    prepare,
    stopword_hint,
)
from console.triage.lexicon import SUPPORTED_LANGUAGES, lexicon, split_folded
from console.triage.sentiment import DefaultSentiment, lexicon_score
from tests.helpers.texts import mixed_texts

SAMPLES = {
    "en": "My parcel was supposed to arrive on Monday but it is still not here",
    "it": "Il mio pacco doveva arrivare lunedì ma non è ancora arrivato",
    "fi": "Pakettini piti saapua maanantaina mutta se ei ole vieläkään täällä",
    "es": "Mi paquete tenía que llegar el lunes pero todavía no ha llegado",
    "de": "Mein Paket sollte am Montag ankommen, aber es ist immer noch nicht da",
    "fr": "Mon colis devait arriver lundi mais il n'est toujours pas là",
    "pt": "A minha encomenda devia chegar na segunda mas ainda não chegou",
    "sv": "Mitt paket skulle komma på måndag men det har fortfarande inte kommit",
}
POSITIVE = {
    "en": "Thank you so much, great service!",
    "it": "Grazie mille, servizio ottimo e veloce",
    "fi": "Kiitos paljon, loistavaa palvelua",
    "es": "Muchas gracias, un servicio excelente",
    "de": "Vielen Dank, toller und schneller Service",
    "fr": "Merci beaucoup, service excellent et rapide",
    "pt": "Muito obrigado, atendimento ótimo",
    "sv": "Tack så mycket, toppen service",
}
NEGATIVE = {
    "en": "Terrible service, this is a disgrace",
    "it": "Servizio pessimo, una vergogna",
    "fi": "Surkea palvelu, tämä on naurettavaa",
    "es": "Servicio pésimo, es una vergüenza",
    "de": "Schrecklicher Service, eine Frechheit",
    "fr": "Service nul, c'est scandaleux",
    "pt": "Atendimento péssimo, que vergonha",
    "sv": "Värdelös service, helt oacceptabelt",
}


def test_each_supported_language_is_detected() -> None:
    found = LinguaDetector().detect(list(SAMPLES.values()))
    assert found == list(SAMPLES)


def test_short_and_foreign_script_texts_have_no_language() -> None:
    assert LinguaDetector().detect(
        ["ok thx", "@brand 👍", "アマゾンから日本語のおかしいメールが来た"]
    ) == [
        None,
        None,
        None,
    ]


def test_links_and_mentions_are_ignored() -> None:
    assert prepare("@SpotifyCares see https://t.co/abc #help now") == "see    help now"


def test_lingua_is_built_once() -> None:
    assert _lingua(False) is _lingua(False)
    assert _lingua(True) is not _lingua(False)


def test_the_stopword_shortcut_agrees_with_lingua_on_real_tweets(shared_data: Path) -> None:
    with (shared_data / "twcs" / "twcs_head_5000.csv").open(newline="", encoding="utf-8") as fh:
        texts = [prepare(r["text"]) for r in csv.DictReader(fh) if r["inbound"] == "True"]
    hinted = [(t, h) for t in texts if (h := stopword_hint(t)) is not None]
    assert len(hinted) > 0.5 * len(texts)
    truth = _lingua(False).detect_languages_in_parallel_of([t for t, _ in hinted])
    agree = sum(
        1
        for (_, hint), lang in zip(hinted, truth, strict=True)
        if lang is not None and lang.iso_code_639_1.name.lower() == hint
    )
    assert agree >= 0.98 * len(hinted)


def test_lingua_answers_its_key_as_it_answers_the_text_on_real_tweets(shared_data: Path) -> None:
    texts = []
    for name in ("twcs_head_5000.csv", "twcs_tail_12459.csv"):
        with (shared_data / "twcs" / name).open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                text = prepare(row["text"])
                letters, latin = latin_letters(text)
                if letters >= 12 and latin * 2 >= letters and stopword_hint(text) is None:
                    texts.append(text)  # what reaches lingua
    assert len(texts) > 1500
    texts = texts[:1500]
    keys = [lingua_key(t) for t in texts]
    assert len(set(keys)) < len(set(texts)), "some tweets differ only in digits or punctuation"
    for low in (False, True):
        lingua = _lingua(low)
        assert lingua.detect_languages_in_parallel_of(
            keys
        ) == lingua.detect_languages_in_parallel_of(texts)


def _general_hint(text: str) -> str | None:
    """stopword_hint written plainly, with the general expression (the reference)."""
    tokens = [t.casefold().replace("’", "'") for t in _GENERAL_TOKEN.findall(text)]
    counts = [
        (sum(t in lexicon(lang).stopwords for t in tokens), -n, lang)
        for n, lang in enumerate(SUPPORTED_LANGUAGES)
    ]
    ranked = sorted(counts, reverse=True)
    best, second = ranked[0][0], ranked[1][0]
    return ranked[0][2] if best >= HINT_MIN_HITS and best >= HINT_RATIO * second else None


_GENERAL_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def test_the_fast_expressions_match_what_the_general_ones_match() -> None:
    texts = mixed_texts(20000, seed=8)
    texts += ["İstanbul'da çok güzel", "Straße und Fuß", "l’app ne marche pas du tout", "ŉ ok"]
    for text in texts:
        assert lingua_key(text) == " ".join(re.findall(r"[^\W\d_]+", text.lower())), text
        assert stopword_hint(text) == _general_hint(text), text
    # the detector's own one-pass checks give what the separate functions give
    texts += [SAMPLES[lang] for lang in SAMPLES] + ["I don't want to wait any longer for this"]
    detector = LinguaDetector(parallel=False)
    asked: list[str] = []
    detector._memo[False] = detector._memo[True] = _Spy(asked)  # type: ignore[assignment]
    detector.detect(texts)
    expected = [
        lingua_key(t)
        for t in map(prepare, texts)
        if (counts := latin_letters(t))[0] >= 12
        and counts[1] * 2 >= counts[0]
        and stopword_hint(t) is None
    ]
    assert sorted(asked) == sorted(expected)


def test_the_fast_expressions_of_words_and_sentiment_match_the_general_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from console.triage import lexicon as lexicon_module
    from console.triage import sentiment as sentiment_module

    texts = mixed_texts(10000, seed=9) + [SAMPLES[lang] for lang in SAMPLES]
    texts += ["NON funziona più!!! Ma davvero, è pessimo", "ÄRGERLICH, gar nicht gut"]
    lexicons = [lexicon(lang) for lang in ("it", "de", "fi")]

    def results() -> list[object]:
        return [
            (split_folded(text), [lexicon_score(text, lex) for lex in lexicons]) for text in texts
        ]

    pairs = [
        (sentiment_module._LATIN_WORD, sentiment_module._WORD),
        (lexicon_module._LATIN_NON_WORD, lexicon_module._NON_WORD),
    ]
    for text in filter(latin_only, texts):
        for fast_expression, general in pairs:
            assert fast_expression.findall(text) == general.findall(text), text
    fast = results()
    monkeypatch.setattr(lexicon_module, "_LATIN_NON_WORD", lexicon_module._NON_WORD)
    monkeypatch.setattr(sentiment_module, "_LATIN_WORD", sentiment_module._WORD)
    assert fast == results()


def test_links_and_mentions_are_stripped_from_ascii_texts_as_the_general_expression_does() -> None:
    from console.triage.language import _STRIP

    rng = random.Random(2)
    parts = [*string.ascii_letters, *string.digits, *" \t\n\x1c\x1f@#._:/!-"]
    parts += ["http://", "https://", "www.", "WWW.", "HTTPS://", "@Brand", "a@b", "é", "İ"]
    for _ in range(30000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(1, 25)))
        assert prepare.__wrapped__(text) == _STRIP.sub(" ", text).replace("#", " ").strip(), text


class _Spy(dict):  # type: ignore[type-arg]
    """A memo that answers every key (and records what was looked up)."""

    def __init__(self, asked: list[str]) -> None:
        super().__init__()
        self.asked = asked

    def __contains__(self, key: object) -> bool:
        self.asked.append(str(key))
        return True

    def __getitem__(self, key: str) -> None:
        return None


def test_texts_lingua_reads_alike_are_asked_once() -> None:
    detector = LinguaDetector(parallel=False, use_hints=False)
    texts = [
        "Ordine 4471 arrivato rotto, rimborso?",
        "ordine 9981 ARRIVATO rotto... rimborso???",
        "Pakettini 77 tuli rikki, hyvitys?",
    ]
    first = detector.detect(texts)
    assert first[0] == first[1] == "it" and first[2] == "fi"
    assert len(detector._memo[False]) == 2
    assert LinguaDetector(parallel=False, use_hints=False).detect(texts[::-1]) == first[::-1]


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_sentiment_sign_in_every_language(language: str) -> None:
    scorer = DefaultSentiment()
    assert scorer.score(POSITIVE[language], language) > 0.3
    assert scorer.score(NEGATIVE[language], language) < -0.3


def test_negation_intensifiers_and_exclamations() -> None:
    it = lexicon("it")
    assert lexicon_score("non è male", it) > 0 > lexicon_score("è male", it)
    assert lexicon_score("molto pessimo", it) < lexicon_score("pessimo", it) < 0
    assert lexicon_score("pessimo!!!", it) < lexicon_score("pessimo", it)
    assert -1 < lexicon_score("pessimo " * 50, it) < -0.99
    # a negation does not reach past a clause or a contrast word
    de = lexicon("de")
    assert lexicon_score("nicht schlecht, aber langsam", de) < 0


def test_scores_are_bounded_and_rounded() -> None:
    scorer = DefaultSentiment()
    for text in [*POSITIVE.values(), *NEGATIVE.values(), "", "!!!!!!!!"]:
        value = scorer.score(text, None)
        assert -1 <= value <= 1 and round(value, 3) == value


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def detect(self, texts: Sequence[str]) -> list[str | None]:
        self.seen.extend(texts)
        return ["fi" if "kiitos" in t.lower() else None for t in texts]


def test_the_hook_uses_an_injected_detector_and_falls_back_to_the_customer(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.sqlite")
    detector = Recorder()
    ingest = Ingestor(
        ws, after_batch=incremental_hook(clock=lambda: 2_000_000_000, detector=detector)
    )
    ingest.ingest(
        [
            IncomingMessage(
                Channel.SMS,
                "texts",
                "1",
                Direction.IN,
                "+358401",
                "Kiitos avusta, kaikki toimii",
                1_000,
            )
        ]
    )
    ingest.ingest(
        [IncomingMessage(Channel.SMS, "texts", "2", Direction.IN, "+358401", "surkea!!!", 2_000)]
    )
    rows = ws.query("SELECT external_id, language, sentiment FROM messages ORDER BY id")
    assert detector.seen == ["Kiitos avusta, kaikki toimii", "surkea!!!"]
    assert rows[0]["language"] == "fi" and rows[0]["sentiment"] > 0
    # Too short to tell: no language stored, but scored with the customer's Finnish word list.
    assert rows[1]["language"] is None and rows[1]["sentiment"] < 0
    assert ws.scalar("SELECT language FROM customers") == "fi"
    ws.close()


def test_long_texts_and_quoted_lines_are_cut_before_analysis() -> None:
    from console.triage.analysis import MAX_CHARS, for_analysis

    email = "Still broken, I want a refund.\n> On Monday you wrote:\n> we are sorry\n" + "x" * 5000
    cut = for_analysis(email)
    assert "On Monday" not in cut and cut.startswith("Still broken") and len(cut) == MAX_CHARS


def test_worker_processes_give_the_same_results_as_this_process() -> None:
    from console.triage.analysis import WorkerPool, analyse
    from console.triage.language import default_detector

    rows = [
        (i, text, None, "fi" if i % 2 else None)
        for i, text in enumerate(
            [*SAMPLES.values(), *POSITIVE.values(), *NEGATIVE.values(), "surkea!!"]
        )
    ]
    chunks = [rows[:9], rows[9:17], rows[17:]]
    with WorkerPool(2, 12) as pool:
        remote = [r for _, found in pool.map(chunks) for r in found]
    assert remote == analyse(rows, default_detector(12), DefaultSentiment())


def test_the_analysis_cache_reads_texts_that_differ_in_long_numbers_once() -> None:
    from console.triage.analysis import Cache, analyse, cache_key
    from console.triage.language import default_detector

    class Counting(DefaultSentiment):
        def __init__(self) -> None:
            self.read: list[str] = []

        def score(self, text: str, language: str | None) -> float:
            self.read.append(text)
            return super().score(text, language)

    texts = [
        "Order 4410923 has still not arrived, this is terrible",
        "Order 9981234 has still not arrived, this is terrible",
        "Order 12 has still not arrived, this is terrible",
        "I <3 you all, order 55512 arrived",
        "I <0 you all, order 55512 arrived",  # a short number is read: VADER knows "<3"
        "Ordine 7734411 non è ancora arrivato, pessimo servizio",
    ]
    rows = [(i, t, None, None) for i, t in enumerate(texts)]
    scorer = Counting()
    cache: Cache = {}
    cached = analyse(rows, default_detector(12), scorer, cache)
    assert scorer.read == [texts[0], texts[2], texts[3], texts[4], texts[5]]
    # The answers are those of reading every text.
    assert cached == analyse(rows, default_detector(12), DefaultSentiment())
    assert cached[3][1] != cached[4][1]
    assert cache_key("ring 0612345678 or 12-34") == "ring 0000000000 or 12-34"


#: Texts where a shortcut past VADER could go wrong: emoticons that are all punctuation, words
#: behind punctuation, emojis alone or inside words, "no" and "kind of", capitals, non-Latin text.
VADER_EDGES = [
    "order 12345 status?",
    "where is my parcel",
    ":)",
    "ok :-(",
    "(sad)",
    "...great...",
    "my order!!! WHERE",
    "😡",
    "order😡now",
    "👍👍",
    "no",
    "no way",
    "kind of",
    "it is kind of late",
    "İ! İstanbul",
    "写真を送りました",
    "ÄRGERLICH!!!",
    "",
    "   ",
    "not bad at all",
    "lol",
    "#fail @brand",
]


def test_vader_skipped_only_where_it_scores_zero() -> None:
    from console.triage.sentiment import vader

    scorer = vader()
    for text in VADER_EDGES:
        assert scorer.score(text) == scorer.analyzer.polarity_scores(text)["compound"], text
    assert not scorer.may_score("where is my parcel order 12345")
    assert scorer.may_score("order😡now") and scorer.may_score(":)")


def test_vader_is_not_run_on_texts_without_its_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from console.triage.sentiment import vader

    scorer = vader()
    calls: list[str] = []
    real = scorer.analyzer.polarity_scores
    monkeypatch.setattr(scorer.analyzer, "polarity_scores", lambda t: calls.append(t) or real(t))
    assert scorer.score("where is my parcel, order 12345") == 0.0
    assert scorer.score("this is terrible") < 0
    assert calls == ["this is terrible"]


def test_vader_shortcut_agrees_with_vader_on_real_tweets(shared_data: Path) -> None:
    from console.triage.sentiment import vader

    scorer = vader()
    with (shared_data / "twcs" / "twcs_head_5000.csv").open(newline="", encoding="utf-8") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    skipped = [t for t in texts if not scorer.may_score(t)]
    assert len(skipped) > 0.05 * len(texts)  # the shortcut is taken
    assert all(scorer.analyzer.polarity_scores(t)["compound"] == 0.0 for t in skipped)
