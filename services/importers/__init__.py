"""Importers: read an export file and hand its messages to the workspace's ingest.

Each format is a parser that yields :class:`~console.domain.IncomingMessage` records or
:class:`ParseProblem` entries (a bad row, by line number); :func:`run_import` feeds the records to
:class:`~console.storage.ingest.Ingestor` in batches, collects the problems and reports progress.
Importing the same file twice adds nothing: ingest skips messages it already has.

A big import (or ``analyse=True``) is read by a worker process on the second core
(:func:`services.importers.readahead.read_ahead`): it parses the file and detects the language and
scores the sentiment of the inbound messages, which the ingest stores with them, so that the
triage afterwards has only the rules left; what the worker does is exactly the analysis step of
that triage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from console import gcpause
from console.domain import IncomingMessage
from console.errors import ImportFormatError
from console.storage.db import Workspace
from console.storage.ingest import AfterBatch, Ingestor, IngestReport

FORMATS = ("twcs", "mbox", "eml", "jsonl")
#: Ingest batches (of 2,000 messages) an import writes per transaction: fewer, larger commits
#: rewrite far fewer index pages; a failed import keeps what it committed before.
BATCHES_PER_COMMIT = 10
#: Records from which a worker process reads and analyses the file (it starts in about 2 s).
READ_AHEAD_MIN = 20_000
#: Records from which an import into a workspace holding no more messages than the file drops the
#: indexes the ingest does not read and builds them at its end
#: (:meth:`~console.storage.db.Workspace.deferred_indexes`): building costs about 6 s at a
#: million messages and saves more than that from about 100,000 (measured on 300,000: 1-2
#: CPU-seconds of 22; on 1,000,000: 6-16 of 78-87). Meanwhile the window's queries that use
#: those indexes scan instead, which a workspace smaller than the file can afford.
DEFER_INDEXES_MIN = 100_000


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A record that could not be read; ``line`` is 1-based in the source file."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class Parser(Protocol):
    def estimate(self, path: Path) -> int | None:
        """How many records the file holds, if cheap to tell (for a progress bar)."""

    def parse(self, path: Path) -> Iterable[IncomingMessage | ParseProblem]: ...


@dataclass(slots=True)
class ImportSummary:
    path: str
    format: str
    read: int = 0
    added: int = 0
    skipped: int = 0
    problems: list[ParseProblem] = field(default_factory=list)
    report: IngestReport | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.path,
            "format": self.format,
            "read": self.read,
            "added": self.added,
            "skipped": self.skipped,
            "errors": [{"line": p.line, "message": p.message} for p in self.problems],
        }


Progress = Callable[[int, int | None], None]


def guess_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".eml":
        return "eml"
    if suffix in (".mbox", ".mbx"):
        return "mbox"
    if path.is_dir():
        return "eml"
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ImportFormatError(f"cannot read {path}: {exc}") from exc
    if head.startswith(b"From "):
        return "mbox"
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    first_line = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
    if first_line.startswith("tweet_id,") or "in_response_to_tweet_id" in first_line:
        return "twcs"
    if b"\nMessage-ID:" in head or head.startswith((b"Return-Path:", b"Received:", b"From:")):
        return "eml"
    raise ImportFormatError(
        f"cannot tell the format of {path}; pass --format twcs, mbox, eml or jsonl"
    )


def parser_for(fmt: str, *, account: str | None = None) -> Parser:
    if fmt == "twcs":
        from services.importers.twcs import TwcsParser

        return TwcsParser()
    if fmt == "jsonl":
        from services.importers.jsonl import JsonlParser

        return JsonlParser()
    if fmt in ("mbox", "eml"):
        from services.importers.email import EmailParser

        return EmailParser(fmt, account=account)
    raise ImportFormatError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def run_import(
    ws: Workspace,
    path: Path,
    fmt: str | None = None,
    *,
    account: str | None = None,
    progress: Progress | None = None,
    after_batch: AfterBatch | None = None,
    cancelled: Callable[[], bool] | None = None,
    analyse: bool | None = None,
    defer_indexes: bool | None = None,
) -> ImportSummary:
    """Import one file into ``ws``. Bad records are reported, the rest imported.

    ``analyse``: read the file and analyse (language, sentiment) its inbound messages in a
    worker process (None: when the file holds at least :data:`READ_AHEAD_MIN` records). Never
    with an ``after_batch`` hook: the incremental triage analyses its batches itself.

    ``defer_indexes``: drop the indexes the ingest does not read and build them after it (None:
    when the file holds at least :data:`DEFER_INDEXES_MIN` records and the workspace no more
    messages than that). Never with an ``after_batch`` hook (its triage reads them) or inside
    a transaction.
    """
    path = Path(path)
    if not path.exists():
        raise ImportFormatError(f"no such file: {path}")
    fmt = fmt or guess_format(path)
    parser = parser_for(fmt, account=account)
    total = parser.estimate(path)
    summary = ImportSummary(str(path), fmt)
    done = 0
    items: Iterable[IncomingMessage | ParseProblem]
    if after_batch is None and (analyse or (analyse is None and (total or 0) >= READ_AHEAD_MIN)):
        from console.triage.settings import load_settings
        from services.importers.readahead import read_ahead

        min_letters = load_settings(ws).language_min_letters
        items = read_ahead(path, fmt, account=account, min_letters=min_letters)
    else:
        items = parser.parse(path)

    def records() -> Iterator[IncomingMessage]:
        for item in items:
            if cancelled is not None and cancelled():
                return
            if isinstance(item, ParseProblem):
                summary.problems.append(item)
                continue
            summary.read += 1
            yield item

    def on_batch(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    if defer_indexes is None:
        from console.storage.metrics import last_message_id

        # the highest message id: about how many the workspace holds, without counting them
        defer_indexes = (total or 0) >= DEFER_INDEXES_MIN and last_message_id(ws) <= (total or 0)
    deferring = defer_indexes and after_batch is None and not ws.conn.in_transaction
    try:
        ingestor = Ingestor(ws, after_batch=after_batch, batches_per_commit=BATCHES_PER_COMMIT)
        with gcpause.paused(), ws.deferred_indexes() if deferring else nullcontext():
            report = ingestor.ingest(records(), progress=on_batch)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # stops a read-ahead worker
    summary.added = report.added
    summary.skipped = report.skipped
    summary.report = report
    return summary
