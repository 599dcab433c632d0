"""The conversation header's title: name and handle, cut with "…" to the width there is."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtTest import QTest

from widgets.conversation_panel import TitleLabel

pytestmark = pytest.mark.gui


def test_the_title_elides_to_its_width_and_keeps_everything_in_the_tooltip(qapp: Any) -> None:
    label = TitleLabel("No conversation selected")
    label.set_parts("Emilia Laine", "emilia_laine2713", "#888888")
    label.resize(700, 30)
    label.show()
    QTest.qWait(10)
    assert label.shown_text() == "Emilia Laine emilia_laine2713"
    width = label.fontMetrics().horizontalAdvance("Emilia Laine emilia_la")
    label.resize(width, 30)
    QTest.qWait(10)
    shown = label.shown_text()
    assert shown.startswith("Emilia Laine ") and shown.endswith("…"), shown
    label.resize(label.fontMetrics().horizontalAdvance("Emil") + 30, 30)
    QTest.qWait(10)
    shown = label.shown_text()
    assert shown.startswith("Em") and shown.endswith("…") and "emilia" not in shown, shown
    assert label.toolTip() == "Emilia Laine emilia_laine2713"
    label.set_plain("No conversation selected")
    assert label.shown_text() == "No conversation selected" and label.toolTip() == ""
    label.close()
