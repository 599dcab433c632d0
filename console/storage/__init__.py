"""Storage: the workspace file and the repositories that read and write it.

All SQL of the project lives in this package. Widgets and services call repository methods; a team
that moves to PostgreSQL replaces this package behind the same methods.
"""

from console.storage.db import SCHEMA_VERSION, Workspace, default_workspace_path

__all__ = ["SCHEMA_VERSION", "Workspace", "default_workspace_path"]
