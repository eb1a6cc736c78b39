"""Issue 8: the bot is never the bottleneck, Telegram's limit is. Every figure, with its target.

    python -m bench.load --users 50 [--rounds 3] [--think 0.4] [--tree DIR] [--database-url URL]
                         [--bot-on-postgres SERVER_URL] [--small-keys]

N people at once, each: /start -> /dropoff -> location -> tap the location -> tap a size -> tap the key,
``--think`` seconds between seeing an answer and the next tap. Three bots take turns, round after round
(bot, bare+limiter, bare without limiter), each in its own process, polling its own Telegram emulator
over loopback; the Harbor simulator (20 extra one-tower locations, people spread over them) and the
emulators run in this process. CPU is read from /proc for the measured process and its descendants (the
QR worker), so the emulator's, simulator's and driver's CPU are never counted.

* the bot under test, ``bot.app.build_application(settings, Overrides(rate_limiter=True))`` from
  ``--tree`` (default: this checkout; an older one, e.g. ``git worktree add /tmp/oldmain 68c3733``, for
  the before figures);
* bench/baseline.py, a bare python-telegram-bot bot replaying the Bot API calls the bot made for the
  most typical person of the first round (same methods, texts, keyboards, photo sizes), with
  bot.ratelimit.FairRateLimiter, and the same without a limiter.

Then: Bot API calls of the handover (link) and pickup flows; Harbor calls per drop-off; one round of the
locker watch with ``--watch-deliveries`` open deliveries on the 20 towers (topped up by quick extra
drop-offs); start-up time and RSS with 10 000 users and 100 000 deliveries on record (bench.history).
Figures are medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench import history
from bench.burst import fresh_database
from bench.driver import RoundStats, cut, percentile, real_calls, session, settle
from bench.flows import handover_and_pickup
from bench.procs import BotProcess
from bench.world import TOKEN, Target, World, make_world

REPO = Path(__file__).resolve().parent.parent
BOT, BARE, NOLIM = "bot", "bare+limiter", "bare"


async def run_round(world: World, target: Target, users: list[int], think: float) -> RoundStats:
    assert target.proc is not None
    emulator, proc = target.emulator, target.proc
    drivers = [emulator.user(u, f"P{u}", language_code="en", bot_token=TOKEN) for u in users]
    points = [world.points[u % len(world.points)] for u in users]
    c0, h0 = len(emulator.calls), len(world.simulator.requests)
    cpu0, main0, t0 = proc.cpu(), proc.cpu(tree=False), time.monotonic()
    stagger = min(0.02, think / max(1, len(users)))
    sessions = await asyncio.gather(
        *(session(d, p, think, i * stagger) for i, (d, p) in enumerate(zip(drivers, points, strict=True)))
    )
    await settle(emulator)
    stats = RoundStats(list(sessions), real_calls(emulator.calls[c0:]), proc.cpu() - cpu0, time.monotonic() - t0)
    stats.cpu_main = proc.cpu(tree=False) - main0
    stats.harbor = Counter(_harbor_kind(r) for r in world.simulator.requests[h0:])
    cut(emulator, TOKEN, stats)
    return stats


def _harbor_kind(request: Any) -> str:
    return "token" if "token" in request.path.split("/")[-1] else request.method


async def start(
    world: World, target: Target, tree: Path, mode: str, db: str, *, small_keys: bool = False, **kw: Any
) -> BotProcess:
    config = world.config(target, db)
    if small_keys:  # KEY_INCLUDE_SDK_TOKEN=false: keys without Harbor's SDK token (a small QR)
        config["key_include_sdk_token"] = False
    proc = await BotProcess.spawn(
        tree if mode == "bot" else REPO, mode, config, log=world.logs / f"{target.name}.log", **kw
    )
    await proc.ready()
    await settle(target.emulator)
    target.proc = proc
    return proc


async def watch_round(world: World, proc: BotProcess) -> tuple[int, Counter[str]]:
    h0 = len(world.simulator.requests)
    await proc.watch()
    paths = Counter(r.path for r in world.simulator.requests[h0:])
    return sum(paths.values()), paths


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"tree": str(args.tree), "users": args.users, "rounds": args.rounds}
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-load-")))
        world = await make_world(stack, tmp)
        world.logs = args.logs
        args.logs.mkdir(parents=True, exist_ok=True)
        for old in args.logs.glob("*.log"):
            old.unlink()
        targets = {name: await world.emulator(name) for name in (BOT, BARE, NOLIM)}
        db = (
            stack.enter_context(fresh_database(args.bot_on_postgres))
            if args.bot_on_postgres
            else f"sqlite:///{tmp}/bot.sqlite3"
        )
        out["bot_database"] = "postgresql" if args.bot_on_postgres else "sqlite"
        bot = await start(world, targets[BOT], args.tree, "bot", db, small_keys=args.small_keys)
        out["rss_start"] = {BOT: bot.rss(), BOT + " (with workers)": bot.rss(tree=True)}
        out["ready_s"] = {BOT: bot.ready_after}
        rounds: dict[str, list[RoundStats]] = {BOT: [], BARE: [], NOLIM: []}
        next_user = 100_000
        try:
            for r in range(args.rounds):
                for name in (BOT, BARE, NOLIM):
                    if r == 0 and name != BOT:
                        script = tmp / "script.json"
                        script.write_text(json.dumps(rounds[BOT][0].script()))
                        proc = await start(
                            world, targets[name], REPO, "bare", "sqlite://", script=script, limiter=name == BARE
                        )
                        out["rss_start"][name] = proc.rss()
                        out["ready_s"][name] = proc.ready_after
                    users = list(range(next_user, next_user + args.users))
                    next_user += args.users
                    stats = await run_round(world, targets[name], users, args.think)
                    rounds[name].append(stats)
                    _progress(r, name, stats)
                    if r == 0 and name == BOT:
                        out["watch_first"] = (stats.completed, *await _watch(world, bot, stats))
            out["rounds"] = {name: [_summary(s) for s in rs] for name, rs in rounds.items()}
            out["steps"] = {name: [dict(c) for c in rs[0].methods_per_step()] for name, rs in rounds.items()}
            out["harbor_per_dropoff"] = {
                k: v / args.users for k, v in sum((s.harbor for s in rounds[BOT]), Counter()).items()
            }
            out["harbor_per_dropoff"]["all"] = sum(out["harbor_per_dropoff"].values()) / args.rounds
            for k in list(out["harbor_per_dropoff"]):
                if k != "all":
                    out["harbor_per_dropoff"][k] /= args.rounds
            # top up to --watch-deliveries open deliveries, then one watch round
            open_now = sum(s.completed for s in rounds[BOT])
            if open_now < args.watch_deliveries:
                extra = list(range(next_user, next_user + args.watch_deliveries - open_now))
                next_user += len(extra)
                fill = await run_round(world, targets[BOT], extra, 0.0)
                open_now += fill.completed
            out["watch"] = (open_now, *await _watch(world, bot, None))
            out["flows"] = await handover_and_pickup(world, targets[BOT], next_user)
            out["rss_end"] = {BOT: bot.rss(), BOT + " (with workers)": bot.rss(tree=True)}
            for name in (BARE, NOLIM):
                proc = targets[name].proc
                if proc is not None:
                    out["rss_end"][name] = proc.rss()
        finally:
            for target in targets.values():
                if target.proc is not None:
                    await target.proc.stop()
        out["history"] = await history.measure(world, args.tree, args.database_url, args.history_users,
                                               args.history_deliveries)  # fmt: skip
    return out


async def _watch(world: World, proc: BotProcess, stats: RoundStats | None) -> tuple[int, int]:
    calls, paths = await watch_round(world, proc)
    towers = len({_tower(p) for p in paths} - {None})
    return calls, towers


def _tower(path: str) -> str | None:
    parts = path.strip("/").split("/")
    return parts[parts.index("towers") + 1] if "towers" in parts[:-1] else None


def _progress(r: int, name: str, s: RoundStats) -> None:
    lat = s.latencies()
    print(
        f"  round {r + 1} {name:13} {s.completed}/{len(s.sessions)} done, {s.updates} updates in {s.seconds:.1f} s, "
        f"CPU {s.cpu_per_update_ms:.1f} ms/update, {s.calls_per_dropoff:.1f} calls/drop-off, "
        f"p50 {percentile(lat, 0.5):.2f} s p99 {percentile(lat, 0.99):.2f} s",
        file=sys.stderr,
        flush=True,
    )
    errors = [x.error for x in s.sessions if x.error]
    if errors:
        print(f"    {len(errors)} sessions failed, e.g. {errors[0]}", file=sys.stderr)


def _summary(s: RoundStats) -> dict[str, float]:
    lat = s.latencies()
    return {
        "cpu_ms": s.cpu_per_update_ms,
        "cpu_main_ms": 1000 * s.cpu_main / max(1, s.updates),
        "p50": percentile(lat, 0.5),
        "p99": percentile(lat, 0.99),
        "calls": s.calls_per_dropoff,
        "done": s.completed / max(1, len(s.sessions)),
    }


def report(out: dict[str, Any]) -> str:
    from bench.report import render

    return render(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--think", type=float, default=0.4, help="seconds between an answer and the next tap")
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout whose bot is measured")
    parser.add_argument("--database-url", help="also seed and start on this (PostgreSQL) database; it is WIPED")
    parser.add_argument(
        "--bot-on-postgres",
        metavar="SERVER_URL",
        help="run the measured bot on a new database on this PostgreSQL server (dropped after), not SQLite",
    )
    parser.add_argument("--small-keys", action="store_true", help="the bot with KEY_INCLUDE_SDK_TOKEN=false")
    parser.add_argument("--watch-deliveries", type=int, default=200)
    parser.add_argument("--history-users", type=int, default=10_000)
    parser.add_argument("--history-deliveries", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "bench-load-logs")
    args = parser.parse_args()
    args.tree = args.tree.resolve()
    started = time.monotonic()
    out = asyncio.run(bench(args))
    out["wall_s"] = time.monotonic() - started
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    print(report(out))


if __name__ == "__main__":
    main()
