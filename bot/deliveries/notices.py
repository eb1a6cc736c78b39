"""Announcements the services record with the state change that causes them (docs/design.md §8).

A notice names what happened and to whom; bot/notify.py renders it in the recipient's language when
it is sent, reading the delivery as it is then. The dedupe key makes each one go out once.
"""

from __future__ import annotations

from enum import StrEnum

from storage.models import Delivery, IssuedKey
from storage.repository import Notice


class NoticeKind(StrEnum):
    IN_LOCKER = "in_locker"  # to the sender, with the handover buttons
    COMPLETED = "completed"  # to the sender and the collector
    REMINDER = "reminder"  # to the collector (and the sender)
    HOLD_EXPIRED = "hold_expired"  # to the sender: the locker was given back
    KEY_EXPIRED = "key_expired"  # to the key's holder: the QR goes, a "new key" note comes
    RELEASED = "released"  # to the sender (and collector): an admin released the locker
    LINK_EXPIRED = "link_expired"  # to the sender: nobody claimed the pickup link in time
    CLAIMED = "claimed"  # to the sender: someone claimed the link
    UNASSIGNED = "unassigned"  # to a collector the sender replaced
    COURIER_JOB = "courier_job"  # to a courier: a pickup for them
    COURIER_GONE = "courier_gone"  # to the sender: their courier was removed; choose again
    # issue 15 (KEY_MODE=link): a Locker Open request outlives the bot's records
    LOCKER_LINK_LIVE = "locker_link_live"  # to admins: a locker given out may still open with an old link
    OPENED_WITHOUT_KEY = "opened_without_key"  # to the sender and admins: an item went without a key of ours


def notice(kind: NoticeKind, chat_id: int, delivery: Delivery, *, tag: str | int = "", **extra: object) -> Notice:
    """`tag` tells apart two notices of one kind, delivery and chat that must both be sent."""
    assert delivery.id is not None
    key = f"{kind.value}:{delivery.id}:{chat_id}" + (f":{tag}" if tag != "" else "")
    return Notice(key, chat_id, {"kind": kind.value, "delivery_id": delivery.id, **extra})


def in_locker(delivery: Delivery) -> list[Notice]:
    # Tagged by locker: after "it didn't fit" the same delivery is in a locker a second time.
    return [notice(NoticeKind.IN_LOCKER, delivery.sender_id, delivery, tag=delivery.locker_id or "")]


def completed(delivery: Delivery) -> list[Notice]:
    notices = [notice(NoticeKind.COMPLETED, delivery.sender_id, delivery)]
    if delivery.collector_id and delivery.collector_id != delivery.sender_id:
        notices.append(notice(NoticeKind.COMPLETED, delivery.collector_id, delivery))
    return notices


def reminder(delivery: Delivery) -> list[Notice]:
    collector = delivery.collector_id or delivery.sender_id
    notices = [notice(NoticeKind.REMINDER, collector, delivery, role="collector")]
    if collector != delivery.sender_id:
        notices.append(notice(NoticeKind.REMINDER, delivery.sender_id, delivery, role="sender"))
    return notices


def hold_expired(delivery: Delivery) -> list[Notice]:
    return [notice(NoticeKind.HOLD_EXPIRED, delivery.sender_id, delivery)]


def key_expired(key: IssuedKey, delivery: Delivery, *, renewable: bool) -> list[Notice]:
    return [notice(NoticeKind.KEY_EXPIRED, key.chat_id, delivery, tag=key.id or 0, key_id=key.id, renewable=renewable)]


def released(delivery: Delivery) -> list[Notice]:
    notices = [notice(NoticeKind.RELEASED, delivery.sender_id, delivery)]
    if delivery.collector_id and delivery.collector_id != delivery.sender_id:
        notices.append(notice(NoticeKind.RELEASED, delivery.collector_id, delivery))
    return notices


def link_expired(delivery: Delivery, link_id: int) -> list[Notice]:
    return [notice(NoticeKind.LINK_EXPIRED, delivery.sender_id, delivery, tag=link_id)]
