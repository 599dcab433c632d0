"""Worker processes that run one function over chunks, results in order, a few chunks ahead.

Used by the rebuild for its two parallel phases (language and sentiment analysis,
:class:`console.triage.analysis.WorkerPool`; the customers' plans,
:class:`console.triage.customers.PlanPool`). Processes are ``spawn``-ed: safe beside Qt and
threads, and each opens what it needs itself. They do nothing but bulk work, so their cyclic
garbage collector is off and each task collects its young objects at its end
(:mod:`console.gcpause`).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Self, TypeVar

from console import gcpause

C = TypeVar("C")
R = TypeVar("R")


def _tidied(fn: Callable[[C], R], chunk: C) -> R:
    """``fn(chunk)`` in a worker, then its young objects collected (see the module docs)."""
    try:
        return fn(chunk)
    finally:
        gcpause.collect_young()


class OrderedPool:
    """``workers`` spawn processes; :meth:`_map` keeps ``2 * workers`` chunks in flight."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.ahead = 2 * workers
        self.executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=gcpause.pause_for_good,
        )

    def _map(self, fn: Callable[[C], R], chunks: Iterable[C]) -> Iterator[tuple[C, R]]:
        """(chunk, ``fn(chunk)``) for each chunk, in the chunks' order (``fn`` must pickle)."""
        pending: deque[tuple[C, Future[R]]] = deque()
        for chunk in chunks:
            pending.append((chunk, self.executor.submit(_tidied, fn, chunk)))
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
