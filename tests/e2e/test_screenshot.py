"""``agent-console screenshot`` renders the real window to a PNG an agent can look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QImage

from console.cli import main
from console.storage.db import Workspace
from tests.helpers.scenario import build_inbox, customer_id

pytestmark = [pytest.mark.gui, pytest.mark.e2e]
NOW = 1_764_000_000


def distinct_colours(image: QImage) -> int:
    seen = set()
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            seen.add(image.pixel(x, y))
    return len(seen)


def test_inbox_and_customer_screenshots(tmp_path: Path, qapp: Any, capsys: Any) -> None:
    db = tmp_path / "ws.sqlite"
    with Workspace(db) as ws:
        build_inbox(ws, NOW, n_filler=10)
        andy = customer_id(ws, "andyloynes")
    out = tmp_path / "inbox.png"
    assert main(["--db", str(db), "screenshot", str(out), "--size", "1280x800"]) == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    assert distinct_colours(image) > 20  # not a blank or single-colour window
    customer = tmp_path / "customer.png"
    assert (
        main(
            ["--db", str(db), "screenshot", str(customer), "--view", "customer", "--theme", "dark"]
        )
        == 0
    )
    assert f'"customer": {andy}' in capsys.readouterr().out  # the customer on most channels
    assert QImage(str(customer)).width() == 1600


def test_bad_size_is_a_clear_error(tmp_path: Path, qapp: Any, capsys: Any) -> None:
    db = tmp_path / "ws.sqlite"
    Workspace(db).close()
    assert main(["--db", str(db), "screenshot", str(tmp_path / "x.png"), "--size", "huge"]) == 2
    assert "is not like 1600x960" in capsys.readouterr().err
