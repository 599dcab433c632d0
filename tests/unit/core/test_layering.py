"""The dependency direction of DESIGN.md, proved at run time (import-linter proves it statically)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_core_and_services_import_without_qt() -> None:
    code = (
        "import sys, pkgutil, importlib\n"
        "import console, services\n"
        "for pkg in (console, services):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if m.name in ('console.app', 'console.__main__') or m.name.startswith('console.commands'):\n"
        "            continue\n"
        "        importlib.import_module(m.name)\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in ('PySide6', 'shiboken6', 'qasync', 'widgets')]\n"
        "print(len(list(sys.modules)))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_generic_top_level_names_load_from_this_repository() -> None:
    import console
    import services
    import widgets

    for module in (console, services, widgets):
        assert Path(module.__file__ or "").resolve().is_relative_to(REPO), module.__file__
