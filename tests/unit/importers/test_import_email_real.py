"""The email importer on the real mailing-list files of ``../shared/data/email`` (see its SOURCE.md).

Every expected value is computed here from the raw files with the standard library (``mailbox``,
``email``) and a union-find of our own, never by calling the importer; the exact figures are
asserted too, so that a change in the files or in this reference shows up as well.

Threads: the importer links messages through Message-ID / In-Reply-To / References ids shaped
``left@right``, *including ids of messages missing from the file* (two replies to one absent
parent are one thread). Only-present links give one thread more on the lkml file (20, the figure
of SOURCE.md): two replies to the absent ``1259223435-...@datenfreihafen.org``. Ids without ``@``
are ignored because the lkml file has 55 ``<yes>`` references that would chain unrelated threads.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.utils
import mailbox
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.storage import Workspace
from console.storage.customers import search_messages
from services.importers import ImportSummary, run_import

LIST_MBOX = "email/notmuch-list-2009.mbox"
LKML_MBOX = "email/notmuch-lkml-corpus.mbox"
EML_FOLDER = "email/eml_notmuch_default"

_ANGLE_ID = re.compile(r"<([^<>\s]+)>")


# -- the independent reference ---------------------------------------------------------------------


@dataclass
class Reference:
    raw_count: int
    messages: dict[str, email.message.Message]  # first copy of each Message-ID, in file order
    raw_bytes: dict[str, bytes]

    @property
    def senders(self) -> set[str]:
        return {email.utils.parseaddr(str(m["From"]))[1].lower() for m in self.messages.values()}

    def links(self, mid: str) -> list[str]:
        msg = self.messages[mid]
        found = _ANGLE_ID.findall(str(msg["In-Reply-To"] or "")) + _ANGLE_ID.findall(
            str(msg["References"] or "")
        )
        return [i for i in found if "@" in i and i != mid]

    def threads(self, *, through_missing: bool) -> set[frozenset[str]]:
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            parent.setdefault(x, x)
            while parent[x] != x:
                x = parent[x]
            return x

        for mid in self.messages:
            find(mid)
            for other in self.links(mid):
                if through_missing or other in self.messages:
                    parent[find(other)] = find(mid)
        groups: dict[str, set[str]] = {}
        for mid in self.messages:
            groups.setdefault(find(mid), set()).add(mid)
        return {frozenset(g) for g in groups.values()}


def _message_id(msg: email.message.Message) -> str:
    return str(_ANGLE_ID.findall(str(msg["Message-ID"]))[0])


def reference_of(path: Path) -> Reference:
    if path.is_dir():
        blobs = [p.read_bytes() for p in sorted(path.glob("*.eml"))]
        parsed = [email.message_from_bytes(b) for b in blobs]
    else:
        box = mailbox.mbox(path)
        keyed = list(box.iteritems())  # (key, message); iterating a mailbox yields messages
        parsed = [msg for _, msg in keyed]
        blobs = [box.get_bytes(key) for key, _ in keyed]
    messages: dict[str, email.message.Message] = {}
    raw_bytes: dict[str, bytes] = {}
    for msg, blob in zip(parsed, blobs, strict=True):
        mid = _message_id(msg)
        messages.setdefault(mid, msg)
        raw_bytes.setdefault(mid, blob)
    return Reference(len(parsed), messages, raw_bytes)


def decoded_header(value: str) -> str:
    text = str(email.header.make_header(email.header.decode_header(value)))
    return re.sub(r"\s+", " ", text).strip()


def plain_body(msg: email.message.Message) -> str:
    parts = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            parts.append(data.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def folded(text: str) -> str:
    """Lower case without diacritics, as the FTS5 tokenizer (remove_diacritics 2) sees words."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


# -- imported workspaces (one per file, shared by the module's tests) ------------------------------


@dataclass
class Imported:
    ws: Workspace
    ref: Reference
    first: ImportSummary


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Imported]]:
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the repository)")
    out: dict[str, Imported] = {}
    for name in (LIST_MBOX, LKML_MBOX, EML_FOLDER):
        path = SHARED_DATA / name
        ws = Workspace(tmp_path_factory.mktemp("real") / "ws.sqlite")
        out[name] = Imported(ws, reference_of(path), run_import(ws, path))
    yield out
    for item in out.values():
        item.ws.close()


