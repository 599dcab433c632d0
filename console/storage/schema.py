"""The workspace schema and its migrations.

``PRAGMA application_id`` marks a file as ours; ``PRAGMA user_version`` is the schema version. Each
migration moves the schema one version up and runs inside one transaction. A workspace written by a
newer version is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

APPLICATION_ID = 0x41474331  # "AGC1"

V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    name TEXT NOT NULL,
    handle TEXT,
    adapter TEXT NOT NULL DEFAULT 'sandbox',
    settings TEXT NOT NULL DEFAULT '{}',
    response_target_s INTEGER,
    business_hours TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (channel, name)
);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE,
    name TEXT,
    language TEXT,
    tier INTEGER NOT NULL DEFAULT 0,
    notes TEXT NOT NULL DEFAULT '',
    merged_into INTEGER,
    created_at INTEGER NOT NULL,
    first_contact INTEGER,
    last_contact INTEGER,
    inbound_count INTEGER NOT NULL DEFAULT 0,
    outbound_count INTEGER NOT NULL DEFAULT 0,
    conversation_count INTEGER NOT NULL DEFAULT 0,
    reach INTEGER NOT NULL DEFAULT 0,
    flag_mask INTEGER NOT NULL DEFAULT 0,
    priority REAL NOT NULL DEFAULT 0
);

CREATE TABLE identities (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    handle TEXT NOT NULL,
    name TEXT,
    followers INTEGER,
    customer_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (channel, handle)
);
CREATE INDEX identities_customer ON identities (customer_id);

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    customer_id INTEGER,
    identity_id INTEGER,
    thread_key TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    assignee TEXT,
    is_public INTEGER NOT NULL DEFAULT 1,
    subject TEXT,
    snippet TEXT,
    started_at INTEGER NOT NULL,
    started_by_customer INTEGER NOT NULL DEFAULT 0,
    last_activity INTEGER NOT NULL,
    first_inbound_at INTEGER,
    last_inbound_at INTEGER,
    first_response_at INTEGER,
    waiting_since INTEGER,
    deadline_at INTEGER,
    snoozed_until INTEGER,
    paused_s INTEGER NOT NULL DEFAULT 0,
    priority REAL NOT NULL DEFAULT 0,
    flag_mask INTEGER NOT NULL DEFAULT 0,
    message_count INTEGER NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '[]',
    resolved_at INTEGER
);
CREATE INDEX conversations_thread ON conversations (channel, thread_key);
CREATE INDEX conversations_activity ON conversations (status, last_activity DESC, id DESC);
CREATE INDEX conversations_priority ON conversations (status, priority DESC, id DESC);
CREATE INDEX conversations_waiting ON conversations (status, waiting_since, id);
CREATE INDEX conversations_customer ON conversations (customer_id, started_at);
CREATE INDEX conversations_account ON conversations (account_id, status);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    parent_external_id TEXT,
    conversation_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    customer_id INTEGER,
    identity_id INTEGER,
    direction TEXT NOT NULL,
    author TEXT NOT NULL,
    author_name TEXT,
    text TEXT NOT NULL,
    subject TEXT,
    created_at INTEGER NOT NULL,
    language TEXT,
    sentiment REAL,
    norm_hash INTEGER,
    dup_group INTEGER,
    delivery TEXT,
    error TEXT,
    is_public INTEGER NOT NULL DEFAULT 1,
    extra TEXT,
    UNIQUE (channel, external_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
CREATE INDEX messages_customer ON messages (customer_id, created_at);
CREATE INDEX messages_parent ON messages (channel, parent_external_id)
    WHERE parent_external_id IS NOT NULL;
CREATE INDEX messages_norm ON messages (norm_hash) WHERE norm_hash IS NOT NULL;

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
-- Version 5 replaces this trigger by FTS_INSERT_TRIGGER (no per-row function call).
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN NOT ac_fts_deferred() BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TABLE merges (
    id INTEGER PRIMARY KEY,
    target_id INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    identity_ids TEXT NOT NULL,
    source_key TEXT,
    agent TEXT,
    created_at INTEGER NOT NULL,
    undone_at INTEGER
);

CREATE TABLE flags (
    customer_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    score REAL NOT NULL,
    reasons TEXT NOT NULL,
    message_ids TEXT NOT NULL DEFAULT '[]',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, kind)
);

CREATE TABLE dup_groups (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    group_key TEXT NOT NULL UNIQUE,
    customer_id INTEGER,
    norm_hash INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    customers INTEGER NOT NULL DEFAULT 0,
    first_at INTEGER,
    last_at INTEGER,
    sample TEXT
);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    idem_key TEXT NOT NULL UNIQUE,
    message_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL,
    reply_to_message_id INTEGER,
    mode TEXT NOT NULL DEFAULT 'public',
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    remote_id TEXT,
    payload TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE cursors (
    account_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, name)
);

CREATE TABLE templates (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    shortcut TEXT,
    description TEXT NOT NULL DEFAULT '',
    variants TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE drafts (
    conversation_id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    signature TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT 'agent',
    languages TEXT NOT NULL DEFAULT '[]',
    skills TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    conversation_id INTEGER,
    customer_id INTEGER,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    acknowledged_at INTEGER
);
"""

