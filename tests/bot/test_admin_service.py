"""AdminService against the Harbor simulator and a real database: the lockers join (orphans), stats,
releases, delivery history and couriers. The screens are checked end to end in tests/flows/test_admin.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.admin import AdminService, LockerInUse
from bot.deliveries import DeliveryNotFound, ServiceUnavailable, WrongState
from bot.handover import UnknownUser
from storage.models import Delivery, DeliveryState, OutboxState, Role
from tests.bot.conftest import ADMIN, ALICE, BOB, CAROL, CIVIC_TOWER_A, ME, START, Lab, LabFactory

S = DeliveryState
ORPHAN = 1020  # a large locker of Civic Center tower A, no delivery of ours uses it


@pytest.fixture
def admin(lab: Lab) -> AdminService:
    return AdminService(lab.handover, now=lab.now)


async def test_lockers_joins_harbor_with_open_deliveries_and_flags_orphans(lab: Lab, admin: AdminService) -> None:
    assert (await admin.lockers()).held == []

    delivery = await lab.in_locker(ALICE)
    lab.sim.set_locker_status(ORPHAN, "reserved", ME)  # held by the service, no delivery

    report = await admin.lockers()

    assert [h.locker.id for h in report.held] == sorted([delivery.locker_id, ORPHAN])  # one tower: by id
    owners = {h.locker.id: h.owner for h in report.held}
    assert owners[ORPHAN] is None
    owner = owners[delivery.locker_id]
    assert owner is not None and owner.id == delivery.id and owner.state is S.IN_LOCKER
    assert [lk.id for lk in report.orphans] == [ORPHAN]


async def test_release_locker_frees_an_orphan_but_not_a_delivery_s_locker(lab: Lab, admin: AdminService) -> None:
    delivery = await lab.in_locker(ALICE)
    assert delivery.tower_id is not None and delivery.locker_id is not None
    lab.sim.set_locker_status(ORPHAN, "reserved", ME)

    with pytest.raises(LockerInUse) as caught:
        await admin.release_locker(delivery.tower_id.upper(), delivery.locker_id)  # tower ids: any case
    assert caught.value.delivery.id == delivery.id
    assert lab.holder(delivery.locker_id) == ME

    await admin.release_locker(CIVIC_TOWER_A, ORPHAN)
    assert lab.status(ORPHAN) == "available"
    assert [lk.id for lk in (await admin.lockers()).orphans] == []


async def _created(lab: Lab, delivery: Delivery, days_ago: float) -> None:
    """Row timestamps are the wall clock's: move the delivery's creation relative to START."""
    with lab.session_factory() as session:
        row = session.get(Delivery, delivery.id)
        assert row is not None
        row.created_at = START - timedelta(days=days_ago)
        session.add(row)
        session.commit()


async def test_stats_count_today_and_the_week_and_take_the_median_pickup(lab: Lab) -> None:
    admin = AdminService(lab.handover, now=lambda: START)  # 17:00 UTC: "today" began 17 hours ago
    empty = await admin.stats()
    assert (empty.today, empty.week, empty.pickups, empty.median_seconds, empty.held) == ({}, {}, 0, None, 0)

    dropped = await lab.in_locker(ALICE)
    assert dropped.id is not None
    lab.advance(3600)  # an hour in the locker
    view = await lab.handover.issue_pickup_key(dropped.id, ALICE.id, ALICE.id)
    lab.use(view)
    await lab.watch.poll()
    done = await lab.get(view.delivery.id)
    assert done.state is S.COMPLETED and done.dropped_at and done.completed_at
    held = await lab.in_locker(BOB)
    reserved = await lab.reserved(CAROL)
    old = await lab.reserved(ALICE)
    await _created(lab, done, days_ago=0.5)
    await _created(lab, held, days_ago=3)
    await _created(lab, reserved, days_ago=0.1)
    await _created(lab, old, days_ago=10)  # outside the week

    stats = await admin.stats()

    assert stats.today == {S.COMPLETED: 1, S.RESERVED: 1}
    assert stats.week == {S.COMPLETED: 1, S.IN_LOCKER: 1, S.RESERVED: 1}
    assert stats.pickups == 1
    assert stats.median_seconds == (done.completed_at - done.dropped_at).total_seconds() >= 3600
    assert stats.held == 3  # BOB's, CAROL's and the old reservation's lockers


async def test_harbor_down_lockers_is_unavailable_and_stats_say_unknown(make_lab: LabFactory) -> None:
    lab = await make_lab(backoff_base=0.01)
    admin = AdminService(lab.handover, now=lab.now)
    lab.sim.add_fault(method="GET", path="assigned-lockers", status=500, times=None)

    with pytest.raises(ServiceUnavailable):
        await admin.lockers()
    stats = await admin.stats()
    assert stats.held is None and stats.week == {}


async def test_release_closes_the_delivery_and_reports_unreachable_chats(lab: Lab, admin: AdminService) -> None:
    delivery = await lab.in_locker(ALICE)
    assert delivery.id is not None and delivery.locker_id is not None

    done = await admin.release(delivery.id, ADMIN.id)

    assert done.delivery.state is S.RELEASED and (await lab.get(delivery.id)).state is S.RELEASED
    assert done.sender is not None and done.sender.id == ALICE.id
    assert lab.status(delivery.locker_id) == "available"
    assert await admin.unreachable_after_release(delivery.id) == []  # recorded, not failed
    [notice] = [m for m in await lab.notices(ALICE.id) if m.dedupe_key.startswith(f"released:{delivery.id}:")]
    assert notice.id is not None
    await lab.repo.outbox_done(notice.id, OutboxState.FAILED, error="blocked")
    assert await admin.unreachable_after_release(delivery.id) == [str(ALICE.id)]

    with pytest.raises(WrongState):
        await admin.release(delivery.id, ADMIN.id)
    with pytest.raises(DeliveryNotFound):
        await admin.release(10_000, ADMIN.id)


async def test_history_and_lists_name_the_people_involved(lab: Lab, admin: AdminService) -> None:
    delivery = await lab.in_locker(ALICE)
    assert delivery.id is not None
    await admin.release(delivery.id, ADMIN.id)

    history = await admin.history(delivery.id)
    assert history is not None and history.delivery.id == delivery.id
    assert [e.kind for e in history.events] == await lab.events(delivery.id)
    assert history.events[-1].kind == "released_by_admin"
    assert {ALICE.id, ADMIN.id} <= set(history.people)
    assert await admin.history(10_000) is None

    reserved = await lab.reserved(BOB)
    listed = await admin.deliveries()
    assert [d.id for d in listed.deliveries] == [reserved.id, delivery.id]  # newest first
    assert set(listed.people) == {ALICE.id, BOB.id}
    only = await admin.deliveries(S.RESERVED)
    assert [d.id for d in only.deliveries] == [reserved.id]


async def test_set_courier_says_whether_anything_changed(lab: Lab, admin: AdminService) -> None:
    added = await admin.set_courier("@BobTheBuilder", True)
    assert added.changed and added.user.role is Role.COURIER and added.returned_jobs == []
    again = await admin.set_courier(str(BOB.id), True)
    assert not again.changed
    assert [c.id for c in await admin.couriers()] == [BOB.id]

    removed = await admin.set_courier(str(BOB.id), False)
    assert removed.changed and removed.user.role is Role.CUSTOMER
    assert not (await admin.set_courier(str(BOB.id), False)).changed
    with pytest.raises(UnknownUser):
        await admin.set_courier("@nobody_here", True)
