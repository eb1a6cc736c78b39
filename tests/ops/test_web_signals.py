"""A real `python -m bot web` stops on Ctrl-C (SIGINT to its whole process group, as a terminal sends
it) and on SIGTERM: the updates in hand finish, the exit code is 0, and its
stderr holds no traceback."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from sandbox.harbor import HarborSimulator, create_app
from sandbox.telegram import TelegramEmulator
from tests.flows.cluster import SECRET, set_webhook
from tests.flows.harness import BOT_USERNAME, SF, TOKEN
from tests.sandbox.telegram_fixtures import serve_app
from tests.web_process import free_port, start_web, stop, web_env


@asynccontextmanager
async def web_process(
    tmp_path: Path, emulator: TelegramEmulator
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    """`python -m bot web` (its own process group) against the emulator and a simulator; yields it and
    the file its stderr goes to."""
    simulator = HarborSimulator(rng_seed=7)
    async with AsyncExitStack() as stack:
        tg_root = await stack.enter_async_context(serve_app(emulator.app))
        harbor_root = await stack.enter_async_context(serve_app(create_app(simulator)))
        port = free_port()
        env = web_env(tg_root, harbor_root, f"sqlite:///{tmp_path / 'bot.sqlite3'}", SECRET, TELEGRAM_CHAT_RATE="50")
        stderr_path = tmp_path / "stderr.txt"
        with stderr_path.open("wb") as stderr:
            process = await start_web(env, port, stderr=stderr, own_group=True, ready_within=60)
        try:
            await set_webhook(tg_root, f"http://127.0.0.1:{port}/telegram")
            yield process, stderr_path
        finally:
            await stop(process)
            await emulator.aclose()


def emulator() -> TelegramEmulator:
    tg = TelegramEmulator(allow_insecure_webhooks=True, webhook_retry_delay=0.05)
    tg.add_bot(TOKEN, username=BOT_USERNAME)
    return tg


async def test_ctrl_c_after_a_key_was_drawn_stops_web_without_a_traceback(tmp_path: Path) -> None:
    tg = emulator()
    async with web_process(tmp_path, tg) as (process, stderr):
        alice = tg.user(101, "Alice", bot_token=TOKEN)
        await alice.command("dropoff")
        await alice.wait_for("where are you", timeout=20)
        await alice.share_location(*SF)
        await alice.wait_for("free lockers within", timeout=20)
        await alice.press("Civic Center")
        await alice.press("small", await alice.wait_for("which locker size", timeout=20))
        await alice.press("key", await alice.wait_for("is held for you", timeout=20), timeout=20)
        await alice.wait_for(lambda m: m.photo is not None, timeout=30)  # the QR render thread is running

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        async with asyncio.timeout(30):
            code = await process.wait()
    errors = stderr.read_text()
    assert code == 0, errors
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors
    assert "Application shutdown complete" in errors  # it stopped the bot properly, hooks and all


async def test_sigterm_stops_web_without_a_traceback(tmp_path: Path) -> None:
    async with web_process(tmp_path, emulator()) as (process, stderr):
        process.terminate()
        async with asyncio.timeout(30):
            code = await process.wait()
    errors = stderr.read_text()
    assert code == 0, errors
    assert "Traceback" not in errors, errors
    assert "Application shutdown complete" in errors
