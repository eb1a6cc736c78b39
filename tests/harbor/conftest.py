"""The Harbor client against the sandbox simulator, in process (httpx.ASGITransport).

`FakeTime` is the client's monotonic clock and sleep: backoff waits and token lifetimes pass instantly.
Tests that need a real per-attempt timeout (stalls) pass `real_time=True` with sub-second timeouts.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.harbor import HarborClient
from sandbox.harbor import DEFAULT_CLIENTS, TOKEN_PATH, Clock, HarborSimulator, create_app

API_URL = "http://harbor.test"
TOKEN_URL = API_URL + TOKEN_PATH
CLIENT_ID, CLIENT_SECRET = next(iter(DEFAULT_CLIENTS.items()))
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# Seed facts the tests rely on (sandbox/seed.json).
TOWER = "010000000000001a"  # Civic Center, lockers 1001..1024
FREE_LOCKER = 1001
CIVIC_CENTER = 101


class FakeTime:
    """Monotonic clock + sleep for the client: sleeping advances the clock, never waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Faulty(httpx.AsyncBaseTransport):
    """Wraps the simulator's transport to add what it cannot: connection-level failures, or a rewrite
    of Harbor's JSON answers (to exercise tolerant parsing). Everything else is the simulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.connect_errors = 0  # the next N requests fail before anything is sent
        self.read_errors_after_send = 0  # the next N requests reach Harbor, then the connection drops
        self.rewrite: Callable[[httpx.Request, Any], Any] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.connect_errors:
            self.connect_errors -= 1
            raise httpx.ConnectError("connection refused", request=request)
        response = await self.inner.handle_async_request(request)
        if self.read_errors_after_send:
            self.read_errors_after_send -= 1
            raise httpx.ReadError("connection reset by peer", request=request)
        if self.rewrite is not None and response.headers.get("content-type", "").startswith("application/json"):
            body = json.loads(await response.aread())
            body = self.rewrite(request, body)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return httpx.Response(response.status_code, headers=headers, content=json.dumps(body).encode())
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def sim() -> HarborSimulator:
    return HarborSimulator(clock=Clock(start=START), rng_seed=20260302)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def faulty(sim: HarborSimulator) -> Faulty:
    return Faulty(httpx.ASGITransport(app=create_app(sim)))


@pytest.fixture
async def make_client(faulty: Faulty, fake_time: FakeTime) -> AsyncIterator[Callable[..., HarborClient]]:
    clients: list[HarborClient] = []

    def make(*, real_time: bool = False, secret: str = CLIENT_SECRET, client_id: str = CLIENT_ID,
             **options: Any) -> HarborClient:  # fmt: skip
        if not real_time:
            options.setdefault("monotonic", fake_time.monotonic)
            options.setdefault("sleep", fake_time.sleep)
        options.setdefault("rng", random.Random(7))
        client = HarborClient(
            api_url=API_URL,
            token_url=TOKEN_URL,
            client_id=client_id,
            client_secret=SecretStr(secret),
            transport=faulty,
            **options,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(make_client: Callable[..., HarborClient]) -> HarborClient:
    return make_client()


def token_requests(sim: HarborSimulator) -> int:
    return sum(1 for r in sim.requests if r.path == TOKEN_PATH)


def api_requests(sim: HarborSimulator, method: str, fragment: str) -> list[Any]:
    return [r for r in sim.requests if r.method == method and fragment in r.path]


def elapsed_since(start: float) -> float:
    return time.monotonic() - start


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built in these tests see no HARBOR_*/TELEGRAM_* variable from the developer's shell."""
    import os

    for name in list(os.environ):
        if name.startswith(("HARBOR_", "TELEGRAM_")):
            monkeypatch.delenv(name)
