"""The accounts repository: validation, updates, removal (with and without conversations), cursors."""

from __future__ import annotations

import json

import pytest

from console.domain import Channel, Direction, IncomingMessage
from console.errors import AccountError, AccountInUseError, NotFoundError
from console.storage import accounts as repo
from console.storage.db import Workspace
from console.storage.ingest import Ingestor

HOURS = {"timezone": "Europe/Helsinki", "week": {"mon": ["08:00-17:00"]}}


def post(
    external_id: str, author: str, account: str = "Brand", at: int = 1_700_000_000
) -> IncomingMessage:
    return IncomingMessage(
        channel=Channel.X,
        account=account,
        external_id=external_id,
        direction=Direction.IN,
        author=author,
        text=f"help {external_id}",
        created_at=at,
    )


def test_add_get_list_and_to_json(workspace: Workspace) -> None:
    email = repo.add_account(
        workspace,
        channel="email",
        name=" Support ",
        kind="email",
        handle="help@brand.example",
        settings={"address": "help@brand.example", "imap_port": 993, "empty": ""},
        response_target_s=3600,
        business_hours=HOURS,
    )
    x = repo.add_account(workspace, channel=Channel.X, name="Brand", kind="x")
    assert email.name == "Support" and email.channel == Channel.EMAIL and email.kind == "email"
    assert email.settings == {"address": "help@brand.example", "imap_port": 993}
    assert json.loads(email.business_hours or "") == HOURS
    assert repo.get_account(workspace, email.id) == email
    assert repo.get_account(workspace, str(email.id)) == email
    assert repo.get_account(workspace, "Support") == email
    assert repo.find_account(workspace, "x", "Brand") == x
    assert [a.name for a in repo.list_accounts(workspace)] == ["Support", "Brand"]  # by channel
    data = email.to_json()
    assert (
        data["business_hours"] == HOURS and data["kind"] == "email" and data["channel"] == "email"
    )
    with pytest.raises(NotFoundError):
        repo.get_account(workspace, 999)
    with pytest.raises(NotFoundError):
        repo.get_account(workspace, "Nobody")


def test_a_name_on_two_channels_needs_the_channel_or_the_id(workspace: Workspace) -> None:
    repo.add_account(workspace, channel="x", name="Brand", kind="x")
    fb = repo.add_account(workspace, channel="facebook", name="Brand", kind="meta")
    with pytest.raises(AccountError, match="2 accounts are named 'Brand'"):
        repo.get_account(workspace, "Brand")
    assert repo.get_account(workspace, "Brand", channel="facebook") == fb
    with pytest.raises(AccountError, match="already"):
        repo.add_account(workspace, channel="x", name="Brand", kind="x")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channel": "fax"}, "unknown channel"),
        ({"name": "  "}, "name is empty"),
        ({"name": "a" * 101}, "longer than"),
        ({"name": "bad\x00name"}, "control characters"),
        ({"kind": "Bad Kind!"}, "invalid adapter kind"),
        ({"settings": {"smtp_password": "hunter2"}}, "is a secret"),
        ({"settings": {"api_token": "abc"}}, "is a secret"),
        ({"settings": {"page_id": "1"}, "secret_fields": ["page_id"]}, "is a secret"),
        ({"settings": {"Bad Key": "1"}}, "invalid setting name"),
        ({"settings": {"nested": {"a": 1}}}, "must be text"),
        ({"response_target_s": 0}, "positive"),
        ({"response_target_s": True}, "positive"),
        ({"business_hours": "{not json"}, "not valid JSON"),
        ({"business_hours": {"week": {"funday": ["08:00-10:00"]}}}, "unknown day"),
        (
            {"business_hours": {"timezone": "Mars/Olympus", "week": {"mon": ["08:00-10:00"]}}},
            "Mars",
        ),
    ],
)
def test_invalid_values_are_refused_with_a_typed_error(
    workspace: Workspace, changes: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"channel": "email", "name": "Support", "kind": "email"}
    values.update(changes)
    with pytest.raises(AccountError, match=message):
        repo.add_account(workspace, **values)  # type: ignore[arg-type]
    assert repo.list_accounts(workspace) == []


