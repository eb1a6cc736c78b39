"""`python -m sandbox.cluster --processes 2 --database-url postgresql+psycopg://...`: the many-process
topology on this machine, in one command.

It starts the Harbor simulator, the Telegram emulator (accepting an http webhook on loopback), N real
`python -m bot web` processes on the given PostgreSQL database (one after another: the first migrates it)
and the round-robin balancer in front of them; registers `{balancer}/telegram` as the webhook with a
fresh secret, as `python -m bot set-webhook` would; then prints how to drive it: the emulator's control
API (sandbox/telegram_control.py) and the simulator's `/_sim/` hooks as curl lines, and the console
command that attaches to it. Ctrl-C (or SIGTERM, or `--stop-after`) stops the bots with SIGTERM, then
the servers, and exits 0.

The bots read every other setting from the environment as usual (KEY_MODE=link, ADMIN_IDS=1, ...);
the cluster sets only what wires them to the stand-ins. Their logs go to one file per process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from sqlalchemy.engine import make_url

from sandbox.balancer import RoundRobinBalancer
from sandbox.harbor import DEFAULT_CLIENTS, TOKEN_PATH, HarborSimulator, create_app
from sandbox.serving import serve_app
from sandbox.telegram import DEFAULT_TOKEN, TelegramEmulator, control_help

BOT_USERNAME = "harbor_test_bot"
START_SECONDS = 60.0  # for one `web` process to answer /healthz (it migrates the database first)
STOP_SECONDS = 15.0  # for one to finish its updates in hand after SIGTERM, before SIGKILL
ALLOWED_UPDATES = ["message", "callback_query"]  # what `python -m bot set-webhook` asks for

Out = Callable[[str], None]


class ClusterError(Exception):
    """The cluster could not start; the text says why in one sentence."""


@dataclass
class Running:
    """What is up: the roots of the stand-ins and the balancer, and the bot processes."""

    telegram: str
    harbor: str
    balancer: str
    bots: list[str] = field(default_factory=list)
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_environment(
    base: dict[str, str], *, telegram: str, harbor: str, database_url: str, secret: str, processes: int, token: str
) -> dict[str, str]:
    """The environment of each `web` process: the caller's, wired to the stand-ins."""
    client_id, client_secret = next(iter(DEFAULT_CLIENTS.items()))
    env = {**base}
    env.setdefault("LOCKER_POLL_SECONDS", "3")  # a used key is noticed within seconds, not 15
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_URL": telegram,
            "HARBOR_ENV": "sandbox",
            "HARBOR_API_URL": harbor,
            "HARBOR_TOKEN_URL": harbor + TOKEN_PATH,
            "HARBOR_CLIENT_ID": client_id,
            "HARBOR_CLIENT_SECRET": client_secret,
            "DATABASE_URL": database_url,
            "TELEGRAM_WEBHOOK_SECRET": secret,
            "HOST": "127.0.0.1",
            "BOT_PROCESSES": str(processes),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


async def _start_bot(env: dict[str, str], port: int, log: IO[bytes]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "web", env={**env, "PORT": str(port)}, stdout=log, stderr=log,
        stdin=asyncio.subprocess.DEVNULL, start_new_session=True,  # Ctrl-C reaches the cluster, which stops it
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=2) as client:
        try:
            async with asyncio.timeout(START_SECONDS):
                while process.returncode is None:
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get(f"{root}/healthz")).status_code == 200:
                            return process
                    await asyncio.sleep(0.2)  # polling a starting process: nothing to wait on instead
        except TimeoutError:
            await _stop_bot(process)
            raise ClusterError(
                f"`python -m bot web` on port {port} did not answer within {START_SECONDS:g} s"
            ) from None
    raise ClusterError(f"`python -m bot web` on port {port} exited with code {process.returncode}")


