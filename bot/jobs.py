"""Timers and the locker watch across processes (DESIGN §8).

Every process runs the same small tick on PTB's JobQueue. A tick claims, under a lease, the shared
jobs that are due (storage ScheduledJob: the deadlines round, the watch round, a tower a Harbor
event named), runs them, and sends the announcements that are due. PostgreSQL's FOR UPDATE SKIP
LOCKED gives each due job to one process; a process that dies holds its claim only until the lease
runs out, and the next tick of another process takes the job over. Nothing is in memory: the
deadlines are columns of their rows, the announcements rows of the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telegram.ext import ContextTypes

from bot.ptb_types import BotApplication
from bot.services import Services
from storage.engine import is_outage
from storage.models import JobKind, ScheduledJob
from storage.types import utcnow

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE

TICK_JOB = "scheduler-tick"
DEADLINES_EVERY = timedelta(seconds=1)
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
        now = utcnow()
        await self.services.repo.ensure_job(JobKind.DEADLINES, "", now)
        await self.services.repo.ensure_job(JobKind.WATCH, "", now)

    async def tick(self) -> None:
        """Run what is due (here or nowhere else), then send what is due."""
        async with self._running:
            await self._run_due_jobs()
        await self.services.notifier.deliver()

    async def _run_due_jobs(self) -> None:
        repo = self.services.repo
        now = utcnow()
        jobs = await repo.claim_due_jobs(self.owner, now=now, lease=self.lease, limit=20)
        for job in jobs:
            try:
                next_due = await self._run(job)
            except Exception:
                log.exception("scheduled %s %s failed; trying again shortly", job.kind.value, job.ref or "")
                await repo.retry_job(job, at=utcnow() + FAILURE_BACKOFF)
                continue
            await repo.finish_job(job, next_due=next_due)

    async def _run(self, job: ScheduledJob) -> datetime | None:
        svc = self.services
        if job.kind is JobKind.DEADLINES:
            await svc.deadlines.run_due()
            return utcnow() + DEADLINES_EVERY
        if job.kind is JobKind.WATCH:
            await svc.watch.poll()
            return utcnow() + self.watch_interval
        if job.kind is JobKind.CHECK_TOWER:
            await svc.watch.poll(towers=[job.ref])
            return None  # done: the row goes
        log.warning("unknown scheduled job kind %s", job.kind)
        return None

    async def check_tower_now(self, tower_id: str) -> None:
        """A Harbor event named this tower: look at once (any process may; this one starts now)."""
        await self.services.repo.schedule(JobKind.CHECK_TOWER, tower_id.lower(), utcnow())
        await self.tick()


def start(application: BotApplication, scheduler: Scheduler) -> None:
    job_queue = application.job_queue
    assert job_queue is not None
    for job in job_queue.get_jobs_by_name(TICK_JOB):
        job.schedule_removal()
    interval = scheduler.services.settings.scheduler_tick_seconds
    job_queue.run_repeating(_tick, interval=interval, first=0.05, name=TICK_JOB, job_kwargs={"max_instances": 1})


async def _tick(context: Context) -> None:
    scheduler: Scheduler = context.application.bot_data["scheduler"]
    try:
        await scheduler.tick()
    except Exception as exc:
        if not is_outage(exc):
            raise
        # The database is away: one line per tick, not a traceback; the next tick tries again.
        log.warning("scheduler tick skipped, the database is away: %s", type(exc).__name__)
