"""A look at one tower out of turn, asked by a Harbor event or a Locker Open return page.

A signed Harbor event is looked at at once (`now`): Harbor sends a few per delivery, and each may be
the news. A return page's asks (`ask`) are coalesced in the database (storage `tower_looks`): however
many arrive, from however many processes, a tower is read at most once per LOOK_EVERY on their
account; an ask inside that interval moves to its end rather than being lost, so a real drop-off a
second after the last look is still seen within LOOK_EVERY. The look itself is the watch's
CHECK_TOWER job (bot/jobs.py): durable first (any process's next tick runs it), then started at once
in this process when it is due now.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.jobs import Scheduler
from bot.services import Services
from storage.models import JobKind
from storage.types import utcnow

LOOK_EVERY = timedelta(seconds=2)


class TowerLooks:
    def __init__(self, services: Services, scheduler: Scheduler, *, every: timedelta = LOOK_EVERY) -> None:
        self.services = services
        self.scheduler = scheduler
        self.every = every
        self._background: set[asyncio.Task[None]] = set()

    async def ask(self, tower_id: str) -> bool:
        """Arrange a look at the tower; True when this ask arranged one (False: one already covers it)."""
        tower = tower_id.lower()
        now = utcnow()
        at = await self.services.repo.arrange_look(tower, now=now, every=self.every)
        if at is None:
            return False
        await self.services.repo.schedule(JobKind.CHECK_TOWER, tower, at)
        if at <= now:
            self._start_tick()
        return True

    async def now(self, tower_id: str) -> None:
        """Look at the tower at once (a signed Harbor event named it)."""
        await self.services.repo.schedule(JobKind.CHECK_TOWER, tower_id.lower())  # due now, by the database's clock
        self._start_tick()

    def _start_tick(self) -> None:
        task = asyncio.create_task(self.scheduler.tick())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def cancel(self) -> None:
        for task in list(self._background):
            task.cancel()
