"""HandoverService (bot/handover.py): one-time pickup links, collectors, pickup keys, releases; and the
reminders, which moved to the Deadlines round (bot/deliveries/timers.py).

Against the Harbor simulator in process and a real database, like tests/bot/test_deliveries.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta

import pytest

from bot.deliveries import DeliveryNotFound, KeyStillValid, WrongState, client_info
from bot.handover import LinkRefused, NotACourier, OwnLink, UnknownUser
from storage.models import CollectorKind, Delivery, DeliveryState, KeyKind, KeyState, Role
from tests.bot.conftest import ADMIN, ALICE, BOB, CAROL, CIVIC, DAVE, SMALL, Lab

S = DeliveryState


async def _courier(lab: Lab, person=DAVE) -> None:
    await lab.handover.set_courier(str(person.id), True)


# --- links ----------------------------------------------------------------------------------------


async def test_a_link_code_is_long_random_and_only_its_hash_is_stored(lab: Lab) -> None:
    delivery = await lab.in_locker()

    link = await lab.handover.create_link(delivery.id, ALICE.id)

    code = link.code
    # A Telegram deep-link payload: at most 64 characters of A-Z a-z 0-9 _ -.
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", code)
    assert len(base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))) * 8 >= 128
    assert link.link.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert link.link.expires_at == lab.now() + timedelta(days=lab.policy.pickup_link_days)
    stored = await lab.all_stored_text()
    assert link.link.code_hash in stored
    assert code not in stored
    other = await lab.handover.create_link(delivery.id, ALICE.id)
    assert other.code != code
    assert "link_created" in await lab.events(delivery.id)


async def test_a_link_is_only_made_once_the_item_is_in(lab: Lab) -> None:
    delivery = await lab.reserved()

    with pytest.raises(WrongState):
        await lab.handover.create_link(delivery.id, ALICE.id)


async def test_only_the_sender_makes_links(lab: Lab) -> None:
    delivery = await lab.in_locker()

    with pytest.raises(DeliveryNotFound):
        await lab.handover.create_link(delivery.id, BOB.id)


async def test_claiming_a_link_makes_the_claimer_the_recipient_once(lab: Lab) -> None:
    delivery = await lab.in_locker()
    link = await lab.handover.create_link(delivery.id, ALICE.id)

    claimed = await lab.handover.claim(link.code, BOB.id)

    assert claimed.claimer.id == BOB.id
    assert (claimed.delivery.collector_kind, claimed.delivery.collector_id) == (CollectorKind.RECIPIENT, BOB.id)
    assert (await lab.get(delivery.id)).collector_id == BOB.id
    # Single use: neither someone else nor the claimer again.
    with pytest.raises(LinkRefused):
        await lab.handover.claim(link.code, CAROL.id)
    with pytest.raises(LinkRefused):
        await lab.handover.claim(link.code, BOB.id)
    assert (await lab.get(delivery.id)).collector_id == BOB.id
    assert (await lab.events(delivery.id)).count("collector_recipient") == 1


async def test_the_sender_opening_their_own_link_claims_nothing(lab: Lab) -> None:
    delivery = await lab.in_locker()
    link = await lab.handover.create_link(delivery.id, ALICE.id)

    with pytest.raises(OwnLink):
        await lab.handover.claim(link.code, ALICE.id)

    assert (await lab.get(delivery.id)).collector_id is None
    assert (await lab.handover.claim(link.code, BOB.id)).claimer.id == BOB.id  # still works for others


async def test_expired_revoked_made_up_replaced_and_finished_links_are_refused_alike(lab: Lab) -> None:
    delivery = await lab.in_locker()
    revoked = await lab.handover.create_link(delivery.id, ALICE.id)
    await lab.handover.revoke_links(delivery.id, ALICE.id)
    replaced = await lab.handover.create_link(delivery.id, ALICE.id)
    live = await lab.handover.create_link(delivery.id, ALICE.id)  # makes `replaced` stop working

    refused = {}
    for name, code in {
        "revoked": revoked.code,
        "replaced": replaced.code,
        "made up": "A" * len(live.code),
        "too short": "abc",
        "too long": "A" * 300,
    }.items():
        with pytest.raises(LinkRefused) as caught:
            await lab.handover.claim(code, BOB.id)
        refused[name] = type(caught.value)
    assert set(refused.values()) == {LinkRefused}  # the same answer, whatever the reason

    lab.advance(timedelta(days=lab.policy.pickup_link_days, seconds=1).total_seconds())
    with pytest.raises(LinkRefused) as caught:
        await lab.handover.claim(live.code, BOB.id)
    assert type(caught.value) is LinkRefused
    assert (await lab.get(delivery.id)).collector_id is None


async def test_a_link_of_a_completed_delivery_is_refused(lab: Lab) -> None:
    view = await lab.awaiting_pickup(ALICE)
    link = await lab.handover.create_link(view.delivery.id, ALICE.id)
    lab.sim.use_token(view.key.payload, view.key.payload_auth)
    await lab.watch.poll()
    assert (await lab.get(view.delivery.id)).state is S.COMPLETED

    with pytest.raises(LinkRefused) as caught:
        await lab.handover.claim(link.code, BOB.id)

    assert type(caught.value) is LinkRefused
    assert (await lab.get(view.delivery.id)).collector_id is None


# --- collectors --------------------------------------------------------------------------------------


async def test_pick_up_myself_is_idempotent(lab: Lab) -> None:
    delivery = await lab.in_locker()

    first = await lab.handover.pick_up_myself(delivery.id, ALICE.id)
    again = await lab.handover.pick_up_myself(delivery.id, ALICE.id)

    assert (first.changed, again.changed) == (True, False)
    assert (first.delivery.collector_kind, first.delivery.collector_id) == (CollectorKind.SELF, ALICE.id)
    assert (await lab.events(delivery.id)).count("collector_self") == 1


async def test_choosing_a_collector_retires_the_open_link(lab: Lab) -> None:
    delivery = await lab.in_locker()
    link = await lab.handover.create_link(delivery.id, ALICE.id)

    await lab.handover.pick_up_myself(delivery.id, ALICE.id)

    with pytest.raises(LinkRefused):
        await lab.handover.claim(link.code, BOB.id)
    assert (await lab.get(delivery.id)).collector_id == ALICE.id


async def test_send_to_courier_needs_a_courier_and_is_idempotent(lab: Lab) -> None:
    delivery = await lab.in_locker()

    with pytest.raises(NotACourier):
        await lab.handover.send_to_courier(delivery.id, ALICE.id, DAVE.id)
    assert (await lab.get(delivery.id)).collector_id is None

    await _courier(lab, DAVE)
    first = await lab.handover.send_to_courier(delivery.id, ALICE.id, DAVE.id)
    again = await lab.handover.send_to_courier(delivery.id, ALICE.id, DAVE.id)

    assert (first.changed, again.changed) == (True, False)
    assert first.collector.id == DAVE.id
    stored = await lab.get(delivery.id)
    assert (stored.collector_kind, stored.collector_id) == (
        CollectorKind.COURIER,
        DAVE.id,
    )
    assert [d.id for d in await lab.handover.pickups_for(DAVE.id)] == [delivery.id]
    # Changing one's mind is a change again.
    assert (await lab.handover.pick_up_myself(delivery.id, ALICE.id)).changed is True
    assert await lab.handover.pickups_for(DAVE.id) == []


async def test_an_unknown_courier_id_is_not_a_courier(lab: Lab) -> None:
    delivery = await lab.in_locker()

    with pytest.raises(NotACourier):
        await lab.handover.send_to_courier(delivery.id, ALICE.id, 424242)


async def test_only_the_sender_chooses_the_collector(lab: Lab) -> None:
    delivery = await lab.in_locker()
    await _courier(lab, DAVE)

    with pytest.raises(DeliveryNotFound):
        await lab.handover.pick_up_myself(delivery.id, BOB.id)
    with pytest.raises(DeliveryNotFound):
        await lab.handover.send_to_courier(delivery.id, BOB.id, DAVE.id)
    assert (await lab.get(delivery.id)).collector_id is None


async def test_no_collector_before_the_drop_off(lab: Lab) -> None:
    delivery = await lab.reserved()

    with pytest.raises(WrongState):
        await lab.handover.pick_up_myself(delivery.id, ALICE.id)


# --- pickup keys ---------------------------------------------------------------------------------------


async def test_the_collector_gets_a_pickup_key(lab: Lab) -> None:
    delivery = await lab.in_locker()
    link = await lab.handover.create_link(delivery.id, ALICE.id)
    await lab.handover.claim(link.code, BOB.id)

    view = await lab.handover.issue_pickup_key(delivery.id, BOB.id, BOB.id)

    [token] = lab.tokens(kind="pickup")
    assert (view.key.kind, view.key.locker_id, view.key.payload) == ("pickup", delivery.locker_id, token["payload"])
    assert token["client_info"] == client_info(delivery.id)
    assert (view.record.kind, view.record.user_id, view.record.state) == (KeyKind.PICKUP, BOB.id, KeyState.ACTIVE)
    assert view.delivery.state is S.AWAITING_PICKUP
    with pytest.raises(KeyStillValid):
        await lab.handover.issue_pickup_key(delivery.id, BOB.id, BOB.id)
    assert len(lab.tokens(kind="pickup")) == 1


async def test_the_sender_may_always_collect_themselves(lab: Lab) -> None:
    delivery = await lab.in_locker()
    link = await lab.handover.create_link(delivery.id, ALICE.id)
    await lab.handover.claim(link.code, BOB.id)

    view = await lab.handover.issue_pickup_key(delivery.id, ALICE.id, ALICE.id)

    assert view.key.kind == "pickup"


async def test_nobody_else_gets_a_pickup_key(lab: Lab) -> None:
    delivery = await lab.in_locker()
    link = await lab.handover.create_link(delivery.id, ALICE.id)
    await lab.handover.claim(link.code, BOB.id)
    await lab.handover.pick_up_myself(delivery.id, ALICE.id)  # Bob is no longer the collector

    for stranger in (CAROL, BOB):
        with pytest.raises(DeliveryNotFound):
            await lab.handover.issue_pickup_key(delivery.id, stranger.id, stranger.id)

    assert lab.tokens(kind="pickup") == []
    assert (await lab.get(delivery.id)).state is S.IN_LOCKER


async def test_no_pickup_key_before_the_drop_off(lab: Lab) -> None:
    view = await lab.awaiting_dropoff()

    with pytest.raises(WrongState):
        await lab.handover.issue_pickup_key(view.delivery.id, ALICE.id, ALICE.id)

    assert lab.tokens(kind="pickup") == []


# --- reminders (a Deadlines round; the reminder is recorded in the outbox) ------------------------------


async def test_the_reminder_comes_once_when_due(lab: Lab) -> None:
    delivery = await lab.in_locker()
    assert delivery.reminder_due_at == lab.now() + timedelta(hours=lab.policy.reminder_hours)

    assert (await lab.deadlines.run_due()).reminders == 0  # not yet
    lab.advance(lab.policy.reminder_hours * 3600)
    reminded = await lab.deadlines.run_due()
    again = await lab.deadlines.run_due()

    assert reminded.reminders == 1
    assert (await lab.get(delivery.id)).reminded_at == lab.now()
    assert again.reminders == 0
    assert (await lab.events(delivery.id)).count("reminder_sent") == 1
    assert (await lab.notice_kinds(ALICE.id)).count("reminder") == 1
    # The timer is the row itself: nothing is left to run again after a restart.
    assert await lab.repo.due_reminders(lab.now()) == []


async def test_the_reminder_goes_to_the_collector_and_the_sender(lab: Lab) -> None:
    delivery = await lab.in_locker()
    link = await lab.handover.create_link(delivery.id, ALICE.id)
    await lab.handover.claim(link.code, BOB.id)
    lab.advance(lab.policy.reminder_hours * 3600)

    assert (await lab.deadlines.run_due()).reminders == 1

    reminders = {n.chat_id: json.loads(n.body) for n in await lab.notices() if n.dedupe_key.startswith("reminder:")}
    assert {chat: body["role"] for chat, body in reminders.items()} == {BOB.id: "collector", ALICE.id: "sender"}


async def test_no_reminder_for_a_collected_item(lab: Lab) -> None:
    view = await lab.awaiting_pickup()
    lab.sim.use_token(view.key.payload, view.key.payload_auth)
    await lab.watch.poll()
    lab.advance(lab.policy.reminder_hours * 3600)

    assert (await lab.deadlines.run_due()).reminders == 0
    assert "reminder_sent" not in await lab.events(view.delivery.id)
    assert "reminder" not in await lab.notice_kinds()


async def test_pending_reminders_are_found_from_the_database(lab: Lab) -> None:
    # Formerly rebuild_reminders (in-memory JobQueue timers after a restart); now any process finds them.
    waiting = await lab.in_locker(ALICE)
    await lab.reserved(BOB)  # nothing to remind of yet
    lab.advance(lab.policy.reminder_hours * 3600)

    assert [d.id for d in await lab.repo.due_reminders(lab.now())] == [waiting.id]


# --- release -------------------------------------------------------------------------------------------------


async def _in_state(lab: Lab, state: DeliveryState) -> Delivery:
    if state is S.DRAFT:
        return await lab.repo.create_delivery(
            Delivery(sender_id=ALICE.id, location_id=CIVIC, location_name="Civic", size_id=SMALL, size_name="small"),
            actor_id=ALICE.id,
        )
    if state is S.RESERVED:
        return await lab.reserved()
    if state is S.AWAITING_DROPOFF:
        return (await lab.awaiting_dropoff()).delivery
    if state is S.IN_LOCKER:
        return await lab.in_locker()
    return (await lab.awaiting_pickup()).delivery


@pytest.mark.parametrize(
    ("state", "closed_as"),
    [
        (S.DRAFT, S.CANCELLED),
        (S.RESERVED, S.CANCELLED),
        (S.AWAITING_DROPOFF, S.CANCELLED),
        (S.IN_LOCKER, S.RELEASED),
        (S.AWAITING_PICKUP, S.RELEASED),
    ],
)
async def test_release_frees_the_locker_and_closes_the_delivery(
    lab: Lab, state: DeliveryState, closed_as: DeliveryState
) -> None:
    delivery = await _in_state(lab, state)
    link = None
    if state in (S.IN_LOCKER, S.AWAITING_PICKUP):
        link = await lab.handover.create_link(delivery.id, ALICE.id)

    closed = await lab.handover.release(delivery.id, ADMIN.id)

    assert closed.delivery.state is closed_as
    assert (await lab.get(delivery.id)).state is closed_as
    assert (await lab.get(delivery.id)).closed_at == lab.now()
    assert lab.sim.assigned_lockers("harbor-bot-simulator") == []
    if delivery.locker_id is not None:
        assert lab.status(delivery.locker_id) == "available"
    assert all(t["state"] != "live" for t in lab.sim.issued_tokens())
    assert await lab.repo.keys_of(delivery.id, states=[KeyState.ACTIVE]) == []
    last = (await lab.repo.events(delivery.id))[-1]
    assert (last.kind, last.actor_id) == ("released_by_admin", ADMIN.id)
    assert "released" in await lab.notice_kinds(ALICE.id)  # the sender hears it through the outbox
    if link is not None:
        with pytest.raises(LinkRefused):
            await lab.handover.claim(link.code, BOB.id)
    with pytest.raises(WrongState):
        await lab.handover.release(delivery.id, ADMIN.id)


async def test_release_of_an_unknown_delivery(lab: Lab) -> None:
    with pytest.raises(DeliveryNotFound):
        await lab.handover.release(4242, ADMIN.id)


async def test_release_of_a_locker_harbor_already_freed_still_closes(lab: Lab) -> None:
    delivery = await lab.reserved()
    lab.advance(lab.policy.reservation_seconds + 1)  # the reservation lapsed at Harbor

    closed = await lab.handover.release(delivery.id, ADMIN.id)

    assert closed.delivery.state is S.CANCELLED


# --- couriers -------------------------------------------------------------------------------------------------


async def test_set_courier_by_id_and_by_username_in_any_case(lab: Lab) -> None:
    assert (await lab.handover.set_courier("@bobthebuilder", True)).role is Role.COURIER  # stored as BobTheBuilder
    assert (await lab.handover.set_courier("DAVE", True)).role is Role.COURIER
    assert (await lab.handover.set_courier(f" {ALICE.id} ", True)).role is Role.COURIER
    assert [u.id for u in await lab.handover.couriers()] == [ALICE.id, BOB.id, DAVE.id]  # by first name

    assert (await lab.handover.set_courier("@BOBTHEBUILDER", False)).role is Role.CUSTOMER
    assert [u.id for u in await lab.handover.couriers()] == [ALICE.id, DAVE.id]


@pytest.mark.parametrize("ref", ["@nobody", "nobody", "424242", "@", ""])
async def test_set_courier_of_someone_unknown(lab: Lab, ref: str) -> None:
    with pytest.raises(UnknownUser):
        await lab.handover.set_courier(ref, True)
    assert await lab.handover.couriers() == []
