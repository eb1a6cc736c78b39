"""The figures the metrics read from the database at scrape time (bot/metrics.py).

Each is one indexed query: deliveries by state (ix on state), the pending outbox (a partial index on
pending rows), due jobs (the few rows of scheduled_jobs). Read-only, in one short session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, text
from sqlmodel import col, select

from storage.models import Delivery, DeliveryState, JobKind, OutboxMessage, OutboxState, ScheduledJob
from storage.repo_base import SessionFactory
from storage.types import utcnow


@dataclass
class DatabaseGauges:
    deliveries: dict[DeliveryState, int] = field(default_factory=dict)
    outbox_pending: int = 0
    outbox_oldest_seconds: float = 0.0
    # How long the oldest due, unclaimed job of each kind has been waiting.
    scheduler_lag: dict[JobKind, float] = field(default_factory=dict)


async def read_gauges(session_factory: SessionFactory) -> DatabaseGauges:
    now = utcnow()
    gauges = DatabaseGauges()
    async with session_factory() as session:
        by_state = select(Delivery.state, func.count()).group_by(col(Delivery.state))
        for state, count in (await session.exec(by_state)).all():
            gauges.deliveries[DeliveryState(state)] = int(count)

        pending = select(func.count(), func.min(OutboxMessage.created_at)).where(
            col(OutboxMessage.state) == OutboxState.PENDING
        )
        count, oldest = (await session.exec(pending)).one()
        gauges.outbox_pending = int(count or 0)
        if oldest is not None:
            gauges.outbox_oldest_seconds = max(0.0, (now - oldest).total_seconds())

        due = (
            select(ScheduledJob.kind, func.min(ScheduledJob.due_at))
            .where(
                col(ScheduledJob.due_at) <= now,
                or_(col(ScheduledJob.lease_until).is_(None), col(ScheduledJob.lease_until) < now),
            )
            .group_by(col(ScheduledJob.kind))
        )
        for kind, due_at in (await session.exec(due)).all():
            if due_at is not None:
                gauges.scheduler_lag[JobKind(kind)] = max(0.0, (now - due_at).total_seconds())
    return gauges


async def schema_revision(session_factory: SessionFactory) -> str | None:
    """The Alembic revision the database is at (None: never migrated)."""
    async with session_factory() as session:
        try:
            row = (await session.execute(text("SELECT version_num FROM alembic_version"))).first()
        except Exception as exc:
            if "alembic_version" in str(exc):
                return None
            raise
    return None if row is None else str(row[0])
