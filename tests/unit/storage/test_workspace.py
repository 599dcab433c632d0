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


def test_a_version_4_workspace_gets_the_plain_search_trigger(tmp_path: Path) -> None:
    import sqlite3

    from console.storage.schema import APPLICATION_ID, MIGRATIONS

    path = tmp_path / "v4.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for version, migrate in enumerate(MIGRATIONS[:4]):
        migrate(conn)
        conn.execute(f"PRAGMA user_version={version + 1}")
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    old = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'messages_fts_insert'"
    ).fetchone()
    assert "ac_fts_deferred" in old[0]
    conn.close()
    with Workspace(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION
        sql = ws.scalar("SELECT sql FROM sqlite_master WHERE name = 'messages_fts_insert'")
        assert "ac_fts_deferred" not in sql
        ws.conn.execute(
            "INSERT INTO accounts (id, channel, name, handle, adapter, created_at)"
            " VALUES (1, 'x', 'brand', 'brand', 'sandbox', 0)"
        )
        ws.conn.execute(
            "INSERT INTO messages (channel, external_id, conversation_id, account_id, direction,"
            " author, text, created_at) VALUES ('x', 'e1', 1, 1, 'in', 'ann', 'zeppelin late', 0)"
        )
        assert ws.scalar("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'zeppelin'") == 1


def test_the_sqlite_utils_view_is_made_on_first_use_only(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "ws.sqlite"
    ws = Workspace(path)
    assert ws.db is ws.db and {"messages", "customers"} <= set(ws.db.table_names())
    # Opening a workspace (as the window does at start) does not import sqlite-utils.
    code = (
        "import sys; from console.storage.db import Workspace; "
        f"Workspace({str(path)!r}); print('sqlite_utils' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
