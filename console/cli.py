"""The ``agent-console`` command: the GUI by default, headless sub-commands for scripts and tests.

``agent-console [--db PATH] [--demo]`` opens the main window; ``agent-console [--db PATH] COMMAND``
runs one command (see ``agent-console --help``). Commands live in ``console.commands``; each prints
JSON on stdout, progress and errors on stderr, and exits non-zero on failure.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import console.commands
from console.errors import ConsoleError
from console.storage.db import Workspace, default_demo_path, default_workspace_path


@dataclass
class Context:
    """What every command gets: the workspace path and a lazily opened workspace."""

    db_path: Path
    demo: bool = False
    _ws: Workspace | None = field(default=None, repr=False)

    def workspace(self) -> Workspace:
        if self._ws is None:
            if self.demo and not self.db_path.exists():
                build_demo_with_progress(self.db_path)
            self._ws = Workspace(self.db_path)
        return self._ws

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None


def build_demo_with_progress(path: Path) -> None:
    """Build the demo workspace at ``path`` (first use of ``--demo``), progress on stderr."""
    from console.demo import ensure_demo

    tty = sys.stderr.isatty()
    shown = -1

    def progress(done: int, total: int) -> None:
        nonlocal shown
        percent = 100 * done // max(total, 1)
        step = percent if tty else percent // 10 * 10  # a line per 10% in logs and pipes
        if step == shown:
            return
        shown = step
        line = f"building the demo workspace (first use): {step}%"
        say("\r" + line if tty else line, end="" if tty and percent < 100 else "\n")

    ensure_demo(path, progress=progress)


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def error(message: str) -> None:
    print(f"agent-console: error: {message}", file=sys.stderr)


def say(message: str, *, end: str = "\n") -> None:
    """Human-readable progress or notes on stderr (stdout stays machine-readable JSON)."""
    sys.stderr.write(message + end)
    sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-console",
        description="Agent Console: a keyboard-first console for social and multichannel care.",
    )
    parser.add_argument("--db", type=Path, help="workspace file (default: in your data folder)")
    parser.add_argument(
        "--demo", action="store_true", help="use the demo workspace (created on first use)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more on stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(console.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"console.commands.{info.name}")
        register: Callable[[Any], None] | None = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    db_path = args.db or (default_demo_path() if args.demo else default_workspace_path())
    ctx = Context(db_path=Path(db_path), demo=args.demo)
    try:
        if args.command is None:
            # The GUI composition root is imported lazily so that headless commands never load Qt.
            app = importlib.import_module("console.app")
            return int(app.run_gui(ctx))
        handler: Callable[[argparse.Namespace, Context], int] = args.func
        return int(handler(args, ctx))
    except ConsoleError as exc:
        error(str(exc))
        return 2
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    finally:
        ctx.close()


if __name__ == "__main__":
    raise SystemExit(main())
