"""Queries and atomic updates the services need. Plain SQLModel on SQLAlchemy's asyncio engine; no
Telegram, no Harbor.

Each method opens its own short session: a handler never holds a transaction across a network call,
and database work never blocks the event loop (docs/design.md §8). The methods live in three rooms
(storage/repo_deliveries.py: people and deliveries; storage/repo_keys.py: keys and links;
storage/repo_work.py: the drop-off step, shared timers, the outbox, Harbor events; storage/repo_inbox.py:
Telegram updates; storage/wake.py: when anything falls due next); `Repository`
is all of them on one session factory.
"""

from __future__ import annotations

from storage.repo_base import Conflict, Notice, RepositoryBase, SessionFactory
from storage.repo_deliveries import PeopleAndDeliveries
from storage.repo_inbox import InboxStore
from storage.repo_keys import KeysAndLinks
from storage.repo_locations import KnownLocations
from storage.repo_work import SharedWork
from storage.wake import WakeTimes

__all__ = ["Conflict", "Notice", "Repository", "RepositoryBase", "SessionFactory"]


class Repository(PeopleAndDeliveries, KeysAndLinks, SharedWork, KnownLocations, InboxStore, WakeTimes):
    """The whole repository: one session factory, every query."""
