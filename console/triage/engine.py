"""Running triage: after each ingest batch, for a set of customers, or over the whole workspace.

Entry points (all take an open :class:`~console.storage.db.Workspace` and use it from its thread):

- :func:`incremental_hook` returns the ``after_batch(ws, batch)`` callable for
  :class:`~console.storage.ingest.Ingestor`. Inside the batch's transaction it analyses the new
  inbound messages (language, sentiment), updates the same-issue groups of their texts, and
  recomputes the duplicate groups, flags, deadlines, masks and priorities of exactly the customers
  the batch touched (indexed queries only). Conversations whose triage figures changed are added to
  ``batch.conversation_ids`` so the publisher's ``InboxChanged`` covers them.
- :func:`rebuild` recomputes everything, in chunks, each chunk its own transaction: missing
  language/sentiment, customers' languages, all duplicate and same-issue groups, then every
  customer's flags and figures (for many customers, worker processes read and compute each
  chunk's :class:`~console.triage.customers.CustomerPlan` while this process writes them).
  ``progress(done, total)`` is called between chunks and ``cancelled()`` is checked there (a
  cancelled rebuild leaves finished chunks in place).
- :func:`retriage` (or :func:`retriage_customers`) does the same for given customers only (and
  the customers merged into them): after a merge or un-merge, after a conversation's status changed
  (resolved, pending, snoozed), after an agent changed a tier or a reply was sent outside ingest.
- :func:`after_import` triages once after a bulk import: :func:`retriage` of what it touched, or
  :func:`rebuild` when it touched more than a quarter of the customers.
- :func:`refresh_clock` is for a timer (every minute or so, on a worker thread): flags breaches
  whose deadline passed since the last look and moves the deadline part of the priorities on
  (only conversations whose urgency still grows, so a steady-state run is cheap).
- :func:`needs_rebuild` says whether an incremental triage failed (it never blocks ingestion).

Time: rules about message history (repeat, duplicates, escalation) are computed relative to message
times, so historic imports get the flags they had then; breaches and deadline urgency are relative
to the clock (``clock() -> epoch seconds``, injectable for tests).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from console import gcpause
from console.domain import FlagKind
from console.errors import StorageError
from console.storage import triage_repo as repo
from console.storage.db import Workspace
from console.storage.ingest import AfterBatch, BatchResult, IngestReport
from console.triage import analysis
from console.triage import duplicates as dup
from console.triage.context import (
    Cancelled,
    Clock,
    Progress,
    TriageContext,
    TriageReport,
    analyse_rows,
    fallback_rows,
)
from console.triage.customers import (
    PlanPool,
    apply_customer_plan,
    plan_customers,
    refresh_priorities,
    triage_customers,
)
from console.triage.flagbits import FLAG_BITS
from console.triage.language import LanguageDetector
from console.triage.sentiment import SentimentScorer
from console.triage.settings import TriageSettings

__all__ = [
    "after_import",
    "incremental_hook",
    "needs_rebuild",
    "rebuild",
    "refresh_clock",
    "retriage",
    "retriage_customers",
]

log = logging.getLogger(__name__)

#: Customers handled per chunk (one transaction each in rebuild and retriage).
CUSTOMER_CHUNK = 1000
#: Messages analysed per chunk.
MESSAGE_CHUNK = 4000
#: Messages to analyse before a rebuild starts worker processes (starting them takes a second).
PARALLEL_MIN = 20_000
#: Customers from which a rebuild plans their triage in worker processes.
PARALLEL_CUSTOMERS_MIN = 10_000
_BREACH = FLAG_BITS[FlagKind.BREACH]
#: Settings key set when an incremental triage failed; a rebuild clears it.
NEEDS_REBUILD = "triage_state.needs_rebuild"
#: Settings key: the clock time of the last :func:`refresh_clock`.
CLOCK_AT = "triage_state.clock_at"


# -- incremental ---------------------------------------------------------------------------------


def _triage_batch(
    ws: Workspace,
    batch: BatchResult,
    clock: Clock | None,
    detector: LanguageDetector | None,
    scorer: SentimentScorer | None,
) -> None:
    ctx = TriageContext.open(ws, clock=clock, detector=detector, scorer=scorer)
    rows = repo.unanalysed_among(ws, batch.message_ids)
    if rows:
        repo.store_analysis(ws, analyse_rows(ctx, rows))
        repo.update_dominant_languages(ws, {r[2] for r in rows if r[2] is not None})
    # Adopting orphaned replies can change who started a conversation: its customer counts too.
    touched = set(batch.customer_ids)
    if batch.removed_conversation_ids:
        touched |= repo.customers_of_conversations(ws, batch.conversation_ids)
    customers = sorted(touched)
    if customers:
        changed, _ = triage_customers(ctx, customers, new_message_ids=batch.message_ids)
        batch.conversation_ids.update(changed)


def needs_rebuild(ws: Workspace) -> bool:
    """True when an incremental triage failed since the last rebuild (the GUI can offer one)."""
    return repo.load_prefixed_settings(ws, NEEDS_REBUILD).get(NEEDS_REBUILD) == "true"


def incremental_hook(
    *,
    clock: Clock | None = None,
    detector: LanguageDetector | None = None,
    scorer: SentimentScorer | None = None,
) -> AfterBatch:
    """The ``after_batch`` callable that triages what each ingest batch touched."""

    def after_batch(ws: Workspace, batch: BatchResult) -> None:
        # Triage must never cost a message: a failure undoes triage's own writes only, is logged
        # and marks the workspace for a rebuild, and the batch is stored all the same.
        ws.conn.execute("SAVEPOINT triage")
        try:
            _triage_batch(ws, batch, clock, detector, scorer)
        except Exception:  # any bug in a rule must not block ingestion
            ws.conn.execute("ROLLBACK TO triage")
            log.exception("triage of %d new messages failed; run a rebuild", len(batch.message_ids))
            repo.store_settings(ws, {NEEDS_REBUILD: "true"})
        finally:
            ws.conn.execute("RELEASE triage")

    return after_batch


# -- scoped and full rebuilds ----------------------------------------------------------------------


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _unanalysed_chunks(ctx: TriageContext) -> Iterator[list[analysis.Row]]:
    after = 0
    while rows := repo.unanalysed_after(ctx.ws, after, MESSAGE_CHUNK):
        after = rows[-1][0]
        yield fallback_rows(ctx.ws, rows)


def _analyse_all(
    ctx: TriageContext,
    report: TriageReport,
    step: Callable[[int], bool],
    workers: int,
    count: int,
) -> bool:
    """Language and sentiment for every inbound message that has none; False when cancelled.

    ``count`` is how many there are (:func:`repo.count_unanalysed`). Big jobs with the default
    analysers go to ``workers`` processes; injected analysers (tests) and small jobs stay in this
    process.
    """
    chunks = _unanalysed_chunks(ctx)
    if workers > 1 and ctx.default_analysers and count >= PARALLEL_MIN:
        with analysis.WorkerPool(workers, ctx.settings.language_min_letters) as pool:
            return _store_chunks(ctx, report, step, pool.map(chunks))
    cache: analysis.Cache = {}

    def here() -> Iterator[tuple[Sequence[analysis.Row], list[analysis.Result]]]:
        for chunk in chunks:
            if len(cache) > 200_000:
                cache.clear()
            yield chunk, analysis.analyse(chunk, ctx.detector, ctx.scorer, cache)

    return _store_chunks(ctx, report, step, here())


def _store_chunks(
    ctx: TriageContext,
    report: TriageReport,
    step: Callable[[int], bool],
    results: Iterator[tuple[Sequence[analysis.Row], list[analysis.Result]]],
) -> bool:
    for chunk, found in results:
        with ctx.ws.transaction():
            repo.store_analysis(ctx.ws, found)
        report.analysed += len(chunk)
        if not step(len(chunk)):
            return False
    return True


def _merge_counts(into: dict[str, int], more: dict[str, int]) -> None:
    for kind, n in more.items():
        into[kind] = into.get(kind, 0) + n


@gcpause.paused()
def rebuild(
    ws: Workspace,
    *,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    clock: Clock | None = None,
    detector: LanguageDetector | None = None,
    scorer: SentimentScorer | None = None,
    rescore: bool = False,
    workers: int | None = None,
) -> TriageReport:
    """Recompute every flag, group, deadline and priority of the workspace.

    Language and sentiment are computed for inbound messages that have none (all of them again
    with ``rescore=True``), in ``workers`` processes when there are many (default: up to two, one
    per core). Progress counts analysed messages, then customers.

    The cyclic garbage collector pauses meanwhile (:mod:`console.gcpause`).
    """
    started = time.perf_counter()
    ctx = TriageContext.open(ws, clock=clock, detector=detector, scorer=scorer)
    report = TriageReport()
    if rescore:
        repo.reset_sentiment(ws)
    customers = repo.live_customer_ids(ws)
    unanalysed = repo.count_unanalysed(ws)
    total = unanalysed + len(customers) + 1
    done = 0

    def step(n: int) -> bool:
        nonlocal done
        done += n
        gcpause.collect_young()
        if progress is not None:
            progress(min(done, total), total)
        return not (cancelled is not None and cancelled())

    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    if unanalysed and not _analyse_all(ctx, report, step, workers, unanalysed):
        return _finish(report, started, cancelled=True)
    report.phases["analyse"] = time.perf_counter() - started
    pool = None
    if workers >= 2 and len(customers) >= PARALLEL_CUSTOMERS_MIN:
        try:
            pool = PlanPool(ctx, workers)
            pool.warm()  # the workers start while the groups are counted here
        except (BrokenProcessPool, OSError, RuntimeError):
            log.exception("cannot start the triage workers; triaging in this process")
            pool = None
    try:
        with ws.transaction():
            rows = _languages_and_same_issue(ws, ctx.settings)
            report.same_issue_groups = dup.store_same_issue(ws, rows)
            repo.reset_merged_and_orphans(ws)
        report.phases["groups"] = time.perf_counter() - started - report.phases["analyse"]
        if not step(1):
            return _finish(report, started, cancelled=True)
        if not _triage_all(ctx, customers, report, step, pool):
            return _finish(report, started, cancelled=True)
    finally:
        if pool is not None:
            pool.close()
    repo.store_settings(ws, {NEEDS_REBUILD: "false"})
    return _finish(report, started)


#: The page cache of the connection that reads the same-issue groups during a rebuild, in KiB.
SIDE_CACHE_KB = 4096


def _languages_and_same_issue(ws: Workspace, settings: TriageSettings) -> list[dict[str, Any]]:
    """Set the customers' languages and clear the groups, inside a write transaction of ``ws``,
    while a second connection reads :func:`~console.triage.duplicates.same_issue_rows`.

    Both are scans of the messages table, mostly in SQLite (which lets go of the interpreter),
    so they take one core each instead of one after the other. The rows are those a read here
    would give: the transaction holds the write lock, so the second connection reads the state it
    started on, and what this one changes (the customers' languages, the posts' groups) is not
    what the rows read. Should the second connection fail, they are read here.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="agent-console-same-issue") as side:
        found = side.submit(_read_same_issue, ws.path, settings)
        repo.update_dominant_languages(ws)
        repo.clear_all_groups(ws)
        try:
            return found.result()
        except (sqlite3.Error, StorageError):
            log.exception("cannot read the same-issue groups on a second connection")
    return dup.same_issue_rows(ws, settings)


