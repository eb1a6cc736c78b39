"""Optional (issue 17): an address that matches no Harbor location is looked up at a geocoder, and the
lockers around it are searched. Off unless GEOCODER_URL is set.

Written for OpenStreetMap Nominatim's usage policy (https://operations.osmfoundation.org/policies/nominatim/):
at most one request a second from the whole bot (a gate row every process passes through), a real
User-Agent naming the deployment (GEOCODER_USER_AGENT, required), and every answer cached in the
database (found or not) so the same text is never asked twice within GEOCODE_CACHE_DAYS. The request
is `GET {GEOCODER_URL}?q=...&format=jsonv2&limit=1`; the answer a JSON list of places with `lat` and
`lon` (strings, as Nominatim gives them). Nothing here knows Telegram.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import httpx

from bot.deliveries.matching import fold
from bot.geo import Point
from storage.repository import Repository
from storage.types import utcnow

log = logging.getLogger(__name__)

GATE = "geocoder"
CACHE_DAYS = 30
MAX_QUERY_CHARS = 200
MAX_WAIT_SECONDS = 3.0  # queued behind other lookups longer than this: answer without one
TIMEOUT_SECONDS = 5.0


class Geocoder:
    def __init__(
        self,
        repo: Repository,
        url: str,
        user_agent: str,
        *,
        interval: timedelta = timedelta(seconds=1),
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.repo = repo
        self.url = url
        self.interval = interval
        self.http = http or httpx.AsyncClient(timeout=TIMEOUT_SECONDS)
        self.headers = {"User-Agent": user_agent, "Accept": "application/json"}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def locate(self, text: str) -> Point | None:
        """The point the address names, or None (not found, the geocoder unreachable, or too busy)."""
        key = fold(text[:MAX_QUERY_CHARS])
        if not key:
            return None
        cached = await self.repo.cached_point(key, since=utcnow() - timedelta(days=CACHE_DAYS))
        if cached is not None:
            return (cached.lat, cached.lon) if cached.lat is not None and cached.lon is not None else None
        if not await self._my_turn():
            log.info("geocoder busy: a lookup skipped")
            return None
        params = {"q": " ".join(text.split())[:MAX_QUERY_CHARS], "format": "jsonv2", "limit": "1"}
        try:
            response = await self.http.get(self.url, params=params, headers=self.headers)
        except httpx.HTTPError as exc:
            log.warning("geocoder unreachable: %s", type(exc).__name__)
            return None  # not cached: the next try may succeed
        if response.status_code != 200:
            log.warning("geocoder answered %s", response.status_code)
            return None
        point = _first_point(response)
        await self.repo.cache_point(key, point, now=utcnow())
        return point

    async def _my_turn(self) -> bool:
        """Wait for the shared gate (one request per interval across every process), a few seconds at most."""
        give_up = time.monotonic() + MAX_WAIT_SECONDS
        while True:
            opens = await self.repo.pass_gate(GATE, now=utcnow(), interval=self.interval)
            if opens is None:
                return True
            wait = max((opens - utcnow()).total_seconds(), 0.01)
            if time.monotonic() + wait > give_up:
                return False
            await asyncio.sleep(wait)  # the policy's pace, not a guess: the gate says when it opens


def _first_point(response: httpx.Response) -> Point | None:
    try:
        places = response.json()
        if not isinstance(places, list) or not places:
            return None
        lat, lon = float(places[0]["lat"]), float(places[0]["lon"])
    except (ValueError, KeyError, TypeError):
        log.warning("geocoder answer could not be read")
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon
