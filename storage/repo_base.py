"""What every part of the repository shares: the session factory, the errors, the outbox notices."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from sqlalchemy import Insert, Table, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    OutboxMessage,
    OutboxState,
)

SessionFactory = Callable[[], AsyncSession]
P = ParamSpec("P")
T = TypeVar("T")


class Conflict(Exception):
    """A write broke a uniqueness rule (another process or task got there first)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """An announcement to record with a state change, in the same transaction (sent once, later)."""

    dedupe_key: str
    chat_id: int
    body: dict[str, Any] = field(default_factory=dict)

    def row(self, *, cause: int | None = None) -> OutboxMessage:
        """The outbox row; `cause` is the id of the delivery event that made this notice: two real
        events of the same kind (a courier assigned a second time) are two rows, one event is one."""
        key = self.dedupe_key if cause is None else f"{self.dedupe_key}@event:{cause}"
        return OutboxMessage(dedupe_key=key, chat_id=self.chat_id, body=json.dumps(self.body))


def insert_for(session: AsyncSession | Session) -> Any:
    """The dialect's INSERT, which has ON CONFLICT on both PostgreSQL and SQLite."""
    bind = session.bind
    assert bind is not None, "a session of the repository is always bound to its engine"
    return insert_dialect(bind.dialect.name)


def insert_dialect(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@functools.cache
def _insert_returning_id(table: Table) -> Insert:
    return insert(table).returning(table.c.id)


def insert_row_now(session: Session, row: SQLModel) -> int:
    """INSERT one model row as a Core statement, RETURNING its new id (set on `row` too): what
    `session.add(row)` and a flush do, without the unit of work's bookkeeping (issue 18: the hot path's
    events and keys). The statement is built once per table; its values are parameters. The row is not
    attached to the session."""
    table = cast(Any, type(row)).__table__
    values = {
        c.name: getattr(row, c.name) for c in table.columns if not (c.primary_key and getattr(row, c.name) is None)
    }
    new_id: int = session.connection().execute(_insert_returning_id(table), values).scalar_one()
    cast(Any, row).id = new_id
    return new_id


async def insert_row(session: AsyncSession, row: SQLModel) -> int:
    """`insert_row_now` from async code."""
    return await session.run_sync(insert_row_now, row)


def database_now_in(session: Session) -> datetime:
    """The database's clock, not this process's: leases and due times compare against one clock, so a
    process whose clock runs fast cannot take over a lease that is still live. SQLite has no server:
    its clock is the operating system's, read by SQLite itself (the statement's time)."""
    bind = session.bind
    assert bind is not None, "a session of the repository is always bound to its engine"
    if bind.dialect.name == "postgresql":
        value: datetime = session.connection().execute(text("SELECT clock_timestamp()")).scalar_one()
        return value.astimezone(UTC)
    raw: str = session.connection().execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    return datetime.fromisoformat(raw).replace(tzinfo=UTC)


async def database_now(session: AsyncSession) -> datetime:
    """`database_now_in` from async code."""
    return await session.run_sync(database_now_in)


def record_notices(session: Session, notices: Sequence[Notice], *, cause: int | None = None) -> None:
    """Add the notices to the outbox in the caller's transaction; a dedupe key seen before is a
    repeat and is dropped. `cause`: see Notice.row."""
    now = database_now_in(session) if notices else None
    for notice in notices:
        row = notice.row(cause=cause)
        stmt = insert_for(session)(OutboxMessage).values(
            dedupe_key=row.dedupe_key,
            chat_id=row.chat_id,
            body=row.body,
            state=OutboxState.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.connection().execute(stmt.on_conflict_do_nothing(index_elements=["dedupe_key"]))


class RepositoryBase:
    def __init__(self, session_factory: SessionFactory) -> None:
        self._session = session_factory

    @property
    def session_factory(self) -> SessionFactory:
        """For stores kept in modules of their own (storage/privacy.py) on the same database."""
        return self._session

    async def _record(self, session: AsyncSession, notices: Sequence[Notice], *, cause: int | None = None) -> None:
        """`record_notices` in the caller's transaction."""
        if notices:
            await session.run_sync(record_notices, notices, cause=cause)

    async def _in_one_go(self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(session, ...)`, a whole transaction written as plain sync code, handed to the database
        in one go (issue 18: the hot path's steps; storage/threaded.py). It commits its own writes; what
        it leaves uncommitted is rolled back."""
        async with self._session() as session:
            return await session.run_sync(work, *args, **kwargs)
