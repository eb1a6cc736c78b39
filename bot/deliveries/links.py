"""Keys as Locker Open links (KEY_MODE=link, docs/harbor-api.md §6): no app of the service's own needed.

Harbor picks the locker for a drop-off request and holds it for a fixed 5 minutes, so in link mode the
size tap *is* the request: the delivery records the locker Harbor chose and the customer gets the link
at once (DRAFT -> RESERVED -> AWAITING_DROPOFF in one step). A new drop-off link is a new request,
which may hold another locker: the delivery moves to it and the old hold is given back. A pick-up link
is a request for the delivery's locker. Expiry, the watch and completion are those of SDK keys.

An unused request may open its locker long after the bot shows its key as expired (docs/harbor-api.md §14):
while Harbor has not said it is spent, the next key of that kind is the same request sent again
(bot/deliveries/link_requests.py), its link kept sealed for that; never logged, never in clear.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.deliveries import harbor_care
from bot.deliveries.link_requests import Resendable, resend_expiry
from bot.deliveries.model import (
    AlreadyOpen,
    IssuedKeyView,
    LocationOffer,
    LockerStillInUse,
    ServiceUnavailable,
    SizeOffer,
    SizeRanOut,
    WrongState,
    client_info,
    locker_columns,
)
from bot.deliveries.search import free_sizes
from bot.harbor import links
from bot.harbor.errors import HarborError
from bot.harbor.models import Locker, LockerStatus, LockerType
from bot.keys import LinkKey
from storage.models import Delivery, DeliveryState, KeyKind
from storage.repository import Conflict

if TYPE_CHECKING:
    from bot.deliveries.service import DeliveryService
    from bot.harbor.client import HarborClient

log = logging.getLogger(__name__)
S = DeliveryState
OCCUPIED = "occupied"


class NoLockerOfSize(ServiceUnavailable):
    """Harbor has no free locker of the delivery's size for a new drop-off link; `offer` is what is free."""

    def __init__(self, delivery: Delivery, offer: LocationOffer) -> None:
        super().__init__("No locker available")
        self.delivery = delivery
        self.offer = offer


