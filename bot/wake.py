"""One wake loop per process: run what is due, then sleep until the next due time (issue 18).

Every process used to tick every second (the shared jobs and the outbox) and take over the inbox every
second besides: an idle process asked the database ~8 times a second. Now each round asks once when
anything falls due next (storage/wake.py: a job, an announcement, an update to take over, a deadline),
runs what is due now, and sleeps until the earliest of the rest, never longer than WAKE_MAX_SECONDS and
never sooner than WAKE_DEBOUNCE after the last round. It is woken early by writes that may bring a due
time closer:

- this process's own (`watch_writes`: a committed INSERT or UPDATE of a table that carries due times);
- on PostgreSQL, every other process's (`Listener`: triggers `pg_notify` once per such statement,
  migration 0009), so an announcement or a deadline recorded by any process is acted on at once.

The deadlines job (the round over holds, keys, reminders, links) is no longer due every second: it is due
at the earliest deadline (bot/jobs.py), and a round here that finds a deadline earlier than the job
pulls the job earlier, at most once a second after its last run, so a deadline written by any process,
even behind the bot's back, is met within about a second. Nothing else changes: the jobs are claimed
under a lease, a dead process's claims (jobs, announcements, updates) are taken over when their lease
runs out, since that moment is a due time too. The longest sleep is never longer than the inbox lease,
so a lease taken while this process slept is seen before it runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from bot.inbox import Inbox
from bot.jobs import DEADLINES_EVERY, Scheduler
from storage.engine import PG_CONNECT_TIMEOUT, is_outage, normalize_url
from storage.wake import NextDue

log = logging.getLogger(__name__)

WAKE_DEBOUNCE = 0.1  # seconds between two rounds at least: a burst of writes is one round
OUTAGE_RETRY = 5.0  # seconds between two rounds while the database is away
STOP_GRACE = 15.0  # seconds a stopping process lets the round in progress finish
CHANNEL = "harbor_wake"  # the channel of migration 0009's triggers
# The writes that may bring a due time closer (the tables the wake query reads times from).
WATCHED_TABLES = frozenset({"scheduled_jobs", "outbox", "deliveries", "issued_keys", "pickup_links"})
# PostgreSQL also: an update recorded while its chat's previous one is being finished, in two transactions
# side by side, is claimed by neither (each saw the other's row as it was before); whichever committed
# last wakes and takes it over at once. (SQLite's one connection runs them one after the other.)
WATCHED_WITH_OTHERS = WATCHED_TABLES | {"inbox"}


class WakeLoop:
    def __init__(self, scheduler: Scheduler, inbox: Inbox, *, longest: float) -> None:
        self.scheduler = scheduler
        self.inbox = inbox
        self.repo = scheduler.services.repo
        self.longest = longest
        self.retention = timedelta(seconds=scheduler.services.settings.chat_state_retention_seconds)
        self.rounds = 0
        self._woken = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_full = float("-inf")
        self._stopped = False

    def wake(self) -> None:
        """Run a round soon (from any thread; a no-op before the loop starts)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._woken.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="wake-loop")

    async def stop(self) -> None:
        """The round in progress, if any, is finished (a send half done would be sent again later); then
        the loop ends."""
        task, self._task = self._task, None
        self._stopped = True
        self._woken.set()
        if task is not None:
            await asyncio.wait([task], timeout=STOP_GRACE)
        await _end(task)

    async def _run(self) -> None:
        last = float("-inf")
        while not self._stopped:
            pause = WAKE_DEBOUNCE - (time.monotonic() - last)
            if pause > 0:
                await asyncio.sleep(pause)
                if self._stopped:
                    return
            self._woken.clear()
            last = time.monotonic()
            try:
                delay = await self.round()
            except Exception as exc:
                if is_outage(exc):
                    # The database is away: one line per round, not a traceback; the next round tries again.
                    log.warning("wake round skipped, the database is away: %s", type(exc).__name__)
                else:
                    log.exception("wake round failed; trying again shortly")
                delay = min(OUTAGE_RETRY, self.longest)
            if self._stopped:  # asked to stop while the round ran (its wake-up may have been cleared)
                return
            # Not wait_for: on Python 3.11 it loses a cancellation (the stop) that comes as a wake-up does.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._woken.wait()

    async def round(self) -> float:
        """Run what is due; returns how long to sleep (0: look again, something was done)."""
        self.rounds += 1
        full = time.monotonic() - self._last_full >= self.longest
        if full:  # now and then everything, whatever the times say (and the inbox's retention sweep)
            self._last_full = time.monotonic()
        due = await self.repo.wake_times(chat_state_retention=self.retention)
        jobs = await self._pull_deadlines(due)
        now = due.now
        work: list[Any] = []
        if full or _by(jobs, now) or _by(due.outbox, now):
            work.append(self.scheduler.tick())  # the due jobs, then the due announcements
        if not self.inbox.stopping and (full or _by(due.inbox, now) or self.inbox.owes_marks):
            work.append(self.inbox.take_over())
        if work:
            await asyncio.gather(*work)
            return 0.0
        earliest = min((t for t in (jobs, due.outbox, due.inbox) if t is not None), default=None)
        if earliest is None:
            return self.longest
        return max(0.0, min(self.longest, (earliest - now).total_seconds()))

    async def _pull_deadlines(self, due: NextDue) -> datetime | None:
        """A deadline earlier than the deadlines job (written since its last run): the job moves there,
        at most once a second after its last run. Returns when the jobs are due, with that move."""
        if due.deadline is None or due.deadlines_job is None or due.deadlines_busy:
            return due.jobs
        target = due.deadline
        if due.deadlines_ran is not None:
            target = max(target, due.deadlines_ran + DEADLINES_EVERY)
        if target >= due.deadlines_job:
            return due.jobs
        await self.repo.pull_deadlines(target)
        return target if due.jobs is None else min(due.jobs, target)


