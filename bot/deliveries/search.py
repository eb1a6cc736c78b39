"""Finding a locker: locations near a point, and the free sizes at one location. Read-only at Harbor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from bot.deliveries.model import (
    DeliveryProblem,
    LocationNotFound,
    LocationOffer,
    Nearby,
    NearbyResult,
    Policy,
    ServiceUnavailable,
    SizeOffer,
)
from bot.geo import Point, box_around, distance_km
from bot.harbor.client import HarborClient
from bot.harbor.errors import HarborError, HarborNotFound
from bot.harbor.models import Location, Locker

T = TypeVar("T")
PLACE_TTL_SECONDS = 600
BOX_MARGIN_KM = 0.2  # a location's point, padded: Harbor's box test is inclusive but floats are floats


class LocationSearch:
    def __init__(self, harbor: HarborClient, policy: Policy) -> None:
        self.harbor = harbor
        self.policy = policy
        # Name, address, zone and position of a location change rarely, so a per-process cache of
        # them is only a saving (any process can fill it); free lockers are always read fresh.
        self._places: dict[int, tuple[float, Location]] = {}

    async def nearby(self, center: Point) -> NearbyResult:
        """Locations with free lockers, nearest first, in a box widened (x2) until one is found."""
        radius = min(self.policy.search_radius_km, self.policy.max_radius_km)
        while True:
            found = await harbor_call(self.harbor.locations_in_area(*box_around(center, radius)))
            for loc in found:
                self._places[loc.id] = (time.monotonic(), loc)
            places = sorted(
                (
                    Nearby(loc, distance_km(center, (loc.lat, loc.lon)))
                    for loc in found
                    if loc.availability is not None and loc.availability.counts.available > 0
                ),
                key=lambda n: n.distance_km,
            )
            # The box's corners reach further than its radius; keep only what is within it.
            places = [p for p in places if p.distance_km <= radius]
            if places or radius >= self.policy.max_radius_km:
                return NearbyResult(center, radius, places[: self.policy.max_results])
            radius = min(radius * 2, self.policy.max_radius_km)

    async def available_among(self, places: Sequence[Location]) -> list[Location]:
        """These locations as Harbor shows them now, free lockers included, in one in-area call over the
        box that holds them all (what a search around a shared point costs; issue 17)."""
        if not places:
            return []
        corners = [corner for p in places for corner in box_around((p.lat, p.lon), BOX_MARGIN_KM)]
        south_west = (min(c[0] for c in corners), min(c[1] for c in corners))
        north_east = (max(c[0] for c in corners), max(c[1] for c in corners))
        found = await harbor_call(self.harbor.locations_in_area(south_west, north_east))
        wanted = {p.id for p in places}
        for loc in found:
            self._places[loc.id] = (time.monotonic(), loc)
        return [loc for loc in found if loc.id in wanted]

    async def location_offer(self, location_id: int) -> LocationOffer:
        """A location and its free lockers per size, read fresh from the lockers themselves."""
        location, lockers = await self.location_and_lockers(location_id)
        return LocationOffer(location, free_sizes(lockers))

    async def location_and_lockers(self, location_id: int) -> tuple[Location, list[Locker]]:
        location, lockers = await asyncio.gather(
            self.location(location_id),
            harbor_call(self.harbor.location_lockers(location_id), not_found=LocationNotFound),
        )
        return location, lockers

    async def location(self, location_id: int) -> Location:
        """The location's details, from the last search when it is recent (one GET less per step)."""
        seen = self._places.get(location_id)
        if seen is not None and time.monotonic() - seen[0] < PLACE_TTL_SECONDS:
            return seen[1]
        location = await harbor_call(self.harbor.location(location_id), not_found=LocationNotFound)
        self._places[location_id] = (time.monotonic(), location)
        return location


def free_sizes(lockers: list[Locker]) -> list[SizeOffer]:
    free: dict[int, SizeOffer] = {}
    for locker in lockers:
        if locker.is_available:
            seen = free.get(locker.type.id)
            free[locker.type.id] = SizeOffer(locker.type, (seen.free if seen else 0) + 1)
    return [free[type_id] for type_id in sorted(free)]


async def harbor_call(awaitable: Awaitable[T], *, not_found: type[DeliveryProblem] | None = None) -> T:
    """Await a Harbor read, turning Harbor's failures into what the user can act on."""
    try:
        return await awaitable
    except HarborNotFound as exc:
        if not_found is not None:
            raise not_found(exc.detail) from exc
        raise ServiceUnavailable(str(exc)) from exc
    except HarborError as exc:
        raise ServiceUnavailable(str(exc)) from exc
