"""Harbor's answers mapped to bot.harbor.errors, carrying Harbor's `detail`."""

from __future__ import annotations

import pytest

from bot.harbor import (
    HarborAuthError,
    HarborNotAvailable,
    HarborNotFound,
    HarborOutcomeUnknown,
    HarborRateLimited,
    HarborUnavailable,
    HarborValidationError,
)
from tests.harbor.conftest import TOWER, api_requests


async def test_unknown_location_is_not_found(client):
    with pytest.raises(HarborNotFound) as caught:
        await client.location(999999)
    assert caught.value.detail == "Location not found"
    assert caught.value.status_code == 404


async def test_unknown_tower_is_not_found(client):
    with pytest.raises(HarborNotFound, match="Tower not found"):
        await client.tower_lockers("01000000000000ff")


async def test_reserving_a_taken_locker_is_not_available(client):
    await client.reserve(TOWER, 1002, 300)
    with pytest.raises(HarborNotAvailable) as caught:
        await client.reserve(TOWER, 1002, 300)
    assert caught.value.detail == "Locker is not available"
    assert caught.value.status_code == 400


async def test_pickup_token_on_an_empty_locker_is_not_available(client):
    with pytest.raises(HarborNotAvailable, match="not occupied"):
        await client.pickup_token(TOWER, 1003, duration=300)


async def test_a_locker_held_by_another_client_is_an_auth_error(client, sim):
    sim.set_locker_status(1004, "reserved", holder="other-provider")
    with pytest.raises(HarborAuthError) as caught:
        await client.cancel_reservation(TOWER, 1004)
    assert caught.value.status_code == 403
    assert "another client" in caught.value.detail


async def test_409_is_not_available(client, sim):
    sim.add_fault(method="POST", path="/release-locker", status=409)
    with pytest.raises(HarborNotAvailable) as caught:
        await client.release(TOWER, 1005)
    assert caught.value.status_code == 409


async def test_422_joins_the_list_form_of_detail(client, sim):
    with pytest.raises(HarborValidationError) as caught:
        await client.reserve(TOWER, 1006, 0)
    assert caught.value.status_code == 422
    assert "body.duration" in caught.value.detail
    assert "greater than or equal to 1" in caught.value.detail
    assert len(api_requests(sim, "POST", "/reservations")) == 1  # never retried


async def test_429_past_the_deadline_is_rate_limited_with_retry_after(client, sim):
    sim.add_fault(method="POST", path="/reservations", status=429, retry_after=120)
    with pytest.raises(HarborRateLimited) as caught:
        await client.reserve(TOWER, 1007, 300)
    assert caught.value.retry_after == 120
    assert len(api_requests(sim, "POST", "/reservations")) == 1  # no point waiting 120 s in a 20 s deadline


async def test_500_on_a_get_is_unavailable_and_not_retried(client, sim):
    sim.add_fault(method="GET", status=500, times=None)
    with pytest.raises(HarborUnavailable) as caught:
        await client.location_lockers(101)
    assert caught.value.status_code == 500
    assert len(api_requests(sim, "GET", "/lockers")) == 1


async def test_504_after_a_post_may_have_happened(client, sim):
    # The gateway timed out after the request went in: Harbor reserved it, we cannot know.
    sim.add_fault(method="POST", path="/reservations", status=504, stall_after=True, stall=0.01)
    with pytest.raises(HarborOutcomeUnknown):
        await client.reserve(TOWER, 1008, 300)
    assert len(api_requests(sim, "POST", "/reservations")) == 1
    assert sim.locker(1008)["status"]["name"] == "reserved"


async def test_503_on_a_post_is_retried_because_nothing_happened(client, sim, fake_time):
    sim.add_fault(method="POST", path="/dropoff-locker-tokens", status=503, times=2)
    token = await client.dropoff_token(TOWER, 1009, duration=300)
    assert token.locker.id == 1009
    assert [r.status for r in api_requests(sim, "POST", "/dropoff-locker-tokens")] == [503, 503, 200]
    assert len(sim.issued_tokens()) == 1


async def test_connect_error_on_a_post_is_retried_because_nothing_was_sent(client, sim, faulty):
    await client.service_token()
    faulty.connect_errors = 2
    reservation = await client.reserve(TOWER, 1010, 300)
    assert reservation.locker_id == 1010
    assert len(api_requests(sim, "POST", "/reservations")) == 1


async def test_connection_dropped_after_a_post_is_outcome_unknown(client, sim, faulty):
    await client.service_token()
    faulty.read_errors_after_send = 1
    with pytest.raises(HarborOutcomeUnknown):
        await client.release(TOWER, 1011)
    assert len(api_requests(sim, "POST", "/release-locker")) == 1


async def test_connect_errors_until_the_deadline_are_unavailable(client, sim, faulty, fake_time):
    faulty.connect_errors = 10_000
    with pytest.raises(HarborUnavailable, match="did not answer"):
        await client.tower_lockers(TOWER)
    assert fake_time.now - 1000.0 <= 20.0
    assert not sim.requests


async def test_cancel_reservation_is_idempotent(client, sim, faulty):
    await client.reserve(TOWER, 1012, 300)
    # The DELETE reaches Harbor and the answer is lost: it is retried, and "not reserved" means done.
    faulty.read_errors_after_send = 1
    assert await client.cancel_reservation(TOWER, 1012) is None
    assert sim.locker(1012)["status"]["name"] == "available"
    assert [r.status for r in api_requests(sim, "DELETE", "/reservations")] == [200, 400]


async def test_cancel_of_nothing_on_the_first_try_is_still_an_error(client):
    with pytest.raises(HarborNotAvailable, match="not reserved"):
        await client.cancel_reservation(TOWER, 1013)
