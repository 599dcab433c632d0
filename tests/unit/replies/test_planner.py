"""Reply planning and queueing on a small scene (see ``builders``): one reply per post of a group,
each threaded to its post and in its customer's language; warnings; idempotent queueing; refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.changes import EventBus, InboxChanged, MessagesChanged, OutboxChanged
from console.cli import main
from console.errors import NotFoundError, TemplateError
from console.storage import templates_repo
from console.storage.agents import Agent
from console.storage.db import Workspace
from console.storage.outbox_repo import list_outbox
from console.templates import Variant, make_template
from services.replies import ReplyBlockedError, ReplyPlanner, idempotency_key
from tests.unit.replies.builders import NOW, Clock, build_scene, message_id

AGENT = Agent("Chris Parker", "^CP")


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = build_scene(tmp_path / "scene.sqlite")
    templates_repo.install_stock_templates(workspace, NOW)
    yield workspace
    workspace.close()


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def planner(ws: Workspace, bus: EventBus) -> ReplyPlanner:
    return ReplyPlanner(ws, Clock(), bus=bus)


def test_duplicates_give_one_reply_per_post_each_threaded_and_in_finnish(
    ws: Workspace, planner: ReplyPlanner
) -> None:
    plan = planner.plan("x:fi3", agent=AGENT, template="/refund", to_duplicates=True)
    assert plan.group is not None and plan.group.kind == "duplicates" and plan.group.size == 3
    assert [t.ref for t in plan.targets] == ["x:fi1", "x:fi2", "x:fi3"]
    assert len({t.conversation_id for t in plan.targets}) == 3
    for target in plan.targets:
        assert target.language == "fi" and target.variant == "Finnish, any channel"
        assert target.text.startswith("Hei Maija, hyviä uutisia") and target.text.endswith(" ^CP")
        assert (target.length.limit, target.length.is_over, target.mode) == (280, False, "public")
    answered = {t.ref: t.answered for t in plan.targets}
    assert answered == {"x:fi1": None, "x:fi2": "sent", "x:fi3": None}
    assert plan.targets[1].warnings[0].code == "already_answered"
    assert plan.default_selection() == [0, 2]

    queued = planner.queue(plan, AGENT)
    rows = list_outbox(ws)
    assert len(queued) == 2 and {r["reply_to"] for r in rows} == {"x:fi1", "x:fi3"}
    for row in rows:
        assert row["text"].startswith("Hei Maija") and row["mode"] == "public"
    parents = ws.query(
        "SELECT parent_external_id, conversation_id FROM messages WHERE direction = 'out'"
        " AND delivery = 'queued' ORDER BY parent_external_id"
    )
    assert [p["parent_external_id"] for p in parents] == ["fi1", "fi3"]
    assert {p["conversation_id"] for p in parents} == {
        plan.targets[0].conversation_id,
        plan.targets[2].conversation_id,
    }


def test_same_issue_group_renders_each_customer_in_their_language(planner: ReplyPlanner) -> None:
    plan = planner.plan("x:o2", agent=AGENT, template="/outage", to_duplicates=True)
    assert plan.group is not None and plan.group.kind == "same_issue"
    by_ref = {t.ref: t for t in plan.targets}
    assert set(by_ref) == {"x:o1", "x:o2", "x:o3", "x:o4"}
    assert by_ref["x:o1"].text.startswith("Hi John, we're sorry")
    assert by_ref["x:o2"].text.startswith("Ciao Giulia, ci scusiamo")
    assert by_ref["x:o3"].text.startswith("Hola Pablo, lo sentimos")
    assert len({t.customer_id for t in plan.targets}) == 4


def test_fallback_is_visible_per_target(ws: Workspace, planner: ReplyPlanner) -> None:
    only_en = make_template("English only", [Variant("Hello {{ first_name }}", "en")])
    plan = planner.plan("x:o2", agent=AGENT, template=only_en, to_duplicates=True)
    italian = next(t for t in plan.targets if t.ref == "x:o2")
    assert italian.variant_note == "no Italian variant; used English"
    assert "variant_fallback" in [w.code for w in italian.warnings]
    english = next(t for t in plan.targets if t.ref == "x:o1")
    assert english.variant_note == ""


def test_copied_text_naming_the_first_customer_is_flagged(planner: ReplyPlanner) -> None:
    plan = planner.plan("x:o1", agent=AGENT, text="Hi John, we're on it", to_duplicates=True)
    codes = {t.ref: [w.code for w in t.warnings] for t in plan.targets}
    assert "other_name" not in codes["x:o1"] and "other_name" in codes["x:o2"]
    assert all(t.text == "Hi John, we're on it ^CP" for t in plan.targets)


def test_over_the_limit_is_a_warning_that_blocks_unless_forced(
    ws: Workspace, planner: ReplyPlanner
) -> None:
    plan = planner.plan("x:fi1", agent=AGENT, text="x" * 300)
    target = plan.targets[0]
    assert target.length.over_by == 24  # 300 + " ^CP"
    assert target.warnings[0].code == "over_limit" and "24 weighted characters over" in (
        target.warnings[0].message
    )
    assert not target.selected_by_default
    with pytest.raises(ReplyBlockedError, match="over the X reply limit"):
        planner.queue(plan, AGENT, only=[0])
    assert list_outbox(ws) == []
    assert len(planner.queue(plan, AGENT, only=[0], force=True)) == 1


def test_messaging_windows(planner: ReplyPlanner) -> None:
    laura = planner.plan("messenger:m1", agent=AGENT, template="/delay").targets[0]
    assert [w.code for w in laura.warnings] == ["window_tag"]
    assert laura.messaging_tag == "HUMAN_AGENT" and laura.selected_by_default
    assert "A-77" in laura.text  # custom field from the message
    pekka = planner.plan("whatsapp:w1", agent=AGENT, template="/billing").targets[0]
    assert pekka.text.startswith("Hei Pekka")
    closed = [w for w in pekka.warnings if w.code == "window_closed"]
    assert closed and closed[0].blocking and "template" in closed[0].message
    assert not pekka.selected_by_default
    ana = planner.plan("messenger:m2", agent=AGENT, text="Ciao").targets[0]
    assert ana.warnings == ()
    planner.clock.now = NOW + 23 * 3600  # type: ignore[attr-defined]
    ana_late = planner.plan("messenger:m2", agent=AGENT, text="Ciao").targets[0]
    assert [w.code for w in ana_late.warnings] == ["window_closing"]


def test_sms_phone_and_private_modes(planner: ReplyPlanner) -> None:
    sms = planner.plan("sms:s1", agent=AGENT, template="/refund").targets[0]
    assert sms.variant == "English, SMS" and sms.length.segments == 1
    assert sms.length.encoding == "GSM-7"
    phone = planner.plan("phone:p1", agent=AGENT, text="Thanks for calling").targets[0]
    assert phone.warnings[0].code == "phone" and phone.blocked
    with pytest.raises(ReplyBlockedError, match="call back"):
        planner.queue(planner.plan("phone:p1", agent=AGENT, text="x"), AGENT, only=[0], force=True)
    dm = planner.plan("x:fi1", agent=AGENT, text="Sent you a DM", mode="private").targets[0]
    assert (dm.mode, dm.length.limit, dm.modes) == ("private", 10_000, ("public", "private"))
    assert "private" in [w.code for w in dm.warnings]
    assert planner.plan("sms:s1", agent=AGENT, text="x", mode="public").targets[0].mode == "private"


def test_template_error_queues_nothing(ws: Workspace, planner: ReplyPlanner) -> None:
    broken = make_template(
        "Broken", [Variant("Hei {{ custom.ticket }}", "fi"), Variant("Hi {{ first_name }}", "en")]
    )
    plan = planner.plan("x:o1", agent=AGENT, template=broken, to_duplicates=True)
    assert not plan.errors
    plan = planner.plan("x:fi1", agent=AGENT, template=broken, to_duplicates=True)
    assert plan.errors and "unknown variable 'custom.ticket'" in plan.errors[0]
    with pytest.raises(TemplateError, match="nothing queued"):
        planner.queue(plan, AGENT, only=range(len(plan.targets)))
    sandbox = make_template("Escape", [Variant("{{ customer.__class__.__mro__ }}")])
    plan = planner.plan("x:o1", agent=AGENT, template=sandbox)
    with pytest.raises(TemplateError, match="not allowed"):
        planner.queue(plan, AGENT, only=[0])
    assert list_outbox(ws) == []


def test_queueing_is_idempotent_and_published(
    ws: Workspace, planner: ReplyPlanner, bus: EventBus
) -> None:
    seen: list[object] = []
    bus.subscribe(OutboxChanged, seen.append)
    bus.subscribe(MessagesChanged, seen.append)
    bus.subscribe(InboxChanged, seen.append)
    plan = planner.plan("x:o1", agent=AGENT, template="/outage", to_duplicates=True)
    first = planner.queue(plan, AGENT)
    again = planner.queue(plan, AGENT)  # the double click
    assert [q.outbox_id for q in first] == [q.outbox_id for q in again]
    assert len(list_outbox(ws)) == 4
    assert first[0].idem_key == idempotency_key(plan.batch_id, plan.targets[0])
    kinds = [type(c) for c in seen[:3]]
    assert kinds == [OutboxChanged, MessagesChanged, InboxChanged]
    outbox_change = seen[0]
    assert isinstance(outbox_change, OutboxChanged)
    assert outbox_change.item_ids == frozenset(q.outbox_id for q in first)
    # a new plan for the same posts: they now have replies queued, so nothing is chosen
    replan = planner.plan("x:o1", agent=AGENT, template="/outage", to_duplicates=True)
    assert {t.answered for t in replan.targets} == {"queued"}
    assert replan.default_selection() == []
    payload = json.loads(ws.scalar("SELECT payload FROM outbox ORDER BY id LIMIT 1"))
    assert payload["template"] == "Outage apology" and payload["batch"] == plan.batch_id


def test_send_and_resolve(ws: Workspace, planner: ReplyPlanner) -> None:
    plan = planner.plan("x:fi1", agent=AGENT, text="Fixed now")
    planner.queue(plan, AGENT, resolve=True)
    status = ws.scalar(
        "SELECT status FROM conversations WHERE id = ?", (plan.targets[0].conversation_id,)
    )
    assert status == "resolved"


def test_message_references(ws: Workspace, planner: ReplyPlanner) -> None:
    assert planner.resolve_message("x:fi1") == message_id(ws, "x:fi1")
    assert planner.resolve_message(str(message_id(ws, "x:fi1"))) == message_id(ws, "x:fi1")
    with pytest.raises(NotFoundError):
        planner.resolve_message("x:nope")
    with pytest.raises(NotFoundError, match="unknown channel"):
        planner.resolve_message("fax:1")


def test_context_for_the_composer(planner: ReplyPlanner, ws: Workspace) -> None:
    conv = int(ws.scalar("SELECT conversation_id FROM messages WHERE external_id = 'fi3'"))
    ctx = planner.context(conv, agent=AGENT)
    assert ctx.message_id == message_id(ws, "x:fi3")
    assert (ctx.channel.value, ctx.language, ctx.modes) == ("x", "fi", ("public", "private"))
    assert [g.kind for g in ctx.groups] == ["duplicates"] and ctx.groups[0].size == 3
    assert ctx.customer == "Maija Virtanen"


def _cli(db: str, *args: str) -> list[str]:
    return ["--db", db, *args]


def test_cli_reply_dry_run_then_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_scene(tmp_path / "cli.sqlite").close()
    db = str(tmp_path / "cli.sqlite")
    args = _cli(db, "reply", "x:fi1", "--template", "Refund started", "--to-duplicates", "--json")
    assert main([*args, "--dry-run"]) == 0
    targets = json.loads(capsys.readouterr().out)
    assert [t["message"] for t in targets] == ["x:fi1", "x:fi2", "x:fi3"]
    for t in targets:
        assert {"channel", "account", "customer", "text", "length", "limit", "warnings"} <= set(t)
        assert t["text"].startswith("Hei Maija") and t["limit"] == 280 and not t["queued"]
    assert [t["would_queue"] for t in targets] == [True, False, True]
    assert main(["--db", db, "reply", "x:fi1", "--text", "x", "--dry-run"]) == 0
    capsys.readouterr()
    with Workspace(db) as ws:
        assert list_outbox(ws) == []

    assert main([*args, "--agent", "Chris Parker"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert [t["queued"] for t in done] == [True, False, True]
    assert "already answered" in done[1]["skipped"]
    with Workspace(db) as ws:
        rows = list_outbox(ws)
        assert sorted(r["reply_to"] for r in rows) == ["x:fi1", "x:fi3"]
        assert all(r["text"].endswith(" ^CP") for r in rows)


def test_cli_template_error_exits_non_zero_and_queues_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = build_scene(tmp_path / "err.sqlite")
    templates_repo.install_stock_templates(ws, NOW)
    templates_repo.create(
        ws, make_template("Bad", [Variant("Hi {{ customer.nmae }}")], shortcut="/bad"), NOW
    )
    ws.close()
    db = str(tmp_path / "err.sqlite")
    assert main(["--db", db, "reply", "x:o1", "--template", "/bad", "--to-duplicates"]) == 2
    captured = capsys.readouterr()
    assert "unknown variable 'customer.nmae'" in captured.err
    assert all(t["error"] and not t["queued"] for t in json.loads(captured.out))
    with Workspace(db) as check:
        assert list_outbox(check) == []
    assert main(["--db", db, "reply", "x:o1", "--template", "/nope"]) == 2
    assert "no template '/nope'" in capsys.readouterr().err
