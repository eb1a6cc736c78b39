"""Locker Open requests that outlive the bot's records (KEY_MODE=link, docs/harbor-api.md §6, §14).

A Locker Open request has no lifetime the bot controls: a pick-up request opens its locker until it is
used, and whether a drop-off request still opens after Harbor's 5-minute hold is not documented. Harbor
has no call to withdraw one. So an unused request is treated as a live bearer key until Harbor says it
is spent (`GET /locker-open-requests/{id}`: used or expired), whatever the key row's `expires_at`:

- while it may be live, the delivery's next key of that kind is the *same* request sent again (§6.3:
  a link can be retried), not a second live one. Harbor gives a link only in the answer that made it,
  so it is kept sealed (bot/deliveries/sealing.py) on the key row, and dropped once Harbor says spent;
- when a locker goes to a delivery while a request of another delivery may still open it, that is put
  on record (an event on the delivery) and the admins are told;
- the watch looks at lockers whose item is in (`in_locker`): an open nobody was given a key for is
  reported to the sender and the admins (bot/deliveries/watch.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.deliveries import sealing
from bot.deliveries.model import Policy
from bot.deliveries.notices import NoticeKind, notice
from bot.harbor import links
from bot.harbor.client import HarborClient
from bot.harbor.errors import HarborError, HarborNotFound
from bot.keys import LinkKey, LockerKey
from storage.models import Delivery, IssuedKey, KeyKind
from storage.repository import Notice, Repository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resendable:
    """A request of the delivery that may still be live, and its link, to be sent again."""

    record: IssuedKey  # the newest key row that carried it
    url: str
    first_sent: datetime  # when the request was made (its first key row)


class LinkRequests:
    def __init__(self, harbor: HarborClient, repo: Repository, policy: Policy, now: Callable[[], datetime]) -> None:
        self.harbor = harbor
        self.repo = repo
        self.policy = policy
        self.now = now

    async def spent(self, request_id: str) -> bool:
        """Harbor says this request opens nothing any more; recorded, so it is asked once."""
        try:
            stored = await self.harbor.link_request(request_id)
        except HarborNotFound:
            return False  # not ours, or not known: possibly live all the same
        except HarborError as exc:
            log.warning("Locker Open request %s: state not read: %s", request_id, type(exc).__name__)
            return False
        if not stored.spent:
            return False
        await self.repo.mark_link_spent(request_id, at=self.now())
        return True

    async def resendable(self, delivery: Delivery, kind: KeyKind) -> Resendable | None:
        """The delivery's request of this kind for its current locker that may still be live, if the
        link can be unsealed; None when there is none (a new request is then the right thing)."""
        assert delivery.id is not None
        rows = [
            row
            for row in await self.repo.link_keys_of(delivery.id, kind)
            if (row.tower_id, row.locker_id) == (delivery.tower_id, delivery.locker_id)
        ]
        for request_id in dict.fromkeys(row.harbor_token_id for row in rows if row.harbor_token_id):
            if await self.spent(request_id):
                continue
            carried = [row for row in rows if row.harbor_token_id == request_id]
            url = sealing.unseal(self.policy.secret, carried[0].sealed_link or "")
            if url is None:
                log.warning("Locker Open request %s: its link cannot be unsealed (secrets rotated?)", request_id)
                continue
            return Resendable(carried[0], url, min(row.created_at for row in carried))
        return None

    async def live_elsewhere(self, delivery: Delivery) -> list[IssuedKey]:
        """Requests of other deliveries that may still open this delivery's locker (asked of Harbor)."""
        assert delivery.id is not None
        if delivery.tower_id is None or delivery.locker_id is None:
            return []
        rows = await self.repo.unspent_links_on_locker(delivery.tower_id, delivery.locker_id, besides=delivery.id)
        live: list[IssuedKey] = []
        for request_id in dict.fromkeys(row.harbor_token_id for row in rows if row.harbor_token_id):
            if not await self.spent(request_id):
                live.extend(row for row in rows if row.harbor_token_id == request_id)
        return live

    async def note_if_live_elsewhere(self, delivery: Delivery) -> bool:
        """Put on record (an event, and a word to the admins) that the delivery's locker may still open
        with another delivery's request. True when it may."""
        assert delivery.id is not None
        live = await self.live_elsewhere(delivery)
        if not live:
            return False
        requests = ", ".join(
            sorted({f"#{row.harbor_token_id} of delivery {row.delivery_id}" for row in live if row.harbor_token_id})
        )
        told = self.admin_notices(delivery, NoticeKind.LOCKER_LINK_LIVE, tag=delivery.locker_id or 0, requests=requests)
        await self.repo.transition(
            delivery.id,
            from_states=[delivery.state],
            to_state=delivery.state,
            actor_id=None,
            event="locker_link_live",
            detail=f"locker {delivery.locker_name} may still open with Locker Open request {requests}",
            notices=told,
        )
        return True

    def admin_notices(
        self, delivery: Delivery, kind: NoticeKind, *, tag: str | int = "", **extra: object
    ) -> list[Notice]:
        return [notice(kind, admin, delivery, tag=tag, **extra) for admin in sorted(self.policy.admin_ids)]


def resend_expiry(again: Resendable, now: datetime, seconds: int, kind: KeyKind) -> datetime | None:
    """Until when a re-sent link is shown as the key: a drop-off request within Harbor's hold (None once
    the hold is over: a new request then), a pick-up request for another key period."""
    if kind is KeyKind.PICKUP:
        return now + timedelta(seconds=seconds)
    hold_ends = again.first_sent + timedelta(seconds=links.DROPOFF_HOLD_SECONDS)
    if hold_ends <= now + timedelta(seconds=5):
        return None
    return min(hold_ends, now + timedelta(seconds=seconds))


def link_columns(key: LockerKey | LinkKey, secret: bytes) -> dict[str, Any]:
    """The key row's record of a Locker Open request: the locker it opens and its link, sealed (none for
    an SDK key, whose token Harbor ends by itself)."""
    if not isinstance(key, LinkKey):
        return {}
    return {"tower_id": key.tower_id, "locker_id": key.locker_id, "sealed_link": sealing.seal(secret, key.url)}
