"""A per-user budget: one account cannot crowd out everyone else's answers, nor flood Harbor.

A token bucket per user: a burst of `burst` updates, refilled at `per_minute`. An update over budget
is dropped; the first one of a run earns one "slow down" notice. Harbor searches have a bucket of
their own. No Telegram here (the handler is bot/handlers/throttle.py).

The buckets live in this process. With N processes behind a router (docs/design.md §8) one user's updates
spread over them, so the effective budget is up to N times larger: this is a first line against a
flood, not an exact quota (which would need a counter in the database on every update).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.config import Settings

MAX_TRACKED = 10_000  # buckets kept before full (idle) ones are forgotten


class Verdict(StrEnum):
    ALLOW = "allow"
    WARN = "warn"  # over budget, and the user has not been told yet: tell them once
    DROP = "drop"


@dataclass(slots=True)
class Bucket:
    tokens: float
    at: float
    warned: bool = False


class Buckets:
    def __init__(self, capacity: float, per_second: float, clock: Callable[[], float]) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self.clock = clock
        self._buckets: dict[int, Bucket] = {}

    def take(self, key: int) -> Verdict:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED:
                self._forget_idle(now)
            bucket = self._buckets[key] = Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.per_second)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return Verdict.ALLOW
        if bucket.warned:
            return Verdict.DROP
        bucket.warned = True
        return Verdict.WARN

    def _forget_idle(self, now: float) -> None:
        """A bucket that would be full again is the same as no bucket."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.per_second >= self.capacity]
        for key in full:
            del self._buckets[key]


class UserBudget:
    def __init__(
        self,
        *,
        burst: int,
        per_minute: float,
        searches_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.updates = Buckets(burst, per_minute / 60, clock)
        self.searches = Buckets(searches_per_minute, searches_per_minute / 60, clock)

    @classmethod
    def from_settings(cls, settings: Settings) -> UserBudget:
        return cls(
            burst=settings.user_update_burst,
            per_minute=settings.user_updates_per_minute,
            searches_per_minute=settings.user_searches_per_minute,
        )

    def update(self, user_id: int) -> Verdict:
        return self.updates.take(user_id)

    def search(self, user_id: int) -> bool:
        """May this user make the bot search Harbor now?"""
        return self.searches.take(user_id) is Verdict.ALLOW
