"""Locker Open links in the Harbor simulator (docs/harbor-api.md §6, §7): requests, errors, the app-clip hook."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.harbor import HarborSimulator
from sandbox.harbor_webhooks import DATA_KEYS
from tests.sandbox.conftest import FIRST_SF, FULL_LOCATION, Caller

DROPOFF = "/api/v1/locker-open-requests/dropoff-locker-request"
PICKUP = "/api/v1/locker-open-requests/pickup-locker-request"


def dropoff_body(**changes: Any) -> dict[str, Any]:
    body = {
        "locationId": FIRST_SF,
        "lockerTypeId": 2,
        "requireLowLocker": False,
        "returnUrl": "https://bot.example/harbor/return/7",
        "clientInfo": "harbor-bot:delivery:7",
        "payload": {"delivery_id": 7},
    }
    return {**body, **changes}


async def open_link(http: httpx.AsyncClient, url: str, outcome: str = "success") -> httpx.Response:
    return await http.post("/_sim/open-link", json={"url": url, "outcome": outcome})


async def test_a_dropoff_request_holds_a_free_locker_of_the_type_for_the_caller(
    harbor_sim: HarborSimulator, harbor_me: Caller
) -> None:
    answer = await harbor_me.post(DROPOFF, dropoff_body())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"id", "lockerId", "towerId", "linkToken"}
    locker = harbor_sim.locker(body["lockerId"])
    assert locker["type"]["name"] == "medium" and not locker["isLowLocker"]  # low ones only when asked
    assert locker["status"]["name"] == "rented" and harbor_sim.holder(body["lockerId"]) == harbor_me.client_id
    link = urlsplit(body["linkToken"])
    assert (link.scheme, link.netloc, link.path) == ("https", "lockeropen.com", "/dropoff")
    assert parse_qs(link.query)["env"] == ["sandbox"]
    stored = await harbor_me.get(f"/api/v1/locker-open-requests/{body['id']}")
    assert stored.json()["lockerId"] == body["lockerId"] and stored.json()["state"] == "pending"


async def test_the_hold_lasts_five_minutes(harbor_sim: HarborSimulator, harbor_me: Caller) -> None:
    body = (await harbor_me.post(DROPOFF, dropoff_body())).json()
    harbor_sim.clock.advance(299)
    assert harbor_sim.locker(body["lockerId"])["status"]["name"] == "rented"
    harbor_sim.clock.advance(1)
    assert harbor_sim.locker(body["lockerId"])["status"]["name"] == "available"
    assert (await open_link(harbor_me.http, body["linkToken"])).status_code == 410


async def test_no_free_locker_of_the_type_says_so(harbor_me: Caller) -> None:
    answer = await harbor_me.post(DROPOFF, dropoff_body(locationId=FULL_LOCATION, lockerTypeId=1))
    assert answer.status_code == 400
    assert "No locker available" in answer.json()["detail"]


@pytest.mark.parametrize("missing", ["returnUrl", "clientInfo", "payload", "requireLowLocker", "lockerTypeId"])
async def test_every_documented_field_is_required(harbor_me: Caller, missing: str) -> None:
    body = dropoff_body()
    del body[missing]
    answer = await harbor_me.post(DROPOFF, body)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", missing]


async def test_a_whole_delivery_through_links_and_its_events(harbor_sim: HarborSimulator, harbor_me: Caller) -> None:
    harbor_sim.webhooks.configure("http://receiver.invalid/harbor")  # events are recorded when emitted
    made = (await harbor_me.post(DROPOFF, dropoff_body())).json()
    assert (await open_link(harbor_me.http, made["linkToken"], "failed")).json()["status"] == "failed"
    opened = await open_link(harbor_me.http, made["linkToken"])  # the same link works on a second try
    assert opened.status_code == 200
    back = urlsplit(opened.json()["return_to"])
    assert back.path == "/harbor/return/7"
    assert parse_qs(back.query) == {
        "status": ["success"],
        "open_locker_request": [str(made["id"])],
        "locker_id": [str(made["lockerId"])],
        "tower_id": [made["towerId"]],
    }
    assert harbor_sim.locker(made["lockerId"])["status"]["name"] == "occupied"
    assert (await open_link(harbor_me.http, made["linkToken"])).status_code == 409  # one open per link

    pickup = await harbor_me.post(
        PICKUP, {"lockerId": made["lockerId"], "returnUrl": "", "clientInfo": "harbor-bot:delivery:7", "payload": {}}
    )
    assert pickup.status_code == 200, pickup.text
    assert urlsplit(pickup.json()["linkToken"]).path == "/pickup"
    done = await open_link(harbor_me.http, pickup.json()["linkToken"])
    assert done.json()["return_to"] is None  # returnUrl "" means no redirect
    assert harbor_sim.locker(made["lockerId"])["status"]["name"] == "available"

    seen = [(e["event"], e["data"]["source"], e["data"]["locker_status"]) for e in harbor_sim.webhooks.events]
    assert seen == [
        ("LOCKER_ASSIGNED", "LOCKER_OPEN_LINK_CREATED", "rented"),
        ("LOCKER_OPERATION", "LOCKER_TOKEN_USED", "occupied"),
        ("LOCKER_ASSIGNED", "LOCKER_OPEN_LINK_CREATED", "occupied"),
        ("LOCKER_OPERATION", "LOCKER_TOKEN_USED", "available"),
    ]
    first = harbor_sim.webhooks.events[0]["data"]
    assert set(first) == set(DATA_KEYS)
    assert first["client_info"] == "harbor-bot:delivery:7" and first["locker_open_request_id"] == made["id"]
    assert first["locker_open_request_payload"] == {"delivery_id": 7}


async def test_doesnt_fit_gives_the_locker_back(harbor_sim: HarborSimulator, harbor_me: Caller) -> None:
    made = (await harbor_me.post(DROPOFF, dropoff_body())).json()
    answer = await open_link(harbor_me.http, made["linkToken"], "doesnt_fit")
    assert answer.json()["status"] == "doesnt_fit"
    assert "status=doesnt_fit" in answer.json()["return_to"]
    assert harbor_sim.locker(made["lockerId"])["status"]["name"] == "available"


async def test_a_pickup_link_needs_an_occupied_locker_of_the_caller(harbor_me: Caller, harbor_other: Caller) -> None:
    made = (await harbor_me.post(DROPOFF, dropoff_body())).json()
    body = {"lockerId": made["lockerId"], "returnUrl": "", "clientInfo": "", "payload": {}}
    assert (await harbor_me.post(PICKUP, body)).json()["detail"] == "Locker is not occupied"
    assert (await harbor_other.post(PICKUP, body)).status_code == 403
    assert (await harbor_other.get(f"/api/v1/locker-open-requests/{made['id']}")).status_code == 404
