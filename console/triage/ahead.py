"""Language and sentiment analysed while a bulk import is still writing, on a second core.

:class:`AnalysisAhead` is an ``after_batch`` hook for :class:`~console.storage.ingest.Ingestor`
that does only the analysis part of triage: each batch's new inbound messages go to a worker
process (:func:`console.triage.analysis.analyse`, the very function a rebuild runs), and the
results that came back meanwhile are stored in the batch's transaction. The import goes on while
the worker detects languages and scores sentiment, so the triage after the import
(:func:`console.triage.engine.after_import`) finds them analysed and only has the rules left.

Results are those of a rebuild: the same rows (inbound messages without sentiment), the same
fallback (the customer's language as stored before the triage, which ingest never changes), the
same analysers. Analysis never costs a message: if the worker fails, what it did not return stays
unanalysed and the triage afterwards analyses it as before.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor

from console.storage import triage_repo as repo
from console.storage.db import Workspace
from console.storage.ingest import BatchResult
from console.triage import analysis
from console.triage.context import fallback_rows
from console.triage.settings import load_settings

log = logging.getLogger(__name__)

#: Chunks handed to the worker and not yet stored; past this the import waits for the oldest.
MAX_PENDING = 16


class AnalysisAhead:
    """Analyses the inbound messages of each ingest batch in a worker process.

    Use as ``Ingestor(ws, after_batch=ahead)``, then call :meth:`finish` (stores what is still
    on its way) and :meth:`close` (``with AnalysisAhead(ws) as ahead:`` does both).
    """

    def __init__(self, ws: Workspace, *, max_pending: int = MAX_PENDING) -> None:
        self.min_letters = load_settings(ws).language_min_letters
        self.max_pending = max_pending
        self.submitted = 0
        self.stored = 0
        self.failed = False
        self._pending: deque[Future[list[analysis.Result]]] = deque()
        self._executor: ProcessPoolExecutor | None = ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")
        )
        try:
            # Models load in the worker while the first batches are written.
            self._executor.submit(analysis.start_worker, self.min_letters)
        except (RuntimeError, OSError):  # no worker: the triage afterwards analyses
            log.exception("cannot start the analysis worker")
            self._give_up()

    def __enter__(self) -> AnalysisAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, ws: Workspace, batch: BatchResult) -> None:
        if self._executor is None:
            return
        rows = repo.unanalysed_among(ws, batch.message_ids)
        if rows:
            try:
                self._pending.append(
                    self._executor.submit(
                        analysis.analyse_in_worker, fallback_rows(ws, rows), self.min_letters
                    )
                )
                self.submitted += len(rows)
            except (RuntimeError, OSError):  # the pool broke down: the triage afterwards analyses
                self._give_up()
        self._store_ready(ws, wait_beyond=self.max_pending)

    def finish(self, ws: Workspace) -> None:
        """Wait for what is still being analysed and store it (its own transaction)."""
        with ws.transaction():
            self._store_ready(ws, wait_beyond=0)

    def close(self) -> None:
        """Stop the worker; results not stored yet are dropped (those messages stay unanalysed)."""
        executor, self._executor = self._executor, None
        self._pending.clear()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _store_ready(self, ws: Workspace, *, wait_beyond: int) -> None:
        pending = self._pending
        while pending and (pending[0].done() or len(pending) > wait_beyond):
            future = pending.popleft()
            try:
                results = future.result()
            except Exception:  # a failed worker must not stop the import
                log.exception("analysis during the import failed; the triage will analyse")
                self._give_up()
                return
            repo.store_analysis(ws, results)
            self.stored += len(results)

    def _give_up(self) -> None:
        self.failed = True
        executor, self._executor = self._executor, None
        self._pending.clear()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
