"""Agent Console: the core (domain, storage, triage, templates) and the two composition roots.

Nothing under ``console`` imports Qt except ``console.app`` (the GUI composition root) and lazy
imports inside ``console.cli`` for the ``screenshot`` command.
"""

__version__ = "0.1.0"
