"""Fixtures for the Harbor simulator tests (all prefixed `harbor_` so other sandbox tests can share the folder).

The simulator runs on a frozen clock at START with two OAuth clients, ME and OTHER, and is driven over
HTTP through httpx.ASGITransport. Seed facts the tests rely on are named here once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sandbox.harbor import TOKEN_PATH, Clock, HarborSimulator, create_app

START = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
ME = "harbor-bot-simulator"
OTHER = "other-provider"
CLIENTS = {ME: "simulator-secret", OTHER: "other-secret"}
RNG_SEED = 1234

# Seed facts (sandbox/seed.json).
SF_CENTRE = (37.7793, -122.4193)
AUSTIN_CENTRE = (30.2672, -97.7431)
SF_LOCATIONS = (101, 102, 103)
AUSTIN_LOCATIONS = (201, 202)
FIRST_SF = 101
FIRST_SF_TOWERS = ("010000000000001a", "010000000000001b")
TOWER = "010000000000001a"  # lockers 1001..1024, doors "1".."24"
LOCKER = 1001
OOS_TOWER, OOS_LOCKER = "010000000000001b", 1105
FULL_LOCATION, FULL_TOWER, FULL_LOCKER = 103, "01000000000000c3", 1301


def locker_url(action: str, locker: int = LOCKER, tower: str = TOWER) -> str:
    return f"/api/v1/towers/{tower}/lockers/{locker}/{action}"


def box(lat: float, lon: float, km: float) -> dict[str, str]:
    """in-area query params for a square of 2*km around a point."""
    dlat, dlon = km / 111.0, km / 88.0
    return {"start": f"{lat - dlat},{lon - dlon}", "end": f"{lat + dlat},{lon + dlon}"}


async def fetch_token(
    http: httpx.AsyncClient, client_id: str = ME, scope: str = "service_provider tower_access"
) -> httpx.Response:
    return await http.post(
        TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": CLIENTS[client_id],
            "scope": scope,
        },
    )


@dataclass
class Caller:
    """One OAuth client talking to the simulator with its bearer."""

    http: httpx.AsyncClient
    client_id: str
    token: str

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.headers(kw.pop("headers", None)), **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(path, headers=self.headers(kw.pop("headers", None)), json=json, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.delete(path, headers=self.headers(kw.pop("headers", None)), **kw)

    async def reserve(self, locker: int = LOCKER, tower: str = TOWER, duration: int = 300) -> httpx.Response:
        return await self.post(locker_url("reservations", locker, tower), {"duration": duration})

    async def issue(self, kind: str, locker: int = LOCKER, tower: str = TOWER, duration: int = 300) -> httpx.Response:
        return await self.post(
            locker_url(f"{kind}-locker-tokens", locker, tower), {"duration": duration, "client_info": "order-1"}
        )

    async def release(self, locker: int = LOCKER, tower: str = TOWER) -> httpx.Response:
        return await self.post(locker_url("release-locker", locker, tower), {})


@pytest.fixture
def harbor_sim() -> HarborSimulator:
    return HarborSimulator(clients=CLIENTS, clock=Clock(start=START), rng_seed=RNG_SEED)


@pytest.fixture
async def harbor_http(harbor_sim: HarborSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(harbor_sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://harbor.test") as http:
        yield http


async def _caller(http: httpx.AsyncClient, client_id: str) -> Caller:
    response = await fetch_token(http, client_id)
    assert response.status_code == 200, response.text
    return Caller(http, client_id, response.json()["access_token"])


@pytest.fixture
async def harbor_me(harbor_http: httpx.AsyncClient) -> Caller:
    return await _caller(harbor_http, ME)


@pytest.fixture
async def harbor_other(harbor_http: httpx.AsyncClient) -> Caller:
    return await _caller(harbor_http, OTHER)
