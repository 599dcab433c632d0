"""Opening workspaces: creation, pragmas, refusing foreign or newer files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from console.errors import NewerSchemaError, NotAWorkspaceError
from console.storage import SCHEMA_VERSION, Workspace
from console.storage.schema import APPLICATION_ID


def test_new_workspace_has_schema_wal_and_fts(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "w.sqlite")
    assert ws.schema_version == SCHEMA_VERSION
    assert ws.scalar("PRAGMA journal_mode") == "wal"
    assert ws.scalar("PRAGMA application_id") == APPLICATION_ID
    names = {r["name"] for r in ws.query("SELECT name FROM sqlite_master")}
    assert {"customers", "identities", "conversations", "messages", "messages_fts"} <= names
    ws.close()
    # Reopening keeps the version and does not migrate twice.
    again = Workspace(tmp_path / "w.sqlite")
    assert again.schema_version == SCHEMA_VERSION
    again.close()


def test_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database " * 100)
    with pytest.raises(NotAWorkspaceError, match="not an Agent Console workspace"):
        Workspace(path)
    assert path.read_text().startswith("hello")  # untouched


def test_refuses_another_apps_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(NotAWorkspaceError, match="not an Agent Console workspace"):
        Workspace(path)


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    Workspace(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(NewerSchemaError, match="newer"):
        Workspace(path)


def test_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(NotAWorkspaceError, match="folder"):
        Workspace(tmp_path)


def test_settings_round_trip(workspace: Workspace) -> None:
    assert workspace.get_setting("x", 7) == 7
    workspace.set_setting("x", {"a": [1, 2]})
    assert workspace.get_setting("x") == {"a": [1, 2]}


def test_transaction_rolls_back_on_error(workspace: Workspace) -> None:
    with pytest.raises(RuntimeError), workspace.transaction() as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('k', '1')")
        raise RuntimeError("boom")
    assert workspace.get_setting("k") is None
