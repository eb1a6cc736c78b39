"""The locker watch: is the item in, is it out? One Harbor call per tower per round, whatever the number
of deliveries there (docs/harbor-api.md §15: a tower's lockers carry their status).

A round is run by one process at a time (bot/scheduler.py); a Harbor webhook event asks for a round
of one tower at once.

Lockers whose item is in (`in_locker`, nobody given a pickup key yet) are watched too: such a locker
that is no longer occupied was opened with a key the bot did not give for it (a Locker Open link that
outlived the bot's records, docs/harbor-api.md §14, or a Harbor-side release). The delivery is closed as
released and the sender and the admins are told (issue 15).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Collection

from bot.deliveries import notices
from bot.deliveries.model import Change, ChangeKind
from bot.deliveries.service import OCCUPIED, DeliveryService
from bot.harbor.client import HarborClient
from bot.harbor.errors import HarborError
from storage.models import Delivery, DeliveryState, KeyKind, KeyState

log = logging.getLogger(__name__)
S = DeliveryState
WATCHED = (S.AWAITING_DROPOFF, S.IN_LOCKER, S.AWAITING_PICKUP)


class LockerWatch:
    def __init__(self, deliveries: DeliveryService) -> None:
        self.deliveries = deliveries
        self.repo = deliveries.repo
        self.harbor = deliveries.harbor

    async def poll(self, towers: Collection[str] | None = None) -> list[Change]:
        """One round over every watched locker (or those in `towers`)."""
        watched = await self.repo.deliveries_in(WATCHED)
        by_tower: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in watched:
            if delivery.tower_id and (towers is None or delivery.tower_id in towers):
                by_tower[delivery.tower_id].append(delivery)
        if not by_tower:
            return []
        results = await asyncio.gather(*(self.harbor.tower_lockers(t) for t in by_tower), return_exceptions=True)
        held = _HeldLockers(self.harbor)
        changes: list[Change] = []
        for (tower_id, deliveries), result in zip(by_tower.items(), results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, HarborError):
                    raise result
                log.warning("watch: tower %s not read this round: %s", tower_id, type(result).__name__)
                continue
            status = {lk.id: lk.status.name for lk in result}
            for delivery in deliveries:
                assert delivery.id is not None
                change = await self._observe(delivery.id, status.get(delivery.locker_id or -1), held)
                if change is not None:
                    changes.append(change)
        return changes

    async def _observe(self, delivery_id: int, locker_status: str | None, held: _HeldLockers) -> Change | None:
        async with self.deliveries.lock(delivery_id):
            delivery = await self.repo.get_delivery(delivery_id)
            if delivery is None or locker_status is None:
                return None
            if delivery.state is S.AWAITING_DROPOFF and locker_status == OCCUPIED:
                # The status does not say whose item is inside: a lapsed drop-off key may have let the
                # locker go to someone else. Only an occupied locker Harbor says is ours counts.
                if not await held.occupied_by_us(delivery):
                    return None
                moved, used = await self.deliveries.mark_in_locker(delivery)
                return Change(ChangeKind.IN_LOCKER, moved, used) if moved else None
            if delivery.state is S.IN_LOCKER and locker_status != OCCUPIED:
                return await self._opened_without_key(delivery, locker_status)
            if delivery.state is S.AWAITING_PICKUP and locker_status != OCCUPIED:
                # Any state but occupied means the item is out (the locker may already be reserved by
                # another provider's customer by the time we look).
                now = self.deliveries.now()
                used = await self.repo.close_keys(delivery_id, KeyState.USED, kind=KeyKind.PICKUP)
                moved = await self.repo.transition(
                    delivery_id,
                    from_states=[S.AWAITING_PICKUP],
                    to_state=S.COMPLETED,
                    actor_id=None,
                    event="completed",
                    detail=f"Harbor reports the locker {locker_status}",
                    notices=notices.completed(delivery),
                    completed_at=now,
                    closed_at=now,
                    reminder_due_at=None,
                )
                return Change(ChangeKind.COMPLETED, moved, used) if moved else None
            return None

    async def _opened_without_key(self, delivery: Delivery, locker_status: str) -> Change | None:
        assert delivery.id is not None
        admins = sorted(self.deliveries.policy.admin_ids)
        told = [notices.notice(notices.NoticeKind.OPENED_WITHOUT_KEY, delivery.sender_id, delivery)]
        told += [
            notices.notice(notices.NoticeKind.OPENED_WITHOUT_KEY, admin, delivery, role="admin") for admin in admins
        ]
        log.warning("delivery %s: locker %s opened with no key of ours", delivery.id, delivery.locker_id)
        closed = await self.deliveries.close(
            delivery,
            S.RELEASED,
            actor_id=None,
            event="opened_without_key",
            detail=f"Harbor reports the locker {locker_status} although nobody was given a pickup key",
            notices=told,
        )
        return Change(ChangeKind.OPENED_WITHOUT_KEY, closed.delivery, [])


class _HeldLockers:
    """Harbor's list of the lockers we hold, read at most once per watch round and only when needed."""

    def __init__(self, harbor: HarborClient) -> None:
        self._harbor = harbor
        self._occupied: set[tuple[str, int]] | None = None

    async def occupied_by_us(self, delivery: Delivery) -> bool:
        if self._occupied is None:
            try:
                held = await self._harbor.assigned_lockers()
            except HarborError as exc:
                log.warning("watch: could not confirm whose item is inside: %s", type(exc).__name__)
                return False  # asked again next round
            self._occupied = {(lk.tower_id, lk.id) for lk in held if lk.status.name == OCCUPIED}
        return (delivery.tower_id or "", delivery.locker_id or -1) in self._occupied
