"""``python -m console`` runs the same entry point as ``agent-console``."""

from console.cli import main

raise SystemExit(main())
