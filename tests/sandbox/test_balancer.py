"""The round-robin balancer: alternates upstreams, forwards unchanged, answers 502 for a dead upstream,
and spreads Telegram webhook updates over several receivers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox.balancer import RoundRobinBalancer
from sandbox.telegram import TelegramEmulator
from tests.sandbox.telegram_fixtures import BotApi, serve_app
from tests.sandbox.webhook_fixtures import Receiver, closed_port

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_alternates_and_forwards_unchanged(http: httpx.AsyncClient) -> None:
    first, second = Receiver(), Receiver([201])
    async with serve_app(first.app) as one, serve_app(second.app) as two:
        balancer = RoundRobinBalancer([one, two])
        async with serve_app(balancer.app) as front:
            answers = [
                await http.post(f"{front}/hook?x=1", content=f"body {i}".encode(), headers={"X-Secret": f"s{i}"})
                for i in range(4)
            ]
        await balancer.aclose()
    assert [a.status_code for a in answers] == [200, 201, 200, 200]
    assert answers[0].json() == {"ok": True}
    assert [r.body for r in first.received] == [b"body 0", b"body 2"]
    assert [r.body for r in second.received] == [b"body 1", b"body 3"]
    assert [r.headers["x-secret"] for r in first.received + second.received] == ["s0", "s2", "s1", "s3"]
    assert {r.path for r in first.received + second.received} == {"/hook"}
    assert [f.upstream for f in balancer.forwarded] == [one, two, one, two]


async def test_dead_upstream_answers_502(http: httpx.AsyncClient) -> None:
    alive = Receiver()
    dead = f"http://127.0.0.1:{closed_port()}"
    async with serve_app(alive.app) as one:
        balancer = RoundRobinBalancer([dead, one])
        async with serve_app(balancer.app) as front:
            statuses = [(await http.post(f"{front}/hook", content=b"x")).status_code for _ in range(2)]
        await balancer.aclose()
    assert statuses == [502, 200]
    assert len(alive.received) == 1


async def test_telegram_updates_spread_over_bot_processes() -> None:
    emulator = TelegramEmulator(allow_insecure_webhooks=True, webhook_retry_delay=0.01)
    emulator.add_bot()
    api = BotApi(emulator)
    first, second = Receiver(), Receiver()
    try:
        async with serve_app(first.app) as one, serve_app(second.app) as two:
            balancer = RoundRobinBalancer([one, two])
            async with serve_app(balancer.app) as front:
                await api.ok("setWebhook", url=f"{front}/telegram", secret_token="tok")
                user = emulator.user(7, "Ann")
                for text in ("a", "b", "c", "d"):
                    await user.send_text(text)
                async with asyncio.timeout(5):
                    await emulator.webhook_idle()
            await balancer.aclose()
    finally:
        await api.aclose()
        await emulator.aclose()
    assert [r.json["message"]["text"] for r in first.received] == ["a", "c"]
    assert [r.json["message"]["text"] for r in second.received] == ["b", "d"]
    assert all(r.headers["x-telegram-bot-api-secret-token"] == "tok" for r in first.received + second.received)
