"""Read routes: locations, in-area, availability, lockers, assigned lockers, and the seed behind them."""

from __future__ import annotations

import math
import re
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.harbor.models import Availability, Location, Locker
from sandbox.harbor import HarborSimulator
from tests.sandbox.conftest import (
    AUSTIN_CENTRE,
    AUSTIN_LOCATIONS,
    FIRST_SF,
    FIRST_SF_TOWERS,
    FULL_LOCATION,
    FULL_TOWER,
    LOCKER,
    OOS_LOCKER,
    SF_CENTRE,
    SF_LOCATIONS,
    TOWER,
    Caller,
    box,
)

LOCATION_KEYS = {
    "id",
    "name",
    "lat",
    "lon",
    "description",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
    "notes",
    "accessHours",
    "timezone",
}


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


async def test_list_locations_has_exactly_the_14_keys_sorted_by_id(harbor_me: Caller) -> None:
    response = await harbor_me.get("/api/v1/locations/", params={"skip": 0, "limit": 1000})
    assert response.status_code == 200
    locations = response.json()
    assert [loc["id"] for loc in locations] == [*SF_LOCATIONS, *AUSTIN_LOCATIONS]
    for loc in locations:
        assert set(loc) == LOCATION_KEYS
        Location.from_api(loc)


@pytest.mark.parametrize(
    ("skip", "limit", "ids"), [(0, 2, [101, 102]), (2, 2, [103, 201]), (4, 10, [202]), (9, 10, []), (0, 0, [])]
)
async def test_list_locations_pages_with_skip_and_limit(harbor_me: Caller, skip: int, limit: int, ids: list) -> None:
    response = await harbor_me.get("/api/v1/locations/", params={"skip": skip, "limit": limit})
    assert [loc["id"] for loc in response.json()] == ids


@pytest.mark.parametrize("params", [{"skip": "x"}, {"limit": "-1"}, {"skip": "-3"}])
async def test_list_locations_rejects_bad_paging_with_422(harbor_me: Caller, params: dict) -> None:
    response = await harbor_me.get("/api/v1/locations/", params=params)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", next(iter(params))]
    assert error["msg"]
    assert error["type"]


async def test_get_one_location(harbor_me: Caller) -> None:
    response = await harbor_me.get(f"/api/v1/locations/{FIRST_SF}/")
    assert response.status_code == 200
    location = Location.from_api(response.json())
    assert location.city == "San Francisco"
    assert location.timezone == "America/Los_Angeles"
    assert set(response.json()) == LOCATION_KEYS


async def test_location_path_without_slash_redirects_like_fastapi(harbor_me: Caller) -> None:
    response = await harbor_me.get(f"/api/v1/locations/{FIRST_SF}")
    assert response.status_code == 307
    assert response.headers["location"].endswith(f"/api/v1/locations/{FIRST_SF}/")


@pytest.mark.parametrize("suffix", ["/", "/availability", "/lockers"])
async def test_unknown_location_is_404_and_a_bad_id_is_422(harbor_me: Caller, suffix: str) -> None:
    missing = await harbor_me.get(f"/api/v1/locations/999{suffix}")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Location not found"}
    bad = await harbor_me.get(f"/api/v1/locations/abc{suffix}")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "location_id"]


async def test_in_area_5km_around_sf_finds_the_sf_locations_with_availability(harbor_me: Caller) -> None:
    response = await harbor_me.get("/api/v1/locations/in-area", params=box(*SF_CENTRE, 5))
    assert response.status_code == 200
    found = response.json()
    assert [loc["id"] for loc in found] == list(SF_LOCATIONS)
    for raw in found:
        assert set(raw) == LOCATION_KEYS | {"lockerAvailability", "byType"}
        assert Location.from_api(raw).availability is not None
    nearest = min(found, key=lambda loc: _km(SF_CENTRE, (loc["lat"], loc["lon"])))
    assert nearest["id"] == FIRST_SF


async def test_in_area_austin(harbor_me: Caller) -> None:
    response = await harbor_me.get("/api/v1/locations/in-area", params=box(*AUSTIN_CENTRE, 5))
    assert [loc["id"] for loc in response.json()] == list(AUSTIN_LOCATIONS)


async def test_in_area_accepts_corners_in_any_order(harbor_me: Caller) -> None:
    lat1, lon1, lat2, lon2 = 37.70, -122.50, 37.80, -122.38
    results = []
    for start, end in [
        ((lat1, lon1), (lat2, lon2)),
        ((lat2, lon2), (lat1, lon1)),
        ((lat1, lon2), (lat2, lon1)),
        ((lat2, lon1), (lat1, lon2)),
    ]:
        params = {"start": "%s,%s" % start, "end": "%s,%s" % end}  # noqa: UP031
        response = await harbor_me.get("/api/v1/locations/in-area", params=params)
        results.append([loc["id"] for loc in response.json()])
    assert results == [list(SF_LOCATIONS)] * 4


