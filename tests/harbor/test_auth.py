"""Tokens: cached, renewed before expiry, one in-flight renewal, 401 -> renew once, bad credentials."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from bot.harbor import HarborAuthError
from bot.harbor.auth import service_margin, tower_margin
from tests.harbor.conftest import CLIENT_SECRET, TOKEN_PATH, TOWER, api_requests, token_requests


def claims(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_margins():
    assert service_margin(300) == 60  # 20 % of 300 s
    assert service_margin(100) == 30  # at least 30 s
    assert service_margin(40) == 20  # never more than half the lifetime
    assert tower_margin(300) == 60


async def test_token_is_cached(client, sim):
    await client.tower_lockers(TOWER)
    await client.location_lockers(101)
    await client.assigned_lockers()
    assert token_requests(sim) == 1


async def test_token_renewed_before_expiry(client, sim, fake_time):
    first = await client.service_token()
    assert first.lifetime == 300
    assert claims(first.value.get_secret_value())["scope"] == "service_provider"

    # 239 s later (61 s left): still the same token.
    fake_time.now += 239
    sim.clock.advance(239)
    await client.tower_lockers(TOWER)
    assert token_requests(sim) == 1

    # 241 s (59 s left, under max(30 s, 20 %)): renewed before use, and the call goes through.
    fake_time.now += 2
    sim.clock.advance(2)
    await client.tower_lockers(TOWER)
    assert token_requests(sim) == 2
    assert (await client.service_token()).value != first.value
    assert all(r.status == 200 for r in sim.requests)  # no call ever went out with a stale token


async def test_hundred_concurrent_cold_calls_make_one_token_request(client, sim):
    results = await asyncio.gather(*(client.tower_lockers(TOWER) for _ in range(100)))
    assert all(len(lockers) == 24 for lockers in results)
    assert token_requests(sim) == 1
    assert len(api_requests(sim, "GET", "/lockers")) == 100


async def test_hundred_concurrent_calls_with_bad_credentials_share_one_refusal(make_client, sim):
    client = make_client(secret="not-the-secret")
    results = await asyncio.gather(*(client.tower_lockers(TOWER) for _ in range(100)), return_exceptions=True)
    assert all(isinstance(r, HarborAuthError) for r in results)
    assert token_requests(sim) == 1
    assert not api_requests(sim, "GET", "/lockers")


async def test_401_renews_once_and_retries_once(client, sim):
    await client.tower_lockers(TOWER)
    # Harbor forgets the token early (our clock says it is fresh): expect 401 -> new token -> retry.
    sim.clock.advance(301)
    lockers = await client.tower_lockers(TOWER)
    assert len(lockers) == 24
    log = [(r.method, r.path == TOKEN_PATH, r.status) for r in sim.requests]
    assert log == [
        ("POST", True, 200),
        ("GET", False, 200),
        ("GET", False, 401),
        ("POST", True, 200),
        ("GET", False, 200),
    ]


async def test_second_401_is_an_auth_error(client, sim):
    sim.add_fault(method="GET", path="/towers/", status=401, times=2)
    with pytest.raises(HarborAuthError):
        await client.tower_lockers(TOWER)
    assert token_requests(sim) == 2
    assert len(api_requests(sim, "GET", "/towers/")) == 2


async def test_401_on_a_post_is_retried_once_because_nothing_happened(client, sim):
    sim.add_fault(method="POST", path="/reservations", status=401, times=1)
    reservation = await client.reserve(TOWER, 1001, 300)
    assert reservation.locker_id == 1001
    assert [r.status for r in api_requests(sim, "POST", "/reservations")] == [401, 200]


async def test_wrong_secret_is_a_clear_auth_error(make_client, sim):
    client = make_client(secret="wrong-secret-1234")
    with pytest.raises(HarborAuthError) as caught:
        await client.tower_lockers(TOWER)
    message = str(caught.value)
    assert message == (
        "Harbor refused the client credentials (invalid_client): check HARBOR_CLIENT_ID and HARBOR_CLIENT_SECRET"
    )
    assert "wrong-secret-1234" not in message
    assert token_requests(sim) == 1  # a refusal is final: not retried


async def test_unknown_client_id_is_a_clear_auth_error(make_client):
    client = make_client(client_id="someone-else")
    with pytest.raises(HarborAuthError, match="invalid_client"):
        await client.service_token()


async def test_token_endpoint_400_is_an_auth_error(client, sim):
    sim.add_fault(path=TOKEN_PATH, status=400)
    with pytest.raises(HarborAuthError, match=r"refused the token request .*HARBOR_CLIENT_SECRET"):
        await client.service_token()


async def test_token_endpoint_outage_is_retried(client, sim, fake_time):
    sim.add_fault(path=TOKEN_PATH, status=503, times=2)
    token = await client.service_token()
    assert token.value.get_secret_value()
    assert token_requests(sim) == 3
    assert len(fake_time.sleeps) == 2


async def test_tower_access_token_is_reused_while_it_has_a_minute_left(client, sim, fake_time):
    first = await client.tower_access_token()
    assert claims(first.get_secret_value())["scope"] == "tower_access"
    fake_time.now += 239
    sim.clock.advance(239)
    assert await client.tower_access_token() == first
    fake_time.now += 2
    sim.clock.advance(2)
    second = await client.tower_access_token()
    assert second != first
    assert token_requests(sim) == 2
    # A service token is a separate one: the phone never gets the back-end token.
    assert (await client.service_token()).value not in (first, second)


async def test_tower_token_opens_the_lockers_it_should(client, sim):
    token = await client.dropoff_token(TOWER, 1001, duration=300)
    sdk = await client.tower_access_token()
    used = sim.use_token(
        token.payload.get_secret_value(), token.payload_auth.get_secret_value(), sdk.get_secret_value()
    )
    assert used["locker"]["status"]["name"] == "occupied"


def test_secret_never_in_client_repr(make_client):
    client = make_client()
    assert CLIENT_SECRET not in repr(client.auth.__dict__)
