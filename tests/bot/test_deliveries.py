"""DeliveryService, LocationSearch, LockerWatch and Deadlines (bot/deliveries/) against the Harbor simulator
in process, on a real database.

Each test drives the service the way the handlers and jobs do and checks what a user would notice:
which locker they got, what Harbor now holds, what the delivery's state and history say.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from bot.deliveries import (
    AlreadyOpen,
    ChangeKind,
    Closed,
    DeliveryNotFound,
    DeliveryService,
    ItemAlreadyInside,
    KeyStillValid,
    LocationNotFound,
    LockerLost,
    Policy,
    ServiceUnavailable,
    SizeRanOut,
    WrongState,
    client_info,
)
from bot.geo import distance_km
from bot.keys import LockerKey
from storage.locks import Locks
from storage.models import Delivery, DeliveryState, IssuedKey, KeyKind, KeyState
from tests.bot.conftest import (
    ALICE,
    BOB,
    CAROL,
    CIVIC,
    CIVIC_FREE,
    CIVIC_TOWER_A,
    HAYES,
    LARGE,
    ME,
    MEDIUM,
    OTHER,
    SF_CENTRE,
    SMALL,
    YERBA,
    YERBA_TOWER,
    Lab,
    seed_with_locations,
)

S = DeliveryState


# --- nearby -------------------------------------------------------------------------------------


async def test_nearby_lists_locations_with_free_lockers_nearest_first(lab: Lab) -> None:
    result = await lab.deliveries.search.nearby(SF_CENTRE)

    assert result.radius_km == 5
    # Hayes Valley is the nearest of all, but every locker there is occupied: it is left out.
    assert [p.location.id for p in result.places] == [CIVIC, YERBA]
    distances = [p.distance_km for p in result.places]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(distance_km(SF_CENTRE, (37.7805, -122.4177)))
    assert all(p.distance_km <= result.radius_km for p in result.places)
    assert result.places[0].location.availability is not None
    assert result.places[0].location.availability.counts.available == sum(CIVIC_FREE.values())
    assert len(lab.requests("GET", "/locations/in-area")) == 1


async def test_nearby_widens_the_search_until_something_is_found(lab: Lab) -> None:
    north_of_sf = (37.95, -122.42)  # about 19 km from the nearest lockers

    result = await lab.deliveries.search.nearby(north_of_sf)

    assert result.radius_km == 20  # 5 -> 10 -> 20 km
    assert {p.location.id for p in result.places} == {CIVIC, YERBA}
    assert [p.distance_km for p in result.places] == sorted(p.distance_km for p in result.places)
    assert len(lab.requests("GET", "/locations/in-area")) == 3


async def test_nearby_shows_at_most_five_places(make_lab) -> None:
    centre = (40.0, -105.0)
    # Seven locations 0.5-4 km north of the centre, out of distance order; the nearest of all is full.
    offsets = {301: 0.015, 302: 0.005, 303: 0.025, 304: 0.010, 305: 0.035, 306: 0.020, 307: 0.030, 308: 0.001}
    seed = seed_with_locations(
        {"id": loc_id, "lat": centre[0] + dlat, "lon": centre[1]} for loc_id, dlat in offsets.items()
    )
    lab = await make_lab(seed=seed)
    lab.take(90001 + 700, 90002 + 700)  # location 308's two lockers

    result = await lab.deliveries.search.nearby(centre)

    assert [p.location.id for p in result.places] == [302, 304, 301, 306, 303]


async def test_nearby_finds_nothing_within_50_km(lab: Lab) -> None:
    nevada = (38.5, -117.0)  # hundreds of km from every seeded location

    result = await lab.deliveries.search.nearby(nevada)

    assert result.places == []
    assert result.radius_km == 50
    assert len(lab.requests("GET", "/locations/in-area")) == 5  # 5, 10, 20, 40, 50 km


async def test_nearby_leaves_out_places_in_the_box_corners_beyond_the_radius(make_lab) -> None:
    centre = (45.0, -100.0)
    # 40 km north and 40 km east: inside the 50 km search box, 57 km away.
    corner = {"id": 401, "lat": 45.0 + 40 / 111.2, "lon": -100.0 + 40 / 78.63}
    lab = await make_lab(seed=seed_with_locations([corner]))
    assert distance_km(centre, (corner["lat"], corner["lon"])) == pytest.approx(56.6, abs=0.5)

    result = await lab.deliveries.search.nearby(centre)

    assert all(p.distance_km <= result.radius_km for p in result.places)
    assert result.places == []


# --- location_offer --------------------------------------------------------------------------------


async def test_location_offer_counts_free_lockers_per_size(lab: Lab) -> None:
    offer = await lab.deliveries.search.location_offer(CIVIC)

    assert offer.location.id == CIVIC
    assert offer.location.timezone == "America/Los_Angeles"
    assert {s.type.id: s.free for s in offer.sizes} == CIVIC_FREE  # locker 1105 is out of service
    assert [s.type.name for s in offer.sizes] == ["small", "medium", "large", "x-large"]


async def test_location_offer_of_a_full_location_has_no_sizes(lab: Lab) -> None:
    assert (await lab.deliveries.search.location_offer(HAYES)).sizes == []


async def test_location_offer_of_an_unknown_location(lab: Lab) -> None:
    with pytest.raises(LocationNotFound):
        await lab.deliveries.search.location_offer(999)


# --- reserve ----------------------------------------------------------------------------------------


async def test_reserve_holds_a_free_locker_of_the_size_and_prefers_a_non_low_one(lab: Lab) -> None:
    delivery = await lab.deliveries.reserve(ALICE.id, CIVIC, SMALL)

    # 1001-1004 are low small lockers; 1005 is the first small one at a comfortable height.
    assert (delivery.state, delivery.locker_id, delivery.locker_name, delivery.low_locker) == (
        S.RESERVED,
        1005,
        "5",
        False,
    )
    assert delivery.tower_id == CIVIC_TOWER_A
    assert (delivery.location_name, delivery.size_name) == ("Civic Center - McAllister St", "small")
    assert delivery.timezone == "America/Los_Angeles"
    assert delivery.reserved_until == lab.now() + timedelta(seconds=lab.policy.reservation_seconds)
    assert (lab.status(1005), lab.holder(1005)) == ("reserved", ME)
    assert await lab.events(delivery.id) == ["created", "reserved"]


async def test_reserve_takes_a_low_locker_when_nothing_else_is_free(lab: Lab) -> None:
    lab.take(1005, 1006, 1007, 1008)

    delivery = await lab.deliveries.reserve(ALICE.id, CIVIC, SMALL)

    assert (delivery.locker_id, delivery.low_locker) == (1001, True)
    assert lab.holder(1001) == ME


async def test_reserve_tries_the_next_locker_when_someone_else_was_faster(lab: Lab) -> None:
    # Between the bot listing the lockers and its reservation arriving, another provider takes 1005.
    lab.transport.before("POST", "/lockers/1005/reservations", lambda: lab.take(1005, status="reserved"))

    delivery = await lab.deliveries.reserve(ALICE.id, CIVIC, SMALL)

    assert delivery.locker_id == 1006
    assert (lab.holder(1005), lab.holder(1006)) == (OTHER, ME)
    assert [r.status for r in lab.requests("POST", "/reservations")] == [400, 200]
    assert await lab.events(delivery.id) == ["created", "reserved"]


async def test_reserve_when_the_size_ran_out_meanwhile_offers_the_sizes_still_free(lab: Lab) -> None:
    lab.take(1213, 1214, 1215)  # Yerba Buena's large lockers, but for 1216
    lab.transport.before("POST", "/lockers/1216/reservations", lambda: lab.take(1216))

    with pytest.raises(SizeRanOut) as caught:
        await lab.deliveries.reserve(ALICE.id, YERBA, LARGE)

    assert caught.value.size_name == "large"
    assert {s.type.name: s.free for s in caught.value.offer.sizes} == {"small": 6, "medium": 6}
    # The attempt is closed, so the customer can simply pick another size.
    assert await lab.deliveries.open_dropoff(ALICE.id) is None
    [attempt] = await lab.repo.recent_deliveries()
    assert attempt.state is S.CANCELLED
    assert await lab.events(attempt.id) == ["created", "not_reserved"]
    assert lab.sim.assigned_lockers(ME) == []


async def test_reserve_a_size_with_nothing_free_raises_size_ran_out_before_touching_anything(lab: Lab) -> None:
    lab.take(1213, 1214, 1215, 1216)

    with pytest.raises(SizeRanOut) as caught:
        await lab.deliveries.reserve(ALICE.id, YERBA, LARGE)

    assert caught.value.size_name == "large"
    assert [s.type.name for s in caught.value.offer.sizes] == ["small", "medium"]
    assert lab.requests("POST", "/reservations") == []
    assert await lab.repo.recent_deliveries() == []


async def test_reserve_refuses_a_second_drop_off_while_one_is_open(lab: Lab) -> None:
    first = await lab.deliveries.reserve(ALICE.id, CIVIC, SMALL)

    with pytest.raises(AlreadyOpen) as caught:
        await lab.deliveries.reserve(ALICE.id, YERBA, MEDIUM)

    assert caught.value.delivery.id == first.id
    assert [lk["id"] for lk in lab.sim.assigned_lockers(ME)] == [1005]


async def test_a_double_tap_on_a_size_reserves_one_locker(lab: Lab) -> None:
    results = await asyncio.gather(
        lab.deliveries.reserve(ALICE.id, CIVIC, SMALL),
        lab.deliveries.reserve(ALICE.id, CIVIC, SMALL),
        return_exceptions=True,
    )

    reserved = [r for r in results if isinstance(r, Delivery)]
    refused = [r for r in results if isinstance(r, AlreadyOpen)]
    assert len(reserved) == 1
    assert len(refused) == 1
    assert refused[0].delivery.id == reserved[0].id
    assert len(lab.sim.assigned_lockers(ME)) == 1


async def test_reserve_whose_answer_was_lost_is_reconciled_from_harbor(make_lab) -> None:
    lab = await make_lab(timeout=0.2, backoff_base=0.01)
    # Harbor makes the reservation, then the answer never arrives in time.
    lab.sim.add_fault(method="POST", path="/reservations", stall=5.0, stall_after=True)

    delivery = await lab.deliveries.reserve(ALICE.id, CIVIC, SMALL)

    assert (delivery.state, delivery.locker_id) == (S.RESERVED, 1005)
    assert lab.holder(1005) == ME
    assert len(lab.requests("POST", "/reservations")) == 1  # never repeated blindly
    assert len(lab.requests("GET", "/users/me/assigned-lockers")) == 1


async def test_reserve_whose_request_never_reached_harbor_holds_nothing(make_lab) -> None:
    lab = await make_lab(timeout=0.2, backoff_base=0.01)
    lab.sim.add_fault(method="POST", path="/reservations", stall=5.0)  # stalls before Harbor handles it

    with pytest.raises(ServiceUnavailable):
        await lab.deliveries.reserve(ALICE.id, CIVIC, SMALL)

    assert len(lab.requests("POST", "/reservations")) == 1
    assert lab.sim.assigned_lockers(ME) == []
    assert await lab.deliveries.open_dropoff(ALICE.id) is None  # free to try again


# --- drop-off keys ------------------------------------------------------------------------------------


async def test_issue_dropoff_key_matches_the_token_harbor_issued(lab: Lab) -> None:
    delivery = await lab.reserved()

    view = await lab.deliveries.issue_dropoff_key(delivery.id, ALICE.id, chat_id=ALICE.id)

    [token] = lab.sim.issued_tokens()
    key = view.key
    assert isinstance(key, LockerKey)
    assert (key.kind, key.env, key.tower_id, key.locker_id, key.locker_name) == (
        "dropoff",
        "sandbox",
        token["tower_id"],
        token["locker_id"],
        "5",
    )
    assert (key.payload, key.payload_auth) == (token["payload"], token["payload_auth"])
    assert key.expires.isoformat() == token["expires"]
    assert key.expires == lab.now() + timedelta(seconds=lab.policy.key_seconds)
    assert key.sdk_token  # the phone app's tower_access token travels in the key by default
    assert token["client_info"] == client_info(delivery.id)
    assert str(delivery.id) in token["client_info"]
    assert (token["kind"], token["state"]) == ("dropoff", "live")

    assert view.delivery.state is S.AWAITING_DROPOFF
    assert view.delivery.reserved_until is None  # the key's own life now bounds the hold
    record = view.record
    assert (record.kind, record.state, record.user_id, record.chat_id) == (
        KeyKind.DROPOFF,
        KeyState.ACTIVE,
        ALICE.id,
        ALICE.id,
    )
    assert record.harbor_token_id == str(token["id"])
    assert record.expires_at == key.expires
    assert lab.status(1005) == "rented"
    assert await lab.events(delivery.id) == ["created", "reserved", "dropoff_key_issued"]


async def test_key_material_is_never_stored(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()

    stored = await lab.all_stored_text()
    assert str(view.record.id) in stored  # the record is there ...
    for secret in (view.key.payload, view.key.payload_auth, view.key.sdk_token):
        assert secret
        assert secret not in stored  # ... the material is not


async def test_issue_dropoff_key_without_sdk_token_when_switched_off(make_lab) -> None:
    lab = await make_lab(policy=Policy(include_sdk_token=False, key_env="production"))

    view = await lab.awaiting_dropoff()

    assert view.key.sdk_token is None
    assert view.key.env == "production"
    assert '"sdk_token"' not in view.key.to_json()


async def test_a_second_key_while_the_first_is_valid_is_refused(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()
    delivery_id = view.delivery.id

    with pytest.raises(KeyStillValid) as caught:
        await lab.deliveries.issue_dropoff_key(delivery_id, ALICE.id, ALICE.id)

    assert caught.value.record.id == view.record.id
    assert len(lab.sim.issued_tokens()) == 1


async def test_a_new_key_after_the_first_ran_out(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()
    lab.advance(lab.policy.key_seconds + 1)
    await lab.deliveries.expire_key(view.record.id)

    again = await lab.deliveries.issue_dropoff_key(view.delivery.id, ALICE.id, ALICE.id)

    assert again.key.payload != view.key.payload
    assert again.delivery.state is S.AWAITING_DROPOFF
    assert [t["state"] for t in lab.sim.issued_tokens()] == ["expired", "live"]
    assert (lab.status(1005), lab.holder(1005)) == ("rented", ME)


async def test_a_key_for_someone_elses_delivery_is_not_found(lab: Lab) -> None:
    delivery = await lab.reserved(ALICE)

    with pytest.raises(DeliveryNotFound):
        await lab.deliveries.issue_dropoff_key(delivery.id, BOB.id, BOB.id)

    assert lab.sim.issued_tokens() == []


async def test_a_key_when_the_locker_went_to_someone_else_loses_the_delivery(lab: Lab) -> None:
    delivery = await lab.reserved()
    lab.advance(lab.policy.reservation_seconds + 1)  # Harbor ended the hold ...
    lab.take(1005, status="reserved")  # ... and another provider reserved the locker

    with pytest.raises(LockerLost) as caught:
        await lab.deliveries.issue_dropoff_key(delivery.id, ALICE.id, ALICE.id)

    assert caught.value.delivery.state is S.EXPIRED
    assert (await lab.get(delivery.id)).state is S.EXPIRED
    assert (await lab.events(delivery.id))[-1] == "locker_lost"
    assert lab.holder(1005) == OTHER  # their hold is untouched
    assert lab.sim.issued_tokens() == []
    assert await lab.deliveries.open_dropoff(ALICE.id) is None


async def test_a_key_for_a_cancelled_delivery_is_refused(lab: Lab) -> None:
    delivery = await lab.reserved()
    await lab.deliveries.cancel(delivery.id, ALICE.id)

    with pytest.raises(WrongState):
        await lab.deliveries.issue_dropoff_key(delivery.id, ALICE.id, ALICE.id)


# --- cancel -----------------------------------------------------------------------------------------------


async def test_cancel_a_reservation_gives_the_locker_back(lab: Lab) -> None:
    delivery = await lab.reserved()

    closed = await lab.deliveries.cancel(delivery.id, ALICE.id)

    assert isinstance(closed, Closed)
    assert closed.delivery.state is S.CANCELLED
    assert closed.delivery.closed_at == lab.now()
    assert closed.delivery.reserved_until is None
    assert lab.status(1005) == "available"
    assert len(lab.requests("DELETE", "/lockers/1005/reservations")) == 1
    assert lab.requests("POST", "/release-locker") == []
    events = await lab.repo.events(delivery.id)
    assert [e.kind for e in events] == ["created", "reserved", "cancelled"]
    assert events[-1].actor_id == ALICE.id
    assert await lab.deliveries.open_dropoff(ALICE.id) is None


async def test_cancel_after_the_key_was_issued_releases_the_locker_and_voids_the_key(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()

    closed = await lab.deliveries.cancel(view.delivery.id, ALICE.id)

    assert closed.delivery.state is S.CANCELLED
    assert [k.id for k in closed.voided_keys] == [view.record.id]
    assert (await lab.repo.get_key(view.record.id)).state is KeyState.VOID
    assert lab.status(1005) == "available"
    assert len(lab.requests("POST", "/lockers/1005/release-locker")) == 1
    assert [t["state"] for t in lab.sim.issued_tokens()] == ["voided"]  # the QR no longer opens the door


async def test_cancel_when_the_item_is_already_inside_keeps_it_there(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()
    lab.use(view)  # the door opened and closed before the watch noticed

    with pytest.raises(ItemAlreadyInside) as caught:
        await lab.deliveries.cancel(view.delivery.id, ALICE.id)

    assert caught.value.delivery.state is S.IN_LOCKER
    delivery = await lab.get(view.delivery.id)
    assert delivery.state is S.IN_LOCKER
    assert delivery.dropped_at == lab.now()
    assert (await lab.repo.get_key(view.record.id)).state is KeyState.USED
    assert lab.status(1005) == "occupied"
    assert lab.requests("POST", "/release-locker") == []
    assert (await lab.events(delivery.id))[-1] == "in_locker"


async def test_cancel_of_a_draft_asks_harbor_nothing(lab: Lab) -> None:
    # A draft is what a reservation interrupted half way (a crash, a restart) leaves behind.
    draft = await lab.repo.create_delivery(
        Delivery(sender_id=ALICE.id, location_id=CIVIC, location_name="Civic", size_id=SMALL, size_name="small"),
        actor_id=ALICE.id,
    )
    assert (await lab.deliveries.open_dropoff(ALICE.id)).id == draft.id

    closed = await lab.deliveries.cancel(draft.id, ALICE.id)

    assert closed.delivery.state is S.CANCELLED
    assert lab.sim.requests == []
    assert await lab.deliveries.open_dropoff(ALICE.id) is None


async def test_cancel_of_someone_elses_delivery_is_not_found(lab: Lab) -> None:
    delivery = await lab.reserved(ALICE)

    with pytest.raises(DeliveryNotFound):
        await lab.deliveries.cancel(delivery.id, BOB.id)

    assert (await lab.get(delivery.id)).state is S.RESERVED


async def test_cancel_after_the_drop_off_is_refused(lab: Lab) -> None:
    delivery = await lab.in_locker()

    with pytest.raises(ItemAlreadyInside):
        await lab.deliveries.cancel(delivery.id, ALICE.id)

    assert (await lab.get(delivery.id)).state is S.IN_LOCKER
    assert lab.status(delivery.locker_id) == "occupied"
    assert lab.requests("POST", "/release-locker") == []


async def test_cancel_of_a_finished_delivery_is_refused(lab: Lab) -> None:
    delivery = await lab.reserved()
    await lab.deliveries.cancel(delivery.id, ALICE.id)

    with pytest.raises(WrongState):
        await lab.deliveries.cancel(delivery.id, ALICE.id)

    assert (await lab.events(delivery.id)).count("cancelled") == 1


async def test_two_cancels_at_once_close_the_delivery_once(lab: Lab) -> None:
    delivery = await lab.reserved()

    results = await asyncio.gather(
        lab.deliveries.cancel(delivery.id, ALICE.id),
        lab.deliveries.cancel(delivery.id, ALICE.id),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["Closed", "WrongState"]
    assert (await lab.events(delivery.id)).count("cancelled") == 1
    assert len(lab.requests("DELETE", "/reservations")) == 1


async def test_a_cancel_racing_the_expiry_timer_closes_the_delivery_once(lab: Lab) -> None:
    delivery = await lab.reserved()
    lab.advance(lab.policy.reservation_seconds)

    await asyncio.gather(
        lab.deliveries.cancel(delivery.id, ALICE.id),
        lab.deliveries.expire_if_due(delivery.id),
        return_exceptions=True,
    )

    closing = [k for k in await lab.events(delivery.id) if k in ("cancelled", "hold_expired")]
    assert len(closing) == 1
    assert (await lab.get(delivery.id)).state in (S.CANCELLED, S.EXPIRED)


# --- expiry ---------------------------------------------------------------------------------------------


async def test_expire_if_due_waits_for_the_end_of_the_hold(lab: Lab) -> None:
    delivery = await lab.reserved()
    lab.advance(lab.policy.reservation_seconds - 5)

    assert await lab.deliveries.expire_if_due(delivery.id) is None

    assert (await lab.get(delivery.id)).state is S.RESERVED
    assert lab.holder(1005) == ME


async def test_expire_if_due_closes_an_unused_reservation(lab: Lab) -> None:
    delivery = await lab.reserved()
    lab.advance(lab.policy.reservation_seconds)

    closed = await lab.deliveries.expire_if_due(delivery.id)

    assert isinstance(closed, Closed)
    assert closed.delivery.state is S.EXPIRED
    assert (await lab.events(delivery.id))[-1] == "hold_expired"
    assert (await lab.repo.events(delivery.id))[-1].actor_id is None
    assert lab.status(1005) == "available"
    assert await lab.deliveries.expire_if_due(delivery.id) is None  # a second timer run changes nothing
    assert (await lab.events(delivery.id)).count("hold_expired") == 1


async def test_expire_if_due_leaves_a_drop_off_alone_while_its_key_lives(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()
    lab.advance(lab.policy.reservation_seconds + 1)

    assert await lab.deliveries.expire_if_due(view.delivery.id) is None
    assert (await lab.get(view.delivery.id)).state is S.AWAITING_DROPOFF


async def test_an_expired_drop_off_key_gives_one_more_hold_then_the_delivery_expires(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()
    lab.advance(lab.policy.key_seconds)

    assert await lab.deliveries.expire_key(view.record.id) is True

    assert (await lab.repo.get_key(view.record.id)).state is KeyState.EXPIRED
    assert (await lab.get(view.delivery.id)).reserved_until == lab.now() + timedelta(
        seconds=lab.policy.reservation_seconds
    )
    assert (await lab.events(view.delivery.id))[-1] == "dropoff_key_expired"
    [notice] = await lab.notices(ALICE.id)
    assert json.loads(notice.body) == {
        "kind": "key_expired",
        "delivery_id": view.delivery.id,
        "key_id": view.record.id,
        "renewable": True,
    }

    lab.advance(lab.policy.reservation_seconds)
    closed = await lab.deliveries.expire_if_due(view.delivery.id)

    assert isinstance(closed, Closed)
    assert closed.delivery.state is S.EXPIRED
    assert lab.status(1005) == "available"


async def test_expire_if_due_finds_the_item_inside_and_reports_it_in_the_locker(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()
    lab.use(view)
    lab.advance(lab.policy.key_seconds)
    await lab.deliveries.expire_key(view.record.id)
    lab.advance(lab.policy.reservation_seconds)

    # Not closed: the sender hears (through the outbox) that the item is in, not that the hold expired.
    assert await lab.deliveries.expire_if_due(view.delivery.id) is None

    assert (await lab.get(view.delivery.id)).state is S.IN_LOCKER
    assert await lab.notice_kinds(ALICE.id) == ["key_expired", "in_locker"]
    assert lab.status(1005) == "occupied"  # not given back with the item inside
    assert lab.requests("POST", "/release-locker") == []


async def test_expire_key_before_its_time_does_nothing(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()
    lab.advance(lab.policy.key_seconds - 5)

    assert await lab.deliveries.expire_key(view.record.id) is False
    assert (await lab.repo.get_key(view.record.id)).state is KeyState.ACTIVE
    assert await lab.notices() == []


async def test_expire_key_of_a_used_key_does_nothing(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()
    lab.use(view)
    await lab.watch.poll()
    lab.advance(lab.policy.key_seconds)

    assert await lab.deliveries.expire_key(view.record.id) is False
    assert (await lab.repo.get_key(view.record.id)).state is KeyState.USED
    assert "key_expired" not in await lab.notice_kinds()


async def test_an_expired_pickup_key_can_be_renewed(lab: Lab) -> None:
    view = await lab.awaiting_pickup()
    lab.advance(lab.policy.key_seconds)

    assert await lab.deliveries.expire_key(view.record.id) is True

    assert (await lab.get(view.delivery.id)).state is S.AWAITING_PICKUP
    [notice] = [json.loads(n.body) for n in await lab.notices(ALICE.id) if "key_expired" in n.dedupe_key]
    assert (notice["key_id"], notice["renewable"]) == (view.record.id, True)
    assert (await lab.events(view.delivery.id))[-1] == "pickup_key_expired"


async def test_a_key_of_a_closed_delivery_expires_without_renewal(lab: Lab) -> None:
    delivery = await lab.reserved()
    await lab.deliveries.cancel(delivery.id, ALICE.id)
    # A key left active on a closed delivery (e.g. written just before the close) must not offer renewal.
    record = await lab.repo.add_key(
        IssuedKey(
            delivery_id=delivery.id,
            kind=KeyKind.DROPOFF,
            user_id=ALICE.id,
            chat_id=ALICE.id,
            expires_at=lab.now(),
        )
    )

    assert await lab.deliveries.expire_key(record.id) is True

    [notice] = [json.loads(n.body) for n in await lab.notices(ALICE.id)]
    assert (notice["kind"], notice["key_id"], notice["renewable"]) == ("key_expired", record.id, False)
    assert (await lab.get(delivery.id)).state is S.CANCELLED
    assert (await lab.get(delivery.id)).reserved_until is None


# --- the locker watch ------------------------------------------------------------------------------------


async def test_poll_reads_each_tower_once_however_many_lockers_are_watched(lab: Lab) -> None:
    await lab.awaiting_dropoff(ALICE, CIVIC)
    await lab.awaiting_dropoff(BOB, CIVIC)
    await lab.awaiting_dropoff(CAROL, YERBA)
    lab.sim.requests.clear()

    assert await lab.watch.poll() == []

    paths = sorted(r.path for r in lab.requests("GET", "/towers/"))
    assert paths == [f"/api/v1/towers/{CIVIC_TOWER_A}/lockers", f"/api/v1/towers/{YERBA_TOWER}/lockers"]


async def test_poll_with_nothing_watched_asks_harbor_nothing(lab: Lab) -> None:
    await lab.reserved()  # a reservation is not watched: nothing can be in the locker yet
    lab.sim.requests.clear()

    assert await lab.watch.poll() == []
    assert lab.sim.requests == []


async def test_poll_sees_the_item_in_and_the_locker_empty_again(lab: Lab) -> None:
    alice = await lab.awaiting_dropoff(ALICE)
    bob = await lab.awaiting_dropoff(BOB)
    lab.use(alice)

    [change] = await lab.watch.poll()

    assert (change.kind, change.delivery.id) == (ChangeKind.IN_LOCKER, alice.delivery.id)
    # The watch no longer lists the drop-off key it used up (see the report); the key itself is USED.
    assert (await lab.repo.get_key(alice.record.id)).state is KeyState.USED
    assert await lab.notice_kinds(ALICE.id) == ["in_locker"]
    delivery = await lab.get(alice.delivery.id)
    assert delivery.state is S.IN_LOCKER
    assert delivery.dropped_at == lab.now()
    assert delivery.reminder_due_at == lab.now() + timedelta(hours=lab.policy.reminder_hours)
    assert (await lab.get(bob.delivery.id)).state is S.AWAITING_DROPOFF
    assert await lab.watch.poll() == []  # seen once, told once

    pickup = await lab.handover.issue_pickup_key(alice.delivery.id, ALICE.id, ALICE.id)
    lab.advance(60)
    lab.sim.use_token(pickup.key.payload, pickup.key.payload_auth)

    [done] = await lab.watch.poll()

    assert (done.kind, done.delivery.id) == (ChangeKind.COMPLETED, alice.delivery.id)
    assert [k.id for k in done.used_keys] == [pickup.record.id]
    delivery = await lab.get(alice.delivery.id)
    assert delivery.state is S.COMPLETED
    assert delivery.completed_at == delivery.closed_at == lab.now()
    assert delivery.reminder_due_at is None
    assert (await lab.repo.get_key(pickup.record.id)).state is KeyState.USED
    assert await lab.watch.poll() == []


async def test_poll_goes_on_when_one_tower_cannot_be_read(lab: Lab) -> None:
    alice = await lab.awaiting_dropoff(ALICE, CIVIC)
    carol = await lab.awaiting_dropoff(CAROL, YERBA)
    lab.use(alice)
    lab.use(carol)
    lab.sim.add_fault(method="GET", path=f"/towers/{CIVIC_TOWER_A}/", status=404)

    [change] = await lab.watch.poll()

    assert change.delivery.id == carol.delivery.id
    assert (await lab.get(alice.delivery.id)).state is S.AWAITING_DROPOFF
    [later] = await lab.watch.poll()  # the next round catches up
    assert later.delivery.id == alice.delivery.id


# --- the history ----------------------------------------------------------------------------------------


async def test_every_transition_of_a_delivery_is_in_its_history(lab: Lab) -> None:
    view = await lab.awaiting_pickup(ALICE)
    lab.sim.use_token(view.key.payload, view.key.payload_auth)
    await lab.watch.poll()

    events = await lab.repo.events(view.delivery.id)

    assert [(e.kind, e.actor_id) for e in events] == [
        ("created", ALICE.id),
        ("reserved", ALICE.id),
        ("dropoff_key_issued", ALICE.id),
        ("in_locker", None),
        ("pickup_key_issued", ALICE.id),
        ("completed", None),
    ]
    assert "1005" in events[1].detail
    assert f"#{view.record.id}" in events[4].detail


# --- other people's lockers, lost answers ------------------------------------------------------------


async def test_two_customers_reserving_at_once_get_different_lockers(lab: Lab) -> None:
    alice, bob = await asyncio.gather(
        lab.deliveries.reserve(ALICE.id, CIVIC, SMALL), lab.deliveries.reserve(BOB.id, CIVIC, SMALL)
    )

    assert alice.locker_id != bob.locker_id
    assert {alice.locker_id, bob.locker_id} == {1005, 1006}
    assert (lab.holder(alice.locker_id), lab.holder(bob.locker_id)) == (ME, ME)


async def test_cancel_after_the_locker_went_to_someone_else_leaves_their_hold_alone(lab: Lab) -> None:
    delivery = await lab.reserved()
    lab.advance(lab.policy.reservation_seconds + 1)
    lab.take(1005, status="reserved")

    closed = await lab.deliveries.cancel(delivery.id, ALICE.id)

    assert closed.delivery.state is S.CANCELLED
    assert (lab.status(1005), lab.holder(1005)) == ("reserved", OTHER)
    assert lab.requests("POST", "/release-locker") == []


async def test_expiry_with_someone_elses_item_in_the_locker_is_not_our_drop_off(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()
    lab.advance(lab.policy.key_seconds)
    await lab.deliveries.expire_key(view.record.id)  # Harbor gave the locker back with the key
    lab.take(1005)  # another provider's customer filled it
    lab.advance(lab.policy.reservation_seconds)

    closed = await lab.deliveries.expire_if_due(view.delivery.id)

    assert isinstance(closed, Closed)
    assert closed.delivery.state is S.EXPIRED
    assert (lab.status(1005), lab.holder(1005)) == ("occupied", OTHER)  # their item stays put


async def test_the_watch_does_not_take_someone_elses_item_for_ours(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()
    lab.advance(lab.policy.key_seconds)
    await lab.deliveries.expire_key(view.record.id)  # renewable: Alice may still ask for a new key
    lab.take(1005)  # meanwhile another provider's customer puts their item in

    changes = await lab.watch.poll()

    assert changes == []
    assert (await lab.get(view.delivery.id)).state is S.AWAITING_DROPOFF


async def test_a_locker_emptied_by_a_pickup_is_not_reused_while_its_delivery_looks_open(lab: Lab) -> None:
    pickup = await lab.awaiting_pickup(ALICE)
    lab.sim.use_token(pickup.key.payload, pickup.key.payload_auth)  # collected ...
    carol = await lab.awaiting_dropoff(CAROL)  # ... and, before the watch runs, Carol reserves a small one
    lab.use(carol)
    await lab.watch.poll()
    lab.advance(lab.policy.key_seconds)
    await lab.deliveries.expire_key(pickup.record.id)

    assert (await lab.get(pickup.delivery.id)).state is S.COMPLETED
    # Whatever the bookkeeping, Alice must never get a key that opens the locker holding Carol's item.
    try:
        again = await lab.handover.issue_pickup_key(pickup.delivery.id, ALICE.id, ALICE.id)
    except (WrongState, DeliveryNotFound):
        return
    assert again.key.locker_id != carol.delivery.locker_id


async def test_a_drop_off_key_whose_answer_was_lost_can_be_asked_for_again(make_lab) -> None:
    lab = await make_lab(timeout=0.2, backoff_base=0.01)
    delivery = await lab.reserved()
    lab.sim.add_fault(method="POST", path="/dropoff-locker-tokens", stall=5.0, stall_after=True)

    with pytest.raises(ServiceUnavailable):
        await lab.deliveries.issue_dropoff_key(delivery.id, ALICE.id, ALICE.id)

    assert (await lab.get(delivery.id)).state is S.RESERVED  # no key reached the customer
    view = await lab.deliveries.issue_dropoff_key(delivery.id, ALICE.id, ALICE.id)
    assert view.delivery.state is S.AWAITING_DROPOFF
    assert len(lab.tokens(kind="dropoff")) == 2


async def test_cancel_after_a_lost_key_answer_gives_the_rented_locker_back(make_lab) -> None:
    lab = await make_lab(timeout=0.2, backoff_base=0.01)
    delivery = await lab.reserved()
    lab.sim.add_fault(method="POST", path="/dropoff-locker-tokens", stall=5.0, stall_after=True)
    with pytest.raises(ServiceUnavailable):
        await lab.deliveries.issue_dropoff_key(delivery.id, ALICE.id, ALICE.id)
    assert lab.status(1005) == "rented"  # Harbor did issue the token

    closed = await lab.deliveries.cancel(delivery.id, ALICE.id)

    assert closed.delivery.state is S.CANCELLED
    assert lab.status(1005) == "available"
    assert [t["state"] for t in lab.sim.issued_tokens()] == ["voided"]


# --- the deadlines round ------------------------------------------------------------------------------


async def test_a_deadlines_round_expires_keys_then_holds_and_records_the_notices(lab: Lab) -> None:
    reserved = await lab.reserved(ALICE)
    view = await lab.awaiting_dropoff(BOB)
    assert (await lab.deadlines.run_due()).total == 0  # nothing due yet

    lab.advance(lab.policy.key_seconds)
    first = await lab.deadlines.run_due()

    # Alice's hold ended; Bob's key ran out, and his hold got one more period to ask for a new key.
    assert (first.keys, first.holds) == (1, 1)
    assert (await lab.get(reserved.id)).state is S.EXPIRED
    assert (await lab.get(view.delivery.id)).state is S.AWAITING_DROPOFF
    assert await lab.notice_kinds(ALICE.id) == ["hold_expired"]
    assert await lab.notice_kinds(BOB.id) == ["key_expired"]
    assert (await lab.deadlines.run_due()).total == 0  # each deadline acts once

    lab.advance(lab.policy.reservation_seconds)
    assert (await lab.deadlines.run_due()).holds == 1
    assert (await lab.get(view.delivery.id)).state is S.EXPIRED
    assert await lab.notice_kinds(BOB.id) == ["key_expired", "hold_expired"]
    assert lab.sim.assigned_lockers(ME) == []


async def test_two_deadline_rounds_at_once_act_once(lab: Lab) -> None:
    delivery = await lab.reserved()
    lab.advance(lab.policy.reservation_seconds)

    rounds = await asyncio.gather(lab.deadlines.run_due(), lab.deadlines.run_due())

    assert sum(r.holds for r in rounds) == 1
    assert (await lab.events(delivery.id)).count("hold_expired") == 1
    assert await lab.notice_kinds(ALICE.id) == ["hold_expired"]


async def test_an_unclaimed_link_expires_with_a_word_to_the_sender(lab: Lab) -> None:
    delivery = await lab.in_locker()
    await lab.handover.create_link(delivery.id, ALICE.id)
    lab.advance(timedelta(days=lab.policy.pickup_link_days).total_seconds())

    done = await lab.deadlines.run_due()

    assert done.links == 1
    assert "link_expired" in await lab.notice_kinds(ALICE.id)
    assert (await lab.deadlines.run_due()).links == 0


async def test_two_processes_cancelling_at_once_cancel_once(make_lab, database) -> None:
    """Two processes, each with its own services: the shared lock on PostgreSQL (storage.locks.Locks, a
    leased row) keeps their read-decide-write apart, as the in-process lock does for two tasks of one process."""
    if not Locks(database).shared:
        pytest.skip("the bot runs one process on SQLite")
    lab = await make_lab(locks=Locks(database))
    other = DeliveryService(lab.harbor, lab.repo, lab.policy, locks=Locks(database), now=lab.now)
    delivery = await lab.reserved()

    results = await asyncio.gather(
        lab.deliveries.cancel(delivery.id, ALICE.id), other.cancel(delivery.id, ALICE.id), return_exceptions=True
    )

    assert sorted(type(r).__name__ for r in results) == ["Closed", "WrongState"]
    assert (await lab.events(delivery.id)).count("cancelled") == 1
    assert len(lab.requests("DELETE", "/reservations")) == 1
