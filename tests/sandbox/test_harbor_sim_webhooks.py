"""§7 webhook events of the Harbor simulator: envelope and data keys, the HMAC signature and event id,
client_info, statuses per token use, retries, duplicates, the /_sim/webhook hook."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandbox.harbor import Clock, HarborSimulator, create_app
from sandbox.harbor_webhooks import DATA_KEYS, verify_signature
from tests.sandbox.conftest import CLIENTS, LOCKER, ME, START, TOWER, Caller, fetch_token
from tests.sandbox.telegram_fixtures import serve_app
from tests.sandbox.webhook_fixtures import Receiver, closed_port

pytestmark = pytest.mark.asyncio

SECRET = "whsec-test"


@pytest.fixture
async def sim() -> AsyncIterator[HarborSimulator]:
    simulator = HarborSimulator(clients=CLIENTS, clock=Clock(start=START), webhook_retry_delay=0.01)
    try:
        yield simulator
    finally:
        await simulator.webhooks.aclose()


@pytest.fixture
async def me(sim: HarborSimulator) -> AsyncIterator[Caller]:
    transport = httpx.ASGITransport(app=create_app(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://harbor.test") as http:
        token = (await fetch_token(http, ME)).json()["access_token"]
        yield Caller(http, ME, token)


async def set_webhook(me: Caller, **body: Any) -> dict[str, Any]:
    response = await me.http.post("/_sim/webhook", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def use(me: Caller, payload: str) -> None:
    response = await me.http.post("/_sim/use-token", json={"payload": payload})
    assert response.status_code == 200, response.text


async def idle(sim: HarborSimulator) -> None:
    async with asyncio.timeout(5):
        await sim.webhooks_idle()


async def test_token_events_are_signed_and_complete(sim: HarborSimulator, me: Caller) -> None:
    receiver = Receiver()
    async with serve_app(receiver.app) as root:
        await set_webhook(me, url=f"{root}/harbor/events", secret=SECRET)
        reservation = (await me.reserve()).json()
        dropoff = (await me.issue("dropoff")).json()
        await use(me, dropoff["payload"])
        pickup = (await me.issue("pickup")).json()
        await use(me, pickup["payload"])
        await idle(sim)
    events = [r.json for r in receiver.received]
    assert [(e["event"], e["data"]["source"], e["data"]["locker_status"]) for e in events] == [
        ("LOCKER_OPERATION", "LOCKER_TOKEN_CREATED", "rented"),
        ("LOCKER_OPERATION", "LOCKER_TOKEN_USED", "occupied"),
        ("LOCKER_OPERATION", "LOCKER_TOKEN_CREATED", "occupied"),
        ("LOCKER_OPERATION", "LOCKER_TOKEN_USED", "available"),
    ]
    for received, event in zip(receiver.received, events, strict=True):
        expected = "sha256=" + hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
        assert received.headers["x-harbor-signature"] == expected
        assert verify_signature(received.body, SECRET, received.headers["x-harbor-signature"])
        assert not verify_signature(received.body + b" ", SECRET, received.headers["x-harbor-signature"])
        assert received.headers["x-harbor-event-id"] == event["id"]
        assert received.path == "/harbor/events"
        assert set(event) == {"id", "timestamp", "event", "data"}
        assert tuple(event["data"]) == DATA_KEYS
        assert event["timestamp"] == "2026-03-02T17:00:00"  # naive, as §7 shows it
        assert event["data"]["timestamp"] == "2026-03-02T17:00:00+00:00"
        assert (event["data"]["locker_id"], event["data"]["tower_id"]) == (LOCKER, TOWER)
        assert event["data"]["client_info"] == "order-1"
        assert event["data"]["keypad_code"] is None
    assert len({e["id"] for e in events}) == 4
    assert [e["data"]["open_locker_token_id"] for e in events] == [dropoff["id"]] * 2 + [pickup["id"]] * 2
    assert [e["data"]["reservation_id"] for e in events] == [reservation["id"], None, None, None]
    assert events == sim.webhooks.events


async def test_sending_does_not_block_the_request(sim: HarborSimulator, me: Caller) -> None:
    receiver = Receiver(hold=True)
    async with serve_app(receiver.app) as root:
        await set_webhook(me, url=f"{root}/events")
        async with asyncio.timeout(5):
            assert (await me.issue("dropoff")).status_code == 200  # while the receiver holds the event
            await receiver.wait_for(1)
        receiver.release.set()
        await idle(sim)
    assert "x-harbor-signature" not in receiver.received[0].headers  # no secret, no signature


async def test_failed_deliveries_are_retried(sim: HarborSimulator, me: Caller) -> None:
    receiver = Receiver([503, 500, 500, 500, 500])
    async with serve_app(receiver.app) as root:
        await set_webhook(me, url=f"{root}/events", secret=SECRET)
        first = (await me.issue("dropoff")).json()
        await use(me, first["payload"])
        await idle(sim)
    # 1st event: 503, 500, then 500 (given up after 2 retries); 2nd event: 500, 500, then 200.
    assert [(d.attempts, d.status, d.delivered) for d in sim.webhooks.deliveries] == [(3, 500, False), (3, 200, True)]
    bodies = [r.body for r in receiver.received]
    assert len(set(bodies[:3])) == 1 and len(set(bodies[3:])) == 1  # retries resend the same bytes


async def test_unreachable_receiver_is_given_up(sim: HarborSimulator, me: Caller) -> None:
    await set_webhook(me, url=f"http://127.0.0.1:{closed_port()}/events")
    await me.issue("dropoff")
    await idle(sim)
    (delivery,) = sim.webhooks.deliveries
    assert (delivery.attempts, delivery.status, delivery.delivered) == (3, None, False)
    assert "ConnectError" in (delivery.error or "")


async def test_duplicates_share_the_event_id(sim: HarborSimulator, me: Caller) -> None:
    receiver = Receiver()
    async with serve_app(receiver.app) as root:
        await set_webhook(me, url=f"{root}/events", secret=SECRET, duplicate_events=True)
        await me.issue("dropoff")
        await idle(sim)
    one, two = receiver.received
    assert one.body == two.body
    assert one.headers["x-harbor-event-id"] == two.headers["x-harbor-event-id"] == one.json["id"]
    assert one.headers["x-harbor-signature"] == two.headers["x-harbor-signature"]


async def test_constructor_registration_and_clearing() -> None:
    receiver = Receiver()
    async with serve_app(receiver.app) as root:
        sim = HarborSimulator(clients=CLIENTS, clock=Clock(start=START), webhook_url=f"{root}/e", webhook_secret="k")
        transport = httpx.ASGITransport(app=create_app(sim))
        async with httpx.AsyncClient(transport=transport, base_url="http://harbor.test") as http:
            caller = Caller(http, ME, sim.mint_access_token(ME))
            await caller.issue("dropoff")
            await idle(sim)
            state = (await http.get("/_sim/webhook")).json()
            assert (state["url"], state["has_secret"], state["pending"]) == (f"{root}/e", True, 0)
            assert state["deliveries"][0]["delivered"] is True
            assert (await http.delete("/_sim/webhook")).json()["url"] is None
            await caller.release()
            await caller.issue("dropoff")
            await idle(sim)
        await sim.webhooks.aclose()
    assert len(receiver.received) == 1
    assert verify_signature(receiver.received[0].body, "k", receiver.received[0].headers["x-harbor-signature"])


@pytest.mark.parametrize(
    "body",
    [{"url": 5}, {"url": "ftp://x"}, {"url": "http://x", "secret": 1}, {"duplicate_events": "yes"}, {"nope": 1}],
)
async def test_hook_refuses_bad_bodies(me: Caller, body: dict[str, Any]) -> None:
    assert (await me.http.post("/_sim/webhook", json=body)).status_code == 422
