"""A real `python -m bot web` process for the tests that need one (kill -9, signals, the raw web
surface): a free port, its environment against the emulator and the simulator, started and waited for
until it answers, stopped with SIGTERM (SIGKILL if it will not go); and `web_cluster`, several of them
behind a balancer."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import IO

import httpx

from sandbox.balancer import RoundRobinBalancer
from sandbox.harbor import TOKEN_PATH, HarborSimulator, create_app
from sandbox.telegram import TelegramEmulator
from tests.flows.cluster import SECRET, set_webhook
from tests.flows.harness import BOT_USERNAME, CLIENT_ID, CLIENT_SECRET, TOKEN
from tests.sandbox.telegram_fixtures import serve_app

Output = int | IO[bytes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_env(tg_root: str, harbor_root: str, database_url: str, webhook_secret: str, **settings: str) -> dict[str, str]:
    """The environment of a `web` process against the emulator at `tg_root` and the simulator at
    `harbor_root`; the caller's own HARBOR_*/TELEGRAM_* variables are left out, `settings` added."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HARBOR_", "TELEGRAM_"))},
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": tg_root,
        "HARBOR_ENV": "sandbox",
        "HARBOR_API_URL": harbor_root,
        "HARBOR_TOKEN_URL": harbor_root + TOKEN_PATH,
        "HARBOR_CLIENT_ID": CLIENT_ID,
        "HARBOR_CLIENT_SECRET": CLIENT_SECRET,
        "DATABASE_URL": database_url,
        "TELEGRAM_WEBHOOK_SECRET": webhook_secret,
        "HOST": "127.0.0.1",
        **settings,
    }


async def start_web(
    env: dict[str, str],
    port: int,
    *,
    stdout: Output = asyncio.subprocess.DEVNULL,
    stderr: Output = asyncio.subprocess.DEVNULL,
    own_group: bool = False,
    ready_within: float = 30,
) -> asyncio.subprocess.Process:
    """Starts `python -m bot web` on `port` and returns once its /healthz answers 200. `own_group`: a
    process group of its own, as a terminal's foreground job (for a SIGINT to the group)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "web", env={**env, "PORT": str(port)},
        stdout=stdout, stderr=stderr, start_new_session=own_group,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient() as client, asyncio.timeout(ready_within):
            while True:
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        return process
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
    except BaseException:
        await stop(process)
        raise


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, and SIGKILL if it has not exited within 10 seconds."""
    if process.returncode is None:
        process.terminate()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


@dataclass
class WebCluster:
    """`web` processes behind a round-robin balancer that the emulator's webhook points at."""

    emulator: TelegramEmulator
    simulator: HarborSimulator
    harbor_root: str
    env: dict[str, str]
    ports: list[int]
    processes: list[asyncio.subprocess.Process]
    balancer: RoundRobinBalancer
    _stack: AsyncExitStack

    async def restart(self, index: int) -> asyncio.subprocess.Process:
        """A new process on the port of process `index` (which is gone); stopped with the others."""
        process = await start_web(self.env, self.ports[index])
        self._stack.push_async_callback(stop, process)
        return process


@asynccontextmanager
async def web_cluster(database_url: str, processes: int = 2, **settings: str) -> AsyncIterator[WebCluster]:
    emulator = TelegramEmulator(allow_insecure_webhooks=True, webhook_retry_delay=0.05)
    emulator.add_bot(TOKEN, username=BOT_USERNAME)
    simulator = HarborSimulator(rng_seed=7)
    async with AsyncExitStack() as stack:
        tg_root = await stack.enter_async_context(serve_app(emulator.app))
        harbor_root = await stack.enter_async_context(serve_app(create_app(simulator)))
        env = web_env(tg_root, harbor_root, database_url, SECRET, BOT_PROCESSES=str(processes), **settings)
        ports = [free_port() for _ in range(processes)]
        started = []
        for port in ports:  # one at a time: the first migrates the database, the next find it done
            started.append(await start_web(env, port))
            stack.push_async_callback(stop, started[-1])
        balancer = RoundRobinBalancer([f"http://127.0.0.1:{p}" for p in ports])
        stack.push_async_callback(balancer.aclose)
        balancer_root = await stack.enter_async_context(serve_app(balancer.app))
        await set_webhook(tg_root, f"{balancer_root}/telegram")
        stack.push_async_callback(emulator.aclose)
        yield WebCluster(emulator, simulator, harbor_root, env, ports, started, balancer, stack)