def _read_same_issue(path: Path, settings: TriageSettings) -> list[dict[str, Any]]:
    with Workspace(path, create=False) as side:
        # Its scans read each page once: a small cache and no memory map, so that reading a
        # million messages a second time adds little to the process's memory.
        side.conn.execute(f"PRAGMA cache_size=-{SIDE_CACHE_KB}")
        side.conn.execute("PRAGMA mmap_size=0")
        return dup.same_issue_rows(side, settings)


def _triage_all(
    ctx: TriageContext,
    customers: Sequence[int],
    report: TriageReport,
    step: Callable[[int], bool],
    pool: PlanPool | None,
) -> bool:
    """Every customer's groups, flags and figures, chunk by chunk; False when cancelled.

    With a ``pool`` its worker processes read and compute the chunks' plans while this one
    writes them (the caller closes it). Should another connection write meanwhile (an agent
    resolving a conversation), the chunks still to write are planned again here, inside their
    transactions, as without workers.
    """
    ws = ctx.ws
    chunks = _chunks(customers, CUSTOMER_CHUNK)
    if pool is None:
        for chunk in chunks:
            with ws.transaction():
                changed, counts = triage_customers(ctx, chunk)
            if not _count_chunk(report, chunk, changed, counts, step):
                return False
        return True
    before = repo.data_version(ws)
    written = 0
    try:
        for chunk, plan in pool.map(chunks):
            with ws.transaction():
                if repo.data_version(ws) != before:
                    plan = plan_customers(ctx, chunk)  # the workers' reads may be stale
                changed, counts = apply_customer_plan(ws, plan)
            written += len(chunk)
            if not _count_chunk(report, chunk, changed, counts, step):
                return False
    except (BrokenProcessPool, OSError):
        # Worker processes could not start or died: the rest is triaged in this process.
        log.exception("triage workers failed; going on in this process")
        return _triage_all(ctx, customers[written:], report, step, None)
    return True


