"""What every part of the repository shares: the session factory, the errors, the outbox notices."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    OutboxMessage,
    OutboxState,
)

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


def insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ON CONFLICT on both PostgreSQL and SQLite."""
    bind = session.bind
    assert bind is not None, "a session of the repository is always bound to its engine"
    return postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert


class RepositoryBase:
    def __init__(self, session_factory: SessionFactory) -> None:
        self._session = session_factory

    @property
    def session_factory(self) -> SessionFactory:
        """For stores kept in modules of their own (storage/privacy.py) on the same database."""
        return self._session

    async def _record(self, session: AsyncSession, notices: Sequence[Notice]) -> None:
        for notice in notices:
            row = notice.row()
            stmt = insert_for(session)(OutboxMessage).values(
                dedupe_key=row.dedupe_key,
                chat_id=row.chat_id,
                body=row.body,
                state=OutboxState.PENDING,
                attempts=0,
                next_attempt_at=row.next_attempt_at,
                created_at=row.created_at,
            )
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["dedupe_key"]))
