"""Harbor calls made on the way out: best effort, because Harbor ends unused holds by itself."""

from __future__ import annotations

import logging

from bot.harbor.client import HarborClient
from bot.harbor.errors import HarborError, HarborNotAvailable, HarborNotFound

log = logging.getLogger(__name__)


async def holds(harbor: HarborClient, locker_id: int, status: str) -> bool | None:
    """After a POST with no answer: does Harbor now list this locker as ours, in `status`? None when
    Harbor cannot tell us either."""
    try:
        held = await harbor.assigned_lockers()
    except HarborError:
        return None
    return any(lk.id == locker_id and lk.status.name == status for lk in held)


async def cancel_quietly(harbor: HarborClient, tower_id: str, locker_id: int) -> None:
    """A reservation nobody cancels still lapses at Harbor when its time is up."""
    try:
        await harbor.cancel_reservation(tower_id, locker_id)
    except HarborError as exc:
        log.warning("locker %s: reservation not cancelled: %s", locker_id, type(exc).__name__)


async def release_quietly(harbor: HarborClient, tower_id: str | None, locker_id: int | None) -> None:
    """Give a locker back; one that is not ours any more (or not held at all) is already back."""
    if tower_id is None or locker_id is None:
        return
    try:
        await harbor.release(tower_id, locker_id)
    except (HarborNotAvailable, HarborNotFound):
        return
    except HarborError as exc:
        log.warning("locker %s: not given back: %s", locker_id, type(exc).__name__)