def _count_chunk(
    report: TriageReport,
    chunk: Sequence[int],
    changed: set[int],
    counts: dict[str, int],
    step: Callable[[int], bool],
) -> bool:
    report.customers += len(chunk)
    report.conversation_ids |= changed
    _merge_counts(report.flagged, counts)
    return step(len(chunk))


def retriage(
    ws: Workspace,
    customer_ids: Iterable[int],
    *,
    message_ids: Iterable[int] | None = None,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    clock: Clock | None = None,
    detector: LanguageDetector | None = None,
    scorer: SentimentScorer | None = None,
) -> TriageReport:
    """Triage these customers again (and analyse ``message_ids``, e.g. what an import added).

    Same-issue groups are recounted for the texts of ``message_ids`` (or of all the customers'
    posts when None), so merges and un-merges get exact customer counts.
    """
    started = time.perf_counter()
    ctx = TriageContext.open(ws, clock=clock, detector=detector, scorer=scorer)
    report = TriageReport()
    wanted = set(customer_ids)
    ids = sorted(wanted | repo.merged_into_any(ws, wanted))
    new_ids = sorted(set(message_ids)) if message_ids is not None else None
    total = len(new_ids or ()) + len(ids)
    done = 0

    def step(n: int) -> bool:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(done, total), total)
        return not (cancelled is not None and cancelled())

    cache: analysis.Cache = {}
    for part in _chunks(new_ids or [], MESSAGE_CHUNK):
        rows = repo.unanalysed_among(ws, part)
        with ws.transaction():
            repo.store_analysis(ws, analyse_rows(ctx, rows, cache))
        report.analysed += len(rows)
        if not step(len(part)):
            return _finish(report, started, cancelled=True)
    with ws.transaction():
        repo.update_dominant_languages(ws, ids)
    hashes = _hashes_to_recount(ws, ids, new_ids)
    for chunk in _chunks(ids, CUSTOMER_CHUNK):
        with ws.transaction():
            chunk_hashes = hashes.pop(0) if hashes else []
            changed, counts = triage_customers(ctx, chunk, recount_hashes=chunk_hashes)
        if not _count_chunk(report, chunk, changed, counts, step):
            return _finish(report, started, cancelled=True)
    return _finish(report, started)


