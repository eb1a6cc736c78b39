""" "It didn't fit": give the empty locker back and hold the next size up at the same place, in one tap.

The delivery keeps its id and moves to the new locker (RESERVED, then a new drop-off key), so its
events tell the whole story. The new locker is held *before* the old one is given back: whatever Harbor
answers, the customer never ends up with nothing. A door opened and closed on an empty locker may make
Harbor read it `occupied`; then the customer confirms it is empty before it is released, and that is
recorded in the delivery's events. Sizes are ordered by Harbor's type id (small 1 < medium 2 < large 3,
docs/harbor-api.md §15); nothing else is assumed about them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.deliveries.links import OCCUPIED, LinkKeys
from bot.deliveries.model import (
    DeliveryProblem,
    IssuedKeyView,
    LocationOffer,
    ServiceUnavailable,
    WrongState,
    locker_columns,
)
from bot.deliveries.search import free_sizes
from bot.deliveries.service import DeliveryService
from bot.harbor import links
from bot.harbor.errors import HarborError, HarborNotAvailable, HarborNotFound
from bot.harbor.models import Locker
from storage.models import Delivery, DeliveryState, IssuedKey, KeyKind, KeyState
from storage.repository import Conflict

log = logging.getLogger(__name__)
S = DeliveryState
FIT_STATES = (S.RESERVED, S.AWAITING_DROPOFF, S.IN_LOCKER)


class ConfirmEmpty(DeliveryProblem):
    """Harbor reads the locker occupied: only the customer can say it is empty."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery


class NoBiggerSize(DeliveryProblem):
    """No bigger locker is free at the location; `offer` lists what is (the delivery is unchanged)."""

    def __init__(self, delivery: Delivery, offer: LocationOffer) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery
        self.offer = offer


@dataclass(frozen=True, slots=True)
class Refitted:
    old_locker: str
    old_size: str
    issued: IssuedKeyView
    voided_keys: list[IssuedKey]
    old_link_live: bool = False  # KEY_MODE=link: the old locker is kept until Harbor's hold ends its link


