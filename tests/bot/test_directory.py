"""bot/deliveries/directory.py: Harbor's list kept in the database, walked at most once per interval
whoever asks, and the typed search's cost at Harbor (issue 17)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from bot.deliveries import ServiceUnavailable
from bot.deliveries.directory import ListLoading, LocationDirectory
from storage.models import JobKind, KnownLocation, ScheduledJob
from storage.types import utcnow
from tests.bot.conftest import CIVIC, HAYES, YERBA, Lab, LabFactory, seed_with_locations

EVERY = timedelta(minutes=60)


def directory(lab: Lab) -> LocationDirectory:
    return LocationDirectory(lab.harbor, lab.repo, lab.deliveries.search, refresh_every=EVERY, shown=5)


def walks(lab: Lab) -> list[str]:
    return [r.query for r in lab.sim.requests if r.method == "GET" and r.path == "/api/v1/locations/"]


async def test_the_first_search_walks_then_every_search_reads_the_database(lab: Lab) -> None:
    found = await directory(lab).find("mission")
    assert [p.id for p in found.places] == [YERBA]
    assert walks(lab) == ["skip=0&limit=100"]

    lab.sim.requests.clear()
    again = await directory(lab).find("san francisco")
    assert [p.id for p in again.places] == [CIVIC, YERBA]
    assert again.full == ("Hayes Valley - Octavia St",)  # matched, nothing free: named, not offered
    assert not walks(lab)
    # The free lockers of the few shown: one in-area call, as a search around a shared point.
    assert [r.path for r in lab.sim.requests] == ["/api/v1/locations/in-area"]
    assert HAYES not in {p.id for p in again.places}


async def test_concurrent_searches_on_an_empty_list_walk_once(lab: Lab) -> None:
    many = [directory(lab) for _ in range(4)]
    outcomes = await asyncio.gather(*(d.find("austin") for d in many), return_exceptions=True)
    assert len([q for q in walks(lab) if q.startswith("skip=0")]) == 1
    answered = [o for o in outcomes if not isinstance(o, BaseException)]
    assert answered and all(len(o.places) == 2 for o in answered)
    # The others were told the list is loading (not "nothing found", not "Harbor is down").
    assert all(isinstance(o, ListLoading) for o in outcomes if isinstance(o, BaseException))


async def test_a_stale_list_is_walked_again_once_and_a_fresh_one_never(make_lab: LabFactory) -> None:
    lab = await make_lab(seed=seed_with_locations([{"id": 700 + n, "lat": 39.0, "lon": -105.0} for n in range(230)]))
    d = directory(lab)
    await d.find("testville")
    assert [q for q in walks(lab)] == ["skip=0&limit=100", "skip=100&limit=100", "skip=200&limit=100"]
    assert len(await lab.repo.known_locations()) == 5 + 230

    await d.find("testville")
    assert len(walks(lab)) == 3  # fresh: no walk

    # An interval later the next search walks again: once, however many ask at the same time.
    await _an_interval_ago(lab)
    await asyncio.gather(*(directory(lab).find("testville") for _ in range(3)))
    assert len([q for q in walks(lab) if q.startswith("skip=0")]) == 2


async def _an_interval_ago(lab: Lab) -> None:
    """The list and its job's last run, one interval old (written behind the directory's back)."""
    then = utcnow() - EVERY - timedelta(seconds=1)
    async with lab.repo.session_factory() as session:
        await session.execute(update(KnownLocation).values(refreshed_at=then))
        await session.execute(
            update(ScheduledJob).where(col(ScheduledJob.kind) == JobKind.LOCATIONS).values(last_run_at=then)
        )
        await session.commit()


async def test_harbor_down_on_the_first_walk_is_harbor_down(make_lab: LabFactory) -> None:
    lab = await make_lab(backoff_base=0.01, get_deadline=0.3)
    lab.sim.add_fault(method="GET", path="/api/v1/locations/", status=503, times=None)
    with pytest.raises(ServiceUnavailable):
        await directory(lab).find("austin")
    # The claim was given back for a retry, not held: the next search may try again.
    job = await lab.repo.job(JobKind.LOCATIONS)
    assert job is not None and job.lease_owner is None


async def test_a_word_found_in_two_cities_shows_the_best_match_s_city_and_counts_the_rest(lab: Lab) -> None:
    await directory(lab).find("austin")  # the walk
    lab.sim.requests.clear()
    found = await directory(lab).find("st")  # Civic Center, Hayes Valley, Yerba Buena; and Austin's Elizabeth St
    assert [p.id for p in found.places] == [CIVIC, YERBA]
    assert found.more == 1
    [box] = [r.query for r in lab.sim.requests]
    assert "37.7" in box and "-122.4" in box and "30.2" not in box  # a box around San Francisco only
