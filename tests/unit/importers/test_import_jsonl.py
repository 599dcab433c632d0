"""The JSONL importer: fields, per-line errors, damaged text, threading through ingest, idempotency."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.storage import Workspace
from services.importers import guess_format, run_import
from services.importers.jsonl import JsonlParser

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def at(hours: float = 0, minutes: float = 0) -> str:
    return (T0 + timedelta(hours=hours, minutes=minutes)).isoformat()


def record(ext: str | int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "channel": "x",
        "account": "BrandCare",
        "id": ext,
        "in_reply_to": None,
        "thread": None,
        "direction": "in",
        "author": "@andy",
        "author_name": "Andy",
        "text": f"message {ext}",
        "created_at": at(),
    }
    base.update(fields)
    return base


def write(path: Path, *items: dict[str, Any] | str | bytes) -> Path:
    """Objects become JSON lines; strings and bytes are written as they are (broken lines)."""
    out = bytearray()
    for item in items:
        if isinstance(item, dict):
            out += json.dumps(item, ensure_ascii=False).encode("utf-8")
        elif isinstance(item, str):
            out += item.encode("utf-8")
        else:
            out += item
        out += b"\n"
    path.write_bytes(bytes(out))
    return path


def conv_of(ws: Workspace, ext: str) -> int:
    return int(ws.scalar("SELECT conversation_id FROM messages WHERE external_id = ?", (ext,)))


def test_fields_arrive_in_the_workspace(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "one.jsonl",
        record(
            "m1",
            followers=1234,
            subject="Late order",
            language="en",
            customer="crm-7",
            created_at="2024-03-01T10:30:00+01:00",
        ),
    )
    summary = run_import(workspace, path)
    assert (summary.format, summary.added, summary.problems) == ("jsonl", 1, [])
    row = workspace.query_one("SELECT * FROM messages")
    assert row is not None
    assert row["channel"] == "x" and row["direction"] == "in"
    assert row["author"] == "@andy" and row["author_name"] == "Andy"
    assert row["subject"] == "Late order" and row["language"] == "en"
    assert row["created_at"] == int(datetime(2024, 3, 1, 9, 30, tzinfo=UTC).timestamp())
    identity = workspace.query_one("SELECT * FROM identities")
    assert identity is not None and identity["followers"] == 1234
    customer = workspace.query_one("SELECT key, reach FROM customers")
    assert customer == {"key": "crm-7", "reach": 1234}
    account = workspace.query_one("SELECT channel, name FROM accounts")
    assert account == {"channel": "x", "name": "BrandCare"}


def test_one_customer_key_on_three_channels_is_one_customer(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "cross.jsonl",
        record("x-1", customer="cust-42", text="@BrandCare where is my parcel?"),
        record(
            "mail-1@example.org",
            channel="email",
            account="support@brand.example",
            author="Andy.Loynes@Example.org",
            customer="cust-42",
            subject="Parcel",
            created_at=at(hours=3),
        ),
        record(
            "SM1",
            channel="sms",
            account="+441234000000",
            author="+447700900123",
            customer="cust-42",
            created_at=at(hours=5),
        ),
        record("x-2", author="@someone_else", created_at=at(hours=1)),
    )
    assert run_import(workspace, path).added == 4
    assert workspace.scalar("SELECT count(*) FROM customers") == 2
    andy = workspace.scalar("SELECT id FROM customers WHERE key = 'cust-42'")
    handles = {
        (r["channel"], r["handle"])
        for r in workspace.query(
            "SELECT channel, handle FROM identities WHERE customer_id = ?", (andy,)
        )
    }
    # The email address is stored lower-cased, as the email importer stores addresses.
    assert handles == {
        ("x", "@andy"),
        ("email", "andy.loynes@example.org"),
        ("sms", "+447700900123"),
    }
    counts = workspace.query_one(
        "SELECT inbound_count, conversation_count FROM customers WHERE id = ?", (andy,)
    )
    assert counts == {"inbound_count": 3, "conversation_count": 3}


def test_in_reply_to_and_thread_keys_group_conversations(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "threads.jsonl",
        record("t1"),
        record(
            "t2", direction="out", author="BrandCare", in_reply_to="t1", created_at=at(minutes=5)
        ),
        record("t3", in_reply_to="t2", created_at=at(minutes=9)),
        record("t9", author="@bob", created_at=at(minutes=1)),
        # Messenger is unthreaded: the thread key (the page's conversation id) groups it.
        record("fb1", channel="messenger", account="Brand", author="psid-1", thread="c-100"),
        record(
            "fb2",
            channel="messenger",
            account="Brand",
            author="Brand",
            direction="out",
            thread="c-100",
            created_at=at(minutes=2),
        ),
        record(
            "fb3",
            channel="messenger",
            account="Brand",
            author="psid-1",
            thread="c-200",
            created_at=at(minutes=3),
        ),
    )
    assert run_import(workspace, path).problems == []
    assert conv_of(workspace, "t1") == conv_of(workspace, "t2") == conv_of(workspace, "t3")
    assert conv_of(workspace, "t9") != conv_of(workspace, "t1")
    assert conv_of(workspace, "fb1") == conv_of(workspace, "fb2")
    assert conv_of(workspace, "fb3") != conv_of(workspace, "fb1")
    conv = workspace.query_one(
        "SELECT message_count, first_response_at FROM conversations WHERE id = ?",
        (conv_of(workspace, "t1"),),
    )
    assert conv == {
        "message_count": 3,
        "first_response_at": int((T0 + timedelta(minutes=5)).timestamp()),
    }


def test_streams_split_after_24_hours_of_silence_and_after_resolution(
    workspace: Workspace, tmp_path: Path
) -> None:
    sms = {"channel": "sms", "account": "+441234000000", "author": "+447700900123"}
    first = write(
        tmp_path / "a.jsonl",
        record("s1", **sms),
        record("s2", created_at=at(hours=23), **sms),  # 23 h after s1: same conversation
        record(
            "s3",
            direction="out",
            channel="sms",
            account="+441234000000",
            author="+441234000000",
            to="+447700900123",
            created_at=at(hours=23, minutes=30),
        ),
        record("s4", created_at=at(hours=48), **sms),  # 24.5 h of silence: a new one
    )
    run_import(workspace, first)
    assert conv_of(workspace, "s1") == conv_of(workspace, "s2") == conv_of(workspace, "s3")
    assert conv_of(workspace, "s4") != conv_of(workspace, "s1")
    workspace.conn.execute(
        "UPDATE conversations SET status = 'resolved' WHERE id = ?", (conv_of(workspace, "s4"),)
    )
    second = write(tmp_path / "b.jsonl", record("s5", created_at=at(hours=49), **sms))
    run_import(workspace, second)
    assert conv_of(workspace, "s5") not in (conv_of(workspace, "s4"), conv_of(workspace, "s1"))
    assert workspace.scalar("SELECT count(*) FROM conversations") == 3


@pytest.mark.parametrize("split_files", [False, True])
def test_a_parent_arriving_later_gathers_its_replies(
    workspace: Workspace, tmp_path: Path, split_files: bool
) -> None:
    replies = [
        record("r1", author="@carol", in_reply_to="root", created_at=at(hours=1)),
        record("r2", author="@dave", in_reply_to="root", created_at=at(hours=2)),
        record("r3", author="@carol", in_reply_to="r1", created_at=at(hours=3)),
    ]
    root = record("root", direction="out", author="BrandCare", text="Outage: we're on it")
    if split_files:
        run_import(workspace, write(tmp_path / "replies.jsonl", *replies))
        assert workspace.scalar("SELECT count(*) FROM conversations") == 2  # r1+r3, r2
        run_import(workspace, write(tmp_path / "root.jsonl", root))
    else:
        run_import(workspace, write(tmp_path / "all.jsonl", *replies, root))
    ids = {conv_of(workspace, e) for e in ("root", "r1", "r2", "r3")}
    assert len(ids) == 1
    assert workspace.scalar("SELECT count(*) FROM conversations") == 1
    assert workspace.scalar("SELECT message_count FROM conversations") == 4


def test_broken_lines_are_reported_by_number_and_the_rest_imported(
    workspace: Workspace, tmp_path: Path
) -> None:
    naive = record("bad-time", created_at="2024-03-01T09:00:00")
    missing = record("no-author")
    del missing["author"]
    path = write(
        tmp_path / "mixed.jsonl",
        record("ok-1"),  # line 1
        '{"channel": "x", "id": ',  # 2: cut short
        "[1, 2, 3]",  # 3
        missing,  # 4
        record("fax-1", channel="fax"),  # 5
        naive,  # 6
        record("bad-followers", followers="many"),  # 7
        "",  # 8: blank lines are skipped silently
        record("bad-dir", direction="sideways"),  # 9
        record("bad-text", text=["not", "text"]),  # 10
        record("bad-date", created_at="yesterday"),  # 11
        record("ok-2", created_at=at(hours=1)),  # 12
        record("bad-id", id={"a": 1}),  # 13
        "   ",  # 14
    )
    summary = run_import(workspace, path)
    assert summary.added == 2
    assert workspace.scalar("SELECT count(*) FROM messages") == 2
    reasons = {p.line: p.message for p in summary.problems}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 9, 10, 11, 13]
    assert reasons[2].startswith("not JSON")
    assert "array" in reasons[3]
    assert "'author'" in reasons[4] and "missing" in reasons[4]
    assert "'fax'" in reasons[5] and "whatsapp" in reasons[5]
    assert "offset" in reasons[6]
    assert "'followers'" in reasons[7] and "string" in reasons[7]
    assert "'sideways'" in reasons[9]
    assert "'text'" in reasons[10] and "array" in reasons[10]
    assert "ISO 8601" in reasons[11]
    assert "'id'" in reasons[13]


def test_invalid_utf8_is_replaced_kept_and_flagged(workspace: Workspace, tmp_path: Path) -> None:
    line = json.dumps(record("latin", text="PLACEHOLDER"), ensure_ascii=False).encode()
    broken = line.replace(b"PLACEHOLDER", b"caf\xe9 \xff cr\xc3\xa8me")
    surrogate = json.dumps(record("lone", text="half \ud83d pair", created_at=at(hours=1)))
    path = write(tmp_path / "bytes.jsonl", broken, surrogate, record("clean", created_at=at(2)))
    summary = run_import(workspace, path)
    assert (summary.added, summary.problems) == (3, [])
    rows = {
        r["external_id"]: r
        for r in workspace.query("SELECT external_id, text, extra FROM messages")
    }
    assert rows["latin"]["text"] == "caf\ufffd \ufffd crème"
    assert json.loads(rows["latin"]["extra"])["invalid_utf8"] is True
    assert rows["lone"]["text"] == "half \ufffd pair"
    assert json.loads(rows["lone"]["extra"])["invalid_utf8"] is True
    assert rows["clean"]["extra"] is None


def test_a_one_megabyte_text_imports_whole(workspace: Workspace, tmp_path: Path) -> None:
    text = ("All work and no play makes Jack a dull boy. " * 25_000)[:1_048_576]
    path = write(tmp_path / "long.jsonl", record("long", text=text), record("short"))
    assert run_import(workspace, path).added == 2
    assert workspace.scalar("SELECT length(text) FROM messages WHERE external_id = 'long'") == len(
        text
    )


def test_reimport_adds_nothing(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "again.jsonl",
        record("a1"),
        record("a2", in_reply_to="a1", direction="out", author="BrandCare"),
        record("a3", channel="sms", account="+1555", author="+1666", created_at=at(hours=1)),
    )
    first = run_import(workspace, path)
    before = [
        workspace.scalar(f"SELECT count(*) FROM {t}")
        for t in ("messages", "conversations", "customers", "identities")
    ]
    second = run_import(workspace, path)
    after = [
        workspace.scalar(f"SELECT count(*) FROM {t}")
        for t in ("messages", "conversations", "customers", "identities")
    ]
    assert (first.added, first.skipped) == (3, 0)
    assert (second.added, second.skipped) == (0, 3)
    assert before == after


def test_unknown_fields_are_kept_in_extra(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "extra.jsonl",
        record("u1", crm_ticket="ZD-991", tags=["refund", "vip"], extra={"source": "export"}),
    )
    assert run_import(workspace, path).added == 1
    extra = json.loads(workspace.scalar("SELECT extra FROM messages"))
    assert extra == {"crm_ticket": "ZD-991", "tags": ["refund", "vip"], "source": "export"}


def test_integer_ids_and_z_times_are_accepted(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "ints.jsonl",
        record(10, created_at="2024-03-01T09:00:00Z"),
        record(11, in_reply_to=10, created_at="2024-03-01T09:01:00.250Z"),
    )
    assert run_import(workspace, path).problems == []
    assert conv_of(workspace, "10") == conv_of(workspace, "11")
    assert workspace.scalar("SELECT created_at FROM messages WHERE external_id = '11'") == int(
        datetime(2024, 3, 1, 9, 1, tzinfo=UTC).timestamp()
    )


def test_estimate_counts_lines_and_format_is_guessed(tmp_path: Path) -> None:
    path = write(tmp_path / "n.ndjson", *(record(str(i)) for i in range(7)))
    assert JsonlParser().estimate(path) == 7
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # no newline after the last line
    assert JsonlParser().estimate(path) == 7
    assert guess_format(path) == "jsonl"
    odd = tmp_path / "export.txt"
    odd.write_bytes(path.read_bytes())
    assert guess_format(odd) == "jsonl"


def test_a_bom_and_crlf_line_ends_are_tolerated(workspace: Workspace, tmp_path: Path) -> None:
    lines = [json.dumps(record("b1")), json.dumps(record("b2", created_at=at(1)))]
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    summary = run_import(workspace, path)
    assert (summary.added, summary.problems) == (2, [])


#: Lines where a fast decoder could part from json: sizes and forms of numbers, repeated keys,
#: escapes, what json reads beyond the standard, and what it refuses.
TRICKY_LINES = [
    '{"id": 123456789012345678901234567890, "n": 18446744073709551616, "m": -9223372036854775809}',
    '{"a": 1, "b": 2, "a": 3}',
    '{"z": 1, "y": {"q": [1, 2.5, -0.0, -0, 1E5, 1e-400]}, "x": null, "w": true}',
    '{"f": [1e22, 1e23, 0.30000000000000004, 5e-324, 1.7976931348623157e308]}',
    '{"f": 3.141592653589793238462643383279, "g": 12345678901234567890123e-5}',
    '{"s": "\\u00e9\\ud83d\\ude00\\/\\n\\t", "": ""}',
    '{"lone": "\\ud800 and \\udfff"}',
    '{"nan": NaN, "inf": Infinity, "minus": -Infinity}',
    '{"big": 1e400, "small": -1e400}',
    ' {"spaced": 1} \r\n',
]
REFUSED_LINES = [
    '{"a": "x\ty"}',
    '{"a": 00}',
    '{"a": 1.}',
    '{"a": .5}',
    '{"a": 1}\x00',
    '{"a": ',
    "[1,",
]


@pytest.mark.parametrize("line", TRICKY_LINES)
def test_lines_decode_as_json_decodes_them(line: str) -> None:
    from services.importers.jsonl import loads

    got, want = loads(line), json.loads(line)
    # repr: the same types (int against float), the same key order, NaN equal to itself
    assert repr(got) == repr(want)


@pytest.mark.parametrize("line", REFUSED_LINES)
def test_lines_json_refuses_are_refused_with_its_words(line: str) -> None:
    from services.importers.jsonl import loads

    with pytest.raises(json.JSONDecodeError) as ours:
        loads(line)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(line)
    assert (ours.value.msg, ours.value.colno) == (theirs.value.msg, theirs.value.colno)


def test_a_line_nested_too_deeply_is_a_problem_not_a_crash(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write(tmp_path / "deep.jsonl", record("ok"), "[" * 100_000 + "]" * 100_000)
    summary = run_import(workspace, path)
    assert summary.added == 1
    assert [(p.line, p.message) for p in summary.problems] == [(2, "not JSON: nested too deeply")]


def _outcome(raw: bytes, *, first: bool) -> tuple[str, Any]:
    from services.importers.jsonl import _Invalid, parse_line

    try:
        return ("message", parse_line(raw, first=first))
    except _Invalid as exc:
        return ("problem", str(exc))


def test_lines_read_from_their_bytes_give_what_lines_read_as_text_give() -> None:
    # Lines after the first are handed to msgspec as bytes; the first (which may carry a byte
    # order mark) is decoded to text first, the way that decides whenever msgspec refuses.
    base = json.dumps(record("1", text="héllo 😀"), ensure_ascii=False)
    lines = [line.encode("utf-8") for line in TRICKY_LINES + REFUSED_LINES]
    lines += [
        base.encode("utf-8"),
        base.encode("utf-8") + b"\r\n",
        base.replace("héllo", "h\\u00e9llo \\ud800").encode("utf-8"),
        base.encode("utf-8").replace("é".encode(), b"\xe9"),  # Latin-1, not UTF-8
        base.encode("utf-8").replace(b'"in"', b'"in" \xff'),  # a bad byte outside a string
        json.dumps(record("2", followers=10**30, extra={"n": float("nan")})).encode(),
        json.dumps(record("3", followers="12")).encode(),
        ("[" * 100_000 + "]" * 100_000).encode(),
    ]
    for raw in lines:
        assert _outcome(raw, first=False) == _outcome(raw, first=True), raw[:80]
