"""Unsent replies kept per conversation across restarts (the ``drafts`` table).

Saving blank text clears the draft, so a composer can save on every pause without checking.
"""

from __future__ import annotations

from console.storage.db import Workspace


def get_draft(ws: Workspace, conversation_id: int) -> str | None:
    value = ws.scalar("SELECT text FROM drafts WHERE conversation_id = ?", (conversation_id,))
    return None if value is None else str(value)


def save_draft(ws: Workspace, conversation_id: int, text: str, now: int) -> None:
    if not text.strip():
        clear_draft(ws, conversation_id)
        return
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO drafts (conversation_id, text, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (conversation_id) DO UPDATE SET text = excluded.text,"
            " updated_at = excluded.updated_at",
            (conversation_id, text, now),
        )


def clear_draft(ws: Workspace, conversation_id: int) -> None:
    with ws.transaction() as conn:
        conn.execute("DELETE FROM drafts WHERE conversation_id = ?", (conversation_id,))


def conversations_with_drafts(ws: Workspace) -> list[int]:
    """Conversations that have an unsent draft (the inbox can mark them), newest first."""
    rows = ws.conn.execute("SELECT conversation_id FROM drafts ORDER BY updated_at DESC")
    return [int(r[0]) for r in rows]