async def test_in_area_of_empty_sea_is_an_empty_list(harbor_me: Caller) -> None:
    response = await harbor_me.get("/api/v1/locations/in-area", params={"start": "0,0", "end": "1,1"})
    assert response.status_code == 200
    assert response.json() == []


async def test_in_area_counts_match_the_seed(harbor_me: Caller) -> None:
    response = await harbor_me.get("/api/v1/locations/in-area", params=box(*SF_CENTRE, 5))
    by_id = {loc["id"]: loc for loc in response.json()}
    first = by_id[FIRST_SF]
    # 36 lockers in two towers; the out-of-service one counts in the total but is not available.
    assert first["lockerAvailability"] == {"availableLockers": 35, "totalLockers": 36}
    assert [(t["lockerType"]["id"], t["lockerType"]["name"], t["lockerAvailability"]) for t in first["byType"]] == [
        (1, "small", {"availableLockers": 12, "totalLockers": 12}),
        (2, "medium", {"availableLockers": 11, "totalLockers": 12}),
        (3, "large", {"availableLockers": 7, "totalLockers": 7}),
        (4, "x-large", {"availableLockers": 5, "totalLockers": 5}),
    ]
    full = by_id[FULL_LOCATION]
    assert full["lockerAvailability"] == {"availableLockers": 0, "totalLockers": 8}
    assert Location.from_api(full).availability.free_by_type() == []


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"start": "37.7,-122.5"}, "end"),
        ({"end": "37.7,-122.5"}, "start"),
        ({"start": "abc", "end": "1,1"}, "start"),
        ({"start": "37.7", "end": "1,1"}, "start"),
        ({"start": "1,1", "end": "91,0"}, "end"),
        ({"start": "1,1", "end": "1,2,3"}, "end"),
        ({"start": "1,1", "end": "0,-181"}, "end"),
    ],
)
async def test_in_area_malformed_query_is_422_list_form(harbor_me: Caller, params: dict, bad: str) -> None:
    response = await harbor_me.get("/api/v1/locations/in-area", params=params)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [error["loc"] for error in detail] == [["query", bad]]
    assert all(error["msg"] and error["type"] for error in detail)


async def test_availability_matches_in_area_and_follows_reservations(harbor_me: Caller) -> None:
    before = (await harbor_me.get(f"/api/v1/locations/{FIRST_SF}/availability")).json()
    in_area = (await harbor_me.get("/api/v1/locations/in-area", params=box(*SF_CENTRE, 5))).json()[0]
    assert before == {"lockerAvailability": in_area["lockerAvailability"], "byType": in_area["byType"]}

    assert (await harbor_me.reserve(LOCKER)).status_code == 200  # a small one
    after = Availability.model_validate((await harbor_me.get(f"/api/v1/locations/{FIRST_SF}/availability")).json())
    assert (after.counts.available, after.counts.total) == (34, 36)
    small = next(t for t in after.by_type if t.type.name == "small")
    assert (small.counts.available, small.counts.total) == (11, 12)


async def test_location_lockers_cover_every_tower_there(harbor_me: Caller) -> None:
    response = await harbor_me.get(f"/api/v1/locations/{FIRST_SF}/lockers")
    assert response.status_code == 200
    lockers = [Locker.model_validate(raw) for raw in response.json()]
    assert len(lockers) == 36
    assert {locker.tower_id for locker in lockers} == set(FIRST_SF_TOWERS)
    assert next(locker for locker in lockers if locker.id == OOS_LOCKER).status.name == "out_of_service"


@pytest.mark.parametrize("tower", [TOWER, TOWER.upper()])
async def test_tower_lockers_case_insensitive(harbor_me: Caller, tower: str) -> None:
    response = await harbor_me.get(f"/api/v1/towers/{tower}/lockers")
    assert response.status_code == 200
    raw = response.json()
    assert [locker["id"] for locker in raw] == list(range(1001, 1025))
    assert [locker["name"] for locker in raw] == [str(n) for n in range(1, 25)]
    assert raw[0] == {
        "id": 1001,
        "name": "1",
        "isLowLocker": True,
        "towerId": TOWER,
        "status": {"name": "available", "id": 1},
        "type": {"name": "small", "description": raw[0]["type"]["description"], "id": 1},
        "accessMode": "public",
    }


@pytest.mark.parametrize("tower", ["0100000000009999", "not-a-tower"])
async def test_unknown_tower_is_404(harbor_me: Caller, tower: str) -> None:
    response = await harbor_me.get(f"/api/v1/towers/{tower}/lockers")
    assert response.status_code == 404
    assert response.json() == {"detail": "Tower not found"}


