"""The delivery service: the state machine of DESIGN §3, from a shared location to an item in a locker.

No Telegram here and no SQL: it takes the Harbor client, the repository and a clock, and returns
dataclasses and storage rows that the handlers render. Every transition is persisted (with an event
row) before anyone is told, and guarded so that a double tap or a job racing a handler changes a
delivery once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from bot.config import Settings
from bot.geo import Point, box_around, distance_km
from bot.harbor.client import HarborClient
from bot.harbor.errors import (
    HarborAuthError,
    HarborError,
    HarborNotAvailable,
    HarborNotFound,
    HarborOutcomeUnknown,
)
from bot.harbor.models import Location, Locker, LockerToken, LockerType
from bot.keys import LockerKey
from storage.models import Delivery, DeliveryState, IssuedKey, KeyKind, KeyState, User
from storage.repository import Repository
from storage.types import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

S = DeliveryState
PRE_DROPOFF = (S.DRAFT, S.RESERVED, S.AWAITING_DROPOFF)
OCCUPIED = "occupied"
PLACE_TTL_SECONDS = 600


# --- what the service returns and raises ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings the service obeys (a slice of bot.config.Settings)."""

    reservation_seconds: int = 300
    key_seconds: int = 300
    search_radius_km: float = 5.0
    max_radius_km: float = 50.0
    max_results: int = 5
    key_env: str = "sandbox"
    include_sdk_token: bool = True
    pickup_link_days: int = 7
    reminder_hours: float = 24.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            reservation_seconds=settings.reservation_seconds,
            key_seconds=settings.key_seconds,
            search_radius_km=settings.search_radius_km,
            key_env=settings.key_env,
            include_sdk_token=settings.key_include_sdk_token,
            pickup_link_days=settings.pickup_link_days,
            reminder_hours=settings.reminder_hours,
        )


@dataclass(frozen=True, slots=True)
class Person:
    """Who is talking to the bot, as the front end knows them."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Nearby:
    location: Location
    distance_km: float


@dataclass(frozen=True, slots=True)
class NearbyResult:
    center: Point
    radius_km: float
    places: list[Nearby]


@dataclass(frozen=True, slots=True)
class SizeOffer:
    type: LockerType
    free: int


@dataclass(frozen=True, slots=True)
class LocationOffer:
    location: Location
    sizes: list[SizeOffer]


@dataclass(frozen=True, slots=True)
class IssuedKeyView:
    """A key just issued: the material for the QR (never stored) and the record that is."""

    key: LockerKey
    record: IssuedKey
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class KeyExpired:
    record: IssuedKey
    delivery: Delivery
    renewable: bool


@dataclass(frozen=True, slots=True)
class Closed:
    """A delivery that was closed (cancelled, expired, released) and the keys that died with it."""

    delivery: Delivery
    voided_keys: list[IssuedKey] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Change:
    """Something the locker watch saw: `in_locker` or `completed`."""

    kind: str
    delivery: Delivery
    used_keys: list[IssuedKey]


class DeliveryProblem(Exception):
    """Something the user can act on; the handlers turn each subclass into a friendly message."""


class DeliveryNotFound(DeliveryProblem):
    """Unknown, or not this person's: both look the same from outside."""


class WrongState(DeliveryProblem):
    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.state)
        self.delivery = delivery


class AlreadyOpen(DeliveryProblem):
    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery


class SizeRanOut(DeliveryProblem):
    def __init__(self, offer: LocationOffer, size_name: str) -> None:
        super().__init__(offer.location.id)
        self.offer = offer
        self.size_name = size_name


class LocationNotFound(DeliveryProblem):
    pass


class KeyStillValid(DeliveryProblem):
    def __init__(self, record: IssuedKey) -> None:
        super().__init__(record.id)
        self.record = record


