"""Deadlines: holds that end, keys that expire, reminders, pickup links nobody claimed.

There is no timer to lose: each deadline is a column of the row it belongs to (reserved_until,
expires_at, reminder_due_at), and a round looks for what is due. The scheduler runs a round in one
process at a time; each item is a compare-and-set, so even two rounds at once change it once.
"""

from __future__ import annotations

import logging
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
        keys = 0
        # Keys first: a drop-off key that ran out opens the grace period its hold ends with.
        for key in await self.repo.due_keys(now):
            assert key.id is not None
            keys += await self.deliveries.expire_key(key.id)
        holds = 0
        for delivery in await self.repo.due_holds(now):
            assert delivery.id is not None
            holds += (await self.deliveries.expire_if_due(delivery.id)) is not None
        reminders = 0
        for delivery in await self.repo.due_reminders(now):
            assert delivery.id is not None
            reminded = await self.repo.mark_reminded(delivery.id, now=now, notices=notices.reminder(delivery))
            reminders += reminded is not None
        links = 0
        for link in await self.repo.due_links(now):
            assert link.id is not None
            delivery = await self.repo.get_delivery(link.delivery_id)
            # Only worth a word while the item still waits for someone to collect it.
            tell = (
                notices.link_expired(delivery, link.id) if delivery and delivery.state in AFTER_DROPOFF_STATES else []
            )
            links += await self.repo.expire_link(link.id, now=now, notices=tell)
        # Retention: a location shared in a search that was never finished is not kept past this.
        idle = now - timedelta(seconds=self.deliveries.policy.chat_state_retention_seconds)
        chat_states = await self.privacy.forget_stale_chat_states(idle)
        return DueRound(holds, keys, reminders, links, chat_states)
