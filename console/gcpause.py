"""Pausing Python's cyclic garbage collector during bulk work (imports, rebuilds).

A bulk import or rebuild allocates millions of short-lived objects (rows, records, plans) that
reference counting frees as soon as they are dropped, and keeps caches of several hundred thousand
entries that live until the end. The cyclic collector frees neither kind sooner: it only scans, and
each of its full passes walks every live object, the caches included, so it gets slower as they
grow. Measured on a 1,000,000-message import: 6.8 of the importing process's 79 seconds went to
the collector (88 full passes took 4.5 s of it), and after the import a collection found 413
objects in cycles. So bulk work turns the automatic collector off. The rebuild and the worker
processes collect their young objects (those made since the last look) after each chunk; the
importing process leaves its few cycles to the collector that comes back when the last bulk job
of the process ends (collecting after every commit group cost it 2.9 s of a 1M import).

:func:`paused` is for a job in a process that does other things (the window's process runs an
import in a worker thread: the collector pauses for the whole process while it runs, and comes
back when the last of the jobs that paused it ends); :func:`pause_for_good` is for a worker
process that does nothing but bulk work.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collect_young", "pause_for_good", "paused"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


def _enter() -> None:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1


def _leave() -> None:
    global _depth
    with _lock:
        _depth -= 1
        if _depth == 0 and _was_enabled:
            gc.enable()


@contextmanager
def paused() -> Iterator[None]:
    """Turn the automatic cyclic collector off for the duration (nested and threaded uses
    count: the collector comes back when the last one ends, if it was on before the first)."""
    _enter()
    try:
        yield
    finally:
        _leave()


def pause_for_good() -> None:
    """For a process that only does bulk work (an import reader, a triage worker): paused, and
    never left."""
    _enter()


def collect_young() -> None:
    """While paused: collect the cycles among the objects made since the last collection
    (generations 0 and 1; what survives is not looked at again until the collector is back)."""
    if _depth and not gc.isenabled():
        gc.collect(1)
