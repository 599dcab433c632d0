"""Generate the big realistic workspace of the scale benchmarks (issue 8), deterministically.

    python bench/generate.py --out big.jsonl       # 1,000,000 messages in our JSONL format
    python bench/generate.py --out big.sqlite      # ...or a workspace: ingest + triage rebuild
    python bench/generate.py --messages 100000 --customers 20000 --out mid.jsonl

It is the demo's generator (``console/demo.py``, same recipe ``resources/demo/recipe.toml``) with
explicit counts: exactly ``--messages`` messages by exactly ``--customers`` customers on the first
``--accounts`` accounts of the recipe's ``[bench] accounts`` list (12: every channel kind, every
brand on X), over the ``--days`` before ``--now``. Threads, cross-channel customers (a shared
``customer`` key), duplicates, escalations, outages, eight languages, agents' signed replies and
notes come in the recipe's proportions; ``--heavy`` customers have ``--heavy-messages`` messages
each (opening a customer with a thousand messages is a benchmark of its own).

Same seed, counts and ``--now`` give the same file byte for byte. ``--now`` defaults to the start
of the current hour (so the generated "today" is today); pass it to pin the output.

Streaming: records are written as they are generated (memory stays flat whatever the size). A JSON
summary goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.demo import (
    DEMO_SEED,
    Generator,
    Plan,
    Recipe,
    finish_workspace,
    load_recipe,
    prepare_workspace,
)
from console.domain import IncomingMessage

MESSAGES = 1_000_000
CUSTOMERS = 200_000
ACCOUNTS = 12
DAYS = 90.0
HEAVY = 3
HEAVY_MESSAGES = 1000


def make_plan(
    recipe: Recipe,
    *,
    messages: int = MESSAGES,
    customers: int | None = None,
    accounts: int = ACCOUNTS,
    days: float = DAYS,
    heavy: int = HEAVY,
    heavy_messages: int = HEAVY_MESSAGES,
) -> Plan:
    """The plan for a benchmark workspace (customers default to one per five messages)."""
    if customers is None:
        customers = max(1, messages // 5)
    heavy = heavy if messages >= 10 * heavy * heavy_messages else 0  # small runs: no giants
    return Plan(
        customers=customers,
        messages=messages,
        days=days,
        accounts=recipe.account_order[:accounts],
        heavy=heavy,
        heavy_messages=heavy_messages,
    )


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(seconds))


def record_json(rec: IncomingMessage) -> dict[str, Any]:
    """One record in the JSONL interchange format (``services/importers/jsonl.py``); fields that
    are empty are left out, ``extra`` fields (the replying agent) become top-level fields."""
    obj: dict[str, Any] = {
        "channel": str(rec.channel),
        "account": rec.account,
        "id": rec.external_id,
        "direction": str(rec.direction),
        "author": rec.author,
        "created_at": _iso(rec.created_at),
        "text": rec.text,
    }
    optional = (
        ("in_reply_to", rec.in_reply_to),
        ("thread", rec.thread),
        ("author_name", rec.author_name),
        ("customer", rec.customer_key),
        ("followers", rec.followers),
        ("to", rec.to),
        ("subject", rec.subject),
    )
    for name, value in optional:
        if value is not None:
            obj[name] = value
    obj.update(rec.extra)
    return obj


class StderrProgress:
    """``label: 120,000/1,000,000 (12%) 9,800/s`` on stderr, at most every ``every`` seconds."""

    def __init__(self, label: str, total: int | None, every: float = 2.0) -> None:
        self.label, self.total, self.every = label, total, every
        self.started = self.last = time.monotonic()

    def __call__(self, done: int, total: int | None = None) -> None:
        total = total if total is not None else self.total
        now = time.monotonic()
        if now - self.last < self.every and (total is None or done < total):
            return
        self.last = now
        rate = done / max(now - self.started, 1e-6)
        share = f" ({100 * done / total:.0f}%)" if total else ""
        shown = f"{done:,}/{total:,}" if total else f"{done:,}"
        sys.stderr.write(f"{self.label}: {shown}{share} {rate:,.0f}/s\n")
        sys.stderr.flush()


def counted(
    records: Iterable[IncomingMessage], progress: Callable[[int], None]
) -> Iterator[IncomingMessage]:
    for n, rec in enumerate(records, 1):
        if n % 10_000 == 0:
            progress(n)
        yield rec


def write_jsonl(records: Iterable[IncomingMessage], out: IO[str]) -> int:
    """Write records as JSONL lines; returns how many."""
    count = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for rec in records:
        out.write(dumps(record_json(rec)))
        out.write("\n")
        count += 1
    return count


def generate_jsonl(generator: Generator, path: Path, *, quiet: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    progress = StderrProgress("generating", generator.plan.messages)
    records = generator.records() if quiet else counted(generator.records(), progress)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        count = write_jsonl(records, out)
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    return {
        "format": "jsonl",
        "messages": count,
        "seconds": round(seconds, 2),
        "messages_per_s": round(count / max(seconds, 1e-9)),
        "bytes": size,
        "bytes_per_message": round(size / max(count, 1), 1),
    }


def generate_workspace(
    generator: Generator, path: Path, *, triage: bool = True, quiet: bool = False
) -> dict[str, Any]:
    """Ingest the records into a new workspace at ``path``, set statuses, then triage."""
    from console.storage import demo_repo
    from console.storage.db import Workspace
    from console.storage.ingest import Ingestor
    from console.triage.engine import rebuild

    if path.exists():
        raise SystemExit(f"{path} exists: generate into a new file")
    started = time.perf_counter()
    ws = Workspace(path)
    result: dict[str, Any] = {"format": "workspace"}
    try:
        prepare_workspace(ws, generator)
        progress = StderrProgress("ingesting", generator.plan.messages)
        done = 0

        def on_batch(count: int) -> None:
            nonlocal done
            done += count
            if not quiet:
                progress(done)

        Ingestor(ws, batch_size=5000).ingest(generator.records(), progress=on_batch)
        result["ingest_s"] = round(time.perf_counter() - started, 2)
        result["states"] = finish_workspace(ws, generator)
        if triage:
            report = rebuild(
                ws,
                progress=None if quiet else StderrProgress("triage", None),
                clock=lambda: generator.now,
            )
            result["triage_rebuild_s"] = round(report.seconds, 2)
            result["triage"] = report.to_json()
        ws.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        result.update(demo_repo.summary(ws))
    finally:
        ws.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    result["seconds"] = round(time.perf_counter() - started, 2)
    result["bytes"] = size
    result["bytes_per_message"] = round(size / max(result.get("messages", 0), 1), 1)
    return result


def parse_now(value: str | None) -> int:
    if value is None:
        return int(time.time()) // 3600 * 3600
    if value.isdigit():
        return int(value)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise SystemExit("--now needs a UTC offset, e.g. 2025-06-02T12:00:00+00:00")
    return int(moment.timestamp())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="FILE.jsonl or FILE.sqlite")
    parser.add_argument("--format", choices=("jsonl", "workspace"), help="default: from --out")
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--customers", type=int, help="default: messages / 5")
    parser.add_argument("--accounts", type=int, default=ACCOUNTS, help="first N of [bench]")
    parser.add_argument("--days", type=float, default=DAYS, help="history length")
    parser.add_argument("--heavy", type=int, default=HEAVY, help="customers with many messages")
    parser.add_argument("--heavy-messages", type=int, default=HEAVY_MESSAGES)
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--now", help="ISO 8601 with offset, or epoch seconds")
    parser.add_argument("--no-triage", action="store_true", help="workspace: skip the rebuild")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    recipe = load_recipe()
    plan = make_plan(
        recipe,
        messages=args.messages,
        customers=args.customers,
        accounts=args.accounts,
        days=args.days,
        heavy=args.heavy,
        heavy_messages=args.heavy_messages,
    )
    now = parse_now(args.now)
    generator = Generator(recipe, plan, now=now, seed=args.seed)
    fmt = args.format or (
        "jsonl" if args.out.suffix.lower() in (".jsonl", ".ndjson") else "workspace"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        result = generate_jsonl(generator, args.out, quiet=args.quiet)
    else:
        result = generate_workspace(
            generator, args.out, triage=not args.no_triage, quiet=args.quiet
        )
    summary = {
        "out": str(args.out),
        **result,
        "plan": {
            "messages": plan.messages,
            "customers": plan.customers,
            "accounts": list(plan.accounts or ()),
            "days": plan.days,
            "heavy": plan.heavy,
            "heavy_messages": plan.heavy_messages,
            "seed": args.seed,
            "now": _iso(now),
        },
        "stories": dict(sorted(generator.kind_counts.items())),
    }
    json.dump(summary, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