async def _end(task: asyncio.Task[None] | None) -> None:
    """Cancel the task until it has ended: a cancellation can be swallowed on its way (a lock or a
    lease keeper that suppresses CancelledError while cleaning up), so it is repeated."""
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=1.0)


def _by(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment <= now


def watch_writes(sync: Engine, wake: Callable[[], None]) -> None:
    """Call `wake` once a transaction that wrote a due time (WATCHED_TABLES) is committed and its
    connection is back in the pool, so the round it starts sees the write."""
    tables = WATCHED_WITH_OTHERS if sync.dialect.name == "postgresql" else WATCHED_TABLES

    @event.listens_for(sync, "after_cursor_execute")
    def _written(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if context is None or not (context.isinsert or context.isupdate):
            return
        table = getattr(getattr(context.compiled, "statement", None), "table", None)
        if getattr(table, "name", None) in tables:
            conn.info["wake_written"] = True

    @event.listens_for(sync, "commit")
    def _committing(conn: Any) -> None:
        if conn.info.pop("wake_written", False):
            conn.info["wake_committed"] = True

    @event.listens_for(sync, "rollback")
    def _rolled_back(conn: Any) -> None:
        conn.info.pop("wake_written", None)

    @event.listens_for(sync.pool, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop("wake_committed", False):
            wake()


class Listener:
    """PostgreSQL: LISTEN on the triggers' channel on a connection of its own; every notification wakes
    the loop. A lost connection is made again with a growing pause (one line per attempt), and the loop
    is woken once it is back (what was written meanwhile was not heard)."""

    def __init__(self, database_url: str, wake: Callable[[], None], *, check_every: float) -> None:
        url = make_url(normalize_url(database_url))
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.wake = wake
        self.check_every = check_every
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def wanted(database_url: str) -> bool:
        return make_url(normalize_url(database_url)).get_backend_name() == "postgresql"

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="wake-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await _end(task)

    async def _run(self) -> None:
        pause = 1.0
        while True:
            try:
                await self._listen()
            except Exception as exc:  # the server is away, or the connection broke: one line, then again
                if self.connected.is_set():
                    pause = 1.0  # it had worked: the first retry is quick again
                first_line = (str(exc).splitlines() or [""])[0]
                log.warning(
                    "not listening for wake-ups (%s: %s); again in %.0f s", type(exc).__name__, first_line, pause
                )
            self.connected.clear()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)

    async def _listen(self) -> None:
        import psycopg  # only with PostgreSQL (the `postgres` extra)

        async with await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT
        ) as conn:
            conn.add_notify_handler(lambda _: self.wake())  # those that come with a statement's answer
            await conn.execute(f"LISTEN {CHANNEL}")
            self.connected.set()
            self.wake()
            # Not `conn.notifies()`: it looks at the socket every 0.1 s, which is most of an idle
            # process's CPU. The event loop watches the socket instead, and libpq reads what came.
            loop = asyncio.get_running_loop()
            fd, readable = conn.pgconn.socket, asyncio.Event()
            loop.add_reader(fd, readable.set)
            try:
                while True:
                    try:
                        async with asyncio.timeout(self.check_every):
                            await readable.wait()
                    except TimeoutError:
                        loop.remove_reader(fd)
                        await conn.execute("SELECT 1")  # a connection that died quietly is found out here
                        loop.add_reader(fd, readable.set)
                        continue
                    readable.clear()
                    conn.pgconn.consume_input()  # raises once the server has gone
                    while conn.pgconn.notifies() is not None:
                        self.wake()
            finally:
                loop.remove_reader(fd)
