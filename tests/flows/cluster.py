"""Several `web` bots on one PostgreSQL database behind a round-robin balancer (docs/design.md §8).

Each bot is a full python-telegram-bot Application with its own engine, scheduler and notifier,
served over HTTP by `bot.web`; Telegram's emulator pushes every update to the balancer, which hands
them to the bots in turn, so consecutive updates of one user land on different bots. Harbor's
simulator can push its §7 events to the balancer too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from telegram.ext import Application

from bot.app import Overrides, build_application
from bot.config import Settings
from bot.keys import LockerKey
from bot.web import create_web_app, start_application, stop_application
from sandbox.balancer import RoundRobinBalancer
from sandbox.harbor import HarborSimulator, create_app
from sandbox.telegram import TelegramEmulator
from sandbox.telegram_driver import UserDriver
from tests.flows.harness import BOT_USERNAME, TOKEN, sandbox_settings
from tests.sandbox.telegram_fixtures import serve_app

SECRET = "webhook-secret_123"
HARBOR_SECRET = "harbor-shared-secret"


@dataclass
class Cluster:
    emulator: TelegramEmulator
    simulator: HarborSimulator
    settings: Settings
    harbor_root: str
    balancer: RoundRobinBalancer
    balancer_root: str
    bots: list[Application] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    _users: dict[int, UserDriver] = field(default_factory=dict)

    def user(self, user_id: int, first_name: str, *, lang: str = "en") -> UserDriver:
        if user_id not in self._users:
            self._users[user_id] = self.emulator.user(user_id, first_name, language_code=lang, bot_token=TOKEN)
        return self._users[user_id]

    def services(self, index: int = 0) -> Any:
        return self.bots[index].bot_data["services"]

    async def watch(self, index: int) -> None:
        """A watch round in bot `index`, then its announcements."""
        await self.services(index).watch.poll()
        await self.services(index).notifier.deliver()

    async def use_at_tower(self, key: LockerKey) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.harbor_root) as client:
            body = {"payload": key.payload, "payload_auth": key.payload_auth, "sdk_token": key.sdk_token}
            return await client.post("/_sim/use-token", json={k: v for k, v in body.items() if v})

    def upstreams_used(self) -> set[str]:
        return {f.upstream for f in self.balancer.forwarded}


async def set_webhook(tg_root: str, url: str) -> None:
    """What `python -m bot set-webhook` does, against the emulator."""
    async with httpx.AsyncClient(base_url=f"{tg_root}/bot{TOKEN}") as api:
        answer = await api.post("/setWebhook", json={"url": url, "secret_token": SECRET})
        assert answer.json()["ok"], answer.text


@asynccontextmanager
async def cluster(
    database_url: str, *, bots: int = 2, duplicate_after: float | None = None, **settings: Any
) -> AsyncIterator[Cluster]:
    """`duplicate_after`: every update also goes to the next bot that many seconds later (see the balancer)."""
    emulator = TelegramEmulator(allow_insecure_webhooks=True, webhook_retry_delay=0.05)
    emulator.add_bot(TOKEN, username=BOT_USERNAME)
    simulator = HarborSimulator(rng_seed=7)
    async with AsyncExitStack() as stack:
        tg_root = await stack.enter_async_context(serve_app(emulator.app))
        harbor_root = await stack.enter_async_context(serve_app(create_app(simulator)))
        config = sandbox_settings(
            tg_root, harbor_root, database_url, telegram_webhook_secret=SECRET, bot_processes=bots, **settings
        )
        apps = [build_application(config, Overrides(polling=False)) for _ in range(bots)]
        roots = []
        for app in apps:
            await start_application(app)
            stack.push_async_callback(stop_application, app)
            roots.append(await stack.enter_async_context(serve_app(create_web_app(app))))
        balancer = RoundRobinBalancer([f"{root}" for root in roots], duplicate_after=duplicate_after)
        stack.push_async_callback(balancer.aclose)
        balancer_root = await stack.enter_async_context(serve_app(balancer.app))
        await set_webhook(tg_root, f"{balancer_root}/telegram")
        stack.push_async_callback(emulator.aclose)
        stack.push_async_callback(simulator.webhooks.aclose)
        yield Cluster(emulator, simulator, config, harbor_root, balancer, balancer_root, apps, roots)
        await asyncio.sleep(0)  # let the last deliveries settle before the servers go
