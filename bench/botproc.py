"""The process a benchmark measures: the bot under test, or the bare baseline, polling the emulator.

    python bench/botproc.py --root TREE --mode bot|bare --config JSON [--script FILE] [--no-limiter]

Run by file path (not ``-m``) with ``--root`` first on sys.path, so the bot of any tree (this one or an
older checkout) is the one measured, built by ``bot.app.build_application(settings, Overrides(...))``,
which every version has. Prints ``READY`` once polling; reads commands on stdin: ``watch`` runs one
round of the locker watch and prints ``WATCHED``; ``stop`` (or EOF) shuts down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _build(args: argparse.Namespace, config: dict[str, Any]) -> Any:
    if args.mode == "bare":
        from baseline import build_bare

        return build_bare(config, args.script, args.limiter)
    from bot.app import Overrides, build_application
    from bot.config import Settings

    return build_application(Settings(**config), Overrides(rate_limiter=True))


async def _watch(app: Any) -> None:
    """One round of the locker watch and its announcements, in whichever API the tree has."""
    from bot import jobs

    if hasattr(jobs, "POLL_JOB"):  # PTB JobQueue era
        await app.job_queue.get_jobs_by_name(jobs.POLL_JOB)[0].run(app)
        return
    services = app.bot_data["services"]
    await services.watch.poll()
    await services.notifier.deliver()


async def run(args: argparse.Namespace) -> None:
    config = json.loads(args.config)
    app = _build(args, config)
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=10)
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "watch":
            await _watch(app)
            print("WATCHED", flush=True)
        elif line in ("", "stop"):
            break
    if os.environ.get("BENCH_TRACEMALLOC"):
        _print_top_allocations()
    await app.updater.stop()
    await app.stop()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)
    await app.shutdown()


def _print_top_allocations() -> None:
    """BENCH_TRACEMALLOC=1: where the Python heap grew since start, by file (a diagnosis aid)."""
    import tracemalloc

    snapshot = tracemalloc.take_snapshot()
    for stat in snapshot.statistics("filename")[:25]:
        print("MEM", stat, file=sys.stderr, flush=True)


def _count_statements() -> None:
    """BENCH_SQL=1: count every statement the process sends (by its first word) and print them at exit."""
    import atexit
    from collections import Counter

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    seen: Counter[str] = Counter()

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        words = statement.replace("(", " ").split()
        verb = words[0].upper()
        after = pairwise(words)
        table = next((w for prev, w in after if prev.upper() in ("FROM", "INTO", "UPDATE")), "")
        seen[f"{verb} {table}".strip()] += 1

    @event.listens_for(Engine, "commit")
    def _commit(conn: Any) -> None:
        seen["COMMIT"] += 1

    atexit.register(lambda: print("SQL", json.dumps(dict(seen)), file=sys.stderr, flush=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--mode", choices=("bot", "bare"), required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--script")
    parser.add_argument("--no-limiter", dest="limiter", action="store_false")
    args = parser.parse_args()
    sys.path[:0] = [str(Path(args.root).resolve()), str(HERE)]
    logging.basicConfig(level=logging.WARNING)
    if os.environ.get("BENCH_TRACEMALLOC"):
        import tracemalloc

        tracemalloc.start()
    if os.environ.get("BENCH_SQL") and args.mode == "bot":
        _count_statements()
    profile = os.environ.get("BENCH_PROFILE")
    if not profile:
        asyncio.run(run(args))
        return
    import cProfile

    # One file per process: the bot, the bare bots and the history runs are all children of one bench.
    out = f"{profile}.{args.mode}{'' if args.limiter else '-nolimit'}.{os.getpid()}"
    cProfile.runctx("asyncio.run(run(args))", globals(), {"run": run, "args": args}, out)


if __name__ == "__main__":
    main()