class FitService:
    def __init__(self, deliveries: DeliveryService, links: LinkKeys) -> None:
        self.deliveries = deliveries
        self.links = links
        self.repo = deliveries.repo
        self.harbor = deliveries.harbor

    async def didnt_fit(
        self, delivery_id: int, user_id: int, chat_id: int, *, confirmed: bool = False, size_id: int | None = None
    ) -> Refitted:
        """Swap the delivery's locker for a bigger one (or for `size_id`, chosen from an offer)."""
        d = self.deliveries
        async with d.lock_sent_by(delivery_id, user_id) as delivery:
            if delivery.state not in FIT_STATES or (delivery.state is S.IN_LOCKER and delivery.collector_id):
                raise WrongState(delivery)  # a collector is on the way: the item stays where it is
            assert delivery.id is not None and delivery.tower_id and delivery.locker_id is not None
            location, lockers = await d.search.location_and_lockers(delivery.location_id)
            current = next((lk for lk in lockers if lk.id == delivery.locker_id), None)
            occupied = current is not None and current.status.name == OCCUPIED
            if occupied and not confirmed:
                raise ConfirmEmpty(delivery)
            available = [lk for lk in lockers if lk.is_available]
            in_use = await self.repo.open_by_locker([lk.id for lk in available])
            free = [lk for lk in available if (lk.tower_id, lk.id) not in in_use]
            sizes = (
                [size_id]
                if size_id is not None
                else sorted({lk.type.id for lk in free if lk.type.id > delivery.size_id})
            )
            old = (delivery.locker_name or "?", delivery.size_name)
            held: tuple[Locker, links.LockerOpenRequest | None] | None
            if d.policy.link_mode:
                if delivery.state in (S.RESERVED, S.AWAITING_DROPOFF):
                    # Each new link holds a locker: the caps of SDK keys apply (closes and raises past them).
                    await d._within_hold_limit(
                        delivery, await self.repo.keys_of(delivery.id, kind=KeyKind.DROPOFF), user_id
                    )
                held = await self._hold_by_link(delivery.id, delivery.location_id, sizes, lockers)
            else:
                held = await self._hold_by_reservation(sizes, free)
            if held is None:
                # The size that did not fit is no answer to "it didn't fit".
                others = [lk for lk in free if lk.type.id != delivery.size_id]
                raise NoBiggerSize(delivery, LocationOffer(location, free_sizes(others)))
            new, request = held
            old_link_live = d.policy.link_mode and await self._old_link_live(delivery)
            try:
                if old_link_live:
                    # Its drop-off link may still open it: not given back early, Harbor's hold ends it.
                    await self.repo.add_event(
                        delivery.id,
                        "old_link_live",
                        actor_id=user_id,
                        detail=f"locker {delivery.locker_name} kept until Harbor's hold ends: its unused "
                        "Locker Open request may still open it",
                    )
                else:
                    await self._give_back(delivery, occupied)
            except ServiceUnavailable:
                await self._release_new(new, reserved=request is None)
                raise
            if occupied:
                await self.repo.add_event(
                    delivery.id,
                    "empty_confirmed",
                    actor_id=user_id,
                    detail=f"Harbor read locker {delivery.locker_name} occupied; the sender said it is empty",
                )
            await self.repo.revoke_links(delivery.id, now=d.now())
            voided = await self.repo.close_keys(delivery.id, KeyState.VOID, kind=KeyKind.DROPOFF)
            try:
                moved = await self.repo.transition(
                    delivery.id,
                    from_states=[delivery.state],
                    to_state=S.RESERVED,
                    actor_id=user_id,
                    event="didnt_fit",
                    detail=f"locker {old[0]} ({old[1]}) given back; now locker {new.name} ({new.type.name}, "
                    f"id {new.id})",
                    **locker_columns(new),
                    size_id=new.type.id,
                    size_name=new.type.name,
                    size_description=new.type.description,
                    dropped_at=None,
                    reminder_due_at=None,
                    reserved_until=d.now() + timedelta(seconds=d.policy.reservation_seconds),
                )
            except Conflict:
                moved = None
            if moved is None:
                await self._release_new(new, reserved=request is None)
                current_delivery = await self.repo.get_delivery(delivery.id)
                assert current_delivery is not None
                raise WrongState(current_delivery)
            if request is not None:
                # Link mode: the request that holds the new locker is the new key.
                await self.links.requests.note_if_live_elsewhere(moved)
                expires = self.links.dropoff_expiry()
                key = self.links.key("dropoff", request, new, expires)
                issued = await d.record_issued(
                    moved, key, KeyKind.DROPOFF, user_id, chat_id, to_state=S.AWAITING_DROPOFF, harbor_id=request.id
                )
                return Refitted(*old, issued, voided, old_link_live)
        # SDK mode: the new reservation's key, as the key button would make it (it takes the lock itself).
        issued = await d.issue_dropoff_key(delivery_id, user_id, chat_id)
        return Refitted(*old, issued, voided)

    async def _hold_by_reservation(self, sizes: list[int], free: list[Locker]) -> tuple[Locker, None] | None:
        policy = self.deliveries.policy
        for size in sizes:
            for locker in sorted((lk for lk in free if lk.type.id == size), key=lambda lk: (lk.is_low_locker, lk.id)):
                try:
                    await self.harbor.reserve(locker.tower_id, locker.id, policy.reservation_seconds)
                except HarborNotAvailable:
                    continue  # taken meanwhile: the next one
                except HarborError as exc:
                    raise ServiceUnavailable(str(exc)) from exc
                return locker, None
        return None

    async def _hold_by_link(
        self, delivery_id: int, location_id: int, sizes: list[int], lockers: list[Locker]
    ) -> tuple[Locker, links.LockerOpenRequest] | None:
        for size in sizes:
            try:
                request = await self.links.dropoff_request(delivery_id, location_id, size)
            except HarborError as exc:
                if links.is_no_locker(exc):
                    continue  # Harbor's view of that size differs from the listing: the next size up
                raise ServiceUnavailable(str(exc)) from exc
            return await self.links.locker_of(request, location_id, lockers), request
        return None

    async def _old_link_live(self, delivery: Delivery) -> bool:
        """Does a drop-off request of this delivery for its current locker possibly still open it?"""
        assert delivery.id is not None
        rows = await self.repo.link_keys_of(delivery.id, KeyKind.DROPOFF)
        mine = {
            row.harbor_token_id
            for row in rows
            if row.harbor_token_id and (row.tower_id, row.locker_id) == (delivery.tower_id, delivery.locker_id)
        }
        return any([not await self.links.requests.spent(request_id) for request_id in sorted(mine)])

    async def _give_back(self, delivery: Delivery, occupied: bool) -> None:
        """Cancel the old reservation, or release the old locker (empty, the customer says, if occupied)."""
        assert delivery.tower_id and delivery.locker_id is not None
        try:
            if delivery.state is S.RESERVED and not occupied:
                try:
                    await self.harbor.cancel_reservation(delivery.tower_id, delivery.locker_id)
                    return
                except HarborNotAvailable:
                    pass  # not a reservation any more (a key turned it into a rental): release it
            await self.harbor.release(delivery.tower_id, delivery.locker_id)
        except (HarborNotAvailable, HarborNotFound):
            return  # already given back (Harbor's own "doesn't fit" flow, or the hold ended)
        except HarborError as exc:
            raise ServiceUnavailable(str(exc)) from exc

    async def _release_new(self, locker: Locker, *, reserved: bool) -> None:
        try:
            if reserved:
                await self.harbor.cancel_reservation(locker.tower_id, locker.id)
            else:
                await self.harbor.release(locker.tower_id, locker.id)
        except HarborError as exc:
            log.warning("locker %s: new hold not given back: %s", locker.id, type(exc).__name__)