def retriage_customers(ws: Workspace, customer_ids: Iterable[int]) -> TriageReport:
    """:func:`retriage` with the defaults: for callers that changed customers (merge, un-merge,
    status or tier changes) and only know their ids."""
    return retriage(ws, customer_ids)


def after_import(
    ws: Workspace,
    report: IngestReport,
    *,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    clock: Clock | None = None,
    detector: LanguageDetector | None = None,
    scorer: SentimentScorer | None = None,
) -> TriageReport:
    """Triage once after a bulk import made without the incremental hook.

    Only what the import touched is triaged again when that is under a quarter of the workspace's
    customers; otherwise a full :func:`rebuild` (set-based, cheaper per customer) runs.
    """
    if not report.added:
        return TriageReport()
    options: dict[str, Any] = {
        "progress": progress,
        "cancelled": cancelled,
        "clock": clock,
        "detector": detector,
        "scorer": scorer,
    }
    live = repo.live_customer_count(ws)
    # The customers it wrote for are enough to tell a big import (a million-message file's
    # conversations take 0.4 s more to look up, for the same answer).
    if len(report.customer_ids) * 4 > live:
        return rebuild(ws, **options)
    touched = set(report.customer_ids) | repo.customers_of_conversations(
        ws, report.conversation_ids
    )
    if len(touched) * 4 > live:
        return rebuild(ws, **options)
    return retriage(ws, touched, message_ids=report.message_ids, **options)


