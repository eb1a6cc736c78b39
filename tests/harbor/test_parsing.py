"""Tolerant parsing: unknown fields, camelCase or snake_case, unknown statuses, broken list items."""

from __future__ import annotations

import logging

import pytest

from bot.harbor import HarborError, Locker
from tests.harbor.conftest import TOWER


def camel_to_snake_locker(item: dict) -> dict:
    return {
        "id": item["id"],
        "name": item["name"],
        "is_low_locker": item["isLowLocker"],
        "tower_id": item["towerId"].upper(),
        "status": item["status"],
        "type": item["type"],
        "access_mode": item["accessMode"],
        "brand_new_field": {"nested": [1, 2, 3]},
    }


async def test_snake_case_and_unknown_fields(client, faulty):
    faulty.rewrite = lambda request, body: (
        [camel_to_snake_locker(i) for i in body] if "/lockers" in request.url.path else body
    )
    lockers = await client.tower_lockers(TOWER)
    assert len(lockers) == 24
    first = lockers[0]
    assert first.tower_id == TOWER  # lower-cased
    assert first.is_low_locker is True
    assert first.access_mode == "public"


async def test_unknown_status_name_counts_as_not_available(client, faulty):
    def rename(request, body):
        if "/lockers" in request.url.path:
            body[0]["status"] = {"name": "maintenance", "id": 42}
        return body

    faulty.rewrite = rename
    lockers = await client.tower_lockers(TOWER)
    assert lockers[0].status.name == "maintenance"
    assert not lockers[0].is_available
    assert lockers[1].is_available


async def test_a_broken_item_is_skipped_with_a_warning_without_its_payload(client, faulty, caplog):
    def break_two(request, body):
        if "/lockers" in request.url.path:
            body[0] = {"id": "not-a-number", "name": "secret-ish-value-xyz", "towerId": TOWER}
            body[1] = "just a string"
        return body

    faulty.rewrite = break_two
    caplog.set_level(logging.WARNING, logger="bot.harbor")
    lockers = await client.tower_lockers(TOWER)
    assert len(lockers) == 22
    skipped = [r for r in caplog.records if "skipped locker" in r.getMessage()]
    assert len(skipped) == 2
    assert all("secret-ish-value-xyz" not in r.getMessage() for r in caplog.records)


async def test_in_area_without_availability_asks_each_location(client, sim, faulty):
    def strip(request, body):
        if request.url.path.endswith("/in-area"):
            for item in body:
                item.pop("lockerAvailability", None)
                item.pop("byType", None)
        return body

    faulty.rewrite = strip
    locations = await client.locations_in_area((37.70, -122.50), (37.85, -122.35))
    assert {loc.id for loc in locations} == {101, 102, 103}
    assert all(loc.availability is not None for loc in locations)
    civic = next(loc for loc in locations if loc.id == 101)
    assert civic.availability.counts.available > 0
    assert [t.type.name for t in civic.availability.free_by_type()][:2] == ["small", "medium"]
    assert sum(1 for r in sim.requests if r.path.endswith("/availability")) == 3


async def test_in_area_with_availability_needs_no_more_calls(client, sim):
    locations = await client.locations_in_area((37.85, -122.35), (37.70, -122.50))  # corners in any order
    assert len(locations) == 3
    assert all(loc.availability is not None for loc in locations)
    assert not any(r.path.endswith("/availability") for r in sim.requests)


async def test_one_failing_availability_does_not_hide_the_others(client, sim, faulty):
    def strip(request, body):
        if request.url.path.endswith("/in-area"):
            for item in body:
                item.pop("lockerAvailability", None)
                item.pop("byType", None)
        return body

    faulty.rewrite = strip
    sim.add_fault(method="GET", path=r"/locations/102/availability", status=404)
    locations = {loc.id: loc for loc in await client.locations_in_area((37.70, -122.50), (37.85, -122.35))}
    assert locations[102].availability is None
    assert locations[101].availability is not None


async def test_reservation_token_and_release_bodies(client):
    reservation = await client.reserve(TOWER.upper(), 1014, 120)
    assert reservation.tower_id == TOWER
    assert reservation.locker_id == 1014
    assert reservation.duration == 120
    assert reservation.expires_at is not None
    assert reservation.expires_at.tzinfo is not None

    token = await client.dropoff_token(TOWER, 1014, duration=300, client_info="delivery-42")
    assert token.locker.status.name == "rented"
    assert len(token.payload.get_secret_value()) % 2 == 0
    assert token.expires.tzinfo is not None
    assert "payload" not in repr(token.payload)

    held = await client.assigned_lockers()
    assert [locker.id for locker in held] == [1014]

    released = await client.release(TOWER, 1014)
    assert isinstance(released, Locker)
    assert released.is_available


async def test_location_and_lockers(client):
    location = await client.location(101)
    assert location.timezone == "America/Los_Angeles"
    lockers = await client.location_lockers(101)
    assert {locker.tower_id for locker in lockers} == {"010000000000001a", "010000000000001b"}


async def test_test_token_returns_harbors_answer(client):
    answer = await client.test_token()
    assert answer["client_id"] == "harbor-bot-simulator"


async def test_an_answer_that_is_not_a_list_is_an_error(client, faulty):
    faulty.rewrite = lambda request, body: {"unexpected": True} if "/lockers" in request.url.path else body
    with pytest.raises(HarborError, match="list of lockers"):
        await client.tower_lockers(TOWER)
