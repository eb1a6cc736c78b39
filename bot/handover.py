"""After the drop-off: who collects the item (a link's claimer, the sender, a courier), pickup keys,
reminders, and the service's own releases. No Telegram here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.deliveries import notices
from bot.deliveries.model import (
    Closed,
    DeliveryNotFound,
    DeliveryProblem,
    IssuedKeyView,
    ServiceUnavailable,
    WrongState,
    client_info,
)
from bot.deliveries.notices import NoticeKind, notice
from bot.deliveries.service import DeliveryService
from bot.harbor.errors import HarborAuthError, HarborError, HarborNotAvailable, HarborNotFound
from storage.models import (
    AFTER_DROPOFF_STATES,
    PRE_DROPOFF_STATES,
    CollectorKind,
    Delivery,
    DeliveryState,
    IssuedKey,
    KeyKind,
    KeyState,
    PickupLink,
    Role,
    User,
)
from storage.repository import Notice

log = logging.getLogger(__name__)
S = DeliveryState
AFTER_DROPOFF = AFTER_DROPOFF_STATES
LINK_BYTES = 24  # 192 random bits; base64url keeps the code within Telegram's 64-character start payload


class LinkRefused(DeliveryProblem):
    """Made up, expired, revoked, already used, or for a finished delivery: all look the same."""


class OwnLink(DeliveryProblem):
    """The sender opened their own link: nothing is claimed."""


class NotACourier(DeliveryProblem):
    pass


class UnknownUser(DeliveryProblem):
    pass


class NotAllowed(DeliveryProblem):
    """This person may not do that with this delivery; they learn nothing more."""


class CollectorHoldsKey(DeliveryProblem):
    """The collector the sender would replace holds a pickup key. Harbor has no call to revoke a
    token, so that key opens the locker until it expires: the sender decides, knowing until when."""

    def __init__(self, delivery: Delivery, holder: User | None, until: datetime, *, link: bool = False) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery
        self.holder = holder
        self.until = until
        self.link = link  # KEY_MODE=link: a Locker Open link, which works until it is used, not until `until`


@dataclass(frozen=True, slots=True)
class Link:
    code: str
    link: PickupLink
    timezone: str | None = None  # the locker's, for the expiry (issue 17)


@dataclass(frozen=True, slots=True)
class Dropped:
    """A collector that a new handover replaced, and their pickup keys that stopped counting."""

    user_id: int
    keys: list[IssuedKey]
    link_live: bool = False  # KEY_MODE=link: they hold a Locker Open link Harbor has not called spent


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery: Delivery
    claimer: User
    dropped: Dropped | None = None


@dataclass(frozen=True, slots=True)
class Assigned:
    delivery: Delivery
    collector: User
    changed: bool  # False for a repeat (double tap): nobody is told twice
    dropped: Dropped | None = None


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class HandoverService:
    def __init__(self, deliveries: DeliveryService) -> None:
        self.deliveries = deliveries
        self.repo = deliveries.repo
        self.harbor = deliveries.harbor
        self.policy = deliveries.policy
        self.link_requests = deliveries.link_requests

    def now(self) -> datetime:
        return self.deliveries.now()

    # links -----------------------------------------------------------------------------------

    async def create_link(self, delivery_id: int, user_id: int, *, force: bool = False) -> Link:
        """A fresh one-time link; any earlier unclaimed link of this delivery stops working. Whoever
        claims it replaces the current collector, so a collector's live key is reported first."""
        async with self.deliveries.lock_sent_by(delivery_id, user_id) as delivery:
            if delivery.state not in AFTER_DROPOFF:
                raise WrongState(delivery)
            if not force:
                await self._refuse_if_collector_holds_key(delivery, new_collector_id=None)
            now = self.now()
            await self.repo.revoke_links(delivery_id, now=now)
            code = secrets.token_urlsafe(LINK_BYTES)
            link = await self.repo.add_link(
                PickupLink(
                    delivery_id=delivery_id,
                    code_hash=hash_code(code),
                    expires_at=now + timedelta(days=self.policy.pickup_link_days),
                )
            )
            await self.repo.add_event(delivery_id, "link_created", actor_id=user_id, detail=f"link #{link.id}")
            return Link(code, link, delivery.timezone)

    async def revoke_links(self, delivery_id: int, user_id: int) -> int:
        async with self.deliveries.lock_sent_by(delivery_id, user_id):
            count = await self.repo.revoke_links(delivery_id, now=self.now())
            if count:
                await self.repo.add_event(delivery_id, "link_revoked", actor_id=user_id)
            return count

    async def claim(self, code: str, user_id: int) -> Claimed:
        link = await self.repo.find_link(hash_code(code)) if 16 <= len(code) <= 64 else None
        if link is None:
            raise LinkRefused()
        async with self.deliveries.lock(link.delivery_id):
            delivery = await self.repo.get_delivery(link.delivery_id)
            if delivery is None or delivery.state not in AFTER_DROPOFF:
                raise LinkRefused()
            if delivery.sender_id == user_id:
                raise OwnLink()
            assert link.id is not None
            assert delivery.id is not None
            if not await self.repo.claim_link(link.id, user_id, now=self.now()):
                raise LinkRefused()
            dropped = await self._drop_collector(delivery, user_id)
            # The sender made this link while someone else was to collect; if that person still holds a
            # working key, the sender hears until when (the claimer cannot be asked to wait).
            live = self._live_until(dropped)
            extra: dict[str, object] = {}
            if dropped is not None and dropped.link_live:
                extra = {"previous": dropped.user_id, "link_live": True}
            elif live is not None and dropped is not None:
                extra = {"previous": dropped.user_id, "until": live.isoformat()}
            told = [notice(NoticeKind.CLAIMED, delivery.sender_id, delivery, tag=link.id, claimer=user_id, **extra)]
            told += self._tell_dropped(delivery, dropped)
            claimed = await self._set_collector(
                delivery, CollectorKind.RECIPIENT, user_id, actor_id=user_id, notices=told
            )
            user = await self.repo.get_user(user_id)
            assert user is not None
            return Claimed(claimed, user, dropped)

    # collectors ------------------------------------------------------------------------------

    async def pick_up_myself(self, delivery_id: int, user_id: int, *, force: bool = False) -> Assigned:
        async with self.deliveries.lock_sent_by(delivery_id, user_id) as delivery:
            return await self._assign(delivery, CollectorKind.SELF, user_id, actor_id=user_id, force=force)

    async def courier_choice(self, delivery_id: int, user_id: int) -> list[User]:
        """The couriers the sender may choose from; only the sender of an item in a locker may ask."""
        delivery = await self.deliveries.sent_by(delivery_id, user_id)
        if delivery.state not in AFTER_DROPOFF:
            raise WrongState(delivery)
        return await self.couriers()

    async def send_to_courier(
        self, delivery_id: int, user_id: int, courier_id: int, *, force: bool = False
    ) -> Assigned:
        async with self.deliveries.lock_sent_by(delivery_id, user_id) as delivery:
            courier = await self.repo.get_user(courier_id)
            if courier is None or courier.role is not Role.COURIER:
                raise NotACourier(courier_id)
            return await self._assign(delivery, CollectorKind.COURIER, courier_id, actor_id=user_id, force=force)

    async def _assign(
        self, delivery: Delivery, kind: CollectorKind, collector_id: int, *, actor_id: int, force: bool = False
    ) -> Assigned:
        if delivery.state not in AFTER_DROPOFF:
            raise WrongState(delivery)
        user = await self.repo.get_user(collector_id)
        assert user is not None
        assert delivery.id is not None
        if delivery.collector_kind is kind and delivery.collector_id == collector_id:
            return Assigned(delivery, user, changed=False)
        if not force:
            await self._refuse_if_collector_holds_key(delivery, new_collector_id=collector_id)
        await self.repo.revoke_links(delivery.id, now=self.now())
        dropped = await self._drop_collector(delivery, collector_id)
        told = self._tell_dropped(delivery, dropped)
        if kind is CollectorKind.COURIER:
            told.append(notice(NoticeKind.COURIER_JOB, collector_id, delivery))
        moved = await self._set_collector(delivery, kind, collector_id, actor_id=actor_id, notices=told)
        return Assigned(moved, user, changed=True, dropped=dropped)

    async def check_collector_key(self, delivery_id: int, user_id: int) -> Delivery:
        """The sender's delivery; raises CollectorHoldsKey while its collector's key still works."""
        delivery = await self.deliveries.sent_by(delivery_id, user_id)
        if delivery.state not in AFTER_DROPOFF:
            raise WrongState(delivery)
        await self._refuse_if_collector_holds_key(delivery, new_collector_id=None)
        return delivery

    async def _refuse_if_collector_holds_key(self, delivery: Delivery, *, new_collector_id: int | None) -> None:
        """Raise CollectorHoldsKey when the collector a change would replace holds an unexpired key."""
        previous = delivery.collector_id
        if previous is None or previous in (new_collector_id, delivery.sender_id):
            return
        assert delivery.id is not None
        now = self.now()
        if await self._holds_live_link(delivery, previous):
            raise CollectorHoldsKey(delivery, await self.repo.get_user(previous), now, link=True)
        live = [
            key.expires_at
            for key in await self.repo.keys_of(delivery.id, kind=KeyKind.PICKUP, states=[KeyState.ACTIVE])
            if key.user_id == previous and key.expires_at > now
        ]
        if live:
            raise CollectorHoldsKey(delivery, await self.repo.get_user(previous), max(live))

    async def _holds_live_link(self, delivery: Delivery, user_id: int) -> bool:
        """KEY_MODE=link: was this person sent a pick-up link Harbor has not called spent? It opens the
        locker until it is used, whatever the key row's expiry (bot/deliveries/link_requests.py)."""
        assert delivery.id is not None
        requests = {
            key.harbor_token_id
            for key in await self.repo.link_keys_of(delivery.id, KeyKind.PICKUP)
            if key.user_id == user_id and key.harbor_token_id
        }
        return any([not await self.link_requests.spent(request_id) for request_id in sorted(requests)])

    def _live_until(self, dropped: Dropped | None) -> datetime | None:
        """Until when the dropped collector's keys still open the locker at Harbor (None: they don't)."""
        now = self.now()
        live = [key.expires_at for key in (dropped.keys if dropped else []) if key.expires_at > now]
        return max(live, default=None)

    def _live_extra(self, dropped: Dropped | None) -> dict[str, object]:
        """What a notice says of the dropped collector's key: a link until used, or a token until when."""
        if dropped is not None and dropped.link_live:
            return {"link_live": True}
        live = self._live_until(dropped)
        return {"until": live.isoformat()} if live is not None else {}

    def _tell_dropped(self, delivery: Delivery, dropped: Dropped | None) -> list[Notice]:
        if dropped is None:
            return []
        keys = [key.id for key in dropped.keys if key.id is not None]
        extra = self._live_extra(dropped)
        return [notice(NoticeKind.UNASSIGNED, dropped.user_id, delivery, tag=len(keys), key_ids=keys, **extra)]

    async def _drop_collector(self, delivery: Delivery, new_collector_id: int) -> Dropped | None:
        """The collector being replaced (never the sender, who may always collect) loses their live
        pickup keys: a key goes only to whoever collects now."""
        previous = delivery.collector_id
        if previous is None or previous in (new_collector_id, delivery.sender_id):
            return None
        assert delivery.id is not None
        voided = []
        for key in await self.repo.keys_of(delivery.id, kind=KeyKind.PICKUP, states=[KeyState.ACTIVE]):
            if key.user_id == previous and key.id is not None:
                done = await self.repo.set_key_state(key.id, KeyState.VOID)
                if done is not None:
                    voided.append(done)
        return Dropped(previous, voided, link_live=await self._holds_live_link(delivery, previous))

    async def _set_collector(
        self,
        delivery: Delivery,
        kind: CollectorKind,
        collector_id: int,
        *,
        actor_id: int,
        notices: Sequence[Notice] = (),
    ) -> Delivery:
        assert delivery.id is not None
        moved = await self.repo.transition(
            delivery.id,
            from_states=[delivery.state],
            to_state=delivery.state,
            actor_id=actor_id,
            event=f"collector_{kind.value}",
            detail=f"user {collector_id}",
            notices=notices,
            collector_kind=kind,
            collector_id=collector_id,
        )
        assert moved is not None
        return moved

    def may_collect(self, delivery: Delivery, user_id: int) -> bool:
        return user_id in (delivery.sender_id, delivery.collector_id)

    # pickup keys -----------------------------------------------------------------------------

    async def issue_pickup_key(self, delivery_id: int, user_id: int, chat_id: int) -> IssuedKeyView:
        known = await self.repo.get_delivery(delivery_id)
        if known is None or not self.may_collect(known, user_id):  # checked before the lock is taken
            raise DeliveryNotFound(delivery_id)
        async with self.deliveries.lock(delivery_id):
            delivery = await self.repo.get_delivery(delivery_id)
            if delivery is None or not self.may_collect(delivery, user_id):
                raise DeliveryNotFound(delivery_id)
            if delivery.collector_kind is CollectorKind.COURIER and user_id == delivery.collector_id:
                # A courier's job is theirs only while they are a courier (removal also unassigns).
                courier = await self.repo.get_user(user_id)
                if courier is None or courier.role is not Role.COURIER:
                    raise DeliveryNotFound(delivery_id)
            if delivery.state not in AFTER_DROPOFF:
                raise WrongState(delivery)
            await self.deliveries.refuse_if_key_live(delivery, KeyKind.PICKUP, user_id)
            if self.policy.link_mode:
                return await self.deliveries.link_issuer.issue_pickup(delivery, user_id, chat_id)
            assert delivery.tower_id
            assert delivery.locker_id is not None
            try:
                token = await self.harbor.pickup_token(
                    delivery.tower_id,
                    delivery.locker_id,
                    # Short: Harbor cannot revoke it if the sender later hands the item to someone else.
                    duration=self.policy.pickup_key_seconds,
                    client_info=client_info(delivery_id),
                )
            except HarborError as exc:
                raise ServiceUnavailable(str(exc)) from exc
            return await self.deliveries.record_key(
                delivery, token, KeyKind.PICKUP, user_id, chat_id, to_state=S.AWAITING_PICKUP
            )

    async def pickups_for(self, user_id: int) -> list[Delivery]:
        """Open pickups assigned to this person (a courier's /jobs)."""
        return [d for d in await self.repo.deliveries_for_collector(user_id) if d.state in AFTER_DROPOFF]

    # couriers and admin ----------------------------------------------------------------------

    async def find_user(self, ref: str) -> User:
        ref = ref.strip()
        user = (
            await self.repo.get_user(int(ref))
            if ref.lstrip("-").isdigit()
            else await self.repo.find_user_by_username(ref)
        )
        if user is None:
            raise UnknownUser(ref)
        return user

    async def set_courier(self, ref: str, on: bool) -> User:
        """Add or remove a courier; a removed courier's open jobs go back to their senders."""
        user = await self.find_user(ref)
        updated = await self.repo.set_role(user.id, Role.COURIER if on else Role.CUSTOMER)
        assert updated is not None
        if not on:
            await self.unassign_courier(user.id)
        return updated

    async def unassign_courier(self, courier_id: int) -> list[Delivery]:
        """Take every open job away from a courier: their keys stop counting, each sender is told (with
        until when a key the courier holds still opens the locker) and may choose again."""
        moved = []
        for job in await self.pickups_for(courier_id):
            assert job.id is not None
            async with self.deliveries.lock(job.id):
                delivery = await self.repo.get_delivery(job.id)
                if (
                    delivery is None
                    or delivery.state not in AFTER_DROPOFF
                    or delivery.collector_kind is not CollectorKind.COURIER
                    or delivery.collector_id != courier_id
                ):
                    continue
                dropped = await self._drop_collector(delivery, delivery.sender_id)
                extra = self._live_extra(dropped)
                told = [
                    notice(NoticeKind.COURIER_GONE, delivery.sender_id, delivery, tag="", courier=courier_id, **extra)
                ]
                told += self._tell_dropped(delivery, dropped)
                done = await self.repo.transition(
                    job.id,
                    from_states=[delivery.state],
                    to_state=delivery.state,
                    actor_id=None,
                    event="courier_removed",
                    detail=f"user {courier_id}",
                    notices=told,
                    collector_kind=None,
                    collector_id=None,
                )
                if done is not None:
                    moved.append(done)
        return moved

    async def couriers(self) -> list[User]:
        return await self.repo.users_with_role(Role.COURIER)

    async def release(self, delivery_id: int, admin_id: int, *, expect: S | None = None) -> Closed:
        """The service frees the locker at Harbor and closes the delivery, whatever its state; with
        ``expect``, only if it is still in that state (what the admin confirmed), else WrongState."""
        async with self.deliveries.lock(delivery_id):
            delivery = await self.repo.get_delivery(delivery_id)
            if delivery is None:
                raise DeliveryNotFound(delivery_id)
            if not delivery.state.is_open or (expect is not None and delivery.state is not expect):
                raise WrongState(delivery)
            if delivery.tower_id and delivery.locker_id is not None:
                try:
                    if delivery.state is S.RESERVED:
                        await self.harbor.cancel_reservation(delivery.tower_id, delivery.locker_id)
                    else:
                        await self.harbor.release(delivery.tower_id, delivery.locker_id)
                except (HarborNotAvailable, HarborNotFound):
                    pass  # not held any more: already released
                except HarborAuthError as exc:
                    if exc.status_code != 403:
                        raise ServiceUnavailable(str(exc)) from exc
                except HarborError as exc:
                    raise ServiceUnavailable(str(exc)) from exc
            await self.repo.revoke_links(delivery_id, now=self.now())
            state = S.CANCELLED if delivery.state in PRE_DROPOFF_STATES else S.RELEASED
            return await self.deliveries.close(
                delivery, state, actor_id=admin_id, event="released_by_admin", notices=notices.released(delivery)
            )

    async def release_locker(self, tower_id: str, locker_id: int) -> None:
        """Free a locker Harbor says we hold although no open delivery uses it."""
        try:
            await self.harbor.release(tower_id, locker_id)
        except (HarborNotAvailable, HarborNotFound):
            return
        except HarborError as exc:
            raise ServiceUnavailable(str(exc)) from exc
