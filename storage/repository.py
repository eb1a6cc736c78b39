"""Queries and atomic updates the services need. Plain SQLModel on SQLAlchemy's asyncio engine; no
Telegram, no Harbor.

Each method opens its own short session: a handler never holds a transaction across a network call,
and database work never blocks the event loop (DESIGN §8).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    AFTER_DROPOFF_STATES,
    OPEN_STATES,
    ChatState,
    Delivery,
    DeliveryEvent,
    DeliveryState,
    DropoffStep,
    HarborEvent,
    IssuedKey,
    JobKind,
    KeyKind,
    KeyState,
    OutboxMessage,
    OutboxState,
    PickupLink,
    Role,
    ScheduledJob,
    User,
)
from storage.types import utcnow

SessionFactory = Callable[[], AsyncSession]


class Conflict(Exception):
    """A write broke a uniqueness rule (another process or task got there first)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """An announcement to record with a state change, in the same transaction (sent once, later)."""

    dedupe_key: str
    chat_id: int
    body: dict[str, Any] = field(default_factory=dict)

    def row(self) -> OutboxMessage:
        return OutboxMessage(dedupe_key=self.dedupe_key, chat_id=self.chat_id, body=json.dumps(self.body))


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ON CONFLICT on both PostgreSQL and SQLite."""
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


class Repository:
    def __init__(self, session_factory: SessionFactory) -> None:
        self._session = session_factory

    @property
    def session_factory(self) -> SessionFactory:
        """For stores kept in modules of their own (storage/privacy.py) on the same database."""
        return self._session

    # users ---------------------------------------------------------------------------------

    async def upsert_user(
        self,
        user_id: int,
        *,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language: str | None = None,
    ) -> User:
        """One statement (INSERT ... ON CONFLICT DO UPDATE ... RETURNING): it runs on every update."""
        now = utcnow()
        profile = {
            "first_name": first_name, "last_name": last_name, "username": username, "language": language,
            "last_seen_at": now,
        }  # fmt: skip
        async with self._session() as session:
            stmt = _insert(session)(User).values(id=user_id, role=Role.CUSTOMER, created_at=now, **profile)
            stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=profile).returning(User)
            user = (await session.execute(stmt)).scalars().one()
            await session.commit()
            return user

    async def get_user(self, user_id: int) -> User | None:
        async with self._session() as session:
            return await session.get(User, user_id)

    async def find_user_by_username(self, username: str) -> User | None:
        async with self._session() as session:
            stmt = select(User).where(func.lower(User.username) == username.lstrip("@").lower())
            return (await session.exec(stmt)).first()

    async def set_role(self, user_id: int, role: Role) -> User | None:
        async with self._session() as session:
            user = await session.get(User, user_id)
            if user is None:
                return None
            user.role = role
            session.add(user)
            await session.commit()
            await session.refresh(user)
            return user

    async def users_with_role(self, role: Role) -> list[User]:
        async with self._session() as session:
            return list(await session.exec(select(User).where(User.role == role).order_by(User.first_name)))

    # deliveries ----------------------------------------------------------------------------

    async def create_delivery(self, delivery: Delivery, *, actor_id: int | None, detail: str = "") -> Delivery:
        """Raises Conflict when the sender already has a delivery before its drop-off."""
        async with self._session() as session:
            session.add(delivery)
            try:
                await session.flush()
            except IntegrityError as exc:
                await session.rollback()
                raise Conflict(str(exc.orig)) from None
            assert delivery.id is not None
            session.add(DeliveryEvent(delivery_id=delivery.id, actor_id=actor_id, kind="created", detail=detail))
            await session.commit()  # no refresh: every column got its value here, none from the server
            return delivery

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        async with self._session() as session:
            return await session.get(Delivery, delivery_id)

    async def transition(
        self,
        delivery_id: int,
        *,
        from_states: Iterable[DeliveryState],
        to_state: DeliveryState,
        actor_id: int | None,
        event: str,
        detail: str = "",
        notices: Sequence[Notice] = (),
        **changes: Any,
    ) -> Delivery | None:
        """Compare-and-set: move the delivery only if it is still in one of `from_states`.

        Returns the updated delivery, or None when another task or process moved it first (a double
        tap, a job racing a handler): exactly one caller wins, and only the winner's `notices` are
        recorded. Raises Conflict when the change would give a locker to a second open delivery.
        """
        from_states = list(from_states)
        illegal = [state for state in from_states if not state.may_become(to_state)]
        if illegal:  # a programming error, not a race: the state machine is declared in storage.models
            raise ValueError(f"no move from {', '.join(illegal)} to {to_state} (storage.models.TRANSITIONS)")
        now = utcnow()
        async with self._session() as session:
            try:
                # RETURNING: the moved row comes back with the UPDATE, not from a second SELECT.
                result = await session.execute(
                    update(Delivery)
                    .where(col(Delivery.id) == delivery_id, col(Delivery.state).in_(from_states))
                    .values(state=to_state, updated_at=now, **changes)
                    .returning(Delivery)
                )
                moved = result.scalars().first()
            except IntegrityError as exc:
                await session.rollback()
                raise Conflict(str(exc.orig)) from None
            if moved is None:
                await session.rollback()
                return None
            session.add(DeliveryEvent(delivery_id=delivery_id, actor_id=actor_id, kind=event, detail=detail, at=now))
            await self._record(session, notices)
            await session.commit()
            return moved

    async def update_delivery(self, delivery_id: int, **changes: Any) -> Delivery | None:
        """Change fields that are not the state (message ids, reminder times)."""
        async with self._session() as session:
            stmt = update(Delivery).where(col(Delivery.id) == delivery_id).values(updated_at=utcnow(), **changes)
            delivery = (await session.execute(stmt.returning(Delivery))).scalars().first()
            await session.commit()
            return delivery

    async def add_event(self, delivery_id: int, kind: str, *, actor_id: int | None = None, detail: str = "") -> None:
        async with self._session() as session:
            session.add(DeliveryEvent(delivery_id=delivery_id, actor_id=actor_id, kind=kind, detail=detail))
            await session.commit()

    async def events(self, delivery_id: int) -> list[DeliveryEvent]:
        async with self._session() as session:
            stmt = select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id)
            return list(await session.exec(stmt.order_by(col(DeliveryEvent.at), col(DeliveryEvent.id))))

    async def deliveries_in(self, states: Iterable[DeliveryState]) -> list[Delivery]:
        async with self._session() as session:
            stmt = select(Delivery).where(col(Delivery.state).in_(list(states)))
            return list(await session.exec(stmt.order_by(col(Delivery.id))))

    async def open_by_locker(self) -> dict[tuple[str, int], Delivery]:
        """Open deliveries by the locker they hold or still watch: (lower-case tower id, locker id)."""
        async with self._session() as session:
            stmt = select(Delivery).where(
                col(Delivery.state).in_(list(OPEN_STATES)), col(Delivery.locker_id).is_not(None)
            )
            return {
                (d.tower_id.lower(), d.locker_id): d
                for d in (await session.exec(stmt))
                if d.tower_id is not None and d.locker_id is not None
            }

    async def open_deliveries_of(self, user_id: int) -> list[Delivery]:
        """Deliveries the user sends or collects that are not finished, oldest first."""
        async with self._session() as session:
            stmt = select(Delivery).where(
                col(Delivery.state).in_(list(OPEN_STATES)),
                (Delivery.sender_id == user_id) | (Delivery.collector_id == user_id),
            )
            return list(await session.exec(stmt.order_by(col(Delivery.id))))

    async def recent_deliveries(self, *, state: DeliveryState | None = None, limit: int = 20) -> list[Delivery]:
        async with self._session() as session:
            stmt = select(Delivery)
            if state is not None:
                stmt = stmt.where(Delivery.state == state)
            return list(await session.exec(stmt.order_by(col(Delivery.id).desc()).limit(limit)))

    async def deliveries_for_collector(self, user_id: int) -> list[Delivery]:
        async with self._session() as session:
            stmt = select(Delivery).where(Delivery.collector_id == user_id, col(Delivery.state).in_(list(OPEN_STATES)))
            return list(await session.exec(stmt.order_by(col(Delivery.id))))

    async def count_by_state(self, *, since: datetime | None = None) -> dict[DeliveryState, int]:
        async with self._session() as session:
            stmt = select(Delivery.state, func.count()).group_by(Delivery.state)
            if since is not None:
                stmt = stmt.where(col(Delivery.created_at) >= since)
            return {DeliveryState(state): count for state, count in (await session.exec(stmt))}

    async def pickup_durations(self, *, since: datetime | None = None) -> list[float]:
        """Seconds from drop-off to pick-up of completed deliveries."""
        async with self._session() as session:
            stmt = select(Delivery.dropped_at, Delivery.completed_at).where(
                Delivery.state == DeliveryState.COMPLETED,
                col(Delivery.dropped_at).is_not(None),
                col(Delivery.completed_at).is_not(None),
            )
            if since is not None:
                stmt = stmt.where(col(Delivery.completed_at) >= since)
            return [(done - dropped).total_seconds() for dropped, done in (await session.exec(stmt))]

    # keys ----------------------------------------------------------------------------------

    async def add_key(self, key: IssuedKey) -> IssuedKey:
        async with self._session() as session:
            session.add(key)
            await session.commit()  # no refresh: the id comes back with the INSERT
            return key

    async def get_key(self, key_id: int) -> IssuedKey | None:
        async with self._session() as session:
            return await session.get(IssuedKey, key_id)

    async def keys_of(
        self, delivery_id: int, *, kind: KeyKind | None = None, states: Sequence[KeyState] | None = None
    ) -> list[IssuedKey]:
        async with self._session() as session:
            stmt = select(IssuedKey).where(IssuedKey.delivery_id == delivery_id)
            if kind is not None:
                stmt = stmt.where(IssuedKey.kind == kind)
            if states is not None:
                stmt = stmt.where(col(IssuedKey.state).in_(list(states)))
            return list(await session.exec(stmt.order_by(col(IssuedKey.id))))

    async def active_keys(self) -> list[IssuedKey]:
        async with self._session() as session:
            return list(await session.exec(select(IssuedKey).where(IssuedKey.state == KeyState.ACTIVE)))

    async def set_key_state(
        self,
        key_id: int,
        state: KeyState,
        *,
        only_from: KeyState | None = KeyState.ACTIVE,
        notices: Sequence[Notice] = (),
    ) -> IssuedKey | None:
        """Compare-and-set on the key's state; None if it had already moved on."""
        async with self._session() as session:
            stmt = update(IssuedKey).where(col(IssuedKey.id) == key_id)
            if only_from is not None:
                stmt = stmt.where(IssuedKey.state == only_from)
            moved = (await session.execute(stmt.values(state=state).returning(IssuedKey))).scalars().first()
            if moved is None:
                await session.rollback()
                return None
            await self._record(session, notices)
            await session.commit()
            return moved

    async def close_keys(self, delivery_id: int, state: KeyState, *, kind: KeyKind | None = None) -> list[IssuedKey]:
        """Move every active key of a delivery to `state`; returns the keys that moved."""
        moved = []
        for key in await self.keys_of(delivery_id, kind=kind, states=[KeyState.ACTIVE]):
            assert key.id is not None
            done = await self.set_key_state(key.id, state)
            if done is not None:
                moved.append(done)
        return moved

    async def set_key_message(self, key_id: int, message_id: int) -> None:
        async with self._session() as session:
            await session.execute(update(IssuedKey).where(col(IssuedKey.id) == key_id).values(message_id=message_id))
            await session.commit()

    # pickup links --------------------------------------------------------------------------

    async def add_link(self, link: PickupLink) -> PickupLink:
        async with self._session() as session:
            session.add(link)
            await session.commit()  # no refresh, as add_key
            return link

    async def get_link(self, link_id: int) -> PickupLink | None:
        async with self._session() as session:
            return await session.get(PickupLink, link_id)

    async def find_link(self, code_hash: str) -> PickupLink | None:
        async with self._session() as session:
            return (await session.exec(select(PickupLink).where(PickupLink.code_hash == code_hash))).first()

    async def live_links(self, delivery_id: int, *, now: datetime) -> list[PickupLink]:
        async with self._session() as session:
            stmt = select(PickupLink).where(
                PickupLink.delivery_id == delivery_id,
                col(PickupLink.claimed_at).is_(None),
                col(PickupLink.revoked_at).is_(None),
                col(PickupLink.expires_at) > now,
            )
            return list(await session.exec(stmt))

    async def claim_link(self, link_id: int, user_id: int, *, now: datetime) -> bool:
        """Single use: only the first claimer of a live link wins."""
        async with self._session() as session:
            result = await session.execute(
                update(PickupLink)
                .where(
                    col(PickupLink.id) == link_id,
                    col(PickupLink.claimed_at).is_(None),
                    col(PickupLink.revoked_at).is_(None),
                    col(PickupLink.expires_at) > now,
                )
                .values(claimed_by=user_id, claimed_at=now)
            )
            await session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]

    async def revoke_links(self, delivery_id: int, *, now: datetime) -> int:
        async with self._session() as session:
            result = await session.execute(
                update(PickupLink)
                .where(
                    col(PickupLink.delivery_id) == delivery_id,
                    col(PickupLink.claimed_at).is_(None),
                    col(PickupLink.revoked_at).is_(None),
                )
                .values(revoked_at=now)
            )
            await session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

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
            stmt = _insert(session)(ChatState).values(chat_id=chat_id, **values)
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
            stmt = _insert(session)(ScheduledJob).values(kind=kind, ref=str(ref), **values)
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

    async def _record(self, session: AsyncSession, notices: Sequence[Notice]) -> None:
        for notice in notices:
            row = notice.row()
            stmt = _insert(session)(OutboxMessage).values(
                dedupe_key=row.dedupe_key,
                chat_id=row.chat_id,
                body=row.body,
                state=OutboxState.PENDING,
                attempts=0,
                next_attempt_at=row.next_attempt_at,
                created_at=row.created_at,
            )
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["dedupe_key"]))

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
                    .where(col(OutboxMessage.id) == message_id, OutboxMessage.state == OutboxState.PENDING, free)
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
            stmt = _insert(session)(HarborEvent).values(event_id=event_id, received_at=utcnow())
            # RETURNING, not rowcount: psycopg reports -1 for an ORM-enabled INSERT ... ON CONFLICT.
            stmt = stmt.on_conflict_do_nothing(index_elements=["event_id"]).returning(HarborEvent.event_id)
            inserted = (await session.execute(stmt)).first()
            await session.commit()
            return inserted is not None

    # health ----------------------------------------------------------------------------------

    async def ping(self) -> None:
        async with self._session() as session:
            await session.execute(select(1))  # type: ignore[call-overload]

    # what is due (the timers are the rows themselves: nothing to lose between two writes) ------

    async def due_holds(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        async with self._session() as session:
            stmt = select(Delivery).where(
                col(Delivery.state).in_([DeliveryState.RESERVED, DeliveryState.AWAITING_DROPOFF]),
                col(Delivery.reserved_until) <= now,
            )
            return list(await session.exec(stmt.order_by(col(Delivery.reserved_until)).limit(limit)))

    async def due_keys(self, now: datetime, *, limit: int = 100) -> list[IssuedKey]:
        async with self._session() as session:
            stmt = select(IssuedKey).where(IssuedKey.state == KeyState.ACTIVE, col(IssuedKey.expires_at) <= now)
            return list(await session.exec(stmt.order_by(col(IssuedKey.expires_at)).limit(limit)))

    async def due_reminders(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        async with self._session() as session:
            stmt = select(Delivery).where(
                col(Delivery.state).in_(list(AFTER_DROPOFF_STATES)),
                col(Delivery.reminder_due_at) <= now,
                col(Delivery.reminded_at).is_(None),
            )
            return list(await session.exec(stmt.order_by(col(Delivery.reminder_due_at)).limit(limit)))

    async def due_links(self, now: datetime, *, limit: int = 100) -> list[PickupLink]:
        async with self._session() as session:
            stmt = select(PickupLink).where(
                col(PickupLink.expires_at) <= now,
                col(PickupLink.claimed_at).is_(None),
                col(PickupLink.revoked_at).is_(None),
            )
            return list(await session.exec(stmt.order_by(col(PickupLink.expires_at)).limit(limit)))

    async def next_due(self) -> datetime | None:
        """The earliest time any of the above falls due (a test moves its clock there)."""
        async with self._session() as session:
            candidates = [
                select(func.min(Delivery.reserved_until)).where(
                    col(Delivery.state).in_([DeliveryState.RESERVED, DeliveryState.AWAITING_DROPOFF])
                ),
                select(func.min(IssuedKey.expires_at)).where(IssuedKey.state == KeyState.ACTIVE),
                select(func.min(Delivery.reminder_due_at)).where(
                    col(Delivery.state).in_(list(AFTER_DROPOFF_STATES)), col(Delivery.reminded_at).is_(None)
                ),
            ]
            found = [(await session.exec(stmt)).first() for stmt in candidates]  # type: ignore[call-overload]
            times = [t for t in found if t is not None]
            return min(times) if times else None

    async def mark_reminded(self, delivery_id: int, *, now: datetime, notices: Sequence[Notice]) -> Delivery | None:
        """Once: None when the delivery was collected or reminded already."""
        async with self._session() as session:
            result = await session.execute(
                update(Delivery)
                .where(
                    col(Delivery.id) == delivery_id,
                    col(Delivery.reminded_at).is_(None),
                    col(Delivery.state).in_(list(AFTER_DROPOFF_STATES)),
                )
                .values(reminded_at=now, updated_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                return None
            session.add(DeliveryEvent(delivery_id=delivery_id, kind="reminder_sent", at=now))
            await self._record(session, notices)
            await session.commit()
            return await session.get(Delivery, delivery_id)

    async def expire_link(self, link_id: int, *, now: datetime, notices: Sequence[Notice]) -> bool:
        async with self._session() as session:
            result = await session.execute(
                update(PickupLink)
                .where(
                    col(PickupLink.id) == link_id,
                    col(PickupLink.claimed_at).is_(None),
                    col(PickupLink.revoked_at).is_(None),
                )
                .values(revoked_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                return False
            await self._record(session, notices)
            await session.commit()
            return True

    async def ensure_job(self, kind: JobKind, ref: str | int, due_at: datetime) -> None:
        """Create the timer unless it exists (the singletons every process makes sure of at start)."""
        async with self._session() as session:
            stmt = _insert(session)(ScheduledJob).values(kind=kind, ref=str(ref), due_at=due_at, attempts=0)
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["kind", "ref"]))
            await session.commit()
