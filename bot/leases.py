"""Keeping a lease while its work runs (docs/design.md §8).

A claimed job or outbox row is leased for a while; work that takes longer (a watch round against a
slow Harbor, a send held back by Telegram's RetryAfter) must not let the lease lapse, or another
process takes the row over and does the work a second time. `renewing` renews it in the background,
a third of the lease at a time, until the work ends; a process that dies stops renewing, and its
lease lapses as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def renewing(renew: Callable[[], Awaitable[int]], lease: timedelta, what: str) -> AsyncIterator[None]:
    """Call `renew` (which extends the lease by the database's clock and returns how many rows it still
    holds) every third of `lease` while the block runs."""
    every = lease.total_seconds() / 3

    async def keep() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                if not await renew():
                    log.warning("the lease of %s lapsed while its work ran", what)
                    return
            except Exception:  # a database hiccup: the next renewal, a third of a lease later, may work
                log.warning("renewing the lease of %s failed", what, exc_info=True)

    keeper = asyncio.create_task(keep(), name=f"renew {what}")
    try:
        yield
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
