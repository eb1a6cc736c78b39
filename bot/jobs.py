"""Timers and the locker watch across processes (docs/design.md §8).

Every process runs the same tick whenever its wake loop finds something due (bot/wake.py). A tick
claims, under a lease, the shared jobs that are due (storage ScheduledJob: the deadlines round, the
watch round, a tower a Harbor event named), runs them, and sends the announcements that are due.
PostgreSQL's FOR UPDATE SKIP LOCKED gives each due job to one process; the lease is measured by the
database's clock and renewed while the job runs (bot/leases.py), so a long round or a process whose
clock is off never lets a second process run a job still running; a process that dies stops
renewing, and another process takes the job over when its lease runs out (that moment is a due time
the wake loops see). The deadlines job is due at the earliest deadline (at most WAKE_MAX_SECONDS on,
at least a second after its last run), not every second. Nothing is in memory: the deadlines are
columns of their rows, the announcements rows of the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from bot.leases import renewing
from bot.services import Services
from storage.models import JobKind, ScheduledJob

log = logging.getLogger(__name__)

DEADLINES_EVERY = timedelta(seconds=1)  # the deadlines round runs at most this often
MIN_LEASE, MAX_LEASE = 2.0, 30.0
FAILURE_BACKOFF = timedelta(seconds=5)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Scheduler:
    services: Services
    owner: str = field(default_factory=process_name)
    _running: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def watch_interval(self) -> timedelta:
        settings = self.services.settings
        # With Harbor's webhooks arriving, polling is only the fallback for an event that was lost.
        seconds = (
            settings.harbor_webhook_poll_seconds if settings.harbor_webhook_secret else settings.locker_poll_seconds
        )
        return timedelta(seconds=seconds)

    @property
    def lease(self) -> timedelta:
        """Long enough for a round, short enough that another process takes over within one interval."""
        return timedelta(seconds=max(MIN_LEASE, min(MAX_LEASE, self.watch_interval.total_seconds())))

    async def ensure(self) -> None:
        """The singletons exist from the first start of any process on."""
        now = await self.services.repo.database_now()
        await self.services.repo.ensure_job(JobKind.DEADLINES, "", now)
        await self.services.repo.ensure_job(JobKind.WATCH, "", now)
        # Issue 17: the first walk of Harbor's locations is a search's (on demand), or one interval on.
        await self.services.repo.ensure_job(JobKind.LOCATIONS, "", now + self.services.settings.locations_refresh)

    async def tick(self) -> None:
        """Run what is due (here or nowhere else), then send what is due."""
        async with self._running:
            await self._run_due_jobs()
        await self.services.notifier.deliver()

    async def _run_due_jobs(self) -> None:
        repo = self.services.repo
        jobs = await repo.claim_due_jobs(self.owner, lease=self.lease, limit=20)
        if not jobs:
            return
        # The whole batch stays leased until its last job ends: the jobs run one after another.
        renew = partial(repo.renew_jobs, jobs, lease=self.lease)
        async with renewing(renew, self.lease, f"{len(jobs)} job(s)"):
            for job in jobs:
                try:
                    next_in = await self._run(job)
                except Exception:
                    log.exception("scheduled %s %s failed; trying again shortly", job.kind.value, job.ref or "")
                    await repo.retry_job(job, after=FAILURE_BACKOFF)
                    continue
                await repo.finish_job(job, next_in=next_in)

    async def _run(self, job: ScheduledJob) -> timedelta | None:
        """Run the job; returns when it is due again (from now, by the database's clock), or None: done."""
        svc = self.services
        if job.kind is JobKind.DEADLINES:
            await svc.deadlines.run_due()
            return await self._deadlines_again()
        if job.kind is JobKind.WATCH:
            await svc.watch.poll()
            return self.watch_interval
        if job.kind is JobKind.CHECK_TOWER:
            await svc.watch.poll(towers=[job.ref])
            return None  # done: the row goes
        if job.kind is JobKind.LOCATIONS:
            return await svc.directory.refresh(job)
        log.warning("unknown scheduled job kind %s", job.kind)
        return None

    async def _deadlines_again(self) -> timedelta:
        """The next round at the earliest deadline left, within [DEADLINES_EVERY, WAKE_MAX_SECONDS]: one
        written later and earlier than that pulls the job earlier (bot/wake.py)."""
        settings = self.services.settings
        due = await self.services.repo.wake_times(
            chat_state_retention=timedelta(seconds=settings.chat_state_retention_seconds)
        )
        longest = timedelta(seconds=settings.wake_max_seconds)
        if due.deadline is None:
            return longest
        return max(DEADLINES_EVERY, min(longest, due.deadline - due.now))

    async def check_tower_now(self, tower_id: str) -> None:
        """A Harbor event named this tower: look at once (any process may; this one starts now)."""
        await self.services.repo.schedule(JobKind.CHECK_TOWER, tower_id.lower())
        await self.tick()
