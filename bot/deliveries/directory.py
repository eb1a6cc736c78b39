"""Find a locker by what people type (issue 17): Harbor's list of locations, kept in the database, and
the typed search over it.

The list is copied by one paged walk of `GET /api/v1/locations/` (docs/harbor-api.md §3.1, §4) at a
time, across all processes: the walk is the shared job `locations`, claimed under a lease like the
others (bot/jobs.py), due every LOCATIONS_REFRESH_MINUTES, and claimed on demand by a search that
finds the list missing or older than that. Both claims require that the job has not run within the
interval, so the walks cost at most one per interval whoever asks. A typed search reads the list from
the database and asks Harbor only for the free lockers of the few locations it shows, in one in-area
call (the same call, and the same cost, as a search around a shared location).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from bot.deliveries.geocode import Geocoder
from bot.deliveries.matching import Searchable, rank
from bot.deliveries.model import DeliveryProblem, ServiceUnavailable
from bot.deliveries.search import LocationSearch
from bot.geo import Point, distance_km
from bot.harbor.client import HarborClient
from bot.harbor.errors import HarborError
from bot.harbor.models import Location
from storage.models import JobKind, KnownLocation, ScheduledJob
from storage.repository import Repository
from storage.types import utcnow

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # LockerDrop's page (§4 #1): ~4 calls for Harbor's 350 production locations
WALK_LEASE = timedelta(minutes=2)  # a walk of many pages outlasts the scheduler's short lease
FAILED_WALK_RETRY = timedelta(minutes=1)
SHOWN_QUERY_CHARS = 60  # what a person typed, quoted back in the answer


class ListLoading(DeliveryProblem):
    """The list is empty and another process is walking it right now (the first search of a new
    deployment): a moment later it is there."""


@dataclass(frozen=True, slots=True)
class TypedResult:
    """What a typed search found: the locations shown (with their free lockers, best match first), how
    many more matched beyond those, and the names of the shown-worthy ones with nothing free now."""

    query: str
    places: list[Location]
    more: int = 0
    full: tuple[str, ...] = ()
    point: Point | None = None  # no location matched, but the geocoder placed the address here

    @property
    def matched(self) -> bool:
        return bool(self.places or self.full)


class LocationDirectory:
    def __init__(
        self,
        harbor: HarborClient,
        repo: Repository,
        search: LocationSearch,
        *,
        refresh_every: timedelta,
        shown: int,
        spread_km: float = 50.0,
        geocoder: Geocoder | None = None,
    ) -> None:
        self.harbor = harbor
        self.repo = repo
        self.search = search
        self.refresh_every = refresh_every
        self.shown = shown
        self.spread_km = spread_km  # how far from the best match others are shown with it
        self.geocoder = geocoder  # optional: an address that matches no location
        # Who holds the walk's lease when a search claims it (the scheduler names itself the same way).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:search:{uuid.uuid4().hex[:6]}"

    # the list ----------------------------------------------------------------------------------

    async def walk(self) -> list[Location]:
        """Every location, page by page (skip/limit), until a page comes back short."""
        found: list[Location] = []
        skip = 0
        while True:
            page = await self.harbor.locations_page(skip, PAGE_SIZE)
            found.extend(page)
            if len(page) < PAGE_SIZE:
                return found
            skip += PAGE_SIZE

    async def refresh(self, job: ScheduledJob) -> timedelta:
        """The job's run, by whichever process claimed it: one walk, stored whole. Returns how long until
        the next one is due."""
        if job.last_run_at is not None and utcnow() - job.last_run_at < self.refresh_every:
            # Claimed late: another process walked between this one's look and its claim.
            return job.last_run_at + self.refresh_every - utcnow()
        await self.repo.extend_lease(job, until=utcnow() + WALK_LEASE)
        locations = await self.walk()
        rows = [_row(loc) for loc in locations]
        now = utcnow()
        if rows:
            await self.repo.replace_locations(rows, now=now)
            log.info("harbor locations refreshed: %d", len(rows))
        else:
            # Harbor without a single location is an outage more likely than the truth: keep the last list.
            log.warning("harbor listed no locations; the stored list stands")
        return self.refresh_every

    async def refresh_if_stale(self) -> None:
        """On demand: walk now if the list is missing or older than the interval and no process has
        walked within it (or is walking); otherwise the list stands."""
        now = utcnow()
        last = await self.repo.locations_refreshed_at()
        if last is not None and now - last < self.refresh_every:
            return
        await self.repo.ensure_job(JobKind.LOCATIONS, "", now)
        job = await self.repo.claim_job(
            JobKind.LOCATIONS, "", self.owner, now=now, lease=WALK_LEASE, last_run_before=now - self.refresh_every
        )
        if job is None:
            if last is None:
                raise ListLoading()
            return  # walked lately, or another process is walking: use what is there
        try:
            next_in = await self.refresh(job)
        except HarborError as exc:
            await self.repo.retry_job(job, at=utcnow() + FAILED_WALK_RETRY)
            if last is None:
                raise ServiceUnavailable(str(exc)) from exc
            log.warning("harbor locations not refreshed (%s); searching the list of %s", type(exc).__name__, last)
            return
        await self.repo.finish_job(job, next_in=next_in)

    # the search --------------------------------------------------------------------------------

    async def find(self, text: str) -> TypedResult:
        await self.refresh_if_stale()
        shown = " ".join(text.split())[:SHOWN_QUERY_CHARS]
        known = {row.id: row for row in await self.repo.known_locations()}
        matches = [_location(known[m.id]) for m in rank(text, (_searchable(row) for row in known.values()))]
        if not matches:
            point = await self.geocoder.locate(text) if self.geocoder is not None else None
            return TypedResult(shown, [], point=point)
        # The best match and the next best near it (one city, say): one in-area box of bounded size, so
        # a word found in many cities costs what a search around one point costs; the rest are counted.
        best = (matches[0].lat, matches[0].lon)
        near = [loc for loc in matches if distance_km(best, (loc.lat, loc.lon)) <= self.spread_km]
        top = near[: self.shown]
        live = {loc.id: loc for loc in await self.search.available_among(top)}
        places: list[Location] = []
        full: list[str] = []
        for loc in top:
            now = live.get(loc.id)
            if now is not None and now.availability is not None and now.availability.counts.available > 0:
                places.append(now)
            else:
                full.append(loc.name)
        return TypedResult(shown, places, more=max(0, len(matches) - len(top)), full=tuple(full))


# The columns a stored location keeps: Harbor's own names, copied both ways.
_STORED = ("id", "name", "lat", "lon", "address1", "address2", "city", "state", "zip", "country", "timezone")


def _row(loc: Location) -> KnownLocation:
    return KnownLocation(**loc.model_dump(include=set(_STORED)), refreshed_at=utcnow())


def _searchable(row: KnownLocation) -> Searchable:
    street = " ".join(p for p in (row.address1, row.address2) if p)
    return Searchable(row.id, row.name, street, row.city or "", row.state or "", row.zip or "")


def _location(row: KnownLocation) -> Location:
    return Location(**{name: getattr(row, name) for name in _STORED})
