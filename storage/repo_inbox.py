"""The inbox of Telegram updates (bot/inbox.py): recorded once by `update_id`, leased to the process
that handles them, in order per chat, kept after they are done only long enough to recognise a repeat.

Lease times come from the database's clock on PostgreSQL (`now()`), so processes whose clocks differ
still agree on when a lease has run out; SQLite runs one process, whose clock is the database's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Interval,
    Select,
    Update,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import InboxUpdate, User
from storage.repo_base import RepositoryBase, insert_dialect
from storage.types import utcnow

INBOX = cast(Any, InboxUpdate).__table__
USERS = cast(Any, User).__table__


@dataclass(frozen=True, slots=True)
class ClaimedUpdate:
    """An update leased to this process: what it needs to run it (its row's other columns stay put)."""

    update_id: int
    chat_id: int | None
    body: str
    attempts: int


@dataclass(slots=True)
class Claimed:
    """What a claim won, with the language each private chat's person chose (read by the same
    statement): the handlers answer in it without a query of their own (issue 18)."""

    updates: list[ClaimedUpdate] = field(default_factory=list)
    languages: dict[int, str | None] = field(default_factory=dict)  # update_id -> chosen language (None: none)


def _clock(dialect: str) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """(now, the end of a lease taken now): the database's clock on PostgreSQL (`:lease` an interval);
    on SQLite, whose one process's clock is the database's, the parameters `:now` and `:until`."""
    if dialect == "postgresql":
        return func.now(), func.now() + bindparam("lease", type_=Interval())
    when = INBOX.c.lease_until.type
    return bindparam("now", type_=when), bindparam("until", type_=when)


@cache
def _claim_statement(dialect: str, by: str) -> Update:
    """The claim, built once per dialect and kind (the statement object is reused, so SQLAlchemy neither
    builds nor keys it again): lease to :owner the open updates nobody holds (or whose holder's lease ran
    out) that are the oldest open update of their chat, among :ids (`by="ids"`), of :chats
    (`by="chats"`), of either (`by="both"`), or all (`by="all"`), at most :limit.

    One UPDATE whose candidates are picked with FOR UPDATE SKIP LOCKED (processes claim side by side
    without waiting) and checked again by the UPDATE itself, so two claims never both win a row."""
    now, until = _clock(dialect)

    def free(table: Any) -> ColumnElement[bool]:
        return and_(table.c.done_at.is_(None), or_(table.c.lease_until.is_(None), table.c.lease_until < now))

    candidate, older = INBOX.alias("candidate"), INBOX.alias("older")
    first_of_chat = ~exists().where(
        older.c.chat_id == candidate.c.chat_id,
        older.c.done_at.is_(None),
        older.c.update_id < candidate.c.update_id,
    )
    due: Select[Any] = select(candidate.c.update_id).where(free(candidate), first_of_chat)
    ids = candidate.c.update_id.in_(bindparam("ids", expanding=True))
    chats = candidate.c.chat_id.in_(bindparam("chats", expanding=True))
    if by == "ids":
        due = due.where(ids)
    elif by == "chats":
        due = due.where(chats)
    elif by == "both":
        due = due.where(or_(ids, chats))
    due = due.order_by(candidate.c.update_id).limit(bindparam("limit")).with_for_update(skip_locked=True)
    # A private chat's id is its person's (positive; groups' are negative): their chosen language
    # comes back with the claim, in the same statement.
    chosen = select(USERS.c.chosen_language).where(USERS.c.id == INBOX.c.chat_id).scalar_subquery()
    return (
        update(INBOX)
        .where(INBOX.c.update_id.in_(due.scalar_subquery()), free(INBOX))
        .values(lease_owner=bindparam("owner"), lease_until=until, attempts=INBOX.c.attempts + 1)
        .returning(INBOX.c.update_id, INBOX.c.chat_id, INBOX.c.body, INBOX.c.attempts, chosen)
    )


@cache
def _receive_statement(dialect: str) -> Any:
    """Record one update, and lease it to :owner in the same statement when :claim and no open update of
    its chat is older (its chat's next, then): the usual update costs one statement, not an INSERT and a
    claim. A repeat (its update_id is there) inserts nothing and returns no row. Within a transaction
    each statement sees the ones before it, so the second update of a chat in a batch waits its turn."""
    now, until = _clock(dialect)
    older = INBOX.alias("older")
    waits = exists().where(older.c.chat_id == bindparam("chat"), older.c.done_at.is_(None))
    first = and_(bindparam("claim"), ~waits)
    # The person of a private chat (its id is theirs), by the parameter: a RETURNING subquery is not
    # correlated to the inserted row.
    chosen = select(USERS.c.chosen_language).where(USERS.c.id == bindparam("chat")).scalar_subquery()
    stmt = insert_dialect(dialect)(INBOX).values(
        update_id=bindparam("update_id"),
        chat_id=bindparam("chat"),
        body=bindparam("body"),
        received_at=now,
        attempts=case((first, 1), else_=0),
        lease_owner=case((first, bindparam("owner")), else_=None),
        lease_until=case((first, until), else_=None),
    )
    return stmt.on_conflict_do_nothing(index_elements=["update_id"]).returning(
        INBOX.c.update_id, INBOX.c.lease_owner, chosen
    )


@cache
def _done_statement(dialect: str) -> Update:
    now: ColumnElement[Any] = func.now() if dialect == "postgresql" else bindparam("now", type_=INBOX.c.done_at.type)
    return (
        update(INBOX)
        .where(INBOX.c.update_id.in_(bindparam("done", expanding=True)), INBOX.c.done_at.is_(None))
        .values(done_at=now, body="", lease_owner=None, lease_until=None)
    )


def _dialect(session: AsyncSession | Session) -> str:
    bind = session.bind
    assert bind is not None, "a session of the repository is always bound to its engine"
    return bind.dialect.name


def _now(session: AsyncSession) -> Any:
    """The database's time on PostgreSQL; this (only) process's on SQLite."""
    return func.now() if _dialect(session) == "postgresql" else utcnow()


class InboxStore(RepositoryBase):
    async def receive_updates(
        self,
        updates: Sequence[tuple[int, int | None, str]],
        *,
        owner: str,
        lease: timedelta,
        claim: bool = True,
        done: Collection[int] = (),
        done_chats: Collection[int] = (),
    ) -> tuple[set[int], Claimed]:
        """Record updates (update_id, chat key, body) and (`claim`) lease to `owner` those that are their
        chat's next, in one transaction, so a batch keeps its order. `done`: updates this process has
        handled since it last told the database, marked done in the same transaction, and the next open
        update of `done_chats` claimed too. Returns the ids that were new (the others were delivered
        again) and what was claimed."""
        return await self._in_one_go(_receive, updates, owner, lease, claim, done, done_chats)

    async def claim_updates(self, owner: str, *, lease: timedelta, limit: int) -> Claimed:
        """Open updates nobody holds (or whose holder's lease ran out) that are their chat's next."""
        return await self._in_one_go(_claim_and_commit, owner, lease, limit)

    async def finish_updates(
        self,
        update_ids: Collection[int],
        chats: Collection[int],
        *,
        owner: str,
        lease: timedelta,
    ) -> Claimed:
        """Handled: the bodies go (the rows stay, to recognise a late repeat), and the next open update of
        each of `chats`, if any, is leased to `owner`, in one transaction."""
        return await self._in_one_go(_finish, update_ids, chats, owner, lease)

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


# The transactions of the hot path, plain sync code handed to the database in one go. -----------------


def _receive(
    session: Session,
    updates: Sequence[tuple[int, int | None, str]],
    owner: str,
    lease: timedelta,
    claim: bool,
    done: Collection[int],
    done_chats: Collection[int],
) -> tuple[set[int], Claimed]:
    _mark_done(session, done)
    dialect = _dialect(session)
    stmt = _receive_statement(dialect)
    params: dict[str, Any] = {"owner": owner, "claim": claim}
    if dialect == "postgresql":
        params["lease"] = lease
    else:
        now = utcnow()
        params.update(now=now, until=now + lease)
    new: set[int] = set()
    claimed = Claimed()
    for update_id, chat, body in updates:
        row = session.connection().execute(stmt, {**params, "update_id": update_id, "chat": chat, "body": body}).first()
        if row is None:
            continue  # delivered again
        new.add(update_id)
        if row[1] == owner:
            claimed.updates.append(ClaimedUpdate(update_id, chat, body, 1))
            if chat is not None and chat > 0:
                claimed.languages[update_id] = row[2]
    if claim and done_chats:
        more = _claim(session, owner, lease=lease, limit=len(done_chats), chats=done_chats)
        claimed.updates = sorted(claimed.updates + more.updates, key=lambda u: u.update_id)
        claimed.languages.update(more.languages)
    session.commit()
    return new, claimed


def _claim_and_commit(session: Session, owner: str, lease: timedelta, limit: int) -> Claimed:
    claimed = _claim(session, owner, lease=lease, limit=limit)
    session.commit()
    return claimed


def _finish(
    session: Session, update_ids: Collection[int], chats: Collection[int], owner: str, lease: timedelta
) -> Claimed:
    _mark_done(session, update_ids)
    claimed = _claim(session, owner, lease=lease, limit=len(chats), chats=chats) if chats else Claimed()
    session.commit()
    return claimed


def _mark_done(session: Session, update_ids: Collection[int]) -> None:
    if update_ids:
        session.connection().execute(_done_statement(_dialect(session)), {"done": list(update_ids), "now": utcnow()})


def _claim(
    session: Session,
    owner: str,
    *,
    lease: timedelta,
    limit: int,
    ids: Collection[int] | None = None,
    chats: Collection[int] | None = None,
) -> Claimed:
    """Lease to `owner` the open updates that are their chat's next (see _claim_statement), with the
    language the person of each private chat chose."""
    by = "all" if ids is None and chats is None else "both" if ids and chats else "ids" if ids else "chats"
    params: dict[str, Any] = {"owner": owner, "limit": limit, "ids": list(ids or ()), "chats": list(chats or ())}
    if _dialect(session) == "postgresql":
        params["lease"] = lease
    else:
        now = utcnow()
        params.update(now=now, until=now + lease)
    rows = sorted(session.connection().execute(_claim_statement(_dialect(session), by), params).all())
    claimed = Claimed([ClaimedUpdate(*row[:4]) for row in rows])
    claimed.languages = {row[0]: row[4] for row in rows if row[1] is not None and row[1] > 0}
    return claimed