def _hashes_to_recount(
    ws: Workspace, customer_ids: Sequence[int], message_ids: Sequence[int] | None
) -> list[list[int]]:
    """The texts whose same-issue figures may have moved, split to go with the customer chunks."""
    wanted = set(message_ids) if message_ids is not None else None
    hashes: set[int] = set()
    for posts in dup.fetch_posts(ws, customer_ids).values():
        hashes.update(p.norm_hash for p in posts if wanted is None or p.id in wanted)
    ordered = sorted(hashes)
    chunks = max(1, -(-len(customer_ids) // CUSTOMER_CHUNK))
    size = max(1, -(-len(ordered) // chunks))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def _finish(report: TriageReport, started: float, *, cancelled: bool = False) -> TriageReport:
    report.cancelled = cancelled
    report.seconds = time.perf_counter() - started
    if report.phases and not cancelled:
        report.phases["customers"] = report.seconds - sum(report.phases.values())
    return report


# -- the clock moving on -------------------------------------------------------------------------


def refresh_clock(
    ws: Workspace,
    *,
    clock: Clock | None = None,
    detector: LanguageDetector | None = None,
    scorer: SentimentScorer | None = None,
) -> set[int]:
    """Flag breaches that happened since the last look and move deadline urgency on.

    Returns the ids of conversations whose figures changed (publish them in ``InboxChanged``).
    """
    ctx = TriageContext.open(ws, clock=clock, detector=detector, scorer=scorer)
    changed: set[int] = set()
    due = repo.customers_due(ws, ctx.now, _BREACH)
    for chunk in _chunks(due, CUSTOMER_CHUNK):
        with ws.transaction():
            moved, _ = triage_customers(ctx, chunk)
        changed |= moved
    last = int(repo.load_prefixed_settings(ws, CLOCK_AT).get(CLOCK_AT) or 0)
    waiting = sorted(set(repo.customers_waiting(ws, last)) - set(due))
    for chunk in _chunks(waiting, CUSTOMER_CHUNK):
        with ws.transaction():
            changed |= refresh_priorities(ctx, chunk)
    repo.store_settings(ws, {CLOCK_AT: str(ctx.now)})
    return changed
