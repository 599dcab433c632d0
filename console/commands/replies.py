"""Reply commands: ``templates``, ``reply`` and ``agents``.

- ``templates [--json]``: every template with its shortcut and its variants' languages and channels
  (the stock templates are installed on first use);
  ``templates import FILE [--keep]`` adds or replaces templates from a TOML file;
  ``templates export FILE`` writes them all to one.
- ``reply MESSAGE (--text TEXT | --template NAME) [--to-duplicates] [--dry-run] [--mode public|private]
  [--agent NAME] [--custom KEY=VALUE] [--include-answered] [--force] [--resolve] --json``: MESSAGE is a
  message id or ``CHANNEL:EXTERNAL_ID``. Prints a JSON list, one object per target (``message``,
  ``channel``, ``account``, ``customer``, ``text``, ``length``, ``limit``, ``warnings``, ``queued``,
  ``outbox_id``...), and queues unless ``--dry-run``. With ``--to-duplicates``, posts already
  answered are left out unless ``--include-answered``; targets over the limit or outside the
  channel's window are left out unless ``--force``. A template that fails to render for any target
  queues nothing and exits 2.
- ``agents [--json]``, ``agents set NAME [--signature SIG] [--role agent|supervisor] [--languages
  en,fi] [--me]``: the agents and their signatures; ``--me`` makes NAME the current agent.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from console.cli import Context, emit_json, error, say
from console.domain import Role
from console.errors import ConsoleError, TemplateError
from console.storage import templates_repo
from console.storage.agents import (
    Agent,
    current_agent,
    ensure_agent,
    get_agent,
    list_agents,
    set_current_agent,
    upsert_agent,
)
from console.templates import dumps_templates, language_name, loads_templates
from services.replies import ReplyPlanner


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("templates", help="reply templates: list, import, export")
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
    sub = p.add_subparsers(dest="templates_command", metavar="ACTION")
    i = sub.add_parser("import", help="add or replace templates from a TOML file")
    i.add_argument("file", type=Path)
    i.add_argument("--keep", action="store_true", help="keep templates whose name exists")
    i.set_defaults(func=cmd_templates_import)
    e = sub.add_parser("export", help="write every template to a TOML file")
    e.add_argument("file", type=Path)
    e.set_defaults(func=cmd_templates_export)
    p.set_defaults(func=cmd_templates)

    r = subparsers.add_parser("reply", help="reply to a message (and its duplicates), as JSON")
    r.add_argument("message", help="message id or CHANNEL:EXTERNAL_ID")
    what = r.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="the reply as written")
    what.add_argument("--template", help="a template name or /shortcut, rendered per target")
    r.add_argument("--to-duplicates", action="store_true", help="answer every post of its group")
    r.add_argument("--group", type=int, help="the group to answer (default: the post's first)")
    r.add_argument("--dry-run", action="store_true", help="show the targets, queue nothing")
    r.add_argument("--mode", choices=["public", "private"], help="public reply or private message")
    r.add_argument("--agent", help="who replies (default: the current agent)")
    r.add_argument("--custom", action="append", default=[], metavar="KEY=VALUE")
    r.add_argument("--include-answered", action="store_true", help="also answer answered posts")
    r.add_argument("--force", action="store_true", help="queue targets over the limit / window")
    r.add_argument("--resolve", action="store_true", help="resolve the conversations too")
    r.add_argument("--batch-id", help="idempotency: the same batch id never queues twice")
    r.add_argument("--json", action="store_true", help="JSON output (the default)")
    r.set_defaults(func=cmd_reply)

    a = subparsers.add_parser("agents", help="agents and their signatures")
    a.add_argument("--json", action="store_true", help="JSON output (the default)")
    asub = a.add_subparsers(dest="agents_command", metavar="ACTION")
    s = asub.add_parser("set", help="create or change an agent")
    s.add_argument("name")
    s.add_argument("--signature")
    s.add_argument("--role", choices=[str(r) for r in Role])
    s.add_argument("--languages", help="comma-separated language codes")
    s.add_argument("--me", action="store_true", help="make this the current agent")
    s.set_defaults(func=cmd_agents_set)
    a.set_defaults(func=cmd_agents)


# -- templates -------------------------------------------------------------------------------------


def cmd_templates(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    templates_repo.install_stock_templates(ws)
    out = []
    for t in templates_repo.list_templates(ws):
        out.append(
            {
                "id": t.id,
                "name": t.name,
                "shortcut": t.shortcut,
                "description": t.description,
                "tags": list(t.tags),
                "languages": [lang for lang in t.languages() if lang],
                "channels": [c for c in t.channels() if c],
                "variants": [
                    {"language": v.language, "channel": v.channel, "text": v.text}
                    for v in t.variants
                ],
            }
        )
    emit_json(out)
    return 0


def cmd_templates_import(args: argparse.Namespace, ctx: Context) -> int:
    path: Path = args.file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConsoleError(f"cannot read {path}: {exc}") from exc
    templates = loads_templates(text, where=str(path))
    ws = ctx.workspace()
    templates_repo.install_stock_templates(ws)
    outcome = templates_repo.import_templates(
        ws, templates, int(time.time()), replace=not args.keep
    )
    emit_json(outcome)
    return 0


def cmd_templates_export(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    templates_repo.install_stock_templates(ws)
    templates = templates_repo.list_templates(ws)
    path: Path = args.file
    try:
        path.write_text(dumps_templates(templates), encoding="utf-8")
    except OSError as exc:
        raise ConsoleError(f"cannot write {path}: {exc}") from exc
    emit_json({"file": str(path), "templates": len(templates)})
    return 0


# -- reply -----------------------------------------------------------------------------------------


def _custom(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConsoleError(f"--custom {pair!r}: use KEY=VALUE")
        out[key.strip()] = value
    return out


def cmd_reply(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    agent = ensure_agent(ws, args.agent) if args.agent else current_agent(ws)
    planner = ReplyPlanner(ws)
    plan = planner.plan(
        args.message,
        agent=agent,
        text=args.text,
        template=args.template,
        to_duplicates=args.to_duplicates or args.group is not None,
        group_id=args.group,
        mode=args.mode,
        custom=_custom(args.custom),
        batch_id=args.batch_id,
    )
    rows = [t.to_json() for t in plan.targets]
    if plan.errors:
        for row in rows:
            row["queued"] = False
        emit_json(rows)
        error(f"nothing queued: {plan.errors[0]}")
        return 2
    chosen = _chosen(plan, args)
    if args.dry_run:
        for index, row in enumerate(rows):
            row["queued"] = False
            row["would_queue"] = index in chosen
        emit_json(rows)
        return 0
    try:
        queued = planner.queue(plan, agent, only=chosen, force=args.force, resolve=args.resolve)
    except TemplateError:
        raise
    except ConsoleError as exc:
        for row in rows:
            row["queued"] = False
        emit_json(rows)
        error(str(exc))
        return 1
    by_index = dict(zip(chosen, queued, strict=True))
    for index, row in enumerate(rows):
        item = by_index.get(index)
        row["queued"] = item is not None
        row["outbox_id"] = item.outbox_id if item else None
        if item is None:
            row["skipped"] = _skip_reason(plan.targets[index])
    emit_json(rows)
    if not queued:
        error("nothing queued: " + "; ".join(r.get("skipped") or "" for r in rows))
        return 1
    say(f"queued {len(queued)} repl{'y' if len(queued) == 1 else 'ies'} (batch {plan.batch_id})")
    return 0


def _chosen(plan: Any, args: argparse.Namespace) -> list[int]:
    single = len(plan.targets) == 1
    out = []
    for index, target in enumerate(plan.targets):
        if any(w.blocking for w in target.warnings) and not args.force:
            if single:
                out.append(index)  # let queue() refuse it with its reasons
            continue
        if target.answered is not None and not (args.include_answered or single):
            continue
        out.append(index)
    return out


def _skip_reason(target: Any) -> str:
    blocking = [w.message for w in target.warnings if w.blocking]
    if blocking:
        return ", ".join(blocking) + " (--force to queue anyway)"
    if target.answered is not None:
        return "already answered (--include-answered to answer again)"
    return "not chosen"


# -- agents ----------------------------------------------------------------------------------------


def cmd_agents(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    me = current_agent(ws)
    emit_json(
        [{**a.to_json(), "current": a.name == me.name} for a in list_agents(ws)],
    )
    return 0


def cmd_agents_set(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    base = get_agent(ws, args.name) or ensure_agent(ws, args.name)
    languages = base.languages
    if args.languages is not None:
        languages = tuple(x.strip().lower() for x in args.languages.split(",") if x.strip())
        unknown = [x for x in languages if language_name(x) == x]
        if unknown:
            say(f"note: unknown language code(s) {', '.join(unknown)}")
    agent = upsert_agent(
        ws,
        Agent(
            name=base.name,
            signature=base.signature if args.signature is None else args.signature,
            role=Role(args.role) if args.role else base.role,
            languages=languages,
            skills=base.skills,
        ),
    )
    if args.me:
        set_current_agent(ws, agent.name)
    emit_json(agent.to_json())
    return 0
