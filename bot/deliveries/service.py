"""Holds and keys: the drop-off half of the state machine of docs/design.md §3.

No Telegram here and no SQL: it takes the Harbor client, the repository, the locks and a clock, and
returns dataclasses and storage rows that the handlers render. Every transition is a compare-and-set
persisted (with an event row, and the notices it causes) before anyone is told. A read-decide-write
that spans a Harbor call runs under the delivery's lock, which every process shares (storage.locks);
the database's unique indexes keep one pre-drop-off delivery per sender and one open delivery per
locker whatever happens.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.deliveries import harbor_care, notices
from bot.deliveries.link_requests import LinkRequests, link_columns
from bot.deliveries.model import (
    AlreadyOpen,
    Closed,
    DeliveryNotFound,
    HoldLimitReached,
    IssuedKeyView,
    ItemAlreadyInside,
    KeyStillValid,
    LinkIssuer,
    LocationOffer,
    LockerLost,
    Person,
    Policy,
    ServiceUnavailable,
    SizeRanOut,
    WrongState,
    client_info,
    draft_row,
    locker_columns,
    status_columns,
)
from bot.deliveries.people import People
from bot.deliveries.search import LocationSearch, free_sizes, harbor_call
from bot.harbor.client import HarborClient
from bot.harbor.errors import (
    HarborAuthError,
    HarborError,
    HarborNotAvailable,
    HarborNotFound,
    HarborOutcomeUnknown,
)
from bot.harbor.models import Location, Locker, LockerToken
from bot.keys import LinkKey, LockerKey
from storage.locks import Locks, LockScope
from storage.models import (
    AFTER_DROPOFF_STATES,
    PRE_DROPOFF_STATES,
    Delivery,
    DeliveryState,
    IssuedKey,
    KeyKind,
    KeyState,
)
from storage.repo_deliveries import DropoffStart
from storage.repository import Conflict, Notice, Repository
from storage.types import utcnow

log = logging.getLogger(__name__)

S = DeliveryState
T = TypeVar("T")
OCCUPIED = "occupied"


class DeliveryService:
    def __init__(
        self,
        harbor: HarborClient,
        repo: Repository,
        policy: Policy,
        *,
        search: LocationSearch | None = None,
        locks: Locks | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.harbor = harbor
        self.repo = repo
        self.policy = policy
        self.search = search or LocationSearch(harbor, policy)
        self.locks = locks or Locks(None)
        self.now = now
        self.link_requests = LinkRequests(harbor, repo, policy, lambda: self.now())  # KEY_MODE=link
        # Locker Open links (KEY_MODE=link): wired by the composition root, since they build on this service.
        self.links: LinkIssuer | None = None
        self.people = People(repo)

    @property
    def link_issuer(self) -> LinkIssuer:
        if self.links is None:
            raise RuntimeError("KEY_MODE=link, but no LinkKeys were given to the delivery service (see bot/app.py)")
        return self.links

    def lock(self, delivery_id: int) -> AbstractAsyncContextManager[None]:
        return self.locks(LockScope.DELIVERY, delivery_id)

    @asynccontextmanager
    async def lock_sent_by(self, delivery_id: int, user_id: int) -> AsyncIterator[Delivery]:
        """The delivery's lock for its sender, and the delivery read under it; ownership is checked first."""
        await self._owner_first(delivery_id, user_id)
        async with self.lock(delivery_id):
            yield await self.sent_by(delivery_id, user_id)

    async def _owner_first(self, delivery_id: int, user_id: int) -> None:
        """Shared locks are rows every process sees: a stranger's tap must not take one (DeliveryNotFound
        before the lock). An in-process lock costs nothing to hold for the moment the read under it takes."""
        if self.locks.shared:
            await self.sent_by(delivery_id, user_id)

    # people --------------------------------------------------------------------------------

    async def remember(self, person: Person) -> None:
        """Record who is talking, at most every few minutes (bot/deliveries/people.py)."""
        await self.people.remember(person)

    # lists -----------------------------------------------------------------------------------

    async def open_dropoff(self, user_id: int) -> Delivery | None:
        """The user's delivery that has not reached a locker yet (one at a time)."""
        for delivery in await self.repo.open_deliveries_of(user_id):
            if delivery.sender_id == user_id and delivery.state in PRE_DROPOFF_STATES:
                return delivery
        return None

    async def last_dropped_off(self, user_id: int) -> Delivery | None:
        """The user's newest delivery whose item is already in a locker: too late to cancel."""
        inside = [
            d
            for d in await self.repo.open_deliveries_of(user_id)
            if d.sender_id == user_id and d.state in AFTER_DROPOFF_STATES
        ]
        return max(inside, key=lambda d: d.id or 0, default=None)

    async def open_deliveries(self, user_id: int) -> list[Delivery]:
        return await self.repo.open_deliveries_of(user_id)

    async def get(self, delivery_id: int) -> Delivery | None:
        return await self.repo.get_delivery(delivery_id)

    async def sent_by(self, delivery_id: int, user_id: int) -> Delivery:
        delivery = await self.repo.get_delivery(delivery_id)
        if delivery is None or delivery.sender_id != user_id:
            raise DeliveryNotFound(delivery_id)
        return delivery

    # reserving -------------------------------------------------------------------------------

    async def reserve(
        self, user_id: int, location_id: int, size_id: int, *, status: tuple[int, int] | None = None
    ) -> Delivery:
        """Hold a free locker of that size; try the next one when someone else was faster.

        `status` (chat id, message id): the message that will show the delivery's status, recorded with
        the reservation when the caller already knows it (the size list that becomes the hold)."""
        location, lockers = await self.search.location_and_lockers(location_id)
        # A locker just emptied by a pickup looks available before the watch has closed its
        # delivery; handing it out then would let the old collector's key open the new item.
        of_size = [lk for lk in lockers if lk.is_available and lk.type.id == size_id]
        size_name = next((lk.type.name for lk in lockers if lk.type.id == size_id), str(size_id))
        started = await self._start_dropoff(user_id, location, size_id, of_size)
        if started.existing is not None:  # a double tap, or a second search: the first one's stands
            raise AlreadyOpen(started.existing)
        candidates = sorted(
            (lk for lk in of_size if (lk.tower_id.lower(), lk.id) not in started.in_use),
            key=lambda lk: (lk.is_low_locker, lk.id),  # a low locker only when nothing else is free
        )
        if started.draft is None or not candidates:
            raise SizeRanOut(LocationOffer(location, free_sizes(lockers)), size_name)
        delivery = started.draft
        assert delivery.id is not None
        for locker in candidates:
            try:
                await self.harbor.reserve(locker.tower_id, locker.id, self.policy.reservation_seconds)
            except HarborNotAvailable:
                log.info("delivery %s: locker %s taken meanwhile, trying the next", delivery.id, locker.id)
                continue
            except HarborOutcomeUnknown:
                holds = await harbor_care.holds(self.harbor, locker.id, "reserved")
                if not holds:
                    if holds is None:
                        # Harbor may hold it for us with no delivery to show for it: give it back.
                        await harbor_care.cancel_quietly(self.harbor, locker.tower_id, locker.id)
                    await self._abandon(delivery.id, "harbor_outcome_unknown")
                    raise ServiceUnavailable("reservation outcome unknown") from None
                log.info("delivery %s: reservation timed out but Harbor holds it for us", delivery.id)
            except HarborError as exc:
                await self._abandon(delivery.id, f"harbor_error: {type(exc).__name__}")
                raise ServiceUnavailable(str(exc)) from exc
            try:
                reserved = await self.repo.transition(
                    delivery.id,
                    from_states=[S.DRAFT],
                    to_state=S.RESERVED,
                    actor_id=user_id,
                    event="reserved",
                    detail=f"locker {locker.name} (id {locker.id}) in tower {locker.tower_id}",
                    **locker_columns(locker),
                    reserved_until=self.now() + timedelta(seconds=self.policy.reservation_seconds),
                    # The search has done its job: the point it shared goes with the reservation.
                    forget_step_of=None if status is None else status[0],
                    **status_columns(status),
                )
            except Conflict:
                # Another open delivery holds this locker (it emptied a moment ago): not ours to use.
                await harbor_care.cancel_quietly(self.harbor, locker.tower_id, locker.id)
                continue
            if reserved is None:  # cancelled (by an admin) while Harbor answered
                await harbor_care.cancel_quietly(self.harbor, locker.tower_id, locker.id)
                current = await self.repo.get_delivery(delivery.id)
                assert current is not None
                raise WrongState(current)
            return reserved
        await self._abandon(delivery.id, "size_ran_out")
        try:
            fresh = await self.harbor.location_lockers(location_id)
        except HarborError:
            fresh = [lk for lk in lockers if lk.type.id != size_id]
        raise SizeRanOut(LocationOffer(location, free_sizes(fresh)), delivery.size_name)

    async def reserve_with_key(
        self, user_id: int, location_id: int, size_id: int, chat_id: int, *, status_message_id: int | None = None
    ) -> tuple[Delivery, IssuedKeyView | None]:
        """The size tap. With SDK keys a locker is reserved and the key comes on request; a Locker Open
        drop-off request holds a locker and is the key at once (bot/deliveries/links.py).
        `status_message_id`: the message in `chat_id` that will show the status, if already known."""
        if self.policy.link_mode:
            issued = await self.link_issuer.reserve(user_id, location_id, size_id, chat_id)
            return issued.delivery, issued
        status = None if status_message_id is None else (chat_id, status_message_id)
        return await self.reserve(user_id, location_id, size_id, status=status), None

    async def _start_dropoff(
        self, user_id: int, location: Location, size_id: int, of_size: Sequence[Locker]
    ) -> DropoffStart:
        """One transaction: the sender's open drop-off, the lockers others hold, the draft (see the repo)."""
        kind = of_size[0].type if of_size else None
        draft = draft_row(
            user_id, location, size_id, kind.name if kind else str(size_id), kind.description if kind else None
        )
        lockers = [(lk.tower_id, lk.id) for lk in of_size]
        return await self._first_of_sender(user_id, self.repo.start_dropoff(draft, lockers, actor_id=user_id))

    async def create_draft(
        self, user_id: int, location: Location, size_id: int, size_name: str, *, size_description: str | None = None
    ) -> Delivery:
        """The delivery row, before any locker is held; a concurrent one of the same sender wins."""
        draft = draft_row(user_id, location, size_id, size_name, size_description)
        delivery = await self._first_of_sender(user_id, self.repo.create_delivery(draft, actor_id=user_id))
        assert delivery.id is not None
        return delivery

    async def _first_of_sender(self, user_id: int, write: Awaitable[T]) -> T:
        try:
            return await write
        except Conflict:
            # A double tap on another process (or task) got there first: its reservation stands.
            existing = await self.open_dropoff(user_id)
            if existing is None:
                raise ServiceUnavailable("a concurrent reservation ended meanwhile") from None
            raise AlreadyOpen(existing) from None

    # keys ------------------------------------------------------------------------------------

    async def issue_dropoff_key(self, delivery_id: int, user_id: int, chat_id: int) -> IssuedKeyView:
        await self._owner_first(delivery_id, user_id)
        async with self.lock(delivery_id):
            found, keys = await self.repo.delivery_with_keys(delivery_id, KeyKind.DROPOFF)  # one read, both checks
            if found is None or found.sender_id != user_id:
                raise DeliveryNotFound(delivery_id)
            delivery = found
            if delivery.state not in (S.RESERVED, S.AWAITING_DROPOFF):
                raise WrongState(delivery)
            assert delivery.id is not None
            self._refuse_live(delivery, keys, user_id)
            duration = await self._within_hold_limit(delivery, keys, user_id)  # links count against the cap too
            if self.policy.link_mode:
                return await self.link_issuer.renew_dropoff(delivery, user_id, chat_id)
            assert delivery.tower_id
            assert delivery.locker_id is not None
            try:
                token = await self.harbor.dropoff_token(
                    delivery.tower_id,
                    delivery.locker_id,
                    duration=duration,
                    client_info=client_info(delivery_id),
                )
            except (HarborNotAvailable, HarborAuthError, HarborNotFound) as exc:
                if isinstance(exc, HarborAuthError) and exc.status_code != 403:
                    raise ServiceUnavailable(str(exc)) from exc
                lost = await self.close(delivery, S.EXPIRED, actor_id=None, event="locker_lost", detail=exc.detail)
                raise LockerLost(lost.delivery) from exc
            except HarborError as exc:
                raise ServiceUnavailable(str(exc)) from exc
            return await self.record_key(
                delivery, token, KeyKind.DROPOFF, user_id, chat_id, to_state=S.AWAITING_DROPOFF, seconds=duration
            )

    async def _within_hold_limit(self, delivery: Delivery, keys: Sequence[IssuedKey], user_id: int) -> int:
        """The seconds the next drop-off key may last; past the cap (keys or time) the locker goes back.

        Without a cap, letting each key lapse and asking for another would hold a locker forever.
        `keys` are the delivery's drop-off keys; those voided without being delivered (their photo never
        arrived) do not count; those "It didn't fit" voided after they were sent do.
        """
        used = sum(1 for key in keys if key.state is not KeyState.VOID or key.message_id is not None)
        left = (self.policy.hold_ends_at(delivery.created_at) - self.now()).total_seconds()
        if used < self.policy.dropoff_max_keys and left >= 1:
            return int(min(self.policy.key_seconds, left))
        try:
            await self._give_back(delivery)
        except ServiceUnavailable:
            # Harbor ends reservations and unused tokens by itself, so nothing stays held for long.
            log.warning("delivery %s: could not give the locker back at the hold limit", delivery.id)
        closed = await self.close(
            delivery, S.EXPIRED, actor_id=user_id, event="hold_limit", detail=f"{used} drop-off keys"
        )
        raise HoldLimitReached(closed.delivery)

    async def record_key(
        self,
        delivery: Delivery,
        token: LockerToken,
        kind: KeyKind,
        user_id: int,
        chat_id: int,
        *,
        to_state: DeliveryState,
        seconds: int | None = None,
    ) -> IssuedKeyView:
        """Turn a Harbor locker token into the key for the QR, and record (never the material) who got it."""
        assert delivery.id is not None
        sdk_token = None
        if self.policy.include_sdk_token:
            # The locker token already exists at Harbor; if this fails it simply expires unused.
            sdk_token = (await harbor_call(self.harbor.tower_access_token())).get_secret_value()
        key = LockerKey(
            kind=kind.value,
            env=self.policy.key_env,  # type: ignore[arg-type]
            tower_id=token.tower_id,
            locker_id=token.locker.id,
            locker_name=token.locker.name,
            payload=token.payload.get_secret_value(),
            payload_auth=token.payload_auth.get_secret_value(),
            expires=token.expires,
            sdk_token=sdk_token,
        )
        return await self.record_issued(
            delivery,
            key,
            kind,
            user_id,
            chat_id,
            to_state=to_state,
            harbor_id=None if token.id is None else token.id,
            seconds=seconds,
        )

    async def record_issued(
        self,
        delivery: Delivery,
        key: LockerKey | LinkKey,
        kind: KeyKind,
        user_id: int,
        chat_id: int,
        *,
        to_state: DeliveryState,
        harbor_id: int | str | None,
        seconds: int | None = None,
        **changes: Any,
    ) -> IssuedKeyView:
        """Record who got a key (never its material) and move the delivery on; `changes` go with the move."""
        assert delivery.id is not None
        record = IssuedKey(
            delivery_id=delivery.id,
            kind=kind,
            user_id=user_id,
            chat_id=chat_id,
            harbor_token_id=None if harbor_id is None else str(harbor_id),
            expires_at=key.expires  # a link's is Harbor's hold (links.py); a token's what we asked
            if isinstance(key, LinkKey)
            else self.now() + timedelta(seconds=seconds or self.policy.key_duration(kind.value)),
            **link_columns(key, self.policy.secret),
        )
        # One transaction: the record is kept only with the move. On a Conflict (two open deliveries
        # on one locker) or a lost race, neither happens and the key is never sent.
        moved = await self.repo.transition(
            delivery.id,
            from_states=[delivery.state],
            to_state=to_state,
            actor_id=user_id,
            event=f"{kind.value}_key_issued",
            detail=f"key #{{key}}, Harbor {'link request' if isinstance(key, LinkKey) else 'token'} "
            f"{record.harbor_token_id}",
            reserved_until=None if kind is KeyKind.DROPOFF else delivery.reserved_until,
            with_key=record,
            **changes,
        )
        if moved is None:
            # The delivery moved on while Harbor made the token (closed by an admin, or by another
            # process): the key must not be used, and a closed delivery's locker must not stay ours.
            current = await self.repo.get_delivery(delivery.id)
            assert current is not None
            if not current.state.is_open:
                await harbor_care.release_quietly(self.harbor, current.tower_id, current.locker_id)
            raise WrongState(current)
        return IssuedKeyView(key, record, moved)

    async def refuse_if_key_live(self, delivery: Delivery, kind: KeyKind, user_id: int) -> None:
        assert delivery.id is not None
        self._refuse_live(delivery, await self.repo.keys_of(delivery.id, kind=kind, states=[KeyState.ACTIVE]), user_id)

    def _refuse_live(self, delivery: Delivery, keys: Sequence[IssuedKey], user_id: int) -> None:
        """KeyStillValid if `user_id` holds one of `keys` that is active and unexpired: the photo they have
        still opens the locker, so a second key would only be a second secret to lose."""
        now = self.now()
        for record in keys:
            if record.state is KeyState.ACTIVE and record.user_id == user_id and record.expires_at > now:
                raise KeyStillValid(record, delivery)

    async def attach_key_message(self, key_id: int, message_id: int) -> None:
        await self.repo.set_key_message(key_id, message_id)

    async def attach_status_message(self, delivery_id: int, chat_id: int, message_id: int) -> None:
        await self.repo.update_delivery(delivery_id, **status_columns((chat_id, message_id)))

    # ending before the drop-off -------------------------------------------------------------

    async def cancel(self, delivery_id: int, user_id: int) -> Closed:
        """The sender gives the locker back before the drop-off."""
        async with self.lock_sent_by(delivery_id, user_id) as delivery:
            if delivery.state in AFTER_DROPOFF_STATES:
                raise ItemAlreadyInside(delivery)
            if delivery.state not in PRE_DROPOFF_STATES:
                raise WrongState(delivery)
            await self._give_back(delivery)
            return await self.close(delivery, S.CANCELLED, actor_id=user_id, event="cancelled")

    async def expire_if_due(self, delivery_id: int) -> Closed | None:
        """The hold ended: a reservation nobody used, or a drop-off whose last key ran out long ago."""
        async with self.lock(delivery_id):
            delivery = await self.repo.get_delivery(delivery_id)
            if (
                delivery is None
                or delivery.state not in (S.RESERVED, S.AWAITING_DROPOFF)
                or delivery.reserved_until is None
                or delivery.reserved_until > self.now() + timedelta(seconds=1)
                or await self.repo.keys_of(delivery_id, kind=KeyKind.DROPOFF, states=[KeyState.ACTIVE])
            ):
                return None
            try:
                await self._give_back(delivery)
            except ItemAlreadyInside:
                return None  # the customer is told it is in, not that it expired
            except ServiceUnavailable:
                # Harbor ends reservations and unused tokens by itself, so nothing stays held.
                log.warning("delivery %s: could not give the locker back at expiry; Harbor will", delivery_id)
            return await self.close(
                delivery, S.EXPIRED, actor_id=None, event="hold_expired", notices=notices.hold_expired(delivery)
            )

    async def expire_key(self, key_id: int) -> bool:
        """A key's time is up: its QR goes and its holder hears whether a new one can be had."""
        key = await self.repo.get_key(key_id)
        if key is None or key.state is not KeyState.ACTIVE:
            return False
        if key.sealed_link and key.harbor_token_id:  # a link's note says "expired" only if Harbor does
            await self.link_requests.spent(key.harbor_token_id)
        async with self.lock(key.delivery_id):
            if key.expires_at > self.now() + timedelta(seconds=1):
                return False
            delivery = await self.repo.get_delivery(key.delivery_id)
            assert delivery is not None and delivery.id is not None
            renewable = (key.kind is KeyKind.DROPOFF and delivery.state is S.AWAITING_DROPOFF) or (
                key.kind is KeyKind.PICKUP and delivery.state in AFTER_DROPOFF_STATES
            )
            expired = await self.repo.set_key_state(
                key_id, KeyState.EXPIRED, notices=notices.key_expired(key, delivery, renewable=renewable)
            )
            if expired is None:
                return False
            await self.repo.add_event(delivery.id, f"{key.kind.value}_key_expired", detail=f"key #{key_id}")
            if key.kind is KeyKind.DROPOFF and delivery.state is S.AWAITING_DROPOFF:
                # Harbor gives the locker back when an unused drop-off token expires; the customer
                # gets one more hold period to ask for a new key before the delivery expires.
                grace = min(
                    self.now() + timedelta(seconds=self.policy.reservation_seconds),
                    self.policy.hold_ends_at(delivery.created_at),
                )
                await self.repo.update_delivery(delivery.id, reserved_until=grace)
            return True

    # shared with the watch and the handover ------------------------------------------------

    async def mark_in_locker(self, delivery: Delivery) -> tuple[Delivery | None, list[IssuedKey]]:
        """The item is in; the caller holds the delivery's lock. The sender hears it once. Returns the
        moved delivery (None if another task moved it first) and the drop-off keys that were used."""
        assert delivery.id is not None
        now = self.now()
        used = await self.repo.close_keys(delivery.id, KeyState.USED, kind=KeyKind.DROPOFF)
        moved = await self.repo.transition(
            delivery.id,
            # RESERVED too: a key whose answer was lost at Harbor is the only way that can happen.
            from_states=[S.RESERVED, S.AWAITING_DROPOFF],
            to_state=S.IN_LOCKER,
            actor_id=None,
            event="in_locker",
            detail="Harbor reports the locker occupied",
            notices=notices.in_locker(delivery),
            dropped_at=now,
            reserved_until=None,
            reminder_due_at=now + timedelta(hours=self.policy.reminder_hours),
        )
        return moved, used

    async def close(
        self,
        delivery: Delivery,
        state: DeliveryState,
        *,
        actor_id: int | None,
        event: str,
        detail: str = "",
        notices: Sequence[Notice] = (),
    ) -> Closed:
        assert delivery.id is not None
        closed = await self.repo.transition(
            delivery.id,
            from_states=[delivery.state],
            to_state=state,
            actor_id=actor_id,
            event=event,
            detail=detail,
            notices=notices,
            closed_at=self.now(),
            reserved_until=None,
            reminder_due_at=None,
        )
        if closed is None:  # moved on meanwhile (only possible without the lock): not ours to close
            current = await self.repo.get_delivery(delivery.id)
            assert current is not None
            raise WrongState(current)
        # After the state change: a key of a closed delivery can no longer be renewed or used.
        voided = await self.repo.close_keys(delivery.id, KeyState.VOID)
        return Closed(closed, voided)

    # Harbor, carefully -----------------------------------------------------------------------

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
                moved, _ = await self.mark_in_locker(delivery)
                raise ItemAlreadyInside(moved or delivery)
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

    async def _abandon(self, delivery_id: int, reason: str) -> None:
        await self.repo.transition(
            delivery_id,
            from_states=[S.DRAFT],
            to_state=S.CANCELLED,
            actor_id=None,
            event="not_reserved",
            detail=reason,
            closed_at=self.now(),
        )
