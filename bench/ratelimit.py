"""CPU per Bot API call of FairRateLimiter, against PTB's AIORateLimiter and no limiter at all.

    python -m bench.ratelimit [--users 50] [--calls 3] [--reps 20] [--rounds 5] [--rate 1e6]

``--users`` concurrent users each make ``--calls`` send_message calls one after the other, through a
real ``telegram.ext.ExtBot`` whose request object answers at once from memory (a canned
``{"ok": true, "result": <message>}``; no sockets). One measurement is ``--reps`` such waves; its
figure is ``time.process_time()`` per call, so waiting costs nothing and only CPU is counted. Each
wave writes to new chats, so FairRateLimiter's per-chat limits (which AIORateLimiter does not have
for private chats) never make anyone wait; ``--rate`` is the overall rate given to both limiters:
the default is high enough that nothing waits (the fast path), a low one such as ``--rate 3000``
makes every wave queue (the dispatcher path).

The three variants run in turn, in a rotated order each round, after one warm-up round that is not
counted; the report gives the median of the rounds, the limiter's own share (minus no limiter) and
the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.ext import AIORateLimiter, BaseRateLimiter, ExtBot
from telegram.request import BaseRequest, RequestData

from bot.ratelimit import FairRateLimiter

TOKEN = "123456:bench"
_ME = json.dumps(
    {"ok": True, "result": {"id": 123456, "is_bot": True, "first_name": "Harbor", "username": "harbor_bot"}}
).encode()
_MESSAGE = json.dumps(
    {
        "ok": True,
        "result": {
            "message_id": 1,
            "date": 1767225600,
            "chat": {"id": 1, "type": "private", "first_name": "A"},
            "text": "hi",
        },
    }
).encode()


class InstantTelegram(BaseRequest):
    """The Bot API answered from memory: getMe, and a message for anything else."""

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        return 200, _ME if url.endswith("/getMe") else _MESSAGE


VARIANTS: dict[str, Callable[[float], BaseRateLimiter[Any] | None]] = {
    "none": lambda rate: None,
    # A period of 0.1 s gives aiolimiter the same burst as FairRateLimiter (a tenth of a second's worth).
    "AIORateLimiter": lambda rate: AIORateLimiter(overall_max_rate=rate / 10, overall_time_period=0.1),
    "FairRateLimiter": lambda rate: FairRateLimiter(rate),
}


async def measure(variant: str, users: int, calls: int, reps: int, rate: float) -> tuple[float, float]:
    """CPU seconds and wall seconds per call for one variant."""
    request = InstantTelegram()
    bot: ExtBot[Any] = ExtBot(TOKEN, request=request, get_updates_request=request, rate_limiter=VARIANTS[variant](rate))
    await bot.initialize()

    async def user(chat_id: int) -> None:
        for _ in range(calls):
            await bot.send_message(chat_id, "hi")

    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for rep in range(reps):
        await asyncio.gather(*(user(1 + rep * users + u) for u in range(users)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await bot.shutdown()
    total = users * calls * reps
    return cpu / total, wall / total


async def run(args: argparse.Namespace) -> dict[str, list[tuple[float, float]]]:
    names = list(VARIANTS)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_ in range(args.rounds + 1):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            figure = await measure(name, args.users, args.calls, args.reps, args.rate)
            if round_:  # round 0 warms up imports, caches and the allocator
                results[name].append(figure)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ratelimit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--calls", type=int, default=3, help="calls per user per wave")
    parser.add_argument("--reps", type=int, default=20, help="waves per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (at least 3)")
    parser.add_argument("--rate", type=float, default=1e6, help="overall rate given to both limiters")
    args = parser.parse_args(argv)
    args.rounds = max(3, args.rounds)

    results = asyncio.run(run(args))
    cpu = {name: statistics.median(c for c, _ in figures) * 1e6 for name, figures in results.items()}
    wall = {name: statistics.median(w for _, w in figures) * 1e6 for name, figures in results.items()}
    calls = args.users * args.calls * args.reps
    print(
        f"{args.users} concurrent users x {args.calls} calls x {args.reps} waves = {calls} calls per "
        f"measurement, overall rate {args.rate:g}/s, median of {args.rounds} rounds"
    )
    print(f"{'':16} {'CPU us/call':>12} {'limiter us':>11} {'wall us/call':>13}")
    for name in results:
        own = "" if name == "none" else f"{cpu[name] - cpu['none']:11.1f}"
        print(f"{name:16} {cpu[name]:12.1f} {own:>11} {wall[name]:13.1f}")
    fair_own = max(cpu["FairRateLimiter"] - cpu["none"], 1e-9)
    print(f"FairRateLimiter / none: {cpu['FairRateLimiter'] / cpu['none']:.2f}x CPU")
    print(f"AIORateLimiter / none:  {cpu['AIORateLimiter'] / cpu['none']:.2f}x CPU")
    print(f"AIORateLimiter / FairRateLimiter: {cpu['AIORateLimiter'] / cpu['FairRateLimiter']:.2f}x CPU per call")
    print(f"  limiter's own CPU (minus none): {(cpu['AIORateLimiter'] - cpu['none']) / fair_own:.1f}x")


if __name__ == "__main__":
    main()