class LinkKeys:
    def __init__(self, deliveries: DeliveryService) -> None:
        self.deliveries = deliveries
        self.requests = deliveries.link_requests

    @property
    def harbor(self) -> HarborClient:
        return self.deliveries.harbor

    # drop-off --------------------------------------------------------------------------------

    async def reserve(self, user_id: int, location_id: int, size_id: int, chat_id: int) -> IssuedKeyView:
        """The size tap in link mode: a drop-off request holds a locker and its link is the key."""
        d = self.deliveries
        existing = await d.open_dropoff(user_id)
        if existing is not None:
            raise AlreadyOpen(existing)
        location, lockers = await d.search.location_and_lockers(location_id)
        size_name = next((lk.type.name for lk in lockers if lk.type.id == size_id), str(size_id))
        if not any(lk.is_available and lk.type.id == size_id for lk in lockers):
            # None free (or a size the location does not have: a made-up button): no request, no row.
            raise SizeRanOut(LocationOffer(location, free_sizes(lockers)), size_name)
        described = next((lk.type.description for lk in lockers if lk.type.id == size_id), None)
        delivery = await d.create_draft(user_id, location, size_id, size_name, size_description=described)
        assert delivery.id is not None
        try:
            request = await self.dropoff_request(delivery.id, location_id, size_id)
        except HarborError as exc:
            await d._abandon(delivery.id, f"link_refused: {type(exc).__name__}")
            if links.is_no_locker(exc):
                raise SizeRanOut(
                    LocationOffer(location, await self._free_now(location_id, lockers)), size_name
                ) from exc
            # A request whose answer was lost holds a locker nobody knows of: Harbor ends it in 5 minutes.
            raise ServiceUnavailable(str(exc)) from exc
        locker = await self.locker_of(request, location_id, lockers)
        expires = self.dropoff_expiry()
        try:
            reserved = await d.repo.transition(
                delivery.id,
                from_states=[S.DRAFT],
                to_state=S.RESERVED,
                actor_id=user_id,
                event="reserved",
                detail=f"locker {locker.name} (id {locker.id}) in tower {locker.tower_id}, "
                f"held by Locker Open request {request.id}",
                **locker_columns(locker),
                reserved_until=expires,
            )
        except Conflict:
            # Harbor gave us a locker an open delivery still watches (emptied a moment ago).
            await harbor_care.release_quietly(self.harbor, locker.tower_id, locker.id)
            await d._abandon(delivery.id, "locker_still_in_use")
            raise ServiceUnavailable("Harbor chose a locker that is still in use") from None
        if reserved is None:  # cancelled (by an admin) while Harbor answered
            await harbor_care.release_quietly(self.harbor, locker.tower_id, locker.id)
            current = await d.repo.get_delivery(delivery.id)
            assert current is not None
            raise WrongState(current)
        await self.requests.note_if_live_elsewhere(reserved)
        key = self.key("dropoff", request, locker, expires)
        return await d.record_issued(
            reserved, key, KeyKind.DROPOFF, user_id, chat_id, to_state=S.AWAITING_DROPOFF, harbor_id=request.id
        )

    async def renew_dropoff(self, delivery: Delivery, user_id: int, chat_id: int) -> IssuedKeyView:
        """A new drop-off link (the caller holds the delivery's lock and checked no key is live)."""
        d = self.deliveries
        assert delivery.id is not None
        if await self._reads(delivery, OCCUPIED):
            # The old link was used after all (the watch has not seen it yet): nothing to renew.
            moved, _ = await d.mark_in_locker(delivery)
            raise WrongState(moved or delivery)
        again = await self.requests.resendable(delivery, KeyKind.DROPOFF)
        if again is not None:
            expires = resend_expiry(again, d.now(), d.policy.key_seconds, KeyKind.DROPOFF)
            if expires is not None:  # within Harbor's hold: the same request, not a second live one
                return await self._resend(delivery, again, "dropoff", expires, user_id, chat_id, S.AWAITING_DROPOFF)
        try:
            request = await self.dropoff_request(delivery.id, delivery.location_id, delivery.size_id)
        except HarborError as exc:
            if links.is_no_locker(exc):
                location, lockers = await d.search.location_and_lockers(delivery.location_id)
                raise NoLockerOfSize(delivery, LocationOffer(location, free_sizes(lockers))) from exc
            raise ServiceUnavailable(str(exc)) from exc
        locker = await self.locker_of(request, delivery.location_id, [])
        return await self.record_dropoff(delivery, request, locker, user_id, chat_id, event_actor=user_id)

    async def record_dropoff(
        self,
        delivery: Delivery,
        request: links.LockerOpenRequest,
        locker: Locker,
        user_id: int,
        chat_id: int,
        *,
        event_actor: int | None,
        **changes: Any,
    ) -> IssuedKeyView:
        """The delivery moves to the locker Harbor chose (giving the old hold back) and the link is its key."""
        d = self.deliveries
        assert delivery.id is not None
        old = (delivery.tower_id, delivery.locker_id)
        moved = (locker.tower_id, locker.id) != old
        key = self.key("dropoff", request, locker, self.dropoff_expiry())
        try:
            issued = await d.record_issued(
                delivery,
                key,
                KeyKind.DROPOFF,
                user_id,
                chat_id,
                to_state=S.AWAITING_DROPOFF,
                harbor_id=request.id,
                **locker_columns(locker),
                **changes,
            )
        except Conflict:
            # Harbor chose a locker another open delivery holds (emptied a moment ago): the key row
            # written for it is void (record_issued), the customer hears exactly that.
            await harbor_care.release_quietly(self.harbor, locker.tower_id, locker.id)
            await d.repo.add_event(
                delivery.id,
                "link_locker_in_use",
                actor_id=event_actor,
                detail=f"Harbor chose locker {locker.name} (id {locker.id}), which another open delivery holds; "
                f"Locker Open request {request.id} not sent",
            )
            raise LockerStillInUse(delivery, locker.name) from None
        except WrongState:
            await harbor_care.release_quietly(self.harbor, locker.tower_id, locker.id)
            raise
        if moved:
            await self.requests.note_if_live_elsewhere(issued.delivery)
        if moved and old[0] is not None and old[1] is not None:
            await d.repo.add_event(
                delivery.id,
                "locker_changed",
                actor_id=event_actor,
                detail=f"Harbor chose locker {locker.name} (id {locker.id}) instead of {delivery.locker_name}",
            )
            await self._release_if_rented(old[0], old[1])
        return issued

    async def dropoff_request(self, delivery_id: int, location_id: int, size_id: int) -> links.LockerOpenRequest:
        policy = self.deliveries.policy
        return await self.harbor.dropoff_link(
            location_id,
            size_id,
            return_url=policy.return_url(delivery_id),
            client_info=client_info(delivery_id),
            payload={"delivery_id": delivery_id},
        )

    # pickup ----------------------------------------------------------------------------------

    async def issue_pickup(self, delivery: Delivery, user_id: int, chat_id: int) -> IssuedKeyView:
        """A pick-up link for the delivery's locker (the caller holds the lock and checked who may)."""
        assert delivery.id is not None and delivery.locker_id is not None and delivery.tower_id
        policy = self.deliveries.policy
        again = await self.requests.resendable(delivery, KeyKind.PICKUP)
        if again is not None:  # the request already made may still open the locker: the same one again
            expires = resend_expiry(again, self.deliveries.now(), policy.key_seconds, KeyKind.PICKUP)
            assert expires is not None
            return await self._resend(delivery, again, "pickup", expires, user_id, chat_id, S.AWAITING_PICKUP)
        try:
            request = await self.harbor.pickup_link(
                delivery.locker_id,
                return_url=policy.return_url(delivery.id),
                client_info=client_info(delivery.id),
                payload={"delivery_id": delivery.id},
            )
        except HarborError as exc:
            raise ServiceUnavailable(str(exc)) from exc
        locker = Locker(
            id=delivery.locker_id,
            name=delivery.locker_name or str(delivery.locker_id),
            tower_id=delivery.tower_id,
            status=LockerStatus(name=OCCUPIED),
            type=LockerType(id=delivery.size_id, name=delivery.size_name),
        )
        expires = self.deliveries.now() + timedelta(seconds=policy.key_seconds)
        key = self.key("pickup", request, locker, expires)
        return await self.deliveries.record_issued(
            delivery, key, KeyKind.PICKUP, user_id, chat_id, to_state=S.AWAITING_PICKUP, harbor_id=request.id
        )

    # helpers ---------------------------------------------------------------------------------

    async def _resend(
        self,
        delivery: Delivery,
        again: Resendable,
        kind: links.LinkKind,
        expires: datetime,
        user_id: int,
        chat_id: int,
        to_state: DeliveryState,
    ) -> IssuedKeyView:
        """The same Locker Open request as a new key message (a new key row, the same request id)."""
        assert delivery.tower_id and delivery.locker_id is not None
        key = LinkKey(kind, again.url, delivery.tower_id, delivery.locker_id, delivery.locker_name or "?", expires)
        issued = await self.deliveries.record_issued(
            delivery,
            key,
            KeyKind(kind),
            user_id,
            chat_id,
            to_state=to_state,
            harbor_id=again.record.harbor_token_id,
        )
        assert delivery.id is not None
        await self.deliveries.repo.add_event(
            delivery.id,
            "link_resent",
            actor_id=user_id,
            detail=f"Locker Open request {again.record.harbor_token_id} may still be live: sent again",
        )
        return issued

    def key(self, kind: links.LinkKind, request: links.LockerOpenRequest, locker: Locker, expires: datetime) -> LinkKey:
        if request.link_token is None:
            raise ServiceUnavailable("Harbor's answer has no linkToken")
        policy = self.deliveries.policy
        url = links.link_url(
            request.link_token.get_secret_value(), kind, base=policy.locker_open_url, env=policy.key_env
        )
        return LinkKey(kind, url, locker.tower_id, locker.id, locker.name, expires)

    def dropoff_expiry(self) -> datetime:
        seconds = min(links.DROPOFF_HOLD_SECONDS, self.deliveries.policy.key_seconds)
        return self.deliveries.now() + timedelta(seconds=seconds)

    async def locker_of(self, request: links.LockerOpenRequest, location_id: int, known: list[Locker]) -> Locker:
        """The locker Harbor chose, whichever way its answer spells it (§6.1: lockerId or locker_id)."""
        if request.locker_id is None or request.tower_id is None:
            try:
                stored = await self.harbor.link_request(request.id)
            except HarborError as exc:
                raise ServiceUnavailable(f"which locker Harbor chose is unknown: {exc}") from exc
            request = request.model_copy(
                update={
                    "locker_id": request.locker_id or stored.locker_id,
                    "tower_id": request.tower_id or stored.tower_id,
                }
            )
        for lockers in (known, None):
            if lockers is None:
                try:
                    lockers = await self.harbor.location_lockers(location_id)
                except HarborError:
                    lockers = []
            found = next((lk for lk in lockers if lk.id == request.locker_id), None)
            if found is not None:
                return found
        if request.locker_id is None or request.tower_id is None:
            raise ServiceUnavailable("Harbor did not say which locker it chose")
        raise ServiceUnavailable(f"locker {request.locker_id} is not listed at location {location_id}")

    async def _free_now(self, location_id: int, fallback: list[Locker]) -> list[SizeOffer]:
        try:
            return free_sizes(await self.harbor.location_lockers(location_id))
        except HarborError:
            return free_sizes(fallback)

    async def _reads(self, delivery: Delivery, status: str) -> bool:
        """Does Harbor list the delivery's locker as ours, in `status`? (False when it cannot tell.)"""
        try:
            held = await self.harbor.assigned_lockers()
        except HarborError:
            return False
        return any(lk.id == delivery.locker_id and lk.status.name == status for lk in held)

    async def _release_if_rented(self, tower_id: str, locker_id: int) -> None:
        """Give back a hold we no longer use, never a locker with an item in it."""
        try:
            held = await self.harbor.assigned_lockers()
        except HarborError:
            return  # the hold ends by itself after 5 minutes
        if any(lk.id == locker_id and lk.status.name == "rented" for lk in held):
            await harbor_care.release_quietly(self.harbor, tower_id, locker_id)
