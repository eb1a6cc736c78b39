"""storage/repository.py on SQLite and (with TEST_DATABASE_URL) PostgreSQL: the atomic updates the
delivery service relies on, and the queries behind /my, /jobs and /stats."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from storage.models import CollectorKind, Delivery, DeliveryState, PickupLink
from storage.repository import Repository

S = DeliveryState
T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
ALICE, BOB, CAROL = 1001, 1002, 1003


@pytest.fixture
def repo(session_factory: Callable[[], Session]) -> Repository:
    return Repository(session_factory)


def new_delivery(repo: Repository, sender: int = ALICE, state: DeliveryState = S.DRAFT, **fields: object) -> Delivery:
    created = repo.create_delivery(
        Delivery(sender_id=sender, location_id=101, location_name="Civic Center", size_id=1, size_name="small"),
        actor_id=sender,
    )
    assert created.id is not None
    if state is not S.DRAFT or fields:
        moved = repo.transition(
            created.id, from_states=[S.DRAFT], to_state=state, actor_id=None, event="setup", **fields
        )
        assert moved is not None
        return moved
    return created


def new_link(
    repo: Repository, delivery: Delivery, code_hash: str, *, expires: datetime = T0 + timedelta(days=7)
) -> PickupLink:
    assert delivery.id is not None
    return repo.add_link(PickupLink(delivery_id=delivery.id, code_hash=code_hash, expires_at=expires))


# --- transition ------------------------------------------------------------------------------------------


def test_transition_moves_the_delivery_and_records_the_event(repo: Repository) -> None:
    delivery = new_delivery(repo)
    until = T0 + timedelta(minutes=5)

    moved = repo.transition(
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
    stored = repo.get_delivery(delivery.id)
    assert stored is not None
    assert stored.state is S.RESERVED
    assert stored.updated_at >= delivery.updated_at
    events = repo.events(delivery.id)
    assert [(e.kind, e.actor_id, e.detail) for e in events] == [("created", ALICE, ""), ("reserved", ALICE, "locker 5")]


def test_transition_from_the_wrong_state_changes_nothing(repo: Repository) -> None:
    delivery = new_delivery(repo, state=S.CANCELLED)

    assert repo.transition(delivery.id, from_states=[S.RESERVED], to_state=S.EXPIRED, actor_id=None, event="x") is None

    assert repo.get_delivery(delivery.id).state is S.CANCELLED
    assert [e.kind for e in repo.events(delivery.id)] == ["created", "setup"]


def test_transition_of_an_unknown_delivery_is_none(repo: Repository) -> None:
    assert repo.transition(999, from_states=[S.DRAFT], to_state=S.RESERVED, actor_id=None, event="x") is None


def test_concurrent_transitions_from_the_same_state_have_one_winner(repo: Repository) -> None:
    """Two threads (two connections) race to close the same reservation: compare-and-set in the database."""
    delivery = new_delivery(repo, state=S.RESERVED)
    barrier = threading.Barrier(2)
    results: dict[DeliveryState, Delivery | None] = {}

    def close(to_state: DeliveryState) -> None:
        barrier.wait()
        results[to_state] = repo.transition(
            delivery.id, from_states=[S.RESERVED], to_state=to_state, actor_id=None, event=to_state.value
        )

    threads = [threading.Thread(target=close, args=(state,)) for state in (S.CANCELLED, S.EXPIRED)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [state for state, moved in results.items() if moved is not None]
    assert len(results) == 2
    assert len(winners) == 1
    assert repo.get_delivery(delivery.id).state is winners[0]
    closing = [e.kind for e in repo.events(delivery.id) if e.kind in ("cancelled", "expired")]
    assert closing == [winners[0].value]


# --- pickup links ------------------------------------------------------------------------------------------


def test_claim_link_is_single_use(repo: Repository) -> None:
    link = new_link(repo, new_delivery(repo, state=S.IN_LOCKER), "h1")

    assert repo.claim_link(link.id, BOB, now=T0) is True
    assert repo.claim_link(link.id, CAROL, now=T0) is False
    assert repo.claim_link(link.id, BOB, now=T0) is False

    stored = repo.find_link("h1")
    assert (stored.claimed_by, stored.claimed_at) == (BOB, T0)


def test_an_expired_or_revoked_link_cannot_be_claimed(repo: Repository) -> None:
    delivery = new_delivery(repo, state=S.IN_LOCKER)
    expired = new_link(repo, delivery, "expired", expires=T0)
    assert repo.claim_link(expired.id, BOB, now=T0) is False  # the last instant is already too late

    revoked = new_link(repo, new_delivery(repo, state=S.IN_LOCKER), "revoked")
    repo.revoke_links(revoked.delivery_id, now=T0)
    assert repo.claim_link(revoked.id, BOB, now=T0) is False


def test_revoke_links_revokes_the_unused_links_of_that_delivery_only(repo: Repository) -> None:
    delivery = new_delivery(repo, state=S.IN_LOCKER)
    other = new_delivery(repo, BOB, state=S.IN_LOCKER)
    claimed = new_link(repo, delivery, "claimed")
    repo.claim_link(claimed.id, CAROL, now=T0)
    new_link(repo, delivery, "open-1")
    new_link(repo, delivery, "open-2")
    new_link(repo, other, "other")

    assert repo.revoke_links(delivery.id, now=T0) == 2
    assert repo.revoke_links(delivery.id, now=T0) == 0  # nothing left to revoke

    assert repo.find_link("open-1").revoked_at == T0
    assert repo.find_link("claimed").revoked_at is None  # a claimed link is history, not revoked
    assert repo.find_link("other").revoked_at is None
    assert [link.code_hash for link in repo.live_links(other.id, now=T0)] == ["other"]
    assert repo.live_links(delivery.id, now=T0) == []


# --- queries ---------------------------------------------------------------------------------------------------


def test_open_deliveries_of_lists_what_someone_sends_or_collects(repo: Repository) -> None:
    sending = new_delivery(repo, ALICE, state=S.RESERVED)
    collecting = new_delivery(repo, BOB, state=S.IN_LOCKER, collector_kind=CollectorKind.RECIPIENT, collector_id=ALICE)
    new_delivery(repo, ALICE, state=S.COMPLETED)  # finished: not open
    new_delivery(repo, ALICE, state=S.CANCELLED)
    new_delivery(repo, BOB, state=S.RESERVED)  # someone else's
    draft = new_delivery(repo, ALICE)

    assert [d.id for d in repo.open_deliveries_of(ALICE)] == [sending.id, collecting.id, draft.id]
    assert [d.id for d in repo.open_deliveries_of(CAROL)] == []
    assert [d.id for d in repo.deliveries_for_collector(ALICE)] == [collecting.id]


def test_count_by_state_counts_what_was_created_since(repo: Repository, session_factory) -> None:
    for state in (S.RESERVED, S.RESERVED, S.COMPLETED, S.CANCELLED):
        new_delivery(repo, state=state)
    old = new_delivery(repo, state=S.COMPLETED)
    with session_factory() as session:  # created long ago
        row = session.get(Delivery, old.id)
        row.created_at = T0 - timedelta(days=30)
        session.add(row)
        session.commit()

    assert repo.count_by_state() == {S.RESERVED: 2, S.COMPLETED: 2, S.CANCELLED: 1}
    assert repo.count_by_state(since=T0 - timedelta(days=7)) == {S.RESERVED: 2, S.COMPLETED: 1, S.CANCELLED: 1}
    assert all(isinstance(state, DeliveryState) for state in repo.count_by_state())


def test_pickup_durations_of_completed_deliveries(repo: Repository) -> None:
    new_delivery(repo, state=S.COMPLETED, dropped_at=T0, completed_at=T0 + timedelta(hours=3))
    new_delivery(repo, state=S.COMPLETED, dropped_at=T0, completed_at=T0 + timedelta(minutes=30))
    new_delivery(repo, state=S.COMPLETED, dropped_at=T0 - timedelta(days=20), completed_at=T0 - timedelta(days=19))
    new_delivery(repo, state=S.RELEASED, dropped_at=T0, completed_at=T0 + timedelta(hours=1))  # not a pickup
    new_delivery(repo, state=S.IN_LOCKER, dropped_at=T0)  # not collected yet

    assert sorted(repo.pickup_durations()) == [1800.0, 10800.0, 86400.0]
    assert sorted(repo.pickup_durations(since=T0 - timedelta(days=7))) == [1800.0, 10800.0]


def test_find_user_by_username_ignores_case_and_the_at_sign(repo: Repository) -> None:
    repo.upsert_user(BOB, first_name="Bob", username="BobTheBuilder")
    repo.upsert_user(CAROL, first_name="Carol")

    for ref in ("BobTheBuilder", "@bobthebuilder", "BOBTHEBUILDER"):
        user = repo.find_user_by_username(ref)
        assert user is not None
        assert user.id == BOB
    assert repo.find_user_by_username("@carol") is None
    assert repo.find_user_by_username("") is None
