"""The repository's shared work: the drop-off step of each chat, timers claimed under a lease, the
outbox of announcements, Harbor events already seen.

Leases are taken, renewed and checked against the database's clock (`database_now`), never a
process's own: a process whose clock is off cannot take over work another process still holds. A
lease is renewed while its work runs (bot/leases.py), and every write that ends a claim is fenced
by it (the job's owner, the outbox row's attempt number), so a claim that lapsed writes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session
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
from storage.repo_base import Notice, RepositoryBase, database_now, insert_dialect, insert_for
from storage.types import utcnow

CHAT_STATES = cast(Any, ChatState).__table__


class SharedWork(RepositoryBase):
    # the drop-off step of a chat -------------------------------------------------------------

    async def chat_state(self, chat_id: int) -> ChatState | None:
        async with self._session() as session:
            return await session.get(ChatState, chat_id)

    async def set_chat_state(
        self, chat_id: int, step: DropoffStep, *, point: tuple[float, float] | None = None, keep_point: bool = False
    ) -> None:
        """Write the step (and the shared point, or none) in one statement, committed before the answer."""
        await self._in_one_go(_set_chat_state, chat_id, step, point=point, keep_point=keep_point)

    async def clear_chat_state(self, chat_id: int) -> None:
        async with self._session() as session:
            await session.execute(delete(ChatState).where(col(ChatState.chat_id) == chat_id))
            await session.commit()

    # shared timers ---------------------------------------------------------------------------

    async def schedule(self, kind: JobKind, ref: str | int, due_at: datetime | None = None) -> None:
        """Create or move the timer (kind, ref) to `due_at` (None: now, by the database's clock); a running
        claim of it finishes without deleting it."""
        async with self._session() as session:
            values = {"due_at": due_at or await database_now(session), "attempts": 0}
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

    async def database_now(self) -> datetime:
        """The database's clock (what every lease is measured by)."""
        async with self._session() as session:
            return await database_now(session)

    async def claim_due_jobs(
        self, owner: str, *, lease: timedelta, limit: int, now: datetime | None = None
    ) -> list[ScheduledJob]:
        """Due timers nobody holds (or whose holder's lease ran out), leased to `owner`.

        FOR UPDATE SKIP LOCKED lets processes pick candidates side by side without waiting on each
        other; the lease itself is a conditional UPDATE per row, so two claims (on SQLite, where FOR
        UPDATE does nothing, or after a lease ran out) never both win a row. `now` is the database's
        clock unless a test gives one.
        """
        async with self._session() as session:
            now = now or await database_now(session)
            free = (col(ScheduledJob.lease_until).is_(None)) | (col(ScheduledJob.lease_until) < now)
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

    async def renew_jobs(self, jobs: Sequence[ScheduledJob], *, lease: timedelta) -> int:
        """Extend the lease of claimed jobs still held by their claim; returns how many still are."""
        if not jobs:
            return 0
        async with self._session() as session:
            now = await database_now(session)
            held = 0
            for job in jobs:
                done = await session.execute(
                    update(ScheduledJob)
                    .where(
                        col(ScheduledJob.id) == job.id,
                        col(ScheduledJob.lease_owner) == job.lease_owner,
                        col(ScheduledJob.lease_until).is_not(None),
                    )
                    .values(lease_until=now + lease)
                    .returning(col(ScheduledJob.id))
                )
                held += len(done.all())
            await session.commit()
            return held

    async def finish_job(
        self, job: ScheduledJob, *, next_due: datetime | None = None, next_in: timedelta | None = None
    ) -> None:
        """Done: delete the timer, or move it to `next_due` or `next_in` from now by the database's
        clock (the watch). A timer rescheduled while it ran (its due time changed) stays, released,
        for its new time. Fenced: a claim that lapsed and was taken over writes nothing."""
        async with self._session() as session:
            now = await database_now(session)  # the run's end, by the clock its next due time is read by
            if next_in is not None:
                next_due = now + next_in
            mine = (col(ScheduledJob.id) == job.id) & (col(ScheduledJob.lease_owner) == job.lease_owner)
            same = mine & (col(ScheduledJob.due_at) == job.due_at)
            if next_due is None:
                done = await session.execute(delete(ScheduledJob).where(same))
            else:
                done = await session.execute(
                    update(ScheduledJob)
                    .where(same)
                    .values(due_at=next_due, lease_until=None, lease_owner=None, attempts=0, last_run_at=now)
                )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                await session.execute(update(ScheduledJob).where(mine).values(lease_until=None, lease_owner=None))
            await session.commit()

    async def retry_job(self, job: ScheduledJob, *, at: datetime | None = None, after: timedelta | None = None) -> None:
        """Release the claim; the job falls due again `at`, or `after` from now by the database's clock."""
        async with self._session() as session:
            if at is None:
                at = await database_now(session) + (after or timedelta())
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

    async def claim_outbox(self, *, lease: timedelta, limit: int, now: datetime | None = None) -> list[OutboxMessage]:
        """Due messages, the oldest of each chat only, so a chat's news arrives in order; leased row by
        row with a conditional UPDATE, as claim_due_jobs. Each claim adds one to `attempts`: that number
        is the claim's fencing token (renew_outbox, outbox_done, outbox_retry)."""
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
        async with self._session() as session:
            now = now or await database_now(session)
            free = (col(OutboxMessage.lease_until).is_(None)) | (col(OutboxMessage.lease_until) < now)
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

    @staticmethod
    def _held(row: OutboxMessage) -> Any:
        """The row is still pending under this claim (nobody took it over after a lapsed lease)."""
        return (
            (col(OutboxMessage.id) == row.id)
            & (col(OutboxMessage.attempts) == row.attempts)
            & (col(OutboxMessage.state) == OutboxState.PENDING)
            & col(OutboxMessage.lease_until).is_not(None)
        )

    async def renew_outbox(self, rows: Sequence[OutboxMessage], *, lease: timedelta) -> int:
        """Extend the lease of claimed messages still being sent; returns how many are still held."""
        if not rows:
            return 0
        async with self._session() as session:
            now = await database_now(session)
            held = 0
            for row in rows:
                renewed = update(OutboxMessage).where(self._held(row)).values(lease_until=now + lease)
                held += len((await session.execute(renewed.returning(col(OutboxMessage.id)))).all())
            await session.commit()
            return held

    async def outbox_done(self, message: int | OutboxMessage, state: OutboxState, *, error: str | None = None) -> bool:
        """Mark a message sent or failed. Given the claimed row, only while that claim holds it (False:
        it lapsed and another claim owns the row now)."""
        where = self._held(message) if isinstance(message, OutboxMessage) else col(OutboxMessage.id) == message
        async with self._session() as session:
            now = await database_now(session)
            marked = update(OutboxMessage).where(where).values(state=state, sent_at=now, lease_until=None, error=error)
            done = (await session.execute(marked.returning(col(OutboxMessage.id)))).all()
            await session.commit()
            return bool(done)

    async def outbox_retry(
        self, message: int | OutboxMessage, *, error: str, at: datetime | None = None, after: timedelta | None = None
    ) -> bool:
        """Put a message back for `at`, or `after` from now by the database's clock (fenced as outbox_done)."""
        where = self._held(message) if isinstance(message, OutboxMessage) else col(OutboxMessage.id) == message
        async with self._session() as session:
            if at is None:
                at = await database_now(session) + (after or timedelta())
            moved = update(OutboxMessage).where(where).values(next_attempt_at=at, lease_until=None, error=error)
            done = (await session.execute(moved.returning(col(OutboxMessage.id)))).all()
            await session.commit()
            return bool(done)

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


@functools.cache
def _chat_state_upsert(dialect: str, *, with_point: bool) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE of a chat's step (and point), built once: its values are
    parameters. Core, not the ORM's bulk machinery."""
    stmt = insert_dialect(dialect)(CHAT_STATES)
    changed = ("step", "updated_at", "lat", "lon") if with_point else ("step", "updated_at")
    return stmt.on_conflict_do_update(index_elements=["chat_id"], set_={c: stmt.excluded[c] for c in changed})


def write_chat_state(
    session: Session,
    chat_id: int,
    step: DropoffStep,
    *,
    point: tuple[float, float] | None = None,
    keep_point: bool = False,
) -> None:
    """The chat's step, and the point it holds (none unless given; the one it has with `keep_point`)."""
    assert session.bind is not None
    values: dict[str, Any] = {"chat_id": chat_id, "step": step, "updated_at": utcnow()}
    if not keep_point:
        values["lat"], values["lon"] = point if point is not None else (None, None)
    session.connection().execute(_chat_state_upsert(session.bind.dialect.name, with_point=not keep_point), values)


def _set_chat_state(
    session: Session, chat_id: int, step: DropoffStep, *, point: tuple[float, float] | None, keep_point: bool
) -> None:
    write_chat_state(session, chat_id, step, point=point, keep_point=keep_point)
    session.commit()
