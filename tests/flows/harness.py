"""The world an end-to-end test runs in: the real PTB Application of the bot, talking HTTP to the
Telegram emulator and (through the Harbor client) to the Harbor simulator, on a real database.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import zxingcpp
from PIL import Image
from telegram.ext import Application

from bot.app import Overrides, build_application
from bot.config import Settings
from bot.harbor.factory import connect_harbor
from bot.keys import LockerKey
from sandbox.harbor import DEFAULT_CLIENTS, TOKEN_PATH, HarborSimulator, create_app
from sandbox.telegram import TelegramEmulator
from sandbox.telegram_driver import ChatMessage, UserDriver
from tests.sandbox.telegram_fixtures import serve_app, serve_emulator

TOKEN = "123456:TEST-TOKEN"
BOT_USERNAME = "harbor_test_bot"
ADMIN_ID = 900
SF = (37.7793, -122.4193)
AUSTIN = (30.2672, -97.7431)
CLIENT_ID, CLIENT_SECRET = next(iter(DEFAULT_CLIENTS.items()))


def decode_qr(message: ChatMessage) -> str:
    """The text of the one QR code in a photo the user received."""
    assert message.photo is not None, f"expected a photo, got {message.describe()}"
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(message.photo)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1, f"expected one QR code, found {len(results)}"
    return results[0].text


def decode_key(message: ChatMessage) -> LockerKey:
    """Read the QR in a photo the user received, as their phone app would."""
    assert message.photo is not None, f"expected a photo, got {message.describe()}"
    # QR only, as the phone app reads: an all-formats scan finds a stray EAN/DataBar in ~1% of QR images.
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(message.photo)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1, f"expected one QR code, found {len(results)}"
    return LockerKey.from_json(results[0].text)


@dataclass
class World:
    emulator: TelegramEmulator
    simulator: HarborSimulator
    settings: Settings
    harbor_root: str
    app: Application | None = None
    _stack: AsyncExitStack | None = None
    _users: dict[int, UserDriver] = field(default_factory=dict)
    # HarborClient options (timeouts, deadlines) for tests that make Harbor slow or absent.
    harbor_options: dict[str, Any] = field(default_factory=dict)

    # the bot -------------------------------------------------------------------------------

    async def start(self) -> Application:
        assert self.app is None
        harbor = connect_harbor(self.settings, **self.harbor_options) if self.harbor_options else None
        app = build_application(self.settings, Overrides(harbor=harbor))
        stack = AsyncExitStack()
        await app.initialize()
        stack.push_async_callback(app.shutdown)
        # run_polling() calls these hooks; a test drives the lifecycle itself, so it calls them too.
        assert app.post_init is not None and app.post_shutdown is not None
        await app.post_init(app)
        stack.push_async_callback(app.post_shutdown, app)
        await app.start()
        stack.push_async_callback(app.stop)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        stack.push_async_callback(app.updater.stop)
        self.app, self._stack = app, stack
        return app

    async def stop(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self.app, self._stack = None, None

    async def restart(self, **changes: Any) -> Application:
        """A new process on the same database (and the same Telegram and Harbor)."""
        await self.stop()
        if changes:
            self.settings = self.settings.model_copy(update=changes)
        return await self.start()

    async def deadlines(self) -> None:
        """One round of the deadlines (as the scheduler runs it every tick), and what it announces."""
        await self.services.deadlines.run_due()
        await self.services.notifier.deliver()

    async def watch(self) -> None:
        """One round of the locker watch, and what it announces."""
        await self.services.watch.poll()
        await self.services.notifier.deliver()

    async def tick(self) -> None:
        """One scheduler tick: the shared jobs that are due, then the outbox."""
        assert self.app is not None
        await self.app.bot_data["scheduler"].tick()

    @property
    def services(self) -> Any:
        assert self.app is not None
        return self.app.bot_data["services"]

    # people --------------------------------------------------------------------------------

    def user(self, user_id: int, first_name: str, *, username: str | None = None, lang: str = "en") -> UserDriver:
        if user_id not in self._users:
            self._users[user_id] = self.emulator.user(
                user_id, first_name, username=username, language_code=lang, bot_token=TOKEN
            )
        return self._users[user_id]

    # Harbor, as the tower and the phone see it -----------------------------------------------

    async def use_at_tower(self, key: LockerKey) -> httpx.Response:
        """The phone app relays the key to the tower over Bluetooth (simulator hook, over HTTP)."""
        async with httpx.AsyncClient(base_url=self.harbor_root) as client:
            body = {"payload": key.payload, "payload_auth": key.payload_auth}
            if key.sdk_token:
                body["sdk_token"] = key.sdk_token
            return await client.post("/_sim/use-token", json=body)

    async def open_link(self, url: str, outcome: str = "success") -> dict[str, Any]:
        """Locker Open's app clip opens a link at the tower (simulator hook); then, like the customer's
        phone, it opens the return page it was sent to. Returns the hook's answer plus `page`."""
        async with httpx.AsyncClient(base_url=self.harbor_root) as client:
            answer = await client.post("/_sim/open-link", json={"url": url, "outcome": outcome})
            assert answer.status_code == 200, answer.text
            opened: dict[str, Any] = answer.json()
            if opened.get("return_to"):
                opened["page"] = await client.get(opened["return_to"])
        return opened

    def harbor_requests(self, method: str, path_part: str) -> list[Any]:
        return [r for r in self.simulator.requests if r.method == method and path_part in r.path]


def sandbox_settings(tg_root: str, harbor_root: str, database_url: str, **settings: Any) -> Settings:
    """The bot's settings against the sandbox at these roots; `settings` win."""
    return Settings(
        telegram_bot_token=TOKEN,
        telegram_api_url=tg_root,
        harbor_env="sandbox",
        harbor_api_url=harbor_root,
        harbor_token_url=harbor_root + TOKEN_PATH,
        harbor_client_id=CLIENT_ID,
        harbor_client_secret=CLIENT_SECRET,
        database_url=database_url,
        admin_ids=frozenset({ADMIN_ID}),
        # The watch is run by hand (World.watch) so tests never wait for an interval, unless a test
        # asks for a real one (locker_poll_seconds=...). A chat's pace is Telegram's business, tested
        # with the limiter itself (tests/bot/test_ratelimit.py): here it must not slow every flow down.
        **{"locker_poll_seconds": 3600, "telegram_chat_rate": 50.0, **settings},
    )


@asynccontextmanager
async def world(
    database_url: str,
    *,
    harbor_options: dict[str, Any] | None = None,
    simulator: HarborSimulator | None = None,
    **settings: Any,
) -> AsyncIterator[World]:
    """`simulator`: a Harbor simulator of the test's own (another seed), instead of the bundled one."""
    emulator = TelegramEmulator()
    emulator.add_bot(TOKEN, username=BOT_USERNAME)
    simulator = simulator or HarborSimulator(rng_seed=7)
    # Both servers start and stop side by side: each takes ~0.15 s to notice it should exit.
    servers = (serve_emulator(emulator), serve_app(create_app(simulator)))
    tg_root, harbor_root = await asyncio.gather(*(server.__aenter__() for server in servers))
    try:
        config = sandbox_settings(tg_root, harbor_root, database_url, **settings)
        w = World(emulator, simulator, config, harbor_root, harbor_options=dict(harbor_options or {}))
        await w.start()
        try:
            yield w
        finally:
            await w.stop()
    finally:
        await asyncio.gather(*(server.__aexit__(None, None, None) for server in servers))
