"""Issue 17 (optional part): an address that matches no Harbor location is geocoded (a local fake of
OpenStreetMap Nominatim here) and searched around; off by default; one request per interval across the
bot, a real User-Agent, every answer cached."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.config import ConfigError, load_settings
from sandbox.serving import serve_app
from sandbox.telegram_driver import ChatMessage, UserDriver
from tests.flows.harness import World, world

USER_AGENT = "harbor-bot-tests/1.0 (ops@example.org)"
INTERVAL = 0.3
# Market St in San Francisco, a few hundred metres from Civic Center; a street in Austin.
PLACES = {"market": ("37.7790", "-122.4150"), "lamar": ("30.2700", "-97.7530")}


@dataclass
class FakeNominatim:
    seen: list[tuple[float, str, str]] = field(default_factory=list)  # (when, q, user agent)

    async def search(self, request: Request) -> JSONResponse:
        q = request.query_params.get("q", "")
        self.seen.append((time.monotonic(), q, request.headers.get("user-agent", "")))
        assert request.query_params.get("format") == "jsonv2" and request.query_params.get("limit") == "1"
        for word, (lat, lon) in PLACES.items():
            if word in q.lower():
                return JSONResponse([{"lat": lat, "lon": lon, "display_name": q}])
        return JSONResponse([])


@pytest.fixture
async def geo(database_url: str) -> AsyncIterator[tuple[World, FakeNominatim]]:
    fake = FakeNominatim()
    async with serve_app(Starlette(routes=[Route("/search", fake.search)])) as root:
        settings = {
            "geocoder_url": f"{root}/search",
            "geocoder_user_agent": USER_AGENT,
            "geocoder_interval_seconds": INTERVAL,
        }
        async with world(database_url, **settings) as running:
            yield running, fake


async def typed(user: UserDriver, text: str, expect: str) -> ChatMessage:
    await user.command("dropoff")
    await user.wait_for("where are you")
    await user.send_text(text)
    return await user.wait_for(expect)


async def test_an_address_is_geocoded_searched_around_and_cached(geo: tuple[World, FakeNominatim]) -> None:
    w, fake = geo
    alice = w.user(101, "Alice")
    nearby = await typed(alice, "1455 Market Street", "free lockers within")
    assert "Civic Center" in nearby.buttons[0]
    assert [(q, agent) for _, q, agent in fake.seen] == [("1455 Market Street", USER_AGENT)]
    assert any("looked for lockers around that address" in (m.content or "") for m in alice.bot_messages)

    # The same address again (any spelling of case and spaces): from the cache, not the geocoder.
    await typed(alice, "1455  MARKET street", "free lockers within")
    assert len(fake.seen) == 1

    # Not found is an answer too, cached as well.
    await typed(alice, "42 Nowhere Lane", "no locker location matching")
    await typed(alice, "42 nowhere lane", "no locker location matching")
    assert [q for _, q, _ in fake.seen] == ["1455 Market Street", "42 Nowhere Lane"]


async def test_one_request_per_interval_across_the_bot(geo: tuple[World, FakeNominatim]) -> None:
    w, fake = geo
    people = [w.user(101 + n, f"P{n}") for n in range(3)]
    await typed(people[0], "austin", "matching")  # the list of locations is in (the first search walks it)
    await asyncio.gather(
        *(typed(p, f"{n + 1} Lamar Blvd", "free lockers within") for n, p in enumerate(people)),
    )
    times = sorted(when for when, _, _ in fake.seen)
    assert len(times) == 3
    # Without the gate all three would arrive within milliseconds; with it each waits its turn (what the
    # gate spaces is the sending, so the arrivals carry the network's jitter: half a turn is allowed for it).
    assert all(later - earlier >= INTERVAL / 2 for earlier, later in itertools.pairwise(times)), times
    assert times[-1] - times[0] >= 1.5 * INTERVAL, times


async def test_off_by_default(w: World) -> None:
    assert w.services.directory.geocoder is None
    alice = w.user(101, "Alice")
    await typed(alice, "1455 Market Street", "no locker location matching")


def test_a_geocoder_needs_a_real_user_agent() -> None:
    with pytest.raises(ConfigError, match="GEOCODER_USER_AGENT"):
        load_settings(_env_file=None, harbor_env="simulator", geocoder_url="https://nominatim.example/search")
