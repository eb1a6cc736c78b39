"""Test hooks: faults, the request log, the clock, /_sim/ routes."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandbox.harbor import TOKEN_PATH, Clock, HarborSimulator, create_app
from tests.sandbox.conftest import CLIENTS, ME, RNG_SEED, START, TOWER, Caller, fetch_token, locker_url

RESERVE = r"/reservations$"


async def test_fault_status_with_retry_after_answers_instead_of_handling(
    harbor_me: Caller, harbor_sim: HarborSimulator
) -> None:
    harbor_sim.add_fault(method="POST", path=RESERVE, status=429, retry_after=2)
    assert (await harbor_me.get(f"/api/v1/towers/{TOWER}/lockers")).status_code == 200  # other route, untouched

    response = await harbor_me.reserve()
    assert response.status_code == 429
    assert response.json() == {"detail": "Too Many Requests"}
    assert response.headers["retry-after"] == "2"
    assert harbor_sim.locker(1001)["status"]["name"] == "available"
    assert (await harbor_me.reserve()).status_code == 200  # times=1: used up


@pytest.mark.parametrize(("status", "detail"), [(500, "Internal Server Error"), (503, "Service Unavailable")])
async def test_fault_5xx_has_a_harbor_style_body(
    harbor_me: Caller, harbor_sim: HarborSimulator, status: int, detail: str
) -> None:
    harbor_sim.add_fault(path="/locations/", status=status)
    response = await harbor_me.get("/api/v1/locations/")
    assert response.status_code == status
    assert response.json() == {"detail": detail}
    assert "retry-after" not in response.headers


async def test_fractional_retry_after_is_kept(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    harbor_sim.add_fault(status=503, retry_after=0.25)
    assert (await harbor_me.get("/api/v1/locations/")).headers["retry-after"] == "0.25"


async def test_fault_times(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    harbor_sim.add_fault(path="/locations/", status=500, times=3)
    codes = [(await harbor_me.get("/api/v1/locations/")).status_code for _ in range(5)]
    assert codes == [500, 500, 500, 200, 200]

    harbor_sim.add_fault(path="/locations/", status=502, times=None)
    codes = [(await harbor_me.get("/api/v1/locations/")).status_code for _ in range(4)]
    assert codes == [502] * 4
    harbor_sim.clear_faults()
    assert (await harbor_me.get("/api/v1/locations/")).status_code == 200


async def test_fault_on_the_token_endpoint(harbor_http: httpx.AsyncClient, harbor_sim: HarborSimulator) -> None:
    harbor_sim.add_fault(method="POST", path="openid-connect/token", status=503)
    assert (await fetch_token(harbor_http)).status_code == 503
    assert (await fetch_token(harbor_http)).status_code == 200


async def test_stall_before_handling_changes_nothing(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    harbor_sim.add_fault(path=RESERVE, stall=0.3)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(harbor_me.reserve(), 0.05)
    assert harbor_sim.locker(1001)["status"]["name"] == "available"
    assert harbor_sim.requests[-1].status == 499

    harbor_sim.add_fault(path=RESERVE, stall=0.05)
    started = time.monotonic()
    assert (await harbor_me.reserve()).status_code == 200
    assert time.monotonic() - started >= 0.05


async def test_stall_after_is_a_post_that_timed_out_but_happened(
    harbor_me: Caller, harbor_sim: HarborSimulator
) -> None:
    harbor_sim.add_fault(method="POST", path=RESERVE, stall=0.3, stall_after=True)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(harbor_me.reserve(), 0.05)
    assert harbor_sim.locker(1001)["status"]["name"] == "reserved"
    assert harbor_sim.holder(1001) == ME
    assert harbor_sim.requests[-1].status == 200
    assert (await harbor_me.reserve()).json() == {"detail": "Locker is not available"}


async def test_stall_after_answers_late_when_waited_for(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    harbor_sim.add_fault(path="dropoff-locker-tokens", stall=0.05, stall_after=True)
    started = time.monotonic()
    response = await harbor_me.issue("dropoff")
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 200
    assert response.json()["locker"]["status"]["name"] == "rented"


async def test_stall_after_with_status_is_an_error_after_the_change(
    harbor_me: Caller, harbor_sim: HarborSimulator
) -> None:
    harbor_sim.add_fault(path="dropoff-locker-tokens", status=500, stall_after=True)
    response = await harbor_me.issue("dropoff")
    assert response.status_code == 500
    assert harbor_sim.locker(1001)["status"]["name"] == "rented"
    assert len(harbor_sim.issued_tokens()) == 1


async def test_probability_follows_the_seeded_rng(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    harbor_sim.add_fault(path="/locations/", status=503, times=None, probability=0.5)
    hits = [(await harbor_me.get("/api/v1/locations/")).status_code == 503 for _ in range(40)]
    rng = random.Random(RNG_SEED)
    assert hits == [rng.random() < 0.5 for _ in range(40)]
    assert 5 < sum(hits) < 35


async def test_probability_repeats_with_the_same_seed() -> None:
    async def pattern(seed: int) -> list[int]:
        sim = HarborSimulator(clients=CLIENTS, clock=Clock(start=START), rng_seed=seed)
        sim.add_fault(path="in-area", status=500, times=None, probability=0.3)
        transport = httpx.ASGITransport(app=create_app(sim))
        async with httpx.AsyncClient(transport=transport, base_url="http://h") as http:
            token = (await fetch_token(http)).json()["access_token"]
            return [
                (
                    await http.get(
                        "/api/v1/locations/in-area?start=0,0&end=1,1", headers={"Authorization": f"Bearer {token}"}
                    )
                ).status_code
                for _ in range(30)
            ]

    first, again, other = await pattern(7), await pattern(7), await pattern(8)
    assert first == again
    assert first != other
    assert set(first) == {200, 500}


async def test_faults_never_touch_sim_routes(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    harbor_sim.add_fault(status=500, times=None)
    http = harbor_me.http
    assert (await http.get("/_sim/clock")).status_code == 200
    assert (await http.get("/_sim/tokens")).status_code == 200
    assert (await http.post("/_sim/lockers/1001/status", json={"status": "available"})).status_code == 200
    assert (await harbor_me.get("/api/v1/locations/")).status_code == 500
    assert (await fetch_token(http)).status_code == 500


async def test_faults_over_http(harbor_me: Caller) -> None:
    http = harbor_me.http
    added = await http.post("/_sim/faults", json={"path": "in-area", "status": 503, "retry_after": 1, "times": None})
    assert added.status_code == 200
    response = await harbor_me.get("/api/v1/locations/in-area", params={"start": "0,0", "end": "1,1"})
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")
    assert (await http.delete("/_sim/faults")).status_code == 200
    assert (await harbor_me.get("/api/v1/locations/in-area", params={"start": "0,0", "end": "1,1"})).status_code == 200

    stalled = await http.post("/_sim/faults", json={"path": RESERVE, "stall": 0.3, "stall_after": True})
    assert stalled.status_code == 200
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(harbor_me.reserve(), 0.05)
    assert (await http.get("/_sim/lockers/1001")).json()["status"]["name"] == "reserved"


@pytest.mark.parametrize(
    "body",
    [
        {"bogus": 1},
        {"status": 9999},
        {},
        {"stall": 0},
        {"status": 500, "times": 0},
        {"status": 500, "probability": 2},
        {"status": 500, "path": "("},
    ],
)
async def test_bad_fault_requests_are_422(harbor_http: httpx.AsyncClient, body: dict) -> None:
    response = await harbor_http.post("/_sim/faults", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_request_log_records_requests_without_secrets(
    harbor_http: httpx.AsyncClient, harbor_sim: HarborSimulator
) -> None:
    token = (await fetch_token(harbor_http)).json()["access_token"]
    caller = Caller(harbor_http, ME, token)
    await harbor_http.post(
        TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": ME,
            "client_secret": "a-wrong-secret",
            "scope": "service_provider",
        },
    )
    await harbor_http.post("/_sim/clock", json={"advance": 10})
    await caller.get("/api/v1/locations/", params={"skip": 1, "limit": 2})
    payload = (await caller.issue("dropoff")).json()["payload"]
    await harbor_http.get("/api/v1/nowhere")
    await harbor_http.get("/_sim/tokens")

    log = (await harbor_http.get("/_sim/requests")).json()
    assert [(r["method"], r["path"], r["query"], r["status"], r["client_id"]) for r in log] == [
        ("POST", TOKEN_PATH, "", 200, ME),
        ("POST", TOKEN_PATH, "", 401, ME),
        ("GET", "/api/v1/locations/", "skip=1&limit=2", 200, ME),
        ("POST", locker_url("dropoff-locker-tokens"), "", 200, ME),
        ("GET", "/api/v1/nowhere", "", 404, None),
    ]
    assert [datetime.fromisoformat(r["at"]) for r in log] == [START, START] + [START + timedelta(seconds=10)] * 3
    assert harbor_sim.requests[2].at == START + timedelta(seconds=10)
    text = json.dumps(log) + repr(harbor_sim.requests)
    for secret in (CLIENTS[ME], "a-wrong-secret", token, token[-40:], payload):
        assert secret not in text

    assert (await harbor_http.delete("/_sim/requests")).json() == []
    assert (await harbor_http.get("/_sim/requests")).json() == []
    assert harbor_sim.requests == []


async def test_request_log_shows_faulted_answers(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    harbor_sim.add_fault(path="/locations/", status=429, retry_after=1)
    await harbor_me.get("/api/v1/locations/")
    assert (harbor_sim.requests[-1].path, harbor_sim.requests[-1].status) == ("/api/v1/locations/", 429)


async def test_clock_hook(harbor_http: httpx.AsyncClient, harbor_sim: HarborSimulator) -> None:
    response = await harbor_http.post("/_sim/clock", json={"advance": 90})
    assert response.json() == {"now": (START + timedelta(seconds=90)).isoformat()}
    assert (await harbor_http.get("/_sim/clock")).json() == response.json()
    assert harbor_sim.clock.now() == START + timedelta(seconds=90)
    for bad in ({"advance": -1}, {"advance": "10"}, {"advance": True}):
        assert (await harbor_http.post("/_sim/clock", json=bad)).status_code == 422
    assert harbor_sim.clock.now() == START + timedelta(seconds=90)


async def test_locker_status_hook(harbor_me: Caller) -> None:
    http = harbor_me.http
    assert (await harbor_me.issue("pickup")).status_code == 400
    hooked = await http.post("/_sim/lockers/1001/status", json={"status": "occupied", "holder": ME})
    assert hooked.json()["status"] == {"name": "occupied", "id": 4}
    assert (await harbor_me.issue("pickup")).status_code == 200
    assert (await http.post("/_sim/lockers/1001/status", json={"status": "broken"})).status_code == 422
    assert (await http.post("/_sim/lockers/1001/status", json={})).status_code == 422
    missing = await http.post("/_sim/lockers/9999/status", json={"status": "available"})
    assert missing.json() == {"detail": "Locker not found"}


async def test_tokens_hook_lists_every_issued_token(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    http = harbor_me.http
    dropoff = (await harbor_me.issue("dropoff")).json()
    await http.post("/_sim/use-token", json={"payload": dropoff["payload"]})
    await harbor_me.issue("pickup", duration=60)
    tokens = (await http.get("/_sim/tokens")).json()
    assert tokens == harbor_sim.issued_tokens()
    assert [(t["kind"], t["state"], t["locker_id"], t["tower_id"]) for t in tokens] == [
        ("dropoff", "used", 1001, TOWER),
        ("pickup", "live", 1001, TOWER),
    ]
    assert {
        "id",
        "kind",
        "tower_id",
        "locker_id",
        "payload",
        "payload_auth",
        "client_info",
        "expires",
        "used_at",
        "client_id",
    } <= set(tokens[0])
    assert tokens[1]["expires"] == (START + timedelta(seconds=60)).isoformat()
    assert tokens[1]["used_at"] is None


async def test_use_token_hook_needs_a_payload(harbor_http: httpx.AsyncClient) -> None:
    assert (await harbor_http.post("/_sim/use-token", json={})).status_code == 422
    assert (await harbor_http.post("/_sim/use-token", json={"payload": "ab"})).status_code == 404


def test_clock() -> None:
    frozen = Clock(start=START)
    assert frozen.now() == frozen.now() == START
    frozen.advance(1.5)
    assert frozen.now() == START + timedelta(seconds=1.5)
    with pytest.raises(ValueError, match="forward"):
        frozen.advance(-1)
    with pytest.raises(ValueError, match="aware"):
        Clock(start=datetime(2026, 1, 1))
    running = Clock()
    first = running.now()
    assert first.tzinfo is not None
    assert abs((first - datetime.now(UTC)).total_seconds()) < 5
    time.sleep(0.01)
    assert running.now() > first


def test_add_fault_refuses_faults_that_do_nothing() -> None:
    sim = HarborSimulator()
    with pytest.raises(ValueError, match="status or a stall"):
        sim.add_fault(path="x")


def test_create_app_without_a_simulator_makes_one() -> None:
    app = create_app()
    assert isinstance(app.state.simulator, HarborSimulator)
    assert app.state.simulator.clients == {ME: CLIENTS[ME]}
