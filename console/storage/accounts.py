"""Channel accounts (our side of every conversation) and their sync cursors: all of their SQL.

An account row holds what is not secret: channel, name (unique per channel), handle, the adapter
``kind`` that serves it (column ``adapter``; accounts created by imports get ``sandbox``, see
``console.storage.ingest``), non-secret ``settings`` as a JSON object, the first-response target
and business hours (the JSON of :mod:`console.triage.deadlines`). Secrets live in the OS keyring
(``services.secrets``); :func:`add_account` and :func:`update_account` refuse settings whose name
is one of the kind's secret fields or looks like a password, secret or token, so a secret typed in
the wrong place never lands in the workspace file.

Removing an account that still has conversations is refused (:class:`AccountInUseError`) unless
``force`` is given; then the account's conversations go with it (their messages, outbox items,
drafts and alerts too), the customers who had them keep their other conversations and identities,
and their counters are recomputed. :class:`RemovedAccount` lists those customers so that the caller
can triage them again.

Cursors (table ``cursors``) are each account's sync position, a small ``dict[str, str]`` that the
adapter defines (IMAP UIDVALIDITY and last UID, X ``since_id``...). :func:`set_cursor` replaces
the whole dict in one transaction (it joins the caller's, so that a batch and its cursor are stored
together).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console.domain import Channel, to_epoch, utcnow
from console.errors import AccountError, AccountInUseError, NotFoundError
from console.storage.db import Workspace
from console.triage.deadlines import InvalidBusinessHoursError, parse_business_hours

MAX_NAME = 100
MAX_SETTING_CHARS = 2000
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SETTING_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Names that say "secret" whatever the kind declares: such values belong in the keyring.
_SECRET_LOOKING = re.compile(r"(password|passwd|secret|token|api_key|apikey|private_key)$")

_COLUMNS = (
    "id, channel, name, handle, adapter, settings, response_target_s, business_hours, created_at"
)


class _Unset:
    """Marks an :func:`update_account` argument that was not given."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True, slots=True)
class Account:
    """One channel account as stored (no secrets: those are in the keyring)."""

    id: int
    channel: Channel
    name: str
    handle: str | None
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)
    response_target_s: int | None = None
    business_hours: str | None = None
    created_at: int = 0

    @property
    def label(self) -> str:
        return f"{self.channel.label}: {self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "channel": str(self.channel),
            "kind": self.kind,
            "handle": self.handle,
            "settings": dict(self.settings),
            "response_target_s": self.response_target_s,
            "business_hours": json.loads(self.business_hours) if self.business_hours else None,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class RemovedAccount:
    """What :func:`remove_account` deleted; ``customer_ids`` need triage again."""

    account: Account
    conversations: int = 0
    messages: int = 0
    customer_ids: frozenset[int] = frozenset()


def _account(row: tuple[Any, ...]) -> Account:
    try:
        settings = json.loads(row[5] or "{}")
    except ValueError:
        settings = {}
    return Account(
        id=int(row[0]),
        channel=Channel(row[1]),
        name=str(row[2]),
        handle=row[3],
        kind=str(row[4]),
        settings=settings if isinstance(settings, dict) else {},
        response_target_s=None if row[6] is None else int(row[6]),
        business_hours=row[7],
        created_at=int(row[8]),
    )


# -- reading ---------------------------------------------------------------------------------------


def list_accounts(ws: Workspace) -> list[Account]:
    rows = ws.conn.execute(f"SELECT {_COLUMNS} FROM accounts ORDER BY channel, name, id").fetchall()
    return [_account(r) for r in rows]


def find_account(ws: Workspace, channel: Channel | str, name: str) -> Account | None:
    row = ws.conn.execute(
        f"SELECT {_COLUMNS} FROM accounts WHERE channel = ? AND name = ?", (str(channel), name)
    ).fetchone()
    return None if row is None else _account(row)


