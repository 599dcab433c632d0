"""Triage: flags, duplicate groups, language, sentiment, deadlines and priority.

Modules (no Qt, no SQL: every statement lives in :mod:`console.storage.triage_repo`):

- :mod:`~console.triage.engine` -- running triage: the ingest hook (:func:`incremental_hook`), full
  and scoped rebuilds (:func:`rebuild`, :func:`retriage`, :func:`after_import`) and the timer job
  (:func:`refresh_clock`).
- :mod:`~console.triage.views` -- what the GUI reads: :func:`customer_flags` (reasons and the
  message ids to highlight), :func:`customer_groups`, :func:`group_posts`,
  :func:`escalation_detail`; and the CLI listings.
- :mod:`~console.triage.customers` -- the pass over a set of customers every entry point runs
  (as a plan computed from reads, then written: rebuilds compute plans in worker processes);
  :mod:`~console.triage.context` -- one run's settings, time, analysers and accounts.
- :mod:`~console.triage.rules` -- the rules as pure functions over plain records.
- :mod:`~console.triage.duplicates` -- duplicate and same-issue groups.
- :mod:`~console.triage.deadlines` -- business hours (the documented JSON) and deadlines.
- :mod:`~console.triage.analysis`, :mod:`~console.triage.language`,
  :mod:`~console.triage.sentiment`, :mod:`~console.triage.lexicon` -- offline language detection
  (lingua), sentiment (VADER and our word lists in ``resources/lexicon``), in worker processes for
  big rebuilds and in the worker that reads a big import file
  (``services.importers.readahead``).
- :mod:`~console.triage.settings` -- every threshold, typed, stored under ``triage.*``.
- :mod:`~console.triage.flagbits` -- the bit of each flag in ``flag_mask``;
  :mod:`~console.triage.wording` -- plain words for reasons.
"""
