"""Worker processes that run one function over chunks, results in order, a few chunks ahead.

Used by the rebuild for its two parallel phases (language and sentiment analysis,
:class:`console.triage.analysis.WorkerPool`; the customers' plans,
:class:`console.triage.customers.PlanPool`). Processes are ``spawn``-ed: safe beside Qt and
threads, and each opens what it needs itself.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Self, TypeVar

C = TypeVar("C")
R = TypeVar("R")


class OrderedPool:
    """``workers`` spawn processes; :meth:`_map` keeps ``2 * workers`` chunks in flight."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.ahead = 2 * workers
        self.executor = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn")
        )

    def _map(self, fn: Callable[[C], R], chunks: Iterable[C]) -> Iterator[tuple[C, R]]:
        """(chunk, ``fn(chunk)``) for each chunk, in the chunks' order (``fn`` must pickle)."""
        pending: deque[tuple[C, Future[R]]] = deque()
        for chunk in chunks:
            pending.append((chunk, self.executor.submit(fn, chunk)))
            if len(pending) >= self.ahead:
                done, oldest = pending.popleft()
                yield done, oldest.result()
        while pending:
            done, oldest = pending.popleft()
            yield done, oldest.result()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