def get_account(ws: Workspace, ref: int | str, *, channel: Channel | str | None = None) -> Account:
    """An account by id (an int or a string of digits) or by name.

    A name used on two channels is ambiguous unless ``channel`` says which.
    """
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        row = ws.conn.execute(
            f"SELECT {_COLUMNS} FROM accounts WHERE id = ?", (int(ref),)
        ).fetchone()
        if row is not None:
            return _account(row)
        if isinstance(ref, int):
            raise NotFoundError(f"no channel account with id {ref}")
    name = str(ref).strip()
    sql, params = f"SELECT {_COLUMNS} FROM accounts WHERE name = ?", [name]
    if channel is not None:
        sql, params = sql + " AND channel = ?", [name, str(channel)]
    rows = ws.conn.execute(sql, params).fetchall()
    if not rows:
        raise NotFoundError(f"no channel account named {name!r}")
    if len(rows) > 1:
        channels = ", ".join(sorted(str(r[1]) for r in rows))
        raise AccountError(
            f"{len(rows)} accounts are named {name!r} (channels {channels}): use the id"
        )
    return _account(rows[0])


def conversation_counts(ws: Workspace) -> dict[int, int]:
    """Conversations per account id (accounts without any are left out)."""
    rows = ws.conn.execute(
        "SELECT account_id, count(*) FROM conversations GROUP BY account_id"
    ).fetchall()
    return {int(a): int(n) for a, n in rows}


def conversation_count(ws: Workspace, account_id: int) -> int:
    return int(
        ws.scalar("SELECT count(*) FROM conversations WHERE account_id = ?", (account_id,)) or 0
    )


# -- validation ------------------------------------------------------------------------------------


def _channel(value: Channel | str) -> Channel:
    try:
        return Channel(str(value).strip().lower())
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise AccountError(f"unknown channel {value!r}; use one of {known}") from None


def _name(value: str, what: str = "name") -> str:
    text = str(value).strip()
    if not text:
        raise AccountError(f"the account {what} is empty")
    if len(text) > MAX_NAME:
        raise AccountError(f"the account {what} is longer than {MAX_NAME} characters")
    if _CONTROL.search(text):
        raise AccountError(f"the account {what} contains control characters")
    return text


def _kind(value: str) -> str:
    text = str(value).strip().lower()
    if not _KIND.match(text):
        raise AccountError(f"invalid adapter kind {value!r}")
    return text


