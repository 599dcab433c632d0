"""One triage run's context: settings, the clock's time, the analysers and the accounts.

Also the shared callable types (``Clock``, ``Progress``, ``Cancelled``), the report a rebuild
returns, and the glue from message rows to :mod:`console.triage.analysis` (the customer's language
stands in for texts too short to tell).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.storage import triage_repo as repo
from console.storage.db import Workspace
from console.triage import analysis
from console.triage.deadlines import BusinessHours, hours_or_none
from console.triage.language import LanguageDetector, default_detector
from console.triage.sentiment import DefaultSentiment, SentimentScorer
from console.triage.settings import TriageSettings, load_settings

Clock = Callable[[], int]
Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]


def system_clock() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class Account:
    channel: str
    target_s: int | None
    hours: BusinessHours | None


@dataclass(slots=True)
class TriageContext:
    """What one triage run needs: settings, the time, the analysers and the accounts."""

    ws: Workspace
    settings: TriageSettings
    now: int
    detector: LanguageDetector
    scorer: SentimentScorer
    accounts: dict[int, Account]
    default_analysers: bool = False

    @classmethod
    def open(
        cls,
        ws: Workspace,
        *,
        clock: Clock | None = None,
        detector: LanguageDetector | None = None,
        scorer: SentimentScorer | None = None,
        settings: TriageSettings | None = None,
    ) -> TriageContext:
        s = settings or load_settings(ws)
        accounts = {
            int(r["id"]): Account(
                str(r["channel"]), r["response_target_s"], hours_or_none(r["business_hours"])
            )
            for r in repo.account_rows(ws)
        }
        return cls(
            ws=ws,
            settings=s,
            now=int((clock or system_clock)()),
            detector=detector or default_detector(s.language_min_letters),
            scorer=scorer or DefaultSentiment(),
            accounts=accounts,
            default_analysers=detector is None and scorer is None,
        )

    def target(self, account_id: int, channel: str) -> int:
        account = self.accounts.get(account_id)
        return self.settings.target_for(channel, account.target_s if account else None)

    def hours(self, account_id: int) -> BusinessHours | None:
        account = self.accounts.get(account_id)
        return account.hours if account else None


@dataclass(slots=True)
class TriageReport:
    """What a rebuild or retriage did."""

    analysed: int = 0
    customers: int = 0
    same_issue_groups: int = 0
    flagged: dict[str, int] = field(default_factory=dict)
    conversation_ids: set[int] = field(default_factory=set)
    seconds: float = 0.0
    cancelled: bool = False
    phases: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "analysed": self.analysed,
            "customers": self.customers,
            "same_issue_groups": self.same_issue_groups,
            "flagged": dict(sorted(self.flagged.items())),
            "seconds": round(self.seconds, 3),
            "phases": {k: round(v, 2) for k, v in self.phases.items()},
            "cancelled": self.cancelled,
        }


# -- language and sentiment -------------------------------------------------------------------


def analyse_rows(
    ctx: TriageContext,
    rows: Sequence[tuple[int, str, int | None, str | None]],
    cache: analysis.Cache | None = None,
) -> list[analysis.Result]:
    """(language, sentiment, id) for (id, text, customer id, stored language) rows.

    Texts too short to tell keep language None; their sentiment is scored in the customer's
    language. ``cache`` (text -> result) saves work on repeated texts during a rebuild.
    """
    return analysis.analyse(fallback_rows(ctx.ws, rows), ctx.detector, ctx.scorer, cache)


def fallback_rows(
    ws: Workspace, rows: Sequence[tuple[int, str, int | None, str | None]]
) -> list[analysis.Row]:
    """(id, text, stored language, the customer's language) for (id, text, customer, stored)."""
    fallback = repo.customer_languages(
        ws, {r[2] for r in rows if r[2] is not None and r[3] is None}
    )
    return [
        (mid, text, stored, fallback.get(cid) if cid is not None else None)
        for mid, text, cid, stored in rows
    ]
