"""Deadlines: holds that end, keys that expire, reminders, pickup links nobody claimed.

There is no timer to lose: each deadline is a column of the row it belongs to (reserved_until,
expires_at, reminder_due_at), and a round looks for what is due. The scheduler runs a round in one
process at a time; each item is a compare-and-set, so even two rounds at once change it once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.deliveries import notices
from bot.deliveries.service import DeliveryService
from storage.models import AFTER_DROPOFF_STATES
from storage.privacy import PrivacyStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DueRound:
    holds: int = 0
    keys: int = 0
    reminders: int = 0
    links: int = 0
    chat_states: int = 0  # idle drop-off conversations forgotten, with the location they held

    @property
    def total(self) -> int:
        return self.holds + self.keys + self.reminders + self.links + self.chat_states


class Deadlines:
    def __init__(self, deliveries: DeliveryService) -> None:
        self.deliveries = deliveries
        self.repo = deliveries.repo
        self.privacy = PrivacyStore(deliveries.repo.session_factory)

    async def run_due(self) -> DueRound:
        now = self.deliveries.now()
        # Keys first: a drop-off key that ran out opens the grace period its hold ends with.
        keys = [await self._one("key", key.id, self.deliveries.expire_key) for key in await self.repo.due_keys(now)]
        holds = [await self._one("hold", d.id, self._expire_hold) for d in await self.repo.due_holds(now)]
        reminders = [await self._one("reminder", d.id, self._remind) for d in await self.repo.due_reminders(now)]
        links = [await self._one("link", link.id, self._expire_link) for link in await self.repo.due_links(now)]
        # Retention: a location shared in a search that was never finished is not kept past this.
        idle = now - timedelta(seconds=self.deliveries.policy.chat_state_retention_seconds)
        chat_states = await self.privacy.forget_stale_chat_states(idle)
        return DueRound(sum(holds), sum(keys), sum(reminders), sum(links), chat_states)

    async def _one(self, what: str, ident: int | None, run: Callable[[int], Awaitable[bool]]) -> bool:
        """One due item; its failure is logged and retried next round, and holds up no other."""
        assert ident is not None
        try:
            return await run(ident)
        except Exception:
            log.exception("deadline of %s %s failed; trying again next round", what, ident)
            return False

    async def _expire_hold(self, delivery_id: int) -> bool:
        return await self.deliveries.expire_if_due(delivery_id) is not None

    async def _remind(self, delivery_id: int) -> bool:
        delivery = await self.repo.get_delivery(delivery_id)
        if delivery is None:
            return False
        now = self.deliveries.now()
        return await self.repo.mark_reminded(delivery_id, now=now, notices=notices.reminder(delivery)) is not None

    async def _expire_link(self, link_id: int) -> bool:
        link = await self.repo.get_link(link_id)
        if link is None:
            return False
        delivery = await self.repo.get_delivery(link.delivery_id)
        # Only worth a word while the item still waits for someone to collect it.
        waiting = delivery is not None and delivery.state in AFTER_DROPOFF_STATES
        tell = notices.link_expired(delivery, link_id) if waiting and delivery is not None else []
        return await self.repo.expire_link(link_id, now=self.deliveries.now(), notices=tell)