def test_update_changes_only_what_is_given(workspace: Workspace) -> None:
    account = repo.add_account(
        workspace,
        channel="email",
        name="Support",
        kind="sandbox",
        settings={"address": "a@b.example", "imap_port": 143},
        response_target_s=600,
    )
    other = repo.add_account(workspace, channel="email", name="Sales", kind="email")
    updated = repo.update_account(
        workspace,
        account.id,
        kind="email",
        set_settings={"imap_host": "imap.b.example"},
        unset_settings=["imap_port"],
        business_hours=HOURS,
    )
    assert updated.kind == "email" and updated.name == "Support"
    assert updated.settings == {"address": "a@b.example", "imap_host": "imap.b.example"}
    assert updated.response_target_s == 600 and updated.business_hours is not None
    cleared = repo.update_account(
        workspace, account.id, response_target_s=None, business_hours=None
    )
    assert cleared.response_target_s is None and cleared.business_hours is None
    with pytest.raises(AccountError, match="already"):
        repo.update_account(workspace, other.id, name="Support")
    with pytest.raises(AccountError, match="is a secret"):
        repo.update_account(workspace, account.id, set_settings={"imap_password": "x"})
    assert repo.get_account(workspace, account.id).settings == updated.settings


def test_remove_refuses_an_account_with_conversations_unless_forced(workspace: Workspace) -> None:
    ingest = Ingestor(workspace)
    ingest.ingest([post("1", "ann"), post("2", "bob"), post("3", "ann", account="Other")])
    brand = repo.get_account(workspace, "Brand")
    assert brand.kind == "sandbox"  # made by ingest
    assert repo.conversation_counts(workspace)[brand.id] == 2
    repo.set_cursor(workspace, brand.id, {"since_id": "3"})
    with pytest.raises(AccountInUseError, match="2 conversation"):
        repo.remove_account(workspace, brand.id)
    assert repo.get_account(workspace, brand.id) == brand

    removed = repo.remove_account(workspace, brand.id, force=True)
    assert (removed.conversations, removed.messages) == (2, 2)
    assert len(removed.customer_ids) == 2
    with pytest.raises(NotFoundError):
        repo.get_account(workspace, brand.id)
    assert repo.get_cursor(workspace, brand.id) == {}
    assert workspace.scalar("SELECT count(*) FROM messages") == 1
    assert (
        workspace.scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'help'") == 1
    )
    # Ann keeps her other conversation, with counters that match what is left.
    ann = workspace.query_one(
        "SELECT * FROM customers WHERE id IN (SELECT customer_id FROM identities WHERE handle = 'ann')"
    )
    assert ann is not None
    assert (ann["inbound_count"], ann["conversation_count"]) == (1, 1)

    empty = repo.add_account(workspace, channel="sms", name="Line", kind="twilio")
    assert repo.remove_account(workspace, empty.id).conversations == 0


def test_cursors_are_replaced_whole_and_join_an_outer_transaction(workspace: Workspace) -> None:
    account = repo.add_account(workspace, channel="email", name="Support", kind="email")
    assert repo.get_cursor(workspace, account.id) == {}
    repo.set_cursor(workspace, account.id, {"uidvalidity": "7", "last_uid": "12"})
    assert repo.get_cursor(workspace, account.id) == {"uidvalidity": "7", "last_uid": "12"}
    repo.set_cursor(workspace, account.id, {"last_uid": "2"})
    assert repo.get_cursor(workspace, account.id) == {"last_uid": "2"}
    with pytest.raises(RuntimeError), workspace.transaction():
        repo.set_cursor(workspace, account.id, {"last_uid": "99"})
        raise RuntimeError("the batch failed")
    assert repo.get_cursor(workspace, account.id) == {"last_uid": "2"}
    repo.clear_cursor(workspace, account.id)
    assert repo.get_cursor(workspace, account.id) == {}
