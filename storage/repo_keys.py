"""The repository's keys handed out (never their material) and one-time pickup links (only their hash)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from storage.models import (
    Delivery,
    IssuedKey,
    KeyKind,
    KeyState,
    PickupLink,
)
from storage.repo_base import Notice, RepositoryBase
from storage.types import utcnow


def _unused() -> ColumnElement[bool]:
    """A link nobody has claimed and nobody revoked (expired ones are revoked by the deadlines round)."""
    return col(PickupLink.claimed_at).is_(None) & col(PickupLink.revoked_at).is_(None)


class KeysAndLinks(RepositoryBase):
    # keys ----------------------------------------------------------------------------------

    async def add_key(self, key: IssuedKey) -> IssuedKey:
        async with self._session() as session:
            session.add(key)
            await session.commit()  # no refresh: the id comes back with the INSERT
            return key

    async def get_key(self, key_id: int) -> IssuedKey | None:
        async with self._session() as session:
            return await session.get(IssuedKey, key_id)

    async def delivery_with_keys(self, delivery_id: int, kind: KeyKind) -> tuple[Delivery | None, list[IssuedKey]]:
        """The delivery and its keys of `kind`, in one transaction (what a key tap decides on)."""
        return await self._in_one_go(_delivery_with_keys, delivery_id, kind)

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
                stmt = stmt.where(col(IssuedKey.state) == only_from)
            moved: IssuedKey | None = (
                (await session.execute(stmt.values(state=state).returning(IssuedKey))).scalars().first()
            )
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
        await self._in_one_go(_set_key_message, key_id, message_id)

    async def take_key_message(self, key: IssuedKey) -> int | None:
        """The id of the key's message, for the one caller that deletes it (None: no message, or someone
        deleted it already): the message goes once, however many announcements retire the key."""
        if key.message_id is None or key.message_deleted_at is not None:
            return None
        async with self._session() as session:
            taken = await session.execute(
                update(IssuedKey)
                .where(col(IssuedKey.id) == key.id, col(IssuedKey.message_deleted_at).is_(None))
                .values(message_deleted_at=utcnow())
                .returning(col(IssuedKey.id))
            )
            won = taken.first() is not None
            await session.commit()
            return key.message_id if won else None

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
                _unused(),
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
                    _unused(),
                    col(PickupLink.expires_at) > now,
                )
                .values(claimed_by=user_id, claimed_at=now)
            )
            await session.commit()
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def revoke_links(self, delivery_id: int, *, now: datetime) -> int:
        async with self._session() as session:
            result = await session.execute(
                update(PickupLink)
                .where(
                    col(PickupLink.delivery_id) == delivery_id,
                    _unused(),
                )
                .values(revoked_at=now)
            )
            await session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def due_keys(self, now: datetime, *, limit: int = 100) -> list[IssuedKey]:
        async with self._session() as session:
            stmt = select(IssuedKey).where(IssuedKey.state == KeyState.ACTIVE, col(IssuedKey.expires_at) <= now)
            return list(await session.exec(stmt.order_by(col(IssuedKey.expires_at)).limit(limit)))

    async def due_links(self, now: datetime, *, limit: int = 100) -> list[PickupLink]:
        async with self._session() as session:
            stmt = select(PickupLink).where(
                col(PickupLink.expires_at) <= now,
                _unused(),
            )
            return list(await session.exec(stmt.order_by(col(PickupLink.expires_at)).limit(limit)))

    async def expire_link(self, link_id: int, *, now: datetime, notices: Sequence[Notice]) -> bool:
        async with self._session() as session:
            result = await session.execute(
                update(PickupLink)
                .where(
                    col(PickupLink.id) == link_id,
                    _unused(),
                )
                .values(revoked_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                return False
            await self._record(session, notices)
            await session.commit()
            return True

    # Locker Open requests (KEY_MODE=link) ------------------------------------------------------

    async def link_keys_of(self, delivery_id: int, kind: KeyKind) -> list[IssuedKey]:
        """The delivery's link keys of this kind whose request Harbor has not been seen to spend, newest first."""
        async with self._session() as session:
            stmt = select(IssuedKey).where(
                IssuedKey.delivery_id == delivery_id,
                IssuedKey.kind == kind,
                col(IssuedKey.sealed_link).is_not(None),
                col(IssuedKey.link_spent_at).is_(None),
            )
            return list(await session.exec(stmt.order_by(col(IssuedKey.id).desc())))

    async def unspent_links_on_locker(self, tower_id: str, locker_id: int, *, besides: int) -> list[IssuedKey]:
        """Link keys of other deliveries than `besides` that may still open this locker."""
        async with self._session() as session:
            stmt = select(IssuedKey).where(
                IssuedKey.tower_id == tower_id,
                IssuedKey.locker_id == locker_id,
                IssuedKey.delivery_id != besides,
                col(IssuedKey.sealed_link).is_not(None),
                col(IssuedKey.link_spent_at).is_(None),
            )
            return list(await session.exec(stmt.order_by(col(IssuedKey.id))))

    async def mark_link_spent(self, request_id: str, *, at: datetime) -> None:
        """Harbor says this request is used or expired: every key that carried it stops counting as live.
        The sealed link goes too: it opens nothing any more, and nothing is kept that need not be."""
        async with self._session() as session:
            await session.execute(
                update(IssuedKey)
                .where(
                    col(IssuedKey.harbor_token_id) == request_id,
                    col(IssuedKey.sealed_link).is_not(None),
                    col(IssuedKey.link_spent_at).is_(None),
                )
                .values(link_spent_at=at, sealed_link="")
            )
            await session.commit()


def _delivery_with_keys(session: Session, delivery_id: int, kind: KeyKind) -> tuple[Delivery | None, list[IssuedKey]]:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None, []
    stmt = select(IssuedKey).where(IssuedKey.delivery_id == delivery_id, IssuedKey.kind == kind)
    return delivery, list(session.execute(stmt.order_by(col(IssuedKey.id))).scalars())


def _set_key_message(session: Session, key_id: int, message_id: int) -> None:
    session.execute(update(IssuedKey).where(col(IssuedKey.id) == key_id).values(message_id=message_id))
    session.commit()
