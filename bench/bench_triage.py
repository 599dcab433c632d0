"""Triage benchmark: prints JSON with the time to triage one new message (p50/p95) and a full rebuild.

    python bench/bench_triage.py --db PATH              # an existing workspace (it is modified!)
    python bench/bench_triage.py --generate 100000      # a synthetic workspace in a temp folder
    python bench/bench_triage.py --db PATH --generate N # create PATH with N messages first
    python bench/bench_triage.py --db PATH --rebuild-runs 5   # PATH untouched: each run on a copy

The incremental figure is the ``after_batch`` hook alone and the whole one-message ingest (hook
included), over ``--samples`` new inbound messages from existing customers, each ingested on its
own as a live channel sync would. With ``--rebuild-runs N`` every rebuild runs on a fresh copy of
``--db`` (an untriaged workspace, e.g. ``bench/generate.py --no-triage``, gives the full rebuild:
analysis included), ``rebuild_s`` has the median, min and max, and the incremental figures are
measured on the last copy. The synthetic workload (cross-channel customers, eight languages,
threads with answers, repeated complaints) is here until ``bench/generate.py`` exists.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.domain import Channel, Direction, IncomingMessage
from console.storage.db import Workspace
from console.storage.ingest import BatchResult, Ingestor
from console.triage.engine import incremental_hook, rebuild

START = 1_700_000_000
CHANNELS = [
    (Channel.X, 0.45),
    (Channel.EMAIL, 0.2),
    (Channel.FACEBOOK, 0.1),
    (Channel.WHATSAPP, 0.1),
    (Channel.SMS, 0.05),
    (Channel.INSTAGRAM, 0.05),
    (Channel.MESSENGER, 0.05),
]
LANGS = [("en", 0.72), ("es", 0.06), ("de", 0.05), ("fr", 0.05), ("it", 0.04), ("pt", 0.03),
         ("fi", 0.03), ("sv", 0.02)]  # fmt: skip
PHRASES = {
    "en": ["my order {n} has not arrived", "the app keeps crashing on my {p}",
           "I was charged twice for {p}", "still waiting for a refund on order {n}",
           "nobody answers my emails", "thanks for the quick help with the {p}",
           "internet is down again in {c}", "can you check my account please",
           "this is the third time I write about {p}", "great service, all sorted"],
    "es": ["mi pedido {n} no ha llegado", "la aplicación no funciona en mi {p}",
           "me cobraron dos veces por {p}", "gracias por la ayuda con el {p}",
           "todavía espero el reembolso del pedido {n}"],
    "de": ["meine Bestellung {n} ist nicht angekommen", "die App stürzt auf meinem {p} ab",
           "danke für die schnelle Hilfe mit dem {p}", "ich warte immer noch auf die Erstattung"],
    "fr": ["ma commande {n} n'est pas arrivée", "l'application plante sur mon {p}",
           "merci pour l'aide rapide avec le {p}", "toujours pas de remboursement pour {n}"],
    "it": ["il mio ordine {n} non è arrivato", "l'app non funziona sul mio {p}",
           "grazie per l'aiuto con il {p}", "aspetto ancora il rimborso dell'ordine {n}"],
    "pt": ["meu pedido {n} não chegou", "o aplicativo não funciona no meu {p}",
           "obrigado pela ajuda com o {p}", "ainda espero o reembolso do pedido {n}"],
    "fi": ["tilaukseni {n} ei ole saapunut", "sovellus kaatuu {p} laitteessa",
           "kiitos nopeasta avusta {p} kanssa", "odotan edelleen hyvitystä tilauksesta {n}"],
    "sv": ["min beställning {n} har inte kommit", "appen kraschar på min {p}",
           "tack för snabb hjälp med {p}", "jag väntar fortfarande på återbetalning för {n}"],
}  # fmt: skip
PRODUCTS = ["phone", "router", "laptop", "tablet", "watch", "TV", "speaker", "camera", "console"]
CITIES = ["Leeds", "Turku", "Lyon", "Porto", "Bari", "Malmö", "Bilbao", "Graz", "Austin"]
REPLIES = ["Sorry to hear that, we're on it ^CP", "Thanks for reaching out, please DM us ^AB",
           "We've refunded your order ^MK", "Could you share your order number? ^JS"]  # fmt: skip


def _pick(rng: random.Random, weighted: list[tuple[object, float]]) -> object:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _text(rng: random.Random, lang: str) -> str:
    phrase = rng.choice(PHRASES[lang]).format(
        n=rng.randint(10000, 99999), p=rng.choice(PRODUCTS), c=rng.choice(CITIES)
    )
    if rng.random() < 0.3:
        phrase += " " + rng.choice(PHRASES[lang]).format(
            n=rng.randint(10000, 99999), p=rng.choice(PRODUCTS), c=rng.choice(CITIES)
        )
    if rng.random() < 0.05:
        phrase = phrase.upper() + "!!!"
    return phrase


def workload(total: int, seed: int = 7) -> Iterator[IncomingMessage]:
    """About ``total`` messages: customers write 1-6 conversations, brands answer most."""
    rng = random.Random(seed)
    made = 0
    customer = 0
    while made < total:
        customer += 1
        lang = str(_pick(rng, LANGS))  # type: ignore[arg-type]
        followers = int(rng.paretovariate(1.2) * 50)
        t = START + rng.randint(0, 90 * 86400)
        for conv in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 6])):
            channel = Channel(_pick(rng, CHANNELS))  # type: ignore[arg-type]
            handle = f"{channel}-{customer}" if channel != Channel.EMAIL else f"c{customer}@ex.org"
            account = f"brand-{channel}"
            t += rng.randint(600, 5 * 86400)
            parent: str | None = None
            for turn in range(rng.choice([1, 2, 2, 3, 4])):
                ext = f"{customer}-{conv}-{turn}"
                yield IncomingMessage(
                    channel=channel, account=account, external_id=ext, direction=Direction.IN,
                    author=handle, text=_text(rng, lang), created_at=t, in_reply_to=parent,
                    customer_key=f"k{customer}", followers=followers if channel == Channel.X else None,
                )  # fmt: skip
                made += 1
                parent = ext
                t += rng.randint(60, 8 * 3600)
                if rng.random() < 0.7:
                    reply = f"{ext}-r"
                    yield IncomingMessage(
                        channel=channel, account=account, external_id=reply,
                        direction=Direction.OUT, author=account, text=rng.choice(REPLIES),
                        created_at=t, in_reply_to=parent, to=handle,
                    )  # fmt: skip
                    made += 1
                    parent = reply
                    t += rng.randint(60, 24 * 3600)


def generate(path: Path, total: int) -> float:
    started = time.perf_counter()
    ws = Workspace(path)
    Ingestor(ws, batch_size=5000).ingest(workload(total))
    ws.close()
    return time.perf_counter() - started


def measure_incremental(ws: Workspace, samples: int, seed: int = 11) -> dict[str, float]:
    rng = random.Random(seed)
    hook = incremental_hook()
    hook_times: list[float] = []

    def timed(w: Workspace, batch: BatchResult) -> None:
        t0 = time.perf_counter()
        hook(w, batch)
        hook_times.append(time.perf_counter() - t0)

    ingestor = Ingestor(ws, after_batch=timed, batch_size=1)
    identities = ws.query(
        "SELECT c.channel, i.handle, a.name AS account FROM conversations c"
        " JOIN identities i ON i.id = c.identity_id JOIN accounts a ON a.id = c.account_id"
        " ORDER BY random() LIMIT ?",
        (samples,),
    )
    latest = int(ws.scalar("SELECT max(created_at) FROM messages") or START)
    run = time.time_ns()  # new external ids on every run: known ids would be skipped by ingest
    totals = []
    for n, ident in enumerate(identities):
        lang = str(_pick(rng, LANGS))  # type: ignore[arg-type]
        rec = IncomingMessage(
            channel=Channel(ident["channel"]), account=ident["account"],
            external_id=f"bench-{run}-{n}", direction=Direction.IN, author=ident["handle"],
            text=_text(rng, lang), created_at=latest + 60 * (n + 1),
        )  # fmt: skip
        t0 = time.perf_counter()
        report = ingestor.ingest([rec])
        totals.append(time.perf_counter() - t0)
        assert report.added == 1, "the bench message was not ingested"
    warm_hook, warm_total = hook_times[5:] or hook_times, totals[5:] or totals

    def q(values: list[float], pct: int) -> float:
        return (
            round(1000 * statistics.quantiles(values, n=100)[pct - 1], 3)
            if len(values) > 1
            else 0.0
        )

    return {
        "samples": len(totals),
        "hook_ms_p50": q(warm_hook, 50),
        "hook_ms_p95": q(warm_hook, 95),
        "ingest_ms_p50": q(warm_total, 50),
        "ingest_ms_p95": q(warm_total, 95),
        "first_ms": round(1000 * hook_times[0], 1) if hook_times else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="workspace to bench (modified)")
    parser.add_argument("--generate", type=int, help="create a synthetic workspace of N messages")
    parser.add_argument("--samples", type=int, default=200, help="new messages for the p50/p95")
    parser.add_argument("--skip-rebuild", action="store_true")
    parser.add_argument(
        "--rescore", action="store_true", help="rebuild scores every message again (worst case)"
    )
    parser.add_argument(
        "--rebuild-runs", type=int, default=1, help="rebuilds, each on a fresh copy of --db"
    )
    args = parser.parse_args()
    result: dict[str, object] = {}
    tmp = None
    path = args.db
    if path is None:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "bench.sqlite"
        args.generate = args.generate or 100_000
    if args.generate and not path.exists():
        result["generate_s"] = round(generate(path, args.generate), 1)
    if args.rebuild_runs > 1 and not args.skip_rebuild:
        with Workspace(path, create=False) as source:  # the copies need no WAL beside them
            source.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        copies = tempfile.TemporaryDirectory(dir=path.parent)
        runs = []
        for run in range(args.rebuild_runs):
            copy = Path(copies.name) / f"run{run}.sqlite"
            shutil.copyfile(path, copy)
            ws = Workspace(copy, create=False)
            report = rebuild(ws, rescore=args.rescore)
            runs.append(report)
            sys.stderr.write(f"rebuild {run + 1}/{args.rebuild_runs}: {report.seconds:.1f} s\n")
            if run + 1 < args.rebuild_runs:
                ws.close()
                copy.unlink()
        seconds = [r.seconds for r in runs]
        result["db"] = str(path)
        result["messages"] = ws.scalar("SELECT count(*) FROM messages")
        result["customers"] = ws.scalar("SELECT count(*) FROM customers")
        result["rebuild_s"] = {
            "median": round(statistics.median(seconds), 2),
            "min": round(min(seconds), 2),
            "max": round(max(seconds), 2),
        }
        result["rebuilds"] = [r.to_json() for r in runs]
        result["incremental"] = measure_incremental(ws, args.samples)
        ws.close()
        copies.cleanup()
    else:
        ws = Workspace(path, create=False)
        result["db"] = str(path)
        result["messages"] = ws.scalar("SELECT count(*) FROM messages")
        result["customers"] = ws.scalar("SELECT count(*) FROM customers")
        if not args.skip_rebuild:
            report = rebuild(ws, rescore=args.rescore)
            result["rebuild_s"] = round(report.seconds, 2)
            result["rebuild"] = report.to_json()
        result["incremental"] = measure_incremental(ws, args.samples)
        ws.close()
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
