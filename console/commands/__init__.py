"""Headless CLI commands, one module each, found by ``console.cli``.

Each module defines ``register(subparsers)`` that adds its sub-command(s) and sets
``func=handler`` with ``handler(args, ctx) -> int``. Commands print JSON on stdout and progress and
errors on stderr. Like ``console.cli``, these modules are part of the composition root and may import
``services``.
"""
