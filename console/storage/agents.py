"""Agents (the ``agents`` table) and who is working at this workstation.

An agent has a unique name, a signature appended to replies (``^CP``; empty: replies are not
signed), a role (agent or supervisor), the languages they write and their skills. The current
agent is the workspace setting ``agent.me``; without it the OS user name is used, and that agent is
created on first use with the signature ``^`` + initials.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from typing import Any

from console.domain import Role
from console.errors import ConsoleError, NotFoundError
from console.storage.db import Workspace

CURRENT_SETTING = "agent.me"


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    signature: str = ""
    role: Role = Role.AGENT
    languages: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "signature": self.signature,
            "role": str(self.role),
            "languages": list(self.languages),
            "skills": list(self.skills),
        }


def initials_signature(name: str) -> str:
    """``Chris Parker`` -> ``^CP``; ``root`` -> ``^R``."""
    words = [w for w in name.replace(".", " ").replace("_", " ").split() if w[:1].isalnum()]
    letters = "".join(w[0] for w in words[:3]).upper()
    return f"^{letters}" if letters else ""


def _agent(row: dict[str, Any]) -> Agent:
    try:
        role = Role(row["role"])
    except ValueError:
        role = Role.AGENT
    return Agent(
        name=row["name"],
        signature=row["signature"] or "",
        role=role,
        languages=tuple(json.loads(row["languages"] or "[]")),
        skills=tuple(json.loads(row["skills"] or "[]")),
        id=int(row["id"]),
    )


def list_agents(ws: Workspace) -> list[Agent]:
    return [_agent(r) for r in ws.query("SELECT * FROM agents ORDER BY name COLLATE NOCASE")]


def get_agent(ws: Workspace, name: str) -> Agent | None:
    row = ws.query_one("SELECT * FROM agents WHERE name = ?", (name,))
    return None if row is None else _agent(row)


def upsert_agent(ws: Workspace, agent: Agent) -> Agent:
    """Create the agent or update the one with that name."""
    name = " ".join(agent.name.split())
    if not name:
        raise ConsoleError("an agent needs a name")
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO agents (name, signature, role, languages, skills) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET signature = excluded.signature,"
            " role = excluded.role, languages = excluded.languages, skills = excluded.skills",
            (
                name,
                agent.signature.strip(),
                str(agent.role),
                json.dumps(list(agent.languages)),
                json.dumps(list(agent.skills)),
            ),
        )
    found = get_agent(ws, name)
    assert found is not None
    return found


def ensure_agent(ws: Workspace, name: str) -> Agent:
    """The agent called ``name``, created with an initials signature when new."""
    found = get_agent(ws, name)
    if found is not None:
        return found
    return upsert_agent(ws, Agent(name=name, signature=initials_signature(name)))


def _os_user() -> str:
    try:
        return getpass.getuser() or "agent"
    except (OSError, KeyError):  # no login name in some containers
        return "agent"


def current_agent(ws: Workspace) -> Agent:
    """Who works at this workstation: ``agent.me``, else the OS user (created on first use)."""
    name = ws.get_setting(CURRENT_SETTING) or _os_user()
    return ensure_agent(ws, str(name))


def set_current_agent(ws: Workspace, name: str) -> Agent:
    agent = get_agent(ws, name)
    if agent is None:
        raise NotFoundError(f"no agent {name!r}")
    ws.set_setting(CURRENT_SETTING, agent.name)
    return agent