Migration = Callable[[sqlite3.Connection], None]


def _v1(conn: sqlite3.Connection) -> None:
    conn.executescript(V1)


def _v2(conn: sqlite3.Connection) -> None:
    """Pause bookkeeping for pending/snoozed time, and lookups the inbox search needs."""
    # When the current pause (pending or snoozed) began; its length joins paused_s on reopening.
    conn.execute("ALTER TABLE conversations ADD COLUMN paused_since INTEGER")
    conn.execute("CREATE INDEX identities_handle ON identities (handle)")
    conn.execute(
        "CREATE INDEX conversations_snoozed ON conversations (snoozed_until)"
        " WHERE snoozed_until IS NOT NULL"
    )


def _v3(conn: sqlite3.Connection) -> None:
    """Messages by time, for newest-first search of common words.

    A word found in a tenth of the messages is answered by walking this index from the newest
    message down and keeping those in the word's match set (SQLite builds the set in C); rare
    words are looked up directly (see ``console.storage.customers.newest_matches``).
    """
    conn.execute("CREATE INDEX messages_time ON messages (created_at, id)")


def _v4(conn: sqlite3.Connection) -> None:
    """Customers merged into another, found without reading all customers (every retriage asks
    which customers were merged into the ones it triages: 16 ms on 200,000 customers)."""
    conn.execute(
        "CREATE INDEX customers_merged ON customers (merged_into) WHERE merged_into IS NOT NULL"
    )


#: Each new message is indexed for search as it is inserted. A bulk ingest drops this trigger
#: inside its transaction, indexes the whole batch in one ``INSERT ... SELECT`` and creates it
#: again before committing (:meth:`console.storage.db.Workspace.deferred_fts`): any trigger on
#: ``messages``, even one whose ``WHEN`` is false, costs about 15 µs a row, as much as the
#: insert itself with all its indexes.
FTS_INSERT_TRIGGER = """
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END
"""


def _v5(conn: sqlite3.Connection) -> None:
    """The search-index trigger without the per-row ``ac_fts_deferred()`` test (see
    :data:`FTS_INSERT_TRIGGER`)."""
    conn.execute("DROP TRIGGER IF EXISTS messages_fts_insert")
    conn.execute(FTS_INSERT_TRIGGER)


def _v6(conn: sqlite3.Connection) -> None:
    """Indexes a bulk import dropped, to build again when it ends (or, after a crash, when the
    workspace opens next): see :meth:`console.storage.db.Workspace.deferred_indexes`."""
    conn.execute("CREATE TABLE deferred_indexes (name TEXT PRIMARY KEY, sql TEXT NOT NULL)")


#: MIGRATIONS[i] moves a workspace from version i to version i + 1.
MIGRATIONS: list[Migration] = [_v1, _v2, _v3, _v4, _v5, _v6]
SCHEMA_VERSION = len(MIGRATIONS)
