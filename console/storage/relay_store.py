"""The relay's own event file: every accepted webhook, kept durably until consoles have read it.

This is not a workspace: the relay (``services.relay``) runs on a server and keeps one small SQLite
file (WAL, ``synchronous=FULL`` so an event acknowledged with 200 survives a power cut). Each event
is one row committed before the webhook is answered. A webhook delivered twice with the same body
(Meta and Twilio retry on a slow answer) is stored once. Events are read in id order with a cursor.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from console.errors import StorageError

RELAY_APPLICATION_ID = 0x41475252  # "AGRR"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (source, body_sha256)
);
CREATE INDEX IF NOT EXISTS events_source ON events (source, id);
"""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    source: str
    received_at: str
    payload: str  # the JSON object text exactly as received (Twilio: its form fields as JSON)


class RelayStore:
    """One relay event file. Use from one thread (the relay's event loop)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            self._check(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA application_id={RELAY_APPLICATION_ID}")
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path} is not a relay event file ({exc})") from exc
        self.conn = conn
        self._thread = threading.get_ident()

    def _check(self, conn: sqlite3.Connection) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables and app_id != RELAY_APPLICATION_ID:
            conn.close()
            raise StorageError(f"{self.path} is an SQLite file but not a relay event file")

    def close(self) -> None:
        self.conn.close()

    def add(self, source: str, received_at: str, payload: str) -> int | None:
        """Commit one event; returns its id, or None when the same body was stored before."""
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        cur = self.conn.execute(
            "INSERT INTO events (source, received_at, body_sha256, payload) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (source, body_sha256) DO NOTHING",
            (source, received_at, digest, payload),
        )
        return int(cur.lastrowid) if cur.rowcount == 1 and cur.lastrowid else None

    def after(
        self, after: int, *, source: str | None = None, limit: int = 100
    ) -> list[StoredEvent]:
        """Events with an id above ``after`` (optionally of one source), oldest first."""
        sql = "SELECT id, source, received_at, payload FROM events WHERE id > ?"
        params: list[object] = [after]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        rows = self.conn.execute(f"{sql} ORDER BY id LIMIT ?", (*params, limit)).fetchall()
        return [StoredEvent(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])
