"""Every figure of issue 8 on a generated 1,000,000-message workspace, as one JSON object.

    python bench/run_all.py                      # everything, 5 runs per figure (15 min on 2 cores)
    python bench/run_all.py --runs 3 --messages 200000 --work /tmp/b200k   # a quicker look

Steps (each in its own process, so one figure's caches do not help another's):

1. ``bench/generate.py`` makes the deterministic workspace (fixed seed) as JSONL and as a triaged
   workspace, in ``--work`` (kept and reused by later runs: delete the folder to start afresh).
2. ``bench/bench_import.py``: import with triage against a bare ``insert_all`` of the same rows.
3. ``bench/bench_triage.py --rescore`` on a fresh copy per run: the full rebuild (every message's
   language and sentiment again, every group, every customer) and the p95 of one new message.
4. ``bench/window_probe.py`` per run: process start to the first painted inbox page, the next page
   fetched and painted while scrolling, opening a customer with 1,000 messages, peak memory.
5. ``bench/bench_search.py``: the first page of results for a common and a rare word.
6. The workspace's size on disk (search index included) per message.

Each figure is the median of ``--runs`` runs with min and max; ``targets`` says what issue 8 asks
and ``met`` whether the median meets it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable

TARGETS = {
    "import_with_triage_ratio": (">=", 1 / 3),
    "full_triage_rebuild_s": ("<", 120.0),
    "start_to_first_inbox_paint_s": ("<", 1.5),
    "open_customer_1000_messages_ms": ("<", 50.0),
    "search_common_word_first_page_ms": ("<", 50.0),
    "search_rare_word_first_page_ms": ("<", 20.0),
    "next_inbox_page_fetch_paint_ms": ("<", 16.0),
    "triage_one_message_p95_ms": ("<", 5.0),
    "peak_memory_window_open_mb": ("<", 350.0),
    "workspace_bytes_per_message": ("<", 1536.0),
}


def say(text: str) -> None:
    sys.stderr.write(f"[run_all {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


def run_json(args: list[str], env: dict[str, str] | None = None) -> Any:
    say(" ".join(Path(a).name if a.endswith(".py") else a for a in args))
    done = subprocess.run(
        [PYTHON, *args], check=True, stdout=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    lines = [line for line in done.stdout.decode().splitlines() if line.strip()]
    text = done.stdout.decode()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(lines[-1])


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": len(values),
    }


def heaviest_customer(db: Path) -> int | None:
    import sqlite3

    conn = sqlite3.connect(str(db))
    try:
        row = conn.execute(
            "SELECT customer_id FROM messages WHERE customer_id IS NOT NULL GROUP BY customer_id"
            " HAVING count(*) >= 1000 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return None if row is None else int(row[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/agent-console-bench"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--skip-import", action="store_true", help="skip the (long) import runs")
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    jsonl, ws = work / "big.jsonl", work / "ws.sqlite"
    started = time.time()
    # As scripts/run leaves an installation: our modules byte-compiled, so that the window's start
    # is not the first import's compilation (PYTHONDONTWRITEBYTECODE would make it every start's).
    import compileall

    for package in ("console", "services", "widgets"):
        compileall.compile_dir(str(BENCH.parent / package), quiet=1)
    out: dict[str, Any] = {"benchmark": "issue 8", "messages": args.messages, "runs": args.runs}
    figures: dict[str, Any] = {}

    # The same deterministic data twice: as JSONL (to import) and as a triaged workspace.
    for name, target in (("generate_jsonl", jsonl), ("generate_workspace", ws)):
        if not target.exists():
            out[name] = run_json(
                [
                    str(BENCH / "generate.py"),
                    "--out",
                    str(target),
                    "--messages",
                    str(args.messages),
                    "--quiet",
                ]
            )

    if not args.skip_import:
        imported = run_json(
            [
                str(BENCH / "bench_import.py"),
                "--jsonl",
                str(jsonl),
                "--skip-twcs",
                "--runs",
                str(args.runs),
                "--tmp",
                str(work / "import"),
            ]
        )
        big = imported["jsonl"]
        figures["import_with_triage_msg_per_s"] = big["import_with_triage_msg_per_s"]
        figures["insert_all_rows_per_s"] = big["insert_all_rows_per_s"]
        figures["import_with_triage_ratio"] = {"median": big["import_with_triage_ratio"]}
        figures["import_with_triage_cpu_s"] = big["cpu_s"]["all"]
        figures["insert_all_cpu_s"] = big["insert_all_cpu_s"]

    rebuilds, p95s = [], []
    for i in range(args.runs):
        copy = work / "rebuild.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(ws, copy)
        say(f"triage run {i + 1}/{args.runs}")
        result = run_json([str(BENCH / "bench_triage.py"), "--db", str(copy), "--rescore"])
        rebuilds.append(float(result["rebuild_s"]))
        p95s.append(float(result["incremental"]["hook_ms_p95"]))
    figures["full_triage_rebuild_s"] = spread(rebuilds)
    figures["triage_one_message_p95_ms"] = spread(p95s)

    customer = heaviest_customer(ws)
    probes = []
    for i in range(args.runs):
        say(f"window run {i + 1}/{args.runs}")
        probe = [str(BENCH / "window_probe.py"), "--db", str(ws)]
        if customer is not None:
            probe += ["--customer", str(customer)]
        probes.append(run_json(probe, env={"BENCH_T0": repr(time.time())}))
    figures["start_to_first_inbox_paint_s"] = spread(
        [p["start_to_first_inbox_paint_s"] for p in probes]
    )
    figures["next_inbox_page_fetch_paint_ms"] = spread(
        [
            p["next_page_fetch_paint_ms_median"]
            for p in probes
            if "next_page_fetch_paint_ms_median" in p
        ]
    )
    if customer is not None:
        figures["open_customer_1000_messages_ms"] = spread(
            [p["open_customer_history_ms"] for p in probes]
        )
    figures["peak_memory_window_open_mb"] = spread([p["peak_rss_mb"] for p in probes])

    search = run_json(
        [str(BENCH / "bench_search.py"), "--db", str(ws), "--runs", str(max(5, args.runs))]
    )
    figures["search_common_word_first_page_ms"] = search["search_common_first_page_ms"]
    figures["search_rare_word_first_page_ms"] = search["search_rare_first_page_ms"]
    figures["inbox_search_common_word_first_page_ms"] = search["inbox_search_common_first_page_ms"]
    out["search_words"] = {
        "common": [search["common_word"], search["common_word_messages"]],
        "rare": [search["rare_word"], search["rare_word_messages"]],
    }

    size = sum(Path(f"{ws}{s}").stat().st_size for s in ("", "-wal") if Path(f"{ws}{s}").exists())
    figures["workspace_bytes_per_message"] = {"median": round(size / args.messages, 1)}

    out["figures"] = figures
    out["targets"] = {k: f"{op} {v:g}" for k, (op, v) in TARGETS.items()}
    out["met"] = {
        name: (figures[name]["median"] >= value if op == ">=" else figures[name]["median"] < value)
        for name, (op, value) in TARGETS.items()
        if name in figures
    }
    out["seconds"] = round(time.time() - started, 1)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
