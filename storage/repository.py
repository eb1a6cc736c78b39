"""Queries and atomic updates the services need. Plain SQLModel through the AsyncSession API (the bot's
sessions run the sync engine in threads: storage/threaded.py); no Telegram, no Harbor.

Each method opens its own short session: a handler never holds a transaction across a network call,
and database work never blocks the event loop (docs/design.md §8). The hot path's transactions are plain
sync functions handed to the database whole (`RepositoryBase._in_one_go`). The methods live in three rooms
(storage/repo_deliveries.py: people and deliveries; storage/repo_keys.py: keys and links;
storage/repo_work.py: the drop-off step, shared timers, the outbox, Harbor events; storage/repo_inbox.py:
Telegram updates; storage/wake.py: when anything falls due next); `Repository`
is all of them on one session factory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from storage.models import Delivery, DropoffStep
from storage.repo_base import Conflict, Notice, RepositoryBase, SessionFactory
from storage.repo_deliveries import PeopleAndDeliveries, open_dropoff
from storage.repo_inbox import InboxStore
from storage.repo_keys import KeysAndLinks
from storage.repo_locations import KnownLocations, UsedPlace, used_places
from storage.repo_work import SharedWork, write_chat_state
from storage.wake import WakeTimes

__all__ = ["Conflict", "Notice", "Repository", "RepositoryBase", "SessionFactory"]


@dataclass(frozen=True, slots=True)
class SearchStart:
    """What /dropoff found: the sender's drop-off already open (then nothing was written), else the
    places they used before (the chat now asks where)."""

    open_dropoff: Delivery | None = None
    used_places: list[UsedPlace] = field(default_factory=list)


class Repository(PeopleAndDeliveries, KeysAndLinks, SharedWork, KnownLocations, InboxStore, WakeTimes):
    """The whole repository: one session factory, every query."""

    async def start_search(self, user_id: int, chat_id: int) -> SearchStart:
        """/dropoff in one transaction (issue 18): the open drop-off, else the step and the used places."""
        return await self._in_one_go(_start_search, user_id, chat_id)


def _start_search(session: Session, user_id: int, chat_id: int) -> SearchStart:
    existing = open_dropoff(session, user_id)
    if existing is not None:
        return SearchStart(open_dropoff=existing)
    write_chat_state(session, chat_id, DropoffStep.ASK_LOCATION)
    used = used_places(session, user_id)
    session.commit()
    return SearchStart(used_places=used)