def _handle(value: str | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    return _name(value, "handle")


def check_settings(
    settings: Mapping[str, Any], secret_fields: Iterable[str] = ()
) -> dict[str, Any]:
    """A copy of ``settings`` that is safe to store, or :class:`AccountError` saying why not."""
    secrets = set(secret_fields)
    clean: dict[str, Any] = {}
    for key, value in settings.items():
        if not isinstance(key, str) or not _SETTING_KEY.match(key):
            raise AccountError(f"invalid setting name {key!r} (lower-case letters, digits, _)")
        if key in secrets or _SECRET_LOOKING.search(key):
            raise AccountError(
                f"{key!r} is a secret: it is kept in the OS keyring, not in the workspace "
                "(set it as a secret field)"
            )
        if value is not None and not isinstance(value, str | int | float | bool):
            raise AccountError(f"setting {key!r} must be text, a number or true/false")
        if isinstance(value, str):
            if len(value) > MAX_SETTING_CHARS:
                raise AccountError(f"setting {key!r} is longer than {MAX_SETTING_CHARS} characters")
            if _CONTROL.search(value):
                raise AccountError(f"setting {key!r} contains control characters")
        if value is None or value == "":
            continue  # an empty value means "use the default": not stored
        clean[key] = value
    return clean


def _target(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise AccountError(
            f"the response target must be a positive number of seconds, not {value!r}"
        )
    return value


def _hours(value: str | Mapping[str, Any] | None) -> str | None:
    if value is None or value == "" or value == {}:
        return None
    raw: Any = value
    if isinstance(value, str):
        try:
            raw = json.loads(value)
        except ValueError as exc:
            raise AccountError(f"business hours are not valid JSON: {exc}") from None
        if raw is None:
            return None
    if not isinstance(raw, dict):
        raise AccountError("business hours must be a JSON object")
    try:
        parse_business_hours(raw)
    except InvalidBusinessHoursError as exc:
        raise AccountError(str(exc)) from None
    return json.dumps(raw, ensure_ascii=False, sort_keys=True)


def _unique(ws: Workspace, channel: Channel, name: str, own_id: int | None = None) -> None:
    other = ws.scalar(
        "SELECT id FROM accounts WHERE channel = ? AND name = ? AND id IS NOT ?",
        (str(channel), name, own_id),
    )
    if other is not None:
        raise AccountError(f"there already is a {channel.label} account named {name!r}")


# -- writing ---------------------------------------------------------------------------------------


def add_account(
    ws: Workspace,
    *,
    channel: Channel | str,
    name: str,
    kind: str,
    handle: str | None = None,
    settings: Mapping[str, Any] | None = None,
    response_target_s: int | None = None,
    business_hours: str | Mapping[str, Any] | None = None,
    secret_fields: Iterable[str] = (),
    now: int | None = None,
) -> Account:
    """Store a new account; every value is checked first (:class:`AccountError`)."""
    chan = _channel(channel)
    values = (
        str(chan),
        _name(name),
        _handle(handle),
        _kind(kind),
        json.dumps(check_settings(settings or {}, secret_fields), ensure_ascii=False),
        _target(response_target_s),
        _hours(business_hours),
        to_epoch(utcnow()) if now is None else now,
    )
    with ws.transaction():
        _unique(ws, chan, values[1])
        cur = ws.conn.execute(
            "INSERT INTO accounts (channel, name, handle, adapter, settings, response_target_s,"
            " business_hours, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        account_id = int(cur.lastrowid or 0)
    return get_account(ws, account_id)


def update_account(
    ws: Workspace,
    account_id: int,
    *,
    name: str = UNSET,
    handle: str | None = UNSET,
    kind: str = UNSET,
    settings: Mapping[str, Any] = UNSET,
    set_settings: Mapping[str, Any] | None = None,
    unset_settings: Iterable[str] = (),
    response_target_s: int | None = UNSET,
    business_hours: str | Mapping[str, Any] | None = UNSET,
    secret_fields: Iterable[str] = (),
) -> Account:
    """Change some values of an account; what is not given stays.

    ``settings`` replaces them all; ``set_settings`` adds or changes some and ``unset_settings``
    drops some (applied in that order). The channel cannot change: conversations belong to it.
    """
    current = get_account(ws, account_id)
    new_settings = dict(current.settings if settings is UNSET else settings)
    new_settings.update(set_settings or {})
    for key in unset_settings:
        new_settings.pop(key, None)
    new_name = current.name if name is UNSET else _name(name)
    values: dict[str, Any] = {
        "name": new_name,
        "handle": current.handle if handle is UNSET else _handle(handle),
        "adapter": current.kind if kind is UNSET else _kind(kind),
        "settings": json.dumps(check_settings(new_settings, secret_fields), ensure_ascii=False),
        "response_target_s": (
            current.response_target_s if response_target_s is UNSET else _target(response_target_s)
        ),
        "business_hours": (
            current.business_hours if business_hours is UNSET else _hours(business_hours)
        ),
    }
    with ws.transaction():
        _unique(ws, current.channel, new_name, current.id)
        ws.conn.execute(
            "UPDATE accounts SET name = :name, handle = :handle, adapter = :adapter,"
            " settings = :settings, response_target_s = :response_target_s,"
            " business_hours = :business_hours WHERE id = :id",
            {**values, "id": current.id},
        )
    return get_account(ws, current.id)


def remove_account(ws: Workspace, account_id: int, *, force: bool = False) -> RemovedAccount:
    """Delete an account; with conversations only when ``force`` (see the module docstring)."""
    account = get_account(ws, account_id)
    with ws.transaction():
        conversations = conversation_count(ws, account.id)
        if conversations and not force:
            raise AccountInUseError(
                f"{account.label} has {conversations} conversation(s); removing it would delete "
                "them and their messages: use force to do so"
            )
        customers = {
            int(r[0])
            for r in ws.conn.execute(
                "SELECT DISTINCT customer_id FROM conversations"
                " WHERE account_id = ? AND customer_id IS NOT NULL",
                (account.id,),
            )
        }
        messages = _delete_history(ws, account.id)
        ws.conn.execute("DELETE FROM cursors WHERE account_id = ?", (account.id,))
        ws.conn.execute("DELETE FROM accounts WHERE id = ?", (account.id,))
        _recount_customers(ws, customers)
    return RemovedAccount(account, conversations, messages, frozenset(customers))


def _delete_history(ws: Workspace, account_id: int) -> int:
    conv_ids = "SELECT id FROM conversations WHERE account_id = ?"
    conn = ws.conn
    conn.execute(f"DELETE FROM drafts WHERE conversation_id IN ({conv_ids})", (account_id,))
    conn.execute(f"DELETE FROM alerts WHERE conversation_id IN ({conv_ids})", (account_id,))
    conn.execute("DELETE FROM outbox WHERE account_id = ?", (account_id,))
    cur = conn.execute(
        f"DELETE FROM messages WHERE account_id = ? OR conversation_id IN ({conv_ids})",
        (account_id, account_id),
    )
    conn.execute("DELETE FROM conversations WHERE account_id = ?", (account_id,))
    return int(cur.rowcount or 0)


def _recount_customers(ws: Workspace, customer_ids: set[int]) -> None:
    """The counters ingest keeps per customer, after some of their history went away."""
    for customer_id in sorted(customer_ids):
        ws.conn.execute(
            "UPDATE customers SET"
            " inbound_count = (SELECT count(*) FROM messages"
            "   WHERE customer_id = :c AND direction = 'in'),"
            " outbound_count = (SELECT count(*) FROM messages"
            "   WHERE customer_id = :c AND direction = 'out'),"
            " conversation_count = (SELECT count(*) FROM conversations WHERE customer_id = :c),"
            " first_contact = (SELECT min(created_at) FROM messages WHERE customer_id = :c),"
            " last_contact = (SELECT max(created_at) FROM messages WHERE customer_id = :c)"
            " WHERE id = :c",
            {"c": customer_id},
        )


# -- cursors ---------------------------------------------------------------------------------------


def get_cursor(ws: Workspace, account_id: int) -> dict[str, str]:
    rows = ws.conn.execute(
        "SELECT name, value FROM cursors WHERE account_id = ? ORDER BY name", (account_id,)
    ).fetchall()
    return {str(n): str(v) for n, v in rows if v is not None}


def set_cursor(
    ws: Workspace, account_id: int, cursor: Mapping[str, str], *, now: int | None = None
) -> None:
    """Replace the account's cursor with ``cursor`` (keys not in it are dropped)."""
    stamp = to_epoch(utcnow()) if now is None else now
    with ws.transaction():
        ws.conn.execute("DELETE FROM cursors WHERE account_id = ?", (account_id,))
        ws.conn.executemany(
            "INSERT INTO cursors (account_id, name, value, updated_at) VALUES (?, ?, ?, ?)",
            [(account_id, str(k), str(v), stamp) for k, v in cursor.items()],
        )


def clear_cursor(ws: Workspace, account_id: int) -> None:
    with ws.transaction():
        ws.conn.execute("DELETE FROM cursors WHERE account_id = ?", (account_id,))
