"""Start-up and memory with history on record: N users, M deliveries (bench/seedproc.py).

A /start is waiting in the emulator before the bot process is spawned; the figure is the wall time from
the spawn to the bot's first message in that chat (imports, migrations, everything). RSS is read then.
Runs on SQLite and, with ``--database-url``, on that database too (its tables are emptied first).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from bench.driver import VISIBLE, _int
from bench.procs import HERE, BotProcess
from bench.world import TOKEN, World

FIRST_ANSWER_SECONDS = 60.0


async def _seed(tree: Path, url: str, users: int, deliveries: int, log: Path) -> float:
    started = time.monotonic()
    args = ["--root", str(tree), "--url", url, "--users", str(users), "--deliveries", str(deliveries)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "seedproc.py"), *args, stdout=log.open("ab"), stderr=log.open("ab"), cwd=tree
    )
    if await proc.wait() != 0:
        raise RuntimeError(f"seeding failed, see {log}")
    return time.monotonic() - started


async def measure(world: World, tree: Path, database_url: str | None, users: int, deliveries: int) -> dict[str, Any]:
    target = await world.emulator("history")
    emulator = target.emulator
    urls = [("sqlite", f"sqlite:///{world.tmp}/history.sqlite3")]
    if database_url:
        urls.append(("postgresql", database_url))
    results: dict[str, Any] = {}
    for n, (label, url) in enumerate(urls):
        log = world.logs / f"history-{label}.log"
        config = world.config(target, url)
        try:
            first = await BotProcess.spawn(tree, "bot", config, log=log)  # migrates the empty database
            await first.ready()
            await first.stop()
            seeded = await _seed(tree, url, users, deliveries, log)
            person = emulator.user(9_000_000 + n, "Late", language_code="en", bot_token=TOKEN)
            mark = len(emulator.calls)
            await person.command("start")
            proc = await BotProcess.spawn(tree, "bot", config, log=log)
            answered = await _first_answer(world, proc, person.id, mark)
            results[label] = {
                "seed_s": seeded,
                "first_update_s": answered - proc.started,
                "ready_s": proc.ready_after,
                "rss_mb": proc.rss(),
                "rss_tree_mb": proc.rss(tree=True),
            }
            await asyncio.sleep(1.0)
            results[label]["rss_mb_1s"] = proc.rss()
            await proc.stop()
        except Exception as exc:
            results[label] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return results


async def _first_answer(world: World, proc: BotProcess, chat_id: int, mark: int) -> float:
    emulator = world.targets["history"].emulator
    ready = asyncio.create_task(proc.ready(FIRST_ANSWER_SECONDS))
    deadline = time.monotonic() + FIRST_ANSWER_SECONDS
    try:
        while time.monotonic() < deadline:
            for call in emulator.calls[mark:]:
                if call.method in VISIBLE and _int(call.params.get("chat_id")) == chat_id:
                    await ready
                    return call.at
            await asyncio.sleep(0.005)
    finally:
        if not ready.done():
            ready.cancel()
    raise TimeoutError("the bot never answered the waiting /start")
