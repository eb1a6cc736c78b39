"""The repository's part for issue 17: Harbor's list of locations kept in the database, the one walk
that refreshes it claimed like any shared job, and the places a person used before."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from storage.models import OPEN_STATES, Delivery, GeocodedPlace, JobKind, KnownLocation, RateGate, ScheduledJob
from storage.repo_base import RepositoryBase, insert_for

_COLUMNS = ("name", "lat", "lon", "address1", "address2", "city", "state", "zip", "country", "timezone")


@dataclass(frozen=True, slots=True)
class UsedPlace:
    location_id: int
    name: str


class KnownLocations(RepositoryBase):
    # Harbor's locations ----------------------------------------------------------------------

    async def replace_locations(self, rows: Sequence[KnownLocation], *, now: datetime) -> None:
        """The list after a complete walk: every row upserted, the ones Harbor no longer lists gone,
        in one transaction (a search never sees half a list)."""
        async with self._session() as session:
            for row in rows:
                values = {name: getattr(row, name) for name in _COLUMNS} | {"refreshed_at": now}
                stmt = insert_for(session)(KnownLocation).values(id=row.id, **values)
                await session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))
            await session.execute(delete(KnownLocation).where(col(KnownLocation.refreshed_at) < now))
            await session.commit()

    async def known_locations(self) -> list[KnownLocation]:
        async with self._session() as session:
            return list(await session.exec(select(KnownLocation).order_by(col(KnownLocation.id))))

    async def known_location(self, location_id: int) -> KnownLocation | None:
        async with self._session() as session:
            return await session.get(KnownLocation, location_id)

    async def locations_refreshed_at(self) -> datetime | None:
        async with self._session() as session:
            return (await session.exec(select(func.max(KnownLocation.refreshed_at)))).first()

    # one shared job, claimed on demand ---------------------------------------------------------

    async def claim_job(
        self, kind: JobKind, ref: str, owner: str, *, now: datetime, lease: timedelta, last_run_before: datetime
    ) -> ScheduledJob | None:
        """This one timer, if it has not run since `last_run_before` and nobody holds it: a conditional
        UPDATE, so two claims (any process, its scheduler or a search) never both win it."""
        free = (col(ScheduledJob.lease_until).is_(None)) | (col(ScheduledJob.lease_until) < now)
        not_lately = (col(ScheduledJob.last_run_at).is_(None)) | (col(ScheduledJob.last_run_at) <= last_run_before)
        async with self._session() as session:
            won = await session.execute(
                update(ScheduledJob)
                .where(col(ScheduledJob.kind) == kind, col(ScheduledJob.ref) == ref, free, not_lately)
                .values(lease_until=now + lease, lease_owner=owner, attempts=col(ScheduledJob.attempts) + 1)
                .returning(ScheduledJob)
            )
            job = won.scalars().first()
            await session.commit()
            return job

    async def extend_lease(self, job: ScheduledJob, *, until: datetime) -> bool:
        """Hold a claimed job longer (a walk of many pages outlasts the scheduler's short lease)."""
        async with self._session() as session:
            done = await session.execute(
                update(ScheduledJob)
                .where(col(ScheduledJob.id) == job.id, col(ScheduledJob.lease_owner) == job.lease_owner)
                .values(lease_until=until)
                .returning(col(ScheduledJob.id))
            )
            held = done.first() is not None
            await session.commit()
            return held

    # a person's places and history -------------------------------------------------------------

    async def finished_deliveries_of(self, user_id: int, *, limit: int = 3) -> list[Delivery]:
        """The person's latest finished deliveries as sender (for /my), newest first."""
        async with self._session() as session:
            stmt = (
                select(Delivery)
                .where(
                    col(Delivery.sender_id) == user_id,
                    ~col(Delivery.state).in_(list(OPEN_STATES)),
                )
                .order_by(col(Delivery.id).desc())
                .limit(limit)
            )
            return list(await session.exec(stmt))

    # optional geocoding: answers cached, and one shared gate for its rate ----------------------

    async def cached_point(self, query: str, *, since: datetime) -> GeocodedPlace | None:
        """A lookup of `query` made after `since` (a found point, or a row saying nothing was found)."""
        async with self._session() as session:
            place = await session.get(GeocodedPlace, query)
            return place if place is not None and place.looked_up_at >= since else None

    async def cache_point(self, query: str, point: tuple[float, float] | None, *, now: datetime) -> None:
        lat, lon = point if point is not None else (None, None)
        values = {"lat": lat, "lon": lon, "looked_up_at": now}
        async with self._session() as session:
            stmt = insert_for(session)(GeocodedPlace).values(query=query, **values)
            await session.execute(stmt.on_conflict_do_update(index_elements=["query"], set_=values))
            await session.commit()

    async def pass_gate(self, name: str, *, now: datetime, interval: timedelta) -> datetime | None:
        """Take the gate's turn if it is open (None: go now), else say when it opens. One conditional
        UPDATE: two processes never both pass within `interval`."""
        async with self._session() as session:
            stmt = insert_for(session)(RateGate).values(name=name, next_at=now)
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            passed = await session.execute(
                update(RateGate)
                .where(col(RateGate.name) == name, col(RateGate.next_at) <= now)
                .values(next_at=now + interval)
                .returning(col(RateGate.name))
            )
            won = passed.first() is not None
            gate = None if won else await session.get(RateGate, name)
            await session.commit()
            return None if won or gate is None else gate.next_at


def used_places(session: Session, user_id: int, *, limit: int = 3) -> list[UsedPlace]:
    """The last `limit` distinct locations where the person held a locker, latest first. Read from
    their own deliveries, so /forget (which anonymises the finished ones) takes them away too."""
    latest = func.max(Delivery.id)
    stmt = (
        select(Delivery.location_id, latest)
        .where(col(Delivery.sender_id) == user_id, col(Delivery.locker_id).is_not(None))
        .group_by(col(Delivery.location_id))
        .order_by(latest.desc())
        .limit(limit)
    )
    ids = [row[1] for row in session.execute(stmt)]
    if not ids:
        return []
    rows = session.execute(select(Delivery).where(col(Delivery.id).in_(ids)).order_by(col(Delivery.id).desc()))
    return [UsedPlace(d.location_id, d.location_name) for d in rows.scalars()]