async def test_full_location_tower_shows_every_locker_occupied(harbor_me: Caller) -> None:
    raw = (await harbor_me.get(f"/api/v1/towers/{FULL_TOWER}/lockers")).json()
    assert {locker["status"]["name"] for locker in raw} == {"occupied"}
    assert {locker["status"]["id"] for locker in raw} == {4}


async def test_assigned_lockers_lists_only_the_callers_held_lockers(harbor_me: Caller, harbor_other: Caller) -> None:
    assert (await harbor_me.get("/api/v1/users/me/assigned-lockers")).json() == []
    await harbor_me.reserve(1001)
    await harbor_me.issue("dropoff", 1002)
    await harbor_other.reserve(1003)

    mine = (await harbor_me.get("/api/v1/users/me/assigned-lockers")).json()
    assert [(locker["id"], locker["status"]["name"]) for locker in mine] == [(1001, "reserved"), (1002, "rented")]
    theirs = (await harbor_other.get("/api/v1/users/me/assigned-lockers")).json()
    # other-provider also holds the full location's eight lockers from the seed.
    assert [locker["id"] for locker in theirs] == [1003, *range(1301, 1309)]

    await harbor_me.release(1002)
    assert [locker["id"] for locker in (await harbor_me.get("/api/v1/users/me/assigned-lockers")).json()] == [1001]


def test_seed_shape() -> None:
    sim = HarborSimulator()
    assert {i: t["name"] for i, t in sim.types.items()} == {1: "small", 2: "medium", 3: "large", 4: "x-large"}
    assert [lk.id for lk in sim.lockers.values() if lk.status == "out_of_service"] == [OOS_LOCKER]
    cities = {loc["city"] for loc in sim.locations.values()}
    assert cities == {"San Francisco", "Austin"}
    for loc in sim.locations.values():
        ZoneInfo(loc["timezone"])
        towers = [t for t, where in sim._tower_location.items() if where == loc["id"]]
        assert 1 <= len(towers) <= 2
        centre = SF_CENTRE if loc["city"] == "San Francisco" else AUSTIN_CENTRE
        assert _km(centre, (loc["lat"], loc["lon"])) < 2.5
    assert any(loc["accessHours"] is None for loc in sim.locations.values())
    assert any(loc["accessHours"] is not None for loc in sim.locations.values())
    for tower_id, ids in sim.towers.items():
        assert re.fullmatch(r"01[0-9a-f]{14}", tower_id)
        assert 8 <= len(ids) <= 24
        assert [sim.lockers[i].name for i in ids] == [str(n) for n in range(1, len(ids) + 1)]
    assert any(lk.is_low for lk in sim.lockers.values())
    assert not all(lk.is_low for lk in sim.lockers.values())
    full = [lk for lk in sim.lockers.values() if lk.location_id == FULL_LOCATION]
    assert {(lk.status, lk.holder) for lk in full} == {("occupied", "other-provider")}
    assert len([t for t, where in sim._tower_location.items() if where == FIRST_SF]) >= 2


def test_seed_dict_is_not_mutated_and_bad_seeds_are_refused() -> None:
    seed = {
        "lockerTypes": [{"id": 1, "name": "small"}],
        "locations": [
            {
                "id": 1,
                "name": "A",
                "lat": 1.0,
                "lon": 2.0,
                "towers": [
                    {"id": "01000000000000AA", "firstLockerId": 10, "lockers": [{"doors": "1-8", "type": "small"}]}
                ],
            }
        ],
    }
    sim = HarborSimulator(seed)
    assert sim.locker(17)["towerId"] == "01000000000000aa"
    assert seed["locations"][0]["towers"][0]["id"] == "01000000000000AA"
    assert sim.get_location(1)["accessHours"] is None
    bad_tower = {
        **seed,
        "locations": [{**seed["locations"][0], "towers": [{"id": "xyz", "firstLockerId": 1, "lockers": []}]}],
    }
    with pytest.raises(ValueError, match="tower"):
        HarborSimulator(bad_tower)


async def test_locker_hook_shows_what_the_api_shows(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    await harbor_me.issue("dropoff")
    api = next(lk for lk in (await harbor_me.get(f"/api/v1/towers/{TOWER}/lockers")).json() if lk["id"] == LOCKER)
    assert harbor_sim.locker(LOCKER) == api
    assert (await harbor_me.http.get(f"/_sim/lockers/{LOCKER}")).json() == api


async def test_api_json_parses_with_the_bot_models(harbor_http: httpx.AsyncClient, harbor_me: Caller) -> None:
    for raw in (await harbor_me.get("/api/v1/locations/in-area", params=box(*SF_CENTRE, 5))).json():
        location = Location.from_api(raw)
        assert location.availability is not None
        assert location.availability.counts.total > 0
