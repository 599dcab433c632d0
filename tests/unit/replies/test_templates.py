"""Templates: variables, refusals with clear messages, variant choice and fallback, files, stock."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from console.cli import main
from console.errors import TemplateError
from console.storage import templates_repo as repo
from console.storage.agents import Agent, current_agent, initials_signature, upsert_agent
from console.storage.db import Workspace
from console.storage.drafts import clear_draft, get_draft, save_draft
from console.templates import (
    SAMPLE_CONTEXT,
    RenderContext,
    Template,
    Variant,
    apply_signature,
    check_text,
    choose_variant,
    dumps_templates,
    loads_templates,
    make_template,
    matching,
    render,
    render_text,
    stock_templates,
    variables,
)

VARS = variables(SAMPLE_CONTEXT)


def test_variables_render_for_the_customer_agent_account_and_conversation() -> None:
    text = render_text(
        "Hi {{ customer.first_name }} ({{ customer.handle }}, {{ name }}) from {{ agent.name }} "
        "{{ signature }} at {{ account.name }} on {{ channel }}, {{ conversation.ref }}, "
        "order {{ custom.order_number }}",
        VARS,
    )
    assert text == (
        "Hi Maria (@mariarossi, Maria Rossi) from Chris Parker ^CP at Acme Care on X, #C1234, "
        "order A-10442"
    )


def test_a_missing_name_renders_empty_and_a_number_is_no_first_name() -> None:
    ctx = RenderContext(customer_name="115712", customer_handle="115712", channel="x")
    out = render_text(
        "Hi{% if first_name %} {{ first_name }}{% endif %}, {{ handle }}", variables(ctx)
    )
    assert out == "Hi, @115712"


def test_unknown_variable_names_itself_its_line_and_the_known_ones() -> None:
    with pytest.raises(TemplateError) as err:
        render_text("Hello\n{{ customer.frist_name }}", VARS)
    message = str(err.value)
    assert "unknown variable 'customer.frist_name'" in message
    assert "line 2" in message
    assert "customer.first_name" in message and "conversation.ref" in message


def test_unknown_custom_field_is_refused_with_the_fields_there_are() -> None:
    with pytest.raises(
        TemplateError, match=r"unknown variable 'custom\.ticket'.*custom\.order_number"
    ):
        render_text("{{ custom.ticket }}", VARS)


def test_syntax_slip_gives_line_and_a_human_message() -> None:
    with pytest.raises(TemplateError) as err:
        render_text("line one\nHi {{ customer.name ", VARS)
    assert "line 2" in str(err.value)
    assert "left open" in str(err.value)


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ customer._values }}",
        "{{ ''.mro }}",
        "{{ namespace.__init__.__globals__['os'] }}",
        "{{ customer['__class__'] }}",
    ],
)
def test_reaching_python_internals_is_not_allowed(source: str) -> None:
    with pytest.raises(TemplateError, match="not allowed"):
        render_text(source, VARS)
    assert (
        any("not allowed" in p for p in check_text(source))
        or "cycler" in source
        or "namespace" in source
    )


def test_huge_output_is_refused() -> None:
    with pytest.raises(TemplateError, match="not allowed"):
        render_text("{{ 'x' * 100000000 }}", VARS)


def test_check_text_finds_problems_in_branches_not_taken() -> None:
    problems = check_text("{% if false %}{{ customer.nmae }}{{ agent.__class__ }}{% endif %}")
    assert any("customer.nmae" in p for p in problems)
    assert any("not allowed" in p for p in problems)
    assert check_text("Hi {{ first_name }} {% for i in range(2) %}{{ i }}{% endfor %}") == []


def _tpl() -> Template:
    return make_template(
        "Refund",
        [
            Variant("EN any", "en"),
            Variant("EN sms", "en", "sms"),
            Variant("IT any", "it"),
            Variant("IT x", "it", "x"),
            Variant("FI email", "fi", "email"),
        ],
        shortcut="refund",
    )


@pytest.mark.parametrize(
    ("language", "channel", "expected", "fell_back"),
    [
        ("it", "x", "IT x", False),  # exact
        ("it", "sms", "IT any", False),  # language, any channel
        ("de", "sms", "EN sms", True),  # default language, channel
        ("de", "x", "EN any", True),  # default language
        ("fi", "x", "EN any", True),  # the default language beats a text for another channel
        ("fi", "email", "FI email", False),
        (None, "sms", "EN sms", False),
    ],
)
def test_variant_choice_order(
    language: str | None, channel: str, expected: str, fell_back: bool
) -> None:
    choice = choose_variant(_tpl(), language, channel)
    assert choice.variant.text == expected
    assert choice.fell_back is fell_back


def test_fallback_is_said_in_words() -> None:
    choice = choose_variant(_tpl(), "de", "x")
    assert choice.note == "no German variant; used English"
    only_it = make_template("X", [Variant("ciao", "it")])
    assert choose_variant(only_it, "fi", "x").note == "no Finnish variant; used Italian"


def test_render_reports_variant_and_fallback() -> None:
    out = render(_tpl(), dataclasses.replace(SAMPLE_CONTEXT, channel="sms"), language="sv")
    assert (out.text, out.fell_back, out.variant.channel) == ("EN sms", True, "sms")


def test_signature_is_appended_once() -> None:
    assert apply_signature("Thanks!", "^CP") == "Thanks! ^CP"
    assert apply_signature("Thanks! ^CP", "^CP") == "Thanks! ^CP"
    signed = render_text("Thanks, {{ agent.signature }}", VARS)
    assert apply_signature(signed, "^CP") == "Thanks, ^CP"
    assert apply_signature("Hello", "^CP", "email") == "Hello\n\n^CP"
    assert apply_signature("Hello", "") == "Hello"


def test_shortcuts_are_normalised_and_checked() -> None:
    assert _tpl().shortcut == "/refund"
    with pytest.raises(TemplateError, match="shortcut"):
        make_template("Bad", [Variant("x")], shortcut="/has space")
    with pytest.raises(TemplateError, match="two variants"):
        make_template("Twice", [Variant("a", "en"), Variant("b", "en")])
    with pytest.raises(TemplateError, match="unknown channel"):
        make_template("Chan", [Variant("a", "en", "pigeon")])


def test_matching_puts_shortcut_prefixes_first() -> None:
    templates = stock_templates()
    assert matching(templates, "/ref")[0].shortcut == "/refund"
    assert matching(templates, "/de")[0].shortcut in ("/delay", "/delivery")
    assert matching(templates, "password")[0].name == "Password reset"


def test_toml_round_trip_keeps_everything() -> None:
    tpl = make_template(
        "Multi line",
        [Variant('Line "one"\nLine two {{ first_name }}\n', "en"), Variant("Uno", "it", "x")],
        shortcut="/multi",
        description="Two lines",
        tags=["a", "b"],
    )
    text = dumps_templates([tpl, *stock_templates()])
    assert text.startswith("# Agent Console reply templates")
    back = loads_templates(text)
    assert back[0] == tpl
    assert back[1:] == stock_templates()


def test_a_broken_file_is_refused_with_its_place() -> None:
    with pytest.raises(TemplateError, match="not a readable templates file"):
        loads_templates("[[template]\nname=", where="bad.toml")
    with pytest.raises(TemplateError, match=r"template 1.*no .*variant"):
        loads_templates('[[template]]\nname = "Empty"\n', where="x.toml")


def test_stock_templates_render_in_english_italian_and_finnish_on_every_channel() -> None:
    templates = stock_templates()
    assert 10 <= len(templates) <= 15
    assert len({t.shortcut for t in templates}) == len(templates)
    for template in templates:
        assert {"en", "it", "fi"} <= set(template.languages()), template.name
        for language in ("en", "it", "fi", "es", "de", "fr", "pt", "sv"):
            for channel in ("x", "email", "sms", "messenger", "whatsapp"):
                ctx = dataclasses.replace(SAMPLE_CONTEXT, channel=channel)
                out = render(template, ctx, language=language)
                assert out.text and not out.fell_back, (template.name, language)
                assert "{" not in out.text and "None" not in out.text
                ctx = dataclasses.replace(ctx, customer_name=None, custom={})
                assert render(template, ctx, language=language).text


def test_repository_create_edit_duplicate_delete(workspace: Workspace) -> None:
    created = repo.create(workspace, _tpl(), 100)
    assert created.id is not None and repo.get_by_shortcut(workspace, "/refund") == created
    edited = repo.update(
        workspace, dataclasses.replace(created, description="edited", tags=("billing",)), 200
    )
    assert repo.get_by_name(workspace, "REFUND") == edited and edited.tags == ("billing",)
    copy = repo.duplicate(workspace, created.id, 300)
    assert copy.name == "Refund (copy)" and copy.shortcut is None
    assert copy.variants == created.variants
    with pytest.raises(TemplateError, match="already exists"):
        repo.create(workspace, _tpl(), 400)
    with pytest.raises(TemplateError, match="taken"):
        repo.update(workspace, dataclasses.replace(copy, shortcut="/refund"), 400)
    repo.delete(workspace, created.id)
    assert [t.name for t in repo.list_templates(workspace)] == ["Refund (copy)"]


def test_stock_install_is_idempotent_and_respects_deletions(workspace: Workspace) -> None:
    added = repo.install_stock_templates(workspace, 1)
    assert len(added) == len(stock_templates())
    assert repo.install_stock_templates(workspace, 2) == []
    gone = repo.get_by_shortcut(workspace, "/thanks")
    assert gone is not None and gone.id is not None
    repo.delete(workspace, gone.id)
    assert repo.install_stock_templates(workspace, 3) == []
    assert repo.get_by_shortcut(workspace, "/thanks") is None


def test_cli_templates_list_export_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    db = str(tmp_path / "ws.sqlite")
    assert main(["--db", db, "templates", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    refund = next(t for t in listed if t["shortcut"] == "/refund")
    assert {"en", "it", "fi"} <= set(refund["languages"]) and "email" in refund["channels"]
    out = tmp_path / "all.toml"
    assert main(["--db", db, "templates", "export", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    edited = text.replace("Glad we could help.", "Happy to help.", 1)
    out.write_text(edited, encoding="utf-8")
    assert main(["--db", db, "templates", "import", str(out)]) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["created"] == [] and len(outcome["updated"]) == len(listed)
    assert main(["--db", db, "templates", "--json"]) == 0
    thanks = next(t for t in json.loads(capsys.readouterr().out) if t["shortcut"] == "/thanks")
    assert "Happy to help." in thanks["variants"][0]["text"]
    # a new name with a shortcut another template holds: refused, and nothing of the file is kept
    renamed = edited.replace('name = "Thanks"', 'name = "Many thanks"').replace(
        "Happy to help.", "Changed again."
    )
    out.write_text(renamed, encoding="utf-8")
    assert main(["--db", db, "templates", "import", str(out)]) == 2
    assert "/thanks is taken by 'Thanks'" in capsys.readouterr().err
    assert main(["--db", db, "templates", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert len(after) == len(listed) and "Changed again." not in json.dumps(after)


def test_agents_and_drafts(workspace: Workspace) -> None:
    assert initials_signature("Chris Parker") == "^CP" and initials_signature("root") == "^R"
    me = current_agent(workspace)
    assert me.signature == initials_signature(me.name)
    workspace.set_setting("agent.me", "Ana Lopez")
    assert current_agent(workspace).signature == "^AL"
    upsert_agent(workspace, Agent("Ana Lopez", "^Ana", languages=("es", "en")))
    assert current_agent(workspace).signature == "^Ana"
    save_draft(workspace, 7, "half a reply", 1)
    assert get_draft(workspace, 7) == "half a reply"
    save_draft(workspace, 7, "  ", 2)
    assert get_draft(workspace, 7) is None
    save_draft(workspace, 8, "x", 3)
    clear_draft(workspace, 8)
    assert get_draft(workspace, 8) is None
