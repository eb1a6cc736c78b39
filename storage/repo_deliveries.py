"""The repository's people and deliveries: who talks to the bot, every delivery and its history."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col, select
from typing_extensions import Unpack

from storage.models import (
    AFTER_DROPOFF_STATES,
    OPEN_STATES,
    PRE_DROPOFF_STATES,
    ChatState,
    Delivery,
    DeliveryChanges,
    DeliveryEvent,
    DeliveryState,
    IssuedKey,
    KeyState,
    Role,
    User,
)
from storage.repo_base import Conflict, Notice, RepositoryBase, insert_for, insert_row_now, record_notices
from storage.types import utcnow


@dataclass(frozen=True, slots=True)
class DropoffStart:
    """What `start_dropoff` found and did."""

    existing: Delivery | None = None  # the sender's open drop-off: nothing else was done
    in_use: set[tuple[str, int]] = field(default_factory=set)  # (lower-case tower id, locker id) held by others
    draft: Delivery | None = None  # the new row, when a locker was left


class PeopleAndDeliveries(RepositoryBase):
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
            stmt = insert_for(session)(User).values(id=user_id, role=Role.CUSTOMER, created_at=now, **profile)
            stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=profile).returning(User)
            user: User = (await session.execute(stmt)).scalars().one()
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

    async def start_dropoff(
        self, draft: Delivery, lockers: Collection[tuple[str, int]], *, actor_id: int
    ) -> DropoffStart:
        """The size tap before Harbor is asked to hold a locker, in one transaction (issue 18): the
        sender's drop-off already open (a double tap, a second search: nothing is written), else which
        of `lockers` (tower id, locker id) an open delivery holds, and, when one is left, the draft row."""
        return await self._in_one_go(_start_dropoff, draft, lockers, actor_id=actor_id)

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
        forget_step_of: int | None = None,
        with_key: IssuedKey | None = None,
        **changes: Unpack[DeliveryChanges],
    ) -> Delivery | None:
        """Compare-and-set: move the delivery only if it is still in one of `from_states`.

        `forget_step_of`: a chat whose drop-off step (and the point it holds) goes with the move, in
        the same transaction (the reservation ends the search). `with_key`: the record of the key the
        move hands out, added only if the move happens (`{key}` in `detail` becomes its id).

        Returns the updated delivery, or None when another task or process moved it first (a double
        tap, a job racing a handler): exactly one caller wins, and only the winner's `notices` are
        recorded. Raises Conflict when the change would give a locker to a second open delivery.
        """
        from_states = list(from_states)
        illegal = [state for state in from_states if not state.may_become(to_state)]
        if illegal:  # a programming error, not a race: the state machine is declared in storage.models
            raise ValueError(f"no move from {', '.join(illegal)} to {to_state} (storage.models.TRANSITIONS)")
        move = _Move(delivery_id, from_states, to_state, actor_id, event, detail, notices, forget_step_of, with_key)
        return await self._in_one_go(_transition, move, dict(changes))

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

    async def open_by_locker(self, locker_ids: Collection[int] | None = None) -> dict[tuple[str, int], Delivery]:
        """Open deliveries by the locker they hold or still watch: (lower-case tower id, locker id).

        With `locker_ids`, only those lockers: what a reservation asks about a location's lockers, at a
        cost that does not grow with the number of open deliveries elsewhere."""
        return await self._in_one_go(held_lockers, locker_ids)

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

    async def deliveries_of(self, user_ids: Collection[int], *, limit: int = 20) -> list[Delivery]:
        """The newest deliveries these people send or collect, newest first (for the admins' search)."""
        if not user_ids:
            return []
        ids = list(user_ids)
        async with self._session() as session:
            stmt = select(Delivery).where(col(Delivery.sender_id).in_(ids) | col(Delivery.collector_id).in_(ids))
            return list(await session.exec(stmt.order_by(col(Delivery.id).desc()).limit(limit)))

    async def deliveries_at_locker(self, locker: str, *, tower_prefix: str = "", limit: int = 20) -> list[Delivery]:
        """The newest deliveries in a locker named ``locker`` (or with that Harbor id), in towers whose
        id starts with ``tower_prefix`` (any case), newest first."""
        named = col(Delivery.locker_name) == locker
        where = (named | (col(Delivery.locker_id) == int(locker))) if locker.isdigit() else named
        async with self._session() as session:
            stmt = select(Delivery).where(where)
            if tower_prefix:
                stmt = stmt.where(func.lower(col(Delivery.tower_id)).startswith(tower_prefix.lower(), autoescape=True))
            return list(await session.exec(stmt.order_by(col(Delivery.id).desc()).limit(limit)))

    async def find_users_by_name(self, text: str, *, limit: int = 10) -> list[User]:
        """People whose name or username contains ``text`` (any case), the most recently seen first."""
        needle = text.strip().lower()
        if not needle:
            return []
        full = func.lower(User.first_name + " " + func.coalesce(User.last_name, ""))
        username = func.lower(func.coalesce(User.username, ""))
        async with self._session() as session:
            stmt = select(User).where(
                full.contains(needle, autoescape=True) | username.contains(needle, autoescape=True)
            )
            return list(await session.exec(stmt.order_by(col(User.last_seen_at).desc()).limit(limit)))

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
            rows = await session.exec(stmt)
            return [(done - dropped).total_seconds() for dropped, done in rows if done and dropped]

    # what is due (the timers are the rows themselves: nothing to lose between two writes) ------

    async def due_holds(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        async with self._session() as session:
            stmt = select(Delivery).where(
                col(Delivery.state).in_([DeliveryState.RESERVED, DeliveryState.AWAITING_DROPOFF]),
                col(Delivery.reserved_until) <= now,
            )
            return list(await session.exec(stmt.order_by(col(Delivery.reserved_until)).limit(limit)))

    async def due_reminders(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        async with self._session() as session:
            stmt = select(Delivery).where(
                col(Delivery.state).in_(list(AFTER_DROPOFF_STATES)),
                col(Delivery.reminder_due_at) <= now,
                col(Delivery.reminded_at).is_(None),
            )
            return list(await session.exec(stmt.order_by(col(Delivery.reminder_due_at)).limit(limit)))

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
            happened = DeliveryEvent(delivery_id=delivery_id, kind="reminder_sent", at=now)
            session.add(happened)
            await session.flush()
            await self._record(session, notices, cause=happened.id)
            await session.commit()
            return await session.get(Delivery, delivery_id)


# The hot path's transactions (issue 18), plain sync code handed to the database in one go
# (RepositoryBase._in_one_go). ----------------------------------------------------------------------


def open_dropoff(session: Session, user_id: int) -> Delivery | None:
    """The sender's delivery before its drop-off (one at a time: a unique index)."""
    stmt = select(Delivery).where(Delivery.sender_id == user_id, col(Delivery.state).in_(list(PRE_DROPOFF_STATES)))
    return session.execute(stmt.order_by(col(Delivery.id))).scalars().first()


def held_lockers(session: Session, locker_ids: Collection[int] | None) -> dict[tuple[str, int], Delivery]:
    stmt = select(Delivery).where(col(Delivery.state).in_(list(OPEN_STATES)), col(Delivery.locker_id).is_not(None))
    if locker_ids is not None:
        stmt = stmt.where(col(Delivery.locker_id).in_(sorted(set(locker_ids))))
    return {
        (d.tower_id.lower(), d.locker_id): d
        for d in session.execute(stmt).scalars()
        if d.tower_id is not None and d.locker_id is not None
    }


def _start_dropoff(
    session: Session, draft: Delivery, lockers: Collection[tuple[str, int]], *, actor_id: int
) -> DropoffStart:
    assert draft.sender_id is not None
    existing = open_dropoff(session, draft.sender_id)
    if existing is not None:
        return DropoffStart(existing=existing)
    held = held_lockers(session, {locker for _, locker in lockers})
    in_use = {(tower.lower(), locker) for tower, locker in lockers if (tower.lower(), locker) in held}
    if len(in_use) == len(set(lockers)):
        return DropoffStart(in_use=in_use)
    try:
        insert_row_now(session, draft)
    except IntegrityError:
        session.rollback()
        raise Conflict("the sender has a drop-off already") from None
    assert draft.id is not None
    insert_row_now(session, DeliveryEvent(delivery_id=draft.id, actor_id=actor_id, kind="created"))
    session.commit()
    return DropoffStart(in_use=in_use, draft=draft)


@dataclass(frozen=True, slots=True)
class _Move:
    """A transition's arguments (PeopleAndDeliveries.transition)."""

    delivery_id: int
    from_states: list[DeliveryState]
    to_state: DeliveryState
    actor_id: int | None
    event: str
    detail: str
    notices: Sequence[Notice]
    forget_step_of: int | None
    with_key: IssuedKey | None


def _transition(session: Session, move: _Move, changes: dict[str, Any]) -> Delivery | None:
    now = utcnow()
    try:
        # RETURNING: the moved row comes back with the UPDATE, not from a second SELECT.
        result = session.execute(
            update(Delivery)
            .where(col(Delivery.id) == move.delivery_id, col(Delivery.state).in_(move.from_states))
            .values(state=move.to_state, updated_at=now, **changes)
            .returning(Delivery)
        )
        moved: Delivery | None = result.scalars().first()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(str(exc.orig)) from None
    if moved is None:
        session.rollback()
        return None
    detail = move.detail
    if move.with_key is not None:
        detail = detail.replace("{key}", str(insert_row_now(session, move.with_key)))
    happened = DeliveryEvent(
        delivery_id=move.delivery_id, actor_id=move.actor_id, kind=move.event, detail=detail, at=now
    )
    insert_row_now(session, happened)  # the event's id names the notices it causes
    record_notices(session, move.notices, cause=happened.id)
    if move.forget_step_of is not None:
        session.execute(delete(ChatState).where(col(ChatState.chat_id) == move.forget_step_of))
    session.commit()
    return moved
