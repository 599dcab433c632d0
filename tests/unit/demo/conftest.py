"""Fixtures of the demo tests: one small demo workspace built once for the module's reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: A fixed moment (Monday 1 December 2025, 12:00 UTC): the demo's "now" in these tests.
NOW = 1_764_590_400


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A demo at a tenth of its size, built once: (open workspace, build summary)."""
    from console.demo import build_demo
    from console.storage.db import Workspace

    path = Path(tmp_path_factory.mktemp("demo")) / "demo.sqlite"
    ws = Workspace(path)
    summary = build_demo(ws, now=NOW, scale=0.1)
    yield ws, summary
    ws.close()
