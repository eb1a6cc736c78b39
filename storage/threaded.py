"""The bot's database: SQLAlchemy's sync engine, its work run in threads (issue 18).

The asyncio engine costs the bot most of its database CPU in the crossings, not in SQL: every
statement through aiosqlite is four or five hand-offs to its thread and back, and every call from
async code into the ORM a greenlet switch (`python -m bench.db_calls`: a read is 1.0 ms of CPU
that way, 0.6 ms in a thread, 0.2 ms inline). Here a session's every call to the database is one
hand-off to a thread where the plain sync Session does it; `run_sync` hands over a whole transaction
written as sync code (the hot path's), and `Database.run` one on a bare connection. The repositories
keep the AsyncSession API (`ThreadedSession` is one), so none of them knows the difference, and the
event loop never waits on the database.

A session takes a permit before it first reaches the database and gives it back once its
transaction has ended, so there are never more sessions at the database than connections: a
task waits for a permit on the event loop (in order), never a thread for a connection. SQLite
gets one permit and one thread, the single writer it allows; PostgreSQL as many as its connections,
so a statement waiting for another transaction's row lock never holds up that transaction's commit.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import util
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio.session import AsyncSessionTransaction
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

T = TypeVar("T")
_PREBUFFER = util.immutabledict({"prebuffer_rows": True})


def _prebuffered(options: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """As AsyncSession: an ORM query's rows are loaded where it ran (in the database thread)."""
    return util.immutabledict(options).union(_PREBUFFER) if options else _PREBUFFER


class Database:
    """A sync engine with the threads and permits its sessions run on."""

    def __init__(self, engine: Engine, *, connections: int, wait_timeout: float) -> None:
        self.engine = engine
        self.connections = connections
        self.wait_timeout = wait_timeout
        self._executor = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="db")
        self._permits: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._held = 0  # permits out (the metrics' pool gauges)
        self._waiting = 0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> ThreadedSession:
        return ThreadedSession(self)

    def waiting(self) -> int:
        """Tasks waiting for a connection now (the metrics' pool gauge)."""
        return self._waiting

    def in_use(self) -> int:
        return self._held

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        permits = self._permits.get(loop)
        if permits is None:
            permits = self._permits[loop] = asyncio.Semaphore(self.connections)
        self._waiting += 1
        try:
            async with asyncio.timeout(self.wait_timeout):
                await permits.acquire()
        except TimeoutError:
            # What the pool raised: a database that does not answer (storage.engine.is_outage).
            raise PoolTimeout(f"no database connection free within {self.wait_timeout:g} s") from None
        finally:
            self._waiting -= 1
        self._held += 1

    def release(self) -> None:
        self._held -= 1
        self._permits[asyncio.get_running_loop()].release()

    async def in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn` in a database thread. A caller cancelled meanwhile still waits for it to end: the
        session or connection it works on must not be touched by anyone else until then."""
        # With this task's context, as asyncio.to_thread: what the statement's listeners read (the
        # update being handled) is the caller's.
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args, **kwargs)
        future = asyncio.get_running_loop().run_in_executor(self._executor, call)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` in one transaction (committed unless it raises), in one hand-off."""

        def transaction() -> T:
            with self.engine.begin() as connection:
                return work(connection)

        await self.acquire()
        try:
            return await self.in_thread(transaction)
        finally:
            self.release()

    def dispose(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()


class ThreadedSession(AsyncSession):
    """An AsyncSession whose sync Session does its database work in the Database's threads."""

    def __init__(self, database: Database) -> None:
        super().__init__(sync_session_class=Session, expire_on_commit=False)
        self.sync_session.bind = database.engine
        self._database = database
        self._permit = False

    @property  # type: ignore[misc]
    def bind(self) -> Engine:  # type: ignore[override]  # what the repositories read it for: the dialect
        return self._database.engine

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if not self._permit:
            await self._database.acquire()
            self._permit = True
        return await self._database.in_thread(fn, *args, **kwargs)

    def _give_back(self) -> None:
        if self._permit and not self.sync_session.in_transaction():
            self._permit = False
            self._database.release()

    async def _ending(self, fn: Callable[..., Any], *args: Any) -> None:
        """A call that ends the transaction: the permit goes back with it, whatever happens."""
        sync = self.sync_session
        if not self._permit and not (sync.new or sync.dirty or sync.deleted):
            fn(*args)  # nothing reached the database, nor will: nothing to end there
            return
        if not self._permit:
            await self._database.acquire()
            self._permit = True
        try:
            await self._database.in_thread(fn, *args)
        finally:
            self._give_back()

    async def execute(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        kw["execution_options"] = _prebuffered(kw.get("execution_options"))
        return await self._call(self.sync_session.execute, statement, params, **kw)

    async def exec(self, statement: Any, **kw: Any) -> Any:
        kw["execution_options"] = _prebuffered(kw.get("execution_options"))
        return await self._call(self.sync_session.exec, statement, **kw)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """`fn(sync_session, ...)` in one hand-off: a whole transaction for the price of one statement."""
        try:
            return await self._call(fn, self.sync_session, *args, **kw)
        finally:
            self._give_back()

    async def scalar(self, statement: Any, *args: Any, **kw: Any) -> Any:
        return await self._call(self.sync_session.scalar, statement, *args, **kw)

    async def get(self, *args: Any, **kw: Any) -> Any:
        return await self._call(self.sync_session.get, *args, **kw)

    async def flush(self, objects: Sequence[Any] | None = None) -> None:
        await self._call(self.sync_session.flush, objects)

    async def refresh(self, instance: object, *args: Any, **kw: Any) -> None:
        await self._call(self.sync_session.refresh, instance, *args, **kw)

    async def delete(self, instance: object) -> None:
        await self._call(self.sync_session.delete, instance)

    async def merge(self, instance: Any, *args: Any, **kw: Any) -> Any:
        return await self._call(self.sync_session.merge, instance, *args, **kw)

    async def commit(self) -> None:
        await self._ending(self.sync_session.commit)

    async def rollback(self) -> None:
        await self._ending(self.sync_session.rollback)

    async def close(self) -> None:
        await self._ending(self.sync_session.close)

    def begin(self) -> AsyncSessionTransaction:
        return _Transaction(self)


class _Transaction(AsyncSessionTransaction):
    """`async with session.begin():` commits (or rolls back) in the session's thread."""

    session: ThreadedSession

    async def start(self, is_ctxmanager: bool = False) -> AsyncSessionTransaction:
        self.sync_transaction = self._assign_proxied(self.session.sync_session.begin())  # no I/O: it autobegins
        if is_ctxmanager:
            self.sync_transaction.__enter__()
        return self

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        await self.session._ending(self._sync_transaction().__exit__, type_, value, traceback)

    async def commit(self) -> None:
        await self.session._ending(self._sync_transaction().commit)

    async def rollback(self) -> None:
        await self.session._ending(self._sync_transaction().rollback)
