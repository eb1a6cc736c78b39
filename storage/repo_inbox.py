"""The inbox of Telegram updates (bot/inbox.py): recorded once by `update_id`, leased to the process
that handles them, in order per chat, kept after they are done only long enough to recognise a repeat.

Lease times come from the database's clock on PostgreSQL (`now()`), so processes whose clocks differ
still agree on when a lease has run out; SQLite runs one process, whose clock is the database's.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import InboxUpdate
from storage.repo_base import RepositoryBase, insert_for
from storage.types import utcnow


def _now(session: AsyncSession) -> Any:
    """The database's time on PostgreSQL; this (only) process's on SQLite."""
    bind = session.bind
    assert bind is not None
    return func.now() if bind.dialect.name == "postgresql" else utcnow()


class InboxStore(RepositoryBase):
    async def receive_update(self, update_id: int, chat_id: int | None, body: str) -> bool:
        """Record an update; False when it was recorded before (Telegram delivered it again)."""
        async with self._session() as session:
            stmt = insert_for(session)(InboxUpdate).values(
                update_id=update_id, chat_id=chat_id, body=body, attempts=0, received_at=_now(session)
            )
            stmt = stmt.on_conflict_do_nothing(index_elements=["update_id"]).returning(InboxUpdate.update_id)
            inserted = (await session.execute(stmt)).first()
            await session.commit()
            return inserted is not None

    async def claim_updates(
        self,
        owner: str,
        *,
        lease: timedelta,
        limit: int,
        update_id: int | None = None,
        chat_id: int | None = None,
    ) -> list[InboxUpdate]:
        """Open updates nobody holds (or whose holder's lease ran out) that are the oldest open update
        of their chat, leased to `owner`; only `update_id`, or only `chat_id`'s, when given.

        Candidates are picked with FOR UPDATE SKIP LOCKED and each is won by a conditional UPDATE, so
        two processes (or a lease that just ran out) never both win an update.
        """
        older = aliased(InboxUpdate, name="older")
        first_of_chat = ~(
            select(older.update_id)
            .where(
                col(older.chat_id) == col(InboxUpdate.chat_id),
                col(older.done_at).is_(None),
                col(older.update_id) < col(InboxUpdate.update_id),
            )
            .exists()
        )
        async with self._session() as session:
            now = _now(session)
            free = col(InboxUpdate.done_at).is_(None) & (
                col(InboxUpdate.lease_until).is_(None) | (col(InboxUpdate.lease_until) < now)
            )
            due = select(InboxUpdate.update_id).where(free, first_of_chat)
            if update_id is not None:
                due = due.where(col(InboxUpdate.update_id) == update_id)
            if chat_id is not None:
                due = due.where(col(InboxUpdate.chat_id) == chat_id)
            due = due.order_by(col(InboxUpdate.update_id)).limit(limit).with_for_update(skip_locked=True)
            claimed: list[InboxUpdate] = []
            for candidate in list(await session.exec(due)):
                won = await session.execute(
                    update(InboxUpdate)
                    .where(col(InboxUpdate.update_id) == candidate, free)
                    .values(lease_owner=owner, lease_until=now + lease, attempts=col(InboxUpdate.attempts) + 1)
                    .returning(InboxUpdate)
                )
                claimed.extend(won.scalars())
            await session.commit()
            return claimed

    async def renew_updates(self, owner: str, update_ids: Collection[int], *, lease: timedelta) -> None:
        async with self._session() as session:
            await session.execute(
                update(InboxUpdate)
                .where(
                    col(InboxUpdate.update_id).in_(list(update_ids)),
                    col(InboxUpdate.lease_owner) == owner,
                    col(InboxUpdate.done_at).is_(None),
                )
                .values(lease_until=_now(session) + lease)
            )
            await session.commit()

    async def updates_done(self, update_ids: Collection[int]) -> None:
        """Handled: the body goes (the row stays, to recognise a late repeat)."""
        async with self._session() as session:
            await session.execute(
                update(InboxUpdate)
                .where(col(InboxUpdate.update_id).in_(list(update_ids)), col(InboxUpdate.done_at).is_(None))
                .values(done_at=_now(session), body="", lease_owner=None, lease_until=None)
            )
            await session.commit()

    async def forget_updates(self, *, done_before: datetime) -> int:
        """Delete the rows of updates done before `done_before` (Telegram redelivers for a day at most)."""
        async with self._session() as session:
            result = cast(
                "CursorResult[Any]",
                await session.execute(delete(InboxUpdate).where(col(InboxUpdate.done_at) < done_before)),
            )
            await session.commit()
            return int(result.rowcount or 0)

    async def inbox_update(self, update_id: int) -> InboxUpdate | None:
        async with self._session() as session:
            return await session.get(InboxUpdate, update_id)
