"""Reading a big import file on the second core: parse, check and analyse in a worker process.

:func:`read_ahead` yields what ``parser_for(fmt).parse(path)`` yields (messages and
:class:`~services.importers.ParseProblem` entries, in file order), but a worker process reads
the file: it parses and checks each record, detects the language and scores the sentiment of the
inbound messages (:func:`console.triage.analysis.analyse`, the very function a rebuild runs), and
sends chunks of plain tuples. This process only writes: the ingest stores each message with its
language and sentiment, so the triage afterwards has only the rules left, and no message is
written twice.

Results are those of a rebuild: a language the record brings is kept and the sentiment scored in
it. A text too short to tell its language is scored with no language, as a rebuild scores it for
a customer without one; the ingest drops that score when the customer has a language (the triage
then scores it in that language).

The worker loads its language models in a thread while it parses the first chunk.

Nothing is lost if the worker fails: what it did not send is parsed here, from where it stopped,
without analysis (parsers are deterministic, so the same records come in the same order).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import pickle
import queue as queue_module
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from console.domain import Channel, Direction, IncomingMessage
from console.errors import ImportFormatError
from console.textutil import extra_json, fingerprint, normalize_for_duplicates
from services.importers import ParseProblem, parser_for

log = logging.getLogger(__name__)

#: Records per chunk sent by the worker.
CHUNK = 2000
#: Chunks on their way at most (memory: about 0.5 MB each).
QUEUE_CHUNKS = 8

_CHANNELS = {c.value: c for c in Channel}
_DIRECTIONS = {d.value: d for d in Direction}

# What the worker sends, one pickled pair each:
#   ("chunk", [record tuple or (line, message) of a problem, ...])
#   ("done", None) | ("error", exception)
# A record tuple is the IncomingMessage fields in their order, channel and direction as their
# values, the language and sentiment as analysed (the sentiment None when not analysed), the
# duplicate fingerprint of an inbound text and the JSON of ``extra`` (the importing process stores
# it as it comes); a problem is a 2-tuple.


def _pack(items: list[Any], min_letters: int | None) -> list[tuple[Any, ...]]:
    from console.triage import analysis

    analysed: dict[int, tuple[str | None, float]] = {}
    if min_letters is not None:
        rows: list[analysis.Row] = [
            (n, item.text, item.language, None)
            for n, item in enumerate(items)
            if isinstance(item, IncomingMessage) and item.direction == Direction.IN
        ]
        if rows:
            analysed = {
                n: (language, sentiment)
                for language, sentiment, n in analysis.analyse_in_worker(rows, min_letters)
            }
    out: list[tuple[Any, ...]] = []
    for n, item in enumerate(items):
        if isinstance(item, ParseProblem):
            out.append((item.line, item.message))
            continue
        inbound = item.direction == Direction.IN
        language, sentiment = analysed.get(n, (item.language, None))
        out.append(
            (
                item.channel.value,
                item.account,
                item.external_id,
                item.direction.value,
                item.author,
                item.text,
                item.created_at,
                item.in_reply_to,
                item.thread,
                item.author_name,
                item.customer_key,
                item.followers,
                item.subject,
                item.to,
                language,
                item.extra,
                sentiment,
                fingerprint(normalize_for_duplicates(item.text)) if inbound else None,
                extra_json(item.extra),
            )
        )
    return out


def _work(
    path: str,
    fmt: str,
    account: str | None,
    min_letters: int | None,
    out: Connection,
) -> None:
    """The worker process: parse ``path`` and send chunks on ``out``.

    A thread sends while the next chunks are read, up to :data:`QUEUE_CHUNKS` ahead.
    """
    import threading

    from console import gcpause
    from console.triage import analysis

    gcpause.pause_for_good()
    ready: queue_module.Queue[bytes | None] = queue_module.Queue(QUEUE_CHUNKS)

    def send() -> None:
        while (data := ready.get()) is not None:
            out.send_bytes(data)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()

    def put(kind: str, payload: Any) -> None:
        ready.put(pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL))

    try:
        warming = None
        if min_letters is not None:
            warming = threading.Thread(target=analysis.start_worker, args=(min_letters,))
            warming.start()
        parser = parser_for(fmt, account=account)
        items = iter(parser.parse(Path(path)))
        while chunk := list(itertools.islice(items, CHUNK)):
            if warming is not None:
                warming.join()
                warming = None
            put("chunk", _pack(chunk, min_letters))
            gcpause.collect_young()
        put("done", None)
    except BaseException as exc:  # noqa: BLE001 -- the importing process raises it
        try:
            put("error", exc)
        except Exception:  # noqa: BLE001 -- an exception that cannot be pickled
            put("error", ImportFormatError(str(exc)))
    finally:
        ready.put(None)
        sender.join()
        out.close()


def _unpack(item: tuple[Any, ...]) -> Any:
    if len(item) == 2:
        return ParseProblem(item[0], item[1])
    # the remaining fields in order, then the sentiment, the fingerprint and the extra JSON
    return IncomingMessage(_CHANNELS[item[0]], item[1], item[2], _DIRECTIONS[item[3]], *item[4:])


def read_ahead(
    path: Path,
    fmt: str,
    *,
    account: str | None = None,
    min_letters: int | None = 12,
) -> Iterator[Any]:
    """The items of ``parser_for(fmt, account=account).parse(path)``, read by a worker process.

    ``min_letters``: the language detector's setting; None reads without analysing. Closing the
    generator early (a cancelled import) stops the worker.
    """
    context = multiprocessing.get_context("spawn")
    # A pipe, not a multiprocessing.Queue: this process holds no copy of its sending end, so a
    # worker that dies (even in the middle of a chunk) shows as the end of the pipe.
    receiving, sending = context.Pipe(duplex=False)
    worker: BaseProcess | None = None
    received = 0
    try:
        try:
            worker = context.Process(
                target=_work,
                args=(str(path), fmt, account, min_letters, sending),
                daemon=True,
                name="agent-console-import-reader",
            )
            worker.start()
        except (OSError, RuntimeError):
            log.exception("cannot start the import reader; reading here")
            worker = None
        finally:
            sending.close()
        while worker is not None:
            try:
                kind, payload = pickle.loads(receiving.recv_bytes())
            except (EOFError, OSError, pickle.UnpicklingError):
                worker.join(timeout=5)
                log.error("the import reader stopped (exit code %s); reading here", worker.exitcode)
                break
            if kind == "error":
                raise payload
            if kind == "done":
                return
            for item in payload:
                received += 1
                yield _unpack(item)
        # No worker, or it died: the rest is parsed here, without analysis.
        yield from itertools.islice(parser_for(fmt, account=account).parse(path), received, None)
    finally:
        receiving.close()
        if worker is not None:
            if worker.is_alive():
                worker.terminate()
            worker.join(timeout=5)
