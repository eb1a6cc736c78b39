"""Mutual exclusion for a read-decide-write that spans a Harbor call (docs/design.md §8).

On PostgreSQL a lock is a row of `lock_leases` with a lease taken from the database's clock: taking
it is one INSERT ... ON CONFLICT, giving it back one DELETE, and in between it holds **no database
connection**, so a burst of holders waiting on Harbor cannot starve the pool (a session advisory lock
held one pooled connection for its whole block, and the block needed a second one for every query:
as many holders as the pool had connections stopped everyone for `pool_timeout`). Every process sees
the row; a process that dies leaves it only until the lease runs out. The lease is renewed while the
block runs, so a slow block keeps it. An in-process asyncio lock in front keeps a process's own tasks
from polling the database for a lock one of them holds. On SQLite, which the bot supports with one
process, the in-process lock is all.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import uuid
import weakref
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from enum import IntEnum

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from storage.threaded import Database

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0
# Waiting for a lock another process holds: poll, a little slower each time (contention on one
# delivery is a double tap on two processes, rare and short).
FIRST_WAIT, MAX_WAIT = 0.02, 0.25

_TAKE = text(
    "INSERT INTO lock_leases (key, owner, lease_until) VALUES (:key, :owner, now() + make_interval(secs => :secs)) "
    "ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until "
    "WHERE lock_leases.lease_until < now() RETURNING key"
)
_GIVE_BACK = text("DELETE FROM lock_leases WHERE key = :key AND owner = :owner")
_RENEW = text("UPDATE lock_leases SET lease_until = now() + make_interval(secs => :secs) WHERE owner = ANY(:owners)")


def _renew(connection: Connection, *, owners: list[str], secs: float) -> None:
    connection.execute(_RENEW, {"owners": owners, "secs": secs})


class LockScope(IntEnum):
    """The high byte of the lock key, so ids of different things never share a lock."""

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

    def __init__(self, database: Database | None, *, lease_seconds: float = LEASE_SECONDS) -> None:
        # Only PostgreSQL runs many processes; SQLite runs one.
        self._database = database if database is not None and database.dialect == "postgresql" else None
        self._local = KeyedLocks()
        self._lease = lease_seconds
        self._prefix = f"{os.getpid()}:{uuid.uuid4().hex[:8]}:"
        self._serial = itertools.count()
        self._held: set[str] = set()  # owner tokens of the leases this process holds now
        self._renewer: asyncio.Task[None] | None = None
        self._none_held = asyncio.Event()

    @property
    def shared(self) -> bool:
        return self._database is not None

    @asynccontextmanager
    async def __call__(self, scope: LockScope, ident: int) -> AsyncIterator[None]:
        async with self._local((scope, ident)):
            if self._database is None:
                yield
                return
            # Telegram ids stay below 2**53; the scope sits above them, within a signed bigint.
            key = (int(scope) << 56) | ident
            owner = f"{self._prefix}{next(self._serial)}"
            await self._take(key, owner)
            self._held.add(owner)
            self._none_held.clear()
            self._keep_renewing()
            try:
                yield
            finally:
                self._held.discard(owner)
                if not self._held:
                    self._none_held.set()
                await self._give_back(key, owner)

    async def _take(self, key: int, owner: str) -> None:
        assert self._database is not None
        wait = FIRST_WAIT
        while True:
            won = await self._database.run(
                lambda connection: connection.execute(_TAKE, {"key": key, "owner": owner, "secs": self._lease}).first()
            )
            if won is not None:
                return
            await asyncio.sleep(wait)
            wait = min(wait * 2, MAX_WAIT)

    async def _give_back(self, key: int, owner: str) -> None:
        assert self._database is not None
        try:
            await self._database.run(lambda connection: connection.execute(_GIVE_BACK, {"key": key, "owner": owner}))
        except DBAPIError as exc:
            # The database is away: the lease runs out by itself, and then the lock is free.
            log.warning("could not give a lock back (it lapses within %.0f s): %s", self._lease, type(exc).__name__)

    def _keep_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_while_held(), name="lock-leases")

    async def _renew_while_held(self) -> None:
        """One UPDATE for every lease this process holds, a few times per lease, while it holds any."""
        assert self._database is not None
        while self._held:
            try:
                await asyncio.wait_for(self._none_held.wait(), self._lease / 3)
                continue  # all given back (the loop ends unless one was taken meanwhile)
            except TimeoutError:
                pass
            owners = list(self._held)
            try:
                await self._database.run(functools.partial(_renew, owners=owners, secs=self._lease))
            except DBAPIError as exc:
                log.warning("could not renew lock leases: %s", type(exc).__name__)
