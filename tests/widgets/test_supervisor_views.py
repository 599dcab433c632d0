"""The supervisor panel as a supervisor sees it: a rendered screenshot, the charts, the report dialog.

Set ``SUPERVISOR_SCREENSHOT=/some/file.png`` to keep the rendered panel for a look.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from datetime import UTC, date
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QWidget

from console.changes import EventBus
from console.storage import metrics as store
from console.storage.db import Workspace
from services.metrics import duration
from tests.helpers.aio import signal_emitted, until
from tests.unit.metrics.builders import DAY, HOUR, Scenario
from widgets.bridge import QtBridge
from widgets.supervisor import SupervisorDock
from widgets.supervisor_alerts import TrayNotifier
from widgets.supervisor_charts import SERIES, nice_ceiling
from widgets.supervisor_models import ReportModel
from widgets.supervisor_report import ReportDialog

NOW = DAY + 16 * HOUR


@pytest.fixture
def busy(workspace: Workspace) -> Workspace:
    """A day of traffic on three accounts with every kind of figure present."""
    s = Scenario(workspace)
    n = 0
    for hour in range(8, 16):
        for account, share in (("AcmeHelp", 5), ("AcmeShop", 2), ("acme-mail", 1)):
            for _ in range(share):
                n += 1
                at = DAY + hour * HOUR + (n * 397) % 3000
                post = s.inbound(account, f"cust{n % 23}", at, text=f"order {n} has not arrived")
                if n % 3:
                    agent = ("Ana", "Ben", None)[n % 3]
                    text = "On it ^CP" if agent is None else "Let me check that for you."
                    s.reply(
                        account, at + 60 * (n % 7 + 1) * (n % 4 + 1), post, text=text, agent=agent
                    )
                elif at > NOW - 3 * HOUR:
                    s.set_conversation(s.conversation(post), deadline_at=at + HOUR)
    posts = [
        s.inbound("AcmeHelp", f"late{i}", NOW - 1500 + 30 * i, text="app logs me out")
        for i in range(6)
    ]
    s.group(posts, sample="the app logs me out after the update")
    for i, post in enumerate(posts[:3]):
        s.flag(s.customer(post), ("repeat", "escalating", "high_reach")[i])
        s.set_conversation(s.conversation(post), assignee=("Ana", "Ben", "Ana")[i])
    store.add_alerts(
        workspace, [store.NewAlert("breach", "@cust3 waited 1 h 20 past the deadline")], NOW - 300
    )
    return workspace


@pytest.fixture
def dock(qtbot: Any, qloop: Any, busy: Workspace) -> Iterator[SupervisorDock]:
    bridge = QtBridge(EventBus())
    panel = SupervisorDock(busy, bridge, lambda: NOW, tz=UTC, notifier=TrayNotifier())
    qtbot.addWidget(panel)
    panel.resize(400, 1350)
    panel.show()
    yield panel
    panel.shutdown()
    bridge.detach()


def has_colour(image: QImage, colour: QColor, tolerance: int = 40) -> bool:
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            c = image.pixelColor(x, y)
            if (
                abs(c.red() - colour.red())
                + abs(c.green() - colour.green())
                + abs(c.blue() - colour.blue())
                < tolerance
            ):
                return True
    return False


def grab(widget: QWidget) -> QImage:
    return widget.grab().toImage()


def test_the_rendered_panel_shows_every_part(
    arun: Callable[..., Any], dock: SupervisorDock, tmp_path: Path
) -> None:
    async def ready() -> None:
        await until(lambda: dock.snapshot is not None and dock.alert_list.shown != [])

    arun(ready())
    path = Path(os.environ.get("SUPERVISOR_SCREENSHOT") or tmp_path / "supervisor.png")
    assert dock.grab().save(str(path))
    image = QImage(str(path))
    assert (image.width(), image.height()) == (dock.width(), dock.height())
    assert has_colour(grab(dock.hourly), SERIES["inbound"])  # inbound bars
    assert has_colour(grab(dock.hourly), SERIES["replies"])  # the replies line
    assert has_colour(grab(dock.frt), SERIES["replies"])
    assert not has_colour(grab(dock.trend), SERIES["bad"]) or sum(n for _, n in dock.trend.days) > 0
    snap = dock.snapshot
    assert snap is not None
    assert dock.queue_model.rowCount() == 4  # all accounts + three accounts
    assert dock.hint.isVisibleTo(dock) and dock.updated.text() == "updated 16:00"
    assert [
        b.isEnabled() for k, b in dock.flag_buttons.items() if k in ("repeat", "escalating")
    ] == [True, True]
    assert dock._group_buttons and "logs me out" in dock._group_buttons[0].full_text
    assert {a.name for a in snap.agents} >= {"Ana", "Ben", "^CP @AcmeHelp"}
    assert sum(snap.inbound_by_hour) == 70 and sum(snap.replies_by_hour) > 0
    # Every part fits the dock's width: nothing is pushed past the right edge.
    body = dock.widget()
    assert body is not None and body.width() <= dock.width()


def test_the_panel_follows_a_dark_palette(arun: Callable[..., Any], dock: SupervisorDock) -> None:
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#202326"),
        (QPalette.ColorRole.WindowText, "#e6e6e6"),
        (QPalette.ColorRole.Base, "#1b1d20"),
        (QPalette.ColorRole.AlternateBase, "#25282c"),
        (QPalette.ColorRole.Text, "#e6e6e6"),
    ):
        palette.setColor(role, QColor(colour))
    dock.setPalette(palette)

    async def ready() -> None:
        await until(lambda: dock.snapshot is not None)

    arun(ready())
    chart = grab(dock.hourly)
    corner = chart.pixelColor(chart.width() - 2, chart.height() - 2)
    assert corner.lightness() < 80  # the chart paints on the dark window colour
    assert has_colour(chart, QColor("#e6e6e6"), tolerance=90)  # its caption uses the light text


def test_chart_axes_round_up() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 2, 7, 11, 590, 901, 1001)] == [
        1,
        1,
        2,
        8,
        15,
        600,
        1000,
        1500,
    ]
    assert [duration(v) for v in (None, 5, 61, 3599, 3600, 7260, 200000)] == [
        "—",
        "5 s",
        "1 min",
        "59 min",
        "1 h 00",
        "2 h 01",
        "2 d 7 h",
    ]


def test_the_report_dialog_computes_and_exports(
    arun: Callable[..., Any], qtmodeltester: Any, dock: SupervisorDock, tmp_path: Path
) -> None:
    dialog = ReportDialog(dock.worker, lambda: NOW, tz=UTC, parent=dock)
    assert dialog.end_edit.date().toPython() == date(2023, 11, 14)
    assert not dialog.export_button.isEnabled()
    assert not dialog.export_csv(tmp_path / "early.csv")  # nothing to export yet

    async def run() -> Any:
        waiter = signal_emitted(dialog.report_ready)
        dialog.run_report()
        (report,) = await waiter
        return report

    report = arun(run())
    assert report.total["conversations"] == 70
    assert dialog.model.rowCount() == 1 + len(report.accounts) + len(report.agents)
    assert "70 conversations" in dialog.status.text()
    qtmodeltester.check(dialog.model)
    target = tmp_path / "week.csv"
    assert dialog.export_csv(target)
    with target.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["conversations"] == "70" and len(rows) == dialog.model.rowCount()
    assert not dialog.export_csv(tmp_path / "missing" / "r.csv")
    assert "does not exist" in dialog.status.text()
    dialog.set_period(date(2023, 11, 15), date(2023, 11, 14))
    dialog.run_report()
    assert "before the first day" in dialog.status.text()
    dialog.close()


def test_report_model_shows_durations_and_rates(qtmodeltester: Any) -> None:
    from services.metrics import Report

    row = {
        "scope": "account",
        "name": "Brand",
        "channel": "x",
        "conversations": 3,
        "responded": 2,
        "first_response_median_s": 4500.0,
        "first_response_p90_s": None,
        "resolved": 0,
        "resolution_median_s": None,
        "resolution_p90_s": None,
        "replies": 0,
        "breaches": 1,
        "repeat_contacts": 1,
        "repeat_contact_rate": 0.5,
    }
    model = ReportModel()
    model.set_report(
        Report(0, 1, dict(row, scope="total", name="all accounts", channel=""), [row], [])
    )
    qtmodeltester.check(model)
    texts = [model.index(1, c).data() for c in range(model.columnCount())]
    assert texts[0] == "x · Brand" and texts[3] == "1 h 15" and texts[4] == "—"
    assert texts[-1] == "50.0 %"
