"""Channel accounts from the command line: ``accounts``, ``account add|edit|test|remove``.

Secrets never come from the command line (they would stay in the shell's history and in the
process list): ``--secret FIELD`` names a field, and its value is read from standard input (one line
per ``--secret``, in order) or asked for without echo when standard input is a terminal. Values go
to the OS keyring only; listings show whether each secret is set, never what it is.

``account test`` builds the account's adapter with a real ``httpx.AsyncClient`` (with timeouts) and
runs its ``test()``: JSON on stdout either way, exit status 1 when the check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

from console.cli import Context, emit_json, error, say
from console.domain import Channel
from console.errors import AccountError, ConsoleError, SecretStoreError
from console.storage import accounts as repo
from console.storage.accounts import UNSET, Account

TEST_TIMEOUT_S = 60.0


def register(subparsers: Any) -> None:
    listing = subparsers.add_parser("accounts", help="list the channel accounts")
    listing.add_argument("--json", action="store_true", help="JSON output (the only format)")
    listing.set_defaults(func=cmd_accounts)

    account = subparsers.add_parser("account", help="add, edit, test or remove a channel account")
    actions = account.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add a channel account")
    add.add_argument("--channel", required=True, choices=[c.value for c in Channel])
    add.add_argument("--name", required=True)
    add.add_argument("--kind", required=True, help="adapter: x, meta, whatsapp, twilio, email...")
    add.add_argument("--handle", help="our handle, address or number on the channel")
    _value_options(add)
    add.set_defaults(func=cmd_add)

    edit = actions.add_parser("edit", help="change a channel account")
    edit.add_argument("ref", metavar="ID|NAME")
    edit.add_argument("--name")
    edit.add_argument("--kind")
    edit.add_argument("--handle")
    edit.add_argument("--unset", action="append", default=[], metavar="KEY", help="drop a setting")
    edit.add_argument(
        "--forget-secret", action="append", default=[], metavar="FIELD", help="delete a secret"
    )
    _value_options(edit)
    edit.set_defaults(func=cmd_edit)

    test = actions.add_parser("test", help="check an account's credentials and connection")
    test.add_argument("ref", metavar="ID|NAME")
    test.add_argument("--timeout", type=float, default=TEST_TIMEOUT_S, help="seconds in all")
    test.set_defaults(func=cmd_test)

    remove = actions.add_parser("remove", help="remove a channel account and its secrets")
    remove.add_argument("ref", metavar="ID|NAME")
    remove.add_argument(
        "--force",
        action="store_true",
        help="also delete its conversations and their messages (refused without it)",
    )
    remove.set_defaults(func=cmd_remove)


def _value_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a non-secret setting"
    )
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="FIELD",
        help="a secret field; its value is read from stdin or asked for (never from argv)",
    )
    p.add_argument("--target-minutes", help="first-response target in minutes ('none': default)")
    p.add_argument("--business-hours", help="JSON, @FILE, or 'none' (around the clock)")


# -- parsing -----------------------------------------------------------------------------------------


def _pairs(items: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AccountError(f"--set wants KEY=VALUE, not {item!r}")
        values[key.strip()] = value.strip()
    return values


def _target(text: str | None) -> Any:
    if text is None:
        return UNSET
    if text.strip().lower() in ("", "none", "default"):
        return None
    try:
        minutes = float(text)
    except ValueError:
        raise AccountError(f"--target-minutes wants a number, not {text!r}") from None
    if minutes <= 0:
        raise AccountError("--target-minutes must be more than 0")
    return round(minutes * 60)


def _hours(text: str | None) -> Any:
    if text is None:
        return UNSET
    if text.strip().lower() in ("", "none"):
        return None
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise AccountError(f"cannot read business hours from {text[1:]}: {exc}") from None
    return text


def _given(value: Any) -> Any:
    return None if value is UNSET else value


def _secret_fields(kind: str, names: list[str]) -> list[str]:
    from services.channels.registry import secret_names

    known = secret_names(kind)
    for name in names:
        if "=" in name:
            raise AccountError(
                "secret values are never taken from the command line (they would stay in the "
                f"shell history): write --secret {name.partition('=')[0]} and type the value "
                "when asked, or pipe it on standard input"
            )
        if name not in known:
            listed = ", ".join(known) or "none"
            raise AccountError(f"{name!r} is not a secret of {kind} accounts (they have: {listed})")
    return list(dict.fromkeys(names))


def _read_secrets(fields: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    interactive = sys.stdin is not None and sys.stdin.isatty()
    for field in fields:
        if interactive:
            value = getpass.getpass(f"{field}: ")
        else:
            line = sys.stdin.readline() if sys.stdin is not None else ""
            value = line.rstrip("\r\n")
        if not value:
            raise AccountError(f"no value for secret {field!r} (one line per --secret on stdin)")
        values[field] = value
    return values


# -- output ------------------------------------------------------------------------------------------


def _describe(account: Account, store: Any, counts: dict[int, int]) -> dict[str, Any]:
    from services.channels.registry import is_available, secret_names

    row = account.to_json()
    names = secret_names(account.kind)
    try:
        row["secrets"] = store.which_set(account.id, names)
    except SecretStoreError:
        row["secrets"] = None  # the keyring cannot be read: unknown, said once on stderr
    row["response_target_minutes"] = (
        None if account.response_target_s is None else account.response_target_s / 60
    )
    row["conversations"] = counts.get(account.id, 0)
    row["adapter_available"] = is_available(account.kind)
    return row


def _store() -> Any:
    from services.secrets import SecretStore

    return SecretStore()


# -- commands ----------------------------------------------------------------------------------------


def cmd_accounts(args: argparse.Namespace, ctx: Context) -> int:
    ws = ctx.workspace()
    store = _store()
    problem = store.available()
    if problem:
        say(f"secrets cannot be shown: {problem}")
    counts = repo.conversation_counts(ws)
    emit_json([_describe(a, store, counts) for a in repo.list_accounts(ws)])
    return 0


def cmd_add(args: argparse.Namespace, ctx: Context) -> int:
    from services.channels.registry import check_settings, secret_names

    ws = ctx.workspace()
    kind = args.kind.strip().lower()
    settings = check_settings(kind, args.channel, _pairs(args.set))
    fields = _secret_fields(kind, args.secret)
    store = _store()
    if fields:
        store.backend()  # no secure keyring: refuse before anything is written
    secrets = _read_secrets(fields)
    account = repo.add_account(
        ws,
        channel=args.channel,
        name=args.name,
        kind=kind,
        handle=args.handle,
        settings=settings,
        response_target_s=_given(_target(args.target_minutes)),
        business_hours=_given(_hours(args.business_hours)),
        secret_fields=secret_names(kind),
    )
    try:
        for field, value in secrets.items():
            store.set(account.id, field, value)
    except SecretStoreError:
        store.delete_account(account.id, fields)
        repo.remove_account(ws, account.id)
        raise
    say(f"added {account.label} (id {account.id})")
    emit_json(_describe(account, store, {}))
    return 0


def cmd_edit(args: argparse.Namespace, ctx: Context) -> int:
    from services.channels.registry import check_settings, secret_names

    ws = ctx.workspace()
    current = repo.get_account(ws, args.ref)
    kind = (args.kind or current.kind).strip().lower()
    changes = _pairs(args.set)
    merged = {**current.settings, **changes}
    for key in args.unset:
        merged.pop(key, None)
    if args.kind or changes:
        check_settings(kind, current.channel, merged)
    coerced = check_settings(kind, current.channel, changes, partial=True) if changes else {}
    fields = _secret_fields(kind, args.secret)
    forget = _secret_fields(kind, args.forget_secret)
    store = _store()
    if fields or forget:
        store.backend()
    secrets = _read_secrets(fields)
    account = repo.update_account(
        ws,
        current.id,
        name=args.name if args.name is not None else UNSET,
        handle=args.handle if args.handle is not None else UNSET,
        kind=kind,
        set_settings=coerced,
        unset_settings=args.unset,
        response_target_s=_target(args.target_minutes),
        business_hours=_hours(args.business_hours),
        secret_fields=secret_names(kind),
    )
    for field, value in secrets.items():
        store.set(account.id, field, value)
    for field in forget:
        store.delete(account.id, field)
    emit_json(_describe(account, store, repo.conversation_counts(ws)))
    return 0


def _scrub(text: str, secrets: dict[str, str]) -> str:
    for value in secrets.values():
        if value and len(value) >= 3:
            text = text.replace(value, "***")
    return text


async def _run_test(config: Any, timeout: float) -> str:
    import httpx

    from services.channels.registry import build_adapter

    limits = httpx.Timeout(min(timeout, 20.0), connect=min(timeout, 10.0))
    async with httpx.AsyncClient(timeout=limits) as client:
        adapter = build_adapter(config, client)
        result: str = await asyncio.wait_for(adapter.test(), timeout)
        return result


def cmd_test(args: argparse.Namespace, ctx: Context) -> int:
    from services.channels.registry import account_config, secret_names

    ws = ctx.workspace()
    account = repo.get_account(ws, args.ref)
    names = secret_names(account.kind)
    out: dict[str, Any] = {"account": account.name, "id": account.id, "kind": account.kind}
    secrets: dict[str, str] = {}
    try:
        secrets = _store().load(account.id, names) if names else {}
        line = asyncio.run(_run_test(account_config(account, secrets), args.timeout))
    except TimeoutError:
        message = f"no answer within {args.timeout:g} s"
        kind = "TimeoutError"
    except ConsoleError as exc:
        message, kind = _scrub(str(exc), secrets), type(exc).__name__
    else:
        emit_json({**out, "ok": True, "result": _scrub(line, secrets)})
        return 0
    error(f"{account.label}: {message}")
    emit_json({**out, "ok": False, "error": message, "error_kind": kind})
    return 1


def cmd_remove(args: argparse.Namespace, ctx: Context) -> int:
    from services.channels.registry import secret_names

    ws = ctx.workspace()
    account = repo.get_account(ws, args.ref)
    removed = repo.remove_account(ws, account.id, force=args.force)
    deleted: list[str] = []
    try:
        deleted = _store().delete_account(account.id, secret_names(account.kind))
    except SecretStoreError as exc:
        say(f"the account is removed but its keyring entries could not be deleted: {exc}")
    result: dict[str, Any] = {
        "removed": account.to_json(),
        "conversations": removed.conversations,
        "messages": removed.messages,
        "secrets_deleted": deleted,
    }
    if removed.customer_ids:
        from console.triage.engine import retriage_customers

        result["retriaged_customers"] = retriage_customers(ws, removed.customer_ids).customers
    say(f"removed {account.label}")
    emit_json(result)
    return 0
