"""storage/repository.py (async) on SQLite and (with TEST_DATABASE_URL) PostgreSQL: the atomic updates the
delivery service relies on, the queries behind /my, /jobs and /stats, and what lets many processes share
one database: the unique indexes, chat states, leased timers, the outbox and Harbor event ids."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from storage.models import (
    CollectorKind,
    Delivery,
    DeliveryState,
    DropoffStep,
    IssuedKey,
    JobKind,
    KeyKind,
    KeyState,
    OutboxState,
    PickupLink,
)
from storage.repository import Conflict, Notice, Repository
from storage.types import utcnow

S = DeliveryState
T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
ALICE, BOB, CAROL = 1001, 1002, 1003


async def new_delivery(
    repo: Repository, sender: int = ALICE, state: DeliveryState = S.DRAFT, **fields: object
) -> Delivery:
    created = await repo.create_delivery(
        Delivery(sender_id=sender, location_id=101, location_name="Civic Center", size_id=1, size_name="small"),
        actor_id=sender,
    )
    assert created.id is not None
    if state is not S.DRAFT or fields:
        # Set up as the test needs it, past the state machine (transition() refuses undeclared moves).
        moved = await repo.update_delivery(created.id, state=state, **fields)
        assert moved is not None
        return moved
    return created


async def new_link(
    repo: Repository, delivery: Delivery, code_hash: str, *, expires: datetime = T0 + timedelta(days=7)
) -> PickupLink:
    assert delivery.id is not None
    return await repo.add_link(PickupLink(delivery_id=delivery.id, code_hash=code_hash, expires_at=expires))


# --- transition ---------------------------------------------------------------------------------------------


async def test_transition_moves_the_delivery_and_records_the_event(repo: Repository) -> None:
    delivery = await new_delivery(repo)
    until = T0 + timedelta(minutes=5)

    moved = await repo.transition(
        delivery.id,
        from_states=[S.DRAFT],
        to_state=S.RESERVED,
        actor_id=ALICE,
        event="reserved",
        detail="locker 5",
        locker_id=1005,
        reserved_until=until,
    )

    assert moved is not None
    assert (moved.state, moved.locker_id, moved.reserved_until) == (S.RESERVED, 1005, until)
    assert moved.reserved_until.tzinfo is not None  # aware UTC on both backends
    stored = await repo.get_delivery(delivery.id)
    assert stored is not None
    assert stored.state is S.RESERVED
    assert stored.updated_at >= delivery.updated_at
    events = await repo.events(delivery.id)
    assert [(e.kind, e.actor_id, e.detail) for e in events] == [("created", ALICE, ""), ("reserved", ALICE, "locker 5")]


async def test_transition_from_the_wrong_state_changes_nothing(repo: Repository) -> None:
    delivery = await new_delivery(repo, state=S.CANCELLED)

    assert (
        await repo.transition(delivery.id, from_states=[S.RESERVED], to_state=S.EXPIRED, actor_id=None, event="x")
        is None
    )

    assert (await repo.get_delivery(delivery.id)).state is S.CANCELLED
    assert [e.kind for e in await repo.events(delivery.id)] == ["created"]


async def test_transition_refuses_a_move_the_state_machine_does_not_have(repo: Repository) -> None:
    delivery = await new_delivery(repo, state=S.COMPLETED)

    with pytest.raises(ValueError, match="no move from completed to reserved"):
        await repo.transition(delivery.id, from_states=[S.COMPLETED], to_state=S.RESERVED, actor_id=None, event="x")

    assert (await repo.get_delivery(delivery.id)).state is S.COMPLETED


async def test_transition_of_an_unknown_delivery_is_none(repo: Repository) -> None:
    assert await repo.transition(999, from_states=[S.DRAFT], to_state=S.RESERVED, actor_id=None, event="x") is None


async def test_concurrent_transitions_from_the_same_state_have_one_winner(repo: Repository) -> None:
    """Two tasks (two connections) race to close the same reservation: compare-and-set in the database."""
    delivery = await new_delivery(repo, state=S.RESERVED)
    results: dict[DeliveryState, Delivery | None] = {}

    async def close(to_state: DeliveryState) -> None:
        results[to_state] = await repo.transition(
            delivery.id,
            from_states=[S.RESERVED],
            to_state=to_state,
            actor_id=None,
            event=to_state.value,
            notices=[Notice(f"closed:{delivery.id}", ALICE, {"as": to_state.value})],
        )

    await asyncio.wait_for(asyncio.gather(close(S.CANCELLED), close(S.EXPIRED)), 30)

    winners = [state for state, moved in results.items() if moved is not None]
    assert len(results) == 2
    assert len(winners) == 1
    assert (await repo.get_delivery(delivery.id)).state is winners[0]
    closing = [e.kind for e in await repo.events(delivery.id) if e.kind in ("cancelled", "expired")]
    assert closing == [winners[0].value]
    [notice] = await repo.outbox()  # only the winner's announcement
    assert json.loads(notice.body) == {"as": winners[0].value}


# --- pickup links -------------------------------------------------------------------------------------------


async def test_claim_link_is_single_use(repo: Repository) -> None:
    link = await new_link(repo, await new_delivery(repo, state=S.IN_LOCKER), "h1")

    assert await repo.claim_link(link.id, BOB, now=T0) is True
    assert await repo.claim_link(link.id, CAROL, now=T0) is False
    assert await repo.claim_link(link.id, BOB, now=T0) is False

    stored = await repo.find_link("h1")
    assert (stored.claimed_by, stored.claimed_at) == (BOB, T0)


async def test_an_expired_or_revoked_link_cannot_be_claimed(repo: Repository) -> None:
    delivery = await new_delivery(repo, state=S.IN_LOCKER)
    expired = await new_link(repo, delivery, "expired", expires=T0)
    assert await repo.claim_link(expired.id, BOB, now=T0) is False  # the last instant is already too late

    revoked = await new_link(repo, await new_delivery(repo, state=S.IN_LOCKER), "revoked")
    await repo.revoke_links(revoked.delivery_id, now=T0)
    assert await repo.claim_link(revoked.id, BOB, now=T0) is False


async def test_revoke_links_revokes_the_unused_links_of_that_delivery_only(repo: Repository) -> None:
    delivery = await new_delivery(repo, state=S.IN_LOCKER)
    other = await new_delivery(repo, BOB, state=S.IN_LOCKER)
    claimed = await new_link(repo, delivery, "claimed")
    await repo.claim_link(claimed.id, CAROL, now=T0)
    await new_link(repo, delivery, "open-1")
    await new_link(repo, delivery, "open-2")
    await new_link(repo, other, "other")

    assert await repo.revoke_links(delivery.id, now=T0) == 2
    assert await repo.revoke_links(delivery.id, now=T0) == 0  # nothing left to revoke

    assert (await repo.find_link("open-1")).revoked_at == T0
    assert (await repo.find_link("claimed")).revoked_at is None  # a claimed link is history, not revoked
    assert (await repo.find_link("other")).revoked_at is None
    assert [link.code_hash for link in await repo.live_links(other.id, now=T0)] == ["other"]
    assert await repo.live_links(delivery.id, now=T0) == []


# --- queries ------------------------------------------------------------------------------------------------


async def test_open_deliveries_of_lists_what_someone_sends_or_collects(repo: Repository) -> None:
    # One pre-drop-off delivery per sender (a unique index): Alice's item is in, her draft comes last.
    sending = await new_delivery(repo, ALICE, state=S.IN_LOCKER)
    collecting = await new_delivery(
        repo, BOB, state=S.IN_LOCKER, collector_kind=CollectorKind.RECIPIENT, collector_id=ALICE
    )
    await new_delivery(repo, ALICE, state=S.COMPLETED)  # finished: not open
    await new_delivery(repo, ALICE, state=S.CANCELLED)
    await new_delivery(repo, BOB, state=S.RESERVED)  # someone else's
    draft = await new_delivery(repo, ALICE)

    assert [d.id for d in await repo.open_deliveries_of(ALICE)] == [sending.id, collecting.id, draft.id]
    assert [d.id for d in await repo.open_deliveries_of(CAROL)] == []
    assert [d.id for d in await repo.deliveries_for_collector(ALICE)] == [collecting.id]


async def test_count_by_state_counts_what_was_created_since(repo: Repository) -> None:
    for sender, state in enumerate((S.RESERVED, S.RESERVED, S.COMPLETED, S.CANCELLED), start=1):
        await new_delivery(repo, sender, state=state)
    old = await new_delivery(repo, state=S.COMPLETED)
    await repo.update_delivery(old.id, created_at=T0 - timedelta(days=30))  # created long ago

    assert await repo.count_by_state() == {S.RESERVED: 2, S.COMPLETED: 2, S.CANCELLED: 1}
    assert await repo.count_by_state(since=T0 - timedelta(days=7)) == {S.RESERVED: 2, S.COMPLETED: 1, S.CANCELLED: 1}
    assert all(isinstance(state, DeliveryState) for state in await repo.count_by_state())


async def test_pickup_durations_of_completed_deliveries(repo: Repository) -> None:
    await new_delivery(repo, state=S.COMPLETED, dropped_at=T0, completed_at=T0 + timedelta(hours=3))
    await new_delivery(repo, state=S.COMPLETED, dropped_at=T0, completed_at=T0 + timedelta(minutes=30))
    await new_delivery(
        repo, state=S.COMPLETED, dropped_at=T0 - timedelta(days=20), completed_at=T0 - timedelta(days=19)
    )
    await new_delivery(repo, state=S.RELEASED, dropped_at=T0, completed_at=T0 + timedelta(hours=1))  # not a pickup
    await new_delivery(repo, state=S.IN_LOCKER, dropped_at=T0)  # not collected yet

    assert sorted(await repo.pickup_durations()) == [1800.0, 10800.0, 86400.0]
    assert sorted(await repo.pickup_durations(since=T0 - timedelta(days=7))) == [1800.0, 10800.0]


async def test_find_user_by_username_ignores_case_and_the_at_sign(repo: Repository) -> None:
    await repo.upsert_user(BOB, first_name="Bob", username="BobTheBuilder")
    await repo.upsert_user(CAROL, first_name="Carol")

    for ref in ("BobTheBuilder", "@bobthebuilder", "BOBTHEBUILDER"):
        user = await repo.find_user_by_username(ref)
        assert user is not None
        assert user.id == BOB
    assert await repo.find_user_by_username("@carol") is None
    assert await repo.find_user_by_username("") is None


# --- the unique indexes many processes rely on --------------------------------------------------------------


async def test_a_second_pre_drop_off_delivery_of_one_sender_is_a_conflict(repo: Repository) -> None:
    first = await new_delivery(repo, ALICE)

    with pytest.raises(Conflict):
        await new_delivery(repo, ALICE)  # a double tap on another process
    await new_delivery(repo, BOB)  # others are not affected

    await repo.transition(first.id, from_states=[S.DRAFT], to_state=S.RESERVED, actor_id=None, event="x")
    with pytest.raises(Conflict):
        await new_delivery(repo, ALICE)  # reserved is still before the drop-off
    await repo.transition(first.id, from_states=[S.RESERVED], to_state=S.IN_LOCKER, actor_id=None, event="x")
    second = await new_delivery(repo, ALICE)  # the item is in: the next drop-off may start
    assert [d.id for d in await repo.open_deliveries_of(ALICE)] == [first.id, second.id]
    assert len(await repo.recent_deliveries()) == 3  # the refused ones left nothing behind


async def test_a_second_open_delivery_on_one_locker_is_a_conflict(repo: Repository) -> None:
    tower = "010000000000001a"
    held = await new_delivery(repo, ALICE, state=S.RESERVED, tower_id=tower, locker_id=1005)
    other = await new_delivery(repo, BOB)

    with pytest.raises(Conflict):
        await repo.transition(
            other.id, from_states=[S.DRAFT], to_state=S.RESERVED, actor_id=BOB, event="reserved",
            tower_id=tower, locker_id=1005,
        )  # fmt: skip

    assert (await repo.get_delivery(other.id)).state is S.DRAFT
    assert [e.kind for e in await repo.events(other.id)] == ["created"]
    # The same locker number in another tower is another locker.
    elsewhere = await repo.transition(
        other.id, from_states=[S.DRAFT], to_state=S.RESERVED, actor_id=BOB, event="reserved",
        tower_id="0100000000000175", locker_id=1005,
    )  # fmt: skip
    assert elsewhere is not None
    # Once the first delivery is finished, its locker may be used again.
    await repo.transition(held.id, from_states=[S.RESERVED], to_state=S.CANCELLED, actor_id=None, event="x")
    carol = await new_delivery(repo, CAROL)
    again = await repo.transition(
        carol.id, from_states=[S.DRAFT], to_state=S.RESERVED, actor_id=CAROL, event="reserved",
        tower_id=tower, locker_id=1005,
    )  # fmt: skip
    assert again is not None


async def test_open_by_locker_answers_for_the_lockers_asked_about_only(repo: Repository) -> None:
    tower = "010000000000001a"
    held = await new_delivery(repo, ALICE, state=S.RESERVED, tower_id=tower, locker_id=1005)
    await new_delivery(repo, BOB, state=S.IN_LOCKER, tower_id=tower, locker_id=1007)
    done = await new_delivery(repo, CAROL, state=S.RESERVED, tower_id=tower, locker_id=1009)
    await repo.transition(done.id, from_states=[S.RESERVED], to_state=S.CANCELLED, actor_id=None, event="x")

    assert set(await repo.open_by_locker()) == {(tower, 1005), (tower, 1007)}
    asked = await repo.open_by_locker([1005, 1009, 1011])
    assert list(asked) == [(tower, 1005)] and asked[(tower, 1005)].id == held.id
    assert await repo.open_by_locker([]) == {}


# --- keys, reminders and links with their notices -----------------------------------------------------------


async def test_set_key_state_records_its_notices_only_when_it_moves_the_key(repo: Repository) -> None:
    delivery = await new_delivery(repo, state=S.AWAITING_DROPOFF)
    key = await repo.add_key(
        IssuedKey(delivery_id=delivery.id, kind=KeyKind.DROPOFF, user_id=ALICE, chat_id=ALICE, expires_at=T0)
    )
    tell = [Notice(f"key_expired:{key.id}", ALICE, {"key_id": key.id})]

    assert await repo.due_keys(T0 - timedelta(seconds=1)) == []
    assert [k.id for k in await repo.due_keys(T0)] == [key.id]
    assert (await repo.set_key_state(key.id, KeyState.EXPIRED, notices=tell)).state is KeyState.EXPIRED
    assert await repo.set_key_state(key.id, KeyState.EXPIRED, notices=[Notice("other", ALICE)]) is None

    assert [m.dedupe_key for m in await repo.outbox()] == [f"key_expired:{key.id}"]
    assert await repo.due_keys(T0) == []


async def test_mark_reminded_happens_once_and_only_for_an_item_still_inside(repo: Repository) -> None:
    waiting = await new_delivery(repo, ALICE, state=S.IN_LOCKER, reminder_due_at=T0)
    collected = await new_delivery(repo, BOB, state=S.COMPLETED, reminder_due_at=T0)
    later = await new_delivery(repo, CAROL, state=S.IN_LOCKER, reminder_due_at=T0 + timedelta(hours=1))

    assert [d.id for d in await repo.due_reminders(T0)] == [waiting.id]
    reminded = await repo.mark_reminded(waiting.id, now=T0, notices=[Notice("reminder", ALICE)])
    assert reminded is not None and reminded.reminded_at == T0
    assert await repo.mark_reminded(waiting.id, now=T0, notices=[Notice("reminder-again", ALICE)]) is None
    assert await repo.mark_reminded(collected.id, now=T0, notices=[Notice("collected", BOB)]) is None

    assert [m.dedupe_key.split("@")[0] for m in await repo.outbox()] == ["reminder"]  # keyed by its event
    assert [e.kind for e in await repo.events(waiting.id)].count("reminder_sent") == 1
    assert await repo.due_reminders(T0) == []
    assert [d.id for d in await repo.due_reminders(T0 + timedelta(hours=1))] == [later.id]


async def test_expire_link_happens_once_and_not_to_a_claimed_link(repo: Repository) -> None:
    delivery = await new_delivery(repo, state=S.IN_LOCKER)
    unclaimed = await new_link(repo, delivery, "unclaimed", expires=T0)
    claimed = await new_link(repo, delivery, "claimed", expires=T0)
    await repo.claim_link(claimed.id, BOB, now=T0 - timedelta(minutes=1))

    assert [link.id for link in await repo.due_links(T0)] == [unclaimed.id]
    assert await repo.expire_link(unclaimed.id, now=T0, notices=[Notice("link_expired", ALICE)]) is True
    assert await repo.expire_link(unclaimed.id, now=T0, notices=[Notice("again", ALICE)]) is False
    assert await repo.expire_link(claimed.id, now=T0, notices=[Notice("claimed", ALICE)]) is False

    assert [m.dedupe_key for m in await repo.outbox()] == ["link_expired"]
    assert await repo.due_links(T0) == []


# --- chat state ---------------------------------------------------------------------------------------------


async def test_chat_state_is_upserted_and_cleared(repo: Repository) -> None:
    assert await repo.chat_state(ALICE) is None

    await repo.set_chat_state(ALICE, DropoffStep.ASK_LOCATION)
    state = await repo.chat_state(ALICE)
    assert (state.step, state.lat, state.lon) == (DropoffStep.ASK_LOCATION, None, None)

    await repo.set_chat_state(ALICE, DropoffStep.CHOOSE_LOCATION, point=(37.7793, -122.4193))
    state = await repo.chat_state(ALICE)
    assert (state.step, state.lat, state.lon) == (DropoffStep.CHOOSE_LOCATION, 37.7793, -122.4193)

    await repo.set_chat_state(ALICE, DropoffStep.CHOOSE_SIZE, keep_point=True)
    state = await repo.chat_state(ALICE)
    assert (state.step, state.lat, state.lon) == (DropoffStep.CHOOSE_SIZE, 37.7793, -122.4193)

    await repo.set_chat_state(BOB, DropoffStep.ASK_LOCATION)
    await repo.set_chat_state(ALICE, DropoffStep.ASK_LOCATION)  # no point given: the old one goes
    state = await repo.chat_state(ALICE)
    assert (state.step, state.lat, state.lon) == (DropoffStep.ASK_LOCATION, None, None)

    await repo.clear_chat_state(ALICE)
    await repo.clear_chat_state(ALICE)  # clearing twice is harmless
    assert await repo.chat_state(ALICE) is None
    assert (await repo.chat_state(BOB)).step is DropoffStep.ASK_LOCATION


async def test_two_processes_writing_one_chat_state_leave_one_row(repo: Repository) -> None:
    await asyncio.gather(
        repo.set_chat_state(ALICE, DropoffStep.ASK_LOCATION),
        repo.set_chat_state(ALICE, DropoffStep.CHOOSE_SIZE, point=(1.0, 2.0)),
    )
    assert (await repo.chat_state(ALICE)).step in (DropoffStep.ASK_LOCATION, DropoffStep.CHOOSE_SIZE)


# --- shared timers ------------------------------------------------------------------------------------------

LEASE = timedelta(seconds=30)


async def test_a_claimed_job_is_not_claimed_again_until_its_lease_ends(repo: Repository) -> None:
    await repo.schedule(JobKind.WATCH, "", T0)
    await repo.schedule(JobKind.DEADLINES, "", T0 + timedelta(minutes=1))  # not due yet

    [job] = await repo.claim_due_jobs("a", now=T0, lease=LEASE, limit=10)
    assert (job.kind, job.ref, job.lease_owner, job.lease_until, job.attempts) == (
        JobKind.WATCH,
        "",
        "a",
        T0 + LEASE,
        1,
    )
    assert await repo.claim_due_jobs("b", now=T0 + timedelta(seconds=10), lease=LEASE, limit=10) == []
    assert await repo.claim_due_jobs("b", now=T0 + LEASE, lease=LEASE, limit=10) == []  # the last instant is a's

    # Process a died: once its lease ran out, b takes the job over.
    [taken] = await repo.claim_due_jobs("b", now=T0 + LEASE + timedelta(seconds=1), lease=LEASE, limit=1)
    assert (taken.id, taken.lease_owner, taken.attempts) == (job.id, "b", 2)
    # a's late finish does not touch b's claim.
    await repo.finish_job(job)
    stored = await repo.job(JobKind.WATCH)
    assert stored is not None and stored.lease_owner == "b"


async def test_claim_due_jobs_takes_the_earliest_up_to_the_limit(repo: Repository) -> None:
    for minutes, tower in ((3, "t3"), (1, "t1"), (2, "t2")):
        await repo.schedule(JobKind.CHECK_TOWER, tower, T0 + timedelta(minutes=minutes))

    claimed = await repo.claim_due_jobs("a", now=T0 + timedelta(minutes=5), lease=LEASE, limit=2)

    assert [j.ref for j in claimed] == ["t1", "t2"]
    assert [j.ref for j in await repo.claim_due_jobs("b", now=T0 + timedelta(minutes=5), lease=LEASE, limit=5)] == [
        "t3"
    ]


async def test_two_processes_claiming_at_once_share_the_jobs_out(repo: Repository) -> None:
    for i in range(6):
        await repo.schedule(JobKind.CHECK_TOWER, f"t{i}", T0)

    a, b = await asyncio.gather(
        repo.claim_due_jobs("a", now=T0, lease=LEASE, limit=10),
        repo.claim_due_jobs("b", now=T0, lease=LEASE, limit=10),
    )

    assert sorted(j.ref for j in a + b) == [f"t{i}" for i in range(6)]  # each exactly once
    assert {j.lease_owner for j in await repo.jobs()} <= {"a", "b"}


async def test_finish_job_deletes_it_or_moves_it_to_its_next_time(repo: Repository) -> None:
    await repo.schedule(JobKind.CHECK_TOWER, "t1", T0)
    await repo.schedule(JobKind.WATCH, "", T0)
    claimed = {j.kind: j for j in await repo.claim_due_jobs("a", now=T0, lease=LEASE, limit=10)}

    await repo.finish_job(claimed[JobKind.CHECK_TOWER])
    await repo.finish_job(claimed[JobKind.WATCH], next_due=T0 + timedelta(seconds=15))

    assert await repo.job(JobKind.CHECK_TOWER, "t1") is None
    watch = await repo.job(JobKind.WATCH)
    assert (watch.due_at, watch.lease_until, watch.lease_owner, watch.attempts) == (
        T0 + timedelta(seconds=15),
        None,
        None,
        0,
    )
    assert watch.last_run_at is not None
    assert await repo.claim_due_jobs("b", now=T0 + timedelta(seconds=14), lease=LEASE, limit=10) == []
    [again] = await repo.claim_due_jobs("b", now=T0 + timedelta(seconds=15), lease=LEASE, limit=10)
    assert again.kind is JobKind.WATCH


async def test_a_job_rescheduled_while_it_runs_survives_its_finish(repo: Repository) -> None:
    await repo.schedule(JobKind.CHECK_TOWER, "t1", T0)
    [job] = await repo.claim_due_jobs("a", now=T0, lease=LEASE, limit=10)

    await repo.schedule(JobKind.CHECK_TOWER, "t1", T0 + timedelta(minutes=1))  # a new event for that tower
    await repo.finish_job(job)

    stored = await repo.job(JobKind.CHECK_TOWER, "t1")
    assert stored is not None
    assert (stored.due_at, stored.lease_until, stored.lease_owner) == (T0 + timedelta(minutes=1), None, None)
    assert await repo.claim_due_jobs("b", now=T0 + timedelta(seconds=59), lease=LEASE, limit=10) == []
    assert len(await repo.claim_due_jobs("b", now=T0 + timedelta(minutes=1), lease=LEASE, limit=10)) == 1


async def test_retry_job_releases_it_for_later(repo: Repository) -> None:
    await repo.schedule(JobKind.DEADLINES, "", T0)
    [job] = await repo.claim_due_jobs("a", now=T0, lease=LEASE, limit=10)

    await repo.retry_job(job, at=T0 + timedelta(seconds=5))

    stored = await repo.job(JobKind.DEADLINES)
    assert (stored.due_at, stored.lease_owner, stored.attempts) == (T0 + timedelta(seconds=5), None, 1)
    assert await repo.claim_due_jobs("b", now=T0 + timedelta(seconds=4), lease=LEASE, limit=10) == []
    [again] = await repo.claim_due_jobs("b", now=T0 + timedelta(seconds=5), lease=LEASE, limit=10)
    assert again.attempts == 2


async def test_ensure_job_creates_a_missing_timer_and_leaves_an_existing_one(repo: Repository) -> None:
    await repo.ensure_job(JobKind.WATCH, "", T0)
    await repo.ensure_job(JobKind.WATCH, "", T0 + timedelta(hours=1))  # a second process starting

    [job] = await repo.jobs()
    assert (job.kind, job.ref, job.due_at) == (JobKind.WATCH, "", T0)

    await repo.schedule(JobKind.WATCH, "", T0 + timedelta(minutes=2))  # schedule does move it
    await repo.unschedule(JobKind.DEADLINES, "")  # unscheduling nothing is harmless
    assert (await repo.job(JobKind.WATCH)).due_at == T0 + timedelta(minutes=2)
    await repo.unschedule(JobKind.WATCH, "")
    assert await repo.jobs() == []


# --- the outbox ---------------------------------------------------------------------------------------------


async def test_the_same_notice_twice_is_one_row(repo: Repository) -> None:
    delivery = await new_delivery(repo, state=S.AWAITING_DROPOFF)
    notice = Notice(f"in_locker:{delivery.id}:{ALICE}", ALICE, {"kind": "in_locker", "delivery_id": delivery.id})

    await repo.record_notices([notice])
    await repo.record_notices([notice, notice])

    [row] = await repo.outbox()
    assert (row.dedupe_key, row.chat_id, row.state, row.attempts) == (notice.dedupe_key, ALICE, OutboxState.PENDING, 0)
    assert json.loads(row.body) == {"kind": "in_locker", "delivery_id": delivery.id}


async def test_a_transition_that_loses_records_no_notice(repo: Repository) -> None:
    delivery = await new_delivery(repo, state=S.CANCELLED)

    moved = await repo.transition(
        delivery.id,
        from_states=[S.RESERVED],
        to_state=S.EXPIRED,
        actor_id=None,
        event="hold_expired",
        notices=[Notice("hold_expired", ALICE)],
    )

    assert moved is None
    assert await repo.outbox() == []


async def test_claim_outbox_gives_only_the_oldest_pending_message_of_each_chat(repo: Repository) -> None:
    now = utcnow()  # messages are due from the moment they are recorded
    await repo.record_notices([Notice("a1", ALICE, {"n": 1}), Notice("b1", BOB), Notice("a2", ALICE, {"n": 2})])

    first = await repo.claim_outbox(now=now + timedelta(seconds=1), lease=LEASE, limit=10)
    assert [m.dedupe_key for m in first] == ["a1", "b1"]
    assert all(m.attempts == 1 for m in first)
    # While they are out, nothing else of those chats goes: not the leased ones, not Alice's next.
    assert await repo.claim_outbox(now=now + timedelta(seconds=2), lease=LEASE, limit=10) == []

    a1, b1 = first
    await repo.outbox_done(a1.id, OutboxState.SENT)
    [a2] = await repo.claim_outbox(now=now + timedelta(seconds=3), lease=LEASE, limit=10)
    assert a2.dedupe_key == "a2"
    await repo.outbox_done(a2.id, OutboxState.SENT)

    # Telegram said 429 for Bob: retried later, and only then.
    await repo.outbox_retry(b1.id, at=now + timedelta(minutes=1), error="RetryAfter")
    assert await repo.claim_outbox(now=now + timedelta(seconds=59), lease=LEASE, limit=10) == []
    [b1_again] = await repo.claim_outbox(now=now + timedelta(minutes=1), lease=LEASE, limit=10)
    assert (b1_again.dedupe_key, b1_again.attempts, b1_again.error) == ("b1", 2, "RetryAfter")

    await repo.outbox_done(b1.id, OutboxState.FAILED, error="Forbidden: bot was blocked by the user")
    rows = {m.dedupe_key: m for m in await repo.outbox()}
    assert {k: m.state for k, m in rows.items()} == {
        "a1": OutboxState.SENT,
        "b1": OutboxState.FAILED,
        "a2": OutboxState.SENT,
    }
    assert rows["a1"].sent_at is not None and rows["a1"].lease_until is None
    assert rows["b1"].error == "Forbidden: bot was blocked by the user"
    assert [m.dedupe_key for m in await repo.outbox(chat_id=ALICE)] == ["a1", "a2"]
    # A failed message does not hold up the chat's later news.
    await repo.record_notices([Notice("b2", BOB)])
    [b2] = await repo.claim_outbox(now=utcnow() + timedelta(seconds=1), lease=LEASE, limit=10)
    assert b2.dedupe_key == "b2"


async def test_a_leased_message_is_claimed_again_when_its_lease_ends(repo: Repository) -> None:
    now = utcnow()
    await repo.record_notices([Notice("a1", ALICE)])

    [first] = await repo.claim_outbox(now=now + timedelta(seconds=1), lease=LEASE, limit=10)
    assert await repo.claim_outbox(now=now + timedelta(seconds=30), lease=LEASE, limit=10) == []
    [again] = await repo.claim_outbox(now=now + timedelta(seconds=32), lease=LEASE, limit=10)  # its sender died

    assert (again.id, again.attempts) == (first.id, 2)


# --- Harbor events ------------------------------------------------------------------------------------------


async def test_first_sighting_of_a_harbor_event_is_true_once(repo: Repository) -> None:
    assert await repo.first_sighting("evt-1") is True
    assert await repo.first_sighting("evt-1") is False  # redelivered
    assert await repo.first_sighting("evt-2") is True


async def test_first_sighting_at_once_in_two_processes_has_one_winner(repo: Repository) -> None:
    seen = await asyncio.gather(*(repo.first_sighting("evt-1") for _ in range(4)))
    assert sorted(seen) == [False, False, False, True]
