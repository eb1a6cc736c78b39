"""How quickly the bot answers each tap of a drop-off, and what one drop-off costs in calls.

    python -m bench.flow [--runs N] [--database-url URL]

Runs the bot's real Application with the Telegram emulator and the Harbor simulator in this process
(no sockets, no network), then walks N complete drop-offs, each by a different user: /dropoff, share a
location, pick the first location, the first size, ask for the key, use it at the tower, one round of
the locker watch. Reports medians:

* the time from each tap to the bot's answer (the message the person waits for);
* as a ratio to a getMe round trip measured in the same process just before (the transport: PTB ->
  httpx -> the emulator and back), the baseline the steps are compared with;
* Harbor calls per drop-off by kind (OAuth token, GET, POST) and Bot API calls per drop-off by method;
* how long ``render_qr`` takes on the key JSON the bot put in the QR codes.

One drop-off runs first as a warm-up (imports, the first database connection, the service token) and is
not counted. The database is a temporary SQLite file unless ``--database-url`` names another.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.qr_render import _median_ms
from bot.console import TOKEN, console_settings, in_process_bot
from bot.keys import LockerKey
from bot.ui.qr import render_qr
from sandbox.harbor import TOKEN_PATH, HarborSimulator
from sandbox.telegram import TelegramEmulator
from sandbox.telegram_driver import ChatMessage, UserDriver

SF = (37.7793, -122.4193)
GET_ME_RUNS = 50
ANSWER_SECONDS = 15.0

STEPS = (
    ("share location -> nearby list", "location"),
    ("location -> sizes", "sizes"),
    ("size -> reservation", "reserved"),
    ("key -> QR photo", "key"),
    ("watch round -> 'in the locker'", "watch"),
)


@dataclass
class DropOff:
    """One user's drop-off: seconds per step, and the calls it caused."""

    seconds: dict[str, float] = field(default_factory=dict)
    harbor: Counter[str] = field(default_factory=Counter)
    telegram: Counter[str] = field(default_factory=Counter)
    key_json: str = ""


def _harbor_kind(method: str, path: str) -> str:
    return "token" if path.endswith(TOKEN_PATH) else method


def _first_button(message: ChatMessage) -> str:
    if not message.inline_buttons:
        raise SystemExit(f"no buttons to tap in: {message.describe()}")
    return message.inline_buttons[0][0].text


async def _timed(action: Callable[[], Any], wait: Callable[[], Any]) -> tuple[float, ChatMessage]:
    start = time.perf_counter()
    await action()
    message = await wait()
    return time.perf_counter() - start, message


def _read_key(photo: bytes) -> LockerKey:
    import zxingcpp
    from PIL import Image

    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo)))
    if len(results) != 1:
        raise SystemExit(f"the key photo holds {len(results)} QR codes, not 1")
    return LockerKey.from_json(results[0].text)


async def drop_off(app: Any, simulator: HarborSimulator, emulator: TelegramEmulator, user: UserDriver) -> DropOff:
    from bot import jobs

    run = DropOff()
    harbor_from, telegram_from = len(simulator.requests), len(emulator.calls)
    await user.command("dropoff")
    await user.wait_for("where are you", timeout=ANSWER_SECONDS)

    seconds, nearby = await _timed(
        lambda: user.share_location(*SF), lambda: user.wait_for("free lockers within", timeout=ANSWER_SECONDS)
    )
    run.seconds["location"] = seconds
    place = _first_button(nearby)
    seconds, sizes = await _timed(
        lambda: user.press(place, nearby), lambda: user.wait_for("which locker size", timeout=ANSWER_SECONDS)
    )
    run.seconds["sizes"] = seconds
    size = _first_button(sizes)
    seconds, held = await _timed(
        lambda: user.press(size, sizes), lambda: user.wait_for("is held for you", timeout=ANSWER_SECONDS)
    )
    run.seconds["reserved"] = seconds
    seconds, photo = await _timed(
        lambda: user.press("key", held),
        lambda: user.wait_for(lambda m: m.photo is not None, timeout=ANSWER_SECONDS),
    )
    run.seconds["key"] = seconds
    assert photo.photo is not None
    key = _read_key(photo.photo)
    run.key_json = key.to_json()

    simulator.use_token(key.payload, key.payload_auth, key.sdk_token)  # the phone app at the tower
    user.mark()
    watch = app.job_queue.get_jobs_by_name(jobs.POLL_JOB)[0]
    seconds, _ = await _timed(lambda: watch.run(app), lambda: user.wait_for("is in locker", timeout=ANSWER_SECONDS))
    run.seconds["watch"] = seconds

    run.harbor.update(_harbor_kind(r.method, r.path) for r in simulator.requests[harbor_from:])
    run.telegram.update(c.method for c in emulator.calls[telegram_from:])
    return run


