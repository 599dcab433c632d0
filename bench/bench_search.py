"""Full-text search benchmark: the first page of results for a common and a rare word.

    python bench/bench_search.py --db WS.sqlite [--runs 7]

The words are picked from the workspace's own search index (``fts5vocab``): the common word is the
most frequent word of four or more letters, the rare one a word found in two or three messages. For
each, the time to the first page (50 messages, newest first; ``agent-console search``) and to the
first inbox page of conversations matching it (the inbox's search field), each the median of
``--runs`` runs after one warm-up, with min and max, in milliseconds. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.inbox_filter import InboxFilter
from console.storage.customers import search_messages
from console.storage.db import Workspace
from console.storage.inbox import inbox_page


def pick_words(ws: Workspace) -> tuple[str, str, int, int]:
    ws.conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.bench_vocab USING fts5vocab(main, messages_fts, row)"
    )
    common, common_docs = ws.conn.execute(
        "SELECT term, doc FROM temp.bench_vocab WHERE length(term) >= 4"
        " AND term GLOB '[a-z]*' AND term NOT GLOB '*[0-9]*' ORDER BY doc DESC LIMIT 1"
    ).fetchone()
    rare, rare_docs = ws.conn.execute(
        "SELECT term, doc FROM temp.bench_vocab WHERE doc BETWEEN 2 AND 3 AND length(term) >= 6"
        " AND term GLOB '[a-z]*' AND term NOT GLOB '*[0-9]*' ORDER BY term LIMIT 1"
    ).fetchone()
    return str(common), str(rare), int(common_docs), int(rare_docs)


def timed(fn: object, runs: int) -> dict[str, float]:
    fn()  # type: ignore[operator]
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    ws = Workspace(args.db, create=False)
    common, rare, common_docs, rare_docs = pick_words(ws)
    now = int(time.time())
    out: dict[str, object] = {
        "messages": ws.scalar("SELECT count(*) FROM messages"),
        "common_word": common,
        "common_word_messages": common_docs,
        "rare_word": rare,
        "rare_word_messages": rare_docs,
        "runs": args.runs,
    }
    for label, word in (("common", common), ("rare", rare)):
        first = search_messages(ws, word)
        out[f"search_{label}_first_page_ms"] = timed(
            lambda w=word: search_messages(ws, w), args.runs
        )
        out[f"search_{label}_results"] = len(first)
        f = InboxFilter(search=word, sort="activity")

        def cold_inbox_page(f: InboxFilter = f) -> None:
            ws.memo.clear()  # the inbox remembers a search while paging: measure a new one
            inbox_page(ws, f, now=now)

        out[f"inbox_search_{label}_first_page_ms"] = timed(cold_inbox_page, args.runs)
    ws.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
