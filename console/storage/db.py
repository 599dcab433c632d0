"""Opening a workspace file: checks, pragmas, migrations, and the per-thread connection rule.

A :class:`Workspace` owns one SQLite connection and must be used from the thread that opened it
(SQLite's own rule). Background work opens a second ``Workspace`` on the same path; WAL mode lets it
write while the GUI thread reads.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock
import platformdirs

from console.errors import NewerSchemaError, NotAWorkspaceError, StorageError
from console.storage.schema import APPLICATION_ID, FTS_INSERT_TRIGGER, MIGRATIONS, SCHEMA_VERSION

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["SCHEMA_VERSION", "Workspace", "default_workspace_path"]

log = logging.getLogger(__name__)

APP_NAME = "agent-console"
#: No memory-mapped I/O: SQLite's own page cache (``cache_size``) bounds what a connection keeps,
#: where a mapping of the file made every page a scan touched resident (with the supervisor's
#: first snapshot over 1M messages the window peaked at 510-530 MB mapped, 275-295 MB not; the
#: window's figures were the same within noise).
MMAP_SIZE = 0
#: Indexes that the ingest never reads (it looks messages up by (channel, external_id), parent
#: and conversation; conversations by thread key and id; identities by (channel, handle);
#: customers by key and id). A bulk import drops them and builds them again at its end
#: (:meth:`Workspace.deferred_indexes`): building an index from the finished table sorts it
#: once, where keeping it up to date writes its pages all over the file at every commit. On
#: 1,000,000 generated messages that took the ingest from 78-87 CPU-seconds to 71-72, the
#: rebuild of these indexes (5.5-5.9 s) included.
DEFERRABLE_INDEXES = (
    "messages_customer",
    "messages_norm",
    "messages_time",
    "conversations_activity",
    "conversations_priority",
    "conversations_waiting",
    "conversations_account",
    "conversations_snoozed",
    "conversations_customer",
    "identities_customer",
    "identities_handle",
)


def default_workspace_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "workspace.sqlite"


def default_demo_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "demo.sqlite"


class Workspace:
    """One open workspace file.

    Attributes:
        path: the file.
        db: a sqlite-utils ``Database`` on the connection, for scripts and ad-hoc tools; made on
            first use (importing sqlite-utils costs the window's start about 0.1 s).
    """

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise StorageError(f"no workspace at {self.path}")
        if self.path.exists() and self.path.is_dir():
            raise NotAWorkspaceError(f"{self.path} is a folder, not a workspace file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        self.conn = conn
        self._thread = threading.get_ident()
        #: small per-connection memo for repeated reads (e.g. a search's matches while paging)
        self.memo: dict[Any, Any] = {}
        self._depth = 0
        self._fts_deferred = False
        try:
            self._check_and_migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise NotAWorkspaceError(
                f"{self.path} is not an Agent Console workspace ({exc})"
            ) from exc
        except StorageError:
            conn.close()
            raise

    # -- opening -----------------------------------------------------------------------------

    def _check_and_migrate(self) -> None:
        conn = self.conn
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID:
            if tables:
                raise NotAWorkspaceError(
                    f"{self.path} is an SQLite file but not an Agent Console workspace"
                )
            version = 0
        if version > SCHEMA_VERSION:
            raise NewerSchemaError(
                f"{self.path} has schema version {version}, newer than this Agent Console "
                f"understands ({SCHEMA_VERSION}); update Agent Console to open it"
            )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
        while version < SCHEMA_VERSION:
            migrate = MIGRATIONS[version]
            conn.execute("BEGIN IMMEDIATE")
            try:
                migrate(conn)
                if conn.in_transaction:
                    conn.execute(f"PRAGMA user_version={version + 1}")
                    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                    conn.execute("COMMIT")
                else:  # executescript committed on its own
                    conn.execute(f"PRAGMA user_version={version + 1}")
                    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            version += 1
        self.build_deferred_indexes()

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bulk writes -------------------------------------------------------------------------

    @contextmanager
    def deferred_indexes(self, names: Iterable[str] = DEFERRABLE_INDEXES) -> Iterator[list[str]]:
        """Drop the indexes ``names`` for a block of many writes, and build them again after it.

        Outside a transaction: the block commits as it likes in between. What was dropped is
        recorded with its definition in the same transaction as the drop, so an import that
        crashes (power, kill) leaves the definitions behind, and the next opening of the
        workspace builds them (:meth:`build_deferred_indexes`). The block holds a lock on a file
        beside the workspace (released by the system when the process dies): another opening
        meanwhile, in this process or another, leaves the indexes to the block; another block
        meanwhile drops nothing. Yields the names dropped.
        """
        if self.conn.in_transaction:
            raise StorageError("deferred_indexes() cannot run inside a transaction")
        lock = self._indexes_lock()
        if lock is None:  # another import is deferring them: it builds them at its end
            yield []
            return
        try:
            with self.transaction() as conn:
                found = conn.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                    " AND name IN (SELECT value FROM json_each(?)) ORDER BY name",
                    (json.dumps(list(names)),),
                ).fetchall()
                conn.executemany(
                    "INSERT OR REPLACE INTO deferred_indexes (name, sql) VALUES (?, ?)", found
                )
                for name, _ in found:
                    conn.execute(f'DROP INDEX "{name}"')
            try:
                yield [name for name, _ in found]
            finally:
                self._build_pending()
        finally:
            lock.release()

    def build_deferred_indexes(self) -> list[str]:
        """Build the indexes a bulk import dropped and did not build again (it crashed), unless
        an import holding them is still running; the names built."""
        if self.conn.execute("SELECT 1 FROM deferred_indexes LIMIT 1").fetchone() is None:
            return []
        lock = self._indexes_lock()
        if lock is None:
            return []  # the import that dropped them is running: it builds them
        try:
            return self._build_pending()
        finally:
            lock.release()

    def _indexes_lock(self) -> filelock.BaseFileLock | None:
        """The deferred indexes' lock, taken (None: someone else holds it)."""
        lock = filelock.FileLock(f"{self.path}.indexes.lock", timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            return None
        except OSError as exc:  # a folder we cannot write: no deferring, nothing built here
            log.warning("cannot lock %s.indexes.lock: %s", self.path, exc)
            return None
        return lock

    def _build_pending(self) -> list[str]:
        """Each recorded index built in its own transaction, so what was built stays built."""
        pending = self.conn.execute(
            "SELECT name, sql FROM deferred_indexes ORDER BY name"
        ).fetchall()
        built = []
        for name, sql in pending:
            with self.transaction() as conn:
                exists = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
                ).fetchone()
                if exists is None:
                    conn.execute(sql)
                    built.append(name)
                conn.execute("DELETE FROM deferred_indexes WHERE name = ?", (name,))
        return built

    @contextmanager
    def deferred_fts(self) -> Iterator[None]:
        """Within a transaction: insert many messages, then index them all at once on exit.

        The search-index trigger is dropped for the block and created again on leaving it, after
        every message with a higher id than before was indexed in one statement; all of it in the
        caller's transaction, so a failure or a crash rolls the trigger back in with the rows.
        Blocks nest: the outermost one indexes.
        """
        if not self.conn.in_transaction:
            raise StorageError("deferred_fts() needs an open transaction")
        if self._fts_deferred:  # an outer block indexes everything on leaving
            yield
            return
        conn = self.conn
        start = int(conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0])
        conn.execute("DROP TRIGGER messages_fts_insert")
        self._fts_deferred = True
        try:
            yield
        finally:
            self._fts_deferred = False
            if conn.in_transaction:  # else the rollback brought the trigger back
                conn.execute(FTS_INSERT_TRIGGER)
        conn.execute(
            "INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages WHERE id > ?",
            (start,),
        )

    @cached_property
    def db(self) -> sqlite_utils.Database:
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    # -- transactions and queries ------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        cols = [c[0] for c in cur.description or ()]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def query_one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        cur = self.conn.execute(sql, params)
        row = cur.fetchone()
        if row is None:
            return None
        cols = [c[0] for c in cur.description or ()]
        return dict(zip(cols, row, strict=True))

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -- small key/value settings ------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        value = self.scalar("SELECT value FROM settings WHERE key = ?", (key,))
        return default if value is None else json.loads(value)

    def set_setting(self, key: str, value: Any) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )
