"""When anything shared falls due next (issue 18): one statement, so an idle process can sleep until then.

Every process used to ask the database several times a second whether a timer, an announcement or an
update was due. Instead it asks once for the earliest moment any of them could be (`next_due`) and
sleeps until then, woken earlier by writes (bot/wake.py). The answer mirrors the claims exactly, so a
process never wakes for something it could not claim:

- scheduled_jobs: a free job at `due_at`, a leased one when its lease runs out (whichever is later);
- outbox: a pending message, the oldest of its chat only (a chat's news goes out in order), at
  `next_attempt_at`, or when its lease runs out;
- inbox: an open update its chat's next and nobody holds, now; a held one when its lease runs out;
- the deadlines the deadlines round acts on (bot/deliveries/timers.py): holds, keys, reminders, links,
  and the chat states past their retention, under the same conditions as `due_holds`, `due_keys`,
  `due_reminders`, `due_links` and `forget_stale_chat_states`.

Each part reads a partial index (migration 0009 and the earlier ones), so its cost is what is in flight,
not the history. No Telegram here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, select, update
from sqlalchemy.orm import Session, aliased
from sqlmodel import col

from storage.models import (
    AFTER_DROPOFF_STATES,
    ChatState,
    Delivery,
    DeliveryState,
    InboxUpdate,
    IssuedKey,
    JobKind,
    KeyState,
    OutboxMessage,
    OutboxState,
    PickupLink,
    ScheduledJob,
)
from storage.repo_base import RepositoryBase

HOLD_STATES = (DeliveryState.RESERVED, DeliveryState.AWAITING_DROPOFF)


@dataclass(frozen=True, slots=True)
class NextDue:
    """The earliest moments, by the database's clock (`now`); None: nothing of that kind is waiting."""

    now: datetime
    jobs: datetime | None  # a scheduled job could be claimed
    outbox: datetime | None  # an announcement could be claimed
    inbox: datetime | None  # an update could be claimed
    deadline: datetime | None  # the deadlines round would find something to do
    deadlines_job: datetime | None  # when the deadlines job itself is due
    deadlines_ran: datetime | None  # when it last ran
    deadlines_busy: bool = False  # running now, or waiting to be tried again after a failure

    def earliest(self) -> datetime | None:
        times = [t for t in (self.jobs, self.outbox, self.inbox) if t is not None]
        return min(times) if times else None


def _later(a: Any, b: Any) -> Any:
    """The later of two times, `a` when `b` is NULL (as a lease that is not held)."""
    return case((b > a, b), else_=a)


def _min(column: Any, *where: ColumnElement[bool]) -> Any:
    return select(func.min(column)).where(*where).scalar_subquery()


def _database_now(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.clock_timestamp()
    return literal_column("strftime('%Y-%m-%d %H:%M:%f', 'now')")


class WakeTimes(RepositoryBase):
    async def wake_times(self, *, chat_state_retention: timedelta) -> NextDue:
        row = await self._in_one_go(_read)
        now, jobs, outbox, waiting, held, holds, keys, reminders, links, chats, *deadlines_job = row
        now = _as_utc(now)
        job_due, job_ran, job_lease, job_attempts = deadlines_job
        inbox = now if waiting is not None else held
        stale = chats + chat_state_retention if chats is not None else None
        deadlines = [t for t in (holds, keys, reminders, links, stale) if t is not None]
        busy = (job_lease is not None and job_lease > now) or bool(job_attempts)
        return NextDue(now, jobs, outbox, inbox, min(deadlines) if deadlines else None, job_due, job_ran, busy)

    async def pull_deadlines(self, due_at: datetime) -> bool:
        """Move the deadlines job earlier, to `due_at` (never later); a run in progress then ends by
        leaving it due at that time (SharedWork.finish_job). True: it moved."""
        async with self._session() as session:
            moved = await session.execute(
                update(ScheduledJob)
                .where(
                    col(ScheduledJob.kind) == JobKind.DEADLINES,
                    col(ScheduledJob.ref) == "",
                    col(ScheduledJob.due_at) > due_at,
                )
                .values(due_at=due_at)
            )
            await session.commit()
            return bool(moved.rowcount)  # type: ignore[attr-defined]


def _read(session: Session) -> Any:
    assert session.bind is not None
    return session.connection().execute(_statement(session.bind.dialect.name)).one()


@functools.cache
def _statement(dialect: str) -> Any:
    """Built once per dialect: building it (a dozen subqueries) cost more CPU than running it."""
    job = ScheduledJob
    # The oldest pending message of its chat, the oldest open update of its chat: what the claims take.
    older_message = aliased(OutboxMessage, name="older_message")
    pending = col(OutboxMessage.state) == OutboxState.PENDING
    first_message = pending & ~(
        select(col(older_message.id))
        .where(
            col(older_message.chat_id) == col(OutboxMessage.chat_id),
            col(older_message.state) == OutboxState.PENDING,
            col(older_message.id) < col(OutboxMessage.id),
        )
        .exists()
    )
    older_update = aliased(InboxUpdate, name="older_update")
    open_update = col(InboxUpdate.done_at).is_(None)
    first_update = open_update & ~(
        select(col(older_update.update_id))
        .where(
            col(older_update.chat_id) == col(InboxUpdate.chat_id),
            col(older_update.done_at).is_(None),
            col(older_update.update_id) < col(InboxUpdate.update_id),
        )
        .exists()
    )
    deadlines_job = (col(job.kind) == JobKind.DEADLINES) & (col(job.ref) == "")
    return select(
        _database_now(dialect),
        _min(_later(col(job.due_at), col(job.lease_until))),
        _min(_later(col(OutboxMessage.next_attempt_at), col(OutboxMessage.lease_until)), first_message),
        select(col(InboxUpdate.update_id))
        .where(first_update, col(InboxUpdate.lease_until).is_(None))
        .limit(1)
        .scalar_subquery(),
        _min(col(InboxUpdate.lease_until), open_update, col(InboxUpdate.lease_until).is_not(None)),
        _min(col(Delivery.reserved_until), col(Delivery.state).in_(HOLD_STATES)),
        _min(col(IssuedKey.expires_at), col(IssuedKey.state) == KeyState.ACTIVE),
        _min(
            col(Delivery.reminder_due_at),
            col(Delivery.state).in_(list(AFTER_DROPOFF_STATES)),
            col(Delivery.reminded_at).is_(None),
        ),
        _min(col(PickupLink.expires_at), col(PickupLink.claimed_at).is_(None), col(PickupLink.revoked_at).is_(None)),
        _min(col(ChatState.updated_at)),
        *(
            select(col(c)).where(deadlines_job).scalar_subquery()
            for c in (job.due_at, job.last_run_at, job.lease_until, job.attempts)
        ),
    )


def _as_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite's clock, as text
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)
