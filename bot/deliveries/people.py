"""Who is talking: a person's name, username and language, written at most every few minutes.

Telegram sends them with every update; writing them each time would cost a statement per update. The
memory here only saves writes (a process that forgets it writes once more), so it is no state another
process needs.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from bot.deliveries.model import Person
from storage.repository import Repository

REMEMBER_SECONDS = 300  # a person's row is rewritten at most this often (unless what they sent changed)
REMEMBER_MAX = 10_000  # people whose last write this process remembers; the oldest are forgotten first


class People:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._remembered: OrderedDict[int, tuple[Person, float]] = OrderedDict()  # id -> (as written, when)

    async def remember(self, person: Person) -> None:
        """Record who is talking (name, username, language, last seen), at most every few minutes."""
        now = time.monotonic()
        written = self._remembered.get(person.id)
        if written is not None and written[0] == person and now - written[1] < REMEMBER_SECONDS:
            return
        await self.repo.upsert_user(
            person.id,
            first_name=person.first_name,
            last_name=person.last_name,
            username=person.username,
            language=person.language,
        )
        self._remembered[person.id] = (person, now)
        self._remembered.move_to_end(person.id)
        while len(self._remembered) > REMEMBER_MAX:
            self._remembered.popitem(last=False)  # the longest ago: bounded memory however many people
