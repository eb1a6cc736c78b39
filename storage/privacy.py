"""What the bot keeps about people, and forgetting it (README "Security and privacy").

Separate from storage/repository.py to keep each file about one thing; same session factory, same
rules: one short transaction per call, no Telegram, no Harbor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, or_, update
from sqlmodel import col, select

from storage.models import (
    OPEN_STATES,
    ChatState,
    Delivery,
    DeliveryEvent,
    IssuedKey,
    OutboxMessage,
    OutboxState,
    PickupLink,
    User,
)
from storage.repository import SessionFactory

FORGOTTEN = 0  # the sender id a finished delivery keeps once its sender asked to be forgotten


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What /forget did: counts per kind of record, and the open deliveries it had to keep."""

    user_deleted: bool
    chat_states: int
    deliveries: int
    keys: int
    links: int
    events: int
    messages: int
    kept_open: list[int]


class PrivacyStore:
    def __init__(self, session_factory: SessionFactory) -> None:
        self._session = session_factory

    async def forget_stale_chat_states(self, before: datetime) -> int:
        """A drop-off conversation idle since `before` is dropped, with the location the user shared."""
        async with self._session() as session:
            result = await session.execute(delete(ChatState).where(col(ChatState.updated_at) < before))
            await session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def forget_user(self, user_id: int) -> Forgotten:
        """Delete or anonymise what is stored about `user_id`, except what an open delivery needs.

        Kept while a delivery is open: the user row (names blanked), that delivery, its keys, links,
        events and pending announcements; they run their course and /forget can be repeated after.

        "Finished" is decided inside each statement (a subquery on the delivery's state), not from a
        list read first: a delivery the same person creates meanwhile is open when a statement runs,
        so it is never anonymised (issue 15).
        """
        finished_ids = select(Delivery.id).where(col(Delivery.state).not_in(list(OPEN_STATES)))
        is_open = col(Delivery.state).in_(list(OPEN_STATES))
        mine = or_(col(Delivery.sender_id) == user_id, col(Delivery.collector_id) == user_id)

        def finished(column: int) -> ColumnElement[bool]:
            return col(column).in_(finished_ids)

        async with self._session() as session:
            states = await session.execute(delete(ChatState).where(col(ChatState.chat_id) == user_id))
            sent = await session.execute(
                update(Delivery)
                .where(col(Delivery.sender_id) == user_id, ~is_open)
                .values(sender_id=FORGOTTEN, status_chat_id=None, status_message_id=None)
            )
            collected = await session.execute(
                update(Delivery).where(col(Delivery.collector_id) == user_id, ~is_open).values(collector_id=None)
            )
            keys = await session.execute(
                delete(IssuedKey).where(
                    or_(col(IssuedKey.user_id) == user_id, col(IssuedKey.chat_id) == user_id),
                    finished(IssuedKey.delivery_id),
                )
            )
            links = await session.execute(
                update(PickupLink)
                .where(col(PickupLink.claimed_by) == user_id, finished(PickupLink.delivery_id))
                .values(claimed_by=None)
            )
            events = await session.execute(
                update(DeliveryEvent)
                .where(col(DeliveryEvent.actor_id) == user_id, finished(DeliveryEvent.delivery_id))
                .values(actor_id=None)
            )
            # "collector_self: user 202" and the like name the person in the detail text.
            await session.execute(
                update(DeliveryEvent)
                .where(col(DeliveryEvent.detail) == f"user {user_id}", finished(DeliveryEvent.delivery_id))
                .values(detail="")
            )
            # Announcements already sent (or refused) to them, or naming them; pending ones still go out.
            names = [f'%": {user_id},%', f'%": {user_id}}}%']
            messages = await session.execute(
                delete(OutboxMessage).where(
                    col(OutboxMessage.state) != OutboxState.PENDING,
                    or_(col(OutboxMessage.chat_id) == user_id, *(col(OutboxMessage.body).like(n) for n in names)),
                )
            )
            # The row goes only if no open delivery needs it, decided in the same statement.
            gone = await session.execute(
                delete(User).where(col(User.id) == user_id, ~select(Delivery.id).where(is_open, mine).exists())
            )
            deleted = bool(getattr(gone, "rowcount", 0))
            if not deleted:
                await session.execute(
                    update(User)
                    .where(col(User.id) == user_id)
                    .values(first_name="", last_name=None, username=None, language=None, chosen_language=None)
                )
            open_ids = [d.id for d in await session.exec(select(Delivery).where(is_open, mine)) if d.id is not None]
            await session.commit()

            def count(result: object) -> int:
                return int(getattr(result, "rowcount", 0) or 0)

            return Forgotten(
                user_deleted=deleted,
                chat_states=count(states),
                deliveries=count(sent) + count(collected),
                keys=count(keys),
                links=count(links),
                events=count(events),
                messages=count(messages),
                kept_open=sorted(open_ids),
            )
