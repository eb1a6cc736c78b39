"""Queries and atomic updates the delivery service needs. Plain SQLModel; no Telegram, no Harbor.

Each method opens its own short session: the bot is async and a handler must never hold a
transaction across a network call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from storage.models import (
    OPEN_STATES,
    Delivery,
    DeliveryEvent,
    DeliveryState,
    IssuedKey,
    KeyKind,
    KeyState,
    PickupLink,
    Role,
    User,
)
from storage.types import utcnow

SessionFactory = Callable[[], Session]


class Repository:
    def __init__(self, session_factory: SessionFactory) -> None:
        self._session = session_factory

    # users ---------------------------------------------------------------------------------

    def upsert_user(
        self,
        user_id: int,
        *,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language: str | None = None,
    ) -> User:
        with self._session() as session:
            user = session.get(User, user_id)
            if user is None:
                user = User(id=user_id)
            user.first_name = first_name
            user.last_name = last_name
            user.username = username
            user.language = language
            user.last_seen_at = utcnow()
            session.add(user)
            session.commit()
            session.refresh(user)
            return user

    def get_user(self, user_id: int) -> User | None:
        with self._session() as session:
            return session.get(User, user_id)

    def find_user_by_username(self, username: str) -> User | None:
        with self._session() as session:
            stmt = select(User).where(func.lower(User.username) == username.lstrip("@").lower())
            return session.exec(stmt).first()

    def set_role(self, user_id: int, role: Role) -> User | None:
        with self._session() as session:
            user = session.get(User, user_id)
            if user is None:
                return None
            user.role = role
            session.add(user)
            session.commit()
            session.refresh(user)
            return user

    def users_with_role(self, role: Role) -> list[User]:
        with self._session() as session:
            return list(session.exec(select(User).where(User.role == role).order_by(User.first_name)))

    # deliveries ----------------------------------------------------------------------------

    def create_delivery(self, delivery: Delivery, *, actor_id: int | None, detail: str = "") -> Delivery:
        with self._session() as session:
            session.add(delivery)
            session.flush()
            assert delivery.id is not None
            session.add(DeliveryEvent(delivery_id=delivery.id, actor_id=actor_id, kind="created", detail=detail))
            session.commit()
            session.refresh(delivery)
            return delivery

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        with self._session() as session:
            return session.get(Delivery, delivery_id)

    def transition(
        self,
        delivery_id: int,
        *,
        from_states: Iterable[DeliveryState],
        to_state: DeliveryState,
        actor_id: int | None,
        event: str,
        detail: str = "",
        **changes: Any,
    ) -> Delivery | None:
        """Compare-and-set: move the delivery only if it is still in one of `from_states`.

        Returns the updated delivery, or None when another task moved it first (a double tap, a
        job racing a handler): exactly one caller wins.
        """
        now = utcnow()
        with self._session() as session:
            result = session.execute(
                update(Delivery)
                .where(col(Delivery.id) == delivery_id, col(Delivery.state).in_(list(from_states)))
                .values(state=to_state, updated_at=now, **changes)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                return None
            session.add(DeliveryEvent(delivery_id=delivery_id, actor_id=actor_id, kind=event, detail=detail, at=now))
            session.commit()
            return session.get(Delivery, delivery_id)

    def update_delivery(self, delivery_id: int, **changes: Any) -> Delivery | None:
        """Change fields that are not the state (message ids, reminder times)."""
        with self._session() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:
                return None
            for key, value in changes.items():
                setattr(delivery, key, value)
            delivery.updated_at = utcnow()
            session.add(delivery)
            session.commit()
            session.refresh(delivery)
            return delivery

    def add_event(self, delivery_id: int, kind: str, *, actor_id: int | None = None, detail: str = "") -> None:
        with self._session() as session:
            session.add(DeliveryEvent(delivery_id=delivery_id, actor_id=actor_id, kind=kind, detail=detail))
            session.commit()

    def events(self, delivery_id: int) -> list[DeliveryEvent]:
        with self._session() as session:
            stmt = select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id)
            return list(session.exec(stmt.order_by(col(DeliveryEvent.at), col(DeliveryEvent.id))))

    def deliveries_in(self, states: Iterable[DeliveryState]) -> list[Delivery]:
        with self._session() as session:
            stmt = select(Delivery).where(col(Delivery.state).in_(list(states)))
            return list(session.exec(stmt.order_by(col(Delivery.id))))

    def open_by_locker(self) -> dict[tuple[str, int], Delivery]:
        """Open deliveries by the locker they hold or still watch: (lower-case tower id, locker id)."""
        with self._session() as session:
            stmt = select(Delivery).where(
                col(Delivery.state).in_(list(OPEN_STATES)), col(Delivery.locker_id).is_not(None)
            )
            return {
                (d.tower_id.lower(), d.locker_id): d
                for d in session.exec(stmt)
                if d.tower_id is not None and d.locker_id is not None
            }

    def open_deliveries_of(self, user_id: int) -> list[Delivery]:
        """Deliveries the user sends or collects that are not finished, oldest first."""
        with self._session() as session:
            stmt = select(Delivery).where(
                col(Delivery.state).in_(list(OPEN_STATES)),
                (Delivery.sender_id == user_id) | (Delivery.collector_id == user_id),
            )
            return list(session.exec(stmt.order_by(col(Delivery.id))))

    def recent_deliveries(self, *, state: DeliveryState | None = None, limit: int = 20) -> list[Delivery]:
        with self._session() as session:
            stmt = select(Delivery)
            if state is not None:
                stmt = stmt.where(Delivery.state == state)
            return list(session.exec(stmt.order_by(col(Delivery.id).desc()).limit(limit)))

    def deliveries_for_collector(self, user_id: int) -> list[Delivery]:
        with self._session() as session:
            stmt = select(Delivery).where(
                Delivery.collector_id == user_id, col(Delivery.state).in_(list(OPEN_STATES))
            )
            return list(session.exec(stmt.order_by(col(Delivery.id))))

    def count_by_state(self, *, since: datetime | None = None) -> dict[DeliveryState, int]:
        with self._session() as session:
            stmt = select(Delivery.state, func.count()).group_by(Delivery.state)
            if since is not None:
                stmt = stmt.where(col(Delivery.created_at) >= since)
            return {DeliveryState(state): count for state, count in session.exec(stmt)}

    def pickup_durations(self, *, since: datetime | None = None) -> list[float]:
        """Seconds from drop-off to pick-up of completed deliveries."""
        with self._session() as session:
            stmt = select(Delivery.dropped_at, Delivery.completed_at).where(
                Delivery.state == DeliveryState.COMPLETED,
                col(Delivery.dropped_at).is_not(None),
                col(Delivery.completed_at).is_not(None),
            )
            if since is not None:
                stmt = stmt.where(col(Delivery.completed_at) >= since)
            return [(done - dropped).total_seconds() for dropped, done in session.exec(stmt)]

    # keys ----------------------------------------------------------------------------------

    def add_key(self, key: IssuedKey) -> IssuedKey:
        with self._session() as session:
            session.add(key)
            session.commit()
            session.refresh(key)
            return key

    def get_key(self, key_id: int) -> IssuedKey | None:
        with self._session() as session:
            return session.get(IssuedKey, key_id)

    def keys_of(
        self, delivery_id: int, *, kind: KeyKind | None = None, states: Sequence[KeyState] | None = None
    ) -> list[IssuedKey]:
        with self._session() as session:
            stmt = select(IssuedKey).where(IssuedKey.delivery_id == delivery_id)
            if kind is not None:
                stmt = stmt.where(IssuedKey.kind == kind)
            if states is not None:
                stmt = stmt.where(col(IssuedKey.state).in_(list(states)))
            return list(session.exec(stmt.order_by(col(IssuedKey.id))))

    def active_keys(self) -> list[IssuedKey]:
        with self._session() as session:
            return list(session.exec(select(IssuedKey).where(IssuedKey.state == KeyState.ACTIVE)))

    def set_key_state(
        self, key_id: int, state: KeyState, *, only_from: KeyState | None = KeyState.ACTIVE
    ) -> IssuedKey | None:
        """Compare-and-set on the key's state; None if it had already moved on."""
        with self._session() as session:
            stmt = update(IssuedKey).where(col(IssuedKey.id) == key_id)
            if only_from is not None:
                stmt = stmt.where(IssuedKey.state == only_from)
            result = session.execute(stmt.values(state=state))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                return None
            session.commit()
            return session.get(IssuedKey, key_id)

    def close_keys(self, delivery_id: int, state: KeyState, *, kind: KeyKind | None = None) -> list[IssuedKey]:
        """Move every active key of a delivery to `state`; returns the keys that moved."""
        moved = []
        for key in self.keys_of(delivery_id, kind=kind, states=[KeyState.ACTIVE]):
            assert key.id is not None
            done = self.set_key_state(key.id, state)
            if done is not None:
                moved.append(done)
        return moved

    def set_key_message(self, key_id: int, message_id: int) -> None:
        with self._session() as session:
            key = session.get(IssuedKey, key_id)
            if key is not None:
                key.message_id = message_id
                session.add(key)
                session.commit()

    # pickup links --------------------------------------------------------------------------

    def add_link(self, link: PickupLink) -> PickupLink:
        with self._session() as session:
            session.add(link)
            session.commit()
            session.refresh(link)
            return link

    def find_link(self, code_hash: str) -> PickupLink | None:
        with self._session() as session:
            return session.exec(select(PickupLink).where(PickupLink.code_hash == code_hash)).first()

    def live_links(self, delivery_id: int, *, now: datetime) -> list[PickupLink]:
        with self._session() as session:
            stmt = select(PickupLink).where(
                PickupLink.delivery_id == delivery_id,
                col(PickupLink.claimed_at).is_(None),
                col(PickupLink.revoked_at).is_(None),
                col(PickupLink.expires_at) > now,
            )
            return list(session.exec(stmt))

    def claim_link(self, link_id: int, user_id: int, *, now: datetime) -> bool:
        """Single use: only the first claimer of a live link wins."""
        with self._session() as session:
            result = session.execute(
                update(PickupLink)
                .where(
                    col(PickupLink.id) == link_id,
                    col(PickupLink.claimed_at).is_(None),
                    col(PickupLink.revoked_at).is_(None),
                    col(PickupLink.expires_at) > now,
                )
                .values(claimed_by=user_id, claimed_at=now)
            )
            session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]

    def revoke_links(self, delivery_id: int, *, now: datetime) -> int:
        with self._session() as session:
            result = session.execute(
                update(PickupLink)
                .where(
                    col(PickupLink.delivery_id) == delivery_id,
                    col(PickupLink.claimed_at).is_(None),
                    col(PickupLink.revoked_at).is_(None),
                )
                .values(revoked_at=now)
            )
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]
