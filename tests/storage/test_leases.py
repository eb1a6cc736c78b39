"""Leases on the shared work (issue 19): measured by the database's clock, renewed only by the claim
that holds them, and a claim that lapsed writes nothing (the fencing token)."""

from __future__ import annotations

from datetime import timedelta

from storage.models import JobKind, OutboxState
from storage.repository import Notice, Repository
from storage.types import utcnow

LEASE = timedelta(seconds=30)
ALICE = 1001


async def test_the_database_clock_is_the_real_time(repo: Repository) -> None:
    before = utcnow()
    now = await repo.database_now()
    assert before - timedelta(seconds=2) <= now <= utcnow() + timedelta(seconds=2)
    assert now.utcoffset() == timedelta(0)


async def test_a_lapsed_outbox_claim_neither_renews_nor_marks_the_row(repo: Repository) -> None:
    await repo.record_notices([Notice("n1", ALICE, {"n": 1})])
    now = await repo.database_now()
    [first] = await repo.claim_outbox(lease=LEASE, limit=10)
    assert first.lease_until is not None and first.lease_until >= now + LEASE
    assert await repo.claim_outbox(lease=LEASE, limit=10) == []  # held
    assert await repo.renew_outbox([first], lease=LEASE) == 1

    # The first claim's process stalls past its lease; another process takes the row over.
    [second] = await repo.claim_outbox(now=now + 2 * LEASE, lease=LEASE, limit=10)
    assert second.attempts == first.attempts + 1
    assert await repo.renew_outbox([first], lease=LEASE) == 0
    assert not await repo.outbox_done(first, OutboxState.SENT)
    assert not await repo.outbox_retry(first, after=timedelta(seconds=5), error="RetryAfter")
    [row] = await repo.outbox()
    assert row.state is OutboxState.PENDING and row.attempts == second.attempts

    assert await repo.outbox_done(second, OutboxState.SENT)
    [row] = await repo.outbox()
    assert row.state is OutboxState.SENT and row.lease_until is None


async def test_a_job_lease_is_renewed_only_by_its_holder(repo: Repository) -> None:
    await repo.schedule(JobKind.WATCH, "")
    now = await repo.database_now()
    [job] = await repo.claim_due_jobs("a", lease=LEASE, limit=10)
    assert await repo.renew_jobs([job], lease=LEASE) == 1
    renewed = await repo.job(JobKind.WATCH)
    assert renewed is not None and renewed.lease_until is not None and renewed.lease_until >= now + LEASE

    [taken] = await repo.claim_due_jobs("b", now=now + 3 * LEASE, lease=LEASE, limit=10)
    assert taken.lease_owner == "b"
    assert await repo.renew_jobs([job], lease=LEASE) == 0
    await repo.finish_job(job, next_in=timedelta(seconds=15))  # a's late finish changes nothing
    still = await repo.job(JobKind.WATCH)
    assert still is not None and still.lease_owner == "b" and still.due_at == taken.due_at

    await repo.finish_job(taken, next_in=timedelta(seconds=15))
    done = await repo.job(JobKind.WATCH)
    assert done is not None and done.lease_owner is None
    assert done.due_at >= now + timedelta(seconds=15)
