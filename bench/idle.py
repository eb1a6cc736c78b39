"""Issue 18, target 2: what one idle bot process costs (CPU per second with nothing to do).

    python -m bench.idle [--seconds 30] [--runs 3] [--settle 5] [--tree DIR] [--database-url URL]

Each run starts a fresh database (a SQLite file; on `--database-url`'s server, a new database, dropped
afterwards) and one real bot process (bench/botproc.py: `bot.app.build_application` of `--tree`, long
polling its own Telegram emulator over loopback, the Harbor simulator behind it), waits `--settle`
seconds for its start-up work (the first watch round, the commands), then reads its CPU (process and
descendants, from /proc) over `--seconds` with nobody talking to it. Next to it, the floor: a bare
python-telegram-bot bot (bench/baseline.py with an empty script) polling the same way. Prints medians
over the runs, in ms of CPU per second.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

from bench.burst import fresh_database
from bench.procs import BotProcess
from bench.world import World, make_world

REPO = Path(__file__).resolve().parent.parent


async def idle_cpu(
    world: World, name: str, tree: Path, mode: str, database_url: str, args: argparse.Namespace
) -> float:
    """ms CPU per second of one fresh process left alone for `args.seconds`."""
    target = await world.emulator(f"{name}-{len(world.targets)}")
    script = None
    if mode == "bare":
        script = world.tmp / "empty-script.json"
        script.write_text("[]")
    proc = await BotProcess.spawn(
        tree if mode == "bot" else REPO,
        mode,
        world.config(target, database_url),
        log=world.logs / f"{name}.log",
        script=script,
    )
    try:
        await proc.ready()
        await asyncio.sleep(args.settle)
        before = proc.cpu()
        await asyncio.sleep(args.seconds)
        return 1000 * (proc.cpu() - before) / args.seconds
    finally:
        await proc.stop()


async def bench(args: argparse.Namespace) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-idle-")))
        world = await make_world(stack, tmp)
        world.logs = args.logs
        args.logs.mkdir(parents=True, exist_ok=True)
        backends = {"SQLite": None} | ({"PostgreSQL": args.database_url} if args.database_url else {})
        for run in range(args.runs):
            for label, server in backends.items():
                with fresh_database(server) as url:
                    value = await idle_cpu(world, f"bot-{label}", args.tree, "bot", url, args)
                figures.setdefault(f"bot, {label}", []).append(value)
                _progress(run, f"bot, {label}", value)
            value = await idle_cpu(world, "bare", REPO, "bare", "sqlite://", args)
            figures.setdefault("bare python-telegram-bot", []).append(value)
            _progress(run, "bare python-telegram-bot", value)
    return figures


def _progress(run: int, name: str, value: float) -> None:
    print(f"  run {run + 1} {name:26} {value:6.2f} ms CPU/s", file=sys.stderr, flush=True)


def report(figures: dict[str, list[float]], args: argparse.Namespace) -> str:
    lines = [f"idle CPU of one process, ms per second (median of {args.runs} x {args.seconds:g} s), tree {args.tree}:"]
    for name, values in figures.items():
        spread = ", ".join(f"{v:.2f}" for v in values)
        lines.append(f"  {name:26} {statistics.median(values):6.2f}   ({spread})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each idle process is measured")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after start before measuring")
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout whose bot is measured")
    parser.add_argument("--database-url", help="also measure on a new database on this PostgreSQL server")
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "bench-idle-logs")
    args = parser.parse_args()
    args.tree = args.tree.resolve()
    print(report(asyncio.run(bench(args)), args))


if __name__ == "__main__":
    main()
