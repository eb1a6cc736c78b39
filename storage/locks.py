"""Mutual exclusion for a read-decide-write that spans a Harbor call (docs/design.md §8).

On PostgreSQL a session-level advisory lock, held on a connection of its own for the length of the
block: every process sees it, and it dies with the connection if the process does. An in-process
asyncio lock in front of it keeps a process's own tasks from queueing at the database (an
optimisation only). On SQLite, which the bot supports with one process, the in-process lock is all.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from enum import IntEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class LockScope(IntEnum):
    """The high byte of the advisory lock key, so ids of different things never share a lock."""

    DELIVERY = 1
    USER = 2


class KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def __call__(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield


class Locks:
    """`async with locks(LockScope.DELIVERY, 42):` excludes every other holder of that key."""

    def __init__(self, engine: AsyncEngine | None) -> None:
        # Only PostgreSQL has advisory locks; SQLite runs one process.
        self._engine = engine if engine is not None and engine.dialect.name == "postgresql" else None
        self._local = KeyedLocks()

    @property
    def shared(self) -> bool:
        return self._engine is not None

    @asynccontextmanager
    async def __call__(self, scope: LockScope, ident: int) -> AsyncIterator[None]:
        async with self._local((scope, ident)):
            if self._engine is None:
                yield
                return
            # Telegram ids stay below 2**53; the scope sits above them, within a signed bigint.
            key = (int(scope) << 56) | ident
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                try:
                    yield
                finally:
                    await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    await connection.commit()
