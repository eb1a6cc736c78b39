"""What the admin commands ask of the bot: the lockers Harbor says we hold joined with the open
deliveries (orphans are the ones none of them uses), delivery lists and one delivery's history,
releases, couriers and stats. No Telegram here; the screens are in bot/ui/admin_views.py.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot.deliveries.model import Closed, DeliveryProblem, ServiceUnavailable
from bot.handover import HandoverService
from bot.harbor.errors import HarborError
from bot.harbor.models import Locker
from storage.models import CollectorKind, Delivery, DeliveryEvent, DeliveryState, OutboxState, Role, User
from storage.types import utcnow

log = logging.getLogger(__name__)

RECENT = 20  # deliveries in a /deliveries list
PEOPLE = 10  # people a name search looks at
LOCKER_WORDS = ("locker", "casillero")  # `/deliveries locker 57` in either language
# An item is in the locker: releasing frees it for whoever opens the door next, so the admin confirms.
ITEM_INSIDE = frozenset({DeliveryState.IN_LOCKER, DeliveryState.AWAITING_PICKUP})


class LockerInUse(DeliveryProblem):
    """An open delivery took the locker since the admin's list was made: /release is the way."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery


@dataclass(frozen=True, slots=True)
class HeldLocker:
    """A locker Harbor says we hold, and the open delivery using it (None: an orphan)."""

    locker: Locker
    owner: Delivery | None


@dataclass(frozen=True, slots=True)
class LockersReport:
    held: list[HeldLocker]  # by tower, then locker id

    @property
    def orphans(self) -> list[Locker]:
        return [h.locker for h in self.held if h.owner is None]


@dataclass(frozen=True, slots=True)
class DeliveryList:
    deliveries: list[Delivery]  # newest first
    people: Mapping[int, User]  # the senders the bot knows, by id


class SearchKind(StrEnum):
    PERSON = "person"  # @username or a Telegram id
    NAME = "name"  # part of a name
    LOCKER = "locker"  # locker NAME or TOWER/NAME


@dataclass(frozen=True, slots=True)
class DeliverySearch:
    """What `/deliveries <who or where>` found: the people it matched (none for a locker) and their deliveries."""

    kind: SearchKind
    given: str  # what was searched for, as typed (the locker part only, for a locker)
    people: list[User]  # the matched people the bot knows (a bare id may match deliveries without one)
    found: DeliveryList


@dataclass(frozen=True, slots=True)
class DeliveryHistory:
    delivery: Delivery
    events: list[DeliveryEvent]  # oldest first
    people: Mapping[int, User]  # sender, collector and actors the bot knows, by id


@dataclass(frozen=True, slots=True)
class Stats:
    today: Mapping[DeliveryState, int]  # deliveries created since midnight UTC, by state
    week: Mapping[DeliveryState, int]  # ... in the last 7 days
    pickups: int  # completed in the last 7 days (with a drop-off and a pickup time)
    median_seconds: float | None  # drop-off to pickup, over those; None without any
    held: int | None  # lockers held at Harbor now; None when Harbor did not answer


@dataclass(frozen=True, slots=True)
class CourierChange:
    user: User
    changed: bool  # False: they already were (or were not) a courier, nothing was done
    returned_jobs: list[int] = field(default_factory=list)  # open jobs given back to their senders


@dataclass(frozen=True, slots=True)
class Released:
    delivery: Delivery
    sender: User | None  # whose status message shows the delivery, in their language