async def get_me_seconds(app: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await app.bot.get_me()
        times.append(time.perf_counter() - start)
    return times


async def bench(runs: int, database_url: str | None) -> str:
    emulator = TelegramEmulator()
    emulator.add_bot(TOKEN, username="harbor_bench_bot")
    simulator = HarborSimulator(rng_seed=7)
    changes: dict[str, Any] = {"locker_poll_seconds": 3600}  # the watch is run by hand, once per drop-off
    if database_url:
        changes["database_url"] = database_url
    settings, tmp = console_settings(emulator.root, **changes)
    try:
        async with in_process_bot(settings, emulator, simulator) as app:
            warm_up = await drop_off(app, simulator, emulator, emulator.user(9000, "Warm-up", bot_token=TOKEN))
            get_me = await get_me_seconds(app, GET_ME_RUNS)
            results = [
                await drop_off(app, simulator, emulator, emulator.user(10_000 + i, f"User{i}", bot_token=TOKEN))
                for i in range(runs)
            ]
    finally:
        if tmp is not None:
            tmp.cleanup()

    render_runs = max(runs, 5)
    keys = [r.key_json for r in results]
    render_qr(keys[0])  # warm the imports and qrcode's tables
    render = statistics.median(_median_ms(lambda k=k: render_qr(k), render_runs) for k in keys)

    base = statistics.median(get_me) * 1000
    backend = "SQLite (temporary file)" if not database_url else database_url.split(":", 1)[0]
    lines = [
        f"drop-off flow, in process (Telegram emulator + Harbor simulator), {runs} drop-offs after 1 warm-up; "
        f"database {backend}",
        f"baseline: getMe round trip, median of {GET_ME_RUNS}: {base:.2f} ms",
        "",
        f"{'step (tap -> answer)':<32} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'x getMe':>8}",
    ]
    for label, name in STEPS:
        ms = [r.seconds[name] * 1000 for r in results]
        median = statistics.median(ms)
        lines.append(f"{label:<32} {median:>10.1f} {min(ms):>8.1f} {max(ms):>8.1f} {median / base:>8.1f}")
    lines.append("")
    lines.append("calls per drop-off (median)")
    harbor = {kind: statistics.median(r.harbor[kind] for r in results) for kind in ("token", "GET", "POST")}
    others = sorted({k for r in results for k in r.harbor} - {"token", "GET", "POST"})
    harbor_text = " · ".join(f"{k} {v:g}" for k, v in harbor.items())
    if others:
        harbor_text += " · " + " · ".join(f"{k} {statistics.median(r.harbor[k] for r in results):g}" for k in others)
    lines.append(f"  Harbor:   {harbor_text}")
    warm_text = " · ".join(f"{k} {warm_up.harbor[k]}" for k in ("token", "GET", "POST"))
    lines.append(f"            (the warm-up drop-off, with a cold token cache: {warm_text})")
    methods = sorted({m for r in results for m in r.telegram}, key=lambda m: (m == "getUpdates", m))
    per_method = {m: statistics.median(r.telegram[m] for r in results) for m in methods}
    bot_api = statistics.median(sum(n for m, n in r.telegram.items() if m != "getUpdates") for r in results)
    polls = per_method.get("getUpdates", 0)
    lines.append(f"  Telegram: {bot_api:g} Bot API calls, plus {polls:g} getUpdates")
    lines.append("            " + " · ".join(f"{m} {n:g}" for m, n in per_method.items() if m != "getUpdates"))
    lines.append("")
    sizes = sorted({len(k) for k in keys})
    size_text = f"{sizes[0]} B" if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]} B"
    lines.append(
        f"QR render (render_qr on the key JSON, {size_text}): median {render:.1f} ms ({render / base:.0f} x getMe)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.flow", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="drop-offs to measure (default 5)")
    parser.add_argument(
        "--database-url", help="an empty database instead of a temporary SQLite file (the drop-offs stay in it)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 30:
        parser.error("--runs must be between 1 and 30 (the seed has that many free lockers near the start)")
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", message="If 'per_message=False'")
    print(asyncio.run(bench(args.runs, args.database_url)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