class LockerLost(DeliveryProblem):
    """The locker went to someone else while the customer had no valid key; the delivery expired."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery


class ItemAlreadyInside(DeliveryProblem):
    """Too late to cancel: the item is in the locker.

    `just_seen` when this call is what noticed it (the watch had not yet): the caller then announces
    it as the watch would, retiring `used_keys`.
    """

    def __init__(
        self, delivery: Delivery, *, just_seen: bool = False, used_keys: list[IssuedKey] | None = None
    ) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery
        self.just_seen = just_seen
        self.used_keys = used_keys or []


class ServiceUnavailable(DeliveryProblem):
    """Harbor did not answer (or answered with an error we cannot act on); nothing was changed."""


# --- the service ----------------------------------------------------------------------------------


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


class DeliveryService:
    def __init__(
        self,
        harbor: HarborClient,
        repo: Repository,
        policy: Policy,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.harbor = harbor
        self.repo = repo
        self.policy = policy
        self.now = now
        self.locks = KeyedLocks()
        # Name, address, zone and position of a location change rarely; free lockers are always read fresh.
        self._places: dict[int, tuple[float, Location]] = {}

    # people --------------------------------------------------------------------------------

    def remember(self, person: Person) -> User:
        return self.repo.upsert_user(
            person.id,
            first_name=person.first_name,
            last_name=person.last_name,
            username=person.username,
            language=person.language,
        )

    # finding a locker ----------------------------------------------------------------------

    async def nearby(self, center: Point) -> NearbyResult:
        """Locations with free lockers, nearest first, in a box widened (x2) until one is found."""
        radius = min(self.policy.search_radius_km, self.policy.max_radius_km)
        while True:
            found = await _call(self.harbor.locations_in_area(*box_around(center, radius)))
            for loc in found:
                self._places[loc.id] = (time.monotonic(), loc)
            places = sorted(
                (
                    Nearby(loc, distance_km(center, (loc.lat, loc.lon)))
                    for loc in found
                    if loc.availability is not None and loc.availability.counts.available > 0
                ),
                key=lambda n: n.distance_km,
            )
            # The box's corners reach further than its radius; keep only what is within it.
            places = [p for p in places if p.distance_km <= radius]
            if places or radius >= self.policy.max_radius_km:
                return NearbyResult(center, radius, places[: self.policy.max_results])
            radius = min(radius * 2, self.policy.max_radius_km)

    async def location_offer(self, location_id: int) -> LocationOffer:
        """A location and its free lockers per size, read fresh from the lockers themselves."""
        location, lockers = await asyncio.gather(
            self._location(location_id),
            _call(self.harbor.location_lockers(location_id), not_found=LocationNotFound),
        )
        return LocationOffer(location, _free_sizes(lockers))

    # drop-off ------------------------------------------------------------------------------

    def open_dropoff(self, user_id: int) -> Delivery | None:
        """The user's delivery that has not reached a locker yet (one at a time)."""
        for delivery in self.repo.open_deliveries_of(user_id):
            if delivery.sender_id == user_id and delivery.state in PRE_DROPOFF:
                return delivery
        return None

    def last_dropped_off(self, user_id: int) -> Delivery | None:
        """The user's newest delivery whose item is already in a locker: too late to cancel."""
        inside = [
            d
            for d in self.repo.open_deliveries_of(user_id)
            if d.sender_id == user_id and d.state in (S.IN_LOCKER, S.AWAITING_PICKUP)
        ]
        return max(inside, key=lambda d: d.id or 0, default=None)

    async def reserve(self, user_id: int, location_id: int, size_id: int) -> Delivery:
        """Hold a free locker of that size; try the next one when someone else was faster."""
        async with self.locks(("user", user_id)):
            existing = self.open_dropoff(user_id)
            if existing is not None:
                raise AlreadyOpen(existing)
            offer_location, lockers = await asyncio.gather(
                self._location(location_id),
                _call(self.harbor.location_lockers(location_id), not_found=LocationNotFound),
            )
            # A locker just emptied by a pickup looks available before the watch has closed its
            # delivery; handing it out then would let the old collector's key open the new item.
            in_use = self.repo.open_by_locker()
            candidates = sorted(
                (
                    lk
                    for lk in lockers
                    if lk.is_available and lk.type.id == size_id and (lk.tower_id, lk.id) not in in_use
                ),
                key=lambda lk: (lk.is_low_locker, lk.id),  # a low locker only when nothing else is free
            )
            if not candidates:
                size_name = next((lk.type.name for lk in lockers if lk.type.id == size_id), str(size_id))
                raise SizeRanOut(LocationOffer(offer_location, _free_sizes(lockers)), size_name)
            delivery = self.repo.create_delivery(
                Delivery(
                    sender_id=user_id,
                    location_id=offer_location.id,
                    location_name=offer_location.name,
                    address=offer_location.address,
                    timezone=offer_location.timezone,
                    lat=offer_location.lat,
                    lon=offer_location.lon,
                    size_id=size_id,
                    size_name=candidates[0].type.name,
                ),
                actor_id=user_id,
            )
            assert delivery.id is not None
            for locker in candidates:
                try:
                    await self.harbor.reserve(locker.tower_id, locker.id, self.policy.reservation_seconds)
                except HarborNotAvailable:
                    log.info("delivery %s: locker %s taken meanwhile, trying the next", delivery.id, locker.id)
                    continue
                except HarborOutcomeUnknown:
                    holds = await self._holds(locker, "reserved")
                    if not holds:
                        if holds is None:
                            # Harbor may hold it for us with no delivery to show for it: give it back.
                            await self._cancel_quietly(locker)
                        self._abandon(delivery.id, "harbor_outcome_unknown")
                        raise ServiceUnavailable("reservation outcome unknown") from None
                    log.info("delivery %s: reservation timed out but Harbor holds it for us", delivery.id)
                except HarborError as exc:
                    self._abandon(delivery.id, f"harbor_error: {type(exc).__name__}")
                    raise ServiceUnavailable(str(exc)) from exc
                reserved = self.repo.transition(
                    delivery.id,
                    from_states=[S.DRAFT],
                    to_state=S.RESERVED,
                    actor_id=user_id,
                    event="reserved",
                    detail=f"locker {locker.name} (id {locker.id}) in tower {locker.tower_id}",
                    tower_id=locker.tower_id,
                    locker_id=locker.id,
                    locker_name=locker.name,
                    low_locker=locker.is_low_locker,
                    reserved_until=self.now() + timedelta(seconds=self.policy.reservation_seconds),
                )
                assert reserved is not None
                return reserved
            self._abandon(delivery.id, "size_ran_out")
            try:
                fresh = await self.harbor.location_lockers(location_id)
            except HarborError:
                fresh = [lk for lk in lockers if lk.type.id != size_id]
            raise SizeRanOut(LocationOffer(offer_location, _free_sizes(fresh)), delivery.size_name)

    async def issue_dropoff_key(self, delivery_id: int, user_id: int, chat_id: int) -> IssuedKeyView:
        async with self.locks(("delivery", delivery_id)):
            delivery = self.sent_by(delivery_id, user_id)
            if delivery.state not in (S.RESERVED, S.AWAITING_DROPOFF):
                raise WrongState(delivery)
            self.refuse_if_key_live(delivery_id, KeyKind.DROPOFF, user_id)
            assert delivery.tower_id
            assert delivery.locker_id is not None
            try:
                token = await self.harbor.dropoff_token(
                    delivery.tower_id,
                    delivery.locker_id,
                    duration=self.policy.key_seconds,
                    client_info=client_info(delivery_id),
                )
            except (HarborNotAvailable, HarborAuthError, HarborNotFound) as exc:
                if isinstance(exc, HarborAuthError) and exc.status_code != 403:
                    raise ServiceUnavailable(str(exc)) from exc
                lost = self.close(delivery, S.EXPIRED, actor_id=None, event="locker_lost", detail=exc.detail)
                raise LockerLost(lost.delivery) from exc
            except HarborError as exc:
                raise ServiceUnavailable(str(exc)) from exc
            return await self.record_key(
                delivery, token, KeyKind.DROPOFF, user_id, chat_id, to_state=S.AWAITING_DROPOFF
            )

    async def record_key(
        self,
        delivery: Delivery,
        token: LockerToken,
        kind: KeyKind,
        user_id: int,
        chat_id: int,
        *,
        to_state: DeliveryState,
    ) -> IssuedKeyView:
        """Turn a Harbor locker token into the key for the QR, and record (never the material) who got it."""
        assert delivery.id is not None
        sdk_token = None
        if self.policy.include_sdk_token:
            # The locker token already exists at Harbor; if this fails it simply expires unused.
            sdk_token = (await _call(self.harbor.tower_access_token())).get_secret_value()
        key = LockerKey(
            kind=kind.value,  # type: ignore[arg-type]
            env=self.policy.key_env,  # type: ignore[arg-type]
            tower_id=token.tower_id,
            locker_id=token.locker.id,
            locker_name=token.locker.name,
            payload=token.payload.get_secret_value(),
            payload_auth=token.payload_auth.get_secret_value(),
            expires=token.expires,
            sdk_token=sdk_token,
        )
        record = self.repo.add_key(
            IssuedKey(
                delivery_id=delivery.id,
                kind=kind,
                user_id=user_id,
                chat_id=chat_id,
                harbor_token_id=None if token.id is None else str(token.id),
                expires_at=self.now() + timedelta(seconds=self.policy.key_seconds),
            )
        )
        moved = self.repo.transition(
            delivery.id,
            from_states=[delivery.state],
            to_state=to_state,
            actor_id=user_id,
            event=f"{kind.value}_key_issued",
            detail=f"key #{record.id}, Harbor token {record.harbor_token_id}",
            reserved_until=None if kind is KeyKind.DROPOFF else delivery.reserved_until,
        )
        return IssuedKeyView(key, record, moved or delivery)

    def attach_key_message(self, key_id: int, message_id: int) -> None:
        self.repo.set_key_message(key_id, message_id)

    def attach_status_message(self, delivery_id: int, chat_id: int, message_id: int) -> None:
        self.repo.update_delivery(delivery_id, status_chat_id=chat_id, status_message_id=message_id)

    async def cancel(self, delivery_id: int, user_id: int) -> Closed:
        """The sender gives the locker back before the drop-off."""
        async with self.locks(("delivery", delivery_id)):
            delivery = self.sent_by(delivery_id, user_id)
            if delivery.state in (S.IN_LOCKER, S.AWAITING_PICKUP):
                raise ItemAlreadyInside(delivery)
            if delivery.state not in PRE_DROPOFF:
                raise WrongState(delivery)
            await self._give_back(delivery)
            return self.close(delivery, S.CANCELLED, actor_id=user_id, event="cancelled")

    async def expire_if_due(self, delivery_id: int) -> Closed | Change | None:
        """The hold ended: a reservation nobody used, or a drop-off whose last key ran out long ago."""
        async with self.locks(("delivery", delivery_id)):
            delivery = self.repo.get_delivery(delivery_id)
            if (
                delivery is None
                or delivery.state not in (S.RESERVED, S.AWAITING_DROPOFF)
                or delivery.reserved_until is None
                or delivery.reserved_until > self.now() + timedelta(seconds=1)
                or self.repo.keys_of(delivery_id, kind=KeyKind.DROPOFF, states=[KeyState.ACTIVE])
            ):
                return None
            try:
                await self._give_back(delivery)
            except ItemAlreadyInside as inside:
                # The watch had not seen it yet: the customer is told it is in, not that it expired.
                return Change("in_locker", inside.delivery, inside.used_keys)
            except ServiceUnavailable:
                # Harbor ends reservations and unused tokens by itself, so nothing stays held.
                log.warning("delivery %s: could not give the locker back at expiry; Harbor will", delivery_id)
            return self.close(delivery, S.EXPIRED, actor_id=None, event="hold_expired")

    async def expire_key(self, key_id: int) -> KeyExpired | None:
        key = self.repo.get_key(key_id)
        if key is None or key.state is not KeyState.ACTIVE:
            return None
        async with self.locks(("delivery", key.delivery_id)):
            if key.expires_at > self.now() + timedelta(seconds=1):
                return None
            expired = self.repo.set_key_state(key_id, KeyState.EXPIRED)
            if expired is None:
                return None
            delivery = self.repo.get_delivery(key.delivery_id)
            assert delivery is not None
            assert delivery.id is not None
            self.repo.add_event(delivery.id, f"{key.kind.value}_key_expired", detail=f"key #{key_id}")
            renewable = False
            if key.kind is KeyKind.DROPOFF and delivery.state is S.AWAITING_DROPOFF:
                # Harbor gives the locker back when an unused drop-off token expires; the customer
                # gets one more hold period to ask for a new key before the delivery expires.
                delivery = (
                    self.repo.update_delivery(
                        delivery.id, reserved_until=self.now() + timedelta(seconds=self.policy.reservation_seconds)
                    )
                    or delivery
                )
                renewable = True
            elif key.kind is KeyKind.PICKUP and delivery.state in (S.IN_LOCKER, S.AWAITING_PICKUP):
                renewable = True
            return KeyExpired(expired, delivery, renewable)

    # watching lockers ----------------------------------------------------------------------

    async def poll(self) -> list[Change]:
        """One Harbor call per tower, however many lockers are watched there."""
        watched = self.repo.deliveries_in([S.AWAITING_DROPOFF, S.AWAITING_PICKUP])
        towers: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in watched:
            if delivery.tower_id:
                towers[delivery.tower_id].append(delivery)
        if not towers:
            return []
        results = await asyncio.gather(*(self.harbor.tower_lockers(t) for t in towers), return_exceptions=True)
        held = _HeldLockers(self.harbor)
        changes: list[Change] = []
        for (tower_id, deliveries), result in zip(towers.items(), results, strict=True):
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
        async with self.locks(("delivery", delivery_id)):
            delivery = self.repo.get_delivery(delivery_id)
            if delivery is None or locker_status is None:
                return None
            now = self.now()
            if delivery.state is S.AWAITING_DROPOFF and locker_status == OCCUPIED:
                # The status does not say whose item is inside: a lapsed drop-off key may have let the
                # locker go to someone else. Only an occupied locker Harbor says is ours counts.
                if not await held.occupied_by_us(delivery):
                    return None
                moved, used = self._mark_in_locker(delivery)
                return Change("in_locker", moved, used) if moved else None
            if delivery.state is S.AWAITING_PICKUP and locker_status != OCCUPIED:
                # Any state but occupied means the item is out (the locker may already be reserved by
                # another provider's customer by the time we look).
                used = self.repo.close_keys(delivery_id, KeyState.USED, kind=KeyKind.PICKUP)
                moved = self.repo.transition(
                    delivery_id,
                    from_states=[S.AWAITING_PICKUP],
                    to_state=S.COMPLETED,
                    actor_id=None,
                    event="completed",
                    detail=f"Harbor reports the locker {locker_status}",
                    completed_at=now,
                    closed_at=now,
                    reminder_due_at=None,
                )
                return Change("completed", moved, used) if moved else None
            return None

    async def _location(self, location_id: int) -> Location:
        """The location's details, from the last search when it is recent (one GET less per step)."""
        seen = self._places.get(location_id)
        if seen is not None and time.monotonic() - seen[0] < PLACE_TTL_SECONDS:
            return seen[1]
        location = await _call(self.harbor.location(location_id), not_found=LocationNotFound)
        self._places[location_id] = (time.monotonic(), location)
        return location

    # lists -----------------------------------------------------------------------------------

    def open_deliveries(self, user_id: int) -> list[Delivery]:
        return self.repo.open_deliveries_of(user_id)

    def get(self, delivery_id: int) -> Delivery | None:
        return self.repo.get_delivery(delivery_id)

    # internals -------------------------------------------------------------------------------

    def sent_by(self, delivery_id: int, user_id: int) -> Delivery:
        delivery = self.repo.get_delivery(delivery_id)
        if delivery is None or delivery.sender_id != user_id:
            raise DeliveryNotFound(delivery_id)
        return delivery

    def refuse_if_key_live(self, delivery_id: int, kind: KeyKind, user_id: int) -> None:
        now = self.now()
        for record in self.repo.keys_of(delivery_id, kind=kind, states=[KeyState.ACTIVE]):
            if record.user_id == user_id and record.expires_at > now:
                raise KeyStillValid(record)

    async def _holds(self, locker: Locker, status: str) -> bool | None:
        """After a POST with no answer: does Harbor now list this locker as ours, in `status`?
        None when Harbor cannot tell us either."""
        try:
            held = await self.harbor.assigned_lockers()
        except HarborError:
            return None
        return any(lk.id == locker.id and lk.status.name == status for lk in held)

    async def _cancel_quietly(self, locker: Locker) -> None:
        """Best effort; a reservation nobody cancels still lapses at Harbor when its time is up."""
        try:
            await self.harbor.cancel_reservation(locker.tower_id, locker.id)
        except HarborError as exc:
            log.warning("locker %s: reservation of unknown outcome not cancelled: %s", locker.id, type(exc).__name__)

    async def _give_back(self, delivery: Delivery) -> None:
        """Cancel the reservation or release the locker at Harbor; refuse if the item is already in."""
        if delivery.tower_id is None or delivery.locker_id is None:
            return
        try:
            if delivery.state is S.RESERVED:
                try:
                    await self.harbor.cancel_reservation(delivery.tower_id, delivery.locker_id)
                    return
                except HarborNotAvailable:
                    # Not reserved any more: it lapsed, or a drop-off key whose answer was lost turned
                    # it into a rental that would stay held by nobody. Harbor's own list tells which.
                    pass
            # Only lockers Harbor counts as ours: an occupied locker of someone else is not our item.
            held = await self.harbor.assigned_lockers()
            current = next((lk for lk in held if lk.id == delivery.locker_id), None)
            if current is None:
                return
            if current.status.name == OCCUPIED:
                moved, used = self._mark_in_locker(delivery)
                raise ItemAlreadyInside(moved or delivery, just_seen=moved is not None, used_keys=used)
            await self.harbor.release(delivery.tower_id, delivery.locker_id)
        except (HarborNotAvailable, HarborNotFound):
            # Already given back (expired at Harbor): the goal is reached.
            return
        except HarborAuthError as exc:
            if exc.status_code == 403:  # held by someone else now: not ours to give back
                return
            raise ServiceUnavailable(str(exc)) from exc
        except HarborError as exc:
            raise ServiceUnavailable(str(exc)) from exc

    def _mark_in_locker(self, delivery: Delivery) -> tuple[Delivery | None, list[IssuedKey]]:
        """The item is in; the caller holds the delivery's lock."""
        assert delivery.id is not None
        now = self.now()
        used = self.repo.close_keys(delivery.id, KeyState.USED, kind=KeyKind.DROPOFF)
        moved = self.repo.transition(
            delivery.id,
            # RESERVED too: a key whose answer was lost at Harbor is the only way that can happen.
            from_states=[S.RESERVED, S.AWAITING_DROPOFF],
            to_state=S.IN_LOCKER,
            actor_id=None,
            event="in_locker",
            detail="Harbor reports the locker occupied",
            dropped_at=now,
            reserved_until=None,
            reminder_due_at=now + timedelta(hours=self.policy.reminder_hours),
        )
        return moved, used

    def close(
        self, delivery: Delivery, state: DeliveryState, *, actor_id: int | None, event: str, detail: str = ""
    ) -> Closed:
        assert delivery.id is not None
        voided = self.repo.close_keys(delivery.id, KeyState.VOID)
        closed = self.repo.transition(
            delivery.id,
            from_states=[delivery.state],
            to_state=state,
            actor_id=actor_id,
            event=event,
            detail=detail,
            closed_at=self.now(),
            reserved_until=None,
            reminder_due_at=None,
        )
        return Closed(closed or delivery, voided)

    def _abandon(self, delivery_id: int, reason: str) -> None:
        self.repo.transition(
            delivery_id,
            from_states=[S.DRAFT],
            to_state=S.CANCELLED,
            actor_id=None,
            event="not_reserved",
            detail=reason,
            closed_at=self.now(),
        )


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


def client_info(delivery_id: int) -> str:
    """What Harbor stores with a token, so its webhooks and logs point back to the delivery."""
    return f"harbor-bot:delivery:{delivery_id}"


def _free_sizes(lockers: list[Locker]) -> list[SizeOffer]:
    free: dict[int, SizeOffer] = {}
    for locker in lockers:
        if locker.is_available:
            seen = free.get(locker.type.id)
            free[locker.type.id] = SizeOffer(locker.type, (seen.free if seen else 0) + 1)
    return [free[type_id] for type_id in sorted(free)]


async def _call(awaitable: Awaitable[T], *, not_found: type[DeliveryProblem] | None = None) -> T:
    """Await a Harbor read, turning Harbor's failures into what the user can act on."""
    try:
        return await awaitable
    except HarborNotFound as exc:
        if not_found is not None:
            raise not_found(exc.detail) from exc
        raise ServiceUnavailable(str(exc)) from exc
    except HarborError as exc:
        raise ServiceUnavailable(str(exc)) from exc
