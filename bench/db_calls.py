"""How the bot talks to its database without blocking the event loop (docs/design.md §8), measured.

Four ways to run the same two repository operations (read a delivery; a compare-and-set transition
with its event row) from asyncio, on SQLite and, with --database-url, on PostgreSQL:

- bot:    the Repository on storage.threaded.Database, what the bot runs on since issue 18 (the sync
          engine in threads behind the AsyncSession API; a hot transaction is one hand-off);
- async:  the Repository on SQLAlchemy's asyncio engine (aiosqlite / psycopg async), the bot before;
- thread: the same statements on a sync engine, each call in a bounded thread pool (to_thread);
- inline: the sync engine called on the event loop (the old way: blocks every other update).

Printed per way: CPU and wall time per call (medians over rounds of `--calls` calls made by 20
concurrent tasks), and the longest stall of a 1 ms ticker on the loop while they run.

    python -m bench.db_calls [--calls 400] [--rounds 5] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col

from storage.engine import (
    make_async_engine,
    make_async_session_factory,
    make_database,
    make_engine,
    make_session_factory,
)
from storage.migrate import upgrade
from storage.models import Delivery, DeliveryEvent, DeliveryState
from storage.repository import Repository
from storage.types import utcnow

CONCURRENCY = 20


def _sync_ops(factory: Callable[[], Session]) -> tuple[Callable[[int], object], Callable[[int], object]]:
    def read(delivery_id: int) -> object:
        with factory() as session:
            return session.get(Delivery, delivery_id)

    def transition(delivery_id: int) -> object:
        with factory() as session:
            session.execute(
                update(Delivery)
                .where(col(Delivery.id) == delivery_id, col(Delivery.state).in_([DeliveryState.RESERVED]))
                .values(state=DeliveryState.RESERVED, updated_at=utcnow())
            )
            session.add(DeliveryEvent(delivery_id=delivery_id, kind="bench"))
            session.commit()
            return session.get(Delivery, delivery_id)

    return read, transition


async def _stall_while(work: Awaitable[None]) -> float:
    """The longest the loop took to run a callback posted from another thread every millisecond while
    `work` ran: how long any other update would have waited."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    stop = threading.Event()

    def probe() -> None:
        nonlocal worst
        while not stop.is_set():
            posted = time.perf_counter()
            ran = threading.Event()

            def mark(posted: float = posted, ran: threading.Event = ran) -> None:
                nonlocal worst
                worst = max(worst, time.perf_counter() - posted)
                ran.set()

            loop.call_soon_threadsafe(mark)
            ran.wait(5)
            time.sleep(0.001)

    watcher = threading.Thread(target=probe, daemon=True)
    watcher.start()
    try:
        await work
    finally:
        stop.set()
        await asyncio.to_thread(watcher.join)
    return worst


async def _round(call: Callable[[int], Awaitable[object]], ids: list[int], calls: int) -> tuple[float, float, float]:
    async def worker(offset: int) -> None:
        for index in range(offset, calls, CONCURRENCY):
            await call(ids[index % len(ids)])

    cpu, wall = time.process_time(), time.perf_counter()
    stall = await _stall_while(asyncio.gather(*(worker(i) for i in range(CONCURRENCY))))  # type: ignore[arg-type]
    return (time.process_time() - cpu) / calls * 1e3, (time.perf_counter() - wall) / calls * 1e3, stall * 1e3


async def measure(url: str, calls: int, rounds: int) -> None:
    upgrade(url)
    sync_engine = make_engine(url)
    async_engine = make_async_engine(url)
    repo = Repository(make_async_session_factory(async_engine))
    database = make_database(url)
    bot_repo = Repository(database.session)
    read, transition = _sync_ops(make_session_factory(sync_engine))
    pool = ThreadPoolExecutor(max_workers=8)
    ids = []
    for i in range(20):
        made = await repo.create_delivery(
            Delivery(sender_id=10_000 + i, location_id=1, location_name="bench", size_id=1, size_name="small"),
            actor_id=None,
        )
        assert made.id is not None
        await repo.transition(
            made.id, from_states=[DeliveryState.DRAFT], to_state=DeliveryState.RESERVED, actor_id=None, event="bench"
        )
        ids.append(made.id)

    async def async_read(i: int) -> object:
        return await repo.get_delivery(i)

    async def async_transition(i: int) -> object:
        return await repo.transition(
            i, from_states=[DeliveryState.RESERVED], to_state=DeliveryState.RESERVED, actor_id=None, event="bench"
        )

    def threaded(fn: Callable[[int], object]) -> Callable[[int], Awaitable[object]]:
        async def call(i: int) -> object:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, i)

        return call

    def inline(fn: Callable[[int], object]) -> Callable[[int], Awaitable[object]]:
        async def call(i: int) -> object:
            return fn(i)

        return call

    async def bot_read(i: int) -> object:
        return await bot_repo.get_delivery(i)

    async def bot_transition(i: int) -> object:
        return await bot_repo.transition(
            i, from_states=[DeliveryState.RESERVED], to_state=DeliveryState.RESERVED, actor_id=None, event="bench"
        )

    ways = {
        "bot": (bot_read, bot_transition),
        "async": (async_read, async_transition),
        "thread": (threaded(read), threaded(transition)),
        "inline": (inline(read), inline(transition)),
    }
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for _ in range(rounds):  # alternate the ways so drift hits all alike
        for way, (read_call, write_call) in ways.items():
            results.setdefault((way, "read"), []).append(await _round(read_call, ids, calls))
            results.setdefault((way, "transition"), []).append(await _round(write_call, ids, calls // 4))
    backend = sync_engine.dialect.name
    print(f"\n{backend}: medians of {rounds} rounds, {CONCURRENCY} concurrent tasks")
    print(f"{'way':<8}{'operation':<12}{'CPU ms/call':>12}{'wall ms/call':>14}{'max loop stall ms':>20}")
    for (way, op), samples in results.items():
        cpu, wall, stall = (statistics.median(s[i] for s in samples) for i in range(3))
        print(f"{way:<8}{op:<12}{cpu:>12.3f}{wall:>14.3f}{stall:>20.1f}")
    pool.shutdown()
    database.dispose()
    await async_engine.dispose()
    sync_engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", help="also measure this database (PostgreSQL); it must be empty")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(measure(f"sqlite:///{Path(folder) / 'bench.sqlite3'}", args.calls, args.rounds))
    if args.database_url:
        asyncio.run(measure(args.database_url, args.calls, args.rounds))


if __name__ == "__main__":
    main()
