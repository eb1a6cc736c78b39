"""Issue 19: a burst of "Get drop-off key" taps with a slow Harbor, and a bystander who just says /start.

    python -m bench.burst --taps 60 --harbor-latency 2 [--rounds 3] [--database-url postgresql+psycopg://...]

Each round: a fresh database (a SQLite file, or a new database on the `--database-url` server, dropped
afterwards), the Telegram emulator and the Harbor simulator (one extra tower with enough small lockers)
served over loopback, and the bot's real Application polling the emulator, all in this process (as the
end-to-end tests run it). N customers each hold a locker (reserved through the bot's own service, then
shown with /my); then all N tap "Get drop-off key" at once while Harbor answers each token request after
`--harbor-latency` seconds, and once half of them are waiting on Harbor a stranger sends /start.

Prints, as medians over the rounds: the stranger's wait for an answer, the taps' p50 and p99 from tap to
key photo, how many customers got a key (decoded from the QR) and how many were told something went
wrong. Runs against another checkout with `cd /tmp/old && python -m bench.burst` (it needs only
`bot.app.build_application`, `Settings` and the sandbox).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import zxingcpp
from PIL import Image
from psycopg import sql
from sqlalchemy.engine import make_url

from bot.app import build_application
from bot.config import Settings
from bot.keys import LockerKey
from sandbox.harbor import DEFAULT_CLIENTS, TOKEN_PATH, HarborSimulator, create_app
from sandbox.harbor_base import load_default_seed
from sandbox.serving import serve_app
from sandbox.telegram import TelegramEmulator
from sandbox.telegram_driver import UserDriver

TOKEN = "123456:BENCH-TOKEN"
CLIENT_ID, CLIENT_SECRET = next(iter(DEFAULT_CLIENTS.items()))
HALL = 777
TIMEOUT = 120.0


@dataclass
class Round:
    bystander: float
    taps: list[float]  # seconds from tap to key photo, for those who got one
    keys: int
    went_wrong: int


def burst_seed(lockers: int) -> dict[str, Any]:
    seed = load_default_seed()
    hall = copy.deepcopy(seed["locations"][0])
    hall.update(id=HALL, name="Burst Hall", lat=37.79, lon=-122.41, address1="1 Burst St")
    hall["towers"] = [
        {"id": "0c00000000000001", "firstLockerId": 30001, "lockers": [{"doors": f"1-{lockers}", "type": "small"}]}
    ]
    seed["locations"].append(hall)
    return seed


@contextmanager
def fresh_database(server_url: str | None) -> Iterator[str]:
    if server_url is None:
        with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
            yield f"sqlite:///{tmp}/burst.sqlite3"
        return
    server = make_url(server_url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"bench_burst_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@asynccontextmanager
async def running_bot(database_url: str, taps: int) -> AsyncIterator[tuple[TelegramEmulator, HarborSimulator, Any]]:
    emulator = TelegramEmulator()
    emulator.add_bot(TOKEN, username="bench_burst_bot")
    simulator = HarborSimulator(burst_seed(taps + 10), rng_seed=7)
    async with AsyncExitStack() as stack:
        tg_root = await stack.enter_async_context(serve_app(emulator.app))
        harbor_root = await stack.enter_async_context(serve_app(create_app(simulator)))
        settings = Settings(
            telegram_bot_token=TOKEN,
            telegram_api_url=tg_root,
            harbor_env="sandbox",
            harbor_api_url=harbor_root,
            harbor_token_url=harbor_root + TOKEN_PATH,
            harbor_client_id=CLIENT_ID,
            harbor_client_secret=CLIENT_SECRET,
            database_url=database_url,
            locker_poll_seconds=3600,
            log_level="ERROR",
        )
        app = build_application(settings)
        await app.initialize()
        stack.push_async_callback(app.shutdown)
        assert app.post_init is not None and app.post_shutdown is not None
        await app.post_init(app)
        stack.push_async_callback(app.post_shutdown, app)
        await app.start()
        stack.push_async_callback(app.stop)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        stack.push_async_callback(app.updater.stop)
        stack.push_async_callback(emulator.aclose)
        yield emulator, simulator, app


def got_key(user: UserDriver) -> LockerKey | None:
    for message in user.bot_messages:
        if message.photo is not None:
            found = zxingcpp.read_barcodes(Image.open(io.BytesIO(message.photo)), formats=zxingcpp.BarcodeFormat.QRCode)
            return LockerKey.from_json(found[0].text) if len(found) == 1 else None
    return None


async def one_round(database_url: str, taps: int, latency: float) -> Round:
    async with running_bot(database_url, taps) as (emulator, simulator, app):
        services = app.bot_data["services"]
        customers = [emulator.user(30_000 + i, f"C{i}", bot_token=TOKEN) for i in range(taps)]
        await asyncio.gather(*(services.deliveries.reserve(c.id, HALL, 1) for c in customers))

        async def see_hold(customer: UserDriver) -> None:
            await customer.command("my")
            await customer.wait_for(lambda m: any("drop-off key" in b.lower() for b in m.buttons), timeout=TIMEOUT)

        await asyncio.gather(*(see_hold(c) for c in customers))
        simulator.add_fault(method="POST", path="dropoff-locker-tokens", stall=latency, times=None)

        async def tap(customer: UserDriver) -> float | None:
            started = time.monotonic()
            await customer.press("key", timeout=TIMEOUT)
            try:
                await customer.wait_for(lambda m: m.photo is not None, timeout=TIMEOUT)
            except TimeoutError:
                return None
            return time.monotonic() - started

        burst = asyncio.gather(*(tap(c) for c in customers))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            asked = [r for r in simulator.requests if r.method == "POST" and "dropoff-locker-tokens" in r.path]
            if len(asked) >= taps // 2:
                break
            await asyncio.sleep(0.02)
        stranger = emulator.user(39_999, "Stranger", bot_token=TOKEN)
        started = time.monotonic()
        await stranger.command("start")
        await stranger.wait_for(lambda m: True, timeout=TIMEOUT)
        bystander = time.monotonic() - started
        results = await burst
        keys = sum(1 for c in customers if got_key(c) is not None)
        wrong = sum(1 for c in customers if any("went wrong" in (m.content or "").lower() for m in c.bot_messages))
        return Round(bystander, [r for r in results if r is not None], keys, wrong)


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main_async(args: argparse.Namespace) -> None:
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "tick skipped" while a tick runs long
    rounds: list[Round] = []
    for number in range(1, args.rounds + 1):
        with fresh_database(args.database_url) as url:
            result = await one_round(url, args.taps, args.harbor_latency)
        rounds.append(result)
        print(
            f"round {number}: bystander {result.bystander:.2f} s; taps p50 {p(result.taps, 0.5):.2f} s, "
            f"p99 {p(result.taps, 0.99):.2f} s; keys {result.keys}/{args.taps}; 'went wrong' {result.went_wrong}",
            flush=True,
        )
    med = statistics.median
    print(
        f"\nmedians over {len(rounds)} rounds ({args.taps} taps, Harbor {args.harbor_latency:g} s, "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}): "
        f"bystander /start {med(r.bystander for r in rounds):.2f} s; "
        f"taps p50 {med(p(r.taps, 0.5) for r in rounds):.2f} s, p99 {med(p(r.taps, 0.99) for r in rounds):.2f} s; "
        f"keys {med(r.keys for r in rounds):g}/{args.taps}; 'went wrong' {med(r.went_wrong for r in rounds):g}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__.splitlines()[0])
    parser.add_argument("--taps", type=int, default=60)
    parser.add_argument("--harbor-latency", type=float, default=2.0, help="seconds Harbor takes per token")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="a PostgreSQL server (a database per round is made and dropped)")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