async def _stop_bot(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        async with asyncio.timeout(STOP_SECONDS):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()


async def _set_webhook(telegram: str, token: str, url: str, secret: str) -> None:
    async with httpx.AsyncClient(base_url=f"{telegram}/bot{token}", timeout=10) as api:
        body = {"url": url, "secret_token": secret, "allowed_updates": ALLOWED_UPDATES}
        answer = (await api.post("/setWebhook", json=body)).json()
    if not answer.get("ok"):
        raise ClusterError(f"the emulator refused the webhook {url}: {answer.get('description')}")


def how_to_drive(running: Running) -> list[str]:
    harbor = running.harbor
    post = f"curl -s -X POST {harbor}/_sim"
    return [
        "Drive it as a person would (user 1; any user_id plays another person):",
        *control_help(running.telegram),
        "  at the tower:   the key is the QR in the chat (`qr` in /_sandbox/chat); the phone app relays it:",
        f'                  {post}/use-token -d \'{{"payload": "...", "payload_auth": "...", "sdk_token": "..."}}\'',
        f'  Locker Open:    (KEY_MODE=link) {post}/open-link -d \'{{"url": "<the Open locker button\'s url>"}}\'',
        "Or by hand in a terminal:",
        f"  python -m bot console --attach {running.telegram} --harbor {harbor}",
    ]


async def run_cluster(
    *,
    processes: int,
    database_url: str,
    out: Out,
    stop: asyncio.Event,
    telegram_port: int = 0,
    harbor_port: int = 0,
    balancer_port: int = 0,
    log_dir: Path | None = None,
    token: str = DEFAULT_TOKEN,
    environ: dict[str, str] | None = None,
) -> int:
    """Start everything, print how to drive it, wait for ``stop``, stop everything; 0, or 1 with a sentence."""
    emulator = TelegramEmulator(allow_insecure_webhooks=True, webhook_retry_delay=0.5)
    emulator.add_bot(token, username=BOT_USERNAME)
    simulator = HarborSimulator()
    logs = log_dir or Path(tempfile.mkdtemp(prefix="harbor-cluster-"))
    logs.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        try:
            telegram = await stack.enter_async_context(serve_app(emulator.app, port=telegram_port))
            emulator.root = telegram
            stack.push_async_callback(emulator.aclose)  # webhook deliveries end before the server does
            harbor = await stack.enter_async_context(serve_app(create_app(simulator), port=harbor_port))
            stack.push_async_callback(simulator.webhooks.aclose)
        except OSError as exc:
            out(f"harbor-bot cluster cannot start: {exc} (is another one running? choose other ports)")
            return 1
        secret = secrets.token_urlsafe(32)
        env = bot_environment(
            dict(os.environ if environ is None else environ),
            telegram=telegram,
            harbor=harbor,
            database_url=database_url,
            secret=secret,
            processes=processes,
            token=token,
        )
        ports = [_free_port() for _ in range(processes)]
        running = Running(telegram, harbor, "")
        try:
            for number, port in enumerate(ports, start=1):
                path = logs / f"web-{number}.log"
                log = stack.enter_context(path.open("ab"))
                out(f"starting `python -m bot web` {number} of {processes} on port {port} (log: {path})")
                process = await _start_bot(env, port, log)
                stack.push_async_callback(_stop_bot, process)
                running.processes.append(process)
                running.bots.append(f"http://127.0.0.1:{port}")
                running.logs.append(path)
            balancer = RoundRobinBalancer(running.bots)
            stack.push_async_callback(balancer.aclose)
            running.balancer = await stack.enter_async_context(serve_app(balancer.app, port=balancer_port))
            await _set_webhook(telegram, token, f"{running.balancer}/telegram", secret)
        except ClusterError as exc:
            out(f"harbor-bot cluster cannot start: {exc} (see {logs})")
            return 1
        except OSError as exc:
            out(f"harbor-bot cluster cannot start: {exc}")
            return 1
        _banner(out, running, database_url, token)
        watchers = [asyncio.create_task(_exited(p, n, out)) for n, p in enumerate(running.processes, start=1)]
        try:
            await stop.wait()
        finally:
            for watcher in watchers:
                watcher.cancel()
            out("stopping: the bots first (SIGTERM), then the balancer, Harbor and Telegram")
    out("stopped")
    return 0


async def _exited(process: asyncio.subprocess.Process, number: int, out: Out) -> None:
    code = await process.wait()
    out(f"`web` {number} exited with code {code}; the balancer's 502 makes Telegram retry on another process")


def _banner(out: Out, running: Running, database_url: str, token: str) -> None:
    shown = make_url(database_url).render_as_string(hide_password=True)
    out(f"harbor-bot cluster: {len(running.bots)} `python -m bot web` processes on {shown}")
    out(f"  Telegram emulator  {running.telegram}  (bot @{BOT_USERNAME}, token {token})")
    out(f"  Harbor simulator   {running.harbor}  (test hooks under /_sim/)")
    out(f"  balancer           {running.balancer} -> {', '.join(running.bots)}")
    out(f"  webhook            {running.balancer}/telegram, registered with a fresh secret")
    out(f"  logs               {', '.join(str(p) for p in running.logs)}")
    for line in how_to_drive(running):
        out(line)
    out("Ctrl-C stops all of it.")
    # One line for scripts (and the tests) to read the addresses from.
    out(f"ready telegram={running.telegram} harbor={running.harbor} balancer={running.balancer}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.cluster",
        description="The many-process bot on this machine: the Harbor simulator, the Telegram emulator, N "
        "`python -m bot web` processes on one PostgreSQL database behind a round-robin balancer, and the webhook "
        "registered. Other settings (KEY_MODE, ADMIN_IDS, ...) come from the environment as for `web`.",
    )
    parser.add_argument("--processes", type=int, default=2, help="how many `web` processes (default 2)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="the PostgreSQL database they share, postgresql+psycopg://... (default: DATABASE_URL)",
    )
    parser.add_argument("--telegram-port", type=int, default=8081, help="the emulator's port (default 8081; 0: any)")
    parser.add_argument("--harbor-port", type=int, default=8700, help="the simulator's port (default 8700; 0: any)")
    parser.add_argument("--balancer-port", type=int, default=8090, help="the balancer's port (default 8090; 0: any)")
    parser.add_argument("--log-dir", type=Path, help="where each process's log goes (default: a new temporary dir)")
    parser.add_argument("--stop-after", type=float, help="stop by itself after this many seconds")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if not args.database_url or not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a PostgreSQL URL (postgresql+psycopg://...): many processes need it")

    def out(line: str) -> None:
        print(line, flush=True)

    async def session() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if args.stop_after is not None:
            loop.call_later(args.stop_after, stop.set)
        return await run_cluster(
            processes=args.processes,
            database_url=args.database_url,
            out=out,
            stop=stop,
            telegram_port=args.telegram_port,
            harbor_port=args.harbor_port,
            balancer_port=args.balancer_port,
            log_dir=args.log_dir,
        )

    return asyncio.run(session())


if __name__ == "__main__":
    raise SystemExit(main())
