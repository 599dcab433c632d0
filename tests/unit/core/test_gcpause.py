"""The cyclic collector pauses during bulk work and comes back after it; cycles are still freed."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import gcpause
from console.storage.db import Workspace
from console.triage.engine import rebuild
from console.triage.pool import OrderedPool


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_paused_turns_the_collector_off_and_back_on() -> None:
    with gcpause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_stays_off_until_the_last_nested_or_threaded_job_ends() -> None:
    inner_started, outer_done = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other_job() -> None:
        with gcpause.paused():
            inner_started.set()
            outer_done.wait(5)
            seen.append(gc.isenabled())  # the first job ended: still off, this one runs
        seen.append(gc.isenabled())

    with gcpause.paused():
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the inner job ending does not end the outer one"
        worker = threading.Thread(target=other_job)
        worker.start()
        assert inner_started.wait(5)
    outer_done.set()
    worker.join(5)
    assert seen == [False, True]


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with gcpause.paused():
        pass
    assert not gc.isenabled()


def test_cycles_made_while_paused_are_freed_by_collect_young() -> None:
    with gcpause.paused():
        node = _Node()
        ref = weakref.ref(node)
        del node
        assert ref() is not None, "paused: nothing collects the cycle by itself"
        gcpause.collect_young()
        assert ref() is None


def test_collect_young_does_nothing_outside_bulk_work() -> None:
    node = _Node()
    ref = weakref.ref(node)
    gc.disable()
    try:
        del node
        gcpause.collect_young()  # not paused by us: the caller's setting is left alone
        assert ref() is not None
    finally:
        gc.enable()
        gc.collect()
    assert ref() is None


def test_a_rebuild_pauses_the_collector_and_restores_it(tmp_path: Path) -> None:
    states: list[bool] = []
    with Workspace(tmp_path / "ws.sqlite") as ws:
        rebuild(ws, progress=lambda done, total: states.append(gc.isenabled()), workers=1)
    assert states and not any(states)
    assert gc.isenabled()


def _collector_state(_: int) -> bool:
    return gc.isenabled()


def test_pool_workers_run_with_the_collector_off() -> None:
    with OrderedPool(1) as pool:
        results = [result for _, result in pool._map(_collector_state, [1, 2])]
    assert results == [False, False]
    assert gc.isenabled(), "the calling process keeps its collector"
