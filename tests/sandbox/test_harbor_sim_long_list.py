"""The simulator's list of locations grown past a few pages (issue 17): `add_locations` seeds more into a
running simulator, and `GET /api/v1/locations/` pages them by skip/limit in id order (docs/harbor-api.md §4)."""

from __future__ import annotations

import pytest

from sandbox.harbor import HarborSimulator
from tests.sandbox.conftest import AUSTIN_LOCATIONS, SF_LOCATIONS, Caller

EXTRA = 260


@pytest.fixture
def grown(harbor_sim: HarborSimulator) -> HarborSimulator:
    harbor_sim.add_locations(
        [
            {
                "id": 5000 + n,
                "name": f"Spot {n}",
                "lat": 34.0 + n / 1000,
                "lon": -118.0,
                "city": "Los Angeles",
                "towers": [{"id": f"0100000000{0x5000 + n:06x}", "firstLockerId": 60000 + 10 * n, "lockers": []}],
            }
            for n in range(EXTRA)
        ]
    )
    return harbor_sim


async def test_pages_of_100_cover_every_location_once_in_id_order(grown: HarborSimulator, harbor_me: Caller) -> None:
    seen: list[int] = []
    skip = 0
    while True:
        page = (await harbor_me.get("/api/v1/locations/", params={"skip": skip, "limit": 100})).json()
        seen.extend(loc["id"] for loc in page)
        if len(page) < 100:
            break
        skip += 100
    assert seen == [*SF_LOCATIONS, *AUSTIN_LOCATIONS, *range(5000, 5000 + EXTRA)]
    assert skip == 200  # three pages: 100, 100, 65


def test_a_duplicate_id_is_refused(grown: HarborSimulator) -> None:
    with pytest.raises(ValueError, match="duplicate location id"):
        grown.add_locations([{"id": 5000, "name": "again", "lat": 0, "lon": 0, "towers": []}])
