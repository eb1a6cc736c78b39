"""The database engine and session factory (DATABASE_URL: SQLite for development, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.threaded import Database

SQLITE_BUSY_TIMEOUT_MS = 5000
# PostgreSQL: the connections a bot process holds, and as many database threads. More threads cost more
# CPU than they save: each wakes for its answer and queues for the GIL (20 concurrent reads through the
# repository measured 2.0 ms of CPU each with 30 threads, 1.0 ms with 10). Transactions are short (none is held across
# a network call), so ten at once carry a burst; the rest wait their turn on the event loop.
PG_CONNECTIONS = 10
# PostgreSQL unreachable: a new connection gives up after this long (libpq's connect_timeout), and a
# task waiting for a pooled one after POOL_TIMEOUT, so an outage is answered in seconds, not minutes.
PG_CONNECT_TIMEOUT = 3
POOL_TIMEOUT = 10.0


def is_outage(exc: BaseException | None) -> bool:
    """Did this fail because the database is away (down, unreachable, overloaded), not because of the
    statement? Then the same work succeeds once it is back: "try again in a moment". Said directly, or
    by what the error was raised from (a session whose connection broke mid-statement reports "rollback
    first" while it closes)."""
    for _ in range(5):
        if exc is None:
            return False
        if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def normalize_url(url: str | URL) -> str:
    """`postgres://` and `postgresql://` (no driver) become psycopg 3; anything else is left alone."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def redacted(url: str | URL) -> str:
    """The URL for logs: the password (if any) replaced by `***`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def is_sqlite_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database or url.query.get("mode") == "memory"


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for `url`, tuned per backend. Extra keyword arguments go to `create_engine`.

    SQLite: usable from any thread (PTB persistence runs queries in worker threads), foreign keys
    enforced, a busy timeout, WAL journal for file databases; an in-memory database is one shared
    connection (StaticPool) so every thread and session sees the same data.
    PostgreSQL: psycopg 3, connections checked before use (pool_pre_ping).
    """
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        memory = is_sqlite_memory(parsed)
        options: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        }
        if memory:
            options["poolclass"] = StaticPool
        options.update(kwargs)
        engine = create_engine(parsed, **options)
        _configure_sqlite(engine, wal=not memory)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                # SQLite's own advice for WAL: a commit is not synced to disk by itself, the log is at
                # each checkpoint. A crashed or killed process loses nothing; a power cut or an OS crash
                # may undo the last commits, never corrupt the file. A commit costs half the CPU (issue
                # 18: the sync was a third of the bot's per-update database cost). Where a power cut
                # must lose nothing, run on PostgreSQL (README: "One process").
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


def make_session_factory(engine: Engine) -> Callable[[], Session]:
    """`factory()` opens a sqlmodel Session; objects stay readable after commit (expire_on_commit=False)."""
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


def async_url(url: str | URL) -> URL:
    """The same database through an asyncio driver: aiosqlite for SQLite, psycopg 3 (async) for PostgreSQL."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed


def make_async_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """The database through SQLAlchemy's asyncio drivers: what `python -m bot doctor` checks with, and
    what the bot ran on before issue 18 (`python -m bench.db_calls` compares the two: on SQLite
    `make_database` costs about 40 % less CPU per call; on PostgreSQL reads cost more through it).

    SQLite: the same pragmas as `make_engine`; an in-memory database is one shared connection.
    PostgreSQL: psycopg 3 in async mode.
    """
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = is_sqlite_memory(parsed)
        options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
        if memory:
            options["poolclass"] = StaticPool
        else:
            # One writer at a time is all SQLite allows; with one connection, the bot's tasks queue for
            # it in order (the pool's queue) instead of racing for the file lock, where a transaction
            # that read before it writes fails at once ("database is locked") and a waiting one sleeps
            # in SQLite's busy handler, first come not first served. Each query is short (no session
            # is held across a network call), so a burst of 200 updates waits milliseconds each.
            options.update(pool_size=1, max_overflow=0, pool_timeout=POOL_TIMEOUT)
        options.update(kwargs)
        engine = create_async_engine(parsed, **options)
        _configure_sqlite(engine.sync_engine, wal=not memory)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_timeout", POOL_TIMEOUT)
    kwargs.setdefault("connect_args", {"connect_timeout": PG_CONNECT_TIMEOUT})
    return create_async_engine(parsed, **kwargs)


def make_async_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=engine, class_=AsyncSession, expire_on_commit=False)


def make_database(url: str | URL) -> Database:
    """The database the bot runs on (docs/design.md §8): the sync engine, its work in threads
    (storage/threaded.py), so the event loop never waits on it.

    SQLite: one connection, one thread and one permit: SQLite has one writer, and the bot's tasks
    queue for it in order on the event loop instead of racing for the file lock (where a transaction
    that read before it writes fails at once, "database is locked"). Each transaction is short (no
    session is held across a network call), so a burst of 200 updates waits milliseconds each.
    PostgreSQL: psycopg 3, PG_CONNECTIONS connections and as many threads (a thread per connection: a
    statement waiting for another transaction's row lock never holds up that transaction's commit).
    """
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        single: dict[str, Any] = {} if is_sqlite_memory(parsed) else {"pool_size": 1, "max_overflow": 0}
        return Database(make_engine(parsed, **single), connections=1, wait_timeout=POOL_TIMEOUT)
    engine = make_engine(
        parsed,
        # A ping before each transaction (a round trip): a connection the server dropped (a restart,
        # a failover) is replaced before anyone's statement fails on it. Without it the CPU per update
        # did not measurably drop (bench.load on PostgreSQL), and one person would be told to try again.
        pool_pre_ping=True,
        pool_size=PG_CONNECTIONS,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT},
    )
    return Database(engine, connections=PG_CONNECTIONS, wait_timeout=POOL_TIMEOUT)