def counts(ws: Workspace) -> tuple[int, int, int, int]:
    return (
        int(ws.scalar("SELECT count(*) FROM messages")),
        int(ws.scalar("SELECT count(*) FROM conversations")),
        int(ws.scalar("SELECT count(*) FROM identities")),
        int(ws.scalar("SELECT count(*) FROM customers")),
    )


def stored_threads(ws: Workspace) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for row in ws.query("SELECT conversation_id, external_id FROM messages"):
        groups.setdefault(row["conversation_id"], set()).add(row["external_id"])
    return {frozenset(g) for g in groups.values()}


# -- the tests ---------------------------------------------------------------------------------------

FIGURES = {
    # file: (raw messages, distinct Message-IDs, distinct senders, threads, present-only threads)
    LIST_MBOX: (53, 52, 16, 24, 24),
    LKML_MBOX: (210, 176, 50, 19, 20),
    EML_FOLDER: (53, 52, 16, 24, 24),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_reference_figures_of_the_raw_files(name: str, imported: dict[str, Imported]) -> None:
    ref = imported[name].ref
    raw, distinct, senders, threads, present_only = FIGURES[name]
    assert ref.raw_count == raw
    assert len(ref.messages) == distinct
    assert len(ref.senders) == senders
    assert len(ref.threads(through_missing=True)) == threads
    assert len(ref.threads(through_missing=False)) == present_only


@pytest.mark.parametrize("name", list(FIGURES))
def test_one_message_per_distinct_message_id_all_inbound_email(
    name: str, imported: dict[str, Imported]
) -> None:
    item = imported[name]
    assert (item.first.read, item.first.added) == (item.ref.raw_count, len(item.ref.messages))
    assert item.first.skipped == item.ref.raw_count - len(item.ref.messages)  # the duplicates
    assert item.first.problems == []
    stored = {r["external_id"] for r in item.ws.query("SELECT external_id FROM messages")}
    assert stored == set(item.ref.messages)
    kinds = item.ws.query("SELECT DISTINCT channel, direction FROM messages")
    assert kinds == [{"channel": "email", "direction": "in"}]


@pytest.mark.parametrize("name", list(FIGURES))
def test_one_identity_and_customer_per_sender_address(
    name: str, imported: dict[str, Imported]
) -> None:
    item = imported[name]
    identities = item.ws.query("SELECT channel, handle, customer_id FROM identities")
    assert {i["handle"] for i in identities} == item.ref.senders
    assert {i["channel"] for i in identities} == {"email"}
    assert len({i["customer_id"] for i in identities}) == len(identities)
    assert int(item.ws.scalar("SELECT count(*) FROM customers")) == len(item.ref.senders)
    # Each message is its sender's: author and identity agree with the raw From address.
    for row in item.ws.query(
        "SELECT m.external_id, m.author, i.handle FROM messages m JOIN identities i"
        " ON i.id = m.identity_id"
    ):
        sender = email.utils.parseaddr(str(item.ref.messages[row["external_id"]]["From"]))[1]
        assert row["author"] == row["handle"] == sender.lower()


@pytest.mark.parametrize("name", list(FIGURES))
def test_conversations_are_the_reply_graph_components(
    name: str, imported: dict[str, Imported]
) -> None:
    item = imported[name]
    assert stored_threads(item.ws) == item.ref.threads(through_missing=True)
    # One account per conversation, and every message of it carries that account.
    mixed = item.ws.scalar(
        "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE m.account_id != c.account_id"
    )
    assert mixed == 0


def test_the_one_thread_joined_through_a_missing_parent(imported: dict[str, Imported]) -> None:
    ref = imported[LKML_MBOX].ref
    joined = ref.threads(through_missing=True) - ref.threads(through_missing=False)
    assert len(joined) == 1
    (thread,) = joined
    shared = set.intersection(*(set(ref.links(mid)) for mid in thread))
    assert shared == {"1259223435-29656-1-git-send-email-stefan@datenfreihafen.org"}
    assert not shared & set(ref.messages)  # the parent is not in the file


@pytest.mark.parametrize("name", list(FIGURES))
def test_a_second_import_adds_nothing(
    name: str, imported: dict[str, Imported], shared_data: Path
) -> None:
    item = imported[name]
    before = counts(item.ws)
    again = run_import(item.ws, shared_data / name)
    assert (again.added, again.skipped, again.read) == (0, item.ref.raw_count, item.ref.raw_count)
    assert counts(item.ws) == before


def test_the_eml_folder_after_its_mbox_adds_nothing(
    tmp_path: Path, shared_data: Path, imported: dict[str, Imported]
) -> None:
    ws = Workspace(tmp_path / "both.sqlite")
    try:
        first = run_import(ws, shared_data / LIST_MBOX)
        before, threads = counts(ws), stored_threads(ws)
        second = run_import(ws, shared_data / EML_FOLDER)
        assert first.added == 52
        assert (second.read, second.added, second.problems) == (53, 0, [])
        assert counts(ws) == before and stored_threads(ws) == threads
        # The same corpus read from single files gives the same texts as the mbox.
        texts = "SELECT external_id, subject, author_name, text FROM messages ORDER BY external_id"
        assert ws.query(texts) == imported[EML_FOLDER].ws.query(texts)
    finally:
        ws.close()


@pytest.mark.parametrize("name", [LIST_MBOX, LKML_MBOX])
def test_encoded_words_in_subjects_and_names_come_out_decoded(
    name: str, imported: dict[str, Imported]
) -> None:
    item = imported[name]
    checked = 0
    for mid, msg in item.ref.messages.items():
        subject, sender = str(msg["Subject"] or ""), str(msg["From"])
        if "=?" not in subject + sender:
            continue
        row = item.ws.query_one(
            "SELECT subject, author_name FROM messages WHERE external_id = ?", (mid,)
        )
        assert row is not None
        if "=?" in subject:
            assert row["subject"] == decoded_header(subject)
            checked += 1
        if "=?" in sender:
            name_part = email.utils.parseaddr(decoded_header(sender))[0].strip()
            assert row["author_name"] == name_part
            checked += 1
        assert "=?" not in (row["subject"] or "") + (row["author_name"] or "")
    assert checked >= 2


def test_the_known_accented_headers(imported: dict[str, Imported]) -> None:
    ws = imported[LIST_MBOX].ws
    assert ws.scalar(
        "SELECT subject FROM messages WHERE external_id = '877h1wv7mg.fsf@inf-8657.int-evry.fr'"
    ) == ("Essai accentu\u00e9")
    assert ws.scalar(
        "SELECT author_name FROM messages WHERE external_id = '4EFC743A.3060609@april.org'"
    ) == ("Fran\u00e7ois Boulogne")


def test_the_8bit_message_is_readable(imported: dict[str, Imported]) -> None:
    item = imported[LIST_MBOX]
    eight_bit = [mid for mid, blob in item.ref.raw_bytes.items() if not blob.isascii()]
    assert len(eight_bit) == 1
    (mid,) = eight_bit
    msg = item.ref.messages[mid]
    charset = msg.get_content_charset()
    payload = msg.get_payload(decode=True)
    assert charset == "iso-8859-1" and isinstance(payload, bytes)
    expected = payload.decode(charset)  # every byte is valid Latin-1: nothing to replace
    text = item.ws.scalar("SELECT text FROM messages WHERE external_id = ?", (mid,))
    assert "\ufffd" not in text
    assert "a \u00e9crit" in text and "Fran\u00e7ois Boulogne." in text
    stored_lines = set(text.split("\n"))
    for line in expected.split("\n"):
        if line.strip() and line.strip() != "--":
            assert line.rstrip() in stored_lines


@pytest.mark.parametrize(
    ("name", "word"),
    [(LIST_MBOX, "accentu\u00e9"), (LIST_MBOX, "Maildir"), (LKML_MBOX, "Peslo\u00fcan")],
)
def test_search_finds_the_messages_holding_a_word(
    name: str, word: str, imported: dict[str, Imported]
) -> None:
    item = imported[name]
    pattern = re.compile(r"(?<![^\W_])" + re.escape(folded(word)) + r"(?![^\W_])")
    expected = {
        mid for mid, msg in item.ref.messages.items() if pattern.search(folded(plain_body(msg)))
    }
    assert expected  # the word is really there
    found = {row["external_id"] for row in search_messages(item.ws, word, limit=1000)}
    assert found == expected