class AdminService:
    def __init__(self, handover: HandoverService, *, now: Callable[[], datetime] = utcnow) -> None:
        # Stats windows compare with row timestamps, which are written with the wall clock (utcnow).
        self.handover = handover
        self.repo = handover.repo
        self.harbor = handover.harbor
        self.now = now

    # lockers ---------------------------------------------------------------------------------

    async def lockers(self) -> LockersReport:
        """Harbor's assigned lockers, each with the open delivery holding it; ServiceUnavailable when
        Harbor does not answer."""
        try:
            assigned = await self.harbor.assigned_lockers()
        except HarborError as exc:
            raise ServiceUnavailable(str(exc)) from exc
        if not assigned:
            return LockersReport([])
        owners = await self.repo.open_by_locker()
        held = sorted(assigned, key=lambda lk: (lk.tower_id, lk.id))
        return LockersReport([HeldLocker(lk, owners.get((lk.tower_id.lower(), lk.id))) for lk in held])

    async def release_locker(self, tower_id: str, locker_id: int) -> None:
        """Free a locker no open delivery uses; LockerInUse if one took it, ServiceUnavailable if
        Harbor does not answer."""
        owner = (await self.repo.open_by_locker()).get((tower_id.lower(), locker_id))
        if owner is not None:
            raise LockerInUse(owner)
        await self.handover.release_locker(tower_id, locker_id)

    # deliveries ------------------------------------------------------------------------------

    async def deliveries(self, state: DeliveryState | None = None, *, limit: int = RECENT) -> DeliveryList:
        return await self._listed(await self.repo.recent_deliveries(state=state, limit=limit))

    async def search(self, text: str, *, limit: int = RECENT) -> DeliverySearch:
        """Deliveries by person (``@username``, a Telegram id, part of a name) or by locker
        (``locker 57``, ``locker TOWER/57`` with the tower id or its first characters)."""
        text = " ".join(text.split())
        word, _, rest = text.partition(" ")
        if word.lower() in LOCKER_WORDS and rest:
            tower, _, locker = rest.rpartition("/")
            recent = await self.repo.deliveries_at_locker(locker.strip(), tower_prefix=tower.strip(), limit=limit)
            return DeliverySearch(SearchKind.LOCKER, rest, [], await self._listed(recent))
        if text.startswith("@") or text.isdigit():
            user = (
                await self.repo.get_user(int(text)) if text.isdigit() else await self.repo.find_user_by_username(text)
            )
            ids = [user.id] if user is not None else ([int(text)] if text.isdigit() else [])
            recent = await self.repo.deliveries_of(ids, limit=limit)
            return DeliverySearch(SearchKind.PERSON, text, [user] if user else [], await self._listed(recent))
        people = await self.repo.find_users_by_name(text, limit=PEOPLE)
        recent = await self.repo.deliveries_of([p.id for p in people], limit=limit)
        return DeliverySearch(SearchKind.NAME, text, people, await self._listed(recent))

    async def _listed(self, recent: list[Delivery]) -> DeliveryList:
        return DeliveryList(recent, await self._people(d.sender_id for d in recent))

    async def delivery(self, delivery_id: int) -> Delivery | None:
        return await self.repo.get_delivery(delivery_id)

    async def history(self, delivery_id: int) -> DeliveryHistory | None:
        delivery = await self.repo.get_delivery(delivery_id)
        if delivery is None:
            return None
        events = await self.repo.events(delivery_id)
        ids = [delivery.sender_id, delivery.collector_id, *(e.actor_id for e in events)]
        return DeliveryHistory(delivery, events, await self._people(ids))

    async def _people(self, ids: Iterable[int | None]) -> dict[int, User]:
        people: dict[int, User] = {}
        for user_id in dict.fromkeys(i for i in ids if i is not None):
            user = await self.repo.get_user(user_id)
            if user is not None:
                people[user_id] = user
        return people

    # releases --------------------------------------------------------------------------------

    async def release(self, delivery_id: int, admin_id: int, *, expect: DeliveryState | None = None) -> Released:
        """Free the locker at Harbor and close the delivery, if it is still in state ``expect`` when
        given (HandoverService.release raises what it raises: DeliveryNotFound, WrongState — an open
        delivery in it changed since the admin was asked —, ServiceUnavailable)."""
        closed: Closed = await self.handover.release(delivery_id, admin_id, expect=expect)
        delivery = closed.delivery
        return Released(delivery, await self.repo.get_user(delivery.sender_id))

    async def unreachable_after_release(self, delivery_id: int) -> list[str]:
        """The chats the release's announcements could not be sent to (once the outbox was sent)."""
        prefix = f"released:{delivery_id}:"
        return [
            str(row.chat_id)
            for row in await self.repo.outbox()
            if row.dedupe_key.startswith(prefix) and row.state is OutboxState.FAILED
        ]

    # couriers --------------------------------------------------------------------------------

    async def set_courier(self, ref: str, on: bool) -> CourierChange:
        """Make someone a courier or take it away (UnknownUser if the bot does not know them); a removed
        courier's open jobs go back to their senders."""
        before = await self.handover.find_user(ref)
        if (before.role is Role.COURIER) == on:
            return CourierChange(before, changed=False)
        jobs = [d.id for d in await self.handover.pickups_for(before.id) if d.collector_kind is CollectorKind.COURIER]
        user = await self.handover.set_courier(str(before.id), on)
        return CourierChange(user, changed=True, returned_jobs=[] if on else [i for i in jobs if i is not None])

    async def couriers(self) -> list[User]:
        return await self.handover.couriers()

    # stats -----------------------------------------------------------------------------------

    async def stats(self) -> Stats:
        held: int | None
        try:
            held = len(await self.harbor.assigned_lockers())
        except HarborError as exc:
            log.warning("/stats: Harbor did not answer: %s", exc)
            held = None
        now = self.now()
        today_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        week_start = now - timedelta(days=7)
        today = await self.repo.count_by_state(since=today_start)
        week = await self.repo.count_by_state(since=week_start)
        durations = await self.repo.pickup_durations(since=week_start)
        median = statistics.median(durations) if durations else None
        return Stats(today=today, week=week, pickups=len(durations), median_seconds=median, held=held)
