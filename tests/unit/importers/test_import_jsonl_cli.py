"""``python -m console --db X import FILE`` on JSONL (and mbox) files: the JSON it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from console.storage import Workspace

REPO = Path(__file__).resolve().parents[3]


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "console", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def line(ext: str, **fields: Any) -> str:
    base = {
        "channel": "whatsapp",
        "account": "+441234000000",
        "id": ext,
        "direction": "in",
        "author": "+447700900555",
        "text": f"hello {ext}",
        "created_at": "2024-05-02T08:00:00+02:00",
    }
    return json.dumps({**base, **fields})


def test_import_prints_added_skipped_and_errors(tmp_path: Path) -> None:
    data = tmp_path / "wa.jsonl"
    data.write_text(
        "\n".join(
            [
                line("wamid.1"),
                '{"channel": "whatsapp"',
                line("wamid.2", created_at="2024-05-02T08:03:00+02:00"),
                line("wamid.3", channel="telex"),
                line("wamid.4", direction="out", author="+441234000000", to="+447700900555"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    db = tmp_path / "w.sqlite"
    first = cli("--db", db, "import", data)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert (out["format"], out["read"], out["added"], out["skipped"]) == ("jsonl", 3, 3, 0)
    assert [e["line"] for e in out["errors"]] == [2, 4]
    assert "telex" in out["errors"][1]["message"]
    second = json.loads(cli("--db", db, "import", data, "--no-triage").stdout)
    assert (second["added"], second["skipped"]) == (0, 3)
    ws = Workspace(db)
    try:
        assert ws.scalar("SELECT count(*) FROM messages") == 3
        assert ws.scalar("SELECT count(*) FROM conversations") == 1
    finally:
        ws.close()


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = cli("--db", tmp_path / "w.sqlite", "import", tmp_path / "nope.jsonl")
    assert result.returncode == 2
    assert "no such file" in result.stderr
    assert result.stdout == ""


def test_mbox_through_the_cli_with_an_account(tmp_path: Path) -> None:
    mbox = tmp_path / "support.mbox"
    mbox.write_bytes(
        b"From ann@example.org Mon Jan  8 10:00:00 2024\n"
        b"From: Ann <ann@example.org>\nTo: help@brand.example\nSubject: Broken kettle\n"
        b"Date: Mon, 08 Jan 2024 10:00:00 +0000\nMessage-ID: <k1@example.org>\n\n"
        b"It leaks.\n\n"
        b"From help@brand.example Mon Jan  8 11:00:00 2024\n"
        b"From: Brand Help <help@brand.example>\nTo: ann@example.org\n"
        b"Subject: Re: Broken kettle\nDate: Mon, 08 Jan 2024 11:00:00 +0000\n"
        b"Message-ID: <r1@brand.example>\nIn-Reply-To: <k1@example.org>\n\n"
        b"Sorry! A new one is on its way. ^CP\n"
    )
    db = tmp_path / "w.sqlite"
    result = cli("--db", db, "import", mbox, "--account", "Help@Brand.example")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["format"], out["added"], out["errors"]) == ("mbox", 2, [])
    ws = Workspace(db)
    try:
        rows = ws.query("SELECT direction, author FROM messages ORDER BY created_at")
        assert [(r["direction"], r["author"]) for r in rows] == [
            ("in", "ann@example.org"),
            ("out", "help@brand.example"),
        ]
        assert ws.scalar("SELECT name FROM accounts") == "help@brand.example"
        assert ws.scalar("SELECT count(*) FROM conversations") == 1
    finally:
        ws.close()
