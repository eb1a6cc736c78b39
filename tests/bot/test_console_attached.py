"""`python -m bot console --attach URL --harbor URL`: the console as a person at a sandbox that runs
elsewhere. Here the "elsewhere" is the emulator and the simulator served over real HTTP with the bot
polling them; the console reaches them only over HTTP, as it reaches `python -m sandbox.cluster`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from bot.console.setup import BOT_USERNAME, TOKEN, console_settings, in_process_bot
from bot.console.terminal import run_attached
from sandbox.harbor import HarborSimulator, create_app
from sandbox.serving import serve_app
from sandbox.telegram import TelegramEmulator
from tests.bot.test_console import FAST_WATCH, SF_TEXT, Screen, read_drawing


@contextlib.asynccontextmanager
async def sandbox_elsewhere(database_url: str, **settings: object) -> AsyncIterator[tuple[str, str]]:
    emulator = TelegramEmulator()
    emulator.add_bot(TOKEN, username=BOT_USERNAME)
    simulator = HarborSimulator()
    async with contextlib.AsyncExitStack() as stack:
        telegram = await stack.enter_async_context(serve_app(emulator.app))
        stack.push_async_callback(emulator.aclose)
        harbor = await stack.enter_async_context(serve_app(create_app(simulator)))
        config, tmp = console_settings(emulator.root, database_url=database_url, **FAST_WATCH, **settings)
        assert tmp is None
        await stack.enter_async_context(in_process_bot(config, emulator, simulator, poll_seconds=1))
        yield telegram, harbor


async def test_an_attached_console_walks_a_drop_off_and_a_handover(database_url: str) -> None:
    screen = Screen()

    async def person() -> AsyncIterator[str]:
        yield "/start"
        await screen.wait_for("What would you like to do?")
        yield "/dropoff"
        await screen.wait_for("Share my location")
        yield f"/loc {SF_TEXT}"
        await screen.wait_for("Free lockers within")
        yield screen.number("Civic Center")
        await screen.wait_for("Which locker size")
        yield screen.number("small")
        await screen.wait_for("is held for you")
        mark = len(screen.blocks)
        yield screen.number("drop-off key")
        await screen.wait_for("/use uses it at the tower", mark)
        [drawing] = screen.qr_drawings()
        assert '"kind":"dropoff"' in read_drawing(drawing)  # within 80 columns, and it scans
        mark = len(screen.blocks)
        yield "/use"
        await screen.wait_for("Your item is in locker", mark)
        assert "you put the item in and closed the door" in screen.since(mark)
        await screen.wait_for("bot deleted: the dropoff key", mark)

        yield screen.number("pickup link")
        link = (await screen.wait_for("https://t.me/")).split("https://t.me/")[-1].split()[0]
        yield "/as 2 Bob"
        mark = len(screen.blocks)
        yield f"t.me/{link}"
        await screen.wait_for("An item is waiting for you", mark)
        await screen.wait_for("You (id 1) has 1 new message: /as 1", mark)
        yield screen.number("pickup key")
        await screen.wait_for("key: pickup")
        mark = len(screen.blocks)
        yield "/use"
        await screen.wait_for("Collected from locker", mark)
        yield "/as 1"
        await screen.wait_for("is complete", mark)

    async with sandbox_elsewhere(database_url) as (telegram, harbor):
        code = await run_attached(person(), screen, telegram, harbor, user_name="You")
    assert code == 0
    assert "that did not work" not in screen.text and screen.blocks[-1] == "-- bye"


async def test_attaching_to_nothing_says_so_in_one_sentence() -> None:
    with pytest.raises(ConnectionError, match=r"^no Telegram emulator answers at http://127\.0\.0\.1:9"):
        await run_attached([], Screen(), "http://127.0.0.1:9", "http://127.0.0.1:9")
