"""Reports for a period, per account and agent: figures, CSV export and the ``report`` command."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from console.cli import main
from console.domain import Channel
from console.storage.db import Workspace
from services.metrics import REPORT_COLUMNS, UNSIGNED, Report, build_report, save_report_csv
from tests.unit.metrics.builders import DAY, HOUR, Scenario

NOW = DAY + 30 * HOUR
MIN = 60


@pytest.fixture
def report_ws(workspace: Workspace) -> Workspace:
    s = Scenario(workspace)
    c1 = s.inbound("Brand", "ann", DAY + HOUR)
    s.reply("Brand", DAY + HOUR + 10 * MIN, c1, text="Happy to help", agent="Ana")
    c2 = s.inbound("Brand", "bob", DAY + 2 * HOUR)
    s.reply("Brand", DAY + 4 * HOUR, c2, text="Sorry for the wait ^JL")  # 2 h: past the 1 h target
    c3 = s.inbound("Brand", "cat", DAY + 3 * HOUR)  # never answered; triage's deadline passed
    s.set_conversation(s.conversation(c3), deadline_at=DAY + 3 * HOUR + 30 * MIN)
    c4 = s.inbound("Brand", "dan", DAY + 4 * HOUR)
    s.reply("Brand", DAY + 4 * HOUR + 30 * MIN, c4, text="Done ^JL")
    s.set_conversation(
        s.conversation(c4), assignee="Ben", status="resolved", resolved_at=DAY + 6 * HOUR
    )
    c5 = s.inbound("Brand", "eve", DAY - 20 * HOUR)  # before the period: only its reply counts
    s.reply("Brand", DAY + 5 * HOUR, c5, text="Back to you ^JL")
    s.inbound("Brand", "ann", DAY + 25 * HOUR)  # ann comes back within a week: a repeat contact
    c7 = s.inbound("Support", "joe@example.org", DAY + 5 * HOUR, channel=Channel.EMAIL)
    s.reply("Support", DAY + 8 * HOUR, c7, text="Regards, the team", channel=Channel.EMAIL)
    return workspace


def rows_by_name(rows: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {row["name"]: row for row in rows}


def test_report_figures_per_account_and_agent(report_ws: Workspace) -> None:
    report = build_report(report_ws, DAY, DAY + 24 * HOUR, NOW)
    total = report.total
    assert total["conversations"] == 5
    assert total["responded"] == 4  # 10 min, 2 h, 30 min, 3 h
    assert total["first_response_median_s"] == (30 * MIN + 2 * HOUR) / 2
    assert total["first_response_p90_s"] == 3 * HOUR
    assert (total["resolved"], total["resolution_median_s"]) == (1, 2 * HOUR)
    assert total["replies"] == 5
    assert total["breaches"] == 2  # bob answered late, cat never answered (email's 24 h not passed)
    assert (total["repeat_contacts"], total["repeat_contact_rate"]) == (1, 0.25)

    accounts = rows_by_name(report.accounts)
    brand, support = accounts["Brand"], accounts["Support"]
    assert (brand["conversations"], brand["responded"], brand["breaches"], brand["replies"]) == (
        4,
        3,
        2,
        4,
    )
    assert (brand["first_response_median_s"], brand["first_response_p90_s"]) == (30 * MIN, 2 * HOUR)
    assert brand["channel"] == "x"
    assert (support["conversations"], support["breaches"], support["first_response_median_s"]) == (
        1,
        0,
        3 * HOUR,
    )

    agents = rows_by_name(report.agents)
    assert set(agents) == {"Ana", "^JL @Brand", "Ben", UNSIGNED}
    assert (agents["Ana"]["first_response_median_s"], agents["Ana"]["repeat_contacts"]) == (
        10 * MIN,
        1,
    )
    assert (agents["^JL @Brand"]["conversations"], agents["^JL @Brand"]["breaches"]) == (1, 1)
    assert agents["^JL @Brand"]["replies"] == 3
    # Ben owns the conversation assigned to him, although ^JL answered it.
    assert (
        agents["Ben"]["conversations"],
        agents["Ben"]["resolved"],
        agents["Ben"]["replies"],
    ) == (1, 1, 0)
    assert (agents[UNSIGNED]["conversations"], agents[UNSIGNED]["breaches"]) == (2, 1)
    assert report.agents[-1]["name"] == UNSIGNED


def test_an_empty_period_reports_zeros(report_ws: Workspace) -> None:
    report = build_report(report_ws, DAY + 10 * 86400, DAY + 11 * 86400, NOW)
    assert report.total["conversations"] == 0 and report.total["replies"] == 0
    assert report.total["first_response_median_s"] is None
    assert report.total["repeat_contact_rate"] is None
    assert report.accounts == [] and report.agents == []


def test_csv_export_round_trips(report_ws: Workspace, tmp_path: Path) -> None:
    report = build_report(report_ws, DAY, DAY + 24 * HOUR, NOW)
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "report.csv"
    assert save_report_csv(report, path) == len(report.rows())
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == REPORT_COLUMNS
        rows = list(reader)
    assert [r["name"] for r in rows] == [r["name"] for r in report.rows()]
    assert rows[0]["breaches"] == "2" and rows[0]["resolution_p90_s"] == "7200.0"
    assert [p.name for p in folder.iterdir()] == ["report.csv"]  # no temporary file left


def test_csv_export_to_a_missing_folder_says_so(tmp_path: Path) -> None:
    from services.metrics import ReportFileError

    empty = Report(0, 1, {k: None for k in REPORT_COLUMNS}, [], [])
    with pytest.raises(ReportFileError, match="does not exist"):
        save_report_csv(empty, tmp_path / "nope" / "r.csv")


def test_report_command_prints_json_and_writes_csv(
    report_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_csv = tmp_path / "out.csv"
    args = ["--db", str(report_ws.path), "report", "--from", "2023-11-14", "--to", "2023-11-14"]
    assert main([*args, "--tz", "UTC", "--csv", str(out_csv)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (
        printed["from"] == "2023-11-14T00:00:00+00:00"
        and printed["to"] == "2023-11-15T00:00:00+00:00"
    )
    assert printed["total"]["conversations"] == 5
    assert printed["csv"] == {"file": str(out_csv), "rows": 1 + 2 + 4}
    assert out_csv.read_text(encoding="utf-8").startswith("scope,name,channel,")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "2023-02-30", "--to", "2023-03-01"], "is not a date"),
        (["--from", "2023-03-02", "--to", "2023-03-01"], "is before"),
        (["--from", "2023-03-01", "--to", "2023-03-01", "--tz", "Nowhere/Land"], "time zone"),
        (
            ["--from", "2023-03-01", "--to", "2023-03-01", "--csv", "/no/such/folder/r.csv"],
            "does not exist",
        ),
    ],
)
def test_report_command_refuses_bad_input(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["--db", str(workspace.path), "report", *extra]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_breaches_follow_the_accounts_business_hours(workspace: Workspace) -> None:
    """2023-11-14 is a Tuesday; the account answers 09:00-17:00 UTC on weekdays, within 1 hour."""
    s = Scenario(workspace)
    quick = s.inbound("Office", "ann", DAY + 16 * HOUR + 45 * MIN)  # 15 min left on Tuesday
    s.reply("Office", DAY + 33 * HOUR + 10 * MIN, quick)  # Wednesday 09:10: 25 business minutes
    slow = s.inbound("Office", "bob", DAY + 16 * HOUR)
    s.reply("Office", DAY + 33 * HOUR + 30 * MIN, slow)  # Wednesday 09:30: 90 business minutes
    hours = {
        "timezone": "UTC",
        "week": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    }
    with workspace.transaction() as conn:
        conn.execute("UPDATE accounts SET business_hours = ?", (json.dumps(hours),))
    report = build_report(workspace, DAY, DAY + 24 * HOUR, DAY + 3 * 86400)
    assert (report.total["conversations"], report.total["breaches"]) == (2, 1)
    with workspace.transaction() as conn:
        conn.execute("UPDATE accounts SET business_hours = NULL")
    around_the_clock = build_report(workspace, DAY, DAY + 24 * HOUR, DAY + 3 * 86400)
    assert around_the_clock.total["breaches"] == 2
