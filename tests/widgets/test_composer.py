"""The composer, the duplicates preview and the template manager, offscreen with pytest-qt.

The scene is ``tests/unit/replies/builders.py``: Maija posted one complaint three times on X (one
post already answered), four customers reported an outage, Laura wrote on Messenger 30 hours ago.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from console.storage import templates_repo
from console.storage.agents import Agent
from console.storage.db import Workspace
from console.storage.drafts import get_draft
from console.storage.outbox_repo import list_outbox
from services.replies import ReplyPlanner
from tests.unit.replies.builders import NOW, Clock, build_scene
from widgets.composer import Composer
from widgets.duplicates_dialog import TICK, PreviewModel
from widgets.templates_dialog import TemplateListModel, TemplatesDialog, VariantsModel

AGENT = Agent("Chris Parker", "^CP")
pytestmark = pytest.mark.gui


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = build_scene(tmp_path / "scene.sqlite")
    templates_repo.install_stock_templates(workspace, NOW)
    yield workspace
    workspace.close()


@pytest.fixture
def planner(ws: Workspace) -> ReplyPlanner:
    return ReplyPlanner(ws, Clock())


def conv_of(ws: Workspace, external_id: str) -> int:
    return int(
        ws.scalar("SELECT conversation_id FROM messages WHERE external_id = ?", (external_id,))
    )


@pytest.fixture
def composer(qtbot: Any, planner: ReplyPlanner, ws: Workspace) -> Composer:
    widget = Composer(planner, AGENT)
    qtbot.addWidget(widget)
    widget.resize(860, 240)
    widget.show()
    widget.set_conversation(conv_of(ws, "fi3"), None)
    widget.focus_editor()
    return widget


def test_typing_a_shortcut_and_enter_inserts_the_rendered_template(
    qtbot: Any, composer: Composer
) -> None:
    qtbot.keyClicks(composer.editor, "/refu")
    assert composer.popup.isVisible()
    current = composer.popup.current()
    assert current is not None and current.shortcut == "/refund"
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return)
    assert not composer.popup.isVisible()
    text = composer.text()
    assert text.startswith("Hei Maija, hyviä uutisia") and "/refu" not in text
    assert "Refund started" in composer.note.text()


def test_the_picker_filters_moves_and_closes(qtbot: Any, composer: Composer) -> None:
    composer.set_text("Thanks! ")
    qtbot.keyClick(composer.editor, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert composer.popup.isVisible() and composer.text() == "Thanks! /"
    assert composer.popup.model.rowCount() == len(templates_repo.list_templates(composer.ws))
    qtbot.keyClicks(composer.editor, "de")
    names = [t.shortcut for t in composer.popup.model.templates]
    assert set(names[:2]) == {"/delay", "/delivery"}  # shortcuts first, then names ("details")
    first = composer.popup.current()
    qtbot.keyClick(composer.editor, Qt.Key.Key_Down)
    assert composer.popup.current() is not first
    qtbot.keyClick(composer.editor, Qt.Key.Key_Escape)
    assert not composer.popup.isVisible() and composer.text() == "Thanks! /de"
    composer.set_text("a/b")  # a slash inside a word is no shortcut
    assert not composer.popup.isVisible()


def test_tab_inserts_too_and_signature_is_shown(qtbot: Any, composer: Composer) -> None:
    qtbot.keyClicks(composer.editor, "/thanks")
    qtbot.keyClick(composer.editor, Qt.Key.Key_Tab)
    assert composer.text().startswith("Kiitos paljon, Maija!")
    assert composer.signature_label.text() == "signed ^CP"
    assert composer.outgoing_text().endswith(" ^CP")


def test_counter_updates_and_turns_red_over_the_limit(qtbot: Any, composer: Composer) -> None:
    qtbot.keyClicks(composer.editor, "Hello")
    assert composer.counter.text() == "9/280"  # "Hello ^CP"
    assert composer.counter.property("state") == "ok"
    composer.set_text("x" * 260)
    assert composer.counter.property("state") == "near"
    composer.set_text("x" * 290)
    assert composer.counter.text() == "294/280"
    assert composer.counter.property("state") == "over"
    assert "over the X reply limit" in composer.note.text()
    assert composer.note.property("level") == "stop"
    # the first Ctrl+Enter only warns; the second queues anyway
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert list_outbox(composer.ws) == [] and "again" in composer.note.text()
    with qtbot.waitSignal(composer.queued, timeout=1000):
        qtbot.keyClick(composer.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(list_outbox(composer.ws)) == 1


def test_private_message_switch_changes_the_rule(qtbot: Any, composer: Composer) -> None:
    assert composer.mode == "public" and composer.mode_box.isVisibleTo(composer)
    composer.set_text("x" * 290)
    qtbot.keyClick(composer.editor, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert composer.mode == "private" and composer.counter.text() == "294/10,000"
    assert composer.mode_buttons["private"].isChecked()


def test_send_queues_one_reply_threaded_to_the_post_and_clears(
    qtbot: Any, composer: Composer, ws: Workspace
) -> None:
    qtbot.keyClicks(composer.editor, "Kiitos, katsomme asiaa")
    with qtbot.waitSignal(composer.queued, timeout=1000) as sent:
        composer.send_button.click()
    assert len(sent.args[0]) == 1
    rows = list_outbox(ws)
    assert [r["reply_to"] for r in rows] == ["x:fi3"]
    assert rows[0]["text"] == "Kiitos, katsomme asiaa ^CP"
    assert composer.text() == "" and get_draft(ws, conv_of(ws, "fi3")) is None


def test_send_and_resolve_asks_the_window_to_resolve(
    qtbot: Any, composer: Composer, ws: Workspace
) -> None:
    qtbot.keyClicks(composer.editor, "Done")
    with qtbot.waitSignal(composer.resolve_requested, timeout=1000) as asked:
        qtbot.keyClick(
            composer.editor,
            Qt.Key.Key_Return,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
        )
    assert asked.args[0] == [conv_of(ws, "fi3")]


def test_messaging_window_warning(composer: Composer, ws: Workspace) -> None:
    composer.set_conversation(conv_of(ws, "m1"), None)
    assert not composer.mode_box.isVisibleTo(composer)
    composer.set_text("Hi Laura")
    assert "Outside the 24-hour window" in composer.note.text()
    assert composer.note.property("level") == "caution"
    assert composer.counter.text() == "12/2,000"


def test_duplicates_preview_untick_one_and_queue_exactly_the_ticked(
    qtbot: Any, composer: Composer, ws: Workspace
) -> None:
    assert composer.duplicates_button.isVisibleTo(composer)
    assert composer.duplicates_button.text() == "Copy to all 3 duplicates"
    qtbot.keyClicks(composer.editor, "/refund")
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return)
    dialog = composer.copy_to_duplicates()
    assert dialog is not None
    qtbot.addWidget(dialog)
    model = dialog.model
    refs = [t.ref for t in model.plan.targets]
    assert refs == ["x:fi1", "x:fi2", "x:fi3"]
    assert model.ticked == [True, False, True]  # x:fi2 was answered already
    assert all(t.text.startswith("Hei Maija") for t in model.plan.targets)
    assert dialog.queue_button.text() == "Queue 2 replies"
    model.setData(model.index(0, TICK), Qt.CheckState.Unchecked, Qt.ItemDataRole.CheckStateRole)
    assert dialog.queue_button.text() == "Queue 1 reply"
    with qtbot.waitSignal(composer.queued, timeout=1000):
        dialog.queue_button.click()
    assert [r["reply_to"] for r in list_outbox(ws)] == ["x:fi3"]
    assert composer.text() == ""


def test_same_issue_preview_renders_each_language_and_space_ticks(
    qtbot: Any, composer: Composer, ws: Workspace
) -> None:
    composer.set_conversation(conv_of(ws, "o1"), None)
    assert composer.duplicates_button.text() == "Copy to all 4 posts about this issue"
    qtbot.keyClicks(composer.editor, "/outage")
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return)
    dialog = composer.copy_to_duplicates()
    assert dialog is not None
    qtbot.addWidget(dialog)
    texts = {t.ref: t.text[:9] for t in dialog.plan.targets}
    assert texts == {
        "x:o1": "Hi John, ",
        "x:o2": "Ciao Giul",
        "x:o3": "Hola Pabl",
        "x:o4": "Hi Kim, w",
    }
    dialog.table.setFocus()
    dialog.table.setCurrentIndex(dialog.model.index(1, 1))
    qtbot.keyClick(dialog.table, Qt.Key.Key_Space)
    assert dialog.model.ticked == [True, False, True, True]
    assert "Ciao Giulia" in dialog.detail.toPlainText()
    dialog.resolve.setChecked(True)
    with qtbot.waitSignal(dialog.resolve_requested, timeout=1000) as asked:
        dialog.queue_button.click()
    assert sorted(r["reply_to"] for r in list_outbox(ws)) == ["x:o1", "x:o3", "x:o4"]
    assert len(asked.args[0]) == 3


def test_edited_text_is_copied_as_written(qtbot: Any, composer: Composer) -> None:
    qtbot.keyClicks(composer.editor, "/refund")
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return)
    qtbot.keyClicks(composer.editor, " Anteeksi!")
    dialog = composer.copy_to_duplicates()
    assert dialog is not None
    qtbot.addWidget(dialog)
    assert dialog.plan.template is None
    assert all(t.text.endswith("Anteeksi! ^CP") for t in dialog.plan.targets)


def test_draft_survives_recreating_the_composer(
    qtbot: Any, planner: ReplyPlanner, ws: Workspace
) -> None:
    first = Composer(planner, AGENT)
    qtbot.addWidget(first)
    conversation = conv_of(ws, "fi1")
    first.set_conversation(conversation, None)
    qtbot.keyClicks(first.editor, "Half-written answer")
    qtbot.waitUntil(lambda: get_draft(ws, conversation) == "Half-written answer", timeout=3000)
    first.set_conversation(conv_of(ws, "o1"), None)
    assert first.text() == ""
    first.close()
    second = Composer(planner, lambda: AGENT)
    qtbot.addWidget(second)
    second.set_conversation(conversation, None)
    assert second.text() == "Half-written answer"


def test_no_conversation_disables_everything(qtbot: Any, planner: ReplyPlanner) -> None:
    widget = Composer(planner, AGENT)
    qtbot.addWidget(widget)
    assert not widget.editor.isEnabled() and not widget.send_button.isEnabled()
    assert widget.send() == []


def test_models_pass_the_model_tester(qtmodeltester: Any, planner: ReplyPlanner) -> None:
    plan = planner.plan("x:o1", agent=AGENT, template="/outage", to_duplicates=True)
    qtmodeltester.check(PreviewModel(plan))
    templates = TemplateListModel()
    templates.set_templates(templates_repo.list_templates(planner.ws))
    qtmodeltester.check(templates)
    variants = VariantsModel()
    variants.set_variants(templates.templates[0].variants)
    qtmodeltester.check(variants)


def test_templates_dialog_edit_save_duplicate_delete_and_files(
    qtbot: Any, ws: Workspace, tmp_path: Path
) -> None:
    dialog = TemplatesDialog(ws, Clock())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.search.setText("/refund")
    assert dialog.current is not None and dialog.current.name == "Refund started"
    assert dialog.preview.toPlainText().startswith("Hi Maria, good news")
    dialog.text.setPlainText("Hi {{ customer.nmae }}")
    assert dialog.problems.isVisibleTo(dialog) and "customer.nmae" in dialog.problems.text()
    assert not dialog.save()
    dialog.text.setPlainText("Hi {{ first_name }}, refund on its way.")
    with qtbot.waitSignal(dialog.changed, timeout=1000):
        assert dialog.save()
    saved = templates_repo.get_by_shortcut(ws, "/refund")
    assert saved is not None and saved.variant("en", None).text.startswith("Hi {{ first_name }}")  # type: ignore[union-attr]
    dialog.duplicate_template()
    assert templates_repo.get_by_name(ws, "Refund started (copy)") is not None
    copy = templates_repo.get_by_name(ws, "Refund started (copy)")
    assert copy is not None and copy.id is not None
    dialog.delete_now(copy.id)
    assert templates_repo.get_by_name(ws, "Refund started (copy)") is None
    out = tmp_path / "t.toml"
    assert dialog.export_path(out) == len(templates_repo.list_templates(ws))
    text = out.read_text(encoding="utf-8").replace("refund on its way", "refund started")
    out.write_text(text, encoding="utf-8")
    outcome = dialog.import_path(out)
    assert outcome is not None and outcome["created"] == []
    refund = templates_repo.get_by_shortcut(ws, "/refund")
    assert refund is not None and "refund started" in refund.variants[0].text
    dialog.new_template()
    dialog.name.setText("Brand new")
    dialog.shortcut.setText("/brandnew")
    assert dialog.save()
    assert templates_repo.get_by_shortcut(ws, "/brandnew") is not None


def test_composer_offscreen_render(qtbot: Any, composer: Composer, tmp_path: Path) -> None:
    qtbot.keyClicks(composer.editor, "/refund")
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return)
    QApplication.processEvents()
    image = composer.grab()
    assert image.width() > 600 and image.height() > 120
    assert image.save(str(tmp_path / "composer.png"))


def test_picker_says_which_templates_lack_the_customers_language(
    qtbot: Any, composer: Composer, ws: Workspace
) -> None:
    from console.templates import Variant, make_template

    templates_repo.create(
        ws, make_template("English only", [Variant("Hi", "en")], shortcut="/eng"), NOW
    )
    composer.reload_templates()
    qtbot.keyClicks(composer.editor, "/eng")
    label = composer.popup.model.data(composer.popup.model.index(0, 0))
    assert label.endswith("· no Finnish")
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return)
    assert composer.text() == "Hi" and "no Finnish variant; used English" in composer.note.text()


def test_refresh_context_keeps_the_text(composer: Composer, ws: Workspace) -> None:
    composer.set_text("keep me")
    composer.refresh_context()
    assert composer.text() == "keep me" and composer.ctx is not None
