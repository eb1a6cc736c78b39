"""The repository's shared work: the drop-off step of each chat, timers claimed under a lease, the
outbox of announcements, Harbor events already seen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, text, update
from sqlmodel import col, select

from storage.models import (
    ChatState,
    DropoffStep,
    HarborEvent,
    JobKind,
    OutboxMessage,
    OutboxState,
    ScheduledJob,
    TowerLook,
)
from storage.repo_base import Notice, RepositoryBase, insert_for
from storage.types import utcnow


class SharedWork(RepositoryBase):
    # the drop-off step of a chat -------------------------------------------------------------

    async def chat_state(self, chat_id: int) -> ChatState | None:
        async with self._session() as session:
            return await session.get(ChatState, chat_id)

    async def set_chat_state(
        self, chat_id: int, step: DropoffStep, *, point: tuple[float, float] | None = None, keep_point: bool = False
    ) -> None:
        """Write the step (and the shared point, or none) in one statement, committed before the answer."""
        values: dict[str, Any] = {"step": step, "updated_at": utcnow()}
        if not keep_point:
            values["lat"], values["lon"] = point if point is not None else (None, None)
        async with self._session() as session:
            stmt = insert_for(session)(ChatState).values(chat_id=chat_id, **values)
            await session.execute(stmt.on_conflict_do_update(index_elements=["chat_id"], set_=values))
            await session.commit()

    async def clear_chat_state(self, chat_id: int) -> None:
        async with self._session() as session:
            await session.execute(delete(ChatState).where(col(ChatState.chat_id) == chat_id))
            await session.commit()

    # shared timers ---------------------------------------------------------------------------

    async def schedule(self, kind: JobKind, ref: str | int, due_at: datetime) -> None:
        """Create or move the timer (kind, ref); a running claim of it finishes without deleting it."""
        values = {"due_at": due_at, "attempts": 0}
        async with self._session() as session:
            stmt = insert_for(session)(ScheduledJob).values(kind=kind, ref=str(ref), **values)
            await session.execute(stmt.on_conflict_do_update(index_elements=["kind", "ref"], set_=values))
            await session.commit()

    async def unschedule(self, kind: JobKind, ref: str | int) -> None:
        async with self._session() as session:
            await session.execute(
                delete(ScheduledJob).where(col(ScheduledJob.kind) == kind, col(ScheduledJob.ref) == str(ref))
            )
            await session.commit()

    async def job(self, kind: JobKind, ref: str | int = "") -> ScheduledJob | None:
        async with self._session() as session:
            stmt = select(ScheduledJob).where(ScheduledJob.kind == kind, ScheduledJob.ref == str(ref))
            return (await session.exec(stmt)).first()

    async def jobs(self) -> list[ScheduledJob]:
        async with self._session() as session:
            return list(await session.exec(select(ScheduledJob).order_by(col(ScheduledJob.due_at))))

    async def claim_due_jobs(self, owner: str, *, now: datetime, lease: timedelta, limit: int) -> list[ScheduledJob]:
        """Due timers nobody holds (or whose holder's lease ran out), leased to `owner`.

        FOR UPDATE SKIP LOCKED lets processes pick candidates side by side without waiting on each
        other; the lease itself is a conditional UPDATE per row, so two claims (on SQLite, where FOR
        UPDATE does nothing, or after a lease ran out) never both win a row.
        """
        free = (col(ScheduledJob.lease_until).is_(None)) | (col(ScheduledJob.lease_until) < now)
        async with self._session() as session:
            due = (
                select(ScheduledJob.id)
                .where(col(ScheduledJob.due_at) <= now, free)
                .order_by(col(ScheduledJob.due_at))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            claimed: list[ScheduledJob] = []
            for job_id in list(await session.exec(due)):
                won = await session.execute(
                    update(ScheduledJob)
                    .where(col(ScheduledJob.id) == job_id, free)
                    .values(lease_until=now + lease, lease_owner=owner, attempts=col(ScheduledJob.attempts) + 1)
                    .returning(ScheduledJob)
                )
                claimed.extend(won.scalars())
            await session.commit()
            return claimed

    async def finish_job(self, job: ScheduledJob, *, next_due: datetime | None = None) -> None:
        """Done: delete the timer, or move it to `next_due` (the watch). A timer rescheduled while it ran
        (its due time changed) stays, released, for its new time."""
        async with self._session() as session:
            mine = (col(ScheduledJob.id) == job.id) & (col(ScheduledJob.lease_owner) == job.lease_owner)
            same = mine & (col(ScheduledJob.due_at) == job.due_at)
            if next_due is None:
                done = await session.execute(delete(ScheduledJob).where(same))
            else:
                done = await session.execute(
                    update(ScheduledJob)
                    .where(same)
                    .values(due_at=next_due, lease_until=None, lease_owner=None, attempts=0, last_run_at=utcnow())
                )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                await session.execute(update(ScheduledJob).where(mine).values(lease_until=None, lease_owner=None))
            await session.commit()

    async def retry_job(self, job: ScheduledJob, *, at: datetime) -> None:
        async with self._session() as session:
            await session.execute(
                update(ScheduledJob)
                .where(col(ScheduledJob.id) == job.id, col(ScheduledJob.lease_owner) == job.lease_owner)
                .values(due_at=at, lease_until=None, lease_owner=None)
            )
            await session.commit()

    # the outbox ------------------------------------------------------------------------------

    async def record_notices(self, notices: Sequence[Notice]) -> None:
        """Announcements not tied to a state change (a repeat of one already recorded is dropped)."""
        async with self._session() as session:
            await self._record(session, notices)
            await session.commit()

    async def claim_outbox(self, *, now: datetime, lease: timedelta, limit: int) -> list[OutboxMessage]:
        """Due messages, the oldest of each chat only, so a chat's news arrives in order; leased row by
        row with a conditional UPDATE, as claim_due_jobs."""
        older = OutboxMessage.__table__.alias("older")  # type: ignore[attr-defined]
        first_of_chat = ~(
            select(older.c.id)
            .where(
                older.c.chat_id == col(OutboxMessage.chat_id),
                older.c.state == OutboxState.PENDING.value,
                older.c.id < col(OutboxMessage.id),
            )
            .exists()
        )
        free = (col(OutboxMessage.lease_until).is_(None)) | (col(OutboxMessage.lease_until) < now)
        async with self._session() as session:
            due = (
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.state == OutboxState.PENDING,
                    col(OutboxMessage.next_attempt_at) <= now,
                    free,
                    first_of_chat,
                )
                .order_by(col(OutboxMessage.id))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            claimed: list[OutboxMessage] = []
            for message_id in list(await session.exec(due)):
                won = await session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.state) == OutboxState.PENDING, free)
                    .values(lease_until=now + lease, attempts=col(OutboxMessage.attempts) + 1)
                    .returning(OutboxMessage)
                )
                claimed.extend(won.scalars())
            await session.commit()
            return claimed

    async def outbox_done(self, message_id: int, state: OutboxState, *, error: str | None = None) -> None:
        async with self._session() as session:
            await session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == message_id)
                .values(state=state, sent_at=utcnow(), lease_until=None, error=error)
            )
            await session.commit()

    async def outbox_retry(self, message_id: int, *, at: datetime, error: str) -> None:
        async with self._session() as session:
            await session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == message_id)
                .values(next_attempt_at=at, lease_until=None, error=error)
            )
            await session.commit()

    async def outbox(self, *, chat_id: int | None = None) -> list[OutboxMessage]:
        async with self._session() as session:
            stmt = select(OutboxMessage)
            if chat_id is not None:
                stmt = stmt.where(OutboxMessage.chat_id == chat_id)
            return list(await session.exec(stmt.order_by(col(OutboxMessage.id))))

    # Harbor events ---------------------------------------------------------------------------

    async def first_sighting(self, event_id: str) -> bool:
        """Record a Harbor event id; False when it was seen before (a redelivery)."""
        async with self._session() as session:
            stmt = insert_for(session)(HarborEvent).values(event_id=event_id, received_at=utcnow())
            # RETURNING, not rowcount: psycopg reports -1 for an ORM-enabled INSERT ... ON CONFLICT.
            stmt = stmt.on_conflict_do_nothing(index_elements=["event_id"]).returning(HarborEvent.event_id)
            inserted = (await session.execute(stmt)).first()
            await session.commit()
            return inserted is not None

    async def forget_events_before(self, cutoff: datetime) -> int:
        """The retention sweep of seen events: an event older than this is refused by its own timestamp."""
        async with self._session() as session:
            result = await session.execute(delete(HarborEvent).where(col(HarborEvent.received_at) < cutoff))
            await session.commit()
            return int(getattr(result, "rowcount", 0) or 0)

    # looks at a tower out of turn ----------------------------------------------------------------

    async def arrange_look(self, tower_id: str, *, now: datetime, every: timedelta) -> datetime | None:
        """When to look at this tower for a new ask, or None when a look already arranged covers it.

        At most one look per `every` per tower, whoever asks and however often: an ask within `every`
        of the last look moves to `every` after it; asks while a later look is arranged add nothing.
        Compare-and-set on the row, so two processes asking at once arrange one look."""
        async with self._session() as session:
            row = await session.get(TowerLook, tower_id)
            if row is None:
                stmt = insert_for(session)(TowerLook).values(tower_id=tower_id, look_at=now)
                stmt = stmt.on_conflict_do_nothing(index_elements=["tower_id"]).returning(TowerLook.tower_id)
                inserted = (await session.execute(stmt)).first()
                await session.commit()
                return now if inserted is not None else None
            last = row.look_at
            if last > now:
                return None
            at = max(now, last + every)
            moved = await session.execute(
                update(TowerLook)
                .where(col(TowerLook.tower_id) == tower_id, col(TowerLook.look_at) == last)
                .values(look_at=at)
            )
            await session.commit()
            return at if getattr(moved, "rowcount", 0) == 1 else None

    # health ----------------------------------------------------------------------------------

    async def ping(self) -> None:
        async with self._session() as session:
            await session.execute(text("SELECT 1"))

    async def ensure_job(self, kind: JobKind, ref: str | int, due_at: datetime) -> None:
        """Create the timer unless it exists (the singletons every process makes sure of at start)."""
        async with self._session() as session:
            stmt = insert_for(session)(ScheduledJob).values(kind=kind, ref=str(ref), due_at=due_at, attempts=0)
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["kind", "ref"]))
            await session.commit()
