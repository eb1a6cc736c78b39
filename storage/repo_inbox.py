"""The inbox of Telegram updates (bot/inbox.py): recorded once by `update_id`, leased to the process
that handles them, in order per chat, kept after they are done only long enough to recognise a repeat.

Lease times come from the database's clock on PostgreSQL (`now()`), so processes whose clocks differ
still agree on when a lease has run out; SQLite runs one process, whose clock is the database's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
    async def receive_updates(
        self, updates: Sequence[tuple[int, int | None, str]], *, owner: str, lease: timedelta, claim: bool = True
    ) -> tuple[set[int], list[InboxUpdate]]:
        """Record updates (update_id, chat key, body) and (`claim`) lease to `owner` those that are their
        chat's next, in one transaction, so a batch keeps its order. Returns the ids that were new (the
        others were delivered again) and the rows claimed."""
        async with self._session() as session:
            values = [
                {"update_id": i, "chat_id": chat, "body": body, "attempts": 0, "received_at": _now(session)}
                for i, chat, body in updates
            ]
            stmt = insert_for(session)(InboxUpdate).values(values)
            stmt = stmt.on_conflict_do_nothing(index_elements=["update_id"]).returning(InboxUpdate.update_id)
            new = set((await session.execute(stmt)).scalars())
            claimed = (
                await self._claim(session, owner, lease=lease, limit=len(new), update_ids=new) if claim and new else []
            )
            await session.commit()
            return new, claimed

    async def claim_updates(self, owner: str, *, lease: timedelta, limit: int) -> list[InboxUpdate]:
        """Open updates nobody holds (or whose holder's lease ran out) that are their chat's next."""
        async with self._session() as session:
            claimed = await self._claim(session, owner, lease=lease, limit=limit)
            await session.commit()
            return claimed

    async def finish_update(
        self, update_id: int, chat_id: int | None, *, owner: str, lease: timedelta
    ) -> list[InboxUpdate]:
        """Handled: the body goes (the row stays, to recognise a late repeat), and the chat's next
        update, if any, is leased to `owner`, in one transaction."""
        async with self._session() as session:
            await self._mark_done(session, [update_id])
            claimed = (
                [] if chat_id is None else await self._claim(session, owner, lease=lease, limit=1, chat_id=chat_id)
            )
            await session.commit()
            return claimed

    async def updates_done(self, update_ids: Collection[int]) -> None:
        async with self._session() as session:
            await self._mark_done(session, update_ids)
            await session.commit()

    async def _mark_done(self, session: AsyncSession, update_ids: Collection[int]) -> None:
        await session.execute(
            update(InboxUpdate)
            .where(col(InboxUpdate.update_id).in_(list(update_ids)), col(InboxUpdate.done_at).is_(None))
            .values(done_at=_now(session), body="", lease_owner=None, lease_until=None)
        )

    async def _claim(
        self,
        session: AsyncSession,
        owner: str,
        *,
        lease: timedelta,
        limit: int,
        update_ids: Collection[int] | None = None,
        chat_id: int | None = None,
    ) -> list[InboxUpdate]:
        """Lease to `owner` the open updates nobody holds (or whose holder's lease ran out) that are the
        oldest open update of their chat; only those of `update_ids`, or only `chat_id`'s, when given.

        One UPDATE whose candidates are picked with FOR UPDATE SKIP LOCKED (processes claim side by side
        without waiting) and checked again by the UPDATE itself, so two claims never both win a row.
        """
        now = _now(session)

        def free(row: Any) -> Any:
            return col(row.done_at).is_(None) & (col(row.lease_until).is_(None) | (col(row.lease_until) < now))

        # Aliases, so neither subquery is taken for a correlated one of the UPDATE's own row.
        candidate, older = aliased(InboxUpdate, name="candidate"), aliased(InboxUpdate, name="older")
        first_of_chat = ~(
            select(older.update_id)
            .where(
                col(older.chat_id) == col(candidate.chat_id),
                col(older.done_at).is_(None),
                col(older.update_id) < col(candidate.update_id),
            )
            .exists()
        )
        due = select(candidate.update_id).where(free(candidate), first_of_chat)
        if update_ids is not None:
            due = due.where(col(candidate.update_id).in_(list(update_ids)))
        if chat_id is not None:
            due = due.where(col(candidate.chat_id) == chat_id)
        due = due.order_by(col(candidate.update_id)).limit(limit).with_for_update(skip_locked=True)
        won = await session.execute(
            update(InboxUpdate)
            .where(col(InboxUpdate.update_id).in_(due.scalar_subquery()), free(InboxUpdate))
            .values(lease_owner=owner, lease_until=now + lease, attempts=col(InboxUpdate.attempts) + 1)
            .returning(InboxUpdate)
        )
        return sorted(won.scalars(), key=lambda row: row.update_id)

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

    async def release_updates(self, owner: str, update_ids: Collection[int]) -> None:
        """Give claimed updates back unhandled (their process is stopping)."""
        async with self._session() as session:
            await session.execute(
                update(InboxUpdate)
                .where(col(InboxUpdate.update_id).in_(list(update_ids)), col(InboxUpdate.lease_owner) == owner)
                .values(lease_owner=None, lease_until=None)
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
