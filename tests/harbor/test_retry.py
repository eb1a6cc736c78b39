"""Retries: backoff with full jitter, Retry-After, stalls, the total deadline, and POSTs never repeated."""

from __future__ import annotations

import asyncio
import random
import statistics
import time

import pytest

from bot.harbor import HarborOutcomeUnknown, HarborRateLimited, HarborUnavailable
from bot.harbor.retry import RetryPolicy, parse_retry_after
from tests.harbor.conftest import TOWER, api_requests


def test_backoff_is_capped_full_jitter():
    policy = RetryPolicy(backoff_base=0.25, backoff_cap=4.0, rng=random.Random(1))
    for attempt in range(1, 12):
        ceiling = min(4.0, 0.25 * 2 ** (attempt - 1))
        samples = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # spread over the whole range, not a fixed step


def test_parse_retry_after():
    assert parse_retry_after("3") == 3
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_get_retries_429_honouring_retry_after(client, sim, fake_time):
    sim.add_fault(method="GET", path="/towers/", status=429, retry_after=1.5, times=2)
    lockers = await client.tower_lockers(TOWER)
    assert len(lockers) == 24
    assert fake_time.sleeps == [1.5, 1.5]
    assert [r.status for r in api_requests(sim, "GET", "/towers/")] == [429, 429, 200]


async def test_retry_after_longer_than_the_deadline_gives_up_at_once(client, sim, fake_time):
    sim.add_fault(method="GET", path="/towers/", status=429, retry_after=60, times=None)
    with pytest.raises(HarborRateLimited) as caught:
        await client.tower_lockers(TOWER)
    assert caught.value.retry_after == 60
    assert fake_time.sleeps == []


async def test_get_retries_502_503_504_with_growing_backoff(client, sim, fake_time):
    for status in (502, 503, 504):
        sim.add_fault(method="GET", path="/towers/", status=status)
    lockers = await client.tower_lockers(TOWER)
    assert len(lockers) == 24
    assert [r.status for r in api_requests(sim, "GET", "/towers/")] == [502, 503, 504, 200]
    assert len(fake_time.sleeps) == 3
    assert all(s <= 0.25 * 2**i for i, s in enumerate(fake_time.sleeps))


async def test_deadline_exceeded_is_unavailable(client, sim, fake_time):
    sim.add_fault(method="GET", path="/towers/", status=503, times=None)
    with pytest.raises(HarborUnavailable) as caught:
        await client.tower_lockers(TOWER)
    assert caught.value.status_code == 503
    assert fake_time.now - 1000.0 <= 20.0  # within get_deadline (fake clock)
    attempts = len(api_requests(sim, "GET", "/towers/"))
    assert attempts > 5
    assert max(fake_time.sleeps) <= 4.0  # backoff_cap


async def test_a_stalled_get_is_retried_after_the_attempt_timeout(make_client, sim):
    client = make_client(real_time=True, timeout=0.2, get_deadline=3.0, backoff_base=0.01)
    await client.service_token()
    sim.add_fault(method="GET", path="/towers/", stall=5.0)
    started = time.monotonic()
    lockers = await client.tower_lockers(TOWER)
    took = time.monotonic() - started
    assert len(lockers) == 24
    assert 0.18 < took < 1.0
    assert [r.status for r in api_requests(sim, "GET", "/towers/")] == [499, 200]


async def test_the_attempt_timeout_never_outlives_the_deadline(make_client, sim):
    client = make_client(real_time=True, timeout=10.0, get_deadline=0.3, backoff_base=0.01)
    await client.service_token()
    sim.add_fault(method="GET", path="/towers/", stall=5.0, times=None)
    started = time.monotonic()
    with pytest.raises(HarborUnavailable, match=r"within 0\.3 s"):
        await client.tower_lockers(TOWER)
    assert time.monotonic() - started < 0.6


async def test_post_stalled_after_handling_is_outcome_unknown_and_reconcilable(make_client, sim):
    client = make_client(real_time=True, timeout=0.2, get_deadline=3.0, backoff_base=0.01)
    await client.service_token()
    sim.add_fault(method="POST", path="/reservations", stall=5.0, stall_after=True)
    with pytest.raises(HarborOutcomeUnknown):
        await client.reserve(TOWER, 1015, 300)
    # Not repeated: Harbor saw exactly one reservation request ...
    assert len(api_requests(sim, "POST", "/reservations")) == 1
    # ... and reading Harbor's state settles what happened: the locker is reserved, by us.
    locker = next(locker for locker in await client.tower_lockers(TOWER) if locker.id == 1015)
    assert locker.status.name == "reserved"
    assert [locker.id for locker in await client.assigned_lockers()] == [1015]


async def test_post_stalled_before_handling_is_also_unknown_but_nothing_happened(make_client, sim):
    client = make_client(real_time=True, timeout=0.2, get_deadline=3.0)
    await client.service_token()
    sim.add_fault(method="POST", path="/dropoff-locker-tokens", stall=5.0)
    with pytest.raises(HarborOutcomeUnknown):
        await client.dropoff_token(TOWER, 1016, duration=300)
    assert len(api_requests(sim, "POST", "/dropoff-locker-tokens")) == 1
    assert sim.locker(1016)["status"]["name"] == "available"  # reconciliation shows: not issued
    assert sim.issued_tokens() == []


async def test_done_means_fifty_gets_survive_thirty_percent_faults(make_client, sim, capsys):
    """Scaled-down timings (attempt timeout 0.2 s, deadline 5 s) of the production defaults (10 s, 20 s)."""
    client = make_client(real_time=True, timeout=0.2, get_deadline=5.0, backoff_base=0.05, backoff_cap=0.5,
                         rng=random.Random(3))  # fmt: skip
    await client.service_token()
    # 30 % of GET attempts fail: half answer 503, half stall past the attempt timeout.
    sim.add_fault(method="GET", status=503, probability=0.15, times=None)
    sim.add_fault(method="GET", stall=0.5, probability=0.15 / 0.85, times=None)
    gate = asyncio.Semaphore(10)
    calls = [lambda: client.tower_lockers(TOWER), lambda: client.location_lockers(101), lambda: client.location(102)]
    latencies: list[float] = []

    async def one(i: int) -> bool:
        async with gate:
            started = time.monotonic()
            result = await calls[i % 3]()
            latencies.append(time.monotonic() - started)
            return bool(result)

    results = await asyncio.gather(*(one(i) for i in range(50)), return_exceptions=True)
    failures = [r for r in results if r is not True]
    gets = [r for r in sim.requests if r.method == "GET"]
    faulted = sum(1 for r in gets if r.status != 200)
    with capsys.disabled():
        print(
            f"\n[done-means] {50 - len(failures)}/50 GETs succeeded; {len(gets)} attempts, {faulted} faulted "
            f"({faulted / len(gets):.0%}); latency median {statistics.median(latencies):.3f} s, "
            f"max {max(latencies):.3f} s (deadline 5 s)"
        )
    assert failures == []
    assert max(latencies) < 5.0
    assert faulted > 0
